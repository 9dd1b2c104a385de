//! Seccomp user notification (`SECCOMP_RET_USER_NOTIF`, Linux 5.0): the supervisor's end.
//!
//! A filter installed with `SECCOMP_FILTER_FLAG_NEW_LISTENER` (by [`install_with_listener`] in
//! this process, or by [`crate::notify::spawn`] in a child) yields a listener descriptor. The
//! supervisor receives each notified call with [`Listener::recv`] and answers it with
//! [`Listener::respond`]: fail it with an errno, return a value without running it, or let it run
//! ([`Response::Continue`]).
//!
//! Without a listener the kernel fails a notified call with `ENOSYS`
//! (`kernel/seccomp.c: seccomp_do_user_notification`). The supervisor must not trust pointer
//! arguments: the caller can change the memory after the supervisor read it ([`read_memory`]),
//! so [`Response::Continue`] is only safe for decisions that do not depend on such memory
//! (`seccomp_unotify(2)`). [`Listener::id_valid`] tells whether a notification is still pending,
//! which is how a supervisor that read the caller's memory by thread id checks that the id did
//! not meanwhile name another process.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use moat_bpf::{Program, SeccompData};

use crate::{Flags, InstallError};

/// `SECCOMP_FILTER_FLAG_NEW_LISTENER` (Linux 5.0): `seccomp(2)` returns a listener descriptor.
pub(crate) const FLAG_NEW_LISTENER: u32 = 1 << 3;
/// `SECCOMP_USER_NOTIF_FLAG_CONTINUE` (Linux 5.5).
const FLAG_CONTINUE: u32 = 1;
/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` (Linux 6.6).
const FD_SYNC_WAKE_UP: u64 = 1;

// The ioctl numbers encode these sizes (`_IOWR('!', 0, struct seccomp_notif)` and
// `_IOWR('!', 1, struct seccomp_notif_resp)`); the kernel copies exactly that many bytes.
const _: () = assert!(size_of::<libc::seccomp_notif>() == 80);
const _: () = assert!(size_of::<libc::seccomp_notif_resp>() == 24);

/// One notified call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The kernel's cookie for this notification, to answer with.
    pub id: u64,
    /// The calling thread's id, in the listener's pid namespace.
    pub pid: u32,
    /// What the filter saw: number, `AUDIT_ARCH_*`, instruction pointer, arguments.
    pub data: SeccompData,
}

/// An answer to a notified call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// Fail the call with this errno without running it.
    Errno(i32),
    /// Return this value without running the call.
    Value(i64),
    /// Run the call as if no filter had notified it.
    #[doc(alias = "SECCOMP_USER_NOTIF_FLAG_CONTINUE")]
    Continue,
}

/// A seccomp user-notification listener: the supervisor's end of a notifying filter.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
}

/// Sets `no_new_privs` and installs `program` on the calling thread with
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`; returns the listener. The filter's `USER_NOTIF` verdicts
/// then wait for an answer on it. The supervisor must not be held up by the filter itself: a
/// thread of this process that receives notifications is confined too, so `program` has to let
/// its calls (`ioctl` at least) through.
pub fn install_with_listener(program: &Program, flags: Flags) -> Result<Listener, InstallError> {
    crate::set_no_new_privs().map_err(InstallError::NoNewPrivs)?;
    let r = crate::set_mode_filter(program.insns(), flags.bits() | FLAG_NEW_LISTENER)?;
    // With NEW_LISTENER a non-negative result is the descriptor (the kernel refuses TSYNC
    // without TSYNC_ESRCH here, so it is never a thread id).
    let raw = RawFd::try_from(r).map_err(|_| InstallError::Tsync { tid: r })?;
    // SAFETY: `raw` is a descriptor the kernel has just created for this process; nothing
    // else owns it, so wrapping it once gives it exactly one owner.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    Ok(Listener { fd })
}

impl Listener {
    /// Wraps a listener descriptor (from `seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER)`, e.g. one
    /// received from the confined process).
    pub fn from_fd(fd: OwnedFd) -> Listener {
        Listener { fd }
    }

    /// The listener descriptor (to pass to a supervisor process).
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Asks the kernel to run the woken caller or supervisor on the waker's CPU
    /// (`SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`, Linux 6.6). An error means the kernel is older;
    /// notifications work without it.
    #[doc(alias = "SECCOMP_IOCTL_NOTIF_SET_FLAGS")]
    pub fn set_sync_wake_up(&self) -> io::Result<()> {
        // SAFETY: SECCOMP_IOCTL_NOTIF_SET_FLAGS takes the flags by value (the kernel reads the
        // argument as an integer, not a pointer), so no memory of this process is passed.
        let r = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
                FD_SYNC_WAKE_UP,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Receives the next notification, blocking until there is one. `Ok(None)` when there is
    /// nothing to answer after all: the notification vanished before it could be read (the
    /// caller was killed or interrupted, `ENOENT`) or a signal interrupted the wait (`EINTR`).
    /// Call again to wait for the next one.
    #[doc(alias = "SECCOMP_IOCTL_NOTIF_RECV")]
    pub fn recv(&self) -> io::Result<Option<Notification>> {
        // SAFETY: seccomp_notif is plain integers, for which all-zero is a valid value (and the
        // kernel requires the buffer to be zeroed).
        let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: `n` is a live, writable seccomp_notif of exactly the size the ioctl number
        // encodes (asserted above); the kernel writes at most that many bytes into it and keeps
        // no pointer to it after the call.
        let r = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                &mut n as *mut libc::seccomp_notif,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOENT | libc::EINTR) => Ok(None),
                _ => Err(e),
            };
        }
        Ok(Some(Notification {
            id: n.id,
            pid: n.pid,
            data: SeccompData {
                nr: n.data.nr.cast_unsigned(),
                arch: n.data.arch,
                instruction_pointer: n.data.instruction_pointer,
                args: n.data.args,
            },
        }))
    }

    /// Answers the notified call `id`. A caller that is gone meanwhile (killed, or interrupted
    /// by a signal, in which case a restarted call is notified again with a new id) is not an
    /// error: nothing waits for the answer and the call did not run.
    #[doc(alias = "SECCOMP_IOCTL_NOTIF_SEND")]
    pub fn respond(&self, id: u64, response: Response) -> io::Result<()> {
        let mut resp = libc::seccomp_notif_resp {
            id,
            val: 0,
            error: 0,
            flags: 0,
        };
        match response {
            // The kernel takes the error negated, as a system call returns it.
            Response::Errno(e) => resp.error = -e,
            Response::Value(v) => resp.val = v,
            Response::Continue => resp.flags = FLAG_CONTINUE,
        }
        // SAFETY: `resp` is a live seccomp_notif_resp of exactly the size the ioctl number
        // encodes (asserted above); the kernel only reads it, during the call.
        let r = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                &mut resp as *mut libc::seccomp_notif_resp,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            // ENOENT: the caller died or was interrupted before the answer arrived.
            if e.raw_os_error() == Some(libc::ENOENT) {
                return Ok(());
            }
            return Err(e);
        }
        Ok(())
    }

    /// True while the notification `id` is still pending (received, not yet answered, caller
    /// still waiting). Checked after reading the caller's memory by thread id: if it is still
    /// pending, the thread could not have exited, so its id named the caller during the read.
    #[doc(alias = "SECCOMP_IOCTL_NOTIF_ID_VALID")]
    pub fn id_valid(&self, id: u64) -> io::Result<bool> {
        // SAFETY: SECCOMP_IOCTL_NOTIF_ID_VALID reads one u64 through the pointer; `id` is a
        // live u64 on this stack frame for the whole call and the kernel keeps no pointer to it.
        let r = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
                &id as *const u64,
            )
        };
        if r == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOENT) {
            Ok(false)
        } else {
            Err(e)
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Reads `buf.len()` bytes at `addr` in the memory of thread `pid` (`process_vm_readv`), for
/// arguments behind pointers such as `clone3`'s `struct clone_args`. A short read fails with
/// `EFAULT`. The caller can change the memory after it was read, so it may inform a recording,
/// never a security decision; check [`Listener::id_valid`] afterwards when `pid` comes from a
/// notification.
pub fn read_memory(pid: u32, addr: u64, buf: &mut [u8]) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    let len = buf.len();
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        // An address in the other process, only ever interpreted by the kernel.
        iov_base: addr as *mut libc::c_void,
        iov_len: len,
    };
    // SAFETY: `local` describes the `len` writable bytes of `buf`, borrowed mutably for the
    // whole call; `remote` is an address in the other process, which the kernel checks
    // (EFAULT) and never dereferences in ours. Counts of one iovec each match the arguments.
    let r = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if usize::try_from(r).ok() != Some(len) {
        return Err(io::Error::from_raw_os_error(libc::EFAULT));
    }
    Ok(())
}

/// Reads a native-endian `u64` at `addr` in the memory of thread `pid`, as [`read_memory`].
pub fn read_u64(pid: u32, addr: u64) -> io::Result<u64> {
    let mut buf = [0u8; size_of::<u64>()];
    read_memory(pid, addr, &mut buf)?;
    Ok(u64::from_ne_bytes(buf))
}
