//! `moat run`: run a program under a policy (seccomp + Landlock), report what the policy
//! stopped, or with `--audit` what it would have stopped.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use moat::bpf::consts::{
    SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_LOG, SECCOMP_RET_TRAP,
};
use moat::policy::{Policy, Source};
use moat::sandbox::{self, Sandbox};
use moat::sys::exec::{self, Confinement, Exit, SpawnError, Stage};
use moat::sys::landlock::Ruleset;
use moat::sys::{Flags, audit};
use moat::syscalls::Arch;

/// Run a program under a policy: seccomp filter and Landlock rules, inherited by every thread,
/// child and exec'd program. The exit status is the program's (128+N when signal N killed it).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A built-in profile (default: container).
    #[arg(long, value_name = "NAME", conflicts_with = "policy")]
    profile: Option<String>,
    /// A policy file.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// A statement appended after the profile or file (repeatable): `-e 'allow bpf'`.
    #[arg(short = 'e', value_name = "STATEMENT")]
    statements: Vec<String>,
    /// Stop nothing: log every call the policy would refuse and list them when the program
    /// exits, with counts and deciding lines. Landlock statements are not applied.
    #[arg(long)]
    audit: bool,
    /// Also write what the policy refused (or with --audit would have refused) as JSON to FILE
    /// when the program exits: the command, its exit status, and per call the ABI, syscall,
    /// action, count and deciding line. FILE is checked before the program starts.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// The program and its arguments (after `--`).
    #[arg(
        value_name = "CMD",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    command: Vec<OsString>,
}

/// The policy the arguments describe: the profile or file (any format `moat::input` reads),
/// then the `-e` statements, each keeping its own origin (`-e:1` is the first `-e`).
fn policy(args: &Args) -> anyhow::Result<Policy> {
    let base = match (&args.policy, &args.profile) {
        (Some(path), _) => {
            let shown = path.display().to_string();
            // --policy always names a file, even one called like a built-in profile.
            let loaded = super::input(&moat::input::file_spec(path), None)?.into_policy("run")?;
            if args.statements.is_empty() {
                return Ok(loaded.policy);
            }
            Source::Text {
                origin: shown,
                text: loaded.text,
                dir: path.parent().map(PathBuf::from).unwrap_or_default(),
            }
        }
        (None, profile) => {
            let name = profile.as_deref().unwrap_or("container");
            let Some(p) = Policy::builtin(name) else {
                let known: Vec<&str> = moat::policy::builtins().iter().map(|b| b.name).collect();
                bail!(
                    "unknown profile \"{name}\" (built-ins: {}; use --policy FILE for a file)",
                    known.join(", ")
                );
            };
            if args.statements.is_empty() {
                return Ok(p?);
            }
            Source::Builtin(name.to_string())
        }
    };
    Ok(Policy::compose(&[
        base,
        Source::Statements {
            origin: "-e".into(),
            statements: args.statements.clone(),
        },
    ])?)
}

/// One kind of record: ABI, number, action code.
type Key = (u32, u32, u32);

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let policy = policy(&args)?;
    let sandbox = Sandbox::new(policy)?;
    // The report's file is checked before the program runs: a run is not repeated for it.
    let report = args
        .report
        .as_deref()
        .map(|p| moat::io::Output::from_arg(p).with_context(|| format!("--report {}", p.display())))
        .transpose()?;
    let name = args.command[0].clone();
    let shown = name.to_string_lossy().into_owned();
    let Some(path) = exec::resolve(&name) else {
        eprintln!("moat: {shown}: command not found");
        return Ok(ExitCode::from(127));
    };
    let socket = audit::Socket::open();
    if args.audit {
        if let Err(e) = &socket {
            bail!(
                "--audit needs the kernel's audit log, which is not readable here ({e}); run as root (CAP_AUDIT_READ)"
            );
        }
        if !sandbox.ruleset().is_empty() {
            eprintln!("moat: --audit: landlock statements are not applied");
        }
    }
    let program = if args.audit {
        sandbox::audit_program(sandbox.program())
    } else {
        sandbox.program().clone()
    };
    // With the audit log readable, FLAG_LOG makes the kernel also log trap (and errno) verdicts.
    let flags = if socket.is_ok() && !args.audit {
        Flags::LOG
    } else {
        Flags::NONE
    };
    // Always a Landlock domain (best effort): it fences the unconfined supervisor, this
    // process, off from the program (`/proc/<moat>/mem`, ptrace) and scopes the program's
    // signals to the sandbox. `--audit` applies no Landlock statement but keeps the fence.
    let mut ruleset = if args.audit {
        Ruleset::new()
    } else {
        sandbox.ruleset().clone()
    };
    ruleset.isolate();
    let prepared = ruleset.prepare(sandbox.compat())?;
    for w in prepared.warnings() {
        eprintln!("moat: warning: {w}");
    }
    let argv: Vec<&std::ffi::OsStr> = args.command.iter().map(OsString::as_os_str).collect();
    let conf = Confinement {
        filter: Some((&program, flags)),
        landlock: Some(&prepared).filter(|p| p.is_active()),
        audit_session: socket.is_ok(),
    };
    let child = match exec::spawn(&path, &argv, &conf) {
        Ok(c) => c,
        Err(SpawnError::Child {
            stage: Stage::Exec,
            error,
        }) => {
            eprintln!("moat: {shown}: cannot execute under the policy: {error}");
            let code = if error.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            return Ok(ExitCode::from(code));
        }
        Err(e) => return Err(anyhow!(e).context(format!("{shown} not started"))),
    };
    let mut seen: BTreeMap<Key, u64> = BTreeMap::new();
    // 150 ms only bounds the wait where the kernel delivers no end-of-run marker (see
    // `Child::wait`); normally the supervisor exits as soon as the marker arrives.
    let exit = child.wait(socket.as_ref().ok(), Duration::from_millis(150), |r| {
        *seen.entry((r.arch, r.syscall, r.code)).or_default() += 1;
    })?;
    let rows = rows(&sandbox, &seen, args.audit);
    let mut err = std::io::stderr().lock();
    if args.audit {
        report_audit(&mut err, &rows)?;
    } else {
        report_denials(&mut err, &rows)?;
        if exit == Exit::Signal(libc_sigsys()) && !seen.keys().any(|k| is_kill_or_trap(k.2)) {
            match &socket {
                Err(e) => writeln!(
                    err,
                    "moat: {shown} was killed by SIGSYS (a seccomp kill or trap); the audit log that names the syscall is not readable ({e}): run as root (CAP_AUDIT_READ) to see it"
                )?,
                Ok(_) => writeln!(
                    err,
                    "moat: {shown} was killed by SIGSYS, but the kernel logged no seccomp record for it (see /proc/sys/kernel/seccomp/actions_logged)"
                )?,
            }
        }
    }
    let status = exit.shell_status();
    if let Some(report) = report {
        let json = json_report(&args, &rows, status, socket.is_ok());
        report.write(format!("{}\n", serde_json::to_string_pretty(&json)?).as_bytes())?;
    }
    Ok(ExitCode::from(u8::try_from(status).unwrap_or(u8::MAX)))
}

/// The `--report` JSON: `{"command", "mode", "exit_status", "audit_log_readable", "calls":
/// [{"arch", "syscall", "nr", "action", "count", "decided_by"}]}`, the rows of the text report
/// ([`rows`]).
fn json_report(args: &Args, rows: &[Row], status: i32, readable: bool) -> serde_json::Value {
    let calls: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let a = Arch::of(r.arch, r.nr);
            serde_json::json!({
                "arch": a.map_or_else(|| format!("{:#x}", r.arch), |a| a.to_string()),
                "syscall": a.and_then(|a| a.by_nr(r.nr)).map(|s| s.name),
                "nr": r.nr,
                "action": r.action,
                "count": r.count,
                "decided_by": r.decided,
            })
        })
        .collect();
    let command: Vec<String> = args
        .command
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    serde_json::json!({
        "command": command,
        "mode": if args.audit { "audit" } else { "enforce" },
        "exit_status": status,
        "audit_log_readable": readable,
        "calls": calls,
    })
}

/// SIGSYS on Linux (31 on x86, arm, riscv, ...; the only value on the ABIs moat runs on).
fn libc_sigsys() -> i32 {
    31
}

fn is_kill_or_trap(code: u32) -> bool {
    matches!(
        code,
        SECCOMP_RET_KILL_PROCESS | SECCOMP_RET_KILL_THREAD | SECCOMP_RET_TRAP
    )
}

fn call_name(arch: u32, nr: u32) -> String {
    match Arch::of(arch, nr) {
        Some(a) => match a.by_nr(nr) {
            Some(s) => format!("{a} {}", s.name),
            None => format!("{a} syscall {nr:#x}"),
        },
        None => format!("arch {arch:#x} syscall {nr:#x}"),
    }
}

fn times(n: u64) -> String {
    if n == 1 {
        "1 call".into()
    } else {
        format!("{n} calls")
    }
}

/// What the kernel did, per the record's action code.
fn what(code: u32) -> Option<&'static str> {
    match code {
        SECCOMP_RET_KILL_PROCESS => Some("killed the process"),
        SECCOMP_RET_KILL_THREAD => Some("killed the thread"),
        SECCOMP_RET_TRAP => Some("trapped (SIGSYS)"),
        SECCOMP_RET_LOG => Some("logged"),
        _ => None,
    }
}

fn decided(sandbox: &Sandbox, arch: u32, nr: u32, code: Option<u32>) -> String {
    let policy = sandbox.policy();
    let mut v = sandbox.deciders(arch, nr);
    if let Some(code) = code {
        let same: Vec<_> = v
            .iter()
            .copied()
            .filter(|x| x.action.to_ret() & 0xffff_0000 == code)
            .collect();
        if !same.is_empty() {
            v = same;
        }
    }
    match v.as_slice() {
        [] => "no rule refuses it (the policy allows it)".into(),
        [one] => policy.describe(one),
        many => {
            let parts: Vec<String> = many.iter().map(|x| policy.describe(x)).collect();
            format!(
                "depending on the arguments, one of: {}",
                parts.join("; or ")
            )
        }
    }
}

/// One line of the report: a distinct call, what happened to it, how often, and the policy
/// line(s) that decided it.
struct Row {
    arch: u32,
    nr: u32,
    /// In enforcing mode what the kernel did (`killed the process`); under `--audit` what the
    /// policy says (`deny`, or several joined by ` | ` when the arguments decide).
    action: String,
    count: u64,
    decided: String,
}

/// The report's rows. Enforcing: one per (call, logged action), for the actions the kernel logs
/// (kill, trap, log). `--audit`: one per call, the most frequent first.
fn rows(sandbox: &Sandbox, seen: &BTreeMap<Key, u64>, audit: bool) -> Vec<Row> {
    if !audit {
        return seen
            .iter()
            .filter_map(|(&(arch, nr, code), &count)| {
                Some(Row {
                    arch,
                    nr,
                    action: what(code)?.to_string(),
                    count,
                    decided: decided(sandbox, arch, nr, Some(code)),
                })
            })
            .collect();
    }
    let mut calls: BTreeMap<(u32, u32), u64> = BTreeMap::new();
    for (&(arch, nr, _), &n) in seen {
        *calls.entry((arch, nr)).or_default() += n;
    }
    let mut calls: Vec<_> = calls.into_iter().collect();
    calls.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    calls
        .into_iter()
        .map(|((arch, nr), count)| {
            let actions: Vec<String> = sandbox
                .deciders(arch, nr)
                .iter()
                .map(|v| v.action.to_string())
                .collect();
            Row {
                arch,
                nr,
                action: actions.join(" | "),
                count,
                decided: decided(sandbox, arch, nr, None),
            }
        })
        .collect()
}

fn report_denials(out: &mut impl std::io::Write, rows: &[Row]) -> anyhow::Result<()> {
    for r in rows {
        writeln!(
            out,
            "moat: {} {} ({}): {}",
            call_name(r.arch, r.nr),
            r.action,
            times(r.count),
            r.decided
        )?;
    }
    Ok(())
}

fn report_audit(out: &mut impl std::io::Write, rows: &[Row]) -> anyhow::Result<()> {
    if rows.is_empty() {
        writeln!(out, "moat: --audit: the policy would have refused no call")?;
        return Ok(());
    }
    writeln!(
        out,
        "moat: --audit: {} distinct call(s) the policy would refuse:",
        rows.len()
    )?;
    for r in rows {
        writeln!(
            out,
            "  {} ({}): {}",
            call_name(r.arch, r.nr),
            times(r.count),
            r.decided
        )?;
    }
    Ok(())
}
