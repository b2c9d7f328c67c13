/* xalloc.h -- allocation that aborts with a message on failure, for small fixed sizes only.
 * Any size a client controls (bodies, prompts, KV pages) uses plain malloc and turns a
 * failure into an error answer instead (see STYLE). */
#ifndef LLMQ_XALLOC_H
#define LLMQ_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
