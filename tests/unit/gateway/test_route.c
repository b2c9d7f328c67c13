/* test_route.c -- the pure parts of routing: W3C traceparent parsing. */
#include "gateway/route.h"
#include "test.h"

#include <errno.h>

static void test_traceparent(void)
{
    char t[33];
    const char *ok = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    CHECK_EQ(route_traceparent(ok, strlen(ok), t), 0);
    CHECK(!strcmp(t, "0af7651916cd43dd8448eb211c80319c"));
    const char *bad[] = {
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",    /* short */
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", /* upper case */
        "00-00000000000000000000000000000000-b7ad6b7169203331-01", /* zero trace id */
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", /* zero parent id */
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", /* version ff */
        "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ(route_traceparent(bad[i], strlen(bad[i]), t), -EINVAL);
}

int main(void)
{
    TEST_RUN(test_traceparent);
    TEST_MAIN_END();
}
