/* Logging to stderr, one event per line. logfmt by default:
 *   ts=2026-11-26T07:00:00.123Z level=info msg="listening" url=http://127.0.0.1:8080
 * or one JSON object per line ({"ts":..,"level":..,"msg":..,"url":..}) for
 * collectors. grove_log takes a printf message; grove_log_kv adds key=value
 * pairs after it, which the JSON form turns into members. */
#ifndef GROVE_LOG_H
#define GROVE_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum grove_log_level {
    GROVE_LOG_DEBUG,
    GROVE_LOG_INFO,
    GROVE_LOG_WARN,
    GROVE_LOG_ERROR,
    GROVE_LOG_OFF
};

enum grove_log_format { GROVE_LOG_LOGFMT = 0, GROVE_LOG_JSON };

/* Both may change while other threads log (a config reload). */
void grove_log_set_level(enum grove_log_level level);
enum grove_log_level grove_log_level(void);
void grove_log_set_format(enum grove_log_format format);
/* Parses "debug", "info", "warn", "error", "off"; -1 when unknown. */
int grove_log_level_parse(const char *name);
/* Parses "logfmt", "json"; -1 when unknown. */
int grove_log_format_parse(const char *name);
/* True when an event at level would be written (to skip building one). */
bool grove_log_enabled(enum grove_log_level level);

void grove_log(enum grove_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* msg, then the pairs kv_fmt formats: "key=value key=value", where a value
 * holding spaces, quotes or '=' must come through grove_log_quote. */
void grove_log_kv(enum grove_log_level level, const char *msg, const char *kv_fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A refused request, at info: "refused transport=.. op=.. peer=.. reason=..
 * message=..". At most GROVE_LOG_REFUSED_PER_S such lines a second (a flood
 * of bad requests must not flood the log); the next line logged says how
 * many were dropped (suppressed=N). Never pass a token in message. */
#define GROVE_LOG_REFUSED_PER_S 10
void grove_log_refused(const char *transport, const char *op, const char *peer,
                       const char *reason, const char *message);
/* A Data API request served, at debug: "request transport=http request="GET
 * /v1/tables/t/rows/k" peer=.. result=200 duration_ms=..". Sync calls log
 * their own "served" events (with their change counts). */
void grove_log_request(const char *transport, const char *request, const char *peer,
                       const char *result, double duration_ms);
/* s as one logfmt value in out (quoted and escaped when it needs it;
 * truncated to size); returns out. */
const char *grove_log_quote(char *out, size_t size, const char *s);

#endif
