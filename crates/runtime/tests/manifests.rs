//! The manifests in deploy/kubernetes validate against the Kubernetes API schemas of the objects
//! they use, offline: each document is deserialised into the `k8s-openapi` type generated from
//! the Kubernetes 1.33 OpenAPI specification (required fields and value types checked) and
//! serialised back; any field the schema does not have is dropped by that round trip, so the
//! two must be equal. The runtime snippets and the node configuration are checked for what moat
//! and the manifests rely on, and the example pod's policy is planned against the node
//! configuration the DaemonSet installs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::api::node::v1::RuntimeClass;
use moat_bpf::{Program, SeccompData, emu};
use moat_runtime::{Bundle, Format, NodeConfig, Outcome, Request};
use moat_syscalls::Arch;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes")
}

/// The first place two JSON values differ, as a path.
fn difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => {
                        if let Some(d) = difference(u, v, &p) {
                            return Some(d);
                        }
                    }
                    (Some(_), None) => return Some(format!("{p}: not in the schema")),
                    (None, Some(_)) => return Some(format!("{p}: added by the schema type")),
                    (None, None) => {}
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (u, v))| difference(u, v, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{path}: {a} became {b}")),
    }
}

fn strict<T: DeserializeOwned + serde::Serialize>(doc: &Value, file: &str) -> T {
    let typed: T = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{file}: does not match the schema: {e}"));
    let back = serde_json::to_value(&typed).unwrap();
    if let Some(d) = difference(doc, &back, "") {
        panic!("{file}: {d}");
    }
    typed
}

#[derive(Default)]
struct Manifests {
    runtime_classes: Vec<RuntimeClass>,
    config_maps: Vec<ConfigMap>,
    daemon_sets: Vec<DaemonSet>,
    pods: Vec<Pod>,
}

fn manifests() -> Manifests {
    let mut m = Manifests::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        for de in serde_norway::Deserializer::from_str(&text) {
            let doc = Value::deserialize(de).unwrap_or_else(|e| panic!("{name}: {e}"));
            if doc.is_null() {
                continue;
            }
            let api = doc["apiVersion"].as_str().unwrap_or_default().to_string();
            let kind = doc["kind"].as_str().unwrap_or_default().to_string();
            match (api.as_str(), kind.as_str()) {
                ("node.k8s.io/v1", "RuntimeClass") => m.runtime_classes.push(strict(&doc, &name)),
                ("v1", "ConfigMap") => m.config_maps.push(strict(&doc, &name)),
                ("apps/v1", "DaemonSet") => m.daemon_sets.push(strict(&doc, &name)),
                ("v1", "Pod") => m.pods.push(strict(&doc, &name)),
                _ => panic!("{name}: {api} {kind} is not checked by this test"),
            }
        }
    }
    m
}

#[test]
fn every_manifest_matches_its_schema() {
    let m = manifests();
    assert_eq!(m.runtime_classes.len(), 1);
    assert_eq!(m.config_maps.len(), 1);
    assert_eq!(m.daemon_sets.len(), 1);
    assert_eq!(m.pods.len(), 1);
}

#[test]
fn the_strict_check_catches_a_misspelt_field() {
    let doc = serde_json::json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
        "metadata": {"name": "x"}, "handler": "moat", "schedulng": {}});
    let r = std::panic::catch_unwind(|| strict::<RuntimeClass>(&doc, "t"));
    assert!(r.is_err());
    let doc = serde_json::json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
        "metadata": {"name": "x"}});
    let r = std::panic::catch_unwind(|| strict::<RuntimeClass>(&doc, "t"));
    assert!(r.is_err(), "handler is required");
}

fn toml_file(name: &str) -> toml::Value {
    let text = std::fs::read_to_string(deploy().join(name)).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn at<'a>(v: &'a toml::Value, path: &[&str]) -> &'a toml::Value {
    path.iter().fold(v, |v, k| {
        v.get(k).unwrap_or_else(|| panic!("missing {path:?}"))
    })
}

#[test]
fn runtime_snippets_register_the_handler_the_runtime_class_names() {
    let m = manifests();
    let handler = m.runtime_classes[0].handler.clone();
    assert_eq!(handler, "moat");
    let ds = &m.daemon_sets[0];
    let spec = ds.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    // The binary directory the installer writes to: `moat node install --root /host`
    // writes /host + its --bin-dir (default /usr/local/bin), a mount of that host directory.
    let install = &spec.init_containers.as_ref().unwrap()[0];
    let args = install.args.clone().unwrap();
    assert_eq!(args[..4], ["node", "install", "--root", "/host"]);
    assert!(!args.iter().any(|a| a == "--bin-dir"), "{args:?}");
    let bin_volume = install
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.mount_path == "/host/usr/local/bin")
        .unwrap()
        .name
        .clone();
    let bin_dir = spec
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == bin_volume)
        .unwrap()
        .host_path
        .as_ref()
        .unwrap()
        .path
        .clone();
    assert_eq!(bin_dir, moat_runtime::install::DEFAULT_BIN_DIR);
    let binary = format!("{bin_dir}/moat-runc");

    for (file, plugin) in [
        ("containerd.toml", "io.containerd.grpc.v1.cri"),
        ("containerd-v3.toml", "io.containerd.cri.v1.runtime"),
    ] {
        let t = toml_file(file);
        let rt = at(&t, &["plugins", plugin, "containerd", "runtimes", &handler]);
        assert_eq!(
            at(rt, &["runtime_type"]).as_str(),
            Some("io.containerd.runc.v2"),
            "{file}"
        );
        assert_eq!(
            at(rt, &["options", "BinaryName"]).as_str(),
            Some(binary.as_str()),
            "{file}"
        );
        let pods: Vec<&str> = at(rt, &["pod_annotations"])
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(pods, ["moat.dev/*"], "{file}");
    }
    let crio = toml_file("crio.conf");
    let rt = at(&crio, &["crio", "runtime", "runtimes", &handler]);
    assert_eq!(at(rt, &["runtime_path"]).as_str(), Some(binary.as_str()));
    assert_eq!(at(rt, &["runtime_type"]).as_str(), Some("oci"));
}

/// The node configuration and profiles from the ConfigMap, installed into a temporary
/// /etc/moat.
fn installed_node(m: &Manifests) -> (NodeConfig, BTreeMap<String, String>) {
    let data = m.config_maps[0].data.clone().unwrap();
    let ds = &m.daemon_sets[0];
    let spec = ds.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let cm_volume = spec
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find_map(|v| v.config_map.as_ref())
        .unwrap();
    assert_eq!(
        cm_volume.name,
        m.config_maps[0].metadata.name.clone().unwrap()
    );
    for item in cm_volume.items.iter().flatten() {
        assert!(
            data.contains_key(&item.key),
            "the DaemonSet mounts a missing key {}",
            item.key
        );
    }
    let dir = std::env::temp_dir().join(format!("moat-manifests-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (k, v) in &data {
        if k.ends_with(".moat") {
            moat_policy::Policy::parse(v, k).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(dir.join(k), v).unwrap();
        }
    }
    let mut node = NodeConfig::parse(&data["runtime.toml"], "runtime.toml").unwrap();
    assert_eq!(node.profile_dir, Path::new("/etc/moat/profiles"));
    node.profile_dir = dir;
    (node, data)
}

fn plan_bundle(config: &Value, node: &NodeConfig, format: Format, name: &str) -> Outcome {
    let dir = std::env::temp_dir().join(format!("moat-manifests-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let b = Bundle::open(&dir, None).unwrap();
    let o = moat_runtime::plan(
        &b,
        node,
        &Request {
            format,
            kernel: None,
        },
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    o
}

#[test]
fn the_installed_node_config_and_the_example_pod_plan() {
    let m = manifests();
    let (node, _) = installed_node(&m);
    assert_eq!(node.runtime.as_deref(), Some(Path::new("/usr/bin/crun")));
    assert_eq!(node.pod_policies, moat_runtime::PodPolicies::Subset);
    assert!(node.warnings.is_empty(), "{:?}", node.warnings);
    assert_eq!(node.enforce.len(), 1);
    // The format comes from what the runtime says about itself: this machine's crun.
    let version = std::process::Command::new("crun")
        .arg("--version")
        .output()
        .unwrap();
    let format = Format::from_version(&String::from_utf8_lossy(&version.stdout)).unwrap();
    assert_eq!(format, Format::Bpf);
    // A container that asks for nothing gets the node default.
    let check =
        serde_json::json!({"ociVersion": "1.0.2", "process": {"args": ["true"]}, "linux": {}});
    assert!(matches!(
        plan_bundle(&check, &node, format, "check"),
        Outcome::Apply(_)
    ));

    // The example pod: its annotation, as containerd copies it into config.json.
    let pod = &m.pods[0];
    assert_eq!(
        pod.spec.as_ref().unwrap().runtime_class_name.as_deref(),
        m.runtime_classes[0].metadata.name.as_deref()
    );
    let annotations = pod.metadata.annotations.clone().unwrap();
    assert!(annotations.keys().all(|k| k.starts_with("moat.dev/")));
    let config = serde_json::json!({"ociVersion": "1.0.2", "process": {"args": ["sh"]},
        "linux": {}, "annotations": annotations});
    let Outcome::Apply(plan) = plan_bundle(&config, &node, format, "pod");
    assert!(
        plan.notes.iter().any(|n| n.contains("proved")),
        "{:?}",
        plan.notes
    );
    let data = plan.config["annotations"][moat_runtime::CRUN_BPF_ANNOTATION]
        .as_str()
        .unwrap();
    assert!(!data.is_empty());
    let p: &Program = &plan.program;
    let x = Arch::X86_64;
    let call = |name: &str| {
        emu::run(
            p,
            &SeccompData::new(x.audit_arch(), x.by_name(name).unwrap().nr, [0; 6]),
        )
        .ret
    };
    assert_eq!(call("mkdir"), 0x0005_0001);
    assert_eq!(call("openat"), 0x7fff_0000);

    // A pod naming the web profile is planned too.
    let config = serde_json::json!({"ociVersion": "1.0.2", "linux": {},
        "annotations": {"moat.dev/profile": "web"}});
    assert!(matches!(
        plan_bundle(&config, &node, Format::Oci, "web"),
        Outcome::Apply(_)
    ));
    let _ = std::fs::remove_dir_all(&node.profile_dir);
}

/// `moat node install` prints the same handler registration as the files in deploy/ (the
/// runtime's table, `SystemdCgroup` aside: the installer prints it on request).
#[test]
fn the_installers_handler_snippets_match_the_deploy_files() {
    use moat_runtime::install::{Engine, handler};
    let runc = Path::new("/usr/local/bin/moat-runc");
    for (engine, file, path) in [
        (
            Engine::Containerd1,
            "containerd.toml",
            &[
                "plugins",
                "io.containerd.grpc.v1.cri",
                "containerd",
                "runtimes",
                "moat",
            ][..],
        ),
        (
            Engine::Containerd2,
            "containerd-v3.toml",
            &[
                "plugins",
                "io.containerd.cri.v1.runtime",
                "containerd",
                "runtimes",
                "moat",
            ][..],
        ),
        (
            Engine::CriO,
            "crio.conf",
            &["crio", "runtime", "runtimes", "moat"][..],
        ),
    ] {
        let strip = |mut v: toml::Value| {
            if let Some(o) = v.get_mut("options").and_then(|o| o.as_table_mut()) {
                o.remove("SystemdCgroup");
            }
            v
        };
        let deployed = strip(at(&toml_file(file), path).clone());
        let printed: toml::Value = toml::from_str(&handler(engine, runc, false)).unwrap();
        assert_eq!(strip(at(&printed, path).clone()), deployed, "{file}");
    }
}
