/* attack: one known seccomp bypass or escape attempt per invocation, for moat's adversarial
 * suite (crates/attacks/tests/attacks.rs). The test runs it twice: unconfined (the probe: does
 * this kernel support the attack?) and under a moat filter installed by moat-sys before execve.
 *
 * Usage: attack CASE [ARG...]. The last line of stdout is the result:
 *   ret=<syscall return value> errno=<errno or 0> [key=value...]
 * Syscalls are issued raw (syscall(2), inline `syscall`, or `int 0x80`), never through libc
 * wrappers that rewrite arguments. Every attempt uses arguments that cannot harm the machine if
 * it succeeds unconfined (invalid reboot magic, nonexistent swap files, an invalid clock, mounts
 * only inside a private mount namespace the test sets up, namespaces in a throwaway process).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define X32_BIT 0x40000000UL

static void result(long ret, int err, const char *extra) {
    printf("ret=%ld errno=%d%s%s\n", ret, ret < 0 ? err : 0, extra ? " " : "", extra ? extra : "");
    fflush(stdout);
}

/* A native syscall with every bit of all six registers under control. */
static long raw6(unsigned long nr, unsigned long a0, unsigned long a1, unsigned long a2,
                 unsigned long a3, unsigned long a4, unsigned long a5) {
    long ret;
    register unsigned long r10 __asm__("r10") = a3;
    register unsigned long r8 __asm__("r8") = a4;
    register unsigned long r9 __asm__("r9") = a5;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    if (ret < 0 && ret > -4096) {
        errno = (int)-ret;
        return -1;
    }
    return ret;
}

/* An i386 syscall from this 64-bit process: int 0x80 indexes the i386 table and seccomp sees
 * AUDIT_ARCH_I386. Pointer arguments must lie below 4 GiB (see low_page). */
static long int80(unsigned int nr, unsigned int a, unsigned int b, unsigned int c, unsigned int d,
                  unsigned int e) {
    long ret;
    __asm__ volatile("push %%rbx\n\tmov %2, %%ebx\n\tint $0x80\n\tpop %%rbx"
                     : "=a"(ret)
                     : "a"(nr), "r"(a), "c"(b), "d"(c), "S"(d), "D"(e)
                     : "memory");
    int r = (int)ret; /* the i386 return value is eax */
    if (r < 0 && r > -4096) {
        errno = -r;
        return -1;
    }
    return r;
}

/* A page below 4 GiB, for i386 pointer arguments. */
static char *low_page(void) {
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
                   -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap MAP_32BIT");
        exit(3);
    }
    return p;
}

static unsigned long num(const char *s) {
    if (!strcmp(s, "ppid")) /* the parent: the runner that started us */
        return (unsigned long)getppid();
    if (s[0] == '-')
        return (unsigned long)strtoll(s, NULL, 0);
    return strtoull(s, NULL, 0);
}

static const char *need(int argc, char **argv, int i) {
    if (i >= argc) {
        fprintf(stderr, "attack %s: missing argument %d\n", argv[1], i - 1);
        exit(2);
    }
    return argv[i];
}

static int mounted_at(const char *dir) {
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096];
    int found = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        char *p = strchr(line, ' ');
        for (int i = 0; p && i < 3; i++)
            p = strchr(p + 1, ' ');
        if (p && strncmp(p + 1, dir, strlen(dir)) == 0 && p[1 + strlen(dir)] == ' ')
            found = 1;
    }
    fclose(f);
    return found;
}

/* A pty pair; returns the slave fd. */
static int pty_slave(int *master) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) || unlockpt(m)) {
        perror("pty");
        exit(3);
    }
    int s = open(ptsname(m), O_RDWR | O_NOCTTY);
    if (s < 0) {
        perror("open pty slave");
        exit(3);
    }
    *master = m;
    return s;
}

/* TIOCSTI with `cmd` on a fresh pty; reports whether the byte reached the input queue. */
static void tiocsti(unsigned long cmd) {
    int m, s = pty_slave(&m);
    char c = 'X', nl = '\n';
    long r = raw6(SYS_ioctl, s, cmd, (unsigned long)&c, 0, 0, 0);
    int e = errno;
    raw6(SYS_ioctl, s, 0x5412, (unsigned long)&nl, 0, 0, 0); /* may fail under the filter */
    int avail = 0;
    ioctl(s, FIONREAD, &avail);
    char buf[64];
    snprintf(buf, sizeof buf, "queued=%d", avail);
    result(r, e, buf);
}

/* clone with raw flags; the child exits at once. */
static void do_clone(unsigned long flags) {
    long r = raw6(SYS_clone, flags, 0, 0, 0, 0, 0);
    if (r == 0)
        _exit(0);
    int e = errno;
    if (r > 0)
        waitpid((pid_t)r, NULL, __WALL);
    result(r > 0 ? 0 : r, e, r > 0 ? "child=1" : NULL);
}

static void do_clone3(unsigned long flags) {
    struct clone_args a;
    memset(&a, 0, sizeof a);
    a.flags = flags;
    a.exit_signal = SIGCHLD;
    long r = raw6(SYS_clone3, (unsigned long)&a, sizeof a, 0, 0, 0, 0);
    if (r == 0)
        _exit(0);
    int e = errno;
    if (r > 0)
        waitpid((pid_t)r, NULL, 0);
    result(r > 0 ? 0 : r, e, r > 0 ? "child=1" : NULL);
}

static int domain_of(int fd) {
    int d = -1;
    socklen_t l = sizeof d;
    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &d, &l);
    return d;
}

/* io_uring without liburing: one MKDIRAT (or OPENAT) submission; returns cqe.res or -errno of
 * the setup step. */
static long uring_one(int opcode, const char *path, int *stage) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    *stage = 0;
    int fd = (int)raw6(SYS_io_uring_setup, 4, (unsigned long)&p, 0, 0, 0, 0);
    if (fd < 0)
        return -errno;
    *stage = 1;
    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    char *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                    IORING_OFF_SQ_RING);
    char *cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                    IORING_OFF_CQ_RING);
    struct io_uring_sqe *sqes =
        mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
        return -errno;
    unsigned *tail = (unsigned *)(sq + p.sq_off.tail);
    unsigned mask = *(unsigned *)(sq + p.sq_off.ring_mask);
    unsigned *array = (unsigned *)(sq + p.sq_off.array);
    unsigned t = *tail;
    struct io_uring_sqe *e = &sqes[t & mask];
    memset(e, 0, sizeof *e);
    e->opcode = (unsigned char)opcode;
    e->fd = AT_FDCWD;
    e->addr = (unsigned long)path;
    if (opcode == IORING_OP_MKDIRAT)
        e->len = 0755;
    else
        e->open_flags = O_RDONLY;
    array[t & mask] = t & mask;
    __atomic_store_n(tail, t + 1, __ATOMIC_RELEASE);
    *stage = 2;
    long n = raw6(SYS_io_uring_enter, fd, 1, 1, IORING_ENTER_GETEVENTS, 0, 0);
    if (n < 0)
        return -errno;
    *stage = 3;
    unsigned head = *(unsigned *)(cq + p.cq_off.head);
    unsigned cmask = *(unsigned *)(cq + p.cq_off.ring_mask);
    struct io_uring_cqe *cqe = (struct io_uring_cqe *)(cq + p.cq_off.cqes) + (head & cmask);
    return cqe->res;
}

/* The victim: a process outside the sandbox whose memory the attacker tries to write. */
static char victim_buf[64] = "untouched";

/* The sentinel: a process outside the sandbox that counts SIGURG deliveries. */
static volatile sig_atomic_t urg_count;
static void on_urg(int sig) {
    (void)sig;
    urg_count++;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: attack CASE [ARG...]\n");
        return 2;
    }
    const char *c = argv[1];
    long r;
    int e;
    char extra[256];

    /* A seccomp kill dumps core unless the process is non-dumpable. */
    if (strcmp(c, "victim") && strcmp(c, "sentinel"))
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

    /* ---- generic ---- */
    if (!strcmp(c, "raw_many")) { /* raw_many NR IDX A0 A1 A2 A3 A4 A5 V...: args[IDX] = each V */
        unsigned long a[6];
        unsigned long nr = num(need(argc, argv, 2));
        int idx = (int)num(need(argc, argv, 3));
        for (int i = 0; i < 6; i++)
            a[i] = num(need(argc, argv, 4 + i));
        for (int v = 10; v < argc; v++) {
            a[idx] = num(argv[v]);
            errno = 0;
            r = raw6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
            printf("%s ", argv[v]);
            result(r, errno, NULL);
        }
    } else if (!strcmp(c, "raw")) { /* raw NR [A0..A5] */
        unsigned long a[6] = {0};
        for (int i = 0; i < 6 && i + 3 < argc; i++)
            a[i] = num(argv[i + 3]);
        r = raw6(num(need(argc, argv, 2)), a[0], a[1], a[2], a[3], a[4], a[5]);
        result(r, errno, NULL);
    } else if (!strcmp(c, "int80")) { /* int80 NR [A0..A4] */
        unsigned long a[5] = {0};
        for (int i = 0; i < 5 && i + 3 < argc; i++)
            a[i] = num(argv[i + 3]);
        r = int80((unsigned)num(need(argc, argv, 2)), a[0], a[1], a[2], a[3], a[4]);
        result(r, errno, NULL);
    } else if (!strcmp(c, "status")) { /* the Seccomp lines of /proc/self/status */
        FILE *f = fopen("/proc/self/status", "r");
        char line[256], out[256] = "";
        while (f && fgets(line, sizeof line, f)) {
            int v;
            if (sscanf(line, "Seccomp: %d", &v) == 1)
                snprintf(out + strlen(out), sizeof out - strlen(out), " seccomp=%d", v);
            if (sscanf(line, "Seccomp_filters: %d", &v) == 1)
                snprintf(out + strlen(out), sizeof out - strlen(out), " filters=%d", v);
            if (sscanf(line, "NoNewPrivs: %d", &v) == 1)
                snprintf(out + strlen(out), sizeof out - strlen(out), " nnp=%d", v);
        }
        result(0, 0, out + 1);

    /* ---- ABI tricks ---- */
    } else if (!strcmp(c, "i386_mount")) { /* i386 21 = mount (x86_64 21 = access) */
        const char *dir = need(argc, argv, 2);
        char *low = low_page();
        strcpy(low, "none");
        strcpy(low + 16, "tmpfs");
        strncpy(low + 64, dir, 4000);
        r = int80(21, (unsigned)(uintptr_t)low, (unsigned)(uintptr_t)(low + 64),
                  (unsigned)(uintptr_t)(low + 16), 0, 0);
        e = errno;
        snprintf(extra, sizeof extra, "mounted=%d", mounted_at(dir));
        result(r, e, extra);
    } else if (!strcmp(c, "i386_socketcall")) { /* socketcall(SYS_SOCKET, [domain, STREAM, 0]) */
        unsigned domain = (unsigned)num(need(argc, argv, 2));
        unsigned *low = (unsigned *)low_page();
        low[0] = domain;
        low[1] = SOCK_STREAM;
        low[2] = 0;
        r = int80(102, 1, (unsigned)(uintptr_t)low, 0, 0, 0);
        e = errno;
        snprintf(extra, sizeof extra, "domain=%d", r >= 0 ? domain_of((int)r) : -1);
        result(r >= 0 ? 0 : r, e, extra);
    } else if (!strcmp(c, "i386_socket")) { /* i386 359 = socket */
        unsigned domain = (unsigned)num(need(argc, argv, 2));
        r = int80(359, domain, SOCK_STREAM, 0, 0, 0);
        e = errno;
        snprintf(extra, sizeof extra, "domain=%d", r >= 0 ? domain_of((int)r) : -1);
        result(r >= 0 ? 0 : r, e, extra);
    } else if (!strcmp(c, "i386_ipc_shmget")) { /* ipc(SHMGET=23, IPC_PRIVATE, 4096, 0600) */
        r = int80(117, 23, 0, 4096, 0600, 0);
        e = errno;
        if (r >= 0)
            syscall(SYS_shmctl, (int)r, 0 /* IPC_RMID */, 0);
        result(r >= 0 ? 0 : r, e, NULL);

    /* ---- argument tricks ---- */
    } else if (!strcmp(c, "tiocsti")) { /* tiocsti CMD (with any high word) */
        tiocsti(num(need(argc, argv, 2)));
    } else if (!strcmp(c, "tioclinux")) { /* TIOCLINUX subcode 6 (get shift state) on tty1 */
        int fd = open("/dev/tty1", O_RDONLY | O_NOCTTY);
        if (fd < 0) {
            printf("skip: /dev/tty1: %s\n", strerror(errno));
            return 0;
        }
        char sub[2] = {6, 0};
        r = raw6(SYS_ioctl, fd, num(need(argc, argv, 2)), (unsigned long)sub, 0, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "socket")) { /* socket DOMAIN(raw 64-bit) [TYPE] */
        unsigned long type = argc > 3 ? num(argv[3]) : SOCK_STREAM;
        r = raw6(SYS_socket, num(need(argc, argv, 2)), type, 0, 0, 0, 0);
        e = errno;
        snprintf(extra, sizeof extra, "domain=%d", r >= 0 ? domain_of((int)r) : -1);
        result(r >= 0 ? 0 : r, e, extra);
    } else if (!strcmp(c, "clone")) { /* clone FLAGS (raw 64-bit, SIGCHLD added) */
        do_clone(num(need(argc, argv, 2)) | SIGCHLD);
    } else if (!strcmp(c, "clone3")) { /* clone3 FLAGS */
        do_clone3(num(need(argc, argv, 2)));
    } else if (!strcmp(c, "personality")) { /* personality PERSONA(raw 64-bit) */
        r = raw6(SYS_personality, num(need(argc, argv, 2)), 0, 0, 0, 0, 0);
        result(r, errno, NULL);

    /* ---- kernel surface ---- */
    } else if (!strcmp(c, "mount")) { /* mount("none", DIR, "tmpfs") */
        const char *dir = need(argc, argv, 2);
        r = raw6(SYS_mount, (unsigned long)"none", (unsigned long)dir, (unsigned long)"tmpfs", 0,
                 0, 0);
        e = errno;
        snprintf(extra, sizeof extra, "mounted=%d", mounted_at(dir));
        result(r, e, extra);
    } else if (!strcmp(c, "umount2")) {
        r = raw6(SYS_umount2, (unsigned long)need(argc, argv, 2), 0, 0, 0, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "pivot_root")) {
        r = raw6(SYS_pivot_root, (unsigned long)"/nonexistent-moat",
                 (unsigned long)"/nonexistent-moat", 0, 0, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "fsopen")) {
        r = raw6(SYS_fsopen, (unsigned long)"tmpfs", 0, 0, 0, 0, 0);
        result(r >= 0 ? 0 : r, errno, NULL);
    } else if (!strcmp(c, "fsmount")) { /* fsopen, fsconfig(CMD_CREATE), fsmount: the detached tmpfs */
        int fs = (int)syscall(SYS_fsopen, "tmpfs", 0);
        if (fs < 0) {
            r = raw6(SYS_fsmount, (unsigned long)-1, 0, 0, 0, 0, 0);
        } else {
            syscall(SYS_fsconfig, fs, 6 /* FSCONFIG_CMD_CREATE */, NULL, NULL, 0);
            r = raw6(SYS_fsmount, fs, 0, 0, 0, 0, 0);
        }
        result(r >= 0 ? 0 : r, errno, NULL);
    } else if (!strcmp(c, "fsconfig")) {
        r = raw6(SYS_fsconfig, (unsigned long)-1, 6, 0, 0, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "fspick")) {
        r = raw6(SYS_fspick, AT_FDCWD, (unsigned long)"/", 0, 0, 0, 0);
        result(r >= 0 ? 0 : r, errno, NULL);
    } else if (!strcmp(c, "open_tree")) { /* OPEN_TREE_CLONE: a detached copy of / */
        r = raw6(SYS_open_tree, AT_FDCWD, (unsigned long)"/", 1 /* OPEN_TREE_CLONE */, 0, 0, 0);
        result(r >= 0 ? 0 : r, errno, NULL);
    } else if (!strcmp(c, "move_mount")) {
        r = raw6(SYS_move_mount, (unsigned long)-1, (unsigned long)"", AT_FDCWD,
                 (unsigned long)"/nonexistent-moat", 4 /* MOVE_MOUNT_F_EMPTY_PATH */, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "mount_setattr")) {
        r = raw6(SYS_mount_setattr, (unsigned long)-1, (unsigned long)"", 0, 0, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "setns")) { /* setns(open(/proc/PPID/ns/NAME), 0): the caller's namespace */
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/%s", getppid(), need(argc, argv, 2));
        int fd = open(path, O_RDONLY);
        if (fd < 0) {
            perror(path);
            return 3;
        }
        r = raw6(SYS_setns, fd, 0, 0, 0, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "bpf")) { /* BPF_MAP_CREATE of a 1-entry array */
        uint32_t attr[18] = {2 /* BPF_MAP_TYPE_ARRAY */, 4, 4, 1};
        r = raw6(SYS_bpf, 0, (unsigned long)attr, sizeof attr, 0, 0, 0);
        result(r >= 0 ? 0 : r, errno, NULL);
    } else if (!strcmp(c, "perf_event_open")) {
        struct perf_event_attr a;
        memset(&a, 0, sizeof a);
        a.type = PERF_TYPE_SOFTWARE;
        a.config = PERF_COUNT_SW_CPU_CLOCK;
        a.size = sizeof a;
        a.disabled = 1;
        r = raw6(SYS_perf_event_open, (unsigned long)&a, 0, (unsigned long)-1, (unsigned long)-1,
                 0, 0);
        result(r >= 0 ? 0 : r, errno, NULL);
    } else if (!strcmp(c, "keyctl")) { /* KEYCTL_JOIN_SESSION_KEYRING "moat" */
        r = raw6(SYS_keyctl, 1, (unsigned long)"moat-attack", 0, 0, 0, 0);
        result(r >= 0 ? 0 : r, errno, NULL);
    } else if (!strcmp(c, "add_key")) { /* into the process keyring, gone with the process */
        r = raw6(SYS_add_key, (unsigned long)"user", (unsigned long)"moat", (unsigned long)"v", 1,
                 (unsigned long)-2 /* KEY_SPEC_PROCESS_KEYRING */, 0);
        result(r >= 0 ? 0 : r, errno, NULL);
    } else if (!strcmp(c, "request_key")) {
        r = raw6(SYS_request_key, (unsigned long)"user", (unsigned long)"moat-none", 0, 0, 0, 0);
        result(r >= 0 ? 0 : r, errno, NULL);
    } else if (!strcmp(c, "userfaultfd")) {
        r = raw6(SYS_userfaultfd, O_CLOEXEC, 0, 0, 0, 0, 0);
        result(r >= 0 ? 0 : r, errno, NULL);
    } else if (!strcmp(c, "dev_userfaultfd")) { /* open + USERFAULTFD_IOC_NEW */
        int fd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            printf("skip: /dev/userfaultfd: %s\n", strerror(errno));
            return 0;
        }
        r = raw6(SYS_ioctl, fd, num(argc > 2 ? argv[2] : "0xAA00"), O_CLOEXEC, 0, 0, 0);
        result(r >= 0 ? 0 : r, errno, NULL);
    } else if (!strcmp(c, "io_uring_setup")) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        r = raw6(SYS_io_uring_setup, 4, (unsigned long)&p, 0, 0, 0, 0);
        result(r >= 0 ? 0 : r, errno, NULL);
    } else if (!strcmp(c, "io_uring_enter") || !strcmp(c, "io_uring_register")) {
        r = raw6(!strcmp(c, "io_uring_enter") ? SYS_io_uring_enter : SYS_io_uring_register,
                 (unsigned long)-1, 0, 0, 0, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "uring_mkdir")) { /* mkdir DIR, then IORING_OP_MKDIRAT DIR */
        const char *dir = need(argc, argv, 2);
        long m = raw6(SYS_mkdir, (unsigned long)dir, 0755, 0, 0, 0, 0);
        int me = m < 0 ? errno : 0;
        struct stat st;
        int stage = -1;
        if (m == 0)
            rmdir(dir); /* mkdir was allowed: remove it, so the ring's attempt is observable */
        long res = uring_one(IORING_OP_MKDIRAT, dir, &stage);
        snprintf(extra, sizeof extra, "mkdir_errno=%d uring_res=%ld stage=%d exists=%d", me, res,
                 stage, stat(dir, &st) == 0);
        result(res < 0 ? -1 : res, res < 0 ? (int)-res : 0, extra);
    } else if (!strcmp(c, "open_by_handle_at")) {
        struct {
            struct file_handle h;
            unsigned char data[128];
        } fh;
        int mnt;
        fh.h.handle_bytes = 128;
        long n = syscall(SYS_name_to_handle_at, AT_FDCWD, "/etc/hostname", &fh.h, &mnt, 0);
        if (n < 0) {
            printf("name_to_handle_at: ret=-1 errno=%d\n", errno);
            return 3;
        }
        int root = open("/", O_RDONLY | O_DIRECTORY);
        r = raw6(SYS_open_by_handle_at, root, (unsigned long)&fh.h, O_RDONLY, 0, 0, 0);
        result(r >= 0 ? 0 : r, errno, NULL);
    } else if (!strcmp(c, "victim")) { /* prints its buffer's address, waits for a line on stdin */
        printf("pid=%d addr=%p\n", getpid(), (void *)victim_buf);
        fflush(stdout);
        char line[16];
        if (!fgets(line, sizeof line, stdin))
            return 0;
        printf("buf=%s\n", victim_buf);
        return 0;
    } else if (!strcmp(c, "sentinel")) { /* prints its pid, counts SIGURG until a stdin line */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_urg;
        sa.sa_flags = SA_RESTART;
        sigaction(SIGURG, &sa, NULL);
        printf("pid=%d\n", getpid());
        fflush(stdout);
        char line[16];
        if (!fgets(line, sizeof line, stdin))
            line[0] = 0;
        printf("urg=%d\n", (int)urg_count);
        return 0;
    } else if (!strcmp(c, "kill_urg")) { /* PID: kill(PID, SIGURG) (default action: ignore) */
        r = raw6(SYS_kill, num(need(argc, argv, 2)), SIGURG, 0, 0, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "ptrace_attach")) { /* ptrace_attach PID; detaches if attached */
        pid_t pid = (pid_t)num(need(argc, argv, 2));
        r = raw6(SYS_ptrace, 16 /* PTRACE_ATTACH */, pid, 0, 0, 0, 0);
        e = errno;
        if (r == 0) {
            waitpid(pid, NULL, __WALL);
            syscall(SYS_ptrace, 17 /* PTRACE_DETACH */, pid, 0, 0);
        }
        result(r, e, NULL);
    } else if (!strcmp(c, "process_vm_writev")) { /* PID ADDR: writes "pwned" */
        pid_t pid = (pid_t)num(need(argc, argv, 2));
        char msg[] = "pwned";
        struct iovec l = {msg, sizeof msg}, rv = {(void *)num(need(argc, argv, 3)), sizeof msg};
        r = raw6(SYS_process_vm_writev, pid, (unsigned long)&l, 1, (unsigned long)&rv, 1, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "proc_mem")) { /* PID ADDR: writes "pwned" through /proc/PID/mem */
        char path[64];
        snprintf(path, sizeof path, "/proc/%s/mem", need(argc, argv, 2));
        int fd = open(path, O_RDWR);
        if (fd < 0) {
            result(-1, errno, "stage=open");
            return 0;
        }
        r = pwrite(fd, "pwned", 6, (off_t)num(need(argc, argv, 3)));
        result(r, errno, "stage=write");
    } else if (!strcmp(c, "proc_mem_open")) { /* PID: open /proc/PID/mem for writing only */
        char path[64];
        snprintf(path, sizeof path, "/proc/%lu/mem", num(need(argc, argv, 2)));
        r = open(path, O_RDWR);
        result(r >= 0 ? 0 : r, errno, NULL);
    } else if (!strcmp(c, "kill_reach")) { /* PID: kill(PID, 0), which sends no signal */
        r = raw6(SYS_kill, num(need(argc, argv, 2)), 0, 0, 0, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "init_module")) { /* garbage image */
        static const char junk[] = "not an ELF module";
        r = raw6(SYS_init_module, (unsigned long)junk, sizeof junk, (unsigned long)"", 0, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "finit_module")) {
        r = raw6(SYS_finit_module, (unsigned long)-1, (unsigned long)"", 0, 0, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "delete_module")) {
        r = raw6(SYS_delete_module, (unsigned long)"moat_nonexistent", O_NONBLOCK, 0, 0, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "kexec_load")) { /* no segments, invalid flags */
        r = raw6(SYS_kexec_load, 0, 0, 0, 0xdead0000, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "kexec_file_load")) {
        r = raw6(SYS_kexec_file_load, (unsigned long)-1, (unsigned long)-1, 0, 0, 0xdead0000, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "reboot")) { /* valid magic1, INVALID magic2: EINVAL unconfined */
        r = raw6(SYS_reboot, 0xfee1dead, 0x12345678, 0, 0, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "swapon") || !strcmp(c, "swapoff")) {
        r = raw6(!strcmp(c, "swapon") ? SYS_swapon : SYS_swapoff,
                 (unsigned long)"/nonexistent-moat/swap", 0, 0, 0, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "clock_settime")) { /* an invalid clock id: EINVAL unconfined */
        struct timespec ts = {0, 0};
        r = raw6(SYS_clock_settime, 0x7777, (unsigned long)&ts, 0, 0, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "settimeofday")) { /* NULL, NULL: changes nothing */
        r = raw6(SYS_settimeofday, 0, 0, 0, 0, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "move_pages")) { /* PID, no pages */
        r = raw6(SYS_move_pages, num(need(argc, argv, 2)), 0, 0, 0, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "migrate_pages")) { /* PID, node 0 -> node 0 */
        unsigned long m = 1;
        r = raw6(SYS_migrate_pages, num(need(argc, argv, 2)), 2, (unsigned long)&m,
                 (unsigned long)&m, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "mbind")) { /* MPOL_DEFAULT on one page of ours */
        char *p = low_page();
        r = raw6(SYS_mbind, (unsigned long)p, 4096, 0, 0, 0, 0);
        result(r, errno, NULL);
    } else if (!strcmp(c, "nested_allow")) { /* stack an allow-all filter, then call CASE... */
        struct sock_filter_s {
            unsigned short code;
            unsigned char jt, jf;
            unsigned int k;
        } allow = {0x06, 0, 0, 0x7fff0000};
        struct {
            unsigned short len;
            void *filter;
        } prog = {1, &allow};
        long s = raw6(SYS_seccomp, 1 /* SET_MODE_FILTER */, 0, (unsigned long)&prog, 0, 0, 0);
        int se = s < 0 ? errno : 0;
        r = raw6(SYS_unshare, CLONE_NEWUSER, 0, 0, 0, 0, 0);
        e = errno;
        snprintf(extra, sizeof extra, "stacked_errno=%d", se);
        result(r, e, extra);
    } else {
        fprintf(stderr, "attack: unknown case %s\n", c);
        return 2;
    }
    return 0;
}
