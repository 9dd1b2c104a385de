//! Every command × every input form (docs/inputs.md's table): each cell is run here with the real
//! binary, and each command reads the form or refuses it with the one documented message.
//!
//! Every policy form says the same thing — everything runs but `mkdir`, which fails with EPERM —
//! so the same checks hold for all of them: `diff` against `container` differs, `test` proves
//! `mkdir` is denied, `emu` answers EPERM, `run` makes a real `mkdir` fail.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// An input form: its name in the table, the spec the commands get, and bytes for stdin.
struct Form {
    name: &'static str,
    spec: String,
    stdin: Option<Vec<u8>>,
    policy: bool,
}

const MOAT: &str = "default allow\ndeny mkdir\n";
const DOCKER: &str = r#"{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#;

fn dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("moat-inputs");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(name: &str, bytes: &[u8]) -> String {
    let p = dir().join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

fn moat_in(cwd: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(args)
        .current_dir(cwd)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn forms() -> Vec<Form> {
    let program = {
        let o = moat_in(&dir(), &["compile", "-"], Some(MOAT.as_bytes()));
        assert!(o.status.success(), "{}", common::stderr(&o));
        o.stdout
    };
    let listing = {
        let o = moat_in(
            &dir(),
            &["compile", "-", "--format", "disasm"],
            Some(MOAT.as_bytes()),
        );
        o.stdout
    };
    let oci = format!(r#"{{"ociVersion": "1.0.2", "linux": {{"seccomp": {DOCKER}}}}}"#);
    let spo = "apiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\n\
               metadata:\n  name: p\nspec:\n  defaultAction: SCMP_ACT_ALLOW\n  syscalls:\n  \
               - names: [mkdir]\n    action: SCMP_ACT_ERRNO\n";
    let unit = "[Service]\nSystemCallFilter=~mkdir\nSystemCallErrorNumber=EPERM\n";
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(MOAT.as_bytes());
    let form = |name, spec: String, policy| Form {
        name,
        spec,
        stdin: None,
        policy,
    };
    vec![
        form("moat text", write("p.moat", MOAT.as_bytes()), true),
        form("Docker/OCI JSON", write("p.json", DOCKER.as_bytes()), true),
        form(
            "OCI config.json",
            write("config.json", oci.as_bytes()),
            true,
        ),
        form("SPO YAML", write("p.yaml", spo.as_bytes()), true),
        form("systemd unit", write("p.service", unit.as_bytes()), true),
        form("minijail", write("p.policy", b"mkdir: return 1\n"), true),
        form("BOM + moat text", write("bom.moat", &bom), true),
        Form {
            name: "standard input",
            spec: "-".into(),
            stdin: Some(MOAT.as_bytes().to_vec()),
            policy: true,
        },
        form("raw BPF", write("p.bpf", &program), false),
        form("disasm listing", write("p.txt", &listing), false),
    ]
}

fn refused(o: &Output, command: &str) {
    let err = common::stderr(o);
    assert_eq!(o.status.code(), Some(2), "{command}: {err}");
    assert_eq!(err.lines().count(), 1, "{command}: one line: {err}");
    assert!(
        err.contains(&format!(
            "is a compiled program; `moat {command}` takes a policy"
        )),
        "{command}: {err}"
    );
}

fn accepted(o: &Output, what: &str, codes: &[i32]) {
    let err = common::stderr(o);
    let code = o.status.code().unwrap_or(-1);
    assert!(codes.contains(&code), "{what}: exit {code}: {err}");
    assert!(
        !err.lines()
            .any(|l| l.starts_with("moat: ") && !l.starts_with("moat: warning")),
        "{what}: {err}"
    );
}

#[test]
fn every_command_reads_every_form_it_takes() {
    let tests = write("mkdir.tests", b"x86_64 mkdir(0, 0) = deny\n");
    let out = dir().join("out.bin");
    for f in forms() {
        let run = |args: &[&str]| moat_in(&dir(), args, f.stdin.as_deref());
        let spec = f.spec.as_str();
        let what = |c: &str| format!("{c} × {}", f.name);
        // Commands that take a policy only.
        for (command, args) in [
            (
                "compile",
                vec!["compile", spec, "-o", out.to_str().unwrap()],
            ),
            ("explain", vec!["explain", spec, "--syscall", "mkdir"]),
            ("convert", vec!["convert", "--to", "moat", spec]),
        ] {
            let o = run(&args);
            if f.policy {
                accepted(&o, &what(command), &[0]);
            } else {
                refused(&o, command);
            }
        }
        if f.policy {
            let o = run(&["explain", spec, "--syscall", "mkdir"]);
            assert!(
                common::stdout(&o).contains("EPERM") || common::stdout(&o).contains("deny"),
                "{}",
                what("explain")
            );
        }
        // Commands that take a policy or a program.
        let o = run(&["diff", spec, "container"]);
        accepted(&o, &what("diff"), &[1]);
        let o = run(&["lint", spec]);
        accepted(&o, &what("lint"), &[0, 1]);
        let o = run(&["test", spec, &tests]);
        accepted(&o, &what("test"), &[0]);
        assert!(
            common::stdout(&o).contains("1 passed, 0 failed"),
            "{}",
            what("test")
        );
        let o = run(&["emu", spec, "mkdir"]);
        accepted(&o, &what("emu"), &[0]);
        assert!(
            common::stdout(&o).contains("0x00050001"),
            "{}: {}",
            what("emu"),
            common::stdout(&o)
        );
        let o = run(&["disasm", spec]);
        accepted(&o, &what("disasm"), &[0]);
        assert!(
            common::stdout(&o).contains("A = arch"),
            "{}",
            what("disasm")
        );
        // `moat run --policy`: the program really runs under it.
        let target = dir().join(format!("made-by-{}", f.name.replace(['/', ' ', '+'], "-")));
        let _ = std::fs::remove_dir(&target);
        let o = run(&[
            "run",
            "--policy",
            spec,
            "--",
            "mkdir",
            target.to_str().unwrap(),
        ]);
        if !f.policy {
            refused(&o, "run");
            continue;
        }
        if f.name == "minijail" {
            // minijail policies are allow-lists: `mkdir` itself is refused at exec.
            assert!(
                matches!(o.status.code(), Some(126 | 159)),
                "{}",
                common::stderr(&o)
            );
        } else {
            assert_eq!(
                o.status.code(),
                Some(1),
                "{}: {}",
                what("run"),
                common::stderr(&o)
            );
            assert!(
                common::stderr(&o).contains("Operation not permitted"),
                "{}",
                common::stderr(&o)
            );
        }
        assert!(!target.exists(), "{}: mkdir ran", what("run"));
    }
}

/// A file named like a built-in in the working directory never shadows the built-in: every
/// command reads the built-in for the bare word, and the file for `./NAME`.
#[test]
fn a_file_named_container_does_not_shadow_the_builtin() {
    let cwd = dir().join("shadow");
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::write(cwd.join("container"), "default kill\n").unwrap();
    // Its own test file: the tests of this binary run in any order.
    std::fs::write(cwd.join("mkdir.tests"), "x86_64 mkdir(0, 0) = deny\n").unwrap();
    let builtin = |args: &[&str]| {
        let o = moat_in(&cwd, args, None);
        assert!(
            o.status.code().is_some_and(|c| c < 2),
            "{args:?}: {}",
            common::stderr(&o)
        );
        common::stdout(&o)
    };
    assert!(
        builtin(&["explain", "container", "--syscall", "read"])
            .contains("allow [default container:")
    );
    assert!(builtin(&["emu", "container", "read"]).starts_with("allow by default (container:"));
    assert!(builtin(&["test", "container", "mkdir.tests"]).contains("failed"));
    assert!(builtin(&["diff", "--subset", "container", "container"]).contains("proved"));
    let o = moat_in(&cwd, &["emu", "./container", "read"], None);
    assert!(
        common::stdout(&o).starts_with("kill"),
        "{}",
        common::stdout(&o)
    );
    // `run --policy` always names a file, `--profile` a built-in.
    let o = moat_in(&cwd, &["run", "--policy", "container", "--", "true"], None);
    assert!(
        matches!(o.status.code(), Some(126 | 159)),
        "the file (default kill) applies: {}",
        common::stderr(&o)
    );
    let o = moat_in(&cwd, &["run", "--profile", "container", "--", "true"], None);
    assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
}

/// An endless input (`/dev/zero`) named to any command ends at the 4 MiB cap with one line and
/// exit 2, instead of growing without bound (`compile`, `diff` and `emu` once did).
#[test]
fn an_endless_input_stops_at_the_cap_in_every_command() {
    for args in [
        &["compile", "/dev/zero"][..],
        &["explain", "/dev/zero"],
        &["convert", "--to", "moat", "/dev/zero"],
        &["diff", "/dev/zero", "container"],
        &["lint", "/dev/zero"],
        &["emu", "/dev/zero", "read"],
        &["disasm", "/dev/zero"],
        &["run", "--policy", "/dev/zero", "--", "true"],
    ] {
        let o = moat_in(&dir(), args, None);
        let err = common::stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("larger than 4194304 bytes"), "{args:?}: {err}");
    }
}
