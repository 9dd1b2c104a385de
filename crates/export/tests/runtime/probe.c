/* probe: tries the calls the runtime tests check and prints NAME=ERRNO (0 = it worked).
   Built statically by crates/export/tests/runtimes.rs and run inside real containers. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
static void report(const char *what, long rc) { printf("%s=%d\n", what, rc < 0 ? errno : 0); }
int main(void) {
    report("mkdir", mkdir("/tmp/probe-dir", 0755));
    report("mount", mount("none", "/mnt", "tmpfs", 0, NULL));
    /* last: after unshare(CLONE_NEWUSER) the process no longer holds capabilities here */
    report("unshare", unshare(CLONE_NEWUSER));
    report("vsock", socket(AF_VSOCK, SOCK_STREAM, 0));
    report("getpid", getpid() > 0 ? 0 : -1);
    fflush(stdout);
    return 0;
}
