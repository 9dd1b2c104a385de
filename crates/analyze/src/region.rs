//! Splitting the argument space of one syscall into regions on which every given rule list has a
//! constant verdict.
//!
//! The atoms of all lists are collected; a depth-first case split assigns them true or false,
//! drops assignments that are unsatisfiable ([`crate::solve`], exact), and stops as soon as every
//! list's verdict is decided by the assignment. The leaves are disjoint and cover every argument
//! vector, so any question about the verdicts ("do A and B ever differ?", "is A ever more
//! permissive?") is answered exactly by looking at the leaves.

use moat_policy::{Action, Cond, LoweredRule};

use crate::solve::{Atom, extend_low_mask, literal_ne, literal_range, solve, solve_one};

/// Interned atoms shared by the lists being compared.
#[derive(Clone, Debug, Default)]
pub struct Atoms {
    /// The atoms; conditions refer to them by index.
    pub atoms: Vec<Atom>,
    /// Index of each atom by its meaning (argument, mask, operator, value), so interning a
    /// 10,000-value set is linear rather than quadratic.
    index: std::collections::HashMap<(u8, u64, moat_policy::CmpOp, u64), usize>,
}

/// A condition over interned atoms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum C {
    /// Always.
    True,
    /// Never.
    False,
    /// An atom.
    Atom(usize),
    /// All hold.
    And(Vec<C>),
    /// Any holds.
    Or(Vec<C>),
    /// Any of these atoms holds, all on argument `arg` (an `in {…}` set, or any `or` of plain
    /// comparisons of one argument): the shape a rule list's cursor walks in amortised constant
    /// time per level ([`verdict`]).
    AnyOf {
        /// The argument every atom tests.
        arg: u8,
        /// The atoms, in source order.
        atoms: Vec<usize>,
    },
    /// Does not hold.
    Not(Box<C>),
}

impl Atoms {
    /// The index of `a`, adding it if new.
    pub fn intern(&mut self, a: Atom) -> usize {
        let next = self.atoms.len();
        let i = *self
            .index
            .entry((a.arg, a.mask, a.op, a.value))
            .or_insert(next);
        if i == next {
            self.atoms.push(a);
        }
        i
    }

    /// Converts a lowered condition.
    pub fn cond(&mut self, c: &Cond) -> C {
        match c {
            Cond::True => C::True,
            Cond::False => C::False,
            Cond::Cmp(cmp) => C::Atom(self.intern(Atom::of(cmp))),
            Cond::And(v) => C::And(v.iter().map(|c| self.cond(c)).collect()),
            Cond::Or(v) => match v.first() {
                Some(Cond::Cmp(first))
                    if v.iter()
                        .all(|c| matches!(c, Cond::Cmp(x) if x.arg == first.arg)) =>
                {
                    C::AnyOf {
                        arg: first.arg,
                        atoms: v
                            .iter()
                            .filter_map(|c| match c {
                                Cond::Cmp(x) => Some(self.intern(Atom::of(x))),
                                _ => None,
                            })
                            .collect(),
                    }
                }
                _ => C::Or(v.iter().map(|c| self.cond(c)).collect()),
            },
            Cond::Not(c) => C::Not(Box::new(self.cond(c))),
        }
    }

    /// Converts a lowered rule list with its default.
    pub fn list(&mut self, rules: &[LoweredRule], default: Action) -> List {
        List {
            rules: rules
                .iter()
                .map(|r| (self.cond(&r.cond), r.action, Some(r.rule)))
                .collect(),
            default,
        }
    }
}

/// An ordered rule list: the last rule whose condition holds decides, else `default`.
#[derive(Clone, Debug)]
pub struct List {
    /// Condition, action and the policy rule index (if any) per rule, in source order.
    pub rules: Vec<(C, Action, Option<usize>)>,
    /// The verdict when no rule holds.
    pub default: Action,
}

impl List {
    /// A list that always answers `a`.
    pub fn constant(a: Action) -> List {
        List {
            rules: Vec::new(),
            default: a,
        }
    }
}

/// One region of the argument space.
#[derive(Clone, Debug)]
pub struct Region {
    /// The atoms' truth values that define it (atom index, value).
    pub lits: Vec<(usize, bool)>,
    /// A concrete argument vector inside the region.
    pub args: [u64; 6],
    /// Per list, its verdict and the deciding rule (`None` for the default).
    pub verdicts: Vec<(Action, Option<usize>)>,
}

/// The case split gave up: more regions than the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("argument conditions too complex to compare exactly (more than {limit} regions)")]
pub struct TooComplex {
    /// The limit that was hit.
    pub limit: usize,
}

/// The most regions one split produces before giving up.
pub const LIMIT: usize = 100_000;

fn eval(c: &C, assign: &[Option<bool>]) -> Result<bool, usize> {
    match c {
        C::True => Ok(true),
        C::False => Ok(false),
        C::Atom(i) => assign.get(*i).copied().flatten().ok_or(*i),
        C::And(v) => {
            let mut pending = None;
            for c in v {
                match eval(c, assign) {
                    Ok(false) => return Ok(false),
                    Ok(true) => {}
                    Err(i) => pending = pending.or(Some(i)),
                }
            }
            pending.map_or(Ok(true), Err)
        }
        C::Or(v) => {
            let mut pending = None;
            for c in v {
                match eval(c, assign) {
                    Ok(true) => return Ok(true),
                    Ok(false) => {}
                    Err(i) => pending = pending.or(Some(i)),
                }
            }
            pending.map_or(Ok(false), Err)
        }
        C::AnyOf { atoms, .. } => {
            let mut pending = None;
            for &i in atoms {
                match assign.get(i).copied().flatten() {
                    Some(true) => return Ok(true),
                    Some(false) => {}
                    None => pending = pending.or(Some(i)),
                }
            }
            pending.map_or(Ok(false), Err)
        }
        C::Not(c) => eval(c, assign).map(|b| !b),
    }
}

/// Where a list stands on the current path: rules from the end known not to hold, and for the
/// last live rule when it is an [`C::AnyOf`], its leading atoms known false.
#[derive(Clone, Copy, Debug, Default)]
struct Cursor {
    skip: usize,
    false_atoms: usize,
}

/// [`eval`] of a rule's whole condition at `cursor.false_atoms`: an [`C::AnyOf`] resumes after
/// its atoms known false on this path, and when no atom of its argument is true on the path
/// (`true_on`), its first undecided atom is the answer without scanning the rest. Along the
/// 10,000 levels of an `in` set's "none of them" path this is constant work per level.
///
/// Answering an undecided atom where a later one already holds would still be correct (the
/// split decides one atom more, and both branches reach the same verdict); the scan of the rest
/// only keeps such paths short.
fn eval_rule(
    c: &C,
    assign: &[Option<bool>],
    true_on: &[u32; 6],
    false_atoms: &mut usize,
) -> Result<bool, usize> {
    let C::AnyOf { arg, atoms } = c else {
        return eval(c, assign);
    };
    let mut k = *false_atoms;
    while let Some(&i) = atoms.get(k) {
        match assign.get(i).copied().flatten() {
            Some(false) => k += 1,
            Some(true) => return Ok(true),
            None => break,
        }
    }
    *false_atoms = k;
    let Some(&first) = atoms.get(k) else {
        return Ok(false);
    };
    let none_true = true_on.get(usize::from(*arg)).is_some_and(|&n| n == 0);
    if none_true
        || atoms[k + 1..]
            .iter()
            .all(|&i| assign.get(i).copied().flatten() != Some(true))
    {
        Err(first)
    } else {
        Ok(true)
    }
}

/// The list's verdict under a partial assignment, or an atom that must be decided first.
///
/// `cur.skip` counts the rules, from the end, already known not to hold on this path; it is
/// advanced past every further rule that evaluates false. Assignments only grow along a path,
/// so a rule found false stays false below it, and each rule is evaluated false once per path
/// rather than once per level (which made long rule lists cubic).
fn verdict(
    l: &List,
    assign: &[Option<bool>],
    true_on: &[u32; 6],
    cur: &mut Cursor,
) -> Result<(Action, Option<usize>), usize> {
    let live = l.rules.len().saturating_sub(cur.skip);
    for (c, a, rule) in l.rules.iter().take(live).rev() {
        match eval_rule(c, assign, true_on, &mut cur.false_atoms) {
            Ok(true) => return Ok((*a, *rule)),
            Ok(false) => {
                cur.skip += 1;
                cur.false_atoms = 0;
            }
            Err(i) => return Err(i),
        }
    }
    Ok((l.default, None))
}

/// Splits the argument space for `lists`, restricted to the region where every `forced` literal
/// holds (atom index, value).
pub fn split(
    atoms: &Atoms,
    lists: &[List],
    forced: &[(usize, bool)],
) -> Result<Vec<Region>, TooComplex> {
    split_with(atoms, lists, forced, None)
}

/// A relation between the lists' verdicts (in list order) that a split is asked to check.
pub type Relation<'a> = &'a (dyn Fn(&[Action]) -> bool + Sync);

/// [`split`] for a question that only needs to know whether `holds` is true everywhere: a part of
/// the space is not split further, and yields no region, once `holds` is true for every
/// combination of verdicts the lists can still reach there (for a list not yet decided, the
/// actions of its rules not yet refuted, and its default unless one of its first rules is known
/// to hold). The regions returned are the decided
/// ones the caller still has to check, so a counterexample is found exactly as by [`split`].
///
/// This is what keeps a subset proof of a long pod annotation short: once the node's list is
/// decided as `allow` on a part of the space, no rule of the pod can make that part looser, and
/// the pod's thousand conditions are never split there. Lists not yet decided are split in
/// order of fewest live rules, so the short list is decided first.
pub fn split_pruned(
    atoms: &Atoms,
    lists: &[List],
    forced: &[(usize, bool)],
    holds: Relation<'_>,
) -> Result<Vec<Region>, TooComplex> {
    split_with(atoms, lists, forced, Some(holds))
}

/// Per list, per prefix length `k`, the distinct actions of its first `k` rules, without its
/// default (`.0`) and with it (`.1`): the verdicts a list can still reach when only those rules
/// are live, when one of them is known to hold and when none is.
type Reach = Vec<(Vec<Action>, Vec<Action>)>;

fn prefix_actions(lists: &[List]) -> Vec<Reach> {
    lists
        .iter()
        .map(|l| {
            let mut acc: Vec<Action> = Vec::new();
            let with = |acc: &[Action]| {
                let mut w = acc.to_vec();
                if !w.contains(&l.default) {
                    w.push(l.default);
                }
                w
            };
            let mut out = Vec::with_capacity(l.rules.len() + 1);
            out.push((acc.clone(), with(&acc)));
            for (_, a, _) in &l.rules {
                if !acc.contains(a) {
                    acc.push(*a);
                }
                out.push((acc.clone(), with(&acc)));
            }
            out
        })
        .collect()
}

/// How many rules from the start of a list [`Splitter::settle`] evaluates looking for one that
/// holds (which makes the default unreachable). A pod annotation read after the node's profile
/// starts with the node's own rules, so one that holds is usually among the first.
const HOLDING_SCAN: usize = 64;

/// True when `holds` is true for every way of picking one action per list from `options`.
fn holds_for_all(options: &[&[Action]], holds: Relation<'_>, picked: &mut Vec<Action>) -> bool {
    let Some((first, rest)) = options.split_first() else {
        return holds(picked);
    };
    first.iter().all(|&a| {
        picked.push(a);
        let ok = holds_for_all(rest, holds, picked);
        picked.pop();
        ok
    })
}

fn split_with(
    atoms: &Atoms,
    lists: &[List],
    forced: &[(usize, bool)],
    holds: Option<Relation<'_>>,
) -> Result<Vec<Region>, TooComplex> {
    let mut assign = vec![None; atoms.atoms.len()];
    let mut lits = Vec::new();
    for &(i, v) in forced {
        match assign.get(i).copied().flatten() {
            Some(old) if old != v => return Ok(Vec::new()),
            Some(_) => {}
            None => {
                assign[i] = Some(v);
                lits.push((i, v));
            }
        }
    }
    let args_of = |lits: &[(usize, bool)]| {
        solve(
            &lits
                .iter()
                .map(|&(i, v)| (atoms.atoms[i], v))
                .collect::<Vec<_>>(),
        )
    };
    if args_of(&lits).is_none() {
        return Ok(Vec::new());
    }
    let mut true_on = [0u32; 6];
    for &(i, v) in &lits {
        if v && let Some(n) = true_on.get_mut(usize::from(atoms.atoms[i].arg)) {
            *n += 1;
        }
    }
    let mut run = move || {
        let mut out = Vec::new();
        let prune = holds.map(|h| (h, prefix_actions(lists)));
        let mut sp = Splitter {
            atoms,
            lists,
            prune,
            true_on,
            out: &mut out,
        };
        let mut skips = vec![Cursor::default(); lists.len()];
        sp.go(&mut assign, &mut lits, &mut skips).map(|()| out)
    };
    // The case split recurses once per atom decided along a path, so its depth is bounded by
    // the number of atoms. A few hundred fit any thread's stack; a 1,000-rule annotation does
    // not fit the 2 MiB a test or worker thread gets, so long splits run on a thread whose
    // stack grows with the atom count (reserved, and only touched as deep as the path goes).
    if atoms.atoms.len() <= INLINE_ATOMS {
        return run();
    }
    let stack = FRAME_BYTES
        .saturating_mul(atoms.atoms.len() + 1)
        .max(8 << 20);
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("moat-split".into())
            .stack_size(stack)
            .spawn_scoped(s, run)
            .map_or_else(
                // No thread (address space or task limit). The caller's stack may be too
                // small for this depth, so the split is reported as too complex instead.
                |_| Err(TooComplex { limit: LIMIT }),
                |h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            )
    })
}

/// Splits over at most this many atoms run on the caller's stack.
const INLINE_ATOMS: usize = 128;

/// Stack reserved per recursion level of [`Splitter::go`]: generous for an unoptimised build.
const FRAME_BYTES: usize = 16 << 10;

struct Splitter<'a> {
    atoms: &'a Atoms,
    lists: &'a [List],
    /// The relation of [`split_pruned`] and each list's [`prefix_actions`].
    prune: Option<(Relation<'a>, Vec<Reach>)>,
    /// Per argument, how many atoms are assigned true on the current path.
    true_on: [u32; 6],
    out: &'a mut Vec<Region>,
}

impl Splitter<'_> {
    fn go(
        &mut self,
        assign: &mut Vec<Option<bool>>,
        lits: &mut Vec<(usize, bool)>,
        skips: &mut [Cursor],
    ) -> Result<(), TooComplex> {
        let mut verdicts = Vec::with_capacity(self.lists.len());
        let mut next = None;
        if let Some((holds, prefix)) = &self.prune {
            match self.settle(*holds, prefix, assign, skips) {
                Settled::Holds => return Ok(()),
                Settled::Decided(v) => verdicts = v,
                Settled::Split(atom) => next = Some(atom),
            }
        } else {
            for (l, skip) in self.lists.iter().zip(skips.iter_mut()) {
                match verdict(l, assign, &self.true_on, skip) {
                    Ok(v) => verdicts.push(v),
                    Err(i) => {
                        next = Some(i);
                        break;
                    }
                }
            }
        }
        let Some(atom) = next else {
            let all: Vec<(Atom, bool)> = lits
                .iter()
                .map(|&(i, v)| (self.atoms.atoms[i], v))
                .collect();
            if let Some(args) = solve(&all) {
                if self.out.len() >= LIMIT {
                    return Err(TooComplex { limit: LIMIT });
                }
                self.out.push(Region {
                    lits: lits.clone(),
                    args,
                    verdicts,
                });
            }
            return Ok(());
        };
        let arg = self.atoms.atoms[atom].arg;
        // Only the tested argument's constraints change: check that argument alone.
        let on_arg = lits
            .iter()
            .filter(|(i, _)| self.atoms.atoms[*i].arg == arg)
            .map(|&(i, v)| (self.atoms.atoms[i], v));
        let possible =
            extend_low_mask(on_arg.clone(), &self.atoms.atoms[atom]).unwrap_or_else(|| {
                let mut same_arg: Vec<(Atom, bool)> = on_arg.collect();
                [true, false].map(|value| {
                    same_arg.push((self.atoms.atoms[atom], value));
                    let ok = solve_one(&same_arg).is_some();
                    same_arg.pop();
                    ok
                })
            });
        // When the path's constraints already decide the atom, its literal is redundant: it is
        // assigned for the rule lists but kept out of the region's literals, so the literal
        // lists (and every later satisfiability check) stay as short as the constraints that
        // matter. Without this, 1,000 disjoint ranges on one argument cost O(n³).
        let implied = possible[0] != possible[1];
        for (value, ok) in [true, false].into_iter().zip(possible) {
            if !ok {
                continue;
            }
            assign[atom] = Some(value);
            let arg_slot = usize::from(arg).min(5);
            if value {
                self.true_on[arg_slot] += 1;
            }
            // Literals dropped as redundant come back after the branch; a branch that drops
            // none (the long `!=` path of an `in` set) costs no copy, so memory along a deep
            // path stays linear.
            let dropped = if implied {
                None
            } else {
                Some(self.push_tightest(lits, atom, value))
            };
            let mut below = skips.to_vec();
            self.go(assign, lits, &mut below)?;
            match dropped {
                Some(None) => {
                    lits.pop();
                }
                Some(Some(saved)) => *lits = saved,
                None => {}
            }
            if value {
                self.true_on[arg_slot] -= 1;
            }
            assign[atom] = None;
        }
        Ok(())
    }
}

/// What [`Splitter::settle`] found at a node of a pruned split.
enum Settled {
    /// The relation holds for every verdict still reachable: nothing to split.
    Holds,
    /// Every list is decided.
    Decided(Vec<(Action, Option<usize>)>),
    /// Split on this atom next.
    Split(usize),
}

impl Splitter<'_> {
    /// Decides what a pruned split does at a node: every list's verdict is evaluated (advancing
    /// its skip cursor), undecided lists contribute the actions still reachable, and the next
    /// atom comes from the undecided list with the fewest live rules.
    fn settle(
        &self,
        holds: Relation<'_>,
        prefix: &[Reach],
        assign: &[Option<bool>],
        skips: &mut [Cursor],
    ) -> Settled {
        let mut state = Vec::with_capacity(self.lists.len());
        let mut best: Option<(usize, usize)> = None;
        for (l, skip) in self.lists.iter().zip(skips.iter_mut()) {
            let v = verdict(l, assign, &self.true_on, skip);
            if let Err(atom) = v {
                let live = l.rules.len().saturating_sub(skip.skip);
                if best.is_none_or(|(b, _)| live < b) {
                    best = Some((live, atom));
                }
            }
            state.push(v.map_err(|_| l.rules.len().saturating_sub(skip.skip)));
        }
        let Some((_, atom)) = best else {
            return Settled::Decided(state.into_iter().flatten().collect());
        };
        let options: Vec<&[Action]> = state
            .iter()
            .zip(prefix)
            .zip(self.lists)
            .map(|((v, p), l)| match v {
                Ok((a, _)) => std::slice::from_ref(a),
                Err(live) => {
                    // A rule that holds anywhere among the live ones hides the default.
                    let holding = l
                        .rules
                        .iter()
                        .take((*live).min(HOLDING_SCAN))
                        .any(|(c, _, _)| eval(c, assign) == Ok(true));
                    if holding {
                        p[*live].0.as_slice()
                    } else {
                        p[*live].1.as_slice()
                    }
                }
            })
            .collect();
        if holds_for_all(&options, holds, &mut Vec::with_capacity(options.len())) {
            Settled::Holds
        } else {
            Settled::Split(atom)
        }
    }

    /// Pushes `(atom, value)` and drops the literals on the same argument and mask that no
    /// longer constrain anything: ranges that contain the new one's, and `!=` values outside
    /// it. A path that refutes `request < 900`, then `request < 899`, ... keeps one literal
    /// instead of hundreds. Returns the literals as they were when any was dropped.
    fn push_tightest(
        &self,
        lits: &mut Vec<(usize, bool)>,
        atom: usize,
        value: bool,
    ) -> Option<Vec<(usize, bool)>> {
        let new = &self.atoms.atoms[atom];
        let mut saved = None;
        if let Some((mask, lo, hi)) = literal_range(new, value) {
            let redundant = |&(i, v): &(usize, bool)| {
                let old = &self.atoms.atoms[i];
                old.arg == new.arg
                    && (matches!(literal_range(old, v), Some((m, l, h)) if m == mask && l <= lo && hi <= h)
                        || matches!(literal_ne(old, v), Some((m, x)) if m == mask && !(lo..=hi).contains(&x)))
            };
            if lits.iter().any(redundant) {
                saved = Some(lits.clone());
                lits.retain(|l| !redundant(l));
            }
        }
        lits.push((atom, value));
        saved
    }
}

/// True when the conjunction of `lits` (atom index, value) is satisfiable.
pub fn satisfiable(atoms: &Atoms, lits: &[(usize, bool)]) -> bool {
    solve(
        &lits
            .iter()
            .map(|&(i, v)| (atoms.atoms[i], v))
            .collect::<Vec<_>>(),
    )
    .is_some()
}
