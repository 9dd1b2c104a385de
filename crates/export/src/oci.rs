//! Seccomp profiles carried by OCI images and artifacts:
//!
//! - **KEP-6061 artifacts** (Kubernetes `seccompProfile.type: OCI`, CRI-O's
//!   `seccomp-profile.kubernetes.cri-o.io` annotation, security-profiles-operator's `spoc push`):
//!   a manifest whose config media type (and artifact type) is [`SECCOMP_CONFIG`] and whose one
//!   layer is the profile as OCI runtime-spec JSON, at most [`MAX_BLOB`] bytes. Written by
//!   [`artifact`] and read by [`load_layout`].
//! - **Podman's image label** [`PODMAN_LABEL`] (`podman run --seccomp-policy=image`): the
//!   profile JSON inline in the image config's `config.Labels`, read from an image config JSON
//!   document, `docker`/`podman image inspect` output, or an image in an OCI layout.
//!
//! A layout is a directory or its tar archive (`oci:` and `oci-archive:` for skopeo and
//! podman); the manifest is picked through `index.json`: the only one, the one named `FILE#NAME`
//! (`org.opencontainers.image.ref.name`), or the one for the host's platform.

use std::collections::BTreeMap;

use moat_oci::{Layout, spec};
use moat_policy::{Action, Context};
use moat_syscalls::Arch;
use serde_json::{Map, Value};

use crate::error::{Error, ExportError, JsonPath};
use crate::rules::to_seccomp;
use crate::seccomp::{Entry, ScmpAction, Seccomp};
use crate::target::Loss;
use crate::{Extras, InputFormat, Loaded, Options};

/// The config media type (and artifact type) of a seccomp profile artifact (KEP-6061, CRI-O
/// since 1.30, security-profiles-operator).
pub const SECCOMP_CONFIG: &str = "application/vnd.cncf.seccomp-profile.config.v1+json";
/// The media type of the profile layer moat writes (security-profiles-operator's choice for raw
/// JSON profiles).
pub const LAYER_JSON: &str = "application/json";
/// The largest profile layer (and config) a runtime takes: CRI-O's default artifact limit, the
/// limit the KEP recommends.
pub const MAX_BLOB: u64 = 1 << 20;
/// The most `syscalls[]` entries one syscall name may appear in, in an artifact.
pub const MAX_ENTRIES_PER_SYSCALL: usize = 128;
/// Podman's image label holding an inline seccomp profile.
pub const PODMAN_LABEL: &str = "io.containers.seccomp.profile";
/// The annotation naming a layer's file (`seccomp.json`).
const TITLE: &str = "org.opencontainers.image.title";

/// True when `bytes` are a tar archive (the `ustar` magic at offset 257).
pub fn is_tar(bytes: &[u8]) -> bool {
    bytes.get(257..262) == Some(b"ustar")
}

/// Go's `GOARCH` name of an ABI, as image platforms spell it.
fn goarch(a: Arch) -> &'static str {
    match a {
        Arch::X86_64 | Arch::X32 => "amd64",
        Arch::X86 => "386",
        Arch::Aarch64 => "arm64",
        Arch::Arm => "arm",
        Arch::Riscv64 => "riscv64",
        Arch::Ppc64le => "ppc64le",
        Arch::S390x => "s390x",
        Arch::Loongarch64 => "loong64",
    }
}

/// The path of a blob in messages: `blobs/sha256/HEX`.
fn blob_path(d: &spec::Descriptor) -> JsonPath {
    JsonPath::new(&d.digest.blob_path())
}

fn layout_err(origin: &str, message: impl Into<String>) -> Error {
    Error::input(origin, &JsonPath::root(), message)
}

/// Reads the profile an OCI layout carries: a seccomp artifact's layer, or Podman's label in an
/// image's config.
pub fn load_layout(layout: &Layout, origin: &str, opts: &Options) -> Result<Loaded, Error> {
    let manifests = layout
        .manifests()
        .map_err(|e| layout_err(origin, e.to_string()))?;
    let names = || {
        let v: Vec<String> = manifests
            .iter()
            .filter_map(|(d, _)| d.annotations.get(spec::REF_NAME).cloned())
            .collect();
        if v.is_empty() {
            "none is named".to_string()
        } else {
            format!("names: {}", v.join(", "))
        }
    };
    let (d, m) = if let Some(want) = &opts.profile {
        layout.find(want).ok_or_else(|| {
            layout_err(
                origin,
                format!(
                    "no manifest named \"{want}\" in the layout's index ({})",
                    names()
                ),
            )
        })?
    } else {
        match manifests.as_slice() {
            [] => return Err(layout_err(origin, "the layout's index holds no manifest")),
            [one] => one.clone(),
            many => {
                // The image for the host, as podman and containerd pick it.
                let host = goarch(opts.host.unwrap_or_else(Arch::native));
                let fits: Vec<&(spec::Descriptor, spec::Manifest)> = many
                    .iter()
                    .filter(|(d, _)| {
                        d.platform
                            .as_ref()
                            .is_some_and(|p| p.os == "linux" && p.architecture == host)
                    })
                    .collect();
                match fits.as_slice() {
                    [one] => (*one).clone(),
                    _ => {
                        return Err(layout_err(
                            origin,
                            format!(
                                "the layout holds {} manifests ({}); pick one with FILE#NAME or --profile-name NAME",
                                many.len(),
                                names()
                            ),
                        ));
                    }
                }
            }
        }
    };
    let kind = artifact_type(&m);
    if kind == SECCOMP_CONFIG {
        return from_artifact(layout, &d, &m, origin, opts);
    }
    if matches!(
        m.config.media_type.as_str(),
        spec::IMAGE_CONFIG | "application/vnd.docker.container.image.v1+json"
    ) {
        let path = blob_path(&m.config);
        let bytes = layout
            .blob(&m.config.digest)
            .ok_or_else(|| layout_err(origin, format!("blob {} is missing", m.config.digest)))?;
        let v = json(bytes, origin, &path)?;
        let Some(obj) = v.as_object() else {
            return Err(Error::input(
                origin,
                &path,
                "the image config is not a JSON object",
            ));
        };
        return from_image_config(obj, origin, &path, opts);
    }
    Err(layout_err(
        origin,
        format!(
            "manifest {} is neither a seccomp profile artifact ({SECCOMP_CONFIG}) nor an image (its config is {kind})",
            d.digest
        ),
    ))
}

/// What a manifest says it is: the config media type, or the artifact type for an empty config
/// (CRI-O's `artifactType`).
fn artifact_type(m: &spec::Manifest) -> &str {
    if m.config.media_type == spec::EMPTY {
        m.artifact_type.as_deref().unwrap_or(spec::EMPTY)
    } else {
        &m.config.media_type
    }
}

/// Parses `bytes` as one JSON document (duplicate keys refused); errors name `path` and the line
/// and column inside the blob.
fn json(bytes: &[u8], origin: &str, path: &JsonPath) -> Result<Value, Error> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| Error::input(origin, path, "not UTF-8 text"))?;
    let syntax = |e: serde_json::Error| {
        Error::input(
            origin,
            path,
            format!(
                "line {} column {}: {}",
                e.line(),
                e.column(),
                crate::json_message(&e)
            ),
        )
    };
    serde_json::from_str::<crate::seccomp::NoDuplicateKeys>(text).map_err(syntax)?;
    serde_json::from_str(text).map_err(syntax)
}

/// A KEP-6061 artifact: what CRI-O checks before reading the layer, then the profile, then what
/// the KEP's validation refuses in it.
fn from_artifact(
    layout: &Layout,
    d: &spec::Descriptor,
    m: &spec::Manifest,
    origin: &str,
    opts: &Options,
) -> Result<Loaded, Error> {
    if m.config.media_type != spec::EMPTY
        && m.artifact_type
            .as_deref()
            .is_some_and(|t| t != m.config.media_type)
    {
        return Err(layout_err(
            origin,
            format!(
                "manifest {}: artifact type {:?} does not match config media type {:?}",
                d.digest,
                m.artifact_type.as_deref().unwrap_or(""),
                m.config.media_type
            ),
        ));
    }
    let [layer] = m.layers.as_slice() else {
        return Err(layout_err(
            origin,
            format!(
                "manifest {}: a seccomp profile artifact has exactly one layer, this one has {}",
                d.digest,
                m.layers.len()
            ),
        ));
    };
    for b in [layer, &m.config] {
        if !b.urls.is_empty() {
            return Err(layout_err(
                origin,
                format!("blob {} has external URLs, which runtimes refuse", b.digest),
            ));
        }
        if b.size > MAX_BLOB {
            return Err(layout_err(
                origin,
                format!(
                    "blob {} is {} bytes, more than the {MAX_BLOB} bytes runtimes take",
                    b.digest, b.size
                ),
            ));
        }
    }
    let path = blob_path(layer);
    let bytes = layout
        .blob(&layer.digest)
        .ok_or_else(|| layout_err(origin, format!("blob {} is missing", layer.digest)))?;
    if is_tar(bytes)
        || bytes.starts_with(&[0x1f, 0x8b])
        || bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
    {
        return Err(Error::input(
            origin,
            &path,
            "the profile layer is an archive; a seccomp artifact's layer is the profile JSON itself",
        ));
    }
    let v = json(bytes, origin, &path)?;
    let s = Seccomp::from_value(&v, origin, &path, &[])?;
    check_artifact(&s, origin, &path)?;
    crate::finish(&s, origin, &path, opts, InputFormat::OciArtifact)
}

/// What a KEP-6061 artifact may not hold: notify actions, a listener, more than
/// [`MAX_ENTRIES_PER_SYSCALL`] entries for one syscall.
fn check_artifact(s: &Seccomp, origin: &str, path: &JsonPath) -> Result<(), Error> {
    if s.default_action == ScmpAction::Notify {
        return Err(Error::input(
            origin,
            &path.key("defaultAction"),
            "SCMP_ACT_NOTIFY is not allowed in a seccomp profile artifact",
        ));
    }
    for (k, v) in [
        ("listenerPath", &s.listener_path),
        ("listenerMetadata", &s.listener_metadata),
    ] {
        if v.is_some() {
            return Err(Error::input(
                origin,
                &path.key(k),
                format!("{k} is not allowed in a seccomp profile artifact"),
            ));
        }
    }
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, e) in s.syscalls.iter().enumerate() {
        let p = path.key("syscalls").index(i);
        if e.action == ScmpAction::Notify {
            return Err(Error::input(
                origin,
                &p.key("action"),
                "SCMP_ACT_NOTIFY is not allowed in a seccomp profile artifact",
            ));
        }
        for n in &e.names {
            let c = count.entry(n).or_default();
            *c += 1;
            if *c > MAX_ENTRIES_PER_SYSCALL {
                return Err(Error::input(
                    origin,
                    &p,
                    format!(
                        "{n} appears in more than {MAX_ENTRIES_PER_SYSCALL} entries, more than a seccomp profile artifact may hold"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// An OCI image config (or `docker`/`podman image inspect` output's `Config`): the profile in
/// its [`PODMAN_LABEL`] label.
pub(crate) fn from_image_config(
    m: &Map<String, Value>,
    origin: &str,
    path: &JsonPath,
    opts: &Options,
) -> Result<Loaded, Error> {
    // OCI image configs say `config`; inspect output says `Config`.
    let (key, config) = match (m.get("config"), m.get("Config")) {
        (Some(c), _) => ("config", c),
        (None, Some(c)) => ("Config", c),
        (None, None) => {
            return Err(Error::input(
                origin,
                path,
                format!("the image config has no config.Labels (no {PODMAN_LABEL} label)"),
            ));
        }
    };
    let labels_path = path.key(key).key("Labels");
    let label_path = labels_path.key(PODMAN_LABEL);
    let label = config
        .get("Labels")
        .and_then(|l| l.get(PODMAN_LABEL))
        .ok_or_else(|| {
            Error::input(
                origin,
                &labels_path,
                format!("no {PODMAN_LABEL} label: podman --seccomp-policy=image then applies its default profile"),
            )
        })?;
    let Some(text) = label.as_str() else {
        return Err(Error::input(
            origin,
            &label_path,
            format!(
                "expected the profile JSON as a string, found {}",
                crate::seccomp::kind(label)
            ),
        ));
    };
    let v = json(text.as_bytes(), origin, &label_path)?;
    let s = Seccomp::from_value(&v, origin, &label_path, &[])?;
    crate::finish(&s, origin, &label_path, opts, InputFormat::ImageLabel)
}

/// True for a JSON object that is an OCI image config (`rootfs`, or `architecture` and `os`
/// beside `config`).
pub(crate) fn is_image_config(m: &Map<String, Value>) -> bool {
    !m.contains_key("ociVersion")
        && !m.contains_key("defaultAction")
        && (m.contains_key("rootfs")
            || (m.contains_key("architecture") && m.contains_key("os") && m.contains_key("config")))
}

/// The KEP-6061 artifact for a policy: the OCI export (guards resolved for `ctx`) adjusted to
/// what the artifact may hold, in a layout whose index names it `name`.
///
/// Losses: those of the OCI export; `notify` becomes `errno EPERM` (runtimes refuse notify in
/// an artifact); a listener is dropped; a syscall with more than [`MAX_ENTRIES_PER_SYSCALL`]
/// entries gets its most restrictive action for every call.
pub fn artifact(
    loaded: &Loaded,
    ctx: &Context,
    name: &str,
) -> Result<(Layout, Vec<Loss>), ExportError> {
    let extras = Extras {
        flags: loaded.extras.flags.clone(),
        listener_path: None,
        listener_metadata: None,
    };
    let (mut s, mut losses) = to_seccomp(&loaded.policy, ctx, &extras)?;
    if loaded.extras.listener_path.is_some() || loaded.extras.listener_metadata.is_some() {
        losses.push(Loss(
            "a seccomp profile artifact has no listenerPath or listenerMetadata: they are left out"
                .into(),
        ));
    }
    if s.default_action == ScmpAction::Notify {
        s.default_action = ScmpAction::Errno;
        s.default_errno_ret = Some(1);
        losses.push(Loss(
            "the default action notify is not allowed in an artifact: it is errno EPERM".into(),
        ));
    }
    let mut notified = Vec::new();
    for e in &mut s.syscalls {
        if e.action == ScmpAction::Notify {
            e.action = ScmpAction::Errno;
            e.errno_ret = Some(1);
            notified.extend(e.names.iter().cloned());
        }
    }
    if !notified.is_empty() {
        notified.sort();
        notified.dedup();
        losses.push(Loss(format!(
            "{}: notify is not allowed in an artifact: these calls get errno EPERM instead of going to the supervisor",
            notified.join(" ")
        )));
    }
    cap_entries(&mut s, &mut losses)?;
    let mut text = serde_json::to_string_pretty(&s.to_value(false))
        .map_err(|e| ExportError::Unsupported(e.to_string()))?;
    text.push('\n');
    let size = u64::try_from(text.len()).unwrap_or(u64::MAX);
    if size > MAX_BLOB {
        return Err(ExportError::Unsupported(format!(
            "the profile is {size} bytes as JSON, more than the {MAX_BLOB} bytes a seccomp profile artifact may hold"
        )));
    }
    let mut layout = Layout::new();
    let config = layout.add_blob(SECCOMP_CONFIG, spec::EMPTY_JSON.to_vec());
    let layer = layout
        .add_blob(LAYER_JSON, text.into_bytes())
        .with_annotation(TITLE, "seccomp.json");
    let mut manifest = spec::Manifest::new(config, vec![layer]);
    manifest.artifact_type = Some(SECCOMP_CONFIG.to_string());
    let d = layout
        .add_manifest(&manifest)
        .map_err(|e| ExportError::Unsupported(e.to_string()))?
        .with_annotation(spec::REF_NAME, name);
    layout.index_mut().manifests.push(d);
    Ok((layout, losses))
}

/// Replaces the entries of a syscall named in more than [`MAX_ENTRIES_PER_SYSCALL`] entries by
/// one unconditional entry with the most restrictive action it can get.
fn cap_entries(s: &mut Seccomp, losses: &mut Vec<Loss>) -> Result<(), ExportError> {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for e in &s.syscalls {
        for n in &e.names {
            *count.entry(n.clone()).or_default() += 1;
        }
    }
    let over: Vec<String> = count
        .into_iter()
        .filter(|(_, c)| *c > MAX_ENTRIES_PER_SYSCALL)
        .map(|(n, _)| n)
        .collect();
    if over.is_empty() {
        return Ok(());
    }
    let to_action = |a: ScmpAction, e: Option<u32>| {
        crate::import::action(a, e, "", &JsonPath::root(), "errnoRet")
            .map_err(|err| ExportError::Unsupported(err.to_string()))
    };
    let default = to_action(s.default_action, s.default_errno_ret)?;
    for n in over {
        let mut actions = vec![default];
        for e in s.syscalls.iter().filter(|e| e.names.contains(&n)) {
            actions.push(to_action(e.action, e.errno_ret)?);
        }
        let strictest = Action::strictest(actions).unwrap_or(default);
        for e in &mut s.syscalls {
            e.names.retain(|x| *x != n);
        }
        s.syscalls.retain(|e| !e.names.is_empty());
        if strictest != default {
            let (action, errno_ret) = crate::rules::scmp_action(strictest);
            s.syscalls.push(Entry {
                names: vec![n.clone()],
                action,
                errno_ret,
                args: Vec::new(),
                comment: None,
                includes: Default::default(),
                excludes: Default::default(),
                path: None,
            });
        }
        losses.push(Loss(format!(
            "{n}: its argument conditions need more than {MAX_ENTRIES_PER_SYSCALL} entries, more than an artifact may hold; it gets {strictest} for every call"
        )));
    }
    Ok(())
}
