//! Translation validation: a compiled program checked exactly against the policy it came from.
//!
//! [`crate::exact::semantics`] gives the program's feasible paths over the words of
//! `seccomp_data`, `arch` left free; together they cover every input. For each path, every
//! `arch` value it admits (each ABI moat knows, and "any other"), every syscall number it admits
//! (each number the policy's table lists for that ABI, and "any number it does not list"), and the
//! path's argument-word literals turned into conditions on the 64-bit arguments (low or high
//! word by the ABI's byte order), the policy's rule list is split ([`crate::region::split`]) over
//! exactly that region, and every region's verdict must be the path's return value. Nothing is
//! sampled: a pass is a proof that the program and the policy's lowering agree on every input,
//! and a failure comes with a real call.

use moat_bpf::ByteOrder;
use moat_bpf::consts::{OFFSET_ARCH, OFFSET_NR};
use moat_policy::{Action, CmpOp, Lowered, LoweredAbi, Width};
use moat_syscalls::Arch;

use crate::exact::{semantics, word_atom};
use crate::region::{Atoms, split};
use crate::solve::{Atom, literal_range, solve_one};

/// `__X32_SYSCALL_BIT`: on `AUDIT_ARCH_X86_64` it selects the x32 ABI (`Arch::of`).
const X32_BIT: u64 = 0x4000_0000;

/// The number ranges `Arch::of` assigns to `arch` within its `arch` value: on
/// `AUDIT_ARCH_X86_64`, x32 is every number with bit 30 set, x86_64 every other one.
fn numbers_of(arch: Arch) -> Vec<(u64, u64)> {
    let top = u64::from(u32::MAX);
    match arch {
        Arch::X86_64 => vec![(0, X32_BIT - 1), (2 * X32_BIT, 3 * X32_BIT - 1)],
        Arch::X32 => vec![(X32_BIT, 2 * X32_BIT - 1), (3 * X32_BIT, top)],
        _ => vec![(0, top)],
    }
}

/// `word OP value` on a whole 32-bit word.
fn word_cmp(op: CmpOp, value: u64) -> Atom {
    Atom {
        arg: 0,
        mask: u64::from(u32::MAX),
        op,
        value,
        width: Width::U64,
    }
}

/// What a validation covered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validated {
    /// Paths through the program.
    pub paths: usize,
    /// (path, ABI, number or "unlisted numbers") cases compared.
    pub cases: usize,
    /// Distinct (`arch` value, listed number) pairs compared.
    pub syscalls: usize,
}

/// A call on which the program and the policy differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The `AUDIT_ARCH_*` value.
    pub audit_arch: u32,
    /// The syscall number.
    pub nr: u32,
    /// The arguments.
    pub args: [u64; 6],
    /// What the program returns.
    pub program: Action,
    /// What the policy decides.
    pub policy: Action,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let arch = Arch::of(self.audit_arch, self.nr);
        let name = arch.and_then(|a| crate::syscall_name(a, self.nr));
        write!(
            f,
            "{} {}({:#x?}): the program returns {}, the policy says {}",
            arch.map_or_else(|| format!("arch {:#x}", self.audit_arch), |a| a.to_string()),
            name.map_or_else(|| self.nr.to_string(), str::to_string),
            self.args,
            self.program,
            self.policy
        )
    }
}

/// Why a program could not be validated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidateError {
    /// The program and the policy differ on this call.
    #[error("the compiled program differs from its policy: {0}")]
    Mismatch(Box<Mismatch>),
    /// The program has more paths than the exact semantics explores.
    #[error("the program cannot be validated exactly")]
    TooManyPaths(#[source] moat_bpf::sym::TooManyPaths),
    /// A path's literal is not a masked comparison of one word, or its return value is computed:
    /// moat's own programs never do either.
    #[error("path {path} of the program is outside the validated form (computed value)")]
    Form {
        /// The path's index.
        path: usize,
    },
    /// The case split gave up on one syscall.
    #[error("the policy's conditions on syscall {nr} of {arch} are too complex to validate")]
    TooComplex {
        /// The ABI.
        arch: Arch,
        /// The number.
        nr: u32,
        /// The split's error.
        #[source]
        source: crate::region::TooComplex,
    },
}

/// One path's literals, sorted by what they constrain.
#[derive(Default)]
struct PathLits {
    nr: Vec<(Atom, bool)>,
    arch: Vec<(Atom, bool)>,
    /// (word offset, atom over the 32-bit word, polarity).
    words: Vec<(u32, Atom, bool)>,
}

fn holds(lits: &[(Atom, bool)], v: u64) -> bool {
    lits.iter()
        .all(|(a, pos)| a.op.apply(v & a.mask, a.value) == *pos)
}

/// The interval of the word that the full-width range literals of `lits` allow (the others are
/// checked one value at a time by [`holds`]); `None` when it is empty.
fn interval(lits: &[(Atom, bool)]) -> Option<std::ops::RangeInclusive<u32>> {
    let (mut lo, mut hi) = (0u64, u64::from(u32::MAX));
    for (a, pos) in lits {
        if let Some((mask, l, h)) = literal_range(a, *pos)
            && mask == u64::from(u32::MAX)
        {
            lo = lo.max(l);
            hi = hi.min(h);
        }
    }
    match (u32::try_from(lo), u32::try_from(hi)) {
        (Ok(l), Ok(h)) if l <= h => Some(l..=h),
        _ => None,
    }
}

/// The argument word at `offset` as a condition on the 64-bit argument, for `order`; `None` for
/// the instruction pointer (no policy reads it, so its literals only narrow the region).
fn arg_atom(order: ByteOrder, offset: u32, a: &Atom) -> Option<Atom> {
    let index = (0u8..6).find(|&i| order.arg_lo(i) == offset || order.arg_hi(i) == offset)?;
    let shift = if order.arg_hi(index) == offset { 32 } else { 0 };
    Some(Atom {
        arg: index,
        mask: a.mask << shift,
        op: a.op,
        value: a.value << shift,
        width: Width::U64,
    })
}

/// Arguments satisfying a path's argument-word literals (each word solved on its own: they are
/// independent), for a counterexample outside any rule list.
fn witness_args(order: ByteOrder, words: &[(u32, Atom, bool)]) -> [u64; 6] {
    let mut args = [0u64; 6];
    for (i, arg) in (0u8..6).zip(args.iter_mut()) {
        let word = |o: u32| -> u64 {
            let cs: Vec<(Atom, bool)> = words
                .iter()
                .filter(|(w, _, _)| *w == o)
                .map(|&(_, a, p)| (a, p))
                .collect();
            solve_one(&cs).unwrap_or(0) & u64::from(u32::MAX)
        };
        *arg = word(order.arg_hi(i)) << 32 | word(order.arg_lo(i));
    }
    args
}

/// The condition "the word is none of `listed`" added to `lits`. Only the listed values `lits`
/// admits are added (the others are excluded already), which keeps the solver's input to the
/// handful of numbers a path's range holds instead of a whole table.
fn unlisted(lits: &[(Atom, bool)], listed: impl Iterator<Item = u32>) -> Vec<(Atom, bool)> {
    let mut out = lits.to_vec();
    out.extend(listed.filter(|&n| holds(lits, u64::from(n))).map(|n| {
        (
            Atom {
                arg: 0,
                mask: u64::from(u32::MAX),
                op: CmpOp::Eq,
                value: u64::from(n),
                width: Width::U64,
            },
            false,
        )
    }));
    out
}

fn mismatch(audit: u32, nr: u32, args: [u64; 6], program: Action, policy: Action) -> ValidateError {
    ValidateError::Mismatch(Box::new(Mismatch {
        audit_arch: audit,
        nr,
        args,
        program,
        policy,
    }))
}

/// Checks one path on one accepted ABI: each listed number it admits, split over the path's
/// argument region, and the unlisted numbers it admits. Returns the cases compared.
fn check_abi(
    abi: &LoweredAbi,
    audit: u32,
    nr_lits: &[(Atom, bool)],
    words: &[(u32, Atom, bool)],
    returned: Action,
    ok: Rel<'_>,
    seen: &mut std::collections::HashSet<(u32, u32)>,
) -> Result<usize, ValidateError> {
    let order = ByteOrder::of_audit_arch(audit);
    let mut cases = 0;
    // No number in range: the path admits none of this ABI.
    let Some(range) = interval(nr_lits) else {
        return Ok(0);
    };
    for (&nr, rules) in abi.syscalls.range(range.clone()) {
        if !holds(nr_lits, u64::from(nr)) {
            continue;
        }
        cases += 1;
        seen.insert((audit, nr));
        let mut atoms = Atoms::default();
        let list = atoms.list(rules, abi.default);
        let forced: Vec<(usize, bool)> = words
            .iter()
            .filter_map(|(o, a, pos)| Some((atoms.intern(arg_atom(order, *o, a)?), *pos)))
            .collect();
        let regions = split(&atoms, std::slice::from_ref(&list), &forced).map_err(|source| {
            ValidateError::TooComplex {
                arch: abi.arch,
                nr,
                source,
            }
        })?;
        if let Some(r) = regions.iter().find(|r| !ok(returned, r.verdicts[0].0)) {
            return Err(mismatch(audit, nr, r.args, returned, r.verdicts[0].0));
        }
    }
    if let Some(nr) = solve_one(&unlisted(
        nr_lits,
        abi.syscalls.range(range).map(|(&n, _)| n),
    )) {
        cases += 1;
        if !ok(returned, abi.unknown) {
            let nr = u32::try_from(nr).unwrap_or(u32::MAX);
            return Err(mismatch(
                audit,
                nr,
                witness_args(order, words),
                returned,
                abi.unknown,
            ));
        }
    }
    Ok(cases)
}

/// A relation between the program's action and the policy's, for [`compare`].
pub type Rel<'a> = &'a dyn Fn(Action, Action) -> bool;

/// Checks exactly that `program` returns, on every input, what `lowered` decides.
pub fn validate(
    lowered: &Lowered,
    program: &moat_bpf::Program,
) -> Result<Validated, ValidateError> {
    compare(lowered, program, &|p, q| p == q)
}

/// Checks exactly that `ok(program's action, policy's action)` on every input, or returns a
/// call where it does not hold ([`ValidateError::Mismatch`]). [`validate`] is this with
/// equality; `moat diff --subset` between a policy and one raw program uses it with
/// [`Action::no_looser_than`].
pub fn compare(
    lowered: &Lowered,
    program: &moat_bpf::Program,
    ok: Rel<'_>,
) -> Result<Validated, ValidateError> {
    let sem = semantics(program, None).map_err(ValidateError::TooManyPaths)?;
    let mut audits: Vec<u32> = Arch::ALL.iter().map(|a| a.audit_arch()).collect();
    audits.sort_unstable();
    audits.dedup();
    let mut cases = 0;
    let mut seen = std::collections::HashSet::new();
    for (pi, path) in sem.paths.iter().enumerate() {
        let ret = path
            .ret
            .as_const()
            .ok_or(ValidateError::Form { path: pi })?;
        let returned = Action::from_ret(ret);
        let mut lits = PathLits::default();
        for l in &path.lits {
            let (offset, atom, pos) = word_atom(l).ok_or(ValidateError::Form { path: pi })?;
            match offset {
                OFFSET_NR => lits.nr.push((atom, pos)),
                OFFSET_ARCH => lits.arch.push((atom, pos)),
                _ => lits.words.push((offset, atom, pos)),
            }
        }
        // Every ABI moat knows whose `arch` value the path admits.
        for &audit in &audits {
            if !holds(&lits.arch, u64::from(audit)) {
                continue;
            }
            for arch in Arch::ALL
                .iter()
                .copied()
                .filter(|a| a.audit_arch() == audit)
            {
                for (lo, hi) in numbers_of(arch) {
                    // x86_64 and x32 share the `arch` value; bit 30 of the number selects x32,
                    // written as ranges so every literal on the number keeps the full mask.
                    let mut nr_lits = lits.nr.clone();
                    nr_lits.push((word_cmp(CmpOp::Ge, lo), true));
                    nr_lits.push((word_cmp(CmpOp::Gt, hi), false));
                    match lowered.abis.iter().find(|x| x.arch == arch) {
                        Some(abi) => {
                            cases += check_abi(
                                abi,
                                audit,
                                &nr_lits,
                                &lits.words,
                                returned,
                                ok,
                                &mut seen,
                            )?;
                        }
                        // Not accepted: every number of this ABI gets `badarch`.
                        None => {
                            if let Some(nr) = solve_one(&nr_lits) {
                                cases += 1;
                                if !ok(returned, lowered.badarch) {
                                    let nr = u32::try_from(nr).unwrap_or(u32::MAX);
                                    let order = ByteOrder::of_audit_arch(audit);
                                    let args = witness_args(order, &lits.words);
                                    return Err(mismatch(
                                        audit,
                                        nr,
                                        args,
                                        returned,
                                        lowered.badarch,
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        }
        // Any other `arch` value: `badarch`.
        let other = unlisted(&lits.arch, audits.iter().copied());
        if let (Some(audit), Some(nr)) = (solve_one(&other), solve_one(&lits.nr)) {
            cases += 1;
            if !ok(returned, lowered.badarch) {
                let audit = u32::try_from(audit).unwrap_or(u32::MAX);
                let nr = u32::try_from(nr).unwrap_or(u32::MAX);
                let args = witness_args(ByteOrder::of_audit_arch(audit), &lits.words);
                return Err(mismatch(audit, nr, args, returned, lowered.badarch));
            }
        }
    }
    Ok(Validated {
        paths: sem.paths.len(),
        cases,
        syscalls: seen.len(),
    })
}
