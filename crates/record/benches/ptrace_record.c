/* The ptrace alternative for moat record's overhead benchmark: a minimal recorder that
 * installs a SECCOMP_RET_TRACE filter for every call before exec and counts each
 * PTRACE_EVENT_SECCOMP stop (one stop per call, following forks, clones and execs), then
 * resumes the caller. It does what moat record's supervisor does per call, with ptrace instead
 * of user notification, so the two mechanisms compare directly.
 *
 *   ptrace_record PROG ARG...   prints "calls N" on stderr, exits with PROG's status
 */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    pid_t child = fork();
    if (child == 0) {
        struct sock_filter f[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE)};
        struct sock_fprog prog = {.len = 1, .filter = f};
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(126);
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) _exit(126);
        execvp(argv[1], argv + 1);
        _exit(127);
    }
    int st;
    waitpid(child, &st, 0);
    ptrace(PTRACE_SETOPTIONS, child, 0,
           PTRACE_O_TRACESECCOMP | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
               PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL);
    ptrace(PTRACE_CONT, child, 0, 0);
    unsigned long calls = 0;
    int code = 0;
    for (;;) {
        pid_t pid = waitpid(-1, &st, __WALL);
        if (pid < 0) break;
        if (WIFEXITED(st) || WIFSIGNALED(st)) {
            if (pid == child) code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            continue;
        }
        if (!WIFSTOPPED(st)) continue;
        int sig = WSTOPSIG(st), event = st >> 16, deliver = 0;
        if (sig == SIGTRAP && event == PTRACE_EVENT_SECCOMP) {
            struct user_regs_struct regs;
            ptrace(PTRACE_GETREGS, pid, 0, &regs); /* what a recorder reads: nr and args */
            calls++;
        } else if (event == PTRACE_EVENT_STOP || event != 0 || sig == SIGSTOP) {
            deliver = 0; /* new task, exec, or the initial stop of a new task */
        } else {
            deliver = sig;
        }
        ptrace(PTRACE_CONT, pid, 0, deliver);
    }
    fprintf(stderr, "calls %lu\n", calls);
    return code;
}
