/* jscan.h -- a non-allocating JSON lookup for the hot path of llmq-bench: pull a few fields
 * ("type", "index", "choices.0.delta.content") out of a streamed event without building a
 * tree. It checks the structure it walks over but is not a validator: malformed input gives
 * "not found", never a read outside [json, json + len). Strings come back raw (still
 * escaped, without the quotes). Use jansson for anything that is not per token. */
#ifndef LLMQ_BENCH_JSCAN_H
#define LLMQ_BENCH_JSCAN_H

#include <stddef.h>

enum jscan_type { JSCAN_NONE, JSCAN_STR, JSCAN_NUM, JSCAN_OBJ, JSCAN_ARR, JSCAN_TRUE,
                  JSCAN_FALSE, JSCAN_NULL };

struct jscan_val {
    enum jscan_type type;
    const char *p;         /* borrowed: the value's bytes (a string's inside, no quotes) */
    size_t len;
};

/* Finds the value at a dotted path ("usage.completion_tokens", "choices.0.text"; a numeric
 * part indexes an array) in the JSON object json[0..len). Returns 1 and fills *v when found,
 * 0 otherwise. */
int jscan_find(const char *json, size_t len, const char *path, struct jscan_val *v);
/* Convenience wrappers: 1 when found with that type. */
int jscan_str(const char *json, size_t len, const char *path, const char **s, size_t *n);
int jscan_num(const char *json, size_t len, const char *path, double *out);
/* A number truncated toward zero and clamped to int's range (a server's 1e300 must not
 * reach a cast: undefined behaviour). */
int jscan_int(const char *json, size_t len, const char *path, int *out);
/* 1 when the raw string value v equals s exactly (no unescaping). */
int jscan_eq(const char *p, size_t n, const char *s);

#endif
