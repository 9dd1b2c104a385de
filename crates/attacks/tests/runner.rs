//! Runner tricks: attacks on `moat run` itself from inside the sandbox (catalogue C10, E17, E18).
//! The sandboxed helper targets its parent, the unconfined `moat` supervisor, and a sentinel
//! process outside the sandbox. Every "refused" is paired with a control that shows the same
//! attempt succeeds without `moat run`, so the assertions can fail. Uses the workspace's `moat` binary (built by
//! `cargo test --workspace`); skips with the reason printed if it is not built or has no `run`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use common::sandbox::{Res, helper};

const EPERM: i32 = 1;
const EACCES: i32 = 13;

/// `target/<profile>/moat`, next to this test's `deps/` directory.
fn moat() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("moat");
    let ok = Command::new(&bin)
        .args(["run", "--help"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some(bin)
    } else {
        let _ = moat_testkit::require(
            false,
            &format!(
                "{} is missing or has no `run` subcommand (build moat-cli)",
                bin.display()
            ),
        );
        None
    }
}

/// `setpriv` arguments that drop to uid and gid 65534 with no supplementary groups.
const NOBODY: [&str; 4] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
];

/// A command line, optionally behind `NOBODY`.
fn command(as_nobody: bool, program: &Path) -> Command {
    if as_nobody {
        let mut c = Command::new(NOBODY[0]);
        c.args(&NOBODY[1..]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Runs `cmd` and parses the helper's result line (`ret=N errno=N ...`, the last line).
fn result_of(mut cmd: Command) -> Res {
    let out = match cmd.stdin(Stdio::null()).output() {
        Ok(o) => o,
        Err(e) => return Res::Skip(format!("{cmd:?}: {e}")),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let mut ret = None;
    let mut errno = None;
    let mut extra_fields = std::collections::BTreeMap::new();
    for f in line.split_whitespace() {
        match f.split_once('=') {
            Some(("ret", v)) => ret = v.parse().ok(),
            Some(("errno", v)) => errno = v.parse().ok(),
            Some((k, v)) => {
                extra_fields.insert(k.to_string(), v.to_string());
            }
            None => {}
        }
    }
    match (ret, errno) {
        (Some(ret), Some(errno)) => Res::Done {
            ret,
            errno,
            extra: extra_fields,
        },
        _ => Res::Other(format!(
            "{:?}: {stdout:?} {:?}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// `moat run [EXTRA...] -- helper ARGS...`; returns the helper's result line.
fn moat_run(moat: &Path, extra: &[&str], args: &[&str]) -> Res {
    moat_run_as(false, moat, extra, args)
}

/// [`moat_run`], as uid 65534 when `as_nobody`.
fn moat_run_as(as_nobody: bool, moat: &Path, extra: &[&str], args: &[&str]) -> Res {
    let mut cmd = command(as_nobody, moat);
    cmd.arg("run")
        .args(extra)
        .arg("--")
        .arg(helper())
        .args(args);
    result_of(cmd)
}

/// The helper run directly, outside any sandbox: the control for each attempt.
fn unconfined_as(as_nobody: bool, args: &[&str]) -> Res {
    let mut cmd = command(as_nobody, helper());
    cmd.args(args);
    result_of(cmd)
}

/// The errno of a refused `open("/proc/<pid>/mem")`: Landlock's ptrace hook says EPERM,
/// which `mm_access` reports as EACCES on this kernel; either is a refusal.
fn refused_open(r: &Res) -> bool {
    matches!(r.errno(), Some(EACCES | EPERM))
}

/// A process outside the sandbox that counts SIGURG deliveries.
struct Sentinel {
    child: Child,
    out: BufReader<ChildStdout>,
    pid: String,
}

impl Sentinel {
    fn start() -> Sentinel {
        Sentinel::start_as(false).unwrap()
    }

    /// The sentinel, as uid 65534 when `as_nobody`; `None` when it cannot be started that way.
    fn start_as(as_nobody: bool) -> Option<Sentinel> {
        let mut child = command(as_nobody, helper())
            .arg("sentinel")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).ok()?;
        let pid = line.trim().strip_prefix("pid=")?.to_string();
        Some(Sentinel { child, out, pid })
    }

    /// Ends the sentinel; returns how many SIGURG it received.
    fn finish(mut self) -> String {
        self.child.stdin.take().unwrap().write_all(b"\n").unwrap();
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        self.child.wait().unwrap();
        line.trim().to_string()
    }
}

/// C10: the sandbox cannot ptrace or `process_vm_writev` the unconfined `moat` supervisor (the
/// filter denies both), and it cannot open `/proc/<moat>/mem` or another outside process's
/// `/proc/<pid>/mem` for writing: `moat run` always puts the program in a Landlock domain,
/// and Landlock refuses ptrace access from inside a domain to outside it. Root holds
/// CAP_SYS_PTRACE, so the supervisor being non-dumpable alone would not stop this; the
/// unconfined control shows the open succeeds without the domain. `--audit`, which stops
/// nothing the policy names, keeps the domain.
#[test]
fn the_supervisor_is_unreachable_from_the_sandbox() {
    let Some(moat) = moat() else { return };
    let s = Sentinel::start();
    let control = unconfined_as(false, &["proc_mem_open", &s.pid]);
    let ptrace = moat_run(&moat, &[], &["ptrace_attach", "ppid"]);
    let vm = moat_run(&moat, &[], &["process_vm_writev", "ppid", "0x1000"]);
    let bare = moat_run(&moat, &[], &["proc_mem_open", "ppid"]);
    let outside = moat_run(&moat, &[], &["proc_mem_open", &s.pid]);
    let audit = moat_run(&moat, &["--audit"], &["proc_mem_open", "ppid"]);
    let scoped = moat_run(&moat, &["-e", "scope signals"], &["proc_mem_open", "ppid"]);
    let fs = moat_run(&moat, &["-e", "fs read /"], &["proc_mem_open", "ppid"]);
    s.finish();
    eprintln!(
        "runner: ptrace {ptrace}; process_vm_writev {vm}; open /proc/<pid>/mem for writing: \
         unconfined (sentinel) {control}; under moat run: moat {bare}, sentinel {outside}, \
         moat with --audit {audit}, with `scope signals` {scoped}, with `fs read /` {fs}"
    );
    assert!(
        control.ok(),
        "the control cannot open /proc/<sentinel>/mem: {control}"
    );
    assert_eq!(ptrace.errno(), Some(EPERM), "ptrace(moat): {ptrace}");
    assert_eq!(vm.errno(), Some(EPERM), "process_vm_writev(moat): {vm}");
    for (what, r) in [
        ("moat", &bare),
        ("the sentinel", &outside),
        ("moat under --audit", &audit),
        ("moat with scope signals", &scoped),
        ("moat with fs read /", &fs),
    ] {
        assert!(refused_open(r), "/proc/<pid>/mem of {what} opened: {r}");
    }
}

/// E17: the filter cannot be removed or loosened from inside: an allow-everything filter
/// stacked by the sandbox changes nothing, and `/proc/self/status` shows the filter and
/// no_new_privs.
#[test]
fn the_filter_cannot_be_loosened_from_inside() {
    let Some(moat) = moat() else { return };
    let r = moat_run(&moat, &[], &["nested_allow"]);
    assert_eq!(r.extra("stacked_errno"), Some("0"), "{r}");
    assert_eq!(r.errno(), Some(EPERM), "unshare after stacking ALLOW: {r}");
    let s = moat_run(&moat, &[], &["status"]);
    assert_eq!(s.extra("seccomp"), Some("2"), "{s}");
    assert_eq!(s.extra("nnp"), Some("1"), "{s}");
    assert_eq!(s.extra("filters"), Some("1"), "{s}");
}

/// E18: signals. `moat run` keeps the caller's process group (so Ctrl-C works) and adds no pid
/// namespace, but its Landlock domain scopes signals (`LANDLOCK_SCOPE_SIGNAL`, ABI 6): the
/// sandbox cannot signal the sentinel or the supervisor, though the unconfined control can.
/// Only once the scope is proven active does the test broadcast a real `kill(-1, SIGURG)` from
/// inside (unscoped, as root, it would reach every process), and the sentinel receives nothing.
/// The supervisor still signals the program: SIGTERM sent to `moat` ends it (143).
#[test]
fn signals_to_outside_processes() {
    let Some(moat) = moat() else { return };
    let s = Sentinel::start();
    let control = unconfined_as(false, &["kill_reach", &s.pid]);
    let scoped = moat_run(&moat, &[], &["kill_reach", &s.pid]);
    let parent = moat_run(&moat, &[], &["kill_reach", "ppid"]);
    let audit = moat_run(&moat, &["--audit"], &["kill_reach", &s.pid]);
    // Broadcast only once the scope is proven active: unscoped, SIGURG would reach every process.
    if scoped.errno() != Some(EPERM) {
        s.finish();
        panic!("kill(sentinel, 0) from moat run is not refused (control {control}): {scoped}");
    }
    let broadcast = moat_run(&moat, &[], &["kill_urg", "-1"]);
    let direct = moat_run(&moat, &[], &["kill_urg", &s.pid]);
    let got = s.finish();
    eprintln!(
        "runner signals: kill(sentinel, 0) unconfined {control}, under moat run {scoped} \
         (--audit {audit}); kill(moat, 0) {parent}; kill(-1, SIGURG) {broadcast}, \
         kill(sentinel, SIGURG) {direct}; sentinel {got}"
    );
    assert!(
        control.ok(),
        "the control cannot signal the sentinel: {control}"
    );
    assert_eq!(parent.errno(), Some(EPERM), "kill(moat, 0): {parent}");
    assert_eq!(
        audit.errno(),
        Some(EPERM),
        "kill(sentinel, 0) under --audit: {audit}"
    );
    assert_eq!(direct.errno(), Some(EPERM), "{direct}");
    assert_eq!(
        got, "urg=0",
        "a signal from the sandbox reached the sentinel"
    );
}

/// C10 and E18 for an unprivileged user (uid 65534, through `setpriv`; skipped when not root
/// or without `setpriv`): this kernel has no Yama, so a same-uid process may open another's
/// `/proc/<pid>/mem` and signal it (the unconfined controls, against a sentinel running as
/// uid 65534). Under `moat run` neither reaches the supervisor or the sentinel.
#[test]
fn an_unprivileged_sandbox_cannot_reach_outside() {
    let Some(moat) = moat() else { return };
    let Some(s) = Sentinel::start_as(true) else {
        let _ = moat_testkit::require(false, "cannot start a sentinel through setpriv");
        return;
    };
    let mem_control = unconfined_as(true, &["proc_mem_open", &s.pid]);
    let kill_control = unconfined_as(true, &["kill_reach", &s.pid]);
    if !mem_control.ok() {
        s.finish();
        let _ = moat_testkit::require(false, &format!("unprivileged control: {mem_control}"));
        return;
    }
    let mem_moat = moat_run_as(true, &moat, &[], &["proc_mem_open", "ppid"]);
    let mem_sentinel = moat_run_as(true, &moat, &[], &["proc_mem_open", &s.pid]);
    let kill_moat = moat_run_as(true, &moat, &[], &["kill_reach", "ppid"]);
    let kill_sentinel = moat_run_as(true, &moat, &[], &["kill_reach", &s.pid]);
    s.finish();
    eprintln!(
        "runner as uid 65534: unconfined: open /proc/<sentinel>/mem {mem_control}, \
         kill(sentinel, 0) {kill_control}; under moat run: open /proc/<moat>/mem {mem_moat}, \
         /proc/<sentinel>/mem {mem_sentinel}, kill(moat, 0) {kill_moat}, \
         kill(sentinel, 0) {kill_sentinel}"
    );
    assert!(kill_control.ok(), "{kill_control}");
    assert!(refused_open(&mem_moat), "{mem_moat}");
    assert!(refused_open(&mem_sentinel), "{mem_sentinel}");
    assert_eq!(kill_moat.errno(), Some(EPERM), "{kill_moat}");
    assert_eq!(kill_sentinel.errno(), Some(EPERM), "{kill_sentinel}");
}

/// The supervisor is non-dumpable (`PR_SET_DUMPABLE` 0), the defence that holds for an
/// unprivileged sandbox even on a kernel without Landlock: the kernel then makes the files
/// under `/proc/<moat>` belong to root although `moat` runs as uid 65534, while the program
/// (dumpable again after `execve`) keeps its own. Skipped when not root or without `setpriv`.
#[test]
fn the_supervisor_is_not_dumpable() {
    let Some(moat) = moat() else { return };
    let mut cmd = command(true, &moat);
    let Ok(mut child) = cmd
        .arg("run")
        .arg("--")
        .arg(helper())
        .arg("sentinel")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        let _ = moat_testkit::require(false, "cannot run moat through setpriv");
        return;
    };
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let Some(program) = line.trim().strip_prefix("pid=").map(str::to_string) else {
        let _ = child.kill();
        let _ = child.wait();
        let _ = moat_testkit::require(false, &format!("moat run through setpriv printed {line:?}"));
        return;
    };
    // setpriv execs moat, so the child's pid is moat's.
    // (`/proc/<pid>` itself always shows the effective uid: task_dump_owner exempts the
    // world-readable directories, fs/proc/base.c.)
    let owner = |pid: &str| std::fs::metadata(format!("/proc/{pid}/mem")).map(|m| m.uid());
    let (moat_owner, program_owner) = (owner(&child.id().to_string()), owner(&program));
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    let status = child.wait().unwrap();
    eprintln!(
        "runner as uid 65534: /proc/<moat>/mem owner {moat_owner:?}, /proc/<program>/mem \
         owner {program_owner:?}, exit {status:?}"
    );
    assert_eq!(
        program_owner.unwrap(),
        65534,
        "the program's /proc/<pid>/mem (control)"
    );
    assert_eq!(
        moat_owner.unwrap(),
        0,
        "/proc/<moat>/mem of a non-dumpable moat"
    );
    assert!(status.success(), "{status:?}");
}
