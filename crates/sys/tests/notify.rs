//! `moat_sys::notify` on the real kernel: the recording filter sees the program from its
//! `execve` on, follows its children, and the supervisor returns the program's status.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::CString;

use moat_bpf::Program;
use moat_bpf::builder::Builder;
use moat_bpf::consts::SECCOMP_RET_USER_NOTIF;
use moat_sys::listener::{self, Response};
use moat_sys::notify::{self, Exit};
use moat_syscalls::Arch;

fn notify_all() -> Program {
    let mut b = Builder::new();
    b.ret(SECCOMP_RET_USER_NOTIF);
    b.finish().unwrap()
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn name(arch: u32, nr: u32) -> &'static str {
    Arch::of(arch, nr)
        .and_then(|a| a.by_nr(nr))
        .map_or("?", |s| s.name)
}

#[test]
fn first_call_is_the_programs_execve_and_children_are_followed() {
    let argv = [
        c("/usr/bin/busybox"),
        c("sh"),
        c("-c"),
        c("/usr/bin/busybox true; exit 3"),
    ];
    let mut child = notify::spawn(&argv[0], &argv, &[], &notify_all()).unwrap();
    let mut calls = Vec::new();
    let mut pids = std::collections::BTreeSet::new();
    let exit = child
        .supervise(
            |n| {
                calls.push(name(n.data.arch, n.data.nr));
                pids.insert(n.pid);
            },
            None,
            || {},
        )
        .unwrap();
    assert_eq!(exit, Exit::Code(3));
    assert_eq!(calls.first(), Some(&"execve"), "{calls:?}");
    // The shell and the child it forks and execs: two processes, two execs.
    assert_eq!(
        calls.iter().filter(|c| **c == "execve").count(),
        2,
        "{calls:?}"
    );
    assert!(pids.len() >= 2, "{pids:?}");
    assert_eq!(calls.last(), Some(&"exit_group"), "{calls:?}");
}

#[test]
fn a_failed_exec_is_reported() {
    let argv = [c("/nonexistent/program")];
    let mut child = notify::spawn(&argv[0], &argv, &[], &notify_all()).unwrap();
    let exit = child.supervise(|_| {}, None, || {}).unwrap();
    assert_eq!(exit, Exit::Code(127));
    let e = child.exec_error().unwrap();
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
}

#[test]
fn dropping_an_unsupervised_child_kills_it() {
    let argv = [c("/usr/bin/busybox"), c("sleep"), c("100")];
    let child = notify::spawn(&argv[0], &argv, &[], &notify_all()).unwrap();
    let pid = child.pid();
    drop(child);
    // Killed and reaped by the drop: the process is gone.
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn clone3_flags_are_readable_from_the_caller() {
    // The recorder reads clone_args.flags from the caller's memory; here from our own.
    let flags: u64 = 0x1000_0011;
    let addr = &flags as *const u64 as u64;
    let got = listener::read_u64(std::process::id(), addr).unwrap();
    assert_eq!(got, flags);
    assert!(listener::read_u64(std::process::id(), 8).is_err());
}

#[test]
fn a_call_can_be_failed_instead_of_continued() {
    let dir = std::env::temp_dir().join(format!("moat-notify-fail-{}", std::process::id()));
    let argv = [
        c("/usr/bin/busybox"),
        c("mkdir"),
        CString::new(dir.to_str().unwrap()).unwrap(),
    ];
    let want = argv[2].as_bytes_with_nul().to_vec();
    let mut child = notify::spawn(&argv[0], &argv, &[], &notify_all()).unwrap();
    let mut failed = 0;
    loop {
        let Some(n) = child.listener().recv().unwrap() else {
            continue;
        };
        match name(n.data.arch, n.data.nr) {
            call @ ("mkdir" | "mkdirat") => {
                // The path argument, read from the waiting caller's memory; the notification
                // is still pending, so the thread id named the caller during the read.
                let addr = n.data.args[usize::from(call == "mkdirat")];
                let mut path = vec![0u8; want.len()];
                listener::read_memory(n.pid, addr, &mut path).unwrap();
                assert_eq!(path, want);
                assert!(child.listener().id_valid(n.id).unwrap());
                child
                    .listener()
                    .respond(n.id, Response::Errno(libc::EROFS))
                    .unwrap();
                failed += 1;
            }
            "exit_group" => {
                child.listener().respond(n.id, Response::Continue).unwrap();
                break;
            }
            _ => child.listener().respond(n.id, Response::Continue).unwrap(),
        }
    }
    // Nothing is left to answer but the exit; supervise reaps the program.
    let exit = child.supervise(|_| {}, None, || {}).unwrap();
    assert_eq!(failed, 1);
    assert_eq!(exit, Exit::Code(1));
    assert!(!dir.exists(), "the refused mkdir did not run");
}
