use std::ffi::OsStr;
use std::path::PathBuf;

use moat_bpf::{Program, SeccompData, emu};
use moat_syscalls::Arch;
use serde_json::json;

use super::*;

/// A bundle in memory: planning reads nothing but profiles from the disk.
fn bundle(name: &str, config: &Value) -> Bundle {
    Bundle {
        config_path: PathBuf::from(format!("/nonexistent/{name}/config.json")),
        config: config.clone(),
    }
}

fn config(annotations: Value) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {"args": ["sh"], "capabilities": {"bounding": ["CAP_KILL"]}},
        "root": {"path": "rootfs"},
        "linux": {"namespaces": [{"type": "mount"}]},
        "annotations": annotations,
    })
}

const BPF: Request = Request {
    format: Format::Bpf,
    kernel: None,
};
const OCI: Request = Request {
    format: Format::Oci,
    kernel: None,
};

fn apply(o: Outcome) -> Plan {
    match o {
        Outcome::Apply(p) => *p,
    }
}

fn decode64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let n = chunk
            .iter()
            .filter(|&&c| c != b'=')
            .fold((0u32, 0), |(n, k), &c| {
                ((n << 6) | u32::from(val(c)), k + 1)
            });
        let (mut n, k) = n;
        n <<= 6 * (4 - k);
        let bytes = n.to_be_bytes();
        let bytes = [bytes[1], bytes[2], bytes[3]];
        out.extend_from_slice(&bytes[..k - 1]);
    }
    out
}

fn ret(p: &Program, name: &str, args: [u64; 6]) -> u32 {
    let arch = Arch::X86_64;
    let nr = arch.by_name(name).unwrap().nr;
    emu::run(p, &SeccompData::new(arch.audit_arch(), nr, args)).ret
}

#[test]
fn base64_matches_rfc4648_vectors() {
    for (i, o) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(i.as_bytes()), o);
        assert_eq!(decode64(o), i.as_bytes());
    }
}

#[test]
fn kernel_release_strings() {
    assert_eq!(kernel_from_release("6.18.0-1-amd64\n"), "6.18".parse().ok());
    assert_eq!(kernel_from_release("5.10"), "5.10".parse().ok());
    assert_eq!(kernel_from_release("garbage"), None);
    assert!(running_kernel().is_some());
}

#[test]
fn path_use_is_found_anywhere() {
    assert_eq!(path_use("use container\nallow bpf\n"), None);
    assert_eq!(
        path_use("deny mkdir\n  use \"/etc/shadow\"\n"),
        Some((2, 3))
    );
    assert_eq!(path_use("use\t\"x\""), Some((1, 1)));
    assert_eq!(path_use("use\"x\""), Some((1, 1)));
    assert_eq!(path_use("# use \"x\"\nuser_thing\n"), None);
    assert_eq!(path_use("used \"x\"\n"), None);
}

#[test]
fn path_use_after_a_semicolon_is_found() {
    // A one-line annotation must not hide a file read behind `;`.
    assert_eq!(
        path_use("use container; use \"/etc/shadow\""),
        Some((1, 16))
    );
    assert_eq!(path_use("allow x;use \"a\"\n"), Some((1, 9)));
    // Inside a string or a comment, `;` separates nothing.
    assert_eq!(path_use("deny x # ; use \"a\"\n"), None);
}

#[test]
fn nothing_asked_nothing_configured_gets_container() {
    // Regression (issue 13): without runtime.toml a container ran with no filter at all.
    let b = bundle("none", &config(json!({})));
    let p = apply(plan(&b, &NodeConfig::default(), &BPF).unwrap());
    assert_eq!(p.sources, ["node default `container`"]);
    assert_eq!(ret(&p.program, "bpf", [0; 6]), 0x0005_0001);
    assert_eq!(ret(&p.program, "getpid", [0; 6]), 0x7fff_0000);
}

#[test]
fn inline_policy_as_crun_bpf_annotation_is_the_program() {
    let b = bundle(
        "bpf",
        &config(json!({POLICY_ANNOTATION: "use container\ndeny mkdir mkdirat\n"})),
    );
    let p = apply(plan(&b, &NodeConfig::default(), &BPF).unwrap());
    let data = p.config["annotations"][CRUN_BPF_ANNOTATION]
        .as_str()
        .unwrap();
    let prog = Program::from_bytes(&decode64(data)).unwrap();
    assert_eq!(prog.to_bytes(), p.program.to_bytes());
    assert_eq!(ret(&prog, "mkdir", [0; 6]), 0x0005_0001);
    assert_eq!(ret(&prog, "getpid", [0; 6]), 0x7fff_0000);
    assert_eq!(ret(&prog, "bpf", [0; 6]), 0x0005_0001);
    assert!(p.config["linux"].get("seccomp").is_none());
    assert!(
        p.config["annotations"][APPLIED_ANNOTATION]
            .as_str()
            .unwrap()
            .contains(POLICY_ANNOTATION)
    );
    // The rest of the configuration is untouched.
    assert_eq!(p.config["process"], b.config["process"]);
    assert_eq!(
        p.config["linux"]["namespaces"],
        b.config["linux"]["namespaces"]
    );
}

#[test]
fn inline_policy_as_linux_seccomp_for_runc() {
    let b = bundle(
        "oci",
        &config(json!({POLICY_ANNOTATION: "use container\ndeny mkdir\n"})),
    );
    let p = apply(plan(&b, &NodeConfig::default(), &OCI).unwrap());
    let s = &p.config["linux"]["seccomp"];
    let arches = s["architectures"].as_array().unwrap();
    assert!(arches.contains(&json!("SCMP_ARCH_X86_64")), "{s}");
    let names: Vec<&str> = s["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "SCMP_ACT_ERRNO" && e["errnoRet"] == 1)
        .flat_map(|e| {
            e["names"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap())
        })
        .collect();
    assert!(
        names.contains(&"mkdir") && names.contains(&"bpf"),
        "{names:?}"
    );
    assert!(p.config["annotations"].get(CRUN_BPF_ANNOTATION).is_none());
}

#[test]
fn a_raw_program_from_the_pod_is_refused() {
    // Regression (issue 13): crun loaded a pod's one-instruction allow-all program.
    let b = bundle(
        "foreign",
        &config(json!({POLICY_ANNOTATION: "deny mkdir\n", CRUN_BPF_ANNOTATION: "BgAAAAAA/38="})),
    );
    for format in [&BPF, &OCI] {
        let e = plan(&b, &any_node(), format).unwrap_err();
        assert!(matches!(e, PlanError::ForeignBpf), "{e}");
    }
    let b = bundle(
        "foreign2",
        &config(json!({CRUN_BPF_ANNOTATION: "BgAAAAAA/38="})),
    );
    assert!(matches!(
        plan(&b, &any_node(), &BPF),
        Err(PlanError::ForeignBpf)
    ));
}

#[test]
fn capabilities_resolve_guards() {
    let text = "default allow\ndeny mkdir\nallow mkdir when cap CAP_SYS_ADMIN\n";
    let mut c = config(json!({POLICY_ANNOTATION: text}));
    let p = apply(plan(&bundle("nocap", &c), &NodeConfig::default(), &BPF).unwrap());
    assert_eq!(ret(&p.program, "mkdir", [0; 6]), 0x0005_0001);
    c["process"]["capabilities"]["bounding"] = json!(["CAP_SYS_ADMIN"]);
    let p = apply(plan(&bundle("cap", &c), &NodeConfig::default(), &BPF).unwrap());
    assert_eq!(ret(&p.program, "mkdir", [0; 6]), 0x7fff_0000);
}

#[test]
fn broken_inline_policy_names_the_annotation_line() {
    let b = bundle(
        "broken",
        &config(json!({POLICY_ANNOTATION: "use container\ndeny mkdri\n"})),
    );
    let e = plan(&b, &NodeConfig::default(), &BPF)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("moat.dev/policy:2:6: "), "{e}");
    assert!(e.contains("mkdir"), "{e}");
    assert!(!e.contains('\n'));
}

#[test]
fn inline_path_use_is_refused_before_reading() {
    let b = bundle(
        "path",
        &config(json!({POLICY_ANNOTATION: "use \"/etc/shadow\"\n"})),
    );
    let e = plan(&b, &NodeConfig::default(), &BPF).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PlanError::Policy(_)), "{msg}");
    assert!(msg.starts_with("moat.dev/policy:1:1: "), "{msg}");
    assert!(!msg.contains("root:"), "{msg}");
}

#[test]
fn unknown_moat_annotation_is_refused() {
    let b = bundle("typo", &config(json!({"moat.dev/polciy": "deny mkdir"})));
    let e = plan(&b, &NodeConfig::default(), &BPF)
        .unwrap_err()
        .to_string();
    assert!(e.contains("did you mean \"moat.dev/policy\""), "{e}");
}

#[test]
fn landlock_is_refused() {
    let b = bundle(
        "ll",
        &config(json!({POLICY_ANNOTATION: "use container\nfs read /usr\n"})),
    );
    let e = plan(&b, &NodeConfig::default(), &BPF);
    assert!(
        matches!(e, Err(PlanError::Landlock { .. } | PlanError::Policy(_))),
        "{e:?}"
    );
}

fn strict_node() -> NodeConfig {
    NodeConfig {
        default_profile: "container".into(),
        pod_policies: PodPolicies::Subset,
        ..NodeConfig::default()
    }
}

fn any_node() -> NodeConfig {
    NodeConfig {
        pod_policies: PodPolicies::Any,
        ..NodeConfig::default()
    }
}

#[test]
fn looser_pod_policy_is_refused_with_a_counterexample() {
    let b = bundle("looser", &config(json!({POLICY_ANNOTATION: "allow bpf\n"})));
    let e = plan(&b, &strict_node(), &BPF).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PlanError::Looser { .. }), "{msg}");
    assert!(
        msg.contains("bpf") && msg.contains("`allow`") && msg.contains("`deny`"),
        "{msg}"
    );
    // The same pod on a node that allows pod policies gets its exception.
    let node = any_node();
    let p = apply(plan(&b, &node, &BPF).unwrap());
    assert_eq!(ret(&p.program, "bpf", [0; 6]), 0x7fff_0000);
    assert_eq!(
        ret(&p.program, "unshare", [0; 6]),
        0x0005_0001,
        "the default is read first"
    );
}

#[test]
fn tighter_pod_policy_is_proved_and_applied() {
    let b = bundle(
        "tighter",
        &config(json!({POLICY_ANNOTATION: "deny mkdir\n"})),
    );
    let p = apply(plan(&b, &strict_node(), &BPF).unwrap());
    assert!(
        p.notes.iter().any(|n| n.contains("proved")),
        "{:?}",
        p.notes
    );
    assert_eq!(ret(&p.program, "mkdir", [0; 6]), 0x0005_0001);
    assert_eq!(ret(&p.program, "bpf", [0; 6]), 0x0005_0001);
    assert_eq!(ret(&p.program, "getpid", [0; 6]), 0x7fff_0000);
    assert_eq!(p.sources, ["node default `container`", POLICY_ANNOTATION]);
}

#[test]
fn node_default_applies_only_to_containers_that_ask_for_nothing() {
    let b = bundle("default", &config(json!({})));
    let p = apply(plan(&b, &strict_node(), &BPF).unwrap());
    assert_eq!(ret(&p.program, "bpf", [0; 6]), 0x0005_0001);
    // Regression (issue 13): the kubelet's own profile skipped the proof. An allow-all
    // seccompProfile (Localhost naming any file on the node) is proved like any pod policy.
    let mut c = config(json!({}));
    c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW"});
    let e = plan(&bundle("own", &c), &strict_node(), &BPF).unwrap_err();
    assert!(matches!(e, PlanError::Looser { .. }), "{e}");
    assert!(e.to_string().starts_with("linux.seccomp: refused:"), "{e}");
}

#[test]
fn profiles_resolve_inside_the_directory_only() {
    let dir = std::env::temp_dir().join(format!("moat-runtime-profiles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("web.moat"), "use container\ndeny mkdir\n").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("escape")).unwrap();
    let node = NodeConfig {
        profile_dir: dir.clone(),
        ..NodeConfig::default()
    };
    let p = apply(
        plan(
            &bundle("web", &config(json!({PROFILE_ANNOTATION: "web"}))),
            &node,
            &BPF,
        )
        .unwrap(),
    );
    assert_eq!(ret(&p.program, "mkdir", [0; 6]), 0x0005_0001);
    let p = apply(
        plan(
            &bundle("builtin", &config(json!({PROFILE_ANNOTATION: "strict"}))),
            &node,
            &BPF,
        )
        .unwrap(),
    );
    assert_eq!(ret(&p.program, "mkdir", [0; 6]), 0x8000_0000);
    for bad in ["../etc/passwd", "/etc/passwd", "escape", "nope", ""] {
        let e = plan(
            &bundle("bad", &config(json!({PROFILE_ANNOTATION: bad}))),
            &node,
            &BPF,
        );
        assert!(matches!(e, Err(PlanError::Profile { .. })), "{bad}: {e:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Any annotation text is either applied or refused with one line; nothing panics.
    #[test]
    fn any_annotation_text_is_planned_or_refused(
        text in "(use |deny |allow |errno |default |arch |\"|/|@|mkdir|bpf|clone|if |flags|&|==|0x1|\n|#| |container|strict){0,16}",
        strict in proptest::bool::ANY,
    ) {
        let b = Bundle {
            config_path: PathBuf::from("config.json"),
            config: config(json!({POLICY_ANNOTATION: text})),
        };
        let node = if strict { strict_node() } else { NodeConfig::default() };
        match plan(&b, &node, &OCI) {
            Ok(_) => {}
            Err(e) => proptest::prop_assert!(!e.to_string().contains('\n'), "{e}"),
        }
    }
}

#[test]
fn an_applied_annotation_from_the_pod_is_refused() {
    let b = bundle("forged", &config(json!({APPLIED_ANNOTATION: "everything"})));
    let e = plan(&b, &NodeConfig::default(), &BPF);
    assert!(matches!(e, Err(PlanError::ForgedApplied)), "{e:?}");
}

#[test]
fn planning_a_written_bundle_again_starts_from_the_original() {
    let d = std::env::temp_dir().join(format!("moat-runtime-again-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let cfg = config(json!({POLICY_ANNOTATION: "use container\ndeny mkdir\n"}));
    std::fs::write(d.join("config.json"), cfg.to_string()).unwrap();
    let b = Bundle::open(&d, None).unwrap();
    let first = apply(plan(&b, &NodeConfig::default(), &BPF).unwrap());
    b.write(&first.config).unwrap();
    let reopened = Bundle::open(&d, None).unwrap();
    let second = apply(plan(&reopened, &NodeConfig::default(), &BPF).unwrap());
    assert_eq!(second.config, first.config);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_looser_node_profile_is_refused_on_a_strict_node() {
    let dir = std::env::temp_dir().join(format!("moat-runtime-loose-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("tracing.moat"),
        "use container\nallow perf_event_open\n",
    )
    .unwrap();
    let node = NodeConfig {
        profile_dir: dir.clone(),
        ..strict_node()
    };
    let b = bundle(
        "loose-profile",
        &config(json!({PROFILE_ANNOTATION: "tracing"})),
    );
    let e = plan(&b, &node, &BPF).unwrap_err().to_string();
    assert!(
        e.starts_with("moat.dev/profile: refused:") && e.contains("perf_event_open"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_containers_own_annotation_replaces_the_pods() {
    let pod = json!({
        POLICY_ANNOTATION: "use container\ndeny mkdir\n",
        "moat.dev/policy.web": "use container\ndeny rmdir\n",
    });
    let with = |extra: Value| {
        let mut a = pod.clone();
        for (k, v) in extra.as_object().unwrap() {
            a[k] = v.clone();
        }
        a
    };
    // containerd names the container `web`: its own policy.
    let b = bundle(
        "web",
        &config(with(json!({"io.kubernetes.cri.container-name": "web",
        "io.kubernetes.cri.container-type": "container"}))),
    );
    let p = apply(plan(&b, &NodeConfig::default(), &BPF).unwrap());
    assert_eq!(
        p.sources,
        ["node default `container`", "moat.dev/policy.web"]
    );
    assert_eq!(ret(&p.program, "rmdir", [0; 6]), 0x0005_0001);
    assert_eq!(ret(&p.program, "mkdir", [0; 6]), 0x7fff_0000);
    // CRI-O names it in its own annotation.
    let b = bundle(
        "crio",
        &config(with(
            json!({"io.kubernetes.cri-o.ContainerName": "k8s_web_pod_ns_uid_0"}),
        )),
    );
    let p = apply(plan(&b, &NodeConfig::default(), &BPF).unwrap());
    assert_eq!(
        p.sources,
        ["node default `container`", "moat.dev/policy.web"]
    );
    // Another container, and the sandbox, get the pod's policy.
    for (name, extra) in [
        ("db", json!({"io.kubernetes.cri.container-name": "db"})),
        (
            "pause",
            json!({"io.kubernetes.cri.container-type": "sandbox"}),
        ),
        (
            "crio-pause",
            json!({"io.kubernetes.cri-o.ContainerType": "sandbox",
            "io.kubernetes.cri-o.ContainerName": "k8s_POD_pod_ns_uid_0"}),
        ),
    ] {
        let b = bundle(name, &config(with(extra)));
        let p = apply(plan(&b, &NodeConfig::default(), &BPF).unwrap());
        assert_eq!(
            p.sources,
            ["node default `container`", POLICY_ANNOTATION],
            "{name}"
        );
        assert_eq!(ret(&p.program, "mkdir", [0; 6]), 0x0005_0001, "{name}");
    }
    // Errors name the annotation they come from.
    let b = bundle(
        "web-broken",
        &config(json!({"moat.dev/policy.web": "deny rmdri\n",
        "io.kubernetes.cri.container-name": "web"})),
    );
    let e = plan(&b, &NodeConfig::default(), &BPF)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("moat.dev/policy.web:1:6: "), "{e}");
    // A per-container key must be a container name.
    let b = bundle(
        "bad-key",
        &config(json!({"moat.dev/policy.Web_1": "deny rmdir\n"})),
    );
    assert!(matches!(
        plan(&b, &NodeConfig::default(), &BPF),
        Err(PlanError::UnknownAnnotation { .. })
    ));
}

#[test]
fn runtime_is_found_without_path() {
    // Podman's kill/delete: no PATH. runc is installed by the test packages.
    let found = locate_runtime(Path::new("runc"), None).expect("runc in a fixed directory");
    assert!(
        RUNTIME_DIRS
            .iter()
            .any(|d| found.parent() == Some(Path::new(d))),
        "{found:?}"
    );
    // An empty PATH and one without runc fall back to the same directories.
    assert_eq!(
        locate_runtime(Path::new("runc"), Some(OsStr::new(""))),
        Some(found.clone())
    );
    assert_eq!(
        locate_runtime(Path::new("runc"), Some(OsStr::new("/nonexistent:/proc"))),
        Some(found)
    );
    // A path is taken as it is; an unknown name is not found.
    assert_eq!(
        locate_runtime(Path::new("/opt/x/runc"), None),
        Some(PathBuf::from("/opt/x/runc"))
    );
    assert_eq!(
        locate_runtime(Path::new("no-such-runtime-moat"), None),
        None
    );
    assert_eq!(locate_runtime(Path::new(""), None), None);
}

#[test]
fn runtime_on_path_comes_first_and_must_be_executable() {
    let dir = std::env::temp_dir().join(format!("moat-locate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fake = dir.join("runc");
    std::fs::write(&fake, "#!/bin/sh\n").unwrap();
    let path = dir.as_os_str().to_owned();
    // Not executable: skipped.
    assert_ne!(
        locate_runtime(Path::new("runc"), Some(&path)),
        Some(fake.clone())
    );
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    assert_eq!(locate_runtime(Path::new("runc"), Some(&path)), Some(fake));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn refused(annotation: &str, node: &NodeConfig) -> PlanError {
    let b = bundle("hostile", &config(json!({POLICY_ANNOTATION: annotation})));
    plan(&b, node, &BPF).unwrap_err()
}

#[test]
fn errno_zero_on_privilege_drops_is_refused() {
    // Regression (issue 13, finding 1): this annotation made a uid-1000 container root.
    let e = refused(
        "errno 0 capset setuid setgid setgroups setresuid setresgid setfsuid setfsgid prctl",
        &NodeConfig::default(),
    );
    let msg = e.to_string();
    assert!(matches!(e, PlanError::Looser { .. }), "{msg}");
    assert!(
        msg.contains("is `errno 0` under the pod policy but `allow` under the default"),
        "{msg}"
    );
}

#[test]
fn notify_and_trace_cannot_reopen_denied_calls() {
    // Regression (issue 13, finding 2): `notify unshare` let the pod answer CONTINUE itself.
    for text in ["notify unshare", "trace 1 @namespaces bpf", "log bpf"] {
        let e = refused(text, &NodeConfig::default());
        assert!(matches!(e, PlanError::Looser { .. }), "{text}: {e}");
    }
}

#[test]
fn a_kubelet_profile_no_looser_than_the_default_is_proved_and_replaced() {
    // A kubelet-provided profile that only refuses more (here: everything but a few calls
    // killed is stricter than `container`) is proved and compiled by moat.
    let mut c = config(json!({}));
    c["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["read", "write", "exit_group", "getpid"], "action": "SCMP_ACT_ALLOW"}],
    });
    let p = apply(plan(&bundle("kubelet", &c), &strict_node(), &BPF).unwrap());
    assert_eq!(p.sources[0], "linux.seccomp (the pod's seccompProfile)");
    assert!(
        p.config["linux"].get("seccomp").is_none(),
        "replaced by moat's program"
    );
    assert_eq!(ret(&p.program, "getpid", [0; 6]), 0x7fff_0000);
    assert_eq!(ret(&p.program, "mkdir", [0; 6]), 0x0005_0001);
    // An annotation is read after the kubelet's profile.
    c["annotations"] = json!({POLICY_ANNOTATION: "deny getpid"});
    let p = apply(plan(&bundle("kubelet2", &c), &strict_node(), &BPF).unwrap());
    assert_eq!(ret(&p.program, "getpid", [0; 6]), 0x0005_0001);
    assert_eq!(ret(&p.program, "read", [0; 6]), 0x7fff_0000);
}

#[test]
fn a_proof_past_the_budget_refuses_the_pod() {
    // Regression (issue 13, finding 5): a 5 KB annotation held the node for 9 s.
    let set: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let text = format!("deny ioctl if request in {{{}}}", set.join(", "));
    let node = NodeConfig {
        proof_time: std::time::Duration::from_millis(1),
        ..NodeConfig::default()
    };
    let e = refused(&text, &node);
    let msg = e.to_string();
    assert!(matches!(e, PlanError::Budget { .. }), "{msg}");
    assert!(msg.contains("took longer than"), "{msg}");
    // Larger than the node reads at all: refused before parsing.
    let huge = "deny mkdir\n".repeat(MAX_POLICY / 8);
    assert!(matches!(
        refused(&huge, &NodeConfig::default()),
        PlanError::TooLarge { .. }
    ));
}

#[test]
fn enforce_rules_apply_after_every_policy() {
    let node = NodeConfig {
        enforce: vec![
            ("deny socket if domain == AF_ALG".into(), 1),
            ("deny mkdir".into(), 2),
        ],
        ..any_node()
    };
    // Nothing asked: the default, then enforce.
    let p = apply(plan(&bundle("e0", &config(json!({}))), &node, &BPF).unwrap());
    assert_eq!(ret(&p.program, "mkdir", [0; 6]), 0x0005_0001);
    assert_eq!(ret(&p.program, "socket", [38, 0, 0, 0, 0, 0]), 0x0005_0001);
    assert_eq!(ret(&p.program, "socket", [2, 0, 0, 0, 0, 0]), 0x7fff_0000);
    // A pod that allows mkdir on an `any` node still gets enforce.
    let b = bundle(
        "e1",
        &config(json!({POLICY_ANNOTATION: "allow mkdir socket"})),
    );
    let p = apply(plan(&b, &node, &BPF).unwrap());
    assert_eq!(ret(&p.program, "mkdir", [0; 6]), 0x0005_0001);
    assert_eq!(ret(&p.program, "socket", [38, 0, 0, 0, 0, 0]), 0x0005_0001);
    assert_eq!(p.sources.last().map(String::as_str), Some("enforce"));
    // Dropping the native ABI and letting bad-architecture calls run would step around them.
    let e = refused("arch x86\nbadarch allow", &node);
    assert!(matches!(e, PlanError::Enforce { .. }), "{e}");
    // So would making the call "unknown" with an old `kernel` and `unknown allow`.
    let node = NodeConfig {
        enforce: vec![("deny @mount".into(), 1)],
        ..any_node()
    };
    let e = refused("kernel 2.6\nunknown allow", &node);
    assert!(matches!(e, PlanError::Enforce { .. }), "{e}");
    // An enforce error points at its entry.
    let node = NodeConfig {
        enforce: vec![("deny mkdri".into(), 1)],
        path: Some("rt.toml".into()),
        ..any_node()
    };
    let e = refused("deny rmdir", &node).to_string();
    assert!(e.starts_with("rt.toml enforce:1:6:"), "{e}");
}

#[test]
fn intersect_runs_exactly_pod_and_default() {
    let node = NodeConfig {
        pod_policies: PodPolicies::Intersect,
        ..NodeConfig::default()
    };
    let pod = "default allow\nallow bpf\nerrno 0 setuid\ndeny mkdir\nnotify getpid\ndeny socket if domain == AF_INET6";
    let b = bundle("meet", &config(json!({POLICY_ANNOTATION: pod})));
    let p = apply(plan(&b, &node, &BPF).unwrap());
    let ctx = moat_policy::Context {
        caps: Some(b.capabilities().unwrap()),
        kernel: None,
    };
    let pp = moat_policy::Policy::compose(&[
        Source::Builtin("container".into()),
        Source::Annotation {
            key: "p".into(),
            text: pod.into(),
        },
    ])
    .unwrap();
    let dp = moat_policy::Policy::builtin("container").unwrap().unwrap();
    // On every x86_64 syscall (with a few argument values) the plan's program returns the
    // meet of the two verdicts.
    let audit = Arch::X86_64.audit_arch();
    for sc in Arch::X86_64.syscalls() {
        for a0 in [0u64, 2, 10, 38, 0x1000_0000] {
            let args = [a0, 0, 0, 0, 0, 0];
            let x = pp.evaluate(&ctx, audit, sc.nr, args).action;
            let y = dp.evaluate(&ctx, audit, sc.nr, args).action;
            let got =
                Action::from_ret(emu::run(&p.program, &SeccompData::new(audit, sc.nr, args)).ret);
            assert_eq!(
                got,
                Action::meet(x, y),
                "{} {args:?}: pod {x}, default {y}",
                sc.name
            );
        }
    }
    assert_eq!(
        ret(&p.program, "setuid", [0; 6]),
        0x0005_0001,
        "errno 0 against allow: deny"
    );
    assert_eq!(
        ret(&p.program, "bpf", [0; 6]),
        0x0005_0001,
        "the default's deny stays"
    );
    assert_eq!(ret(&p.program, "mkdir", [0; 6]), 0x0005_0001);
    assert_eq!(ret(&p.program, "socket", [10, 0, 0, 0, 0, 0]), 0x0005_0001);
    assert_eq!(ret(&p.program, "socket", [2, 0, 0, 0, 0, 0]), 0x7fff_0000);
    assert!(
        p.notes.iter().any(|n| n.contains("intersect")),
        "{:?}",
        p.notes
    );
}

#[test]
fn a_node_profile_that_does_not_parse_is_not_quoted() {
    let dir = std::env::temp_dir().join(format!("moat-runtime-quote-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("secret"), "SECRET-TOKEN-1234 hunter2\n").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", dir.join("link")).unwrap();
    let node = NodeConfig {
        profile_dir: dir.clone(),
        ..NodeConfig::default()
    };
    let b = bundle("quote", &config(json!({PROFILE_ANNOTATION: "secret"})));
    let e = plan(&b, &node, &BPF).unwrap_err().to_string();
    assert!(!e.contains("SECRET") && !e.contains("hunter2"), "{e}");
    assert!(e.starts_with("moat.dev/profile: "), "{e}");
    let b = bundle("link", &config(json!({PROFILE_ANNOTATION: "link"})));
    let e = plan(&b, &node, &BPF).unwrap_err().to_string();
    assert!(!e.contains("/etc/hostname"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_format_comes_from_what_the_runtime_says() {
    // Regression (issue 13, finding 3): a runc named `*crun*` got crun's annotation and ran
    // without seccomp. The evidence is the version text, never the file name.
    let runc = "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\ngo: go1.19.8\nlibseccomp: 2.5.4\n";
    let crun = "crun version 1.8.1\ncommit: f8a096be\nrundir: /run/crun\nspec: 1.0.0\n+SYSTEMD +SELINUX +APPARMOR +CAP +SECCOMP +EBPF +YAJL\n";
    let crun_noseccomp = "crun version 1.8.1\nspec: 1.0.0\n+SYSTEMD +CAP -SECCOMP\n";
    assert_eq!(Format::from_version(runc), Some(Format::Oci));
    assert_eq!(Format::from_version(crun), Some(Format::Bpf));
    assert_eq!(Format::from_version(crun_noseccomp), Some(Format::Oci));
    assert_eq!(Format::from_version(""), None);
    assert!(!Format::Bpf.supported_by(runc));
    assert!(!Format::Bpf.supported_by(crun_noseccomp));
    assert!(Format::Bpf.supported_by(crun));
    assert!(Format::Oci.supported_by(runc) && Format::Oci.supported_by(crun));
    assert!(!Format::Oci.supported_by("not a runtime"));
}

#[test]
fn policy_wide_tricks_are_refused() {
    // Statements that change what a policy means everywhere: each is looser than `container`
    // somewhere, so `subset` refuses it.
    for text in [
        "kernel 2.6\nunknown allow",
        "arch x86\nbadarch allow",
        "arch x86_64 x32",
        "badarch allow",
        "unknown allow",
    ] {
        let e = refused(text, &NodeConfig::default());
        assert!(matches!(e, PlanError::Looser { .. }), "{text}: {e}");
    }
}

mod intersect_random {
    use super::*;
    use proptest::prelude::*;

    /// Rules with overlapping conditions on shared syscalls, every action class included
    /// (`errno 0` and `notify` among them, the two a hostile pod author reaches for).
    const RULES: &[&str] = &[
        "deny clone if flags & CLONE_NEWUSER",
        "allow clone if flags & 0x10000000 == 0",
        "errno 0 setuid",
        "notify unshare",
        "log mprotect if addr >= 0x80000000",
        "deny mprotect if prot & PROT_EXEC and len > 0x1000",
        "trap socket if domain not in {AF_INET, AF_INET6}",
        "deny socket if domain == AF_VSOCK or type & 0x80000",
        "allow socket if domain == AF_INET",
        "errno ENOSYS ioctl if request & 0xff00 == 0x5400",
        "allow ioctl if request < 0x5410",
        "deny read if arg0 > 2",
        "kill write if arg2 == 0",
        "allow bpf",
        "deny @mount",
    ];
    const HEADS: &[&str] = &[
        "default allow",
        "default errno EPERM",
        "default allow\narch x86_64 x86",
        "default log\nbadarch errno EPERM\nunknown allow",
    ];

    fn arb_policy() -> impl Strategy<Value = String> {
        (
            0..HEADS.len(),
            proptest::collection::vec(0..RULES.len(), 0..5),
        )
            .prop_map(|(h, rs)| {
                let mut s = HEADS[h].to_string();
                for r in rs {
                    s.push('\n');
                    s.push_str(RULES[r]);
                }
                s
            })
    }

    fn text(key: &str, text: &str) -> Source {
        Source::Annotation {
            key: key.into(),
            text: text.into(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The intersection `pod-policies = "intersect"` writes is exactly pod ∩ default on
        /// random pairs: the three-way proof the plan runs holds, and the evaluator agrees on
        /// every x86_64 and i386 syscall at boundary arguments.
        #[test]
        fn the_written_intersection_is_exactly_the_meet(pod in arb_policy(), default in arb_policy()) {
            let ctx = Context::default();
            let p = Policy::compose(&[text("pod", &pod)]).unwrap();
            let d = Policy::compose(&[text("default", &default)]).unwrap();
            let t = match intersection_text(&p, &d, &ctx, |t| {
                Policy::compose(&[text("default", &default), text("meet", t)]).map_err(|e| e.to_string())
            }) {
                Ok(t) => t,
                Err(e) => {
                    // Refused only where the meet cannot be written over the common ABIs.
                    let one_sided = p.arches().iter().any(|a| !d.arches().contains(a))
                        && d.badarch_action().action != Action::KillProcess
                        || d.arches().iter().any(|a| !p.arches().contains(a))
                            && p.badarch_action().action != Action::KillProcess;
                    prop_assert!(one_sided && e.to_string().contains("same `arch` line"), "{}", e);
                    return Ok(());
                }
            };
            let i = Policy::compose(&[text("default", &default), text("meet", &t)]).unwrap();
            prop_assert_eq!(prove_meet(&i, &p, &d, &ctx), Ok(()), "{}", t);
            for arch in [Arch::X86_64, Arch::X86] {
                for sc in arch.syscalls() {
                    for a0 in [0u64, 2, 3, 10, 40, 0x5400, 0x5410, 0x8000_0000, u64::MAX] {
                        let args = [a0, 0x1001, 4, 0, 0, 0];
                        let nr = sc.nr;
                        let (x, y, z) = (
                            p.evaluate(&ctx, arch.audit_arch(), nr, args).action,
                            d.evaluate(&ctx, arch.audit_arch(), nr, args).action,
                            i.evaluate(&ctx, arch.audit_arch(), nr, args).action,
                        );
                        prop_assert_eq!(z, Action::meet(x, y), "{} {:?}\n{}", sc.name, args, t);
                    }
                }
            }
        }
    }

    /// Regression (found by the property test above): a meet rule for `socket` decided x86's
    /// `socketcall` too, where the meet was the default's `trap`; the multiplexer now gets an
    /// explicit rule and the written intersection is exactly the meet.
    #[test]
    fn socket_rules_do_not_change_socketcall_in_the_intersection() {
        let ctx = Context::default();
        let pod =
            "default allow\narch x86_64 x86\ndeny socket if domain == AF_VSOCK or type & 0x80000";
        let default =
            "default allow\narch x86_64 x86\ntrap socket if domain not in {AF_INET, AF_INET6}";
        let p = Policy::compose(&[text("pod", pod)]).unwrap();
        let d = Policy::compose(&[text("default", default)]).unwrap();
        let compose = |t: &str| {
            Policy::compose(&[text("default", default), text("meet", t)]).map_err(|e| e.to_string())
        };
        let t = intersection_text(&p, &d, &ctx, compose).unwrap();
        assert!(t.contains("socketcall if arg0 == 0x1 when arch x86"), "{t}");
        let i = compose(&t).unwrap();
        assert_eq!(prove_meet(&i, &p, &d, &ctx), Ok(()));
        let socketcall = Arch::X86.by_name("socketcall").unwrap().nr;
        let v = i.evaluate(&ctx, Arch::X86.audit_arch(), socketcall, [1, 0, 0, 0, 0, 0]);
        assert_eq!(v.action, Action::Trap(0), "{t}");
    }

    /// A hand-made intersection that denies a call both policies allow passes both subset
    /// proofs but not the plan's exact one.
    #[test]
    fn a_too_tight_intersection_is_refused() {
        let ctx = Context::default();
        let p = Policy::compose(&[text("pod", "default allow\ndeny mkdir")]).unwrap();
        let d = Policy::compose(&[text("default", "default allow\ndeny bpf")]).unwrap();
        let i = Policy::compose(&[text(
            "i",
            "default allow\ndeny mkdir\ndeny bpf\ndeny getpid",
        )])
        .unwrap();
        let e = prove_meet(&i, &p, &d, &ctx).unwrap_err();
        assert!(
            matches!(&e, Refusal::Call(c) if c.contains("getpid")),
            "{e}"
        );
    }

    /// Regression: a pod accepting an ABI the default does not, against a default whose
    /// `badarch` is not `kill`, got `kill` on that ABI where the meet is the default's
    /// `badarch`; such a pair is refused with the reason instead.
    #[test]
    fn one_sided_abis_need_a_kill_badarch() {
        let ctx = Context::default();
        let p = Policy::compose(&[text("pod", "default allow\narch x86_64 x86")]).unwrap();
        let d = Policy::compose(&[text("default", "default log\nbadarch errno EPERM")]).unwrap();
        let e = intersection_text(&p, &d, &ctx, |_| unreachable!()).unwrap_err();
        let e = e.to_string();
        assert!(
            e.contains("does not accept x86") && e.contains("`deny`"),
            "{e}"
        );
        let d = Policy::compose(&[text("default", "default log")]).unwrap();
        let t = intersection_text(&p, &d, &ctx, |t| {
            Policy::compose(&[text("default", "default log"), text("meet", t)])
                .map_err(|e| e.to_string())
        })
        .unwrap();
        let i = Policy::compose(&[text("default", "default log"), text("meet", &t)]).unwrap();
        assert_eq!(prove_meet(&i, &p, &d, &ctx), Ok(()));
    }
}
