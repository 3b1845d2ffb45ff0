/* grove-bench subcommands and the helpers they share. Each subcommand prints
 * what it measured and ends with exactly one line
 * "RESULT <name> key=value ...". */
#ifndef GROVE_BENCH_H
#define GROVE_BENCH_H

#include <stddef.h>

int bench_json(int argc, char **argv);
int bench_store(int argc, char **argv);
int bench_inproc(int argc, char **argv);
int bench_http(int argc, char **argv);
int bench_http_latency(int argc, char **argv);
int bench_grpc(int argc, char **argv);
int bench_grpc_latency(int argc, char **argv);
int bench_nng(int argc, char **argv);
int bench_nng_latency(int argc, char **argv);
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
/* The value of "--n N" in argv, or def when absent; exits on a bad value. */
long bench_arg_n(int argc, char **argv, long def);
/* Peak resident set size of this process in KiB (0 when unknown). */
long bench_max_rss_kib(void);

#endif
