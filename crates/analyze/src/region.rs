//! Splitting the argument space of one syscall into regions on which every given rule list has a
//! constant verdict.
//!
//! The atoms of all lists are collected; a depth-first case split assigns them true or false,
//! drops assignments that are unsatisfiable ([`crate::solve`], exact), and stops as soon as every
//! list's verdict is decided by the assignment. The leaves are disjoint and cover every argument
//! vector, so any question about the verdicts ("do A and B ever differ?", "is A ever more
//! permissive?") is answered exactly by looking at the leaves.

use moat_policy::{Action, Cond, LoweredRule};

use crate::solve::{Atom, solve, solve_one};

/// Interned atoms shared by the lists being compared.
#[derive(Clone, Debug, Default)]
pub struct Atoms {
    /// The atoms; conditions refer to them by index.
    pub atoms: Vec<Atom>,
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
    /// Does not hold.
    Not(Box<C>),
}

impl Atoms {
    /// The index of `a`, adding it if new.
    pub fn intern(&mut self, a: Atom) -> usize {
        if let Some(i) = self.atoms.iter().position(|x| x.same(&a)) {
            return i;
        }
        self.atoms.push(a);
        self.atoms.len() - 1
    }

    /// Converts a lowered condition.
    pub fn cond(&mut self, c: &Cond) -> C {
        match c {
            Cond::True => C::True,
            Cond::False => C::False,
            Cond::Cmp(cmp) => C::Atom(self.intern(Atom::of(cmp))),
            Cond::And(v) => C::And(v.iter().map(|c| self.cond(c)).collect()),
            Cond::Or(v) => C::Or(v.iter().map(|c| self.cond(c)).collect()),
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
        C::Not(c) => eval(c, assign).map(|b| !b),
    }
}

/// The list's verdict under a partial assignment, or an atom that must be decided first.
fn verdict(l: &List, assign: &[Option<bool>]) -> Result<(Action, Option<usize>), usize> {
    for (c, a, rule) in l.rules.iter().rev() {
        if eval(c, assign)? {
            return Ok((*a, *rule));
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
    let mut out = Vec::new();
    let mut sp = Splitter {
        atoms,
        lists,
        out: &mut out,
    };
    sp.go(&mut assign, &mut lits)?;
    Ok(out)
}

struct Splitter<'a> {
    atoms: &'a Atoms,
    lists: &'a [List],
    out: &'a mut Vec<Region>,
}

impl Splitter<'_> {
    fn go(
        &mut self,
        assign: &mut Vec<Option<bool>>,
        lits: &mut Vec<(usize, bool)>,
    ) -> Result<(), TooComplex> {
        let mut verdicts = Vec::with_capacity(self.lists.len());
        let mut next = None;
        for l in self.lists {
            match verdict(l, assign) {
                Ok(v) => verdicts.push(v),
                Err(i) => {
                    next = Some(i);
                    break;
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
        for value in [true, false] {
            assign[atom] = Some(value);
            lits.push((atom, value));
            // Only the tested argument's constraints changed: re-check that argument alone.
            let same_arg: Vec<(Atom, bool)> = lits
                .iter()
                .filter(|(i, _)| self.atoms.atoms[*i].arg == arg)
                .map(|&(i, v)| (self.atoms.atoms[i], v))
                .collect();
            if solve_one(&same_arg).is_some() {
                self.go(assign, lits)?;
            }
            lits.pop();
            assign[atom] = None;
        }
        Ok(())
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
