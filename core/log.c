#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "grove/log.h"

static enum grove_log_level log_threshold = GROVE_LOG_INFO;

void grove_log_set_level(enum grove_log_level level)
{
    log_threshold = level;
}

int grove_log_level_parse(const char *name)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

void grove_log(enum grove_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (level < log_threshold || level >= GROVE_LOG_OFF)
        return;
    struct timespec now;
    struct tm tm;
    char line[2048];
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     now.tv_nsec / 1000000, names[level]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line so concurrent threads never interleave within a line. */
    fprintf(stderr, "%s\n", line);
}
