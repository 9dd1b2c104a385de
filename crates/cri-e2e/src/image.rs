//! Container images built in the test, with no registry and no network: a root filesystem
//! described file by file, written as one layer into a docker archive (the `docker save`
//! layout `ctr images import` reads: `manifest.json` naming the config and the layer by
//! file, `RepoTags` naming the image).
//!
//! The archive is deterministic: entries sorted by path, owner 0:0, mtime 0.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::Error;

/// One file system entry of a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A directory with its mode.
    Dir(u32),
    /// A regular file with its bytes and mode.
    File {
        /// The content.
        data: Vec<u8>,
        /// Permission bits.
        mode: u32,
    },
    /// A symbolic link to the target.
    Symlink(String),
}

/// An image: a name (`moat.test/busybox:1`), its process defaults and one layer.
#[derive(Clone, Debug, Default)]
pub struct Image {
    /// The reference `ctr` and the CRI know it by.
    pub name: String,
    /// The image's `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// The image's `Cmd`.
    pub cmd: Vec<String>,
    /// The layer, by path relative to the root (`bin/sh`).
    pub files: BTreeMap<String, Entry>,
}

impl Image {
    /// An empty image called `name`.
    pub fn new(name: &str) -> Image {
        Image {
            name: name.to_string(),
            ..Image::default()
        }
    }

    /// Adds directories (and their parents).
    pub fn dirs(&mut self, paths: &[&str]) -> &mut Image {
        for p in paths {
            self.parents(p);
            self.files.insert((*p).to_string(), Entry::Dir(0o755));
        }
        self
    }

    /// Adds a directory with `mode` (`0o1777` for a `/tmp` every user may write).
    pub fn dir_mode(&mut self, path: &str, mode: u32) -> &mut Image {
        self.parents(path);
        self.files.insert(path.to_string(), Entry::Dir(mode));
        self
    }

    /// Adds a file read from the host at `from`, executable.
    pub fn binary(&mut self, path: &str, from: &Path) -> Result<&mut Image, Error> {
        let data = std::fs::read(from).map_err(|source| Error::Io {
            what: format!("reading {}", from.display()),
            source,
        })?;
        self.parents(path);
        self.files
            .insert(path.to_string(), Entry::File { data, mode: 0o755 });
        Ok(self)
    }

    /// Adds a symbolic link.
    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Image {
        self.parents(path);
        self.files
            .insert(path.to_string(), Entry::Symlink(target.to_string()));
        self
    }

    fn parents(&mut self, path: &str) {
        let mut at = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in parts.iter().take(parts.len().saturating_sub(1)) {
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(part);
            self.files.entry(at.clone()).or_insert(Entry::Dir(0o755));
        }
    }

    /// The layer as an uncompressed tar.
    pub fn layer(&self) -> Result<Vec<u8>, Error> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, entry) in &self.files {
            let mut h = tar::Header::new_ustar();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            let io = |source| Error::Io {
                what: format!("writing {path} into the layer"),
                source,
            };
            match entry {
                Entry::Dir(mode) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(*mode);
                    h.set_size(0);
                    b.append_data(&mut h, format!("{path}/"), std::io::empty())
                        .map_err(io)?;
                }
                Entry::File { data, mode } => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    h.set_size(u64::try_from(data.len()).unwrap_or(u64::MAX));
                    b.append_data(&mut h, path, data.as_slice()).map_err(io)?;
                }
                Entry::Symlink(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    b.append_link(&mut h, path, target).map_err(io)?;
                }
            }
        }
        b.into_inner().map_err(|source| Error::Io {
            what: "finishing the layer".into(),
            source,
        })
    }

    /// The docker archive: `manifest.json`, the config as `<sha256>.json`, the layer as
    /// `<sha256>/layer.tar`.
    pub fn archive(&self) -> Result<Vec<u8>, Error> {
        let layer = self.layer()?;
        let layer_sha = hex(&Sha256::digest(&layer));
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Env": ["PATH=/bin"],
                "Entrypoint": self.entrypoint,
                "Cmd": self.cmd,
            },
            "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_sha}")]},
        });
        let config = serde_json::to_vec(&config).map_err(|e| Error::Io {
            what: "writing the image config".into(),
            source: e.into(),
        })?;
        let config_sha = hex(&Sha256::digest(&config));
        let manifest = json!([{
            "Config": format!("{config_sha}.json"),
            "RepoTags": [self.name],
            "Layers": [format!("{layer_sha}/layer.tar")],
        }]);
        let manifest = serde_json::to_vec(&manifest).map_err(|e| Error::Io {
            what: "writing manifest.json".into(),
            source: e.into(),
        })?;
        let mut b = tar::Builder::new(Vec::new());
        let files: [(String, &[u8]); 3] = [
            ("manifest.json".into(), &manifest),
            (format!("{config_sha}.json"), &config),
            (format!("{layer_sha}/layer.tar"), &layer),
        ];
        for (name, data) in files {
            let mut h = tar::Header::new_ustar();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(u64::try_from(data.len()).unwrap_or(u64::MAX));
            b.append_data(&mut h, &name, data)
                .map_err(|source| Error::Io {
                    what: format!("writing {name} into the archive"),
                    source,
                })?;
        }
        b.into_inner().map_err(|source| Error::Io {
            what: "finishing the archive".into(),
            source,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_is_the_same_bytes_twice_and_names_its_parts() {
        let mut i = Image::new("moat.test/x:1");
        i.dirs(&["tmp"]).symlink("bin/sh", "busybox");
        i.entrypoint = vec!["/bin/sh".into()];
        let a = i.archive().unwrap();
        assert_eq!(a, i.archive().unwrap());
        let mut names = Vec::new();
        let mut manifest = String::new();
        for e in tar::Archive::new(a.as_slice()).entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            if name == "manifest.json" {
                std::io::Read::read_to_string(&mut e, &mut manifest).unwrap();
            }
            names.push(name);
        }
        assert_eq!(names[0], "manifest.json");
        assert!(
            manifest.contains("\"RepoTags\":[\"moat.test/x:1\"]"),
            "{manifest}"
        );
        let layer = i.layer().unwrap();
        let mut paths = Vec::new();
        for e in tar::Archive::new(layer.as_slice()).entries().unwrap() {
            paths.push(e.unwrap().path().unwrap().display().to_string());
        }
        assert_eq!(paths, ["bin/", "bin/sh", "tmp/"]);
    }
}
