//! What a policy does to each syscall on each ABI, and which line decides: the data behind
//! `moat explain` and `moat emu`.

use moat_syscalls::Arch;

use crate::eval::mux_name;
use crate::lower::Cond;
use crate::model::Location;
use crate::{Action, Context, Decider, LowerError, Policy, Setting, Verdict};

/// A policy's effect on every syscall of its accepted ABIs.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// The accepted ABIs, in the policy's order.
    pub arches: Vec<Arch>,
    /// Every syscall name that exists on at least one accepted ABI, sorted by name.
    pub syscalls: Vec<SyscallEntry>,
}

/// One syscall name.
#[derive(Clone, Debug)]
pub struct SyscallEntry {
    /// The name.
    pub name: &'static str,
    /// What happens on each accepted ABI, in [`Explanation::arches`] order.
    pub abis: Vec<(Arch, AbiEntry)>,
}

/// What happens to one syscall on one ABI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AbiEntry {
    /// The ABI has no syscall of this name.
    Absent,
    /// The syscall is newer than the policy's `kernel` cut and no rule names it: `unknown`.
    Unknown {
        /// Its number on this ABI.
        nr: u32,
    },
    /// The syscall is known.
    Known {
        /// Its number on this ABI.
        nr: u32,
        /// Conditional rules that can still decide, in source order (the last that holds wins).
        branches: Vec<Branch>,
        /// What decides when none of `branches` holds: the last unconditional rule, or the default.
        otherwise: Decider,
    },
}

/// A conditional rule as it applies to one syscall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Branch {
    /// Index into [`Policy::rules`].
    pub rule: usize,
    /// Its action.
    pub action: Action,
    /// The condition as written (`flags & CLONE_NEW_ANY`, `not (...)` for `unless`), or for a
    /// multiplexer the sub-call test.
    pub condition: String,
    /// For rules that reach this syscall through a multiplexer: the call they name and why the
    /// whole sub-call is affected.
    pub via: Option<String>,
}

impl Policy {
    /// Explains the policy for `ctx`: per syscall and accepted ABI, the deciding rules.
    pub fn explain(&self, ctx: &Context) -> Result<Explanation, LowerError> {
        let lowered = self.lower(ctx)?;
        let mut names: Vec<&'static str> = self
            .arches
            .iter()
            .flat_map(|a| a.syscalls().iter().map(|s| s.name))
            .collect();
        names.sort_unstable();
        names.dedup();
        let syscalls = names
            .into_iter()
            .map(|name| {
                let abis = lowered
                    .abis
                    .iter()
                    .map(|abi| {
                        let entry = match abi.arch.by_name(name) {
                            None => AbiEntry::Absent,
                            Some(sc) => match abi.syscalls.get(&sc.nr) {
                                None => AbiEntry::Unknown { nr: sc.nr },
                                Some(rules) => {
                                    let last_uncond =
                                        rules.iter().rposition(|r| r.cond == Cond::True);
                                    let otherwise = match last_uncond {
                                        Some(i) => self.decider(rules[i].rule),
                                        None => Decider::Default,
                                    };
                                    let start = last_uncond.map_or(0, |i| i + 1);
                                    let branches = rules[start..]
                                        .iter()
                                        .map(|r| self.branch(r.rule, r.action, abi.arch, name))
                                        .collect();
                                    AbiEntry::Known {
                                        nr: sc.nr,
                                        branches,
                                        otherwise,
                                    }
                                }
                            },
                        };
                        (abi.arch, entry)
                    })
                    .collect();
                SyscallEntry { name, abis }
            })
            .collect();
        Ok(Explanation {
            arches: self.arches.clone(),
            syscalls,
        })
    }

    fn decider(&self, index: usize) -> Decider {
        Decider::Rule {
            index,
            span: self.rules[index].location.span,
        }
    }

    fn branch(&self, index: usize, action: Action, arch: Arch, name: &str) -> Branch {
        let rule = &self.rules[index];
        if crate::resolve::contains(&self.covers[index], name) {
            let condition = match &rule.condition {
                Some(c) if c.unless => format!("not ({})", c.cond),
                Some(c) => c.cond.to_string(),
                None => "always".into(),
            };
            return Branch {
                rule: index,
                action,
                condition,
                via: None,
            };
        }
        let mut calls = Vec::new();
        let mut reached = Vec::new();
        for &covered in &self.covers[index] {
            if let Some(m) = moat_syscalls::multiplexed(arch, covered)
                && mux_name(m.via) == name
            {
                calls.push(format!("call == {}", m.call));
                reached.push(covered);
            }
        }
        let why = if rule.condition.is_some() {
            format!(
                "{} through {name}: its arguments cannot be inspected here, so the conditional rule applies to every such call",
                reached.join(", ")
            )
        } else {
            format!("{} through {name}", reached.join(", "))
        };
        Branch {
            rule: index,
            action,
            condition: calls.join(" or "),
            via: Some(why),
        }
    }

    /// Where a verdict comes from, as `origin:line` (or `built-in` for defaults not written
    /// anywhere).
    pub fn decider_location(&self, d: Decider) -> Option<Location> {
        match d {
            Decider::Rule { index, .. } => self.rules.get(index).map(|r| r.location.clone()),
            Decider::Default => self.default.location.clone(),
            Decider::Unknown => self.unknown.location.clone(),
            Decider::BadArch => self.badarch.location.clone(),
        }
    }

    /// A verdict in words: `deny (errno EPERM) by container:5: deny @namespaces  # reason`.
    pub fn describe(&self, v: &Verdict) -> String {
        let action = describe_action(v.action);
        match v.decided_by {
            Decider::Rule { index, .. } => {
                let rule = &self.rules[index];
                let reason = rule
                    .reason
                    .as_ref()
                    .map(|r| format!("  # {r}"))
                    .unwrap_or_default();
                format!("{action} by {}: {rule}{reason}", rule.location)
            }
            Decider::Default => format!("{action} by {}", setting("default", &self.default)),
            Decider::Unknown => format!("{action} by {}", setting("unknown", &self.unknown)),
            Decider::BadArch => format!("{action} by {}", setting("badarch", &self.badarch)),
        }
    }

    /// One line for one [`AbiEntry`]: `deny if flags & CLONE_NEW_ANY [container:6]; else allow [default container:2]`.
    pub fn describe_entry(&self, e: &AbiEntry) -> String {
        match e {
            AbiEntry::Absent => "absent".into(),
            AbiEntry::Unknown { .. } => format!(
                "{} [unknown: newer than kernel {}{}]",
                self.unknown.action,
                self.kernel().map(|k| k.to_string()).unwrap_or_default(),
                self.unknown
                    .location
                    .as_ref()
                    .map(|l| format!(", {l}"))
                    .unwrap_or_default()
            ),
            AbiEntry::Known {
                branches,
                otherwise,
                ..
            } => {
                let mut parts = Vec::new();
                for b in branches.iter().rev() {
                    parts.push(format!(
                        "{} if {} [{}]",
                        b.action, b.condition, self.rules[b.rule].location
                    ));
                }
                let last = match otherwise {
                    Decider::Rule { index, .. } => {
                        format!(
                            "{} [{}]",
                            self.rules[*index].action, self.rules[*index].location
                        )
                    }
                    _ => format!(
                        "{} [default{}]",
                        self.default.action,
                        self.default
                            .location
                            .as_ref()
                            .map(|l| format!(" {l}"))
                            .unwrap_or_default()
                    ),
                };
                if parts.is_empty() {
                    last
                } else {
                    format!("{}; else {last}", parts.join("; else "))
                }
            }
        }
    }
}

fn setting(what: &str, s: &Setting) -> String {
    match &s.location {
        Some(l) => format!("{what} ({l})"),
        None => format!("{what} (built-in)"),
    }
}

/// `deny (errno EPERM)`, `errno ENOSYS`, `kill (process)`, `allow`.
pub fn describe_action(a: Action) -> String {
    match a {
        Action::Errno(1) => "deny (errno EPERM)".into(),
        Action::KillProcess => "kill (process)".into(),
        other => other.to_string(),
    }
}
