//! `moat run` on the real kernel: every case spawns the `moat` binary, which confines a child
//! and execs a real program (C probes compiled here with gcc, busybox, coreutils, util-linux).

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{stderr, stdout};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const EPERM: i32 = 1;
const EACCES: i32 = 13;
const ENOSYS: i32 = 38;
const SIGSYS_STATUS: i32 = 128 + 31;

fn tmp() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("moat-run");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Compiles a helper from `tests/helpers/NAME.c` once per test run.
fn helper(name: &str) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<Vec<String>>> = OnceLock::new();
    let lock = BUILT.get_or_init(Default::default);
    let mut built = lock.lock().unwrap();
    let out = tmp().join(name);
    if !built.iter().any(|b| b == name) {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/helpers/{name}.c"));
        let st = Command::new("gcc")
            .args(["-O2", "-Wall", "-pthread", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("gcc is needed for these tests");
        assert!(st.success(), "gcc failed on {}", src.display());
        built.push(name.to_string());
    }
    out
}

fn probe() -> String {
    helper("probe").display().to_string()
}

fn moat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("moat itself never dies of a signal")
}

/// Runs the probe unconfined and under `--profile container`.
fn unconfined_and_container(what: &str) -> (i32, Output) {
    let p = probe();
    let free = Command::new(&p).arg(what).output().unwrap();
    let conf = moat(&["run", "--profile", "container", "--", &p, what]);
    (free.status.code().unwrap_or(-1), conf)
}

#[test]
fn container_refuses_the_escape_surface() {
    // (probe, status unconfined, status under container)
    let cases = [
        ("unshare-user", 0, EPERM),     // unshare(CLONE_NEWUSER)
        ("mount32", 14, EPERM),         // int 0x80 mount: EFAULT on junk args, EPERM confined
        ("io_uring_setup", 0, EPERM),   // io_uring bypasses seccomp: must not start
        ("bpf", 22, EPERM),             // bpf(0, NULL, 0): EINVAL unconfined
        ("keyctl", 22, EPERM),          // keyrings are not namespaced
        ("tiocsti", 25, EPERM),         // TIOCSTI with junk high word: ENOTTY on /dev/null
        ("x32", ENOSYS, SIGSYS_STATUS), // x32 number: badarch kills
        ("getpid32", 0, 0),             // i386 is accepted (arch native compat)
    ];
    for (what, free_expect, expect) in cases {
        let (free, out) = unconfined_and_container(what);
        assert_eq!(free, free_expect, "{what} unconfined");
        assert_eq!(
            code(&out),
            expect,
            "{what} under container: {}",
            stderr(&out)
        );
    }
}

#[test]
fn container_refuses_unshare_u_from_util_linux() {
    let out = moat(&["run", "--", "unshare", "-U", "true"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn x32_kill_is_reported_with_the_deciding_line() {
    let out = moat(&["run", "--", &probe(), "x32"]);
    assert_eq!(code(&out), SIGSYS_STATUS);
    let err = stderr(&out);
    if err.contains("not readable") {
        return; // not root: the fallback message is checked elsewhere
    }
    assert!(
        err.contains("x32 getpid killed the process (1 call): kill (process) by badarch"),
        "{err}"
    );
}

#[test]
fn container_runs_ordinary_programs_unchanged() {
    let p = probe();
    for what in ["threads", "sockets"] {
        let out = moat(&["run", "--", &p, what]);
        assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
        assert_eq!(stdout(&out), format!("{what} ok\n"));
        assert_eq!(stderr(&out), "", "{what}");
    }
    let script = "echo hello | busybox tr a-z A-Z; busybox ls / >/dev/null && busybox seq 3 | busybox wc -l; \
                  busybox sh -c 'exit 0' && d=$(busybox mktemp -d) && busybox cp /etc/hostname $d/h && busybox rm -r $d && echo done";
    let out = moat(&["run", "--", "busybox", "sh", "-c", script]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "HELLO\n3\ndone\n");
    let out = moat(&[
        "run",
        "--",
        "sh",
        "-c",
        "ls /usr/bin | head -1 >/dev/null && date +%Y >/dev/null && echo ok",
    ]);
    assert_eq!(stdout(&out), "ok\n", "{}", stderr(&out));
}

#[test]
fn exit_status_and_stdio_pass_through() {
    let out = moat(&["run", "--", "sh", "-c", "echo out; echo err >&2; exit 42"]);
    assert_eq!(code(&out), 42);
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");
    let out = moat(&["run", "--", "sh", "-c", "kill -USR1 $$"]);
    assert_eq!(code(&out), 128 + 10);
    let mut child = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["run", "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"through\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "through\n");
}

#[test]
fn sigterm_to_moat_reaches_the_program() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args([
            "run",
            "--",
            "sh",
            "-c",
            "trap 'kill $!; exit 9' TERM; echo ready; sleep 30 & wait",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = [0u8; 6];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut ready).unwrap();
    let start = Instant::now();
    let pid = i32::try_from(child.id()).unwrap();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let st = child.wait().unwrap();
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(st.code(), Some(9));
}

/// `moat run` always puts the program in a Landlock domain that scopes signals (ABI 6+): the
/// program signals itself and its descendants, but not its parent `moat` nor this test
/// process; the same script outside `moat run` reaches both.
#[test]
fn signals_stay_inside_the_sandbox() {
    let abi = moat_sys::landlock::abi();
    if !moat_testkit::require(
        abi >= 6,
        &format!("Landlock ABI {abi} has no signal scope (needs 6)"),
    ) {
        return;
    }
    let script = format!(
        "sleep 30 & c=$!; kill -0 $PPID; p=$?; kill -0 {}; t=$?; kill $c; wait $c; \
         echo parent=$p runner=$t child=$?",
        std::process::id()
    );
    let free = Command::new("sh").args(["-c", &script]).output().unwrap();
    let out = moat(&["run", "--", "sh", "-c", &script]);
    assert_eq!(
        stdout(&free),
        "parent=0 runner=0 child=143\n",
        "{}",
        stderr(&free)
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "parent=1 runner=1 child=143\n",
        "{}",
        stderr(&out)
    );
}

#[test]
fn each_action_has_its_documented_effect() {
    let p = probe();
    // (statement, exit status of `probe getppid`, what moat reports, stdout prefix)
    let cases: [(&str, i32, Option<&str>); 7] = [
        ("allow getppid", 0, None),
        ("errno 77 getppid", 77, None),
        (
            "kill getppid",
            SIGSYS_STATUS,
            Some(
                "x86_64 getppid killed the process (1 call): kill (process) by -e:1: kill getppid",
            ),
        ),
        (
            "trap getppid",
            SIGSYS_STATUS,
            Some("x86_64 getppid trapped (SIGSYS) (1 call): trap by -e:1: trap getppid"),
        ),
        (
            "log getppid",
            0,
            Some("x86_64 getppid logged (1 call): log by -e:1: log getppid"),
        ),
        ("trace 5 getppid", ENOSYS, None), // no tracer attached
        ("notify getppid", ENOSYS, None),  // no listener
    ];
    for (statement, expect, report) in cases {
        let out = moat(&["run", "-e", statement, "--", &p, "getppid"]);
        assert_eq!(code(&out), expect, "{statement}: {}", stderr(&out));
        let err = stderr(&out);
        match report {
            Some(r) if !err.contains("not readable") => {
                assert!(err.contains(r), "{statement}: {err}")
            }
            _ => {}
        }
    }
    // kill-thread: the calling thread dies, the process carries on.
    let out = moat(&[
        "run",
        "-e",
        "kill-thread getppid",
        "--",
        &p,
        "thread-getppid",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "main thread alive\n");
}

/// `moat run` stops collecting audit records at a marker it sends after the program exits,
/// not after a fixed wait: a kill and a trap in a grandchild, the last calls before the program
/// exits, are still reported with their deciding lines, run after run.
#[test]
fn refusals_right_before_exit_are_reported_every_time() {
    let p = probe();
    let script = format!("{p} keyctl; {p} bpf & wait; exit 3");
    for run in 0..10 {
        let out = moat(&[
            "run",
            "-e",
            "kill keyctl",
            "-e",
            "trap bpf",
            "--",
            "sh",
            "-c",
            &script,
        ]);
        assert_eq!(code(&out), 3, "{}", stderr(&out));
        let err = stderr(&out);
        if err.contains("not readable") {
            assert!(std::env::var_os("CI").is_none(), "{err}");
            return;
        }
        for want in [
            "x86_64 keyctl killed the process (1 call): kill (process) by -e:1: kill keyctl",
            "x86_64 bpf trapped (SIGSYS) (1 call): trap by -e:2: trap bpf",
        ] {
            assert!(err.contains(want), "run {run}: {err}");
        }
    }
}

#[test]
fn children_and_exec_d_programs_inherit_the_filter() {
    let p = probe();
    // The shell forks the probe; the forked child execs it.
    let out = moat(&[
        "run",
        "--",
        "sh",
        "-c",
        &format!("{p} bpf & wait $!; echo $?"),
    ]);
    assert_eq!(stdout(&out).trim(), EPERM.to_string());
    let out = moat(&[
        "run",
        "--",
        "sh",
        "-c",
        "grep '^Seccomp:' /proc/self/status",
    ]);
    assert!(stdout(&out).contains('2'), "{}", stdout(&out));
}

fn assert_not_started(out: &Output, marker: &Path, what: &str) {
    assert_eq!(code(out), 2, "{what}: {}", stderr(out));
    assert!(!marker.exists(), "{what}: the command ran");
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "{what}: one line expected: {err}");
    assert!(err.starts_with("moat: "), "{what}: {err}");
}

#[test]
fn fail_closed_the_command_never_runs() {
    let marker = tmp().join("ran");
    let _ = std::fs::remove_file(&marker);
    let touch = ["touch", marker.to_str().unwrap()];
    // Bad policy.
    let mut args = vec!["run", "-e", "deny getppidd", "--"];
    args.extend(touch);
    let out = moat(&args);
    assert_not_started(&out, &marker, "bad policy");
    assert!(
        stderr(&out).contains("-e:1:6: unknown syscall"),
        "{}",
        stderr(&out)
    );
    // Too large for the kernel's 4096 instructions.
    let values: Vec<String> = (1..3000).map(|v| v.to_string()).collect();
    let big = format!("deny ioctl if request in {{{}}}", values.join(", "));
    let path = tmp().join("big.moat");
    std::fs::write(&path, format!("default allow\n{big}\n")).unwrap();
    let mut args = vec!["run", "--policy", path.to_str().unwrap(), "--"];
    args.extend(touch);
    let out = moat(&args);
    assert_not_started(&out, &marker, "too large");
    assert!(stderr(&out).contains("4096"), "{}", stderr(&out));
    // The kernel refuses the filter: the process's filter budget is already used up.
    let stack = helper("stack");
    let out = Command::new(&stack)
        .arg(env!("CARGO_BIN_EXE_moat"))
        .args(["run", "--"])
        .args(touch)
        .output()
        .unwrap();
    assert_not_started(&out, &marker, "kernel refusal");
    assert!(
        stderr(&out).contains("the kernel refused the filter"),
        "{}",
        stderr(&out)
    );
    // Unknown profile, missing file.
    let out = moat(&["run", "--profile", "nope", "--", "true"]);
    assert_eq!(code(&out), 2);
    let out = moat(&["run", "--policy", "/nonexistent.moat", "--", "true"]);
    assert_eq!(code(&out), 2);
    assert_eq!(stderr(&out).lines().count(), 1);
    // A program that does not exist.
    let out = moat(&["run", "--", "/nonexistent/program"]);
    assert_eq!(code(&out), 127);
}

#[test]
fn audit_mode_reports_would_be_denials_and_stops_nothing() {
    let p = probe();
    let out = moat(&[
        "run",
        "--audit",
        "--",
        "sh",
        "-c",
        &format!("{p} bpf; {p} bpf; {p} x32; echo done"),
    ]);
    let err = stderr(&out);
    if err.contains("not readable") {
        assert_eq!(code(&out), 2);
        return;
    }
    assert_eq!(code(&out), 0, "{err}");
    assert_eq!(stdout(&out), "done\n");
    assert!(
        err.contains("x86_64 bpf (2 calls): deny (errno EPERM) by container:"),
        "{err}"
    );
    assert!(
        err.contains(": deny bpf perf_event_open userfaultfd @io-uring"),
        "{err}"
    );
    assert!(
        err.contains("x32 getpid (1 call): kill (process) by badarch"),
        "{err}"
    );
}

#[test]
fn landlock_fs_read_confines_reading() {
    let out = moat(&["run", "-e", "fs read /usr", "--", "cat", "/etc/hostname"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
    let out = moat(&["run", "-e", "fs read /usr", "--", "cat", "/usr/bin/env"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(out.stdout, std::fs::read("/usr/bin/env").unwrap());
}

#[test]
fn landlock_net_connect_confines_tcp_ports() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let p = probe();
    let out = moat(&["run", "-e", "net connect 443", "--", &p, "connect", &port]);
    assert_eq!(code(&out), EACCES, "{}", stderr(&out));
    let out = moat(&[
        "run",
        "-e",
        &format!("net connect 443 {port}"),
        "--",
        &p,
        "connect",
        &port,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn landlock_required_fails_closed_on_what_it_cannot_enforce() {
    let marker = tmp().join("ran-landlock");
    let _ = std::fs::remove_file(&marker);
    let out = moat(&[
        "run",
        "-e",
        "landlock required",
        "-e",
        "fs read /nonexistent/moat-path",
        "--",
        "touch",
        marker.to_str().unwrap(),
    ]);
    assert_not_started(&out, &marker, "landlock required");
    assert!(
        stderr(&out).contains("/nonexistent/moat-path"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn explain_shows_landlock_statements() {
    let path = tmp().join("ll.moat");
    std::fs::write(&path, "use container\nfs read /usr\nnet connect 443\n").unwrap();
    let out = moat(&["explain", path.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("# landlock: best effort"), "{text}");
    let json = moat(&["explain", path.to_str().unwrap(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["landlock"].as_array().map(Vec::len), Some(3), "{v}");
    assert!(
        text.contains("# fs read: read files and list directories only beneath /usr ("),
        "{text}"
    );
    assert!(
        text.contains("# net connect: TCP connect to only port 443 ("),
        "{text}"
    );
}

/// Without CAP_AUDIT_READ the records cannot be read: moat still runs the program confined and
/// says why it cannot name the call.
#[test]
fn unprivileged_runs_get_the_fallback_message() {
    let is_root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !is_root {
        return; // the other tests already run unprivileged
    }
    // A probe copy nobody can execute, outside the target directory's permissions.
    let probe = std::env::temp_dir().join(format!("moat-probe-{}", std::process::id()));
    std::fs::copy(helper("probe"), &probe).unwrap();
    let moat_bin = std::env::temp_dir().join(format!("moat-bin-{}", std::process::id()));
    std::fs::copy(env!("CARGO_BIN_EXE_moat"), &moat_bin).unwrap();
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&moat_bin)
            .args(args)
            .output()
            .unwrap()
    };
    let p = probe.to_str().unwrap();
    let out = as_nobody(&["run", "-e", "kill getppid", "--", p, "getppid"]);
    assert_eq!(code(&out), SIGSYS_STATUS, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("killed by SIGSYS"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("CAP_AUDIT_READ"), "{}", stderr(&out));
    let out = as_nobody(&["run", "--audit", "--", p, "bpf"]);
    assert_eq!(code(&out), 2);
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    // Unprivileged, the filter still holds (no_new_privs makes it installable).
    let out = as_nobody(&["run", "--", p, "bpf"]);
    assert_eq!(code(&out), EPERM, "{}", stderr(&out));
    let _ = std::fs::remove_file(&probe);
    let _ = std::fs::remove_file(&moat_bin);
}

#[test]
fn e_statements_follow_a_policy_file() {
    let path = tmp().join("base.moat");
    std::fs::write(&path, "default allow\ndeny getppid  # base says EPERM\n").unwrap();
    let p = probe();
    let f = path.to_str().unwrap();
    let out = moat(&["run", "--policy", f, "--", &p, "getppid"]);
    assert_eq!(code(&out), EPERM, "{}", stderr(&out));
    let out = moat(&[
        "run",
        "--policy",
        f,
        "-e",
        "errno 77 getppid",
        "--",
        &p,
        "getppid",
    ]);
    assert_eq!(code(&out), 77, "{}", stderr(&out));
    // strict allows no execve: the program dies at its own exec, and the report says why.
    let out = moat(&["run", "--profile", "strict", "--", "true"]);
    assert_eq!(code(&out), SIGSYS_STATUS);
    let err = stderr(&out);
    assert!(
        err.contains("not readable")
            || err.contains(
                "x86_64 execve killed the process (1 call): kill (process) by default (strict:"
            ),
        "{err}"
    );
}

/// `--report FILE`: the refusals as JSON, the same facts as the lines on standard error; an
/// unwritable report path stops moat before the program runs.
#[test]
fn json_report_lists_the_refusals_and_is_checked_before_the_run() {
    let p = probe();
    let report = tmp().join("report.json");
    let _ = std::fs::remove_file(&report);
    let script = format!("{p} keyctl; {p} bpf; exit 4");
    let out = moat(&[
        "run",
        "--report",
        report.to_str().unwrap(),
        "-e",
        "kill keyctl",
        "-e",
        "trap bpf",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(v["mode"], "enforce");
    assert_eq!(v["exit_status"], 4);
    assert_eq!(v["command"][0], "sh");
    assert!(moat_testkit::require(
        v["audit_log_readable"] == true,
        "the kernel audit log (root with CAP_AUDIT_READ)"
    ));
    let calls = v["calls"].as_array().unwrap();
    let find = |name: &str| {
        calls
            .iter()
            .find(|c| c["syscall"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {v}"))
    };
    let keyctl = find("keyctl");
    assert_eq!(keyctl["action"], "killed the process");
    assert_eq!(keyctl["count"], 1);
    assert_eq!(keyctl["arch"], "x86_64");
    assert_eq!(keyctl["decided_by"], "kill (process) by -e:1: kill keyctl");
    assert_eq!(find("bpf")["action"], "trapped (SIGSYS)");
    assert_eq!(calls.len(), 2, "{v}");

    let audit = tmp().join("audit.json");
    let out = moat(&[
        "run",
        "--audit",
        "--report",
        audit.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &format!("{p} bpf; {p} bpf; exit 0"),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&audit).unwrap()).unwrap();
    assert_eq!(v["mode"], "audit");
    let bpf = v["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["syscall"] == "bpf")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(bpf["count"], 2);
    assert_eq!(bpf["action"], "deny");

    // A report into a missing directory: exit 2 before the program runs.
    let marker = tmp().join("report-marker");
    let _ = std::fs::remove_file(&marker);
    let out = moat(&[
        "run",
        "--report",
        "/nonexistent-dir/r.json",
        "--",
        "touch",
        marker.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--report /nonexistent-dir/r.json"),
        "{}",
        stderr(&out)
    );
    assert!(
        !marker.exists(),
        "the program ran although the report cannot be written"
    );
}
