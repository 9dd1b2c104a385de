//! moat-analyze: questions about policies and filters, answered exactly where possible.
//!
//! What it does:
//! - [`diff()`]: the semantic difference of two policies per ABI and syscall, argument
//!   conditions included, decided on the conditions themselves ([`solve`] decides conjunctions
//!   of `(arg & mask) OP value` atoms exactly, [`region`] splits each syscall's argument space
//!   into regions with constant verdicts). [`subset()`] proves that one policy is never more
//!   permissive than another or returns a counterexample call.
//! - [`lint()`]: findings with stable codes, spans and fixes.
//! - [`test`]: policy unit tests (`x86_64 openat(AT_FDCWD, *, O_RDONLY) = allow`).
//! - [`Filters`]: a stack of raw BPF programs (from a file or a live process) evaluated with the
//!   kernel's precedence rules, so every analysis also accepts raw BPF. Programs cannot be
//!   reasoned about symbolically here: for them the analyses evaluate every syscall number and
//!   boundary values of every constant in the programs, and say so.
//!
//! What it does not do: read files or processes (the CLI and `moat-sys` do), or compile policies.

#![deny(missing_docs)]

pub mod describe;
pub mod diff;
pub mod exact;
pub mod explain;
pub mod filters;
pub mod lint;
pub mod region;
pub mod solve;
pub mod test;
pub mod validate;

use moat_bpf::Program;
use moat_policy::{Action, Context, LowerError, Lowered, Policy};
use moat_syscalls::Arch;

pub use diff::{Diff, Difference, Disagreement, Subset, agree, diff, subset, subset_by};
pub use filters::Filters;
pub use lint::{Finding, Level, lint};

/// Something to analyse: a policy (any input format, once parsed) or raw filters.
#[derive(Clone, Debug)]
pub enum Subject {
    /// A policy and its lowering for one context.
    Policy {
        /// The policy.
        policy: Box<Policy>,
        /// Its lowering.
        lowered: Lowered,
    },
    /// Raw BPF programs, oldest first.
    Filters(Filters),
}

/// Why an analysis could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalyzeError {
    /// The policy cannot be lowered.
    #[error(transparent)]
    Lower(#[from] LowerError),
    /// The case split exceeded its limit.
    #[error("{syscall} on {arch}")]
    TooComplex {
        /// The ABI.
        arch: Arch,
        /// The syscall.
        syscall: String,
        /// The limit.
        source: region::TooComplex,
    },
    /// An exact relation of several subjects was asked of raw BPF.
    #[error("{origin}: raw BPF can only be sampled, not related exactly")]
    NotPolicy {
        /// The subject's name.
        origin: String,
    },
}

impl Subject {
    /// A policy subject, lowered for `ctx`.
    pub fn policy(policy: Policy, ctx: &Context) -> Result<Subject, AnalyzeError> {
        let lowered = policy.lower(ctx)?;
        Ok(Subject::Policy {
            policy: Box::new(policy),
            lowered,
        })
    }

    /// A subject for raw programs (oldest first, as the kernel attached them).
    pub fn filters(programs: Vec<Program>, origin: &str) -> Subject {
        Subject::Filters(Filters::new(programs, origin))
    }

    /// The name shown in messages: the policy's origin or the programs' origin.
    pub fn origin(&self) -> &str {
        match self {
            Subject::Policy { policy, .. } => policy.origin(),
            Subject::Filters(f) => &f.origin,
        }
    }

    /// The action for one call.
    pub fn action(&self, audit_arch: u32, nr: u32, args: &[u64; 6]) -> Action {
        match self {
            Subject::Policy { lowered, .. } => lowered.action(audit_arch, nr, args),
            Subject::Filters(f) => f.action(audit_arch, nr, args),
        }
    }

    /// True when the verdict for `(audit_arch, nr)` may depend on the arguments (or the
    /// instruction pointer). `false` is exact; `true` may be conservative for programs.
    pub fn reads_args(&self, audit_arch: u32, nr: u32) -> bool {
        match self {
            Subject::Policy { lowered, .. } => {
                let Some(abi) = Arch::of(audit_arch, nr)
                    .and_then(|a| lowered.abis.iter().find(|x| x.arch == a))
                else {
                    return false;
                };
                abi.syscalls
                    .get(&nr)
                    .is_some_and(|rules| rules.iter().any(|r| r.cond != moat_policy::Cond::True))
            }
            Subject::Filters(f) => f.reads_args(audit_arch, nr),
        }
    }

    /// Word-sized constants the subject compares arguments with (for boundary-value sampling).
    pub fn constants(&self) -> Vec<u64> {
        match self {
            Subject::Policy { lowered, .. } => {
                let mut out = Vec::new();
                for abi in &lowered.abis {
                    for rules in abi.syscalls.values() {
                        for r in rules {
                            collect_cmps(&r.cond, &mut out);
                        }
                    }
                }
                out.sort_unstable();
                out.dedup();
                out
            }
            Subject::Filters(f) => f.constants(),
        }
    }
}

fn collect_cmps(c: &moat_policy::Cond, out: &mut Vec<u64>) {
    match c {
        moat_policy::Cond::Cmp(c) => {
            out.push(c.value);
            out.push(c.mask);
        }
        moat_policy::Cond::And(v) | moat_policy::Cond::Or(v) => {
            v.iter().for_each(|c| collect_cmps(c, out));
        }
        moat_policy::Cond::Not(c) => collect_cmps(c, out),
        moat_policy::Cond::True | moat_policy::Cond::False => {}
    }
}

/// Compiles a policy with `moat-compile` for `ctx` (what `moat test` and the cache lint check).
pub fn compile(policy: &Policy, ctx: &Context) -> Result<Program, moat_compile::CompileError> {
    let options = moat_compile::Options {
        ctx: *ctx,
        ..moat_compile::Options::default()
    };
    moat_compile::compile(policy, &options).map(|c| c.program)
}

/// The syscall name for a number on an ABI, if known.
pub fn syscall_name(arch: Arch, nr: u32) -> Option<&'static str> {
    arch.by_nr(nr).map(|s| s.name)
}
