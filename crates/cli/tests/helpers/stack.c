/* stack: fills this thread's seccomp budget (32768 instructions over all stacked filters;
 * research notes, ecosystem 3.5) with seven 4096-instruction allow-all filters and then
 * one-instruction filters until the kernel says ENOMEM, then execs argv[1..]. Any further
 * filter is refused by the kernel. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    static struct sock_filter insns[4096];
    for (int i = 0; i < 4095; i++) insns[i] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0);
    insns[4095] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = {.len = 4096, .filter = insns};
    if (argc < 2 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) return 100;
    for (int i = 0; i < 7; i++)
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) { perror("seccomp"); return 101; }
    struct sock_filter one = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog small = {.len = 1, .filter = &one};
    for (int i = 0; i < 100000; i++)
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &small)) break;
    execvp(argv[1], argv + 1);
    perror("execvp");
    return 127;
}
