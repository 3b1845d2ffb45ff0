/* Peers and listeners: how a node reaches other nodes and serves them, by URL
 * (docs/design.md §7). The scheme picks a registered transport, so a config
 * file swaps transports by editing a URL. Writing a transport: see
 * grove/sys/transport.h. */
#ifndef GROVE_TRANSPORT_H
#define GROVE_TRANSPORT_H

#include <stdatomic.h>

#include "grove/access.h"
#include "grove/model.h"
#include "grove/server.h"

/* How to dial a peer. Borrowed for grove_peer_open; zero fields take the
 * defaults named here. */
struct grove_dial_options {
    const char *token;      /* bearer token sent to the peer; NULL: none */
    int connect_timeout_ms; /* 0: 5000 */
    int timeout_ms;         /* whole call; 0: 30000 */
    const char *ca_file;    /* TLS: CA to verify the peer; NULL: system CAs */
    const char *cert_file;  /* TLS client certificate; NULL: none */
    const char *key_file;
    bool insecure; /* TLS without verification: for development only */
};

/* How to serve. Borrowed for grove_listener_open; zero fields take the
 * defaults named here. */
struct grove_listen_options {
    const char *token;     /* required bearer token; NULL: no auth */
    const char *cert_file; /* TLS server certificate and key (https, grpcs) */
    const char *key_file;
    const char *ca_file; /* TLS: require client certificates signed by this CA */
    size_t max_body;     /* largest request; 0: 64 MiB */
    int keepalive_ms;    /* stream keep-alive interval; 0: 15000 */
    /* HTTP: a request's head must arrive within head_timeout_ms of the
     * connection (or of its previous request), its body within
     * body_timeout_ms of the head; late ones are closed. 0: 10000, 60000. */
    int head_timeout_ms;
    int body_timeout_ms;
    /* HTTP: open connections in all, and from one address. 0: 10000, 64.
     * One over either is answered 503 {"error":...} and closed (plain
     * HTTP; over TLS it is closed). Streams count, but hold no thread. */
    unsigned max_connections;
    unsigned max_connections_per_address;
    /* HTTP: origins ("https://app.example.com", or "*" for any) whose pages
     * may call this listener: their preflights are answered and every
     * answer to them carries CORS headers. None: CORS off. */
    const char *const *cors_origins;
    size_t cors_origin_count;
    /* HTTP: the admin API (grove/admin.h, docs/operations.md) at /v1/status,
     * /v1/sync and /v1/backup; NULL: not served. Its calls need admin_token
     * when that is set, else token. admin_only: nothing but the probes,
     * the admin API (and metrics) on this listener. */
    struct grove_admin *admin;
    const char *admin_token;
    bool admin_only;
    /* Identities (grove/access.h); a reference is taken. When set, token
     * and admin_token are not used. NULL: the table they stand for
     * (grove_access_from_tokens). */
    struct grove_access *access;
    /* Not for callers: grove_listener_open sets it for the transport, which
     * admits every request through it (grove/sys/transport.h). */
    struct grove_guard *guard;
};

#define GROVE_DIAL_CONNECT_TIMEOUT_MS 5000
#define GROVE_DIAL_TIMEOUT_MS         30000
#define GROVE_LISTEN_MAX_BODY         ((size_t)64 << 20)
#define GROVE_LISTEN_KEEPALIVE_MS     15000
#define GROVE_LISTEN_HEAD_TIMEOUT_MS  10000
#define GROVE_LISTEN_BODY_TIMEOUT_MS  60000
#define GROVE_LISTEN_MAX_CONNECTIONS  10000
#define GROVE_LISTEN_MAX_PER_ADDRESS  64

struct grove_transport;

/* Registers a transport (borrowed; usually a static const). GROVE_EINVAL when
 * a mandatory op is missing or a scheme is taken; registering one twice is
 * harmless. */
grove_err grove_transport_register(const struct grove_transport *transport);
/* GROVE_OK when url parses (as grove_peer_open and grove_listener_open parse
 * it) and its scheme names a registered transport; else the reason. */
grove_err grove_transport_check_url(const char *url);
/* Comma-separated registered schemes, for messages and --help. Borrowed. */
const char *grove_transport_schemes(void);

/* The in-process transport (inproc://name), always registered. Every call is
 * encoded to JSON and decoded again, so tests exercise the wire path. */
extern const struct grove_transport grove_transport_inproc;

/* Called for each streamed batch. Borrowed for the call. Returning non-zero
 * ends the subscription with that error. */
typedef grove_err (*grove_batch_fn)(void *user, const struct grove_pull_response *batch);

/* A dialed peer. URLs are parsed strictly (no spaces, query strings or
 * credentials; a host unless the scheme names a path) and every error is
 * prefixed with the URL once. Calls on one peer may run concurrently. */
struct grove_peer;
grove_err grove_peer_open(struct grove_peer **out, const char *url,
                          const struct grove_dial_options *opts);
const char *grove_peer_url(const struct grove_peer *peer);
/* On success *out is a new response owned by the caller, on failure NULL. */
grove_err grove_peer_pull(struct grove_peer *peer, const struct grove_pull_request *req,
                          struct grove_pull_response **out);
/* An error may still mean the peer applied the push (its answer was lost):
 * pushes are idempotent. */
grove_err grove_peer_push(struct grove_peer *peer, const struct grove_push_request *req,
                          struct grove_push_response **out);
bool grove_peer_can_subscribe(const struct grove_peer *peer);
/* Streams batches after req->since to fn until *stop becomes true (seen
 * within 200 ms; returns GROVE_OK) or the stream breaks (returns the error;
 * the caller reconnects with backoff). GROVE_ENOTSUP when the transport
 * cannot stream. */
grove_err grove_peer_subscribe(struct grove_peer *peer, const struct grove_pull_request *req,
                               grove_batch_fn fn, void *user, const atomic_bool *stop);
/* While `on`, calls in flight on the peer end promptly with GROVE_ESHUTDOWN
 * and new ones fail at once (where the transport can: grove/sys/transport.h
 * `cancel`); for stopping without waiting out a silent peer's timeout. */
void grove_peer_cancel(struct grove_peer *peer, bool on);
void grove_peer_close(struct grove_peer *peer);

/* Serves `server` at url until closed. The server must outlive the listener. */
struct grove_listener;
grove_err grove_listener_open(struct grove_listener **out, const char *url,
                              struct grove_server *server, const struct grove_listen_options *opts);
/* Stops accepting, ends streams, joins in-flight calls. NULL is a no-op. */
void grove_listener_close(struct grove_listener *listener);
/* New tokens (as grove_listen_options' token and admin_token; NULL: none)
 * for the requests that arrive from now on, on every transport; open streams
 * go on with the identity they were opened by. A config reload. */
grove_err grove_listener_set_tokens(struct grove_listener *listener, const char *token,
                                    const char *admin_token);
/* The same with an identity table (a reference is taken). */
void grove_listener_set_access(struct grove_listener *listener, struct grove_access *access);

#endif
