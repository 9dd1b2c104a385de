//! moat-runc as containerd's `moat` runtime handler (deploy/kubernetes/containerd.toml),
//! driven over the CRI as the kubelet drives it: one containerd 1.6 for every case, started
//! and stopped by the test (crates/cri-e2e). Every case asserts inside the container: the
//! probe reports the errno of each call it makes and the `Seccomp:` line of its
//! /proc/self/status.
//!
//! Every case runs twice: with runc as the node's runtime (moat writes `linux.seccomp`,
//! `format = "oci"`) and with crun (moat's own program, `format = "bpf"`), the latter through
//! the wrapper `moat_cri_e2e::suite::CRUN_WRAPPER` that this machine's hybrid cgroups need.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::ExitCode;

use moat_cri_e2e::harness::{self, Case};
use moat_cri_e2e::{ContainerSpec, Pod, PodSpec, Probe, Profile, Runtime, Suite};
use serde_json::Value;

const EPERM: i32 = 1;

/// What every probe container tries: getpid (always allowed), mkdir and chmod (allowed by
/// the node default), keyctl (denied by it: @keyring), a netlink and a raw socket (allowed by
/// it).
const CALLS: &[&str] = &["getpid", "mkdir", "chmod", "keyctl", "netlink", "rawsock"];

const POLICY: &str = "moat.dev/policy";

/// The node default `container`, nothing added.
fn assert_default(p: &Probe) {
    assert_eq!(p.seccomp, Some(2), "{p:?}");
    assert_eq!(p.errno("getpid"), 0, "{p:?}");
    assert_eq!(p.errno("mkdir"), 0, "{p:?}");
    assert_eq!(p.errno("chmod"), 0, "{p:?}");
    assert_eq!(p.errno("keyctl"), EPERM, "container denies @keyring: {p:?}");
    assert_eq!(p.errno("netlink"), 0, "{p:?}");
    assert_eq!(p.errno("rawsock"), 0, "{p:?}");
}

/// The message the CRI caller (the kubelet, and so the pod's events) gets for a refusal.
fn refusal(moat_says: &str) -> String {
    format!(
        "failed to create containerd task: failed to create shim task: OCI runtime create failed: moat: {moat_says}: unknown"
    )
}

/// RunPodSandbox fails with exactly `moat_says`, and no pod of that name is left.
fn assert_refused(s: &Suite, spec: &PodSpec, moat_says: &str) {
    let before = s.cri.pods().unwrap().len();
    match s.pod(spec) {
        Ok(pod) => panic!("the pod ran: {}", pod.id),
        Err(e) => assert_eq!(e.rpc_message(), Some(refusal(moat_says).as_str()), "{e}"),
    }
    assert_eq!(
        s.cri.pods().unwrap().len(),
        before,
        "a refused pod leaves no sandbox"
    );
}

/// `moat.dev/applied` in the bundle: these sources, in the runtime's format.
fn assert_applied(s: &Suite, id: &str, sources: &str) {
    let applied = s.applied(id);
    let want = format!("{sources}{}", s.runtime().applied_as());
    assert!(applied.starts_with(&want), "{applied}\nexpected {want}...");
}

/// containerd's `linux.seccomp` for the container (in the kept `config.json.orig`), and what
/// the runtime was given instead (`config.json`: a section for runc, moat's program for crun).
fn kubelet_section(s: &Suite, id: &str) -> Option<Value> {
    let orig = s.daemon.bundle(id).join("config.json.orig");
    let orig: Value = serde_json::from_slice(&std::fs::read(orig).unwrap()).unwrap();
    let now = s.bundle_config(id);
    match s.runtime() {
        Runtime::Runc => assert!(now["linux"]["seccomp"]["syscalls"].is_array(), "{now}"),
        Runtime::Crun => {
            assert!(now["linux"].get("seccomp").is_none(), "{now}");
            assert!(
                now["annotations"]["run.oci.seccomp_bpf_data"].is_string(),
                "{now}"
            );
        }
    }
    orig["linux"].get("seccomp").cloned()
}

fn probe(pod: &Pod<'_>) -> (String, Probe) {
    pod.probe(&ContainerSpec::probe("main", CALLS)).unwrap()
}

fn control_the_plain_runc_handler_is_unconfined(s: &Suite) {
    // The control: the same pod on containerd's own runc handler, without moat. The probe
    // sees no filter and every call succeeds, so each assertion below can fail.
    s.node("");
    let mut spec = PodSpec::new("control").annotation(POLICY, "deny mkdir mkdirat\n");
    spec.handler = Some("runc".into());
    let pod = s.pod(&spec).unwrap();
    let (_, p) = probe(&pod);
    assert_eq!(p.seccomp, Some(0), "{p:?}");
    for call in CALLS {
        assert_eq!(p.errno(call), 0, "{call}: {p:?}");
    }
}

fn node_default_applies_without_annotation(s: &Suite) {
    s.node("");
    let pod = s.pod(&PodSpec::new("plain")).unwrap();
    let (id, p) = probe(&pod);
    assert_default(&p);
    // What was applied is in the bundle's config.json (moat.dev/applied), with the original
    // kept beside it; containerd's own view (`crictl inspect`: ContainerStatus verbose info)
    // shows the spec it generated, before moat-runc rewrote it.
    assert_applied(s, &id, "node default `container`");
    assert_eq!(kubelet_section(s, &id), None);
    // moat's log lines go to the runtime's log, the bundle's log.json: the runc format's
    // loss report; crun gets moat's exact program and there is none.
    let log = std::fs::read_to_string(s.daemon.bundle(&id).join("log.json")).unwrap_or_default();
    let loss = "{\"level\":\"warning\",\"msg\":\"moat: linux.seccomp cannot say: x86: libseccomp applies the rules on socket to socketcall(1) without their argument conditions";
    match s.runtime() {
        Runtime::Runc => assert!(log.contains(loss), "{log}"),
        Runtime::Crun => assert!(!log.contains("cannot say"), "{log}"),
    }
    let status = s.cri.status(&id).unwrap();
    let info = status.info.get("info").cloned().unwrap_or_default();
    assert!(info.contains("runtimeSpec"), "{info}");
    assert!(!info.contains("moat.dev/applied"), "{info}");
}

fn a_pod_policy_that_tightens_runs(s: &Suite) {
    s.node("");
    let pod = s
        .pod(&PodSpec::new("tighter").annotation(POLICY, "deny mkdir mkdirat\n"))
        .unwrap();
    let (id, p) = probe(&pod);
    assert_eq!(p.seccomp, Some(2), "{p:?}");
    assert_eq!(p.errno("mkdir"), EPERM, "{p:?}");
    assert_eq!(p.errno("keyctl"), EPERM, "the default still applies: {p:?}");
    assert_eq!(p.errno("chmod"), 0, "{p:?}");
    assert_applied(s, &id, "node default `container` + moat.dev/policy");
}

fn a_loosening_pod_policy_is_refused_under_subset(s: &Suite) {
    s.node("pod-policies = \"subset\"\n");
    assert_refused(
        s,
        &PodSpec::new("looser").annotation(POLICY, "allow keyctl\n"),
        "moat.dev/policy: refused: the pod policy is more permissive than the node default `container` (pod-policies = \"subset\"): x86_64 keyctl is `allow` under the pod policy but `deny` under the default",
    );
}

fn a_loosening_pod_policy_is_intersected_under_intersect(s: &Suite) {
    s.node("pod-policies = \"intersect\"\n");
    let pod = s
        .pod(&PodSpec::new("meet").annotation(POLICY, "allow keyctl\ndeny mkdir mkdirat\n"))
        .unwrap();
    let (id, p) = probe(&pod);
    assert_eq!(
        p.errno("keyctl"),
        EPERM,
        "the default's denial holds: {p:?}"
    );
    assert_eq!(p.errno("mkdir"), EPERM, "the pod's denial holds: {p:?}");
    assert_eq!(p.errno("chmod"), 0, "allowed by both: {p:?}");
    assert_applied(
        s,
        &id,
        "node default `container` + moat.dev/policy + ∩ node default `container`",
    );
}

fn a_loosening_pod_policy_runs_as_written_under_any(s: &Suite) {
    s.node("pod-policies = \"any\"\n");
    let pod = s
        .pod(&PodSpec::new("any").annotation(POLICY, "allow keyctl\n"))
        .unwrap();
    let (_, p) = probe(&pod);
    assert_eq!(p.seccomp, Some(2), "{p:?}");
    assert_eq!(p.errno("keyctl"), 0, "the node opted in: {p:?}");
}

fn a_container_annotation_replaces_the_pods_for_that_container(s: &Suite) {
    s.node("");
    let pod = s
        .pod(
            &PodSpec::new("two")
                .annotation(POLICY, "deny mkdir mkdirat\n")
                .annotation(
                    "moat.dev/policy.worker",
                    "deny chmod fchmod fchmodat fchmodat2\n",
                ),
        )
        .unwrap();
    let (main_id, main) = pod.probe(&ContainerSpec::probe("main", CALLS)).unwrap();
    let (worker_id, worker) = pod.probe(&ContainerSpec::probe("worker", CALLS)).unwrap();
    // The sandbox (pause) container gets the pod-level annotation, and runs under a filter.
    assert_applied(s, &pod.id, "node default `container` + moat.dev/policy");
    assert_applied(s, &main_id, "node default `container` + moat.dev/policy");
    assert_applied(
        s,
        &worker_id,
        "node default `container` + moat.dev/policy.worker",
    );
    let pause = std::fs::read_to_string(s.daemon.bundle(&pod.id).join("init.pid")).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", pause.trim())).unwrap();
    assert!(status.contains("\nSeccomp:\t2\n"), "{status}");
    assert_eq!(main.errno("mkdir"), EPERM, "{main:?}");
    assert_eq!(main.errno("chmod"), 0, "{main:?}");
    assert_eq!(
        worker.errno("mkdir"),
        0,
        "the pod's annotation is replaced: {worker:?}"
    );
    assert_eq!(worker.errno("chmod"), EPERM, "{worker:?}");
    assert_eq!(
        worker.errno("keyctl"),
        EPERM,
        "on the node default: {worker:?}"
    );
}

fn a_broken_policy_never_starts_the_pod(s: &Suite) {
    s.node("");
    assert_refused(
        s,
        &PodSpec::new("broken").annotation(POLICY, "deny mkdri\n"),
        "moat.dev/policy:1:6: unknown syscall \"mkdri\" (did you mean \"mkdir\"?)",
    );
    // A typo in the key must not run the pod without its policy.
    assert_refused(
        s,
        &PodSpec::new("typo").annotation("moat.dev/polciy", "deny mkdir\n"),
        "annotations.\"moat.dev/polciy\": unknown moat annotation (did you mean \"moat.dev/policy\"?)",
    );
    // An inline policy may not read the node's files.
    assert_refused(
        s,
        &PodSpec::new("path").annotation(POLICY, "use \"/etc/passwd\"\n"),
        "moat.dev/policy:1:1: the moat.dev/policy annotation may `use` built-in profiles only (a path would read files on this machine)",
    );
}

fn the_deployed_node_config_runs_pods(s: &Suite) {
    // deploy/kubernetes/node-config.yaml's runtime.toml and web.moat, installed into the
    // node's root as the DaemonSet would (runtime and profile-dir pointed at this node's).
    let text = std::fs::read_to_string(moat_cri_e2e::suite::deployed("node-config.yaml")).unwrap();
    let cm: k8s_openapi::api::core::v1::ConfigMap = serde_norway::from_str(&text).unwrap();
    let data = cm.data.unwrap();
    let dir = s.host.join("etc/moat/profiles");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("web.moat"), &data["web.moat"]).unwrap();
    let toml: String = data["runtime.toml"]
        .lines()
        .filter(|l| !l.starts_with("runtime =") && !l.starts_with("profile-dir ="))
        .map(|l| format!("{l}\n"))
        .collect();
    s.node(&format!("{toml}profile-dir = \"{}\"\n", dir.display()));
    let calls = ["keyctl", "rawsock", "mkdir"];
    let plain = s.pod(&PodSpec::new("cm-plain")).unwrap();
    let (id, p) = plain.probe(&ContainerSpec::probe("main", &calls)).unwrap();
    assert_eq!(p.errno("keyctl"), EPERM, "{p:?}");
    assert_eq!(p.errno("rawsock"), 0, "{p:?}");
    assert_applied(s, &id, "node default `container` + enforce");
    let web = s
        .pod(&PodSpec::new("cm-web").annotation("moat.dev/profile", "web"))
        .unwrap();
    let (_, p) = web.probe(&ContainerSpec::probe("main", &calls)).unwrap();
    assert_eq!(p.errno("rawsock"), EPERM, "web denies raw sockets: {p:?}");
    assert_eq!(p.errno("mkdir"), 0, "{p:?}");
}

fn a_pods_raw_program_never_reaches_the_runtime(s: &Suite) {
    // crun would load run.oci.seccomp_bpf_data instead of any policy; containerd copies only
    // the moat.dev/* pod annotations, so the bundle carries moat's program or none.
    s.node("");
    let raw = "BgAAAAAA/38="; // one instruction: return ALLOW
    let pod = s
        .pod(&PodSpec::new("raw").annotation("run.oci.seccomp_bpf_data", raw))
        .unwrap();
    let (id, p) = probe(&pod);
    assert_default(&p);
    let config = s.bundle_config(&id);
    assert_ne!(config["annotations"]["run.oci.seccomp_bpf_data"], raw);
    assert_applied(s, &id, "node default `container`");
}

fn a_node_profile_by_name(s: &Suite) {
    let dir = s.host.join("etc/moat/profiles");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("web.moat"), "use container\ndeny mkdir mkdirat\n").unwrap();
    s.node(&format!("profile-dir = \"{}\"\n", dir.display()));
    let pod = s
        .pod(&PodSpec::new("profile").annotation("moat.dev/profile", "web"))
        .unwrap();
    let (id, p) = probe(&pod);
    assert_eq!(p.errno("mkdir"), EPERM, "{p:?}");
    assert_eq!(p.errno("keyctl"), EPERM, "{p:?}");
    assert_applied(s, &id, "node default `container` + moat.dev/profile `web`");
    assert_refused(
        s,
        &PodSpec::new("no-profile").annotation("moat.dev/profile", "../web"),
        "moat.dev/profile: ../web: profile names cannot contain `..` or `.`",
    );
}

fn enforce_rules_hold_for_every_pod(s: &Suite) {
    s.node("pod-policies = \"any\"\nenforce = [\"deny socket if domain == AF_NETLINK\"]\n");
    let plain = s.pod(&PodSpec::new("enforce-plain")).unwrap();
    let (id, p) = probe(&plain);
    assert_eq!(p.errno("netlink"), EPERM, "{p:?}");
    assert_eq!(p.errno("keyctl"), EPERM, "{p:?}");
    assert_applied(s, &id, "node default `container` + enforce");
    // A pod that allows every socket still gets the enforce rule, read after its policy.
    let loose = s
        .pod(&PodSpec::new("enforce-loose").annotation(POLICY, "allow socket keyctl\n"))
        .unwrap();
    let (_, p) = probe(&loose);
    assert_eq!(p.errno("netlink"), EPERM, "{p:?}");
    assert_eq!(p.errno("keyctl"), 0, "{p:?}");
    // A pod that drops x86 and allows every other ABI would let i386 socketcall past the rule.
    assert_refused(
        s,
        &PodSpec::new("enforce-arch").annotation(POLICY, "arch x86_64\nbadarch allow\n"),
        "moat.dev/policy: refused: the policy loosens the node's enforce rules: x86 socketcall(0x1, 0x0, 0x0, 0x0, 0x0, 0x0) is `allow` under the container's policy but `deny` under the enforce rules",
    );
}

fn seccomp_profile_unset_gets_the_node_default(s: &Suite) {
    // No SecurityProfile in the CRI request at all (crictl, older kubelets).
    s.node("");
    let pod = s.pod(&PodSpec::new("unset")).unwrap();
    assert_default(&probe(&pod).1);
    let pod = s
        .pod(&PodSpec::new("unset-ann").annotation(POLICY, "deny mkdir mkdirat\n"))
        .unwrap();
    let (_, p) = probe(&pod);
    assert_eq!(p.errno("mkdir"), EPERM, "{p:?}");
    assert_eq!(p.errno("keyctl"), EPERM, "{p:?}");
}

fn seccomp_profile_unconfined_gets_the_node_default(s: &Suite) {
    // Unconfined is what the kubelet sends for a pod without seccompProfile: containerd writes
    // no linux.seccomp, and moat gives the container the node default (fail closed).
    s.node("");
    let spec = PodSpec::new("unconfined").seccomp(Profile::Unconfined);
    let pod = s.pod(&spec).unwrap();
    let (id, p) = probe(&pod);
    assert_default(&p);
    assert_applied(s, &id, "node default `container`");
    assert_eq!(
        kubelet_section(s, &id),
        None,
        "containerd wrote no linux.seccomp"
    );
    let pod = s
        .pod(&spec.annotation(POLICY, "deny mkdir mkdirat\n"))
        .unwrap();
    let (_, p) = probe(&pod);
    assert_eq!(p.errno("mkdir"), EPERM, "{p:?}");
    assert_eq!(p.errno("keyctl"), EPERM, "{p:?}");
}

fn seccomp_profile_runtime_default(s: &Suite) {
    // containerd's RuntimeDefault allows TIOCSTI, which the node default denies: under subset
    // it is refused with or without a tightening annotation; an annotation that reads the
    // container profile again (`use container`) replaces those rules and is admitted.
    s.node("pod-policies = \"subset\"\n");
    let rd = PodSpec::new("rd").seccomp(Profile::RuntimeDefault);
    let tiocsti = "x86_64 ioctl(0x0, 0x5412, 0x0, 0x0, 0x0, 0x0) is `allow` under the pod policy but `deny` under the default";
    assert_refused(
        s,
        &rd,
        &format!(
            "linux.seccomp: refused: the pod policy is more permissive than the node default `container` (pod-policies = \"subset\"): {tiocsti}"
        ),
    );
    assert_refused(
        s,
        &rd.clone().annotation(POLICY, "deny mkdir mkdirat\n"),
        &format!(
            "linux.seccomp + moat.dev/policy: refused: the pod policy is more permissive than the node default `container` (pod-policies = \"subset\"): {tiocsti}"
        ),
    );
    let pod = s
        .pod(
            &rd.clone()
                .annotation(POLICY, "use container\ndeny mkdir mkdirat\n"),
        )
        .unwrap();
    let (id, p) = probe(&pod);
    assert_eq!(p.errno("mkdir"), EPERM, "{p:?}");
    assert_eq!(p.errno("keyctl"), EPERM, "{p:?}");
    assert_applied(
        s,
        &id,
        "linux.seccomp (the pod's seccompProfile) + moat.dev/policy",
    );
    // Under intersect the container runs RuntimeDefault ∩ container.
    s.node("pod-policies = \"intersect\"\n");
    let pod = s.pod(&rd).unwrap();
    let (id, p) = probe(&pod);
    assert_eq!(p.seccomp, Some(2), "{p:?}");
    assert_eq!(p.errno("keyctl"), EPERM, "{p:?}");
    assert_eq!(p.errno("mkdir"), 0, "{p:?}");
    let section = kubelet_section(s, &id).expect("containerd wrote its RuntimeDefault profile");
    assert_eq!(section["defaultAction"], "SCMP_ACT_ERRNO", "{section}");
    assert_applied(
        s,
        &id,
        "linux.seccomp (the pod's seccompProfile) + ∩ node default `container`",
    );
    let pod = s
        .pod(&rd.annotation(POLICY, "deny mkdir mkdirat\n"))
        .unwrap();
    let (_, p) = probe(&pod);
    assert_eq!(p.errno("mkdir"), EPERM, "{p:?}");
}

fn seccomp_profile_localhost(s: &Suite) {
    // A Localhost profile made by `moat convert --to k8s`: the container profile without chmod.
    let src = s.file(
        "nochmod.moat",
        b"use container\ndeny chmod fchmod fchmodat fchmodat2\n",
    );
    let json = s.work.join("nochmod.json");
    let o = std::process::Command::new(&s.moat)
        .args(["convert", "--to", "k8s", "--name", "nochmod"])
        .arg(&src)
        .arg("-o")
        .arg(&json)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    s.node("pod-policies = \"subset\"\n");
    let lh = PodSpec::new("lh").seccomp(Profile::Localhost(json));
    // Without moat (containerd's plain runc handler) the exported file is enforced as it is.
    let mut plain = lh.clone();
    plain.handler = Some("runc".into());
    let pod = s.pod(&plain).unwrap();
    let (_, p) = probe(&pod);
    assert_eq!(p.seccomp, Some(2), "{p:?}");
    assert_eq!(p.errno("chmod"), EPERM, "{p:?}");
    assert_eq!(p.errno("keyctl"), EPERM, "{p:?}");
    assert_eq!(p.errno("mkdir"), 0, "{p:?}");
    drop(pod);
    let pod = s.pod(&lh).unwrap();
    let (id, p) = probe(&pod);
    assert_eq!(p.errno("chmod"), EPERM, "the profile's denial: {p:?}");
    assert_eq!(p.errno("keyctl"), EPERM, "{p:?}");
    assert_eq!(p.errno("mkdir"), 0, "{p:?}");
    assert_applied(s, &id, "linux.seccomp (the pod's seccompProfile)");
    // An annotation is read after the profile: both denials hold.
    let pod = s
        .pod(&lh.clone().annotation(POLICY, "deny mkdir mkdirat\n"))
        .unwrap();
    let (_, p) = probe(&pod);
    assert_eq!(p.errno("chmod"), EPERM, "{p:?}");
    assert_eq!(p.errno("mkdir"), EPERM, "{p:?}");
    // `use container` reads the whole container profile again after the Localhost profile:
    // for every call it names, its rule replaces the profile's; chmod, which it does not
    // name, stays denied. (Regression: the imported profile named socketcall's first
    // parameter `persona`, and adding x86 back refused the pod.)
    let pod = s
        .pod(
            &lh.clone()
                .annotation(POLICY, "use container\ndeny mkdir mkdirat\n"),
        )
        .unwrap();
    let (_, p) = probe(&pod);
    assert_eq!(p.errno("chmod"), EPERM, "{p:?}");
    assert_eq!(p.errno("mkdir"), EPERM, "{p:?}");
    assert_eq!(p.errno("keyctl"), EPERM, "{p:?}");
    // The exported profile leaves x86 out (libseccomp would apply socket rules to socketcall
    // without their conditions) with runc's badarch `kill-thread`: intersecting it with a
    // default that accepts x86 would not be exact, so intersect refuses it.
    s.node("pod-policies = \"intersect\"\n");
    assert_refused(
        s,
        &lh,
        "linux.seccomp: refused: pod-policies = \"intersect\": the pod policy does not accept x86 and its badarch is `kill-thread`, not `kill`: give both the same `arch` line",
    );
}

fn exec_runs_under_the_containers_filter(s: &Suite) {
    s.node("");
    let pod = s
        .pod(&PodSpec::new("exec").annotation(POLICY, "deny mkdir mkdirat\n"))
        .unwrap();
    let id = pod.run(&ContainerSpec::sleeper("main")).unwrap();
    let p = pod.exec_probe(&id, CALLS);
    assert_eq!(p.seccomp, Some(2), "{p:?}");
    assert_eq!(p.errno("mkdir"), EPERM, "{p:?}");
    assert_eq!(p.errno("keyctl"), EPERM, "{p:?}");
    assert_eq!(p.errno("chmod"), 0, "{p:?}");
    // busybox's own mkdir, as a user would exec it.
    let r = s.cri.exec(&id, &["mkdir", "/tmp/blocked"]).unwrap();
    assert_eq!(r.exit_code, 1, "{r:?}");
    assert_eq!(
        String::from_utf8_lossy(&r.stderr),
        "mkdir: can't create directory '/tmp/blocked': Operation not permitted\n"
    );
}

fn a_node_config_change_reaches_the_pods_next_container(s: &Suite) {
    s.node("");
    let pod = s.pod(&PodSpec::new("change")).unwrap();
    let (first, p) = pod.probe(&ContainerSpec::probe("first", CALLS)).unwrap();
    assert_eq!(p.errno("netlink"), 0, "{p:?}");
    // The edit reaches the next container created, with no restart of anything.
    s.node("enforce = [\"deny socket if domain == AF_NETLINK\"]\n");
    let (_, p) = pod.probe(&ContainerSpec::probe("second", CALLS)).unwrap();
    assert_eq!(p.errno("netlink"), EPERM, "{p:?}");
    // A running container keeps the filter it started with (and so does exec into it).
    let p = pod.exec_probe(&first, CALLS);
    assert_eq!(p.errno("netlink"), 0, "{p:?}");
    s.node("");
}

fn the_example_pod_logs_what_the_docs_show(s: &Suite) {
    // deploy/kubernetes/example-pod.yaml as the kubelet would pass it over the CRI: its
    // annotations in the sandbox configuration, its container's command and securityContext
    // (runAsUser, capabilities.drop, allowPrivilegeEscalation: false as no_new_privs). Its
    // image busybox:1.36 is the test's busybox-static image (no registry here).
    s.node("");
    let text = std::fs::read_to_string(moat_cri_e2e::suite::deployed("example-pod.yaml")).unwrap();
    let pod: k8s_openapi::api::core::v1::Pod = serde_norway::from_str(&text).unwrap();
    let mut spec = PodSpec::new("moat-example");
    for (k, v) in pod.metadata.annotations.clone().unwrap_or_default() {
        spec = spec.annotation(&k, &v);
    }
    let c = &pod.spec.as_ref().unwrap().containers[0];
    let sc = c.security_context.clone().unwrap_or_default();
    let container = ContainerSpec {
        name: c.name.clone(),
        command: c.command.clone().unwrap_or_default(),
        run_as_user: sc.run_as_user,
        drop_capabilities: sc.capabilities.and_then(|c| c.drop).unwrap_or_default(),
        no_new_privs: sc.allow_privilege_escalation == Some(false),
        ..ContainerSpec::default()
    };
    let running = s.pod(&spec).unwrap();
    let (id, _) = running.run_until_seccomp_line(&container).unwrap();
    // docs/kubernetes.md shows these as `kubectl logs moat-example`.
    assert_eq!(
        running.log_lines(&container.name, Some("stdout")),
        ["mkdir denied as expected", "touch works", "Seccomp:\t2"]
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running
        .log_lines(&container.name, Some("stderr"))
        .is_empty()
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        running.log_lines(&container.name, Some("stderr")),
        ["mkdir: can't create directory '/tmp/blocked': Operation not permitted"]
    );
    let r = s.cri.exec(&id, &["id", "-u"]).unwrap();
    assert_eq!(String::from_utf8_lossy(&r.stdout), "1000\n");
}

/// The node configuration the installer case installs: observably not the suite's own
/// (`intersect`, a netlink `enforce` rule), naming this node's runtime.
fn installed_config(s: &Suite) -> String {
    let runtime = std::fs::read_to_string(&s.node_config)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("runtime ="))
        .unwrap()
        .to_string();
    format!(
        "# installed by the CRI test\n{runtime}\npod-policies = \"intersect\"\nenforce = [\"deny socket if domain == AF_NETLINK\"]\n"
    )
}

fn the_image_installs_the_node_whose_moat_runc_then_runs_pods(s: &Suite) {
    // The image `cargo xtask image` builds, imported into containerd; the DaemonSet's init
    // container as written (image, arguments, security context, mounts) run through the CRI on
    // containerd's plain runc handler (the DaemonSet names no RuntimeClass), with its hostPath
    // volumes under the test's host root; then pods on the `moat-installed` handler, whose
    // BinaryName is the moat-runc it installed, reading the configuration it installed.
    let Some(archive) = moat_testkit::moat_image() else {
        return;
    };
    s.daemon.import(&archive).unwrap();
    let text = std::fs::read_to_string(moat_cri_e2e::suite::deployed("daemonset.yaml")).unwrap();
    let ds: k8s_openapi::api::apps::v1::DaemonSet = serde_norway::from_str(&text).unwrap();
    let pod_spec = ds.spec.unwrap().template.spec.unwrap();
    let init = &pod_spec.init_containers.as_ref().unwrap()[0];
    let image = init.image.clone().unwrap();
    assert!(
        s.cri.image_present(&image).unwrap(),
        "{image} after the import"
    );

    // Before the installation the handler's binary does not exist: no pod starts on it.
    let binary = s.host.join("usr/local/bin/moat");
    let _ = std::fs::remove_file(&binary);
    let _ = std::fs::remove_file(s.host.join("usr/local/bin/moat-runc"));
    let mut on_installed = PodSpec::new("on-installed");
    on_installed.handler = Some(moat_cri_e2e::daemon::INSTALLED_HANDLER.into());
    assert!(s.pod(&on_installed).is_err());

    // The ConfigMap: this node's configuration and the deployed web.moat.
    let config_dir = s.work.join("installer-config");
    std::fs::create_dir_all(&config_dir).unwrap();
    let config = installed_config(s);
    let cm_text =
        std::fs::read_to_string(moat_cri_e2e::suite::deployed("node-config.yaml")).unwrap();
    let cm: k8s_openapi::api::core::v1::ConfigMap = serde_norway::from_str(&cm_text).unwrap();
    std::fs::write(config_dir.join("web.moat"), &cm.data.unwrap()["web.moat"]).unwrap();
    // The installer checks that the configured runtime is on the host: as the host's /usr
    // would show it, a link under the root.
    let runtime = config
        .lines()
        .find_map(|l| l.strip_prefix("runtime = "))
        .unwrap()
        .trim_matches('"')
        .to_string();
    let link = s.host.join(runtime.trim_start_matches('/'));
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    if std::fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink(&runtime, &link).unwrap();
    }

    let volumes = pod_spec.volumes.clone().unwrap();
    let mut mounts = Vec::new();
    for m in init.volume_mounts.clone().unwrap() {
        let v = volumes.iter().find(|v| v.name == m.name).unwrap();
        let host = match (&v.host_path, &v.config_map) {
            (Some(h), _) => {
                let p = s.host.join(h.path.trim_start_matches('/'));
                std::fs::create_dir_all(&p).unwrap();
                p
            }
            (None, Some(_)) => config_dir.clone(),
            _ => panic!("volume {} is neither a hostPath nor the ConfigMap", v.name),
        };
        mounts.push((host, m.mount_path.clone(), m.read_only == Some(true)));
    }
    let sc = init.security_context.clone().unwrap_or_default();
    let seccomp = match sc.seccomp_profile.as_ref().map(|p| p.type_.as_str()) {
        Some("RuntimeDefault") => Some(Profile::RuntimeDefault),
        None => None,
        Some(other) => panic!("seccompProfile {other}"),
    };
    let installer = ContainerSpec {
        name: init.name.clone(),
        image: Some(image),
        command: init.command.clone().unwrap_or_default(),
        args: init.args.clone().unwrap_or_default(),
        run_as_user: sc.run_as_user,
        drop_capabilities: sc.capabilities.and_then(|c| c.drop).unwrap_or_default(),
        no_new_privs: sc.allow_privilege_escalation == Some(false),
        readonly_rootfs: sc.read_only_root_filesystem == Some(true),
        seccomp,
        mounts,
    };
    let install = |config: &str| {
        std::fs::write(config_dir.join("runtime.toml"), config).unwrap();
        let mut node_pod = PodSpec::new("moat-node");
        node_pod.handler = Some("runc".into());
        let pod = s.pod(&node_pod).unwrap();
        let id = pod.run(&installer).unwrap();
        let status = s
            .cri
            .wait_exited(&id, std::time::Duration::from_secs(60))
            .unwrap();
        let out = pod.log_lines(&installer.name, Some("stdout")).join("\n");
        let err = pod.log_lines(&installer.name, Some("stderr")).join("\n");
        (status.exit_code, out, err)
    };
    // A runtime the installer cannot see under the host's /usr: refused, nothing written.
    let before = std::fs::read_to_string(&s.node_config).unwrap();
    let (code, _, err) = install(&config.replace(&runtime, "/opt/runc"));
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err,
        "moat: nothing was installed: /config/runtime.toml: runtime = \"/opt/runc\" is not under /host (not an executable file or a link); every container would fail to start"
    );
    assert_eq!(std::fs::read_to_string(&s.node_config).unwrap(), before);
    assert!(!binary.exists());
    let (code, out, err) = install(&config);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("# installed /usr/local/bin/moat: "), "{out}");
    assert!(
        out.contains("BinaryName = \"/usr/local/bin/moat-runc\""),
        "the containerd handler block: {out}"
    );
    assert_eq!(
        std::fs::read_link(s.host.join("usr/local/bin/moat-runc")).unwrap(),
        Path::new("moat")
    );
    assert!(binary.is_file());
    assert_eq!(std::fs::read_to_string(&s.node_config).unwrap(), config);
    assert!(s.host.join("etc/moat/profiles/web.moat").is_file());

    // What it installed runs pods: its moat-runc, its configuration.
    let pod = s.pod(&on_installed).unwrap();
    let (id, p) = probe(&pod);
    assert_eq!(p.seccomp, Some(2), "{p:?}");
    assert_eq!(
        p.errno("netlink"),
        EPERM,
        "the installed enforce rule: {p:?}"
    );
    assert_eq!(p.errno("keyctl"), EPERM, "{p:?}");
    assert_applied(s, &id, "node default `container` + enforce");
    let mut loose = on_installed.clone().annotation(POLICY, "allow keyctl\n");
    loose.name = "on-installed-loose".into();
    let pod = s.pod(&loose).unwrap();
    let (_, p) = probe(&pod);
    assert_eq!(p.errno("keyctl"), EPERM, "intersected, as installed: {p:?}");
    s.node("");
}

fn main() -> ExitCode {
    macro_rules! cases {
        ($($f:ident),* $(,)?) => { [$(Case { name: stringify!($f), run: $f, runtimes: harness::BOTH }),*] };
    }
    let both = cases![
        control_the_plain_runc_handler_is_unconfined,
        node_default_applies_without_annotation,
        a_pod_policy_that_tightens_runs,
        a_loosening_pod_policy_is_refused_under_subset,
        a_loosening_pod_policy_is_intersected_under_intersect,
        a_loosening_pod_policy_runs_as_written_under_any,
        a_container_annotation_replaces_the_pods_for_that_container,
        a_broken_policy_never_starts_the_pod,
        a_node_profile_by_name,
        a_pods_raw_program_never_reaches_the_runtime,
        the_deployed_node_config_runs_pods,
        enforce_rules_hold_for_every_pod,
        seccomp_profile_unset_gets_the_node_default,
        seccomp_profile_unconfined_gets_the_node_default,
        seccomp_profile_runtime_default,
        seccomp_profile_localhost,
        exec_runs_under_the_containers_filter,
        a_node_config_change_reaches_the_pods_next_container,
        the_example_pod_logs_what_the_docs_show,
    ];
    // runc only: the DaemonSet mounts only the host's /usr, so the installer accepts a runtime
    // under /usr, and the crun wrapper this machine needs is in the test's directory.
    let runc_only = [Case {
        name: "the_image_installs_the_node_whose_moat_runc_then_runs_pods",
        run: the_image_installs_the_node_whose_moat_runc_then_runs_pods,
        runtimes: &[Runtime::Runc],
    }];
    harness::main(&[both.as_slice(), runc_only.as_slice()].concat())
}
