/* trace.c -- trace readers (see trace.h). CSV here is the plain kind these traces use:
 * comma-separated, optional double quotes around a field, no embedded newlines. */
#include "bench/trace.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xalloc.h"

int trace_format_parse(const char *name, enum trace_format *out)
{
    if (!strcasecmp(name, "azure")) *out = TRACE_FORMAT_AZURE;
    else if (!strcasecmp(name, "burstgpt")) *out = TRACE_FORMAT_BURSTGPT;
    else if (!strcasecmp(name, "mooncake")) *out = TRACE_FORMAT_MOONCAKE;
    else return -EINVAL;
    return 0;
}

const char *trace_format_name(enum trace_format f)
{
    switch (f) {
    case TRACE_FORMAT_AZURE: return "azure";
    case TRACE_FORMAT_BURSTGPT: return "burstgpt";
    case TRACE_FORMAT_MOONCAKE: return "mooncake";
    }
    return "?";
}

void trace_deinit(struct trace *t)
{
    free(t->entries);
    t->entries = NULL;
    t->n = 0;
}

struct grow {
    struct trace *t;
    size_t cap;
};

/* A token count clamped to [0, 10^7] before the conversion (a double outside int's range
 * must not be cast: undefined behaviour, found by fuzz_trace). */
static int tokens(double v)
{
    if (!(v > 0)) return 0;
    if (v > 10000000) return 10000000;
    return (int)v;
}

static void push(struct grow *g, double t_s, double in, double out)
{
    if (g->t->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 256;
        g->t->entries = xrealloc(g->t->entries, g->cap * sizeof(struct trace_entry));
    }
    g->t->entries[g->t->n++] = (struct trace_entry){ t_s, tokens(in), tokens(out) };
}

/* Splits one CSV line (no newline) into at most max fields, trimming blanks and quotes.
 * The fields point into buf, which is modified. Returns the field count. */
static int csv_split(char *buf, char **fields, int max)
{
    int n = 0;
    char *p = buf;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        char *start = p, *end;
        if (*p == '"') {
            start = ++p;
            while (*p && *p != '"') p++;
            end = p;
            if (*p == '"') p++;
            while (*p && *p != ',') p++;
        } else {
            while (*p && *p != ',') p++;
            end = p;
            while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) end--;
        }
        char sep = *p;
        *end = '\0';
        if (n < max) fields[n++] = start;
        if (sep != ',') break;
        p++;
    }
    return n;
}

static int find_col(char **fields, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcasecmp(fields[i], name)) return i;
    return -1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

/* A time the replay can use: finite and within 10^12 s of the epoch, so the differences
 * taken later stay finite too ("nan" and "1e999" seconds get here through %lf/strtod). */
static int time_ok(double t) { return isfinite(t) && fabs(t) < 1e12; }

/* Seconds from "YYYY-MM-DD[ T]HH:MM:SS[.frac]" or a plain number. Returns 0 or -1. */
static int parse_time(const char *s, double *out)
{
    int y, mo, d, h, mi, n = 0;
    double sec;
    if (sscanf(s, "%d-%d-%d%*[ T]%d:%d:%lf%n", &y, &mo, &d, &h, &mi, &sec, &n) == 6 && n > 0) {
        *out = (double)days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400.0 + h * 3600.0 +
               mi * 60.0 + sec;
        return time_ok(*out) ? 0 : -1;
    }
    char *end;
    double v = strtod(s, &end);
    if (end == s || !time_ok(v)) return -1;
    while (*end == ' ' || *end == '\t') end++;
    if (*end) return -1;
    *out = v;
    return 0;
}

/* A token count: a number, possibly written 12.0 by some exports (clamped by push). */
static int parse_count(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v)) return -1;
    while (*end == ' ' || *end == '\t') end++;
    if (*end) return -1;
    *out = v;
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    double x = ((const struct trace_entry *)a)->t_s, y = ((const struct trace_entry *)b)->t_s;
    return x < y ? -1 : x > y;
}

static int parse_csv(struct grow *g, enum trace_format fmt, const char *data, size_t len,
                     struct err *e)
{
    const char *tcol = fmt == TRACE_FORMAT_AZURE ? "TIMESTAMP" : "Timestamp";
    const char *icol = fmt == TRACE_FORMAT_AZURE ? "ContextTokens" : "Request tokens";
    const char *ocol = fmt == TRACE_FORMAT_AZURE ? "GeneratedTokens" : "Response tokens";
    int ti = -1, ii = -1, oi = -1, lineno = 0, have_header = 0;
    char *line = NULL;
    size_t line_cap = 0;
    int rc = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (data + pos)) : len - pos;
        lineno++;
        if (n + 1 > line_cap) {
            line_cap = n + 1;
            line = xrealloc(line, line_cap);
        }
        memcpy(line, data + pos, n);
        line[n] = '\0';
        pos += n + (nl ? 1 : 0);
        char *p = line;
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) continue;
        char *f[16];
        int nf = csv_split(p, f, 16);
        if (!have_header) {
            ti = find_col(f, nf, tcol);
            ii = find_col(f, nf, icol);
            oi = find_col(f, nf, ocol);
            if (ti < 0 || ii < 0 || oi < 0) {
                rc = err_set(e, LLMQ_EFORMAT,
                             "%s trace: line %d: header lacks \"%s\", \"%s\" or \"%s\"",
                             trace_format_name(fmt), lineno, tcol, icol, ocol);
                goto out;
            }
            have_header = 1;
            continue;
        }
        int need = ti > ii ? ti : ii;
        if (oi > need) need = oi;
        double t, in, out;
        if (nf <= need || parse_time(f[ti], &t) < 0 || parse_count(f[ii], &in) < 0 ||
            parse_count(f[oi], &out) < 0) {
            rc = err_set(e, LLMQ_EFORMAT, "%s trace: line %d: expected time and two token counts",
                         trace_format_name(fmt), lineno);
            goto out;
        }
        push(g, t, in, out);
    }
    if (!have_header) rc = err_set(e, LLMQ_EFORMAT, "%s trace: empty", trace_format_name(fmt));
out:
    free(line);
    return rc;
}

static int json_num(json_t *o, const char *key, double *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || !json_is_number(v)) return -1;
    *out = json_number_value(v);
    return 0;
}

static int parse_jsonl(struct grow *g, const char *data, size_t len, struct err *e)
{
    size_t pos = 0;
    int lineno = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (data + pos)) : len - pos;
        const char *p = data + pos;
        pos += n + (nl ? 1 : 0);
        lineno++;
        size_t k = 0;
        while (k < n && isspace((unsigned char)p[k])) k++;
        if (k == n) continue;
        json_error_t je;
        json_t *o = json_loadb(p, n, 0, &je);
        double t, in, out;
        int bad = !o || !json_is_object(o) || json_num(o, "timestamp", &t) < 0 ||
                  json_num(o, "input_length", &in) < 0 || json_num(o, "output_length", &out) < 0 ||
                  !time_ok(t / 1000.0) || !isfinite(in) || !isfinite(out);
        json_decref(o);
        if (bad)
            return err_set(e, LLMQ_EFORMAT, "mooncake trace: line %d: expected an object with "
                           "numeric timestamp, input_length, output_length", lineno);
        push(g, t / 1000.0, in, out);
    }
    return 0;
}

int trace_parse(struct trace *t, enum trace_format fmt, const char *data, size_t len, struct err *e)
{
    struct grow g = { t, 0 };
    t->entries = NULL;
    t->n = 0;
    int rc = fmt == TRACE_FORMAT_MOONCAKE ? parse_jsonl(&g, data, len, e)
                                          : parse_csv(&g, fmt, data, len, e);
    if (rc < 0) {
        trace_deinit(t);
        return rc;
    }
    if (t->n) {
        qsort(t->entries, t->n, sizeof(*t->entries), cmp_entry);  /* ties keep no order; fine */
        double t0 = t->entries[0].t_s;
        for (size_t i = 0; i < t->n; i++) t->entries[i].t_s -= t0;
    }
    return 0;
}

int trace_load(struct trace *t, enum trace_format fmt, const char *path, struct err *e)
{
    t->entries = NULL;
    t->n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(e, -errno, "%s: %s", path, strerror(errno));
    char *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            data = xrealloc(data, cap);
        }
        size_t r = fread(data + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(data);
        return err_set(e, -EIO, "%s: read error", path);
    }
    int rc = trace_parse(t, fmt, data, len, e);
    free(data);
    return rc;
}
