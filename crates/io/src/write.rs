//! The output writer: atomic replacement for regular files, write-through for everything else.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{IsTerminal, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writing an output failed; the path is the one the user named.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The path could not be checked, created, written, synced or renamed.
    #[error("{}: cannot write", path.display())]
    Io {
        /// The output path as given.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The path names a directory.
    #[error("{}: is a directory; name a file", path.display())]
    Directory {
        /// The output path as given.
        path: PathBuf,
    },
    /// The path has no file name (`/`, `..`).
    #[error("{}: not a file name", path.display())]
    NotAFile {
        /// The output path as given.
        path: PathBuf,
    },
    /// Writing to standard output failed.
    #[error("standard output: cannot write")]
    Stdout(#[source] std::io::Error),
}

/// Where and how the bytes go.
#[derive(Debug)]
enum Mode {
    /// Standard output.
    Stdout,
    /// A regular file or a new path: a temporary file beside `target`, renamed over it.
    Replace {
        /// The file that is replaced (symbolic links resolved).
        target: PathBuf,
        /// The old file's permissions, kept by the new one.
        perms: Option<Permissions>,
    },
    /// A device, FIFO, socket, dangling link or `/dev`/`/proc` path: opened and written as it
    /// is. `file` is opened when the output is created, except for a FIFO, which blocks until a
    /// reader comes and so is opened when the bytes are ready.
    Through {
        /// The opened file, when it was opened early.
        file: Option<File>,
    },
}

/// An output the user named (`-o FILE`), checked before the work that fills it.
///
/// Create it with [`Output::create`] before a long computation (recording a program, proving a
/// diff) so that an unwritable path fails first, then hand the bytes to [`Output::write`].
///
/// ```
/// let dir = std::env::temp_dir().join(format!("moat-io-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("out.txt");
/// let out = moat_io::Output::create(&path).unwrap();
/// out.write(b"hello\n").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"hello\n");
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct Output {
    /// The path as the user gave it (for messages); `-` for standard output.
    path: PathBuf,
    mode: Mode,
}

/// Paths below these are kernel objects (`/dev/stdout` is `/proc/self/fd/1`): always written
/// through, never replaced, never created.
const THROUGH_PREFIXES: [&str; 2] = ["/dev/", "/proc/"];

impl Output {
    /// Standard output.
    #[must_use]
    pub fn stdout() -> Self {
        Self {
            path: PathBuf::from("-"),
            mode: Mode::Stdout,
        }
    }

    /// `-` means standard output, anything else a path ([`Output::create`]).
    ///
    /// # Errors
    ///
    /// As [`Output::create`].
    pub fn from_arg(arg: &Path) -> Result<Self, WriteError> {
        if arg.as_os_str() == "-" {
            Ok(Self::stdout())
        } else {
            Self::create(arg)
        }
    }

    /// Checks that `path` can be written and decides how: a regular file or a path that does
    /// not exist yet is replaced atomically (its directory must accept a new file, which is
    /// tried now and removed again); a device, FIFO, socket or a path under `/dev/` or `/proc/`
    /// is written through and opened now (a FIFO at [`Output::write`]); a symbolic link is
    /// followed and its target treated by the same rule, so the link itself stays.
    ///
    /// # Errors
    ///
    /// [`WriteError::Directory`] for a directory, [`WriteError::Io`] when the directory refuses
    /// a new file or a device cannot be opened for writing.
    pub fn create(path: &Path) -> Result<Self, WriteError> {
        let io = |source| WriteError::Io {
            path: path.to_path_buf(),
            source,
        };
        let lexical_through = THROUGH_PREFIXES
            .iter()
            .any(|p| path.to_string_lossy().starts_with(p));
        let mode = match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                return Err(WriteError::Directory {
                    path: path.to_path_buf(),
                });
            }
            Ok(meta) if meta.is_file() && !lexical_through => {
                let target = std::fs::canonicalize(path).map_err(io)?;
                probe(&target).map_err(io)?;
                Mode::Replace {
                    target,
                    perms: Some(meta.permissions()),
                }
            }
            Ok(meta) if meta.file_type().is_fifo() => Mode::Through { file: None },
            Ok(_) => Mode::Through {
                file: Some(open_through(path, false).map_err(io)?),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let dangling = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink());
                if dangling || lexical_through {
                    // A dangling link: create its target, as the shell's `>` does. Under /dev
                    // or /proc nothing is created (create = false reports the missing path).
                    Mode::Through {
                        file: Some(open_through(path, dangling).map_err(io)?),
                    }
                } else {
                    if path.file_name().is_none() {
                        return Err(WriteError::NotAFile {
                            path: path.to_path_buf(),
                        });
                    }
                    probe(path).map_err(io)?;
                    Mode::Replace {
                        target: path.to_path_buf(),
                        perms: None,
                    }
                }
            }
            Err(e) => return Err(io(e)),
        };
        Ok(Self {
            path: path.to_path_buf(),
            mode,
        })
    }

    /// The path as the user gave it; `-` for standard output.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the output is a terminal (binary output to a terminal is usually a mistake).
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        match &self.mode {
            Mode::Stdout => std::io::stdout().is_terminal(),
            Mode::Through { file: Some(f) } => f.is_terminal(),
            _ => false,
        }
    }

    /// Writes `bytes` as decided by [`Output::create`]. For a replaced file, the path holds the
    /// old content until the complete new content is synced and renamed over it; on any error
    /// the temporary file is removed.
    ///
    /// # Errors
    ///
    /// [`WriteError::Io`] or [`WriteError::Stdout`] with what the system said.
    pub fn write(self, bytes: &[u8]) -> Result<(), WriteError> {
        let io = |source| WriteError::Io {
            path: self.path.clone(),
            source,
        };
        match self.mode {
            Mode::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)
                    .and_then(|()| out.flush())
                    .map_err(WriteError::Stdout)
            }
            Mode::Through { file } => {
                let mut f = match file {
                    Some(f) => f,
                    None => open_through(&self.path, false).map_err(io)?,
                };
                write_through(&mut f, bytes).map_err(io)
            }
            Mode::Replace { target, perms } => replace(&target, perms.as_ref(), bytes).map_err(io),
        }
    }
}

/// Opens a write-through target without following it into a new file unless `create`.
fn open_through(path: &Path, create: bool) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(create)
        .truncate(false)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

/// Writes through: truncates first when the object is a regular file reached through `/dev`
/// or `/proc` (`/dev/stdout` redirected to a file) or a link's new target.
fn write_through(f: &mut File, bytes: &[u8]) -> std::io::Result<()> {
    let meta = f.metadata()?;
    if meta.is_file() {
        f.set_len(0)?;
    }
    f.write_all(bytes)?;
    f.flush()?;
    if meta.is_file() {
        f.sync_all()?;
    }
    Ok(())
}

/// A temporary name beside `target`: hidden, carries the process id and a counter so parallel
/// writers (threads, processes) never share one.
fn temp_path(target: &Path) -> std::io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".moat-{}-{n}.tmp", std::process::id()));
    Ok(target.with_file_name(tmp))
}

/// Creates and removes a temporary file beside `target`: proves now that the directory takes
/// a new file, without leaving anything behind during the work that follows.
fn probe(target: &Path) -> std::io::Result<()> {
    let tmp = temp_path(target)?;
    let f = new_temp(&tmp)?;
    drop(f);
    std::fs::remove_file(&tmp)
}

fn new_temp(tmp: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(tmp)
}

/// Removes the temporary files a killed writer left beside `target`: names [`temp_path`]
/// gives, whose process id no longer runs (no `/proc/PID`). A writer that is alive, or a pid
/// that was reused, keeps its file; anything else in the directory is untouched.
fn sweep_stale(target: &Path) {
    let (Some(name), Some(dir)) = (target.file_name(), target.parent()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".moat-");
    let Some(prefix) = prefix.to_str() else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(rest) = file
            .to_str()
            .and_then(|f| f.strip_prefix(prefix))
            .and_then(|r| r.strip_suffix(".tmp"))
        else {
            continue;
        };
        let Some((pid, n)) = rest.split_once('-') else {
            continue;
        };
        let numeric = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if numeric(pid)
            && numeric(n)
            && pid != std::process::id().to_string()
            && !Path::new("/proc").join(pid).exists()
            && e.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Temporary file, fsync, rename, directory fsync; the temporary file is removed on error, and
/// those of killed writers before ([`sweep_stale`]).
fn replace(target: &Path, perms: Option<&Permissions>, bytes: &[u8]) -> std::io::Result<()> {
    sweep_stale(target);
    let tmp = temp_path(target)?;
    let mut f = new_temp(&tmp)?;
    let result = (|| {
        if let Some(p) = perms {
            f.set_permissions(p.clone())?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, target)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is durable only once the directory entry is on disk.
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("moat-io-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn entries(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn temp_files_of_killed_writers_are_removed_by_the_next_write() {
        let d = dir("stale");
        let target = d.join("config.json");
        std::fs::write(&target, b"{}").unwrap();
        // A writer killed between creating its temporary file and renaming it.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "kill -9 $$"])
            .spawn()
            .unwrap();
        let dead = child.id();
        let _ = child.wait();
        let stale = d.join(format!(".config.json.moat-{dead}-0.tmp"));
        let live = d.join(".config.json.moat-1-0.tmp"); // pid 1 runs
        let other = d.join(format!(".other.json.moat-{dead}-0.tmp"));
        let odd = d.join(format!(".config.json.moat-{dead}-x.tmp"));
        for f in [&stale, &live, &other, &odd] {
            std::fs::write(f, b"partial").unwrap();
        }
        Output::create(&target)
            .unwrap()
            .write(b"{\"a\":1}")
            .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"{\"a\":1}");
        assert!(!stale.exists(), "the killed writer's file stays");
        assert!(
            live.exists() && other.exists() && odd.exists(),
            "{:?}",
            entries(&d)
        );
    }

    #[test]
    fn replaces_a_regular_file_and_keeps_its_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir("perm");
        let p = d.join("a");
        std::fs::write(&p, b"old").unwrap();
        std::fs::set_permissions(&p, Permissions::from_mode(0o640)).unwrap();
        let before = std::fs::metadata(&p).unwrap();
        Output::create(&p).unwrap().write(b"new").unwrap();
        let after = std::fs::metadata(&p).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(after.permissions().mode() & 0o777, 0o640);
        // A new inode: the old content was never truncated in place.
        use std::os::unix::fs::MetadataExt;
        assert_ne!(before.ino(), after.ino());
        assert_eq!(entries(&d), ["a"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_symlink_stays_a_link_and_its_target_gets_the_bytes() {
        let d = dir("link");
        std::fs::write(d.join("target"), b"old").unwrap();
        std::os::unix::fs::symlink("target", d.join("link")).unwrap();
        Output::create(&d.join("link"))
            .unwrap()
            .write(b"new")
            .unwrap();
        assert!(
            std::fs::symlink_metadata(d.join("link"))
                .unwrap()
                .is_symlink()
        );
        assert_eq!(std::fs::read(d.join("target")).unwrap(), b"new");
        assert_eq!(entries(&d), ["link", "target"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_dangling_symlink_creates_its_target() {
        let d = dir("dangling");
        std::os::unix::fs::symlink("made", d.join("link")).unwrap();
        Output::create(&d.join("link"))
            .unwrap()
            .write(b"x")
            .unwrap();
        assert!(
            std::fs::symlink_metadata(d.join("link"))
                .unwrap()
                .is_symlink()
        );
        assert_eq!(std::fs::read(d.join("made")).unwrap(), b"x");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_directory_is_refused_before_any_work() {
        let d = dir("isdir");
        let e = Output::create(&d).unwrap_err();
        assert!(matches!(e, WriteError::Directory { .. }), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_missing_directory_is_refused_at_create() {
        let d = dir("missing");
        let e = Output::create(&d.join("no/such/file")).unwrap_err();
        assert!(matches!(e, WriteError::Io { .. }), "{e}");
        assert_eq!(entries(&d), Vec::<String>::new());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn create_leaves_nothing_behind_and_write_leaves_no_temp() {
        let d = dir("clean");
        let out = Output::create(&d.join("f")).unwrap();
        assert_eq!(
            entries(&d),
            Vec::<String>::new(),
            "the probe file was removed"
        );
        out.write(b"1").unwrap();
        assert_eq!(entries(&d), ["f"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_fifo_is_written_through_not_replaced() {
        let d = dir("fifo");
        let fifo = d.join("p");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(&fifo).unwrap())
        };
        Output::create(&fifo).unwrap().write(b"through").unwrap();
        assert_eq!(reader.join().unwrap(), b"through");
        assert!(
            std::fs::symlink_metadata(&fifo)
                .unwrap()
                .file_type()
                .is_fifo()
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_missing_path_under_dev_is_not_created() {
        let e = Output::create(Path::new("/dev/moat-no-such-device")).unwrap_err();
        assert!(matches!(e, WriteError::Io { .. }), "{e}");
        assert!(!Path::new("/dev/moat-no-such-device").exists());
    }
}
