//! Reading inputs with limits: a size cap always, regular files only unless the user named a
//! stream as the main input.

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The most bytes one input may have, and what it is (for the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The cap in bytes.
    pub bytes: u64,
    /// What is read, as the message names it ("a policy").
    pub what: &'static str,
}

impl Limit {
    /// A policy, profile or configuration in any text format: 4 MiB (the largest real profile
    /// in the corpus is under 100 KB).
    pub const TEXT: Self = Self {
        bytes: 4 << 20,
        what: "a policy or profile",
    };
    /// A raw seccomp BPF program: the kernel takes at most `BPF_MAXINSNS` (4096) instructions
    /// of 8 bytes (include/uapi/linux/bpf_common.h), 32 KiB.
    pub const BPF: Self = Self {
        bytes: 4096 * 8,
        what: "a seccomp BPF program",
    };
}

/// Whether the path is the command's main input, which the user may name as a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The main input named on the command line: a FIFO, `/dev/stdin` or another character
    /// device is read (up to the cap) as the user asked.
    Main,
    /// A file reached indirectly (a `use` target, a bundle's `config.json`, a node
    /// configuration): only a regular file is read; a FIFO or device is refused without
    /// opening it for a blocking read.
    Included,
}

/// Reading an input failed; every variant carries the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The system refused to open or read the file.
    #[error("{}: cannot read", path.display())]
    Io {
        /// The path as given.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The path names a directory.
    #[error("{}: is a directory", path.display())]
    Directory {
        /// The path as given.
        path: PathBuf,
    },
    /// An included path names something other than a regular file.
    #[error("{}: is a {kind}, not a regular file", path.display())]
    NotRegular {
        /// The path as given.
        path: PathBuf,
        /// "FIFO", "character device", ...
        kind: &'static str,
    },
    /// The input is larger than its cap.
    #[error("{}: larger than {} bytes, the most {} may have", path.display(), limit.bytes, limit.what)]
    TooLarge {
        /// The path as given (`-` for standard input).
        path: PathBuf,
        /// The cap that was exceeded.
        limit: Limit,
    },
    /// A text input is not UTF-8.
    #[error("{}: not UTF-8 text (invalid byte at offset {offset})", path.display())]
    NotUtf8 {
        /// The path as given.
        path: PathBuf,
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
}

impl ReadError {
    /// The path the error is about, as given.
    pub fn path(&self) -> &Path {
        match self {
            ReadError::Io { path, .. }
            | ReadError::Directory { path }
            | ReadError::NotRegular { path, .. }
            | ReadError::TooLarge { path, .. }
            | ReadError::NotUtf8 { path, .. } => path,
        }
    }

    /// What is wrong, without the path: for [`ReadError::Io`] the system's own words
    /// (`No such file or directory (os error 2)`), else the message after `PATH: `.
    /// For error lines that name the path already.
    pub fn detail(&self) -> String {
        if let ReadError::Io { source, .. } = self {
            return source.to_string();
        }
        let text = self.to_string();
        let prefix = format!("{}: ", self.path().display());
        text.strip_prefix(&prefix)
            .map_or_else(|| text.clone(), str::to_string)
    }

    /// `PATH: detail` in one line, the cause of [`ReadError::Io`] included
    /// (`p.moat: No such file or directory (os error 2)`).
    pub fn line(&self) -> String {
        format!("{}: {}", self.path().display(), self.detail())
    }
}

fn kind_name(ty: std::fs::FileType) -> &'static str {
    if ty.is_fifo() {
        "FIFO"
    } else if ty.is_char_device() {
        "character device"
    } else if ty.is_block_device() {
        "block device"
    } else if ty.is_socket() {
        "socket"
    } else if ty.is_symlink() {
        "symbolic link"
    } else {
        "special file"
    }
}

/// Reads all of `path`, at most `limit.bytes`.
///
/// # Errors
///
/// [`ReadError::TooLarge`] past the cap, [`ReadError::NotRegular`] for an included FIFO,
/// device or socket, [`ReadError::Directory`], or [`ReadError::Io`].
pub fn read(path: &Path, limit: Limit, source: Source) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    // O_NONBLOCK keeps open(2) of a FIFO from waiting for a writer; it does not change how a
    // regular file reads. A main input opens normally: a FIFO the user named waits for its
    // writer, as `cat` does.
    let flags = match source {
        Source::Main => libc::O_CLOEXEC,
        Source::Included => libc::O_CLOEXEC | libc::O_NONBLOCK,
    };
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    if meta.is_dir() {
        return Err(ReadError::Directory {
            path: path.to_path_buf(),
        });
    }
    if !meta.is_file() && source == Source::Included {
        return Err(ReadError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_name(meta.file_type()),
        });
    }
    if meta.is_file() && meta.len() > limit.bytes {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    read_capped(f, path, limit)
}

/// Reads standard input, at most `limit.bytes`.
///
/// # Errors
///
/// [`ReadError::TooLarge`] past the cap, [`ReadError::Io`] (path `-`).
pub fn read_stdin(limit: Limit) -> Result<Vec<u8>, ReadError> {
    read_capped(std::io::stdin().lock(), Path::new("-"), limit)
}

fn read_capped(r: impl Read, path: &Path, limit: Limit) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    r.take(limit.bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > limit.bytes) {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

/// Reads `path` (or standard input for `-` when `source` is [`Source::Main`]) as UTF-8 text,
/// dropping one leading byte-order mark: every command reads a file saved with a BOM the same.
///
/// # Errors
///
/// As [`read`], and [`ReadError::NotUtf8`].
pub fn read_to_string(path: &Path, limit: Limit, source: Source) -> Result<String, ReadError> {
    let bytes = if source == Source::Main && path.as_os_str() == "-" {
        read_stdin(limit)?
    } else {
        read(path, limit, source)?
    };
    text(bytes, path)
}

/// UTF-8 text without a leading byte-order mark.
///
/// # Errors
///
/// [`ReadError::NotUtf8`] with the offset of the first invalid byte.
pub fn text(mut bytes: Vec<u8>, path: &Path) -> Result<String, ReadError> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| ReadError::NotUtf8 {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::fs::File;

    #[test]
    fn dev_zero_stops_at_the_cap() {
        let e = read(Path::new("/dev/zero"), Limit::BPF, Source::Main).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "/dev/zero: larger than 32768 bytes, the most a seccomp BPF program may have"
        );
    }

    #[test]
    fn an_included_device_is_refused_without_reading() {
        let e = read(Path::new("/dev/zero"), Limit::TEXT, Source::Included).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/dev/zero: is a character device, not a regular file"
        );
    }

    #[test]
    fn an_included_fifo_is_refused_without_blocking() {
        let d = std::env::temp_dir().join(format!("moat-io-rfifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let fifo = d.join("p");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let e = read(&fifo, Limit::TEXT, Source::Included).unwrap_err();
        assert!(
            matches!(e, ReadError::NotRegular { kind: "FIFO", .. }),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_large_regular_file_is_refused_from_its_size() {
        let d = std::env::temp_dir().join(format!("moat-io-big-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("big");
        let f = File::create(&p).unwrap();
        f.set_len(1 << 40).unwrap(); // sparse: 1 TiB of nothing, refused from metadata
        let e = read(&p, Limit::TEXT, Source::Main).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { .. }), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_bom_is_dropped_and_bad_utf8_is_located() {
        assert_eq!(
            text(b"\xEF\xBB\xBFdefault kill\n".to_vec(), Path::new("p")).unwrap(),
            "default kill\n"
        );
        let e = text(b"ab\xFFc".to_vec(), Path::new("p")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "p: not UTF-8 text (invalid byte at offset 2)"
        );
    }

    #[test]
    fn exactly_the_cap_is_accepted() {
        let d = std::env::temp_dir().join(format!("moat-io-cap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("f");
        std::fs::write(&p, vec![0u8; 32768]).unwrap();
        assert_eq!(read(&p, Limit::BPF, Source::Included).unwrap().len(), 32768);
        std::fs::write(&p, vec![0u8; 32769]).unwrap();
        assert!(read(&p, Limit::BPF, Source::Included).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
