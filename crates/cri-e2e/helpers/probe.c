/* probe: the in-container witness of the CRI tests. Built static (`gcc -static`) into the test
 * images, so it needs nothing from the image.
 *
 *   probe CALL...   makes each call and prints `CALL=ERRNO` (0: it succeeded), then the
 *                   `Seccomp:` line of /proc/self/status; exit status 0.
 *   pause           (also when run as /pause) waits for a signal; SIGTERM or SIGINT exit 0.
 *                   The sandbox (pause) image of the tests.
 *
 * The calls are chosen so that a seccomp denial (EPERM from the filter) differs from what the
 * kernel answers without one in a container as CRI runs it (root, the default capabilities):
 * each succeeds there unless a filter stops it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/keyctl.h>
#include <linux/netlink.h>
#include <netinet/in.h>

static int result(long r) { return r < 0 ? errno : 0; }

static int call(const char *what) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/probe.%ld", (long)getpid());
    if (!strcmp(what, "getpid")) return result(syscall(SYS_getpid));
    if (!strcmp(what, "mkdir")) {
        long r = syscall(SYS_mkdir, path, 0700);
        if (r == 0) rmdir(path);
        return result(r);
    }
    if (!strcmp(what, "chmod")) {
        int fd = open(path, O_CREAT | O_WRONLY, 0600);
        if (fd < 0) return 200;
        close(fd);
        long r = syscall(SYS_chmod, path, 0644);
        int e = result(r);
        unlink(path);
        return e;
    }
    if (!strcmp(what, "keyctl"))
        /* The thread keyring's id: always answerable (created on demand). */
        return result(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 1));
    if (!strcmp(what, "netlink")) {
        long r = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        int e = result(r);
        if (r >= 0) close((int)r);
        return e;
    }
    if (!strcmp(what, "rawsock")) {
        /* Needs CAP_NET_RAW, which containerd's default capabilities include. */
        long r = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
        int e = result(r);
        if (r >= 0) close((int)r);
        return e;
    }
    if (!strcmp(what, "uname")) {
        char buf[512];
        return result(syscall(SYS_uname, buf));
    }
    return 201;
}

static void seccomp_line(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    if (!f) {
        printf("Seccomp:\tunreadable\n");
        return;
    }
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "Seccomp:", 8)) fputs(line, stdout);
    fclose(f);
}

static void stop(int sig) {
    (void)sig;
    _exit(0);
}

int main(int argc, char **argv) {
    const char *self = strrchr(argv[0], '/');
    self = self ? self + 1 : argv[0];
    if (!strcmp(self, "pause") || (argc > 1 && !strcmp(argv[1], "pause"))) {
        signal(SIGTERM, stop);
        signal(SIGINT, stop);
        for (;;) pause();
    }
    for (int i = 1; i < argc; i++) printf("%s=%d\n", argv[i], call(argv[i]));
    seccomp_line();
    return fflush(stdout) == 0 ? 0 : 1;
}
