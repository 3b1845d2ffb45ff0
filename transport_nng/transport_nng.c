/* The nng transport's ops table and the helpers both roles share. */
#include <stdio.h>
#include <string.h>

#include <nng/nng.h>

#include "grove/transport_nng.h"
#include "grove/sys/error.h"
#include "nng_internal.h"

grove_err grove_nng_url_address(const struct grove_url *url, char *out, size_t cap)
{
    int len;
    const char *tcp = grove_nng_url_is_tls(url) ? "tls+tcp" : "tcp";
    if (strcmp(url->scheme, "nng+ipc") == 0)
        len = snprintf(out, cap, "ipc://%s", url->path);
    else if (url->port == 0)
        return grove_error_set(GROVE_EINVAL, "%s needs a port (%s://host:port)", url->scheme,
                               url->scheme);
    else if (strchr(url->host, ':'))
        len = snprintf(out, cap, "%s://[%s]:%d", tcp, url->host, url->port);
    else
        len = snprintf(out, cap, "%s://%s:%d", tcp, url->host, url->port);
    if (len < 0 || (size_t)len >= cap)
        return grove_error_set(GROVE_EINVAL, "address too long");
    return GROVE_OK;
}

grove_err grove_nng_pub_address(const struct grove_url *url, char *out, size_t cap)
{
    struct grove_url pub = *url;
    if (strcmp(url->scheme, "nng+ipc") == 0) {
        int len = snprintf(pub.path, sizeof pub.path, "%s.pub", url->path);
        if (len < 0 || (size_t)len >= sizeof pub.path)
            return grove_error_set(GROVE_EINVAL, "ipc path too long");
    } else if (url->port >= 65535) {
        return grove_error_set(GROVE_EINVAL, "%s publishes on the next port: port %d has none",
                               url->scheme, url->port);
    } else if (url->port > 0) {
        pub.port = url->port + 1;
    }
    return grove_nng_url_address(&pub, out, cap);
}

grove_err grove_nng_error_map(int rv, const char *what)
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

static const char *const nngt_schemes[] = {"nng+tcp", "nng+tls+tcp", "nng+ipc", NULL};
static const char *const nngt_path_schemes[] = {"nng+ipc", NULL};

static const struct grove_transport nngt_transport = {
    .name = "nng",
    .schemes = nngt_schemes,
    .path_schemes = nngt_path_schemes,
    .codec = &grove_codec_json,
    .dialer = &grove_nng_dialer_ops,
    .listener = &grove_nng_listener_ops,
};

const struct grove_transport *grove_transport_nng(void)
{
    return &nngt_transport;
}
