/* test_worker.c -- llmq-worker end to end against a real redis-server: jobs go in with XADD
 * (as a gateway would), tokens come back on the gateway's Pub/Sub channel and are checked
 * the way a gateway reads them (index order, no gap, no repeat, deterministic text), plus
 * cancel, deadline, lease takeover after SIGKILL, the dead-letter stream, SIGTERM drain
 * (finish and hand-back), a Redis restart, and /healthz + /metrics. Every wait is bounded.
 * Each test uses its own key prefix, so they share one redis-server. */
#include "redis_harness.h"
#include "common/buf.h"
#include "queue/event.h"
#include "queue/replay.h"
#include "test.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct redis_server rs;
static char worker_bin[1024];
static char log_path[256];

/* ---------------------------------------------------------------- a gateway's view */

#define MAX_TOKENS_SEEN 4096

struct req_view {
    char id[65];
    struct buf text;                     /* concatenated token text, each index once */
    uint32_t next_index;                 /* indices seen: 0..next_index-1 */
    int gaps;                            /* a record started past next_index */
    int repeats;                         /* a record repeated indices (rerun after takeover) */
    int repeat_mismatch;                 /* ... with different text */
    size_t tok_off[MAX_TOKENS_SEEN + 1]; /* text offset per index */
    int multi;                           /* records of count > 1 with text */
    int running;                         /* r records */
    int done, error;
    uint32_t done_index;
    char final[1024]; /* d or e payload */
};

struct view {
    redisContext *sub;
    struct req_view reqs[16];
    int n;
};

static struct req_view *req_get(struct view *v, const char *id, size_t len)
{
    for (int i = 0; i < v->n; i++)
        if (strlen(v->reqs[i].id) == len && !memcmp(v->reqs[i].id, id, len)) return &v->reqs[i];
    if (v->n == 16) return NULL;
    struct req_view *r = &v->reqs[v->n++];
    memset(r, 0, sizeof(*r));
    memcpy(r->id, id, len < 64 ? len : 64);
    buf_init(&r->text);
    return r;
}

static void on_record(struct view *v, const struct event *ev)
{
    struct req_view *r = req_get(v, ev->id, ev->id_len);
    if (!r) return;
    switch (ev->kind) {
    case EVENT_KIND_RUNNING:
        r->running++;
        break;
    case EVENT_KIND_TOKENS:
        if (ev->index > r->next_index) r->gaps++;
        if (ev->index < r->next_index) {
            /* a rerun: the text must be what the first run said for these indices */
            r->repeats++;
            if (ev->count == 1 && ev->index < MAX_TOKENS_SEEN) {
                size_t a = r->tok_off[ev->index], b = r->tok_off[ev->index + 1];
                if (b - a != ev->payload_len || memcmp(r->text.data + a, ev->payload, b - a))
                    r->repeat_mismatch++;
            }
            if (ev->index + ev->count <= r->next_index) break;
        }
        if (ev->index == r->next_index) {
            /* The record's text belongs to its last token; the ones before it had none
             * (docs/QUEUE.md), which is what the replay log's o field must say too. */
            if (ev->count > 1 && ev->payload_len) r->multi++;
            for (uint32_t k = 1; k < ev->count; k++)
                if (ev->index + k <= MAX_TOKENS_SEEN) r->tok_off[ev->index + k] = r->text.len;
            buf_append(&r->text, ev->payload, ev->payload_len);
            r->next_index += ev->count;
            if (r->next_index <= MAX_TOKENS_SEEN) r->tok_off[r->next_index] = r->text.len;
        }
        break;
    case EVENT_KIND_DONE:
    case EVENT_KIND_ERROR:
        if (ev->kind == EVENT_KIND_DONE)
            r->done++;
        else
            r->error++;
        r->done_index = ev->index;
        snprintf(r->final, sizeof(r->final), "%.*s", (int)ev->payload_len, ev->payload);
        break;
    }
}

static int pump(struct view *v, int timeout_ms)
{
    redisReply *m = harness_sub_next(v->sub, timeout_ms);
    if (!m) return 0;
    if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
        !strcmp(m->element[0]->str, "message")) {
        struct event_reader rd;
        struct event ev;
        struct err e;
        int rc;
        event_reader_init(&rd, m->element[2]->str, m->element[2]->len);
        while ((rc = event_next(&rd, &ev, &e)) == 1)
            on_record(v, &ev);
        CHECK(rc == 0);
        if (rc < 0) fprintf(stderr, "bad message: %s\n", e.msg);
    }
    freeReplyObject(m);
    return 1;
}

/* Reads until every id has a d or e record, or timeout_ms passes. Returns 1 when all ended. */
static int wait_final(struct view *v, const char *const *ids, int n, int timeout_ms)
{
    long long until = harness_now_ms() + timeout_ms;
    for (;;) {
        int all = 1;
        for (int i = 0; i < n; i++) {
            struct req_view *r = req_get(v, ids[i], strlen(ids[i]));
            if (!r || !(r->done || r->error)) all = 0;
        }
        if (all) return 1;
        long long left = until - harness_now_ms();
        if (left <= 0) return 0;
        pump(v, (int)left);
    }
}

/* Reads until the request has at least n tokens. */
static int wait_tokens(struct view *v, const char *id, uint32_t n, int timeout_ms)
{
    long long until = harness_now_ms() + timeout_ms;
    for (;;) {
        struct req_view *r = req_get(v, id, strlen(id));
        if (r && r->next_index >= n) return 1;
        long long left = until - harness_now_ms();
        if (left <= 0) return 0;
        pump(v, (int)left);
    }
}

static void view_open(struct view *v, const char *prefix, const char *gw)
{
    memset(v, 0, sizeof(*v));
    v->sub = redis_server_connect(&rs);
    redisReply *r = redisCommand(v->sub, "SUBSCRIBE %sgw:%s", prefix, gw);
    if (r) freeReplyObject(r);
}

static void view_close(struct view *v)
{
    for (int i = 0; i < v->n; i++)
        buf_deinit(&v->reqs[i].text);
    redisFree(v->sub);
}

static struct req_view *view_req(struct view *v, const char *id)
{
    return req_get(v, id, strlen(id));
}

/* ---------------------------------------------------------------- helpers */

static redisContext *rc; /* commands */

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void enqueue(const char *prefix, const char *gw, const char *id, const char *req)
{
    char enq[32];
    snprintf(enq, sizeof(enq), "%lld", now_us());
    redisReply *r =
        redisCommand(rc, "HSET %sjob:%s state queued gw %s attempts 0 req %s", prefix, id, gw, req);
    if (r) freeReplyObject(r);
    r = redisCommand(rc,
                     "XADD %sjobs * id %s gw %s req %s tp "
                     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 enq_us %s",
                     prefix, id, gw, req, enq);
    CHECK(r && r->type == REDIS_REPLY_STRING);
    if (r) freeReplyObject(r);
}

static long long cmd_int(const char *fmt, const char *a, const char *b)
{
    redisReply *r = redisCommand(rc, fmt, a, b);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r) freeReplyObject(r);
    return v;
}

static void hget(const char *prefix, const char *id, const char *field, char *out, size_t cap)
{
    redisReply *r = redisCommand(rc, "HGET %sjob:%s %s", prefix, id, field);
    snprintf(out, cap, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "");
    if (r) freeReplyObject(r);
}

struct wproc {
    pid_t pid;
    int port;
};

/* Starts a worker and waits (bounded) until /healthz says it is ready. */
static struct wproc worker_start(const char *prefix, const char *id, const char *const *extra)
{
    struct wproc w = {0, harness_free_port()};
    char url[64], port[16];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rs.port);
    snprintf(port, sizeof(port), "%d", w.port);
    char *argv[40];
    int n = 0;
    argv[n++] = worker_bin;
    const char *base[] = {"--redis-url",    url,  "--prefix", prefix,      "--id",        id,
                          "--metrics-port", port, "--engine", "synthetic", "--max-batch", "8"};
    for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
        argv[n++] = (char *)base[i];
    for (int i = 0; extra && extra[i] && n < 38; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    w.pid = harness_spawn(argv, log_path);
    CHECK(w.pid > 0);
    long long until = harness_now_ms() + 10000;
    char body[512];
    int status = 0;
    while (harness_now_ms() < until) {
        if (harness_http_get(w.port, "/healthz", &status, body, sizeof(body)) > 0 &&
            strstr(body, "\"ready\":true"))
            return w;
        usleep(20000);
    }
    CHECK(!"worker became ready");
    return w;
}

/* SIGTERM and a bounded wait; returns the exit code (or -1). */
static int worker_term(struct wproc *w, int timeout_ms)
{
    int st = 0;
    kill(w->pid, SIGTERM);
    if (harness_wait(w->pid, timeout_ms, &st) < 0) {
        harness_kill(w->pid);
        w->pid = 0;
        return -1;
    }
    w->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static double metric(int port, const char *name)
{
    static char body[1 << 16];
    int status = 0;
    if (harness_http_get(port, "/metrics", &status, body, sizeof(body)) < 0 || status != 200)
        return -1;
    size_t n = strlen(name);
    for (char *p = body; (p = strstr(p, name)) != NULL; p += n)
        if ((p == body || p[-1] == '\n') && p[n] == ' ') return atof(p + n + 1);
    return -1;
}

/* Reads P out:<id> and checks every token chunk's o field (docs/QUEUE.md): n lengths summing
 * to len(t), each token's bytes equal to that token's text on Pub/Sub (r); then follows the
 * log as a resuming gateway does (replay_cut from its next index, entries of a rerun
 * included) and checks the text is r's exactly, nothing repeated. Counts chunks and chunks
 * that straddled the follower's index (cut inside). */
static void replay_check(const char *P, const char *id, const struct req_view *r, int *chunks,
                         int *straddles)
{
    redisReply *x = redisCommand(rc, "XRANGE %sout:%s - +", P, id);
    CHECK(x && x->type == REDIS_REPLY_ARRAY);
    struct buf got;
    buf_init(&got);
    uint32_t next = 0;
    *chunks = *straddles = 0;
    for (size_t e = 0; x && x->type == REDIS_REPLY_ARRAY && e < x->elements; e++) {
        redisReply *kv = x->element[e]->element[1];
        const redisReply *t = NULL, *i = NULL, *n = NULL, *o = NULL;
        for (size_t k = 0; k + 1 < kv->elements; k += 2) {
            const char *f = kv->element[k]->str;
            if (!strcmp(f, "t")) t = kv->element[k + 1];
            if (!strcmp(f, "i")) i = kv->element[k + 1];
            if (!strcmp(f, "n")) n = kv->element[k + 1];
            if (!strcmp(f, REPLAY_FIELD_LENS)) o = kv->element[k + 1];
        }
        if (!t) continue;
        CHECK(i && n && o);
        if (!i || !n || !o) break;
        (*chunks)++;
        struct replay_chunk c = {
            (uint32_t)atol(i->str), (uint32_t)atol(n->str), t->str, t->len, o->str, o->len};
        struct err err = {0};
        int rc_check = replay_lens_check(c.lens, c.lens_len, c.count, c.text_len, &err);
        CHECK_EQ(rc_check, 0);
        if (rc_check) fprintf(stderr, "%s: o=%s: %s\n", id, o->str, err.msg);
        /* token by token against Pub/Sub */
        size_t pos = 0;
        for (uint32_t k = 0; k < c.count && c.index + k < MAX_TOKENS_SEEN; k++) {
            struct replay_cut a, b;
            replay_cut(&c, c.index + k, &a, NULL);
            replay_cut(&c, c.index + k + 1, &b, NULL);
            size_t len = b.off - a.off, ix = c.index + k;
            CHECK_EQ(a.off, pos);
            CHECK(ix < r->next_index);
            if (ix >= r->next_index) break;
            size_t want_off = r->tok_off[ix], want_len = r->tok_off[ix + 1] - want_off;
            CHECK_EQ(len, want_len);
            CHECK(len == want_len && !memcmp(c.text + pos, r->text.data + want_off, len));
            pos += len;
        }
        /* as a resuming gateway */
        if (c.index < next && next < c.index + c.count) (*straddles)++;
        struct replay_cut cut;
        CHECK_EQ(replay_cut(&c, next, &cut, &err), 0);
        CHECK_EQ(cut.exact, 1);
        if (cut.count) {
            CHECK_EQ(cut.index, next);
            buf_append(&got, c.text + cut.off, cut.len);
            next = cut.index + cut.count;
        }
    }
    if (x) freeReplyObject(x);
    CHECK_EQ(next, r->next_index);
    CHECK_EQ(got.len, r->text.len);
    CHECK(got.len == r->text.len && !memcmp(got.data, r->text.data, got.len));
    buf_deinit(&got);
}

/* ---------------------------------------------------------------- tests */

static void test_stream_order_and_determinism(void)
{
    const char *P = "t1:";
    struct view v;
    view_open(&v, P, "g1");
    struct wproc w = worker_start(P, "w1", (const char *[]){"--step-ms", "2", NULL});
    enqueue(P, "g1", "a1", "{\"prompt\":\"tell me a story\",\"max_tokens\":40,\"seed\":11}");
    enqueue(P, "g1", "a2", "{\"prompt\":\"tell me a story\",\"max_tokens\":40,\"seed\":11}");
    enqueue(P, "g1", "a3", "{\"prompt\":\"tell me a story\",\"max_tokens\":40,\"seed\":12}");
    enqueue(P, "g1", "a4",
            "{\"kind\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi "
            "there\"}],\"max_tokens\":3,\"seed\":1}");
    const char *ids[] = {"a1", "a2", "a3", "a4"};
    CHECK(wait_final(&v, ids, 4, 10000));
    for (int i = 0; i < 4; i++) {
        struct req_view *r = view_req(&v, ids[i]);
        CHECK_EQ(r->running, 1);
        CHECK_EQ(r->gaps, 0);
        CHECK_EQ(r->repeats, 0);
        CHECK_EQ(r->done, 1);
        CHECK_EQ(r->next_index, i == 3 ? 3 : 40);
        CHECK_EQ(r->done_index, r->next_index);
        CHECK(strstr(r->final, "\"finish_reason\":\"length\"") != NULL);
        CHECK(strstr(r->final, i == 3 ? "\"completion_tokens\":3" : "\"completion_tokens\":40") !=
              NULL);
        CHECK(strstr(r->final, i == 3 ? "\"prompt_tokens\":3" : "\"prompt_tokens\":4") != NULL);
        CHECK(strstr(r->final, "\"ttft_ms\":") != NULL);
    }
    struct req_view *a1 = view_req(&v, "a1"), *a2 = view_req(&v, "a2"), *a3 = view_req(&v, "a3");
    CHECK(a1->text.len > 40);
    CHECK(a1->text.len == a2->text.len && !memcmp(a1->text.data, a2->text.data, a1->text.len));
    CHECK(a1->text.len != a3->text.len || memcmp(a1->text.data, a3->text.data, a1->text.len));
    /* Redis side: state done, stream emptied (XDEL), nothing pending, replay log complete. */
    char state[32];
    hget(P, "a1", "state", state, sizeof(state));
    CHECK_STR(state, strlen(state), "done");
    CHECK_EQ(cmd_int("XLEN %sjobs", P, ""), 0);
    redisReply *r = redisCommand(rc, "XPENDING %sjobs workers", P);
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->element[0]->integer == 0);
    if (r) freeReplyObject(r);
    r = redisCommand(rc, "XRANGE %sout:a1 - +", P);
    struct buf replay;
    buf_init(&replay);
    int has_d = 0;
    for (size_t i = 0; r && i < r->elements; i++) {
        redisReply *kv = r->element[i]->element[1];
        for (size_t k = 0; k + 1 < kv->elements; k += 2) {
            if (!strcmp(kv->element[k]->str, "t"))
                buf_append(&replay, kv->element[k + 1]->str, kv->element[k + 1]->len);
            if (!strcmp(kv->element[k]->str, "d")) has_d = 1;
        }
    }
    if (r) freeReplyObject(r);
    CHECK(has_d);
    CHECK(replay.len == a1->text.len && !memcmp(replay.data, a1->text.data, replay.len));
    buf_deinit(&replay);
    CHECK(cmd_int("TTL %sout:%s", P, "a1") > 0);
    CHECK(cmd_int("EXISTS %sworker:%s", P, "w1") == 1);
    CHECK_EQ(worker_term(&w, 5000), 0);
    CHECK(cmd_int("EXISTS %sworker:%s", P, "w1") == 0);
    view_close(&v);
}

static void test_stop_string(void)
{
    const char *P = "t2:";
    struct view v;
    view_open(&v, P, "g1");
    struct wproc w = worker_start(P, "w1", (const char *[]){"--step-ms", "1", NULL});
    enqueue(P, "g1", "s1", "{\"prompt\":\"p\",\"max_tokens\":30,\"seed\":5}");
    const char *ids1[] = {"s1"};
    CHECK(wait_final(&v, ids1, 1, 5000));
    struct req_view *full = view_req(&v, "s1");
    /* stop at the 3 characters starting in the middle of the 6th word */
    const char *t = full->text.data;
    const char *p = t;
    for (int i = 0; i < 6 && p; i++)
        p = strchr(p + 1, ' ');
    CHECK(p != NULL);
    char stop[8], req[256];
    snprintf(stop, sizeof(stop), "%.3s", p ? p + 1 : "the");
    snprintf(req, sizeof(req),
             "{\"prompt\":\"p\",\"max_tokens\":30,\"seed\":5,\"stop\":[\"zzz\",\"%s\"]}", stop);
    enqueue(P, "g1", "s2", req);
    const char *ids2[] = {"s2"};
    CHECK(wait_final(&v, ids2, 1, 5000));
    struct req_view *cut = view_req(&v, "s2");
    size_t expect = (size_t)(strstr(t, stop) - t);
    CHECK_EQ(cut->text.len, expect);
    CHECK(!memcmp(cut->text.data, t, expect));
    CHECK(strstr(cut->final, "\"finish_reason\":\"stop\"") != NULL);
    CHECK(cut->done_index < 30);
    CHECK_EQ(cut->gaps, 0);
    CHECK_EQ(worker_term(&w, 5000), 0);
    view_close(&v);
}

/* The replay log's per-token lengths (o), with chunks of many records (--replay-flush-ms)
 * and stop strings that hold text back, so records of count > 1 carry text of several
 * tokens: " the" waits for the next token, since it may begin " thezzz". */
static void test_replay_lens(void)
{
    const char *P = "t10:";
    struct view v;
    view_open(&v, P, "g1");
    struct wproc w =
        worker_start(P, "w1", (const char *[]){"--step-ms", "1", "--replay-flush-ms", "7", NULL});
    enqueue(P, "g1", "l1", "{\"prompt\":\"lengths\",\"max_tokens\":300,\"seed\":9}");
    enqueue(P, "g1", "l2",
            "{\"prompt\":\"lengths\",\"max_tokens\":300,\"seed\":9,\"stop\":[\" thezzz\","
            "\" azzz\",\" ofzzz\",\" tozzz\"]}");
    const char *ids[] = {"l1", "l2"};
    CHECK(wait_final(&v, ids, 2, 10000));
    struct req_view *l1 = view_req(&v, "l1"), *l2 = view_req(&v, "l2");
    CHECK_EQ(l1->next_index, 300);
    CHECK_EQ(l2->next_index, 300);
    CHECK_EQ(l1->multi, 0);
    CHECK(l2->multi > 5); /* held-back text released with a later token */
    /* same tokens, so the same text, whatever the record boundaries */
    CHECK(l1->text.len == l2->text.len && !memcmp(l1->text.data, l2->text.data, l1->text.len));
    int chunks = 0, straddles = 0;
    replay_check(P, "l1", l1, &chunks, &straddles);
    CHECK(chunks >= 2);
    CHECK_EQ(straddles, 0);
    replay_check(P, "l2", l2, &chunks, &straddles);
    CHECK(chunks >= 2);
    CHECK_EQ(worker_term(&w, 5000), 0);
    view_close(&v);
}

static void test_cancel(void)
{
    const char *P = "t3:";
    struct view v;
    view_open(&v, P, "g1");
    struct wproc w = worker_start(P, "w1", (const char *[]){"--step-ms", "10", NULL});
    enqueue(P, "g1", "c1", "{\"prompt\":\"long\",\"max_tokens\":100000,\"seed\":1}");
    CHECK(wait_tokens(&v, "c1", 5, 5000));
    redisReply *r = redisCommand(rc, "PUBLISH %scancel c1", P);
    if (r) freeReplyObject(r);
    long long t0 = harness_now_ms();
    const char *ids[] = {"c1"};
    CHECK(wait_final(&v, ids, 1, 3000));
    CHECK(harness_now_ms() - t0 < 1000);
    struct req_view *c = view_req(&v, "c1");
    CHECK(strstr(c->final, "\"finish_reason\":\"cancelled\"") != NULL);
    CHECK(c->next_index < 200);
    char state[32];
    hget(P, "c1", "state", state, sizeof(state));
    CHECK_STR(state, strlen(state), "cancelled");
    /* wasted counts tokens of steps begun after the cancel came: the next step applies the
     * cancel first, so none (docs/WORKER.md "Metrics") */
    CHECK_EQ(metric(w.port, "llmq_tokens_wasted_total"), 0);
    CHECK_EQ(metric(w.port, "llmq_worker_jobs_total{outcome=\"cancelled\"}"), 1);
    /* a job cancelled while still queued is skipped on delivery */
    CHECK_EQ(worker_term(&w, 5000), 0);
    enqueue(P, "g1", "c2", "{\"prompt\":\"x\",\"max_tokens\":5,\"seed\":1}");
    r = redisCommand(rc, "HSET %sjob:c2 state cancelled", P);
    if (r) freeReplyObject(r);
    w = worker_start(P, "w2", NULL);
    long long until = harness_now_ms() + 3000;
    while (cmd_int("XLEN %sjobs", P, "") != 0 && harness_now_ms() < until)
        usleep(20000);
    CHECK_EQ(cmd_int("XLEN %sjobs", P, ""), 0);
    CHECK_EQ(view_req(&v, "c2")->running, 0);
    CHECK_EQ(view_req(&v, "c2")->next_index, 0);
    CHECK_EQ(worker_term(&w, 5000), 0);
    /* The engine starts a job before its delivery check replies (early join): with a 0 ms
     * engine it has finished before the check says "already done"; none of it is sent. */
    for (int i = 0; i < 5; i++) {
        char id[8];
        snprintf(id, sizeof(id), "c3-%d", i);
        enqueue(P, "g1", id, "{\"prompt\":\"x\",\"max_tokens\":3,\"seed\":1}");
        r = redisCommand(rc, "HSET %sjob:%s state done", P, id);
        if (r) freeReplyObject(r);
    }
    w = worker_start(P, "w3", (const char *[]){"--step-ms", "0", NULL});
    until = harness_now_ms() + 3000;
    while (cmd_int("XLEN %sjobs", P, "") != 0 && harness_now_ms() < until)
        usleep(20000);
    CHECK_EQ(cmd_int("XLEN %sjobs", P, ""), 0);
    while (pump(&v, 100)) {
    }
    for (int i = 0; i < 5; i++) {
        char id[8], st[16];
        snprintf(id, sizeof(id), "c3-%d", i);
        CHECK_EQ(view_req(&v, id)->running, 0);
        CHECK_EQ(view_req(&v, id)->next_index, 0);
        CHECK_EQ(view_req(&v, id)->done + view_req(&v, id)->error, 0);
        hget(P, id, "state", st, sizeof(st));
        CHECK_STR(st, strlen(st), "done");
    }
    CHECK_EQ(metric(w.port, "llmq_worker_jobs_total{outcome=\"skipped\"}"), 5);
    fprintf(stderr, "skipped after an early join: %.0f tokens generated and dropped\n",
            metric(w.port, "llmq_tokens_generated_total"));
    CHECK_EQ(metric(w.port, "llmq_tokens_wasted_total"),
             metric(w.port, "llmq_tokens_generated_total"));
    CHECK_EQ(worker_term(&w, 5000), 0);
    view_close(&v);
}

/* 0 ms engine: it runs up to BATCH_AHEAD_MAX steps ahead of the loop, so when the cancels
 * come, steps the loop has not handled yet are in flight. Those began before the cancels and
 * are not wasted; every step begun after a cancel drops its sequence first: 0 exactly (the
 * old count, from the tokens the loop had handled, counted those in-flight steps too). */
static void test_cancel_in_flight_not_wasted(void)
{
    const char *P = "t11:";
    enum { N = 16 };
    struct view v;
    view_open(&v, P, "g1");
    struct wproc w =
        worker_start(P, "w1", (const char *[]){"--step-ms", "0", "--max-batch", "16", NULL});
    const char *ids[N];
    char idb[N][8];
    for (int i = 0; i < N; i++) {
        snprintf(idb[i], sizeof(idb[i]), "f%d", i);
        ids[i] = idb[i];
        enqueue(P, "g1", ids[i], "{\"prompt\":\"long\",\"max_tokens\":1000000,\"seed\":1}");
    }
    for (int i = 0; i < N; i++)
        CHECK(wait_tokens(&v, ids[i], 50, 5000));
    for (int i = 0; i < N; i++) {
        redisReply *r = redisCommand(rc, "PUBLISH %scancel %s", P, ids[i]);
        if (r) freeReplyObject(r);
    }
    CHECK(wait_final(&v, ids, N, 5000));
    for (int i = 0; i < N; i++)
        CHECK(strstr(view_req(&v, ids[i])->final, "\"finish_reason\":\"cancelled\"") != NULL);
    CHECK_EQ(metric(w.port, "llmq_worker_jobs_total{outcome=\"cancelled\"}"), N);
    fprintf(stderr, "%d cancelled on a 0 ms engine: %.0f tokens generated, %.0f wasted\n", N,
            metric(w.port, "llmq_tokens_generated_total"),
            metric(w.port, "llmq_tokens_wasted_total"));
    CHECK_EQ(metric(w.port, "llmq_tokens_wasted_total"), 0);
    CHECK_EQ(worker_term(&w, 5000), 0);
    view_close(&v);
}

static void test_deadline_and_bad_job(void)
{
    const char *P = "t4:";
    struct view v;
    view_open(&v, P, "g1");
    struct wproc w = worker_start(P, "w1", (const char *[]){"--step-ms", "5", NULL});
    char req[256];
    snprintf(req, sizeof(req),
             "{\"prompt\":\"x\",\"max_tokens\":5,\"seed\":1,\"deadline_us\":%lld}",
             now_us() - 1000);
    enqueue(P, "g1", "d1", req);
    snprintf(req, sizeof(req),
             "{\"prompt\":\"x\",\"max_tokens\":100000,\"seed\":1,\"deadline_us\":%lld}",
             now_us() + 300000);
    enqueue(P, "g1", "d2", req);
    enqueue(P, "g1", "d3", "{\"prompt\":\"x\",\"max_tokens\":-4}");
    /* a job whose record is not a hash can never run: failed at once, not retried forever */
    redisReply *r = redisCommand(rc, "SET %sjob:d4 not-a-hash", P);
    if (r) freeReplyObject(r);
    r = redisCommand(rc, "XADD %sjobs * id d4 gw g1 req {\"prompt\":\"x\"}", P);
    if (r) freeReplyObject(r);
    const char *ids[] = {"d1", "d2", "d3", "d4"};
    CHECK(wait_final(&v, ids, 4, 5000));
    CHECK(strstr(view_req(&v, "d4")->final, "\"code\":\"internal\"") != NULL);
    CHECK(strstr(view_req(&v, "d1")->final, "\"code\":\"timeout\"") != NULL);
    CHECK_EQ(view_req(&v, "d1")->running, 0);
    CHECK(strstr(view_req(&v, "d2")->final, "\"code\":\"timeout\"") != NULL);
    CHECK(view_req(&v, "d2")->next_index > 10);
    CHECK(strstr(view_req(&v, "d3")->final, "\"code\":\"bad_request\"") != NULL);
    CHECK(strstr(view_req(&v, "d3")->final, "max_tokens") != NULL);
    char state[32];
    hget(P, "d2", "state", state, sizeof(state));
    CHECK_STR(state, strlen(state), "failed");
    CHECK_EQ(cmd_int("XLEN %sjobs", P, ""), 0);
    CHECK_EQ(worker_term(&w, 5000), 0);
    view_close(&v);
}

static void test_takeover_after_sigkill(void)
{
    const char *P = "t5:";
    struct view v;
    view_open(&v, P, "g1");
    /* Different replay flush intervals, so the rerun's chunks straddle the first run's. */
    const char *fast_lease[] = {"--step-ms",         "10", "--lease-ms", "500",
                                "--replay-flush-ms", "20", NULL};
    const char *fast_lease_b[] = {"--step-ms",         "10", "--lease-ms", "500",
                                  "--replay-flush-ms", "75", NULL};
    struct wproc a = worker_start(P, "wa", fast_lease);
    enqueue(P, "g1", "k1", "{\"prompt\":\"takeover\",\"max_tokens\":60,\"seed\":3}");
    CHECK(wait_tokens(&v, "k1", 10, 5000));
    harness_kill(a.pid); /* no drain, no ack: the job stays pending */
    struct wproc b = worker_start(P, "wb", fast_lease_b);
    const char *ids[] = {"k1"};
    CHECK(wait_final(&v, ids, 1, 8000));
    struct req_view *k = view_req(&v, "k1");
    CHECK_EQ(k->done, 1);
    CHECK_EQ(k->running, 2);
    CHECK(k->repeats >= 10);         /* the rerun started from token 0 ... */
    CHECK_EQ(k->repeat_mismatch, 0); /* ... with the same text (same seed) */
    CHECK_EQ(k->gaps, 0);
    CHECK_EQ(k->next_index, 60);
    /* The log holds both runs (the rerun's chunks restart at 0 with other boundaries): a
     * follower cuts the rerun's straddling chunk exactly. */
    int chunks = 0, straddles = 0;
    replay_check(P, "k1", k, &chunks, &straddles);
    CHECK(chunks >= 2);
    fprintf(stderr, "takeover: %d replay chunks, %d cut inside\n", chunks, straddles);
    char att[16], worker[32];
    hget(P, "k1", "attempts", att, sizeof(att));
    hget(P, "k1", "worker", worker, sizeof(worker));
    CHECK_STR(att, strlen(att), "2");
    CHECK_STR(worker, strlen(worker), "wb");
    CHECK_EQ(cmd_int("XLEN %sjobs", P, ""), 0);
    CHECK_EQ(worker_term(&b, 5000), 0);
    view_close(&v);
}

static void test_dead_letter(void)
{
    const char *P = "t6:";
    struct view v;
    view_open(&v, P, "g1");
    struct wproc w = worker_start(
        P, "w1",
        (const char *[]){"--step-ms", "1", "--lease-ms", "200", "--max-attempts", "2", NULL});
    enqueue(P, "g1", "x1", "{\"prompt\":\"boom [[synthetic:fail]]\",\"max_tokens\":5,\"seed\":1}");
    const char *ids[] = {"x1"};
    CHECK(wait_final(&v, ids, 1, 10000));
    struct req_view *x = view_req(&v, "x1");
    CHECK_EQ(x->error, 1);
    CHECK_EQ(x->running, 2);
    CHECK(strstr(x->final, "\"code\":\"internal\"") != NULL);
    /* the last attempt's reason comes with "gave up" */
    CHECK(strstr(x->final, "gave up after 2 attempts; last error: engine failed") != NULL);
    CHECK_EQ(cmd_int("XLEN %sdlq", P, ""), 1);
    CHECK_EQ(cmd_int("XLEN %sjobs", P, ""), 0);
    char state[32];
    hget(P, "x1", "state", state, sizeof(state));
    CHECK_STR(state, strlen(state), "failed");
    CHECK_EQ(metric(w.port, "llmq_worker_jobs_total{outcome=\"dead_lettered\"}"), 1);
    CHECK_EQ(metric(w.port, "llmq_worker_jobs_total{outcome=\"retried\"}"), 2);
    CHECK_EQ(worker_term(&w, 5000), 0);
    view_close(&v);
}

/* A read that returns more entries than free slots (lanes: a blocking read over all three,
 * or a read racing an XAUTOCLAIM) hands the extra ones straight back, unstarted: they stay
 * pending with a large idle time, their attempt is not counted, and the worker takes them
 * again as soon as a slot frees (not at the next tick). Made to happen here: --max-batch 1,
 * the slot filled by a takeover (XAUTOCLAIM, once a second) of a high-lane job while the
 * blocking read is in flight, then a normal job arrives and wakes that read. The blocking
 * read restarts whenever it returns, so a first job d0 sent half a second away from the
 * worker's tick (read off its heartbeat's PTTL) keeps its timeouts away from the tick. */
static void test_lane_overflow_handback(void)
{
    const char *P = "t10:";
    struct view v;
    view_open(&v, P, "g1");
    struct wproc w = worker_start(
        P, "w1",
        (const char *[]){"--max-batch", "1", "--step-ms", "10", "--lease-ms", "300", NULL});
    redisReply *r = redisCommand(rc, "PTTL %sworker:w1", P);
    long long since_tick = r && r->type == REDIS_REPLY_INTEGER ? 3000 - r->integer : 0;
    freeReplyObject(r);
    usleep((useconds_t)((1400 - since_tick % 1000) % 1000) * 1000);
    enqueue(P, "g1", "d0", "{\"prompt\":\"d\",\"max_tokens\":1,\"seed\":1}");
    const char *d0[] = {"d0"};
    CHECK(wait_final(&v, d0, 1, 3000));
    /* h1 in the high lane, delivered to a consumer that never runs it (in one transaction,
     * so the worker's blocked read never sees it as new). */
    r = redisCommand(rc, "HSET %sjob:h1 state queued gw g1 attempts 0", P);
    freeReplyObject(r);
    freeReplyObject(redisCommand(rc, "MULTI"));
    freeReplyObject(redisCommand(rc, "XADD %sjobs:high * id h1 gw g1 req %s", P,
                                 "{\"prompt\":\"h\",\"max_tokens\":50,\"seed\":1}"));
    freeReplyObject(
        redisCommand(rc, "XREADGROUP GROUP workers ghost COUNT 1 STREAMS %sjobs:high >", P));
    r = redisCommand(rc, "EXEC");
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    freeReplyObject(r);
    CHECK(wait_tokens(&v, "h1", 3, 5000)); /* taken over after the 300 ms lease */
    enqueue(P, "g1", "n1", "{\"prompt\":\"n\",\"max_tokens\":5,\"seed\":2}");
    usleep(150 * 1000);
    /* n1: delivered to w1 (the woken blocking read) and handed back at once */
    r = redisCommand(rc, "XPENDING %sjobs workers - + 10", P);
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        redisReply *e = r->element[0];
        CHECK(!strcmp(e->element[1]->str, "w1"));
        CHECK(e->element[2]->integer > 10000); /* aged: claimable by anyone */
    }
    freeReplyObject(r);
    CHECK_EQ(view_req(&v, "n1")->running, 0); /* not started: the slot is h1's */
    const char *ids[] = {"h1", "n1"};
    CHECK(wait_final(&v, ids, 2, 8000));
    CHECK_EQ(view_req(&v, "h1")->done, 1);
    CHECK_EQ(view_req(&v, "n1")->done, 1);
    CHECK_EQ(view_req(&v, "n1")->running, 1);
    CHECK_EQ(view_req(&v, "n1")->next_index, 5);
    char att[16], h_done[32], n_deq[32];
    hget(P, "n1", "attempts", att, sizeof(att));
    CHECK_STR(att, strlen(att), "1"); /* the hand-back was not an attempt */
    hget(P, "h1", "done_us", h_done, sizeof(h_done));
    hget(P, "n1", "dequeued_us", n_deq, sizeof(n_deq));
    long long gap_ms = (atoll(n_deq) - atoll(h_done)) / 1000;
    fprintf(stderr, "overflow hand-back: n1 started %lld ms after h1 ended\n", gap_ms);
    CHECK(gap_ms >= 0);
    CHECK(gap_ms < 250); /* taken when the slot freed, not at the next tick (~490 ms on) */
    CHECK_EQ(cmd_int("XLEN %sjobs", P, ""), 0);
    CHECK_EQ(cmd_int("XLEN %sjobs:high", P, ""), 0);
    CHECK_EQ(worker_term(&w, 5000), 0);
    view_close(&v);
}

static void test_drain(void)
{
    const char *P = "t7:";
    struct view v;
    view_open(&v, P, "g1");
    /* 1: SIGTERM lets running jobs finish, then exits 0 */
    struct wproc w = worker_start(P, "w1", (const char *[]){"--step-ms", "10", NULL});
    enqueue(P, "g1", "n1", "{\"prompt\":\"x\",\"max_tokens\":40,\"seed\":1}");
    CHECK(wait_tokens(&v, "n1", 3, 5000));
    kill(w.pid, SIGTERM);
    const char *ids[] = {"n1"};
    CHECK(wait_final(&v, ids, 1, 5000));
    CHECK_EQ(view_req(&v, "n1")->done, 1);
    CHECK_EQ(view_req(&v, "n1")->next_index, 40);
    int st = 0;
    CHECK_EQ(harness_wait(w.pid, 5000, &st), 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* 2: past --drain-timeout-ms the job is handed back; a peer takes it at once */
    w = worker_start(P, "w2",
                     (const char *[]){"--step-ms", "10", "--drain-timeout-ms", "200", NULL});
    enqueue(P, "g1", "n2", "{\"prompt\":\"x\",\"max_tokens\":150,\"seed\":1}");
    CHECK(wait_tokens(&v, "n2", 3, 5000));
    CHECK_EQ(worker_term(&w, 5000), 0);
    CHECK_EQ(view_req(&v, "n2")->done, 0);
    char state[32], att[16];
    hget(P, "n2", "state", state, sizeof(state));
    hget(P, "n2", "attempts", att, sizeof(att));
    CHECK_STR(state, strlen(state), "queued");
    CHECK_STR(att, strlen(att), "0");
    long long t0 = harness_now_ms();
    /* default lease (3 s): the peer must not need it, the entry was aged on hand-back */
    struct wproc b = worker_start(P, "w3", (const char *[]){"--step-ms", "1", NULL});
    const char *ids2[] = {"n2"};
    CHECK(wait_final(&v, ids2, 1, 5000));
    CHECK(harness_now_ms() - t0 < 2900);
    CHECK_EQ(view_req(&v, "n2")->done, 1);
    CHECK_EQ(view_req(&v, "n2")->repeat_mismatch, 0);
    CHECK_EQ(worker_term(&b, 5000), 0);
    view_close(&v);
}

static void test_redis_outage(void)
{
    const char *P = "t8:";
    struct wproc w = worker_start(P, "w1", (const char *[]){"--step-ms", "1", NULL});
    redisFree(rc);
    rc = NULL;
    redis_server_stop(&rs);
    char body[512];
    int status = 0;
    usleep(300000);
    CHECK(harness_http_get(w.port, "/healthz", &status, body, sizeof(body)) > 0);
    CHECK_EQ(status, 200);
    CHECK(strstr(body, "\"redis\":false") != NULL);
    CHECK(harness_http_get(w.port, "/readyz", &status, body, sizeof(body)) > 0);
    CHECK_EQ(status, 503);
    CHECK_EQ(redis_server_restart(&rs), 0);
    rc = redis_server_connect(&rs);
    struct view v;
    view_open(&v, P, "g1");
    long long until = harness_now_ms() + 8000; /* backoff is capped at 5 s */
    while (harness_now_ms() < until) {
        if (harness_http_get(w.port, "/healthz", &status, body, sizeof(body)) > 0 &&
            strstr(body, "\"ready\":true"))
            break;
        usleep(50000);
    }
    CHECK(strstr(body, "\"ready\":true") != NULL);
    enqueue(P, "g1", "o1", "{\"prompt\":\"after the outage\",\"max_tokens\":5,\"seed\":1}");
    const char *ids[] = {"o1"};
    CHECK(wait_final(&v, ids, 1, 5000));
    CHECK_EQ(view_req(&v, "o1")->done, 1);
    CHECK_EQ(worker_term(&w, 5000), 0);
    view_close(&v);
}

static void test_acl_user_and_bad_password(void)
{
    const char *P = "t9:";
    redisReply *r = redisCommand(rc, "ACL SETUSER alice on >s3cr%%t ~* &* +@all");
    CHECK(r && r->type == REDIS_REPLY_STATUS);
    if (r) freeReplyObject(r);
    struct view v;
    view_open(&v, P, "g1");
    char url[96];
    /* user:password in the URL, the password percent-encoded */
    snprintf(url, sizeof(url), "redis://alice:s3cr%%25t@127.0.0.1:%d/0", rs.port);
    struct wproc w =
        worker_start(P, "w1", (const char *[]){"--redis-url", url, "--step-ms", "1", NULL});
    enqueue(P, "g1", "u1", "{\"prompt\":\"x\",\"max_tokens\":4,\"seed\":1}");
    const char *ids[] = {"u1"};
    CHECK(wait_final(&v, ids, 1, 5000));
    CHECK_EQ(view_req(&v, "u1")->done, 1);
    CHECK_EQ(worker_term(&w, 5000), 0);
    /* a wrong password: the worker stays alive, unready, and still exits 0 on SIGTERM */
    snprintf(url, sizeof(url), "redis://alice:wrong@127.0.0.1:%d", rs.port);
    char port[16], body[512];
    int mport = harness_free_port(), status = 0;
    snprintf(port, sizeof(port), "%d", mport);
    char *argv[] = {worker_bin, "--redis-url",    url,  "--prefix", (char *)P, "--id",
                    "w2",       "--metrics-port", port, NULL};
    pid_t pid = harness_spawn(argv, log_path);
    long long until = harness_now_ms() + 5000;
    int got = -1;
    while (harness_now_ms() < until &&
           (got = harness_http_get(mport, "/readyz", &status, body, sizeof(body))) < 0)
        usleep(20000);
    usleep(200000);
    CHECK(harness_http_get(mport, "/readyz", &status, body, sizeof(body)) > 0);
    CHECK_EQ(status, 503);
    CHECK(harness_http_get(mport, "/healthz", &status, body, sizeof(body)) > 0);
    CHECK_EQ(status, 200);
    CHECK(strstr(body, "\"redis\":false") != NULL);
    struct wproc bad = {pid, mport};
    CHECK_EQ(worker_term(&bad, 5000), 0);
    view_close(&v);
}

int main(void)
{
    const char *bin = getenv("LLMQ_BIN_DIR");
    snprintf(worker_bin, sizeof(worker_bin), "%s/llmq-worker", bin ? bin : ".");
    if (access(worker_bin, X_OK) != 0) {
        printf("SKIP: %s not built (set LLMQ_BIN_DIR)\n0 passed, 0 failed\n", worker_bin);
        return 0;
    }
    int r = redis_server_start(&rs);
    if (r == -ENOENT) {
        printf("SKIP: redis-server not installed\n0 passed, 0 failed\n");
        return 0;
    }
    if (r < 0) {
        fprintf(stderr, "cannot start redis-server: %s\n", strerror(-r));
        return 1;
    }
    snprintf(log_path, sizeof(log_path), "%s/workers.log", rs.dir);
    rc = redis_server_connect(&rs);
    TEST_RUN(test_stream_order_and_determinism);
    TEST_RUN(test_stop_string);
    TEST_RUN(test_replay_lens);
    TEST_RUN(test_cancel);
    TEST_RUN(test_cancel_in_flight_not_wasted);
    TEST_RUN(test_deadline_and_bad_job);
    TEST_RUN(test_takeover_after_sigkill);
    TEST_RUN(test_dead_letter);
    TEST_RUN(test_drain);
    TEST_RUN(test_lane_overflow_handback);
    TEST_RUN(test_acl_user_and_bad_password);
    TEST_RUN(test_redis_outage);
    if (rc) redisFree(rc);
    redis_server_stop(&rs);
    if (test_failed) {
        fprintf(stderr, "worker logs kept in %s\n", log_path);
    } else {
        unlink(log_path);
        redis_server_cleanup(&rs);
    }
    TEST_MAIN_END();
}
