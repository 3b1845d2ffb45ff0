/* HLC helpers, message arenas and byte buffers. */
#include <stdlib.h>
#include <string.h>

#include "grove/model.h"
#include "grove/sys/error.h"

int grove_hlc_compare(const struct grove_hlc *a, const struct grove_hlc *b)
{
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    if (a->c != b->c)
        return a->c < b->c ? -1 : 1;
    int n = strcmp(a->node, b->node);
    return (n > 0) - (n < 0);
}

bool grove_hlc_is_zero(const struct grove_hlc *h)
{
    return h->ts == 0 && h->c == 0 && h->node[0] == '\0';
}

grove_err grove_hlc_set_node(struct grove_hlc *h, const char *node)
{
    size_t n = strlen(node);
    if (n > GROVE_NODE_ID_MAX)
        return grove_error_set(GROVE_EINVAL, "node id longer than %d bytes", GROVE_NODE_ID_MAX);
    memcpy(h->node, node, n + 1);
    return GROVE_OK;
}

const char *grove_crdt_name(enum grove_crdt crdt)
{
    switch (crdt) {
    case GROVE_CRDT_LWW:
        return "lww";
    case GROVE_CRDT_COUNTER:
        return "counter";
    case GROVE_CRDT_SET:
        return "set";
    default:
        return "";
    }
}

grove_err grove_crdt_parse(const char *text, size_t len, enum grove_crdt *out)
{
    static const enum grove_crdt all[] = {GROVE_CRDT_NONE, GROVE_CRDT_LWW, GROVE_CRDT_COUNTER,
                                          GROVE_CRDT_SET};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *name = grove_crdt_name(all[i]);
        if (strlen(name) == len && memcmp(name, text, len) == 0) {
            *out = all[i];
            return GROVE_OK;
        }
    }
    return grove_error_set(GROVE_EINVAL,
                           "unknown crdt_type \"%.*s\" (expected lww, counter or set)",
                           (int)(len > 64 ? 64 : len), text);
}

/* A message is laid out as [struct msg_arena][message struct]; the arena
 * hands out memory from chunks that are all freed together. */
struct arena_chunk {
    struct arena_chunk *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
};

struct msg_arena {
    struct arena_chunk *chunks;
    _Alignas(16) unsigned char message[];
};

enum { ARENA_FIRST_CHUNK = 4096 - sizeof(struct arena_chunk) };

static struct msg_arena *arena_of(void *msg)
{
    return (struct msg_arena *)((unsigned char *)msg - offsetof(struct msg_arena, message));
}

static void *msg_new(size_t size)
{
    struct msg_arena *a = calloc(1, sizeof *a + size);
    return a ? a->message : NULL;
}

/* Memory from msg's arena, not zeroed. */
static void *arena_alloc(void *msg, size_t size)
{
    struct msg_arena *a = arena_of(msg);
    size = (size + 15) & ~(size_t)15;
    struct arena_chunk *c = a->chunks;
    if (!c || c->size - c->used < size) {
        size_t want = c ? c->size * 2 : ARENA_FIRST_CHUNK;
        if (want > (size_t)1 << 24)
            want = (size_t)1 << 24; /* cap growth; big requests get their own chunk */
        if (want < size)
            want = size;
        struct arena_chunk *fresh = malloc(sizeof *fresh + want);
        if (!fresh)
            return NULL;
        fresh->size = want;
        fresh->used = 0;
        /* Keep the chunk with the most room in front. */
        if (c && c->size - c->used > want - size) {
            fresh->next = c->next;
            c->next = fresh;
        } else {
            fresh->next = c;
            a->chunks = fresh;
        }
        c = fresh;
    }
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

void *grove_msg_alloc(void *msg, size_t size)
{
    void *p = arena_alloc(msg, size);
    if (p)
        memset(p, 0, size);
    return p;
}

char *grove_msg_strndup(void *msg, const char *s, size_t n)
{
    char *p = arena_alloc(msg, n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

grove_err grove_msg_reserve_changes(void *msg, struct grove_change **changes, size_t *cap,
                                    size_t want)
{
    if (want <= *cap)
        return GROVE_OK;
    size_t grown = *cap ? *cap * 2 : 16;
    if (grown < want)
        grown = want;
    struct grove_change *fresh = grove_msg_alloc(msg, grown * sizeof *fresh);
    if (!fresh)
        return grove_error_set(GROVE_ENOMEM, "out of memory for %zu changes", grown);
    if (*cap)
        memcpy(fresh, *changes, *cap * sizeof *fresh);
    *changes = fresh;
    *cap = grown;
    return GROVE_OK;
}

void grove_msg_free(void *msg)
{
    if (!msg)
        return;
    struct msg_arena *a = arena_of(msg);
    for (struct arena_chunk *c = a->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

#define DEFINE_MSG_NEW(type)                                                                       \
    grove_err grove_##type##_new(struct grove_##type **out)                                        \
    {                                                                                              \
        *out = msg_new(sizeof **out);                                                              \
        return *out ? GROVE_OK : grove_error_set(GROVE_ENOMEM, "out of memory");                   \
    }
grove_err grove_msg_new(size_t size, void **out)
{
    *out = msg_new(size);
    return *out ? GROVE_OK : grove_error_set(GROVE_ENOMEM, "out of memory");
}

DEFINE_MSG_NEW(pull_request)
DEFINE_MSG_NEW(pull_response)
DEFINE_MSG_NEW(push_request)
DEFINE_MSG_NEW(push_response)

grove_err grove_buf_reserve(struct grove_buf *b, size_t extra)
{
    if (b->cap - b->len > extra)
        return GROVE_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= extra)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data)
        return grove_error_set(GROVE_ENOMEM, "out of memory for a %zu-byte buffer", cap);
    b->data = data;
    b->cap = cap;
    return GROVE_OK;
}

grove_err grove_buf_append(struct grove_buf *b, const void *data, size_t len)
{
    grove_err err = grove_buf_reserve(b, len);
    if (err)
        return err;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0'; /* reserve keeps one spare byte, so data is always a C string */
    return GROVE_OK;
}

void grove_buf_free(struct grove_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
