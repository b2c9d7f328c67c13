/* test_jscan.c -- the hot-path JSON lookup: paths, arrays, escapes, and malformed input. */
#include <limits.h>

#include "bench/jscan.h"
#include "bench/rng.h"
#include "common/xalloc.h"
#include "test.h"

static void test_paths(void)
{
    const char *j = "{\"type\":\"token\",\"id\":\"r12\",\"index\":5,\"count\":3,\"text\":\"a\\\"b\","
                    "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":64},"
                    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}";
    size_t n = strlen(j);
    const char *s;
    size_t sl;
    double v;
    CHECK(jscan_str(j, n, "type", &s, &sl) && jscan_eq(s, sl, "token"));
    CHECK(jscan_str(j, n, "id", &s, &sl) && jscan_eq(s, sl, "r12"));
    CHECK(jscan_num(j, n, "index", &v) && v == 5);
    CHECK(jscan_num(j, n, "usage.completion_tokens", &v) && v == 64);
    CHECK(jscan_str(j, n, "text", &s, &sl) && sl == 4);
    CHECK(jscan_str(j, n, "choices.0.delta.content", &s, &sl) && jscan_eq(s, sl, "hi"));
    struct jscan_val jv;
    CHECK(jscan_find(j, n, "choices.0.finish_reason", &jv) && jv.type == JSCAN_NULL);
    CHECK(!jscan_find(j, n, "choices.1", &jv));
    CHECK(!jscan_find(j, n, "missing", &jv));
    CHECK(!jscan_num(j, n, "type", &v));
}

static void test_malformed(void)
{
    static const char *bad[] = { "", "{", "{\"a\"", "{\"a\":", "{\"a\":\"x", "[1,2", "{\"a\":tru}",
                                 "{\"a\":1,,\"b\":2}", "{\"a\":\"\\", "nul" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct jscan_val v;
        CHECK(!jscan_find(bad[i], strlen(bad[i]), "b", &v));
    }
    /* a value before the breakage is still found (the scan stops where it needs to) */
    struct jscan_val v;
    CHECK(jscan_find("{\"a\":1,\"b\":", 11, "a", &v) && v.type == JSCAN_NUM);
}

/* Random truncations and byte flips of real messages, each in an exactly-sized heap copy so
 * ASan sees any read past the end: lookups must never crash or overread. */
static void test_mutations(void)
{
    static const char *seeds[] = {
        "{\"type\":\"token\",\"id\":\"r7\",\"index\":5,\"count\":3,\"text\":\"a\\\"b\\u00e9\"}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":null}],\"usage\":{\"completion_tokens\":4}}",
        "{\"error\":{\"message\":\"m\",\"type\":\"t\",\"code\":\"overloaded\"}}",
    };
    static const char *paths[] = { "type", "id", "index", "choices.0.delta.content", "usage.completion_tokens",
                                   "error.code", "choices.0.finish_reason", "choices.3" };
    struct rng r;
    rng_seed(&r, 99);
    int found = 0;
    for (int it = 0; it < 30000; it++) {
        const char *seed = seeds[it % 3];
        size_t n = strlen(seed);
        size_t len = (size_t)rng_below(&r, n + 1);
        char *m = xmalloc(len ? len : 1);
        memcpy(m, seed, len);
        int flips = (int)rng_below(&r, 4);
        for (int f = 0; f < flips && len; f++) m[rng_below(&r, len)] = (char)rng_below(&r, 256);
        for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
            struct jscan_val v;
            if (jscan_find(m, len, paths[p], &v)) {
                found++;
                CHECK(v.p >= m && v.p + v.len <= m + len);
            }
        }
        free(m);
    }
    CHECK(found > 0);
}

/* jscan_int: a server's absurd numbers are clamped, never cast out of range */
static void test_int_clamped(void)
{
    const char *j = "{\"a\":1e300,\"b\":-1e300,\"c\":5.9,\"d\":1e999,\"e\":-7,\"f\":\"3\"}";
    size_t n = strlen(j);
    int v = 0;
    CHECK(jscan_int(j, n, "a", &v) && v == INT_MAX);
    CHECK(jscan_int(j, n, "b", &v) && v == INT_MIN);
    CHECK(jscan_int(j, n, "c", &v) && v == 5);
    CHECK(jscan_int(j, n, "d", &v) && v == INT_MAX);
    CHECK(jscan_int(j, n, "e", &v) && v == -7);
    CHECK(!jscan_int(j, n, "f", &v));
    CHECK(!jscan_int(j, n, "g", &v));
}

int main(void)
{
    TEST_RUN(test_paths);
    TEST_RUN(test_int_clamped);
    TEST_RUN(test_malformed);
    TEST_RUN(test_mutations);
    TEST_MAIN_END();
}
