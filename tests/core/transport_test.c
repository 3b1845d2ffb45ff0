/* The transport registry, the op wrappers' checks, URL parsing and token
 * comparison. */
#include "support.h"

TestSuite(core_transport);

static grove_err noop_open(const char *url, const struct grove_dial_options *o, void **self)
{
    (void)url;
    (void)o;
    *self = NULL;
    return GROVE_OK;
}

static grove_err noop_pull(void *self, const struct grove_pull_request *req,
                           struct grove_pull_response **out)
{
    (void)self;
    (void)req;
    return grove_pull_response_new(out);
}

static grove_err noop_push(void *self, const struct grove_push_request *req,
                           struct grove_push_response **out)
{
    (void)self;
    (void)req;
    return grove_push_response_new(out);
}

static void noop_close(void *self)
{
    (void)self;
}

static const struct grove_dialer_ops full = {
    .open = noop_open, .pull = noop_pull, .push = noop_push, .close = noop_close};
static const struct grove_dialer_ops no_push = {
    .open = noop_open, .pull = noop_pull, .close = noop_close};
static const char *const test_schemes[] = {"testonly", NULL};
static const char *const inproc_again[] = {"inproc", NULL};
static const char *const dial_only_schemes[] = {"dialonly", NULL};

Test(core_transport, registry_checks_ops_and_schemes)
{
    struct grove_transport missing = {
        .name = "broken", .schemes = test_schemes, .dialer = &no_push};
    cr_expect_eq(grove_transport_register(&missing), GROVE_EINVAL);
    cr_expect(strstr(grove_errmsg(), "mandatory") != NULL, "%s", grove_errmsg());
    struct grove_transport taken = {.name = "dup", .schemes = inproc_again, .dialer = &full};
    cr_expect_eq(grove_transport_register(&taken), GROVE_EINVAL);
    cr_expect(strstr(grove_errmsg(), "taken") != NULL, "%s", grove_errmsg());
    static const struct grove_transport ok = {
        .name = "testonly", .schemes = test_schemes, .dialer = &full};
    cr_expect_eq(grove_transport_register(&ok), GROVE_OK, "%s", grove_errmsg());
    cr_expect_eq(grove_transport_register(&ok), GROVE_OK, "registering twice is harmless");
    cr_expect(strstr(grove_transport_schemes(), "testonly") != NULL);
    const struct grove_transport *found;
    cr_expect_eq(grove_transport_find("testonly://x", &found), GROVE_OK);
    cr_expect_eq(found, &ok);
    cr_expect_eq(grove_transport_find("smoke://x", &found), GROVE_ENOTSUP);
    cr_expect(strstr(grove_errmsg(), "inproc") != NULL, "%s", grove_errmsg());
    cr_expect_eq(grove_transport_find("no-scheme", &found), GROVE_EINVAL);
}

Test(core_transport, optional_ops_answer_not_supported)
{
    static const struct grove_transport dial_only = {
        .name = "dialonly", .schemes = dial_only_schemes, .dialer = &full};
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
    cr_assert_eq(grove_url_parse("inproc://hub", &u), GROVE_OK);
    cr_expect_str_eq(u.host, "hub");
    cr_expect_eq(u.port, 0);
    cr_expect_eq(grove_url_parse("http://h:99999/", &u), GROVE_EINVAL);
    cr_expect_eq(grove_url_parse("http://h:80x/", &u), GROVE_EINVAL);
    cr_expect_eq(grove_url_parse("http://[::1/", &u), GROVE_EINVAL);
    cr_expect_eq(grove_url_parse("nothing", &u), GROVE_EINVAL);
}

Test(core_transport, compares_tokens)
{
    cr_expect(grove_token_equal("s3cret", "s3cret", 6));
    cr_expect(!grove_token_equal("s3cret", "s3cre", 5));
    cr_expect(!grove_token_equal("s3cret", "s3cret!", 7));
    cr_expect(!grove_token_equal("s3cret", "S3cret", 6));
    cr_expect(!grove_token_equal("s3cret", "", 0));
}
