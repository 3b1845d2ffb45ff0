/* core/log.c: one event per line, logfmt (values quoted only when they must
 * be) or JSON (the pairs as typed members), the threshold, and the rate
 * limit of refused-request lines. Lines are read back from stderr, which
 * each test points at a file of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grove/log.h"
#include "support.h"

static char log_path[] = "/tmp/grove-log-test-XXXXXX";
static int saved_stderr = -1;

static void setup(void)
{
    int fd = mkstemp(log_path);
    cr_assert_geq(fd, 0);
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

static void teardown(void)
{
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    unlink(log_path);
    grove_log_set_format(GROVE_LOG_LOGFMT);
    grove_log_set_level(GROVE_LOG_INFO);
}

/* Everything logged so far, malloc'ed. */
static char *log_text(void)
{
    fflush(stderr);
    FILE *f = fopen(log_path, "r");
    cr_assert_not_null(f);
    char *text = calloc(1, 1 << 16);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

TestSuite(core_log, .init = setup, .fini = teardown);

Test(core_log, logfmt_quotes_only_what_needs_it)
{
    grove_log_set_format(GROVE_LOG_LOGFMT);
    char q[128];
    grove_log_kv(GROVE_LOG_INFO, "ready", "node=a db=%s", grove_log_quote(q, sizeof q, "/x y"));
    grove_log(GROVE_LOG_WARN, "a \"quoted\" message\nover two lines");
    char *text = log_text();
    cr_expect(strstr(text, " level=info msg=ready node=a db=\"/x y\"\n"), "%s", text);
    cr_expect(strstr(text, " level=warn msg=\"a \\\"quoted\\\" message\\nover two lines\"\n"), "%s",
              text);
    cr_expect(strncmp(text, "ts=", 3) == 0, "%s", text);
    free(text);
}

Test(core_log, json_turns_pairs_into_typed_members)
{
    grove_log_set_format(GROVE_LOG_JSON);
    char q[128];
    grove_log_kv(GROVE_LOG_INFO, "sync", "peer=http://h:1/sync pulled=12 rate=1.5 more=true "
                                         "error=none message=%s flag",
                 grove_log_quote(q, sizeof q, "a \"b\" = c"));
    char *text = log_text();
    cr_expect(strstr(text, "\"level\":\"info\",\"msg\":\"sync\",\"peer\":\"http://h:1/sync\","
                           "\"pulled\":12,\"rate\":1.5,\"more\":true,\"error\":\"none\","
                           "\"message\":\"a \\\"b\\\" = c\",\"flag\":true}\n"),
              "%s", text);
    cr_expect(strncmp(text, "{\"ts\":\"", 7) == 0, "%s", text);
    free(text);
}

Test(core_log, below_the_threshold_nothing_is_written)
{
    grove_log_set_level(GROVE_LOG_WARN);
    grove_log(GROVE_LOG_INFO, "hidden");
    grove_log_kv(GROVE_LOG_DEBUG, "hidden too", "k=v");
    cr_expect(!grove_log_enabled(GROVE_LOG_INFO));
    grove_log(GROVE_LOG_ERROR, "shown");
    char *text = log_text();
    cr_expect(!strstr(text, "hidden"), "%s", text);
    cr_expect(strstr(text, "msg=shown"), "%s", text);
    free(text);
}

Test(core_log, refused_lines_are_rate_limited_and_count_the_dropped)
{
    /* Inside one second at most GROVE_LOG_REFUSED_PER_S lines; a line in
     * the next second carries the count dropped. */
    for (int i = 0; i < 3 * GROVE_LOG_REFUSED_PER_S; i++)
        grove_log_refused("http", "request", "127.0.0.1:5", "401", "wrong bearer token");
    sleep(1);
    grove_log_refused("http", "request", "127.0.0.1:5", "401", "wrong bearer token");
    char *text = log_text();
    int lines = 0;
    for (const char *p = text; (p = strstr(p, "msg=refused")); p++)
        lines++;
    cr_expect_leq(lines, 2 * GROVE_LOG_REFUSED_PER_S + 1, "%d lines:\n%s", lines, text);
    cr_expect_lt(lines, 3 * GROVE_LOG_REFUSED_PER_S + 1, "nothing was dropped:\n%s", text);
    cr_expect(strstr(text, " suppressed="), "%s", text);
    cr_expect(strstr(text, "transport=http op=request peer=127.0.0.1:5 reason=401 "
                           "message=\"wrong bearer token\""),
              "%s", text);
    free(text);
}
