//! Installing moat on a node from a container that mounts the host's root (`moat node
//! install --root /host`): the binary and its `moat-runc` link, the node configuration and
//! its profiles, each replaced atomically, after the configuration passed the checks a
//! container start would make.
//!
//! [`install`] checks everything before it writes anything: the configuration parses, its
//! default profile and every profile compile (in each format the node may use, for the
//! running kernel), and the runtime it names exists under the root. Then it writes each file
//! under a temporary name beside its target and renames it into place: the binary first, then
//! the profiles, the configuration last (a running `moat-runc` sees either the old set or the
//! new one). A refusal leaves the root as it was. Profiles already on the node and not in the
//! new set stay.
//!
//! [`handler`] prints the runtime-handler registration for containerd 1.x, containerd 2.x or
//! CRI-O, pointing at the installed `moat-runc`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use serde_json::json;

use crate::node::{self, ConfigError, NodeConfig, PodPolicies};
use crate::{Bundle, Format, PROFILE_ANNOTATION, PlanError, RUNTIME_DIRS, Request};

/// Where the binary goes unless the installer is told otherwise.
pub const DEFAULT_BIN_DIR: &str = "/usr/local/bin";

/// The most profiles one installation copies.
const MAX_PROFILES: usize = 1000;

/// The largest binary copied (bytes).
const MAX_BINARY: u64 = 512 << 20;

/// The container engine whose runtime-handler registration [`handler`] prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Engine {
    /// containerd 1.6 and 1.7: config version 2, the `io.containerd.grpc.v1.cri` plugin.
    Containerd1,
    /// containerd 2.x: config version 3, the `io.containerd.cri.v1.runtime` plugin.
    Containerd2,
    /// CRI-O: a `[crio.runtime.runtimes.moat]` drop-in.
    CriO,
}

impl FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> Result<Engine, String> {
        match s {
            "containerd" | "containerd1" => Ok(Engine::Containerd1),
            "containerd2" => Ok(Engine::Containerd2),
            "cri-o" | "crio" => Ok(Engine::CriO),
            _ => Err(format!(
                "unknown engine {s:?} (expected containerd (1.x), containerd2 or cri-o)"
            )),
        }
    }
}

/// What to install, and where.
#[derive(Clone, Debug)]
pub struct Install {
    /// The host's root as the installer sees it (`/host`).
    pub root: PathBuf,
    /// Where the binary goes on the host (absolute, as the host sees it).
    pub bin_dir: PathBuf,
    /// The moat binary to copy (the installer's own).
    pub binary: PathBuf,
    /// The node configuration to install as `/etc/moat/runtime.toml` (`None`: keep the
    /// node's, and check against it).
    pub config: Option<PathBuf>,
    /// A directory whose `*.moat` files go into the configuration's `profile-dir`.
    pub profiles: Option<PathBuf>,
}

/// What an installation wrote, as the host sees the paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Installed {
    /// Each file written, and what it is.
    pub files: Vec<(PathBuf, String)>,
    /// What the checks found (the runtime's version and the format it takes).
    pub notes: Vec<String>,
    /// The configuration's warnings (deprecated keys), and checks that could not run.
    pub warnings: Vec<String>,
}

/// Why nothing was installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The root is not a directory.
    #[error("{}: the host's root is not a directory (mount it into the installer)", path.display())]
    Root {
        /// The root.
        path: PathBuf,
    },
    /// A host path is relative or has `..`.
    #[error("{}: {what} must be an absolute path without `.` or `..`", path.display())]
    HostPath {
        /// The path.
        path: PathBuf,
        /// Which setting.
        what: &'static str,
    },
    /// A file could not be read.
    #[error(transparent)]
    Read(#[from] moat_io::ReadError),
    /// The configuration does not parse.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The configuration names a runtime the host does not have.
    #[error(
        "{}: runtime = {:?} is not under {} ({}); every container would fail to start",
        config.display(),
        runtime.display(),
        root.display(),
        where_
    )]
    Runtime {
        /// The configuration file.
        config: PathBuf,
        /// The runtime it names.
        runtime: PathBuf,
        /// The root searched.
        root: PathBuf,
        /// Where it was looked for.
        where_: String,
    },
    /// The configuration's explicit format is one its runtime does not apply.
    #[error(
        "{}: format = \"{format}\" but the runtime {} says {version:?}: only crun built with +SECCOMP loads moat's program; every container would be refused",
        config.display(),
        runtime.display()
    )]
    Format {
        /// The configuration file.
        config: PathBuf,
        /// The format it names.
        format: Format,
        /// The runtime it names.
        runtime: PathBuf,
        /// The first line of the runtime's `--version`.
        version: String,
    },
    /// A profile file's name cannot be a profile name.
    #[error("{}: a profile's file name must be NAME.moat without spaces or quotes", path.display())]
    ProfileName {
        /// The file.
        path: PathBuf,
    },
    /// Too many profiles.
    #[error("{}: more than {MAX_PROFILES} profiles", dir.display())]
    TooManyProfiles {
        /// The directory.
        dir: PathBuf,
    },
    /// A profile does not parse.
    #[error(transparent)]
    Profile(moat_policy::ParseError),
    /// The configuration (or a profile) fails the check every container start makes.
    #[error("{}: refused: a container start would fail (format {format})", path.display())]
    Check {
        /// The configuration or profile file.
        path: PathBuf,
        /// The format checked.
        format: Format,
        /// Why.
        #[source]
        source: PlanError,
    },
    /// The system refused a write.
    #[error("{}: cannot write", path.display())]
    Io {
        /// The path (as the installer sees it).
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// `root` joined with the absolute host path `host`.
fn under(root: &Path, host: &Path) -> PathBuf {
    root.join(host.strip_prefix("/").unwrap_or(host))
}

fn check_host_path(path: &Path, what: &'static str) -> Result<(), InstallError> {
    let normal = path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if normal {
        Ok(())
    } else {
        Err(InstallError::HostPath {
            path: path.to_path_buf(),
            what,
        })
    }
}

/// True when `path` is there: an executable file, or a symbolic link (which may point at an
/// absolute path that only resolves on the host).
fn present(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::symlink_metadata(path).is_ok_and(|m| {
        m.file_type().is_symlink() || (m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// The most symbolic links followed resolving one path under the root (Linux's limit).
const MAX_LINKS: usize = 40;

/// `path` (under `root`) with every symbolic link resolved as the host would: an absolute
/// target starts again at `root`, `..` stops at `root`. `None` past [`MAX_LINKS`] or for a
/// path outside `root`.
fn resolve_under(root: &Path, path: &Path) -> Option<PathBuf> {
    let rel = path.strip_prefix(root).ok()?;
    let mut pending: Vec<std::ffi::OsString> = rel
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut cur = PathBuf::new();
    let mut links = 0;
    while let Some(c) = pending.pop() {
        if c == ".." {
            cur.pop();
            continue;
        }
        cur.push(&c);
        let full = root.join(&cur);
        if std::fs::symlink_metadata(&full).is_ok_and(|m| m.file_type().is_symlink()) {
            links += 1;
            if links > MAX_LINKS {
                return None;
            }
            let target = std::fs::read_link(&full).ok()?;
            cur.pop();
            if target.is_absolute() {
                cur = PathBuf::new();
            }
            for t in target.components().rev() {
                match t {
                    Component::Normal(n) => pending.push(n.to_os_string()),
                    Component::ParentDir => pending.push("..".into()),
                    _ => {}
                }
            }
        }
    }
    Some(root.join(cur))
}

/// Runs `program ARGS` and returns its standard output if it exits 0 within 5 seconds.
fn output_of(program: &Path, args: &[&std::ffi::OsStr]) -> Option<String> {
    use std::io::Read as _;
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    let mut out = String::new();
    child
        .stdout
        .take()?
        .take(64 * 1024)
        .read_to_string(&mut out)
        .ok()?;
    (status.success() && !out.is_empty()).then_some(out)
}

/// What `RUNTIME --version` prints, for the runtime at `runtime` under `root`: run as it is
/// (a static runtime, or an installer on the host itself), else through the host's dynamic
/// loader with the host's library directories (an installer's image has neither: with merged
/// /usr, the loader and libraries are under the mounted /usr). `None` when neither runs.
pub fn runtime_version(root: &Path, runtime: &Path) -> Option<String> {
    let version = std::ffi::OsStr::new("--version");
    if let Some(out) = output_of(runtime, &[version]) {
        return Some(out);
    }
    let binary = resolve_under(root, runtime)?;
    let existing = |paths: &[&str]| -> Vec<PathBuf> {
        paths
            .iter()
            .filter_map(|p| resolve_under(root, &root.join(p)))
            .filter(|p| p.exists())
            .collect()
    };
    let loaders = existing(&[
        "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        "usr/lib64/ld-linux-x86-64.so.2",
        "lib64/ld-linux-x86-64.so.2",
        "usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
        "usr/lib/ld-linux-aarch64.so.1",
        "lib/ld-linux-aarch64.so.1",
    ]);
    let libs = existing(&[
        "usr/lib/x86_64-linux-gnu",
        "lib/x86_64-linux-gnu",
        "usr/lib/aarch64-linux-gnu",
        "lib/aarch64-linux-gnu",
        "usr/lib64",
        "lib64",
        "usr/lib",
        "lib",
    ]);
    let libs = std::env::join_paths(&libs).ok()?;
    loaders.iter().find_map(|loader| {
        output_of(
            loader,
            &[
                std::ffi::OsStr::new("--library-path"),
                &libs,
                binary.as_os_str(),
                version,
            ],
        )
    })
}

/// The profiles in `dir`: `NAME.moat` files (symbolic links followed, as a ConfigMap volume
/// holds them), hidden entries skipped, in name order.
fn profiles(dir: &Path) -> Result<Vec<(String, PathBuf, String)>, InstallError> {
    let io = |source| {
        InstallError::Read(moat_io::ReadError::Io {
            path: dir.to_path_buf(),
            source,
        })
    };
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".moat") {
            continue;
        }
        let path = entry.path();
        if !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let stem = &name[..name.len() - ".moat".len()];
        if stem.is_empty()
            || !stem
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(InstallError::ProfileName { path });
        }
        if found.len() >= MAX_PROFILES {
            return Err(InstallError::TooManyProfiles {
                dir: dir.to_path_buf(),
            });
        }
        found.insert(name, path);
    }
    found
        .into_iter()
        .map(|(name, path)| {
            let text =
                moat_io::read_to_string(&path, moat_io::Limit::TEXT, moat_io::Source::Included)?;
            Ok((name, path, text))
        })
        .collect()
}

/// The bundle the checks plan for: a container that asks for nothing (or for `profile`).
fn check_bundle(profile: Option<&str>) -> Bundle {
    let annotations = profile.map_or_else(|| json!({}), |p| json!({ PROFILE_ANNOTATION: p }));
    Bundle {
        config_path: PathBuf::from("(installer check)/config.json"),
        config: json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["true"]},
            "linux": {},
            "annotations": annotations,
        }),
    }
}

/// The file a new temporary copy of `target` is written to.
fn temp_beside(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.moat-install-{}.tmp", std::process::id()))
}

/// Removes what an installation that was killed before its renames left beside `target`
/// (`.NAME.moat-install-PID.tmp` of any process id).
fn remove_stale_temps(target: &Path) {
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return;
    };
    let prefix = format!(".{}.moat-install-", name.to_string_lossy());
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let n = entry.file_name().to_string_lossy().into_owned();
        if n.starts_with(&prefix) && n.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// One file to put in place: its content (or a link target), mode and description.
struct Staged {
    target: PathBuf,
    host: PathBuf,
    what: String,
    content: Content,
}

enum Content {
    File { bytes: Vec<u8>, mode: u32 },
    Link(String),
}

/// Checks, then installs. See the module documentation for the order and guarantees.
///
/// # Errors
///
/// Any [`InstallError`]; before the first rename nothing under the root has changed except
/// directories created for the files (and those only once every check passed).
pub fn install(req: &Install) -> Result<Installed, InstallError> {
    if !std::fs::metadata(&req.root).is_ok_and(|m| m.is_dir()) {
        return Err(InstallError::Root {
            path: req.root.clone(),
        });
    }
    check_host_path(&req.bin_dir, "the binary's directory")?;
    let binary = moat_io::read(
        &req.binary,
        moat_io::Limit {
            bytes: MAX_BINARY,
            what: "the moat binary",
        },
        moat_io::Source::Included,
    )?;

    let mut warnings = Vec::new();
    let mut staged = vec![
        Staged {
            target: under(&req.root, &req.bin_dir.join("moat")),
            host: req.bin_dir.join("moat"),
            what: format!(
                "moat {} ({} bytes)",
                env!("CARGO_PKG_VERSION"),
                binary.len()
            ),
            content: Content::File {
                bytes: binary,
                mode: 0o755,
            },
        },
        Staged {
            target: under(&req.root, &req.bin_dir.join("moat-runc")),
            host: req.bin_dir.join("moat-runc"),
            what: "link to moat: the runtime binary containerd and CRI-O call".into(),
            content: Content::Link("moat".into()),
        },
    ];

    let (config, text, config_path) = match &req.config {
        Some(path) => {
            let text =
                moat_io::read_to_string(path, moat_io::Limit::TEXT, moat_io::Source::Included)?;
            let config = NodeConfig::parse(&text, &path.display().to_string())?;
            (config, Some(text), path.clone())
        }
        // The node keeps its configuration: the checks run against it (or the defaults).
        None => {
            let existing = under(&req.root, Path::new(node::DEFAULT_PATH));
            let config = if existing.exists() {
                NodeConfig::load(&existing)?
            } else {
                NodeConfig::default()
            };
            (config, None, existing)
        }
    };
    warnings.extend(config.warnings.iter().cloned());
    check_host_path(&config.profile_dir, "profile-dir")?;

    // The runtime must be on the host: absolute, under the root; a name, in the fixed
    // directories moat-runc searches when it runs without PATH (Podman's kill/delete).
    let runtime = config
        .runtime
        .clone()
        .unwrap_or_else(|| PathBuf::from("runc"));
    let candidates: Vec<PathBuf> = if runtime.is_absolute() {
        vec![under(&req.root, &runtime)]
    } else {
        RUNTIME_DIRS
            .iter()
            .map(|d| under(&req.root, &Path::new(d).join(&runtime)))
            .collect()
    };
    let Some(located) = candidates.iter().find(|c| present(c)) else {
        return Err(InstallError::Runtime {
            config: config_path,
            runtime,
            root: req.root.clone(),
            where_: if config.runtime.as_ref().is_some_and(|r| r.is_absolute()) {
                "not an executable file or a link".into()
            } else {
                format!("searched {}", RUNTIME_DIRS.join(", "))
            },
        });
    };
    // What the runtime says about itself decides the format, as at a container start; an
    // explicit format it does not apply is refused here as it would be there.
    let mut notes = Vec::new();
    let version = runtime_version(&req.root, located);
    let first = version
        .as_deref()
        .and_then(|v| v.lines().next())
        .unwrap_or("");
    let formats = match (config.format, version.as_deref()) {
        (Some(f), Some(v)) if !f.supported_by(v) => {
            return Err(InstallError::Format {
                config: config_path,
                format: f,
                runtime,
                version: first.to_string(),
            });
        }
        (Some(f), Some(_)) => vec![f],
        (None, Some(v)) => vec![Format::from_version(v).unwrap_or(Format::Oci)],
        (Some(f), None) => {
            warnings.push(format!(
                "cannot run {} --version from here: format = \"{f}\" is checked at each container start",
                runtime.display()
            ));
            vec![f]
        }
        (None, None) => {
            warnings.push(format!(
                "cannot run {} --version from here: checking both formats",
                runtime.display()
            ));
            vec![Format::Oci, Format::Bpf]
        }
    };
    if version.is_some() {
        notes.push(format!(
            "runtime {}: {first} (format {})",
            runtime.display(),
            formats[0]
        ));
    }

    // Profiles: each parses on its own (full messages: the node's own file), and is staged
    // for the configuration's profile directory.
    let profiles = match &req.profiles {
        Some(dir) => profiles(dir)?,
        None => Vec::new(),
    };
    for (name, path, text) in &profiles {
        moat_policy::Policy::compose(&[moat_policy::Source::File(path.clone())])
            .map_err(InstallError::Profile)?;
        let host = config.profile_dir.join(name);
        staged.push(Staged {
            target: under(&req.root, &host),
            host,
            what: "profile".into(),
            content: Content::File {
                bytes: text.clone().into_bytes(),
                mode: 0o644,
            },
        });
    }

    // The checks a container start makes, against the new profiles: the default (with the
    // node's enforce rules), and every profile a pod may name, in each format the node may
    // hand to its runtime.
    let mut check = config.clone();
    let map = |p: &Path| -> PathBuf {
        match (&req.profiles, p.strip_prefix(&config.profile_dir)) {
            (Some(src), Ok(rest)) => src.join(rest),
            _ => under(&req.root, p),
        }
    };
    check.profile_dir = map(&config.profile_dir);
    if Path::new(&config.default_profile).is_absolute() {
        check.default_profile = map(Path::new(&config.default_profile))
            .display()
            .to_string();
    }
    let req_plan = |format| Request {
        format,
        kernel: crate::running_kernel(),
    };
    for &format in &formats {
        crate::plan(&check_bundle(None), &check, &req_plan(format)).map_err(|source| {
            InstallError::Check {
                path: config_path.clone(),
                format,
                source,
            }
        })?;
        let mut any = check.clone();
        any.pod_policies = PodPolicies::Any;
        for (name, path, _) in &profiles {
            crate::plan(&check_bundle(Some(name)), &any, &req_plan(format)).map_err(|source| {
                InstallError::Check {
                    path: path.clone(),
                    format,
                    source,
                }
            })?;
        }
    }

    if let Some(text) = text {
        let host = PathBuf::from(node::DEFAULT_PATH);
        staged.push(Staged {
            target: under(&req.root, &host),
            host,
            what: format!(
                "node configuration: default-profile {}, pod-policies {}, {} enforce rule(s)",
                config.default_profile,
                config.pod_policies.name(),
                config.enforce.len()
            ),
            content: Content::File {
                bytes: text.into_bytes(),
                mode: 0o644,
            },
        });
    }

    commit(&staged)?;
    Ok(Installed {
        files: staged.into_iter().map(|s| (s.host, s.what)).collect(),
        notes,
        warnings,
    })
}

/// Writes every staged file under its temporary name, then renames each into place; on an
/// error before the renames, every temporary file is removed.
fn commit(staged: &[Staged]) -> Result<(), InstallError> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InstallError::Io { path, source }
    };
    let mut temps = Vec::new();
    let written = (|| {
        for s in staged {
            let dir = s.target.parent().unwrap_or(Path::new("/"));
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            remove_stale_temps(&s.target);
            let tmp = temp_beside(&s.target);
            temps.push(tmp.clone());
            match &s.content {
                Content::File { bytes, mode } => {
                    let mut f = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(*mode)
                        .open(&tmp)
                        .map_err(io(&tmp))?;
                    f.write_all(bytes).map_err(io(&tmp))?;
                    // The umask does not narrow what the node needs (0755 for the binary).
                    f.set_permissions(std::fs::Permissions::from_mode(*mode))
                        .map_err(io(&tmp))?;
                    f.sync_all().map_err(io(&tmp))?;
                }
                Content::Link(target) => {
                    std::os::unix::fs::symlink(target, &tmp).map_err(io(&tmp))?;
                }
            }
        }
        Ok(())
    })();
    if let Err(e) = written {
        for t in &temps {
            let _ = std::fs::remove_file(t);
        }
        return Err(e);
    }
    for (s, tmp) in staged.iter().zip(&temps) {
        std::fs::rename(tmp, &s.target).map_err(io(&s.target))?;
        if let Some(dir) = s.target.parent()
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// The registration of a `moat` runtime handler whose binary is `runc` (the installed
/// `moat-runc`, as the host sees it), for `engine`; `systemd_cgroup` when the node's kubelet
/// uses the systemd cgroup driver (containerd's `SystemdCgroup`; CRI-O takes its
/// `cgroup_manager` for every runtime).
#[must_use]
pub fn handler(engine: Engine, runc: &Path, systemd_cgroup: bool) -> String {
    let mut s = String::new();
    let bin = runc.display();
    // Stated either way: `true` on a node without systemd as init fails every pod at
    // RunPodSandbox (runc: `expected cgroupsPath to be of format "slice:prefix:name"`).
    let systemd = format!("  SystemdCgroup = {systemd_cgroup}\n");
    match engine {
        Engine::Containerd1 => {
            let _ = write!(
                s,
                "# containerd 1.6/1.7 (config version 2): merge into /etc/containerd/config.toml, then restart containerd.\n\
                 [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.moat]\n\
                 \x20 runtime_type = \"io.containerd.runc.v2\"\n\
                 \x20 pod_annotations = [\"moat.dev/*\"]\n\
                 \x20 container_annotations = [\"moat.dev/*\"]\n\
                 \n\
                 [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.moat.options]\n\
                 \x20 BinaryName = \"{bin}\"\n{systemd}"
            );
        }
        Engine::Containerd2 => {
            let _ = write!(
                s,
                "# containerd 2.x (config version 3): merge into /etc/containerd/config.toml, then restart containerd.\n\
                 [plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.moat]\n\
                 \x20 runtime_type = \"io.containerd.runc.v2\"\n\
                 \x20 pod_annotations = [\"moat.dev/*\"]\n\
                 \x20 container_annotations = [\"moat.dev/*\"]\n\
                 \n\
                 [plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.moat.options]\n\
                 \x20 BinaryName = \"{bin}\"\n{systemd}"
            );
        }
        Engine::CriO => {
            let _ = write!(
                s,
                "# CRI-O: save as /etc/crio/crio.conf.d/50-moat.conf, then restart CRI-O.\n\
                 [crio.runtime.runtimes.moat]\n\
                 runtime_path = \"{bin}\"\n\
                 runtime_type = \"oci\"\n\
                 runtime_root = \"/run/moat-runc\"\n"
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn engines_parse_and_snippets_are_valid_toml_naming_the_binary() {
        for (name, engine, key) in [
            (
                "containerd",
                Engine::Containerd1,
                "io.containerd.grpc.v1.cri",
            ),
            (
                "containerd2",
                Engine::Containerd2,
                "io.containerd.cri.v1.runtime",
            ),
            ("cri-o", Engine::CriO, "crio"),
        ] {
            assert_eq!(name.parse::<Engine>().unwrap(), engine);
            let text = handler(engine, Path::new("/opt/bin/moat-runc"), true);
            let v: toml::Table = toml::from_str(&text).unwrap();
            let runtime = if engine == Engine::CriO {
                &v["crio"]["runtime"]["runtimes"]["moat"]
            } else {
                &v["plugins"][key]["containerd"]["runtimes"]["moat"]
            };
            if engine == Engine::CriO {
                assert_eq!(runtime["runtime_path"].as_str(), Some("/opt/bin/moat-runc"));
            } else {
                assert_eq!(
                    runtime["runtime_type"].as_str(),
                    Some("io.containerd.runc.v2")
                );
                assert_eq!(
                    runtime["options"]["BinaryName"].as_str(),
                    Some("/opt/bin/moat-runc")
                );
                assert_eq!(runtime["options"]["SystemdCgroup"].as_bool(), Some(true));
                assert_eq!(runtime["pod_annotations"][0].as_str(), Some("moat.dev/*"));
                let plain = handler(engine, Path::new("/opt/bin/moat-runc"), false);
                assert!(plain.contains("SystemdCgroup = false\n"), "{plain}");
            }
        }
        assert!("docker".parse::<Engine>().is_err());
    }

    #[test]
    fn host_paths_must_be_absolute_and_normal() {
        assert!(check_host_path(Path::new("/usr/local/bin"), "x").is_ok());
        for p in ["usr/bin", "/usr/../etc", "./usr"] {
            assert!(check_host_path(Path::new(p), "x").is_err(), "{p}");
        }
        assert_eq!(
            under(Path::new("/host"), Path::new("/etc/moat")),
            Path::new("/host/etc/moat")
        );
    }

    /// A host root with runc where moat-runc looks for it, and a ConfigMap-like directory.
    struct Node {
        dir: PathBuf,
    }

    impl Drop for Node {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    impl Node {
        fn new(name: &str) -> Node {
            let dir =
                std::env::temp_dir().join(format!("moat-install-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("host/usr/sbin")).unwrap();
            std::fs::create_dir_all(dir.join("config")).unwrap();
            // A link as a node has it; its target need not resolve from the installer.
            std::os::unix::fs::symlink("/usr/sbin/runc", dir.join("host/usr/sbin/runc")).unwrap();
            std::fs::write(dir.join("moat"), b"\x7fELF the moat binary").unwrap();
            Node { dir }
        }

        fn host(&self) -> PathBuf {
            self.dir.join("host")
        }

        fn config(&self, name: &str, text: &str) {
            std::fs::write(self.dir.join("config").join(name), text).unwrap();
        }

        fn request(&self) -> Install {
            Install {
                root: self.host(),
                bin_dir: PathBuf::from(DEFAULT_BIN_DIR),
                binary: self.dir.join("moat"),
                config: Some(self.dir.join("config/runtime.toml")),
                profiles: Some(self.dir.join("config")),
            }
        }

        /// Every path under the host root with its kind and content.
        fn snapshot(&self) -> Vec<(PathBuf, String)> {
            fn walk(d: &Path, out: &mut Vec<(PathBuf, String)>) {
                let mut entries: Vec<_> = std::fs::read_dir(d)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect();
                entries.sort();
                for p in entries {
                    let m = std::fs::symlink_metadata(&p).unwrap();
                    if m.is_symlink() {
                        out.push((
                            p.clone(),
                            format!("-> {}", std::fs::read_link(&p).unwrap().display()),
                        ));
                    } else if m.is_dir() {
                        out.push((p.clone(), "dir".into()));
                        walk(&p, out);
                    } else {
                        out.push((
                            p.clone(),
                            String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned(),
                        ));
                    }
                }
            }
            let mut out = Vec::new();
            walk(&self.host(), &mut out);
            out
        }
    }

    const WEB: &str = "use container\ndeny socket if domain == AF_PACKET\n";

    #[test]
    fn installs_the_binary_link_configuration_and_profiles() {
        use std::os::unix::fs::PermissionsExt as _;
        let node = Node::new("ok");
        let config = "default-profile = \"web\"\nenforce = [\"deny socket if domain == AF_ALG\"]\nruntime = \"/usr/sbin/runc\"\n";
        node.config("runtime.toml", config);
        node.config("web.moat", WEB);
        node.config("README", "not a profile");
        // A ConfigMap volume's layout: each key a link into a hidden timestamped directory.
        let cm = node.dir.join("config");
        std::fs::create_dir_all(cm.join("..2026_12_03_07_00_00.1")).unwrap();
        std::fs::write(
            cm.join("..2026_12_03_07_00_00.1/db.moat"),
            "use container\n",
        )
        .unwrap();
        std::fs::write(cm.join("..2026_12_03_07_00_00.1/hidden.moat"), "bad\n").unwrap();
        std::os::unix::fs::symlink("..2026_12_03_07_00_00.1", cm.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/db.moat", cm.join("db.moat")).unwrap();
        let installed = install(&node.request()).unwrap();
        let host = node.host();
        let bin = host.join("usr/local/bin/moat");
        assert_eq!(std::fs::read(&bin).unwrap(), b"\x7fELF the moat binary");
        assert_eq!(
            std::fs::metadata(&bin).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(
            std::fs::read_link(host.join("usr/local/bin/moat-runc")).unwrap(),
            Path::new("moat")
        );
        assert_eq!(
            std::fs::read_to_string(host.join("etc/moat/runtime.toml")).unwrap(),
            config
        );
        assert_eq!(
            std::fs::read_to_string(host.join("etc/moat/profiles/web.moat")).unwrap(),
            WEB
        );
        assert!(!host.join("etc/moat/profiles/README").exists());
        assert_eq!(
            std::fs::read_to_string(host.join("etc/moat/profiles/db.moat")).unwrap(),
            "use container\n"
        );
        assert!(!host.join("etc/moat/profiles/hidden.moat").exists());
        let hosts: Vec<_> = installed
            .files
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        assert_eq!(
            hosts,
            [
                "/usr/local/bin/moat",
                "/usr/local/bin/moat-runc",
                "/etc/moat/profiles/db.moat",
                "/etc/moat/profiles/web.moat",
                "/etc/moat/runtime.toml"
            ]
        );
        // What was installed is what moat-runc reads: the configuration and its profile.
        let read = NodeConfig::load(&host.join("etc/moat/runtime.toml")).unwrap();
        assert_eq!(read.default_profile, "web");
        // Again, after an installation killed before its renames: replaced in place, and no
        // temporary file left, the dead one's included.
        let stale = host.join("usr/local/bin/.moat.moat-install-4194304.tmp");
        let before = node.snapshot();
        std::fs::write(&stale, b"half a binary").unwrap();
        install(&node.request()).unwrap();
        assert_eq!(node.snapshot(), before);
        assert!(
            !before
                .iter()
                .any(|(p, _)| p.to_string_lossy().contains(".tmp"))
        );
    }

    #[test]
    fn a_bad_configuration_leaves_the_host_untouched() {
        let node = Node::new("bad");
        // An installation that worked, then a series of broken updates.
        node.config("runtime.toml", "default-profile = \"web\"\n");
        node.config("web.moat", WEB);
        install(&node.request()).unwrap();
        let before = node.snapshot();
        let cases: [(&str, &str, &str); 5] = [
            (
                "default-profile = \"web\"\npod-policy = \"any\"\n",
                WEB,
                "runtime.toml:2:1: unknown field `pod-policy`",
            ),
            (
                "default-profile = \"web\"\n",
                "use container\ndeny sockett\n",
                "web.moat:2:",
            ),
            ("default-profile = \"nope\"\n", WEB, "default-profile"),
            (
                "enforce = [\"deny socket if domian == 1\"]\n",
                WEB,
                "enforce",
            ),
            (
                "runtime = \"/usr/bin/crun\"\n",
                WEB,
                "runtime = \"/usr/bin/crun\" is not under",
            ),
        ];
        for (config, web, expect) in cases {
            node.config("runtime.toml", config);
            node.config("web.moat", web);
            let e = install(&node.request()).unwrap_err();
            let chain = {
                let mut s = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(c) = src {
                    s.push_str(&format!(": {c}"));
                    src = c.source();
                }
                s
            };
            assert!(chain.contains(expect), "{config}: {chain}");
            assert_eq!(node.snapshot(), before, "{config}");
        }
    }

    #[test]
    fn without_a_configuration_the_nodes_own_is_kept_and_checked() {
        let node = Node::new("keep");
        node.config("runtime.toml", "runtime = \"/usr/sbin/runc\"\n");
        install(&node.request()).unwrap();
        let mut req = node.request();
        req.config = None;
        req.profiles = None;
        let files = install(&req).unwrap().files;
        assert_eq!(files.len(), 2, "{files:?}");
        // The kept configuration names a runtime the node no longer has: refused.
        std::fs::remove_file(node.host().join("usr/sbin/runc")).unwrap();
        let before = node.snapshot();
        let e = install(&req).unwrap_err();
        assert!(matches!(e, InstallError::Runtime { .. }), "{e}");
        assert_eq!(node.snapshot(), before);
    }

    #[test]
    fn the_runtimes_version_decides_the_format_as_at_a_container_start() {
        let node = Node::new("format");
        std::fs::create_dir_all(node.host().join("usr/bin")).unwrap();
        std::os::unix::fs::symlink("/usr/bin/crun", node.host().join("usr/bin/crun")).unwrap();
        node.config(
            "runtime.toml",
            "runtime = \"/usr/bin/crun\"\nformat = \"bpf\"\n",
        );
        let done = install(&node.request()).unwrap();
        assert!(
            done.notes
                .iter()
                .any(|n| n.starts_with("runtime /usr/bin/crun: crun version")
                    && n.ends_with("(format bpf)")),
            "{:?}",
            done.notes
        );
        let before = node.snapshot();
        node.config(
            "runtime.toml",
            "runtime = \"/usr/sbin/runc\"\nformat = \"bpf\"\n",
        );
        let e = install(&node.request()).unwrap_err();
        assert!(matches!(e, InstallError::Format { .. }), "{e}");
        assert!(e.to_string().contains("says \"runc version"), "{e}");
        assert_eq!(node.snapshot(), before);
        node.config("runtime.toml", "runtime = \"runc\"\n");
        let done = install(&node.request()).unwrap();
        assert!(
            done.notes.iter().any(|n| n.ends_with("(format oci)")),
            "{:?}",
            done.notes
        );
    }

    #[test]
    fn a_runtime_that_cannot_run_from_the_installer_is_a_warning_and_both_formats_are_checked() {
        use std::os::unix::fs::PermissionsExt as _;
        let node = Node::new("norun");
        let crun = node.host().join("usr/bin/crun");
        std::fs::create_dir_all(crun.parent().unwrap()).unwrap();
        // An executable the kernel cannot run here (no loader, no libraries under the root).
        std::fs::write(&crun, b"\x7fELF not for this machine").unwrap();
        std::fs::set_permissions(&crun, std::fs::Permissions::from_mode(0o755)).unwrap();
        node.config("runtime.toml", "runtime = \"/usr/bin/crun\"\n");
        let done = install(&node.request()).unwrap();
        assert!(done.notes.is_empty(), "{:?}", done.notes);
        assert_eq!(
            done.warnings,
            ["cannot run /usr/bin/crun --version from here: checking both formats"]
        );
    }

    #[test]
    fn links_resolve_under_the_root_as_on_the_host() {
        let node = Node::new("links");
        let host = node.host();
        std::fs::create_dir_all(host.join("usr/lib/x86_64-linux-gnu")).unwrap();
        std::fs::write(host.join("usr/lib/x86_64-linux-gnu/ld.so"), b"").unwrap();
        std::os::unix::fs::symlink("usr/lib", host.join("lib")).unwrap();
        std::fs::create_dir_all(host.join("usr/lib64")).unwrap();
        std::os::unix::fs::symlink("/lib/x86_64-linux-gnu/ld.so", host.join("usr/lib64/ld.so"))
            .unwrap();
        assert_eq!(
            resolve_under(&host, &host.join("usr/lib64/ld.so")),
            Some(host.join("usr/lib/x86_64-linux-gnu/ld.so"))
        );
        // `..` stops at the root.
        std::os::unix::fs::symlink("../../../../../lib", host.join("usr/up")).unwrap();
        assert_eq!(
            resolve_under(&host, &host.join("usr/up/x86_64-linux-gnu/ld.so")),
            Some(host.join("usr/lib/x86_64-linux-gnu/ld.so"))
        );
        // A loop ends.
        std::os::unix::fs::symlink("/loop", host.join("loop")).unwrap();
        assert_eq!(resolve_under(&host, &host.join("loop")), None);
    }

    #[test]
    fn a_first_installation_that_is_refused_creates_nothing() {
        let node = Node::new("fresh");
        node.config("runtime.toml", "pod-policies = \"loose\"\n");
        let before = node.snapshot();
        assert!(matches!(
            install(&node.request()),
            Err(InstallError::Config(_))
        ));
        assert_eq!(node.snapshot(), before);
        let mut req = node.request();
        req.root = node.dir.join("missing");
        assert!(matches!(install(&req), Err(InstallError::Root { .. })));
        let mut req = node.request();
        req.bin_dir = PathBuf::from("usr/bin");
        assert!(matches!(install(&req), Err(InstallError::HostPath { .. })));
        node.config("runtime.toml", "");
        node.config("bad name.moat", WEB);
        assert!(matches!(
            install(&node.request()),
            Err(InstallError::ProfileName { .. })
        ));
        assert_eq!(node.snapshot(), before);
    }
}
