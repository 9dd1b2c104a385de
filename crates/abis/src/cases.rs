//! What one VM run installs and calls: moat's filters for the ABI, each with the calls that
//! exercise it, and the numbers moat's table does not know.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context as _, anyhow};
use moat_bpf::{ByteOrder, Insn, Program};
use moat_compile::{Options, compile};
use moat_policy::{Cond, Context, LoweredRule, Policy, Width};
use moat_syscalls::Arch;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

/// One filter the VM installs.
#[derive(Clone, Debug)]
pub struct Filter {
    /// What it is (`builtin:container`, `random 3`, ...).
    pub name: String,
    /// The policy it was compiled from: the evaluator's side.
    pub policy: Policy,
    /// The program the emulator runs (for a fault-injected filter, the faulty one).
    pub program: Program,
    /// The bytes the VM loads: moat's raw output for the ABI.
    pub raw: Vec<u8>,
    /// For a deliberately wrong filter, what was broken; the run must catch it.
    pub fault: Option<String>,
}

/// One call the VM makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    /// Index into [`Plan::filters`], `None` for no filter.
    pub filter: Option<usize>,
    /// The number, as in `seccomp_data.nr`.
    pub nr: u32,
    /// The registers, as the kernel reads them into `seccomp_data.args`.
    pub args: [u64; 6],
    /// For a filtered call, the index of the same call without a filter.
    pub twin: Option<usize>,
}

/// Everything one run does.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The filters.
    pub filters: Vec<Filter>,
    /// The calls, unfiltered ones first.
    pub calls: Vec<Call>,
    /// Indices of the unfiltered calls of numbers moat's table does not know (must be ENOSYS).
    pub unknown: Vec<usize>,
}

/// The bytes of `struct sock_filter` the kernel of `arch` loads: moat's raw output in the ABI's
/// byte order (big-endian on s390x), exactly as `moat compile --format raw` writes it.
pub fn raw(program: &Program, arch: Arch) -> Vec<u8> {
    program.to_bytes_in(ByteOrder::of(arch))
}

/// The ABIs whose registers are 32 bits wide: the kernel zero-extends them.
fn kernel_args(arch: Arch, a: [u64; 6]) -> [u64; 6] {
    if arch.is_compat32() {
        a.map(|x| x & 0xffff_ffff)
    } else {
        a
    }
}

/// (syscall, arguments): calls that are harmless in a throwaway VM's child, with pointers NULL
/// and descriptors invalid, and 32-bit parameters with junk in the high word.
const TABLE: &[(&str, [u64; 6])] = &[
    ("getpid", [0; 6]),
    ("gettid", [0; 6]),
    ("getppid", [7, 0, 0, 0, 0, 0]),
    ("close", [u64::MAX, 0, 0, 0, 0, 0]),
    ("close", [0xdead_beef_0000_0064, 0, 0, 0, 0, 0]),
    ("personality", [0xffff_ffff, 0, 0, 0, 0, 0]),
    ("personality", [0x1_ffff_ffff, 0, 0, 0, 0, 0]),
    ("personality", [0x0040_0000, 0, 0, 0, 0, 0]),
    ("personality", [0xdead_beef_0040_0000, 0, 0, 0, 0, 0]),
    ("socket", [40, 1, 0, 0, 0, 0]),
    ("socket", [2, 1, 0, 0, 0, 0]),
    ("socket", [0xdead_0000_0028, 1, 0, 0, 0, 0]),
    ("ioctl", [u64::MAX, 0x5412, 0, 0, 0, 0]),
    ("ioctl", [u64::MAX, 0xdead_beef_0000_5412, 0, 0, 0, 0]),
    ("ioctl", [u64::MAX, 0x5401, 0, 0, 0, 0]),
    ("acct", [0; 6]),
    ("clone3", [0; 6]),
    ("unshare", [0x1000_0000, 0, 0, 0, 0, 0]),
    ("unshare", [0xffff_ffff_1000_0000, 0, 0, 0, 0, 0]),
    ("unshare", [0, 0, 0, 0, 0, 0]),
    ("bpf", [u64::MAX, 0, 0, 0, 0, 0]),
    ("mount", [0; 6]),
    ("getrandom", [0, 0, 0, 0, 0, 0]),
    ("lseek", [u64::MAX, 0x1_0000_0005, 0, 0, 0, 0]),
    ("lseek", [u64::MAX, 5, 0, 0, 0, 0]),
    ("kill", [0xffff_ffff_0000_0000, 0, 0, 0, 0, 0]),
    ("umask", [0o22, 0, 0, 0, 0, 0]),
    ("statx", [u64::MAX, 0, 0, 0, 0, 0]),
    ("io_uring_setup", [0, 0, 0, 0, 0, 0]),
];

/// Policies with argument conditions on 32- and 64-bit parameters, the `unknown`, `kernel` and
/// `badarch` statements. `ABI` is replaced by the ABI's name, `OTHER` by another ABI's.
const HAND: &[(&str, &str)] = &[
    (
        "args",
        "arch ABI\ndefault allow\n\
         errno 11 personality if arg0 == 0xffffffff\n\
         errno 12 socket if arg0 == 40\n\
         errno 13 ioctl if arg1 == 0x5412\n\
         errno 14 close if arg0 == 100\n\
         errno 15 unshare if arg0 & 0x10000000\n\
         errno 16 getpid if arg0 == 0x100000005\n\
         errno 17 getppid if arg1 & 0xffffffff00000000 == 0xdeadbeef00000000\n\
         errno 18 lseek if arg1 == 0x100000005\n\
         errno 19 kill if arg0 == 0\n\
         trap gettid if arg0 > 0xfffffffe\n",
    ),
    (
        "unknown-kernel",
        "arch ABI\ndefault allow\nunknown errno 77\nkernel 4.0\nerrno 78 clone3\n",
    ),
    ("unknown-kill", "arch ABI\ndefault allow\nunknown kill\n"),
    (
        "badarch-errno",
        "arch OTHER\ndefault allow\nbadarch errno 99\n",
    ),
    ("badarch-kill", "arch OTHER\ndefault allow\n"),
    (
        "several-arches",
        "arch OTHER ABI\ndefault errno 5\nbadarch errno 99\nallow getpid gettid\n",
    ),
];

/// The lines of `text` without values wider than 32 bits.
fn narrow(text: &str) -> String {
    let wide = |w: &str| {
        w.strip_prefix("0x")
            .is_some_and(|h| u64::from_str_radix(h, 16).is_ok_and(|v| v > 0xffff_ffff))
    };
    text.lines()
        .filter(|l| !l.split_whitespace().any(wide))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Another ABI for the `badarch` policies: x86_64 (for x32, the one sharing its audit arch).
fn other(arch: Arch) -> Arch {
    match arch {
        Arch::X86_64 => Arch::Aarch64,
        _ => Arch::X86_64,
    }
}

/// Random policies like the x86_64 kernel test's: conditions on `getpid`/`getppid`/`gettid`
/// (no signature: every argument is compared on 64 bits), fixed seed.
fn random_policies(arch: Arch, n: usize) -> Vec<String> {
    use proptest::prelude::*;
    // On the 32-bit ABIs every argument is 32-bit: values are cut to that width.
    let wide = if arch.is_compat32() {
        0xffff_ffff
    } else {
        u64::MAX
    };
    let value = prop_oneof![
        prop::sample::select(
            &[
                0u64,
                1,
                0xffff_ffff,
                0x1_0000_0000,
                0x1_0000_0005,
                u64::MAX,
                0x8000_0000_0000_0000
            ][..]
        ),
        any::<u64>(),
    ];
    let atom = (
        0u8..6,
        prop::sample::select(&["==", "!=", "<", "<=", ">", ">="][..]),
        value.clone(),
        prop::option::of(value),
    )
        .prop_map(move |(a, op, v, m)| match m {
            Some(m) => format!("arg{a} & {:#x} {op} {:#x}", m & wide, v & wide),
            None => format!("arg{a} {op} {:#x}", v & wide),
        });
    let cond = atom.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or {b}")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    });
    let action = prop::sample::select(
        &[
            "allow",
            "deny",
            "errno 13",
            "errno 4095",
            "kill",
            "trap",
            "log",
            "trace 1",
        ][..],
    );
    let rule = (
        action.clone(),
        prop::sample::select(&["getpid", "getppid", "gettid"][..]),
        prop::option::weighted(0.8, cond),
    )
        .prop_map(|(a, s, c)| match c {
            Some(c) => format!("{a} {s} if {c}"),
            None => format!("{a} {s}"),
        });
    let name = arch.name();
    let policy = (action, prop::collection::vec(rule, 1..6)).prop_map(move |(d, rules)| {
        format!(
            "arch {name}\ndefault allow\n{d} getpid getppid gettid\n{}\n",
            rules.join("\n")
        )
    });
    let mut runner = TestRunner::deterministic();
    (0..n)
        .filter_map(|_| policy.new_tree(&mut runner).ok().map(|t| t.current()))
        .collect()
}

/// Per argument, values on both sides of every comparison (with junk high words for 32-bit
/// ones), then a deterministic spread of at most `max` vectors.
fn vectors(rules: &[LoweredRule], max: usize) -> Vec<[u64; 6]> {
    fn walk(c: &Cond, out: &mut [BTreeSet<u64>; 6]) {
        match c {
            Cond::True | Cond::False => {}
            Cond::Cmp(c) => {
                let (v, m) = (c.value, c.mask);
                let set = &mut out[usize::from(c.arg)];
                for x in [
                    v.wrapping_sub(1),
                    v,
                    v.wrapping_add(1),
                    v & m,
                    (v & m) | !m,
                    m,
                ] {
                    set.insert(x);
                }
                if c.width == Width::U32 {
                    let low = v & 0xffff_ffff;
                    set.insert(low | 0xdead_beef_0000_0000);
                    set.insert(low.wrapping_sub(1) | 0xffff_ffff_0000_0000);
                }
            }
            Cond::And(v) | Cond::Or(v) => v.iter().for_each(|c| walk(c, out)),
            Cond::Not(c) => walk(c, out),
        }
    }
    let mut sets: [BTreeSet<u64>; 6] = Default::default();
    rules.iter().for_each(|r| walk(&r.cond, &mut sets));
    let c: Vec<Vec<u64>> = sets.into_iter().map(|s| s.into_iter().collect()).collect();
    let mut out = vec![[0u64; 6], [u64::MAX; 6], [0xdead_beef_0000_0001; 6]];
    for (i, vals) in c.iter().enumerate() {
        for &v in vals {
            let mut a = [0u64; 6];
            a[i] = v;
            out.push(a);
        }
    }
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..64 {
        let mut a = [0u64; 6];
        for (i, vals) in c.iter().enumerate() {
            if vals.is_empty() {
                continue;
            }
            rng = rng
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            a[i] = vals[usize::try_from(rng >> 33).unwrap_or(0) % vals.len()];
        }
        out.push(a);
    }
    let step = (out.len() / max).max(1);
    out.into_iter().step_by(step).take(max).collect()
}

/// Numbers the table does not know for `arch` (including its bias), from 0 to 64 past its
/// highest number in the main table, and 16 around each number outside it (arm's private
/// `__ARM_NR_*` calls at 0xf0000).
pub fn unknown_numbers(arch: Arch) -> Vec<u32> {
    let bias = arch.nr_bias();
    let main = |nr: u32| nr - bias < 0x1_0000;
    let top = arch
        .syscalls()
        .iter()
        .map(|s| s.nr)
        .filter(|&n| main(n))
        .max()
        .unwrap_or(bias)
        + 64;
    let mut nrs: BTreeSet<u32> = (bias..=top).collect();
    for s in arch.syscalls().iter().filter(|s| !main(s.nr)) {
        nrs.extend(s.nr.saturating_sub(16)..=s.nr.saturating_add(16));
    }
    nrs.into_iter()
        .filter(|&nr| arch.by_nr(nr).is_none())
        .collect()
}

/// The calls for a filter: the table, a number no table has, and the random policies' vectors.
fn calls_for(arch: Arch, c: &moat_compile::Compiled) -> Vec<(u32, [u64; 6])> {
    let mut out = Vec::new();
    for (name, args) in TABLE {
        if let Some(s) = arch.by_name(name) {
            out.push((s.nr, *args));
            if arch == Arch::X32 {
                // The same call with the x86_64 number, from an x32 process.
                out.push((s.nr & !arch.nr_bias(), *args));
            }
        }
    }
    if let Some(&nr) = unknown_numbers(arch).first() {
        out.push((nr, [0; 6]));
    }
    out.push((arch.nr_bias() + 3000, [0; 6]));
    if let Some(abi) = c.lowered.abis.iter().find(|a| a.arch == arch) {
        for name in ["getpid", "getppid", "gettid"] {
            let Some(s) = arch.by_name(name) else {
                continue;
            };
            if let Some(rules) = abi.syscalls.get(&s.nr) {
                out.extend(vectors(rules, 10).into_iter().map(|a| (s.nr, a)));
            }
        }
    }
    out
}

/// Test-only fault injection: the program with every `AUDIT_ARCH_*` comparison against
/// `audit` changed to another value.
pub fn wrong_audit_arch(program: &Program, audit: u32) -> Option<Program> {
    let mut changed = false;
    let insns: Vec<Insn> = program
        .insns()
        .iter()
        .map(|i| {
            // BPF_JMP|BPF_JEQ|BPF_K
            if i.code == 0x15 && i.k == audit {
                changed = true;
                Insn {
                    k: audit ^ 0x8000_0000,
                    ..*i
                }
            } else {
                *i
            }
        })
        .collect();
    if !changed {
        return None;
    }
    Program::new(insns).ok()
}

/// Test-only fault injection: every load of an argument word reads the other half of its
/// 64-bit field (on s390x, the little-endian layout).
pub fn swapped_arg_words(program: &Program) -> Option<Program> {
    let mut changed = false;
    let insns: Vec<Insn> = program
        .insns()
        .iter()
        .map(|i| {
            // BPF_LD|BPF_W|BPF_ABS of seccomp_data.args[*]
            if i.code == 0x20 && (16..64).contains(&i.k) {
                changed = true;
                Insn { k: i.k ^ 4, ..*i }
            } else {
                *i
            }
        })
        .collect();
    if !changed {
        return None;
    }
    Program::new(insns).ok()
}

/// Compiles every policy for `arch` and lists the calls.
pub fn plan(arch: Arch) -> anyhow::Result<Plan> {
    let ctx = Context::default();
    let mut policies: Vec<(String, Policy)> = Vec::new();
    for b in moat_policy::builtins() {
        let p = Policy::builtin(b.name)
            .ok_or_else(|| anyhow!("no builtin {}", b.name))?
            .map_err(|e| anyhow!("{e}"))?
            .with_arches(&[arch])
            .map_err(|e| anyhow!("{e}"))?;
        policies.push((format!("builtin:{}", b.name), p));
    }
    for (name, text) in HAND {
        let text = text
            .replace("OTHER", other(arch).name())
            .replace("ABI", arch.name());
        // On the 32-bit ABIs every parameter is 32-bit: values wider than that are refused.
        let text = if arch.is_compat32() {
            narrow(&text)
        } else {
            text
        };
        let p = Policy::parse(&text, name).map_err(|e| anyhow!("{e}\n{text}"))?;
        policies.push(((*name).to_owned(), p));
    }
    for (i, text) in random_policies(arch, 8).into_iter().enumerate() {
        let p = Policy::parse(&text, "random").map_err(|e| anyhow!("{e}\n{text}"))?;
        policies.push((format!("random {i}: {}", text.replace('\n', "; ")), p));
    }
    let mut plan = Plan::default();
    let mut filtered: Vec<(usize, u32, [u64; 6])> = Vec::new();
    for (name, policy) in policies {
        let c = compile(
            &policy,
            &Options {
                ctx,
                ..Options::default()
            },
        )
        .with_context(|| format!("compiling {name} for {arch}"))?;
        let calls = calls_for(arch, &c);
        let mut faults = Vec::new();
        if name == "args" {
            faults.push((
                swapped_arg_words(&c.program),
                "argument words read from the other half (the little-endian layout on s390x)",
            ));
            faults.push((
                wrong_audit_arch(&c.program, arch.audit_arch()),
                "wrong AUDIT_ARCH",
            ));
        }
        let index = plan.filters.len();
        plan.filters.push(Filter {
            name: name.clone(),
            raw: raw(&c.program, arch),
            program: c.program,
            policy: policy.clone(),
            fault: None,
        });
        filtered.extend(
            calls
                .iter()
                .map(|&(nr, a)| (index, nr, kernel_args(arch, a))),
        );
        for (program, what) in faults {
            let program = program
                .ok_or_else(|| anyhow!("fault injection `{what}` found nothing to break"))?;
            let index = plan.filters.len();
            plan.filters.push(Filter {
                name: format!("{name} with a fault"),
                raw: raw(&program, arch),
                program,
                policy: policy.clone(),
                fault: Some(what.to_owned()),
            });
            filtered.extend(
                calls
                    .iter()
                    .map(|&(nr, a)| (index, nr, kernel_args(arch, a))),
            );
        }
    }
    // Unfiltered: every distinct filtered call once, then the unknown numbers.
    let mut twins: HashMap<(u32, [u64; 6]), usize> = HashMap::new();
    for &(_, nr, args) in &filtered {
        twins.entry((nr, args)).or_insert_with(|| {
            plan.calls.push(Call {
                filter: None,
                nr,
                args,
                twin: None,
            });
            plan.calls.len() - 1
        });
    }
    for nr in unknown_numbers(arch) {
        // All ones: a number the kernel does implement fails fast on invalid arguments.
        let args = [u64::MAX; 6];
        plan.unknown.push(plan.calls.len());
        plan.calls.push(Call {
            filter: None,
            nr,
            args: kernel_args(arch, args),
            twin: None,
        });
    }
    for (fi, nr, args) in filtered {
        let twin = twins.get(&(nr, args)).copied();
        plan.calls.push(Call {
            filter: Some(fi),
            nr,
            args,
            twin,
        });
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_abi_has_a_plan_with_faults_and_unknown_numbers() {
        for arch in [
            Arch::Aarch64,
            Arch::Arm,
            Arch::S390x,
            Arch::X32,
            Arch::Loongarch64,
        ] {
            let p = plan(arch).unwrap_or_default();
            assert!(
                p.filters.iter().filter(|f| f.fault.is_some()).count() == 2,
                "{arch}"
            );
            assert!(p.calls.len() > 500, "{arch}: {}", p.calls.len());
            assert!(!p.unknown.is_empty(), "{arch}");
            for c in &p.calls {
                if let Some(t) = c.twin {
                    assert_eq!(
                        (p.calls[t].nr, p.calls[t].args, p.calls[t].filter),
                        (c.nr, c.args, None)
                    );
                }
            }
        }
    }

    #[test]
    fn s390x_filters_are_big_endian() {
        let p = Program::new(vec![Insn::new(0x06, 0, 0, 0x7fff_0000)])
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(raw(&p, Arch::S390x), [0, 6, 0, 0, 0x7f, 0xff, 0, 0]);
        assert_eq!(raw(&p, Arch::Aarch64), [6, 0, 0, 0, 0, 0, 0xff, 0x7f]);
    }
}
