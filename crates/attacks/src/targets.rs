//! Fuzz targets: each takes arbitrary bytes, must never panic inside the code under test, and
//! checks the invariants that tie moat's pieces together. A failed invariant panics with a
//! message saying which one; the drivers ([`crate::driver`], cargo-fuzz in `fuzz/`) report the
//! input.
//!
//! Every target returns whether the input was *accepted* (parsed, decoded, assembled). The
//! stable driver keeps accepted mutants in its corpus, the only feedback it has.

use moat_bpf::consts::SECCOMP_RET_ALLOW;
use moat_bpf::{Insn, Program, SeccompData, asm, cache, disasm, emu};
use moat_policy::{Action, Cmp, CmpOp, Cond, Context, Lowered, Policy, Width};
use moat_syscalls::Arch;

/// A named fuzz target.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// Name: the directory under `testdata/fuzz-regressions/` and the cargo-fuzz target.
    pub name: &'static str,
    /// The target function.
    pub run: fn(&[u8]) -> bool,
    /// Tokens the stable driver splices into inputs.
    pub dict: &'static [&'static str],
}

/// Every target.
pub const ALL: &[Target] = &[
    Target {
        name: "policy",
        run: policy,
        dict: POLICY_DICT,
    },
    Target {
        name: "bpf_decode",
        run: bpf_decode,
        dict: &[],
    },
    Target {
        name: "asm",
        run: asm_text,
        dict: ASM_DICT,
    },
    Target {
        name: "emu",
        run: emu_data,
        dict: &[],
    },
    Target {
        name: "compile",
        run: compile,
        dict: POLICY_DICT,
    },
    Target {
        name: "import",
        run: import,
        dict: IMPORT_DICT,
    },
    Target {
        name: "systemd",
        run: systemd,
        dict: SYSTEMD_DICT,
    },
    Target {
        name: "minijail",
        run: minijail,
        dict: MINIJAIL_DICT,
    },
    Target {
        name: "lxc",
        run: lxc,
        dict: LXC_DICT,
    },
    Target {
        name: "oci",
        run: oci,
        dict: IMPORT_DICT,
    },
];

/// The target called `name`.
pub fn by_name(name: &str) -> Option<&'static Target> {
    ALL.iter().find(|t| t.name == name)
}

const POLICY_DICT: &[&str] = &[
    "default ",
    "unknown ",
    "badarch ",
    "kernel ",
    "arch ",
    "use ",
    "allow ",
    "deny ",
    "kill ",
    "kill-thread ",
    "kill-process ",
    "trap ",
    "log ",
    "trace ",
    "notify ",
    "errno ",
    "errno ENOSYS ",
    "errno 4095 ",
    "errno 4096 ",
    "errno 0 ",
    " if ",
    " unless ",
    " when ",
    " and ",
    " or ",
    " not ",
    " in ",
    "{",
    "}",
    ",",
    "(",
    ")",
    "&",
    "|",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "arg0",
    "arg5",
    "arg6",
    "flags",
    "domain",
    "request",
    "persona",
    "native",
    "compat",
    "x86_64",
    "x86",
    "x32",
    "aarch64",
    "arm",
    "s390x",
    "@namespaces",
    "@mount",
    "@io-uring",
    "@default",
    "@nonexistent",
    "container",
    "strict",
    "\"base.moat\"",
    "CLONE_NEW_ANY",
    "AF_VSOCK",
    "TIOCSTI",
    "O_ACCMODE",
    "O_RDONLY",
    "0x7fffffff",
    "0x80000000",
    "0xffffffff",
    "0x1_0000_0000",
    "0xffff_ffff_ffff_ffff",
    "0x1_0000_0000_0000_0000",
    "-1",
    "-0x80000000",
    "0o777",
    "0b101",
    "5.10",
    "6.18.3",
    "cap ",
    "CAP_SYS_ADMIN",
    "SYS_ADMIN",
    "# reason",
    "\n",
    "clone",
    "clone3",
    "socket",
    "socketcall",
    "ioctl",
    "personality",
    "openat",
    "mmap",
    "mmap2",
    "read",
    "1000",
    "ipc",
    "setuid",
    "setuid32",
    "\u{feff}",
    "\u{0}",
    "é",
];

const LXC_DICT: &[&str] = &[
    "2\n",
    "1\n",
    "denylist",
    "allowlist",
    "blacklist",
    "whitelist",
    " errno ",
    " kill",
    " allow",
    " trap",
    " notify",
    "reject_force_umount",
    "[all]\n",
    "[x86]\n",
    "[x86_64]\n",
    "[arm64]\n",
    "[0,1,SCMP_CMP_EQ]",
    "[1,8192,SCMP_CMP_MASKED_EQ,61440]",
    "[2,0x10,&=,0xff]",
    ",==]",
    ",!=]",
    ",<=]",
    "]",
    "[",
    "#",
    "\n",
    " ",
    "read",
    "socket",
    "mknod",
    "umount2",
    "4095",
    "-1",
];

const MINIJAIL_DICT: &[&str] = &[
    ": ",
    "1",
    "allow",
    "kill",
    "kill-thread",
    "kill-process",
    "trap",
    "trace",
    "log",
    "user-notify",
    "return ",
    "EPERM",
    "ENOSYS",
    "4095",
    "4096",
    "arg0",
    "arg5",
    "arg6",
    " == ",
    " != ",
    " < ",
    " >= ",
    " & ",
    " in ",
    " && ",
    " || ",
    "; ",
    "{",
    "}",
    ",",
    "~",
    "(",
    ")",
    "|",
    "PROT_EXEC",
    "O_RDONLY",
    "0x",
    "0777",
    "-1",
    "0xffffffffffffffff",
    "@include ./x.policy",
    "@frequency ./x",
    "@default ",
    "@denylist",
    "\\\n",
    "\n",
    "# ",
    "read",
    "mmap",
    "mmap2",
];

const SYSTEMD_DICT: &[&str] = &[
    "[Service]\n",
    "[Unit]\n",
    "[Install]\n",
    "SystemCallFilter=",
    "SystemCallFilter=~",
    "SystemCallErrorNumber=",
    "SystemCallArchitectures=",
    "SystemCallLog=",
    "SystemCallLog=~",
    "native",
    "x86-64",
    "x86",
    "x32",
    "arm64",
    "mips",
    "@system-service",
    "@default",
    "@known",
    "@mount",
    "@privileged",
    "@nonexistent",
    ":EPERM",
    ":ENOSYS",
    ":kill",
    ":0",
    ":4095",
    ":4096",
    "kill",
    "setuid",
    "setuid32",
    "fcntl64",
    "socketcall",
    " \\\n",
    "\n",
    "# ",
    "; ",
    "=",
    "~",
];

const IMPORT_DICT: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "4294967296",
    "18446744073709551616",
    "1e999",
    "\\u0000",
    "\"defaultAction\"",
    "\"defaultErrnoRet\"",
    "\"architectures\"",
    "\"archMap\"",
    "\"architecture\"",
    "\"subArchitectures\"",
    "\"syscalls\"",
    "\"names\"",
    "\"name\"",
    "\"action\"",
    "\"errnoRet\"",
    "\"args\"",
    "\"index\"",
    "\"value\"",
    "\"valueTwo\"",
    "\"op\"",
    "\"includes\"",
    "\"excludes\"",
    "\"caps\"",
    "\"arches\"",
    "\"minKernel\"",
    "\"flags\"",
    "\"listenerPath\"",
    "\"SCMP_ACT_ERRNO\"",
    "\"SCMP_ACT_ALLOW\"",
    "\"SCMP_ACT_KILL\"",
    "\"SCMP_ACT_KILL_PROCESS\"",
    "\"SCMP_ACT_TRAP\"",
    "\"SCMP_ACT_TRACE\"",
    "\"SCMP_ACT_LOG\"",
    "\"SCMP_ACT_NOTIFY\"",
    "\"SCMP_CMP_MASKED_EQ\"",
    "\"SCMP_CMP_GT\"",
    "\"SCMP_CMP_NE\"",
    "\"SCMP_ARCH_X86_64\"",
    "\"SCMP_ARCH_X86\"",
    "\"SCMP_ARCH_X32\"",
    "\"CAP_SYS_ADMIN\"",
    "\"4.8\"",
    "\"clone\"",
    "\"socket\"",
    "\"personality\"",
    "\"linux\"",
    "\"seccomp\"",
    "\"process\"",
    "\"capabilities\"",
    "\"bounding\"",
    "apiVersion: security-profiles-operator.x-k8s.io/v1beta1\n",
    "kind: SeccompProfile\n",
    "metadata:\n  name: p\n",
    "spec:\n",
    "  defaultAction: SCMP_ACT_ERRNO\n",
    "  baseProfileName: ",
    "  syscalls:\n",
    "  - action: SCMP_ACT_ALLOW\n",
    "    names:\n",
    "    - read\n",
    "---\n",
    "  architectures:\n",
    "  - SCMP_ARCH_X86_64\n",
    ": ",
    "- ",
    "  ",
];

const ASM_DICT: &[&str] = &[
    " line  CODE  JT   JF      K\n",
    "=================================\n",
    "0000: ",
    "0001: ",
    "4095: ",
    "4096: ",
    "0x20 0x00 0x00 0x00000004",
    "0x15 0x00 0x01 0xc000003e",
    "0x06 0x00 0x00 0x7fff0000",
    "0x06 0x00 0x00 0x00050001",
    "0x05 0x00 0x00 0xffffffff",
    "0x35 0xff 0xff 0x40000000",
    "0x45 0x00 0x00 0x00000001",
    "0x54 0x00 0x00 0xffffffff",
    "0x00 0x00 0x00 0x00000000",
    "0x02 0x00 0x00 0x0000000f",
    "0x60 0x00 0x00 0x00000010",
    "0x34 0x00 0x00 0x00000000",
    "0x64 0x00 0x00 0x00000020",
    "  A = sys_number",
    "  return ALLOW",
    "# comment\n",
    "\n",
    "0x",
    "0xfffffffff",
];

/// Policy parser and printer: parsing never panics; an accepted policy prints to text that
/// parses to an equal policy and prints identically (canonical form); lowering never panics,
/// and the lowered form gives the reference evaluator's verdict on calls built from the
/// policy's own constants.
pub fn policy(data: &[u8]) -> bool {
    let Ok(p) = Policy::parse_bytes(data, "fuzz.moat") else {
        return false;
    };
    let printed = p.to_string();
    let q = match Policy::parse(&printed, "printed.moat") {
        Ok(q) => q,
        Err(e) => panic!("the printed policy does not parse: {e}\n--- printed ---\n{printed}"),
    };
    assert!(
        q == p,
        "print then parse changed the policy\n--- printed ---\n{printed}"
    );
    let again = q.to_string();
    assert!(
        again == printed,
        "printing is not canonical\n--- first ---\n{printed}\n--- second ---\n{again}"
    );
    for ctx in contexts() {
        if let Ok(lowered) = p.lower(&ctx) {
            check_lowered(&p, &lowered, &ctx, data);
        }
    }
    true
}

fn contexts() -> [Context; 2] {
    [
        Context::default(),
        Context {
            caps: Some(moat_policy::CapSet::docker_default()),
            kernel: Some(moat_syscalls::KernelVersion { major: 5, minor: 4 }),
        },
    ]
}

/// Compares `Policy::evaluate` with an independent interpretation of the lowered form.
fn check_lowered(p: &Policy, l: &Lowered, ctx: &Context, data: &[u8]) {
    for (audit, nr, args) in probes(l, data) {
        let want = p.evaluate(ctx, audit, nr, args).action;
        let got = lowered_action(l, audit, nr, args);
        assert!(
            want == got,
            "lowered form disagrees with evaluate for audit {audit:#x} nr {nr:#x} args \
             {args:x?}: evaluate {want}, lowered {got}"
        );
    }
}

/// Calls that exercise a lowered policy: for every accepted ABI, the first known numbers, every
/// number with rules, numbers outside the table (x32 bit, -1, above the table) and random ones;
/// arguments at the edges of every comparison the rules make (v-1, v, v+1, junk high words, the
/// mask and its complement), on the ABI's audit value and on an unknown one.
pub fn probes(l: &Lowered, data: &[u8]) -> Vec<(u32, u32, [u64; 6])> {
    let mut rng = Rng::from_bytes(data);
    let mut out = Vec::new();
    for abi in &l.abis {
        let arch = abi.arch;
        let mut nrs: Vec<u32> = abi.syscalls.keys().copied().take(4).collect();
        nrs.extend(
            abi.syscalls
                .iter()
                .filter(|(_, rules)| !rules.is_empty())
                .map(|(nr, _)| *nr)
                .take(16),
        );
        nrs.extend([arch.nr_bias() + 1000, 0xffff_ffff, 0x3fff_ffff, 0x4000_0027]);
        for _ in 0..4 {
            nrs.push(arch.nr_bias() | (rng.next_u32() & 0x3ff));
        }
        for &nr in &nrs {
            let mut argsets = vec![[0u64; 6], [u64::MAX; 6]];
            if let Some(rules) = abi.syscalls.get(&nr) {
                let mut cmps = Vec::new();
                for r in rules {
                    collect_cmps(&r.cond, &mut cmps);
                }
                for c in cmps.iter().take(8) {
                    for v in edge_values(c) {
                        let mut a = [0u64; 6];
                        for x in &mut a {
                            *x = INTERESTING[rng.below(INTERESTING.len())];
                        }
                        a[usize::from(c.arg.min(5))] = v;
                        argsets.push(a);
                    }
                }
            }
            for args in argsets {
                for audit in [arch.audit_arch(), 0x1234_5678] {
                    out.push((audit, nr, args));
                }
            }
        }
    }
    out
}

/// Compiler: for a policy the parser accepts and the compiler compiles (refusing is allowed,
/// for example above 4096 instructions), the emulated program returns exactly the reference
/// evaluator's action on every probe call, and every syscall whose verdict is an unconditional
/// allow is served by the kernel's constant-allow cache.
pub fn compile(data: &[u8]) -> bool {
    let Ok(p) = Policy::parse_bytes(data, "fuzz.moat") else {
        return false;
    };
    let ctx = Context::default();
    let Ok(compiled) = moat_compile::compile(&p, &moat_compile::Options::default()) else {
        return false;
    };
    let prog = &compiled.program;
    for (audit, nr, args) in probes(&compiled.lowered, data) {
        let want = p.evaluate(&ctx, audit, nr, args).action;
        let got = emu::run(prog, &SeccompData::new(audit, nr, args)).ret;
        assert!(
            got == want.to_ret(),
            "compiled program disagrees with evaluate for audit {audit:#x} nr {nr:#x} args \
             {args:x?}: evaluate {want} ({:#x}), program {got:#x}\n{}",
            want.to_ret(),
            disasm::disasm(prog, None)
        );
    }
    for abi in &compiled.lowered.abis {
        for (nr, rules) in abi.syscalls.iter().take(64) {
            // No rule and an allowing default, or a last rule that allows unconditionally.
            let unconditional_allow = match rules.last() {
                None => abi.default == Action::Allow,
                Some(r) => r.cond == Cond::True && r.action == Action::Allow,
            };
            if unconditional_allow
                && cache::bitmap_len(abi.arch.audit_arch()).is_some_and(|n| *nr < n)
            {
                assert!(
                    cache::emulate_const_allow(prog, abi.arch.audit_arch(), *nr),
                    "{} nr {nr} is an unconditional allow but the kernel's cache would not \
                     serve it",
                    abi.arch
                );
            }
        }
    }
    true
}

const INTERESTING: [u64; 10] = [
    0,
    1,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0001,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
];

fn edge_values(c: &Cmp) -> Vec<u64> {
    let v = c.value;
    vec![
        v,
        v.wrapping_sub(1),
        v.wrapping_add(1),
        v | 0x1_0000_0000,
        v | 0xffff_ffff_0000_0000,
        c.mask,
        !c.mask,
    ]
}

fn collect_cmps(c: &Cond, out: &mut Vec<Cmp>) {
    match c {
        Cond::True | Cond::False => {}
        Cond::Cmp(cmp) => out.push(*cmp),
        Cond::And(v) | Cond::Or(v) => v.iter().for_each(|c| collect_cmps(c, out)),
        Cond::Not(c) => collect_cmps(c, out),
    }
}

/// The verdict of a lowered policy, interpreted as its documentation says: the ABI from
/// `(audit_arch, nr)`; not accepted → `badarch`; number not in the table → `unknown`; else the
/// last rule whose condition holds, or `default`.
pub fn lowered_action(l: &Lowered, audit: u32, nr: u32, args: [u64; 6]) -> Action {
    let Some(arch) = Arch::of(audit, nr) else {
        return l.badarch;
    };
    let Some(abi) = l.abis.iter().find(|a| a.arch == arch) else {
        return l.badarch;
    };
    match abi.syscalls.get(&nr) {
        None => abi.unknown,
        Some(rules) => rules
            .iter()
            .rev()
            .find(|r| holds(&r.cond, &args))
            .map_or(abi.default, |r| r.action),
    }
}

/// Whether a lowered condition holds for `args`.
pub fn holds(c: &Cond, args: &[u64; 6]) -> bool {
    match c {
        Cond::True => true,
        Cond::False => false,
        Cond::Cmp(cmp) => {
            let raw = args[usize::from(cmp.arg.min(5))];
            let widened = match cmp.width {
                Width::U32 => raw & 0xffff_ffff,
                Width::U64 => raw,
            };
            let v = widened & cmp.mask;
            match cmp.op {
                CmpOp::Eq => v == cmp.value,
                CmpOp::Ne => v != cmp.value,
                CmpOp::Lt => v < cmp.value,
                CmpOp::Le => v <= cmp.value,
                CmpOp::Gt => v > cmp.value,
                CmpOp::Ge => v >= cmp.value,
            }
        }
        Cond::And(v) => v.iter().all(|c| holds(c, args)),
        Cond::Or(v) => v.iter().any(|c| holds(c, args)),
        Cond::Not(c) => !holds(c, args),
    }
}

/// BPF decoder: decoding never panics; an accepted program re-encodes to the same bytes,
/// disassembles (with and without an ABI) and assembles back to itself, and the emulator
/// agrees with the constant-allow cache emulation.
pub fn bpf_decode(data: &[u8]) -> bool {
    let Ok(p) = Program::from_bytes(data) else {
        return false;
    };
    assert!(p.to_bytes() == data, "decode then encode changed the bytes");
    check_program(&p, data);
    true
}

/// Assembler: never panics on any text; an accepted program round-trips through the
/// disassembler.
pub fn asm_text(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(p) = asm::assemble(text) else {
        return false;
    };
    check_program(&p, data);
    true
}

/// Emulator: the first 64 bytes are a `seccomp_data`, the rest a program. A validated program
/// runs without panicking, executes between 1 and `len` instructions, and allows every call
/// the constant-allow cache emulation says the kernel would allow without running it.
pub fn emu_data(data: &[u8]) -> bool {
    let (head, rest) = data.split_at(data.len().min(64));
    let mut buf = [0u8; 64];
    buf[..head.len()].copy_from_slice(head);
    let d = seccomp_data_from(&buf);
    let insns: Vec<Insn> = rest
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            Insn::from_bytes(b)
        })
        .collect();
    let Ok(p) = Program::new(insns) else {
        return false;
    };
    check_run(&p, &d);
    true
}

fn seccomp_data_from(b: &[u8; 64]) -> SeccompData {
    let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let dword = |i: usize| u64::from(word(i)) | (u64::from(word(i + 4)) << 32);
    SeccompData {
        nr: word(0),
        arch: word(4),
        instruction_pointer: dword(8),
        args: [
            dword(16),
            dword(24),
            dword(32),
            dword(40),
            dword(48),
            dword(56),
        ],
    }
}

fn check_program(p: &Program, data: &[u8]) {
    for arch in [
        None,
        Some(Arch::X86_64),
        Some(Arch::X86),
        Some(Arch::Aarch64),
    ] {
        let text = disasm::disasm(p, arch);
        match asm::assemble(&text) {
            Ok(q) => assert!(
                q == *p,
                "disassemble then assemble changed the program\n{text}"
            ),
            Err(e) => panic!("the disassembly does not assemble: {e}\n{text}"),
        }
    }
    let mut rng = Rng::from_bytes(data);
    let arches = [
        Arch::X86_64.audit_arch(),
        Arch::X86.audit_arch(),
        Arch::Aarch64.audit_arch(),
        rng.next_u32(),
    ];
    for _ in 0..8 {
        let audit = arches[rng.below(arches.len())];
        let nr = match rng.below(4) {
            0 => rng.next_u32(),
            1 => 0x4000_0000 | (rng.next_u32() & 0x3ff),
            _ => rng.next_u32() & 0x1ff,
        };
        let mut args = [0u64; 6];
        for a in &mut args {
            *a = if rng.below(2) == 0 {
                INTERESTING[rng.below(INTERESTING.len())]
            } else {
                rng.next_u64()
            };
        }
        let mut d = SeccompData::new(audit, nr, args);
        d.instruction_pointer = rng.next_u64();
        check_run(p, &d);
    }
}

fn check_run(p: &Program, d: &SeccompData) {
    let out = emu::run(p, d);
    assert!(
        out.executed >= 1 && out.executed <= p.len(),
        "emulator executed {} instructions of a {}-instruction program",
        out.executed,
        p.len()
    );
    if cache::emulate_const_allow(p, d.arch, d.nr) {
        assert!(
            out.ret == SECCOMP_RET_ALLOW,
            "constant-allow cache says arch {:#x} nr {:#x} is always allowed, the emulator \
             returns {:#x} for {d:x?}",
            d.arch,
            d.nr,
            out.ret
        );
    }
    let (traced, path) = emu::trace(p, d);
    assert!(
        traced == out && path.len() == out.executed,
        "trace disagrees with run"
    );
}

/// Importers (Docker/OCI JSON, OCI config.json, security-profiles-operator YAML, moat text):
/// reading never panics; an accepted profile's moat text parses to the same policy; exporting it
/// to Docker JSON, security-profiles-operator YAML and moat text never panics, and every export
/// reads back.
pub fn import(data: &[u8]) -> bool {
    let mut accepted = false;
    for unknown in [false, true] {
        let opts = moat_export::Options {
            allow_unknown_names: unknown,
            ..moat_export::Options::default()
        };
        let Ok(loaded) = moat_export::load_bytes(data, "fuzz.json", &opts) else {
            continue;
        };
        accepted = true;
        match Policy::parse(&loaded.text, "fuzz.json") {
            Ok(p) => assert!(
                p == loaded.policy,
                "the imported text parses to a different policy\n{}",
                loaded.text
            ),
            Err(e) => panic!("the imported text does not parse: {e}\n{}", loaded.text),
        }
        let ctx = Context::default();
        for format in [
            moat_export::Format::Docker,
            moat_export::Format::Spo,
            moat_export::Format::Moat,
        ] {
            if let Ok(e) = moat_export::export(&loaded, format, &ctx, "fuzz")
                && let Err(err) = moat_export::load_bytes(&e.data, "exported", &opts)
            {
                panic!(
                    "the {} export does not read back: {err}\n{}",
                    format.name(),
                    e.text()
                );
            }
        }
    }
    accepted
}

/// `systemd`: a unit file imports without panicking, or fails with a `file:line:col` error; the
/// imported text parses to the same policy; the systemd export of it imports again.
pub fn systemd(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let opts = moat_export::Options::default();
    let loaded = match moat_export::systemd::import(text, "fuzz.service", &opts) {
        Ok(l) => l,
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with("fuzz.service:") && !msg.contains('\n'),
                "not a one-line file:line:col error: {msg}"
            );
            return false;
        }
    };
    match Policy::parse(&loaded.text, "fuzz.service") {
        Ok(p) => assert!(
            p == loaded.policy,
            "the imported text parses to a different policy\n{}",
            loaded.text
        ),
        Err(e) => panic!("the imported text does not parse: {e}\n{}", loaded.text),
    }
    if let Ok(e) = moat_export::export(
        &loaded,
        moat_export::Format::Systemd,
        &Context::default(),
        "fuzz",
    ) && let Err(err) = moat_export::systemd::import(&e.text(), "exported.conf", &opts)
    {
        panic!("the systemd export does not import: {err}\n{}", e.text());
    }
    true
}

/// `minijail`: a policy file imports without panicking, or fails with a `file:line:col` error;
/// the imported text parses to the same policy.
pub fn minijail(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    // A name in a directory that does not exist: `@include` and `@frequency` cannot reach files.
    let origin = "/nonexistent-moat-fuzz/fuzz.policy";
    match moat_export::minijail::import(text, origin, &moat_export::Options::default()) {
        Ok(loaded) => {
            match Policy::parse(&loaded.text, origin) {
                Ok(p) => assert!(
                    p == loaded.policy,
                    "the imported text parses to a different policy\n{}",
                    loaded.text
                ),
                Err(e) => panic!("the imported text does not parse: {e}\n{}", loaded.text),
            }
            true
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "not a one-line error: {msg}");
            false
        }
    }
}

/// `lxc`: an LXC seccomp policy imports without panicking, or fails with one `file:line:col`
/// line; the imported text parses to the same policy; its LXC export (when there is one) imports
/// again.
pub fn lxc(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let opts = moat_export::Options {
        host: Some(Arch::X86_64),
        ..moat_export::Options::default()
    };
    match moat_export::lxc::import(text, "fuzz.seccomp", &opts) {
        Ok(loaded) => {
            match Policy::parse(&loaded.text, "fuzz.seccomp") {
                Ok(p) => assert!(
                    p == loaded.policy,
                    "the imported text parses to a different policy\n{}",
                    loaded.text
                ),
                Err(e) => panic!("the imported text does not parse: {e}\n{}", loaded.text),
            }
            if let Ok(e) = moat_export::lxc::export(&loaded, &Context::default(), Arch::X86_64)
                && let Err(err) = moat_export::lxc::import(&e.text(), "exported.seccomp", &opts)
            {
                panic!("the LXC export does not import: {err}\n{}", e.text());
            }
            true
        }
        Err(e) => {
            let msg = e.to_string();
            let located = msg
                .strip_prefix("fuzz.seccomp:")
                .and_then(|r| r.split_once(':'))
                .is_some_and(|(l, r)| {
                    l.parse::<usize>().is_ok()
                        && r.split_once(':')
                            .is_some_and(|(c, _)| c.parse::<usize>().is_ok())
                });
            assert!(
                located && !msg.contains('\n'),
                "not a one-line file:line:col error: {msg}"
            );
            false
        }
    }
}

/// `oci`: the input read as a layout archive (when it is a tar), and otherwise as a KEP-6061
/// artifact's profile layer and as Podman's `io.containers.seccomp.profile` label: each either
/// loads or fails with one line naming the input; an artifact that loads exports to an artifact
/// that loads again.
pub fn oci(data: &[u8]) -> bool {
    let opts = moat_export::Options {
        host: Some(Arch::X86_64),
        ..moat_export::Options::default()
    };
    let one_line = |r: Result<moat_export::Loaded, moat_export::Error>, what: &str| match r {
        Ok(l) => Some(l),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with("fuzz.") && !msg.contains('\n'),
                "{what}: not a one-line error naming the input: {msg}"
            );
            None
        }
    };
    if moat_export::oci::is_tar(data) {
        return one_line(moat_export::load_bytes(data, "fuzz.tar", &opts), "archive").is_some();
    }
    let mut layout = moat_oci::Layout::new();
    let config = layout.add_blob(moat_export::oci::SECCOMP_CONFIG, b"{}".to_vec());
    let layer = layout.add_blob(moat_export::oci::LAYER_JSON, data.to_vec());
    let mut m = moat_oci::spec::Manifest::new(config, vec![layer]);
    m.artifact_type = Some(moat_export::oci::SECCOMP_CONFIG.to_string());
    let Ok(d) = layout.add_manifest(&m) else {
        return false;
    };
    layout.index_mut().manifests.push(d);
    let Ok(tar) = layout.to_tar() else {
        return false;
    };
    let mut accepted = false;
    if let Some(l) = one_line(moat_export::load_bytes(&tar, "fuzz.tar", &opts), "artifact") {
        accepted = true;
        if let Ok(e) = moat_export::export(
            &l,
            moat_export::Format::OciArtifact,
            &Context::default(),
            "fuzz",
        ) && let Err(err) = moat_export::load_bytes(&e.data, "exported.tar", &opts)
        {
            panic!("the artifact export does not import: {err}");
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "config": {"Labels": {moat_export::oci::PODMAN_LABEL: text}},
        });
        let bytes = config.to_string().into_bytes();
        accepted |=
            one_line(moat_export::load_bytes(&bytes, "fuzz.json", &opts), "label").is_some();
    }
    accepted
}

/// A small deterministic generator (xorshift64*), seeded from input bytes so a target's
/// extra probes are a function of its input and every failure replays.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded with `seed` (0 is replaced by a fixed odd constant).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// Seeded with an FNV-1a hash of `data`.
    pub fn from_bytes(data: &[u8]) -> Rng {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in data {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Rng::new(h)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.next_u64().to_le_bytes()[4..]
            .iter()
            .rev()
            .fold(0, |acc, b| (acc << 8) | u32::from(*b))
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let n = n as u64;
        usize::try_from(self.next_u64() % n).unwrap_or(0)
    }
}
