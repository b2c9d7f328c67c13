/* job.h -- the job request ("req" field of P jobs / P job:<id>, docs/QUEUE.md) as a C
 * struct, with its JSON encoding (jansson). The gateway fills a struct job_request from the
 * client's body and calls job_encode; the worker calls job_decode, which validates every
 * type and range and names the bad field. It does not fill defaults for missing required
 * fields (the gateway's normaliser does that) except where noted. */
#ifndef LLMQ_QUEUE_JOB_H
#define LLMQ_QUEUE_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

enum job_kind { JOB_KIND_COMPLETION, JOB_KIND_CHAT };

#define JOB_STOP_MAX 4             /* stop strings per request (OpenAI's limit) */
#define JOB_STOP_LEN_MAX 256       /* bytes per stop string */
#define JOB_MESSAGES_MAX 4096      /* chat messages per request */
#define JOB_MAX_TOKENS_MAX 1048576 /* upper bound accepted for max_tokens */

struct job_message {
    char *role; /* "system", "user", "assistant", ... (1..32 bytes) */
    char *content;
};

/* Ownership: after job_decode every pointer is owned (malloc'd) and job_request_deinit
 * frees them. A caller that fills the struct itself for job_encode may point the fields at
 * its own memory and then must not call job_request_deinit. */
struct job_request {
    enum job_kind kind;
    char *prompt;                 /* completion: the prompt (may be ""); NULL for chat */
    struct job_message *messages; /* chat: n_messages >= 1; NULL for completion */
    int n_messages;
    int max_tokens;           /* 1..JOB_MAX_TOKENS_MAX */
    double temperature;       /* 0..2; 0 = greedy */
    double top_p;             /* 0..1; 1 = off */
    int top_k;                /* >= 0; 0 = off */
    double min_p;             /* 0..1; 0 = off */
    uint64_t seed;            /* 0..2^63-1; always set by the gateway */
    char *stop[JOB_STOP_MAX]; /* n_stop non-empty strings, each <= JOB_STOP_LEN_MAX */
    int n_stop;
    double presence_penalty;   /* -2..2; 0 = off */
    double frequency_penalty;  /* -2..2; 0 = off */
    double repetition_penalty; /* (0, 10]; 1 = off */
    int priority;              /* higher first; any int */
    uint64_t deadline_us;      /* unix epoch us; 0 = none */
    char *model;               /* requested model name; NULL or "" = any */
};

/* Zeroes r and sets the neutral values (max_tokens 16, top_p 1, repetition_penalty 1). */
void job_request_init(struct job_request *r);
/* Frees what job_decode allocated and re-inits r. NULL is a no-op. */
void job_request_deinit(struct job_request *r);

/* Appends the compact JSON object of r to out (the exact "req" field). Returns 0, or
 * -EINVAL with e naming the field when r breaks one of the ranges above. */
int job_encode(const struct job_request *r, struct buf *out, struct err *e);

/* Parses json[0..len) into r (which it initialises first). Optional fields take their
 * neutral value when absent; "kind" defaults to "completion"; "stop" may be a string or a
 * list; unknown fields are ignored (forward compatible). Returns 0, or LLMQ_EFORMAT with
 * e->msg naming the bad field ("req.max_tokens: must be an integer in 1..1048576"); on
 * error r holds nothing to free. */
int job_decode(struct job_request *r, const char *json, size_t len, struct err *e);

#endif
