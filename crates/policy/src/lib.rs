//! moat-policy: moat's policy language.
//!
//! What it does: parses the text language (`docs/policy-language.md` is the specification) into
//! a [`Policy`] whose rules keep their source positions and `# reasons`; resolves syscall names,
//! `@groups`, named parameters and constants per ABI, with one-line `file:line:col` errors; prints
//! a policy back in canonical form ([`Policy`]'s `Display`); ships the built-in profiles
//! ([`builtins`]); and defines what a policy means with the reference evaluator
//! ([`Policy::evaluate`]) and its lowering for compilers ([`Policy::lower`]).
//!
//! What it does not do: it generates no BPF (that is `moat-compile`), installs nothing, and reads
//! no other formats (Docker JSON and friends are `moat-export`).
//!
//! ```
//! use moat_policy::{Action, Context, Decider, Policy};
//! use moat_syscalls::Arch;
//!
//! let policy = Policy::parse("use container\nallow bpf  # this workload loads eBPF\n", "app.moat")?;
//! let ctx = Context::default();
//! let unshare = Arch::X86_64.by_name("unshare").map(|s| s.nr).unwrap_or_default();
//! let v = policy.evaluate(&ctx, Arch::X86_64.audit_arch(), unshare, [0x1000_0000, 0, 0, 0, 0, 0]);
//! assert_eq!(v.action, Action::Errno(1));
//! assert!(matches!(v.decided_by, Decider::Rule { .. }));
//! assert_eq!(policy.describe(&v).split(':').next(), Some("deny (errno EPERM) by container"));
//!
//! // The same meaning, lowered for a compiler: per ABI and number, the ordered rules.
//! let lowered = policy.lower(&ctx)?;
//! assert_eq!(lowered.action(Arch::X86_64.audit_arch(), unshare, &[0x1000_0000, 0, 0, 0, 0, 0]), v.action);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod action;
mod builtin;
mod compose;
mod error;
mod eval;
mod explain;
pub mod landlock;
mod lex;
mod lower;
pub mod model;
mod parse;
mod print;
mod resolve;
mod span;
#[cfg(feature = "testing")]
pub mod testing;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use moat_syscalls::{Arch, KernelVersion};

pub use action::{Action, ActionError, MAX_ERRNO, Permission};
pub use builtin::{Builtin, builtins};
pub use compose::Source;
pub use error::{ErrorKind, LowerError, ParseError};
pub use explain::{AbiEntry, Branch, Explanation, SyscallEntry, describe_action};
pub use lex::{Piece, statements};
pub use lower::{Cmp, Cond, Lowered, LoweredAbi, LoweredRule};
pub use moat_syscalls::Width;
pub use model::{CmpOp, Item, Location, Rule, Span, Statement};
pub use parse::is_statement_word;
pub use resolve::WideValue;

use model::{ArchName, UseTarget};

/// A parsed and resolved policy.
///
/// Equality compares meaning and spelling (statements, rules, reasons), not positions.
#[derive(Clone, Debug)]
pub struct Policy {
    origin: Arc<str>,
    source: String,
    items: Vec<Item>,
    rules: Vec<Rule>,
    default: Setting,
    unknown: Setting,
    badarch: Setting,
    arches: Vec<Arch>,
    kernel: Option<(KernelVersion, Location)>,
    /// Per rule: every syscall name its targets cover (groups expanded, twins added).
    covers: Vec<Vec<&'static str>>,
    /// Names some rule names directly (or as a twin of a named syscall): exempt from the
    /// `kernel VERSION` cut.
    explicit: BTreeSet<&'static str>,
    /// Landlock statements from every file.
    landlock: landlock::Landlock,
}

impl PartialEq for Policy {
    fn eq(&self, other: &Self) -> bool {
        self.items == other.items
            && self.rules == other.rules
            && self.default.action == other.default.action
            && self.unknown.action == other.unknown.action
            && self.badarch.action == other.badarch.action
            && self.arches == other.arches
            && self.kernel.as_ref().map(|k| k.0) == other.kernel.as_ref().map(|k| k.0)
    }
}

/// A policy-wide action (`default`, `unknown`, `badarch`) and the statement that set it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The action.
    pub action: Action,
    /// The statement that set it; `None` for the built-in default.
    pub location: Option<Location>,
}

/// The built-in `default` when a policy says nothing: kill the process (fail closed).
pub const DEFAULT_DEFAULT: Action = Action::KillProcess;
/// The built-in `unknown`: ENOSYS, so libc falls back as on an older kernel.
pub const DEFAULT_UNKNOWN: Action = Action::Errno(38);
/// The built-in `badarch`: kill the process.
pub const DEFAULT_BADARCH: Action = Action::KillProcess;

/// A set of Linux capabilities (bit N = capability number N).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CapSet(pub u64);

impl CapSet {
    /// No capabilities.
    pub const EMPTY: CapSet = CapSet(0);

    /// Adds a capability by number (numbers above 63 are ignored).
    pub fn insert(&mut self, cap: u8) {
        if let Some(bit) = 1u64.checked_shl(u32::from(cap)) {
            self.0 |= bit;
        }
    }

    /// True when the set holds capability `cap`.
    pub fn contains(self, cap: u8) -> bool {
        1u64.checked_shl(u32::from(cap))
            .is_some_and(|bit| self.0 & bit != 0)
    }

    /// Docker's default capability set (moby `oci/caps/defaults.go`): CHOWN, DAC_OVERRIDE, FSETID,
    /// FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT,
    /// KILL, AUDIT_WRITE.
    pub fn docker_default() -> CapSet {
        // Capability numbers from include/uapi/linux/capability.h.
        [0u8, 1, 4, 3, 27, 13, 6, 7, 31, 8, 10, 18, 5, 29]
            .into_iter()
            .collect()
    }
}

impl FromIterator<u8> for CapSet {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Self {
        let mut s = CapSet::EMPTY;
        for c in iter {
            s.insert(c);
        }
        s
    }
}

/// What `when` guards are resolved against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The capabilities the confined process holds; `None` means none (an unprivileged process).
    pub caps: Option<CapSet>,
    /// The kernel the filter will run on; `None` means "new enough for every `kernel >=` guard".
    pub kernel: Option<KernelVersion>,
}

/// The outcome for one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// What happens.
    pub action: Action,
    /// Which part of the policy decided.
    pub decided_by: Decider,
}

/// Which part of a policy decided a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decider {
    /// The last matching rule: its index in [`Policy::rules`] and position.
    Rule {
        /// Index into [`Policy::rules`].
        index: usize,
        /// Position in the rule's file ([`Rule::location`] names the file).
        span: Span,
    },
    /// No rule matched a known syscall: the `default` action.
    Default,
    /// The number is not a syscall moat knows for this ABI (or is newer than `kernel VERSION`).
    Unknown,
    /// The ABI is not accepted.
    BadArch,
}

impl Policy {
    /// Parses policy text. `origin` names the text in messages and anchors `use "relative"`
    /// paths (its parent directory).
    pub fn parse(source: &str, origin: &str) -> Result<Policy, ParseError> {
        let dir = Path::new(origin).parent().map(Path::to_path_buf);
        let key = std::fs::canonicalize(origin)
            .map_or_else(|_| origin.to_string(), |p| p.display().to_string());
        Loader::default().finish(source, origin, Some(dir.unwrap_or_default()), key)
    }

    /// Reads and parses a policy file (bytes must be UTF-8), resolving `use "relative"` paths.
    pub fn load(path: &Path) -> Result<Policy, ParseError> {
        let origin = path.display().to_string();
        // The main input: a FIFO or /dev/stdin the user named is read, up to the cap.
        let bytes =
            moat_io::read(path, moat_io::Limit::TEXT, moat_io::Source::Main).map_err(|e| {
                ParseError {
                    origin: origin.clone(),
                    span: None,
                    kind: Box::new(ErrorKind::Io(e.line())),
                }
            })?;
        let source = utf8(&bytes, &origin)?;
        Policy::parse(source, &origin)
    }

    /// Parses policy bytes that may not be UTF-8 (the error then points at the first bad byte).
    pub fn parse_bytes(bytes: &[u8], origin: &str) -> Result<Policy, ParseError> {
        Policy::parse(utf8(bytes, origin)?, origin)
    }

    /// A built-in profile by name; `None` if there is none.
    pub fn builtin(name: &str) -> Option<Result<Policy, ParseError>> {
        let b = builtins().iter().find(|b| b.name == name)?;
        Some(Loader::default().finish(b.source, b.name, None, format!("builtin:{}", b.name)))
    }

    /// A built-in profile name or a file path: names without `/` or `.` that match a built-in
    /// profile are the built-in; everything else is read as a file.
    pub fn open(spec: &str) -> Result<Policy, ParseError> {
        if !spec.contains('/') && !spec.contains('.') {
            if let Some(p) = Policy::builtin(spec) {
                return p;
            }
            if !Path::new(spec).exists() {
                return Err(ParseError {
                    origin: spec.to_string(),
                    span: None,
                    kind: Box::new(ErrorKind::UnknownProfile {
                        name: spec.to_string(),
                        known: builtin::known(),
                    }),
                });
            }
        }
        Policy::load(Path::new(spec))
    }

    /// The file name (or built-in profile name) this policy was parsed from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The source text of the top-level file.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The top-level file's statements in source order (a `use` stays one item).
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// Every rule in effect, `use`d ones spliced in place, in source order: later rules win.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Accepted ABIs (default: the native one), in the order written.
    pub fn arches(&self) -> &[Arch] {
        &self.arches
    }

    /// The same policy accepting `arches` (in this order, duplicates dropped) instead of the ABIs
    /// it names, as if an `arch` statement naming them ended the top-level file: the statement
    /// is appended to [`Policy::source`] and replaces the top-level `arch` statements in
    /// [`Policy::items`], so the canonical text says what the policy now accepts. Every
    /// condition is checked again on the new ABIs (named parameters, argument counts, 32-bit
    /// values), with the errors parsing the new text would give.
    pub fn with_arches(&self, arches: &[Arch]) -> Result<Policy, ParseError> {
        let mut accepted: Vec<Arch> = Vec::new();
        for &a in arches {
            if !accepted.contains(&a) {
                accepted.push(a);
            }
        }
        let mut source = self.source.clone();
        if !source.is_empty() && !source.ends_with('\n') {
            source.push('\n');
        }
        let line = u32::try_from(source.lines().count() + 1).unwrap_or(u32::MAX);
        let span = Span { line, col: 1 };
        if accepted.is_empty() {
            return Err(ParseError::at(
                &self.origin,
                span,
                ErrorKind::Expected {
                    expected: "an ABI name (x86_64, x86, x32, aarch64, arm, ...)".to_string(),
                    found: "end of line".to_string(),
                },
            ));
        }
        let names: Vec<ArchName> = accepted.iter().map(|&a| ArchName::Abi(a)).collect();
        let written: Vec<String> = accepted.iter().map(ToString::to_string).collect();
        source.push_str(&format!("arch {}\n", written.join(" ")));
        let mut items: Vec<Item> = self
            .items
            .iter()
            .filter(|i| !matches!(i.statement, Statement::Arch(_)))
            .cloned()
            .collect();
        items.push(Item {
            statement: Statement::Arch(names),
            span,
            reason: None,
        });
        let policy = Policy {
            source,
            items,
            arches: accepted,
            ..self.clone()
        };
        resolve::check(&policy)?;
        Ok(policy)
    }

    /// The `default` action and where it was set.
    pub fn default_action(&self) -> &Setting {
        &self.default
    }

    /// The `unknown` action and where it was set.
    pub fn unknown_action(&self) -> &Setting {
        &self.unknown
    }

    /// The `badarch` action and where it was set.
    pub fn badarch_action(&self) -> &Setting {
        &self.badarch
    }

    /// The `kernel VERSION` cut, if any.
    pub fn kernel(&self) -> Option<KernelVersion> {
        self.kernel.as_ref().map(|k| k.0)
    }

    /// Every syscall name rule `index` covers (groups expanded, twins included), sorted.
    pub fn covered(&self, index: usize) -> impl Iterator<Item = &'static str> + '_ {
        self.covers.get(index).into_iter().flatten().copied()
    }

    /// True when a syscall introduced after the `kernel` cut is named explicitly by some rule
    /// (directly or as a twin of a named syscall) and therefore stays known.
    pub fn names_explicitly(&self, name: &str) -> bool {
        self.explicit.contains(name)
    }

    /// The values written in 64 bits for narrower parameters (`fd == 0xffffffffffffffff`): the
    /// filter compares their low bits, as the kernel reads the parameter.
    pub fn wide_values(&self) -> Vec<WideValue> {
        resolve::wide_values(self)
    }

    /// The Landlock statements (`fs`, `net`, `scope`, `landlock required`) from every file.
    pub fn landlock(&self) -> &landlock::Landlock {
        &self.landlock
    }

    /// The reference evaluator: the definition of what a policy means (see the specification).
    pub fn evaluate(&self, ctx: &Context, arch_audit: u32, nr: u32, args: [u64; 6]) -> Verdict {
        eval::evaluate(self, ctx, arch_audit, nr, args)
    }

    /// Lowering for compilers: per accepted ABI, per known number, the ordered rule list.
    pub fn lower(&self, ctx: &Context) -> Result<Lowered, LowerError> {
        lower::lower(self, ctx)
    }
}

fn utf8<'a>(bytes: &'a [u8], origin: &str) -> Result<&'a str, ParseError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let prefix = String::from_utf8_lossy(valid);
        let line = prefix.matches('\n').count() + 1;
        let col = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ParseError::at(
            origin,
            Span {
                line: u32::try_from(line).unwrap_or(u32::MAX),
                col: u32::try_from(col).unwrap_or(u32::MAX),
            },
            ErrorKind::NotUtf8,
        )
    })
}

/// Accumulates statements across `use`d files.
#[derive(Default)]
pub(crate) struct Loader {
    stack: Vec<(String, String)>,
    rules: Vec<Rule>,
    default: Option<Setting>,
    unknown: Option<Setting>,
    badarch: Option<Setting>,
    arch: Option<(Vec<ArchName>, Location)>,
    kernel: Option<(KernelVersion, Location)>,
    landlock: landlock::Landlock,
    /// Set while reading a source that may not read files: what to call it in the error.
    refuse_files: Option<String>,
    /// Statements read so far, `use` expansions included (bounded by [`MAX_STATEMENTS`]).
    statements: usize,
    /// Per file (its key), how many `use` statements name it in the files a root source
    /// reaches ([`Loader::plan`]), and how many of those were met so far: only the last is
    /// spliced.
    use_total: HashMap<String, usize>,
    use_seen: HashMap<String, usize>,
    /// The bytes of each file the plan read, so a file is read once per root source.
    files: HashMap<String, Vec<u8>>,
}

/// The most statements one policy may expand to, `use` included. Each file is spliced once (see
/// [`Loader::plan`]), so a chain of files each using the next twice stays linear; the bound
/// stops a policy that is simply huge. Real profiles expand to a few hundred statements.
pub const MAX_STATEMENTS: usize = 100_000;

/// Where a `use` statement leads: the file's key (its canonical path, or `builtin:NAME`), the
/// path to read (`None` for a built-in) and the directory its own `use` paths start from.
struct UseSite {
    key: String,
    path: Option<PathBuf>,
    shown: String,
}

fn use_site(target: &UseTarget, dir: Option<&Path>) -> Option<UseSite> {
    match target {
        UseTarget::Builtin(name) => Some(UseSite {
            key: format!("builtin:{name}"),
            path: None,
            shown: name.clone(),
        }),
        UseTarget::Path(p) => {
            let path = dir?.join(p);
            let shown = path.display().to_string();
            let key = std::fs::canonicalize(&path)
                .map_or_else(|_| shown.clone(), |c| c.display().to_string());
            Some(UseSite {
                key,
                path: Some(path),
                shown,
            })
        }
    }
}

/// The `use` targets of a text, in order, up to its first error (which the real reading reports).
fn use_targets(source: &str) -> Vec<UseTarget> {
    // A `use` statement's first token is the word `use`, after spaces, tabs or CRs (the lexer's
    // only blanks). Without such a piece there is nothing to plan, and the text is not lexed and
    // parsed twice (that was a third of reading Docker's profile).
    let starts_with_use = |text: &str| {
        text.trim_start_matches([' ', '\t', '\r'])
            .strip_prefix("use")
            .is_some_and(|rest| {
                // The lexer's word goes on through ASCII letters, digits, `_`, and a `-` before
                // one of them (`lex::line`).
                let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
                let mut chars = rest.chars();
                match chars.next() {
                    Some(c) if word(c) => false,
                    Some('-') => !chars.next().is_some_and(word),
                    _ => true,
                }
            })
    };
    if !lex::statements(source).any(|p| starts_with_use(p.text)) {
        return Vec::new();
    }
    let origin = "";
    let mut out = Vec::new();
    for piece in lex::statements(source) {
        match landlock::line(piece.text, piece.line, piece.offset, origin) {
            Ok(Some(_)) => continue,
            Ok(None) => {}
            Err(_) => break,
        }
        let Ok(line) = lex::line(piece.text, piece.line, piece.offset, origin) else {
            break;
        };
        if line.tokens.is_empty() {
            continue;
        }
        match parse::statement(&line, origin) {
            Ok(parse::Parsed::Use(target)) => out.push(target),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    out
}

impl Loader {
    fn finish(
        mut self,
        source: &str,
        origin: &str,
        dir: Option<PathBuf>,
        key: String,
    ) -> Result<Policy, ParseError> {
        let origin: Arc<str> = Arc::from(origin);
        let items = self.root(source, &origin, dir.as_deref(), key)?;
        self.build(origin, source.to_string(), items)
    }

    /// The policy from everything read so far; `source` and `items` are the top level.
    fn build(
        self,
        origin: Arc<str>,
        source: String,
        items: Vec<Item>,
    ) -> Result<Policy, ParseError> {
        let arches = match &self.arch {
            None => vec![Arch::native()],
            Some((names, loc)) => {
                let mut v = Vec::new();
                for a in names.iter().filter_map(|n| n.resolve()) {
                    if !v.contains(&a) {
                        v.push(a);
                    }
                }
                if v.is_empty() {
                    return Err(ParseError::at(
                        &loc.origin,
                        loc.span,
                        ErrorKind::NoAbi(Arch::native().to_string()),
                    ));
                }
                v
            }
        };
        let covers: Vec<_> = self.rules.iter().map(resolve::covers).collect();
        let explicit = self.rules.iter().flat_map(resolve::named).collect();
        let policy = Policy {
            origin,
            source,
            items,
            rules: self.rules,
            default: self.default.unwrap_or(Setting {
                action: DEFAULT_DEFAULT,
                location: None,
            }),
            unknown: self.unknown.unwrap_or(Setting {
                action: DEFAULT_UNKNOWN,
                location: None,
            }),
            badarch: self.badarch.unwrap_or(Setting {
                action: DEFAULT_BADARCH,
                location: None,
            }),
            arches,
            kernel: self.kernel,
            covers,
            explicit,
            landlock: self.landlock,
        };
        resolve::check(&policy)?;
        Ok(policy)
    }

    /// Reads one top-level source: [`Loader::plan`], then [`Loader::text`].
    pub(crate) fn root(
        &mut self,
        source: &str,
        origin: &Arc<str>,
        dir: Option<&Path>,
        key: String,
    ) -> Result<Vec<Item>, ParseError> {
        self.plan(source, dir, &key);
        let items = self.text(source, origin, dir, key);
        self.use_total.clear();
        self.use_seen.clear();
        self.files.clear();
        items
    }

    /// Counts, for every file a root source reaches through `use`, how many `use` statements
    /// name it (each reached file read once). [`Loader::use_`] then splices a file only at the
    /// last of them and skips the earlier ones. That is exact under last-match-wins: an earlier
    /// copy of the same statements can never decide, since every rule in it is repeated later
    /// and `default`/`unknown`/`badarch`/`arch`/`kernel` take their last value; Landlock
    /// statements add up to the same set. A diamond (two files using a third) and a chain of
    /// files each using the next twice then expand linearly instead of exponentially.
    fn plan(&mut self, source: &str, dir: Option<&Path>, key: &str) {
        let mut reached = HashSet::from([key.to_owned()]);
        let mut queue: Vec<(String, Option<PathBuf>)> =
            vec![(source.to_owned(), dir.map(Path::to_path_buf))];
        while let Some((text, dir)) = queue.pop() {
            for target in use_targets(&text) {
                let Some(site) = use_site(&target, dir.as_deref()) else {
                    continue;
                };
                *self.use_total.entry(site.key.clone()).or_default() += 1;
                if !reached.insert(site.key.clone()) {
                    continue;
                }
                match &site.path {
                    None => {
                        if let UseTarget::Builtin(name) = &target
                            && let Some(b) = builtins().iter().find(|b| b.name == *name)
                        {
                            queue.push((b.source.to_owned(), None));
                        }
                    }
                    Some(path) => {
                        let Ok(bytes) =
                            moat_io::read(path, moat_io::Limit::TEXT, moat_io::Source::Included)
                        else {
                            continue;
                        };
                        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
                        if let Ok(text) = std::str::from_utf8(body) {
                            let sub = path.parent().map(Path::to_path_buf).unwrap_or_default();
                            queue.push((text.to_owned(), Some(sub)));
                        }
                        self.files.insert(site.key, bytes);
                    }
                }
            }
        }
    }

    /// True when this `use` of `key` is not the last one the plan counted: skip it.
    fn later_copy_exists(&mut self, key: &str) -> bool {
        let seen = self.use_seen.entry(key.to_owned()).or_default();
        *seen += 1;
        self.use_total.get(key).is_some_and(|total| *seen < *total)
    }

    fn text(
        &mut self,
        source: &str,
        origin: &Arc<str>,
        dir: Option<&Path>,
        key: String,
    ) -> Result<Vec<Item>, ParseError> {
        if let Some(pos) = self.stack.iter().position(|(k, _)| *k == key) {
            let mut chain: Vec<&str> = self.stack[pos..].iter().map(|(_, o)| o.as_str()).collect();
            chain.push(origin);
            return Err(ParseError {
                origin: origin.to_string(),
                span: None,
                kind: Box::new(ErrorKind::UseCycle(chain.join(" -> "))),
            });
        }
        self.stack.push((key, origin.to_string()));
        let mut items = Vec::new();
        for piece in lex::statements(source) {
            self.statements += 1;
            if self.statements > MAX_STATEMENTS {
                return Err(ParseError::at(
                    origin,
                    Span {
                        line: piece.line,
                        col: 1,
                    },
                    ErrorKind::TooManyStatements(MAX_STATEMENTS),
                ));
            }
            let (text, line_no, offset) = (piece.text, piece.line, piece.offset);
            if let Some(l) = landlock::line(text, line_no, offset, origin)? {
                let location = Location {
                    origin: origin.clone(),
                    span: l.span,
                };
                self.landlock.add(&l.statement, location);
                items.push(Item {
                    statement: Statement::Landlock(l.statement),
                    span: l.span,
                    reason: l.reason,
                });
                continue;
            }
            let line = lex::line(text, line_no, offset, origin)?;
            let Some(first) = line.tokens.first() else {
                continue;
            };
            let span = first.span;
            let location = Location {
                origin: origin.clone(),
                span,
            };
            let reason = line.comment.clone();
            let parsed = parse::statement(&line, origin)?;
            let statement = match parsed {
                parse::Parsed::Use(target) => {
                    self.use_(&target, origin, dir, span)?;
                    Statement::Use(target)
                }
                parse::Parsed::Default(a) => {
                    self.default = Some(Setting {
                        action: a,
                        location: Some(location),
                    });
                    Statement::Default(a)
                }
                parse::Parsed::Unknown(a) => {
                    self.unknown = Some(Setting {
                        action: a,
                        location: Some(location),
                    });
                    Statement::Unknown(a)
                }
                parse::Parsed::BadArch(a) => {
                    self.badarch = Some(Setting {
                        action: a,
                        location: Some(location),
                    });
                    Statement::BadArch(a)
                }
                parse::Parsed::Kernel(v) => {
                    self.kernel = Some((v, location));
                    Statement::Kernel(v)
                }
                parse::Parsed::Arch(names) => {
                    self.arch = Some((names.clone(), location));
                    Statement::Arch(names)
                }
                parse::Parsed::Rule {
                    action,
                    targets,
                    condition,
                    guard,
                } => {
                    self.rules.push(Rule {
                        action,
                        targets,
                        condition,
                        guard,
                        reason: reason.clone(),
                        location,
                    });
                    Statement::Rule(self.rules.len() - 1)
                }
            };
            items.push(Item {
                statement,
                span,
                reason,
            });
        }
        self.stack.pop();
        if items.is_empty() {
            return Err(ParseError::at(
                origin,
                Span { line: 1, col: 1 },
                ErrorKind::Empty,
            ));
        }
        Ok(items)
    }

    fn use_(
        &mut self,
        target: &UseTarget,
        origin: &Arc<str>,
        dir: Option<&Path>,
        span: Span,
    ) -> Result<(), ParseError> {
        match target {
            UseTarget::Builtin(name) => {
                let Some(b) = builtins().iter().find(|b| b.name == *name) else {
                    return Err(ParseError::at(
                        origin,
                        Span {
                            line: span.line,
                            col: span.col + 4,
                        },
                        ErrorKind::UnknownProfile {
                            name: name.clone(),
                            known: builtin::known(),
                        },
                    ));
                };
                let key = format!("builtin:{}", b.name);
                if self.later_copy_exists(&key) {
                    return Ok(());
                }
                let o: Arc<str> = Arc::from(b.name);
                self.text(b.source, &o, None, key).map(drop)
            }
            UseTarget::Path(_) => {
                if let Some(what) = &self.refuse_files {
                    return Err(ParseError::at(
                        origin,
                        span,
                        ErrorKind::UseFileRefused(what.clone()),
                    ));
                }
                let Some(dir) = dir else {
                    return Err(ParseError::at(origin, span, ErrorKind::UseFileInBuiltin));
                };
                let Some(UseSite {
                    key,
                    path: Some(path),
                    shown,
                }) = use_site(target, Some(dir))
                else {
                    unreachable!("a path target with a directory has a path");
                };
                if self.later_copy_exists(&key) {
                    return Ok(());
                }
                if let Some(pos) = self.stack.iter().position(|(k, _)| *k == key) {
                    let mut chain: Vec<&str> =
                        self.stack[pos..].iter().map(|(_, o)| o.as_str()).collect();
                    chain.push(&shown);
                    return Err(ParseError::at(
                        origin,
                        span,
                        ErrorKind::UseCycle(chain.join(" -> ")),
                    ));
                }
                // A `use` target is a regular file only (a FIFO would block, /dev/zero would
                // never end), at most the text cap.
                let bytes = match self.files.remove(&key) {
                    Some(bytes) => bytes,
                    None => moat_io::read(&path, moat_io::Limit::TEXT, moat_io::Source::Included)
                        .map_err(|e| ParseError::at(origin, span, ErrorKind::Io(e.line())))?,
                };
                let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
                let source = utf8(bytes, &shown)?;
                let o: Arc<str> = Arc::from(shown.as_str());
                let sub = path.parent().map(Path::to_path_buf).unwrap_or_default();
                self.text(source, &o, Some(&sub), key).map(drop)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression for the quick check that skips planning a text without `use`: every spelling
    /// the lexer reads as a `use` statement is still planned, and words that only start with
    /// `use` are not.
    #[test]
    fn use_targets_quick_check_keeps_every_use() {
        let builtin = |s: &str| vec![UseTarget::Builtin(s.to_string())];
        assert_eq!(use_targets("use container"), builtin("container"));
        assert_eq!(use_targets("\t\r use strict # c"), builtin("strict"));
        assert_eq!(use_targets("deny mkdir; use strict"), builtin("strict"));
        assert_eq!(
            use_targets("use\"base.moat\""),
            vec![UseTarget::Path("base.moat".into())]
        );
        assert_eq!(use_targets("use- strict"), use_targets("use - strict"));
        for text in [
            "deny userfaultfd",
            "# use strict",
            "user_x",
            "use_x",
            "use-x",
        ] {
            assert_eq!(use_targets(text), Vec::new(), "{text}");
        }
    }
}
