/* The one transport interface. A transport implements the dialer role
 * (client: pull, push, optional subscribe) and optionally the listener role
 * (serve a grove_server). The core never calls these ops directly: the
 * grove_peer_* and grove_listener_* wrappers check the ops and turn a missing
 * optional op into GROVE_ENOTSUP. Transports include this header only. */
#ifndef GROVE_TRANSPORT_H
#define GROVE_TRANSPORT_H

#include <stdatomic.h>

#include "grove/json.h"
#include "grove/log.h"
#include "grove/model.h"
#include "grove/server.h"

struct grove_dial_options {
    const char *token;      /* bearer token sent to the peer; NULL: none */
    int connect_timeout_ms; /* 0: 5000 */
    int timeout_ms;         /* whole call; 0: 30000 */
    const char *ca_file;    /* TLS: CA to verify the peer; NULL: system CAs */
    const char *cert_file;  /* TLS client certificate; NULL: none */
    const char *key_file;
    bool insecure; /* TLS without verification: for development only */
};

struct grove_listen_options {
    const char *token;     /* required bearer token; NULL: no auth */
    const char *cert_file; /* TLS server certificate and key (https, grpcs, tls) */
    const char *key_file;
    const char *ca_file; /* TLS: require client certificates signed by this CA */
    size_t max_body;     /* largest request; 0: 64 MiB */
    int keepalive_ms;    /* stream keep-alive interval; 0: 15000 */
};

/* Called for each streamed batch. Borrowed for the call. Returning non-zero
 * ends the subscription with that error. */
typedef grove_err (*grove_batch_fn)(void *user, const struct grove_pull_response *batch);

struct grove_dialer_ops {
    /* Prepares a connection to url (connecting may be lazy). *self_out is
     * freed by close. Mandatory. */
    grove_err (*open)(const char *url, const struct grove_dial_options *opts, void **self_out);
    /* Mandatory. The request is borrowed for the call; on success *out is a
     * new response owned by the caller, on failure NULL. */
    grove_err (*pull)(void *self, const struct grove_pull_request *req,
                      struct grove_pull_response **out);
    /* Mandatory. Same ownership as pull. An error may still mean the server
     * applied the push (response lost): pushes are idempotent. */
    grove_err (*push)(void *self, const struct grove_push_request *req,
                      struct grove_push_response **out);
    /* Optional. Streams batches after req->since to fn until *stop becomes
     * true (checked at least every 200 ms; returns GROVE_OK) or the stream
     * breaks (returns the error; the caller reconnects with backoff). */
    grove_err (*subscribe)(void *self, const struct grove_pull_request *req, grove_batch_fn fn,
                           void *user, const atomic_bool *stop);
    /* Mandatory. Frees self. */
    void (*close)(void *self);
};

struct grove_listener_ops {
    /* Starts serving `server` at url in background threads. Mandatory. */
    grove_err (*open)(const char *url, struct grove_server *server,
                      const struct grove_listen_options *opts, void **self_out);
    /* Stops accepting, ends in-flight calls and frees self. Mandatory. */
    void (*close)(void *self);
};

struct grove_transport {
    const char *name;                          /* "http" */
    const char *const *schemes;                /* NULL-terminated: {"http", "https", NULL} */
    const struct grove_dialer_ops *dialer;     /* mandatory */
    const struct grove_listener_ops *listener; /* NULL: this transport cannot serve */
};

/* Registers a transport (borrowed; usually a static const). GROVE_EINVAL when
 * a mandatory op is missing or a scheme is taken. */
grove_err grove_transport_register(const struct grove_transport *transport);
/* The transport for url's scheme; GROVE_ENOTSUP naming the registered schemes. */
grove_err grove_transport_find(const char *url, const struct grove_transport **out);
/* Comma-separated registered schemes, for messages and --help. Borrowed. */
const char *grove_transport_schemes(void);

/* A dialed peer. */
struct grove_peer;
grove_err grove_peer_open(struct grove_peer **out, const char *url,
                          const struct grove_dial_options *opts);
const char *grove_peer_url(const struct grove_peer *peer);
grove_err grove_peer_pull(struct grove_peer *peer, const struct grove_pull_request *req,
                          struct grove_pull_response **out);
grove_err grove_peer_push(struct grove_peer *peer, const struct grove_push_request *req,
                          struct grove_push_response **out);
bool grove_peer_can_subscribe(const struct grove_peer *peer);
grove_err grove_peer_subscribe(struct grove_peer *peer, const struct grove_pull_request *req,
                               grove_batch_fn fn, void *user, const atomic_bool *stop);
void grove_peer_close(struct grove_peer *peer);

struct grove_listener;
grove_err grove_listener_open(struct grove_listener **out, const char *url,
                              struct grove_server *server, const struct grove_listen_options *opts);
void grove_listener_close(struct grove_listener *listener);

/* Splits "scheme://host:port/base" (host may be [v6]); port 0 when absent,
 * base "" when absent. For transports' url handling. */
struct grove_url {
    char scheme[32];
    char host[256];
    int port;
    char path[512];
};
grove_err grove_url_parse(const char *url, struct grove_url *out);

/* Constant-time comparison of a presented token with the expected one. */
bool grove_token_equal(const char *expected, const char *presented, size_t presented_len);

/* The in-process transport (inproc://name), always registered. Every call is
 * encoded to JSON and decoded again, so tests exercise the wire path. */
extern const struct grove_transport grove_transport_inproc;

#endif
