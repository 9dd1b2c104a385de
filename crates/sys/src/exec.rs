//! Run a program under a filter (and Landlock), supervised: [`spawn`] forks, confines the child
//! and execs the program; [`Child::wait`] forwards signals, collects the child's seccomp audit
//! records and returns how it ended.
//!
//! Why a supervising parent rather than a plain `execve` of the program: only a process that
//! outlives the program can report which call killed it, and the audit records arrive after the
//! program is gone. The supervisor keeps the terminal behaviour of a direct exec: it does not
//! change the process group, so terminal-generated signals (Ctrl-C, Ctrl-\, window size) reach
//! the program directly; signals *sent* to the supervisor by another process (`kill`,
//! `sigqueue`) are forwarded to the program; the program's exit status is returned.
//!
//! The supervisor stays outside the sandbox, so the sandbox must not reach it. [`spawn`] makes
//! the calling process non-dumpable (`PR_SET_DUMPABLE` 0) before it forks, and leaves it so: the
//! kernel's ptrace access check (`__ptrace_may_access`, `kernel/ptrace.c`), made for `ptrace`,
//! `process_vm_*` and opening `/proc/<pid>/mem`, then refuses a caller without `CAP_SYS_PTRACE`
//! in the target's user namespace even when the uids match. That stops an unprivileged program
//! only: root holds `CAP_SYS_PTRACE`. What stops root too is a Landlock domain around the child
//! ([`crate::landlock::Ruleset::isolate`], which `moat run` always asks for), as Landlock refuses
//! ptrace access from inside a domain to outside it.
//!
//! The child between `fork` and `execve` only makes system calls on memory prepared before the
//! fork: restore the signal mask, reset `SIGPIPE`, make itself dumpable again (`execve` would
//! anyway; the audit-session files under `/proc/self` belong to root while it is not),
//! optionally start a new audit session, set `no_new_privs`, enforce Landlock, install the
//! filter, exec. A failure is reported to the
//! parent through a close-on-exec pipe (stage and errno), so the parent tells "the kernel
//! refused the filter" from "the program ran and failed", and the program never starts
//! unconfined.

use std::ffi::{CString, OsStr};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use moat_bpf::Program;

use crate::audit;
use crate::{Flags, InstallError};

/// Signals a supervisor forwards to the program when another process sends them to it.
pub const FORWARDED: [libc::c_int; 8] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGWINCH,
];

/// `si_code` of a signal the kernel generated (e.g. the terminal's Ctrl-C), as opposed to one a
/// process sent with `kill(2)`.
pub(crate) const SI_KERNEL: i32 = 0x80;

/// How the confined child is set up before `execve`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Confinement<'a> {
    /// The seccomp filter and its flags; `None` installs none.
    pub filter: Option<(&'a Program, Flags)>,
    /// A prepared Landlock ruleset; enforced before the filter, so the filter need not allow
    /// the Landlock calls.
    pub landlock: Option<&'a crate::landlock::Prepared>,
    /// Start a new audit session in the child (`/proc/self/loginuid`), so every record of the
    /// program and its descendants carries one `ses=` value. Needs an unset login uid or
    /// `CAP_AUDIT_CONTROL`; when the kernel refuses, records are matched by process id instead.
    pub audit_session: bool,
}

/// Where the child failed before the program started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// `prctl(PR_SET_NO_NEW_PRIVS)`.
    NoNewPrivs,
    /// `landlock_restrict_self`.
    Landlock,
    /// `seccomp(SECCOMP_SET_MODE_FILTER)`.
    Seccomp,
    /// `execve`.
    Exec,
}

/// Why [`spawn`] could not start the program.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The program or an argument contains a NUL byte.
    #[error("{0:?} contains a NUL byte")]
    Nul(String),
    /// `fork`, `pipe2`, `signalfd` or another parent-side call failed.
    #[error("{call} failed: {error}")]
    Os {
        /// The call.
        call: &'static str,
        /// The error (part of the message, so not a `source`).
        error: io::Error,
    },
    /// The child could not set up its confinement or exec the program.
    #[error("{}", describe_stage(*stage, error))]
    Child {
        /// Where it failed.
        stage: Stage,
        /// The kernel's error (part of the message, so not a `source`).
        error: io::Error,
    },
    /// The filter was installed with TSYNC and this thread could not be synchronised.
    #[error("thread {tid} cannot be synchronized to the new filter")]
    Tsync {
        /// The thread id the kernel returned.
        tid: i64,
    },
}

fn describe_stage(stage: Stage, e: &io::Error) -> String {
    match stage {
        Stage::NoNewPrivs => format!("prctl(PR_SET_NO_NEW_PRIVS) failed: {e}"),
        Stage::Landlock => format!("landlock_restrict_self failed: {e}"),
        Stage::Seccomp => format!("the kernel refused the filter: seccomp failed: {e}"),
        Stage::Exec => format!("exec failed: {e}"),
    }
}

/// Finds `program` the way `execvp` does: a name with `/` is used as is, a bare name is looked
/// up in `$PATH` (default `/usr/local/bin:/usr/bin:/bin`). Returns `None` when no executable
/// file is found.
pub fn resolve(program: &OsStr) -> Option<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(program));
    }
    if program.is_empty() {
        return None;
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// How a supervised program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
}

impl Exit {
    /// The status a shell reports: the exit code, or 128 + the signal number.
    pub fn shell_status(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

/// A running confined program.
#[derive(Debug)]
pub struct Child {
    pid: libc::pid_t,
    session: Option<u32>,
    sigfd: OwnedFd,
    /// Readable when the child exits (`pidfd_open`, Linux 5.3); `None` on older kernels, which
    /// then poll for the exit every 100 ms. SIGCHLD alone is not enough: in a multi-threaded
    /// caller another thread may take it.
    pidfd: Option<OwnedFd>,
    old_mask: libc::sigset_t,
}

// Messages on the child's status pipe: [kind: u32][value: i32], native endian.
const MSG_SESSION: u32 = 1;
const MSG_NNP: u32 = 2;
const MSG_LANDLOCK: u32 = 3;
const MSG_SECCOMP: u32 = 4;
const MSG_TSYNC: u32 = 5;
const MSG_EXEC: u32 = 6;

/// Forks and execs `path` with `argv` (`argv[0]` included) under `conf`, in the caller's
/// environment, working directory and process group. The caller's signal mask is changed
/// (the [`FORWARDED`] signals and `SIGCHLD` are blocked) until [`Child::wait`] returns. The
/// caller becomes non-dumpable for good (no core dumps, `/proc/<pid>` owned by root, no
/// same-uid `ptrace`): the program's descendants can outlive it.
///
/// Meant for a single-threaded supervisor such as `moat run`. A multi-threaded caller works
/// (the child runs only async-signal-safe code, and the exit is detected through a pidfd), but
/// a signal sent to the process may be taken by one of its other threads, which do not block
/// the [`FORWARDED`] signals, instead of being forwarded.
pub fn spawn(path: &Path, argv: &[&OsStr], conf: &Confinement<'_>) -> Result<Child, SpawnError> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| SpawnError::Nul(path.display().to_string()))?;
    let c_args = argv
        .iter()
        .map(|a| {
            CString::new(a.as_bytes()).map_err(|_| SpawnError::Nul(a.to_string_lossy().into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut ptrs: Vec<*const libc::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());

    let loginuid_path = c"/proc/self/loginuid";
    let sessionid_path = c"/proc/self/sessionid";
    let loginuid_value = if conf.audit_session {
        Some(login_uid_to_write())
    } else {
        None
    };

    let (status_r, status_w) = cloexec_pipe().map_err(|source| SpawnError::Os {
        call: "pipe2",
        error: source,
    })?;

    // SAFETY: prctl with PR_SET_DUMPABLE takes integers only and touches no memory.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(SpawnError::Os {
            call: "prctl(PR_SET_DUMPABLE)",
            error: io::Error::last_os_error(),
        });
    }

    // Block the forwarded signals and SIGCHLD, read them through a signalfd: none is lost
    // between fork and the wait loop.
    // SAFETY: an all-zero sigset_t is a valid value to pass to sigemptyset, which initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t owned by this frame.
    unsafe {
        libc::sigemptyset(&mut set);
        for s in FORWARDED.iter().chain(&[libc::SIGCHLD]) {
            libc::sigaddset(&mut set, *s);
        }
    }
    let mut old_mask = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `set` is initialised; `old_mask` is writable memory for one sigset_t, which
    // pthread_sigmask fills on success.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, old_mask.as_mut_ptr()) };
    if r != 0 {
        return Err(SpawnError::Os {
            call: "pthread_sigmask",
            error: io::Error::from_raw_os_error(r),
        });
    }
    // SAFETY: pthread_sigmask succeeded, so it wrote the previous mask.
    let old_mask = unsafe { old_mask.assume_init() };
    let restore = |old: &libc::sigset_t| {
        // SAFETY: `old` is the mask pthread_sigmask returned above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) };
    };
    // SAFETY: `set` is an initialised sigset_t; -1 asks for a new descriptor.
    let sfd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    if sfd < 0 {
        let source = io::Error::last_os_error();
        restore(&old_mask);
        return Err(SpawnError::Os {
            call: "signalfd",
            error: source,
        });
    }
    // SAFETY: a fresh descriptor owned by nobody else.
    let sigfd = unsafe { OwnedFd::from_raw_fd(sfd) };

    let filter = conf.filter.map(|(p, f)| (p.insns(), f));
    let landlock_fd = conf.landlock.and_then(|l| l.raw_fd());
    let wfd = status_w.as_raw_fd();

    // SAFETY: fork has no memory preconditions. The child below touches only memory prepared
    // before the fork (C strings, pointer arrays, the filter's instructions, the saved signal
    // mask), calls only async-signal-safe functions (sigprocmask, signal, prctl, open, read,
    // write, close, syscall, execv, _exit) and leaves with execv or _exit, so it never returns
    // into Rust code that could observe state copied from other threads.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let source = io::Error::last_os_error();
        restore(&old_mask);
        return Err(SpawnError::Os {
            call: "fork",
            error: source,
        });
    }
    if pid == 0 {
        // SAFETY: see the fork comment; this function never returns.
        unsafe {
            child(
                wfd,
                &old_mask,
                loginuid_value
                    .as_ref()
                    .map(|v| (loginuid_path, sessionid_path, v)),
                landlock_fd,
                filter,
                &c_path,
                &ptrs,
            )
        }
    }
    drop(status_w);
    let mut session = None;
    let mut failure = None;
    let mut buf = [0u8; 8];
    loop {
        match read_full(&status_r, &mut buf) {
            Ok(true) => {}
            Ok(false) => break,
            Err(source) => {
                failure = Some(SpawnError::Os {
                    call: "read",
                    error: source,
                });
                break;
            }
        }
        let kind = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let value = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let err = |stage| SpawnError::Child {
            stage,
            error: io::Error::from_raw_os_error(value),
        };
        match kind {
            MSG_SESSION => session = Some(value.cast_unsigned()),
            MSG_NNP => failure = Some(err(Stage::NoNewPrivs)),
            MSG_LANDLOCK => failure = Some(err(Stage::Landlock)),
            MSG_SECCOMP => failure = Some(err(Stage::Seccomp)),
            MSG_TSYNC => failure = Some(SpawnError::Tsync { tid: value.into() }),
            MSG_EXEC => failure = Some(err(Stage::Exec)),
            _ => {}
        }
    }
    // SAFETY: pidfd_open takes a pid and flags; `pid` is our child and not yet reaped, so it
    // names that process. A fresh descriptor is wrapped once.
    let pidfd = unsafe {
        let r = libc::syscall(libc::SYS_pidfd_open, pid, 0u32);
        i32::try_from(r)
            .ok()
            .filter(|&fd| fd >= 0)
            .map(|fd| OwnedFd::from_raw_fd(fd))
    };
    let child = Child {
        pid,
        session,
        sigfd,
        pidfd,
        old_mask,
    };
    if let Some(f) = failure {
        // The child has exited (or is about to) without starting the program: reap it.
        let _ = child.reap_blocking();
        restore(&child.old_mask);
        return Err(f);
    }
    Ok(child)
}

/// The login uid the child writes to start a new audit session: the current one if set, else
/// the real uid.
fn login_uid_to_write() -> Vec<u8> {
    let current = std::fs::read_to_string("/proc/self/loginuid")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|&u| u != u32::MAX);
    // SAFETY: getuid cannot fail and touches no memory.
    let uid = current.unwrap_or_else(|| unsafe { libc::getuid() });
    uid.to_string().into_bytes()
}

/// The child side of [`spawn`]; never returns.
///
/// # Safety
/// Must be called only in the child of `fork`, with pointers into memory prepared before the
/// fork; `argv` must be a null-terminated array of C strings.
unsafe fn child(
    wfd: i32,
    old_mask: &libc::sigset_t,
    session: Option<(&std::ffi::CStr, &std::ffi::CStr, &Vec<u8>)>,
    landlock_fd: Option<i32>,
    filter: Option<(&[moat_bpf::Insn], Flags)>,
    path: &CString,
    argv: &[*const libc::c_char],
) -> ! {
    let report = |kind: u32, value: i32| {
        let mut m = [0u8; 8];
        m[..4].copy_from_slice(&kind.to_ne_bytes());
        m[4..].copy_from_slice(&value.to_ne_bytes());
        // SAFETY: `m` is 8 readable bytes; a failed write only loses the report.
        unsafe { libc::write(wfd, m.as_ptr().cast(), m.len()) };
    };
    let errno = || io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let die = |kind: u32, value: i32| -> ! {
        report(kind, value);
        // SAFETY: _exit ends the child without running Rust destructors or atexit handlers.
        unsafe { libc::_exit(127) }
    };
    // SAFETY: `old_mask` is the caller's saved mask; signal() with SIG_DFL and prctl() with
    // integer arguments are async-signal-safe and touch no other memory.
    unsafe {
        libc::sigprocmask(libc::SIG_SETMASK, old_mask, std::ptr::null_mut());
        // The Rust runtime ignores SIGPIPE; an ignored signal stays ignored across execve.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        // The fork copied the supervisor's non-dumpable mm; execve resets it, but until then
        // `/proc/self/loginuid` would belong to root and an unprivileged child could not start
        // its audit session. Nothing untrusted runs in this process before execve.
        libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0);
    }
    if let Some((loginuid, sessionid, value)) = session {
        // SAFETY: the paths are NUL-terminated and `value`/`buf` are live buffers of the given
        // lengths; each descriptor is closed once.
        unsafe {
            let fd = libc::open(loginuid.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd >= 0 {
                libc::write(fd, value.as_ptr().cast(), value.len());
                libc::close(fd);
            }
            let fd = libc::open(sessionid.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            if fd >= 0 {
                let mut buf = [0u8; 16];
                let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
                libc::close(fd);
                let n = usize::try_from(n).unwrap_or(0).min(buf.len());
                let mut v: u32 = 0;
                let mut ok = n > 0;
                for &b in &buf[..n] {
                    match b {
                        b'0'..=b'9' => {
                            v = v.wrapping_mul(10).wrapping_add(u32::from(b - b'0'));
                        }
                        b'\n' => break,
                        _ => ok = false,
                    }
                }
                if ok && v != u32::MAX {
                    report(MSG_SESSION, v.cast_signed());
                }
            }
        }
    }
    if crate::set_no_new_privs().is_err() {
        die(MSG_NNP, errno());
    }
    if let Some(fd) = landlock_fd
        && crate::landlock::restrict_self_fd(fd).is_err()
    {
        die(MSG_LANDLOCK, errno());
    }
    if let Some((insns, flags)) = filter {
        match crate::install_filter(insns, flags) {
            Ok(()) => {}
            Err(InstallError::Tsync { tid }) => {
                die(MSG_TSYNC, i32::try_from(tid).unwrap_or(i32::MAX))
            }
            Err(InstallError::TooLong { .. }) => die(MSG_SECCOMP, libc::EINVAL),
            Err(_) => die(MSG_SECCOMP, errno()),
        }
    }
    // SAFETY: `path` is a C string and `argv` a null-terminated array of C strings, all
    // allocated before the fork; execv replaces the process image or returns -1.
    unsafe { libc::execv(path.as_ptr(), argv.as_ptr()) };
    die(MSG_EXEC, errno())
}

fn cloexec_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a writable array of two c_ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and wrapped exactly once.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` at end of file.
fn read_full(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        let rest = &mut buf[got..];
        // SAFETY: `rest` is writable for its length.
        let n = unsafe { libc::read(fd.as_raw_fd(), rest.as_mut_ptr().cast(), rest.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Ok(false);
        }
        got += usize::try_from(n).unwrap_or(0);
    }
    Ok(true)
}

fn decode(status: libc::c_int) -> Option<Exit> {
    if libc::WIFEXITED(status) {
        Some(Exit::Code(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Some(Exit::Signal(libc::WTERMSIG(status)))
    } else {
        None
    }
}

impl Child {
    /// The program's process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The audit session the child started, when [`Confinement::audit_session`] worked.
    pub fn session(&self) -> Option<u32> {
        self.session
    }

    fn reap_blocking(&self) -> io::Result<Exit> {
        loop {
            let mut status = 0;
            // SAFETY: `status` is writable; `pid` is our own child.
            let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if r == self.pid {
                if let Some(e) = decode(status) {
                    return Ok(e);
                }
                continue;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    fn try_reap(&self) -> io::Result<Option<Exit>> {
        let mut status = 0;
        // SAFETY: `status` is writable; `pid` is our own child; WNOHANG never blocks.
        let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(if r == self.pid { decode(status) } else { None })
    }

    /// True when a record belongs to this program or one of its descendants: same audit
    /// session when the child started one, else the program's own process id.
    pub fn owns(&self, r: &audit::Record) -> bool {
        match self.session {
            Some(s) => r.ses == s,
            None => r.pid == self.pid.cast_unsigned(),
        }
    }

    /// Waits for the program to end, forwarding signals other processes send to the
    /// supervisor, and hands every seccomp audit record of the program (see [`Child::owns`])
    /// to `on_record`. After the program ends, records still in flight are collected up to an
    /// [`audit::Marker`] sent after it was reaped, which comes after all of them; where the
    /// kernel delivers no marker (audit disabled, `log` not in `actions_logged`), until the
    /// socket has been quiet for `linger`. Restores the caller's signal mask.
    pub fn wait(
        self,
        audit: Option<&audit::Socket>,
        linger: Duration,
        mut on_record: impl FnMut(audit::Record),
    ) -> io::Result<Exit> {
        let result = self.wait_inner(audit, linger, &mut on_record);
        // SAFETY: `old_mask` is the mask saved by `spawn`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old_mask, std::ptr::null_mut()) };
        result
    }

    fn wait_inner(
        &self,
        audit: Option<&audit::Socket>,
        linger: Duration,
        on_record: &mut dyn FnMut(audit::Record),
    ) -> io::Result<Exit> {
        // Whether a record of a SIGSYS-delivering action (kill, trap) has been handed over.
        let saw_sigsys = std::cell::Cell::new(false);
        // The markers (see `audit::Marker`) seen so far.
        let seen = std::cell::RefCell::new(Vec::<audit::Marker>::new());
        let mut drain = |sock: &audit::Socket, markers: &[&audit::Marker]| -> io::Result<()> {
            while let Some((kind, text)) = sock.recv()? {
                if kind != audit::AUDIT_SECCOMP {
                    continue;
                }
                let Some(r) = audit::parse(&text) else {
                    continue;
                };
                if let Some(m) = markers.iter().find(|m| m.received(&r)) {
                    seen.borrow_mut().push((*m).clone());
                } else if self.owns(&r) {
                    if r.sig == libc::SIGSYS {
                        saw_sigsys.set(true);
                    }
                    on_record(r);
                }
            }
            Ok(())
        };
        // A first marker, sent while the program runs: once it (or any marker before, in this
        // process) has arrived, the kernel is known to deliver markers, and the end of the
        // program's records is waited for without a fixed delay. Until then (audit disabled,
        // `log` missing from `actions_logged`) the old rule applies: collect until the socket
        // stays quiet for `linger`.
        let probe = match audit {
            Some(_) if audit::logs_log_action() => audit::Marker::send().ok(),
            _ => None,
        };
        let exit = loop {
            if let Some(e) = self.try_reap()? {
                break e;
            }
            let mut fds = [
                libc::pollfd {
                    fd: self.sigfd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: audit.map_or(-1, |a| a.fd().as_raw_fd()),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.pidfd.as_ref().map_or(-1, AsRawFd::as_raw_fd),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            let timeout = if self.pidfd.is_some() { -1 } else { 100 };
            // SAFETY: `fds` is a live array of three pollfd; a negative fd is ignored by poll.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), 3, timeout) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if fds[0].revents & libc::POLLIN != 0 {
                self.forward_signals()?;
            }
            if let Some(a) = audit
                && fds[1].revents & libc::POLLIN != 0
            {
                drain(a, probe.as_slice().iter().collect::<Vec<_>>().as_slice())?;
            }
        };
        let Some(a) = audit else {
            return Ok(exit);
        };
        // Every record of the program's own calls was queued before it was reaped (the kernel
        // logs in the refused call, before it returns or the process dies), so the records
        // queued before a marker sent now include all of them: wait for that marker.
        let end = probe.as_ref().and_then(|_| audit::Marker::send().ok());
        let markers: Vec<&audit::Marker> = probe.iter().chain(end.iter()).collect();
        let has = |m: &Option<audit::Marker>| m.as_ref().is_some_and(|m| seen.borrow().contains(m));
        let delivered = || end.is_some() && (has(&probe) || audit::markers_arrive());
        // A bound for a kernel that loses records (a full socket buffer, a backlog limit).
        let deadline = Instant::now() + Duration::from_secs(5);
        // When SIGSYS killed the program, its record is certain to come: without a marker,
        // wait for it (up to two seconds on a loaded machine) before waiting for quiet.
        let sigsys_until = Instant::now() + Duration::from_secs(2);
        loop {
            drain(a, &markers)?;
            if has(&end) {
                break;
            }
            let now = Instant::now();
            if now > deadline {
                break;
            }
            let waiting_sigsys =
                exit == Exit::Signal(libc::SIGSYS) && !saw_sigsys.get() && now < sigsys_until;
            // Wait for the end marker without a quiet limit once the probe proved that markers
            // arrive; otherwise stop after `linger` of quiet.
            let ms = if delivered() || waiting_sigsys {
                50
            } else {
                libc::c_int::try_from(linger.as_millis()).unwrap_or(libc::c_int::MAX)
            };
            let mut pfd = libc::pollfd {
                fd: a.fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one live pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r <= 0 && !delivered() && !waiting_sigsys {
                drain(a, &markers)?;
                break;
            }
        }
        Ok(exit)
    }

    /// Reads pending signals from the signalfd and forwards those another process sent.
    fn forward_signals(&self) -> io::Result<()> {
        loop {
            let mut info = MaybeUninit::<libc::signalfd_siginfo>::zeroed();
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            // SAFETY: `info` is writable memory of exactly one signalfd_siginfo.
            let n = unsafe { libc::read(self.sigfd.as_raw_fd(), info.as_mut_ptr().cast(), size) };
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock => Ok(()),
                    io::ErrorKind::Interrupted => continue,
                    _ => Err(e),
                };
            }
            if usize::try_from(n).ok() != Some(size) {
                return Ok(());
            }
            // SAFETY: the kernel filled the whole struct (n == size), and it was zeroed before.
            let info = unsafe { info.assume_init() };
            let signo = i32::try_from(info.ssi_signo).unwrap_or(0);
            if signo == libc::SIGCHLD || info.ssi_code == SI_KERNEL {
                continue;
            }
            // SAFETY: kill takes integers; the child is ours and not yet reaped, so its pid
            // cannot have been reused.
            unsafe { libc::kill(self.pid, signo) };
        }
    }
}
