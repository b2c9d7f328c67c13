/* stop.h -- stop strings, applied by the worker to every engine's text (the engines know
 * nothing of them). Text that could be the start of a stop string is held back until the
 * next token decides; on a match, the text before the stop string is released and the
 * rest (the stop string and anything after it) is dropped, as OpenAI does. */
#ifndef LLMQ_WORKER_STOP_H
#define LLMQ_WORKER_STOP_H

#include <stddef.h>

#include "common/buf.h"

struct stop {
    const char *const *strs; /* borrowed: n non-empty strings that outlive the matcher */
    int n;
    struct buf held; /* owned: text withheld because it may begin a stop string */
};

void stop_init(struct stop *s, const char *const *strs, int n);
void stop_deinit(struct stop *s);

/* Feeds the next piece of text. Appends to out what can be released now. Returns 1 when a
 * stop string completed (out got the text before it; the matcher is done), else 0. */
int stop_feed(struct stop *s, const char *text, size_t len, struct buf *out);

/* End of generation without a match: releases the held text into out. */
void stop_flush(struct stop *s, struct buf *out);

#endif
