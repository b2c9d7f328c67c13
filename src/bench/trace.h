/* trace.h -- reads public LLM-serving traces, unchanged, into (arrival time, prompt tokens,
 * output tokens) triples for replay:
 *   azure     Azure LLM inference traces: CSV "TIMESTAMP,ContextTokens,GeneratedTokens",
 *             TIMESTAMP a date-time ("2023-11-16 18:15:46.6805900") or seconds;
 *   burstgpt  BurstGPT: CSV "Timestamp,Model,Request tokens,Response tokens,Total tokens,
 *             Log Type", Timestamp in seconds;
 *   mooncake  Mooncake: JSON lines {"timestamp": ms, "input_length": n, "output_length": n}.
 * Columns are found by their header names, so extra or reordered columns are fine. Times are
 * made relative to the earliest entry and entries sorted by time. Does no scheduling. */
#ifndef LLMQ_BENCH_TRACE_H
#define LLMQ_BENCH_TRACE_H

#include <stddef.h>

#include "common/err.h"

enum trace_format { TRACE_FORMAT_AZURE, TRACE_FORMAT_BURSTGPT, TRACE_FORMAT_MOONCAKE };

struct trace_entry {
    double t_s;            /* arrival, seconds after the first entry */
    int prompt_tokens;
    int output_tokens;
};

struct trace {
    struct trace_entry *entries;   /* owned */
    size_t n;
};

/* "azure", "burstgpt", "mooncake" -> format; -EINVAL otherwise. */
int trace_format_parse(const char *name, enum trace_format *out);
const char *trace_format_name(enum trace_format f);
/* Parses len bytes. On error returns LLMQ_EFORMAT with e naming the line and the problem;
 * t is then empty. Lines that are blank are skipped. */
int trace_parse(struct trace *t, enum trace_format fmt, const char *data, size_t len, struct err *e);
/* Reads and parses a file (-errno when it cannot be read). */
int trace_load(struct trace *t, enum trace_format fmt, const char *path, struct err *e);
void trace_deinit(struct trace *t);      /* safe on a zeroed struct */

#endif
