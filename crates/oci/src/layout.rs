//! An OCI image layout (image-layout.md): `oci-layout`, `index.json` and `blobs/sha256/HEX`,
//! held in memory, written as a directory or a tar archive, and read back with every
//! reachable blob's size and digest checked.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::spec::{
    Descriptor, IMAGE_CONFIG, INDEX, ImageConfig, Index, Kind, LAYER_TAR, MANIFEST, Manifest,
    Platform,
};
use crate::{Digest, Error, tar};

/// The layout's marker file.
pub const LAYOUT_FILE: &str = "oci-layout";
/// The layout's entry point, an image index.
pub const INDEX_FILE: &str = "index.json";
/// The layout version this crate writes and reads.
pub const LAYOUT_VERSION: &str = "1.0.0";

/// How deep indexes may nest below `index.json`.
const MAX_DEPTH: usize = 8;

/// What reading a layout may cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest blob (a layer, say), in bytes.
    pub blob: u64,
    /// The largest JSON document (`index.json`, a manifest, an index, an image config).
    pub json: u64,
    /// All blobs together, and the largest archive read.
    pub total: u64,
    /// The most blobs (and descriptors visited).
    pub blobs: usize,
}

impl Default for Limits {
    /// 512 MiB per blob, 4 MiB per JSON document, 1 GiB in all, 4096 blobs.
    fn default() -> Self {
        Limits {
            blob: 512 << 20,
            json: 4 << 20,
            total: 1 << 30,
            blobs: 4096,
        }
    }
}

/// An image layout in memory: its index and the blobs it holds.
///
/// ```
/// use moat_oci::{Layout, spec};
///
/// let mut layout = Layout::new();
/// let config = layout.add_blob(spec::EMPTY, spec::EMPTY_JSON.to_vec());
/// let layer = layout.add_blob("application/vnd.example+json", b"{\"a\":1}".to_vec());
/// let mut manifest = spec::Manifest::new(config, vec![layer]);
/// manifest.artifact_type = Some("application/vnd.example".into());
/// let d = layout.add_manifest(&manifest)?.with_annotation(spec::REF_NAME, "v1");
/// layout.index_mut().manifests.push(d);
///
/// let archive = layout.to_tar()?;
/// assert_eq!(archive, layout.to_tar()?); // the same bytes every time
/// let back = Layout::from_tar(&archive[..], &moat_oci::Limits::default())?;
/// let (_, m) = back.find("v1").expect("tagged");
/// assert_eq!(back.blob(&m.layers[0].digest), Some(&b"{\"a\":1}"[..]));
/// # Ok::<(), moat_oci::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    index: Index,
    blobs: BTreeMap<Digest, Vec<u8>>,
}

#[derive(serde::Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Marker {
    image_layout_version: String,
}

fn len64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn to_json<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|source| Error::Json {
        what: what.to_string(),
        source,
    })
}

fn from_json<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|source| Error::Json {
        what: what.to_string(),
        source,
    })
}

impl Layout {
    /// An empty layout (an index with no manifests).
    #[must_use]
    pub fn new() -> Layout {
        Layout::default()
    }

    /// The layout's `index.json`.
    #[must_use]
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The index, to add manifests to (descriptors from [`Layout::add_manifest`]).
    pub fn index_mut(&mut self) -> &mut Index {
        &mut self.index
    }

    /// The blob with `digest`, if the layout holds it.
    #[must_use]
    pub fn blob(&self, digest: &Digest) -> Option<&[u8]> {
        self.blobs.get(digest).map(Vec::as_slice)
    }

    /// Every blob, in digest order.
    pub fn blobs(&self) -> impl Iterator<Item = (&Digest, &[u8])> {
        self.blobs.iter().map(|(d, b)| (d, b.as_slice()))
    }

    /// Stores `data` and returns its descriptor with `media_type`.
    pub fn add_blob(&mut self, media_type: &str, data: Vec<u8>) -> Descriptor {
        let d = Descriptor::of(media_type, &data);
        self.blobs.insert(d.digest.clone(), data);
        d
    }

    /// Stores `value` as compact JSON (the same value, the same bytes).
    ///
    /// # Errors
    ///
    /// [`Error::Json`] if `value` cannot be serialized.
    pub fn add_json<T: Serialize>(
        &mut self,
        media_type: &str,
        value: &T,
    ) -> Result<Descriptor, Error> {
        let bytes = to_json(media_type, value)?;
        Ok(self.add_blob(media_type, bytes))
    }

    /// Stores `manifest` and returns its descriptor (its media type, and its artifact type
    /// as the spec asks an index entry to carry); push it into [`Layout::index_mut`] to make
    /// it reachable, with a [`crate::spec::REF_NAME`] annotation to name it.
    ///
    /// # Errors
    ///
    /// [`Error::Json`] if it cannot be serialized.
    pub fn add_manifest(&mut self, manifest: &Manifest) -> Result<Descriptor, Error> {
        let media_type = manifest.media_type.as_deref().unwrap_or(MANIFEST);
        let mut d = self.add_json(media_type, manifest)?;
        d.artifact_type.clone_from(&manifest.artifact_type);
        Ok(d)
    }

    /// Adds an image: each of `layers` (an uncompressed tar, see [`tar::Builder`]) as a
    /// [`LAYER_TAR`] blob, `config` with their diff ids, and a manifest, which goes into the
    /// index with the config's platform and `annotations`. Returns the manifest's descriptor.
    ///
    /// # Errors
    ///
    /// [`Error::Json`] if a document cannot be serialized.
    pub fn add_image(
        &mut self,
        mut config: ImageConfig,
        layers: Vec<Vec<u8>>,
        annotations: BTreeMap<String, String>,
    ) -> Result<Descriptor, Error> {
        let mut descriptors = Vec::with_capacity(layers.len());
        for layer in layers {
            let d = self.add_blob(LAYER_TAR, layer);
            config.rootfs.diff_ids.push(d.digest.clone());
            descriptors.push(d);
        }
        let platform = Platform {
            architecture: config.architecture.clone(),
            os: config.os.clone(),
            variant: None,
        };
        let config = self.add_json(IMAGE_CONFIG, &config)?;
        let mut d = self.add_manifest(&Manifest::new(config, descriptors))?;
        d.platform = Some(platform);
        d.annotations = annotations;
        self.index.manifests.push(d.clone());
        Ok(d)
    }

    /// Parses the blob `d` names as JSON.
    ///
    /// # Errors
    ///
    /// [`Error::MissingBlob`], or [`Error::Json`] naming the blob.
    pub fn json<T: DeserializeOwned>(&self, d: &Descriptor) -> Result<T, Error> {
        let bytes = self.blob(&d.digest).ok_or_else(|| Error::MissingBlob {
            digest: d.digest.clone(),
        })?;
        from_json(
            &format!("{} ({})", d.digest.blob_path(), d.media_type),
            bytes,
        )
    }

    /// Every manifest reachable from the index (through nested indexes, depth first), with
    /// the descriptor that names it.
    ///
    /// # Errors
    ///
    /// [`Error::MissingBlob`] or [`Error::Json`] for a blob the index reaches.
    pub fn manifests(&self) -> Result<Vec<(Descriptor, Manifest)>, Error> {
        let mut out = Vec::new();
        self.collect(&self.index, 0, &mut out)?;
        Ok(out)
    }

    fn collect(
        &self,
        index: &Index,
        depth: usize,
        out: &mut Vec<(Descriptor, Manifest)>,
    ) -> Result<(), Error> {
        for d in &index.manifests {
            match Kind::of(&d.media_type) {
                Kind::Manifest => out.push((d.clone(), self.json(d)?)),
                Kind::Index if depth < MAX_DEPTH => {
                    let nested: Index = self.json(d)?;
                    self.collect(&nested, depth + 1, out)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The manifest the index names `name` ([`crate::spec::REF_NAME`] or
    /// [`crate::spec::CONTAINERD_IMAGE_NAME`]), at the top level of the index.
    #[must_use]
    pub fn find(&self, name: &str) -> Option<(Descriptor, Manifest)> {
        self.index
            .manifests
            .iter()
            .filter(|d| Kind::of(&d.media_type) == Kind::Manifest)
            .find(|d| {
                [crate::spec::REF_NAME, crate::spec::CONTAINERD_IMAGE_NAME]
                    .iter()
                    .any(|k| d.annotations.get(*k).is_some_and(|v| v == name))
            })
            .and_then(|d| Some((d.clone(), self.json(d).ok()?)))
    }

    /// The layout's files in order: `blobs/sha256/HEX`..., `index.json`, `oci-layout`.
    fn files(&self) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let mut files: Vec<(String, Vec<u8>)> = self
            .blobs
            .iter()
            .map(|(d, b)| (d.blob_path(), b.clone()))
            .collect();
        files.push((INDEX_FILE.to_string(), to_json(INDEX_FILE, &self.index)?));
        let marker = Marker {
            image_layout_version: LAYOUT_VERSION.to_string(),
        };
        files.push((LAYOUT_FILE.to_string(), to_json(LAYOUT_FILE, &marker)?));
        Ok(files)
    }

    /// The layout as a tar archive: the same layout gives the same bytes (see [`tar`]).
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] for a blob of 8 GiB or more.
    pub fn to_tar(&self) -> Result<Vec<u8>, Error> {
        let mut b = tar::Builder::new();
        b.dir("blobs", 0o755)?;
        b.dir("blobs/sha256", 0o755)?;
        for (path, data) in self.files()? {
            b.file(&path, 0o644, data)?;
        }
        b.into_bytes()
    }

    /// Writes [`Layout::to_tar`] to `path`, replacing it atomically (moat-io's output rules).
    ///
    /// # Errors
    ///
    /// [`Error::Write`], or as [`Layout::to_tar`].
    pub fn write_tar(&self, path: &Path) -> Result<(), Error> {
        let out = moat_io::Output::create(path)?;
        let bytes = self.to_tar()?;
        out.write(&bytes)?;
        Ok(())
    }

    /// Writes the layout as the directory `dir`, which must not exist: it is filled under a
    /// temporary name beside it and renamed into place, so `dir` never holds half a layout.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the path the system refused (an existing `dir` among them).
    pub fn write_dir(&self, dir: &Path) -> Result<(), Error> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        if std::fs::symlink_metadata(dir).is_ok() {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            });
        }
        let name = dir.file_name().ok_or_else(|| Error::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        })?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".moat-{}.tmp", std::process::id()));
        let tmp = dir.with_file_name(tmp_name);
        let result = (|| {
            std::fs::create_dir(&tmp).map_err(io(&tmp))?;
            let blobs = tmp.join("blobs/sha256");
            std::fs::create_dir_all(&blobs).map_err(io(&blobs))?;
            for (rel, data) in self.files()? {
                let path = tmp.join(&rel);
                std::fs::write(&path, data).map_err(io(&path))?;
            }
            std::fs::rename(&tmp, dir).map_err(io(dir))
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }

    /// Reads the layout at `path`: a directory, or a tar archive of one.
    ///
    /// # Errors
    ///
    /// As [`Layout::from_tar`] and [`Error::Read`] for the files.
    pub fn read(path: &Path, limits: &Limits) -> Result<Layout, Error> {
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return Layout::read_dir(path, limits);
        }
        let bytes = moat_io::read(
            path,
            moat_io::Limit {
                bytes: limits.total,
                what: "an OCI layout archive",
            },
            moat_io::Source::Main,
        )?;
        Layout::from_tar(&bytes[..], limits)
    }

    fn read_dir(dir: &Path, limits: &Limits) -> Result<Layout, Error> {
        let read_json = |rel: &str| -> Result<Vec<u8>, Error> {
            Ok(moat_io::read(
                &dir.join(rel),
                moat_io::Limit {
                    bytes: limits.json,
                    what: "an OCI layout's JSON document",
                },
                moat_io::Source::Included,
            )?)
        };
        let marker = read_json(LAYOUT_FILE)?;
        let index = read_json(INDEX_FILE)?;
        let mut load = |d: &Descriptor| -> Result<Vec<u8>, Error> {
            let path: PathBuf = dir.join(d.digest.blob_path());
            let actual = match std::fs::symlink_metadata(&path) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::MissingBlob {
                        digest: d.digest.clone(),
                    });
                }
                Err(source) => return Err(Error::Io { path, source }),
            };
            if actual != d.size {
                return Err(Error::SizeMismatch {
                    digest: d.digest.clone(),
                    declared: d.size,
                    actual,
                });
            }
            let bytes = moat_io::read(
                &path,
                moat_io::Limit {
                    bytes: d.size,
                    what: "the blob its descriptor describes",
                },
                moat_io::Source::Included,
            )?;
            let digest = Digest::sha256(&bytes);
            if digest != d.digest {
                return Err(Error::DigestMismatch {
                    path: d.digest.blob_path(),
                    actual: digest,
                });
            }
            Ok(bytes)
        };
        Layout::assemble(&marker, &index, limits, &mut load)
    }

    /// Reads a tar archive of a layout (`./`-prefixed names too; a Docker `manifest.json`
    /// beside it is ignored). Every blob's content must hash to its file name; every blob the
    /// index reaches must be there with its declared size; blobs it does not reach are
    /// dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Tar`] for a malformed archive, [`Error::TooLarge`] past `limits`,
    /// [`Error::DigestMismatch`], [`Error::MissingBlob`], [`Error::SizeMismatch`],
    /// [`Error::Json`], [`Error::Layout`].
    pub fn from_tar(archive: impl Read, limits: &Limits) -> Result<Layout, Error> {
        let mut reader = tar::Reader::new(archive);
        let mut marker = None;
        let mut index = None;
        let mut blobs: BTreeMap<Digest, Vec<u8>> = BTreeMap::new();
        let mut total: u64 = 0;
        let json_limit = |path: &str, data: &[u8]| {
            if len64(data.len()) > limits.json {
                Err(Error::TooLarge {
                    what: path.to_string(),
                    size: len64(data.len()),
                    limit: limits.json,
                })
            } else {
                Ok(())
            }
        };
        while let Some(entry) = reader.next_entry(limits.blob)? {
            let tar::Entry::File { path, data, .. } = entry else {
                continue;
            };
            if path == LAYOUT_FILE {
                json_limit(&path, &data)?;
                marker = Some(data);
            } else if path == INDEX_FILE {
                json_limit(&path, &data)?;
                index = Some(data);
            } else if let Some(name) = path.strip_prefix("blobs/sha256/") {
                let Some(claimed) = Digest::from_hex(name) else {
                    return Err(Error::Layout {
                        reason: format!(
                            "{}: a blob's file name must be its 64 lowercase hex digits",
                            moat_io::excerpt(&path, moat_io::EXCERPT_CHARS)
                        ),
                    });
                };
                let actual = Digest::sha256(&data);
                if actual != claimed {
                    return Err(Error::DigestMismatch { path, actual });
                }
                total = total.saturating_add(len64(data.len()));
                if total > limits.total {
                    return Err(Error::TooLarge {
                        what: "the layout's blobs together".into(),
                        size: total,
                        limit: limits.total,
                    });
                }
                if blobs.len() >= limits.blobs {
                    return Err(Error::Layout {
                        reason: format!("more than {} blobs", limits.blobs),
                    });
                }
                blobs.insert(claimed, data);
            }
        }
        let marker = marker.ok_or_else(|| Error::Layout {
            reason: format!("no {LAYOUT_FILE} file: not an OCI image layout"),
        })?;
        let index = index.ok_or_else(|| Error::Layout {
            reason: format!("no {INDEX_FILE} file"),
        })?;
        let mut load = |d: &Descriptor| -> Result<Vec<u8>, Error> {
            let bytes = blobs.get(&d.digest).ok_or_else(|| Error::MissingBlob {
                digest: d.digest.clone(),
            })?;
            if len64(bytes.len()) != d.size {
                return Err(Error::SizeMismatch {
                    digest: d.digest.clone(),
                    declared: d.size,
                    actual: len64(bytes.len()),
                });
            }
            Ok(bytes.clone())
        };
        Layout::assemble(&marker, &index, limits, &mut load)
    }

    /// Checks the marker, parses the index and loads every blob it reaches through `load`
    /// (which checks size and digest).
    fn assemble(
        marker: &[u8],
        index: &[u8],
        limits: &Limits,
        load: &mut dyn FnMut(&Descriptor) -> Result<Vec<u8>, Error>,
    ) -> Result<Layout, Error> {
        let marker: Marker = from_json(LAYOUT_FILE, marker)?;
        if marker.image_layout_version != LAYOUT_VERSION {
            return Err(Error::Layout {
                reason: format!(
                    "{LAYOUT_FILE}: imageLayoutVersion {:?}, only {LAYOUT_VERSION:?} is read",
                    moat_io::excerpt(&marker.image_layout_version, moat_io::EXCERPT_CHARS)
                ),
            });
        }
        let index: Index = from_json(INDEX_FILE, index)?;
        let mut walk = Walk {
            limits,
            load,
            blobs: BTreeMap::new(),
            visited: 0,
            seen: BTreeSet::new(),
        };
        walk.index(&index, 0)?;
        Ok(Layout {
            index,
            blobs: walk.blobs,
        })
    }

    /// Checks that every blob the index reaches is held with its declared size, and that
    /// every manifest, index and image config parses (what reading a layout checks, for a
    /// layout built in memory).
    ///
    /// # Errors
    ///
    /// As [`Layout::from_tar`].
    pub fn verify(&self) -> Result<(), Error> {
        let mut load = |d: &Descriptor| -> Result<Vec<u8>, Error> {
            let bytes = self.blob(&d.digest).ok_or_else(|| Error::MissingBlob {
                digest: d.digest.clone(),
            })?;
            if len64(bytes.len()) != d.size {
                return Err(Error::SizeMismatch {
                    digest: d.digest.clone(),
                    declared: d.size,
                    actual: len64(bytes.len()),
                });
            }
            Ok(bytes.to_vec())
        };
        let mut walk = Walk {
            limits: &Limits {
                blobs: usize::MAX,
                ..Limits::default()
            },
            load: &mut load,
            blobs: BTreeMap::new(),
            visited: 0,
            seen: BTreeSet::new(),
        };
        walk.index(&self.index, 0)
    }
}

/// A walk from an index through every blob it reaches.
struct Walk<'a> {
    limits: &'a Limits,
    load: &'a mut dyn FnMut(&Descriptor) -> Result<Vec<u8>, Error>,
    blobs: BTreeMap<Digest, Vec<u8>>,
    visited: usize,
    /// Manifests and indexes already checked (a blob may be named many times).
    seen: BTreeSet<Digest>,
}

impl Walk<'_> {
    fn index(&mut self, index: &Index, depth: usize) -> Result<(), Error> {
        if let Some(m) = index.media_type.as_deref()
            && Kind::of(m) != Kind::Index
        {
            return Err(Error::Layout {
                reason: format!("an index has mediaType {m:?}, expected {INDEX:?}"),
            });
        }
        for d in &index.manifests {
            self.descriptor(d, depth)?;
        }
        Ok(())
    }

    fn fetch(&mut self, d: &Descriptor) -> Result<Vec<u8>, Error> {
        self.visited += 1;
        if self.visited > self.limits.blobs {
            return Err(Error::Layout {
                reason: format!("more than {} descriptors", self.limits.blobs),
            });
        }
        if let Some(b) = self.blobs.get(&d.digest) {
            if len64(b.len()) != d.size {
                return Err(Error::SizeMismatch {
                    digest: d.digest.clone(),
                    declared: d.size,
                    actual: len64(b.len()),
                });
            }
            return Ok(b.clone());
        }
        if d.size > self.limits.blob {
            return Err(Error::TooLarge {
                what: d.digest.blob_path(),
                size: d.size,
                limit: self.limits.blob,
            });
        }
        let bytes = (self.load)(d)?;
        self.blobs.insert(d.digest.clone(), bytes.clone());
        Ok(bytes)
    }

    fn json<T: DeserializeOwned>(&mut self, d: &Descriptor) -> Result<T, Error> {
        if d.size > self.limits.json {
            return Err(Error::TooLarge {
                what: format!("{} ({})", d.digest.blob_path(), d.media_type),
                size: d.size,
                limit: self.limits.json,
            });
        }
        let bytes = self.fetch(d)?;
        from_json(
            &format!("{} ({})", d.digest.blob_path(), d.media_type),
            &bytes,
        )
    }

    fn descriptor(&mut self, d: &Descriptor, depth: usize) -> Result<(), Error> {
        match Kind::of(&d.media_type) {
            Kind::Blob => {
                self.fetch(d)?;
            }
            Kind::Manifest => {
                let m: Manifest = self.json(d)?;
                if !self.seen.insert(d.digest.clone()) {
                    return Ok(());
                }
                if let Some(t) = m.media_type.as_deref()
                    && t != d.media_type
                {
                    return Err(Error::Layout {
                        reason: format!(
                            "{}: mediaType {t:?}, its descriptor says {:?}",
                            d.digest.blob_path(),
                            d.media_type
                        ),
                    });
                }
                if m.config.media_type == IMAGE_CONFIG {
                    let c: ImageConfig = self.json(&m.config)?;
                    if c.rootfs.diff_ids.len() != m.layers.len() {
                        return Err(Error::Layout {
                            reason: format!(
                                "{}: {} layers but its config lists {} diff ids",
                                d.digest.blob_path(),
                                m.layers.len(),
                                c.rootfs.diff_ids.len()
                            ),
                        });
                    }
                } else {
                    self.fetch(&m.config)?;
                }
                for layer in &m.layers {
                    self.fetch(layer)?;
                }
            }
            Kind::Index => {
                if depth >= MAX_DEPTH {
                    return Err(Error::Layout {
                        reason: format!("indexes nest deeper than {MAX_DEPTH}"),
                    });
                }
                let nested: Index = self.json(d)?;
                if self.seen.insert(d.digest.clone()) {
                    self.index(&nested, depth + 1)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::spec::{ContainerConfig, EMPTY, EMPTY_JSON, REF_NAME};

    fn image() -> Layout {
        let mut layer = tar::Builder::new();
        layer.dir("bin", 0o755).unwrap();
        layer.file("bin/hello", 0o755, b"hello".to_vec()).unwrap();
        let mut layout = Layout::new();
        let config = ImageConfig::new(
            "amd64",
            "linux",
            ContainerConfig {
                entrypoint: vec!["/bin/hello".into()],
                ..ContainerConfig::default()
            },
        );
        let annotations = BTreeMap::from([(REF_NAME.to_string(), "0.1.0".to_string())]);
        layout
            .add_image(config, vec![layer.into_bytes().unwrap()], annotations)
            .unwrap();
        layout
    }

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("moat-oci-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn an_image_round_trips_through_tar_and_directory() {
        let layout = image();
        layout.verify().unwrap();
        let bytes = layout.to_tar().unwrap();
        assert_eq!(bytes, image().to_tar().unwrap(), "deterministic");
        let back = Layout::from_tar(&bytes[..], &Limits::default()).unwrap();
        assert_eq!(back, layout);
        let (d, m) = back.find("0.1.0").unwrap();
        assert_eq!(d.platform.as_ref().unwrap().architecture, "amd64");
        assert_eq!(m.layers.len(), 1);
        let c: ImageConfig = back.json(&m.config).unwrap();
        assert_eq!(c.rootfs.diff_ids, [m.layers[0].digest.clone()]);

        let dir = temp("dir");
        layout.write_dir(&dir).unwrap();
        assert!(
            dir.join("blobs/sha256")
                .join(m.layers[0].digest.hex())
                .is_file()
        );
        assert_eq!(
            std::fs::read_to_string(dir.join(LAYOUT_FILE)).unwrap(),
            r#"{"imageLayoutVersion":"1.0.0"}"#
        );
        assert_eq!(Layout::read(&dir, &Limits::default()).unwrap(), layout);
        // An existing directory is not overwritten.
        assert!(matches!(layout.write_dir(&dir), Err(Error::Io { .. })));
        let tar = dir.with_extension("tar");
        layout.write_tar(&tar).unwrap();
        assert_eq!(Layout::read(&tar, &Limits::default()).unwrap(), layout);
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_file(&tar).unwrap();
    }

    #[test]
    fn gnu_tar_extracts_a_layout_archive_that_reads_back_as_a_directory() {
        let layout = image();
        let dir = temp("gnu");
        std::fs::create_dir_all(&dir).unwrap();
        let tar = dir.join("image.tar");
        layout.write_tar(&tar).unwrap();
        let out = std::process::Command::new("tar")
            .arg("-xf")
            .arg(&tar)
            .arg("-C")
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(Layout::read(&dir, &Limits::default()).unwrap(), layout);
        // And a layout packed by GNU tar (`./` names, real owners and times) reads too.
        let repacked = dir.with_extension("tar");
        let out = std::process::Command::new("tar")
            .arg("-cf")
            .arg(&repacked)
            .arg("-C")
            .arg(&dir)
            .args(["./oci-layout", "./index.json", "./blobs"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(Layout::read(&repacked, &Limits::default()).unwrap(), layout);
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_file(&repacked).unwrap();
    }

    /// An archive of `files` (path, content) as a layout tar would hold them.
    fn archive(files: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut b = tar::Builder::new();
        for (p, d) in files {
            b.file(p, 0o644, d.clone()).unwrap();
        }
        b.into_bytes().unwrap()
    }

    #[test]
    fn a_blob_whose_content_does_not_match_its_name_is_refused() {
        let layout = image();
        let mut files = layout.files().unwrap();
        let layer = files
            .iter_mut()
            .find(|(_, d)| d.len() > 1000)
            .expect("the layer");
        layer.1[600] ^= 1;
        let e = Layout::from_tar(&archive(&files)[..], &Limits::default()).unwrap_err();
        assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
    }

    #[test]
    fn a_missing_blob_or_a_wrong_size_is_refused() {
        let mut layout = image();
        let (_, m) = layout.manifests().unwrap().remove(0);
        let mut files = layout.files().unwrap();
        files.retain(|(p, _)| *p != m.layers[0].digest.blob_path());
        let e = Layout::from_tar(&archive(&files)[..], &Limits::default()).unwrap_err();
        assert!(
            matches!(&e, Error::MissingBlob { digest } if *digest == m.layers[0].digest),
            "{e}"
        );
        layout.index_mut().manifests[0].size += 1;
        let e = Layout::from_tar(&layout.to_tar().unwrap()[..], &Limits::default()).unwrap_err();
        assert!(matches!(e, Error::SizeMismatch { .. }), "{e}");
        assert!(matches!(layout.verify(), Err(Error::SizeMismatch { .. })));
    }

    #[test]
    fn limits_bound_what_is_read() {
        let layout = image();
        let bytes = layout.to_tar().unwrap();
        let small = Limits {
            blob: 100,
            ..Limits::default()
        };
        let e = Layout::from_tar(&bytes[..], &small).unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{e}");
        let few = Limits {
            blobs: 1,
            ..Limits::default()
        };
        let e = Layout::from_tar(&bytes[..], &few).unwrap_err();
        assert!(matches!(e, Error::Layout { .. }), "{e}");
    }

    #[test]
    fn not_a_layout_is_one_clear_error() {
        let e = Layout::from_tar(&archive(&[])[..], &Limits::default()).unwrap_err();
        assert_eq!(e.to_string(), "no oci-layout file: not an OCI image layout");
        let e = Layout::from_tar(&b"garbage"[..], &Limits::default()).unwrap_err();
        assert!(matches!(e, Error::Tar { offset: 0, .. }), "{e}");
        let files = [
            (
                LAYOUT_FILE.to_string(),
                br#"{"imageLayoutVersion":"2.0.0"}"#.to_vec(),
            ),
            (INDEX_FILE.to_string(), b"{}".to_vec()),
        ];
        let e = Layout::from_tar(&archive(&files)[..], &Limits::default()).unwrap_err();
        assert!(e.to_string().contains("only \"1.0.0\""), "{e}");
        let files = [
            (
                LAYOUT_FILE.to_string(),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ),
            (INDEX_FILE.to_string(), b"{\"schemaVersion\":2,".to_vec()),
        ];
        let e = Layout::from_tar(&archive(&files)[..], &Limits::default()).unwrap_err();
        assert!(
            matches!(&e, Error::Json { what, .. } if what == "index.json"),
            "{e}"
        );
    }

    #[test]
    fn an_artifact_with_an_empty_config_round_trips_and_unreachable_blobs_are_dropped() {
        let mut layout = Layout::new();
        let config = layout.add_blob(EMPTY, EMPTY_JSON.to_vec());
        let payload = layout.add_blob("application/vnd.example.profile+json", b"[]".to_vec());
        let mut m = Manifest::new(config, vec![payload]);
        m.artifact_type = Some("application/vnd.example.profile".into());
        let d = layout
            .add_manifest(&m)
            .unwrap()
            .with_annotation(REF_NAME, "p");
        assert_eq!(
            d.artifact_type.as_deref(),
            Some("application/vnd.example.profile")
        );
        layout.index_mut().manifests.push(d);
        let mut with_stray = layout.clone();
        with_stray.add_blob("x", b"stray".to_vec());
        let back = Layout::from_tar(&with_stray.to_tar().unwrap()[..], &Limits::default()).unwrap();
        assert_eq!(back, layout);
    }

    #[test]
    fn nested_indexes_are_followed_and_cycles_cannot_exist_but_depth_is_bounded() {
        let inner = image();
        let mut layout = inner.clone();
        let nested = layout.add_json(INDEX, inner.index()).unwrap();
        layout.index_mut().manifests = vec![nested];
        let back = Layout::from_tar(&layout.to_tar().unwrap()[..], &Limits::default()).unwrap();
        assert_eq!(back.manifests().unwrap().len(), 1);
        let mut deep = inner.clone();
        let mut top = inner.index().clone();
        for _ in 0..=MAX_DEPTH {
            let d = deep.add_json(INDEX, &top).unwrap();
            top = Index {
                manifests: vec![d],
                ..Index::default()
            };
        }
        *deep.index_mut() = top;
        let e = Layout::from_tar(&deep.to_tar().unwrap()[..], &Limits::default()).unwrap_err();
        assert!(e.to_string().contains("nest deeper"), "{e}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// A damaged archive (bytes changed, cut short) is read or refused, never a panic,
        /// and what reads is a layout that verifies.
        #[test]
        fn a_damaged_archive_never_panics(
            flips in proptest::collection::vec((0usize..1 << 16, 1u8..=255), 0..8),
            cut in proptest::option::of(0usize..1 << 16),
        ) {
            let mut bytes = image().to_tar().unwrap();
            for (at, x) in flips {
                let n = bytes.len();
                bytes[at % n] ^= x;
            }
            if let Some(c) = cut {
                let n = bytes.len();
                bytes.truncate(c % n);
            }
            if let Ok(l) = Layout::from_tar(&bytes[..], &Limits::default()) {
                l.verify().unwrap();
            }
        }
    }
}
