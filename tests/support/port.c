/* Loopback ports (see port.h). */
#include "support/port.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
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

/* Whether 127.0.0.1:port can be bound now. */
static bool support_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* The ports handed out lately by this process, and their neighbours taken
 * with them. */
static pthread_mutex_t support_ports_lock = PTHREAD_MUTEX_INITIALIZER;
static int support_ports_given[128];
static size_t support_ports_next;

static bool support_port_given(int port)
{
    for (size_t i = 0; i < sizeof support_ports_given / sizeof support_ports_given[0]; i++)
        if (support_ports_given[i] == port)
            return true;
    return false;
}

/* The port after the one returned is free too, and neither was handed out
 * lately: an nng listener publishes its stream on the next port. */
int support_free_port(void)
{
    pthread_mutex_lock(&support_ports_lock);
    int found = -1;
    for (int attempt = 0; attempt < 64 && found < 0; attempt++) {
        int port;
        int fd = support_port_bind(&port);
        if (fd < 0)
            break;
        close(fd); /* bound, never listened: until someone binds it, connections are refused */
        if (port < 65535 && !support_port_given(port) && !support_port_given(port + 1) &&
            !support_port_given(port - 1) && support_port_free(port + 1))
            found = port;
    }
    if (found > 0)
        for (int k = 0; k < 2; k++) {
            support_ports_given[support_ports_next] = found + k;
            support_ports_next = (support_ports_next + 1) % 128;
        }
    pthread_mutex_unlock(&support_ports_lock);
    return found;
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
