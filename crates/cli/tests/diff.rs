//! `moat diff` end to end: human and JSON output, exit codes, --subset, raw BPF input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{moat, stdout};
use std::path::PathBuf;
use std::process::Output;

fn tmp(name: &str, content: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("moat-diff-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p: PathBuf = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p.display().to_string()
}

#[test]
fn equal_policies_exit_0() {
    let o = moat(&["diff", "container", "container"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("no difference"), "{}", stdout(&o));
}

#[test]
fn one_exception_is_the_only_difference() {
    let f = tmp("bpf.moat", b"use container\nallow bpf\n");
    let o = moat(&["diff", "container", &f]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(
        lines[0],
        format!("bpf [x86_64, x86]: container denies, {f} allows")
    );
    assert!(lines[1].starts_with("2 differences in 1 syscalls"), "{out}");
}

#[test]
fn argument_conditions_are_written_out() {
    let a = tmp(
        "a.moat",
        b"default allow\ndeny clone if flags & CLONE_NEWUSER\n",
    );
    let b = tmp(
        "b.moat",
        b"default allow\ndeny clone if flags & CLONE_NEW_ANY\n",
    );
    let o = moat(&["diff", &a, &b]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "clone [x86_64]: {a} allows, {b} denies when flags & CLONE_NEWUSER == 0 and flags & CLONE_NEW_ANY"
        )),
        "{out}"
    );
    // JSON carries the same, with an example call.
    let o = moat(&["diff", &a, &b, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["equal"], false);
    assert_eq!(v["exact"], true);
    let d = &v["differences"][0];
    assert_eq!(d["syscall"], "clone");
    assert_eq!(d["a"], "allow");
    assert_eq!(d["b"], "deny");
    let flags = d["example"][0].as_u64().unwrap();
    assert!(
        flags & 0x1000_0000 == 0 && flags & 0x7e02_0080 != 0,
        "{flags:#x}"
    );
}

#[test]
fn subset_proves_or_refutes() {
    let strict_ish = tmp("s.moat", b"use container\ndeny ptrace bpf socket\n");
    let o = moat(&["diff", "--subset", &strict_ish, "container"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("proved"), "{}", stdout(&o));
    let o = moat(&["diff", "--subset", "container", &strict_ish]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("counterexample: x86_64 socket(")
            || out.contains("counterexample: x86 socket"),
        "{out}"
    );
    let o = moat(&[
        "diff",
        "--subset",
        "container",
        &strict_ish,
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["subset"], false);
    assert_eq!(v["counterexample"]["a"], "allow");
}

#[test]
fn raw_bpf_is_compared_by_sampling_and_says_so() {
    let bpf = std::env::temp_dir().join(format!(
        "moat-diff-cli-{}/container.bpf",
        std::process::id()
    ));
    std::fs::create_dir_all(bpf.parent().unwrap()).unwrap();
    let o = moat(&["compile", "container", "-o", bpf.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bpf = bpf.display().to_string();
    // The compiled program means the policy: no difference on any sampled call.
    let o = moat(&["diff", "container", &bpf]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("raw BPF input: exact reasoning on conditions is impossible"),
        "{out}"
    );
    assert!(out.contains("no difference"), "{out}");
    // Against a policy with one exception, the sample finds exactly that syscall.
    let f = tmp("ptrace.moat", b"use container\nallow ptrace\n");
    let o = moat(&["diff", &bpf, &f]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("ptrace [x86_64, x86]: "), "{out}");
    assert!(
        out.lines().filter(|l| l.contains("]: ")).count() == 1,
        "{out}"
    );
}

#[test]
fn docker_json_reads_like_any_policy() {
    let fixture = &moat_testkit::fixture("fixtures/docker-default.json");
    // The importer accepts the native ABI; on it Docker's JSON and the built-in `docker` agree.
    let o = moat(&["diff", fixture, "docker"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(!out.contains("[x86_64"), "{out}");
    let o = moat(&["diff", "--subset", fixture, "docker"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let f = tmp("bad.moat", b"default allow\ndeny nosuchcall\n");
    let o = moat(&["diff", "container", &f]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("{f}:2:")), "{err}");
    let o = moat(&["diff", "container", "no-such-profile"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn cap_and_kernel_options_decide_guarded_rules() {
    let plain = tmp("plain.moat", b"arch x86_64\ndefault allow\n");
    let cap = tmp(
        "cap.moat",
        b"arch x86_64\ndefault allow\ndeny bpf when not cap CAP_BPF\n",
    );
    // Without capabilities the guarded rule applies: bpf is denied.
    let o = moat(&["diff", &cap, &plain]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("bpf [x86_64]"), "{}", stdout(&o));
    // With CAP_BPF (any spelling, comma-separated lists too) it does not.
    for caps in [&["--cap", "CAP_BPF"][..], &["--cap", "bpf,sys_admin"][..]] {
        let o = moat(&[&["diff", &cap, &plain][..], caps].concat());
        assert_eq!(o.status.code(), Some(0), "{caps:?}: {}", stdout(&o));
    }
    let kernel = tmp(
        "kernel.moat",
        b"arch x86_64\ndefault allow\ndeny io_uring_setup when kernel < 5.10\n",
    );
    // Without --kernel the kernel is new enough for every guard.
    assert_eq!(moat(&["diff", &kernel, &plain]).status.code(), Some(0));
    let o = moat(&["diff", &kernel, &plain, "--kernel", "5.4"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("io_uring_setup [x86_64]"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn docker_differs_from_container_by_more_with_cap_sys_admin() {
    let without = moat(&["diff", "docker", "container"]);
    let with = moat(&["diff", "docker", "container", "--cap", "CAP_SYS_ADMIN"]);
    assert_eq!(without.status.code(), Some(1));
    assert_eq!(with.status.code(), Some(1));
    assert_ne!(stdout(&without), stdout(&with));
    // docker allows mount and friends to CAP_SYS_ADMIN; container denies them to everyone.
    let mount = |o: &Output| stdout(o).lines().any(|l| l.starts_with("mount ["));
    assert!(!mount(&without), "{}", stdout(&without));
    assert!(mount(&with), "{}", stdout(&with));
}

#[test]
fn bad_cap_or_kernel_is_one_line_and_exit_2() {
    for bad in [&["--cap", "CAP_NOPE"][..], &["--kernel", "4.x"][..]] {
        let o = moat(&[&["diff", "docker", "docker"][..], bad].concat());
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
