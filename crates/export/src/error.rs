//! Import and export errors: one line each, naming the file and the JSON path or line.

use std::fmt;

use moat_policy::ParseError;

/// A path into a JSON or YAML document: `syscalls[3].args[0].op`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JsonPath(String);

impl JsonPath {
    /// The document root.
    pub fn root() -> JsonPath {
        JsonPath(String::new())
    }

    /// A path starting with `prefix` (`spec`, `linux.seccomp`, `documents[1]`).
    pub fn new(prefix: &str) -> JsonPath {
        JsonPath(prefix.to_string())
    }

    /// The path to a field.
    pub fn key(&self, k: &str) -> JsonPath {
        let simple = !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let part = if simple {
            k.to_string()
        } else {
            format!("{k:?}")
        };
        if self.0.is_empty() {
            JsonPath(part)
        } else {
            JsonPath(format!("{}.{part}", self.0))
        }
    }

    /// The path to an array element.
    pub fn index(&self, i: usize) -> JsonPath {
        JsonPath(format!("{}[{i}]", self.0))
    }

    /// True for the document root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an input could not be read as a policy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Moat text that does not parse (the message is already `file:line:col: message`).
    #[error(transparent)]
    Policy(#[from] ParseError),
    /// A JSON or YAML document with a problem at `path`.
    #[error("{origin}: {}{message}", if path.is_root() { String::new() } else { format!("{path}: ") })]
    Input {
        /// File name.
        origin: String,
        /// Where in the document.
        path: JsonPath,
        /// What is wrong.
        message: String,
    },
    /// A JSON or YAML syntax error at a line and column.
    #[error("{origin}:{line}:{col}: {message}")]
    Syntax {
        /// File name.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong.
        message: String,
    },
    /// The file could not be read.
    #[error("{origin}: {message}")]
    Io {
        /// File name.
        origin: String,
        /// The system's message.
        message: String,
    },
}

impl Error {
    pub(crate) fn input(origin: &str, path: &JsonPath, message: impl Into<String>) -> Error {
        Error::Input {
            origin: origin.to_string(),
            path: path.clone(),
            message: message.into(),
        }
    }
}

/// Why a policy could not be exported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// `--strict`: the target format cannot express the policy exactly.
    #[error("{format} cannot express this policy exactly ({count} loss{}): {first}", if *count == 1 { "" } else { "es" })]
    Lossy {
        /// Target format.
        format: &'static str,
        /// Number of losses.
        count: usize,
        /// The first loss.
        first: String,
    },
    /// The policy cannot be lowered (a guard or rule that has no meaning in the context).
    #[error(transparent)]
    Lower(#[from] moat_policy::LowerError),
    /// The policy does not compile (`--to bpf`).
    #[error(transparent)]
    Compile(#[from] moat_compile::CompileError),
    /// The policy accepts no ABI in the context it is exported for.
    #[error("the policy accepts no ABI")]
    NoAbi,
    /// The format needs something that is not available.
    #[error("{0}")]
    Unsupported(String),
}
