//! The per-node configuration: `/etc/moat/runtime.toml`.
//!
//! ```toml
//! # the policy a container gets when it asks for none, and the baseline pods are held to
//! # (a built-in name or a moat file); default: container
//! default-profile = "container"
//! # how a pod's own seccomp (annotation or kubelet seccompProfile) meets the default:
//! # "subset" (default): refused unless proved never looser than the default
//! # "intersect": the container runs exactly pod ∩ default
//! # "any": the pod's policy runs as written (explicit opt-in to loosening)
//! pod-policies = "subset"
//! # statements applied after every policy (pod, kubelet or default); no pod can override them
//! enforce = ["deny socket if domain == AF_ALG"]
//! # where `moat.dev/profile: NAME` looks for NAME (NAME.moat or NAME)
//! profile-dir = "/etc/moat/profiles"
//! # the real runtime and how the filter is handed to it ("auto": from the runtime's version)
//! runtime = "/usr/bin/crun"
//! format = "auto"
//! # the work one container may cost the node: the proof's wall time and memory
//! proof-seconds = 2.0
//! proof-memory-mib = 256
//! ```
//!
//! A node without the file gets the defaults: `container` for every container, pods held to
//! it with `subset`. The old key `allow-pod-policies` still works (`true` is `"any"`, `false`
//! is `"subset"`) and leaves a warning in [`NodeConfig::warnings`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::Format;

/// Where the node configuration lives unless an override names another file.
pub const DEFAULT_PATH: &str = "/etc/moat/runtime.toml";

/// Where `moat.dev/profile` names are looked up unless the configuration says otherwise.
pub const DEFAULT_PROFILE_DIR: &str = "/etc/moat/profiles";

/// The default profile when the configuration names none.
pub const DEFAULT_PROFILE: &str = "container";

/// The proof's default wall-time budget per container.
pub const DEFAULT_PROOF_TIME: Duration = Duration::from_secs(2);

/// The proof's default memory budget per container (bytes).
pub const DEFAULT_PROOF_MEMORY: u64 = 256 << 20;

/// How a pod's own seccomp (annotation or kubelet `seccompProfile`) meets the node default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PodPolicies {
    /// Refused unless proved never looser than the default (with a counterexample otherwise).
    Subset,
    /// The container runs exactly the pod's policy intersected with the default, computed in
    /// moat's language and proved no looser than either.
    Intersect,
    /// The pod's policy runs as written: the node opts in to loosening.
    Any,
}

impl PodPolicies {
    /// `subset`, `intersect` or `any`.
    pub fn name(self) -> &'static str {
        match self {
            PodPolicies::Subset => "subset",
            PodPolicies::Intersect => "intersect",
            PodPolicies::Any => "any",
        }
    }
}

/// The per-node settings.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeConfig {
    /// The policy a container gets when it asks for none, and the baseline of
    /// [`NodeConfig::pod_policies`]: a built-in profile name, or a moat file (absolute, or
    /// relative to [`NodeConfig::profile_dir`]).
    pub default_profile: String,
    /// How a pod's own seccomp meets the default.
    pub pod_policies: PodPolicies,
    /// Statements applied after every policy, one per entry, with the 1-based line each entry
    /// starts on in the file (0 when not read from a file).
    pub enforce: Vec<(String, usize)>,
    /// The directory `moat.dev/profile` names are resolved in.
    pub profile_dir: PathBuf,
    /// The real runtime (a path, or a name looked up on `PATH`).
    pub runtime: Option<PathBuf>,
    /// How the filter reaches the runtime; `None`: from what the runtime says it supports.
    pub format: Option<Format>,
    /// The proof's wall-time budget per container.
    pub proof_time: Duration,
    /// The proof's memory budget per container, in bytes.
    pub proof_memory: u64,
    /// Where the configuration was read from (`None`: built-in defaults).
    pub path: Option<String>,
    /// Deprecated keys and similar, one line each.
    pub warnings: Vec<String>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            default_profile: DEFAULT_PROFILE.to_string(),
            pod_policies: PodPolicies::Subset,
            enforce: Vec::new(),
            profile_dir: PathBuf::from(DEFAULT_PROFILE_DIR),
            runtime: None,
            format: None,
            proof_time: DEFAULT_PROOF_TIME,
            proof_memory: DEFAULT_PROOF_MEMORY,
            path: None,
            warnings: Vec::new(),
        }
    }
}

/// Why the node configuration could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The system's message.
        message: String,
    },
    /// The file is not valid TOML or has an unknown key or a wrong value.
    #[error("{path}:{line}:{col}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    default_profile: Option<String>,
    pod_policies: Option<String>,
    allow_pod_policies: Option<bool>,
    enforce: Option<Vec<toml::Spanned<String>>>,
    profile_dir: Option<PathBuf>,
    runtime: Option<PathBuf>,
    format: Option<String>,
    proof_seconds: Option<f64>,
    proof_memory_mib: Option<u64>,
}

/// The largest configuration file read (bytes): a node file, but bounded all the same.
const MAX_CONFIG: u64 = 1 << 20;

impl NodeConfig {
    /// Parses the configuration text; `path` names it in messages.
    pub fn parse(text: &str, path: &str) -> Result<NodeConfig, ConfigError> {
        let invalid = |span: Option<std::ops::Range<usize>>, message: String| {
            let (line, col) = line_col(text, span.map_or(0, |s| s.start));
            ConfigError::Invalid {
                path: path.to_string(),
                line,
                col,
                message,
            }
        };
        let at = |key: &str| {
            let i = text.find(key).unwrap_or(0);
            Some(i..i)
        };
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let message = e.message().trim_end_matches('\n').replace('\n', "; ");
            invalid(e.span(), message)
        })?;
        let format = match raw.format.as_deref() {
            None | Some("auto") => None,
            Some(f) => Some(f.parse::<Format>().map_err(|m| invalid(at("format"), m))?),
        };
        if raw.default_profile.as_deref() == Some("") {
            return Err(invalid(
                at("default-profile"),
                format!("default-profile is empty (remove the key for `{DEFAULT_PROFILE}`)"),
            ));
        }
        let mut warnings = Vec::new();
        let pod_policies = match (raw.pod_policies.as_deref(), raw.allow_pod_policies) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    at("allow-pod-policies"),
                    "allow-pod-policies and pod-policies both set: keep only pod-policies".into(),
                ));
            }
            (Some("subset"), None) => PodPolicies::Subset,
            (Some("intersect"), None) => PodPolicies::Intersect,
            (Some("any"), None) => PodPolicies::Any,
            (Some(other), None) => {
                return Err(invalid(
                    at("pod-policies"),
                    format!(
                        "pod-policies = {other:?}: expected \"subset\", \"intersect\" or \"any\""
                    ),
                ));
            }
            (None, Some(allow)) => {
                let (mode, name) = if allow {
                    (PodPolicies::Any, "any")
                } else {
                    (PodPolicies::Subset, "subset")
                };
                let (line, _) = line_col(text, text.find("allow-pod-policies").unwrap_or(0));
                warnings.push(format!(
                    "{path}:{line}: allow-pod-policies is deprecated; write pod-policies = \"{name}\""
                ));
                mode
            }
            (None, None) => PodPolicies::Subset,
        };
        let enforce = raw
            .enforce
            .unwrap_or_default()
            .into_iter()
            .map(|s| {
                let (line, _) = line_col(text, s.span().start);
                (s.into_inner(), line)
            })
            .collect();
        let proof_time = match raw.proof_seconds {
            None => DEFAULT_PROOF_TIME,
            Some(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => Duration::from_secs_f64(s),
            Some(s) => {
                return Err(invalid(
                    at("proof-seconds"),
                    format!("proof-seconds = {s}: expected a number of seconds in (0, 3600]"),
                ));
            }
        };
        let proof_memory = match raw.proof_memory_mib {
            None => DEFAULT_PROOF_MEMORY,
            Some(m) if (16..=65536).contains(&m) => m << 20,
            Some(m) => {
                return Err(invalid(
                    at("proof-memory-mib"),
                    format!("proof-memory-mib = {m}: expected 16 to 65536"),
                ));
            }
        };
        Ok(NodeConfig {
            default_profile: raw
                .default_profile
                .unwrap_or_else(|| DEFAULT_PROFILE.to_string()),
            pod_policies,
            enforce,
            profile_dir: raw
                .profile_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_PROFILE_DIR)),
            runtime: raw.runtime,
            format,
            proof_time,
            proof_memory,
            path: Some(path.to_string()),
            warnings,
        })
    }

    /// Reads the configuration file (at most 1 MiB; not a directory, FIFO or socket).
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        use std::io::Read as _;
        let shown = path.display().to_string();
        let io = |message: String| ConfigError::Io {
            path: shown.clone(),
            message,
        };
        let file = std::fs::File::open(path).map_err(|e| io(e.to_string()))?;
        let meta = file.metadata().map_err(|e| io(e.to_string()))?;
        // A regular file (or a device such as /dev/null for "no settings"); a directory or a
        // FIFO would fail or block.
        {
            use std::os::unix::fs::FileTypeExt as _;
            let t = meta.file_type();
            if t.is_dir() || t.is_fifo() || t.is_socket() {
                return Err(io("not a regular file".into()));
            }
        }
        let mut bytes = Vec::new();
        file.take(MAX_CONFIG + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io(e.to_string()))?;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_CONFIG {
            return Err(io(format!("larger than {MAX_CONFIG} bytes")));
        }
        let text = String::from_utf8(bytes).map_err(|_| io("not valid UTF-8".into()))?;
        NodeConfig::parse(&text, &shown)
    }

    /// Reads [`DEFAULT_PATH`] if it exists; the defaults (`container`, `subset`) if it does not.
    pub fn load_default() -> Result<NodeConfig, ConfigError> {
        let path = Path::new(DEFAULT_PATH);
        if path.exists() {
            NodeConfig::load(path)
        } else {
            Ok(NodeConfig::default())
        }
    }

    /// The name `enforce` statements carry as their origin in messages.
    pub fn enforce_origin(&self) -> String {
        format!("{} enforce", self.path.as_deref().unwrap_or("runtime.toml"))
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_configuration_fails_closed() {
        // Regression (issue 13): no runtime.toml meant no filter at all.
        let d = NodeConfig::default();
        assert_eq!(d.default_profile, "container");
        assert_eq!(d.pod_policies, PodPolicies::Subset);
        let e = NodeConfig::parse("", "t").unwrap();
        assert_eq!(e.default_profile, "container");
        assert_eq!(e.pod_policies, PodPolicies::Subset);
        assert!(e.warnings.is_empty());
    }

    #[test]
    fn every_key() {
        let c = NodeConfig::parse(
            "default-profile = \"strict\"\npod-policies = \"intersect\"\nenforce = [\n  \"deny socket if domain == AF_ALG\",\n  \"deny bpf\",\n]\nprofile-dir = \"/p\"\nruntime = \"/usr/bin/crun\"\nformat = \"bpf\"\nproof-seconds = 0.5\nproof-memory-mib = 64\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.default_profile, "strict");
        assert_eq!(c.pod_policies, PodPolicies::Intersect);
        assert_eq!(
            c.enforce,
            vec![
                ("deny socket if domain == AF_ALG".to_string(), 4),
                ("deny bpf".to_string(), 5)
            ]
        );
        assert_eq!(c.profile_dir, PathBuf::from("/p"));
        assert_eq!(c.runtime, Some(PathBuf::from("/usr/bin/crun")));
        assert_eq!(c.format, Some(Format::Bpf));
        assert_eq!(c.proof_time, Duration::from_millis(500));
        assert_eq!(c.proof_memory, 64 << 20);
    }

    #[test]
    fn the_old_key_still_works_with_a_warning() {
        let c = NodeConfig::parse("allow-pod-policies = false\n", "rt.toml").unwrap();
        assert_eq!(c.pod_policies, PodPolicies::Subset);
        assert_eq!(
            c.warnings,
            ["rt.toml:1: allow-pod-policies is deprecated; write pod-policies = \"subset\""]
        );
        let c = NodeConfig::parse("allow-pod-policies = true\n", "rt.toml").unwrap();
        assert_eq!(c.pod_policies, PodPolicies::Any);
        let e = NodeConfig::parse(
            "pod-policies = \"any\"\nallow-pod-policies = true\n",
            "rt.toml",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("rt.toml:2:1: "), "{e}");
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let e = NodeConfig::parse("pod-policies = \"subset\"\nallow-pods = false\n", "rt.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("rt.toml:2:1: unknown field `allow-pods`"),
            "{e}"
        );
    }

    #[test]
    fn wrong_values_are_errors() {
        let e = NodeConfig::parse("allow-pod-policies = \"no\"\n", "rt.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("rt.toml:1:22:"), "{e}");
        let e = NodeConfig::parse("format = \"ebpf\"\n", "rt.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown format \"ebpf\""), "{e}");
        assert!(NodeConfig::parse("default-profile = \"\"\n", "rt.toml").is_err());
        let e = NodeConfig::parse("pod-policies = \"loose\"\n", "rt.toml").unwrap_err();
        assert!(
            e.to_string().starts_with("rt.toml:1:1: pod-policies"),
            "{e}"
        );
        assert!(NodeConfig::parse("proof-seconds = 0\n", "rt.toml").is_err());
        assert!(NodeConfig::parse("proof-memory-mib = 1\n", "rt.toml").is_err());
        assert!(NodeConfig::parse("enforce = \"deny bpf\"\n", "rt.toml").is_err());
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let e = NodeConfig::load(Path::new("/nonexistent/moat/runtime.toml")).unwrap_err();
        assert!(matches!(e, ConfigError::Io { .. }));
        let e = NodeConfig::load(Path::new("/tmp")).unwrap_err();
        assert!(e.to_string().ends_with("not a regular file"), "{e}");
    }
}
