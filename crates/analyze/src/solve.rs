//! Exact satisfiability of argument constraints.
//!
//! Every argument test moat can express, after lowering, is an atom `(arg & mask) OP value` over
//! an unsigned 64-bit register value (a 32-bit parameter's width is folded into the mask:
//! `0xffff_ffff`). A conjunction of such atoms and their negations on one argument is decided by
//! a constructive search over the bits of the value, most significant first, in the style of a
//! digit dynamic program: each range constraint `lo <= (x & mask) <= hi` remembers whether the
//! prefix chosen so far still equals the prefix of `lo` (or `hi`), each `(x & mask) != v` whether
//! it still equals `v`. States that failed at a bit position are remembered, so the search visits
//! each (position, state) pair at most once. The answer is exact, and a satisfiable conjunction
//! comes with a witness value.

use std::collections::HashSet;

use moat_policy::{CmpOp, Width};

/// `((arg & mask) OP value)`, unsigned, with the parameter width already folded into `mask`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Atom {
    /// Argument index, 0..=5.
    pub arg: u8,
    /// Effective mask (parameter width included).
    pub mask: u64,
    /// The comparison.
    pub op: CmpOp,
    /// The value compared against.
    pub value: u64,
    /// The parameter width the policy declared (for printing only; not part of the meaning).
    pub width: Width,
}

impl Atom {
    /// The atom for a lowered comparison.
    pub fn of(c: &moat_policy::Cmp) -> Atom {
        Atom {
            arg: c.arg,
            mask: c.mask & width_mask(c.width),
            op: c.op,
            value: c.value,
            width: c.width,
        }
    }

    /// True when the atom holds for these arguments.
    pub fn holds(&self, args: &[u64; 6]) -> bool {
        let v = args.get(usize::from(self.arg)).copied().unwrap_or(0) & self.mask;
        self.op.apply(v, self.value)
    }

    /// Same meaning (width is presentation only).
    pub fn same(&self, other: &Atom) -> bool {
        self.arg == other.arg
            && self.mask == other.mask
            && self.op == other.op
            && self.value == other.value
    }
}

/// All ones of a width.
pub fn width_mask(w: Width) -> u64 {
    match w {
        Width::U32 => 0xffff_ffff,
        Width::U64 => u64::MAX,
    }
}

/// The operator that holds exactly when `op` does not.
pub fn negate_op(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Eq => CmpOp::Ne,
        CmpOp::Ne => CmpOp::Eq,
        CmpOp::Lt => CmpOp::Ge,
        CmpOp::Ge => CmpOp::Lt,
        CmpOp::Le => CmpOp::Gt,
        CmpOp::Gt => CmpOp::Le,
    }
}

/// One constraint on a single 64-bit value, normalised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Constraint {
    /// `lo <= (x & mask) <= hi`.
    Range { mask: u64, lo: u64, hi: u64 },
    /// `(x & mask) != v`.
    Ne { mask: u64, v: u64 },
}

/// Normalises `(x & mask) OP value` (with `positive == false` meaning its negation). `None` when
/// the constraint alone is unsatisfiable.
fn constraint(mask: u64, op: CmpOp, value: u64, positive: bool) -> Option<Constraint> {
    let op = if positive { op } else { negate_op(op) };
    let range = |lo: u64, hi: u64| Constraint::Range { mask, lo, hi };
    Some(match op {
        CmpOp::Eq => range(value, value),
        CmpOp::Ne => Constraint::Ne { mask, v: value },
        CmpOp::Lt => range(0, value.checked_sub(1)?),
        CmpOp::Le => range(0, value),
        CmpOp::Gt => range(value.checked_add(1)?, u64::MAX),
        CmpOp::Ge => range(value, u64::MAX),
    })
}

/// Finds a value `x` for which every `(atom, polarity)` holds; all atoms must test the same
/// argument. `None` when there is none. Exact.
pub fn solve_one(lits: &[(Atom, bool)]) -> Option<u64> {
    let mut cs = Vec::with_capacity(lits.len());
    for (a, pos) in lits {
        cs.push(constraint(a.mask, a.op, a.value, *pos)?);
    }
    // Cheap refutations first: a masked value never exceeds its mask.
    for c in &cs {
        if let Constraint::Range { mask, lo, .. } = c
            && *lo > *mask
        {
            return None;
        }
    }
    if let Some(x) = low_mask_fast_path(&cs) {
        return x;
    }
    // The bit search's state grows with the constraints: drop duplicates first (the fast path
    // above needs no dedup, and hashing every call's constraints dominated long rule lists).
    let mut seen = HashSet::with_capacity(cs.len());
    cs.retain(|c| seen.insert(*c));
    solve_by_bits(&cs)
}

/// The value `(mask, v)` a `!=` literal excludes (`x & mask != v`); `None` for every other
/// literal.
pub fn literal_ne(a: &Atom, positive: bool) -> Option<(u64, u64)> {
    match constraint(a.mask, a.op, a.value, positive)? {
        Constraint::Ne { mask, v } => Some((mask, v)),
        Constraint::Range { .. } => None,
    }
}

/// The range `(mask, lo, hi)` a literal confines `x & mask` to (`lo <= x & mask <= hi`), for
/// every literal but `!=`; `None` for `!=` and for a literal that is unsatisfiable alone.
pub fn literal_range(a: &Atom, positive: bool) -> Option<(u64, u64, u64)> {
    match constraint(a.mask, a.op, a.value, positive)? {
        Constraint::Range { mask, lo, hi } => Some((mask, lo, hi)),
        Constraint::Ne { .. } => None,
    }
}

/// Whether `new` can be true and whether it can be false on top of `path`, all on one argument,
/// decided without allocating or sorting when every literal uses one mask of the low bits (the
/// shape of `in {…}` sets and plain comparisons): the ranges intersect to one interval of the
/// masked value, and a branch is possible when that interval (narrowed by the new literal) is
/// wider than the number of `!=` values inside it. `None` when the shape differs, or when
/// duplicate `!=` values leave the count inconclusive (a range nearly used up): then the caller
/// asks [`solve_one`]. A path along a 10,000-value set costs `O(n)` per level instead of a sort.
pub fn extend_low_mask(
    path: impl Iterator<Item = (Atom, bool)> + Clone,
    new: &Atom,
) -> Option<[bool; 2]> {
    let mask = new.mask;
    if mask & mask.wrapping_add(1) != 0 {
        return None;
    }
    let (mut lo, mut hi) = (0u64, mask);
    for (a, pos) in path.clone() {
        match constraint(a.mask, a.op, a.value, pos) {
            Some(Constraint::Range {
                mask: m,
                lo: l,
                hi: h,
            }) if m == mask => {
                lo = lo.max(l);
                hi = hi.min(h);
            }
            Some(Constraint::Ne { mask: m, .. }) if m == mask => {}
            // An unsatisfiable literal or another mask.
            _ => return None,
        }
    }
    let excluded_in = |a: u64, b: u64| {
        path.clone()
            .filter_map(|(x, pos)| match constraint(x.mask, x.op, x.value, pos) {
                Some(Constraint::Ne { v, .. }) => Some(v),
                _ => None,
            })
            .filter(|v| (a..=b).contains(v))
            .count()
    };
    // Whether some value in [a, b], not excluded, and not `also` exists.
    let open = |a: u64, b: u64, also: Option<u64>| -> Option<bool> {
        if a > b {
            return Some(false);
        }
        let width = u128::from(b - a) + 1;
        let taken = excluded_in(a, b) + usize::from(also.is_some_and(|v| (a..=b).contains(&v)));
        let taken = u128::try_from(taken).ok()?;
        if width > taken {
            Some(true)
        } else if width == 1 {
            // The single value is excluded by at least one literal.
            Some(false)
        } else {
            None
        }
    };
    let mut out = [false; 2];
    for (slot, pos) in out.iter_mut().zip([true, false]) {
        *slot = match constraint(new.mask, new.op, new.value, pos) {
            None => false,
            Some(Constraint::Range { lo: l, hi: h, .. }) => open(lo.max(l), hi.min(h), None)?,
            Some(Constraint::Ne { v, .. }) => open(lo, hi, Some(v))?,
        };
    }
    Some(out)
}

/// Decides a conjunction whose constraints all use one mask of the low bits (`2^k - 1`, as the
/// width masks of `in {…}` sets and plain comparisons are): then the masked value `y` ranges over
/// `0..=mask`, the ranges intersect to one interval, and the `!=` values inside it are sorted and
/// walked for the smallest value left. `O(n log n)` instead of the bit search. `None` when the
/// constraints do not have that shape; `Some(answer)` otherwise, with `x = y` as the witness.
fn low_mask_fast_path(cs: &[Constraint]) -> Option<Option<u64>> {
    let mask = match cs.first()? {
        Constraint::Range { mask, .. } | Constraint::Ne { mask, .. } => *mask,
    };
    if mask & mask.wrapping_add(1) != 0 {
        return None;
    }
    let (mut lo, mut hi) = (0u64, mask);
    let mut excluded = Vec::new();
    for c in cs {
        match *c {
            Constraint::Range {
                mask: m,
                lo: l,
                hi: h,
            } if m == mask => {
                lo = lo.max(l);
                hi = hi.min(h);
            }
            Constraint::Ne { mask: m, v } if m == mask => excluded.push(v),
            _ => return None,
        }
    }
    if lo > hi {
        return Some(None);
    }
    excluded.retain(|&v| (lo..=hi).contains(&v));
    excluded.sort_unstable();
    excluded.dedup();
    let mut y = lo;
    for v in excluded {
        if v != y {
            break;
        }
        if y == hi {
            return Some(None);
        }
        y += 1;
    }
    Some(Some(y))
}

/// The bit-by-bit search over any mix of masks.
fn solve_by_bits(cs: &[Constraint]) -> Option<u64> {
    let relevant = cs.iter().fold(0u64, |acc, c| match c {
        Constraint::Range { mask, .. } | Constraint::Ne { mask, .. } => acc | mask,
    });
    let mut search = Search {
        cs,
        relevant,
        failed: HashSet::new(),
    };
    // State per constraint: Range -> bit0 tight_lo, bit1 tight_hi; Ne -> bit0 still equal.
    let state: Vec<u8> = cs
        .iter()
        .map(|c| match c {
            Constraint::Range { .. } => 0b11,
            Constraint::Ne { .. } => 0b01,
        })
        .collect();
    search.go(63, state, 0)
}

struct Search<'a> {
    cs: &'a [Constraint],
    relevant: u64,
    failed: HashSet<(i32, Vec<u8>)>,
}

impl Search<'_> {
    /// Chooses bits `bit..=0` of `x` (bits above are in `prefix`). Returns a full witness.
    fn go(&mut self, bit: i32, state: Vec<u8>, prefix: u64) -> Option<u64> {
        if bit < 0 {
            let ok = self.cs.iter().zip(&state).all(|(c, s)| match c {
                Constraint::Range { .. } => true,
                Constraint::Ne { .. } => s & 1 == 0,
            });
            return ok.then_some(prefix);
        }
        // Every remaining state is fully determined by constraints that no longer look at any
        // bit: skip straight to the end when no constraint's mask has a bit at or below `bit`.
        let below = if bit == 63 {
            u64::MAX
        } else {
            (1u64 << (bit + 1)) - 1
        };
        if self.relevant & below == 0 {
            // The remaining bits of every masked value are 0: a range still tight on `lo`
            // needs `lo`'s remaining bits to be 0, a `!=` still equal needs `v`'s to differ.
            let ok = self.cs.iter().zip(&state).all(|(c, s)| match *c {
                Constraint::Range { lo, .. } => s & 1 == 0 || lo & below == 0,
                Constraint::Ne { v, .. } => s & 1 == 0 || v & below != 0,
            });
            return ok.then_some(prefix);
        }
        let key = (bit, state);
        if self.failed.contains(&key) {
            return None;
        }
        let state = key.1;
        let b = 1u64 << bit;
        let choices: &[u64] = if self.relevant & b == 0 {
            &[0]
        } else {
            &[0, 1]
        };
        for &xb in choices {
            if let Some(next) = self.step(&state, b, xb)
                && let Some(w) = self.go(bit - 1, next, prefix | (xb * b))
            {
                return Some(w);
            }
        }
        self.failed.insert((bit, state));
        None
    }

    /// The constraint states after choosing bit `b` of `x` to be `xb`; `None` if one fails.
    fn step(&self, state: &[u8], b: u64, xb: u64) -> Option<Vec<u8>> {
        let mut next = Vec::with_capacity(state.len());
        for (c, &s) in self.cs.iter().zip(state) {
            match *c {
                Constraint::Range { mask, lo, hi } => {
                    let vb = u64::from(mask & b != 0) * xb;
                    let mut s2 = s;
                    if s & 1 != 0 {
                        let lb = u64::from(lo & b != 0);
                        if vb < lb {
                            return None;
                        }
                        if vb > lb {
                            s2 &= !1;
                        }
                    }
                    if s & 2 != 0 {
                        let hb = u64::from(hi & b != 0);
                        if vb > hb {
                            return None;
                        }
                        if vb < hb {
                            s2 &= !2;
                        }
                    }
                    next.push(s2);
                }
                Constraint::Ne { mask, v } => {
                    let vb = u64::from(mask & b != 0) * xb;
                    let eb = u64::from(v & b != 0);
                    next.push(if s & 1 != 0 && vb != eb { 0 } else { s });
                }
            }
        }
        Some(next)
    }
}

/// Finds arguments for which every `(atom, polarity)` holds, one argument at a time. Arguments
/// no atom tests are 0. `None` when unsatisfiable. Exact.
pub fn solve(lits: &[(Atom, bool)]) -> Option<[u64; 6]> {
    let mut args = [0u64; 6];
    for (i, slot) in args.iter_mut().enumerate() {
        let mine: Vec<(Atom, bool)> = lits
            .iter()
            .copied()
            .filter(|(a, _)| usize::from(a.arg) == i)
            .collect();
        if !mine.is_empty() {
            *slot = solve_one(&mine)?;
        }
    }
    Some(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn atom(mask: u64, op: CmpOp, value: u64) -> Atom {
        Atom {
            arg: 0,
            mask,
            op,
            value,
            width: Width::U64,
        }
    }

    #[test]
    fn masked_equality_and_ranges() {
        // flags & 0x10 != 0 and flags < 0x10: impossible.
        let a = atom(0x10, CmpOp::Ne, 0);
        let b = atom(u64::MAX, CmpOp::Lt, 0x10);
        assert_eq!(solve_one(&[(a, true), (b, true)]), None);
        // flags & 0x10 != 0 and flags < 0x11: only 0x10.
        let c = atom(u64::MAX, CmpOp::Lt, 0x11);
        assert_eq!(solve_one(&[(a, true), (c, true)]), Some(0x10));
        // Five excluded values and a range that contains only them.
        let lits: Vec<_> = (3..8)
            .map(|v| (atom(u64::MAX, CmpOp::Eq, v), false))
            .chain([
                (atom(u64::MAX, CmpOp::Ge, 3), true),
                (atom(u64::MAX, CmpOp::Le, 7), true),
            ])
            .collect();
        assert_eq!(solve_one(&lits), None);
        // A 32-bit parameter ignores the high word: low word == 5 with the whole value > 2^32.
        let lo = atom(0xffff_ffff, CmpOp::Eq, 5);
        let big = atom(u64::MAX, CmpOp::Gt, 1 << 32);
        let w = solve_one(&[(lo, true), (big, true)]).unwrap();
        assert!(w & 0xffff_ffff == 5 && w > 1 << 32);
        // A masked value never exceeds its mask.
        assert_eq!(solve_one(&[(atom(0xff, CmpOp::Gt, 0xff), true)]), None);
        assert_eq!(solve_one(&[(atom(0xff, CmpOp::Eq, 0x100), true)]), None);
        // Regression: bits below the mask still count against a tight lower bound.
        assert_eq!(solve_one(&[(atom(2, CmpOp::Eq, 1), true)]), None);
        assert_eq!(
            solve_one(&[(atom(2, CmpOp::Ne, 2), true), (atom(2, CmpOp::Ge, 1), true)]),
            None
        );
        // Exhausting a small mask with != constraints.
        let lits: Vec<_> = (0..4).map(|v| (atom(0b11, CmpOp::Ne, v), true)).collect();
        assert_eq!(solve_one(&lits), None);
        let lits: Vec<_> = (0..3).map(|v| (atom(0b11, CmpOp::Ne, v), true)).collect();
        assert_eq!(solve_one(&lits).map(|w| w & 3), Some(3));
    }

    fn arb_atom() -> impl Strategy<Value = (Atom, bool)> {
        let ops = prop_oneof![
            Just(CmpOp::Eq),
            Just(CmpOp::Ne),
            Just(CmpOp::Lt),
            Just(CmpOp::Le),
            Just(CmpOp::Gt),
            Just(CmpOp::Ge)
        ];
        (0u64..64, ops, 0u64..70, any::<bool>()).prop_map(|(m, o, v, p)| (atom(m, o, v), p))
    }

    fn arb_low_mask_atom() -> impl Strategy<Value = (Atom, bool)> {
        let ops = prop_oneof![
            Just(CmpOp::Eq),
            Just(CmpOp::Ne),
            Just(CmpOp::Lt),
            Just(CmpOp::Le),
            Just(CmpOp::Gt),
            Just(CmpOp::Ge)
        ];
        (ops, 0u64..70, any::<bool>()).prop_map(|(o, v, p)| (atom(0x3f, o, v), p))
    }

    #[test]
    fn large_sets_are_decided_without_the_bit_search() {
        // 10,000 excluded values covering 0..10_000 and a range 0..=10_000: only 10_000 is left.
        let mut lits: Vec<_> = (0..10_000u64)
            .map(|v| (atom(0xffff_ffff, CmpOp::Eq, v), false))
            .collect();
        lits.push((atom(0xffff_ffff, CmpOp::Le, 10_000), true));
        assert_eq!(solve_one(&lits), Some(10_000));
        lits.push((atom(0xffff_ffff, CmpOp::Ne, 10_000), true));
        assert_eq!(solve_one(&lits), None);
    }

    proptest! {
        /// One low mask for every atom (the fast path): agrees with brute force and with the
        /// bit search, and every witness satisfies the constraints.
        #[test]
        fn low_mask_path_agrees_with_brute_force(lits in proptest::collection::vec(arb_low_mask_atom(), 1..12)) {
            let brute = (0u64..64).find(|&x| lits.iter().all(|(a, p)| a.holds(&[x, 0, 0, 0, 0, 0]) == *p));
            let got = solve_one(&lits);
            prop_assert_eq!(brute.is_some(), got.is_some());
            if let Some(w) = got {
                prop_assert!(lits.iter().all(|(a, p)| a.holds(&[w, 0, 0, 0, 0, 0]) == *p));
            }
            let cs: Option<Vec<_>> = lits.iter().map(|(a, p)| constraint(a.mask, a.op, a.value, *p)).collect();
            if let Some(cs) = cs {
                prop_assert_eq!(solve_by_bits(&cs).is_some(), got.is_some());
            }
        }

        /// On a 6-bit universe (masks look at the low 6 bits only), the search agrees with
        /// brute force, and every witness satisfies the constraints.
        #[test]
        fn agrees_with_brute_force(lits in proptest::collection::vec(arb_atom(), 1..7)) {
            let brute = (0u64..64).find(|&x| lits.iter().all(|(a, p)| a.holds(&[x, 0, 0, 0, 0, 0]) == *p));
            let got = solve_one(&lits);
            prop_assert_eq!(brute.is_some(), got.is_some());
            if let Some(w) = got {
                prop_assert!(lits.iter().all(|(a, p)| a.holds(&[w, 0, 0, 0, 0, 0]) == *p));
            }
        }
    }
}
