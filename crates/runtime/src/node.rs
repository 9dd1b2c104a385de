//! The per-node configuration: `/etc/moat/runtime.toml`.
//!
//! ```toml
//! # the policy a container gets when it asks for none (a built-in name or a moat file)
//! default-profile = "container"
//! # false: a pod's policy is read after the default and must be provably no looser
//! allow-pod-policies = false
//! # where `moat.dev/profile: NAME` looks for NAME (NAME.moat or NAME)
//! profile-dir = "/etc/moat/profiles"
//! # the real runtime and how the filter is handed to it
//! runtime = "/usr/bin/crun"
//! format = "bpf"
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Format;

/// Where the node configuration lives unless an override names another file.
pub const DEFAULT_PATH: &str = "/etc/moat/runtime.toml";

/// Where `moat.dev/profile` names are looked up unless the configuration says otherwise.
pub const DEFAULT_PROFILE_DIR: &str = "/etc/moat/profiles";

/// The per-node settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// The policy applied to a container that asks for none (no moat annotation and no
    /// `linux.seccomp` section): a built-in profile name, or a moat file (absolute, or relative
    /// to [`NodeConfig::profile_dir`]). `None`: such containers pass through unchanged.
    pub default_profile: Option<String>,
    /// `false`: a pod's policy is read after the node default (as if it began with `use
    /// DEFAULT`) and refused unless it is provably never more permissive than the default.
    pub allow_pod_policies: bool,
    /// The directory `moat.dev/profile` names are resolved in.
    pub profile_dir: PathBuf,
    /// The real runtime (a path, or a name looked up on `PATH`).
    pub runtime: Option<PathBuf>,
    /// How the filter reaches the runtime; `None`: from the runtime's name.
    pub format: Option<Format>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            default_profile: None,
            allow_pod_policies: true,
            profile_dir: PathBuf::from(DEFAULT_PROFILE_DIR),
            runtime: None,
            format: None,
        }
    }
}

/// Why the node configuration could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
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
    allow_pod_policies: Option<bool>,
    profile_dir: Option<PathBuf>,
    runtime: Option<PathBuf>,
    format: Option<String>,
}

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
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let message = e.message().trim_end_matches('\n').replace('\n', "; ");
            invalid(e.span(), message)
        })?;
        let format = match raw.format.as_deref() {
            None | Some("auto") => None,
            Some(f) => Some(f.parse::<Format>().map_err(|m| {
                let at = text.find("format").unwrap_or(0);
                invalid(Some(at..at), m)
            })?),
        };
        if raw.default_profile.as_deref() == Some("") {
            let at = text.find("default-profile").unwrap_or(0);
            return Err(invalid(
                Some(at..at),
                "default-profile is empty (remove the key for no default)".into(),
            ));
        }
        Ok(NodeConfig {
            default_profile: raw.default_profile,
            allow_pod_policies: raw.allow_pod_policies.unwrap_or(true),
            profile_dir: raw
                .profile_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_PROFILE_DIR)),
            runtime: raw.runtime,
            format,
        })
    }

    /// Reads the configuration file.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        NodeConfig::parse(&text, &shown)
    }

    /// Reads [`DEFAULT_PATH`] if it exists; the defaults if it does not.
    pub fn load_default() -> Result<NodeConfig, ConfigError> {
        let path = Path::new(DEFAULT_PATH);
        if path.exists() {
            NodeConfig::load(path)
        } else {
            Ok(NodeConfig::default())
        }
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
    fn defaults_when_empty() {
        assert_eq!(NodeConfig::parse("", "t").unwrap(), NodeConfig::default());
    }

    #[test]
    fn every_key() {
        let c = NodeConfig::parse(
            "default-profile = \"container\"\nallow-pod-policies = false\nprofile-dir = \"/p\"\nruntime = \"/usr/bin/crun\"\nformat = \"bpf\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.default_profile.as_deref(), Some("container"));
        assert!(!c.allow_pod_policies);
        assert_eq!(c.profile_dir, PathBuf::from("/p"));
        assert_eq!(c.runtime, Some(PathBuf::from("/usr/bin/crun")));
        assert_eq!(c.format, Some(Format::Bpf));
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let e = NodeConfig::parse("allow-pod-policies = true\nallow-pods = false\n", "rt.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("rt.toml:2:1: unknown field `allow-pods`"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_and_bad_format_are_errors() {
        let e = NodeConfig::parse("allow-pod-policies = \"no\"\n", "rt.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("rt.toml:1:22:"), "{e}");
        let e = NodeConfig::parse("format = \"ebpf\"\n", "rt.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown format \"ebpf\""), "{e}");
        assert!(NodeConfig::parse("default-profile = \"\"\n", "rt.toml").is_err());
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let e = NodeConfig::load(Path::new("/nonexistent/moat/runtime.toml")).unwrap_err();
        assert!(matches!(e, ConfigError::Io { .. }));
    }
}
