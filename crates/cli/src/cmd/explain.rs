//! `moat explain`: a policy's text, then what it does to every group and syscall per ABI, with the
//! line that decides.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use moat::policy::{AbiEntry, CapSet, Context, Decider, Explanation, Policy, SyscallEntry};
use moat::syscalls::{self as sc, Arch, KernelVersion};
use serde_json::{Value, json};

/// Explain a policy: its text, then per group and syscall the verdict on each ABI and the line
/// that decides it.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A built-in profile (`moat profiles` lists them) or a policy file.
    #[arg(value_name = "PROFILE|FILE")]
    policy: String,
    /// Only these ABIs (repeatable); default: every ABI the policy accepts.
    #[arg(long, value_name = "ABI")]
    arch: Vec<String>,
    /// Only this syscall, in detail.
    #[arg(long, value_name = "NAME")]
    syscall: Option<String>,
    #[command(flatten)]
    guards: Guards,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Also write a self-contained HTML page (colour grid of groups × ABIs, per-syscall detail,
    /// cache coverage and cost) to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

/// `--cap` and `--kernel`: what `when cap` and `when kernel` guards are resolved against, shared
/// by the commands that evaluate or compile a policy.
#[derive(Debug, clap::Args)]
pub(crate) struct Guards {
    /// Capabilities the confined process holds, for `when cap` guards (repeatable or
    /// comma-separated); default: none.
    #[arg(
        long = "cap",
        alias = "caps",
        value_name = "CAP",
        value_delimiter = ','
    )]
    caps: Vec<String>,
    /// Kernel the filter is for, for `when kernel` guards (e.g. 5.10); default: new enough for
    /// every guard.
    #[arg(long, value_name = "X.Y")]
    kernel: Option<String>,
}

impl Guards {
    /// The guard context these options describe.
    pub(crate) fn context(&self) -> anyhow::Result<Context> {
        context(&self.caps, self.kernel.as_deref())
    }
}

/// The guard context from `--cap` and `--kernel`.
fn context(caps: &[String], kernel: Option<&str>) -> anyhow::Result<Context> {
    let mut set = None;
    for c in caps {
        let upper = c.to_ascii_uppercase();
        let n = sc::capability(&upper).with_context(|| format!("unknown capability \"{c}\""))?;
        set.get_or_insert(CapSet::EMPTY).insert(n);
    }
    let kernel = match kernel {
        Some(k) => Some(
            k.parse::<KernelVersion>()
                .map_err(|e| anyhow::anyhow!("--kernel {k}: {e}"))?,
        ),
        None => None,
    };
    Ok(Context { caps: set, kernel })
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let html_out = args
        .html
        .as_deref()
        .map(moat::io::Output::from_arg)
        .transpose()?;
    let policy = super::policy(&args.policy, "explain")?;
    let ctx = args.guards.context()?;
    let mut selected = Vec::new();
    for a in &args.arch {
        let arch: Arch = a.parse().map_err(|e| anyhow::anyhow!("--arch {a}: {e}"))?;
        selected.push(arch);
    }
    let mut exp = policy.explain(&ctx)?;
    let refused: Vec<Arch> = selected
        .iter()
        .copied()
        .filter(|a| !exp.arches.contains(a))
        .collect();
    if !selected.is_empty() {
        narrow(&mut exp, &selected);
    }
    if let Some(name) = &args.syscall {
        if !sc::is_known(name) {
            let hint = sc::suggest(name)
                .map(|s| format!(" (did you mean \"{s}\"?)"))
                .unwrap_or_default();
            bail!("unknown syscall \"{name}\"{hint}");
        }
        exp.syscalls.retain(|s| s.name == name);
    }
    // Cache coverage and cost from the compiler (moat-analyze); absent when it cannot compile.
    let costs = moat::analyze::explain::costs(&policy, &ctx).ok();
    if let Some(html_out) = html_out {
        let page = moat::analyze::explain::html(&policy, &exp, costs.as_ref());
        html_out.write(page.as_bytes())?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        Format::Text => {
            text(&mut out, &policy, &exp, &refused, args.syscall.is_some())?;
            if let Some(c) = &costs {
                cache_text(&mut out, &exp, c, args.syscall.as_deref())?;
            }
        }
        Format::Json => {
            let mut v = to_json(&policy, &exp, &refused);
            if let Some(c) = &costs {
                v["cache"] = cache_json(&exp, c);
            }
            let text = serde_json::to_string_pretty(&v).context("encoding JSON")?;
            writeln!(out, "{text}")?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The constant-allow cache coverage and cost per ABI (or for one syscall).
fn cache_text(
    out: &mut impl std::io::Write,
    exp: &Explanation,
    c: &moat::analyze::explain::Costs,
    syscall: Option<&str>,
) -> anyhow::Result<()> {
    use moat::analyze::explain::Cost;
    writeln!(out, "\ncache and cost (compiled: {} instructions)", c.len)?;
    for a in &exp.arches {
        if let Some(name) = syscall {
            let what = match c.get(*a, name) {
                Some(Cost::Cached) => {
                    "served by the kernel's constant-allow cache (the filter does not run)"
                        .to_string()
                }
                Some(Cost::Filtered {
                    mean,
                    worst,
                    checks_args,
                }) => format!(
                    "the filter runs: {mean:.1} instructions on average, at most {worst}{}",
                    if checks_args {
                        ", argument checks included"
                    } else {
                        ""
                    }
                ),
                None => "not reported".to_string(),
            };
            writeln!(out, "  {a}: {what}")?;
            continue;
        }
        let (cached, filtered) = c.counts(*a);
        writeln!(
            out,
            "  {a}: {cached} syscalls served by the constant-allow cache, {filtered} run the filter"
        )?;
    }
    Ok(())
}

fn cache_json(exp: &Explanation, c: &moat::analyze::explain::Costs) -> Value {
    use moat::analyze::explain::Cost;
    let mut abis = serde_json::Map::new();
    for a in &exp.arches {
        let mut m = serde_json::Map::new();
        for s in &exp.syscalls {
            if let Some(cost) = c.get(*a, s.name) {
                let v = match cost {
                    Cost::Cached => json!({"cached": true}),
                    Cost::Filtered {
                        mean,
                        worst,
                        checks_args,
                    } => json!({
                        "cached": false, "mean": mean, "worst": worst, "checks_args": checks_args,
                    }),
                };
                m.insert(s.name.to_string(), v);
            }
        }
        abis.insert(a.to_string(), Value::Object(m));
    }
    json!({"instructions": c.len, "abis": abis})
}

fn narrow(exp: &mut Explanation, selected: &[Arch]) {
    exp.arches.retain(|a| selected.contains(a));
    for s in &mut exp.syscalls {
        s.abis.retain(|(a, _)| selected.contains(a));
    }
    exp.syscalls
        .retain(|s| s.abis.iter().any(|(_, e)| *e != AbiEntry::Absent));
}

fn setting_line(what: &str, s: &moat::policy::Setting) -> String {
    let at = s
        .location
        .as_ref()
        .map_or_else(|| "built-in".to_string(), ToString::to_string);
    format!("# {what}: {} ({at})", s.action)
}

/// One line for a syscall: ABIs with the same verdict share it.
fn summary(policy: &Policy, s: &SyscallEntry) -> String {
    let mut groups: Vec<(Vec<Arch>, String)> = Vec::new();
    for (arch, e) in &s.abis {
        if *e == AbiEntry::Absent {
            continue;
        }
        let d = policy.describe_entry(e);
        match groups.iter_mut().find(|(_, t)| *t == d) {
            Some((arches, _)) => arches.push(*arch),
            None => groups.push((vec![*arch], d)),
        }
    }
    let all = s.abis.iter().all(|(_, e)| *e != AbiEntry::Absent);
    if groups.len() == 1 && all {
        return groups.remove(0).1;
    }
    groups
        .into_iter()
        .map(|(arches, d)| {
            format!(
                "{}: {d}",
                arches
                    .iter()
                    .map(|a| a.name())
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        })
        .collect::<Vec<_>>()
        .join("  |  ")
}

fn text(
    out: &mut impl std::io::Write,
    policy: &Policy,
    exp: &Explanation,
    refused: &[Arch],
    detailed: bool,
) -> anyhow::Result<()> {
    if !detailed {
        write!(out, "{}", policy.source())?;
        if !policy.source().ends_with('\n') {
            writeln!(out)?;
        }
        writeln!(out)?;
    }
    let names: Vec<&str> = exp.arches.iter().map(|a| a.name()).collect();
    writeln!(
        out,
        "# expansion for {} on {}",
        policy.origin(),
        names.join(" ")
    )?;
    writeln!(out, "{}", setting_line("default", policy.default_action()))?;
    writeln!(
        out,
        "{}",
        setting_line("unknown numbers", policy.unknown_action())
    )?;
    writeln!(
        out,
        "{}",
        setting_line("other ABIs (badarch)", policy.badarch_action())
    )?;
    if let Some(k) = policy.kernel() {
        writeln!(
            out,
            "# syscalls newer than kernel {k} not named by a rule: unknown"
        )?;
    }
    for a in refused {
        writeln!(
            out,
            "# {a}: not accepted; every call gets badarch: {}",
            policy.badarch_action().action
        )?;
    }
    for line in policy.landlock().describe() {
        writeln!(out, "# {line}")?;
    }
    if detailed {
        for s in &exp.syscalls {
            writeln!(out, "\n{}", s.name)?;
            for (arch, e) in &s.abis {
                match e {
                    AbiEntry::Absent => writeln!(out, "  {arch}: absent")?,
                    AbiEntry::Unknown { nr } | AbiEntry::Known { nr, .. } => {
                        writeln!(out, "  {arch} (nr {nr}): {}", policy.describe_entry(e))?;
                    }
                }
                if let AbiEntry::Known {
                    branches,
                    otherwise,
                    ..
                } = e
                {
                    let mut rules: Vec<usize> = branches.iter().map(|b| b.rule).collect();
                    if let Decider::Rule { index, .. } = otherwise {
                        rules.push(*index);
                    }
                    rules.sort_unstable();
                    rules.dedup();
                    for i in rules {
                        let r = &policy.rules()[i];
                        let reason = r
                            .reason
                            .as_ref()
                            .map(|x| format!("  # {x}"))
                            .unwrap_or_default();
                        writeln!(out, "      {}: {r}{reason}", r.location)?;
                    }
                    for b in branches {
                        if let Some(via) = &b.via {
                            writeln!(
                                out,
                                "      note ({}): {via}",
                                policy.rules()[b.rule].location
                            )?;
                        }
                    }
                }
            }
        }
        return Ok(());
    }
    let width = exp
        .syscalls
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(0)
        .max(8);
    let present: BTreeSet<&str> = exp.syscalls.iter().map(|s| s.name).collect();
    let mut grouped = BTreeSet::new();
    for g in sc::groups() {
        let members: Vec<&'static str> = sc::expand_group(g.name)
            .unwrap_or_default()
            .into_iter()
            .filter(|m| present.contains(m))
            .collect();
        if members.is_empty() {
            continue;
        }
        writeln!(out, "\n@{}: {}", g.name, g.description)?;
        for m in members {
            grouped.insert(m);
            if let Some(s) = exp.syscalls.iter().find(|s| s.name == m) {
                writeln!(out, "  {:width$}  {}", s.name, summary(policy, s))?;
            }
        }
    }
    let others: Vec<&SyscallEntry> = exp
        .syscalls
        .iter()
        .filter(|s| !grouped.contains(s.name))
        .collect();
    if !others.is_empty() {
        writeln!(out, "\nin no group:")?;
        for s in others {
            writeln!(out, "  {:width$}  {}", s.name, summary(policy, s))?;
        }
    }
    Ok(())
}

fn decider_json(policy: &Policy, d: Decider) -> Value {
    let at = policy.decider_location(d).map(|l| l.to_string());
    match d {
        Decider::Rule { index, .. } => json!({"by": "rule", "rule": index, "at": at}),
        Decider::Default => json!({"by": "default", "at": at}),
        Decider::Unknown => json!({"by": "unknown", "at": at}),
        Decider::BadArch => json!({"by": "badarch", "at": at}),
    }
}

fn to_json(policy: &Policy, exp: &Explanation, refused: &[Arch]) -> Value {
    let setting = |s: &moat::policy::Setting| json!({"action": s.action.to_string(), "at": s.location.as_ref().map(ToString::to_string)});
    let rules: Vec<Value> = policy
        .rules()
        .iter()
        .map(|r| json!({"text": r.to_string(), "action": r.action.to_string(), "at": r.location.to_string(), "reason": r.reason}))
        .collect();
    let syscalls: Vec<Value> = exp
        .syscalls
        .iter()
        .map(|s| {
            let abis: Vec<Value> = s
                .abis
                .iter()
                .map(|(arch, e)| match e {
                    AbiEntry::Absent => json!({"arch": arch.name(), "absent": true}),
                    AbiEntry::Unknown { nr } => json!({
                        "arch": arch.name(), "nr": nr, "verdict": policy.describe_entry(e),
                        "otherwise": {"action": policy.unknown_action().action.to_string(), "by": "unknown"},
                        "branches": [],
                    }),
                    AbiEntry::Known { nr, branches, otherwise } => {
                        let action = match otherwise {
                            Decider::Rule { index, .. } => policy.rules()[*index].action,
                            _ => policy.default_action().action,
                        };
                        let mut other = decider_json(policy, *otherwise);
                        other["action"] = json!(action.to_string());
                        json!({
                            "arch": arch.name(),
                            "nr": nr,
                            "verdict": policy.describe_entry(e),
                            "branches": branches.iter().map(|b| json!({
                                "rule": b.rule,
                                "action": b.action.to_string(),
                                "condition": b.condition,
                                "via": b.via,
                                "at": policy.rules()[b.rule].location.to_string(),
                            })).collect::<Vec<_>>(),
                            "otherwise": other,
                        })
                    }
                })
                .collect();
            json!({"name": s.name, "abis": abis})
        })
        .collect();
    let present: BTreeSet<&str> = exp.syscalls.iter().map(|s| s.name).collect();
    let groups: Vec<Value> = sc::groups()
        .iter()
        .filter_map(|g| {
            let members: Vec<&str> = sc::expand_group(g.name)
                .unwrap_or_default()
                .into_iter()
                .filter(|m| present.contains(m))
                .collect();
            (!members.is_empty())
                .then(|| json!({"name": g.name, "description": g.description, "members": members}))
        })
        .collect();
    json!({
        "policy": policy.origin(),
        "source": policy.source(),
        "arches": exp.arches.iter().map(|a| a.name()).collect::<Vec<_>>(),
        "refused_arches": refused.iter().map(|a| a.name()).collect::<Vec<_>>(),
        "default": setting(policy.default_action()),
        "unknown": setting(policy.unknown_action()),
        "badarch": setting(policy.badarch_action()),
        "kernel": policy.kernel().map(|k| k.to_string()),
        "rules": rules,
        "landlock": policy.landlock().describe(),
        "groups": groups,
        "syscalls": syscalls,
    })
}
