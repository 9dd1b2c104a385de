//! `moat test` end to end: the built-in profiles' test files, failures, malformed files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{moat, stdout};

fn tmp(name: &str, content: &str) -> String {
    let dir = std::env::temp_dir().join(format!("moat-test-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p.display().to_string()
}

const PROFILES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../policy/profiles");

#[test]
fn builtin_profiles_pass_their_test_files() {
    for p in ["container", "strict"] {
        let file = format!("{PROFILES}/{p}.tests");
        let o = moat(&["test", p, &file]);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        assert!(stdout(&o).contains(" 0 failed"), "{}", stdout(&o));
    }
}

#[test]
fn a_failure_prints_the_call_and_the_deciding_line() {
    let t = tmp(
        "f.tests",
        "x86_64 openat(AT_FDCWD, *, O_RDONLY) = allow\n* bpf(*) = allow\n",
    );
    let o = moat(&["test", "container", &t]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("{t}:2: FAIL `* bpf(*) = allow`")),
        "{out}"
    );
    assert!(out.contains("container: x86_64 bpf(0, 0, 0, 0, 0, 0) is deny: container:10: deny bpf perf_event_open"), "{out}");
    assert!(out.contains("container (compiled): x86 bpf("), "{out}");
    assert!(out.contains("2 expectations, 1 passed, 1 failed"), "{out}");
}

#[test]
fn raw_bpf_is_tested_too() {
    let dir = std::env::temp_dir().join(format!("moat-test-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bpf = dir.join("strict.bpf");
    assert!(
        moat(&["compile", "strict", "-o", bpf.to_str().unwrap()])
            .status
            .success()
    );
    let file = format!("{PROFILES}/strict.tests");
    let o = moat(&["test", bpf.to_str().unwrap(), &file]);
    // Raw programs know no accepted ABIs: `*` covers every ABI, and strict kills foreign ones.
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("aarch64 read(0, 0, 0, 0, 0, 0) is kill"),
        "{out}"
    );
    assert!(!out.contains(": x86_64 read("), "{out}");
    let t = tmp(
        "x.tests",
        "x86_64 read(*) = allow\nx86_64 openat(*) = kill\nx86 read(*) = kill\n",
    );
    let o = moat(&["test", bpf.to_str().unwrap(), &t]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn malformed_test_file_is_one_line_and_exit_2() {
    let t = tmp(
        "bad.tests",
        "x86_64 read(*) = allow\nx86_64 read(*) = alow\n",
    );
    let o = moat(&["test", "container", &t]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("{t}:2:18: unknown action `alow`")),
        "{err}"
    );
}

#[test]
fn cap_and_kernel_options_decide_guarded_rules() {
    let p = tmp(
        "guarded.moat",
        "arch x86_64\ndefault allow\ndeny bpf when not cap CAP_BPF\ndeny io_uring_setup when kernel < 5.10\n",
    );
    let denied = tmp("denied.tests", "x86_64 bpf(*, *, *) = deny\n");
    let allowed = tmp("allowed.tests", "x86_64 bpf(*, *, *) = allow\n");
    let old = tmp("old.tests", "x86_64 io_uring_setup(*, *) = deny\n");
    let code = |args: &[&str]| moat(args).status.code();
    assert_eq!(code(&["test", &p, &denied]), Some(0));
    assert_eq!(code(&["test", &p, &allowed]), Some(1));
    assert_eq!(code(&["test", &p, &denied, "--cap", "CAP_BPF"]), Some(1));
    assert_eq!(code(&["test", &p, &allowed, "--cap", "CAP_BPF"]), Some(0));
    assert_eq!(code(&["test", &p, &old]), Some(1));
    assert_eq!(code(&["test", &p, &old, "--kernel", "5.4"]), Some(0));
}

#[test]
fn junit_report_parses_as_xml_and_counts_what_the_text_counts() {
    assert!(moat_testkit::require(
        moat_testkit::has_tool("python3"),
        "python3 (its XML parser checks the JUnit file)"
    ));
    let tests = tmp(
        "junit.tests",
        "x86_64 read(0) = allow\nx86_64 bpf(0) = deny\nx86_64 unshare(0x10000000) = allow <&\"'>\n",
    );
    let junit = std::env::temp_dir().join(format!("moat-junit-{}.xml", std::process::id()));
    let o = moat(&[
        "test",
        "container",
        &tests,
        "--junit",
        junit.to_str().unwrap(),
    ]);
    // A malformed line (text after the action) is a usage error, and no report is written.
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    assert!(!junit.exists());
    let tests = tmp(
        "junit.tests",
        "x86_64 read(0) = allow\nx86_64 bpf(0) = deny\nx86_64 unshare(0x10000000) = allow # <&\"'>\n",
    );
    let o = moat(&[
        "test",
        "container",
        &tests,
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", common::stderr(&o));
    assert!(
        stdout(&o).contains("3 expectations, 2 passed, 1 failed"),
        "{}",
        stdout(&o)
    );
    let check = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as E\n\
             r = E.parse(sys.argv[1]).getroot()\n\
             s = r.find('testsuite')\n\
             cases = s.findall('testcase')\n\
             failed = [c for c in cases if c.find('failure') is not None]\n\
             print(r.get('tests'), r.get('failures'), len(cases), len(failed), failed[0].get('name'))\n\
             print(failed[0].find('failure').text)",
        ])
        .arg(&junit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(format!("3 1 3 1 {tests}:3: x86_64 unshare(0x10000000) = allow").as_str())
    );
    assert!(
        lines.next().unwrap().contains("is deny: container:"),
        "{text}"
    );
    let _ = std::fs::remove_file(&junit);
}

#[test]
fn json_format_lists_every_expectation() {
    let tests = tmp(
        "json.tests",
        "x86_64 read(0) = allow\nx86_64 bpf(0) = allow\n",
    );
    let o = moat(&["test", "container", &tests, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["total"], 2);
    assert_eq!(v["failed"], 1);
    assert_eq!(v["results"][0]["passed"], true);
    assert_eq!(v["results"][1]["failures"][0]["got"], "deny");
    assert_eq!(v["results"][1]["failures"][0]["syscall"], "bpf");
    assert_eq!(
        v["results"][1]["failures"].as_array().unwrap().len(),
        2,
        "policy and program"
    );
}
