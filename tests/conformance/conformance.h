/* The transport conformance suite: one set of cases every transport runs
 * (like nng's src/testing). A transport's test file describes how to reach
 * it with a struct conformance_fixture and expands GROVE_CONFORMANCE_SUITE.
 * Every case starts its own server on a fresh SQLite file and asserts exact
 * grove_err codes. */
#ifndef GROVE_TESTS_CONFORMANCE_H
#define GROVE_TESTS_CONFORMANCE_H

#include <criterion/criterion.h>

#include "grove/node.h"
#include "grove/transport.h"

struct conformance_fixture {
    /* Writes a URL to listen on and dial; attempt counts up when the previous
     * one was taken (GROVE_EUNAVAIL from the listener), so random ports work. */
    void (*listen_url)(char *url, size_t cap, int attempt);
    /* Options merged into every listener / dialer (TLS files); may be NULL. */
    const struct grove_listen_options *listen;
    const struct grove_dial_options *dial;
    /* Called once at the start of each case (e.g. to register transports or
     * generate certificates); may be NULL. */
    void (*setup)(void);
    /* A URL where nothing listens (dialing it fails with GROVE_EUNAVAIL). */
    void (*refused_url)(char *url, size_t cap);
    /* A URL whose server accepts but never answers; returns a handle for
     * silent_close. NULL: the transport has no such thing (case skipped). */
    int (*silent_open)(char *url, size_t cap);
    void (*silent_close)(int handle);
    /* Sends raw bytes as a push request body to the listener at url and maps
     * the answer to a grove_err. NULL: not possible (case skipped). */
    grove_err (*send_raw_push)(const char *url, const char *body, size_t len);
    /* TLS: the listener tells the core the names in a client certificate
     * (identities by cert_subject); the case dials with the test CA's client
     * certificate. */
    bool cert_identities;
};

void conformance_round_trip(const struct conformance_fixture *f);
void conformance_empty_pull(const struct conformance_fixture *f);
void conformance_pagination(const struct conformance_fixture *f);
void conformance_big_batch(const struct conformance_fixture *f);
void conformance_refused(const struct conformance_fixture *f);
void conformance_timeout(const struct conformance_fixture *f);
void conformance_auth(const struct conformance_fixture *f);
void conformance_oversize(const struct conformance_fixture *f);
void conformance_malformed(const struct conformance_fixture *f);
void conformance_forbidden_table(const struct conformance_fixture *f);
void conformance_stream_delivery(const struct conformance_fixture *f);
void conformance_stream_resume(const struct conformance_fixture *f);
/* Several clients push and pull at once while a stream is open. */
void conformance_concurrent_clients(const struct conformance_fixture *f);
/* conformance_filter.c */
void conformance_filter(const struct conformance_fixture *f);
/* Identities (conformance_identity.c): a client bound to its node, its
 * tables and prefix; scoped pulls and streams; records claiming a node
 * still reach it; rotation and reload; certificate identities. */
void conformance_identity_client(const struct conformance_fixture *f);
void conformance_identity_stream(const struct conformance_fixture *f);
void conformance_identity_spoofing(const struct conformance_fixture *f);
void conformance_identity_shared_token(const struct conformance_fixture *f);
void conformance_identity_rotation(const struct conformance_fixture *f);
void conformance_identity_certificate(const struct conformance_fixture *f);

/* Test(suite, ...) for every case, run against `fixture` (a struct
 * conformance_fixture object, not a pointer). */
#define GROVE_CONFORMANCE_SUITE(suite, fixture)                                                    \
    Test(suite, round_trip, .timeout = 120)                                                        \
    {                                                                                              \
        conformance_round_trip(&(fixture));                                                        \
    }                                                                                              \
    Test(suite, empty_pull, .timeout = 120)                                                        \
    {                                                                                              \
        conformance_empty_pull(&(fixture));                                                        \
    }                                                                                              \
    Test(suite, pagination, .timeout = 120)                                                        \
    {                                                                                              \
        conformance_pagination(&(fixture));                                                        \
    }                                                                                              \
    Test(suite, big_batch, .timeout = 300)                                                         \
    {                                                                                              \
        conformance_big_batch(&(fixture));                                                         \
    }                                                                                              \
    Test(suite, refused_connection, .timeout = 120)                                                \
    {                                                                                              \
        conformance_refused(&(fixture));                                                           \
    }                                                                                              \
    Test(suite, timeout, .timeout = 120)                                                           \
    {                                                                                              \
        conformance_timeout(&(fixture));                                                           \
    }                                                                                              \
    Test(suite, auth_failure, .timeout = 120)                                                      \
    {                                                                                              \
        conformance_auth(&(fixture));                                                              \
    }                                                                                              \
    Test(suite, oversize_request, .timeout = 120)                                                  \
    {                                                                                              \
        conformance_oversize(&(fixture));                                                          \
    }                                                                                              \
    Test(suite, malformed_body, .timeout = 120)                                                    \
    {                                                                                              \
        conformance_malformed(&(fixture));                                                         \
    }                                                                                              \
    Test(suite, forbidden_table, .timeout = 120)                                                   \
    {                                                                                              \
        conformance_forbidden_table(&(fixture));                                                   \
    }                                                                                              \
    Test(suite, stream_delivery, .timeout = 120)                                                   \
    {                                                                                              \
        conformance_stream_delivery(&(fixture));                                                   \
    }                                                                                              \
    Test(suite, stream_resume, .timeout = 120)                                                     \
    {                                                                                              \
        conformance_stream_resume(&(fixture));                                                     \
    }                                                                                              \
    Test(suite, concurrent_clients, .timeout = 120)                                                \
    {                                                                                              \
        conformance_concurrent_clients(&(fixture));                                                \
    }                                                                                              \
    Test(suite, filter, .timeout = 120)                                                            \
    {                                                                                              \
        conformance_filter(&(fixture));                                                            \
    }                                                                                              \
    Test(suite, identity_client, .timeout = 120)                                                   \
    {                                                                                              \
        conformance_identity_client(&(fixture));                                                   \
    }                                                                                              \
    Test(suite, identity_stream, .timeout = 120)                                                   \
    {                                                                                              \
        conformance_identity_stream(&(fixture));                                                   \
    }                                                                                              \
    Test(suite, identity_spoofing_converges, .timeout = 120)                                       \
    {                                                                                              \
        conformance_identity_spoofing(&(fixture));                                                 \
    }                                                                                              \
    Test(suite, identity_shared_token_converges, .timeout = 120)                                   \
    {                                                                                              \
        conformance_identity_shared_token(&(fixture));                                             \
    }                                                                                              \
    Test(suite, identity_rotation_and_reload, .timeout = 120)                                      \
    {                                                                                              \
        conformance_identity_rotation(&(fixture));                                                 \
    }                                                                                              \
    Test(suite, identity_certificate, .timeout = 120)                                              \
    {                                                                                              \
        conformance_identity_certificate(&(fixture));                                              \
    }

#endif
