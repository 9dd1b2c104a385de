//! One containerd with the `moat` handler, the test images imported, a CRI client, and the
//! node configuration moat-runc reads; pods and containers configured as the kubelet
//! configures them.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use k8s_cri::v1 as api;
use serde_json::Value;

use crate::Error;
use crate::cri::Cri;
use crate::daemon::{Containerd, Options};
use crate::image::Image;

/// The busybox image's reference (busybox-static, its applets, `/bin/probe`).
pub const BUSYBOX: &str = "moat.test/busybox:1";
/// The pause image's reference (`/pause`: the probe in its pause mode).
pub const PAUSE: &str = "moat.test/pause:1";
/// The runtime handler moat is registered as (`deploy/kubernetes/containerd.toml`).
pub const HANDLER: &str = "moat";

/// busybox applets linked into the image.
const APPLETS: &[&str] = &[
    "sh", "sleep", "cat", "grep", "mkdir", "chmod", "touch", "echo", "ls", "rm", "id", "true",
];

/// A `seccompProfile` as the kubelet passes it in the CRI's `SecurityProfile`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `RuntimeDefault`: containerd's default profile.
    RuntimeDefault,
    /// `Unconfined` (what the kubelet sends for a pod that sets no `seccompProfile`).
    Unconfined,
    /// `Localhost`: the absolute path on the node (the kubelet resolves `localhostProfile`
    /// under its seccomp directory).
    Localhost(PathBuf),
}

impl Profile {
    fn to_cri(&self) -> api::SecurityProfile {
        use api::security_profile::ProfileType;
        match self {
            Profile::RuntimeDefault => api::SecurityProfile {
                profile_type: ProfileType::RuntimeDefault as i32,
                localhost_ref: String::new(),
            },
            Profile::Unconfined => api::SecurityProfile {
                profile_type: ProfileType::Unconfined as i32,
                localhost_ref: String::new(),
            },
            Profile::Localhost(p) => api::SecurityProfile {
                profile_type: ProfileType::Localhost as i32,
                localhost_ref: p.display().to_string(),
            },
        }
    }
}

/// The real runtime behind moat-runc, as the node configuration's `runtime` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// runc: moat writes a `linux.seccomp` section (`format = "oci"`).
    Runc,
    /// crun, through [`CRUN_WRAPPER`]: moat writes its own program (`format = "bpf"`).
    Crun,
}

impl Runtime {
    /// `runc` or `crun`.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Runc => "runc",
            Runtime::Crun => "crun",
        }
    }

    /// How `moat.dev/applied` names the format after the sources (` as linux.seccomp (`).
    pub fn applied_as(self) -> &'static str {
        match self {
            Runtime::Runc => " as linux.seccomp (",
            Runtime::Crun => " as run.oci.seccomp_bpf_data (",
        }
    }
}

/// The node's `runtime` for [`Runtime::Crun`] on the test machines. crun 1.8.1 refuses their
/// hybrid cgroup layout at sandbox start (`cgroups in hybrid mode not supported, drop all
/// controllers from cgroupv2`), and containerd's shim runs the runtime in the host's mount
/// namespace. So crun runs in a private mount namespace whose /sys/fs/cgroup is the cgroup2
/// hierarchy alone (the host's mounts are not changed), with its cgroup manager disabled:
/// with it, crun raises RLIMIT_MEMLOCK, which needs CAP_SYS_RESOURCE, withheld here
/// (`setrlimit (RLIM_MEMLOCK): Operation not permitted`). The containers get no cgroup limits;
/// the seccomp path is crun's own. moat reads the format from the wrapper's `--version`
/// (crun's).
pub const CRUN_WRAPPER: &str = "#!/bin/sh\nexec unshare --mount --propagation private /bin/sh -c 'umount -l /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec crun --cgroup-manager=disabled \"$@\"' crun-cgroup2 \"$@\"\n";

/// A pod as the test writes it: name, annotations, and the pod-level `seccompProfile`.
#[derive(Clone, Debug, Default)]
pub struct PodSpec {
    /// `metadata.name` (made unique by the suite).
    pub name: String,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `spec.securityContext.seccompProfile` (`None`: the field absent in the CRI request).
    pub seccomp: Option<Profile>,
    /// The runtime handler (`spec.runtimeClassName`'s handler); `None`: [`HANDLER`].
    pub handler: Option<String>,
}

impl PodSpec {
    /// A pod called `name` with no annotations and no `seccompProfile`.
    pub fn new(name: &str) -> PodSpec {
        PodSpec {
            name: name.to_string(),
            ..PodSpec::default()
        }
    }

    /// Adds an annotation.
    #[must_use]
    pub fn annotation(mut self, key: &str, value: &str) -> PodSpec {
        self.annotations.insert(key.to_string(), value.to_string());
        self
    }

    /// Sets the pod-level `seccompProfile`.
    #[must_use]
    pub fn seccomp(mut self, p: Profile) -> PodSpec {
        self.seccomp = Some(p);
        self
    }
}

/// A container of a pod: its name, command (in the busybox image), its own
/// `seccompProfile` (`None`: the pod's, as the kubelet resolves it) and the rest of its
/// `securityContext` as the kubelet passes it.
#[derive(Clone, Debug, Default)]
pub struct ContainerSpec {
    /// The container's name in the pod spec.
    pub name: String,
    /// The command (busybox applets and `/bin/probe` are on `PATH`).
    pub command: Vec<String>,
    /// The container's own `seccompProfile`.
    pub seccomp: Option<Profile>,
    /// `runAsUser`.
    pub run_as_user: Option<i64>,
    /// `capabilities.drop` (`ALL` included).
    pub drop_capabilities: Vec<String>,
    /// `allowPrivilegeEscalation: false` (the kubelet sets `no_new_privs`).
    pub no_new_privs: bool,
    /// `readOnlyRootFilesystem`.
    pub readonly_rootfs: bool,
    /// The image (`None`: [`BUSYBOX`]).
    pub image: Option<String>,
    /// The arguments after the image's entrypoint (with an empty `command`).
    pub args: Vec<String>,
    /// Host paths mounted into the container: (host path, container path, read only).
    pub mounts: Vec<(PathBuf, String, bool)>,
}

impl ContainerSpec {
    /// A container that runs the probe on `calls`, then sleeps (so it can be inspected and
    /// exec'd into).
    pub fn probe(name: &str, calls: &[&str]) -> ContainerSpec {
        ContainerSpec {
            name: name.to_string(),
            command: vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("/bin/probe {} && exec sleep 100000", calls.join(" ")),
            ],
            ..ContainerSpec::default()
        }
    }

    /// A container that only sleeps.
    pub fn sleeper(name: &str) -> ContainerSpec {
        ContainerSpec {
            name: name.to_string(),
            command: vec!["sleep".into(), "100000".into()],
            ..ContainerSpec::default()
        }
    }

    /// Sets the container's own `seccompProfile`.
    #[must_use]
    pub fn seccomp(mut self, p: Profile) -> ContainerSpec {
        self.seccomp = Some(p);
        self
    }
}

/// What the probe printed: the errno of each call (0: it succeeded) and the `Seccomp:` mode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Probe {
    /// Call name to errno.
    pub errno: BTreeMap<String, i32>,
    /// The `Seccomp:` field of `/proc/self/status` (0 none, 1 strict, 2 filter).
    pub seccomp: Option<u32>,
}

impl Probe {
    /// Reads the probe's output (`CALL=ERRNO` lines and the `Seccomp:` line).
    pub fn parse(text: &str) -> Probe {
        let mut p = Probe::default();
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("Seccomp:") {
                p.seccomp = v.trim().parse().ok();
            } else if let Some((k, v)) = line.split_once('=')
                && let Ok(n) = v.trim().parse()
            {
                p.errno.insert(k.trim().to_string(), n);
            }
        }
        p
    }

    /// The errno of `call`; panics naming the output when the probe did not report it.
    pub fn errno(&self, call: &str) -> i32 {
        match self.errno.get(call) {
            Some(&e) => e,
            None => panic!("the probe did not report {call}: {self:?}"),
        }
    }
}

/// The test's containerd, images, client and node configuration.
#[derive(Debug)]
pub struct Suite {
    /// The CRI client.
    pub cri: Cri,
    /// The daemon.
    pub daemon: Containerd,
    /// The node configuration moat-runc reads (`MOAT_RUNTIME_CONFIG`).
    pub node_config: PathBuf,
    /// The moat binary under test.
    pub moat: PathBuf,
    /// The node's root for `moat node install --root` (`etc/moat/runtime.toml` in it is
    /// [`Suite::node_config`]; the [`crate::daemon::INSTALLED_HANDLER`] handler runs
    /// `usr/local/bin/moat-runc` in it).
    pub host: PathBuf,
    /// Where pods' logs and test files go.
    pub work: PathBuf,
    serial: AtomicU32,
    runtime: Mutex<Runtime>,
    crun_wrapper: PathBuf,
}

/// `target/<profile>/moat`, next to this test's `deps/` directory. Under cargo (`CARGO` set)
/// it is built first, so a `cargo test -p moat-cri-e2e` never runs a stale moat (cargo holds
/// no lock on the target directory while tests run).
///
/// # Panics
///
/// When that build fails.
pub fn moat_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    if let Some(cargo) = std::env::var_os("CARGO") {
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "moat-cli",
            "--bin",
            "moat",
            "--manifest-path",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml"))
        .arg("--target-dir")
        .arg(profile_dir.parent()?);
        match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => {}
            Some("release") => {
                cmd.arg("--release");
            }
            Some(other) => {
                cmd.args(["--profile", other]);
            }
        }
        match cmd.output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "building moat for the CRI test failed:\n{}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!("running cargo to build moat: {e}"),
        }
    }
    let bin = profile_dir.join("moat");
    let ok = Command::new(&bin)
        .args(["oci-runtime", "--help"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(bin)
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// A file of the workspace's `deploy/kubernetes/`.
pub fn deployed(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/kubernetes")
        .join(name)
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

impl Suite {
    /// Checks what the suite needs ([`moat_testkit::require`]: a failure naming it under
    /// `CI=true`, a skip elsewhere), builds the images, starts containerd and imports them.
    /// `None` when skipped.
    ///
    /// # Panics
    ///
    /// When something the suite needs is missing under `CI=true`, or the setup fails.
    pub fn start() -> Option<Suite> {
        if !moat_testkit::require(moat_testkit::is_root(), "root, to run containerd") {
            return None;
        }
        for tool in [
            "containerd",
            "ctr",
            "containerd-shim-runc-v2",
            "runc",
            "crun",
            "unshare",
            "gcc",
        ] {
            if !moat_testkit::require(
                moat_testkit::has_tool(tool),
                &format!("{tool} on PATH (Debian packages containerd, runc, crun, gcc)"),
            ) {
                return None;
            }
        }
        if !moat_testkit::require(
            Path::new("/bin/busybox").is_file(),
            "/bin/busybox (Debian package busybox-static)",
        ) {
            return None;
        }
        let moat = moat_binary();
        if !moat_testkit::require(
            moat.is_some(),
            "target/<profile>/moat with `oci-runtime` (build moat-cli: cargo build -p moat-cli)",
        ) {
            return None;
        }
        let moat = moat?;
        match Suite::setup(moat) {
            Ok(s) => Some(s),
            Err(e) => panic!("setting up containerd failed: {e}"),
        }
    }

    fn setup(moat: PathBuf) -> Result<Suite, Error> {
        let dir = std::env::temp_dir().join(format!("moat-cri-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let work = dir.join("work");
        // The node's files as `moat node install --root HOST` lays them out, so the installer
        // case replaces the very configuration moat-runc reads.
        let host = dir.join("host");
        for d in [
            &dir.join("bin"),
            &host.join("etc/moat"),
            &host.join("usr/local/bin"),
            &work,
        ] {
            std::fs::create_dir_all(d).map_err(io(format!("creating {}", d.display())))?;
        }
        // The images: busybox-static with the probe, and a pause image that is the probe.
        let probe = dir.join("bin/probe");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("helpers/probe.c");
        let out = Command::new("gcc")
            .args(["-static", "-O1", "-Wall", "-Werror", "-o"])
            .arg(&probe)
            .arg(&src)
            .output()
            .map_err(io("running gcc"))?;
        if !out.status.success() {
            return Err(Error::Tool {
                command: format!("gcc -static {}", src.display()),
                output: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        let mut busybox = Image::new(BUSYBOX);
        busybox
            .dirs(&["proc", "dev", "sys", "etc"])
            .dir_mode("tmp", 0o1777)
            .binary("bin/busybox", Path::new("/bin/busybox"))?
            .binary("bin/probe", &probe)?;
        for a in APPLETS {
            busybox.symlink(&format!("bin/{a}"), "busybox");
        }
        busybox.cmd = vec!["/bin/sh".into()];
        let mut pause = Image::new(PAUSE);
        pause
            .dirs(&["proc", "dev", "sys"])
            .binary("pause", &probe)?;
        pause.entrypoint = vec!["/pause".into()];

        let moat_runc = dir.join("bin/moat-runc");
        std::os::unix::fs::symlink(&moat, &moat_runc).map_err(io("linking moat-runc"))?;
        let node_config = host.join("etc/moat/runtime.toml");
        let crun_wrapper = dir.join("bin/crun-cgroup2");
        std::fs::write(&crun_wrapper, CRUN_WRAPPER)
            .map_err(io(format!("writing {}", crun_wrapper.display())))?;
        std::fs::set_permissions(&crun_wrapper, std::fs::Permissions::from_mode(0o755))
            .map_err(io(format!("chmod {}", crun_wrapper.display())))?;
        let handler_toml = std::fs::read_to_string(deployed("containerd.toml"))
            .map_err(io("reading deploy/kubernetes/containerd.toml"))?;
        let opts = Options {
            dir: dir.clone(),
            handler_toml,
            moat_runc,
            installed_runc: host.join("usr/local/bin/moat-runc"),
            sandbox_image: PAUSE.into(),
            env: vec![
                ("MOAT_RUNTIME_CONFIG".into(), node_config.clone()),
                ("MOAT_STATE_DIR".into(), dir.join("moat-state")),
            ],
        };
        let suite = Suite {
            cri: Cri::connect(&dir.join("containerd.sock"))?,
            daemon: Containerd::start(&opts)?,
            node_config,
            moat,
            host,
            work,
            serial: AtomicU32::new(0),
            runtime: Mutex::new(Runtime::Runc),
            crun_wrapper,
        };
        suite.node("");
        suite.cri.wait_ready(Duration::from_secs(20))?;
        for image in [&busybox, &pause] {
            let file = dir.join(format!("{}.tar", image.name.replace(['/', ':'], "_")));
            std::fs::write(&file, image.archive()?)
                .map_err(io(format!("writing {}", file.display())))?;
            suite.daemon.import(&file)?;
            if !suite.cri.image_present(&image.name)? {
                return Err(Error::Daemon(format!(
                    "the CRI does not see {} after the import",
                    image.name
                )));
            }
        }
        Ok(suite)
    }

    /// The runtime the next [`Suite::node`] names.
    pub fn runtime(&self) -> Runtime {
        *self
            .runtime
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets the runtime (and rewrites the node configuration with no other key).
    pub fn set_runtime(&self, r: Runtime) {
        *self
            .runtime
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = r;
        self.node("");
    }

    /// Replaces the node configuration (atomically: moat-runc reads it at every container
    /// creation), with `runtime` set to [`Suite::runtime`] by absolute path.
    ///
    /// # Panics
    ///
    /// When the file cannot be written.
    pub fn node(&self, toml: &str) {
        let runtime = match self.runtime() {
            Runtime::Runc => which("runc").unwrap_or_else(|| PathBuf::from("/usr/sbin/runc")),
            Runtime::Crun => self.crun_wrapper.clone(),
        };
        let text = format!("runtime = \"{}\"\n{toml}", runtime.display());
        let tmp = self.node_config.with_extension("toml.new");
        if let Err(e) =
            std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &self.node_config))
        {
            panic!("writing {}: {e}", self.node_config.display());
        }
    }

    /// Writes a file under the suite's work directory; its path.
    ///
    /// # Panics
    ///
    /// When the file cannot be written.
    pub fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.work.join(name);
        if let Err(e) = std::fs::write(&p, data) {
            panic!("writing {}: {e}", p.display());
        }
        p
    }

    /// `RunPodSandbox` for `spec` with the `moat` handler, configured as the kubelet does for a
    /// `hostNetwork: true` pod.
    pub fn pod(&self, spec: &PodSpec) -> Result<Pod<'_>, Error> {
        let n = self.serial.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}-{n}", spec.name);
        let uid = format!("uid-{}-{n}", std::process::id());
        let logs = self.work.join("pods").join(&uid);
        std::fs::create_dir_all(&logs).map_err(io(format!("creating {}", logs.display())))?;
        let namespaces = api::NamespaceOption {
            network: api::NamespaceMode::Node as i32,
            pid: api::NamespaceMode::Container as i32,
            ipc: api::NamespaceMode::Pod as i32,
            ..Default::default()
        };
        let config = api::PodSandboxConfig {
            metadata: Some(api::PodSandboxMetadata {
                name: name.clone(),
                uid,
                namespace: "default".into(),
                attempt: 0,
            }),
            // The kubelet sets no hostname for a host-network pod (it shares the node's UTS
            // namespace; runc refuses a hostname without a private one).
            hostname: String::new(),
            log_directory: logs.display().to_string(),
            labels: [("io.kubernetes.pod.name".to_string(), name.clone())]
                .into_iter()
                .collect(),
            annotations: spec.annotations.clone().into_iter().collect(),
            linux: Some(api::LinuxPodSandboxConfig {
                security_context: Some(api::LinuxSandboxSecurityContext {
                    namespace_options: Some(namespaces),
                    seccomp: spec.seccomp.as_ref().map(Profile::to_cri),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = self
            .cri
            .run_pod(&config, spec.handler.as_deref().unwrap_or(HANDLER))?;
        Ok(Pod {
            suite: self,
            id,
            config,
            seccomp: spec.seccomp.clone(),
            logs,
        })
    }

    /// The configuration moat-runc left in a container's bundle (`config.json`: what runc
    /// ran, with `moat.dev/applied`).
    ///
    /// # Panics
    ///
    /// When the bundle has no readable `config.json`.
    pub fn bundle_config(&self, id: &str) -> Value {
        let p = self.daemon.bundle(id).join("config.json");
        match std::fs::read(&p).map(|b| serde_json::from_slice(&b)) {
            Ok(Ok(v)) => v,
            other => panic!("{}: {other:?}", p.display()),
        }
    }

    /// The `moat.dev/applied` annotation moat-runc wrote into a container's bundle.
    pub fn applied(&self, id: &str) -> String {
        self.bundle_config(id)["annotations"]["moat.dev/applied"]
            .as_str()
            .unwrap_or("(none)")
            .to_string()
    }
}

impl Drop for Suite {
    fn drop(&mut self) {
        // Pods a failed case left behind; the daemon's own drop sweeps whatever remains.
        for p in self.cri.pods().unwrap_or_default() {
            let _ = self.cri.remove_pod(&p.id);
        }
    }
}

/// A running pod sandbox; stopped and removed on drop.
#[derive(Debug)]
pub struct Pod<'a> {
    suite: &'a Suite,
    /// The sandbox's id.
    pub id: String,
    /// The configuration it was created with (sent again with every `CreateContainer`, as the
    /// kubelet does).
    pub config: api::PodSandboxConfig,
    seccomp: Option<Profile>,
    logs: PathBuf,
}

impl Pod<'_> {
    /// `CreateContainer` and `StartContainer`; the container's id.
    pub fn run(&self, c: &ContainerSpec) -> Result<String, Error> {
        let namespaces = api::NamespaceOption {
            network: api::NamespaceMode::Node as i32,
            pid: api::NamespaceMode::Container as i32,
            ipc: api::NamespaceMode::Pod as i32,
            ..Default::default()
        };
        let seccomp = c.seccomp.as_ref().or(self.seccomp.as_ref());
        let config = api::ContainerConfig {
            metadata: Some(api::ContainerMetadata {
                name: c.name.clone(),
                attempt: 0,
            }),
            image: Some(api::ImageSpec {
                image: c.image.clone().unwrap_or_else(|| BUSYBOX.into()),
                ..Default::default()
            }),
            command: c.command.clone(),
            args: c.args.clone(),
            mounts: c
                .mounts
                .iter()
                .map(|(host, container, readonly)| api::Mount {
                    host_path: host.display().to_string(),
                    container_path: container.clone(),
                    readonly: *readonly,
                    ..Default::default()
                })
                .collect(),
            log_path: format!("{}/0.log", c.name),
            linux: Some(api::LinuxContainerConfig {
                security_context: Some(api::LinuxContainerSecurityContext {
                    namespace_options: Some(namespaces),
                    seccomp: seccomp.map(Profile::to_cri),
                    run_as_user: c.run_as_user.map(|value| api::Int64Value { value }),
                    capabilities: (!c.drop_capabilities.is_empty()).then(|| api::Capability {
                        drop_capabilities: c.drop_capabilities.clone(),
                        ..Default::default()
                    }),
                    no_new_privs: c.no_new_privs,
                    readonly_rootfs: c.readonly_rootfs,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = self.suite.cri.create(&self.id, &config, &self.config)?;
        self.suite.cri.start(&id)?;
        Ok(id)
    }

    /// The container's log so far, without the CRI's `TIMESTAMP STREAM TAG ` prefixes.
    pub fn log(&self, container: &str) -> String {
        self.log_lines(container, None).join("\n")
    }

    /// The lines of one stream (`stdout`, `stderr`; `None`: both) of the container's log so
    /// far. containerd copies the two streams separately, so lines of different streams may
    /// be logged in another order than they were written.
    pub fn log_lines(&self, container: &str, stream: Option<&str>) -> Vec<String> {
        let text =
            std::fs::read_to_string(self.logs.join(container).join("0.log")).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut f = l.splitn(4, ' ');
                let (_, s, _, line) = (f.next(), f.next(), f.next(), f.next());
                (stream.is_none() || s == stream).then(|| line.unwrap_or("").to_string())
            })
            .collect()
    }

    /// Runs a container and waits until its log has a `Seccomp:` line (what the probe and
    /// the example pod print last); the log, without the CRI's prefixes.
    ///
    /// # Panics
    ///
    /// When the container exits or prints no such line within 30 s.
    pub fn run_until_seccomp_line(&self, c: &ContainerSpec) -> Result<(String, String), Error> {
        let id = self.run(c)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.log(&c.name);
            if log.lines().any(|l| l.starts_with("Seccomp:")) {
                return Ok((id, log));
            }
            let status = self.suite.cri.status(&id)?.status.unwrap_or_default();
            assert!(
                status.state != api::ContainerState::ContainerExited as i32,
                "container {} exited ({}, {}) before printing its Seccomp: line:\n{log}",
                c.name,
                status.exit_code,
                status.reason
            );
            assert!(
                Instant::now() < deadline,
                "container {} printed no Seccomp: line within 30 s:\n{log}",
                c.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs a [`ContainerSpec::probe`] container and waits for the probe's report.
    ///
    /// # Panics
    ///
    /// As [`Pod::run_until_seccomp_line`].
    pub fn probe(&self, c: &ContainerSpec) -> Result<(String, Probe), Error> {
        self.run_until_seccomp_line(c)
            .map(|(id, log)| (id, Probe::parse(&log)))
    }

    /// `ExecSync` of the probe on `calls` in a running container.
    ///
    /// # Panics
    ///
    /// When the exec fails or exits non-zero.
    pub fn exec_probe(&self, id: &str, calls: &[&str]) -> Probe {
        let mut cmd = vec!["/bin/probe"];
        cmd.extend_from_slice(calls);
        match self.suite.cri.exec(id, &cmd) {
            Ok(r) if r.exit_code == 0 => Probe::parse(&String::from_utf8_lossy(&r.stdout)),
            other => panic!("ExecSync {cmd:?}: {other:?}"),
        }
    }
}

impl Drop for Pod<'_> {
    fn drop(&mut self) {
        let _ = self.suite.cri.remove_pod(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probes_report_is_read() {
        let p = Probe::parse("getpid=0\nmkdir=1\nnot a line\nSeccomp:\t2\n");
        assert_eq!(p.seccomp, Some(2));
        assert_eq!(p.errno("getpid"), 0);
        assert_eq!(p.errno("mkdir"), 1);
        assert_eq!(p.errno.len(), 2);
        assert_eq!(Probe::parse("Seccomp:\tunreadable\n").seccomp, None);
    }

    #[test]
    #[should_panic(expected = "the probe did not report keyctl")]
    fn a_call_the_probe_did_not_report_fails_the_case() {
        let _ = Probe::parse("getpid=0\n").errno("keyctl");
    }
}
