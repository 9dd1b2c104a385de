//! `moat syscalls` end to end: the "done when" examples of issue 2 and the error paths.

mod common;

use common::{stderr, stdout};
use std::process::{Command, Output};

fn moat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moat"))
        .arg("syscalls")
        .args(args)
        .output()
        .expect("run moat")
}

#[test]
fn x32_openat_prints_number_with_x32_bit() {
    let o = moat(&["--arch", "x32", "openat"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("0x40000101"), "{out}");
    assert!(out.contains("openat"), "{out}");
}

#[test]
fn x86_socketcall_is_102() {
    let o = moat(&["--arch", "x86", "socketcall"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let first = out.split_whitespace().next().unwrap();
    assert_eq!(first, "102", "{out}");
}

#[test]
fn aarch64_open_is_absent_and_suggests_openat() {
    let o = moat(&["--arch", "aarch64", "open"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("aarch64 has no `open`"), "{err}");
    assert!(err.contains("`openat`"), "{err}");
    assert!(err.contains("x86_64"), "says where `open` exists: {err}");
    assert!(stdout(&o).is_empty());
}

#[test]
fn s390x_clone_has_flags_second() {
    let o = moat(&["--arch", "s390x", "--format", "json", "clone"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let params = v[0]["params"].as_array().unwrap();
    assert_eq!(params[1]["name"], "flags");
    assert_eq!(params[1]["index"], 1);
    assert_eq!(v[0]["nr"], 120);
    // And the text form lists flags second.
    let text = stdout(&moat(&["--arch", "s390x", "clone"]));
    assert!(text.contains("clone(newsp: u64, flags: u64"), "{text}");
}

/// Every syscall has its kernel signature: widths as the kernel reads them (u16 for a umode_t),
/// the declared C type and the kernel's name beside moat's.
#[test]
fn write_and_openat_show_the_kernels_types() {
    let text = stdout(&moat(&["--arch", "x86_64", "write", "openat"]));
    assert!(
        text.contains("write(fd: u32, buf: u64, count: u64)"),
        "{text}"
    );
    assert!(
        text.contains("openat(dirfd: u32, pathname: u64, flags: u32, mode: u16)"),
        "{text}"
    );
    let o = moat(&["--arch", "x86_64", "--format", "json", "ioctl"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let request = &v[0]["params"][1];
    assert_eq!(request["name"], "request");
    assert_eq!(request["kernel_name"], "cmd");
    assert_eq!(request["c_type"], "unsigned int");
    assert_eq!(request["bits"], 32);
    assert_eq!(request["width"], "u32");
}

#[test]
fn unknown_name_exits_2_with_suggestion() {
    let o = moat(&["--arch", "x86_64", "opneat"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("unknown syscall `opneat`"), "{err}");
    assert!(err.contains("did you mean `openat`"), "{err}");
}

#[test]
fn unknown_arch_exits_2() {
    let o = moat(&["--arch", "aarch46", "read"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("did you mean `aarch64`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn numbers_and_groups_and_all() {
    let out = stdout(&moat(&["--arch", "x86_64", "0x27", "59"]));
    assert!(out.contains("getpid"), "{out}");
    assert!(out.contains("execve"), "{out}");

    let out = stdout(&moat(&["--arch", "x86_64", "@namespaces"]));
    let names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(names, ["unshare", "setns"], "{out}");

    let o = moat(&["--arch", "all", "getpid"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 9, "{out}");
    assert!(out.contains("0x40000027"), "{out}");

    let o = moat(&["--arch", "x86_64", "@nosuchgroup"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn no_query_lists_the_table() {
    let o = moat(&["--arch", "riscv64"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.lines().count() > 300, "{out}");
    assert!(out.contains("riscv_hwprobe"), "{out}");
}
