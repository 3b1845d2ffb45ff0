/* The transport registry and the thin wrappers through which the core calls
 * transport ops (the SQLite VFS pattern: checks live here, not at call sites). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/transport.h"

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

static const struct grove_transport *registry_find_locked(const char *scheme, size_t len)
{
    for (size_t i = 0; i < registry.count; i++)
        for (const char *const *s = registry.items[i]->schemes; *s; s++)
            if (strlen(*s) == len && memcmp(*s, scheme, len) == 0)
                return registry.items[i];
    return NULL;
}

grove_err grove_transport_register(const struct grove_transport *t)
{
    const struct grove_dialer_ops *d = t->dialer;
    const struct grove_listener_ops *l = t->listener;
    if (!t->name || !t->schemes || !t->schemes[0] || !d || !d->open || !d->pull || !d->push ||
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

grove_err grove_transport_find(const char *url, const struct grove_transport **out)
{
    const char *sep = strstr(url, "://");
    if (!sep)
        return grove_error_set(GROVE_EINVAL, "\"%s\" is not a URL (expected scheme://...)", url);
    pthread_mutex_lock(&registry.lock);
    registry_seed_locked();
    *out = registry_find_locked(url, (size_t)(sep - url));
    pthread_mutex_unlock(&registry.lock);
    if (!*out)
        return grove_error_set(GROVE_ENOTSUP, "no transport for scheme \"%.*s\" (built in: %s)",
                               (int)(sep - url), url, grove_transport_schemes());
    return GROVE_OK;
}

const char *grove_transport_schemes(void)
{
    pthread_mutex_lock(&registry.lock);
    registry_seed_locked();
    pthread_mutex_unlock(&registry.lock);
    return registry.schemes;
}

struct grove_peer {
    const struct grove_transport *transport;
    void *self;
    char *url;
};

grove_err grove_peer_open(struct grove_peer **out, const char *url,
                          const struct grove_dial_options *opts)
{
    static const struct grove_dial_options defaults;
    *out = NULL;
    const struct grove_transport *t;
    grove_err err = grove_transport_find(url, &t);
    if (err)
        return err;
    struct grove_peer *peer = calloc(1, sizeof *peer);
    if (!peer || !(peer->url = strdup(url))) {
        free(peer);
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    peer->transport = t;
    err = t->dialer->open(url, opts ? opts : &defaults, &peer->self);
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

grove_err grove_peer_pull(struct grove_peer *peer, const struct grove_pull_request *req,
                          struct grove_pull_response **out)
{
    *out = NULL;
    grove_err err = peer->transport->dialer->pull(peer->self, req, out);
    if (err) {
        grove_msg_free(*out);
        *out = NULL;
        return grove_error_prefix(err, "pull from %s: ", peer->url);
    }
    return GROVE_OK;
}

grove_err grove_peer_push(struct grove_peer *peer, const struct grove_push_request *req,
                          struct grove_push_response **out)
{
    *out = NULL;
    grove_err err = peer->transport->dialer->push(peer->self, req, out);
    if (err) {
        grove_msg_free(*out);
        *out = NULL;
        return grove_error_prefix(err, "push to %s: ", peer->url);
    }
    return GROVE_OK;
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
};

grove_err grove_listener_open(struct grove_listener **out, const char *url,
                              struct grove_server *server, const struct grove_listen_options *opts)
{
    static const struct grove_listen_options defaults;
    *out = NULL;
    const struct grove_transport *t;
    grove_err err = grove_transport_find(url, &t);
    if (err)
        return err;
    if (!t->listener)
        return grove_error_set(GROVE_ENOTSUP, "transport %s cannot listen (%s)", t->name, url);
    struct grove_listener *l = calloc(1, sizeof *l);
    if (!l)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    l->transport = t;
    err = t->listener->open(url, server, opts ? opts : &defaults, &l->self);
    if (err) {
        free(l);
        return grove_error_prefix(err, "listen on %s: ", url);
    }
    *out = l;
    return GROVE_OK;
}

void grove_listener_close(struct grove_listener *l)
{
    if (!l)
        return;
    l->transport->listener->close(l->self);
    free(l);
}

grove_err grove_url_parse(const char *url, struct grove_url *out)
{
    memset(out, 0, sizeof *out);
    const char *sep = strstr(url, "://");
    if (!sep || sep == url || (size_t)(sep - url) >= sizeof out->scheme)
        return grove_error_set(GROVE_EINVAL, "\"%s\" is not a URL (expected scheme://...)", url);
    memcpy(out->scheme, url, (size_t)(sep - url));
    const char *host = sep + 3;
    const char *path = strchr(host, '/');
    size_t hostport_len = path ? (size_t)(path - host) : strlen(host);
    const char *port = NULL;
    size_t host_len = hostport_len;
    if (host[0] == '[') {
        const char *close = memchr(host, ']', hostport_len);
        if (!close)
            return grove_error_set(GROVE_EINVAL, "%s: unterminated [ in host", url);
        host++;
        host_len = (size_t)(close - host);
        if (close + 1 < host + hostport_len - 1 && close[1] == ':')
            port = close + 2;
    } else {
        const char *colon = memchr(host, ':', hostport_len);
        if (colon) {
            host_len = (size_t)(colon - host);
            port = colon + 1;
        }
    }
    if (host_len >= sizeof out->host)
        return grove_error_set(GROVE_EINVAL, "%s: host too long", url);
    memcpy(out->host, host, host_len);
    if (port) {
        char *end;
        long p = strtol(port, &end, 10);
        if (end == port || p < 0 || p > 65535 || (path ? end != path : *end != '\0'))
            return grove_error_set(GROVE_EINVAL, "%s: bad port", url);
        out->port = (int)p;
    }
    if (path) {
        size_t n = strlen(path);
        while (n > 0 && path[n - 1] == '/')
            n--; /* "http://h/sync/" and "http://h/sync" are the same base */
        if (n >= sizeof out->path)
            return grove_error_set(GROVE_EINVAL, "%s: path too long", url);
        memcpy(out->path, path, n);
    }
    return GROVE_OK;
}

bool grove_token_equal(const char *expected, const char *presented, size_t presented_len)
{
    size_t expected_len = strlen(expected);
    /* Compare every byte whatever the lengths, so timing tells nothing. */
    unsigned char diff = expected_len != presented_len;
    for (size_t i = 0; i < presented_len; i++)
        diff |= (unsigned char)(presented[i] ^ expected[expected_len ? i % expected_len : 0]);
    return diff == 0 && expected_len == presented_len;
}
