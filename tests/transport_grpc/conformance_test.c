/* The shared conformance suite over grpc:// and grpcs:// (certificates made
 * at test time, verified against their CA). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conformance/conformance.h"
#include "grove/sys/error.h"
#include "grpc_fixture.h"

static void grpc_listen_url(char *url, size_t cap, int attempt)
{
    (void)attempt;
    snprintf(url, cap, "grpc://127.0.0.1:%d", grpc_fixture_free_port());
}

static void grpcs_listen_url(char *url, size_t cap, int attempt)
{
    (void)attempt;
    snprintf(url, cap, "grpcs://127.0.0.1:%d", grpc_fixture_free_port());
}

static void grpc_refused_url(char *url, size_t cap)
{
    snprintf(url, cap, "grpc://127.0.0.1:%d", grpc_fixture_free_port());
}

static void grpcs_refused_url(char *url, size_t cap)
{
    snprintf(url, cap, "grpcs://127.0.0.1:%d", grpc_fixture_free_port());
}

static int silent_open(const char *scheme, char *url, size_t cap)
{
    int port;
    int fd = grpc_fixture_silent_open(&port);
    snprintf(url, cap, "%s://127.0.0.1:%d", scheme, port);
    return fd;
}

static int grpc_silent_open(char *url, size_t cap)
{
    return silent_open("grpc", url, cap);
}

static int grpcs_silent_open(char *url, size_t cap)
{
    return silent_open("grpcs", url, cap);
}

static void grpc_silent_close(int fd)
{
    close(fd);
}

/* The client's status mapping, for raw calls. */
static grove_err status_err(int status)
{
    switch (status) {
    case 0:
        return GROVE_OK;
    case 3:
        return GROVE_EINVAL;
    case 4:
        return GROVE_ETIMEOUT;
    case 7:
        return GROVE_EFORBIDDEN;
    case 8:
        return GROVE_ETOOBIG;
    case 14:
        return GROVE_EUNAVAIL;
    case 16:
        return GROVE_EAUTH;
    default:
        return GROVE_EPROTO;
    }
}

static grove_err grpc_send_raw_push(const char *url, const char *body, size_t len)
{
    char details[512];
    int status = grpc_fixture_raw_call(url, "/grove.sync.v1.Sync/Push", body, len, NULL, details,
                                       sizeof details);
    return grove_error_set(status_err(status), "status %d: %s", status, details);
}

static struct grove_listen_options tls_listen;
static struct grove_dial_options tls_dial;

static void grpcs_setup(void)
{
    grpc_fixture_register();
    const struct support_certs *certs = support_certs();
    tls_listen.cert_file = certs->cert;
    tls_listen.key_file = certs->key;
    tls_dial.ca_file = certs->ca;
}

static const struct conformance_fixture grpc_conformance = {
    .setup = grpc_fixture_register,
    .listen_url = grpc_listen_url,
    .refused_url = grpc_refused_url,
    .silent_open = grpc_silent_open,
    .silent_close = grpc_silent_close,
    .send_raw_push = grpc_send_raw_push,
};

static const struct conformance_fixture grpcs_conformance = {
    .setup = grpcs_setup,
    .listen_url = grpcs_listen_url,
    .listen = &tls_listen,
    .dial = &tls_dial,
    .refused_url = grpcs_refused_url,
    .silent_open = grpcs_silent_open,
    .silent_close = grpc_silent_close,
    .cert_identities = true,
};

GROVE_CONFORMANCE_SUITE(transport_grpc_conformance, grpc_conformance)
GROVE_CONFORMANCE_SUITE(transport_grpc_conformance_tls, grpcs_conformance)
