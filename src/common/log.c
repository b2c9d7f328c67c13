/* log.c -- JSON-lines logger. Formats into a stack buffer and emits each line with one
 * write(2), so lines from several threads or processes sharing stderr never interleave. */
#include "common/log.h"
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char component[32] = "llmq";
static enum log_level min_level = LOG_LEVEL_INFO;
static const char *level_names[] = { "debug", "info", "warn", "error", "fatal" };

int log_level_parse(const char *name, enum log_level *out)
{
    for (int i = 0; i <= LOG_LEVEL_FATAL; i++)
        if (!strcasecmp(name, level_names[i])) { *out = (enum log_level)i; return 0; }
    return -EINVAL;
}

void log_init(const char *name)
{
    snprintf(component, sizeof(component), "%s", name);
    const char *env = getenv("LLMQ_LOG_LEVEL");
    enum log_level l;
    if (env && log_level_parse(env, &l) == 0) min_level = l;
}

void log_set_level(enum log_level level) { min_level = level; }
int log_enabled(enum log_level level) { return level >= min_level; }

/* Appends s JSON-escaped to buf[*n..cap); truncates silently at cap. */
static void put_escaped(char *buf, size_t *n, size_t cap, const char *s)
{
    for (; *s && *n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { buf[(*n)++] = '\\'; buf[(*n)++] = (char)c; }
        else if (c == '\n') { buf[(*n)++] = '\\'; buf[(*n)++] = 'n'; }
        else if (c < 0x20) *n += (size_t)snprintf(buf + *n, cap - *n, "\\u%04x", c);
        else buf[(*n)++] = (char)c;
    }
}

static void put_raw(char *buf, size_t *n, size_t cap, const char *s)
{
    size_t l = strlen(s);
    if (*n + l >= cap) l = cap - *n - 1;
    memcpy(buf + *n, s, l);
    *n += l;
}

void log_write(enum log_level level, const char *request_id, const char *trace_id,
               const char *fmt, ...)
{
    if (level < min_level) return;
    char msg[1024], line[2048], ts[40];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t t = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + t, sizeof(ts) - t, ".%06ldZ", (long)tv.tv_usec);

    size_t n = 0, cap = sizeof(line) - 2;
    put_raw(line, &n, cap, "{\"ts\":\"");
    put_raw(line, &n, cap, ts);
    put_raw(line, &n, cap, "\",\"level\":\"");
    put_raw(line, &n, cap, level_names[level]);
    put_raw(line, &n, cap, "\",\"component\":\"");
    put_escaped(line, &n, cap, component);
    put_raw(line, &n, cap, "\",\"pid\":");
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    put_raw(line, &n, cap, pid);
    put_raw(line, &n, cap, ",\"msg\":\"");
    put_escaped(line, &n, cap, msg);
    put_raw(line, &n, cap, "\"");
    if (request_id && *request_id) {
        put_raw(line, &n, cap, ",\"request_id\":\"");
        put_escaped(line, &n, cap, request_id);
        put_raw(line, &n, cap, "\"");
    }
    if (trace_id && *trace_id) {
        put_raw(line, &n, cap, ",\"trace_id\":\"");
        put_escaped(line, &n, cap, trace_id);
        put_raw(line, &n, cap, "\"");
    }
    line[n++] = '}';
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
