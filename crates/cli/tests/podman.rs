//! Podman end to end: `podman --runtime moat-runc run --annotation moat.dev/policy=...` with a
//! local busybox image (`podman import` of a busybox-static root filesystem) and the image
//! `cargo xtask image` builds (`podman load`), every piece of Podman's state in a temporary
//! directory. Asserts from inside the container: the errno of the calls tried and the
//! `Seccomp:` line of /proc/self/status.
//!
//! What Podman 4.3 (Debian 12) does that these tests pin down:
//! - It runs the runtime with almost no environment: `create` gets a `PATH`, `kill` and
//!   `delete` get none (moat-runc finds runc in its fixed directories), and neither gets
//!   `MOAT_*` variables (the node configuration is /etc/moat/runtime.toml or the defaults).
//! - `--annotation` keeps only the first line of a value: a multi-line policy loses every
//!   statement after line 1; the one-line form (`;` between statements) keeps them all.
//! - Without `--security-opt seccomp=unconfined` the bundle carries Podman's own default
//!   profile as `linux.seccomp`, which moat reads like a kubelet's `seccompProfile`: it allows
//!   `ioctl(TIOCSTI)`, which moat's `container` default denies, so under `pod-policies =
//!   "subset"` a container without an annotation is refused, with the counterexample.
//! - Its default rlimits need CAP_SYS_RESOURCE; the test's containers.conf sets
//!   `default_ulimits = []`.
//!
//! Needs root, podman, runc and busybox-static.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const MOAT: &str = env!("CARGO_BIN_EXE_moat");

mod common;
use common::{show, text};

fn ready() -> bool {
    moat_testkit::require(moat_testkit::is_root(), "root, to run containers")
        && moat_testkit::require(moat_testkit::has_tool("podman"), "podman (Debian: podman)")
        && moat_testkit::require(
            Path::new("/usr/sbin/runc").is_file(),
            "runc at /usr/sbin/runc (Debian: runc)",
        )
        && moat_testkit::require(
            Path::new("/bin/busybox").is_file(),
            "/bin/busybox (Debian: busybox-static)",
        )
}

/// One test's Podman: storage, run state, temporary files and configuration under one
/// temporary directory (removed on drop, after every container in it is removed), with
/// `moat-runc` (a link to the moat under test) as its runtime.
struct Podman {
    dir: PathBuf,
    runtime: PathBuf,
}

impl Drop for Podman {
    fn drop(&mut self) {
        // runc directly first: a failed test may have left moat-runc unable to reach it.
        if let Ok(o) = self
            .cmd()
            .args(["ps", "--all", "--quiet", "--no-trunc"])
            .output()
        {
            for id in text(&o.stdout).split_whitespace() {
                let _ = Command::new("runc")
                    .args(["delete", "--force", id])
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let _ = self
            .cmd()
            .args(["rm", "--all", "--force", "--time", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Podman {
    fn new(name: &str) -> Podman {
        let dir = std::env::temp_dir().join(format!("moat-podman-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        let runtime = dir.join("bin/moat-runc");
        std::os::unix::fs::symlink(MOAT, &runtime).unwrap();
        // containers.conf(5): no default rlimits (raising them needs CAP_SYS_RESOURCE), no
        // network namespace setup, cgroupfs (no systemd needed), events in a file, and image
        // unpacking (`podman load`) in this directory instead of /var/tmp.
        std::fs::create_dir_all(dir.join("copy")).unwrap();
        std::fs::write(
            dir.join("containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = []\nnetns = \"none\"\n\n[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nimage_copy_tmp_dir = \"{}\"\n",
                dir.join("copy").display()
            ),
        )
        .unwrap();
        // containers-storage.conf(5): the machine's file is not read.
        std::fs::write(
            dir.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                dir.join("root").display(),
                dir.join("run").display()
            ),
        )
        .unwrap();
        Podman { dir, runtime }
    }

    /// `podman` with this test's state, runtime and configuration.
    fn cmd(&self) -> Command {
        self.cmd_with(&self.runtime)
    }

    fn cmd_with(&self, runtime: &Path) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.dir.join("storage.conf"))
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .arg("--tmpdir")
            .arg(self.dir.join("tmp"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"])
            .arg("--runtime")
            .arg(runtime)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Imports a busybox-static root filesystem as `localhost/moat-test-busybox:1`.
    fn busybox(&self) -> &'static str {
        let rootfs = self.dir.join("rootfs");
        let bin = rootfs.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for d in ["proc", "dev", "sys", "tmp", "etc"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
        for applet in [
            "sh", "mkdir", "touch", "chmod", "sleep", "grep", "echo", "cat", "ls",
        ] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        let tar = self.dir.join("rootfs.tar");
        let out = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
        let image = "localhost/moat-test-busybox:1";
        let out = self
            .cmd()
            .arg("import")
            .arg(&tar)
            .arg(image)
            .output()
            .unwrap();
        assert!(out.status.success(), "podman import: {}", show(&out));
        image
    }
}

/// A denied mkdir, an allowed touch, a denied chmod, the seccomp mode, exit 7.
const WORKLOAD: &str = "mkdir /tmp/d; echo \"mkdir rc=$?\"; touch /tmp/f; echo \"touch rc=$?\"; chmod 600 /tmp/f; echo \"chmod rc=$?\"; grep Seccomp: /proc/self/status; exit 7";

#[test]
fn an_annotation_policy_denies_with_its_errno_inside_the_container() {
    if !ready() {
        return;
    }
    let p = Podman::new("deny");
    let image = p.busybox();
    let o = p.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--annotation",
        "moat.dev/policy=use container; deny mkdir mkdirat",
        image,
        "sh",
        "-c",
        WORKLOAD,
    ]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(7), "{}", show(&o));
    assert!(out.contains("mkdir rc=1"), "{}", show(&o));
    assert!(out.contains("touch rc=0"), "{}", show(&o));
    assert!(out.contains("chmod rc=0"), "{}", show(&o));
    assert!(out.contains("Seccomp:\t2"), "{}", show(&o));
    // busybox names the errno: moat's `deny` is EPERM.
    assert!(
        text(&o.stderr).contains("can't create directory '/tmp/d': Operation not permitted"),
        "{}",
        show(&o)
    );
}

#[test]
fn a_one_line_policy_keeps_every_statement_where_a_multi_line_one_loses_all_but_the_first() {
    if !ready() {
        return;
    }
    let p = Podman::new("oneline");
    let image = p.busybox();
    let run = |policy: &str| {
        p.run(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--annotation",
            &format!("moat.dev/policy={policy}"),
            image,
            "sh",
            "-c",
            WORKLOAD,
        ])
    };
    let one = run("use container; deny mkdir mkdirat; deny chmod fchmod fchmodat fchmodat2");
    let out = text(&one.stdout);
    assert!(out.contains("mkdir rc=1"), "{}", show(&one));
    assert!(out.contains("chmod rc=1"), "{}", show(&one));
    assert!(out.contains("touch rc=0"), "{}", show(&one));
    // The same statements one per line: Podman passes only `use container`.
    let multi = run("use container\ndeny mkdir mkdirat\ndeny chmod fchmod fchmodat fchmodat2\n");
    let out = text(&multi.stdout);
    assert!(out.contains("mkdir rc=0"), "{}", show(&multi));
    assert!(out.contains("chmod rc=0"), "{}", show(&multi));
    // What moat prints with --one-line is what survives the transport.
    let file = p.dir.join("policy.moat");
    std::fs::write(
        &file,
        "use container\ndeny mkdir mkdirat\ndeny chmod fchmod fchmodat fchmodat2\n",
    )
    .unwrap();
    let conv = Command::new(MOAT)
        .args(["convert", "--to", "moat", "--one-line"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(conv.status.success(), "{}", show(&conv));
    let line = text(&conv.stdout);
    assert_eq!(line.trim_end().lines().count(), 1, "{line}");
    let printed = run(line.trim_end());
    let out = text(&printed.stdout);
    assert!(
        out.contains("mkdir rc=1") && out.contains("chmod rc=1"),
        "{}",
        show(&printed)
    );
}

#[test]
fn a_broken_policy_never_starts_the_container_and_podman_shows_why() {
    if !ready() {
        return;
    }
    let p = Podman::new("broken");
    let image = p.busybox();
    let o = p.run(&[
        "run",
        "--name",
        "broken",
        "--network",
        "none",
        "--annotation",
        "moat.dev/policy=use container; deny sockett",
        image,
        "sh",
        "-c",
        "echo started",
    ]);
    assert!(!o.status.success(), "{}", show(&o));
    assert!(!text(&o.stdout).contains("started"), "{}", show(&o));
    let err = text(&o.stderr);
    assert!(
        err.contains(
            "moat: moat.dev/policy:1:21: unknown syscall \"sockett\" (did you mean \"socket\"?)"
        ),
        "{}",
        show(&o)
    );
    // Podman's own default profile without an annotation: looser than moat's default.
    let o = p.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        image,
        "sh",
        "-c",
        "echo started",
    ]);
    assert!(!o.status.success(), "{}", show(&o));
    assert!(!text(&o.stdout).contains("started"), "{}", show(&o));
    assert!(
        text(&o.stderr).contains("linux.seccomp: refused: the pod policy is more permissive than the node default `container`"),
        "{}",
        show(&o)
    );
    // Without Podman's profile the node default applies.
    let o = p.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--security-opt",
        "seccomp=unconfined",
        image,
        "sh",
        "-c",
        "grep Seccomp: /proc/self/status",
    ]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(text(&o.stdout).contains("Seccomp:\t2"), "{}", show(&o));
    // The refused container was created but never ran; removing it goes through moat-runc.
    let rm = p.run(&["rm", "--force", "broken"]);
    assert!(rm.status.success(), "{}", show(&rm));
}

#[test]
fn exec_runs_under_the_filter_and_stop_and_rm_reach_runc_without_a_path() {
    if !ready() {
        return;
    }
    let p = Podman::new("stop");
    let image = p.busybox();
    let o = p.run(&[
        "run",
        "--detach",
        "--name",
        "sleeper",
        "--network",
        "none",
        "--annotation",
        "moat.dev/policy=use container; deny mkdir mkdirat",
        image,
        "sleep",
        "600",
    ]);
    assert!(o.status.success(), "{}", show(&o));
    let id = text(&o.stdout).trim().to_string();
    let record = |id: &str| {
        std::fs::read_dir(moat::runtime::state::DEFAULT_DIR)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(id))
    };
    assert!(record(&id), "moat-runc recorded the runtime of {id}");
    // `podman exec` (runtime `exec`, passed through) runs under the container's filter.
    let o = p.run(&[
        "exec",
        "sleeper",
        "sh",
        "-c",
        "mkdir /tmp/e; echo \"mkdir rc=$?\"; grep Seccomp: /proc/self/status",
    ]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(text(&o.stdout).contains("mkdir rc=1"), "{}", show(&o));
    assert!(text(&o.stdout).contains("Seccomp:\t2"), "{}", show(&o));
    // sleep as pid 1 ignores SIGTERM: after a second Podman kills it (runtime `kill`, no PATH).
    let o = p.run(&["stop", "--time", "1", "sleeper"]);
    assert!(o.status.success(), "{}", show(&o));
    let o = p.run(&["inspect", "--format", "{{.State.Status}}", "sleeper"]);
    assert_eq!(text(&o.stdout).trim(), "exited", "{}", show(&o));
    let o = p.run(&["rm", "sleeper"]);
    assert!(o.status.success(), "{}", show(&o));
    let o = p.run(&["ps", "--all", "--quiet"]);
    assert_eq!(text(&o.stdout).trim(), "", "{}", show(&o));
    // runc's own state is gone, and so is moat's record (`delete` reached runc).
    let o = Command::new("runc").args(["state", &id]).output().unwrap();
    assert!(!o.status.success(), "{}", show(&o));
    assert!(!record(&id), "the record of {id} outlived the container");

    // A container whose record is gone (a cleaned /run/moat): kill and delete still find runc,
    // in moat-runc's fixed directories, with no PATH to search.
    let o = p.run(&[
        "run",
        "--detach",
        "--name",
        "orphan",
        "--network",
        "none",
        "--annotation",
        "moat.dev/policy=use container",
        image,
        "sleep",
        "600",
    ]);
    assert!(o.status.success(), "{}", show(&o));
    let id = text(&o.stdout).trim().to_string();
    for e in std::fs::read_dir(moat::runtime::state::DEFAULT_DIR)
        .unwrap()
        .flatten()
    {
        if e.file_name().to_string_lossy().ends_with(&id) {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let o = p.run(&["stop", "--time", "1", "orphan"]);
    assert!(o.status.success(), "{}", show(&o));
    let o = p.run(&["rm", "orphan"]);
    assert!(o.status.success(), "{}", show(&o));
    let o = Command::new("runc").args(["state", &id]).output().unwrap();
    assert!(!o.status.success(), "runc still has {id}: {}", show(&o));
}

#[test]
fn the_built_image_runs_and_installs_a_node_that_then_runs_containers() {
    if !ready() {
        return;
    }
    let Some(archive) = moat_testkit::moat_image() else {
        return;
    };
    let p = Podman::new("image");
    let o = p
        .cmd()
        .arg("load")
        .arg("--input")
        .arg(&archive)
        .output()
        .unwrap();
    assert!(o.status.success(), "podman load: {}", show(&o));
    assert!(
        text(&o.stdout).contains("Loaded image: localhost/moat:0.1.0"),
        "{}",
        show(&o)
    );
    let o = p.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--security-opt",
        "seccomp=unconfined",
        "localhost/moat:0.1.0",
        "--version",
    ]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(
        text(&o.stdout),
        format!("moat {}\n", env!("CARGO_PKG_VERSION"))
    );

    // deploy/kubernetes/daemonset.yaml's installer, as the kubelet would run it: its image,
    // arguments, security context and mounts, each hostPath a directory under a temporary
    // host root, the ConfigMap of node-config.yaml as files. It runs under plain runc (the
    // node's default runtime, not moat's handler).
    let deploy = moat_testkit::workspace_root().join("deploy/kubernetes");
    let yaml = |name: &str| -> serde_json::Value {
        serde_norway::from_str(&std::fs::read_to_string(deploy.join(name)).unwrap()).unwrap()
    };
    let ds = yaml("daemonset.yaml");
    let cm = yaml("node-config.yaml");
    let spec = &ds["spec"]["template"]["spec"];
    let init = &spec["initContainers"][0];
    assert_eq!(init["image"], "localhost/moat:0.1.0");
    let host = p.dir.join("host");
    let config = p.dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    for (k, v) in cm["data"].as_object().unwrap() {
        std::fs::write(config.join(k), v.as_str().unwrap()).unwrap();
    }
    let mut flags: Vec<String> = vec!["--rm".into(), "--network".into(), "none".into()];
    for m in init["volumeMounts"].as_array().unwrap() {
        let volume = spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == m["name"])
            .unwrap();
        let source = if let Some(path) = volume["hostPath"]["path"].as_str() {
            if m["readOnly"] == true {
                // Read only, as on a node: this machine's own directory (its /usr, with runc,
                // crun, the dynamic loader and the libraries the installer runs them with).
                PathBuf::from(path)
            } else {
                let dir = host.join(path.trim_start_matches('/'));
                std::fs::create_dir_all(&dir).unwrap();
                dir
            }
        } else {
            assert_eq!(volume["configMap"]["name"], cm["metadata"]["name"]);
            config.clone()
        };
        let ro = if m["readOnly"] == true { ":ro" } else { "" };
        flags.push("--volume".into());
        flags.push(format!(
            "{}:{}{ro}",
            source.display(),
            m["mountPath"].as_str().unwrap()
        ));
    }
    let toml = cm["data"]["runtime.toml"].as_str().unwrap().to_string();
    let sc = &init["securityContext"];
    flags.push(format!("--user={}", sc["runAsUser"]));
    if sc["readOnlyRootFilesystem"] == true {
        flags.push("--read-only".into());
    }
    if sc["allowPrivilegeEscalation"] == false {
        flags.push("--security-opt=no-new-privileges".into());
    }
    for c in sc["capabilities"]["drop"].as_array().into_iter().flatten() {
        flags.push(format!("--cap-drop={}", c.as_str().unwrap().to_lowercase()));
    }
    for c in sc["capabilities"]["add"].as_array().into_iter().flatten() {
        flags.push(format!("--cap-add={}", c.as_str().unwrap().to_lowercase()));
    }
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    flags.push(init["image"].as_str().unwrap().into());
    for a in init["args"].as_array().unwrap() {
        flags.push(a.as_str().unwrap().into());
    }
    let install = |extra: &[&str]| {
        p.cmd_with(Path::new("/usr/sbin/runc"))
            .arg("run")
            .args(&flags)
            .args(extra)
            .output()
            .unwrap()
    };
    let o = install(&[]);
    assert!(o.status.success(), "{}", show(&o));
    let out = text(&o.stdout);
    assert!(
        out.contains("# installed /usr/local/bin/moat: moat 0.1.0"),
        "{out}"
    );
    // The host's crun (dynamically linked) ran from the installer's empty image through the
    // host's loader, and said it takes moat's own program.
    assert!(
        out.contains("# runtime /usr/bin/crun: crun version ") && out.contains("(format bpf)"),
        "{}",
        show(&o)
    );
    assert!(
        !text(&o.stderr).contains("moat: "),
        "no warnings: {}",
        show(&o)
    );
    assert!(
        out.contains("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.moat.options]\n  BinaryName = \"/usr/local/bin/moat-runc\""),
        "{out}"
    );
    let installed = host.join("usr/local/bin/moat");
    let from_image = moat_oci::Layout::read(&archive, &moat_oci::Limits::default()).unwrap();
    let (_, manifest) = from_image.manifests().unwrap().remove(0);
    let layer = from_image.blob(&manifest.layers[0].digest).unwrap();
    let mut reader = moat_oci::tar::Reader::new(layer);
    let mut binary = None;
    while let Some(e) = reader.next_entry(1 << 30).unwrap() {
        if let moat_oci::tar::Entry::File { path, data, .. } = e
            && path == "usr/local/bin/moat"
        {
            binary = Some(data);
        }
    }
    assert_eq!(
        std::fs::read(&installed).ok(),
        binary,
        "the image's binary, byte for byte"
    );
    assert_eq!(
        std::fs::read_to_string(host.join("etc/moat/runtime.toml")).unwrap(),
        toml
    );
    let web = cm["data"]["web.moat"].as_str().unwrap();
    let installed_web =
        || std::fs::read_to_string(host.join("etc/moat/profiles/web.moat")).unwrap();
    assert_eq!(installed_web(), web);

    // A broken update is refused from inside the container and changes nothing.
    std::fs::write(config.join("web.moat"), "use container\ndeny mkdirr\n").unwrap();
    let o = install(&[]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        text(&o.stderr).contains(
            "moat: nothing was installed: /config/web.moat:2:6: unknown syscall \"mkdirr\""
        ),
        "{}",
        show(&o)
    );
    assert_eq!(installed_web(), web);

    // The installed static moat-runc is the runtime of the next container. (It reads the
    // real /etc/moat, not the one installed under the temporary root: this proves the binary
    // and its link.)
    let image = p.busybox();
    let o = p
        .cmd_with(&host.join("usr/local/bin/moat-runc"))
        .args(["run", "--rm", "--network", "none", "--annotation"])
        .arg("moat.dev/policy=use container; deny mkdir mkdirat")
        .args([image, "sh", "-c", WORKLOAD])
        .output()
        .unwrap();
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(7), "{}", show(&o));
    assert!(
        out.contains("mkdir rc=1") && out.contains("touch rc=0"),
        "{}",
        show(&o)
    );
}
