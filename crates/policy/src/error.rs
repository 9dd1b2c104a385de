//! Errors: one line each, `file:line:col: message`.

use std::fmt;

use crate::span::Span;

/// A policy that cannot be read, parsed or resolved.
///
/// Displays as one line: `origin:line:col: message` (`origin: message` when there is no position,
/// e.g. a file that cannot be read).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// The file name as given, or the built-in profile's name.
    pub origin: String,
    /// Where the problem is; `None` for whole-file problems such as I/O errors.
    pub span: Option<Span>,
    /// What is wrong.
    pub kind: Box<ErrorKind>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The message quotes the offending token; a 1 MB token must not make a 1 MB line.
        let kind = short_words(&self.kind.to_string());
        match self.span {
            Some(s) => write!(f, "{}:{}:{}: {kind}", self.origin, s.line, s.col),
            None => write!(f, "{}: {kind}", self.origin),
        }
    }
}

/// `message` with every run of non-blank characters longer than
/// [`moat_io::EXCERPT_CHARS`] cut there (marked `…`).
fn short_words(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(1024));
    let mut run = 0usize;
    for c in message.chars() {
        if c.is_whitespace() {
            run = 0;
        } else {
            run += 1;
            if run == moat_io::EXCERPT_CHARS + 1 {
                out.push('…');
            }
            if run > moat_io::EXCERPT_CHARS {
                continue;
            }
        }
        out.push(c);
    }
    out
}

impl ParseError {
    pub(crate) fn at(origin: &str, span: Span, kind: ErrorKind) -> ParseError {
        ParseError {
            origin: origin.to_string(),
            span: Some(span),
            kind: Box::new(kind),
        }
    }
}

fn did_you_mean(s: &Option<String>) -> String {
    match s {
        Some(s) => format!(" (did you mean \"{s}\"?)"),
        None => String::new(),
    }
}

/// What is wrong with a policy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file cannot be read.
    #[error("cannot read policy: {0}")]
    Io(String),
    /// The bytes are not UTF-8.
    #[error("policy is not valid UTF-8")]
    NotUtf8,
    /// `use` expands to more statements than [`crate::MAX_STATEMENTS`].
    #[error(
        "the policy expands to more than {0} statements through `use` (a file used repeatedly along a chain of `use`?)"
    )]
    TooManyStatements(usize),
    /// No statement at all.
    #[error("policy is empty: write at least one statement, e.g. `default allow`")]
    Empty,
    /// A character that starts no token.
    #[error("unexpected character {0:?}")]
    UnexpectedChar(char),
    /// An operator from another language.
    #[error("`{found}` is not an operator here (did you mean `{use_}`?)")]
    Operator {
        /// What was written.
        found: &'static str,
        /// The moat spelling.
        use_: &'static str,
    },
    /// `"...` without the closing quote.
    #[error("unterminated string (missing closing `\"`)")]
    UnterminatedString,
    /// A literal above 2^64 - 1 (or below -2^63).
    #[error("number {0} is too large (values are 64-bit)")]
    NumberTooLarge(String),
    /// A malformed literal.
    #[error("malformed number \"{0}\"")]
    BadNumber(String),
    /// A malformed kernel version.
    #[error("malformed kernel version \"{0}\" (expected MAJOR.MINOR, e.g. 5.10)")]
    BadVersion(String),
    /// Generic syntax error.
    #[error("expected {expected}, found {found}")]
    Expected {
        /// What the grammar wants here.
        expected: String,
        /// What is there.
        found: String,
    },
    /// A line that starts with neither a statement keyword nor an action.
    #[error("unknown statement \"{word}\"{}", hint_statement(.word, .suggestion))]
    UnknownStatement {
        /// The first word.
        word: String,
        /// The closest keyword.
        suggestion: Option<String>,
    },
    /// A syscall name known on no ABI.
    #[error("unknown syscall \"{name}\"{}", did_you_mean(.suggestion))]
    UnknownSyscall {
        /// As written.
        name: String,
        /// The closest known name.
        suggestion: Option<String>,
    },
    /// An unknown `@group`.
    #[error("unknown group \"@{name}\"{}", did_you_mean(.suggestion))]
    UnknownGroup {
        /// As written, without `@`.
        name: String,
        /// The closest group, with `@`.
        suggestion: Option<String>,
    },
    /// An unknown named constant.
    #[error("unknown constant \"{name}\"{}", did_you_mean(.suggestion))]
    UnknownConstant {
        /// As written.
        name: String,
        /// The closest known constant.
        suggestion: Option<String>,
    },
    /// An unknown errno name.
    #[error("unknown errno \"{name}\"{}", did_you_mean(.suggestion))]
    UnknownErrno {
        /// As written.
        name: String,
        /// The closest errno name.
        suggestion: Option<String>,
    },
    /// An unknown capability.
    #[error("unknown capability \"{name}\"")]
    UnknownCapability {
        /// As written.
        name: String,
    },
    /// An unknown ABI.
    #[error("{0}")]
    UnknownArch(String),
    /// `use NAME` with no such built-in profile.
    #[error("unknown built-in profile \"{name}\" (built-ins: {known}; use \"path\" for a file)")]
    UnknownProfile {
        /// As written.
        name: String,
        /// The built-in names.
        known: String,
    },
    /// An errno outside 0..=4095.
    #[error("errno {0} is out of range (0 to 4095)")]
    ErrnoRange(u64),
    /// A `trap`/`trace` value outside 0..=65535.
    #[error("{action} value {value} is out of range (0 to 65535)")]
    DataRange {
        /// `trap` or `trace`.
        action: &'static str,
        /// As written.
        value: u64,
    },
    /// `argN` with N > 5.
    #[error("no argument \"{0}\": syscalls have arg0 to arg5")]
    ArgIndex(String),
    /// A condition names a parameter this syscall does not have.
    #[error("{syscall} has no parameter \"{param}\" on {arch} (its parameters: {params})")]
    UnknownParameter {
        /// The syscall.
        syscall: String,
        /// The name or `argN` as written.
        param: String,
        /// The ABI where it fails.
        arch: String,
        /// The parameters it has, comma-separated, or "none".
        params: String,
    },
    /// A named parameter on a syscall moat has no signature for.
    #[error("moat knows no parameter names for {syscall} on {arch}: write arg0 to arg5")]
    NoSignature {
        /// The syscall.
        syscall: String,
        /// The ABI.
        arch: String,
    },
    /// A value that cannot be represented in the argument's width.
    #[error(
        "value {value} does not fit the {bits}-bit parameter \"{param}\" of {syscall} on {arch} (the kernel ignores the high {ignored} bits)"
    )]
    ValueTooWide {
        /// As written.
        value: String,
        /// How many bits of the parameter the kernel reads (16 or 32).
        bits: u8,
        /// How many high bits of the register the kernel ignores.
        ignored: u8,
        /// The parameter name or `argN`.
        param: String,
        /// The syscall.
        syscall: String,
        /// The ABI.
        arch: String,
    },
    /// `in {}`.
    #[error("empty set `{{}}` never matches")]
    EmptySet,
    /// A `{` that is not closed on its line.
    #[error("unterminated set: missing `}}` before the end of the line")]
    UnterminatedSet,
    /// A `(` that is not closed on its line.
    #[error("missing `)` for this `(`")]
    UnclosedParen,
    /// `not` and parentheses nested too deeply.
    #[error("conditions nest more than {0} levels deep")]
    TooDeep(u32),
    /// A rule without targets.
    #[error("a rule needs at least one syscall name or @group after its action")]
    NoTarget,
    /// `use` cycle.
    #[error("`use` cycle: {0}")]
    UseCycle(String),
    /// A built-in profile may not read files.
    #[error("a built-in profile cannot use a file")]
    UseFileInBuiltin,
    /// A source that may not read files (a pod annotation) names one.
    #[error("{0} may `use` built-in profiles only (a path would read files on this machine)")]
    UseFileRefused(String),
    /// A one-statement-per-entry source (`-e`, `enforce`) has a line break in an entry.
    #[error("one statement per entry: this one contains a line break")]
    LineBreak,
    /// The accepted ABI set is empty.
    #[error("this arch statement accepts no ABI on this host ({0} has no compat ABI)")]
    NoAbi(String),
    /// A named argument used on a group or several syscalls where some member lacks it is
    /// reported through [`ErrorKind::UnknownParameter`]; this is a condition on a syscall with no
    /// arguments at that position.
    #[error("{syscall} takes {count} argument(s) on {arch}; it has no {param}")]
    NoSuchArg {
        /// The syscall.
        syscall: String,
        /// How many parameters it has.
        count: usize,
        /// `argN` as written.
        param: String,
        /// The ABI.
        arch: String,
    },
    /// An error inside a used file or profile, reported where it is; this wraps nothing else.
    #[error("{0}")]
    Other(String),
}

fn hint_statement(word: &str, suggestion: &Option<String>) -> String {
    if let Some(s) = suggestion {
        return format!(" (did you mean \"{s}\"?)");
    }
    if moat_syscalls::is_known(word) {
        return format!(" (a rule starts with an action, e.g. `deny {word}`)");
    }
    " (statements: use, default, unknown, badarch, kernel, arch; actions: allow, deny, errno, kill, kill-thread, trap, log, trace, notify)".to_string()
}

/// The candidate closest to `input` ([`moat_syscalls::closest`], the one "did you mean").
pub(crate) fn closest<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    moat_syscalls::closest(input, candidates).map(str::to_string)
}

/// Why a policy cannot be lowered for a compiler.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LowerError {
    /// A rule's condition cannot be expressed on an ABI (should have been rejected when parsing).
    #[error("{location}: rule cannot be enforced on {arch}: {reason}")]
    Unenforceable {
        /// `origin:line` of the rule.
        location: String,
        /// The ABI.
        arch: String,
        /// Why.
        reason: String,
    },
}
