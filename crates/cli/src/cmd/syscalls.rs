//! `moat syscalls`: look up syscall numbers, names, groups and signatures per ABI.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use moat::syscalls::{self as sc, Arch, Syscall, Width};
use serde_json::{Value, json};

/// Look up syscalls by name, number or @group, on one ABI or all of them.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// ABI to look in (x86_64, x86, x32, aarch64, arm, riscv64, ppc64le, s390x, loongarch64,
    /// aliases such as amd64/i386/arm64, or `all`); default: the ABI moat was built for.
    #[arg(long, short = 'a', value_name = "ABI")]
    arch: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Syscall names, numbers (decimal or 0x...) or @groups; none lists the whole table.
    #[arg(value_name = "QUERY")]
    queries: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

/// One line of output: a syscall of one ABI.
struct Row {
    arch: Arch,
    syscall: &'static Syscall,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let arches: Vec<Arch> = match args.arch.as_deref() {
        None => vec![Arch::native()],
        Some(a) if a.eq_ignore_ascii_case("all") => Arch::ALL.to_vec(),
        Some(a) => match a.parse::<Arch>() {
            Ok(arch) => vec![arch],
            Err(err) => {
                eprintln!("moat: {err}");
                return Ok(ExitCode::from(2));
            }
        },
    };
    let mut rows = Vec::new();
    let mut worst = 0u8;
    if args.queries.is_empty() {
        for &arch in &arches {
            rows.extend(arch.syscalls().iter().map(|syscall| Row { arch, syscall }));
        }
    }
    for query in &args.queries {
        match lookup(query, &arches) {
            Ok(found) => rows.extend(found),
            Err((code, message)) => {
                eprintln!("moat: {message}");
                worst = worst.max(code);
            }
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        Format::Text => print_text(&mut out, &rows, arches.len() > 1)?,
        Format::Json => {
            let items: Vec<Value> = rows.iter().map(to_json).collect();
            serde_json::to_writer_pretty(&mut out, &items).context("writing JSON")?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::from(worst))
}

/// Resolves one query on the given ABIs. Errors carry the exit code: 1 for a syscall that exists
/// but not on the requested ABI (or a number no ABI assigns), 2 for a name known nowhere.
fn lookup(query: &str, arches: &[Arch]) -> Result<Vec<Row>, (u8, String)> {
    if let Some(group_name) = query.strip_prefix('@') {
        let Some(members) = sc::expand_group(group_name) else {
            let names: Vec<&str> = sc::groups().iter().map(|g| g.name).collect();
            let hint = prefix_match(group_name, &names)
                .map_or_else(String::new, |g| format!(" (did you mean `@{g}`?)"));
            return Err((2, format!("unknown group `@{group_name}`{hint}")));
        };
        let mut rows = Vec::new();
        for &arch in arches {
            let mut found: Vec<&'static Syscall> =
                members.iter().filter_map(|m| arch.by_name(m)).collect();
            found.sort_by_key(|s| s.nr);
            rows.extend(found.into_iter().map(|syscall| Row { arch, syscall }));
        }
        return Ok(rows);
    }
    if let Some(nr) = parse_number(query) {
        let rows: Vec<Row> = arches
            .iter()
            .filter_map(|&arch| {
                // x32 numbers may be given with or without the 0x4000_0000 bit.
                let syscall = arch.by_nr(nr).or_else(|| arch.by_nr(nr | arch.nr_bias()))?;
                Some(Row { arch, syscall })
            })
            .collect();
        if rows.is_empty() {
            return Err((
                1,
                format!("{} has no syscall number {query}", abi_list(arches)),
            ));
        }
        return Ok(rows);
    }
    let rows: Vec<Row> = arches
        .iter()
        .filter_map(|&arch| arch.by_name(query).map(|syscall| Row { arch, syscall }))
        .collect();
    if !rows.is_empty() {
        return Ok(rows);
    }
    let elsewhere = sc::abis_with(query);
    if elsewhere.is_empty() {
        let hint =
            sc::suggest(query).map_or_else(String::new, |s| format!(" (did you mean `{s}`?)"));
        return Err((2, format!("unknown syscall `{query}`{hint}")));
    }
    let on: Vec<&str> = elsewhere.iter().map(|a| a.name()).collect();
    let instead = equivalents(query, arches);
    let hint = if instead.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = instead.iter().map(|s| format!("`{s}`")).collect();
        format!(" (did you mean {}?)", list.join(" or "))
    };
    Err((
        1,
        format!(
            "{} has no `{query}`{hint}; `{query}` exists on {}",
            abi_list(arches),
            on.join(", ")
        ),
    ))
}

/// Syscalls that do the job of `name` on every one of `arches`: the modern `*at` call, the
/// base name of a twin, or a twin of the base name.
fn equivalents(name: &str, arches: &[Arch]) -> Vec<&'static str> {
    const MODERN: &[(&str, &[&str])] = &[
        ("access", &["faccessat", "faccessat2"]),
        ("alarm", &["setitimer"]),
        ("chmod", &["fchmodat"]),
        ("chown", &["fchownat"]),
        ("creat", &["openat"]),
        ("dup2", &["dup3"]),
        ("epoll_create", &["epoll_create1"]),
        ("epoll_wait", &["epoll_pwait"]),
        ("eventfd", &["eventfd2"]),
        ("fork", &["clone"]),
        ("futimesat", &["utimensat"]),
        ("getdents", &["getdents64"]),
        ("getpgrp", &["getpgid"]),
        ("inotify_init", &["inotify_init1"]),
        ("lchown", &["fchownat"]),
        ("link", &["linkat"]),
        ("lstat", &["newfstatat", "statx"]),
        ("mkdir", &["mkdirat"]),
        ("mknod", &["mknodat"]),
        ("open", &["openat"]),
        ("pause", &["ppoll"]),
        ("pipe", &["pipe2"]),
        ("poll", &["ppoll"]),
        ("readlink", &["readlinkat"]),
        ("rename", &["renameat2"]),
        ("renameat", &["renameat2"]),
        ("rmdir", &["unlinkat"]),
        ("select", &["pselect6"]),
        ("signalfd", &["signalfd4"]),
        ("stat", &["newfstatat", "statx"]),
        ("symlink", &["symlinkat"]),
        ("time", &["clock_gettime"]),
        ("umount", &["umount2"]),
        ("unlink", &["unlinkat"]),
        ("utime", &["utimensat"]),
        ("utimes", &["utimensat"]),
        ("vfork", &["clone"]),
    ];
    let mut candidates: Vec<&'static str> = Vec::new();
    if let Some((_, list)) = MODERN.iter().find(|(n, _)| *n == name) {
        candidates.extend(list.iter());
    }
    candidates.extend(sc::twins(name).iter());
    // A twin's base name (`fcntl64` -> `fcntl`).
    candidates.extend(
        sc::names()
            .iter()
            .copied()
            .filter(|base| sc::twins(base).contains(&name)),
    );
    candidates.retain(|c| arches.iter().all(|a| a.by_name(c).is_some()));
    candidates.dedup();
    candidates
}

/// The first group name that is a prefix of `input` or has it as a prefix (`@file` for `@files`):
/// a different hint from the edit-distance "did you mean" of [`moat::syscalls::closest`].
fn prefix_match<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .copied()
        .find(|c| c.starts_with(input) || input.starts_with(c))
}

fn parse_number(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None if s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        None => None,
    }
}

fn abi_list(arches: &[Arch]) -> String {
    if arches.len() == Arch::ALL.len() {
        "no ABI".to_owned()
    } else {
        let names: Vec<&str> = arches.iter().map(|a| a.name()).collect();
        names.join(", ")
    }
}

/// x32 numbers in hex (the 0x4000_0000 bit shows), ARM private calls in hex, others in decimal.
fn number(arch: Arch, nr: u32) -> String {
    if arch.nr_bias() != 0 || nr >= 0xf_0000 {
        format!("{nr:#x}")
    } else {
        nr.to_string()
    }
}

fn width_name(w: Width) -> &'static str {
    match w {
        Width::U32 => "u32",
        Width::U64 => "u64",
    }
}

/// `u16`, `u32` or `u64`: the bits of the register the kernel reads.
fn bits_name(p: &sc::Param) -> &'static str {
    match p.bits {
        16 => "u16",
        b if b <= 32 => "u32",
        _ => "u64",
    }
}

fn signature_text(row: &Row) -> String {
    match sc::signature(row.arch, row.syscall.name) {
        Some(params) => {
            let list: Vec<String> = params
                .iter()
                .map(|p| format!("{}: {}", p.name, bits_name(p)))
                .collect();
            format!("{}({})", row.syscall.name, list.join(", "))
        }
        None => String::new(),
    }
}

fn notes(row: &Row) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(m) = sc::multiplexed(row.arch, row.syscall.name) {
        let via = match m.via {
            sc::Multiplexer::Socketcall => "socketcall",
            sc::Multiplexer::Ipc => "ipc",
        };
        notes.push(format!("also via {via}(call={})", m.call));
    }
    let twins: Vec<&str> = sc::twins(row.syscall.name)
        .iter()
        .copied()
        .filter(|t| row.arch.by_name(t).is_some())
        .collect();
    if !twins.is_empty() {
        notes.push(format!("twin {}", twins.join(", ")));
    }
    notes
}

fn print_text(out: &mut impl std::io::Write, rows: &[Row], show_abi: bool) -> anyhow::Result<()> {
    for row in rows {
        let mut line = String::new();
        if show_abi {
            line.push_str(&format!("{:<12}", row.arch.name()));
        }
        line.push_str(&format!(
            "{:<12} {:<28} since {:<6}",
            number(row.arch, row.syscall.nr),
            row.syscall.name,
            row.syscall.since.to_string()
        ));
        let sig = signature_text(row);
        if !sig.is_empty() {
            line.push(' ');
            line.push_str(&sig);
        }
        let notes = notes(row);
        if !notes.is_empty() {
            line.push_str(&format!("  [{}]", notes.join("; ")));
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn to_json(row: &Row) -> Value {
    let params: Option<Vec<Value>> = sc::signature(row.arch, row.syscall.name).map(|ps| {
        ps.iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "index": p.index,
                    "width": width_name(p.width),
                    "bits": p.bits,
                    "kernel_name": p.kernel_name,
                    "c_type": p.c_type,
                })
            })
            .collect()
    });
    let multiplexed = sc::multiplexed(row.arch, row.syscall.name).map(|m| {
        json!({
            "via": match m.via { sc::Multiplexer::Socketcall => "socketcall", sc::Multiplexer::Ipc => "ipc" },
            "call": m.call,
        })
    });
    json!({
        "abi": row.arch.name(),
        "audit_arch": row.arch.audit_arch(),
        "name": row.syscall.name,
        "nr": row.syscall.nr,
        "since": row.syscall.since.to_string(),
        "params": params,
        "multiplexed": multiplexed,
        "twins": sc::twins(row.syscall.name)
            .iter()
            .filter(|t| row.arch.by_name(t).is_some())
            .collect::<Vec<_>>(),
    })
}
