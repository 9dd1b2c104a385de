//! Reading another process's filters with `PTRACE_SECCOMP_GET_FILTER`.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read as _, Write as _};

use moat_bpf::Program;
use moat_bpf::builder::{Builder, JumpOp};
use moat_bpf::consts::*;
use moat_sys::testing::{no_core_dumps, pipe, spawn};
use moat_sys::{Flags, ReadError, install, read_filters};

/// Allows everything but syscall `nr`, which fails with `errno`.
fn deny_one(nr: u32, errno: u16) -> Program {
    let mut b = Builder::new();
    let [deny, allow] = [b.label(), b.label()];
    b.load(OFFSET_NR);
    b.jump(JumpOp::Eq, nr, deny, allow);
    b.bind(deny);
    b.ret(ret_errno(errno));
    b.bind(allow);
    b.ret(SECCOMP_RET_ALLOW);
    b.finish().unwrap()
}

/// A child that installs `filters` in order, reports readiness and waits to be killed.
fn child_with(filters: Vec<Program>) -> moat_sys::testing::Child {
    let (mut ready_r, mut ready_w) = pipe().unwrap();
    let child = spawn(move || {
        if no_core_dumps().is_err() {
            return 2;
        }
        for f in &filters {
            if install(f, Flags::NONE).is_err() {
                return 3;
            }
        }
        if ready_w.write_all(b"!").is_err() {
            return 4;
        }
        loop {
            // SAFETY: pause takes no arguments; it returns when a signal is caught.
            unsafe { libc::pause() };
        }
    })
    .unwrap();
    let mut byte = [0u8; 1];
    ready_r
        .read_exact(&mut byte)
        .expect("the child installed its filters");
    child
}

#[test]
fn reads_the_filter_stack_oldest_first() {
    let older = deny_one(1000, 5);
    let newer = deny_one(1001, 6);
    let child = child_with(vec![older.clone(), newer.clone()]);
    let got = read_filters(child.pid()).unwrap();
    assert_eq!(got, vec![older, newer]);
    // The child was resumed and still runs: reading again gives the same.
    assert_eq!(read_filters(child.pid()).unwrap().len(), 2);
}

#[test]
fn a_process_without_filters_has_none() {
    let child = child_with(vec![]);
    assert_eq!(read_filters(child.pid()).unwrap(), Vec::<Program>::new());
}

#[test]
fn a_missing_process_is_an_error() {
    let child = spawn(|| 0).unwrap();
    let pid = child.pid();
    child.wait().unwrap();
    assert!(matches!(
        read_filters(pid),
        Err(ReadError::Read { .. } | ReadError::Attach { .. })
    ));
}
