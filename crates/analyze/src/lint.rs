//! Lint: findings with stable kebab-case codes, a level, the source location and a fix.
//!
//! Codes (stable; `docs/analysis.md` lists them with examples):
//!
//! | code | level | what |
//! | --- | --- | --- |
//! | `allows-bpf` | error | `bpf()` runs: verifier bugs are kernel code execution |
//! | `allows-user-namespaces` | error | `unshare`/`clone` with `CLONE_NEWUSER`, or `clone3`, runs |
//! | `allows-keyring` | warning | `add_key`/`request_key`/`keyctl` run |
//! | `allows-io-uring` | error | `io_uring_*` run: seccomp never sees io_uring operations |
//! | `allows-perf-event-open` | warning | `perf_event_open` runs |
//! | `allows-ptrace` | warning | `ptrace`/`process_vm_readv`/`process_vm_writev` run |
//! | `allows-personality` | warning | `personality` can set `ADDR_NO_RANDOMIZE`/`READ_IMPLIES_EXEC` |
//! | `allows-tiocsti` | error | `ioctl(TIOCSTI)`/`ioctl(TIOCLINUX)` runs |
//! | `allows-open-by-handle-at` | error | `open_by_handle_at` runs (Shocker) |
//! | `allows-kernel-code` | error | module loading or kexec runs |
//! | `allows-vsock-alg` | warning | `socket(AF_VSOCK)`/`socket(AF_ALG)` runs |
//! | `equivalent-call-gap` | warning | a call is stopped but an equivalent one runs |
//! | `socketcall-bypass` | error | a socket call is stopped but reachable through `socketcall`/`ipc` |
//! | `missing-essential` | warning | an allow-list stops `exit_group`, `rt_sigreturn` or `restart_syscall` |
//! | `shadowed-rule` | warning | a rule never decides: later rules cover all of it |
//! | `rule-equals-default` | info | a rule decides, but without it the verdict would be the same |
//! | `unknown-eperm` | warning | syscalls newer than the policy get EPERM: libc does not fall back |
//! | `unknown-allows` | error | syscalls newer than the policy run |
//! | `errno-zero` | error | `errno 0`: a call appears to succeed without running (privilege drops) |
//! | `uncacheable-allow` | warning | an unconditional allow the kernel's constant-allow cache cannot serve |
//! | `bpf-no-arch-check` | error | raw BPF whose verdict for an unknown ABI depends on the number or lets calls run |
//! | `bpf-no-x32-guard` | error | raw BPF that stops an x86_64 call but lets its x32 twin run |
//! | `wide-value` | warning | a 32-bit (or 16-bit) parameter compared with a value written in 64 bits |
//! | `bpf-wide-compare` | error | raw BPF that stops a call but lets it run with junk in bits the kernel ignores |

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use moat_policy::{Action, CmpOp, Context, Decider, Location, Policy, Width};
use moat_syscalls::Arch;

use crate::filters::{Filters, sample_args, sample_values};
use crate::region::{Atoms, List, split};
use crate::solve::{Atom, width_mask};
use crate::{AnalyzeError, Subject};

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Worth knowing.
    Info,
    /// Probably a mistake or a weakness.
    Warning,
    /// A hole.
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        })
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Level, String> {
        match s {
            "info" => Ok(Level::Info),
            "warning" | "warn" => Ok(Level::Warning),
            "error" => Ok(Level::Error),
            other => Err(format!("unknown level `{other}` (info, warning, error)")),
        }
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Stable kebab-case code.
    pub code: &'static str,
    /// Level.
    pub level: Level,
    /// What is wrong, including the CVE class for dangerous allowances.
    pub message: String,
    /// How to fix it.
    pub fix: String,
    /// Where: the deciding statement (file or built-in and span), when known.
    pub location: Option<Location>,
    /// ABIs on which it applies (empty when not ABI-specific).
    pub arches: Vec<Arch>,
    /// The syscall concerned, if one.
    pub syscall: Option<String>,
}

/// One dangerous capability: which calls, optionally under which argument condition.
struct Danger {
    code: &'static str,
    level: Level,
    calls: &'static [(&'static str, Option<(&'static str, Probe)>)],
    why: &'static str,
    fix: &'static str,
}

/// An argument condition that makes a call dangerous.
#[derive(Clone, Copy)]
enum Probe {
    /// `param & CONSTANT` is nonzero.
    Bits(&'static str),
    /// `param == CONSTANT`.
    Is(&'static str),
}

const DANGERS: &[Danger] = &[
    Danger {
        code: "allows-bpf",
        level: Level::Error,
        calls: &[("bpf", None)],
        why: "eBPF verifier bugs give kernel code execution (CVE-2017-16995, CVE-2020-8835, CVE-2021-3490, CVE-2022-23222)",
        fix: "deny bpf",
    },
    Danger {
        code: "allows-user-namespaces",
        level: Level::Error,
        calls: &[
            ("unshare", Some(("flags", Probe::Bits("CLONE_NEWUSER")))),
            ("clone", Some(("flags", Probe::Bits("CLONE_NEWUSER")))),
            ("clone3", None),
        ],
        why: "user namespaces expose root-only kernel code to unprivileged processes (CVE-2016-3134, CVE-2022-0185, CVE-2024-1086)",
        fix: "deny @namespaces; deny clone if flags & CLONE_NEW_ANY; errno ENOSYS clone3",
    },
    Danger {
        code: "allows-keyring",
        level: Level::Warning,
        calls: &[("add_key", None), ("request_key", None), ("keyctl", None)],
        why: "keyrings are not namespaced (CVE-2016-0728)",
        fix: "deny @keyring",
    },
    Danger {
        code: "allows-io-uring",
        level: Level::Error,
        calls: &[
            ("io_uring_setup", None),
            ("io_uring_enter", None),
            ("io_uring_register", None),
        ],
        why: "io_uring operations run without seccomp seeing them, and io_uring has a long exploit history (CVE-2022-29582, CVE-2023-2598)",
        fix: "deny @io-uring",
    },
    Danger {
        code: "allows-perf-event-open",
        level: Level::Warning,
        calls: &[("perf_event_open", None)],
        why: "perf events leak kernel addresses and have had privilege escalations (CVE-2013-2094)",
        fix: "deny perf_event_open",
    },
    Danger {
        code: "allows-ptrace",
        level: Level::Warning,
        calls: &[
            ("ptrace", None),
            ("process_vm_readv", None),
            ("process_vm_writev", None),
        ],
        why: "reading and writing other processes; ptrace has bypassed seccomp (CVE-2019-2054, CVE-2022-30594)",
        fix: "deny ptrace process_vm_readv process_vm_writev",
    },
    Danger {
        code: "allows-personality",
        level: Level::Warning,
        calls: &[
            (
                "personality",
                Some(("persona", Probe::Is("ADDR_NO_RANDOMIZE"))),
            ),
            (
                "personality",
                Some(("persona", Probe::Is("READ_IMPLIES_EXEC"))),
            ),
        ],
        why: "personality flags switch off ASLR or make data executable (CVE-2009-1895 class)",
        fix: "deny personality if persona not in {0, 8, 0x20000, 0x20008, 0xffffffff}",
    },
    Danger {
        code: "allows-tiocsti",
        level: Level::Error,
        calls: &[
            ("ioctl", Some(("request", Probe::Is("TIOCSTI")))),
            ("ioctl", Some(("request", Probe::Is("TIOCLINUX")))),
        ],
        why: "terminal input injection into the session outside the sandbox (CVE-2017-5226, CVE-2019-10063)",
        fix: "deny ioctl if request in {TIOCSTI, TIOCLINUX}",
    },
    Danger {
        code: "allows-open-by-handle-at",
        level: Level::Error,
        calls: &[("open_by_handle_at", None)],
        why: "Shocker: opens any inode of the host file system by handle",
        fix: "deny open_by_handle_at",
    },
    Danger {
        code: "allows-kernel-code",
        level: Level::Error,
        calls: &[
            ("init_module", None),
            ("finit_module", None),
            ("delete_module", None),
            ("kexec_load", None),
            ("kexec_file_load", None),
        ],
        why: "loads or replaces code in the host kernel",
        fix: "deny @module kexec_load kexec_file_load",
    },
    Danger {
        code: "allows-vsock-alg",
        level: Level::Warning,
        calls: &[
            ("socket", Some(("domain", Probe::Is("AF_VSOCK")))),
            ("socket", Some(("domain", Probe::Is("AF_ALG")))),
        ],
        why: "hypervisor sockets and the kernel crypto API are rarely needed attack surface (CVE-2021-26708, CVE-2026-31431)",
        fix: "deny socket if domain in {AF_VSOCK, AF_ALG}",
    },
];

/// Families of calls that do the same thing.
const FAMILIES: &[&[&str]] = &[
    &["open", "openat", "openat2"],
    &["clone", "clone3", "fork", "vfork"],
    &["execve", "execveat"],
];

const ESSENTIALS: &[&str] = &["exit_group", "rt_sigreturn", "restart_syscall"];

/// What a subject does with a call on one ABI.
struct Probed {
    /// A call in a region that runs (allow/log), if any.
    runs: Option<[u64; 6]>,
    /// A call in a region that does not run, if any.
    stops: Option<[u64; 6]>,
}

fn probe(
    subject: &Subject,
    arch: Arch,
    nr: u32,
    extra: Option<Atom>,
) -> Result<Probed, AnalyzeError> {
    match subject {
        Subject::Policy { lowered, .. } => {
            let mut atoms = Atoms::default();
            let list = match lowered.abis.iter().find(|x| x.arch == arch) {
                None => List::constant(lowered.badarch),
                Some(abi) => match abi.syscalls.get(&nr) {
                    Some(rules) => atoms.list(rules, abi.default),
                    None => List::constant(abi.unknown),
                },
            };
            let forced: Vec<(usize, bool)> =
                extra.into_iter().map(|a| (atoms.intern(a), true)).collect();
            let regions =
                split(&atoms, &[list], &forced).map_err(|source| AnalyzeError::TooComplex {
                    arch,
                    syscall: crate::syscall_name(arch, nr).unwrap_or("?").to_string(),
                    source,
                })?;
            Ok(Probed {
                runs: regions
                    .iter()
                    .find(|r| r.verdicts[0].0.runs_call())
                    .map(|r| r.args),
                stops: regions
                    .iter()
                    .find(|r| !r.verdicts[0].0.runs_call())
                    .map(|r| r.args),
            })
        }
        Subject::Filters(f) => {
            let audit = arch.audit_arch();
            let mut base = [0u64; 6];
            if let Some(a) = extra {
                base[usize::from(a.arg)] = crate::solve::solve_one(&[(a, true)]).unwrap_or(0);
            }
            let mut samples = vec![base];
            if f.reads_args(audit, nr) {
                let values = sample_values(&f.constants());
                for mut s in sample_args(&values) {
                    if let Some(a) = extra {
                        s[usize::from(a.arg)] = base[usize::from(a.arg)];
                    }
                    samples.push(s);
                }
            }
            let mut p = Probed {
                runs: None,
                stops: None,
            };
            for s in samples {
                let act = f.action(audit, nr, &s);
                if act.runs_call() {
                    p.runs.get_or_insert(s);
                } else {
                    p.stops.get_or_insert(s);
                }
                if p.runs.is_some() && p.stops.is_some() {
                    break;
                }
            }
            Ok(p)
        }
    }
}

/// The statement that decides a call, for a policy subject.
fn location(
    subject: &Subject,
    ctx: &Context,
    arch: Arch,
    nr: u32,
    args: [u64; 6],
) -> Option<Location> {
    let Subject::Policy { policy, .. } = subject else {
        return None;
    };
    let v = policy.evaluate(ctx, arch.audit_arch(), nr, args);
    decider_location(policy, v.decided_by)
}

/// Where a decider was written.
pub fn decider_location(policy: &Policy, d: Decider) -> Option<Location> {
    match d {
        Decider::Rule { index, .. } => policy.rules().get(index).map(|r| r.location.clone()),
        Decider::Default => policy.default_action().location.clone(),
        Decider::Unknown => policy.unknown_action().location.clone(),
        Decider::BadArch => policy.badarch_action().location.clone(),
    }
}

/// The ABIs a subject is linted on: a policy's accepted ABIs; for raw programs, the ABIs whose
/// calls are not all stopped by the architecture check.
fn lint_arches(subject: &Subject) -> Vec<Arch> {
    match subject {
        Subject::Policy { policy, .. } => policy.arches().to_vec(),
        Subject::Filters(f) => Arch::ALL
            .into_iter()
            .filter(|a| {
                a.syscalls()
                    .iter()
                    .any(|s| f.action(a.audit_arch(), s.nr, &[0; 6]).runs_call())
            })
            .collect(),
    }
}

/// The atom for a probe on `syscall`'s parameter `param` on `arch`.
fn probe_atom(arch: Arch, syscall: &str, param: &str, p: Probe) -> Option<Atom> {
    let params = moat_syscalls::signature(arch, syscall)?;
    let par = params.into_iter().find(|x| x.name == param)?;
    let wm = width_mask(par.width);
    Some(match p {
        Probe::Bits(c) => Atom {
            arg: par.index,
            mask: moat_syscalls::constant(c)? & wm,
            op: CmpOp::Ne,
            value: 0,
            width: par.width,
        },
        Probe::Is(c) => Atom {
            arg: par.index,
            mask: wm,
            op: CmpOp::Eq,
            value: moat_syscalls::constant(c)? & wm,
            width: par.width,
        },
    })
}

/// Collects findings, merging the same finding on several ABIs.
#[derive(Default)]
struct Sink {
    map: BTreeMap<(&'static str, Option<String>, String), Finding>,
}

impl Sink {
    fn add(&mut self, f: Finding) {
        let key = (
            f.code,
            f.syscall.clone(),
            f.location
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        );
        match self.map.get_mut(&key) {
            Some(old) => {
                for a in f.arches {
                    if !old.arches.contains(&a) {
                        old.arches.push(a);
                    }
                }
            }
            None => {
                self.map.insert(key, f);
            }
        }
    }
}

fn fmt_call(arch: Arch, syscall: &str, args: &[u64; 6]) -> String {
    let shown: Vec<String> = args
        .iter()
        .map(|&v| {
            if v < 10 {
                v.to_string()
            } else {
                format!("{v:#x}")
            }
        })
        .collect();
    let _ = arch;
    format!("{syscall}({})", shown.join(", "))
}

/// Lints a subject.
pub fn lint(subject: &Subject, ctx: &Context) -> Result<Vec<Finding>, AnalyzeError> {
    let mut sink = Sink::default();
    let arches = lint_arches(subject);
    dangers(subject, ctx, &arches, &mut sink)?;
    gaps(subject, ctx, &arches, &mut sink)?;
    multiplexers(subject, ctx, &arches, &mut sink)?;
    essentials(subject, ctx, &arches, &mut sink)?;
    match subject {
        Subject::Policy { policy, lowered } => {
            rules(policy, lowered, &mut sink)?;
            errno_zero(policy, &mut sink);
            unknown(policy, &mut sink);
            wide_values(policy, &mut sink);
            cache(policy, lowered, ctx, &mut sink)?;
        }
        Subject::Filters(f) => {
            raw(f, &arches, &mut sink);
            raw_errno_zero(f, &mut sink);
        }
    }
    let mut out: Vec<Finding> = sink.map.into_values().collect();
    out.sort_by(|a, b| {
        let pos = |f: &Finding| f.location.as_ref().map(|l| (l.span.line, l.span.col));
        b.level
            .cmp(&a.level)
            .then(pos(a).cmp(&pos(b)))
            .then(a.code.cmp(b.code))
    });
    Ok(out)
}

fn dangers(
    subject: &Subject,
    ctx: &Context,
    arches: &[Arch],
    sink: &mut Sink,
) -> Result<(), AnalyzeError> {
    for d in DANGERS {
        for &(name, cond) in d.calls {
            for &arch in arches {
                let Some(sc) = arch.by_name(name) else {
                    continue;
                };
                let extra = match cond {
                    None => None,
                    Some((param, p)) => match probe_atom(arch, name, param, p) {
                        Some(a) => Some(a),
                        None => continue,
                    },
                };
                let p = probe(subject, arch, sc.nr, extra)?;
                if let Some(args) = p.runs {
                    let what = match cond {
                        None => format!("{name} runs"),
                        Some((param, Probe::Bits(c))) => format!("{name} runs with {param} & {c}"),
                        Some((param, Probe::Is(c))) => format!("{name} runs with {param} == {c}"),
                    };
                    sink.add(Finding {
                        code: d.code,
                        level: d.level,
                        message: format!("{what}: {}", d.why),
                        fix: d.fix.to_string(),
                        location: location(subject, ctx, arch, sc.nr, args),
                        arches: vec![arch],
                        syscall: Some(name.to_string()),
                    });
                }
            }
        }
    }
    Ok(())
}

fn gaps(
    subject: &Subject,
    ctx: &Context,
    arches: &[Arch],
    sink: &mut Sink,
) -> Result<(), AnalyzeError> {
    let mut families: Vec<Vec<&'static str>> = FAMILIES.iter().map(|f| f.to_vec()).collect();
    for &name in moat_syscalls::names() {
        let t = moat_syscalls::twins(name);
        if !t.is_empty() {
            let mut f = vec![name];
            f.extend_from_slice(t);
            families.push(f);
        }
    }
    for &arch in arches {
        for fam in &families {
            let members: Vec<(&str, u32)> = fam
                .iter()
                .filter_map(|n| arch.by_name(n).map(|s| (*n, s.nr)))
                .collect();
            if members.len() < 2 {
                continue;
            }
            let mut probed = Vec::new();
            for &(n, nr) in &members {
                probed.push((n, nr, probe(subject, arch, nr, None)?));
            }
            for (x, xnr, px) in &probed {
                let Some(stop) = px.stops else { continue };
                // Fork-style calls cannot create namespaces: they only matter as the open door
                // for clone's or clone3's blocked flags when clone/clone3 themselves run freely.
                for (y, _, py) in &probed {
                    if x == y || py.stops.is_some() || py.runs.is_none() {
                        continue;
                    }
                    if matches!(*y, "fork" | "vfork") {
                        continue;
                    }
                    if matches!(*x, "fork" | "vfork") {
                        continue;
                    }
                    sink.add(Finding {
                        code: "equivalent-call-gap",
                        level: Level::Warning,
                        message: format!(
                            "{x} is stopped for some calls ({}), but the equivalent {y} always runs",
                            fmt_call(arch, x, &stop)
                        ),
                        fix: format!("give {y} the same rule as {x}"),
                        location: location(subject, ctx, arch, *xnr, stop),
                        arches: vec![arch],
                        syscall: Some(x.to_string()),
                    });
                }
            }
        }
    }
    Ok(())
}

fn multiplexers(
    subject: &Subject,
    ctx: &Context,
    arches: &[Arch],
    sink: &mut Sink,
) -> Result<(), AnalyzeError> {
    for &arch in arches {
        for &name in moat_syscalls::names() {
            let Some(m) = moat_syscalls::multiplexed(arch, name) else {
                continue;
            };
            let mux = match m.via {
                moat_syscalls::Multiplexer::Socketcall => "socketcall",
                moat_syscalls::Multiplexer::Ipc => "ipc",
            };
            let (Some(direct), Some(via)) = (arch.by_name(name), arch.by_name(mux)) else {
                continue;
            };
            let pd = probe(subject, arch, direct.nr, None)?;
            if pd.stops.is_none() {
                continue;
            }
            let mask = if mux == "ipc" { 0xffff } else { 0xffff_ffff };
            let call = Atom {
                arg: 0,
                mask,
                op: CmpOp::Eq,
                value: u64::from(m.call),
                width: Width::U32,
            };
            let pv = probe(subject, arch, via.nr, Some(call))?;
            if let Some(args) = pv.runs {
                sink.add(Finding {
                    code: "socketcall-bypass",
                    level: Level::Error,
                    message: format!(
                        "{name} is stopped for some calls, but {mux}({}, ...) reaches it and runs; seccomp cannot see the real arguments behind {mux}",
                        m.call
                    ),
                    fix: format!("do not allow {mux} for call {}; write the rule on {name} only (moat applies it to {mux} too)", m.call),
                    location: location(subject, ctx, arch, via.nr, args),
                    arches: vec![arch],
                    syscall: Some(name.to_string()),
                });
            }
        }
    }
    Ok(())
}

fn essentials(
    subject: &Subject,
    ctx: &Context,
    arches: &[Arch],
    sink: &mut Sink,
) -> Result<(), AnalyzeError> {
    for &arch in arches {
        for name in ESSENTIALS {
            let Some(sc) = arch.by_name(name) else {
                continue;
            };
            let p = probe(subject, arch, sc.nr, None)?;
            if p.runs.is_none() {
                let args = p.stops.unwrap_or([0; 6]);
                let act = subject.action(arch.audit_arch(), sc.nr, &args);
                sink.add(Finding {
                    code: "missing-essential",
                    level: Level::Warning,
                    message: format!("{name} never runs ({act}): every program needs it"),
                    fix: format!("allow {name}"),
                    location: location(subject, ctx, arch, sc.nr, args),
                    arches: vec![arch],
                    syscall: Some((*name).to_string()),
                });
            }
        }
    }
    Ok(())
}

fn rules(
    policy: &Policy,
    lowered: &moat_policy::Lowered,
    sink: &mut Sink,
) -> Result<(), AnalyzeError> {
    for (index, rule) in policy.rules().iter().enumerate() {
        if *rule.location.origin != *policy.origin() {
            continue;
        }
        let mut applies = false;
        let mut decides = false;
        let mut changes = false;
        for abi in &lowered.abis {
            for (&nr, rules) in &abi.syscalls {
                if !rules.iter().any(|r| r.rule == index) {
                    continue;
                }
                applies = true;
                let mut atoms = Atoms::default();
                let with = atoms.list(rules, abi.default);
                let without: Vec<_> = rules.iter().filter(|r| r.rule != index).cloned().collect();
                let without = atoms.list(&without, abi.default);
                let regions = split(&atoms, &[with, without], &[]).map_err(|source| {
                    AnalyzeError::TooComplex {
                        arch: abi.arch,
                        syscall: crate::syscall_name(abi.arch, nr).unwrap_or("?").to_string(),
                        source,
                    }
                })?;
                for r in &regions {
                    if r.verdicts[0].1 == Some(index) {
                        decides = true;
                    }
                    if r.verdicts[0].0 != r.verdicts[1].0 {
                        changes = true;
                    }
                }
                if changes {
                    break;
                }
            }
            if changes {
                break;
            }
        }
        if !applies || changes {
            continue;
        }
        let (code, level, message, fix) = if decides {
            (
                "rule-equals-default",
                Level::Info,
                format!(
                    "`{rule}` changes nothing: without it every call it decides gets the same action"
                ),
                "remove the rule (or keep it as documentation)".to_string(),
            )
        } else {
            (
                "shadowed-rule",
                Level::Warning,
                format!("`{rule}` never decides: later rules override every call it matches"),
                "remove the rule, or move it below the rules that override it".to_string(),
            )
        };
        sink.add(Finding {
            code,
            level,
            message,
            fix,
            location: Some(rule.location.clone()),
            arches: Vec::new(),
            syscall: None,
        });
    }
    Ok(())
}

/// Why `errno 0` is a hole, in every `errno-zero` finding.
const ERRNO_ZERO_WHY: &str = "the call appears to succeed without running: whoever relies on its effect is deceived. runc and crun install the filter before they drop privileges (when noNewPrivileges is false), so `errno 0 setuid capset` leaves a container meant to run as a user root with every capability; a program dropping its own privileges is fooled the same way";

/// `errno 0` anywhere in a policy: every rule and policy-wide action that returns it.
fn errno_zero(policy: &Policy, sink: &mut Sink) {
    let fix = "refuse the call visibly (`deny`, `errno EPERM`, `errno ENOSYS`) or allow it";
    for rule in policy.rules() {
        if rule.action == Action::Errno(0) {
            sink.add(Finding {
                code: "errno-zero",
                level: Level::Error,
                message: format!("`{rule}`: {ERRNO_ZERO_WHY}"),
                fix: fix.to_string(),
                location: Some(rule.location.clone()),
                arches: Vec::new(),
                syscall: None,
            });
        }
    }
    for (what, setting) in [
        ("default", policy.default_action()),
        ("unknown", policy.unknown_action()),
        ("badarch", policy.badarch_action()),
    ] {
        if setting.action == Action::Errno(0) {
            sink.add(Finding {
                code: "errno-zero",
                level: Level::Error,
                message: format!("`{what} errno 0`: {ERRNO_ZERO_WHY}"),
                fix: fix.to_string(),
                location: setting.location.clone(),
                arches: Vec::new(),
                syscall: None,
            });
        }
    }
}

/// `errno 0` returned by a raw program: any `RET` of `SECCOMP_RET_ERRNO` with data 0.
fn raw_errno_zero(f: &Filters, sink: &mut Sink) {
    let ret_k = moat_bpf::consts::BPF_RET | moat_bpf::consts::BPF_K;
    let errno0 = moat_bpf::consts::ret_errno(0);
    if f.programs
        .iter()
        .any(|p| p.insns().iter().any(|i| i.code == ret_k && i.k == errno0))
    {
        sink.add(Finding {
            code: "errno-zero",
            level: Level::Error,
            message: format!("the program returns errno 0: {ERRNO_ZERO_WHY}"),
            fix: "return a nonzero errno (EPERM, ENOSYS) or allow the call".into(),
            location: None,
            arches: Vec::new(),
            syscall: None,
        });
    }
}

/// Raw programs that compare more bits of a parameter than the kernel reads (libseccomp compares
/// all 64 bits of every argument): a call the program stops runs when the caller sets bits
/// above the parameter's width, which the kernel then ignores. Checked on the 64-bit ABIs, for
/// every narrow parameter of every syscall whose verdict depends on its arguments, over the
/// boundary values of the program's constants.
fn wide_compares(f: &Filters, arches: &[Arch], sink: &mut Sink) {
    let samples = sample_args(&sample_values(&f.constants()));
    for &arch in arches.iter().filter(|a| !a.is_compat32()) {
        let audit = arch.audit_arch();
        for sc in arch.syscalls() {
            if !f.reads_args(audit, sc.nr) {
                continue;
            }
            let Some(sig) = moat_syscalls::signature(arch, sc.name) else {
                continue;
            };
            'param: for p in sig.iter().filter(|p| p.bits < 64) {
                let i = usize::from(p.index);
                // Junk in every bit above the parameter's width.
                let junk = 0xdead_beef_5a5a_5a5a & !p.mask();
                for args in &samples {
                    let stopped = f.action(audit, sc.nr, args);
                    let mut wide = *args;
                    wide[i] = (args[i] & p.mask()) | junk;
                    let with_junk = f.action(audit, sc.nr, &wide);
                    if stopped.runs_call() || !with_junk.runs_call() {
                        continue;
                    }
                    sink.add(Finding {
                        code: "bpf-wide-compare",
                        level: Level::Error,
                        message: format!(
                            "{} of {} is {}-bit, but the program compares more of it: {} is {stopped}, {} is {with_junk}, and the kernel reads both alike",
                            p.name,
                            sc.name,
                            p.bits,
                            fmt_call(arch, sc.name, args),
                            fmt_call(arch, sc.name, &wide),
                        ),
                        fix: format!(
                            "compare only the low {} bits of {} (moat compiles every parameter at its width)",
                            p.bits, p.name
                        ),
                        location: None,
                        arches: vec![arch],
                        syscall: Some(sc.name.to_string()),
                    });
                    break 'param;
                }
            }
        }
    }
}

/// Values written in their 64-bit form for a narrower parameter (`fd == 0xffffffffffffffff`).
/// The kernel reads only the parameter's low bits, so moat compares those; whoever wrote the
/// value may have meant a 64-bit comparison, which libseccomp would make and a caller could
/// dodge with other high bits.
fn wide_values(policy: &Policy, sink: &mut Sink) {
    for w in policy.wide_values() {
        let Some(rule) = policy.rules().get(w.rule) else {
            continue;
        };
        let width = if w.bits == 16 { "16-bit" } else { "32-bit" };
        let low = if w.bits == 16 {
            format!("{:#06x}", w.compared)
        } else {
            format!("{:#010x}", w.compared)
        };
        // A sign extension: the value is negative at the parameter's width.
        let negative = i128::from(w.compared) - (1i128 << w.bits);
        let fix = format!("write {negative} (or {low}), the value the kernel sees");
        sink.add(Finding {
            code: "wide-value",
            level: Level::Warning,
            message: format!(
                "{} of {} is {width}: `{}` is written in 64 bits, and the filter compares the parameter's low {} bits with {low}, as the kernel reads it (a 64-bit comparison would miss calls with other high bits)",
                w.param, w.syscall, w.value, w.bits
            ),
            fix,
            location: Some(Location {
                origin: rule.location.origin.clone(),
                span: w.span,
            }),
            arches: w.arches,
            syscall: Some(w.syscall.to_string()),
        });
    }
}

fn unknown(policy: &Policy, sink: &mut Sink) {
    let u = policy.unknown_action();
    let (code, level, message, fix) = match u.action {
        Action::Errno(1) => (
            "unknown-eperm",
            Level::Warning,
            "syscalls newer than the policy fail with EPERM: libc treats that as a real refusal and does not fall back to the older call (as it does on ENOSYS)",
            "unknown errno ENOSYS",
        ),
        a if a.runs_call() => (
            "unknown-allows",
            Level::Error,
            "syscalls newer than the policy run: the policy fails open for every call added to the kernel later",
            "unknown errno ENOSYS",
        ),
        _ => return,
    };
    sink.add(Finding {
        code,
        level,
        message: message.to_string(),
        fix: fix.to_string(),
        location: u.location.clone(),
        arches: Vec::new(),
        syscall: None,
    });
}

/// Unconditional allows of the policy that the compiled program does not serve from the
/// kernel's constant-allow cache (Linux 5.11+). x32 numbers are never cached (they lie beyond the
/// bitmap), and ABIs without a bitmap on this kernel are skipped.
fn cache(
    policy: &Policy,
    lowered: &moat_policy::Lowered,
    ctx: &Context,
    sink: &mut Sink,
) -> Result<(), AnalyzeError> {
    let Ok(program) = crate::compile(policy, ctx) else {
        return Ok(());
    };
    for abi in &lowered.abis {
        let audit = abi.arch.audit_arch();
        // Numbers beyond the bitmap (ARM's private calls) are never cached.
        let Some(len) = moat_bpf::cache::bitmap_len(audit).filter(|_| abi.arch != Arch::X32) else {
            continue;
        };
        let mut slow = Vec::new();
        for (&nr, rules) in &abi.syscalls {
            let mut atoms = Atoms::default();
            let list = atoms.list(rules, abi.default);
            let regions =
                split(&atoms, &[list], &[]).map_err(|source| AnalyzeError::TooComplex {
                    arch: abi.arch,
                    syscall: crate::syscall_name(abi.arch, nr).unwrap_or("?").to_string(),
                    source,
                })?;
            let always = nr < len && regions.iter().all(|r| r.verdicts[0].0 == Action::Allow);
            if always && !moat_bpf::cache::is_constant_allow(&program, audit, nr) {
                slow.push(crate::syscall_name(abi.arch, nr).unwrap_or("?"));
            }
        }
        if !slow.is_empty() {
            let shown: Vec<&str> = slow.iter().take(8).copied().collect();
            sink.add(Finding {
                code: "uncacheable-allow",
                level: Level::Warning,
                message: format!(
                    "{} syscalls are allowed for every argument, but the compiled filter is not constant for them, so the kernel runs it on every call ({}{})",
                    slow.len(),
                    shown.join(", "),
                    if slow.len() > shown.len() { ", ..." } else { "" }
                ),
                fix: "report this: moat's compiler promises cacheable unconditional allows".into(),
                location: None,
                arches: vec![abi.arch],
                syscall: None,
            });
        }
    }
    Ok(())
}

/// Lints for raw programs: architecture check, x32 guard, cacheability of constant allows.
fn raw(f: &Filters, arches: &[Arch], sink: &mut Sink) {
    // An AUDIT_ARCH value no ABI uses must get one verdict for every number, and it must stop
    // the call: otherwise the program interprets numbers of an ABI it never checked.
    let bogus = 0x1234_5678;
    let verdicts: Vec<Action> = (0..600).map(|nr| f.action(bogus, nr, &[0; 6])).collect();
    let varies = verdicts.windows(2).any(|w| w[0] != w[1]);
    if varies || verdicts.iter().any(|a| a.runs_call()) {
        sink.add(Finding {
            code: "bpf-no-arch-check",
            level: Level::Error,
            message: "the program does not check seccomp_data.arch before looking at the number: on another ABI the same numbers mean other syscalls".into(),
            fix: "load arch first and kill on every AUDIT_ARCH value the program was not written for".into(),
            location: None,
            arches: Vec::new(),
            syscall: None,
        });
    }
    wide_compares(f, arches, sink);
    // x32: numbers with bit 30 arrive with AUDIT_ARCH_X86_64.
    if arches.contains(&Arch::X86_64) {
        let audit = Arch::X86_64.audit_arch();
        for sc in Arch::X86_64.syscalls() {
            let native = f.action(audit, sc.nr, &[0; 6]);
            let x32 = f.action(audit, sc.nr | 0x4000_0000, &[0; 6]);
            if !native.runs_call() && x32.runs_call() {
                sink.add(Finding {
                    code: "bpf-no-x32-guard",
                    level: Level::Error,
                    message: format!(
                        "{} is stopped on x86_64 ({native}) but runs as x32 number {:#x}: the program does not reject numbers with __X32_SYSCALL_BIT",
                        sc.name,
                        sc.nr | 0x4000_0000
                    ),
                    fix: "after the arch check, stop every number >= 0x40000000 unless x32 is meant to be allowed".into(),
                    location: None,
                    arches: vec![Arch::X86_64],
                    syscall: Some(sc.name.to_string()),
                });
                break;
            }
        }
    }
    // Constant allows the kernel's cache cannot serve: the program reads arguments (or does
    // something the kernel's emulator does not understand) before allowing unconditionally.
    for &arch in arches {
        let audit = arch.audit_arch();
        // x32 numbers lie beyond the x86_64 bitmap and are never cached; ABIs without a bitmap
        // here are not cached either.
        let Some(len) = moat_bpf::cache::bitmap_len(audit).filter(|_| arch != Arch::X32) else {
            continue;
        };
        let mut slow = Vec::new();
        let samples = sample_args(&sample_values(&f.constants()));
        for sc in arch.syscalls().iter().filter(|s| s.nr < len) {
            // Allowed for every argument: for programs that read arguments, on every sample.
            let always = if f.reads_args(audit, sc.nr) {
                samples
                    .iter()
                    .all(|a| f.action(audit, sc.nr, a) == Action::Allow)
            } else {
                f.action(audit, sc.nr, &[0; 6]) == Action::Allow
            };
            if always
                && !f
                    .programs
                    .iter()
                    .all(|p| moat_bpf::cache::is_constant_allow(p, audit, sc.nr))
            {
                slow.push(sc.name);
            }
        }
        // Numbers beyond the cache bitmap are never cached; only report table numbers.
        if !slow.is_empty() {
            let shown: Vec<&str> = slow.iter().take(8).copied().collect();
            sink.add(Finding {
                code: "uncacheable-allow",
                level: Level::Warning,
                message: format!(
                    "{} syscalls are allowed for every argument but the kernel's constant-allow cache cannot serve them, so the filter runs on every call ({}{})",
                    slow.len(),
                    shown.join(", "),
                    if slow.len() > shown.len() { ", ..." } else { "" }
                ),
                fix: "check the allowed numbers before loading any argument, with only JEQ/JGT/JGE/JSET on nr and arch".into(),
                location: None,
                arches: vec![arch],
                syscall: None,
            });
        }
    }
}
