/* Identity tables and listener guards (grove/access.h, guard.h): who a
 * request comes from, and the checks made against that identity
 * (docs/operations.md, "Identities"). Tables are immutable and counted, so a
 * reload swaps one in while requests in flight keep theirs. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grove/log.h"
#include "grove/sys/error.h"
#include "guard.h"

struct grove_access {
    atomic_size_t refs;
    uint64_t serial; /* unique in the process: tells tables apart in a stream's key */
    struct grove_identity *ids;
    size_t count;
    /* Made from tokens: the node id a pull names is believed for its echoes,
     * and on an open table a pusher's too (docs/protocol.md, "Echo rule"). */
    bool from_tokens;
    const struct grove_identity
        *anonymous;             /* who a request without credentials is; NULL: refused */
    struct grove_identity open; /* the anonymous identity of an open table */
    char *strings;              /* one block for every copied string */
};

struct grove_guard {
    pthread_mutex_t lock;
    struct grove_access *access;
    const char *transport;
};

/* ---- tables --------------------------------------------------------------- */

static size_t access_strlen(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static size_t access_identity_bytes(const struct grove_identity *id)
{
    size_t n = access_strlen(id->name) + access_strlen(id->node) + access_strlen(id->prefix) +
               access_strlen(id->cert_subject);
    for (int i = 0; i < GROVE_IDENTITY_SECRETS; i++)
        n += access_strlen(id->secrets[i]);
    /* Each scope's pointer array, and the padding that aligns it. */
    n += 2 * (sizeof(char *) - 1);
    for (size_t i = 0; i < id->read.table_count; i++)
        n += access_strlen(id->read.tables[i]) + sizeof(char *);
    for (size_t i = 0; i < id->write.table_count; i++)
        n += access_strlen(id->write.tables[i]) + sizeof(char *);
    return n;
}

/* Copies into the block at *p (each scope: its aligned pointer array, then
 * its strings). */
static const char *access_copy_str(char **p, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*p, s, n);
    const char *out = *p;
    *p += n;
    return out;
}

static void access_copy_scope(char **p, struct grove_scope *scope)
{
    if (!scope->table_count) {
        scope->tables = NULL;
        return;
    }
    *p += (sizeof(char *) - (uintptr_t)*p % sizeof(char *)) % sizeof(char *);
    const char **tables = (const char **)(void *)*p;
    *p += scope->table_count * sizeof(char *);
    for (size_t i = 0; i < scope->table_count; i++)
        tables[i] = access_copy_str(p, scope->tables[i]);
    scope->tables = tables;
}

static grove_err access_check_identity(const struct grove_identity *ids, size_t i)
{
    const struct grove_identity *id = &ids[i];
    if (!id->name || !id->name[0])
        return grove_error_set(GROVE_EINVAL, "identity %zu: no name", i + 1);
    for (size_t j = 0; j < i; j++)
        if (strcmp(ids[j].name, id->name) == 0)
            return grove_error_set(GROVE_EINVAL, "identity %s: given twice", id->name);
    bool secret = false;
    for (int k = 0; k < GROVE_IDENTITY_SECRETS; k++) {
        if (id->secrets[k] && !id->secrets[k][0])
            return grove_error_set(GROVE_EINVAL, "identity %s: an empty secret", id->name);
        secret |= id->secrets[k] != NULL;
    }
    if (!secret && !(id->cert_subject && id->cert_subject[0]))
        return grove_error_set(GROVE_EINVAL, "identity %s: no secret and no cert-subject",
                               id->name);
    if (id->role == GROVE_ROLE_CLIENT && !(id->node && id->node[0]))
        return grove_error_set(GROVE_EINVAL, "identity %s: a client needs a node", id->name);
    if (id->node && strlen(id->node) > GROVE_NODE_ID_MAX)
        return grove_error_set(GROVE_EINVAL, "identity %s: node longer than %d bytes", id->name,
                               GROVE_NODE_ID_MAX);
    return GROVE_OK;
}

static grove_err access_alloc(struct grove_access **out, const struct grove_identity *ids,
                              size_t count)
{
    *out = NULL;
    size_t bytes = 1;
    for (size_t i = 0; i < count; i++) {
        grove_err err = access_check_identity(ids, i);
        if (err)
            return err;
        bytes += access_identity_bytes(&ids[i]);
    }
    struct grove_access *a = calloc(1, sizeof *a);
    if (a) {
        a->ids = calloc(count ? count : 1, sizeof *a->ids);
        a->strings = malloc(bytes);
    }
    if (!a || !a->ids || !a->strings) {
        grove_access_unref(a);
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    static atomic_uint_fast64_t serials;
    atomic_init(&a->refs, 1);
    a->serial = atomic_fetch_add(&serials, 1) + 1;
    char *p = a->strings;
    for (size_t i = 0; i < count; i++) {
        struct grove_identity *id = &a->ids[i];
        *id = ids[i];
        access_copy_scope(&p, &id->read);
        access_copy_scope(&p, &id->write);
        id->name = access_copy_str(&p, id->name);
        id->node = id->node && id->node[0] ? access_copy_str(&p, id->node) : NULL;
        id->prefix = id->prefix && id->prefix[0] ? access_copy_str(&p, id->prefix) : NULL;
        id->cert_subject = access_copy_str(&p, id->cert_subject);
        for (int k = 0; k < GROVE_IDENTITY_SECRETS; k++)
            id->secrets[k] = access_copy_str(&p, id->secrets[k]);
    }
    a->count = count;
    *out = a;
    return GROVE_OK;
}

grove_err grove_access_new(struct grove_access **out, const struct grove_identity *identities,
                           size_t count)
{
    return access_alloc(out, identities, count);
}

grove_err grove_access_from_tokens(struct grove_access **out, const char *token,
                                   const char *admin_token)
{
    struct grove_identity ids[2] = {0};
    size_t n = 0;
    if (token)
        ids[n++] = (struct grove_identity){.name = "token",
                                           .read.all = true,
                                           .write.all = true,
                                           .admin = !admin_token,
                                           .secrets = {token}};
    if (admin_token)
        ids[n++] =
            (struct grove_identity){.name = "admin", .admin = true, .secrets = {admin_token}};
    grove_err err = access_alloc(out, ids, n);
    if (err)
        return err;
    struct grove_access *a = *out;
    a->from_tokens = true;
    if (!token) {
        a->open = (struct grove_identity){
            .name = "anonymous", .read.all = true, .write.all = true, .admin = !admin_token};
        a->anonymous = &a->open;
    }
    return GROVE_OK;
}

struct grove_access *grove_access_ref(struct grove_access *access)
{
    if (access)
        atomic_fetch_add(&access->refs, 1);
    return access;
}

void grove_access_unref(struct grove_access *access)
{
    if (!access || atomic_fetch_sub(&access->refs, 1) != 1)
        return;
    free(access->strings);
    free(access->ids);
    free(access);
}

size_t grove_access_count(const struct grove_access *access)
{
    return access->count;
}

const struct grove_identity *grove_access_at(const struct grove_access *access, size_t index)
{
    return index < access->count ? &access->ids[index] : NULL;
}

/* ---- guards --------------------------------------------------------------- */

grove_err grove_guard_new(struct grove_guard **out, struct grove_access *access,
                          const char *transport)
{
    struct grove_guard *g = calloc(1, sizeof *g);
    if (!g)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    pthread_mutex_init(&g->lock, NULL);
    g->access = grove_access_ref(access);
    g->transport = transport;
    *out = g;
    return GROVE_OK;
}

void grove_guard_set(struct grove_guard *guard, struct grove_access *access)
{
    grove_access_ref(access);
    pthread_mutex_lock(&guard->lock);
    struct grove_access *old = guard->access;
    guard->access = access;
    pthread_mutex_unlock(&guard->lock);
    grove_access_unref(old);
}

void grove_guard_free(struct grove_guard *guard)
{
    if (!guard)
        return;
    grove_access_unref(guard->access);
    pthread_mutex_destroy(&guard->lock);
    free(guard);
}

/* The identity whose secret the token is. Every secret is compared, in
 * constant time, so timing tells neither which matched nor how many. */
static const struct grove_identity *guard_by_token(const struct grove_access *a, const char *token,
                                                   size_t len)
{
    const struct grove_identity *found = NULL;
    for (size_t i = 0; i < a->count; i++)
        for (int k = 0; k < GROVE_IDENTITY_SECRETS; k++)
            if (a->ids[i].secrets[k] && grove_token_equal(a->ids[i].secrets[k], token, len) &&
                !found)
                found = &a->ids[i];
    return found;
}

static const struct grove_identity *guard_by_cert(const struct grove_access *a,
                                                  const struct grove_credentials *cred)
{
    for (size_t i = 0; i < a->count; i++)
        for (size_t k = 0; a->ids[i].cert_subject && cred->cert && k < cred->cert->count; k++)
            if (strcmp(a->ids[i].cert_subject, cred->cert->text[k]) == 0)
                return &a->ids[i];
    return NULL;
}

/* Finds who cred is, or sets the reason it is nobody. */
static grove_err guard_identify(const struct grove_access *a, const struct grove_credentials *cred,
                                const struct grove_identity **out)
{
    static const char scheme[] = "Bearer ";
    const size_t scheme_len = sizeof scheme - 1;
    *out = NULL;
    if (cred->authorization) {
        const char *v = cred->authorization;
        size_t len = cred->authorization_len, skip = scheme_len;
        if (len <= scheme_len || strncasecmp(v, scheme, scheme_len) != 0) {
            if (a->anonymous)
                return (*out = a->anonymous), GROVE_OK;
            return grove_error_set(GROVE_EAUTH, "expected \"Bearer <token>\" credentials");
        }
        while (skip < len && v[skip] == ' ')
            skip++;
        if ((*out = guard_by_token(a, v + skip, len - skip)))
            return GROVE_OK;
        if (a->anonymous) /* an open table takes any credentials, as before */
            return (*out = a->anonymous), GROVE_OK;
        return grove_error_set(GROVE_EAUTH, "wrong bearer token (unknown credential)");
    }
    if ((*out = guard_by_cert(a, cred)))
        return GROVE_OK;
    if ((*out = a->anonymous))
        return GROVE_OK;
    if (cred->cert && cred->cert->count)
        return grove_error_set(GROVE_EAUTH,
                               "client certificate of no identity (unknown credential)");
    return grove_error_set(GROVE_EAUTH, "missing bearer token");
}

grove_err grove_guard_admit(struct grove_guard *guard, const struct grove_credentials *cred,
                            enum grove_need need, struct grove_caller *out)
{
    memset(out, 0, sizeof *out);
    if (!guard)
        return GROVE_OK;
    pthread_mutex_lock(&guard->lock);
    struct grove_access *a = grove_access_ref(guard->access);
    pthread_mutex_unlock(&guard->lock);
    const struct grove_identity *id = NULL;
    grove_err err = guard_identify(a, cred, &id);
    if (!err && need == GROVE_NEED_ADMIN && !id->admin)
        err = grove_error_set(GROVE_EFORBIDDEN, "identity %s may not call the admin API", id->name);
    if (err) {
        grove_log_refused(guard->transport, cred->op, cred->peer_addr, grove_err_name(err),
                          grove_errmsg());
        grove_access_unref(a);
        return err;
    }
    out->access = a;
    out->identity = id == &a->open ? NULL : id;
    if (cred->peer_addr)
        snprintf(out->peer_addr, sizeof out->peer_addr, "%s", cred->peer_addr);
    return GROVE_OK;
}

bool grove_guard_open(struct grove_guard *guard)
{
    if (!guard)
        return true;
    pthread_mutex_lock(&guard->lock);
    bool open = guard->access->anonymous == &guard->access->open && guard->access->open.read.all;
    pthread_mutex_unlock(&guard->lock);
    return open;
}

void grove_caller_copy(struct grove_caller *out, const struct grove_caller *in)
{
    *out = *in;
    grove_access_ref(out->access);
}

void grove_caller_release(struct grove_caller *caller)
{
    if (!caller)
        return;
    grove_access_unref(caller->access);
    memset(caller, 0, sizeof *caller);
}

/* ---- checks --------------------------------------------------------------- */

/* The identity whose scopes apply; NULL: none do (the node, an open table). */
static const struct grove_identity *caller_id(const struct grove_caller *c)
{
    return c ? c->identity : NULL;
}

const char *grove_caller_name(const struct grove_caller *caller)
{
    const struct grove_identity *id = caller_id(caller);
    return id ? id->name : caller && caller->access ? "anonymous" : "node";
}

uint64_t grove_caller_serial(const struct grove_caller *caller)
{
    return caller && caller->access ? caller->access->serial : 0;
}

bool grove_caller_limited(const struct grove_caller *caller, bool write)
{
    const struct grove_identity *id = caller_id(caller);
    if (!id)
        return false;
    const struct grove_scope *s = write ? &id->write : &id->read;
    return !s->all || id->prefix;
}

const char *grove_caller_source(const struct grove_caller *caller, const char *claimed)
{
    const struct grove_identity *id = caller_id(caller);
    if (id && id->node)
        return id->node;
    /* The node itself, or anyone on an open listener, where nothing is
     * proven and anyone may write anything: the claim, as before identities.
     * A credential without a node (a shared token, a peer identity) proves
     * who holds it, not which node it is. */
    if (!caller || !caller->access || (caller->access->from_tokens && !id))
        return claimed;
    return NULL;
}

const char *grove_caller_node(const struct grove_caller *caller, const char *claimed)
{
    const struct grove_identity *id = caller_id(caller);
    if (id && id->node)
        return id->node;
    if (!caller || !caller->access || caller->access->from_tokens)
        return claimed;
    return NULL;
}

const char *grove_caller_client_node(const struct grove_caller *caller)
{
    const struct grove_identity *id = caller_id(caller);
    return id && id->role == GROVE_ROLE_CLIENT ? id->node : NULL;
}

static bool caller_scope_has(const struct grove_scope *s, const char *table)
{
    if (s->all)
        return true;
    for (size_t i = 0; i < s->table_count; i++)
        if (strcmp(s->tables[i], table) == 0)
            return true;
    return false;
}

grove_err grove_caller_check_table(const struct grove_caller *caller, const char *table, bool write)
{
    const struct grove_identity *id = caller_id(caller);
    if (!id || caller_scope_has(write ? &id->write : &id->read, table))
        return GROVE_OK;
    return grove_error_set(GROVE_EFORBIDDEN, "identity %s may not %s table \"%s\"", id->name,
                           write ? "write" : "read", table);
}

bool grove_caller_may(const struct grove_caller *caller, const char *table, const char *pk,
                      bool write)
{
    const struct grove_identity *id = caller_id(caller);
    if (!id)
        return true;
    if (!caller_scope_has(write ? &id->write : &id->read, table))
        return false;
    return !id->prefix || strncmp(pk, id->prefix, strlen(id->prefix)) == 0;
}

bool grove_caller_reads_every_table(const struct grove_caller *caller)
{
    const struct grove_identity *id = caller_id(caller);
    return !id || id->read.all;
}

void grove_caller_read_tables(const struct grove_caller *caller, const char *const **tables,
                              size_t *count)
{
    const struct grove_identity *id = caller_id(caller);
    *tables = NULL;
    *count = 0;
    if (id && !id->read.all) {
        *tables = id->read.tables;
        *count = id->read.table_count;
    }
}

const char *grove_caller_prefix(const struct grove_caller *caller)
{
    const struct grove_identity *id = caller_id(caller);
    return id ? id->prefix : NULL;
}

grove_err grove_caller_check_push(const struct grove_caller *caller,
                                  const struct grove_push_request *req)
{
    const struct grove_identity *id = caller_id(caller);
    if (!id)
        return GROVE_OK;
    const char *node = req->node_id ? req->node_id : "";
    if (id->node && node[0] && strcmp(node, id->node) != 0)
        return grove_error_set(GROVE_EFORBIDDEN, "identity %s acts as node %s, not %s", id->name,
                               id->node, node);
    for (size_t i = 0; i < req->count; i++) {
        const struct grove_change *c = &req->changes[i];
        if (id->role == GROVE_ROLE_CLIENT &&
            (strcmp(c->hlc.node, id->node) != 0 || (c->node_id && strcmp(c->node_id, id->node))))
            return grove_error_set(GROVE_EFORBIDDEN,
                                   "changes[%zu]: identity %s may push only changes of node %s", i,
                                   id->name, id->node);
        if (!grove_caller_may(caller, c->table, c->pk, true))
            return grove_error_set(GROVE_EFORBIDDEN,
                                   "changes[%zu]: identity %s may not write %s/%s", i, id->name,
                                   c->table, c->pk);
    }
    return GROVE_OK;
}
