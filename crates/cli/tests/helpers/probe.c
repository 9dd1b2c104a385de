/* probe: makes one kind of system call and reports how it went, for `moat run` tests.
 *
 * Exit status: 0 when the call succeeded, else the errno it failed with (so a test can tell
 * EPERM from the filter apart from, say, EINVAL or ENOTTY from the kernel). A seccomp kill shows
 * up as death by SIGSYS. Built by the tests with `gcc -O2 -pthread`. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int result(long r) { return r < 0 ? errno : 0; }

/* i386 system call through int 0x80 from a 64-bit process (IA32 emulation is on here). */
static long sys32(long nr, long a, long b, long c, long d, long e) {
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
                     : "memory");
    return ret;
}

static void *worker(void *arg) {
    volatile unsigned long *sum = arg;
    for (unsigned long i = 0; i < 100000; i++) *sum += i;
    return NULL;
}

static void *getppid_thread(void *arg) {
    (void)arg;
    syscall(SYS_getppid);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: probe WHAT [ARG]\n");
        return 100;
    }
    const char *what = argv[1];
    if (!strcmp(what, "getppid")) {
        long r = syscall(SYS_getppid);
        printf("getppid=%ld\n", r);
        return result(r);
    }
    if (!strcmp(what, "unshare-user")) return result(unshare(CLONE_NEWUSER));
    if (!strcmp(what, "mount32")) {
        /* i386 mount is 21; junk pointers: without a filter the kernel answers EFAULT. */
        long r = sys32(21, 0, 0, 0, 0, 0);
        return r < 0 ? (int)-r : 0;
    }
    if (!strcmp(what, "getpid32")) {
        long r = sys32(20, 0, 0, 0, 0, 0);
        return r < 0 ? (int)-r : 0;
    }
    if (!strcmp(what, "x32")) return result(syscall(0x40000000L | 39)); /* x32 getpid */
    if (!strcmp(what, "io_uring_setup")) {
        char params[120] = {0};
        return result(syscall(425, 8, params));
    }
    if (!strcmp(what, "bpf")) return result(syscall(SYS_bpf, 0, 0, 0));
    if (!strcmp(what, "keyctl")) return result(syscall(SYS_keyctl, 0, 0, 0, 0, 0));
    if (!strcmp(what, "tiocsti")) {
        /* TIOCSTI with junk in the high 32 bits: ioctl's request is an int, so the kernel
         * ignores them and the filter must too. Without a filter: ENOTTY on /dev/null. */
        int fd = open("/dev/null", O_RDONLY);
        char c = 'x';
        return result(syscall(SYS_ioctl, fd, 0xdeadbeef00005412UL, &c));
    }
    if (!strcmp(what, "write-junk-fd")) {
        /* write(2)'s fd is an unsigned int: the kernel reads fd 2 (stderr) from 0x1_0000_0002.
         * Without a filter: 0, one byte written to stderr. */
        return result(syscall(SYS_write, 0x100000002UL, "x", 1UL));
    }
    if (!strcmp(what, "threads")) {
        pthread_t t[8];
        unsigned long sums[8] = {0};
        for (int i = 0; i < 8; i++)
            if (pthread_create(&t[i], NULL, worker, &sums[i])) return 101;
        for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
        for (int i = 0; i < 8; i++)
            if (sums[i] != 4999950000UL) return 102;
        puts("threads ok");
        return 0;
    }
    if (!strcmp(what, "thread-getppid")) {
        /* A thread makes the call; the main thread outlives it and exits 0. */
        pthread_t t;
        if (pthread_create(&t, NULL, getppid_thread, NULL)) return 101;
        usleep(300000);
        puts("main thread alive");
        return 0;
    }
    if (!strcmp(what, "sockets")) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0) return errno;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 1)) return errno;
        socklen_t len = sizeof a;
        getsockname(s, (struct sockaddr *)&a, &len);
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a)) return errno;
        int pair[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair)) return errno;
        int u = socket(AF_INET6, SOCK_DGRAM, 0);
        if (u < 0) return errno;
        puts("sockets ok");
        return 0;
    }
    if (!strcmp(what, "connect") && argc > 2) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((unsigned short)atoi(argv[2])),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        return result(connect(s, (struct sockaddr *)&a, sizeof a));
    }
    fprintf(stderr, "probe: unknown WHAT %s\n", what);
    return 100;
}
