/* Running real groved processes from tests and benchmarks: start on a free
 * loopback port, wait for "ready", push and pull over HTTP, always kill.
 * Every groved started here is killed when this process exits (or dies). */
#ifndef GROVE_TESTS_GROVED_PROC_H
#define GROVE_TESTS_GROVED_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define GD_MAX_ARGS 48

struct gd {
    char node[32];
    char dir[256];
    char db[320];
    char log[320];
    char url[128]; /* http://127.0.0.1:<port>/sync */
    int port;
    pid_t pid;
    const char *extra[GD_MAX_ARGS]; /* more flags (--peer ...), NULL-terminated */
    const char *ca;                 /* https: the CA our own requests trust */
};

/* Names the node and picks a free port (the URL is known before it starts,
 * so peers can point at each other). dir must exist. */
void gd_prepare(struct gd *g, const char *node, const char *dir);
/* Serves https with cert/key and trusts ca for its peers and our requests. */
void gd_use_tls(struct gd *g, const char *ca, const char *cert, const char *key);
/* Adds a flag and its value to the command line. */
void gd_arg(struct gd *g, const char *flag, const char *value);
/* Starts groved and waits (bounded) for its "ready" line; on "address in use"
 * retries on another port. Returns false when it never got ready. */
bool gd_start(struct gd *g);

/* Starts groved with args (after the program name; NULL-terminated) and its
 * stdout and stderr appended to log. Its environment is this process's
 * without any GROVE_* variable, plus env ("NAME=value", NULL-terminated;
 * may be NULL), so a caller's settings cannot leak in. Returns the pid (to
 * wait for with one of the two below), or -1. */
pid_t gd_exec(const char *log, const char *const *args, const char *const *env);
enum gd_wait {
    GD_READY,   /* logged "ready" */
    GD_EXITED,  /* exited first: its log says why */
    GD_TIMEOUT, /* neither within the time: killed */
};
/* Waits at most timeout_s for pid (from gd_exec) to log " msg=ready " after
 * offset `from` of log. */
enum gd_wait gd_wait_ready(pid_t pid, const char *log, off_t from, int timeout_s);
/* Waits at most timeout_s for pid (from gd_exec) to exit; returns its exit
 * code, or -1 when it was killed (by a signal, or by us after timeout_s). */
int gd_wait_exit(pid_t pid, int timeout_s);
/* The size of file path (0 when missing): an offset for gd_wait_ready. */
off_t gd_file_size(const char *path);
/* SIGTERM and wait: returns the exit status (or -1). */
int gd_stop(struct gd *g);
/* SIGKILL and wait. */
void gd_kill(struct gd *g);
/* Kills every groved this process started (for test fini and atexit). */
void gd_kill_all(void);

/* POSTs n lww changes docs/<prefix><i>.title from client node `client` in
 * batches; false when a push was not acknowledged. */
bool gd_push_lww(const struct gd *g, const char *client, const char *prefix, size_t first, size_t n,
                 size_t batch);
/* Number of records in table docs (pages through /pull); -1 on error. */
long gd_count(const struct gd *g);
/* Polls gd_count until it reaches want or timeout_s passes; returns the last count. */
long gd_wait_count(const struct gd *g, long want, int timeout_s);
/* A running process's resident set now and at its peak (VmRSS, VmHWM) in
 * MiB, and its thread count, from /proc; -1 each when it cannot be read. */
struct gd_status {
    double rss_mb, peak_rss_mb;
    long threads;
};
struct gd_status gd_proc_status(pid_t pid);

#endif
