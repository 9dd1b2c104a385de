//! The formats moat reads besides JSON and YAML (systemd units, ...): `moat convert` lists them,
//! `moat explain` reads them, and every bad input gives one `file:line:col` line, exit 2, and no
//! output file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{moat, stderr, stdout};
use std::path::PathBuf;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/formats");

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("moat-cli-formats-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// (file name, content, expected error line).
const BAD: &[(&str, &str, &str)] = &[
    (
        "a.service",
        "[Service]\nSystemCallFilter=@system-servce\n",
        r#"a.service:2:18: systemd 252 has no syscall group "@system-servce" (did you mean "@system-service"?)"#,
    ),
    (
        "b.service",
        "[Service]\nSystemCallFilter=read opnat\n",
        r#"b.service:2:23: unknown syscall "opnat" (did you mean "openat"?)"#,
    ),
    (
        "c.service",
        "[Service]\nSystemCallFilter=~mkdir:EPREM\n",
        r#"c.service:2:25: "EPREM" is not an errno name, a number 0-4095 or "kill""#,
    ),
    (
        "d.service",
        "[Service]\nSystemCallArchitectures=native x86_64\n",
        r#"d.service:2:32: unknown system call architecture "x86_64" (did you mean "x86-64"?)"#,
    ),
    (
        "e.service",
        "[Unit]\nSystemCallFilter=read\n",
        "e.service:2:1: SystemCallFilter= belongs in [Service] (or [Socket], [Mount], [Swap]), not [Unit]",
    ),
    (
        "f.service",
        "[Service]\nSystemCallFilter read\n",
        r#"f.service:2:1: expected KEY=VALUE or a [Section] header, found "SystemCallFilter read""#,
    ),
    (
        "g.service",
        "[Service]\nSystemCallErrorNumber=0\n",
        "g.service:2:23: SystemCallErrorNumber=0 is not valid",
    ),
    (
        "h.service",
        "[Service]\nSystemCallFilter=~:EPERM\n",
        r#"h.service:2:19: ":EPERM" has no syscall name"#,
    ),
    (
        "i.service",
        "[Service]\nSystemCallFilter=read \\\n  write mkdri\n",
        r#"i.service:3:9: unknown syscall "mkdri" (did you mean "mkdir"?)"#,
    ),
    (
        "a.policy",
        "read: 1\nopnat: 1\n",
        r#"a.policy:2:1: nonexistent syscall "opnat" (did you mean "openat"?)"#,
    ),
    (
        "b.policy",
        "read: arg7 == 1\n",
        "b.policy:1:7: invalid argument \"arg7\" (arg0 to arg5)",
    ),
    (
        "c.policy",
        "read: arg0 =! 1\n",
        "c.policy:1:13: invalid token '!'",
    ),
    (
        "d.policy",
        "read: return EPREM\n",
        "d.policy:1:14: unknown errno \"EPREM\"",
    ),
    (
        "e.policy",
        "read: 1\nread: 1\n",
        "e.policy:2:5: read already had an unconditional action applied at",
    ),
    (
        "f.policy",
        "@include ./missing.policy\nread: 1\n",
        "f.policy:1:10: cannot open",
    ),
    (
        "g.policy",
        "@denylist\nread: allow\n",
        "g.policy:2:7: a @denylist policy needs `return ERRNO` actions",
    ),
    (
        "h.policy",
        "mmap: arg2 in ~~PROT_EXEC\n",
        "h.policy:1:16: invalid double complement",
    ),
    (
        "i.policy",
        "read: arg0 == 1 extra\n",
        "i.policy:1:17: extra token \"extra\"",
    ),
    (
        "j.policy",
        "@default allow\nread: 1\n",
        "j.policy:1:10: invalid default action \"allow\"",
    ),
    (
        "j.service",
        "[Service\nSystemCallFilter=read\n",
        "j.service:1:1: malformed section header",
    ),
    (
        "a.seccomp",
        "2\ndenylist\nopnat errno 1\n",
        r#"a.seccomp:3:1: unknown syscall "opnat" (did you mean "openat"?)"#,
    ),
    (
        "b.seccomp",
        "2\ndenylist\nmount errno 1 [0,1,SCMP_CMP_EQQ]\n",
        r#"b.seccomp:3:15: bad argument condition "[0,1,SCMP_CMP_EQQ]": unknown operator "SCMP_CMP_EQQ""#,
    ),
    (
        "c.seccomp",
        "2\ndenylist\n[x86-64]\nmount\n",
        r#"c.seccomp:3:1: LXC has no architecture section "[x86-64]""#,
    ),
    (
        "d.seccomp",
        "3\ndenylist\n",
        "d.seccomp:1:1: LXC reads policy versions 1 and 2, not 3",
    ),
    (
        "a.json",
        r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"Labels":{"io.containers.seccomp.profile":"{\"defaultAction\":\"SCMP_ACT_ALOW\"}"}}}"#,
        r#"a.json: config.Labels."io.containers.seccomp.profile".defaultAction: unknown action "SCMP_ACT_ALOW" (did you mean "SCMP_ACT_ALLOW"?)"#,
    ),
    (
        "b.json",
        r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#,
        "b.json: config.Labels: no io.containers.seccomp.profile label",
    ),
    (
        "e.seccomp",
        "2\ndenylist\nread allow\n",
        "e.seccomp:3:1: the rule's action is the policy's default (allow)",
    ),
];

#[test]
fn bad_inputs_give_one_file_line_col_line_and_exit_2() {
    let d = scratch("bad");
    for (name, text, want) in BAD {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        let out = d.join(format!("{name}.out"));
        let o = moat(&[
            "convert",
            p.to_str().unwrap(),
            "--to",
            "oci",
            "-o",
            out.to_str().unwrap(),
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: one line expected: {err}");
        assert!(err.contains(want), "{name}: expected {want:?} in {err:?}");
        assert!(!out.exists(), "{name}: no output on error");
        // explain reads the same way.
        let o = moat(&["explain", p.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn convert_lists_the_formats() {
    let o = moat(&["convert", "--help"]);
    let help = stdout(&o);
    for f in [
        "systemd unit",
        "minijail",
        "LXC seccomp policy",
        "FILE#NAME",
        "io.containers.seccomp.profile",
        "oci-artifact",
        "lxc",
        "moat",
        "docker",
        "oci",
        "k8s",
        "spo",
        "systemd",
        "bpf",
    ] {
        assert!(help.contains(f), "{f} missing from:\n{help}");
    }
}

#[test]
fn explain_says_what_a_unit_allows() {
    let o = moat(&["explain", &format!("{CORPUS}/systemd/sshd.service")]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.contains("@system-service"), "{out}");
    let o = moat(&[
        "explain",
        &format!("{CORPUS}/systemd/sshd.service"),
        "--syscall",
        "ptrace",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.contains("errno ENOSYS"), "{out}");
    assert!(out.contains("~ptrace:ENOSYS"), "{out}");
}

#[test]
fn explain_says_what_an_lxc_policy_does() {
    let o = moat(&[
        "explain",
        &format!("{CORPUS}/lxc/lxd-default.seccomp"),
        "--syscall",
        "kexec_load",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.contains("errno ENOSYS"), "{out}");
    let o = moat(&[
        "convert",
        &format!("{CORPUS}/lxc/lxd-default.seccomp"),
        "--to",
        "moat",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        out.contains("errno EACCES umount2 if flags & 1 == 1  # reject_force_umount"),
        "{out}"
    );
}

#[test]
fn an_oci_artifact_is_written_as_an_archive_or_a_directory_and_read_back() {
    let d = scratch("artifact");
    let tar = d.join("p.tar");
    let o = moat(&[
        "convert",
        "container",
        "--to",
        "oci-artifact",
        "-o",
        tar.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&tar).unwrap();
    assert_eq!(&bytes[257..262], b"ustar");
    assert!(
        stderr(&o).contains("skopeo copy oci-archive:"),
        "{}",
        stderr(&o)
    );
    let dir = d.join("layout");
    let o = moat(&[
        "convert",
        "container",
        "--to",
        "oci-artifact",
        "-o",
        &format!("{}/", dir.display()),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.join("oci-layout").is_file() && dir.join("index.json").is_file());
    // Both read back as the same policy.
    let a = moat(&["convert", tar.to_str().unwrap(), "--to", "oci"]);
    let b = moat(&["convert", dir.to_str().unwrap(), "--to", "oci"]);
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(stdout(&a), stdout(&b));
    let o = moat(&[
        "explain",
        &format!("{}#container", dir.display()),
        "--syscall",
        "mount",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A directory that exists is not overwritten.
    let o = moat(&[
        "convert",
        "container",
        "--to",
        "oci-artifact",
        "-o",
        &format!("{}/", dir.display()),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn explain_reads_podmans_image_label() {
    let o = moat(&[
        "explain",
        &format!("{CORPUS}/oci/image-config.json"),
        "--syscall",
        "mkdir",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("deny"), "{}", stdout(&o));
}

#[test]
fn convert_writes_an_lxc_policy_that_reads_back() {
    let d = scratch("lxc");
    let out = d.join("docker.seccomp");
    let o = moat(&[
        "convert",
        "docker",
        "--to",
        "lxc",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains("moat: convert: lxc: loss: socket: LXC cannot load argument conditions"),
        "{}",
        stderr(&o)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("2\nallowlist errno 1\n"), "{text}");
    let o = moat(&["explain", out.to_str().unwrap(), "--syscall", "mount"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // --strict refuses the losses.
    let o = moat(&["convert", "docker", "--to", "lxc", "--strict"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&d);
}
