//! The importers never panic: random bytes, random JSON values shaped like profiles, and
//! mutations of Docker's default profile either load or give one error line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use moat_export::{Options, load_bytes};
use proptest::prelude::*;
use serde_json::{Value, json};

static DOCKER_DEFAULT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| moat_testkit::fixture("fixtures/docker-default.json"));

fn check(bytes: &[u8], name: &str) {
    if let Err(e) = load_bytes(bytes, name, &Options::default()) {
        let line = e.to_string();
        assert!(!line.contains('\n'), "multi-line error: {line}");
        assert!(line.starts_with(name), "{line}");
    }
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        prop::sample::select(vec![
            "SCMP_ACT_ALLOW",
            "SCMP_ACT_ERRNO",
            "SCMP_ACT_KILL",
            "SCMP_CMP_EQ",
            "SCMP_CMP_MASKED_EQ",
            "SCMP_ARCH_X86_64",
            "SCMP_ARCH_X86",
            "read",
            "socket",
            "personality",
            "CAP_SYS_ADMIN",
            "amd64",
            "4.8",
            "",
            "x",
            "SeccompProfile",
        ])
        .prop_map(|s| json!(s)),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "defaultAction",
        "defaultErrnoRet",
        "architectures",
        "archMap",
        "syscalls",
        "names",
        "name",
        "action",
        "errnoRet",
        "args",
        "index",
        "value",
        "valueTwo",
        "op",
        "includes",
        "excludes",
        "caps",
        "arches",
        "minKernel",
        "comment",
        "flags",
        "listenerPath",
        "linux",
        "seccomp",
        "ociVersion",
        "process",
        "capabilities",
        "bounding",
        "architecture",
        "subArchitectures",
    ]);
    leaf().prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..6).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check(&bytes, "r.bin");
    }

    #[test]
    fn random_profiles_never_panic(v in value()) {
        check(serde_json::to_string(&v).unwrap().as_bytes(), "r.json");
        let yaml = format!(
            "apiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\nmetadata:\n  name: r\nspec: {}\n",
            serde_json::to_string(&v).unwrap()
        );
        check(yaml.as_bytes(), "r.yaml");
    }

    #[test]
    fn mutated_docker_profiles_never_panic(cut in 0usize..20_000, insert in prop::sample::select(vec!["", "]", "}", "\"", "-1", "null", "[", "SCMP_ACT_FOO"])) {
        let text = std::fs::read_to_string(&*DOCKER_DEFAULT).unwrap();
        let cut = cut.min(text.len());
        let cut = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        let mutated = format!("{}{}{}", &text[..cut], insert, &text[cut..]);
        check(mutated.as_bytes(), "m.json");
    }
}

fn lxc_line() -> impl Strategy<Value = String> {
    let word = prop::sample::select(vec![
        "2",
        "1",
        "denylist",
        "allowlist",
        "blacklist",
        "errno",
        "1",
        "4095",
        "-1",
        "kill",
        "allow",
        "trap",
        "notify",
        "killall",
        "read",
        "socket",
        "mknod",
        "umount2",
        "reject_force_umount",
        "[all]",
        "[x86]",
        "[arm64]",
        "[foo]",
        "[0,1,==]",
        "[1,8192,SCMP_CMP_MASKED_EQ,61440]",
        "[7,1,==]",
        "[0,0x,==]",
        "[0,1,SCMP_CMP_FOO]",
        "#",
        "]",
        "[",
        "",
        " ",
    ]);
    prop::collection::vec(word, 0..6).prop_map(|w| w.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_lxc_policies_never_panic(lines in prop::collection::vec(lxc_line(), 0..8), v2 in any::<bool>()) {
        let text = format!("{}\n{}\n", if v2 { "2" } else { "1" }, lines.join("\n"));
        if let Err(e) = moat_export::lxc::import(&text, "r.seccomp", &Options::default()) {
            let line = e.to_string();
            assert!(!line.contains('\n'), "multi-line error: {line}");
            assert!(line.starts_with("r.seccomp:"), "{line}");
        }
    }

    #[test]
    fn random_bytes_as_an_oci_archive_never_panic(cut in 0usize..4096, byte in any::<u8>()) {
        let l = load_bytes(b"default allow\ndeny mkdir\n", "p.moat", &Options::default()).unwrap();
        let out = moat_export::export(&l, moat_export::Format::OciArtifact, &moat_policy::Context::default(), "p").unwrap();
        let mut data = out.data;
        let i = cut % data.len();
        data[i] ^= byte | 1;
        check(&data, "m.tar");
    }
}
