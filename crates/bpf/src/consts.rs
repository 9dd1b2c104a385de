//! Classic BPF opcode fields, seccomp return values and `struct seccomp_data` offsets.
//!
//! The names are the kernel's own (`include/uapi/linux/bpf_common.h`, `include/uapi/linux/filter.h`,
//! `include/uapi/linux/seccomp.h`), so code written against the C headers reads the same here.

// Instruction classes (`BPF_CLASS(code)`, the low three bits).

/// Class: load into the accumulator A.
pub const BPF_LD: u16 = 0x00;
/// Class: load into the index register X.
pub const BPF_LDX: u16 = 0x01;
/// Class: store A into scratch memory.
pub const BPF_ST: u16 = 0x02;
/// Class: store X into scratch memory.
pub const BPF_STX: u16 = 0x03;
/// Class: arithmetic and logic on A.
pub const BPF_ALU: u16 = 0x04;
/// Class: jumps.
pub const BPF_JMP: u16 = 0x05;
/// Class: return from the filter.
pub const BPF_RET: u16 = 0x06;
/// Class: register transfers (`TAX`, `TXA`).
pub const BPF_MISC: u16 = 0x07;

// Load sizes (`BPF_SIZE(code)`).

/// Size: 32-bit word (the only size seccomp accepts).
pub const BPF_W: u16 = 0x00;
/// Size: 16-bit half word (rejected by seccomp).
pub const BPF_H: u16 = 0x08;
/// Size: byte (rejected by seccomp).
pub const BPF_B: u16 = 0x10;

// Load modes (`BPF_MODE(code)`).

/// Mode: immediate `k`.
pub const BPF_IMM: u16 = 0x00;
/// Mode: absolute offset `k` into the input (`struct seccomp_data`).
pub const BPF_ABS: u16 = 0x20;
/// Mode: offset `X + k` (rejected by seccomp).
pub const BPF_IND: u16 = 0x40;
/// Mode: scratch memory slot `k`.
pub const BPF_MEM: u16 = 0x60;
/// Mode: input length (seccomp turns it into the constant 64).
pub const BPF_LEN: u16 = 0x80;
/// Mode: IP header length helper (rejected by seccomp).
pub const BPF_MSH: u16 = 0xa0;

// ALU and jump operations (`BPF_OP(code)`).

/// ALU: `A += src`.
pub const BPF_ADD: u16 = 0x00;
/// ALU: `A -= src`.
pub const BPF_SUB: u16 = 0x10;
/// ALU: `A *= src`.
pub const BPF_MUL: u16 = 0x20;
/// ALU: `A /= src`.
pub const BPF_DIV: u16 = 0x30;
/// ALU: `A |= src`.
pub const BPF_OR: u16 = 0x40;
/// ALU: `A &= src`.
pub const BPF_AND: u16 = 0x50;
/// ALU: `A <<= src`.
pub const BPF_LSH: u16 = 0x60;
/// ALU: `A >>= src`.
pub const BPF_RSH: u16 = 0x70;
/// ALU: `A = -A`.
pub const BPF_NEG: u16 = 0x80;
/// ALU: `A %= src` (accepted by classic BPF, rejected by seccomp).
pub const BPF_MOD: u16 = 0x90;
/// ALU: `A ^= src`.
pub const BPF_XOR: u16 = 0xa0;

/// Jump: unconditional, `pc += k`.
pub const BPF_JA: u16 = 0x00;
/// Jump: `A == src`.
pub const BPF_JEQ: u16 = 0x10;
/// Jump: `A > src` (unsigned).
pub const BPF_JGT: u16 = 0x20;
/// Jump: `A >= src` (unsigned).
pub const BPF_JGE: u16 = 0x30;
/// Jump: `A & src != 0`.
pub const BPF_JSET: u16 = 0x40;

// Operand sources (`BPF_SRC(code)`, `BPF_RVAL(code)`).

/// Source: the constant `k`.
pub const BPF_K: u16 = 0x00;
/// Source: the index register X.
pub const BPF_X: u16 = 0x08;
/// Return source: the accumulator A.
pub const BPF_A: u16 = 0x10;

// BPF_MISC operations (`BPF_MISCOP(code)`).

/// Misc: `X = A`.
pub const BPF_TAX: u16 = 0x00;
/// Misc: `A = X`.
pub const BPF_TXA: u16 = 0x80;

/// Maximum number of instructions in one filter.
pub const BPF_MAXINSNS: usize = 4096;
/// Number of 32-bit scratch memory slots.
pub const BPF_MEMWORDS: u32 = 16;

/// The class bits of an opcode.
#[doc(alias = "BPF_CLASS")]
pub const fn class(code: u16) -> u16 {
    code & 0x07
}
/// The operation bits of an ALU or jump opcode.
#[doc(alias = "BPF_OP")]
pub const fn op(code: u16) -> u16 {
    code & 0xf0
}
/// The source bit of an ALU or jump opcode.
#[doc(alias = "BPF_SRC")]
pub const fn src(code: u16) -> u16 {
    code & 0x08
}

// Seccomp return values (`include/uapi/linux/seccomp.h`). The high 16 bits select the action,
// the low 16 bits carry data (an errno, a trap or trace value). When several filters are stacked,
// the action with the lowest value, compared as signed 32-bit, wins.

/// Kill the whole process (Linux 4.14).
pub const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
/// Kill the calling thread (also known as `SECCOMP_RET_KILL`).
#[doc(alias = "SECCOMP_RET_KILL")]
pub const SECCOMP_RET_KILL_THREAD: u32 = 0x0000_0000;
/// Send `SIGSYS` to the thread; the data is delivered in `si_errno`.
pub const SECCOMP_RET_TRAP: u32 = 0x0003_0000;
/// Skip the syscall and return `-data` (capped at 4095) as its error.
pub const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
/// Ask a user-space supervisor through the notification fd (Linux 5.0).
pub const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
/// Notify a ptrace tracer; without one the syscall fails with `ENOSYS`.
pub const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
/// Allow the syscall and log it (Linux 4.14).
pub const SECCOMP_RET_LOG: u32 = 0x7ffc_0000;
/// Allow the syscall.
pub const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
/// Mask of the action part of a return value.
pub const SECCOMP_RET_ACTION_FULL: u32 = 0xffff_0000;
/// Mask of the data part of a return value.
pub const SECCOMP_RET_DATA: u32 = 0x0000_ffff;

/// The largest errno the kernel reports for `SECCOMP_RET_ERRNO`; larger data is capped to it.
pub const MAX_ERRNO: u32 = 4095;

/// The kernel's `ACTION_ONLY(ret)`: the action part of a return value as a signed 32-bit
/// number. Among stacked filters the lowest value wins, so `SECCOMP_RET_KILL_PROCESS`
/// (0x80000000, negative) beats everything and `SECCOMP_RET_ALLOW` loses to everything.
#[doc(alias = "ACTION_ONLY")]
pub const fn action_only(ret: u32) -> i32 {
    i32::from_ne_bytes((ret & SECCOMP_RET_ACTION_FULL).to_ne_bytes())
}

/// The return value the kernel acts on when a filter returning `older` was attached before one
/// returning `newer`: the strictly lower [`action_only`] wins, and on a tie the newer filter's
/// value (with its data) is kept. kernel/seccomp.c, `seccomp_run_filters`, walks from the newest
/// filter with `if (ACTION_ONLY(cur_ret) < ACTION_ONLY(ret)) ret = cur_ret;`. Folding a stack
/// oldest first with this function gives the kernel's answer; with no filter at all the call is
/// allowed.
#[doc(alias = "seccomp_run_filters")]
pub const fn stacked(older: u32, newer: u32) -> u32 {
    if action_only(older) < action_only(newer) {
        older
    } else {
        newer
    }
}

/// `SECCOMP_RET_ERRNO` with `errno` as data.
pub const fn ret_errno(errno: u16) -> u32 {
    SECCOMP_RET_ERRNO | errno as u32
}

// `struct seccomp_data` layout. moat reads 64-bit fields as two 32-bit words. The offsets below
// are the little-endian layout (low word first), used by every ABI moat targets except s390x;
// `crate::ByteOrder` gives the offsets for either layout.

/// `sizeof(struct seccomp_data)`: the only valid range for `BPF_LD|BPF_W|BPF_ABS` offsets.
#[doc(alias = "sizeof(struct seccomp_data)")]
pub const SECCOMP_DATA_SIZE: u32 = 64;
/// Offset of `nr`, the syscall number.
pub const OFFSET_NR: u32 = 0;
/// Offset of `arch`, the `AUDIT_ARCH_*` value of the calling ABI.
pub const OFFSET_ARCH: u32 = 4;
/// Offset of the low word of `instruction_pointer`.
pub const OFFSET_IP: u32 = 8;
/// Offset of `args[0]`.
pub const OFFSET_ARGS: u32 = 16;

/// Offset of the low 32 bits of argument `index` (0..=5) on a little-endian ABI.
pub const fn offset_arg_lo(index: u8) -> u32 {
    OFFSET_ARGS + 8 * index as u32
}
/// Offset of the high 32 bits of argument `index` (0..=5) on a little-endian ABI.
pub const fn offset_arg_hi(index: u8) -> u32 {
    offset_arg_lo(index) + 4
}
