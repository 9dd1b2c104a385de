//! The lint table: crafted bad policies, each expected code at the right line and column.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use moat_analyze::{Level, Subject, lint};
use moat_bpf::Program;
use moat_bpf::builder::{Builder, JumpOp};
use moat_policy::{Context, Policy};

fn findings(src: &str) -> Vec<moat_analyze::Finding> {
    let p = if src.contains(' ') {
        Policy::parse(src, "bad.moat").unwrap_or_else(|e| panic!("{e}\n{src}"))
    } else {
        Policy::builtin(src).unwrap().unwrap()
    };
    let s = Subject::policy(p, &Context::default()).unwrap();
    lint(&s, &Context::default()).unwrap()
}

/// (policy, code, line, col) — the finding must be reported at exactly that position.
const TABLE: &[(&str, &str, u32, u32)] = &[
    ("default allow", "allows-bpf", 1, 1),
    ("default allow\nallow bpf", "allows-bpf", 2, 1),
    ("use container\nallow bpf", "allows-bpf", 2, 1),
    ("use container\nallow clone", "allows-user-namespaces", 2, 1),
    (
        "use container\nallow unshare",
        "allows-user-namespaces",
        2,
        1,
    ),
    (
        "use container\n  allow clone3",
        "allows-user-namespaces",
        2,
        3,
    ),
    ("use container\nallow keyctl", "allows-keyring", 2, 1),
    ("use container\nallow @io-uring", "allows-io-uring", 2, 1),
    (
        "use container\nallow perf_event_open",
        "allows-perf-event-open",
        2,
        1,
    ),
    ("use container\nallow ptrace", "allows-ptrace", 2, 1),
    (
        "use container\nallow process_vm_writev",
        "allows-ptrace",
        2,
        1,
    ),
    (
        "use container\nallow personality",
        "allows-personality",
        2,
        1,
    ),
    ("use container\nallow ioctl", "allows-tiocsti", 2, 1),
    (
        "use container\nallow open_by_handle_at",
        "allows-open-by-handle-at",
        2,
        1,
    ),
    (
        "use container\nallow finit_module",
        "allows-kernel-code",
        2,
        1,
    ),
    (
        "use container\nallow kexec_load",
        "allows-kernel-code",
        2,
        1,
    ),
    ("use container\nallow socket", "allows-vsock-alg", 2, 1),
    // Equivalent calls.
    ("use container\ndeny open", "equivalent-call-gap", 2, 1),
    ("use container\ndeny execve", "equivalent-call-gap", 2, 1),
    (
        "default allow\narch x86_64\ndeny clone if flags & CLONE_NEWUSER",
        "equivalent-call-gap",
        3,
        1,
    ),
    ("use container\nallow socketcall", "socketcall-bypass", 2, 1),
    // Allow-lists.
    (
        "default kill\nallow read write exit",
        "missing-essential",
        1,
        1,
    ),
    (
        "default errno EPERM\nallow read write exit_group rt_sigreturn",
        "missing-essential",
        1,
        1,
    ),
    // Rules that change nothing.
    ("default allow\ndeny bpf\nallow bpf", "shadowed-rule", 2, 1),
    (
        "default allow\ndeny mmap if prot & 4\ndeny mmap",
        "shadowed-rule",
        2,
        1,
    ),
    ("use container\nallow read", "rule-equals-default", 2, 1),
    (
        "default kill\nallow read write exit_group rt_sigreturn restart_syscall\nkill bpf",
        "rule-equals-default",
        3,
        1,
    ),
    // `errno 0`: the privilege-drop hazard (a pod annotation made a uid-1000 container root).
    (
        "use container\nerrno 0 capset setuid setgid",
        "errno-zero",
        2,
        1,
    ),
    ("use container\n  errno 0 mkdir", "errno-zero", 2, 3),
    ("use container\ndefault errno 0", "errno-zero", 2, 1),
    // Unknown numbers.
    ("use container\nunknown errno EPERM", "unknown-eperm", 2, 1),
    ("use container\nunknown allow", "unknown-allows", 2, 1),
    // A 32-bit parameter compared with a value written in 64 bits.
    (
        "use container\ndeny write if fd == 0xffffffffffffffff",
        "wide-value",
        2,
        21,
    ),
    (
        "use container\ndeny kill if arg0 in {1, 0xffff_ffff_ffff_fffe}",
        "wide-value",
        2,
        26,
    ),
];

/// `wide-value` names the value the kernel sees, and only literals raise it: `AT_FDCWD` is
/// stored sign-extended, and `-1` is already the parameter's value.
#[test]
fn wide_value_says_what_is_compared() {
    let f = findings("use container\ndeny write if fd == 0xffffffffffffffff");
    let w = f.iter().find(|x| x.code == "wide-value").unwrap();
    assert_eq!(w.level, Level::Warning);
    assert!(w.message.contains("0xffffffff"), "{}", w.message);
    assert!(w.fix.contains("write -1"), "{}", w.fix);
    for clean in [
        "use container\ndeny openat if dirfd == AT_FDCWD",
        "use container\ndeny write if fd == -1",
        "use container\ndeny write if fd == 0xffffffff",
        "arch x86_64\ndefault allow\ndeny write if count == 0xffffffffffffffff",
    ] {
        let f = findings(clean);
        assert!(f.iter().all(|x| x.code != "wide-value"), "{clean}: {f:#?}");
    }
}

#[test]
fn table() {
    let mut errors = Vec::new();
    for &(src, code, line, col) in TABLE {
        let f = findings(src);
        let at: Vec<_> = f
            .iter()
            .filter(|x| x.code == code)
            .filter_map(|x| {
                x.location
                    .as_ref()
                    .map(|l| (l.origin.to_string(), l.span.line, l.span.col))
            })
            .collect();
        if !at.contains(&("bad.moat".to_string(), line, col)) {
            errors.push(format!(
                "{src:?}: expected {code} at {line}:{col}, got {:?}",
                f.iter()
                    .map(|x| (x.code, x.location.as_ref().map(ToString::to_string)))
                    .collect::<Vec<_>>()
            ));
        }
        assert!(f.iter().all(|x| !x.fix.is_empty() && !x.message.is_empty()));
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn container_reports_nothing_above_info() {
    let f = findings("container");
    let bad: Vec<_> = f.iter().filter(|x| x.level > Level::Info).collect();
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn strict_reports_nothing_above_info() {
    let f = findings("strict");
    let bad: Vec<_> = f.iter().filter(|x| x.level > Level::Info).collect();
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn clean_policies_have_no_findings_for_these_codes() {
    // The fixes the findings suggest make them go away.
    let f = findings("use container\nallow ioctl\ndeny ioctl if request in {TIOCSTI, TIOCLINUX}");
    assert!(f.iter().all(|x| x.code != "allows-tiocsti"), "{f:#?}");
    let f = findings("use container\ndeny open openat openat2");
    assert!(f.iter().all(|x| x.code != "equivalent-call-gap"), "{f:#?}");
}

/// x86_64: deny `mkdir` (83) by number, allow the rest, without looking at the architecture.
fn no_arch_check() -> Program {
    let mut b = Builder::new();
    let (deny, allow) = (b.label(), b.label());
    b.load(0);
    b.jump(JumpOp::Eq, 83, deny, allow);
    b.bind(deny);
    b.ret(0x0005_0001);
    b.bind(allow);
    b.ret(0x7fff_0000);
    b.finish().unwrap()
}

/// Checks x86_64, then denies `mkdir` by number, no x32 guard; `getpid` (39) allowed only after
/// loading an argument (uncacheable).
fn no_x32_guard() -> Program {
    let mut b = Builder::new();
    let (kill, deny, allow, native, getpid, other) = (
        b.label(),
        b.label(),
        b.label(),
        b.label(),
        b.label(),
        b.label(),
    );
    b.load(4);
    b.jump(JumpOp::Eq, 0xc000_003e, native, kill);
    b.bind(native);
    b.load(0);
    let n2 = b.label();
    b.jump(JumpOp::Eq, 83, deny, n2);
    b.bind(n2);
    b.jump(JumpOp::Eq, 39, getpid, other);
    b.bind(getpid);
    b.load(16);
    b.jump(JumpOp::Eq, 12345, allow, allow);
    b.bind(other);
    b.goto(allow);
    b.bind(deny);
    b.ret(0x0005_0001);
    b.bind(allow);
    b.ret(0x7fff_0000);
    b.bind(kill);
    b.ret(0x8000_0000);
    b.finish().unwrap()
}

#[test]
fn raw_bpf_table() {
    let ctx = Context::default();
    let codes = |p: Program| -> Vec<&'static str> {
        let s = Subject::filters(vec![p], "raw.bpf");
        lint(&s, &ctx)
            .unwrap()
            .into_iter()
            .map(|f| f.code)
            .collect()
    };
    let a = codes(no_arch_check());
    assert!(a.contains(&"bpf-no-arch-check"), "{a:?}");
    let b = codes(no_x32_guard());
    assert!(b.contains(&"bpf-no-x32-guard"), "{b:?}");
    assert!(b.contains(&"uncacheable-allow"), "{b:?}");
    assert!(!b.contains(&"bpf-no-arch-check"), "{b:?}");
    assert!(b.contains(&"allows-bpf"), "{b:?}");
}

#[test]
fn raw_bpf_returning_errno_zero_is_flagged() {
    let mut b = Builder::new();
    b.ret(0x0005_0000);
    let s = Subject::filters(vec![b.finish().unwrap()], "raw.bpf");
    let f = lint(&s, &Context::default()).unwrap();
    let e = f
        .iter()
        .find(|f| f.code == "errno-zero")
        .expect("errno-zero");
    assert_eq!(e.level, Level::Error);
    assert!(e.message.contains("drop privileges"), "{}", e.message);
}

/// libseccomp's comparison of ioctl's `request`: the high word must be 0 and the low word
/// TIOCSTI. Then `ioctl(fd, 0x1_0000_5412)` runs, and the kernel reads TIOCSTI.
fn tiocsti_compared_on_64_bits(check_high: bool) -> Program {
    let mut b = Builder::new();
    let (kill, deny, allow, native, ioctl, low) = (
        b.label(),
        b.label(),
        b.label(),
        b.label(),
        b.label(),
        b.label(),
    );
    b.load(4);
    b.jump(JumpOp::Eq, 0xc000_003e, native, kill);
    b.bind(native);
    b.load(0);
    b.jump(JumpOp::Eq, 16, ioctl, allow);
    b.bind(ioctl);
    if check_high {
        b.load(28); // args[1], high word (little-endian)
        b.jump(JumpOp::Eq, 0, low, allow);
    }
    b.bind(low);
    b.load(24); // args[1], low word
    b.jump(JumpOp::Eq, 0x5412, deny, allow);
    b.bind(deny);
    b.ret(0x0005_0001);
    b.bind(allow);
    b.ret(0x7fff_0000);
    b.bind(kill);
    b.ret(0x8000_0000);
    b.finish().unwrap()
}

#[test]
fn raw_bpf_comparing_the_high_word_of_a_32_bit_parameter_is_flagged() {
    let s = Subject::filters(vec![tiocsti_compared_on_64_bits(true)], "raw.bpf");
    let f = lint(&s, &Context::default()).unwrap();
    let e = f
        .iter()
        .find(|f| f.code == "bpf-wide-compare")
        .expect("bpf-wide-compare");
    assert_eq!(e.level, Level::Error);
    assert_eq!(e.syscall.as_deref(), Some("ioctl"));
    assert!(
        e.message.contains("request of ioctl is 32-bit"),
        "{}",
        e.message
    );
    // The same program comparing only the low word is clean.
    let s = Subject::filters(vec![tiocsti_compared_on_64_bits(false)], "raw.bpf");
    let f = lint(&s, &Context::default()).unwrap();
    assert!(f.iter().all(|f| f.code != "bpf-wide-compare"), "{f:#?}");
}
