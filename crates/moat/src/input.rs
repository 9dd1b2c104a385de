//! One reader for every input a user can name on moat's command line.
//!
//! [`open`] takes the spec as the user wrote it and decides, by one rule, what it names:
//!
//! 1. `-` is standard input (read up to the size cap).
//! 2. `pid:N` is the seccomp filters process N has installed (needs root).
//! 3. A bare word — no `/` and no `.` — that names a built-in profile is that profile, even when
//!    a file of that name exists in the current directory; write `./container` for the file. A
//!    file in the working directory never shadows a built-in.
//! 4. Anything else is a path. `FILE#NAME` picks the SeccompProfile NAME of a file holding
//!    several, when FILE exists and a file called `FILE#NAME` does not.
//!
//! A directory, or a regular file that is a tar archive, is an OCI image layout (a KEP-6061
//! seccomp profile artifact, or an image whose `io.containers.seccomp.profile` label holds the
//! profile), read by moat-export with moat-oci's limits.
//!
//! A file (or standard input) is then read by content: bytes that hold a control byte other
//! than tab, newline, CR and form feed are a raw BPF program (`struct sock_filter`, in the byte order of
//! [`Options::arch`], little-endian by default); text is a policy in any format moat-export
//! reads (moat, Docker/OCI JSON, `config.json`, security-profiles-operator YAML, systemd units,
//! minijail), or, when it is none of those and reads as a BPF listing, `moat disasm` text or
//! pseudo-code. A UTF-8 byte-order mark is ignored. Every read is capped ([`moat_io::Limit`]):
//! 4 MiB of text, 32 KiB of raw BPF; a FIFO or device is read only because the user named it.
//!
//! ```
//! use moat::input::{Input, Options, open};
//!
//! let Input::Policy(p) = open("container", &Options::default())? else { unreachable!() };
//! assert_eq!(p.policy.origin(), "container");
//! # Ok::<(), moat::input::Error>(())
//! ```

use std::path::Path;

use moat_bpf::{ByteOrder, DecodeError, Program};
use moat_export::Loaded;
use moat_syscalls::Arch;

/// How inputs are read.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// How foreign profiles are imported (unknown names, the runtime whose reading to follow,
    /// the SeccompProfile to pick).
    pub import: moat_export::Options,
    /// The ABI a raw or textual BPF program is for: its kernel's byte order for raw bytes, and
    /// the ABI that syscall names in a listing resolve on.
    pub arch: Option<Arch>,
}

/// What a spec named.
#[derive(Debug)]
pub enum Input {
    /// A policy: a built-in profile or a file in any policy format.
    Policy(Box<Loaded>),
    /// BPF programs: a raw program, a listing, or a process's filters (oldest first).
    Programs {
        /// The programs.
        programs: Vec<Program>,
        /// The spec, for messages.
        origin: String,
        /// Where they came from.
        form: ProgramForm,
    },
}

/// The form BPF programs were read in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramForm {
    /// 8 bytes per instruction.
    Raw,
    /// `moat disasm` text or pseudo-code.
    Listing,
    /// `pid:N`: the filters a process has installed.
    Process,
}

impl Input {
    /// The name messages use for the input.
    #[must_use]
    pub fn origin(&self) -> &str {
        match self {
            Input::Policy(l) => l.policy.origin(),
            Input::Programs { origin, .. } => origin,
        }
    }

    /// The policy, or [`Error::NotAPolicy`] for BPF programs (`command` names what wanted a
    /// policy, for the message).
    ///
    /// # Errors
    ///
    /// When the input is BPF.
    pub fn into_policy(self, command: &str) -> Result<Box<Loaded>, Error> {
        match self {
            Input::Policy(l) => Ok(l),
            Input::Programs { origin, form, .. } => Err(Error::NotAPolicy {
                spec: origin,
                form,
                command: command.to_string(),
            }),
        }
    }
}

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file or standard input could not be read (missing, too large, a directory); the
    /// message names the path.
    #[error(transparent)]
    Read(#[from] moat_io::ReadError),
    /// A policy that does not parse or import (the message carries `file:line:col`).
    #[error(transparent)]
    Policy(#[from] moat_export::Error),
    /// Bytes that are neither text nor a whole raw BPF program, or a program the kernel would
    /// refuse.
    #[error("{spec}: {message}")]
    Bpf {
        /// The spec.
        spec: String,
        /// What is wrong.
        message: String,
    },
    /// Nothing at all to read.
    #[error(
        "{spec}:1:1: empty input: a policy needs at least one statement (e.g. `default allow`), a program at least one instruction"
    )]
    Empty {
        /// The spec.
        spec: String,
    },
    /// `pid:N` with something other than a number after the colon.
    #[error("{spec}: expected pid:NUMBER")]
    BadPid {
        /// The spec.
        spec: String,
    },
    /// The filters of a process could not be read.
    #[error("{spec}: cannot read the process's filters")]
    Process {
        /// The spec.
        spec: String,
        /// The cause.
        #[source]
        source: moat_sys::ReadError,
    },
    /// A process without seccomp filters.
    #[error("process {pid} has no seccomp filters")]
    NoFilters {
        /// The process.
        pid: i32,
    },
    /// A command that needs a policy was given BPF.
    #[error("{spec}: {} is a compiled program; `moat {command}` takes a policy (a built-in profile or a policy file)", form_name(*.form))]
    NotAPolicy {
        /// The spec.
        spec: String,
        /// What it is.
        form: ProgramForm,
        /// The command.
        command: String,
    },
}

fn form_name(f: ProgramForm) -> &'static str {
    match f {
        ProgramForm::Raw => "raw BPF",
        ProgramForm::Listing => "a BPF listing",
        ProgramForm::Process => "a process's filter",
    }
}

/// Reads what `spec` names (see the [module documentation](self) for the rule).
///
/// # Errors
///
/// When the input cannot be read, does not parse in any format, or is not a valid program.
pub fn open(spec: &str, opts: &Options) -> Result<Input, Error> {
    if spec == "-" {
        let bytes = moat_io::read_stdin(moat_io::Limit::TEXT)?;
        return from_bytes(&bytes, "<stdin>", opts);
    }
    if let Some(pid) = spec.strip_prefix("pid:") {
        let pid: i32 = pid.parse().map_err(|_| Error::BadPid {
            spec: spec.to_string(),
        })?;
        let programs = moat_sys::read_filters(pid).map_err(|source| Error::Process {
            spec: spec.to_string(),
            source,
        })?;
        if programs.is_empty() {
            return Err(Error::NoFilters { pid });
        }
        return Ok(Input::Programs {
            programs,
            origin: spec.to_string(),
            form: ProgramForm::Process,
        });
    }
    // A built-in, or a bare word that is neither a built-in nor a file: moat-export's
    // "unknown profile" message with its suggestion.
    if is_builtin_name(spec)
        || (!spec.contains('/') && !spec.contains('.') && !Path::new(spec).exists())
    {
        return Ok(Input::Policy(Box::new(moat_export::load(
            spec,
            &opts.import,
        )?)));
    }
    // `FILE#NAME`: one SeccompProfile of a file holding several.
    if let Some((file, name)) = spec.rsplit_once('#')
        && !name.is_empty()
        && !Path::new(spec).exists()
        && Path::new(file).exists()
    {
        let mut o = opts.clone();
        o.import.profile = Some(name.to_string());
        return open(file, &o);
    }
    // An OCI image layout (a directory, or an archive of one): moat-export reads it with
    // moat-oci's limits (a KEP-6061 artifact, an image's io.containers.seccomp.profile label).
    let path = Path::new(spec);
    if path.is_dir() || moat_export::is_archive_file(path) {
        return Ok(Input::Policy(Box::new(moat_export::load(
            spec,
            &opts.import,
        )?)));
    }
    let bytes = moat_io::read(path, moat_io::Limit::TEXT, moat_io::Source::Main)?;
    from_bytes(&bytes, spec, opts)
}

/// Whether `spec` is a bare word naming a built-in profile (rule 3).
#[must_use]
pub fn is_builtin_name(spec: &str) -> bool {
    !spec.contains('/') && !spec.contains('.') && moat_policy::Policy::builtin(spec).is_some()
}

/// The spec that names `path` as a file (rule 4), for flags that always take a file
/// (`moat run --policy`): `./container` for a file called `container`, the path itself otherwise.
#[must_use]
pub fn file_spec(path: &Path) -> String {
    let shown = path.display().to_string();
    if is_builtin_name(&shown) {
        format!("./{shown}")
    } else {
        shown
    }
}

/// Reads bytes already in memory by content, as [`open`] reads a file; `origin` names them.
///
/// # Errors
///
/// As [`open`].
pub fn from_bytes(bytes: &[u8], origin: &str, opts: &Options) -> Result<Input, Error> {
    if moat_export::is_archive(bytes) {
        return Ok(Input::Policy(Box::new(moat_export::load_bytes(
            bytes,
            origin,
            &opts.import,
        )?)));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Empty {
            spec: origin.to_string(),
        });
    }
    // Raw programs practically always hold NUL bytes (zero jump offsets, the high bytes of
    // small constants) and other control bytes; text holds none but tab, newline, CR and FF.
    // Bytes without control bytes that are not UTF-8 are text with a bad byte: the policy
    // reader says where.
    let binary = bytes
        .iter()
        .any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c));
    if binary {
        return raw(bytes, origin, opts.arch);
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(Input::Policy(Box::new(moat_export::load_bytes(
            bytes,
            origin,
            &opts.import,
        )?)));
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match moat_export::load_bytes(text.as_bytes(), origin, &opts.import) {
        Ok(loaded) => Ok(Input::Policy(Box::new(loaded))),
        // Only text that was read as moat text (no other format recognised it) and failed may
        // be a listing instead: minijail's `return EPERM` is not pseudo-code.
        Err(policy_err @ moat_export::Error::Policy(_)) if looks_like_listing(text) => {
            match moat_bpf::asm::assemble_with(text, opts.arch) {
                Ok(program) => Ok(Input::Programs {
                    programs: vec![program],
                    origin: origin.to_string(),
                    form: ProgramForm::Listing,
                }),
                // Text that reads as a listing but does not assemble: the listing's error.
                Err(e) if !looks_like_policy(text) => Err(Error::Bpf {
                    spec: origin.to_string(),
                    message: e.to_string(),
                }),
                Err(_) => Err(policy_err.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

fn raw(bytes: &[u8], origin: &str, arch: Option<Arch>) -> Result<Input, Error> {
    if u64::try_from(bytes.len()).map_or(true, |n| n > moat_io::Limit::BPF.bytes) {
        return Err(Error::Bpf {
            spec: origin.to_string(),
            message: format!(
                "{} bytes of binary data: larger than the 32768 bytes of the longest program the kernel loads (4096 instructions)",
                bytes.len()
            ),
        });
    }
    let order = arch.map_or(ByteOrder::Little, ByteOrder::of);
    let program = Program::from_bytes_in(bytes, order).map_err(|e| Error::Bpf {
        spec: origin.to_string(),
        message: match e {
            DecodeError::Length { len } => format!(
                "{len} bytes is not a whole number of 8-byte instructions; expected raw BPF (struct sock_filter, {}-endian), `moat disasm` text, or a policy",
                order.name()
            ),
            DecodeError::Invalid(v) => match v.pc() {
                Some(pc) => format!("byte offset {}: {v}", pc * 8),
                None => v.to_string(),
            },
            other => other.to_string(),
        },
    })?;
    Ok(Input::Programs {
        programs: vec![program],
        origin: origin.to_string(),
        form: ProgramForm::Raw,
    })
}

/// `moat disasm` output and pseudo-code: a header row of `moat disasm`, or lines with `return`,
/// `A = `, ` ld ` or ` ret `.
fn looks_like_listing(text: &str) -> bool {
    text.lines().any(|l| {
        l.contains("return") || l.contains("A = ") || l.contains(" ld ") || l.contains(" ret ")
    })
}

/// Text whose first statement-like line starts with a policy keyword: its errors are the
/// policy parser's, not the assembler's.
fn looks_like_policy(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .and_then(|l| l.split_whitespace().next())
        .is_some_and(moat_policy::is_statement_word)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn opts() -> Options {
        Options::default()
    }

    #[test]
    fn a_bare_builtin_name_is_the_builtin_even_with_a_file_of_that_name() {
        let dir = std::env::temp_dir().join(format!("moat-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("container"), "default kill\n").unwrap();
        let cwd = std::env::current_dir().unwrap();
        // Resolve by the rule, not by the working directory: "container" is the built-in.
        assert!(is_builtin_name("container"));
        assert_eq!(file_spec(Path::new("container")), "./container");
        assert_eq!(file_spec(Path::new("p.json")), "p.json");
        let Input::Policy(p) = open("container", &opts()).unwrap() else {
            panic!("not a policy")
        };
        assert_eq!(p.policy.origin(), "container");
        // The file is read when named as a path.
        let path = dir.join("container");
        let Input::Policy(p) = open(path.to_str().unwrap(), &opts()).unwrap() else {
            panic!("not a policy")
        };
        assert!(p.text.starts_with("default kill"));
        assert_eq!(std::env::current_dir().unwrap(), cwd);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn content_decides_between_policy_raw_and_listing() {
        let p = moat_compile::compile(
            &moat_policy::Policy::builtin("strict").unwrap().unwrap(),
            &moat_compile::Options::default(),
        )
        .unwrap()
        .program;
        let raw = from_bytes(&p.to_bytes(), "p.bpf", &opts()).unwrap();
        assert!(matches!(
            raw,
            Input::Programs {
                form: ProgramForm::Raw,
                ..
            }
        ));
        let listing = moat_bpf::disasm::disasm(&p, None);
        let l = from_bytes(listing.as_bytes(), "p.txt", &opts()).unwrap();
        let Input::Programs { programs, form, .. } = l else {
            panic!("not a program")
        };
        assert_eq!(form, ProgramForm::Listing);
        assert_eq!(programs[0], p);
        let json = br#"{"defaultAction": "SCMP_ACT_ALLOW"}"#;
        assert!(matches!(
            from_bytes(json, "p.json", &opts()).unwrap(),
            Input::Policy(_)
        ));
        let bom = b"\xEF\xBB\xBFdefault allow\n";
        assert!(matches!(
            from_bytes(bom, "bom.moat", &opts()).unwrap(),
            Input::Policy(_)
        ));
    }

    #[test]
    fn bad_input_is_one_message_naming_the_input() {
        let e = from_bytes(b"\x01\x02\x03", "x.bin", &opts()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("x.bin: 3 bytes is not a whole number"),
            "{e}"
        );
        let e = from_bytes(b"deny mkdri\n", "p.moat", &opts()).unwrap_err();
        assert!(
            e.to_string().starts_with("p.moat:1:6: unknown syscall"),
            "{e}"
        );
        let e = from_bytes(&vec![0u8; 40_000], "zero", &opts()).unwrap_err();
        assert!(e.to_string().contains("larger than the 32768 bytes"), "{e}");
        let e = from_bytes(b" \n", "e.moat", &opts()).unwrap_err();
        assert!(e.to_string().starts_with("e.moat:1:1: empty input"), "{e}");
        let e = open("pid:x", &opts()).unwrap_err();
        assert_eq!(e.to_string(), "pid:x: expected pid:NUMBER");
        let e = open("/nonexistent/p.moat", &opts()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/p.moat: cannot read"),
            "{e}"
        );
    }

    #[test]
    fn a_program_where_a_policy_is_needed_says_so() {
        let p = Input::Programs {
            programs: Vec::new(),
            origin: "f.bpf".into(),
            form: ProgramForm::Raw,
        };
        let e = p.into_policy("compile").unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.bpf: raw BPF is a compiled program; `moat compile` takes a policy (a built-in profile or a policy file)"
        );
    }
}
