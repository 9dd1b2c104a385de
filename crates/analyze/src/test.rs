//! Policy unit tests: one expectation a line.
//!
//! ```text
//! # comment
//! x86_64 openat(AT_FDCWD, *, O_RDONLY) = allow
//! x86 socketcall(1, *) = errno EPERM
//! * bpf(*) = deny
//! ```
//!
//! The ABI is a name or `*` (every ABI the subject accepts that has the syscall). Arguments are
//! numbers (decimal, `0x` hex, negative numbers sign-extended to 64 bits), named constants joined
//! by `|`, or `*` for any value; arguments not written are `*`. The action is written as in the
//! policy language (`allow`, `deny` = `errno EPERM`, `errno ENOSYS`, `kill`, `kill-thread`,
//! `trap [N]`, `log`, `trace N`, `notify`).
//!
//! Against a policy an expectation is checked exactly: the `*` arguments range over every value
//! (the argument space is split on the policy's own conditions, [`crate::region`]). Against raw
//! programs the `*` arguments range over boundary values of the programs' and the expectation's
//! constants.

use std::fmt;

use moat_policy::{Action, Context, Policy};
use moat_syscalls::Arch;

use crate::Subject;
use crate::filters::sample_values;
use crate::region::{Atoms, List, split};
use crate::solve::Atom;

/// One expectation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// 1-based line in the test file.
    pub line: u32,
    /// The line as written (trimmed, comment removed).
    pub text: String,
    /// The ABI; `None` for `*`.
    pub arch: Option<Arch>,
    /// The syscall name.
    pub syscall: String,
    /// Up to six arguments; `None` is `*`.
    pub args: Vec<Option<u64>>,
    /// The expected action.
    pub expected: Action,
}

/// A malformed test file line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}:{col}: {message}")]
pub struct ParseError {
    /// The file.
    pub origin: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
    /// What is wrong.
    pub message: String,
}

/// A failed expectation: a concrete call and what happened instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The ABI of the call.
    pub arch: Arch,
    /// The syscall number.
    pub nr: u32,
    /// The arguments of a call that gets another action.
    pub args: [u64; 6],
    /// What the subject does instead.
    pub got: Action,
    /// The deciding line (`container:5: deny bpf ...`), when the subject is a policy.
    pub decided_by: Option<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.arch.by_nr(self.nr).map_or("?", |s| s.name);
        let args: Vec<String> = self
            .args
            .iter()
            .map(|&v| {
                if v < 10 {
                    v.to_string()
                } else {
                    format!("{v:#x}")
                }
            })
            .collect();
        write!(
            f,
            "{} {name}({}) is {}",
            self.arch,
            args.join(", "),
            self.got
        )?;
        if let Some(d) = &self.decided_by {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

/// Parses a test file.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Expectation>, ParseError> {
    let mut out = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let body = raw.split('#').next().unwrap_or("");
        let lead = body.len() - body.trim_start().len();
        let body = body.trim();
        if body.is_empty() {
            continue;
        }
        let err = |offset: usize, message: String| ParseError {
            origin: origin.to_string(),
            line,
            col: u32::try_from(raw[..(lead + offset).min(raw.len())].chars().count() + 1)
                .unwrap_or(u32::MAX),
            message,
        };
        let (abi, rest) = body
            .split_once(char::is_whitespace)
            .ok_or_else(|| err(0, "expected `ABI syscall(args) = action`".into()))?;
        let arch = if abi == "*" {
            None
        } else {
            Some(abi.parse::<Arch>().map_err(|e| err(0, e.to_string()))?)
        };
        let rest_off = body.len() - rest.len();
        let rest_t = rest.trim_start();
        let rest_off = rest_off + (rest.len() - rest_t.len());
        let open = rest_t
            .find('(')
            .ok_or_else(|| err(rest_off, "expected `(` after the syscall name".into()))?;
        let syscall = rest_t[..open].trim().to_string();
        if syscall.is_empty() {
            return Err(err(rest_off, "expected a syscall name".into()));
        }
        if !moat_syscalls::is_known(&syscall) {
            let hint = moat_syscalls::suggest(&syscall)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(err(rest_off, format!("unknown syscall `{syscall}`{hint}")));
        }
        let close = rest_t
            .find(')')
            .filter(|&c| c > open)
            .ok_or_else(|| err(rest_off + open, "expected `)` closing the arguments".into()))?;
        let inner = &rest_t[open + 1..close];
        let mut args = Vec::new();
        if !inner.trim().is_empty() {
            let mut off = rest_off + open + 1;
            for part in inner.split(',') {
                let p = part.trim();
                args.push(if p == "*" {
                    None
                } else {
                    Some(
                        value(p)
                            .map_err(|m| err(off + (part.len() - part.trim_start().len()), m))?,
                    )
                });
                off += part.len() + 1;
            }
        }
        if args.len() > 6 {
            return Err(err(
                rest_off + open,
                format!("{} arguments; syscalls take at most 6", args.len()),
            ));
        }
        let after = rest_t[close + 1..].trim_start();
        let eq_off = rest_off + close + 1 + (rest_t[close + 1..].len() - after.len());
        let raw_action = after
            .strip_prefix('=')
            .ok_or_else(|| err(eq_off, "expected `= ACTION` after the call".into()))?;
        let action_text = raw_action.trim();
        let skip = raw_action.len() - raw_action.trim_start().len();
        let expected = action(action_text).map_err(|m| err(eq_off + 1 + skip, m))?;
        out.push(Expectation {
            line,
            text: body.to_string(),
            arch,
            syscall,
            args,
            expected,
        });
    }
    Ok(out)
}

/// A value: number or constants joined by `|`.
fn value(text: &str) -> Result<u64, String> {
    let mut acc = 0u64;
    for term in text.split('|') {
        let t = term.trim();
        let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            u64::from_str_radix(h, 16).map_err(|_| format!("bad hex number `{t}`"))?
        } else if let Some(n) = t.strip_prefix('-') {
            let n: u64 = n.parse().map_err(|_| format!("bad number `{t}`"))?;
            0u64.wrapping_sub(n)
        } else if t.starts_with(|c: char| c.is_ascii_digit()) {
            t.parse().map_err(|_| format!("bad number `{t}`"))?
        } else {
            moat_syscalls::constant(t).ok_or_else(|| format!("unknown constant `{t}`"))?
        };
        acc |= v;
    }
    Ok(acc)
}

/// An action in policy-language spelling.
pub fn action(text: &str) -> Result<Action, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let num = |w: Option<&&str>| -> Result<u16, String> {
        let w = w.ok_or("expected a number")?;
        w.parse().map_err(|_| format!("bad number `{w}`"))
    };
    let a = match words.first().copied() {
        Some("allow") => Action::Allow,
        Some("deny") => Action::DENY,
        Some("errno") => {
            let w = words
                .get(1)
                .ok_or("expected an errno name or number after `errno`")?;
            match moat_syscalls::errno(w) {
                Some(e) => Action::Errno(e),
                None => Action::Errno(w.parse().map_err(|_| format!("unknown errno `{w}`"))?),
            }
        }
        Some("kill" | "kill-process") => Action::KillProcess,
        Some("kill-thread") => Action::KillThread,
        Some("trap") => Action::Trap(if words.len() > 1 {
            num(words.get(1))?
        } else {
            0
        }),
        Some("log") => Action::Log,
        Some("trace") => Action::Trace(num(words.get(1))?),
        Some("notify") => Action::Notify,
        Some(w) => {
            return Err(format!(
                "unknown action `{w}` (allow, deny, errno E, kill, kill-thread, trap, log, trace N, notify)"
            ));
        }
        None => return Err("expected an action after `=`".into()),
    };
    let max = match a {
        Action::Errno(_) | Action::Trace(_) => 2,
        Action::Trap(_) if words.len() == 2 => 2,
        _ => 1,
    };
    if words.len() > max {
        return Err(format!("unexpected `{}` after the action", words[max]));
    }
    Ok(a)
}

/// The ABIs an expectation covers for a subject: the named one, or for `*` every ABI in `pool`
/// (default: the ABIs the subject accepts; every ABI moat knows for raw programs) that has the
/// syscall.
pub fn arches(e: &Expectation, subject: &Subject, pool: Option<&[Arch]>) -> Vec<Arch> {
    match e.arch {
        Some(a) => vec![a],
        None => {
            let pool: Vec<Arch> = match (pool, subject) {
                (Some(p), _) => p.to_vec(),
                (None, Subject::Policy { policy, .. }) => policy.arches().to_vec(),
                (None, Subject::Filters(_)) => Arch::ALL.to_vec(),
            };
            pool.into_iter()
                .filter(|a| a.by_name(&e.syscall).is_some())
                .collect()
        }
    }
}

/// Why an expectation could not be checked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The syscall does not exist on the named ABI.
    #[error("{line}: {syscall} does not exist on {arch}")]
    NoSuchSyscall {
        /// Line in the test file.
        line: u32,
        /// The syscall.
        syscall: String,
        /// The ABI.
        arch: Arch,
    },
    /// `*` matched no ABI.
    #[error("{line}: no accepted ABI has {syscall}")]
    NoAbi {
        /// Line in the test file.
        line: u32,
        /// The syscall.
        syscall: String,
    },
    /// The case split gave up.
    #[error("{line}: {source}")]
    TooComplex {
        /// Line in the test file.
        line: u32,
        /// The cause.
        source: crate::region::TooComplex,
    },
}

/// Checks one expectation; returns the failures (at most one per ABI), empty when it holds.
pub fn check(
    subject: &Subject,
    e: &Expectation,
    ctx: &Context,
) -> Result<Vec<Failure>, CheckError> {
    check_in(subject, e, ctx, None)
}

/// Like [`check`], with `*` meaning the ABIs in `pool` (for a compiled program: its policy's).
pub fn check_in(
    subject: &Subject,
    e: &Expectation,
    ctx: &Context,
    pool: Option<&[Arch]>,
) -> Result<Vec<Failure>, CheckError> {
    let arches = arches(e, subject, pool);
    if arches.is_empty() {
        return Err(CheckError::NoAbi {
            line: e.line,
            syscall: e.syscall.clone(),
        });
    }
    let mut failures = Vec::new();
    for arch in arches {
        let sc = arch
            .by_name(&e.syscall)
            .ok_or_else(|| CheckError::NoSuchSyscall {
                line: e.line,
                syscall: e.syscall.clone(),
                arch,
            })?;
        let fixed: Vec<(u8, u64)> = e
            .args
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.map(|v| (u8::try_from(i).unwrap_or(5), v)))
            .collect();
        let failure = match subject {
            Subject::Policy { policy, lowered } => {
                let mut atoms = Atoms::default();
                let list = match lowered.abis.iter().find(|x| x.arch == arch) {
                    None => List::constant(lowered.badarch),
                    Some(abi) => match abi.syscalls.get(&sc.nr) {
                        Some(rules) => atoms.list(rules, abi.default),
                        None => List::constant(abi.unknown),
                    },
                };
                let forced: Vec<(usize, bool)> = fixed
                    .iter()
                    .map(|&(arg, v)| {
                        let i = atoms.intern(Atom {
                            arg,
                            mask: u64::MAX,
                            op: moat_policy::CmpOp::Eq,
                            value: v,
                            width: moat_policy::Width::U64,
                        });
                        (i, true)
                    })
                    .collect();
                let regions =
                    split(&atoms, &[list], &forced).map_err(|source| CheckError::TooComplex {
                        line: e.line,
                        source,
                    })?;
                regions
                    .iter()
                    .find(|r| r.verdicts[0].0 != e.expected)
                    .map(|r| {
                        let v = policy.evaluate(ctx, arch.audit_arch(), sc.nr, r.args);
                        Failure {
                            arch,
                            nr: sc.nr,
                            args: r.args,
                            got: v.action,
                            decided_by: Some(describe_verdict(policy, &v)),
                        }
                    })
            }
            Subject::Filters(f) => {
                let mut consts = f.constants();
                consts.extend(fixed.iter().map(|&(_, v)| v));
                let values = sample_values(&consts);
                let mut found = None;
                let mut args = [0u64; 6];
                for &(i, v) in &fixed {
                    args[usize::from(i)] = v;
                }
                let free: Vec<usize> = (0..6)
                    .filter(|i| e.args.get(*i).copied().flatten().is_none())
                    .collect();
                let mut candidates = vec![args];
                if f.reads_args(arch.audit_arch(), sc.nr) {
                    for &i in &free {
                        for &v in &values {
                            let mut a = args;
                            a[i] = v;
                            candidates.push(a);
                        }
                    }
                }
                for a in candidates {
                    let got = f.action(arch.audit_arch(), sc.nr, &a);
                    if got != e.expected {
                        found = Some(Failure {
                            arch,
                            nr: sc.nr,
                            args: a,
                            got,
                            decided_by: None,
                        });
                        break;
                    }
                }
                found
            }
        };
        failures.extend(failure);
    }
    Ok(failures)
}

/// The deciding line in words: `container:9: deny bpf perf_event_open  # reason`, or
/// `default allow (container:2)`.
pub fn describe_verdict(policy: &Policy, v: &moat_policy::Verdict) -> String {
    use moat_policy::Decider;
    let setting = |what: &str, s: &moat_policy::Setting| match &s.location {
        Some(l) => format!("{what} {} ({l})", s.action),
        None => format!("{what} {} (built-in)", s.action),
    };
    match v.decided_by {
        Decider::Rule { index, .. } => match policy.rules().get(index) {
            Some(r) => {
                let reason = r
                    .reason
                    .as_ref()
                    .map(|x| format!("  # {x}"))
                    .unwrap_or_default();
                format!("{}: {r}{reason}", r.location)
            }
            None => format!("rule {index}"),
        },
        Decider::Default => setting("default", policy.default_action()),
        Decider::Unknown => setting("unknown", policy.unknown_action()),
        Decider::BadArch => setting("badarch", policy.badarch_action()),
    }
}
