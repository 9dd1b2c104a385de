//! Work under a budget: [`run`] computes in a forked child whose address space is capped
//! (`RLIMIT_AS`) and which is killed at a deadline, so a hostile input cannot hold the caller's
//! CPU or memory for longer than the caller allows.

use std::io::{self, Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::time::{Duration, Instant};

use crate::testing::{self, ChildStatus};

/// Why budgeted work produced no result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BoundedError {
    /// The deadline passed; the child was killed.
    #[error("took longer than {0:?}")]
    Time(Duration),
    /// The child died of a signal after asking for more memory than the budget (an allocation
    /// failure aborts) or crashed otherwise.
    #[error("needed more than {} MiB of memory (ended by signal {signal})", .budget >> 20)]
    Memory {
        /// The budget in bytes.
        budget: u64,
        /// The signal that ended the child.
        signal: i32,
    },
    /// The work panicked or exited without a result.
    #[error("the work ended without a result (exit code {0})")]
    Failed(i32),
    /// A system call of the supervision failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The calling process's address-space size in bytes (`VmSize` in `/proc/self/status`).
fn vm_size() -> io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| io::Error::other("no VmSize in /proc/self/status"))
}

/// Runs `f` in a forked child with at most `memory` bytes of address space beyond what the
/// caller already maps, and at most `time` of wall time, and returns the bytes `f` produced.
///
/// The same restrictions as for [`testing::in_child`] apply to `f` (the child is a copy of one
/// thread of the caller). The result travels through a pipe; the caller reads it while waiting,
/// so results of any size arrive.
pub fn run<F: FnOnce() -> Vec<u8>>(
    time: Duration,
    memory: u64,
    f: F,
) -> Result<Vec<u8>, BoundedError> {
    let deadline = Instant::now() + time;
    let limit = vm_size()?.saturating_add(memory);
    let (mut rx, tx) = testing::pipe()?;
    let child = testing::spawn(move || {
        let lim = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        // SAFETY: setrlimit reads one rlimit struct that lives on this stack for the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) } != 0 {
            return 3;
        }
        let out = f();
        let mut tx = tx;
        if tx.write_all(&out).is_err() {
            return 4;
        }
        0
    })?;
    // The child holds its own copy of the write end; only its exit closes the pipe.
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            drop(child);
            return Err(BoundedError::Time(time));
        }
        let mut pfd = libc::pollfd {
            fd: rx.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
        // SAFETY: `pfd` is one valid pollfd on this stack, and the count says one.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        if r == 0 {
            continue;
        }
        match rx.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    match child.wait()? {
        ChildStatus::Exited(0) => Ok(out),
        ChildStatus::Exited(c) => Err(BoundedError::Failed(c)),
        ChildStatus::Signaled(signal) => Err(BoundedError::Memory {
            budget: memory,
            signal,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_comes_back() {
        let out = run(Duration::from_secs(5), 64 << 20, || b"proved".to_vec()).unwrap();
        assert_eq!(out, b"proved");
        // Larger than a pipe buffer.
        let big = run(Duration::from_secs(5), 64 << 20, || vec![7u8; 1 << 20]).unwrap();
        assert_eq!(big.len(), 1 << 20);
    }

    #[test]
    fn work_past_the_deadline_is_killed() {
        let t = Instant::now();
        let e = run(Duration::from_millis(200), 64 << 20, || {
            loop {
                std::hint::spin_loop();
            }
        })
        .unwrap_err();
        assert!(matches!(e, BoundedError::Time(_)), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn work_past_the_memory_budget_fails() {
        let e = run(Duration::from_secs(20), 32 << 20, || {
            testing::no_core_dumps().ok();
            let mut v: Vec<Vec<u8>> = Vec::new();
            for _ in 0..1024 {
                v.push(vec![1u8; 1 << 20]);
            }
            vec![u8::try_from(v.len() % 256).unwrap_or(0)]
        })
        .unwrap_err();
        assert!(matches!(e, BoundedError::Memory { .. }), "{e}");
    }
}
