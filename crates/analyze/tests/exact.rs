//! The exact semantics of raw BPF agrees with the emulator: random programs using every
//! instruction the seccomp loader accepts (ALU including mul/div/shifts/neg, JSET, the X
//! register, scratch memory, RET A, every action) are turned into paths; every random and
//! boundary call lies on exactly one path, whose return value is the emulator's; and every path's
//! witness (found by the domain solver or SAT) takes that path in the emulator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use moat_analyze::exact::{Method, semantics};
use moat_bpf::consts::*;
use moat_bpf::{Insn, Program, SeccompData, emu};
use proptest::prelude::*;

const RETS: [u32; 9] = [
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_KILL_PROCESS,
    SECCOMP_RET_KILL_THREAD,
    SECCOMP_RET_ERRNO | 1,
    SECCOMP_RET_ERRNO | 38,
    SECCOMP_RET_TRAP | 3,
    SECCOMP_RET_TRACE | 7,
    SECCOMP_RET_USER_NOTIF,
    SECCOMP_RET_LOG,
];

const ALU: [u16; 9] = [
    BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_XOR, BPF_LSH, BPF_RSH,
];

fn konst() -> impl Strategy<Value = u32> {
    prop_oneof![
        0u32..8,
        Just(0xffff_ffff),
        Just(0x8000_0000),
        Just(0x4000_0000),
        any::<u32>(),
    ]
}

/// One instruction at distance `room` from the final return (jumps stay inside).
fn insn(room: u8) -> impl Strategy<Value = Insn> {
    let offset = (0u32..16).prop_map(|i| i * 4);
    let jt = 0..=room.min(6);
    let jf = 0..=room.min(6);
    prop_oneof![
        3 => offset.prop_map(|o| Insn::stmt(BPF_LD | BPF_W | BPF_ABS, o)),
        1 => konst().prop_map(|k| Insn::stmt(BPF_LD | BPF_IMM, k)),
        1 => konst().prop_map(|k| Insn::stmt(BPF_LDX | BPF_IMM, k)),
        1 => (0u32..4).prop_map(|s| Insn::stmt(BPF_LD | BPF_MEM, s)),
        1 => (0u32..4).prop_map(|s| Insn::stmt(BPF_LDX | BPF_MEM, s)),
        1 => (0u32..4).prop_map(|s| Insn::stmt(BPF_ST, s)),
        1 => (0u32..4).prop_map(|s| Insn::stmt(BPF_STX, s)),
        1 => Just(Insn::stmt(BPF_MISC | BPF_TAX, 0)),
        1 => Just(Insn::stmt(BPF_MISC | BPF_TXA, 0)),
        1 => Just(Insn::stmt(BPF_LDX | BPF_W | BPF_LEN, 0)),
        1 => Just(Insn::stmt(BPF_ALU | BPF_NEG, 0)),
        3 => (prop::sample::select(&ALU[..]), konst(), any::<bool>()).prop_map(|(op, k, x)| {
            if x {
                Insn::stmt(BPF_ALU | op | BPF_X, 0)
            } else {
                let k = match op {
                    BPF_LSH | BPF_RSH => k % 32,
                    BPF_DIV => k.max(1),
                    _ => k,
                };
                Insn::stmt(BPF_ALU | op | BPF_K, k)
            }
        }),
        5 => (
            prop::sample::select(&[BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET][..]),
            konst(),
            any::<bool>(),
            jt,
            jf
        )
            .prop_map(|(op, k, x, jt, jf)| {
                let src = if x { BPF_X } else { BPF_K };
                Insn::jump(BPF_JMP | op | src, k, jt, jf)
            }),
        1 => (0..=u32::from(room.min(4))).prop_map(|k| Insn::stmt(BPF_JMP | BPF_JA, k)),
        2 => prop::sample::select(&RETS[..]).prop_map(|r| Insn::stmt(BPF_RET | BPF_K, r)),
        1 => Just(Insn::stmt(BPF_RET | BPF_A, 0)),
    ]
}

fn program() -> impl Strategy<Value = Program> {
    (1usize..24)
        .prop_flat_map(|n| {
            let body: Vec<_> = (0..n)
                .map(|i| insn(u8::try_from(n - i - 1).unwrap()))
                .collect();
            (body, prop::sample::select(&RETS[..]))
        })
        .prop_filter_map("the loader rejects it", |(body, last)| {
            // Scratch slots are written before any read (the loader insists).
            let mut insns = vec![];
            for s in 0..4 {
                insns.push(Insn::stmt(BPF_LD | BPF_IMM, s * 3 + 1));
                insns.push(Insn::stmt(BPF_ST, s));
            }
            insns.push(Insn::stmt(BPF_LD | BPF_IMM, 0));
            insns.extend(body);
            insns.push(Insn::stmt(BPF_RET | BPF_K, last));
            Program::new(insns).ok()
        })
}

/// Calls built from the program's own constants and their neighbours, in either word.
fn calls(p: &Program, arch: u32, extra: &[u64]) -> Vec<SeccompData> {
    let mut vals = vec![0u64, 1, u64::MAX, 0xffff_ffff, 0x1_0000_0000];
    vals.extend_from_slice(extra);
    for i in p.insns() {
        for k in [i.k, i.k.wrapping_sub(1), i.k.wrapping_add(1)] {
            vals.push(u64::from(k));
            vals.push(u64::from(k) << 32);
        }
    }
    let mut out = Vec::new();
    for (j, &v) in vals.iter().enumerate() {
        let nr = u32::try_from(v & 0xffff_ffff).unwrap();
        let mut args = [0u64; 6];
        args[j % 6] = v;
        args[(j + 1) % 6] = vals[(j * 7) % vals.len()];
        let mut d = SeccompData::new(arch, nr, args);
        d.instruction_pointer = vals[(j * 3) % vals.len()];
        out.push(d);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_programs_agree_with_the_emulator(
        p in program(),
        extra in prop::collection::vec(any::<u64>(), 8),
        arch_pick in 0usize..3,
    ) {
        let arch = [0xc000_003e_u32, 0x8000_0016, 0x4000_0003][arch_pick];
        for fixed in [Some(arch), None] {
            let s = semantics(&p, fixed).unwrap();
            for d in calls(&p, arch, &extra) {
                let words = moat_analyze::exact::words_of(&d);
                let word = |o: u32| words[(o / 4) as usize];
                let on: Vec<_> = s.paths.iter().filter(|q| q.lits.iter().all(|l| l.eval(&word))).collect();
                prop_assert_eq!(on.len(), 1, "call {:?} on {} paths\n{}", d, on.len(), moat_bpf::disasm::disasm(&p, None));
                prop_assert_eq!(on[0].ret.eval(&word), emu::run(&p, &d).ret, "call {:?}", d);
            }
            for i in 0..s.paths.len() {
                let d = s.witness(i).expect("every path kept is feasible");
                let words = moat_analyze::exact::words_of(&d);
                let word = |o: u32| words[(o / 4) as usize];
                let q = &s.paths[i];
                prop_assert!(q.lits.iter().all(|l| l.eval(&word)), "witness {:?} misses path {}", d, i);
                prop_assert_eq!(q.ret.eval(&word), emu::run(&p, &d).ret);
            }
        }
    }
}

/// A program whose branch depends on an ALU result needs SAT, and says so.
#[test]
fn alu_conditions_are_decided_by_sat() {
    let p = Program::new(vec![
        Insn::stmt(BPF_LD | BPF_W | BPF_ABS, 16),
        Insn::stmt(BPF_ALU | BPF_MUL | BPF_K, 3),
        Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 99, 0, 1),
        Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1),
        Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    ])
    .unwrap();
    let s = semantics(&p, Some(0xc000_003e)).unwrap();
    assert_eq!(s.method, Method::Sat);
    assert_eq!(s.paths.len(), 2);
    let d = s.witness(0).unwrap();
    assert_eq!(
        u32::try_from(d.args[0] & 0xffff_ffff)
            .unwrap()
            .wrapping_mul(3),
        99
    );
    assert_eq!(emu::run(&p, &d).ret, SECCOMP_RET_ERRNO | 1);
}
