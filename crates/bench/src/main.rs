//! `moat-bench`: moat's compiler against libseccomp (default layout and binary tree) and the
//! `seccompiler` crate, on Docker's default profile and on moat's `container` profile.
//!
//! Prints one Markdown report measured in one run: compile time, program length, executed
//! instructions per syscall (emulated), kernel-cached syscalls, and real-kernel ns per call
//! measured in forked children, interleaved, as medians and ratios to "no filter".
//!
//! `cargo run --release -p moat-bench [-- --quick] [--proof]` (`--proof`: only the proof
//! section). Not a test: it asserts nothing.

mod proof;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::time::Instant;

use anyhow::{Context as _, bail};
use moat_bpf::{Insn, Program, SeccompData, cache, emu};
use moat_compile::{Options, compile, report};
use moat_oracle as oracle;
use moat_policy::Policy;
use moat_sys::raw::Call;
use moat_sys::testing::{ChildStatus, in_child, no_core_dumps, pipe};
use moat_syscalls::Arch;

const X86_64: Arch = Arch::X86_64;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `container` without its `personality` line, as a libseccomp filter: libseccomp cannot
/// express `persona not in {...}` (one comparison per argument per rule), the rest it can:
/// `clone if flags & CLONE_NEW_ANY` becomes one masked rule per namespace bit, `in {a, b}` one
/// rule per value.
fn container_star() -> anyhow::Result<(String, oracle::Filter)> {
    let src = Policy::builtin("container")
        .context("container")?
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .source()
        .lines()
        .filter(|l| !l.starts_with("deny personality"))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    let policy = Policy::parse(&src, "container*").map_err(|e| anyhow::anyhow!("{e}"))?;
    let lowered = policy
        .lower(&Default::default())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let abi = lowered
        .abis
        .iter()
        .find(|a| a.arch == X86_64)
        .context("container accepts x86_64")?;
    let conv = |a: moat_policy::Action| match a {
        moat_policy::Action::Allow => oracle::Action::Allow,
        moat_policy::Action::Errno(e) => oracle::Action::Errno(e),
        moat_policy::Action::KillProcess => oracle::Action::KillProcess,
        moat_policy::Action::KillThread => oracle::Action::KillThread,
        moat_policy::Action::Trap(_) => oracle::Action::Trap,
        moat_policy::Action::Log => oracle::Action::Log,
        moat_policy::Action::Trace(n) => oracle::Action::Trace(n),
        moat_policy::Action::Notify => oracle::Action::Notify,
    };
    let mut rules = Vec::new();
    let rule = |name: &str, action, args| oracle::Rule {
        syscall: name.to_string(),
        action,
        args,
    };
    let eperm = oracle::Action::Errno(1);
    for (&nr, rs) in &abi.syscalls {
        let name = X86_64.by_nr(nr).map_or("?", |s| s.name);
        match name {
            "clone" => {
                let any = moat_syscalls::constant("CLONE_NEW_ANY").context("CLONE_NEW_ANY")?;
                for bit in (0..64).map(|b| 1u64 << b).filter(|b| any & b != 0) {
                    let c = oracle::ArgCmp {
                        index: 0,
                        op: oracle::Op::MaskedEq { mask: bit },
                        value: bit,
                    };
                    rules.push(rule(name, eperm, vec![c]));
                }
            }
            "ioctl" | "socket" => {
                let (index, values): (u8, &[&str]) = if name == "ioctl" {
                    (1, &["TIOCSTI", "TIOCLINUX"])
                } else {
                    (0, &["AF_VSOCK", "AF_ALG"])
                };
                for v in values {
                    let value = moat_syscalls::constant(v).context("constant")?;
                    let c = oracle::ArgCmp {
                        index,
                        op: oracle::Op::Eq,
                        value,
                    };
                    rules.push(rule(name, eperm, vec![c]));
                }
            }
            _ => {
                if let Some(r) = rs.last() {
                    if r.cond == moat_policy::Cond::True && r.action != abi.default {
                        rules.push(rule(name, conv(r.action), vec![]));
                    } else if r.cond != moat_policy::Cond::True {
                        bail!("container*: {name} has an unexpected condition");
                    }
                }
            }
        }
    }
    Ok((
        src,
        oracle::Filter {
            default: oracle::Action::Allow,
            bad_arch: oracle::Action::KillProcess,
            arches: vec![oracle::Arch::X86_64, oracle::Arch::X86],
            rules,
            optimize: oracle::Layout::Default,
        },
    ))
}

/// seccompiler's filter for `f` on x86_64 alone, if it can express it: one match action for
/// every rule, one architecture.
fn seccompiler_filter(f: &oracle::Filter) -> Option<seccompiler::SeccompFilter> {
    use seccompiler::{
        SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompRule,
    };
    let act = |a: oracle::Action| match a {
        oracle::Action::Allow => Some(SeccompAction::Allow),
        oracle::Action::Errno(n) => Some(SeccompAction::Errno(u32::from(n))),
        oracle::Action::KillProcess => Some(SeccompAction::KillProcess),
        oracle::Action::KillThread => Some(SeccompAction::KillThread),
        oracle::Action::Trap => Some(SeccompAction::Trap),
        oracle::Action::Log => Some(SeccompAction::Log),
        oracle::Action::Trace(n) => Some(SeccompAction::Trace(u32::from(n))),
        oracle::Action::Notify => None,
    };
    // One match action per filter: the most common one; the other rules are dropped (and
    // named in the table).
    let mut counts: BTreeMap<String, (usize, oracle::Action)> = BTreeMap::new();
    for r in &f.rules {
        counts
            .entry(format!("{:?}", r.action))
            .or_insert((0, r.action))
            .0 += 1;
    }
    let first = counts.values().max_by_key(|c| c.0)?.1;
    let mut map: BTreeMap<i64, Option<Vec<SeccompRule>>> = BTreeMap::new();
    for r in f.rules.iter().filter(|r| r.action == first) {
        let Some(nr) = oracle::resolve(oracle::Arch::X86_64, &r.syscall) else {
            continue;
        };
        let entry = map.entry(i64::from(nr)).or_insert_with(|| Some(Vec::new()));
        if r.args.is_empty() {
            *entry = None; // unconditional
            continue;
        }
        let conds = r
            .args
            .iter()
            .map(|c| {
                let op = match c.op {
                    oracle::Op::Ne => SeccompCmpOp::Ne,
                    oracle::Op::Lt => SeccompCmpOp::Lt,
                    oracle::Op::Le => SeccompCmpOp::Le,
                    oracle::Op::Eq => SeccompCmpOp::Eq,
                    oracle::Op::Ge => SeccompCmpOp::Ge,
                    oracle::Op::Gt => SeccompCmpOp::Gt,
                    oracle::Op::MaskedEq { mask } => SeccompCmpOp::MaskedEq(mask),
                };
                SeccompCondition::new(c.index, SeccompCmpArgLen::Qword, op, c.value).ok()
            })
            .collect::<Option<Vec<_>>>()?;
        if let Some(v) = entry {
            v.push(SeccompRule::new(conds).ok()?);
        }
    }
    let rules = map
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    seccompiler::SeccompFilter::new(
        rules,
        act(f.default)?,
        act(first)?,
        seccompiler::TargetArch::x86_64,
    )
    .ok()
}

fn seccompiler_program(f: seccompiler::SeccompFilter) -> anyhow::Result<Program> {
    let prog: seccompiler::BpfProgram = f.try_into()?;
    let insns = prog
        .iter()
        .map(|i| Insn::new(i.code, i.jt, i.jf, i.k))
        .collect();
    Ok(Program::new(insns)?)
}

/// Timing `f` `rounds` times; median in microseconds.
fn time_us<T>(rounds: usize, mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<f64> {
    let mut t = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        std::hint::black_box(f()?);
        t.push(start.elapsed().as_secs_f64() * 1e6);
    }
    Ok(median(t))
}

struct Entry {
    name: String,
    program: Option<Program>,
    compile_us: Option<f64>,
    note: String,
}

/// Emulated cost on x86_64.
struct Cost {
    mean: f64,
    worst: usize,
    cached: usize,
    personality: usize,
    socket: usize,
    clone: usize,
}

fn executed(p: &Program, name: &str, args: [u64; 6]) -> usize {
    let nr = X86_64.by_name(name).map_or(u32::MAX, |s| s.nr);
    emu::run(p, &SeccompData::new(X86_64.audit_arch(), nr, args)).executed
}

fn cost(p: &Program) -> Cost {
    let audit = X86_64.audit_arch();
    let known: Vec<u32> = X86_64.syscalls().iter().map(|s| s.nr).collect();
    let runs: Vec<usize> = known
        .iter()
        .map(|&nr| emu::run(p, &SeccompData::new(audit, nr, [0; 6])).executed)
        .collect();
    Cost {
        mean: runs.iter().sum::<usize>() as f64 / runs.len() as f64,
        worst: runs.iter().copied().max().unwrap_or(0),
        cached: known
            .iter()
            .filter(|&&nr| cache::is_constant_allow(p, audit, nr))
            .count(),
        personality: executed(p, "personality", [0xffff_ffff, 0, 0, 0, 0, 0]),
        socket: executed(p, "socket", [2, 1, 0, 0, 0, 0]),
        // glibc's pthread_create flags.
        clone: executed(p, "clone", [0x3d_0f00, 0, 0, 0, 0, 0]),
    }
}

/// ns per call of `nr(a0)` under `program` (None: no filter), in a forked child.
fn ns_per_call(program: Option<&Program>, nr: u32, a0: u64, calls: u32) -> anyhow::Result<f64> {
    let program = program.cloned();
    let (mut r, mut w) = pipe()?;
    let status = in_child(move || {
        if no_core_dumps().is_err() {
            return 90;
        }
        if let Some(p) = &program
            && moat_sys::install(p, moat_sys::Flags::NONE).is_err()
        {
            return 91;
        }
        // The timed calls (getpid, personality(0xffffffff), acct(NULL)) are on moat_sys::raw's
        // list; the list is consulted here, outside the timed loop.
        let Ok(call) = Call::native(i64::from(nr), [a0, 0, 0, 0, 0, 0]) else {
            return 93;
        };
        for _ in 0..calls / 10 {
            let _ = call.run();
        }
        // Batches of 200 calls; the median batch is one the scheduler did not interrupt (this
        // VM shares two CPUs with other work, and a wall-clock mean would include waiting).
        let mut batches = Vec::new();
        for _ in 0..calls / 200 {
            let start = Instant::now();
            for _ in 0..200 {
                let _ = call.run();
            }
            batches.push(start.elapsed().as_nanos() as f64 / 200.0);
        }
        let ns = median(batches);
        if w.write_all(&ns.to_le_bytes()).is_err() {
            return 92;
        }
        0
    })?;
    if status != ChildStatus::Exited(0) {
        bail!("timing child failed: {status:?}");
    }
    let mut buf = [0u8; 8];
    r.read_exact(&mut buf)?;
    Ok(f64::from_le_bytes(buf))
}

fn machine() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':').map(|x| x.1.trim().to_string()))
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let jit = std::fs::read_to_string("/proc/sys/net/core/bpf_jit_enable").unwrap_or_default();
    format!(
        "Linux {}, {cpu}, {cpus} CPUs, bpf_jit_enable={}",
        release.trim(),
        jit.trim()
    )
}

fn main() -> anyhow::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, calls) = if quick { (3, 50_000) } else { (25, 150_000) };
    if std::env::args().any(|a| a == "--proof") {
        proof::section(if quick { 1 } else { 5 })?;
        return Ok(());
    }
    println!("## Machine\n\n{}\n", machine());
    println!(
        "libseccomp {:?}, seccompiler 0.5; {rounds} rounds of {calls} calls per cell, interleaved; medians.\n",
        oracle::version()
    );

    // Docker's default profile as runc builds it on x86_64 (x86_64, x86, x32).
    let docker = oracle::docker_default(oracle::Arch::X86_64)?;
    let skipped = oracle::compile(&docker)?.skipped;
    let docker_text = docker.to_moat_text(&skipped);
    let (container_text, container_filter) = container_star()?;
    let mut docker64 = docker.clone();
    docker64.arches = vec![oracle::Arch::X86_64];
    let docker64_text = docker64.to_moat_text(&skipped);

    let profiles: Vec<(&str, String, Option<oracle::Filter>)> = vec![
        ("docker-default", docker_text, Some(docker)),
        ("docker-default, x86_64 only", docker64_text, Some(docker64)),
        ("container*", container_text, Some(container_filter)),
        (
            "container",
            Policy::builtin("container")
                .context("container")?
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .source()
                .to_string(),
            None,
        ),
    ];

    // The cheapest filter the kernel must run: load an argument (defeats the cache), allow.
    let floor = Program::new(vec![
        Insn::stmt(
            moat_bpf::consts::BPF_LD | moat_bpf::consts::BPF_W | moat_bpf::consts::BPF_ABS,
            moat_bpf::consts::offset_arg_lo(0),
        ),
        Insn::stmt(
            moat_bpf::consts::BPF_RET | moat_bpf::consts::BPF_K,
            moat_bpf::consts::SECCOMP_RET_ALLOW,
        ),
    ])?;
    println!(
        "`floor` is a 2-instruction filter that loads an argument (so the kernel cannot cache it) and allows: the fixed cost of running any filter.\n"
    );
    for (pname, text, filter) in profiles {
        let mut entries = Vec::new();
        let policy = Policy::parse(&text, pname).map_err(|e| anyhow::anyhow!("{e}"))?;
        let opts = Options::default();
        let us = time_us(rounds.max(21), || Ok(compile(&policy, &opts)?))?;
        let parse_us = time_us(rounds.max(21), || {
            Policy::parse(&text, pname).map_err(|e| anyhow::anyhow!("{e}"))
        })?;
        let compiled = compile(&policy, &opts)?;
        let rep = report(&compiled);
        entries.push(Entry {
            name: "moat".into(),
            program: Some(compiled.program.clone()),
            compile_us: Some(us),
            note: format!("+{parse_us:.0} µs to parse the text"),
        });
        if let Some(f) = &filter {
            for (name, layout) in [
                ("libseccomp default", oracle::Layout::Default),
                ("libseccomp tree", oracle::Layout::BinaryTree),
            ] {
                let mut f = f.clone();
                f.optimize = layout;
                let us = time_us(rounds.max(21), || oracle::compile(&f))?;
                let c = oracle::compile(&f)?;
                entries.push(Entry {
                    name: name.into(),
                    program: Some(Program::from_bytes(&c.bytes)?),
                    compile_us: Some(us),
                    note: String::new(),
                });
            }
            let dropped: Vec<String> = {
                let sf_first = f
                    .rules
                    .iter()
                    .filter(|r| r.action == oracle::Action::Allow)
                    .count();
                f.rules
                    .iter()
                    .filter(|r| (sf_first > 0) && r.action != oracle::Action::Allow)
                    .map(|r| format!("{} {}", r.action.moat_text(), r.syscall))
                    .collect()
            };
            let single_abi = f.arches == [oracle::Arch::X86_64];
            match seccompiler_filter(f).filter(|_| single_abi) {
                Some(sf) => {
                    let us = time_us(rounds.max(21), || seccompiler_program(sf.clone()))?;
                    entries.push(Entry {
                        name: "seccompiler".into(),
                        program: Some(seccompiler_program(sf)?),
                        compile_us: Some(us),
                        note: if dropped.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "one match action per filter: without `{}`",
                                dropped.join("`, `")
                            )
                        },
                    });
                }
                None if !single_abi => entries.push(Entry {
                    name: "seccompiler".into(),
                    program: None,
                    compile_us: None,
                    note: "one ABI per filter: see the x86_64-only table".into(),
                }),
                None => entries.push(Entry {
                    name: "seccompiler".into(),
                    program: None,
                    compile_us: None,
                    note: "cannot express it (one match action per filter)".into(),
                }),
            }
        } else {
            for name in ["libseccomp default", "libseccomp tree", "seccompiler"] {
                entries.push(Entry {
                    name: name.into(),
                    program: None,
                    compile_us: None,
                    note: "cannot express `persona not in {…}` (one comparison per argument per rule; seccompiler: one match action)".into(),
                });
            }
        }

        println!("## {pname}\n");
        let x = rep.abis.iter().find(|a| a.arch == X86_64);
        if let Some(x) = x {
            println!(
                "moat on x86_64: M = {} intervals, search depth {}, bound 4 + ⌈log2 M⌉ = {}; worst without argument checks {}, worst with {}; {} of {} x86_64 syscalls cached.\n",
                x.dispatch.intervals,
                x.dispatch.depth,
                x.bound(),
                x.worst_without_args(),
                x.worst(),
                x.cached.len(),
                x.cached.len() + x.filtered.len()
            );
        }
        println!(
            "| compiler | compile µs | insns | x86_64 cached | mean executed | worst executed | personality(0xffffffff) | socket(AF_INET) | clone(thread) | note |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        for e in &entries {
            match &e.program {
                Some(p) => {
                    let c = cost(p);
                    println!(
                        "| {} | {:.0} | {} | {} | {:.1} | {} | {} | {} | {} | {} |",
                        e.name,
                        e.compile_us.unwrap_or(f64::NAN),
                        p.len(),
                        c.cached,
                        c.mean,
                        c.worst,
                        c.personality,
                        c.socket,
                        c.clone,
                        e.note
                    );
                }
                None => println!(
                    "| {} | — | — | — | — | — | — | — | — | {} |",
                    e.name, e.note
                ),
            }
        }
        println!();

        // Real kernel, interleaved: every round runs every (call, filter) cell once.
        let nr = |n: &str| X86_64.by_name(n).map_or(0, |s| s.nr);
        let timed: [(&str, u32, u64); 3] = [
            ("getpid", nr("getpid"), 0),
            ("personality(0xffffffff)", nr("personality"), 0xffff_ffff),
            ("acct(NULL) (denied)", nr("acct"), 0),
        ];
        let mut modes: Vec<(String, Option<&Program>)> =
            vec![("no filter".into(), None), ("floor".into(), Some(&floor))];
        for e in &entries {
            if let Some(p) = &e.program {
                modes.push((e.name.clone(), Some(p)));
            }
        }
        let mut samples: BTreeMap<(usize, usize), Vec<f64>> = BTreeMap::new();
        for round in 0..rounds {
            for (ci, (_, n, a0)) in timed.iter().enumerate() {
                // Rotate the order every round so no filter always runs first or last.
                for k in 0..modes.len() {
                    let mi = (k + round) % modes.len();
                    let p = modes[mi].1;
                    samples
                        .entry((ci, mi))
                        .or_default()
                        .push(ns_per_call(p, *n, *a0, calls)?);
                }
            }
        }
        print!("| ns per call: median (ratio, extra; extra of the minima) |");
        for (m, _) in &modes {
            print!(" {m} |");
        }
        println!();
        print!("|---|");
        for _ in &modes {
            print!("---:|");
        }
        println!();
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        for (ci, (cname, _, _)) in timed.iter().enumerate() {
            let base = median(samples[&(ci, 0)].clone());
            let base_min = min(&samples[&(ci, 0)]);
            print!("| {cname} |");
            for mi in 0..modes.len() {
                let v = &samples[&(ci, mi)];
                let m = median(v.clone());
                if mi == 0 {
                    print!(" {m:.1} (min {base_min:.1}) |");
                } else {
                    print!(
                        " {m:.1} (×{:.2}, {:+.1}; min {:+.1}) |",
                        m / base,
                        m - base,
                        min(v) - base_min
                    );
                }
            }
            println!();
        }
        println!();
    }
    proof::section(if quick { 1 } else { 5 })?;
    std::io::stdout().flush()?;
    Ok(())
}
