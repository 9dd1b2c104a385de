//! moat-runc as containerd's `moat` runtime handler, driven over the CRI as the kubelet drives
//! it (crates/cri-e2e: one containerd for every case, started and stopped by the test).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;

use moat_cri_e2e::harness::{self, Case};
use moat_cri_e2e::{ContainerSpec, PodSpec, Suite};

const EPERM: i32 = 1;

const CALLS: &[&str] = &["getpid", "mkdir", "chmod", "keyctl", "netlink"];

fn node_default_applies_without_annotation(s: &Suite) {
    s.node("");
    let pod = s.pod(&PodSpec::new("plain")).unwrap();
    let (id, p) = pod.probe(&ContainerSpec::probe("main", CALLS)).unwrap();
    assert_eq!(p.seccomp, Some(2), "{p:?}");
    assert_eq!(p.errno("getpid"), 0);
    assert_eq!(p.errno("mkdir"), 0);
    assert_eq!(p.errno("keyctl"), EPERM, "container denies @keyring");
    let applied = s.applied(&id);
    assert!(applied.starts_with("node default `container` as linux.seccomp"), "{applied}");
}

fn main() -> ExitCode {
    harness::main(&[Case {
        name: "node_default_applies_without_annotation",
        run: node_default_applies_without_annotation,
    }])
}
