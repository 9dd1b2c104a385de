//! moat-compile: compiles a [`Policy`] into a seccomp BPF [`Program`] for a set of ABIs.
//!
//! What it does: it consumes [`Policy::lower`] and lays out one program that covers every
//! accepted ABI:
//!
//! 1. `LD arch` and one `JEQ` per distinct `AUDIT_ARCH_*` value; any other architecture returns
//!    `badarch`. x32 shares `AUDIT_ARCH_X86_64` with x86_64 and is told apart by bit 30 of the
//!    number (`__X32_SYSCALL_BIT`), so both live in one search below.
//! 2. `LD nr` and a search tree of `JGE` over the maximal intervals of numbers that share an
//!    outcome. The intervals cover the whole 32-bit space, so x32 numbers, `-1` and numbers above
//!    the table need no separate range checks. Without weights the tree is balanced (depth
//!    ⌈log2 M⌉ for M intervals); with [`Weights`] it is the optimal alphabetic tree for the
//!    recorded call frequencies.
//! 3. Argument checks in blocks after the tree, hash-consed: identical rule chains and identical
//!    chain suffixes are emitted once. 32-bit parameters are compared on the low word only,
//!    64-bit parameters on both halves.
//! 4. One `RET` per distinct action, at the end.
//!
//! Every syscall whose verdict is an unconditional `allow` is reached through loads of `arch`
//! and `nr`, `JEQ`/`JGE` and `RET ALLOW` only, so the kernel's constant-action cache (Linux
//! 5.11+) serves it without running the filter. [`report`] measures what the program costs.
//!
//! What it does not do: it does not parse policies (`moat-policy`), install filters (`moat-sys`)
//! or export other formats (`moat-export`).
//!
//! Byte order: argument words are read in the layout of each ABI ([`moat_bpf::ByteOrder`]): the
//! low word of an argument at `16 + 8 * i` on little-endian ABIs, at `16 + 8 * i + 4` on s390x.
//! The program itself is the same instructions for every ABI; [`Compiled::byte_order`] says in
//! which order its raw bytes must be written for the kernels it targets.

#![deny(missing_docs)]

mod emit;
mod layout;
pub mod report;
mod weights;

use moat_bpf::builder::BuildError;
use moat_bpf::{ByteOrder, Program};
use moat_policy::{Context, Location, LowerError, Lowered, Policy};
use moat_syscalls::Arch;

pub use report::{AbiReport, Report, SyscallCost, report};
pub use weights::{Weights, WeightsError};

/// What to compile for, besides the policy itself.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Resolves `when` guards (capabilities, kernel version).
    pub ctx: Context,
    /// Call frequencies: when present the search tree minimises the expected number of executed
    /// instructions instead of the worst case.
    pub weights: Option<Weights>,
}

/// A compiled policy.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The program, validated by the kernel's loader rules.
    pub program: Program,
    /// The lowering it was compiled from (what [`report`] and tests interpret).
    pub lowered: Lowered,
    /// One entry per distinct `AUDIT_ARCH_*` value, in the order the program checks them.
    pub dispatch: Vec<Dispatch>,
}

/// The search over syscall numbers for one `AUDIT_ARCH_*` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dispatch {
    /// The `AUDIT_ARCH_*` value.
    pub audit_arch: u32,
    /// The accepted ABIs it serves (x86_64 and x32 share one value).
    pub abis: Vec<Arch>,
    /// M: the number of maximal intervals of the 32-bit number space with one outcome.
    pub intervals: usize,
    /// Depth of the deepest leaf of the search tree (⌈log2 M⌉ when balanced).
    pub depth: usize,
}

/// Why a policy could not be compiled.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// The policy cannot be lowered (a condition cannot be enforced on an ABI).
    #[error(transparent)]
    Lower(#[from] LowerError),
    /// The program would exceed the kernel's limit; it is never truncated.
    #[error("{}program needs {len} instructions, the kernel accepts at most 4096{}",
        .location.as_ref().map(|l| format!("{}:{}: ", l.origin, l.span)).unwrap_or_default(),
        if .location.is_some() { format!("; the argument checks of this rule take {} of them", .culprit) } else { String::new() })]
    #[doc(alias = "BPF_MAXINSNS")]
    TooLong {
        /// Instructions the layout needs.
        len: usize,
        /// The rule whose argument checks take the most instructions, if any.
        location: Option<Location>,
        /// How many instructions that rule's checks take.
        culprit: usize,
    },
    /// The builder rejected the layout (a bug in this crate).
    #[error("internal error: {0}")]
    Build(BuildError),
}

/// The program targets ABIs of both byte orders: no one encoding of its raw bytes loads on all
/// of them (an s390x kernel reads `struct sock_filter` big-endian, the others little-endian).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the program targets big-endian {big} and little-endian {little}: its raw bytes cannot be loaded by both kernels; compile them separately (`arch {big}` / `--arch`) or choose an order with --byte-order"
)]
pub struct MixedByteOrder {
    /// A big-endian ABI it targets.
    pub big: Arch,
    /// A little-endian ABI it targets.
    pub little: Arch,
}

impl Compiled {
    /// The byte order of the kernels the program targets: that of every ABI it accepts
    /// (little-endian when it accepts none).
    pub fn byte_order(&self) -> Result<ByteOrder, MixedByteOrder> {
        let of = |o| {
            self.lowered
                .abis
                .iter()
                .map(|a| a.arch)
                .find(|&a| ByteOrder::of(a) == o)
        };
        match (of(ByteOrder::Big), of(ByteOrder::Little)) {
            (Some(big), Some(little)) => Err(MixedByteOrder { big, little }),
            (Some(_), None) => Ok(ByteOrder::Big),
            _ => Ok(ByteOrder::Little),
        }
    }
}

/// Compiles `policy` for the ABIs it accepts.
pub fn compile(policy: &Policy, options: &Options) -> Result<Compiled, CompileError> {
    let lowered = policy.lower(&options.ctx)?;
    let (program, dispatch) = emit::emit(&lowered, options.weights.as_ref(), |rule| {
        policy.rules().get(rule).map(|r| r.location.clone())
    })?;
    Ok(Compiled {
        program,
        lowered,
        dispatch,
    })
}
