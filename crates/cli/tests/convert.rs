//! `moat convert` end to end: formats, loss report, `--strict`, atomic output, and a table of bad
//! JSON/YAML inputs that each give one error line naming the path, exit 2, and no output file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

static DOCKER_DEFAULT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| moat_testkit::fixture("fixtures/docker-default.json"));

static SEQ: AtomicU32 = AtomicU32::new(0);

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "moat-cli-convert-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn moat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moat"))
        .arg("convert")
        .args(args)
        .output()
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn docker_default_to_moat_reads_as_a_policy() {
    let o = moat(&[&DOCKER_DEFAULT, "--to", "moat"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("# docker-default.json: imported by moat"),
        "{out}"
    );
    assert!(out.contains("\ndefault allow\n"), "{out}");
    assert!(out.contains("deny @obsolete"), "{out}");
    assert!(out.contains("allow socket if domain < AF_ALG"), "{out}");
    assert!(out.lines().count() < 60, "{out}");
}

#[test]
fn every_format_converts_the_container_profile() {
    for to in ["moat", "docker", "oci", "k8s", "spo", "systemd", "bpf"] {
        let o = moat(&["container", "--to", to]);
        assert!(o.status.success(), "{to}: {}", stderr(&o));
        assert!(!o.stdout.is_empty(), "{to}");
    }
    let o = moat(&["container", "--to", "k8s"]);
    assert!(
        stderr(&o).contains("localhostProfile: profiles/container.json"),
        "{}",
        stderr(&o)
    );
    let o = moat(&["container", "--to", "bpf"]);
    assert_eq!(o.stdout.len() % 8, 0);
}

#[test]
fn loss_report_and_strict() {
    let d = scratch();
    let out = d.join("unit.conf");
    // systemd cannot write argument conditions: the loss report says which calls changed.
    let o = moat(&["container", "--to", "systemd", "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("moat: convert: systemd: loss: clone: argument conditions cannot be written"),
        "{err}"
    );
    assert!(out.exists());
    let strict = d.join("strict.conf");
    let o = moat(&[
        "container",
        "--to",
        "systemd",
        "--strict",
        "-o",
        strict.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).lines().last().unwrap().contains("--strict"),
        "{}",
        stderr(&o)
    );
    assert!(!strict.exists(), "--strict must not write");
    // An exact conversion passes --strict.
    let exact = d.join("docker.json");
    let o = moat(&[
        &DOCKER_DEFAULT,
        "--to",
        "docker",
        "--strict",
        "-o",
        exact.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let leftovers: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn allow_unknown_names_skips_with_a_warning() {
    let d = scratch();
    let p = write(
        &d,
        "p.json",
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","frobnicate"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let o = moat(&[&p, "--to", "moat"]);
    assert_eq!(o.status.code(), Some(2));
    let o = moat(&[&p, "--to", "moat", "--allow-unknown-names"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("syscalls[0].names[1]: skipped syscall \"frobnicate\""),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// (file name, content, expected fragment of the one error line)
const BAD: &[(&str, &str, &str)] = &[
    (
        "a.json",
        r#"{"defaultAction":"SCMP_ACT_FOO"}"#,
        r#"a.json: defaultAction: unknown action "SCMP_ACT_FOO""#,
    ),
    (
        "b.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNOO"}]}"#,
        r#"syscalls[0].action: unknown action "SCMP_ACT_ERRNOO" (did you mean "SCMP_ACT_ERRNO"?)"#,
    ),
    (
        "c.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"},{"names":["socket"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":40,"op":"SCMP_CMP_EQUAL"}]}]}"#,
        r#"syscalls[1].args[0].op: unknown operator "SCMP_CMP_EQUAL""#,
    ),
    (
        "d.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_46"]}"#,
        r#"architectures[0]: unknown architecture "SCMP_ARCH_X86_46" (did you mean "SCMP_ARCH_X86_64"?)"#,
    ),
    (
        "e.json",
        r#"{"defaultAktion":"SCMP_ACT_ALLOW","syscalls":[]}"#,
        r#"defaultAktion: unknown field "defaultAktion" (did you mean "defaultAction"?)"#,
    ),
    (
        "f.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":"mkdir","action":"SCMP_ACT_ERRNO"}]}"#,
        "syscalls[0].names: expected an array, found a string",
    ),
    (
        "g.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","opnat"],"action":"SCMP_ACT_ERRNO"}]}"#,
        r#"syscalls[0].names[1]: unknown syscall "opnat" (did you mean "openat"?)"#,
    ),
    (
        "h.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":-1}]}"#,
        "syscalls[0].errnoRet: expected an unsigned 64-bit integer, found -1",
    ),
    (
        "i.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":5000}]}"#,
        "syscalls[0].errnoRet: 5000 is above 4094",
    ),
    (
        "j.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        "syscalls[0].args[0].index: argument index 6 is not 0 to 5",
    ),
    (
        "k.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":"5","op":"SCMP_CMP_EQ"}]}]}"#,
        "syscalls[0].args[0].value: expected an unsigned integer, found a string",
    ),
    (
        "l.json",
        r#"{"syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
        r#"l.json: missing field "defaultAction""#,
    ),
    (
        "m.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"]}]}"#,
        r#"syscalls[0]: missing field "action""#,
    ),
    (
        "n.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"mkdir","names":["rmdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
        r#"syscalls[0]: both "name" and "names" are given"#,
    ),
    (
        "o.json",
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMN"]}}]}"#,
        r#"syscalls[0].includes.caps[0]: unknown capability "CAP_SYS_ADMN""#,
    ),
    (
        "p.json",
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["amd46"]}}]}"#,
        r#"syscalls[0].includes.arches[0]: unknown Docker architecture "amd46" (did you mean "amd64"?)"#,
    ),
    (
        "q.json",
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["ptrace"],"action":"SCMP_ACT_ALLOW","excludes":{"minKernel":"five"}}]}"#,
        r#"syscalls[0].excludes.minKernel: cannot read kernel version "five""#,
    ),
    (
        "r.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_TSYNCH"]}"#,
        r#"flags[0]: unknown flag "SECCOMP_FILTER_FLAG_TSYNCH" (did you mean "SECCOMP_FILTER_FLAG_TSYNC"?)"#,
    ),
    (
        "s.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#,
        r#"s.json: both "architectures" and "archMap" are given"#,
    ),
    (
        "t.json",
        "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [\n",
        "t.json:4:1: EOF while parsing a list",
    ),
    (
        "u.json",
        "[1, 2]",
        "u.json: expected a JSON object (a seccomp profile or an OCI config.json), found an array",
    ),
    (
        "v.json",
        r#"{"ociVersion":"1.0.2","process":{"args":["sh"]},"linux":{}}"#,
        "v.json: the OCI config.json has no linux.seccomp section",
    ),
    (
        "w.json",
        r#"{"ociVersion":"1.0.2","process":{"capabilities":{"bounding":["CAP_NOPE"]}},"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW"}}}"#,
        r#"process.capabilities.bounding[0]: unknown capability "CAP_NOPE""#,
    ),
    (
        "x.json",
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":4294967296,"op":"SCMP_CMP_EQ"}]}]}"#,
        "syscalls[0]: value 0x100000000 does not fit the 32-bit parameter \"persona\" of personality",
    ),
    (
        "y.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"valu":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        r#"syscalls[0].args[0].valu: unknown field "valu" (did you mean "value"?)"#,
    ),
    (
        "z.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","archMap":[{"architecture":"SCMP_ARCH_AMD64"}]}"#,
        r#"archMap[0].architecture: unknown architecture "SCMP_ARCH_AMD64""#,
    ),
    (
        "ctrl.json",
        r#"{"ociVersion":"1.0.2","linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_BLOCK"}]}}}"#,
        r#"linux.seccomp.syscalls[0].action: unknown action "SCMP_ACT_BLOCK""#,
    ),
    (
        "a.yaml",
        "apiVersion: security-profiles-operator.x-k8s.io/v2\nkind: SeccompProfile\nmetadata:\n  name: a\nspec:\n  defaultAction: SCMP_ACT_ALLOW\n",
        r#"a.yaml: apiVersion: unsupported apiVersion "security-profiles-operator.x-k8s.io/v2""#,
    ),
    (
        "b.yaml",
        "apiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: Pod\nmetadata:\n  name: b\n",
        r#"b.yaml: kind: unsupported kind "Pod" (expected "SeccompProfile")"#,
    ),
    (
        "c.yaml",
        "apiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\nmetadata:\n  name: c\nspec:\n  defaultAction: SCMP_ACT_ALLOW\n  syscalls:\n    - action: SCMP_ACT_KILLL\n      names: [mkdir]\n",
        r#"c.yaml: spec.syscalls[0].action: unknown action "SCMP_ACT_KILLL" (did you mean "SCMP_ACT_KILL"?)"#,
    ),
    (
        "d.yaml",
        "apiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\nmetadata:\n  name: d\nspec:\n  defaultAction: SCMP_ACT_ALLOW\n---\napiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\nmetadata:\n  name: e\nspec:\n  baseProfileName: nothere\n  defaultAction: SCMP_ACT_ALLOW\n",
        r#"documents[1].spec.baseProfileName: no SeccompProfile named "nothere" in this file"#,
    ),
    (
        "e.yaml",
        "apiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\nmetadata:\n  name: e\nspec:\n  defaultAction: [SCMP_ACT_ALLOW\n",
        "e.yaml:7:1: ",
    ),
    (
        "f.yaml",
        "apiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\nmetadata:\n  name: one\nspec:\n  defaultAction: SCMP_ACT_ALLOW\n---\napiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\nmetadata:\n  name: two\nspec:\n  defaultAction: SCMP_ACT_ALLOW\n",
        "several independent SeccompProfiles (one, two)",
    ),
    (
        "g.yaml",
        "apiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\nmetadata:\n  name: g\nspec:\n  baseProfileName: oci://ghcr.io/x/y:latest\n  defaultAction: SCMP_ACT_ALLOW\n",
        r#"spec.baseProfileName: remote base profile "oci://ghcr.io/x/y:latest" cannot be read"#,
    ),
    (
        "h.yaml",
        "apiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\nmetadata:\n  name: h\nspec:\n  defaultAction: SCMP_ACT_ALLOW\n  architectures: [SCMP_ARCH_X86_64]\n  unknownField: 1\n",
        r#"spec.unknownField: unknown field "unknownField""#,
    ),
    (
        "i.yaml",
        "apiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\nmetadata:\n  name: i\nspec:\n  defaultAction: SCMP_ACT_ERRNO\n  syscalls:\n    - action: SCMP_ACT_ALLOW\n      names: [read]\n      args:\n        - index: 0\n          op: SCMP_CMP_GT\n          value: -3\n",
        "spec.syscalls[0].args[0].value: expected an unsigned 64-bit integer, found -3",
    ),
    (
        "j.yaml",
        "apiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\nmetadata:\n  name: base\nspec:\n  defaultAction: SCMP_ACT_ERRNO\n  syscalls:\n    - action: SCMP_ACT_ALLOW\n      names: [read, raed]\n---\napiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\nmetadata:\n  name: app\nspec:\n  baseProfileName: base\n  defaultAction: SCMP_ACT_ERRNO\n",
        r#"j.yaml: documents[0].spec.syscalls[0].names[1]: unknown syscall "raed" (did you mean "read"?)"#,
    ),
];

#[test]
fn bad_inputs_give_one_line_naming_the_path_and_exit_2() {
    assert!(BAD.len() >= 25, "{}", BAD.len());
    let d = scratch();
    for (name, text, want) in BAD {
        let p = write(&d, name, text);
        let out = d.join(format!("{name}.out"));
        let o = moat(&[&p, "--to", "oci", "-o", out.to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: one line expected: {err}");
        assert!(err.contains(want), "{name}: expected {want:?} in {err:?}");
        assert!(err.starts_with("moat: "), "{name}: {err}");
        assert!(!out.exists(), "{name}: no output on error");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bpf_output_is_what_moat_compile_writes() {
    let compiled = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["compile", "container", "--format", "raw"])
        .output()
        .unwrap();
    assert!(compiled.status.success(), "{}", stderr(&compiled));
    let converted = moat(&["container", "--to", "bpf"]);
    assert!(converted.status.success(), "{}", stderr(&converted));
    assert_eq!(converted.stdout, compiled.stdout);
    assert_eq!(converted.stdout.len() % 8, 0);
}

#[test]
fn one_line_moat_text_parses_back_to_the_same_statements() {
    let d = scratch();
    let src = write(
        &d,
        "p.moat",
        "use container  # base\nallow bpf\nfs read \"/a;b\"\ndeny socket if domain == AF_ALG  # CVE-2026-31431\n",
    );
    let out = moat(&["--to", "moat", "--one-line", &src]);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = stdout(&out);
    assert_eq!(
        line,
        "use container; allow bpf; fs read \"/a;b\"; deny socket if domain == AF_ALG\n"
    );
    let again = write(&d, "q.moat", &line);
    let out = moat(&["--to", "moat", &again]);
    assert_eq!(
        stdout(&out),
        "use container\nallow bpf\nfs read \"/a;b\"\ndeny socket if domain == AF_ALG\n"
    );
    let out = moat(&["--to", "docker", "--one-line", &src]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--one-line applies to --to moat only"));
}

/// `repro-x86-dropped.json` (issue 14): the `docker` export leaves x86 out for containers without
/// CAP_AUDIT_WRITE; the loss line says so and `--strict` refuses, whatever `--cap` says.
#[test]
fn strict_refuses_an_abi_dropped_in_another_capability_context() {
    let repro = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus/profiles/repro-x86-dropped.json"
    );
    let d = scratch();
    let out = d.join("docker.json");
    let o = moat(&[
        repro,
        "--to",
        "docker",
        "--strict",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("moat: convert: docker: loss: x86: libseccomp applies the rules on socket to socketcall(1)"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists(), "--strict must not write");
    let _ = std::fs::remove_dir_all(&d);
}

/// `--report FILE`: the loss lines as JSON, the same as on standard error, with whether the
/// output was written; under a refusing `--strict` too, and nothing else is written then.
#[test]
fn json_loss_report_matches_the_loss_lines() {
    let d = std::env::temp_dir().join(format!("moat-convert-report-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let policy = d.join("p.moat");
    std::fs::write(
        &policy,
        "default allow\ndeny openat if flags & 3 == 1\ntrap 7 ptrace\n",
    )
    .unwrap();
    let report = d.join("r.json");
    let out = d.join("unit.conf");
    let run = |strict: bool| {
        let mut args = vec![
            "--to",
            "systemd",
            policy.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        if strict {
            args.push("--strict");
        }
        moat(&args)
    };
    let o = run(true);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!out.exists(), "--strict wrote the output");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(v["written"], false);
    assert_eq!(v["strict"], true);
    assert_eq!(v["to"], "systemd");
    let losses: Vec<String> = v["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    let lines: Vec<String> = stderr(&o)
        .lines()
        .filter_map(|l| l.strip_prefix("moat: convert: systemd: loss: "))
        .map(str::to_string)
        .collect();
    assert_eq!(losses, lines);
    assert!(
        losses.iter().any(|l| l.starts_with("openat:")),
        "{losses:?}"
    );
    let o = run(false);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.exists());
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(v["written"], true);
    std::fs::remove_dir_all(&d).unwrap();
}
