//! Seed inputs for the fuzz targets: real policies (the built-in profiles and every `moat`
//! block of the language specification) and real programs (libseccomp's compilation of Docker's
//! default profile in both layouts, the strict profile's shape built by hand).

use std::path::{Path, PathBuf};

use moat_bpf::consts::{SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS, ret_errno};
use moat_bpf::{Program, disasm};
use moat_syscalls::Arch;

/// `testdata/fuzz-regressions/<target>/`.
pub fn regressions_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/fuzz-regressions")
        .join(target)
}

/// Every file under `testdata/fuzz-regressions/<target>/`, sorted, with its path.
pub fn regressions(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = regressions_dir(target);
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_file()
                && p.file_name()
                    .is_some_and(|n| n != ".gitkeep" && n != "README.md")
            {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Every file of `testdata/formats/<format>/`, sorted.
pub fn format_corpus(format: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/formats")
        .join(format);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Policies: built-in profiles and the specification's examples.
pub fn policies() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = moat_policy::builtins()
        .iter()
        .map(|b| b.source.as_bytes().to_vec())
        .collect();
    let spec = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/policy-language.md"),
    )
    .unwrap();
    let mut block: Option<String> = None;
    for line in spec.lines() {
        match (&mut block, line.trim_start()) {
            (None, "```moat") => block = Some(String::new()),
            (Some(b), "```") => {
                out.push(b.as_bytes().to_vec());
                block = None;
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    assert!(out.len() > 5, "expected the spec's examples as seeds");
    out
}

/// Programs: libseccomp's Docker default (both layouts) and a small arch-checking filter.
pub fn programs() -> Vec<Program> {
    let mut out = Vec::new();
    for layout in [
        moat_oracle::Layout::Default,
        moat_oracle::Layout::BinaryTree,
    ] {
        let mut filter = moat_oracle::docker_default(moat_oracle::Arch::X86_64).unwrap();
        filter.optimize = layout;
        let compiled = moat_oracle::compile(&filter).unwrap();
        out.push(Program::from_bytes(&compiled.bytes).unwrap());
    }
    let text = format!(
        "0000: 0x20 0x00 0x00 0x00000004\n\
         0001: 0x15 0x00 0x05 {:#010x}\n\
         0002: 0x20 0x00 0x00 0x00000000\n\
         0003: 0x35 0x03 0x00 0x40000000\n\
         0004: 0x15 0x01 0x00 0x00000027\n\
         0005: 0x06 0x00 0x00 {:#010x}\n\
         0006: 0x06 0x00 0x00 {:#010x}\n\
         0007: 0x06 0x00 0x00 {:#010x}\n",
        Arch::X86_64.audit_arch(),
        SECCOMP_RET_ALLOW,
        ret_errno(1),
        SECCOMP_RET_KILL_PROCESS,
    );
    out.push(moat_bpf::asm::assemble(&text).unwrap());
    out
}

/// Foreign profiles: Docker's default profile, a minimal OCI config, security-profiles-operator
/// documents (with a base profile), and the moat profiles.
pub fn profiles() -> Vec<Vec<u8>> {
    let fixtures = std::path::PathBuf::from(moat_testkit::fixture("fixtures"));
    let docker = std::fs::read(fixtures.join("docker-default.json")).unwrap();
    let mut out = vec![docker];
    out.push(
        br#"{"ociVersion":"1.0.2","process":{"capabilities":{"bounding":["CAP_CHOWN"]}},
"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
"architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],"flags":["SECCOMP_FILTER_FLAG_LOG"],
"syscalls":[{"names":["read","write","exit_group"],"action":"SCMP_ACT_ALLOW"},
{"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":40,"op":"SCMP_CMP_NE"}]},
{"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}],
"excludes":{"caps":["CAP_SYS_ADMIN"]}}]}}}"#
            .to_vec(),
    );
    out.push(
        b"apiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\n\
metadata:\n  name: base\nspec:\n  defaultAction: SCMP_ACT_ERRNO\n  architectures:\n  - SCMP_ARCH_X86_64\n\
  syscalls:\n  - action: SCMP_ACT_ALLOW\n    names:\n    - read\n    - write\n---\n\
apiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\nmetadata:\n  name: app\n\
spec:\n  defaultAction: SCMP_ACT_ERRNO\n  baseProfileName: base\n  syscalls:\n  - action: SCMP_ACT_ALLOW\n\
    names:\n    - openat\n    args:\n    - index: 2\n      value: 0\n      op: SCMP_CMP_EQ\n"
            .to_vec(),
    );
    out.extend(policies().into_iter().take(3));
    out
}

/// Program bytes.
pub fn program_bytes() -> Vec<Vec<u8>> {
    programs().iter().map(Program::to_bytes).collect()
}

/// Disassembly texts.
pub fn asm_texts() -> Vec<Vec<u8>> {
    programs()
        .iter()
        .map(|p| disasm::disasm(p, Some(Arch::X86_64)).into_bytes())
        .collect()
}

/// `seccomp_data` followed by a program, for the emulator target.
pub fn emu_inputs() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for p in programs() {
        for (arch, nr, a0) in [
            (Arch::X86_64.audit_arch(), 39u32, 0u64),
            (Arch::X86_64.audit_arch(), 272, 0x1000_0000),
            (Arch::X86.audit_arch(), 21, 0),
            (Arch::X86_64.audit_arch(), 0x4000_0027, 0),
        ] {
            let mut v = Vec::new();
            v.extend_from_slice(&nr.to_le_bytes());
            v.extend_from_slice(&arch.to_le_bytes());
            v.extend_from_slice(&0u64.to_le_bytes());
            v.extend_from_slice(&a0.to_le_bytes());
            v.extend_from_slice(&[0u8; 40]);
            v.extend_from_slice(&p.to_bytes());
            out.push(v);
        }
    }
    out
}

/// Seeds for the target called `name`, plus its regression files.
pub fn for_target(name: &str) -> Vec<Vec<u8>> {
    let mut out = match name {
        "policy" | "compile" => policies(),
        "bpf_decode" => program_bytes(),
        "asm" => asm_texts(),
        "emu" => emu_inputs(),
        "import" => profiles(),
        "systemd" => format_corpus("systemd"),
        "minijail" => format_corpus("minijail"),
        "lxc" => format_corpus("lxc"),
        "oci" => {
            // The profiles, and the blobs of the artifact layout in testdata/formats/oci.
            let mut v = profiles();
            v.extend(format_corpus("oci/artifact/blobs/sha256"));
            v
        }
        other => panic!("no seeds for target {other}"),
    };
    out.extend(regressions(name).into_iter().map(|(_, b)| b));
    out
}
