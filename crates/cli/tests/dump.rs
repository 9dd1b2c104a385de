//! `moat dump` on real sandboxes: a process started by `moat run`, a bwrap sandbox and a runc
//! container. Each test reads the filter the kernel really holds and checks it against what was
//! installed. Needs root (PTRACE_SECCOMP_GET_FILTER); skips otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{moat, stdout};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use moat::bpf::{Program, SeccompData, emu};
use moat::syscalls::Arch;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("moat-dump-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn status_field(pid: i32, field: &str) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_string()))
}

/// `pid` and its descendants, breadth first.
fn family(pid: i32) -> Vec<i32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) {
            for t in tasks.flatten() {
                let c = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
                out.extend(c.split_whitespace().filter_map(|x| x.parse::<i32>().ok()));
            }
        }
        i += 1;
    }
    out
}

/// Waits until a process named `comm` under `root` runs with a seccomp filter.
fn filtered_descendant(root: i32, comm: &str) -> i32 {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        for p in family(root) {
            let c = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
            if c.trim() == comm && status_field(p, "Seccomp:").as_deref() == Some("2") {
                return p;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no filtered `{comm}` process under {root}");
}

struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Dumps `pid` into a directory and returns the programs, oldest first.
fn dump(pid: i32, name: &str) -> Vec<Vec<u8>> {
    let d = dir(name);
    let o = moat(&["dump", &pid.to_string(), "-o", d.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut out = Vec::new();
    for i in 0.. {
        match std::fs::read(d.join(format!("filter-{i}.bpf"))) {
            Ok(b) => out.push(b),
            Err(_) => break,
        }
    }
    // The listing form names the count and the order.
    let o = moat(&["dump", &pid.to_string()]);
    assert!(o.status.success());
    assert!(
        stdout(&o).contains(&format!("{} filters (0 was installed first", out.len())),
        "{}",
        stdout(&o)
    );
    out
}

fn compile(policy: &str, out: &Path) -> Vec<u8> {
    let o = moat(&["compile", policy, "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(out).unwrap()
}

#[test]
fn bwrap_sandbox_shows_the_filter_it_was_given() {
    if !is_root() || !have("bwrap") {
        eprintln!("skipped: needs root and bwrap");
        return;
    }
    let d = dir("bwrap");
    let file = d.join("container.bpf");
    let bytes = compile("container", &file);
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec bwrap --ro-bind / / --dev /dev --proc /proc --seccomp 3 sleep 60 3< {}",
            file.display()
        ))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let child = Reaped(child);
    let pid = filtered_descendant(i32::try_from(child.0.id()).unwrap(), "sleep");
    let got = dump(pid, "bwrap-out");
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0], bytes,
        "the installed filter is byte for byte the file bwrap loaded"
    );
    // Analyses read the live process directly: it means exactly the container policy.
    let o = moat(&["diff", &format!("pid:{pid}"), "container"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("no difference"), "{}", stdout(&o));
    let o = moat(&["lint", &format!("pid:{pid}")]);
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(1),
        "{}",
        stdout(&o)
    );
}

#[test]
fn moat_run_process_shows_the_policy_it_runs_under() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let help = moat(&["run", "--help"]);
    if !help.status.success() {
        eprintln!("skipped: this build has no `moat run`");
        return;
    }
    let child = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["run", "--profile", "container", "--", "sleep", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Reaped(child);
    let pid = filtered_descendant(i32::try_from(child.0.id()).unwrap(), "sleep");
    let got = dump(pid, "run-out");
    assert!(!got.is_empty());
    let o = moat(&["diff", &format!("pid:{pid}"), "container"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = moat(&["diff", &format!("pid:{pid}"), "strict"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
}

#[test]
fn runc_container_shows_the_libseccomp_filter() {
    if !is_root() || !have("runc") || !Path::new("/bin/busybox").exists() {
        eprintln!("skipped: needs root, runc and busybox-static");
        return;
    }
    let bundle = dir("runc-bundle");
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    for d in ["proc", "dev", "sys", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin/sleep"));
    let _ = std::fs::remove_file(bundle.join("config.json"));
    let o = Command::new("runc")
        .arg("spec")
        .current_dir(&bundle)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = serde_json::json!(["sleep", "60"]);
    spec["linux"]["seccomp"] = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    std::fs::write(bundle.join("config.json"), spec.to_string()).unwrap();
    let id = format!("moat-dump-{}", std::process::id());
    struct Container(String);
    impl Drop for Container {
        fn drop(&mut self) {
            let _ = Command::new("runc")
                .args(["kill", &self.0, "KILL"])
                .output();
            std::thread::sleep(Duration::from_millis(200));
            let _ = Command::new("runc")
                .args(["delete", "--force", &self.0])
                .output();
        }
    }
    // The detached container inherits runc's stdio: never a pipe we would wait on.
    let err = bundle.join("runc.err");
    let status = Command::new("runc")
        .args(["run", "-d", "--bundle", bundle.to_str().unwrap(), &id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .status()
        .unwrap();
    let _guard = Container(id.clone());
    assert!(
        status.success(),
        "runc run: {}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    let state = Command::new("runc").args(["state", &id]).output().unwrap();
    let state: serde_json::Value = serde_json::from_slice(&state.stdout).unwrap();
    let pid = i32::try_from(state["pid"].as_i64().unwrap()).unwrap();
    let pid = filtered_descendant(pid, "sleep");
    let got = dump(pid, "runc-out");
    assert_eq!(got.len(), 1, "runc installs one filter");
    // What libseccomp generated for the profile, evaluated as the kernel runs it.
    let p = Program::from_bytes(&got[0]).unwrap();
    let ret = |arch: Arch, name: &str| {
        let nr = arch.by_name(name).unwrap().nr;
        emu::run(&p, &SeccompData::new(arch.audit_arch(), nr, [0; 6])).ret
    };
    for arch in [Arch::X86_64, Arch::X86, Arch::X32] {
        assert_eq!(ret(arch, "mkdir"), 0x0005_0001, "{arch} mkdir");
        assert_eq!(ret(arch, "mkdirat"), 0x0005_0001, "{arch} mkdirat");
        assert_eq!(ret(arch, "getpid"), 0x7fff_0000, "{arch} getpid");
    }
    // Analyses agree: the live filter differs from an allow-all policy in mkdir and mkdirat only.
    let allow = dir("runc-policy").join("allow.moat");
    std::fs::write(
        &allow,
        "arch x86_64 x86 x32\nbadarch kill-thread\ndefault allow\ndeny mkdir mkdirat\n",
    )
    .unwrap();
    let o = moat(&["diff", &format!("pid:{pid}"), allow.to_str().unwrap()]);
    let out = stdout(&o);
    assert!(!out.contains("mkdir"), "{out}");
    let o = moat(&["disasm", "--pid", &pid.to_string()]);
    assert!(o.status.success());
}

#[test]
fn missing_process_is_one_line_and_exit_2() {
    let o = moat(&["dump", "999999999"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("999999999"), "{err}");
    let o = moat(&["diff", "pid:nope", "container"]);
    assert_eq!(o.status.code(), Some(2));
}
