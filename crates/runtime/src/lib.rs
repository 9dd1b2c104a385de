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
//! Every seccomp a container would run goes through the node's rule ([`plan`]): the pod's own
//! policy (annotations, read after the kubelet's `linux.seccomp` when the pod has a
//! `seccompProfile`, else after the node default) is proved never more permissive than the
//! default (`pod-policies = "subset"`, the default), intersected with it (`"intersect"`) or
//! taken as written (`"any"`); the node's `enforce` statements come last. Proofs run in a
//! forked child under the node's time and memory budget. A raw `run.oci.seccomp_bpf_data`
//! program that moat did not write refuses the container.
//!
//! Inline policies may `use` built-in profiles only: a `use "path"` in a pod annotation would
//! read files on the node, so it is an error at its own line.
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
pub mod install;
pub mod log;
pub mod node;
pub mod state;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use moat_analyze::{Subject, Subset};
use moat_policy::{Action, Context, ParseError, Permission, Policy, Source};
use moat_syscalls::KernelVersion;
use serde_json::{Value, json};

pub use bundle::{Bundle, BundleError};
pub use cmdline::{CmdlineError, Invocation};
pub use node::{ConfigError, NodeConfig, PodPolicies};

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

    /// What the runtime says about itself decides (finding: a runc renamed `*crun*` got crun's
    /// annotation and ran without seccomp). `version` is the output of `RUNTIME --version`:
    /// [`Format::Bpf`] only for crun built with seccomp (`crun version ...` and `+SECCOMP` on
    /// its feature line: crun loads `run.oci.seccomp_bpf_data`), [`Format::Oci`] for
    /// everything else. `None` when the output is not a runtime's at all.
    pub fn from_version(version: &str) -> Option<Format> {
        let first = version.lines().next().unwrap_or("");
        if first.starts_with("crun version ") {
            if version.split_whitespace().any(|w| w == "+SECCOMP") {
                return Some(Format::Bpf);
            }
            return Some(Format::Oci);
        }
        if first.starts_with("runc version ") || first.contains(" version ") {
            return Some(Format::Oci);
        }
        None
    }

    /// True when a runtime whose `--version` said `version` applies this format. `oci` is the
    /// runtime spec's own section; `bpf` needs crun with seccomp.
    pub fn supported_by(self, version: &str) -> bool {
        match self {
            Format::Oci => Format::from_version(version).is_some(),
            Format::Bpf => Format::from_version(version) == Some(Format::Bpf),
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
    /// The policy (inline, profile, kubelet profile or node default) does not parse.
    #[error("{0}")]
    Policy(ParseError),
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
    /// The bundle carries a raw seccomp program that moat did not write: crun would load it
    /// instead of any policy.
    #[error(
        "annotations.\"{CRUN_BPF_ANNOTATION}\": a raw seccomp program from the pod or the CRI runtime; only moat writes this annotation, refusing"
    )]
    ForeignBpf,
    /// The policy has Landlock statements, which an OCI runtime cannot enforce.
    #[error(
        "{origin}: Landlock statements (fs, net, scope) cannot be enforced through an OCI runtime; remove them or run the program with `moat run`"
    )]
    Landlock {
        /// Where the policy came from.
        origin: String,
    },
    /// An annotation larger than the node reads.
    #[error("{origin}: {size} bytes; pod policies are at most {MAX_POLICY} bytes")]
    TooLarge {
        /// The annotation.
        origin: String,
        /// Its size.
        size: usize,
    },
    /// The kubelet's `linux.seccomp` section cannot be read as a policy.
    #[error("linux.seccomp (the pod's seccompProfile): {message}")]
    Kubelet {
        /// What is wrong.
        message: String,
    },
    /// The policy does not compile for this container.
    #[error("{origin}")]
    Compile {
        /// Where the policy came from.
        origin: String,
        /// The compiler's refusal.
        #[source]
        source: Box<moat_compile::CompileError>,
    },
    /// The policy cannot be written as the runtime's `linux.seccomp` section.
    #[error("{origin}")]
    Export {
        /// Where the policy came from.
        origin: String,
        /// The exporter's refusal.
        #[source]
        source: Box<moat_export::ExportError>,
    },
    /// A proof could not be carried out (the analysis refused the policies).
    #[error("{origin}: refused: the proof failed: {message}")]
    Analysis {
        /// The pod's sources.
        origin: String,
        /// The analysis's error chain, as the budgeted child process reported it.
        message: String,
    },
    /// `pod-policies = "subset"` and the pod's policy is more permissive than the default for
    /// at least one call.
    #[error(
        "{origin}: refused: the pod policy is more permissive than the node default `{default}` (pod-policies = \"subset\"): {call}"
    )]
    Looser {
        /// The pod's sources.
        origin: String,
        /// The node default profile.
        default: String,
        /// The counterexample, described.
        call: String,
    },
    /// The pod's policy would override a mandatory node rule.
    #[error("{origin}: refused: the policy loosens the node's enforce rules: {call}")]
    Enforce {
        /// The pod's sources.
        origin: String,
        /// The counterexample, described.
        call: String,
    },
    /// The intersection of the pod's policy with the default could not be computed exactly.
    #[error("{origin}: refused: pod-policies = \"intersect\": {message}")]
    Intersect {
        /// The pod's sources.
        origin: String,
        /// What went wrong.
        message: String,
    },
    /// The proof did not finish within the node's budget.
    #[error(
        "{origin}: refused: proving the pod policy {what} (the node's budget is {budget}); simplify the policy or raise proof-seconds/proof-memory-mib"
    )]
    Budget {
        /// The pod's sources.
        origin: String,
        /// What ran out.
        what: String,
        /// The budget.
        budget: String,
    },
}

/// The largest pod policy text read (bytes): work per container is bounded before any parsing.
pub const MAX_POLICY: usize = 64 * 1024;

/// What to plan for, besides the bundle and the node configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// How the filter reaches the runtime.
    pub format: Format,
    /// The kernel the container runs on (resolves `when kernel >=` guards); `None`: new enough
    /// for every guard.
    pub kernel: Option<KernelVersion>,
}

/// A policy compiled for one container, and the configuration that carries it.
#[derive(Clone, Debug)]
pub struct Plan {
    /// What the policy was built from, in reading order (`node default \`container\``,
    /// `linux.seccomp`, `moat.dev/profile \`web\``, `moat.dev/policy`, `enforce`).
    pub sources: Vec<String>,
    /// The policy that was compiled.
    pub policy: Policy,
    /// The compiled program (also for [`Format::Oci`], where it proves the policy compiles
    /// and fits).
    pub program: moat_bpf::Program,
    /// How the policy is handed over.
    pub format: Format,
    /// What the format cannot express, one line each (empty for [`Format::Bpf`]).
    pub losses: Vec<String>,
    /// Other facts worth a log line (a replaced `linux.seccomp` section, the proof).
    pub notes: Vec<String>,
    /// The value of [`APPLIED_ANNOTATION`].
    pub summary: String,
    /// The new configuration.
    pub config: Value,
}

/// The outcome of [`plan`].
#[derive(Clone, Debug)]
pub enum Outcome {
    /// A policy applies (every container gets one: the default when it asks for none).
    Apply(Box<Plan>),
}

/// Where a runtime named without a `/` is looked for after `PATH`: Podman runs the runtime for
/// `kill` and `delete` with no `PATH` at all, and those must still reach runc or crun.
pub const RUNTIME_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// The runtime binary `name` means: itself when it contains a `/`, else the first executable
/// file called `name` in the directories of `path` (the `PATH` value, if any), then in
/// [`RUNTIME_DIRS`]. `None` when there is none.
pub fn locate_runtime(name: &Path, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    if name.as_os_str().is_empty() {
        return None;
    }
    if name.components().count() > 1 || name.is_absolute() {
        return Some(name.to_path_buf());
    }
    let listed = path.map(std::env::split_paths).into_iter().flatten();
    listed
        .filter(|d| !d.as_os_str().is_empty())
        .chain(RUNTIME_DIRS.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
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

/// The first `use "path"` statement in policy text, as (line, column), 1-based. Statements are
/// split as the parser splits them ([`moat_policy::statements`]: lines, and `;` between
/// statements on a line); blanks are spaces, tabs and carriage returns.
pub fn path_use(text: &str) -> Option<(usize, usize)> {
    for piece in moat_policy::statements(text) {
        let rest = piece.text.trim_start_matches([' ', '\t', '\r']);
        let indent = piece.text.len() - rest.len();
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
            let col = piece.offset + piece.text[..indent].chars().count() + 1;
            let line = usize::try_from(piece.line).unwrap_or(usize::MAX);
            return Some((line, col));
        }
    }
    None
}

/// A profile name as a composition source: a built-in name, or a file under `dir` (absolute
/// paths only when `absolute_ok`, for the node's own default). Files are canonicalised and must
/// stay inside `dir` (no `..`, no symlink out of it); messages never name where a symlink
/// points.
fn profile_source(
    name: &str,
    dir: &Path,
    absolute_ok: bool,
    origin: &str,
) -> Result<Source, PlanError> {
    let err = |message: String| PlanError::Profile {
        origin: origin.to_string(),
        message,
    };
    if name.is_empty() {
        return Err(err("empty profile name".into()));
    }
    if !name.contains('/') && !name.contains('.') && Policy::builtin(name).is_some() {
        return Ok(Source::Builtin(name.to_string()));
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
    let missing = || {
        err(format!(
            "no built-in profile ({builtins}) and no file {name} or {name}.moat in {}",
            dir.display()
        ))
    };
    let Some(found) = candidates.iter().find(|p| p.is_file()) else {
        return Err(missing());
    };
    let canonical = std::fs::canonicalize(found).map_err(|_| missing())?;
    if !given.is_absolute() {
        let root = std::fs::canonicalize(dir).map_err(|_| missing())?;
        if !canonical.starts_with(&root) {
            return Err(err(format!(
                "{name}: not a file inside {} (a symlink leads out of it)",
                dir.display()
            )));
        }
    }
    Ok(Source::File(canonical))
}

fn describe_call(c: &moat_analyze::diff::Call, a: &str, b: &str) -> String {
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
        "{abi} {what}{args} is `{}` under {a} but `{}` under {b}",
        c.a, c.b
    )
}

/// The node's work budget for one container.
struct Budget<'a> {
    node: &'a NodeConfig,
    origin: &'a str,
}

impl Budget<'_> {
    /// Runs `f` in a forked child under the node's time and memory budget; what it returns
    /// travels back as a tag byte and text.
    fn run(
        &self,
        f: impl FnOnce() -> Result<String, Refusal>,
    ) -> Result<Result<String, Refusal>, PlanError> {
        let out =
            moat_sys::bounded::run(self.node.proof_time, self.node.proof_memory, || match f() {
                Ok(t) => [b"O".as_slice(), t.as_bytes()].concat(),
                Err(Refusal::Call(c)) => [b"C".as_slice(), c.as_bytes()].concat(),
                Err(Refusal::Failed(e)) => [b"E".as_slice(), e.as_bytes()].concat(),
            });
        let budget = format!(
            "{:?} and {} MiB",
            self.node.proof_time,
            self.node.proof_memory >> 20
        );
        let bytes = out.map_err(|e| PlanError::Budget {
            origin: self.origin.to_string(),
            what: match e {
                moat_sys::bounded::BoundedError::Time(t) => format!("took longer than {t:?}"),
                moat_sys::bounded::BoundedError::Memory { .. } => format!(
                    "needed more than {} MiB of memory",
                    self.node.proof_memory >> 20
                ),
                other => format!("failed ({other})"),
            },
            budget,
        })?;
        let text = String::from_utf8_lossy(bytes.get(1..).unwrap_or_default()).into_owned();
        Ok(match bytes.first() {
            Some(b'O') => Ok(text),
            Some(b'C') => Err(Refusal::Call(text)),
            _ => Err(Refusal::Failed(text)),
        })
    }
}

/// Why a proof run under the node's budget did not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Refusal {
    /// A call on which the relation fails, described.
    Call(String),
    /// The analysis itself failed: its error chain as text (it crosses a process boundary).
    Failed(String),
}

impl From<String> for Refusal {
    fn from(message: String) -> Refusal {
        Refusal::Failed(message)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Call(s) | Refusal::Failed(s) => f.write_str(s),
        }
    }
}

/// An error and its sources, `: `-separated, for refusals that travel as text.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Proves `a` ⊆ `b` (with `holds` comparing their actions); `Ok(compared)` or the
/// counterexample or the analysis's error.
fn prove(
    a: &Policy,
    b: &Policy,
    ctx: &Context,
    holds: fn(Action, Action) -> bool,
    names: (&str, &str),
) -> Result<String, Refusal> {
    let sa = Subject::policy(a.clone(), ctx).map_err(|e| chain(&e))?;
    let sb = Subject::policy(b.clone(), ctx).map_err(|e| chain(&e))?;
    match moat_analyze::subset_by(&sa, &sb, holds).map_err(|e| chain(&e))? {
        Subset::Holds { compared, .. } => Ok(compared.to_string()),
        Subset::Counterexample(c) => Err(Refusal::Call(describe_call(&c, names.0, names.1))),
    }
}

/// Proves exactly (over the joint partition of the three policies' conditions) that `i` does,
/// on every call, the meet of what `pod` and `default` do: no looser than either, and allowing
/// every call both allow. The call where it does not, or the analysis's error.
/// ([`intersection_text`] runs the same check before it returns a text.)
#[cfg(test)]
fn prove_meet(i: &Policy, pod: &Policy, default: &Policy, ctx: &Context) -> Result<(), Refusal> {
    agreement(i, pod, default, ctx)?.map_err(|d| describe_disagreement(&d))
}

/// The exact three-way check of [`prove_meet`]: `Ok(Err(call))` where `i` is not the meet.
fn agreement(
    i: &Policy,
    pod: &Policy,
    default: &Policy,
    ctx: &Context,
) -> Result<Result<(), moat_analyze::diff::Disagreement>, String> {
    let subject = |p: &Policy| Subject::policy(p.clone(), ctx).map_err(|e| chain(&e));
    let (sp, sd, si) = (subject(pod)?, subject(default)?, subject(i)?);
    Ok(
        moat_analyze::agree(&[&sp, &sd, &si], |v| v[2] == Action::meet(v[0], v[1]))
            .map_err(|e| chain(&e))?
            .map(|_| ()),
    )
}

/// The call where the intersection is not the meet.
fn describe_disagreement(d: &moat_analyze::diff::Disagreement) -> Refusal {
    let call = moat_analyze::diff::Call {
        arch: d.arch,
        audit_arch: d.audit_arch,
        nr: d.nr,
        syscall: d.syscall,
        args: d.args,
        a: d.verdicts[2],
        b: Action::meet(d.verdicts[0], d.verdicts[1]),
    };
    Refusal::Call(describe_call(&call, "the intersection", "pod ∩ default"))
}

/// The moat text that, read after `default`, makes it exactly `pod ∩ default`: per call the
/// loosest action no looser than either ([`Action::meet`]), written as rules on the regions
/// where the two differ (`moat-analyze`'s exact difference, in the policy language).
///
/// `compose` reads `default` followed by a text into the policy the container would run; the
/// text is returned only once that policy is proved exactly the meet ([`prove_meet`]).
///
/// A rule on a call that x86's `socketcall` or `ipc` reaches (`socket`, `shmat`, ...) also
/// decides the multiplexer wherever it refuses, since its argument conditions cannot be
/// checked through the multiplexer's pointer (the policy language's rule). So a meet rule for
/// `socket` can change what `socketcall` gets on a region where the meet is the default's
/// verdict. Each call the proof finds so changed gets an explicit rule for the multiplexer's
/// call number after the others; a verdict that depends on more than that number (a
/// disagreement the rule does not fix) is refused.
fn intersection_text(
    pod: &Policy,
    default: &Policy,
    ctx: &Context,
    compose: impl Fn(&str) -> Result<Policy, String>,
) -> Result<String, Refusal> {
    let mut out = meet_rules(pod, default, ctx)?;
    let arches: Vec<moat_syscalls::Arch> = default
        .arches()
        .iter()
        .copied()
        .filter(|a| pod.arches().contains(a))
        .collect();
    // At most one repair per multiplexer call number per ABI (socketcall has 20, ipc 24).
    for _ in 0..128 {
        let i = compose(&out)?;
        let Err(disagreement) = agreement(&i, pod, default, ctx)? else {
            return Ok(out);
        };
        let d = &disagreement;
        let fixable = matches!(d.syscall, Some("socketcall" | "ipc"))
            && d.arch.is_some_and(|a| arches.contains(&a));
        let line = match (fixable, d.arch, d.syscall) {
            (true, Some(arch), Some(name)) => format!(
                "{} {name} if arg0 == {:#x} when arch {arch}\n",
                Action::meet(d.verdicts[0], d.verdicts[1]),
                d.args[0]
            ),
            _ => return Err(describe_disagreement(d)),
        };
        if out.contains(&line) {
            return Err(describe_disagreement(d));
        }
        out.push_str(&line);
    }
    Err(Refusal::Failed(
        "the intersection needs more multiplexer rules than socketcall and ipc have calls".into(),
    ))
}

/// The rules of the intersection before the multiplexer repairs of [`intersection_text`].
fn meet_rules(pod: &Policy, default: &Policy, ctx: &Context) -> Result<String, String> {
    let sp = Subject::policy(pod.clone(), ctx).map_err(|e| chain(&e))?;
    let sd = Subject::policy(default.clone(), ctx).map_err(|e| chain(&e))?;
    let d = moat_analyze::diff(&sp, &sd).map_err(|e| chain(&e))?;
    if !d.exact {
        return Err("the difference could not be computed exactly".into());
    }
    let arches: Vec<moat_syscalls::Arch> = default
        .arches()
        .iter()
        .copied()
        .filter(|a| pod.arches().contains(a))
        .collect();
    if arches.is_empty() {
        return Err("the pod policy and the node default accept no ABI in common".into());
    }
    // On an ABI only one side accepts, the meet is that side's verdict met with the other
    // side's `badarch`; the intersection (which accepts only the common ABIs) gives its own
    // `badarch` there. The two agree on every call only when the other side's `badarch` is
    // `kill`, the strictest action (the language's default).
    for (side, other, other_name) in [(pod, default, "node default"), (default, pod, "pod policy")]
    {
        for &arch in side.arches() {
            if !other.arches().contains(&arch)
                && other.badarch_action().action != Action::KillProcess
            {
                return Err(format!(
                    "the {} does not accept {arch} and its badarch is `{}`, not `kill`: give both the same `arch` line",
                    other_name,
                    other.badarch_action().action
                ));
            }
        }
    }
    let mut out = String::new();
    let names: Vec<String> = arches.iter().map(ToString::to_string).collect();
    out.push_str(&format!("arch {}\n", names.join(" ")));
    let meet =
        |a: &moat_policy::Setting, b: &moat_policy::Setting| Action::meet(a.action, b.action);
    out.push_str(&format!(
        "badarch {}\n",
        meet(pod.badarch_action(), default.badarch_action())
    ));
    out.push_str(&format!(
        "unknown {}\n",
        meet(pod.unknown_action(), default.unknown_action())
    ));
    for x in &d.differences {
        let (Some(arch), Some(_), Some(name)) = (x.arch, x.nr, x.syscall) else {
            continue;
        };
        if !arches.contains(&arch) {
            continue;
        }
        let m = Action::meet(x.a, x.b);
        if m == x.b {
            continue;
        }
        let cond = x
            .when
            .as_ref()
            .map(|w| format!(" if {w}"))
            .unwrap_or_default();
        out.push_str(&format!("{m} {name}{cond} when arch {arch}\n"));
    }
    Ok(out)
}

/// Where a composition error came from, shown without quoting node files: a failure inside a
/// file of the node's profile directory says only which profile.
fn compose(sources: &[Source], hide: &[(PathBuf, String)]) -> Result<Policy, PlanError> {
    Policy::compose(sources).map_err(|e| {
        for (file, key) in hide {
            if Path::new(&e.origin) == file.as_path() || e.origin == file.display().to_string() {
                return PlanError::Profile {
                    origin: key.clone(),
                    message: "the node's profile does not parse (the node's administrator can run `moat lint` on it)".into(),
                };
            }
        }
        PlanError::Policy(e)
    })
}

/// Decides what to write into `bundle` for this node.
///
/// Every seccomp the container would run goes through the node's rule: the pod's own policy
/// (its annotations, read after the kubelet's `linux.seccomp` when there is one, else after
/// the node default) is proved ⊆ the default (`subset`), intersected with it (`intersect`) or
/// taken as written (`any`); a container that asks for nothing gets the default. The node's
/// `enforce` statements are read last, and a policy that loosens them is refused.
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
    if annotations.contains_key(CRUN_BPF_ANNOTATION) {
        return Err(PlanError::ForeignBpf);
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
    // Cheap checks first: sizes.
    for (key, text) in inline.iter().chain(profile.iter()) {
        if text.len() > MAX_POLICY {
            return Err(PlanError::TooLarge {
                origin: key.clone(),
                size: text.len(),
            });
        }
    }
    let caps = bundle.capabilities()?;
    let ctx = Context {
        caps: Some(caps),
        kernel: req.kernel,
    };

    let mut hide = Vec::new();
    let default_src = profile_source(
        &node.default_profile,
        &node.profile_dir,
        true,
        "default-profile",
    )?;
    let default_name = format!("node default `{}`", node.default_profile);
    let kubelet = match bundle.config.get("linux").and_then(|l| l.get("seccomp")) {
        Some(s) if !s.is_null() => {
            let bytes = serde_json::to_vec(s).map_err(|e| PlanError::Kubelet {
                message: e.to_string(),
            })?;
            let opts = moat_export::Options {
                allow_unknown_names: true,
                caps: Some(caps),
                ..moat_export::Options::default()
            };
            let loaded = moat_export::load_bytes(&bytes, "linux.seccomp", &opts).map_err(|_| {
                PlanError::Kubelet {
                    message: "cannot be read as a seccomp profile (`moat convert` on the profile shows why)".into(),
                }
            })?;
            Some(Source::Annotation {
                key: "linux.seccomp".into(),
                text: loaded.text,
            })
        }
        _ => None,
    };
    let pod_asks = inline.is_some() || profile.is_some() || kubelet.is_some();

    let mut sources = vec![default_name.clone()];
    let mut notes = Vec::new();
    let default_policy = compose(std::slice::from_ref(&default_src), &hide)?;
    if !default_policy.landlock().is_empty() {
        return Err(PlanError::Landlock {
            origin: "default-profile".into(),
        });
    }
    let mut effective: Vec<Source> = vec![default_src.clone()];
    let mut pod_origin = String::new();
    if pod_asks {
        let mut pod_sources = Vec::new();
        let mut origins = Vec::new();
        match kubelet {
            Some(k) => {
                pod_sources.push(k);
                origins.push("linux.seccomp".to_string());
                sources = vec!["linux.seccomp (the pod's seccompProfile)".to_string()];
                notes.push(format!(
                    "the bundle's linux.seccomp section (the kubelet's seccompProfile) is read as the pod's base policy and replaced (kept in {})",
                    bundle::original_path(&bundle.config_path).display()
                ));
            }
            None => pod_sources.push(default_src.clone()),
        }
        if let Some((key, p)) = &profile {
            let src = profile_source(p, &node.profile_dir, false, key)?;
            if let Source::File(f) = &src {
                hide.push((f.clone(), key.clone()));
            }
            pod_sources.push(src);
            sources.push(format!("{key} `{p}`"));
            origins.push(key.clone());
        }
        if let Some((key, text)) = &inline {
            pod_sources.push(Source::Annotation {
                key: key.clone(),
                text: text.clone(),
            });
            sources.push(key.clone());
            origins.push(key.clone());
        }
        pod_origin = origins.join(" + ");
        let pod = compose(&pod_sources, &hide)?;
        if !pod.landlock().is_empty() {
            return Err(PlanError::Landlock {
                origin: pod_origin.clone(),
            });
        }
        // Cheap: the pod's policy must compile (and fit) before any proof runs.
        moat_compile::compile(&pod, &moat_compile::Options { ctx, weights: None }).map_err(
            |source| PlanError::Compile {
                origin: pod_origin.clone(),
                source: Box::new(source),
            },
        )?;
        let budget = Budget {
            node,
            origin: &pod_origin,
        };
        let name = &node.default_profile;
        match node.pod_policies {
            PodPolicies::Any => {
                notes.push("pod-policies = \"any\": the pod's policy runs as written".into());
                effective = pod_sources;
            }
            PodPolicies::Subset => {
                let r = budget.run(|| {
                    prove(
                        &pod,
                        &default_policy,
                        &ctx,
                        Action::no_looser_than,
                        ("the pod policy", "the default"),
                    )
                })?;
                match r {
                    Ok(compared) => notes.push(format!(
                        "pod-policies = \"subset\": proved never more permissive than the node default `{name}` ({compared} ABI/syscall pairs compared exactly)"
                    )),
                    Err(Refusal::Call(call)) => {
                        return Err(PlanError::Looser {
                            origin: pod_origin.clone(),
                            default: name.clone(),
                            call,
                        });
                    }
                    Err(Refusal::Failed(message)) => {
                        return Err(PlanError::Analysis {
                            origin: pod_origin.clone(),
                            message,
                        });
                    }
                }
                effective = pod_sources;
            }
            PodPolicies::Intersect => {
                let dir = node.profile_dir.clone();
                let r = budget.run(|| {
                    // Proved exactly the meet before it is returned.
                    intersection_text(&pod, &default_policy, &ctx, |text| {
                        Policy::compose(&[
                            default_src.clone(),
                            Source::Node {
                                origin: "pod ∩ default".into(),
                                text: text.to_string(),
                                dir: dir.clone(),
                            },
                        ])
                        .map_err(|e| chain(&e))
                    })
                })?;
                let text = r.map_err(|message| PlanError::Intersect {
                    origin: pod_origin.clone(),
                    message: match message {
                        Refusal::Call(c) => {
                            format!("the computed intersection is not exactly pod ∩ default: {c}")
                        }
                        Refusal::Failed(m) => m,
                    },
                })?;
                notes.push(format!(
                    "pod-policies = \"intersect\": the container runs the pod policy ∩ the node default `{name}`, proved exactly equal to it (no looser than either, allowing every call both allow)"
                ));
                effective = vec![
                    default_src.clone(),
                    Source::Node {
                        origin: "pod ∩ default".into(),
                        text,
                        dir,
                    },
                ];
                sources.push(format!("∩ node default `{name}`"));
            }
        }
    }
    let statements: Vec<String> = node.enforce.iter().map(|(s, _)| s.clone()).collect();
    let enforce_origin = node.enforce_origin();
    if !statements.is_empty() {
        effective.push(Source::Enforce {
            origin: enforce_origin.clone(),
            statements: statements.clone(),
        });
        sources.push("enforce".into());
    }
    let policy = compose(&effective, &hide)?;
    if !policy.landlock().is_empty() {
        return Err(PlanError::Landlock {
            origin: enforce_origin,
        });
    }
    if pod_asks && !statements.is_empty() {
        // The enforce rules come last, but a pod's `arch`, `badarch`, `unknown` or `kernel`
        // statements change what they apply to: prove that wherever the enforce rules alone
        // refuse a call (on every ABI either side accepts), the container's policy refuses it.
        let mut arches: Vec<String> = policy.arches().iter().map(ToString::to_string).collect();
        for a in default_policy.arches() {
            let a = a.to_string();
            if !arches.contains(&a) {
                arches.push(a);
            }
        }
        let base = format!(
            "default allow\nunknown allow\nbadarch allow\narch {}\n",
            arches.join(" ")
        );
        let rules = compose(
            &[
                Source::Node {
                    origin: "enforce baseline".into(),
                    text: base,
                    dir: node.profile_dir.clone(),
                },
                Source::Enforce {
                    origin: node.enforce_origin(),
                    statements,
                },
            ],
            &hide,
        )?;
        let budget = Budget {
            node,
            origin: &pod_origin,
        };
        let r = budget.run(|| {
            prove(
                &policy,
                &rules,
                &ctx,
                |x, y| y.permission() == Permission::Allows || x.no_looser_than(y),
                ("the container's policy", "the enforce rules"),
            )
        })?;
        match r {
            Ok(_) => notes.push("enforce: proved the enforce rules hold".into()),
            Err(Refusal::Call(call)) => {
                return Err(PlanError::Enforce {
                    origin: pod_origin,
                    call,
                });
            }
            Err(Refusal::Failed(message)) => {
                return Err(PlanError::Analysis {
                    origin: pod_origin,
                    message,
                });
            }
        }
    }

    let origin = policy.origin().to_string();
    let compiled = moat_compile::compile(&policy, &moat_compile::Options { ctx, weights: None })
        .map_err(|source| PlanError::Compile {
            origin: origin.clone(),
            source: Box::new(source),
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
                    |source| PlanError::Export {
                        origin: origin.clone(),
                        source: Box::new(source),
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
    if let Some(data) = bpf_data {
        annotations.insert(CRUN_BPF_ANNOTATION.into(), Value::String(data));
    }
    annotations.insert(APPLIED_ANNOTATION.into(), Value::String(summary.clone()));

    Ok(Outcome::Apply(Box::new(Plan {
        sources,
        policy,
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
