//! `moat record` end to end on the real kernel: recording (threads, forks, execs, arguments),
//! the generated policy, `--base`, `--merge`, `--weights`, pass-through of stdio and exit
//! status, bad input; and replay of recorded policies under `moat run`, where a new kind of
//! operation is refused with a report naming the syscall.
//!
//! The workloads are busybox (Debian's busybox-static), python3 and a small C program
//! (`crates/record/benches/workload.c`, compiled with `cc` on first use).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{stderr, stdout};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

fn moat() -> Command {
    Command::new(env!("CARGO_BIN_EXE_moat"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run moat")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moat-cli-record-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The C workload, compiled once per test process.
fn workload() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../record/benches/workload.c");
        let dir = scratch("workload-bin");
        let bin = dir.join("workload");
        let o = Command::new("cc")
            .args(["-O2", "-pthread", "-o"])
            .arg(&bin)
            .arg(src)
            .output()
            .expect("run cc");
        assert!(o.status.success(), "cc failed: {}", stderr(&o));
        bin
    })
}

fn busybox() -> &'static str {
    "/usr/bin/busybox"
}

/// Records `argv` into `dir/name.moat`; returns moat's output and the policy text.
fn record(dir: &Path, name: &str, extra: &[&str], argv: &[&str]) -> (Output, String) {
    let policy = dir.join(format!("{name}.moat"));
    let o = run(moat()
        .arg("record")
        .arg("-o")
        .arg(&policy)
        .args(extra)
        .arg("--")
        .args(argv));
    let text = std::fs::read_to_string(&policy).unwrap_or_default();
    (o, text)
}

fn emu(policy: &Path, call: &[&str]) -> String {
    let o = run(moat().arg("emu").arg(policy).args(call));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    stdout(&o)
}

#[test]
fn stdio_and_exit_status_pass_through() {
    let dir = scratch("passthrough");
    let policy = dir.join("p.moat");
    let mut child = moat()
        .arg("record")
        .arg("-o")
        .arg(&policy)
        .args([
            "--",
            busybox(),
            "sh",
            "-c",
            "read x; echo got $x; echo err >&2; exit 7",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(stdout(&o), "got hello\n");
    // Not a terminal: moat itself says nothing.
    assert_eq!(stderr(&o), "err\n");
    let text = std::fs::read_to_string(&policy).unwrap();
    assert!(text.contains("\nallow execve "), "{text}");
    assert!(text.contains("\nallow read "), "{text}");
    assert!(text.contains("\nallow exit_group "), "{text}");
    assert!(text.contains("\ndefault kill "), "{text}");
    // Valid input for the other commands.
    let o = run(moat().arg("explain").arg(&policy));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_signal_death_passes_through_as_128_plus_n() {
    let dir = scratch("signal");
    let (o, _) = record(&dir, "p", &[], &[busybox(), "sh", "-c", "kill -TERM $$"]);
    assert_eq!(o.status.code(), Some(128 + 15), "{}", stderr(&o));
}

#[test]
fn recording_needs_an_output_file() {
    let o = run(moat().args(["record", "--", "true"]));
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("needs -o FILE"), "{e}");
}

#[test]
fn unknown_command_exits_127_with_one_line() {
    let dir = scratch("notfound");
    let (o, _) = record(&dir, "p", &[], &["moat-no-such-command"]);
    assert_eq!(o.status.code(), Some(127));
    assert_eq!(
        stderr(&o),
        "moat: moat-no-such-command: command not found\n"
    );
    assert!(
        !dir.join("p.moat").exists(),
        "no output for a run that never started"
    );
}

#[test]
fn bad_default_action_is_one_line() {
    let o = run(moat().args([
        "record",
        "-o",
        "/tmp/x.moat",
        "--default",
        "allw",
        "--",
        "true",
    ]));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
}

#[test]
fn unwritable_output_fails_without_a_file() {
    let o = run(moat().args(["record", "-o", "/nonexistent-dir/p.moat", "--", "true"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("/nonexistent-dir/p.moat: cannot write"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn af_unix_only_program_gets_a_policy_that_refuses_af_inet() {
    let dir = scratch("af-unix");
    let w = workload().to_str().unwrap();
    let (o, text) = record(&dir, "unix", &[], &[w, "unix"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "socket ok\n");
    assert!(
        text.contains("\nallow socket if domain == AF_UNIX "),
        "{text}"
    );
    let policy = dir.join("unix.moat");
    // Reference evaluator and compiled program agree (emu checks both).
    let inet = emu(&policy, &["socket", "2", "1", "0"]);
    assert!(inet.starts_with("kill (process) by default"), "{inet}");
    assert!(inet.contains("compiled program agrees"), "{inet}");
    let unix = emu(&policy, &["socket", "1", "1", "0"]);
    assert!(unix.starts_with("allow by "), "{unix}");
    assert!(unix.contains("allow socket if domain == AF_UNIX"), "{unix}");
}

#[test]
fn threads_forks_and_execs_are_followed() {
    let dir = scratch("follow");
    let w = workload().to_str().unwrap();
    // The workload forks; the child execs the workload again, which starts four threads.
    let (o, text) = record(&dir, "p", &[], &[w, "fork-exec", w, "threads", "4"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "4 threads ok\n");
    // Two execs (the workload, then the workload again in the child).
    assert!(
        text.contains("\nallow execve ") && text.contains("# seen 2 times"),
        "{text}"
    );
    // The threads' calls: each thread made one getppid and one socketpair.
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("allow {name} ")))
            .unwrap_or_else(|| panic!("no `allow {name}` in\n{text}"))
            .to_string()
    };
    assert!(line("getppid").ends_with("# seen 4 times"), "{text}");
    assert!(
        line("socketpair").contains("if domain == AF_UNIX"),
        "{text}"
    );
    assert!(line("socketpair").ends_with("# seen 4 times"), "{text}");
    // fork() is clone without namespace flags; pthread_create is clone3 on this glibc.
    assert!(
        line("clone").contains("if flags & CLONE_NEW_ANY == 0"),
        "{text}"
    );
    assert!(line("wait4").contains("seen"), "{text}");
    if text.contains("clone3") {
        assert!(text.contains("\nerrno ENOSYS clone3 "), "{text}");
    }
}

#[test]
fn base_container_writes_only_what_container_refuses() {
    let dir = scratch("base");
    let w = workload().to_str().unwrap();
    let (o, text) = record(&dir, "p", &["--base", "container"], &[w, "unshare-user"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rules: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(rules.len(), 2, "{text}");
    assert!(rules[0].starts_with("use container "), "{text}");
    assert!(
        rules[1].starts_with("allow unshare if flags & CLONE_NEW_ANY in {0, CLONE_NEWUSER} "),
        "{text}"
    );
    let policy = dir.join("p.moat");
    let user = emu(&policy, &["unshare", "0x10000000"]);
    assert!(user.starts_with("allow by "), "{user}");
    let net = emu(&policy, &["unshare", "0x40000000"]);
    assert!(net.starts_with("deny (errno EPERM) by container:"), "{net}");
}

#[test]
fn merge_unites_recordings() {
    let dir = scratch("merge");
    let w = workload().to_str().unwrap();
    let (_, a) = record(&dir, "a", &[], &[w, "unix"]);
    let (_, b) = record(&dir, "b", &[], &[w, "inet"]);
    assert!(a.contains("allow socket if domain == AF_UNIX "), "{a}");
    assert!(b.contains("allow socket if domain == AF_INET "), "{b}");
    let all = dir.join("all.moat");
    let o = run(moat()
        .args(["record", "--merge"])
        .arg(dir.join("a.moat"))
        .arg(dir.join("b.moat"))
        .arg("-o")
        .arg(&all));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&all).unwrap();
    let socket = text
        .lines()
        .find(|l| l.starts_with("allow socket "))
        .unwrap();
    assert!(
        socket.starts_with("allow socket if domain in {AF_UNIX, AF_INET} "),
        "{text}"
    );
    assert!(socket.ends_with("# seen 2 times"), "{text}");
    // Merging is idempotent on the result.
    let o = run(moat().args(["record", "--merge"]).arg(&all).arg(&all));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("allow socket if domain in {AF_UNIX, AF_INET}"));
}

#[test]
fn merge_rejects_policies_record_does_not_write() {
    let dir = scratch("merge-bad");
    let p = dir.join("hand.moat");
    std::fs::write(&p, "default kill\nallow read\ndeny write\n").unwrap();
    let o = run(moat().args(["record", "--merge"]).arg(&p));
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains("hand.moat:3: `deny write` is not a plain allow rule"),
        "{e}"
    );
}

#[test]
fn weights_file_lists_counts_most_frequent_first() {
    let dir = scratch("weights");
    let w = workload().to_str().unwrap();
    let weights = dir.join("w.txt");
    let (o, _) = record(
        &dir,
        "p",
        &["--weights", weights.to_str().unwrap()],
        &[w, "getppid", "1000"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&weights).unwrap();
    let first = text.lines().next().unwrap();
    assert_eq!(first, "getppid 1000", "{text}");
    let counts: Vec<u64> = text
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{text}");
}

// ---- Replay: record, run under the recorded policy, then add one new kind of operation ----

/// `moat run --policy POLICY -- argv`.
fn replay(policy: &Path, argv: &[&str]) -> Output {
    run(moat()
        .arg("run")
        .arg("--policy")
        .arg(policy)
        .arg("--")
        .args(argv))
}

/// Records `argv` twice and merges the two recordings (one run never covers every timing
/// path), returning the merged policy's path.
fn record_twice_and_merge(dir: &Path, argv: &[&str]) -> PathBuf {
    for name in ["run1", "run2"] {
        let (o, text) = record(dir, name, &[], argv);
        assert_eq!(o.status.code(), Some(0), "{}\n{text}", stderr(&o));
    }
    let merged = dir.join("merged.moat");
    let o = run(moat()
        .args(["record", "--merge"])
        .arg(dir.join("run1.moat"))
        .arg(dir.join("run2.moat"))
        .arg("-o")
        .arg(&merged));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    merged
}

/// The program was killed by the recorded policy's `default kill`, and `moat run` named the
/// syscall and the line (from the kernel's audit records; the tests run as root).
fn assert_refused(o: &Output, syscall: &str, policy: &Path) {
    assert_eq!(o.status.code(), Some(128 + 31), "{}", stderr(o));
    let e = stderr(o);
    let want = format!("moat: x86_64 {syscall} killed the process");
    assert!(e.contains(&want), "expected `{want}` in:\n{e}");
    let line = format!("kill (process) by default ({}:3)", policy.display());
    assert!(e.contains(&line), "expected `{line}` in:\n{e}");
}

const SCRIPT: &str = r#"set -e
D=$1; PORT=$2
bb=/usr/bin/busybox
$bb mkdir -p $D/sub
echo hello > $D/sub/a.txt
$bb cp $D/sub/a.txt $D/sub/b.txt
$bb ls -l $D/sub > $D/list.txt
$bb wc -l < $D/list.txt
( echo subshell ) ; $bb sh -c 'echo child process'
# The job outlives the client, so `wait` below always blocks (one code path, not a race).
{ $bb nc -l -p $PORT > $D/got.txt; $bb sleep 0.3; } &
$bb sleep 0.5
i=0
until $bb nc 127.0.0.1 $PORT < $D/sub/a.txt; do i=$((i+1)); [ $i -gt 50 ] && exit 3; $bb sleep 0.1; done
wait
$bb grep -q hello $D/got.txt
NEW_OPERATION
echo done
"#;

#[test]
fn busybox_script_replays_under_its_recording_and_a_new_operation_is_refused() {
    let dir = scratch("busybox");
    let script = dir.join("script.sh");
    std::fs::write(&script, SCRIPT.replace("NEW_OPERATION", "")).unwrap();
    let extended = dir.join("extended.sh");
    std::fs::write(
        &extended,
        SCRIPT.replace("NEW_OPERATION", "$bb mkfifo $D/fifo"),
    )
    .unwrap();
    let port = |k: u32| (20000 + (std::process::id() * 7 + k) % 20000).to_string();
    let s = script.to_str().unwrap();
    let work = |n: &str| dir.join(n).to_str().unwrap().to_string();

    let (o, text) = record(
        &dir,
        "bb",
        &[],
        &[busybox(), "sh", s, &work("rec"), &port(0)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "3\nsubshell\nchild process\ndone\n");
    for want in [
        "\nallow socket if domain in {AF_INET, AF_INET6} ",
        "\nallow clone if flags & CLONE_NEW_ANY == 0 ",
        "\nallow execve ",
        "\nallow mkdir ",
        "\nallow getdents64 ",
        "\nallow connect ",
        "\nallow accept ",
    ] {
        assert!(text.contains(want), "missing `{want}` in\n{text}");
    }
    assert!(!text.contains("mknod"), "{text}");
    let policy = dir.join("bb.moat");

    let o = replay(&policy, &[busybox(), "sh", s, &work("replay"), &port(1)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "3\nsubshell\nchild process\ndone\n");
    assert_eq!(stderr(&o), "");

    let x = extended.to_str().unwrap();
    let o = replay(&policy, &[busybox(), "sh", x, &work("extended"), &port(2)]);
    assert_refused(&o, "mknodat", &policy);
    assert!(!stdout(&o).contains("done"), "{}", stdout(&o));
}

#[test]
fn threaded_program_replays_and_a_new_operation_is_refused() {
    let dir = scratch("threads");
    let w = workload().to_str().unwrap();
    let policy = record_twice_and_merge(&dir, &[w, "threads", "8"]);
    for _ in 0..2 {
        let o = replay(&policy, &[w, "threads", "8"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(stdout(&o), "8 threads ok\n");
    }
    // The same threads, each also creating an AF_INET socket: socket was never recorded.
    let o = replay(&policy, &[w, "threads", "8", "inet"]);
    assert_refused(&o, "socket", &policy);
}

#[test]
fn af_unix_recording_refuses_af_inet_on_the_kernel() {
    let dir = scratch("af-unix-kernel");
    let w = workload().to_str().unwrap();
    let (o, _) = record(&dir, "unix", &[], &[w, "unix"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let policy = dir.join("unix.moat");
    let o = replay(&policy, &[w, "unix"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "socket ok\n");
    // Same syscall, another argument value: refused by the argument condition.
    let o = replay(&policy, &[w, "inet"]);
    assert_refused(&o, "socket", &policy);
}

const PYTHON: &str = r#"
import socket, subprocess, sys, threading
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0))
srv.listen()
port = srv.getsockname()[1]
def serve():
    c, _ = srv.accept()
    c.sendall(c.recv(100).upper())
    c.close()
t = threading.Thread(target=serve)
t.start()
cl = socket.create_connection(("127.0.0.1", port))
cl.sendall(b"ping")
print(cl.recv(100).decode())
cl.close()
t.join()
workers = [threading.Thread(target=sum, args=(range(1000),)) for _ in range(4)]
for w in workers: w.start()
for w in workers: w.join()
print(subprocess.run([sys.executable, "-c", "print('sub')"], capture_output=True, text=True).stdout.strip())
a, b = socket.socketpair()
a.close(); b.close()
if len(sys.argv) > 1:
    socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()
print("done")
"#;

#[test]
fn python_threads_sockets_and_subprocess_replay_and_a_new_operation_is_refused() {
    // The interpreter itself, not a launcher script (pyenv shims are shell scripts).
    let o = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 is installed");
    let python = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let dir = scratch("python");
    let policy = record_twice_and_merge(&dir, &[&python, "-c", PYTHON]);
    let text = std::fs::read_to_string(&policy).unwrap();
    assert!(
        text.contains("\nallow socket if domain == AF_INET "),
        "{text}"
    );
    assert!(
        text.contains("\nallow socketpair if domain == AF_UNIX "),
        "{text}"
    );
    for _ in 0..2 {
        let o = replay(&policy, &[&python, "-c", PYTHON]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(stdout(&o), "PING\nsub\ndone\n");
    }
    // An AF_INET6 datagram socket: a socket domain the recording never saw.
    let o = replay(&policy, &[&python, "-c", PYTHON, "inet6"]);
    assert_refused(&o, "socket", &policy);
}

#[test]
fn docker_and_spo_formats_carry_the_argument_conditions() {
    let dir = scratch("formats");
    let w = workload().to_str().unwrap();
    let (o, json) = record(&dir, "p", &["--format", "docker"], &[w, "unix"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["defaultAction"], "SCMP_ACT_KILL_PROCESS");
    let socket = v["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["names"].as_array().unwrap().iter().any(|n| n == "socket"))
        .unwrap_or_else(|| panic!("no socket rule in {json}"));
    assert_eq!(socket["action"], "SCMP_ACT_ALLOW", "{json}");
    assert_eq!(socket["args"][0]["index"], 0, "{json}");
    // int parameter: compared on its low 32 bits (libseccomp: value = mask, valueTwo = datum).
    assert_eq!(socket["args"][0]["op"], "SCMP_CMP_MASKED_EQ", "{json}");
    assert_eq!(socket["args"][0]["value"], 0xffff_ffffu64, "{json}");
    assert_eq!(socket["args"][0]["valueTwo"], 1, "{json}");
    let (o, yaml) = record(&dir, "q", &["--format", "spo"], &[w, "unix"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        yaml.contains("apiVersion: security-profiles-operator.x-k8s.io/"),
        "{yaml}"
    );
    assert!(yaml.contains("kind: SeccompProfile"), "{yaml}");
    assert!(yaml.contains("- socket"), "{yaml}");
}

#[test]
fn a_file_that_cannot_be_executed_exits_127_with_one_line() {
    let dir = scratch("noexec");
    let file = dir.join("data.txt");
    std::fs::write(&file, "not a program\n").unwrap();
    let (o, _) = record(&dir, "p", &[], &[file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(127));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains("cannot execute") && e.contains("Permission denied"),
        "{e}"
    );
}

#[test]
fn progress_shows_on_a_terminal() {
    // util-linux `script` gives moat a terminal on standard error.
    let dir = scratch("tty");
    let policy = dir.join("p.moat");
    let w = workload().to_str().unwrap();
    let inner = format!(
        "{} record -o {} -- {w} getppid 300000",
        env!("CARGO_BIN_EXE_moat"),
        policy.display()
    );
    let o = run(Command::new("script").args(["-qec", &inner, "/dev/null"]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("\r\x1b[Kmoat record: "), "{out:?}");
    assert!(out.contains(" distinct syscalls, "), "{out:?}");
    assert!(
        out.contains(&format!("; wrote {}", policy.display())),
        "{out:?}"
    );
}

#[test]
fn a_sigterm_sent_to_moat_reaches_the_program() {
    let dir = scratch("sigterm");
    let policy = dir.join("p.moat");
    let script = "trap 'echo got TERM; exit 5' TERM; echo ready; while :; do /usr/bin/busybox sleep 0.05; done";
    let mut child = moat()
        .arg("record")
        .arg("-o")
        .arg(&policy)
        .args(["--", busybox(), "sh", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 6];
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    assert_eq!(&first, b"ready\n");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(rest, "got TERM\n");
    assert_eq!(status.code(), Some(5));
    let text = std::fs::read_to_string(&policy).unwrap();
    assert!(text.contains("\nallow rt_sigreturn "), "{text}");
}

#[test]
fn clone3_flags_are_read_from_memory_and_allowed_on_clone() {
    let dir = scratch("clone3");
    let w = workload().to_str().unwrap();
    let (o, text) = record(&dir, "p", &[], &[w, "clone3-user"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "clone3 ok\n");
    assert!(text.contains("\nerrno ENOSYS clone3 "), "{text}");
    assert!(
        text.contains("\nallow clone if flags & CLONE_NEW_ANY in {0, CLONE_NEWUSER} "),
        "{text}"
    );
    let policy = dir.join("p.moat");
    let net = emu(&policy, &["clone", "0x40000011"]);
    assert!(net.starts_with("kill (process) by default"), "{net}");
}
