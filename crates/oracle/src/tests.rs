use super::*;

const AUDIT_X86_64: u32 = 0xC000_003E;
const AUDIT_X86: u32 = 0x4000_0003;
const AUDIT_AARCH64: u32 = 0xC000_00B7;
const AUDIT_ARM: u32 = 0x4000_0028;

fn docker(arch: Arch, layout: Layout) -> (Filter, Compiled) {
    let mut f = docker_profile(
        &docker_default_json(),
        arch,
        DOCKER_DEFAULT_CAPS,
        Some((6, 18)),
    )
    .unwrap();
    f.optimize = layout;
    let c = compile(&f).unwrap();
    (f, c)
}

fn jeq_constants(c: &Compiled) -> BTreeSet<u32> {
    // BPF_JMP | BPF_JEQ | BPF_K = 0x15
    c.insns()
        .into_iter()
        .filter(|i| i.0 == 0x15)
        .map(|i| i.3)
        .collect()
}

#[test]
fn libseccomp_is_2_5_or_newer() {
    let (major, minor, _) = version();
    assert!((major, minor) >= (2, 5), "{:?}", version());
}

#[test]
fn arch_names_round_trip() {
    for a in Arch::ALL {
        assert_eq!(a.name().parse::<Arch>().unwrap(), a);
        assert_eq!(a.docker_name().parse::<Arch>().unwrap(), a);
        assert_eq!(a.scmp_name().parse::<Arch>().unwrap(), a);
    }
    assert!("mips".parse::<Arch>().is_err());
}

#[test]
fn docker_default_x86_64_translation() {
    let f = docker_profile(
        &docker_default_json(),
        Arch::X86_64,
        DOCKER_DEFAULT_CAPS,
        Some((6, 18)),
    )
    .unwrap();
    assert_eq!(f.arches, vec![Arch::X86_64, Arch::X86, Arch::X32]);
    assert_eq!(f.default, Action::Errno(1));
    assert_eq!(f.bad_arch, Action::KillThread);
    assert_eq!(f.optimize, Layout::BinaryTree);
    let rules_for = |n: &str| {
        f.rules
            .iter()
            .filter(|r| r.syscall == n)
            .collect::<Vec<_>>()
    };
    // CAP_SYS_ADMIN is not in Docker's default set: bpf is not allowed, clone3 gets ENOSYS,
    // clone is allowed only without namespace flags.
    assert!(rules_for("bpf").is_empty());
    let clone3 = rules_for("clone3");
    assert_eq!(clone3.len(), 1);
    assert_eq!(clone3[0].action, Action::Errno(38));
    let clone = rules_for("clone");
    assert_eq!(clone.len(), 1);
    assert_eq!(
        clone[0].args,
        vec![ArgCmp {
            index: 0,
            op: Op::MaskedEq {
                mask: 2_114_060_288
            },
            value: 0
        }]
    );
    // arch-gated entries: amd64 yes, s390x/arm no.
    assert_eq!(rules_for("arch_prctl").len(), 1);
    assert_eq!(rules_for("modify_ldt").len(), 1);
    assert!(rules_for("s390_runtime_instr").is_empty());
    assert!(rules_for("arm_fadvise64_64").is_empty());
    // CAP_SYS_CHROOT is a default capability.
    assert_eq!(rules_for("chroot").len(), 1);
    assert!(rules_for("reboot").is_empty());
    // minKernel 4.8
    assert_eq!(rules_for("ptrace").len(), 1);
    // socket: three separate rules with one condition each.
    assert_eq!(rules_for("socket").len(), 3);
    // personality: five values
    assert_eq!(rules_for("personality").len(), 5);
}

/// runc-bats-2020-errno-default.json lists x86 and x32 only: runc's filter still holds x86_64.
#[test]
fn docker_profile_keeps_the_host_abi_a_list_leaves_out() {
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO"}]}"#;
    let f = docker_profile(json, Arch::X86_64, DOCKER_DEFAULT_CAPS, Some((6, 1))).unwrap();
    assert_eq!(f.arches, vec![Arch::X86_64, Arch::X86]);
    if Arch::native() == Some(Arch::X86_64) {
        let c = compile(&f).unwrap();
        assert!(
            c.insns().iter().any(|i| i.3 == AUDIT_X86_64),
            "{:?}",
            c.insns()
        );
    }
}

#[test]
fn docker_profile_follows_caps_kernel_and_arch() {
    let json = docker_default_json();
    // With CAP_SYS_ADMIN: bpf allowed unconditionally, clone3 allowed, clone unconditional.
    let admin = docker_profile(&json, Arch::X86_64, &["SYS_ADMIN"], Some((6, 1))).unwrap();
    assert!(
        admin
            .rules
            .iter()
            .any(|r| r.syscall == "bpf" && r.args.is_empty() && r.action == Action::Allow)
    );
    assert!(
        admin
            .rules
            .iter()
            .filter(|r| r.syscall == "clone3")
            .all(|r| r.action == Action::Allow)
    );
    // Old kernel: the minKernel 4.8 entry (ptrace) is left out.
    let old = docker_profile(&json, Arch::X86_64, DOCKER_DEFAULT_CAPS, Some((4, 4))).unwrap();
    assert!(!old.rules.iter().any(|r| r.syscall == "ptrace"));
    // aarch64: arm sub-architecture, arm-only entries included, s390 clone variant excluded.
    let a64 = docker_profile(&json, Arch::Aarch64, DOCKER_DEFAULT_CAPS, Some((6, 1))).unwrap();
    assert_eq!(a64.arches, vec![Arch::Aarch64, Arch::Arm]);
    assert!(a64.rules.iter().any(|r| r.syscall == "arm_fadvise64_64"));
    assert!(!a64.rules.iter().any(|r| r.syscall == "arch_prctl"));
    // s390x: clone compares argument 1; the S390 sub-architecture is not expressible.
    let err = docker_profile(&json, Arch::S390x, DOCKER_DEFAULT_CAPS, Some((6, 1))).unwrap_err();
    assert!(format!("{err:#}").contains("SCMP_ARCH_S390"), "{err:#}");
}

#[test]
fn docker_profile_splits_same_index_conditions_like_runc() {
    let json = r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
          {"names": ["kill"], "action": "SCMP_ACT_ALLOW",
           "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_NE"},
                    {"index": 1, "value": 19, "op": "SCMP_CMP_NE"}]},
          {"names": ["tkill"], "action": "SCMP_ACT_ALLOW",
           "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_GT"},
                    {"index": 1, "value": 9, "op": "SCMP_CMP_NE"}]},
          {"name": "mmap", "action": "SCMP_ACT_KILL"},
          {"names": ["open"], "action": "SCMP_ACT_TRACE"}
        ]}"#;
    let f = docker_profile(json, Arch::X86_64, &[], Some((6, 1))).unwrap();
    assert_eq!(f.default, Action::Errno(1));
    assert!(f.arches.is_empty());
    assert_eq!(f.optimize, Layout::Default);
    let kill: Vec<_> = f.rules.iter().filter(|r| r.syscall == "kill").collect();
    assert_eq!(kill.len(), 2);
    assert!(kill.iter().all(|r| r.args.len() == 1));
    let tkill: Vec<_> = f.rules.iter().filter(|r| r.syscall == "tkill").collect();
    assert_eq!(tkill.len(), 1);
    assert_eq!(tkill[0].args.len(), 2);
    assert!(
        f.rules
            .iter()
            .any(|r| r.syscall == "mmap" && r.action == Action::KillThread)
    );
    assert!(
        f.rules
            .iter()
            .any(|r| r.syscall == "open" && r.action == Action::Trace(1))
    );
    compile(&f).unwrap();
}

#[test]
fn docker_profile_rejects_bad_input() {
    let bad = [
        r#"{"defaultAction": "SCMP_ACT_NOPE"}"#,
        r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#,
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"],
            "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#,
        r#"{"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                          "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}"#,
        r#"{"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]}"#,
        r#"{"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                          "includes": {"minKernel": "five"}}]}"#,
        r#"{}"#,
        r#"not json"#,
    ];
    for json in bad {
        assert!(
            docker_profile(json, Arch::X86_64, &[], Some((6, 1))).is_err(),
            "{json}"
        );
    }
}

#[test]
fn compile_docker_default_all_layouts() {
    for layout in [Layout::Default, Layout::BinaryTree] {
        let (_, x) = docker(Arch::X86_64, layout);
        assert!(x.len() > 100 && x.len() <= 4096, "{}", x.len());
        let k = jeq_constants(&x);
        assert!(
            k.contains(&AUDIT_X86_64) && k.contains(&AUDIT_X86),
            "{layout:?}"
        );
        // libseccomp 2.5.4 does not know syscalls after 456 (e.g. mseal); they are reported.
        for name in &x.skipped {
            assert_eq!(resolve(Arch::X86_64, name), None, "{name}");
        }
        // A name only x86 has: unresolved on x86_64 and x32.
        assert!(
            x.unresolved
                .contains(&(Arch::X86_64, "socketcall".to_owned()))
        );
        assert!(!x.unresolved.contains(&(Arch::X86, "socketcall".to_owned())));

        let (_, a) = docker(Arch::Aarch64, layout);
        let k = jeq_constants(&a);
        assert!(
            k.contains(&AUDIT_AARCH64) && k.contains(&AUDIT_ARM),
            "{layout:?}"
        );
        assert!(!k.contains(&AUDIT_X86_64), "the host arch was removed");
    }
    let (_, lin) = docker(Arch::X86_64, Layout::Default);
    let (_, tree) = docker(Arch::X86_64, Layout::BinaryTree);
    assert_ne!(lin.bytes, tree.bytes);
}

#[test]
fn skipped_and_redundant_rules_are_reported() {
    let f = Filter {
        default: Action::Errno(1),
        bad_arch: Action::KillProcess,
        arches: vec![Arch::X86_64],
        rules: vec![
            Rule {
                syscall: "no_such_syscall".into(),
                action: Action::Allow,
                args: vec![],
            },
            Rule {
                syscall: "read".into(),
                action: Action::Errno(1),
                args: vec![],
            },
            Rule {
                syscall: "write".into(),
                action: Action::Allow,
                args: vec![],
            },
        ],
        optimize: Layout::Default,
    };
    let c = compile(&f).unwrap();
    assert_eq!(c.skipped, vec!["no_such_syscall".to_owned()]);
    assert_eq!(c.redundant, vec!["read".to_owned()]);
    assert!(c.unresolved.is_empty());
    // The first instruction loads seccomp_data.arch (BPF_LD|BPF_W|BPF_ABS, k = 4).
    assert_eq!(c.insns()[0], (0x20, 0, 0, 4));
    // write (1) is checked, read (0) is not.
    assert!(jeq_constants(&c).contains(&1));
    // bad arch returns KILL_PROCESS.
    assert!(
        c.insns()
            .iter()
            .any(|i| i.0 == 0x06 && i.3 == Action::KillProcess.to_ret())
    );
}

#[test]
fn resolve_matches_known_numbers() {
    assert_eq!(resolve(Arch::X86_64, "getpid"), Some(39));
    assert_eq!(resolve(Arch::X86, "getpid"), Some(20));
    assert_eq!(resolve(Arch::X32, "getpid"), Some(0x4000_0000 + 39));
    assert_eq!(resolve(Arch::Aarch64, "getpid"), Some(172));
    assert_eq!(resolve(Arch::X86_64, "socketcall"), None);
    assert_eq!(resolve(Arch::X86_64, "no_such_syscall"), None);
    assert_eq!(name_of(Arch::X86_64, 39).as_deref(), Some("getpid"));
}

#[test]
fn runc_stub_is_empty_for_permissive_defaults() {
    for default in [Action::Allow, Action::Log, Action::Trace(1)] {
        let f = Filter {
            default,
            bad_arch: Action::KillThread,
            arches: vec![Arch::X86_64],
            rules: vec![Rule {
                syscall: "read".into(),
                action: Action::Errno(1),
                args: vec![],
            }],
            optimize: Layout::Default,
        };
        assert!(runc_stub(&f).unwrap().is_empty(), "{default:?}");
        assert_eq!(compile_runc(&f).unwrap(), compile(&f).unwrap());
    }
}

#[test]
fn runc_stub_limits_follow_the_profile() {
    let (f, _) = docker(Arch::X86_64, Layout::BinaryTree);
    let stub = Compiled {
        bytes: runc_stub(&f).unwrap(),
        skipped: vec![],
        redundant: vec![],
        unresolved: vec![],
    };
    let insns = stub.insns();
    // ld arch; jeq x86_64; jeq x86; ja filter; …; ret ERRNO(ENOSYS)
    assert_eq!(insns[0], (0x20, 0, 0, 4));
    assert_eq!(insns.last().unwrap(), &(0x06, 0, 0, 0x0005_0026));
    let max64 = f
        .rules
        .iter()
        .filter_map(|r| resolve(Arch::X86_64, &r.syscall))
        .max()
        .unwrap();
    let jgt: Vec<u32> = insns.iter().filter(|i| i.0 == 0x25).map(|i| i.3).collect();
    assert!(jgt.contains(&max64), "{jgt:?} {max64}");
    assert_eq!(jgt.len(), 3, "x86_64, x32 and x86 limits: {jgt:?}");
    // Every jump stays inside the stub or lands on its end (the filter's first instruction).
    for (pc, i) in insns.iter().enumerate() {
        let end = if i.0 == 0x05 {
            pc + 1 + usize::try_from(i.3).unwrap()
        } else {
            pc + 1 + usize::from(i.1.max(i.2))
        };
        assert!(end <= insns.len(), "pc {pc}");
    }
}

/// The program runc 1.1.5 + libseccomp 2.5.4 installed for this profile on this machine, read
/// back from a live container with PTRACE_SECCOMP_GET_FILTER (research/ecosystem.md §4.2).
#[test]
fn matches_the_filter_runc_installed() {
    let json = r#"{
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    }"#;
    let f = docker_profile(json, Arch::X86_64, &[], Some((6, 18))).unwrap();
    assert_eq!(f.arches, vec![Arch::X86_64, Arch::X86, Arch::X32]);
    let want: Vec<(u16, u8, u8, u32)> = vec![
        (0x20, 0, 0, 0x0000_0004),
        (0x15, 0, 5, 0xc000_003e),
        (0x20, 0, 0, 0x0000_0000),
        (0x15, 8, 0, 0x0000_0053),
        (0x15, 7, 0, 0x0000_0102),
        (0x15, 6, 0, 0x4000_0053),
        (0x15, 5, 4, 0x4000_0102),
        (0x15, 0, 5, 0x4000_0003),
        (0x20, 0, 0, 0x0000_0000),
        (0x15, 2, 0, 0x0000_0027),
        (0x15, 1, 0, 0x0000_0128),
        (0x06, 0, 0, 0x7fff_0000),
        (0x06, 0, 0, 0x0005_0001),
        (0x06, 0, 0, 0x0000_0000),
    ];
    // Default action ALLOW: runc adds no -ENOSYS stub.
    assert_eq!(compile_runc(&f).unwrap().insns(), want);
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn pick(list: &'static [&'static str]) -> impl Strategy<Value = String> {
        prop_oneof![
            4 => proptest::sample::select(list).prop_map(str::to_owned),
            1 => "[a-zA-Z_0-9.]{0,12}",
        ]
    }

    fn arg() -> impl Strategy<Value = serde_json::Value> {
        (
            0u32..9,
            any::<u64>(),
            any::<u64>(),
            pick(&[
                "SCMP_CMP_NE",
                "SCMP_CMP_LT",
                "SCMP_CMP_LE",
                "SCMP_CMP_EQ",
                "SCMP_CMP_GE",
                "SCMP_CMP_GT",
                "SCMP_CMP_MASKED_EQ",
            ]),
        )
            .prop_map(|(index, value, value_two, op)| {
                serde_json::json!({"index": index, "value": value, "valueTwo": value_two, "op": op})
            })
    }

    const ACTIONS: &[&str] = &[
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_LOG",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_NOTIFY",
    ];

    fn entry() -> impl Strategy<Value = serde_json::Value> {
        (
            proptest::collection::vec(
                pick(&[
                    "read",
                    "write",
                    "socket",
                    "clone",
                    "mseal",
                    "socketcall",
                    "personality",
                ]),
                0..4,
            ),
            pick(ACTIONS),
            proptest::option::of(0u32..70_000),
            proptest::collection::vec(arg(), 0..3),
            proptest::option::of(pick(&["amd64", "arm64", "x86", "s390x"])),
            proptest::option::of(pick(&["CAP_SYS_ADMIN", "CAP_CHOWN"])),
            proptest::option::of(pick(&["4.8", "6.20", "5", "x.y"])),
        )
            .prop_map(|(names, action, errno, args, arch, cap, kernel)| {
                let mut e = serde_json::json!({"names": names, "action": action, "args": args});
                if let Some(n) = errno {
                    e["errnoRet"] = n.into();
                }
                if let Some(a) = arch {
                    e["includes"] = serde_json::json!({"arches": [a]});
                }
                if let Some(c) = cap {
                    e["excludes"] = serde_json::json!({"caps": [c]});
                }
                if let Some(k) = kernel {
                    e["includes"]["minKernel"] = k.into();
                }
                e
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn profiles_never_panic(
            default in pick(ACTIONS),
            errno in proptest::option::of(0u32..70_000),
            entries in proptest::collection::vec(entry(), 0..6),
            arch in proptest::sample::select(&Arch::ALL[..]),
        ) {
            let mut json = serde_json::json!({
                "defaultAction": default,
                "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                             "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                            {"architecture": "SCMP_ARCH_AARCH64",
                             "subArchitectures": ["SCMP_ARCH_ARM"]}],
                "syscalls": entries,
            });
            if let Some(e) = errno {
                json["defaultErrnoRet"] = e.into();
            }
            if let Ok(f) = docker_profile(&json.to_string(), arch, &["CHOWN"], Some((5, 10)))
                && let Ok(c) = compile(&f) {
                    prop_assert!(!c.bytes.is_empty() && c.bytes.len() % 8 == 0);
                    let runc = compile_runc(&f);
                    prop_assert!(runc.is_ok(), "{runc:?}");
                }
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = docker_profile(&text, Arch::X86_64, &[], Some((6, 1)));
            let _ = oci_profile(&text);
        }
    }
}

// ---- kernel checks in forked children (x86_64 host) ------------------------------------

#[cfg(target_arch = "x86_64")]
mod kernel {
    use super::*;

    /// Installing filters happens only in forked children (never in the test runner itself).
    mod child {
        use moat_sys::testing::{ChildStatus, in_child, no_core_dumps};

        /// Forks; the child validates `bytes` with moat-bpf, installs them (no_new_privs set
        /// first), runs `check` and exits with its result. Returns the child's exit code, or
        /// 128 + signal.
        pub(super) fn run_filtered(bytes: &[u8], check: fn() -> i32) -> i32 {
            let program = moat_bpf::Program::from_bytes(bytes).expect("moat-bpf accepts it");
            let status = in_child(|| {
                if no_core_dumps().is_err() {
                    return 90;
                }
                if moat_sys::install(&program, moat_sys::Flags::NONE).is_err() {
                    return 91;
                }
                check()
            })
            .unwrap();
            match status {
                ChildStatus::Exited(code) => code,
                ChildStatus::Signaled(sig) => 128 + sig,
            }
        }

        /// A raw syscall's result: `Ok(ret)` or `Err(errno)`. `moat_sys::raw` makes only calls
        /// it can argue are sound (and panics on others, failing the child).
        pub(super) fn sys(nr: libc::c_long, a: [u64; 3]) -> Result<i64, i32> {
            moat_sys::raw::syscall(nr, [a[0], a[1], a[2], 0, 0, 0])
                .map(|r| i64::try_from(r).unwrap_or(i64::MAX))
                .map_err(|e| e.0)
        }
    }

    use child::{run_filtered, sys};

    fn docker_x86_64_checks() -> i32 {
        // A number no table has: the default action, EPERM (unfiltered: ENOSYS).
        if sys(1000, [0, 0, 0]) != Err(libc::EPERM) {
            return 14;
        }
        docker_x86_64_common()
    }

    fn docker_x86_64_common() -> i32 {
        // bpf: needs CAP_SYS_ADMIN/CAP_BPF in Docker's profile -> EPERM (unfiltered: EFAULT/EINVAL).
        if sys(libc::SYS_bpf, [0, 0, 0]) != Err(libc::EPERM) {
            return 10;
        }
        // getpid works.
        if !matches!(sys(libc::SYS_getpid, [0, 0, 0]), Ok(p) if p > 0) {
            return 11;
        }
        // reboot with a bad magic: EPERM from the filter (unfiltered root: EINVAL).
        if sys(libc::SYS_reboot, [0, 0, 0]) != Err(libc::EPERM) {
            return 12;
        }
        // clone3 -> ENOSYS from the rule (unfiltered: EINVAL for size 0).
        if sys(libc::SYS_clone3, [0, 0, 0]) != Err(libc::ENOSYS) {
            return 13;
        }
        // socket(AF_VSOCK=40) is refused, socket(AF_UNIX) allowed.
        if sys(libc::SYS_socket, [40, 1, 0]) != Err(libc::EPERM) {
            return 15;
        }
        // The descriptor closes itself (close is allowed too).
        if moat_sys::raw::socket(1, 1, 0).is_err() {
            return 16;
        }
        // personality(0xffffffff) (query) is allowed; libseccomp compares all 64 bits, so the same
        // low word with a high bit set matches no rule and gets the default EPERM, although the
        // kernel would only read the low 32 bits.
        if sys(libc::SYS_personality, [0xffff_ffff, 0, 0]).is_err() {
            return 17;
        }
        if sys(libc::SYS_personality, [0x1_ffff_ffff, 0, 0]) != Err(libc::EPERM) {
            return 18;
        }
        0
    }

    #[test]
    fn docker_default_x86_64_in_kernel_both_layouts() {
        for layout in [Layout::Default, Layout::BinaryTree] {
            let (_, c) = docker(Arch::X86_64, layout);
            assert_eq!(
                run_filtered(&c.bytes, docker_x86_64_checks),
                0,
                "{layout:?}"
            );
        }
    }

    #[test]
    fn docker_checks_fail_without_the_filter() {
        // The same checks under an allow-all filter fail at the first one: they can fail.
        let f = Filter {
            default: Action::Allow,
            bad_arch: Action::KillProcess,
            arches: vec![Arch::X86_64, Arch::X86],
            rules: vec![],
            optimize: Layout::Default,
        };
        let c = compile(&f).unwrap();
        assert_eq!(run_filtered(&c.bytes, docker_x86_64_checks), 14);
        assert_eq!(run_filtered(&c.bytes, docker_x86_64_common), 10);
        assert_eq!(run_filtered(&c.bytes, docker_x86_checks), 21);
    }

    fn kill_checks() -> i32 {
        let _ = sys(libc::SYS_getppid, [0, 0, 0]);
        0
    }

    #[test]
    fn kill_process_action_kills_the_child() {
        let f = Filter {
            default: Action::Allow,
            bad_arch: Action::KillProcess,
            arches: vec![Arch::X86_64],
            rules: vec![Rule {
                syscall: "getppid".into(),
                action: Action::KillProcess,
                args: vec![],
            }],
            optimize: Layout::Default,
        };
        let c = compile(&f).unwrap();
        assert_eq!(run_filtered(&c.bytes, kill_checks), 128 + libc::SIGSYS);
    }

    /// An i386 syscall through `int 0x80` (the kernel reports AUDIT_ARCH_I386 for it): returns eax,
    /// i.e. the result or `-errno`.
    fn int80(nr: u32, a0: u32) -> i32 {
        match moat_sys::raw::int80(nr, [a0, 0, 0]) {
            Ok(eax) => i32::from_ne_bytes(eax.to_ne_bytes()),
            Err(e) => -e.0,
        }
    }

    fn docker_x86_checks() -> i32 {
        // i386 getpid (20) works, bpf (357) and reboot (88) get EPERM, clone3 (435) ENOSYS.
        if int80(20, 0) <= 0 {
            return 20;
        }
        if int80(357, 0) != -libc::EPERM {
            return 21;
        }
        if int80(88, 0) != -libc::EPERM {
            return 22;
        }
        if int80(435, 0) != -libc::ENOSYS {
            return 23;
        }
        0
    }

    #[test]
    fn docker_default_i386_abi_in_kernel() {
        for layout in [Layout::Default, Layout::BinaryTree] {
            let (_, c) = docker(Arch::X86_64, layout);
            assert_eq!(run_filtered(&c.bytes, docker_x86_checks), 0, "{layout:?}");
        }
    }

    fn getppid_rule(args: Vec<ArgCmp>) -> Filter {
        Filter {
            default: Action::Allow,
            bad_arch: Action::KillProcess,
            arches: vec![Arch::X86_64, Arch::X86],
            rules: vec![Rule {
                syscall: "getppid".into(),
                action: Action::Errno(5),
                args,
            }],
            optimize: Layout::Default,
        }
    }

    fn masked_checks() -> i32 {
        // (arg0 & 0xff) == 0x105 behaves like (arg0 & 0xff) == 5 (getppid ignores its arguments).
        if sys(libc::SYS_getppid, [0x05, 0, 0]) != Err(5) {
            return 30;
        }
        if sys(libc::SYS_getppid, [0x7705, 0, 0]) != Err(5) {
            return 31;
        }
        if sys(libc::SYS_getppid, [0x06, 0, 0]).is_err() {
            return 32;
        }
        0
    }

    #[test]
    fn masked_eq_compares_against_the_masked_value() {
        let f = getppid_rule(vec![ArgCmp {
            index: 0,
            op: Op::MaskedEq { mask: 0xff },
            value: 0x105,
        }]);
        assert_eq!(run_filtered(&compile(&f).unwrap().bytes, masked_checks), 0);
    }

    fn wide_checks() -> i32 {
        // x86_64: the full 64-bit value is compared.
        if sys(libc::SYS_getppid, [0x1_0000_0005, 0, 0]) != Err(5) {
            return 40;
        }
        if sys(libc::SYS_getppid, [0x5, 0, 0]).is_err() {
            return 41;
        }
        // i386 getppid (64): the value was truncated to 5.
        if int80(64, 5) != -5 {
            return 42;
        }
        if int80(64, 6) <= 0 {
            return 43;
        }
        0
    }

    #[test]
    fn values_above_32_bits_are_truncated_on_32_bit_abis() {
        let f = getppid_rule(vec![ArgCmp {
            index: 0,
            op: Op::Eq,
            value: 0x1_0000_0005,
        }]);
        assert_eq!(run_filtered(&compile(&f).unwrap().bytes, wide_checks), 0);
    }

    #[test]
    fn two_conditions_on_one_argument_are_refused() {
        let f = getppid_rule(vec![
            ArgCmp {
                index: 0,
                op: Op::Gt,
                value: 1,
            },
            ArgCmp {
                index: 0,
                op: Op::Lt,
                value: 9,
            },
        ]);
        let err = compile(&f).unwrap_err();
        assert!(format!("{err:#}").contains("getppid"), "{err:#}");
    }

    #[test]
    fn pfc_lists_the_rules() {
        let f = getppid_rule(vec![ArgCmp {
            index: 0,
            op: Op::Eq,
            value: 7,
        }]);
        let text = pfc(&f).unwrap();
        assert!(text.contains("getppid"), "{text}");
        assert!(text.contains("ERRNO(5)"), "{text}");
    }

    fn runc_x86_64_checks() -> i32 {
        // Numbers above the profile's largest known syscall get ENOSYS from runc's stub …
        if sys(1000, [0, 0, 0]) != Err(libc::ENOSYS) {
            return 50;
        }
        if int80(1000, 0) != -libc::ENOSYS {
            return 51;
        }
        // … the profile's own decisions are unchanged.
        match docker_x86_64_common() {
            0 => docker_x86_checks(),
            failed => failed,
        }
    }

    #[test]
    fn runc_patched_docker_default_in_kernel() {
        let (f, _) = docker(Arch::X86_64, Layout::BinaryTree);
        let c = compile_runc(&f).unwrap();
        assert_eq!(run_filtered(&c.bytes, runc_x86_64_checks), 0);
    }

    /// Reads filter `index` (0 = the first installed) of a process that is not our child with
    /// PTRACE_SECCOMP_GET_FILTER (`moat_sys::read_filters`); needs CAP_SYS_ADMIN.
    fn dump_filter(pid: i32, index: usize) -> Vec<u8> {
        let filters = moat_sys::read_filters(pid).unwrap();
        filters
            .get(index)
            .unwrap_or_else(|| panic!("process {pid} has {} filters", filters.len()))
            .to_bytes()
    }

    /// Deletes the container and its bundle however the test ends.
    struct Container {
        id: String,
        bundle: std::path::PathBuf,
    }

    impl Drop for Container {
        fn drop(&mut self) {
            let _ = std::process::Command::new("runc")
                .args(["delete", "-f", &self.id])
                .stderr(std::process::Stdio::null())
                .status();
            let _ = std::fs::remove_dir_all(&self.bundle);
        }
    }

    fn runc_version() -> (u32, u32) {
        let out = std::process::Command::new("runc")
            .arg("--version")
            .output()
            .expect("runc is installed (scripts/test installs it: apt-get install runc)");
        let text = String::from_utf8_lossy(&out.stdout);
        let v = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("runc version "))
            .unwrap_or_else(|| panic!("cannot read the runc version from {text:?}"));
        parse_kernel(v).unwrap()
    }

    /// Runs a busybox container under runc with Docker's default profile (translated by
    /// `docker_to_oci`) and compares the filter runc installed with the oracle's prediction.
    #[test]
    fn runc_installs_what_the_oracle_predicts() {
        let version = runc_version();
        let id = format!("moat-oracle-{}", std::process::id());
        let bundle = std::env::temp_dir().join(&id);
        let c = Container {
            id: id.clone(),
            bundle: bundle.clone(),
        };
        let rootfs = bundle.join("rootfs");
        for d in ["bin", "proc", "dev", "sys", "tmp"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
            .expect("/bin/busybox exists (apt-get install busybox-static)");
        std::os::unix::fs::symlink("busybox", rootfs.join("bin/sleep")).unwrap();
        let st = std::process::Command::new("runc")
            .arg("spec")
            .current_dir(&bundle)
            .status()
            .unwrap();
        assert!(st.success());
        let json = docker_default_json();
        let oci = docker_to_oci(&json, Arch::X86_64, DOCKER_DEFAULT_CAPS, None).unwrap();
        let config_path = bundle.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
        config["process"]["args"] = serde_json::json!(["sleep", "60"]);
        config["process"]["terminal"] = serde_json::json!(false);
        config["linux"]["seccomp"] = serde_json::from_str(&oci).unwrap();
        std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();

        // runc -d hands its stdio to the container: a pipe would stay open for the container's
        // lifetime, so stderr goes to a file.
        let log = bundle.join("runc.log");
        let status = std::process::Command::new("runc")
            .args(["run", "-d", "--bundle"])
            .arg(&bundle)
            .arg(&id)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "runc run: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let state = std::process::Command::new("runc")
            .args(["state", &id])
            .output()
            .unwrap();
        let state: serde_json::Value = serde_json::from_slice(&state.stdout).unwrap();
        let pid = i32::try_from(state["pid"].as_i64().unwrap()).unwrap();
        let installed = dump_filter(pid, 0);
        drop(c);

        // The libseccomp part is byte-identical; runc 1.1 used libseccomp's default layout, runc
        // 1.2+ the binary tree above 32 syscalls.
        let mut f = oci_profile(&oci).unwrap();
        assert_eq!(f.optimize, Layout::BinaryTree);
        if version < (1, 2) {
            f.optimize = Layout::Default;
        }
        let ours = compile(&f).unwrap();
        assert!(
            installed.ends_with(&ours.bytes),
            "runc {version:?} installed {} insns, libseccomp part predicted {}",
            installed.len() / 8,
            ours.len()
        );
        // The -ENOSYS stub makes the same checks (runc orders the arch sections at random).
        let stub_len = installed.len() - ours.bytes.len();
        let key = |bytes: &[u8]| {
            let c = Compiled {
                bytes: bytes.to_vec(),
                skipped: vec![],
                redundant: vec![],
                unresolved: vec![],
            };
            let mut v: Vec<(u16, u32)> = c
                .insns()
                .into_iter()
                .filter(|i| i.0 != 0x05)
                .map(|i| (i.0, i.3))
                .collect();
            v.sort_unstable();
            v
        };
        assert_eq!(key(&installed[..stub_len]), key(&runc_stub(&f).unwrap()));
    }
}
