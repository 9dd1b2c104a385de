//! Bad input: every case ends at once with one error line and exit code 2 — `/dev/zero` and
//! FIFOs where a file is expected, a YAML alias bomb, `use` chains that double per link, and
//! megabyte tokens (quoted at most 80 characters). Memory is bounded with `ulimit -v` where a
//! case used to grow without bound.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moat-cli-in-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs moat under a 1 GiB address-space limit (the debug binary maps ~100 MB to start; a case
/// that grows without bound fails the limit instead of the machine) and a 10 s timeout.
fn moat_limited(args: &[&str], stdin: Stdio) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576; exec timeout 10 \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_moat"))
        .args(args)
        .stdin(stdin)
        .output()
        .unwrap()
}

fn fails_with(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.len() < 400, "a short line: {} bytes", err.len());
    assert!(err.contains(needle), "{err}");
}

fn mkfifo(p: &Path) {
    assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
}

#[test]
fn use_of_dev_zero_is_refused() {
    let d = scratch("zero");
    let p = d.join("p.moat");
    std::fs::write(&p, "use \"/dev/zero\"\n").unwrap();
    let o = moat_limited(&["compile", p.to_str().unwrap(), "--report"], Stdio::null());
    fails_with(
        &o,
        "p.moat:1:1: cannot read policy: /dev/zero: is a character device, not a regular file",
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn use_of_a_fifo_is_refused_without_blocking() {
    let d = scratch("fifo");
    mkfifo(&d.join("f"));
    let p = d.join("p.moat");
    std::fs::write(&p, "use \"f\"\n").unwrap();
    let o = moat_limited(&["explain", p.to_str().unwrap()], Stdio::null());
    fails_with(&o, "is a FIFO, not a regular file");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_bundle_config_json_fifo_is_refused_without_blocking() {
    let d = scratch("bundle");
    mkfifo(&d.join("config.json"));
    let o = moat_limited(
        &[
            "oci-runtime",
            "--dry-run",
            d.to_str().unwrap(),
            "create",
            "x",
        ],
        Stdio::null(),
    );
    assert_ne!(
        o.status.code(),
        Some(124),
        "blocked on the FIFO: {}",
        stderr(&o)
    );
    fails_with(&o, "config.json: is a FIFO, not a regular file");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn disasm_of_endless_stdin_stops_at_the_cap() {
    let zero = std::fs::File::open("/dev/zero").unwrap();
    let o = moat_limited(&["disasm", "-"], Stdio::from(zero));
    fails_with(&o, "-: larger than 4194304 bytes");
}

#[test]
fn a_chain_of_uses_that_doubles_per_link_reads_each_file_once() {
    // 41 files, each using the next twice: spliced every time, that is 2^40 copies of the last.
    let d = scratch("chain");
    for i in 0..41 {
        let text = if i == 40 {
            "default allow\ndeny mkdir\n".to_string()
        } else {
            format!("use \"f{}.moat\"\nuse \"f{}.moat\"\n", i + 1, i + 1)
        };
        std::fs::write(d.join(format!("f{i}.moat")), text).unwrap();
    }
    let o = moat_limited(
        &[
            "emu",
            d.join("f0.moat").to_str().unwrap(),
            "--arch",
            "x86_64",
            "mkdir",
        ],
        Stdio::null(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("f40.moat:2"), "{}", stdout(&o));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_policy_past_the_statement_cap_is_an_error() {
    let d = scratch("cap");
    let body = "deny mkdir\n".repeat(100_001);
    std::fs::write(d.join("big.moat"), body).unwrap();
    let o = moat_limited(
        &["explain", d.join("big.moat").to_str().unwrap()],
        Stdio::null(),
    );
    fails_with(&o, "expands to more than 100000 statements");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_diamond_keeps_the_meaning_of_splicing_both_copies() {
    // top: use a, use b; a: use base, allow openat; b: use base. Spliced in full that is
    // base a base b, where base's later copy denies openat again: spliced once, the copy that
    // stays must be the last one.
    let d = scratch("diamond-order");
    std::fs::write(d.join("base.moat"), "default allow\ndeny openat\n").unwrap();
    std::fs::write(d.join("a.moat"), "use \"base.moat\"\nallow openat\n").unwrap();
    std::fs::write(d.join("b.moat"), "use \"base.moat\"\n").unwrap();
    std::fs::write(d.join("top.moat"), "use \"a.moat\"\nuse \"b.moat\"\n").unwrap();
    let o = moat_limited(
        &[
            "emu",
            d.join("top.moat").to_str().unwrap(),
            "--arch",
            "x86_64",
            "openat",
        ],
        Stdio::null(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("deny") && out.contains("base.moat:2"), "{out}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_diamond_of_uses_is_fine() {
    let d = scratch("diamond");
    std::fs::write(
        d.join("base.moat"),
        "default errno EPERM\nallow read write\n",
    )
    .unwrap();
    std::fs::write(d.join("a.moat"), "use \"base.moat\"\nallow openat\n").unwrap();
    std::fs::write(d.join("b.moat"), "use \"base.moat\"\nallow close\n").unwrap();
    std::fs::write(d.join("top.moat"), "use \"a.moat\"\nuse \"b.moat\"\n").unwrap();
    let o = moat_limited(
        &["compile", d.join("top.moat").to_str().unwrap(), "--report"],
        Stdio::null(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_yaml_alias_bomb_is_refused_before_it_expands() {
    let d = scratch("bomb");
    let mut text = String::from(
        "apiVersion: security-profiles-operator.x-k8s.io/v1beta1\na0: &a0 [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n",
    );
    for i in 1..9 {
        let p = format!("*a{}", i - 1);
        text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![p; 9].join(",")));
    }
    text.push_str("kind: SeccompProfile\nspec: {defaultAction: SCMP_ACT_ERRNO, syscalls: [{action: SCMP_ACT_ALLOW, names: *a8}]}\n");
    assert!(text.len() < 700, "{}", text.len());
    let p = d.join("bomb.yaml");
    std::fs::write(&p, &text).unwrap();
    let o = moat_limited(
        &["convert", p.to_str().unwrap(), "--to", "moat"],
        Stdio::null(),
    );
    fails_with(&o, "bomb.yaml:7:");
    assert!(
        stderr(&o).contains("expands to more than 200000 nodes"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_megabyte_token_is_quoted_short() {
    let d = scratch("token");
    let p = d.join("p.moat");
    std::fs::write(&p, format!("default allow\ndeny {}\n", "x".repeat(1 << 20))).unwrap();
    let o = moat_limited(&["compile", p.to_str().unwrap(), "--report"], Stdio::null());
    fails_with(&o, "p.moat:2:6: unknown syscall \"");
    assert!(
        stderr(&o).contains(&format!("{}…", "x".repeat(79))),
        "{}",
        stderr(&o)
    );
    let p = d.join("q.moat");
    std::fs::write(&p, format!("allow {}\n", "y".repeat(1 << 20))).unwrap();
    let o = moat_limited(&["compile", p.to_str().unwrap(), "--report"], Stdio::null());
    fails_with(&o, "q.moat:");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn node_install_refuses_a_fifo_or_device_as_its_configuration_without_blocking() {
    let d = scratch("install");
    let root = d.join("host");
    std::fs::create_dir_all(root.join("usr/sbin")).unwrap();
    std::os::unix::fs::symlink("/usr/sbin/runc", root.join("usr/sbin/runc")).unwrap();
    mkfifo(&d.join("runtime.toml"));
    let root_arg = root.to_str().unwrap();
    let fifo = d.join("runtime.toml");
    for (args, needle) in [
        (
            vec!["--config", fifo.to_str().unwrap()],
            "runtime.toml: is a FIFO, not a regular file",
        ),
        (
            vec!["--config", "/dev/zero"],
            "/dev/zero: is a character device, not a regular file",
        ),
        (
            vec!["--binary", "/dev/zero"],
            "/dev/zero: is a character device, not a regular file",
        ),
    ] {
        let mut all = vec!["node", "install", "--root", root_arg];
        all.extend(args);
        let o = moat_limited(&all, Stdio::null());
        assert_ne!(o.status.code(), Some(124), "blocked: {}", stderr(&o));
        fails_with(&o, needle);
        assert!(
            stderr(&o).starts_with("moat: nothing was installed: "),
            "{}",
            stderr(&o)
        );
    }
    // Nothing was written under the root.
    assert!(!root.join("usr/local").exists());
    assert!(!root.join("etc").exists());
    let o = moat_limited(
        &["node", "install", "--root", fifo.to_str().unwrap()],
        Stdio::null(),
    );
    fails_with(&o, "the host's root is not a directory");
    std::fs::remove_dir_all(&d).unwrap();
}
