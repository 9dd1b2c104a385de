//! A short fuzzing run of every target on stable Rust, seeded from real policies and programs.
//!
//! `MOAT_FUZZ_SECS` sets the budget per target (default 3 seconds; CI uses the default),
//! `MOAT_FUZZ_SEED` the random seed (default: a fixed seed, so CI runs are reproducible; set it
//! to vary the inputs). A crash writes the input under the test's temporary directory and fails
//! with the command that keeps it as a regression. `MOAT_FUZZ_WRITE_CORPUS=dir` writes the seeds
//! to `dir/<target>/` for cargo-fuzz (`fuzz/README.md`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::seeds;
use moat_attacks::{driver, targets};

fn budget() -> Duration {
    let secs = std::env::var("MOAT_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(3.0);
    Duration::from_secs_f64(secs)
}

fn seed() -> u64 {
    std::env::var("MOAT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6d6f_6174)
}

fn fuzz(name: &str) {
    let target = targets::by_name(name).unwrap();
    let corpus = seeds::for_target(name);
    if let Ok(dir) = std::env::var("MOAT_FUZZ_WRITE_CORPUS") {
        let dir = std::path::Path::new(&dir).join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, s) in corpus.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:03}")), s).unwrap();
        }
    }
    let cfg = driver::Config {
        budget: budget(),
        seed: seed(),
        ..driver::Config::default()
    };
    let report = driver::run(target, &corpus, &cfg);
    eprintln!(
        "fuzz {name}: {} runs, {} accepted, corpus {}, seed {}",
        report.runs, report.accepted, report.corpus, cfg.seed
    );
    if let Some((input, msg)) = report.crash {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-crashes");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!(
            "{name}-{:016x}",
            targets::Rng::from_bytes(&input).next_u64()
        ));
        std::fs::write(&path, &input).unwrap();
        panic!(
            "fuzz target {name} failed: {msg}\ninput ({} bytes) saved to {}\nkeep it: cp {} \
             testdata/fuzz-regressions/{name}/<what-it-guards>",
            input.len(),
            path.display(),
            path.display()
        );
    }
    assert!(
        report.accepted > 0,
        "no input was accepted: the seeds are broken"
    );
}

#[test]
fn fuzz_policy() {
    fuzz("policy");
}

#[test]
fn fuzz_bpf_decode() {
    fuzz("bpf_decode");
}

#[test]
fn fuzz_asm() {
    fuzz("asm");
}

#[test]
fn fuzz_emu() {
    fuzz("emu");
}

#[test]
fn fuzz_compile() {
    fuzz("compile");
}

#[test]
fn fuzz_import() {
    fuzz("import");
}

#[test]
fn fuzz_systemd() {
    fuzz("systemd");
}

#[test]
fn fuzz_minijail() {
    fuzz("minijail");
}

#[test]
fn fuzz_lxc() {
    fuzz("lxc");
}

#[test]
fn fuzz_oci() {
    fuzz("oci");
}
