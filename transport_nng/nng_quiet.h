/* Closing a dialing socket without the hang of nng 1.5.2's transports.
 *
 * The tcp, tls and ipc transports of nng 1.5.2 read a message in two parts
 * (length, then body), and the callback that ends one part starts the next
 * read. A close that comes between the two stops the read aio, the next read
 * is refused without a callback, and the protocol's receive waits for it for
 * ever: nng_close never returns and nng's one reaper thread blocks every
 * close after it, in the whole process. (nng 1.6 fixed it for tcp only.)
 *
 * A connection that fails by itself takes the error path, which starts no
 * read. So a subscriber's socket (which receives all the time) is closed
 * quietly: new connections are refused as they come (in
 * NNG_PIPE_EV_ADD_PRE, before the protocol reads), the current one is made
 * to fail, and only when its pipe is gone does nng_close run. A TLS
 * connection fails at its next read, which our engine brings on at once
 * (grove_nng_tls_pipe_end); a plain tcp one has its file descriptor shut
 * down (found by its addresses). Shut down that way, TLS and unix sockets
 * left the listener's next connection without answers in nng 1.5.2, so
 * ipc closes as before.
 *
 * What this does not cover: ipc, and the listening side, whose TLS sends
 * have the same flaw (a send resubmitted after a close): it can still hang
 * when a subscriber leaves in the middle of a frame sent to it. */
#ifndef GROVE_NNG_QUIET_H
#define GROVE_NNG_QUIET_H

#include <pthread.h>
#include <stdbool.h>

#include <nng/nng.h>

#include "grove/sys/error.h"

struct grove_nng_quiet {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool closing;       /* refuse new pipes */
    unsigned pipes;     /* pipes the socket holds (from ADD_PRE to REM_POST) */
    nng_pipe pipe;      /* the newest pipe (a dialer has one at a time) */
    nng_sockaddr local; /* and its addresses */
    nng_sockaddr remote;
};

/* Watches sock's pipes (sets its pipe notifications). */
grove_err grove_nng_quiet_watch(struct grove_nng_quiet *q, nng_socket sock);
/* Closes sock as the top of this file says, waiting at most 2 s for its
 * connection to go (then it closes anyway), and releases q. */
void grove_nng_quiet_close(struct grove_nng_quiet *q, nng_socket sock);

#endif
