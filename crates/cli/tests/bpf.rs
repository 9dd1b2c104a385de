//! `moat disasm` and `moat emu` on real raw BPF files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use moat::bpf::Program;
use moat::bpf::builder::{Builder, JumpOp};
use moat::bpf::consts::*;

/// x86_64 only: allow getpid, ERRNO(1) for personality with arg0 == 0x400000, ERRNO(38) for
/// everything else, kill other ABIs.
fn sample() -> Program {
    let mut b = Builder::new();
    let [kill, allow, enosys, perso] = [b.label(), b.label(), b.label(), b.label()];
    b.load(OFFSET_ARCH);
    let native = b.label();
    b.jump(JumpOp::Eq, 0xc000_003e, native, kill);
    b.bind(native);
    b.load(OFFSET_NR);
    let n1 = b.label();
    b.jump(JumpOp::Eq, 39, allow, n1);
    b.bind(n1);
    b.jump(JumpOp::Eq, 135, perso, enosys);
    b.bind(perso);
    b.load(offset_arg_lo(0));
    let deny = b.label();
    b.jump(JumpOp::Eq, 0x40_0000, deny, allow);
    b.bind(deny);
    b.ret(ret_errno(1));
    b.bind(allow);
    b.ret(SECCOMP_RET_ALLOW);
    b.bind(enosys);
    b.ret(ret_errno(38));
    b.bind(kill);
    b.ret(SECCOMP_RET_KILL_PROCESS);
    b.finish().unwrap()
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moat-cli-bpf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn moat(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn disasm_prints_seccomp_tools_layout() {
    let f = temp_file("sample.bpf", &sample().to_bytes());
    let o = moat(&["disasm", f.to_str().unwrap(), "--arch", "x86_64"], None);
    assert!(o.status.success(), "{o:?}");
    let want = " line  CODE  JT   JF      K
=================================
 0000: 0x20 0x00 0x00 0x00000004  A = arch
 0001: 0x15 0x00 0x08 0xc000003e  if (A != ARCH_X86_64) goto 0010
 0002: 0x20 0x00 0x00 0x00000000  A = sys_number
 0003: 0x15 0x04 0x00 0x00000027  if (A == getpid) goto 0008
 0004: 0x15 0x00 0x04 0x00000087  if (A != personality) goto 0009
 0005: 0x20 0x00 0x00 0x00000010  A = args[0]
 0006: 0x15 0x00 0x01 0x00400000  if (A != 0x400000) goto 0008
 0007: 0x06 0x00 0x00 0x00050001  return ERRNO(1)
 0008: 0x06 0x00 0x00 0x7fff0000  return ALLOW
 0009: 0x06 0x00 0x00 0x00050026  return ERRNO(38)
 0010: 0x06 0x00 0x00 0x80000000  return KILL_PROCESS
";
    let got = stdout(&o);
    assert_eq!(got, want);
}

#[test]
fn disasm_reads_stdin() {
    let bytes = sample().to_bytes();
    let o = moat(&["disasm", "-"], Some(&bytes));
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains("if (A == getpid) goto 0008"));
}

#[test]
fn emu_json_on_a_raw_program_has_the_text_facts() {
    let f = temp_file("emu-json.bpf", &sample().to_bytes());
    let path = f.to_str().unwrap();
    let o = moat(
        &[
            "emu",
            path,
            "--arch",
            "x86_64",
            "--format",
            "json",
            "personality",
            "0x400000",
        ],
        None,
    );
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "ERRNO(1)");
    assert_eq!(v["return_value"], 0x0005_0001);
    assert_eq!(v["executed"], 8);
    assert_eq!(v["cached"], false);
    assert_eq!(v["syscall"], "personality");
    assert_eq!(v["args"][0], 0x40_0000);
    assert!(
        v.get("compiled_agrees").is_none(),
        "a raw program has no policy to agree with"
    );
}

#[test]
fn emu_prints_verdict_return_value_and_count() {
    let f = temp_file("emu.bpf", &sample().to_bytes());
    let path = f.to_str().unwrap();
    let cases: &[(&[&str], &str, &str, usize)] = &[
        (&["getpid"], "ALLOW", "0x7fff0000", 5),
        (&["personality", "0x400000"], "ERRNO(1)", "0x00050001", 8),
        (&["personality", "4194304"], "ERRNO(1)", "0x00050001", 8),
        (&["135", "-1"], "ALLOW", "0x7fff0000", 8),
        (&["0x87", "0xffffffff"], "ALLOW", "0x7fff0000", 8),
        (&["read"], "ERRNO(38)", "0x00050026", 6),
    ];
    for (call, verdict, ret, executed) in cases {
        let mut args = vec!["emu", path, "--arch", "x86_64"];
        args.extend_from_slice(call);
        let o = moat(&args, None);
        assert!(o.status.success(), "{call:?}: {o:?}");
        let out = stdout(&o);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], *verdict, "{call:?}\n{out}");
        assert!(
            out.contains(&format!("return value: {ret}\n")),
            "{call:?}\n{out}"
        );
        assert!(
            out.contains(&format!("executed: {executed} instructions\n")),
            "{call:?}\n{out}"
        );
    }
    let o = moat(&["emu", path, "--arch", "x86", "getpid"], None);
    assert_eq!(stdout(&o).lines().next(), Some("KILL_PROCESS"));
    let o = moat(&["emu", path, "--arch", "x86_64", "getpid"], None);
    assert!(
        stdout(&o).contains("constant-allow cache (Linux 5.11+): hit"),
        "{o:?}"
    );
    let o = moat(&["emu", path, "--arch", "x86_64", "personality"], None);
    assert!(
        stdout(&o).contains("constant-allow cache (Linux 5.11+): miss"),
        "{o:?}"
    );
    let o = moat(&["emu", path, "-a", "x86_64", "personality", "-1"], None);
    assert!(stdout(&o).contains("args 0xffffffffffffffff 0x0"), "{o:?}");
    let o = moat(&["emu", path, "-a", "x86", "personality", "-1"], None);
    assert!(stdout(&o).contains("args 0xffffffff 0x0"), "{o:?}");
}

#[test]
fn emu_reads_disasm_text() {
    let f = temp_file("text.bpf", &sample().to_bytes());
    let text = moat(&["disasm", f.to_str().unwrap()], None).stdout;
    let o = moat(
        &["emu", "-", "-a", "x86_64", "personality", "0x400000"],
        Some(&text),
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stdout(&o).lines().next(), Some("ERRNO(1)"));
}

#[test]
fn emu_reads_hand_written_pseudo_code() {
    let text = b"A = arch\nif (A != ARCH_X86_64) goto 0005\nA = sys_number\nif (A == getpid) goto 0006\nreturn ERRNO(38)\nreturn KILL\nreturn ALLOW\n";
    let o = moat(&["emu", "-", "-a", "x86_64", "getpid"], Some(text));
    assert_eq!(stdout(&o).lines().next(), Some("ALLOW"), "{o:?}");
    let o = moat(&["emu", "-", "-a", "x86_64", "read"], Some(text));
    assert_eq!(stdout(&o).lines().next(), Some("ERRNO(38)"), "{o:?}");
    let o = moat(&["disasm", "-"], Some(text));
    assert!(
        stdout(&o).contains(" 0003: 0x15 0x02 0x00 0x00000027  if (A == getpid) goto 0006\n"),
        "{o:?}"
    );
}

#[test]
fn disasm_reads_a_running_process() {
    use std::io::Read as _;
    let (mut ready_r, mut ready_w) = moat_sys::testing::pipe().unwrap();
    // Allows everything but syscall 1000, so the child can still report and sleep.
    let program = {
        let mut b = Builder::new();
        let [deny, allow] = [b.label(), b.label()];
        b.load(OFFSET_NR);
        b.jump(JumpOp::Eq, 1000, deny, allow);
        b.bind(deny);
        b.ret(ret_errno(5));
        b.bind(allow);
        b.ret(SECCOMP_RET_ALLOW);
        b.finish().unwrap()
    };
    let filter = program.clone();
    let child = moat_sys::testing::spawn(move || {
        if moat_sys::testing::no_core_dumps().is_err()
            || moat_sys::install(&filter, moat_sys::Flags::NONE).is_err()
            || ready_w.write_all(b"!").is_err()
        {
            return 2;
        }
        loop {
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    })
    .unwrap();
    let mut byte = [0u8; 1];
    ready_r.read_exact(&mut byte).unwrap();
    let pid = child.pid().to_string();
    let o = moat(&["disasm", "--pid", &pid, "--filter", "0"], None);
    assert!(o.status.success(), "{o:?}");
    let f = temp_file("pid.bpf", &program.to_bytes());
    let from_file = moat(&["disasm", f.to_str().unwrap()], None);
    assert_eq!(stdout(&o), stdout(&from_file));
    let all = moat(&["disasm", "--pid", &pid], None);
    assert!(
        stdout(&all).starts_with(&format!(
            "# process {pid}, filter 0 of 1 (0 = installed first), 4 instructions\n"
        )),
        "{all:?}"
    );
    assert_bad(
        &["disasm", "--pid", &pid, "--filter", "1"],
        None,
        "has 1 filters",
    );
    drop(child);
    let me = std::process::id().to_string();
    assert_bad(&["disasm", "--pid", &me], None, "has no seccomp filters");
}

/// Bad input: exit code 2, nothing on stdout, exactly one line on stderr.
fn assert_bad(args: &[&str], stdin: Option<&[u8]>, needle: &str) {
    let o = moat(args, stdin);
    let err = String::from_utf8(o.stderr.clone()).unwrap();
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(o.stdout.is_empty(), "{args:?}: stdout {:?}", stdout(&o));
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: `{needle}` not in {err}");
}

#[test]
fn bad_input_is_one_line_and_exit_code_2() {
    let good = temp_file("good.bpf", &sample().to_bytes());
    let good = good.to_str().unwrap();
    let mut truncated = sample().to_bytes();
    truncated.truncate(12);
    let truncated = temp_file("truncated.bpf", &truncated);
    let misaligned = temp_file(
        "misaligned.bpf",
        &[0x20, 0, 0, 0, 2, 0, 0, 0, 0x06, 0, 0, 0, 0, 0, 0xff, 0x7f],
    );
    let missing = std::env::temp_dir().join("moat-cli-bpf-does-not-exist.bpf");
    assert_bad(
        &["disasm", truncated.to_str().unwrap()],
        None,
        "not a whole number of 8-byte instructions",
    );
    assert_bad(
        &["disasm", misaligned.to_str().unwrap()],
        None,
        "byte offset 0: instruction 0: load offset 2",
    );
    assert_bad(&["disasm", missing.to_str().unwrap()], None, "cannot read");
    assert_bad(&["disasm", "-"], Some(b""), "<stdin>:1:1: empty input");
    assert_bad(
        &["disasm", good, "--arch", "amd46"],
        None,
        "unknown architecture",
    );
    assert_bad(
        &["emu", good, "-a", "x86_64", "getpdi"],
        None,
        "did you mean `getpid`",
    );
    assert_bad(
        &["emu", good, "-a", "aarch64", "open"],
        None,
        "aarch64 has no syscall `open`",
    );
    assert_bad(
        &["emu", good, "-a", "x86_64", "read", "12abc"],
        None,
        "argument 0 `12abc`",
    );
    assert_bad(
        &["emu", good, "-a", "x86", "read", "0x100000000"],
        None,
        "32-bit",
    );
    assert_bad(
        &[
            "emu", good, "-a", "x86_64", "read", "1", "2", "3", "4", "5", "6", "7",
        ],
        None,
        "at most 6",
    );
    assert_bad(
        &["emu", good, "-a", "x86_64", "0x1ffffffff"],
        None,
        "not a 32-bit number",
    );
    assert_bad(
        &["emu", "-", "-a", "x86_64", "read"],
        Some(b" 0000: 0x06 0x00 zz\n"),
        "<stdin>:1:",
    );
}
