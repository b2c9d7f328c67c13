/* test_kv.c -- the paged KV cache: pages are taken as a sequence grows and returned when it
 * shrinks or leaves, a full pool refuses (-ENOMEM) without taking anything, a sequence cannot
 * pass its maximum length (LLMQ_ETOOLARGE), and pages never alias between sequences. */
#include "test.h"

#include "common/err.h"
#include "engine/llama/kv.h"

static void test_paging(void)
{
    struct kv_pool p;
    CHECK_EQ(kv_pool_init(&p, 2, 8, 4 * KV_PAGE), 0);
    CHECK_EQ(p.n_pages, 4);
    CHECK_EQ(p.n_free, 4);
    struct kv_seq a, b;
    CHECK_EQ(kv_seq_init(&a, 3 * KV_PAGE), 0);
    CHECK_EQ(kv_seq_init(&b, 10 * KV_PAGE), 0);
    CHECK_EQ(kv_seq_reserve(&p, &a, 1), 0);
    CHECK_EQ(a.n_pages, 1);
    CHECK_EQ(kv_seq_reserve(&p, &a, KV_PAGE), 0);          /* still one page */
    CHECK_EQ(a.n_pages, 1);
    CHECK_EQ(kv_seq_reserve(&p, &a, KV_PAGE + 1), 0);
    CHECK_EQ(a.n_pages, 2);
    CHECK_EQ(kv_seq_reserve(&p, &a, 3 * KV_PAGE + 1), LLMQ_ETOOLARGE);
    CHECK_EQ(kv_seq_reserve(&p, &b, 3 * KV_PAGE), -ENOMEM); /* 2 free, 3 needed */
    CHECK_EQ(b.n_pages, 0);
    CHECK_EQ(p.n_free, 2);
    CHECK_EQ(kv_seq_reserve(&p, &b, 2 * KV_PAGE), 0);
    CHECK_EQ(p.n_free, 0);
    /* Distinct pages: write a pattern through one sequence, read it back untouched. */
    a.len = 2 * KV_PAGE;
    b.len = 2 * KV_PAGE;
    for (int pos = 0; pos < 2 * KV_PAGE; pos++)
        for (int l = 0; l < 2; l++) {
            for (int i = 0; i < 8; i++) {
                kv_k(&p, &a, l, pos)[i] = (uint16_t)(1000 + pos * 16 + l * 8 + i);
                kv_v(&p, &a, l, pos)[i] = (uint16_t)(3000 + pos);
                kv_k(&p, &b, l, pos)[i] = 7;
                kv_v(&p, &b, l, pos)[i] = 9;
            }
        }
    int ok = 1;
    for (int pos = 0; pos < 2 * KV_PAGE; pos++)
        for (int l = 0; l < 2; l++)
            for (int i = 0; i < 8; i++)
                ok &= kv_k(&p, &a, l, pos)[i] == (uint16_t)(1000 + pos * 16 + l * 8 + i) &&
                      kv_v(&p, &a, l, pos)[i] == (uint16_t)(3000 + pos);
    CHECK(ok);
    kv_seq_truncate(&p, &a, KV_PAGE);                        /* frees one page */
    CHECK_EQ(a.n_pages, 1);
    CHECK_EQ(a.len, KV_PAGE);
    CHECK_EQ(p.n_free, 1);
    kv_seq_deinit(&p, &b);
    CHECK_EQ(p.n_free, 3);
    kv_seq_deinit(&p, &a);
    CHECK_EQ(p.n_free, 4);
    kv_pool_deinit(&p);
}

static void test_churn(void)
{
    /* Many sequences joining and leaving: the pool always balances. */
    struct kv_pool p;
    CHECK_EQ(kv_pool_init(&p, 1, 4, 64 * KV_PAGE), 0);
    struct kv_seq s[8];
    for (int i = 0; i < 8; i++) CHECK_EQ(kv_seq_init(&s[i], 32 * KV_PAGE), 0);
    unsigned x = 12345;
    int fails = 0;
    for (int it = 0; it < 2000; it++) {
        x = x * 1103515245u + 12345u;
        int k = (x >> 8) % 8, len = (int)((x >> 16) % (32 * KV_PAGE));
        if ((x >> 4) & 1) {
            int rc = kv_seq_reserve(&p, &s[k], len);
            if (rc == 0 && len > s[k].len) s[k].len = len;
            fails += rc == -ENOMEM;
        } else {
            kv_seq_truncate(&p, &s[k], len < s[k].len ? len : s[k].len);
        }
        int used = 0;
        for (int i = 0; i < 8; i++) used += s[i].n_pages;
        if (used + p.n_free != p.n_pages) { CHECK(0); break; }
    }
    printf("churn: %d reservations refused for lack of pages\n", fails);
    for (int i = 0; i < 8; i++) kv_seq_deinit(&p, &s[i]);
    CHECK_EQ(p.n_free, p.n_pages);
    kv_pool_deinit(&p);
}

int main(void)
{
    TEST_RUN(test_paging);
    TEST_RUN(test_churn);
    TEST_MAIN_END();
}
