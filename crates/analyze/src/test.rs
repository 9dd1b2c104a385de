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
#[non_exhaustive]
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

/// One expectation's result against every subject it was checked on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The test file that holds the expectation.
    pub file: String,
    /// The expectation.
    pub expectation: Expectation,
    /// The failures, each with the origin of the subject it failed on; empty when it holds.
    pub failures: Vec<(String, Failure)>,
}

/// Every expectation of a run of test files ([`run`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The origin of the subject under test (a file name, a built-in profile, `pid:N`).
    pub subject: String,
    /// The outcomes, in file and line order.
    pub outcomes: Vec<Outcome>,
}

/// A check that could not be carried out, with the test file it came from.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{source}")]
pub struct RunError {
    /// The test file.
    pub file: String,
    /// What went wrong.
    #[source]
    pub source: CheckError,
}

/// Checks every expectation of `files` against every subject of `subjects` (for a policy: the
/// policy and its compiled program), `*` meaning the ABIs in `pool` where given.
///
/// # Errors
///
/// When an expectation cannot be checked at all (a syscall no ABI has, a split too complex).
pub fn run(
    subjects: &[&Subject],
    files: &[(String, Vec<Expectation>)],
    ctx: &Context,
    pool: Option<&[Arch]>,
) -> Result<Report, RunError> {
    let mut outcomes = Vec::new();
    for (file, expectations) in files {
        for e in expectations {
            let mut failures = Vec::new();
            for s in subjects {
                let f = check_in(s, e, ctx, pool).map_err(|source| RunError {
                    file: file.clone(),
                    source,
                })?;
                failures.extend(f.into_iter().map(|f| (s.origin().to_string(), f)));
            }
            outcomes.push(Outcome {
                file: file.clone(),
                expectation: e.clone(),
                failures,
            });
        }
    }
    Ok(Report {
        subject: subjects
            .first()
            .map_or_else(String::new, |s| s.origin().to_string()),
        outcomes,
    })
}

impl Report {
    /// How many expectations failed.
    #[must_use]
    pub fn failed(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| !o.failures.is_empty())
            .count()
    }

    /// The report as JSON: `{"subject", "total", "passed", "failed", "results": [{"file",
    /// "line", "expectation", "passed", "failures": [{"subject", "arch", "syscall", "nr",
    /// "args", "got", "decided_by", "message"}]}]}`.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        let results: Vec<serde_json::Value> = self
            .outcomes
            .iter()
            .map(|o| {
                let failures: Vec<serde_json::Value> = o
                    .failures
                    .iter()
                    .map(|(who, f)| {
                        serde_json::json!({
                            "subject": who,
                            "arch": f.arch.to_string(),
                            "syscall": f.arch.by_nr(f.nr).map(|s| s.name),
                            "nr": f.nr,
                            "args": f.args,
                            "got": f.got.to_string(),
                            "decided_by": f.decided_by,
                            "message": f.to_string(),
                        })
                    })
                    .collect();
                serde_json::json!({
                    "file": o.file,
                    "line": o.expectation.line,
                    "expectation": o.expectation.text,
                    "passed": o.failures.is_empty(),
                    "failures": failures,
                })
            })
            .collect();
        serde_json::json!({
            "subject": self.subject,
            "total": self.outcomes.len(),
            "passed": self.outcomes.len() - self.failed(),
            "failed": self.failed(),
            "results": results,
        })
    }

    /// The report as JUnit XML, the format CI systems (GitLab, Jenkins, GitHub's test
    /// reporters) read: one `<testsuite>` per test file, one `<testcase>` per expectation
    /// (`classname` the subject, `name` the line and the expectation), a `<failure>` holding
    /// each failing call.
    #[must_use]
    pub fn junit(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(&format!(
            "<testsuites name=\"moat test\" tests=\"{}\" failures=\"{}\">\n",
            self.outcomes.len(),
            self.failed()
        ));
        let mut files: Vec<&str> = Vec::new();
        for o in &self.outcomes {
            if !files.contains(&o.file.as_str()) {
                files.push(&o.file);
            }
        }
        for file in files {
            let cases: Vec<&Outcome> = self.outcomes.iter().filter(|o| o.file == file).collect();
            let failed = cases.iter().filter(|o| !o.failures.is_empty()).count();
            out.push_str(&format!(
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\">\n",
                xml_escape(file),
                cases.len()
            ));
            for o in cases {
                let name = format!("{}:{}: {}", o.file, o.expectation.line, o.expectation.text);
                out.push_str(&format!(
                    "    <testcase classname=\"{}\" name=\"{}\"",
                    xml_escape(&self.subject),
                    xml_escape(&name)
                ));
                let Some((_, first)) = o.failures.first() else {
                    out.push_str("/>\n");
                    continue;
                };
                let body: Vec<String> = o
                    .failures
                    .iter()
                    .map(|(who, f)| format!("{who}: {f}"))
                    .collect();
                out.push_str(&format!(
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                    xml_escape(&first.to_string()),
                    xml_escape(&body.join("\n"))
                ));
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

/// Escapes text for an XML attribute or element; characters XML 1.0 cannot carry at all (most
/// C0 controls) become `?`.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' => out.push(c),
            c if u32::from(c) < 0x20 => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::xml_escape;

    #[test]
    fn xml_escape_leaves_no_markup_and_no_control_characters() {
        assert_eq!(
            xml_escape("a<b>&\"c\" 'd'\u{1}\n"),
            "a&lt;b&gt;&amp;&quot;c&quot; &apos;d&apos;?\n"
        );
    }
}
