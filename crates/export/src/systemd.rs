//! systemd unit drop-ins: `SystemCallFilter=`, `SystemCallArchitectures=`,
//! `SystemCallErrorNumber=`, `SystemCallLog=` (systemd.exec(5)); export and reading back.
//!
//! systemd filters by name only. A policy whose `default` and `unknown` both let calls run is
//! written as a deny-list (`SystemCallFilter=~name name:ERRNO name:kill`); any other as an
//! allow-list, so numbers systemd does not know stay refused. Argument conditions cannot be
//! written: such a call is refused entirely when any of its outcomes refuses it, and the loss
//! report says so.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use moat_policy::{Action, Context, Policy};
use moat_syscalls::{self as sc, Arch};

use crate::error::ExportError;
use crate::export::{Exported, Loss, per_name, rank};

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
    let lowered = policy
        .lower(ctx)
        .map_err(|e| ExportError::Lower(e.to_string()))?;
    let Some(first) = lowered.abis.first() else {
        return Err(ExportError::Lower("the policy accepts no ABI".into()));
    };
    let (default, unknown) = (first.default, first.unknown);
    let mut losses = Vec::new();

    // One action per name: exact when the decision is unconditional and the same on every ABI,
    // else the most restrictive outcome.
    let mut verdicts: BTreeMap<&'static str, Action> = BTreeMap::new();
    for (name, abis) in per_name(&lowered) {
        let actions: std::collections::BTreeSet<Action> =
            abis.iter().flat_map(|(_, d)| d.actions()).collect();
        let worst = actions
            .iter()
            .copied()
            .max_by_key(|a| rank(*a))
            .unwrap_or(default);
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
        for (name, a) in &verdicts {
            if a.runs_call() {
                names.push((*name).to_string());
                if *a == Action::Log {
                    log.push(name);
                }
            } else if *a != refuse {
                losses.push(Loss(format!(
                    "{name}: gets `{refuse}` instead of `{a}` (an allow-list has one action for refused calls)"
                )));
            }
        }
        write_list(&mut out, "SystemCallFilter=", &names);
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

/// A drop-in read back: what systemd would do with each syscall name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unit {
    /// True when the first `SystemCallFilter=` is an allow-list.
    pub allow_list: bool,
    /// Listed names, with their per-call action (`None`: the common one).
    pub listed: BTreeMap<String, Option<String>>,
    /// `SystemCallErrorNumber=`.
    pub error_number: Option<String>,
    /// `SystemCallArchitectures=`.
    pub architectures: Vec<String>,
    /// `SystemCallLog=`.
    pub log: Vec<String>,
}

/// A drop-in line that could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct UnitError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl Unit {
    /// Parses a drop-in (only the settings moat writes; other `[Service]` keys are ignored).
    pub fn parse(text: &str) -> Result<Unit, UnitError> {
        let mut u = Unit::default();
        let mut mode: Option<bool> = None;
        let mut section = String::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                section = line.to_string();
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(UnitError {
                    line: i + 1,
                    message: format!("not a KEY=VALUE line: {line}"),
                });
            };
            if section != "[Service]" {
                return Err(UnitError {
                    line: i + 1,
                    message: format!("{key} outside [Service]"),
                });
            }
            match key {
                "SystemCallFilter" => {
                    let (deny, list) = match value.strip_prefix('~') {
                        Some(rest) => (true, rest),
                        None => (false, value),
                    };
                    let allow = *mode.get_or_insert(!deny);
                    u.allow_list = allow;
                    for item in list.split_whitespace() {
                        let (name, act) = match item.split_once(':') {
                            Some((n, a)) => (n, Some(a.to_string())),
                            None => (item, None),
                        };
                        if allow != deny {
                            u.listed.insert(name.to_string(), act);
                        } else {
                            u.listed.remove(name);
                        }
                    }
                }
                "SystemCallErrorNumber" => u.error_number = Some(value.to_string()),
                "SystemCallArchitectures" => {
                    u.architectures = value.split_whitespace().map(str::to_string).collect();
                }
                "SystemCallLog" => u.log.extend(value.split_whitespace().map(str::to_string)),
                _ => {}
            }
        }
        Ok(u)
    }

    fn refuse(&self, per_call: Option<&str>) -> Action {
        let text = per_call.or(self.error_number.as_deref());
        match text {
            None | Some("kill") => Action::KillProcess,
            Some(e) => e
                .parse::<u16>()
                .ok()
                .or_else(|| sc::errno(e))
                .map_or(Action::KillProcess, Action::Errno),
        }
    }

    /// What systemd does with a call to `name` (known to systemd).
    pub fn verdict(&self, name: &str) -> Action {
        let listed = self.listed.get(name);
        let runs = if self.log.iter().any(|l| l == name) {
            Action::Log
        } else {
            Action::Allow
        };
        match (self.allow_list, listed) {
            (true, Some(_)) | (false, None) => runs,
            (true, None) => self.refuse(None),
            (false, Some(a)) => self.refuse(a.as_deref()),
        }
    }
}
