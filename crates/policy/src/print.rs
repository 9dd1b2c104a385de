//! The canonical printer: `Display` for a policy and its parts. Parsing the output gives back an
//! equal policy.

use std::fmt::{self, Write as _};

use crate::Policy;
use crate::model::{
    ArchName, ArgKind, Condition, Guard, Item, Rule, Statement, TargetKind, Term, Test, UseTarget,
    Value,
};

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Constant(name, _) => f.write_str(name),
            Term::Number(n) => {
                let (sign, abs) = if *n < 0 {
                    ("-", n.unsigned_abs())
                } else {
                    ("", n.unsigned_abs())
                };
                if abs < 256 {
                    write!(f, "{sign}{abs}")
                } else {
                    write!(f, "{sign}{abs:#x}")
                }
            }
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ArgKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgKind::Index(i) => write!(f, "arg{i}"),
            ArgKind::Name(n) => f.write_str(n),
        }
    }
}

fn set(values: &[Value]) -> String {
    let parts: Vec<String> = values.iter().map(ToString::to_string).collect();
    format!("{{{}}}", parts.join(", "))
}

/// Binding strength: 0 = or, 1 = and, 2 = unary/atom.
fn cond_level(c: &Condition) -> u8 {
    match c {
        Condition::Or(_) => 0,
        Condition::And(_) => 1,
        _ => 2,
    }
}

fn write_cond(f: &mut fmt::Formatter<'_>, c: &Condition, min: u8) -> fmt::Result {
    if cond_level(c) < min {
        f.write_char('(')?;
        write_cond(f, c, 0)?;
        return f.write_char(')');
    }
    match c {
        Condition::Test { arg, mask, test } => {
            write!(f, "{}", arg.kind)?;
            if let Some(m) = mask {
                write!(f, " & {m}")?;
            }
            match test {
                Test::Cmp(op, v) => write!(f, " {} {v}", op.symbol()),
                Test::NonZero => Ok(()),
                Test::In(vs) => write!(f, " in {}", set(vs)),
                Test::NotIn(vs) => write!(f, " not in {}", set(vs)),
            }
        }
        Condition::And(v) | Condition::Or(v) => {
            let (sep, level) = if matches!(c, Condition::And(_)) {
                (" and ", 2)
            } else {
                (" or ", 1)
            };
            for (i, c) in v.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                write_cond(f, c, level)?;
            }
            Ok(())
        }
        Condition::Not(c) => {
            f.write_str("not ")?;
            write_cond(f, c, 2)
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_cond(f, self, 0)
    }
}

impl fmt::Display for ArchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArchName::Abi(a) => write!(f, "{a}"),
            ArchName::Native => f.write_str("native"),
            ArchName::Compat => f.write_str("compat"),
        }
    }
}

fn guard_level(g: &Guard) -> u8 {
    match g {
        Guard::Or(_) => 0,
        Guard::And(_) => 1,
        _ => 2,
    }
}

fn write_guard(f: &mut fmt::Formatter<'_>, g: &Guard, min: u8) -> fmt::Result {
    if guard_level(g) < min {
        f.write_char('(')?;
        write_guard(f, g, 0)?;
        return f.write_char(')');
    }
    match g {
        Guard::Cap(caps) => {
            f.write_str("cap")?;
            for (name, _) in caps {
                write!(f, " {name}")?;
            }
            Ok(())
        }
        Guard::Arch(names) => {
            f.write_str("arch")?;
            for n in names {
                write!(f, " {n}")?;
            }
            Ok(())
        }
        Guard::Kernel { below, version } => {
            write!(f, "kernel {} {version}", if *below { "<" } else { ">=" })
        }
        Guard::And(v) | Guard::Or(v) => {
            let (sep, level) = if matches!(g, Guard::And(_)) {
                (" and ", 2)
            } else {
                (" or ", 1)
            };
            for (i, g) in v.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                write_guard(f, g, level)?;
            }
            Ok(())
        }
        Guard::Not(g) => {
            f.write_str("not ")?;
            write_guard(f, g, 2)
        }
    }
}

impl fmt::Display for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_guard(f, self, 0)
    }
}

impl fmt::Display for Rule {
    /// The rule as one statement, without its `# reason`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.action)?;
        for t in &self.targets {
            match &t.kind {
                TargetKind::Syscall(n) => write!(f, " {n}")?,
                TargetKind::Group(g) => write!(f, " @{g}")?,
            }
        }
        if let Some(c) = &self.condition {
            write!(f, " {} {}", if c.unless { "unless" } else { "if" }, c.cond)?;
        }
        if let Some(g) = &self.guard {
            write!(f, " when {g}")?;
        }
        Ok(())
    }
}

impl Policy {
    /// One top-level statement in canonical form, without its reason.
    pub fn statement_text(&self, item: &Item) -> String {
        match &item.statement {
            Statement::Use(UseTarget::Builtin(n)) => format!("use {n}"),
            Statement::Use(UseTarget::Path(p)) => format!("use \"{p}\""),
            Statement::Default(a) => format!("default {a}"),
            Statement::Unknown(a) => format!("unknown {a}"),
            Statement::BadArch(a) => format!("badarch {a}"),
            Statement::Kernel(v) => format!("kernel {v}"),
            Statement::Arch(names) => {
                let n: Vec<String> = names.iter().map(ToString::to_string).collect();
                format!("arch {}", n.join(" "))
            }
            Statement::Landlock(l) => l.to_string(),
            Statement::Rule(i) => self
                .rules
                .get(*i)
                .map(ToString::to_string)
                .unwrap_or_default(),
        }
    }
}

impl Policy {
    /// The canonical text on one line: the statements joined by `; `, without reasons (a
    /// comment runs to the end of the line, so only one could be kept). Parsing it gives back
    /// the policy without its reasons. For transports that keep one line of a value, such as
    /// Podman's `--annotation`.
    pub fn one_line(&self) -> String {
        let parts: Vec<String> = self.items.iter().map(|i| self.statement_text(i)).collect();
        parts.join("; ")
    }
}

impl fmt::Display for Policy {
    /// The canonical text: one statement a line, single spaces, reasons as `  # reason`;
    /// whole-line comments and blank lines are not kept.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for item in &self.items {
            f.write_str(&self.statement_text(item))?;
            if let Some(r) = &item.reason {
                write!(f, "  # {r}")?;
            }
            f.write_char('\n')?;
        }
        Ok(())
    }
}
