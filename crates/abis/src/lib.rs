//! moat's filters in real kernels of every ABI.
//!
//! For one ABI, [`run`] compiles a set of policies ([`plan`]), builds a static test program for
//! that ABI (`init.c`, cross-compiled), packs it with the filters and a list of calls into an
//! initramfs, boots a Debian kernel of that ABI under `qemu-system` (TCG) with the program as
//! `/init`, and reads one result line per call back from the serial console. Every result must be
//! what the reference evaluator ([`moat_policy::Policy::evaluate`]) and moat's emulator
//! ([`moat_bpf::emu`]) say, applied to what the same call does in the same kernel without a
//! filter. The same boot checks moat's syscall table: a number the table does not know for the
//! ABI must fail with ENOSYS without a filter.
//!
//! The kernels, qemu and the cross compilers are installed by `scripts/abis-setup` into a cache
//! directory ([`cache_dir`]).

pub mod cases;
pub mod cpio;
pub mod target;
pub mod vm;

use std::fmt;
use std::path::PathBuf;

use moat_bpf::{SeccompData, emu};
use moat_policy::{Action, Context};
use moat_syscalls::Arch;

pub use cases::{Call, Filter, Plan, plan};
pub use target::Target;

/// `SIGSYS` on every ABI tested here.
pub const SIGSYS: i32 = 31;
/// `ENOSYS` on every ABI tested here.
pub const ENOSYS: i32 = 38;

/// Where `scripts/abis-setup` put the kernels and toolchains: `$MOAT_ABIS_CACHE`, default
/// `/var/cache/moat-abis`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("MOAT_ABIS_CACHE")
        .map_or_else(|| PathBuf::from("/var/cache/moat-abis"), PathBuf::from)
}

/// What one call did in the VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Seen {
    /// Returned a non-negative value.
    Ok,
    /// Failed with this errno.
    Err(i32),
    /// The child was killed by this signal during the call.
    Sig(i32),
    /// The child exited with this code during the call (an `exit` syscall).
    Exit(i32),
    /// `seccomp(2)` refused the filter with this errno.
    Load(i32),
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seen::Ok => f.write_str("ok"),
            Seen::Err(e) => write!(f, "errno {e}"),
            Seen::Sig(s) => write!(f, "signal {s}"),
            Seen::Exit(c) => write!(f, "exit {c}"),
            Seen::Load(e) => write!(f, "filter refused with errno {e}"),
        }
    }
}

/// What the kernel does with a call `action` decides, given what the call does when it runs.
pub fn apply(action: Action, natural: Seen) -> Seen {
    match action {
        Action::Allow | Action::Log => natural,
        // The kernel returns -data, capped at MAX_ERRNO (kernel/seccomp.c, __seccomp_filter).
        Action::Errno(0) => Seen::Ok,
        Action::Errno(e) => Seen::Err(i32::from(e.min(4095))),
        Action::KillProcess | Action::KillThread | Action::Trap(_) => Seen::Sig(SIGSYS),
        // Without a tracer or a listener the kernel fails the call with ENOSYS.
        Action::Trace(_) | Action::Notify => Seen::Err(ENOSYS),
    }
}

/// One call whose kernel result differs from the evaluator's or the emulator's.
#[derive(Clone, Debug)]
pub struct Mismatch {
    /// The filter's name.
    pub filter: String,
    /// The syscall number and arguments as the kernel saw them.
    pub nr: u32,
    pub args: [u64; 6],
    /// What the kernel did.
    pub kernel: Seen,
    /// What the evaluator's action makes of the unfiltered result.
    pub evaluator: Seen,
    /// What the emulator's action makes of it.
    pub emulator: Seen,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |a: &[u64; 6]| {
            a.iter()
                .map(|x| format!("{x:#x}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "{}: nr {:#x}({}): kernel {}, evaluator {}, emulator {}",
            self.filter,
            self.nr,
            name(&self.args),
            self.kernel,
            self.evaluator,
            self.emulator
        )
    }
}

/// The outcome of one ABI's run.
#[derive(Clone, Debug)]
pub struct Report {
    /// The ABI.
    pub arch: Arch,
    /// The kernel package and version (from the cache's `version` file).
    pub kernel: String,
    /// Filtered calls compared.
    pub calls: usize,
    /// Filters installed (fault-injected ones included).
    pub filters: usize,
    /// Mismatches on moat's own filters: must be empty.
    pub mismatches: Vec<Mismatch>,
    /// Fault-injected filters that nothing caught (every one must cause a mismatch).
    pub uncaught_faults: Vec<String>,
    /// Numbers moat's table does not know that the kernel implements (did not return ENOSYS).
    pub unknown_implemented: Vec<(u32, Seen)>,
    /// Numbers checked for ENOSYS.
    pub unknown_checked: usize,
    /// Wall time of the VM run, seconds.
    pub seconds: f64,
}

impl Report {
    /// Whether everything matched, every fault was caught and the table agrees.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
            && self.uncaught_faults.is_empty()
            && self.unknown_implemented.is_empty()
    }

    /// A multi-line description of what failed.
    pub fn failures(&self) -> String {
        let mut s = String::new();
        for m in self.mismatches.iter().take(20) {
            s.push_str(&format!("  mismatch {m}\n"));
        }
        if self.mismatches.len() > 20 {
            s.push_str(&format!(
                "  ... {} mismatches in all\n",
                self.mismatches.len()
            ));
        }
        for f in &self.uncaught_faults {
            s.push_str(&format!("  fault not caught: {f}\n"));
        }
        for (nr, seen) in &self.unknown_implemented {
            s.push_str(&format!(
                "  number {nr:#x} is not in moat's {} table but the kernel implements it ({seen})\n",
                self.arch
            ));
        }
        s
    }
}

/// Compiles, boots and compares for `arch`. Errors are failures of the harness itself (a missing
/// tool, a VM that did not finish); mismatches are in the report.
pub fn run(arch: Arch) -> anyhow::Result<Report> {
    let target = Target::of(arch).ok_or_else(|| anyhow::anyhow!("no VM target for {arch}"))?;
    let plan = plan(arch)?;
    let started = std::time::Instant::now();
    let results = vm::boot(&target, &plan)?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(compare(&target, &plan, &results, seconds))
}

/// Compares the VM's results with the evaluator and the emulator.
pub fn compare(target: &Target, plan: &Plan, results: &[Seen], seconds: f64) -> Report {
    let arch = target.arch;
    let audit = arch.audit_arch();
    let ctx = Context::default();
    let mut mismatches = Vec::new();
    let mut caught = vec![false; plan.filters.len()];
    let mut calls = 0;
    for (i, call) in plan.calls.iter().enumerate() {
        let Some(fi) = call.filter else { continue };
        let filter = &plan.filters[fi];
        let natural = results[call.twin.unwrap_or(i)];
        let kernel = results[i];
        let evaluator = apply(
            filter
                .policy
                .evaluate(&ctx, audit, call.nr, call.args)
                .action,
            natural,
        );
        let ret = emu::run(
            &filter.program,
            &SeccompData::new(audit, call.nr, call.args),
        )
        .ret;
        let emulator = apply(Action::from_ret(ret), natural);
        calls += 1;
        if kernel != evaluator || kernel != emulator {
            caught[fi] = true;
            if filter.fault.is_none() {
                mismatches.push(Mismatch {
                    filter: filter.name.clone(),
                    nr: call.nr,
                    args: call.args,
                    kernel,
                    evaluator,
                    emulator,
                });
            }
        }
    }
    let uncaught_faults = plan
        .filters
        .iter()
        .zip(&caught)
        .filter(|(f, c)| f.fault.is_some() && !**c)
        .map(|(f, _)| format!("{}: {}", f.name, f.fault.as_deref().unwrap_or_default()))
        .collect();
    let mut unknown_implemented = Vec::new();
    for &i in &plan.unknown {
        // arm's 0xf0000 (`__ARM_NR_BASE` itself) is "branch through zero": the kernel raises
        // SIGSEGV instead of failing with ENOSYS (arch/arm/kernel/traps.c, arm_syscall).
        if arch == Arch::Arm && plan.calls[i].nr == 0xf_0000 && results[i] == Seen::Sig(11) {
            continue;
        }
        if results[i] != Seen::Err(ENOSYS) {
            unknown_implemented.push((plan.calls[i].nr, results[i]));
        }
    }
    Report {
        arch,
        kernel: target.kernel_version(),
        calls,
        filters: plan.filters.len(),
        mismatches,
        uncaught_faults,
        unknown_implemented,
        unknown_checked: plan.unknown.len(),
        seconds,
    }
}
