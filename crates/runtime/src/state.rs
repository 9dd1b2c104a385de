//! moat's own record of which real runtime created a container, so `state`, `kill` and
//! `delete` reach that runtime even after the node configuration changed or broke (a crun
//! container must never be "deleted" by runc, which removes crun's state while the container
//! keeps running).
//!
//! One file per container: `DIR/HASH-ID`, where HASH is a 64-bit FNV-1a of the runtime's
//! `--root` (containerd gives each namespace its own root, and ids are unique only within one)
//! and the content is the runtime's absolute path. DIR is [`DEFAULT_DIR`] unless
//! `MOAT_STATE_DIR` names another.

use std::path::{Path, PathBuf};

/// Where records live by default (a tmpfs: records do not outlive a reboot, nor do containers).
pub const DEFAULT_DIR: &str = "/run/moat/containers";

/// The environment variable naming another directory.
pub const DIR_ENV: &str = "MOAT_STATE_DIR";

/// The records' directory.
pub fn dir() -> PathBuf {
    std::env::var_os(DIR_ENV).map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from)
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The record's file for container `id` under runtime root `root`; `None` for an id that
/// cannot be a file name (runc and crun accept only `[A-Za-z0-9_+.-]`).
pub fn path(dir: &Path, root: Option<&Path>, id: &str) -> Option<PathBuf> {
    let ok = !id.is_empty()
        && id.len() <= 200
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'.' | b'-'));
    if !ok {
        return None;
    }
    let root = root.map(|r| r.as_os_str().as_encoded_bytes().to_vec());
    let h = fnv(root.as_deref().unwrap_or(b""));
    Some(dir.join(format!("{h:016x}-{id}")))
}

/// Records that `runtime` created container `id`.
pub fn record(dir: &Path, root: Option<&Path>, id: &str, runtime: &Path) -> std::io::Result<()> {
    let Some(file) = path(dir, root, id) else {
        return Err(std::io::Error::other(format!(
            "container id {id:?} is not a valid file name"
        )));
    };
    std::fs::create_dir_all(dir)?;
    let runtime = std::path::absolute(runtime)?;
    let mut text = runtime.as_os_str().as_encoded_bytes().to_vec();
    text.push(b'\n');
    let tmp = dir.join(format!(
        ".{}.{}",
        file.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, &text)?;
    std::fs::rename(&tmp, &file).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The runtime that created container `id`, if moat recorded one.
pub fn recorded(dir: &Path, root: Option<&Path>, id: &str) -> Option<PathBuf> {
    let text = std::fs::read(path(dir, root, id)?).ok()?;
    let line = text.strip_suffix(b"\n").unwrap_or(&text);
    let s = std::str::from_utf8(line).ok()?;
    let p = PathBuf::from(s);
    p.is_absolute().then_some(p)
}

/// Removes the record of container `id` (after a successful `delete`).
pub fn forget(dir: &Path, root: Option<&Path>, id: &str) {
    if let Some(p) = path(dir, root, id) {
        let _ = std::fs::remove_file(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_and_is_keyed_by_root() {
        let dir = std::env::temp_dir().join(format!("moat-state-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        record(&dir, None, "c1", Path::new("/usr/bin/crun")).unwrap();
        record(
            &dir,
            Some(Path::new("/run/x")),
            "c1",
            Path::new("/usr/sbin/runc"),
        )
        .unwrap();
        assert_eq!(
            recorded(&dir, None, "c1"),
            Some(PathBuf::from("/usr/bin/crun"))
        );
        assert_eq!(
            recorded(&dir, Some(Path::new("/run/x")), "c1"),
            Some(PathBuf::from("/usr/sbin/runc"))
        );
        assert_eq!(recorded(&dir, None, "c2"), None);
        forget(&dir, None, "c1");
        assert_eq!(recorded(&dir, None, "c1"), None);
        // No temp file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ids_that_are_not_file_names_are_refused() {
        let d = Path::new("/tmp");
        for bad in ["", ".", "..", "a/b", "../x", "a b"] {
            assert!(path(d, None, bad).is_none(), "{bad:?}");
        }
        assert!(path(d, None, "k8s_pod-1.2+x").is_some());
    }
}
