//! Every seccomp action has its documented effect on this kernel; filters reach threads (TSYNC),
//! children and exec'd programs and cannot be removed; Landlock rules hold; `exec::spawn`
//! confines before exec and reports failures. Each case runs in a forked child.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use moat_bpf::Program;
use moat_bpf::builder::{Builder, JumpOp};
use moat_bpf::consts::*;
use moat_sys::exec::{self, Confinement, Exit, Stage};
use moat_sys::landlock::{self, Compat, Ruleset};
use moat_sys::listener::{self, Response};
use moat_sys::testing::{ChildStatus, in_child, no_core_dumps};
use moat_sys::{Flags, InstallError, audit, install};

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const NR_GETPPID: u32 = 110;

/// x86_64 only (other ABIs are killed): `getppid` gets `ret`, everything else is allowed.
fn on_getppid(ret: u32) -> Program {
    let mut b = Builder::new();
    let [native, hit, allow, kill] = [b.label(), b.label(), b.label(), b.label()];
    b.load(OFFSET_ARCH);
    b.jump(JumpOp::Eq, AUDIT_ARCH_X86_64, native, kill);
    b.bind(native);
    b.load(OFFSET_NR);
    b.jump(JumpOp::Eq, NR_GETPPID, hit, allow);
    b.bind(hit);
    b.ret(ret);
    b.bind(allow);
    b.ret(SECCOMP_RET_ALLOW);
    b.bind(kill);
    b.ret(SECCOMP_RET_KILL_PROCESS);
    b.finish().unwrap()
}

fn allow_all() -> Program {
    let mut b = Builder::new();
    b.ret(SECCOMP_RET_ALLOW);
    b.finish().unwrap()
}

/// `getppid` through `syscall(2)`: the raw return value and errno.
fn getppid() -> (i64, i32) {
    // SAFETY: getppid takes no arguments and touches no memory.
    let r = unsafe { libc::syscall(libc::SYS_getppid) };
    (
        r,
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
    )
}

fn real_ppid() -> i64 {
    // SAFETY: getppid (the libc wrapper; same call) has no preconditions.
    i64::from(unsafe { libc::getppid() })
}

#[test]
fn allow_runs_the_call() {
    let st = in_child(|| {
        let expect = real_ppid();
        install(&on_getppid(SECCOMP_RET_ALLOW), Flags::NONE).unwrap();
        i32::from(getppid().0 == expect)
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
}

#[test]
fn errno_fails_the_call_with_that_errno() {
    let st = in_child(|| {
        install(&on_getppid(ret_errno(77)), Flags::NONE).unwrap();
        let (r, e) = getppid();
        i32::from(r == -1 && e == 77)
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
}

#[test]
fn kill_process_kills_every_thread_with_sigsys() {
    let st = in_child(|| {
        no_core_dumps().unwrap();
        install(&on_getppid(SECCOMP_RET_KILL_PROCESS), Flags::NONE).unwrap();
        // Another thread keeps running until the call: the whole process must die.
        std::thread::spawn(|| std::thread::sleep(Duration::from_secs(30)));
        getppid();
        0
    });
    assert_eq!(st.unwrap(), ChildStatus::Signaled(libc::SIGSYS));
}

#[test]
fn kill_thread_kills_only_the_calling_thread() {
    let st = in_child(|| {
        no_core_dumps().unwrap();
        install(&on_getppid(SECCOMP_RET_KILL_THREAD), Flags::NONE).unwrap();
        static AFTER: AtomicI32 = AtomicI32::new(0);
        // The thread inherits the filter; it dies in getppid and never stores 1.
        let t = std::thread::spawn(|| {
            getppid();
            AFTER.store(1, Ordering::SeqCst);
        });
        // Wait until the thread is gone from /proc/self/task (it is never joined: its result
        // packet is never written).
        for _ in 0..200 {
            if t.is_finished() || std::fs::read_dir("/proc/self/task").unwrap().count() == 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::mem::forget(t);
        let gone = std::fs::read_dir("/proc/self/task").unwrap().count() == 1;
        if gone && AFTER.load(Ordering::SeqCst) == 0 {
            42
        } else {
            1
        }
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(42));
}

static TRAPPED: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigsys(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SIGSYS siginfo (include/uapi/asm-generic/siginfo.h): after si_signo, si_errno, si_code
    // and padding come `void *_call_addr` (offset 16) and `int _syscall` (offset 24).
    // SAFETY: the kernel passes a valid siginfo_t of 128 bytes; offset 24 is inside it.
    let nr = unsafe { info.cast::<u8>().add(24).cast::<i32>().read_unaligned() };
    // SAFETY: as above; si_code is a field of every siginfo_t.
    let code = unsafe { (*info).si_code };
    // si_code SYS_SECCOMP = 1.
    TRAPPED.store(if code == 1 { nr } else { -2 }, Ordering::SeqCst);
}

#[test]
fn trap_sends_sigsys_naming_the_call() {
    let st = in_child(|| {
        // SAFETY: an all-zero sigaction is valid; the handler only stores to an atomic.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigsys as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigaction(libc::SIGSYS, &sa, std::ptr::null_mut());
        }
        let expect = real_ppid();
        install(&on_getppid(SECCOMP_RET_TRAP | 5), Flags::NONE).unwrap();
        // The call did not run: the kernel rolls the registers back before the signal, so the
        // return register holds the syscall number again (kernel/seccomp.c, SECCOMP_RET_TRAP).
        let (r, _) = getppid();
        i32::from(TRAPPED.load(Ordering::SeqCst) == 110 && r != expect)
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
}

#[test]
fn log_runs_the_call_and_writes_an_audit_record() {
    let sock = audit::Socket::open();
    let st = in_child(|| {
        let expect = real_ppid();
        install(&on_getppid(SECCOMP_RET_LOG), Flags::NONE).unwrap();
        i32::from(getppid().0 == expect)
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
    let Ok(sock) = sock else {
        eprintln!("audit netlink not readable here: record not checked");
        return;
    };
    // Other tests log too: look for a LOG record of getppid.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut found = false;
    while !found && std::time::Instant::now() < deadline {
        match sock.recv().unwrap() {
            Some((audit::AUDIT_SECCOMP, text)) => {
                let r = audit::parse(&text).unwrap();
                // This process's own records are end-of-run markers of other tests.
                found = r.code == SECCOMP_RET_LOG
                    && r.syscall == NR_GETPPID
                    && r.pid != std::process::id();
            }
            Some(_) => {}
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    assert!(found, "no RET_LOG audit record for getppid");
}

#[test]
fn trace_without_a_tracer_fails_with_enosys() {
    let st = in_child(|| {
        install(&on_getppid(SECCOMP_RET_TRACE | 0x42), Flags::NONE).unwrap();
        let (r, e) = getppid();
        i32::from(r == -1 && e == libc::ENOSYS)
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
}

#[test]
fn trace_with_a_tracer_stops_for_the_tracer_then_runs() {
    // The forked child is the tracer; its own child is the tracee.
    let st = in_child(|| {
        // SAFETY: fork in a single-threaded forked test child; the tracee leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: PTRACE_TRACEME and raise take integers; _exit ends the tracee.
            unsafe {
                libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
                libc::raise(libc::SIGSTOP);
                let parent = libc::getppid();
                if install(&on_getppid(SECCOMP_RET_TRACE | 0x42), Flags::NONE).is_err() {
                    libc::_exit(3);
                }
                let r = libc::syscall(libc::SYS_getppid);
                libc::_exit(if r == i64::from(parent) { 0 } else { 4 });
            }
        }
        let mut status = 0;
        let mut msg: libc::c_ulong = 0;
        let mut events = 0;
        // SAFETY: waitpid/ptrace on our own tracee with valid out-pointers.
        unsafe {
            libc::waitpid(pid, &mut status, 0); // the SIGSTOP
            libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, libc::PTRACE_O_TRACESECCOMP);
            libc::ptrace(libc::PTRACE_CONT, pid, 0, 0);
            loop {
                libc::waitpid(pid, &mut status, 0);
                if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
                    break;
                }
                if status >> 8 == (libc::SIGTRAP | (libc::PTRACE_EVENT_SECCOMP << 8)) {
                    events += 1;
                    libc::ptrace(libc::PTRACE_GETEVENTMSG, pid, 0, &mut msg);
                }
                libc::ptrace(libc::PTRACE_CONT, pid, 0, 0);
            }
        }
        let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        i32::from(ok && events == 1 && msg == 0x42)
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
}

#[test]
fn notify_without_a_listener_fails_with_enosys() {
    let st = in_child(|| {
        install(&on_getppid(SECCOMP_RET_USER_NOTIF), Flags::NONE).unwrap();
        let (r, e) = getppid();
        i32::from(r == -1 && e == libc::ENOSYS)
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
}

#[test]
fn notify_with_a_listener_gets_the_supervisors_answer() {
    let st = in_child(|| {
        let l = listener::install_with_listener(&on_getppid(SECCOMP_RET_USER_NOTIF), Flags::NONE)
            .unwrap();
        // The supervisor thread is created after the filter and inherits it; it only calls
        // ioctl, which the filter allows.
        let sup = std::thread::spawn(move || {
            let next = || loop {
                if let Some(n) = l.recv().unwrap() {
                    break n;
                }
            };
            let n = next();
            let ok = n.data.nr == NR_GETPPID && n.data.arch == AUDIT_ARCH_X86_64;
            // Pending until answered, stale after.
            let valid = l.id_valid(n.id).unwrap();
            l.respond(n.id, Response::Value(if ok && valid { 4242 } else { 1 }))
                .unwrap();
            let stale = !l.id_valid(n.id).unwrap();
            let n = next();
            let errno = if stale { libc::EACCES } else { libc::EPERM };
            l.respond(n.id, Response::Errno(errno)).unwrap();
        });
        let first = getppid();
        let second = getppid();
        sup.join().unwrap();
        i32::from(first.0 == 4242 && second == (-1, libc::EACCES))
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
}

#[test]
fn tsync_confines_threads_started_before_the_filter() {
    let st = in_child(|| {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            rx.recv().unwrap();
            done_tx.send(getppid()).unwrap();
        });
        install(&on_getppid(ret_errno(13)), Flags::TSYNC).unwrap();
        tx.send(()).unwrap();
        let theirs = done_rx.recv().unwrap();
        t.join().unwrap();
        i32::from(theirs == (-1, 13) && getppid() == (-1, 13))
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
}

#[test]
fn tsync_names_the_thread_that_cannot_be_synchronised() {
    let st = in_child(|| {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        // A thread with a filter of its own is not an ancestor of the caller's filter tree:
        // the kernel cannot synchronise it and returns its thread id.
        let t = std::thread::spawn(move || {
            install(&allow_all(), Flags::NONE).unwrap();
            // SAFETY: gettid takes no arguments.
            tid_tx.send(unsafe { libc::gettid() }).unwrap();
            stop_rx.recv().unwrap();
        });
        let tid = tid_rx.recv().unwrap();
        let r = install(&on_getppid(ret_errno(13)), Flags::TSYNC);
        stop_tx.send(()).unwrap();
        t.join().unwrap();
        match r {
            Err(InstallError::Tsync { tid: got }) if got == i64::from(tid) => 1,
            _ => 0,
        }
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
}

#[test]
fn children_inherit_the_filter() {
    let st = in_child(|| {
        install(&on_getppid(ret_errno(77)), Flags::NONE).unwrap();
        let grandchild = in_child(|| i32::from(getppid() == (-1, 77))).unwrap();
        i32::from(grandchild == ChildStatus::Exited(1))
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
}

#[test]
fn exec_keeps_the_filter() {
    let st = in_child(|| {
        install(&on_getppid(ret_errno(77)), Flags::NONE).unwrap();
        // The new image reports its own seccomp mode (2 = filter) from /proc.
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", "grep -q '^Seccomp:[[:space:]]*2' /proc/self/status"])
            .status()
            .unwrap();
        i32::from(out.success())
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
}

#[test]
fn the_filter_cannot_be_removed() {
    let st = in_child(|| {
        install(&on_getppid(ret_errno(77)), Flags::NONE).unwrap();
        // A later allow-everything filter does not lift the deny: the strictest verdict wins.
        install(&allow_all(), Flags::NONE).unwrap();
        // no_new_privs cannot be cleared.
        // SAFETY: prctl with integer arguments.
        let cleared = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0) };
        // There is no way back to mode 0: PR_SET_SECCOMP only accepts STRICT and FILTER.
        // SAFETY: prctl with integer arguments.
        let disabled = unsafe { libc::prctl(libc::PR_SET_SECCOMP, 0, 0, 0, 0) };
        i32::from(getppid() == (-1, 77) && cleared == -1 && disabled == -1)
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
}

fn read_ok(path: &str) -> bool {
    std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut [0u8; 16]))
        .is_ok()
}

#[test]
fn landlock_fs_read_confines_reading_to_the_paths() {
    if landlock::abi() == 0 {
        eprintln!("no landlock on this kernel");
        return;
    }
    let st = in_child(|| {
        let mut rs = Ruleset::new();
        rs.allow_path("/usr", landlock::fs::READ);
        let p = rs.prepare(Compat::Required).unwrap();
        p.restrict_self().unwrap();
        let env = read_ok("/usr/bin/env");
        let hostname = std::fs::read("/etc/hostname");
        let denied = matches!(&hostname, Err(e) if e.raw_os_error() == Some(libc::EACCES));
        // Writing is not handled by a read-only ruleset.
        let tmp = std::env::temp_dir().join(format!("moat-ll-{}", std::process::id()));
        let write = std::fs::write(&tmp, b"x").is_ok();
        let _ = std::fs::remove_file(&tmp);
        i32::from(env) | i32::from(denied) << 1 | i32::from(write) << 2
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(0b111));
}

#[test]
fn landlock_net_connect_confines_tcp_connects_to_the_ports() {
    if landlock::abi() < 4 {
        eprintln!("no landlock network rules on this kernel");
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let st = in_child(|| {
        let mut rs = Ruleset::new();
        rs.allow_port(443, landlock::net::CONNECT_TCP);
        rs.prepare(Compat::Required)
            .unwrap()
            .restrict_self()
            .unwrap();
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => 1,
            _ => 0,
        }
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
    // Unconfined, the same connect works.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
}

#[test]
fn landlock_scope_signals_blocks_signals_outside_the_domain() {
    if landlock::abi() < 6 {
        eprintln!("no landlock scopes on this kernel");
        return;
    }
    let st = in_child(|| {
        let mut rs = Ruleset::new();
        rs.scope(landlock::scope::SIGNAL);
        rs.prepare(Compat::Required)
            .unwrap()
            .restrict_self()
            .unwrap();
        // Signal 0 checks permission only; the parent is outside the domain.
        // SAFETY: kill with signal 0 delivers nothing.
        let r = unsafe { libc::kill(libc::getppid(), 0) };
        let e = std::io::Error::last_os_error().raw_os_error();
        // SAFETY: as above, to ourselves (inside the domain).
        let own = unsafe { libc::kill(libc::getpid(), 0) };
        i32::from(r == -1 && e == Some(libc::EPERM) && own == 0)
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
}

#[test]
fn landlock_required_names_a_missing_path() {
    let mut rs = Ruleset::new();
    rs.allow_path("/nonexistent/moat", landlock::fs::READ);
    if landlock::abi() == 0 {
        return;
    }
    let err = rs.prepare(Compat::Required).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/moat"), "{err}");
    let best = rs.prepare(Compat::BestEffort).unwrap();
    assert_eq!(best.warnings().len(), 1);
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

#[test]
fn spawn_confines_before_exec_and_passes_the_status_through() {
    let prog = on_getppid(ret_errno(77));
    let sh = exec::resolve(os("sh")).unwrap();
    let conf = Confinement {
        filter: Some((&prog, Flags::NONE)),
        ..Confinement::default()
    };
    // The shell's own getppid goes through the filter: `$PPID` is empty/unset is not
    // observable portably, so check /proc instead, and the exit status.
    let child = exec::spawn(
        &sh,
        &[
            os("sh"),
            os("-c"),
            os("grep -q '^Seccomp:[[:space:]]*2' /proc/self/status && exit 7"),
        ],
        &conf,
    )
    .unwrap();
    let exit = child.wait(None, Duration::ZERO, |_| {}).unwrap();
    assert_eq!(exit, Exit::Code(7));
}

#[test]
fn spawn_reports_an_exec_failure() {
    let conf = Confinement::default();
    let err = exec::spawn(std::path::Path::new("/"), &[os("/")], &conf).unwrap_err();
    assert!(
        matches!(
            err,
            exec::SpawnError::Child {
                stage: Stage::Exec,
                ..
            }
        ),
        "{err}"
    );
}

/// Seven filters of 4096 instructions fill the kernel's per-thread budget (research notes,
/// ecosystem §3.5): the next install fails with ENOMEM.
fn big_program() -> Program {
    let mut insns = vec![moat_bpf::Insn::stmt(BPF_LD | BPF_W | BPF_ABS, OFFSET_NR); 4095];
    insns.push(moat_bpf::Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    Program::new(insns).unwrap()
}

fn fill_filter_budget() {
    let big = big_program();
    moat_sys::set_no_new_privs().unwrap();
    for _ in 0..7 {
        install(&big, Flags::NONE).unwrap();
    }
}

#[test]
fn spawn_reports_a_refused_filter_and_never_runs_the_program() {
    let marker = std::env::temp_dir().join(format!("moat-spawn-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let m = marker.clone();
    let st = in_child(move || {
        fill_filter_budget();
        let prog = big_program();
        let conf = Confinement {
            filter: Some((&prog, Flags::NONE)),
            ..Confinement::default()
        };
        let sh = exec::resolve(os("sh")).unwrap();
        let script = format!("touch {}", m.display());
        match exec::spawn(&sh, &[os("sh"), os("-c"), os(&script)], &conf) {
            Err(exec::SpawnError::Child {
                stage: Stage::Seccomp,
                error,
            }) if error.raw_os_error() == Some(libc::ENOMEM) => 1,
            other => {
                eprintln!("{other:?}");
                0
            }
        }
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
    assert!(
        !marker.exists(),
        "the program ran although the filter was refused"
    );
}

#[test]
fn spawn_reports_the_killing_call_from_the_audit_log() {
    let Ok(sock) = audit::Socket::open() else {
        eprintln!("audit netlink not readable here");
        return;
    };
    let prog = on_getppid(SECCOMP_RET_KILL_PROCESS);
    let conf = Confinement {
        filter: Some((&prog, Flags::LOG)),
        audit_session: true,
        ..Confinement::default()
    };
    let sh = exec::resolve(os("sh")).unwrap();
    // busybox/dash `sh -c` runs a child; perl/python are not guaranteed: use the shell's
    // own $PPID? That is read at startup by getppid, so the shell itself dies.
    let child = exec::spawn(&sh, &[os("sh"), os("-c"), os("echo $PPID")], &conf).unwrap();
    let mut records = Vec::new();
    let exit = child
        .wait(Some(&sock), Duration::from_millis(200), |r| records.push(r))
        .unwrap();
    assert_eq!(exit, Exit::Signal(libc::SIGSYS));
    assert!(
        records
            .iter()
            .any(|r| r.syscall == NR_GETPPID && r.code == SECCOMP_RET_KILL_PROCESS),
        "{records:?}"
    );
}

/// The end-of-run barrier (`audit::Marker`): with no quiet period at all (`linger` zero), every
/// record the program and its descendants made before it exited is still collected, run after
/// run, including the last call of a grandchild just before the program exits.
#[test]
fn wait_collects_every_record_up_to_the_exit_without_a_linger() {
    let sock = match audit::Socket::open() {
        Ok(s) => s,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "the audit log is not readable under CI ({e}): run the tests as root"
            );
            return;
        }
    };
    assert!(
        audit::logs_log_action(),
        "`log` is missing from /proc/sys/kernel/seccomp/actions_logged"
    );
    // Once this process has received one marker, `wait` relies on markers alone.
    let m = audit::Marker::send().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !audit::markers_arrive() && std::time::Instant::now() < deadline {
        match sock.recv().unwrap() {
            Some((audit::AUDIT_SECCOMP, text)) => {
                m.received(&audit::parse(&text).unwrap());
            }
            Some(_) => {}
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    assert!(audit::markers_arrive(), "the kernel delivered no marker");
    let prog = on_getppid(SECCOMP_RET_LOG);
    let conf = Confinement {
        filter: Some((&prog, Flags::NONE)),
        audit_session: true,
        ..Confinement::default()
    };
    let sh = exec::resolve(os("sh")).unwrap();
    for run in 0..20 {
        // Each shell reads $PPID with getppid when it starts: the shell, the shell it starts
        // and that shell's child, the last of them right before the program exits.
        let child = exec::spawn(
            &sh,
            &[os("sh"), os("-c"), os("sh -c 'sh -c true; true'; true")],
            &conf,
        )
        .unwrap();
        let mut records = Vec::new();
        let exit = child
            .wait(Some(&sock), Duration::ZERO, |r| records.push(r))
            .unwrap();
        assert_eq!(exit, Exit::Code(0));
        let pids: std::collections::BTreeSet<u32> = records
            .iter()
            .filter(|r| r.syscall == NR_GETPPID && r.code == SECCOMP_RET_LOG)
            .map(|r| r.pid)
            .collect();
        assert_eq!(pids.len(), 3, "run {run}: {records:?}");
    }
}

/// Two markers of one process are told apart, and each one's record arrives.
#[test]
fn audit_markers_arrive_and_are_distinct() {
    let Ok(sock) = audit::Socket::open() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "the audit log is not readable under CI"
        );
        return;
    };
    let a = audit::Marker::send().unwrap();
    let b = audit::Marker::send().unwrap();
    assert_ne!(a, b);
    let (mut got_a, mut got_b) = (false, false);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !(got_a && got_b) && std::time::Instant::now() < deadline {
        match sock.recv().unwrap() {
            Some((audit::AUDIT_SECCOMP, text)) => {
                let r = audit::parse(&text).unwrap();
                let (is_a, is_b) = (a.received(&r), b.received(&r));
                assert!(!(is_a && is_b), "{r:?} matches both markers");
                // FIFO: b was queued after a, so it cannot arrive first.
                assert!(!is_b || got_a, "marker b arrived before a");
                got_a |= is_a;
                got_b |= is_b;
            }
            Some(_) => {}
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    assert!(got_a && got_b, "markers not received: {got_a} {got_b}");
    assert!(audit::markers_arrive());
}

#[test]
fn spawn_forwards_signals_sent_to_the_supervisor() {
    let ready = std::env::temp_dir().join(format!("moat-fwd-ready-{}", std::process::id()));
    let _ = std::fs::remove_file(&ready);
    let script = format!(
        "trap 'kill $!; exit 9' TERM; sleep 30 & touch {}; wait",
        ready.display()
    );
    // SAFETY: the forked supervisor runs spawn/wait and leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let sh = exec::resolve(os("sh")).unwrap();
        let script = script.as_str();
        let code = exec::spawn(
            &sh,
            &[os("sh"), os("-c"), os(script)],
            &Confinement::default(),
        )
        .and_then(|c| {
            c.wait(None, Duration::ZERO, |_| {})
                .map_err(|e| exec::SpawnError::Os {
                    call: "wait",
                    error: e,
                })
        })
        .map_or(100, Exit::shell_status);
        // SAFETY: ends the forked supervisor.
        unsafe { libc::_exit(code) };
    }
    // Signal only once the shell has set its trap and started the sleep.
    let start = std::time::Instant::now();
    while !ready.exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = std::fs::remove_file(&ready);
    // SAFETY: kill on our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let mut status = 0;
    // SAFETY: waitpid on our own child with a writable status.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(start.elapsed() < Duration::from_secs(10));
    // 9: the shell's trap ran on the forwarded signal.
    assert!(libc::WIFEXITED(status), "{status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), 9);
}

#[test]
fn landlock_rule_on_a_file_allows_only_that_file() {
    if landlock::abi() == 0 {
        return;
    }
    let st = in_child(|| {
        let mut rs = Ruleset::new();
        // READ includes READ_DIR, which a file cannot take: only READ_FILE applies to it.
        rs.allow_path("/etc/hostname", landlock::fs::READ);
        rs.prepare(Compat::Required)
            .unwrap()
            .restrict_self()
            .unwrap();
        i32::from(read_ok("/etc/hostname")) | i32::from(!read_ok("/etc/passwd")) << 1
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(0b11));
}

#[test]
fn landlock_net_bind_confines_tcp_binds_to_the_ports() {
    if landlock::abi() < 4 {
        return;
    }
    let st = in_child(|| {
        let mut rs = Ruleset::new();
        rs.allow_port(1, landlock::net::BIND_TCP);
        rs.prepare(Compat::Required)
            .unwrap()
            .restrict_self()
            .unwrap();
        // Port 0 (any free port) is not port 1; connecting stays unrestricted.
        match std::net::TcpListener::bind("127.0.0.1:0") {
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => 1,
            _ => 0,
        }
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
}

#[test]
fn landlock_scope_abstract_unix_blocks_sockets_from_outside() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
    if landlock::abi() < 6 {
        return;
    }
    let name = format!("moat-test-scope-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let _outside = UnixListener::bind_addr(&addr).unwrap();
    let st = in_child(move || {
        let before = UnixStream::connect_addr(&addr).is_ok();
        let mut rs = Ruleset::new();
        rs.scope(landlock::scope::ABSTRACT_UNIX_SOCKET);
        rs.prepare(Compat::Required)
            .unwrap()
            .restrict_self()
            .unwrap();
        let after = UnixStream::connect_addr(&addr);
        let denied = matches!(&after, Err(e) if e.raw_os_error() == Some(libc::EPERM));
        i32::from(before && denied)
    });
    assert_eq!(st.unwrap(), ChildStatus::Exited(1));
}
