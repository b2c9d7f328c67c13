/* test_http.c -- the http-parser glue: one request at a time, pipelining, limits, headers. */
#include "gateway/http.h"
#include "test.h"

static void test_simple_get(void)
{
    struct http_reader r;
    http_reader_init(&r, 4096, 1024);
    const char *req = "GET /v1/models?x=1 HTTP/1.1\r\nHost: a\r\nX-Request-Id: "
                      "abc\r\nAuthorization: Bearer k\r\n\r\n";
    size_t used;
    CHECK_EQ(http_reader_feed(&r, req, strlen(req), &used), HTTP_READ_DONE);
    CHECK_EQ(used, strlen(req));
    CHECK_EQ(r.req.method, HTTP_GET);
    size_t pl;
    const char *p = http_req_path(&r.req, &pl);
    CHECK_STR(p, pl, "/v1/models");
    size_t vl;
    const char *v = http_req_header(&r.req, "x-request-id", &vl);
    CHECK(v && vl == 3 && !strcmp(v, "abc"));
    CHECK(http_req_header(&r.req, "authorization", NULL) &&
          !strcmp(http_req_header(&r.req, "authorization", NULL), "Bearer k"));
    CHECK(http_req_header(&r.req, "missing", NULL) == NULL);
    CHECK(r.req.keep_alive);
    http_reader_deinit(&r);
}

static void test_pipelined_and_split(void)
{
    struct http_reader r;
    http_reader_init(&r, 4096, 1024);
    const char *two =
        "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t used, n = strlen(two);
    CHECK_EQ(http_reader_feed(&r, two, n, &used), HTTP_READ_DONE);
    CHECK_STR(r.req.body.data, r.req.body.len, "hello");
    CHECK(used < n);
    http_reader_next(&r);
    size_t used2;
    CHECK_EQ(http_reader_feed(&r, two + used, n - used, &used2), HTTP_READ_DONE);
    CHECK_EQ(used + used2, n);
    size_t pl;
    const char *p = http_req_path(&r.req, &pl);
    CHECK_STR(p, pl, "/b");
    /* byte by byte */
    http_reader_next(&r);
    const char *one = "GET /c HTTP/1.1\r\nX-Long-Header: abcdef\r\n\r\n";
    int rc = HTTP_READ_MORE;
    for (size_t i = 0; i < strlen(one); i++) {
        rc = http_reader_feed(&r, one + i, 1, &used);
        if (rc != HTTP_READ_MORE) break;
    }
    CHECK_EQ(rc, HTTP_READ_DONE);
    CHECK(http_req_header(&r.req, "x-long-header", NULL) &&
          !strcmp(http_req_header(&r.req, "x-long-header", NULL), "abcdef"));
    http_reader_deinit(&r);
}

static void test_limits(void)
{
    struct http_reader r;
    size_t used;
    http_reader_init(&r, 4096, 10);
    const char *big = "POST /a HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world";
    CHECK_EQ(http_reader_feed(&r, big, strlen(big), &used), -413);
    http_reader_deinit(&r);

    http_reader_init(&r, 4096, 10);
    const char *chunked =
        "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n";
    CHECK_EQ(http_reader_feed(&r, chunked, strlen(chunked), &used), -413);
    http_reader_deinit(&r);

    http_reader_init(&r, 64, 10);
    const char *hdr = "GET / HTTP/1.1\r\nX-A: "
                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    CHECK_EQ(http_reader_feed(&r, hdr, strlen(hdr), &used), -431);
    http_reader_deinit(&r);

    http_reader_init(&r, 4096, 10);
    CHECK_EQ(http_reader_feed(&r, "BLAH\r\n\r\n", 8, &used), -400);
    http_reader_next(&r); /* resets a parser in error state */
    CHECK_EQ(http_reader_feed(&r, "GET / HTTP/1.1\r\n\r\n", 18, &used), HTTP_READ_DONE);
    http_reader_deinit(&r);
}

static void test_upgrade_and_close(void)
{
    struct http_reader r;
    size_t used;
    http_reader_init(&r, 4096, 1024);
    const char *up =
        "GET /v1/ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x80";
    CHECK_EQ(http_reader_feed(&r, up, strlen(up), &used), HTTP_READ_DONE);
    CHECK(r.req.upgrade);
    CHECK_EQ(used, strlen(up) - 2); /* the frame bytes are left for the WebSocket */
    http_reader_deinit(&r);

    http_reader_init(&r, 4096, 1024);
    const char *c = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    CHECK_EQ(http_reader_feed(&r, c, strlen(c), &used), HTTP_READ_DONE);
    CHECK(!r.req.keep_alive);
    http_reader_deinit(&r);
    CHECK(!strcmp(http_status_text(413), "Payload Too Large"));
}

int main(void)
{
    TEST_RUN(test_simple_get);
    TEST_RUN(test_pipelined_and_split);
    TEST_RUN(test_limits);
    TEST_RUN(test_upgrade_and_close);
    TEST_MAIN_END();
}
