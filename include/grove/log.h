/* Logging to stderr, one line per event: "2026-11-26T07:00:00.123Z info msg". */
#ifndef GROVE_LOG_H
#define GROVE_LOG_H

enum grove_log_level {
    GROVE_LOG_DEBUG,
    GROVE_LOG_INFO,
    GROVE_LOG_WARN,
    GROVE_LOG_ERROR,
    GROVE_LOG_OFF
};

void grove_log_set_level(enum grove_log_level level);
/* Parses "debug", "info", "warn", "error", "off"; -1 when unknown. */
int grove_log_level_parse(const char *name);
void grove_log(enum grove_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
