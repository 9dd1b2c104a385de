//! Recording overhead: a syscall-heavy program run bare, under `moat record`'s recorder
//! (seccomp user notification + `CONTINUE`, in this process), under a minimal ptrace recorder
//! (`benches/ptrace_record.c`: a `SECCOMP_RET_TRACE` filter, one ptrace stop per call, the
//! alternative moat did not choose) and under `strace -f -c` (Debian's strace: ptrace, two
//! stops per call), interleaved in the same run, medians.
//!
//! `cargo bench -p moat-record --bench overhead` prints a Markdown table (docs/record.md keeps
//! the numbers). Under `cargo test` it runs each mode once on a tiny workload, as a smoke test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Bare,
    Record,
    Ptrace,
    Strace,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Bare => "bare",
            Mode::Record => "moat record",
            Mode::Ptrace => "ptrace RET_TRACE",
            Mode::Strace => "strace -f -c",
        }
    }
}

fn compile(dir: &Path, name: &str) -> PathBuf {
    let src = format!("{}/benches/{name}.c", env!("CARGO_MANIFEST_DIR"));
    let bin = dir.join(name);
    let o = Command::new("cc")
        .args(["-O2", "-pthread", "-o"])
        .arg(&bin)
        .arg(src)
        .output()
        .expect("run cc");
    assert!(
        o.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    bin
}

/// Runs `argv` once in `mode`; returns the wall time and, for `Record`, the calls recorded.
fn once(mode: Mode, argv: &[OsString], tracer: &Path) -> (Duration, Option<u64>) {
    let start = Instant::now();
    let calls = match mode {
        Mode::Bare => {
            let s = Command::new(&argv[0])
                .args(&argv[1..])
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(s.success());
            None
        }
        Mode::Ptrace => {
            let s = Command::new(tracer)
                .args(argv)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(s.success());
            None
        }
        Mode::Strace => {
            let s = Command::new("strace")
                .args(["-f", "-c", "-o", "/dev/null"])
                .args(argv)
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(s.success());
            None
        }
        Mode::Record => {
            let o = moat_record::record(argv, None, None, |_| {}).unwrap();
            assert_eq!(o.exit, moat_sys::notify::Exit::Code(0));
            Some(o.recording.total())
        }
    };
    (start.elapsed(), calls)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let dir = std::env::temp_dir().join(format!("moat-record-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = compile(&dir, "workload");
    let tracer = compile(&dir, "ptrace_record");
    let src = dir.join("src.bin");
    std::fs::write(&src, vec![0x5au8; 1 << 20]).unwrap();
    let dst = dir.join("dst.bin");
    let (getppid_n, copy_rounds, reps) = if bench {
        ("200000", "40", 7)
    } else {
        ("100", "1", 1)
    };
    let os = |s: &str| OsString::from(s);
    let workloads: Vec<(&str, Vec<OsString>)> = vec![
        (
            "getppid loop",
            vec![bin.clone().into(), os("getppid"), os(getppid_n)],
        ),
        (
            "file copy (1 MiB, 4 KiB read/write)",
            vec![
                bin.clone().into(),
                os("copy"),
                src.clone().into(),
                dst.clone().into(),
                os(copy_rounds),
            ],
        ),
    ];
    let have_strace = Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let modes: Vec<Mode> = [Mode::Bare, Mode::Record, Mode::Ptrace, Mode::Strace]
        .into_iter()
        .filter(|m| *m != Mode::Strace || have_strace)
        .collect();

    let names: Vec<&str> = modes.iter().map(|m| m.name()).collect();
    println!(
        "| workload | calls | {} | {} |",
        names.join(" | "),
        names[1..]
            .iter()
            .map(|n| format!("{n} per call"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|---|{}", "---|".repeat(2 * modes.len() - 1));
    for (name, argv) in &workloads {
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); modes.len()];
        let mut calls = 0;
        // Interleave the modes so drift in the machine's speed hits them alike.
        for _ in 0..reps {
            for (i, m) in modes.iter().enumerate() {
                let (t, c) = once(*m, argv, &tracer);
                times[i].push(t);
                if let Some(c) = c {
                    calls = c;
                }
            }
        }
        let med: Vec<Duration> = times.into_iter().map(median).collect();
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
        let bare = med[0];
        let per_call = |d: Duration| {
            let extra = d.saturating_sub(bare).as_secs_f64() * 1e6;
            format!("+{:.2} µs", extra / calls.max(1) as f64)
        };
        let totals: Vec<String> = med
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                if i == 0 {
                    ms(d)
                } else {
                    format!("{} ({:.1}×)", ms(d), d.as_secs_f64() / bare.as_secs_f64())
                }
            })
            .collect();
        let extra: Vec<String> = med[1..].iter().map(|&d| per_call(d)).collect();
        println!(
            "| {name} | {calls} | {} | {} |",
            totals.join(" | "),
            extra.join(" | ")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
