//! `moat explain --html`: the page renders in headless Chromium (Debian's `chromium`), and the
//! test looks at the result: the DOM holds the expected grid cells with the right colours, the
//! screenshot shows them, and the browser logs no console message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use moat_analyze::explain::{costs, html};
use moat_policy::{Context, Policy};

const CHROMIUM: &str = "/usr/bin/chromium";

fn page(name: &str) -> PathBuf {
    let ctx = Context::default();
    let policy = Policy::builtin(name).unwrap().unwrap();
    let exp = policy.explain(&ctx).unwrap();
    let c = costs(&policy, &ctx).unwrap();
    let dir = std::env::temp_dir().join(format!("moat-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.html"));
    std::fs::write(&path, html(&policy, &exp, Some(&c))).unwrap();
    path
}

/// Runs headless Chromium with the flags this machine needs (no sandbox as root, no GPU, no
/// network chatter) and returns (stdout, stderr).
fn chromium(extra: &[&str], file: &Path) -> (String, String) {
    let profile = file.with_extension("profile");
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", file.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn page_is_self_contained() {
    let text = std::fs::read_to_string(page("strict")).unwrap();
    for forbidden in ["http://", "https://", "<script", "src=", "<link", "@import"] {
        assert!(!text.contains(forbidden), "page references {forbidden}");
    }
}

#[test]
fn renders_in_headless_chromium() {
    if !Path::new(CHROMIUM).exists() {
        eprintln!("skipped: {CHROMIUM} is not installed (scripts/test installs it)");
        return;
    }
    let file = page("container");
    // The DOM the browser built holds the grid and the per-syscall rows, with their colours.
    let (dom, log) = chromium(&["--dump-dom"], &file);
    assert!(dom.contains("<table id=\"grid\">"), "{dom:.300}");
    assert!(
        dom.contains("class=\"cell deny\" id=\"cell-keyring-x86_64\""),
        "keyring"
    );
    assert!(
        dom.contains("class=\"cell deny\" id=\"cell-module-x86\""),
        "module"
    );
    assert!(
        dom.contains("class=\"cell allow\" id=\"cell-basic-io-x86_64\""),
        "basic-io"
    );
    assert!(
        dom.contains("class=\"cell cond\" id=\"cell-mount-x86_64\""),
        "mount: chroot runs"
    );
    assert!(
        dom.contains("<tr id=\"sc-bpf\"><th>bpf</th><td class=\"deny\">"),
        "bpf row"
    );
    assert!(
        dom.contains("<tr id=\"sc-clone\"><th>clone</th><td class=\"cond\">"),
        "clone row"
    );
    assert!(
        dom.contains("served by the kernel's constant-allow cache"),
        "cache line"
    );
    assert!(!log.contains("CONSOLE"), "console messages: {log}");
    // The screenshot is not blank: it shows the legend and grid colours.
    let png = file.with_extension("png");
    let (_, log) = chromium(
        &[
            "--window-size=1000,1400",
            &format!("--screenshot={}", png.display()),
        ],
        &file,
    );
    assert!(!log.contains("CONSOLE"), "console messages: {log}");
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1000, 1400));
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    let count = |rgb: [u8; 3]| {
        pixels
            .iter()
            .filter(|p| {
                p[0].abs_diff(rgb[0]) < 6 && p[1].abs_diff(rgb[1]) < 6 && p[2].abs_diff(rgb[2]) < 6
            })
            .count()
    };
    let green = count([0xc8, 0xf0, 0xcf]);
    let red = count([0xf7, 0xc1, 0xc1]);
    let amber = count([0xfb, 0xe3, 0xa1]);
    let white = count([0xff, 0xff, 0xff]);
    let total = pixels.len();
    assert!(
        white < total * 95 / 100,
        "almost blank: {white} of {total} white"
    );
    assert!(
        green > 5000 && red > 5000 && amber > 5000,
        "cell colours: green {green}, red {red}, amber {amber}"
    );
}
