//! Label-based program construction.
//!
//! Jumps name [`Label`]s; [`Builder::finish`] is the one place that turns labels into offsets.
//! A conditional jump can only skip 255 instructions (`jt`/`jf` are 8-bit), so when a target is
//! farther away `finish` routes that branch through an unconditional `JA` placed right after the
//! jump (a trampoline), whose 32-bit offset reaches anywhere. Jumps only go forward: a label must
//! be bound after every jump that names it, otherwise `finish` fails. `finish` never truncates:
//! more than 4096 instructions is an error.

use crate::consts::*;
use crate::insn::Insn;
use crate::program::{Program, ValidateError};

/// A jump target. Create with [`Builder::label`], place with [`Builder::bind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(usize);

/// The comparison of a conditional jump; all are unsigned 32-bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JumpOp {
    /// `A == operand`
    #[doc(alias = "BPF_JEQ")]
    Eq,
    /// `A > operand`
    #[doc(alias = "BPF_JGT")]
    Gt,
    /// `A >= operand`
    #[doc(alias = "BPF_JGE")]
    Ge,
    /// `A & operand != 0`
    #[doc(alias = "BPF_JSET")]
    Set,
}

impl JumpOp {
    /// The `BPF_OP` bits.
    pub const fn bits(self) -> u16 {
        match self {
            JumpOp::Eq => BPF_JEQ,
            JumpOp::Gt => BPF_JGT,
            JumpOp::Ge => BPF_JGE,
            JumpOp::Set => BPF_JSET,
        }
    }
}

/// Why a builder could not produce a program.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A jump names a label that was never bound.
    #[error("label {label} is used by a jump but never bound")]
    Unbound {
        /// The label's number (creation order).
        label: usize,
    },
    /// `bind` was called twice for one label.
    #[error("label {label} is bound twice")]
    Rebound {
        /// The label's number.
        label: usize,
    },
    /// A jump names a label bound at or before the jump: BPF jumps only go forward.
    #[error("instruction {at} jumps backward to label {label}")]
    Backward {
        /// The label's number.
        label: usize,
        /// Index of the jump among the emitted items.
        at: usize,
    },
    /// A jump names a label bound after the last instruction.
    #[error("label {label} is bound after the last instruction")]
    PastEnd {
        /// The label's number.
        label: usize,
    },
    /// A jump instruction was passed to [`Builder::emit`]; jumps go through labels.
    #[error("item {at}: jump opcode {code:#04x} passed to emit; use jump() or goto() with labels")]
    RawJump {
        /// Index of the item.
        at: usize,
        /// The opcode.
        code: u16,
    },
    /// The program, with trampolines, exceeds `BPF_MAXINSNS`.
    #[error("program needs {len} instructions, the kernel accepts at most 4096")]
    TooLong {
        /// Number of instructions after layout.
        len: usize,
    },
    /// The laid-out program fails the kernel's checks (e.g. it does not end in a return).
    #[error("invalid program: {0}")]
    Invalid(#[from] ValidateError),
}

#[derive(Clone, Debug)]
enum Item {
    Plain(Insn),
    Cond {
        code: u16,
        k: u32,
        jt: Label,
        jf: Label,
    },
    Goto(Label),
}

/// Builds a [`Program`] from instructions and labelled jumps.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    items: Vec<Item>,
    /// Item index each label is bound to (`None`: unbound).
    labels: Vec<Option<usize>>,
    error: Option<BuildError>,
}

impl Builder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh, unbound label.
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Binds `l` to the next emitted instruction.
    pub fn bind(&mut self, l: Label) {
        match self.labels.get_mut(l.0) {
            Some(slot @ None) => *slot = Some(self.items.len()),
            _ => self.fail(BuildError::Rebound { label: l.0 }),
        }
    }

    /// A fresh label bound to the next emitted instruction.
    pub fn here(&mut self) -> Label {
        let l = self.label();
        self.bind(l);
        l
    }

    /// `A = seccomp_data[offset]` (`BPF_LD|BPF_W|BPF_ABS`).
    pub fn load(&mut self, offset: u32) {
        self.push(Item::Plain(Insn::stmt(BPF_LD | BPF_W | BPF_ABS, offset)));
    }

    /// `A &= k` (`BPF_ALU|BPF_AND|BPF_K`).
    pub fn and(&mut self, k: u32) {
        self.push(Item::Plain(Insn::stmt(BPF_ALU | BPF_AND | BPF_K, k)));
    }

    /// `if (A op k) goto jt else goto jf` (`BPF_JMP|op|BPF_K`).
    pub fn jump(&mut self, op: JumpOp, k: u32, jt: Label, jf: Label) {
        self.push(Item::Cond {
            code: BPF_JMP | op.bits() | BPF_K,
            k,
            jt,
            jf,
        });
    }

    /// `if (A op X) goto jt else goto jf` (`BPF_JMP|op|BPF_X`).
    pub fn jump_x(&mut self, op: JumpOp, jt: Label, jf: Label) {
        self.push(Item::Cond {
            code: BPF_JMP | op.bits() | BPF_X,
            k: 0,
            jt,
            jf,
        });
    }

    /// `goto l` (`BPF_JMP|BPF_JA`).
    pub fn goto(&mut self, l: Label) {
        self.push(Item::Goto(l));
    }

    /// `return k` (`BPF_RET|BPF_K`).
    pub fn ret(&mut self, k: u32) {
        self.push(Item::Plain(Insn::stmt(BPF_RET | BPF_K, k)));
    }

    /// Any non-jump instruction (ALU, X register, scratch memory, `RET A`, ...).
    /// Jumps must use [`jump`](Self::jump), [`jump_x`](Self::jump_x) or [`goto`](Self::goto).
    pub fn emit(&mut self, insn: Insn) {
        if class(insn.code) == BPF_JMP {
            let at = self.items.len();
            self.fail(BuildError::RawJump {
                at,
                code: insn.code,
            });
        }
        self.push(Item::Plain(insn));
    }

    /// Number of items emitted so far (trampolines not counted).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing has been emitted.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn push(&mut self, item: Item) {
        self.items.push(item);
    }

    fn fail(&mut self, e: BuildError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// Resolves every label, inserts trampolines for conditional targets more than 255
    /// instructions ahead, and validates the result.
    pub fn finish(self) -> Result<Program, BuildError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let n = self.items.len();
        // Item index each jump target refers to, checked once.
        let target = |l: Label, at: usize| -> Result<usize, BuildError> {
            match self.labels.get(l.0).copied().flatten() {
                None => Err(BuildError::Unbound { label: l.0 }),
                Some(t) if t <= at => Err(BuildError::Backward { label: l.0, at }),
                Some(t) if t >= n => Err(BuildError::PastEnd { label: l.0 }),
                Some(t) => Ok(t),
            }
        };
        // Per item: resolved targets (for jumps).
        let mut targets: Vec<(usize, usize)> = vec![(0, 0); n];
        for (i, item) in self.items.iter().enumerate() {
            match *item {
                Item::Cond { jt, jf, .. } => targets[i] = (target(jt, i)?, target(jf, i)?),
                Item::Goto(l) => {
                    let t = target(l, i)?;
                    targets[i] = (t, t);
                }
                Item::Plain(_) => {}
            }
        }

        // Fixed point: a branch that is too far gets a trampoline; trampolines only grow the
        // program, so once far a branch stays far, and the loop ends after at most n rounds.
        let mut far_t = vec![false; n];
        let mut far_f = vec![false; n];
        let mut pos = vec![0usize; n + 1];
        loop {
            for i in 0..n {
                pos[i + 1] = pos[i] + 1 + trampolines(far_t[i], far_f[i], targets[i]);
            }
            let mut changed = false;
            for (i, item) in self.items.iter().enumerate() {
                if let Item::Cond { .. } = item {
                    let (t, f) = targets[i];
                    if !far_t[i] && pos[t] - pos[i] - 1 > 255 {
                        far_t[i] = true;
                        changed = true;
                    }
                    if !far_f[i] && pos[f] - pos[i] - 1 > 255 {
                        far_f[i] = true;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let len = pos[n];
        if len > BPF_MAXINSNS {
            return Err(BuildError::TooLong { len });
        }

        let mut out = Vec::with_capacity(len);
        for (i, item) in self.items.iter().enumerate() {
            let here = pos[i];
            match *item {
                Item::Plain(insn) => out.push(insn),
                Item::Goto(_) => out.push(Insn::stmt(
                    BPF_JMP | BPF_JA,
                    ja_offset(here, pos[targets[i].0]),
                )),
                Item::Cond { code, k, .. } => {
                    let (t, f) = targets[i];
                    let (ft, ff) = (far_t[i], far_f[i]);
                    let shared = t == f && (ft || ff);
                    // Trampoline slots directly after the jump: [JA t][JA f] as needed.
                    let tramp_t = here + 1;
                    let tramp_f = if ft && !shared { here + 2 } else { here + 1 };
                    let jt = if ft || shared { tramp_t } else { pos[t] };
                    let jf = if shared {
                        tramp_t
                    } else if ff {
                        tramp_f
                    } else {
                        pos[f]
                    };
                    out.push(Insn::jump(
                        code,
                        k,
                        short_offset(here, jt),
                        short_offset(here, jf),
                    ));
                    if shared {
                        out.push(Insn::stmt(BPF_JMP | BPF_JA, ja_offset(tramp_t, pos[t])));
                    } else {
                        if ft {
                            out.push(Insn::stmt(BPF_JMP | BPF_JA, ja_offset(tramp_t, pos[t])));
                        }
                        if ff {
                            out.push(Insn::stmt(BPF_JMP | BPF_JA, ja_offset(tramp_f, pos[f])));
                        }
                    }
                }
            }
        }
        Ok(Program::new(out)?)
    }
}

/// Number of trampolines a conditional jump needs.
fn trampolines(far_t: bool, far_f: bool, (t, f): (usize, usize)) -> usize {
    match (far_t, far_f) {
        (false, false) => 0,
        (true, true) if t != f => 2,
        _ => 1,
    }
}

/// Offset of a conditional branch from `from` to `to`; the layout guarantees it fits.
fn short_offset(from: usize, to: usize) -> u8 {
    u8::try_from(to - from - 1).unwrap_or(u8::MAX)
}

/// Offset of a `JA` from `from` to `to`; programs have at most 4096 instructions.
fn ja_offset(from: usize, to: usize) -> u32 {
    u32::try_from(to - from - 1).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emu;
    use crate::insn::SeccompData;

    #[test]
    fn short_jumps_resolve_to_offsets() {
        let mut b = Builder::new();
        let allow = b.label();
        let deny = b.label();
        b.load(OFFSET_NR);
        b.jump(JumpOp::Eq, 39, allow, deny);
        b.bind(deny);
        b.ret(ret_errno(1));
        b.bind(allow);
        b.ret(SECCOMP_RET_ALLOW);
        let p = b.finish().unwrap();
        assert_eq!(
            p.insns(),
            &[
                Insn::stmt(BPF_LD | BPF_W | BPF_ABS, 0),
                Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 39, 1, 0),
                Insn::stmt(BPF_RET | BPF_K, ret_errno(1)),
                Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            ]
        );
    }

    /// A program where syscall `i` (for i < n) returns ERRNO(i+1) via a jump over `filler`
    /// instructions, and everything else is allowed; exercises far targets on both branches.
    fn far_program(n: u32, filler: usize) -> Program {
        let mut b = Builder::new();
        let labels: Vec<Label> = (0..n).map(|_| b.label()).collect();
        let allow = b.label();
        b.load(OFFSET_NR);
        for (i, l) in labels.iter().enumerate() {
            let next = b.label();
            b.jump(JumpOp::Eq, u32::try_from(i).unwrap(), *l, next);
            b.bind(next);
        }
        b.goto(allow);
        for _ in 0..filler {
            b.emit(Insn::stmt(BPF_ALU | BPF_ADD | BPF_K, 0));
        }
        for (i, l) in labels.iter().enumerate() {
            b.bind(*l);
            b.ret(ret_errno(u16::try_from(i + 1).unwrap()));
        }
        b.bind(allow);
        b.ret(SECCOMP_RET_ALLOW);
        b.finish().unwrap()
    }

    #[test]
    fn long_jumps_get_trampolines_and_keep_meaning() {
        for (n, filler) in [(3, 300), (40, 250), (300, 0), (10, 3000)] {
            let p = far_program(n, filler);
            for nr in 0..n + 5 {
                let out = emu::run(&p, &SeccompData::new(0, nr, [0; 6]));
                let want = if nr < n {
                    ret_errno(u16::try_from(nr + 1).unwrap())
                } else {
                    SECCOMP_RET_ALLOW
                };
                assert_eq!(out.ret, want, "n={n} filler={filler} nr={nr}");
            }
        }
    }

    #[test]
    fn both_branches_far_to_the_same_label_share_one_trampoline() {
        let mut b = Builder::new();
        let end = b.label();
        b.load(OFFSET_NR);
        b.jump(JumpOp::Set, 1, end, end);
        for _ in 0..300 {
            b.emit(Insn::stmt(BPF_ALU | BPF_ADD | BPF_K, 1));
        }
        b.bind(end);
        b.ret(SECCOMP_RET_ALLOW);
        let p = b.finish().unwrap();
        assert_eq!(
            p.insns()[1],
            Insn::jump(BPF_JMP | BPF_JSET | BPF_K, 1, 0, 0)
        );
        assert_eq!(p.insns()[2], Insn::stmt(BPF_JMP | BPF_JA, 300));
        assert_eq!(p.len(), 304);
    }

    #[test]
    fn errors_are_reported() {
        let mut b = Builder::new();
        let l = b.label();
        b.load(0);
        b.goto(l);
        b.ret(0);
        assert_eq!(b.finish(), Err(BuildError::Unbound { label: 0 }));

        let mut b = Builder::new();
        let l = b.here();
        b.load(0);
        b.goto(l);
        b.ret(0);
        assert_eq!(b.finish(), Err(BuildError::Backward { label: 0, at: 1 }));

        let mut b = Builder::new();
        let l = b.label();
        b.goto(l);
        b.ret(0);
        b.bind(l);
        assert_eq!(b.finish(), Err(BuildError::PastEnd { label: 0 }));

        let mut b = Builder::new();
        let l = b.label();
        b.bind(l);
        b.bind(l);
        b.ret(0);
        assert_eq!(b.finish(), Err(BuildError::Rebound { label: 0 }));

        let mut b = Builder::new();
        b.emit(Insn::stmt(BPF_JMP | BPF_JA, 0));
        b.ret(0);
        assert!(matches!(b.finish(), Err(BuildError::RawJump { at: 0, .. })));

        let mut b = Builder::new();
        b.load(0);
        assert!(matches!(
            b.finish(),
            Err(BuildError::Invalid(ValidateError::NoFinalReturn { .. }))
        ));
    }

    #[test]
    fn too_long_is_an_error_not_a_truncation() {
        let mut b = Builder::new();
        for _ in 0..4096 {
            b.ret(0);
        }
        assert_eq!(b.finish().map(|p| p.len()), Ok(4096));
        let mut b = Builder::new();
        for _ in 0..4097 {
            b.ret(0);
        }
        assert_eq!(b.finish(), Err(BuildError::TooLong { len: 4097 }));
        // Trampolines count: 4000 items plus enough far branches to cross the limit.
        let mut b = Builder::new();
        let end = b.label();
        b.load(0);
        for i in 0..200 {
            let next = b.label();
            b.jump(JumpOp::Eq, i, end, next);
            b.bind(next);
        }
        for _ in 0..3895 {
            b.emit(Insn::stmt(BPF_ALU | BPF_ADD | BPF_K, 1));
        }
        b.bind(end);
        b.ret(0);
        assert!(matches!(b.finish(), Err(BuildError::TooLong { .. })));
    }
}
