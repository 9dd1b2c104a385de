//! The reference evaluator: what a policy means, written for clarity, not speed.
//!
//! It shares name resolution with the lowering ([`crate::resolve`]) but not the logic: it reads
//! the rules and the raw arguments directly.

use moat_syscalls::{Arch, Multiplexer};

use crate::model::{Condition, Test};
use crate::resolve;
use crate::{Context, Decider, Policy, Verdict};

/// The syscall name through which `mux` is reached.
pub(crate) fn mux_name(mux: Multiplexer) -> &'static str {
    match mux {
        Multiplexer::Socketcall => "socketcall",
        Multiplexer::Ipc => "ipc",
    }
}

/// The call number a multiplexer's first argument selects: socketcall's `int call` (low 32 bits),
/// ipc's `call & 0xffff` (the high 16 bits carry an ABI version, ipc/syscall.c `ksys_ipc`).
pub(crate) fn mux_call(mux: Multiplexer, arg0: u64) -> u64 {
    match mux {
        Multiplexer::Socketcall => arg0 & 0xffff_ffff,
        Multiplexer::Ipc => arg0 & 0xffff,
    }
}

pub(crate) fn evaluate(
    p: &Policy,
    ctx: &Context,
    audit_arch: u32,
    nr: u32,
    args: [u64; 6],
) -> Verdict {
    // 1. The ABI: x32 numbers on x86_64 are their own ABI.
    let Some(arch) = Arch::of(audit_arch, nr).filter(|a| p.arches.contains(a)) else {
        return Verdict {
            action: p.badarch.action,
            decided_by: Decider::BadArch,
        };
    };
    // 2. The syscall: numbers outside the table, or newer than `kernel VERSION` and not named
    //    by any rule, are unknown.
    let unknown = Verdict {
        action: p.unknown.action,
        decided_by: Decider::Unknown,
    };
    let Some(sc) = arch.by_nr(nr) else {
        return unknown;
    };
    if let Some((cut, _)) = &p.kernel
        && sc.since > *cut
        && !p.explicit.contains(sc.name)
    {
        return unknown;
    }
    // 3. The last rule that covers the call, whose guard holds and whose condition holds.
    let mut verdict = Verdict {
        action: p.default.action,
        decided_by: Decider::Default,
    };
    for (index, rule) in p.rules.iter().enumerate() {
        if let Some(g) = &rule.guard
            && !resolve::guard(g, ctx, arch)
        {
            continue;
        }
        if rule_matches(p, index, arch, sc.name, &args) {
            verdict = Verdict {
                action: rule.action,
                decided_by: Decider::Rule {
                    index,
                    span: rule.location.span,
                },
            };
        }
    }
    verdict
}

fn rule_matches(p: &Policy, index: usize, arch: Arch, name: &str, args: &[u64; 6]) -> bool {
    let rule = &p.rules[index];
    let covers = &p.covers[index];
    // Directly: the rule names this syscall (or a group or base name covering it).
    if crate::resolve::contains(covers, name) {
        let holds = match &rule.condition {
            None => true,
            Some(c) => cond_holds(&c.cond, arch, name, args) != c.unless,
        };
        if holds {
            return true;
        }
    }
    // Through a multiplexer: `name` is socketcall/ipc and the rule covers a call it reaches.
    // The real arguments sit behind a pointer (socketcall) or are shifted (ipc), so a
    // conditional rule counts as matching when it stops the call and as not matching when it
    // lets it run: never more permissive than the policy.
    if name != "socketcall" && name != "ipc" {
        return false;
    }
    for &covered in covers {
        let Some(m) = moat_syscalls::multiplexed(arch, covered) else {
            continue;
        };
        if mux_name(m.via) != name || mux_call(m.via, args[0]) != u64::from(m.call) {
            continue;
        }
        if rule.condition.is_none() || !rule.action.runs_call() {
            return true;
        }
    }
    false
}

fn cond_holds(c: &Condition, arch: Arch, name: &str, args: &[u64; 6]) -> bool {
    match c {
        Condition::And(v) => v.iter().all(|c| cond_holds(c, arch, name, args)),
        Condition::Or(v) => v.iter().any(|c| cond_holds(c, arch, name, args)),
        Condition::Not(c) => !cond_holds(c, arch, name, args),
        Condition::Test { arg, mask, test } => {
            // `resolve::check` proved at parse time that the argument resolves and every value
            // fits on every accepted ABI where this syscall exists.
            let Ok(slot) = resolve::arg(arch, name, &arg.kind) else {
                return false;
            };
            let raw = args.get(usize::from(slot.index)).copied().unwrap_or(0);
            // The kernel only looks at the low 32 (or 16) bits of a narrower argument.
            let mut v = raw & slot.mask();
            if let Some(m) = mask {
                v &= resolve::fit(m.number(), slot.bits).unwrap_or(0);
            }
            let value = |x: &crate::model::Value| resolve::fit(x.number(), slot.bits);
            match test {
                Test::NonZero => v != 0,
                Test::Cmp(op, x) => value(x).is_some_and(|x| op.apply(v, x)),
                Test::In(xs) => xs.iter().any(|x| value(x) == Some(v)),
                Test::NotIn(xs) => !xs.iter().any(|x| value(x) == Some(v)),
            }
        }
    }
}
