//! The image-spec documents this crate reads and writes (OCI image-spec v1.1: descriptor.md,
//! manifest.md, image-index.md, config.md), as serde types. Serialized with `serde_json`, the
//! same value always gives the same bytes: fields in declaration order, maps sorted, empty
//! optional fields left out. Unknown fields are ignored on reading, as the spec asks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Digest;

/// An image manifest.
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An image index.
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// An image configuration.
pub const IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// An uncompressed tar layer.
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// The empty JSON object `{}`: the config of an artifact that needs none (manifest.md,
/// "Guidance for an Empty Descriptor").
pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The bytes of [`EMPTY`]'s blob.
pub const EMPTY_JSON: &[u8] = b"{}";
/// Docker's schema 2 manifest, which registries and `docker save` still produce; read as a
/// manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker's manifest list; read as an index.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The annotation naming a manifest in an index (`0.1.0`, or a full reference).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's annotation for the full image name on import (`ctr images import` names the
/// image after it).
pub const CONTAINERD_IMAGE_NAME: &str = "io.containerd.image.name";

/// What a media type says a blob is, for walking a layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An image manifest (OCI or Docker schema 2).
    Manifest,
    /// An image index (OCI or Docker manifest list).
    Index,
    /// Anything else: a config, a layer, an artifact's payload.
    Blob,
}

impl Kind {
    /// The kind of blob `media_type` names.
    #[must_use]
    pub fn of(media_type: &str) -> Kind {
        match media_type {
            MANIFEST | DOCKER_MANIFEST => Kind::Manifest,
            INDEX | DOCKER_MANIFEST_LIST => Kind::Index,
            _ => Kind::Blob,
        }
    }
}

/// A content descriptor: what a blob is, its digest and its size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The blob's media type.
    pub media_type: String,
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// Where else the blob may be fetched from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Free-form metadata ([`REF_NAME`] in an index).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// For a manifest in an index: the platform its image runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// For an artifact manifest in an index: its artifact type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor of `bytes` with `media_type`.
    #[must_use]
    pub fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: Digest::sha256(bytes),
            size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
        }
    }

    /// The same descriptor with one more annotation.
    #[must_use]
    pub fn with_annotation(mut self, key: &str, value: &str) -> Descriptor {
        self.annotations.insert(key.to_string(), value.to_string());
        self
    }
}

/// The platform an image runs on (Go's `GOARCH`/`GOOS` names: `amd64`, `linux`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `linux`.
    pub os: String,
    /// The CPU variant (`v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image manifest: one config and its layers, or an artifact (manifest.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// [`MANIFEST`] (optional in the spec; this crate always writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// An artifact's type, when the config is [`EMPTY`] or not an image config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The configuration blob.
    pub config: Descriptor,
    /// The layers (an image's filesystem changesets, or an artifact's payload), in order.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (a signature's image, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// A manifest of `config` and `layers` with [`MANIFEST`] as its media type.
    #[must_use]
    pub fn new(config: Descriptor, layers: Vec<Descriptor>) -> Manifest {
        Manifest {
            schema_version: 2,
            media_type: Some(MANIFEST.to_string()),
            artifact_type: None,
            config,
            layers,
            subject: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// An image index: a list of manifests (image-index.md); `index.json` of a layout is one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// [`INDEX`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// An artifact index's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The manifests (or nested indexes).
    pub manifests: Vec<Descriptor>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            schema_version: 2,
            media_type: Some(INDEX.to_string()),
            artifact_type: None,
            manifests: Vec::new(),
            annotations: BTreeMap::new(),
        }
    }
}

/// An image configuration (config.md): what the runtime needs to run the image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// When the image was made (RFC 3339); left out for a reproducible image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `linux`.
    pub os: String,
    /// How to run a container from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    /// The layers' uncompressed digests.
    pub rootfs: RootFs,
    /// How each layer was made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
}

impl ImageConfig {
    /// A configuration for `architecture`/`os` running `config`, with no layers yet.
    #[must_use]
    pub fn new(architecture: &str, os: &str, config: ContainerConfig) -> ImageConfig {
        ImageConfig {
            created: None,
            architecture: architecture.to_string(),
            os: os.to_string(),
            config: Some(config),
            rootfs: RootFs::default(),
            history: Vec::new(),
        }
    }
}

/// The execution parameters of an image's containers (config.md, `config`; Docker's field
/// names).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// `uid[:gid]` or a name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `NAME=value` entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// The command the container runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    /// Arguments after the entrypoint, replaced by the ones a user gives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cmd: Vec<String>,
    /// The working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The layers' uncompressed digests, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// One per layer: the digest of its uncompressed tar.
    pub diff_ids: Vec<Digest>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".to_string(),
            diff_ids: Vec::new(),
        }
    }
}

/// One step of an image's history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// The command that made the layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// A note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True when the step made no layer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_manifest_serializes_in_spec_order_without_empty_fields() {
        let m = Manifest::new(Descriptor::of(EMPTY, EMPTY_JSON), Vec::new());
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(
            json,
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#
        );
        let back: Manifest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn unknown_fields_are_ignored_and_a_bad_digest_is_refused() {
        let json = r#"{"schemaVersion":2,"future":1,"config":{"mediaType":"x","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"data":"e30="},"layers":[]}"#;
        let m: Manifest = serde_json::from_str(json).unwrap();
        assert_eq!(m.config.size, 2);
        let bad = json.replace("sha256:44", "sha256:4");
        let e = serde_json::from_str::<Manifest>(&bad).unwrap_err();
        assert!(e.to_string().contains("64 lowercase hex"), "{e}");
    }

    #[test]
    fn an_image_config_uses_dockers_field_names() {
        let mut c = ImageConfig::new(
            "amd64",
            "linux",
            ContainerConfig {
                entrypoint: vec!["/moat".into()],
                working_dir: Some("/".into()),
                ..ContainerConfig::default()
            },
        );
        c.rootfs.diff_ids.push(Digest::sha256(b""));
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["config"]["Entrypoint"][0], "/moat");
        assert_eq!(v["config"]["WorkingDir"], "/");
        assert_eq!(v["rootfs"]["type"], "layers");
        assert!(v.get("created").is_none());
        assert_eq!(Kind::of(MANIFEST), Kind::Manifest);
        assert_eq!(Kind::of(DOCKER_MANIFEST_LIST), Kind::Index);
        assert_eq!(Kind::of(LAYER_TAR), Kind::Blob);
    }
}
