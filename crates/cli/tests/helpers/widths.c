/* widths: makes raw syscalls under a compiled moat filter and prints what each returned.
 *
 * usage: widths FILTER.bpf CASES
 *   FILTER.bpf  raw program (`moat compile -o`), 8 bytes per instruction
 *   CASES       one call a line: NR A0 A1 A2 A3 A4 A5 (hexadecimal)
 *
 * A forked child sets no_new_privs, installs a safety filter that answers ERRNO 3333 for every
 * call but seccomp(2) and exit_group(2) (so no call under test can run, even if the filter under
 * test let it through), then the filter under test, and makes every call with syscall(2): 64-bit
 * registers when built for x86_64, the i386 ABI when built with -m32. It records each errno in
 * shared memory and ends by calling getpid, which the filter under test kills. The parent prints
 * `status SIG`, `done N` (calls made) and one `errno E` line per call (E is -1 when the call
 * returned success). */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef __x86_64__
#define NATIVE_ARCH AUDIT_ARCH_X86_64
typedef unsigned long long reg_t;
#else
#define NATIVE_ARCH AUDIT_ARCH_I386
typedef unsigned long reg_t;
#endif

#define MAX_CASES 8192
#define SAFETY_ERRNO 3333

struct call {
    long nr;
    reg_t a[6];
};

static struct call calls[MAX_CASES];

static int install(struct sock_filter *insns, size_t n) {
    struct sock_fprog prog = {.len = (unsigned short)n, .filter = insns};
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: widths FILTER.bpf CASES\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    static struct sock_filter prog[BPF_MAXINSNS];
    size_t len = fread(prog, sizeof(prog[0]), BPF_MAXINSNS, f);
    fclose(f);
    if (len == 0) {
        fprintf(stderr, "%s: empty program\n", argv[1]);
        return 2;
    }
    FILE *c = fopen(argv[2], "r");
    if (!c) {
        perror(argv[2]);
        return 2;
    }
    size_t n = 0;
    unsigned long long nr, a[6];
    while (n < MAX_CASES && fscanf(c, "%llx %llx %llx %llx %llx %llx %llx", &nr, &a[0], &a[1],
                                   &a[2], &a[3], &a[4], &a[5]) == 7) {
        calls[n].nr = (long)nr;
        for (int i = 0; i < 6; i++)
            calls[n].a[i] = (reg_t)a[i];
        n++;
    }
    fclose(c);

    /* results[0] counts the calls made; results[1 + i] is call i's errno. */
    int *results = mmap(NULL, sizeof(int) * (n + 1), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (results == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    struct sock_filter safety[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_seccomp, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | SAFETY_ERRNO),
    };
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
            _exit(10);
        if (install(safety, sizeof(safety) / sizeof(safety[0])) != 0)
            _exit(11);
        if (install(prog, len) != 0)
            _exit(12);
        for (size_t i = 0; i < n; i++) {
            errno = 0;
            long r = syscall(calls[i].nr, calls[i].a[0], calls[i].a[1], calls[i].a[2],
                             calls[i].a[3], calls[i].a[4], calls[i].a[5]);
            results[1 + i] = r == -1 ? errno : -1;
            results[0] = (int)(i + 1);
        }
        syscall(SYS_getpid);
        _exit(13);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
        perror("waitpid");
        return 2;
    }
    if (WIFSIGNALED(status))
        printf("status %d\n", WTERMSIG(status));
    else
        printf("status exit %d\n", WEXITSTATUS(status));
    printf("done %d\n", results[0]);
    for (size_t i = 0; i < n; i++)
        printf("errno %d\n", results[1 + i]);
    return 0;
}
