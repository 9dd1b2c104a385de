//! Cross-checks the generated x86 tables against an independent source: the kernel UAPI headers
//! Debian's `linux-libc-dev` installs (Linux 6.1, always present where a C toolchain is).
//! Every `__NR_*` of the headers must be in moat's table with the same number, and every moat
//! entry the 6.1 kernel already had must be in the headers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::BTreeMap;

use moat_syscalls::Arch;

mod common;

const HEADERS: &str = "/usr/include/x86_64-linux-gnu/asm";

/// `#define __NR_name N` or `#define __NR_name (__X32_SYSCALL_BIT + N)`.
fn parse(file: &str) -> BTreeMap<String, u32> {
    let path = format!("{HEADERS}/{file}");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (install linux-libc-dev)"));
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("#define __NR_") else {
            continue;
        };
        let Some((name, value)) = rest.split_once(char::is_whitespace) else {
            continue;
        };
        let value = value.trim();
        let nr = match value.strip_prefix("(__X32_SYSCALL_BIT + ") {
            Some(n) => 0x4000_0000 | n.trim_end_matches(')').parse::<u32>().unwrap(),
            None => value.parse().unwrap(),
        };
        out.insert(name.to_owned(), nr);
    }
    assert!(out.len() > 300, "{path}: parsed only {} entries", out.len());
    out
}

fn compare(arch: Arch, file: &str) {
    common::compare(arch, &parse(file));
}

#[test]
fn x86_64_matches_uapi_headers() {
    compare(Arch::X86_64, "unistd_64.h");
}

#[test]
fn x86_matches_uapi_headers() {
    compare(Arch::X86, "unistd_32.h");
}

#[test]
fn x32_matches_uapi_headers() {
    compare(Arch::X32, "unistd_x32.h");
}
