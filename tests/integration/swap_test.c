/* A transport swap keeps the link's state: A syncs 100,000 changes
 * with B over HTTP, then its peer line is edited to gRPC and A restarted,
 * then to nng: each first round after a swap pulls and pushes nothing old. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "integration/groved_proc.h"
#include "support/port.h"
#include "support/tmpdir.h"

static const char *test_dir;

static void setup(void)
{
    test_dir = support_tmpdir_new("swap");
}

static void teardown(void)
{
    gd_kill_all(); /* before their directory goes */
    support_tmpdir_remove(test_dir);
}

TestSuite(integration_swap, .init = setup, .fini = teardown, .timeout = 300);

enum { BIG = 100000, OURS = 1000 };

/* The first "msg=sync peer=<url> " round line logged after offset from,
 * waited for at most 60 s; "" when none came. */
static void round_line(const struct gd *g, off_t from, const char *url, char *out, size_t size)
{
    char want[200];
    snprintf(want, sizeof want, "msg=sync peer=%s ", url);
    out[0] = '\0';
    for (int waited = 0; waited < 600 && !out[0]; waited++) {
        FILE *f = fopen(g->log, "r");
        if (f && fseeko(f, from, SEEK_SET) == 0) {
            char line[2048];
            while (fgets(line, sizeof line, f))
                if (strstr(line, want)) {
                    snprintf(out, size, "%s", line);
                    break;
                }
        }
        if (f)
            fclose(f);
        if (!out[0])
            usleep(100000);
    }
}

static unsigned long field(const char *line, const char *name)
{
    const char *at = strstr(line, name);
    return at ? strtoul(at + strlen(name), NULL, 10) : (unsigned long)-1;
}

/* Restarts a with its --peer value replaced by url; returns the round line. */
static void swap_to(struct gd *a, const char *url, char *line, size_t size)
{
    cr_assert_eq(gd_stop(a), 0, "A's clean exit on SIGTERM");
    for (size_t i = 0; a->extra[i]; i++)
        if (strcmp(a->extra[i], "--peer") == 0)
            a->extra[i + 1] = url;
    off_t from = gd_file_size(a->log);
    cr_assert(gd_start(a), "A did not restart; see %s", a->log);
    round_line(a, from, url, line, size);
    cr_assert(line[0], "no round with %s logged; see %s", url, a->log);
    printf("after the swap to %s: %s", url, line);
    fflush(stdout);
}

Test(integration_swap, editing_the_peer_line_to_another_transport_resumes_the_link)
{
    struct gd a, b;
    char grpc_url[96], nng_url[96], line[2048];
    gd_prepare(&b, "b", test_dir);
    snprintf(grpc_url, sizeof grpc_url, "grpc://127.0.0.1:%d", support_free_port());
    snprintf(nng_url, sizeof nng_url, "nng+tcp://127.0.0.1:%d", support_free_port());
    gd_arg(&b, "--listen", grpc_url);
    gd_arg(&b, "--listen", nng_url);
    cr_assert(gd_start(&b), "B did not start; see %s", b.log);
    cr_assert(gd_push_lww(&b, "app", "b", 0, BIG, 5000));

    gd_prepare(&a, "a", test_dir);
    gd_arg(&a, "--peer", b.url);
    gd_arg(&a, "--interval", "60");
    gd_arg(&a, "--no-stream", NULL); /* only rounds move changes: each is logged */
    off_t from = gd_file_size(a.log);
    cr_assert(gd_start(&a), "A did not start; see %s", a.log);
    round_line(&a, from, b.url, line, sizeof line);
    cr_assert_eq(field(line, " pulled="), BIG, "A's first round: %s", line);
    cr_assert(gd_push_lww(&a, "app", "a", 0, OURS, OURS)); /* pushed to B at once */
    cr_assert_eq(gd_wait_count(&b, BIG + OURS, 60), BIG + OURS, "B never got A's writes");

    swap_to(&a, grpc_url, line, sizeof line);
    cr_expect(strstr(line, " error=none "), "%s", line);
    cr_expect_eq(field(line, " pulled="), 0, "the swap to gRPC re-pulled: %s", line);
    cr_expect_eq(field(line, " pushed="), 0, "the swap to gRPC re-pushed: %s", line);

    swap_to(&a, nng_url, line, sizeof line);
    cr_expect(strstr(line, " error=none "), "%s", line);
    cr_expect_eq(field(line, " pulled="), 0, "the swap to nng re-pulled: %s", line);
    cr_expect_eq(field(line, " pushed="), 0, "the swap to nng re-pushed: %s", line);

    /* The link still works both ways after the swaps. */
    cr_assert(gd_push_lww(&a, "app", "later", 0, 1, 1));
    cr_expect_eq(gd_wait_count(&b, BIG + OURS + 1, 30), BIG + OURS + 1);
    cr_assert_eq(gd_stop(&a), 0);
    gd_stop(&b);
}
