//! `moat completions` and `moat man`: generated from the clap definitions, checked with the real
//! shell and the real man/groff tool chain.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::{moat, stderr, stdout};

/// The subcommands `moat --help` lists.
fn subcommands() -> Vec<String> {
    let help = stdout(&moat(&["--help"]));
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completion_completes_subcommands_and_flags() {
    assert!(moat_testkit::require(
        moat_testkit::has_tool("bash"),
        "bash"
    ));
    let out = moat(&["completions", "bash"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tempdir();
    let script = dir.join("moat.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    // Source the script and call its completion function the way bash's `complete -F` does:
    // COMP_WORDS/COMP_CWORD set, and the command, the current and the previous word as arguments.
    let complete = |words: &str, cword: usize| {
        let sh = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{words}'; \
             COMP_POINT=${{#COMP_LINE}}; \
             _moat moat \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let o = Command::new("bash").args(["-c", &sh]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let subs = complete("moat ''", 1);
    for s in subcommands() {
        assert!(subs.lines().any(|l| l == s), "`{s}` not offered: {subs}");
    }
    let flags = complete("moat compile --", 2);
    for f in ["--output", "--report", "--format", "--arch"] {
        assert!(flags.lines().any(|l| l == f), "`{f}` not offered: {flags}");
    }
    let formats = complete("moat compile --format ''", 3);
    assert!(
        formats.contains("disasm") && formats.contains("raw"),
        "{formats}"
    );
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_one_is_a_usage_error() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = moat(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        assert!(stdout(&out).contains("compile"), "{shell}");
    }
    let out = moat(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid value 'tcsh'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn man_pages_cover_every_subcommand_and_render_without_warnings() {
    assert!(moat_testkit::require(
        moat_testkit::has_tool("groff") && moat_testkit::has_tool("man"),
        "groff and man (Debian man-db)"
    ));
    let dir = tempdir();
    let out = moat(&["man", "--dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut pages = vec!["moat.1".to_string()];
    pages.extend(subcommands().iter().map(|s| format!("moat-{s}.1")));
    for page in &pages {
        let path = dir.join(page);
        assert!(path.is_file(), "{page} missing");
        // groff's own check: -ww turns on every warning, -z discards the output.
        let o = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let o = Command::new("man")
        .arg("-l")
        .arg(dir.join("moat-compile.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("moat-compile - Compile a policy"), "{text}");
    assert!(text.contains("--report"), "{text}");
    // Without --dir, moat(1) goes to standard output.
    let top = stdout(&moat(&["man"]));
    assert!(top.contains(".TH moat 1"), "{top}");
    for s in subcommands() {
        let roff = format!("moat-{s}").replace('-', "\\-");
        assert!(top.contains(&roff), "{roff} not in moat(1)");
    }
}

#[test]
fn man_into_a_missing_directory_writes_nothing_and_exits_2() {
    let dir = tempdir();
    let missing = dir.join("no/such/dir");
    let out = moat(&["man", "--dir", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(std::fs::read_dir(&dir).unwrap().next().is_none());
}

fn tempdir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "moat-completions-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}
