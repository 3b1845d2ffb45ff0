#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "grove/error.h"
#include "grove/sys/error.h"

static _Thread_local char error_message[1024];
static _Thread_local int error_native;
static _Thread_local unsigned error_retry;

const char *grove_errmsg(void)
{
    return error_message;
}

const char *grove_err_name(grove_err err)
{
    static const char *const names[] = {
        [GROVE_OK] = "OK",
        [GROVE_EINVAL] = "EINVAL",
        [GROVE_EAUTH] = "EAUTH",
        [GROVE_EFORBIDDEN] = "EFORBIDDEN",
        [GROVE_ENOTFOUND] = "ENOTFOUND",
        [GROVE_ETOOBIG] = "ETOOBIG",
        [GROVE_ENOTSUP] = "ENOTSUP",
        [GROVE_ENOMEM] = "ENOMEM",
        [GROVE_ESTORE] = "ESTORE",
        [GROVE_EUNAVAIL] = "EUNAVAIL",
        [GROVE_ETIMEOUT] = "ETIMEOUT",
        [GROVE_ESHUTDOWN] = "ESHUTDOWN",
        [GROVE_EPROTO] = "EPROTO",
        [GROVE_ECONFLICT] = "ECONFLICT",
        [GROVE_ERATELIMIT] = "ERATELIMIT",
    };
    if ((unsigned)err < sizeof names / sizeof names[0] && names[err])
        return names[err];
    return "EUNKNOWN";
}

bool grove_err_retryable(grove_err err)
{
    switch (err) {
    case GROVE_ESTORE:
    case GROVE_EUNAVAIL:
    case GROVE_ETIMEOUT:
    case GROVE_ESHUTDOWN:
    case GROVE_EPROTO:
    case GROVE_ENOMEM:
    case GROVE_ERATELIMIT:
        return true;
    default:
        return false;
    }
}

/* The message is formatted aside first: an argument may be grove_errmsg()
 * itself, and vsnprintf must not write over its own input. */
static void error_format(const char *fmt, va_list ap)
{
    char fresh[sizeof error_message];
    vsnprintf(fresh, sizeof fresh, fmt, ap);
    memcpy(error_message, fresh, sizeof fresh);
}

grove_err grove_error_set(grove_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_format(fmt, ap);
    va_end(ap);
    error_native = 0;
    error_retry = 0;
    return err;
}

grove_err grove_error_set_native(grove_err err, int native, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_format(fmt, ap);
    va_end(ap);
    error_native = native;
    error_retry = 0;
    return err;
}

int grove_errnative(void)
{
    return error_native;
}

grove_err grove_error_set_retry(grove_err err, unsigned seconds)
{
    error_retry = seconds;
    return err;
}

unsigned grove_errretry(void)
{
    return error_retry;
}

grove_err grove_error_prefix(grove_err err, const char *fmt, ...)
{
    char prefix[512];
    char old[sizeof error_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, error_message, sizeof old);
    size_t n = strlen(prefix);
    if (n >= sizeof error_message)
        n = sizeof error_message - 1;
    memcpy(error_message, prefix, n);
    size_t rest = strnlen(old, sizeof old - 1);
    if (rest > sizeof error_message - 1 - n)
        rest = sizeof error_message - 1 - n;
    memcpy(error_message + n, old, rest);
    error_message[n + rest] = '\0';
    return err;
}

void grove_error_clear(void)
{
    error_message[0] = '\0';
    error_native = 0;
    error_retry = 0;
}

void grove_error_save(grove_err err, struct grove_error_record *out)
{
    out->err = err;
    out->native = error_native;
    out->retry = error_retry;
    _Static_assert(sizeof out->message == sizeof error_message, "one message size");
    memcpy(out->message, error_message, sizeof error_message);
}

grove_err grove_error_restore(const struct grove_error_record *rec)
{
    memcpy(error_message, rec->message, sizeof error_message);
    error_native = rec->native;
    error_retry = rec->retry;
    return rec->err;
}
