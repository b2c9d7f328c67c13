/* fanout.c -- pub/sub records to streams, and the replay-log follower for resumed streams.
 * If the subscriber connection drops, tokens published meanwhile are lost to pub/sub; on
 * reconnect every unfinished stream of this gateway switches to following its replay log
 * from its next index, so clients see no gap. */
#include "gateway/fanout.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "gateway/admit.h"
#include "gateway/gw.h"
#include "gateway/stream.h"
#include "queue/event.h"
#include "queue/rconn.h"
#include "queue/replay.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- pub/sub */

/* Handles one pub/sub message (a concatenation of event records). */
static void dispatch(struct gateway *gw, const char *msg, size_t len)
{
    struct event_reader rd;
    struct event ev;
    struct err e = {0};
    int rc;
    gw->c.pubsub_messages++;
    gw->now_mono_us = clock_mono_us();
    event_reader_init(&rd, msg, len);
    while ((rc = event_next(&rd, &ev, &e)) == 1) {
        gw->c.records++;
        struct stream *s = stream_find(gw, ev.id, ev.id_len);
        while (s) {
            /* next match first: delivery may free s */
            struct stream *next = stream_find_next(s, ev.id, ev.id_len);
            if (!s->following) {
                switch (ev.kind) {
                case EVENT_KIND_TOKENS:
                    stream_on_tokens(s, ev.index, ev.count, ev.payload, ev.payload_len);
                    break;
                case EVENT_KIND_DONE:
                    stream_on_done(s, ev.index, ev.payload, ev.payload_len);
                    break;
                case EVENT_KIND_ERROR:
                    stream_on_error(s, ev.index, ev.payload, ev.payload_len);
                    break;
                case EVENT_KIND_RUNNING:
                    stream_on_running(s, ev.payload, ev.payload_len);
                    break;
                }
            }
            s = next;
        }
    }
    gw->now_mono_us = 0;
    if (rc < 0) {
        gw->c.bad_records++;
        if (gw->c.bad_records < 10 || gw->c.bad_records % 1000 == 0)
            log_warn("bad event record on %s: %s", gw->gw_channel, e.msg);
    }
}

static void on_sub(redisAsyncContext *ac, void *reply, void *priv)
{
    struct gateway *gw = priv;
    redisReply *r = reply;
    if (!r) {
        gw->subscribed = 0;
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = r->element[0]->str;
    if (!strcmp(kind, "message") && r->element[2]->type == REDIS_REPLY_STRING) {
        dispatch(gw, r->element[2]->str, r->element[2]->len);
    } else if (!strcmp(kind, "subscribe")) {
        gw->subscribed = 1;
    }
}

struct resume_ctx {
    struct gateway *gw;
    uint64_t serial;
    char rid[72];
};

static struct stream *ctx_stream(struct resume_ctx *q)
{
    return stream_find_serial(q->gw, q->rid, q->serial);
}

/* After a reconnect: a request whose job hash is gone was lost with Redis' data. */
static void on_exists(redisAsyncContext *ac, void *reply, void *priv)
{
    struct resume_ctx *q = priv;
    redisReply *r = reply;
    struct stream *s = ctx_stream(q);
    if (s && r && r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
        s->cancel_on_close = 0;
        stream_fail(s, 503, "internal",
                    "request lost: Redis restarted without its data; retry the request", 1000);
    }
    free(q);
}

static void sub_on_connect(struct rconn *rc, void *ud)
{
    struct gateway *gw = ud;
    if (rconn_command(rc, on_sub, gw, "SUBSCRIBE %s", gw->gw_channel) < 0) return;
    if (rconn_connects(rc) > 1) {
        /* Reconnected: whatever was published while we were away is only in the replay logs. */
        int n = 0;
        for (struct stream *s = gw->all_streams; s; s = s->anext)
            if (s->owned && !s->following && !s->finished && s->state == STREAM_STATE_LIVE) {
                fanout_follow(s);
                n++;
            }
        if (n) log_info("pub/sub reconnected: %d streams continue from their replay logs", n);
    }
}

void fanout_cmd_connected(struct rconn *rc, void *ud)
{
    struct gateway *gw = ud;
    if (rconn_connects(rc) <= 1) return;
    admit_unknown_flush(gw, 1); /* refused jobs that Redis may have run meanwhile */
    /* Reconnected: check every open stream's job still exists (Redis may have restarted
     * without its data; such streams would otherwise wait for tokens that never come). */
    for (struct stream *s = gw->all_streams; s; s = s->anext) {
        if (s->finished || s->state != STREAM_STATE_LIVE) continue;
        char job[KEYS_MAX];
        struct resume_ctx *q = xcalloc(1, sizeof(*q));
        q->gw = gw;
        q->serial = s->serial;
        snprintf(q->rid, sizeof(q->rid), "%s", s->rid);
        keys_job(&gw->keys, s->rid, job);
        if (rconn_command(rc, on_exists, q, "EXISTS %s", job) < 0) free(q);
    }
}

static void sub_on_disconnect(struct rconn *rc, void *ud)
{
    struct gateway *gw = ud;
    gw->subscribed = 0;
    log_warn("pub/sub connection lost; reconnecting");
}

/* ---------------------------------------------------------------- replay-log follower */

static int id_parse(const char *s, uint64_t *ms, uint64_t *seq)
{
    char *end;
    *ms = strtoull(s, &end, 10);
    *seq = 0;
    if (*end == '-') *seq = strtoull(end + 1, NULL, 10);
    return 0;
}

static int id_after(const char *a, const char *b) /* a > b */
{
    uint64_t am, as, bm, bs;
    id_parse(a, &am, &as);
    id_parse(b, &bm, &bs);
    return am > bm || (am == bm && as > bs);
}

static const redisReply *field(const redisReply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING &&
            !strcmp(fields->element[i]->str, name))
            return fields->element[i + 1];
    return NULL;
}

static void deliver_entry(struct stream *s, const redisReply *fields)
{
    const redisReply *t = field(fields, "t"), *i = field(fields, "i"), *n = field(fields, "n");
    const redisReply *d = field(fields, "d"), *e = field(fields, "e");
    const redisReply *o = field(fields, REPLAY_FIELD_LENS);
    if (t && i && n && t->type == REDIS_REPLY_STRING && i->type == REDIS_REPLY_STRING &&
        n->type == REDIS_REPLY_STRING) {
        /* A chunk that straddles the resume point is cut exactly by its per-token lengths
         * (field o, src/queue/replay.h); an entry without o is sent whole from the resume
         * index (its first bytes may repeat what the client has). */
        struct replay_chunk ch = {
            .index = (uint32_t)strtoul(i->str, NULL, 10),
            .count = (uint32_t)strtoul(n->str, NULL, 10),
            .text = t->str,
            .text_len = t->len,
            .lens = o && o->type == REDIS_REPLY_STRING ? o->str : NULL,
            .lens_len = o && o->type == REDIS_REPLY_STRING ? o->len : 0,
        };
        struct replay_cut cut;
        struct err err = {0};
        if (replay_cut(&ch, s->next_index, &cut, &err) < 0)
            log_req(LOG_LEVEL_WARN, s->rid, s->trace_id, "replay entry: %s", err.msg);
        if (cut.count) stream_on_tokens(s, cut.index, cut.count, ch.text + cut.off, cut.len);
    }
    if (d && d->type == REDIS_REPLY_STRING)
        stream_on_done(s, s->next_index, d->str, d->len);
    else if (e && e->type == REDIS_REPLY_STRING)
        stream_on_error(s, s->next_index, e->str, e->len);
}

static void on_follow(redisAsyncContext *ac, void *reply, void *priv)
{
    struct gateway *gw = priv;
    redisReply *r = reply;
    gw->follow_inflight = 0;
    if (!r) return; /* dropped: the tick retries */
    if (r->type == REDIS_REPLY_ARRAY) {
        size_t plen = strlen(gw->keys.prefix) + 4; /* "<prefix>out:" */
        for (size_t k = 0; k < r->elements; k++) {
            redisReply *kv = r->element[k];
            if (kv->type != REDIS_REPLY_ARRAY || kv->elements < 2 ||
                kv->element[0]->type != REDIS_REPLY_STRING)
                continue;
            if (kv->element[0]->len <= plen) continue;
            const char *rid = kv->element[0]->str + plen;
            redisReply *entries = kv->element[1];
            if (entries->type != REDIS_REPLY_ARRAY) continue;
            /* Collect serials first: delivery may free streams (a cut), so each one is
             * looked up again before use. */
            uint64_t serials[64];
            int ns = 0;
            for (struct stream *s = gw->followers; s && ns < 64; s = s->fnext)
                if (!strcmp(s->rid, rid)) serials[ns++] = s->serial;
            for (int m = 0; m < ns; m++) {
                struct stream *s = stream_find_serial(gw, rid, serials[m]);
                if (!s || !s->following) continue;
                uint64_t serial = s->serial;
                for (size_t j = 0; j < entries->elements; j++) {
                    redisReply *en = entries->element[j];
                    if (en->type != REDIS_REPLY_ARRAY || en->elements < 2 ||
                        en->element[0]->type != REDIS_REPLY_STRING)
                        continue;
                    if (!id_after(en->element[0]->str, s->follow_id)) continue;
                    snprintf(s->follow_id, sizeof(s->follow_id), "%s", en->element[0]->str);
                    if (en->element[1]->type == REDIS_REPLY_ARRAY) deliver_entry(s, en->element[1]);
                    struct stream *again = stream_find_serial(gw, rid, serial);
                    if (!again || again->finished) break;
                }
            }
        }
    }
    fanout_kick(gw);
}

void fanout_kick(struct gateway *gw)
{
    if (!gw->followers || gw->follow_inflight || !rconn_connected(gw->follow)) return;
    size_t n = 0;
    for (struct stream *s = gw->followers; s; s = s->fnext)
        if (!s->finished) n++;
    if (!n) return;
    if (n > 1000) n = 1000; /* the rest go in the next round */
    size_t argc = 6 + 2 * n;
    const char **argv = xcalloc(argc, sizeof(*argv));
    size_t *lens = xcalloc(argc, sizeof(*lens));
    char(*keys)[KEYS_MAX] = xcalloc(n, KEYS_MAX);
    argv[0] = "XREAD";
    argv[1] = "COUNT";
    argv[2] = "512";
    argv[3] = "BLOCK";
    argv[4] = "100";
    argv[5] = "STREAMS";
    size_t i = 0;
    for (struct stream *s = gw->followers; s && i < n; s = s->fnext) {
        if (s->finished) continue;
        keys_out(&gw->keys, s->rid, keys[i]);
        argv[6 + i] = keys[i];
        argv[6 + n + i] = s->follow_id;
        i++;
    }
    for (size_t k = 0; k < argc; k++)
        lens[k] = strlen(argv[k]);
    if (rconn_command_argv(gw->follow, on_follow, gw, (int)argc, argv, lens) == 0)
        gw->follow_inflight = 1;
    free(argv);
    free(lens);
    free(keys);
}

void fanout_follow(struct stream *s)
{
    struct gateway *gw = s->gw;
    if (s->following) return;
    snprintf(s->follow_id, sizeof(s->follow_id), "0-0");
    s->following = 1;
    s->fnext = gw->followers;
    gw->followers = s;
    fanout_kick(gw);
}

static void on_resume_check(redisAsyncContext *ac, void *reply, void *priv)
{
    struct resume_ctx *q = priv;
    redisReply *r = reply;
    struct stream *s = ctx_stream(q);
    if (s) {
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
            stream_fail(s, 503, "overloaded", "queue unavailable (Redis error); retry later", 1000);
        } else if (r->element[0]->type != REDIS_REPLY_STRING) {
            stream_fail(s, 404, "not_found", "no such request (unknown or expired request id)", 0);
        } else {
            const char *st = r->element[0]->str;
            int terminal = !strcmp(st, "done") || !strcmp(st, "failed") || !strcmp(st, "cancelled");
            if (terminal && r->element[1]->type == REDIS_REPLY_INTEGER &&
                r->element[1]->integer == 0)
                stream_fail(s, 404, "not_found", "the request finished and its replay log expired",
                            0);
            else {
                stream_start(s, 0);
                fanout_follow(s);
            }
        }
    }
    free(q);
}

void fanout_resume(struct stream *s)
{
    struct gateway *gw = s->gw;
    static const char lua[] =
        "return {redis.call('HGET', KEYS[1], 'state'), redis.call('EXISTS', KEYS[2])}";
    char job[KEYS_MAX], out[KEYS_MAX];
    if (keys_job(&gw->keys, s->rid, job) < 0 || keys_out(&gw->keys, s->rid, out) < 0) {
        stream_fail(s, 404, "not_found", "no such request", 0);
        return;
    }
    struct resume_ctx *q = xcalloc(1, sizeof(*q));
    q->gw = gw;
    q->serial = s->serial;
    snprintf(q->rid, sizeof(q->rid), "%s", s->rid);
    if (rconn_command(gw->cmd, on_resume_check, q, "EVAL %s 2 %s %s", lua, job, out) < 0) {
        free(q);
        stream_fail(s, 503, "overloaded", "queue unavailable (Redis is down); retry later", 1000);
    }
}

/* ---------------------------------------------------------------- setup */

int fanout_init(struct gateway *gw, struct err *e)
{
    struct rconn_config sub = {
        .url = gw->cfg.redis_url,
        .name = "sub",
        .ping_ms = -1,
        .on_connect = sub_on_connect,
        .on_disconnect = sub_on_disconnect,
        .ud = gw,
    };
    int rc = rconn_new(&gw->sub, gw->loop, &sub, e);
    if (rc < 0) return rc;
    struct rconn_config fol = {
        .url = gw->cfg.redis_url, .name = "follow", .ping_timeout_ms = 5000, .ud = gw};
    return rconn_new(&gw->follow, gw->loop, &fol, e);
}
