//! Translation validation against the compiler: every built-in profile, the policies of the
//! policy-language spec's shapes and random policies compile to programs that `validate` proves
//! equal to their policy; and every deliberately broken program (one return value or one jump
//! constant changed, a test-only fault injection) is caught with a call on which the emulator
//! and the reference evaluator really differ.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use moat_analyze::validate::{ValidateError, validate};
use moat_bpf::consts::*;
use moat_bpf::{Insn, Program, SeccompData, emu};
use moat_policy::{Action, Context, Policy};
use proptest::prelude::*;

fn policy(src: &str) -> Policy {
    if !src.contains(' ') {
        return Policy::builtin(src).unwrap().unwrap();
    }
    Policy::parse(src, "v.moat").unwrap_or_else(|e| panic!("{e}\n{src}"))
}

fn compiled(p: &Policy) -> Program {
    moat_analyze::compile(p, &Context::default()).unwrap()
}

fn proves(src: &str) {
    let p = policy(src);
    let lowered = p.lower(&Context::default()).unwrap();
    let prog = compiled(&p);
    let v = validate(&lowered, &prog).unwrap_or_else(|e| panic!("{src}: {e}"));
    assert!(v.paths > 0 && v.cases > 0, "{v:?}");
}

/// A broken program is caught, and the reported call is a real difference.
fn catches(p: &Policy, broken: &Program) -> bool {
    let lowered = p.lower(&Context::default()).unwrap();
    match validate(&lowered, broken) {
        Ok(_) => false,
        Err(ValidateError::Mismatch(m)) => {
            let d = SeccompData::new(m.audit_arch, m.nr, m.args);
            let got = Action::from_ret(emu::run(broken, &d).ret);
            let want = p
                .evaluate(&Context::default(), m.audit_arch, m.nr, m.args)
                .action;
            assert_eq!((got, want), (m.program, m.policy), "{m}");
            assert_ne!(got, want, "{m}");
            true
        }
        Err(e) => panic!("unexpected: {e}"),
    }
}

#[test]
fn builtins_compile_to_what_they_say() {
    for name in ["container", "strict", "docker"] {
        proves(name);
    }
}

#[test]
fn argument_conditions_and_abis_are_validated() {
    for src in [
        "default allow\ndeny personality if persona not in {0, 8, 0x20000}",
        "default allow\narch x86_64 x86 x32\ndeny socket if domain == AF_VSOCK\nkill mkdir",
        "default errno EPERM\nallow read write\nallow mmap if arg2 & 4 == 0",
        "default allow\nunknown kill\nbadarch errno 99\ndeny lseek if arg1 > 0x1_0000_0000",
        "default allow\narch aarch64 arm\ndeny kill if arg1 == 9 and arg0 == 0xffff_ffff",
        "default allow\narch s390x\ndeny kill if arg1 == 9\ndeny lseek if arg1 >= 0x8000_0000_0000",
        "default allow\narch ppc64le riscv64 loongarch64\nerrno 38 clone3\ntrap 3 ptrace",
    ] {
        proves(src);
    }
}

/// Every `RET` of the container profile's program changed in turn to another action: each
/// change that alters the program's meaning is caught.
#[test]
fn a_changed_return_value_is_caught() {
    let p = policy("container");
    let prog = compiled(&p);
    let rets: Vec<usize> = prog
        .insns()
        .iter()
        .enumerate()
        .filter(|(_, i)| i.code == BPF_RET | BPF_K)
        .map(|(i, _)| i)
        .collect();
    assert!(rets.len() >= 3);
    for &at in &rets {
        let mut insns = prog.insns().to_vec();
        let old = insns[at].k;
        insns[at].k = if old == SECCOMP_RET_ALLOW {
            SECCOMP_RET_ERRNO | 77
        } else {
            SECCOMP_RET_ALLOW
        };
        let broken = Program::new(insns).unwrap();
        assert!(catches(&p, &broken), "return at {at} changed, not caught");
    }
}

/// The compare constant of every conditional jump of a policy with argument conditions moved
/// by one: the boundary shifts, and each shift is caught.
#[test]
fn a_moved_boundary_is_caught() {
    let p = policy(
        "default allow\narch x86_64\ndeny lseek if arg1 > 0x1_0000_0000\ndeny kill if arg1 == 9",
    );
    let prog = compiled(&p);
    let mut caught = 0;
    let mut tried = 0;
    for (at, insn) in prog.insns().iter().enumerate() {
        let op = insn.code & 0xf0;
        if insn.code & 0x07 != BPF_JMP || op == BPF_JA || !matches!(op, BPF_JEQ | BPF_JGT | BPF_JGE)
        {
            continue;
        }
        let mut insns = prog.insns().to_vec();
        insns[at] = Insn {
            k: insn.k.wrapping_add(1),
            ..*insn
        };
        let broken = Program::new(insns).unwrap();
        tried += 1;
        let lowered = p.lower(&Context::default()).unwrap();
        // A moved constant on an unreachable or redundant test may keep the meaning: then the
        // validation must pass; it must never fail with anything but a real mismatch.
        let same = validate(&lowered, &broken).is_ok();
        if !same {
            assert!(catches(&p, &broken));
            caught += 1;
        }
    }
    assert!(tried >= 3 && caught >= 3, "tried {tried}, caught {caught}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    /// Random policies from conditions on 32- and 64-bit parameters, ranges, masks and sets,
    /// with several ABIs: each compiles to a program `validate` proves equal.
    #[test]
    fn random_policies_validate(head in 0usize..4, rules in proptest::collection::vec(0usize..10, 0..6)) {
        const HEADS: [&str; 4] = [
            "default allow",
            "default errno EPERM\narch x86_64 x86",
            "default kill\narch aarch64 arm x32 x86_64\nunknown errno 38",
            "default log\nbadarch errno 5\narch s390x x86_64",
        ];
        const RULES: [&str; 10] = [
            "deny read if arg0 > 1000",
            "allow read write",
            "errno 9 lseek if arg1 >= 0xffff_ffff",
            "kill-thread kill if arg1 in {9, 15, 19}",
            "deny personality if persona & 0xff00 == 0x0400",
            "trap 2 mprotect if arg2 & 4 and arg1 > 0x1000",
            "allow openat if arg2 & 0x40 == 0",
            "deny socket if domain not in {AF_UNIX, AF_INET, AF_INET6}",
            "errno 38 clone3",
            "log ioctl if request == TIOCSTI or request == 0x5413",
        ];
        let mut src = HEADS[head].to_string();
        for r in rules {
            src.push('\n');
            src.push_str(RULES[r]);
        }
        proves(&src);
    }
}
