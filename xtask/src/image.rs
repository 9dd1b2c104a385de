//! `cargo xtask image [--out FILE] [--target-dir DIR] [--binary FILE]`: the installable image.
//!
//! Builds moat statically linked (glibc's static libraries, `-C target-feature=+crt-static` for
//! x86_64-unknown-linux-gnu) and writes an OCI image archive (an OCI layout as a tar, what
//! `podman load` and `ctr images import` read) holding only that binary as
//! `/usr/local/bin/moat`, a `moat-runc` link beside it, and `moat` as the entrypoint. No base
//! image and no network.
//!
//! The same sources give the same bytes: the build maps the workspace, cargo's home and the
//! target directory to fixed names (`--remap-path-prefix`), carries no debug information and no
//! symbols, and the archive has fixed owners, times and order (moat-oci) and no `created` time.
//! `--binary` packs a binary built elsewhere instead (it must be static).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context as _, bail};
use moat_oci::spec::{CONTAINERD_IMAGE_NAME, ContainerConfig, ImageConfig, REF_NAME};
use moat_oci::{Digest, Layout, tar};

/// The target the image's binary is built for.
const TARGET: &str = "x86_64-unknown-linux-gnu";
/// The image's name as `ctr images import` and `podman load` give it.
pub const NAME: &str = "localhost/moat";
/// The version: the workspace's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Where the binary lives in the image (and on a node).
const BIN: &str = "usr/local/bin";

#[derive(Debug, Default)]
struct Options {
    out: Option<PathBuf>,
    target_dir: Option<PathBuf>,
    binary: Option<PathBuf>,
}

fn options(args: &[String]) -> anyhow::Result<Options> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .map(PathBuf::from)
                .with_context(|| format!("{flag} needs a value"))
        };
        match a.as_str() {
            "--out" => o.out = Some(value("--out")?),
            "--target-dir" => o.target_dir = Some(value("--target-dir")?),
            "--binary" => o.binary = Some(value("--binary")?),
            other => bail!(
                "image: unknown argument {other:?} (expected --out FILE, --target-dir DIR, --binary FILE)"
            ),
        }
    }
    Ok(o)
}

/// The target directory cargo uses: `--target-dir`, `CARGO_TARGET_DIR`, else `ROOT/target`.
fn target_dir(root: &Path, o: &Options) -> PathBuf {
    o.target_dir
        .clone()
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .map_or_else(
            || root.join("target"),
            |d| std::path::absolute(&d).unwrap_or(d),
        )
}

pub fn run(root: &Path, args: &[String]) -> anyhow::Result<ExitCode> {
    let o = options(args)?;
    let target = target_dir(root, &o);
    let binary = match &o.binary {
        Some(b) => b.clone(),
        None => build(root, &target)?,
    };
    let bytes = std::fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
    if !is_static(&bytes) {
        bail!(
            "{}: not a statically linked ELF executable (it has a program interpreter); the image has no libraries",
            binary.display()
        );
    }
    let layout = image(bytes)?;
    let out = o.out.unwrap_or_else(|| target.join("moat-image.tar"));
    layout
        .write_tar(&out)
        .with_context(|| format!("writing {}", out.display()))?;
    let archive = std::fs::read(&out).with_context(|| format!("reading {}", out.display()))?;
    let manifest = &layout.index().manifests[0];
    println!(
        "wrote {} ({} bytes, {}): image {NAME}:{VERSION}, manifest {}",
        out.display(),
        archive.len(),
        Digest::sha256(&archive),
        manifest.digest
    );
    Ok(ExitCode::SUCCESS)
}

/// Builds the static binary; returns its path.
fn build(root: &Path, target: &Path) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/root/.cargo"));
    // Paths that would otherwise end up in panic messages and file!(): fixed names instead.
    // Where several prefixes match (a target directory inside the workspace), rustc applies
    // the one given last, so the longest goes last.
    let mut maps = [
        (root.to_path_buf(), "/moat"),
        (home, "/cargo"),
        (target.to_path_buf(), "/target"),
    ];
    maps.sort_by_key(|(p, _)| p.as_os_str().len());
    let mut flags = vec!["-Ctarget-feature=+crt-static".to_string()];
    for (from, to) in &maps {
        flags.push(format!("--remap-path-prefix={}={to}", from.display()));
    }
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "moat-cli",
            "--bin",
            "moat",
        ])
        .args(["--target", TARGET])
        .arg("--target-dir")
        .arg(target)
        // CARGO_ENCODED_RUSTFLAGS (0x1f-separated) keeps paths with spaces whole; it applies
        // to the target only, so build scripts and proc macros stay dynamic host programs.
        .env("CARGO_ENCODED_RUSTFLAGS", flags.join("\x1f"))
        .env_remove("RUSTFLAGS")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "0")
        .env("CARGO_PROFILE_RELEASE_STRIP", "symbols")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .env("CARGO_PROFILE_RELEASE_INCREMENTAL", "false")
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build of the static moat failed ({status})");
    }
    Ok(target.join(TARGET).join("release").join("moat"))
}

/// True for an ELF executable without a `PT_INTERP` program header (nothing for a dynamic
/// loader to do: static, or static-pie as rustc makes with crt-static). ELF64 little-endian
/// layout: `e_phoff` at 0x20, `e_phentsize` at 0x36, `e_phnum` at 0x38 (elf(5)).
fn is_static(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |o: usize| elf.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
    };
    if elf.get(..6) != Some(b"\x7fELF\x02\x01") {
        return false;
    }
    let (Some(phoff), Some(size), Some(count)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return false;
    };
    let Ok(phoff) = usize::try_from(phoff) else {
        return false;
    };
    (0..usize::from(count))
        .all(|i| u32_at(phoff + i * usize::from(size)).is_some_and(|t| t != PT_INTERP))
}

/// The image: one layer with the binary and its link, moat as the entrypoint.
pub fn image(binary: Vec<u8>) -> anyhow::Result<Layout> {
    let mut layer = tar::Builder::new();
    layer.dir("usr", 0o755)?;
    layer.dir("usr/local", 0o755)?;
    layer.dir(BIN, 0o755)?;
    layer.file(&format!("{BIN}/moat"), 0o755, binary)?;
    // Installed as `moat-runc`, moat takes runc's command line (crates/cli/src/main.rs).
    layer.symlink(&format!("{BIN}/moat-runc"), "moat")?;
    let config = ContainerConfig {
        env: vec![format!("PATH=/{BIN}")],
        entrypoint: vec![format!("/{BIN}/moat")],
        working_dir: Some("/".into()),
        labels: BTreeMap::from([
            (
                "org.opencontainers.image.title".to_string(),
                "moat".to_string(),
            ),
            (
                "org.opencontainers.image.version".to_string(),
                VERSION.to_string(),
            ),
        ]),
        ..ContainerConfig::default()
    };
    let mut config = ImageConfig::new("amd64", "linux", config);
    config.history.push(moat_oci::spec::History {
        created_by: Some("cargo xtask image".into()),
        ..moat_oci::spec::History::default()
    });
    let annotations = BTreeMap::from([
        // containerd 1.6's importer names the image after io.containerd.image.name, and
        // Podman's oci-archive transport after org.opencontainers.image.ref.name.
        (
            CONTAINERD_IMAGE_NAME.to_string(),
            format!("{NAME}:{VERSION}"),
        ),
        (REF_NAME.to_string(), format!("{NAME}:{VERSION}")),
    ]);
    let mut layout = Layout::new();
    layout.add_image(config, vec![layer.into_bytes()?], annotations)?;
    Ok(layout)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_same_binary_gives_the_same_archive() {
        let a = image(b"\x7fELF binary".to_vec()).unwrap().to_tar().unwrap();
        let b = image(b"\x7fELF binary".to_vec()).unwrap().to_tar().unwrap();
        assert_eq!(a, b);
        let c = image(b"\x7fELF other".to_vec()).unwrap().to_tar().unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn the_image_holds_the_binary_its_link_and_an_entrypoint() {
        let layout = image(b"bin".to_vec()).unwrap();
        let back =
            Layout::from_tar(&layout.to_tar().unwrap()[..], &moat_oci::Limits::default()).unwrap();
        let (_, m) = back.find(&format!("{NAME}:{VERSION}")).unwrap();
        let config: ImageConfig = back.json(&m.config).unwrap();
        assert_eq!(config.config.unwrap().entrypoint, ["/usr/local/bin/moat"]);
        let mut r = tar::Reader::new(back.blob(&m.layers[0].digest).unwrap());
        let mut entries = Vec::new();
        while let Some(e) = r.next_entry(1 << 20).unwrap() {
            entries.push(e);
        }
        assert!(entries.contains(&tar::Entry::File {
            path: "usr/local/bin/moat".into(),
            mode: 0o755,
            data: b"bin".to_vec()
        }));
        assert!(entries.contains(&tar::Entry::Symlink {
            path: "usr/local/bin/moat-runc".into(),
            target: "moat".into()
        }));
    }

    #[test]
    fn a_dynamic_binary_is_not_static() {
        // This test binary is linked dynamically (it has PT_INTERP); /bin/busybox from
        // busybox-static is not.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(!is_static(&me));
        assert!(!is_static(b"not an elf"));
        let busybox = std::fs::read("/bin/busybox").unwrap();
        assert!(is_static(&busybox));
    }

    /// A copy of the workspace's files (tracked and untracked, not ignored) in `dest`.
    fn copy_workspace(root: &Path, dest: &Path) {
        let _ = std::fs::remove_dir_all(dest);
        let out = Command::new("git")
            .arg("-C")
            .arg(root)
            .args([
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "git ls-files: {out:?}");
        for rel in out.stdout.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            let rel = Path::new(std::str::from_utf8(rel).unwrap());
            let from = root.join(rel);
            // A file deleted but not yet staged is still listed.
            if !from.is_file() {
                continue;
            }
            let to = dest.join(rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&from, &to).unwrap();
            // The original's time: cargo then rebuilds the copy only when a source changed.
            let modified = std::fs::metadata(&from).unwrap().modified().unwrap();
            std::fs::File::options()
                .write(true)
                .open(&to)
                .unwrap()
                .set_modified(modified)
                .unwrap();
        }
    }

    /// Regression guard for the image's reproducibility: a second build from a copy of the
    /// sources at another path, into another target directory, gives the same archive, byte
    /// for byte. (A release build: minutes when its target directory is cold.)
    #[test]
    fn the_image_is_the_same_bytes_from_another_checkout_and_target_directory() {
        let Some(first) = moat_testkit::moat_image() else {
            return;
        };
        let target = moat_testkit::target_dir();
        let src = target.join("image-repro-src");
        copy_workspace(&moat_testkit::workspace_root(), &src);
        let second = target.join("image-repro").join("moat-image.tar");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(&src)
            .args(["xtask", "image", "--target-dir"])
            .arg(target.join("image-repro"))
            .arg("--out")
            .arg(&second)
            .env("CARGO_TARGET_DIR", target.join("image-repro"))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let a = std::fs::read(&first).unwrap();
        let b = std::fs::read(&second).unwrap();
        assert!(
            a == b,
            "{} ({}) and {} ({}) differ",
            first.display(),
            Digest::sha256(&a),
            second.display(),
            Digest::sha256(&b)
        );
        let _ = std::fs::remove_dir_all(&src);
    }
}
