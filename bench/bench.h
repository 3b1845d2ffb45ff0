/* grove-bench subcommands and the helpers they share. Each subcommand prints
 * what it measured and ends with exactly one line
 * "RESULT <name> key=value ...". */
#ifndef GROVE_BENCH_H
#define GROVE_BENCH_H

#include <stddef.h>
#include <sys/types.h>

int bench_json(int argc, char **argv);
int bench_store(int argc, char **argv);
int bench_inproc(int argc, char **argv);
int bench_http(int argc, char **argv);
int bench_http_latency(int argc, char **argv);
int bench_grpc(int argc, char **argv);
int bench_grpc_latency(int argc, char **argv);
int bench_nng(int argc, char **argv);
int bench_nng_latency(int argc, char **argv);
int bench_nng_tls(int argc, char **argv);
int bench_https(int argc, char **argv);
int bench_https_latency(int argc, char **argv);
int bench_nng_tls_latency(int argc, char **argv);
int bench_write(int argc, char **argv);
int bench_watch(int argc, char **argv);
int bench_readers(int argc, char **argv);
int bench_filter(int argc, char **argv);
int bench_fanout(int argc, char **argv);
int bench_delta(int argc, char **argv);

/* Monotonic clock in seconds. */
double bench_now(void);
/* CPU time of this process in seconds (user + system): on a shared machine
 * it measures the code, where wall time also measures the neighbours. */
double bench_cpu_now(void);
/* The value of "--<name> V" in argv, or def when absent. */
const char *bench_arg(int argc, char **argv, const char *name, const char *def);
/* The same as an integer of at least min, or def when absent; exits on a
 * bad value. */
long bench_arg_long(int argc, char **argv, const char *name, long def, long min);
/* The value of "--n N" in argv (a positive integer), or def when absent. */
long bench_arg_n(int argc, char **argv, long def);
/* CPU seconds (user + system) that process pid has used; 0 when unknown. */
double bench_cpu_of(pid_t pid);
/* Sorts n values ascending (for medians and percentiles). */
void bench_sort(double *v, size_t n);
/* Peak resident set size of this process in KiB (0 when unknown). */
long bench_max_rss_kib(void);

#endif
