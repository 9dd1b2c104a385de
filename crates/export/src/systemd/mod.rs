//! systemd units: `SystemCallFilter=`, `SystemCallArchitectures=`, `SystemCallErrorNumber=`,
//! `SystemCallLog=` (systemd.exec(5)). [`export`] writes a drop-in, [`import`] reads a unit or
//! drop-in the way systemd applies it, with the groups of [`groups::version`].
//!
//! systemd filters by name only. A policy whose `default` and `unknown` both let calls run is
//! written as a deny-list (`SystemCallFilter=~name name:ERRNO name:kill`); any other as an
//! allow-list, so numbers systemd does not know stay refused. Argument conditions cannot be
//! written: such a call is refused entirely when any of its outcomes refuses it, and the loss
//! report says so.

pub mod groups;
mod unit;

pub use unit::{Refusal, Settings, import, local_arches, settings, sniff, sniff_header};

use std::collections::BTreeMap;
use std::fmt::Write as _;

use moat_policy::{Action, Context, Policy};
use moat_syscalls::{self as sc, Arch};

use crate::error::ExportError;
use crate::rules::per_name;
use crate::target::{Exported, Loss};

/// The `SystemCallArchitectures=` name of an ABI.
pub fn arch_name(a: Arch) -> &'static str {
    match a {
        Arch::X86_64 => "x86-64",
        Arch::X86 => "x86",
        Arch::X32 => "x32",
        Arch::Aarch64 => "arm64",
        Arch::Arm => "arm",
        Arch::Riscv64 => "riscv64",
        Arch::Ppc64le => "ppc64-le",
        Arch::S390x => "s390x",
        Arch::Loongarch64 => "loongarch64",
    }
}

fn errno_text(e: u16) -> String {
    sc::errno_name(e).map_or_else(|| e.to_string(), str::to_string)
}

/// Exports a policy as a `[Service]` drop-in.
#[allow(clippy::too_many_lines)]
pub fn export(policy: &Policy, ctx: &Context) -> Result<Exported, ExportError> {
    let lowered = policy.lower(ctx)?;
    let Some(first) = lowered.abis.first() else {
        return Err(ExportError::NoAbi);
    };
    let (default, unknown) = (first.default, first.unknown);
    let mut losses = Vec::new();

    // One action per name: exact when the decision is unconditional and the same on every ABI,
    // else the most restrictive outcome.
    let mut verdicts: BTreeMap<&'static str, Action> = BTreeMap::new();
    for (name, abis) in per_name(&lowered) {
        let mut actions: Vec<Action> = abis.iter().flat_map(|(_, d)| d.actions()).collect();
        let worst = Action::strictest(actions.iter().copied()).unwrap_or(default);
        actions.sort_by_key(|a| a.to_ret());
        actions.dedup();
        if actions.len() > 1 {
            let conditional = abis.iter().any(|(_, d)| !d.rules.is_empty());
            losses.push(Loss(format!(
                "{name}: {}; the whole call gets `{worst}`",
                if conditional {
                    "argument conditions cannot be written"
                } else {
                    "differs between ABIs"
                }
            )));
        }
        verdicts.insert(name, worst);
    }

    let allow_list = !(default.runs_call() && unknown.runs_call());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# moat: seccomp policy {} as a systemd drop-in (systemd.exec(5))",
        policy.origin()
    );
    let _ = writeln!(out, "[Service]");
    let arches: Vec<&str> = lowered.abis.iter().map(|a| arch_name(a.arch)).collect();
    let _ = writeln!(out, "SystemCallArchitectures={}", arches.join(" "));
    if !lowered.abis.iter().any(|a| a.arch == Arch::native()) {
        losses.push(Loss(format!(
            "systemd always lets the native ABI ({}) through to the filter; the policy refuses it",
            Arch::native().name()
        )));
    }
    if !matches!(lowered.badarch, Action::KillProcess | Action::KillThread) {
        losses.push(Loss(format!(
            "other ABIs are refused the way SystemCallErrorNumber= says instead of `badarch {}`",
            lowered.badarch
        )));
    }
    let mut names: Vec<String> = Vec::new();
    let mut log: Vec<&str> = Vec::new();
    if allow_list {
        // Refused calls share one action: the default's.
        let refuse = if default.runs_call() {
            unknown
        } else {
            default
        };
        match refuse {
            Action::Errno(e) => {
                let _ = writeln!(out, "SystemCallErrorNumber={}", errno_text(e));
            }
            Action::KillProcess => {}
            other => losses.push(Loss(format!(
                "refused calls are killed: systemd cannot say `{other}`"
            ))),
        }
        if unknown != refuse {
            losses.push(Loss(format!(
                "numbers systemd does not know get `{refuse}` instead of `unknown {unknown}`"
            )));
        }
        // systemd puts @default into every allow-list; `~name` takes a call out again and
        // `~name:ERRNO` (systemd 247 and later) gives a listed call its own refusal.
        let implicit: std::collections::BTreeSet<&str> = groups::expand("@default")
            .unwrap_or_default()
            .into_iter()
            .collect();
        let mut refused: Vec<String> = Vec::new();
        for (name, a) in &verdicts {
            if a.runs_call() {
                names.push((*name).to_string());
                if *a == Action::Log {
                    log.push(name);
                }
                continue;
            }
            let own = match a {
                Action::Errno(e) if *a != refuse => Some(errno_text(*e)),
                Action::KillProcess if *a != refuse => Some("kill".to_string()),
                Action::KillThread if refuse != Action::KillProcess => {
                    losses.push(Loss(format!(
                        "{name}: `kill-thread` becomes kill (the process)"
                    )));
                    Some("kill".to_string())
                }
                _ if *a != refuse => {
                    losses.push(Loss(format!(
                        "{name}: gets `{refuse}` instead of `{a}` (systemd cannot say `{a}`)"
                    )));
                    None
                }
                _ => None,
            };
            match own {
                Some(e) => refused.push(format!("{name}:{e}")),
                None if implicit.contains(name) => refused.push((*name).to_string()),
                None => {}
            }
        }
        write_list(&mut out, "SystemCallFilter=", &names);
        if !refused.is_empty() {
            write_list(&mut out, "SystemCallFilter=~", &refused);
        }
    } else {
        for (name, a) in &verdicts {
            match a {
                Action::Allow => {}
                Action::Log => log.push(name),
                Action::Errno(e) => names.push(format!("{name}:{}", errno_text(*e))),
                Action::KillProcess => names.push(format!("{name}:kill")),
                Action::KillThread => {
                    losses.push(Loss(format!(
                        "{name}: `kill-thread` becomes kill (the process)"
                    )));
                    names.push(format!("{name}:kill"));
                }
                other => {
                    losses.push(Loss(format!(
                        "{name}: systemd cannot say `{other}`; it is killed"
                    )));
                    names.push(format!("{name}:kill"));
                }
            }
        }
        if !names.is_empty() {
            write_list(&mut out, "SystemCallFilter=~", &names);
        }
    }
    if !log.is_empty() {
        let l: Vec<String> = log.iter().map(|s| s.to_string()).collect();
        write_list(&mut out, "SystemCallLog=", &l);
    }
    Ok(Exported {
        data: out.into_bytes(),
        losses,
        notes: vec![
            "save as /etc/systemd/system/UNIT.service.d/seccomp.conf and run systemctl daemon-reload"
                .into(),
        ],
    })
}

fn write_list(out: &mut String, key: &str, items: &[String]) {
    let mut line = String::from(key);
    let mut first = true;
    for i in items {
        if line.len() + i.len() > 100 && !first {
            let _ = writeln!(out, "{line}");
            line = String::from(key);
            first = true;
        }
        if !first {
            line.push(' ');
        }
        line.push_str(i);
        first = false;
    }
    let _ = writeln!(out, "{line}");
}
