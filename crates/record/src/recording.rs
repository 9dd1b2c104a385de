//! What a recording holds: every (ABI, number) seen with its count, and for the syscalls
//! policies condition on, the distinct values of the argument that matters.

use std::collections::{BTreeSet, HashMap};

use moat_syscalls::{Arch, Width, signature};

/// `CLONE_NEW_ANY`: every `CLONE_NEW*` bit, `CLONE_NEWTIME` included (include/uapi/linux/sched.h).
pub(crate) const CLONE_NEW_ANY: u64 = 0x7e02_0080;
/// `PROT_WRITE | PROT_EXEC`.
pub(crate) const PROT_WX: u64 = 0x6;
/// `O_ACCMODE`.
pub(crate) const O_ACCMODE: u64 = 3;

/// At most this many distinct values are kept per argument; beyond, the argument counts as
/// "anything" and the syscall is allowed without a condition.
pub const MAX_VALUES: usize = 32;

/// How the recorded values of an argument become a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shape {
    /// The exact set of values seen (`domain in {AF_UNIX, AF_INET}`).
    Set,
    /// The namespace bits seen (`flags & CLONE_NEW_ANY == 0`).
    CloneFlags,
    /// Write and execute permission seen (`prot & PROT_EXEC == 0`, or W^X).
    Prot,
    /// The access modes seen (`flags & O_ACCMODE == O_RDONLY`).
    AccessMode,
}

impl Shape {
    /// The bits of the argument that are kept: all of them for [`Shape::Set`].
    pub fn mask(self) -> Option<u64> {
        match self {
            Shape::Set => None,
            Shape::CloneFlags => Some(CLONE_NEW_ANY),
            Shape::Prot => Some(PROT_WX),
            Shape::AccessMode => Some(O_ACCMODE),
        }
    }
}

/// The argument moat records for a syscall, by the parameter's name in its signature, and how
/// its values generalise. `None`: the syscall is recorded by count only.
pub fn watched(name: &str) -> Option<(&'static str, Shape)> {
    Some(match name {
        "clone" | "unshare" => ("flags", Shape::CloneFlags),
        "socket" | "socketpair" => ("domain", Shape::Set),
        "personality" => ("persona", Shape::Set),
        "ioctl" => ("request", Shape::Set),
        "prctl" => ("option", Shape::Set),
        "fcntl" | "fcntl64" => ("cmd", Shape::Set),
        "mmap" | "mmap2" | "mprotect" | "pkey_mprotect" => ("prot", Shape::Prot),
        "open" | "openat" => ("flags", Shape::AccessMode),
        _ => return None,
    })
}

#[derive(Clone, Debug)]
struct Watch {
    param: &'static str,
    shape: Shape,
    index: usize,
    keep: u64,
    values: BTreeSet<u64>,
    overflow: bool,
}

#[derive(Clone, Debug)]
struct Calls {
    count: u64,
    watch: Option<Watch>,
}

/// The calls of one recorded run (or several merged), keyed by `AUDIT_ARCH_*` and number as
/// the kernel reported them.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    calls: HashMap<(u32, u32), Calls>,
    total: u64,
    clone3_flags: BTreeSet<u64>,
}

/// One distinct syscall of a [`Recording`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The ABI; `None` for an audit architecture moat does not know.
    pub arch: Option<Arch>,
    /// `seccomp_data.arch`.
    pub audit_arch: u32,
    /// `seccomp_data.nr`.
    pub nr: u32,
    /// The name; `None` for a number not in moat's table for that ABI.
    pub name: Option<&'static str>,
    /// How many times it was called.
    pub count: u64,
    /// The recorded argument, its shape and the distinct (masked) values seen.
    pub values: Option<Values>,
}

/// The distinct values of one recorded argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Values {
    /// The parameter's name (`domain`).
    pub param: &'static str,
    /// How the values generalise.
    pub shape: Shape,
    /// The values seen, masked to the parameter's width and the shape's mask.
    pub values: BTreeSet<u64>,
    /// More than [`MAX_VALUES`] distinct values were seen; `values` is incomplete.
    pub overflow: bool,
}

impl Recording {
    /// An empty recording.
    pub fn new() -> Recording {
        Recording::default()
    }

    /// Adds one call.
    pub fn record(&mut self, audit_arch: u32, nr: u32, args: &[u64; 6]) {
        self.total += 1;
        let calls = self.calls.entry((audit_arch, nr)).or_insert_with(|| Calls {
            count: 0,
            watch: watch_for(audit_arch, nr),
        });
        calls.count += 1;
        if let Some(w) = &mut calls.watch
            && !w.overflow
        {
            let v = args.get(w.index).copied().unwrap_or(0) & w.keep;
            if w.values.len() >= MAX_VALUES && !w.values.contains(&v) {
                w.overflow = true;
            } else {
                w.values.insert(v);
            }
        }
    }

    /// Adds the namespace bits of one `clone3` call's `clone_args.flags`, which the recorder
    /// read from the caller's memory (seccomp sees only the pointer).
    pub fn record_clone3_flags(&mut self, flags: u64) {
        self.clone3_flags.insert(flags & CLONE_NEW_ANY);
    }

    /// The distinct namespace bits `clone3` calls asked for.
    pub fn clone3_flags(&self) -> &BTreeSet<u64> {
        &self.clone3_flags
    }

    /// Total number of calls.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Number of distinct (ABI, number) pairs.
    pub fn distinct(&self) -> usize {
        self.calls.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Adds every call of `other`.
    pub fn merge(&mut self, other: &Recording) {
        self.total += other.total;
        self.clone3_flags.extend(other.clone3_flags.iter().copied());
        for (key, c) in &other.calls {
            let mine = self.calls.entry(*key).or_insert_with(|| Calls {
                count: 0,
                watch: c.watch.as_ref().map(|w| Watch {
                    values: BTreeSet::new(),
                    overflow: false,
                    ..w.clone()
                }),
            });
            mine.count += c.count;
            if let (Some(m), Some(o)) = (&mut mine.watch, &c.watch) {
                m.overflow |= o.overflow;
                m.values.extend(o.values.iter().copied());
                if m.values.len() > MAX_VALUES {
                    m.overflow = true;
                }
            }
        }
    }

    /// Every distinct syscall, sorted by ABI and number.
    pub fn seen(&self) -> Vec<Seen> {
        let mut out: Vec<Seen> = self
            .calls
            .iter()
            .map(|(&(audit_arch, nr), c)| {
                let arch = Arch::of(audit_arch, nr);
                Seen {
                    arch,
                    audit_arch,
                    nr,
                    name: arch.and_then(|a| a.by_nr(nr)).map(|s| s.name),
                    count: c.count,
                    values: c.watch.as_ref().map(|w| Values {
                        param: w.param,
                        shape: w.shape,
                        values: w.values.clone(),
                        overflow: w.overflow,
                    }),
                }
            })
            .collect();
        out.sort_by_key(|s| (s.audit_arch, s.nr));
        out
    }

    /// Call counts by syscall name, most frequent first, as `name count` lines: the weights
    /// file `moat compile --weights` reads. Names on several ABIs add up; unknown numbers are
    /// left out.
    pub fn weights(&self) -> String {
        let mut by_name: HashMap<&'static str, u64> = HashMap::new();
        for s in self.seen() {
            if let Some(name) = s.name {
                *by_name.entry(name).or_default() += s.count;
            }
        }
        let mut v: Vec<_> = by_name.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.iter().map(|(n, c)| format!("{n} {c}\n")).collect()
    }
}

fn watch_for(audit_arch: u32, nr: u32) -> Option<Watch> {
    let arch = Arch::of(audit_arch, nr)?;
    let name = arch.by_nr(nr)?.name;
    let (param, shape) = watched(name)?;
    let p = signature(arch, name)?
        .into_iter()
        .find(|p| p.name == param)?;
    let width = match p.width {
        Width::U32 => 0xffff_ffff,
        Width::U64 => u64::MAX,
    };
    Some(Watch {
        param,
        shape,
        index: usize::from(p.index),
        keep: width & shape.mask().unwrap_or(u64::MAX),
        values: BTreeSet::new(),
        overflow: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const X86_64: u32 = 0xc000_003e;

    #[test]
    fn counts_and_values() {
        let mut r = Recording::new();
        // socket(AF_UNIX, ...) twice, socket(AF_INET, ...) once; high word ignored (int).
        r.record(X86_64, 41, &[1, 1, 0, 0, 0, 0]);
        r.record(X86_64, 41, &[0xdead_0000_0001, 1, 0, 0, 0, 0]);
        r.record(X86_64, 41, &[2, 1, 0, 0, 0, 0]);
        r.record(X86_64, 39, &[0; 6]);
        assert_eq!(r.total(), 4);
        assert_eq!(r.distinct(), 2);
        let seen = r.seen();
        let socket = seen.iter().find(|s| s.name == Some("socket")).unwrap();
        assert_eq!(socket.count, 3);
        let v = socket.values.as_ref().unwrap();
        assert_eq!(v.param, "domain");
        assert_eq!(v.values, BTreeSet::from([1, 2]));
        assert_eq!(r.weights(), "socket 3\ngetpid 1\n");
    }

    #[test]
    fn clone_keeps_namespace_bits_only() {
        let mut r = Recording::new();
        r.record(X86_64, 56, &[0x003d_0f00, 0, 0, 0, 0, 0]); // a pthread_create clone
        r.record(X86_64, 56, &[0x1000_0011, 0, 0, 0, 0, 0]); // CLONE_NEWUSER | SIGCHLD
        let seen = r.seen();
        let v = seen[0].values.as_ref().unwrap();
        assert_eq!(v.values, BTreeSet::from([0, 0x1000_0000]));
    }

    #[test]
    fn too_many_values_overflow() {
        let mut r = Recording::new();
        for i in 0..100u64 {
            r.record(X86_64, 16, &[0, 0x5400 + i, 0, 0, 0, 0]);
        }
        let v = r.seen()[0].values.clone().unwrap();
        assert!(v.overflow);
        assert_eq!(v.values.len(), MAX_VALUES);
    }

    #[test]
    fn unknown_numbers_are_kept() {
        let mut r = Recording::new();
        r.record(X86_64, 9999, &[0; 6]);
        r.record(0x1234, 1, &[0; 6]);
        let seen = r.seen();
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|s| s.name.is_none()));
        assert_eq!(r.weights(), "");
    }

    #[test]
    fn merge_adds_counts_and_values() {
        let mut a = Recording::new();
        a.record(X86_64, 41, &[1, 1, 0, 0, 0, 0]);
        let mut b = Recording::new();
        b.record(X86_64, 41, &[10, 1, 0, 0, 0, 0]);
        b.record(X86_64, 0, &[0; 6]);
        a.merge(&b);
        assert_eq!(a.total(), 3);
        let seen = a.seen();
        let socket = seen.iter().find(|s| s.name == Some("socket")).unwrap();
        assert_eq!(socket.count, 2);
        assert_eq!(
            socket.values.as_ref().unwrap().values,
            BTreeSet::from([1, 10])
        );
    }
}
