//! OCI artifacts and images: KEP-6061 seccomp profile artifacts written and read back (archive
//! and directory), what runtimes refuse in them, and Podman's `io.containers.seccomp.profile`
//! image label from an image config, `podman image inspect` output and OCI layouts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use moat_export::oci::{self, LAYER_JSON, MAX_BLOB, PODMAN_LABEL, SECCOMP_CONFIG};
use moat_export::{Format, InputFormat, Options, export, load, load_bytes};
use moat_oci::{Layout, Limits, spec};
use moat_policy::{Action, Context, Policy};
use moat_syscalls::Arch;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/formats/oci");

fn x(p: &Policy, name: &str, args: [u64; 6]) -> Action {
    let nr = Arch::X86_64.by_name(name).unwrap().nr;
    p.evaluate(&Context::default(), Arch::X86_64.audit_arch(), nr, args)
        .action
}

fn opts() -> Options {
    Options {
        host: Some(Arch::X86_64),
        ..Options::default()
    }
}

fn scratch(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("moat-export-oci-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Every syscall of x86_64 gets the same verdict (all-zero arguments and the policy's own
/// boundary values are covered by the round-trip tests; here one value per argument).
fn same_verdicts(a: &Policy, b: &Policy) {
    for s in Arch::X86_64.syscalls() {
        for args in [[0; 6], [1, 1, 1, 1, 1, 1], [40, 0x1000_0000, 4, 0, 0, 0]] {
            let va = a.evaluate(&Context::default(), Arch::X86_64.audit_arch(), s.nr, args);
            let vb = b.evaluate(&Context::default(), Arch::X86_64.audit_arch(), s.nr, args);
            assert_eq!(va.action, vb.action, "{}{args:?}", s.name);
        }
    }
}

#[test]
fn an_artifact_holds_one_json_layer_with_the_seccomp_media_type_and_reads_back() {
    let l = load("docker", &Options::default()).unwrap();
    let ctx = Context {
        caps: Some(moat_policy::CapSet::docker_default()),
        kernel: None,
    };
    let out = export(&l, Format::OciArtifact, &ctx, "docker-default").unwrap();
    // Deterministic: the same policy, the same bytes.
    assert_eq!(
        out.data,
        export(&l, Format::OciArtifact, &ctx, "docker-default")
            .unwrap()
            .data
    );
    let layout = Layout::from_tar(&out.data[..], &Limits::default()).unwrap();
    let ms = layout.manifests().unwrap();
    assert_eq!(ms.len(), 1);
    let (d, m) = &ms[0];
    assert_eq!(
        d.annotations.get(spec::REF_NAME).map(String::as_str),
        Some("docker-default")
    );
    assert_eq!(d.artifact_type.as_deref(), Some(SECCOMP_CONFIG));
    assert_eq!(m.artifact_type.as_deref(), Some(SECCOMP_CONFIG));
    assert_eq!(m.config.media_type, SECCOMP_CONFIG);
    assert_eq!(m.layers.len(), 1);
    assert_eq!(m.layers[0].media_type, LAYER_JSON);
    assert!(m.layers[0].size <= MAX_BLOB);
    let layer: serde_json::Value =
        serde_json::from_slice(layout.blob(&m.layers[0].digest).unwrap()).unwrap();
    assert!(layer.get("defaultAction").is_some(), "{layer}");
    // The OCI export's JSON, byte for byte.
    let oci_json = export(&l, Format::Oci, &ctx, "docker-default").unwrap();
    assert_eq!(
        layout.blob(&m.layers[0].digest).unwrap(),
        &oci_json.data[..]
    );
    assert_eq!(out.losses, oci_json.losses);
    // Read back from the archive.
    let back = load_bytes(&out.data, "docker.tar", &opts()).unwrap();
    assert_eq!(back.format, InputFormat::OciArtifact);
    let direct = load_bytes(&oci_json.data, "docker.json", &opts()).unwrap();
    same_verdicts(&back.policy, &direct.policy);
    assert_eq!(x(&back.policy, "mount", [0; 6]), Action::DENY);
    assert_eq!(x(&back.policy, "read", [0; 6]), Action::Allow);
    // And as a directory.
    let dir = scratch("dir").join("layout");
    layout.write_dir(&dir).unwrap();
    let from_dir = load(dir.to_str().unwrap(), &opts()).unwrap();
    assert_eq!(from_dir.format, InputFormat::OciArtifact);
    same_verdicts(&from_dir.policy, &back.policy);
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn a_layout_written_by_another_tool_is_read() {
    // testdata/formats/oci/artifact: laid out as security-profiles-operator's `spoc push` does
    // (config `{}`, one application/json layer with a title), digests computed independently.
    let dir = format!("{CORPUS}/artifact");
    let l = load(&dir, &opts()).unwrap();
    assert_eq!(l.format, InputFormat::OciArtifact);
    let p = &l.policy;
    assert_eq!(x(p, "accept4", [0; 6]), Action::Allow);
    assert_eq!(x(p, "socket", [2, 1, 0, 0, 0, 0]), Action::Allow);
    assert_eq!(x(p, "socket", [1, 1, 0, 0, 0, 0]), Action::DENY);
    assert_eq!(x(p, "clone3", [0; 6]), Action::Errno(38));
    assert_eq!(x(p, "kexec_load", [0; 6]), Action::KillProcess);
    assert_eq!(x(p, "mkdir", [0; 6]), Action::DENY);
    // Named in the index.
    let l = load(&format!("{dir}#web-v1"), &opts()).unwrap();
    assert_eq!(x(&l.policy, "read", [0; 6]), Action::Allow);
    let e = load(&format!("{dir}#web-v2"), &opts())
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("no manifest named \"web-v2\" in the layout's index (names: web-v1)"),
        "{e}"
    );
}

#[test]
fn notify_and_a_listener_do_not_go_into_an_artifact() {
    let l = load_bytes(
        b"default allow\nnotify mount\ndeny mkdir\n",
        "p.moat",
        &Options::default(),
    )
    .unwrap();
    let out = export(&l, Format::OciArtifact, &Context::default(), "p").unwrap();
    assert!(
        out.losses.iter().any(|l| l
            .0
            .starts_with("mount: notify is not allowed in an artifact")),
        "{:?}",
        out.losses
    );
    let back = load_bytes(&out.data, "p.tar", &opts()).unwrap();
    // Refused more, never less.
    assert_eq!(x(&back.policy, "mount", [0; 6]), Action::DENY);
    assert_eq!(x(&back.policy, "mkdir", [0; 6]), Action::DENY);
    assert_eq!(x(&back.policy, "read", [0; 6]), Action::Allow);
    // A listener from an imported profile is dropped with a loss.
    let json = br#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock",
        "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#;
    let l = load_bytes(json, "p.json", &opts()).unwrap();
    let out = export(&l, Format::OciArtifact, &Context::default(), "p").unwrap();
    assert!(
        out.losses.iter().any(|l| l.0.contains("no listenerPath")),
        "{:?}",
        out.losses
    );
    assert!(!out.text().contains("/run/agent.sock"));
}

/// A layout holding one artifact manifest built from parts.
fn artifact_layout(
    config_type: &str,
    artifact_type: Option<&str>,
    layers: Vec<(String, Vec<u8>)>,
) -> Vec<u8> {
    let mut layout = Layout::new();
    let config = layout.add_blob(config_type, spec::EMPTY_JSON.to_vec());
    let layers = layers
        .into_iter()
        .map(|(t, b)| layout.add_blob(&t, b))
        .collect();
    let mut m = spec::Manifest::new(config, layers);
    m.artifact_type = artifact_type.map(str::to_string);
    let d = layout.add_manifest(&m).unwrap();
    layout.index_mut().manifests.push(d);
    layout.to_tar().unwrap()
}

fn one_layer(profile: &str) -> Vec<u8> {
    artifact_layout(
        SECCOMP_CONFIG,
        Some(SECCOMP_CONFIG),
        vec![(LAYER_JSON.into(), profile.as_bytes().to_vec())],
    )
}

#[test]
fn what_runtimes_refuse_in_an_artifact_is_an_error() {
    let ok = r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#;
    let read = |bytes: &[u8]| {
        load_bytes(bytes, "a.tar", &opts())
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert_eq!(read(&one_layer(ok)), Ok(()));
    let two = artifact_layout(
        SECCOMP_CONFIG,
        None,
        vec![
            (LAYER_JSON.into(), ok.as_bytes().to_vec()),
            (LAYER_JSON.into(), b"{}".to_vec()),
        ],
    );
    let e = read(&two).unwrap_err();
    assert!(
        e.contains("a seccomp profile artifact has exactly one layer, this one has 2"),
        "{e}"
    );
    let mismatch = artifact_layout(
        SECCOMP_CONFIG,
        Some("application/vnd.example"),
        vec![(LAYER_JSON.into(), ok.as_bytes().to_vec())],
    );
    let e = read(&mismatch).unwrap_err();
    assert!(e.contains("does not match config media type"), "{e}");
    // An empty config with the artifact type is a seccomp artifact too.
    let empty = artifact_layout(
        spec::EMPTY,
        Some(SECCOMP_CONFIG),
        vec![(LAYER_JSON.into(), ok.as_bytes().to_vec())],
    );
    assert_eq!(read(&empty), Ok(()));
    let other = artifact_layout(
        "application/vnd.example.config+json",
        None,
        vec![(LAYER_JSON.into(), ok.as_bytes().to_vec())],
    );
    let e = read(&other).unwrap_err();
    assert!(e.contains("is neither a seccomp profile artifact"), "{e}");
    let e = read(&one_layer(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#)).unwrap_err();
    assert!(
        e.ends_with(".defaultAction: SCMP_ACT_NOTIFY is not allowed in a seccomp profile artifact"),
        "{e}"
    );
    let e = read(&one_layer(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    ))
    .unwrap_err();
    assert!(
        e.ends_with(
            ".syscalls[0].action: SCMP_ACT_NOTIFY is not allowed in a seccomp profile artifact"
        ),
        "{e}"
    );
    let e = read(&one_layer(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/a.sock"}"#,
    ))
    .unwrap_err();
    assert!(
        e.ends_with(".listenerPath: listenerPath is not allowed in a seccomp profile artifact"),
        "{e}"
    );
    let many: Vec<String> = (0..129)
        .map(|i| {
            format!(r#"{{"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{{"index":0,"value":{i},"op":"SCMP_CMP_EQ"}}]}}"#)
        })
        .collect();
    let e = read(&one_layer(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{}]}}"#,
        many.join(",")
    )))
    .unwrap_err();
    assert!(e.ends_with("syscalls[128]: personality appears in more than 128 entries, more than a seccomp profile artifact may hold"), "{e}");
    let big = format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","comment":"{}"}}]}}"#,
        "x".repeat(usize::try_from(MAX_BLOB).unwrap())
    );
    let e = read(&one_layer(&big)).unwrap_err();
    assert!(
        e.contains("more than the 1048576 bytes runtimes take"),
        "{e}"
    );
    // A layer that is a tar archive of the profile, not the profile.
    let mut b = moat_oci::tar::Builder::new();
    b.file("seccomp.json", 0o644, ok.as_bytes().to_vec())
        .unwrap();
    let e = read(&one_layer_bytes(b.into_bytes().unwrap())).unwrap_err();
    assert!(e.contains("the profile layer is an archive"), "{e}");
    let e = read(&one_layer_bytes(vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0])).unwrap_err();
    assert!(e.contains("the profile layer is an archive"), "{e}");
    let e = read(&one_layer_bytes(vec![0x28, 0xb5, 0x2f, 0xfd, 0, 0])).unwrap_err();
    assert!(e.contains("the profile layer is an archive"), "{e}");
    // A layer with external URLs would be fetched from wherever they point.
    let mut layout = Layout::new();
    let config = layout.add_blob(SECCOMP_CONFIG, spec::EMPTY_JSON.to_vec());
    let mut layer = layout.add_blob(LAYER_JSON, ok.as_bytes().to_vec());
    layer.urls = vec!["https://example.invalid/p.json".into()];
    let mut m = spec::Manifest::new(config, vec![layer]);
    m.artifact_type = Some(SECCOMP_CONFIG.into());
    let d = layout.add_manifest(&m).unwrap();
    layout.index_mut().manifests.push(d);
    let e = read(&layout.to_tar().unwrap()).unwrap_err();
    assert!(
        e.contains("has external URLs, which runtimes refuse"),
        "{e}"
    );
    let e = read(&one_layer("{\"defaultAction\": ")).unwrap_err();
    assert!(
        e.contains(": line 1 column 18: EOF while parsing a value"),
        "{e}"
    );
    assert!(!e.contains('\n'));
}

fn one_layer_bytes(b: Vec<u8>) -> Vec<u8> {
    artifact_layout(
        SECCOMP_CONFIG,
        Some(SECCOMP_CONFIG),
        vec![(LAYER_JSON.into(), b)],
    )
}

#[test]
fn an_artifact_with_more_than_128_entries_for_a_syscall_gets_its_strictest_action() {
    let conds: Vec<String> = (0..150).map(|i| format!("persona == {}", 2 * i)).collect();
    let text = format!(
        "default allow\nerrno EINVAL personality if {}\n",
        conds.join(" or ")
    );
    let l = load_bytes(text.as_bytes(), "p.moat", &Options::default()).unwrap();
    let out = export(&l, Format::OciArtifact, &Context::default(), "p").unwrap();
    assert!(
        out.losses.iter().any(|l| l
            .0
            .starts_with("personality: its argument conditions need more than 128 entries")),
        "{:?}",
        out.losses
    );
    let back = load_bytes(&out.data, "p.tar", &opts()).unwrap();
    // Refused for every value now (the policy allows odd personas); the other calls keep their
    // verdicts.
    for persona in [1, 2, 3, 0xffff_ffff] {
        let v = x(&back.policy, "personality", [persona, 0, 0, 0, 0, 0]);
        assert!(matches!(v, Action::Errno(_)), "{persona}: {v:?}");
    }
    assert_eq!(x(&back.policy, "read", [0; 6]), Action::Allow);
}

#[test]
fn podmans_image_label_is_read_from_an_image_config_and_inspect_output() {
    for f in ["image-config.json", "podman-inspect.json"] {
        let l = load(&format!("{CORPUS}/{f}"), &opts()).unwrap();
        assert_eq!(l.format, InputFormat::ImageLabel, "{f}");
        let p = &l.policy;
        assert_eq!(x(p, "read", [0; 6]), Action::Allow, "{f}");
        // containers/common's defaultErrno and per-rule errno names.
        assert_eq!(x(p, "getpid", [0; 6]), Action::Errno(38), "{f}");
        assert_eq!(x(p, "mkdir", [0; 6]), Action::DENY, "{f}");
    }
}

/// An OCI layout holding an image (one empty layer) whose config carries `labels`, for
/// `architecture`, named `name`.
fn image(layout: &mut Layout, labels: &[(&str, &str)], architecture: &str, name: &str) {
    let cfg = spec::ContainerConfig {
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
        ..Default::default()
    };
    let config = spec::ImageConfig::new(architecture, "linux", cfg);
    let layer = moat_oci::tar::Builder::new().into_bytes().unwrap();
    let mut ann = BTreeMap::new();
    ann.insert(spec::REF_NAME.to_string(), name.to_string());
    layout.add_image(config, vec![layer], ann).unwrap();
}

#[test]
fn the_label_of_an_image_in_a_layout_is_found_through_index_manifest_and_config() {
    let deny_mkdir = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#;
    let deny_chdir = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chdir"],"action":"SCMP_ACT_ERRNO"}]}"#;
    let mut layout = Layout::new();
    image(
        &mut layout,
        &[(PODMAN_LABEL, deny_mkdir)],
        "amd64",
        "app:amd64",
    );
    let tar = layout.to_tar().unwrap();
    let l = load_bytes(&tar, "image.tar", &opts()).unwrap();
    assert_eq!(l.format, InputFormat::ImageLabel);
    assert_eq!(x(&l.policy, "mkdir", [0; 6]), Action::DENY);
    assert_eq!(x(&l.policy, "chdir", [0; 6]), Action::Allow);
    // Two platforms: the host's image is picked, or the one FILE#NAME names.
    image(
        &mut layout,
        &[(PODMAN_LABEL, deny_chdir)],
        "arm64",
        "app:arm64",
    );
    let tar = layout.to_tar().unwrap();
    let l = load_bytes(&tar, "image.tar", &opts()).unwrap();
    assert_eq!(x(&l.policy, "mkdir", [0; 6]), Action::DENY);
    let arm = Options {
        host: Some(Arch::Aarch64),
        ..opts()
    };
    let l = load_bytes(&tar, "image.tar", &arm).unwrap();
    let chdir = Arch::Aarch64.by_name("chdir").unwrap().nr;
    let v = l.policy.evaluate(
        &Context::default(),
        Arch::Aarch64.audit_arch(),
        chdir,
        [0; 6],
    );
    assert_eq!(v.action, Action::DENY);
    let named = Options {
        profile: Some("app:arm64".into()),
        ..opts()
    };
    let l = load_bytes(&tar, "image.tar", &named).unwrap();
    assert_eq!(x(&l.policy, "chdir", [0; 6]), Action::DENY);
    // Two images for the same platform: pick one by name.
    image(&mut layout, &[(PODMAN_LABEL, deny_chdir)], "amd64", "other");
    let tar = layout.to_tar().unwrap();
    let e = load_bytes(&tar, "image.tar", &opts())
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("the layout holds 3 manifests (names: app:amd64, app:arm64, other); pick one with FILE#NAME or --profile-name NAME"),
        "{e}"
    );
}

#[test]
fn a_missing_or_broken_label_is_one_error_naming_it() {
    let mut layout = Layout::new();
    image(
        &mut layout,
        &[("org.opencontainers.image.title", "x")],
        "amd64",
        "a",
    );
    let e = load_bytes(&layout.to_tar().unwrap(), "i.tar", &opts())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(".config.Labels: no io.containers.seccomp.profile label: podman --seccomp-policy=image then applies its default profile"),
        "{e}"
    );
    let bad = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},
        "config":{"Labels":{"io.containers.seccomp.profile":"{\"defaultAction\":\"SCMP_ACT_ALOW\"}"}}}"#;
    let e = load_bytes(bad, "c.json", &opts()).unwrap_err().to_string();
    assert_eq!(
        e,
        "c.json: config.Labels.\"io.containers.seccomp.profile\".defaultAction: unknown action \"SCMP_ACT_ALOW\" (did you mean \"SCMP_ACT_ALLOW\"?)"
    );
    let bad = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},
        "config":{"Labels":{"io.containers.seccomp.profile":"{\"defaultAction\""}}}"#;
    let e = load_bytes(bad, "c.json", &opts()).unwrap_err().to_string();
    assert_eq!(
        e,
        "c.json: config.Labels.\"io.containers.seccomp.profile\": line 1 column 16: EOF while parsing an object"
    );
    // A layout whose blob does not hash to its name.
    let dir = scratch("tamper").join("layout");
    let src = format!("{CORPUS}/artifact");
    copy_dir(std::path::Path::new(&src), &dir);
    for e in std::fs::read_dir(dir.join("blobs/sha256")).unwrap() {
        let p = e.unwrap().path();
        let mut b = std::fs::read(&p).unwrap();
        if b.starts_with(b"{\n") {
            b[3] ^= 1;
            std::fs::write(&p, b).unwrap();
        }
    }
    let e = load(dir.to_str().unwrap(), &opts())
        .unwrap_err()
        .to_string();
    assert!(e.contains("content hashes to sha256:"), "{e}");
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    let _ = oci::is_tar(b"");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

#[test]
fn skopeo_reads_and_copies_the_artifact() {
    if !moat_testkit::require(
        moat_testkit::has_tool("skopeo"),
        "skopeo (Debian package skopeo)",
    ) {
        return;
    }
    let d = scratch("skopeo");
    let l = load("container", &Options::default()).unwrap();
    let out = export(&l, Format::OciArtifact, &Context::default(), "container").unwrap();
    let tar = d.join("art.tar");
    std::fs::write(&tar, &out.data).unwrap();
    let src = format!("oci-archive:{}:container", tar.display());
    let o = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", &src])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let raw: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(raw["artifactType"], SECCOMP_CONFIG);
    assert_eq!(raw["config"]["mediaType"], SECCOMP_CONFIG);
    assert_eq!(raw["layers"].as_array().unwrap().len(), 1);
    // skopeo copies it blob by blob, checking every digest, into a layout of its own.
    let copy = d.join("copy");
    let o = std::process::Command::new("skopeo")
        .args(["copy", &src, &format!("oci:{}:container", copy.display())])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let back = load(&format!("{}#container", copy.display()), &opts()).unwrap();
    assert_eq!(back.format, InputFormat::OciArtifact);
    let ours = load_bytes(&out.data, "art.tar", &opts()).unwrap();
    same_verdicts(&back.policy, &ours.policy);
    let _ = std::fs::remove_dir_all(&d);
}
