/* buf.h -- a growable byte buffer (embedded by its owner: buf_init / buf_deinit).
 * Always NUL-terminated after data[len] so it can be printed; len excludes the NUL.
 * Growth aborts on OOM (xrealloc): use it for sizes llmq controls, and check client-driven
 * sizes against their limits before appending. */
#ifndef LLMQ_BUF_H
#define LLMQ_BUF_H

#include <stddef.h>

struct buf {
    char *data;      /* owned; NULL until the first append */
    size_t len;      /* bytes used, excluding the trailing NUL */
    size_t cap;      /* bytes allocated */
};

void buf_init(struct buf *b);
void buf_deinit(struct buf *b);             /* frees data; b can be reused after buf_init */
void buf_reset(struct buf *b);              /* len = 0, keeps the allocation */
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_append_str(struct buf *b, const char *s);
void buf_append_char(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as the inside of a JSON string (quotes not included), escaping as RFC 8259
 * requires; invalid UTF-8 bytes are replaced by U+FFFD so the output is always valid JSON. */
void buf_append_json_str(struct buf *b, const char *s, size_t n);
/* Removes the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);

#endif
