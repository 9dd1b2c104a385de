//! Builds the C programs under `crates/attacks/helpers/` with the system gcc.
//!
//! The attacks are written in C because they need raw syscalls with every register bit under
//! control (`syscall` with junk high words, `int 0x80`, `__X32_SYSCALL_BIT`) and kernel structs
//! (`io_uring_params`, `perf_event_attr`, `clone_args`); in Rust that would need `unsafe`, which
//! moat keeps to `crates/sys`. A sandboxed test then *executes* the helper, exactly as a
//! sandboxed workload would run.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory holding the helper sources.
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("helpers")
}

/// Compiles `helpers/<name>.c` into `out_dir/<output>` with `gcc -O1 -Wall -Werror` plus
/// `extra` flags (for example `-m32`, `-pthread`, `-static`). Fails with gcc's stderr.
pub fn build(name: &str, output: &str, extra: &[&str], out_dir: &Path) -> io::Result<PathBuf> {
    std::fs::create_dir_all(out_dir)?;
    let src = source_dir().join(format!("{name}.c"));
    let out = out_dir.join(output);
    let result = Command::new("gcc")
        .args(["-O1", "-Wall", "-Werror", "-D_GNU_SOURCE", "-o"])
        .arg(&out)
        .arg(&src)
        .args(extra)
        .output()?;
    if !result.status.success() {
        return Err(io::Error::other(format!(
            "gcc {} failed: {}",
            src.display(),
            String::from_utf8_lossy(&result.stderr)
        )));
    }
    Ok(out)
}
