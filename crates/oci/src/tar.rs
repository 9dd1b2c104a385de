//! Tar archives (POSIX ustar, pax interchange format for what ustar cannot hold): a
//! deterministic writer for layers and layout archives, and a bounded reader.
//!
//! The writer gives the same bytes for the same entries whatever order they were added in:
//! entries sorted by path (bytewise, so a directory comes before what it holds), owner 0:0
//! with empty owner names, modification time 0, no device numbers. A path longer than ustar's
//! fields takes a pax `path` record (POSIX.1-2008, pax "ustar Interchange Format" and
//! "pax Extended Header"), written just as deterministically.
//!
//! ```
//! let mut tar = moat_oci::tar::Builder::new();
//! tar.dir("usr/bin", 0o755)?;
//! tar.file("usr/bin/hello", 0o755, b"#!/bin/sh\necho hi\n".to_vec())?;
//! tar.symlink("usr/bin/hi", "hello")?;
//! let bytes = tar.into_bytes()?;
//! let mut reader = moat_oci::tar::Reader::new(&bytes[..]);
//! let mut paths = Vec::new();
//! while let Some(entry) = reader.next_entry(1 << 20)? {
//!     paths.push(entry.path().to_string());
//! }
//! assert_eq!(paths, ["usr/bin", "usr/bin/hello", "usr/bin/hi"]);
//! # Ok::<(), moat_oci::Error>(())
//! ```

use std::collections::BTreeMap;
use std::io::Read;

use crate::Error;

const BLOCK: usize = 512;

/// One entry of an archive, as [`Reader`] returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A directory.
    Dir {
        /// Its path, without a trailing `/`.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// A regular file.
    File {
        /// Its path.
        path: String,
        /// Its permission bits.
        mode: u32,
        /// Its content.
        data: Vec<u8>,
    },
    /// A symbolic link.
    Symlink {
        /// Its path.
        path: String,
        /// What it points to.
        target: String,
    },
    /// Anything else (a hard link, a device, a FIFO): only its path and type flag.
    Other {
        /// Its path.
        path: String,
        /// The ustar type flag byte.
        kind: u8,
    },
}

impl Entry {
    /// The entry's path.
    #[must_use]
    pub fn path(&self) -> &str {
        match self {
            Entry::Dir { path, .. }
            | Entry::File { path, .. }
            | Entry::Symlink { path, .. }
            | Entry::Other { path, .. } => path,
        }
    }
}

#[derive(Clone, Debug)]
enum Node {
    Dir { mode: u32 },
    File { mode: u32, data: Vec<u8> },
    Symlink { target: String },
}

/// Builds a deterministic archive: see the module documentation for what is fixed.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    nodes: BTreeMap<String, Node>,
}

/// A relative path of normal components (no `.`, `..`, empty parts, NUL), without a trailing
/// `/`.
fn checked_path(path: &str) -> Result<String, Error> {
    let bad = |reason: &'static str| Error::TarPath {
        path: moat_io::excerpt(path, moat_io::EXCERPT_CHARS).into_owned(),
        reason,
    };
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if trimmed.is_empty() {
        return Err(bad("empty path"));
    }
    if trimmed.starts_with('/') {
        return Err(bad(
            "absolute path; entries are relative to the archive's root",
        ));
    }
    if trimmed.contains('\0') {
        return Err(bad("NUL byte in path"));
    }
    if trimmed
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(bad("empty, `.` or `..` component"));
    }
    Ok(trimmed.to_string())
}

fn checked_mode(path: &str, mode: u32) -> Result<u32, Error> {
    if mode > 0o7777 {
        return Err(Error::TarPath {
            path: path.to_string(),
            reason: "mode has bits beyond 0o7777",
        });
    }
    Ok(mode)
}

impl Builder {
    /// An empty archive.
    #[must_use]
    pub fn new() -> Builder {
        Builder::default()
    }

    fn insert(&mut self, path: &str, node: Node) -> Result<(), Error> {
        let path = checked_path(path)?;
        if self.nodes.contains_key(&path) {
            return Err(Error::TarPath {
                path,
                reason: "added twice",
            });
        }
        self.nodes.insert(path, node);
        Ok(())
    }

    /// Adds a directory with permission bits `mode`.
    ///
    /// # Errors
    ///
    /// [`Error::TarPath`] for a path that is not relative and normal, a mode beyond 0o7777, or
    /// a path added before.
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<(), Error> {
        let mode = checked_mode(path, mode)?;
        self.insert(path, Node::Dir { mode })
    }

    /// Adds a regular file.
    ///
    /// # Errors
    ///
    /// As [`Builder::dir`].
    pub fn file(&mut self, path: &str, mode: u32, data: Vec<u8>) -> Result<(), Error> {
        let mode = checked_mode(path, mode)?;
        self.insert(path, Node::File { mode, data })
    }

    /// Adds a symbolic link to `target` (mode 0777, as Linux shows links).
    ///
    /// # Errors
    ///
    /// As [`Builder::dir`], and for an empty target or one with a NUL byte.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<(), Error> {
        if target.is_empty() || target.contains('\0') {
            return Err(Error::TarPath {
                path: path.to_string(),
                reason: "a link's target must be non-empty without NUL bytes",
            });
        }
        self.insert(
            path,
            Node::Symlink {
                target: target.to_string(),
            },
        )
    }

    /// The archive: the entries in path order, then two zero blocks.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] for a file of 8 GiB or more (ustar's size field; pax sizes are not
    /// written).
    pub fn into_bytes(self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        for (path, node) in &self.nodes {
            match node {
                Node::Dir { mode } => {
                    header(&mut out, &format!("{path}/"), *mode, 0, b'5', "")?;
                }
                Node::File { mode, data } => {
                    let size = len64(data.len());
                    header(&mut out, path, *mode, size, b'0', "")?;
                    out.extend_from_slice(data);
                    pad(&mut out);
                }
                Node::Symlink { target } => {
                    header(&mut out, path, 0o777, 0, b'2', target)?;
                }
            }
        }
        out.resize(out.len() + 2 * BLOCK, 0);
        Ok(out)
    }
}

fn len64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn pad(out: &mut Vec<u8>) {
    let rem = out.len() % BLOCK;
    if rem != 0 {
        out.resize(out.len() + BLOCK - rem, 0);
    }
}

/// ustar's largest size: 11 octal digits.
const MAX_USTAR_SIZE: u64 = 0o777_7777_7777;

/// Writes `value` as zero-padded octal in `field`, NUL-terminated.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

/// Splits a path into ustar's prefix (155 bytes) and name (100 bytes) at a `/`, if it fits.
fn split_ustar(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some(("", path));
    }
    // The name part may keep a trailing `/` (a directory); the split `/` itself is dropped.
    let bytes = path.as_bytes();
    (1..bytes.len().min(156))
        .rev()
        .filter(|&i| bytes[i] == b'/')
        .map(|i| (&path[..i], &path[i + 1..]))
        .find(|(_, name)| !name.is_empty() && name.len() <= 100)
}

/// One pax record: `LEN key=value\n`, LEN counting itself.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    format!("{len} {key}={value}\n").into_bytes()
}

fn header(
    out: &mut Vec<u8>,
    path: &str,
    mode: u32,
    size: u64,
    kind: u8,
    link: &str,
) -> Result<(), Error> {
    if size > MAX_USTAR_SIZE {
        return Err(Error::TooLarge {
            what: format!("tar entry {path}"),
            size,
            limit: MAX_USTAR_SIZE,
        });
    }
    let split = split_ustar(path);
    if split.is_none() || link.len() > 100 {
        let mut records = Vec::new();
        if split.is_none() {
            records.extend(pax_record("path", path));
        }
        if link.len() > 100 {
            records.extend(pax_record("linkpath", link));
        }
        // The pax header's own name: fixed, so the archive stays deterministic.
        raw_header(out, "", "PaxHeader", 0o644, len64(records.len()), b'x', "");
        out.extend_from_slice(&records);
        pad(out);
    }
    let (prefix, name) = split.unwrap_or(("", ""));
    let (name, link) = if split.is_none() {
        // The ustar fields hold a truncation that readers without pax still place somewhere.
        (truncate(path, 100), truncate(link, 100))
    } else {
        (name, truncate(link, 100))
    };
    raw_header(out, prefix, name, mode, size, kind, link);
    Ok(())
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn raw_header(
    out: &mut Vec<u8>,
    prefix: &str,
    name: &str,
    mode: u32,
    size: u64,
    kind: u8,
    link: &str,
) {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0);
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    // The checksum is the byte sum with the checksum field read as eight spaces, written as
    // six octal digits, NUL, space (POSIX ustar; what GNU tar writes).
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    out.extend_from_slice(&h);
}

/// The largest pax extended header read: paths and link targets, not file data.
const MAX_PAX: u64 = 64 << 10;

/// Reads an archive entry by entry, every file's size bounded before it is read.
#[derive(Debug)]
pub struct Reader<R> {
    inner: R,
    /// Bytes consumed so far (for messages).
    offset: u64,
    done: bool,
}

impl<R: Read> Reader<R> {
    /// A reader of the archive `inner`.
    pub fn new(inner: R) -> Reader<R> {
        Reader {
            inner,
            offset: 0,
            done: false,
        }
    }

    fn bad(&self, at: u64, reason: impl Into<String>) -> Error {
        Error::Tar {
            offset: at,
            reason: reason.into(),
        }
    }

    /// Reads one block; `None` at a clean end of input.
    fn block(&mut self) -> Result<Option<[u8; BLOCK]>, Error> {
        let mut b = [0u8; BLOCK];
        let mut got = 0;
        while got < BLOCK {
            match self.inner.read(&mut b[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.bad(self.offset, format!("cannot read: {e}"))),
            }
        }
        if got == 0 {
            return Ok(None);
        }
        if got < BLOCK {
            return Err(self.bad(self.offset, "archive ends inside a 512-byte block"));
        }
        self.offset += len64(BLOCK);
        Ok(Some(b))
    }

    /// Reads `size` bytes of data and the padding after them.
    fn data(&mut self, size: u64) -> Result<Vec<u8>, Error> {
        let start = self.offset;
        let mut data = Vec::new();
        (&mut self.inner)
            .take(size)
            .read_to_end(&mut data)
            .map_err(|e| self.bad(start, format!("cannot read: {e}")))?;
        if len64(data.len()) != size {
            return Err(self.bad(
                start,
                format!("archive ends inside an entry of {size} bytes"),
            ));
        }
        self.offset += size;
        let rem = size % 512;
        if rem != 0 {
            let mut padding = [0u8; BLOCK];
            let n = usize::try_from(512 - rem).unwrap_or(BLOCK);
            self.inner
                .read_exact(&mut padding[..n])
                .map_err(|_| self.bad(self.offset, "archive ends inside an entry's padding"))?;
            self.offset += 512 - rem;
        }
        Ok(data)
    }

    /// The next entry, `None` after the end-of-archive blocks (or a clean end of input). A
    /// file's data larger than `max_file` bytes is an error before any of it is read.
    ///
    /// # Errors
    ///
    /// [`Error::Tar`] for a malformed archive (bad checksum, bad number, truncation),
    /// [`Error::TooLarge`] for a file over `max_file`.
    pub fn next_entry(&mut self, max_file: u64) -> Result<Option<Entry>, Error> {
        let mut pax_path = None;
        let mut pax_link = None;
        let mut long_name = None;
        let mut long_link = None;
        loop {
            if self.done {
                return Ok(None);
            }
            let at = self.offset;
            let Some(h) = self.block()? else {
                self.done = true;
                return Ok(None);
            };
            if h.iter().all(|&b| b == 0) {
                // The first of the two zero blocks ends the archive; what follows is padding.
                self.done = true;
                return Ok(None);
            }
            let stored =
                parse_octal(&h[148..156]).ok_or_else(|| self.bad(at, "bad checksum field"))?;
            h_checksum(&h, stored).map_err(|actual| {
                self.bad(
                    at,
                    format!("header checksum is {stored:o}, the header sums to {actual:o}: not a tar archive, or a damaged one"),
                )
            })?;
            let size = parse_size(&h[124..136]).ok_or_else(|| self.bad(at, "bad size field"))?;
            let mode = parse_octal(&h[100..108]).ok_or_else(|| self.bad(at, "bad mode field"))?;
            let kind = h[156];
            match kind {
                b'x' | b'g' | b'L' | b'K' => {
                    if size > MAX_PAX {
                        return Err(Error::TooLarge {
                            what: format!("tar extended header at byte {at}"),
                            size,
                            limit: MAX_PAX,
                        });
                    }
                    let data = self.data(size)?;
                    match kind {
                        b'x' => {
                            for (key, value) in pax_records(&data)
                                .ok_or_else(|| self.bad(at, "malformed pax extended header"))?
                            {
                                match key.as_str() {
                                    "path" => pax_path = Some(value),
                                    "linkpath" => pax_link = Some(value),
                                    _ => {}
                                }
                            }
                        }
                        // GNU long names: the data is the name, NUL-terminated.
                        b'L' => long_name = Some(cstr(&data)),
                        b'K' => long_link = Some(cstr(&data)),
                        _ => {} // global pax header: nothing this reader uses
                    }
                    continue;
                }
                _ => {}
            }
            let ustar = &h[257..262] == b"ustar";
            let mut path = cstr(&h[..100]);
            if ustar && h[345] != 0 {
                path = format!("{}/{path}", cstr(&h[345..500]));
            }
            let path = pax_path.take().or(long_name.take()).unwrap_or(path);
            let link = pax_link
                .take()
                .or(long_link.take())
                .unwrap_or_else(|| cstr(&h[157..257]));
            let path = normalize(&path);
            let mode = u32::try_from(mode & 0o7777).unwrap_or(0);
            let entry = match kind {
                b'0' | 0 | b'7' => {
                    if size > max_file {
                        return Err(Error::TooLarge {
                            what: format!("tar entry {path}"),
                            size,
                            limit: max_file,
                        });
                    }
                    Entry::File {
                        path,
                        mode,
                        data: self.data(size)?,
                    }
                }
                b'5' => {
                    self.data(size)?;
                    Entry::Dir { path, mode }
                }
                b'2' => {
                    self.data(size)?;
                    Entry::Symlink { path, target: link }
                }
                other => {
                    // A hard link, device or FIFO has no data; skip whatever a size says.
                    if size > max_file {
                        return Err(Error::TooLarge {
                            what: format!("tar entry {path}"),
                            size,
                            limit: max_file,
                        });
                    }
                    self.data(size)?;
                    Entry::Other { path, kind: other }
                }
            };
            return Ok(Some(entry));
        }
    }
}

/// `Ok` when the header's unsigned byte sum (checksum field as spaces) is `stored`; else the
/// sum. Historic tars summed signed bytes; both are accepted, as GNU tar does.
fn h_checksum(h: &[u8; BLOCK], stored: u64) -> Result<(), u64> {
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, &b) in h.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(i8::from_ne_bytes([b]));
    }
    if unsigned == stored || u64::try_from(signed).ok() == Some(stored) {
        Ok(())
    } else {
        Err(unsigned)
    }
}

/// A path with leading `./` and trailing `/` dropped (`./index.json` is `index.json`).
fn normalize(path: &str) -> String {
    let mut p = path;
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    p.strip_suffix('/').unwrap_or(p).to_string()
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// An octal field: optional leading spaces, digits, then NUL or space padding.
fn parse_octal(field: &[u8]) -> Option<u64> {
    let text: &[u8] = {
        let start = field.iter().position(|&b| b != b' ')?;
        let rest = &field[start..];
        let end = rest
            .iter()
            .position(|&b| b == 0 || b == b' ')
            .unwrap_or(rest.len());
        &rest[..end]
    };
    if text.is_empty() {
        return Some(0);
    }
    let mut n: u64 = 0;
    for &b in text {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        n = n.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// A size field: octal, or GNU's base-256 (high bit of the first byte set) for large files.
fn parse_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let mut n: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            n = n.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(n);
    }
    parse_octal(field)
}

/// pax records `LEN key=value\n`; `None` if malformed.
fn pax_records(data: &[u8]) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
        if len <= space + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return None;
        }
        let record = std::str::from_utf8(&rest[space + 1..len - 1]).ok()?;
        let (key, value) = record.split_once('=')?;
        out.push((key.to_string(), value.to_string()));
        rest = &rest[len..];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample(order: &[usize]) -> Vec<u8> {
        let items: [(&str, u8); 4] = [("bin", 0), ("bin/sh", 1), ("bin/ls", 2), ("etc", 0)];
        let mut b = Builder::new();
        for &i in order {
            let (path, kind) = items[i];
            match kind {
                0 => b.dir(path, 0o755).unwrap(),
                1 => b.file(path, 0o755, b"#!busybox\n".to_vec()).unwrap(),
                _ => b.symlink(path, "sh").unwrap(),
            }
        }
        b.into_bytes().unwrap()
    }

    fn all(bytes: &[u8]) -> Vec<Entry> {
        let mut r = Reader::new(bytes);
        let mut out = Vec::new();
        while let Some(e) = r.next_entry(1 << 20).unwrap() {
            out.push(e);
        }
        out
    }

    #[test]
    fn the_same_entries_in_any_order_give_the_same_bytes() {
        let a = sample(&[0, 1, 2, 3]);
        let b = sample(&[3, 2, 1, 0]);
        assert_eq!(a, b);
        assert_eq!(a.len() % 512, 0);
        let entries = all(&a);
        assert_eq!(
            entries,
            [
                Entry::Dir {
                    path: "bin".into(),
                    mode: 0o755
                },
                Entry::Symlink {
                    path: "bin/ls".into(),
                    target: "sh".into()
                },
                Entry::File {
                    path: "bin/sh".into(),
                    mode: 0o755,
                    data: b"#!busybox\n".to_vec()
                },
                Entry::Dir {
                    path: "etc".into(),
                    mode: 0o755
                },
            ]
        );
    }

    #[test]
    fn headers_have_fixed_owner_time_and_a_valid_checksum() {
        let bytes = sample(&[1]);
        let h: &[u8; 512] = bytes[..512].try_into().unwrap();
        assert_eq!(&h[..7], b"bin/sh\0");
        assert_eq!(&h[100..108], b"0000755\0");
        assert_eq!(&h[108..124], b"0000000\x000000000\0");
        assert_eq!(&h[124..136], b"00000000012\0");
        assert_eq!(&h[136..148], b"00000000000\0");
        assert_eq!(&h[257..265], b"ustar\x0000");
        let stored = parse_octal(&h[148..156]).unwrap();
        assert!(h_checksum(h, stored).is_ok());
    }

    #[test]
    fn bad_paths_and_duplicates_are_refused() {
        let mut b = Builder::new();
        for p in ["", "/etc", "a/../b", "a//b", "./a", "a\0b"] {
            assert!(
                matches!(b.dir(p, 0o755), Err(Error::TarPath { .. })),
                "{p:?}"
            );
        }
        b.file("a", 0o644, Vec::new()).unwrap();
        assert!(matches!(
            b.file("a/", 0o644, Vec::new()),
            Err(Error::TarPath {
                reason: "added twice",
                ..
            })
        ));
        assert!(b.file("b", 0o10000, Vec::new()).is_err());
        assert!(b.symlink("c", "").is_err());
    }

    #[test]
    fn long_paths_split_at_a_slash_or_take_a_pax_record() {
        let mid = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let long = format!("{}/{}", "d".repeat(200), "f".repeat(90));
        let link = "t".repeat(150);
        let mut b = Builder::new();
        b.file(&mid, 0o644, b"x".to_vec()).unwrap();
        b.file(&long, 0o644, b"y".to_vec()).unwrap();
        b.symlink("l", &link).unwrap();
        let bytes = b.into_bytes().unwrap();
        let entries = all(&bytes);
        assert_eq!(entries[0].path(), mid);
        assert_eq!(entries[1].path(), long);
        assert_eq!(
            entries[2],
            Entry::Symlink {
                path: "l".into(),
                target: link
            }
        );
    }

    #[test]
    fn pax_record_lengths_count_themselves() {
        for n in [1, 5, 90, 95, 96, 97, 990, 995] {
            let r = pax_record("path", &"p".repeat(n));
            let len: usize = std::str::from_utf8(&r[..r.iter().position(|&b| b == b' ').unwrap()])
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(len, r.len(), "{n}");
        }
    }

    #[test]
    fn a_damaged_or_truncated_archive_is_an_error_not_a_panic() {
        let good = sample(&[0, 1, 2, 3]);
        let mut bad = good.clone();
        bad[0] ^= 1;
        let e = Reader::new(&bad[..]).next_entry(1 << 20).unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
        // Cut inside the file's data: the entry after `bin` and `bin/ls`.
        let cut = &good[..512 * 4 + 5];
        let mut r = Reader::new(cut);
        let mut err = None;
        for _ in 0..5 {
            match r.next_entry(1 << 20) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        assert!(matches!(err, Some(Error::Tar { .. })), "{err:?}");
        // Every prefix of the archive reads to an end or an error.
        for n in 0..good.len() {
            let mut r = Reader::new(&good[..n]);
            for _ in 0..10 {
                match r.next_entry(1 << 20) {
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
        }
    }

    #[test]
    fn a_file_over_the_limit_is_refused_before_it_is_read() {
        let mut b = Builder::new();
        b.file("big", 0o644, vec![7; 5000]).unwrap();
        let bytes = b.into_bytes().unwrap();
        let e = Reader::new(&bytes[..]).next_entry(4096).unwrap_err();
        assert!(
            matches!(
                e,
                Error::TooLarge {
                    size: 5000,
                    limit: 4096,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn gnu_tar_reads_what_the_builder_writes() {
        // GNU tar is part of every Debian system (Essential: yes).
        let dir = std::env::temp_dir().join(format!("moat-oci-tar-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let long = format!("{}/{}", "d".repeat(200), "f".repeat(90));
        let mut b = Builder::new();
        b.dir("bin", 0o755).unwrap();
        b.file("bin/sh", 0o750, b"sh".to_vec()).unwrap();
        b.symlink("bin/ls", "sh").unwrap();
        b.file(&long, 0o644, b"y".to_vec()).unwrap();
        let tar = dir.join("t.tar");
        std::fs::write(&tar, b.into_bytes().unwrap()).unwrap();
        let out = std::process::Command::new("tar")
            .arg("-tvf")
            .arg(&tar)
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{listing}");
        assert!(listing.contains("-rwxr-x--- 0/0"), "{listing}");
        assert!(listing.contains("bin/ls -> sh"), "{listing}");
        assert!(listing.contains(&long), "{listing}");
        assert!(listing.contains("1970-01-01"), "{listing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
