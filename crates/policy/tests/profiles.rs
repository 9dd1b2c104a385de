//! Table tests of the built-in profiles with the reference evaluator, and of `use`, `kernel` and
//! multiplexer semantics.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use moat_policy::{Action, Context, Decider, Policy};
use moat_syscalls::Arch;

const EPERM: Action = Action::Errno(1);
const ENOSYS: Action = Action::Errno(38);
const ALLOW: Action = Action::Allow;
const KILL: Action = Action::KillProcess;

/// The deciding line (`origin:line`) or `default` / `unknown` / `badarch`.
fn verdict(p: &Policy, arch: Arch, name_or_nr: &str, args: &[u64]) -> (Action, String) {
    let nr = name_or_nr
        .parse::<u32>()
        .ok()
        .or_else(|| arch.by_name(name_or_nr).map(|s| s.nr))
        .unwrap_or_else(|| panic!("{name_or_nr} not on {arch}"));
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    let v = p.evaluate(&Context::default(), arch.audit_arch(), nr, a);
    // The lowering agrees on every case of the table.
    assert_eq!(
        p.lower(&Context::default())
            .unwrap()
            .action(arch.audit_arch(), nr, &a),
        v.action,
        "{arch} {name_or_nr}"
    );
    let who = match v.decided_by {
        Decider::Rule { index, span } => {
            format!("{}:{}", p.rules()[index].location.origin, span.line)
        }
        Decider::Default => "default".into(),
        Decider::Unknown => "unknown".into(),
        Decider::BadArch => "badarch".into(),
    };
    (v.action, who)
}

#[test]
fn container_table() {
    use Arch::{Aarch64, X32, X86, X86_64};
    let p = Policy::builtin("container").unwrap().unwrap();
    assert_eq!(
        p.arches(),
        &[X86_64, X86],
        "native + compat on this x86_64 host"
    );
    let c = |line: u32| format!("container:{line}");
    let cases: &[(Arch, &str, &[u64], Action, String)] = &[
        // namespaces
        (X86_64, "unshare", &[0x1000_0000], EPERM, c(5)),
        (X86_64, "setns", &[3, 0], EPERM, c(5)),
        (X86_64, "clone", &[0x1000_0000 | 17], EPERM, c(6)),
        (
            X86_64,
            "clone",
            &[0x1_0000_0000 | 0x1000_0000 | 17],
            EPERM,
            c(6),
        ),
        (X86_64, "clone", &[0x80 | 17], EPERM, c(6)), // CLONE_NEWTIME
        (X86_64, "clone", &[17], ALLOW, "default".into()),
        (X86_64, "clone", &[0x3d0f00], ALLOW, "default".into()), // pthread_create's flags
        (X86, "clone", &[0x2000_0000 | 17], EPERM, c(6)),        // CLONE_NEWUTS via int 0x80
        (X86_64, "clone3", &[0, 88], ENOSYS, c(7)),
        (X86, "clone3", &[0, 88], ENOSYS, c(7)),
        // mounts
        (X86_64, "mount", &[], EPERM, c(8)),
        (X86_64, "fsopen", &[], EPERM, c(8)),
        (X86_64, "open_tree_attr", &[], EPERM, c(8)),
        (X86, "umount", &[], EPERM, c(8)),
        (X86_64, "pivot_root", &[], EPERM, c(8)),
        (X86_64, "chroot", &[], ALLOW, c(9)),
        (X86_64, "statmount", &[], ALLOW, c(9)),
        // kernel attack surface
        (X86_64, "bpf", &[], EPERM, c(10)),
        (X86_64, "perf_event_open", &[], EPERM, c(10)),
        (X86_64, "userfaultfd", &[], EPERM, c(10)),
        (X86_64, "io_uring_setup", &[8, 0], EPERM, c(10)),
        (X86, "io_uring_enter", &[], EPERM, c(10)),
        (X86_64, "keyctl", &[1], EPERM, c(11)),
        (X86_64, "add_key", &[], EPERM, c(11)),
        (X86_64, "finit_module", &[], EPERM, c(11)),
        (X86_64, "kexec_load", &[], EPERM, c(11)),
        (X86_64, "reboot", &[], EPERM, c(11)),
        (X86_64, "swapon", &[], EPERM, c(11)),
        (X86_64, "settimeofday", &[], EPERM, c(11)),
        (X86_64, "clock_settime", &[], EPERM, c(11)),
        (X86, "clock_settime64", &[], EPERM, c(11)), // time64 twin
        (X86, "clock_adjtime64", &[], EPERM, c(11)),
        (X86, "stime", &[], EPERM, c(11)),
        (X86_64, "clock_gettime", &[], ALLOW, "default".into()),
        (X86, "clock_gettime64", &[], ALLOW, "default".into()),
        (X86_64, "open_by_handle_at", &[], EPERM, c(12)),
        (X86_64, "name_to_handle_at", &[], ALLOW, "default".into()),
        (X86_64, "ptrace", &[0], EPERM, c(13)),
        (X86_64, "process_vm_writev", &[], EPERM, c(13)),
        (X86_64, "pidfd_getfd", &[], EPERM, c(13)),
        (X86_64, "kcmp", &[], EPERM, c(13)),
        (X86_64, "move_pages", &[], EPERM, c(14)),
        (X86_64, "set_mempolicy_home_node", &[], EPERM, c(14)),
        (X86_64, "get_mempolicy", &[], ALLOW, "default".into()),
        // personality: Docker's five values, compared on 32 bits
        (X86_64, "personality", &[0], ALLOW, "default".into()),
        (X86_64, "personality", &[8], ALLOW, "default".into()),
        (X86_64, "personality", &[0x20000], ALLOW, "default".into()),
        (X86_64, "personality", &[0x20008], ALLOW, "default".into()),
        (
            X86_64,
            "personality",
            &[0xffff_ffff],
            ALLOW,
            "default".into(),
        ),
        (X86_64, "personality", &[u64::MAX], ALLOW, "default".into()), // the kernel sees 0xffffffff
        (
            X86_64,
            "personality",
            &[0x1_0000_0008],
            ALLOW,
            "default".into(),
        ), // the kernel sees 8
        (X86_64, "personality", &[0x0040000], EPERM, c(15)),           // ADDR_NO_RANDOMIZE
        (X86_64, "personality", &[0x0400000], EPERM, c(15)),           // READ_IMPLIES_EXEC
        (X86_64, "personality", &[0x0100000], EPERM, c(15)),           // MMAP_PAGE_ZERO
        (X86_64, "personality", &[0x1_0004_0000], EPERM, c(15)),
        (X86, "personality", &[0x0040000], EPERM, c(15)),
        // ioctl: TIOCSTI and TIOCLINUX, junk in the high word does not help
        (X86_64, "ioctl", &[0, 0x5412], EPERM, c(16)),
        (X86_64, "ioctl", &[0, 0x1_0000_5412], EPERM, c(16)),
        (X86_64, "ioctl", &[0, 0xffff_ffff_0000_5412], EPERM, c(16)),
        (X86_64, "ioctl", &[0, 0x541c], EPERM, c(16)),
        (X86_64, "ioctl", &[0, 0x5401], ALLOW, "default".into()), // TCGETS
        (X86, "ioctl", &[0, 0x5412], EPERM, c(16)),
        // sockets: AF_VSOCK and AF_ALG, junk high word included
        (X86_64, "socket", &[40, 1, 0], EPERM, c(17)),
        (X86_64, "socket", &[38, 5, 0], EPERM, c(17)),
        (X86_64, "socket", &[0x1_0000_0028, 1, 0], EPERM, c(17)),
        (X86_64, "socket", &[2, 1, 0], ALLOW, "default".into()),
        (X86_64, "socket", &[1, 1, 0], ALLOW, "default".into()),
        (X86, "socket", &[40, 1, 0], EPERM, c(17)),
        (X86, "socket", &[2, 1, 0], ALLOW, "default".into()),
        // x86 socketcall: the socket rule applies to all of SYS_SOCKET (arguments behind a pointer)
        (X86, "socketcall", &[1, 0x1000], EPERM, c(17)),
        (X86, "socketcall", &[2, 0x1000], ALLOW, "default".into()),
        (X86, "socketcall", &[3, 0x1000], ALLOW, "default".into()),
        // obsolete and host-global
        (X86_64, "acct", &[], EPERM, c(18)),
        (X86_64, "iopl", &[], EPERM, c(18)),
        (X86_64, "_sysctl", &[], EPERM, c(18)),
        (X86, "vm86old", &[], EPERM, c(18)),
        (X86_64, "syslog", &[], EPERM, c(18)),
        (X86_64, "modify_ldt", &[], ALLOW, "default".into()),
        // ordinary calls
        (X86_64, "read", &[], ALLOW, "default".into()),
        (X86_64, "openat", &[], ALLOW, "default".into()),
        (X86, "getpid", &[], ALLOW, "default".into()),
        (X86, "setuid32", &[0], ALLOW, "default".into()),
        // unknown numbers: ENOSYS
        (X86_64, "1000", &[], ENOSYS, "unknown".into()),
        (X86_64, "512", &[], ENOSYS, "unknown".into()),
        (X86, "1000", &[], ENOSYS, "unknown".into()),
        // other ABIs: killed
        (X32, "getpid", &[], KILL, "badarch".into()),
        (X32, "mount", &[], KILL, "badarch".into()),
        (Aarch64, "getpid", &[], KILL, "badarch".into()),
        (Arch::Arm, "getpid", &[], KILL, "badarch".into()),
    ];
    for (arch, name, args, action, who) in cases {
        let got = verdict(&p, *arch, name, args);
        assert_eq!(got, (*action, who.clone()), "{arch} {name}({args:x?})");
    }
    // The nr -1 that tracers use to skip a call has bit 30 set: on x86_64 it is an x32 number.
    let v = p.evaluate(
        &Context::default(),
        Arch::X86_64.audit_arch(),
        u32::MAX,
        [0; 6],
    );
    assert_eq!(v.decided_by, Decider::BadArch);
}

#[test]
fn container_reasons_are_kept() {
    let p = Policy::builtin("container").unwrap().unwrap();
    assert!(p.rules().len() >= 12);
    for r in p.rules() {
        assert!(
            r.reason.as_deref().is_some_and(|s| s.len() > 10),
            "{r} has no reason"
        );
    }
    assert!(p.source().lines().count() <= 20);
}

#[test]
fn strict_table() {
    let p = Policy::builtin("strict").unwrap().unwrap();
    assert_eq!(p.arches(), &[Arch::native()]);
    for name in [
        "read",
        "write",
        "close",
        "mmap",
        "futex",
        "clock_gettime",
        "rt_sigreturn",
        "exit_group",
        "getrandom",
    ] {
        assert_eq!(verdict(&p, Arch::X86_64, name, &[]).0, ALLOW, "{name}");
    }
    for name in [
        "openat", "execve", "socket", "clone", "ptrace", "mount", "ioctl", "unshare",
    ] {
        assert_eq!(
            verdict(&p, Arch::X86_64, name, &[]),
            (KILL, "default".into()),
            "{name}"
        );
    }
    assert_eq!(
        verdict(&p, Arch::X86_64, "1000", &[]),
        (ENOSYS, "unknown".into())
    );
    assert_eq!(
        verdict(&p, Arch::X86, "read", &[]),
        (KILL, "badarch".into())
    );
}

#[test]
fn later_rules_override_and_use_splices() {
    let p = Policy::parse("use container\nallow bpf\n", "talk.moat").unwrap();
    assert_eq!(
        verdict(&p, Arch::X86_64, "bpf", &[]),
        (ALLOW, "talk.moat:2".into())
    );
    assert_eq!(
        verdict(&p, Arch::X86_64, "unshare", &[0]),
        (EPERM, "container:5".into())
    );
    // Settings from the used profile can be overridden too.
    let p = Policy::parse("use container\ndefault errno 13\narch x86_64\n", "o.moat").unwrap();
    assert_eq!(p.arches(), &[Arch::X86_64]);
    assert_eq!(
        verdict(&p, Arch::X86_64, "read", &[]),
        (Action::Errno(13), "default".into())
    );
    assert_eq!(
        verdict(&p, Arch::X86, "read", &[]),
        (KILL, "badarch".into())
    );
}

#[test]
fn kernel_cut_makes_newer_calls_unknown_unless_named() {
    let p = Policy::parse(
        "default allow\nkernel 5.4\nallow openat2\ndeny @mount\n",
        "k.moat",
    )
    .unwrap();
    assert_eq!(
        verdict(&p, Arch::X86_64, "close_range", &[]),
        (ENOSYS, "unknown".into())
    );
    assert_eq!(
        verdict(&p, Arch::X86_64, "openat2", &[]),
        (ALLOW, "k.moat:3".into())
    );
    // Group membership does not name a call: fsopen (5.2) is known, mount_setattr (5.12) is not.
    assert_eq!(
        verdict(&p, Arch::X86_64, "fsopen", &[]),
        (EPERM, "k.moat:4".into())
    );
    assert_eq!(
        verdict(&p, Arch::X86_64, "mount_setattr", &[]),
        (ENOSYS, "unknown".into())
    );
    assert_eq!(
        verdict(&p, Arch::X86_64, "read", &[]),
        (ALLOW, "default".into())
    );
}

#[test]
fn x32_is_accepted_only_when_named() {
    let p = Policy::parse("default allow\narch x86_64 x32\ndeny getpid\n", "x.moat").unwrap();
    assert_eq!(
        verdict(&p, Arch::X32, "getpid", &[]),
        (EPERM, "x.moat:3".into())
    );
    assert_eq!(
        verdict(&p, Arch::X32, "read", &[]),
        (ALLOW, "default".into())
    );
    assert_eq!(
        verdict(&p, Arch::X86, "read", &[]),
        (KILL, "badarch".into())
    );
}

#[test]
fn multiplexed_rules_fail_closed() {
    let text = "default allow\narch x86\nallow socket\ndeny socket if domain == AF_INET6\nallow shmat if arg2 == 0\nlog bind if fd == 3\ndeny shmdt\n";
    let p = Policy::parse(text, "m.moat").unwrap();
    // Unconditional allow then conditional deny: the deny applies to all of SYS_SOCKET.
    assert_eq!(
        verdict(&p, Arch::X86, "socketcall", &[1, 0]),
        (EPERM, "m.moat:4".into())
    );
    // Conditional allow/log do not reach the multiplexer.
    assert_eq!(
        verdict(&p, Arch::X86, "socketcall", &[2, 0]),
        (ALLOW, "default".into())
    );
    // ipc dispatches on call & 0xffff; the high half is a version.
    assert_eq!(
        verdict(&p, Arch::X86, "ipc", &[22, 0]),
        (EPERM, "m.moat:7".into())
    );
    assert_eq!(
        verdict(&p, Arch::X86, "ipc", &[0x1_0016, 0]),
        (EPERM, "m.moat:7".into())
    );
    assert_eq!(
        verdict(&p, Arch::X86, "ipc", &[21, 0]),
        (ALLOW, "default".into())
    );
    // The direct calls are checked precisely.
    assert_eq!(
        verdict(&p, Arch::X86, "socket", &[10, 1, 0]),
        (EPERM, "m.moat:4".into())
    );
    assert_eq!(
        verdict(&p, Arch::X86, "socket", &[2, 1, 0]),
        (ALLOW, "m.moat:3".into())
    );
    // A rule on socketcall itself applies to every call through it, with its own condition.
    let p = Policy::parse(
        "default allow\narch x86\ndeny socketcall if call == 5\n",
        "s.moat",
    )
    .unwrap();
    assert_eq!(
        verdict(&p, Arch::X86, "socketcall", &[5, 0]),
        (EPERM, "s.moat:3".into())
    );
    assert_eq!(
        verdict(&p, Arch::X86, "socketcall", &[1, 0]),
        (ALLOW, "default".into())
    );
}

#[test]
fn guards_resolve_against_the_context() {
    use moat_policy::CapSet;
    let p = Policy::parse(
        "default allow\ndeny mount\nallow mount when cap SYS_ADMIN\ndeny ptrace when kernel < 4.8\ndeny getpid when not arch native\n",
        "g.moat",
    )
    .unwrap();
    let call = |ctx: &Context, name: &str| {
        let nr = Arch::X86_64.by_name(name).unwrap().nr;
        p.evaluate(ctx, Arch::X86_64.audit_arch(), nr, [0; 6])
            .action
    };
    let none = Context::default();
    let admin = Context {
        caps: Some([21u8].into_iter().collect::<CapSet>()),
        kernel: None,
    };
    let old = Context {
        caps: None,
        kernel: Some(moat_syscalls::KernelVersion { major: 4, minor: 4 }),
    };
    assert_eq!(call(&none, "mount"), EPERM);
    assert_eq!(call(&admin, "mount"), ALLOW);
    assert_eq!(call(&none, "ptrace"), ALLOW);
    assert_eq!(call(&old, "ptrace"), EPERM);
    assert_eq!(call(&none, "getpid"), ALLOW);
}

#[test]
fn use_files_resolve_relative_and_reject_cycles() {
    let dir = std::env::temp_dir().join(format!("moat-policy-use-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("top.moat"), "use \"sub/base.moat\"\nallow bpf\n").unwrap();
    std::fs::write(
        dir.join("sub/base.moat"),
        "default allow\ndeny bpf unshare  # base\n",
    )
    .unwrap();
    let p = Policy::load(&dir.join("top.moat")).unwrap();
    assert_eq!(verdict(&p, Arch::X86_64, "bpf", &[]).0, ALLOW);
    let (a, who) = verdict(&p, Arch::X86_64, "unshare", &[]);
    assert_eq!(a, EPERM);
    assert!(who.ends_with("sub/base.moat:2"), "{who}");
    std::fs::write(dir.join("a.moat"), "default allow\nuse \"b.moat\"\n").unwrap();
    std::fs::write(dir.join("b.moat"), "use \"a.moat\"\n").unwrap();
    let e = Policy::load(&dir.join("a.moat")).unwrap_err().to_string();
    assert!(e.contains("`use` cycle"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
