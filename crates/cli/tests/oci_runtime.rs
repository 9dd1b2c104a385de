//! `moat oci-runtime` end to end with Debian's runc and crun and a busybox-static bundle: the
//! inline policy is compiled into the bundle and enforced by the real runtime, the lifecycle
//! commands pass through, bad or looser policies never start a container.
//!
//! crun 1.8.1 refuses this machine's hybrid cgroup layout, so crun runs inside a private mount
//! namespace with a pure cgroup2 mount and `--cgroup-manager=disabled` (research notes,
//! ecosystem.md §4); runc copes as it is. Needs root; skipped (with a message) otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

const MOAT: &str = env!("CARGO_BIN_EXE_moat");

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

macro_rules! need_root {
    () => {
        if !moat_testkit::require(is_root(), "root, to run containers") {
            return;
        }
    };
}

mod common;
use common::{show, text};

/// A unique container id and a bundle directory for it; the container is force-deleted and the
/// directory removed on drop.
struct Case {
    id: String,
    dir: PathBuf,
    runtime: &'static str,
    /// The runtime's `--root`, when the test sets one.
    root: Option<PathBuf>,
}

impl Drop for Case {
    fn drop(&mut self) {
        if self.runtime == "runc" {
            let mut runc = Command::new("runc");
            if let Some(root) = &self.root {
                runc.arg("--root").arg(root);
            }
            let _ = runc
                .args(["delete", "--force", &self.id])
                .stderr(Stdio::null())
                .status();
        } else {
            let _ = in_cgroup2(&format!(
                "crun --cgroup-manager=disabled delete --force {} 2>/dev/null",
                self.id
            ));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Builds a busybox-static bundle whose process runs `sh -c SCRIPT`, with a tmpfs on /tmp and
/// the given annotations; `runc spec` writes the base config.json.
fn bundle(runtime: &'static str, name: &str, script: &str, annotations: Value) -> Case {
    let id = format!("moat-test-{}-{name}", std::process::id());
    let dir = std::env::temp_dir().join(&id);
    let _ = std::fs::remove_dir_all(&dir);
    let bin = dir.join("rootfs/bin");
    std::fs::create_dir_all(&bin).unwrap();
    for d in ["proc", "dev", "sys", "tmp"] {
        std::fs::create_dir_all(dir.join("rootfs").join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", bin.join("busybox")).expect("busybox-static is installed");
    for applet in [
        "sh", "mkdir", "touch", "sleep", "grep", "echo", "cat", "ls", "id",
    ] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
    }
    let spec = Command::new("runc")
        .args(["spec", "--bundle"])
        .arg(&dir)
        .output()
        .expect("runc is installed");
    assert!(spec.status.success(), "{}", show(&spec));
    let path = dir.join("config.json");
    let mut c: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    c["process"]["terminal"] = json!(false);
    c["process"]["args"] = json!(["sh", "-c", script]);
    c["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}));
    c["annotations"] = annotations;
    std::fs::write(&path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    Case {
        id,
        dir,
        runtime,
        root: None,
    }
}

/// The workload: a denied mkdir, an allowed touch, the seccomp state, and exit status 7.
const WORKLOAD: &str = "mkdir /tmp/blocked; echo \"mkdir rc=$?\"; touch /tmp/allowed && echo \"touch rc=$?\"; grep Seccomp: /proc/self/status; exit 7";

fn assert_enforced(o: &Output) {
    let out = text(&o.stdout);
    let err = text(&o.stderr);
    assert!(
        err.contains("can't create directory '/tmp/blocked': Operation not permitted"),
        "{}",
        show(o)
    );
    assert!(out.contains("mkdir rc=1"), "{}", show(o));
    assert!(out.contains("touch rc=0"), "{}", show(o));
    assert!(out.contains("Seccomp:\t2"), "{}", show(o));
    assert_eq!(
        o.status.code(),
        Some(7),
        "the container's exit status: {}",
        show(o)
    );
}

fn moat(args: &[&str], dir: &Path, env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(MOAT);
    // Hermetic: an empty node configuration unless the test names one.
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env("MOAT_RUNTIME_CONFIG", "/dev/null");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Runs a shell script in a private mount namespace with a pure cgroup2 mount at
/// /sys/fs/cgroup (the host's mounts are not changed).
fn in_cgroup2(script: &str) -> Output {
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "umount -l /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup || exit 99\nexport MOAT_RUNTIME_CONFIG=/dev/null\n{script}"
        ))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn config(case: &Case) -> Value {
    serde_json::from_slice(&std::fs::read(case.dir.join("config.json")).unwrap()).unwrap()
}

#[test]
fn runc_run_enforces_the_inline_policy_and_returns_the_containers_status() {
    need_root!();
    // runc gets a linux.seccomp section from moat-export; libseccomp compiles it.
    let case = bundle(
        "runc",
        "runc-run",
        WORKLOAD,
        json!({"moat.dev/policy": "default allow\ndeny mkdir mkdirat  # no new directories\n"}),
    );
    let o = moat(
        &["oci-runtime", "--runtime", "runc", "run", &case.id],
        &case.dir,
        &[],
    );
    assert_enforced(&o);
    let c = config(&case);
    assert!(c["linux"]["seccomp"]["syscalls"].is_array());
    assert!(
        c["annotations"]["moat.dev/applied"]
            .as_str()
            .unwrap()
            .contains("linux.seccomp")
    );
    let orig: Value =
        serde_json::from_slice(&std::fs::read(case.dir.join("config.json.orig")).unwrap()).unwrap();
    assert!(
        orig["linux"].get("seccomp").is_none(),
        "the original is kept as it was"
    );
}

#[test]
fn runc_run_enforces_use_container() {
    need_root!();
    let case = bundle(
        "runc",
        "runc-container",
        WORKLOAD,
        json!({"moat.dev/policy": "use container\ndeny mkdir mkdirat\n"}),
    );
    let o = moat(
        &["oci-runtime", "--runtime", "runc", "run", &case.id],
        &case.dir,
        &[],
    );
    assert_enforced(&o);
}

#[test]
fn moat_runc_link_takes_runcs_command_line() {
    need_root!();
    let case = bundle(
        "runc",
        "link",
        WORKLOAD,
        json!({"moat.dev/policy": "default allow\ndeny mkdir mkdirat\n"}),
    );
    let link = case.dir.join("moat-runc");
    std::os::unix::fs::symlink(MOAT, &link).unwrap();
    let log = case.dir.join("log.json");
    let o = Command::new(&link)
        .args([
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "run",
            "--bundle",
        ])
        .arg(&case.dir)
        .arg(&case.id)
        .env("MOAT_RUNTIME", "runc")
        .env("MOAT_RUNTIME_CONFIG", case.dir.join("absent.toml"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    // An explicitly named node configuration that does not exist refuses the container.
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(text(&o.stderr).contains("absent.toml"), "{}", show(&o));
    let logged = std::fs::read_to_string(&log).unwrap();
    let entry: Value = serde_json::from_str(logged.lines().last().unwrap()).unwrap();
    assert_eq!(entry["level"], "error", "{logged}");
    // The loss report of the linux.seccomp export goes to the runtime's log, in its format.
    let mut c = config(&case);
    c["annotations"]["moat.dev/policy"] =
        json!("default allow\nbadarch errno EPERM\ndeny mkdir mkdirat\n");
    std::fs::write(case.dir.join("config.json"), c.to_string()).unwrap();
    let text_log = case.dir.join("log.txt");
    let o = Command::new(&link)
        .args([
            "--log",
            text_log.to_str().unwrap(),
            "--log-format",
            "text",
            "run",
            "--bundle",
        ])
        .arg(&case.dir)
        .arg(&case.id)
        .env("MOAT_RUNTIME", "runc")
        .env("MOAT_RUNTIME_CONFIG", "/dev/null")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let logged = std::fs::read_to_string(&text_log).unwrap();
    assert!(
        logged
            .contains("level=warning msg=\"moat: linux.seccomp cannot say: other ABIs are killed"),
        "{logged}"
    );
    assert_enforced(&o);
}

#[test]
fn runc_lifecycle_passes_through() {
    need_root!();
    let case = bundle(
        "runc",
        "life",
        "sleep 1000",
        json!({"moat.dev/policy": "default allow\ndeny mkdir mkdirat\n"}),
    );
    let mut case = case;
    let root = case.dir.join("state");
    case.root = Some(root.clone());
    let log = case.dir.join("log.json");
    // Global flags as containerd's runc shim (go-runc) passes them.
    let rt: Vec<String> = [
        "oci-runtime",
        "--runtime",
        "runc",
        "--root",
        root.to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let with = |more: &[&str]| -> Vec<String> {
        rt.iter()
            .cloned()
            .chain(more.iter().map(|s| s.to_string()))
            .collect()
    };
    let pid_file = case.dir.join("init.pid");
    // `create` keeps the container's stdio: give it none, so nothing waits on a pipe.
    let status = Command::new(MOAT)
        .env("MOAT_RUNTIME_CONFIG", "/dev/null")
        .args(with(&[
            "create",
            "--bundle",
            case.dir.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            &case.id,
        ]))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let state = |case: &Case| -> Value {
        let o = Command::new(MOAT)
            .env("MOAT_RUNTIME_CONFIG", "/dev/null")
            .args(with(&["state", &case.id]))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", show(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let s = state(&case);
    assert_eq!(s["status"], "created");
    let pid: u64 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        s["pid"],
        json!(pid),
        "runc wrote the pid file moat passed on"
    );
    assert!(s["annotations"]["moat.dev/applied"].is_string(), "{s}");
    let o = Command::new(MOAT)
        .env("MOAT_RUNTIME_CONFIG", "/dev/null")
        .args(with(&["start", &case.id]))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(state(&case)["status"], "running");
    // A process started with `exec` gets the container's filter too.
    let o = Command::new(MOAT)
        .env("MOAT_RUNTIME_CONFIG", "/dev/null")
        .args(with(&["exec", &case.id, "mkdir", "/tmp/x"]))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        text(&o.stderr).contains("Operation not permitted"),
        "{}",
        show(&o)
    );
    let o = Command::new(MOAT)
        .env("MOAT_RUNTIME_CONFIG", "/dev/null")
        .args(with(&["exec", &case.id, "touch", "/tmp/y"]))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let o = Command::new(MOAT)
        .env("MOAT_RUNTIME_CONFIG", "/dev/null")
        .args(with(&["kill", &case.id, "KILL"]))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let mut stopped = false;
    for _ in 0..100 {
        if state(&case)["status"] == "stopped" {
            stopped = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(stopped);
    let o = Command::new(MOAT)
        .env("MOAT_RUNTIME_CONFIG", "/dev/null")
        .args(with(&["delete", &case.id]))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let o = Command::new(MOAT)
        .env("MOAT_RUNTIME_CONFIG", "/dev/null")
        .args(with(&["state", &case.id]))
        .output()
        .unwrap();
    assert!(!o.status.success(), "deleted: {}", show(&o));
}

#[test]
fn crun_run_enforces_moats_own_program() {
    need_root!();
    let case = bundle(
        "crun",
        "crun-run",
        WORKLOAD,
        json!({"moat.dev/policy": "use container\ndeny mkdir mkdirat\n"}),
    );
    let o = in_cgroup2(&format!(
        "cd {} && exec {MOAT} oci-runtime --runtime crun --cgroup-manager=disabled run {}",
        case.dir.display(),
        case.id
    ));
    assert_enforced(&o);
    let c = config(&case);
    let data = c["annotations"]["run.oci.seccomp_bpf_data"]
        .as_str()
        .unwrap();
    assert!(!data.is_empty() && c["linux"].get("seccomp").is_none());
}

#[test]
fn the_policys_own_errno_reaches_the_container() {
    need_root!();
    for runtime in ["runc", "crun"] {
        let case = bundle(
            runtime,
            &format!("errno-{runtime}"),
            "mkdir /tmp/x; echo \"rc=$?\"",
            json!({"moat.dev/policy": "default allow\nerrno EACCES mkdir mkdirat\n"}),
        );
        let cmd = format!(
            "cd {} && exec {MOAT} oci-runtime --runtime {runtime} {} run {}",
            case.dir.display(),
            if runtime == "crun" {
                "--cgroup-manager=disabled"
            } else {
                ""
            },
            case.id
        );
        let o = if runtime == "crun" {
            in_cgroup2(&cmd)
        } else {
            Command::new("sh")
                .args(["-c", &cmd])
                .env("MOAT_RUNTIME_CONFIG", "/dev/null")
                .stdin(Stdio::null())
                .output()
                .unwrap()
        };
        assert!(
            text(&o.stderr).contains("Permission denied"),
            "{runtime}: {}",
            show(&o)
        );
        assert!(text(&o.stdout).contains("rc=1"), "{runtime}: {}", show(&o));
    }
}

#[test]
fn crun_takes_a_linux_seccomp_section_when_the_node_says_oci() {
    need_root!();
    let case = bundle(
        "crun",
        "crun-oci",
        WORKLOAD,
        json!({"moat.dev/policy": "default allow\ndeny mkdir mkdirat\n"}),
    );
    let node = case.dir.join("runtime.toml");
    std::fs::write(&node, "runtime = \"crun\"\nformat = \"oci\"\n").unwrap();
    let o = in_cgroup2(&format!(
        "cd {} && MOAT_RUNTIME_CONFIG={} exec {MOAT} oci-runtime --cgroup-manager=disabled run {}",
        case.dir.display(),
        node.display(),
        case.id
    ));
    assert_enforced(&o);
    let c = config(&case);
    assert!(c["linux"]["seccomp"]["syscalls"].is_array());
    assert!(c["annotations"].get("run.oci.seccomp_bpf_data").is_none());
}

#[test]
fn crun_lifecycle_passes_through() {
    need_root!();
    let case = bundle(
        "crun",
        "crun-life",
        "sleep 1000",
        json!({"moat.dev/policy": "use container\ndeny mkdir mkdirat\n"}),
    );
    let m = format!("{MOAT} oci-runtime --runtime crun --cgroup-manager=disabled");
    let id = &case.id;
    let o = in_cgroup2(&format!(
        "{m} create --bundle {dir} {id} </dev/null >/dev/null 2>&1; echo \"create=$?\"
{m} state {id} | grep -o '\"status\": *\"[a-z]*\"'
{m} start {id}; echo \"start=$?\"
{m} state {id} | grep -o '\"status\": *\"[a-z]*\"'
{m} exec {id} mkdir /tmp/x; echo \"exec mkdir=$?\"
{m} exec {id} touch /tmp/y; echo \"exec touch=$?\"
{m} kill {id} KILL; echo \"kill=$?\"
i=0; while [ $i -lt 100 ] && ! {m} state {id} | grep -q stopped; do sleep 0.05; i=$((i+1)); done
{m} state {id} | grep -o '\"status\": *\"[a-z]*\"'
{m} delete {id}; echo \"delete=$?\"
{m} state {id} >/dev/null 2>&1; echo \"state after delete=$?\"",
        dir = case.dir.display()
    ));
    let out = text(&o.stdout);
    let want = [
        "create=0",
        "\"status\": \"created\"",
        "start=0",
        "\"status\": \"running\"",
        "exec mkdir=1",
        "exec touch=0",
        "kill=0",
        "\"status\": \"stopped\"",
        "delete=0",
        "state after delete=1",
    ];
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got, want, "{}", show(&o));
    assert!(
        text(&o.stderr).contains("Operation not permitted"),
        "{}",
        show(&o)
    );
}

#[test]
fn broken_inline_policy_never_starts_the_container() {
    need_root!();
    let case = bundle(
        "runc",
        "broken",
        "touch /tmp/started; sleep 1000",
        json!({"moat.dev/policy": "use container\ndeny mkdri\n"}),
    );
    let before = std::fs::read(case.dir.join("config.json")).unwrap();
    let o = moat(
        &["oci-runtime", "--runtime", "runc", "run", "-d", &case.id],
        &case.dir,
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("moat: moat.dev/policy:2:6: "), "{err}");
    assert!(err.contains("mkdir"), "a suggestion: {err}");
    // Nothing was written and no container exists.
    assert_eq!(std::fs::read(case.dir.join("config.json")).unwrap(), before);
    assert!(!case.dir.join("config.json.orig").exists());
    let s = Command::new("runc")
        .args(["state", &case.id])
        .output()
        .unwrap();
    assert!(!s.status.success(), "{}", show(&s));
}

#[test]
fn strict_node_refuses_a_pod_policy_looser_than_its_default() {
    need_root!();
    let node = std::env::temp_dir().join(format!("moat-test-{}-runtime.toml", std::process::id()));
    std::fs::write(
        &node,
        "default-profile = \"container\"\npod-policies = \"subset\"\n",
    )
    .unwrap();
    let env = [("MOAT_RUNTIME_CONFIG", node.as_path())];

    // The node default denies bpf; a pod that allows it is refused, not tightened.
    let case = bundle(
        "crun",
        "looser",
        WORKLOAD,
        json!({"moat.dev/policy": "allow bpf\n"}),
    );
    let o = moat(
        &["oci-runtime", "--runtime", "crun", "run", &case.id],
        &case.dir,
        &env,
    );
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(
            "refused: the pod policy is more permissive than the node default `container` (pod-policies = \"subset\")"
        ),
        "{err}"
    );
    assert!(
        err.contains("bpf is `allow` under the pod policy but `deny` under the default"),
        "{err}"
    );
    assert!(!case.dir.join("config.json.orig").exists());

    // A pod policy that only tightens the default is proved and runs (read after the default).
    let tight = bundle(
        "crun",
        "tighter",
        WORKLOAD,
        json!({"moat.dev/policy": "deny mkdir mkdirat\n"}),
    );
    let dry = moat(
        &["oci-runtime", "--runtime", "crun", "--dry-run", "."],
        &tight.dir,
        &env,
    );
    assert!(dry.status.success(), "{}", show(&dry));
    let plan = text(&dry.stdout);
    assert!(
        plan.contains("# policy from: node default `container` + moat.dev/policy"),
        "{plan}"
    );
    assert!(plan.contains("proved never more permissive"), "{plan}");
    assert!(
        !tight.dir.join("config.json.orig").exists(),
        "a dry run writes nothing"
    );
    let o = in_cgroup2(&format!(
        "cd {} && MOAT_RUNTIME_CONFIG={} exec {MOAT} oci-runtime --runtime crun --cgroup-manager=disabled run {}",
        tight.dir.display(),
        node.display(),
        tight.id
    ));
    assert_enforced(&o);
    let _ = std::fs::remove_file(&node);
}

#[test]
fn dry_run_prints_the_crun_annotation_and_changes_nothing() {
    let dir = std::env::temp_dir().join(format!("moat-test-{}-dry", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = json!({"ociVersion": "1.0.2", "process": {"args": ["true"]}, "linux": {},
        "annotations": {"moat.dev/profile": "container"}});
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    let o = moat(
        &[
            "oci-runtime",
            "--runtime",
            "/usr/bin/crun",
            "--node-config",
            "/dev/null",
            "--dry-run",
            dir.to_str().unwrap(),
        ],
        &dir,
        &[],
    );
    assert!(o.status.success(), "{}", show(&o));
    let out = text(&o.stdout);
    assert!(
        out.contains("format bpf")
            && out.contains("\"annotations.\\\"run.oci.seccomp_bpf_data\\\"\""),
        "{out}"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn moat_runc_finds_runc_without_path() {
    // Podman runs the runtime for `kill` and `delete` with no PATH in the environment.
    need_root!();
    let dir = std::env::temp_dir().join(format!("moat-test-{}-nopath", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("moat-runc");
    std::os::unix::fs::symlink(MOAT, &link).unwrap();
    let o = Command::new(&link)
        .arg("--root")
        .arg(dir.join("state"))
        .args(["state", "no-such-container"])
        .env_clear()
        .env("MOAT_RUNTIME_CONFIG", "/dev/null")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = text(&o.stderr);
    // runc itself answered.
    assert!(!err.contains("moat:"), "{}", show(&o));
    assert!(err.contains("container does not exist"), "{}", show(&o));
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- issue 13: a hostile pod against the node's guard rail, with the real runtimes ----

/// The pod-side attack helper (tests/helpers/notify_continue.c), built static into the bundle's
/// rootfs: it stacks its own notify filter on unshare and answers CONTINUE.
fn with_helper(case: &Case) {
    let out = case.dir.join("rootfs/bin/notify_continue");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helpers/notify_continue.c");
    let st = Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("gcc is needed for these tests");
    assert!(st.success(), "gcc -static failed on {}", src.display());
}

/// A container meant to run as uid 1000 with no capabilities, noNewPrivileges false (the
/// Kubernetes default unless allowPrivilegeEscalation: false).
fn as_user(case: &Case) {
    let path = case.dir.join("config.json");
    let mut c: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    c["process"]["noNewPrivileges"] = json!(false);
    for set in [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ] {
        c["process"]["capabilities"][set] = json!([]);
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
}

fn node_file(name: &str, text: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("moat-test-{}-{name}.toml", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

const WHOAMI: &str = "id -u; grep CapEff: /proc/self/status; grep Seccomp: /proc/self/status";

#[test]
fn errno_zero_on_privilege_drops_never_makes_a_user_container_root() {
    need_root!();
    // Finding 1: this annotation turned uid 1000 into uid 0 with every capability.
    let hostile = bundle(
        "runc",
        "errno0",
        WHOAMI,
        json!({"moat.dev/policy": "errno 0 capset setuid setgid setgroups setresuid setresgid setfsuid setfsgid prctl"}),
    );
    as_user(&hostile);
    let o = moat(
        &["oci-runtime", "--runtime", "runc", "run", &hostile.id],
        &hostile.dir,
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let err = text(&o.stderr);
    assert!(
        err.contains("is `errno 0` under the pod policy but `allow` under the default"),
        "{err}"
    );
    assert!(
        text(&o.stdout).is_empty(),
        "the container never ran: {}",
        show(&o)
    );
    // The same container without the annotation runs as the user, with no capability.
    let plain = bundle("runc", "user", WHOAMI, json!({}));
    as_user(&plain);
    let o = moat(
        &["oci-runtime", "--runtime", "runc", "run", &plain.id],
        &plain.dir,
        &[],
    );
    assert_eq!(
        text(&o.stdout),
        "1000\nCapEff:\t0000000000000000\nSeccomp:\t2\n",
        "{}",
        show(&o)
    );
}

#[test]
fn a_pods_own_notify_listener_cannot_reopen_unshare() {
    need_root!();
    // Finding 2: `notify unshare` passed the proof; the pod answered CONTINUE itself.
    let hostile = bundle(
        "runc",
        "notify",
        "notify_continue",
        json!({"moat.dev/policy": "notify unshare"}),
    );
    let o = moat(
        &["oci-runtime", "--runtime", "runc", "run", &hostile.id],
        &hostile.dir,
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        text(&o.stderr).contains("unshare is `notify` under the pod policy but `deny`"),
        "{}",
        show(&o)
    );
    // Under the node default, the helper's own listener never sees the call: the node's
    // refusal outranks its notify (the kernel's precedence of stacked filters).
    let plain = bundle("runc", "notify-plain", "notify_continue", json!({}));
    with_helper(&plain);
    let o = moat(
        &["oci-runtime", "--runtime", "runc", "run", &plain.id],
        &plain.dir,
        &[],
    );
    assert_eq!(text(&o.stdout), "unshare rc=-1 errno=1\n", "{}", show(&o));
    // The helper is real: on a node that opts in to loosening (`any`), the same annotation
    // gives the pod a new user namespace. That is what `subset` refuses. (runc refuses notify
    // without a listenerPath; crun loads moat's program, in a private mount namespace with a
    // pure cgroup2 mount because it refuses this machine's hybrid cgroups.)
    let node = node_file("any", "pod-policies = \"any\"\n");
    let loose = bundle(
        "crun",
        "notify-any",
        "notify_continue",
        json!({"moat.dev/policy": "notify unshare"}),
    );
    with_helper(&loose);
    let o = in_cgroup2(&format!(
        "cd {} && MOAT_RUNTIME_CONFIG={} exec {MOAT} oci-runtime --runtime crun --cgroup-manager=disabled run {}",
        loose.dir.display(),
        node.display(),
        loose.id
    ));
    assert_eq!(text(&o.stdout), "unshare rc=0 errno=0\n", "{}", show(&o));
    let _ = std::fs::remove_file(&node);
}

#[test]
fn format_bpf_with_runc_is_refused_not_run_without_seccomp() {
    need_root!();
    // Finding 3: runc ignores crun's annotation; the container ran with no filter.
    let case = bundle("runc", "bpf-runc", WORKLOAD, json!({}));
    let o = moat(
        &[
            "oci-runtime",
            "--runtime",
            "runc",
            "--format",
            "bpf",
            "run",
            &case.id,
        ],
        &case.dir,
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        text(&o.stderr).contains("does not say it applies it"),
        "{}",
        show(&o)
    );
    assert!(!case.dir.join("config.json.orig").exists());
    // Without a format, runc's own --version decides: linux.seccomp, enforced.
    let o = moat(
        &["oci-runtime", "--runtime", "runc", "run", &case.id],
        &case.dir,
        &[],
    );
    assert_eq!(
        config(&case)["annotations"].get("run.oci.seccomp_bpf_data"),
        None
    );
    assert!(text(&o.stdout).contains("Seccomp:\t2"), "{}", show(&o));
}

#[test]
fn a_pods_own_seccomp_goes_through_the_node_rule() {
    need_root!();
    // Finding 4: a kubelet seccompProfile (RuntimeDefault, Localhost) skipped the proof, and
    // crun loaded a pod's raw program.
    let kubelet = bundle("runc", "kubelet", WORKLOAD, json!({}));
    let mut c = config(&kubelet);
    c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW"});
    std::fs::write(kubelet.dir.join("config.json"), c.to_string()).unwrap();
    let o = moat(
        &["oci-runtime", "--runtime", "runc", "run", &kubelet.id],
        &kubelet.dir,
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        text(&o.stderr).starts_with("moat: linux.seccomp: refused:"),
        "{}",
        show(&o)
    );
    let raw = bundle(
        "crun",
        "rawbpf",
        WORKLOAD,
        json!({"run.oci.seccomp_bpf_data": "BgAAAAAA/38="}),
    );
    let o = moat(
        &["oci-runtime", "--runtime", "crun", "run", &raw.id],
        &raw.dir,
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        text(&o.stderr).contains("only moat writes this annotation"),
        "{}",
        show(&o)
    );
}

#[test]
fn an_enforce_rule_added_to_the_config_reaches_the_next_container() {
    need_root!();
    let node = node_file("enforce", "pod-policies = \"subset\"\n");
    let env = [("MOAT_RUNTIME_CONFIG", node.as_path())];
    let first = bundle("runc", "enf1", WORKLOAD, json!({}));
    let o = moat(
        &["oci-runtime", "--runtime", "runc", "run", &first.id],
        &first.dir,
        &env,
    );
    assert!(text(&o.stdout).contains("mkdir rc=0"), "{}", show(&o));
    // One edit of the node file: the next container gets the rule, no restart of anything.
    std::fs::write(
        &node,
        "pod-policies = \"subset\"\nenforce = [\"deny mkdir mkdirat\"]\n",
    )
    .unwrap();
    let second = bundle(
        "runc",
        "enf2",
        WORKLOAD,
        json!({"moat.dev/policy": "allow mkdir mkdirat"}),
    );
    let o = moat(
        &["oci-runtime", "--runtime", "runc", "run", &second.id],
        &second.dir,
        &env,
    );
    // The pod's `allow mkdir` is no looser than the default, but enforce comes after it.
    assert_enforced(&o);
    let _ = std::fs::remove_file(&node);
}

#[test]
fn state_commands_reach_the_runtime_that_created_the_container() {
    need_root!();
    // Finding 6: with a broken runtime.toml, runc's `delete -f` removed crun's state while the
    // container kept running. crun runs in a private mount namespace with a pure cgroup2 mount
    // (it refuses this machine's hybrid layout; the host's mounts are not changed).
    let case = bundle("crun", "state", "sleep 1000", json!({}));
    let states = std::env::temp_dir().join(format!("moat-test-{}-states", std::process::id()));
    let broken = node_file("broken", "pod-policies = \"loose\"\n");
    let m = format!("MOAT_STATE_DIR={} {MOAT} oci-runtime", states.display());
    let id = &case.id;
    let o = in_cgroup2(&format!(
        "{m} --runtime crun --cgroup-manager=disabled create --bundle {dir} {id} </dev/null >/dev/null 2>&1; echo \"create=$?\"
export MOAT_RUNTIME=runc MOAT_RUNTIME_CONFIG={broken}
{m} --cgroup-manager=disabled state {id} | grep -o '\"status\": *\"[a-z]*\"'
{m} --cgroup-manager=disabled delete --force {id}; echo \"delete=$?\"
crun --cgroup-manager=disabled state {id} >/dev/null 2>&1; echo \"crun state after delete=$?\"",
        dir = case.dir.display(),
        broken = broken.display(),
    ));
    let got: Vec<String> = text(&o.stdout).lines().map(str::to_string).collect();
    assert_eq!(
        got,
        [
            "create=0",
            "\"status\": \"created\"",
            "delete=0",
            "crun state after delete=1"
        ],
        "{}",
        show(&o)
    );
    let _ = std::fs::remove_file(&broken);
    let _ = std::fs::remove_dir_all(&states);
}
