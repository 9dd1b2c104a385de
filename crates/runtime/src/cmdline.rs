//! runc's command line, as containerd, CRI-O and people call it: enough of it to find the
//! command, the bundle and the log, without changing a byte of what is passed on.
//!
//! runc (urfave/cli) accepts `--flag value`, `--flag=value` and the same with one dash; crun
//! (argp) accepts the long forms too. Global flags come before the command, command flags after
//! it. A flag this module does not know is an error only where guessing wrong could start a
//! container without its policy: before a `create` or `run` command, and among `create`/`run`
//! flags. Everywhere else the command line is passed on as it is.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// Global flags that take a value (runc and crun).
const GLOBAL_VALUE: &[&str] = &[
    "root",
    "log",
    "log-format",
    "log-level",
    "criu",
    "rootless",
    "cgroup-manager",
];
/// Global flags without a value.
const GLOBAL_BOOL: &[&str] = &["debug", "systemd-cgroup", "help", "h", "version", "v"];
/// `create`/`run` flags that take a value.
const CREATE_VALUE: &[&str] = &[
    "bundle",
    "b",
    "console-socket",
    "pid-file",
    "preserve-fds",
    "config",
    "f",
];
/// `create`/`run` flags without a value.
const CREATE_BOOL: &[&str] = &[
    "detach",
    "d",
    "keep",
    "no-pivot",
    "no-new-keyring",
    "no-subreaper",
    "help",
    "h",
];

/// The runtime commands that start a container from a bundle.
pub const CREATING: &[&str] = &["create", "run"];

/// What a runtime command line asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invocation {
    /// The command (`create`, `state`, ...); `None` for `--version` and the like.
    pub command: Option<String>,
    /// `--bundle`/`-b`, if given (the runtime's default is the current directory).
    pub bundle: Option<PathBuf>,
    /// crun's `--config`/`-f`: the configuration file instead of `BUNDLE/config.json`.
    pub config: Option<PathBuf>,
    /// The container id (the first operand after the command).
    pub id: Option<String>,
    /// `--log FILE`.
    pub log: Option<PathBuf>,
    /// `--log-format` (`text` or `json`).
    pub log_format: Option<String>,
    /// `--root`: the runtime's state directory (containerd gives one per namespace).
    pub root: Option<PathBuf>,
}

impl Invocation {
    /// True for `create` and `run`, the commands that read a bundle.
    pub fn creates(&self) -> bool {
        self.command
            .as_deref()
            .is_some_and(|c| CREATING.contains(&c))
    }
}

/// A command line that cannot be read safely.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CmdlineError {
    /// A flag this module does not know where guessing could skip the policy.
    #[error(
        "unknown {place} flag {flag}: cannot tell where the bundle is, refusing to start the container"
    )]
    UnknownFlag {
        /// `global` or the command.
        place: String,
        /// The flag as written.
        flag: String,
    },
    /// A flag that takes a value is last.
    #[error("{flag} needs a value")]
    MissingValue {
        /// The flag as written.
        flag: String,
    },
    /// An argument is not valid UTF-8 where moat must read it.
    #[error("argument {0:?} is not valid UTF-8")]
    NotUtf8(OsString),
}

/// A flag split into its name (without dashes) and an inline `=value`.
fn split_flag(arg: &str) -> Option<(&str, Option<&str>)> {
    let body = arg
        .strip_prefix("--")
        .or_else(|| arg.strip_prefix('-'))
        .filter(|b| !b.is_empty() && !arg.starts_with("---"))?;
    Some(match body.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (body, None),
    })
}

fn utf8(arg: &OsStr) -> Result<&str, CmdlineError> {
    arg.to_str()
        .ok_or_else(|| CmdlineError::NotUtf8(arg.to_os_string()))
}

/// Reads a runtime command line (without the program name).
pub fn parse(args: &[OsString]) -> Result<Invocation, CmdlineError> {
    let mut inv = Invocation::default();
    let mut i = 0;
    // Global flags.
    while i < args.len() {
        let Some(arg) = args[i].to_str() else {
            break;
        };
        if arg == "--" {
            i += 1;
            break;
        }
        let Some((name, inline)) = split_flag(arg) else {
            break;
        };
        let value = if GLOBAL_VALUE.contains(&name) {
            match inline {
                Some(v) => Some(v.to_string()),
                None => {
                    i += 1;
                    let v = args.get(i).ok_or_else(|| CmdlineError::MissingValue {
                        flag: arg.to_string(),
                    })?;
                    Some(utf8(v)?.to_string())
                }
            }
        } else if GLOBAL_BOOL.contains(&name) || inline.is_some() {
            None
        } else {
            // An unknown flag: harmless unless a container is being created after it.
            let later = &args[i + 1..];
            if later
                .iter()
                .any(|a| a.to_str().is_some_and(|a| CREATING.contains(&a)))
            {
                return Err(CmdlineError::UnknownFlag {
                    place: "global".into(),
                    flag: arg.to_string(),
                });
            }
            return Ok(inv);
        };
        match (name, value) {
            ("log", Some(v)) => inv.log = Some(PathBuf::from(v)),
            ("log-format", Some(v)) => inv.log_format = Some(v),
            ("root", Some(v)) => inv.root = Some(PathBuf::from(v)),
            _ => {}
        }
        i += 1;
    }
    let Some(command) = args.get(i) else {
        return Ok(inv);
    };
    let command = utf8(command)?.to_string();
    i += 1;
    let creating = CREATING.contains(&command.as_str());
    inv.command = Some(command.clone());
    let mut operands_only = false;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let Some(text) = arg.to_str() else {
            if creating {
                return Err(CmdlineError::NotUtf8(arg.clone()));
            }
            continue;
        };
        if !operands_only && text == "--" {
            operands_only = true;
            continue;
        }
        let flag = if operands_only {
            None
        } else {
            split_flag(text)
        };
        let Some((name, inline)) = flag else {
            if inv.id.is_none() {
                inv.id = Some(text.to_string());
            }
            if !creating {
                // Other commands' operands and flags are theirs; nothing more to learn.
                break;
            }
            continue;
        };
        if !creating {
            continue;
        }
        if CREATE_VALUE.contains(&name) {
            let value = match inline {
                Some(v) => v.to_string(),
                None => {
                    let v = args.get(i).ok_or_else(|| CmdlineError::MissingValue {
                        flag: text.to_string(),
                    })?;
                    i += 1;
                    utf8(v)?.to_string()
                }
            };
            match name {
                "bundle" | "b" => inv.bundle = Some(PathBuf::from(value)),
                "config" | "f" => inv.config = Some(PathBuf::from(value)),
                _ => {}
            }
        } else if !(CREATE_BOOL.contains(&name) || inline.is_some()) {
            return Err(CmdlineError::UnknownFlag {
                place: command.clone(),
                flag: text.to_string(),
            });
        }
    }
    Ok(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Invocation, CmdlineError> {
        let v: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse(&v)
    }

    #[test]
    fn containerd_create() {
        // go-runc's argument order.
        let inv = p(&[
            "--root",
            "/run/containerd/runc/k8s.io",
            "--log",
            "/run/containerd/x/log.json",
            "--log-format",
            "json",
            "--systemd-cgroup",
            "create",
            "--bundle",
            "/run/containerd/x",
            "--pid-file",
            "/run/containerd/x/init.pid",
            "--console-socket=/tmp/sock",
            "abc123",
        ])
        .unwrap();
        assert_eq!(inv.command.as_deref(), Some("create"));
        assert!(inv.creates());
        assert_eq!(inv.bundle, Some(PathBuf::from("/run/containerd/x")));
        assert_eq!(inv.id.as_deref(), Some("abc123"));
        assert_eq!(inv.log, Some(PathBuf::from("/run/containerd/x/log.json")));
        assert_eq!(inv.log_format.as_deref(), Some("json"));
    }

    #[test]
    fn short_and_single_dash_forms() {
        let inv = p(&["-root=/r", "run", "-d", "-b", "/b", "id"]).unwrap();
        assert_eq!(inv.bundle, Some(PathBuf::from("/b")));
        assert_eq!(inv.id.as_deref(), Some("id"));
        let inv = p(&["run", "--bundle=/c", "--", "id"]).unwrap();
        assert_eq!(inv.bundle, Some(PathBuf::from("/c")));
        assert_eq!(inv.id.as_deref(), Some("id"));
        let inv = p(&[
            "--cgroup-manager=disabled",
            "run",
            "-f",
            "/c/other.json",
            "x",
        ])
        .unwrap();
        assert_eq!(inv.config, Some(PathBuf::from("/c/other.json")));
    }

    #[test]
    fn other_commands_pass_through() {
        let inv = p(&["state", "abc"]).unwrap();
        assert_eq!(inv.command.as_deref(), Some("state"));
        assert_eq!(inv.id.as_deref(), Some("abc"));
        assert!(!inv.creates());
        let inv = p(&["kill", "--all", "abc", "KILL"]).unwrap();
        assert_eq!(inv.id.as_deref(), Some("abc"));
        let inv = p(&["exec", "--weird-new-flag", "abc", "sh"]).unwrap();
        assert_eq!(inv.command.as_deref(), Some("exec"));
        assert_eq!(p(&["--version"]).unwrap().command, None);
        assert_eq!(p(&[]).unwrap(), Invocation::default());
        // An unknown global flag before a non-creating command is passed on.
        assert!(p(&["--future", "state", "x"]).is_ok());
    }

    #[test]
    fn unknown_flags_near_create_are_refused() {
        assert!(matches!(
            p(&["--future", "/x", "create", "id"]),
            Err(CmdlineError::UnknownFlag { .. })
        ));
        assert!(matches!(
            p(&["create", "--future", "/x", "id"]),
            Err(CmdlineError::UnknownFlag { .. })
        ));
        assert!(matches!(
            p(&["create", "--bundle"]),
            Err(CmdlineError::MissingValue { .. })
        ));
        assert!(matches!(
            p(&["--log"]),
            Err(CmdlineError::MissingValue { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(args in proptest::collection::vec("[-a-z=/]{0,12}", 0..8)) {
            let v: Vec<OsString> = args.iter().map(OsString::from).collect();
            let _ = parse(&v);
        }
    }
}
