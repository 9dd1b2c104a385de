//! Properties of recorded policies, checked with the reference evaluator:
//! - soundness: the policy written for a recording allows every call that was recorded
//!   (`clone3` excepted, which becomes `errno ENOSYS` by design);
//! - the text always parses, and reading it back (`--merge`) gives the same allowances;
//! - merging two recorded policies allows every call of both recordings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use moat_policy::{Action, Context, Policy};
use moat_record::{Options, Profile, Recording};
use moat_syscalls::Arch;
use proptest::prelude::*;

/// A call: ABI, index into that ABI's table, and arguments drawn to hit the watched values
/// (small numbers, flag bits) as well as arbitrary ones.
fn call() -> impl Strategy<Value = (Arch, usize, [u64; 6])> {
    let arg = prop_oneof![
        0u64..64,
        Just(0x1000_0000u64),
        Just(0x7e02_0080u64),
        any::<u64>(),
        (0u64..8).prop_map(|b| 1u64 << (b * 4)),
    ];
    (
        prop_oneof![3 => Just(Arch::X86_64), 1 => Just(Arch::X86)],
        any::<prop::sample::Index>(),
        prop::array::uniform6(arg),
    )
        .prop_map(|(arch, i, args)| (arch, i.index(arch.syscalls().len()), args))
}

/// Calls biased towards the syscalls whose arguments are recorded.
fn watched_call() -> impl Strategy<Value = (Arch, usize, [u64; 6])> {
    let names = [
        "socket",
        "socketpair",
        "clone",
        "unshare",
        "ioctl",
        "prctl",
        "fcntl",
        "mmap",
        "mprotect",
        "openat",
        "open",
        "personality",
        "pkey_mprotect",
        "fcntl64",
        "mmap2",
    ];
    (call(), prop::sample::select(names.to_vec())).prop_map(|((arch, i, args), name)| {
        match arch.syscalls().iter().position(|s| s.name == name) {
            Some(j) => (arch, j, args),
            None => (arch, i, args),
        }
    })
}

fn recording(calls: &[(Arch, usize, [u64; 6])]) -> Recording {
    let mut r = Recording::new();
    for (arch, i, args) in calls {
        let s = &arch.syscalls()[*i];
        r.record(arch.audit_arch(), s.nr, args);
    }
    r
}

fn check_allows(policy: &Policy, calls: &[(Arch, usize, [u64; 6])], text: &str) {
    let ctx = Context::default();
    for (arch, i, args) in calls {
        let s = &arch.syscalls()[*i];
        let v = policy.evaluate(&ctx, arch.audit_arch(), s.nr, *args);
        let want = if s.name == "clone3" {
            Action::Errno(38)
        } else {
            Action::Allow
        };
        assert_eq!(
            v.action, want,
            "{arch} {}({args:x?}) decided by {:?} in\n{text}",
            s.name, v.decided_by
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn recorded_policy_allows_every_recorded_call(
        calls in prop::collection::vec(prop_oneof![call(), watched_call()], 1..60)
    ) {
        let rec = recording(&calls);
        let profile = Profile::from_recording(&rec, &Options::default());
        let text = profile.to_text();
        let policy = Policy::parse(&text, "recorded.moat")
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        check_allows(&policy, &calls, &text);
        // Read back (what --merge does) and printed again: the same policy text.
        let back = Profile::from_policy(&policy).unwrap();
        prop_assert_eq!(&back.to_text(), &text);
    }

    #[test]
    fn merged_policy_allows_the_calls_of_both(
        a in prop::collection::vec(watched_call(), 1..30),
        b in prop::collection::vec(watched_call(), 1..30),
    ) {
        let parse = |calls: &[(Arch, usize, [u64; 6])]| {
            let text = Profile::from_recording(&recording(calls), &Options::default()).to_text();
            Policy::parse(&text, "r.moat").unwrap_or_else(|e| panic!("{e}\n{text}"))
        };
        let mut merged = Profile::from_policy(&parse(&a)).unwrap();
        merged.merge(&Profile::from_policy(&parse(&b)).unwrap(), "b").unwrap();
        let text = merged.to_text();
        let policy = Policy::parse(&text, "merged.moat").unwrap_or_else(|e| panic!("{e}\n{text}"));
        check_allows(&policy, &a, &text);
        check_allows(&policy, &b, &text);
    }

    #[test]
    fn with_a_base_the_result_allows_every_call(
        calls in prop::collection::vec(prop_oneof![call(), watched_call()], 1..60)
    ) {
        // What `moat record --base container` does: record only what the base refuses.
        let base = Policy::builtin("container").unwrap().unwrap();
        let ctx = Context::default();
        let mut beyond = Recording::new();
        let mut kept = Vec::new();
        for c @ (arch, i, args) in &calls {
            let s = &arch.syscalls()[*i];
            let action = base.evaluate(&ctx, arch.audit_arch(), s.nr, *args).action;
            if s.name == "clone3" && action == Action::Errno(38) {
                continue;
            }
            if !action.runs_call() {
                beyond.record(arch.audit_arch(), s.nr, args);
            }
            kept.push(*c);
        }
        let opts = Options {
            base: Some("container".into()),
            base_arches: Some(base.arches().to_vec()),
            ..Options::default()
        };
        let text = Profile::from_recording(&beyond, &opts).to_text();
        let policy = Policy::parse(&text, "extra.moat").unwrap_or_else(|e| panic!("{e}\n{text}"));
        for (arch, i, args) in &kept {
            let s = &arch.syscalls()[*i];
            let v = policy.evaluate(&ctx, arch.audit_arch(), s.nr, *args);
            prop_assert!(
                v.action.runs_call() || s.name == "clone3",
                "{arch} {}({args:x?}) -> {:?} in\n{text}", s.name, v
            );
        }
    }
}

/// Lines a policy fed to `--merge` may hold, hand-edited ones included.
const LINES: &[&str] = &[
    "default kill",
    "default deny",
    "arch x86_64 x86",
    "use container",
    "unknown errno ENOSYS",
    "allow read write # seen 3 times",
    "allow socket if domain == AF_INET # seen once",
    "allow socket if domain in {AF_UNIX, AF_INET6}",
    "allow clone if flags & CLONE_NEWUSER",
    "allow clone if flags & CLONE_NEW_ANY == 0 # seen 2 times",
    "allow @timer # seen 4 times, all 8 of its syscalls",
    "errno ENOSYS clone3 # seen once",
    "allow mmap if prot & PROT_EXEC == 0",
    "allow mprotect if prot & PROT_WRITE | PROT_EXEC != PROT_WRITE | PROT_EXEC",
    "allow ioctl if request in {TCGETS, 0x5413} # seen 3 times",
    "allow openat unless flags & O_ACCMODE == O_RDWR",
    "allow prctl if option == PR_SET_NAME or option == PR_GET_NAME",
    "allow fcntl if cmd > 3",
    "allow personality if persona == 0xffffffff",
    "deny write",
    "kernel 5.10",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever `--merge` accepts it prints as a valid policy that allows at least what the
    /// input allowed; what it refuses it refuses with an error, never a panic.
    #[test]
    fn merge_reads_any_policy_soundly(
        picks in prop::collection::vec(prop::sample::select(LINES.to_vec()), 1..8),
        calls in prop::collection::vec(prop_oneof![call(), watched_call()], 1..40),
    ) {
        let text = picks.join("\n") + "\n";
        let Ok(policy) = Policy::parse(&text, "hand.moat") else {
            return Ok(());
        };
        let Ok(profile) = Profile::from_policy(&policy) else {
            return Ok(());
        };
        let out = profile.to_text();
        let again = Policy::parse(&out, "merged.moat")
            .unwrap_or_else(|e| panic!("{e}\ninput:\n{text}\noutput:\n{out}"));
        let ctx = Context::default();
        for (arch, i, args) in &calls {
            let s = &arch.syscalls()[*i];
            let before = policy.evaluate(&ctx, arch.audit_arch(), s.nr, *args).action;
            let after = again.evaluate(&ctx, arch.audit_arch(), s.nr, *args).action;
            prop_assert!(
                !before.runs_call() || after.runs_call() || (s.name == "clone3" && after == Action::Errno(38)),
                "{arch} {}({args:x?}): {before} before, {after} after\ninput:\n{text}\noutput:\n{out}",
                s.name
            );
        }
    }
}
