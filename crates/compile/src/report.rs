//! The cost report: which syscalls the kernel serves from its constant-action cache, and how
//! many instructions every other syscall executes.

use std::fmt;

use moat_bpf::consts::{BPF_ABS, BPF_JA, BPF_JMP, BPF_LD, BPF_RET, BPF_W, OFFSET_ARGS};
use moat_bpf::{Program, SeccompData, cache, emu};
use moat_policy::{Cond, LoweredRule, Width};
use moat_syscalls::Arch;

use crate::{Compiled, Dispatch};

/// What a compiled program costs.
#[derive(Clone, Debug)]
pub struct Report {
    /// Program length in instructions.
    pub len: usize,
    /// Per accepted ABI, in policy order.
    pub abis: Vec<AbiReport>,
}

/// The cost on one ABI.
#[derive(Clone, Debug)]
pub struct AbiReport {
    /// The ABI.
    pub arch: Arch,
    /// The search it goes through.
    pub dispatch: Dispatch,
    /// Instructions before the search: `LD arch`, the architecture tests up to this one's, and
    /// `LD nr`.
    pub prefix: usize,
    /// Syscalls the kernel allows from its cache without running the filter (Linux 5.11+).
    pub cached: Vec<&'static str>,
    /// Every other known syscall and what running the filter costs for it.
    pub filtered: Vec<SyscallCost>,
}

/// The executed-instruction cost of one syscall.
#[derive(Clone, Debug, PartialEq)]
pub struct SyscallCost {
    /// Its name.
    pub name: &'static str,
    /// Its number on the ABI.
    pub nr: u32,
    /// Mean over boundary values of its argument conditions (just the one path without).
    pub mean: f64,
    /// The longest path the program has for this number (an upper bound over all arguments).
    pub worst: usize,
    /// Whether its path loads an argument.
    pub checks_args: bool,
}

impl AbiReport {
    /// Mean executed instructions over the filtered syscalls (0 when there are none).
    pub fn mean(&self) -> f64 {
        if self.filtered.is_empty() {
            return 0.0;
        }
        self.filtered.iter().map(|c| c.mean).sum::<f64>() / self.filtered.len() as f64
    }

    /// The most instructions any filtered syscall can execute.
    pub fn worst(&self) -> usize {
        self.filtered.iter().map(|c| c.worst).max().unwrap_or(0)
    }

    /// The most instructions a filtered syscall without argument checks executes.
    pub fn worst_without_args(&self) -> usize {
        self.filtered
            .iter()
            .filter(|c| !c.checks_args)
            .map(|c| c.worst)
            .max()
            .unwrap_or(0)
    }

    /// The dispatch bound for calls without argument checks: the prefix, ⌈log2 M⌉ jumps and the
    /// `RET` (4 + ⌈log2 M⌉ for a program with one architecture).
    pub fn bound(&self) -> usize {
        let m = self.dispatch.intervals;
        let log = if m <= 1 {
            0
        } else {
            (m - 1).ilog2() as usize + 1
        };
        self.prefix + log + 1
    }
}

/// Argument vectors on both sides of every comparison in `rules`: `v - 1`, `v`, `v + 1`, 0, all
/// ones, and for 32-bit parameters junk in the high word and the sign-extended value.
pub fn boundary_args(rules: &[LoweredRule]) -> Vec<[u64; 6]> {
    let mut out = vec![[0u64; 6]];
    let mut cmps = Vec::new();
    for r in rules {
        collect(&r.cond, &mut cmps);
    }
    for (arg, width, value, mask) in cmps {
        let mut vals = vec![
            value.wrapping_sub(1),
            value,
            value.wrapping_add(1),
            0,
            u64::MAX,
            value | !mask,
        ];
        if width == Width::U32 {
            let low = value & 0xffff_ffff;
            vals.push(low | 0xdead_beef_0000_0000);
            vals.push(i64::from(low as u32 as i32) as u64);
        }
        for v in vals {
            let mut a = [0u64; 6];
            if let Some(slot) = a.get_mut(usize::from(arg)) {
                *slot = v;
            }
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

fn collect(c: &Cond, out: &mut Vec<(u8, Width, u64, u64)>) {
    match c {
        Cond::True | Cond::False => {}
        Cond::Cmp(c) => out.push((c.arg, c.width, c.value, c.mask)),
        Cond::And(v) | Cond::Or(v) => v.iter().for_each(|c| collect(c, out)),
        Cond::Not(c) => collect(c, out),
    }
}

/// The longest path (in executed instructions) from every instruction to a return.
fn longest(p: &Program) -> Vec<usize> {
    let insns = p.insns();
    let mut out = vec![0usize; insns.len()];
    for pc in (0..insns.len()).rev() {
        let i = insns[pc];
        let get = |t: usize| out.get(t).copied().unwrap_or(0);
        out[pc] = 1 + match i.code & 0x07 {
            c if c == BPF_RET => 0,
            c if c == BPF_JMP && i.code == BPF_JMP | BPF_JA => get(pc + 1 + i.k as usize),
            c if c == BPF_JMP => {
                get(pc + 1 + usize::from(i.jt)).max(get(pc + 1 + usize::from(i.jf)))
            }
            _ => get(pc + 1),
        };
    }
    out
}

fn is_arg_load(p: &Program, pc: usize) -> bool {
    p.insns()
        .get(pc)
        .is_some_and(|i| i.code == BPF_LD | BPF_W | BPF_ABS && i.k >= OFFSET_ARGS)
}

/// Measures `c`: cache status of every (ABI, known number) and executed instructions of the rest.
pub fn report(c: &Compiled) -> Report {
    let p = &c.program;
    let far = longest(p);
    let mut abis = Vec::new();
    for abi in &c.lowered.abis {
        let audit = abi.arch.audit_arch();
        let Some(pos) = c.dispatch.iter().position(|d| d.audit_arch == audit) else {
            continue;
        };
        let dispatch = c.dispatch[pos].clone();
        let prefix = 1 + (pos + 1) + usize::from(dispatch.intervals > 1);
        let mut cached = Vec::new();
        let mut filtered = Vec::new();
        for (&nr, rules) in &abi.syscalls {
            let name = abi.arch.by_nr(nr).map_or("?", |s| s.name);
            if cache::is_constant_allow(p, audit, nr) {
                cached.push(name);
                continue;
            }
            let inputs = boundary_args(rules);
            let mut total = 0usize;
            let mut worst = 0usize;
            let mut checks_args = false;
            for args in &inputs {
                let (out, path) = emu::trace(p, &SeccompData::new(audit, nr, args.to_owned()));
                total += out.executed;
                // The path is fixed until the first argument load; from there any branch may
                // be taken.
                let w = match path.iter().position(|&pc| is_arg_load(p, pc)) {
                    Some(i) => {
                        checks_args = true;
                        i + far[path[i]]
                    }
                    None => out.executed,
                };
                worst = worst.max(w);
            }
            filtered.push(SyscallCost {
                name,
                nr,
                mean: total as f64 / inputs.len() as f64,
                worst,
                checks_args,
            });
        }
        abis.push(AbiReport {
            arch: abi.arch,
            dispatch,
            prefix,
            cached,
            filtered,
        });
    }
    Report { len: p.len(), abis }
}

impl Report {
    /// The report as JSON: `{"instructions", "abis": [{"arch", "intervals", "depth", "bound",
    /// "cached": [names], "mean", "worst", "worst_without_args", "filtered": [{"name", "nr",
    /// "mean", "worst", "checks_args"}]}]}`, the same numbers the text shows. On x32 `cached`
    /// is empty: its numbers lie beyond the kernel's x86_64 bitmap.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        let abis: Vec<serde_json::Value> = self
            .abis
            .iter()
            .map(|a| {
                let filtered: Vec<serde_json::Value> = a
                    .filtered
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "name": s.name,
                            "nr": s.nr,
                            "mean": s.mean,
                            "worst": s.worst,
                            "checks_args": s.checks_args,
                        })
                    })
                    .collect();
                serde_json::json!({
                    "arch": a.arch.to_string(),
                    "intervals": a.dispatch.intervals,
                    "depth": a.dispatch.depth,
                    "bound": a.bound(),
                    "cached": if a.arch == Arch::X32 { Vec::new() } else { a.cached.clone() },
                    "mean": a.mean(),
                    "worst": a.worst(),
                    "worst_without_args": a.worst_without_args(),
                    "filtered": filtered,
                })
            })
            .collect();
        serde_json::json!({ "instructions": self.len, "abis": abis })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "program: {} instructions (the kernel accepts 4096)",
            self.len
        )?;
        for a in &self.abis {
            writeln!(f)?;
            writeln!(
                f,
                "{}: {} intervals, search depth {}, bound without argument checks {} instructions",
                a.arch,
                a.dispatch.intervals,
                a.dispatch.depth,
                a.bound()
            )?;
            if a.arch == Arch::X32 {
                writeln!(
                    f,
                    "  cached by the kernel: none (x32 numbers lie beyond the x86_64 bitmap)"
                )?;
            } else {
                writeln!(
                    f,
                    "  cached by the kernel ({}): {}",
                    a.cached.len(),
                    a.cached.join(" ")
                )?;
            }
            writeln!(
                f,
                "  run the filter ({}): mean {:.1}, worst {} instructions ({} without argument checks)",
                a.filtered.len(),
                a.mean(),
                a.worst(),
                a.worst_without_args()
            )?;
            for s in &a.filtered {
                writeln!(
                    f,
                    "    {:<24} {:>5}  mean {:>5.1}  worst {:>3}{}",
                    s.name,
                    s.nr,
                    s.mean,
                    s.worst,
                    if s.checks_args {
                        "  (argument checks)"
                    } else {
                        ""
                    }
                )?;
            }
        }
        Ok(())
    }
}
