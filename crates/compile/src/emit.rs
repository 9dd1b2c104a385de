//! Code generation: architecture check, interval search, hash-consed argument blocks, returns.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use moat_bpf::builder::{BuildError, Builder, JumpOp, Label};
use moat_bpf::consts::{OFFSET_ARCH, OFFSET_NR};
use moat_bpf::{ByteOrder, Program};
use moat_policy::{Action, Cmp, CmpOp, Cond, Location, Lowered, LoweredAbi, Width};
use moat_syscalls::Arch;

use crate::layout::{self, Tree};
use crate::{CompileError, Dispatch, Weights};

/// FNV-1a for the emitter's small internal maps (labels, block keys): SipHash's flood
/// resistance buys nothing on trusted keys and showed up in compile-time profiles.
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

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// Where a syscall number leads: straight to a return, or into an argument-check block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    Ret(Action),
    Block(usize),
}

/// One link of a rule chain: if `cond` holds, `action`; else go on to `next`.
#[derive(Clone, Debug)]
struct Block {
    cond: Cond,
    /// The layout of the ABI the block serves: it decides which word holds which half.
    order: ByteOrder,
    action: Action,
    next: Target,
    rule: usize,
}

/// Hash-consed rule chains: identical chains, and identical suffixes of chains, are one block.
#[derive(Default)]
struct Blocks {
    blocks: Vec<Block>,
    index: FastMap<String, usize>,
}

impl Blocks {
    /// The target implementing "the last rule whose condition holds decides, else `fallback`".
    fn chain(
        &mut self,
        rules: &[moat_policy::LoweredRule],
        default: Action,
        order: ByteOrder,
    ) -> Target {
        // Rules before the last unconditional one never decide.
        let (fallback, live) = match rules.iter().rposition(|r| r.cond == Cond::True) {
            None => (default, rules),
            Some(start) => (rules[start].action, &rules[start + 1..]),
        };
        let mut next = Target::Ret(fallback);
        // Build from the lowest priority up, so every block's `next` exists before it.
        for r in live {
            let cond = fold(&r.cond);
            if cond == Cond::False {
                continue;
            }
            if cond == Cond::True {
                next = Target::Ret(r.action);
                continue;
            }
            // A rule that leads where failing it leads anyway changes nothing.
            if next == Target::Ret(r.action) {
                continue;
            }
            // The byte order is part of the key: the same condition reads other words on s390x.
            let key = format!("{cond:?}|{:?}|{next:?}|{order:?}", r.action);
            let id = match self.index.get(&key) {
                Some(&id) => id,
                None => {
                    self.blocks.push(Block {
                        cond,
                        order,
                        action: r.action,
                        next,
                        rule: r.rule,
                    });
                    self.index.insert(key, self.blocks.len() - 1);
                    self.blocks.len() - 1
                }
            };
            next = Target::Block(id);
        }
        next
    }
}

/// Constant-folds comparisons the mask or width decides, so no emitted branch is dead.
fn fold(c: &Cond) -> Cond {
    match c {
        Cond::True | Cond::False => c.clone(),
        Cond::Cmp(cmp) => match trivially(cmp.op, cmp.value, effective_mask(cmp)) {
            Some(true) => Cond::True,
            Some(false) => Cond::False,
            None => Cond::Cmp(Cmp {
                mask: effective_mask(cmp),
                ..*cmp
            }),
        },
        Cond::And(v) => Cond::and(v.iter().map(fold).collect()),
        Cond::Or(v) => Cond::or(v.iter().map(fold).collect()),
        Cond::Not(inner) => Cond::negate(fold(inner)),
    }
}

fn effective_mask(c: &Cmp) -> u64 {
    match c.width {
        Width::U32 => c.mask & 0xffff_ffff,
        Width::U64 => c.mask,
    }
}

/// The result of `x OP v` for every `x` with no bits outside `m`, if it does not depend on `x`.
fn trivially(op: CmpOp, v: u64, m: u64) -> Option<bool> {
    // x ranges over the submasks of m: its minimum is 0, its maximum m.
    let outside = v & !m != 0;
    match op {
        CmpOp::Eq if outside => Some(false),
        CmpOp::Ne if outside => Some(true),
        CmpOp::Eq | CmpOp::Ne if m == 0 => Some((v == 0) == (op == CmpOp::Eq)),
        CmpOp::Lt if v == 0 => Some(false),
        CmpOp::Lt if v > m => Some(true),
        CmpOp::Le if v >= m => Some(true),
        CmpOp::Gt if v >= m => Some(false),
        CmpOp::Ge if v == 0 => Some(true),
        CmpOp::Ge if v > m => Some(false),
        _ => None,
    }
}

/// The accumulator's known content: a 32-bit word at `offset`, ANDed with `mask`.
type Reg = Option<(u32, u32)>;

const FULL: u32 = 0xffff_ffff;

/// What is known on a path: the accumulator's content, and for argument words the range of
/// `word & mask` for the masks tested so far. The ranges let the emitter drop a test whose
/// outcome earlier tests decided (`x > 0xffffffff or x == 0` needs no test of the high word
/// for `x == 0`), so no instruction of the program is dead.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct State {
    reg: Reg,
    ranges: BTreeMap<(u32, u32), (u32, u32)>,
}

impl State {
    /// The join of two paths: what holds on both.
    fn join(&self, other: &State) -> State {
        let ranges = self
            .ranges
            .iter()
            .filter_map(|(k, a)| {
                other
                    .ranges
                    .get(k)
                    .map(|b| (*k, (a.0.min(b.0), a.1.max(b.1))))
            })
            .collect();
        State {
            reg: if self.reg == other.reg {
                self.reg
            } else {
                None
            },
            ranges,
        }
    }

    /// The range of `word(offset) & mask` on this path.
    fn range(&self, offset: u32, mask: u32) -> (u32, u32) {
        let (mut lo, mut hi) = self
            .ranges
            .get(&(offset, mask))
            .copied()
            .unwrap_or((0, mask));
        if mask != FULL {
            if let Some(&(flo, fhi)) = self.ranges.get(&(offset, FULL)) {
                if flo == fhi {
                    return (flo & mask, flo & mask);
                }
                hi = hi.min(fhi);
            }
        } else {
            for (&(o, _), &(mlo, _)) in &self.ranges {
                if o == offset {
                    lo = lo.max(mlo);
                }
            }
        }
        (lo, hi.max(lo))
    }
}

/// An inclusive range of 32-bit values.
type Range = (u32, u32);

/// The ranges of `v` where `v OP k` holds and where it does not, within `(lo, hi)`; `None`
/// for an empty side. `Set` means `v != 0` (a `JSET` of the whole mask).
fn split_range(op: JumpOp, k: u32, (lo, hi): (u32, u32)) -> (Option<Range>, Option<Range>) {
    let range = |a: u32, b: u32| (a <= b).then_some((a, b));
    match op {
        JumpOp::Eq => {
            let t = (lo <= k && k <= hi).then_some((k, k));
            let f = if lo == k && hi == k {
                None
            } else if lo == k {
                Some((lo + 1, hi))
            } else if hi == k {
                Some((lo, hi - 1))
            } else {
                Some((lo, hi))
            };
            (t, f)
        }
        JumpOp::Gt => (
            k.checked_add(1).and_then(|k1| range(lo.max(k1), hi)),
            range(lo, hi.min(k)),
        ),
        JumpOp::Ge => (
            range(lo.max(k), hi),
            k.checked_sub(1).and_then(|k1| range(lo, hi.min(k1))),
        ),
        JumpOp::Set => (range(lo.max(1), hi), (lo == 0).then_some((0, 0))),
    }
}

/// A builder that tracks [`State`] along every path.
///
/// The state at a label is the join of the states of every jump to it; BPF jumps only go
/// forward, so every jump to a label is emitted before the label is bound.
struct Emitter {
    b: Builder,
    cur: State,
    /// False right after a jump or return: the next instruction is not reached by falling
    /// through.
    live: bool,
    incoming: FastMap<Label, State>,
}

impl Emitter {
    fn new() -> Self {
        Emitter {
            b: Builder::new(),
            cur: State::default(),
            live: true,
            incoming: FastMap::default(),
        }
    }

    fn arrive(&mut self, l: Label, st: State) {
        let joined = match self.incoming.get(&l) {
            Some(prev) => prev.join(&st),
            None => st,
        };
        self.incoming.insert(l, joined);
    }

    fn bind(&mut self, l: Label) {
        let from_jumps = self.incoming.remove(&l);
        self.cur = match (self.live, from_jumps) {
            (true, Some(s)) => s.join(&self.cur),
            (true, None) => self.cur.clone(),
            (false, Some(s)) => s,
            (false, None) => State::default(),
        };
        self.live = true;
        self.b.bind(l);
    }

    /// Whether some emitted jump leads to `l`.
    fn reached(&self, l: Label) -> bool {
        self.incoming.contains_key(&l)
    }

    fn load(&mut self, offset: u32, mask: u32) {
        match self.cur.reg {
            Some((o, m)) if o == offset && m == mask => return,
            Some((o, FULL)) if o == offset => {}
            _ => self.b.load(offset),
        }
        if mask != FULL {
            self.b.and(mask);
        }
        self.cur.reg = Some((offset, mask));
    }

    /// A jump on the accumulator without range tracking (architecture and number tests).
    fn jump(&mut self, op: JumpOp, k: u32, t: Label, f: Label) {
        let st = self.cur.clone();
        self.arrive(t, st.clone());
        self.arrive(f, st);
        self.b.jump(op, k, t, f);
        self.live = false;
    }

    fn goto(&mut self, l: Label) {
        let st = self.cur.clone();
        self.arrive(l, st);
        self.b.goto(l);
        self.live = false;
    }

    fn ret(&mut self, k: u32) {
        self.b.ret(k);
        self.live = false;
    }

    /// Tests `word(offset) & mask OP k` (for `Set`: `!= 0`, and `k` is ignored), jumping to `t`
    /// or `f`; emits only a `goto` when the path already decides it.
    fn test(&mut self, offset: u32, mask: u32, op: JumpOp, k: u32, t: Label, f: Label) {
        let range = self.cur.range(offset, mask);
        let (rt, rf) = split_range(op, k, range);
        match (rt, rf) {
            (None, _) => return self.goto(f),
            (_, None) => return self.goto(t),
            _ => {}
        }
        if op == JumpOp::Set {
            // JSET tests the bits without an AND, unless the masked word is already in A.
            if self.cur.reg == Some((offset, mask)) {
                self.b.jump(JumpOp::Eq, 0, f, t);
            } else {
                self.load(offset, FULL);
                self.b.jump(JumpOp::Set, mask, t, f);
            }
        } else {
            self.load(offset, mask);
            self.b.jump(op, k, t, f);
        }
        for (label, r) in [(t, rt), (f, rf)] {
            let mut st = self.cur.clone();
            if let Some(r) = r {
                st.ranges.insert((offset, mask), r);
            }
            self.arrive(label, st);
        }
        self.live = false;
    }

    /// Emits `cond`, jumping to `t` when it holds and to `f` otherwise.
    fn cond(&mut self, c: &Cond, order: ByteOrder, t: Label, f: Label) {
        match c {
            Cond::True => self.goto(t),
            Cond::False => self.goto(f),
            Cond::Cmp(cmp) => self.cmp(cmp, order, t, f),
            Cond::And(parts) => {
                for (i, p) in parts.iter().enumerate() {
                    if i + 1 == parts.len() {
                        self.cond(p, order, t, f);
                    } else {
                        let next = self.b.label();
                        self.cond(p, order, next, f);
                        if !self.reached(next) {
                            return;
                        }
                        self.bind(next);
                    }
                }
            }
            Cond::Or(parts) => {
                for (i, p) in parts.iter().enumerate() {
                    if i + 1 == parts.len() {
                        self.cond(p, order, t, f);
                    } else {
                        let next = self.b.label();
                        self.cond(p, order, t, next);
                        if !self.reached(next) {
                            return;
                        }
                        self.bind(next);
                    }
                }
            }
            Cond::Not(inner) => self.cond(inner, order, f, t),
        }
    }

    /// One 32-bit comparison of the word at `offset`, masked with `mask`, against `v`.
    fn word(&mut self, offset: u32, mask: u32, op: CmpOp, v: u32, t: Label, f: Label) {
        match op {
            CmpOp::Eq if v == 0 && mask != FULL => self.test(offset, mask, JumpOp::Set, 0, f, t),
            CmpOp::Ne if v == 0 && mask != FULL => self.test(offset, mask, JumpOp::Set, 0, t, f),
            CmpOp::Eq => self.test(offset, mask, JumpOp::Eq, v, t, f),
            CmpOp::Ne => self.test(offset, mask, JumpOp::Eq, v, f, t),
            CmpOp::Lt => self.test(offset, mask, JumpOp::Ge, v, f, t),
            CmpOp::Le => self.test(offset, mask, JumpOp::Gt, v, f, t),
            CmpOp::Gt => self.test(offset, mask, JumpOp::Gt, v, t, f),
            CmpOp::Ge => self.test(offset, mask, JumpOp::Ge, v, t, f),
        }
    }

    /// One comparison from the lowering (already folded: its outcome depends on the argument).
    fn cmp(&mut self, c: &Cmp, order: ByteOrder, t: Label, f: Label) {
        let (lo, hi) = (order.arg_lo(c.arg), order.arg_hi(c.arg));
        match c.width {
            // The kernel ignores the upper half of a 32-bit parameter (it is not even
            // zero-extended on every ABI: x86_64 passes whatever the register held, see
            // syscall_get_arguments() and the SYSCALL_DEFINE wrappers' casts), so only the low
            // word is compared. `value` and `mask` fit in 32 bits for U32 (lowering contract).
            Width::U32 => {
                let (_, m) = halves(c.mask);
                let (_, v) = halves(c.value);
                self.word(lo, m, c.op, v, t, f);
            }
            Width::U64 => self.cmp64(lo, hi, c, t, f),
        }
    }

    /// A 64-bit comparison from two 32-bit ones: the high word decides unless it is equal, then
    /// the low word decides. `lo` and `hi` are the words' offsets in the ABI's layout.
    fn cmp64(&mut self, lo: u32, hi: u32, c: &Cmp, t: Label, f: Label) {
        let (mh, ml) = halves(c.mask);
        let (vh, vl) = halves(c.value);
        // What the low word alone decides once the high words are equal.
        let lo_static = trivially(c.op, u64::from(vl), u64::from(ml));
        let lo_label = match lo_static {
            Some(true) => t,
            Some(false) => f,
            None => self.b.label(),
        };
        match c.op {
            CmpOp::Eq | CmpOp::Ne => {
                let ne = if c.op == CmpOp::Eq { f } else { t };
                // fold() left bits of v inside m only; with mh == 0 the high word is 0 == vh.
                if mh != 0 {
                    self.word(hi, mh, CmpOp::Eq, vh, lo_label, ne);
                }
            }
            CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
                let (greater, less) = if matches!(c.op, CmpOp::Gt | CmpOp::Ge) {
                    (t, f)
                } else {
                    (f, t)
                };
                // With mh == 0 the high word is 0; fold() left vh == 0 (else v > m decides).
                if mh != 0 {
                    if vh == 0 {
                        // hi > 0: greater; hi == 0: the low word decides.
                        self.test(hi, mh, JumpOp::Gt, 0, greater, lo_label);
                    } else if vh >= mh {
                        // hi > vh is impossible under the mask.
                        self.test(hi, mh, JumpOp::Eq, vh, lo_label, less);
                    } else {
                        let eq = self.b.label();
                        self.test(hi, mh, JumpOp::Gt, vh, greater, eq);
                        if self.reached(eq) {
                            self.bind(eq);
                            self.test(hi, mh, JumpOp::Eq, vh, lo_label, less);
                        }
                    }
                }
            }
        }
        if lo_static.is_none() {
            if mh != 0 {
                if !self.reached(lo_label) {
                    return;
                }
                self.bind(lo_label);
            }
            self.word(lo, ml, c.op, vl, t, f);
        } else if mh == 0 {
            // Only reachable if fold() missed a constant; keep the program well-formed.
            self.goto(lo_label);
        }
    }
}

/// The high and low 32-bit words of a 64-bit value.
fn halves(x: u64) -> (u32, u32) {
    let [a, b, c, d, e, f, g, h] = x.to_le_bytes();
    (
        u32::from_le_bytes([e, f, g, h]),
        u32::from_le_bytes([a, b, c, d]),
    )
}

/// One `AUDIT_ARCH_*` value and the accepted ABIs that use it.
fn groups(lowered: &Lowered) -> Vec<(u32, Vec<&LoweredAbi>)> {
    let mut out: Vec<(u32, Vec<&LoweredAbi>)> = Vec::new();
    for abi in &lowered.abis {
        let audit = abi.arch.audit_arch();
        match out.iter_mut().find(|(a, _)| *a == audit) {
            Some((_, v)) => v.push(abi),
            None => out.push((audit, vec![abi])),
        }
    }
    out
}

/// The segments of the 32-bit number space for one `AUDIT_ARCH_*` value, with their targets.
fn segments(
    audit: u32,
    abis: &[&LoweredAbi],
    badarch: Action,
    blocks: &mut Blocks,
    weights: Option<&Weights>,
) -> Vec<(u32, Target, u64)> {
    // Boundaries: every known number and its successor, and the quarters of the space, where
    // `Arch::of` may switch ABI (x32 is bit 30 of the number, kernel
    // arch/x86/include/uapi/asm/unistd.h `__X32_SYSCALL_BIT`).
    let mut cuts: Vec<u32> =
        Vec::with_capacity(4 + 2 * abis.iter().map(|a| a.syscalls.len()).sum::<usize>());
    for abi in abis {
        for &nr in abi.syscalls.keys() {
            cuts.push(nr);
            if let Some(n) = nr.checked_add(1) {
                cuts.push(n);
            }
        }
    }
    cuts.extend([0, 0x4000_0000, 0x8000_0000, 0xc000_0000]);
    // A few ascending runs (one per ABI, then the quarters): the stable sort merges them in
    // linear time.
    cuts.sort();
    cuts.dedup();
    // The cuts ascend, so each ABI's numbers are walked once alongside them instead of searched
    // per cut (a map search per number was a tenth of compile time).
    let mut cursors: Vec<_> = abis
        .iter()
        .map(|abi| abi.syscalls.iter().peekable())
        .collect();
    let mut out = Vec::with_capacity(cuts.len());
    for &start in &cuts {
        let arch = Arch::of(audit, start);
        let found = arch.and_then(|a| abis.iter().position(|x| x.arch == a));
        let (target, weight) = match found {
            None => (Target::Ret(badarch), 1),
            Some(i) => {
                let abi = abis[i];
                let cursor = &mut cursors[i];
                while cursor.next_if(|(nr, _)| **nr < start).is_some() {}
                match cursor.next_if(|(nr, _)| **nr == start) {
                    None => (Target::Ret(abi.unknown), 1),
                    Some((_, rules)) => {
                        let w = weights.map_or(1, |w| {
                            1 + abi.arch.by_nr(start).map_or(0, |s| w.count(s.name))
                        });
                        (
                            blocks.chain(rules, abi.default, ByteOrder::of_audit_arch(audit)),
                            w,
                        )
                    }
                }
            }
        };
        out.push((start, target, weight));
    }
    out
}

pub(crate) fn emit(
    lowered: &Lowered,
    weights: Option<&Weights>,
    location: impl Fn(usize) -> Option<Location>,
) -> Result<(Program, Vec<Dispatch>), CompileError> {
    let mut blocks = Blocks::default();
    let mut plans = Vec::new();
    for (audit, abis) in groups(lowered) {
        let ivs = layout::merge(segments(
            audit,
            &abis,
            lowered.badarch,
            &mut blocks,
            weights,
        ));
        let tree = match weights {
            None => layout::balanced(0, ivs.len()),
            Some(_) => layout::weighted(&ivs.iter().map(|i| i.weight).collect::<Vec<_>>()),
        };
        plans.push((
            audit,
            abis.iter().map(|a| a.arch).collect::<Vec<_>>(),
            ivs,
            tree,
        ));
    }

    let mut e = Emitter::new();
    let block_labels: Vec<Label> = (0..blocks.blocks.len()).map(|_| e.b.label()).collect();
    // Keyed by the return value, so the returns come out in SECCOMP_RET_* order.
    let mut rets: BTreeMap<u32, Label> = BTreeMap::new();
    let mut target = |e: &mut Emitter, t: Target| match t {
        Target::Ret(a) => *rets.entry(a.to_ret()).or_insert_with(|| e.b.label()),
        Target::Block(i) => block_labels[i],
    };

    // 1. The architecture. Checking it first is what makes the number meaningful: the same
    //    number is a different syscall on every ABI (seccomp(2), "Caveats").
    e.load(OFFSET_ARCH, FULL);
    let mut entries = Vec::new();
    for (audit, _, ivs, _) in &plans {
        let entry = if ivs.len() == 1 {
            target(&mut e, ivs[0].target)
        } else {
            e.b.label()
        };
        entries.push(entry);
        let next = e.b.label();
        e.jump(JumpOp::Eq, *audit, entry, next);
        e.bind(next);
    }
    let bad = target(&mut e, Target::Ret(lowered.badarch));
    e.goto(bad);

    // 2. One search per architecture value over the whole number space, the first-checked
    //    (usually native) last: nearest to the returns and blocks its jumps lead to, so they
    //    fit in 8-bit offsets without `JA` trampolines.
    for (i, (_, _, ivs, tree)) in plans.iter().enumerate().rev() {
        if ivs.len() == 1 {
            continue;
        }
        e.bind(entries[i]);
        e.load(OFFSET_NR, FULL);
        let mut stack = vec![(tree, None::<Label>)];
        while let Some((node, label)) = stack.pop() {
            let Tree::Node { split, left, right } = node else {
                continue;
            };
            if let Some(l) = label {
                e.bind(l);
            }
            let mut child = |e: &mut Emitter, t: &Tree| match t {
                Tree::Leaf(k) => (target(e, ivs[*k].target), false),
                Tree::Node { .. } => (e.b.label(), true),
            };
            let (lt, l_inner) = child(&mut e, left);
            let (rt, r_inner) = child(&mut e, right);
            e.jump(JumpOp::Ge, ivs[*split].start, rt, lt);
            // Pre-order, left first: the left child falls through (jf = 0).
            if r_inner {
                stack.push((right, Some(rt)));
            }
            if l_inner {
                stack.push((left, Some(lt)));
            }
        }
    }

    // 3. Argument blocks, longest chains first: a block's `next` was created before it, so
    //    emitting in reverse creation order puts every jump target after the jump.
    let mut per_rule: BTreeMap<usize, usize> = BTreeMap::new();
    for id in (0..blocks.blocks.len()).rev() {
        let blk = blocks.blocks[id].clone();
        // A block only reached through tests earlier tests decide is left out.
        if !e.reached(block_labels[id]) {
            continue;
        }
        let before = e.b.len();
        e.bind(block_labels[id]);
        let t = target(&mut e, Target::Ret(blk.action));
        let f = target(&mut e, blk.next);
        e.cond(&blk.cond, blk.order, t, f);
        *per_rule.entry(blk.rule).or_default() += e.b.len() - before;
    }

    // 4. One return per distinct action.
    for (ret, label) in rets {
        if !e.reached(label) {
            continue;
        }
        e.bind(label);
        e.ret(ret);
    }

    let dispatch = plans
        .iter()
        .map(|(audit, abis, ivs, tree)| Dispatch {
            audit_arch: *audit,
            abis: abis.clone(),
            intervals: ivs.len(),
            depth: tree.depth(),
        })
        .collect();
    match e.b.finish() {
        Ok(p) => Ok((p, dispatch)),
        Err(BuildError::TooLong { len }) => {
            let worst = per_rule.iter().max_by_key(|(_, n)| **n);
            Err(CompileError::TooLong {
                len,
                location: worst.and_then(|(r, _)| location(*r)),
                culprit: worst.map_or(0, |(_, n)| *n),
            })
        }
        Err(err) => Err(CompileError::Build(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: [CmpOp; 6] = [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ];

    /// `trivially` agrees with brute force over every submask value, for 4-bit masks and values.
    #[test]
    fn trivially_matches_brute_force() {
        for op in OPS {
            for m in 0u64..16 {
                for v in 0u64..20 {
                    let outcomes: Vec<bool> = (0u64..16)
                        .filter(|x| x & !m == 0)
                        .map(|x| op.apply(x, v))
                        .collect();
                    let all = outcomes.iter().all(|&b| b);
                    let none = outcomes.iter().all(|&b| !b);
                    match trivially(op, v, m) {
                        Some(true) => assert!(all, "{op:?} {v} {m}"),
                        Some(false) => assert!(none, "{op:?} {v} {m}"),
                        // Not decided: both outcomes must be possible, or the emitter would
                        // leave a dead branch.
                        None => assert!(!all && !none, "{op:?} {v} {m}: {outcomes:?}"),
                    }
                }
            }
        }
    }

    /// `split_range` returns exactly the values of the range on each side of the test.
    #[test]
    fn split_range_matches_brute_force() {
        for op in [JumpOp::Eq, JumpOp::Gt, JumpOp::Ge, JumpOp::Set] {
            for lo in 0u32..8 {
                for hi in lo..8 {
                    for k in 0u32..9 {
                        let holds = |x: u32| match op {
                            JumpOp::Eq => x == k,
                            JumpOp::Gt => x > k,
                            JumpOp::Ge => x >= k,
                            JumpOp::Set => x != 0,
                        };
                        let (t, f) = split_range(op, k, (lo, hi));
                        let inside =
                            |r: Option<Range>, x: u32| r.is_some_and(|(a, b)| a <= x && x <= b);
                        for x in lo..=hi {
                            // Every value lies in the range of the side it goes to (the false
                            // side of Eq may be a hull that also covers k).
                            if holds(x) {
                                assert!(inside(t, x), "{op:?} k={k} [{lo},{hi}] x={x}");
                            } else {
                                assert!(inside(f, x), "{op:?} k={k} [{lo},{hi}] x={x}");
                            }
                        }
                        // An empty side really is empty.
                        if t.is_none() {
                            assert!((lo..=hi).all(|x| !holds(x)));
                        }
                        if f.is_none() {
                            assert!((lo..=hi).all(holds));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn halves_split_high_and_low_words() {
        assert_eq!(halves(0x1234_5678_9abc_def0), (0x1234_5678, 0x9abc_def0));
        assert_eq!(halves(u64::MAX), (u32::MAX, u32::MAX));
    }
}
