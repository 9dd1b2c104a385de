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
        Outcome::Unchanged { reason } => panic!("unchanged: {reason}"),
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
fn nothing_asked_nothing_configured_is_unchanged() {
    let b = bundle("none", &config(json!({})));
    let o = plan(&b, &NodeConfig::default(), &BPF).unwrap();
    assert!(matches!(o, Outcome::Unchanged { .. }));
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
        &config(
            json!({POLICY_ANNOTATION: "use container\ndeny mkdir\n", CRUN_BPF_ANNOTATION: "AAAA"}),
        ),
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
    // A raw program from elsewhere never overrides the policy.
    assert!(p.config["annotations"].get(CRUN_BPF_ANNOTATION).is_none());
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
    assert!(
        matches!(
            e,
            PlanError::PathUse {
                line: 1,
                col: 1,
                ..
            }
        ),
        "{e}"
    );
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
        default_profile: Some("container".into()),
        allow_pod_policies: false,
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
    let node = NodeConfig {
        allow_pod_policies: true,
        ..strict_node()
    };
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
    let mut c = config(json!({}));
    c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW"});
    let o = plan(&bundle("own", &c), &strict_node(), &BPF).unwrap();
    assert!(matches!(o, Outcome::Unchanged { .. }));
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
    assert_eq!(p.sources, ["moat.dev/policy.web"]);
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
    assert_eq!(p.sources, ["moat.dev/policy.web"]);
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
        assert_eq!(p.sources, [POLICY_ANNOTATION], "{name}");
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
