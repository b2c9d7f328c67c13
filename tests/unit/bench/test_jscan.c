/* test_jscan.c -- the hot-path JSON lookup: paths, arrays, escapes, and malformed input. */
#include "bench/jscan.h"
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

int main(void)
{
    TEST_RUN(test_paths);
    TEST_RUN(test_malformed);
    TEST_MAIN_END();
}
