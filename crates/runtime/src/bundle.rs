//! An OCI bundle's `config.json`: reading it, and replacing it atomically with the original
//! kept beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use moat_policy::CapSet;
use serde_json::Value;

use crate::APPLIED_ANNOTATION;

/// Why a bundle could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The file could not be read (missing, too large, a FIFO or device).
    #[error(transparent)]
    Read(#[from] moat_io::ReadError),
    /// The file could not be written.
    #[error(transparent)]
    Write(#[from] moat_io::WriteError),
    /// The new configuration could not be encoded.
    #[error("{path}: cannot encode the configuration")]
    Encode {
        /// The file.
        path: String,
        /// What serde_json said.
        #[source]
        source: serde_json::Error,
    },
    /// The file is not JSON.
    #[error("{path}:{line}:{col}: {message}")]
    Json {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong.
        message: String,
    },
    /// The JSON does not have the shape the runtime spec gives it.
    #[error("{path}: {at}: {message}")]
    Shape {
        /// The file.
        path: String,
        /// The JSON path (`annotations."moat.dev/policy"`).
        at: String,
        /// What is wrong.
        message: String,
    },
}

/// A bundle's configuration, as the runtime will read it.
#[derive(Clone, Debug)]
pub struct Bundle {
    /// The configuration file (`BUNDLE/config.json` unless crun's `--config` names another).
    pub config_path: PathBuf,
    /// The configuration as it was before moat touched it: when the file already carries
    /// moat's [`APPLIED_ANNOTATION`] (a second `create` with the same bundle), the kept original.
    pub config: Value,
}

/// Reads a bundle file: a regular file only (a FIFO named `config.json` would block the
/// runtime wrapper forever), at most [`moat_io::Limit::TEXT`].
fn read_file(path: &Path) -> Result<Vec<u8>, BundleError> {
    Ok(moat_io::read(
        path,
        moat_io::Limit::TEXT,
        moat_io::Source::Included,
    )?)
}

/// The path the original configuration is kept at: `config.json.orig`.
pub fn original_path(config_path: &Path) -> PathBuf {
    let mut s = config_path.as_os_str().to_os_string();
    s.push(".orig");
    PathBuf::from(s)
}

fn read_json(path: &Path) -> Result<Value, BundleError> {
    let bytes = read_file(path)?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
        let s = e.to_string();
        let message = s
            .rfind(" at line ")
            .map_or(s.clone(), |i| s[..i].to_string());
        BundleError::Json {
            path: path.display().to_string(),
            line: e.line(),
            col: e.column(),
            message,
        }
    })?;
    if !v.is_object() {
        return Err(BundleError::Shape {
            path: path.display().to_string(),
            at: "(root)".into(),
            message: "expected a JSON object".into(),
        });
    }
    Ok(v)
}

impl Bundle {
    /// Reads `dir/config.json`, or `config` (relative to the current directory, as crun reads
    /// it) when given.
    pub fn open(dir: &Path, config: Option<&Path>) -> Result<Bundle, BundleError> {
        let config_path = match config {
            Some(c) => c.to_path_buf(),
            None => dir.join("config.json"),
        };
        let mut value = read_json(&config_path)?;
        let applied = value
            .get("annotations")
            .and_then(|a| a.get(APPLIED_ANNOTATION))
            .is_some();
        if applied {
            let orig = original_path(&config_path);
            if orig.exists() {
                value = read_json(&orig)?;
            }
        }
        Ok(Bundle {
            config_path,
            config: value,
        })
    }

    fn shape(&self, at: &str, message: &str) -> BundleError {
        BundleError::Shape {
            path: self.config_path.display().to_string(),
            at: at.to_string(),
            message: message.to_string(),
        }
    }

    /// The `annotations` object (empty when absent). Every value must be a string, as the
    /// runtime spec requires.
    pub fn annotations(&self) -> Result<BTreeMap<String, String>, BundleError> {
        let mut out = BTreeMap::new();
        match self.config.get("annotations") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    let Some(s) = v.as_str() else {
                        return Err(self.shape(
                            &format!("annotations.{k:?}"),
                            "annotation values must be strings",
                        ));
                    };
                    out.insert(k.clone(), s.to_string());
                }
            }
            Some(_) => return Err(self.shape("annotations", "expected an object")),
        }
        Ok(out)
    }

    /// The capabilities `when cap` guards see: `process.capabilities.bounding` (the set the
    /// process can ever hold, as moby decides its profile's capability includes), else
    /// `effective`; none when the bundle lists none.
    pub fn capabilities(&self) -> Result<CapSet, BundleError> {
        let Some(caps) = self
            .config
            .get("process")
            .and_then(|p| p.get("capabilities"))
        else {
            return Ok(CapSet::EMPTY);
        };
        let (key, list) = match (caps.get("bounding"), caps.get("effective")) {
            (Some(b), _) => ("bounding", b),
            (None, Some(e)) => ("effective", e),
            (None, None) => return Ok(CapSet::EMPTY),
        };
        let at = format!("process.capabilities.{key}");
        let Some(items) = list.as_array() else {
            return Err(self.shape(&at, "expected an array of capability names"));
        };
        let mut set = CapSet::EMPTY;
        for (i, c) in items.iter().enumerate() {
            let name = c.as_str().unwrap_or_default();
            let n = moat_syscalls::capability(name).ok_or_else(|| {
                self.shape(&format!("{at}[{i}]"), &format!("unknown capability {c}"))
            })?;
            set.insert(n);
        }
        Ok(set)
    }

    /// True when the configuration has a non-null `linux.seccomp` section.
    pub fn has_seccomp(&self) -> bool {
        self.config
            .get("linux")
            .and_then(|l| l.get("seccomp"))
            .is_some_and(|s| !s.is_null())
    }

    /// Replaces the configuration file with `config`: the original is kept at
    /// [`original_path`] (once: a second write keeps the first original), the new text goes to
    /// a temporary file in the same directory, is flushed to disk and renamed over the old one,
    /// so the runtime reads either the old or the new file, never half of one.
    pub fn write(&self, config: &Value) -> Result<(), BundleError> {
        let orig = original_path(&self.config_path);
        if !orig.exists() {
            let bytes = read_file(&self.config_path)?;
            atomic_write(&orig, &bytes)?;
        }
        let mut text = serde_json::to_vec_pretty(config).map_err(|source| BundleError::Encode {
            path: self.config_path.display().to_string(),
            source,
        })?;
        text.push(b'\n');
        atomic_write(&self.config_path, &text)
    }
}

/// Writes `bytes` to `path` with moat's one output writer: a temporary file in the same
/// directory, synced and renamed over the old one (keeping its permissions); a symbolic link
/// keeps pointing where it did.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), BundleError> {
    moat_io::Output::create(path)?.write(bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("moat-runtime-bundle-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn write_keeps_the_first_original_and_reopen_reads_it() {
        let d = dir("orig");
        let first =
            json!({"ociVersion": "1.0.2", "annotations": {"moat.dev/policy": "deny mkdir"}});
        std::fs::write(d.join("config.json"), first.to_string()).unwrap();
        let b = Bundle::open(&d, None).unwrap();
        let mut new = b.config.clone();
        new["annotations"][APPLIED_ANNOTATION] = json!("x");
        b.write(&new).unwrap();
        let on_disk: Value =
            serde_json::from_slice(&std::fs::read(d.join("config.json")).unwrap()).unwrap();
        assert_eq!(on_disk, new);
        let orig: Value =
            serde_json::from_slice(&std::fs::read(d.join("config.json.orig")).unwrap()).unwrap();
        assert_eq!(orig, first);
        // A second open sees the original, and a second write keeps it.
        let again = Bundle::open(&d, None).unwrap();
        assert_eq!(again.config, first);
        again.write(&new).unwrap();
        let orig: Value =
            serde_json::from_slice(&std::fs::read(d.join("config.json.orig")).unwrap()).unwrap();
        assert_eq!(orig, first);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn errors_name_the_file_and_place() {
        let d = dir("bad");
        std::fs::write(d.join("config.json"), "{\n  \"a\": ,\n}").unwrap();
        let e = Bundle::open(&d, None).unwrap_err().to_string();
        assert!(e.contains("config.json:2:8:"), "{e}");
        std::fs::write(
            d.join("config.json"),
            r#"{"annotations": {"moat.dev/policy": 3}}"#,
        )
        .unwrap();
        let b = Bundle::open(&d, None).unwrap();
        let e = b.annotations().unwrap_err().to_string();
        assert!(
            e.contains("annotations.\"moat.dev/policy\": annotation values must be strings"),
            "{e}"
        );
        let missing = dir("missing");
        assert!(Bundle::open(&missing, None).is_err());
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::remove_dir_all(&missing);
    }

    #[test]
    fn capabilities_from_bounding() {
        let d = dir("caps");
        std::fs::write(
            d.join("config.json"),
            r#"{"process": {"capabilities": {"bounding": ["CAP_SYS_ADMIN", "CAP_KILL"], "effective": ["CAP_KILL"]}}}"#,
        )
        .unwrap();
        let caps = Bundle::open(&d, None).unwrap().capabilities().unwrap();
        assert!(caps.contains(21) && caps.contains(5) && !caps.contains(0));
        std::fs::write(d.join("config.json"), r#"{"process": {}}"#).unwrap();
        assert_eq!(
            Bundle::open(&d, None).unwrap().capabilities().unwrap(),
            CapSet::EMPTY
        );
        std::fs::write(
            d.join("config.json"),
            r#"{"process": {"capabilities": {"bounding": ["CAP_FLY"]}}}"#,
        )
        .unwrap();
        let e = Bundle::open(&d, None)
            .unwrap()
            .capabilities()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("process.capabilities.bounding[0]: unknown capability \"CAP_FLY\""),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
