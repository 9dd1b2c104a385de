//! What moat does on a terminal (a real pseudo-terminal from util-linux's `script`): colour, only
//! there, never with `NO_COLOR` set, `TERM=dumb` or `--color never`, always with `--color
//! always`; a progress line for a `diff` or `lint` that takes more than a second.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::process::Command;

const ESC: &str = "\x1b[";

fn golden_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Runs `moat ARGS` with its standard output on a pseudo-terminal; returns what it printed.
fn on_a_terminal(args: &str, env: &[(&str, &str)]) -> String {
    let cmd = format!("{} {args}", env!("CARGO_BIN_EXE_moat"));
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"])
        .current_dir(golden_dir())
        .env_remove("NO_COLOR")
        .env("TERM", "xterm");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run script");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn lint_and_test_colour_a_terminal_and_nothing_else() {
    assert!(moat_testkit::require(
        moat_testkit::has_tool("script"),
        "script (util-linux) for a pseudo-terminal"
    ));
    let lint = on_a_terminal("lint shadowed.moat", &[]);
    assert!(
        lint.contains("\x1b[1;31merror[allows-bpf]\x1b[0m"),
        "{lint:?}"
    );
    assert!(
        lint.contains("\x1b[1;33mwarning[shadowed-rule]\x1b[0m"),
        "{lint:?}"
    );
    let test = on_a_terminal("test web.moat web.tests", &[]);
    assert!(test.contains("\x1b[1;31mFAIL\x1b[0m"), "{test:?}");
    for (args, env) in [
        ("lint shadowed.moat", vec![("NO_COLOR", "1")]),
        ("lint shadowed.moat", vec![("TERM", "dumb")]),
        ("--color never lint shadowed.moat", vec![]),
        ("test web.moat web.tests", vec![("NO_COLOR", "yes")]),
    ] {
        let out = on_a_terminal(args, &env);
        assert!(
            out.contains("error[") || out.contains("FAIL"),
            "{args}: {out}"
        );
        assert!(!out.contains(ESC), "{args} {env:?}: {out:?}");
    }
    // An empty NO_COLOR does not count (no-color.org).
    let out = on_a_terminal("lint shadowed.moat", &[("NO_COLOR", "")]);
    assert!(out.contains(ESC), "{out:?}");
}

#[test]
fn a_pipe_gets_no_colour_unless_asked() {
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_moat"))
            .args(args)
            .current_dir(golden_dir())
            .env_remove("NO_COLOR")
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(!run(&["lint", "shadowed.moat"]).contains(ESC));
    assert!(run(&["--color", "always", "lint", "shadowed.moat"]).contains("\x1b[1;31merror["));
    assert!(run(&["lint", "--color=always", "shadowed.moat"]).contains(ESC));
}

#[test]
fn a_long_diff_shows_progress_on_a_terminal_and_erases_it() {
    assert!(moat_testkit::require(
        moat_testkit::has_tool("script"),
        "script (util-linux) for a pseudo-terminal"
    ));
    // 3,000 values in one set: well over a second for the (unoptimised) test binary.
    let values: Vec<String> = (0..3000).map(|i| (3 * i + 1).to_string()).collect();
    let dir = std::env::temp_dir().join(format!("moat-progress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("big.moat");
    std::fs::write(
        &policy,
        format!(
            "use container\ndeny read if arg0 in {{{}}}\n",
            values.join(", ")
        ),
    )
    .unwrap();
    let args = format!("diff container {}", policy.display());
    let out = on_a_terminal(&args, &[]);
    assert!(
        out.contains("\r\x1b[Kmoat diff: working, 1.0 s"),
        "{:?}",
        &out[..out.len().min(400)]
    );
    // The line is erased before the result is printed.
    let result = out
        .find("read [x86_64, x86]: container allows")
        .expect("the diff");
    assert!(
        out[..result].ends_with("\r\x1b[K"),
        "{:?}",
        &out[result.saturating_sub(80)..result]
    );
    // Not on a pipe.
    let piped = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["diff", "container", policy.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&piped.stderr).contains("working"));
    let _ = std::fs::remove_dir_all(&dir);
}
