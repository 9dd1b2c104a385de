/* Workloads for moat record's tests and overhead benchmark (compiled with cc at test time).
 *
 *   workload getppid N          N getppid() calls (a syscall-heavy loop)
 *   workload copy SRC DST N     copy SRC to DST N times with 4 KiB read/write calls
 *   workload unix | inet        create one AF_UNIX (or AF_INET) stream socket
 *   workload threads N [inet]   N threads, each calls getppid and creates an AF_UNIX socketpair
 *                               (and with `inet`, also an AF_INET socket)
 *   workload fork-exec PROG...  fork; the child execs PROG; the parent waits
 *   workload unshare-user       unshare(CLONE_NEWUSER)
 *   workload clone3-user        a child created by a raw clone3(CLONE_NEWUSER); it exits at once
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>
#include <signal.h>

static void *thread_main(void *arg) {
    int sv[2];
    syscall(SYS_getppid);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return (void *)1;
    close(sv[0]);
    close(sv[1]);
    if (arg) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) return (void *)1;
        close(fd);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *mode = argv[1];
    if (!strcmp(mode, "getppid") && argc == 3) {
        long n = atol(argv[2]);
        for (long i = 0; i < n; i++) syscall(SYS_getppid);
        return 0;
    }
    if (!strcmp(mode, "copy") && argc == 5) {
        static char buf[4096];
        long n = atol(argv[4]);
        for (long r = 0; r < n; r++) {
            int in = open(argv[2], O_RDONLY);
            int out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (in < 0 || out < 0) return 1;
            ssize_t got;
            while ((got = read(in, buf, sizeof buf)) > 0)
                if (write(out, buf, (size_t)got) != got) return 1;
            close(in);
            close(out);
        }
        return 0;
    }
    if (!strcmp(mode, "unix") || !strcmp(mode, "inet")) {
        int fd = socket(!strcmp(mode, "unix") ? AF_UNIX : AF_INET, SOCK_STREAM, 0);
        if (fd < 0) { perror("socket"); return 1; }
        close(fd);
        printf("socket ok\n");
        return 0;
    }
    if (!strcmp(mode, "threads") && (argc == 3 || argc == 4)) {
        int n = atoi(argv[2]);
        void *inet = argc == 4 && !strcmp(argv[3], "inet") ? (void *)1 : NULL;
        pthread_t t[64];
        if (n > 64) n = 64;
        for (int i = 0; i < n; i++)
            if (pthread_create(&t[i], NULL, thread_main, inet) != 0) return 1;
        for (int i = 0; i < n; i++) {
            void *r;
            pthread_join(t[i], &r);
            if (r) return 1;
        }
        printf("%d threads ok\n", n);
        return 0;
    }
    if (!strcmp(mode, "fork-exec") && argc >= 3) {
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) {
            execv(argv[2], argv + 2);
            _exit(127);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid) return 1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    if (!strcmp(mode, "unshare-user")) {
        if (unshare(CLONE_NEWUSER) != 0) { perror("unshare"); return 1; }
        printf("unshare ok\n");
        return 0;
    }
    if (!strcmp(mode, "clone3-user")) {
        struct clone_args args;
        memset(&args, 0, sizeof args);
        args.flags = CLONE_NEWUSER;
        args.exit_signal = SIGCHLD;
        long pid = syscall(SYS_clone3, &args, sizeof args);
        if (pid < 0) { perror("clone3"); return 1; }
        if (pid == 0) syscall(SYS_exit_group, 0);
        int st;
        if (waitpid((pid_t)pid, &st, 0) != pid) return 1;
        printf("clone3 ok\n");
        return 0;
    }
    return 2;
}
