//! Translation validation: run a compiled program in the emulator and compare with the
//! reference evaluator on every number of every ABI and on boundary values of every condition.

#![allow(dead_code, clippy::cast_possible_truncation)]

pub mod random;

use std::collections::{BTreeSet, HashMap};

use moat_bpf::{SeccompData, cache, emu};
use moat_compile::{Compiled, Options, compile};
use moat_policy::{Action, Cond, Context, LoweredRule, Policy, Width};
use moat_syscalls::Arch;

/// Per argument index, the values on both sides of every comparison on it.
fn candidates(rules: &[LoweredRule]) -> [Vec<u64>; 6] {
    fn walk(c: &Cond, out: &mut [BTreeSet<u64>; 6]) {
        match c {
            Cond::True | Cond::False => {}
            Cond::Cmp(c) => {
                let set = &mut out[usize::from(c.arg)];
                let v = c.value;
                let m = c.mask;
                for x in [
                    v.wrapping_sub(1),
                    v,
                    v.wrapping_add(1),
                    v & m,
                    (v & m) | !m,
                    (v & m).wrapping_add(1) & m,
                    (v & m).wrapping_sub(1) & m,
                    m,
                    !m,
                ] {
                    set.insert(x);
                }
                if c.width == Width::U32 {
                    let low = v & 0xffff_ffff;
                    // Junk in the high word and the sign-extended form: the kernel ignores the
                    // high half of a 32-bit parameter.
                    set.insert(low | 0xdead_beef_0000_0000);
                    set.insert(i64::from(low as u32 as i32) as u64);
                    set.insert(low.wrapping_sub(1) | 0xffff_ffff_0000_0000);
                }
            }
            Cond::And(v) | Cond::Or(v) => v.iter().for_each(|c| walk(c, out)),
            Cond::Not(c) => walk(c, out),
        }
    }
    let mut sets: [BTreeSet<u64>; 6] = Default::default();
    for r in rules {
        walk(&r.cond, &mut sets);
    }
    sets.map(|s| {
        let mut v: Vec<u64> = s.into_iter().collect();
        for x in [0, u64::MAX] {
            if !v.contains(&x) {
                v.push(x);
            }
        }
        v
    })
}

/// Argument vectors: every combination of candidates when there are few, else each argument's
/// candidates alone plus a deterministic sample of combinations.
pub fn arg_vectors(rules: &[LoweredRule]) -> Vec<[u64; 6]> {
    let c = candidates(rules);
    let used: Vec<usize> = (0..6).filter(|&i| c[i].len() > 2).collect();
    let product: usize = used.iter().map(|&i| c[i].len()).product();
    let mut out = Vec::new();
    if product <= 1024 {
        let mut idx = vec![0usize; used.len()];
        loop {
            let mut a = [0u64; 6];
            for (k, &i) in used.iter().enumerate() {
                a[i] = c[i][idx[k]];
            }
            out.push(a);
            let mut k = 0;
            loop {
                if k == used.len() {
                    return with_junk(out);
                }
                idx[k] += 1;
                if idx[k] < c[used[k]].len() {
                    break;
                }
                idx[k] = 0;
                k += 1;
            }
        }
    }
    for &i in &used {
        for &v in &c[i] {
            let mut a = [0u64; 6];
            a[i] = v;
            out.push(a);
        }
    }
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..768 {
        let mut a = [0u64; 6];
        for &i in &used {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            a[i] = c[i][(rng >> 33) as usize % c[i].len()];
        }
        out.push(a);
    }
    with_junk(out)
}

fn with_junk(mut v: Vec<[u64; 6]>) -> Vec<[u64; 6]> {
    v.push([u64::MAX; 6]);
    v.push([0xdead_beef_0000_0001; 6]);
    v
}

/// Numbers worth trying on `audit`: 0..1024, every known number of every ABI using it, x32
/// numbers, the quarter boundaries of the 32-bit space and -1.
pub fn numbers(audit: u32) -> Vec<u32> {
    let mut v: BTreeSet<u32> = (0..1024).collect();
    for a in Arch::ALL {
        if a.audit_arch() == audit {
            for s in a.syscalls() {
                v.insert(s.nr);
                v.insert(s.nr.wrapping_add(1));
            }
        }
    }
    if audit == Arch::X86_64.audit_arch() {
        for s in Arch::X32.syscalls() {
            v.insert(s.nr);
            v.insert(s.nr & !0x4000_0000);
        }
    }
    v.extend([
        0x3fff_ffff,
        0x4000_0000,
        0x4000_03ff,
        0x7fff_ffff,
        0x8000_0000,
        0xbfff_ffff,
        0xc000_0000,
        0xffff_fffe,
        u32::MAX,
    ]);
    v.into_iter().collect()
}

/// What [`check`] saw.
#[derive(Debug, Default)]
pub struct Stats {
    pub calls: usize,
    pub unreached: Vec<usize>,
    /// Whether every syscall's rules compare each argument at most once: then every path
    /// through the argument checks is feasible, and an unreached instruction is dead code.
    pub read_once: bool,
}

fn arg_uses(c: &Cond, out: &mut Vec<u8>) {
    match c {
        Cond::True | Cond::False => {}
        Cond::Cmp(c) => out.push(c.arg),
        Cond::And(v) | Cond::Or(v) => v.iter().for_each(|c| arg_uses(c, out)),
        Cond::Not(c) => arg_uses(c, out),
    }
}

/// Whether `rules` decide `Allow` whatever the arguments (syntactically).
pub fn unconditional_allow(rules: &[LoweredRule], default: Action) -> bool {
    let (fallback, live) = match rules.iter().rposition(|r| r.cond == Cond::True) {
        None => (default, rules),
        Some(i) => (rules[i].action, &rules[i + 1..]),
    };
    fallback == Action::Allow && live.iter().all(|r| r.action == Action::Allow)
}

/// Compiles `p` and compares the program with the evaluator. Errors describe the first
/// mismatch.
pub fn check(p: &Policy, ctx: &Context, options: &Options) -> Result<(Compiled, Stats), String> {
    let c = compile(p, options).map_err(|e| format!("compile: {e}"))?;
    let prog = &c.program;
    let mut reached = vec![false; prog.len()];
    let mut stats = Stats::default();
    let mut audits: Vec<u32> = Arch::ALL.iter().map(|a| a.audit_arch()).collect();
    audits.extend([0, 0xdead_beef]);
    audits.sort_unstable();
    audits.dedup();
    let mut vectors: HashMap<String, Vec<[u64; 6]>> = HashMap::new();
    for audit in audits {
        let accepted = c.lowered.abis.iter().any(|a| a.arch.audit_arch() == audit);
        let nrs = if accepted {
            numbers(audit)
        } else {
            // Another architecture: every number is badarch; a sample shows it.
            vec![0, 1, 59, 1023, 0x4000_0000, u32::MAX]
        };
        for nr in nrs {
            let rules = Arch::of(audit, nr)
                .and_then(|a| c.lowered.abis.iter().find(|x| x.arch == a))
                .and_then(|abi| abi.syscalls.get(&nr));
            let args = match rules {
                Some(r) if !r.is_empty() => vectors
                    .entry(format!("{r:?}"))
                    .or_insert_with(|| arg_vectors(r))
                    .clone(),
                _ => with_junk(vec![[0; 6]]),
            };
            for a in args {
                let (out, path) = emu::trace(prog, &SeccompData::new(audit, nr, a));
                for pc in path {
                    reached[pc] = true;
                }
                let want = p.evaluate(ctx, audit, nr, a).action;
                stats.calls += 1;
                if out.ret != want.to_ret() {
                    return Err(format!(
                        "arch {audit:#x} nr {nr:#x} args {a:#x?}: program returns {:#x} ({:?}), policy says {want:?}",
                        out.ret,
                        Action::from_ret(out.ret)
                    ));
                }
            }
        }
    }
    // Every unconditional allow is served by the kernel's cache.
    for abi in &c.lowered.abis {
        let audit = abi.arch.audit_arch();
        for (&nr, rules) in &abi.syscalls {
            let in_bitmap = cache::bitmap_len(audit).is_some_and(|len| nr < len);
            if in_bitmap
                && unconditional_allow(rules, abi.default)
                && !cache::is_constant_allow(prog, audit, nr)
            {
                return Err(format!(
                    "{} nr {nr}: unconditional allow is not cacheable",
                    abi.arch
                ));
            }
        }
    }
    stats.read_once = c.lowered.abis.iter().all(|abi| {
        abi.syscalls.values().all(|rules| {
            let mut uses = Vec::new();
            rules.iter().for_each(|r| arg_uses(&r.cond, &mut uses));
            let n = uses.len();
            uses.sort_unstable();
            uses.dedup();
            uses.len() == n
        })
    });
    stats.unreached = reached
        .iter()
        .enumerate()
        .filter(|(_, r)| !**r)
        .map(|(i, _)| i)
        .collect();
    Ok((c, stats))
}
