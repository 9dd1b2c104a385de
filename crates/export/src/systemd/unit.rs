//! systemd unit files → moat text: what systemd makes of `SystemCallFilter=`,
//! `SystemCallErrorNumber=`, `SystemCallArchitectures=` and `SystemCallLog=` (systemd.exec(5)),
//! with the groups of the systemd version in [`super::groups::version`].
//!
//! The semantics follow systemd's own code (src/core/load-fragment.c, src/core/execute.c,
//! src/shared/seccomp-util.c):
//! - the first `SystemCallFilter=` decides the mode: without `~` an allow-list, which starts out
//!   holding `@default`; with `~` a deny-list. Later lines of the same polarity add names, lines of
//!   the other polarity remove them; an empty assignment resets the list and the mode.
//! - `~name:ERRNO` (or `:kill`) gives one name its own refusal, in both modes; an allow-list item
//!   with `:ERRNO` is ignored (systemd warns and skips it).
//! - refused calls get `SystemCallErrorNumber=` (default: the process is killed); numbers systemd
//!   does not know get the allow-list's refusal or, for a deny-list, run.
//! - `SystemCallLog=` is a second filter: listed calls (or, with `~`, every call not listed) are
//!   logged when they run.
//! - `SystemCallArchitectures=` keeps the native ABI and the listed ones of the host's ABIs
//!   (x86-64, x86, x32 on an x86-64 host); calls from other ABIs kill the thread (libseccomp's
//!   default bad-architecture action). Without it the filters apply to all of the host's ABIs.
//!
//! Other settings that also install seccomp filters (`RestrictAddressFamilies=`,
//! `RestrictNamespaces=`, `MemoryDenyWriteExecute=`, ...) are not imported; a warning names each.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use moat_policy::{Action, Policy};
use moat_syscalls::{self as sc, Arch};

use super::groups;
use crate::error::Error;
use crate::import::Options;
use crate::names::{Rule, Writer};
use crate::{Extras, InputFormat, Loaded};

/// Settings that make systemd install seccomp filters of their own; not imported.
const OTHER_FILTERS: &[&str] = &[
    "RestrictAddressFamilies",
    "RestrictNamespaces",
    "MemoryDenyWriteExecute",
    "RestrictRealtime",
    "RestrictSUIDSGID",
    "LockPersonality",
    "ProtectKernelModules",
    "ProtectKernelTunables",
    "ProtectKernelLogs",
    "ProtectClock",
    "ProtectHostname",
    "PrivateDevices",
    "NoNewPrivileges",
];

/// Sections whose `SystemCall*=` settings systemd reads (the ones with an exec context).
const SECTIONS: &[&str] = &["Service", "Socket", "Mount", "Swap"];

/// systemd's `SystemCallArchitectures=` names (seccomp_arch_from_string), with moat's ABI.
const ARCHES: &[(&str, Option<Arch>)] = &[
    ("native", None),
    ("x86", Some(Arch::X86)),
    ("x86-64", Some(Arch::X86_64)),
    ("x32", Some(Arch::X32)),
    ("arm", Some(Arch::Arm)),
    ("arm64", Some(Arch::Aarch64)),
    ("mips", None),
    ("mips64", None),
    ("mips64-n32", None),
    ("mips-le", None),
    ("mips64-le", None),
    ("mips64-le-n32", None),
    ("parisc", None),
    ("parisc64", None),
    ("ppc", None),
    ("ppc64", None),
    ("ppc64-le", Some(Arch::Ppc64le)),
    ("riscv64", Some(Arch::Riscv64)),
    ("s390", None),
    ("s390x", Some(Arch::S390x)),
];

/// True when `text` looks like a systemd unit: a `[Service]`-style section header or a
/// `SystemCall*=` line.
pub fn sniff(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        l.starts_with("SystemCallFilter=")
            || l.starts_with("SystemCallArchitectures=")
            || (l.starts_with('[')
                && l.ends_with(']')
                && ["Unit", "Service", "Socket", "Mount", "Swap", "Install"]
                    .contains(&&l[1..l.len() - 1]))
    })
}

/// True when the first line that is no comment is a unit section header (`[Service]`), which
/// tells a unit from a JSON array.
pub fn sniff_header(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .and_then(|l| l.strip_prefix('['))
        .is_some_and(|rest| {
            rest.starts_with(|c: char| c.is_ascii_alphabetic())
                && !["true", "false", "null"]
                    .iter()
                    .any(|k| rest.starts_with(k))
        })
}

/// A refusal: systemd's `SECCOMP_ERROR_NUMBER_KILL` or an errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `kill`: the process is killed.
    Kill,
    /// An errno (0-4095).
    Errno(u16),
}

/// What systemd keeps of a unit's `SystemCall*=` settings after reading every line (its
/// `ExecContext`): the input of the filters it installs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `SystemCallFilter=`: the listed names, each with its own refusal if it has one; `None`
    /// when no filter is set.
    pub filter: Option<BTreeMap<&'static str, Option<Refusal>>>,
    /// True when the filter is an allow-list.
    pub allow_list: bool,
    /// `SystemCallLog=`: the listed names; `None` when unset.
    pub log: Option<BTreeSet<&'static str>>,
    /// True when the log list names the calls to log (no `~`).
    pub log_allow_list: bool,
    /// `SystemCallErrorNumber=` (default: kill).
    pub error_number: Refusal,
    /// `SystemCallArchitectures=` (`None` in the set: `native`); `None` when unset.
    pub architectures: Option<BTreeSet<Option<Arch>>>,
}

impl Refusal {
    /// The moat action.
    pub fn action(self) -> Action {
        match self {
            Refusal::Kill => Action::KillProcess,
            Refusal::Errno(e) => Action::Errno(e),
        }
    }
}

/// Where an entry came from, for the rule's reason.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Origin {
    line: usize,
    item: String,
}

/// One logical line (continuations joined) with the position of each byte's source.
struct Logical {
    text: String,
    /// (offset in `text`, physical line, column of that offset).
    marks: Vec<(usize, usize, usize)>,
}

impl Logical {
    fn pos(&self, off: usize) -> (usize, usize) {
        let mut best = (1, 1);
        for &(o, line, col) in &self.marks {
            if o <= off {
                best = (line, col + (off - o));
            }
        }
        best
    }
}

struct Reader<'a> {
    origin: &'a str,
    opts: &'a Options,
    warnings: Vec<String>,
    filter: Option<BTreeMap<&'static str, (Option<Refusal>, Origin)>>,
    allow_list: bool,
    log: Option<BTreeMap<&'static str, Origin>>,
    log_allow_list: bool,
    errno: Refusal,
    errno_line: Option<usize>,
    arches: Option<BTreeSet<Option<Arch>>>,
    arch_line: usize,
}

impl Reader<'_> {
    fn err(&self, line: &Logical, off: usize, message: String) -> Error {
        let (l, c) = line.pos(off);
        Error::Syntax {
            origin: self.origin.to_string(),
            line: l,
            col: c,
            message,
        }
    }

    /// Resolves a name or group to syscall names moat knows. Names of a group that moat does not
    /// know are left out, as systemd leaves out names libseccomp cannot resolve.
    fn targets(
        &mut self,
        line: &Logical,
        off: usize,
        word: &str,
    ) -> Result<Vec<&'static str>, Error> {
        if word.starts_with('@') {
            return groups::expand(word)
                .map(|v| v.into_iter().filter(|n| sc::is_known(n)).collect())
                .ok_or_else(|| {
                    let suggestion = sc::closest(word, groups::groups().iter().map(|g| g.name));
                    self.err(
                        line,
                        off,
                        format!(
                            "systemd {} has no syscall group \"{word}\"{}",
                            groups::version(),
                            suggestion
                                .map_or(String::new(), |s| format!(" (did you mean \"{s}\"?)"))
                        ),
                    )
                });
        }
        if let Some(&n) = sc::names().iter().find(|n| **n == word) {
            return Ok(vec![n]);
        }
        if self.opts.allow_unknown_names {
            let (l, _) = line.pos(off);
            self.warnings.push(format!(
                "{}:{l}: unknown syscall \"{word}\" skipped",
                self.origin
            ));
            return Ok(Vec::new());
        }
        Err(self.err(
            line,
            off,
            format!(
                "unknown syscall \"{word}\"{} (--allow-unknown-names skips it, as systemd does)",
                sc::suggest(word).map_or(String::new(), |s| format!(" (did you mean \"{s}\"?)"))
            ),
        ))
    }

    fn refusal(&self, line: &Logical, off: usize, text: &str) -> Result<Refusal, Error> {
        if text == "kill" {
            return Ok(Refusal::Kill);
        }
        // systemd's parse_errno: a name, or a number up to ERRNO_MAX (4095).
        if let Some(e) = sc::errno(text) {
            return Ok(Refusal::Errno(e));
        }
        match text.parse::<u16>() {
            Ok(e) if e <= 4095 => Ok(Refusal::Errno(e)),
            _ => Err(self.err(
                line,
                off,
                format!("\"{text}\" is not an errno name, a number 0-4095 or \"kill\""),
            )),
        }
    }

    fn filter_line(&mut self, line: &Logical, voff: usize, value: &str) -> Result<(), Error> {
        let l = line.pos(voff).0;
        if value.is_empty() {
            self.filter = None;
            self.allow_list = false;
            return Ok(());
        }
        let (invert, list, base) = match value.strip_prefix('~') {
            Some(rest) => (true, rest, voff + 1),
            None => (false, value, voff),
        };
        if self.filter.is_none() {
            let mut map = BTreeMap::new();
            self.allow_list = !invert;
            if !invert {
                let origin = Origin {
                    line: l,
                    item: "@default (an allow-list always holds it)".into(),
                };
                for n in groups::expand("@default").unwrap_or_default() {
                    if let Some(&n) = sc::names().iter().find(|m| **m == n) {
                        map.insert(n, (None, origin.clone()));
                    }
                }
            }
            self.filter = Some(map);
        }
        for (woff, word) in words(list) {
            let off = base + woff;
            let (name, errno) = match word.split_once(':') {
                Some((n, e)) => (n, Some(self.refusal(line, off + n.len() + 1, e)?)),
                None => (word, None),
            };
            if name.is_empty() {
                return Err(self.err(line, off, format!("\"{word}\" has no syscall name")));
            }
            if !invert && errno.is_some() {
                self.warnings.push(format!(
                    "{}:{l}: {word}: allow-listed system calls cannot take an error number; systemd ignores the item",
                    self.origin
                ));
                continue;
            }
            let targets = self.targets(line, off, name)?;
            let allow_list = self.allow_list;
            let origin = Origin {
                line: l,
                item: format!("{}{word}", if invert { "~" } else { "" }),
            };
            let Some(map) = self.filter.as_mut() else {
                continue;
            };
            for n in targets {
                // seccomp_parse_syscall_filter: an entry is kept when the item's polarity is the
                // list's, or when an allow-list gets `~name:ERRNO`; otherwise it is removed.
                if invert != allow_list || (invert && allow_list && errno.is_some()) {
                    map.insert(n, (errno, origin.clone()));
                } else {
                    map.remove(n);
                }
            }
        }
        Ok(())
    }

    fn log_line(&mut self, line: &Logical, voff: usize, value: &str) -> Result<(), Error> {
        let l = line.pos(voff).0;
        if value.is_empty() {
            self.log = None;
            self.log_allow_list = false;
            return Ok(());
        }
        let (invert, list, base) = match value.strip_prefix('~') {
            Some(rest) => (true, rest, voff + 1),
            None => (false, value, voff),
        };
        if self.log.is_none() {
            self.log = Some(BTreeMap::new());
            self.log_allow_list = !invert;
        }
        for (woff, word) in words(list) {
            let targets = self.targets(line, base + woff, word)?;
            let allow_list = self.log_allow_list;
            let origin = Origin {
                line: l,
                item: word.to_string(),
            };
            let Some(map) = self.log.as_mut() else {
                continue;
            };
            for n in targets {
                if invert != allow_list {
                    map.insert(n, origin.clone());
                } else {
                    map.remove(n);
                }
            }
        }
        Ok(())
    }

    fn arch_line(&mut self, line: &Logical, voff: usize, value: &str) -> Result<(), Error> {
        if value.is_empty() {
            self.arches = None;
            return Ok(());
        }
        self.arch_line = line.pos(voff).0;
        let set = self.arches.get_or_insert_with(BTreeSet::new);
        for (woff, word) in words(value) {
            let word = word.trim_matches('"');
            let Some((_, a)) = ARCHES.iter().find(|(n, _)| *n == word) else {
                let s = sc::closest(word, ARCHES.iter().map(|(n, _)| *n));
                let (l, c) = line.pos(voff + woff);
                return Err(Error::Syntax {
                    origin: self.origin.to_string(),
                    line: l,
                    col: c,
                    message: format!(
                        "unknown system call architecture \"{word}\"{}",
                        s.map_or(String::new(), |s| format!(" (did you mean \"{s}\"?)"))
                    ),
                });
            };
            set.insert(*a);
        }
        Ok(())
    }
}

/// The words of a value with their byte offsets (systemd splits on whitespace).
fn words(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            if let Some(st) = start.take() {
                out.push((st, &s[st..i]));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(st) = start {
        out.push((st, &s[st..]));
    }
    out
}

/// Joins continuation lines (a trailing `\`) and drops comments, keeping positions.
fn logical_lines(text: &str) -> Vec<Logical> {
    let mut out = Vec::new();
    let mut cur: Option<Logical> = None;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        let indent = raw.len() - trimmed.len();
        if cur.is_some() && (trimmed.starts_with('#') || trimmed.starts_with(';')) {
            // systemd skips comment lines inside a continuation.
            continue;
        }
        let (body, cont) = match trimmed.trim_end().strip_suffix('\\') {
            Some(b) => (b, true),
            None => (trimmed.trim_end(), false),
        };
        let l = cur.get_or_insert_with(|| Logical {
            text: String::new(),
            marks: Vec::new(),
        });
        if !l.text.is_empty() {
            l.text.push(' ');
        }
        l.marks.push((l.text.len(), i + 1, indent + 1));
        l.text.push_str(body);
        if !cont {
            out.extend(cur.take());
        }
    }
    out.extend(cur);
    out
}

/// Reads a unit file (or drop-in) as systemd would apply its syscall settings.
pub fn import(text: &str, origin: &str, opts: &Options) -> Result<Loaded, Error> {
    let r = read(text, origin, opts)?;
    let text = policy_text(&r, origin);
    let policy = Policy::parse(&text, origin)?;
    Ok(Loaded {
        policy,
        format: InputFormat::Systemd,
        text,
        warnings: r.warnings,
        extras: Extras::default(),
    })
}

/// The settings systemd keeps of a unit (what [`import`] translates).
pub fn settings(text: &str, origin: &str, opts: &Options) -> Result<Settings, Error> {
    let r = read(text, origin, opts)?;
    Ok(Settings {
        filter: r
            .filter
            .as_ref()
            .map(|m| m.iter().map(|(k, (e, _))| (*k, *e)).collect()),
        allow_list: r.allow_list,
        log: r.log.as_ref().map(|m| m.keys().copied().collect()),
        log_allow_list: r.log_allow_list,
        error_number: r.errno,
        architectures: r.arches.clone(),
    })
}

fn read<'a>(text: &str, origin: &'a str, opts: &'a Options) -> Result<Reader<'a>, Error> {
    let mut r = Reader {
        origin,
        opts,
        warnings: Vec::new(),
        filter: None,
        allow_list: false,
        log: None,
        log_allow_list: false,
        errno: Refusal::Kill,
        errno_line: None,
        arches: None,
        arch_line: 0,
    };
    let mut section = String::new();
    let mut others: BTreeSet<&str> = BTreeSet::new();
    let mut seen_setting = false;
    for line in logical_lines(text) {
        let t = line.text.as_str();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if t.starts_with('[') {
            if !t.ends_with(']') || t.len() < 3 {
                return Err(r.err(&line, 0, format!("malformed section header {t:?}")));
            }
            section = t[1..t.len() - 1].to_string();
            continue;
        }
        let Some((key, value)) = t.split_once('=') else {
            return Err(r.err(
                &line,
                0,
                format!("expected KEY=VALUE or a [Section] header, found {t:?}"),
            ));
        };
        let key = key.trim_end();
        let vstart = t.len() - value.trim_start().len();
        let value = value.trim();
        let relevant = SECTIONS.contains(&section.as_str());
        let is_syscall_key = matches!(
            key,
            "SystemCallFilter"
                | "SystemCallErrorNumber"
                | "SystemCallArchitectures"
                | "SystemCallLog"
        );
        if is_syscall_key && !relevant {
            return Err(r.err(
                &line,
                0,
                format!(
                    "{key}= belongs in [Service] (or [Socket], [Mount], [Swap]), not {}",
                    if section.is_empty() {
                        "before any section".to_string()
                    } else {
                        format!("[{section}]")
                    }
                ),
            ));
        }
        match key {
            "SystemCallFilter" => r.filter_line(&line, vstart, value)?,
            "SystemCallLog" => r.log_line(&line, vstart, value)?,
            "SystemCallArchitectures" => r.arch_line(&line, vstart, value)?,
            "SystemCallErrorNumber" => {
                if value.is_empty() {
                    r.errno = Refusal::Kill;
                } else {
                    match r.refusal(&line, vstart, value)? {
                        Refusal::Errno(0) => {
                            return Err(r.err(
                                &line,
                                vstart,
                                "SystemCallErrorNumber=0 is not valid (systemd ignores it)".into(),
                            ));
                        }
                        e => r.errno = e,
                    }
                }
                r.errno_line = Some(line.pos(vstart).0);
            }
            k if relevant => {
                if let Some(o) = OTHER_FILTERS.iter().find(|o| **o == k) {
                    others.insert(o);
                }
            }
            _ => {}
        }
        seen_setting |= is_syscall_key;
    }
    if !seen_setting && section.is_empty() {
        return Err(Error::Syntax {
            origin: origin.to_string(),
            line: 1,
            col: 1,
            message: "not a systemd unit: no [Section] and no SystemCall*= setting".into(),
        });
    }
    if !others.is_empty() {
        let list: Vec<String> = others.iter().map(|o| format!("{o}=")).collect();
        r.warnings.push(format!(
            "{origin}: {} also install seccomp filters of their own; moat imports only SystemCall*=",
            list.join(" ")
        ));
    }
    Ok(r)
}

/// The host's ABIs systemd installs filters for (`seccomp_local_archs`).
pub fn local_arches(host: Arch) -> Vec<Arch> {
    match host {
        Arch::X86_64 | Arch::X86 | Arch::X32 => vec![Arch::X86_64, Arch::X86, Arch::X32],
        Arch::Aarch64 | Arch::Arm => vec![Arch::Aarch64, Arch::Arm],
        other => vec![other],
    }
}

#[allow(clippy::too_many_lines)]
fn policy_text(r: &Reader<'_>, origin: &str) -> String {
    let host = r.opts.host.unwrap_or_else(Arch::native);
    let local = local_arches(host);
    let (arches, badarch) = match (&r.opts.arches, &r.arches) {
        (Some(a), _) => (a.clone(), Action::KillThread),
        (None, None) => (local.clone(), Action::KillThread),
        (None, Some(set)) => {
            let mut v = vec![host];
            for a in &local {
                if *a != host && set.contains(&Some(*a)) {
                    v.push(*a);
                }
            }
            (v, Action::KillThread)
        }
    };
    let refuse = r.errno.action();
    // What a call the filter does not list gets, and what happens to a listed one.
    let filter_default = match &r.filter {
        Some(_) if r.allow_list => refuse,
        _ => Action::Allow,
    };
    let log_default = r.log.is_some() && !r.log_allow_list;
    let combine = |a: Action, logged: bool| {
        if logged && a.runs_call() {
            Action::Log
        } else {
            a
        }
    };
    let fallback = combine(filter_default, log_default);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# {origin}: a systemd unit's SystemCall*= settings as systemd {} applies them",
        groups::version()
    );
    let _ = writeln!(out, "default {fallback}");
    let _ = writeln!(out, "unknown {fallback}  # systemd filters by name");
    let _ = writeln!(
        out,
        "badarch {badarch}  # {}",
        if r.arches.is_some() {
            format!(
                "SystemCallArchitectures= line {}: other ABIs are killed",
                r.arch_line
            )
        } else {
            "every ABI of the host is filtered".into()
        }
    );
    let names: Vec<&str> = arches.iter().map(|a| a.name()).collect();
    let _ = writeln!(out, "arch {}", names.join(" "));

    let mut rules = Vec::new();
    for &name in sc::names() {
        if !arches.iter().any(|a| a.by_name(name).is_some()) {
            continue;
        }
        let (filtered, forigin) = match &r.filter {
            None => (Action::Allow, None),
            Some(map) => match (r.allow_list, map.get(name)) {
                (true, Some((None, o))) => (Action::Allow, Some(o)),
                (true | false, Some((Some(e), o))) => (e.action(), Some(o)),
                (false, Some((None, o))) => (refuse, Some(o)),
                (true, None) => (refuse, None),
                (false, None) => (Action::Allow, None),
            },
        };
        let (logged, lorigin) = match &r.log {
            None => (false, None),
            Some(map) => {
                let o = map.get(name);
                (o.is_some() == r.log_allow_list, o)
            }
        };
        let action = combine(filtered, logged);
        if action == fallback {
            continue;
        }
        let mut reason = Vec::new();
        if let Some(o) = forigin {
            reason.push(format!("SystemCallFilter= line {}: {}", o.line, o.item));
        } else if !filtered.runs_call() {
            reason.push("not in the allow-list".to_string());
        }
        if let Some(o) = lorigin
            && action == Action::Log
        {
            reason.push(format!("SystemCallLog= line {}: {}", o.line, o.item));
        }
        if filtered != Action::Allow
            && forigin.is_none_or(|_| filtered == refuse)
            && let Some(l) = r.errno_line
        {
            reason.push(format!("SystemCallErrorNumber= line {l}"));
        }
        rules.push(Rule {
            action: action.to_string(),
            name: name.to_string(),
            cond: None,
            reason: Some(reason.join("; ")),
        });
    }
    // Rules sharing a reason sit together, in the order of the lines they come from.
    rules.sort_by(|a, b| (&a.reason, &a.action).cmp(&(&b.reason, &b.action)));
    Writer {
        fallback: &fallback.to_string(),
    }
    .write(&mut out, &rules);
    out
}
