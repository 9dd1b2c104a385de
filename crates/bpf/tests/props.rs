//! Property tests: decoding never panics, disassembly reads back to the same bytes, the
//! builder keeps meaning across long jumps, and the cache emulation agrees with the emulator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use moat_bpf::builder::{Builder, JumpOp, Label};
use moat_bpf::consts::*;
use moat_bpf::{Insn, Program, SeccompData, asm, cache, disasm, emu};
use moat_syscalls::Arch;
use proptest::prelude::*;

/// A random instruction that is valid on its own; jump offsets are reduced into range later.
fn any_insn() -> impl Strategy<Value = Insn> {
    let load_k = prop_oneof![Just(0u32), Just(4u32), (0u32..16).prop_map(|w| w * 4)];
    let alu_op = prop::sample::select(vec![
        BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_XOR, BPF_LSH, BPF_RSH,
    ]);
    let jmp_op = prop::sample::select(vec![BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET]);
    let k = prop_oneof![0u32..64, any::<u32>(), Just(0xc000_003e), Just(0x4000_0000)];
    prop_oneof![
        load_k.prop_map(|k| Insn::stmt(BPF_LD | BPF_W | BPF_ABS, k)),
        (alu_op.clone(), k.clone()).prop_map(|(o, k)| {
            let k = match o {
                BPF_DIV => k.max(1),
                BPF_LSH | BPF_RSH => k % 32,
                _ => k,
            };
            Insn::stmt(BPF_ALU | o | BPF_K, k)
        }),
        alu_op.prop_map(|o| Insn::stmt(BPF_ALU | o | BPF_X, 0)),
        Just(Insn::stmt(BPF_ALU | BPF_NEG, 0)),
        (jmp_op.clone(), k.clone(), any::<u8>(), any::<u8>())
            .prop_map(|(o, k, jt, jf)| Insn::jump(BPF_JMP | o | BPF_K, k, jt, jf)),
        (jmp_op, any::<u8>(), any::<u8>()).prop_map(|(o, jt, jf)| Insn::jump(
            BPF_JMP | o | BPF_X,
            0,
            jt,
            jf
        )),
        any::<u32>().prop_map(|k| Insn::stmt(BPF_JMP | BPF_JA, k)),
        k.clone().prop_map(|k| Insn::stmt(BPF_RET | BPF_K, k)),
        Just(Insn::stmt(BPF_RET | BPF_A, 0)),
        k.clone().prop_map(|k| Insn::stmt(BPF_LD | BPF_IMM, k)),
        k.prop_map(|k| Insn::stmt(BPF_LDX | BPF_IMM, k)),
        Just(Insn::stmt(BPF_LD | BPF_W | BPF_LEN, 0)),
        Just(Insn::stmt(BPF_LDX | BPF_W | BPF_LEN, 0)),
        Just(Insn::stmt(BPF_MISC | BPF_TAX, 0)),
        Just(Insn::stmt(BPF_MISC | BPF_TXA, 0)),
        (0u32..16).prop_map(|k| Insn::stmt(BPF_ST, k)),
        (0u32..16).prop_map(|k| Insn::stmt(BPF_STX, k)),
        (0u32..16).prop_map(|k| Insn::stmt(BPF_LD | BPF_MEM, k)),
        (0u32..16).prop_map(|k| Insn::stmt(BPF_LDX | BPF_MEM, k)),
    ]
}

/// A random valid program: jumps reduced into range, a final return, and all scratch slots
/// written first when the body reads scratch memory.
fn any_program() -> impl Strategy<Value = Program> {
    (prop::collection::vec(any_insn(), 0..80), any::<u32>()).prop_map(|(mut body, last)| {
        if body
            .iter()
            .any(|i| i.code == BPF_LD | BPF_MEM || i.code == BPF_LDX | BPF_MEM)
        {
            let mut pre: Vec<Insn> = (0..16).map(|k| Insn::stmt(BPF_ST, k)).collect();
            pre.append(&mut body);
            body = pre;
        }
        body.push(Insn::stmt(BPF_RET | BPF_K, last));
        let n = body.len();
        for (pc, i) in body.iter_mut().enumerate() {
            let room = n - pc - 1; // instructions after this one
            if class(i.code) == BPF_JMP {
                if op(i.code) == BPF_JA {
                    i.k = if room == 0 {
                        0
                    } else {
                        i.k % u32::try_from(room).unwrap()
                    };
                } else {
                    let r = room.min(256);
                    i.jt = u8::try_from(usize::from(i.jt) % r.max(1)).unwrap();
                    i.jf = u8::try_from(usize::from(i.jf) % r.max(1)).unwrap();
                }
            }
        }
        // The last instruction is a return, so every jump above has room >= 1.
        Program::new(body).unwrap()
    })
}

fn any_data() -> impl Strategy<Value = SeccompData> {
    (
        prop_oneof![Just(0xc000_003eu32), Just(0x4000_0003), any::<u32>()],
        prop_oneof![0u32..500, any::<u32>()],
        any::<[u64; 6]>(),
        any::<u64>(),
    )
        .prop_map(|(arch, nr, args, ip)| {
            let mut d = SeccompData::new(arch, nr, args);
            d.instruction_pointer = ip;
            d
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn decoding_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(p) = Program::from_bytes(&bytes) {
            prop_assert_eq!(p.to_bytes(), bytes);
            let text = disasm::disasm(&p, Some(Arch::X86_64));
            prop_assert_eq!(asm::assemble(&text).unwrap(), p);
        }
    }

    #[test]
    fn decoding_random_instruction_streams_never_panics(
        insns in prop::collection::vec((any::<u16>(), any::<u8>(), any::<u8>(), any::<u32>()), 1..40),
        low_code in any::<bool>(),
    ) {
        // Random bytes rarely decode; opcodes drawn below 0x100 reach the checks more often.
        let bytes: Vec<u8> = insns
            .iter()
            .flat_map(|&(c, jt, jf, k)| Insn::new(if low_code { c & 0xff } else { c }, jt, jf, k).to_bytes())
            .collect();
        if let Ok(p) = Program::from_bytes(&bytes) {
            let _ = disasm::disasm(&p, None);
        }
    }

    #[test]
    fn assembling_random_text_never_panics(text in "[ 0-9a-fx:\n=#A-Za-z()]{0,200}", any_text in any::<String>()) {
        let _ = asm::assemble(&text);
        let _ = asm::assemble(&any_text);
    }

    /// Lines glued from pseudo-code fragments reach deep into the parser.
    #[test]
    fn assembling_pseudo_code_fragments_never_panics(
        parts in prop::collection::vec(prop::sample::select(vec![
            "A", "X", " = ", " += ", " >>= ", "if (", ")", " goto ", "0001", "0000", "9999", " else ",
            "A == ", "A != ", "!(A & ", "args[", "]", " >> 32", "mem[", "return ", "ERRNO(", "0x",
            "ffffffff", "x86.", "read", "ARCH_X86_64", "sys_number", "arch", "\n", ": ", "#", "é",
            "-A", "len", "/* no-op */", "99999999999999999999", "5", "16", "TRAP(70000)",
        ]), 0..40),
        arch in prop::option::of(prop::sample::select(Arch::ALL.to_vec())),
    ) {
        let text: String = parts.concat();
        let _ = asm::assemble_with(&text, arch);
    }

    #[test]
    fn disassembly_reassembles_to_the_same_bytes(p in any_program(), arch in prop::sample::select(Arch::ALL.to_vec())) {
        let text = disasm::disasm(&p, Some(arch));
        prop_assert_eq!(text.lines().count(), p.len() + 2);
        let back = asm::assemble(&text).unwrap();
        prop_assert_eq!(back.to_bytes(), p.to_bytes());
    }

    /// Without the raw fields the pseudo-code alone rebuilds the program, except for the forms
    /// it cannot express: conditional jumps whose branches meet (`goto`, `/* no-op */`) and
    /// `LEN` loads (printed as the constant 64).
    #[test]
    fn pseudo_code_alone_reassembles(p in any_program(), arch in prop::option::of(prop::sample::select(Arch::ALL.to_vec()))) {
        // Replace those forms by their equivalents the pseudo-code can express.
        let insns: Vec<Insn> = p
            .insns()
            .iter()
            .map(|&i| {
                if class(i.code) == BPF_JMP && op(i.code) != BPF_JA && i.jt == i.jf {
                    Insn::stmt(BPF_JMP | BPF_JA, u32::from(i.jt))
                } else if i.code == BPF_LD | BPF_W | BPF_LEN {
                    Insn::stmt(BPF_LD | BPF_IMM, 64)
                } else if i.code == BPF_LDX | BPF_W | BPF_LEN {
                    Insn::stmt(BPF_LDX | BPF_IMM, 64)
                } else {
                    i
                }
            })
            .collect();
        let p = Program::new(insns).unwrap();
        let text = disasm::disasm(&p, arch);
        let pseudo: String = text
            .lines()
            .skip(2)
            .map(|l| {
                let (num, rest) = l.trim_start().split_once(": ").unwrap();
                let (_, code) = rest.split_once("  ").unwrap();
                format!("{num}: {code}\n")
            })
            .collect();
        let back = asm::assemble_with(&pseudo, arch);
        prop_assert_eq!(back.as_ref().map(Program::to_bytes), Ok(p.to_bytes()), "{}", pseudo);
    }

    #[test]
    fn emulator_runs_every_valid_program(p in any_program(), d in any_data()) {
        let out = emu::run(&p, &d);
        prop_assert!(out.executed >= 1 && out.executed <= p.len());
    }

    /// Whatever the arguments, a cached (arch, nr) is allowed by the emulator.
    #[test]
    fn cache_emulation_is_sound(p in any_program(), d in any_data()) {
        if cache::emulate_const_allow(&p, d.arch, d.nr) {
            prop_assert_eq!(emu::run(&p, &d).ret, SECCOMP_RET_ALLOW);
        }
    }

    /// A chain `nr == c_i -> ERRNO(i+1)` with random filler between the chain and the returns
    /// needs trampolines; the built program means the same as the chain.
    #[test]
    fn builder_long_jumps_keep_meaning(
        consts in prop::collection::btree_set(0u32..1000, 1..60),
        filler in 0usize..600,
        probes in prop::collection::vec(0u32..1000, 20),
    ) {
        let consts: Vec<u32> = consts.into_iter().collect();
        let mut b = Builder::new();
        let labels: Vec<Label> = consts.iter().map(|_| b.label()).collect();
        let allow = b.label();
        b.load(OFFSET_NR);
        for (c, l) in consts.iter().zip(&labels) {
            let next = b.label();
            b.jump(JumpOp::Eq, *c, *l, next);
            b.bind(next);
        }
        b.goto(allow);
        for _ in 0..filler {
            b.emit(Insn::stmt(BPF_ALU | BPF_OR | BPF_K, 0));
        }
        for (i, l) in labels.iter().enumerate() {
            b.bind(*l);
            b.ret(ret_errno(u16::try_from(i + 1).unwrap()));
        }
        b.bind(allow);
        b.ret(SECCOMP_RET_ALLOW);
        let p = b.finish().unwrap();
        for nr in probes.iter().chain(consts.iter()) {
            let want = match consts.iter().position(|c| c == nr) {
                Some(i) => ret_errno(u16::try_from(i + 1).unwrap()),
                None => SECCOMP_RET_ALLOW,
            };
            prop_assert_eq!(emu::run(&p, &SeccompData::new(0, *nr, [0; 6])).ret, want);
        }
    }
}
