//! Golden files: what moat prints for a fixed set of inputs, compared byte for byte with
//! `tests/golden/*.txt`. `cargo xtask bless` rewrites them after an intended change (review the
//! `git diff`); a difference that nobody intended fails here.
//!
//! The inputs are `tests/golden/web.moat` (a short service policy over `container`),
//! `shadowed.moat` (rules that never decide), `web.tests` (unit tests with one failure) and, for
//! the exporters, `worker.moat` (a short allow-list with argument conditions) and `worker.json`
//! (what `moat convert --to docker` makes of it, read back).
//! Each case runs the built binary in that directory, so paths in the output are short and the
//! same on every machine. Time measurements (`1.23 ms`) are replaced by `N ms`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Runs `moat args` in the golden directory and renders the command, its stdout, its stderr
/// (when any) and its exit code as one text.
fn transcript(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(args)
        .current_dir(dir())
        .env_remove("NO_COLOR")
        .output()
        .expect("run moat");
    let mut text = format!("$ moat {}\n", args.join(" "));
    text.push_str(&String::from_utf8_lossy(&out.stdout));
    if !out.stderr.is_empty() {
        text.push_str("--- stderr\n");
        text.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    text.push_str(&format!("--- exit {}\n", out.status.code().unwrap_or(-1)));
    normalize_times(&text)
}

/// Replaces every decimal number directly followed by ` ms` or ` µs` with `N`: compile and
/// validation times vary from run to run, everything else moat prints does not.
fn normalize_times(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(|c: char| c.is_ascii_digit()) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let end = tail
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(tail.len());
        let after = &tail[end..];
        let preceded_by_word = out
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let unit = [" ms", " µs"].iter().any(|u| {
            after
                .strip_prefix(u)
                .is_some_and(|t| !t.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
        });
        if !preceded_by_word && unit {
            out.push('N');
        } else {
            out.push_str(&tail[..end]);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Several commands' transcripts in one golden file.
fn check(name: &str, commands: &[&[&str]]) {
    let text: String = commands
        .iter()
        .map(|args| transcript(args))
        .collect::<Vec<_>>()
        .join("\n");
    moat_testkit::golden(&format!("crates/cli/tests/golden/{name}.txt"), &text);
}

#[test]
fn normalize_times_replaces_only_durations() {
    assert_eq!(
        normalize_times("validated exactly: 195 paths, 6.07 ms (compile 1.55 ms), x86 2 µs"),
        "validated exactly: 195 paths, N ms (compile N ms), x86 N µs"
    );
    assert_eq!(normalize_times("arg0 == 2 ms"), "arg0 == N ms");
    assert_eq!(normalize_times("x86_64 32 msgget"), "x86_64 32 msgget");
}

#[test]
fn golden_explain() {
    check("explain", &[&["explain", "web.moat"]]);
}

#[test]
fn golden_diff() {
    check(
        "diff",
        &[
            &["diff", "container", "web.moat"],
            &["diff", "--subset", "web.moat", "container"],
            &["diff", "--subset", "container", "web.moat"],
        ],
    );
}

#[test]
fn golden_lint() {
    check("lint", &[&["lint", "web.moat"], &["lint", "shadowed.moat"]]);
}

#[test]
fn golden_compile_report() {
    check(
        "compile-report",
        &[
            &["compile", "web.moat", "--report"],
            &["compile", "strict", "--report"],
        ],
    );
}

#[test]
fn golden_disasm() {
    let tmp = std::env::temp_dir().join(format!("moat-golden-{}.bpf", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["compile", "web.moat", "-o"])
        .arg(&tmp)
        .current_dir(dir())
        .output()
        .expect("run moat");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = tmp.to_str().unwrap();
    let text = transcript(&["disasm", path]).replace(path, "web.bpf");
    let _ = std::fs::remove_file(&tmp);
    let text = text + "\n" + &transcript(&["compile", "strict", "--format", "disasm"]);
    moat_testkit::golden("crates/cli/tests/golden/disasm.txt", &text);
}

#[test]
fn golden_convert() {
    check(
        "convert",
        &[
            &["convert", "--to", "docker", "worker.moat"],
            &["convert", "--to", "oci", "worker.moat"],
            &["convert", "--to", "k8s", "worker.moat"],
            &["convert", "--to", "spo", "worker.moat"],
            &["convert", "--to", "systemd", "worker.moat"],
            &["convert", "--to", "moat", "--one-line", "worker.moat"],
            &["convert", "--to", "systemd", "--strict", "worker.moat"],
            &["convert", "--to", "moat", "worker.json"],
        ],
    );
}

#[test]
fn golden_test_and_emu() {
    check(
        "test-emu",
        &[
            &["test", "web.moat", "web.tests"],
            &["test", "web.moat", "web.tests", "--format", "json"],
            &["emu", "web.moat", "ioctl", "3", "0x541b"],
            &["emu", "web.moat", "socket", "17", "3", "0"],
            &["emu", "--arch", "x86", "web.moat", "unshare", "0"],
            &[
                "emu", "--format", "json", "web.moat", "openat", "0", "0", "0",
            ],
            &["emu", "--arch", "x86", "web.moat", "socketcall", "1", "0"],
        ],
    );
}
