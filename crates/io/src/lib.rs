//! Reading the files a user names and writing the files a user asks for, in one place.
//!
//! - [`Output`] writes a result: a regular file (or a path that does not exist yet) is replaced
//!   atomically — a temporary file in the same directory, `fsync`, `rename`, `fsync` of the
//!   directory — so the path holds either the old content or the complete new one. Anything else
//!   (a character device such as `/dev/null`, a FIFO, `/dev/stdout`, a symbolic link) is written
//!   through: the device node or link stays what it is. [`Output::create`] checks the path before
//!   the work that produces the bytes starts, and no temporary file survives an error.
//! - [`read`] reads an input with a size cap ([`Limit`]) and, unless the caller says the user
//!   named a stream explicitly, only from a regular file: `/dev/zero`, a FIFO or a directory is
//!   refused at once instead of growing without bound or blocking forever.
//! - [`excerpt`] shortens a token quoted in an error message.

mod read;
mod write;

pub use read::{Limit, ReadError, Source, read, read_stdin, read_to_string, text};
pub use write::{Output, WriteError};

/// Quotes at most `max` characters of `token` (whole characters), marking a cut with `…`.
///
/// Error messages quote the offending input; a 1 MB token must not become a 1 MB line.
///
/// ```
/// assert_eq!(moat_io::excerpt("abc", 80), "abc");
/// assert_eq!(moat_io::excerpt(&"x".repeat(100), 4), "xxxx…");
/// ```
#[must_use]
pub fn excerpt(token: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match token.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(token),
        Some((end, _)) => std::borrow::Cow::Owned(format!("{}…", &token[..end])),
    }
}

/// How many characters of an offending token an error line quotes.
pub const EXCERPT_CHARS: usize = 80;
