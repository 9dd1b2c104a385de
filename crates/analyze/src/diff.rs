//! Semantic difference and subset proofs.
//!
//! For two policies the comparison is exact: for every accepted ABI and every syscall number the
//! rule lists of both policies are split into argument regions with constant verdicts
//! ([`crate::region`]); regions where the verdicts differ are the difference, described as a
//! condition in the policy language. Numbers neither table knows and ABIs neither policy accepts
//! are compared as buckets (`unknown` and `badarch` actions). When either side is raw BPF, exact
//! reasoning is impossible here: every syscall number of every ABI (and beyond) is evaluated,
//! with boundary values of every constant of both sides for calls whose verdict reads arguments.

use std::collections::BTreeMap;

use moat_policy::{Action, LoweredAbi};
use moat_syscalls::Arch;

use crate::describe;
use crate::filters::{sample_arches, sample_args, sample_numbers, sample_values};
use crate::region::{Atoms, List, Region, Relation, split, split_pruned};
use crate::solve::Atom;
use crate::{AnalyzeError, Subject};

/// The semantic difference of two subjects.
#[derive(Clone, Debug)]
pub struct Diff {
    /// Name of the first subject.
    pub a: String,
    /// Name of the second subject.
    pub b: String,
    /// True when decided on the conditions; false when raw BPF forced sampling.
    pub exact: bool,
    /// Every difference, ordered by ABI and number.
    pub differences: Vec<Difference>,
    /// ABIs only one side accepts: (ABI, true if A accepts it).
    pub only: Vec<(Arch, bool)>,
    /// Number of (ABI, syscall) pairs compared.
    pub compared: usize,
}

/// One difference: on `arch`, for syscall `nr`, A does `a` and B does `b` when `when` holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The ABI; `None` for ABIs neither side accepts (and unknown `AUDIT_ARCH` values).
    pub arch: Option<Arch>,
    /// The number; `None` for numbers neither side's table knows.
    pub nr: Option<u32>,
    /// The syscall's name, when the number is known.
    pub syscall: Option<&'static str>,
    /// A's action.
    pub a: Action,
    /// B's action.
    pub b: Action,
    /// The argument condition under which this pair of actions happens (policy syntax), `None`
    /// for every call of the syscall. For sampled comparisons, `None` with `sampled` set.
    pub when: Option<String>,
    /// The same region as `when`, as a disjunction of conjunctions of (atom, truth value); empty
    /// for sampled differences, `[[]]` (one empty conjunction) for "every call".
    pub region: Vec<Vec<(Atom, bool)>>,
    /// True when found by sampling and the verdicts read arguments: the difference holds for
    /// `example` and possibly other arguments.
    pub sampled: bool,
    /// A concrete call in the region.
    pub example: [u64; 6],
}

impl Diff {
    /// True when the subjects agree on every call (compared exactly or on every sample).
    pub fn is_equal(&self) -> bool {
        self.differences.is_empty()
    }
}

impl Difference {
    /// True when `args` lie in the region of this difference (always true for "every call";
    /// for sampled differences, true only for the example).
    pub fn contains(&self, args: &[u64; 6]) -> bool {
        if self.sampled || self.region.is_empty() {
            return *args == self.example || !self.sampled;
        }
        self.region
            .iter()
            .any(|c| c.iter().all(|(a, v)| a.holds(args) == *v))
    }
}

/// The outcome of a subset check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subset {
    /// A is never more permissive than B; `exact` is false when raw BPF forced sampling
    /// (then "no counterexample among the samples").
    Holds {
        /// Decided on the conditions.
        exact: bool,
        /// (ABI, syscall) pairs compared.
        compared: usize,
    },
    /// A call where A is more permissive than B.
    Counterexample(Call),
}

/// A concrete call and the two verdicts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The ABI, if moat knows the `AUDIT_ARCH` value.
    pub arch: Option<Arch>,
    /// The `AUDIT_ARCH_*` value.
    pub audit_arch: u32,
    /// The syscall number (x32 numbers include the x32 bit).
    pub nr: u32,
    /// The syscall's name, if known.
    pub syscall: Option<&'static str>,
    /// The arguments.
    pub args: [u64; 6],
    /// A's verdict.
    pub a: Action,
    /// B's verdict.
    pub b: Action,
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let arch = self.arch.map_or_else(
            || format!("audit-arch {:#x}", self.audit_arch),
            |a| a.to_string(),
        );
        let name = self
            .syscall
            .map_or_else(|| format!("syscall {}", self.nr), str::to_string);
        let args: Vec<String> = self
            .args
            .iter()
            .map(|&v| {
                if v < 10 {
                    v.to_string()
                } else {
                    format!("{v:#x}")
                }
            })
            .collect();
        write!(f, "{arch} {name}({})", args.join(", "))
    }
}

/// One side's view of one ABI.
enum Side<'a> {
    Abi(&'a LoweredAbi),
    Const(Action),
}

impl Side<'_> {
    fn list(&self, atoms: &mut Atoms, nr: Option<u32>) -> (List, bool) {
        match self {
            Side::Const(a) => (List::constant(*a), false),
            Side::Abi(abi) => match nr.and_then(|n| abi.syscalls.get(&n)) {
                Some(rules) => (atoms.list(rules, abi.default), true),
                None => (List::constant(abi.unknown), false),
            },
        }
    }
    fn numbers(&self) -> Vec<u32> {
        match self {
            Side::Const(_) => Vec::new(),
            Side::Abi(abi) => abi.syscalls.keys().copied().collect(),
        }
    }
}

/// A bucket of calls that one exact comparison covers.
struct Bucket {
    arch: Option<Arch>,
    nr: Option<u32>,
    atoms: Atoms,
    regions: Vec<Region>,
}

/// Visits every bucket of an exact comparison of two lowered policies, and returns the number
/// of (ABI, syscall) pairs compared and the ABIs only one side accepts.
fn exact_buckets(
    a: &moat_policy::Lowered,
    b: &moat_policy::Lowered,
    holds: Option<Relation<'_>>,
    visit: &mut dyn FnMut(Bucket) -> bool,
) -> Result<(usize, Vec<(Arch, bool)>), AnalyzeError> {
    let compared = exact_buckets_of(&[a, b], holds, visit)?;
    let accepts = |l: &moat_policy::Lowered, arch: Arch| l.abis.iter().any(|x| x.arch == arch);
    let mut only = Vec::new();
    for arch in arches_of(&[a, b]) {
        match (accepts(a, arch), accepts(b, arch)) {
            (false, _) => only.push((arch, false)),
            (_, false) => only.push((arch, true)),
            _ => {}
        }
    }
    Ok((compared, only))
}

/// The ABIs any of `lowered` accepts, in order of first appearance.
fn arches_of(lowered: &[&moat_policy::Lowered]) -> Vec<Arch> {
    let mut arches = Vec::new();
    for l in lowered {
        for x in &l.abis {
            if !arches.contains(&x.arch) {
                arches.push(x.arch);
            }
        }
    }
    arches
}

/// Visits every bucket of an exact joint comparison of any number of lowered policies: the
/// regions' verdicts are in the order of `lowered`. Returns the number of (ABI, syscall) pairs
/// compared; stops early when `visit` returns false. With `holds`, the buckets leave out the
/// regions where it is known to hold ([`split_pruned`]).
fn exact_buckets_of(
    lowered: &[&moat_policy::Lowered],
    holds: Option<Relation<'_>>,
    visit: &mut dyn FnMut(Bucket) -> bool,
) -> Result<usize, AnalyzeError> {
    let mut compared = 0;
    for arch in arches_of(lowered) {
        let sides: Vec<Side> = lowered
            .iter()
            .map(|l| {
                l.abis
                    .iter()
                    .find(|x| x.arch == arch)
                    .map_or(Side::Const(l.badarch), Side::Abi)
            })
            .collect();
        let mut nrs: Vec<u32> = sides.iter().flat_map(Side::numbers).collect();
        nrs.sort_unstable();
        nrs.dedup();
        let mut keys: Vec<Option<u32>> = nrs.into_iter().map(Some).collect();
        keys.push(None);
        for nr in keys {
            let mut atoms = Atoms::default();
            let lists: Vec<List> = sides.iter().map(|s| s.list(&mut atoms, nr).0).collect();
            let regions = match holds {
                Some(h) => split_pruned(&atoms, &lists, &[], h),
                None => split(&atoms, &lists, &[]),
            }
            .map_err(|source| AnalyzeError::TooComplex {
                arch,
                syscall: nr
                    .and_then(|n| crate::syscall_name(arch, n))
                    .unwrap_or("?")
                    .to_string(),
                source,
            })?;
            compared += 1;
            if !visit(Bucket {
                arch: Some(arch),
                nr,
                atoms,
                regions,
            }) {
                return Ok(compared);
            }
        }
    }
    // ABIs no side accepts.
    let consts: Vec<List> = lowered.iter().map(|l| List::constant(l.badarch)).collect();
    let regions =
        split(&Atoms::default(), &consts, &[]).map_err(|source| AnalyzeError::TooComplex {
            arch: Arch::native(),
            syscall: "badarch".into(),
            source,
        })?;
    visit(Bucket {
        arch: None,
        nr: None,
        atoms: Atoms::default(),
        regions,
    });
    Ok(compared)
}

/// The semantic difference of `a` and `b`.
pub fn diff(a: &Subject, b: &Subject) -> Result<Diff, AnalyzeError> {
    match (a, b) {
        (Subject::Policy { lowered: la, .. }, Subject::Policy { lowered: lb, .. }) => {
            let mut differences = Vec::new();
            let (compared, only) = exact_buckets(la, lb, None, &mut |bucket| {
                differences.extend(bucket_differences(&bucket));
                true
            })?;
            Ok(Diff {
                a: a.origin().to_string(),
                b: b.origin().to_string(),
                exact: true,
                differences,
                only,
                compared,
            })
        }
        _ => Ok(sampled_diff(a, b)),
    }
}

fn bucket_differences(bucket: &Bucket) -> Vec<Difference> {
    let mut classes: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
    let key = |r: &Region| -> Option<(Action, Action)> {
        let (x, _) = r.verdicts[0];
        let (y, _) = r.verdicts[1];
        (x != y).then_some((x, y))
    };
    let mut pairs: Vec<(Action, Action)> = Vec::new();
    for (i, r) in bucket.regions.iter().enumerate() {
        if let Some(p) = key(r) {
            let k = pairs.iter().position(|q| *q == p).unwrap_or_else(|| {
                pairs.push(p);
                pairs.len() - 1
            });
            classes.entry((k, 0)).or_default().push(i);
        }
    }
    let syscall = match (bucket.arch, bucket.nr) {
        (Some(arch), Some(nr)) => crate::syscall_name(arch, nr),
        _ => None,
    };
    let mut out = Vec::new();
    for ((k, _), members) in classes {
        let (x, y) = pairs[k];
        let mut member = vec![false; bucket.regions.len()];
        for &i in &members {
            member[i] = true;
        }
        let class: Vec<Vec<(usize, bool)>> = members
            .iter()
            .map(|&i| bucket.regions[i].lits.clone())
            .collect();
        let others: Vec<Vec<(usize, bool)>> = bucket
            .regions
            .iter()
            .enumerate()
            .filter(|(i, _)| !member[*i])
            .map(|(_, r)| r.lits.clone())
            .collect();
        let cubes = if others.is_empty() {
            vec![Vec::new()]
        } else {
            describe::simplify(&bucket.atoms, &class, &others)
        };
        let when = match (bucket.arch, syscall) {
            (Some(arch), Some(name)) => describe::cubes(arch, name, &bucket.atoms, &cubes),
            _ => None,
        };
        let region = cubes
            .iter()
            .map(|c| c.iter().map(|&(i, v)| (bucket.atoms.atoms[i], v)).collect())
            .collect();
        out.push(Difference {
            arch: bucket.arch,
            nr: bucket.nr,
            syscall,
            a: x,
            b: y,
            when,
            region,
            sampled: false,
            example: bucket.regions[members[0]].args,
        });
    }
    out
}

/// Every sampled call: (audit arch, nr, args). Calls whose verdicts read no arguments on either
/// side are sampled once.
fn for_each_sample(
    a: &Subject,
    b: &Subject,
    f: &mut dyn FnMut(u32, u32, &[u64; 6]) -> bool,
) -> usize {
    let mut consts = a.constants();
    consts.extend(b.constants());
    let values = sample_values(&consts);
    let arg_samples = sample_args(&values);
    let zero = [[0u64; 6]];
    let mut compared = 0;
    for audit in sample_arches() {
        for nr in sample_numbers(audit) {
            compared += 1;
            let samples: &[[u64; 6]] = if a.reads_args(audit, nr) || b.reads_args(audit, nr) {
                &arg_samples
            } else {
                &zero
            };
            for args in samples {
                if !f(audit, nr, args) {
                    return compared;
                }
            }
        }
    }
    compared
}

fn sampled_diff(a: &Subject, b: &Subject) -> Diff {
    let mut found: BTreeMap<(u32, u32, u32, u32), Difference> = BTreeMap::new();
    let compared = for_each_sample(a, b, &mut |audit, nr, args| {
        let x = a.action(audit, nr, args);
        let y = b.action(audit, nr, args);
        if x != y {
            let arch = Arch::of(audit, nr);
            let sampled = a.reads_args(audit, nr) || b.reads_args(audit, nr);
            found
                .entry((audit, nr, x.to_ret(), y.to_ret()))
                .or_insert_with(|| Difference {
                    arch,
                    nr: Some(nr),
                    syscall: arch.and_then(|ar| crate::syscall_name(ar, nr)),
                    a: x,
                    b: y,
                    when: None,
                    region: Vec::new(),
                    sampled,
                    example: *args,
                });
        }
        true
    });
    Diff {
        a: a.origin().to_string(),
        b: b.origin().to_string(),
        exact: false,
        differences: found.into_values().collect(),
        only: Vec::new(),
        compared,
    }
}

/// A number on `arch` that neither lowered ABI knows (for counterexamples in the `unknown`
/// bucket).
fn unknown_number(arch: Arch, lowered: &[&moat_policy::Lowered]) -> u32 {
    let known = |n: u32| {
        lowered.iter().any(|l| {
            l.abis
                .iter()
                .any(|x| x.arch == arch && x.syscalls.contains_key(&n))
        }) || arch.by_nr(n).is_some()
    };
    let base = arch.nr_bias();
    (base..base + 0x3fff_ffff)
        .find(|&n| !known(n) && Arch::of(arch.audit_arch(), n) == Some(arch))
        .unwrap_or(base)
}

/// Proves that `a` is never more permissive than `b` ([`Action::no_looser_than`]: `notify`,
/// `trace` and `log` count as `allow`, and `errno 0` is looser than `allow`), or finds a call
/// where it is.
pub fn subset(a: &Subject, b: &Subject) -> Result<Subset, AnalyzeError> {
    subset_by(a, b, Action::no_looser_than)
}

/// A call on which [`agree`] found the relation broken, with every subject's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disagreement {
    /// The ABI, if moat knows the `AUDIT_ARCH` value.
    pub arch: Option<Arch>,
    /// The `AUDIT_ARCH_*` value.
    pub audit_arch: u32,
    /// The syscall number.
    pub nr: u32,
    /// The syscall's name, if known.
    pub syscall: Option<&'static str>,
    /// The arguments.
    pub args: [u64; 6],
    /// Each subject's verdict, in the order given.
    pub verdicts: Vec<Action>,
}

/// Proves exactly that `holds(verdicts)` for every call, the verdicts being those of
/// `policies` in order, or returns a call where it does not. Unlike [`subset_by`] this relates
/// any number of policies at once (e.g. "C is exactly A ∩ B": `holds = |v| v[2] ==
/// Action::meet(v[0], v[1])`), over the joint partition of all their conditions; it takes
/// policies only, since raw BPF can only be sampled.
pub fn agree(
    policies: &[&Subject],
    holds: impl Fn(&[Action]) -> bool + Sync,
) -> Result<Result<usize, Disagreement>, AnalyzeError> {
    let mut lowered = Vec::with_capacity(policies.len());
    for s in policies {
        match s {
            Subject::Policy { lowered: l, .. } => lowered.push(l),
            Subject::Filters(_) => {
                return Err(AnalyzeError::NotPolicy {
                    origin: s.origin().to_string(),
                });
            }
        }
    }
    let mut broken = None;
    let compared = exact_buckets_of(&lowered, Some(&holds), &mut |bucket| {
        for r in &bucket.regions {
            let verdicts: Vec<Action> = r.verdicts.iter().map(|v| v.0).collect();
            if !holds(&verdicts) {
                let (audit_arch, nr) = match (bucket.arch, bucket.nr) {
                    (Some(arch), Some(nr)) => (arch.audit_arch(), nr),
                    (Some(arch), None) => (arch.audit_arch(), unknown_number(arch, &lowered)),
                    _ => (0x1234_5678, 0),
                };
                broken = Some(Disagreement {
                    arch: bucket.arch,
                    audit_arch,
                    nr,
                    syscall: bucket.arch.and_then(|ar| crate::syscall_name(ar, nr)),
                    args: r.args,
                    verdicts,
                });
                return false;
            }
        }
        true
    })?;
    Ok(broken.map_or(Ok(compared), Err))
}

/// [`subset`] with another comparison: proves that `holds(a's action, b's action)` for every
/// call, or finds a call where it does not (exactly for policies, sampled for raw BPF).
pub fn subset_by(
    a: &Subject,
    b: &Subject,
    holds: impl Fn(Action, Action) -> bool + Sync,
) -> Result<Subset, AnalyzeError> {
    match (a, b) {
        (Subject::Policy { lowered: la, .. }, Subject::Policy { lowered: lb, .. }) => {
            let mut counter = None;
            let pair = |v: &[Action]| holds(v[0], v[1]);
            let (compared, _) = exact_buckets(la, lb, Some(&pair), &mut |bucket| {
                for r in &bucket.regions {
                    let (x, _) = r.verdicts[0];
                    let (y, _) = r.verdicts[1];
                    if !holds(x, y) {
                        let (audit_arch, nr) = match (bucket.arch, bucket.nr) {
                            (Some(arch), Some(nr)) => (arch.audit_arch(), nr),
                            (Some(arch), None) => {
                                (arch.audit_arch(), unknown_number(arch, &[la, lb]))
                            }
                            _ => (0x1234_5678, 0),
                        };
                        counter = Some(Call {
                            arch: bucket.arch,
                            audit_arch,
                            nr,
                            syscall: bucket.arch.and_then(|ar| crate::syscall_name(ar, nr)),
                            args: r.args,
                            a: x,
                            b: y,
                        });
                        return false;
                    }
                }
                true
            })?;
            Ok(match counter {
                Some(c) => Subset::Counterexample(c),
                None => Subset::Holds {
                    exact: true,
                    compared,
                },
            })
        }
        (Subject::Policy { lowered: la, .. }, Subject::Filters(f)) if f.programs.len() == 1 => {
            let exact = crate::validate::compare(la, &f.programs[0], &|p, q| holds(q, p));
            match exact_subset(exact, false) {
                Some(r) => Ok(r),
                None => Ok(sampled_subset(a, b, &holds)),
            }
        }
        (Subject::Filters(f), Subject::Policy { lowered: lb, .. }) if f.programs.len() == 1 => {
            let exact = crate::validate::compare(lb, &f.programs[0], &|p, q| holds(p, q));
            match exact_subset(exact, true) {
                Some(r) => Ok(r),
                None => Ok(sampled_subset(a, b, &holds)),
            }
        }
        _ => Ok(sampled_subset(a, b, &holds)),
    }
}

/// The answer of an exact comparison between a policy and one raw program
/// ([`crate::validate::compare`]); `program_first` when the program is A. `None` when the
/// program is outside what the exact semantics decides, so the caller samples.
fn exact_subset(
    r: Result<crate::validate::Validated, crate::validate::ValidateError>,
    program_first: bool,
) -> Option<Subset> {
    match r {
        Ok(v) => Some(Subset::Holds {
            exact: true,
            compared: v.syscalls,
        }),
        Err(crate::validate::ValidateError::Mismatch(m)) => {
            let arch = Arch::of(m.audit_arch, m.nr);
            let (x, y) = if program_first {
                (m.program, m.policy)
            } else {
                (m.policy, m.program)
            };
            Some(Subset::Counterexample(Call {
                arch,
                audit_arch: m.audit_arch,
                nr: m.nr,
                syscall: arch.and_then(|ar| crate::syscall_name(ar, m.nr)),
                args: m.args,
                a: x,
                b: y,
            }))
        }
        Err(_) => None,
    }
}

/// [`subset_by`] by sampling, for raw BPF the exact semantics does not decide.
fn sampled_subset(a: &Subject, b: &Subject, holds: &dyn Fn(Action, Action) -> bool) -> Subset {
    let mut counter = None;
    let compared = for_each_sample(a, b, &mut |audit, nr, args| {
        let x = a.action(audit, nr, args);
        let y = b.action(audit, nr, args);
        if !holds(x, y) {
            let arch = Arch::of(audit, nr);
            counter = Some(Call {
                arch,
                audit_arch: audit,
                nr,
                syscall: arch.and_then(|ar| crate::syscall_name(ar, nr)),
                args: *args,
                a: x,
                b: y,
            });
            return false;
        }
        true
    });
    match counter {
        Some(c) => Subset::Counterexample(c),
        None => Subset::Holds {
            exact: false,
            compared,
        },
    }
}
