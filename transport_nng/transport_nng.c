/* The nng transport's ops table and the helpers both roles share. */
#include <stdio.h>
#include <string.h>

#include <nng/nng.h>

#include "nng_internal.h"
#include "transport_nng.h"

grove_err nngt_url_address(const char *url, char *out, size_t cap)
{
    static const char *const prefixes[] = {"nng+tcp://", "nng+ipc://"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(url, prefixes[i], n) != 0)
            continue;
        if (url[n] == '\0')
            return grove_error_set(GROVE_EINVAL, "%s: no address after the scheme", url);
        int len = snprintf(out, cap, "%s", url + 4); /* drop "nng+" */
        if (len < 0 || (size_t)len >= cap)
            return grove_error_set(GROVE_EINVAL, "%s: address too long", url);
        return GROVE_OK;
    }
    return grove_error_set(GROVE_EINVAL, "%s: not an nng+tcp:// or nng+ipc:// URL", url);
}

grove_err nngt_error_map(int rv, const char *what)
{
    grove_err err;
    switch (rv) {
    case NNG_ETIMEDOUT:
        err = GROVE_ETIMEOUT;
        break;
    case NNG_ENOMEM:
        err = GROVE_ENOMEM;
        break;
    case NNG_EINVAL:
    case NNG_EADDRINVAL:
        err = GROVE_EINVAL;
        break;
    case NNG_EMSGSIZE:
        err = GROVE_ETOOBIG;
        break;
    case NNG_ENOTSUP:
        err = GROVE_ENOTSUP;
        break;
    case NNG_EPROTO:
        err = GROVE_EPROTO;
        break;
    default: /* refused, unreachable, closed, reset, no such ipc path... */
        err = GROVE_EUNAVAIL;
        break;
    }
    return grove_error_set(err, "%s: %s", what, nng_strerror(rv));
}

static const char *const nngt_schemes[] = {"nng+tcp", "nng+ipc", NULL};

static const struct grove_transport nngt_transport = {
    .name = "nng",
    .schemes = nngt_schemes,
    .dialer = &nngt_dialer_ops,
    .listener = &nngt_listener_ops,
};

const struct grove_transport *grove_transport_nng(void)
{
    return &nngt_transport;
}
