//! moat-syscalls: the single source of truth for Linux syscall facts.
//!
//! What it holds, per ABI ([`Arch`]: x86_64, x86, x32, aarch64, arm EABI, riscv64, ppc64le,
//! s390x, loongarch64), current to Linux 6.18 plus `listns` (6.19):
//!
//! - name <-> number tables ([`Arch::syscalls`], [`Arch::by_name`], [`Arch::by_nr`]), with the
//!   kernel version that introduced each syscall on that ABI ([`Syscall::since`]);
//! - the `AUDIT_ARCH_*` value of each ABI and x32's `__X32_SYSCALL_BIT`;
//! - the parameters of every syscall of every ABI ([`signature`]): names, C types and how many
//!   bits the kernel reads, generated from the kernel's `SYSCALL_DEFINE`s, with clone's per-ABI
//!   argument order;
//! - named constants for conditions ([`constant`]: `CLONE_*`, `AF_*`, `O_*`, `TIOC*`...), errno
//!   names ([`errno`]) and capabilities ([`capability`]);
//! - systemd-style groups ([`group`], [`expand_group`]), twins such as `clock_gettime64` and
//!   `setuid32` ([`twins`]), and the calls reachable through `socketcall`/`ipc`
//!   ([`multiplexed`]).
//!
//! The tables are generated (`cargo xtask gen-syscalls`) from the `syscalls` crate and checked-in
//! data files under `data/` (`signatures.tsv` is extracted from a kernel source tree by
//! `cargo xtask gen-signatures`); they are static arrays searched by binary search.
//!
//! ```
//! use moat_syscalls::{Arch, Width, constant, signature};
//!
//! let openat = Arch::X32.by_name("openat").unwrap();
//! assert_eq!(openat.nr, 0x4000_0101); // x32 numbers carry __X32_SYSCALL_BIT
//! assert_eq!(Arch::of(Arch::X32.audit_arch(), openat.nr), Some(Arch::X32));
//! assert_eq!(Arch::Aarch64.by_name("open"), None);
//!
//! let clone = signature(Arch::S390x, "clone").unwrap();
//! assert_eq!((clone[1].name, clone[1].width), ("flags", Width::U64));
//! assert_eq!(constant("CLONE_NEWUSER"), Some(0x1000_0000));
//! ```
//!
//! What it does not do: it builds no filters and evaluates no policies, and it knows nothing
//! about ABIs outside the list above (mips, sparc, 32-bit powerpc, s390, parisc, m68k).

#![deny(missing_docs)]

mod arch;
mod consts;
mod family;
#[rustfmt::skip]
mod generated;
#[rustfmt::skip]
mod generated_signatures;
mod group;
mod signature;
mod version;

pub use arch::{Arch, UnknownArch};
pub use consts::{capability, capability_name, constant, constants, errno, errno_name};
pub use family::{Multiplexed, Multiplexer, multiplexed, twins};
pub use group::{Group, expand_group, group, groups};
pub use signature::{Param, Width, entry_point, signature, signature_names};
pub use version::{BadVersion, KernelVersion};

/// One syscall of one ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Syscall {
    /// The kernel's name for it (the `__NR_` suffix), e.g. `openat`.
    pub name: &'static str,
    /// Its number as seccomp sees it in `seccomp_data.nr`, including [`Arch::nr_bias`].
    pub nr: u32,
    /// The first kernel release that has it on this ABI (clamped to the ABI's floor).
    pub since: KernelVersion,
}

/// Every syscall name known on any ABI, sorted and unique.
pub fn names() -> &'static [&'static str] {
    generated::NAMES
}

/// True when `name` is a syscall on at least one ABI.
pub fn is_known(name: &str) -> bool {
    generated::NAMES.binary_search(&name).is_ok()
}

/// Syscall names libseccomp resolves (2.5.4 or later) that exist only on ABIs moat has no table
/// for, with those ABIs (libseccomp's `src/syscalls.csv`). A container runtime resolves them
/// and adds nothing for the ABIs moat supports, so an importer skips them with a note.
pub const FOREIGN: &[(&str, &str)] = &[
    ("atomic_barrier", "m68k"),
    ("atomic_cmpxchg_32", "m68k"),
    ("cachectl", "mips"),
    ("getpagesize", "m68k"),
    ("syscall", "mips"),
    ("sysmips", "mips"),
];

/// The ABIs of a [`FOREIGN`] name (`"syscall"` -> `"mips"`), `None` for any other name.
pub fn foreign(name: &str) -> Option<&'static str> {
    FOREIGN.iter().find(|(n, _)| *n == name).map(|&(_, a)| a)
}

/// The ABIs on which `name` is a syscall, in [`Arch::ALL`] order.
pub fn abis_with(name: &str) -> Vec<Arch> {
    Arch::ALL
        .into_iter()
        .filter(|a| a.by_name(name).is_some())
        .collect()
}

/// The known syscall name closest to `name` (edit distance), if one is close enough to be a
/// plausible typo. Returns `None` for an exact match's absence of any close name.
pub fn suggest(name: &str) -> Option<&'static str> {
    closest(name, generated::NAMES.iter().copied())
}

/// The candidate with the smallest edit distance to `input` (ASCII case ignored), if that
/// distance is at most a third of the input's length (and at least 1 allowed): the one "did you
/// mean" of every crate. Ties keep the first candidate. An input longer than
/// [`MAX_SUGGEST_CHARS`] gets no suggestion (no name is that long, and the distance is
/// quadratic), and a candidate whose length alone puts it out of reach is not measured.
///
/// ```
/// assert_eq!(moat_syscalls::closest("opnat", ["openat", "close"]), Some("openat"));
/// assert_eq!(moat_syscalls::closest("EPREM", ["EPERM"]), Some("EPERM"));
/// assert_eq!(moat_syscalls::closest(&"x".repeat(1 << 20), ["openat"]), None);
/// ```
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let n = input.chars().count();
    if n > MAX_SUGGEST_CHARS {
        return None;
    }
    let limit = (n / 3).max(1);
    let upper = input.to_ascii_uppercase();
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        if c.chars().count().abs_diff(n) > limit {
            continue;
        }
        let d = edit_distance(&upper, &c.to_ascii_uppercase());
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Inputs longer than this get no suggestion from [`closest`].
pub const MAX_SUGGEST_CHARS: usize = 64;

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_names_are_on_no_abi_moat_has() {
        for (n, _) in FOREIGN {
            assert!(!is_known(n), "{n} is in moat's tables");
            assert!(foreign(n).is_some());
        }
        assert_eq!(foreign("read"), None);
    }

    #[test]
    fn getpid_numbers_per_abi() {
        let expected = [
            (Arch::X86_64, 39),
            (Arch::X86, 20),
            (Arch::X32, 0x4000_0027),
            (Arch::Aarch64, 172),
            (Arch::Arm, 20),
            (Arch::Riscv64, 172),
            (Arch::Ppc64le, 20),
            (Arch::S390x, 20),
            (Arch::Loongarch64, 172),
        ];
        for (arch, nr) in expected {
            let s = arch.by_name("getpid").unwrap();
            assert_eq!(s.nr, nr, "{arch}");
            assert_eq!(arch.by_nr(nr).unwrap().name, "getpid", "{arch}");
        }
    }

    #[test]
    fn x32_table() {
        // x32's own entries (512..=547) replace x86_64's "64"-only ones.
        assert_eq!(Arch::X32.by_nr(0x4000_0000 | 520).unwrap().name, "execve");
        assert_eq!(Arch::X32.by_name("execve").unwrap().nr, 0x4000_0208);
        assert_eq!(Arch::X32.by_name("openat").unwrap().nr, 0x4000_0101);
        assert_eq!(Arch::X32.by_name("ioctl").unwrap().nr, 0x4000_0202);
        assert_eq!(
            Arch::X32.by_name("setsockopt").unwrap().nr,
            0x4000_0000 | 541
        );
        assert!(
            Arch::X32.by_nr(0x4000_0000 | 59).is_none(),
            "x86_64's execve is not x32's"
        );
        assert!(Arch::X32.by_nr(0x4000_0000 | 16).is_none());
        assert!(Arch::X32.by_name("uselib").is_none());
        assert!(Arch::X32.by_name("_sysctl").is_none());
        assert!(Arch::X32.by_nr(520).is_none(), "x32 numbers carry the bit");
        assert!(Arch::X32.syscalls().iter().all(|s| s.nr & 0x4000_0000 != 0));
        assert_eq!(
            Arch::X32.by_name("file_setattr").unwrap().nr,
            0x4000_0000 | 469
        );
    }

    #[test]
    fn tables_end_at_listns_of_linux_6_19() {
        for arch in Arch::ALL {
            let s = arch.by_name("file_setattr").unwrap();
            assert_eq!(s.nr, arch.nr_bias() + 469, "{arch}");
            let s = arch.by_name("listns").unwrap();
            assert_eq!(s.nr, arch.nr_bias() + 470, "{arch}");
            // x32's own entries (512..=547) and ARM's private calls (0xf0000 + n) sort after
            // the shared numbers.
            let mut shared = arch
                .syscalls()
                .iter()
                .filter(|s| s.nr - arch.nr_bias() < 512);
            assert_eq!(shared.next_back().unwrap().name, "listns", "{arch}");
        }
    }

    #[test]
    fn loongarch64_has_memfd_secret_as_its_kernel_does() {
        let s = Arch::Loongarch64.by_name("memfd_secret").unwrap();
        assert_eq!(s.nr, 447);
    }

    #[test]
    fn tables_sorted_and_unique() {
        for arch in Arch::ALL {
            let t = arch.syscalls();
            assert!(t.windows(2).all(|w| w[0].nr < w[1].nr), "{arch}");
            for s in t {
                assert_eq!(arch.by_name(s.name), Some(s), "{arch} {}", s.name);
                assert_eq!(arch.by_nr(s.nr), Some(s), "{arch} {}", s.name);
                assert!(is_known(s.name));
            }
        }
        assert!(names().windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn well_known_numbers() {
        assert_eq!(Arch::X86.by_name("socketcall").unwrap().nr, 102);
        assert_eq!(Arch::X86.by_name("ipc").unwrap().nr, 117);
        assert_eq!(Arch::X86_64.by_name("openat").unwrap().nr, 257);
        assert_eq!(Arch::Aarch64.by_name("openat").unwrap().nr, 56);
        assert!(Arch::Aarch64.by_name("open").is_none());
        assert_eq!(Arch::S390x.by_name("clone").unwrap().nr, 120);
        assert_eq!(Arch::Arm.by_name("set_tls").unwrap().nr, 0xf0005);
        assert_eq!(Arch::Arm.by_nr(0xf0001).unwrap().name, "breakpoint");
        assert!(
            Arch::Arm.by_name("socketcall").is_none(),
            "EABI has no socketcall"
        );
        assert_eq!(Arch::X86_64.by_name("clone3").unwrap().nr, 435);
        assert_eq!(Arch::X86_64.by_name("nosuchcall"), None);
        assert_eq!(Arch::X86_64.by_nr(400), None);
    }

    #[test]
    fn abis_with_and_suggest() {
        assert_eq!(abis_with("getpid"), Arch::ALL.to_vec());
        assert_eq!(
            abis_with("open"),
            [
                Arch::X86_64,
                Arch::X86,
                Arch::X32,
                Arch::Arm,
                Arch::Ppc64le,
                Arch::S390x
            ]
        );
        assert_eq!(
            abis_with("socketcall"),
            [Arch::X86, Arch::Ppc64le, Arch::S390x]
        );
        assert!(abis_with("nosuchcall").is_empty());
        assert_eq!(suggest("opennat"), Some("openat"));
        assert_eq!(suggest("getpdi"), Some("getpid"));
        assert_eq!(suggest("xyzzyplugh"), None);
    }

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("abc", "acb"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
