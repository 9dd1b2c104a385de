//! Recording plumbing: start a program under a filter that hands its calls to this process
//! through seccomp user notification, and let every call continue.
//!
//! [`spawn`] starts a command the way `moat record` needs it: the child sets `no_new_privs`,
//! installs the given filter with `SECCOMP_FILTER_FLAG_NEW_LISTENER` right before `execve`, and
//! so every call from the `execve` on (the new image's first instruction included, moat's own
//! start-up excluded) reaches the [`Listener`]. The filter is inherited by every thread, fork
//! and exec of the program, so one listener sees them all.
//!
//! Handing the listener over: the child is created with `clone3(CLONE_FILES | CLONE_PIDFD)`, so
//! until its `execve` it shares this process's file descriptor table and the listener the
//! kernel returns to it is already ours. It publishes the descriptor's number in a shared
//! anonymous page (a memory store, not a syscall: every syscall after the install would itself
//! wait for a supervisor that does not know the listener yet), then calls `execve`, which
//! unshares the table and closes the listener (`O_CLOEXEC`) in the new image. No `SCM_RIGHTS`
//! message and no exception in the filter is needed, so the filter can notify every call.
//!
//! [`Child::supervise`] answers every notification with `SECCOMP_USER_NOTIF_FLAG_CONTINUE`
//! after handing it to a callback, until every task that holds the filter is gone (the listener
//! reports `POLLHUP`). `CONTINUE` lets the kernel run the call as if there were no filter; it is
//! sound here because the supervisor only observes (`seccomp_unotify(2)` explains why it must
//! never be used to make security decisions).
//!
//! The listener is [`crate::listener::Listener`]; this module only adds how the program is
//! started, the supervision loop and signal forwarding.

use std::ffi::CStr;
use std::ffi::CString;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use moat_bpf::Program;

pub use crate::exec::Exit;
use crate::exec::{FORWARDED, SI_KERNEL};
use crate::listener::{FLAG_NEW_LISTENER, Listener, Notification, Response};

/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (Linux 5.19): once the supervisor has received a
/// notification, the caller waits killably, so a signal no longer withdraws and re-sends it
/// (which would count one call twice).
const FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;
/// `CLONE_PIDFD` (Linux 5.2).
const CLONE_PIDFD: u64 = 0x1000;
/// `P_PIDFD` for `waitid` (Linux 5.4).
const P_PIDFD: libc::idtype_t = 3;
/// Size of the shared page.
const PAGE: usize = 4096;

/// `struct clone_args` (include/uapi/linux/sched.h), the `CLONE_ARGS_SIZE_VER2` layout.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const _: () = assert!(size_of::<CloneArgs>() == 88);

/// Why [`spawn`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The program does not fit `sock_fprog.len`.
    #[error("program has {len} instructions, more than struct sock_fprog can hold")]
    TooLong {
        /// Number of instructions.
        len: usize,
    },
    /// `mmap`, `clone3` or another set-up call in this process failed.
    #[error("{call} failed: {source}")]
    Setup {
        /// The call.
        call: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The child could not set `no_new_privs` or install the filter.
    #[error("the child could not install the notification filter: {0}")]
    Install(#[source] io::Error),
    /// The child died before it installed the filter.
    #[error("the child ended before it installed the filter")]
    Vanished,
}

/// The page the child writes its progress into. Lives in a `MAP_SHARED` anonymous mapping, so
/// the child's stores are visible here although it has its own copy of the address space.
#[repr(C)]
struct Shared {
    /// [`PENDING`], then the listener fd (>= 0) or [`FAILED`].
    listener: AtomicI32,
    /// When something failed: which step ([`STAGE_NNP`], [`STAGE_SECCOMP`], [`STAGE_EXEC`]).
    stage: AtomicI32,
    /// And its errno.
    errno: AtomicI32,
}

const PENDING: i32 = -1;
const FAILED: i32 = -2;
const STAGE_NNP: i32 = 1;
const STAGE_SECCOMP: i32 = 2;
const STAGE_EXEC: i32 = 3;

/// A program started by [`spawn`], stopped in its `execve` until [`Child::supervise`] runs.
/// Dropping it before `supervise` finished kills the program.
#[derive(Debug)]
pub struct Child {
    pid: libc::pid_t,
    pidfd: OwnedFd,
    listener: Listener,
    shared: *mut Shared,
    reaped: bool,
}

/// Starts `path` with `argv` and `envp` under `program`, installed with a new listener right
/// before `execve` (see the module documentation). `program` should return
/// `SECCOMP_RET_USER_NOTIF` for the calls to observe; the child's `execve` is the first call it
/// sees. Standard input, output and error are inherited.
///
/// The child blocks in its `execve` until [`Child::supervise`] answers it.
pub fn spawn(
    path: &CStr,
    argv: &[CString],
    envp: &[CString],
    program: &Program,
) -> Result<Child, SpawnError> {
    let insns = program.insns();
    let len = u16::try_from(insns.len()).map_err(|_| SpawnError::TooLong { len: insns.len() })?;
    // Everything the child needs is prepared here: after clone3 it may only make raw syscalls.
    let fprog = libc::sock_fprog {
        len,
        filter: insns.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|a| a.as_ptr()).collect();
    envp_ptrs.push(ptr::null());

    // SAFETY: an anonymous shared mapping of one page; no file, no fixed address. The result
    // is checked against MAP_FAILED before use.
    let page = unsafe {
        libc::mmap(
            ptr::null_mut(),
            PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if page == libc::MAP_FAILED {
        return Err(SpawnError::Setup {
            call: "mmap",
            source: io::Error::last_os_error(),
        });
    }
    let shared = page.cast::<Shared>();
    // SAFETY: the mapping is page-aligned, PAGE bytes long and zero-filled, which is more than
    // size_of::<Shared>() and a valid bit pattern for its atomics; it stays mapped until this
    // function fails or the returned `Child` is dropped, and only atomics access it.
    let sh = unsafe { &*shared };
    sh.listener.store(PENDING, Ordering::SeqCst);
    let unmap = || {
        // SAFETY: the mapping made above; called only once nothing uses it any more.
        unsafe { libc::munmap(page, PAGE) };
    };

    let mut pidfd: RawFd = -1;
    let args = CloneArgs {
        flags: libc::CLONE_FILES as u64 | CLONE_PIDFD,
        pidfd: &mut pidfd as *mut RawFd as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    // SAFETY: clone3 without CLONE_VM and with stack 0 behaves like fork: the child gets a copy
    // of this address space and continues on its copy of this stack. `args` and `pidfd` are
    // live for the call. In the child (return value 0) only async-signal-safe raw syscalls and
    // atomic stores follow, on memory prepared above, and the child leaves through execve or
    // _exit: it never returns into Rust frames, allocates, or runs destructors.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            size_of::<CloneArgs>(),
        )
    };
    if r == 0 {
        // SAFETY: we are the clone3 child described above; every pointer was prepared before
        // the clone and is valid in our copy of the address space.
        unsafe { child(sh, &fprog, path, &argv_ptrs, &envp_ptrs) }
    }
    if r < 0 {
        let source = io::Error::last_os_error();
        unmap();
        return Err(SpawnError::Setup {
            call: "clone3",
            source,
        });
    }
    // SAFETY: CLONE_PIDFD stored a new descriptor that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let pid = libc::pid_t::try_from(r).map_err(|_| SpawnError::Vanished)?;

    // Wait until the child has installed the filter (or failed). It blocks in execve right
    // after publishing the listener, so this loop ends within microseconds.
    let fd = loop {
        match sh.listener.load(Ordering::SeqCst) {
            PENDING => {
                let ready =
                    poll_one(pidfd.as_raw_fd(), Duration::from_millis(1)).map_err(|source| {
                        SpawnError::Setup {
                            call: "poll",
                            source,
                        }
                    })?;
                if ready && sh.listener.load(Ordering::SeqCst) == PENDING {
                    reap(&pidfd);
                    unmap();
                    return Err(SpawnError::Vanished);
                }
            }
            FAILED => {
                let err = io::Error::from_raw_os_error(sh.errno.load(Ordering::SeqCst));
                reap(&pidfd);
                unmap();
                return Err(SpawnError::Install(err));
            }
            fd => break fd,
        }
    };
    // SAFETY: the kernel created this listener in the fd table this process shares with the
    // child; the child never closes it before execve (which then drops its own copy), so this
    // process is its only owner from here on.
    let listener = Listener::from_fd(unsafe { OwnedFd::from_raw_fd(fd) });
    Ok(Child {
        pid,
        pidfd,
        listener,
        shared,
        reaped: false,
    })
}

/// The child's side of [`spawn`].
///
/// # Safety
/// Call only in the child of the clone3 in [`spawn`]; all pointers must be valid.
unsafe fn child(
    sh: &Shared,
    fprog: &libc::sock_fprog,
    path: &CStr,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) -> ! {
    let fail = |stage: i32| -> ! {
        // SAFETY: __errno_location returns this thread's errno slot; reading it is sound.
        let errno = unsafe { *libc::__errno_location() };
        sh.stage.store(stage, Ordering::SeqCst);
        sh.errno.store(errno, Ordering::SeqCst);
        sh.listener.store(FAILED, Ordering::SeqCst);
        // SAFETY: _exit ends the child without running any user-space code.
        unsafe { libc::_exit(127) }
    };
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        fail(STAGE_NNP);
    }
    let mut flags = FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV;
    let fd = loop {
        // SAFETY: `fprog` points to a program in our copy of the parent's memory; the kernel
        // copies it during the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                1 as libc::c_uint, // SECCOMP_SET_MODE_FILTER
                libc::c_uint::from(flags),
                fprog as *const libc::sock_fprog,
            )
        };
        if r >= 0 {
            break r;
        }
        // SAFETY: reading this thread's errno.
        let errno = unsafe { *libc::__errno_location() };
        if errno == libc::EINVAL && flags & FLAG_WAIT_KILLABLE_RECV != 0 {
            // Kernels before 5.19 do not know WAIT_KILLABLE_RECV.
            flags = FLAG_NEW_LISTENER;
            continue;
        }
        fail(STAGE_SECCOMP);
    };
    // A memory store: the filter is live, and every syscall from here on waits for the parent.
    sh.listener
        .store(i32::try_from(fd).unwrap_or(FAILED), Ordering::SeqCst);
    // SAFETY: null-terminated arrays of pointers to NUL-terminated strings the parent built.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    // SAFETY: reading this thread's errno.
    let errno = unsafe { *libc::__errno_location() };
    sh.errno.store(errno, Ordering::SeqCst);
    sh.stage.store(STAGE_EXEC, Ordering::SeqCst);
    // SAFETY: _exit ends the child without running any user-space code.
    unsafe { libc::_exit(127) }
}

/// `poll` for input on one descriptor; true when it is ready (false on timeout or EINTR).
fn poll_one(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one live pollfd, count 1.
    let r = unsafe { libc::poll(&mut p, 1, ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e);
    }
    Ok(p.revents != 0)
}

/// Reaps the child behind `pidfd`, returning how it ended.
fn reap(pidfd: &OwnedFd) -> Option<Exit> {
    let id = libc::id_t::try_from(pidfd.as_raw_fd()).ok()?;
    loop {
        // SAFETY: siginfo_t is plain data; all-zero is valid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a live, writable siginfo_t; P_PIDFD names our own child only.
        let r = unsafe { libc::waitid(P_PIDFD, id, &mut info, libc::WEXITED) };
        if r == 0 {
            // SAFETY: waitid filled `info` for a CLD_* event, where si_status is defined.
            let status = unsafe { info.si_status() };
            return Some(if info.si_code == libc::CLD_EXITED {
                Exit::Code(status)
            } else {
                Exit::Signal(status)
            });
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return None;
        }
    }
}

impl Child {
    /// The program's process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The listener, for callers that answer notifications themselves.
    pub fn listener(&self) -> &Listener {
        &self.listener
    }

    /// Answers every notification with `CONTINUE` after passing it to `on_call`, calling
    /// `on_tick` about every `tick` (if given), until every task holding the filter has ended;
    /// returns how the program itself ended. Meanwhile SIGHUP, SIGINT, SIGQUIT, SIGTERM,
    /// SIGUSR1, SIGUSR2, SIGALRM and SIGWINCH are blocked in the calling thread: those another
    /// process sends (`kill`, a service manager's SIGTERM) are passed on to the program, those
    /// the terminal generates already reach it directly, so the supervisor outlives the program
    /// and keeps answering its calls. The calling thread's signal mask is restored on return.
    ///
    /// An `execve` that failed in the child shows here as exit code 127; [`Child::exec_error`]
    /// then has the reason.
    pub fn supervise(
        &mut self,
        mut on_call: impl FnMut(&Notification),
        tick: Option<Duration>,
        mut on_tick: impl FnMut(),
    ) -> io::Result<Exit> {
        // Best effort: older kernels lack synchronous wake-ups.
        if std::env::var_os("MOAT_NO_SYNC").is_none() {
            let _ = self.listener.set_sync_wake_up();
        }
        let signals = Forwarder::new();
        let mut exit = None;
        let mut last_tick = Instant::now();
        let ms = tick.map_or(-1, |t| i32::try_from(t.as_millis()).unwrap_or(i32::MAX));
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: self.listener.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: signals.raw(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    // A negative descriptor is skipped by poll.
                    fd: if exit.is_none() {
                        self.pidfd.as_raw_fd()
                    } else {
                        -1
                    },
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: three live pollfds, count 3; negative descriptors are skipped.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), 3, ms) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if fds[0].revents & libc::POLLIN != 0 {
                if let Some(n) = self.listener.recv()? {
                    on_call(&n);
                    self.listener.respond(n.id, Response::Continue)?;
                }
            } else if fds[0].revents & (libc::POLLHUP | libc::POLLERR) != 0 && exit.is_some() {
                // No task holds the filter any more: every thread, fork and exec has ended
                // (a task drops the filter when it is reaped, so the program itself is reaped
                // by now and orphans by their new parent).
                break;
            }
            if fds[1].revents & libc::POLLIN != 0 {
                // After the program is gone this only drains the signalfd (ESRCH).
                signals.forward(&self.pidfd);
            }
            if exit.is_none() && fds[2].revents & libc::POLLIN != 0 {
                exit = reap(&self.pidfd);
                self.reaped = true;
                if exit.is_none() {
                    return Err(io::Error::last_os_error());
                }
            }
            if let Some(t) = tick
                && last_tick.elapsed() >= t
            {
                on_tick();
                last_tick = Instant::now();
            }
        }
        exit.ok_or_else(|| io::Error::other("the program's exit status was lost"))
    }

    /// Why the program could not be started, when its `execve` failed.
    pub fn exec_error(&self) -> Option<io::Error> {
        // SAFETY: `shared` is the live mapping made by `spawn`, accessed through atomics only.
        let sh = unsafe { &*self.shared };
        (sh.stage.load(Ordering::SeqCst) == STAGE_EXEC)
            .then(|| io::Error::from_raw_os_error(sh.errno.load(Ordering::SeqCst)))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            // Nobody answers its calls any more: kill it rather than leave it blocked.
            // SAFETY: pidfd_send_signal on our own pidfd with no siginfo; integers only.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    self.pidfd.as_raw_fd(),
                    libc::SIGKILL,
                    ptr::null::<libc::siginfo_t>(),
                    0,
                );
            }
            reap(&self.pidfd);
        }
        // SAFETY: the mapping made by `spawn`; the child that shared it has exec'd or is gone.
        unsafe { libc::munmap(self.shared.cast(), PAGE) };
    }
}

/// While alive, blocks [`FORWARDED`] in the calling thread and receives them on a signalfd;
/// restores the signal mask on drop.
struct Forwarder {
    fd: Option<OwnedFd>,
    old: libc::sigset_t,
}

impl Forwarder {
    fn new() -> Forwarder {
        // SAFETY: sigset_t is plain data; sigemptyset initialises it before use.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` and `old` are live sigset_t values; the calls only write them, and
        // pthread_sigmask changes this thread's mask, which `drop` restores.
        let fd = unsafe {
            libc::sigemptyset(&mut set);
            for s in FORWARDED {
                libc::sigaddset(&mut set, s);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK)
        };
        // SAFETY: a fresh descriptor from signalfd (checked >= 0), owned once.
        let fd = (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) });
        Forwarder { fd, old }
    }

    fn raw(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// Passes pending signals sent by other processes on to the program behind `pidfd`.
    fn forward(&self, pidfd: &OwnedFd) {
        let Some(fd) = &self.fd else {
            return;
        };
        loop {
            // SAFETY: signalfd_siginfo is plain data; all-zero is valid.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = size_of::<libc::signalfd_siginfo>();
            // SAFETY: `info` is writable memory of exactly `size` bytes.
            let n = unsafe {
                libc::read(
                    fd.as_raw_fd(),
                    (&mut info as *mut libc::signalfd_siginfo).cast(),
                    size,
                )
            };
            if usize::try_from(n).ok() != Some(size) {
                return;
            }
            if info.ssi_code == SI_KERNEL {
                continue;
            }
            let signo = i32::try_from(info.ssi_signo).unwrap_or(0);
            // SAFETY: pidfd_send_signal on our own child's pidfd with no siginfo; integers only.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    pidfd.as_raw_fd(),
                    signo,
                    ptr::null::<libc::siginfo_t>(),
                    0,
                );
            }
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        // SAFETY: restores the mask `new` saved; a null old-set pointer is allowed.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, ptr::null_mut()) };
    }
}
