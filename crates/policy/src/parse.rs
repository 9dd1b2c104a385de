//! The statement parser: one lexed line to one statement.

use std::str::FromStr;

use moat_syscalls::{Arch, KernelVersion};

use crate::Action;
use crate::error::{ErrorKind, ParseError, closest};
use crate::lex::{Line, Tok, Token};
use crate::model::{
    ArchName, ArgKind, ArgRef, CmpOp, Condition, Guard, RuleCondition, Span, Target, TargetKind,
    Term, Test, UseTarget, Value,
};

/// Statement keywords.
pub(crate) const STATEMENTS: &[&str] = &["use", "default", "unknown", "badarch", "kernel", "arch"];
/// Action keywords.
pub(crate) const ACTIONS: &[&str] = &[
    "allow",
    "deny",
    "errno",
    "kill",
    "kill-process",
    "kill-thread",
    "trap",
    "log",
    "trace",
    "notify",
];
/// True when `word` can start a statement of the policy language: a statement keyword, an
/// action, or a Landlock keyword. What tells moat text from other text (`moat::input`).
pub fn is_statement_word(word: &str) -> bool {
    STATEMENTS.contains(&word)
        || ACTIONS.contains(&word)
        || crate::landlock::KEYWORDS.contains(&word)
}

/// Words that end a target list or a condition atom.
const RESERVED: &[&str] = &["if", "unless", "when", "and", "or", "not", "in"];

/// A parsed line.
#[derive(Debug)]
pub(crate) enum Parsed {
    Use(UseTarget),
    Default(Action),
    Unknown(Action),
    BadArch(Action),
    Kernel(KernelVersion),
    Arch(Vec<ArchName>),
    Rule {
        action: Action,
        targets: Vec<Target>,
        condition: Option<RuleCondition>,
        guard: Option<Guard>,
    },
}

pub(crate) struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    origin: &'a str,
    end: Span,
    depth: u32,
}

/// How deeply `not` and parentheses may nest: deep enough for any real policy, shallow enough
/// that the recursive parser, printer and evaluator never exhaust the stack.
const MAX_DEPTH: u32 = 64;

/// Parses one non-empty line.
pub(crate) fn statement(line: &Line, origin: &str) -> Result<Parsed, ParseError> {
    let mut p = Parser {
        toks: &line.tokens,
        pos: 0,
        origin,
        end: line.end,
        depth: 0,
    };
    let parsed = p.statement()?;
    if let Some(t) = p.peek_token() {
        return Err(ParseError::at(
            origin,
            t.span,
            ErrorKind::Expected {
                expected: "end of statement".into(),
                found: t.tok.describe(),
            },
        ));
    }
    Ok(parsed)
}

impl Parser<'_> {
    fn peek_token(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn peek(&self) -> Option<&Tok> {
        self.peek_token().map(|t| &t.tok)
    }

    fn peek_word(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }

    fn span(&self) -> Span {
        self.peek_token().map_or(self.end, |t| t.span)
    }

    fn found(&self) -> String {
        self.peek()
            .map_or_else(|| "end of line".to_string(), Tok::describe)
    }

    fn err(&self, kind: ErrorKind) -> ParseError {
        ParseError::at(self.origin, self.span(), kind)
    }

    fn err_at(&self, span: Span, kind: ErrorKind) -> ParseError {
        ParseError::at(self.origin, span, kind)
    }

    fn expected(&self, what: &str) -> ParseError {
        self.err(ErrorKind::Expected {
            expected: what.to_string(),
            found: self.found(),
        })
    }

    fn bump(&mut self) -> Option<Token> {
        let t = self.toks.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    fn statement(&mut self) -> Result<Parsed, ParseError> {
        let Some(word) = self.peek_word().map(str::to_string) else {
            return Err(self.expected("a statement or an action"));
        };
        match word.as_str() {
            "use" => {
                self.bump();
                let target = match self.peek().cloned() {
                    Some(Tok::Word(w)) => UseTarget::Builtin(w),
                    Some(Tok::Str(s)) => UseTarget::Path(s),
                    _ => return Err(self.expected("a built-in profile name or a \"path\"")),
                };
                self.bump();
                Ok(Parsed::Use(target))
            }
            "default" | "unknown" | "badarch" => {
                self.bump();
                let action = self.action()?;
                Ok(match word.as_str() {
                    "default" => Parsed::Default(action),
                    "unknown" => Parsed::Unknown(action),
                    _ => Parsed::BadArch(action),
                })
            }
            "kernel" => {
                self.bump();
                Ok(Parsed::Kernel(self.version()?))
            }
            "arch" => {
                self.bump();
                let names = self.arch_names()?;
                Ok(Parsed::Arch(names))
            }
            w if ACTIONS.contains(&w) => self.rule(),
            w => {
                let suggestion = closest(w, STATEMENTS.iter().chain(ACTIONS).copied());
                Err(self.err(ErrorKind::UnknownStatement {
                    word: w.to_string(),
                    suggestion,
                }))
            }
        }
    }

    fn version(&mut self) -> Result<KernelVersion, ParseError> {
        let span = self.span();
        let result = match self.peek().cloned() {
            Some(Tok::Version(v)) => {
                KernelVersion::from_str(&v).map_err(|_| self.err_at(span, ErrorKind::BadVersion(v)))
            }
            Some(Tok::Num(n)) => u16::try_from(n)
                .map(|major| KernelVersion { major, minor: 0 })
                .map_err(|_| self.err_at(span, ErrorKind::BadVersion(n.to_string()))),
            _ => return Err(self.expected("a kernel version such as 5.10")),
        };
        self.bump();
        result
    }

    fn arch_names(&mut self) -> Result<Vec<ArchName>, ParseError> {
        let mut names = Vec::new();
        while let Some(w) = self.peek_word().map(str::to_string) {
            if RESERVED.contains(&w.as_str()) {
                break;
            }
            let name = match w.as_str() {
                "native" => ArchName::Native,
                "compat" => ArchName::Compat,
                _ => ArchName::Abi(
                    Arch::from_str(&w)
                        .map_err(|e| self.err(ErrorKind::UnknownArch(e.to_string())))?,
                ),
            };
            if !names.contains(&name) {
                names.push(name);
            }
            self.bump();
        }
        if names.is_empty() {
            return Err(
                self.expected("an ABI name (x86_64, x86, x32, aarch64, arm, ..., native, compat)")
            );
        }
        Ok(names)
    }

    fn action(&mut self) -> Result<Action, ParseError> {
        let Some(w) = self.peek_word().map(str::to_string) else {
            return Err(self.expected(
                "an action (allow, deny, errno E, kill, kill-thread, trap, log, trace N, notify)",
            ));
        };
        let action = match w.as_str() {
            "allow" => Action::Allow,
            "deny" => Action::DENY,
            "kill" | "kill-process" => Action::KillProcess,
            "kill-thread" => Action::KillThread,
            "log" => Action::Log,
            "notify" => Action::Notify,
            "errno" => {
                self.bump();
                let span = self.span();
                let result = match self.peek().cloned() {
                    Some(Tok::Num(n)) => u16::try_from(n)
                        .ok()
                        .filter(|&e| e <= crate::action::MAX_ERRNO)
                        .map(Action::Errno)
                        .ok_or_else(|| self.err_at(span, ErrorKind::ErrnoRange(n))),
                    Some(Tok::Word(name)) => match moat_syscalls::errno(&name) {
                        Some(e) => Ok(Action::Errno(e)),
                        None => {
                            let names: Vec<&str> = (0..=crate::action::MAX_ERRNO)
                                .filter_map(moat_syscalls::errno_name)
                                .collect();
                            let suggestion = closest(&name, names);
                            Err(self.err_at(span, ErrorKind::UnknownErrno { name, suggestion }))
                        }
                    },
                    _ => {
                        return Err(self.expected(
                            "an errno name or number after `errno` (e.g. EPERM, ENOSYS, 13)",
                        ));
                    }
                };
                self.bump();
                return result;
            }
            "trap" | "trace" => {
                self.bump();
                let span = self.span();
                let mut data = 0u16;
                if let Some(Tok::Num(n)) = self.peek() {
                    let n = *n;
                    let name = if w == "trap" { "trap" } else { "trace" };
                    data = u16::try_from(n).map_err(|_| {
                        self.err_at(
                            span,
                            ErrorKind::DataRange {
                                action: name,
                                value: n,
                            },
                        )
                    })?;
                    self.bump();
                }
                return Ok(if w == "trap" {
                    Action::Trap(data)
                } else {
                    Action::Trace(data)
                });
            }
            _ => {
                let suggestion = closest(&w, ACTIONS.iter().copied());
                return Err(self.err(ErrorKind::Expected {
                    expected: format!(
                        "an action{}",
                        suggestion
                            .map(|s| format!(" (did you mean \"{s}\"?)"))
                            .unwrap_or_default()
                    ),
                    found: self.found(),
                }));
            }
        };
        self.bump();
        Ok(action)
    }

    fn rule(&mut self) -> Result<Parsed, ParseError> {
        let action = self.action()?;
        let mut targets = Vec::new();
        loop {
            let span = self.span();
            match self.peek().cloned() {
                Some(Tok::Word(w)) if !RESERVED.contains(&w.as_str()) => {
                    if !moat_syscalls::is_known(&w) {
                        let suggestion = moat_syscalls::suggest(&w).map(str::to_string);
                        return Err(self.err(ErrorKind::UnknownSyscall {
                            name: w,
                            suggestion,
                        }));
                    }
                    targets.push(Target {
                        kind: TargetKind::Syscall(w),
                        span,
                    });
                }
                Some(Tok::Group(g)) => {
                    if moat_syscalls::group(&g).is_none() {
                        let suggestion =
                            closest(&g, moat_syscalls::groups().iter().map(|g| g.name))
                                .map(|s| format!("@{s}"));
                        return Err(self.err(ErrorKind::UnknownGroup {
                            name: g,
                            suggestion,
                        }));
                    }
                    targets.push(Target {
                        kind: TargetKind::Group(g),
                        span,
                    });
                }
                _ => break,
            }
            self.bump();
        }
        if targets.is_empty() {
            return Err(if self.at_end() {
                self.err(ErrorKind::NoTarget)
            } else {
                self.expected("a syscall name or @group")
            });
        }
        let mut condition = None;
        if let Some(w @ ("if" | "unless")) = self.peek_word() {
            let unless = w == "unless";
            self.bump();
            let cond = self.cond_or()?;
            condition = Some(RuleCondition { unless, cond });
        }
        let mut guard = None;
        if self.peek_word() == Some("when") {
            self.bump();
            guard = Some(self.guard_or()?);
        }
        if !self.at_end() {
            let expected = if condition.is_none() && guard.is_none() {
                "a syscall name, @group, `if`, `unless`, `when` or the end of the line"
            } else if guard.is_none() {
                "`and`, `or`, `when` or the end of the line"
            } else {
                "`and`, `or` or the end of the line"
            };
            return Err(self.expected(expected));
        }
        Ok(Parsed::Rule {
            action,
            targets,
            condition,
            guard,
        })
    }

    // ----- conditions -----

    fn cond_or(&mut self) -> Result<Condition, ParseError> {
        self.bool_or(Self::cond_atom)
    }

    // ----- `and`/`or`/`not`/parentheses over conditions and guards alike -----

    fn bool_or<T: BoolExpr>(
        &mut self,
        atom: fn(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        let mut parts = vec![self.bool_and(atom)?];
        while self.peek_word() == Some("or") {
            self.bump();
            parts.push(self.bool_and(atom)?);
        }
        Ok(flatten(parts, false))
    }

    fn bool_and<T: BoolExpr>(
        &mut self,
        atom: fn(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        let mut parts = vec![self.bool_unary(atom)?];
        while self.peek_word() == Some("and") {
            self.bump();
            parts.push(self.bool_unary(atom)?);
        }
        Ok(flatten(parts, true))
    }

    fn bool_unary<T: BoolExpr>(
        &mut self,
        atom: fn(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        self.depth += 1;
        let result = self.bool_unary_inner(atom);
        self.depth -= 1;
        result
    }

    fn bool_unary_inner<T: BoolExpr>(
        &mut self,
        atom: fn(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        if self.depth > MAX_DEPTH {
            return Err(self.err(ErrorKind::TooDeep(MAX_DEPTH)));
        }
        if self.peek_word() == Some("not") {
            self.bump();
            return Ok(T::not(self.bool_unary(atom)?));
        }
        if self.is_punct("(") {
            let open = self.span();
            self.bump();
            let inner = self.bool_or(atom)?;
            if !self.is_punct(")") {
                return Err(if self.at_end() {
                    self.err_at(open, ErrorKind::UnclosedParen)
                } else {
                    self.expected("`)`, `and` or `or`")
                });
            }
            self.bump();
            return Ok(inner);
        }
        atom(self)
    }

    fn cond_atom(&mut self) -> Result<Condition, ParseError> {
        let span = self.span();
        let Some(w) = self
            .peek_word()
            .map(str::to_string)
            .filter(|w| !RESERVED.contains(&w.as_str()))
        else {
            return Err(
                self.expected("an argument (arg0 to arg5 or a parameter name such as flags)")
            );
        };
        let kind = match w.strip_prefix("arg").and_then(|d| {
            d.parse::<u8>()
                .ok()
                .filter(|_| d.len() == 1 || !d.starts_with('0'))
        }) {
            Some(i) if i <= 5 => ArgKind::Index(i),
            Some(_) => return Err(self.err(ErrorKind::ArgIndex(w))),
            None => ArgKind::Name(w),
        };
        self.bump();
        let arg = ArgRef { kind, span };
        let mut mask = None;
        if self.is_punct("&") {
            self.bump();
            mask = Some(self.value()?);
        }
        let test = if let Some(op) = self.cmp_op() {
            self.bump();
            Test::Cmp(op, self.value()?)
        } else if self.peek_word() == Some("in") {
            self.bump();
            Test::In(self.set()?)
        } else if self.peek_word() == Some("not")
            && matches!(self.toks.get(self.pos + 1).map(|t| &t.tok), Some(Tok::Word(w)) if w == "in")
        {
            self.bump();
            self.bump();
            Test::NotIn(self.set()?)
        } else if mask.is_some() {
            Test::NonZero
        } else {
            return Err(self.expected("a comparison (==, !=, <, <=, >, >=, &, in, not in)"));
        };
        Ok(Condition::Test { arg, mask, test })
    }

    fn cmp_op(&self) -> Option<CmpOp> {
        match self.peek() {
            Some(Tok::Punct("==")) => Some(CmpOp::Eq),
            Some(Tok::Punct("!=")) => Some(CmpOp::Ne),
            Some(Tok::Punct("<")) => Some(CmpOp::Lt),
            Some(Tok::Punct("<=")) => Some(CmpOp::Le),
            Some(Tok::Punct(">")) => Some(CmpOp::Gt),
            Some(Tok::Punct(">=")) => Some(CmpOp::Ge),
            _ => None,
        }
    }

    fn set(&mut self) -> Result<Vec<Value>, ParseError> {
        let open = self.span();
        if !self.is_punct("{") {
            return Err(self.expected("`{` starting a set"));
        }
        self.bump();
        let mut values = Vec::new();
        loop {
            if self.is_punct("}") {
                if values.is_empty() {
                    return Err(self.err_at(open, ErrorKind::EmptySet));
                }
                self.bump();
                return Ok(values);
            }
            if self.at_end() {
                return Err(self.err_at(open, ErrorKind::UnterminatedSet));
            }
            values.push(self.value()?);
            if self.is_punct(",") {
                self.bump();
            } else if !self.is_punct("}") {
                if self.at_end() {
                    return Err(self.err_at(open, ErrorKind::UnterminatedSet));
                }
                return Err(self.expected("`,` or `}`"));
            }
        }
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        let span = self.span();
        let mut terms = vec![self.term()?];
        while self.is_punct("|") {
            self.bump();
            terms.push(self.term()?);
        }
        Ok(Value { terms, span })
    }

    fn term(&mut self) -> Result<Term, ParseError> {
        let span = self.span();
        match self.peek().cloned() {
            Some(Tok::Punct("-")) => {
                self.bump();
                let nspan = self.span();
                match self.peek().cloned() {
                    Some(Tok::Num(n)) => {
                        self.bump();
                        if n > 1 << 63 {
                            return Err(
                                self.err_at(nspan, ErrorKind::NumberTooLarge(format!("-{n}")))
                            );
                        }
                        Ok(Term::Number(-i128::from(n)))
                    }
                    _ => Err(self.expected("a number after `-`")),
                }
            }
            Some(Tok::Num(n)) => {
                self.bump();
                Ok(Term::Number(i128::from(n)))
            }
            Some(Tok::Word(w)) if !RESERVED.contains(&w.as_str()) => {
                match moat_syscalls::constant(&w) {
                    Some(v) => {
                        self.bump();
                        Ok(Term::Constant(w, v))
                    }
                    None => {
                        let suggestion =
                            closest(&w, moat_syscalls::constants().iter().map(|(n, _)| *n));
                        Err(self.err_at(
                            span,
                            ErrorKind::UnknownConstant {
                                name: w,
                                suggestion,
                            },
                        ))
                    }
                }
            }
            _ => Err(self.expected("a number or a named constant")),
        }
    }

    // ----- guards -----

    fn guard_or(&mut self) -> Result<Guard, ParseError> {
        self.bool_or(Self::guard_atom)
    }

    fn guard_atom(&mut self) -> Result<Guard, ParseError> {
        match self.peek_word() {
            Some("cap") => {
                self.bump();
                let mut caps = Vec::new();
                while let Some(w) = self.peek_word().map(str::to_string) {
                    if RESERVED.contains(&w.as_str()) {
                        break;
                    }
                    let upper = w.to_ascii_uppercase();
                    let canonical = if upper.starts_with("CAP_") {
                        upper
                    } else {
                        format!("CAP_{upper}")
                    };
                    let Some(n) = moat_syscalls::capability(&canonical) else {
                        return Err(self.err(ErrorKind::UnknownCapability { name: w }));
                    };
                    if !caps.iter().any(|(_, m)| *m == n) {
                        caps.push((canonical, n));
                    }
                    self.bump();
                }
                if caps.is_empty() {
                    return Err(self.expected("a capability name such as CAP_SYS_ADMIN"));
                }
                Ok(Guard::Cap(caps))
            }
            Some("arch") => {
                self.bump();
                Ok(Guard::Arch(self.arch_names()?))
            }
            Some("kernel") => {
                self.bump();
                let below = if self.is_punct(">=") {
                    false
                } else if self.is_punct("<") {
                    true
                } else {
                    return Err(self.expected("`>=` or `<` after `kernel`"));
                };
                self.bump();
                Ok(Guard::Kernel {
                    below,
                    version: self.version()?,
                })
            }
            _ => Err(self.expected("a guard (cap CAP..., arch ABI..., kernel >= VERSION)")),
        }
    }
}

/// Joins conditions with `and` (`is_and`) or `or`, splicing nested lists of the same kind so
/// that the printed form parses back to the same tree.
pub(crate) fn flatten<T: BoolExpr>(parts: Vec<T>, is_and: bool) -> T {
    let mut out = Vec::new();
    for p in parts {
        match p.split(is_and) {
            Ok(same_kind) => out.extend(same_kind),
            Err(other) => out.push(other),
        }
    }
    if out.len() == 1
        && let Some(only) = out.pop()
    {
        return only;
    }
    T::join(out, is_and)
}

/// A tree of `and`, `or` and `not` over atoms: conditions and guards share one parser.
pub(crate) trait BoolExpr: Sized {
    /// `and` (`is_and`) or `or` of `parts`.
    fn join(parts: Vec<Self>, is_and: bool) -> Self;
    /// `not inner`.
    fn not(inner: Self) -> Self;
    /// The operands when `self` is an `and` (`is_and`) or an `or`; else `self` back.
    fn split(self, is_and: bool) -> Result<Vec<Self>, Self>;
}

impl BoolExpr for Condition {
    fn join(parts: Vec<Self>, is_and: bool) -> Self {
        if is_and {
            Condition::And(parts)
        } else {
            Condition::Or(parts)
        }
    }
    fn not(inner: Self) -> Self {
        Condition::Not(Box::new(inner))
    }
    fn split(self, is_and: bool) -> Result<Vec<Self>, Self> {
        match self {
            Condition::And(v) if is_and => Ok(v),
            Condition::Or(v) if !is_and => Ok(v),
            other => Err(other),
        }
    }
}

impl BoolExpr for Guard {
    fn join(parts: Vec<Self>, is_and: bool) -> Self {
        if is_and {
            Guard::And(parts)
        } else {
            Guard::Or(parts)
        }
    }
    fn not(inner: Self) -> Self {
        Guard::Not(Box::new(inner))
    }
    fn split(self, is_and: bool) -> Result<Vec<Self>, Self> {
        match self {
            Guard::And(v) if is_and => Ok(v),
            Guard::Or(v) if !is_and => Ok(v),
            other => Err(other),
        }
    }
}
