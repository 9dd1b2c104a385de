/* sock32: a 32-bit program (built with -m32) that does ordinary work and opens an AF_INET
 * socket. Prints "files=ok socket=<ok|errno name>". Debian's i386 glibc creates sockets through
 * socketcall(SYS_SOCKET, ...), whose arguments sit behind a pointer. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
    char buf[64];
    int fd = open("/proc/self/stat", O_RDONLY);
    int files = fd >= 0 && read(fd, buf, sizeof buf) > 0;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    printf("files=%s socket=%s\n", files ? "ok" : "failed",
           s >= 0 ? "ok" : errno == EPERM ? "EPERM" : strerror(errno));
    return 0;
}
