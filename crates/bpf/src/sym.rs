//! The exact meaning of a program: symbolic execution over every path.
//!
//! A seccomp program is loop-free (jumps only go forward) and reads its input in 32-bit words,
//! so its meaning is the finite set of its feasible paths. [`paths`] runs the program on an input
//! whose `arch` is a given constant and whose other words (`nr`, `instruction_pointer`,
//! `args[]`) are unknowns ([`Expr::Word`]), tracking A, X and the scratch memory as expressions
//! over those words (every ALU operation the loader accepts: `add`, `sub`, `mul`, `div`, `or`,
//! `and`, `xor`, `lsh`, `rsh`, `neg`). Every conditional jump whose outcome the path does not
//! already decide forks the path, adding a literal ([`Lit`]) on each side. A division by an
//! unknown X forks on `X == 0` (where the filter returns 0, `SECCOMP_RET_KILL_THREAD`, as
//! [`crate::emu::run`] does).
//!
//! The caller decides which forks are feasible (a callback), so the constraint domain and the
//! decision procedure live with the analyses. The paths returned are pairwise disjoint (each
//! fork splits on a literal and its negation) and cover every input with that `arch`: the
//! program's return value for an input is the `ret` of the unique path whose literals hold.

use std::rc::Rc;

use crate::consts::*;
use crate::program::Program;

/// An ALU operation on two 32-bit values (wrapping, as the kernel computes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BinOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b` (never evaluated with `b == 0`: that path ends first).
    Div,
    /// `a | b`.
    Or,
    /// `a & b`.
    And,
    /// `a ^ b`.
    Xor,
    /// `a << (b & 31)`.
    Lsh,
    /// `a >> (b & 31)`.
    Rsh,
}

impl BinOp {
    /// The operation on values, as [`crate::emu::run`] computes it (`x / 0` is 0 here; a path
    /// dividing by zero has already returned).
    pub fn apply(self, a: u32, b: u32) -> u32 {
        match self {
            BinOp::Add => a.wrapping_add(b),
            BinOp::Sub => a.wrapping_sub(b),
            BinOp::Mul => a.wrapping_mul(b),
            BinOp::Div => a.checked_div(b).unwrap_or(0),
            BinOp::Or => a | b,
            BinOp::And => a & b,
            BinOp::Xor => a ^ b,
            BinOp::Lsh => a << (b & 31),
            BinOp::Rsh => a >> (b & 31),
        }
    }

    fn of(op: u16) -> Option<BinOp> {
        Some(match op {
            BPF_ADD => BinOp::Add,
            BPF_SUB => BinOp::Sub,
            BPF_MUL => BinOp::Mul,
            BPF_DIV => BinOp::Div,
            BPF_OR => BinOp::Or,
            BPF_AND => BinOp::And,
            BPF_XOR => BinOp::Xor,
            BPF_LSH => BinOp::Lsh,
            BPF_RSH => BinOp::Rsh,
            _ => return None,
        })
    }
}

/// A 32-bit value computed from the input words.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Expr {
    /// A constant.
    Const(u32),
    /// The `seccomp_data` word at this offset (0 `nr`, 8/12 `instruction_pointer`, 16..64
    /// `args`; which half of a 64-bit field it is depends on the ABI's [`crate::ByteOrder`]).
    Word(u32),
    /// A binary operation.
    Bin(BinOp, Rc<Expr>, Rc<Expr>),
    /// `-a` (two's complement).
    Neg(Rc<Expr>),
}

impl Expr {
    /// The value on an input, given the value of every word.
    pub fn eval(&self, word: &dyn Fn(u32) -> u32) -> u32 {
        match self {
            Expr::Const(k) => *k,
            Expr::Word(o) => word(*o),
            Expr::Bin(op, a, b) => op.apply(a.eval(word), b.eval(word)),
            Expr::Neg(a) => a.eval(word).wrapping_neg(),
        }
    }

    /// The constant, if this is one.
    pub fn as_const(&self) -> Option<u32> {
        match self {
            Expr::Const(k) => Some(*k),
            _ => None,
        }
    }

    /// `(word & mask)` as `(offset, mask)`: a plain load is `mask == u32::MAX`.
    pub fn as_masked_word(&self) -> Option<(u32, u32)> {
        match self {
            Expr::Word(o) => Some((*o, u32::MAX)),
            Expr::Bin(BinOp::And, a, b) => match (&**a, &**b) {
                (Expr::Word(o), Expr::Const(m)) | (Expr::Const(m), Expr::Word(o)) => Some((*o, *m)),
                _ => None,
            },
            _ => None,
        }
    }

    /// Every word offset the expression reads.
    pub fn words(&self, out: &mut Vec<u32>) {
        match self {
            Expr::Const(_) => {}
            Expr::Word(o) => out.push(*o),
            Expr::Bin(_, a, b) => {
                a.words(out);
                b.words(out);
            }
            Expr::Neg(a) => a.words(out),
        }
    }
}

/// `op(a, b)` with constants folded and the identities that keep `word & mask` recognisable.
fn bin(op: BinOp, a: Rc<Expr>, b: Rc<Expr>) -> Rc<Expr> {
    match (op, a.as_const(), b.as_const()) {
        (_, Some(x), Some(y)) => Rc::new(Expr::Const(op.apply(x, y))),
        (BinOp::And, _, Some(u32::MAX))
        | (
            BinOp::Or | BinOp::Xor | BinOp::Add | BinOp::Sub | BinOp::Lsh | BinOp::Rsh,
            _,
            Some(0),
        )
        | (BinOp::Mul | BinOp::Div, _, Some(1)) => a,
        (BinOp::And | BinOp::Mul, _, Some(0)) => Rc::new(Expr::Const(0)),
        (BinOp::And, _, Some(m)) => match &*a {
            // (w & m1) & m2 = w & (m1 & m2)
            Expr::Bin(BinOp::And, inner, c) if c.as_const().is_some() => {
                let m1 = c.as_const().unwrap_or(u32::MAX);
                bin(BinOp::And, inner.clone(), Rc::new(Expr::Const(m1 & m)))
            }
            _ => Rc::new(Expr::Bin(op, a, b)),
        },
        _ => Rc::new(Expr::Bin(op, a, b)),
    }
}

/// A jump's test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Test {
    /// `a == b`.
    Eq,
    /// `a > b`, unsigned.
    Gt,
    /// `a >= b`, unsigned.
    Ge,
    /// `a & b != 0`.
    Set,
}

impl Test {
    /// The test on values.
    pub fn apply(self, a: u32, b: u32) -> bool {
        match self {
            Test::Eq => a == b,
            Test::Gt => a > b,
            Test::Ge => a >= b,
            Test::Set => a & b != 0,
        }
    }
}

/// `lhs TEST rhs` holds (or, with `holds == false`, does not): one branch taken.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lit {
    /// The accumulator's value.
    pub lhs: Rc<Expr>,
    /// The test.
    pub test: Test,
    /// `k` or X's value.
    pub rhs: Rc<Expr>,
    /// Whether the test is true on this path.
    pub holds: bool,
}

/// A literal of the form `(word & mask) TEST k`: what classic filters (libseccomp's, moat's)
/// are made of, and what interval-and-mask domains represent directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WordTest {
    /// The word's offset.
    pub offset: u32,
    /// The mask applied before the test (`u32::MAX`: none).
    pub mask: u32,
    /// The test.
    pub test: Test,
    /// The constant.
    pub k: u32,
    /// Whether the test holds.
    pub holds: bool,
}

impl Lit {
    /// Whether the literal holds on an input.
    pub fn eval(&self, word: &dyn Fn(u32) -> u32) -> bool {
        self.test.apply(self.lhs.eval(word), self.rhs.eval(word)) == self.holds
    }

    /// The literal as `(word & mask) TEST k`, if it has that form. `JSET` on a plain word with
    /// `k` is `(word & k) != 0`.
    pub fn word_test(&self) -> Option<WordTest> {
        let k = self.rhs.as_const()?;
        let (offset, mask) = self.lhs.as_masked_word()?;
        Some(match self.test {
            Test::Set => WordTest {
                offset,
                mask: mask & k,
                test: Test::Set,
                k: mask & k,
                holds: self.holds,
            },
            test => WordTest {
                offset,
                mask,
                test,
                k,
                holds: self.holds,
            },
        })
    }
}

/// One path through the program.
#[derive(Clone, Debug)]
pub struct Path {
    /// The literals every input taking this path satisfies, in the order taken.
    pub lits: Vec<Lit>,
    /// The return value (an expression for `RET A`).
    pub ret: Rc<Expr>,
}

/// The program has more feasible paths than the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("more than {limit} paths through the program")]
pub struct TooManyPaths {
    /// The limit.
    pub limit: usize,
}

#[derive(Clone)]
struct State {
    pc: usize,
    a: Rc<Expr>,
    x: Rc<Expr>,
    mem: [Rc<Expr>; BPF_MEMWORDS as usize],
    lits: Vec<Lit>,
}

/// Every feasible path of `p` on inputs with `arch == audit_arch` (word 4 is that constant;
/// with `None` it is unknown like every other word). `feasible` is asked whether a conjunction of literals has a
/// solution; it must never answer `false` for a satisfiable one (answering `true` for an
/// unsatisfiable one only keeps a path no input takes). At most `limit` paths.
pub fn paths(
    p: &Program,
    audit_arch: Option<u32>,
    limit: usize,
    feasible: &mut dyn FnMut(&[Lit]) -> bool,
) -> Result<Vec<Path>, TooManyPaths> {
    let insns = p.insns();
    let zero = Rc::new(Expr::Const(0));
    let mut out = Vec::new();
    let mut stack = vec![State {
        pc: 0,
        a: zero.clone(),
        x: zero.clone(),
        mem: std::array::from_fn(|_| zero.clone()),
        lits: Vec::new(),
    }];
    let finish = |out: &mut Vec<Path>, lits: Vec<Lit>, ret: Rc<Expr>| {
        if out.len() >= limit {
            return Err(TooManyPaths { limit });
        }
        out.push(Path { lits, ret });
        Ok(())
    };
    while let Some(mut st) = stack.pop() {
        loop {
            // A validated program never runs off its end; fail closed like the emulator.
            let Some(insn) = insns.get(st.pc) else {
                finish(
                    &mut out,
                    st.lits,
                    Rc::new(Expr::Const(SECCOMP_RET_KILL_PROCESS)),
                )?;
                break;
            };
            let (code, k) = (insn.code, insn.k);
            let mut next = st.pc + 1;
            match class(code) {
                BPF_LD | BPF_LDX => {
                    let v = match code & 0xe0 {
                        BPF_IMM => Rc::new(Expr::Const(k)),
                        BPF_LEN => Rc::new(Expr::Const(SECCOMP_DATA_SIZE)),
                        BPF_ABS if k == OFFSET_ARCH && audit_arch.is_some() => {
                            Rc::new(Expr::Const(audit_arch.unwrap_or(0)))
                        }
                        BPF_ABS => Rc::new(Expr::Word(k)),
                        _ => st
                            .mem
                            .get(k as usize)
                            .cloned()
                            .unwrap_or_else(|| zero.clone()),
                    };
                    if class(code) == BPF_LD {
                        st.a = v;
                    } else {
                        st.x = v;
                    }
                }
                BPF_ST | BPF_STX => {
                    let v = if class(code) == BPF_ST {
                        st.a.clone()
                    } else {
                        st.x.clone()
                    };
                    if let Some(slot) = st.mem.get_mut(k as usize) {
                        *slot = v;
                    }
                }
                BPF_ALU => {
                    if op(code) == BPF_NEG {
                        st.a = match st.a.as_const() {
                            Some(v) => Rc::new(Expr::Const(v.wrapping_neg())),
                            None => Rc::new(Expr::Neg(st.a.clone())),
                        };
                    } else {
                        let s = if src(code) == BPF_X {
                            st.x.clone()
                        } else {
                            Rc::new(Expr::Const(k))
                        };
                        let Some(bop) = BinOp::of(op(code)) else {
                            finish(
                                &mut out,
                                st.lits,
                                Rc::new(Expr::Const(SECCOMP_RET_KILL_PROCESS)),
                            )?;
                            break;
                        };
                        if bop == BinOp::Div {
                            // Division by zero ends the filter with 0 (see emu::run).
                            match s.as_const() {
                                Some(0) => {
                                    finish(&mut out, st.lits, zero.clone())?;
                                    break;
                                }
                                Some(_) => {}
                                None => {
                                    let lit = |holds| Lit {
                                        lhs: s.clone(),
                                        test: Test::Eq,
                                        rhs: zero.clone(),
                                        holds,
                                    };
                                    let (t, f) = fork(&st.lits, lit(true), lit(false), feasible);
                                    if let Some(lits) = t {
                                        finish(&mut out, lits, zero.clone())?;
                                    }
                                    match f {
                                        Some(lits) => st.lits = lits,
                                        None => break,
                                    }
                                }
                            }
                        }
                        st.a = bin(bop, st.a.clone(), s);
                    }
                }
                BPF_JMP => {
                    if op(code) == BPF_JA {
                        next = st.pc + 1 + k as usize;
                    } else {
                        let rhs = if src(code) == BPF_X {
                            st.x.clone()
                        } else {
                            Rc::new(Expr::Const(k))
                        };
                        let test = match op(code) {
                            BPF_JEQ => Test::Eq,
                            BPF_JGT => Test::Gt,
                            BPF_JGE => Test::Ge,
                            _ => Test::Set,
                        };
                        let t_pc = st.pc + 1 + usize::from(insn.jt);
                        let f_pc = st.pc + 1 + usize::from(insn.jf);
                        if let (Some(a), Some(b)) = (st.a.as_const(), rhs.as_const()) {
                            next = if test.apply(a, b) { t_pc } else { f_pc };
                        } else if t_pc == f_pc {
                            next = t_pc;
                        } else {
                            let lit = |holds| Lit {
                                lhs: st.a.clone(),
                                test,
                                rhs: rhs.clone(),
                                holds,
                            };
                            let (t, f) = fork(&st.lits, lit(true), lit(false), feasible);
                            match (t, f) {
                                (Some(t), Some(f)) => {
                                    let mut other = st.clone();
                                    other.pc = f_pc;
                                    other.lits = f;
                                    stack.push(other);
                                    st.lits = t;
                                    next = t_pc;
                                }
                                (Some(t), None) => {
                                    st.lits = t;
                                    next = t_pc;
                                }
                                (None, Some(f)) => {
                                    st.lits = f;
                                    next = f_pc;
                                }
                                (None, None) => break,
                            }
                        }
                    }
                }
                BPF_RET => {
                    let ret = if code & 0x18 == BPF_A {
                        st.a.clone()
                    } else {
                        Rc::new(Expr::Const(k))
                    };
                    finish(&mut out, st.lits, ret)?;
                    break;
                }
                _ => {
                    if code & 0xf8 == BPF_TXA {
                        st.a = st.x.clone();
                    } else {
                        st.x = st.a.clone();
                    }
                }
            }
            st.pc = next;
        }
    }
    Ok(out)
}

/// The literal lists of the two sides of a fork, `None` for an infeasible side. A side whose
/// sibling is infeasible is implied by the path and gets no literal.
fn fork(
    lits: &[Lit],
    t: Lit,
    f: Lit,
    feasible: &mut dyn FnMut(&[Lit]) -> bool,
) -> (Option<Vec<Lit>>, Option<Vec<Lit>>) {
    // Decided by a literal already on the path (the same test seen before).
    for l in lits {
        if l.lhs == t.lhs && l.test == t.test && l.rhs == t.rhs {
            return if l.holds {
                (Some(lits.to_vec()), None)
            } else {
                (None, Some(lits.to_vec()))
            };
        }
    }
    let with = |l: Lit| {
        let mut v = lits.to_vec();
        v.push(l);
        v
    };
    let tl = with(t);
    if !feasible(&tl) {
        return (None, Some(lits.to_vec()));
    }
    let fl = with(f);
    if !feasible(&fl) {
        return (Some(lits.to_vec()), None);
    }
    (Some(tl), Some(fl))
}

/// The word of `seccomp_data` an input has at `offset` (for evaluating [`Lit`]s and
/// [`Expr`]s on a concrete call).
pub fn word_of(d: &crate::SeccompData) -> impl Fn(u32) -> u32 + '_ {
    move |o| d.load(o).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insn::{Insn, SeccompData};

    #[test]
    fn forks_on_arguments_and_folds_nr_and_arch() {
        let p = Program::new(vec![
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, OFFSET_ARCH),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0xc000_003e, 0, 4),
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, 16),
            Insn::stmt(BPF_ALU | BPF_AND | BPF_K, 0xff),
            Insn::jump(BPF_JMP | BPF_JGT | BPF_K, 7, 0, 1),
            Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        ])
        .unwrap();
        let ps = paths(&p, Some(0xc000_003e), 100, &mut |_| true).unwrap();
        assert_eq!(ps.len(), 2);
        let wt = ps[0].lits[0].word_test().unwrap();
        assert_eq!((wt.offset, wt.mask, wt.test, wt.k), (16, 0xff, Test::Gt, 7));
        // Another arch: the arch test is decided, one path.
        let ps = paths(&p, Some(0x4000_0003), 100, &mut |_| true).unwrap();
        assert_eq!(ps.len(), 1);
        assert!(ps[0].lits.is_empty());
        for (args, want) in [(8u64, SECCOMP_RET_ALLOW), (0x107, SECCOMP_RET_KILL_PROCESS)] {
            let d = SeccompData::new(0xc000_003e, 0, [args, 0, 0, 0, 0, 0]);
            let w = word_of(&d);
            let all = paths(&p, Some(0xc000_003e), 100, &mut |_| true).unwrap();
            let hit: Vec<_> = all
                .iter()
                .filter(|q| q.lits.iter().all(|l| l.eval(&w)))
                .collect();
            assert_eq!(hit.len(), 1);
            assert_eq!(hit[0].ret.eval(&w), want);
        }
    }
}
