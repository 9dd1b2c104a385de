//! LXC seccomp policies: each corpus file (`testdata/formats/lxc/`) call by call on the evaluator
//! and on the compiled program, and against the filter libseccomp 2.5.4 builds from the same
//! rules the way LXC adds them on an x86-64 host (one rule per line on x86_64, x86 and x32).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{boundary_args, oracle_arch, run};
use moat_bpf::Program;
use moat_export::{Format, InputFormat, Options, export, load, load_bytes};
use moat_oracle as oracle;
use moat_policy::{Action, Context, Policy};
use moat_syscalls::Arch;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/formats/lxc");

fn opts() -> Options {
    Options {
        host: Some(Arch::X86_64),
        ..Options::default()
    }
}

fn compiled(p: &Policy) -> Program {
    moat_compile::compile(
        p,
        &moat_compile::Options {
            ctx: Context::default(),
            weights: None,
        },
    )
    .unwrap()
    .program
}

/// The evaluator's verdict on `arch`, after checking the compiled program says the same.
fn x(p: &Policy, arch: Arch, name: &str, args: [u64; 6]) -> Action {
    let nr = arch.by_name(name).unwrap().nr;
    let v = p
        .evaluate(&Context::default(), arch.audit_arch(), nr, args)
        .action;
    assert_eq!(
        run(&compiled(p), arch, nr, args),
        v.to_ret(),
        "{arch} {name}{args:?}: compiled program and evaluator differ"
    );
    v
}

fn file(name: &str) -> moat_export::Loaded {
    let l = load(&format!("{CORPUS}/{name}"), &opts()).unwrap();
    assert_eq!(l.format, InputFormat::Lxc);
    l
}

#[test]
fn lxds_default_policy_means_what_lxc_loads() {
    let p = file("lxd-default.seccomp").policy;
    for arch in [Arch::X86_64, Arch::X86, Arch::X32] {
        // A denylist: everything else runs.
        assert_eq!(x(&p, arch, "read", [0; 6]), Action::Allow, "{arch}");
        assert_eq!(x(&p, arch, "kexec_load", [0; 6]), Action::Errno(38));
        assert_eq!(x(&p, arch, "delete_module", [0; 6]), Action::Errno(38));
        // reject_force_umount: umount2 with MNT_FORCE gets EACCES.
        assert_eq!(
            x(&p, arch, "umount2", [0, 1, 0, 0, 0, 0]),
            Action::Errno(13)
        );
        assert_eq!(x(&p, arch, "umount2", [0, 2, 0, 0, 0, 0]), Action::Allow);
        // mknod of a character (S_IFCHR) or block (S_IFBLK) device goes to the supervisor.
        assert_eq!(
            x(&p, arch, "mknod", [0, 0o20644, 0, 0, 0, 0]),
            Action::Notify
        );
        assert_eq!(
            x(&p, arch, "mknod", [0, 0o60644, 0, 0, 0, 0]),
            Action::Notify
        );
        assert_eq!(
            x(&p, arch, "mknod", [0, 0o10644, 0, 0, 0, 0]),
            Action::Allow
        );
        assert_eq!(
            x(&p, arch, "mknodat", [0, 0, 0o20600, 0, 0, 0]),
            Action::Notify
        );
        // No new listener and no SECCOMP_RET_TRACE filters from inside.
        assert_eq!(
            x(&p, arch, "seccomp", [1, 8, 0, 0, 0, 0]),
            Action::Errno(22)
        );
        assert_eq!(x(&p, arch, "seccomp", [1, 0, 0, 0, 0, 0]), Action::Allow);
        assert_eq!(x(&p, arch, "bpf", [5, 0, 0, 0, 0, 0]), Action::Notify);
        assert_eq!(x(&p, arch, "bpf", [0, 0, 0, 0, 0, 0]), Action::Allow);
    }
}

#[test]
fn an_allowlist_reads_sections_for_the_host_only() {
    let l = file("allowlist.seccomp");
    let p = &l.policy;
    for arch in [Arch::X86_64, Arch::X86, Arch::X32] {
        // The [x86_64] section applies to every ABI of the filter.
        assert_eq!(x(p, arch, "read", [0; 6]), Action::Allow, "{arch}");
        // The default after "allowlist".
        assert_eq!(x(p, arch, "getuid", [0; 6]), Action::Errno(1), "{arch}");
        assert_eq!(x(p, arch, "kill", [0; 6]), Action::Trap(0));
        assert_eq!(x(p, arch, "mkdirat", [0; 6]), Action::Errno(17));
        // [arm64] is skipped on an x86-64 host.
        if let Some(_mkdir) = arch.by_name("mkdir") {
            assert_eq!(x(p, arch, "mkdir", [0; 6]), Action::Errno(1), "{arch}");
        }
    }
    let a = Arch::X86_64;
    assert_eq!(x(p, a, "fcntl", [0, 3, 0, 0, 0, 0]), Action::Allow);
    assert_eq!(x(p, a, "fcntl", [0, 4, 0, 0, 0, 0]), Action::Allow);
    assert_eq!(x(p, a, "fcntl", [0, 1, 0, 0, 0, 0]), Action::Errno(1));
    assert_eq!(x(p, a, "prctl", [38, 1, 0, 0, 0, 0]), Action::Allow);
    assert_eq!(x(p, a, "prctl", [38, 2, 0, 0, 0, 0]), Action::Errno(1));
    assert_eq!(x(p, a, "prctl", [22, 0, 0, 0, 0, 0]), Action::Errno(1));
    assert_eq!(x(p, a, "mprotect", [0, 0, 3, 0, 0, 0]), Action::Allow);
    assert_eq!(x(p, a, "mprotect", [0, 0, 7, 0, 0, 0]), Action::Errno(1));
}

#[test]
fn blacklist_is_the_old_denylist_and_rules_default_to_kill() {
    let p = file("blacklist.seccomp").policy;
    for arch in [Arch::X86_64, Arch::X86] {
        assert_eq!(x(&p, arch, "ptrace", [0; 6]), Action::KillThread, "{arch}");
        assert_eq!(x(&p, arch, "mount", [0; 6]), Action::Errno(0));
        assert_eq!(x(&p, arch, "swapon", [0; 6]), Action::Trap(0));
        assert_eq!(x(&p, arch, "keyctl", [0; 6]), Action::Errno(38));
        // [s390x] is skipped.
        assert_eq!(x(&p, arch, "acct", [0; 6]), Action::Allow);
        assert_eq!(
            x(&p, arch, "unshare", [0x1000_0000, 0, 0, 0, 0, 0]),
            Action::DENY
        );
        assert_eq!(
            x(&p, arch, "unshare", [0x0002_0000, 0, 0, 0, 0, 0]),
            Action::Allow
        );
        assert_eq!(
            x(&p, arch, "personality", [8, 0, 0, 0, 0, 0]),
            Action::Errno(22)
        );
        assert_eq!(
            x(&p, arch, "personality", [0xffff_ffff, 0, 0, 0, 0, 0]),
            Action::Allow
        );
    }
}

#[test]
fn version_1_allows_native_numbers_and_kills_the_rest() {
    let p = file("v1.seccomp").policy;
    let a = Arch::X86_64;
    assert_eq!(x(&p, a, "read", [0; 6]), Action::Allow);
    assert_eq!(x(&p, a, "exit", [0; 6]), Action::Allow);
    assert_eq!(x(&p, a, "exit_group", [0; 6]), Action::Allow);
    assert_eq!(x(&p, a, "openat", [0; 6]), Action::KillThread);
    // Only the native ABI is in LXC's version 1 filter.
    let v = p.evaluate(&Context::default(), Arch::X86.audit_arch(), 3, [0; 6]);
    assert_eq!(v.action, Action::KillThread);
}

/// The oracle filter LXC builds for a corpus file on an x86-64 host: one libseccomp filter for
/// x86_64, x86 and x32, every rule of a section the host reads added in file order (LXC adds each
/// rule to the native context and to one context per compat ABI, then merges them).
fn lxc_filter(text: &str) -> oracle::Filter {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("2"));
    let head: Vec<&str> = lines.next().unwrap().split(' ').collect();
    let deny = matches!(head[0], "denylist" | "blacklist");
    let word = |w: &[&str]| match w.first().copied() {
        Some("kill") => Some(oracle::Action::KillThread),
        Some("allow") => Some(oracle::Action::Allow),
        Some("trap") => Some(oracle::Action::Trap),
        Some("notify") => Some(oracle::Action::Notify),
        Some("errno") => Some(oracle::Action::Errno(w[1].parse().unwrap())),
        _ => None,
    };
    let default = word(&head[1..]).unwrap_or(if deny {
        oracle::Action::Allow
    } else {
        oracle::Action::KillThread
    });
    let rule_default = if deny {
        oracle::Action::KillThread
    } else {
        oracle::Action::Allow
    };
    let num = |s: &str| match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None if s.len() > 1 && s.starts_with('0') => u64::from_str_radix(&s[1..], 8).unwrap(),
        None => s.parse().unwrap(),
    };
    let mut rules = Vec::new();
    let mut reading = true;
    for l in lines {
        if l.starts_with('#') || l.is_empty() {
            continue;
        }
        if let Some(s) = l.strip_prefix('[') {
            let s = s.trim_end_matches(']').to_ascii_lowercase();
            reading = matches!(s.as_str(), "all" | "x86" | "x32" | "x86_64");
            continue;
        }
        if !reading {
            continue;
        }
        let l = l.split('#').next().unwrap().trim_end();
        if l == "reject_force_umount" {
            rules.push(oracle::Rule {
                syscall: "umount2".into(),
                action: oracle::Action::Errno(13),
                args: vec![oracle::ArgCmp {
                    index: 1,
                    op: oracle::Op::MaskedEq { mask: 1 },
                    value: 1,
                }],
            });
            continue;
        }
        let (head, args) = l.split_once('[').map_or((l, ""), |(h, a)| (h, a));
        let words: Vec<&str> = head.split_whitespace().collect();
        let action = word(&words[1..]).unwrap_or(rule_default);
        let mut cmps = Vec::new();
        for a in args.split(['[', ']']).filter(|s| !s.trim().is_empty()) {
            let f: Vec<&str> = a.split(',').collect();
            let value = num(f[1]);
            let op = match f[2] {
                "SCMP_CMP_EQ" | "==" => oracle::Op::Eq,
                "SCMP_CMP_NE" | "!=" => oracle::Op::Ne,
                "SCMP_CMP_LE" | "<=" => oracle::Op::Le,
                "SCMP_CMP_LT" | "<" => oracle::Op::Lt,
                "SCMP_CMP_GE" | ">=" => oracle::Op::Ge,
                "SCMP_CMP_GT" | ">" => oracle::Op::Gt,
                "SCMP_CMP_MASKED_EQ" | "&=" => oracle::Op::MaskedEq { mask: num(f[3]) },
                other => panic!("{other}"),
            };
            cmps.push(oracle::ArgCmp {
                index: f[0].parse().unwrap(),
                op,
                value,
            });
        }
        rules.push(oracle::Rule {
            syscall: words[0].into(),
            action,
            args: cmps,
        });
    }
    oracle::Filter {
        default,
        bad_arch: oracle::Action::KillThread,
        arches: vec![oracle::Arch::X86_64, oracle::Arch::X86, oracle::Arch::X32],
        rules,
        optimize: oracle::Layout::Default,
    }
}

/// Argument vectors around every comparison the oracle's rules for `name` make (one argument
/// varied at a time), so a comparison moat put on the wrong argument shows.
fn oracle_args(f: &oracle::Filter, name: Option<&str>) -> Vec<[u64; 6]> {
    let mut out = Vec::new();
    for r in f.rules.iter().filter(|r| Some(r.syscall.as_str()) == name) {
        for c in &r.args {
            let mask = match c.op {
                oracle::Op::MaskedEq { mask } => mask,
                _ => u64::MAX,
            };
            for v in [
                c.value,
                c.value.wrapping_add(1),
                c.value.wrapping_sub(1),
                c.value & mask,
                !c.value & mask,
                mask,
            ] {
                let mut a = [0u64; 6];
                a[usize::from(c.index)] = v & 0xffff_ffff;
                out.push(a);
                // The other comparisons of the rule hold too.
                for o in r.args.iter().filter(|o| o.index != c.index) {
                    a[usize::from(o.index)] = o.value & 0xffff_ffff;
                }
                out.push(a);
            }
        }
    }
    out
}

/// Compares moat's compiled import `l` with `theirs` on every number 0-1023 of x86_64, x86 and
/// x32, with boundary arguments of both; returns how many calls were compared.
fn compare(l: &moat_export::Loaded, theirs: &Program, filter: &oracle::Filter, who: &str) -> usize {
    let ours = compiled(&l.policy);
    let lowered = l.policy.lower(&Context::default()).unwrap();
    let mut compared = 0;
    for arch in [Arch::X86_64, Arch::X86, Arch::X32] {
        for n in 0..1024_u32 {
            let nr = arch.nr_bias() + n;
            let name = arch.by_nr(nr).map(|s| s.name);
            // libseccomp routes x86 socket and IPC rules through the multiplexers (the import
            // writes those rules itself); libseccomp 2.5.4 does not know the newest syscalls.
            if arch == Arch::X86 && matches!(name, Some("socketcall" | "ipc")) {
                continue;
            }
            if let Some(name) = name
                && oracle::resolve(oracle_arch(arch), name).is_none()
            {
                continue;
            }
            // Arguments within 32 bits: above them moat compares `int` parameters on the 32
            // bits the kernel reads, libseccomp on 64 (the documented difference).
            let mut vectors = boundary_args(&lowered, arch, nr, true);
            vectors.extend(oracle_args(filter, name));
            for args in vectors {
                let want = run(theirs, arch, nr, args);
                let got = run(&ours, arch, nr, args);
                assert_eq!(
                    got, want,
                    "{name:?} on {arch}: {nr}{args:?}: moat {got:#x}, {who} {want:#x}\n{}",
                    l.text
                );
                compared += 1;
            }
        }
    }
    compared
}

const V2: &[&str] = &[
    "lxd-default.seccomp",
    "allowlist.seccomp",
    "blacklist.seccomp",
];

#[test]
fn every_v2_corpus_file_means_what_libseccomp_builds_from_it() {
    let mut compared = 0_usize;
    for name in V2 {
        let path = format!("{CORPUS}/{name}");
        let text = std::fs::read_to_string(&path).unwrap();
        let l = load(&path, &opts()).unwrap();
        let filter = lxc_filter(&text);
        let theirs = oracle::compile(&filter).unwrap();
        let theirs = Program::from_bytes(&theirs.bytes).unwrap();
        compared += compare(&l, &theirs, &filter, "libseccomp");
    }
    eprintln!("{compared} calls compared with libseccomp");
    assert!(compared > 5_000, "{compared}");
}

/// The filters LXC installs for `policy`: a busybox container started with `lxc-execute`, its
/// init's filters read back from the kernel (PTRACE_SECCOMP_GET_FILTER).
fn lxc_installs(policy: &str, dir: &std::path::Path, tag: &str) -> Vec<Program> {
    use std::process::{Command, Stdio};
    let rootfs = dir.join(format!("rootfs-{tag}"));
    for d in ["bin", "tmp", "proc", "dev", "sys"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for a in ["sh", "sleep"] {
        let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a));
    }
    let conf = dir.join(format!("{tag}.conf"));
    std::fs::write(
        &conf,
        format!(
            "lxc.uts.name = {tag}\nlxc.rootfs.path = dir:{}\nlxc.net.0.type = empty\n\
             lxc.seccomp.profile = {policy}\nlxc.apparmor.profile = unconfined\n\
             lxc.mount.auto = proc:rw\nlxc.autodev = 1\n",
            rootfs.display()
        ),
    )
    .unwrap();
    let name = format!("moat-{}-{tag}", std::process::id());
    let mut child = Command::new("lxc-execute")
        .args(["-n", &name, "-P"])
        .arg(dir)
        .arg("-f")
        .arg(&conf)
        .args(["--", "/bin/sleep", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut filters = None;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let o = Command::new("lxc-info")
            .args(["-n", &name, "-P"])
            .arg(dir)
            .args(["-p", "-H"])
            .output()
            .unwrap();
        if let Ok(pid) = String::from_utf8_lossy(&o.stdout).trim().parse::<i32>()
            && let Ok(f) = moat_sys::read_filters(pid)
            && !f.is_empty()
        {
            filters = Some(f);
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
    }
    let _ = Command::new("lxc-stop")
        .args(["-k", "-n", &name, "-P"])
        .arg(dir)
        .output();
    // lxc-execute waits for a container that never started; do not wait for it forever.
    for _ in 0..50 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    filters.unwrap_or_else(|| {
        panic!(
            "{policy}: no filter read from LXC's container: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// An allowlist a busybox container can run under: every x86_64 syscall libseccomp knows,
/// except a few refused by the default and a few allowed on conditions only.
fn runnable_allowlist() -> String {
    let refused = [
        "mkdir",
        "mkdirat",
        "rmdir",
        "chroot",
        "pivot_root",
        "reboot",
    ];
    let conditional = [
        "personality allow [0,0,==]",
        "personality allow [0,8,==]",
        "unshare allow [0,0x10000000,&=,0x10000000]",
        "prctl trap [0,22,==] [1,2,>=]",
        "umask kill [0,077,>]",
        "setpgid errno 22 [0,0,!=] [1,0,==]",
    ];
    let mut text = String::from("2\nallowlist errno 1\n[x86_64]\n");
    for s in Arch::X86_64.syscalls() {
        if refused.contains(&s.name)
            || conditional
                .iter()
                .any(|c| c.split(' ').next() == Some(s.name))
            || oracle::resolve(oracle::Arch::X86_64, s.name).is_none()
        {
            continue;
        }
        text.push_str(s.name);
        text.push('\n');
    }
    text.push_str("[all]\n");
    for c in conditional {
        text.push_str(c);
        text.push('\n');
    }
    text
}

#[test]
fn lxc_itself_installs_the_filter_moat_imports() {
    if !(moat_testkit::require(moat_testkit::is_root(), "root")
        && moat_testkit::require(
            moat_testkit::has_tool("lxc-execute"),
            "lxc-execute (Debian package lxc)",
        )
        && moat_testkit::require(
            std::path::Path::new("/bin/busybox").exists(),
            "busybox-static (Debian package busybox-static)",
        ))
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!("moat-lxc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The corpus's denylists as they are; its allowlists refuse what the container's init needs
    // (execve), so an allowlist it can run under stands in for them.
    let allow = dir.join("allowlist.seccomp");
    std::fs::write(&allow, runnable_allowlist()).unwrap();
    let mut compared = 0;
    let policies = [
        format!("{CORPUS}/lxd-default.seccomp"),
        format!("{CORPUS}/blacklist.seccomp"),
        allow.display().to_string(),
    ];
    for (i, path) in policies.iter().enumerate() {
        let l = load(path, &opts()).unwrap();
        let filters = lxc_installs(path, &dir, &format!("t{i}"));
        assert_eq!(filters.len(), 1, "{path}: LXC installs one filter");
        // The oracle filter supplies argument boundaries.
        let filter = lxc_filter(&std::fs::read_to_string(path).unwrap());
        compared += compare(&l, &filters[0], &filter, "LXC");
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("{compared} calls compared with the filters LXC installed");
    assert!(compared > 5_000, "{compared}");
}

#[test]
fn a_junk_high_word_is_compared_as_the_kernel_reads_the_parameter() {
    // personality(unsigned int persona): the kernel reads 0xffffffff (query) whatever the high
    // word; libseccomp's 64-bit `!=` sees 0x1_ffffffff as different and refuses it.
    let p = file("blacklist.seccomp").policy;
    assert_eq!(
        x(
            &p,
            Arch::X86_64,
            "personality",
            [0x1_ffff_ffff, 0, 0, 0, 0, 0]
        ),
        Action::Allow
    );
}

fn bad(text: &str) -> String {
    load_bytes(text.as_bytes(), "t.seccomp", &opts())
        .unwrap_err()
        .to_string()
}

#[test]
fn what_lxc_would_refuse_is_an_error_with_line_and_column() {
    for (text, want) in [
        (
            "3\ndenylist\n",
            "t.seccomp:1:1: LXC reads policy versions 1 and 2, not 3",
        ),
        (
            "2\nallowlist\nopnat\n",
            "t.seccomp:3:1: unknown syscall \"opnat\" (did you mean \"openat\"?)",
        ),
        (
            "2\ndenylist\nread errno\n",
            "t.seccomp:3:6: errno needs a number",
        ),
        (
            "2\ndenylist\nread errno 4095\n",
            "t.seccomp:3:6: errno 4095 is outside 0-4094",
        ),
        (
            "2\ndenylist\nread trace 1\n",
            "t.seccomp:3:6: unknown action \"trace\": LXC reads kill, errno N, allow, trap and notify",
        ),
        (
            "2\ndenylist\nread log\n",
            "t.seccomp:3:6: unknown action \"log\"",
        ),
        (
            "2\ndenylist\n[riscv64]\nread\n",
            "t.seccomp:3:1: LXC has no architecture section \"[riscv64]\"",
        ),
        (
            "2\ndenylist\nread errno 1 [0,1,SCMP_CMP_FOO]\n",
            "t.seccomp:3:14: bad argument condition \"[0,1,SCMP_CMP_FOO]\": unknown operator \"SCMP_CMP_FOO\"",
        ),
        (
            "2\ndenylist\nread errno 1 [7,1,==]\n",
            "t.seccomp:3:14: bad argument condition \"[7,1,==]\": index 7 is not 0 to 5",
        ),
        (
            "2\ndenylist\nread errno 1 [0,1,==] [0,2,==]\n",
            "t.seccomp:3:23: argument 0 is compared twice",
        ),
        (
            "2\ndenylist\nread errno 1 [0,-1,==]\n",
            "\"-1\" is not a number",
        ),
        (
            "2\ndenylist\nread allow\n",
            "t.seccomp:3:1: the rule's action is the policy's default (allow): libseccomp refuses it",
        ),
        (
            "2\ndenylist\nsocket errno 1 [0,40,==]\n",
            "t.seccomp:3:1: argument conditions on socket: on x86",
        ),
        (
            "2\ngraylist\n",
            "t.seccomp:2:1: unknown policy type \"graylist\"",
        ),
        (
            "2\ndenylist debug\n",
            "t.seccomp:2:10: LXC does not implement \"debug\" policies",
        ),
        ("2\ndenylist \n", "t.seccomp:2:10: nothing after the space"),
        ("2\n", "t.seccomp:2:1: missing the policy line"),
        (
            "1\ndenylist\n",
            "t.seccomp:2:1: a version 1 policy is an allowlist",
        ),
        (
            "1\nallowlist\n0\n\n",
            "t.seccomp:4:1: a version 1 policy holds one syscall number per line",
        ),
        (
            "2\ndenylist\n  umount2\n",
            "t.seccomp:3:1: a line that starts with a space: LXC reads what follows the first space as the action",
        ),
        (
            "2\ndenylist\nread errno 1 [0,1,==] junk\n",
            "t.seccomp:3:22: \"junk\" after a condition",
        ),
    ] {
        let e = bad(text);
        assert!(e.starts_with(want) || e.contains(want), "{text:?}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

#[test]
fn lxc_quirks_are_reproduced_with_a_warning() {
    // Action words are prefixes; an indented line has an empty name and is skipped.
    let l = load_bytes(
        b"2\ndenylist\nmount killall\n  # an indented comment\n",
        "t.seccomp",
        &opts(),
    )
    .unwrap();
    assert_eq!(
        x(&l.policy, Arch::X86_64, "mount", [0; 6]),
        Action::KillThread
    );
    assert!(
        l.warnings
            .iter()
            .any(|w| w.starts_with("t.seccomp:3:7: LXC reads \"killall\" as \"kill\"")),
        "{:?}",
        l.warnings
    );
    assert!(
        l.warnings
            .iter()
            .any(|w| w.starts_with("t.seccomp:4:1: LXC ignores a line that starts with a space")),
        "{:?}",
        l.warnings
    );
    // "2 denylist" on one line: fscanf("%d\n") skips any whitespace after the version.
    let l = load_bytes(b"2 denylist\nmount\n", "t.seccomp", &opts()).unwrap();
    assert_eq!(
        x(&l.policy, Arch::X86_64, "mount", [0; 6]),
        Action::KillThread
    );
    // Unknown names are skipped with --allow-unknown-names, as LXC skips names libseccomp
    // cannot resolve.
    let l = load_bytes(
        b"2\ndenylist\nfsinfo errno 38\nmount errno 38\n",
        "t.seccomp",
        &Options {
            allow_unknown_names: true,
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(
        x(&l.policy, Arch::X86_64, "mount", [0; 6]),
        Action::Errno(38)
    );
    assert!(
        l.warnings.iter().any(|w| w.contains("fsinfo")),
        "{:?}",
        l.warnings
    );
}

#[test]
fn an_arm64_host_reads_arm_sections_and_filters_aarch64_and_arm() {
    let o = Options {
        host: Some(Arch::Aarch64),
        ..Options::default()
    };
    let l = load_bytes(
        b"2\ndenylist\n[x86_64]\nmount\n[arm64]\nreboot errno 1\n",
        "t.seccomp",
        &o,
    )
    .unwrap();
    for arch in [Arch::Aarch64, Arch::Arm] {
        let nr = arch.by_name("mount").unwrap().nr;
        let v = l
            .policy
            .evaluate(&Context::default(), arch.audit_arch(), nr, [0; 6]);
        assert_eq!(v.action, Action::Allow, "{arch}");
        let nr = arch.by_name("reboot").unwrap().nr;
        let v = l
            .policy
            .evaluate(&Context::default(), arch.audit_arch(), nr, [0; 6]);
        assert_eq!(v.action, Action::DENY, "{arch}");
    }
}

/// The syscall a loss line names (`mount: ...`), if it names one.
fn loss_name(l: &moat_export::Loss) -> Option<&str> {
    l.0.split_once(": ")
        .map(|(n, _)| n)
        .filter(|n| !n.contains(' '))
}

#[test]
fn the_lxc_export_means_the_policy_except_where_a_loss_says_so() {
    let l = load("docker", &Options::default()).unwrap();
    let ctx = Context {
        caps: Some(moat_policy::CapSet::docker_default()),
        kernel: None,
    };
    let out = export(&l, Format::Lxc, &ctx, "docker").unwrap();
    let text = out.text();
    assert!(text.starts_with("2\nallowlist errno 1\n"), "{text}");
    let named: Vec<&str> = out.losses.iter().filter_map(loss_name).collect();
    assert!(named.contains(&"socket"), "{:?}", out.losses);
    let back = load_bytes(&out.data, "docker.seccomp", &opts()).unwrap();
    assert_eq!(back.format, InputFormat::Lxc);
    let lowered = l.policy.lower(&ctx).unwrap();
    let mut compared = 0;
    for arch in [Arch::X86_64, Arch::X86, Arch::X32] {
        for s in arch.syscalls() {
            for args in boundary_args(&lowered, arch, s.nr, true) {
                let want = l
                    .policy
                    .evaluate(&ctx, arch.audit_arch(), s.nr, args)
                    .action;
                let got = back
                    .policy
                    .evaluate(&Context::default(), arch.audit_arch(), s.nr, args)
                    .action;
                if named.contains(&s.name) {
                    assert!(
                        got.no_looser_than(want),
                        "{arch} {}{args:?}: {got} looser than {want}",
                        s.name
                    );
                } else {
                    assert_eq!(got, want, "{arch} {}{args:?}\n{text}", s.name);
                }
                compared += 1;
            }
        }
    }
    eprintln!("{compared} calls compared between the policy and its lxc export");
    assert!(compared > 2_000, "{compared}");
    // What the format cannot say.
    let e = export(
        &load("strict", &Options::default()).unwrap(),
        Format::Lxc,
        &Context::default(),
        "strict",
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("LXC's filter on an x86_64 host applies every rule to x86_64, x86, x32; x86 is left out here"), "{e}");
    let l = load_bytes(
        b"default allow\narch x86_64 x86 x32\nkill mount\nlog mkdir\ntrace 7 chdir\n",
        "p.moat",
        &Options::default(),
    )
    .unwrap();
    let out = export(&l, Format::Lxc, &Context::default(), "p").unwrap();
    let text = out.text();
    assert!(
        text.contains("\nmount kill\n")
            && text.contains("\nmkdir allow\n")
            && text.contains("\nchdir errno 38\n"),
        "{text}"
    );
    for want in [
        "mount: LXC's kill kills the thread",
        "mkdir: LXC has no log action",
        "chdir: LXC has no trace action",
    ] {
        assert!(
            out.losses.iter().any(|l| l.0.starts_with(want)),
            "{want}: {:?}",
            out.losses
        );
    }
}

#[test]
fn lxc_loads_the_lxc_export_as_moat_reads_it() {
    if !(moat_testkit::require(moat_testkit::is_root(), "root")
        && moat_testkit::require(
            moat_testkit::has_tool("lxc-execute"),
            "lxc-execute (Debian package lxc)",
        )
        && moat_testkit::require(
            std::path::Path::new("/bin/busybox").exists(),
            "busybox-static (Debian package busybox-static)",
        ))
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!("moat-lxc-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let l = load("docker", &Options::default()).unwrap();
    let ctx = Context {
        caps: Some(moat_policy::CapSet::docker_default()),
        kernel: None,
    };
    let out = export(&l, Format::Lxc, &ctx, "docker").unwrap();
    let path = dir.join("docker.seccomp");
    std::fs::write(&path, &out.data).unwrap();
    let path = path.display().to_string();
    let back = load(&path, &opts()).unwrap();
    let filters = lxc_installs(&path, &dir, "docker");
    assert_eq!(filters.len(), 1);
    let filter = lxc_filter(&out.text());
    let compared = compare(&back, &filters[0], &filter, "LXC");
    eprintln!("{compared} calls compared with the filter LXC installed for the lxc export");
    assert!(compared > 2_000, "{compared}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hosts_lxc_does_not_know_read_only_all_sections() {
    // LXC's get_hostarch has no riscv64: lines before a section are skipped there.
    let o = Options {
        host: Some(Arch::Riscv64),
        ..Options::default()
    };
    let l = load_bytes(
        b"2\ndenylist\nmount\n[x86_64]\nchroot\n[all]\nreboot errno 1\n",
        "t.seccomp",
        &o,
    )
    .unwrap();
    let v = |name: &str| {
        let nr = Arch::Riscv64.by_name(name).unwrap().nr;
        l.policy
            .evaluate(&Context::default(), Arch::Riscv64.audit_arch(), nr, [0; 6])
            .action
    };
    assert_eq!(v("mount"), Action::Allow);
    assert_eq!(v("chroot"), Action::Allow);
    assert_eq!(v("reboot"), Action::DENY);
}

#[test]
fn a_seventh_condition_and_a_mask_after_another_operator_are_ignored() {
    let l = load_bytes(
        b"2\ndenylist\nfutex errno 1 [0,1,==] [1,1,==] [2,1,==] [3,1,==] [4,1,==] [5,1,==] [0,9,==]\nread errno 1 [0,5,==,0xff]\n",
        "t.seccomp",
        &opts(),
    )
    .unwrap();
    assert!(
        l.warnings
            .iter()
            .any(|w| w.contains("LXC reads six argument conditions per rule and ignores the rest")),
        "{:?}",
        l.warnings
    );
    assert_eq!(x(&l.policy, Arch::X86_64, "futex", [1; 6]), Action::DENY);
    assert_eq!(
        x(&l.policy, Arch::X86_64, "read", [5, 0, 0, 0, 0, 0]),
        Action::DENY
    );
    assert_eq!(
        x(&l.policy, Arch::X86_64, "read", [0x105, 0, 0, 0, 0, 0]),
        Action::Allow
    );
}
