//! The parsed policy: statements, rules, conditions and guards, with their source positions.
//!
//! Equality on these types compares meaning and spelling, never positions: a policy printed and
//! parsed again compares equal to the original.

use moat_syscalls::{Arch, KernelVersion};

use crate::Action;
pub use crate::span::{Location, Span};

/// One statement of a policy file, in source order.
#[derive(Clone, Debug)]
pub struct Item {
    /// What the statement says.
    pub statement: Statement,
    /// Position of its first token.
    pub span: Span,
    /// The `# comment` at the end of its line, without `#` and surrounding blanks.
    pub reason: Option<String>,
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        self.statement == other.statement && self.reason == other.reason
    }
}

/// A statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    /// `use NAME` or `use "path"`: the other policy's statements take effect here.
    Use(UseTarget),
    /// `default ACTION`.
    Default(Action),
    /// `unknown ACTION`.
    Unknown(Action),
    /// `badarch ACTION`.
    BadArch(Action),
    /// `kernel VERSION`.
    Kernel(KernelVersion),
    /// `arch ABI...`.
    Arch(Vec<ArchName>),
    /// A rule; the index into [`crate::Policy::rules`].
    Rule(usize),
    /// A Landlock statement (`fs`, `net`, `scope`, `landlock required`).
    Landlock(crate::landlock::LandlockStatement),
}

/// What a `use` statement splices in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UseTarget {
    /// A built-in profile (`use container`).
    Builtin(String),
    /// A file, relative to the file that names it (`use "base.moat"`).
    Path(String),
}

/// An ABI as written in `arch` statements and guards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArchName {
    /// A named ABI (`x86_64`, `x86`, `x32`, ...).
    Abi(Arch),
    /// `native`: the ABI moat was built for.
    Native,
    /// `compat`: the native ABI's 32-bit compat ABI (x86 on x86_64, arm on aarch64), none elsewhere.
    Compat,
}

impl ArchName {
    /// The ABIs this name stands for on this host.
    pub fn resolve(self) -> Option<Arch> {
        match self {
            ArchName::Abi(a) => Some(a),
            ArchName::Native => Some(Arch::native()),
            ArchName::Compat => compat_of(Arch::native()),
        }
    }
}

/// The 32-bit compat ABI a 64-bit kernel runs beside `arch`: x86 for x86_64, arm for aarch64.
/// x32 is never implied: it must be named.
pub fn compat_of(arch: Arch) -> Option<Arch> {
    match arch {
        Arch::X86_64 => Some(Arch::X86),
        Arch::Aarch64 => Some(Arch::Arm),
        _ => None,
    }
}

/// `ACTION TARGET... [if|unless COND] [when GUARD]`.
#[derive(Clone, Debug)]
pub struct Rule {
    /// What happens when the rule decides.
    pub action: Action,
    /// Syscall names and `@groups`, as written.
    pub targets: Vec<Target>,
    /// The argument condition, if any.
    pub condition: Option<RuleCondition>,
    /// The compile-time guard, if any.
    pub guard: Option<Guard>,
    /// The `# comment` at the end of the line.
    pub reason: Option<String>,
    /// Where the rule was written.
    pub location: Location,
}

impl PartialEq for Rule {
    fn eq(&self, other: &Self) -> bool {
        self.action == other.action
            && self.targets == other.targets
            && self.condition == other.condition
            && self.guard == other.guard
            && self.reason == other.reason
    }
}

/// A rule target.
#[derive(Clone, Debug)]
pub struct Target {
    /// The name or group.
    pub kind: TargetKind,
    /// Where it was written.
    pub span: Span,
}

impl PartialEq for Target {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

/// A syscall name or a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// A syscall name (`openat`); it also covers the name's twins (`clock_gettime64`, `setuid32`).
    Syscall(String),
    /// A group (`@mount`), without the `@`.
    Group(String),
}

/// `if COND` or `unless COND`.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleCondition {
    /// True for `unless`: the rule matches when the condition does NOT hold.
    pub unless: bool,
    /// The condition.
    pub cond: Condition,
}

/// An argument condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// `ARG [& MASK] TEST`.
    Test {
        /// The argument.
        arg: ArgRef,
        /// `& MASK`, if written.
        mask: Option<Value>,
        /// The comparison.
        test: Test,
    },
    /// `a and b and ...` (at least two).
    And(Vec<Condition>),
    /// `a or b or ...` (at least two).
    Or(Vec<Condition>),
    /// `not a`.
    Not(Box<Condition>),
}

/// The comparison part of a test.
#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    /// `OP VALUE`.
    Cmp(CmpOp, Value),
    /// No comparison after a mask: `flags & CLONE_NEW_ANY` means "any of these bits is set".
    NonZero,
    /// `in {V, ...}`.
    In(Vec<Value>),
    /// `not in {V, ...}`.
    NotIn(Vec<Value>),
}

/// Comparison operators; every comparison is unsigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator's spelling.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Applies the operator to two unsigned values.
    pub fn apply(self, a: u64, b: u64) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}

/// An argument reference: `arg0`..`arg5` or a parameter name.
#[derive(Clone, Debug)]
pub struct ArgRef {
    /// Index or name.
    pub kind: ArgKind,
    /// Where it was written.
    pub span: Span,
}

impl PartialEq for ArgRef {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

/// An argument by position or by parameter name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// `argN`, N in 0..=5.
    Index(u8),
    /// A parameter name from the syscall's signature (`flags`, `domain`), located per ABI.
    Name(String),
}

/// A value: one or more terms joined by `|`.
#[derive(Clone, Debug)]
pub struct Value {
    /// The terms, at least one.
    pub terms: Vec<Term>,
    /// Where the value starts.
    pub span: Span,
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.terms == other.terms
    }
}

impl Value {
    /// The value as a signed 128-bit integer: the bitwise OR of its terms in two's complement.
    /// A negative result is later read as its sign extension (64-bit parameters) or low 32 bits
    /// (32-bit parameters).
    pub fn number(&self) -> i128 {
        self.terms.iter().fold(0i128, |acc, t| acc | t.number())
    }
}

/// One term of a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Term {
    /// A literal, possibly negative (`-1`), within -2^63..=2^64-1.
    Number(i128),
    /// A named constant (`CLONE_NEWUSER`) and its value.
    Constant(String, u64),
}

impl Term {
    /// The term's numeric value.
    pub fn number(&self) -> i128 {
        match self {
            Term::Number(n) => *n,
            Term::Constant(_, v) => i128::from(*v),
        }
    }
}

/// A compile-time guard: `when cap ...`, `when arch ...`, `when kernel >= V`, combined with
/// `and`, `or`, `not` and parentheses.
#[derive(Clone, Debug, PartialEq)]
pub enum Guard {
    /// `cap CAP...`: the process holds every listed capability. Canonical names (`CAP_SYS_ADMIN`)
    /// and numbers.
    Cap(Vec<(String, u8)>),
    /// `arch ABI...`: the call's ABI is one of these.
    Arch(Vec<ArchName>),
    /// `kernel >= V` (or `kernel < V` when `below` is set).
    Kernel {
        /// True for `<`.
        below: bool,
        /// The version.
        version: KernelVersion,
    },
    /// All hold (at least two).
    And(Vec<Guard>),
    /// Any holds (at least two).
    Or(Vec<Guard>),
    /// Does not hold.
    Not(Box<Guard>),
}
