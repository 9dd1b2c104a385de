//! minijail policies: what each corpus file means, call by call (first matching filter wins,
//! `in` and `&` as minijail's compiler defines them, `@include`, `@denylist`, `@default`), checked
//! on the reference evaluator and on moat's compiled program in the emulator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use moat_export::{InputFormat, Options, load, load_bytes};
use moat_policy::{Action, Context, Policy};
use moat_syscalls::Arch;

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/formats/minijail"
);

/// The evaluator's verdict, after checking the compiled program says the same.
fn x(p: &Policy, name: &str, args: [u64; 6]) -> Action {
    let nr = Arch::X86_64.by_name(name).unwrap().nr;
    let v = p
        .evaluate(&Context::default(), Arch::X86_64.audit_arch(), nr, args)
        .action;
    let prog = moat_compile::compile(
        p,
        &moat_compile::Options {
            ctx: Context::default(),
            weights: None,
        },
    )
    .unwrap()
    .program;
    assert_eq!(
        common::run(&prog, Arch::X86_64, nr, args),
        v.to_ret(),
        "{name}{args:?}: compiled program and evaluator differ"
    );
    v
}

fn file(name: &str) -> Policy {
    let l = load(&format!("{CORPUS}/{name}"), &Options::default()).unwrap();
    assert_eq!(l.format, InputFormat::Minijail);
    l.policy
}

#[test]
fn block_device_policy_means_what_minijail_compiles() {
    let p = file("block_device.policy");
    // From the @include.
    assert_eq!(x(&p, "read", [0; 6]), Action::Allow);
    assert_eq!(x(&p, "mmap", [0, 4096, 3, 0, 0, 0]), Action::Allow);
    assert_eq!(x(&p, "mmap", [0, 4096, 5, 0, 0, 0]), Action::KillProcess);
    // `||` of `==`.
    assert_eq!(x(&p, "fcntl", [3, 3, 0, 0, 0, 0]), Action::Allow);
    assert_eq!(x(&p, "fcntl", [3, 1030, 0, 0, 0, 0]), Action::Allow);
    assert_eq!(x(&p, "fcntl", [3, 6, 0, 0, 0, 0]), Action::KillProcess);
    // `&&` binds tighter than `||`.
    assert_eq!(x(&p, "ioctl", [3, 0x4004_ae1a, 0, 0, 0, 0]), Action::Allow);
    assert_eq!(
        x(&p, "ioctl", [4, 0x4004_ae1a, 0, 0, 0, 0]),
        Action::KillProcess
    );
    assert_eq!(x(&p, "ioctl", [9, 0x541b, 0, 0, 0, 0]), Action::Allow);
    // A filter list: first match wins, then the unconditional last one.
    assert_eq!(x(&p, "prctl", [15, 0, 0, 0, 0, 0]), Action::Allow);
    assert_eq!(x(&p, "prctl", [16, 0, 0, 0, 0, 0]), Action::DENY);
    assert_eq!(x(&p, "prctl", [22, 0, 0, 0, 0, 0]), Action::Trap(0));
    assert_eq!(x(&p, "openat", [0; 6]), Action::Errno(2));
    assert_eq!(x(&p, "socket", [1, 1, 0, 0, 0, 0]), Action::Allow);
    assert_eq!(x(&p, "socket", [2, 1, 0, 0, 0, 0]), Action::KillProcess);
    assert_eq!(x(&p, "getpid", [0; 6]), Action::Allow);
    assert_eq!(x(&p, "kill", [0; 6]), Action::KillThread);
    assert_eq!(x(&p, "mkdir", [0; 6]), Action::KillProcess);
}

#[test]
fn denylist_and_default_statements() {
    let p = file("denylist.policy");
    assert_eq!(x(&p, "read", [0; 6]), Action::Allow);
    assert_eq!(x(&p, "mount", [0; 6]), Action::DENY);
    assert_eq!(x(&p, "kexec_load", [0; 6]), Action::Errno(38));
    assert_eq!(x(&p, "unshare", [0x1000_0000, 0, 0, 0, 0, 0]), Action::DENY);
    assert_eq!(
        x(&p, "unshare", [0x0002_0000, 0, 0, 0, 0, 0]),
        Action::Allow
    );
    let p = file("notify.policy");
    assert_eq!(x(&p, "read", [0; 6]), Action::Allow);
    assert_eq!(x(&p, "openat", [0; 6]), Action::Log);
    assert_eq!(x(&p, "mkdir", [0; 6]), Action::Notify);
}

#[test]
fn in_means_no_bit_outside_the_mask_and_twins_keep_their_own_rules() {
    let l = load_bytes(
        b"read: arg2 in 0x3\nmmap: 1\n",
        "t.policy",
        &Options::default(),
    )
    .unwrap();
    assert_eq!(x(&l.policy, "read", [0, 0, 2, 0, 0, 0]), Action::Allow);
    assert_eq!(x(&l.policy, "read", [0, 0, 3, 0, 0, 0]), Action::Allow);
    assert_eq!(
        x(&l.policy, "read", [0, 0, 4, 0, 0, 0]),
        Action::KillProcess
    );
    // minijail names mmap2 separately: `mmap: 1` does not allow it on x86.
    let nr = Arch::X86.by_name("mmap2").unwrap().nr;
    let l = load_bytes(b"mmap: 1\n", "t.policy", &Options::default()).unwrap();
    let l = Policy::parse(&l.text.replace("arch native", "arch x86"), "t").unwrap();
    let mmap = Arch::X86.by_name("mmap").unwrap().nr;
    let v = l.evaluate(&Context::default(), Arch::X86.audit_arch(), mmap, [0; 6]);
    assert_eq!(v.action, Action::Allow);
    let v = l.evaluate(&Context::default(), Arch::X86.audit_arch(), nr, [0; 6]);
    assert_eq!(v.action, Action::KillProcess);
}

#[test]
fn a_second_unconditional_action_is_an_error() {
    let e = load_bytes(
        b"read: 1\nread: return 1\n",
        "t.policy",
        &Options::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("t.policy:2:5: read already had an unconditional action"),
        "{e}"
    );
}
