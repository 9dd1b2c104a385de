//! Source positions: [`Span`] (line and column) and [`Location`] (file and span). A leaf module:
//! the parser, the model, errors and Landlock statements all point into policy text with them.

use std::fmt;
use std::sync::Arc;

/// A position in a policy file: 1-based line and column (in characters) of a token's start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub col: u32,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Where a statement was written: the file (or built-in profile name) and its span.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// File name as given, or the built-in profile's name.
    pub origin: Arc<str>,
    /// Position of the statement's first token.
    pub span: Span,
}

impl fmt::Display for Location {
    /// `origin:line`, the form `explain` and `emu` print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.origin, self.span.line)
    }
}
