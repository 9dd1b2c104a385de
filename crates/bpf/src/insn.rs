//! One classic BPF instruction and the data a seccomp filter runs on.

use crate::consts::{OFFSET_ARCH, OFFSET_ARGS, OFFSET_IP, OFFSET_NR, SECCOMP_DATA_SIZE};

/// The byte order of an ABI: how the kernel lays out `struct seccomp_data`'s 64-bit fields and
/// `struct sock_filter`'s `code` and `k` (both native-endian C structs).
///
/// On a big-endian ABI (s390x) the high 32 bits of `args[i]` are the word at `16 + 8 * i` and
/// the low 32 bits the word at `16 + 8 * i + 4`; on a little-endian one it is the other way
/// round. The kernel fills `seccomp_data` with `syscall_get_arguments()` into a `u64[6]`
/// (`populate_seccomp_data()` in `kernel/seccomp.c`), so the layout is the CPU's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ByteOrder {
    /// Least significant byte first (x86, arm, aarch64, riscv64, ppc64le, loongarch64).
    Little,
    /// Most significant byte first (s390x).
    Big,
}

/// `__AUDIT_ARCH_LE` (`include/uapi/linux/audit.h`): set in every little-endian `AUDIT_ARCH_*`.
const AUDIT_ARCH_LE: u32 = 0x4000_0000;

impl ByteOrder {
    /// The byte order of the ABI an `AUDIT_ARCH_*` value names: little-endian exactly when
    /// `__AUDIT_ARCH_LE` is set (`AUDIT_ARCH_S390X` = `0x80000016` lacks it).
    pub const fn of_audit_arch(audit_arch: u32) -> ByteOrder {
        if audit_arch & AUDIT_ARCH_LE != 0 {
            ByteOrder::Little
        } else {
            ByteOrder::Big
        }
    }

    /// The byte order of an ABI.
    pub const fn of(arch: moat_syscalls::Arch) -> ByteOrder {
        ByteOrder::of_audit_arch(arch.audit_arch())
    }

    /// Offset of the low 32 bits of argument `index` (0..=5).
    pub const fn arg_lo(self, index: u8) -> u32 {
        let base = OFFSET_ARGS + 8 * index as u32;
        match self {
            ByteOrder::Little => base,
            ByteOrder::Big => base + 4,
        }
    }

    /// Offset of the high 32 bits of argument `index` (0..=5).
    pub const fn arg_hi(self, index: u8) -> u32 {
        let base = OFFSET_ARGS + 8 * index as u32;
        match self {
            ByteOrder::Little => base + 4,
            ByteOrder::Big => base,
        }
    }

    /// Offset of the low 32 bits of `instruction_pointer`.
    pub const fn ip_lo(self) -> u32 {
        match self {
            ByteOrder::Little => OFFSET_IP,
            ByteOrder::Big => OFFSET_IP + 4,
        }
    }

    /// True when the word at `offset` (8..64, 4-aligned) is the high half of its 64-bit field.
    pub const fn is_high_word(self, offset: u32) -> bool {
        let second = offset & 4 != 0;
        match self {
            ByteOrder::Little => second,
            ByteOrder::Big => !second,
        }
    }

    /// The name used on the command line and in messages: `little` or `big`.
    pub const fn name(self) -> &'static str {
        match self {
            ByteOrder::Little => "little",
            ByteOrder::Big => "big",
        }
    }
}

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
        self.to_bytes_in(ByteOrder::Little)
    }

    /// The 8-byte encoding in `order` (`code` and `k` are native-endian in `struct sock_filter`:
    /// an s390x kernel reads them big-endian).
    pub const fn to_bytes_in(self, order: ByteOrder) -> [u8; 8] {
        let (c, k) = match order {
            ByteOrder::Little => (self.code.to_le_bytes(), self.k.to_le_bytes()),
            ByteOrder::Big => (self.code.to_be_bytes(), self.k.to_be_bytes()),
        };
        [c[0], c[1], self.jt, self.jf, k[0], k[1], k[2], k[3]]
    }

    /// Decodes the 8-byte little-endian encoding.
    pub const fn from_bytes(b: [u8; 8]) -> Insn {
        Insn::from_bytes_in(b, ByteOrder::Little)
    }

    /// Decodes the 8-byte encoding in `order`.
    pub const fn from_bytes_in(b: [u8; 8], order: ByteOrder) -> Insn {
        let (code, k) = match order {
            ByteOrder::Little => (
                u16::from_le_bytes([b[0], b[1]]),
                u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            ),
            ByteOrder::Big => (
                u16::from_be_bytes([b[0], b[1]]),
                u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            ),
        };
        Insn {
            code,
            jt: b[2],
            jf: b[3],
            k,
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

    /// The 32-bit word a `BPF_LD|BPF_W|BPF_ABS` at `offset` reads, in the layout of the ABI
    /// `arch` names ([`ByteOrder::of_audit_arch`]): on little-endian ABIs the low half of a
    /// 64-bit field comes first, on s390x the high half. `None` for an offset that is not
    /// 4-aligned or not below 64, which no valid program contains.
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
        let (hi, lo) = split(word);
        if ByteOrder::of_audit_arch(self.arch).is_high_word(offset) {
            Some(hi)
        } else {
            Some(lo)
        }
    }
}

/// The high and low 32 bits of a 64-bit value.
const fn split(x: u64) -> (u32, u32) {
    let b = x.to_be_bytes();
    (
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
    )
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

    /// s390x: offsets computed by hand from `struct seccomp_data` on a big-endian CPU (args[0]
    /// is bytes 16..24, most significant first, so its high word is at 16, its low word at 20).
    #[test]
    fn s390x_loads_the_high_word_first() {
        let mut d = SeccompData::new(
            0x8000_0016,
            120,
            [0x1111_2222_3333_4444, 0, 0, 0, 0, 0xffff_ffff_0000_0001],
        );
        d.instruction_pointer = 0xaaaa_bbbb_cccc_dddd;
        assert_eq!(d.load(0), Some(120));
        assert_eq!(d.load(4), Some(0x8000_0016));
        assert_eq!(d.load(8), Some(0xaaaa_bbbb));
        assert_eq!(d.load(12), Some(0xcccc_dddd));
        assert_eq!(d.load(16), Some(0x1111_2222));
        assert_eq!(d.load(20), Some(0x3333_4444));
        assert_eq!(d.load(56), Some(0xffff_ffff));
        assert_eq!(d.load(60), Some(1));
        let be = ByteOrder::of(moat_syscalls::Arch::S390x);
        assert_eq!(be, ByteOrder::Big);
        assert_eq!((be.arg_lo(0), be.arg_hi(0)), (20, 16));
        assert_eq!((be.arg_lo(5), be.arg_hi(5)), (60, 56));
        assert_eq!(be.ip_lo(), 12);
        for a in moat_syscalls::Arch::ALL {
            let want = if a == moat_syscalls::Arch::S390x {
                ByteOrder::Big
            } else {
                ByteOrder::Little
            };
            assert_eq!(ByteOrder::of(a), want, "{a:?}");
        }
    }

    #[test]
    fn sock_filter_bytes_follow_the_byte_order() {
        let i = Insn::new(0x15, 1, 2, 0xc000_003e);
        let be = i.to_bytes_in(ByteOrder::Big);
        assert_eq!(be, [0, 0x15, 1, 2, 0xc0, 0, 0, 0x3e]);
        assert_eq!(Insn::from_bytes_in(be, ByteOrder::Big), i);
    }
}
