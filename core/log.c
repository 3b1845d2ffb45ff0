/* One event per line on stderr, logfmt or JSON (grove/log.h). The line is
 * built whole and written with one call, so threads never interleave. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "grove/log.h"

static atomic_int log_threshold = GROVE_LOG_INFO;
static atomic_int log_format = GROVE_LOG_LOGFMT;

void grove_log_set_level(enum grove_log_level level)
{
    atomic_store(&log_threshold, (int)level);
}

enum grove_log_level grove_log_level(void)
{
    return (enum grove_log_level)atomic_load(&log_threshold);
}

void grove_log_set_format(enum grove_log_format format)
{
    atomic_store(&log_format, (int)format);
}

int grove_log_level_parse(const char *name)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

int grove_log_format_parse(const char *name)
{
    if (strcmp(name, "logfmt") == 0)
        return GROVE_LOG_LOGFMT;
    if (strcmp(name, "json") == 0)
        return GROVE_LOG_JSON;
    return -1;
}

bool grove_log_enabled(enum grove_log_level level)
{
    return (int)level >= atomic_load(&log_threshold) && level < GROVE_LOG_OFF;
}

/* A bounded line: appends are cut at its end, never overrun it. */
struct log_line {
    char text[4096];
    size_t len;
};

static void log_put(struct log_line *l, const char *s, size_t n)
{
    size_t room = sizeof l->text - 1 - l->len;
    if (n > room)
        n = room;
    memcpy(l->text + l->len, s, n);
    l->len += n;
}

static void log_putc(struct log_line *l, char c)
{
    log_put(l, &c, 1);
}

/* s[0..n) escaped for a JSON string or a quoted logfmt value (the same
 * escapes serve both: \" \\ \n \t, other controls as \u00XX). */
static void log_escaped(struct log_line *l, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            log_put(l, esc, 2);
        } else if (c == '\n') {
            log_put(l, "\\n", 2);
        } else if (c == '\t') {
            log_put(l, "\\t", 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            log_put(l, esc, 6);
        } else {
            log_putc(l, (char)c);
        }
    }
}

static bool log_needs_quotes(const char *s, size_t n)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == '"' || s[i] == '=' || s[i] == '\\')
            return true;
    return false;
}

const char *grove_log_quote(char *out, size_t size, const char *s)
{
    struct log_line l;
    l.len = 0;
    size_t n = strlen(s);
    if (log_needs_quotes(s, n)) {
        log_putc(&l, '"');
        log_escaped(&l, s, n);
        log_putc(&l, '"');
    } else {
        log_put(&l, s, n);
    }
    if (size) {
        size_t k = l.len < size - 1 ? l.len : size - 1;
        memcpy(out, l.text, k);
        out[k] = '\0';
    }
    return out;
}

/* A logfmt value's end: past a quoted string (its escapes skipped) or at
 * the next space. */
static size_t log_value_end(const char *s, size_t i, size_t n)
{
    if (i < n && s[i] == '"') {
        for (i++; i < n && s[i] != '"'; i++)
            if (s[i] == '\\' && i + 1 < n)
                i++;
        return i < n ? i + 1 : n;
    }
    while (i < n && s[i] != ' ')
        i++;
    return i;
}

static bool log_is_number(const char *s, size_t n)
{
    size_t i = s[0] == '-' ? 1 : 0;
    bool digits = false, dot = false;
    if (n > 1 && s[i] == '0' && i + 1 < n && s[i + 1] != '.')
        return false;
    for (; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            digits = true;
        else if (s[i] == '.' && !dot && digits)
            dot = true;
        else
            return false;
    }
    return digits && s[n - 1] != '.';
}

/* "k=v k="v 2"" as JSON members: a quoted value is already escaped; a bare
 * one becomes a number, true/false, or a string. */
static void log_json_pairs(struct log_line *l, const char *kv, size_t n)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && kv[i] == ' ')
            i++;
        size_t key = i;
        while (i < n && kv[i] != '=' && kv[i] != ' ')
            i++;
        size_t key_end = i;
        if (key_end == key)
            break;
        log_put(l, ",\"", 2);
        log_escaped(l, kv + key, key_end - key);
        log_put(l, "\":", 2);
        if (i >= n || kv[i] != '=') {
            log_put(l, "true", 4); /* a bare key is a flag */
            continue;
        }
        size_t v = ++i;
        i = log_value_end(kv, i, n);
        size_t vn = i - v;
        if (vn >= 2 && kv[v] == '"') {
            log_put(l, kv + v, vn);
        } else if ((vn > 0 && log_is_number(kv + v, vn)) ||
                   (vn == 4 && memcmp(kv + v, "true", 4) == 0) ||
                   (vn == 5 && memcmp(kv + v, "false", 5) == 0)) {
            log_put(l, kv + v, vn);
        } else {
            log_putc(l, '"');
            log_escaped(l, kv + v, vn);
            log_putc(l, '"');
        }
    }
}

static void log_emit(enum grove_log_level level, const char *msg, const char *kv)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    struct timespec now;
    struct tm tm;
    char ts[64];
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
    struct log_line l;
    l.len = 0;
    if (atomic_load(&log_format) == GROVE_LOG_JSON) {
        log_put(&l, "{\"ts\":\"", 7);
        log_put(&l, ts, strlen(ts));
        log_put(&l, "\",\"level\":\"", 11);
        log_put(&l, names[level], strlen(names[level]));
        log_put(&l, "\",\"msg\":\"", 9);
        log_escaped(&l, msg, strlen(msg));
        log_putc(&l, '"');
        if (kv)
            log_json_pairs(&l, kv, strlen(kv));
        /* Room kept for the closing brace, even when the line was cut. */
        if (l.len > sizeof l.text - 3)
            l.len = sizeof l.text - 3;
        log_putc(&l, '}');
    } else {
        log_put(&l, "ts=", 3);
        log_put(&l, ts, strlen(ts));
        log_put(&l, " level=", 7);
        log_put(&l, names[level], strlen(names[level]));
        /* Quoted only when it must be, as logfmt goes: "msg=ready node=a". */
        size_t n = strlen(msg);
        bool quote = log_needs_quotes(msg, n);
        log_put(&l, quote ? " msg=\"" : " msg=", quote ? 6 : 5);
        log_escaped(&l, msg, n);
        if (quote)
            log_putc(&l, '"');
        if (kv && *kv) {
            log_putc(&l, ' ');
            log_put(&l, kv, strlen(kv));
        }
    }
    l.text[l.len] = '\0';
    fprintf(stderr, "%s\n", l.text);
}

void grove_log(enum grove_log_level level, const char *fmt, ...)
{
    if (!grove_log_enabled(level))
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_emit(level, msg, NULL);
}

void grove_log_kv(enum grove_log_level level, const char *msg, const char *kv_fmt, ...)
{
    if (!grove_log_enabled(level))
        return;
    char kv[2048];
    va_list ap;
    va_start(ap, kv_fmt);
    vsnprintf(kv, sizeof kv, kv_fmt, ap);
    va_end(ap);
    log_emit(level, msg, kv);
}

void grove_log_refused(const char *transport, const char *op, const char *peer,
                       const char *reason, const char *message)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static time_t window;
    static unsigned in_window, suppressed;
    if (!grove_log_enabled(GROVE_LOG_INFO))
        return;
    time_t now = time(NULL);
    unsigned dropped = 0;
    pthread_mutex_lock(&lock);
    if (now != window) {
        window = now;
        in_window = 0;
    }
    bool logged = in_window < GROVE_LOG_REFUSED_PER_S;
    if (logged) {
        in_window++;
        dropped = suppressed;
        suppressed = 0;
    } else {
        suppressed++;
    }
    pthread_mutex_unlock(&lock);
    if (!logged)
        return;
    char quoted_peer[128], quoted_message[600], extra[40] = "";
    if (dropped)
        snprintf(extra, sizeof extra, " suppressed=%u", dropped);
    grove_log_kv(GROVE_LOG_INFO, "refused", "transport=%s op=%s peer=%s reason=%s message=%s%s",
                 transport ? transport : "-", op ? op : "-",
                 grove_log_quote(quoted_peer, sizeof quoted_peer, peer && *peer ? peer : "-"),
                 reason ? reason : "-",
                 grove_log_quote(quoted_message, sizeof quoted_message, message ? message : ""),
                 extra);
}

void grove_log_request(const char *transport, const char *request, const char *peer,
                       const char *result, double duration_ms)
{
    if (!grove_log_enabled(GROVE_LOG_DEBUG))
        return;
    char quoted_request[600], quoted_peer[128];
    grove_log_kv(GROVE_LOG_DEBUG, "request",
                 "transport=%s request=%s peer=%s result=%s duration_ms=%.2f",
                 transport ? transport : "-",
                 grove_log_quote(quoted_request, sizeof quoted_request, request ? request : "-"),
                 grove_log_quote(quoted_peer, sizeof quoted_peer, peer && *peer ? peer : "-"),
                 result ? result : "-", duration_ms);
}
