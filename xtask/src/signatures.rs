//! `cargo xtask gen-signatures KERNEL_SOURCE_DIR`: extracts every syscall's parameter names and
//! C types, per ABI, from a kernel source tree into `crates/syscalls/data/signatures.tsv`.
//!
//! For each ABI the syscall table names the entry point of every syscall (the 64-bit ABIs' native
//! `sys_*`; x32's own entries, x86's and arm's compat `compat_sys_*` where the table has one, as a
//! 64-bit kernel runs them). The entry point's parameters come from its `SYSCALL_DEFINEn` /
//! `COMPAT_SYSCALL_DEFINEn` (the definition, which always names its parameters), preferring the
//! ABI's own `arch/` directory over generic code, and from the `asmlinkage` prototypes of
//! `include/linux/syscalls.h`, `include/linux/compat.h` and `arch/*/include/asm/*.h` where no
//! definition exists. On the 32-bit ABIs a 64-bit parameter of a native entry point takes two
//! registers (`NAME_lo`, `NAME_hi`; ARM EABI starts such a pair at an even register).
//!
//! The output's widths are decided later, by `gen-syscalls`, from the C types (see
//! `crate::gen_signature_table`), so this step only records what the kernel declares.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// A `SYSCALL_DEFINEn` / `COMPAT_SYSCALL_DEFINEn` or `asmlinkage` prototype.
#[derive(Clone, Debug)]
struct Define {
    /// `sys_openat`, `compat_sys_ioctl`.
    entry: String,
    /// (C type, name) in order.
    params: Vec<(String, String)>,
    /// Path relative to the tree.
    path: String,
    /// The preprocessor conditions around it, innermost last.
    cond: String,
}

/// ABI -> the kernel's `arch/` directory of its definitions.
fn karch(abi: &str) -> &'static str {
    match abi {
        "x86_64" | "x86" | "x32" => "x86",
        "aarch64" => "arm64",
        // moat's arm tables are EABI; the entry points come from arm64's compat table, whose
        // compat_sys_aarch32_* wrappers spell the register pairs out.
        "arm" => "arm64",
        "riscv64" => "riscv",
        "ppc64le" => "powerpc",
        "s390x" => "s390",
        "loongarch64" => "loongarch",
        _ => "",
    }
}

/// Kconfig symbols that choose between alternative definitions, as each ABI's architecture
/// selects them (arch/*/Kconfig).
fn configs(abi: &str) -> &'static [&'static str] {
    match abi {
        // `select OLD_SIGSUSPEND3` in arch/x86/Kconfig (if X86_32 || IA32_EMULATION),
        // arch/arm/Kconfig, arch/arm64/Kconfig (COMPAT) and arch/s390/Kconfig.
        "x86" | "arm" | "s390x" => &["CONFIG_OLD_SIGSUSPEND3"],
        // arch/powerpc/Kconfig: `select OLD_SIGSUSPEND`.
        "ppc64le" => &["CONFIG_OLD_SIGSUSPEND"],
        _ => &[],
    }
}

/// Files whose definitions are alternatives for configurations no moat ABI uses.
fn ignored_path(path: &str) -> bool {
    const ARCHES: &[&str] = &[
        "x86",
        "arm64",
        "arm",
        "riscv",
        "powerpc",
        "s390",
        "loongarch",
    ];
    if let Some(rest) = path.strip_prefix("arch/")
        && let Some((dir, _)) = rest.split_once('/')
        && !ARCHES.contains(&dir)
    {
        return true;
    }
    path.starts_with("tools/")
        || path.starts_with("tools/")
        || path.starts_with("Documentation/")
        || path.starts_with("samples/")
        || path == "mm/nommu.c"
        || path == "kernel/time/posix-stubs.c"
}

/// Preprocessor conditions no moat ABI takes.
fn ignored_cond(cond: &str) -> bool {
    [
        "CONFIG_SPARC",
        "CONFIG_ALPHA",
        "CONFIG_MIPS",
        "__sparc__",
        "CONFIG_SUPERH",
    ]
    .iter()
    .any(|c| cond.contains(c))
}

fn walk(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        if ignored_path(&format!("{rel}/")) || ignored_path(&rel) {
            continue;
        }
        let ty = entry.file_type()?;
        if ty.is_dir() {
            walk(&path, root, out)?;
        } else if ty.is_file() && path.extension().is_some_and(|e| e == "c" || e == "h") {
            out.push(path);
        }
    }
    Ok(())
}

/// Splits at top-level commas.
fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for ch in s.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(normalize(&cur));
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    if !cur.trim().is_empty() {
        out.push(normalize(&cur));
    }
    out
}

/// Collapses whitespace and spaces out `*`: `const char __user *` -> `const char __user *`.
fn normalize(s: &str) -> String {
    let spaced = s.replace('*', " * ");
    let mut out = spaced.split_whitespace().collect::<Vec<_>>().join(" ");
    while out.contains("* *") {
        out = out.replace("* *", "**");
    }
    out
}

/// The text inside the parentheses that open at `open` (an index of `(` in `text`).
fn balanced(text: &str, open: usize) -> Option<&str> {
    let mut depth = 0;
    for (i, ch) in text[open..].char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return text.get(open + 1..open + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Removes `/* ... */` and `// ...` comments, keeping line breaks.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("/*") {
            let end = r.find("*/").map_or(r.len(), |e| e + 2);
            out.extend(r[..end.min(r.len())].chars().filter(|c| *c == '\n'));
            rest = &r[end.min(r.len())..];
        } else if let Some(r) = rest.strip_prefix("//") {
            let end = r.find('\n').unwrap_or(r.len());
            rest = &r[end..];
        } else {
            let ch = rest.chars().next().unwrap_or(' ');
            out.push(ch);
            rest = &rest[ch.len_utf8()..];
        }
    }
    out
}

/// The preprocessor condition stack at each line of a file.
fn conditions(text: &str) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(d) = t.strip_prefix('#') {
            let d = d.trim_start();
            if d.starts_with("if") {
                stack.push(d.to_string());
            } else if d.starts_with("elif") || d.starts_with("else") {
                let prev = stack.pop().unwrap_or_default();
                stack.push(format!("{prev} / {d}"));
            } else if d.starts_with("endif") {
                stack.pop();
            }
        }
        out.push(stack.join(" && "));
    }
    out
}

/// Expands the macros that stand for a 64-bit value in two 32-bit registers in definitions
/// (`SC_ARG64` of include/linux/syscalls.h, `compat_arg_u64_dual` of
/// include/asm-generic/compat.h, `arg_u32p` of arch/arm64/kernel/sys32.c), little-endian as
/// x86 and arm are.
fn expand(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    for a in args {
        let pair = ["arg_u32p(", "SC_ARG64(", "compat_arg_u64_dual("]
            .iter()
            .find_map(|m| a.strip_prefix(m))
            .and_then(|r| r.strip_suffix(')'));
        if let Some(n) = pair {
            let n = n.trim();
            out.extend([
                "u32".into(),
                format!("{n}_lo"),
                "u32".into(),
                format!("{n}_hi"),
            ]);
        } else {
            out.push(a);
        }
    }
    out
}

fn parse_defines(path: &str, text: &str, out: &mut Vec<Define>) -> anyhow::Result<()> {
    let text = strip_comments(text);
    let conds = conditions(&text);
    let mut line_starts = vec![0];
    line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    // SYSCALL32_DEFINEn is COMPAT_SYSCALL_DEFINEn where CONFIG_COMPAT is set
    // (include/linux/syscalls.h), the case of every 32-bit ABI moat models.
    for marker in ["SYSCALL_DEFINE", "SYSCALL32_DEFINE", "asmlinkage long "] {
        for (pos, _) in text.match_indices(marker) {
            let line = line_starts.partition_point(|&s| s <= pos) - 1;
            let line_text = &text[line_starts[line]..];
            let before = &line_text[..pos - line_starts[line]];
            let after = &text[pos + marker.len()..];
            if marker != "asmlinkage long " {
                // `SYSCALL_DEFINE3(` or `COMPAT_SYSCALL_DEFINE3(` at the start of a line.
                let compat = match (marker, before.trim()) {
                    ("SYSCALL_DEFINE", "") => false,
                    ("SYSCALL_DEFINE", "COMPAT_") | ("SYSCALL32_DEFINE", "") => true,
                    _ => continue,
                };
                let Some(n) = after.chars().next().and_then(|c| c.to_digit(10)) else {
                    continue;
                };
                if !after[1..].starts_with('(') {
                    continue;
                }
                let open = pos + marker.len() + 1;
                let inner = balanced(&text, open)
                    .with_context(|| format!("{path}:{}: unbalanced", line + 1))?;
                let args = expand(split_args(inner));
                let Some((name, rest)) = args.split_first() else {
                    continue;
                };
                if rest.len() % 2 != 0 {
                    bail!("{path}:{}: {name}: odd argument list", line + 1);
                }
                let params: Vec<(String, String)> = rest
                    .chunks(2)
                    .map(|c| (c[0].clone(), c[1].clone()))
                    .collect();
                if params.len() != usize::try_from(n)? {
                    bail!(
                        "{path}:{}: {name}: {} parameters for DEFINE{n}",
                        line + 1,
                        params.len()
                    );
                }
                let entry = format!("{}sys_{name}", if compat { "compat_" } else { "" });
                out.push(Define {
                    entry,
                    params,
                    path: path.to_string(),
                    cond: conds.get(line).cloned().unwrap_or_default(),
                });
            } else {
                if !before.trim().is_empty() {
                    continue;
                }
                // `asmlinkage long sys_NAME(...)` / `compat_sys_NAME(...)`.
                let ident: String = after
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !(ident.starts_with("sys_") || ident.starts_with("compat_sys_")) {
                    continue;
                }
                let open = pos + marker.len() + ident.len();
                if text.as_bytes().get(open) != Some(&b'(') {
                    continue;
                }
                let inner = balanced(&text, open)
                    .with_context(|| format!("{path}:{}: unbalanced", line + 1))?;
                let mut params = Vec::new();
                for p in split_args(inner) {
                    if p == "void" {
                        continue;
                    }
                    // `compat_arg_u64(pos)`: `u32 pos_lo, u32 pos_hi` (include/asm-generic/compat.h).
                    if let Some(n) = p
                        .strip_prefix("compat_arg_u64(")
                        .and_then(|r| r.strip_suffix(')'))
                    {
                        let n = n.trim();
                        params.push(("u32".to_string(), format!("{n}_lo")));
                        params.push(("u32".to_string(), format!("{n}_hi")));
                        continue;
                    }
                    params.push(split_decl(&p));
                }
                out.push(Define {
                    entry: ident,
                    params,
                    path: path.to_string(),
                    cond: conds.get(line).cloned().unwrap_or_default(),
                });
            }
        }
    }
    Ok(())
}

/// `const char __user * filename` -> (`const char __user *`, `filename`); an unnamed parameter
/// (`int`) keeps an empty name.
fn split_decl(p: &str) -> (String, String) {
    const TYPE_WORDS: &[&str] = &[
        "int", "long", "short", "char", "unsigned", "signed", "const", "__user", "*", "**",
        "struct", "union", "enum", "void",
    ];
    let words: Vec<&str> = p.split(' ').collect();
    match words.split_last() {
        Some((last, rest))
            if !(rest.is_empty()
                || TYPE_WORDS.contains(last)
                || (rest.len() == 1 && ["struct", "union", "enum"].contains(&rest[0]))) =>
        {
            (rest.join(" "), (*last).to_string())
        }
        _ => (p.to_string(), String::new()),
    }
}

/// One table line: number, ABI column, name, native entry, compat entry.
struct TblEntry {
    abi: String,
    name: String,
    native: String,
    compat: Option<String>,
}

fn read_tbl(path: &Path) -> anyhow::Result<Vec<TblEntry>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        // A line without an entry point (or with `-`) reserves a number the kernel does not
        // implement: it answers ENOSYS without reading any argument.
        let native = f
            .get(3)
            .filter(|e| **e != "-")
            .map_or("sys_ni_syscall", |e| *e);
        out.push(TblEntry {
            abi: f[1].to_string(),
            name: f[2].to_string(),
            native: native.to_string(),
            compat: f.get(4).filter(|c| **c != "-").map(|c| (*c).to_string()),
        });
    }
    Ok(out)
}

/// The entry point the kernel runs for each syscall name of an ABI.
fn entries(src: &Path, abi: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let (tbl, abis, compat): (&str, &[&str], bool) = match abi {
        "x86_64" => (
            "arch/x86/entry/syscalls/syscall_64.tbl",
            &["common", "64"],
            false,
        ),
        "x32" => (
            "arch/x86/entry/syscalls/syscall_64.tbl",
            &["common", "x32"],
            false,
        ),
        "x86" => ("arch/x86/entry/syscalls/syscall_32.tbl", &["i386"], true),
        "arm" => ("arch/arm64/tools/syscall_32.tbl", &["common"], true),
        "aarch64" => (
            "scripts/syscall.tbl",
            &["common", "64", "renameat", "rlimit", "memfd_secret"],
            false,
        ),
        "riscv64" => (
            "scripts/syscall.tbl",
            &["common", "64", "riscv", "rlimit", "memfd_secret"],
            false,
        ),
        "loongarch64" => (
            "scripts/syscall.tbl",
            &["common", "64", "memfd_secret"],
            false,
        ),
        "ppc64le" => (
            "arch/powerpc/kernel/syscalls/syscall.tbl",
            &["common", "64", "nospu"],
            false,
        ),
        "s390x" => (
            "arch/s390/kernel/syscalls/syscall.tbl",
            &["common", "64"],
            false,
        ),
        other => bail!("no syscall table for {other}"),
    };
    let mut out = BTreeMap::new();
    for e in read_tbl(&src.join(tbl))? {
        if !abis.contains(&e.abi.as_str()) {
            continue;
        }
        // x32's own entries (abi "x32") are compat entry points in the native column.
        let entry = if compat {
            e.compat.clone().unwrap_or(e.native)
        } else {
            e.native
        };
        // x32: an x32 entry replaces the common entry of the same name (none do today).
        if abi == "x32" && e.abi == "common" && out.contains_key(&e.name) {
            continue;
        }
        out.insert(e.name, entry);
    }
    Ok(out)
}

/// 64-bit C types: on a 32-bit ABI such a parameter takes two registers.
fn is_64bit_type(t: &str) -> bool {
    matches!(
        t,
        "loff_t" | "u64" | "__u64" | "s64" | "__s64" | "long long" | "unsigned long long"
    )
}

fn pick<'a>(
    abi: &str,
    name: &str,
    entry: &str,
    defs: &'a BTreeMap<String, Vec<Define>>,
) -> anyhow::Result<Option<&'a Define>> {
    let Some(cands) = defs.get(entry) else {
        return Ok(None);
    };
    let arch_dir = format!("arch/{}/", karch(abi));
    let own: Vec<&Define> = cands
        .iter()
        .filter(|d| d.path.starts_with(&arch_dir) && !ignored_cond(&d.cond))
        .collect();
    let generic: Vec<&Define> = cands
        .iter()
        .filter(|d| !d.path.starts_with("arch/") && !ignored_cond(&d.cond))
        .collect();
    let pool = if own.is_empty() { generic } else { own };
    // Definitions first, prototypes (headers) only where no definition exists.
    let defines: Vec<&Define> = pool
        .iter()
        .copied()
        .filter(|d| d.path.ends_with(".c"))
        .collect();
    let pool = if defines.is_empty() { pool } else { defines };
    if entry == "sys_clone" {
        // kernel/fork.c: one definition per CONFIG_CLONE_BACKWARDS* choice. arch/arm, arm64,
        // powerpc and riscv select CLONE_BACKWARDS, s390 CLONE_BACKWARDS2; x86 selects
        // CLONE_BACKWARDS only for X86_32 (i386 runs compat_sys_ia32_clone instead), and
        // loongarch selects none (arch/*/Kconfig).
        let last = |d: &Define| d.cond.rsplit(" && ").next().unwrap_or("").to_string();
        return Ok(pool.iter().copied().find(|d| match abi {
            "x86_64" | "x32" | "loongarch64" => last(d).ends_with("/ else"),
            "s390x" => last(d).ends_with("defined(CONFIG_CLONE_BACKWARDS2)"),
            _ => last(d) == "ifdef CONFIG_CLONE_BACKWARDS",
        }));
    }
    let Some(first) = pool.first() else {
        return Ok(None);
    };
    // Alternatives chosen by a Kconfig symbol the ABI's architecture selects.
    let chosen: Vec<&Define> = pool
        .iter()
        .copied()
        .filter(|d| {
            configs(abi)
                .iter()
                .any(|c| d.cond.rsplit(" && ").next().unwrap_or("").ends_with(c))
        })
        .collect();
    if chosen.len() == 1 {
        return Ok(chosen.first().copied());
    }
    // Header prototypes may leave names out; keep the one that names most.
    if pool.iter().any(|d| {
        d.params
            .iter()
            .map(|p| &p.0)
            .ne(first.params.iter().map(|p| &p.0))
    }) {
        let list: Vec<String> = pool
            .iter()
            .map(|d| format!("{} [{}]", d.path, d.cond))
            .collect();
        bail!(
            "{abi} {name}: {entry} has differing definitions: {}",
            list.join(", ")
        );
    }
    Ok(pool
        .iter()
        .copied()
        .max_by_key(|d| d.params.iter().filter(|p| !p.1.is_empty()).count()))
}

/// The parameters as the ABI's registers carry them.
fn registers(abi: &str, d: &Define) -> Vec<(String, String)> {
    let compat32 = matches!(abi, "x86" | "arm");
    if !compat32 {
        return d.params.clone();
    }
    let mut out = Vec::new();
    for (t, n) in &d.params {
        if is_64bit_type(t) {
            // ARM EABI passes a 64-bit value in an even/odd register pair.
            if abi == "arm" && out.len() % 2 == 1 {
                out.push(("u32".to_string(), "__pad".to_string()));
            }
            out.push(("u32".to_string(), format!("{n}_lo")));
            out.push(("u32".to_string(), format!("{n}_hi")));
        } else {
            out.push((t.clone(), n.clone()));
        }
    }
    out
}

pub(crate) const OUTPUT: &str = "crates/syscalls/data/signatures.tsv";

/// Extracts the signatures; returns the file's text.
pub(crate) fn extract(
    src: &Path,
    abis: &[&str],
    known: &dyn Fn(&str) -> Vec<String>,
) -> anyhow::Result<String> {
    let makefile = std::fs::read_to_string(src.join("Makefile"))
        .with_context(|| format!("{}: no Makefile", src.display()))?;
    let field = |k: &str| {
        makefile
            .lines()
            .find_map(|l| {
                l.strip_prefix(k)
                    .map(|r| r.trim_start_matches([' ', '=']).trim().to_string())
            })
            .unwrap_or_default()
    };
    let version = format!(
        "{}.{}.{}",
        field("VERSION"),
        field("PATCHLEVEL"),
        field("SUBLEVEL")
    );
    let mut files = Vec::new();
    walk(src, src, &mut files)?;
    files.sort();
    let mut all = Vec::new();
    for f in &files {
        let text = std::fs::read(f)?;
        let text = String::from_utf8_lossy(&text);
        if !["SYSCALL_DEFINE", "SYSCALL32_DEFINE", "asmlinkage long "]
            .iter()
            .any(|m| text.contains(m))
        {
            continue;
        }
        let rel = f
            .strip_prefix(src)
            .unwrap_or(f)
            .to_string_lossy()
            .into_owned();
        parse_defines(&rel, &text, &mut all)?;
    }
    let mut defs: BTreeMap<String, Vec<Define>> = BTreeMap::new();
    for d in all {
        defs.entry(d.entry.clone()).or_default().push(d);
    }
    // (name, entry, params) -> ABIs
    let mut rows: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for &abi in abis {
        let table = entries(src, abi)?;
        for name in known(abi) {
            let Some(entry) = table.get(&name) else {
                problems.push(format!("{abi} {name}: not in the kernel's syscall table"));
                continue;
            };
            let key_entry = entry.trim_start_matches("__");
            let params = if matches!(key_entry, "sys_ni_syscall" | "compat_sys_ni_syscall") {
                // Recorded with its entry point: the kernel reads no argument.
                Some(Vec::new())
            } else {
                match pick(abi, &name, key_entry, &defs)? {
                    Some(d) => Some(registers(abi, d)),
                    None => {
                        problems.push(format!("{abi} {name}: no definition of {entry}"));
                        None
                    }
                }
            };
            let Some(params) = params else { continue };
            if params.iter().any(|(_, n)| n.is_empty()) {
                problems.push(format!("{abi} {name}: {entry} has an unnamed parameter"));
            }
            let text = params
                .iter()
                .map(|(t, n)| format!("{t} {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            rows.entry((name, entry.clone(), text))
                .or_default()
                .push(abi.to_string());
        }
    }
    let mut out = String::new();
    writeln!(
        out,
        "# Syscall parameters of Linux {version}, per ABI: NAME<TAB>ABIS<TAB>ENTRY<TAB>PARAMETERS\n\
         # (C type and name, in register order). Written by `cargo xtask gen-signatures DIR` from the\n\
         # kernel source tree of that release (SYSCALL_DEFINEs, COMPAT_SYSCALL_DEFINEs and asmlinkage\n\
         # prototypes, entry points from the ABIs' syscall tables); read by `cargo xtask gen-syscalls`.\n\
         # Do not edit by hand: additions belong in signature-extras.tsv, narrower widths in\n\
         # effective-widths.csv."
    )?;
    writeln!(out, "kernel\t{version}")?;
    for ((name, entry, params), abis) in &rows {
        writeln!(out, "{name}\t{}\t{entry}\t{params}", abis.join(" "))?;
    }
    for p in &problems {
        eprintln!("gen-signatures: {p}");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"
/* a comment with SYSCALL_DEFINE1(fake, int, x) in it */
SYSCALL_DEFINE3(write, unsigned int, fd, const char __user *, buf,
		size_t, count)
{
}
#ifdef CONFIG_CLONE_BACKWARDS
SYSCALL_DEFINE5(clone, unsigned long, clone_flags, unsigned long, newsp,
		 int __user *, parent_tidptr, unsigned long, tls, int __user *, child_tidptr)
#elif defined(CONFIG_CLONE_BACKWARDS2)
SYSCALL_DEFINE5(clone, unsigned long, newsp, unsigned long, clone_flags,
		 int __user *, parent_tidptr, int __user *, child_tidptr, unsigned long, tls)
#else
SYSCALL_DEFINE5(clone, unsigned long, clone_flags, unsigned long, newsp,
		 int __user *, parent_tidptr, int __user *, child_tidptr, unsigned long, tls)
#endif
COMPAT_SYSCALL_DEFINE3(truncate64, const char __user *, pathname,
		       compat_arg_u64_dual(length))
SYSCALL32_DEFINE6(fanotify_mark, int, fanotify_fd, unsigned int, flags,
		  SC_ARG64(mask), int, dfd, const char __user *, pathname)
#define SYSCALL_DEFINE0(sname) nothing
asmlinkage long sys_socket(int, int, int);
asmlinkage long sys_kill(pid_t pid, int sig);
"#;

    fn defs() -> BTreeMap<String, Vec<Define>> {
        let mut all = Vec::new();
        parse_defines("kernel/x.c", SOURCE, &mut all).unwrap();
        let mut defs: BTreeMap<String, Vec<Define>> = BTreeMap::new();
        for d in all {
            defs.entry(d.entry.clone()).or_default().push(d);
        }
        defs
    }

    fn names(d: &Define) -> Vec<&str> {
        d.params.iter().map(|p| p.1.as_str()).collect()
    }

    #[test]
    fn definitions_prototypes_and_pair_macros() {
        let defs = defs();
        assert!(!defs.contains_key("sys_fake"), "comments are skipped");
        assert!(
            !defs.contains_key("sys_sname"),
            "macro definitions are skipped"
        );
        let write = &defs["sys_write"][0];
        assert_eq!(
            write.params[1],
            ("const char __user *".into(), "buf".into())
        );
        assert_eq!(names(write), ["fd", "buf", "count"]);
        let t = &defs["compat_sys_truncate64"][0];
        assert_eq!(names(t), ["pathname", "length_lo", "length_hi"]);
        let f = &defs["compat_sys_fanotify_mark"][0];
        assert_eq!(
            names(f),
            [
                "fanotify_fd",
                "flags",
                "mask_lo",
                "mask_hi",
                "dfd",
                "pathname"
            ]
        );
        assert_eq!(
            defs["sys_socket"][0].params[0],
            ("int".into(), String::new())
        );
        assert_eq!(names(&defs["sys_kill"][0]), ["pid", "sig"]);
    }

    #[test]
    fn clone_follows_the_abis_kconfig() {
        let defs = defs();
        let order = |abi| names(pick(abi, "clone", "sys_clone", &defs).unwrap().unwrap());
        assert_eq!(order("aarch64")[3], "tls");
        assert_eq!(order("s390x")[0], "newsp");
        assert_eq!(order("x86_64")[4], "tls");
        assert_eq!(order("loongarch64")[4], "tls");
    }

    #[test]
    fn wide_values_take_register_pairs_on_32_bit_abis() {
        let d = Define {
            entry: "sys_pread64".into(),
            params: vec![
                ("unsigned int".into(), "fd".into()),
                ("char __user *".into(), "buf".into()),
                ("size_t".into(), "count".into()),
                ("loff_t".into(), "pos".into()),
            ],
            path: "fs/read_write.c".into(),
            cond: String::new(),
        };
        let names = |abi| -> Vec<String> { registers(abi, &d).into_iter().map(|p| p.1).collect() };
        assert_eq!(names("x86_64"), ["fd", "buf", "count", "pos"]);
        assert_eq!(names("x86"), ["fd", "buf", "count", "pos_lo", "pos_hi"]);
        assert_eq!(
            names("arm"),
            ["fd", "buf", "count", "__pad", "pos_lo", "pos_hi"]
        );
    }
}
