//! Raw BPF filters: a stack of programs evaluated as the kernel does, and the sample space the
//! analyses use for them (every syscall number plus boundary values).

use moat_bpf::consts::{
    BPF_ABS, BPF_ALU, BPF_AND, BPF_JMP, BPF_K, BPF_LD, BPF_W, SECCOMP_RET_ALLOW, stacked,
};
use moat_bpf::{Program, SeccompData, emu};
use moat_policy::Action;
use moat_syscalls::Arch;

/// Offsets of `seccomp_data.nr` and `.arch`: loads of anything else read the arguments or the
/// instruction pointer.
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;

/// Installed programs, oldest first (index 0 is the first attached filter, as
/// `PTRACE_SECCOMP_GET_FILTER` numbers them).
#[derive(Clone, Debug)]
pub struct Filters {
    /// The programs, oldest first.
    pub programs: Vec<Program>,
    /// Where they came from, for messages.
    pub origin: String,
}

impl Filters {
    /// Wraps programs (oldest first).
    pub fn new(programs: Vec<Program>, origin: &str) -> Filters {
        Filters {
            programs,
            origin: origin.to_string(),
        }
    }

    /// The raw return value the kernel acts on: every filter runs and the kernel's precedence
    /// of stacked filters picks one ([`moat_bpf::consts::stacked`]). No filter at all allows.
    pub fn ret(&self, audit_arch: u32, nr: u32, args: &[u64; 6]) -> u32 {
        let d = SeccompData::new(audit_arch, nr, *args);
        let mut rets = self.programs.iter().map(|p| emu::run(p, &d).ret);
        let Some(first) = rets.next() else {
            return SECCOMP_RET_ALLOW;
        };
        rets.fold(first, stacked)
    }

    /// The action for one call.
    pub fn action(&self, audit_arch: u32, nr: u32, args: &[u64; 6]) -> Action {
        Action::from_ret(self.ret(audit_arch, nr, args))
    }

    /// True when some program, run with zero arguments, loads anything but `nr` and `arch` on
    /// its path for this call: only then can the verdict depend on the arguments.
    pub fn reads_args(&self, audit_arch: u32, nr: u32) -> bool {
        let d = SeccompData::new(audit_arch, nr, [0; 6]);
        self.programs.iter().any(|p| {
            let (_, path) = emu::trace(p, &d);
            path.iter().any(|&pc| {
                p.insns().get(pc).is_some_and(|i| {
                    let class = i.code & 0x07;
                    // Any load (LD/LDX) that is not `LD W ABS nr|arch` may read argument data.
                    (class == BPF_LD || class == 0x01)
                        && !(i.code == BPF_LD | BPF_W | BPF_ABS
                            && (i.k == OFFSET_NR || i.k == OFFSET_ARCH))
                })
            })
        })
    }

    /// Every constant a jump compares with or an `AND` applies.
    pub fn constants(&self) -> Vec<u64> {
        let mut out = Vec::new();
        for p in &self.programs {
            for i in p.insns() {
                let class = i.code & 0x07;
                if (class == BPF_JMP && i.code & 0x08 == BPF_K && i.code & 0xf0 != 0)
                    || i.code == BPF_ALU | BPF_AND | BPF_K
                {
                    out.push(u64::from(i.k));
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The audit-arch values analyses sample: every ABI moat knows, and one no ABI uses.
pub fn sample_arches() -> Vec<u32> {
    let mut v: Vec<u32> = Arch::ALL.iter().map(|a| a.audit_arch()).collect();
    v.push(0x1234_5678);
    v.sort_unstable();
    v.dedup();
    v
}

/// Every number the tables know for this audit arch and beyond, plus the x32 range on x86_64 and
/// extreme values: what "exhaustive over numbers" means for raw programs.
pub fn sample_numbers(audit_arch: u32) -> Vec<u32> {
    let mut v = Vec::new();
    let mut top = 0;
    for a in Arch::ALL {
        if a.audit_arch() == audit_arch
            && let Some(last) = a.syscalls().last()
        {
            let base = a.nr_bias();
            top = top.max(last.nr - base);
            if base != 0 {
                v.extend(base..=last.nr + 32);
            }
        }
    }
    v.extend(0..=top.max(512) + 32);
    v.extend([
        0x3fff_ffff,
        0x4000_0000 - 1,
        0x7fff_ffff,
        0x8000_0000,
        0xbfff_ffff,
        0xffff_fffe,
        0xffff_ffff,
    ]);
    v.sort_unstable();
    v.dedup();
    v
}

/// 64-bit boundary values around the given word constants: each constant, its neighbours, in the
/// low word and in the high word, plus 0 and all ones.
pub fn sample_values(constants: &[u64]) -> Vec<u64> {
    let mut v = vec![0u64, 1, u64::MAX, 0xffff_ffff, 0x1_0000_0000, 0x8000_0000];
    for &c in constants {
        for w in [c, c.wrapping_sub(1), c.wrapping_add(1)] {
            v.push(w);
            let lo = w & 0xffff_ffff;
            v.push(lo);
            v.push(lo << 32);
            v.push(lo | 0xffff_ffff_0000_0000);
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// The argument vectors sampled for one call: all zeros, then each argument over `values` with
/// the others 0.
pub fn sample_args(values: &[u64]) -> Vec<[u64; 6]> {
    let mut out = vec![[0u64; 6]];
    for i in 0..6 {
        for &v in values {
            if v != 0 {
                let mut a = [0u64; 6];
                a[i] = v;
                out.push(a);
            }
        }
    }
    out
}
