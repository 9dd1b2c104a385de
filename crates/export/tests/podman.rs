//! Podman's `io.containers.seccomp.profile` image label against Podman itself: an image (an OCI
//! layout written with moat-oci: busybox-static and the label) runs under
//! `podman run --seccomp-policy=image`, and what its calls get is what moat's import of the same
//! layout says; without the option the same calls succeed (Podman's default profile allows
//! them).
//!
//! Needs root, `podman`, `runc` and busybox-static (scripts/test installs them). Podman runs the
//! container with runc and cgroupfs, and with rlimits below the machine's (this machine's root
//! has no CAP_SYS_RESOURCE, so the runtimes cannot set Podman's default rlimits).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use moat_export::oci::PODMAN_LABEL;
use moat_export::{InputFormat, Options, load};
use moat_oci::{Layout, spec, tar};
use moat_policy::{Action, Context};
use moat_syscalls::Arch;

const BUSYBOX: &str = "/bin/busybox";
const NAME: &str = "moat-label-test:1";

/// The label: every call runs but `mkdir`/`mkdirat` (EPERM) and `rmdir` (ENOSYS). (Not `chdir`:
/// runc's init changes to the working directory after loading the filter.)
const PROFILE: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
    {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1},
    {"names":["rmdir"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#;

fn available() -> bool {
    moat_testkit::require(moat_testkit::is_root(), "root")
        && moat_testkit::require(
            moat_testkit::has_tool("podman"),
            "podman (Debian package podman)",
        )
        && moat_testkit::require(moat_testkit::has_tool("runc"), "runc (Debian package runc)")
        && moat_testkit::require(
            Path::new(BUSYBOX).exists(),
            "busybox-static (Debian package busybox-static)",
        )
}

/// An image layout: busybox with `sh`, `mkdir` and `rmdir` links and a writable `/tmp`, its config
/// carrying the label. Returns the layout directory and the image id (the config digest).
fn image(dir: &Path) -> (PathBuf, String) {
    let mut layer = tar::Builder::new();
    layer.dir("bin", 0o755).unwrap();
    layer.dir("tmp", 0o1777).unwrap();
    layer
        .file("bin/busybox", 0o755, std::fs::read(BUSYBOX).unwrap())
        .unwrap();
    for a in ["sh", "mkdir", "rmdir"] {
        layer.symlink(&format!("bin/{a}"), "busybox").unwrap();
    }
    let cfg = spec::ContainerConfig {
        cmd: vec!["/bin/sh".into()],
        labels: [(PODMAN_LABEL.to_string(), PROFILE.to_string())]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let mut layout = Layout::new();
    let mut ann = BTreeMap::new();
    ann.insert(spec::REF_NAME.to_string(), NAME.to_string());
    layout
        .add_image(
            spec::ImageConfig::new("amd64", "linux", cfg),
            vec![layer.into_bytes().unwrap()],
            ann,
        )
        .unwrap();
    let (_, m) = layout.manifests().unwrap().remove(0);
    let path = dir.join("layout");
    layout.write_dir(&path).unwrap();
    (path, m.config.digest.hex().to_string())
}

fn podman(layout: &Path, policy_image: bool, script: &str) -> Output {
    let mut c = Command::new("podman");
    c.args([
        "--cgroup-manager=cgroupfs",
        "--runtime",
        "runc",
        "run",
        "--rm",
    ])
    .args([
        "--network=none",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ]);
    if policy_image {
        c.arg("--seccomp-policy=image");
    }
    c.arg(format!("oci:{}:{NAME}", layout.display()))
        .args(["/bin/sh", "-c", script]);
    c.output().unwrap()
}

fn moat_verdict(layout: &Path, name: &str) -> Action {
    let l = load(
        &format!("{}#{NAME}", layout.display()),
        &Options {
            host: Some(Arch::X86_64),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(l.format, InputFormat::ImageLabel);
    let nr = Arch::X86_64.by_name(name).unwrap().nr;
    l.policy
        .evaluate(&Context::default(), Arch::X86_64.audit_arch(), nr, [0; 6])
        .action
}

#[test]
fn podman_applies_the_label_as_moat_reads_it() {
    if !available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("moat-podman-label-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (layout, id) = image(&dir);
    let _cleanup = Cleanup {
        id,
        dir: dir.clone(),
    };
    // What moat says.
    assert_eq!(moat_verdict(&layout, "mkdir"), Action::Errno(1));
    assert_eq!(moat_verdict(&layout, "rmdir"), Action::Errno(38));
    assert_eq!(moat_verdict(&layout, "write"), Action::Allow);
    // What Podman does with --seccomp-policy=image.
    let script = "mkdir /tmp/d; echo mkdir=$?; rmdir /tmp/d; echo rmdir=$?";
    let o = podman(&layout, true, script);
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        out.contains("mkdir=1") && out.contains("rmdir=1"),
        "{out}\n{err}"
    );
    assert!(
        err.contains("Operation not permitted"),
        "mkdir: EPERM\n{err}"
    );
    assert!(
        err.contains("Function not implemented"),
        "rmdir: ENOSYS\n{err}"
    );
    // The control: Podman's default profile lets both run.
    let o = podman(&layout, false, script);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("mkdir=0") && out.contains("rmdir=0"),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Removes the image Podman stored and the layout, also when an assertion fails.
struct Cleanup {
    id: String,
    dir: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rmi", "--force", "--ignore", &self.id])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
