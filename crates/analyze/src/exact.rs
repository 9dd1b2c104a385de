//! Exact decisions about raw BPF programs.
//!
//! [`moat_bpf::sym::paths`] turns a program into its feasible paths, each a conjunction of
//! literals over the 32-bit words of `seccomp_data` with a return value. This module decides
//! whether such a conjunction (plus, when comparing with a policy, conditions of the policy's
//! own domain) has a solution, and finds one:
//!
//! - [`Method::Domain`]: every literal is `(word & mask) TEST k`, the form libseccomp's and
//!   moat's programs are made of. Words are independent, and each word's constraints are decided
//!   exactly by [`crate::solve::solve_one`] (the same procedure that decides policy conditions).
//! - [`Method::Sat`]: anything else (ALU results, comparisons with X, `RET A`): the conjunction is
//!   bit-blasted (adders, multipliers, restoring dividers, barrel shifters as Boolean circuits
//!   over 32 variables per word) and handed to a CDCL SAT solver (`varisat`). Complete: an
//!   answer of "unsatisfiable" is a proof.
//!
//! Neither samples. The analyses report which method each answer needed.

use std::collections::BTreeMap;
use std::rc::Rc;

use moat_bpf::sym::{BinOp, Expr, Lit, Test};
use moat_policy::{CmpOp, Width};
use varisat::{ExtendFormula, Solver};

use crate::solve::{Atom, solve_one};

/// Which decision procedure answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    /// Word-wise exact solving of `(word & mask) OP k` constraints.
    Domain,
    /// Bit-blasting to SAT.
    Sat,
}

impl Method {
    /// `domain` or `SAT`.
    pub fn name(self) -> &'static str {
        match self {
            Method::Domain => "domain",
            Method::Sat => "SAT",
        }
    }
}

/// Values of the 16 words of `seccomp_data` (index = offset / 4).
pub type Words = [u32; 16];

/// The literal as an atom over one 32-bit word (`arg` 0, value in the low 32 bits), or `None`
/// when it is not `(word & mask) TEST k`. Returns the word's offset too.
pub fn word_atom(l: &Lit) -> Option<(u32, Atom, bool)> {
    let w = l.word_test()?;
    let (op, value, pos) = match w.test {
        Test::Eq => (CmpOp::Eq, w.k, w.holds),
        Test::Gt => (CmpOp::Gt, w.k, w.holds),
        Test::Ge => (CmpOp::Ge, w.k, w.holds),
        // (word & k) != 0
        Test::Set => (CmpOp::Ne, 0, w.holds),
    };
    Some((
        w.offset,
        Atom {
            arg: 0,
            mask: u64::from(w.mask),
            op,
            value: u64::from(value),
            width: Width::U64,
        },
        pos,
    ))
}

/// A solution of the conjunction of `lits`, with `fixed` words given (e.g. `arch`), and the
/// method that decided it; `Err(method)` when there is none.
pub fn solve(lits: &[Lit], fixed: &[(u32, u32)]) -> Result<(Words, Method), Method> {
    let mut per_word: BTreeMap<u32, Vec<(Atom, bool)>> = BTreeMap::new();
    let mut domain = true;
    for l in lits {
        match word_atom(l) {
            Some((o, a, pos)) => per_word.entry(o).or_default().push((a, pos)),
            None => {
                domain = false;
                break;
            }
        }
    }
    if domain && per_word.keys().all(|o| fixed.iter().all(|(f, _)| f != o)) {
        let mut words = [0u32; 16];
        for &(o, v) in fixed {
            if let Some(w) = words.get_mut(index(o)) {
                *w = v;
            }
        }
        for (o, cs) in &per_word {
            let v = solve_one(cs).ok_or(Method::Domain)?;
            if let Some(w) = words.get_mut(index(*o)) {
                *w = u32::try_from(v).unwrap_or(u32::MAX);
            }
        }
        return Ok((words, Method::Domain));
    }
    let mut sat = Blaster::new();
    for &(o, v) in fixed {
        let w = sat.word(o);
        let k = sat.konst(v);
        let e = sat.eq(&w, &k);
        sat.assert(e);
    }
    for l in lits {
        let b = sat.lit(l);
        sat.assert(if l.holds { b } else { !b });
    }
    sat.solve().map(|w| (w, Method::Sat)).ok_or(Method::Sat)
}

fn index(offset: u32) -> usize {
    usize::try_from(offset / 4).unwrap_or(usize::MAX)
}

/// Tseitin encoding of 32-bit expressions for a SAT solver.
pub(crate) struct Blaster {
    solver: Solver<'static>,
    t: varisat::Lit,
    words: BTreeMap<u32, Vec<varisat::Lit>>,
    memo: BTreeMap<Expr, Vec<varisat::Lit>>,
}

type Bits = Vec<varisat::Lit>;

impl Blaster {
    pub(crate) fn new() -> Blaster {
        let mut solver = Solver::new();
        let t = solver.new_lit();
        solver.add_clause(&[t]);
        Blaster {
            solver,
            t,
            words: BTreeMap::new(),
            memo: BTreeMap::new(),
        }
    }

    pub(crate) fn assert(&mut self, b: varisat::Lit) {
        self.solver.add_clause(&[b]);
    }

    fn fresh(&mut self) -> varisat::Lit {
        self.solver.new_lit()
    }

    /// The 32 bits (least significant first) of the word at `offset`.
    pub(crate) fn word(&mut self, offset: u32) -> Bits {
        if let Some(w) = self.words.get(&offset) {
            return w.clone();
        }
        let w: Bits = (0..32).map(|_| self.fresh()).collect();
        self.words.insert(offset, w.clone());
        w
    }

    pub(crate) fn konst(&mut self, v: u32) -> Bits {
        (0..32)
            .map(|i| if v >> i & 1 == 1 { self.t } else { !self.t })
            .collect()
    }

    fn and2(&mut self, a: varisat::Lit, b: varisat::Lit) -> varisat::Lit {
        if a == !self.t || b == !self.t {
            return !self.t;
        }
        if a == self.t {
            return b;
        }
        if b == self.t {
            return a;
        }
        let o = self.fresh();
        self.solver.add_clause(&[!o, a]);
        self.solver.add_clause(&[!o, b]);
        self.solver.add_clause(&[o, !a, !b]);
        o
    }

    fn or2(&mut self, a: varisat::Lit, b: varisat::Lit) -> varisat::Lit {
        !self.and2(!a, !b)
    }

    fn xor2(&mut self, a: varisat::Lit, b: varisat::Lit) -> varisat::Lit {
        if a == !self.t {
            return b;
        }
        if b == !self.t {
            return a;
        }
        if a == self.t {
            return !b;
        }
        if b == self.t {
            return !a;
        }
        let o = self.fresh();
        self.solver.add_clause(&[!o, a, b]);
        self.solver.add_clause(&[!o, !a, !b]);
        self.solver.add_clause(&[o, !a, b]);
        self.solver.add_clause(&[o, a, !b]);
        o
    }

    /// `c ? a : b`.
    fn mux(&mut self, c: varisat::Lit, a: varisat::Lit, b: varisat::Lit) -> varisat::Lit {
        let x = self.and2(c, a);
        let y = self.and2(!c, b);
        self.or2(x, y)
    }

    /// `a + b + cin`, and the carry out.
    fn add(
        &mut self,
        a: &[varisat::Lit],
        b: &[varisat::Lit],
        cin: varisat::Lit,
    ) -> (Bits, varisat::Lit) {
        let mut c = cin;
        let mut out = Vec::with_capacity(a.len());
        for (&x, &y) in a.iter().zip(b) {
            let xy = self.xor2(x, y);
            out.push(self.xor2(xy, c));
            let g = self.and2(x, y);
            let p = self.and2(xy, c);
            c = self.or2(g, p);
        }
        (out, c)
    }

    fn sub(&mut self, a: &[varisat::Lit], b: &[varisat::Lit]) -> (Bits, varisat::Lit) {
        let nb: Bits = b.iter().map(|&x| !x).collect();
        // carry out set: no borrow, a >= b.
        self.add(a, &nb, self.t)
    }

    pub(crate) fn eq(&mut self, a: &[varisat::Lit], b: &[varisat::Lit]) -> varisat::Lit {
        let mut acc = self.t;
        for (&x, &y) in a.iter().zip(b) {
            let d = self.xor2(x, y);
            acc = self.and2(acc, !d);
        }
        acc
    }

    /// Unsigned `a >= b`.
    pub(crate) fn uge(&mut self, a: &[varisat::Lit], b: &[varisat::Lit]) -> varisat::Lit {
        self.sub(a, b).1
    }

    fn mul(&mut self, a: &[varisat::Lit], b: &[varisat::Lit]) -> Bits {
        let n = a.len();
        let mut acc: Bits = vec![!self.t; n];
        for (i, &bi) in b.iter().enumerate() {
            let mut row: Bits = vec![!self.t; n];
            for j in 0..n - i {
                row[i + j] = self.and2(a[j], bi);
            }
            acc = self.add(&acc, &row, !self.t).0;
        }
        acc
    }

    /// Unsigned `a / b` for `b != 0` (restoring division).
    fn div(&mut self, a: &[varisat::Lit], b: &[varisat::Lit]) -> Bits {
        let n = a.len();
        let f = !self.t;
        let mut rem: Bits = vec![f; n + 1];
        let mut bx: Bits = b.to_vec();
        bx.push(f);
        let mut q: Bits = vec![f; n];
        for i in (0..n).rev() {
            // rem = rem << 1 | a_i
            let mut shifted = Vec::with_capacity(n + 1);
            shifted.push(a[i]);
            shifted.extend_from_slice(&rem[..n]);
            let (diff, ge) = self.sub(&shifted, &bx);
            q[i] = ge;
            rem = shifted
                .iter()
                .zip(&diff)
                .map(|(&s, &d)| self.mux(ge, d, s))
                .collect();
        }
        q
    }

    /// `a << (s & 31)` or `a >> (s & 31)`.
    fn shift(&mut self, a: &[varisat::Lit], s: &[varisat::Lit], left: bool) -> Bits {
        let f = !self.t;
        let mut cur = a.to_vec();
        for (stage, &sb) in s.iter().take(5).enumerate() {
            let d = 1usize << stage;
            let moved: Bits = (0..32)
                .map(|i| {
                    if left {
                        if i >= d { cur[i - d] } else { f }
                    } else if i + d < 32 {
                        cur[i + d]
                    } else {
                        f
                    }
                })
                .collect();
            cur = (0..32).map(|i| self.mux(sb, moved[i], cur[i])).collect();
        }
        cur
    }

    pub(crate) fn expr(&mut self, e: &Rc<Expr>) -> Bits {
        if let Some(b) = self.memo.get(&**e) {
            return b.clone();
        }
        let out = match &**e {
            Expr::Const(k) => self.konst(*k),
            Expr::Word(o) => self.word(*o),
            Expr::Neg(a) => {
                let a = self.expr(a);
                let na: Bits = a.iter().map(|&x| !x).collect();
                let zero = self.konst(0);
                self.add(&na, &zero, self.t).0
            }
            Expr::Bin(op, a, b) => {
                let (a, b) = (self.expr(a), self.expr(b));
                match op {
                    BinOp::Add => self.add(&a, &b, !self.t).0,
                    BinOp::Sub => self.sub(&a, &b).0,
                    BinOp::Mul => self.mul(&a, &b),
                    BinOp::Div => self.div(&a, &b),
                    BinOp::And => a.iter().zip(&b).map(|(&x, &y)| self.and2(x, y)).collect(),
                    BinOp::Or => a.iter().zip(&b).map(|(&x, &y)| self.or2(x, y)).collect(),
                    BinOp::Xor => a.iter().zip(&b).map(|(&x, &y)| self.xor2(x, y)).collect(),
                    BinOp::Lsh => self.shift(&a, &b, true),
                    BinOp::Rsh => self.shift(&a, &b, false),
                }
            }
        };
        self.memo.insert((**e).clone(), out.clone());
        out
    }

    /// The test of `l` (ignoring `holds`) as one Boolean.
    pub(crate) fn lit(&mut self, l: &Lit) -> varisat::Lit {
        let (a, b) = (self.expr(&l.lhs), self.expr(&l.rhs));
        match l.test {
            Test::Eq => self.eq(&a, &b),
            Test::Ge => self.uge(&a, &b),
            Test::Gt => {
                let le = self.uge(&b, &a);
                !le
            }
            Test::Set => {
                let mut acc = !self.t;
                for (&x, &y) in a.iter().zip(&b) {
                    let both = self.and2(x, y);
                    acc = self.or2(acc, both);
                }
                acc
            }
        }
    }

    /// Solves; the words' values when satisfiable.
    pub(crate) fn solve(mut self) -> Option<Words> {
        if !self.solver.solve().unwrap_or(false) {
            return None;
        }
        let model = self.solver.model()?;
        let truth: std::collections::HashSet<varisat::Lit> = model.into_iter().collect();
        let mut words = [0u32; 16];
        for (o, bits) in &self.words {
            let mut v = 0u32;
            for (i, b) in bits.iter().enumerate() {
                if truth.contains(b) {
                    v |= 1 << i;
                }
            }
            if let Some(w) = words.get_mut(index(*o)) {
                *w = v;
            }
        }
        Some(words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(o: u32) -> Rc<Expr> {
        Rc::new(Expr::Word(o))
    }
    fn k(v: u32) -> Rc<Expr> {
        Rc::new(Expr::Const(v))
    }
    fn lit(lhs: Rc<Expr>, test: Test, rhs: Rc<Expr>, holds: bool) -> Lit {
        Lit {
            lhs,
            test,
            rhs,
            holds,
        }
    }

    fn expr() -> impl proptest::strategy::Strategy<Value = Rc<Expr>> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            (0u32..2).prop_map(|i| w(16 + 4 * i)),
            any::<u32>().prop_map(k),
            (0u32..40).prop_map(k),
        ];
        leaf.prop_recursive(3, 12, 2, |inner| {
            prop_oneof![
                (
                    prop::sample::select(vec![
                        BinOp::Add,
                        BinOp::Sub,
                        BinOp::Mul,
                        BinOp::Div,
                        BinOp::Or,
                        BinOp::And,
                        BinOp::Xor,
                        BinOp::Lsh,
                        BinOp::Rsh
                    ]),
                    inner.clone(),
                    inner.clone()
                )
                    .prop_map(|(op, a, b)| Rc::new(Expr::Bin(op, a, b))),
                inner.prop_map(|a| Rc::new(Expr::Neg(a))),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 128, failure_persistence: None, ..proptest::prelude::ProptestConfig::default() })]

        /// Every circuit computes its operation: with the words fixed, `e == eval(e)` is
        /// satisfiable and `e != eval(e)` is not (division by zero excluded: paths end first).
        #[test]
        fn circuits_compute_the_operations(e in expr(), a: u32, b: u32, test in proptest::sample::select(vec![Test::Eq, Test::Gt, Test::Ge, Test::Set]), c: u32) {
            fn divides_by_zero(e: &Expr, word: &dyn Fn(u32) -> u32) -> bool {
                match e {
                    Expr::Bin(op, x, y) => {
                        (*op == BinOp::Div && y.eval(word) == 0)
                            || divides_by_zero(x, word)
                            || divides_by_zero(y, word)
                    }
                    Expr::Neg(x) => divides_by_zero(x, word),
                    _ => false,
                }
            }
            let word = |o: u32| if o == 16 { a } else { b };
            proptest::prop_assume!(!divides_by_zero(&e, &word));
            let v = e.eval(&word);
            let fixed = [(16, a), (20, b)];
            let yes = lit(e.clone(), Test::Eq, k(v), true);
            proptest::prop_assert!(solve(&[yes], &fixed).is_ok());
            let no = lit(e.clone(), Test::Eq, k(v), false);
            proptest::prop_assert!(solve(&[no], &fixed).is_err());
            let t = lit(e, test, k(c), true);
            proptest::prop_assert_eq!(solve(std::slice::from_ref(&t), &fixed).is_ok(), t.eval(&word));
        }
    }

    #[test]
    fn domain_literals_are_decided_word_by_word() {
        let a = lit(w(16), Test::Gt, k(5), true);
        let b = lit(w(16), Test::Ge, k(7), false);
        let (words, m) = solve(&[a.clone(), b.clone()], &[]).unwrap();
        assert_eq!(m, Method::Domain);
        assert_eq!(words[4], 6);
        let c = lit(w(16), Test::Eq, k(6), false);
        assert_eq!(solve(&[a, b, c], &[]), Err(Method::Domain));
    }

    #[test]
    fn alu_literals_go_to_sat_and_witnesses_check() {
        let bin = |op, a, b| Rc::new(Expr::Bin(op, a, b));
        // arg0 * 3 + 1 == 100  ->  arg0 = 33 (mod 2^32 there are others; check by evaluation)
        let e = bin(BinOp::Add, bin(BinOp::Mul, w(16), k(3)), k(1));
        let l = lit(e, Test::Eq, k(100), true);
        let (words, m) = solve(std::slice::from_ref(&l), &[]).unwrap();
        assert_eq!(m, Method::Sat);
        assert!(l.eval(&|o| words[index(o)]));
        // x / 7 == 5 and x % 7 == 3 via x - (x/7)*7 == 3  ->  x = 38
        let q = bin(BinOp::Div, w(20), k(7));
        let r = bin(BinOp::Sub, w(20), bin(BinOp::Mul, q.clone(), k(7)));
        let l1 = lit(q, Test::Eq, k(5), true);
        let l2 = lit(r, Test::Eq, k(3), true);
        let (words, _) = solve(&[l1, l2], &[]).unwrap();
        assert_eq!(words[5], 38);
        // (x << (y & 31)) == 1 and y == 3: impossible.
        let s = bin(BinOp::Lsh, w(24), w(28));
        let l3 = lit(s, Test::Eq, k(1), true);
        let l4 = lit(w(28), Test::Eq, k(3), true);
        assert_eq!(solve(&[l3, l4], &[]), Err(Method::Sat));
    }
}

/// The call whose `seccomp_data` words are `words` (the layout, and so which word is which
/// half of an argument, follows `words[1]`, the `arch`).
pub fn call_of(words: &Words) -> moat_bpf::SeccompData {
    let order = moat_bpf::ByteOrder::of_audit_arch(words[1]);
    let field = |first: usize| {
        let (a, b) = (u64::from(words[first]), u64::from(words[first + 1]));
        if order.is_high_word(u32::try_from(first * 4).unwrap_or(0)) {
            a << 32 | b
        } else {
            b << 32 | a
        }
    };
    let mut d = moat_bpf::SeccompData::new(words[1], words[0], [0; 6]);
    d.instruction_pointer = field(2);
    for (i, a) in d.args.iter_mut().enumerate() {
        *a = field(4 + 2 * i);
    }
    d
}

/// The words of a call (inverse of [`call_of`]).
pub fn words_of(d: &moat_bpf::SeccompData) -> Words {
    let mut w = [0u32; 16];
    for (i, slot) in w.iter_mut().enumerate() {
        *slot = d.load(u32::try_from(i * 4).unwrap_or(0)).unwrap_or(0);
    }
    w
}

/// A program's exact meaning on one `arch` (or every `arch`, for `None`): its feasible paths.
#[derive(Clone, Debug)]
pub struct Semantics {
    /// The `arch` the paths assume (`None`: unconstrained).
    pub audit_arch: Option<u32>,
    /// Disjoint paths covering every input with that `arch`.
    pub paths: Vec<moat_bpf::sym::Path>,
    /// The strongest method any feasibility question needed.
    pub method: Method,
}

/// The most paths [`semantics`] explores per program and `arch`.
pub const PATH_LIMIT: usize = 200_000;

/// Computes the exact meaning of `p` on inputs with `arch == audit_arch`, every fork decided by
/// [`solve`].
pub fn semantics(
    p: &moat_bpf::Program,
    audit_arch: Option<u32>,
) -> Result<Semantics, moat_bpf::sym::TooManyPaths> {
    let mut method = Method::Domain;
    let paths = moat_bpf::sym::paths(p, audit_arch, PATH_LIMIT, &mut |lits| {
        let r = solve(lits, &[]);
        let m = match r {
            Ok((_, m)) | Err(m) => m,
        };
        method = method.max(m);
        r.is_ok()
    })?;
    Ok(Semantics {
        audit_arch,
        paths,
        method,
    })
}

impl Semantics {
    /// The path a call takes (the unique one whose literals hold).
    pub fn path_of(&self, d: &moat_bpf::SeccompData) -> Option<&moat_bpf::sym::Path> {
        let w = words_of(d);
        let word = |o: u32| w.get(index(o)).copied().unwrap_or(0);
        self.paths
            .iter()
            .find(|p| p.lits.iter().all(|l| l.eval(&word)))
    }

    /// A call that takes path `i`, found by [`solve`].
    pub fn witness(&self, i: usize) -> Option<moat_bpf::SeccompData> {
        let p = self.paths.get(i)?;
        let fixed: Vec<(u32, u32)> = self.audit_arch.map(|a| (4, a)).into_iter().collect();
        let (mut words, _) = solve(&p.lits, &fixed).ok()?;
        if let Some(a) = self.audit_arch {
            words[1] = a;
        }
        Some(call_of(&words))
    }
}
