//! Reading the seccomp filters attached to another process.

use std::io;

use moat_bpf::{Insn, Program, ValidateError};

/// `PTRACE_SECCOMP_GET_FILTER` (Linux 4.4, needs `CAP_SYS_ADMIN` and
/// `CONFIG_CHECKPOINT_RESTORE`); not in the libc crate.
const PTRACE_SECCOMP_GET_FILTER: libc::c_uint = 0x420c;

/// Why the filters of a process could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// `ptrace(PTRACE_SEIZE)` failed: no such process, or no permission (`CAP_SYS_PTRACE`,
    /// Yama's `ptrace_scope`).
    #[error("cannot attach to process {pid}: {source}")]
    Attach {
        /// The process.
        pid: i32,
        /// The error.
        source: io::Error,
    },
    /// Stopping the process or reading a filter failed (`EACCES` without `CAP_SYS_ADMIN`,
    /// `EINVAL` on kernels without `CONFIG_CHECKPOINT_RESTORE`).
    #[error("cannot read the seccomp filters of process {pid}: {source}")]
    Read {
        /// The process.
        pid: i32,
        /// The error.
        source: io::Error,
    },
    /// The process is in strict mode (`SECCOMP_MODE_STRICT`), which has no filters.
    #[error("process {pid} is in seccomp strict mode, which has no filters")]
    Strict {
        /// The process.
        pid: i32,
    },
    /// The kernel returned a filter moat does not consider valid (should not happen).
    #[error("filter {index} of process {pid} is not a valid program: {source}")]
    Invalid {
        /// The process.
        pid: i32,
        /// Position in the stack, 0 = newest.
        index: usize,
        /// The validation error.
        source: ValidateError,
    },
}

/// The seccomp filters attached to process `pid`, in the order they were installed (the
/// kernel's index 0 is the oldest; the kernel runs all of them). Empty when it has none. The
/// process is stopped with `ptrace` while they are read.
pub fn read_filters(pid: i32) -> Result<Vec<Program>, ReadError> {
    let read_err = |source| ReadError::Read { pid, source };
    // PTRACE_SECCOMP_GET_FILTER fails with EINVAL for a process without filters, as it does
    // on kernels without the feature, so ask /proc first.
    match seccomp_mode(pid).map_err(read_err)? {
        0 => return Ok(Vec::new()),
        1 => return Err(ReadError::Strict { pid }),
        _ => {}
    }
    // SAFETY: PTRACE_SEIZE takes no pointers (addr and data are 0 here).
    let r = unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0usize, 0usize) };
    if r != 0 {
        return Err(ReadError::Attach {
            pid,
            source: io::Error::last_os_error(),
        });
    }
    let result = stop(pid).map_err(read_err).and_then(|()| read_all(pid));
    // SAFETY: PTRACE_DETACH with signal 0 takes no pointers; it resumes the tracee.
    unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, 0usize, 0usize) };
    result
}

/// The `Seccomp:` field of `/proc/<pid>/status`: 0 disabled, 1 strict, 2 filter.
fn seccomp_mode(pid: i32) -> io::Result<u8> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| io::Error::other(format!("/proc/{pid}/status has no Seccomp field")))
}

/// Brings a seized tracee to a stop, as `PTRACE_SECCOMP_GET_FILTER` requires.
fn stop(pid: i32) -> io::Result<()> {
    // SAFETY: PTRACE_INTERRUPT takes no pointers.
    if unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, pid, 0usize, 0usize) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid, writable c_int for the duration of the call.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r == pid {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

fn read_all(pid: i32) -> Result<Vec<Program>, ReadError> {
    let mut out = Vec::new();
    for index in 0usize.. {
        // SAFETY: with a null data pointer the kernel only returns the filter's length.
        let n = unsafe {
            libc::ptrace(
                PTRACE_SECCOMP_GET_FILTER,
                pid,
                index,
                std::ptr::null_mut::<Insn>(),
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            // ENOENT: no filter at this index, the stack has been read.
            if err.raw_os_error() == Some(libc::ENOENT) {
                break;
            }
            return Err(ReadError::Read { pid, source: err });
        }
        let len = usize::try_from(n).unwrap_or(0);
        let mut insns = vec![Insn::default(); len];
        // SAFETY: `insns` holds `len` instructions laid out as `struct sock_filter` (asserted
        // in lib.rs), exactly the length the kernel just reported for this index; the filter
        // of a stopped tracee does not change, so the kernel writes at most `len` entries.
        let m = unsafe { libc::ptrace(PTRACE_SECCOMP_GET_FILTER, pid, index, insns.as_mut_ptr()) };
        if m < 0 {
            return Err(ReadError::Read {
                pid,
                source: io::Error::last_os_error(),
            });
        }
        insns.truncate(usize::try_from(m).unwrap_or(0));
        let p = Program::new(insns).map_err(|source| ReadError::Invalid { pid, index, source })?;
        out.push(p);
    }
    Ok(out)
}
