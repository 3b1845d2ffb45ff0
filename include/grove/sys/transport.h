/* Writing a transport (docs/design.md §7). A transport moves bytes: the core
 * encodes each request with the transport's codec, hands the bytes to the
 * dialer's `call`, and decodes and checks the answer; on the serving side the
 * listener hands what it received with a request (the bearer token, the
 * client certificate) to grove_guard_admit and the bytes to grove_serve_as,
 * which decodes, checks, serves and encodes. A transport does what only it
 * can: move bytes, carry the bearer token, and map its native status to a grove_err (keeping the
 * native code: grove_error_set_native).
 *
 * The core never calls these ops directly: the grove_peer_* and
 * grove_listener_* wrappers (grove/transport.h) parse the URL once, fill every
 * default into the options, check the ops, answer GROVE_ENOTSUP for a missing
 * optional op, and prefix the URL to an error once. There is no version
 * field: transports are linked into the program that registers them, so the
 * ops table and the core always come from the same build. */
#ifndef GROVE_SYS_TRANSPORT_H
#define GROVE_SYS_TRANSPORT_H

#include "grove/codec.h"
#include "grove/log.h"
#include "grove/sys/cert_names.h"
#include "grove/sys/error.h"
#include "grove/transport.h"

/* A URL split once by the wrappers: "scheme://host:port/path#label". */
struct grove_url {
    const char *text; /* the whole URL as given; borrowed */
    char scheme[32];
    char host[256]; /* without [] around an IPv6 literal; "" for path schemes */
    int port;       /* 0 when absent */
    char path[512]; /* without trailing slashes; "" when absent */
    char label[64]; /* after '#': ignored by transports, keys fault-shim links */
};

/* Splits url strictly: no whitespace or control characters, no query string,
 * no "user:password@". The host may be empty here; the wrappers refuse an
 * empty one unless the transport lists the scheme in path_schemes. */
grove_err grove_url_parse(const char *url, struct grove_url *out);

enum grove_call_kind { GROVE_CALL_PULL, GROVE_CALL_PUSH };

/* The bytes of an answer a dialer received. The core decodes them and then
 * calls release(owner) once (release may be NULL: nothing to free). */
struct grove_reply {
    const char *data;
    size_t len;
    void (*release)(void *owner);
    void *owner;
};

struct grove_dialer_ops {
    /* Prepares a connection to url (connecting may be lazy). url and opts
     * are borrowed for the call, with every default filled: copy what is
     * kept. *codec holds the transport's codec on entry; a transport that
     * wraps another replaces it with the codec of what it wraps. *self_out
     * is freed by close. Mandatory. */
    grove_err (*open)(const struct grove_url *url, const struct grove_dial_options *opts,
                      const struct grove_codec **codec, void **self_out);
    /* One exchange: sends `request` (encoded with the codec) as a call of
     * `kind` and, on success, fills *reply with the answer's bytes. request
     * is borrowed for the call. A failure sets the message and the native
     * status; *reply is then left empty. Calls on one self may run
     * concurrently. Mandatory. */
    grove_err (*call)(void *self, enum grove_call_kind kind, const struct grove_buf *request,
                      struct grove_reply *reply);
    /* Optional. Streams batches after req->since to fn until *stop becomes
     * true (checked at least every 200 ms; returns GROVE_OK) or the stream
     * breaks (returns the error). Each received frame goes through
     * grove_stream_deliver, so decoding stays in the core. */
    grove_err (*subscribe)(void *self, const struct grove_pull_request *req, grove_batch_fn fn,
                           void *user, const atomic_bool *stop);
    /* Optional. While `on`, every call in flight on self ends within about a
     * second with GROVE_ESHUTDOWN and new calls fail at once; `on` false lets
     * calls run again. A stopping syncer sets it, so a peer that accepted and
     * never answers cannot hold shutdown for the call's timeout. May run
     * concurrently with calls. NULL: calls end at their timeout. */
    void (*cancel)(void *self, bool on);
    /* Frees self; no call on it is in flight. Mandatory. */
    void (*close)(void *self);
};

struct grove_listener_ops {
    /* Starts serving `server` at url in background threads. url and opts are
     * borrowed for the call, with every default filled; `server` outlives
     * the listener. Mandatory. */
    grove_err (*open)(const struct grove_url *url, struct grove_server *server,
                      const struct grove_listen_options *opts, void **self_out);
    /* Stops accepting, ends streams and in-flight calls, and frees self;
     * nothing of the listener runs after it returns. Mandatory. */
    void (*close)(void *self);
};

struct grove_transport {
    const char *name;                /* "http" */
    const char *const *schemes;      /* NULL-terminated: {"http", "https", NULL} */
    const char *const *path_schemes; /* those whose address is a path (no host); may be NULL */
    const struct grove_codec *codec; /* what its dialer and listener speak */
    const struct grove_dialer_ops *dialer;     /* mandatory */
    const struct grove_listener_ops *listener; /* NULL: this transport cannot serve */
};

/* The registered transports, for a transport that wraps the others: index
 * 0..count-1, in registration order. Borrowed. */
size_t grove_transport_count(void);
const struct grove_transport *grove_transport_at(size_t index);

/* For a wrapping transport: the codec a peer speaks and one raw exchange. */
const struct grove_codec *grove_peer_codec(const struct grove_peer *peer);
grove_err grove_peer_call(struct grove_peer *peer, enum grove_call_kind kind,
                          const struct grove_buf *request, struct grove_reply *reply);
/* Releases a reply's bytes (a no-op for an empty reply) and empties it. */
void grove_reply_release(struct grove_reply *reply);

#define GROVE_PEER_ADDR_MAX 64 /* bytes of a client's address (grove_peer_addr_format) */

/* ---- who is asking (grove/access.h, docs/operations.md "Identities") ---- */

/* What a transport received with a request, borrowed for grove_guard_admit:
 * the transport authenticates nothing itself. */
struct grove_credentials {
    const char *op;        /* "pull", "push", "stream", "data", "admin", "metrics": for the log */
    const char *peer_addr; /* as grove_peer_addr_format gives it; NULL: unknown */
    /* The Authorization header or metadata value, authorization_len bytes;
     * NULL: none. */
    const char *authorization;
    size_t authorization_len;
    /* TLS: the verified client certificate's names (grove/sys/cert_names.h);
     * NULL or none without one. */
    const struct grove_cert_names *cert;
};

enum grove_need {
    GROVE_NEED_SYNC,  /* pull, push, stream, the Data API: scopes are checked later */
    GROVE_NEED_ADMIN, /* the admin API and /metrics */
};

/* Who a request comes from, for the whole request (a stream's whole life).
 * Filled by grove_guard_admit; grove_caller_release drops its reference. */
struct grove_caller {
    struct grove_access *access;           /* the table it was admitted by (a reference) */
    const struct grove_identity *identity; /* in access; NULL: anonymous on an open table */
    char peer_addr[GROVE_PEER_ADDR_MAX];   /* "" unknown */
};

/* A listener's guard: grove_listener_open hands it to the transport in
 * grove_listen_options.guard. Thread-safe. */
struct grove_guard;

/* Authenticates cred against the listener's current table and checks need:
 * GROVE_EAUTH for a missing or unknown credential, GROVE_EFORBIDDEN for an
 * identity without the admin flag on an admin call. Refusals are logged here
 * (rate-limited, with the identity's name, never a secret). On success the
 * caller must be released; on failure *out is empty. A NULL guard admits
 * everyone as the node itself. */
grove_err grove_guard_admit(struct grove_guard *guard, const struct grove_credentials *cred,
                            enum grove_need need, struct grove_caller *out);
/* Whether the guard's current table admits a request without credentials
 * as anyone (no identities and no token): what a transport that sends data
 * to unauthenticated subscribers (nng's pub socket) asks before each send.
 * A NULL guard is open. */
bool grove_guard_open(struct grove_guard *guard);
/* Another hold on the same caller (a stream that outlives its request). */
void grove_caller_copy(struct grove_caller *out, const struct grove_caller *in);
void grove_caller_release(struct grove_caller *caller);

/* ---- the serving side of the exchange ---- */

/* Decodes a request of `kind` with codec, serves it and encodes the answer
 * into out (appended). On failure out is left as it was and grove_errmsg()
 * says why; the transport maps the code to its status. */
grove_err grove_serve(struct grove_server *server, const struct grove_codec *codec,
                      enum grove_call_kind kind, const char *data, size_t len,
                      struct grove_buf *out);
/* grove_serve for a request from peer_addr, the client's address in the one
 * form every transport gives (grove_peer_addr_format; NULL: unknown), which
 * the server's hooks are told (grove/hook.h). Borrowed for the call. */
grove_err grove_serve_from(struct grove_server *server, const char *peer_addr,
                           const struct grove_codec *codec, enum grove_call_kind kind,
                           const char *data, size_t len, struct grove_buf *out);
/* grove_serve for an admitted caller (grove_guard_admit): its identity's
 * scopes and node are enforced, and its address is the one hooks see. */
grove_err grove_serve_as(struct grove_server *server, const struct grove_caller *caller,
                         const struct grove_codec *codec, enum grove_call_kind kind,
                         const char *data, size_t len, struct grove_buf *out);
/* A pull for the server's read threads (docs/design.md, "Reads beside
 * writes"), for a transport whose thread must not wait for it (HTTP's pool
 * threads each serve many connections): made, then submitted, done(user,
 * err) runs on a read thread once out holds the encoded answer (as
 * grove_serve_as: err with grove_errmsg() on that thread), and the job is
 * gone. caller, data and out must live until then. Making one fails with
 * GROVE_ENOTSUP when the server reads inline (serve with grove_serve_as);
 * submitting never fails. grove_serve_as itself serves pulls on the read
 * threads too, waiting for them. */
typedef void (*grove_served_fn)(void *user, grove_err err);
struct grove_serve_job;
grove_err grove_serve_pull_new(struct grove_serve_job **job, struct grove_server *server,
                               const struct grove_caller *caller, const struct grove_codec *codec,
                               const char *data, size_t len, struct grove_buf *out,
                               grove_served_fn done, void *user);
void grove_serve_pull_submit(struct grove_serve_job *job);
/* Opens a stream for an encoded pull request. */
grove_err grove_serve_stream_open(struct grove_server *server, const struct grove_codec *codec,
                                  const char *data, size_t len, struct grove_server_stream **out);
/* The same for an admitted caller; the stream holds its own copy of it. */
grove_err grove_serve_stream_open_as(struct grove_server *server, const struct grove_caller *caller,
                                     const struct grove_codec *codec, const char *data, size_t len,
                                     struct grove_server_stream **out);
/* Waits up to timeout_ms for the next batch and encodes it as a stream batch
 * into out (appended): GROVE_ETIMEOUT when nothing came, GROVE_ESHUTDOWN when
 * the server shuts down. For transports with a thread per stream. */
grove_err grove_serve_stream_next(struct grove_server_stream *stream,
                                  const struct grove_codec *codec, int timeout_ms,
                                  struct grove_buf *out);
/* The same without waiting (grove_server_stream_poll): GROVE_ETIMEOUT at
 * once when nothing is committed after the stream's cursor. Streams at the
 * same place share one read and one encoding of each commit. */
grove_err grove_serve_stream_poll(struct grove_server_stream *stream,
                                  const struct grove_codec *codec, struct grove_buf *out);

/* ---- the dialing side of a stream ---- */

/* Decodes one received stream frame with codec, checks it, and hands the
 * batch to fn. A frame that does not decode is GROVE_EPROTO. */
grove_err grove_stream_deliver(const struct grove_codec *codec, const char *data, size_t len,
                               grove_batch_fn fn, void *user);

/* ---- what every transport needs the same way ---- */

/* The one mapping between grove_err and the statuses of HTTP and gRPC
 * (docs/protocol.md §7). */
int grove_err_to_http(grove_err err);
grove_err grove_err_from_http(int status);
int grove_err_to_grpc(grove_err err);
grove_err grove_err_from_grpc(int code);
/* The gRPC status code's name ("PERMISSION_DENIED"). */
const char *grove_grpc_status_name(int code);

/* "Bearer <token>": the value of an Authorization header or metadata entry.
 * The caller frees it; NULL when out of memory. */
char *grove_bearer_value(const char *token);
/* GROVE_OK when no token is expected or `value` (an Authorization header,
 * len bytes, NULL when absent) is "Bearer <expected>"; else GROVE_EAUTH with
 * one message for every transport. Compares in constant time. */
grove_err grove_bearer_check(const char *expected, const char *value, size_t len);

/* Constant-time comparison of a presented token with the expected one. */
bool grove_token_equal(const char *expected, const char *presented, size_t presented_len);

/* A client's address as every transport hands it to grove_serve_from:
 * "127.0.0.1:40112" or "[::1]:40112", from an IPv4 (addr_len 4) or IPv6
 * (16) address in network byte order and a port. Another addr_len gives "". */
void grove_peer_addr_format(char *out, size_t size, const void *addr, size_t addr_len,
                            unsigned port);
/* The same form from a gRPC peer string ("ipv4:127.0.0.1:40112",
 * "ipv6:[::1]:40112", percent-encoded or not); other schemes are kept whole. */
void grove_peer_addr_from_uri(char *out, size_t size, const char *uri);

/* Reads a whole file (a PEM certificate or key) into a NUL-terminated
 * buffer the caller frees. GROVE_EINVAL naming `what` and the path. */
grove_err grove_file_read(const char *path, const char *what, char **out, size_t *len);

#endif
