//! An emulation of the kernel's constant-action cache (Linux 5.11+).
//!
//! When a filter is attached, the kernel decides for every syscall number of the native ABI and of
//! the compat ABI (i386 on x86_64, arm on aarch64) whether the filter is "constant allow": whether
//! it returns exactly `SECCOMP_RET_ALLOW` knowing only `nr` and `arch`. Those numbers go into a
//! bitmap, and a call whose bit is set skips every filter (`seccomp_cache_prepare_bitmap()` and
//! `seccomp_is_const_allow()` in `kernel/seccomp.c`, commit 8e01b51a31a1).
//!
//! The kernel's emulator understands only `LD W ABS` of `nr` or `arch`, `RET K`, `JA`,
//! `JEQ/JGE/JGT/JSET K` and `ALU AND K`. Any other instruction on the path taken (a load of an
//! argument or the instruction pointer, an X-register operation, scratch memory, other ALU
//! operations, `RET A`) makes that number uncached, as does any return value other than
//! `SECCOMP_RET_ALLOW` itself.
//!
//! The bitmap covers numbers `0..NR_syscalls` of the ABI. x32 numbers carry bit 30
//! (`__X32_SYSCALL_BIT`), are looked up in the x86_64 bitmap and are far beyond it: x32 calls are
//! never cached.

use moat_syscalls::Arch;

use crate::consts::*;
use crate::program::Program;

/// What the kernel's emulator (`seccomp_is_const_allow()`, without its uprobe exception)
/// concludes for one `(arch, nr)`: `true` if the program returns `SECCOMP_RET_ALLOW` using
/// only instructions the emulator supports.
pub fn emulate_const_allow(p: &Program, audit_arch: u32, nr: u32) -> bool {
    let insns = p.insns();
    let mut reg: u32 = 0;
    let mut pc: usize = 0;
    while let Some(insn) = insns.get(pc) {
        let k = insn.k;
        match insn.code {
            c if c == BPF_LD | BPF_W | BPF_ABS => match k {
                OFFSET_NR => reg = nr,
                OFFSET_ARCH => reg = audit_arch,
                // "can't optimize (non-constant value load)"
                _ => return false,
            },
            c if c == BPF_RET | BPF_K => return k == SECCOMP_RET_ALLOW,
            c if c == BPF_JMP | BPF_JA => pc += k as usize,
            c if c == BPF_JMP | BPF_JEQ | BPF_K
                || c == BPF_JMP | BPF_JGE | BPF_K
                || c == BPF_JMP | BPF_JGT | BPF_K
                || c == BPF_JMP | BPF_JSET | BPF_K =>
            {
                let taken = match op(c) {
                    BPF_JEQ => reg == k,
                    BPF_JGE => reg >= k,
                    BPF_JGT => reg > k,
                    _ => reg & k != 0,
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            c if c == BPF_ALU | BPF_AND | BPF_K => reg &= k,
            // "can't optimize (unknown insn)"
            _ => return false,
        }
        pc += 1;
    }
    false
}

/// Size of the kernel's bitmap (`NR_syscalls` of the ABI) for an `AUDIT_ARCH_*` value, taken
/// from moat's tables (Linux 6.18): the highest regular syscall number plus one. ARM's private
/// calls (`0xf0001..`, `__ARM_NR_*`) lie beyond `NR_syscalls` and are not counted. `None` for an
/// architecture moat does not know, which the kernel never caches.
pub fn bitmap_len(audit_arch: u32) -> Option<u32> {
    /// Regular tables end below 1024 on every ABI; ARM's private calls start at 0xf0000.
    const REGULAR_END: u32 = 0x1_0000;
    let arch = Arch::ALL
        .into_iter()
        .find(|a| a.audit_arch() == audit_arch && a.nr_bias() == 0)?;
    let max = arch
        .syscalls()
        .iter()
        .map(|s| s.nr)
        .filter(|&nr| nr < REGULAR_END)
        .max()?;
    Some(max + 1)
}
/// Whether a kernel with the constant-action cache (5.11+, as of 6.18) skips this filter for
/// `(audit_arch, nr)` and allows the call without running it.
///
/// True when `nr` is inside the ABI's bitmap and [`emulate_const_allow`] holds, and for the
/// x86_64 `uretprobe` and `uprobe` syscalls, which the kernel always allows through the cache
/// (commits cf6cb56ef244 and 89d1d8434d24) whatever the filter says.
pub fn is_constant_allow(p: &Program, audit_arch: u32, nr: u32) -> bool {
    let Some(len) = bitmap_len(audit_arch) else {
        return false;
    };
    if nr >= len {
        return false;
    }
    if audit_arch == Arch::X86_64.audit_arch() && is_uprobe_exception(nr) {
        return true;
    }
    emulate_const_allow(p, audit_arch, nr)
}

/// The x86_64 numbers of `uretprobe` and `uprobe`.
fn is_uprobe_exception(nr: u32) -> bool {
    ["uretprobe", "uprobe"]
        .iter()
        .any(|name| Arch::X86_64.by_name(name).is_some_and(|s| s.nr == nr))
}

/// Every number in `0..end` that [`is_constant_allow`] caches for `audit_arch`, ascending.
pub fn cached_numbers(p: &Program, audit_arch: u32, end: u32) -> Vec<u32> {
    (0..end)
        .filter(|&nr| is_constant_allow(p, audit_arch, nr))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{Builder, JumpOp};
    use crate::insn::Insn;

    const X86_64: u32 = 0xc000_003e;
    const I386: u32 = 0x4000_0003;

    /// The kernel's emulator knows only `nr` and `arch`, whose offsets (0 and 4) are the same in
    /// both byte orders: on s390x a load of either argument word (16: high, 20: low, by hand
    /// from the big-endian `struct seccomp_data`) leaves the number uncached, as on x86_64.
    #[test]
    fn s390x_argument_loads_are_uncached_in_either_half() {
        const S390X: u32 = 0x8000_0016;
        for word in [16, 20] {
            let p = Program::new(vec![
                Insn::stmt(BPF_LD | BPF_W | BPF_ABS, OFFSET_NR),
                Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 3, 0, 2),
                Insn::stmt(BPF_LD | BPF_W | BPF_ABS, word),
                Insn::stmt(BPF_RET | BPF_A, 0),
                Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            ])
            .unwrap();
            assert!(!emulate_const_allow(&p, S390X, 3), "word {word}");
            assert!(emulate_const_allow(&p, S390X, 4), "word {word}");
        }
        assert!(bitmap_len(S390X).is_some_and(|n| n > 400));
    }

    /// Allow read (0) outright, check an argument for write (1), deny everything else.
    fn sample() -> Program {
        let mut b = Builder::new();
        let [bad_arch, allow, deny, check_write] = [b.label(), b.label(), b.label(), b.label()];
        b.load(OFFSET_ARCH);
        let native = b.label();
        b.jump(JumpOp::Eq, X86_64, native, bad_arch);
        b.bind(native);
        b.load(OFFSET_NR);
        let n1 = b.label();
        b.jump(JumpOp::Eq, 0, allow, n1);
        b.bind(n1);
        b.jump(JumpOp::Eq, 1, check_write, deny);
        b.bind(check_write);
        b.load(offset_arg_lo(0));
        b.jump(JumpOp::Eq, 1, allow, deny);
        b.bind(allow);
        b.ret(SECCOMP_RET_ALLOW);
        b.bind(deny);
        b.ret(ret_errno(1));
        b.bind(bad_arch);
        b.ret(SECCOMP_RET_KILL_PROCESS);
        b.finish().unwrap()
    }

    #[test]
    fn bitmap_bounds() {
        assert_eq!(bitmap_len(X86_64), Some(471));
        assert_eq!(bitmap_len(I386), Some(471));
        assert!(
            bitmap_len(0x4000_0028).is_some_and(|n| n < 1000),
            "arm private calls excluded"
        );
        assert_eq!(bitmap_len(0x1234), None);
        let allow_all = Program::new(vec![Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)]).unwrap();
        assert!(is_constant_allow(&allow_all, X86_64, 470));
        assert!(!is_constant_allow(&allow_all, X86_64, 471));
        // x32 numbers carry bit 30 and are never cached.
        assert!(emulate_const_allow(&allow_all, X86_64, 0x4000_0000));
        assert!(!is_constant_allow(&allow_all, X86_64, 0x4000_0000));
        assert_eq!(cached_numbers(&allow_all, I386, 1000).len(), 471);
    }

    #[test]
    fn uprobe_syscalls_are_always_cached_on_x86_64() {
        let deny_all = Program::new(vec![Insn::stmt(BPF_RET | BPF_K, ret_errno(1))]).unwrap();
        assert_eq!(cached_numbers(&deny_all, X86_64, 1000), vec![335, 336]);
        assert!(cached_numbers(&deny_all, I386, 1000).is_empty());
    }

    #[test]
    fn only_constant_allow_paths_are_cached() {
        let p = sample();
        assert!(emulate_const_allow(&p, X86_64, 0));
        assert!(!emulate_const_allow(&p, X86_64, 1), "argument load");
        assert!(!emulate_const_allow(&p, X86_64, 2), "errno");
        assert!(!emulate_const_allow(&p, I386, 0), "kill");
    }

    #[test]
    fn unsupported_instructions_are_not_cached() {
        let p = Program::new(vec![
            Insn::stmt(BPF_LD | BPF_IMM, 0),
            Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        ])
        .unwrap();
        assert!(!emulate_const_allow(&p, X86_64, 0));
        let p = Program::new(vec![Insn::stmt(BPF_RET | BPF_A, 0)]).unwrap();
        assert!(!emulate_const_allow(&p, X86_64, 0));
        // ALLOW with data bits is not exactly SECCOMP_RET_ALLOW.
        let p = Program::new(vec![Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW | 1)]).unwrap();
        assert!(!emulate_const_allow(&p, X86_64, 0));
        let p = Program::new(vec![
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, OFFSET_NR),
            Insn::stmt(BPF_ALU | BPF_AND | BPF_K, 0xff),
            Insn::jump(BPF_JMP | BPF_JGE | BPF_K, 0x10, 0, 1),
            Insn::stmt(BPF_JMP | BPF_JA, 1),
            Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_LOG),
        ])
        .unwrap();
        assert!(!emulate_const_allow(&p, X86_64, 0x10));
        assert!(emulate_const_allow(&p, X86_64, 0x0f));
        assert!(emulate_const_allow(&p, X86_64, 0x10f));
    }
}
