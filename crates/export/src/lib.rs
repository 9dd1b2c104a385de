//! moat-export: read and write the seccomp formats the ecosystem uses.
//!
//! What it does:
//! - **Import** ([`load`], [`load_bytes`]): moat text, a Docker/moby or OCI `linux.seccomp` JSON
//!   profile, a whole OCI `config.json` (its `linux.seccomp`, with `process.capabilities` resolving
//!   capability guards), or a Kubernetes security-profiles-operator `SeccompProfile` (YAML or JSON,
//!   v1 and v1beta1, several documents with `baseProfileName` resolved among them), or a systemd
//!   unit file or drop-in ([`systemd::import`], systemd 252's `SystemCallFilter=` semantics), a
//!   minijail policy ([`minijail::import`]), an LXC seccomp policy ([`lxc::import`]), a KEP-6061
//!   seccomp profile artifact or an image carrying Podman's `io.containers.seccomp.profile`
//!   label (an OCI layout directory or archive, or an image config: [`oci`]). The format is
//!   detected from the content. Foreign formats are translated into moat text
//!   ([`Loaded::text`]) and parsed, so every command that reads a policy reads them all.
//!   Problems are one line naming the file and the JSON path:
//!   `profile.json: syscalls[3].action: unknown action "SCMP_ACT_FOO" (did you mean "SCMP_ACT_ERRNO"?)`.
//! - **Export** ([`export`]): moat text, Docker/OCI JSON, Kubernetes (a Localhost profile plus the
//!   pod `securityContext` snippet), security-profiles-operator YAML, a systemd unit drop-in, and
//!   a KEP-6061 artifact ([`oci::artifact`]).
//!   Each export comes with a loss report ([`Exported::losses`]) listing what the target cannot
//!   express; where it cannot be exact, the export refuses more, never less, and says so.
//!
//! ```
//! use moat_export::{Format, Options, export, load_bytes};
//! use moat_policy::Context;
//!
//! let json = br#"{"defaultAction": "SCMP_ACT_ALLOW",
//!                 "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#;
//! let loaded = load_bytes(json, "profile.json", &Options::default())?;
//! assert!(loaded.text.contains("\ndeny mkdir\n"));
//! let unit = export(&loaded, Format::Systemd, &Context::default(), "profile")?;
//! assert!(unit.text().contains("SystemCallFilter=~mkdir:EPERM"));
//! assert!(unit.losses.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What it does not do: compile BPF (that is `moat-compile`; raw BPF export lives with it), write
//! files, or talk to a container runtime.

#![deny(missing_docs)]

mod error;
mod export;
mod import;
pub mod lxc;
pub mod minijail;
mod names;
pub mod oci;
mod rules;
pub mod seccomp;
pub mod spo;
pub mod systemd;
mod target;

use std::path::Path;

use moat_policy::{CapSet, Policy};
use serde_json::Value;

pub use error::{Error, ExportError, JsonPath};
pub use export::{export, k8s_name};
pub use import::{Imported, Options, Runtime, arch_token, import, scmp_arch};
pub use rules::{to_seccomp, to_seccomp_with};
pub use seccomp::Seccomp;
pub use target::{Exported, Format, Loss, UnknownFormat};

/// The format an input was read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    /// moat's policy language (or a built-in profile).
    Moat,
    /// A Docker/moby or OCI `linux.seccomp` JSON profile.
    Docker,
    /// A whole OCI runtime `config.json`.
    OciConfig,
    /// A security-profiles-operator `SeccompProfile`.
    Spo,
    /// A systemd unit file or drop-in (`SystemCallFilter=` and friends).
    Systemd,
    /// A minijail `.policy` file.
    Minijail,
    /// An LXC seccomp policy (`lxc.seccomp.profile`, LXD, Incus, Proxmox).
    Lxc,
    /// A KEP-6061 seccomp profile artifact in an OCI layout (directory or archive).
    OciArtifact,
    /// Podman's `io.containers.seccomp.profile` label of an image config (alone or in an OCI
    /// layout).
    ImageLabel,
}

/// Settings a profile carries that have no meaning in the policy itself; an export to the same
/// family of formats writes them back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    /// `flags` (`SECCOMP_FILTER_FLAG_*`).
    pub flags: Vec<String>,
    /// `listenerPath`: the user-notification agent's socket.
    pub listener_path: Option<String>,
    /// `listenerMetadata`.
    pub listener_metadata: Option<String>,
}

/// A policy read from any supported format.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The policy.
    pub policy: Policy,
    /// What the input was.
    pub format: InputFormat,
    /// The moat text the policy was parsed from (the input itself for moat text).
    pub text: String,
    /// What was skipped or adjusted while importing, one line each.
    pub warnings: Vec<String>,
    /// Profile settings outside the policy language.
    pub extras: Extras,
}

/// Reads a built-in profile name or a file in any supported format.
///
/// A name without `/` or `.` that matches a built-in profile is that profile.
pub fn load(spec: &str, opts: &Options) -> Result<Loaded, Error> {
    // A bare word naming a built-in profile is the built-in even when a file of that name
    // exists: the same rule as `Policy::open` (a file in the working directory never shadows a
    // built-in; `./NAME` reads the file).
    if !spec.contains('/') && !spec.contains('.') {
        if let Some(p) = Policy::builtin(spec) {
            let policy = p?;
            return Ok(Loaded {
                text: policy.source().to_string(),
                policy,
                format: InputFormat::Moat,
                warnings: Vec::new(),
                extras: Extras::default(),
            });
        }
        if !Path::new(spec).exists() {
            // Let the policy crate produce its "unknown profile" message.
            Policy::open(spec)?;
        }
    }
    // `FILE#name`: one SeccompProfile of a file holding several.
    if let Some((file, name)) = spec.rsplit_once('#')
        && !name.is_empty()
        && !Path::new(spec).exists()
        && Path::new(file).exists()
    {
        let o = Options {
            profile: Some(name.to_string()),
            ..opts.clone()
        };
        return load(file, &o);
    }
    let path = Path::new(spec);
    if path.is_dir() {
        if !path.join(moat_oci::LAYOUT_FILE).exists() {
            return Err(Error::Io {
                origin: spec.to_string(),
                message: "a directory, and not an OCI image layout (no oci-layout file)".into(),
            });
        }
        let layout = moat_oci::Layout::read(path, &moat_oci::Limits::default())
            .map_err(|e| Error::input(spec, &JsonPath::root(), e.to_string()))?;
        return oci::load_layout(&layout, spec, opts);
    }
    // The main input: capped (`/dev/zero` ends at 4 MiB), a FIFO the user named is read. An
    // OCI image archive (a regular file starting like a tar) may be as large as moat-oci reads.
    let limit = if is_archive_file(path) {
        moat_io::Limit {
            bytes: moat_oci::Limits::default().total,
            what: "an OCI image archive",
        }
    } else {
        moat_io::Limit::TEXT
    };
    let bytes = moat_io::read(path, limit, moat_io::Source::Main).map_err(|e| Error::Io {
        origin: spec.to_string(),
        message: e.detail(),
    })?;
    load_bytes(&bytes, spec, opts)
}

/// Whether `bytes` are a tar archive (an OCI image layout archive, a KEP-6061 artifact).
#[must_use]
pub fn is_archive(bytes: &[u8]) -> bool {
    oci::is_tar(bytes)
}

/// Whether `path` is a regular file that starts like a tar archive (an OCI image layout
/// archive, a KEP-6061 artifact): such input is read by [`load`] as a layout, not as text or BPF.
#[must_use]
pub fn is_archive_file(path: &Path) -> bool {
    use std::io::Read as _;
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    oci::is_tar(&head[..n])
}

/// Reads policy bytes in any supported format; `origin` names them in messages (and anchors
/// `use "relative"` paths of moat text).
pub fn load_bytes(bytes: &[u8], origin: &str, opts: &Options) -> Result<Loaded, Error> {
    if oci::is_tar(bytes) {
        let layout = moat_oci::Layout::from_tar(bytes, &moat_oci::Limits::default())
            .map_err(|e| Error::input(origin, &JsonPath::root(), e.to_string()))?;
        return oci::load_layout(&layout, origin, opts);
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(moat(Policy::parse_bytes(bytes, origin)?));
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let trimmed = text.trim_start();
    if systemd::sniff_header(text) {
        return systemd::import(text, origin, opts);
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let syntax = |e: serde_json::Error| Error::Syntax {
            origin: origin.to_string(),
            line: e.line(),
            col: e.column().max(1),
            message: json_message(&e),
        };
        serde_json::from_str::<seccomp::NoDuplicateKeys>(text).map_err(syntax)?;
        let v: Value = serde_json::from_str(text).map_err(syntax)?;
        return from_json(&v, origin, opts);
    }
    if lxc::sniff(text) {
        return lxc::import(text, origin, opts);
    }
    if looks_like_yaml(text) {
        return spo::load_yaml(text, origin, opts);
    }
    if systemd::sniff(text) {
        return systemd::import(text, origin, opts);
    }
    if origin.ends_with(".policy") || minijail::sniff(text) {
        return minijail::import(text, origin, opts);
    }
    Ok(moat(Policy::parse(text, origin)?))
}

fn moat(policy: Policy) -> Loaded {
    Loaded {
        text: policy.source().to_string(),
        policy,
        format: InputFormat::Moat,
        warnings: Vec::new(),
        extras: Extras::default(),
    }
}

/// serde_json's message without its " at line L column C" suffix (the error line carries them).
fn json_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// A YAML document: `apiVersion:`/`kind:` at the start of a line, or a `---` separator.
fn looks_like_yaml(text: &str) -> bool {
    text.lines()
        .any(|l| l.starts_with("apiVersion:") || l.starts_with("kind:") || l.trim_end() == "---")
}

fn from_json(v: &Value, origin: &str, opts: &Options) -> Result<Loaded, Error> {
    let root = JsonPath::root();
    // `docker image inspect` and `podman image inspect` print an array of one object.
    if let Some([one]) = v.as_array().map(Vec::as_slice)
        && let Some(m) = one.as_object()
        && m.contains_key("Config")
    {
        return oci::from_image_config(m, origin, &root.index(0), opts);
    }
    let Some(m) = v.as_object() else {
        return Err(Error::input(
            origin,
            &root,
            format!(
                "expected a JSON object (a seccomp profile or an OCI config.json), found {}",
                seccomp::kind(v)
            ),
        ));
    };
    if m.get("kind").and_then(Value::as_str) == Some("SeccompProfile") || spo::is_list(v) {
        return spo::load_documents(&[(root.clone(), v)], origin, opts);
    }
    if oci::is_image_config(m) {
        return oci::from_image_config(m, origin, &root, opts);
    }
    let is_config = m.contains_key("ociVersion")
        || (!m.contains_key("defaultAction")
            && (m.contains_key("linux") || m.contains_key("process")));
    if is_config {
        return from_config(m, origin, opts);
    }
    if !m.contains_key("defaultAction") && !m.contains_key("syscalls") {
        return Err(Error::input(
            origin,
            &root,
            "not a seccomp profile (no \"defaultAction\") nor an OCI config.json (no \"ociVersion\")",
        ));
    }
    let s = Seccomp::from_value(v, origin, &root, &[])?;
    finish(&s, origin, &root, opts, InputFormat::Docker)
}

fn from_config(
    m: &serde_json::Map<String, Value>,
    origin: &str,
    opts: &Options,
) -> Result<Loaded, Error> {
    let r = seccomp::Reader { origin };
    let linux = JsonPath::new("linux");
    let seccomp_path = linux.key("seccomp");
    let Some(sec) = m
        .get("linux")
        .and_then(|l| l.as_object())
        .and_then(|l| l.get("seccomp"))
        .filter(|v| !v.is_null())
    else {
        return Err(Error::input(
            origin,
            &JsonPath::root(),
            "the OCI config.json has no linux.seccomp section",
        ));
    };
    // process.capabilities.bounding decides capability guards, as moby does; without it the
    // process holds none.
    let mut caps = CapSet::EMPTY;
    if let Some(b) = m
        .get("process")
        .and_then(|p| p.get("capabilities"))
        .and_then(|c| c.get("bounding"))
    {
        let p = JsonPath::new("process").key("capabilities").key("bounding");
        for (i, c) in r.strings(b, &p)?.iter().enumerate() {
            let n = moat_syscalls::capability(c).ok_or_else(|| {
                Error::input(origin, &p.index(i), format!("unknown capability \"{c}\""))
            })?;
            caps.insert(n);
        }
    }
    let s = Seccomp::from_value(sec, origin, &seccomp_path, &[])?;
    let mut o = opts.clone();
    if o.caps.is_none() {
        o.caps = Some(caps);
    }
    finish(&s, origin, &seccomp_path, &o, InputFormat::OciConfig)
}

pub(crate) fn finish(
    s: &Seccomp,
    origin: &str,
    root: &JsonPath,
    opts: &Options,
    format: InputFormat,
) -> Result<Loaded, Error> {
    let imported = import::import(s, origin, root, opts)?;
    Ok(Loaded {
        policy: imported.policy,
        format,
        text: imported.text,
        warnings: imported.warnings,
        extras: Extras {
            flags: s.flags.clone(),
            listener_path: s.listener_path.clone(),
            listener_metadata: s.listener_metadata.clone(),
        },
    })
}
