/* test_buf.c -- buf growth and the JSON string escaper (valid JSON for any bytes). */
#include "common/buf.h"
#include "test.h"

static void test_buf_append_and_consume(void)
{
    struct buf b;
    buf_init(&b);
    for (int i = 0; i < 1000; i++) buf_printf(&b, "%d,", i);
    CHECK(b.len > 2000);
    CHECK_STR(b.data, 4, "0,1,");
    buf_consume(&b, 2);
    CHECK_STR(b.data, 2, "1,");
    buf_deinit(&b);
    CHECK(b.data == NULL);
}

static void test_json_escapes_controls_and_quotes(void)
{
    struct buf b;
    buf_init(&b);
    buf_append_json_str(&b, "a\"b\\c\nd\x01", 8);
    CHECK_STR(b.data, b.len, "a\\\"b\\\\c\\nd\\u0001");
    buf_deinit(&b);
}

static void test_json_replaces_invalid_utf8(void)
{
    struct buf b;
    buf_init(&b);
    buf_append_json_str(&b, "\xc3\xa9x\xe2\x82", 5);   /* é, x, then half of a 3-byte char */
    CHECK_STR(b.data, b.len, "\xc3\xa9x\xef\xbf\xbd\xef\xbf\xbd");
    buf_deinit(&b);
}

int main(void)
{
    TEST_RUN(test_buf_append_and_consume);
    TEST_RUN(test_json_escapes_controls_and_quotes);
    TEST_RUN(test_json_replaces_invalid_utf8);
    TEST_MAIN_END();
}
