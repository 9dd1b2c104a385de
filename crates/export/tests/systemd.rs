//! systemd units: the groups against the installed systemd, the import against the filters
//! systemd builds with libseccomp (stacked as the kernel stacks them), the semantics of
//! repeated and inverted lines, and export → import round trips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use common::{oracle_arch, run};
use moat_bpf::Program;
use moat_export::systemd::{self, Refusal, Settings};
use moat_export::{Format, InputFormat, Options, export, load, load_bytes};
use moat_oracle as oracle;
use moat_policy::{Action, CapSet, Cond, Context, Policy};
use moat_syscalls::Arch;

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/formats/systemd"
);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// `systemd-analyze ARGS`, or `None` (a failure under CI) when it is missing.
fn systemd_analyze(args: &[&str]) -> Option<String> {
    match Command::new("systemd-analyze").args(args).output() {
        Ok(o) if o.status.success() => Some(String::from_utf8(o.stdout).unwrap()),
        other => {
            assert!(
                !in_ci(),
                "systemd-analyze {args:?} is needed (Debian package systemd): {other:?}"
            );
            eprintln!("skipped: systemd-analyze {args:?}: {other:?}");
            None
        }
    }
}

#[test]
fn groups_are_those_systemd_analyze_lists() {
    let Some(version) = systemd_analyze(&["--version"]) else {
        return;
    };
    let want = format!("systemd {} ", systemd::groups::version());
    assert!(
        version.starts_with(&want),
        "the machine's systemd is not the version the groups were generated from: {version}"
    );
    let listing = systemd_analyze(&["syscall-filter"]).unwrap();
    let mut got: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    let mut cur: Option<String> = None;
    for line in listing.lines() {
        if let Some(g) = line.strip_prefix('@') {
            cur = Some(format!("@{g}"));
            got.insert(format!("@{g}"), Default::default());
        } else if let (Some(g), Some(item)) = (&cur, line.strip_prefix("    ")) {
            let e = got.get_mut(g).unwrap();
            match item.strip_prefix("# ") {
                Some(help) => e.0 = help.to_string(),
                None => {
                    e.1.insert(item.trim().to_string());
                }
            }
        } else if line.starts_with('#') {
            cur = None;
        }
    }
    let ours: BTreeMap<String, (String, BTreeSet<String>)> = systemd::groups::groups()
        .iter()
        .map(|g| {
            (
                g.name.to_string(),
                (
                    g.help.to_string(),
                    g.members.iter().map(|m| m.to_string()).collect(),
                ),
            )
        })
        .collect();
    assert_eq!(got.len(), 29, "{listing}");
    assert_eq!(ours, got);
}

/// The filters systemd 252 installs for `s` (src/core/execute.c `apply_syscall_filter`,
/// `apply_syscall_log`, `apply_syscall_archs`), built with libseccomp: one filter per host ABI
/// for the list (bad-architecture action: allow, so each ABI's filter judges only its calls),
/// the same for the log list, and the architecture filter. Rules use moat-oracle's
/// `seccomp_rule_add`; systemd uses `seccomp_rule_add_exact`, which differs only in how x86's
/// socket calls reach `socketcall`, so x86's `socketcall` is not compared.
fn systemd_filters(s: &Settings, host: Arch) -> Vec<Program> {
    let refuse = match s.error_number {
        Refusal::Kill => oracle::Action::KillProcess,
        Refusal::Errno(e) => oracle::Action::Errno(e),
    };
    let own = |r: Refusal| match r {
        Refusal::Kill => oracle::Action::KillProcess,
        Refusal::Errno(e) => oracle::Action::Errno(e),
    };
    // apply_syscall_archs runs first and marks the ABIs it blocks; the list and log filters are
    // then installed only for the others (SECCOMP_FOREACH_LOCAL_ARCH skips blocked ones).
    let local: Vec<Arch> = systemd::local_arches(host)
        .into_iter()
        .filter(|a| {
            *a == host
                || s.architectures
                    .as_ref()
                    .is_none_or(|set| set.contains(&Some(*a)))
        })
        .collect();
    let mut filters = Vec::new();
    let mut per_arch = |default: oracle::Action, rules: Vec<(String, oracle::Action)>| {
        if rules.is_empty() && default == oracle::Action::Allow {
            return;
        }
        for a in &local {
            let f = oracle::Filter {
                default,
                bad_arch: oracle::Action::Allow,
                arches: vec![oracle_arch(*a)],
                rules: rules
                    .iter()
                    .map(|(n, act)| oracle::Rule {
                        syscall: n.clone(),
                        action: *act,
                        args: Vec::new(),
                    })
                    .collect(),
                optimize: oracle::Layout::Default,
            };
            let c = oracle::compile(&f).unwrap();
            filters.push(Program::from_bytes(&c.bytes).unwrap());
        }
    };
    if let Some(map) = &s.filter {
        let (default, action) = if s.allow_list {
            (refuse, oracle::Action::Allow)
        } else {
            (oracle::Action::Allow, refuse)
        };
        per_arch(
            default,
            map.iter()
                .map(|(n, e)| (n.to_string(), e.map_or(action, own)))
                .collect(),
        );
    }
    if let Some(set) = &s.log {
        let (default, action) = if s.log_allow_list {
            (oracle::Action::Allow, oracle::Action::Log)
        } else {
            (oracle::Action::Log, oracle::Action::Allow)
        };
        per_arch(
            default,
            set.iter().map(|n| (n.to_string(), action)).collect(),
        );
    }
    if let Some(set) = &s.architectures {
        let mut arches = vec![oracle_arch(host)];
        for a in &local {
            if *a != host && set.contains(&Some(*a)) {
                arches.push(oracle_arch(*a));
            }
        }
        // Installed before the others; stacking makes the order irrelevant to the result.
        let f = oracle::Filter {
            default: oracle::Action::Allow,
            bad_arch: oracle::Action::KillThread,
            arches,
            rules: Vec::new(),
            optimize: oracle::Layout::Default,
        };
        let c = oracle::compile(&f).unwrap();
        filters.push(Program::from_bytes(&c.bytes).unwrap());
    }
    filters
}

/// What the kernel returns from stacked filters: the most restrictive action
/// (kernel/seccomp.c `seccomp_run_filters`, `ACTION_ONLY` compared as signed).
fn stacked(filters: &[Program], arch: Arch, nr: u32) -> u32 {
    let mut best = 0x7fff_0000_u32;
    for f in filters {
        let r = run(f, arch, nr, [0; 6]);
        #[allow(clippy::cast_possible_wrap)]
        let key = |v: u32| (v & 0xffff_0000) as i32;
        if key(r) < key(best) {
            best = r;
        }
    }
    best
}

fn units() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(CORPUS)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    // The machine's own units (Debian's systemd-*.service and others).
    let mut real = 0;
    for dir in ["/lib/systemd/system", "/usr/lib/systemd/system"] {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "service")
                && std::fs::read_to_string(&p).is_ok_and(|t| t.contains("SystemCallFilter="))
            {
                v.push(p.display().to_string());
                real += 1;
            }
        }
    }
    assert!(
        real > 0 || !in_ci(),
        "no unit of the machine has SystemCallFilter= (Debian package systemd)"
    );
    v.sort();
    v
}

#[test]
fn every_unit_means_what_systemds_libseccomp_filters_do() {
    let host = Arch::X86_64;
    let mut compared = 0_usize;
    for path in units() {
        let text = std::fs::read_to_string(&path).unwrap();
        let opts = Options {
            host: Some(host),
            ..Options::default()
        };
        let l = moat_export::systemd::import(&text, &path, &opts).unwrap();
        assert_eq!(
            load(&path, &opts).unwrap().format,
            InputFormat::Systemd,
            "{path}"
        );
        let s = systemd::settings(&text, &path, &opts).unwrap();
        let filters = systemd_filters(&s, host);
        let ours = moat_compile::compile(
            &l.policy,
            &moat_compile::Options {
                ctx: Context::default(),
                weights: None,
            },
        )
        .unwrap()
        .program;
        for arch in [Arch::X86_64, Arch::X86, Arch::X32] {
            let bias = if arch == Arch::X32 { 0x4000_0000 } else { 0 };
            for n in 0..1024_u32 {
                let nr = bias + n;
                let name = arch.by_nr(nr).map(|s| s.name);
                if arch == Arch::X86 && name == Some("socketcall") {
                    continue;
                }
                // libseccomp 2.5.4 does not know the newest syscalls: systemd skips them.
                if let Some(name) = name
                    && oracle::resolve(oracle_arch(arch), name).is_none()
                {
                    continue;
                }
                let want = stacked(&filters, arch, nr);
                let got = run(&ours, arch, nr, [0; 6]);
                assert_eq!(
                    got, want,
                    "{path}: {arch} {nr} ({name:?}): moat {got:#x}, systemd {want:#x}\n{}",
                    l.text
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 10_000, "{compared}");
}

fn x(p: &Policy, arch: Arch, name: &str) -> Action {
    let nr = arch.by_name(name).unwrap().nr;
    p.evaluate(&Context::default(), arch.audit_arch(), nr, [0; 6])
        .action
}

fn unit(body: &str) -> moat_export::Loaded {
    let opts = Options {
        host: Some(Arch::X86_64),
        ..Options::default()
    };
    load_bytes(format!("[Service]\n{body}").as_bytes(), "t.service", &opts).unwrap()
}

#[test]
fn an_allow_list_holds_default_and_later_lines_add_and_remove() {
    let l = unit(
        "SystemCallFilter=read write\nSystemCallFilter=openat\nSystemCallFilter=~write getpid\n",
    );
    let p = &l.policy;
    for n in ["read", "openat", "execve", "exit_group", "brk"] {
        assert_eq!(x(p, Arch::X86_64, n), Action::Allow, "{n}\n{}", l.text);
    }
    // Removed by the inverted line, including getpid from @default; the default refusal kills.
    assert_eq!(x(p, Arch::X86_64, "write"), Action::KillProcess);
    assert_eq!(x(p, Arch::X86_64, "getpid"), Action::KillProcess);
    assert_eq!(x(p, Arch::X86_64, "mkdir"), Action::KillProcess);
    // Numbers systemd does not know are refused too.
    let u = p.evaluate(&Context::default(), Arch::X86_64.audit_arch(), 1000, [0; 6]);
    assert_eq!(u.action, Action::KillProcess);
}

#[test]
fn a_deny_list_and_per_call_errors() {
    let l = unit(
        "SystemCallFilter=~@mount bpf:ENOSYS kexec_load:kill\nSystemCallFilter=umount2\nSystemCallErrorNumber=EACCES\n",
    );
    let p = &l.policy;
    assert_eq!(x(p, Arch::X86_64, "mount"), Action::Errno(13));
    assert_eq!(x(p, Arch::X86_64, "umount2"), Action::Allow);
    assert_eq!(x(p, Arch::X86_64, "bpf"), Action::Errno(38));
    assert_eq!(x(p, Arch::X86_64, "kexec_load"), Action::KillProcess);
    assert_eq!(x(p, Arch::X86_64, "read"), Action::Allow);
    let u = p.evaluate(&Context::default(), Arch::X86_64.audit_arch(), 1000, [0; 6]);
    assert_eq!(u.action, Action::Allow);
    // In an allow-list, `~name:ERRNO` gives a listed call its own error; `name:ERRNO` without `~`
    // is ignored, with a warning, as systemd ignores it.
    let l = unit(
        "SystemCallFilter=@system-service\nSystemCallFilter=~setns:ENOSYS\nSystemCallFilter=mount:EPERM\nSystemCallErrorNumber=EPERM\n",
    );
    assert_eq!(x(&l.policy, Arch::X86_64, "setns"), Action::Errno(38));
    assert_eq!(x(&l.policy, Arch::X86_64, "mount"), Action::DENY);
    assert!(
        l.warnings.iter().any(|w| w.contains("mount:EPERM")),
        "{:?}",
        l.warnings
    );
}

#[test]
fn an_empty_assignment_resets_the_list_and_its_mode() {
    let l = unit("SystemCallFilter=read\nSystemCallFilter=\nSystemCallFilter=~mkdir\n");
    assert_eq!(x(&l.policy, Arch::X86_64, "mkdir"), Action::KillProcess);
    assert_eq!(x(&l.policy, Arch::X86_64, "openat"), Action::Allow);
    let l = unit("SystemCallFilter=~mkdir\nSystemCallFilter=\n");
    assert_eq!(x(&l.policy, Arch::X86_64, "mkdir"), Action::Allow);
}

#[test]
fn twins_are_separate_names_as_in_systemd() {
    // systemd lists setuid and setuid32 separately; moat's `allow setuid` would cover setuid32.
    let l = unit("SystemCallFilter=setuid\nSystemCallErrorNumber=EPERM\n");
    assert_eq!(x(&l.policy, Arch::X86, "setuid"), Action::Allow);
    assert_eq!(
        x(&l.policy, Arch::X86, "setuid32"),
        Action::DENY,
        "{}",
        l.text
    );
    let l = unit("SystemCallFilter=~fcntl\n");
    assert_eq!(x(&l.policy, Arch::X86, "fcntl"), Action::KillProcess);
    assert_eq!(
        x(&l.policy, Arch::X86, "fcntl64"),
        Action::Allow,
        "{}",
        l.text
    );
}

#[test]
fn architectures_keep_native_and_log_lists_log() {
    let l = unit("SystemCallArchitectures=x86\nSystemCallLog=execve\n");
    let lowered = l.policy.lower(&Context::default()).unwrap();
    let arches: Vec<Arch> = lowered.abis.iter().map(|a| a.arch).collect();
    assert_eq!(arches, [Arch::X86_64, Arch::X86]);
    assert_eq!(lowered.badarch, Action::KillThread);
    assert_eq!(x(&l.policy, Arch::X86_64, "execve"), Action::Log);
    assert_eq!(x(&l.policy, Arch::X86_64, "read"), Action::Allow);
    let l = unit("SystemCallLog=~read\nSystemCallFilter=~mkdir\n");
    assert_eq!(x(&l.policy, Arch::X86_64, "read"), Action::Allow);
    assert_eq!(x(&l.policy, Arch::X86_64, "openat"), Action::Log);
    assert_eq!(x(&l.policy, Arch::X86_64, "mkdir"), Action::KillProcess);
}

#[test]
fn moat_explain_reads_a_unit() {
    let l = load(&format!("{CORPUS}/sshd.service"), &Options::default()).unwrap();
    assert_eq!(l.format, InputFormat::Systemd);
    assert!(
        l.text
            .contains("# SystemCallFilter= line 19: @system-service"),
        "{}",
        l.text
    );
    assert_eq!(x(&l.policy, Arch::X86_64, "chroot"), Action::Allow);
    assert_eq!(x(&l.policy, Arch::X86_64, "setrlimit"), Action::DENY);
    assert_eq!(x(&l.policy, Arch::X86_64, "ptrace"), Action::Errno(38));
    assert_eq!(x(&l.policy, Arch::X86_64, "execve"), Action::Log);
    assert_eq!(x(&l.policy, Arch::X86_64, "mount"), Action::DENY);
}

/// Per name, every action the policy can give it on any accepted ABI.
fn outcomes(
    p: &Policy,
    ctx: &Context,
) -> BTreeMap<(Arch, &'static str), std::collections::HashSet<Action>> {
    let lowered = p.lower(ctx).unwrap();
    let mut out: BTreeMap<(Arch, &'static str), std::collections::HashSet<Action>> =
        BTreeMap::new();
    for abi in &lowered.abis {
        for sc in abi.arch.syscalls() {
            let set = out.entry((abi.arch, sc.name)).or_default();
            match abi.syscalls.get(&sc.nr) {
                None => {
                    set.insert(abi.unknown);
                }
                Some(rules) => {
                    let last_true = rules.iter().rposition(|r| r.cond == Cond::True);
                    let live = &rules[last_true.unwrap_or(0)..];
                    set.extend(live.iter().map(|r| r.action));
                    if last_true.is_none() {
                        set.insert(abi.default);
                    }
                }
            }
        }
    }
    out
}

const ROUND_TRIP: &[(&str, &str)] = &[
    ("container", ""),
    ("strict", ""),
    ("docker", ""),
    (
        "deny-list",
        "default allow\nunknown allow\narch x86_64\ndeny mkdir\nerrno ENOSYS clone3\nkill kexec_load\nlog ptrace\ndeny socket if domain == AF_VSOCK\n",
    ),
    (
        "allow-list with several refusals",
        "default errno EPERM\narch x86_64 x86\nallow read write exit_group\nerrno ENOSYS clone3\nkill kexec_load\nkill-thread reboot\ntrap swapon\n",
    ),
];

#[test]
fn export_then_import_gives_the_policy_back_except_what_the_loss_report_names() {
    let ctx = Context {
        caps: Some(CapSet::docker_default()),
        kernel: None,
    };
    for (name, text) in ROUND_TRIP {
        let l = if text.is_empty() {
            load(name, &Options::default()).unwrap()
        } else {
            load_bytes(text.as_bytes(), "p.moat", &Options::default()).unwrap()
        };
        let out = export(&l, Format::Systemd, &ctx, name).unwrap();
        let back = load_bytes(&out.data, "seccomp.conf", &Options::default()).unwrap();
        assert_eq!(back.format, InputFormat::Systemd);
        let lossy: BTreeSet<String> = out
            .losses
            .iter()
            .filter_map(|l| l.0.split_once(": ").map(|(n, _)| n.to_string()))
            .collect();
        let mut exact = 0;
        for ((arch, sc), acts) in outcomes(&l.policy, &ctx) {
            // systemd filters the host's ABIs; other ABIs never reach a filter on this host.
            if !systemd::local_arches(Arch::native()).contains(&arch) {
                continue;
            }
            let got = x(&back.policy, arch, sc);
            if acts.len() == 1 && acts.contains(&got) {
                exact += 1;
                assert!(
                    !lossy.contains(sc),
                    "{name}: {sc} is exact but reported lost"
                );
            } else {
                assert!(
                    lossy.contains(sc),
                    "{name}: {arch} {sc}: {acts:?} became {got:?} without a loss line\n{}",
                    out.text()
                );
                if acts.iter().any(|a| !a.runs_call()) {
                    assert!(!got.runs_call(), "{name}: {sc}: {acts:?} became {got:?}");
                }
            }
        }
        assert!(exact > 100, "{name}: {exact}");
    }
}

#[test]
fn the_export_takes_defaults_implicit_calls_out_again() {
    // systemd puts @default (getpid, execve, ...) into every allow-list; a policy refusing getpid
    // must say so explicitly.
    let l = load_bytes(
        b"default errno EPERM\nunknown errno EPERM\narch x86_64\nallow read write exit_group\nerrno ENOSYS clone3\n",
        "p.moat",
        &Options::default(),
    )
    .unwrap();
    let out = export(&l, Format::Systemd, &Context::default(), "p").unwrap();
    let text = out.text();
    assert!(text.contains("SystemCallFilter=~"), "{text}");
    assert!(out.losses.is_empty(), "{:?}", out.losses);
    let back = load_bytes(&out.data, "p.conf", &Options::default()).unwrap();
    assert_eq!(x(&back.policy, Arch::X86_64, "getpid"), Action::DENY);
    assert_eq!(x(&back.policy, Arch::X86_64, "clone3"), Action::Errno(38));
    assert_eq!(x(&back.policy, Arch::X86_64, "read"), Action::Allow);
}
