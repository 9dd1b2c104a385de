//! Landlock statements: the paths, TCP ports and IPC scopes that seccomp cannot see.
//!
//! ```text
//! fs read PATH...          reading files and listing directories only beneath these paths
//! fs write PATH...         creating, writing, truncating, renaming, removing only beneath these
//! fs exec PATH...          executing files only beneath these paths
//! net bind PORT...         binding TCP sockets only to these ports
//! net connect PORT...      connecting TCP sockets only to these ports
//! scope signals            no signals to processes outside the sandbox
//! scope abstract-unix      no connections to abstract unix sockets outside the sandbox
//! landlock required        fail instead of degrading when the kernel cannot enforce a statement
//! ```
//!
//! Each kind of access that appears in some statement is restricted; kinds that appear nowhere
//! stay unrestricted (`fs read /usr` alone restricts reading, not writing). A kind written with
//! no paths or ports (`fs write`) is denied everywhere. Paths are absolute; a quoted path may
//! contain spaces (`"/srv/my data"`). These lines are read before the syscall lexer, so paths
//! need no quoting otherwise. This module only parses and stores the statements: enforcing them
//! is `moat-sys` (`landlock`) through the `moat` facade.

use std::fmt;

use crate::error::{ErrorKind, ParseError};
use crate::span::{Location, Span};

/// The first words of Landlock statements.
pub(crate) const KEYWORDS: &[&str] = &["fs", "net", "scope", "landlock"];

/// A kind of file-system access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FsAccess {
    /// `fs read`: read files, list directories.
    Read,
    /// `fs write`: write, truncate, create, remove, rename and link files; device ioctls.
    Write,
    /// `fs exec`: execute files.
    Exec,
}

impl FsAccess {
    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            FsAccess::Read => "read",
            FsAccess::Write => "write",
            FsAccess::Exec => "exec",
        }
    }
}

/// A kind of TCP access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NetAccess {
    /// `net bind`.
    Bind,
    /// `net connect`.
    Connect,
}

impl NetAccess {
    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            NetAccess::Bind => "bind",
            NetAccess::Connect => "connect",
        }
    }
}

/// An IPC scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `scope signals`.
    Signals,
    /// `scope abstract-unix`.
    AbstractUnix,
}

impl Scope {
    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Signals => "signals",
            Scope::AbstractUnix => "abstract-unix",
        }
    }
}

/// One Landlock statement as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LandlockStatement {
    /// `fs ACCESS PATH...`.
    Fs(FsAccess, Vec<String>),
    /// `net ACCESS PORT...`.
    Net(NetAccess, Vec<u16>),
    /// `scope NAME`.
    Scope(Scope),
    /// `landlock required`.
    Required,
}

impl fmt::Display for LandlockStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LandlockStatement::Fs(a, paths) => {
                write!(f, "fs {}", a.name())?;
                for p in paths {
                    if p.contains([' ', '\t', '#', '"', ';']) {
                        write!(f, " \"{p}\"")?;
                    } else {
                        write!(f, " {p}")?;
                    }
                }
                Ok(())
            }
            LandlockStatement::Net(a, ports) => {
                write!(f, "net {}", a.name())?;
                for p in ports {
                    write!(f, " {p}")?;
                }
                Ok(())
            }
            LandlockStatement::Scope(s) => write!(f, "scope {}", s.name()),
            LandlockStatement::Required => f.write_str("landlock required"),
        }
    }
}

/// An `fs` statement in effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsRule {
    /// The access kind.
    pub access: FsAccess,
    /// Absolute paths.
    pub paths: Vec<String>,
    /// Where it was written.
    pub location: Location,
}

/// A `net` statement in effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetRule {
    /// The access kind.
    pub access: NetAccess,
    /// TCP ports.
    pub ports: Vec<u16>,
    /// Where it was written.
    pub location: Location,
}

/// Every Landlock statement of a policy, `use`d files included.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Landlock {
    /// `fs` statements in source order.
    pub fs: Vec<FsRule>,
    /// `net` statements in source order.
    pub net: Vec<NetRule>,
    /// `scope` statements.
    pub scopes: Vec<(Scope, Location)>,
    /// Where `landlock required` was written, if anywhere.
    pub required: Option<Location>,
}

impl Landlock {
    /// True when the policy has no Landlock statement that restricts anything.
    pub fn is_empty(&self) -> bool {
        self.fs.is_empty() && self.net.is_empty() && self.scopes.is_empty()
    }

    /// True when some statement restricts this file-system access kind.
    pub fn restricts_fs(&self, access: FsAccess) -> bool {
        self.fs.iter().any(|r| r.access == access)
    }

    /// True when some statement restricts this TCP access kind.
    pub fn restricts_net(&self, access: NetAccess) -> bool {
        self.net.iter().any(|r| r.access == access)
    }

    /// What the statements restrict, one line each (for `moat explain`): every access kind
    /// some statement names, with where it stays allowed and the lines that say so; nothing when
    /// the policy has no Landlock statement.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.is_empty() {
            return out;
        }
        out.push(match &self.required {
            Some(l) => format!("landlock: required ({l}): refuse to run where the kernel cannot enforce it"),
            None => "landlock: best effort: parts an older kernel cannot enforce are skipped with a warning".into(),
        });
        for access in [FsAccess::Read, FsAccess::Write, FsAccess::Exec] {
            let rules: Vec<&FsRule> = self.fs.iter().filter(|r| r.access == access).collect();
            if rules.is_empty() {
                continue;
            }
            let paths: Vec<&str> = rules
                .iter()
                .flat_map(|r| r.paths.iter().map(String::as_str))
                .collect();
            let lines: Vec<String> = rules.iter().map(|r| r.location.to_string()).collect();
            let what = match access {
                FsAccess::Read => "read files and list directories",
                FsAccess::Write => "write, create, remove and rename files",
                FsAccess::Exec => "execute files",
            };
            let where_ = if paths.is_empty() {
                "nowhere".to_string()
            } else {
                format!("only beneath {}", paths.join(" "))
            };
            out.push(format!(
                "fs {}: {what} {where_} ({})",
                access.name(),
                lines.join(", ")
            ));
        }
        for access in [NetAccess::Bind, NetAccess::Connect] {
            let rules: Vec<&NetRule> = self.net.iter().filter(|r| r.access == access).collect();
            if rules.is_empty() {
                continue;
            }
            let ports: Vec<String> = rules
                .iter()
                .flat_map(|r| r.ports.iter().map(u16::to_string))
                .collect();
            let lines: Vec<String> = rules.iter().map(|r| r.location.to_string()).collect();
            let where_ = if ports.is_empty() {
                "no port".to_string()
            } else {
                format!("only port {}", ports.join(" "))
            };
            out.push(format!(
                "net {}: TCP {} to {where_} ({})",
                access.name(),
                access.name(),
                lines.join(", ")
            ));
        }
        for (scope, l) in &self.scopes {
            let what = match scope {
                Scope::Signals => "no signals to processes outside the sandbox",
                Scope::AbstractUnix => {
                    "no connections to abstract unix sockets outside the sandbox"
                }
            };
            out.push(format!("scope {}: {what} ({l})", scope.name()));
        }
        out
    }

    pub(crate) fn add(&mut self, st: &LandlockStatement, location: Location) {
        match st {
            LandlockStatement::Fs(access, paths) => self.fs.push(FsRule {
                access: *access,
                paths: paths.clone(),
                location,
            }),
            LandlockStatement::Net(access, ports) => self.net.push(NetRule {
                access: *access,
                ports: ports.clone(),
                location,
            }),
            LandlockStatement::Scope(s) => {
                if !self.scopes.iter().any(|(x, _)| x == s) {
                    self.scopes.push((*s, location));
                }
            }
            LandlockStatement::Required => self.required = Some(location),
        }
    }
}

/// A Landlock line: the statement, the position of its first word and its `# reason`.
pub(crate) struct Line {
    pub(crate) statement: LandlockStatement,
    pub(crate) span: Span,
    pub(crate) reason: Option<String>,
}

/// A word of a Landlock line and its 0-based character column.
struct Word {
    text: String,
    col: usize,
    quoted: bool,
}

fn col(c: usize) -> u32 {
    u32::try_from(c + 1).unwrap_or(u32::MAX)
}

/// Splits a line into words (blank-separated, `"..."` quoted without escapes) and the comment.
fn words(
    text: &str,
    line_no: u32,
    offset: usize,
    origin: &str,
) -> Result<(Vec<Word>, Option<String>), ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == ' ' || c == '\t' || c == '\r' {
            i += 1;
            continue;
        }
        if c == '#' {
            let rest: String = chars[i + 1..].iter().collect();
            let rest = rest.trim();
            return Ok((out, (!rest.is_empty()).then(|| rest.to_string())));
        }
        let start = i;
        if c == '"' {
            i += 1;
            let s = i;
            while i < chars.len() && chars[i] != '"' {
                i += 1;
            }
            if i >= chars.len() {
                return Err(ParseError::at(
                    origin,
                    Span {
                        line: line_no,
                        col: col(start + offset),
                    },
                    ErrorKind::UnterminatedString,
                ));
            }
            out.push(Word {
                text: chars[s..i].iter().collect(),
                col: start + offset,
                quoted: true,
            });
            i += 1;
            continue;
        }
        while i < chars.len() && !matches!(chars[i], ' ' | '\t' | '\r' | '#' | '"') {
            i += 1;
        }
        out.push(Word {
            text: chars[start..i].iter().collect(),
            col: start + offset,
            quoted: false,
        });
    }
    Ok((out, None))
}

/// Parses `text` as a Landlock statement when its first word is one of [`KEYWORDS`];
/// `Ok(None)` for every other line (the syscall parser handles those).
pub(crate) fn line(
    text: &str,
    line_no: u32,
    offset: usize,
    origin: &str,
) -> Result<Option<Line>, ParseError> {
    let first = text.trim_start();
    let keyword = first
        .split(|c: char| c.is_whitespace() || c == '#')
        .next()
        .unwrap_or_default();
    if !KEYWORDS.contains(&keyword) {
        return Ok(None);
    }
    let (words, reason) = words(text, line_no, offset, origin)?;
    let Some(head) = words.first() else {
        return Ok(None);
    };
    let span_of = |w: &Word| Span {
        line: line_no,
        col: col(w.col),
    };
    let end = Span {
        line: line_no,
        col: col(text.chars().count() + offset),
    };
    let err = |span: Span, msg: String| ParseError::at(origin, span, ErrorKind::Other(msg));
    let sub = words.get(1);
    let sub_text = sub.map(|w| w.text.as_str());
    let sub_span = sub.map_or(end, span_of);
    let rest = words.get(2..).unwrap_or_default();
    let statement = match head.text.as_str() {
        "fs" => {
            let access = match sub_text {
                Some("read") => FsAccess::Read,
                Some("write") => FsAccess::Write,
                Some("exec") => FsAccess::Exec,
                other => {
                    return Err(err(
                        sub_span,
                        format!(
                            "expected read, write or exec after `fs`, found {}",
                            other.map_or("end of line".to_string(), |o| format!("\"{o}\""))
                        ),
                    ));
                }
            };
            let mut paths = Vec::new();
            for w in rest {
                if !w.text.starts_with('/') {
                    return Err(err(
                        span_of(w),
                        format!(
                            "landlock paths are absolute: \"{}\" does not start with `/`",
                            w.text
                        ),
                    ));
                }
                if w.text.contains('\0') {
                    return Err(err(span_of(w), "path contains a NUL character".into()));
                }
                let _ = w.quoted;
                paths.push(w.text.clone());
            }
            LandlockStatement::Fs(access, paths)
        }
        "net" => {
            let access = match sub_text {
                Some("bind") => NetAccess::Bind,
                Some("connect") => NetAccess::Connect,
                other => {
                    return Err(err(
                        sub_span,
                        format!(
                            "expected bind or connect after `net`, found {}",
                            other.map_or("end of line".to_string(), |o| format!("\"{o}\""))
                        ),
                    ));
                }
            };
            let mut ports = Vec::new();
            for w in rest {
                let Some(p) = w
                    .text
                    .parse::<u32>()
                    .ok()
                    .and_then(|p| u16::try_from(p).ok())
                else {
                    return Err(err(
                        span_of(w),
                        format!("\"{}\" is not a TCP port (0 to 65535)", w.text),
                    ));
                };
                ports.push(p);
            }
            LandlockStatement::Net(access, ports)
        }
        "scope" => {
            let scope = match sub_text {
                Some("signals") => Scope::Signals,
                Some("abstract-unix") => Scope::AbstractUnix,
                other => {
                    return Err(err(
                        sub_span,
                        format!(
                            "expected signals or abstract-unix after `scope`, found {}",
                            other.map_or("end of line".to_string(), |o| format!("\"{o}\""))
                        ),
                    ));
                }
            };
            if let Some(w) = rest.first() {
                return Err(err(
                    span_of(w),
                    format!("expected end of statement, found \"{}\"", w.text),
                ));
            }
            LandlockStatement::Scope(scope)
        }
        _ => {
            if sub_text != Some("required") {
                return Err(err(
                    sub_span,
                    "expected `required` after `landlock`".to_string(),
                ));
            }
            if let Some(w) = rest.first() {
                return Err(err(
                    span_of(w),
                    format!("expected end of statement, found \"{}\"", w.text),
                ));
            }
            LandlockStatement::Required
        }
    };
    Ok(Some(Line {
        statement,
        span: span_of(head),
        reason,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Option<LandlockStatement>, String> {
        line(t, 1, 0, "p")
            .map(|o| o.map(|l| l.statement))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn parses_every_statement() {
        assert_eq!(
            parse("fs read /usr /etc/ssl  # libraries").unwrap(),
            Some(LandlockStatement::Fs(
                FsAccess::Read,
                vec!["/usr".into(), "/etc/ssl".into()]
            ))
        );
        assert_eq!(
            parse("fs write \"/srv/my data\"").unwrap(),
            Some(LandlockStatement::Fs(
                FsAccess::Write,
                vec!["/srv/my data".into()]
            ))
        );
        assert_eq!(
            parse("fs exec").unwrap(),
            Some(LandlockStatement::Fs(FsAccess::Exec, vec![]))
        );
        assert_eq!(
            parse("net connect 443 80").unwrap(),
            Some(LandlockStatement::Net(NetAccess::Connect, vec![443, 80]))
        );
        assert_eq!(
            parse("  scope abstract-unix").unwrap(),
            Some(LandlockStatement::Scope(Scope::AbstractUnix))
        );
        assert_eq!(
            parse("landlock required").unwrap(),
            Some(LandlockStatement::Required)
        );
        assert_eq!(parse("allow read").unwrap(), None);
        assert_eq!(parse("fsync_is_not_a_keyword").unwrap(), None);
    }

    #[test]
    fn errors_point_at_the_word() {
        assert_eq!(
            parse("fs read usr").unwrap_err(),
            "p:1:9: landlock paths are absolute: \"usr\" does not start with `/`"
        );
        assert_eq!(
            parse("net bind 70000").unwrap_err(),
            "p:1:10: \"70000\" is not a TCP port (0 to 65535)"
        );
        assert_eq!(
            parse("fs rd /").unwrap_err(),
            "p:1:4: expected read, write or exec after `fs`, found \"rd\""
        );
        assert_eq!(
            parse("scope").unwrap_err(),
            "p:1:6: expected signals or abstract-unix after `scope`, found end of line"
        );
        assert!(parse("fs read \"/a").unwrap_err().starts_with("p:1:9: "));
    }

    #[test]
    fn policies_collect_landlock_statements_and_print_them_back() {
        let text = "default allow\nfs read /usr /etc  # libraries\nnet connect 443\nscope signals\nlandlock required\ndeny bpf\n";
        let p = crate::Policy::parse(text, "p.moat").unwrap();
        let l = p.landlock();
        assert_eq!(l.fs.len(), 1);
        assert_eq!(l.fs[0].location.to_string(), "p.moat:2");
        assert_eq!(l.net[0].ports, vec![443]);
        assert!(l.required.is_some());
        assert!(l.restricts_fs(FsAccess::Read) && !l.restricts_fs(FsAccess::Write));
        assert_eq!(p.rules().len(), 1);
        let printed = p.to_string();
        assert_eq!(printed, text);
        assert_eq!(crate::Policy::parse(&printed, "again").unwrap(), p);
        let d = l.describe();
        assert_eq!(d.len(), 4, "{d:?}");
        assert!(d[1].starts_with(
            "fs read: read files and list directories only beneath /usr /etc (p.moat:2)"
        ));
        // Statements in a used file count too.
        let q = crate::Policy::parse("use container\nfs exec /usr\n", "q").unwrap();
        assert!(q.landlock().restricts_fs(FsAccess::Exec));
        assert!(
            crate::Policy::builtin("container")
                .unwrap()
                .unwrap()
                .landlock()
                .is_empty()
        );
    }

    proptest::proptest! {
        #[test]
        fn landlock_lines_never_panic(
            head in proptest::sample::select(vec!["fs", "net", "scope", "landlock", "fs read", "net connect", "fs write \""]),
            rest in ".{0,40}",
        ) {
            let text = format!("{head} {rest}");
            if let Ok(Some(l)) = line(&text, 1, 0, "p") {
                // Whatever parses prints back to itself.
                let again = line(&l.statement.to_string(), 1, 0, "p").unwrap().unwrap();
                proptest::prop_assert_eq!(again.statement, l.statement);
            }
        }
    }

    #[test]
    fn display_round_trips() {
        for t in [
            "fs read /usr /etc",
            "fs write \"/srv/my data\"",
            "net bind 8080",
            "scope signals",
            "landlock required",
        ] {
            let s = parse(t).unwrap().unwrap();
            assert_eq!(s.to_string(), t);
            assert_eq!(parse(&s.to_string()).unwrap().unwrap(), s);
        }
    }
}
