//! Running a command under the recording filter.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use moat_bpf::Program;
use moat_bpf::builder::Builder;
use moat_bpf::consts::SECCOMP_RET_USER_NOTIF;
use moat_policy::{Action, Context, Policy};
use moat_sys::listener;
use moat_sys::notify::{self, Exit, SpawnError};

use crate::Recording;

/// Live numbers while a recording runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Distinct (ABI, number) pairs so far.
    pub distinct: usize,
    /// Calls so far.
    pub total: u64,
}

/// Why a command could not be recorded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// No command was given.
    #[error("no command to record")]
    NoCommand,
    /// The command was not found on `PATH` or is not executable.
    #[error("{0}: command not found")]
    NotFound(String),
    /// An argument or environment variable holds a NUL byte.
    #[error("argument or environment variable with a NUL byte: {0:?}")]
    Nul(OsString),
    /// Starting the command under the filter failed.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// The command's `execve` failed.
    #[error("cannot execute {path}: {source}")]
    Exec {
        /// The resolved path.
        path: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Answering notifications failed.
    #[error("supervising the command failed: {0}")]
    Supervise(#[source] io::Error),
}

/// The result of recording one run.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Every call the program made, from its `execve` on, in all threads and children.
    pub recording: Recording,
    /// With a base policy: the calls the base would not have let run.
    pub beyond: Option<Recording>,
    /// How the program ended.
    pub exit: Exit,
}

/// The recording filter: every call of every ABI goes to the supervisor. One instruction, so
/// the kernel's constant-action cache cannot skip any syscall (it only caches `ALLOW`).
pub fn filter() -> Program {
    let mut b = Builder::new();
    b.ret(SECCOMP_RET_USER_NOTIF);
    // A one-instruction `RET` is always a valid program.
    b.finish()
        .unwrap_or_else(|_| unreachable!("a single RET always validates"))
}

fn is_clone3(audit_arch: u32, nr: u32) -> bool {
    moat_syscalls::Arch::of(audit_arch, nr)
        .and_then(|a| a.by_nr(nr))
        .is_some_and(|s| s.name == "clone3")
}

/// Finds `program` the way `execvp` does: as given when it contains a `/`, else on `PATH`.
pub fn resolve(program: &OsStr) -> Result<PathBuf, RecordError> {
    let not_found = || RecordError::NotFound(program.to_string_lossy().into_owned());
    if program.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(program));
    }
    if program.is_empty() {
        return Err(not_found());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(program);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(not_found())
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn cstring(s: &OsStr) -> Result<CString, RecordError> {
    CString::new(s.as_bytes()).map_err(|_| RecordError::Nul(s.to_os_string()))
}

/// Runs `argv` (program and arguments) with this process's environment under the recording
/// filter until it and every thread and process it started have ended, recording each call.
/// `base`, when given, is evaluated on every call to collect what it would deny.
/// `on_progress` is called every `tick`. Standard input, output and error pass through.
pub fn record(
    argv: &[OsString],
    base: Option<&Policy>,
    tick: Option<Duration>,
    mut on_progress: impl FnMut(Progress),
) -> Result<Outcome, RecordError> {
    let program = argv.first().ok_or(RecordError::NoCommand)?;
    let path = resolve(program)?;
    let c_path = cstring(path.as_os_str())?;
    let c_argv = argv
        .iter()
        .map(|a| cstring(a))
        .collect::<Result<Vec<_>, _>>()?;
    let c_envp = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            cstring(&kv)
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut child = notify::spawn(&c_path, &c_argv, &c_envp, &filter())?;
    let mut recording = Recording::new();
    let mut beyond = base.map(|_| Recording::new());
    let ctx = Context::default();
    let exit = {
        let rec = &mut recording;
        let shared = std::cell::Cell::new(Progress {
            distinct: 0,
            total: 0,
        });
        let result = child.supervise(
            |n| {
                let d = &n.data;
                rec.record(d.arch, d.nr, &d.args);
                if is_clone3(d.arch, d.nr)
                    && let Ok(flags) = listener::read_u64(n.pid, d.args[0])
                {
                    rec.record_clone3_flags(flags);
                }
                if let (Some(policy), Some(b)) = (base, beyond.as_mut()) {
                    let action = policy.evaluate(&ctx, d.arch, d.nr, d.args).action;
                    // A base that fails clone3 with ENOSYS sends libc to clone: not a need.
                    let fallback = action == Action::Errno(38) && is_clone3(d.arch, d.nr);
                    if !action.runs_call() && !fallback {
                        b.record(d.arch, d.nr, &d.args);
                    }
                }
                shared.set(Progress {
                    distinct: rec.distinct(),
                    total: rec.total(),
                });
            },
            tick,
            || on_progress(shared.get()),
        );
        result.map_err(RecordError::Supervise)?
    };
    if exit == Exit::Code(127)
        && let Some(source) = child.exec_error()
    {
        return Err(RecordError::Exec {
            path: path.display().to_string(),
            source,
        });
    }
    Ok(Outcome {
        recording,
        beyond,
        exit,
    })
}
