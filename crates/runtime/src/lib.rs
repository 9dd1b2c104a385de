//! moat-runtime: moat as an OCI runtime wrapper.
//!
//! What it does: it reads an OCI bundle's `config.json` ([`Bundle`]), finds the policy the
//! container asks for through annotations ([`POLICY_ANNOTATION`] with inline policy text,
//! [`PROFILE_ANNOTATION`] naming a built-in profile or a file in the node's profile directory)
//! or the node's default ([`NodeConfig`], `/etc/moat/runtime.toml`), compiles it for the
//! container's capabilities and the running kernel, and [`plan`]s the new configuration: a
//! `linux.seccomp` section for runc ([`Format::Oci`], through `moat-export`, with its loss
//! report) or moat's own compiled program for crun ([`Format::Bpf`], base64 in crun's
//! [`CRUN_BPF_ANNOTATION`]). [`Bundle::write`] replaces `config.json` atomically and keeps the
//! original as `config.json.orig`. [`cmdline`] reads runc's command line.
//!
//! Pod annotations reach every container of a pod; `moat.dev/policy.NAME` and
//! `moat.dev/profile.NAME` replace them for the container called NAME ([`container_name`]).
//!
//! With `allow-pod-policies = false` a pod's policy is read after the node default (as if it
//! began with `use DEFAULT`) and must be provably never more permissive than the default:
//! `moat-analyze`'s exact subset check decides, and a counterexample refuses the container.
//!
//! Inline policies may `use` built-in profiles only: a `use "path"` in a pod annotation would
//! read files on the node, so it is refused before parsing.
//!
//! ```
//! use moat_runtime::{Bundle, CRUN_BPF_ANNOTATION, Format, NodeConfig, Outcome, Request};
//!
//! let bundle = Bundle {
//!     config_path: "config.json".into(),
//!     config: serde_json::json!({
//!         "ociVersion": "1.0.2",
//!         "linux": {},
//!         "annotations": {"moat.dev/policy": "use container\ndeny mkdir mkdirat\n"},
//!     }),
//! };
//! let req = Request { format: Format::Bpf, kernel: None };
//! match moat_runtime::plan(&bundle, &NodeConfig::default(), &req)? {
//!     Outcome::Apply(plan) => {
//!         assert!(plan.config["annotations"][CRUN_BPF_ANNOTATION].is_string());
//!         // bundle.write(&plan.config)? replaces config.json atomically.
//!     }
//!     Outcome::Unchanged { reason } => panic!("{reason}"),
//! }
//! # Ok::<(), moat_runtime::PlanError>(())
//! ```
//!
//! What it does not do: start processes (the CLI execs the real runtime), install filters, or
//! enforce Landlock statements (an OCI runtime has no place for them: such policies are
//! refused).

#![deny(missing_docs)]

pub mod bundle;
pub mod cmdline;
pub mod log;
pub mod node;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use moat_analyze::{Subject, Subset};
use moat_policy::{Context, ParseError, Policy};
use moat_syscalls::KernelVersion;
use serde_json::{Value, json};

pub use bundle::{Bundle, BundleError};
pub use cmdline::{CmdlineError, Invocation};
pub use node::{ConfigError, NodeConfig};

/// Inline policy text.
pub const POLICY_ANNOTATION: &str = "moat.dev/policy";
/// A built-in profile name or a file name in the node's profile directory.
pub const PROFILE_ANNOTATION: &str = "moat.dev/profile";
/// Written by moat into the new configuration: what was applied (and the mark that the kept
/// `config.json.orig` is the original).
pub const APPLIED_ANNOTATION: &str = "moat.dev/applied";
/// crun's annotation for a raw seccomp program (base64 of the `struct sock_filter` array),
/// loaded instead of the `linux.seccomp` section.
pub const CRUN_BPF_ANNOTATION: &str = "run.oci.seccomp_bpf_data";

const KNOWN_ANNOTATIONS: &[&str] = &[POLICY_ANNOTATION, PROFILE_ANNOTATION, APPLIED_ANNOTATION];

/// The container's name in its pod, from the annotations the CRI runtimes write into
/// `config.json`: containerd's `io.kubernetes.cri.container-name`, or CRI-O's
/// `io.kubernetes.cri-o.ContainerName` (`k8s_NAME_POD_NAMESPACE_UID_ATTEMPT`). `None` for a pod's
/// sandbox (pause) container and outside Kubernetes.
pub fn container_name(annotations: &BTreeMap<String, String>) -> Option<String> {
    let sandbox = [
        "io.kubernetes.cri.container-type",
        "io.kubernetes.cri-o.ContainerType",
    ]
    .iter()
    .any(|k| annotations.get(*k).is_some_and(|t| t == "sandbox"));
    if sandbox {
        return None;
    }
    if let Some(n) = annotations.get("io.kubernetes.cri.container-name") {
        return Some(n.clone()).filter(|n| !n.is_empty());
    }
    // Kubernetes container names are DNS labels: no `_`, so the second field is the name.
    annotations
        .get("io.kubernetes.cri-o.ContainerName")
        .and_then(|n| n.strip_prefix("k8s_"))
        .and_then(|n| n.split('_').next())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

/// True for `moat.dev/policy.NAME` and `moat.dev/profile.NAME` with NAME a DNS label (a
/// Kubernetes container name).
fn per_container_key(key: &str) -> bool {
    [POLICY_ANNOTATION, PROFILE_ANNOTATION].iter().any(|base| {
        key.strip_prefix(base)
            .and_then(|r| r.strip_prefix('.'))
            .is_some_and(|n| {
                !n.is_empty()
                    && n.len() <= 63
                    && n.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !n.starts_with('-')
                    && !n.ends_with('-')
            })
    })
}

/// How the compiled policy reaches the runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// An OCI `linux.seccomp` section (runc, and every runtime): the runtime compiles it with
    /// libseccomp. `moat-export` writes it; what the format cannot say is reported.
    Oci,
    /// moat's own compiled program, base64 in crun's `run.oci.seccomp_bpf_data` annotation:
    /// exactly the policy, with moat's layout.
    Bpf,
}

impl Format {
    /// `oci` or `bpf`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Oci => "oci",
            Format::Bpf => "bpf",
        }
    }

    /// The format a runtime binary takes: [`Format::Bpf`] for crun (its file name contains
    /// `crun`), [`Format::Oci`] otherwise.
    pub fn for_runtime(runtime: &Path) -> Format {
        let name = runtime
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.contains("crun") {
            Format::Bpf
        } else {
            Format::Oci
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "oci" | "runc" => Ok(Format::Oci),
            "bpf" | "crun" => Ok(Format::Bpf),
            _ => Err(format!(
                "unknown format \"{s}\" (expected \"oci\" for linux.seccomp or \"bpf\" for crun's raw program)"
            )),
        }
    }
}

/// Why a container's policy cannot be applied. Every variant refuses the container.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The bundle could not be read.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The policy (inline, profile or node default) does not parse.
    #[error("{0}")]
    Policy(ParseError),
    /// An inline policy names a file.
    #[error(
        "{origin}:{line}:{col}: inline policies may `use` built-in profiles only (a path would read files on the node); name a node profile with the {PROFILE_ANNOTATION} annotation"
    )]
    PathUse {
        /// The annotation.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
    },
    /// A profile name that is neither built in nor a file in the profile directory.
    #[error("{origin}: {message}")]
    Profile {
        /// The annotation or the node configuration key.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// An annotation under `moat.dev/` that moat does not know (a typo must not run the
    /// container without its policy).
    #[error("annotations.\"{key}\": unknown moat annotation{}", .suggestion.as_ref().map(|s| format!(" (did you mean \"{s}\"?)")).unwrap_or_default())]
    UnknownAnnotation {
        /// The key.
        key: String,
        /// The closest known key.
        suggestion: Option<&'static str>,
    },
    /// The bundle carries moat's [`APPLIED_ANNOTATION`] without the original moat keeps beside
    /// a configuration it wrote: someone else set it.
    #[error(
        "annotations.\"{APPLIED_ANNOTATION}\": only moat writes this annotation, and the bundle has no config.json.orig of moat's; refusing"
    )]
    ForgedApplied,
    /// The policy has Landlock statements, which an OCI runtime cannot enforce.
    #[error(
        "{origin}: Landlock statements (fs, net, scope) cannot be enforced through an OCI runtime; remove them or run the program with `moat run`"
    )]
    Landlock {
        /// Where the policy came from.
        origin: String,
    },
    /// The policy does not compile for this container.
    #[error("{origin}: {message}")]
    Compile {
        /// Where the policy came from.
        origin: String,
        /// The compiler's message.
        message: String,
    },
    /// `allow-pod-policies = false` and the pod's policy is more permissive than the default
    /// for at least one call.
    #[error(
        "{origin}: refused: the pod policy is more permissive than the node default `{default}` (allow-pod-policies = false): {call}"
    )]
    Looser {
        /// The annotation(s).
        origin: String,
        /// The node default profile.
        default: String,
        /// The counterexample, described.
        call: String,
    },
}

/// What to plan for, besides the bundle and the node configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// How the filter reaches the runtime.
    pub format: Format,
    /// The kernel the container runs on (resolves `when kernel >=` guards); `None`: new enough
    /// for every guard.
    pub kernel: Option<KernelVersion>,
}

/// The outcome of [`plan`].
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Nothing to do: the configuration is passed on unchanged.
    Unchanged {
        /// Why.
        reason: String,
    },
    /// A policy applies.
    Apply(Box<Plan>),
}

/// A policy compiled for one container, and the configuration that carries it.
#[derive(Clone, Debug)]
pub struct Plan {
    /// What the policy was built from, in reading order (`node default \`container\``,
    /// `moat.dev/profile \`web\``, `moat.dev/policy`).
    pub sources: Vec<String>,
    /// The policy text that was compiled (`use` lines for the default and profile, then the
    /// inline text).
    pub text: String,
    /// The compiled program (also for [`Format::Oci`], where it proves the policy compiles
    /// and fits).
    pub program: moat_bpf::Program,
    /// How the policy is handed over.
    pub format: Format,
    /// What the format cannot express, one line each (empty for [`Format::Bpf`]).
    pub losses: Vec<String>,
    /// Other facts worth a log line (a replaced `linux.seccomp` section, the subset proof).
    pub notes: Vec<String>,
    /// The value of [`APPLIED_ANNOTATION`].
    pub summary: String,
    /// The new configuration.
    pub config: Value,
}

/// The kernel this process runs on, from `/proc/sys/kernel/osrelease` (`6.18.0-1-amd64` ->
/// 6.18); `None` if it cannot be read.
pub fn running_kernel() -> Option<KernelVersion> {
    let text = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    kernel_from_release(&text)
}

fn kernel_from_release(release: &str) -> Option<KernelVersion> {
    let numeric: String = release
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut parts = numeric.split('.').filter(|p| !p.is_empty());
    let major = parts.next()?;
    let minor = parts.next()?;
    format!("{major}.{minor}").parse().ok()
}

/// Standard base64 with padding (RFC 4648 §4), as crun decodes its annotation.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextet = |shift: u32| char::from(ALPHABET[((n >> shift) & 0x3f) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

/// The first `use "path"` statement in policy text, as (line, column), 1-based. The policy
/// language has one statement a line; blanks are spaces, tabs and carriage returns.
pub fn path_use(text: &str) -> Option<(usize, usize)> {
    for (i, line) in text.split('\n').enumerate() {
        let rest = line.trim_start_matches([' ', '\t', '\r']);
        let indent = line.len() - rest.len();
        let Some(after) = rest.strip_prefix("use") else {
            continue;
        };
        if after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            continue;
        }
        if after.trim_start_matches([' ', '\t', '\r']).starts_with('"') {
            let col = line[..indent].chars().count() + 1;
            return Some((i + 1, col));
        }
    }
    None
}

/// A `use` line for a profile: a built-in name, or a file under `dir` (absolute paths only
/// when `absolute_ok`, for the node's own default). Files are canonicalised and must stay
/// inside `dir` (no `..`, no symlink out of it).
fn profile_use(
    name: &str,
    dir: &Path,
    absolute_ok: bool,
    origin: &str,
) -> Result<String, PlanError> {
    let err = |message: String| PlanError::Profile {
        origin: origin.to_string(),
        message,
    };
    if name.is_empty() {
        return Err(err("empty profile name".into()));
    }
    if !name.contains('/') && !name.contains('.') && Policy::builtin(name).is_some() {
        return Ok(format!("use {name}"));
    }
    if name.contains(['"', '\n', '\r', '\0']) {
        return Err(err(format!(
            "{name:?}: profile names cannot contain quotes or line breaks"
        )));
    }
    let given = Path::new(name);
    let builtins = moat_policy::builtins()
        .iter()
        .map(|b| b.name)
        .collect::<Vec<_>>()
        .join(", ");
    let candidates: Vec<PathBuf> = if given.is_absolute() {
        if !absolute_ok {
            return Err(err(format!(
                "{name}: a pod names a built-in profile ({builtins}) or a file in {}, not an absolute path",
                dir.display()
            )));
        }
        vec![given.to_path_buf()]
    } else {
        if given
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(err(format!(
                "{name}: profile names cannot contain `..` or `.`"
            )));
        }
        vec![dir.join(format!("{name}.moat")), dir.join(name)]
    };
    let Some(found) = candidates.iter().find(|p| p.is_file()) else {
        return Err(err(format!(
            "no built-in profile ({builtins}) and no file {name} or {name}.moat in {}",
            dir.display()
        )));
    };
    let canonical =
        std::fs::canonicalize(found).map_err(|e| err(format!("{}: {e}", found.display())))?;
    if !given.is_absolute() {
        let root =
            std::fs::canonicalize(dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        if !canonical.starts_with(&root) {
            return Err(err(format!(
                "{name}: resolves to {} outside {}",
                canonical.display(),
                root.display()
            )));
        }
    }
    let shown = canonical.display().to_string();
    if shown.contains(['"', '\n']) {
        return Err(err(format!("{shown:?}: unusable file name")));
    }
    Ok(format!("use \"{shown}\""))
}

fn parse(text: &str, origin: &str) -> Result<Policy, PlanError> {
    Policy::parse(text, origin).map_err(PlanError::Policy)
}

fn describe_call(c: &moat_analyze::diff::Call) -> String {
    let abi = c.arch.map_or_else(
        || format!("AUDIT_ARCH {:#x}", c.audit_arch),
        |a| a.name().to_string(),
    );
    let what = c
        .syscall
        .map_or_else(|| format!("syscall {}", c.nr), str::to_string);
    let args = if c.args.iter().any(|&a| a != 0) {
        let list: Vec<String> = c.args.iter().map(|a| format!("{a:#x}")).collect();
        format!("({})", list.join(", "))
    } else {
        String::new()
    };
    format!(
        "{abi} {what}{args} is `{}` under the pod policy but `{}` under the default",
        c.a, c.b
    )
}

/// Decides what to write into `bundle` for this node.
pub fn plan(bundle: &Bundle, node: &NodeConfig, req: &Request) -> Result<Outcome, PlanError> {
    let annotations = bundle.annotations()?;
    for key in annotations.keys() {
        if let Some(rest) = key.strip_prefix("moat.dev/")
            && !KNOWN_ANNOTATIONS.contains(&key.as_str())
            && !per_container_key(key)
        {
            let suggestion = KNOWN_ANNOTATIONS.iter().copied().find(|k| {
                let k = &k["moat.dev/".len()..];
                k.starts_with(rest.get(..2).unwrap_or(rest)) || rest.starts_with(&k[..2])
            });
            return Err(PlanError::UnknownAnnotation {
                key: key.clone(),
                suggestion,
            });
        }
    }
    // Bundle::open replaced a configuration moat wrote by its kept original, which has no
    // such annotation; one that is still there came from the pod.
    if annotations.contains_key(APPLIED_ANNOTATION) {
        return Err(PlanError::ForgedApplied);
    }
    // A container's own annotation (`moat.dev/policy.web`) replaces the pod's of the same kind.
    let container = container_name(&annotations);
    let pick = |base: &str| -> Option<(String, String)> {
        container
            .as_ref()
            .map(|n| format!("{base}.{n}"))
            .and_then(|k| annotations.get(&k).map(|v| (k, v.clone())))
            .or_else(|| annotations.get(base).map(|v| (base.to_string(), v.clone())))
    };
    let inline = pick(POLICY_ANNOTATION);
    let profile = pick(PROFILE_ANNOTATION);
    let pod_asks = inline.is_some() || profile.is_some();
    if !pod_asks {
        if node.default_profile.is_none() {
            return Ok(Outcome::Unchanged {
                reason: format!(
                    "no {POLICY_ANNOTATION} or {PROFILE_ANNOTATION} annotation and no node default profile"
                ),
            });
        }
        if bundle.has_seccomp() {
            return Ok(Outcome::Unchanged {
                reason: "the bundle has its own linux.seccomp section (the pod's seccompProfile); the node default applies to containers that ask for nothing".into(),
            });
        }
    }

    let mut sources = Vec::new();
    let mut lines = Vec::new();
    let mut origins = Vec::new();
    let default_use = match &node.default_profile {
        Some(d) => {
            let line = profile_use(d, &node.profile_dir, true, "default-profile")?;
            sources.push(format!("node default `{d}`"));
            lines.push(line.clone());
            Some(line)
        }
        None => None,
    };
    if let Some((key, p)) = &profile {
        lines.push(profile_use(p, &node.profile_dir, false, key)?);
        sources.push(format!("{key} `{p}`"));
        origins.push(key.clone());
    }
    if let Some((key, text)) = &inline {
        if let Some((line, col)) = path_use(text) {
            return Err(PlanError::PathUse {
                origin: key.clone(),
                line,
                col,
            });
        }
        // Parsed alone first, so that errors point at the annotation's own lines.
        let alone = parse(text, key)?;
        if !alone.landlock().is_empty() {
            return Err(PlanError::Landlock {
                origin: key.clone(),
            });
        }
        lines.push(text.trim_end_matches('\n').to_string());
        sources.push(key.clone());
        origins.push(key.clone());
    }
    let origin = if origins.is_empty() {
        "default-profile".to_string()
    } else {
        origins.join(" + ")
    };
    let mut text = lines.join("\n");
    text.push('\n');
    let policy = parse(&text, &origin)?;
    if !policy.landlock().is_empty() {
        return Err(PlanError::Landlock { origin });
    }

    let caps = bundle.capabilities()?;
    let ctx = Context {
        caps: Some(caps),
        kernel: req.kernel,
    };
    let mut notes = Vec::new();

    if pod_asks && !node.allow_pod_policies {
        if let (Some(line), Some(name)) = (&default_use, &node.default_profile) {
            let base = parse(&format!("{line}\n"), "default-profile")?;
            let compile_err = |e: &dyn fmt::Display| PlanError::Compile {
                origin: origin.clone(),
                message: e.to_string(),
            };
            let a = Subject::policy(policy.clone(), &ctx).map_err(|e| compile_err(&e))?;
            let b = Subject::policy(base, &ctx).map_err(|e| compile_err(&e))?;
            match moat_analyze::subset(&a, &b).map_err(|e| compile_err(&e))? {
                Subset::Counterexample(call) => {
                    return Err(PlanError::Looser {
                        origin,
                        default: name.clone(),
                        call: describe_call(&call),
                    });
                }
                Subset::Holds { compared, .. } => notes.push(format!(
                    "allow-pod-policies = false: proved never more permissive than the node default `{name}` ({compared} ABI/syscall pairs compared exactly)"
                )),
            }
        } else {
            notes.push("allow-pod-policies = false has nothing to compare with: no default-profile is configured".into());
        }
    }

    let compiled = moat_compile::compile(&policy, &moat_compile::Options { ctx, weights: None })
        .map_err(|e| PlanError::Compile {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
    let program = compiled.program;

    let mut config = bundle.config.clone();
    let Some(root) = config.as_object_mut() else {
        return Err(PlanError::Bundle(BundleError::Shape {
            path: bundle.config_path.display().to_string(),
            at: "(root)".into(),
            message: "expected a JSON object".into(),
        }));
    };
    if bundle.has_seccomp() {
        notes.push(format!(
            "replaces the bundle's linux.seccomp section (kept in {})",
            bundle::original_path(&bundle.config_path).display()
        ));
    }
    let linux = root
        .entry("linux")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| BundleError::Shape {
            path: bundle.config_path.display().to_string(),
            at: "linux".into(),
            message: "expected an object".into(),
        })?;
    let mut losses = Vec::new();
    let mut bpf_data = None;
    match req.format {
        Format::Oci => {
            let (seccomp, lost) =
                moat_export::to_seccomp(&policy, &ctx, &moat_export::Extras::default()).map_err(
                    |e| PlanError::Compile {
                        origin: origin.clone(),
                        message: e.to_string(),
                    },
                )?;
            losses = lost.into_iter().map(|l| l.0).collect();
            linux.insert("seccomp".into(), seccomp.to_value(false));
        }
        Format::Bpf => {
            linux.remove("seccomp");
            bpf_data = Some(base64(&program.to_bytes()));
        }
    }
    let summary = match req.format {
        Format::Oci => format!(
            "{} as linux.seccomp ({} loss{})",
            sources.join(" + "),
            losses.len(),
            if losses.len() == 1 { "" } else { "es" }
        ),
        Format::Bpf => format!(
            "{} as {CRUN_BPF_ANNOTATION} ({} instructions)",
            sources.join(" + "),
            program.len()
        ),
    };
    let annotations = root
        .entry("annotations")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| BundleError::Shape {
            path: bundle.config_path.display().to_string(),
            at: "annotations".into(),
            message: "expected an object".into(),
        })?;
    // A raw program the bundle carried from elsewhere must not override moat's policy.
    annotations.remove(CRUN_BPF_ANNOTATION);
    if let Some(data) = bpf_data {
        annotations.insert(CRUN_BPF_ANNOTATION.into(), Value::String(data));
    }
    annotations.insert(APPLIED_ANNOTATION.into(), Value::String(summary.clone()));

    Ok(Outcome::Apply(Box::new(Plan {
        sources,
        text,
        program,
        format: req.format,
        losses,
        notes,
        summary,
        config,
    })))
}

#[cfg(test)]
mod tests;
