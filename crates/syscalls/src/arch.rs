//! The ABIs moat knows: identity, `AUDIT_ARCH_*` values, the x32 number bias.

use std::fmt;
use std::str::FromStr;

use crate::{Syscall, generated};

/// A Linux syscall ABI as seccomp sees it: the pair (`seccomp_data.arch`, number space).
///
/// x32 shares `AUDIT_ARCH_X86_64` with x86_64; its numbers carry `__X32_SYSCALL_BIT`
/// (0x4000_0000), which is how a filter tells the two apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    /// 64-bit x86 (`AUDIT_ARCH_X86_64`, numbers without bit 30).
    #[doc(alias = "amd64")]
    X86_64,
    /// 32-bit x86, also reached from 64-bit processes through `int 0x80` (`AUDIT_ARCH_I386`).
    #[doc(alias = "i386")]
    X86,
    /// The x32 ABI: x86_64 registers, 32-bit pointers (`AUDIT_ARCH_X86_64`, numbers with bit 30).
    X32,
    /// 64-bit ARM (`AUDIT_ARCH_AARCH64`).
    #[doc(alias = "arm64")]
    Aarch64,
    /// 32-bit ARM, EABI (`AUDIT_ARCH_ARM`).
    Arm,
    /// 64-bit RISC-V (`AUDIT_ARCH_RISCV64`).
    Riscv64,
    /// 64-bit little-endian POWER (`AUDIT_ARCH_PPC64LE`).
    Ppc64le,
    /// 64-bit IBM Z (`AUDIT_ARCH_S390X`), big-endian.
    S390x,
    /// 64-bit LoongArch (`AUDIT_ARCH_LOONGARCH64`).
    Loongarch64,
}

// AUDIT_ARCH_* = EM_* | __AUDIT_ARCH_64BIT (0x8000_0000) | __AUDIT_ARCH_LE (0x4000_0000)
// (include/uapi/linux/audit.h, include/uapi/linux/elf-em.h).
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
const AUDIT_ARCH_RISCV64: u32 = 0xc000_00f3;
const AUDIT_ARCH_PPC64LE: u32 = 0xc000_0015;
const AUDIT_ARCH_S390X: u32 = 0x8000_0016;
const AUDIT_ARCH_LOONGARCH64: u32 = 0xc000_0102;

/// `__X32_SYSCALL_BIT` (arch/x86/include/uapi/asm/unistd.h).
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

impl Arch {
    /// Every ABI moat knows, in a fixed order.
    pub const ALL: [Arch; 9] = [
        Arch::X86_64,
        Arch::X86,
        Arch::X32,
        Arch::Aarch64,
        Arch::Arm,
        Arch::Riscv64,
        Arch::Ppc64le,
        Arch::S390x,
        Arch::Loongarch64,
    ];

    /// The canonical name: "x86_64", "x86", "x32", "aarch64", "arm", "riscv64", "ppc64le",
    /// "s390x", "loongarch64".
    pub const fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::X86 => "x86",
            Arch::X32 => "x32",
            Arch::Aarch64 => "aarch64",
            Arch::Arm => "arm",
            Arch::Riscv64 => "riscv64",
            Arch::Ppc64le => "ppc64le",
            Arch::S390x => "s390x",
            Arch::Loongarch64 => "loongarch64",
        }
    }

    /// The `AUDIT_ARCH_*` value the kernel puts in `seccomp_data.arch`.
    ///
    /// x32 returns `AUDIT_ARCH_X86_64`: the kernel does not distinguish the two by `arch`,
    /// only by bit 30 of the syscall number.
    #[doc(alias = "AUDIT_ARCH_X86_64")]
    pub const fn audit_arch(self) -> u32 {
        match self {
            Arch::X86_64 | Arch::X32 => AUDIT_ARCH_X86_64,
            Arch::X86 => AUDIT_ARCH_I386,
            Arch::Aarch64 => AUDIT_ARCH_AARCH64,
            Arch::Arm => AUDIT_ARCH_ARM,
            Arch::Riscv64 => AUDIT_ARCH_RISCV64,
            Arch::Ppc64le => AUDIT_ARCH_PPC64LE,
            Arch::S390x => AUDIT_ARCH_S390X,
            Arch::Loongarch64 => AUDIT_ARCH_LOONGARCH64,
        }
    }

    /// The bias included in every syscall number of this ABI: `__X32_SYSCALL_BIT`
    /// (0x4000_0000) for x32, 0 elsewhere.
    #[doc(alias = "__X32_SYSCALL_BIT")]
    pub const fn nr_bias(self) -> u32 {
        match self {
            Arch::X32 => X32_SYSCALL_BIT,
            _ => 0,
        }
    }

    /// True for the 32-bit ABIs (x86, arm) whose syscall arguments are all 32 bits wide.
    ///
    /// The kernel zero-extends them into the 64-bit `seccomp_data.args`, so only the low
    /// word carries information.
    pub const fn is_compat32(self) -> bool {
        matches!(self, Arch::X86 | Arch::Arm)
    }

    /// The ABI this program was compiled for.
    ///
    /// On a target moat has no tables for, this returns [`Arch::X86_64`].
    pub fn native() -> Arch {
        if cfg!(all(target_arch = "x86_64", target_pointer_width = "32")) {
            Arch::X32
        } else if cfg!(target_arch = "x86") {
            Arch::X86
        } else if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else if cfg!(target_arch = "arm") {
            Arch::Arm
        } else if cfg!(target_arch = "riscv64") {
            Arch::Riscv64
        } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
            Arch::Ppc64le
        } else if cfg!(target_arch = "s390x") {
            Arch::S390x
        } else if cfg!(target_arch = "loongarch64") {
            Arch::Loongarch64
        } else {
            Arch::X86_64
        }
    }

    /// The ABI a (`seccomp_data.arch`, `seccomp_data.nr`) pair belongs to: X32 when the
    /// audit arch is x86_64 and the number has bit 30 set.
    pub fn of(audit_arch: u32, nr: u32) -> Option<Arch> {
        match audit_arch {
            AUDIT_ARCH_X86_64 if nr & X32_SYSCALL_BIT != 0 => Some(Arch::X32),
            AUDIT_ARCH_X86_64 => Some(Arch::X86_64),
            AUDIT_ARCH_I386 => Some(Arch::X86),
            AUDIT_ARCH_AARCH64 => Some(Arch::Aarch64),
            AUDIT_ARCH_ARM => Some(Arch::Arm),
            AUDIT_ARCH_RISCV64 => Some(Arch::Riscv64),
            AUDIT_ARCH_PPC64LE => Some(Arch::Ppc64le),
            AUDIT_ARCH_S390X => Some(Arch::S390x),
            AUDIT_ARCH_LOONGARCH64 => Some(Arch::Loongarch64),
            _ => None,
        }
    }

    fn tables(self) -> (&'static [Syscall], &'static [u16]) {
        use generated as g;
        match self {
            Arch::X86_64 => (g::X86_64, g::X86_64_BY_NAME),
            Arch::X86 => (g::X86, g::X86_BY_NAME),
            Arch::X32 => (g::X32, g::X32_BY_NAME),
            Arch::Aarch64 => (g::AARCH64, g::AARCH64_BY_NAME),
            Arch::Arm => (g::ARM, g::ARM_BY_NAME),
            Arch::Riscv64 => (g::RISCV64, g::RISCV64_BY_NAME),
            Arch::Ppc64le => (g::PPC64LE, g::PPC64LE_BY_NAME),
            Arch::S390x => (g::S390X, g::S390X_BY_NAME),
            Arch::Loongarch64 => (g::LOONGARCH64, g::LOONGARCH64_BY_NAME),
        }
    }

    /// Every syscall of this ABI, sorted by number. Numbers include [`Arch::nr_bias`].
    pub fn syscalls(self) -> &'static [Syscall] {
        self.tables().0
    }

    /// The syscall called `name` on this ABI (binary search over a generated name index).
    pub fn by_name(self, name: &str) -> Option<&'static Syscall> {
        let (table, by_name) = self.tables();
        let pos = by_name
            .binary_search_by(|&i| table[usize::from(i)].name.cmp(name))
            .ok()?;
        table.get(usize::from(by_name[pos]))
    }

    /// The syscall with number `nr` on this ABI; x32 numbers include the 0x4000_0000 bit.
    pub fn by_nr(self, nr: u32) -> Option<&'static Syscall> {
        let table = self.syscalls();
        table
            .binary_search_by(|s| s.nr.cmp(&nr))
            .ok()
            .and_then(|i| table.get(i))
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An ABI name that [`Arch::from_str`] does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown architecture `{name}`{}", suggestion_text(.suggestion))]
pub struct UnknownArch {
    /// The name as given.
    pub name: String,
    /// The closest known ABI name, if any is close.
    pub suggestion: Option<&'static str>,
}

fn suggestion_text(s: &Option<&'static str>) -> String {
    match s {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => format!(" (known: {})", Arch::ALL.map(Arch::name).join(", ")),
    }
}

/// Accepted spellings (lowercase) besides [`Arch::name`]: distribution, compiler and
/// libseccomp (`SCMP_ARCH_*`) names.
const ALIASES: &[(&str, Arch)] = &[
    ("amd64", Arch::X86_64),
    ("x86-64", Arch::X86_64),
    ("x64", Arch::X86_64),
    ("scmp_arch_x86_64", Arch::X86_64),
    ("i386", Arch::X86),
    ("i486", Arch::X86),
    ("i586", Arch::X86),
    ("i686", Arch::X86),
    ("ia32", Arch::X86),
    ("386", Arch::X86),
    ("scmp_arch_x86", Arch::X86),
    ("scmp_arch_x32", Arch::X32),
    ("arm64", Arch::Aarch64),
    ("scmp_arch_aarch64", Arch::Aarch64),
    ("armhf", Arch::Arm),
    ("armel", Arch::Arm),
    ("armv7", Arch::Arm),
    ("eabi", Arch::Arm),
    ("scmp_arch_arm", Arch::Arm),
    ("riscv", Arch::Riscv64),
    ("scmp_arch_riscv64", Arch::Riscv64),
    ("powerpc64le", Arch::Ppc64le),
    ("ppc64el", Arch::Ppc64le),
    ("scmp_arch_ppc64le", Arch::Ppc64le),
    ("s390x", Arch::S390x),
    ("scmp_arch_s390x", Arch::S390x),
    ("loong64", Arch::Loongarch64),
    ("loongarch", Arch::Loongarch64),
    ("scmp_arch_loongarch64", Arch::Loongarch64),
];

impl FromStr for Arch {
    type Err = UnknownArch;

    /// Parses [`Arch::name`] or an alias (amd64, i386, i686, ia32, arm64, armhf, powerpc64le,
    /// ppc64el, loong64, `SCMP_ARCH_*`), ignoring ASCII case.
    fn from_str(s: &str) -> Result<Arch, UnknownArch> {
        let lower = s.trim().to_ascii_lowercase();
        if let Some(arch) = Arch::ALL.into_iter().find(|a| a.name() == lower) {
            return Ok(arch);
        }
        if let Some((_, arch)) = ALIASES.iter().find(|(alias, _)| *alias == lower) {
            return Ok(*arch);
        }
        let candidates = Arch::ALL
            .iter()
            .map(|a| a.name())
            .chain(ALIASES.iter().map(|(alias, _)| *alias));
        let suggestion = crate::closest(&lower, candidates).map(|c| {
            ALIASES
                .iter()
                .find(|(alias, _)| *alias == c)
                .map_or(c, |(_, a)| a.name())
        });
        Err(UnknownArch {
            name: s.to_owned(),
            suggestion,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for arch in Arch::ALL {
            assert_eq!(arch.name().parse::<Arch>(), Ok(arch));
            assert_eq!(arch.to_string(), arch.name());
        }
    }

    #[test]
    fn aliases_parse() {
        for (s, arch) in [
            ("amd64", Arch::X86_64),
            ("i386", Arch::X86),
            ("i686", Arch::X86),
            ("ia32", Arch::X86),
            ("arm64", Arch::Aarch64),
            ("armhf", Arch::Arm),
            ("powerpc64le", Arch::Ppc64le),
            ("ppc64el", Arch::Ppc64le),
            ("loong64", Arch::Loongarch64),
            ("SCMP_ARCH_X86_64", Arch::X86_64),
            ("SCMP_ARCH_X32", Arch::X32),
            ("SCMP_ARCH_AARCH64", Arch::Aarch64),
            ("SCMP_ARCH_PPC64LE", Arch::Ppc64le),
            ("SCMP_ARCH_LOONGARCH64", Arch::Loongarch64),
        ] {
            assert_eq!(s.parse::<Arch>(), Ok(arch), "{s}");
        }
    }

    #[test]
    fn unknown_arch_suggests() {
        let err = "aarch46".parse::<Arch>().unwrap_err();
        assert_eq!(err.suggestion, Some("aarch64"));
        assert_eq!(
            err.to_string(),
            "unknown architecture `aarch46` (did you mean `aarch64`?)"
        );
        let err = "vax".parse::<Arch>().unwrap_err();
        assert!(err.to_string().starts_with("unknown architecture `vax`"));
    }

    #[test]
    fn audit_arch_values() {
        // include/uapi/linux/audit.h
        assert_eq!(Arch::X86_64.audit_arch(), 0xc000_003e);
        assert_eq!(Arch::X32.audit_arch(), 0xc000_003e);
        assert_eq!(Arch::X86.audit_arch(), 0x4000_0003);
        assert_eq!(Arch::Aarch64.audit_arch(), 0xc000_00b7);
        assert_eq!(Arch::Arm.audit_arch(), 0x4000_0028);
        assert_eq!(Arch::Riscv64.audit_arch(), 0xc000_00f3);
        assert_eq!(Arch::Ppc64le.audit_arch(), 0xc000_0015);
        assert_eq!(Arch::S390x.audit_arch(), 0x8000_0016);
        assert_eq!(Arch::Loongarch64.audit_arch(), 0xc000_0102);
    }

    #[test]
    fn of_inverts_audit_arch_and_bias() {
        for arch in Arch::ALL {
            let nr = arch.syscalls()[0].nr;
            assert_eq!(Arch::of(arch.audit_arch(), nr), Some(arch));
        }
        assert_eq!(Arch::of(0xc000_003e, 0x4000_0027), Some(Arch::X32));
        assert_eq!(Arch::of(0xc000_003e, 39), Some(Arch::X86_64));
        assert_eq!(Arch::of(0x1234, 0), None);
    }

    #[test]
    fn bias_and_compat() {
        assert_eq!(Arch::X32.nr_bias(), 0x4000_0000);
        assert!(
            Arch::ALL
                .iter()
                .filter(|a| a.nr_bias() != 0)
                .eq([Arch::X32].iter())
        );
        let compat: Vec<Arch> = Arch::ALL.into_iter().filter(|a| a.is_compat32()).collect();
        assert_eq!(compat, [Arch::X86, Arch::Arm]);
    }

    #[test]
    fn native_matches_target() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(Arch::native(), Arch::X86_64);
        #[cfg(target_arch = "aarch64")]
        assert_eq!(Arch::native(), Arch::Aarch64);
    }
}
