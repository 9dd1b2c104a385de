//! One classic BPF instruction and the data a seccomp filter runs on.

use crate::consts::{OFFSET_ARCH, OFFSET_ARGS, OFFSET_IP, OFFSET_NR, SECCOMP_DATA_SIZE};

/// One classic BPF instruction, laid out like the kernel's `struct sock_filter`.
#[doc(alias = "sock_filter")]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Insn {
    /// Opcode: class, size/operation, mode/source bits.
    pub code: u16,
    /// Jump offset when the condition holds (relative to the next instruction).
    pub jt: u8,
    /// Jump offset when the condition does not hold.
    pub jf: u8,
    /// Generic operand: constant, offset, jump distance or return value.
    pub k: u32,
}

impl Insn {
    /// Size of one encoded instruction in bytes.
    pub const SIZE: usize = 8;

    /// An instruction from its four fields.
    pub const fn new(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
        Insn { code, jt, jf, k }
    }

    /// A non-jump instruction (`BPF_STMT`).
    #[doc(alias = "BPF_STMT")]
    pub const fn stmt(code: u16, k: u32) -> Insn {
        Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }

    /// A jump instruction (`BPF_JUMP`).
    #[doc(alias = "BPF_JUMP")]
    pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
        Insn { code, jt, jf, k }
    }

    /// The 8-byte little-endian encoding.
    pub const fn to_bytes(self) -> [u8; 8] {
        let c = self.code.to_le_bytes();
        let k = self.k.to_le_bytes();
        [c[0], c[1], self.jt, self.jf, k[0], k[1], k[2], k[3]]
    }

    /// Decodes the 8-byte little-endian encoding.
    pub const fn from_bytes(b: [u8; 8]) -> Insn {
        Insn {
            code: u16::from_le_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

/// The input of a seccomp filter, laid out like the kernel's `struct seccomp_data`.
#[doc(alias = "seccomp_data")]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeccompData {
    /// Syscall number as seen by the ABI (x32 numbers include `0x4000_0000`).
    pub nr: u32,
    /// `AUDIT_ARCH_*` value of the calling ABI.
    pub arch: u32,
    /// Address of the syscall instruction.
    pub instruction_pointer: u64,
    /// Syscall arguments, zero-extended registers.
    pub args: [u64; 6],
}

impl SeccompData {
    /// Data for a call with `nr` on `arch` (an `AUDIT_ARCH_*` value); the instruction pointer is 0.
    pub const fn new(arch: u32, nr: u32, args: [u64; 6]) -> SeccompData {
        SeccompData {
            nr,
            arch,
            instruction_pointer: 0,
            args,
        }
    }

    /// The 32-bit word a `BPF_LD|BPF_W|BPF_ABS` at `offset` reads, in the little-endian layout
    /// (the low half of a 64-bit field comes first). `None` for an offset that is not 4-aligned
    /// or not below 64, which no valid program contains.
    pub const fn load(&self, offset: u32) -> Option<u32> {
        if offset >= SECCOMP_DATA_SIZE || offset & 3 != 0 {
            return None;
        }
        let word = match offset {
            OFFSET_NR => return Some(self.nr),
            OFFSET_ARCH => return Some(self.arch),
            o if o < OFFSET_ARGS => self.instruction_pointer,
            o => self.args[((o - OFFSET_ARGS) / 8) as usize],
        };
        if offset & 7 == 0 {
            Some((word & 0xffff_ffff) as u32)
        } else {
            Some((word >> 32) as u32)
        }
    }
}

// OFFSET_IP is only used through the range above; keep the name referenced for readers.
const _: () = assert!(OFFSET_IP == 8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insn_bytes_round_trip() {
        let i = Insn::new(0x15, 1, 2, 0xc000_003e);
        assert_eq!(i.to_bytes(), [0x15, 0, 1, 2, 0x3e, 0, 0, 0xc0]);
        assert_eq!(Insn::from_bytes(i.to_bytes()), i);
    }

    #[test]
    fn load_reads_low_word_first() {
        let mut d = SeccompData::new(
            0xc000_003e,
            39,
            [0x1111_2222_3333_4444, 0, 0, 0, 0, 0xffff_ffff_0000_0001],
        );
        d.instruction_pointer = 0xaaaa_bbbb_cccc_dddd;
        assert_eq!(d.load(0), Some(39));
        assert_eq!(d.load(4), Some(0xc000_003e));
        assert_eq!(d.load(8), Some(0xcccc_dddd));
        assert_eq!(d.load(12), Some(0xaaaa_bbbb));
        assert_eq!(d.load(16), Some(0x3333_4444));
        assert_eq!(d.load(20), Some(0x1111_2222));
        assert_eq!(d.load(56), Some(1));
        assert_eq!(d.load(60), Some(0xffff_ffff));
        assert_eq!(d.load(64), None);
        assert_eq!(d.load(2), None);
    }
}
