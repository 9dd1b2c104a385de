//! Exported profiles enforced by the runtimes people use (Debian's runc, crun and bubblewrap),
//! on a busybox-static bundle the test builds: runc with the OCI JSON exported from the built-in
//! `container` and `docker` profiles, bubblewrap with `--seccomp FD` fed moat's raw BPF, crun with
//! the raw BPF in the `run.oci.seccomp_bpf_data` annotation. Each run has a control run without
//! the filter, so the refusals are seccomp's and not the runtime's.
//!
//! Needs root, `runc`, `crun`, `bwrap`, `busybox` (static) and `gcc -static` (scripts/test
//! installs them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use moat_export::{Format, Options, export, load};
use moat_policy::{CapSet, Context};
use serde_json::{Value, json};

const BUSYBOX: &str = "/bin/busybox";
const EPERM: i32 = 1;

static SEQ: AtomicU32 = AtomicU32::new(0);

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "moat-export-rt-{}-{}-{tag}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn need(tool: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "{tool} is not installed (scripts/test installs it)");
}

/// The probe, compiled statically.
fn probe(dir: &Path) -> PathBuf {
    need("gcc");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/runtime/probe.c");
    let out = dir.join("probe");
    let o = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&out)
        .arg(src)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// A bundle: busybox-static rootfs with the probe, and a config.json from `runc spec` whose
/// process holds CAP_SYS_ADMIN (so only seccomp can refuse mount and unshare).
fn bundle(tag: &str) -> PathBuf {
    need("runc");
    assert!(
        Path::new(BUSYBOX).exists(),
        "busybox-static is not installed"
    );
    let b = scratch(tag);
    let root = b.join("rootfs");
    for d in ["bin", "proc", "dev", "sys", "tmp", "mnt"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(BUSYBOX, root.join("bin/busybox")).unwrap();
    for a in [
        "sh", "mkdir", "ls", "echo", "cat", "wget", "unshare", "mount", "true",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    let p = probe(&b);
    std::fs::copy(&p, root.join("bin/probe")).unwrap();
    let o = Command::new("runc")
        .args(["spec", "--bundle"])
        .arg(&b)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "runc spec: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut c: Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("config.json")).unwrap()).unwrap();
    c["process"]["terminal"] = json!(false);
    c["process"]["args"] = json!([
        "sh",
        "-c",
        "mkdir /tmp/a && ls / >/dev/null && wget --help >/dev/null 2>&1; echo applets=$?; /bin/probe; unshare -U true; mount -t tmpfs none /mnt"
    ]);
    for set in ["bounding", "effective", "permitted"] {
        let caps = c["process"]["capabilities"][set].as_array_mut().unwrap();
        caps.push(json!("CAP_SYS_ADMIN"));
    }
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]
    }));
    std::fs::write(
        b.join("config.json"),
        serde_json::to_vec_pretty(&c).unwrap(),
    )
    .unwrap();
    b
}

fn set_config(b: &Path, edit: impl FnOnce(&mut Value)) {
    let mut c: Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("config.json")).unwrap()).unwrap();
    edit(&mut c);
    std::fs::write(
        b.join("config.json"),
        serde_json::to_vec_pretty(&c).unwrap(),
    )
    .unwrap();
}

/// `NAME=ERRNO` lines of the probe, and the whole output.
fn parse(out: &str) -> BTreeMap<String, i32> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.trim().parse().ok()?)))
        .collect()
}

fn runc(b: &Path) -> (BTreeMap<String, i32>, String) {
    let id = b.file_name().unwrap().to_string_lossy().into_owned();
    let state = b.join("state");
    let o = Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(b)
        .arg(&id)
        .output()
        .unwrap();
    let _ = Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["delete", "-f", &id])
        .output();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (parse(&text), text)
}

fn docker_ctx() -> Context {
    Context {
        caps: Some(CapSet::docker_default()),
        kernel: None,
    }
}

fn exported_seccomp(profile: &str) -> Value {
    let l = load(profile, &Options::default()).unwrap();
    let out = export(&l, Format::Oci, &docker_ctx(), profile).unwrap();
    serde_json::from_slice(&out.data).unwrap()
}

fn raw_bpf(profile: &str) -> Vec<u8> {
    let l = load(profile, &Options::default()).unwrap();
    export(&l, Format::Bpf, &docker_ctx(), profile)
        .unwrap()
        .data
}

/// Without a filter the probe's calls work (or fail for reasons other than EPERM).
fn assert_control(r: &BTreeMap<String, i32>, text: &str) {
    assert_eq!(r.get("applets"), Some(&0), "{text}");
    assert_eq!(r.get("mkdir"), Some(&0), "{text}");
    assert_eq!(r.get("unshare"), Some(&0), "{text}");
    assert_ne!(r.get("vsock"), Some(&EPERM), "{text}");
}

fn assert_confined(r: &BTreeMap<String, i32>, text: &str, mount_too: bool) {
    assert_eq!(
        r.get("applets"),
        Some(&0),
        "mkdir/ls/wget must work: {text}"
    );
    assert_eq!(r.get("mkdir"), Some(&0), "{text}");
    assert_eq!(r.get("getpid"), Some(&0), "{text}");
    assert_eq!(r.get("unshare"), Some(&EPERM), "{text}");
    assert_eq!(r.get("vsock"), Some(&EPERM), "{text}");
    if mount_too {
        assert_eq!(r.get("mount"), Some(&EPERM), "{text}");
        // busybox's own unshare and mount applets fail the same way.
        assert!(text.contains("Operation not permitted"), "{text}");
    }
}

#[test]
fn runc_without_a_filter_is_the_control() {
    let b = bundle("control");
    set_config(&b, |c| {
        c["linux"].as_object_mut().unwrap().remove("seccomp");
    });
    let (r, text) = runc(&b);
    assert_control(&r, &text);
    assert_eq!(r.get("mount"), Some(&0), "{text}");
    let _ = std::fs::remove_dir_all(&b);
}

#[test]
fn runc_enforces_the_container_profile_exported_to_oci() {
    let b = bundle("container");
    let s = exported_seccomp("container");
    set_config(&b, |c| c["linux"]["seccomp"] = s);
    let (r, text) = runc(&b);
    assert_confined(&r, &text, true);
    let _ = std::fs::remove_dir_all(&b);
}

#[test]
fn runc_enforces_the_docker_profile_exported_to_oci() {
    let b = bundle("docker");
    let s = exported_seccomp("docker");
    set_config(&b, |c| c["linux"]["seccomp"] = s);
    let (r, text) = runc(&b);
    assert_confined(&r, &text, true);
    let _ = std::fs::remove_dir_all(&b);
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                s.push(char::from(
                    T[usize::try_from((n >> (18 - 6 * i)) & 63).unwrap()],
                ));
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// crun in a private mount namespace with a pure cgroup2 mount and `--cgroup-manager=disabled`
/// (this machine mounts cgroups in hybrid mode, which crun refuses).
fn crun(b: &Path) -> (BTreeMap<String, i32>, String) {
    need("crun");
    let id = b.file_name().unwrap().to_string_lossy().into_owned();
    let script = format!(
        "umount -l /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && crun --cgroup-manager=disabled --root {state} run --bundle {b} {id}; crun --root {state} delete -f {id} >/dev/null 2>&1; true",
        state = b.join("crun-state").display(),
        b = b.display()
    );
    let o = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (parse(&text), text)
}

#[test]
fn crun_enforces_raw_bpf_from_the_annotation() {
    let b = bundle("crun");
    set_config(&b, |c| {
        c["linux"].as_object_mut().unwrap().remove("seccomp");
    });
    let (control, text) = crun(&b);
    assert_control(&control, &text);
    assert_eq!(control.get("mount"), Some(&0), "{text}");
    let bpf = raw_bpf("container");
    set_config(&b, |c| {
        c["annotations"] = json!({ "run.oci.seccomp_bpf_data": base64(&bpf) });
    });
    let (r, text) = crun(&b);
    assert_confined(&r, &text, true);
    let _ = std::fs::remove_dir_all(&b);
}

fn bwrap(dir: &Path, probe: &Path, bpf: Option<&Path>) -> (BTreeMap<String, i32>, String) {
    need("bwrap");
    // /tmp becomes a fresh tmpfs; the probe's directory is bound back into it.
    let mut script = format!(
        "exec bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --ro-bind {d} {d}",
        d = dir.display()
    );
    if bpf.is_some() {
        script.push_str(" --seccomp 3");
    }
    script.push_str(&format!(" {}", probe.display()));
    if let Some(p) = bpf {
        script.push_str(&format!(" 3<{}", p.display()));
    }
    let o = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (parse(&text), text)
}

#[test]
fn bwrap_enforces_raw_bpf_from_moat() {
    let d = scratch("bwrap");
    let p = probe(&d);
    let (control, text) = bwrap(&d, &p, None);
    assert_eq!(control.get("mkdir"), Some(&0), "{text}");
    assert_eq!(control.get("unshare"), Some(&0), "{text}");
    assert_ne!(control.get("vsock"), Some(&EPERM), "{text}");
    let f = d.join("container.bpf");
    std::fs::write(&f, raw_bpf("container")).unwrap();
    let (r, text) = bwrap(&d, &p, Some(&f));
    assert_eq!(r.get("mkdir"), Some(&0), "{text}");
    assert_eq!(r.get("getpid"), Some(&0), "{text}");
    assert_eq!(r.get("unshare"), Some(&EPERM), "{text}");
    assert_eq!(r.get("vsock"), Some(&EPERM), "{text}");
    let _ = std::fs::remove_dir_all(&d);
}
