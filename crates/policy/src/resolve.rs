//! Name resolution per ABI: what a rule covers, where a parameter lives, how wide it is, and
//! whether a value fits it. Shared by the checks at parse time, the evaluator and the lowering.

use std::collections::HashMap;
use std::sync::OnceLock;

use moat_syscalls::{Arch, Param, Width};

use crate::error::{ErrorKind, ParseError};
use crate::model::{ArgKind, ArgRef, Condition, Guard, Rule, TargetKind, Test, Value};
use crate::{CapSet, Context, Policy};

/// The `'static` spelling of a known syscall name.
pub(crate) fn static_name(name: &str) -> Option<&'static str> {
    let names = moat_syscalls::names();
    names
        .binary_search(&name)
        .ok()
        .and_then(|i| names.get(i).copied())
}

/// Twin name -> base name (`clock_gettime64` -> `clock_gettime`).
fn base_of(name: &str) -> Option<&'static str> {
    static MAP: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut m = HashMap::new();
        for &b in moat_syscalls::names() {
            for &t in moat_syscalls::twins(b) {
                m.entry(t).or_insert(b);
            }
        }
        m
    })
    .get(name)
    .copied()
}

/// Every syscall name a rule covers: named syscalls, group members, and the twins of both;
/// sorted, without duplicates ([`contains`] searches it).
pub(crate) fn covers(rule: &Rule) -> Vec<&'static str> {
    let mut out = Vec::new();
    for t in &rule.targets {
        let names: Vec<&'static str> = match &t.kind {
            TargetKind::Syscall(n) => static_name(n).into_iter().collect(),
            TargetKind::Group(g) => moat_syscalls::expand_group(g).unwrap_or_default(),
        };
        for n in names {
            out.push(n);
            out.extend(moat_syscalls::twins(n).iter().copied());
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether the sorted names of [`covers`] hold `name`.
pub(crate) fn contains(covers: &[&'static str], name: &str) -> bool {
    covers.binary_search_by(|c| (*c).cmp(name)).is_ok()
}

/// The names a rule names explicitly (syscall targets and their twins, not group members).
pub(crate) fn named(rule: &Rule) -> Vec<&'static str> {
    let mut out = Vec::new();
    for t in &rule.targets {
        if let TargetKind::Syscall(n) = &t.kind
            && let Some(n) = static_name(n)
        {
            out.push(n);
            out.extend(moat_syscalls::twins(n).iter().copied());
        }
    }
    out
}

/// The signature of `name` on `arch`; a twin without its own signature borrows its base's.
pub(crate) fn signature(arch: Arch, name: &str) -> Option<Vec<Param>> {
    moat_syscalls::signature(arch, name)
        .or_else(|| base_of(name).and_then(|b| moat_syscalls::signature(arch, b)))
}

/// Why an argument reference does not resolve.
pub(crate) enum ArgError {
    Unsigned,
    Param(Vec<Param>),
    Index(usize),
}

/// Where an argument lives and how much of it the kernel reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    /// The index into `seccomp_data.args`.
    pub(crate) index: u8,
    /// U32 for a parameter of at most 32 bits.
    pub(crate) width: Width,
    /// How many low bits the kernel reads: 16, 32 or 64 ([`Param::bits`]).
    pub(crate) bits: u8,
}

impl Slot {
    /// The bits of the argument the kernel looks at.
    pub(crate) fn mask(self) -> u64 {
        bits_mask(self.bits)
    }
}

/// Where an argument lives on `arch` for syscall `name`, and its width: the parameter's, for a
/// name or an `argN` within the signature. `argN` of a syscall without a signature (one the
/// kernel reserves without implementing) is 64-bit; on 32-bit ABIs (x86, arm) every argument
/// is at most 32-bit.
pub(crate) fn arg(arch: Arch, name: &str, kind: &ArgKind) -> Result<Slot, ArgError> {
    let sig = signature(arch, name);
    let wide = |index| Slot {
        index,
        width: Width::U64,
        bits: 64,
    };
    let of = |p: &Param| Slot {
        index: p.index,
        width: p.width,
        bits: p.bits,
    };
    let slot = match kind {
        ArgKind::Index(i) => match &sig {
            None => wide(*i),
            Some(params) => match params.iter().find(|p| p.index == *i) {
                Some(p) => of(p),
                None if params.iter().all(|p| p.index < *i) => {
                    return Err(ArgError::Index(params.len()));
                }
                None => wide(*i),
            },
        },
        ArgKind::Name(n) => match &sig {
            None => return Err(ArgError::Unsigned),
            Some(params) => match params.iter().find(|p| p.is_called(n)) {
                Some(p) => of(p),
                None => return Err(ArgError::Param(params.clone())),
            },
        },
    };
    Ok(if arch.is_compat32() {
        Slot {
            width: Width::U32,
            bits: slot.bits.min(32),
            ..slot
        }
    } else {
        slot
    })
}

/// A value read at a parameter of `bits` bits: negative values are sign-extended to 64 bits,
/// or taken as their low `bits` bits for narrower parameters. A value written in its 64-bit
/// form (`0xffff_ffff_ffff_ff9c`, `AT_FDCWD`) fits a narrower parameter when it is the sign
/// extension of a negative value of that width, and is taken as its low bits too.
/// `None` when the value cannot be represented (no truncation).
pub(crate) fn fit(v: i128, bits: u8) -> Option<u64> {
    if bits >= 64 {
        return if v < 0 {
            i64::try_from(v).ok().map(|x| x as u64)
        } else {
            u64::try_from(v).ok()
        };
    }
    let mask = bits_mask(bits);
    let min = -(1i128 << (bits - 1));
    if (0..=i128::from(mask)).contains(&v) {
        return u64::try_from(v).ok();
    }
    if (min..0).contains(&v) {
        return i64::try_from(v).ok().map(|x| x as u64 & mask);
    }
    if sign_extended(v, bits) {
        return u64::try_from(v).ok().map(|x| x & mask);
    }
    None
}

/// Whether `v` is a 64-bit value above a `bits`-bit parameter's range that is the sign
/// extension of a negative `bits`-bit value (`0xffff_ffff_ffff_ffff` for a 32-bit -1).
pub(crate) fn sign_extended(v: i128, bits: u8) -> bool {
    let Ok(x) = u64::try_from(v) else {
        return false;
    };
    bits < 64 && x > bits_mask(bits) && x >= u64::MAX << (bits - 1)
}

/// The low `bits` bits set.
pub(crate) fn bits_mask(bits: u8) -> u64 {
    match bits {
        64.. => u64::MAX,
        b => (1u64 << b) - 1,
    }
}

/// Whether a guard holds for a call on `arch` in `ctx`.
pub(crate) fn guard(g: &Guard, ctx: &Context, arch: Arch) -> bool {
    match g {
        Guard::Cap(caps) => {
            let have = ctx.caps.unwrap_or(CapSet::EMPTY);
            caps.iter().all(|(_, c)| have.contains(*c))
        }
        Guard::Arch(names) => names.iter().any(|n| n.resolve() == Some(arch)),
        Guard::Kernel { below, version } => match ctx.kernel {
            None => !below,
            Some(k) => (k < *version) == *below,
        },
        Guard::And(v) => v.iter().all(|g| guard(g, ctx, arch)),
        Guard::Or(v) => v.iter().any(|g| guard(g, ctx, arch)),
        Guard::Not(g) => !guard(g, ctx, arch),
    }
}

/// A guard's value when only the ABI is known: `None` if it depends on capabilities or kernel.
pub(crate) fn guard_on_arch(g: &Guard, arch: Arch) -> Option<bool> {
    match g {
        Guard::Cap(_) | Guard::Kernel { .. } => None,
        Guard::Arch(names) => Some(names.iter().any(|n| n.resolve() == Some(arch))),
        Guard::And(v) => {
            let r: Vec<_> = v.iter().map(|g| guard_on_arch(g, arch)).collect();
            if r.contains(&Some(false)) {
                Some(false)
            } else if r.iter().all(|x| *x == Some(true)) {
                Some(true)
            } else {
                None
            }
        }
        Guard::Or(v) => {
            let r: Vec<_> = v.iter().map(|g| guard_on_arch(g, arch)).collect();
            if r.contains(&Some(true)) {
                Some(true)
            } else if r.iter().all(|x| *x == Some(false)) {
                Some(false)
            } else {
                None
            }
        }
        Guard::Not(g) => guard_on_arch(g, arch).map(|b| !b),
    }
}

/// Visits every test of a condition.
pub(crate) fn tests<'a>(c: &'a Condition, out: &mut Vec<&'a Condition>) {
    match c {
        Condition::Test { .. } => out.push(c),
        Condition::And(v) | Condition::Or(v) => v.iter().for_each(|c| tests(c, out)),
        Condition::Not(c) => tests(c, out),
    }
}

/// One argument test of a rule as it applies to one covered syscall on one accepted ABI.
struct Use<'a> {
    rule: usize,
    origin: &'a str,
    arch: Arch,
    name: &'static str,
    arg: &'a ArgRef,
    /// The mask and the compared values.
    values: Vec<&'a Value>,
}

/// Calls `f` for every argument test of every rule, per accepted ABI (where the rule's guard
/// does not rule it out) and covered syscall the ABI has; stops at the first error.
fn each_use<E>(policy: &Policy, mut f: impl FnMut(Use<'_>) -> Result<(), E>) -> Result<(), E> {
    for (i, rule) in policy.rules.iter().enumerate() {
        let Some(cond) = &rule.condition else {
            continue;
        };
        let mut ts = Vec::new();
        tests(&cond.cond, &mut ts);
        for &arch in &policy.arches {
            if rule.guard.as_ref().and_then(|g| guard_on_arch(g, arch)) == Some(false) {
                continue;
            }
            for &name in &policy.covers[i] {
                if arch.by_name(name).is_none() {
                    continue;
                }
                for t in &ts {
                    let Condition::Test { arg: a, mask, test } = t else {
                        continue;
                    };
                    let mut values: Vec<&Value> = mask.iter().collect();
                    match test {
                        Test::Cmp(_, v) => values.push(v),
                        Test::In(vs) | Test::NotIn(vs) => values.extend(vs),
                        Test::NonZero => {}
                    }
                    f(Use {
                        rule: i,
                        origin: &rule.location.origin,
                        arch,
                        name,
                        arg: a,
                        values,
                    })?;
                }
            }
        }
    }
    Ok(())
}

/// `fd` or `arg0`, as written.
fn shown(a: &ArgRef) -> String {
    match &a.kind {
        ArgKind::Index(i) => format!("arg{i}"),
        ArgKind::Name(n) => n.clone(),
    }
}

/// Checks that every condition resolves on every accepted ABI where its syscalls exist: named
/// parameters exist, `argN` is within the signature, values fit narrow parameters.
pub(crate) fn check(policy: &Policy) -> Result<(), ParseError> {
    each_use(policy, |u| {
        let (arch, name) = (u.arch, u.name);
        let slot = arg(arch, name, &u.arg.kind).map_err(|e| {
            let kind = match e {
                ArgError::Unsigned => ErrorKind::NoSignature {
                    syscall: name.into(),
                    arch: arch.to_string(),
                },
                ArgError::Param(params) => ErrorKind::UnknownParameter {
                    syscall: name.into(),
                    param: shown(u.arg),
                    arch: arch.to_string(),
                    params: if params.is_empty() {
                        "none".into()
                    } else {
                        params.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
                    },
                },
                ArgError::Index(count) => ErrorKind::NoSuchArg {
                    syscall: name.into(),
                    count,
                    param: shown(u.arg),
                    arch: arch.to_string(),
                },
            };
            ParseError::at(u.origin, u.arg.span, kind)
        })?;
        for v in u.values {
            if fit(v.number(), slot.bits).is_none() {
                return Err(ParseError::at(
                    u.origin,
                    v.span,
                    ErrorKind::ValueTooWide {
                        value: v.to_string(),
                        bits: slot.bits,
                        ignored: 64 - slot.bits,
                        param: shown(u.arg),
                        syscall: name.into(),
                        arch: arch.to_string(),
                    },
                ));
            }
        }
        Ok(())
    })
}

/// A value written in its 64-bit form for a narrower parameter (`fd == 0xffffffffffffffff`):
/// accepted, since it is the sign extension of a value of the parameter's width, and compared
/// on the parameter's low bits, as the kernel reads it. `lint` reports it (`wide-value`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WideValue {
    /// The rule's index in [`Policy::rules`].
    pub rule: usize,
    /// Where the value starts.
    pub span: crate::Span,
    /// The value as written.
    pub value: String,
    /// The parameter as written (`fd`, `arg0`).
    pub param: String,
    /// The syscall, on the first ABI found.
    pub syscall: &'static str,
    /// Every accepted ABI where the parameter is narrower than the value.
    pub arches: Vec<Arch>,
    /// How many bits the kernel reads.
    pub bits: u8,
    /// What the filter compares: the value's low `bits` bits.
    pub compared: u64,
}

/// Every [`WideValue`] of a policy that [`check`] accepted, in rule order.
pub(crate) fn wide_values(policy: &Policy) -> Vec<WideValue> {
    let mut out: Vec<WideValue> = Vec::new();
    let Ok(()) = each_use(policy, |u| -> Result<(), std::convert::Infallible> {
        let Ok(slot) = arg(u.arch, u.name, &u.arg.kind) else {
            return Ok(());
        };
        for v in u.values {
            // Only literals: constants such as AT_FDCWD are stored sign-extended.
            let literal = v.terms.iter().any(
                |t| matches!(t, crate::model::Term::Number(n) if *n > i128::from(slot.mask())),
            );
            if !literal || !sign_extended(v.number(), slot.bits) {
                continue;
            }
            if let Some(w) = out
                .iter_mut()
                .find(|w| w.rule == u.rule && w.span == v.span)
            {
                if !w.arches.contains(&u.arch) {
                    w.arches.push(u.arch);
                }
                continue;
            }
            out.push(WideValue {
                rule: u.rule,
                span: v.span,
                value: v.to_string(),
                param: shown(u.arg),
                syscall: u.name,
                arches: vec![u.arch],
                bits: slot.bits,
                compared: fit(v.number(), slot.bits).unwrap_or(0),
            });
        }
        Ok(())
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_widths() {
        assert_eq!(fit(-1, 64), Some(u64::MAX));
        assert_eq!(fit(-1, 32), Some(0xffff_ffff));
        assert_eq!(fit(0x1_0000_0000, 32), None);
        assert_eq!(fit(0xffff_ffff, 32), Some(0xffff_ffff));
        assert_eq!(fit(-0x8000_0001, 32), None);
        assert_eq!(fit(i128::from(u64::MAX), 64), Some(u64::MAX));
        assert_eq!(fit(i128::from(u64::MAX) + 1, 64), None);
    }

    /// `AT_FDCWD` is stored sign-extended (0xffff_ffff_ffff_ff9c); a 32-bit `dirfd` compares its
    /// low word, as the kernel reads the `int`.
    #[test]
    fn sign_extended_values_fit_narrow_parameters() {
        let at_fdcwd = i128::from(0xffff_ffff_ffff_ff9c_u64);
        assert_eq!(fit(at_fdcwd, 32), Some(0xffff_ff9c));
        assert!(sign_extended(at_fdcwd, 32));
        assert_eq!(fit(i128::from(u64::MAX), 32), Some(0xffff_ffff));
        assert_eq!(fit(0xffff_ffff_7fff_ffff, 32), None, "not a sign extension");
        assert_eq!(fit(0xffff_0000_0000_0000, 32), None);
        assert!(!sign_extended(0xffff_ffff, 32));
        assert!(!sign_extended(-1, 32));
    }

    #[test]
    fn wide_literals_are_found_constants_are_not() {
        let p = Policy::parse(
            "default allow\ndeny write if fd == 0xffffffffffffffff\n\
             deny openat if dirfd == AT_FDCWD\ndeny read if arg0 == -1\n",
            "t.moat",
        )
        .unwrap();
        let w = wide_values(&p);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(
            (w[0].rule, w[0].param.as_str(), w[0].syscall),
            (0, "fd", "write")
        );
        assert_eq!((w[0].bits, w[0].compared), (32, 0xffff_ffff));
        assert_eq!((w[0].span.line, w[0].span.col), (2, 21));
    }

    #[test]
    fn sixteen_bit_parameters() {
        assert_eq!(fit(0o7777, 16), Some(0o7777));
        assert_eq!(fit(0x1_0000, 16), None);
        assert_eq!(fit(-1, 16), Some(0xffff));
        assert_eq!(fit(i128::from(u64::MAX), 16), Some(0xffff));
        assert_eq!(bits_mask(16), 0xffff);
        let s = arg(Arch::X86_64, "openat", &ArgKind::Name("mode".into())).ok();
        assert_eq!(s.map(Slot::mask), Some(0xffff));
        let s = arg(Arch::X86_64, "write", &ArgKind::Name("fd".into())).ok();
        assert_eq!(
            s.map(|s| (s.index, s.width, s.bits)),
            Some((0, Width::U32, 32))
        );
        let s = arg(Arch::X86, "write", &ArgKind::Index(2)).ok();
        assert_eq!(s.map(|s| s.bits), Some(32), "size_t on i386");
        let s = arg(Arch::X86_64, "write", &ArgKind::Index(2)).ok();
        assert_eq!(s.map(|s| s.bits), Some(64), "size_t on x86_64");
    }
}
