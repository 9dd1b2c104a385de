//! Runner tricks: attacks on `moat run` itself from inside the sandbox (catalogue C10, E17, E18).
//! The sandboxed helper targets its parent, the unconfined `moat` supervisor, and a sentinel
//! process outside the sandbox. Uses the workspace's `moat` binary (built by
//! `cargo test --workspace`); skips with the reason printed if it is not built or has no `run`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
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
        eprintln!(
            "SKIP runner tests: {} is missing or has no `run` subcommand (build moat-cli)",
            bin.display()
        );
        None
    }
}

/// `moat run [EXTRA...] -- helper ARGS...`; returns the helper's result line.
fn moat_run(moat: &PathBuf, extra: &[&str], args: &[&str]) -> Res {
    let out = Command::new(moat)
        .arg("run")
        .args(extra)
        .arg("--")
        .arg(helper())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
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

/// A process outside the sandbox that counts SIGURG deliveries.
struct Sentinel {
    child: Child,
    out: BufReader<ChildStdout>,
    pid: String,
}

impl Sentinel {
    fn start() -> Sentinel {
        let mut child = Command::new(helper())
            .arg("sentinel")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let pid = line.trim().trim_start_matches("pid=").to_string();
        Sentinel { child, out, pid }
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
/// filter denies both), and with a Landlock domain (`scope signals`) it cannot open
/// `/proc/<moat>/mem` either. Without a Landlock domain it can: root holds CAP_SYS_PTRACE, and
/// `open` plus `pwrite` are not system calls a policy can refuse. This test records that gap
/// (see `docs/security.md`) and flips when `moat run` closes it by default.
#[test]
fn the_supervisor_is_unreachable_from_the_sandbox() {
    let Some(moat) = moat() else { return };
    let ptrace = moat_run(&moat, &[], &["ptrace_attach", "ppid"]);
    assert_eq!(ptrace.errno(), Some(EPERM), "ptrace(moat): {ptrace}");
    let vm = moat_run(&moat, &[], &["process_vm_writev", "ppid", "0x1000"]);
    assert_eq!(vm.errno(), Some(EPERM), "process_vm_writev(moat): {vm}");
    let scoped = moat_run(&moat, &["-e", "scope signals"], &["proc_mem_open", "ppid"]);
    assert_eq!(
        scoped.errno(),
        Some(EACCES),
        "/proc/moat/mem with Landlock: {scoped}"
    );
    let bare = moat_run(&moat, &[], &["proc_mem_open", "ppid"]);
    eprintln!(
        "runner: ptrace {ptrace}; process_vm_writev {vm}; /proc/<moat>/mem open: {bare} \
         without a Landlock domain, {scoped} with `scope signals`"
    );
    assert!(
        bare.ok(),
        "/proc/<moat>/mem is now closed by default ({bare}): update docs/security.md and this test"
    );
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
/// namespace, so under `container` the sandbox can signal any process its uid may signal —
/// `kill(-1, SIGKILL)` as root would reach every process on the machine. The test never
/// broadcasts a signal unconfined: it checks reachability with signal 0 on a sentinel. With
/// `scope signals` (a Landlock domain) the sentinel is out of reach, and a real
/// `kill(-1, SIGURG)` broadcast from inside does not reach it.
#[test]
fn signals_to_outside_processes() {
    let Some(moat) = moat() else { return };
    let s = Sentinel::start();
    let open = moat_run(&moat, &[], &["kill_reach", &s.pid]);
    let scoped = moat_run(&moat, &["-e", "scope signals"], &["kill_reach", &s.pid]);
    // Broadcast only once the scope is proven active: unscoped, SIGURG would reach every process.
    assert_eq!(
        scoped.errno(),
        Some(EPERM),
        "scope signals is not active: {scoped}"
    );
    let broadcast = moat_run(&moat, &["-e", "scope signals"], &["kill_urg", "-1"]);
    let direct = moat_run(&moat, &["-e", "scope signals"], &["kill_urg", &s.pid]);
    let got = s.finish();
    eprintln!(
        "runner signals: kill(sentinel, 0) {open} under container, {scoped} with scope signals; \
         kill(-1, SIGURG) with scope signals {broadcast}, kill(sentinel, SIGURG) {direct}; \
         sentinel {got}"
    );
    assert!(open.ok(), "the documented gap closed? {open}");
    assert_eq!(scoped.errno(), Some(EPERM), "{scoped}");
    assert_eq!(direct.errno(), Some(EPERM), "{direct}");
    assert_eq!(
        got, "urg=0",
        "a signal from the scoped sandbox reached the sentinel"
    );
}

/// C10 for an unprivileged user: the `moat` supervisor runs as the same uid and stays dumpable,
/// and this kernel has no Yama, so the kernel's ptrace access check for `/proc/<moat>/mem`
/// (`mm_access(PTRACE_MODE_ATTACH)`, made when the file is opened) passes without any
/// capability. A Landlock domain (`scope signals`) closes it. Runs `moat run` as uid 65534
/// through `setpriv`; skipped when not root or without `setpriv`.
#[test]
fn the_supervisor_memory_is_open_to_an_unprivileged_sandbox_without_landlock() {
    let Some(moat) = moat() else { return };
    let as_nobody = |extra: &[&str]| -> Res {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&moat)
            .arg("run")
            .args(extra)
            .arg("--")
            .arg(helper())
            .args(["proc_mem_open", "ppid"])
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) => {
                let text = String::from_utf8_lossy(&o.stdout).to_string();
                if text.contains("errno=") {
                    let l = text.lines().last().unwrap_or_default();
                    let ret: i64 = l
                        .split_whitespace()
                        .find_map(|f| f.strip_prefix("ret="))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(-2);
                    let errno: i32 = l
                        .split_whitespace()
                        .find_map(|f| f.strip_prefix("errno="))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(-2);
                    Res::Done {
                        ret,
                        errno,
                        extra: Default::default(),
                    }
                } else {
                    Res::Other(format!("{text} {}", String::from_utf8_lossy(&o.stderr)))
                }
            }
            Err(e) => Res::Skip(e.to_string()),
        }
    };
    let bare = as_nobody(&[]);
    if matches!(bare, Res::Skip(_) | Res::Other(_)) {
        eprintln!("SKIP unprivileged runner test: {bare}");
        return;
    }
    let scoped = as_nobody(&["-e", "scope signals"]);
    eprintln!("runner as uid 65534: /proc/<moat>/mem open {bare}; with scope signals {scoped}");
    assert!(
        bare.ok(),
        "closed by default now ({bare}): update docs/security.md and this test"
    );
    assert_eq!(scoped.errno(), Some(EACCES), "{scoped}");
}
