//! moat-oci: OCI image layouts, the format `ctr images import`, `podman load` and
//! `skopeo copy oci-archive:` read.
//!
//! - [`spec`]: descriptors, manifests, indexes and image configs (OCI image-spec v1.1) as serde
//!   types, and their media types.
//! - [`Layout`]: `oci-layout`, `index.json` and `blobs/sha256/HEX` in memory; built with
//!   [`Layout::add_image`] (an image) or [`Layout::add_blob`] and [`Layout::add_manifest`] (an
//!   artifact), written as a directory ([`Layout::write_dir`]) or a tar archive
//!   ([`Layout::to_tar`]: the same layout, the same bytes), and read back from either
//!   ([`Layout::read`]) with every reachable blob's size and digest checked and every size
//!   bounded ([`Limits`]).
//! - [`tar`]: a deterministic tar writer (layers: directories, files with their mode, symbolic
//!   links) and a bounded reader.
//! - [`Digest`]: sha256 digests.
//!
//! What it does not do: compress layers, talk to registries, or unpack layers onto a disk.

#![deny(missing_docs)]

mod digest;
mod layout;
pub mod spec;
pub mod tar;

use std::path::PathBuf;

pub use digest::Digest;
pub use layout::{INDEX_FILE, LAYOUT_FILE, LAYOUT_VERSION, Layout, Limits};

/// Why a layout, archive or document could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A digest string is malformed or not sha256.
    #[error("invalid digest {text:?}: {reason}")]
    Digest {
        /// The offending text (shortened).
        text: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A JSON document does not parse as what its media type says.
    #[error("{what}: not a valid document")]
    Json {
        /// The document (`index.json`, `blobs/sha256/HEX (media type)`).
        what: String,
        /// The parser's message, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A descriptor names a blob the layout does not hold.
    #[error("blob {digest} is missing from the layout")]
    MissingBlob {
        /// The blob's digest.
        digest: Digest,
    },
    /// A blob's content does not hash to its name.
    #[error("{path}: content hashes to {actual}")]
    DigestMismatch {
        /// The blob's path in the layout.
        path: String,
        /// The content's digest.
        actual: Digest,
    },
    /// A blob's size differs from its descriptor's.
    #[error("blob {digest}: {actual} bytes, its descriptor says {declared}")]
    SizeMismatch {
        /// The blob's digest.
        digest: Digest,
        /// The descriptor's size.
        declared: u64,
        /// The blob's size.
        actual: u64,
    },
    /// Something is larger than its limit.
    #[error("{what}: {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// What it is.
        what: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A tar archive is malformed.
    #[error("tar archive, at byte {offset}: {reason}")]
    Tar {
        /// Where the bad block starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A path or mode given to [`tar::Builder`] cannot go into an archive.
    #[error("tar entry {path:?}: {reason}")]
    TarPath {
        /// The path.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The layout's structure is wrong (no `oci-layout`, a wrong version, a manifest that
    /// contradicts its descriptor).
    #[error("{reason}")]
    Layout {
        /// What is wrong, naming the file.
        reason: String,
    },
    /// The system refused a file operation while writing or reading a layout directory.
    #[error("{}: cannot create or read", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// Reading a file failed (moat-io's message names it).
    #[error(transparent)]
    Read(#[from] moat_io::ReadError),
    /// Writing a file failed (moat-io's message names it).
    #[error(transparent)]
    Write(#[from] moat_io::WriteError),
}
