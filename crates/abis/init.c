/* moat-abis test program: runs as /init in a throwaway VM of one ABI.
 *
 * Reads /cases (text, one call a line: `FILTER NR A0 A1 A2 A3 A4 A5`, hex; FILTER is the index of
 * /f/FILTER, a `struct sock_filter` array in raw bytes exactly as moat wrote them, or `-` for no
 * filter). For each call it forks a child that installs the filter with seccomp(2) and makes the
 * call with the raw number and full-width registers, and prints one line on the console:
 *   `R INDEX ok` | `R INDEX err ERRNO` | `R INDEX sig SIGNO` | `R INDEX exit CODE` | `R INDEX load ERRNO`
 * (`load`: seccomp(2) refused the filter). A call that neither returns nor kills within 5 s is
 * ended by SIGALRM (`sig 14`).
 * then `DONE COUNT` and powers the machine off.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FILTERS 4096
#define MAX_INSNS 4096

static struct sock_filter *filters[MAX_FILTERS];
/* Written by the child after the call, read by the parent after it is gone. */
static volatile struct {
    int state; /* 0 nothing, 1 returned, 2 failed with err, 3 filter refused */
    int err;
} *shared;
static unsigned short lens[MAX_FILTERS];

static void out(const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(1, s, n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void die(const char *what) {
    char buf[160];
    snprintf(buf, sizeof buf, "\nFATAL %s errno %d\n", what, errno);
    out(buf);
    sync();
    reboot(RB_POWER_OFF);
    _exit(1);
}

static long load_filter(int i) {
    if (lens[i] > 0 || filters[i]) return 0;
    char path[32];
    snprintf(path, sizeof path, "/f/%d", i);
    int fd = open(path, O_RDONLY);
    if (fd < 0) die(path);
    static unsigned char buf[MAX_INSNS * 8];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof buf - len);
        if (r < 0) die("read filter");
        if (r == 0) break;
        len += (size_t)r;
    }
    close(fd);
    if (len % 8 != 0 || len == 0) die("filter size");
    filters[i] = malloc(len);
    /* The bytes as they are: the kernel reads them in its own byte order. */
    memcpy(filters[i], buf, len);
    lens[i] = (unsigned short)(len / 8);
    return 0;
}

/* The call with full-width registers. On x32 glibc's syscall() takes 32-bit longs, so the
 * registers are set directly; elsewhere long is the register width. */
static long call(unsigned long nr, uint64_t a[6]) {
#if defined(__x86_64__) && defined(__ILP32__)
    long ret;
    register uint64_t r10 __asm__("r10") = a[3];
    register uint64_t r8 __asm__("r8") = a[4];
    register uint64_t r9 __asm__("r9") = a[5];
    uint64_t rax = nr;
    __asm__ volatile("syscall"
                     : "+a"(rax)
                     : "D"(a[0]), "S"(a[1]), "d"(a[2]), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    ret = (long)(int64_t)rax;
    if ((int64_t)rax < 0 && (int64_t)rax > -4096) {
        errno = (int)-(int64_t)rax;
        return -1;
    }
    return ret;
#else
    return syscall((long)nr, (long)a[0], (long)a[1], (long)a[2], (long)a[3], (long)a[4], (long)a[5]);
#endif
}

int main(void) {
    mkdir("/proc", 0755);
    mount("proc", "/proc", "proc", 0, NULL);
    shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) die("mmap");
    FILE *f = fopen("/cases", "r");
    if (!f) die("open /cases");
    char line[512];
    int index = 0;
    out("\nSTART\n");
    while (fgets(line, sizeof line, f)) {
        char fs[16];
        unsigned long long nr, a[6];
        if (sscanf(line, "%15s %llx %llx %llx %llx %llx %llx %llx", fs, &nr, &a[0], &a[1], &a[2], &a[3],
                   &a[4], &a[5]) != 8)
            die("bad case line");
        int fi = -1;
        if (strcmp(fs, "-") != 0) {
            fi = atoi(fs);
            if (fi < 0 || fi >= MAX_FILTERS) die("filter index");
            load_filter(fi);
        }
        uint64_t args[6];
        for (int k = 0; k < 6; k++) args[k] = a[k];
        shared->state = 0;
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            alarm(5);
            if (fi >= 0) {
                struct sock_fprog prog = {.len = lens[fi], .filter = filters[fi]};
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(120);
                if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
                    shared->err = errno;
                    shared->state = 3;
                    _exit(0);
                }
            }
            /* From here on every syscall goes through the filter: the result is stored in shared
             * memory, and if the filter also refuses exit_group the child faults itself. */
            long r = call((unsigned long)nr, args);
            shared->err = r == -1 ? errno : 0;
            shared->state = r == -1 ? 2 : 1;
            syscall(SYS_exit_group, 0);
            __builtin_trap();
        }
        int status;
        if (waitpid(pid, &status, 0) != pid) die("waitpid");
        char buf[64];
        switch (shared->state) {
        case 1: snprintf(buf, sizeof buf, "R %d ok\n", index); break;
        case 2: snprintf(buf, sizeof buf, "R %d err %d\n", index, shared->err); break;
        case 3: snprintf(buf, sizeof buf, "R %d load %d\n", index, shared->err); break;
        default:
            if (WIFSIGNALED(status))
                snprintf(buf, sizeof buf, "R %d sig %d\n", index, WTERMSIG(status));
            else
                snprintf(buf, sizeof buf, "R %d exit %d\n", index, WEXITSTATUS(status));
        }
        out(buf);
        index++;
    }
    char buf[32];
    snprintf(buf, sizeof buf, "DONE %d\n", index);
    out(buf);
    sync();
    reboot(RB_POWER_OFF);
    return 0;
}
