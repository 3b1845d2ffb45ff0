/* The shared conformance suite over nng+tcp://, nng+tls+tcp:// (certificates
 * made at test time, verified against their CA) and nng+ipc://. The silent
 * server is an nng rep socket that never answers; raw pushes go through a
 * plain req socket speaking the transport's framing. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "conformance/conformance.h"
#include "support/certs.h"
#include "support/port.h"
#include "support/tmpdir.h"
#include "grove/transport_nng.h"
#include "grove/sys/error.h"

static void nng_fixture_register_once(void)
{
    grove_transport_register(grove_transport_nng());
}

static void nng_fixture_setup(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, nng_fixture_register_once);
}

static void tcp_url(char *url, size_t cap)
{
    int port = support_free_port();
    cr_assert_gt(port, 0, "no free loopback port");
    snprintf(url, cap, "nng+tcp://127.0.0.1:%d", port);
}

static void tls_url(char *url, size_t cap)
{
    int port = support_free_port();
    cr_assert_gt(port, 0, "no free loopback port");
    snprintf(url, cap, "nng+tls+tcp://127.0.0.1:%d", port);
}

static void tls_listen_url(char *url, size_t cap, int attempt)
{
    (void)attempt;
    tls_url(url, cap);
}

static struct grove_listen_options tls_listen;
static struct grove_dial_options tls_dial;

static void nng_tls_fixture_setup(void)
{
    nng_fixture_setup();
    const struct support_certs *certs = support_certs();
    tls_listen.cert_file = certs->cert;
    tls_listen.key_file = certs->key;
    tls_dial.ca_file = certs->ca;
}

/* A fresh socket path in this test's temporary directory. */
static void ipc_url(char *url, size_t cap)
{
    static const char *dir;
    static atomic_int counter;
    if (!dir)
        dir = support_tmpdir_new("nng");
    snprintf(url, cap, "nng+ipc://%s/%d.sock", dir, atomic_fetch_add(&counter, 1));
}

static void tcp_listen_url(char *url, size_t cap, int attempt)
{
    (void)attempt;
    tcp_url(url, cap);
}

static void ipc_listen_url(char *url, size_t cap, int attempt)
{
    (void)attempt;
    ipc_url(url, cap);
}

static int silent_open(const char *url)
{
    nng_socket s;
    cr_assert_eq(nng_rep0_open(&s), 0);
    cr_assert_eq(nng_listen(s, url + 4, NULL, 0), 0, "listen %s", url);
    return nng_socket_id(s);
}

static int tcp_silent_open(char *url, size_t cap)
{
    tcp_url(url, cap);
    return silent_open(url);
}

static int ipc_silent_open(char *url, size_t cap)
{
    ipc_url(url, cap);
    return silent_open(url);
}

static void nng_fixture_silent_close(int handle)
{
    nng_socket s = {.id = (uint32_t)handle};
    nng_close(s);
}

/* One push with a raw body; the reply's error frame gives the code. */
static grove_err nng_fixture_send_raw_push(const char *url, const char *body, size_t len)
{
    nng_socket s;
    cr_assert_eq(nng_req0_open(&s), 0);
    cr_assert_eq(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000), 0);
    cr_assert_eq(nng_dial(s, url + 4, NULL, 0), 0, "dial %s", url);
    size_t n = 3 + len;
    char *msg = malloc(n);
    memcpy(msg, "U\n\n", 3);
    memcpy(msg + 3, body, len);
    cr_assert_eq(nng_send(s, msg, n, 0), 0);
    free(msg);
    char *reply = NULL;
    size_t reply_len = 0;
    int rv = nng_recv(s, &reply, &reply_len, NNG_FLAG_ALLOC);
    cr_assert_eq(rv, 0, "recv: %s", nng_strerror(rv));
    grove_err err;
    if (reply_len >= 1 && reply[0] == 'R')
        err = GROVE_OK;
    else if (reply_len >= 2 && reply[0] == 'E')
        err = grove_error_set((grove_err)atoi(reply + 1), "%.*s", (int)reply_len, reply);
    else
        err = grove_error_set(GROVE_EPROTO, "bad reply");
    nng_free(reply, reply_len);
    nng_close(s);
    return err;
}

static const struct conformance_fixture nng_tcp_conformance = {
    .setup = nng_fixture_setup,
    .listen_url = tcp_listen_url,
    .refused_url = tcp_url,
    .silent_open = tcp_silent_open,
    .silent_close = nng_fixture_silent_close,
    .send_raw_push = nng_fixture_send_raw_push,
};

static const struct conformance_fixture nng_ipc_conformance = {
    .setup = nng_fixture_setup,
    .listen_url = ipc_listen_url,
    .refused_url = ipc_url,
    .silent_open = ipc_silent_open,
    .silent_close = nng_fixture_silent_close,
    .send_raw_push = nng_fixture_send_raw_push,
};

/* No silent server or raw push: both would need a TLS client of their own.
 * Certificate identities: the listener's engine (nng_tls_engine.c) tells
 * the names. */
static const struct conformance_fixture nng_tls_conformance = {
    .setup = nng_tls_fixture_setup,
    .listen_url = tls_listen_url,
    .listen = &tls_listen,
    .dial = &tls_dial,
    .refused_url = tls_url,
    .cert_identities = true,
};

GROVE_CONFORMANCE_SUITE(transport_nng_conformance, nng_tcp_conformance)
GROVE_CONFORMANCE_SUITE(transport_nng_conformance_tls, nng_tls_conformance)
GROVE_CONFORMANCE_SUITE(transport_nng_conformance_ipc, nng_ipc_conformance)
