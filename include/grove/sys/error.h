/* Setting errors, for code that extends groved (the core, transports,
 * hooks): the writing half of grove/error.h's thread-local record. */
#ifndef GROVE_SYS_ERROR_H
#define GROVE_SYS_ERROR_H

#include "grove/error.h"

/* Records err with a printf-style message for grove_errmsg() and returns err,
 * so callers write `return grove_error_set(GROVE_EINVAL, "...", ...)`. */
grove_err grove_error_set(grove_err err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* grove_error_set for an error that came with a native status: the HTTP
 * status or gRPC status code a transport received or answered. */
grove_err grove_error_set_native(grove_err err, int native, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the current message with context ("peer http://b: " + message). */
grove_err grove_error_prefix(grove_err err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Records with the current error the seconds after which a retry may
 * succeed (grove_errretry); any grove_error_set clears them. Returns err. */
grove_err grove_error_set_retry(grove_err err, unsigned seconds);

void grove_error_clear(void);

/* This thread's error record, whole, to carry it to another thread (a call
 * served on the read threads, core/read_pool.h). */
struct grove_error_record {
    grove_err err;
    int native;
    unsigned retry;
    char message[1024];
};
void grove_error_save(grove_err err, struct grove_error_record *out);
/* Makes rec this thread's record; returns rec->err. */
grove_err grove_error_restore(const struct grove_error_record *rec);

#endif
