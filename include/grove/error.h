/* Error convention: every fallible function returns a grove_err (0 = OK) and
 * records a readable, thread-local message retrievable with grove_errmsg().
 * Names: grove_err_* take a code (grove_err_name, grove_err_retryable, and
 * the status mapping of grove/sys/transport.h); grove_error_* write this
 * thread's error record (grove/sys/error.h: for code that extends groved);
 * grove_errmsg, grove_errnative and grove_errretry read it. */
#ifndef GROVE_ERROR_H
#define GROVE_ERROR_H

#include <stdbool.h>

enum grove_err {
    GROVE_OK = 0,
    GROVE_EINVAL,     /* malformed or invalid input (HTTP 400, gRPC INVALID_ARGUMENT) */
    GROVE_EAUTH,      /* missing or wrong credentials (401, UNAUTHENTICATED) */
    GROVE_EFORBIDDEN, /* table or node not allowed (403, PERMISSION_DENIED) */
    GROVE_ENOTFOUND,  /* no such row, path or peer (404, NOT_FOUND) */
    GROVE_ETOOBIG,    /* request or message too large (413, RESOURCE_EXHAUSTED) */
    GROVE_ENOTSUP,    /* operation or scheme not supported (UNIMPLEMENTED) */
    GROVE_ENOMEM,     /* allocation failed */
    GROVE_ESTORE,     /* storage failure, worth retrying (500, INTERNAL) */
    GROVE_EUNAVAIL,   /* peer unreachable or shutting down (503, UNAVAILABLE) */
    GROVE_ETIMEOUT,   /* deadline passed (504, DEADLINE_EXCEEDED) */
    GROVE_ESHUTDOWN,  /* the object is closing; stop using it */
    GROVE_EPROTO,     /* the peer answered something we cannot understand */
    GROVE_ECONFLICT,  /* the request contradicts an earlier one (409, ALREADY_EXISTS) */
    /* too many requests from this client; retry after grove_errretry()
     * seconds (429 with Retry-After, RESOURCE_EXHAUSTED) */
    GROVE_ERATELIMIT,
};
typedef enum grove_err grove_err;

/* The message of the last error set on this thread ("" when none). Borrowed:
 * valid until the next grove_ call on this thread. */
const char *grove_errmsg(void);

/* A short stable name for a code ("EINVAL"). */
const char *grove_err_name(grove_err err);

/* True for errors that a retry may cure (network, storage, shutdown); false for
 * bad input, auth and permission errors, which the syncer never retries. */
bool grove_err_retryable(grove_err err);

/* The native status recorded with the last error on this thread (0: none):
 * the HTTP status or gRPC status code a transport received or answered, so
 * callers and tests can tell a 403 from a 401 without reading the text. */
int grove_errnative(void);

/* Seconds after which the request that failed with the last error may
 * succeed when retried (0: not known): a rate limit's Retry-After. */
unsigned grove_errretry(void);

#endif
