//! Docker/OCI seccomp → moat text.
//!
//! The translation keeps libseccomp's meaning (as runc applies a profile) under moat's "last
//! matching rule wins":
//! - an entry with no argument condition overrides every conditional entry for the same syscall
//!   (libseccomp drops conditional rules of a syscall that has an unconditional one), so
//!   conditional entries are written first, unconditional ones after them;
//! - an entry's comparisons are ANDed, unless two of them test the same argument index: runc then
//!   adds one rule per comparison, so they are ORed;
//! - `SCMP_CMP_MASKED_EQ` takes the mask from `value` and compares with `valueTwo & mask`;
//! - a moat rule on a name also covers the name's twins (`setuid` covers `setuid32`); a twin the
//!   profile does not list with its base name is set back to what the profile says for it, at
//!   the end;
//! - `includes`/`excludes` become `when` guards (Docker compares `arches` with the host's
//!   architecture, so `amd64` stands for every ABI an x86-64 host's filter accepts: x86_64, x86,
//!   x32);
//! - a profile whose default refuses calls and that allows most calls unconditionally is written
//!   the other way round, as `default allow` plus the refused calls (groups where they fit), which
//!   is shorter and reads as a policy.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use moat_policy::model::compat_of;
use moat_policy::{Action, CapSet, Policy};
use moat_syscalls::{self as sc, Arch};

use crate::error::{Error, JsonPath};
use crate::seccomp::{Entry, ScmpAction, ScmpOp, Seccomp};

/// The OCI runtime whose reading of a profile an import reproduces, where runtimes differ.
///
/// runc, crun and youki all build the filter with libseccomp and agree on: names libseccomp
/// cannot resolve are skipped, a rule whose action equals the default is skipped, two
/// comparisons of one argument index become one rule each (ORed), `SCMP_ACT_KILL` is
/// kill-thread, the native ABI is always in the filter. They differ on:
/// - `errnoRet`/`defaultErrnoRet` with an action that carries no errno (`SCMP_ACT_KILL` with
///   `errnoRet: 1`): runc and youki ignore it, crun refuses the profile;
/// - numbers above the profile's largest: runc answers them `ENOSYS` (its `patchbpf` stub, when
///   the default action is not allow, log or trace); crun and youki give them the default
///   action. moat's import gives them the default action (`unknown` in the text) for every
///   runtime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Runtime {
    /// runc (`libcontainer/seccomp`), the default.
    #[default]
    Runc,
    /// crun (`src/libcrun/seccomp.c`).
    Crun,
    /// youki (`libcontainer/src/seccomp`).
    Youki,
}

impl Runtime {
    /// The runtime's command name.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Runc => "runc",
            Runtime::Crun => "crun",
            Runtime::Youki => "youki",
        }
    }
}

impl std::str::FromStr for Runtime {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "runc" => Ok(Runtime::Runc),
            "crun" => Ok(Runtime::Crun),
            "youki" => Ok(Runtime::Youki),
            _ => Err(format!(
                "unknown runtime \"{s}\" (expected runc, crun or youki)"
            )),
        }
    }
}

/// How to import.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Skip syscall names nobody knows, with a warning; by default they are an error. Names
    /// libseccomp knows only on ABIs moat has no table for (`syscall`, `cachectl`: mips) are
    /// always skipped with a note, as the runtimes skip them.
    pub allow_unknown_names: bool,
    /// The runtime whose reading is reproduced where runtimes differ.
    pub runtime: Runtime,
    /// Which `SeccompProfile` of a file with several (`metadata.name`); `FILE#name` sets it.
    pub profile: Option<String>,
    /// The host whose `archMap` entry gives the accepted ABIs (default: the native ABI).
    pub host: Option<Arch>,
    /// Accept exactly these ABIs instead of the profile's `architectures`/`archMap`.
    pub arches: Option<Vec<Arch>>,
    /// Resolve capability guards now, for a process holding these capabilities (an OCI
    /// `config.json`'s `process.capabilities.bounding`); `None` keeps them as `when cap` guards.
    pub caps: Option<CapSet>,
}

/// What the importer made of a profile.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The moat text.
    pub text: String,
    /// The parsed policy.
    pub policy: Policy,
    /// What was skipped or adjusted, one line each.
    pub warnings: Vec<String>,
}

/// The moat action for a profile action and its `errnoRet`.
pub fn action(
    a: ScmpAction,
    errno_ret: Option<u32>,
    origin: &str,
    path: &JsonPath,
    field: &str,
) -> Result<Action, Error> {
    let data = |max: u32, why: &str| -> Result<u16, Error> {
        let v = errno_ret.unwrap_or(1);
        if v > max {
            return Err(Error::input(
                origin,
                &path.key(field),
                format!("{v} is above {max}{why}"),
            ));
        }
        u16::try_from(v)
            .map_err(|_| Error::input(origin, &path.key(field), format!("{v} is too big")))
    };
    Ok(match a {
        ScmpAction::Kill | ScmpAction::KillThread => Action::KillThread,
        ScmpAction::KillProcess => Action::KillProcess,
        ScmpAction::Trap => Action::Trap(0),
        // libseccomp (`sys_chk_seccomp_action`) accepts SCMP_ACT_ERRNO data below MAX_ERRNO
        // (4095) only; every runtime then refuses the profile.
        ScmpAction::Errno => Action::Errno(data(
            u32::from(moat_policy::MAX_ERRNO) - 1,
            ": libseccomp refuses errno values from 4095 (MAX_ERRNO) on",
        )?),
        ScmpAction::Trace => Action::Trace(data(u32::from(u16::MAX), "")?),
        ScmpAction::Allow => Action::Allow,
        ScmpAction::Log => Action::Log,
        ScmpAction::Notify => Action::Notify,
    })
}

/// The moat ABI for an `SCMP_ARCH_*` token, if moat supports it.
pub fn scmp_arch(token: &str) -> Option<Arch> {
    Some(match token {
        "SCMP_ARCH_X86_64" => Arch::X86_64,
        "SCMP_ARCH_X86" => Arch::X86,
        "SCMP_ARCH_X32" => Arch::X32,
        "SCMP_ARCH_AARCH64" => Arch::Aarch64,
        "SCMP_ARCH_ARM" => Arch::Arm,
        "SCMP_ARCH_RISCV64" => Arch::Riscv64,
        "SCMP_ARCH_PPC64LE" => Arch::Ppc64le,
        "SCMP_ARCH_S390X" => Arch::S390x,
        "SCMP_ARCH_LOONGARCH64" => Arch::Loongarch64,
        _ => return None,
    })
}

/// The `SCMP_ARCH_*` token of a moat ABI.
pub fn arch_token(a: Arch) -> &'static str {
    match a {
        Arch::X86_64 => "SCMP_ARCH_X86_64",
        Arch::X86 => "SCMP_ARCH_X86",
        Arch::X32 => "SCMP_ARCH_X32",
        Arch::Aarch64 => "SCMP_ARCH_AARCH64",
        Arch::Arm => "SCMP_ARCH_ARM",
        Arch::Riscv64 => "SCMP_ARCH_RISCV64",
        Arch::Ppc64le => "SCMP_ARCH_PPC64LE",
        Arch::S390x => "SCMP_ARCH_S390X",
        Arch::Loongarch64 => "SCMP_ARCH_LOONGARCH64",
    }
}

/// The ABIs a Docker host architecture's filter accepts (moby's default `archMap`), for
/// `includes.arches`/`excludes.arches`.
fn docker_host_abis(name: &str) -> &'static [Arch] {
    match name {
        "amd64" => &[Arch::X86_64, Arch::X86, Arch::X32],
        "arm64" => &[Arch::Aarch64, Arch::Arm],
        "x86" | "386" => &[Arch::X86],
        "x32" => &[Arch::X32],
        "arm" => &[Arch::Arm],
        "riscv64" => &[Arch::Riscv64],
        "ppc64le" => &[Arch::Ppc64le],
        "s390x" => &[Arch::S390x],
        "loong64" => &[Arch::Loongarch64],
        _ => &[],
    }
}

/// One rule to write: targets, condition and guard text, action, reason, and where it came from.
#[derive(Clone, Debug)]
struct Line {
    action: Action,
    names: Vec<String>,
    cond: Option<String>,
    guard: Option<String>,
    reason: Option<String>,
    path: JsonPath,
}

/// Translates a profile into moat text and parses it.
pub fn import(
    s: &Seccomp,
    origin: &str,
    root: &JsonPath,
    opts: &Options,
) -> Result<Imported, Error> {
    let mut warnings = Vec::new();
    if opts.runtime == Runtime::Crun
        && s.default_errno_ret.is_some()
        && !matches!(s.default_action, ScmpAction::Errno | ScmpAction::Trace)
    {
        return Err(Error::input(
            origin,
            &root.key("defaultErrnoRet"),
            format!(
                "crun refuses an errno value for {}",
                s.default_action.token()
            ),
        ));
    }
    let default = action(
        s.default_action,
        s.default_errno_ret,
        origin,
        root,
        "defaultErrnoRet",
    )?;

    // Accepted ABIs.
    let host = opts.host.unwrap_or_else(Arch::native);
    let arches: Vec<Arch> = if let Some(a) = &opts.arches {
        a.clone()
    } else if !s.architectures.is_empty() {
        let mut v = Vec::new();
        for (i, t) in s.architectures.iter().enumerate() {
            match scmp_arch(t) {
                Some(a) if !v.contains(&a) => v.push(a),
                Some(_) => {}
                None => {
                    return Err(Error::input(
                        origin,
                        &root.key("architectures").index(i),
                        format!("architecture \"{t}\" is not supported by moat"),
                    ));
                }
            }
        }
        // The runtimes start from libseccomp's filter, which holds the native ABI, and only add
        // the listed ones (runc `InitSeccomp`, crun, youki): the native ABI is always accepted.
        if !v.contains(&host) {
            warnings.push(format!(
                "{origin}: {}: {} is accepted too: libseccomp always keeps the native ABI in the filter",
                root.key("architectures"),
                host.name()
            ));
            v.insert(0, host);
        }
        v
    } else if !s.arch_map.is_empty() {
        let mut v = vec![host];
        if let Some((i, e)) = s
            .arch_map
            .iter()
            .enumerate()
            .find(|(_, e)| scmp_arch(&e.architecture) == Some(host))
        {
            for (j, t) in e.sub_architectures.iter().enumerate() {
                match scmp_arch(t) {
                    Some(a) if !v.contains(&a) => v.push(a),
                    Some(_) => {}
                    None => {
                        return Err(Error::input(
                            origin,
                            &root
                                .key("archMap")
                                .index(i)
                                .key("subArchitectures")
                                .index(j),
                            format!("architecture \"{t}\" is not supported by moat"),
                        ));
                    }
                }
            }
        }
        v
    } else {
        vec![host]
    };

    // Entries → lines.
    let mut conditional = Vec::new();
    let mut unconditional = Vec::new();
    for (i, e) in s.syscalls.iter().enumerate() {
        let path = e
            .path
            .clone()
            .unwrap_or_else(|| root.key("syscalls").index(i));
        let Some(line) = entry_line(e, &path, origin, &arches, opts, default, &mut warnings)?
        else {
            continue;
        };
        if line.cond.is_some() {
            conditional.push(line);
        } else {
            unconditional.push(line);
        }
    }
    // libseccomp applies a rule on a call that an ABI also reaches through socketcall/ipc (x86:
    // `socket`, `shmat`, ...) to that multiplexer's sub-call too, with the rule's action and
    // without its argument conditions. The import says so explicitly, unless the multiplexer has
    // an unconditional, unguarded entry of its own (which then decides, in libseccomp too).
    let mut mux: Vec<(Line, BTreeSet<u32>, BTreeSet<String>)> = Vec::new();
    for l in conditional.iter().chain(&unconditional) {
        for n in &l.names {
            for a in &arches {
                let Some(m) = sc::multiplexed(*a, n) else {
                    continue;
                };
                let via = match m.via {
                    sc::Multiplexer::Socketcall => "socketcall",
                    sc::Multiplexer::Ipc => "ipc",
                };
                let decided = unconditional
                    .iter()
                    .any(|u| u.guard.is_none() && u.names.iter().any(|x| x == via));
                if decided {
                    continue;
                }
                let found = mux.iter_mut().find(|(o, _, _)| {
                    o.action == l.action && o.guard == l.guard && o.names[0] == via
                });
                match found {
                    Some((_, calls, names)) => {
                        calls.insert(m.call);
                        names.insert(n.clone());
                    }
                    None => mux.push((
                        Line {
                            action: l.action,
                            names: vec![via.to_string()],
                            cond: None,
                            guard: l.guard.clone(),
                            reason: None,
                            path: l.path.clone(),
                        },
                        BTreeSet::from([m.call]),
                        BTreeSet::from([n.clone()]),
                    )),
                }
            }
        }
    }
    let mux_lines: Vec<Line> = mux
        .into_iter()
        .map(|(mut l, calls, names)| {
            let arg = param_name(&l.names, 0, &arches);
            let calls: Vec<String> = calls.iter().map(u32::to_string).collect();
            l.cond = Some(if calls.len() == 1 {
                format!("{arg} == {}", calls[0])
            } else {
                format!("{arg} in {{{}}}", calls.join(", "))
            });
            l.reason = Some(format!(
                "libseccomp also applies the rules on {} here, without their conditions",
                names.into_iter().collect::<Vec<_>>().join(", ")
            ));
            l
        })
        .collect();
    conditional.extend(mux_lines);
    // libseccomp keeps the first unconditional rule of a syscall and ignores later ones
    // (`db_rule_add`: an existing chain-less entry "is at least as large as the new entry");
    // under moat's "last matching rule wins" they are written in reverse order.
    unconditional.reverse();
    let ordered: Vec<Line> = conditional.into_iter().chain(unconditional).collect();

    // Names that exist on an accepted ABI.
    let on_abis = |n: &str| arches.iter().any(|a| a.by_name(n).is_some());
    let all_names: BTreeSet<&'static str> =
        sc::names().iter().copied().filter(|n| on_abis(n)).collect();

    // Invert a deny-by-default profile that allows most calls unconditionally. A name is "free"
    // when an unconditional, unguarded entry allows it and no other entry names it.
    let mut mentioned: BTreeMap<&str, usize> = BTreeMap::new();
    for l in &ordered {
        for n in &l.names {
            *mentioned.entry(n.as_str()).or_default() += 1;
        }
    }
    let is_free_line =
        |l: &Line| l.cond.is_none() && l.guard.is_none() && l.action == Action::Allow;
    let free: BTreeSet<&str> = ordered
        .iter()
        .filter(|l| is_free_line(l))
        .flat_map(|l| l.names.iter().map(String::as_str))
        .filter(|n| mentioned.get(n) == Some(&1))
        // A rule on `socket` or `shmat` reaches socketcall/ipc on 32-bit ABIs: the multiplexers
        // keep their own line so it comes after the refusals.
        .filter(|n| !matches!(*n, "socketcall" | "ipc"))
        .collect();
    let invert = !default.runs_call() && free.len() * 2 > all_names.len();
    // Refused up front: every name no unconditional, unguarded `allow` entry names.
    let allowed: BTreeSet<&str> = ordered
        .iter()
        .filter(|l| is_free_line(l))
        .flat_map(|l| l.names.iter().map(String::as_str))
        .collect();
    let base: BTreeSet<&'static str> = all_names
        .iter()
        .copied()
        .filter(|n| !allowed.contains(n))
        .collect();

    let mut text = String::new();
    let _ = writeln!(
        text,
        "# {}: imported by moat from a Docker/OCI seccomp profile",
        file_name(origin)
    );
    let mut paths: BTreeMap<usize, JsonPath> = BTreeMap::new();
    let mut line_no = 1usize;
    let mut push = |text: &mut String, l: &str, p: &JsonPath| {
        text.push_str(l);
        text.push('\n');
        line_no += 1;
        paths.insert(line_no, p.clone());
    };
    let dflt = if invert { Action::Allow } else { default };
    push(
        &mut text,
        &format!("default {dflt}"),
        &root.key("defaultAction"),
    );
    push(
        &mut text,
        &format!(
            "unknown {default}                # the profile's defaultAction: Docker has no separate action for unknown numbers"
        ),
        &root.key("defaultAction"),
    );
    push(
        &mut text,
        "badarch kill-thread          # what runc and libseccomp do with other ABIs",
        root,
    );
    let arch_list: Vec<&str> = arches.iter().map(|a| a.name()).collect();
    push(
        &mut text,
        &format!("arch {}", arch_list.join(" ")),
        &root.key("architectures"),
    );

    let mut emitted: Vec<Line> = Vec::new();
    // When the profile allows every name moat knows, nothing is left to refuse: an action line
    // without names would not parse.
    if invert && !base.is_empty() {
        let names: Vec<String> = base.iter().map(|n| n.to_string()).collect();
        emitted.push(Line {
            action: default,
            names,
            cond: None,
            guard: None,
            reason: Some("everything the profile does not allow unconditionally".into()),
            path: root.key("defaultAction"),
        });
    }
    for l in &ordered {
        if invert && is_free_line(l) {
            let kept: Vec<String> = l
                .names
                .iter()
                .filter(|n| !free.contains(n.as_str()))
                .cloned()
                .collect();
            if !kept.is_empty() {
                emitted.push(Line {
                    names: kept,
                    ..l.clone()
                });
            }
            continue;
        }
        emitted.push(l.clone());
    }

    // Twins covered by a line that does not name them: set back to the profile's default, then
    // the profile's own entries for them are replayed.
    let mut stray: BTreeSet<&'static str> = BTreeSet::new();
    for l in &emitted {
        for n in &l.names {
            for t in sc::twins(n) {
                if on_abis(t) && !l.names.iter().any(|m| m == t) {
                    stray.insert(t);
                }
            }
        }
    }
    let mut fixups: Vec<Line> = Vec::new();
    if !stray.is_empty() {
        fixups.push(Line {
            action: default,
            names: stray.iter().map(|t| t.to_string()).collect(),
            cond: None,
            guard: None,
            reason: Some("twins the profile does not list beside their base name".into()),
            path: root.key("syscalls"),
        });
        for l in &ordered {
            let own: Vec<String> = l
                .names
                .iter()
                .filter(|n| stray.contains(n.as_str()))
                .cloned()
                .collect();
            if !own.is_empty() {
                fixups.push(Line {
                    names: own,
                    ..l.clone()
                });
            }
        }
    }

    for (k, l) in emitted.iter().enumerate() {
        let condense = invert && k == 0;
        for text_line in render(l, condense, &arches) {
            push(&mut text, &text_line, &l.path);
        }
    }
    for l in &fixups {
        for text_line in render(l, false, &arches) {
            push(&mut text, &text_line, &l.path);
        }
    }

    // Locations name the generated text, not the JSON: `profile.json (as moat):12`.
    let policy =
        Policy::parse(&text, &format!("{origin} (as moat)")).map_err(|e| match e.span {
            Some(span) => {
                let line = usize::try_from(span.line).unwrap_or(usize::MAX);
                let p = paths.get(&line).cloned().unwrap_or_default();
                Error::input(origin, &p, e.kind.to_string())
            }
            None => Error::Policy(e),
        })?;
    Ok(Imported {
        text,
        policy,
        warnings,
    })
}

fn file_name(origin: &str) -> &str {
    origin.rsplit('/').next().unwrap_or(origin)
}

/// Rule text, wrapped at about 100 columns; the reason goes on the first line. With `condense`,
/// groups replace names where every member (and its twins) is in the list.
fn render(l: &Line, condense: bool, arches: &[Arch]) -> Vec<String> {
    let mut targets: Vec<String> = Vec::new();
    let named: BTreeSet<&str> = l.names.iter().map(String::as_str).collect();
    let mut left: BTreeSet<&str> = named.clone();
    // A twin listed beside its base name is covered by the base.
    for n in &named {
        for t in sc::twins(n) {
            left.remove(t);
        }
    }
    if condense {
        let closure = |m: &str| {
            std::iter::once(m.to_string())
                .chain(sc::twins(m).iter().map(|t| t.to_string()))
                .collect::<Vec<_>>()
        };
        let mut chosen: Vec<&str> = Vec::new();
        loop {
            let mut best: Option<(&str, usize)> = None;
            for g in sc::groups() {
                let Some(members) = sc::expand_group(g.name) else {
                    continue;
                };
                let fits = members.iter().all(|m| {
                    closure(m).iter().all(|c| {
                        named.contains(c.as_str()) || !arches.iter().any(|a| a.by_name(c).is_some())
                    })
                });
                if !fits || chosen.contains(&g.name) {
                    continue;
                }
                let gain = members.iter().filter(|m| left.contains(*m)).count();
                if gain >= 3 && best.is_none_or(|(_, b)| gain > b) {
                    best = Some((g.name, gain));
                }
            }
            let Some((g, _)) = best else { break };
            chosen.push(g);
            for m in sc::expand_group(g).unwrap_or_default() {
                left.remove(m);
            }
        }
        targets.extend(chosen.iter().map(|g| format!("@{g}")));
    }
    targets.extend(left.iter().map(|n| n.to_string()));
    let mut tail = String::new();
    if let Some(c) = &l.cond {
        let _ = write!(tail, " if {c}");
    }
    if let Some(g) = &l.guard {
        let _ = write!(tail, " when {g}");
    }
    let head = l.action.to_string();
    let mut lines = Vec::new();
    let mut cur = head.clone();
    for t in &targets {
        if cur.len() + t.len() > 96 && cur.len() > head.len() {
            lines.push(std::mem::replace(&mut cur, head.clone()));
        }
        cur.push(' ');
        cur.push_str(t);
    }
    lines.push(cur);
    for line in &mut lines {
        line.push_str(&tail);
    }
    if let (Some(r), Some(first)) = (&l.reason, lines.first_mut()) {
        let r = r.replace(['\n', '\r'], " ");
        let _ = write!(first, "  # {}", r.trim());
    }
    lines
}

#[allow(clippy::too_many_lines)]
fn entry_line(
    e: &Entry,
    path: &JsonPath,
    origin: &str,
    arches: &[Arch],
    opts: &Options,
    default: Action,
    warnings: &mut Vec<String>,
) -> Result<Option<Line>, Error> {
    let act = action(e.action, e.errno_ret, origin, path, "errnoRet")?;
    if e.errno_ret.is_some() && !matches!(e.action, ScmpAction::Errno | ScmpAction::Trace) {
        if opts.runtime == Runtime::Crun {
            return Err(Error::input(
                origin,
                &path.key("errnoRet"),
                format!("crun refuses an errno value for {}", e.action.token()),
            ));
        }
        warnings.push(format!(
            "{origin}: {}: errnoRet is ignored for {}",
            path.key("errnoRet"),
            e.action.token()
        ));
    }
    // runc, crun and youki skip a rule whose action equals the default (libseccomp would refuse
    // it); it must not shadow a later rule for the same syscall either.
    if act == default {
        return Ok(None);
    }
    // Names.
    let mut names = Vec::new();
    for (i, n) in e.names.iter().enumerate() {
        if sc::is_known(n) {
            if !names.contains(n) {
                names.push(n.clone());
            }
        } else if let Some(abis) = sc::foreign(n) {
            warnings.push(format!(
                "{origin}: {}: skipped syscall \"{n}\": it exists only on {abis}, which moat has no table for (the runtimes skip it too)",
                path.key("names").index(i)
            ));
        } else {
            let hint = sc::suggest(n)
                .map(|s| format!(" (did you mean \"{s}\"?)"))
                .unwrap_or_default();
            let p = path.key("names").index(i);
            if opts.allow_unknown_names {
                warnings.push(format!(
                    "{origin}: {p}: skipped syscall \"{n}\", unknown to moat{hint}"
                ));
            } else {
                return Err(Error::input(
                    origin,
                    &p,
                    format!("unknown syscall \"{n}\"{hint} (--allow-unknown-names skips it)"),
                ));
            }
        }
    }
    if names.is_empty() {
        return Ok(None);
    }

    // Guards.
    let mut guard: Vec<String> = Vec::new();
    let canon = |c: &str| {
        let up = c.to_ascii_uppercase();
        if up.starts_with("CAP_") {
            up
        } else {
            format!("CAP_{up}")
        }
    };
    if !e.includes.caps.is_empty() {
        match opts.caps {
            Some(set) => {
                let all = e
                    .includes
                    .caps
                    .iter()
                    .all(|c| sc::capability(&canon(c)).is_some_and(|n| set.contains(n)));
                if !all {
                    return Ok(None);
                }
            }
            None => guard.push(format!(
                "cap {}",
                e.includes
                    .caps
                    .iter()
                    .map(|c| canon(c))
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
        }
    }
    if !e.excludes.caps.is_empty() {
        match opts.caps {
            Some(set) => {
                let any = e
                    .excludes
                    .caps
                    .iter()
                    .any(|c| sc::capability(&canon(c)).is_some_and(|n| set.contains(n)));
                if any {
                    return Ok(None);
                }
            }
            None => {
                for c in &e.excludes.caps {
                    guard.push(format!("not cap {}", canon(c)));
                }
            }
        }
    }
    let abis_of = |list: &[String]| -> Vec<Arch> {
        let mut v: Vec<Arch> = Vec::new();
        for d in list {
            for a in docker_host_abis(d) {
                if arches.contains(a) && !v.contains(a) {
                    v.push(*a);
                }
            }
        }
        v.sort();
        v
    };
    if !e.includes.arches.is_empty() {
        let v = abis_of(&e.includes.arches);
        if v.is_empty() {
            return Ok(None);
        }
        if v.len() < arches.len() {
            guard.push(format!(
                "arch {}",
                v.iter().map(|a| a.name()).collect::<Vec<_>>().join(" ")
            ));
        }
    }
    if !e.excludes.arches.is_empty() {
        let v = abis_of(&e.excludes.arches);
        if v.len() == arches.len() {
            return Ok(None);
        }
        if !v.is_empty() {
            guard.push(format!(
                "not arch {}",
                v.iter().map(|a| a.name()).collect::<Vec<_>>().join(" ")
            ));
        }
    }
    if let Some(k) = &e.includes.min_kernel {
        guard.push(format!("kernel >= {}", k.trim()));
    }
    if let Some(k) = &e.excludes.min_kernel {
        guard.push(format!("kernel < {}", k.trim()));
    }

    // Condition.
    let cond = if e.args.is_empty() {
        None
    } else {
        let mut seen = [0u8; 6];
        for a in &e.args {
            seen[usize::from(a.index)] += 1;
        }
        let ored = seen.iter().any(|c| *c > 1);
        let mut parts = Vec::new();
        for (i, a) in e.args.iter().enumerate() {
            let arg = param_name(&names, a.index, arches);
            let value = |v: u64| value_text(&arg, v);
            let t = match a.op {
                ScmpOp::MaskedEq => {
                    let expected = a.value_two & a.value;
                    if expected != a.value_two {
                        warnings.push(format!(
                            "{origin}: {}: valueTwo {:#x} has bits outside the mask {:#x}; libseccomp compares with {:#x}",
                            path.key("args").index(i),
                            a.value_two,
                            a.value,
                            expected
                        ));
                    }
                    format!("{arg} & {} == {}", hex(a.value), value(expected))
                }
                op => {
                    let sym = match op {
                        ScmpOp::Ne => "!=",
                        ScmpOp::Lt => "<",
                        ScmpOp::Le => "<=",
                        ScmpOp::Eq => "==",
                        ScmpOp::Ge => ">=",
                        _ => ">",
                    };
                    format!("{arg} {sym} {}", value(a.value))
                }
            };
            parts.push(t);
        }
        Some(if ored && parts.len() > 1 {
            parts.join(" or ")
        } else {
            parts.join(" and ")
        })
    };
    Ok(Some(Line {
        action: act,
        names,
        cond,
        guard: if guard.is_empty() {
            None
        } else {
            Some(guard.join(" and "))
        },
        reason: e.comment.clone().filter(|c| !c.trim().is_empty()),
        path: path.clone(),
    }))
}

/// The parameter name at `index` when it is the same for every name on every accepted ABI and
/// its 64-bit/compat partner (x86_64 and x86, aarch64 and arm), else `argN`. The profile's
/// conditions are by index on every ABI; the imported text may be composed with a policy that
/// accepts the partner too (`use container`: `arch native compat`), and a name must mean the
/// same index there. Regression: a Localhost profile without x86 imported `allow personality
/// socketcall if persona ...`, which stopped parsing once an annotation added x86 (socketcall's
/// first parameter there is `call`).
fn param_name(names: &[String], index: u8, arches: &[Arch]) -> String {
    let mut abis: Vec<Arch> = Vec::new();
    for &a in arches {
        let partners = Arch::ALL
            .into_iter()
            .filter(|&b| b == a || compat_of(a) == Some(b) || compat_of(b) == Some(a));
        for b in partners {
            if !abis.contains(&b) {
                abis.push(b);
            }
        }
    }
    let mut found: Option<&'static str> = None;
    for n in names {
        for a in &abis {
            if a.by_name(n).is_none() {
                continue;
            }
            let Some(sig) = sc::signature(*a, n) else {
                return format!("arg{index}");
            };
            let Some(p) = sig.iter().find(|p| p.index == index) else {
                return format!("arg{index}");
            };
            match found {
                None => found = Some(p.name),
                Some(f) if f == p.name => {}
                Some(_) => return format!("arg{index}"),
            }
        }
    }
    // prctl's parameters are named `arg2` to `arg5` in the kernel, at indexes 1 to 4: as a name
    // in moat text `arg2` would mean index 2.
    found
        .filter(|n| {
            n.strip_prefix("arg")
                .is_none_or(|d| d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()))
        })
        .map_or_else(|| format!("arg{index}"), str::to_string)
}

fn hex(v: u64) -> String {
    if v < 256 {
        v.to_string()
    } else {
        format!("{v:#x}")
    }
}

/// A value, as a named constant where the parameter has an obvious family (`domain` → `AF_*`).
fn value_text(arg: &str, v: u64) -> String {
    let prefix = match arg {
        "domain" => "AF_",
        _ => return hex(v),
    };
    sc::constants()
        .iter()
        .find(|(n, c)| *c == v && n.starts_with(prefix))
        .map_or_else(|| hex(v), |(n, _)| n.to_string())
}
