/* test_rconn.c -- the reconnecting hiredis+libuv connection against a real redis-server:
 * URL errors, fail-fast while down, commands and Pub/Sub, NULL replies on free, reconnect
 * with the on-connect hook after a server restart, ACL auth, freeing from a callback. */
#include "queue/rconn.h"
#include "../../integration/worker/redis_harness.h"
#include "test.h"

#include <hiredis/hiredis.h>

static struct redis_server rs;
static uv_loop_t loop;

struct state {
    int connects, disconnects;
    int replies, nulls;
    char last[128];
    int messages;
    struct rconn *self;
    int free_in_callback;
};

static void on_connect(struct rconn *rc, void *ud)
{
    ((struct state *)ud)->connects++;
}
static void on_disconnect(struct rconn *rc, void *ud)
{
    ((struct state *)ud)->disconnects++;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct state *st = priv;
    redisReply *r = reply;
    if (!r) {
        st->nulls++;
        return;
    }
    st->replies++;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
        r->type == REDIS_REPLY_ERROR)
        snprintf(st->last, sizeof(st->last), "%s", r->str);
    if (st->free_in_callback) {
        st->free_in_callback = 0;
        rconn_free(st->self);
        st->self = NULL;
    }
}

static void on_message(redisAsyncContext *ac, void *reply, void *priv)
{
    struct state *st = priv;
    redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        !strcmp(r->element[0]->str, "message"))
        st->messages++;
}

static void on_stop(uv_timer_t *t)
{
    uv_stop(t->loop);
}

/* Runs the loop until cond holds or ms pass. */
#define RUN_UNTIL(cond, ms)                                                                        \
    do {                                                                                           \
        long long _until = harness_now_ms() + (ms);                                                \
        uv_timer_t _t;                                                                             \
        uv_timer_init(&loop, &_t);                                                                 \
        while (!(cond) && harness_now_ms() < _until) {                                             \
            uv_timer_start(&_t, on_stop, 10, 0);                                                   \
            uv_run(&loop, UV_RUN_DEFAULT);                                                         \
        }                                                                                          \
        uv_close((uv_handle_t *)&_t, NULL);                                                        \
        uv_run(&loop, UV_RUN_NOWAIT);                                                              \
    } while (0)

static struct rconn *open_rc(const char *url, struct state *st, int ping_ms)
{
    struct rconn_config c = {.url = url,
                             .name = "test",
                             .backoff_min_ms = 20,
                             .backoff_max_ms = 200,
                             .ping_ms = ping_ms,
                             .on_connect = on_connect,
                             .on_disconnect = on_disconnect,
                             .ud = st};
    struct rconn *rc = NULL;
    struct err e = {0};
    CHECK_EQ(rconn_new(&rc, &loop, &c, &e), 0);
    return rc;
}

/* Frees rc and lets the loop run its close callbacks (other connections may stay open;
 * each test ends with uv_run(DEFAULT), which returns only once every handle is closed). */
static void close_rc(struct rconn *rc)
{
    rconn_free(rc);
    RUN_UNTIL(0, 30);
}

static void test_bad_urls(void)
{
    const char *bad[] = {"",
                         "http://x:1",
                         "rediss://x:1",
                         "unix:/tmp/r.sock",
                         "redis://x:0",
                         "redis://x:99999",
                         "redis://x:12/abc",
                         "redis://[::1",
                         "redis://:pw@",
                         "redis://x:1?db=2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rconn_config c = {.url = bad[i]};
        struct rconn *rc = NULL;
        struct err e = {0};
        CHECK_EQ(rconn_new(&rc, &loop, &c, &e), -EINVAL);
        CHECK(e.msg[0] != 0);
    }
}

static void test_fail_fast_while_down(void)
{
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", harness_free_port()); /* nobody listens */
    struct state st = {0};
    struct rconn *rc = open_rc(url, &st, 0);
    RUN_UNTIL(0, 200);
    CHECK(!rconn_connected(rc));
    CHECK_EQ(rconn_command(rc, on_reply, &st, "PING"), LLMQ_EREDIS);
    CHECK_EQ(st.connects, 0);
    close_rc(rc);
    CHECK_EQ(st.replies + st.nulls, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
}

static void test_commands_pubsub_and_free(void)
{
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/2", rs.port);
    struct state st = {0}, sub = {0};
    struct rconn *rc = open_rc(url, &st, 0), *sc = open_rc(url, &sub, -1);
    RUN_UNTIL(rconn_connected(rc) && rconn_connected(sc), 3000);
    CHECK_EQ(st.connects, 1);
    CHECK_EQ(rconn_command(sc, on_message, &sub, "SUBSCRIBE chan"), 0);
    CHECK_EQ(rconn_command(rc, on_reply, &st, "SET k %s", "v1"), 0);
    CHECK_EQ(rconn_command(rc, on_reply, &st, "GET k"), 0);
    RUN_UNTIL(st.replies == 2, 2000);
    CHECK_STR(st.last, strlen(st.last), "v1");
    const char *argv[] = {"PUBLISH", "chan", "x"};
    RUN_UNTIL(0, 50);
    CHECK_EQ(rconn_command_argv(rc, on_reply, &st, 3, argv, NULL), 0);
    RUN_UNTIL(sub.messages == 1, 2000);
    CHECK_EQ(sub.messages, 1);
    /* SELECT 2 took effect: the key is not in db 0 */
    redisContext *c = redis_server_connect(&rs);
    redisReply *r = redisCommand(c, "EXISTS k");
    CHECK(r && r->integer == 0);
    freeReplyObject(r);
    redisFree(c);
    /* pending callbacks get NULL on free */
    CHECK_EQ(rconn_command(rc, on_reply, &st, "BLPOP nothing 5"), 0);
    int before = st.nulls;
    close_rc(rc);
    CHECK_EQ(st.nulls, before + 1);
    close_rc(sc);
    uv_run(&loop, UV_RUN_DEFAULT);
}

static void test_reconnect_after_restart(void)
{
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rs.port);
    struct state st = {0};
    struct rconn *rc = open_rc(url, &st, 100);
    RUN_UNTIL(rconn_connected(rc), 3000);
    CHECK_EQ(rconn_connects(rc), 1);
    redis_server_stop(&rs);
    RUN_UNTIL(!rconn_connected(rc), 3000);
    CHECK_EQ(st.disconnects, 1);
    CHECK_EQ(rconn_command(rc, on_reply, &st, "PING"), LLMQ_EREDIS);
    CHECK_EQ(redis_server_restart(&rs), 0);
    RUN_UNTIL(rconn_connected(rc), 3000);
    CHECK_EQ(st.connects, 2);
    CHECK_EQ(rconn_connects(rc), 2);
    CHECK_EQ(rconn_command(rc, on_reply, &st, "PING"), 0);
    RUN_UNTIL(st.replies == 1, 2000);
    CHECK_STR(st.last, strlen(st.last), "PONG");
    close_rc(rc);
    uv_run(&loop, UV_RUN_DEFAULT);
}

static void test_acl_auth_and_free_in_callback(void)
{
    redisContext *c = redis_server_connect(&rs);
    redisReply *r = redisCommand(c, "ACL SETUSER bob on >pa:ss@ ~* &* +@all");
    CHECK(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(c);
    char url[96];
    snprintf(url, sizeof(url), "redis://bob:pa%%3Ass%%40@127.0.0.1:%d", rs.port);
    struct state st = {0};
    st.self = open_rc(url, &st, 0);
    RUN_UNTIL(rconn_connected(st.self), 3000);
    CHECK(rconn_connected(st.self));
    st.free_in_callback = 1;
    CHECK_EQ(rconn_command(st.self, on_reply, &st, "ACL WHOAMI"), 0);
    CHECK_EQ(rconn_command(st.self, on_reply, &st, "PING"), 0);
    RUN_UNTIL(st.self == NULL, 2000);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_STR(st.last, strlen(st.last), "bob");
    CHECK_EQ(st.nulls, 1); /* the PING behind it was cancelled by the free */
    /* wrong password: never connected, no hook */
    snprintf(url, sizeof(url), "redis://bob:nope@127.0.0.1:%d", rs.port);
    struct state bad = {0};
    struct rconn *rc = open_rc(url, &bad, 0);
    RUN_UNTIL(0, 300);
    CHECK(!rconn_connected(rc));
    CHECK_EQ(bad.connects, 0);
    close_rc(rc);
    uv_run(&loop, UV_RUN_DEFAULT);
}

int main(void)
{
    uv_loop_init(&loop);
    TEST_RUN(test_bad_urls);
    TEST_RUN(test_fail_fast_while_down);
    int r = redis_server_start(&rs);
    if (r == -ENOENT) {
        fprintf(stderr, "SKIP: redis-server not installed\n");
    } else if (r < 0) {
        fprintf(stderr, "cannot start redis-server: %s\n", strerror(-r));
        test_failed++;
    } else {
        TEST_RUN(test_commands_pubsub_and_free);
        TEST_RUN(test_reconnect_after_restart);
        TEST_RUN(test_acl_auth_and_free_in_callback);
        redis_server_stop(&rs);
        redis_server_cleanup(&rs);
    }
    CHECK_EQ(uv_loop_close(&loop), 0);
    TEST_MAIN_END();
}
