//! The validated program: exactly what the kernel's seccomp loader accepts.

use crate::consts::*;
use crate::insn::{ByteOrder, Insn};

/// A classic BPF program that the kernel's seccomp loader accepts.
///
/// Construction runs the checks of `bpf_check_classic()` (`net/core/filter.c`) and
/// `seccomp_check_filter()` (`kernel/seccomp.c`): 1 to 4096 instructions, only the opcodes seccomp
/// allows, 32-bit loads at 4-aligned offsets inside the 64-byte `struct seccomp_data`, forward jumps
/// that stay inside the program, no division by a constant zero, shifts by constants below 32,
/// scratch memory slots below 16 that are written before they are read on every path, and a return
/// as the last instruction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Program {
    insns: Vec<Insn>,
}

/// Why the kernel would reject a program (`EINVAL` from `seccomp(2)`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidateError {
    /// No instructions at all.
    #[error("empty program: a filter needs at least one instruction")]
    Empty,
    /// More than `BPF_MAXINSNS` instructions.
    #[error("program has {len} instructions, the kernel accepts at most 4096")]
    TooLong {
        /// Number of instructions.
        len: usize,
    },
    /// An opcode classic BPF does not define.
    #[error("instruction {pc}: unknown opcode {code:#04x}")]
    UnknownOpcode {
        /// Offending instruction.
        pc: usize,
        /// Its opcode.
        code: u16,
    },
    /// A classic BPF opcode that seccomp filters may not use (byte/half loads, indirect loads, `MOD`, ...).
    #[error("instruction {pc}: opcode {code:#04x} ({name}) is not allowed in seccomp filters")]
    NotAllowed {
        /// Offending instruction.
        pc: usize,
        /// Its opcode.
        code: u16,
        /// Its mnemonic.
        name: &'static str,
    },
    /// A `BPF_LD|BPF_W|BPF_ABS` outside `struct seccomp_data` or not 4-aligned.
    #[error(
        "instruction {pc}: load offset {k} is not a 4-aligned offset inside seccomp_data (0..64)"
    )]
    LoadOffset {
        /// Offending instruction.
        pc: usize,
        /// The offset.
        k: u32,
    },
    /// `BPF_ALU|BPF_DIV|BPF_K` with `k == 0`.
    #[error("instruction {pc}: division by constant zero")]
    DivisionByZero {
        /// Offending instruction.
        pc: usize,
    },
    /// A shift by a constant of 32 or more.
    #[error("instruction {pc}: shift by {k}, must be below 32")]
    ShiftTooLarge {
        /// Offending instruction.
        pc: usize,
        /// The shift amount.
        k: u32,
    },
    /// A scratch memory slot of 16 or more.
    #[error("instruction {pc}: scratch memory slot {k} out of range (0..16)")]
    MemSlot {
        /// Offending instruction.
        pc: usize,
        /// The slot.
        k: u32,
    },
    /// A jump past the last instruction.
    #[error("instruction {pc}: jump target {target} is past the last instruction {last}")]
    JumpOutOfRange {
        /// Offending instruction.
        pc: usize,
        /// Target index (`pc + 1 + offset`).
        target: u64,
        /// Index of the last instruction.
        last: usize,
    },
    /// The last instruction is not `BPF_RET`.
    #[error("instruction {pc}: the last instruction must be a return")]
    NoFinalReturn {
        /// Index of the last instruction.
        pc: usize,
    },
    /// A scratch memory read that some path reaches without a prior write.
    #[error("instruction {pc}: reads scratch memory slot {slot} before every path has written it")]
    UninitializedMem {
        /// Offending instruction.
        pc: usize,
        /// The slot.
        slot: u32,
    },
}

impl ValidateError {
    /// The offending instruction, if the error concerns one.
    pub fn pc(&self) -> Option<usize> {
        match *self {
            ValidateError::Empty | ValidateError::TooLong { .. } => None,
            ValidateError::UnknownOpcode { pc, .. }
            | ValidateError::NotAllowed { pc, .. }
            | ValidateError::LoadOffset { pc, .. }
            | ValidateError::DivisionByZero { pc }
            | ValidateError::ShiftTooLarge { pc, .. }
            | ValidateError::MemSlot { pc, .. }
            | ValidateError::JumpOutOfRange { pc, .. }
            | ValidateError::NoFinalReturn { pc }
            | ValidateError::UninitializedMem { pc, .. } => Some(pc),
        }
    }
}

/// Why raw bytes are not a valid program.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The length is not a multiple of 8.
    #[error("{len} bytes is not a whole number of 8-byte instructions")]
    Length {
        /// Number of bytes.
        len: usize,
    },
    /// The instructions decode but the kernel would reject them.
    #[error(transparent)]
    Invalid(#[from] ValidateError),
}

/// Every opcode classic BPF defines (`chk_code_allowed()` in `net/core/filter.c`), with a mnemonic
/// and whether seccomp accepts it (`seccomp_check_filter()` in `kernel/seccomp.c`).
const OPCODES: &[(u16, &str, bool)] = &[
    (BPF_ALU | BPF_ADD | BPF_K, "add k", true),
    (BPF_ALU | BPF_ADD | BPF_X, "add x", true),
    (BPF_ALU | BPF_SUB | BPF_K, "sub k", true),
    (BPF_ALU | BPF_SUB | BPF_X, "sub x", true),
    (BPF_ALU | BPF_MUL | BPF_K, "mul k", true),
    (BPF_ALU | BPF_MUL | BPF_X, "mul x", true),
    (BPF_ALU | BPF_DIV | BPF_K, "div k", true),
    (BPF_ALU | BPF_DIV | BPF_X, "div x", true),
    (BPF_ALU | BPF_MOD | BPF_K, "mod k", false),
    (BPF_ALU | BPF_MOD | BPF_X, "mod x", false),
    (BPF_ALU | BPF_AND | BPF_K, "and k", true),
    (BPF_ALU | BPF_AND | BPF_X, "and x", true),
    (BPF_ALU | BPF_OR | BPF_K, "or k", true),
    (BPF_ALU | BPF_OR | BPF_X, "or x", true),
    (BPF_ALU | BPF_XOR | BPF_K, "xor k", true),
    (BPF_ALU | BPF_XOR | BPF_X, "xor x", true),
    (BPF_ALU | BPF_LSH | BPF_K, "lsh k", true),
    (BPF_ALU | BPF_LSH | BPF_X, "lsh x", true),
    (BPF_ALU | BPF_RSH | BPF_K, "rsh k", true),
    (BPF_ALU | BPF_RSH | BPF_X, "rsh x", true),
    (BPF_ALU | BPF_NEG, "neg", true),
    (BPF_LD | BPF_W | BPF_ABS, "ld w abs", true),
    (BPF_LD | BPF_H | BPF_ABS, "ld h abs", false),
    (BPF_LD | BPF_B | BPF_ABS, "ld b abs", false),
    (BPF_LD | BPF_W | BPF_LEN, "ld w len", true),
    (BPF_LD | BPF_W | BPF_IND, "ld w ind", false),
    (BPF_LD | BPF_H | BPF_IND, "ld h ind", false),
    (BPF_LD | BPF_B | BPF_IND, "ld b ind", false),
    (BPF_LD | BPF_IMM, "ld imm", true),
    (BPF_LD | BPF_MEM, "ld mem", true),
    (BPF_LDX | BPF_W | BPF_LEN, "ldx w len", true),
    (BPF_LDX | BPF_B | BPF_MSH, "ldx b msh", false),
    (BPF_LDX | BPF_IMM, "ldx imm", true),
    (BPF_LDX | BPF_MEM, "ldx mem", true),
    (BPF_ST, "st", true),
    (BPF_STX, "stx", true),
    (BPF_MISC | BPF_TAX, "tax", true),
    (BPF_MISC | BPF_TXA, "txa", true),
    (BPF_RET | BPF_K, "ret k", true),
    (BPF_RET | BPF_A, "ret a", true),
    (BPF_JMP | BPF_JA, "ja", true),
    (BPF_JMP | BPF_JEQ | BPF_K, "jeq k", true),
    (BPF_JMP | BPF_JEQ | BPF_X, "jeq x", true),
    (BPF_JMP | BPF_JGE | BPF_K, "jge k", true),
    (BPF_JMP | BPF_JGE | BPF_X, "jge x", true),
    (BPF_JMP | BPF_JGT | BPF_K, "jgt k", true),
    (BPF_JMP | BPF_JGT | BPF_X, "jgt x", true),
    (BPF_JMP | BPF_JSET | BPF_K, "jset k", true),
    (BPF_JMP | BPF_JSET | BPF_X, "jset x", true),
];

/// The mnemonic of a classic BPF opcode (`"jeq k"`), `None` for codes classic BPF does not define.
pub fn opcode_name(code: u16) -> Option<&'static str> {
    OPCODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, n, _)| *n)
}

/// Whether seccomp accepts this opcode (before the per-instruction operand checks).
pub fn seccomp_allows(code: u16) -> bool {
    OPCODES.iter().any(|(c, _, ok)| *c == code && *ok)
}

/// Whether `code` is a conditional jump.
pub(crate) fn is_cond_jump(code: u16) -> bool {
    class(code) == BPF_JMP && op(code) != BPF_JA
}

impl Program {
    /// Validates `insns` with the kernel's seccomp loader checks.
    pub fn new(insns: Vec<Insn>) -> Result<Program, ValidateError> {
        validate(&insns)?;
        Ok(Program { insns })
    }

    /// Decodes raw `struct sock_filter` bytes (8 per instruction, little-endian) and validates them.
    /// Never panics, whatever the input.
    pub fn from_bytes(bytes: &[u8]) -> Result<Program, DecodeError> {
        Program::from_bytes_in(bytes, ByteOrder::Little)
    }

    /// Like [`Program::from_bytes`], for bytes in `order` (a program written for an s390x
    /// kernel is big-endian).
    pub fn from_bytes_in(bytes: &[u8], order: ByteOrder) -> Result<Program, DecodeError> {
        if !bytes.len().is_multiple_of(Insn::SIZE) {
            return Err(DecodeError::Length { len: bytes.len() });
        }
        let n = bytes.len() / Insn::SIZE;
        if n > BPF_MAXINSNS {
            return Err(ValidateError::TooLong { len: n }.into());
        }
        let insns = bytes
            .chunks_exact(Insn::SIZE)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                Insn::from_bytes_in(b, order)
            })
            .collect();
        Ok(Program::new(insns)?)
    }

    /// The raw `struct sock_filter` bytes, 8 per instruction, little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_bytes_in(ByteOrder::Little)
    }

    /// The raw `struct sock_filter` bytes in `order`: what a kernel of that byte order loads
    /// (`code` and `k` are native-endian; an s390x kernel reads them big-endian).
    pub fn to_bytes_in(&self, order: ByteOrder) -> Vec<u8> {
        self.insns
            .iter()
            .flat_map(|i| i.to_bytes_in(order))
            .collect()
    }

    /// The instructions.
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }

    /// The instructions, by value.
    pub fn into_insns(self) -> Vec<Insn> {
        self.insns
    }

    /// Number of instructions (1 to 4096).
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Always `false`: a valid program has at least one instruction.
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }
}

/// The checks of `bpf_check_classic()` followed by `seccomp_check_filter()`. Both make the
/// kernel return `EINVAL`; the first failing instruction is reported.
fn validate(insns: &[Insn]) -> Result<(), ValidateError> {
    let flen = insns.len();
    if flen == 0 {
        return Err(ValidateError::Empty);
    }
    if flen > BPF_MAXINSNS {
        return Err(ValidateError::TooLong { len: flen });
    }
    let last = flen - 1;
    for (pc, insn) in insns.iter().enumerate() {
        let code = insn.code;
        let k = insn.k;
        let Some(&(_, name, allowed)) = OPCODES.iter().find(|(c, _, _)| *c == code) else {
            return Err(ValidateError::UnknownOpcode { pc, code });
        };
        if !allowed {
            return Err(ValidateError::NotAllowed { pc, code, name });
        }
        match code {
            c if c == BPF_ALU | BPF_DIV | BPF_K && k == 0 => {
                return Err(ValidateError::DivisionByZero { pc });
            }
            c if (c == BPF_ALU | BPF_LSH | BPF_K || c == BPF_ALU | BPF_RSH | BPF_K) && k >= 32 => {
                return Err(ValidateError::ShiftTooLarge { pc, k });
            }
            c if (c == BPF_LD | BPF_MEM
                || c == BPF_LDX | BPF_MEM
                || c == BPF_ST
                || c == BPF_STX)
                && k >= BPF_MEMWORDS =>
            {
                return Err(ValidateError::MemSlot { pc, k });
            }
            // `seccomp_check_filter()`: "32-bit aligned and not out of bounds".
            c if c == BPF_LD | BPF_W | BPF_ABS && (k >= SECCOMP_DATA_SIZE || k & 3 != 0) => {
                return Err(ValidateError::LoadOffset { pc, k });
            }
            c if c == BPF_JMP | BPF_JA => {
                // The kernel checks `k >= flen - pc - 1`; k is 32-bit, so compute in u64.
                let target = pc as u64 + 1 + u64::from(k);
                if target > last as u64 {
                    return Err(ValidateError::JumpOutOfRange { pc, target, last });
                }
            }
            c if is_cond_jump(c) => {
                for off in [insn.jt, insn.jf] {
                    let target = pc as u64 + 1 + u64::from(off);
                    if target > last as u64 {
                        return Err(ValidateError::JumpOutOfRange { pc, target, last });
                    }
                }
            }
            _ => {}
        }
    }
    if class(insns[last].code) != BPF_RET {
        return Err(ValidateError::NoFinalReturn { pc: last });
    }
    check_load_and_stores(insns)
}

/// `check_load_and_stores()` from `net/core/filter.c`: a linear scan that tracks which scratch
/// slots are written on every path. At a jump target the set is intersected with the set at the
/// jump; after a jump the scan restarts from "all written" and relies on the intersection. A
/// `RET` does not reset the set, so an instruction after a return inherits the set before the
/// return as well (a kernel quirk, reproduced so that moat accepts exactly what Linux accepts).
fn check_load_and_stores(insns: &[Insn]) -> Result<(), ValidateError> {
    let mut masks = vec![u16::MAX; insns.len()];
    let mut memvalid: u16 = 0;
    for (pc, insn) in insns.iter().enumerate() {
        memvalid &= masks[pc];
        let slot_bit = 1u16.checked_shl(insn.k).unwrap_or(0);
        match insn.code {
            c if c == BPF_ST || c == BPF_STX => memvalid |= slot_bit,
            c if (c == BPF_LD | BPF_MEM || c == BPF_LDX | BPF_MEM) && memvalid & slot_bit == 0 => {
                return Err(ValidateError::UninitializedMem { pc, slot: insn.k });
            }
            c if c == BPF_JMP | BPF_JA => {
                // In range: checked by `validate` before this runs.
                let t = pc + 1 + insn.k as usize;
                if let Some(m) = masks.get_mut(t) {
                    *m &= memvalid;
                }
                memvalid = u16::MAX;
            }
            c if is_cond_jump(c) => {
                for off in [insn.jt, insn.jf] {
                    if let Some(m) = masks.get_mut(pc + 1 + usize::from(off)) {
                        *m &= memvalid;
                    }
                }
                memvalid = u16::MAX;
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ret(k: u32) -> Insn {
        Insn::stmt(BPF_RET | BPF_K, k)
    }

    #[test]
    fn accepts_minimal_program() {
        assert!(Program::new(vec![ret(SECCOMP_RET_ALLOW)]).is_ok());
    }

    #[test]
    fn rejects_empty_and_too_long() {
        assert_eq!(Program::new(vec![]), Err(ValidateError::Empty));
        assert_eq!(
            Program::new(vec![ret(0); 4097]),
            Err(ValidateError::TooLong { len: 4097 })
        );
        assert!(Program::new(vec![ret(0); 4096]).is_ok());
    }

    #[test]
    fn load_offsets_must_be_aligned_and_inside_seccomp_data() {
        for k in [0, 4, 8, 60] {
            let p = Program::new(vec![Insn::stmt(BPF_LD | BPF_W | BPF_ABS, k), ret(0)]);
            assert!(p.is_ok(), "offset {k}");
        }
        for k in [1, 2, 62, 64, 0xffff_f000] {
            let p = Program::new(vec![Insn::stmt(BPF_LD | BPF_W | BPF_ABS, k), ret(0)]);
            assert_eq!(p, Err(ValidateError::LoadOffset { pc: 0, k }));
        }
    }

    #[test]
    fn rejects_opcodes_seccomp_forbids() {
        for code in [
            BPF_LD | BPF_B | BPF_ABS,
            BPF_LD | BPF_W | BPF_IND,
            BPF_ALU | BPF_MOD | BPF_K,
        ] {
            let p = Program::new(vec![Insn::stmt(code, 1), ret(0)]);
            assert!(
                matches!(p, Err(ValidateError::NotAllowed { pc: 0, .. })),
                "{code:#x}"
            );
        }
        let p = Program::new(vec![Insn::stmt(0xff, 0), ret(0)]);
        assert_eq!(p, Err(ValidateError::UnknownOpcode { pc: 0, code: 0xff }));
        // RET with the X source is not an opcode either.
        let p = Program::new(vec![Insn::stmt(BPF_RET | BPF_X, 0)]);
        assert!(matches!(p, Err(ValidateError::UnknownOpcode { .. })));
    }

    #[test]
    fn division_and_shift_constants() {
        let div0 = Program::new(vec![Insn::stmt(BPF_ALU | BPF_DIV | BPF_K, 0), ret(0)]);
        assert_eq!(div0, Err(ValidateError::DivisionByZero { pc: 0 }));
        assert!(Program::new(vec![Insn::stmt(BPF_ALU | BPF_DIV | BPF_X, 0), ret(0)]).is_ok());
        let sh = Program::new(vec![Insn::stmt(BPF_ALU | BPF_LSH | BPF_K, 32), ret(0)]);
        assert_eq!(sh, Err(ValidateError::ShiftTooLarge { pc: 0, k: 32 }));
        assert!(Program::new(vec![Insn::stmt(BPF_ALU | BPF_RSH | BPF_K, 31), ret(0)]).is_ok());
    }

    #[test]
    fn jumps_must_stay_inside() {
        let ok = Program::new(vec![
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1),
            ret(0),
            ret(1),
        ]);
        assert!(ok.is_ok());
        let bad = Program::new(vec![
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 2),
            ret(0),
            ret(1),
        ]);
        assert_eq!(
            bad,
            Err(ValidateError::JumpOutOfRange {
                pc: 0,
                target: 3,
                last: 2
            })
        );
        let ja = Program::new(vec![Insn::stmt(BPF_JMP | BPF_JA, 1), ret(0)]);
        assert_eq!(
            ja,
            Err(ValidateError::JumpOutOfRange {
                pc: 0,
                target: 2,
                last: 1
            })
        );
        let ja_huge = Program::new(vec![Insn::stmt(BPF_JMP | BPF_JA, u32::MAX), ret(0)]);
        assert!(matches!(ja_huge, Err(ValidateError::JumpOutOfRange { .. })));
    }

    #[test]
    fn last_instruction_must_return() {
        let p = Program::new(vec![ret(0), Insn::stmt(BPF_LD | BPF_IMM, 1)]);
        assert_eq!(p, Err(ValidateError::NoFinalReturn { pc: 1 }));
    }

    #[test]
    fn scratch_reads_need_writes_on_every_path() {
        let ok = Program::new(vec![
            Insn::stmt(BPF_ST, 3),
            Insn::stmt(BPF_LDX | BPF_MEM, 3),
            ret(0),
        ]);
        assert!(ok.is_ok());
        let unwritten = Program::new(vec![Insn::stmt(BPF_LD | BPF_MEM, 3), ret(0)]);
        assert_eq!(
            unwritten,
            Err(ValidateError::UninitializedMem { pc: 0, slot: 3 })
        );
        // Written only on the fall-through path of a branch.
        let one_path = Program::new(vec![
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
            Insn::stmt(BPF_ST, 0),
            Insn::stmt(BPF_LD | BPF_MEM, 0),
            ret(0),
        ]);
        assert_eq!(
            one_path,
            Err(ValidateError::UninitializedMem { pc: 2, slot: 0 })
        );
        let bad_slot = Program::new(vec![Insn::stmt(BPF_ST, 16), ret(0)]);
        assert_eq!(bad_slot, Err(ValidateError::MemSlot { pc: 0, k: 16 }));
    }

    #[test]
    fn ret_does_not_reset_scratch_state() {
        // Kernel quirk: the scan does not reset its state after a RET, so pc 4 inherits "nothing
        // written" from pc 3 although the only path to pc 4 (0 -> 1 -> 2 -> 4) writes slot 1.
        // Linux rejects this program, so moat does too.
        let p = Program::new(vec![
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2),
            Insn::stmt(BPF_ST, 1),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
            ret(0),
            Insn::stmt(BPF_LD | BPF_MEM, 1),
            ret(1),
        ]);
        assert_eq!(p, Err(ValidateError::UninitializedMem { pc: 4, slot: 1 }));
    }

    #[test]
    fn decode_errors() {
        assert_eq!(
            Program::from_bytes(&[0; 7]),
            Err(DecodeError::Length { len: 7 })
        );
        assert_eq!(
            Program::from_bytes(&[]),
            Err(DecodeError::Invalid(ValidateError::Empty))
        );
        let allow = ret(SECCOMP_RET_ALLOW).to_bytes();
        let p = Program::from_bytes(&allow).unwrap();
        assert_eq!(p.to_bytes(), allow.to_vec());
    }
}
