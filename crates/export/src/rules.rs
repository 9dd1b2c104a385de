//! Policy → libseccomp rules (Docker/OCI JSON's `syscalls` array).
//!
//! The JSON exporters work from [`Policy::lower`], so every guard, twin, multiplexer and width is
//! already resolved. For each syscall name the exporter computes, per action, the exact set of
//! argument values that lead to it (the last matching rule decides) and writes that set as
//! libseccomp rules: one comparison per argument index per rule, every rule of one syscall
//! disjoint from the others, so libseccomp's own precedence never matters. `int` parameters are
//! compared on their low 32 bits (as the kernel reads them) with `SCMP_CMP_MASKED_EQ` masks that
//! leave the upper half out; ranges over them become a few masked prefix blocks.

use std::collections::{BTreeMap, BTreeSet};

use moat_bpf::consts::action_only;
use moat_policy::model::Guard;
use moat_policy::{Action, CmpOp, Cond, Context, Policy, Width};
use moat_syscalls::{Arch, KernelVersion};

use crate::Extras;
use crate::error::ExportError;
use crate::import::arch_token;
use crate::seccomp::{Arg, Entry, Filter, ScmpAction, ScmpOp, Seccomp};
use crate::target::Loss;

/// What one syscall does on one ABI: rules in order (the last match decides), else `fallback`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) rules: Vec<(Cond, Action)>,
    pub(crate) fallback: Action,
}

impl Decision {
    pub(crate) fn new(rules: &[(Cond, Action)], fallback: Action) -> Decision {
        // Rules before the last unconditional one never decide.
        let start = rules
            .iter()
            .rposition(|(c, _)| *c == Cond::True)
            .map_or(0, |i| i + 1);
        let fallback = rules
            .iter()
            .rev()
            .find(|(c, _)| *c == Cond::True)
            .map_or(fallback, |(_, a)| *a);
        let rules: Vec<_> = rules[start..]
            .iter()
            .filter(|(c, _)| *c != Cond::False)
            .cloned()
            .collect();
        Decision { rules, fallback }
    }

    /// Every action the decision reaches, each once, in the order written (the fallback last).
    pub(crate) fn actions(&self) -> Vec<Action> {
        let mut v: Vec<Action> = Vec::new();
        for a in self.rules.iter().map(|(_, a)| *a).chain([self.fallback]) {
            if !v.contains(&a) {
                v.push(a);
            }
        }
        v
    }

    /// The condition under which the decision is `a`.
    fn region(&self, a: Action) -> Cond {
        let mut parts = Vec::new();
        for (i, (c, ai)) in self.rules.iter().enumerate() {
            if *ai != a {
                continue;
            }
            let mut conj = vec![c.clone()];
            for (cj, aj) in &self.rules[i + 1..] {
                if *aj != a {
                    conj.push(Cond::negate(cj.clone()));
                }
            }
            parts.push(Cond::and(conj));
        }
        if self.fallback == a {
            let conj: Vec<Cond> = self
                .rules
                .iter()
                .filter(|(_, aj)| *aj != a)
                .map(|(c, _)| Cond::negate(c.clone()))
                .collect();
            parts.push(Cond::and(conj));
        }
        Cond::or(parts)
    }
}

pub(crate) fn scmp_action(a: Action) -> (ScmpAction, Option<u32>) {
    match a {
        Action::Allow => (ScmpAction::Allow, None),
        Action::Errno(e) => (ScmpAction::Errno, Some(u32::from(e))),
        Action::KillProcess => (ScmpAction::KillProcess, None),
        Action::KillThread => (ScmpAction::KillThread, None),
        Action::Trap(_) => (ScmpAction::Trap, None),
        Action::Log => (ScmpAction::Log, None),
        Action::Trace(d) => (ScmpAction::Trace, Some(u32::from(d))),
        Action::Notify => (ScmpAction::Notify, None),
    }
}

/// A constraint on one argument value (already masked to its width).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Atom {
    /// `value & mask == bits`.
    Masked { mask: u64, bits: u64 },
    /// `lo <= value <= hi`.
    Range { lo: u64, hi: u64 },
}

/// One conjunct: per argument index, its width and one atom.
type Conj = BTreeMap<u8, (Width, Atom)>;

const MAX_CONJ: usize = 256;

fn wmax(w: Width) -> u64 {
    match w {
        Width::U32 => 0xffff_ffff,
        Width::U64 => u64::MAX,
    }
}

/// Alternatives (ORed) for one literal.
fn literal(c: &moat_policy::Cmp, negated: bool) -> Option<Vec<Atom>> {
    let max = wmax(c.width);
    let mask = c.mask & max;
    let v = c.value & max;
    let op = if negated {
        match c.op {
            CmpOp::Eq => CmpOp::Ne,
            CmpOp::Ne => CmpOp::Eq,
            CmpOp::Lt => CmpOp::Ge,
            CmpOp::Le => CmpOp::Gt,
            CmpOp::Gt => CmpOp::Le,
            CmpOp::Ge => CmpOp::Lt,
        }
    } else {
        c.op
    };
    if mask != max {
        // Masked comparisons: only == and != are expressible (!= as the other masked values, when
        // the mask has at most 6 bits).
        return match op {
            CmpOp::Eq => Some(if v & !mask != 0 {
                Vec::new()
            } else {
                vec![Atom::Masked { mask, bits: v }]
            }),
            // x & m != v always holds when v has bits outside the mask.
            CmpOp::Ne if v & !mask != 0 => Some(vec![Atom::Range { lo: 0, hi: max }]),
            // x & m != v: some bit of the mask differs.
            CmpOp::Ne => Some(
                (0..64)
                    .map(|b| 1u64 << b)
                    .filter(|bit| mask & bit != 0)
                    .map(|bit| Atom::Masked {
                        mask: bit,
                        bits: (v & bit) ^ bit,
                    })
                    .collect(),
            ),
            _ => None,
        };
    }
    let range = |lo: u64, hi: u64| {
        if lo <= hi {
            vec![Atom::Range { lo, hi }]
        } else {
            Vec::new()
        }
    };
    Some(match op {
        CmpOp::Eq => vec![Atom::Masked { mask: max, bits: v }],
        CmpOp::Ne => {
            let mut out = Vec::new();
            if v > 0 {
                out.push(Atom::Range { lo: 0, hi: v - 1 });
            }
            if v < max {
                out.push(Atom::Range { lo: v + 1, hi: max });
            }
            out
        }
        CmpOp::Lt => {
            if v == 0 {
                Vec::new()
            } else {
                range(0, v - 1)
            }
        }
        CmpOp::Le => range(0, v),
        CmpOp::Gt => {
            if v >= max {
                Vec::new()
            } else {
                range(v + 1, max)
            }
        }
        CmpOp::Ge => range(v, max),
    })
}

/// Disjunctive normal form of a condition: a list of conjuncts; `None` when it cannot be
/// expressed (too many conjuncts, or a comparison libseccomp has no form for).
fn dnf(c: &Cond, negated: bool) -> Option<Vec<Conj>> {
    match (c, negated) {
        (Cond::True, false) | (Cond::False, true) => Some(vec![Conj::new()]),
        (Cond::False, false) | (Cond::True, true) => Some(Vec::new()),
        (Cond::Not(inner), n) => dnf(inner, !n),
        (Cond::Cmp(cmp), n) => {
            let alts = literal(cmp, n)?;
            Some(
                alts.into_iter()
                    .map(|a| Conj::from([(cmp.arg, (cmp.width, a))]))
                    .collect(),
            )
        }
        (Cond::And(parts), false) | (Cond::Or(parts), true) => {
            let mut acc = vec![Conj::new()];
            for p in parts {
                let d = dnf(p, negated)?;
                let mut next = Vec::new();
                for a in &acc {
                    for b in &d {
                        next.extend(merge(a, b));
                    }
                }
                if next.len() > MAX_CONJ {
                    return None;
                }
                acc = next;
            }
            Some(acc)
        }
        (Cond::Or(parts), false) | (Cond::And(parts), true) => {
            let mut acc = Vec::new();
            for p in parts {
                acc.extend(dnf(p, negated)?);
                if acc.len() > MAX_CONJ {
                    return None;
                }
            }
            Some(acc)
        }
    }
}

/// The conjunction of two conjuncts, as alternatives (none when it is empty). Two atoms on one
/// index are intersected; a range meeting a mask is split into masked prefix blocks first.
fn merge(a: &Conj, b: &Conj) -> Vec<Conj> {
    let mut acc = vec![a.clone()];
    for (k, (w, atom)) in b {
        let mut next = Vec::new();
        for out in acc {
            match out.get(k) {
                None => {
                    let mut o = out.clone();
                    o.insert(*k, (*w, *atom));
                    next.push(o);
                }
                Some((w0, other)) => {
                    let w = if *w0 == Width::U32 || *w == Width::U32 {
                        Width::U32
                    } else {
                        Width::U64
                    };
                    for m in intersect(*other, *atom, wmax(w)) {
                        let mut o = out.clone();
                        o.insert(*k, (w, m));
                        next.push(o);
                    }
                }
            }
        }
        acc = next;
    }
    acc
}

fn intersect(a: Atom, b: Atom, max: u64) -> Vec<Atom> {
    match (a, b) {
        (Atom::Range { lo: l1, hi: h1 }, Atom::Range { lo: l2, hi: h2 }) => {
            let (lo, hi) = (l1.max(l2), h1.min(h2));
            if lo <= hi {
                vec![Atom::Range { lo, hi }]
            } else {
                Vec::new()
            }
        }
        (Atom::Masked { mask: m1, bits: b1 }, Atom::Masked { mask: m2, bits: b2 }) => {
            if (b1 ^ b2) & m1 & m2 == 0 {
                vec![Atom::Masked {
                    mask: m1 | m2,
                    bits: b1 | b2,
                }]
            } else {
                Vec::new()
            }
        }
        (Atom::Range { lo, hi }, Atom::Masked { mask, bits })
        | (Atom::Masked { mask, bits }, Atom::Range { lo, hi }) => blocks(lo, hi, max)
            .into_iter()
            .flat_map(|(m, b)| {
                intersect(
                    Atom::Masked { mask: m, bits: b },
                    Atom::Masked { mask, bits },
                    max,
                )
            })
            .collect(),
    }
}

/// `[lo, hi]` as masked prefix blocks over `bits` bits.
fn blocks(lo: u64, hi: u64, max: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut cur = lo;
    loop {
        // Largest aligned block starting at cur and ending at or before hi.
        let mut size_log = if cur == 0 { 64 } else { cur.trailing_zeros() };
        while size_log > 0 {
            let span = if size_log >= 64 {
                u64::MAX
            } else {
                (1u64 << size_log) - 1
            };
            if cur.checked_add(span).is_some_and(|end| end <= hi) {
                break;
            }
            size_log -= 1;
        }
        let span = if size_log >= 64 {
            u64::MAX
        } else {
            (1u64 << size_log) - 1
        };
        out.push((max & !span, cur));
        match cur.checked_add(span).and_then(|e| e.checked_add(1)) {
            Some(next) if next <= hi && next != 0 => cur = next,
            _ => break,
        }
    }
    out
}

/// The libseccomp comparisons (alternatives) for one atom.
fn atom_args(index: u8, w: Width, atom: Atom) -> Vec<Arg> {
    let max = wmax(w);
    match atom {
        Atom::Masked { mask, bits } => {
            if w == Width::U64 && mask == u64::MAX {
                vec![Arg {
                    index,
                    value: bits,
                    value_two: 0,
                    op: ScmpOp::Eq,
                }]
            } else {
                vec![Arg {
                    index,
                    value: mask,
                    value_two: bits,
                    op: ScmpOp::MaskedEq,
                }]
            }
        }
        Atom::Range { lo, hi } => {
            if lo == 0 && hi == max {
                return vec![Arg {
                    index,
                    value: 0,
                    value_two: 0,
                    op: ScmpOp::MaskedEq,
                }];
            }
            if w == Width::U64 {
                if lo == 0 {
                    return vec![Arg {
                        index,
                        value: hi,
                        value_two: 0,
                        op: ScmpOp::Le,
                    }];
                }
                if hi == max {
                    return vec![Arg {
                        index,
                        value: lo,
                        value_two: 0,
                        op: ScmpOp::Ge,
                    }];
                }
            }
            blocks(lo, hi, max)
                .into_iter()
                .map(|(mask, bits)| {
                    if w == Width::U64 && mask == u64::MAX {
                        Arg {
                            index,
                            value: bits,
                            value_two: 0,
                            op: ScmpOp::Eq,
                        }
                    } else {
                        Arg {
                            index,
                            value: mask,
                            value_two: bits,
                            op: ScmpOp::MaskedEq,
                        }
                    }
                })
                .collect()
        }
    }
}

/// Every rule (list of comparisons) for a region; `None` when it is not expressible in at most
/// `limit` rules.
fn region_rules(c: &Cond, limit: usize) -> Option<Vec<Vec<Arg>>> {
    let conjs = dnf(c, false)?;
    let mut out: Vec<Vec<Arg>> = Vec::new();
    for conj in conjs {
        let mut acc: Vec<Vec<Arg>> = vec![Vec::new()];
        for (index, (w, atom)) in conj {
            let alts = atom_args(index, w, atom);
            let mut next = Vec::new();
            for a in &acc {
                for alt in &alts {
                    let mut v = a.clone();
                    if !(alt.op == ScmpOp::MaskedEq && alt.value == 0) {
                        v.push(*alt);
                    }
                    next.push(v);
                }
            }
            acc = next;
            if acc.len() > limit {
                return None;
            }
        }
        out.extend(acc);
        if out.len() > limit {
            return None;
        }
    }
    Some(out)
}

/// Translates a policy into a Docker/OCI seccomp section, with the losses. `when` guards are
/// resolved for `ctx`.
pub fn to_seccomp(
    policy: &Policy,
    ctx: &Context,
    extras: &Extras,
) -> Result<(Seccomp, Vec<Loss>), ExportError> {
    to_seccomp_with(policy, ctx, extras, false)
}

/// What one guard context makes of a policy: the actions and, per syscall name, its entries.
struct World {
    oci_default: Action,
    arches: Vec<Arch>,
    entries: BTreeMap<&'static str, NameEntries>,
    losses: Vec<Loss>,
}

#[allow(clippy::too_many_lines)]
fn world(policy: &Policy, ctx: &Context) -> Result<World, ExportError> {
    let lowered = policy.lower(ctx)?;
    let mut losses = Vec::new();
    let Some(first) = lowered.abis.first() else {
        return Err(ExportError::NoAbi);
    };
    let default = first.default;
    let unknown = first.unknown;

    let per_name = per_name(&lowered);

    // The OCI default: the policy's, unless it lets calls run while unknown numbers are refused;
    // then the unknown action, with every known call listed.
    let oci_default = if default.runs_call() && !unknown.runs_call() {
        unknown
    } else {
        default
    };
    if unknown != oci_default {
        losses.push(Loss(format!(
            "numbers moat does not know get the default action ({}) instead of `unknown {unknown}`: the format has one action for both{}",
            oci_default,
            if oci_default.no_looser_than(unknown) { " (no looser)" } else { "" }
        )));
    }
    let badarch = lowered.badarch;
    if !matches!(badarch, Action::KillProcess | Action::KillThread) {
        losses.push(Loss(format!(
            "other ABIs are killed (the runtime's bad-architecture action) instead of `badarch {badarch}`"
        )));
    }

    // Pass 1: every name's merged decision; pass 2 (below) builds the entries.
    let mut decisions: BTreeMap<&'static str, Decision> = BTreeMap::new();
    for (name, abis) in &per_name {
        let (arch0, d) = abis
            .iter()
            .find(|(a, _)| !a.is_compat32())
            .unwrap_or(&abis[0]);
        let differs: Vec<Arch> = abis
            .iter()
            .filter(|(_, o)| !same_modulo_width(o, d))
            .map(|(a, _)| *a)
            .collect();
        let mut decision = d.clone();
        if !differs.is_empty() {
            // The format cannot tell ABIs apart: the most restrictive action any ABI reaches.
            let worst =
                Action::strictest(abis.iter().flat_map(|(_, o)| o.actions())).unwrap_or(default);
            losses.push(Loss(format!(
                "{name}: the policy treats it differently on {} than on {arch0}; the format cannot tell ABIs apart, so it gets `{worst}` everywhere",
                differs.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
            )));
            decision = Decision::new(&[], worst);
        }
        if decision
            .actions()
            .iter()
            .any(|a| matches!(a, Action::Trap(d) if *d != 0))
        {
            losses.push(Loss(format!(
                "{name}: `trap N` loses its value N (libseccomp's trap carries none)"
            )));
        }
        decisions.insert(name, decision);
    }
    let mut entries: BTreeMap<&'static str, NameEntries> = BTreeMap::new();
    for (name, d) in &decisions {
        if matches!(*name, "socketcall" | "ipc") {
            continue;
        }
        entries.insert(
            name,
            name_entries(name, d, &[], oci_default, default, &mut losses),
        );
    }
    // libseccomp applies a rule on a multiplexed call (`socket`, `shmat`) on ABIs that reach it
    // through socketcall/ipc (x86, ppc64le, s390x) to `socketcall(call)` as well, with the rule's
    // action and without its argument conditions. That is exact when the multiplexed call's rules
    // have one action and moat gives the whole sub-call that action; those sub-calls are then
    // left out of moat's own socketcall/ipc rules. Otherwise the ABI cannot be expressed and is
    // left out (its calls get the bad-architecture action), erring on the side of refusing.
    let mut arches: Vec<Arch> = lowered.abis.iter().map(|a| a.arch).collect();
    let mut carve: BTreeMap<&'static str, Vec<u32>> = BTreeMap::new();
    for abi in &lowered.abis {
        let mut ok = true;
        let mut cuts: Vec<(&'static str, u32)> = Vec::new();
        for (name, es) in &entries {
            let Some(m) = moat_syscalls::multiplexed(abi.arch, name) else {
                continue;
            };
            if es.is_empty() {
                continue;
            }
            let mux = match m.via {
                moat_syscalls::Multiplexer::Socketcall => "socketcall",
                moat_syscalls::Multiplexer::Ipc => "ipc",
            };
            let mut actions: Vec<Action> = es.iter().map(|(a, _)| *a).collect();
            actions.sort_by_key(|a| a.to_ret());
            actions.dedup();
            let sub = per_name
                .get(mux)
                .and_then(|v| v.iter().find(|(a, _)| *a == abi.arch))
                .map(|(_, d)| at(d, [u64::from(m.call), 0, 0, 0, 0, 0]));
            if actions.len() == 1 && sub.is_some_and(|s| actions.contains(&s)) {
                cuts.push((mux, m.call));
            } else {
                ok = false;
                losses.push(Loss(format!(
                    "{}: libseccomp applies the rules on {name} to {mux}({}) without their argument conditions, which differs from the policy; {} is left out of the architectures, so its calls get the bad-architecture action",
                    abi.arch,
                    m.call,
                    abi.arch
                )));
                break;
            }
        }
        if ok {
            for (mux, k) in cuts {
                carve.entry(mux).or_default().push(k);
            }
        } else {
            arches.retain(|a| *a != abi.arch);
        }
    }
    for mux in ["socketcall", "ipc"] {
        if let Some(d) = decisions.get(mux) {
            let cuts = carve.get(mux).cloned().unwrap_or_default();
            entries.insert(
                mux,
                name_entries(mux, d, &cuts, oci_default, default, &mut losses),
            );
        }
    }
    Ok(World {
        oci_default,
        arches,
        entries,
        losses,
    })
}

/// Capabilities and kernel versions the guards of the rules covering each name mention.
fn guard_inputs(
    policy: &Policy,
) -> BTreeMap<&'static str, (BTreeSet<u8>, BTreeSet<KernelVersion>)> {
    fn walk(g: &Guard, caps: &mut BTreeSet<u8>, kernels: &mut BTreeSet<KernelVersion>) {
        match g {
            Guard::Cap(list) => caps.extend(list.iter().map(|(_, n)| *n)),
            Guard::Kernel { version, .. } => {
                kernels.insert(*version);
            }
            Guard::Arch(_) => {}
            Guard::And(v) | Guard::Or(v) => v.iter().for_each(|g| walk(g, caps, kernels)),
            Guard::Not(x) => walk(x, caps, kernels),
        }
    }
    let mut out: BTreeMap<&'static str, (BTreeSet<u8>, BTreeSet<KernelVersion>)> = BTreeMap::new();
    for (i, r) in policy.rules().iter().enumerate() {
        let Some(g) = &r.guard else { continue };
        let (mut caps, mut kernels) = (BTreeSet::new(), BTreeSet::new());
        walk(g, &mut caps, &mut kernels);
        if caps.is_empty() && kernels.is_empty() {
            continue;
        }
        let mut names: Vec<&'static str> = policy.covered(i).collect();
        // A rule on a multiplexed call also decides socketcall/ipc sub-calls.
        let muxes: Vec<&'static str> = names
            .iter()
            .flat_map(|n| {
                policy
                    .arches()
                    .iter()
                    .filter_map(move |a| moat_syscalls::multiplexed(*a, n))
            })
            .map(|m| match m.via {
                moat_syscalls::Multiplexer::Socketcall => "socketcall",
                moat_syscalls::Multiplexer::Ipc => "ipc",
            })
            .collect();
        names.extend(muxes);
        for n in names {
            let e = out.entry(n).or_default();
            e.0.extend(caps.iter().copied());
            e.1.extend(kernels.iter().copied());
        }
    }
    out
}

/// Like [`to_seccomp`]; with `guards`, capability and kernel guards become Docker's
/// `includes`/`excludes` instead of being resolved: for each syscall whose rules depend on them,
/// one set of entries per combination of the capabilities and kernel ranges that matter to it.
#[allow(clippy::too_many_lines)]
pub fn to_seccomp_with(
    policy: &Policy,
    ctx: &Context,
    extras: &Extras,
    guards: bool,
) -> Result<(Seccomp, Vec<Loss>), ExportError> {
    let base = world(policy, ctx)?;
    let oci_default = base.oci_default;
    let mut losses = base.losses.clone();
    let mut arches = base.arches.clone();
    // (action, comparisons, includes, excludes) -> names
    type Key = (ScmpActionKey, Vec<ArgKey>, FilterKey, FilterKey);
    let mut rules: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    let mut add = |name: &str, es: &NameEntries, inc: &Filter, exc: &Filter| {
        for (a, alts) in es {
            for args in alts {
                let key = (
                    ScmpActionKey::from(*a),
                    args.iter().map(ArgKey::from).collect(),
                    FilterKey(inc.clone()),
                    FilterKey(exc.clone()),
                );
                rules.entry(key).or_default().push(name.to_string());
            }
        }
    };
    let inputs = if guards {
        guard_inputs(policy)
    } else {
        BTreeMap::new()
    };
    let mut worlds: BTreeMap<(Vec<u8>, Option<KernelVersion>), World> = BTreeMap::new();
    for (name, es) in &base.entries {
        let Some((caps, kernels)) = inputs.get(name) else {
            add(name, es, &Filter::default(), &Filter::default());
            continue;
        };
        let caps: Vec<u8> = caps.iter().copied().collect();
        if caps.len() > 6 {
            losses.push(Loss(format!(
                "{name}: depends on more than 6 capabilities; its guards are resolved for the given capabilities"
            )));
            add(name, es, &Filter::default(), &Filter::default());
            continue;
        }
        // Kernel ranges: [none, k0), [k0, k1), ..., [kn, none).
        let ks: Vec<KernelVersion> = kernels.iter().copied().collect();
        let mut ranges: Vec<(Option<KernelVersion>, Option<KernelVersion>)> = Vec::new();
        for i in 0..=ks.len() {
            ranges.push((i.checked_sub(1).map(|j| ks[j]), ks.get(i).copied()));
        }
        let mut per_world: Vec<(Filter, Filter, NameEntries)> = Vec::new();
        for bits in 0u32..(1 << caps.len()) {
            let held: Vec<u8> = caps
                .iter()
                .enumerate()
                .filter(|(j, _)| bits >> j & 1 == 1)
                .map(|(_, c)| *c)
                .collect();
            for (lo, hi) in &ranges {
                let kernel = Some(lo.unwrap_or(KernelVersion::new(0, 0)));
                let key = (held.clone(), if hi.is_none() { None } else { kernel });
                if !worlds.contains_key(&key) {
                    let c = Context {
                        caps: Some(held.iter().copied().collect()),
                        kernel: key.1,
                    };
                    let w = world(policy, &c)?;
                    for a in &base.arches {
                        if !w.arches.contains(a) {
                            arches.retain(|x| x != a);
                        }
                    }
                    // The file serves every capability/kernel context: what one of them cannot
                    // express (an ABI left out, a trap value) is lost for the whole export.
                    for l in &w.losses {
                        if !losses.contains(l) {
                            losses.push(l.clone());
                        }
                    }
                    worlds.insert(key.clone(), w);
                }
                let w = &worlds[&key];
                if w.oci_default != oci_default {
                    return Err(ExportError::Unsupported(format!(
                        "{name}: the default action depends on capabilities or the kernel"
                    )));
                }
                let cap_name =
                    |c: &u8| moat_syscalls::capability_name(*c).unwrap_or_else(|| c.to_string());
                let inc = Filter {
                    caps: held.iter().map(cap_name).collect(),
                    arches: Vec::new(),
                    min_kernel: lo.map(|k| k.to_string()),
                };
                let exc = Filter {
                    caps: caps
                        .iter()
                        .filter(|c| !held.contains(c))
                        .map(cap_name)
                        .collect(),
                    arches: Vec::new(),
                    min_kernel: hi.map(|k| k.to_string()),
                };
                let es = w.entries.get(name).cloned().unwrap_or_default();
                per_world.push((inc, exc, es));
            }
        }
        if per_world.iter().all(|(_, _, e)| *e == per_world[0].2) {
            add(
                name,
                &per_world[0].2,
                &Filter::default(),
                &Filter::default(),
            );
        } else {
            for (inc, exc, es) in &per_world {
                add(name, es, inc, exc);
            }
        }
    }
    // Names only some worlds give entries to (none in the base world).
    for (key, w) in &worlds {
        let _ = key;
        for name in w.entries.keys() {
            if !base.entries.contains_key(name) {
                return Err(ExportError::Unsupported(format!(
                    "{name}: known only in some capability/kernel contexts"
                )));
            }
        }
    }

    let (da, de) = scmp_action(oci_default);
    let mut syscalls: Vec<Entry> = rules
        .into_iter()
        .map(|((ak, args, inc, exc), names)| {
            let (action, errno_ret) = scmp_action(ak.0);
            Entry {
                names,
                action,
                errno_ret,
                args: args.into_iter().map(|k| k.0).collect(),
                comment: None,
                includes: inc.0,
                excludes: exc.0,
                path: None,
            }
        })
        .collect();
    // Unconditional entries first, then by first name.
    syscalls
        .sort_by(|a, b| (!a.args.is_empty(), &a.names[0]).cmp(&(!b.args.is_empty(), &b.names[0])));
    let s = Seccomp {
        default_action: da,
        default_errno_ret: de,
        architectures: arches.iter().map(|a| arch_token(*a).to_string()).collect(),
        arch_map: Vec::new(),
        syscalls,
        flags: extras.flags.clone(),
        listener_path: extras.listener_path.clone(),
        listener_metadata: extras.listener_metadata.clone(),
    };
    Ok((s, losses))
}

/// Per action, the alternative rules (lists of comparisons) of one syscall name.
type NameEntries = Vec<(Action, Vec<Vec<Arg>>)>;

/// The action a decision gives for concrete arguments.
fn at(d: &Decision, args: [u64; 6]) -> Action {
    d.rules
        .iter()
        .rev()
        .find(|(c, _)| c.holds(&args))
        .map_or(d.fallback, |(_, a)| *a)
}

/// The libseccomp entries for one name: per action other than the OCI default, the rules of its
/// region; sub-calls in `carve` (`arg0 == k`) are left out. Inexpressible decisions get their
/// most restrictive action for every call, with a loss.
fn name_entries(
    name: &str,
    d: &Decision,
    carve: &[u32],
    oci_default: Action,
    default: Action,
    losses: &mut Vec<Loss>,
) -> NameEntries {
    let cut: Vec<Cond> = carve
        .iter()
        .map(|k| {
            Cond::negate(Cond::Cmp(moat_policy::Cmp {
                arg: 0,
                width: Width::U32,
                op: CmpOp::Eq,
                mask: 0xffff_ffff,
                value: u64::from(*k),
            }))
        })
        .collect();
    let mut out = Vec::new();
    for a in d.actions() {
        if a == oci_default {
            continue;
        }
        let mut parts = vec![d.region(a)];
        parts.extend(cut.iter().cloned());
        match region_rules(&Cond::and(parts), 200) {
            Some(r) if !r.is_empty() => out.push((a, r)),
            Some(_) => {}
            None => {
                let worst = Action::strictest(d.actions()).unwrap_or(default);
                losses.push(Loss(format!(
                    "{name}: its argument conditions need more than one comparison per argument or too many rules; it gets `{worst}` for every call"
                )));
                return if worst == oci_default {
                    Vec::new()
                } else {
                    vec![(worst, vec![Vec::new()])]
                };
            }
        }
    }
    out
}

/// Per syscall name: its decision on each accepted ABI that has it.
pub(crate) fn per_name(
    lowered: &moat_policy::Lowered,
) -> BTreeMap<&'static str, Vec<(Arch, Decision)>> {
    let mut per_name: BTreeMap<&'static str, Vec<(Arch, Decision)>> = BTreeMap::new();
    for abi in &lowered.abis {
        for sc in abi.arch.syscalls() {
            let d = match abi.syscalls.get(&sc.nr) {
                Some(rules) => {
                    let r: Vec<(Cond, Action)> =
                        rules.iter().map(|r| (r.cond.clone(), r.action)).collect();
                    Decision::new(&r, abi.default)
                }
                None => Decision::new(&[], abi.unknown),
            };
            per_name.entry(sc.name).or_default().push((abi.arch, d));
        }
    }
    per_name
}

/// Equal decisions, ignoring whether a comparison is on 32 or 64 bits (32-bit ABIs compare
/// every argument on 32 bits; libseccomp loads only the low word there).
pub(crate) fn same_modulo_width(a: &Decision, b: &Decision) -> bool {
    fn strip(c: &Cond) -> Cond {
        match c {
            Cond::Cmp(x) => {
                let mut y = *x;
                y.width = Width::U64;
                y.mask &= 0xffff_ffff;
                y.value &= 0xffff_ffff;
                Cond::Cmp(y)
            }
            Cond::And(v) => Cond::And(v.iter().map(strip).collect()),
            Cond::Or(v) => Cond::Or(v.iter().map(strip).collect()),
            Cond::Not(x) => Cond::Not(Box::new(strip(x))),
            other => other.clone(),
        }
    }
    a.fallback == b.fallback
        && a.rules.len() == b.rules.len()
        && a.rules
            .iter()
            .zip(&b.rules)
            .all(|((ca, aa), (cb, ab))| aa == ab && strip(ca) == strip(cb))
}

/// Sort key for actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ScmpActionKey(Action);

impl From<Action> for ScmpActionKey {
    fn from(a: Action) -> Self {
        ScmpActionKey(a)
    }
}

impl PartialOrd for ScmpActionKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ScmpActionKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Allowing actions first, then in the kernel's precedence of stacked filters.
        let k = |a: Action| (std::cmp::Reverse(action_only(a.to_ret())), a.to_ret());
        k(self.0).cmp(&k(other.0))
    }
}

/// Sort key for includes/excludes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FilterKey(Filter);

impl PartialOrd for FilterKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for FilterKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let k = |f: &Filter| (f.caps.clone(), f.min_kernel.clone());
        k(&self.0).cmp(&k(&other.0))
    }
}

/// Sort key for comparisons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ArgKey(Arg);

impl From<&Arg> for ArgKey {
    fn from(a: &Arg) -> Self {
        ArgKey(*a)
    }
}

impl PartialOrd for ArgKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ArgKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let k = |a: &Arg| (a.index, a.op.token(), a.value, a.value_two);
        k(&self.0).cmp(&k(&other.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What libseccomp does with one comparison on a 64-bit ABI.
    fn matches(a: &Arg, args: &[u64; 6]) -> bool {
        let x = args[usize::from(a.index)];
        match a.op {
            ScmpOp::Ne => x != a.value,
            ScmpOp::Lt => x < a.value,
            ScmpOp::Le => x <= a.value,
            ScmpOp::Eq => x == a.value,
            ScmpOp::Ge => x >= a.value,
            ScmpOp::Gt => x > a.value,
            ScmpOp::MaskedEq => x & a.value == a.value_two & a.value,
        }
    }

    /// One comparison; every argument of a syscall has one width, so a whole condition uses one.
    fn cmp(width: Width) -> impl Strategy<Value = Cond> {
        let op = prop::sample::select(vec![
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
        ]);
        let value = prop_oneof![0u64..70, Just(0xffff_ffff), Just(u64::MAX), any::<u64>()];
        let mask = prop_oneof![Just(u64::MAX), 1u64..0x100, any::<u64>()];
        (0u8..2, op, mask, value).prop_map(move |(arg, op, mask, value)| {
            let wm = if width == Width::U32 {
                0xffff_ffff
            } else {
                u64::MAX
            };
            // Masks other than "all ones" only with == and != (what the language can write).
            let op = if mask & wm != wm && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                CmpOp::Eq
            } else {
                op
            };
            Cond::Cmp(moat_policy::Cmp {
                arg,
                width,
                op,
                mask: mask & wm,
                value: value & wm,
            })
        })
    }

    fn cond() -> impl Strategy<Value = Cond> {
        prop::sample::select(vec![Width::U32, Width::U64]).prop_flat_map(cond_of)
    }

    fn cond_of(width: Width) -> impl Strategy<Value = Cond> {
        cmp(width).prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(Cond::and),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Cond::or),
                inner.prop_map(Cond::negate),
            ]
        })
    }

    fn interesting(c: &Cond, out: &mut Vec<u64>) {
        match c {
            Cond::Cmp(x) => out.extend([
                x.value,
                x.value.wrapping_add(1),
                x.value.wrapping_sub(1),
                x.mask,
                !x.mask,
                x.value | 0x1_0000_0000,
            ]),
            Cond::And(v) | Cond::Or(v) => v.iter().for_each(|c| interesting(c, out)),
            Cond::Not(x) => interesting(x, out),
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// The libseccomp rules of a region match exactly the argument values the condition holds for.
        #[test]
        fn region_rules_are_exact(c in cond(), extra in prop::collection::vec(any::<u64>(), 4)) {
            if let Some(rules) = region_rules(&c, 10_000) {
                let mut vals = vec![0, 1, 0xffff_ffff, u64::MAX, 0x1_0000_0000];
                interesting(&c, &mut vals);
                vals.extend(extra);
                for &a in &vals {
                    for &b in &vals {
                        let args = [a, b, 0, 0, 0, 0];
                        let want = c.holds(&args);
                        let got = rules.iter().any(|r| r.iter().all(|cmp| matches(cmp, &args)));
                        prop_assert_eq!(got, want, "args {:x?} rules {:?}", args, rules);
                    }
                }
            }
        }

        #[test]
        fn blocks_cover_exactly_the_range(lo in any::<u32>(), len in any::<u32>(), x in any::<u32>()) {
            let lo = u64::from(lo);
            let hi = (lo + u64::from(len)).min(0xffff_ffff);
            let bs = blocks(lo, hi, 0xffff_ffff);
            prop_assert!(bs.len() <= 64);
            for v in [u64::from(x), lo, hi, lo.saturating_sub(1), hi + 1] {
                let inside = v >= lo && v <= hi;
                let hit = bs.iter().filter(|(m, b)| v & m == *b).count();
                prop_assert_eq!(hit, usize::from(inside), "v {:#x} in [{:#x}, {:#x}]", v, lo, hi);
            }
        }
    }
}
