/* grove-bench <name> [options]: runs one benchmark. Add a subcommand by
 * writing bench_<name>.c, declaring it in bench.h and adding a row below. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

struct bench_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
};

static const struct bench_cmd bench_cmds[] = {
    {"json", bench_json, "parse and print N change records [--n N, default 100000]"},
    {"store", bench_store,
     "apply N remote lww changes to a store vs a bare sqlite upsert, rounds interleaved"
     " [--n N, default 1000000] [--rounds R, default 3]"},
    {"inproc", bench_inproc,
     "sync N changes A->B between two in-process nodes [--n N, default 1000000]"},
    {"http", bench_http,
     "sync N changes A->B between two groved over HTTP [--n N, default 1000000]"},
    {"http-latency", bench_http_latency,
     "stream propagation A->B of N single writes [--n N, default 1000]"},
    {"https", bench_https, "HTTP over TLS: sync N changes A->B [--n N, default 1000000]"},
    {"https-latency", bench_https_latency,
     "HTTP over TLS: stream propagation A->B of N single writes [--n N, default 1000]"},
    {"grpc", bench_grpc,
     "sync N changes A->B between two groved over gRPC [--n N, default 1000000]"},
    {"grpc-latency", bench_grpc_latency,
     "gRPC stream propagation A->B of N single writes [--n N, default 1000]"},
    {"nng", bench_nng, "sync N changes A->B between two groved over nng [--n N, default 1000000]"},
    {"nng-latency", bench_nng_latency,
     "nng stream propagation A->B of N single writes [--n N, default 1000]"},
    {"nng-tls", bench_nng_tls,
     "nng over TLS (nng+tls+tcp): sync N changes A->B [--n N, default 1000000]"},
    {"nng-tls-latency", bench_nng_tls_latency,
     "nng over TLS: stream propagation A->B of N single writes [--n N, default 1000]"},
    {"write", bench_write,
     "Data API writes to groved: 1 and 16 clients over HTTP and gRPC, bulk [--n N, default 8000]"},
    {"watch", bench_watch,
     "a write on A -> B's watch [--n N, default 200] [--via http|grpc|nng+tcp]"},
    {"filter", bench_filter,
     "pulls of all rows, one tenant's (pk_prefix) and 10 named rows from N rows of 10 tenants"
     " [--n N, default 1000000]"},
    {"delta", bench_delta,
     "1,000 updates of existing rows synced A->B after N rows, warm and after a restart"
     " [--rows N, default 1000000] [--rounds R] [--page-size B]"},
    {"readers", bench_readers,
     "a writer's batches alone and beside 16 clients pulling pages [--n ROWS, default 200000]"
     " [--seconds S] [--store-readers K] [--rate PAGES_PER_S]"},
    {"fanout", bench_fanout,
     "one groved, N SSE subscribers, a writer at R writes/s [--subscribers N, default 1000]"
     " [--writes-per-s R, default 10] [--seconds S, default 10] [--transport http]"
     " [--node-ids K]"},
};

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bench_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *bench_arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strncmp(argv[i], "--", 2) == 0 && strcmp(argv[i] + 2, name) == 0)
            return argv[i + 1];
    return def;
}

long bench_arg_long(int argc, char **argv, const char *name, long def, long min)
{
    const char *text = bench_arg(argc, argv, name, NULL);
    if (!text)
        return def;
    char *end;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < min) {
        fprintf(stderr, "grove-bench: --%s wants an integer of at least %ld, got %s\n", name, min,
                text);
        exit(2);
    }
    return v;
}

static int bench_cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

void bench_sort(double *v, size_t n)
{
    qsort(v, n, sizeof *v, bench_cmp_double);
}

long bench_arg_n(int argc, char **argv, long def)
{
    return bench_arg_long(argc, argv, "n", def, 1);
}

double bench_cpu_of(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t len = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[len] = 0;
    const char *p = strrchr(line, ')'); /* the name may hold spaces */
    unsigned long utime = 0, stime = 0;
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return 0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

long bench_max_rss_kib(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
}

static void bench_usage(FILE *f)
{
    fprintf(f, "usage: grove-bench <name> [options]\n\nbenchmarks:\n");
    for (size_t i = 0; i < sizeof bench_cmds / sizeof bench_cmds[0]; i++)
        fprintf(f, "  %-12s %s\n", bench_cmds[i].name, bench_cmds[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        bench_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof bench_cmds / sizeof bench_cmds[0]; i++)
        if (strcmp(argv[1], bench_cmds[i].name) == 0)
            return bench_cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "grove-bench: unknown benchmark \"%s\"\n", argv[1]);
    bench_usage(stderr);
    return 2;
}
