//! The adversarial suite: known seccomp bypasses and container-escape calls, attempted for real
//! on this kernel (catalogue: `shared/research/attacks.md`; threat model: `docs/security.md`).
//!
//! Every attack runs in a fresh process: first unconfined (the probe shows the kernel supports
//! it — otherwise it is skipped with the probe's result printed), then under the `container`
//! profile compiled by moat-compile and installed by moat-sys, asserting the exact errno or
//! signal. Attacks that would change the machine if they succeeded use harmless arguments
//! (invalid reboot magic, nonexistent swap files, an invalid clock, mounts inside a private mount
//! namespace, namespaces of a throwaway process). Run with `--nocapture` to see every attempt.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::sandbox::{
    Filter, Opts, Res, Want, attack, ran, reaches_kernel, run, run_all, run_lines, succeeds,
};

const EPERM: i32 = 1;
const ENOSYS: i32 = 38;
const SIGSYS: i32 = 31;

fn container() -> Filter {
    Filter::builtin("container")
}

/// A fresh directory for mount and mkdir targets.
fn fresh_dir(name: &str) -> String {
    let d = common::sandbox::tmp().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir(&d);
    d.display().to_string()
}

#[test]
fn abi_tricks() {
    let c = container();
    let dir = fresh_dir("i386-mount");
    std::fs::create_dir_all(&dir).unwrap();
    let attacks = vec![
        // A1/A2: i386 21 is mount (x86_64 21 is access). container accepts i386 with its own
        // table, which carries the same denials under i386 numbers.
        attack(&format!("i386_mount {dir}"), succeeds, Want::Errno(EPERM)).private_mounts(),
        // i386 310 = unshare (x86_64 310 = process_vm_readv).
        attack("int80 310 0x10000000", succeeds, Want::Errno(EPERM)),
        // Control: the i386 ABI itself works (getpid), and x86_64 21 (access) is not mount.
        attack("int80 20", succeeds, Want::Success),
        attack("raw 21 0 0", reaches_kernel, Want::Errno(14)),
        // A5: socketcall(SYS_SOCKET) reaching AF_VSOCK; the i386 socket call itself.
        attack("i386_socketcall 40", succeeds, Want::Errno(EPERM)),
        attack("i386_socket 40", succeeds, Want::Errno(EPERM)),
        // BPF cannot read socketcall's argument array, so container refuses every i386
        // socketcall(SYS_SOCKET), AF_INET included; i386 socket(2) itself is filtered on the
        // domain like the x86_64 call.
        attack("i386_socketcall 2", succeeds, Want::Errno(EPERM)),
        attack("i386_socket 2", succeeds, Want::Success),
        // A3: x32 numbers reach seccomp as AUDIT_ARCH_X86_64 with bit 30 set; x32 is not an
        // accepted ABI, so badarch kills. This kernel has x32 compiled out (the probe gets
        // ENOSYS), so the SIGSYS shows the filter decided first.
        attack("raw 0x40000027", ran, Want::Signal(SIGSYS)).confine_anyway(),
        attack("raw 0x400000a5", ran, Want::Signal(SIGSYS)).confine_anyway(),
        attack("raw 0x40000200", ran, Want::Signal(SIGSYS)).confine_anyway(),
        // A4: numbers outside the table get `unknown` (ENOSYS), never a kill or a crash.
        attack("raw 1000", ran, Want::Errno(ENOSYS)).confine_anyway(),
        attack("raw 512", ran, Want::Errno(ENOSYS)).confine_anyway(),
        attack("raw 0x3fffffff", ran, Want::Errno(ENOSYS)).confine_anyway(),
    ];
    run_all("abi", &[&c], &attacks);
    // The i386 mount did not happen inside its namespace either.
    let r = run(
        Some(&c),
        &["i386_mount".into(), dir.clone()],
        Opts {
            private_mounts: true,
        },
    );
    assert_eq!(r.extra("mounted"), Some("0"), "{r}");
}

#[test]
fn nr_minus_one_follows_the_policy() {
    // -1 has bit 30 set; moat's evaluator decides what it means and the kernel must agree.
    let c = container();
    let want = c.evaluate(u32::MAX, [0; 6]);
    let got = run(Some(&c), &["raw".into(), "-1".into()], Opts::default());
    let expect = match want {
        moat_policy::Action::KillProcess => Want::Signal(SIGSYS),
        moat_policy::Action::Errno(e) => Want::Errno(i32::from(e)),
        other => panic!("unexpected verdict for nr -1: {other}"),
    };
    assert!(
        expect.matches(&got),
        "nr -1: evaluator says {want}, kernel gave {got}"
    );
    eprintln!("nr -1 under container: {got} (evaluator: {want})");
}

#[test]
fn i386_ipc_reaches_a_denied_call() {
    // A rule on shmget must also hold for i386 ipc(SHMGET, ...), which BPF cannot look into.
    let f = Filter::text(
        "deny-shmget",
        "default allow\narch native compat\ndeny shmget\n",
    );
    run_all(
        "ipc",
        &[&f],
        &[
            attack("i386_ipc_shmget", succeeds, Want::Errno(EPERM)),
            attack("raw 29 0 4096 0x180", succeeds, Want::Errno(EPERM)),
        ],
    );
}

#[test]
fn argument_tricks() {
    let c = container();
    let mut attacks = vec![
        // B1: TIOCSTI with junk in the high word of the 32-bit request.
        attack("tiocsti 0x5412", succeeds, Want::Errno(EPERM)),
        attack("tiocsti 0x100005412", succeeds, Want::Errno(EPERM)),
        attack("tiocsti 0xffffffff00005412", succeeds, Want::Errno(EPERM)),
        // E10: TIOCLINUX on a VT (subcode 6 only reads the shift state).
        attack("tioclinux 0x541C", succeeds, Want::Errno(EPERM)),
        attack("tioclinux 0x10000541C", succeeds, Want::Errno(EPERM)),
        // B2/E15: AF_VSOCK and AF_ALG, with any high word.
        attack("socket 40", succeeds, Want::Errno(EPERM)),
        attack("socket 0x100000028", succeeds, Want::Errno(EPERM)),
        attack("socket 0xffffffff00000028", succeeds, Want::Errno(EPERM)),
        attack("socket 0x100000026 5", reaches_kernel, Want::Errno(EPERM)),
        attack("socket 38 5", reaches_kernel, Want::Errno(EPERM)),
        // Controls: AF_INET, also with a junk high word (the kernel sees AF_INET).
        attack("socket 2", succeeds, Want::Success),
        attack("socket 0x100000002", succeeds, Want::Success),
        attack("socket 1", succeeds, Want::Success),
        // E9: personality values that turn ASLR off, make reads executable, map page zero.
        attack("personality 0x40000", succeeds, Want::Errno(EPERM)),
        attack("personality 0x400000", succeeds, Want::Errno(EPERM)),
        attack("personality 0x100000", succeeds, Want::Errno(EPERM)),
        attack("personality 0x100040000", succeeds, Want::Errno(EPERM)),
        // B3: the query value, zero- and sign-extended, and Docker's allowed values.
        attack("personality 0xffffffff", succeeds, Want::Success),
        attack("personality -1", succeeds, Want::Success),
        attack("personality 0", succeeds, Want::Success),
        attack("personality 8", succeeds, Want::Success),
        // D1: clone3 is ENOSYS whatever its (invisible) flags say.
        attack("clone3 0x10000000", succeeds, Want::Errno(ENOSYS)),
        attack("clone3 0", succeeds, Want::Errno(ENOSYS)),
        // Control: a plain fork through clone works.
        attack("clone 0", succeeds, Want::Success),
    ];
    // B6/E1: every CLONE_NEW* flag alone and all together, through clone (legacy clone reads
    // the low 32 bits: a junk high word must not hide the flag) and unshare. CLONE_NEWTIME
    // (0x80) overlaps CSIGNAL in legacy clone, so it is reachable only through unshare.
    let flags: [(&str, u64); 7] = [
        ("NEWNS", 0x0002_0000),
        ("NEWCGROUP", 0x0200_0000),
        ("NEWUTS", 0x0400_0000),
        ("NEWIPC", 0x0800_0000),
        ("NEWUSER", 0x1000_0000),
        ("NEWPID", 0x2000_0000),
        ("NEWNET", 0x4000_0000),
    ];
    for (_, f) in flags {
        attacks.push(attack(
            &format!("clone {f:#x}"),
            succeeds,
            Want::Errno(EPERM),
        ));
        attacks.push(attack(
            &format!("raw 272 {f:#x}"),
            succeeds,
            Want::Errno(EPERM),
        ));
    }
    attacks.push(attack("raw 272 0x80", succeeds, Want::Errno(EPERM)));
    attacks.push(attack("clone 0x7e020000", succeeds, Want::Errno(EPERM)));
    attacks.push(attack("raw 272 0x7e020080", succeeds, Want::Errno(EPERM)));
    attacks.push(attack("clone 0x110000000", succeeds, Want::Errno(EPERM)));
    // unshare's flags are an `unsigned long` (kernel/fork.c, SYSCALL_DEFINE1(unshare, ...)): the
    // junk high word reaches the kernel, which refuses it with EINVAL, so the control cannot
    // succeed; the filter must still refuse it first.
    attacks.push(attack("raw 272 0x110000000", ran, Want::Errno(EPERM)).confine_anyway());
    run_all("args", &[&c], &attacks);
    // Nothing reached the terminal's input queue.
    for cmd in ["0x5412", "0x100005412", "0xffffffff00005412"] {
        let r = run(Some(&c), &["tiocsti".into(), cmd.into()], Opts::default());
        assert_eq!(r.extra("queued"), Some("0"), "tiocsti {cmd}: {r}");
    }
}

/// B4/B5: ordered comparisons around 2^31 and 2^32, on a 64-bit argument (lseek's offset; the
/// helper's stdin is /dev/null, where any offset succeeds) and a 32-bit one (kill's sig, with
/// pid = INT_MIN, which the kernel answers with ESRCH and never signals). For every operator and
/// constant, the kernel's answer must equal the reference evaluator's, and the evaluator must
/// equal the plain Rust predicate.
#[test]
fn ordered_comparisons_around_2_31_and_2_32() {
    let consts: [u64; 8] = [
        0,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0001,
        0x8000_0000_0000_0000,
        u64::MAX,
    ];
    let ops = ["==", "!=", "<", "<=", ">", ">="];
    let mut checked = 0;
    for (syscall, nr, idx, param, wide, fixed) in [
        ("lseek", 8u32, 1usize, "arg1", true, [0u64, 0, 0, 0, 0, 0]),
        ("kill", 62, 1, "sig", false, [0x8000_0000, 0, 0, 0, 0, 0]),
    ] {
        for op in ops {
            for k in consts {
                if !wide && k > 0xffff_ffff {
                    continue; // the parser rejects 32-bit constants that do not fit
                }
                let text = format!("default allow\nerrno 99 {syscall} if {param} {op} {k:#x}\n");
                let f = Filter::text(&format!("cmp-{syscall}"), &text);
                let mut values: Vec<u64> = vec![
                    k,
                    k.wrapping_sub(1),
                    k.wrapping_add(1),
                    k ^ 0xffff_ffff_0000_0000,
                    k ^ 0x0000_0000_ffff_ffff,
                    k | 0x1_0000_0000,
                ];
                values.sort_unstable();
                values.dedup();
                let mut args: Vec<String> =
                    vec!["raw_many".into(), nr.to_string(), idx.to_string()];
                args.extend(fixed.iter().map(|a| format!("{a:#x}")));
                args.extend(values.iter().map(|v| format!("{v:#x}")));
                let (lines, end) = run_lines(Some(&f), &args, Opts::default());
                assert!(matches!(end, Res::Done { .. }), "{text}: {end}");
                assert_eq!(lines.len(), values.len(), "{text}");
                for (v, got) in values.iter().zip(&lines) {
                    let mut a = fixed;
                    a[idx] = *v;
                    let seen = if wide { *v } else { *v & 0xffff_ffff };
                    let pred = match op {
                        "==" => seen == k,
                        "!=" => seen != k,
                        "<" => seen < k,
                        "<=" => seen <= k,
                        ">" => seen > k,
                        _ => seen >= k,
                    };
                    let eval = f.evaluate(nr, a);
                    assert_eq!(
                        eval == moat_policy::Action::Errno(99),
                        pred,
                        "evaluator vs predicate: {text} value {v:#x}"
                    );
                    let denied = got.errno() == Some(99);
                    assert_eq!(
                        denied, pred,
                        "kernel vs predicate: {text} value {v:#x}: {got}"
                    );
                    checked += 1;
                }
            }
        }
    }
    eprintln!("ordered comparisons: {checked} calls checked in the kernel");
    assert!(checked > 300);
}

/// B3: a sign-extended and a zero-extended -2 are the same 32-bit pid.
#[test]
fn sign_extended_negatives_match_32_bit_rules() {
    let f = Filter::text("pid-neg", "default allow\nerrno 99 kill if pid == -2\n");
    let args: Vec<String> =
        "raw_many 62 0 0 0 0 0 0 0 0xfffffffe 0xfffffffffffffffe 0x1fffffffe 2 -3"
            .split_whitespace()
            .map(String::from)
            .collect();
    let (lines, _) = run_lines(Some(&f), &args, Opts::default());
    let got: Vec<Option<i32>> = lines.iter().map(Res::errno).collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert_eq!(&got[..3], &[Some(99), Some(99), Some(99)], "{lines:?}");
    assert_ne!(got[3], Some(99));
    assert_ne!(got[4], Some(99));
}

#[test]
fn kernel_surface() {
    let c = container();
    let dir = fresh_dir("mount-target");
    std::fs::create_dir_all(&dir).unwrap();
    let mut attacks = vec![
        // E2: old and new mount APIs, pivot_root (inside a private mount namespace).
        attack(&format!("mount {dir}"), succeeds, Want::Errno(EPERM)).private_mounts(),
        attack(
            "umount2 /nonexistent-moat",
            reaches_kernel,
            Want::Errno(EPERM),
        ),
        attack("pivot_root", reaches_kernel, Want::Errno(EPERM)),
        attack("fsopen", succeeds, Want::Errno(EPERM)),
        attack("fsmount", succeeds, Want::Errno(EPERM)).private_mounts(),
        attack("fsconfig", reaches_kernel, Want::Errno(EPERM)),
        attack("fspick", succeeds, Want::Errno(EPERM)).private_mounts(),
        attack("open_tree", succeeds, Want::Errno(EPERM)).private_mounts(),
        attack("move_mount", reaches_kernel, Want::Errno(EPERM)),
        attack("mount_setattr", reaches_kernel, Want::Errno(EPERM)),
        // E3/E4: eBPF, perf.
        attack("bpf", succeeds, Want::Errno(EPERM)),
        attack("perf_event_open", succeeds, Want::Errno(EPERM)),
        // E5: keyrings.
        attack("keyctl", succeeds, Want::Errno(EPERM)),
        attack("add_key", succeeds, Want::Errno(EPERM)),
        attack("request_key", reaches_kernel, Want::Errno(EPERM)),
        // E6: userfaultfd, the syscall.
        attack("userfaultfd", succeeds, Want::Errno(EPERM)),
        // E7: io_uring.
        attack("io_uring_setup", succeeds, Want::Errno(EPERM)),
        attack("io_uring_enter", reaches_kernel, Want::Errno(EPERM)),
        attack("io_uring_register", reaches_kernel, Want::Errno(EPERM)),
        // E11: Shocker.
        attack("open_by_handle_at", succeeds, Want::Errno(EPERM)),
        // E12: modules, kexec, reboot. Modules and kexec are compiled out here (ENOSYS), so
        // EPERM shows the filter answered; reboot has an invalid magic2 (EINVAL unconfined).
        attack("init_module", ran, Want::Errno(EPERM)).confine_anyway(),
        attack("finit_module", ran, Want::Errno(EPERM)).confine_anyway(),
        attack("delete_module", ran, Want::Errno(EPERM)).confine_anyway(),
        attack("kexec_load", ran, Want::Errno(EPERM)).confine_anyway(),
        attack("kexec_file_load", ran, Want::Errno(EPERM)).confine_anyway(),
        attack("reboot", reaches_kernel, Want::Errno(EPERM)),
        // E13: swap, clock.
        attack("swapon", reaches_kernel, Want::Errno(EPERM)),
        attack("swapoff", reaches_kernel, Want::Errno(EPERM)),
        attack("clock_settime", reaches_kernel, Want::Errno(EPERM)),
        attack("settimeofday", succeeds, Want::Errno(EPERM)),
        // E14: NUMA page migration.
        attack("move_pages 0", succeeds, Want::Errno(EPERM)),
        attack("migrate_pages 0", succeeds, Want::Errno(EPERM)),
        attack("mbind", succeeds, Want::Errno(EPERM)),
    ];
    // E1: setns into the caller's namespaces of every kind.
    for ns in ["mnt", "net", "uts", "ipc", "pid", "cgroup", "time"] {
        attacks.push(attack(&format!("setns {ns}"), succeeds, Want::Errno(EPERM)));
    }
    run_all("kernel", &[&c], &attacks);
}

/// E6 (documented limit): since Linux 6.1 `/dev/userfaultfd` hands out the same file as the
/// syscall, through `open` and an ioctl that the container profile allows. Closing it needs a
/// device rule (the runner not exposing the node, or Landlock); `docs/security.md` says so.
/// This test fails if the profile starts covering it, so the documentation gets updated.
#[test]
fn dev_userfaultfd_needs_a_device_rule() {
    let c = container();
    run_all(
        "limit",
        &[&c],
        &[attack("dev_userfaultfd", succeeds, Want::Success)],
    );
}

/// E7 / F9: an allowed io_uring bypasses seccomp. Under a policy that denies mkdir and mkdirat
/// but allows io_uring, IORING_OP_MKDIRAT creates the directory anyway: the kernel runs the
/// operation without a syscall, so the filter never sees it. This is why `container` denies
/// io_uring and why the linter warns about policies that allow it.
#[test]
fn allowed_io_uring_bypasses_seccomp() {
    let f = Filter::text("deny-mkdir", "default allow\ndeny mkdir mkdirat\n");
    let dir = fresh_dir("uring-mkdir");
    let r = run(
        Some(&f),
        &["uring_mkdir".into(), dir.clone()],
        Opts::default(),
    );
    assert_eq!(
        r.extra("mkdir_errno"),
        Some("1"),
        "mkdir must be denied: {r}"
    );
    assert_eq!(
        r.extra("uring_res"),
        Some("0"),
        "IORING_OP_MKDIRAT result: {r}"
    );
    assert!(std::path::Path::new(&dir).is_dir(), "{r}");
    std::fs::remove_dir(&dir).unwrap();
    // The same under container: io_uring_setup is refused before any ring exists.
    let c = container();
    let r = run(
        Some(&c),
        &["uring_mkdir".into(), dir.clone()],
        Opts::default(),
    );
    assert_eq!(r.errno(), Some(EPERM), "{r}");
    assert_eq!(r.extra("stage"), Some("0"), "io_uring_setup must fail: {r}");
    assert!(!std::path::Path::new(&dir).exists());
}

/// E8/C10: a process outside the sandbox (a helper in victim mode, same uid, dumpable) cannot be
/// ptraced or written through process_vm_writev from inside: both are denied by the filter.
///
/// `/proc/PID/mem` is the documented limit: it is `openat` plus `pwrite`, which no seccomp
/// policy can refuse without breaking every program, and root holds CAP_SYS_PTRACE, so the
/// kernel's ptrace access check passes. The test asserts the write lands under the bare filter,
/// so `docs/security.md` stays true; the runner's layers (Landlock's ptrace scoping, a pid
/// namespace, dropping CAP_SYS_PTRACE) are what close it.
#[test]
fn processes_outside_the_sandbox_are_unreachable() {
    let c = container();
    let mut failures = Vec::new();
    for (case, want_denied) in [
        ("process_vm_writev", true),
        ("ptrace_attach", true),
        ("proc_mem", false),
    ] {
        let (probe, buf) = against_victim(None, case);
        let probed = probe.ok() && (case == "ptrace_attach" || buf == "buf=pwned");
        if !moat_testkit::require(
            probed,
            &format!("[outside] {case}: the unconfined control gave {probe}, victim {buf}"),
        ) {
            continue;
        }
        let (got, buf) = against_victim(Some(&c), case);
        eprintln!("[outside] {case}: unconfined {probe}; under container {got}, victim {buf}");
        let ok = if want_denied {
            got.errno() == Some(EPERM) && buf == "buf=untouched"
        } else {
            got.ok() && (buf == "buf=pwned")
        };
        if !ok {
            failures.push(format!("{case}: {got}, victim {buf}"));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

/// Runs attack `case` (optionally under `filter`) against a fresh victim process; returns the
/// attacker's result and the victim's buffer afterwards.
pub fn against_victim(filter: Option<&Filter>, case: &str) -> (Res, String) {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let mut v = Command::new(common::sandbox::helper())
        .arg("victim")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(v.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(k))
            .unwrap_or_default()
            .to_string()
    };
    let (pid, addr) = (field("pid="), field("addr="));
    let got = run(filter, &[case.into(), pid, addr], Opts::default());
    v.stdin.take().unwrap().write_all(b"\n").unwrap();
    let mut rest = String::new();
    out.read_line(&mut rest).unwrap();
    v.wait().unwrap();
    (got, rest.trim().to_string())
}

/// E17: the sandbox can stack its own allow-everything filter, but filters only tighten.
#[test]
fn stacked_filters_only_tighten() {
    let c = container();
    let probe = run(None, &["nested_allow".into()], Opts::default());
    assert!(probe.ok(), "unconfined: {probe}");
    let got = run(Some(&c), &["nested_allow".into()], Opts::default());
    assert_eq!(
        got.extra("stacked_errno"),
        Some("0"),
        "installing must work: {got}"
    );
    assert_eq!(
        got.errno(),
        Some(EPERM),
        "unshare after stacking ALLOW: {got}"
    );
    let status = run(Some(&c), &["status".into()], Opts::default());
    assert_eq!(status.extra("seccomp"), Some("2"), "{status}");
    assert_eq!(status.extra("nnp"), Some("1"), "{status}");
    assert_eq!(status.extra("filters"), Some("1"), "{status}");
}

/// D1: clone3 is ENOSYS, and glibc falls back to clone: a threaded program works.
#[test]
fn threads_work_through_the_clone_fallback() {
    let c = container();
    let bin = moat_attacks::helpers::build(
        "threads",
        &format!("threads-{}", std::process::id()),
        &["-pthread"],
        &common::sandbox::tmp().join("bin"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_moat-confine"))
        .arg(&c.path)
        .arg(&bin)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("clone3=ENOSYS"), "{stdout}");
    assert!(stdout.contains("threads=8 sum=36"), "{stdout}");
}

/// A7: the kernel exempts x86_64 `uretprobe` (335) and `uprobe` (336) from seccomp (6.11+ and
/// 6.16+): a rule on them has no effect. Called from outside a uprobe trampoline, 335 kills the
/// caller with SIGILL and 336 fails with ENXIO, filtered or not. If a kernel stops exempting
/// them, this test notices (errno 99 would appear).
#[test]
fn uprobe_syscalls_are_exempt_from_seccomp() {
    let f = Filter::text("deny-uprobe", "default allow\nerrno 99 uretprobe uprobe\n");
    let sigill = 4;
    run_all(
        "kernel-fact",
        &[&f],
        &[
            attack("raw 335", |r| *r == Res::Signal(4), Want::Signal(sigill)),
            attack("raw 336", |r| r.errno() == Some(6), Want::Errno(6)),
        ],
    );
}

/// A known false denial, kept visible: `container` denies the `@clock` group, which includes
/// `adjtimex` and `clock_adjtime`. Their read-only form (`modes == 0`, used by `ntp_gettime()`,
/// `busybox adjtimex`, monitoring agents) sits in a struct BPF cannot read, so the profile
/// cannot tell it from setting the clock; Docker allows both and relies on CAP_SYS_TIME.
/// `docs/security.md` lists it. This test flips when the profile changes.
#[test]
fn read_only_adjtimex_is_denied_by_container() {
    let c = container();
    let probe = run(
        None,
        &["raw".into(), "159".into(), "0".into()],
        Opts::default(),
    );
    // adjtimex(NULL) reaches the kernel: EFAULT unconfined.
    assert_eq!(probe.errno(), Some(14), "{probe}");
    let got = run(
        Some(&c),
        &["raw".into(), "159".into(), "0".into()],
        Opts::default(),
    );
    assert_eq!(got.errno(), Some(EPERM), "{got}");
}

/// `strict` kills anything outside its allow-list. It has no `execve`, so it is installed in a
/// forked child of the test (as an application would confine itself) instead of before a helper.
#[test]
fn strict_kills_calls_outside_its_allow_list() {
    use moat_sys::testing::{ChildStatus, in_child, no_core_dumps};
    let s = Filter::builtin("strict");
    // Allowed: getpid and write to a pipe, then exit with a code.
    let (mut r, w) = moat_sys::testing::pipe().unwrap();
    let st = in_child(|| {
        no_core_dumps().unwrap();
        moat_sys::install(&s.program, moat_sys::Flags::NONE).unwrap();
        let pid = std::process::id();
        use std::io::Write;
        let mut w = &w;
        let _ = writeln!(w, "pid {pid}");
        7
    })
    .unwrap();
    drop(w);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut r, &mut text).unwrap();
    assert_eq!(st, ChildStatus::Exited(7), "{text}");
    assert!(text.starts_with("pid "), "{text}");
    // Not allowed: openat kills the whole process with SIGSYS.
    let st = in_child(|| {
        no_core_dumps().unwrap();
        moat_sys::install(&s.program, moat_sys::Flags::NONE).unwrap();
        let _ = std::fs::File::open("/etc/hostname");
        0
    })
    .unwrap();
    assert_eq!(st, ChildStatus::Signaled(SIGSYS));
}

/// A probe: did the unconfined attempt show the kernel supports the attack?
type Probe = fn(&Res) -> bool;

/// Docker parity (catalogue H6): the same attacks under the filter runc installs for Docker's
/// default profile (libseccomp's compilation of `shared/fixtures/docker-default.json`, Docker's
/// default capabilities) and under `container`. Every difference is intentional and listed in
/// `docs/security.md`; the Docker column shows what Docker's profile lets through on this kernel.
#[test]
fn docker_default_profile_parity() {
    let docker = Filter::docker_runc();
    let c = container();
    let ok = Want::Success;
    let eperm = Want::Errno(EPERM);
    #[rustfmt::skip]
    let table: Vec<(&str, Probe, Want, Want)> = vec![
        // (attack, probe, container, docker)
        ("socket 40", succeeds, eperm, eperm),
        // B2: Docker's 64-bit `arg0 > 40` rule passes AF_VSOCK with a junk high word.
        ("socket 0x100000028", succeeds, eperm, ok),
        // A5: Docker allows socketcall, so i386 reaches AF_VSOCK.
        ("i386_socketcall 40", succeeds, eperm, ok),
        // B1/E10: Docker allows ioctl unconditionally.
        ("tiocsti 0x5412", succeeds, eperm, ok),
        ("tiocsti 0x100005412", succeeds, eperm, ok),
        ("int80 310 0x10000000", succeeds, eperm, eperm),
        ("clone 0x10000000", succeeds, eperm, eperm),
        ("clone 0x110000000", succeeds, eperm, eperm),
        ("raw 272 0x80", succeeds, eperm, eperm),
        ("clone3 0x10000000", succeeds, Want::Errno(ENOSYS), Want::Errno(ENOSYS)),
        ("personality 0x40000", succeeds, eperm, eperm),
        ("personality 0x100040000", succeeds, eperm, eperm),
        ("io_uring_setup", succeeds, eperm, eperm),
        ("bpf", succeeds, eperm, eperm),
        ("keyctl", succeeds, eperm, eperm),
        ("userfaultfd", succeeds, eperm, eperm),
        ("open_by_handle_at", succeeds, eperm, eperm),
        ("fsopen", succeeds, eperm, eperm),
        // x32: Docker accepts the x32 ABI (the kernel then answers ENOSYS here); moat kills.
        ("raw 0x40000027", ran, Want::Signal(SIGSYS), Want::Errno(ENOSYS)),
        // A4: numbers above Docker's list get runc's ENOSYS stub.
        ("raw 1000", ran, Want::Errno(ENOSYS), Want::Errno(ENOSYS)),
    ];
    let build = |docker_side: bool| -> Vec<common::sandbox::Attack> {
        table
            .iter()
            .map(|(a, probe, cw, dw)| {
                let at = attack(a, *probe, if docker_side { *dw } else { *cw });
                // x32 and unknown numbers: the kernel answers ENOSYS itself; the filters'
                // answers still differ or agree observably.
                if a.starts_with("raw ") {
                    at.confine_anyway()
                } else {
                    at
                }
            })
            .collect()
    };
    run_all("docker-parity", &[&c], &build(false));
    run_all("docker-parity", &[&docker], &build(true));
    // moat's own `docker` profile (compiled for Docker's default capabilities) gives Docker's
    // answers except where moat's semantics differ: `socket`'s family is an `int`, compared on
    // 32 bits (the high-word bypass is closed), and numbers moat does not know get the profile's
    // `unknown deny` (EPERM) where runc's stub answers ENOSYS.
    let dm = Filter::docker_moat();
    let dm_attacks: Vec<common::sandbox::Attack> = table
        .iter()
        .map(|(a, probe, _, dw)| {
            let want = match *a {
                "socket 0x100000028" => eperm,
                "raw 1000" => eperm,
                _ => *dw,
            };
            let at = attack(a, *probe, want);
            if a.starts_with("raw ") {
                at.confine_anyway()
            } else {
                at
            }
        })
        .collect();
    run_all("docker-parity", &[&dm], &dm_attacks);
    // The B2 bypass under Docker's filter really opened an AF_VSOCK socket.
    let r = run(
        Some(&docker),
        &["socket".into(), "0x100000028".into()],
        Opts::default(),
    );
    assert_eq!(r.extra("domain"), Some("40"), "{r}");
    // E8: Docker allows ptrace and process_vm_* on kernels >= 4.8 and relies on the pid
    // namespace; without one, the write into an outside process lands.
    let (r, buf) = against_victim(Some(&docker), "process_vm_writev");
    eprintln!("[docker-parity] process_vm_writev under docker: {r}, victim {buf}");
    assert!(r.ok() && buf == "buf=pwned", "{r} {buf}");
    let (r, buf) = against_victim(Some(&c), "process_vm_writev");
    assert!(
        r.errno() == Some(EPERM) && buf == "buf=untouched",
        "{r} {buf}"
    );
}

/// A1/A6 with the i386 ABI not accepted (`arch native`, the language's default): every i386 call
/// gets `badarch` (kill), whatever the number means on x86_64: i386 20 (`getpid`; x86_64 20 is
/// `writev`) and i386 21 (`mount`; x86_64 21 is `access`, which the policy allows).
#[test]
fn non_native_abi_is_killed_when_not_accepted() {
    let f = Filter::text("native-only", "default allow\narch native\ndeny mount\n");
    let dir = fresh_dir("native-only-mount");
    std::fs::create_dir_all(&dir).unwrap();
    run_all(
        "abi-native",
        &[&f],
        &[
            attack("int80 20", succeeds, Want::Signal(SIGSYS)),
            attack(&format!("i386_mount {dir}"), succeeds, Want::Signal(SIGSYS)).private_mounts(),
            // Control: the same policy allows native getpid and denies native mount.
            attack("raw 39", succeeds, Want::Success),
            attack(&format!("mount {dir}"), succeeds, Want::Errno(EPERM)).private_mounts(),
        ],
    );
}
