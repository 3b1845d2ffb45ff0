/* Quiet closes of dialing sockets (nng_quiet.h says why). */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "nng_quiet.h"
#include "nng_tls_names.h"

#define NNGQ_WAIT_MS         2000
#define NNGQ_NO_RECONNECT_MS (3600 * 1000)

static void nngq_pipe_event(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    struct grove_nng_quiet *q = arg;
    pthread_mutex_lock(&q->lock);
    if (ev == NNG_PIPE_EV_ADD_PRE) {
        q->pipes++;
        if (q->closing) {
            /* Refused before the protocol starts reading on it. */
            pthread_mutex_unlock(&q->lock);
            nng_pipe_close(pipe);
            return;
        }
    } else if (ev == NNG_PIPE_EV_ADD_POST) {
        q->pipe = pipe;
        nng_pipe_get_addr(pipe, NNG_OPT_LOCADDR, &q->local);
        nng_pipe_get_addr(pipe, NNG_OPT_REMADDR, &q->remote);
    } else if (q->pipes > 0) {
        q->pipes--;
        pthread_cond_broadcast(&q->cond);
    }
    pthread_mutex_unlock(&q->lock);
}

grove_err grove_nng_quiet_watch(struct grove_nng_quiet *q, nng_socket sock)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    static const nng_pipe_ev events[] = {NNG_PIPE_EV_ADD_PRE, NNG_PIPE_EV_ADD_POST,
                                         NNG_PIPE_EV_REM_POST};
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        int rv = nng_pipe_notify(sock, events[i], nngq_pipe_event, q);
        if (rv)
            return grove_error_set(GROVE_EINVAL, "nng pipe notify: %s", nng_strerror(rv));
    }
    return GROVE_OK;
}

/* Whether the kernel's address a is nng's address n (tcp, over IPv4 or
 * IPv6). */
static bool nngq_same(const struct sockaddr_storage *a, const nng_sockaddr *n)
{
    switch (n->s_family) {
    case NNG_AF_INET: {
        const struct sockaddr_in *in = (const struct sockaddr_in *)a;
        return a->ss_family == AF_INET && in->sin_port == n->s_in.sa_port &&
               in->sin_addr.s_addr == n->s_in.sa_addr;
    }
    case NNG_AF_INET6: {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)a;
        return a->ss_family == AF_INET6 && in6->sin6_port == n->s_in6.sa_port &&
               memcmp(in6->sin6_addr.s6_addr, n->s_in6.sa_addr, 16) == 0;
    }
    default:
        return false;
    }
}

/* The file descriptor of the tcp connection from local to remote, -1 when
 * there is none. */
static int nngq_find_fd(const nng_sockaddr *local, const nng_sockaddr *remote)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return -1;
    int found = -1;
    for (struct dirent *e; (e = readdir(dir));) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name || fd == dirfd(dir))
            continue;
        /* Only the address calls, which fail on anything but a connected
         * socket: the descriptors are other threads' (nng's among them), so
         * nothing here may act on them (ThreadSanitizer reports an fstat
         * beside nng's close of one). */
        struct sockaddr_storage mine = {0}, peer = {0};
        socklen_t mine_len = sizeof mine, peer_len = sizeof peer;
        if (getsockname((int)fd, (struct sockaddr *)&mine, &mine_len) ||
            getpeername((int)fd, (struct sockaddr *)&peer, &peer_len))
            continue;
        if (nngq_same(&mine, local) && nngq_same(&peer, remote)) {
            found = (int)fd;
            break;
        }
    }
    closedir(dir);
    return found;
}

void grove_nng_quiet_close(struct grove_nng_quiet *q, nng_socket sock)
{
    pthread_mutex_lock(&q->lock);
    q->closing = true;
    if (q->pipes > 0) {
        nng_pipe pipe = q->pipe;
        nng_sockaddr local = q->local, remote = q->remote;
        pthread_mutex_unlock(&q->lock);
        /* The dialer would connect again 100 ms after the failure, only to
         * be refused: pushed out, nothing is being set up at nng_close. */
        nng_dialer dialer = nng_pipe_dialer(pipe);
        nng_dialer_set_ms(dialer, NNG_OPT_RECONNMINT, NNGQ_NO_RECONNECT_MS);
        nng_dialer_set_ms(dialer, NNG_OPT_RECONNMAXT, NNGQ_NO_RECONNECT_MS);
        bool ending = grove_nng_tls_pipe_end(pipe);
        if (!ending) {
            int fd = nngq_find_fd(&local, &remote);
            /* Not close(): the descriptor stays nng's, so its number is
             * not reused under it. */
            ending = fd >= 0 && shutdown(fd, SHUT_RDWR) == 0;
        }
        pthread_mutex_lock(&q->lock);
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += NNGQ_WAIT_MS / 1000;
        while (ending && q->pipes > 0)
            if (pthread_cond_timedwait(&q->cond, &q->lock, &deadline) == ETIMEDOUT)
                break;
    }
    pthread_mutex_unlock(&q->lock);
    nng_close(sock);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
}
