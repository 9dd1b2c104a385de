//! libseccomp as a benchmark peer: how long it takes to compile Docker's default profile, and
//! what its programs cost per syscall in the kernel.
//!
//! `cargo bench -p moat-oracle` (std only, no harness). Kernel timings run in forked children
//! (the filter never reaches this process); every mode is measured in interleaved rounds and the
//! median is printed, because this VM's speed drifts.

use std::io::{Read, Write};
use std::time::Instant;

use moat_oracle::{Arch, Compiled, Layout, compile, compile_runc, docker_default};
use moat_sys::raw::Call;
use moat_sys::testing::{ChildStatus, in_child, no_core_dumps, pipe};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// ns per call of `nr(a0)` under `program` (None: no filter), measured in a forked child.
fn ns_per_call(
    program: Option<&[u8]>,
    nr: libc::c_long,
    a0: u64,
    calls: u32,
) -> anyhow::Result<f64> {
    let program = program.map(moat_bpf::Program::from_bytes).transpose()?;
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
        // The timed syscalls (getpid, personality query, an unassigned number) are on
        // moat_sys::raw's list; the list is consulted here, outside the timed loop.
        let Ok(call) = Call::native(nr, [a0, 0, 0, 0, 0, 0]) else {
            return 93;
        };
        for _ in 0..calls / 10 {
            let _ = call.run();
        }
        let start = Instant::now();
        for _ in 0..calls {
            let _ = call.run();
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(calls);
        if w.write_all(&ns.to_le_bytes()).is_err() {
            return 92;
        }
        0
    })?;
    if status != ChildStatus::Exited(0) {
        anyhow::bail!("timing child failed: {status:?}");
    }
    let mut buf = [0u8; 8];
    r.read_exact(&mut buf)?;
    Ok(f64::from_le_bytes(buf))
}

fn main() -> anyhow::Result<()> {
    // `cargo test --benches` runs this with `--bench`-less args; keep it quick there.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = if quick { 1 } else { 9 };

    let mut filter = docker_default(Arch::X86_64)?;
    let mut compile_us = Vec::new();
    for layout in [Layout::Default, Layout::BinaryTree] {
        filter.optimize = layout;
        let mut t = Vec::new();
        for _ in 0..rounds.max(3) {
            let start = Instant::now();
            let c = compile(&filter)?;
            t.push(start.elapsed().as_secs_f64() * 1e6);
            std::hint::black_box(c);
        }
        compile_us.push((layout, median(t)));
    }
    for (layout, us) in &compile_us {
        println!("libseccomp compile, docker default x86_64, {layout:?}: {us:.0} us (median)");
    }

    filter.optimize = Layout::Default;
    let linear: Compiled = compile(&filter)?;
    let runc11 = compile_runc(&filter)?;
    filter.optimize = Layout::BinaryTree;
    let tree = compile(&filter)?;
    let modes: [(&str, Option<&[u8]>); 4] = [
        ("no filter", None),
        ("libseccomp default layout", Some(&linear.bytes)),
        ("libseccomp binary tree", Some(&tree.bytes)),
        ("runc 1.1 (stub + default layout)", Some(&runc11.bytes)),
    ];
    println!(
        "insns: default {} tree {} runc1.1 {}",
        linear.len(),
        tree.len(),
        runc11.len()
    );
    let calls: [(&str, libc::c_long, u64); 3] = [
        ("getpid (constant allow: kernel cache)", libc::SYS_getpid, 0),
        (
            "personality(0xffffffff) (argument rule)",
            libc::SYS_personality,
            0xffff_ffff,
        ),
        ("syscall 1000 (default action)", 1000, 0),
    ];
    let n = if quick { 2_000 } else { 200_000 };
    for (what, nr, a0) in calls {
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
        for _ in 0..rounds {
            for (i, (_, p)) in modes.iter().enumerate() {
                samples[i].push(ns_per_call(*p, nr, a0, n)?);
            }
        }
        for ((mode, _), s) in modes.iter().zip(samples) {
            println!("{what:45} {mode:34} {:7.1} ns/call", median(s));
        }
    }
    Ok(())
}
