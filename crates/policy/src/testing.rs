//! Random valid policy texts for property tests (enabled by the `testing` feature).
//!
//! [`policy`] draws from [`Vocabulary::BASE`]; a test suite that needs more syscalls, values or
//! `arch` lines builds its own [`Vocabulary`] and calls [`Vocabulary::policy`]. Every text the
//! strategies produce parses; they exercise conditions, guards, reasons and all actions.

use proptest::prelude::*;

/// A rule target: a syscall or `@group` name, the highest argument index every syscall it
/// covers has on every ABI (5 for a syscall without parameters, whose registers are compared on
/// 64 bits; `None`: conditions are not drawn for it, because a covered syscall has a 16-bit
/// parameter there), and the parameter names usable when it is a
/// rule's only target. Every parameter at or below the index is at least 32 bits wide, so every
/// drawn 32-bit value fits.
pub type Target = (&'static str, Option<u8>, &'static [&'static str]);

/// What random policies are made of.
#[derive(Debug, Clone, Copy)]
pub struct Vocabulary {
    /// Rule targets.
    pub targets: &'static [Target],
    /// Values compared against and masks (besides random numbers).
    pub values: &'static [&'static str],
    /// Complete `arch` lines, one of which a policy may start with.
    pub arches: &'static [&'static str],
}

/// The rule targets of [`Vocabulary::BASE`].
pub const TARGETS: &[Target] = &[
    ("socket", Some(2), &["domain", "type", "protocol"]),
    ("ioctl", Some(2), &["fd", "request"]),
    ("personality", Some(0), &["persona"]),
    ("clone", Some(4), &["flags"]),
    // `mode` (arg3) is a 16-bit umode_t.
    ("openat", Some(2), &["dirfd", "flags"]),
    ("kill", Some(1), &["pid", "sig"]),
    // i386's setuid is setuid16(old_uid_t): 16 bits.
    ("setuid", None, &[]),
    ("mmap", Some(0), &[]),
    ("getpid", Some(5), &[]),
    ("read", Some(2), &["fd"]),
    ("fcntl", Some(2), &["fd", "cmd"]),
    ("socketcall", Some(1), &["call"]),
    // s390x's ipc has five parameters.
    ("ipc", Some(4), &["call"]),
    ("shmat", Some(2), &[]),
    ("bind", Some(2), &["fd"]),
    ("futex", Some(5), &[]),
    ("clock_gettime", Some(1), &[]),
    ("unshare", Some(0), &["flags"]),
    ("clone3", Some(1), &[]),
    ("openat2", Some(3), &[]),
    ("@io-uring", Some(0), &[]),
    ("@keyring", Some(0), &[]),
    ("@network-io", Some(0), &[]),
    ("@setuid", None, &[]),
];

/// Every action form.
pub const ACTIONS: &[&str] = &[
    "allow",
    "deny",
    "errno ENOSYS",
    "errno 13",
    "kill",
    "kill-thread",
    "trap",
    "trap 7",
    "log",
    "trace 3",
    "notify",
];

/// The values of [`Vocabulary::BASE`].
pub const VALUES: &[&str] = &[
    "0",
    "1",
    "2",
    "8",
    "40",
    "0x5412",
    "0x20000",
    "0xffffffff",
    "-1",
    "AF_VSOCK",
    "AF_INET",
    "TIOCSTI",
    "CLONE_NEWUSER",
    "CLONE_NEW_ANY",
    "O_RDONLY",
    "0x7fffffff",
    "0x80000000",
    "CLONE_NEWNS | CLONE_NEWNET",
];

/// The `arch` lines of [`Vocabulary::BASE`].
pub const ARCHES: &[&str] = &[
    "arch x86_64",
    "arch x86_64 x86",
    "arch native compat",
    "arch x86_64 x32 x86",
    "arch aarch64 arm",
    "arch x86",
];

fn action() -> impl Strategy<Value = String> {
    prop::sample::select(ACTIONS).prop_map(str::to_string)
}

fn value(values: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(values).prop_map(str::to_string),
        1 => any::<u32>().prop_map(|v| format!("{v:#x}")),
        1 => (0u32..0x8000_0000).prop_map(|v| format!("-{v}")),
    ]
}

fn cmp_op() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["==", "!=", "<", "<=", ">", ">="][..])
}

fn test(args: Vec<String>, values: &'static [&'static str]) -> impl Strategy<Value = String> {
    let arg = prop::sample::select(args);
    prop_oneof![
        (arg.clone(), cmp_op(), value(values)).prop_map(|(a, o, v)| format!("{a} {o} {v}")),
        (arg.clone(), value(values)).prop_map(|(a, m)| format!("{a} & {m}")),
        (arg.clone(), value(values), cmp_op(), value(values))
            .prop_map(|(a, m, o, v)| format!("{a} & {m} {o} {v}")),
        (arg.clone(), prop::collection::vec(value(values), 1..4))
            .prop_map(|(a, vs)| format!("{a} in {{{}}}", vs.join(", "))),
        (arg, prop::collection::vec(value(values), 1..4))
            .prop_map(|(a, vs)| format!("{a} not in {{{}}}", vs.join(", "))),
    ]
}

fn cond(args: Vec<String>, values: &'static [&'static str]) -> impl Strategy<Value = String> {
    test(args, values).prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or ({b})")),
            inner.clone().prop_map(|a| format!("not ({a})")),
            inner.prop_map(|a| format!("not {a}")),
        ]
    })
}

fn guard() -> impl Strategy<Value = String> {
    let atom = prop::sample::select(
        &[
            "cap CAP_SYS_ADMIN",
            "cap SYS_PTRACE CAP_BPF",
            "arch x86",
            "arch x86_64",
            "arch native",
            "kernel >= 5.4",
            "kernel < 4.8",
        ][..],
    )
    .prop_map(str::to_string);
    atom.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or ({b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn rule(vocabulary: Vocabulary) -> impl Strategy<Value = String> {
    let targets = prop::collection::vec(prop::sample::select(vocabulary.targets), 1..4);
    (action(), targets).prop_flat_map(move |(action, targets)| {
        let names: Vec<&str> = targets.iter().map(|t| t.0).collect();
        let max = targets.iter().map(|t| t.1).min().flatten();
        let mut args: Vec<String> = max
            .map(|m| (0..=m).map(|i| format!("arg{i}")).collect())
            .unwrap_or_default();
        if targets.len() == 1 {
            args.extend(targets[0].2.iter().map(|s| s.to_string()));
        }
        let head = format!("{action} {}", names.join(" "));
        // A target without usable parameters gets no condition (one is drawn and dropped).
        let conditional = !args.is_empty();
        let args = if conditional {
            args
        } else {
            vec!["arg0".to_string()]
        };
        (
            Just(head),
            prop::option::weighted(0.6, (any::<bool>(), cond(args, vocabulary.values)))
                .prop_map(move |c| c.filter(|_| conditional)),
            prop::option::weighted(0.2, guard()),
            prop::option::weighted(0.3, "[a-z][a-z ()-]{0,20}[a-z]"),
        )
            .prop_map(|(head, c, g, reason)| {
                let mut s = head;
                if let Some((unless, c)) = c {
                    s.push_str(if unless { " unless " } else { " if " });
                    s.push_str(&c);
                }
                if let Some(g) = g {
                    s.push_str(" when ");
                    s.push_str(&g);
                }
                if let Some(r) = reason {
                    s.push_str("  # ");
                    s.push_str(&r);
                }
                s
            })
    })
}

/// A random valid policy text over [`Vocabulary::BASE`].
pub fn policy() -> impl Strategy<Value = String> {
    Vocabulary::BASE.policy()
}

impl Vocabulary {
    /// The vocabulary moat-policy's own property tests use.
    pub const BASE: Self = Self {
        targets: TARGETS,
        values: VALUES,
        arches: ARCHES,
    };

    /// A random valid policy text over this vocabulary.
    pub fn policy(self) -> impl Strategy<Value = String> {
        (
            prop::option::of(action()),
            prop::option::of(action()),
            prop::option::of(action()),
            prop::option::of(prop::sample::select(self.arches)),
            prop::option::weighted(
                0.2,
                prop::sample::select(&["kernel 4.0", "kernel 5.4", "kernel 3.19"][..]),
            ),
            prop::collection::vec(rule(self), 0..8),
            any::<bool>(),
        )
            .prop_map(|(d, u, b, arch, kernel, rules, use_container)| {
                let mut lines = Vec::new();
                if use_container {
                    lines.push("use container".to_string());
                }
                if let Some(a) = arch {
                    lines.push(a.to_string());
                }
                if let Some(d) = d {
                    lines.push(format!("default {d}"));
                }
                if let Some(u) = u {
                    lines.push(format!("unknown {u}"));
                }
                if let Some(b) = b {
                    lines.push(format!("badarch {b}"));
                }
                if let Some(k) = kernel {
                    lines.push(k.to_string());
                }
                lines.extend(rules);
                if lines.is_empty() {
                    lines.push("default allow".into());
                }
                lines.join("\n") + "\n"
            })
    }
}

#[cfg(test)]
mod tests {
    use super::TARGETS;
    use moat_syscalls::{Arch, expand_group, signature, twins};

    /// The vocabulary promises texts that parse: every covered syscall has the parameters a
    /// target's index allows, each at least 32 bits wide, on every ABI that has it.
    #[test]
    fn targets_match_the_signatures() {
        for (target, max, names) in TARGETS {
            let mut members = if target.starts_with('@') {
                expand_group(target).unwrap_or_default()
            } else {
                vec![*target]
            };
            // A rule covers the twins of what it names.
            let twins: Vec<&str> = members
                .iter()
                .flat_map(|m| twins(m).iter().copied())
                .collect();
            members.extend(twins);
            for name in &members {
                for arch in Arch::ALL {
                    if arch.by_name(name).is_none() {
                        continue;
                    }
                    let Some(sig) = signature(arch, name) else {
                        // No parameters: every argN is a 64-bit comparison.
                        assert!(names.is_empty(), "{target}: {arch} {name}");
                        continue;
                    };
                    if let Some(max) = max {
                        assert!(sig.len() > usize::from(*max), "{target}: {arch} {name}");
                        for p in sig.iter().filter(|p| p.index <= *max) {
                            assert!(p.bits >= 32, "{target}: {arch} {name} {}", p.name);
                        }
                    }
                    for n in *names {
                        let p = sig.iter().find(|p| p.is_called(n));
                        assert!(
                            p.is_some_and(|p| p.bits >= 32),
                            "{target}: {arch} {name} {n}"
                        );
                    }
                }
            }
        }
    }
}
