//! Lowering for compilers: per accepted ABI, per known syscall number, the ordered list of rules
//! with conditions over concrete argument indexes and widths.
//!
//! A compiler that implements "the last rule whose condition holds decides, else `default`;
//! numbers not in the map get `unknown`; other ABIs get `badarch`" equals
//! [`crate::Policy::evaluate`]. This module is written independently of the evaluator; a property
//! test interprets its output and compares.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use moat_syscalls::{Arch, Syscall, Width};

use crate::error::LowerError;
use crate::eval::mux_name;
use crate::model::{CmpOp, Condition, Test};
use crate::resolve;
use crate::{Action, Context, Policy};

/// A policy lowered for a compiler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lowered {
    /// For calls whose ABI is not accepted (including x32 numbers on x86_64 unless x32 is).
    pub badarch: Action,
    /// One entry per accepted ABI, in the policy's order.
    pub abis: Vec<LoweredAbi>,
}

/// One accepted ABI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoweredAbi {
    /// The ABI.
    pub arch: Arch,
    /// For known numbers no rule matches.
    pub default: Action,
    /// For numbers not in `syscalls`.
    pub unknown: Action,
    /// Every number the table knows for this ABI (and policy kernel version), with its rules in
    /// source order; the LAST rule whose condition holds decides, else `default`. Numbers not in
    /// the map get `unknown`.
    pub syscalls: BTreeMap<u32, Vec<LoweredRule>>,
}

/// One rule as it applies to one syscall number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoweredRule {
    /// When it matches (never [`Cond::False`]: such rules are left out).
    pub cond: Cond,
    /// What it does.
    pub action: Action,
    /// Index into [`crate::Policy::rules`].
    pub rule: usize,
}

/// A condition over concrete arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    /// Always.
    True,
    /// Never.
    False,
    /// One comparison.
    Cmp(Cmp),
    /// All hold (at least two, none constant).
    And(Vec<Cond>),
    /// Any holds (at least two, none constant).
    Or(Vec<Cond>),
    /// Does not hold.
    Not(Box<Cond>),
}

/// `((argval & widthmask) & mask) OP value`, unsigned; widthmask is `0xffff_ffff` for
/// [`Width::U32`] and all ones for [`Width::U64`]. For `U32`, `mask` and `value` fit in 32 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cmp {
    /// Argument index, 0..=5.
    pub arg: u8,
    /// How many bits the kernel looks at.
    pub width: Width,
    /// The comparison.
    pub op: CmpOp,
    /// Mask applied before comparing (all ones of the width when none is written).
    pub mask: u64,
    /// The value compared against.
    pub value: u64,
}

impl Cond {
    /// Conjunction with constant folding and flattening.
    pub fn and(parts: Vec<Cond>) -> Cond {
        let mut out = Vec::new();
        for p in parts {
            match p {
                Cond::True => {}
                Cond::False => return Cond::False,
                Cond::And(v) => out.extend(v),
                other => out.push(other),
            }
        }
        match out.len() {
            0 => Cond::True,
            1 => out.pop().unwrap_or(Cond::True),
            _ => Cond::And(out),
        }
    }

    /// Disjunction with constant folding and flattening.
    pub fn or(parts: Vec<Cond>) -> Cond {
        let mut out = Vec::new();
        for p in parts {
            match p {
                Cond::False => {}
                Cond::True => return Cond::True,
                Cond::Or(v) => out.extend(v),
                other => out.push(other),
            }
        }
        match out.len() {
            0 => Cond::False,
            1 => out.pop().unwrap_or(Cond::False),
            _ => Cond::Or(out),
        }
    }

    /// Negation with constant folding.
    pub fn negate(c: Cond) -> Cond {
        match c {
            Cond::True => Cond::False,
            Cond::False => Cond::True,
            Cond::Not(inner) => *inner,
            other => Cond::Not(Box::new(other)),
        }
    }

    /// Evaluates the condition on concrete arguments (for tests and emulators).
    pub fn holds(&self, args: &[u64; 6]) -> bool {
        match self {
            Cond::True => true,
            Cond::False => false,
            Cond::Cmp(c) => {
                let wm = match c.width {
                    Width::U32 => 0xffff_ffff,
                    Width::U64 => u64::MAX,
                };
                let v = args.get(usize::from(c.arg)).copied().unwrap_or(0) & wm & c.mask;
                c.op.apply(v, c.value)
            }
            Cond::And(v) => v.iter().all(|c| c.holds(args)),
            Cond::Or(v) => v.iter().any(|c| c.holds(args)),
            Cond::Not(c) => !c.holds(args),
        }
    }
}

impl Lowered {
    /// The action a compiler must produce for one call: the interpretation of this structure.
    pub fn action(&self, audit_arch: u32, nr: u32, args: &[u64; 6]) -> Action {
        let Some(abi) =
            Arch::of(audit_arch, nr).and_then(|a| self.abis.iter().find(|x| x.arch == a))
        else {
            return self.badarch;
        };
        let Some(rules) = abi.syscalls.get(&nr) else {
            return abi.unknown;
        };
        rules
            .iter()
            .rev()
            .find(|r| r.cond.holds(args))
            .map_or(abi.default, |r| r.action)
    }
}

pub(crate) fn lower(p: &Policy, ctx: &Context) -> Result<Lowered, LowerError> {
    let mut abis = Vec::new();
    for &arch in &p.arches {
        // Every number the ABI knows (after the `kernel` cut). The table is sorted by number, so
        // the map is built in bulk.
        let kept = |sc: &Syscall| {
            let cut = p.kernel.as_ref().is_some_and(|(v, _)| sc.since > *v);
            !cut || p.explicit.contains(sc.name)
        };
        let mut syscalls: BTreeMap<u32, Vec<LoweredRule>> = arch
            .syscalls()
            .iter()
            .filter(|sc| kept(sc))
            .map(|sc| (sc.nr, Vec::new()))
            .collect();
        // The number of a name, if the ABI keeps it (names are unique within a table).
        let names = by_name(arch);
        let number = |name: &str| names.get(name).filter(|sc| kept(sc)).map(|sc| sc.nr);
        // Rules in source order, each visiting only the syscalls it covers (and the
        // multiplexers that reach them), so every list stays in source order.
        for (index, rule) in p.rules.iter().enumerate() {
            if rule
                .guard
                .as_ref()
                .is_some_and(|g| !resolve::guard(g, ctx, arch))
            {
                continue;
            }
            let mut push = |name: &'static str, direct: Cond| {
                // Most names are no multiplexer: no disjunction to build (compile time is
                // measured, and this runs for every covered name of every rule).
                let cond = match multiplexed_cond(p, index, arch, name) {
                    Cond::False => direct,
                    mux => Cond::or(vec![direct, mux]),
                };
                if cond == Cond::False {
                    return;
                }
                if let Some(rules) = number(name).and_then(|nr| syscalls.get_mut(&nr)) {
                    rules.push(LoweredRule {
                        cond,
                        action: rule.action,
                        rule: index,
                    });
                }
            };
            for &name in &p.covers[index] {
                if number(name).is_none() {
                    continue;
                }
                let direct = match &rule.condition {
                    None => Cond::True,
                    Some(c) => {
                        let cond = lower_cond(&c.cond, arch, name).map_err(|reason| {
                            LowerError::Unenforceable {
                                location: rule.location.to_string(),
                                arch: arch.to_string(),
                                reason,
                            }
                        })?;
                        if c.unless { Cond::negate(cond) } else { cond }
                    }
                };
                push(name, direct);
            }
            for mux in ["socketcall", "ipc"] {
                if !crate::resolve::contains(&p.covers[index], mux) && number(mux).is_some() {
                    push(mux, Cond::False);
                }
            }
        }
        abis.push(LoweredAbi {
            arch,
            default: p.default.action,
            unknown: p.unknown.action,
            syscalls,
        });
    }
    Ok(Lowered {
        badarch: p.badarch.action,
        abis,
    })
}

type NameMap = HashMap<&'static str, &'static Syscall, BuildHasherDefault<Fnv>>;

/// Every syscall of `arch` by name, built once per process: the tables are static, and building
/// the map on every lowering was a tenth of its time. (An ABI missing from [`Arch::ALL`] gets a
/// fresh map on every call.)
fn by_name(arch: Arch) -> Cow<'static, NameMap> {
    static MAPS: [OnceLock<NameMap>; Arch::ALL.len()] =
        [const { OnceLock::new() }; Arch::ALL.len()];
    let build = || {
        let mut map =
            NameMap::with_capacity_and_hasher(arch.syscalls().len(), BuildHasherDefault::default());
        for sc in arch.syscalls() {
            map.entry(sc.name).or_insert(sc);
        }
        map
    };
    match Arch::ALL.iter().position(|a| *a == arch) {
        Some(slot) => Cow::Borrowed(MAPS[slot].get_or_init(build)),
        None => Cow::Owned(build()),
    }
}

/// FNV-1a: names are short and trusted, so SipHash's flood resistance buys nothing here and
/// costs a third of the lowering's time.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// The condition under which rule `index` applies to multiplexer `name` (socketcall, ipc) on
/// `arch` because it covers a call reached through it. Conditional rules whose action lets the
/// call run are left out (their argument tests cannot be checked); conditional rules that stop
/// the call apply to the whole sub-call (fail closed).
fn multiplexed_cond(p: &Policy, index: usize, arch: Arch, name: &str) -> Cond {
    // Only the multiplexers themselves carry sub-call conditions (checked first: this runs for
    // every syscall and rule, and compile time is measured).
    if name != "socketcall" && name != "ipc" {
        return Cond::False;
    }
    let rule = &p.rules[index];
    if rule.condition.is_some() && rule.action.runs_call() {
        return Cond::False;
    }
    let mut calls = Vec::new();
    for &covered in &p.covers[index] {
        if let Some(m) = moat_syscalls::multiplexed(arch, covered)
            && mux_name(m.via) == name
            && !calls.contains(&m.call)
        {
            calls.push(m.call);
        }
    }
    let mask = if name == "ipc" { 0xffff } else { 0xffff_ffff };
    Cond::or(
        calls
            .into_iter()
            .map(|call| {
                Cond::Cmp(Cmp {
                    arg: 0,
                    width: Width::U32,
                    op: CmpOp::Eq,
                    mask,
                    value: u64::from(call),
                })
            })
            .collect(),
    )
}

fn lower_cond(c: &Condition, arch: Arch, name: &str) -> Result<Cond, String> {
    Ok(match c {
        Condition::And(v) => Cond::and(
            v.iter()
                .map(|c| lower_cond(c, arch, name))
                .collect::<Result<_, _>>()?,
        ),
        Condition::Or(v) => Cond::or(
            v.iter()
                .map(|c| lower_cond(c, arch, name))
                .collect::<Result<_, _>>()?,
        ),
        Condition::Not(c) => Cond::negate(lower_cond(c, arch, name)?),
        Condition::Test { arg, mask, test } => {
            let slot = resolve::arg(arch, name, &arg.kind)
                .map_err(|_| format!("argument of {name} does not resolve"))?;
            let (index, width) = (slot.index, slot.width);
            // A 16-bit parameter (`umode_t`) is a 32-bit comparison under the mask 0xffff.
            let wm = slot.mask();
            let fit = |v: &crate::model::Value| {
                resolve::fit(v.number(), slot.bits)
                    .ok_or_else(|| format!("value {v} does not fit the argument of {name}"))
            };
            let mask = match mask {
                Some(m) => fit(m)? & wm,
                None => wm,
            };
            let cmp = |op, value| {
                Cond::Cmp(Cmp {
                    arg: index,
                    width,
                    op,
                    mask,
                    value,
                })
            };
            match test {
                Test::NonZero => cmp(CmpOp::Ne, 0),
                Test::Cmp(op, v) => cmp(*op, fit(v)?),
                Test::In(vs) => Cond::or(
                    vs.iter()
                        .map(|v| Ok(cmp(CmpOp::Eq, fit(v)?)))
                        .collect::<Result<_, String>>()?,
                ),
                Test::NotIn(vs) => Cond::and(
                    vs.iter()
                        .map(|v| Ok(cmp(CmpOp::Ne, fit(v)?)))
                        .collect::<Result<_, String>>()?,
                ),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use moat_syscalls::Arch;

    /// Lowering finds a name's number in a map with one entry per name: a table with a name twice
    /// would lose the rules of the second number.
    #[test]
    fn syscall_names_unique_per_abi() {
        for arch in Arch::ALL {
            let mut names: Vec<&str> = arch.syscalls().iter().map(|s| s.name).collect();
            let n = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), n, "{arch} has a syscall name twice");
        }
    }

    /// The per-process name maps are per ABI, never mixed up.
    #[test]
    fn name_maps_match_their_abi() {
        for arch in Arch::ALL {
            let map = super::by_name(arch);
            assert_eq!(map.len(), arch.syscalls().len(), "{arch}");
            for sc in arch.syscalls() {
                assert_eq!(
                    map.get(sc.name).map(|s| s.nr),
                    Some(sc.nr),
                    "{arch} {}",
                    sc.name
                );
            }
        }
    }
}
