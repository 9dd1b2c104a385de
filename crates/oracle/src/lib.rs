//! Differential oracle: what libseccomp (and Docker + runc on top of it) makes of a filter.
//!
//! This crate exists only for moat's differential tests and benchmarks. It is never a
//! dependency of a product crate: moat compiles its own filters and links no C library. Here the
//! system libseccomp (Debian 12 ships 2.5.4) compiles a small, moat-independent filter
//! description ([`Filter`]) into the raw BPF bytes that libseccomp exports, so tests can compare
//! moat's output with libseccomp's — instruction by instruction, through an emulator, or by
//! installing both in forked children — and benchmarks can race the two.
//!
//! It does four things:
//! - [`compile`] turns a [`Filter`] into libseccomp's BPF ([`Compiled`]), skipping what runc
//!   skips (syscall names libseccomp cannot resolve, rules whose action equals the default) and
//!   reporting what it skipped; [`pfc`] prints libseccomp's readable pseudo filter code;
//! - [`docker_profile`] translates a Docker/moby seccomp JSON profile into a [`Filter`] the way
//!   moby's `profiles/seccomp` setup and runc's `libcontainer/seccomp` apply it for one native
//!   architecture, capability set and kernel version ([`docker_default`] for Docker's default);
//! - [`runc_stub`] and [`compile_runc`] add the `-ENOSYS` stub runc's `patchbpf` prepends, so
//!   tests can compare with what a runc container really runs under ([`docker_to_oci`] gives the
//!   OCI `linux.seccomp` section to hand runc);
//! - [`resolve`], [`name_of`] and [`version`] expose libseccomp's syscall tables so tests can
//!   compare them with moat's.
//!
//! It does not emulate BPF (moat-bpf does) and does not install filters; its own tests install
//! them in forked children only.
//!
//! # libseccomp 2.5.4 behaviour worth knowing
//! - Syscall names are resolved with the host's native table and then translated by name to
//!   every architecture of the filter; a name libseccomp does not know on any architecture is
//!   skipped (reported in [`Compiled::skipped`]); a name that exists only on some architectures is
//!   silently left out of the others (see [`Compiled::unresolved`]). libseccomp 2.5.4 knows
//!   syscalls up to number 456 on x86_64 (`futex_requeue`); newer ones (`mseal`, `listmount`,
//!   `statmount`, `lsm_*`, …) are skipped.
//! - Argument comparisons on 64-bit ABIs (x86_64, x32, aarch64, …) compare the full 64-bit value:
//!   the generated code checks the high word and the low word of `seccomp_data.args[i]`
//!   separately, so `personality(0xffffffff)` matches `arg0 == 0xffffffff` but
//!   `personality(0x1_ffffffff)` does not, although the kernel only reads the low 32 bits of
//!   `personality`'s `unsigned int`. libseccomp knows no argument widths.
//! - On 32-bit ABIs (x86, arm) only the low word is loaded and compared, and libseccomp silently
//!   truncates the rule's value and mask to their low 32 bits: `arg0 == 0x1_0000_0005` becomes
//!   `arg0 == 5` there (the kernel zero-extends compat arguments, so the rule as written could
//!   never match; libseccomp's version matches 5).
//! - `Op::MaskedEq { mask }` with `value` compares `arg & mask` with `value & mask`, not with
//!   `value`: a value with bits outside the mask still matches (`(arg & 0xff) == 0x105` behaves
//!   like `(arg & 0xff) == 5`).
//! - A rule may compare each argument index at most once: two conditions on the same index are
//!   refused (`EINVAL`), which is why runc splits such Docker entries into one rule per
//!   condition (see [`docker_profile`]).
//! - A 64-bit ABI filter that does not list x32 sends x32 numbers (bit 30 set) to the
//!   bad-architecture action, except `nr == -1`, which is allowed.
//! - A rule whose action equals the default action is refused by libseccomp; [`compile`] skips it
//!   the way runc does and reports it in [`Compiled::redundant`].
//! - With [`Layout::BinaryTree`] and zero rules libseccomp 2.5.4 misbehaves (runc only turns the
//!   binary tree on above 32 syscalls); [`compile`] returns libseccomp's output unchanged.
//! - `SCMP_ACT_TRAP` carries no data in libseccomp, so [`Action::Trap`] has none either.

#![deny(missing_docs)]

use std::collections::BTreeSet;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, anyhow, bail};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
    ScmpVersion,
};
use serde::{Deserialize, Serialize};

/// A syscall ABI the oracle can compile for.
///
/// `name()` uses moat's spellings, so `moat_syscalls::Arch::name()` parses back with
/// [`FromStr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    /// x86-64 (`SCMP_ARCH_X86_64`, Docker `amd64`).
    X86_64,
    /// i386 (`SCMP_ARCH_X86`, Docker `x86`).
    X86,
    /// x32 (`SCMP_ARCH_X32`, Docker `x32`).
    X32,
    /// AArch64 (`SCMP_ARCH_AARCH64`, Docker `arm64`).
    Aarch64,
    /// 32-bit ARM EABI (`SCMP_ARCH_ARM`, Docker `arm`).
    Arm,
    /// RISC-V 64 (`SCMP_ARCH_RISCV64`, Docker `riscv64`).
    Riscv64,
    /// PowerPC 64 little-endian (`SCMP_ARCH_PPC64LE`, Docker `ppc64le`).
    Ppc64le,
    /// s390x (`SCMP_ARCH_S390X`, Docker `s390x`).
    S390x,
    /// LoongArch 64 (`SCMP_ARCH_LOONGARCH64`, Docker `loong64`); libseccomp 2.5.4 does not support
    /// it, so [`compile`] fails for it.
    Loongarch64,
}

impl Arch {
    /// Every architecture, in declaration order.
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

    /// moat's name: `x86_64`, `x86`, `x32`, `aarch64`, `arm`, `riscv64`, `ppc64le`, `s390x`,
    /// `loongarch64`.
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

    /// The name Docker/moby uses for this architecture in `includes.arches` / `excludes.arches`
    /// (`runtime.GOARCH` mapped through moby's `goToNative`): `amd64`, `x86`, `x32`, `arm64`,
    /// `arm`, `riscv64`, `ppc64le`, `s390x`, `loong64`.
    pub const fn docker_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::X86 => "x86",
            Arch::X32 => "x32",
            Arch::Aarch64 => "arm64",
            Arch::Arm => "arm",
            Arch::Riscv64 => "riscv64",
            Arch::Ppc64le => "ppc64le",
            Arch::S390x => "s390x",
            Arch::Loongarch64 => "loong64",
        }
    }

    /// The libseccomp / OCI token: `SCMP_ARCH_X86_64`, ….
    pub const fn scmp_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "SCMP_ARCH_X86_64",
            Arch::X86 => "SCMP_ARCH_X86",
            Arch::X32 => "SCMP_ARCH_X32",
            Arch::Aarch64 => "SCMP_ARCH_AARCH64",
            Arch::Arm => "SCMP_ARCH_ARM",
            Arch::Riscv64 => "SCMP_ARCH_RISCV64",
            Arch::Ppc64le => "SCMP_ARCH_PPC64LE",
            Arch::S390x => "SCMP_ARCH_S390X",
            Arch::Loongarch64 => "SCMP_ARCH_LOONGARCH64",
        }
    }

    /// The `AUDIT_ARCH_*` value the kernel puts in `seccomp_data.arch` (x32 shares x86-64's).
    pub const fn audit_arch(self) -> u32 {
        match self {
            Arch::X86_64 | Arch::X32 => 0xC000_003E,
            Arch::X86 => 0x4000_0003,
            Arch::Aarch64 => 0xC000_00B7,
            Arch::Arm => 0x4000_0028,
            Arch::Riscv64 => 0xC000_00F3,
            Arch::Ppc64le => 0xC000_0015,
            Arch::S390x => 0x8000_0016,
            Arch::Loongarch64 => 0xC000_0102,
        }
    }

    /// The architecture this crate was compiled for, if it is one of the nine.
    pub fn native() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "x86") {
            Some(Arch::X86)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else if cfg!(target_arch = "arm") {
            Some(Arch::Arm)
        } else if cfg!(target_arch = "riscv64") {
            Some(Arch::Riscv64)
        } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
            Some(Arch::Ppc64le)
        } else if cfg!(target_arch = "s390x") {
            Some(Arch::S390x)
        } else if cfg!(target_arch = "loongarch64") {
            Some(Arch::Loongarch64)
        } else {
            None
        }
    }

    fn scmp(self) -> ScmpArch {
        match self {
            Arch::X86_64 => ScmpArch::X8664,
            Arch::X86 => ScmpArch::X86,
            Arch::X32 => ScmpArch::X32,
            Arch::Aarch64 => ScmpArch::Aarch64,
            Arch::Arm => ScmpArch::Arm,
            Arch::Riscv64 => ScmpArch::Riscv64,
            Arch::Ppc64le => ScmpArch::Ppc64Le,
            Arch::S390x => ScmpArch::S390X,
            Arch::Loongarch64 => ScmpArch::Loongarch64,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = anyhow::Error;

    /// Accepts [`Arch::name`], [`Arch::docker_name`], [`Arch::scmp_name`] and the aliases
    /// `amd64`, `i386`, `i686`, `arm64`, `armhf`, `ppc64el`, `powerpc64le`, `loong64`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let found = Arch::ALL
            .into_iter()
            .find(|a| s == a.name() || s == a.docker_name() || s == a.scmp_name());
        if let Some(a) = found {
            return Ok(a);
        }
        match s {
            "i386" | "i686" => Ok(Arch::X86),
            "armhf" => Ok(Arch::Arm),
            "ppc64el" | "powerpc64le" => Ok(Arch::Ppc64le),
            _ => bail!("unknown architecture `{s}`"),
        }
    }
}

/// What a filter does with a syscall (`SCMP_ACT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `SCMP_ACT_ALLOW`.
    Allow,
    /// `SCMP_ACT_ERRNO(n)`: fail with errno `n`.
    Errno(u16),
    /// `SCMP_ACT_KILL_PROCESS`.
    KillProcess,
    /// `SCMP_ACT_KILL_THREAD` (also what Docker's `SCMP_ACT_KILL` means).
    KillThread,
    /// `SCMP_ACT_TRAP` (libseccomp sets no data).
    Trap,
    /// `SCMP_ACT_LOG`.
    Log,
    /// `SCMP_ACT_TRACE(n)`.
    Trace(u16),
    /// `SCMP_ACT_NOTIFY`.
    Notify,
}

impl Action {
    /// The `SECCOMP_RET_*` value the kernel sees for this action.
    pub const fn to_ret(self) -> u32 {
        match self {
            Action::Allow => 0x7fff_0000,
            Action::Errno(n) => 0x0005_0000 | n as u32,
            Action::KillProcess => 0x8000_0000,
            Action::KillThread => 0,
            Action::Trap => 0x0003_0000,
            Action::Log => 0x7ffc_0000,
            Action::Trace(n) => 0x7ff0_0000 | n as u32,
            Action::Notify => 0x7fc0_0000,
        }
    }

    /// This action in moat's policy language (`allow`, `errno 1`, `kill`, ...).
    pub fn moat_text(self) -> String {
        match self {
            Action::Allow => "allow".into(),
            Action::Errno(n) => format!("errno {n}"),
            Action::KillProcess => "kill".into(),
            Action::KillThread => "kill-thread".into(),
            Action::Trap => "trap".into(),
            Action::Log => "log".into(),
            Action::Trace(n) => format!("trace {n}"),
            Action::Notify => "notify".into(),
        }
    }

    fn scmp(self) -> ScmpAction {
        match self {
            Action::Allow => ScmpAction::Allow,
            Action::Errno(n) => ScmpAction::Errno(i32::from(n)),
            Action::KillProcess => ScmpAction::KillProcess,
            Action::KillThread => ScmpAction::KillThread,
            Action::Trap => ScmpAction::Trap,
            Action::Log => ScmpAction::Log,
            Action::Trace(n) => ScmpAction::Trace(n),
            Action::Notify => ScmpAction::Notify,
        }
    }
}

/// A comparison operator (`SCMP_CMP_*`), unsigned, on the full 64-bit argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `SCMP_CMP_NE`: `arg != value`.
    Ne,
    /// `SCMP_CMP_LT`: `arg < value`.
    Lt,
    /// `SCMP_CMP_LE`: `arg <= value`.
    Le,
    /// `SCMP_CMP_EQ`: `arg == value`.
    Eq,
    /// `SCMP_CMP_GE`: `arg >= value`.
    Ge,
    /// `SCMP_CMP_GT`: `arg > value`.
    Gt,
    /// `SCMP_CMP_MASKED_EQ`: `arg & mask == value`.
    MaskedEq {
        /// The mask applied to the argument before comparing.
        mask: u64,
    },
}

/// One argument condition: `args[index] <op> value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArgCmp {
    /// Argument index, 0..=5.
    pub index: u8,
    /// The comparison.
    pub op: Op,
    /// The value compared against (for [`Op::MaskedEq`], the expected masked value).
    pub value: u64,
}

/// One rule: when `syscall` is called and every condition in `args` holds, take `action`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Syscall name as libseccomp spells it.
    pub syscall: String,
    /// What to do on a match.
    pub action: Action,
    /// Conditions, ANDed (libseccomp allows one condition per argument index in a rule).
    pub args: Vec<ArgCmp>,
}

/// libseccomp's code layout (`SCMP_FLTATR_CTL_OPTIMIZE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Layout {
    /// Level 1: syscalls checked one after another, ordered by priority.
    #[default]
    Default,
    /// Level 2: a binary tree over syscall numbers (what runc selects for profiles with more
    /// than 32 syscall entries).
    BinaryTree,
}

/// A filter description independent of moat's own types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    /// Action for syscalls no rule matches.
    pub default: Action,
    /// Action for architectures not in `arches` (`SCMP_FLTATR_ACT_BADARCH`).
    pub bad_arch: Action,
    /// Accepted ABIs, in the order libseccomp should check them; empty means the host's native
    /// ABI only.
    pub arches: Vec<Arch>,
    /// Rules, added to libseccomp in this order.
    pub rules: Vec<Rule>,
    /// Code layout.
    pub optimize: Layout,
}

impl Filter {
    /// The moat policy text meaning what this filter means to libseccomp: same arches, default,
    /// badarch and rules (conditions ANDed; `MaskedEq` as `arg & mask == value & mask`). Rules
    /// whose syscall libseccomp skipped (`skipped`: names it does not know) and rules equal to
    /// the default are left out. Rule order is kept; for filters that give every syscall one
    /// action, moat's "last rule wins" and libseccomp's "any rule matches" agree.
    pub fn to_moat_text(&self, skipped: &[String]) -> String {
        let mut s = String::new();
        let arches: Vec<&str> = self.arches.iter().map(|a| a.name()).collect();
        s.push_str(&format!("arch {}\n", arches.join(" ")));
        s.push_str(&format!("default {}\n", self.default.moat_text()));
        s.push_str(&format!("unknown {}\n", self.default.moat_text()));
        s.push_str(&format!("badarch {}\n", self.bad_arch.moat_text()));
        for r in &self.rules {
            if skipped.contains(&r.syscall) || r.action == self.default {
                continue;
            }
            let mut line = format!("{} {}", r.action.moat_text(), r.syscall);
            let conds: Vec<String> = r
                .args
                .iter()
                .map(|c| {
                    let a = format!("arg{}", c.index);
                    match c.op {
                        Op::Ne => format!("{a} != {:#x}", c.value),
                        Op::Lt => format!("{a} < {:#x}", c.value),
                        Op::Le => format!("{a} <= {:#x}", c.value),
                        Op::Eq => format!("{a} == {:#x}", c.value),
                        Op::Ge => format!("{a} >= {:#x}", c.value),
                        Op::Gt => format!("{a} > {:#x}", c.value),
                        Op::MaskedEq { mask } => {
                            format!("{a} & {mask:#x} == {:#x}", c.value & mask)
                        }
                    }
                })
                .collect();
            if !conds.is_empty() {
                line.push_str(" if ");
                line.push_str(&conds.join(" and "));
            }
            s.push_str(&line);
            s.push('\n');
        }
        s
    }
}

/// libseccomp's output for a [`Filter`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compiled {
    /// The BPF program as `seccomp_export_bpf` writes it: 8 bytes per instruction
    /// (`struct sock_filter` in host byte order: code u16, jt u8, jf u8, k u32).
    pub bytes: Vec<u8>,
    /// Syscall names libseccomp could not resolve on any architecture; their rules were skipped,
    /// as runc skips them. Unique, in first-seen order.
    pub skipped: Vec<String>,
    /// Syscall names of rules skipped because their action equals the default action (runc skips
    /// them; libseccomp would refuse them). Unique, in first-seen order.
    pub redundant: Vec<String>,
    /// `(arch, name)` pairs of rules libseccomp knows on some architecture, where
    /// `seccomp_syscall_resolve_name_arch` has no number on this one. Usually the rule then has
    /// no effect there, with one exception: on x86 libseccomp resolves the socket and SysV IPC
    /// calls (`socket`, `accept`, `semget`, …) to pseudo numbers and rewrites their rules into
    /// `socketcall`/`ipc` sub-call checks (and, for socket calls the kernel also has as direct
    /// syscalls, the direct number, e.g. `socket` = 359). Unique, sorted.
    pub unresolved: Vec<(Arch, String)>,
}

impl Compiled {
    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.bytes.len() / 8
    }

    /// True when the program has no instructions (libseccomp never produces that).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The instructions decoded as `(code, jt, jf, k)`.
    pub fn insns(&self) -> Vec<(u16, u8, u8, u32)> {
        self.bytes
            .chunks_exact(8)
            .map(|c| {
                (
                    u16::from_ne_bytes([c[0], c[1]]),
                    c[2],
                    c[3],
                    u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
                )
            })
            .collect()
    }
}

fn push_unique(list: &mut Vec<String>, name: &str) {
    if !list.iter().any(|n| n == name) {
        list.push(name.to_owned());
    }
}

/// Compiles `f` with libseccomp and returns the exported BPF.
///
/// Arches are added in order (the host's native ABI is removed when `f.arches` is non-empty and
/// does not list it), then rules in order, like runc: a rule whose action equals the default is
/// skipped ([`Compiled::redundant`]), a name libseccomp cannot resolve is skipped
/// ([`Compiled::skipped`]). Any other libseccomp refusal is an error naming the rule.
pub fn compile(f: &Filter) -> anyhow::Result<Compiled> {
    let (ctx, mut out) = build(f)?;
    out.bytes = export_with(|file| ctx.export_bpf(file).context("seccomp_export_bpf failed"))?;
    if out.bytes.is_empty() || out.bytes.len() % 8 != 0 {
        bail!(
            "seccomp_export_bpf wrote {} bytes, not a whole number of instructions",
            out.bytes.len()
        );
    }
    Ok(out)
}

/// Builds the libseccomp context for `f`; `Compiled::bytes` is left empty.
fn build(f: &Filter) -> anyhow::Result<(ScmpFilterContext, Compiled)> {
    let default = f.default.scmp();
    let mut ctx = ScmpFilterContext::new(default).context("seccomp_init failed")?;
    ctx.set_act_badarch(f.bad_arch.scmp())
        .context("cannot set the bad-architecture action")?;

    let native = ScmpArch::native();
    let mut arches: Vec<Arch> = Vec::new();
    for a in &f.arches {
        if !arches.contains(a) {
            arches.push(*a);
        }
    }
    for a in &arches {
        if !ctx
            .is_arch_present(a.scmp())
            .with_context(|| format!("cannot query architecture {a}"))?
        {
            ctx.add_arch(a.scmp())
                .with_context(|| format!("libseccomp {} cannot add architecture {a}", ver()))?;
        }
    }
    if !arches.is_empty() && !arches.iter().any(|a| a.scmp() == native) {
        ctx.remove_arch(native)
            .context("cannot remove the native architecture")?;
    }
    if f.optimize == Layout::BinaryTree {
        ctx.set_ctl_optimize(2)
            .context("cannot select the binary-tree layout")?;
    }

    let mut out = Compiled {
        bytes: Vec::new(),
        skipped: Vec::new(),
        redundant: Vec::new(),
        unresolved: Vec::new(),
    };
    let mut unresolved = BTreeSet::new();
    for rule in &f.rules {
        let action = rule.action.scmp();
        if action == default {
            push_unique(&mut out.redundant, &rule.syscall);
            continue;
        }
        let Ok(sys) = ScmpSyscall::from_name(&rule.syscall) else {
            push_unique(&mut out.skipped, &rule.syscall);
            continue;
        };
        for a in &arches {
            if resolve(*a, &rule.syscall).is_none() {
                unresolved.insert((*a, rule.syscall.clone()));
            }
        }
        let mut cmps = Vec::with_capacity(rule.args.len());
        for c in &rule.args {
            if c.index > 5 {
                bail!(
                    "rule for `{}` compares argument {}, but syscalls have 6 (0..=5)",
                    rule.syscall,
                    c.index
                );
            }
            let op = match c.op {
                Op::Ne => ScmpCompareOp::NotEqual,
                Op::Lt => ScmpCompareOp::Less,
                Op::Le => ScmpCompareOp::LessOrEqual,
                Op::Eq => ScmpCompareOp::Equal,
                Op::Ge => ScmpCompareOp::GreaterEqual,
                Op::Gt => ScmpCompareOp::Greater,
                Op::MaskedEq { mask } => ScmpCompareOp::MaskedEqual(mask),
            };
            cmps.push(ScmpArgCompare::new(u32::from(c.index), op, c.value));
        }
        ctx.add_rule_conditional(action, sys, &cmps)
            .with_context(|| {
                format!(
                    "libseccomp refused rule `{}` -> {:?} with {:?}",
                    rule.syscall, rule.action, rule.args
                )
            })?;
    }
    out.unresolved = unresolved.into_iter().collect();
    Ok((ctx, out))
}

/// libseccomp's pseudo filter code (`seccomp_export_pfc`) for `f`: a readable listing of the
/// same decision tree, useful when a differential test fails. Rules are skipped as in
/// [`compile`].
pub fn pfc(f: &Filter) -> anyhow::Result<String> {
    let (ctx, _) = build(f)?;
    let bytes = export_with(|file| ctx.export_pfc(file).context("seccomp_export_pfc failed"))?;
    String::from_utf8(bytes).context("seccomp_export_pfc wrote invalid UTF-8")
}

fn ver() -> String {
    let (a, b, c) = version();
    format!("{a}.{b}.{c}")
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Exports through an unlinked temporary file: libseccomp 2.5 has no `seccomp_export_bpf_mem`.
fn export_with(write: impl FnOnce(&File) -> anyhow::Result<()>) -> anyhow::Result<Vec<u8>> {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "moat-oracle-{}-{n}-{}.bpf",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let mut file: File = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    // Unlink at once: the open descriptor keeps the data, nothing is left behind on error.
    std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    write(&file)?;
    file.seek(SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// libseccomp's number for `name` on `arch` (x32 numbers include the 0x4000_0000 bias), or
/// `None` when libseccomp does not know the name there.
pub fn resolve(arch: Arch, name: &str) -> Option<u32> {
    let sys = ScmpSyscall::from_name_by_arch(name, arch.scmp()).ok()?;
    u32::try_from(i32::from(sys)).ok()
}

/// libseccomp's name for syscall `nr` on `arch`, if it knows one.
pub fn name_of(arch: Arch, nr: u32) -> Option<String> {
    let nr = i32::try_from(nr).ok()?;
    ScmpSyscall::from(nr).get_name_by_arch(arch.scmp()).ok()
}

/// The linked libseccomp's version `(major, minor, micro)`; `(0, 0, 0)` if it cannot say.
pub fn version() -> (u32, u32, u32) {
    ScmpVersion::current()
        .map(|v| (v.major, v.minor, v.micro))
        .unwrap_or((0, 0, 0))
}

// ---------------------------------------------------------------------------------------------
// runc's -ENOSYS stub
// ---------------------------------------------------------------------------------------------

/// A jump target in [`Asm`]: the next instruction or a label.
#[derive(Clone, Copy)]
enum Target {
    Next,
    Label(usize),
}

/// A tiny assembler whose jumps go to labels, resolved in [`Asm::finish`] only.
#[derive(Default)]
struct Asm {
    insns: Vec<(u16, Target, Target, u32)>,
    labels: Vec<Option<usize>>,
}

const LD_W_ABS: u16 = 0x20;
const JA: u16 = 0x05;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

impl Asm {
    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }
    fn bind(&mut self, l: usize) {
        self.labels[l] = Some(self.insns.len());
    }
    fn load(&mut self, offset: u32) {
        self.insns
            .push((LD_W_ABS, Target::Next, Target::Next, offset));
    }
    fn jump(&mut self, code: u16, k: u32, jt: Target, jf: Target) {
        self.insns.push((code, jt, jf, k));
    }
    fn goto(&mut self, l: usize) {
        self.insns.push((JA, Target::Label(l), Target::Next, 0));
    }
    fn ret(&mut self, k: u32) {
        self.insns.push((RET_K, Target::Next, Target::Next, k));
    }
    /// Resolves every label; a label may be bound just past the last instruction.
    fn finish(self) -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.insns.len() * 8);
        for (pc, (code, jt, jf, k)) in self.insns.iter().enumerate() {
            let offset = |t: Target| -> anyhow::Result<u32> {
                match t {
                    Target::Next => Ok(0),
                    Target::Label(l) => {
                        let at = self.labels[l].ok_or_else(|| anyhow!("unbound label {l}"))?;
                        at.checked_sub(pc + 1)
                            .and_then(|d| u32::try_from(d).ok())
                            .ok_or_else(|| anyhow!("backward jump at pc {pc}"))
                    }
                }
            };
            let (jt8, jf8, k) = if *code == JA {
                (0, 0, offset(*jt)?)
            } else {
                let short = |d: u32| {
                    u8::try_from(d).map_err(|_| anyhow!("jump of {d} at pc {pc} exceeds 255"))
                };
                (short(offset(*jt)?)?, short(offset(*jf)?)?, *k)
            };
            out.extend_from_slice(&code.to_ne_bytes());
            out.push(jt8);
            out.push(jf8);
            out.extend_from_slice(&k.to_ne_bytes());
        }
        Ok(out)
    }
}

/// runc's `-ENOSYS` stub for `f` (`libcontainer/seccomp/patchbpf`), as BPF bytes that fall
/// through to the instruction right after the stub, where libseccomp's program goes.
///
/// runc prepends it so that syscalls newer than the profile fail with `ENOSYS` (letting libc fall
/// back) instead of the default action. Its decisions, reproduced here:
/// - no stub (empty result) when the default action is Allow, Log or Trace;
/// - for every architecture in `f.arches` (none when it is empty), the largest number libseccomp
///   resolves on that architecture for any rule's name (whatever the rule's action) is the
///   limit; an architecture without any is left out;
/// - on a listed architecture, `nr > limit` returns `SCMP_ACT_ERRNO(ENOSYS)`; x86-64 and x32
///   share `AUDIT_ARCH_X86_64` and are told apart by bit 30 of `nr`; on s390x `nr == 0` (the
///   `setup` multiplexer) also returns `ENOSYS`; everything else runs libseccomp's program.
///
/// runc emits the architecture sections in Go map order (random); this stub orders them by
/// their position in `f.arches`, so the bytes differ from a given runc run but every decision is
/// the same.
pub fn runc_stub(f: &Filter) -> anyhow::Result<Vec<u8>> {
    if matches!(f.default, Action::Allow | Action::Log | Action::Trace(_)) {
        return Ok(Vec::new());
    }
    let limit = |a: Arch| -> Option<u32> {
        f.rules
            .iter()
            .filter_map(|r| resolve(a, &r.syscall))
            .max()
            .filter(|m| *m != 0)
    };
    // (audit arch, limit for nr without bit 30, limit for nr with bit 30, s390x)
    let mut groups: Vec<(u32, Option<u32>, Option<u32>, bool)> = Vec::new();
    for a in &f.arches {
        let Some(max) = limit(*a) else { continue };
        let audit = a.audit_arch();
        let idx = match groups.iter().position(|g| g.0 == audit) {
            Some(i) => i,
            None => {
                groups.push((audit, None, None, false));
                groups.len() - 1
            }
        };
        let g = &mut groups[idx];
        match a {
            Arch::X32 => g.2 = Some(max),
            Arch::S390x => {
                g.1 = Some(max);
                g.3 = true;
            }
            _ => g.1 = Some(max),
        }
    }

    const X32_BIT: u32 = 0x4000_0000;
    let enosys = Action::Errno(38).to_ret();
    let mut asm = Asm::default();
    let to_filter = asm.label();
    let to_enosys = asm.label();
    let sections: Vec<usize> = groups.iter().map(|_| asm.label()).collect();
    asm.load(4);
    for (g, l) in groups.iter().zip(&sections) {
        asm.jump(JEQ_K, g.0, Target::Label(*l), Target::Next);
    }
    asm.goto(to_filter);
    let is_x86_64 = |audit: u32| audit == Arch::X86_64.audit_arch();
    for (g, l) in groups.iter().zip(&sections) {
        asm.bind(*l);
        asm.load(0);
        if g.3 {
            asm.jump(JEQ_K, 0, Target::Label(to_enosys), Target::Next);
        }
        match (g.1, g.2) {
            (Some(max), Some(max32)) => {
                let x32 = asm.label();
                asm.jump(JSET_K, X32_BIT, Target::Label(x32), Target::Next);
                asm.jump(
                    JGT_K,
                    max,
                    Target::Label(to_enosys),
                    Target::Label(to_filter),
                );
                asm.bind(x32);
                asm.jump(
                    JGT_K,
                    max32,
                    Target::Label(to_enosys),
                    Target::Label(to_filter),
                );
            }
            (Some(max), None) => {
                if is_x86_64(g.0) {
                    asm.jump(JSET_K, X32_BIT, Target::Label(to_filter), Target::Next);
                }
                asm.jump(
                    JGT_K,
                    max,
                    Target::Label(to_enosys),
                    Target::Label(to_filter),
                );
            }
            (None, Some(max32)) => {
                asm.jump(JSET_K, X32_BIT, Target::Next, Target::Label(to_filter));
                asm.jump(
                    JGT_K,
                    max32,
                    Target::Label(to_enosys),
                    Target::Label(to_filter),
                );
            }
            (None, None) => asm.goto(to_filter),
        }
    }
    asm.bind(to_enosys);
    asm.ret(enosys);
    asm.bind(to_filter);
    asm.finish()
}

/// The program runc installs for `f`: [`runc_stub`] followed by [`compile`]'s program (whose
/// jumps are relative, so it needs no relocation). The skip lists are [`compile`]'s.
pub fn compile_runc(f: &Filter) -> anyhow::Result<Compiled> {
    let mut c = compile(f)?;
    let mut bytes = runc_stub(f)?;
    bytes.extend_from_slice(&c.bytes);
    if bytes.len() / 8 > 4096 {
        bail!(
            "the patched program has {} instructions, more than the kernel's 4096",
            bytes.len() / 8
        );
    }
    c.bytes = bytes;
    Ok(c)
}

// ---------------------------------------------------------------------------------------------
// Docker / moby profiles
// ---------------------------------------------------------------------------------------------

/// Docker's default capability set (moby `oci/caps.DefaultCapabilities`), with the `CAP_` prefix.
pub const DOCKER_DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Path of Docker's default profile fixture (`/work/shared/fixtures/docker-default.json`).
pub const DOCKER_DEFAULT_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/docker-default.json"
);

/// Docker's default profile (moby `profiles/seccomp/default.json`) read from the shared fixture.
///
/// # Panics
/// Panics when the fixture is missing: this is a test-only crate and the fixture is part of the
/// test environment.
#[allow(clippy::expect_used)]
pub fn docker_default_json() -> String {
    std::fs::read_to_string(DOCKER_DEFAULT_PATH)
        .expect("the shared fixture docker-default.json is readable")
}

/// Docker's default profile for `arch` with Docker's default capabilities and the running
/// kernel's version, translated by [`docker_profile`].
pub fn docker_default(arch: Arch) -> anyhow::Result<Filter> {
    docker_profile(&docker_default_json(), arch, DOCKER_DEFAULT_CAPS, None)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    #[serde(default)]
    default_action: String,
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
    #[serde(default)]
    arch_map: Option<Vec<ArchMapEntry>>,
    #[serde(default)]
    syscalls: Option<Vec<ProfileSyscall>>,
    #[serde(default)]
    flags: Option<serde_json::Value>,
    #[serde(default)]
    listener_path: Option<serde_json::Value>,
    #[serde(default)]
    listener_metadata: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMapEntry {
    architecture: String,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileSyscall {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    names: Option<Vec<String>>,
    action: String,
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<ProfileArg>>,
    #[serde(default)]
    includes: Option<Filterish>,
    #[serde(default)]
    excludes: Option<Filterish>,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct ProfileArg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filterish {
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// The OCI `linux.seccomp` section moby hands to the runtime.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OciSeccomp {
    default_action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_errno_ret: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    architectures: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flags: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    listener_path: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    listener_metadata: Option<serde_json::Value>,
    syscalls: Vec<OciSyscall>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OciSyscall {
    names: Vec<String>,
    action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errno_ret: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    args: Vec<ProfileArg>,
}

/// runc's `getAction`: `SCMP_ACT_KILL` is kill-thread; `errnoRet` defaults to EPERM for ERRNO and
/// TRACE.
fn docker_action(name: &str, errno_ret: Option<u32>) -> anyhow::Result<Action> {
    let ret = || -> anyhow::Result<u16> {
        match errno_ret {
            None => Ok(1),
            Some(v) => {
                u16::try_from(v).map_err(|_| anyhow!("errnoRet {v} does not fit in 16 bits"))
            }
        }
    };
    Ok(match name {
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_ERRNO" => Action::Errno(ret()?),
        "SCMP_ACT_TRACE" => Action::Trace(ret()?),
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_NOTIFY" => Action::Notify,
        other => bail!("unknown seccomp action `{other}`"),
    })
}

fn docker_op(name: &str, value: u64, value_two: u64) -> anyhow::Result<(Op, u64)> {
    Ok(match name {
        "SCMP_CMP_NE" => (Op::Ne, value),
        "SCMP_CMP_LT" => (Op::Lt, value),
        "SCMP_CMP_LE" => (Op::Le, value),
        "SCMP_CMP_EQ" => (Op::Eq, value),
        "SCMP_CMP_GE" => (Op::Ge, value),
        "SCMP_CMP_GT" => (Op::Gt, value),
        // Docker/OCI: `value` is the mask, `valueTwo` the expected masked value.
        "SCMP_CMP_MASKED_EQ" => (Op::MaskedEq { mask: value }, value_two),
        other => bail!("unknown seccomp operator `{other}`"),
    })
}

/// Parses `major.minor[anything]` like moby's `parseRelease` (`fmt.Sscanf("%d.%d")`).
fn parse_kernel(s: &str) -> anyhow::Result<(u32, u32)> {
    let bad = || anyhow!("cannot parse kernel version `{s}`, expected major.minor");
    let (major, rest) = s.split_once('.').ok_or_else(bad)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major = major.trim().parse::<u32>().map_err(|_| bad())?;
    let minor = digits.parse::<u32>().map_err(|_| bad())?;
    Ok((major, minor))
}

fn host_kernel() -> anyhow::Result<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .context("cannot read /proc/sys/kernel/osrelease")?;
    parse_kernel(release.trim())
}

fn normalize_cap(c: &str) -> String {
    let up = c.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// Applies a Docker/moby seccomp profile the way moby's `profiles/seccomp` setup does and returns
/// the OCI `linux.seccomp` section (JSON) it hands to the runtime, for a host whose native ABI is
/// `arch`, a container whose bounding set is `caps`, on kernel `kernel`.
///
/// - `caps` may be spelled `CHOWN` or `CAP_CHOWN`; the profile's `caps` are compared exactly
///   (moby compares them case-sensitively against the `CAP_*` bounding set).
/// - `kernel` is `(major, minor)`; `None` reads the running kernel's version, as moby does.
/// - `architectures`: the profile's `architectures`, plus the `archMap` entry whose
///   `architecture` is `arch` and its `subArchitectures` (strings kept as written); both fields
///   at once is an error. moby knows no native x32 host, so for [`Arch::X32`] no `archMap`
///   entry is used.
/// - A `syscalls` entry is kept when: no `excludes.arches` entry equals `arch`'s Docker name
///   ([`Arch::docker_name`]), no `excludes.caps` entry is in `caps`, the kernel is below
///   `excludes.minKernel` (when set), some `includes.arches` entry (when the list is non-empty)
///   equals the Docker name, every `includes.caps` entry is in `caps`, and the kernel is at
///   least `includes.minKernel` (when set). Only the native ABI's Docker name is compared, never
///   the sub-architectures'. `name` becomes `names`; `name` and `names` together is an error.
/// - `defaultAction`, `defaultErrnoRet`, `flags`, `listenerPath`, `listenerMetadata` are copied.
pub fn docker_to_oci(
    json: &str,
    arch: Arch,
    caps: &[&str],
    kernel: Option<(u32, u32)>,
) -> anyhow::Result<String> {
    let p: Profile = serde_json::from_str(json).context("cannot parse the seccomp profile JSON")?;
    let entries = p.syscalls.unwrap_or_default();
    if p.default_action.is_empty() && entries.is_empty() {
        bail!("the profile has no defaultAction and no syscalls: Docker installs no filter for it");
    }
    let mut architectures = p.architectures.unwrap_or_default();
    let arch_map = p.arch_map.unwrap_or_default();
    if !architectures.is_empty() && !arch_map.is_empty() {
        bail!("both 'architectures' and 'archMap' are specified, use one of them");
    }
    if arch != Arch::X32
        && let Some(entry) = arch_map.iter().find(|e| e.architecture == arch.scmp_name())
    {
        architectures.push(entry.architecture.clone());
        architectures.extend(entry.sub_architectures.iter().flatten().cloned());
    }

    let caps: Vec<String> = caps.iter().map(|c| normalize_cap(c)).collect();
    let has_cap = |c: &String| caps.iter().any(|have| have == c);
    let mut host: Option<(u32, u32)> = kernel;
    let mut kernel_at_least = |min: &str| -> anyhow::Result<bool> {
        let want = parse_kernel(min)?;
        let have = match host {
            Some(v) => v,
            None => {
                let v = host_kernel()?;
                host = Some(v);
                v
            }
        };
        Ok(have >= want)
    };
    let docker_arch = arch.docker_name();

    let mut syscalls = Vec::new();
    for (i, call) in entries.into_iter().enumerate() {
        let names: Vec<String> = match (call.name, call.names) {
            (Some(n), Some(ns)) if !n.is_empty() && !ns.is_empty() => {
                bail!("syscalls[{i}]: both 'name' and 'names' are specified, use one of them")
            }
            (Some(n), _) if !n.is_empty() => vec![n],
            (_, ns) => ns.unwrap_or_default(),
        };
        if let Some(ex) = &call.excludes {
            if ex.arches.iter().flatten().any(|a| a == docker_arch) {
                continue;
            }
            if ex.caps.iter().flatten().any(has_cap) {
                continue;
            }
            if let Some(min) = &ex.min_kernel
                && kernel_at_least(min).with_context(|| format!("syscalls[{i}].excludes"))?
            {
                continue;
            }
        }
        if let Some(inc) = &call.includes {
            if let Some(list) = &inc.arches
                && !list.is_empty()
                && !list.iter().any(|a| a == docker_arch)
            {
                continue;
            }
            if !inc.caps.iter().flatten().all(has_cap) {
                continue;
            }
            if let Some(min) = &inc.min_kernel
                && !kernel_at_least(min).with_context(|| format!("syscalls[{i}].includes"))?
            {
                continue;
            }
        }
        syscalls.push(OciSyscall {
            names,
            action: call.action,
            errno_ret: call.errno_ret,
            args: call.args.unwrap_or_default(),
        });
    }
    let oci = OciSeccomp {
        default_action: p.default_action,
        default_errno_ret: p.default_errno_ret,
        architectures,
        flags: p.flags,
        listener_path: p.listener_path,
        listener_metadata: p.listener_metadata,
        syscalls,
    };
    serde_json::to_string_pretty(&oci).context("cannot serialize the OCI seccomp section")
}

/// Translates an OCI `linux.seccomp` section (JSON) into a [`Filter`] the way runc's
/// `libcontainer/specconv` and `libcontainer/seccomp` do.
///
/// - Arches: `architectures` in order (`SCMP_ARCH_*`); empty means the native ABI only. An
///   architecture the oracle cannot express (`SCMP_ARCH_S390`, MIPS, …) is an error.
/// - Each name of each entry becomes one [`Rule`] (runc's per-name entries). When two
///   conditions of an entry test the same argument index, runc adds one rule per condition
///   (so they are ORed); otherwise all conditions go in one rule (ANDed). Indexes above 5 are
///   an error.
/// - Actions follow runc: `SCMP_ACT_KILL` is kill-thread; `errnoRet`/`defaultErrnoRet` default
///   to EPERM (1) for `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE`. runc refuses `SCMP_ACT_NOTIFY` as
///   the default action or for `write`; so does this function. `SCMP_CMP_MASKED_EQ` takes the
///   mask from `value` and the expected result from `valueTwo`.
/// - `bad_arch` is [`Action::KillThread`] (libseccomp's default; runc does not change it).
/// - `optimize` is [`Layout::BinaryTree`] when there are more than 32 per-name entries (runc
///   1.2 and later, since runc PR #3405), else [`Layout::Default`]. runc 1.1.x — Debian 12 ships
///   1.1.5 — always used [`Layout::Default`]; set `optimize` to match it.
///
/// With the layout matched, [`compile_runc`] of this filter equals, byte for byte after runc's
/// stub and check for check in the stub, what runc 1.1.5 installs (the crate's
/// `runc_installs_what_the_oracle_predicts` test reads it back from a live container).
/// - `flags` and the listener fields do not change the program and are ignored.
pub fn oci_profile(json: &str) -> anyhow::Result<Filter> {
    let p: Profile =
        serde_json::from_str(json).context("cannot parse the OCI seccomp section JSON")?;
    let default =
        docker_action(&p.default_action, p.default_errno_ret).context("invalid defaultAction")?;
    if default == Action::Notify {
        bail!("SCMP_ACT_NOTIFY cannot be the default action (runc refuses it)");
    }
    let mut arches = Vec::new();
    for a in p.architectures.iter().flatten() {
        arches.push(
            Arch::from_str(a)
                .map_err(|_| anyhow!("architecture `{a}` is not supported by the oracle"))?,
        );
    }

    let mut rules = Vec::new();
    let mut per_name_entries = 0usize;
    for (i, call) in p.syscalls.iter().flatten().enumerate() {
        let action = docker_action(&call.action, call.errno_ret)
            .with_context(|| format!("syscalls[{i}]"))?;
        let mut conds = Vec::new();
        let mut counts = [0u32; 6];
        for a in call.args.iter().flatten() {
            let index = u8::try_from(a.index)
                .ok()
                .filter(|ix| *ix < 6)
                .ok_or_else(|| anyhow!("syscalls[{i}]: argument index {} is not 0..=5", a.index))?;
            let (op, value) =
                docker_op(&a.op, a.value, a.value_two).with_context(|| format!("syscalls[{i}]"))?;
            counts[usize::from(index)] += 1;
            conds.push(ArgCmp { index, op, value });
        }
        let split = counts.iter().any(|c| *c > 1);
        let names = match (&call.name, &call.names) {
            (_, Some(ns)) if !ns.is_empty() => ns.clone(),
            (Some(n), _) => vec![n.clone()],
            _ => Vec::new(),
        };
        for name in &names {
            if name.is_empty() {
                bail!("syscalls[{i}]: empty syscall name");
            }
            if action == Action::Notify && name == "write" {
                bail!(
                    "syscalls[{i}]: SCMP_ACT_NOTIFY cannot be used for `write` (runc refuses it)"
                );
            }
            per_name_entries += 1;
            if split {
                for c in &conds {
                    rules.push(Rule {
                        syscall: name.clone(),
                        action,
                        args: vec![*c],
                    });
                }
            } else {
                rules.push(Rule {
                    syscall: name.clone(),
                    action,
                    args: conds.clone(),
                });
            }
        }
    }

    Ok(Filter {
        default,
        bad_arch: Action::KillThread,
        arches,
        rules,
        optimize: if per_name_entries > 32 {
            Layout::BinaryTree
        } else {
            Layout::Default
        },
    })
}

/// Translates a Docker/moby seccomp profile into the [`Filter`] runc builds from it:
/// [`oci_profile`] of [`docker_to_oci`]. See both for the rules applied.
///
/// A non-empty `architectures` list without the host's ABI `arch` gets it first: runc never
/// removes the native ABI `seccomp_init` puts in every libseccomp filter (`InitSeccomp` in
/// libcontainer/seccomp/seccomp_linux.go only calls `AddArch` for the listed ones), while
/// [`compile`] removes it from a list without it. [`runc_stub`] then covers it too, as runc
/// 1.1.15 and later do (runc PR #4219, backported in #4391); runc 1.1.5 leaves it out of the
/// stub.
pub fn docker_profile(
    json: &str,
    arch: Arch,
    caps: &[&str],
    kernel: Option<(u32, u32)>,
) -> anyhow::Result<Filter> {
    let mut f = oci_profile(&docker_to_oci(json, arch, caps, kernel)?)?;
    if arch != Arch::X32 && !f.arches.is_empty() && !f.arches.contains(&arch) {
        f.arches.insert(0, arch);
    }
    Ok(f)
}

#[cfg(test)]
mod tests;
