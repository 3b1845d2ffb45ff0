/* Loopback ports (see port.h). */
#include "support/port.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* A socket bound to 127.0.0.1 on a port the kernel picks; -1 on failure. */
static int support_port_bind(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

int support_free_port(void)
{
    int port;
    int fd = support_port_bind(&port);
    if (fd < 0)
        return -1;
    close(fd); /* bound, never listened: until someone binds it, connections are refused */
    return port;
}

int support_silent_listener(int *port)
{
    int fd = support_port_bind(port);
    if (fd >= 0 && listen(fd, 16) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}
