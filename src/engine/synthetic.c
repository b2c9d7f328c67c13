/* synthetic.c -- the "synthetic" engine: deterministic text on a timing model, no model file.
 * Each sequence draws words from a fixed list with its own PRNG seeded by hash(seed, prompt),
 * one word (with its leading space) per token, so the same seed and prompt give the same
 * tokens whatever the batch around them; it finishes with "length" at max_tokens. A step
 * costs step_ms, plus prefill_us per prompt token of the sequences joining in that step
 * (stalling the whole batch, as a real prefill does). With both at 0 a step makes no
 * syscall at all. It does not sample, tokenize or template for real: prompt tokens are
 * whitespace-separated words (at least 1).
 * Test hook: a prompt containing "[[synthetic:fail]]" fails with ENGINE_FINISH_ERROR in its
 * first step (the worker retries it, then dead-letters it; see docs/WORKER.md). */
#include "engine/engine.h"
#include "common/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAIL_MARKER "[[synthetic:fail]]"

static const char *const words[] = {
    " the",   " of",    " and",   " a",     " to",    " in",   " is",   " you",  " that",  " it",
    " he",    " was",   " for",   " on",    " are",   " as",   " with", " his",  " they",  " I",
    " at",    " be",    " this",  " have",  " from",  " or",   " one",  " had",  " by",    " word",
    " but",   " not",   " what",  " all",   " were",  " we",   " when", " your", " can",   " said",
    " there", " use",   " an",    " each",  " which", " she",  " do",   " how",  " their", " if",
    " will",  " up",    " other", " about", " out",   " many", " then", " them", " these", " so",
    " queue", " token", " café",  " naïve",
};
#define N_WORDS ((int)(sizeof(words) / sizeof(words[0])))

struct synthetic {
    uint64_t step_ns;  /* fixed cost of one step */
    double prefill_ns; /* extra cost per prompt token of a joining sequence */
    int ctx_len;       /* 0 = unlimited */
};

struct synthetic_seq {
    const struct engine_ops *ops; /* must be first (engine.h) */
    uint64_t rng;                 /* xorshift64* state, never 0 */
    int prompt_tokens;
    int max_tokens;
    int generated;
    int prefilled; /* 0 until its first step */
    int fail;      /* FAIL_MARKER seen */
};

extern const struct engine_ops synthetic_engine_ops;

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* FNV-1a over the bytes, continuing from h. */
static uint64_t fnv(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001B3ull;
    return h;
}

static int count_words(const char *s)
{
    int n = 0, in = 0;
    for (; s && *s; s++) {
        int space = *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v';
        if (!space && !in) n++;
        in = !space;
    }
    return n;
}

static int syn_open(struct engine *eng, const struct engine_config *cfg, struct err *e)
{
    if (cfg->step_ms < 0 || cfg->prefill_us < 0)
        return err_set(e, -EINVAL, "synthetic: step_ms and prefill_us must be >= 0");
    struct synthetic *s = xcalloc(1, sizeof(*s));
    s->step_ns = (uint64_t)(cfg->step_ms * 1e6);
    s->prefill_ns = cfg->prefill_us * 1e3;
    s->ctx_len = cfg->ctx_len;
    eng->impl = s;
    return 0;
}

static void syn_close(struct engine *eng)
{
    free(eng->impl);
}

static int syn_seq_new(struct engine *eng, const struct engine_request *req,
                       struct engine_seq **out, struct err *e)
{
    struct synthetic *s = eng->impl;
    if (req->max_tokens < 1) return err_set(e, -EINVAL, "synthetic: max_tokens must be >= 1");
    if (!req->prompt && req->n_messages < 1)
        return err_set(e, LLMQ_EFORMAT, "synthetic: no prompt and no messages");
    uint64_t h = 0xCBF29CE484222325ull;
    int words_n = 0, fail = 0;
    if (req->prompt) {
        h = fnv(h, req->prompt);
        words_n = count_words(req->prompt);
        fail = strstr(req->prompt, FAIL_MARKER) != NULL;
    } else {
        for (int i = 0; i < req->n_messages; i++) {
            h = fnv(fnv(h, req->messages[i].role), ":");
            h = fnv(fnv(h, req->messages[i].content), "\n");
            words_n += count_words(req->messages[i].content) + 1; /* + one for the role */
            fail |=
                req->messages[i].content && strstr(req->messages[i].content, FAIL_MARKER) != NULL;
        }
    }
    if (words_n < 1) words_n = 1;
    if (s->ctx_len > 0 && words_n + req->max_tokens > s->ctx_len)
        return err_set(e, LLMQ_ETOOLARGE,
                       "synthetic: %d prompt tokens + %d max_tokens exceed the context of %d",
                       words_n, req->max_tokens, s->ctx_len);
    struct synthetic_seq *q = malloc(sizeof(*q));
    if (!q) return err_set(e, -ENOMEM, "synthetic: out of memory");
    q->ops = &synthetic_engine_ops;
    q->rng = splitmix64(h ^ splitmix64(req->seed));
    if (!q->rng) q->rng = 1;
    q->prompt_tokens = words_n;
    q->max_tokens = req->max_tokens;
    q->generated = 0;
    q->prefilled = 0;
    q->fail = fail;
    *out = (struct engine_seq *)q;
    return 0;
}

static int syn_seq_prompt_tokens(const struct engine_seq *seq)
{
    return ((const struct synthetic_seq *)seq)->prompt_tokens;
}

static void syn_seq_free(struct engine *eng, struct engine_seq *seq)
{
    free(seq);
}

static int syn_step(struct engine *eng, struct engine_seq *const *seqs, int n,
                    struct engine_output *out)
{
    struct synthetic *s = eng->impl;
    if (n < 0 || n > eng->max_batch) return -EINVAL;
    if (n == 0) return 0;
    /* The step's cost is measured from its start (absolute deadline), so the loop below is
     * part of it; with both costs 0 nothing reads the clock: a step makes no syscall. */
    struct timespec start = {0, 0};
    int timed = s->step_ns > 0 || s->prefill_ns > 0;
    if (timed) clock_gettime(CLOCK_MONOTONIC, &start);
    uint64_t joined_tokens = 0;
    for (int i = 0; i < n; i++) {
        struct synthetic_seq *q = (struct synthetic_seq *)seqs[i];
        if (!q->prefilled) {
            q->prefilled = 1;
            joined_tokens += (uint64_t)q->prompt_tokens;
        }
        if (q->fail) {
            out[i] = (struct engine_output){
                .text = "", .text_len = 0, .token_id = -1, .finish = ENGINE_FINISH_ERROR};
            continue;
        }
        q->rng ^= q->rng >> 12;
        q->rng ^= q->rng << 25;
        q->rng ^= q->rng >> 27;
        int w = (int)((q->rng * 0x2545F4914F6CDD1Dull) >> 33) % N_WORDS;
        q->generated++;
        out[i].text = words[w];
        out[i].text_len = strlen(words[w]);
        out[i].token_id = w;
        out[i].finish = q->generated >= q->max_tokens ? ENGINE_FINISH_LENGTH : ENGINE_FINISH_NONE;
    }
    uint64_t cost_ns = s->step_ns + (uint64_t)(s->prefill_ns * (double)joined_tokens);
    if (!timed || cost_ns == 0) return 0;
    uint64_t until = (uint64_t)start.tv_sec * 1000000000ull + (uint64_t)start.tv_nsec + cost_ns;
    struct timespec ts = {.tv_sec = (time_t)(until / 1000000000ull),
                          .tv_nsec = (long)(until % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
    return 0;
}

const struct engine_ops synthetic_engine_ops = {
    .kind = "synthetic",
    .open = syn_open,
    .close = syn_close,
    .seq_new = syn_seq_new,
    .seq_prompt_tokens = syn_seq_prompt_tokens,
    .seq_free = syn_seq_free,
    .step = syn_step,
};
