//! `moat lint` end to end: formats, levels, exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{moat, stdout};

fn tmp(name: &str, content: &str) -> String {
    let dir = std::env::temp_dir().join(format!("moat-lint-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p.display().to_string()
}

#[test]
fn builtins_are_clean() {
    for p in ["container", "strict"] {
        let o = moat(&["lint", p]);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        assert!(
            stdout(&o).contains("0 errors, 0 warnings"),
            "{}",
            stdout(&o)
        );
    }
}

#[test]
fn findings_name_file_line_column_code_and_fix() {
    let f = tmp(
        "bad.moat",
        "use container\nallow bpf\n  unknown errno EPERM\n",
    );
    let o = moat(&["lint", &f]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "{f}:2:1: error[allows-bpf]: bpf runs: eBPF verifier bugs"
        )),
        "{out}"
    );
    assert!(out.contains("  fix: deny bpf"), "{out}");
    assert!(
        out.contains(&format!("{f}:3:3: warning[unknown-eperm]")),
        "{out}"
    );
}

#[test]
fn deny_level_decides_the_exit_code() {
    let f = tmp("warn.moat", "use container\nunknown errno EPERM\n");
    assert_eq!(moat(&["lint", &f]).status.code(), Some(1));
    assert_eq!(
        moat(&["lint", &f, "--deny", "error"]).status.code(),
        Some(0)
    );
    let g = tmp("info.moat", "use container\nallow read\n");
    assert_eq!(moat(&["lint", &g]).status.code(), Some(0));
    assert_eq!(moat(&["lint", &g, "--deny", "info"]).status.code(), Some(1));
    assert_eq!(
        moat(&["lint", &g, "--deny", "fatal"]).status.code(),
        Some(2)
    );
}

#[test]
fn json_and_sarif() {
    let f = tmp("j.moat", "use container\nallow ptrace\n");
    let o = moat(&["lint", &f, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let hit = v
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["code"] == "allows-ptrace")
        .unwrap();
    assert_eq!(hit["line"], 2);
    assert_eq!(hit["column"], 1);
    assert_eq!(hit["level"], "warning");
    let o = moat(&["lint", &f, "--format", "sarif"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let r = &v["runs"][0]["results"][0];
    assert_eq!(r["ruleId"], "allows-ptrace");
    assert_eq!(
        r["locations"][0]["physicalLocation"]["region"]["startLine"],
        2
    );
    assert_eq!(
        v["runs"][0]["tool"]["driver"]["rules"][0]["id"],
        "allows-ptrace"
    );
}

#[test]
fn cap_and_kernel_options_decide_guarded_rules() {
    let f = tmp(
        "guarded.moat",
        "arch x86_64\ndefault errno EPERM\nallow read write exit_group rt_sigreturn restart_syscall\nallow bpf when cap CAP_SYS_ADMIN and kernel >= 5.8\n",
    );
    // No capabilities: the guarded allowance is not in effect.
    let o = moat(&["lint", &f]);
    assert!(!stdout(&o).contains("allows-bpf"), "{}", stdout(&o));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = moat(&["lint", &f, "--cap", "SYS_ADMIN"]);
    assert!(stdout(&o).contains("[allows-bpf]"), "{}", stdout(&o));
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    // An older kernel turns it off again.
    let o = moat(&["lint", &f, "--cap", "SYS_ADMIN", "--kernel", "5.4"]);
    assert!(!stdout(&o).contains("allows-bpf"), "{}", stdout(&o));
}
