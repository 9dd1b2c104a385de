//! Round trips and exactness of the JSON export: Docker's default profile → moat → Docker JSON →
//! moat gives the same verdicts (reference evaluator, moat's compiled program, and libseccomp's
//! compilation of the exported JSON), and the built-in profiles exported to OCI JSON give, under
//! libseccomp, exactly the evaluator's verdicts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use moat_bpf::Program;
use moat_export::{Format, Options, export, load, load_bytes};
use moat_policy::{Action, CapSet, Context, Policy};
use moat_syscalls::Arch;

const X86: [Arch; 3] = [Arch::X86_64, Arch::X86, Arch::X32];

fn docker_ctx() -> Context {
    Context {
        caps: Some(CapSet::docker_default()),
        kernel: None,
    }
}

fn x86_opts() -> Options {
    Options {
        arches: Some(X86.to_vec()),
        ..Options::default()
    }
}

fn compiled(p: &Policy, ctx: &Context) -> Program {
    moat_compile::compile(
        p,
        &moat_compile::Options {
            ctx: *ctx,
            weights: None,
        },
    )
    .unwrap()
    .program
}

/// libseccomp's compilation of an exported OCI/Docker seccomp JSON, as runc would build it.
fn libseccomp(json: &str) -> Program {
    let f = moat_oracle::oci_profile(json).unwrap();
    Program::from_bytes(&moat_oracle::compile(&f).unwrap().bytes).unwrap()
}

/// Names libseccomp 2.5.4 cannot resolve on `arch`: their rules are skipped there.
fn libseccomp_knows(arch: Arch, nr: u32) -> bool {
    arch.by_nr(nr)
        .is_none_or(|s| moat_oracle::resolve(oracle_arch(arch), s.name).is_some())
}

#[test]
fn docker_default_round_trips_through_moat_and_docker_json() {
    round_trip(&X86);
}

#[test]
fn docker_default_round_trips_on_aarch64_and_arm() {
    round_trip(&[Arch::Aarch64, Arch::Arm]);
}

/// Capability sets and kernels the Docker export's includes/excludes must keep apart.
fn contexts() -> Vec<Context> {
    let mut all = CapSet::EMPTY;
    for c in 0..=40 {
        all.insert(c);
    }
    let mut ptrace = CapSet::docker_default();
    ptrace.insert(19);
    let admin: CapSet = [21u8].into_iter().collect();
    let old = Some(moat_syscalls::KernelVersion::new(4, 4));
    vec![
        docker_ctx(),
        Context {
            caps: Some(CapSet::EMPTY),
            kernel: None,
        },
        Context {
            caps: Some(admin),
            kernel: None,
        },
        Context {
            caps: Some(all),
            kernel: None,
        },
        Context {
            caps: Some(ptrace),
            kernel: old,
        },
        Context {
            caps: Some(CapSet::docker_default()),
            kernel: old,
        },
    ]
}

fn cap_names(c: CapSet) -> Vec<String> {
    (0u8..64)
        .filter(|n| c.contains(*n))
        .filter_map(moat_syscalls::capability_name)
        .collect()
}

fn round_trip(abis: &[Arch]) {
    let opts = Options {
        arches: Some(abis.to_vec()),
        ..Options::default()
    };
    let first = load(&DOCKER_DEFAULT, &opts).unwrap();
    // moat text → parse again → same policy.
    let again = load_bytes(first.text.as_bytes(), "again.moat", &Options::default()).unwrap();
    assert_eq!(again.policy, first.policy);
    // Docker JSON keeps the guards as includes/excludes: one export serves every context.
    let json = export(&first, Format::Docker, &docker_ctx(), "docker").unwrap();
    assert!(json.losses.is_empty(), "{:?}", json.losses);
    let second = load_bytes(&json.data, "exported.json", &opts).unwrap();
    let mut checked = 0usize;
    for ctx in contexts() {
        let lowered = first.policy.lower(&ctx).unwrap();
        let program = compiled(&second.policy, &ctx);
        // libseccomp applies the exported profile the way moby does for this context.
        let caps = cap_names(ctx.caps.unwrap_or_default());
        let caps: Vec<&str> = caps.iter().map(String::as_str).collect();
        let kernel = ctx
            .kernel
            .map_or((6, 18), |k| (u32::from(k.major), u32::from(k.minor)));
        let host = if abis.contains(&Arch::X86_64) {
            Arch::X86_64
        } else {
            Arch::Aarch64
        };
        let f = moat_oracle::docker_profile(&json.text(), oracle_arch(host), &caps, Some(kernel))
            .unwrap();
        let libseccomp = Program::from_bytes(&moat_oracle::compile(&f).unwrap().bytes).unwrap();
        for &arch in abis {
            for n in 0..1024u32 {
                let nr = n + arch.nr_bias();
                // Junk in the upper half of 32-bit arguments too: the export masks it like the kernel.
                for args in boundary_args(&lowered, arch, nr, false) {
                    let want = first
                        .policy
                        .evaluate(&ctx, arch.audit_arch(), nr, args)
                        .action;
                    let back = second
                        .policy
                        .evaluate(&ctx, arch.audit_arch(), nr, args)
                        .action;
                    assert_eq!(back, want, "{arch} {nr} {args:x?} {ctx:?}");
                    assert_eq!(
                        run(&program, arch, nr, args),
                        want.to_ret(),
                        "compiled {arch} {nr} {args:x?}"
                    );
                    if libseccomp_knows(arch, nr) {
                        assert_eq!(
                            run(&libseccomp, arch, nr, args),
                            want.to_ret(),
                            "libseccomp {arch} {:?} {args:x?} {ctx:?}",
                            arch.by_nr(nr).map(|s| s.name)
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 6 * abis.len() * 1024, "{checked}");
}

#[test]
fn imported_docker_text_is_short() {
    let l = load(&DOCKER_DEFAULT, &x86_opts()).unwrap();
    let statements = l
        .text
        .lines()
        .filter(|s| !s.trim().is_empty() && !s.trim_start().starts_with('#'))
        .count();
    // The fixture is 800+ lines of JSON; the import reads as a policy.
    assert!(statements < 60, "{statements}:\n{}", l.text);
    assert!(l.text.contains("deny @obsolete"), "{}", l.text);
}

/// Every built-in profile, exported to OCI JSON and compiled by libseccomp, answers every call
/// on every number and boundary argument exactly as the reference evaluator does (except numbers
/// libseccomp does not know, which get the default).
#[test]
fn builtin_profiles_exported_to_oci_are_exact_under_libseccomp() {
    for name in ["container", "strict", "docker"] {
        let l = load(name, &Options::default()).unwrap();
        let ctx = docker_ctx();
        let out = export(&l, Format::Oci, &ctx, name).unwrap();
        let json = out.text();
        let prog = libseccomp(&json);
        let lowered = l.policy.lower(&ctx).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let listed: Vec<Arch> = v["architectures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| moat_export::scmp_arch(a.as_str().unwrap()).unwrap())
            .collect();
        for abi in &lowered.abis {
            let arch = abi.arch;
            if !listed.contains(&arch) {
                // Left out on purpose: the loss report says why, and libseccomp kills its calls.
                assert!(
                    out.losses
                        .iter()
                        .any(|l| l.0.contains(&format!("{arch} is left out"))),
                    "{name}: {arch}: {:?}",
                    out.losses
                );
                assert_eq!(run(&prog, arch, 0, [0; 6]), Action::KillThread.to_ret());
                continue;
            }
            for n in 0..1024u32 {
                let nr = n + arch.nr_bias();
                if !libseccomp_knows(arch, nr) {
                    continue;
                }
                for args in boundary_args(&lowered, arch, nr, false) {
                    let want = l.policy.evaluate(&ctx, arch.audit_arch(), nr, args).action;
                    let got = run(&prog, arch, nr, args);
                    // Unknown numbers: OCI has one default for known and unknown numbers.
                    if arch.by_nr(nr).is_none() {
                        continue;
                    }
                    assert_eq!(
                        got,
                        want.to_ret(),
                        "{name}: {arch} {:?} {args:x?}",
                        arch.by_nr(nr).map(|s| s.name)
                    );
                }
            }
        }
        // The losses are exactly what the format cannot say.
        for l in &out.losses {
            assert!(
                l.0.contains("numbers moat does not know") || l.0.contains("bad-architecture"),
                "{name}: {}",
                l.0
            );
        }
    }
}

#[test]
fn deny_by_default_policy_lists_allowed_calls_when_unknown_is_stricter() {
    let l = load_bytes(
        b"default allow\nunknown errno ENOSYS\ndeny mkdir\narch x86_64\n",
        "p.moat",
        &Options::default(),
    )
    .unwrap();
    let out = export(&l, Format::Oci, &Context::default(), "p").unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.data).unwrap();
    assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(v["defaultErrnoRet"], 38);
    assert!(out.losses.is_empty(), "{:?}", out.losses);
    let calls = v["syscalls"].as_array().unwrap();
    let allow = calls
        .iter()
        .find(|c| c["action"] == "SCMP_ACT_ALLOW")
        .unwrap();
    assert!(
        allow["names"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "read")
    );
    let deny = calls
        .iter()
        .find(|c| c["action"] == "SCMP_ACT_ERRNO")
        .unwrap();
    assert_eq!(deny["names"], serde_json::json!(["mkdir"]));
    assert_eq!(deny["errnoRet"], 1);
    let _ = Action::Allow;
}

#[test]
fn an_imported_profile_still_reads_once_a_composed_policy_adds_the_compat_abi() {
    // Regression (CRI test, crates/cri-e2e): a Localhost profile for x86_64 only, with
    // personality and socketcall under one arg-0 condition, imported as `... if persona ...`;
    // an annotation `use container` (arch native compat) then added x86, where socketcall's
    // first parameter is `call`, and the pod was refused with an error in text nobody wrote.
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["personality", "socketcall"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}"#;
    let loaded = load_bytes(json.as_bytes(), "p.json", &Options::default()).unwrap();
    assert!(loaded.text.contains("if arg0 "), "{}", loaded.text);
    let composed = Policy::compose(&[
        moat_policy::Source::Annotation {
            key: "linux.seccomp".into(),
            text: loaded.text.clone(),
        },
        moat_policy::Source::Builtin("container".into()),
    ]);
    assert!(composed.is_ok(), "{}: {composed:?}", loaded.text);
    // A name that means the same index on both ABIs keeps its name.
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}"#;
    let loaded = load_bytes(json.as_bytes(), "p.json", &Options::default()).unwrap();
    assert!(loaded.text.contains("if persona "), "{}", loaded.text);
}
