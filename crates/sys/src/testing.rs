//! Helpers for tests that need the real kernel: run code in a forked child, so a filter
//! installed there never reaches the test runner's process.

use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Exit code of a child whose closure panicked.
pub const PANIC_EXIT: i32 = 101;

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChildStatus {
    /// Exited with this code (the closure's return value, truncated to 0..=255 by the kernel).
    Exited(i32),
    /// Killed by this signal (`SIGSYS` = 31 for a seccomp kill on x86_64).
    Signaled(i32),
}

impl ChildStatus {
    /// The exit code, if the child exited.
    pub fn code(self) -> Option<i32> {
        match self {
            ChildStatus::Exited(c) => Some(c),
            ChildStatus::Signaled(_) => None,
        }
    }

    /// The signal, if the child was killed by one.
    pub fn signal(self) -> Option<i32> {
        match self {
            ChildStatus::Signaled(s) => Some(s),
            ChildStatus::Exited(_) => None,
        }
    }
}

/// Forks, runs `f` in the child and exits the child with `f`'s return value (with
/// [`PANIC_EXIT`] if `f` panics); waits for the child and reports how it ended.
///
/// The child is a copy of a possibly multi-threaded process that contains only the calling
/// thread. glibc makes `malloc` usable there, but locks held by other threads at the time of
/// the fork (for example stdout's) stay locked: keep `f` to simple work — install a filter,
/// make syscalls, write results to a pipe — and report through the exit code or a pipe.
pub fn in_child<F: FnOnce() -> i32>(f: F) -> io::Result<ChildStatus> {
    spawn(f)?.wait()
}

/// Waits for child `pid` to end, retrying on EINTR.
fn wait_for(pid: libc::pid_t) -> io::Result<ChildStatus> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid, writable c_int for the duration of the call; `pid` is
        // our own child, so waiting on it cannot reap another part of the program's children.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    if libc::WIFEXITED(status) {
        Ok(ChildStatus::Exited(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Ok(ChildStatus::Signaled(libc::WTERMSIG(status)))
    } else {
        Err(io::Error::other(format!(
            "unexpected wait status {status:#x}"
        )))
    }
}

/// A forked child that runs concurrently with the caller; killed and reaped when dropped.
#[derive(Debug)]
pub struct Child {
    pid: libc::pid_t,
    reaped: bool,
}

impl Child {
    /// The child's process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Waits for the child to end.
    pub fn wait(mut self) -> io::Result<ChildStatus> {
        self.reaped = true;
        wait_for(self.pid)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: kill takes integers only; `pid` is our unreaped child, so the id cannot
            // have been reused by another process.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            let _ = wait_for(self.pid);
        }
    }
}

/// Forks and runs `f` in the child (exiting with its return value, [`PANIC_EXIT`] on panic)
/// without waiting for it. The same restrictions as for [`in_child`] apply to `f`.
pub fn spawn<F: FnOnce() -> i32>(f: F) -> io::Result<Child> {
    // SAFETY: fork has no memory-safety preconditions of its own. In the child only this thread
    // exists; it runs `f` and then leaves with `_exit`, which runs no atexit handlers and no
    // destructors, so nothing the parent owns is released twice. The closure's own safety in a
    // forked child is the caller's documented responsibility.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        let code = catch_unwind(AssertUnwindSafe(f)).unwrap_or(PANIC_EXIT);
        // SAFETY: _exit ends the child immediately; it takes an integer and never returns.
        unsafe { libc::_exit(code) }
    }
    Ok(Child { pid, reaped: false })
}

/// Makes the calling process non-dumpable, so a seccomp kill in a test child writes no core
/// file (`prctl(PR_SET_DUMPABLE, 0)`; a core limit of 0 is ignored by piped `core_pattern`s).
pub fn no_core_dumps() -> io::Result<()> {
    // SAFETY: prctl with PR_SET_DUMPABLE takes integer arguments only and touches no memory of
    // this process.
    let r = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A close-on-exec pipe as `(read end, write end)`, for a child to report results through.
pub fn pipe() -> io::Result<(File, File)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a writable array of two c_ints, as pipe2 requires.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else; each is
    // wrapped exactly once.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((File::from(r), File::from(w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_exit_codes_and_panics() {
        assert_eq!(in_child(|| 7).unwrap(), ChildStatus::Exited(7));
        assert_eq!(
            in_child(|| panic!("boom")).unwrap(),
            ChildStatus::Exited(PANIC_EXIT)
        );
    }

    #[test]
    fn reports_signals() {
        let st = in_child(|| {
            no_core_dumps().unwrap();
            // SAFETY: raising SIGKILL on ourselves has no memory effects; the child dies here.
            unsafe { libc::raise(libc::SIGKILL) };
            0
        })
        .unwrap();
        assert_eq!(st, ChildStatus::Signaled(libc::SIGKILL));
    }
}
