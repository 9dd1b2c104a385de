//! The kernel's seccomp audit records (type 1326, `AUDIT_SECCOMP`), read live from the audit
//! netlink multicast group without auditd.
//!
//! The kernel logs a seccomp record for `SECCOMP_RET_KILL_*` and `SECCOMP_RET_LOG` always, and
//! for `ERRNO`, `TRAP`, `TRACE` and `USER_NOTIF` when the filter was installed with
//! `SECCOMP_FILTER_FLAG_LOG` (`kernel/seccomp.c: seccomp_log`), each subject to
//! `/proc/sys/kernel/seccomp/actions_logged`. Without an audit daemon the kernel prints them to
//! the kernel log, rate-limited, and also sends every one to the `AUDIT_NLGRP_READLOG`
//! multicast group, which needs `CAP_AUDIT_READ` to join. The record does not carry the
//! filter's 16-bit data (the errno value) or the arguments.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `AUDIT_SECCOMP`: the record type of a seccomp event.
pub const AUDIT_SECCOMP: u16 = 1326;
/// `AUDIT_NLGRP_READLOG`: the multicast group that receives every record.
const AUDIT_NLGRP_READLOG: u32 = 1;
/// Receive buffer asked for with `SO_RCVBUFFORCE` (root): 1000 records arrive intact here, the
/// default buffer kept about 256 (research notes, ecosystem §3.4).
const RCVBUF: libc::c_int = 8 << 20;

/// A netlink socket subscribed to the audit log multicast group.
#[derive(Debug)]
pub struct Socket {
    fd: OwnedFd,
}

impl Socket {
    /// Opens the socket and joins `AUDIT_NLGRP_READLOG`. Fails with `EPERM` without
    /// `CAP_AUDIT_READ`, and with `EPROTONOSUPPORT` on kernels built without audit.
    pub fn open() -> io::Result<Socket> {
        // SAFETY: socket takes integers only and returns a fresh descriptor or -1.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                libc::NETLINK_AUDIT,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor that nobody else owns, wrapped once.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: an all-zero sockaddr_nl is valid; the fields are set below.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = u16::try_from(libc::AF_NETLINK).unwrap_or_default();
        sa.nl_groups = 1 << (AUDIT_NLGRP_READLOG - 1);
        let len = u32::try_from(std::mem::size_of::<libc::sockaddr_nl>()).unwrap_or_default();
        // SAFETY: `sa` is a live sockaddr_nl of `len` bytes; the kernel copies it.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_nl).cast::<libc::sockaddr>(),
                len,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        let size = u32::try_from(std::mem::size_of::<libc::c_int>()).unwrap_or_default();
        // SAFETY: the option value is a live c_int of `size` bytes. Failure (no CAP_NET_ADMIN)
        // only leaves the default buffer, so the result is deliberately ignored.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&RCVBUF as *const libc::c_int).cast(),
                size,
            );
        }
        Ok(Socket { fd })
    }

    /// The descriptor, for `poll`.
    pub fn fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    /// Receives one message without blocking: `Ok(None)` when none is queued. Returns the
    /// message type and its text (the audit payload is text).
    pub fn recv(&self) -> io::Result<Option<(u16, String)>> {
        let mut buf = [0u8; 9000];
        // SAFETY: `buf` is writable for its full length for the duration of the call.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(None),
                // ENOBUFS: the buffer overflowed and records were lost; keep reading.
                _ if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(Some((0, String::new()))),
                io::ErrorKind::Interrupted => Ok(Some((0, String::new()))),
                _ => Err(e),
            };
        }
        let n = usize::try_from(n).unwrap_or(0);
        Ok(Some(split_message(&buf[..n])))
    }
}

/// The type and payload text of a netlink message (`struct nlmsghdr` is 16 bytes: len u32,
/// type u16, flags u16, seq u32, pid u32). Malformed input gives type 0.
pub fn split_message(bytes: &[u8]) -> (u16, String) {
    if bytes.len() < 16 {
        return (0, String::new());
    }
    let len = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let kind = u16::from_ne_bytes([bytes[4], bytes[5]]);
    let end = usize::try_from(len)
        .unwrap_or(usize::MAX)
        .min(bytes.len())
        .max(16);
    let body = &bytes[16..end];
    let body = body.split(|&b| b == 0).next().unwrap_or_default();
    (kind, String::from_utf8_lossy(body).into_owned())
}

/// One seccomp audit record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    /// Thread group id of the caller.
    pub pid: u32,
    /// Audit session id (`ses=`); `u32::MAX` when unset.
    pub ses: u32,
    /// Signal the action delivers (31 = SIGSYS for kill and trap), 0 for none.
    pub sig: i32,
    /// `AUDIT_ARCH_*` of the call.
    pub arch: u32,
    /// The syscall number as the filter saw it (x32 numbers keep bit 30).
    pub syscall: u32,
    /// The filter's action (`SECCOMP_RET_*` without the data bits).
    pub code: u32,
    /// Command name.
    pub comm: String,
}

/// Parses the text of a type-1326 record (`audit(…): auid=… ses=… pid=… comm="…" … sig=31
/// arch=c000003e syscall=321 compat=0 ip=0x… code=0x80000000`). Never panics; `None` when a
/// needed field is missing.
pub fn parse(text: &str) -> Option<Record> {
    let mut pid = None;
    let mut ses = u32::MAX;
    let mut sig = 0;
    let mut arch = None;
    let mut syscall = None;
    let mut code = None;
    let mut comm = String::new();
    for tok in text.split_ascii_whitespace() {
        let Some((k, v)) = tok.split_once('=') else {
            continue;
        };
        match k {
            "pid" => pid = v.parse().ok(),
            "ses" => ses = v.parse().unwrap_or(u32::MAX),
            "sig" => sig = v.parse().unwrap_or(0),
            "arch" => arch = u32::from_str_radix(v, 16).ok(),
            "syscall" => syscall = v.parse::<i64>().ok().and_then(|n| u32::try_from(n).ok()),
            "code" => code = u32::from_str_radix(v.trim_start_matches("0x"), 16).ok(),
            "comm" => comm = v.trim_matches('"').to_string(),
            _ => {}
        }
    }
    Some(Record {
        pid: pid?,
        ses,
        sig,
        arch: arch?,
        syscall: syscall?,
        code: code?,
        comm,
    })
}

/// Whether the kernel logs `SECCOMP_RET_LOG` verdicts
/// (`/proc/sys/kernel/seccomp/actions_logged` lists `log`), which [`Marker`] relies on.
pub fn logs_log_action() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_logged")
        .is_ok_and(|s| s.split_ascii_whitespace().any(|w| w == "log"))
}

/// A seccomp record of the caller's own, used as a barrier: the kernel appends every audit
/// record to one queue (`skb_queue_tail(&audit_queue, …)` in `audit_log_end`,
/// `kernel/audit.c`) and `kauditd` multicasts that queue in order, so once a reader has the
/// marker it has every record the kernel queued before the marker was made. A seccomp record
/// is queued in the refused call itself, before the call returns or the process dies
/// (`__seccomp_filter`, `kernel/seccomp.c`), so a marker sent after a process was reaped
/// comes after every record of that process.
///
/// The marker is made by a short-lived thread of the caller that installs, on itself only, a
/// filter answering `getppid` with `SECCOMP_RET_LOG`, calls it and ends. The record carries the
/// caller's process id and the thread's name (`comm=`), which is unique per marker in this
/// process, so concurrent markers of one process are told apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    pid: u32,
    comm: String,
}

impl Marker {
    /// Sends a marker: returns once its record is queued in the kernel. Fails when the thread
    /// cannot be started or the kernel refuses the filter.
    pub fn send() -> io::Result<Marker> {
        use moat_bpf::Insn;
        use moat_bpf::consts::{
            BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W, SECCOMP_RET_ALLOW,
            SECCOMP_RET_LOG,
        };
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // At most 15 bytes (TASK_COMM_LEN - 1), of characters the kernel logs unescaped.
        let comm = format!("moat-mark-{:05}", n % 100_000);
        let nr = u32::try_from(libc::SYS_getppid).map_err(|_| io::ErrorKind::InvalidInput)?;
        let insns = [
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, 0),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
            Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_LOG),
            Insn::stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        ];
        let thread =
            std::thread::Builder::new()
                .name(comm.clone())
                .spawn(move || -> io::Result<()> {
                    // Both only affect this thread, which ends right after.
                    crate::set_no_new_privs()?;
                    crate::install_unchecked(&insns, crate::Flags::NONE)
                        .map_err(io::Error::other)?;
                    // SAFETY: getppid takes no arguments and cannot fail.
                    unsafe { libc::getppid() };
                    Ok(())
                })?;
        thread
            .join()
            .map_err(|_| io::Error::other("the audit marker thread panicked"))??;
        Ok(Marker {
            pid: std::process::id(),
            comm,
        })
    }

    /// True for this marker's record; then also notes for [`markers_arrive`] that the kernel
    /// delivers markers to this process.
    pub fn received(&self, r: &Record) -> bool {
        let yes = r.pid == self.pid
            && r.comm == self.comm
            && r.code == moat_bpf::consts::SECCOMP_RET_LOG
            && u32::try_from(libc::SYS_getppid).is_ok_and(|nr| nr == r.syscall);
        if yes {
            ARRIVED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        yes
    }
}

static ARRIVED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a marker of this process has been received (see [`Marker::received`]): the kernel
/// delivers markers, so a reader can wait for one without a time limit of its own.
pub fn markers_arrive() -> bool {
    ARRIVED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The calling process's audit session id (`/proc/self/sessionid`); `u32::MAX` when unset.
pub fn session_id() -> io::Result<u32> {
    let s = std::fs::read_to_string("/proc/self/sessionid")?;
    Ok(s.trim().parse().unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_kernel_record() {
        // Verbatim from this kernel (research notes, ecosystem §3.4).
        let t = "audit(1795895743.763:9): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=21727 \
                 comm=\"t4\" exe=\"/tmp/scratch/k/t4\" sig=31 arch=c000003e syscall=110 compat=0 \
                 ip=0x7fec3ff5e829 code=0x80000000";
        let r = parse(t).unwrap();
        assert_eq!(r.pid, 21727);
        assert_eq!(r.ses, u32::MAX);
        assert_eq!(r.sig, 31);
        assert_eq!(r.arch, 0xc000_003e);
        assert_eq!(r.syscall, 110);
        assert_eq!(r.code, 0x8000_0000);
        assert_eq!(r.comm, "t4");
    }

    #[test]
    fn rejects_records_without_fields() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("pid=1 arch=zz syscall=1 code=0x0"), None);
        assert_eq!(split_message(&[1, 2, 3]), (0, String::new()));
    }

    /// Deterministic fuzzing: random bytes and mutated records never panic the decoders.
    #[test]
    fn decoders_never_panic() {
        let base = b"audit(1.2:3): pid=1 ses=2 comm=\"x y\" sig=31 arch=c000003e syscall=-1 code=0x80000000";
        let mut state: u64 = 0x1234_5678;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            state >> 33
        };
        for _ in 0..20_000 {
            let len = usize::try_from(next() % 120).unwrap();
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| u8::try_from(next() % 256).unwrap())
                .collect();
            let _ = split_message(&bytes);
            let _ = parse(&String::from_utf8_lossy(&bytes));
            bytes.clear();
            bytes.extend_from_slice(base);
            for _ in 0..3 {
                let i = usize::try_from(next()).unwrap() % bytes.len();
                bytes[i] = u8::try_from(next() % 128).unwrap();
            }
            let _ = parse(&String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn split_message_bounds_length() {
        let mut m = vec![0u8; 16];
        m[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        m[4..6].copy_from_slice(&1326u16.to_ne_bytes());
        m.extend_from_slice(b"pid=1");
        assert_eq!(split_message(&m), (1326, "pid=1".to_string()));
    }
}
