/* sampler.c -- see sampler.h. All scratch (n_vocab-sized) is allocated in
 * llama_sampler_new; sampling allocates nothing. Candidates are the tokens within 30 nats
 * of the best one (the rest have probability < 1e-13 of the best and cannot be drawn in
 * practice); top-k selects, min-p filters, and only top-p sorts (a growing head of the
 * candidates), so a 32k vocabulary costs a few linear passes per token, not a sort. */
#include "engine/llama/sampler.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct llama_sampler {
    struct llama_sampler_params p;
    int n_vocab;
    uint64_t rng[4];
    int32_t *hist;             /* owned ring of the last window tokens (window > 0) */
    int window, hist_len, hist_pos;
    int *counts;               /* owned, n_vocab: occurrences in the window */
    float *work;               /* owned, n_vocab: penalized logits */
    int32_t *cand;             /* owned, n_vocab: candidate ids */
    float *prob;               /* owned, n_vocab */
};

void llama_sampler_params_default(struct llama_sampler_params *p)
{
    memset(p, 0, sizeof(*p));
    p->top_p = 1.0f;
    p->repetition_penalty = 1.0f;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(uint64_t *s)
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

int llama_sampler_new(struct llama_sampler **out, const struct llama_sampler_params *p, int n_vocab)
{
    if (n_vocab < 1) return -EINVAL;
    struct llama_sampler *s = calloc(1, sizeof(*s));
    if (!s) return -ENOMEM;
    s->p = *p;
    s->n_vocab = n_vocab;
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
    s->window = p->penalty_last_n == 0 ? 64 : p->penalty_last_n;
    if (s->window > 0) s->hist = malloc((size_t)s->window * sizeof(int32_t));
    s->counts = calloc((size_t)n_vocab, sizeof(int));
    s->work = malloc((size_t)n_vocab * sizeof(float));
    s->cand = malloc((size_t)n_vocab * sizeof(int32_t));
    s->prob = malloc((size_t)n_vocab * sizeof(float));
    if ((s->window > 0 && !s->hist) || !s->counts || !s->work || !s->cand || !s->prob) {
        llama_sampler_free(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

void llama_sampler_free(struct llama_sampler *s)
{
    if (!s) return;
    free(s->hist);
    free(s->counts);
    free(s->work);
    free(s->cand);
    free(s->prob);
    free(s);
}

void llama_sampler_accept(struct llama_sampler *s, int32_t id)
{
    if (id < 0 || id >= s->n_vocab) return;
    if (s->window > 0) {
        if (s->hist_len == s->window) s->counts[s->hist[s->hist_pos]]--;
        else s->hist_len++;
        s->hist[s->hist_pos] = id;
        s->hist_pos = (s->hist_pos + 1) % s->window;
    }
    s->counts[id]++;
}

int32_t llama_argmax(const float *logits, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

static void apply_penalties(struct llama_sampler *s, float *x)
{
    const struct llama_sampler_params *p = &s->p;
    if (p->repetition_penalty == 1.0f && p->presence_penalty == 0 && p->frequency_penalty == 0) return;
    /* Visit each distinct token of the window once. */
    int n = s->window > 0 ? s->hist_len : s->n_vocab;
    for (int i = 0; i < n; i++) {
        int32_t id = s->window > 0 ? s->hist[i] : i;
        int cnt = s->counts[id];
        if (cnt <= 0) continue;
        if (s->window > 0) {   /* skip later duplicates in the ring */
            int dup = 0;
            for (int k = 0; k < i && !dup; k++) dup = s->hist[k] == id;
            if (dup) continue;
        }
        if (p->repetition_penalty != 1.0f && p->repetition_penalty > 0)
            x[id] = x[id] <= 0 ? x[id] * p->repetition_penalty : x[id] / p->repetition_penalty;
        x[id] -= (float)cnt * p->frequency_penalty + p->presence_penalty;
    }
}

/* Descending logit, then ascending id (deterministic). */
static _Thread_local const float *cmp_logits;
static int cmp_cand(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (cmp_logits[x] != cmp_logits[y]) return cmp_logits[x] > cmp_logits[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Moves the k best candidates (by cmp_cand order) to the front of c[0..n), in no order. */
static void select_top(int32_t *c, int n, int k)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int32_t pivot = c[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (cmp_cand(&c[i], &pivot) < 0) i++;
            while (cmp_cand(&c[j], &pivot) > 0) j--;
            if (i <= j) {
                int32_t t = c[i];
                c[i++] = c[j];
                c[j--] = t;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

int32_t llama_sampler_sample(struct llama_sampler *s, const float *logits)
{
    const struct llama_sampler_params *p = &s->p;
    float *x = s->work;
    memcpy(x, logits, (size_t)s->n_vocab * sizeof(float));
    apply_penalties(s, x);
    int32_t id;
    if (!(p->temperature > 0)) {
        id = llama_argmax(x, s->n_vocab);
        llama_sampler_accept(s, id);
        return id;
    }
    float mx = x[llama_argmax(x, s->n_vocab)];
    int n = 0;
    for (int i = 0; i < s->n_vocab; i++)
        if (x[i] >= mx - 30.0f) s->cand[n++] = i;
    cmp_logits = x;            /* single-threaded use per sampler; qsort has no context arg */
    if (p->top_k > 0 && p->top_k < n) {
        select_top(s->cand, n, p->top_k);
        n = p->top_k;
    }
    /* Untempered mass of what top-k left, for top-p's normalisation. */
    double sum = 0;
    int use_top_p = p->top_p < 1.0f && p->top_p > 0;
    if (use_top_p)
        for (int i = 0; i < n; i++) sum += expf(x[s->cand[i]] - mx);
    if (p->min_p > 0) {        /* keeps p >= min_p * p_max: a set filter, order kept */
        float cut = mx + logf(p->min_p);
        int k = 0;
        for (int i = 0; i < n; i++)
            if (x[s->cand[i]] >= cut) s->cand[k++] = s->cand[i];
        n = k;
    }
    if (use_top_p) {
        /* Smallest prefix of the sorted candidates holding top_p of the mass: sort only a
         * growing head (64, 256, ...) until it holds enough. */
        for (int k = 64;; k *= 4) {
            if (k > n) k = n;
            if (k < n) select_top(s->cand, n, k);
            qsort(s->cand, (size_t)k, sizeof(int32_t), cmp_cand);
            double acc = 0;
            int cut = -1;
            for (int i = 0; i < k && cut < 0; i++) {
                acc += expf(x[s->cand[i]] - mx) / sum;
                if (acc >= p->top_p) cut = i + 1;
            }
            if (cut > 0) { n = cut; break; }
            if (k == n) break;
        }
    }
    sum = 0;
    for (int i = 0; i < n; i++) sum += s->prob[i] = expf((x[s->cand[i]] - mx) / p->temperature);
    double u = (double)(next_u64(s->rng) >> 11) * 0x1.0p-53 * sum, acc = 0;
    id = s->cand[n - 1];
    for (int i = 0; i < n; i++) {
        acc += s->prob[i];
        if (u < acc) { id = s->cand[i]; break; }
    }
    llama_sampler_accept(s, id);
    return id;
}
