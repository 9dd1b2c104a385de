//! Every built-in profile, compiled and installed in a forked child: a table of real calls gets
//! what the reference evaluator predicts.
//!
//! The calls are made through `moat_sys::raw`, with integer or NULL arguments only, so the kernel
//! touches none of this process's memory; the filter is installed in a child (`in_child`), never
//! in the test runner. Random policies on `getpid`/`getppid`/`gettid` (no signature: every
//! argument is 64-bit) check the two-word comparisons against real registers.

#![allow(clippy::cast_possible_truncation, clippy::unwrap_used)]

mod common;

use std::io::{Read as _, Write as _};

use moat_compile::{Options, compile};
use moat_policy::{Action, Context, Policy};
use moat_sys::testing::{ChildStatus, in_child, no_core_dumps, pipe};
use moat_syscalls::Arch;
use proptest::prelude::*;

/// What a call does when the filter lets it run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Natural {
    /// Returns a non-negative value.
    Ok,
    /// Fails with this errno.
    Err(i32),
}

/// What the test observed or expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Ok,
    Err(i32),
    Killed,
}

const SIGSYS: i32 = 31;

/// (syscall, arguments, what it does when allowed). Pointers are NULL or the call fails
/// before touching memory.
fn table() -> Vec<(&'static str, [u64; 6], Natural)> {
    let ebadf = Natural::Err(libc::EBADF);
    vec![
        ("getpid", [0; 6], Natural::Ok),
        ("gettid", [0; 6], Natural::Ok),
        ("close", [u64::MAX, 0, 0, 0, 0, 0], ebadf),
        // personality: 0xffffffff queries; junk in the high word is ignored by the kernel
        // (`unsigned int personality`), and by moat, which compares it on 32 bits.
        ("personality", [0xffff_ffff, 0, 0, 0, 0, 0], Natural::Ok),
        ("personality", [0x1_ffff_ffff, 0, 0, 0, 0, 0], Natural::Ok),
        // READ_IMPLIES_EXEC: container denies it; if it ran it would succeed.
        ("personality", [0x0040_0000, 0, 0, 0, 0, 0], Natural::Ok),
        (
            "socket",
            [40, 1, 0, 0, 0, 0],
            Natural::Err(libc::EAFNOSUPPORT),
        ),
        ("socket", [2, 1, 0, 0, 0, 0], Natural::Ok),
        (
            "socket",
            [0xdead_0000_0028, 1, 0, 0, 0, 0],
            Natural::Err(libc::EAFNOSUPPORT),
        ),
        ("ioctl", [u64::MAX, 0x5412, 0, 0, 0, 0], ebadf),
        (
            "ioctl",
            [u64::MAX, 0xdead_beef_0000_5412, 0, 0, 0, 0],
            ebadf,
        ),
        ("ioctl", [u64::MAX, 0x5401, 0, 0, 0, 0], ebadf),
        ("acct", [0; 6], Natural::Err(libc::EPERM)),
        ("clone3", [0; 6], Natural::Err(libc::EINVAL)),
        ("unshare", [0x1000_0000, 0, 0, 0, 0, 0], Natural::Ok),
        ("unshare", [0, 0, 0, 0, 0, 0], Natural::Ok),
        ("bpf", [u64::MAX, 0, 0, 0, 0, 0], Natural::Err(libc::EINVAL)),
        ("mount", [0; 6], Natural::Err(libc::EFAULT)),
        ("getrandom", [0, 0, 0, 0, 0, 0], Natural::Ok),
    ]
}

fn expected(action: Action, natural: Natural) -> Seen {
    match action {
        Action::Allow | Action::Log => match natural {
            Natural::Ok => Seen::Ok,
            Natural::Err(e) => Seen::Err(e),
        },
        Action::Errno(e) => Seen::Err(i32::from(e)),
        Action::KillProcess | Action::KillThread | Action::Trap(_) => Seen::Killed,
        // Without a tracer or a listener the kernel fails the call with ENOSYS.
        Action::Trace(_) | Action::Notify => Seen::Err(libc::ENOSYS),
    }
}

fn run(program: &moat_bpf::Program, nr: u32, a: [u64; 6]) -> Seen {
    let (mut r, mut w) = pipe().unwrap();
    let program = program.clone();
    let status = in_child(move || {
        if no_core_dumps().is_err() || moat_sys::install(&program, moat_sys::Flags::NONE).is_err() {
            return 90;
        }
        // moat_sys::raw makes only calls it can argue touch no memory of this process.
        let Ok(call) = moat_sys::raw::Call::native(i64::from(nr), a) else {
            return 92;
        };
        let word: i64 = match call.run() {
            Ok(_) => 0,
            Err(e) => -i64::from(e.0),
        };
        if w.write_all(&word.to_le_bytes()).is_err() {
            return 91;
        }
        0
    })
    .unwrap();
    match status {
        ChildStatus::Exited(0) => {
            let mut buf = [0u8; 8];
            r.read_exact(&mut buf).unwrap();
            match i64::from_le_bytes(buf) {
                0 => Seen::Ok,
                e => Seen::Err(i32::try_from(-e).unwrap()),
            }
        }
        ChildStatus::Signaled(SIGSYS) => Seen::Killed,
        other => panic!("child failed: {other:?}"),
    }
}

#[test]
fn builtin_profiles_do_in_the_kernel_what_the_evaluator_says() {
    let arch = Arch::native();
    let ctx = Context::default();
    let mut checked = 0;
    for b in moat_policy::builtins() {
        let policy = Policy::builtin(b.name).unwrap().unwrap();
        let c = compile(&policy, &Options::default()).unwrap();
        let mut cases = table();
        // A number no kernel has: the policy's `unknown` action.
        cases.push(("", [0; 6], Natural::Err(libc::ENOSYS)));
        for (name, args, natural) in cases {
            let nr = if name.is_empty() {
                1000
            } else {
                match arch.by_name(name) {
                    Some(s) => s.nr,
                    None => continue,
                }
            };
            let want = expected(
                policy.evaluate(&ctx, arch.audit_arch(), nr, args).action,
                natural,
            );
            let got = run(&c.program, nr, args);
            assert_eq!(got, want, "{}: {name}({args:#x?}) on {arch}", b.name);
            checked += 1;
        }
    }
    assert!(checked >= 30, "{checked}");
}

/// Conditions on `arg0`..`arg5` of syscalls without a signature: every argument is compared on
/// all 64 bits, so the kernel checks moat's two-word comparisons with real registers.
fn cond() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        prop::sample::select(
            &[
                0u64,
                1,
                0xffff_ffff,
                0x1_0000_0000,
                0x1_0000_0005,
                u64::MAX,
                0x8000_0000_0000_0000
            ][..]
        ),
        any::<u64>(),
    ];
    let atom = (
        0u8..6,
        prop::sample::select(&["==", "!=", "<", "<=", ">", ">="][..]),
        value.clone(),
        prop::option::of(value),
    )
        .prop_map(|(a, op, v, m)| match m {
            Some(m) => format!("arg{a} & {m:#x} {op} {v:#x}"),
            None => format!("arg{a} {op} {v:#x}"),
        });
    atom.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or {b}")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn kernel_policy() -> impl Strategy<Value = String> {
    let action = prop::sample::select(
        &[
            "allow",
            "deny",
            "errno 13",
            "errno 4095",
            "kill",
            "trap",
            "log",
            "trace 1",
        ][..],
    );
    let rule = (
        action.clone(),
        prop::sample::select(&["getpid", "getppid", "gettid"][..]),
        prop::option::weighted(0.8, cond()),
    )
        .prop_map(|(a, s, c)| match c {
            Some(c) => format!("{a} {s} if {c}"),
            None => format!("{a} {s}"),
        });
    (action, prop::collection::vec(rule, 1..6))
        // The child must keep running after the call (write its result, exit), so everything
        // but the three tested calls is allowed; their fallback is a random action.
        .prop_map(|(d, rules)| {
            format!(
                "arch native\ndefault allow\n{d} getpid getppid gettid\n{}\n",
                rules.join("\n")
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random argument conditions, compiled and installed: the kernel's verdict on real calls
    /// with boundary arguments is the evaluator's.
    #[test]
    fn random_policies_do_in_the_kernel_what_the_evaluator_says(text in kernel_policy()) {
        let policy = Policy::parse(&text, "random.moat").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let ctx = Context::default();
        let c = compile(&policy, &Options::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let arch = Arch::native();
        for name in ["getpid", "getppid", "gettid"] {
            let nr = arch.by_name(name).unwrap().nr;
            let rules = c.lowered.abis[0].syscalls.get(&nr).cloned().unwrap_or_default();
            let vectors = common::arg_vectors(&rules);
            // A spread of at most 12 vectors per syscall keeps the forks few.
            let step = (vectors.len() / 12).max(1);
            for args in vectors.into_iter().step_by(step).take(12) {
                let want = expected(policy.evaluate(&ctx, arch.audit_arch(), nr, args).action, Natural::Ok);
                let got = run(&c.program, nr, args);
                prop_assert_eq!(got, want, "{}({:#x?})\n{}", name, args, text);
            }
        }
    }
}
