/* fuzz_jscan.c -- llmq-bench's per-token JSON field scanner (src/bench/jscan.c), which reads
 * every SSE event and WebSocket message of a run without allocating. Input: "<path>\n<json>"
 * (the path is the first line, at most 64 bytes; without a newline the whole input is the
 * JSON and only the fixed paths are tried). Checks, for the input's path and the paths the
 * bench really uses:
 *   - a found value lies inside the JSON and looks like its type (quotes around a string,
 *     brackets around a container, the literal for true/false/null);
 *   - when jansson accepts the JSON (no duplicate keys, no backslash -- jscan compares keys
 *     raw -- no NUL byte, which json_loadb skips, and nesting within jscan's depth limit),
 *     jscan finds exactly what a walk of the jansson tree finds: same presence, same type,
 *     same number, same string bytes.
 * The JSON is copied to a buffer of its exact size so ASan sees any read past its end. */
#include "bench/jscan.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const fixed_paths[] = {
    "type", "index", "count", "text", "finish_reason", "id", "error.code",
    "choices.0.text", "choices.0.delta.content", "choices.0.finish_reason",
    "usage.completion_tokens", "timing.queue_ms", "error.type", "0", "1.a", "", NULL,
};

static int tree_depth(json_t *j)
{
    int d = 0;
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            int x = tree_depth(v);
            if (x > d) d = x;
        }
        return d + 1;
    }
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            int x = tree_depth(v);
            if (x > d) d = x;
        }
        return d + 1;
    }
    return 0;
}

/* The jansson side of a lookup, with jscan's path rules: parts split at '.', a part indexes
 * an array when strtol reads all of it as a number >= 0 (1..23 bytes). */
static json_t *walk(json_t *j, const char *path)
{
    const char *part = path;
    for (;;) {
        const char *dot = strchr(part, '.');
        size_t plen = dot ? (size_t)(dot - part) : strlen(part);
        if (json_is_object(j)) {
            char key[80];
            if (plen >= sizeof(key)) return NULL;
            memcpy(key, part, plen);
            key[plen] = '\0';
            j = json_object_get(j, key);
        } else if (json_is_array(j)) {
            char num[24], *endp;
            if (plen == 0 || plen >= sizeof(num)) return NULL;
            memcpy(num, part, plen);
            num[plen] = '\0';
            long want = strtol(num, &endp, 10);
            if (*endp || want < 0) return NULL;
            j = json_array_get(j, (size_t)want);
        } else {
            return NULL;
        }
        if (!j) return NULL;
        if (!dot) return j;
        part = dot + 1;
    }
}

static enum jscan_type jtype(json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return JSCAN_OBJ;
    case JSON_ARRAY: return JSCAN_ARR;
    case JSON_STRING: return JSCAN_STR;
    case JSON_INTEGER:
    case JSON_REAL: return JSCAN_NUM;
    case JSON_TRUE: return JSCAN_TRUE;
    case JSON_FALSE: return JSCAN_FALSE;
    case JSON_NULL: return JSCAN_NULL;
    }
    return JSCAN_NONE;
}

static void check_path(const char *js, size_t len, const char *path, json_t *root)
{
    struct jscan_val v;
    int found = jscan_find(js, len, path, &v);
    if (found != 0 && found != 1) abort();
    if (found) {
        if (v.p < js || v.len > len || v.p + v.len > js + len) abort();
        switch (v.type) {
        case JSCAN_STR:
            if (v.p == js || v.p[-1] != '"' || v.p + v.len >= js + len || v.p[v.len] != '"')
                abort();
            break;
        case JSCAN_NUM:
            if (!v.len || (v.p[0] != '-' && (v.p[0] < '0' || v.p[0] > '9'))) abort();
            break;
        case JSCAN_OBJ:
        case JSCAN_ARR: {
            char open = v.type == JSCAN_OBJ ? '{' : '[', close = v.type == JSCAN_OBJ ? '}' : ']';
            if (v.len < 2 || v.p[0] != open || v.p[v.len - 1] != close) abort();
            break;
        }
        case JSCAN_TRUE: if (v.len != 4 || memcmp(v.p, "true", 4)) abort(); break;
        case JSCAN_FALSE: if (v.len != 5 || memcmp(v.p, "false", 5)) abort(); break;
        case JSCAN_NULL: if (v.len != 4 || memcmp(v.p, "null", 4)) abort(); break;
        default: abort();
        }
    }
    /* the wrappers agree with jscan_find */
    const char *s;
    size_t n;
    double d;
    if (jscan_str(js, len, path, &s, &n) != (found && v.type == JSCAN_STR)) abort();
    int num = jscan_num(js, len, path, &d), iv;
    if (num && !(found && v.type == JSCAN_NUM)) abort();
    if (jscan_int(js, len, path, &iv) != num) abort();
    if (num && d == d && ((d >= 1 && iv < 1) || (d <= -1 && iv > -1) || (d > -1 && d < 1 && iv)))
        abort();
    if (found && v.type == JSCAN_STR && (s != v.p || n != v.len || jscan_eq(s, n, "") != (n == 0)))
        abort();

    if (!root) return;
    json_t *want = walk(root, path);
    if (!want != !found) abort();
    if (!want) return;
    if (jtype(want) != v.type) abort();
    if (v.type == JSCAN_NUM) {
        char tmp[400];
        if (v.len >= sizeof(tmp)) return;
        memcpy(tmp, v.p, v.len);
        tmp[v.len] = '\0';
        double x = strtod(tmp, NULL);
        double y = json_is_integer(want) ? (double)json_integer_value(want) : json_real_value(want);
        if (x != y) abort();
    } else if (v.type == JSCAN_STR) {
        if (json_string_length(want) != v.len || memcmp(json_string_value(want), v.p, v.len))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[65] = "";
    const uint8_t *nl = memchr(data, '\n', size < 65 ? size : 65);
    size_t off = 0;
    if (nl) {
        size_t pl = (size_t)(nl - data);
        memcpy(path, data, pl);
        path[pl] = '\0';                  /* an embedded NUL just shortens it */
        off = pl + 1;
    }
    size_t len = size - off;
    char *js = malloc(len ? len : 1);
    if (!js) return 0;
    memcpy(js, data + off, len);

    json_t *root = NULL;
    if (!memchr(js, '\\', len) && !memchr(js, '\0', len)) {   /* jansson skips NUL bytes */
        json_error_t je;
        root = json_loadb(js, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
        if (root && tree_depth(root) > 60) {
            json_decref(root);
            root = NULL;
        }
    }
    if (nl) check_path(js, len, path, root);
    for (const char *const *p = fixed_paths; *p; p++) check_path(js, len, *p, root);
    json_decref(root);
    free(js);
    return 0;
}
