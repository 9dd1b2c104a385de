//! Builds the test program and the initramfs, boots qemu, reads the results off the console.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::cpio::Archive;
use crate::{Plan, Seen, Target};

/// How long one VM may run before it is stopped (TCG on a loaded 2-core machine).
pub const TIMEOUT: Duration = Duration::from_secs(600);

/// A private scratch directory for one run, removed when dropped.
#[derive(Debug)]
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(arch: &str) -> anyhow::Result<Scratch> {
    let base = std::env::var_os("CARGO_TARGET_TMPDIR")
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR"))
        .map_or_else(std::env::temp_dir, PathBuf::from);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = base.join(format!("moat-abis-{arch}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(Scratch(dir))
}

/// Cross-compiles `init.c` for the target into `out`.
pub fn build_init(target: &Target, out: &Path) -> anyhow::Result<()> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("init.c");
    let mut cmd = Command::new(&target.cc[0]);
    cmd.args(&target.cc[1..]);
    if target.arch == moat_syscalls::Arch::X32 {
        // Without gcc-multilib there is no /usr/include/asm; the x86 headers serve x32 too.
        cmd.args(["-isystem", "/usr/include/x86_64-linux-gnu"]);
    }
    cmd.args(["-static", "-O2", "-o"]).arg(out).arg(&source);
    let output = cmd
        .output()
        .with_context(|| format!("running {} (installed by scripts/abis-setup)", target.cc[0]))?;
    if !output.status.success() {
        bail!(
            "{} failed to build {}:\n{}",
            target.cc.join(" "),
            source.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// The initramfs: `/init`, `/dev/console`, `/cases`, `/f/N`.
pub fn initramfs(init: &[u8], plan: &Plan) -> Vec<u8> {
    let mut a = Archive::new();
    a.dir("dev");
    // The kernel opens /dev/console for init's stdin/stdout before running it.
    a.char_dev("dev/console", 5, 1);
    a.dir("proc");
    a.file("init", 0o755, init);
    a.dir("f");
    for (i, f) in plan.filters.iter().enumerate() {
        a.file(&format!("f/{i}"), 0o644, &f.raw);
    }
    let mut cases = String::new();
    for c in &plan.calls {
        match c.filter {
            Some(i) => write!(cases, "{i}"),
            None => write!(cases, "-"),
        }
        .ok();
        write!(cases, " {:x}", c.nr).ok();
        for a in c.args {
            write!(cases, " {a:x}").ok();
        }
        cases.push('\n');
    }
    a.file("cases", 0o644, cases.as_bytes());
    a.finish()
}

/// Boots the target with the plan and returns one result per call, in order.
pub fn boot(target: &Target, plan: &Plan) -> anyhow::Result<Vec<Seen>> {
    let missing = target.missing();
    if !missing.is_empty() {
        bail!("{}: missing {}", target.arch, missing.join(", "));
    }
    let dir = scratch(target.arch.name())?;
    let init = dir.0.join("init");
    build_init(target, &init)?;
    let image = initramfs(&std::fs::read(&init)?, plan);
    let initrd = dir.0.join("initrd.cpio");
    std::fs::write(&initrd, image)?;
    let console = dir.0.join("console.log");
    let mut cmd = Command::new(&target.qemu);
    // A qemu unpacked from another suite must not load the machine's qemu modules.
    cmd.env("QEMU_MODULE_DIR", dir.0.join("no-modules"));
    cmd.args(target.machine)
        .args(["-m", &target.memory.to_string()])
        // TCG: KVM (x86_64 only) is not what is under test, and hangs on this machine.
        .args([
            "-accel",
            "tcg",
            "-nic",
            "none",
            "-display",
            "none",
            "-no-reboot",
        ])
        .args(["-monitor", "none", "-serial"])
        .arg(format!("file:{}", console.display()))
        .arg("-kernel")
        .arg(&target.kernel)
        .arg("-initrd")
        .arg(&initrd)
        .args(["-append", &format!("{} panic=-1 quiet", target.append)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {} (installed by scripts/abis-setup)", target.qemu))?;
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if started.elapsed() > TIMEOUT {
            // Stopped by its pid (Child::kill sends SIGKILL to exactly this process).
            child.kill().ok();
            child.wait().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read as _;
        e.read_to_string(&mut stderr).ok();
    }
    let log = String::from_utf8_lossy(&std::fs::read(&console).unwrap_or_default()).into_owned();
    let tail = |s: &str| {
        s.lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    };
    let results = parse(&log, plan.calls.len()).with_context(|| {
        format!(
            "{} under {}: {}\nconsole (last lines):\n{}\nqemu stderr: {}",
            target.arch,
            target.qemu,
            match status {
                None => format!("stopped after {}s without finishing", TIMEOUT.as_secs()),
                Some(s) => format!("exited with {s}"),
            },
            tail(&log),
            stderr.trim()
        )
    })?;
    if let Ok(keep) = std::env::var("MOAT_ABIS_KEEP") {
        std::fs::write(Path::new(&keep).join(format!("{}.log", target.arch)), &log).ok();
    }
    Ok(results)
}

/// Reads `R INDEX RESULT` lines and the closing `DONE COUNT` line from the console output.
pub fn parse(log: &str, expected: usize) -> anyhow::Result<Vec<Seen>> {
    let mut out: Vec<Option<Seen>> = vec![None; expected];
    let mut done = None;
    for line in log.lines() {
        // Kernel messages can share a line with the program's output: find the marker.
        if let Some(p) = line.find("FATAL ") {
            bail!("test program: {}", &line[p..]);
        }
        if let Some(p) = line.find("DONE ") {
            done = line[p + 5..].trim().parse::<usize>().ok();
            continue;
        }
        let Some(p) = line.find("R ") else { continue };
        let mut w = line[p + 2..].split_whitespace();
        let (Some(i), Some(kind)) = (w.next().and_then(|i| i.parse::<usize>().ok()), w.next())
        else {
            continue;
        };
        let n = w.next().and_then(|n| n.parse::<i32>().ok());
        let seen = match (kind, n) {
            ("ok", _) => Seen::Ok,
            ("err", Some(e)) => Seen::Err(e),
            ("sig", Some(s)) => Seen::Sig(s),
            ("exit", Some(c)) => Seen::Exit(c),
            ("load", Some(e)) => Seen::Load(e),
            _ => bail!("unreadable result line: {line}"),
        };
        if i >= expected {
            bail!("result for call {i}, but only {expected} were sent");
        }
        out[i] = Some(seen);
    }
    if done != Some(expected) {
        bail!("no `DONE {expected}` line (got {done:?})");
    }
    out.into_iter()
        .enumerate()
        .map(|(i, s)| s.ok_or_else(|| anyhow::anyhow!("no result for call {i}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_results_between_kernel_messages() {
        let log = "[    1.0] Run /init\nSTART\nR 0 ok\n[    1.2] random: crng\nR 1 err 38\nxR 2 sig 31\nR 3 exit 0\nR 4 load 22\nDONE 5\n";
        let r = parse(log, 5).unwrap_or_default();
        assert_eq!(
            r,
            [
                Seen::Ok,
                Seen::Err(38),
                Seen::Sig(31),
                Seen::Exit(0),
                Seen::Load(22)
            ]
        );
    }

    #[test]
    fn parse_fails_on_a_missing_result_or_an_early_end() {
        assert!(parse("R 0 ok\nDONE 2\n", 2).is_err());
        assert!(parse("R 0 ok\nR 1 ok\n", 2).is_err());
        assert!(parse("FATAL open /cases errno 2\n", 1).is_err());
    }
}
