/* Shared between the HTTP dialer (libcurl) and listener (libmicrohttpd). */
#ifndef GROVE_HTTP_INTERNAL_H
#define GROVE_HTTP_INTERNAL_H

#include "grove/transport.h"

#define HTTP_DEFAULT_MAX_BODY     ((size_t)64 << 20)
#define HTTP_DEFAULT_KEEPALIVE_MS 15000

/* Dialer ops (http_client.c, http_sse_client.c). */
grove_err http_dialer_open(const char *url, const struct grove_dial_options *opts, void **self_out);
grove_err http_dialer_pull(void *self, const struct grove_pull_request *req,
                           struct grove_pull_response **out);
grove_err http_dialer_push(void *self, const struct grove_push_request *req,
                           struct grove_push_response **out);
grove_err http_dialer_subscribe(void *self, const struct grove_pull_request *req, grove_batch_fn fn,
                                void *user, const atomic_bool *stop);
void http_dialer_close(void *self);

/* Listener ops (http_server.c). */
grove_err http_listener_open(const char *url, struct grove_server *server,
                             const struct grove_listen_options *opts, void **self_out);
void http_listener_close(void *self);

/* Stream event ids carry the batch's latest_hlc as "<ts>.<c>.<node>", so a
 * client can resume from the last id it saw. */
grove_err http_hlc_format(const struct grove_hlc *hlc, struct grove_buf *out);
grove_err http_hlc_parse(const char *text, size_t len, struct grove_hlc *out);

/* The "error" string of a {"error":"..."} body, unescaped into out (always
 * NUL-terminated); false when the body has no such member. */
bool http_error_text(const char *body, size_t len, char *out, size_t cap);

#endif
