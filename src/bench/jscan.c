/* jscan.c -- see jscan.h. A recursive-descent skipper bounded by len and a depth limit. */
#include "bench/jscan.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH_MAX 64

struct cur {
    const char *p, *end;
};

static void ws(struct cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* At '"': moves past the closing quote; fills the inside. */
static int str(struct cur *c, const char **s, size_t *n)
{
    if (c->p >= c->end || *c->p != '"') return 0;
    const char *start = ++c->p;
    while (c->p < c->end) {
        char ch = *c->p;
        if (ch == '\\') {
            if (c->end - c->p < 2) return 0;
            c->p += 2;
            continue;
        }
        if (ch == '"') {
            *s = start;
            *n = (size_t)(c->p - start);
            c->p++;
            return 1;
        }
        c->p++;
    }
    return 0;
}

static int value(struct cur *c, struct jscan_val *v, int depth);

static int container(struct cur *c, char close, int depth)
{
    c->p++;
    ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 1;
    }
    for (;;) {
        struct jscan_val tmp;
        ws(c);
        if (close == '}') {
            const char *k;
            size_t kn;
            if (!str(c, &k, &kn)) return 0;
            ws(c);
            if (c->p >= c->end || *c->p != ':') return 0;
            c->p++;
        }
        if (!value(c, &tmp, depth + 1)) return 0;
        ws(c);
        if (c->p >= c->end) return 0;
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (*c->p == close) {
            c->p++;
            return 1;
        }
        return 0;
    }
}

static int value(struct cur *c, struct jscan_val *v, int depth)
{
    if (depth > DEPTH_MAX) return 0;
    ws(c);
    if (c->p >= c->end) return 0;
    const char *start = c->p;
    switch (*c->p) {
    case '"':
        v->type = JSCAN_STR;
        return str(c, &v->p, &v->len);
    case '{':
    case '[':
        v->type = *c->p == '{' ? JSCAN_OBJ : JSCAN_ARR;
        if (!container(c, *c->p == '{' ? '}' : ']', depth)) return 0;
        break;
    case 't':
    case 'f':
    case 'n': {
        const char *lit = *c->p == 't' ? "true" : *c->p == 'f' ? "false" : "null";
        size_t n = strlen(lit);
        if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n)) return 0;
        v->type = *c->p == 't' ? JSCAN_TRUE : *c->p == 'f' ? JSCAN_FALSE : JSCAN_NULL;
        c->p += n;
        break;
    }
    default:
        if (*c->p != '-' && (*c->p < '0' || *c->p > '9')) return 0;
        v->type = JSCAN_NUM;
        while (c->p < c->end && (strchr("+-.eE", *c->p) || (*c->p >= '0' && *c->p <= '9')))
            c->p++;
        break;
    }
    v->p = start;
    v->len = (size_t)(c->p - start);
    return 1;
}

/* Looks up one path part in the container at c->p; leaves c at the found value. */
static int step(struct cur *c, const char *part, size_t plen)
{
    ws(c);
    if (c->p >= c->end) return 0;
    if (*c->p == '{') {
        c->p++;
        for (;;) {
            const char *k;
            size_t kn;
            ws(c);
            if (!str(c, &k, &kn)) return 0;
            ws(c);
            if (c->p >= c->end || *c->p != ':') return 0;
            c->p++;
            ws(c);
            if (kn == plen && !memcmp(k, part, plen)) return 1;
            struct jscan_val tmp;
            if (!value(c, &tmp, 1)) return 0;
            ws(c);
            if (c->p >= c->end || *c->p != ',') return 0;
            c->p++;
        }
    }
    if (*c->p == '[') {
        char *endp;
        char num[24];
        if (plen == 0 || plen >= sizeof(num)) return 0;
        memcpy(num, part, plen);
        num[plen] = '\0';
        long want = strtol(num, &endp, 10);
        if (*endp || want < 0) return 0;
        c->p++;
        for (long i = 0;; i++) {
            ws(c);
            if (i == want) return c->p < c->end && *c->p != ']';
            struct jscan_val tmp;
            if (!value(c, &tmp, 1)) return 0;
            ws(c);
            if (c->p >= c->end || *c->p != ',') return 0;
            c->p++;
        }
    }
    return 0;
}

int jscan_find(const char *json, size_t len, const char *path, struct jscan_val *v)
{
    struct cur c = { json, json + len };
    const char *part = path;
    for (;;) {
        const char *dot = strchr(part, '.');
        size_t plen = dot ? (size_t)(dot - part) : strlen(part);
        if (!step(&c, part, plen)) return 0;
        if (!dot) break;
        part = dot + 1;
    }
    return value(&c, v, 1);
}

int jscan_str(const char *json, size_t len, const char *path, const char **s, size_t *n)
{
    struct jscan_val v;
    if (!jscan_find(json, len, path, &v) || v.type != JSCAN_STR) return 0;
    *s = v.p;
    *n = v.len;
    return 1;
}

int jscan_num(const char *json, size_t len, const char *path, double *out)
{
    struct jscan_val v;
    char tmp[64];
    if (!jscan_find(json, len, path, &v) || v.type != JSCAN_NUM || v.len >= sizeof(tmp)) return 0;
    memcpy(tmp, v.p, v.len);
    tmp[v.len] = '\0';
    *out = strtod(tmp, NULL);
    return 1;
}

int jscan_int(const char *json, size_t len, const char *path, int *out)
{
    double d;
    if (!jscan_num(json, len, path, &d)) return 0;
    if (d != d) d = 0;
    *out = d >= (double)INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
    return 1;
}

int jscan_eq(const char *p, size_t n, const char *s)
{
    size_t sl = strlen(s);
    return n == sl && !memcmp(p, s, n);
}
