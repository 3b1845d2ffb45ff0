/* What the nng dialer and listener share: the wire framing and the URL
 * mapping.
 *
 * Request:  <op> '\n' <authorization> '\n' <JSON request>
 *           op 'P' pull, 'U' push; authorization is "Bearer <token>" or
 *           empty. 'S' (the long-poll stream of before) is answered ENOTSUP:
 *           streams come from the listener's pub socket (below).
 * Reply:    'R' <JSON response>            success (pull or push response)
 *           'K'                            (read, never sent: the old idle
 *                                          stream reply)
 *           'E' <decimal grove_err> '\n' <message>   failure, exact code */
#ifndef GROVE_NNG_INTERNAL_H
#define GROVE_NNG_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "grove/sys/transport.h"

#define NNGT_OP_PULL   'P'
#define NNGT_OP_PUSH   'U'
#define NNGT_OP_STREAM 'S' /* retired: ENOTSUP */

#define NNGT_REPLY_OK    'R'
#define NNGT_REPLY_IDLE  'K'
#define NNGT_REPLY_ERROR 'E'

/* A request frame split into its parts (pointers into the frame). */
struct grove_nng_request {
    char op;
    const char *auth; /* "Bearer <token>", auth_len bytes; auth_len 0: none */
    size_t auth_len;
    const char *json;
    size_t json_len;
};
/* GROVE_EINVAL for a frame that is not <op> '\n' <auth> '\n' <json>. */
grove_err grove_nng_request_parse(const char *frame, size_t len, struct grove_nng_request *out);
/* Replaces out with the error frame of err and grove_errmsg(). */
grove_err grove_nng_reply_error(grove_err err, struct grove_buf *out);
/* A reply frame: 'R' (*json, *json_len: its JSON), 'K' (*idle set), or 'E'
 * (returns the code it carries, with its message). GROVE_EPROTO otherwise. */
grove_err grove_nng_reply_parse(const char *frame, size_t len, const char **json, size_t *json_len,
                                bool *idle);

/* The nng address for a grove URL ("nng+tcp://h:p" -> "tcp://h:p",
 * "nng+tls+tcp://h:p" -> "tls+tcp://h:p", "nng+ipc:///p" -> "ipc:///p") into
 * out; GROVE_EINVAL without a tcp port. */
grove_err grove_nng_url_address(const struct grove_url *url, char *out, size_t cap);

/* Where a listener at url publishes its batches: the next tcp port
 * ("nng+tcp://h:p" -> "tcp://h:p+1", TLS alike), or the ipc path with ".pub"
 * after it. GROVE_EINVAL for port 65535. */
grove_err grove_nng_pub_address(const struct grove_url *url, char *out, size_t cap);

/* TLS (nng_tls.c): whether url is nng+tls+tcp, and the nng TLS
 * configurations made from the options https and grpcs take (caller frees
 * with nng_tls_config_free). */
typedef struct nng_tls_config nng_tls_config;
bool grove_nng_url_is_tls(const struct grove_url *url);
grove_err grove_nng_tls_server_config(const struct grove_listen_options *opts,
                                      nng_tls_config **out);
grove_err grove_nng_tls_client_config(const struct grove_url *url,
                                      const struct grove_dial_options *opts, nng_tls_config **out);

/* A grove_err for an nng error number, with `what` and nng's text. */
grove_err grove_nng_error_map(int rv, const char *what);

/* Publish frames (nng_pub.c): a kind byte and a JSON stream batch, whose
 * since and latest_hlc are the stamps around it. A heartbeat is a batch
 * with no changes and since == latest_hlc == the last stamp published. */
#define NNGT_PUB_BATCH        'B' /* the batch's changes, every declared table */
#define NNGT_PUB_NOTICE       'N' /* the stamps only (the listener is not open): pull them */
#define NNGT_PUB_SLICE_MS     200
#define NNGT_PUB_HEARTBEAT_MS 1000
/* A subscriber that hears nothing (not even a heartbeat) for this long
 * takes the publisher for gone. */
#define NNGT_SUB_SILENCE_MS 5000

struct grove_nng_publisher;
struct grove_server;
/* Publishes every batch committed to server from now on at address, with
 * tls_config when not NULL (borrowed; it outlives the publisher). */
grove_err grove_nng_publisher_open(struct grove_server *server, const char *address,
                                   nng_tls_config *tls_config, struct grove_guard *guard,
                                   struct grove_nng_publisher **out);
void grove_nng_publisher_close(struct grove_nng_publisher *p);

/* Test hooks of the subscriber (nng_sub.c): discard every Nth received
 * publish frame (0: none); the gaps it repaired with a pull. */
extern atomic_uint grove_nng_sub_drop_every;
extern atomic_uint grove_nng_sub_repairs;

extern const struct grove_dialer_ops grove_nng_dialer_ops;
extern const struct grove_listener_ops grove_nng_listener_ops;

#endif
