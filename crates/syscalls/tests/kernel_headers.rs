//! Cross-checks the generated signatures (extracted from the `SYSCALL_DEFINE`s of Linux 6.12)
//! against an independent source: the `asmlinkage` prototypes of the kernel headers Debian's
//! `linux-headers-amd64` installs (Linux 6.1, `include/linux/syscalls.h` and
//! `include/linux/compat.h`). For every prototype that names all its parameters, the syscalls
//! whose entry point it declares must take as many parameters, each of a type of the same size.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::BTreeMap;
use std::path::PathBuf;

use moat_syscalls::{Arch, entry_point, signature};

/// `/usr/src/linux-headers-*-common`, newest first.
fn header_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/src")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("linux-headers-") && n.ends_with("-common"))
        })
        .collect();
    dirs.sort();
    dirs.pop()
}

/// Bits the kernel reads of a parameter of C type `ty` on x86_64: the header's types, sized as
/// include/linux/types.h and include/uapi/asm-generic/posix_types.h declare them.
fn bits(ty: &str) -> Option<u8> {
    if ty.contains('*') {
        return Some(64);
    }
    let ty = ty.trim_start_matches("const ").trim();
    match ty {
        "umode_t" | "old_uid_t" | "old_gid_t" | "compat_mode_t" => Some(16),
        "long" | "unsigned long" | "size_t" | "loff_t" | "off_t" | "u64" | "__u64" | "s64"
        | "aio_context_t" | "old_sigset_t" | "cap_user_header_t" | "cap_user_data_t"
        | "__sighandler_t" | "uintptr_t" => Some(64),
        "int"
        | "unsigned int"
        | "unsigned"
        | "u32"
        | "__u32"
        | "__s32"
        | "pid_t"
        | "uid_t"
        | "gid_t"
        | "qid_t"
        | "key_serial_t"
        | "key_t"
        | "mqd_t"
        | "clockid_t"
        | "timer_t"
        | "rwf_t"
        | "enum landlock_rule_type" => Some(32),
        t if t.starts_with("compat_") => Some(32),
        _ => None,
    }
}

/// `asmlinkage long NAME(TYPE NAME, ...);` -> NAME -> [(type, name)]; prototypes with an
/// unnamed parameter or a macro in the list are left out, and so are names declared twice
/// (alternatives under `#if`, such as fanotify_mark's `CONFIG_ARCH_SPLIT_ARG64` pair).
fn prototypes(text: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out = BTreeMap::new();
    let mut twice = Vec::new();
    for (start, _) in text.match_indices("asmlinkage long ") {
        let rest = &text[start + "asmlinkage long ".len()..];
        let Some(open) = rest.find('(') else { continue };
        let name = rest[..open].trim().to_string();
        let Some(close) = rest.find(");") else {
            continue;
        };
        let list = rest[open + 1..close].replace(['\n', '\t'], " ");
        if list.contains('(') || name.contains(' ') {
            continue;
        }
        let mut params = Vec::new();
        let mut named = true;
        for p in list
            .split(',')
            .map(str::trim)
            .filter(|p| *p != "void" && !p.is_empty())
        {
            let p = p.replace('*', " * ");
            let words: Vec<&str> = p.split_whitespace().collect();
            let Some((last, ty)) = words.split_last() else {
                continue;
            };
            const TYPE_WORDS: &[&str] = &["*", "int", "long", "short", "char", "unsigned", "void"];
            if ty.is_empty() || TYPE_WORDS.contains(last) || bits(last).is_some() {
                named = false;
            }
            params.push((ty.join(" ").replace("* *", "**"), (*last).to_string()));
        }
        if out.contains_key(&name) {
            twice.push(name.clone());
        }
        if named {
            out.insert(name, params);
        }
    }
    for n in twice {
        out.remove(&n);
    }
    out
}

#[test]
fn signatures_agree_with_the_headers_prototypes() {
    let Some(dir) = header_dir() else {
        let _ = moat_testkit::require(
            false,
            "no /usr/src/linux-headers-*-common (install linux-headers-amd64)",
        );
        return;
    };
    let mut protos = BTreeMap::new();
    for file in ["include/linux/syscalls.h", "include/linux/compat.h"] {
        let path = dir.join(file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        protos.extend(prototypes(&text));
    }
    assert!(
        protos.len() > 300,
        "parsed only {} prototypes",
        protos.len()
    );
    let (mut compared, mut problems) = (0, Vec::new());
    for arch in [Arch::X86_64, Arch::X86, Arch::X32] {
        for sc in arch.syscalls() {
            let (Some(entry), Some(sig)) = (entry_point(arch, sc.name), signature(arch, sc.name))
            else {
                continue;
            };
            let Some(proto) = protos.get(entry) else {
                continue;
            };
            // A prototype whose types this test cannot size says nothing.
            let Some(want) = proto
                .iter()
                .map(|(t, _)| bits(t))
                .collect::<Option<Vec<u8>>>()
            else {
                continue;
            };
            let want: Vec<u8> = if arch.is_compat32() {
                // Every register is 32-bit; a 64-bit value would take two.
                if proto
                    .iter()
                    .any(|(t, _)| !t.contains('*') && bits(t) == Some(64))
                {
                    continue;
                }
                want.iter().map(|b| (*b).min(32)).collect()
            } else {
                want
            };
            // The declared types must agree; the bits read may be fewer than declared
            // (data/effective-widths.csv), never more.
            let Some(got) = sig
                .iter()
                .map(|p| bits(p.c_type).map(|b| if arch.is_compat32() { b.min(32) } else { b }))
                .collect::<Option<Vec<u8>>>()
            else {
                problems.push(format!("{arch} {}: a type this test cannot size", sc.name));
                continue;
            };
            for (p, declared) in sig.iter().zip(&got) {
                assert!(p.bits <= *declared, "{arch} {} {}", sc.name, p.name);
            }
            compared += 1;
            if got != want {
                problems.push(format!(
                    "{arch} {} ({entry}): {got:?}, header {want:?}",
                    sc.name
                ));
            }
        }
    }
    eprintln!("{compared} signatures compared with {}", dir.display());
    assert!(compared > 500, "compared only {compared} signatures");
    assert!(
        problems.is_empty(),
        "{} differ:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
