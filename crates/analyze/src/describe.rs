//! Words for analysis results: conditions in the policy language's own syntax, actions as verbs.

use moat_policy::{Action, CmpOp, Width};
use moat_syscalls::Arch;

use crate::region::{Atoms, satisfiable};
use crate::solve::{Atom, negate_op, width_mask};

/// `allows`, `denies`, `returns errno ENOSYS`, `kills`, ...
pub fn verb(a: Action) -> String {
    match a {
        Action::Allow => "allows".into(),
        Action::Errno(1) => "denies".into(),
        Action::Errno(_) => format!("returns {a}"),
        Action::KillProcess => "kills".into(),
        Action::KillThread => "kills the thread".into(),
        Action::Trap(_) => format!("traps ({a})"),
        Action::Log => "logs and allows".into(),
        Action::Trace(_) => format!("hands to the tracer ({a})"),
        Action::Notify => "notifies the supervisor".into(),
    }
}

/// The parameter name for argument `arg` of `syscall` on `arch`, or `argN`.
pub fn arg_name(arch: Arch, syscall: &str, arg: u8) -> String {
    moat_syscalls::signature(arch, syscall)
        .and_then(|ps| ps.into_iter().find(|p| p.index == arg).map(|p| p.name))
        .map_or_else(|| format!("arg{arg}"), str::to_string)
}

/// Constant-name prefixes that make sense for a parameter.
fn prefixes(syscall: &str, param: &str) -> &'static [&'static str] {
    match (syscall, param) {
        ("clone" | "unshare" | "setns", _) => &["CLONE_"],
        ("socket" | "socketpair", "domain") => &["AF_"],
        ("socket" | "socketpair", "type") => &["SOCK_"],
        ("ioctl", "request") => &["TIOC"],
        ("personality", _) => &[
            "PER_",
            "ADDR_",
            "READ_IMPLIES_EXEC",
            "MMAP_PAGE_ZERO",
            "STICKY_TIMEOUTS",
            "SHORT_INODE",
            "WHOLE_SECONDS",
        ],
        ("prctl", "option") => &["PR_"],
        ("open" | "openat", "flags") => &["O_"],
        ("mmap" | "mprotect" | "mmap2", "prot") => &["PROT_"],
        ("mmap" | "mmap2", "flags") => &["MAP_"],
        ("fcntl" | "fcntl64", "cmd") => &["F_"],
        _ => &[],
    }
}

/// A value as the policy language would write it: a constant name where one fits the parameter,
/// an OR of single-bit constants for masks, decimal below 10, hex otherwise.
pub fn value(syscall: &str, param: &str, v: u64, is_mask: bool) -> String {
    let pre = prefixes(syscall, param);
    let named = |c: &(&'static str, u64)| pre.iter().any(|p| c.0.starts_with(p));
    if !(v == 0 && is_mask)
        && let Some((n, _)) = moat_syscalls::constants()
            .iter()
            .find(|c| c.1 == v && named(c))
    {
        return (*n).to_string();
    }
    if is_mask && v.count_ones() > 1 && !pre.is_empty() {
        let bits: Vec<&str> = (0..64)
            .filter(|b| v & (1u64 << b) != 0)
            .filter_map(|b| {
                moat_syscalls::constants()
                    .iter()
                    .find(|c| c.1 == 1u64 << b && named(c))
                    .map(|c| c.0)
            })
            .collect();
        if bits.len() == usize::try_from(v.count_ones()).unwrap_or(0) {
            return bits.join("|");
        }
    }
    if v < 10 {
        v.to_string()
    } else {
        format!("{v:#x}")
    }
}

/// One literal: `flags & CLONE_NEWUSER` (nonzero), `domain == AF_ALG`, `persona != 8`.
pub fn literal(arch: Arch, syscall: &str, a: &Atom, positive: bool) -> String {
    let op = if positive { a.op } else { negate_op(a.op) };
    let name = arg_name(arch, syscall, a.arg);
    // A 16-bit parameter's comparisons carry its width as the mask 0xffff.
    let param_mask = moat_syscalls::signature(arch, syscall)
        .and_then(|ps| ps.into_iter().find(|p| p.index == a.arg))
        .map(|p| {
            if arch.is_compat32() {
                p.mask() & 0xffff_ffff
            } else {
                p.mask()
            }
        });
    let full = a.mask == width_mask(a.width) || a.mask == u64::MAX || Some(a.mask) == param_mask;
    let v = value(syscall, &name, a.value, false);
    if full {
        return format!("{name} {} {v}", op.symbol());
    }
    let m = value(syscall, &name, a.mask, true);
    match (op, a.value) {
        (CmpOp::Ne, 0) => format!("{name} & {m}"),
        _ => format!("{name} & {m} {} {v}", op.symbol()),
    }
}

/// Shrinks each cube of `class` by dropping literals while it stays disjoint from every cube of
/// `others` (the cubes together partition the argument space, so a shrunk cube still lies inside
/// the class), then removes cubes that others subsume. Every cube of `others` is a region of a
/// split, so satisfiable.
pub fn simplify(
    atoms: &Atoms,
    class: &[Vec<(usize, bool)>],
    others: &[Vec<(usize, bool)>],
) -> Vec<Vec<(usize, bool)>> {
    let mut out: Vec<Vec<(usize, bool)>> = Vec::new();
    let mut kept = std::collections::HashSet::new();
    // A candidate is disjoint from `o` at once when `o` holds the negation of one of its
    // literals; only otherwise does the solver decide.
    let others_sets: Vec<std::collections::HashSet<(usize, bool)>> =
        others.iter().map(|o| o.iter().copied().collect()).collect();
    let disjoint_from_others = |cand: &[(usize, bool)]| {
        // "Always" meets every other region; without this, dropping the last literal of each of
        // 10,000 `arg == v` cubes asked the solver about the 10,000 `!=` of the remaining region.
        if cand.is_empty() {
            return others.is_empty();
        }
        others.iter().zip(&others_sets).all(|(o, set)| {
            cand.iter().any(|&(i, v)| set.contains(&(i, !v))) || {
                let mut both = cand.to_vec();
                both.extend(o.iter().copied());
                !satisfiable(atoms, &both)
            }
        })
    };
    for cube in class {
        let mut cur = cube.clone();
        // First try the positive literals alone (`arg == v` of a set rather than the `!=` of
        // every value tested before it): one check instead of one per dropped literal.
        let positive: Vec<(usize, bool)> = cur.iter().copied().filter(|l| l.1).collect();
        if !positive.is_empty() && positive.len() < cur.len() && disjoint_from_others(&positive) {
            cur = positive;
        }
        let mut i = 0;
        while i < cur.len() {
            let mut cand = cur.clone();
            cand.remove(i);
            if disjoint_from_others(&cand) {
                cur = cand;
            } else {
                i += 1;
            }
        }
        cur.sort_unstable();
        if kept.insert(cur.clone()) {
            out.push(cur);
        }
    }
    // Drop cubes whose literals are a superset of another cube's (they are contained in it).
    let all = out.clone();
    out.retain(|c| {
        !all.iter()
            .any(|d| d != c && d.len() < c.len() && d.iter().all(|l| c.contains(l)))
    });
    out
}

/// A disjunction of cubes in policy syntax; `None` when it is "always".
pub fn cubes(
    arch: Arch,
    syscall: &str,
    atoms: &Atoms,
    cubes: &[Vec<(usize, bool)>],
) -> Option<String> {
    if cubes.iter().any(Vec::is_empty) {
        return None;
    }
    let parts: Vec<String> = cubes
        .iter()
        .map(|c| {
            let lits: Vec<String> = c
                .iter()
                .map(|&(i, v)| literal(arch, syscall, &atoms.atoms[i], v))
                .collect();
            if cubes.len() > 1 && lits.len() > 1 {
                format!("({})", lits.join(" and "))
            } else {
                lits.join(" and ")
            }
        })
        .collect();
    Some(parts.join(" or "))
}

/// The width of a parameter, for messages.
pub fn width_name(w: Width) -> &'static str {
    match w {
        Width::U32 => "32-bit",
        Width::U64 => "64-bit",
    }
}
