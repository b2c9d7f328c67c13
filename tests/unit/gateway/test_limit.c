/* test_limit.c -- token buckets on a fake clock and the Retry-After arithmetic. */
#include "gateway/limit.h"
#include "test.h"

static void test_bucket(void)
{
    struct limiter l;
    limiter_init(&l, 2, 3); /* 2/s, burst 3 */
    uint64_t t = 1000000;
    CHECK_EQ(limiter_take(&l, "a", t), 0);
    CHECK_EQ(limiter_take(&l, "a", t), 0);
    CHECK_EQ(limiter_take(&l, "a", t), 0);
    CHECK_EQ(limiter_take(&l, "a", t), 500); /* empty: one token in 500 ms */
    CHECK_EQ(limiter_take(&l, "b", t), 0);   /* keys are independent */
    CHECK_EQ(limiter_take(&l, "a", t + 250000), 250);
    CHECK_EQ(limiter_take(&l, "a", t + 500000), 0);
    CHECK_EQ(limiter_take(&l, "a", t + 100000000), 0); /* refills, capped at burst */
    CHECK_EQ(limiter_take(&l, "a", t + 100000000), 0);
    CHECK_EQ(limiter_take(&l, "a", t + 100000000), 0);
    CHECK(limiter_take(&l, "a", t + 100000000) > 0);
    for (int i = 0; i < 200; i++) { /* table grows past its first size */
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        CHECK_EQ(limiter_take(&l, k, t), 0);
    }
    limiter_deinit(&l);
    limiter_init(&l, 0, 0); /* off */
    for (int i = 0; i < 100; i++)
        CHECK_EQ(limiter_take(&l, "a", t), 0);
    limiter_deinit(&l);
}

static void test_retry_after(void)
{
    CHECK_EQ(limit_retry_after_s(0, 10, 1, 60), 1);   /* 1 / 10 -> 1 s minimum */
    CHECK_EQ(limit_retry_after_s(99, 10, 1, 60), 10); /* 100 items at 10/s */
    CHECK_EQ(limit_retry_after_s(100, 10, 1, 60), 11);
    CHECK_EQ(limit_retry_after_s(10000, 10, 1, 60), 60); /* clamped */
    CHECK_EQ(limit_retry_after_s(4, 0, 1, 60), 5);       /* nothing measured yet */
    CHECK_EQ(limit_retry_after_s(-5, 2, 1, 60), 1);
    CHECK_EQ(limit_retry_after_s(9, 0.5, 1, 60), 20);
}

int main(void)
{
    TEST_RUN(test_bucket);
    TEST_RUN(test_retry_after);
    TEST_MAIN_END();
}
