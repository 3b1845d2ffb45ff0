/* Shared between the HTTP dialer (libcurl) and listener (libmicrohttpd). */
#ifndef GROVE_HTTP_INTERNAL_H
#define GROVE_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>

#include "grove/json.h" /* SSE events carry JSON change arrays, as Grove's clients expect */
#include "grove/metrics.h"
#include "grove/sys/cert_names.h"
#include "grove/sys/transport.h"

/* Dialer ops (http_client.c, http_sse_client.c). */
grove_err grove_http_dialer_open(const struct grove_url *url, const struct grove_dial_options *opts,
                                 const struct grove_codec **codec, void **self_out);
grove_err grove_http_dialer_call(void *self, enum grove_call_kind kind,
                                 const struct grove_buf *request, struct grove_reply *reply);
grove_err grove_http_dialer_subscribe(void *self, const struct grove_pull_request *req,
                                      grove_batch_fn fn, void *user, const atomic_bool *stop);
void grove_http_dialer_cancel(void *self, bool on);
void grove_http_dialer_close(void *self);

/* Listener ops (http_server.c). */
grove_err grove_http_listener_open(const struct grove_url *url, struct grove_server *server,
                                   const struct grove_listen_options *opts, void **self_out);
void grove_http_listener_close(void *self);

/* A listener (http_server.c), as its request handlers see it. */
struct http_listener {
    struct MHD_Daemon *daemon;
    struct grove_server *server;
    char base[512]; /* path prefix of the sync endpoints, no trailing slash ("" or "/sync") */
    struct grove_guard *guard; /* the core's: who may ask (http_auth.c) */
    bool tls;
    size_t max_body;
    int keepalive_ms;
    int fd;
    atomic_bool closing;
    struct grove_http_deadlines *deadlines;
    struct grove_http_pump *pump;   /* delivers to the streams (http_pump.c) */
    struct grove_http_admit *admit; /* accepts: the caps, plain HTTP's first heads */
    struct grove_http_relay *relay; /* every later head, and TLS */
    char *cert_pem;
    char *key_pem;
    char *ca_pem;
    /* Origins whose pages may call this listener (CORS); none: CORS off. */
    char **cors_origins;
    size_t cors_origin_count;
    struct grove_admin *admin; /* the admin API (http_admin.c); NULL: none */
    bool admin_only;
    /* Pulls on the read threads, their connections suspended (http_pull.c). */
    pthread_mutex_t pulls_lock;
    pthread_cond_t pulls_done;
    unsigned pulls_in_flight;
};

/* Pulls on the server's read threads (http_pull.c). */
struct http_pull;
void grove_http_pulls_init(struct http_listener *l);
void grove_http_pulls_destroy(struct http_listener *l);
/* Returns once no pull is in flight; call it with `closing` set. */
void grove_http_pulls_wait(struct http_listener *l);
/* Hands the pull in body to the read threads and suspends conn; *out is the
 * call's until grove_http_pull_free. false: not handed on (the server reads
 * inline, the listener is closing, out of memory): serve it here. */
bool grove_http_pull_start(struct http_listener *l, struct MHD_Connection *conn,
                           const struct grove_caller *caller, const struct grove_buf *body,
                           struct http_pull **out);
/* Once MHD calls the handler again: the answer, queued. */
enum MHD_Result grove_http_pull_answer(struct http_listener *l, struct MHD_Connection *conn,
                                       struct http_pull *pull);
void grove_http_pull_free(struct http_pull *pull);

/* Answers (http_server.c), every one through grove_http_queue_response,
 * which adds the listener's CORS headers and frees resp: a JSON body (MHD
 * takes its bytes, *body is left empty), or {"error":"..."} with the status
 * (and an Allow header when allow is set), or a grove_err as its status with
 * grove_errmsg(). */
enum MHD_Result grove_http_queue_response(const struct http_listener *l,
                                          struct MHD_Connection *conn, int status,
                                          struct MHD_Response *resp);
enum MHD_Result grove_http_queue_json(const struct http_listener *l, struct MHD_Connection *conn,
                                      int status, struct grove_buf *body);
enum MHD_Result grove_http_queue_error(const struct http_listener *l, struct MHD_Connection *conn,
                                       int status, const char *message, const char *allow);
/* A refusal of the listener's own (http_relay.c): {"error": message}, and the
 * connection closed after it. */
enum MHD_Result grove_http_queue_refusal(const struct http_listener *l, struct MHD_Connection *conn,
                                         int status, const char *message);
enum MHD_Result grove_http_queue_grove_error(const struct http_listener *l,
                                             struct MHD_Connection *conn, grove_err err);
/* A CORS preflight (OPTIONS with Access-Control-Request-Method), answered
 * before any token check (http_reply.c). */
enum MHD_Result grove_http_preflight(const struct http_listener *l, struct MHD_Connection *conn);
/* The client's address ("127.0.0.1:40112", "[::1]:40112"; "" unknown). */
void grove_http_peer_addr(struct MHD_Connection *conn, char *out, size_t size);
/* The same for an address (grove_peer_addr_format's form; "" unless IPv4 or IPv6). */
void grove_http_sockaddr_text(const struct sockaddr *sa, char *out, size_t size);
/* GET {base}/stream for an admitted caller (http_sync_stream.c). */
enum MHD_Result grove_http_sync_stream_start(struct http_listener *l, struct MHD_Connection *conn,
                                             const struct grove_caller *caller);

/* GET /metrics (http_metrics.c): the node's metrics, behind the token. */
enum MHD_Result grove_http_metrics_serve(const struct http_listener *l, struct MHD_Connection *conn,
                                         const char *method);
/* Counts an answered request (at its completion, with the status it got):
 * op is its sync route's op, or -1 to tell it by its target (/metrics, the
 * Data API; others are not counted). Streams and watches are not timed. */
void grove_http_metrics_count(const struct http_listener *l, struct MHD_Connection *conn,
                              const char *method, const char *target, int op, int64_t started_us);
/* An SSE response opened (+1) or ended (-1). */
void grove_http_metrics_subscribers_add(const struct http_listener *l, int delta);

/* A server-sent event stream's source: poll appends whole events to out
 * without waiting (GROVE_ETIMEOUT when none is ready yet, GROVE_ESHUTDOWN
 * when the stream is over); close frees self. */
struct grove_http_sse_source {
    grove_err (*poll)(void *self, struct grove_buf *out);
    void (*close)(void *self);
    void *self;
};
/* The stream pump (http_pump.c): a few threads per listener that deliver
 * each commit, and each keep-alive when due (due_ms, monotonic), to the
 * suspended SSE connections. A content reader with nothing to send takes
 * the commit count before it polls its source and parks with it: park
 * suspends the connection and returns true, or returns false (not
 * suspended) when a commit came since or the pump is stopping. The pump
 * calls deliver on a parked stream, outside the lock: true keeps it parked
 * (with a new due_ms), false resumes it. forget takes a freed stream off
 * the list; stop resumes every parked stream and refuses new parks (before
 * MHD_stop_daemon, which must find none suspended). */
struct grove_http_parked {
    struct grove_http_parked *prev, *next; /* NULL while not parked */
    struct MHD_Connection *conn;
    int64_t due_ms;
    /* scratch: the calling thread's, for the events on their way */
    bool (*deliver)(struct grove_http_parked *e, struct grove_buf *scratch);
};
struct grove_http_pump;
grove_err grove_http_pump_start(struct grove_http_pump **out, struct grove_store *store);
uint64_t grove_http_pump_commits(struct grove_http_pump *p);
bool grove_http_pump_park(struct grove_http_pump *p, struct grove_http_parked *e, uint64_t commits,
                          int64_t due_ms);
void grove_http_pump_forget(struct grove_http_pump *p, struct grove_http_parked *e);
void grove_http_pump_stop(struct grove_http_pump *p);
void grove_http_pump_free(struct grove_http_pump *p);

/* Answers with a text/event-stream fed by src: `first` (a comment or whole
 * events) at once, so the client knows the stream is live, then src's
 * events, with a keep-alive comment after keepalive_ms of silence, until src
 * ends, the client goes or the listener closes. The response owns src from
 * the call on, also when it fails. */
enum MHD_Result grove_http_sse_respond(struct http_listener *l, struct MHD_Connection *conn,
                                       const struct grove_http_sse_source *src, const char *first,
                                       size_t first_len);
/* Appends "data: ..." lines holding data (a value's raw newlines split it
 * over several lines, which SSE joins back with LF). */
grove_err grove_http_sse_append_data(struct grove_buf *out, const char *data, size_t len);

/* The admin API (http_admin.c, docs/operations.md): /v1/status, /v1/sync
 * and /v1/backup, answered from the request head (none takes a body) with
 * the admin token checked there. */
/* Admits a request (http_auth.c): hands the core its Authorization header,
 * its address and, on https, the verified client certificate's names
 * (grove_guard_admit). On success *caller is released by the caller. */
grove_err grove_http_authorize(const struct http_listener *l, struct MHD_Connection *conn,
                               const char *op, enum grove_need need, struct grove_caller *caller);
bool grove_http_admin_is_path(const struct http_listener *l, const char *target);
enum MHD_Result grove_http_admin_serve(struct http_listener *l, struct MHD_Connection *conn,
                                       const char *method, const char *target);

/* The Data API under /v1/ (http_data.c, docs/data-api.md "HTTP"), dispatched
 * by the listener: route parses the raw request target (path segments and
 * query values are percent-decoded here) and refuses an unknown path (404),
 * a wrong method (405 with Allow) or a bad escape (400), queuing the answer
 * itself with *out NULL; the listener then checks the token, and serve
 * answers the request (with its body, when takes_body). */
enum http_data_op {
    DATA_TABLE,
    DATA_GET_ROW,
    DATA_PATCH_ROW,
    DATA_DELETE_ROW,
    DATA_LIST,
    DATA_WRITE_MANY,
    DATA_WATCH,
};
struct http_data_request {
    enum http_data_op op;
    char *table;
    char *pk;                          /* the row ops only */
    char *query;                       /* after '?', not decoded; NULL when none */
    const struct grove_caller *caller; /* who asks: set by the listener once admitted */
};
bool grove_http_data_is_path(const char *target);
enum MHD_Result grove_http_data_route(const struct http_listener *l, struct MHD_Connection *conn,
                                      const char *method, const char *target,
                                      struct http_data_request **out);
bool grove_http_data_takes_body(const struct http_data_request *req);
enum MHD_Result grove_http_data_serve(struct http_listener *l, struct MHD_Connection *conn,
                                      struct http_data_request *req, const char *body, size_t len);
void grove_http_data_free(struct http_data_request *req);
/* What route does below libmicrohttpd, without a connection (fuzz/ calls
 * them too): parse_target fills a zeroed *req from a target grove_http_data_is_path
 * took, or fails with the status to answer (404, 405 with *allow, 400), req
 * then freed by the caller; query sets values[i] (malloc'ed, NULL when absent)
 * to the percent-decoded value of names[i], refusing one given twice. */
grove_err grove_http_data_parse_target(const char *method, const char *target,
                                       struct http_data_request *req, const char **allow,
                                       int *status);
grove_err grove_http_data_query(const char *query, const char *const *names, char **values,
                                size_t count);

/* Request deadlines (http_deadline.c): a reaper that closes connections whose
 * request head or body is late. Hooked into MHD as its notify-connection
 * callback; enter when a request's head is in (stream: exempt from now on),
 * leave when the request completes. */
struct grove_http_deadlines;
grove_err grove_http_deadlines_start(struct grove_http_deadlines **out, int head_ms, int body_ms);
void grove_http_deadlines_stop(struct grove_http_deadlines *d);
void grove_http_deadlines_on_connection(void *cls, struct MHD_Connection *conn,
                                        void **socket_context,
                                        enum MHD_ConnectionNotificationCode code);
void grove_http_deadlines_enter(struct grove_http_deadlines *d, struct MHD_Connection *conn,
                                bool stream);
void grove_http_deadlines_leave(struct grove_http_deadlines *d, struct MHD_Connection *conn);

/* A request head as it arrives (http_admit.c): zero-initialise, append
 * bytes to buf (len, cap) and scan after each append. Returns -1 while the
 * head is incomplete, 0 when it is whole and libmicrohttpd will parse it,
 * or the status to refuse it with (400, 413, 414, 431, 501, 505), with a
 * message in `message`. A head is over `limit` when its bytes (through its
 * blank line) and GROVE_HTTP_FIELD_COST for each header line and query
 * parameter pass it: 414 in its request line, 431 after. libmicrohttpd keeps
 * each field in its connection's memory as well (about 64 bytes: 530 header
 * lines of 5 bytes fill its 36 KiB as 32 KiB of bytes do). The verdict does
 * not depend on how the bytes arrive (fuzz/fuzz_http_head.c). Admission
 * scans a connection's first head, the relay each later one. */
#define GROVE_HTTP_HEAD_MAX   ((size_t)32 << 10)
#define GROVE_HTTP_FIELD_COST 64
struct grove_http_head {
    char *buf;
    size_t len, cap;
    size_t parsed; /* the lines before this offset are checked */
    size_t fields; /* header lines and query parameters so far */
    bool have_request_line;
    enum { HEAD_CONTINUES_NONE, HEAD_CONTINUES_LENGTH, HEAD_CONTINUES_OTHER } continues;
    size_t method_off, method_len, target_off, target_len; /* once the request line is in */
    bool has_cl, has_te;
    size_t cl_off, cl_len, te_off, te_len; /* the values, in buf */
    char message[192];
};
int grove_http_head_scan(struct grove_http_head *h, size_t limit);

/* Whether a whole head asks for a stream: GET {base}/stream or GET
 * /v1/tables/{table}/watch, as sent. */
bool grove_http_head_wants_stream(const struct grove_http_head *h, const char *base);

/* A connection's requests as they arrive, for the relay (http_framing.c):
 * zero-initialise; read the client's bytes into grove_http_framing_space
 * (then add their count to in_len), and run moves what is checked to out
 * until out holds max bytes: each head as it came, once whole
 * (grove_http_head_scan), a Content-Length body as it comes, a chunked body
 * in plain chunks (extensions and trailers dropped). A fault sets `refused`
 * (the status) and `message`, and nothing after it is moved: out then ends
 * at a request's end, or, when refused_in_body, inside a chunked body at a
 * chunk's end. GROVE_ENOMEM: out of memory. */
struct grove_http_framing {
    char *base; /* in_cap bytes, from which in_len bytes at `in` are not yet moved */
    char *in;
    size_t in_len, in_cap;
    struct grove_http_head head; /* its buf is `in` */
    enum {
        FRAMING_HEAD,       /* a request head */
        FRAMING_BODY,       /* `left` bytes of a Content-Length body */
        FRAMING_CHUNK_SIZE, /* a chunk-size line */
        FRAMING_CHUNK_DATA, /* `left` bytes of a chunk */
        FRAMING_CHUNK_END,  /* the line end after a chunk's data */
        FRAMING_TRAILER,    /* the trailer, up to its blank line */
        FRAMING_REFUSED,    /* what comes is dropped */
    } state;
    uint64_t left;
    size_t trailer_len;
    int refused;
    bool refused_in_body;
    char message[192];
};
char *grove_http_framing_space(struct grove_http_framing *f, size_t *room);
grove_err grove_http_framing_run(struct grove_http_framing *f, struct grove_buf *out, size_t max);
void grove_http_framing_free(struct grove_http_framing *f);

/* The relay (http_relay.c): a thread that stands between libmicrohttpd and
 * the connections it must not read directly, over a socketpair each. It
 * checks every request head and chunked body's framing, and terminates TLS
 * when started with a certificate and key (PEM; ca_pem: client certificates
 * are asked for and verified). A refused request reaches the handler as an
 * X-Grove-Refusal header or trailer, answered in order (http_server.c). */
struct grove_http_relay;
grove_err grove_http_relay_start(struct grove_http_relay **out, struct MHD_Daemon *daemon,
                                 const char *cert_pem, const char *key_pem, const char *ca_pem);
/* Takes fd (accepted) and hands libmicrohttpd its end of the pair, with the
 * client's address; false (errno set): not taken, fd is still the caller's.
 * A relayed connection holds three descriptors. */
bool grove_http_relay_add(struct grove_http_relay *r, int fd, const struct sockaddr *addr,
                          socklen_t addr_len);
/* An X-Grove-Refusal value the relay wrote: its status and message. */
bool grove_http_relay_refusal(const struct grove_http_relay *r, const char *value, int *status,
                              const char **message);
/* The verified client certificate's names of the relayed connection whose
 * libmicrohttpd end is mhd_fd; none without one. */
void grove_http_relay_cert_names(struct grove_http_relay *r, int mhd_fd,
                                 struct grove_cert_names *out);
/* Whether libmicrohttpd reads conn through the relay. */
bool grove_http_conn_is_relayed(struct MHD_Connection *conn);
/* stop closes every relayed connection (after MHD has stopped); free frees r. */
void grove_http_relay_stop(struct grove_http_relay *r);
void grove_http_relay_free(struct grove_http_relay *r);

/* A refusal's message, formatted (vsnprintf) and kept printable ASCII: the
 * bytes it quotes may be anything (http_admit.c). */
void grove_http_message_vformat(char *out, size_t cap, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* The value of a hexadecimal digit, or -1 (http_framing.c). */
int grove_http_hex_digit(char ch);
/* Threads for work that spreads over cores (the relay's lanes, the stream
 * pump): one per online core, 1 to max (http_server.c). */
unsigned grove_http_threads_per_core(unsigned max);

/* Counts and logs a refusal of the listener's own (a head or a body's
 * framing), as the core's are. */
void grove_http_count_refusal(struct grove_metrics *metrics, int status, const char *peer,
                              const char *message);

/* Admission of HTTP connections (http_admit.c): a thread accepts on
 * listen_fd and holds the caps, in total and per client address, from accept
 * until release (MHD's NOTIFY_CLOSED). On plain HTTP it checks each
 * connection's first head (grove_http_head_scan) and answers a bad one with
 * {"error":"..."}; a stream's connection goes to daemon directly
 * (MHD_add_connection), every other to the relay, which checks the heads
 * after the first; a head not in within head_ms is closed. Over TLS
 * (`tls`) every connection goes to the relay at once. A refusal is counted
 * in metrics and logged (rate-limited, grove_log_refused). stop ends the
 * thread and closes the connections not handed over; free (after MHD has
 * stopped) frees a. */
struct grove_http_admit;
grove_err grove_http_admit_start(struct grove_http_admit **out, int listen_fd,
                                 struct MHD_Daemon *daemon, struct grove_http_relay *relay,
                                 bool tls, const char *base, struct grove_metrics *metrics,
                                 unsigned max_total, unsigned max_per_address, int head_ms);
void grove_http_admit_release(struct grove_http_admit *a, const struct sockaddr *addr);
void grove_http_admit_stop(struct grove_http_admit *a);
void grove_http_admit_free(struct grove_http_admit *a);

/* The SSE parser (http_sse_parse.c). Zero-initialise with on_event and user
 * set; feed it the stream's bytes in any pieces. on_event runs at each blank
 * line with the event's fields (event "" when none was named); its error
 * ends the feed. */
struct grove_http_sse {
    grove_err (*on_event)(void *user, const struct grove_http_sse *event);
    void *user;
    char event[32];
    struct grove_buf data; /* the data lines, joined by LF */
    bool has_data;
    bool has_id;
    struct grove_hlc id;
    /* Set by the user: ids are opaque cursors, kept as text in id_text
     * (at most 63 bytes) instead of being read as HLCs. */
    bool id_opaque;
    char id_text[64];
    struct grove_buf line; /* the current, incomplete line */
};
grove_err grove_http_sse_feed(struct grove_http_sse *p, const char *bytes, size_t n);
void grove_http_sse_free(struct grove_http_sse *p);

/* Stream event ids carry the batch's latest_hlc as "<ts>.<c>.<node>", so a
 * client can resume from the last id it saw. */
grove_err grove_http_hlc_format(const struct grove_hlc *hlc, struct grove_buf *out);
grove_err grove_http_hlc_parse(const char *text, size_t len, struct grove_hlc *out);
/* The sync stream's start (http_sync_stream.c) from its query values since_ts,
 * since_count and since_node as libmicrohttpd decoded them, or from a
 * Last-Event-ID header when none is given (each NULL when absent). */
grove_err grove_http_sse_since_parse(const char *ts, const char *c, const char *node,
                                     const char *last, struct grove_hlc *since);

/* The stream's pull filter from its query: pk_filter and field_filter once
 * per entry, pk_prefix (http_sse_filter.c); checked as a decoded pull
 * request's filter is. */
grove_err grove_http_sse_filter_parse(struct MHD_Connection *conn, struct grove_pull_request *req);

/* The "error" string of a {"error":"..."} body, unescaped into out (always
 * NUL-terminated); false when the body has no such member. */
bool grove_http_error_text(const char *body, size_t len, char *out, size_t cap);

#endif
