//! A containerd of the test's own: configuration, root, state and sockets in one temporary
//! directory, started as a child process and stopped by its pid when the value is dropped
//! (also when a test panics).
//!
//! The runtime handler block is `deploy/kubernetes/containerd.toml` as shipped, with only
//! `BinaryName` pointed at the moat-runc under test, so the test proves the file users merge.
//! The rest is what this machine needs:
//!
//! - host-network pods only: no CNI plugins are installed, so the CRI plugin's `cni` section
//!   points at empty directories and every pod asks for the node's network namespace;
//! - `restrict_oom_score_adj = true`: containerd would otherwise lower the sandbox's
//!   `oom_score_adj` below its own, which needs CAP_SYS_RESOURCE, withheld here;
//! - `sandbox_image` is a local tag imported with `ctr images import` (nothing is pulled).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// The CRI plugin's namespace in containerd (images the CRI sees are imported into it).
pub const NAMESPACE: &str = "k8s.io";

/// The path `deploy/kubernetes/containerd.toml` names moat-runc by.
pub const DEPLOYED_BINARY: &str = "/usr/local/bin/moat-runc";

/// The handler name of the installed moat-runc (see [`Options::installed_runc`]).
pub const INSTALLED_HANDLER: &str = "moat-installed";

/// The deployed handler block renamed to `name` with `BinaryName = binary` (without the
/// file's `version` line, for a second copy).
fn renamed_handler(deployed: &str, name: &str, binary: &Path) -> String {
    deployed
        .lines()
        .filter(|l| !l.starts_with("version"))
        .map(|l| {
            l.replace("runtimes.moat]", &format!("runtimes.{name}]"))
                .replace(
                    "runtimes.moat.options]",
                    &format!("runtimes.{name}.options]"),
                )
                .replace(DEPLOYED_BINARY, &binary.display().to_string())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the daemon is started with.
#[derive(Clone, Debug)]
pub struct Options {
    /// The temporary directory everything lives in (created; removed on drop).
    pub dir: PathBuf,
    /// `deploy/kubernetes/containerd.toml`'s text.
    pub handler_toml: String,
    /// The moat-runc binary (a link to `moat`) the handler runs instead of runc.
    pub moat_runc: PathBuf,
    /// A second handler, [`INSTALLED_HANDLER`], registered the same way for the moat-runc
    /// that `moat node install` puts here (it need not exist before a pod uses it).
    pub installed_runc: PathBuf,
    /// The pause image's reference.
    pub sandbox_image: String,
    /// Environment for containerd, and so for its shims and moat-runc.
    pub env: Vec<(String, PathBuf)>,
}

/// A running containerd.
#[derive(Debug)]
pub struct Containerd {
    /// The temporary directory.
    pub dir: PathBuf,
    /// The gRPC socket (CRI and containerd's own API).
    pub socket: PathBuf,
    /// runc's `--root` for the `moat` handler (the shim adds the namespace).
    pub runc_root: PathBuf,
    child: Child,
}

/// The configuration file's text for `opts`.
pub fn config(opts: &Options) -> String {
    let d = opts.dir.display();
    let handler = opts
        .handler_toml
        .replace(DEPLOYED_BINARY, &opts.moat_runc.display().to_string());
    let installed = renamed_handler(&opts.handler_toml, INSTALLED_HANDLER, &opts.installed_runc);
    // Top-level keys first (TOML puts keys after a table header into that table), then the
    // deployed file (`version = 2` and the handler's tables), then the rest.
    format!(
        r#"root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

# ---- deploy/kubernetes/containerd.toml ----
{handler}
# ---- the same handler for the moat-runc `moat node install` installs ----
{installed}
# ---- the test's own settings ----
[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  address = "{d}/debug.sock"
  level = "info"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox}"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni/bin"
    conf_dir = "{d}/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
"#,
        sandbox = opts.sandbox_image,
    )
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

impl Containerd {
    /// Writes the configuration and starts containerd; returns once its socket exists.
    pub fn start(opts: &Options) -> Result<Containerd, Error> {
        let dir = &opts.dir;
        for sub in ["cni/bin", "cni/conf"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(io(format!("creating {}", dir.join(sub).display())))?;
        }
        let config_path = dir.join("config.toml");
        std::fs::write(&config_path, config(opts))
            .map_err(io(format!("writing {}", config_path.display())))?;
        let log = std::fs::File::create(dir.join("containerd.log"))
            .map_err(io("creating containerd.log"))?;
        let log2 = log.try_clone().map_err(io("containerd.log"))?;
        let mut cmd = Command::new("containerd");
        cmd.arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().map_err(io("starting containerd"))?;
        let mut daemon = Containerd {
            dir: dir.clone(),
            socket: dir.join("containerd.sock"),
            runc_root: dir.join("runc"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !daemon.socket.exists() {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                return Err(Error::Daemon(format!(
                    "containerd exited ({status}) before serving:\n{}",
                    daemon.log_tail(30)
                )));
            }
            if Instant::now() > deadline {
                return Err(Error::Daemon(format!(
                    "containerd did not create {} within 20 s:\n{}",
                    daemon.socket.display(),
                    daemon.log_tail(30)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(daemon)
    }

    /// containerd's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last `n` lines of containerd's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Runs `ctr` against this daemon in the CRI's namespace.
    pub fn ctr(&self, args: &[&str]) -> Result<String, Error> {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", NAMESPACE])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(io("running ctr"))?;
        if !out.status.success() {
            return Err(Error::Tool {
                command: format!("ctr {}", args.join(" ")),
                output: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Imports an image archive (`ctr images import`) into the CRI's namespace.
    pub fn import(&self, archive: &Path) -> Result<(), Error> {
        let path = archive.display().to_string();
        self.ctr(&["images", "import", &path]).map(|_| ())
    }

    /// The directory of a task's bundle (the runc shim's working directory: `config.json` as
    /// moat-runc left it, `config.json.orig`, `log.json`, `init.pid`, `shim.pid`).
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.dir
            .join("state/io.containerd.runtime.v2.task")
            .join(NAMESPACE)
            .join(id)
    }

    /// Every task bundle directory still present.
    fn bundles(&self) -> Vec<PathBuf> {
        let base = self.dir.join("state/io.containerd.runtime.v2.task");
        let mut out = Vec::new();
        for ns in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            for task in std::fs::read_dir(ns.path()).into_iter().flatten().flatten() {
                out.push(task.path());
            }
        }
        out
    }
}

fn kill(signal: &str, pid: &str) {
    let pid = pid.trim();
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return;
    }
    let _ = Command::new("kill")
        .args([signal, pid])
        .stderr(Stdio::null())
        .status();
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Whatever the tests left running: the containers' processes first, then containerd,
        // then the shims (which outlive containerd by design: they are reparented, and their
        // pids are in each bundle).
        let bundles = self.bundles();
        for b in &bundles {
            if let Ok(pid) = std::fs::read_to_string(b.join("init.pid")) {
                kill("-KILL", &pid);
            }
        }
        kill("-TERM", &self.child.id().to_string());
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for b in &bundles {
            if let Ok(pid) = std::fs::read_to_string(b.join("shim.pid")) {
                kill("-KILL", &pid);
            }
            // The shim's socket lives outside the directory (containerd 1.6:
            // /run/containerd/s/HASH, named in the bundle's `address` file).
            if let Ok(addr) = std::fs::read_to_string(b.join("address"))
                && let Some(path) = addr.trim().strip_prefix("unix://")
                && path.starts_with("/run/containerd/s/")
            {
                let _ = std::fs::remove_file(path);
            }
        }
        unmount_under(&self.dir);
        if std::env::var_os("MOAT_CRI_KEEP").is_some() {
            eprintln!("moat-cri-e2e: kept {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Lazily unmounts every mount point under `dir`, deepest first (overlay root filesystems,
/// the sandboxes' /dev/shm).
fn unmount_under(dir: &Path) {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .filter(|p| Path::new(p).starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = Command::new("umount")
            .args(["-l", &p])
            .stderr(Stdio::null())
            .status();
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let digit = |c: u8| u32::from(c - b'0');
            let v = digit(b[i + 1]) * 64 + digit(b[i + 2]) * 8 + digit(b[i + 3]);
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_read() {
        assert_eq!(unescape("/tmp/a\\040b"), "/tmp/a b");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/end\\04"), "/end\\04");
    }

    #[test]
    fn the_deployed_handler_is_used_with_only_the_binary_replaced() {
        let opts = Options {
            dir: PathBuf::from("/tmp/t"),
            handler_toml: format!(
                "version = 2\n[a.runtimes.moat]\n[a.runtimes.moat.options]\n  BinaryName = \"{DEPLOYED_BINARY}\"\n"
            ),
            moat_runc: PathBuf::from("/tmp/t/moat-runc"),
            installed_runc: PathBuf::from("/tmp/t/host/usr/local/bin/moat-runc"),
            sandbox_image: "moat.test/pause:1".into(),
            env: Vec::new(),
        };
        let c = config(&opts);
        assert!(c.contains("BinaryName = \"/tmp/t/moat-runc\""), "{c}");
        assert!(c.contains("[a.runtimes.moat-installed.options]\n  BinaryName = \"/tmp/t/host/usr/local/bin/moat-runc\""), "{c}");
        assert_eq!(c.matches("version = 2").count(), 1, "{c}");
        assert!(!c.contains(&format!("\"{DEPLOYED_BINARY}\"")), "{c}");
        let root = c.find("root = ").unwrap();
        let version = c.find("version = 2").unwrap();
        let first_table = c.find("\n[").unwrap();
        assert!(root < version && version < first_table, "{c}");
    }
}
