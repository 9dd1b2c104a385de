//! Classic BPF for seccomp: instructions, validated programs, a label-based builder, an
//! assembler and disassembler, an emulator and an emulation of the kernel's constant-allow cache.
//!
//! # Terminology
//! - An [`Insn`] is one `struct sock_filter`: opcode `code`, jump offsets `jt`/`jf` (relative to
//!   the next instruction, 8-bit, forward only) and operand `k`.
//! - A [`Program`] is a sequence of instructions the kernel's seccomp loader accepts; the only
//!   ways to obtain one validate it ([`Program::new`], [`Program::from_bytes`],
//!   [`builder::Builder::finish`], [`asm::assemble`]).
//! - The filter reads a [`SeccompData`] (`struct seccomp_data`: `nr`, `arch`,
//!   `instruction_pointer`, `args[6]`) with 32-bit loads, and returns a `SECCOMP_RET_*` value
//!   (see [`consts`]): the action in the high 16 bits, data such as an errno in the low 16.
//! - An ABI is identified by `arch` (an `AUDIT_ARCH_*` value) plus, for x32, bit 30 of `nr`;
//!   [`moat_syscalls::Arch`] names them.
//!
//! # What it does not do
//! It does not compile policies (that is `moat-compile`), does not install filters (that is
//! `moat-sys`, the only crate with `unsafe`), and does not model stacked filters. eBPF is out of
//! scope.
//!
//! # Byte order
//! `seccomp_data` and `sock_filter` are native-endian C structs. On every ABI moat targets but
//! s390x the low word of a 64-bit argument is at `16 + 8 * i`; on s390x (big-endian) the high
//! word is there and the low word at `16 + 8 * i + 4`, and `code`/`k` of each instruction are
//! big-endian. [`ByteOrder`] names the two layouts; the emulator picks the layout from the
//! data's `arch` ([`ByteOrder::of_audit_arch`]), the disassembler and assembler from the
//! architecture the program checked.

#![deny(missing_docs)]

pub mod asm;
pub mod builder;
pub mod cache;
pub mod consts;
pub mod disasm;
pub mod emu;
mod insn;
mod program;
pub mod sym;

pub use insn::{ByteOrder, Insn, SeccompData};
pub use program::{DecodeError, Program, ValidateError, opcode_name, seccomp_allows};
