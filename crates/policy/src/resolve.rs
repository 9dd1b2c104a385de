//! Name resolution per ABI: what a rule covers, where a parameter lives, how wide it is, and
//! whether a value fits it. Shared by the checks at parse time, the evaluator and the lowering.

use std::collections::HashMap;
use std::sync::OnceLock;

use moat_syscalls::{Arch, Param, Width};

use crate::error::{ErrorKind, ParseError};
use crate::model::{ArgKind, Condition, Guard, Rule, TargetKind, Test, Value};
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

/// Where an argument lives on `arch` for syscall `name`, and its width. `argN` without a
/// signature is 64-bit; on 32-bit ABIs (x86, arm) every argument is 32-bit.
pub(crate) fn arg(arch: Arch, name: &str, kind: &ArgKind) -> Result<(u8, Width), ArgError> {
    let sig = signature(arch, name);
    let (index, width) = match kind {
        ArgKind::Index(i) => match &sig {
            None => (*i, Width::U64),
            Some(params) => match params.iter().find(|p| p.index == *i) {
                Some(p) => (*i, p.width),
                None if params.iter().all(|p| p.index < *i) => {
                    return Err(ArgError::Index(params.len()));
                }
                None => (*i, Width::U64),
            },
        },
        ArgKind::Name(n) => match &sig {
            None => return Err(ArgError::Unsigned),
            Some(params) => match params.iter().find(|p| p.name == n) {
                Some(p) => (p.index, p.width),
                None => return Err(ArgError::Param(params.clone())),
            },
        },
    };
    Ok((
        index,
        if arch.is_compat32() {
            Width::U32
        } else {
            width
        },
    ))
}

/// A value read at a width: negative values are sign-extended to 64 bits, or taken as their low
/// 32 bits for 32-bit arguments. `None` when the value cannot be represented (no truncation).
pub(crate) fn fit(v: i128, width: Width) -> Option<u64> {
    match width {
        Width::U64 => {
            if v < 0 {
                i64::try_from(v).ok().map(|x| x as u64)
            } else {
                u64::try_from(v).ok()
            }
        }
        Width::U32 => {
            if v < 0 {
                i32::try_from(v).ok().map(|x| u64::from(x as u32))
            } else {
                u32::try_from(v).ok().map(u64::from)
            }
        }
    }
}

/// The width mask: the bits of an argument the kernel looks at.
pub(crate) fn width_mask(width: Width) -> u64 {
    match width {
        Width::U32 => 0xffff_ffff,
        Width::U64 => u64::MAX,
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

/// Checks that every condition resolves on every accepted ABI where its syscalls exist: named
/// parameters exist, `argN` is within the signature, values fit 32-bit parameters.
pub(crate) fn check(policy: &Policy) -> Result<(), ParseError> {
    for (i, rule) in policy.rules.iter().enumerate() {
        let Some(cond) = &rule.condition else {
            continue;
        };
        let mut ts = Vec::new();
        tests(&cond.cond, &mut ts);
        let origin = &rule.location.origin;
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
                    let shown = match &a.kind {
                        ArgKind::Index(i) => format!("arg{i}"),
                        ArgKind::Name(n) => n.clone(),
                    };
                    let (_, width) = arg(arch, name, &a.kind).map_err(|e| {
                        let kind = match e {
                            ArgError::Unsigned => ErrorKind::NoSignature {
                                syscall: name.into(),
                                arch: arch.to_string(),
                            },
                            ArgError::Param(params) => ErrorKind::UnknownParameter {
                                syscall: name.into(),
                                param: shown.clone(),
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
                                param: shown.clone(),
                                arch: arch.to_string(),
                            },
                        };
                        ParseError::at(origin, a.span, kind)
                    })?;
                    let mut values: Vec<&Value> = mask.iter().collect();
                    match test {
                        Test::Cmp(_, v) => values.push(v),
                        Test::In(vs) | Test::NotIn(vs) => values.extend(vs),
                        Test::NonZero => {}
                    }
                    for v in values {
                        if fit(v.number(), width).is_none() {
                            return Err(ParseError::at(
                                origin,
                                v.span,
                                ErrorKind::ValueTooWide {
                                    value: v.to_string(),
                                    param: shown.clone(),
                                    syscall: name.into(),
                                    arch: arch.to_string(),
                                },
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_widths() {
        assert_eq!(fit(-1, Width::U64), Some(u64::MAX));
        assert_eq!(fit(-1, Width::U32), Some(0xffff_ffff));
        assert_eq!(fit(0x1_0000_0000, Width::U32), None);
        assert_eq!(fit(0xffff_ffff, Width::U32), Some(0xffff_ffff));
        assert_eq!(fit(-0x8000_0001, Width::U32), None);
        assert_eq!(fit(i128::from(u64::MAX), Width::U64), Some(u64::MAX));
        assert_eq!(fit(i128::from(u64::MAX) + 1, Width::U64), None);
    }
}
