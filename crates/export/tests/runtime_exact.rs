//! Import reads a Docker/OCI or SPO profile the way runc (default), crun or youki with libseccomp
//! read it: containers/common's errno names, names only other ABIs have, first unconditional rule
//! wins, the native ABI always accepted, rules equal to the default dropped, repeated argument
//! index ORed, libseccomp's errno limit, duplicate keys refused, one SeccompProfile picked.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use moat_export::{Error, Options, Runtime, load, load_bytes};
use moat_policy::{Action, Context, Policy};
use moat_syscalls::Arch;

fn import(json: &str) -> Result<moat_export::Loaded, Error> {
    import_with(json, &Options::default())
}

fn import_with(json: &str, opts: &Options) -> Result<moat_export::Loaded, Error> {
    load_bytes(json.as_bytes(), "p.json", opts)
}

fn verdict(p: &Policy, arch: Arch, name: &str, args: [u64; 6]) -> Action {
    let nr = arch.by_name(name).unwrap().nr;
    p.evaluate(&Context::default(), arch.audit_arch(), nr, args)
        .action
}

fn x64(p: &Policy, name: &str) -> Action {
    verdict(p, Arch::X86_64, name, [0; 6])
}

#[test]
fn containers_common_errno_names_win_over_numbers() {
    let p = import(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "defaultErrno": "ENOSYS",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "errno": "EACCES"}]}"#,
    )
    .unwrap()
    .policy;
    assert_eq!(x64(&p, "getpid"), Action::Errno(38));
    assert_eq!(x64(&p, "mkdir"), Action::Errno(13));
    assert_eq!(x64(&p, "read"), Action::Allow);
}

#[test]
fn an_unknown_errno_name_is_refused_with_a_suggestion() {
    let e = import(r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "ENOSIS"}"#)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "p.json: defaultErrno: unknown errno name \"ENOSIS\" (did you mean \"ENOSYS\"?)"
    );
}

#[test]
fn names_only_other_abis_have_are_skipped_with_a_note() {
    let l = import(
        r#"{"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["syscall", "read"], "action": "SCMP_ACT_ALLOW"}]}"#,
    )
    .unwrap();
    assert_eq!(x64(&l.policy, "read"), Action::Allow);
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert!(
        l.warnings[0].contains("skipped syscall \"syscall\": it exists only on mips"),
        "{:?}",
        l.warnings
    );
}

#[test]
fn names_nobody_knows_are_an_error_unless_allowed() {
    let json = r#"{"defaultAction": "SCMP_ACT_ERRNO",
                   "syscalls": [{"names": ["frobnicate", "read"], "action": "SCMP_ACT_ALLOW"}]}"#;
    let e = import(json).unwrap_err().to_string();
    assert!(
        e.starts_with("p.json: syscalls[0].names[0]: unknown syscall \"frobnicate\""),
        "{e}"
    );
    let l = import_with(
        json,
        &Options {
            allow_unknown_names: true,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(x64(&l.policy, "read"), Action::Allow);
    assert_eq!(l.warnings.len(), 1);
}

/// `repro-first-unconditional-wins.json`: libseccomp keeps the first unconditional rule.
#[test]
fn first_unconditional_rule_wins() {
    let p = load(
        &moat_testkit::fixture("corpus/profiles/repro-first-unconditional-wins.json"),
        &Options::default(),
    )
    .unwrap()
    .policy;
    assert_eq!(x64(&p, "setns"), Action::Allow);
    assert_eq!(x64(&p, "getpid"), Action::Allow);
    // The other way round the refusal comes first and wins.
    let p = import(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "syscalls": [{"names": ["setns"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                         {"names": ["setns", "getpid"], "action": "SCMP_ACT_ALLOW"}]}"#,
    )
    .unwrap()
    .policy;
    assert_eq!(x64(&p, "setns"), Action::Errno(1));
    assert_eq!(x64(&p, "getpid"), Action::Allow);
}

#[test]
fn an_unconditional_rule_overrides_conditional_ones_before_and_after_it() {
    let p = import(
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                         {"names": ["personality"], "action": "SCMP_ACT_LOG"},
                         {"names": ["personality"], "action": "SCMP_ACT_TRAP",
                          "args": [{"index": 0, "value": 9, "op": "SCMP_CMP_EQ"}]}]}"#,
    )
    .unwrap()
    .policy;
    for v in [0, 8, 9] {
        assert_eq!(
            verdict(&p, Arch::X86_64, "personality", [v, 0, 0, 0, 0, 0]),
            Action::Log,
            "{v}"
        );
    }
}

#[test]
fn a_rule_equal_to_the_default_is_dropped_and_shadows_nothing() {
    let p = import(
        r#"{"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["setns"], "action": "SCMP_ACT_ERRNO"},
                         {"names": ["setns"], "action": "SCMP_ACT_ALLOW"}]}"#,
    )
    .unwrap()
    .policy;
    assert_eq!(x64(&p, "setns"), Action::Allow);
}

/// runtime-spec's example lists x86 and arm only: libseccomp keeps the native ABI anyway.
#[test]
fn the_native_abi_is_always_accepted() {
    let l = import_with(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#,
        &Options {
            host: Some(Arch::X86_64),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(l.policy.arches(), &[Arch::X86_64, Arch::X86]);
    assert_eq!(x64(&l.policy, "getpid"), Action::Allow);
    assert_eq!(x64(&l.policy, "mkdir"), Action::Errno(1));
    assert!(
        l.warnings[0].contains("x86_64 is accepted too"),
        "{:?}",
        l.warnings
    );
}

#[test]
fn a_repeated_argument_index_is_ored() {
    let p = import(
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                                   {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}]}"#,
    )
    .unwrap()
    .policy;
    let v = |a| verdict(&p, Arch::X86_64, "personality", [a, 0, 0, 0, 0, 0]);
    assert_eq!(v(1), Action::Errno(1));
    assert_eq!(v(2), Action::Errno(1));
    assert_eq!(v(3), Action::Allow);
}

#[test]
fn errno_values_stop_below_libseccomps_max_errno() {
    let json = |n: u32| {
        format!(
            r#"{{"defaultAction": "SCMP_ACT_ALLOW",
                 "syscalls": [{{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": {n}}}]}}"#
        )
    };
    assert_eq!(
        x64(&import(&json(4094)).unwrap().policy, "mkdir"),
        Action::Errno(4094)
    );
    let e = import(&json(4095)).unwrap_err().to_string();
    assert_eq!(
        e,
        "p.json: syscalls[0].errnoRet: 4095 is above 4094: libseccomp refuses errno values from 4095 (MAX_ERRNO) on"
    );
    let e = import(r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 4095}"#)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("p.json: defaultErrnoRet: 4095 is above 4094"),
        "{e}"
    );
}

#[test]
fn duplicate_keys_are_refused_with_their_position() {
    let e = import(
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"syscalls\": [{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\",\n   \"action\": \"SCMP_ACT_ALLOW\"}]}",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("p.json:3:") && e.contains("duplicate key \"action\""),
        "{e}"
    );
    let e = import(r#"{"defaultAction": "SCMP_ACT_ALLOW", "defaultAction": "SCMP_ACT_KILL"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("duplicate key \"defaultAction\""), "{e}");
}

#[test]
fn runtimes_differ_on_errno_for_actions_without_one() {
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]}"#;
    for rt in [Runtime::Runc, Runtime::Youki] {
        let l = import_with(
            json,
            &Options {
                runtime: rt,
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(x64(&l.policy, "mkdir"), Action::KillThread, "{rt:?}");
        assert!(
            l.warnings[0].contains("errnoRet is ignored"),
            "{:?}",
            l.warnings
        );
    }
    let crun = Options {
        runtime: Runtime::Crun,
        ..Options::default()
    };
    let e = import_with(json, &crun).unwrap_err().to_string();
    assert_eq!(
        e,
        "p.json: syscalls[0].errnoRet: crun refuses an errno value for SCMP_ACT_KILL"
    );
    let e = import_with(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}"#,
        &crun,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "p.json: defaultErrnoRet: crun refuses an errno value for SCMP_ACT_ALLOW"
    );
}

static SPO_MULTI: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| moat_testkit::fixture("corpus/profiles/spo-seccompprofile.yaml"));

#[test]
fn one_seccomp_profile_of_several_is_picked_by_name() {
    let e = load(&SPO_MULTI, &Options::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("pick one with FILE#NAME"), "{e}");
    let block = load(
        &format!("{}#profile-block-all", *SPO_MULTI),
        &Options::default(),
    )
    .unwrap()
    .policy;
    assert_eq!(x64(&block, "getpid"), Action::Errno(1));
    let allow = load(
        &SPO_MULTI,
        &Options {
            profile: Some("profile-allow-unsafe".into()),
            ..Options::default()
        },
    )
    .unwrap()
    .policy;
    assert_eq!(x64(&allow, "getpid"), Action::Allow);
    let e = load(&format!("{}#nope", *SPO_MULTI), &Options::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no SeccompProfile named \"nope\" in this file (it has: profile-block-all,"),
        "{e}"
    );
}
