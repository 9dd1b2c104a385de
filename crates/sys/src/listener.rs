//! Seccomp user notification (`SECCOMP_RET_USER_NOTIF`, Linux 5.0): a filter installed with
//! [`install_with_listener`] returns a listener descriptor; another process (the supervisor)
//! receives each notified call with [`Listener::recv`] and answers with [`Listener::respond`].
//!
//! Without a listener the kernel fails a notified call with `ENOSYS`
//! (`kernel/seccomp.c: seccomp_do_user_notification`). The supervisor must not trust pointer
//! arguments: the caller can change the memory after the check (time-of-check races), so
//! [`Response::Continue`] is only safe for decisions that do not depend on such memory.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use moat_bpf::{Program, SeccompData};

use crate::{Flags, InstallError};

/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`.
const FLAG_NEW_LISTENER: u32 = 8;
/// `SECCOMP_IOCTL_NOTIF_RECV` = `_IOWR('!', 0, struct seccomp_notif)` (80 bytes).
const IOCTL_NOTIF_RECV: libc::c_ulong = 0xc050_2100;
/// `SECCOMP_IOCTL_NOTIF_SEND` = `_IOWR('!', 1, struct seccomp_notif_resp)` (24 bytes).
const IOCTL_NOTIF_SEND: libc::c_ulong = 0xc018_2101;
/// `SECCOMP_USER_NOTIF_FLAG_CONTINUE`.
const FLAG_CONTINUE: u32 = 1;

#[repr(C)]
#[derive(Default)]
struct RawNotif {
    id: u64,
    pid: u32,
    flags: u32,
    data: RawData,
}

#[repr(C)]
#[derive(Default)]
struct RawData {
    nr: i32,
    arch: u32,
    instruction_pointer: u64,
    args: [u64; 6],
}

#[repr(C)]
struct RawResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

const _: () = {
    assert!(std::mem::size_of::<RawNotif>() == 80);
    assert!(std::mem::size_of::<RawResp>() == 24);
};

/// A user-notification listener: the supervisor's end.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
}

/// One notified call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Cookie to answer with.
    pub id: u64,
    /// The caller's thread id (in the listener's pid namespace).
    pub pid: u32,
    /// The call as the filter saw it.
    pub data: SeccompData,
}

/// An answer to a notified call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// Fail the call with this errno.
    Errno(i32),
    /// Return this value without running the call.
    Value(i64),
    /// Run the call as if no filter had notified (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`).
    Continue,
}

/// Sets `no_new_privs` and installs `program` with `SECCOMP_FILTER_FLAG_NEW_LISTENER`; returns
/// the listener. The filter's `USER_NOTIF` verdicts then wait for an answer on it.
pub fn install_with_listener(program: &Program, flags: Flags) -> Result<Listener, InstallError> {
    crate::set_no_new_privs().map_err(InstallError::NoNewPrivs)?;
    let insns = program.insns();
    let len = u16::try_from(insns.len()).map_err(|_| InstallError::TooLong { len: insns.len() })?;
    let fprog = libc::sock_fprog {
        len,
        filter: insns.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    // SAFETY: as in `install_filter`: `fprog` points to `len` live instructions laid out as
    // `struct sock_filter`; the kernel copies them. With NEW_LISTENER the kernel returns a
    // fresh descriptor.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            1u32,
            flags.bits() | FLAG_NEW_LISTENER,
            &fprog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        return Err(InstallError::Seccomp(io::Error::last_os_error()));
    }
    let raw = i32::try_from(r).map_err(|_| InstallError::Tsync { tid: r })?;
    // SAFETY: a fresh descriptor returned by the kernel, wrapped once.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    Ok(Listener { fd })
}

impl Listener {
    /// The listener descriptor (to pass to a supervisor process).
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Wraps a listener descriptor received from the confined process.
    pub fn from_fd(fd: OwnedFd) -> Listener {
        Listener { fd }
    }

    /// Blocks until a call is notified.
    pub fn recv(&self) -> io::Result<Notification> {
        loop {
            let mut n = RawNotif::default();
            // SAFETY: `n` is a zeroed, writable `struct seccomp_notif` as the ioctl requires.
            let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), IOCTL_NOTIF_RECV, &mut n) };
            if r != 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            return Ok(Notification {
                id: n.id,
                pid: n.pid,
                data: SeccompData {
                    nr: n.data.nr.cast_unsigned(),
                    arch: n.data.arch,
                    instruction_pointer: n.data.instruction_pointer,
                    args: n.data.args,
                },
            });
        }
    }

    /// Answers a notified call. Fails with `ENOENT` when the caller is gone.
    pub fn respond(&self, id: u64, response: Response) -> io::Result<()> {
        let mut resp = RawResp {
            id,
            val: 0,
            error: 0,
            flags: 0,
        };
        match response {
            Response::Errno(e) => resp.error = -e,
            Response::Value(v) => resp.val = v,
            Response::Continue => resp.flags = FLAG_CONTINUE,
        }
        // SAFETY: `resp` is a live `struct seccomp_notif_resp`; the kernel reads it.
        let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), IOCTL_NOTIF_SEND, &mut resp) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
