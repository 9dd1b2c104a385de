//! `moat explain`, `moat profiles` and `moat emu POLICY` end to end, and the bad-input table:
//! every malformed policy gives one `file:line:col: message` line and exit code 2.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{moat, stderr, stdout};
use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moat-cli-policy-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// (file content, expected `line:col`, message substring). The file is `case.moat`; `extra`
/// files sit beside it.
struct Case {
    content: &'static [u8],
    at: &'static str,
    message: &'static str,
    extra: &'static [(&'static str, &'static str)],
}

const fn case(content: &'static str, at: &'static str, message: &'static str) -> Case {
    Case {
        content: content.as_bytes(),
        at,
        message,
        extra: &[],
    }
}

const CASES: &[Case] = &[
    case(
        "default allow\ndeny opnat\n",
        "2:6",
        "unknown syscall \"opnat\" (did you mean \"openat\"?)",
    ),
    case(
        "default allow\ndeny @mout\n",
        "2:6",
        "unknown group \"@mout\" (did you mean \"@mount\"?)",
    ),
    case(
        "default allow\ndeny clone if flags & CLONE_NEWUSR\n",
        "2:23",
        "unknown constant \"CLONE_NEWUSR\" (did you mean \"CLONE_NEWUSER\"?)",
    ),
    case(
        "errno EPREM openat\n",
        "1:7",
        "unknown errno \"EPREM\" (did you mean \"EPERM\"?)",
    ),
    case("errno 5000 openat\n", "1:7", "errno 5000 is out of range"),
    case(
        "trace 70000 openat\n",
        "1:7",
        "trace value 70000 is out of range",
    ),
    case(
        "defualt allow\n",
        "1:1",
        "unknown statement \"defualt\" (did you mean \"default\"?)",
    ),
    case(
        "openat\n",
        "1:1",
        "a rule starts with an action, e.g. `deny openat`",
    ),
    case(
        "deny\n",
        "1:5",
        "a rule needs at least one syscall name or @group",
    ),
    case("default\n", "1:8", "expected an action"),
    case("default alow\n", "1:9", "did you mean \"allow\"?"),
    case(
        "deny socket if domain = 1\n",
        "1:23",
        "`=` is not an operator here (did you mean `==`?)",
    ),
    case(
        "deny socket if domain == 1 && type == 2\n",
        "1:28",
        "`&&` is not an operator here (did you mean `and`?)",
    ),
    case(
        "deny socket if domain == 1 || type == 2\n",
        "1:28",
        "(did you mean `or`?)",
    ),
    case(
        "deny socket if !domain\n",
        "1:16",
        "`!` is not an operator here (did you mean `not`?)",
    ),
    case(
        "deny socket if domain in {1, 2\n",
        "1:26",
        "unterminated set: missing `}` before the end of the line",
    ),
    case(
        "deny socket if domain in {1 2}\n",
        "1:29",
        "expected `,` or `}`, found number 2",
    ),
    case(
        "deny socket if domain in {}\n",
        "1:26",
        "empty set `{}` never matches",
    ),
    case(
        "deny socket if (domain == 1\n",
        "1:16",
        "missing `)` for this `(`",
    ),
    case("deny socket if domain == 1)\n", "1:27", "found `)`"),
    case(
        "deny socket if ((domain == 1) or type == 2\n",
        "1:16",
        "missing `)`",
    ),
    case(
        "deny socket if flags == 1\n",
        "1:16",
        "socket has no parameter \"flags\" on x86_64 (its parameters: domain, type, protocol)",
    ),
    case(
        "deny getpid if pid == 1\n",
        "1:16",
        "moat knows no parameter names for getpid on x86_64",
    ),
    case(
        "deny personality if arg1 == 0\n",
        "1:21",
        "personality takes 1 argument(s) on x86_64; it has no arg1",
    ),
    case("deny read if arg6 == 0\n", "1:14", "no argument \"arg6\""),
    case(
        "deny @keyring if option == 1\n",
        "1:18",
        "add_key has no parameter \"option\"",
    ),
    case(
        "deny personality if persona == 0x1_0000_0000\n",
        "1:32",
        "value 0x100000000 does not fit the 32-bit parameter \"persona\" of personality on x86_64",
    ),
    case(
        "deny personality if persona == -0x80000001\n",
        "1:32",
        "does not fit the 32-bit parameter",
    ),
    case(
        "deny ioctl if request & 0xffff_ffff_0000_0000\n",
        "1:25",
        "does not fit the 32-bit parameter \"request\"",
    ),
    case(
        "arch x86_64 x86\ndeny unshare if flags == 0x100000000\n",
        "2:26",
        "of unshare on x86",
    ),
    case(
        "deny unshare if flags == 0x1_0000_0000_0000_0000\n",
        "1:26",
        "is too large (values are 64-bit)",
    ),
    case(
        "deny unshare if flags == 99999999999999999999999\n",
        "1:26",
        "is too large",
    ),
    case(
        "deny unshare if flags == -0x8000000000000001\n",
        "1:27",
        "is too large",
    ),
    case(
        "deny unshare if flags == 12ab\n",
        "1:26",
        "malformed number \"12ab\"",
    ),
    case(
        "deny unshare if flags == -x\n",
        "1:27",
        "expected a number after `-`",
    ),
    case("deny socket if domain\n", "1:22", "expected a comparison"),
    case(
        "deny socket if domain ==\n",
        "1:25",
        "expected a number or a named constant, found end of line",
    ),
    case(
        "deny socket if domain not in 1\n",
        "1:30",
        "expected `{` starting a set",
    ),
    case("kernel 5.x\n", "1:8", "malformed kernel version \"5.x\""),
    case("kernel\n", "1:7", "expected a kernel version"),
    case("arch sparc\n", "1:6", "unknown architecture `sparc`"),
    case("arch\n", "1:5", "expected an ABI name"),
    case(
        "allow mount when cap SYS_ADMN\n",
        "1:22",
        "unknown capability \"SYS_ADMN\"",
    ),
    case(
        "allow mount when kernel 5.4\n",
        "1:25",
        "expected `>=` or `<` after `kernel`",
    ),
    case("allow mount when\n", "1:17", "expected a guard"),
    case(
        "use containr\n",
        "1:5",
        "unknown built-in profile \"containr\"",
    ),
    case("use \"base.moat\n", "1:5", "unterminated string"),
    // `;` separates statements: the position counts from the line, not from the statement.
    case("deny openat; frob\n", "1:14", "unknown statement \"frob\""),
    case(
        "deny ;\n",
        "1:6",
        "a rule needs at least one syscall name or @group",
    ),
    case(
        "default allow deny\n",
        "1:15",
        "expected end of statement, found \"deny\"",
    ),
    case("deny @\n", "1:6", "expected a group name after `@`"),
    case("", "1:1", "empty input"),
    case("# only a comment\n\n   \n", "1:1", "policy is empty"),
    Case {
        content: b"default allow\ndeny \xff\n",
        at: "2:6",
        message: "policy is not valid UTF-8",
        extra: &[],
    },
    Case {
        content: b"default allow\nuse \"case.moat\"\n",
        at: "2:1",
        message: "`use` cycle",
        extra: &[],
    },
    Case {
        content: b"use \"missing.moat\"\n",
        at: "1:1",
        message: "missing.moat: No such file",
        extra: &[],
    },
    Case {
        content: b"default allow\nuse \"other.moat\"\n",
        at: "1:1",
        message: "`use` cycle",
        extra: &[("other.moat", "use \"case.moat\"\n")],
    },
];

#[test]
fn bad_inputs_give_one_line_with_position_and_exit_2() {
    assert!(CASES.len() >= 40);
    let dir = scratch("bad");
    for (i, c) in CASES.iter().enumerate() {
        let path = dir.join("case.moat");
        std::fs::write(&path, c.content).unwrap();
        for (name, text) in c.extra {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let shown = path.display().to_string();
        let o = moat(&["explain", &shown]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "case {i}: {err}");
        assert!(o.stdout.is_empty(), "case {i}: no output on error");
        assert_eq!(err.lines().count(), 1, "case {i}: one line: {err}");
        let want = format!("moat: {shown}:{}: ", c.at);
        // A cycle is reported in the file where the `use` closes it.
        let ok_position = err.starts_with(&want)
            || (c.message == "`use` cycle" && err.contains(&format!(":{}: ", c.at)));
        assert!(ok_position, "case {i}: want {want} got {err}");
        assert!(
            err.contains(c.message),
            "case {i}: want {:?} in {err}",
            c.message
        );
        for (name, _) in c.extra {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_in_used_files_point_into_them() {
    let dir = scratch("nested");
    std::fs::write(dir.join("base.moat"), "default allow\n\ndeny opnat\n").unwrap();
    std::fs::write(dir.join("top.moat"), "use \"base.moat\"\n").unwrap();
    let o = moat(&["explain", dir.join("top.moat").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{}:3:6: unknown syscall \"opnat\"",
            Path::new(&dir).join("base.moat").display()
        )),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_profile_and_bad_flags_exit_2() {
    let o = moat(&["explain", "nosuch"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown built-in profile \"nosuch\" (built-ins: container"),
        "{}",
        stderr(&o)
    );
    let o = moat(&["explain", "container", "--syscall", "opnat"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("did you mean \"openat\"?"));
    let o = moat(&["explain", "container", "--arch", "sparc"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn profiles_lists_the_builtins() {
    let o = moat(&["profiles"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(
        out.lines()
            .any(|l| l.starts_with("container ") && l.contains("deny the kernel surface")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("strict ") && l.contains("allow-list")),
        "{out}"
    );
    let o = moat(&["profiles", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "container")
    );
}

#[test]
fn explain_container_is_the_policy_then_its_expansion() {
    let o = moat(&["explain", "container"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let source = moat::policy::builtins()
        .iter()
        .find(|b| b.name == "container")
        .unwrap()
        .source;
    assert!(out.starts_with(source), "the policy text comes first");
    assert!(source.lines().filter(|l| !l.starts_with('#')).count() <= 18);
    let line = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing"))
            .to_string()
    };
    assert!(
        line("unshare").ends_with("deny [container:5]"),
        "{}",
        line("unshare")
    );
    assert!(
        line("clone").contains(
            "deny if flags & CLONE_NEW_ANY [container:6]; else allow [default container:2]"
        )
    );
    assert!(line("clone3").ends_with("errno ENOSYS [container:7]"));
    assert!(
        line("socketcall").contains("x86: deny if call == 1 [container:17]"),
        "{}",
        line("socketcall")
    );
    assert!(
        line("clock_settime64").contains("x86: deny [container:11]"),
        "{}",
        line("clock_settime64")
    );
    assert!(out.contains("\n@mount: "), "groups have sections");
    assert!(out.contains("# other ABIs (badarch): kill (built-in)"));
}

#[test]
fn explain_narrows_by_arch_and_syscall_and_speaks_json() {
    let o = moat(&[
        "explain",
        "container",
        "--syscall",
        "socket",
        "--arch",
        "x86",
    ]);
    let out = stdout(&o);
    assert!(
        out.contains("x86 (nr 359): deny if domain in {AF_VSOCK, AF_ALG} [container:17]"),
        "{out}"
    );
    assert!(!out.contains("x86_64 (nr"), "{out}");
    assert!(out.contains("# hypervisor sockets"), "the reason is shown");
    let o = moat(&["explain", "container", "--syscall", "socketcall"]);
    let out = stdout(&o);
    assert!(
        out.contains("its arguments cannot be inspected here"),
        "{out}"
    );
    let o = moat(&[
        "explain",
        "container",
        "--format",
        "json",
        "--arch",
        "x86_64",
    ]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["arches"], serde_json::json!(["x86_64"]));
    let clone = v["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "clone")
        .unwrap();
    let abi = &clone["abis"][0];
    assert_eq!(abi["nr"], 56);
    assert_eq!(abi["branches"][0]["condition"], "flags & CLONE_NEW_ANY");
    assert_eq!(abi["branches"][0]["at"], "container:6");
    assert_eq!(abi["otherwise"]["by"], "default");
    assert_eq!(v["rules"][0]["at"], "container:5");
}

#[test]
fn explain_resolves_guards_from_flags() {
    let dir = scratch("guards");
    let path = dir.join("g.moat");
    std::fs::write(
        &path,
        "default allow\ndeny mount\nallow mount when cap SYS_ADMIN\n",
    )
    .unwrap();
    let p = path.to_str().unwrap();
    let o = moat(&["explain", p, "--syscall", "mount"]);
    assert!(stdout(&o).contains("deny ["), "{}", stdout(&o));
    let o = moat(&["explain", p, "--syscall", "mount", "--cap", "CAP_SYS_ADMIN"]);
    assert!(stdout(&o).contains("allow ["), "{}", stdout(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The `console` blocks of the specification: each `$ moat ...` line is run and its output compared.
#[test]
fn spec_console_examples_run() {
    let spec = include_str!("../../../docs/policy-language.md");
    let mut in_console = false;
    let mut runs: Vec<(String, String)> = Vec::new();
    for line in spec.lines() {
        if line.starts_with("```") {
            in_console = line == "```console";
            continue;
        }
        if !in_console {
            continue;
        }
        if let Some(cmd) = line.strip_prefix("$ moat ") {
            runs.push((cmd.to_string(), String::new()));
        } else if let Some((_, out)) = runs.last_mut() {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(runs.len() >= 3);
    for (cmd, want) in runs {
        let args: Vec<&str> = cmd.split_whitespace().collect();
        let o = moat(&args);
        assert!(o.status.success(), "{cmd}: {}", stderr(&o));
        assert_eq!(stdout(&o), want, "moat {cmd}");
    }
}

#[test]
fn emu_reads_policy_files_by_extension_and_content() {
    let dir = scratch("emu");
    let a = dir.join("p.moat");
    std::fs::write(
        &a,
        "default allow\ndeny personality if persona == 0x400000  # no READ_IMPLIES_EXEC\n",
    )
    .unwrap();
    let b = dir.join("policy.txt");
    std::fs::copy(&a, &b).unwrap();
    for p in [&a, &b] {
        let o = moat(&[
            "emu",
            p.to_str().unwrap(),
            "--arch",
            "x86_64",
            "personality",
            "0x1_0040_0000",
        ]);
        let out = stdout(&o);
        assert!(
            out.starts_with("deny (errno EPERM) by "),
            "{out} {}",
            stderr(&o)
        );
        assert!(
            out.contains(":2: deny personality if persona == 0x400000  # no READ_IMPLIES_EXEC"),
            "{out}"
        );
        assert!(out.contains("compiled program agrees: 0x00050001"), "{out}");
    }
    let bad = dir.join("bad.moat");
    std::fs::write(&bad, "default allow\ndeny opnat\n").unwrap();
    let o = moat(&["emu", bad.to_str().unwrap(), "--arch", "x86_64", "getpid"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("bad.moat:2:6: unknown syscall"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
