//! The emulator and the validator agree with the running kernel.
//!
//! Every filter is installed in a forked child ([`moat_sys::testing::in_child`]), never in the
//! test runner. The seed is fixed for reproducibility; set `MOAT_SEED` to explore others.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::os::fd::AsRawFd;

use moat_bpf::consts::*;
use moat_bpf::{Insn, Program, SeccompData, emu};
use moat_sys::testing::{ChildStatus, in_child, no_core_dumps};
use moat_sys::{Flags, install, install_unchecked, set_no_new_privs};

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const NR_WRITE: u32 = 1;
const NR_EXIT: u32 = 60;
const NR_EXIT_GROUP: u32 = 231;
/// Syscalls that are harmless with any arguments: sched_yield, getpid, getuid, getgid,
/// geteuid, getegid, getppid, getpgrp, gettid, and 1000, which does not exist (ENOSYS).
const CALLS: [u32; 10] = [24, 39, 102, 104, 107, 108, 110, 111, 186, 1000];
/// The same kind of calls on i386, made through `int 0x80`: getpid, getuid, getppid, getpgrp,
/// sched_yield, getuid32, getgid32, geteuid32, gettid, and 1000.
const CALLS_I386: [u32; 10] = [20, 24, 64, 65, 158, 199, 200, 201, 224, 1000];
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const ENOSYS: i32 = 38;

/// SplitMix64: small, seedable, good enough to drive a generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn u32(&mut self) -> u32 {
        u32::try_from(self.next() >> 32).unwrap()
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[usize::try_from(self.below(xs.len() as u64)).unwrap()]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn seed() -> u64 {
    std::env::var("MOAT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f0b0)
}

/// A constant that often matters: a syscall number, the arch, a small value, or anything.
fn interesting_k(r: &mut Rng) -> u32 {
    match r.below(7) {
        0 => r.pick(&CALLS),
        1 => AUDIT_ARCH_X86_64,
        6 => {
            if r.chance(50) {
                r.pick(&CALLS_I386)
            } else {
                AUDIT_ARCH_I386
            }
        }
        2 => u32::try_from(r.below(64)).unwrap(),
        3 => 1 << r.below(32),
        _ => r.u32(),
    }
}

/// A random valid body of `n` instructions whose returns are distinct ERRNO values or ALLOW.
fn random_body(r: &mut Rng, n: usize, errnos: &mut impl Iterator<Item = u16>) -> Vec<Insn> {
    let loads = [
        OFFSET_NR,
        OFFSET_ARCH,
        16,
        20,
        24,
        28,
        32,
        36,
        40,
        44,
        48,
        52,
        56,
        60,
    ];
    let alu = [
        BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_XOR, BPF_LSH, BPF_RSH,
    ];
    let jmp = [BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET];
    let mut ret = |r: &mut Rng| {
        if r.chance(20) {
            SECCOMP_RET_ALLOW
        } else {
            ret_errno(errnos.next().unwrap_or(1))
        }
    };
    let mut body: Vec<Insn> = (0..16).map(|k| Insn::stmt(BPF_ST, k)).collect();
    for _ in 0..n {
        let insn = match r.below(100) {
            0..=19 => Insn::stmt(BPF_LD | BPF_W | BPF_ABS, r.pick(&loads)),
            20..=44 => {
                let o = r.pick(&jmp);
                let x = if r.chance(25) { BPF_X } else { BPF_K };
                let [jt, jf] = [r.next().to_le_bytes()[0], r.next().to_le_bytes()[0]];
                Insn::jump(BPF_JMP | o | x, interesting_k(r), jt, jf)
            }
            45..=52 => Insn::stmt(BPF_RET | BPF_K, ret(r)),
            53..=54 => Insn::stmt(BPF_JMP | BPF_JA, r.u32()),
            55..=72 => {
                let o = r.pick(&alu);
                if r.chance(30) {
                    Insn::stmt(BPF_ALU | o | BPF_X, 0)
                } else {
                    let k = match o {
                        BPF_DIV => interesting_k(r).max(1),
                        BPF_LSH | BPF_RSH => u32::try_from(r.below(32)).unwrap(),
                        _ => interesting_k(r),
                    };
                    Insn::stmt(BPF_ALU | o | BPF_K, k)
                }
            }
            73..=74 => Insn::stmt(BPF_ALU | BPF_NEG, 0),
            75..=77 => Insn::stmt(BPF_MISC | BPF_TAX, 0),
            78..=79 => Insn::stmt(BPF_MISC | BPF_TXA, 0),
            80..=82 => Insn::stmt(BPF_LDX | BPF_IMM, interesting_k(r)),
            83..=84 => Insn::stmt(BPF_LD | BPF_IMM, interesting_k(r)),
            85..=86 => Insn::stmt(BPF_LDX | BPF_W | BPF_LEN, 0),
            87..=88 => Insn::stmt(BPF_LD | BPF_W | BPF_LEN, 0),
            89..=92 => Insn::stmt(
                if r.chance(50) { BPF_ST } else { BPF_STX },
                u32::try_from(r.below(16)).unwrap(),
            ),
            93..=95 => Insn::stmt(BPF_LD | BPF_MEM, u32::try_from(r.below(16)).unwrap()),
            _ => Insn::stmt(BPF_LDX | BPF_MEM, u32::try_from(r.below(16)).unwrap()),
        };
        body.push(insn);
    }
    body.push(Insn::stmt(BPF_RET | BPF_K, ret(r)));
    // Reduce jump offsets into range; prefer short hops so more of the body runs.
    let len = body.len();
    for (pc, i) in body.iter_mut().enumerate() {
        let room = len - pc - 1;
        if class(i.code) == BPF_JMP && room > 0 {
            let span = room.min(if r.chance(80) { 8 } else { 256 });
            if op(i.code) == BPF_JA {
                i.k = u32::try_from(usize::try_from(r.below(span as u64)).unwrap()).unwrap();
            } else {
                i.jt = u8::try_from(usize::from(i.jt) % span).unwrap();
                i.jf = u8::try_from(usize::from(i.jf) % span).unwrap();
            }
        }
    }
    body
}

/// The body behind a prefix that allows write, exit and exit_group (the child needs them to
/// report and to leave), followed by a final `return ALLOW` the prefix jumps to.
fn with_prefix(body: Vec<Insn>) -> Program {
    let total = 4 + body.len() + 1;
    let allow = total - 1;
    let mut insns = vec![Insn::stmt(BPF_LD | BPF_W | BPF_ABS, OFFSET_NR)];
    for (pc, nr) in [(1usize, NR_WRITE), (2, NR_EXIT), (3, NR_EXIT_GROUP)] {
        insns.push(Insn::jump(
            BPF_JMP | BPF_JEQ | BPF_K,
            nr,
            u8::try_from(allow - pc - 1).unwrap(),
            0,
        ));
    }
    insns.extend(body);
    insns.push(Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    Program::new(insns).unwrap()
}

/// One syscall: native, or i386 through `int 0x80` (then the arguments are 32-bit).
#[derive(Clone, Copy, Debug)]
struct Call {
    i386: bool,
    nr: u32,
    args: [u64; 6],
}

impl Call {
    fn data(&self) -> SeccompData {
        let arch = if self.i386 {
            AUDIT_ARCH_I386
        } else {
            AUDIT_ARCH_X86_64
        };
        SeccompData::new(arch, self.nr, self.args)
    }
}

/// An i386 syscall through `int 0x80`, which 64-bit processes may use: seccomp sees
/// `AUDIT_ARCH_I386` and the 32-bit registers ebx, ecx, edx, esi, edi, ebp, zero-extended.
fn int80(nr: u32, a: [u32; 6]) -> i32 {
    let ret: u32;
    // SAFETY: the i386 calls in CALLS_I386 take no pointers, so their arguments cannot touch
    // memory. rbx and rbp, which Rust reserves, are saved on the stack and restored (the block
    // is not `nostack`, so the compiler keeps nothing in the red zone across it); r8-r15, which
    // the compat entry may clear, are declared clobbered.
    unsafe {
        std::arch::asm!(
            "push rbx",
            "push rbp",
            "mov ebx, {a0:e}",
            "mov ebp, {a5:e}",
            "int 0x80",
            "pop rbp",
            "pop rbx",
            a0 = in(reg) a[0],
            a5 = in(reg) a[5],
            inlateout("eax") nr => ret,
            in("ecx") a[1],
            in("edx") a[2],
            in("esi") a[3],
            in("edi") a[4],
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
            out("r12") _, out("r13") _, out("r14") _, out("r15") _,
        );
    }
    i32::from_ne_bytes(ret.to_ne_bytes())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Allowed,
    Errno(i32),
}

/// Runs `calls` under `p` in a child; returns the per-call results the child reported and how
/// it ended.
fn run_in_kernel(p: &Program, calls: &[Call]) -> (Vec<Seen>, ChildStatus) {
    let (mut reader, writer) = moat_sys::testing::pipe().unwrap();
    let status = in_child(|| {
        if no_core_dumps().is_err() || install(p, Flags::NONE).is_err() {
            return 2;
        }
        let fd = writer.as_raw_fd();
        for call in calls {
            let (nr, a) = (call.nr, call.args);
            let (failed, errno) = if call.i386 {
                let r = int80(nr, a.map(|v| u32::try_from(v).unwrap_or(u32::MAX)));
                ((-4095..0).contains(&r), -r)
            } else {
                // SAFETY: the syscalls in CALLS take no pointers (their arguments are ignored
                // or nonexistent), so random arguments cannot touch memory.
                let r = unsafe {
                    libc::syscall(
                        libc::c_long::from(nr),
                        a[0] as libc::c_long,
                        a[1] as libc::c_long,
                        a[2] as libc::c_long,
                        a[3] as libc::c_long,
                        a[4] as libc::c_long,
                        a[5] as libc::c_long,
                    )
                };
                // SAFETY: __errno_location returns this thread's errno slot, always valid to read.
                (r == -1, unsafe { *libc::__errno_location() })
            };
            let code: i32 = if failed && !(nr == 1000 && errno == ENOSYS) {
                errno
            } else {
                -1
            };
            let bytes = code.to_le_bytes();
            // SAFETY: `bytes` is a live 4-byte buffer; `fd` is the pipe's write end, open
            // until the child exits.
            let w = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
            if w != 4 {
                return 3;
            }
        }
        0
    })
    .unwrap();
    drop(writer);
    let mut buf = Vec::new();
    reader.read_to_end(&mut buf).unwrap();
    let seen = buf
        .chunks_exact(4)
        .map(|c| match i32::from_le_bytes([c[0], c[1], c[2], c[3]]) {
            -1 => Seen::Allowed,
            e => Seen::Errno(e),
        })
        .collect();
    (seen, status)
}

#[test]
fn emulator_agrees_with_the_kernel_on_random_programs() {
    let mut r = Rng(seed());
    let cases = 300;
    let mut calls_checked = 0;
    let mut kills = 0;
    let mut errno_calls = 0;
    let mut i386_checked = 0;
    for case in 0..cases {
        let mut errnos = (1u16..=250).filter(|&e| i32::from(e) != ENOSYS);
        let n = usize::try_from(1 + r.below(60)).unwrap();
        let p = with_prefix(random_body(&mut r, n, &mut errnos));
        let calls: Vec<Call> = (0..8)
            .map(|_| {
                let i386 = r.chance(30);
                let args = std::array::from_fn(|_| match r.below(4) {
                    0 => 0,
                    1 => r.below(8),
                    2 => u64::from(r.u32()),
                    _ if i386 => u64::from(r.u32()),
                    _ => r.next(),
                });
                let nr = if i386 {
                    r.pick(&CALLS_I386)
                } else {
                    r.pick(&CALLS)
                };
                Call { i386, nr, args }
            })
            .collect();
        // The emulator's prediction, up to the first kill.
        let mut want = Vec::new();
        let mut want_kill = false;
        for call in &calls {
            let ret = emu::run(&p, &call.data()).ret;
            match ret & SECCOMP_RET_ACTION_FULL {
                SECCOMP_RET_ALLOW => want.push(Seen::Allowed),
                SECCOMP_RET_ERRNO => want.push(Seen::Errno(
                    i32::try_from((ret & SECCOMP_RET_DATA).min(MAX_ERRNO)).unwrap(),
                )),
                SECCOMP_RET_KILL_THREAD => {
                    want_kill = true;
                    break;
                }
                other => panic!("case {case}: generator produced action {other:#x}"),
            }
        }
        let (seen, status) = run_in_kernel(&p, &calls);
        let ctx = || {
            format!(
                "case {case} (seed {}):\n{}",
                seed(),
                moat_bpf::disasm::disasm(&p, None)
            )
        };
        assert_eq!(seen, want, "calls {calls:x?}\n{}", ctx());
        if want_kill {
            kills += 1;
            assert_eq!(status, ChildStatus::Signaled(libc::SIGSYS), "{}", ctx());
        } else {
            assert_eq!(status, ChildStatus::Exited(0), "{}", ctx());
        }
        calls_checked += seen.len();
        i386_checked += calls.iter().take(seen.len()).filter(|c| c.i386).count();
        errno_calls += seen.iter().filter(|s| matches!(s, Seen::Errno(_))).count();
    }
    println!(
        "{cases} programs, {calls_checked} syscalls agreed ({i386_checked} i386 through int 0x80, {errno_calls} failed with the filter's errno), {kills} kills by division by zero"
    );
    assert!(i386_checked > calls_checked / 5, "too few i386 calls");
    assert!(
        errno_calls > calls_checked / 4 && errno_calls < calls_checked,
        "the generator lacks variety"
    );
}

/// Random, mostly nearly valid instruction streams: `Program::new` accepts exactly those the
/// kernel's `seccomp(SECCOMP_SET_MODE_FILTER)` accepts.
#[test]
fn validator_agrees_with_the_kernel() {
    let mut r = Rng(seed() ^ 0xabcd);
    let codes: Vec<u16> = (0u16..0x100).collect();
    let mut accepted = 0;
    let cases = 3000;
    for case in 0..cases {
        let n = usize::try_from(1 + r.below(5)).unwrap();
        let mut insns: Vec<Insn> = (0..n)
            .map(|_| {
                let code = if r.chance(90) {
                    r.pick(&[
                        BPF_LD | BPF_W | BPF_ABS,
                        BPF_LD | BPF_MEM,
                        BPF_LDX | BPF_MEM,
                        BPF_ST,
                        BPF_STX,
                        BPF_JMP | BPF_JA,
                        BPF_JMP | BPF_JEQ | BPF_K,
                        BPF_JMP | BPF_JSET | BPF_X,
                        BPF_ALU | BPF_DIV | BPF_K,
                        BPF_ALU | BPF_MOD | BPF_K,
                        BPF_ALU | BPF_LSH | BPF_K,
                        BPF_LD | BPF_B | BPF_ABS,
                        BPF_LD | BPF_W | BPF_LEN,
                        BPF_RET | BPF_K,
                        BPF_RET | BPF_A,
                    ])
                } else {
                    r.pick(&codes)
                };
                let k = match r.below(5) {
                    0 => u32::try_from(r.below(70)).unwrap(),
                    1 | 2 => u32::try_from(r.below(4)).unwrap(),
                    3 => u32::try_from(r.below(17)).unwrap() * 4,
                    _ => r.u32(),
                };
                Insn::new(
                    code,
                    u8::try_from(r.below(3)).unwrap(),
                    u8::try_from(r.below(3)).unwrap(),
                    k,
                )
            })
            .collect();
        if r.chance(85) {
            insns.push(Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
        }
        let ours = Program::new(insns.clone());
        let status = in_child(|| {
            if no_core_dumps().is_err() || set_no_new_privs().is_err() {
                return 3;
            }
            match install_unchecked(&insns, Flags::NONE) {
                Ok(()) => 0,
                Err(moat_sys::InstallError::Seccomp(e))
                    if e.raw_os_error() == Some(libc::EINVAL) =>
                {
                    1
                }
                Err(_) => 2,
            }
        })
        .unwrap();
        // An accepted filter may kill or break the child's exit; only exit code 1 means EINVAL.
        assert_ne!(status, ChildStatus::Exited(2), "case {case}: {insns:x?}");
        assert_ne!(status, ChildStatus::Exited(3), "case {case}");
        let kernel_accepts = status != ChildStatus::Exited(1);
        assert_eq!(
            ours.is_ok(),
            kernel_accepts,
            "case {case}: {insns:x?}: ours {ours:?}, kernel {status:?}"
        );
        accepted += usize::from(kernel_accepts);
    }
    println!("{cases} instruction streams, {accepted} accepted by both");
    assert!(
        accepted > cases / 20 && accepted < cases * 9 / 10,
        "the generator lacks variety"
    );
}

/// The scratch-memory quirk: the kernel rejects a read after a RET that only a writing path
/// reaches, because its scan does not reset after RET (see `moat_bpf` `check_load_and_stores`).
#[test]
fn regression_scratch_state_after_ret_matches_kernel() {
    let insns = vec![
        Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2),
        Insn::stmt(BPF_ST, 1),
        Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
        Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        Insn::stmt(BPF_LD | BPF_MEM, 1),
        Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    ];
    assert!(Program::new(insns.clone()).is_err());
    let status = in_child(|| {
        if set_no_new_privs().is_err() {
            return 3;
        }
        match install_unchecked(&insns, Flags::NONE) {
            Ok(()) => 0,
            Err(moat_sys::InstallError::Seccomp(e)) if e.raw_os_error() == Some(libc::EINVAL) => 1,
            Err(_) => 2,
        }
    })
    .unwrap();
    assert_eq!(status, ChildStatus::Exited(1));
}
