/* Shared between the HTTP dialer (libcurl) and listener (libmicrohttpd). */
#ifndef GROVE_HTTP_INTERNAL_H
#define GROVE_HTTP_INTERNAL_H

#include <microhttpd.h>

#include "grove/json.h" /* SSE events carry JSON change arrays, as Grove's clients expect */
#include "grove/sys/transport.h"

/* Dialer ops (http_client.c, http_sse_client.c). */
grove_err grove_http_dialer_open(const struct grove_url *url, const struct grove_dial_options *opts,
                                 const struct grove_codec **codec, void **self_out);
grove_err grove_http_dialer_call(void *self, enum grove_call_kind kind,
                                 const struct grove_buf *request, struct grove_reply *reply);
grove_err grove_http_dialer_subscribe(void *self, const struct grove_pull_request *req,
                                      grove_batch_fn fn, void *user, const atomic_bool *stop);
void grove_http_dialer_close(void *self);

/* Listener ops (http_server.c). */
grove_err grove_http_listener_open(const struct grove_url *url, struct grove_server *server,
                                   const struct grove_listen_options *opts, void **self_out);
void grove_http_listener_close(void *self);

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

/* The "error" string of a {"error":"..."} body, unescaped into out (always
 * NUL-terminated); false when the body has no such member. */
bool grove_http_error_text(const char *body, size_t len, char *out, size_t cap);

#endif
