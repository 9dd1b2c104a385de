//! Cross-checks the aarch64, arm, riscv64, ppc64le and s390x tables against the kernel UAPI
//! headers of Debian's `linux-libc-dev-*-cross` packages (Linux 6.1; `scripts/test` installs
//! them). The headers are run through the C preprocessor (`cpp -dM`) and every `__NR_*` /
//! `__ARM_NR_*` macro is evaluated. Every header entry must be in moat's table with the same
//! number, and every moat entry the 6.1 kernel already had must be in the headers.
//!
//! This is an independent check of the generated tables: the numbers come from the `syscalls`
//! crate and `data/abi-extras.csv`, not from these headers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::BTreeMap;
use std::process::Command;

use moat_syscalls::Arch;

mod common;

/// Macros that are not syscalls.
const NOT_SYSCALLS: &[&str] = &[
    "syscalls",
    "SYSCALL_BASE",
    "OABI_SYSCALL_BASE",
    "SYSCALL_MASK",
    "arch_specific_syscall",
    "BASE",
];

fn macros(arch: Arch, include: &str, defines: &[&str]) -> BTreeMap<String, String> {
    let dir =
        std::env::temp_dir().join(format!("moat-cross-headers-{}-{arch}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("t.c");
    std::fs::write(&source, "#include <asm/unistd.h>\n").unwrap();
    let out = Command::new("cpp")
        .args(["-dM", "-nostdinc", "-I", include])
        .args(defines)
        .arg(&source)
        .output()
        .expect("run cpp");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "cpp failed for {include} (install linux-libc-dev-*-cross, see scripts/test): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("#define "))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// Evaluates `123`, `0x0f0000`, `NAME`, `(A + 15)`, `(A+B)`.
fn eval(defs: &BTreeMap<String, String>, value: &str, depth: u32) -> Option<u64> {
    assert!(depth < 16, "macro recursion at {value}");
    let v = value.trim().trim_start_matches('(').trim_end_matches(')');
    let mut sum = 0u64;
    for term in v.split('+') {
        let t = term.trim().trim_end_matches("UL").trim_end_matches('U');
        sum += if let Some(hex) = t.strip_prefix("0x") {
            u64::from_str_radix(hex, 16).ok()?
        } else if t.bytes().all(|b| b.is_ascii_digit()) && !t.is_empty() {
            t.parse().ok()?
        } else {
            eval(defs, defs.get(t)?, depth + 1)?
        };
    }
    Some(sum)
}

fn header_table(arch: Arch, include: &str, defines: &[&str]) -> BTreeMap<String, u32> {
    let defs = macros(arch, include, defines);
    let mut out = BTreeMap::new();
    for (name, value) in &defs {
        let Some(short) = name
            .strip_prefix("__NR_")
            .or_else(|| name.strip_prefix("__ARM_NR_"))
        else {
            continue;
        };
        // `#define __NR_sync_file_range2 __NR_arm_sync_file_range` is an alias, not a syscall.
        if NOT_SYSCALLS.contains(&short) || value.starts_with("__NR_") {
            continue;
        }
        let nr = eval(&defs, value, 0)
            .unwrap_or_else(|| panic!("{arch}: cannot evaluate {name} {value}"));
        out.insert(short.to_owned(), u32::try_from(nr).unwrap());
    }
    assert!(
        out.len() > 250,
        "{arch}: parsed only {} syscalls from {include}",
        out.len()
    );
    out
}

fn compare(arch: Arch, include: &str, defines: &[&str]) {
    common::compare(arch, &header_table(arch, include, defines));
}

#[test]
fn aarch64_matches_uapi_headers() {
    compare(
        Arch::Aarch64,
        "/usr/aarch64-linux-gnu/include",
        &["-D__aarch64__", "-D__LP64__"],
    );
}

#[test]
fn arm_eabi_matches_uapi_headers() {
    compare(
        Arch::Arm,
        "/usr/arm-linux-gnueabihf/include",
        &["-D__arm__", "-D__ARM_EABI__"],
    );
}

#[test]
fn riscv64_matches_uapi_headers() {
    compare(
        Arch::Riscv64,
        "/usr/riscv64-linux-gnu/include",
        &["-D__riscv", "-D__LP64__", "-D__riscv_xlen=64"],
    );
}

#[test]
fn ppc64le_matches_uapi_headers() {
    compare(
        Arch::Ppc64le,
        "/usr/powerpc64le-linux-gnu/include",
        &["-D__powerpc64__", "-D__LITTLE_ENDIAN__"],
    );
}

#[test]
fn s390x_matches_uapi_headers() {
    compare(
        Arch::S390x,
        "/usr/s390x-linux-gnu/include",
        &["-D__s390x__"],
    );
}
