/* What the nng dialer and listener share: the wire framing and the URL
 * mapping.
 *
 * Request:  <op> '\n' <authorization> '\n' <JSON request>
 *           op 'P' pull, 'U' push, 'S' stream (long-poll; a pull request
 *           whose `since` is the subscriber's cursor); authorization is
 *           "Bearer <token>" or empty.
 * Reply:    'R' <JSON response>            success (pull/push response, or a
 *                                          stream batch with its stamps)
 *           'K'                            stream: nothing new within the
 *                                          keep-alive interval; ask again
 *           'E' <decimal grove_err> '\n' <message>   failure, exact code */
#ifndef GROVE_NNG_INTERNAL_H
#define GROVE_NNG_INTERNAL_H

#include <stddef.h>

#include "grove/sys/transport.h"

#define NNGT_OP_PULL   'P'
#define NNGT_OP_PUSH   'U'
#define NNGT_OP_STREAM 'S'

#define NNGT_REPLY_OK    'R'
#define NNGT_REPLY_IDLE  'K'
#define NNGT_REPLY_ERROR 'E'

/* The nng address for a grove URL ("nng+tcp://h:p" -> "tcp://h:p",
 * "nng+ipc:///p" -> "ipc:///p") into out; GROVE_EINVAL without a tcp port. */
grove_err grove_nng_url_address(const struct grove_url *url, char *out, size_t cap);

/* A grove_err for an nng error number, with `what` and nng's text. */
grove_err grove_nng_error_map(int rv, const char *what);

extern const struct grove_dialer_ops grove_nng_dialer_ops;
extern const struct grove_listener_ops grove_nng_listener_ops;

#endif
