//! Translation validation: compiled programs, run in the emulator, equal the reference evaluator
//! on every syscall number of every ABI and on boundary values of every condition; every
//! instruction is reached; every unconditional allow is cached by the kernel.

#![allow(clippy::cast_possible_truncation)]

mod common;

use moat_compile::{Options, Weights, compile, report};
use moat_policy::{CapSet, Context, Policy};
use moat_syscalls::{Arch, KernelVersion};
use proptest::prelude::*;

fn contexts() -> Vec<Context> {
    vec![
        Context::default(),
        Context {
            caps: Some(CapSet::docker_default()),
            kernel: Some(KernelVersion { major: 4, minor: 4 }),
        },
        Context {
            caps: Some(CapSet(u64::MAX)),
            kernel: Some(KernelVersion {
                major: 6,
                minor: 18,
            }),
        },
    ]
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn check_all(p: &Policy, text: &str, weights: Option<Weights>) -> Result<(), TestCaseError> {
    for ctx in contexts().into_iter().take(2) {
        let options = Options {
            ctx,
            weights: weights.clone(),
        };
        let (c, stats) = common::check(p, &ctx, &options)
            .map_err(|e| TestCaseError::fail(format!("{e}\n--- policy\n{text}")))?;
        // Every instruction is reached. This is asserted when each syscall's conditions compare
        // each argument once (every path is then feasible); when one argument is compared
        // several times, the emitter's range tracking removes the tests earlier tests decide,
        // but correlations it does not model (different masks of one word, disjoint value
        // sets) can leave a test no input reaches, which is harmless but not dead-code free.
        prop_assert!(
            stats.unreached.is_empty() || !stats.read_once,
            "instructions {:?} never reached\n{}\n--- policy\n{}",
            stats.unreached,
            moat_bpf::disasm::disasm(&c.program, None),
            text
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn random_policies_compile_to_their_meaning(text in common::random::policy()) {
        // Some random texts are invalid (a 64-bit value on a 32-bit parameter): skip those.
        let Ok(p) = Policy::parse(&text, "random.moat") else { return Ok(()) };
        check_all(&p, &text, None)?;
    }

}

proptest! {
    #![proptest_config(config(32))]

    #[test]
    fn weighted_trees_compile_to_the_same_meaning(
        text in common::random::policy(),
        counts in prop::collection::vec((0usize..400, 0u64..100_000), 0..40),
    ) {
        let Ok(p) = Policy::parse(&text, "random.moat") else { return Ok(()) };
        let mut w = Weights::default();
        for (i, n) in counts {
            let names = moat_syscalls::names();
            w.set(names[i % names.len()], n);
        }
        check_all(&p, &text, Some(w))?;
    }
}

/// Every built-in profile, exhaustively over numbers 0..1024 (and x32, -1, the quarter
/// boundaries) of every ABI, for several capability sets and kernel versions, and for every
/// single ABI and all of them accepted.
#[test]
fn builtin_profiles_compile_to_their_meaning() {
    for b in moat_policy::builtins() {
        let base = Policy::builtin(b.name).unwrap().unwrap();
        // Slack: with many ABIs, arch tests and tree jumps can be more than 255 instructions from
        // their targets and go through one `JA` trampoline each.
        let variants = vec![
            (base.clone(), 0),
            (base.with_arches(&Arch::ALL).unwrap(), 2),
            (base.with_arches(&[Arch::X86_64, Arch::X32]).unwrap(), 0),
        ];
        for (p, extra) in variants {
            for ctx in contexts() {
                let options = Options { ctx, weights: None };
                let (c, stats) = common::check(&p, &ctx, &options)
                    .unwrap_or_else(|e| panic!("{} {:?}: {e}", b.name, p.arches()));
                assert!(
                    stats.unreached.is_empty(),
                    "{}: unreached {:?}",
                    b.name,
                    stats.unreached
                );
                // The dispatch bound holds for every call without argument checks.
                let r = report(&c);
                // A program longer than 256 instructions can put a return or a search more than
                // 255 instructions from the jump to it: one `JA` trampoline each for the
                // architecture test and the search leaf.
                let slack = if c.program.len() > 256 {
                    extra.max(2)
                } else {
                    extra
                };
                for a in &r.abis {
                    assert!(
                        a.worst_without_args() <= a.bound() + slack,
                        "{} {}: worst {} > bound {}",
                        b.name,
                        a.arch,
                        a.worst_without_args(),
                        a.bound()
                    );
                }
            }
        }
    }
}

#[test]
fn unconditional_allows_are_cached_and_argument_checks_are_not() {
    let p = Policy::parse(
        "default allow\narch x86_64 x86\ndeny personality if persona == 5\ndeny acct\n",
        "t.moat",
    )
    .unwrap();
    let c = compile(&p, &Options::default()).unwrap();
    let r = report(&c);
    let x = &r.abis[0];
    assert!(x.cached.contains(&"getpid"));
    assert!(!x.cached.contains(&"personality"));
    assert!(!x.cached.contains(&"acct"));
    let per = x.filtered.iter().find(|s| s.name == "personality").unwrap();
    assert!(per.checks_args);
    let acct = x.filtered.iter().find(|s| s.name == "acct").unwrap();
    assert!(!acct.checks_args);
}

#[test]
fn too_long_programs_are_errors_naming_the_rule() {
    // 1200 distinct values on a 64-bit argument: about 2 instructions each, more than 4096.
    let values: Vec<String> = (0..2100u64)
        .map(|v| format!("{:#x}", v * 0x1_0000_0003))
        .collect();
    let text = format!(
        "default allow\narch x86_64\ndeny getpid\ndeny mmap if arg1 in {{{}}}\n",
        values.join(", ")
    );
    let p = Policy::parse(&text, "long.moat").unwrap();
    let e = compile(&p, &Options::default()).unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.starts_with("long.moat:4:1: program needs "),
        "{shown}"
    );
    assert!(shown.contains("at most 4096"), "{shown}");
}

#[test]
fn sixty_four_bit_comparisons_order_both_halves() {
    // mmap's length is 64-bit: values that differ only in the high word.
    for op in ["<", "<=", ">", ">=", "==", "!="] {
        for v in [
            "0x100000005",
            "0xffffffff",
            "0x100000000",
            "0xfffffffe00000001",
            "5",
        ] {
            let text = format!("default allow\narch x86_64\ndeny mmap if arg1 {op} {v}\n");
            let p = Policy::parse(&text, "t.moat").unwrap();
            let ctx = Context::default();
            let (_, stats) = common::check(&p, &ctx, &Options::default()).unwrap();
            assert!(stats.unreached.is_empty(), "{text}");
        }
    }
}

/// s390x is big-endian: the high word of `args[i]` is at `16 + 8 * i`, the low word at
/// `16 + 8 * i + 4` (offsets by hand from `struct seccomp_data`). A 64-bit comparison of bpf's
/// `attr` (argument 1) loads 24 then 28; a 32-bit one (`kill`'s signal, argument 1) loads only
/// the low word, 28. The same policy on x86_64 loads 28 then 24, and 24.
#[test]
fn s390x_argument_conditions_load_big_endian_words() {
    let loads = |arch: &str, rule: &str| -> Vec<u32> {
        let text = format!("default allow\narch {arch}\n{rule}\n");
        let p = Policy::parse(&text, "t.moat").unwrap();
        let c = compile(&p, &Options::default()).unwrap();
        // The emulator, with the layout picked from `arch`, agrees with the evaluator.
        common::check(&p, &Context::default(), &Options::default()).unwrap();
        c.program
            .insns()
            .iter()
            .filter(|i| i.code == 0x20 && i.k >= 16)
            .map(|i| i.k)
            .collect()
    };
    assert_eq!(loads("s390x", "deny bpf if arg1 > 0x100000005"), [24, 28]);
    assert_eq!(loads("s390x", "deny kill if arg1 == 9"), [28]);
    assert_eq!(loads("x86_64", "deny bpf if arg1 > 0x100000005"), [28, 24]);
    assert_eq!(loads("x86_64", "deny kill if arg1 == 9"), [24]);
    // Both ABIs in one program: each ABI's block reads its own layout, none is shared.
    let p = Policy::parse(
        "default allow\narch x86_64 s390x\ndeny kill if arg1 == 9\n",
        "t.moat",
    )
    .unwrap();
    let c = compile(&p, &Options::default()).unwrap();
    let mut ks: Vec<u32> = c
        .program
        .insns()
        .iter()
        .filter(|i| i.code == 0x20 && i.k >= 16)
        .map(|i| i.k)
        .collect();
    ks.sort_unstable();
    assert_eq!(ks, [24, 28]);
    assert!(c.byte_order().is_err());
    common::check(&p, &Context::default(), &Options::default()).unwrap();
}
