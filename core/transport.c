/* The transport registry and the wrappers through which the core calls
 * transport ops (the SQLite VFS pattern: the checks, the URL parsing, the
 * defaults and the codec exchange live here, not in every transport). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/sys/error.h"
#include "grove/sys/transport.h"
#include "guard.h"

#define REGISTRY_MAX 16

static struct {
    pthread_mutex_t lock;
    const struct grove_transport *items[REGISTRY_MAX];
    size_t count;
    char schemes[512];
} registry = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* inproc is always there: tests and the simulator need no registration. */
static void registry_seed_locked(void)
{
    if (registry.count == 0) {
        registry.items[registry.count++] = &grove_transport_inproc;
        snprintf(registry.schemes, sizeof registry.schemes, "inproc");
    }
}

static bool registry_has_scheme(const char *const *list, const char *scheme, size_t len)
{
    for (; list && *list; list++)
        if (strlen(*list) == len && memcmp(*list, scheme, len) == 0)
            return true;
    return false;
}

static const struct grove_transport *registry_find_locked(const char *scheme, size_t len)
{
    for (size_t i = 0; i < registry.count; i++)
        if (registry_has_scheme(registry.items[i]->schemes, scheme, len))
            return registry.items[i];
    return NULL;
}

grove_err grove_transport_register(const struct grove_transport *t)
{
    const struct grove_dialer_ops *d = t->dialer;
    const struct grove_listener_ops *l = t->listener;
    if (!t->name || !t->schemes || !t->schemes[0] || !t->codec || !d || !d->open || !d->call ||
        !d->close || (l && (!l->open || !l->close)))
        return grove_error_set(GROVE_EINVAL, "transport %s: a mandatory op is missing",
                               t->name ? t->name : "(unnamed)");
    grove_err err = GROVE_OK;
    pthread_mutex_lock(&registry.lock);
    registry_seed_locked();
    for (size_t i = 0; i < registry.count; i++)
        if (registry.items[i] == t)
            goto unlock; /* registering twice is harmless */
    for (const char *const *s = t->schemes; *s; s++)
        if (registry_find_locked(*s, strlen(*s))) {
            err = grove_error_set(GROVE_EINVAL, "transport %s: scheme %s is taken", t->name, *s);
            goto unlock;
        }
    if (registry.count == REGISTRY_MAX) {
        err = grove_error_set(GROVE_EINVAL, "transport registry is full");
        goto unlock;
    }
    registry.items[registry.count++] = t;
    for (const char *const *s = t->schemes; *s; s++) {
        size_t used = strlen(registry.schemes);
        snprintf(registry.schemes + used, sizeof registry.schemes - used, ", %s", *s);
    }
unlock:
    pthread_mutex_unlock(&registry.lock);
    return err;
}

size_t grove_transport_count(void)
{
    pthread_mutex_lock(&registry.lock);
    registry_seed_locked();
    size_t n = registry.count;
    pthread_mutex_unlock(&registry.lock);
    return n;
}

const struct grove_transport *grove_transport_at(size_t index)
{
    pthread_mutex_lock(&registry.lock);
    registry_seed_locked();
    const struct grove_transport *t = index < registry.count ? registry.items[index] : NULL;
    pthread_mutex_unlock(&registry.lock);
    return t;
}

const char *grove_transport_schemes(void)
{
    pthread_mutex_lock(&registry.lock);
    registry_seed_locked();
    pthread_mutex_unlock(&registry.lock);
    return registry.schemes;
}

/* Parses url and finds its transport; an empty host only for path schemes. */
static grove_err transport_resolve(const char *url, struct grove_url *u,
                                   const struct grove_transport **out)
{
    grove_err err = grove_url_parse(url, u);
    if (err)
        return err;
    pthread_mutex_lock(&registry.lock);
    registry_seed_locked();
    *out = registry_find_locked(u->scheme, strlen(u->scheme));
    pthread_mutex_unlock(&registry.lock);
    if (!*out)
        return grove_error_set(GROVE_ENOTSUP, "no transport for scheme \"%s\" (built in: %s)",
                               u->scheme, grove_transport_schemes());
    bool path_scheme = registry_has_scheme((*out)->path_schemes, u->scheme, strlen(u->scheme));
    if (path_scheme && u->host[0])
        return grove_error_set(GROVE_EINVAL, "%s:// takes a path, not a host (%s:///path)",
                               u->scheme, u->scheme);
    if (path_scheme ? !u->path[0] : !u->host[0])
        return grove_error_set(GROVE_EINVAL, "no %s after %s://", path_scheme ? "path" : "host",
                               u->scheme);
    return GROVE_OK;
}

grove_err grove_transport_check_url(const char *url)
{
    struct grove_url u;
    const struct grove_transport *t;
    return transport_resolve(url, &u, &t);
}

struct grove_peer {
    const struct grove_transport *transport;
    const struct grove_codec *codec;
    void *self;
    char *url;
};

grove_err grove_peer_open(struct grove_peer **out, const char *url,
                          const struct grove_dial_options *opts)
{
    *out = NULL;
    struct grove_url u;
    const struct grove_transport *t;
    struct grove_dial_options o = opts ? *opts : (struct grove_dial_options){0};
    if (o.connect_timeout_ms <= 0)
        o.connect_timeout_ms = GROVE_DIAL_CONNECT_TIMEOUT_MS;
    if (o.timeout_ms <= 0)
        o.timeout_ms = GROVE_DIAL_TIMEOUT_MS;
    grove_err err = transport_resolve(url, &u, &t);
    if (err)
        return grove_error_prefix(err, "peer %s: ", url);
    struct grove_peer *peer = calloc(1, sizeof *peer);
    if (!peer || !(peer->url = strdup(url))) {
        free(peer);
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    peer->transport = t;
    peer->codec = t->codec;
    err = t->dialer->open(&u, &o, &peer->codec, &peer->self);
    if (err) {
        grove_error_prefix(err, "peer %s: ", url);
        free(peer->url);
        free(peer);
        return err;
    }
    *out = peer;
    return GROVE_OK;
}

const char *grove_peer_url(const struct grove_peer *peer)
{
    return peer->url;
}

const struct grove_codec *grove_peer_codec(const struct grove_peer *peer)
{
    return peer->codec;
}

void grove_reply_release(struct grove_reply *reply)
{
    if (reply->release)
        reply->release(reply->owner);
    *reply = (struct grove_reply){0};
}

grove_err grove_peer_call(struct grove_peer *peer, enum grove_call_kind kind,
                          const struct grove_buf *request, struct grove_reply *reply)
{
    *reply = (struct grove_reply){0};
    grove_err err = peer->transport->dialer->call(peer->self, kind, request, reply);
    if (err)
        grove_reply_release(reply);
    return err;
}

static const char *const peer_call_verb[] = {
    [GROVE_CALL_PULL] = "pull from",
    [GROVE_CALL_PUSH] = "push to",
};

/* The client half of the exchange, around the codec's encode and decode:
 * sends the encoded request (`encoded` is the encoder's result; request is
 * freed either way) and returns the answer's bytes. */
static grove_err peer_send(struct grove_peer *peer, enum grove_call_kind kind, grove_err encoded,
                           struct grove_buf *request, struct grove_reply *reply)
{
    grove_err err = encoded ? encoded : grove_peer_call(peer, kind, request, reply);
    grove_buf_free(request);
    return err ? grove_error_prefix(err, "%s %s: ", peer_call_verb[kind], peer->url) : GROVE_OK;
}

/* Releases the answer's bytes; `decoded` is the decoder's result. An answer
 * that does not decode means the peer speaks something else: GROVE_EPROTO. */
static grove_err peer_received(struct grove_peer *peer, enum grove_call_kind kind,
                               grove_err decoded, struct grove_reply *reply)
{
    grove_reply_release(reply);
    if (decoded)
        return grove_error_prefix(GROVE_EPROTO, "%s %s: bad answer: ", peer_call_verb[kind],
                                  peer->url);
    return GROVE_OK;
}

grove_err grove_peer_pull(struct grove_peer *peer, const struct grove_pull_request *req,
                          struct grove_pull_response **out)
{
    struct grove_buf request = {0};
    struct grove_reply reply;
    *out = NULL;
    grove_err err = peer_send(peer, GROVE_CALL_PULL,
                              peer->codec->encode_pull_request(req, &request), &request, &reply);
    if (err)
        return err;
    return peer_received(peer, GROVE_CALL_PULL,
                         peer->codec->decode_pull_response(reply.data, reply.len, out), &reply);
}

grove_err grove_peer_push(struct grove_peer *peer, const struct grove_push_request *req,
                          struct grove_push_response **out)
{
    struct grove_buf request = {0};
    struct grove_reply reply;
    *out = NULL;
    grove_err err = peer_send(peer, GROVE_CALL_PUSH,
                              peer->codec->encode_push_request(req, &request), &request, &reply);
    if (err)
        return err;
    return peer_received(peer, GROVE_CALL_PUSH,
                         peer->codec->decode_push_response(reply.data, reply.len, out), &reply);
}

bool grove_peer_can_subscribe(const struct grove_peer *peer)
{
    return peer->transport->dialer->subscribe != NULL;
}

grove_err grove_peer_subscribe(struct grove_peer *peer, const struct grove_pull_request *req,
                               grove_batch_fn fn, void *user, const atomic_bool *stop)
{
    if (!peer->transport->dialer->subscribe)
        return grove_error_set(GROVE_ENOTSUP, "%s: transport %s cannot stream", peer->url,
                               peer->transport->name);
    grove_err err = peer->transport->dialer->subscribe(peer->self, req, fn, user, stop);
    return err ? grove_error_prefix(err, "stream from %s: ", peer->url) : GROVE_OK;
}

void grove_peer_cancel(struct grove_peer *peer, bool on)
{
    if (peer && peer->transport->dialer->cancel)
        peer->transport->dialer->cancel(peer->self, on);
}

void grove_peer_close(struct grove_peer *peer)
{
    if (!peer)
        return;
    peer->transport->dialer->close(peer->self);
    free(peer->url);
    free(peer);
}

struct grove_listener {
    const struct grove_transport *transport;
    void *self;
    struct grove_guard *guard; /* every request is admitted through it */
};

/* The table a listener starts with: the options' identities, else what its
 * tokens stand for. */
static grove_err listener_guard(const struct grove_listen_options *o, const char *transport,
                                struct grove_guard **out)
{
    struct grove_access *tokens = NULL;
    grove_err err =
        o->access ? GROVE_OK : grove_access_from_tokens(&tokens, o->token, o->admin_token);
    if (!err)
        err = grove_guard_new(out, o->access ? o->access : tokens, transport);
    grove_access_unref(tokens);
    return err;
}

grove_err grove_listener_open(struct grove_listener **out, const char *url,
                              struct grove_server *server, const struct grove_listen_options *opts)
{
    *out = NULL;
    struct grove_url u;
    const struct grove_transport *t;
    struct grove_listen_options o = opts ? *opts : (struct grove_listen_options){0};
    if (o.max_body == 0)
        o.max_body = GROVE_LISTEN_MAX_BODY;
    if (o.keepalive_ms <= 0)
        o.keepalive_ms = GROVE_LISTEN_KEEPALIVE_MS;
    if (o.head_timeout_ms <= 0)
        o.head_timeout_ms = GROVE_LISTEN_HEAD_TIMEOUT_MS;
    if (o.body_timeout_ms <= 0)
        o.body_timeout_ms = GROVE_LISTEN_BODY_TIMEOUT_MS;
    if (o.max_connections == 0)
        o.max_connections = GROVE_LISTEN_MAX_CONNECTIONS;
    if (o.max_connections_per_address == 0)
        o.max_connections_per_address = GROVE_LISTEN_MAX_PER_ADDRESS;
    grove_err err = transport_resolve(url, &u, &t);
    if (!err && !t->listener)
        err = grove_error_set(GROVE_ENOTSUP, "transport %s cannot listen", t->name);
    struct grove_listener *l = NULL;
    if (!err && !(l = calloc(1, sizeof *l)))
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
    if (!err) {
        l->transport = t;
        err = listener_guard(&o, t->name, &l->guard);
    }
    if (!err) {
        o.guard = l->guard;
        err = t->listener->open(&u, server, &o, &l->self);
    }
    if (err) {
        if (l)
            grove_guard_free(l->guard);
        free(l);
        return grove_error_prefix(err, "listen on %s: ", url);
    }
    *out = l;
    return GROVE_OK;
}

grove_err grove_listener_set_tokens(struct grove_listener *l, const char *token,
                                    const char *admin_token)
{
    struct grove_access *access;
    grove_err err = grove_access_from_tokens(&access, token, admin_token);
    if (err)
        return err;
    grove_guard_set(l->guard, access);
    grove_access_unref(access);
    return GROVE_OK;
}

void grove_listener_set_access(struct grove_listener *l, struct grove_access *access)
{
    grove_guard_set(l->guard, access);
}

void grove_listener_close(struct grove_listener *l)
{
    if (!l)
        return;
    l->transport->listener->close(l->self);
    grove_guard_free(l->guard);
    free(l);
}
