//! The self-sandboxing API on the real kernel, each case in a forked child.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::process::parent_id;
use std::sync::mpsc;

use moat::bpf::builder::Builder as BpfBuilder;
use moat::bpf::consts::SECCOMP_RET_ALLOW;
use moat::policy::Action;
use moat::sandbox::Error;
use moat::sys::testing::{ChildStatus, in_child};
use moat::sys::{Flags, InstallError};
use moat::{Builder, Sandbox};

/// `getppid` fails with EPERM; std's `parent_id` then returns the -1 as `u32::MAX`.
fn denies_getppid() -> Sandbox {
    Builder::new()
        .default_action(Action::Allow)
        .rule(Action::Errno(1), &["getppid"])
        .build()
        .unwrap()
}

fn tid() -> u64 {
    let link = std::fs::read_link("/proc/thread-self").unwrap();
    link.file_name().unwrap().to_str().unwrap().parse().unwrap()
}

#[test]
fn threads_started_before_confine_are_confined() {
    let sandbox = denies_getppid();
    let st = in_child(move || {
        let mut handles = Vec::new();
        let mut gates = Vec::new();
        for _ in 0..4 {
            let (tx, rx) = mpsc::channel::<()>();
            gates.push(tx);
            handles.push(std::thread::spawn(move || {
                rx.recv().unwrap();
                parent_id()
            }));
        }
        assert!(parent_id() != u32::MAX);
        sandbox.confine().unwrap();
        for g in gates {
            g.send(()).unwrap();
        }
        let all = handles.into_iter().all(|h| h.join().unwrap() == u32::MAX);
        // Threads and processes started afterwards inherit it too.
        let later = std::thread::spawn(parent_id).join().unwrap() == u32::MAX;
        let child = in_child(|| i32::from(parent_id() == u32::MAX)).unwrap();
        i32::from(all && later && parent_id() == u32::MAX && child == ChildStatus::Exited(1))
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
}

#[test]
fn tsync_failure_names_the_thread() {
    let sandbox = denies_getppid();
    let st = in_child(move || {
        let (tid_tx, tid_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            // A filter of its own puts this thread outside the caller's filter tree: the
            // kernel cannot synchronise it.
            let mut b = BpfBuilder::new();
            b.ret(SECCOMP_RET_ALLOW);
            moat::sys::install(&b.finish().unwrap(), Flags::NONE).unwrap();
            tid_tx.send(tid()).unwrap();
            stop_rx.recv().unwrap();
        });
        let tid = tid_rx.recv().unwrap();
        let r = sandbox.confine();
        stop_tx.send(()).unwrap();
        t.join().unwrap();
        match r {
            Err(Error::Install(InstallError::Tsync { tid: got }))
                if u64::try_from(got).unwrap() == tid =>
            {
                let msg = Error::Install(InstallError::Tsync { tid: got }).to_string();
                i32::from(msg.contains(&tid.to_string()))
            }
            _ => 0,
        }
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
}

#[test]
fn landlock_from_the_policy_confines_paths() {
    let sandbox = Builder::new()
        .profile("container")
        .fs_read(&["/usr"])
        .build()
        .unwrap();
    let st = in_child(move || {
        sandbox.confine().unwrap();
        let env = std::fs::read("/usr/bin/env").is_ok();
        let hostname = std::fs::read("/etc/hostname").is_err();
        i32::from(env && hostname)
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
}

#[test]
fn landlock_required_refuses_a_multithreaded_process() {
    let sandbox = Builder::new()
        .profile("container")
        .fs_read(&["/usr"])
        .landlock_required()
        .build()
        .unwrap();
    let st = in_child(move || {
        let (tx, rx) = mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv().ok());
        let r = sandbox.confine();
        tx.send(()).unwrap();
        t.join().unwrap();
        // Nothing was installed: getppid still works.
        i32::from(
            matches!(r, Err(Error::LandlockThreads { threads: 2 })) && parent_id() != u32::MAX,
        )
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
}

#[test]
fn bad_policies_are_errors_not_panics() {
    let e = Sandbox::from_text("deny getppidd\n", "app.moat").unwrap_err();
    assert!(
        e.to_string().starts_with("app.moat:1:6: unknown syscall"),
        "{e}"
    );
    assert!(Sandbox::profile("no-such-profile").is_err());
}
