//! Exports validate against the real schemas in the shared fixtures: the OCI runtime-spec JSON
//! Schema (`config-schema.json` and the files it references) and the security-profiles-operator
//! CRD's OpenAPI schemas (v1 and v1beta1).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonschema::{Retrieve, Uri};
use moat_export::{Format, Options, export, load};
use moat_policy::{CapSet, Context};
use serde_json::{Value, json};

static FIXTURES: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| moat_testkit::fixture("fixtures"));

/// Serves `file:///oci/NAME` from the fixture directory.
struct Fixtures;

impl Retrieve for Fixtures {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri
            .path()
            .as_str()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let text = std::fs::read_to_string(format!("{}/oci-schema/{name}", *FIXTURES))?;
        Ok(serde_json::from_str(&text)?)
    }
}

fn oci_validator() -> jsonschema::Validator {
    let mut schema: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}/oci-schema/config-schema.json", *FIXTURES)).unwrap(),
    )
    .unwrap();
    schema["id"] = json!("file:///oci/config-schema.json");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .with_base_uri("file:///oci/config-schema.json")
        .with_retriever(Fixtures)
        .build(&schema)
        .unwrap()
}

fn ctx() -> Context {
    Context {
        caps: Some(CapSet::docker_default()),
        kernel: None,
    }
}

fn exported(profile: &str, format: Format) -> Vec<u8> {
    let l = load(profile, &Options::default()).unwrap();
    export(&l, format, &ctx(), profile).unwrap().data
}

static DOCKER_DEFAULT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| moat_testkit::fixture("fixtures/docker-default.json"));

fn config_with(seccomp: Value) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": true},
        "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}},
        "linux": {"seccomp": seccomp}
    })
}

#[test]
fn oci_exports_validate_against_the_runtime_spec_schema() {
    let v = oci_validator();
    for p in ["container", "strict", "docker", DOCKER_DEFAULT.as_str()] {
        for f in [Format::Oci, Format::Docker, Format::K8s] {
            let s: Value = serde_json::from_slice(&exported(p, f)).unwrap();
            let c = config_with(s);
            let errors: Vec<String> = v
                .iter_errors(&c)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{p} {f:?}: {errors:?}");
        }
    }
}

#[test]
fn the_oci_schema_check_is_not_vacuous() {
    let v = oci_validator();
    let bad = config_with(json!({"defaultAction": "SCMP_ACT_FOO"}));
    assert!(!v.is_valid(&bad));
    let bad = config_with(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}),
    );
    assert!(!v.is_valid(&bad));
    let good = config_with(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}),
    );
    assert!(v.is_valid(&good));
}

/// The CRD's openAPIV3Schema for `version`.
fn spo_validator(version: &str) -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(format!("{}/spo-seccompprofile-crd.yaml", *FIXTURES)).unwrap();
    let crd = moat_export::spo::documents(&text, "crd.yaml")
        .unwrap()
        .remove(0);
    let schema = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == version)
        .unwrap()["schema"]["openAPIV3Schema"]
        .clone();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&schema)
        .unwrap()
}

#[test]
fn spo_exports_validate_against_the_crd_schema() {
    for version in ["v1", "v1beta1"] {
        let v = spo_validator(version);
        for p in ["container", "strict", "docker", DOCKER_DEFAULT.as_str()] {
            let text = String::from_utf8(exported(p, Format::Spo)).unwrap();
            let doc = moat_export::spo::documents(&text, "out.yaml")
                .unwrap()
                .remove(0);
            assert_eq!(doc["kind"], "SeccompProfile");
            let errors: Vec<String> = v
                .iter_errors(&doc)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{version} {p}: {errors:?}");
        }
        assert!(!v.is_valid(&json!({"spec": {"defaultAction": "SCMP_ACT_FOO"}})));
    }
}
