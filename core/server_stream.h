/* Between server.c and server_stream.c: a stream's state, and what the
 * non-blocking serving of streams (server_stream.c) needs of the server. */
#ifndef GROVE_SERVER_STREAM_H
#define GROVE_SERVER_STREAM_H

#include "grove/server.h"
#include "grove/sys/transport.h"

struct grove_server_stream {
    struct grove_server *server;
    struct grove_pull_request *req; /* owned copy: tables, node id and caller */
    struct grove_caller caller;     /* who opened it, held for its life (core/guard.h) */
    struct grove_hlc cursor;        /* where the next read starts */
    struct grove_hlc sent;          /* where the last batch returned ended */
    size_t batch_bytes;             /* bound of a batch's records; 0: the server's page bound */
    /* Nothing for this stream up to here (commits to other tables, echoes):
     * a poll reads again only when the store is past it. */
    struct grove_hlc checked;
    /* The store's commit count (grove_store_commits) when a poll last found
     * nothing: while it is unchanged the next poll answers at once, with no
     * lock taken (idle: it is set). */
    uint64_t idle_commits;
    bool idle;
    /* What decides a batch's bytes besides the cursor and format (tables,
     * filter, limit, batch bound, the caller's read scope; the node id and
     * identity too when hooks read batches), as one string: the cache's key
     * (server_stream.c). In req's memory; NULL until the first poll. */
    char *key;
    size_t key_len;
};

/* The batches read once for every stream at the same place (server_stream.c),
 * one per server. */
struct grove_server_stream_cache;
grove_err grove_server_stream_cache_new(struct grove_server_stream_cache **out);
void grove_server_stream_cache_free(struct grove_server_stream_cache *cache);

/* server.c: one read after the stream's cursor, through the server's hooks,
 * without waiting and without moving the cursor. With `sources` set the
 * read leaves no echoes out and fills sources with where its records came
 * from (a batch shared by streams of different nodes). */
grove_err grove_server_stream_read(struct grove_server_stream *s,
                                   struct grove_store_sources *sources,
                                   struct grove_pull_response **out);
/* The node whose echoes s's next batch leaves out (store_echo.h); NULL: none. */
const char *grove_server_stream_echoes_of(const struct grove_server_stream *s);
/* Whether streams that differ only in their node may share a batch read
 * without an echo filter: not when a hook reads batches (it is told the
 * node). */
bool grove_server_stream_shares_echoes(const struct grove_server_stream *s);
bool grove_server_stream_closing(const struct grove_server_stream *s);
struct grove_server_stream_cache *grove_server_stream_cache_of(const struct grove_server_stream *s);

#endif
