/* threads: shows what clone3 returns, then starts 8 threads with pthread_create (glibc 2.34+
 * tries clone3 first and falls back to clone on ENOSYS) and joins them. Prints
 * "clone3=<result> threads=<n> sum=<sum of 1..n>". */
#include <errno.h>
#include <linux/sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *work(void *arg) {
    return (void *)((long)arg + 1);
}

int main(void) {
    struct clone_args a;
    memset(&a, 0, sizeof a);
    a.exit_signal = SIGCHLD;
    long r = syscall(SYS_clone3, &a, sizeof a);
    if (r == 0)
        _exit(0);
    const char *c3 = r > 0 ? "ok" : errno == ENOSYS ? "ENOSYS" : strerror(errno);
    pthread_t t[8];
    long sum = 0;
    int n = 0;
    for (long i = 0; i < 8; i++)
        if (pthread_create(&t[i], NULL, work, (void *)i) == 0)
            n++;
    for (int i = 0; i < n; i++) {
        void *v;
        pthread_join(t[i], &v);
        sum += (long)v;
    }
    printf("clone3=%s threads=%d sum=%ld\n", c3, n, sum);
    return n == 8 ? 0 : 1;
}
