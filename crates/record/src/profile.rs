//! A recorded policy before it becomes text: per syscall (or group) what is allowed, generalised
//! from the recorded argument values, with call counts. Built from a [`Recording`], read back
//! from a policy `moat record` wrote (for `--merge`), merged, and printed as moat text.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use moat_policy::model::{ArgKind, Condition, Statement, TargetKind, Test, UseTarget};
use moat_policy::{Action, CmpOp, Policy};
use moat_syscalls::{Arch, constants, expand_group, groups};

use crate::recording::{Recording, Shape, watched};

/// The syscalls every program may need although a short run did not show them: leaving,
/// returning from a signal handler, restarting an interrupted call.
pub const ESSENTIALS: &[&str] = &[
    "exit",
    "exit_group",
    "rt_sigreturn",
    "sigreturn",
    "restart_syscall",
];

/// The reason written for an essential the run did not use.
const ESSENTIAL_NOTE: &str = "not seen; every program may need it to exit or return from a signal";

/// The reason written for `futex` when the program created tasks but the run did not show it.
const FUTEX_NOTE: &str =
    "not seen; threads wait on each other through futex only when they happen to contend";

/// `ENOSYS`.
const ENOSYS: u16 = 38;

/// The reason written for `clone` when only `clone3` was seen.
const CLONE3_NOTE: &str = "not seen; libc's fallback when clone3 fails with ENOSYS";

/// Reasons line up after the longest statement up to this many characters; longer statements
/// get their reason after one space.
const MAX_REASON_COLUMN: usize = 60;

/// A recorded policy: what the program needed, ready to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// The recorded command line, for the header comment.
    pub command: Option<String>,
    /// The `use` target written first (`container`, or `"path"` with quotes), if any.
    pub base: Option<String>,
    /// The `default` action; `None` leaves it to the base (or moat's built-in `kill`).
    pub default: Option<Action>,
    /// The ABIs the program used.
    pub arches: BTreeSet<Arch>,
    /// Per syscall name or `@group`: what is allowed.
    pub rules: BTreeMap<String, Allowance>,
    /// Numbers moat's table does not know, per ABI name, with their counts (comments only: the
    /// policy's `unknown` action applies to them).
    pub unknown: BTreeMap<(String, u32), u64>,
    /// The ABIs the base accepts, when there is a base: the `arch` statement then keeps them.
    pub base_arches: Option<BTreeSet<Arch>>,
}

/// What a recorded policy allows for one syscall (or group).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowance {
    /// `allow`, or `errno ENOSYS` for `clone3` (see [`Profile::from_recording`]).
    pub action: Action,
    /// How many calls the recording saw (0: added without being seen).
    pub count: u64,
    /// Under which condition.
    pub when: When,
    /// Why it is allowed although unseen (essentials).
    pub note: Option<&'static str>,
}

/// The condition of an allowance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    /// Every call.
    Always,
    /// Calls that satisfy at least one alternative.
    Any(Vec<Alt>),
}

/// One alternative of a condition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Alt {
    /// `PARAM [& MASK] in {VALUES}`: the values seen.
    In {
        /// Parameter name.
        param: String,
        /// The shape, which fixes the mask and how values are named.
        shape: Shape,
        /// The (masked) values.
        values: BTreeSet<u64>,
    },
    /// Any other condition, as moat text (from a merged policy).
    Text(String),
}

/// Why policies could not be merged or read back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// A statement `moat record` never writes.
    #[error("{origin}:{line}: {what}; --merge reads policies written by moat record")]
    Unsupported {
        /// The file.
        origin: String,
        /// 1-based line.
        line: u32,
        /// What was found.
        what: String,
    },
    /// The inputs disagree on a policy-wide setting.
    #[error("{origin}: {what} differs from the first policy's ({first} vs {other})")]
    Conflict {
        /// The file.
        origin: String,
        /// Which setting.
        what: &'static str,
        /// The first policy's value.
        first: String,
        /// This policy's value.
        other: String,
    },
}

/// How a recording becomes a profile.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The command line, for the header.
    pub command: Option<String>,
    /// Write `use BASE` first (the recording then holds only what the base denies).
    pub base: Option<String>,
    /// The `default` action (ignored with a base unless set explicitly).
    pub default: Option<Action>,
    /// The ABIs the base accepts (its [`Policy::arches`]), so that an `arch` statement for
    /// calls of other ABIs adds to them instead of replacing them.
    pub base_arches: Option<Vec<Arch>>,
}

impl Profile {
    /// Generalises a recording: one allowance per syscall seen, with a condition built from
    /// the recorded argument values where moat records them. Without a base, the essentials
    /// (exit, signal return, restart) are added even when the run did not use them.
    ///
    /// `clone3` passes its flags in memory, where seccomp cannot check them, so a recorded
    /// `clone3` becomes `errno ENOSYS clone3` (glibc and musl then fall back to `clone`, as on
    /// kernels before 5.3) and `clone` is allowed with the namespace bits the `clone3` calls
    /// used, read from the program's memory while recording.
    pub fn from_recording(rec: &Recording, opts: &Options) -> Profile {
        let mut p = Profile {
            command: opts.command.clone(),
            base: opts.base.clone(),
            default: match (&opts.base, opts.default) {
                (None, None) => Some(Action::KillProcess),
                (_, d) => d,
            },
            arches: BTreeSet::new(),
            rules: BTreeMap::new(),
            unknown: BTreeMap::new(),
            base_arches: opts
                .base_arches
                .as_ref()
                .map(|v| v.iter().copied().collect()),
        };
        if let Some(b) = &p.base_arches {
            p.arches.extend(b.iter().copied());
        }
        for s in rec.seen() {
            let Some(arch) = s.arch else {
                let key = (format!("audit arch {:#x}", s.audit_arch), s.nr);
                *p.unknown.entry(key).or_default() += s.count;
                continue;
            };
            p.arches.insert(arch);
            let Some(name) = s.name else {
                *p.unknown.entry((arch.to_string(), s.nr)).or_default() += s.count;
                continue;
            };
            let when = match &s.values {
                Some(v) if !v.overflow => generalise(v.param, v.shape, &v.values),
                _ => When::Always,
            };
            if name == "clone3" {
                // Seen on several ABIs: one rule, counts added.
                p.rules
                    .entry(name.to_string())
                    .or_insert(Allowance {
                        action: Action::Errno(ENOSYS),
                        count: 0,
                        when: When::Always,
                        note: None,
                    })
                    .count += s.count;
                let mut values = rec.clone3_flags().clone();
                values.insert(0);
                let when = When::Any(vec![Alt::In {
                    param: "flags".into(),
                    shape: Shape::CloneFlags,
                    values,
                }]);
                let fresh = !p.rules.contains_key("clone");
                p.add("clone", 0, when);
                if fresh && let Some(a) = p.rules.get_mut("clone") {
                    a.note = Some(CLONE3_NOTE);
                }
                continue;
            }
            p.add(name, s.count, when);
        }
        p.normalize();
        if p.base.is_none() {
            for &e in ESSENTIALS {
                let exists = p.arches.iter().any(|a| a.by_name(e).is_some());
                if exists && !p.rules.contains_key(e) {
                    p.rules.insert(
                        e.to_string(),
                        Allowance {
                            action: Action::Allow,
                            count: 0,
                            when: When::Always,
                            note: Some(ESSENTIAL_NOTE),
                        },
                    );
                }
            }
            // Whether a thread calls futex depends on timing (an uncontended lock or join
            // never enters the kernel), so one run of a program that creates tasks may miss it.
            let creates_tasks = p.rules.contains_key("clone") || p.rules.contains_key("clone3");
            if creates_tasks && !p.rules.contains_key("futex") {
                p.rules.insert(
                    "futex".to_string(),
                    Allowance {
                        action: Action::Allow,
                        count: 0,
                        when: When::Always,
                        note: Some(FUTEX_NOTE),
                    },
                );
            }
        }
        p
    }

    /// Drops conditions that cannot be written for every accepted ABI: a rule names its
    /// parameter, and on an ABI where the syscall lacks it (i386's `mmap` takes one pointer to
    /// its six values) the rule would not parse. Allowing such a syscall without a condition
    /// keeps every recorded call allowed.
    fn normalize(&mut self) {
        let arches: Vec<Arch> = self.arches.iter().copied().collect();
        for (name, a) in &mut self.rules {
            let When::Any(alts) = &a.when else {
                continue;
            };
            let writable = alts.iter().all(|alt| match alt {
                Alt::In { param, .. } => arches.iter().all(|&arch| {
                    arch.by_name(name).is_none()
                        || moat_syscalls::signature(arch, name)
                            .is_some_and(|sig| sig.iter().any(|p| p.name == param.as_str()))
                }),
                Alt::Text(_) => true,
            });
            if !writable {
                a.when = When::Always;
            }
        }
    }

    /// Adds calls to an allowance: counts add up, conditions are united.
    pub fn add(&mut self, key: &str, count: u64, when: When) {
        match self.rules.get_mut(key) {
            None => {
                self.rules.insert(
                    key.to_string(),
                    Allowance {
                        action: Action::Allow,
                        count,
                        when,
                        note: None,
                    },
                );
            }
            Some(a) => {
                a.count += count;
                if a.count > 0 {
                    a.note = None;
                }
                a.when = unite(std::mem::replace(&mut a.when, When::Always), when);
            }
        }
    }

    /// Reads back a policy `moat record` wrote: its `use`, `default` and `arch` statements and
    /// its `allow` rules with their `# seen N times` counts. Rules spliced in by `use` belong
    /// to the base and are not read.
    pub fn from_policy(policy: &Policy) -> Result<Profile, MergeError> {
        let origin = policy.origin().to_string();
        let mut p = Profile {
            command: None,
            base: None,
            default: None,
            arches: policy.arches().iter().copied().collect(),
            rules: BTreeMap::new(),
            unknown: BTreeMap::new(),
            base_arches: None,
        };
        for item in policy.items() {
            let line = item.span.line;
            match &item.statement {
                Statement::Use(t) => {
                    if p.base.is_some() {
                        return Err(MergeError::Unsupported {
                            origin,
                            line,
                            what: "a second `use`".into(),
                        });
                    }
                    p.base = Some(match t {
                        UseTarget::Builtin(n) => n.clone(),
                        UseTarget::Path(s) => format!("\"{s}\""),
                    });
                    let base = match t {
                        UseTarget::Builtin(n) => Policy::builtin(n).and_then(Result::ok),
                        UseTarget::Path(s) => {
                            let dir = std::path::Path::new(policy.origin()).parent();
                            let path = dir.map_or_else(|| s.into(), |d| d.join(s));
                            Policy::load(&path).ok()
                        }
                    };
                    // A `default` written before the `use` is overridden by the base's own.
                    if base
                        .as_ref()
                        .is_some_and(|b| b.default_action().location.is_some())
                    {
                        p.default = None;
                    }
                    p.base_arches = base.map(|b| b.arches().iter().copied().collect());
                }
                Statement::Default(a) => p.default = Some(*a),
                Statement::Arch(_) => {}
                Statement::Unknown(a) if *a == Action::Errno(ENOSYS) => {}
                Statement::Rule(i) => {
                    let Some(rule) = policy.rules().get(*i) else {
                        continue;
                    };
                    let enosys_clone3 = rule.action == Action::Errno(ENOSYS)
                        && rule.condition.is_none()
                        && rule
                            .targets
                            .iter()
                            .all(|t| t.kind == TargetKind::Syscall("clone3".into()));
                    if (rule.action != Action::Allow && !enosys_clone3) || rule.guard.is_some() {
                        return Err(MergeError::Unsupported {
                            origin,
                            line,
                            what: format!("`{rule}` is not a plain allow rule"),
                        });
                    }
                    let count = rule.reason.as_deref().map_or(0, seen_count);
                    for t in &rule.targets {
                        let (key, name) = match &t.kind {
                            TargetKind::Syscall(n) => (n.clone(), Some(n.as_str())),
                            TargetKind::Group(g) => (format!("@{g}"), None),
                        };
                        let when = match (&rule.condition, name) {
                            (None, _) => When::Always,
                            (Some(c), Some(name)) if !c.unless => {
                                When::Any(alternatives(name, &c.cond))
                            }
                            (Some(c), _) => {
                                let text = if c.unless {
                                    format!("not ({})", c.cond)
                                } else {
                                    c.cond.to_string()
                                };
                                When::Any(vec![Alt::Text(text)])
                            }
                        };
                        p.add(&key, count, when);
                        if let Some(a) = p.rules.get_mut(&key) {
                            if enosys_clone3 {
                                a.action = rule.action;
                            }
                            if a.count == 0 && ESSENTIALS.contains(&key.as_str()) {
                                a.note = Some(ESSENTIAL_NOTE);
                            }
                            if a.count == 0 && key == "clone" {
                                a.note = Some(CLONE3_NOTE);
                            }
                            if a.count == 0 && key == "futex" {
                                a.note = Some(FUTEX_NOTE);
                            }
                        }
                    }
                }
                // `badarch`, `kernel` and anything newer: not something moat record writes.
                _ => {
                    return Err(MergeError::Unsupported {
                        origin,
                        line,
                        what: format!("`{}`", policy.statement_text(item)),
                    });
                }
            }
        }
        Ok(p)
    }

    /// Unites `other` into this profile: a call either allows is allowed. Both must use the
    /// same base and default.
    pub fn merge(&mut self, other: &Profile, origin: &str) -> Result<(), MergeError> {
        if self.base != other.base {
            return Err(MergeError::Conflict {
                origin: origin.into(),
                what: "`use`",
                first: self.base.clone().unwrap_or_else(|| "none".into()),
                other: other.base.clone().unwrap_or_else(|| "none".into()),
            });
        }
        if self.default != other.default {
            let show = |a: Option<Action>| a.map_or_else(|| "none".into(), |a| a.to_string());
            return Err(MergeError::Conflict {
                origin: origin.into(),
                what: "`default`",
                first: show(self.default),
                other: show(other.default),
            });
        }
        self.arches.extend(other.arches.iter().copied());
        for (k, a) in &other.rules {
            let was_new = !self.rules.contains_key(k);
            self.add(k, a.count, a.when.clone());
            if let Some(mine) = self.rules.get_mut(k) {
                if was_new {
                    mine.note = a.note;
                    mine.action = a.action;
                } else if a.action == Action::Allow {
                    // Whichever allows more wins.
                    mine.action = Action::Allow;
                }
            }
        }
        for (k, c) in &other.unknown {
            *self.unknown.entry(k.clone()).or_default() += c;
        }
        self.normalize();
        Ok(())
    }

    /// Total calls seen over all allowances.
    pub fn total(&self) -> u64 {
        self.rules.values().map(|a| a.count).sum::<u64>() + self.unknown.values().sum::<u64>()
    }

    /// The policy as moat text. Groups replace their members where every member that exists
    /// on the recorded ABIs was seen and allowed without a condition.
    pub fn to_text(&self) -> String {
        // Groups first: those the profile names (read back from a policy), then those whose
        // every member was seen and allowed without a condition.
        let members_of = |g: &str| -> Vec<&'static str> {
            expand_group(g)
                .unwrap_or_default()
                .into_iter()
                .filter(|m| self.arches.iter().any(|a| a.by_name(m).is_some()))
                .collect()
        };
        let plain = |m: &str| {
            self.rules
                .get(m)
                .is_some_and(|a| a.when == When::Always && a.action == Action::Allow)
        };
        let mut consumed: BTreeSet<&str> = BTreeSet::new();
        // Group name -> (count, number of members).
        let mut group_lines: BTreeMap<String, (u64, usize)> = BTreeMap::new();
        for (key, a) in &self.rules {
            let Some(g) = key.strip_prefix('@') else {
                continue;
            };
            if a.when != When::Always || a.action != Action::Allow {
                continue;
            }
            let members = members_of(g);
            let mut count = a.count;
            for m in &members {
                if plain(m) && consumed.insert(m) {
                    count += self.rules.get(*m).map_or(0, |a| a.count);
                }
            }
            consumed.insert(key.as_str());
            group_lines.insert(g.to_string(), (count, members.len()));
        }
        let mut candidates: Vec<(&str, Vec<&'static str>)> = groups()
            .iter()
            .filter(|g| !group_lines.contains_key(g.name))
            .map(|g| (g.name, members_of(g.name)))
            .filter(|(_, members)| members.len() >= 2)
            .collect();
        candidates.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
        for (g, members) in candidates {
            let all = members.iter().all(|m| {
                !consumed.contains(m) && plain(m) && self.rules.get(*m).is_some_and(|a| a.count > 0)
            });
            if all {
                let count: u64 = members
                    .iter()
                    .filter_map(|m| self.rules.get(*m))
                    .map(|a| a.count)
                    .sum();
                consumed.extend(members.iter().copied());
                group_lines.insert(g.to_string(), (count, members.len()));
            }
        }
        let seen = group_lines.values().map(|(_, n)| n).sum::<usize>()
            + self
                .rules
                .iter()
                .filter(|(k, a)| {
                    a.count > 0 && !k.starts_with('@') && !consumed.contains(k.as_str())
                })
                .count();
        let mut out = String::new();

        match &self.command {
            Some(c) => {
                let _ = writeln!(out, "# recorded by moat record: {}", one_line(c));
            }
            None => out.push_str("# recorded by moat record\n"),
        }
        let what = if self.base.is_some() {
            " the base refuses"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "# {} of {} distinct syscall{}{what}; replay: moat run --policy THIS-FILE -- CMD",
            plural(self.total(), "call"),
            seen,
            if seen == 1 { "" } else { "s" },
        );
        if let Some(b) = &self.base {
            line(
                &mut out,
                &format!("use {b}"),
                Some("the base profile; the lines below are what the program needed beyond it"),
            );
        }
        if let Some(d) = self.default {
            let why = match d {
                Action::KillProcess => {
                    "a call never seen while recording kills the program, and the kernel logs it"
                }
                _ => "calls never seen while recording",
            };
            line(&mut out, &format!("default {d}"), Some(why));
        }
        if self.base.is_none() {
            line(
                &mut out,
                "unknown errno ENOSYS",
                Some("numbers newer than moat's table: libc falls back"),
            );
        }
        let reference = self
            .base_arches
            .clone()
            .unwrap_or_else(|| [Arch::native()].into());
        if !self.arches.is_empty() && self.arches != reference {
            let names: Vec<&str> = self.arches.iter().map(|a| a.name()).collect();
            line(
                &mut out,
                &format!("arch {}", names.join(" ")),
                Some("the ABIs the program used"),
            );
        }
        for ((abi, nr), count) in &self.unknown {
            let _ = writeln!(
                out,
                "# {abi} number {nr}: {} not in moat's table; `unknown` applies",
                times(*count)
            );
        }
        for (g, (count, n)) in group_lines {
            line(
                &mut out,
                &format!("allow @{g}"),
                Some(&format!("{}, all {n} of its syscalls", seen_text(count))),
            );
        }
        for (key, a) in &self.rules {
            if consumed.contains(key.as_str()) {
                continue;
            }
            let stmt = match &a.when {
                When::Always => format!("{} {key}", a.action),
                When::Any(alts) => format!("{} {key} if {}", a.action, render_alts(key, alts)),
            };
            let reason = match a.note {
                Some(n) if a.count == 0 => n.to_string(),
                _ if a.action == Action::Errno(ENOSYS) => format!(
                    "{}; its flags sit behind a pointer seccomp cannot read: libc falls back to clone",
                    seen_text(a.count)
                ),
                _ => seen_text(a.count),
            };
            line(&mut out, &stmt, Some(&reason));
        }
        align(&out)
    }
}

fn line(out: &mut String, stmt: &str, reason: Option<&str>) {
    match reason {
        Some(r) => {
            let _ = writeln!(out, "{stmt}\t# {r}");
        }
        None => {
            let _ = writeln!(out, "{stmt}");
        }
    }
}

/// Replaces the tab [`line`] puts between a statement and its reason with spaces, so the
/// reasons start in one column.
fn align(text: &str) -> String {
    let widths = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(stmt, _)| stmt.chars().count())
        .filter(|&w| w <= MAX_REASON_COLUMN);
    let column = widths.max().unwrap_or(0) + 2;
    let mut out = String::with_capacity(text.len() + 1024);
    for l in text.lines() {
        match l.split_once('\t') {
            Some((stmt, reason)) => {
                let pad = column.saturating_sub(stmt.chars().count()).max(1);
                let _ = writeln!(out, "{stmt}{:pad$}{reason}", "");
            }
            None => {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}

/// `text` fit for a comment line: control characters escaped, at most 200 characters.
fn one_line(text: &str) -> String {
    let escaped: String = text
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().collect()
            } else {
                c.to_string()
            }
        })
        .collect();
    if escaped.chars().count() > 200 {
        let cut: String = escaped.chars().take(200).collect();
        format!("{cut}...")
    } else {
        escaped
    }
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn times(n: u64) -> String {
    if n == 1 {
        "once".into()
    } else {
        format!("{n} times")
    }
}

fn seen_text(n: u64) -> String {
    format!("seen {}", times(n))
}

/// The count in a `seen N times` / `seen once` reason; 0 when there is none.
fn seen_count(reason: &str) -> u64 {
    let Some(rest) = reason.split("seen ").nth(1) else {
        return 0;
    };
    if rest.starts_with("once") {
        return 1;
    }
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
}

/// The condition for the values seen of one argument.
pub(crate) fn generalise(param: &str, shape: Shape, values: &BTreeSet<u64>) -> When {
    match shape {
        Shape::Set if values.len() > crate::recording::MAX_VALUES => When::Always,
        // Every access mode, or every combination of W and X: nothing left to refuse.
        Shape::AccessMode if values.len() >= 3 => When::Always,
        Shape::Prot if values.len() >= 4 => When::Always,
        _ => {
            let mut values = values.clone();
            // No namespace bit, or neither W nor X: never more than what was seen needs.
            if matches!(shape, Shape::CloneFlags | Shape::Prot) {
                values.insert(0);
            }
            if shape == Shape::Prot && values.len() >= 4 {
                return When::Always;
            }
            When::Any(vec![Alt::In {
                param: param.to_string(),
                shape,
                values,
            }])
        }
    }
}

/// The union of two conditions.
fn unite(a: When, b: When) -> When {
    let (When::Any(mut alts), When::Any(more)) = (a, b) else {
        return When::Always;
    };
    for alt in more {
        if let Alt::In {
            param,
            shape,
            values,
        } = &alt
            && let Some(Alt::In { values: mine, .. }) = alts.iter_mut().find(
                |x| matches!(x, Alt::In { param: p, shape: s, .. } if p == param && s == shape),
            )
        {
            mine.extend(values.iter().copied());
            continue;
        }
        if !alts.contains(&alt) {
            alts.push(alt);
        }
    }
    // A set that now covers every value of its mask allows everything.
    for alt in &alts {
        if let Alt::In { shape, values, .. } = alt {
            let full = match shape {
                Shape::AccessMode => values.len() >= 3,
                Shape::Prot => values.len() >= 4,
                Shape::Set => values.len() > crate::recording::MAX_VALUES,
                Shape::CloneFlags => false,
            };
            if full {
                return When::Always;
            }
        }
    }
    alts.sort();
    When::Any(alts)
}

/// Reads a condition written by [`Profile::to_text`] back into alternatives.
fn alternatives(name: &str, cond: &Condition) -> Vec<Alt> {
    if let Condition::Or(parts) = cond {
        return parts.iter().flat_map(|c| alternatives(name, c)).collect();
    }
    if let Some(alt) = structured(name, cond) {
        return vec![alt];
    }
    vec![Alt::Text(cond.to_string())]
}

fn structured(name: &str, cond: &Condition) -> Option<Alt> {
    let Condition::Test { arg, mask, test } = cond else {
        return None;
    };
    let (param, shape) = watched(name)?;
    if arg.kind != ArgKind::Name(param.to_string()) {
        return None;
    }
    let mask_value = match mask {
        None => None,
        Some(m) => Some(u64::try_from(m.number()).ok()?),
    };
    // `prot & PROT_EXEC == 0` is how {0, PROT_WRITE} is written.
    if shape == Shape::Prot
        && mask_value == Some(4)
        && matches!(test, Test::Cmp(CmpOp::Eq, v) if v.number() == 0)
    {
        return Some(Alt::In {
            param: param.to_string(),
            shape,
            values: [0, 2].into(),
        });
    }
    if mask_value != shape.mask() {
        return None;
    }
    let num = |v: &moat_policy::model::Value| u64::try_from(v.number()).ok();
    let listed: Option<BTreeSet<u64>> = match test {
        Test::Cmp(CmpOp::Eq, v) => Some([num(v)?].into()),
        Test::In(vs) => vs.iter().map(num).collect(),
        Test::Cmp(CmpOp::Ne, v) => complement(shape, &[num(v)?].into()),
        Test::NotIn(vs) => complement(shape, &vs.iter().map(num).collect::<Option<_>>()?),
        _ => None,
    };
    Some(Alt::In {
        param: param.to_string(),
        shape,
        values: listed?,
    })
}

/// Every value of a small mask (at most 4 bits) not in `values`.
fn complement(shape: Shape, values: &BTreeSet<u64>) -> Option<BTreeSet<u64>> {
    let mask = shape.mask()?;
    if mask.count_ones() > 4 {
        return None;
    }
    let bits: Vec<u64> = (0..64)
        .map(|i| 1u64 << i)
        .filter(|b| mask & b != 0)
        .collect();
    let mut all = BTreeSet::new();
    for combo in 0..(1u64 << bits.len()) {
        let v = bits
            .iter()
            .enumerate()
            .filter(|(i, _)| combo & (1 << i) != 0)
            .fold(0, |acc, (_, b)| acc | b);
        if !values.contains(&v) {
            all.insert(v);
        }
    }
    Some(all)
}

fn render_alts(name: &str, alts: &[Alt]) -> String {
    let parts: Vec<String> = alts.iter().map(|a| render_alt(name, a)).collect();
    if parts.len() == 1 {
        return parts.into_iter().next().unwrap_or_default();
    }
    parts
        .iter()
        .map(|p| format!("({p})"))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn render_alt(name: &str, alt: &Alt) -> String {
    let (param, shape, values) = match alt {
        Alt::Text(t) => return t.clone(),
        Alt::In {
            param,
            shape,
            values,
        } => (param, *shape, values),
    };
    let lhs = match shape {
        Shape::Set => param.clone(),
        Shape::CloneFlags => format!("{param} & CLONE_NEW_ANY"),
        Shape::Prot => format!("{param} & PROT_WRITE | PROT_EXEC"),
        Shape::AccessMode => format!("{param} & O_ACCMODE"),
    };
    let show = |v: u64| value_name(name, param, shape, v);
    if shape == Shape::Prot && *values == BTreeSet::from([0, 2]) {
        return format!("{param} & PROT_EXEC == 0");
    }
    // With two mask bits (W and X), "all but one combination" reads better as `!=`.
    if shape == Shape::Prot
        && let Some(rest) = complement(shape, values)
        && rest.len() == 1
        && let Some(&only) = rest.iter().next()
    {
        return format!("{lhs} != {}", show(only));
    }
    if values.len() == 1
        && let Some(&v) = values.iter().next()
    {
        return format!("{lhs} == {}", show(v));
    }
    let list: Vec<String> = values.iter().map(|&v| show(v)).collect();
    format!("{lhs} in {{{}}}", list.join(", "))
}

/// A value as the named constant(s) people know it by, else a number.
fn value_name(name: &str, param: &str, shape: Shape, v: u64) -> String {
    let number = || {
        if v < 256 {
            v.to_string()
        } else {
            format!("{v:#x}")
        }
    };
    match shape {
        Shape::AccessMode => match v {
            0 => "O_RDONLY".into(),
            1 => "O_WRONLY".into(),
            2 => "O_RDWR".into(),
            _ => number(),
        },
        Shape::Prot => bits(v, &[("PROT_WRITE", 2), ("PROT_EXEC", 4)]).unwrap_or_else(number),
        Shape::CloneFlags => {
            let names: Vec<(&str, u64)> = constants()
                .iter()
                .filter(|(n, c)| {
                    n.starts_with("CLONE_NEW") && *n != "CLONE_NEW_ANY" && c.count_ones() == 1
                })
                .map(|&(n, c)| (n, c))
                .collect();
            bits(v, &names).unwrap_or_else(number)
        }
        Shape::Set => {
            let prefixes: &[&str] = match (name, param) {
                ("socket" | "socketpair", "domain") => &["AF_"],
                ("ioctl", "request") => &["TC", "TIOC", "FIO"],
                ("prctl", "option") => &["PR_"],
                ("fcntl" | "fcntl64", "cmd") => &["F_"],
                _ => &[],
            };
            constants()
                .iter()
                .find(|(n, c)| *c == v && prefixes.iter().any(|p| n.starts_with(p)))
                .map_or_else(number, |(n, _)| (*n).to_string())
        }
    }
}

/// `A | B` for a value made only of the named bits; `None` otherwise (0 included).
fn bits(v: u64, names: &[(&str, u64)]) -> Option<String> {
    if v == 0 {
        return Some("0".into());
    }
    let mut left = v;
    let mut parts = Vec::new();
    for (n, b) in names {
        if left & b != 0 {
            parts.push(*n);
            left &= !b;
        }
    }
    (left == 0).then(|| parts.join(" | "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const X86_64: u32 = 0xc000_003e;

    fn policy(text: &str) -> Policy {
        Policy::parse(text, "test.moat").unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn regression_multi_line_command_stays_in_its_comment() {
        let mut r = Recording::new();
        r.record(X86_64, 0, &[0; 6]);
        let opts = Options {
            command: Some("python3 -c 'import os\nprint(1)'\r".into()),
            ..Options::default()
        };
        let text = Profile::from_recording(&r, &opts).to_text();
        assert!(
            text.starts_with("# recorded by moat record: python3 -c 'import os\\nprint(1)'\\r\n"),
            "{text}"
        );
        policy(&text);
    }

    #[test]
    fn a_program_that_creates_threads_gets_futex_even_when_no_lock_contended() {
        let mut r = Recording::new();
        r.record(X86_64, 56, &[0x003d_0f00, 0, 0, 0, 0, 0]); // clone for a thread
        r.record(X86_64, 231, &[0; 6]);
        let text = Profile::from_recording(&r, &Options::default()).to_text();
        let p = policy(&text);
        let ctx = moat_policy::Context::default();
        assert_eq!(
            p.evaluate(&ctx, X86_64, 202, [0; 6]).action,
            Action::Allow,
            "{text}"
        );

        // Without task creation, futex stays what the run showed: not allowed.
        let mut r = Recording::new();
        r.record(X86_64, 231, &[0; 6]);
        let text = Profile::from_recording(&r, &Options::default()).to_text();
        let p = policy(&text);
        assert_eq!(
            p.evaluate(&ctx, X86_64, 202, [0; 6]).action,
            Action::KillProcess,
            "{text}"
        );
    }

    #[test]
    fn seen_counts_parse() {
        assert_eq!(seen_count("seen 12 times"), 12);
        assert_eq!(seen_count("seen once"), 1);
        assert_eq!(seen_count("seen 7 times, all 3 of its syscalls"), 7);
        assert_eq!(seen_count("whatever"), 0);
    }

    #[test]
    fn af_unix_only_refuses_af_inet() {
        let mut r = Recording::new();
        r.record(X86_64, 41, &[1, 1, 0, 0, 0, 0]); // socket(AF_UNIX, SOCK_STREAM)
        r.record(X86_64, 231, &[0; 6]);
        let text = Profile::from_recording(&r, &Options::default()).to_text();
        assert!(text.contains("allow socket if domain == AF_UNIX"), "{text}");
        let p = policy(&text);
        let ctx = moat_policy::Context::default();
        let unix = p.evaluate(&ctx, X86_64, 41, [1, 1, 0, 0, 0, 0]);
        let inet = p.evaluate(&ctx, X86_64, 41, [2, 1, 0, 0, 0, 0]);
        assert_eq!(unix.action, Action::Allow);
        assert_eq!(inet.action, Action::KillProcess);
    }

    #[test]
    fn conditions_round_trip_through_text() {
        let mut r = Recording::new();
        for (nr, args) in [
            (56u32, [0x003d_0f00u64, 0, 0, 0, 0, 0]), // clone for a thread
            (9, [0, 4096, 3, 0x22, 0, 0]),            // mmap PROT_READ|PROT_WRITE
            (9, [0, 4096, 5, 0x2, 3, 0]),             // mmap PROT_READ|PROT_EXEC
            (10, [0, 4096, 1, 0, 0, 0]),              // mprotect PROT_READ
            (329, [0, 4096, 3, 0, 0, 0]),             // pkey_mprotect PROT_READ|PROT_WRITE
            (435, [0x7fff_0000, 88, 0, 0, 0, 0]),     // clone3 (flags not read: no process)
            (257, [0xffff_ff9c, 0, 0x80000, 0, 0, 0]), // openat O_RDONLY|O_CLOEXEC
            (257, [0xffff_ff9c, 0, 0x241, 0o644, 0, 0]), // openat O_WRONLY|O_CREAT|O_TRUNC
            (16, [1, 0x5401, 0, 0, 0, 0]),            // ioctl TCGETS
            (16, [1, 0x5413, 0, 0, 0, 0]),            // ioctl TIOCGWINSZ
            (72, [3, 1, 0, 0, 0, 0]),                 // fcntl F_GETFD
            (157, [15, 0, 0, 0, 0, 0]),               // prctl PR_SET_NAME
            (41, [2, 1, 0, 0, 0, 0]),                 // socket AF_INET
            (41, [10, 2, 0, 0, 0, 0]),                // socket AF_INET6
        ] {
            r.record(X86_64, nr, &args);
        }
        let profile = Profile::from_recording(&r, &Options::default());
        let text = profile.to_text();
        for want in [
            "allow clone if flags & CLONE_NEW_ANY == 0",
            "allow mmap if prot & PROT_WRITE | PROT_EXEC != PROT_WRITE | PROT_EXEC",
            "allow mprotect if prot & PROT_WRITE | PROT_EXEC == 0",
            "allow openat if flags & O_ACCMODE in {O_RDONLY, O_WRONLY}",
            "allow ioctl if request in {TCGETS, TIOCGWINSZ}",
            "allow fcntl if cmd == F_GETFD",
            "allow prctl if option == PR_SET_NAME",
            "allow socket if domain in {AF_INET, AF_INET6}",
            "allow pkey_mprotect if prot & PROT_EXEC == 0",
            "errno ENOSYS clone3",
        ] {
            assert!(text.contains(want), "missing `{want}` in\n{text}");
        }
        let p = policy(&text);
        let back = Profile::from_policy(&p).unwrap();
        assert_eq!(back.rules, profile.rules, "{text}");
        let ctx = moat_policy::Context::default();
        let eval = |nr, args| p.evaluate(&ctx, X86_64, nr, args).action;
        assert_eq!(eval(56, [0x1000_0011, 0, 0, 0, 0, 0]), Action::KillProcess);
        assert_eq!(eval(56, [0x11, 0, 0, 0, 0, 0]), Action::Allow);
        assert_eq!(eval(9, [0, 1, 7, 0, 0, 0]), Action::KillProcess);
        assert_eq!(eval(10, [0, 1, 5, 0, 0, 0]), Action::KillProcess);
        assert_eq!(eval(257, [0, 0, 2, 0, 0, 0]), Action::KillProcess);
        assert_eq!(eval(16, [0, 0x5412, 0, 0, 0, 0]), Action::KillProcess);
        assert_eq!(eval(60, [0; 6]), Action::Allow, "exit is an essential");
        assert_eq!(eval(435, [0; 6]), Action::Errno(38));
        assert_eq!(eval(329, [0, 1, 6, 0, 0, 0]), Action::KillProcess);
        assert_eq!(eval(329, [0, 1, 3, 0, 0, 0]), Action::Allow);
    }

    #[test]
    fn merge_unites_sets_and_counts() {
        let mut a = Recording::new();
        a.record(X86_64, 41, &[1, 1, 0, 0, 0, 0]);
        a.record(X86_64, 0, &[0; 6]);
        let mut b = Recording::new();
        b.record(X86_64, 41, &[2, 1, 0, 0, 0, 0]);
        b.record(X86_64, 41, &[2, 1, 0, 0, 0, 0]);
        b.record(X86_64, 1, &[0; 6]);
        let pa = policy(&Profile::from_recording(&a, &Options::default()).to_text());
        let pb = policy(&Profile::from_recording(&b, &Options::default()).to_text());
        let mut m = Profile::from_policy(&pa).unwrap();
        m.merge(&Profile::from_policy(&pb).unwrap(), "b").unwrap();
        let text = m.to_text();
        assert!(
            text.contains("allow socket if domain in {AF_UNIX, AF_INET}"),
            "{text}"
        );
        assert!(text.contains("# seen 3 times"), "{text}");
        assert!(text.contains("allow read "), "{text}");
        assert!(text.contains("allow write "), "{text}");
        // The merge of what both recordings saw, again, equals a recording of both runs.
        let mut both = a.clone();
        both.merge(&b);
        assert_eq!(
            m.rules,
            Profile::from_recording(&both, &Options::default()).rules
        );
    }

    #[test]
    fn merge_refuses_different_bases() {
        let a = policy("use container\nallow bpf # seen once\n");
        let b = policy("default kill\nallow read # seen once\n");
        let mut pa = Profile::from_policy(&a).unwrap();
        let err = pa
            .merge(&Profile::from_policy(&b).unwrap(), "b.moat")
            .unwrap_err();
        assert!(err.to_string().contains("`use`"), "{err}");
    }

    #[test]
    fn merge_refuses_deny_rules() {
        let a = policy("default kill\ndeny read\n");
        let err = Profile::from_policy(&a).unwrap_err();
        assert_eq!(
            err.to_string(),
            "test.moat:2: `deny read` is not a plain allow rule; --merge reads policies written by moat record"
        );
    }

    #[test]
    fn fully_used_groups_replace_members() {
        let mut r = Recording::new();
        for name in expand_group("timer").unwrap() {
            if let Some(s) = Arch::X86_64.by_name(name) {
                r.record(X86_64, s.nr, &[0; 6]);
            }
        }
        let text = Profile::from_recording(&r, &Options::default()).to_text();
        assert!(text.contains("allow @timer"), "{text}");
        assert!(!text.contains("allow timer_create"), "{text}");
        policy(&text);
    }

    #[test]
    fn unite_of_full_access_modes_is_always() {
        let a = When::Any(vec![Alt::In {
            param: "flags".into(),
            shape: Shape::AccessMode,
            values: [0, 1].into(),
        }]);
        let b = When::Any(vec![Alt::In {
            param: "flags".into(),
            shape: Shape::AccessMode,
            values: [2].into(),
        }]);
        assert_eq!(unite(a, b), When::Always);
    }
}
