/* What the client's front (client.c) and its two back ends (client_http.c,
 * client_grpc.c) share: one ops table per protocol, and the building of the
 * answers they hand back. */
#ifndef GROVE_CLIENT_INTERNAL_H
#define GROVE_CLIENT_INTERNAL_H

#include <stdio.h>

#include "grove/client.h"
#include "grove/sys/transport.h" /* struct grove_url */

/* Every client call per protocol. The front has checked the arguments and
 * prefixes the node's URL to every error; an op sets the message and, for an
 * answer of the server, the native status. Outputs are set only on success. */
struct client_ops {
    /* Mandatory. url is borrowed for the call; *self_out is freed by close. */
    grove_err (*open)(const struct grove_url *url, const char *token, void **self_out);
    grove_err (*write)(void *self, const char *table, const char *pk,
                       const struct grove_field_write *fields, size_t field_count,
                       const char *idempotency_key, char **row, struct grove_hlc *hlc);
    grove_err (*delete_row)(void *self, const char *table, const char *pk, struct grove_hlc *hlc);
    grove_err (*get)(void *self, const char *table, const char *pk, char **row);
    grove_err (*list)(void *self, const struct grove_list_query *query,
                      struct grove_row_page **page);
    grove_err (*watch)(void *self, const struct grove_watch_options *opts, grove_client_event_fn fn,
                       void *user, const atomic_bool *stop);
    /* The admin API, NULL where the protocol has none (grove_client_status):
     * method and path ("/v1/status"), peer as ?peer= when set; a 200's body
     * goes to sink when set (*written its size), else into *answer with a
     * NUL after it. */
    grove_err (*admin)(void *self, const char *method, const char *path, const char *peer,
                       FILE *sink, struct grove_buf *answer, int64_t *written);
    void (*close)(void *self);
};

extern const struct client_ops grove_client_http_ops;
#ifdef GROVE_CLIENT_GRPC
extern const struct client_ops grove_client_grpc_ops;
#endif

/* How often a watch looks at *stop while nothing arrives. */
#define CLIENT_STOP_CHECK_MS 100
/* Unary calls: connecting, and the whole call. */
#define CLIENT_CONNECT_TIMEOUT_MS 5000
#define CLIENT_CALL_TIMEOUT_MS    60000

/* A row page grown one row at a time (client.c): its strings live in
 * the page's arena. */
struct client_page_builder {
    struct grove_row_page *page;
    size_t cap;
};
grove_err grove_client_page_start(struct client_page_builder *b);
/* Copies pk and row into the page. */
grove_err grove_client_page_add(struct client_page_builder *b, const char *pk, size_t pk_len,
                                const char *row, size_t row_len);
grove_err grove_client_page_next(struct client_page_builder *b, const char *next, size_t len);
/* Hands the page over (*out) or frees it on failure (err != 0). */
grove_err grove_client_page_finish(struct client_page_builder *b, grove_err err,
                                   struct grove_row_page **out);

/* A malloc'ed, NUL-terminated copy of n bytes. */
grove_err grove_client_strndup(const char *s, size_t n, char **out);

/* Decoders of the HTTP surface's answers (client_json.c); each fails with
 * GROVE_EPROTO and a located message. */
/* {"table","pk","row","hlc"}: *row (may be NULL) a malloc'ed copy of the
 * row, *hlc (may be NULL) the HLC (zero when absent). */
grove_err grove_client_json_row(const char *json, size_t len, char **row, struct grove_hlc *hlc);
/* {"table","fields","spec"}: *spec a malloc'ed copy of the declaration. */
grove_err grove_client_json_table_spec(const char *json, size_t len, char **spec);
/* {"rows":[{"pk","row"}...],"next":"PK"|null} */
grove_err grove_client_json_page(const char *json, size_t len, struct grove_row_page **out);
/* {"pk","row"|null,"deleted"} into *event, whose strings are slices of a
 * scratch message that *scratch gets (free it with grove_msg_free after the
 * event is used). The cursor is left as it was. */
grove_err grove_client_json_event(const char *json, size_t len, struct grove_row_event *event,
                                  void **scratch);

#endif
