//! minijail `.policy` files (ChromeOS, crosvm) → moat text, as minijail's policy compiler
//! (`tools/compile_seccomp_policy.py`, `tools/parser.py`) reads them:
//!
//! ```text
//! statement  = [ "{" ] syscall { "," syscall } [ "}" ] ":" filter
//!            | "@include" PATH | "@frequency" PATH | "@default" ACTION | "@denylist"
//! filter     = single | "{" single { "," single } "}"
//! single     = action | expr [ ";" action ]
//! expr       = clause { "||" clause } ;  clause = atom { "&&" atom }
//! atom       = "arg" N OP value ;  OP = == != < <= > >= & in
//! value      = constant { "|" constant } ;  constant = [ "~" ] ( NUMBER | NAME | "(" value ")" )
//! action     = allow | 1 | kill | kill-process | kill-thread | trap | trace | log | user-notify
//!            | return ERRNO
//! ```
//!
//! A syscall's filters (from every statement naming it, in order) are tried one after another;
//! the first whose expression holds decides, and the default (`kill`, or `@default`) follows the
//! last. `@denylist` makes the default `allow` and requires `return` actions. `arg & M` holds when
//! any bit of M is set; `arg in M` when the argument has no bit outside M. `@frequency` files
//! only tune the compiled program's layout; moat checks they exist and ignores them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use moat_policy::Policy;
use moat_syscalls as sc;

use crate::error::Error;
use crate::import::Options;
use crate::names::{Rule, Writer};
use crate::{Extras, InputFormat, Loaded};

/// True when `text` looks like a minijail policy: every statement line is `name: ...`,
/// `{a, b}: ...` or an `@` directive, and at least one is.
pub fn sniff(text: &str) -> bool {
    let mut any = false;
    for l in text.lines() {
        let l = l.split('#').next().unwrap_or("").trim();
        if l.is_empty() || l.ends_with('\\') {
            continue;
        }
        let head = l.split(':').next().unwrap_or("");
        let stmt = l.contains(':')
            && (head.trim().starts_with('{')
                || head
                    .trim()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@' || c == '-'));
        let directive = ["@include", "@frequency", "@default", "@denylist"]
            .iter()
            .any(|d| l.starts_with(d));
        if !(stmt || directive) {
            return false;
        }
        any = true;
    }
    any
}

#[derive(Clone, Debug)]
struct Tok {
    text: String,
    line: usize,
    col: usize,
}

struct Filter {
    cond: Option<String>,
    action: String,
}

/// A syscall's filters in order, and where its first unconditional one was (file, line).
type Filters = (Vec<Filter>, Option<(String, usize)>);

struct Parser<'a> {
    opts: &'a Options,
    default: String,
    denylist: bool,
    /// Per syscall: its filters in order, and where the first unconditional one was.
    filters: BTreeMap<&'static str, Filters>,
    depth: usize,
    warnings: Vec<String>,
}

fn err(origin: &str, line: usize, col: usize, message: impl Into<String>) -> Error {
    Error::Syntax {
        origin: origin.to_string(),
        line,
        col,
        message: message.into(),
    }
}

/// Splits a logical line into tokens (minijail's token classes, simplified: punctuation,
/// operators and words).
fn tokenize(origin: &str, line: &str, lno: usize) -> Result<Vec<Tok>, Error> {
    let mut out = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'#' {
            break;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let two = line.get(i..i + 2).unwrap_or("");
        if ["||", "&&", "==", "!=", "<=", ">="].contains(&two) {
            i += 2;
        } else if b":;,~(){}[]|&<>=".contains(&c) {
            i += 1;
        } else if c.is_ascii_alphanumeric() || b"_@-./".contains(&c) {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b"_@-./".contains(&b[i])) {
                i += 1;
            }
        } else {
            return Err(err(
                origin,
                lno,
                start + 1,
                format!(
                    "invalid token {:?}",
                    line[start..].chars().next().unwrap_or(' ')
                ),
            ));
        }
        out.push(Tok {
            text: line[start..i].to_string(),
            line: lno,
            col: start + 1,
        });
    }
    Ok(out)
}

struct Cursor<'t> {
    toks: &'t [Tok],
    pos: usize,
    origin: &'t str,
    eol: (usize, usize),
}

impl Cursor<'_> {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.pos).map(|t| t.text.as_str())
    }
    fn next(&mut self, what: &str) -> Result<Tok, Error> {
        match self.toks.get(self.pos) {
            Some(t) => {
                self.pos += 1;
                Ok(t.clone())
            }
            None => Err(err(
                self.origin,
                self.eol.0,
                self.eol.1,
                format!("missing {what}"),
            )),
        }
    }
    fn fail(&self, t: &Tok, message: impl Into<String>) -> Error {
        err(self.origin, t.line, t.col, message)
    }
    fn expect(&mut self, s: &str) -> Result<(), Error> {
        let t = self.next(&format!("\"{s}\""))?;
        if t.text == s {
            Ok(())
        } else {
            Err(self.fail(&t, format!("expected \"{s}\", found \"{}\"", t.text)))
        }
    }
}

fn number(s: &str) -> Option<u64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()?
    } else if s.len() > 1 && s.starts_with('0') {
        u64::from_str_radix(&s[1..], 8).ok()?
    } else {
        s.parse().ok()?
    };
    Some(if neg { v.wrapping_neg() } else { v })
}

impl Parser<'_> {
    fn constant(&self, c: &mut Cursor<'_>) -> Result<u64, Error> {
        let t = c.next("constant")?;
        if t.text == "~" {
            if c.peek() == Some("~") {
                let d = c.next("constant")?;
                return Err(c.fail(&d, "invalid double complement"));
            }
            return Ok(!self.constant(c)?);
        }
        if t.text == "(" {
            let v = self.value(c)?;
            c.expect(")")?;
            return Ok(v);
        }
        if t.text
            .starts_with(|ch: char| ch.is_ascii_digit() || ch == '-')
        {
            return number(&t.text)
                .ok_or_else(|| c.fail(&t, format!("invalid constant \"{}\"", t.text)));
        }
        sc::constant(&t.text).ok_or_else(|| c.fail(&t, format!("unknown constant \"{}\"", t.text)))
    }

    fn value(&self, c: &mut Cursor<'_>) -> Result<u64, Error> {
        let mut v = self.constant(c)?;
        while c.peek() == Some("|") {
            c.pos += 1;
            v |= self.constant(c)?;
        }
        Ok(v)
    }

    fn atom(&self, c: &mut Cursor<'_>) -> Result<String, Error> {
        let a = c.next("argument")?;
        let idx = a
            .text
            .strip_prefix("arg")
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| *n < 6)
            .ok_or_else(|| {
                c.fail(
                    &a,
                    format!("invalid argument \"{}\" (arg0 to arg5)", a.text),
                )
            })?;
        let op = c.next("operator")?;
        let v = self.value(c)?;
        Ok(match op.text.as_str() {
            "==" | "!=" | "<" | "<=" | ">" | ">=" => format!("arg{idx} {} {v:#x}", op.text),
            "&" => format!("arg{idx} & {v:#x}"),
            // No bit outside the mask.
            "in" => format!("arg{idx} & {:#x} == 0", !v),
            other => return Err(c.fail(&op, format!("invalid operator \"{other}\""))),
        })
    }

    fn expr(&self, c: &mut Cursor<'_>) -> Result<String, Error> {
        let mut clauses = Vec::new();
        loop {
            let mut atoms = vec![self.atom(c)?];
            while c.peek() == Some("&&") {
                c.pos += 1;
                atoms.push(self.atom(c)?);
            }
            clauses.push(format!("({})", atoms.join(" and ")));
            if c.peek() != Some("||") {
                break;
            }
            c.pos += 1;
        }
        Ok(clauses.join(" or "))
    }

    fn action(&self, c: &mut Cursor<'_>, default_stmt: bool) -> Result<String, Error> {
        let t = c.next("action")?;
        if self.denylist && !default_stmt && t.text != "return" {
            return Err(c.fail(&t, "a @denylist policy needs `return ERRNO` actions"));
        }
        Ok(match t.text.as_str() {
            "allow" | "1" if !default_stmt => "allow".into(),
            "kill" | "kill-process" => "kill".into(),
            "kill-thread" => "kill-thread".into(),
            "trap" => "trap".into(),
            "user-notify" => "notify".into(),
            "trace" if !default_stmt => "trace".into(),
            "log" if !default_stmt => "log".into(),
            "return" if !default_stmt => {
                let e = c.next("return value")?;
                let v = if let Some(v) = number(&e.text) {
                    v
                } else {
                    sc::errno(&e.text)
                        .map(u64::from)
                        .ok_or_else(|| c.fail(&e, format!("unknown errno \"{}\"", e.text)))?
                };
                if v > 4095 {
                    return Err(c.fail(&e, format!("errno {v} is above 4095")));
                }
                format!("errno {v}")
            }
            other => {
                return Err(c.fail(
                    &t,
                    format!(
                        "invalid {}action \"{other}\"",
                        if default_stmt { "default " } else { "" }
                    ),
                ));
            }
        })
    }

    fn single(&self, c: &mut Cursor<'_>) -> Result<Filter, Error> {
        if c.peek().is_some_and(|s| s.starts_with("arg")) {
            let cond = self.expr(c)?;
            let action = if c.peek() == Some(";") {
                c.pos += 1;
                self.action(c, false)?
            } else {
                "allow".into()
            };
            Ok(Filter {
                cond: Some(cond),
                action,
            })
        } else {
            Ok(Filter {
                cond: None,
                action: self.action(c, false)?,
            })
        }
    }

    fn syscall(&mut self, c: &mut Cursor<'_>) -> Result<Option<&'static str>, Error> {
        let t = c.next("syscall name")?;
        if t.text.contains('@') {
            return Err(c.fail(
                &t,
                format!("syscall groups (\"{}\") are not supported", t.text),
            ));
        }
        if c.peek() == Some("[") {
            return Err(c.fail(&t, "syscall metadata ([arch=...]) is not supported"));
        }
        if let Some(&n) = sc::names().iter().find(|n| **n == t.text) {
            return Ok(Some(n));
        }
        if self.opts.allow_unknown_names {
            self.warnings.push(format!(
                "{}:{}: unknown syscall \"{}\" skipped",
                c.origin, t.line, t.text
            ));
            return Ok(None);
        }
        Err(c.fail(
            &t,
            format!(
                "nonexistent syscall \"{}\"{}",
                t.text,
                sc::suggest(&t.text).map_or(String::new(), |s| format!(" (did you mean \"{s}\"?)"))
            ),
        ))
    }

    fn file(&mut self, text: &str, origin: &str) -> Result<(), Error> {
        let mut logical: Vec<(usize, String)> = Vec::new();
        let mut pending: Option<(usize, String)> = None;
        for (i, raw) in text.lines().enumerate() {
            let (body, cont) = match raw.trim_end().strip_suffix('\\') {
                Some(b) => (b.to_string(), true),
                None => (raw.to_string(), false),
            };
            let p = pending.get_or_insert((i + 1, String::new()));
            p.1.push_str(&body);
            p.1.push(' ');
            if !cont {
                logical.extend(pending.take());
            }
        }
        logical.extend(pending);
        for (lno, line) in logical {
            let toks = tokenize(origin, &line, lno)?;
            if toks.is_empty() {
                continue;
            }
            let mut c = Cursor {
                toks: &toks,
                pos: 0,
                origin,
                eol: (lno, line.trim_end().len() + 1),
            };
            match toks[0].text.as_str() {
                "@include" | "@frequency" => {
                    c.pos = 1;
                    let p = c.next("path")?;
                    if !(p.text.starts_with('/') || p.text.starts_with("./")) {
                        return Err(c.fail(
                            &p,
                            format!("invalid path \"{}\" (absolute or ./relative)", p.text),
                        ));
                    }
                    let path = resolve(origin, &p.text);
                    let Ok(body) = std::fs::read_to_string(&path) else {
                        return Err(c.fail(&p, format!("cannot open {}", path.display())));
                    };
                    if toks[0].text == "@include" {
                        if self.depth >= 10 {
                            return Err(c.fail(&p, "@include nested too deep"));
                        }
                        self.depth += 1;
                        self.file(&body, &path.display().to_string())?;
                        self.depth -= 1;
                    }
                }
                "@default" => {
                    c.pos = 1;
                    self.default = self.action(&mut c, true)?;
                }
                "@denylist" => {
                    c.pos = 1;
                    if self.depth > 0 || !self.filters.is_empty() {
                        return Err(c.fail(&toks[0], "@denylist must come before every statement"));
                    }
                    self.denylist = true;
                    self.default = "allow".into();
                }
                _ => {
                    let mut names = Vec::new();
                    if c.peek() == Some("{") {
                        c.pos += 1;
                        loop {
                            names.extend(self.syscall(&mut c)?);
                            if c.peek() != Some(",") {
                                break;
                            }
                            c.pos += 1;
                        }
                        c.expect("}")?;
                    } else {
                        names.extend(self.syscall(&mut c)?);
                    }
                    let colon = c.next("\":\"")?;
                    if colon.text != ":" {
                        return Err(
                            c.fail(&colon, format!("expected \":\", found \"{}\"", colon.text))
                        );
                    }
                    let mut filters = Vec::new();
                    if c.peek() == Some("{") {
                        c.pos += 1;
                        loop {
                            filters.push(self.single(&mut c)?);
                            if c.peek() != Some(",") {
                                break;
                            }
                            c.pos += 1;
                        }
                        c.expect("}")?;
                    } else {
                        filters.push(self.single(&mut c)?);
                    }
                    for n in names {
                        let entry = self.filters.entry(n).or_default();
                        if let Some((o, l)) = &entry.1 {
                            return Err(err(
                                origin,
                                colon.line,
                                colon.col,
                                format!(
                                    "{n} already had an unconditional action applied at {o}:{l}"
                                ),
                            ));
                        }
                        for f in &filters {
                            entry.0.push(Filter {
                                cond: f.cond.clone(),
                                action: f.action.clone(),
                            });
                            if f.cond.is_none() && entry.1.is_none() {
                                entry.1 = Some((origin.to_string(), colon.line));
                            }
                        }
                    }
                }
            }
            if let Some(t) = toks.get(c.pos) {
                return Err(c.fail(t, format!("extra token \"{}\"", t.text)));
            }
        }
        Ok(())
    }
}

fn resolve(origin: &str, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    Path::new(origin)
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(p)
}

/// Reads a minijail policy file.
pub fn import(text: &str, origin: &str, opts: &Options) -> Result<Loaded, Error> {
    let mut p = Parser {
        opts,
        default: "kill".into(),
        denylist: false,
        filters: BTreeMap::new(),
        depth: 0,
        warnings: Vec::new(),
    };
    p.file(text, origin)?;
    if p.filters.is_empty() {
        return Err(err(
            origin,
            1,
            1,
            "a minijail policy with no syscall statement",
        ));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# {origin}: a minijail policy as minijail's compiler reads it"
    );
    let _ = writeln!(out, "default {}", p.default);
    let _ = writeln!(out, "unknown {}", p.default);
    let _ = writeln!(out, "arch native");
    // moat's last matching rule wins; minijail's first matching filter does: per syscall the
    // default comes first, then the filters in reverse order.
    let mut rules = Vec::new();
    for (name, (filters, _)) in &p.filters {
        let has_final = filters.iter().any(|f| f.cond.is_none());
        if !has_final {
            rules.push(Rule {
                action: p.default.clone(),
                name: (*name).to_string(),
                cond: None,
                reason: Some("no filter matched: the default".into()),
            });
        }
        let live = filters
            .iter()
            .position(|f| f.cond.is_none())
            .map_or(filters.len(), |i| i + 1);
        for f in filters[..live].iter().rev() {
            rules.push(Rule {
                action: f.action.clone(),
                name: (*name).to_string(),
                cond: f.cond.clone(),
                reason: None,
            });
        }
    }
    Writer {
        fallback: &p.default,
    }
    .write(&mut out, &rules);
    let policy = Policy::parse(&out, origin)?;
    Ok(Loaded {
        policy,
        format: InputFormat::Minijail,
        text: out,
        warnings: p.warnings,
        extras: Extras::default(),
    })
}
