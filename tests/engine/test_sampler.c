/* test_sampler.c -- greedy (ties -> lowest id), seeded sampling reproducible and
 * independent of other samplers, top-k / top-p / min-p cut-offs, temperature shaping
 * (observed frequencies vs the softmax, 20000 draws, 5-sigma bounds), penalties. */
#include "test.h"

#include "engine/llama/llama.h"

#define V 50

static struct llama_sampler *mk(float temp, int top_k, float top_p, float min_p, uint64_t seed)
{
    struct llama_sampler_params p;
    llama_sampler_params_default(&p);
    p.temperature = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.seed = seed;
    struct llama_sampler *s = NULL;
    CHECK_EQ(llama_sampler_new(&s, &p, V), 0);
    return s;
}

static void test_greedy(void)
{
    float lg[V] = { 0 };
    lg[7] = 3;
    lg[9] = 3;
    lg[30] = 2.5f;
    struct llama_sampler *s = mk(0, 0, 1, 0, 1);
    CHECK_EQ(llama_sampler_sample(s, lg), 7);
    CHECK_EQ(llama_argmax(lg, V), 7);
    llama_sampler_free(s);
    s = mk(1.0f, 1, 1, 0, 42);                      /* top_k 1 == greedy */
    for (int i = 0; i < 20; i++) CHECK_EQ(llama_sampler_sample(s, lg), 7);
    llama_sampler_free(s);
}

static void test_seed(void)
{
    float lg[V];
    for (int i = 0; i < V; i++) lg[i] = (float)((i * 7919) % 13) * 0.3f;
    int32_t a[64], b[64], c[64];
    struct llama_sampler *s1 = mk(1.0f, 0, 1, 0, 1234), *s2 = mk(1.0f, 0, 1, 0, 1234), *s3 = mk(1.0f, 0, 1, 0, 99);
    struct llama_sampler *other = mk(1.0f, 0, 1, 0, 1234);
    for (int i = 0; i < 64; i++) {
        a[i] = llama_sampler_sample(s1, lg);
        (void)llama_sampler_sample(other, lg);       /* interleaved use of another sampler */
        c[i] = llama_sampler_sample(s3, lg);
    }
    for (int i = 0; i < 64; i++) b[i] = llama_sampler_sample(s2, lg);
    CHECK(!memcmp(a, b, sizeof(a)));
    CHECK(memcmp(a, c, sizeof(a)) != 0);
    llama_sampler_free(s1);
    llama_sampler_free(s2);
    llama_sampler_free(s3);
    llama_sampler_free(other);
}

static void frequencies(struct llama_sampler *s, const float *lg, int n, int *count)
{
    memset(count, 0, sizeof(int) * V);
    for (int i = 0; i < n; i++) count[llama_sampler_sample(s, lg)]++;
}

static void test_distribution(void)
{
    float lg[V];
    for (int i = 0; i < V; i++) lg[i] = -0.1f * i;
    int cnt[V];
    const int N = 20000;
    for (int ti = 0; ti < 2; ti++) {
        float temp = ti ? 0.5f : 1.0f;
        struct llama_sampler *s = mk(temp, 0, 1, 0, 7 + ti);
        frequencies(s, lg, N, cnt);
        double z = 0;
        for (int i = 0; i < V; i++) z += exp(lg[i] / temp);
        int ok = 1;
        for (int i = 0; i < V; i++) {
            double p = exp(lg[i] / temp) / z, sd = sqrt(N * p * (1 - p));
            if (fabs(cnt[i] - N * p) > 5 * sd + 1) { ok = 0; fprintf(stderr, "id %d: %d vs %.1f\n", i, cnt[i], N * p); }
        }
        CHECK(ok);
        llama_sampler_free(s);
    }
    /* top_k 3: only 0..2 */
    struct llama_sampler *s = mk(1.0f, 3, 1, 0, 3);
    frequencies(s, lg, 3000, cnt);
    int outside = 0;
    for (int i = 3; i < V; i++) outside += cnt[i];
    CHECK_EQ(outside, 0);
    CHECK(cnt[0] > 0 && cnt[1] > 0 && cnt[2] > 0);
    llama_sampler_free(s);
    /* top_p: probabilities 0.5, 0.3, 0.2 -> top_p 0.7 keeps 2 */
    float lp[V];
    for (int i = 0; i < V; i++) lp[i] = -1e9f;
    lp[4] = logf(0.5f);
    lp[8] = logf(0.3f);
    lp[1] = logf(0.2f);
    s = mk(1.0f, 0, 0.7f, 0, 5);
    frequencies(s, lp, 3000, cnt);
    CHECK_EQ(cnt[1], 0);
    CHECK(cnt[4] > 0 && cnt[8] > 0);
    llama_sampler_free(s);
    /* min_p 0.5: keeps tokens with p >= 0.25 -> ids 4 and 8 (0.3 >= 0.25), not 1 */
    s = mk(1.0f, 0, 1, 0.5f, 6);
    frequencies(s, lp, 3000, cnt);
    CHECK_EQ(cnt[1], 0);
    CHECK(cnt[8] > 0);
    llama_sampler_free(s);
    s = mk(1.0f, 0, 1, 0.7f, 6);                      /* 0.3 < 0.35: only id 4 */
    frequencies(s, lp, 500, cnt);
    CHECK_EQ(cnt[4], 500);
    llama_sampler_free(s);
}

static void test_penalties(void)
{
    float lg[V] = { 0 };
    lg[3] = 2.0f;
    lg[5] = 1.5f;
    struct llama_sampler_params p;
    llama_sampler_params_default(&p);
    p.repetition_penalty = 2.0f;                     /* 2.0 / 2 = 1.0 < 1.5 */
    struct llama_sampler *s = NULL;
    CHECK_EQ(llama_sampler_new(&s, &p, V), 0);
    CHECK_EQ(llama_sampler_sample(s, lg), 3);        /* accepts 3 */
    CHECK_EQ(llama_sampler_sample(s, lg), 5);        /* 3 is penalised now */
    llama_sampler_free(s);
    llama_sampler_params_default(&p);
    p.frequency_penalty = 0.3f;                      /* 2.0 - 0.3 * count */
    CHECK_EQ(llama_sampler_new(&s, &p, V), 0);
    CHECK_EQ(llama_sampler_sample(s, lg), 3);        /* 2.0 */
    CHECK_EQ(llama_sampler_sample(s, lg), 3);        /* 1.7 */
    CHECK_EQ(llama_sampler_sample(s, lg), 5);        /* 1.4 < 1.5 */
    llama_sampler_free(s);
    llama_sampler_params_default(&p);
    p.presence_penalty = 0.6f;
    p.penalty_last_n = 2;                            /* window of 2 tokens */
    CHECK_EQ(llama_sampler_new(&s, &p, V), 0);
    llama_sampler_accept(s, 3);
    CHECK_EQ(llama_sampler_sample(s, lg), 5);        /* 1.4 < 1.5 */
    llama_sampler_accept(s, 9);                      /* window now {5, 9}: 3 free again */
    CHECK_EQ(llama_sampler_sample(s, lg), 3);
    llama_sampler_free(s);
}

int main(void)
{
    TEST_RUN(test_greedy);
    TEST_RUN(test_seed);
    TEST_RUN(test_distribution);
    TEST_RUN(test_penalties);
    TEST_MAIN_END();
}
