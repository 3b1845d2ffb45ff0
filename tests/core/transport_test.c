/* The transport registry, the wrappers (strict URLs, defaults, the codec
 * exchange, error prefixes), the status table, bearer tokens. */
#include "grove/sys/transport.h"
#include "grove/sys/error.h"
#include "support.h"

TestSuite(core_transport);

/* What the wrappers handed the last open: filled defaults, a parsed URL. */
static struct grove_dial_options seen_opts;
static struct grove_url seen_url;

static grove_err echo_open(const struct grove_url *url, const struct grove_dial_options *o,
                           const struct grove_codec **codec, void **self)
{
    (void)codec;
    seen_url = *url;
    seen_opts = *o;
    *self = NULL;
    return GROVE_OK;
}

/* Answers a pull with the bytes "{}" (no changes key: not a pull response)
 * and a push with a valid push response. */
static grove_err echo_call(void *self, enum grove_call_kind kind, const struct grove_buf *request,
                           struct grove_reply *reply)
{
    (void)self;
    (void)request;
    static const char bad[] = "{}";
    static const char push[] = "{\"merged\":3,\"latest_hlc\":{\"ts\":7,\"c\":0,\"node\":\"n\"}}";
    *reply = kind == GROVE_CALL_PULL ? (struct grove_reply){.data = bad, .len = 2}
                                     : (struct grove_reply){.data = push, .len = sizeof push - 1};
    return GROVE_OK;
}

static grove_err refuse_call(void *self, enum grove_call_kind kind, const struct grove_buf *request,
                             struct grove_reply *reply)
{
    (void)self;
    (void)kind;
    (void)request;
    (void)reply;
    return grove_error_set_native(GROVE_EFORBIDDEN, 403, "HTTP 403: table not allowed");
}

static void noop_close(void *self)
{
    (void)self;
}

static const struct grove_dialer_ops full = {
    .open = echo_open, .call = echo_call, .close = noop_close};
static const struct grove_dialer_ops refusing = {
    .open = echo_open, .call = refuse_call, .close = noop_close};
static const struct grove_dialer_ops no_call = {.open = echo_open, .close = noop_close};
static const char *const test_schemes[] = {"testonly", NULL};
static const char *const inproc_again[] = {"inproc", NULL};
static const char *const dial_only_schemes[] = {"dialonly", NULL};
static const char *const refusing_schemes[] = {"refusing", NULL};
static const char *const path_schemes[] = {"pathonly", NULL};

Test(core_transport, registry_checks_ops_and_schemes)
{
    struct grove_transport missing = {
        .name = "broken", .schemes = test_schemes, .codec = &grove_codec_json, .dialer = &no_call};
    cr_expect_eq(grove_transport_register(&missing), GROVE_EINVAL);
    cr_expect(strstr(grove_errmsg(), "mandatory") != NULL, "%s", grove_errmsg());
    struct grove_transport no_codec = {.name = "nocodec", .schemes = test_schemes, .dialer = &full};
    cr_expect_eq(grove_transport_register(&no_codec), GROVE_EINVAL);
    struct grove_transport taken = {
        .name = "dup", .schemes = inproc_again, .codec = &grove_codec_json, .dialer = &full};
    cr_expect_eq(grove_transport_register(&taken), GROVE_EINVAL);
    cr_expect(strstr(grove_errmsg(), "taken") != NULL, "%s", grove_errmsg());
    static const struct grove_transport ok = {
        .name = "testonly", .schemes = test_schemes, .codec = &grove_codec_json, .dialer = &full};
    cr_expect_eq(grove_transport_register(&ok), GROVE_OK, "%s", grove_errmsg());
    cr_expect_eq(grove_transport_register(&ok), GROVE_OK, "registering twice is harmless");
    cr_expect(strstr(grove_transport_schemes(), "testonly") != NULL);
    bool listed = false;
    for (size_t i = 0; i < grove_transport_count(); i++)
        listed = listed || grove_transport_at(i) == &ok;
    cr_expect(listed, "the registry can be iterated");
    cr_expect_eq(grove_transport_at(grove_transport_count()), NULL);
    cr_expect_eq(grove_transport_check_url("testonly://x"), GROVE_OK);
    cr_expect_eq(grove_transport_check_url("smoke://x"), GROVE_ENOTSUP);
    cr_expect(strstr(grove_errmsg(), "inproc") != NULL, "%s", grove_errmsg());
    cr_expect_eq(grove_transport_check_url("no-scheme"), GROVE_EINVAL);
}

Test(core_transport, optional_ops_answer_not_supported)
{
    static const struct grove_transport dial_only = {.name = "dialonly",
                                                     .schemes = dial_only_schemes,
                                                     .codec = &grove_codec_json,
                                                     .dialer = &full};
    cr_assert_eq(grove_transport_register(&dial_only), GROVE_OK, "%s", grove_errmsg());
    struct grove_peer *peer;
    cr_assert_eq(grove_peer_open(&peer, "dialonly://x", NULL), GROVE_OK);
    cr_expect(!grove_peer_can_subscribe(peer));
    atomic_bool stop = false;
    struct grove_pull_request req = {0};
    cr_expect_eq(grove_peer_subscribe(peer, &req, NULL, NULL, &stop), GROVE_ENOTSUP);
    grove_peer_close(peer);
    struct grove_listener *l;
    cr_expect_eq(grove_listener_open(&l, "dialonly://x", NULL, NULL), GROVE_ENOTSUP);
}

Test(core_transport, open_fills_every_default)
{
    static const struct grove_transport t = {
        .name = "testonly", .schemes = test_schemes, .codec = &grove_codec_json, .dialer = &full};
    cr_assert_eq(grove_transport_register(&t), GROVE_OK);
    struct grove_peer *peer;
    cr_assert_eq(grove_peer_open(&peer, "testonly://h:7/base/#two", NULL), GROVE_OK);
    cr_expect_eq(seen_opts.timeout_ms, GROVE_DIAL_TIMEOUT_MS);
    cr_expect_eq(seen_opts.connect_timeout_ms, GROVE_DIAL_CONNECT_TIMEOUT_MS);
    cr_expect_str_eq(seen_url.host, "h");
    cr_expect_eq(seen_url.port, 7);
    cr_expect_str_eq(seen_url.path, "/base");
    cr_expect_str_eq(seen_url.label, "two");
    grove_peer_close(peer);
}

/* The exchange decodes answers once, in the core: a reply that is no pull
 * response is EPROTO with the URL once, whatever the transport. */
Test(core_transport, the_exchange_decodes_answers_and_prefixes_the_url_once)
{
    static const struct grove_transport t = {
        .name = "testonly", .schemes = test_schemes, .codec = &grove_codec_json, .dialer = &full};
    cr_assert_eq(grove_transport_register(&t), GROVE_OK);
    struct grove_peer *peer;
    cr_assert_eq(grove_peer_open(&peer, "testonly://h:7", NULL), GROVE_OK);
    struct grove_pull_request pull = {.node_id = "me"};
    struct grove_pull_response *resp = (void *)1;
    cr_expect_eq(grove_peer_pull(peer, &pull, &resp), GROVE_EPROTO);
    cr_expect_null(resp);
    cr_expect(strstr(grove_errmsg(), "pull from testonly://h:7: bad answer: ") == grove_errmsg(),
              "%s", grove_errmsg());
    struct grove_push_request push = {.node_id = "me"};
    struct grove_push_response *pushed;
    cr_assert_eq(grove_peer_push(peer, &push, &pushed), GROVE_OK, "%s", grove_errmsg());
    cr_expect_eq(pushed->merged, 3);
    cr_expect_eq(pushed->latest_hlc.ts, 7);
    grove_msg_free(pushed);
    grove_peer_close(peer);
}

Test(core_transport, a_native_status_survives_the_prefix)
{
    static const struct grove_transport t = {.name = "refusing",
                                             .schemes = refusing_schemes,
                                             .codec = &grove_codec_json,
                                             .dialer = &refusing};
    cr_assert_eq(grove_transport_register(&t), GROVE_OK);
    struct grove_peer *peer;
    cr_assert_eq(grove_peer_open(&peer, "refusing://h:1", NULL), GROVE_OK);
    struct grove_push_request push = {.node_id = "me"};
    struct grove_push_response *out;
    cr_expect_eq(grove_peer_push(peer, &push, &out), GROVE_EFORBIDDEN);
    cr_expect_eq(grove_errnative(), 403);
    cr_expect_str_eq(grove_errmsg(), "push to refusing://h:1: HTTP 403: table not allowed");
    grove_error_set(GROVE_EINVAL, "plain");
    cr_expect_eq(grove_errnative(), 0, "a new error forgets the old native status");
    grove_peer_close(peer);
}

Test(core_transport, urls_are_parsed_strictly)
{
    static const struct grove_transport hosts = {
        .name = "testonly", .schemes = test_schemes, .codec = &grove_codec_json, .dialer = &full};
    static const struct grove_transport paths = {.name = "pathonly",
                                                 .schemes = path_schemes,
                                                 .path_schemes = path_schemes,
                                                 .codec = &grove_codec_json,
                                                 .dialer = &full};
    cr_assert_eq(grove_transport_register(&hosts), GROVE_OK);
    cr_assert_eq(grove_transport_register(&paths), GROVE_OK);
    struct grove_peer *peer;
    static const char *const refused[] = {
        "testonly://:8096/sync", /* no host: would bind every interface */
        "testonly://h:1/sync?x=1", "testonly://user:pw@h:1",
        " testonly://h:1",         "testonly://h:1/a b",
        "testonly://h:-1",         "testonly://h:",
        "pathonly://host/p",       "pathonly://",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        cr_expect_eq(grove_peer_open(&peer, refused[i], NULL), GROVE_EINVAL, "%s", refused[i]);
        cr_expect(strstr(grove_errmsg(), refused[i]) != NULL, "%s", grove_errmsg());
    }
    cr_expect_eq(grove_peer_open(&peer, "testonly://user:pw@h:1", NULL), GROVE_EINVAL);
    cr_expect(strstr(grove_errmsg(), "credentials") != NULL, "%s", grove_errmsg());
    cr_assert_eq(grove_peer_open(&peer, "pathonly:///run/x.sock", NULL), GROVE_OK);
    cr_expect_str_eq(seen_url.path, "/run/x.sock");
    grove_peer_close(peer);
    /* The URL appears once in the message, not once per layer. */
    cr_expect_eq(grove_peer_open(&peer, "testonly://:1", NULL), GROVE_EINVAL);
    const char *first = strstr(grove_errmsg(), "testonly://:1");
    cr_expect(first && !strstr(first + 1, "testonly://:1"), "%s", grove_errmsg());
}

Test(core_transport, parses_urls)
{
    struct grove_url u;
    cr_assert_eq(grove_url_parse("http://127.0.0.1:8080/sync/", &u), GROVE_OK);
    cr_expect_str_eq(u.scheme, "http");
    cr_expect_str_eq(u.host, "127.0.0.1");
    cr_expect_eq(u.port, 8080);
    cr_expect_str_eq(u.path, "/sync");
    cr_assert_eq(grove_url_parse("grpcs://[::1]:50051", &u), GROVE_OK);
    cr_expect_str_eq(u.host, "::1");
    cr_expect_eq(u.port, 50051);
    cr_expect_str_eq(u.path, "");
    cr_assert_eq(grove_url_parse("grpc://[::1]/x", &u), GROVE_OK);
    cr_expect_str_eq(u.host, "::1");
    cr_expect_eq(u.port, 0);
    cr_expect_str_eq(u.path, "/x");
    cr_assert_eq(grove_url_parse("inproc://hub", &u), GROVE_OK);
    cr_expect_str_eq(u.host, "hub");
    cr_expect_eq(u.port, 0);
    cr_expect_eq(grove_url_parse("http://h:99999/", &u), GROVE_EINVAL);
    cr_expect_eq(grove_url_parse("http://h:80x/", &u), GROVE_EINVAL);
    cr_expect_eq(grove_url_parse("http://[::1/", &u), GROVE_EINVAL);
    cr_expect_eq(grove_url_parse("http://[::1]x/", &u), GROVE_EINVAL);
    cr_expect_eq(grove_url_parse("nothing", &u), GROVE_EINVAL);
}

Test(core_transport, one_status_table_maps_both_ways)
{
    static const grove_err served[] = {GROVE_EINVAL,    GROVE_EAUTH,    GROVE_EFORBIDDEN,
                                       GROVE_ENOTFOUND, GROVE_ETOOBIG,  GROVE_ENOTSUP,
                                       GROVE_ESTORE,    GROVE_EUNAVAIL, GROVE_ETIMEOUT};
    for (size_t i = 0; i < sizeof served / sizeof served[0]; i++) {
        cr_expect_eq(grove_err_from_http(grove_err_to_http(served[i])), served[i], "%s",
                     grove_err_name(served[i]));
        cr_expect_eq(grove_err_from_grpc(grove_err_to_grpc(served[i])), served[i], "%s",
                     grove_err_name(served[i]));
    }
    cr_expect_eq(grove_err_to_http(GROVE_EFORBIDDEN), 403);
    cr_expect_eq(grove_err_to_grpc(GROVE_EFORBIDDEN), 7);
    cr_expect_str_eq(grove_grpc_status_name(7), "PERMISSION_DENIED");
    cr_expect_eq(grove_err_to_http(GROVE_ESHUTDOWN), 503);
    cr_expect_eq(grove_err_from_http(405), GROVE_EINVAL);
    cr_expect_eq(grove_err_from_http(502), GROVE_EUNAVAIL);
    cr_expect_eq(grove_err_from_http(302), GROVE_EPROTO);
    cr_expect_eq(grove_err_from_grpc(1), GROVE_EUNAVAIL); /* CANCELLED */
    cr_expect_eq(grove_err_from_grpc(2), GROVE_EPROTO);   /* UNKNOWN */
}

Test(core_transport, bearer_tokens)
{
    char *v = grove_bearer_value("s3cret");
    cr_assert_str_eq(v, "Bearer s3cret");
    cr_expect_eq(grove_bearer_check("s3cret", v, strlen(v)), GROVE_OK);
    free(v);
    cr_expect_eq(grove_bearer_check(NULL, NULL, 0), GROVE_OK, "no token expected");
    cr_expect_eq(grove_bearer_check("s3cret", "bearer  s3cret", 14), GROVE_OK);
    cr_expect_eq(grove_bearer_check("s3cret", NULL, 0), GROVE_EAUTH);
    cr_expect_str_eq(grove_errmsg(), "missing bearer token");
    cr_expect_eq(grove_bearer_check("s3cret", "Basic s3cret", 12), GROVE_EAUTH);
    cr_expect_eq(grove_bearer_check("s3cret", "Bearer s3cre", 12), GROVE_EAUTH);
    cr_expect_str_eq(grove_errmsg(), "wrong bearer token");
}

Test(core_transport, compares_tokens)
{
    cr_expect(grove_token_equal("s3cret", "s3cret", 6));
    cr_expect(!grove_token_equal("s3cret", "s3cre", 5));
    cr_expect(!grove_token_equal("s3cret", "s3cret!", 7));
    cr_expect(!grove_token_equal("s3cret", "S3cret", 6));
    cr_expect(!grove_token_equal("s3cret", "", 0));
}

/* grove_error_set may be handed grove_errmsg() itself as an argument. */
Test(core_transport, an_error_message_may_quote_itself)
{
    grove_error_set(GROVE_EINVAL, "inner reason");
    grove_error_set(GROVE_EPROTO, "outer: %s", grove_errmsg());
    cr_expect_str_eq(grove_errmsg(), "outer: inner reason");
}
