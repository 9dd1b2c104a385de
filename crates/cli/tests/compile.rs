//! `moat compile` end to end: formats, atomic output, report, errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{moat, stderr};
use std::path::PathBuf;

use moat::bpf::{Program, SeccompData, emu};
use moat::policy::{Context, Policy};
use moat::syscalls::Arch;

/// `name` in a directory of its own for `test`: tests run in parallel, and one test's
/// `.tmp` file (atomic output in progress) must not show up in another's directory listing.
fn tmp(test: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moat-compile-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn raw_output_is_the_program_and_means_the_policy() {
    let out = tmp("raw_output", "container.bpf");
    let o = moat(&["compile", "container", "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let p = Program::from_bytes(&std::fs::read(&out).unwrap()).unwrap();
    let policy = Policy::builtin("container").unwrap().unwrap();
    let ctx = Context::default();
    for arch in [Arch::X86_64, Arch::X86, Arch::X32, Arch::Aarch64] {
        for nr in (0..600).chain([arch.nr_bias() + 1, u32::MAX]) {
            let nr = nr + if nr < 600 { arch.nr_bias() } else { 0 };
            for a0 in [
                0u64,
                8,
                0x0040_0000,
                0xffff_ffff,
                0x1_0000_0000,
                40,
                0x7e0_0000_0080,
            ] {
                let args = [a0, 0x5412, 0, 0, 0, 0];
                let got = emu::run(&p, &SeccompData::new(arch.audit_arch(), nr, args)).ret;
                let want = policy
                    .evaluate(&ctx, arch.audit_arch(), nr, args)
                    .action
                    .to_ret();
                assert_eq!(got, want, "{arch} {nr} {a0:#x}");
            }
        }
    }
}

#[test]
fn every_builtin_reports() {
    for b in moat::policy::builtins() {
        let o = moat(&["compile", b.name, "--report"]);
        assert!(o.status.success(), "{}: {}", b.name, stderr(&o));
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(text.starts_with("program: "), "{text}");
        assert!(text.contains("cached by the kernel ("), "{text}");
        assert!(text.contains("run the filter ("), "{text}");
        assert!(text.contains("\nvalidated exactly: "), "{text}");
    }
    let o = moat(&["compile", "--arch", "x86_64,x32", "container", "--report"]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("\nx32: "), "{text}");
    assert!(text.contains("cached by the kernel: none"), "{text}");
}

#[test]
fn json_report_carries_the_numbers_of_the_text_report() {
    let args = ["compile", "--arch", "x86_64,x86,x32", "container"];
    let text = String::from_utf8(moat(&[&args[..], &["--report"]].concat()).stdout).unwrap();
    let o = moat(&[&args[..], &["--report=json"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(text.starts_with(&format!("program: {} instructions", v["instructions"])));
    let abis = v["abis"].as_array().unwrap();
    assert_eq!(abis.len(), 3);
    for a in abis {
        let arch = a["arch"].as_str().unwrap();
        let head = format!(
            "{arch}: {} intervals, search depth {}, bound without argument checks {} instructions",
            a["intervals"], a["depth"], a["bound"]
        );
        assert!(text.contains(&head), "{head}\n{text}");
        let cached = a["cached"].as_array().unwrap().len();
        if arch == "x32" {
            assert_eq!(cached, 0);
        } else {
            assert!(
                text.contains(&format!("cached by the kernel ({cached})")),
                "{arch}"
            );
        }
        let filtered = a["filtered"].as_array().unwrap();
        let line = format!(
            "run the filter ({}): mean {:.1}, worst {} instructions ({} without argument checks)",
            filtered.len(),
            a["mean"].as_f64().unwrap(),
            a["worst"],
            a["worst_without_args"]
        );
        assert!(text.contains(&line), "{line}");
        let worst = filtered.iter().map(|f| f["worst"].as_u64().unwrap()).max();
        assert_eq!(worst, a["worst"].as_u64());
    }
    let paths = v["validated"]["paths"].as_u64().unwrap();
    assert!(
        text.contains(&format!("validated exactly: {paths} paths")),
        "{text}"
    );
    assert!(v["compile_ms"].as_f64().unwrap() > 0.0);
    // The value needs `=`: `--report json` would read `json` as the policy.
    let o = moat(&["compile", "--report", "json"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn text_formats_carry_the_same_instructions() {
    let raw = moat(&["compile", "strict", "--format", "raw"]).stdout;
    let p = Program::from_bytes(&raw).unwrap();
    let hex = String::from_utf8(moat(&["compile", "strict", "--format", "hex"]).stdout).unwrap();
    assert_eq!(hex.lines().count(), p.len());
    let first: String = raw[..8].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex.lines().next().unwrap(), first);
    let c = String::from_utf8(moat(&["compile", "strict", "--format", "c"]).stdout).unwrap();
    assert!(c.contains("struct sock_filter moat_filter[]"));
    assert_eq!(c.matches("\t{ 0x").count(), p.len());
    let rust = String::from_utf8(moat(&["compile", "strict", "--format", "rust"]).stdout).unwrap();
    assert!(rust.contains(&format!("[libc::sock_filter; {}]", p.len())));
    let dis = String::from_utf8(moat(&["compile", "strict", "--format", "disasm"]).stdout).unwrap();
    let back = moat::bpf::asm::assemble(&dis).unwrap();
    assert_eq!(back.insns(), p.insns());
}

#[test]
fn weights_change_the_layout_not_the_meaning() {
    let w = tmp("weights", "weights.txt");
    std::fs::write(&w, "# hot\npersonality 1000000\nread 5\n").unwrap();
    let plain = moat(&["compile", "container", "--arch", "x86_64"]).stdout;
    let o = moat(&[
        "compile",
        "container",
        "--arch",
        "x86_64",
        "--weights",
        w.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (a, b) = (
        Program::from_bytes(&plain).unwrap(),
        Program::from_bytes(&o.stdout).unwrap(),
    );
    let personality = Arch::X86_64.by_name("personality").unwrap().nr;
    let d = SeccompData::new(Arch::X86_64.audit_arch(), personality, [0; 6]);
    let (ra, rb) = (emu::run(&a, &d), emu::run(&b, &d));
    assert_eq!(ra.ret, rb.ret);
    assert!(
        rb.executed < ra.executed,
        "{} vs {}",
        rb.executed,
        ra.executed
    );
}

#[test]
fn errors_are_one_line_exit_2_and_leave_no_file() {
    let out = tmp("errors", "never.bpf");
    let bad = tmp("errors", "bad.moat");
    std::fs::write(&bad, "default allow\ndeny personality if persona = 3\n").unwrap();
    let o = moat(&[
        "compile",
        bad.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("bad.moat:2:29:"), "{e}");
    assert!(!out.exists());

    // Too long: the error names the rule, and an existing output file is left untouched.
    std::fs::write(&out, b"old").unwrap();
    let values: Vec<String> = (0..2100u64)
        .map(|v| format!("{:#x}", v * 0x1_0000_0003))
        .collect();
    let long = tmp("errors", "long.moat");
    std::fs::write(
        &long,
        format!(
            "default allow\narch x86_64\ndeny mmap if arg1 in {{{}}}\n",
            values.join(", ")
        ),
    )
    .unwrap();
    let o = moat(&[
        "compile",
        long.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("long.moat:3:1: program needs"), "{e}");
    assert_eq!(std::fs::read(&out).unwrap(), b"old");

    let w = tmp("errors", "badweights.txt");
    std::fs::write(&w, "read ten\n").unwrap();
    let o = moat(&["compile", "container", "--weights", w.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("badweights.txt:1:6: `ten` is not a count"),
        "{}",
        stderr(&o)
    );

    for args in [
        &["compile", "nope"][..],
        &["compile", "container", "--arch", "sparc"][..],
        &["compile", "container", "--kernel", "five"][..],
        &["compile", "container", "--caps", "CAP_NOPE"][..],
    ] {
        let o = moat(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(stderr(&o).lines().count(), 1, "{args:?}: {}", stderr(&o));
    }
    // No temporary files are left behind.
    let dir = out.parent().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "{name}");
    }
}

/// s390x kernels load `struct sock_filter` big-endian: raw output for `--arch s390x` is, and
/// `moat disasm --arch s390x` reads it back; mixing byte orders needs `--byte-order`.
#[test]
fn s390x_raw_output_is_big_endian() {
    let out = tmp("s390x_raw", "s390x.bpf");
    let o = moat(&[
        "compile",
        "container",
        "--arch",
        "s390x",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&out).unwrap();
    // The first instruction is `LD W ABS 4` (arch): code 0x0020, k 4, most significant first.
    assert_eq!(bytes[..8], [0x00, 0x20, 0, 0, 0, 0, 0, 4]);
    let p = Program::from_bytes_in(&bytes, moat::bpf::ByteOrder::Big).unwrap();
    let little = moat(&[
        "compile",
        "container",
        "--arch",
        "s390x",
        "--byte-order",
        "little",
    ]);
    assert!(little.status.success(), "{}", stderr(&little));
    assert_eq!(Program::from_bytes(&little.stdout).unwrap(), p);
    let dis = moat(&["disasm", "--arch", "s390x", out.to_str().unwrap()]);
    assert!(dis.status.success(), "{}", stderr(&dis));
    assert!(String::from_utf8_lossy(&dis.stdout).contains("ARCH_S390X"));
    let mixed = moat(&["compile", "container", "--arch", "x86_64,s390x"]);
    assert_eq!(mixed.status.code(), Some(2));
    assert!(
        stderr(&mixed).contains("--byte-order"),
        "{}",
        stderr(&mixed)
    );
    let chosen = moat(&[
        "compile",
        "container",
        "--arch",
        "x86_64,s390x",
        "--byte-order",
        "big",
    ]);
    assert!(chosen.status.success(), "{}", stderr(&chosen));
}

/// Every profile of the shared corpus that moat imports compiles to a program validated exactly
/// against it; the others are refused at import with one line and exit status 2.
#[test]
fn corpus_profiles_compile_to_validated_programs() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/profiles");
    let mut validated = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let o = moat(&["compile", path.to_str().unwrap(), "--report"]);
        if o.status.success() {
            let text = String::from_utf8(o.stdout).unwrap();
            assert!(text.contains("\nvalidated exactly: "), "{path:?}: {text}");
            validated += 1;
        } else {
            assert_eq!(o.status.code(), Some(2), "{path:?}: {}", stderr(&o));
            assert_eq!(stderr(&o).lines().count(), 1, "{path:?}: {}", stderr(&o));
        }
    }
    assert!(validated >= 20, "{validated} profiles validated");
}
