//! `moat-confine FILTER.bpf CMD [ARG...]`: installs a raw seccomp program with `moat-sys` (no
//! new privileges, then `seccomp(SECCOMP_SET_MODE_FILTER)`) and execs CMD under it.
//!
//! The attack tests use it to confine a helper without forking the multi-threaded test runner,
//! and behind `unshare -m` when an attack needs a private mount namespace. It fails closed:
//! any error before `execve` exits 125 and runs nothing.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [filter, cmd, rest @ ..] = args.as_slice() else {
        eprintln!("usage: moat-confine FILTER.bpf CMD [ARG...]");
        return ExitCode::from(125);
    };
    let program = match std::fs::read(filter)
        .map_err(|e| e.to_string())
        .and_then(|b| moat_bpf::Program::from_bytes(&b).map_err(|e| e.to_string()))
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("moat-confine: {filter}: {e}");
            return ExitCode::from(125);
        }
    };
    if let Err(e) = moat_sys::install(&program, moat_sys::Flags::NONE) {
        eprintln!("moat-confine: {e}");
        return ExitCode::from(125);
    }
    let err = Command::new(cmd).args(rest).exec();
    eprintln!("moat-confine: {cmd}: {err}");
    ExitCode::from(125)
}
