//! The built-in `docker` profile (`crates/policy/profiles/docker.moat`) is Docker's default
//! profile: equal to a fresh import of the fixture, and giving the verdicts libseccomp's
//! compilation of the fixture gives (moat-oracle, run in moat-bpf's emulator) for Docker's default
//! capabilities on x86_64 with x86 and x32 and on aarch64 with arm, for every syscall number
//! 0–1023 and the boundary values of every argument condition.
//!
//! Known differences from libseccomp 2.5.4, each checked below:
//! 1. Syscalls libseccomp 2.5.4 does not know on an ABI (it knows x86_64 numbers up to 456) are
//!    left out of its filter, so they get the default action, EPERM. Docker's profile lists them
//!    as allowed and moat allows them, as Docker intends: `uretprobe` (x86_64, x32),
//!    `map_shadow_stack` (x32), `statmount`, `listmount`, `mseal`, `setxattrat`, `getxattrat`,
//!    `listxattrat`, `removexattrat` (every ABI). [`LIBSECCOMP_UNKNOWN`] is the exact list.
//! 2. Argument widths: libseccomp compares all 64 bits of an argument on 64-bit ABIs; moat
//!    compares an `int` parameter on the 32 bits the kernel reads. With junk in the upper half
//!    (`socket(0x1_0000_0028, ...)`, which the kernel runs as `socket(AF_VSOCK, ...)`) libseccomp
//!    allows a call Docker means to refuse and moat refuses it; `personality(0x1_0000_0000)`,
//!    which the kernel runs as `personality(0)`, libseccomp refuses and moat allows. The
//!    comparison with libseccomp therefore uses argument values within 32 bits, and
//!    `upper_argument_bits_follow_the_kernel` checks both cases.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::*;
use moat_export::{Options, load};
use moat_policy::{Action, CapSet, Context, Policy};
use moat_syscalls::{Arch, KernelVersion};

const ABIS: [Arch; 5] = [Arch::X86_64, Arch::X86, Arch::X32, Arch::Aarch64, Arch::Arm];

/// (ABI, syscall) pairs Docker allows that libseccomp 2.5.4 cannot resolve on that ABI.
const LIBSECCOMP_UNKNOWN: &[(Arch, &str)] = &[
    (Arch::X86_64, "getxattrat"),
    (Arch::X86_64, "listmount"),
    (Arch::X86_64, "listxattrat"),
    (Arch::X86_64, "mseal"),
    (Arch::X86_64, "removexattrat"),
    (Arch::X86_64, "setxattrat"),
    (Arch::X86_64, "statmount"),
    (Arch::X86_64, "uretprobe"),
    (Arch::X86, "getxattrat"),
    (Arch::X86, "listmount"),
    (Arch::X86, "listxattrat"),
    (Arch::X86, "mseal"),
    (Arch::X86, "removexattrat"),
    (Arch::X86, "setxattrat"),
    (Arch::X86, "statmount"),
    (Arch::X32, "getxattrat"),
    (Arch::X32, "listmount"),
    (Arch::X32, "listxattrat"),
    (Arch::X32, "map_shadow_stack"),
    (Arch::X32, "mseal"),
    (Arch::X32, "removexattrat"),
    (Arch::X32, "setxattrat"),
    (Arch::X32, "statmount"),
    (Arch::X32, "uretprobe"),
    (Arch::Aarch64, "getxattrat"),
    (Arch::Aarch64, "listmount"),
    (Arch::Aarch64, "listxattrat"),
    (Arch::Aarch64, "mseal"),
    (Arch::Aarch64, "removexattrat"),
    (Arch::Aarch64, "setxattrat"),
    (Arch::Aarch64, "statmount"),
    (Arch::Arm, "getxattrat"),
    (Arch::Arm, "listmount"),
    (Arch::Arm, "listxattrat"),
    (Arch::Arm, "mseal"),
    (Arch::Arm, "removexattrat"),
    (Arch::Arm, "setxattrat"),
    (Arch::Arm, "statmount"),
];

fn builtin() -> Policy {
    Policy::builtin("docker")
        .expect("a docker profile")
        .unwrap()
}

fn imported() -> Policy {
    let opts = Options {
        arches: Some(ABIS.to_vec()),
        ..Options::default()
    };
    load(&DOCKER_DEFAULT, &opts).unwrap().policy
}

fn docker_ctx() -> Context {
    Context {
        caps: Some(CapSet::docker_default()),
        kernel: None,
    }
}

#[test]
fn docker_profile_accepts_the_five_abis() {
    assert_eq!(builtin().arches(), &ABIS);
}

#[test]
fn docker_profile_equals_a_fresh_import_of_the_fixture() {
    let (a, b) = (builtin(), imported());
    let mut all = CapSet::EMPTY;
    for c in 0..=40 {
        all.insert(c);
    }
    let admin: CapSet = [21u8].into_iter().collect();
    let mut ptrace = CapSet::docker_default();
    ptrace.insert(19);
    let mut checked = 0usize;
    for caps in [
        Some(CapSet::docker_default()),
        None,
        Some(all),
        Some(admin),
        Some(ptrace),
    ] {
        for kernel in [
            None,
            Some(KernelVersion::new(4, 4)),
            Some(KernelVersion::new(5, 10)),
        ] {
            let ctx = Context { caps, kernel };
            let (la, lb) = (a.lower(&ctx).unwrap(), b.lower(&ctx).unwrap());
            for arch in ABIS {
                for n in 0..1024u32 {
                    let nr = n + arch.nr_bias();
                    let mut args = boundary_args(&la, arch, nr, false);
                    args.extend(boundary_args(&lb, arch, nr, false));
                    for args in args {
                        let va = a.evaluate(&ctx, arch.audit_arch(), nr, args).action;
                        let vb = b.evaluate(&ctx, arch.audit_arch(), nr, args).action;
                        assert_eq!(
                            va,
                            vb,
                            "{arch} nr {nr} ({:?}) args {args:x?} caps {caps:?} kernel {kernel:?}",
                            arch.by_nr(nr).map(|s| s.name)
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 75_000, "{checked}");
}

#[test]
fn docker_profile_gives_libseccomps_verdicts_for_the_fixture() {
    let p = builtin();
    let ctx = docker_ctx();
    let lowered = p.lower(&ctx).unwrap();
    let mut differences = BTreeSet::new();
    let mut checked = 0usize;
    for (host, abis) in FAMILIES {
        let prog = docker_program(*host);
        for &arch in *abis {
            for n in 0..1024u32 {
                let nr = n + arch.nr_bias();
                for args in boundary_args(&lowered, arch, nr, true) {
                    let want = run(&prog, arch, nr, args);
                    let got = p.evaluate(&ctx, arch.audit_arch(), nr, args).action;
                    checked += 1;
                    if want == got.to_ret() {
                        continue;
                    }
                    let name = arch.by_nr(nr).map_or("?", |s| s.name);
                    // Difference 1: Docker allows it, libseccomp cannot resolve it.
                    assert_eq!(
                        got,
                        Action::Allow,
                        "{arch} {name} {args:x?}: libseccomp {want:#x}"
                    );
                    assert_eq!(want, Action::Errno(1).to_ret(), "{arch} {name}");
                    assert_eq!(
                        moat_oracle::resolve(oracle_arch(arch), name),
                        None,
                        "{arch} {name}"
                    );
                    differences.insert((arch, name));
                }
            }
        }
    }
    let expected: BTreeSet<(Arch, &str)> = LIBSECCOMP_UNKNOWN.iter().copied().collect();
    assert_eq!(differences, expected);
    assert!(checked > 5 * 1024, "{checked}");
}

#[test]
fn upper_argument_bits_follow_the_kernel() {
    let p = builtin();
    let ctx = docker_ctx();
    let prog = docker_program(Arch::X86_64);
    let socket = Arch::X86_64.by_name("socket").unwrap().nr;
    let personality = Arch::X86_64.by_name("personality").unwrap().nr;
    let audit = Arch::X86_64.audit_arch();
    // The kernel runs socket(0x1_0000_0028) as socket(AF_VSOCK): libseccomp lets it through.
    let vsock_junk = [0x1_0000_0028, 1, 0, 0, 0, 0];
    assert_eq!(
        run(&prog, Arch::X86_64, socket, vsock_junk),
        Action::Allow.to_ret()
    );
    assert_eq!(
        p.evaluate(&ctx, audit, socket, vsock_junk).action,
        Action::DENY
    );
    assert_eq!(
        p.evaluate(&ctx, audit, socket, [40, 1, 0, 0, 0, 0]).action,
        Action::DENY
    );
    // personality(0x1_0000_0000) is personality(PER_LINUX) to the kernel.
    let per_junk = [0x1_0000_0000, 0, 0, 0, 0, 0];
    assert_eq!(
        run(&prog, Arch::X86_64, personality, per_junk),
        Action::DENY.to_ret()
    );
    assert_eq!(
        p.evaluate(&ctx, audit, personality, per_junk).action,
        Action::Allow
    );
}

#[test]
fn docker_profile_reads_as_a_policy() {
    let src = Policy::builtin("docker")
        .unwrap()
        .unwrap()
        .source()
        .to_string();
    let statements = src
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .count();
    assert!(statements <= 60, "{statements} statements");
    // The fixture has 361 names in its first entry alone; the profile never lists them.
    assert!(!src.contains("allow accept "), "{src}");
}
