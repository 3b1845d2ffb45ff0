/* The threads pulls are served on (docs/design.md, "Reads beside writes"):
 * one per reader connection of the store, but never more than the cores
 * less one, each at the lowest CPU priority (the threads that write keep
 * theirs). The store already lets reads and
 * writes run side by side; on a machine whose cores are all busy the
 * scheduler then gives a writer its share first, so it keeps its throughput
 * beside any number of readers, which share what is left and still run
 * whenever a core is free. Jobs run in the order they came. */
#ifndef GROVE_CORE_READ_POOL_H
#define GROVE_CORE_READ_POOL_H

#include <stddef.h>

#include "grove/error.h"

struct grove_server;

/* A job, kept in the submitter's memory until run returns. */
struct grove_read_job {
    void (*run)(struct grove_read_job *job);
    struct grove_read_job *next; /* the pool's */
};

struct grove_read_pool;

/* `threads` threads, at least 1 and at most the online cores less one,
 * started now. */
grove_err grove_read_pool_new(struct grove_read_pool **out, size_t threads);
/* Runs every job already queued, then joins the threads. NULL is a no-op. */
void grove_read_pool_free(struct grove_read_pool *pool);
/* Queues job; one of the threads runs it. Never fails. */
void grove_read_pool_submit(struct grove_read_pool *pool, struct grove_read_job *job);

/* server.c: the server's pool; NULL when the store's reads share the
 * writer's connection (they would hold the writer's lock at a low
 * priority, and make it wait). */
struct grove_read_pool *grove_server_read_pool(const struct grove_server *server);

#endif
