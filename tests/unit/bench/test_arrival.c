/* test_arrival.c -- arrival schedules: Poisson rate and exponential gaps, gamma burstiness
 * (squared coefficient of variation = 1 / shape), step rates per step, burst times, trace
 * speed-up and caps, bounds; and the prompt corpus (varied, sized, deterministic). */
#include <errno.h>

#include "bench/arrival.h"
#include "bench/prompt.h"
#include "test.h"

static void gaps_stats(const struct arrival *a, size_t n, double *mean, double *cv2)
{
    double s = 0, s2 = 0;
    for (size_t i = 1; i < n; i++) {
        double g = a[i].t_s - a[i - 1].t_s;
        s += g;
        s2 += g * g;
    }
    double m = s / (double)(n - 1);
    *mean = m;
    *cv2 = (s2 / (double)(n - 1) - m * m) / (m * m);
}

static void test_poisson(void)
{
    struct arrival_cfg c = { .profile = ARRIVAL_POISSON, .rate = 50, .duration_s = 400,
                             .prompt_tokens = 10, .max_tokens = 20, .seed = 3 };
    struct arrival *a;
    size_t n;
    struct err e;
    CHECK_EQ(arrival_plan(&c, &a, &n, &e), 0);
    CHECK_NEAR((double)n, 20000, 20000 * 0.03);
    double mean, cv2;
    gaps_stats(a, n, &mean, &cv2);
    CHECK_NEAR(mean, 0.02, 0.02 * 0.03);
    CHECK_NEAR(cv2, 1.0, 0.06);
    CHECK(a[n - 1].t_s < 400);
    CHECK_EQ(a[0].prompt_tokens, 10);
    CHECK_EQ(a[0].max_tokens, 20);
    free(a);
    c.duration_s = 0;
    CHECK_EQ(arrival_plan(&c, &a, &n, &e), -EINVAL);     /* endless without a bound */
    c.requests_max = 100;
    CHECK_EQ(arrival_plan(&c, &a, &n, &e), 0);
    CHECK_EQ(n, 100);
    free(a);
}

static void test_gamma(void)
{
    static const double shapes[] = { 0.25, 1.0, 4.0 };
    for (int i = 0; i < 3; i++) {
        struct arrival_cfg c = { .profile = ARRIVAL_GAMMA, .rate = 100, .burstiness = shapes[i],
                                 .requests_max = 40000, .prompt_tokens = 1, .max_tokens = 1, .seed = 9 };
        struct arrival *a;
        size_t n;
        struct err e;
        CHECK_EQ(arrival_plan(&c, &a, &n, &e), 0);
        double mean, cv2;
        gaps_stats(a, n, &mean, &cv2);
        CHECK_NEAR(mean, 0.01, 0.01 * 0.04);                 /* the rate holds at any shape */
        CHECK_NEAR(cv2, 1.0 / shapes[i], 0.08 / shapes[i]);  /* burstiness shows as variance */
        free(a);
    }
}

static void test_step(void)
{
    double rates[] = { 20, 0, 100 };
    struct arrival_cfg c = { .profile = ARRIVAL_STEP, .rates = rates, .n_rates = 3, .step_s = 50,
                             .prompt_tokens = 1, .max_tokens = 1, .seed = 5 };
    struct arrival *a;
    size_t n;
    struct err e;
    CHECK_EQ(arrival_plan(&c, &a, &n, &e), 0);
    size_t per[3] = { 0, 0, 0 };
    for (size_t i = 0; i < n; i++) {
        int s = (int)(a[i].t_s / 50);
        CHECK(s >= 0 && s < 3);
        if (s >= 0 && s < 3) per[s]++;
        if (i) CHECK(a[i].t_s >= a[i - 1].t_s);
    }
    CHECK_NEAR((double)per[0], 1000, 100);
    CHECK_EQ(per[1], 0);
    CHECK_NEAR((double)per[2], 5000, 250);
    free(a);
}

static void test_burst(void)
{
    struct arrival_cfg c = { .profile = ARRIVAL_BURST, .burst_k = 7, .idle_s = 2.5, .bursts = 3,
                             .prompt_tokens = 4, .max_tokens = 8 };
    struct arrival *a;
    size_t n;
    struct err e;
    CHECK_EQ(arrival_plan(&c, &a, &n, &e), 0);
    CHECK_EQ(n, 21);
    CHECK_NEAR(a[0].t_s, 0, 0);
    CHECK_NEAR(a[6].t_s, 0, 0);
    CHECK_NEAR(a[7].t_s, 2.5, 1e-12);
    CHECK_NEAR(a[20].t_s, 5.0, 1e-12);
    free(a);
}

static void test_trace_replay(void)
{
    struct trace_entry te[] = { { 0, 100, 10 }, { 10, 200, 0 }, { 20, 300, 5000 } };
    struct trace t = { te, 3 };
    struct arrival_cfg c = { .profile = ARRIVAL_TRACE, .trace = &t, .speedup = 10, .max_tokens = 256 };
    struct arrival *a;
    size_t n;
    struct err e;
    CHECK_EQ(arrival_plan(&c, &a, &n, &e), 0);
    CHECK_EQ(n, 3);
    CHECK_NEAR(a[1].t_s, 1.0, 1e-12);
    CHECK_NEAR(a[2].t_s, 2.0, 1e-12);
    CHECK_EQ(a[1].max_tokens, 1);        /* 0 output tokens -> at least one */
    CHECK_EQ(a[2].max_tokens, 256);      /* capped */
    CHECK_EQ(a[2].prompt_tokens, 300);
    free(a);
    c.duration_s = 1.5;                  /* the duration bounds a replay too */
    CHECK_EQ(arrival_plan(&c, &a, &n, &e), 0);
    CHECK_EQ(n, 2);
    free(a);
}

static void test_prompt_corpus(void)
{
    struct prompt_corpus pc;
    prompt_corpus_init(&pc, 5000, 1);
    CHECK(pc.n_words >= 5000);
    /* varied: many distinct words, no word more than 10% of the text */
    int distinct = 0, top = 0;
    const char *probe[] = { "the", "river", "quietly", "because", "algorithm" };
    for (int i = 0; i < 5; i++) {
        int count = 0;
        for (size_t w = 0; w < pc.n_words; w++)
            if (!strncmp(pc.text + pc.word_at[w], probe[i], strlen(probe[i]))) count++;
        if (count) distinct++;
        if (count > top) top = count;
    }
    CHECK_EQ(distinct, 5);
    CHECK(top < (int)pc.n_words / 5);
    struct rng r;
    rng_seed(&r, 7);
    const char *t1, *t2;
    size_t l1, l2;
    prompt_pick(&pc, 400, &r, &t1, &l1);
    prompt_pick(&pc, 400, &r, &t2, &l2);
    CHECK(t1 != t2);                             /* different slices */
    int words = 1;
    for (size_t i = 0; i < l1; i++) words += t1[i] == ' ' || t1[i] == '\n';
    CHECK_EQ(words, 300);                        /* 400 tokens ~ 300 words */
    struct prompt_corpus pc2;
    prompt_corpus_init(&pc2, 5000, 1);
    CHECK(pc2.len == pc.len && !memcmp(pc.text, pc2.text, pc.len));   /* deterministic */
    prompt_corpus_deinit(&pc2);
    prompt_corpus_deinit(&pc);
}

int main(void)
{
    TEST_RUN(test_poisson);
    TEST_RUN(test_gamma);
    TEST_RUN(test_step);
    TEST_RUN(test_burst);
    TEST_RUN(test_trace_replay);
    TEST_RUN(test_prompt_corpus);
    TEST_MAIN_END();
}
