//! Bad output paths: every `-o`/`--html` goes through one writer that replaces regular files
//! atomically and writes through devices, FIFOs and symbolic links. The device-node cases run
//! in a private mount namespace with its own `/dev` (a tmpfs with fresh nodes), so a bug here
//! cannot break the host's `/dev/null`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{moat, stderr};
use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moat-cli-out-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn entries(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// One error line, exit code 2.
fn fails_with(o: &std::process::Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "{err}");
}

#[test]
fn device_nodes_as_output_stay_device_nodes() {
    if !moat_testkit::require(
        moat_testkit::is_root(),
        "root (a mount namespace with its own /dev)",
    ) || !moat_testkit::require(moat_testkit::has_tool("unshare"), "unshare (util-linux)")
    {
        return;
    }
    // A private /dev: tmpfs with null, full and the stdout link, as on a real host.
    let script = r#"set -e
mount -t tmpfs tmpfs /dev
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/full c 1 7
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/1 /dev/stdout
"$MOAT" compile container -o /dev/null; echo "null=$? $(stat -c %F /dev/null)"
"$MOAT" explain container --html /dev/null >/dev/full 2>&1 || true; echo "html=$(stat -c %F /dev/null)"
"$MOAT" convert "$POLICY" --to docker -o /dev/null; echo "convert=$? $(stat -c %F /dev/null)"
if "$MOAT" compile container -o /dev/full 2>/tmp/moat-full.err; then echo full=0; else echo "full=$? $(stat -c %F /dev/full) $(cat /tmp/moat-full.err)"; fi
"$MOAT" compile container --format hex -o /dev/stdout | head -c 16 > /dev/null; echo "stdout=$(stat -c %F /dev/stdout)"
n=$("$MOAT" compile container --format hex -o /dev/stdout | wc -l); echo "lines=$n"
ls -A /dev | tr '\n' ' '; echo
"#;
    let d = scratch("dev");
    let policy = d.join("p.moat");
    std::fs::write(&policy, "use container\n").unwrap();
    let o = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script])
        .env("MOAT", env!("CARGO_BIN_EXE_moat"))
        .env("POLICY", &policy)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &stderr(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("null=0 character special file"), "{out}");
    assert!(out.contains("html=character special file"), "{out}");
    assert!(out.contains("convert=0 character special file"), "{out}");
    assert!(
        out.contains(
            "full=2 character special file moat: /dev/full: cannot write: No space left on device"
        ),
        "{out}"
    );
    assert!(out.contains("stdout=symbolic link"), "{out}");
    assert!(
        !out.contains("lines=0"),
        "hex went through /dev/stdout: {out}"
    );
    // Nothing new in /dev: no temporary files, no replaced nodes.
    assert!(out.contains("fd full null stdout \n"), "{out}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_symlink_as_output_stays_a_link() {
    let d = scratch("link");
    std::fs::write(d.join("target.bpf"), b"old").unwrap();
    std::os::unix::fs::symlink("target.bpf", d.join("link.bpf")).unwrap();
    let link = d.join("link.bpf");
    let o = moat(&["compile", "container", "-o", link.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    let bytes = std::fs::read(d.join("target.bpf")).unwrap();
    assert_eq!(bytes.len() % 8, 0);
    assert!(bytes.len() > 8);
    assert_eq!(entries(&d), ["link.bpf", "target.bpf"]);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_fifo_as_output_is_written_through() {
    if !moat_testkit::require(moat_testkit::has_tool("mkfifo"), "mkfifo (coreutils)") {
        return;
    }
    let d = scratch("fifo");
    let fifo = d.join("out");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let o = moat(&[
        "compile",
        "container",
        "--format",
        "hex",
        "-o",
        fifo.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = reader.join().unwrap();
    assert!(got.len() > 16, "{got:?}");
    assert_eq!(entries(&d), ["out"]);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn explain_html_into_a_directory_fails_and_leaves_nothing() {
    let d = scratch("htmldir");
    let o = moat(&["explain", "container", "--html", d.to_str().unwrap()]);
    fails_with(&o, "is a directory");
    assert!(o.stdout.is_empty(), "refused before any output");
    assert_eq!(entries(&d), Vec::<String>::new());
    let parent = d.parent().unwrap();
    let name = d.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        !entries(parent)
            .iter()
            .any(|e| e.starts_with(&format!(".{name}"))
                || e.starts_with(&name) && e.ends_with(".tmp")),
        "a temporary file survived"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn output_into_a_missing_directory_fails_before_work_and_leaves_nothing() {
    let d = scratch("missing");
    for args in [
        vec!["compile", "container", "-o"],
        vec!["convert", "container", "--to", "docker", "-o"],
        vec!["explain", "container", "--html"],
    ] {
        let target = d.join("no/such/out");
        let mut a = args.clone();
        a.push(target.to_str().unwrap());
        let o = moat(&a);
        fails_with(&o, "cannot write");
        assert!(o.stdout.is_empty(), "{args:?}: refused before any output");
    }
    assert_eq!(entries(&d), Vec::<String>::new());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn record_checks_its_output_before_running_the_program() {
    let d = scratch("record");
    let marker = d.join("ran");
    let bad = d.join("no/such/dir/out.moat");
    let o = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["record", "-o", bad.to_str().unwrap(), "--", "/bin/sh", "-c"])
        .arg(format!("touch {}", marker.display()))
        .output()
        .unwrap();
    fails_with(&o, "cannot write");
    assert!(
        !marker.exists(),
        "the program ran although -o was unwritable"
    );
    // --weights is checked up front too.
    let o = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["record", "-o"])
        .arg(d.join("ok.moat"))
        .arg("--weights")
        .arg(&d)
        .args(["--", "/bin/sh", "-c"])
        .arg(format!("touch {}", marker.display()))
        .output()
        .unwrap();
    fails_with(&o, "is a directory");
    assert!(
        !marker.exists(),
        "the program ran although --weights was a directory"
    );
    assert_eq!(entries(&d), Vec::<String>::new());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_replaced_file_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt as _;
    let d = scratch("mode");
    let p = d.join("out.bpf");
    std::fs::write(&p, b"old").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = moat(&["compile", "container", "-o", p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(entries(&d), ["out.bpf"]);
    std::fs::remove_dir_all(&d).unwrap();
}
