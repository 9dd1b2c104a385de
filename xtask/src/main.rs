//! Repository tasks: `cargo xtask gen-syscalls` and `cargo xtask check-generated`.
//!
//! `gen-syscalls` writes `crates/syscalls/src/generated.rs` from three sources:
//! the `syscalls` crate (0.8.1, name <-> number for every ABI but x32),
//! `crates/syscalls/data/abi-extras.csv` (which x86_64 entries x32 lacks, x32's own 512..=547
//! entries, ARM's private syscalls) and `crates/syscalls/data/kernel-versions.csv` (the kernel
//! version that introduced each syscall, per ABI where it differs).
//! `check-generated` regenerates in memory and fails when the checked-in file differs.
//!
//! `gen-systemd-groups DIR` reads a systemd source tree (`src/shared/seccomp-util.c`'s
//! `syscall_filter_sets` table and `src/basic/syscall-list.txt` for `@known`) and writes
//! `crates/export/data/systemd-groups.txt`: one line per `SystemCallFilter=` group, its
//! description and members (names and nested `@groups`) as that systemd version defines them.
//! The source is not part of this repository; moat-export's tests compare the file with
//! `systemd-analyze syscall-filter` of the systemd on the machine.
//!
//! `image` builds a statically linked moat and writes an OCI image archive of it (see
//! `image.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

mod image;

/// ABIs in the order of `moat_syscalls::Arch::ALL`, with their table constant names.
const ABIS: [(&str, &str); 9] = [
    ("x86_64", "X86_64"),
    ("x86", "X86"),
    ("x32", "X32"),
    ("aarch64", "AARCH64"),
    ("arm", "ARM"),
    ("riscv64", "RISCV64"),
    ("ppc64le", "PPC64LE"),
    ("s390x", "S390X"),
    ("loongarch64", "LOONGARCH64"),
];

/// `__X32_SYSCALL_BIT` (arch/x86/include/uapi/asm/unistd.h).
const X32_BIT: u32 = 0x4000_0000;

/// The oldest kernel each ABI's seccomp tables are meaningful for: 3.0 is libseccomp's floor
/// ("3.0 or earlier"); x32 was merged in 3.4, arm64 in 3.7, riscv64 (syscall ABI frozen) in 4.15,
/// loongarch64 in 5.19.
const FLOORS: [(&str, (u16, u16)); 9] = [
    ("x86_64", (3, 0)),
    ("x86", (3, 0)),
    ("x32", (3, 4)),
    ("aarch64", (3, 7)),
    ("arm", (3, 0)),
    ("riscv64", (4, 15)),
    ("ppc64le", (3, 0)),
    ("s390x", (3, 0)),
    ("loongarch64", (5, 19)),
];

const OUTPUT: &str = "crates/syscalls/src/generated.rs";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("gen-syscalls") => gen_syscalls(),
        Some("check-generated") => check_generated(),
        Some("gen-systemd-groups") => gen_systemd_groups(args.get(1).map(String::as_str)),
        Some("bless") => bless(),
        Some("image") => image::run(&root(), &args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <gen-syscalls | check-generated | gen-systemd-groups SYSTEMD_SOURCE_DIR | bless | image [--out FILE] [--target-dir DIR] [--binary FILE]>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Rewrites the golden files: runs every test whose name contains `golden` with `MOAT_BLESS=1`
/// (`moat_testkit::golden` then writes the file instead of comparing). `git diff` shows what
/// changed.
fn bless() -> anyhow::Result<ExitCode> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .current_dir(root())
        .args([
            "test",
            "--workspace",
            "--all-targets",
            "--quiet",
            "--",
            "golden",
        ])
        .env("MOAT_BLESS", "1")
        .status()
        .context("run cargo test")?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn gen_syscalls() -> anyhow::Result<ExitCode> {
    let text = generate()?;
    let path = root().join(OUTPUT);
    // Write to a temporary file and rename, so a failed run never leaves a half-written file.
    let tmp = path.with_extension("rs.tmp");
    std::fs::write(&tmp, &text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
    println!("wrote {OUTPUT}");
    Ok(ExitCode::SUCCESS)
}

fn check_generated() -> anyhow::Result<ExitCode> {
    let text = generate()?;
    let path = root().join(OUTPUT);
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current == text {
        println!("{OUTPUT} is up to date");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("xtask: {OUTPUT} is stale: run `cargo xtask gen-syscalls` and commit the result");
        Ok(ExitCode::FAILURE)
    }
}

/// One ABI's table: number (with the x32 bias) -> name.
type Table = BTreeMap<u32, String>;

fn crate_table(abi: &str) -> anyhow::Result<Table> {
    macro_rules! collect {
        ($m:ident) => {{
            let mut table = Table::new();
            let last = syscalls::$m::Sysno::last().id();
            // Walk every number up to the last one: `Sysno::iter()` stops before the last entry.
            for nr in 0..=last {
                let Ok(idx) = usize::try_from(nr) else {
                    continue;
                };
                if let Some(s) = syscalls::$m::Sysno::new(idx) {
                    // `stringify!` keeps the raw-identifier prefix of keywords (`r#break`).
                    let name = s.name().trim_start_matches("r#");
                    table.insert(u32::try_from(s.id())?, name.to_owned());
                }
            }
            table
        }};
    }
    Ok(match abi {
        "x86_64" => collect!(x86_64),
        "x86" => collect!(x86),
        "aarch64" => collect!(aarch64),
        "arm" => collect!(arm),
        "riscv64" => collect!(riscv64),
        "ppc64le" => collect!(powerpc64),
        "s390x" => collect!(s390x),
        "loongarch64" => collect!(loongarch64),
        other => bail!("no table for {other} in the syscalls crate"),
    })
}

fn data_lines(name: &str) -> anyhow::Result<Vec<(usize, Vec<String>)>> {
    let path = root().join("crates/syscalls/data").join(name);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| (i + 1, l.split(',').map(|f| f.trim().to_owned()).collect()))
        .collect())
}

fn parse_nr(s: &str) -> anyhow::Result<u32> {
    Ok(match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16)?,
        None => s.parse()?,
    })
}

fn parse_version(s: &str) -> anyhow::Result<(u16, u16)> {
    let (major, minor) = s
        .split_once('.')
        .with_context(|| format!("bad version {s:?}"))?;
    Ok((major.parse()?, minor.parse()?))
}

fn tables() -> anyhow::Result<Vec<(&'static str, Table)>> {
    let mut out = Vec::new();
    let mut x86_64_only = BTreeMap::new();
    let mut x32_own = Table::new();
    let mut arm_private = Table::new();
    let mut everywhere = Table::new();
    // (abi, nr) -> name, for entries to drop and entries to rename.
    let mut drops: BTreeMap<(String, u32), String> = BTreeMap::new();
    let mut renames: BTreeMap<(String, u32), String> = BTreeMap::new();
    for (line, fields) in data_lines("abi-extras.csv")? {
        let [kind, nr, name] = fields.as_slice() else {
            bail!("abi-extras.csv:{line}: expected KIND,NR,NAME");
        };
        let nr = parse_nr(nr).with_context(|| format!("abi-extras.csv:{line}: bad number"))?;
        let known_abi = |abi: &&str| ABIS.iter().any(|(a, _)| a == abi);
        if let Some(abi) = kind.strip_prefix("drop-").filter(known_abi) {
            drops.insert((abi.to_owned(), nr), name.clone());
            continue;
        }
        if let Some(abi) = kind.strip_prefix("rename-").filter(known_abi) {
            renames.insert((abi.to_owned(), nr), name.clone());
            continue;
        }
        let map = match kind.as_str() {
            "x86_64-only" => &mut x86_64_only,
            "x32" => &mut x32_own,
            "arm" => &mut arm_private,
            "all" => &mut everywhere,
            other => bail!("abi-extras.csv:{line}: unknown kind {other:?}"),
        };
        map.insert(nr, name.clone());
    }
    for (abi, _) in ABIS {
        let table = if abi == "x32" {
            let x86_64 = crate_table("x86_64")?;
            for (nr, name) in &x86_64_only {
                if x86_64.get(nr) != Some(name) {
                    bail!("abi-extras.csv: x86_64-only {nr} {name} is not in the x86_64 table");
                }
            }
            let mut t = Table::new();
            for (nr, name) in x86_64
                .iter()
                .filter(|(nr, _)| !x86_64_only.contains_key(*nr))
            {
                t.insert(nr | X32_BIT, name.clone());
            }
            for (nr, name) in &everywhere {
                t.insert(nr | X32_BIT, name.clone());
            }
            for (nr, name) in &x32_own {
                if !(512..=547).contains(nr) {
                    bail!("abi-extras.csv: x32 entry {nr} {name} is outside 512..=547");
                }
                t.insert(nr | X32_BIT, name.clone());
            }
            t
        } else {
            let mut t = crate_table(abi)?;
            if abi == "arm" {
                t.extend(arm_private.clone());
            }
            for (nr, name) in &everywhere {
                if t.insert(*nr, name.clone()).is_some() {
                    bail!("abi-extras.csv: all {nr} {name}: the {abi} table already has {nr}");
                }
            }
            for ((_, nr), name) in drops.iter().filter(|((a, _), _)| a == abi) {
                if t.remove(nr).as_ref() != Some(name) {
                    bail!("abi-extras.csv: drop-{abi} {nr} {name} is not in the {abi} table");
                }
            }
            for ((_, nr), name) in renames.iter().filter(|((a, _), _)| a == abi) {
                let Some(entry) = t.get_mut(nr) else {
                    bail!("abi-extras.csv: rename-{abi} {nr}: no such number in the {abi} table");
                };
                entry.clone_from(name);
            }
            t
        };
        let names: BTreeSet<&String> = table.values().collect();
        if names.len() != table.len() {
            bail!("{abi}: a name appears twice in the table");
        }
        out.push((abi, table));
    }
    Ok(out)
}

/// name -> (default version, per-ABI overrides)
type Versions = BTreeMap<String, ((u16, u16), BTreeMap<String, (u16, u16)>)>;

fn versions() -> anyhow::Result<Versions> {
    let mut out = Versions::new();
    for (line, fields) in data_lines("kernel-versions.csv")? {
        let ctx = || format!("kernel-versions.csv:{line}");
        // `VERSION: NAME NAME ...`
        if let [single] = fields.as_slice()
            && let Some((version, names)) = single.split_once(':')
        {
            let version = parse_version(version.trim()).with_context(ctx)?;
            for name in names.split_whitespace() {
                if out
                    .insert(name.to_owned(), (version, BTreeMap::new()))
                    .is_some()
                {
                    bail!("{}: {name} listed twice", ctx());
                }
            }
            continue;
        }
        let Some((name, rest)) = fields.split_first() else {
            continue;
        };
        let Some((default, overrides)) = rest.split_first() else {
            bail!("{}: expected NAME,VERSION[,ABI=VERSION...]", ctx());
        };
        let default = parse_version(default).with_context(ctx)?;
        let mut per_abi = BTreeMap::new();
        for o in overrides {
            let (abi, v) = o
                .split_once('=')
                .with_context(|| format!("{}: expected ABI=VERSION", ctx()))?;
            if !ABIS.iter().any(|(a, _)| *a == abi) {
                bail!("{}: unknown ABI {abi:?}", ctx());
            }
            per_abi.insert(abi.to_owned(), parse_version(v).with_context(ctx)?);
        }
        if out.insert(name.clone(), (default, per_abi)).is_some() {
            bail!("{}: {name} listed twice", ctx());
        }
    }
    Ok(out)
}

fn generate() -> anyhow::Result<String> {
    let tables = tables()?;
    let versions = versions()?;
    let mut all_names = BTreeSet::new();
    let mut out = String::new();
    out.push_str(
        "// @generated by `cargo xtask gen-syscalls`; do not edit.\n\
         // Sources: the `syscalls` crate 0.8.1 (Linux 6.18 tables), crates/syscalls/data/abi-extras.csv,\n\
         // crates/syscalls/data/kernel-versions.csv. Regenerate after editing either data file.\n\n\
         use crate::{KernelVersion, Syscall};\n\n\
         const fn s(name: &'static str, nr: u32, major: u16, minor: u16) -> Syscall {\n    \
         Syscall { name, nr, since: KernelVersion { major, minor } }\n}\n",
    );
    let mut missing = Vec::new();
    for (abi, table) in &tables {
        let konst = ABIS
            .iter()
            .find(|(a, _)| a == abi)
            .map(|(_, k)| *k)
            .unwrap_or("?");
        let floor = FLOORS
            .iter()
            .find(|(a, _)| a == abi)
            .map(|(_, f)| *f)
            .unwrap_or((3, 0));
        writeln!(
            out,
            "\n/// {abi}: {} syscalls sorted by number.",
            table.len()
        )?;
        writeln!(out, "pub(crate) static {konst}: &[Syscall] = &[")?;
        for (nr, name) in table {
            all_names.insert(name.clone());
            let since = match versions.get(name) {
                Some((default, per_abi)) => *per_abi.get(*abi).unwrap_or(default),
                None => {
                    missing.push(format!("{abi}/{name}"));
                    floor
                }
            };
            let since = since.max(floor);
            writeln!(out, "    s({name:?}, {nr:#x}, {}, {}),", since.0, since.1)?;
        }
        out.push_str("];\n");
        let mut by_name: Vec<(usize, &String)> = table.values().enumerate().collect();
        by_name.sort_by(|a, b| a.1.cmp(b.1));
        writeln!(out, "\n/// {abi}: indices into [`{konst}`] sorted by name.")?;
        writeln!(out, "pub(crate) static {konst}_BY_NAME: &[u16] = &[")?;
        for chunk in by_name.chunks(16) {
            let line: Vec<String> = chunk.iter().map(|(i, _)| i.to_string()).collect();
            writeln!(out, "    {},", line.join(", "))?;
        }
        out.push_str("];\n");
    }
    for name in versions.keys() {
        if !all_names.contains(name) {
            bail!("kernel-versions.csv: {name} is not a syscall on any ABI");
        }
    }
    if !missing.is_empty() {
        bail!(
            "kernel-versions.csv has no version for: {}",
            missing.join(" ")
        );
    }
    writeln!(out, "\n/// Every syscall name on any ABI, sorted, unique.")?;
    writeln!(out, "pub(crate) static NAMES: &[&str] = &[")?;
    for name in &all_names {
        writeln!(out, "    {name:?},")?;
    }
    out.push_str("];\n");
    Ok(out)
}

const SYSTEMD_GROUPS: &str = "crates/export/data/systemd-groups.txt";

/// `cargo xtask gen-systemd-groups DIR`: see the crate documentation.
fn gen_systemd_groups(dir: Option<&str>) -> anyhow::Result<ExitCode> {
    let Some(dir) = dir else {
        bail!(
            "gen-systemd-groups needs the systemd source directory (e.g. from `apt-get source systemd`)"
        );
    };
    let dir = Path::new(dir);
    let meson = std::fs::read_to_string(dir.join("meson.build"))
        .with_context(|| format!("{}: no meson.build", dir.display()))?;
    // `project('systemd', 'c', version : '252.39', ...)` (older trees) or `version : run_command(...)`
    // with a `meson.version` file beside it (newer ones).
    let version = match std::fs::read_to_string(dir.join("meson.version")) {
        Ok(v) => v.trim().to_string(),
        Err(_) => meson
            .split("version : '")
            .nth(1)
            .and_then(|r| r.split('\'').next())
            .context("meson.build: no version")?
            .to_string(),
    };
    let src_path = dir.join("src/shared/seccomp-util.c");
    let src = std::fs::read_to_string(&src_path)
        .with_context(|| format!("{}: cannot read", src_path.display()))?;
    let list_path = dir.join("src/basic/syscall-list.txt");
    let known: Vec<String> = std::fs::read_to_string(&list_path)
        .with_context(|| format!("{}: cannot read", list_path.display()))?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let start = src
        .find("syscall_filter_sets[_SYSCALL_FILTER_SET_MAX] = {")
        .context("seccomp-util.c: no syscall_filter_sets table")?;
    let body = &src[start..];
    let end = body
        .find("\n};")
        .context("seccomp-util.c: table not closed")?;
    let body = &body[..end];
    let mut out = format!(
        "# SystemCallFilter= groups of systemd {version}, from src/shared/seccomp-util.c\n\
         # (syscall_filter_sets) and src/basic/syscall-list.txt (@known).\n\
         # Written by `cargo xtask gen-systemd-groups DIR`; one group a line:\n\
         # NAME<TAB>DESCRIPTION<TAB>MEMBERS (names and nested groups, space-separated).\n\
         version\t{version}\n"
    );
    let mut count = 0;
    for block in body.split("[SYSCALL_FILTER_SET_").skip(1) {
        let name = quoted_after(block, ".name =").context("a group without .name")?;
        let help = quoted_after(block, ".help =").context("a group without .help")?;
        let value = block
            .split_once(".value =")
            .map(|(_, v)| v)
            .with_context(|| format!("{name}: no .value"))?;
        let mut members = Vec::new();
        for line in value.lines() {
            let line = line.trim();
            if line.starts_with("#include \"syscall-list.h\"") {
                members.extend(known.iter().cloned());
                continue;
            }
            if line.starts_with('#') {
                bail!("{name}: preprocessor line in the group's value: {line}");
            }
            let mut rest = line;
            while let Some(i) = rest.find('"') {
                let after = &rest[i + 1..];
                let j = after
                    .find('"')
                    .with_context(|| format!("{name}: unterminated string"))?;
                let item = after[..j].trim_end_matches("\\0");
                if !item.is_empty() {
                    members.push(item.to_string());
                }
                rest = &after[j + 1..];
            }
        }
        writeln!(out, "{name}\t{help}\t{}", members.join(" "))?;
        count += 1;
    }
    if count == 0 {
        bail!("seccomp-util.c: no groups found");
    }
    let path = root().join(SYSTEMD_GROUPS);
    std::fs::write(&path, out).with_context(|| format!("{}: cannot write", path.display()))?;
    println!("{SYSTEMD_GROUPS}: {count} groups of systemd {version}");
    Ok(ExitCode::SUCCESS)
}

/// The string literal after `key` in `block`.
fn quoted_after(block: &str, key: &str) -> Option<String> {
    let rest = block.split_once(key)?.1;
    let start = rest.find('"')? + 1;
    let len = rest[start..].find('"')?;
    Some(rest[start..start + len].to_string())
}
