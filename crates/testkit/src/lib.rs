//! Test support shared by the workspace's tests.
//!
//! - [`require`]: a test that cannot run here (not root, a tool missing, an old kernel) calls
//!   it instead of printing `SKIP` and returning. Under `CI=true` or
//!   `MOAT_REQUIRE_ALL_TESTS=1` it panics naming what is missing, so a green CI proves every
//!   test ran; elsewhere it prints `SKIP <test>: <what>` and the test returns.
//! - [`shared`]: the path of a file under the workspace's sibling `../shared/` (third-party
//!   fixtures and the profile corpus), with the same rule when it is missing.
//! - [`moat_image`]: the installable image archive `cargo xtask image` writes (built once per
//!   test process; cargo's lock serializes builds across processes).
//! - [`golden`]: compares user-visible output with a checked-in file; `MOAT_BLESS=1` (or
//!   `cargo xtask bless`) rewrites the file instead.

use std::path::{Path, PathBuf};

/// Whether every test must run: `CI=true` (set by CI) or `MOAT_REQUIRE_ALL_TESTS=1`.
#[must_use]
pub fn strict() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("MOAT_REQUIRE_ALL_TESTS").is_ok_and(|v| v == "1")
}

/// `true` when the test can run (`available`). Otherwise, under [`strict`], panics with
/// `test cannot run: <what>`; else prints `SKIP <test>: <what>` and returns `false`.
///
/// ```
/// if !moat_testkit::require(true, "nothing") {
///     return;
/// }
/// ```
///
/// # Panics
///
/// When `available` is false under [`strict`].
#[must_use]
#[track_caller]
pub fn require(available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    let test = std::thread::current().name().unwrap_or("test").to_string();
    assert!(
        !strict(),
        "{test} cannot run: {what} (CI=true or MOAT_REQUIRE_ALL_TESTS=1 turns a skip into a failure)"
    );
    eprintln!("SKIP {test}: {what}");
    false
}

/// Whether this process runs as root (effective uid 0), read from `/proc/self/status`.
#[must_use]
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            == Some("0")
    })
}

/// Whether `tool` is an executable on `PATH`.
#[must_use]
pub fn has_tool(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::metadata(d.join(tool))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// The workspace root: the nearest ancestor of this crate with a `[workspace]` Cargo.toml.
#[must_use]
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|d| {
            std::fs::read_to_string(d.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]"))
        })
        .unwrap_or(here)
        .to_path_buf()
}

/// `../shared/<rel>` next to the workspace, when it exists. Missing: under [`strict`] a panic
/// naming the path; else `SKIP` and `None`.
///
/// # Panics
///
/// When the file is missing under [`strict`].
#[must_use]
#[track_caller]
pub fn shared(rel: &str) -> Option<PathBuf> {
    let path = workspace_root().join("..").join("shared").join(rel);
    require(
        path.exists(),
        &format!(
            "fixture {} is missing (tests read ../shared/ beside the workspace)",
            path.display()
        ),
    )
    .then_some(path)
}

/// The cargo target directory the tests were built into: `CARGO_TARGET_DIR` when set (relative
/// to the workspace), else the directory three levels above the test binary
/// (`TARGET/debug/deps/NAME`).
#[must_use]
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return workspace_root().join(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The image archive of a statically linked moat (`cargo xtask image`): `MOAT_IMAGE` when
/// set, else built now into [`target_dir`]`/moat-image.tar` (a release build: minutes the
/// first time, seconds when nothing changed). A failed build is missing what the test needs:
/// under [`strict`] a panic with cargo's last lines, else `SKIP` and `None`.
///
/// # Panics
///
/// When the image cannot be had under [`strict`].
#[must_use]
#[track_caller]
pub fn moat_image() -> Option<PathBuf> {
    static BUILT: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let built = BUILT.get_or_init(|| {
        if let Some(p) = std::env::var_os("MOAT_IMAGE") {
            let p = PathBuf::from(p);
            return if p.is_file() {
                Ok(p)
            } else {
                Err(format!("MOAT_IMAGE={} is not a file", p.display()))
            };
        }
        let out = target_dir().join("moat-image.tar");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let run = std::process::Command::new(cargo)
            .current_dir(workspace_root())
            .args(["xtask", "image", "--out"])
            .arg(&out)
            .env("CARGO_TARGET_DIR", target_dir())
            .stdin(std::process::Stdio::null())
            .output();
        match run {
            Ok(o) if o.status.success() && out.is_file() => Ok(out),
            Ok(o) => {
                let err = String::from_utf8_lossy(&o.stderr);
                let tail: Vec<&str> = err.lines().rev().take(15).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                Err(format!(
                    "`cargo xtask image` failed ({}):\n{}",
                    o.status,
                    tail.join("\n")
                ))
            }
            Err(e) => Err(format!("cannot run cargo for `cargo xtask image`: {e}")),
        }
    });
    match built {
        Ok(p) => Some(p.clone()),
        Err(what) => {
            let _ = require(false, what);
            None
        }
    }
}

/// Whether golden files are being rewritten: `MOAT_BLESS=1`.
#[must_use]
pub fn blessing() -> bool {
    std::env::var("MOAT_BLESS").is_ok_and(|v| v == "1")
}

/// Checks `actual` against the golden file `path` (relative to the workspace root).
///
/// Under [`blessing`] the file is written instead (only when it differs, so an unchanged tree
/// stays unchanged). Otherwise a missing file or a difference fails the test with the first
/// differing line of each and the command that updates the file.
///
/// # Panics
///
/// When the output differs from the file, or the file is missing, outside [`blessing`].
#[track_caller]
pub fn golden(path: &str, actual: &str) {
    let file = workspace_root().join(path);
    let expected = std::fs::read_to_string(&file).ok();
    if blessing() {
        if expected.as_deref() != Some(actual) {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            }
            std::fs::write(&file, actual).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
        return;
    }
    let Some(expected) = expected else {
        panic!("golden file {path} is missing; `cargo xtask bless` writes it");
    };
    if expected == actual {
        return;
    }
    let (line, want, got) = first_difference(&expected, actual);
    panic!(
        "output differs from golden file {path} at line {line}:\n  golden: {want}\n  actual: {got}\n\
         whole output:\n{actual}\n(`cargo xtask bless` rewrites the file when the change is intended)"
    );
}

/// The 1-based number of the first line where `a` and `b` differ, and that line of each.
fn first_difference<'a>(a: &'a str, b: &'a str) -> (usize, &'a str, &'a str) {
    let (mut la, mut lb) = (a.split('\n'), b.split('\n'));
    let mut n = 1;
    loop {
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => n += 1,
            (x, y) => return (n, x.unwrap_or("<end>"), y.unwrap_or("<end>")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_workspace_root_holds_the_crates() {
        assert!(workspace_root().join("crates/testkit/Cargo.toml").is_file());
    }

    #[test]
    fn a_skip_fails_under_ci() {
        // A child process with CI=true: the skip must become a failure naming what is missing.
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "tests::child_that_skips",
                "--ignored",
                "--nocapture",
            ])
            .env("CI", "true")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text}");
        assert!(text.contains("cannot run: a unicorn"), "{text}");
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "tests::child_that_skips",
                "--ignored",
                "--nocapture",
            ])
            .env_remove("CI")
            .env_remove("MOAT_REQUIRE_ALL_TESTS")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("SKIP tests::child_that_skips: a unicorn"),
            "{text}"
        );
    }

    #[test]
    fn first_difference_names_the_line() {
        assert_eq!(first_difference("a\nb\nc", "a\nx\nc"), (2, "b", "x"));
        assert_eq!(first_difference("a\n", "a\nmore"), (2, "", "more"));
        assert_eq!(first_difference("a", "a\nb"), (2, "<end>", "b"));
    }

    #[test]
    #[ignore = "run by a_skip_fails_under_ci"]
    fn child_that_skips() {
        if !require(false, "a unicorn") {
            return;
        }
        unreachable!();
    }
}
