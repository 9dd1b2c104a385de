//! Moat text from per-name decisions, for formats that filter by syscall name (systemd units,
//! minijail, LXC).
//!
//! A moat rule on a name also covers its twins (`setuid` covers `setuid32`, `fcntl` covers
//! `fcntl64`); these formats treat every name on its own. [`Writer`] therefore writes the rules
//! of base names first and then, for every twin whose base has rules, resets the twin to the
//! format's fallback and replays the twin's own rules, so each name means what the format says.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::OnceLock;

use moat_syscalls as sc;

/// The base name a twin follows (`setuid32` -> `setuid`), if `name` is a twin.
pub(crate) fn base_of(name: &str) -> Option<&'static str> {
    static MAP: OnceLock<BTreeMap<&'static str, &'static str>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut m = BTreeMap::new();
        for &n in sc::names() {
            for &t in sc::twins(n) {
                m.insert(t, n);
            }
        }
        m
    })
    .get(name)
    .copied()
}

/// One rule in the source format's order (later rules win, as in moat).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    /// The moat action (`allow`, `errno EPERM`, `kill`, ...).
    pub action: String,
    /// The syscall the rule is for.
    pub name: String,
    /// A moat condition (`arg0 == 1 and arg1 & 0x3`), or none.
    pub cond: Option<String>,
    /// The statement's reason (where in the input it comes from).
    pub reason: Option<String>,
}

/// Writes rules twin-safely; unconditional neighbouring rules with the same action and reason
/// share a line.
pub(crate) struct Writer<'a> {
    /// The action a name gets when no rule of its own matches.
    pub fallback: &'a str,
}

impl Writer<'_> {
    /// Appends `rules` to `out`.
    pub(crate) fn write(&self, out: &mut String, rules: &[Rule]) {
        let with_rules: BTreeSet<&str> = rules.iter().map(|r| r.name.as_str()).collect();
        // Twins whose base has rules of its own: written after every base rule.
        let late: BTreeSet<&str> = sc::names()
            .iter()
            .copied()
            .filter(|t| base_of(t).is_some_and(|b| with_rules.contains(b)))
            .collect();
        let (early, twins): (Vec<&Rule>, Vec<&Rule>) =
            rules.iter().partition(|r| !late.contains(r.name.as_str()));
        write_lines(out, &early);
        if late.is_empty() {
            return;
        }
        // A twin without rules of its own is reset only when the base's rules could reach it.
        let resets: Vec<Rule> = late
            .iter()
            .filter(|t| {
                !with_rules.contains(**t)
                    || rules
                        .iter()
                        .filter(|r| r.name == **t)
                        .all(|r| r.cond.is_some())
            })
            .map(|t| Rule {
                action: self.fallback.to_string(),
                name: (*t).to_string(),
                cond: None,
                reason: Some("twins get their own rules, not their base name's".into()),
            })
            .collect();
        let mut tail: Vec<&Rule> = resets.iter().collect();
        tail.extend(twins);
        write_lines(out, &tail);
    }
}

fn write_lines(out: &mut String, rules: &[&Rule]) {
    let mut i = 0;
    while i < rules.len() {
        let r = rules[i];
        if let Some(c) = &r.cond {
            let _ = write!(out, "{} {} if {c}", r.action, r.name);
            end(out, r.reason.as_deref());
            i += 1;
            continue;
        }
        let mut line = format!("{} {}", r.action, r.name);
        let mut j = i + 1;
        while j < rules.len()
            && rules[j].cond.is_none()
            && rules[j].action == r.action
            && rules[j].reason == r.reason
        {
            if line.len() > 100 {
                out.push_str(&line);
                end(out, r.reason.as_deref());
                line = format!("{} {}", r.action, rules[j].name);
            } else {
                line.push(' ');
                line.push_str(&rules[j].name);
            }
            j += 1;
        }
        out.push_str(&line);
        end(out, r.reason.as_deref());
        i = j;
    }
}

/// Ends a statement line with its reason.
fn end(out: &mut String, reason: Option<&str>) {
    if let Some(r) = reason {
        let _ = write!(out, "  # {}", r.replace('\n', " "));
    }
    out.push('\n');
}
