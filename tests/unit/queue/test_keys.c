/* test_keys.c -- key names of docs/QUEUE.md under default and custom prefixes. */
#include "queue/keys.h"

#include <errno.h>
#include "test.h"

static void test_default_prefix(void)
{
    struct keys k;
    char out[KEYS_MAX];
    CHECK_EQ(keys_init(&k, NULL), 0);
    CHECK_EQ(keys_jobs(&k, out), 9);
    CHECK_STR(out, strlen(out), "llmq:jobs");
    keys_dlq(&k, out);
    CHECK_STR(out, strlen(out), "llmq:dlq");
    keys_cancel(&k, out);
    CHECK_STR(out, strlen(out), "llmq:cancel");
    keys_workers(&k, out);
    CHECK_STR(out, strlen(out), "llmq:workers");
    CHECK(keys_job(&k, "0123abcd", out) > 0);
    CHECK_STR(out, strlen(out), "llmq:job:0123abcd");
    keys_out(&k, "r1", out);
    CHECK_STR(out, strlen(out), "llmq:out:r1");
    keys_gw(&k, "gw-7", out);
    CHECK_STR(out, strlen(out), "llmq:gw:gw-7");
    keys_worker(&k, "w.1", out);
    CHECK_STR(out, strlen(out), "llmq:worker:w.1");
    CHECK(keys_idem(&k, "anon", "my key:1", out) > 0);
    CHECK_STR(out, strlen(out), "llmq:idem:anon:my key:1");
}

static void test_custom_prefix(void)
{
    struct keys k;
    char out[KEYS_MAX];
    CHECK_EQ(keys_init(&k, "t42:"), 0);
    keys_job(&k, "x", out);
    CHECK_STR(out, strlen(out), "t42:job:x");
    CHECK_EQ(keys_init(&k, ""), 0);
    keys_jobs(&k, out);
    CHECK_STR(out, strlen(out), "jobs");
}

static void test_lanes(void)
{
    struct keys k;
    char out[KEYS_MAX];
    CHECK_EQ(keys_init(&k, "t:"), 0);
    CHECK_EQ(keys_lane(&k, KEYS_LANE_HIGH, out), 11);
    CHECK_STR(out, strlen(out), "t:jobs:high");
    keys_lane(&k, KEYS_LANE_NORMAL, out);
    CHECK_STR(out, strlen(out), "t:jobs"); /* the normal lane is P jobs */
    keys_lane(&k, KEYS_LANE_LOW, out);
    CHECK_STR(out, strlen(out), "t:jobs:low");
    CHECK_EQ(keys_lane(&k, KEYS_LANES, out), -EINVAL);
    CHECK_EQ(keys_lane(&k, -1, out), -EINVAL);
    CHECK_EQ(keys_lane_of(1), KEYS_LANE_HIGH);
    CHECK_EQ(keys_lane_of(1000000), KEYS_LANE_HIGH);
    CHECK_EQ(keys_lane_of(0), KEYS_LANE_NORMAL);
    CHECK_EQ(keys_lane_of(-1), KEYS_LANE_LOW);
    CHECK_STR(keys_lane_name(KEYS_LANE_HIGH), 4, "high");
    CHECK_STR(keys_lane_name(KEYS_LANE_LOW), 3, "low");
    CHECK_STR(keys_lane_name(9), 1, "?");
}

static void test_rejects(void)
{
    struct keys k;
    char out[KEYS_MAX], long_id[KEYS_ID_MAX + 2];
    CHECK_EQ(keys_init(&k, "a b"), -EINVAL);
    CHECK_EQ(keys_init(&k, "01234567890123456789012345678901234567890123456789012345678901234"),
             -EINVAL);
    keys_init(&k, NULL);
    CHECK_EQ(keys_job(&k, "", out), -EINVAL);
    CHECK_EQ(keys_job(&k, "a b", out), -EINVAL);
    CHECK_EQ(keys_job(&k, "a:b", out), -EINVAL);
    CHECK_EQ(keys_job(&k, NULL, out), -EINVAL);
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[KEYS_ID_MAX + 1] = 0;
    CHECK_EQ(keys_gw(&k, long_id, out), -EINVAL);
    long_id[KEYS_ID_MAX] = 0;
    CHECK(keys_gw(&k, long_id, out) > 0);
    CHECK_EQ(keys_idem(&k, "anon", "", out), -EINVAL);
    CHECK_EQ(keys_idem(&k, "anon", "a\nb", out), -EINVAL);
    CHECK(keys_id_valid("AZaz09._-", 9));
    CHECK(!keys_id_valid("a\0", 2));
}

int main(void)
{
    TEST_RUN(test_default_prefix);
    TEST_RUN(test_custom_prefix);
    TEST_RUN(test_lanes);
    TEST_RUN(test_rejects);
    TEST_MAIN_END();
}
