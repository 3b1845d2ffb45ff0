/* The identity cases of the conformance suite (docs/operations.md,
 * "Identities"; docs/protocol.md, "Echo rule"): the same answers on every
 * transport, since the core decides them. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/conformance_support.h"
#include "support/certs.h"

static const char *const conf_docs[] = {"docs"};

/* The table every case serves: a client bound to node edge on docs rows
 * under acme/, a peer bound to hub, a peer that may name any node. */
static struct grove_access *conf_access(void)
{
    struct grove_identity ids[] = {
        {.name = "edge",
         .role = GROVE_ROLE_CLIENT,
         .node = "edge",
         .read = {.tables = conf_docs, .table_count = 1},
         .write = {.tables = conf_docs, .table_count = 1},
         .prefix = "acme/",
         .secrets = {"edge-secret"}},
        {.name = "hub",
         .node = "hub",
         .read.all = true,
         .write.all = true,
         .secrets = {"hub-secret-old", "hub-secret-new"}},
        {.name = "relay", .read.all = true, .write.all = true, .secrets = {"relay-secret"}},
    };
    struct grove_access *a = NULL;
    cr_assert_eq(grove_access_new(&a, ids, 3), GROVE_OK, "%s", grove_errmsg());
    return a;
}

static void conf_id_start(struct support_node *n, const struct conformance_fixture *f,
                          struct grove_access *access)
{
    conf_setup(f);
    conf_node_start(n, f, &(struct grove_listen_options){.access = access});
    grove_access_unref(access); /* the listener holds its own */
}

/* n docs changes by `node` (origin and push), pks `<prefix><i>`. */
static struct grove_push_request *conf_id_push(const char *node, const char *prefix, size_t first,
                                               size_t n)
{
    struct grove_push_request *req = conf_push_lww(first, n, 0);
    req->node_id = node;
    for (size_t i = 0; i < n; i++) {
        char pk[64];
        snprintf(pk, sizeof pk, "%s%zu", prefix, first + i);
        req->changes[i].pk = grove_msg_strndup(req, pk, strlen(pk));
        strcpy(req->changes[i].hlc.node, node);
        req->changes[i].node_id = node;
    }
    return req;
}

static grove_err conf_id_try_push(struct grove_peer *peer, struct grove_push_request *req,
                                  uint64_t *merged)
{
    struct grove_push_response *resp = NULL;
    grove_err err = grove_peer_push(peer, req, &resp);
    if (merged)
        *merged = resp ? resp->merged : 0;
    grove_msg_free(resp);
    grove_msg_free(req);
    return err;
}

static void conf_id_push_ok(struct grove_peer *peer, struct grove_push_request *req)
{
    grove_err err = conf_id_try_push(peer, req, NULL);
    cr_assert_eq(err, GROVE_OK, "push: %s (%s)", grove_err_name(err), grove_errmsg());
}

static void conf_id_forbidden(struct grove_peer *peer, struct grove_push_request *req,
                              const char *what)
{
    grove_err err = conf_id_try_push(peer, req, NULL);
    cr_assert_eq(err, GROVE_EFORBIDDEN, "%s: got %s (%s)", what, grove_err_name(err),
                 grove_errmsg());
}

/* Every docs row a pull from zero by `node` gets, as "pk,pk,": all pages. */
static void conf_id_pull_pks(struct grove_peer *peer, const char *node,
                             const struct grove_hlc *from, char *out, size_t cap,
                             struct grove_hlc *latest)
{
    struct grove_hlc since = from ? *from : (struct grove_hlc){0};
    out[0] = '\0';
    for (;;) {
        struct grove_pull_request *req = NULL;
        cr_assert_eq(grove_pull_request_new(&req), GROVE_OK);
        req->node_id = node;
        req->since = since;
        struct grove_pull_response *resp = NULL;
        grove_err err = grove_peer_pull(peer, req, &resp);
        grove_msg_free(req);
        cr_assert_eq(err, GROVE_OK, "pull: %s (%s)", grove_err_name(err), grove_errmsg());
        for (size_t i = 0; i < resp->count; i++) {
            size_t used = strlen(out);
            snprintf(out + used, cap - used, "%s,", resp->changes[i].pk);
        }
        since = resp->latest_hlc;
        bool more = resp->has_more;
        grove_msg_free(resp);
        if (!more)
            break;
    }
    if (latest)
        *latest = since;
}

void conformance_identity_client(const struct conformance_fixture *f)
{
    struct support_node n;
    conf_id_start(&n, f, conf_access());
    struct grove_peer *edge = conf_dial(f, n.url, "edge-secret", 0);
    struct grove_peer *relay = conf_dial(f, n.url, "relay-secret", 0);

    /* A client acting as another node, naming it or only stamping a record
     * with it: refused whole. */
    conf_id_forbidden(edge, conf_id_push("hub", "acme/", 0, 2), "push as hub");
    struct grove_push_request *req = conf_id_push("edge", "acme/", 0, 2);
    strcpy(req->changes[1].hlc.node, "hub");
    conf_id_forbidden(edge, req, "a record stamped hub");
    req = conf_id_push("edge", "acme/", 0, 2);
    req->changes[1].node_id = "hub";
    conf_id_forbidden(edge, req, "a record made by hub");
    /* Outside its tables or its prefix: refused whole. */
    req = conf_id_push("edge", "acme/", 0, 2);
    req->changes[1].table = "notes";
    req->changes[1].field = "body";
    conf_id_forbidden(edge, req, "another table");
    req = conf_id_push("edge", "acme/", 0, 2);
    req->changes[0].pk = "globex/1";
    conf_id_forbidden(edge, req, "another prefix");
    char pks[512];
    conf_id_pull_pks(relay, "reader", NULL, pks, sizeof pks, NULL);
    cr_assert_str_eq(pks, "", "nothing of a refused push is applied");

    /* Its own rows go in; a peer relays rows of any origin, in any prefix. */
    conf_id_push_ok(edge, conf_id_push("edge", "acme/", 0, 2));
    conf_id_push_ok(relay, conf_id_push("zed", "globex/", 0, 1));
    conf_id_push_ok(relay, conf_id_push("zed", "acme/", 5, 1));

    /* Its pulls hold its scope only, and move the cursor past the rest. */
    struct grove_hlc all_latest, edge_latest;
    conf_id_pull_pks(relay, "reader", NULL, pks, sizeof pks, &all_latest);
    cr_assert_str_eq(pks, "acme/0,acme/1,globex/0,acme/5,");
    conf_id_pull_pks(edge, "edge", NULL, pks, sizeof pks, &edge_latest);
    cr_assert_str_eq(pks, "acme/0,acme/1,acme/5,");
    conf_id_push_ok(relay, conf_id_push("zed", "globex/", 1, 1));
    conf_id_pull_pks(edge, "edge", &edge_latest, pks, sizeof pks, &edge_latest);
    cr_assert_str_eq(pks, "");
    conf_id_pull_pks(relay, "reader", NULL, pks, sizeof pks, &all_latest);
    cr_assert_eq(grove_hlc_compare(&edge_latest, &all_latest), 0,
                 "the cursor moves past rows outside the scope");
    /* A pull naming a table outside its read scope is refused. */
    struct grove_pull_request *pull = NULL;
    cr_assert_eq(grove_pull_request_new(&pull), GROVE_OK);
    static const char *notes[] = {"notes"};
    pull->tables = notes;
    pull->table_count = 1;
    struct grove_pull_response *resp = NULL;
    grove_err err = grove_peer_pull(edge, pull, &resp);
    cr_assert_eq(err, GROVE_EFORBIDDEN, "got %s (%s)", grove_err_name(err), grove_errmsg());
    grove_msg_free(pull);
    grove_peer_close(edge);
    grove_peer_close(relay);
    support_node_stop(&n);
}

struct conf_id_stream {
    atomic_bool stop;
    char pks[512];
    const char *until;
};

static grove_err conf_id_on_batch(void *user, const struct grove_pull_response *batch)
{
    struct conf_id_stream *s = user;
    for (size_t i = 0; i < batch->count; i++) {
        size_t used = strlen(s->pks);
        snprintf(s->pks + used, sizeof s->pks - used, "%s,", batch->changes[i].pk);
        if (strcmp(batch->changes[i].pk, s->until) == 0)
            atomic_store(&s->stop, true);
    }
    return GROVE_OK;
}

void conformance_identity_stream(const struct conformance_fixture *f)
{
    struct support_node n;
    conf_id_start(&n, f, conf_access());
    struct grove_peer *edge = conf_dial(f, n.url, "edge-secret", 0);
    struct grove_peer *relay = conf_dial(f, n.url, "relay-secret", 0);
    if (!grove_peer_can_subscribe(edge))
        cr_skip_test("the transport cannot stream");
    /* Arrival order: globex/0, acme/0, globex/1, acme/1: the stream passes
     * globex/1 before it meets acme/1, where it stops. */
    conf_id_push_ok(relay, conf_id_push("zed", "globex/", 0, 1));
    conf_id_push_ok(relay, conf_id_push("zed", "acme/", 0, 1));
    conf_id_push_ok(relay, conf_id_push("zed", "globex/", 1, 1));
    conf_id_push_ok(relay, conf_id_push("zed", "acme/", 1, 1));
    struct conf_id_stream s = {.until = "acme/1"};
    atomic_init(&s.stop, false);
    struct grove_pull_request *req = NULL;
    cr_assert_eq(grove_pull_request_new(&req), GROVE_OK);
    req->node_id = "edge";
    grove_err err = grove_peer_subscribe(edge, req, conf_id_on_batch, &s, &s.stop);
    grove_msg_free(req);
    cr_assert_eq(err, GROVE_OK, "stream: %s (%s)", grove_err_name(err), grove_errmsg());
    cr_assert_str_eq(s.pks, "acme/0,acme/1,");
    grove_peer_close(edge);
    grove_peer_close(relay);
    support_node_stop(&n);
}

/* The spoofing scenario's rounds: hub syncs (its cursor past the zero one,
 * which is never echo-filtered), `other` pushes records stamped hub naming
 * hub, which hub must still get or the two stay diverged; then hub pushes
 * one of its own, and its next pull gets `own_echo`. Returns hub's cursor. */
static struct grove_hlc conf_id_spoof_rounds(struct grove_peer *hub, struct grove_peer *other,
                                             const char *own_echo)
{
    conf_id_push_ok(hub, conf_id_push("hub", "acme/", 0, 1));
    char pks[512];
    struct grove_hlc cursor;
    conf_id_pull_pks(hub, "hub", NULL, pks, sizeof pks, &cursor);
    conf_id_push_ok(other, conf_id_push("hub", "acme/", 7, 2));
    conf_id_pull_pks(hub, "hub", &cursor, pks, sizeof pks, &cursor);
    cr_assert_str_eq(pks, "acme/7,acme/8,", "records claiming hub reach hub");
    conf_id_push_ok(hub, conf_id_push("hub", "acme/", 20, 1));
    conf_id_pull_pks(hub, "hub", &cursor, pks, sizeof pks, &cursor);
    cr_assert_str_eq(pks, own_echo, "hub's own push, pulled back");
    return cursor;
}

void conformance_identity_spoofing(const struct conformance_fixture *f)
{
    struct support_node n;
    conf_id_start(&n, f, conf_access());
    struct grove_peer *hub = conf_dial(f, n.url, "hub-secret-old", 0);
    struct grove_peer *relay = conf_dial(f, n.url, "relay-secret", 0);
    /* What hub itself pushed is an echo for hub and stays away. */
    struct grove_hlc cursor = conf_id_spoof_rounds(hub, relay, "");
    char pks[512];
    /* hub's credential cannot act as another node. */
    conf_id_forbidden(hub, conf_id_push("relay", "acme/", 30, 1), "hub naming relay");
    /* Nobody can push a change stamped with the serving node's own id: it
     * is skipped, the rest of the push goes in. */
    struct grove_push_request *req = conf_id_push("zed", "acme/", 40, 2);
    strcpy(req->changes[0].hlc.node, "server");
    req->changes[0].node_id = "server";
    uint64_t merged = 0;
    grove_err err = conf_id_try_push(relay, req, &merged);
    cr_assert_eq(err, GROVE_OK, "push: %s (%s)", grove_err_name(err), grove_errmsg());
    cr_assert_eq(merged, 1);
    conf_id_pull_pks(hub, "hub", &cursor, pks, sizeof pks, &cursor);
    cr_assert_str_eq(pks, "acme/41,");
    grove_peer_close(hub);
    grove_peer_close(relay);
    support_node_stop(&n);
}

void conformance_identity_shared_token(const struct conformance_fixture *f)
{
    struct support_node n;
    struct grove_access *tokens = NULL;
    cr_assert_eq(grove_access_from_tokens(&tokens, "shared", NULL), GROVE_OK);
    conf_id_start(&n, f, tokens);
    struct grove_peer *hub = conf_dial(f, n.url, "shared", 0);
    struct grove_peer *other = conf_dial(f, n.url, "shared", 0);
    /* Another holder of the one token names hub: the token proves no node.
     * What hub pushed itself comes back too: a no-op for hub, traffic only. */
    conf_id_spoof_rounds(hub, other, "acme/20,");
    grove_peer_close(hub);
    grove_peer_close(other);
    support_node_stop(&n);
}

void conformance_identity_rotation(const struct conformance_fixture *f)
{
    struct support_node n;
    conf_id_start(&n, f, conf_access());
    /* Both of hub's secrets open; anything else does not. */
    const char *tokens[] = {"hub-secret-old", "hub-secret-new", "hub-secret", NULL};
    grove_err want[] = {GROVE_OK, GROVE_OK, GROVE_EAUTH, GROVE_EAUTH};
    for (size_t i = 0; i < 4; i++) {
        struct grove_peer *p = conf_dial(f, n.url, tokens[i], 0);
        grove_err err = conf_id_try_push(p, conf_id_push("hub", "acme/", i, 1), NULL);
        cr_assert_eq(err, want[i], "token %zu: got %s (%s)", i, grove_err_name(err),
                     grove_errmsg());
        grove_peer_close(p);
    }
    /* A reload: the old secret is dropped, on every transport, from the
     * next request on. */
    struct grove_identity hub = {.name = "hub",
                                 .node = "hub",
                                 .read.all = true,
                                 .write.all = true,
                                 .secrets = {"hub-secret-new"}};
    struct grove_access *fresh = NULL;
    cr_assert_eq(grove_access_new(&fresh, &hub, 1), GROVE_OK);
    grove_listener_set_access(n.node.listeners[0], fresh);
    grove_access_unref(fresh);
    for (size_t i = 0; i < 2; i++) {
        struct grove_peer *p = conf_dial(f, n.url, tokens[i], 0);
        grove_err err = conf_id_try_push(p, conf_id_push("hub", "acme/", 10 + i, 1), NULL);
        cr_assert_eq(err, i == 0 ? GROVE_EAUTH : GROVE_OK, "after reload, token %zu: got %s", i,
                     grove_err_name(err));
        grove_peer_close(p);
    }
    /* Back to a bare token, as --token stands for. */
    cr_assert_eq(grove_listener_set_tokens(n.node.listeners[0], "plain", NULL), GROVE_OK);
    struct grove_peer *p = conf_dial(f, n.url, "plain", 0);
    cr_assert_eq(conf_id_try_push(p, conf_id_push("anyone", "x/", 0, 1), NULL), GROVE_OK);
    grove_peer_close(p);
    support_node_stop(&n);
}

/* A dialer with certificate cert (and key) of the test CA, and token (may be
 * NULL): listeners with a CA may refuse a client without a certificate. */
static struct grove_peer *conf_id_dial_cert(const struct conformance_fixture *f, const char *url,
                                            const char *cert, const char *key, const char *token)
{
    struct grove_dial_options d = *f->dial;
    d.token = token;
    d.cert_file = cert;
    d.key_file = key;
    struct grove_peer *peer = NULL;
    cr_assert_eq(grove_peer_open(&peer, url, &d), GROVE_OK, "dial %s: %s", url, grove_errmsg());
    return peer;
}

void conformance_identity_certificate(const struct conformance_fixture *f)
{
    if (!f->cert_identities)
        cr_skip_test("this transport does not tell client certificates' names");
    conf_setup(f);
    const struct support_certs *certs = support_certs();
    /* One identity by the common name of the test CA's client certificate;
     * one by the whole subject DN of another, in the form https writes
     * (docs/operations.md, "Identities"), reading and writing acme/ rows. */
    struct grove_identity ids[] = {
        {.name = "edge-cert",
         .role = GROVE_ROLE_CLIENT,
         .node = "edge",
         .read.all = true,
         .write.all = true,
         .cert_subject = "grove-client"},
        {.name = "rich-cert",
         .role = GROVE_ROLE_CLIENT,
         .node = "rich",
         .read = {.tables = conf_docs, .table_count = 1},
         .write = {.tables = conf_docs, .table_count = 1},
         .prefix = "acme/",
         .cert_subject = SUPPORT_RICH_DN}, /* the same on every transport */
        {.name = "relay", .read.all = true, .write.all = true, .secrets = {"relay-secret"}},
    };
    struct grove_access *access = NULL;
    cr_assert_eq(grove_access_new(&access, ids, 3), GROVE_OK, "%s", grove_errmsg());
    struct support_node n;
    conf_node_start(&n, f, &(struct grove_listen_options){.access = access, .ca_file = certs->ca});
    grove_access_unref(access);

    /* The client acts as its own node only. */
    struct grove_peer *edge =
        conf_id_dial_cert(f, n.url, certs->client_cert, certs->client_key, NULL);
    conf_id_push_ok(edge, conf_id_push("edge", "a/", 0, 1));
    conf_id_forbidden(edge, conf_id_push("hub", "a/", 1, 1), "the certificate's client as hub");
    grove_peer_close(edge);

    /* A certificate the CA signed that names no identity: unauthenticated,
     * for a push and for a pull. */
    struct grove_peer *stranger =
        conf_id_dial_cert(f, n.url, certs->stranger_cert, certs->stranger_key, NULL);
    grove_err err = conf_id_try_push(stranger, conf_id_push("edge", "a/", 2, 1), NULL);
    cr_assert_eq(err, GROVE_EAUTH, "a stranger's push: %s (%s)", grove_err_name(err),
                 grove_errmsg());
    cr_assert(strstr(grove_errmsg(), "no identity"), "the names reached the core: %s",
              grove_errmsg());
    struct grove_pull_request *pull = NULL;
    cr_assert_eq(grove_pull_request_new(&pull), GROVE_OK);
    struct grove_pull_response *resp = NULL;
    err = grove_peer_pull(stranger, pull, &resp);
    grove_msg_free(pull);
    grove_msg_free(resp);
    cr_assert_eq(err, GROVE_EAUTH, "a stranger's pull: %s", grove_err_name(err));
    grove_peer_close(stranger);

    /* By its subject DN: writes in its scope go in, and its pulls hold its
     * scope only. (A token comes before the certificate.) */
    struct grove_peer *relay =
        conf_id_dial_cert(f, n.url, certs->stranger_cert, certs->stranger_key, "relay-secret");
    conf_id_push_ok(relay, conf_id_push("zed", "globex/", 0, 1));
    struct grove_peer *rich = conf_id_dial_cert(f, n.url, certs->rich_cert, certs->rich_key, NULL);
    conf_id_push_ok(rich, conf_id_push("rich", "acme/", 0, 1));
    conf_id_forbidden(rich, conf_id_push("rich", "globex/", 1, 1), "outside its prefix");
    char pks[512];
    conf_id_pull_pks(rich, "rich", NULL, pks, sizeof pks, NULL);
    cr_assert_str_eq(pks, "acme/0,", "the DN's identity reads its scope only");
    conf_id_pull_pks(relay, "reader", NULL, pks, sizeof pks, NULL);
    cr_assert_str_eq(pks, "a/0,globex/0,acme/0,");
    grove_peer_close(rich);
    grove_peer_close(relay);
    support_node_stop(&n);
}
