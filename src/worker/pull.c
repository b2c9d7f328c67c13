/* pull.c -- taking jobs: XGROUP CREATE, XREADGROUP (only while slots are free, on its own
 * connection because it blocks), XAUTOCLAIM takeover of jobs whose lease expired, all over the
 * priority lanes (high first: docs/QUEUE.md "Lanes"), and the
 * delivery checks of docs/QUEUE.md (attempts, state, deadline, DLQ) before a job joins the
 * batch. Cancel messages arrive here too (they need the slot list). */
#include "worker/worker.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

/* ms; < rconn ping timeout, so the pull connection stays "alive" */
#define PULL_BLOCK_MS_STR "1000"

/* ---------------------------------------------------------------- slots */

struct slot *slot_find(struct worker *w, const char *id, size_t len)
{
    for (struct slot *s = w->slots; s; s = s->next)
        if (strlen(s->id) == len && !memcmp(s->id, id, len)) return s;
    return NULL;
}

static struct slot *slot_find_entry(struct worker *w, int lane, const char *entry)
{
    for (struct slot *s = w->slots; s; s = s->next)
        if (s->lane == lane && !strcmp(s->entry, entry)) return s;
    return NULL;
}

void pull_lanes_init(struct worker *w)
{
    if (w->lanes[0].w) return;
    for (int i = 0; i < KEYS_LANES; i++) {
        w->lanes[i].w = w;
        w->lanes[i].index = i;
        keys_lane(&w->keys, i, w->lanes[i].key);
        snprintf(w->lanes[i].claim_cursor, sizeof(w->lanes[i].claim_cursor), "0-0");
    }
}

void slot_release(struct worker *w, struct slot *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        w->slots = s->next;
    if (s->next) s->next->prev = s->prev;
    w->n_slots--;
    if (s->state == SLOT_RUNNING) w->n_running--;
    int kick = w->claim_soon && !w->claim_in_flight;
    metric_set(w->m_running, w->n_running);
    free(s->traceparent);
    free(s->req_json);
    job_request_deinit(&s->req);
    buf_deinit(&s->replay);
    buf_deinit(&s->replay_lens);
    free(s->held);
    buf_deinit(&s->held_text);
    free(s);
    if (kick) { /* entries we handed back for want of a slot: take them before new ones */
        w->claim_soon = 0;
        pull_autoclaim(w); /* pull_maybe follows when the XAUTOCLAIM chain ends */
    }
    pull_maybe(w);
    drain_check(w);
}

/* ---------------------------------------------------------------- reply helpers */

static const redisReply *field(const redisReply *kv, const char *name)
{
    if (!kv || kv->type != REDIS_REPLY_ARRAY) return NULL;
    for (size_t i = 0; i + 1 < kv->elements; i += 2)
        if (kv->element[i]->type == REDIS_REPLY_STRING && !strcmp(kv->element[i]->str, name))
            return kv->element[i + 1]->type == REDIS_REPLY_STRING ? kv->element[i + 1] : NULL;
    return NULL;
}

static uint64_t parse_u64(const redisReply *r)
{
    return r ? strtoull(r->str, NULL, 10) : 0;
}

/* Acknowledges and deletes an entry we will never run (skipped, malformed). */
static void ack_del(struct worker *w, int lane, const char *entry)
{
    const char *key = w->lanes[lane].key;
    rconn_command(w->cmd, NULL, NULL, "XACK %s %s %s", key, KEYS_GROUP, entry);
    rconn_command(w->cmd, NULL, NULL, "XDEL %s %s", key, entry);
}

/* ---------------------------------------------------------------- delivery checks */

static void on_attempts(redisAsyncContext *ac, void *reply, void *priv)
{
    struct slot *s = priv;
    redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_INTEGER)
        s->attempts = r->integer;
    else if (r && r->type == REDIS_REPLY_ERROR)
        s->attempts = -1; /* hash unusable: see on_state */
}

static int str_is(const redisReply *r, const char *s)
{
    return r && r->type == REDIS_REPLY_STRING && !strcmp(r->str, s);
}

/* States after which a redelivered job is acknowledged and skipped (idempotent delivery). */
static const char *const final_states[] = {"done", "failed", "cancelled"};

void pull_verdict(struct worker *w, struct slot *s)
{
    /* Early join, dropped: all of it is wasted, except after a cancel, where only the tokens
     * of rounds begun after the cancel came are (as for a running job). */
    uint32_t wasted = s->verdict == SLOT_VERDICT_CANCEL
                          ? batch_wasted(s->end_round, s->engine_total, s->engine_last)
                          : s->engine_total;
    if (wasted) metric_add(w->m_wasted, wasted);
    switch (s->verdict) {
    case SLOT_VERDICT_RELEASE:
    case SLOT_VERDICT_NONE:
        slot_release(w, s);
        break;
    case SLOT_VERDICT_SKIP:
        ack_del(w, s->lane, s->entry);
        slot_release(w, s);
        break;
    case SLOT_VERDICT_HANDBACK:
        publish_handback(w, s);
        break;
    case SLOT_VERDICT_FAIL:
        publish_finish(w, s, "failed", NULL, s->verdict_code, s->verdict_msg);
        break;
    case SLOT_VERDICT_CANCEL:
        publish_finish(w, s, "cancelled", "cancelled", NULL, NULL);
        break;
    }
}

/* The delivery check says the job must not run: carry out v now, or, when the engine already
 * runs it (early join), once the engine has let go (publish.c hold_out). */
static void check_failed(struct worker *w, struct slot *s, enum slot_verdict v, const char *code,
                         const char *msg)
{
    s->verdict = v;
    snprintf(s->verdict_code, sizeof(s->verdict_code), "%s", code ? code : "");
    snprintf(s->verdict_msg, sizeof(s->verdict_msg), "%s", msg ? msg : "");
    if (!s->early || s->engine_done || w->stopping) { /* (stopping: the engine is gone) */
        pull_verdict(w, s);
        return;
    }
    /* Its held records are dropped; the next step drops the sequence (EOUT_DROPPED). */
    free(s->held);
    s->held = NULL;
    s->n_held = s->cap_held = 0;
    buf_reset(&s->held_text);
    batch_cancel(&w->batch, s);
}

/* The second half of the delivery check (HINCRBY attempts came first, same pipeline). */
static void on_state(redisAsyncContext *ac, void *reply, void *priv)
{
    struct slot *s = priv;
    struct worker *w = s->w;
    redisReply *r = reply;
    if (r && (r->type == REDIS_REPLY_ERROR || s->attempts < 0)) {
        /* P job:<id> is not a usable hash (WRONGTYPE, attempts not a number): retrying
         * would fail the same way forever, so the job fails now. */
        char msg[200];
        snprintf(msg, sizeof(msg), "job record %s unusable: %s", s->id,
                 r->type == REDIS_REPLY_ERROR ? r->str : "attempts is not an integer");
        log_req(LOG_LEVEL_ERROR, s->id, s->trace_id, "%s", msg);
        check_failed(w, s, SLOT_VERDICT_FAIL, "internal", msg);
        return;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 || s->attempts == 0) {
        /* Connection lost or an error: leave the entry pending; the lease brings it back. */
        log_req(LOG_LEVEL_WARN, s->id, s->trace_id,
                "delivery check failed (%s); leaving the job pending",
                r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
        check_failed(w, s, SLOT_VERDICT_RELEASE, NULL, NULL);
        return;
    }
    const redisReply *st = r->element[0];
    for (size_t i = 0; i < sizeof(final_states) / sizeof(final_states[0]); i++)
        if (str_is(st, final_states[i])) {
            log_req(LOG_LEVEL_INFO, s->id, s->trace_id, "job already %s; acknowledging redelivery",
                    st->str);
            metric_add(w->m_jobs_skipped, 1);
            check_failed(w, s, SLOT_VERDICT_SKIP, NULL, NULL);
            return;
        }
    if (w->draining) { /* delivered while draining: give it straight back */
        check_failed(w, s, SLOT_VERDICT_HANDBACK, NULL, NULL);
        return;
    }
    if (s->attempts > w->cfg.max_attempts) {
        /* The last attempt's reason (publish_retry's HSET error), when there is one. */
        const redisReply *last = r->elements >= 2 ? r->element[1] : NULL;
        char msg[512];
        if (last && last->type == REDIS_REPLY_STRING && last->len)
            snprintf(msg, sizeof(msg), "gave up after %lld attempts; last error: %.*s",
                     s->attempts - 1, (int)(last->len < 400 ? last->len : 400), last->str);
        else
            snprintf(msg, sizeof(msg), "gave up after %lld attempts", s->attempts - 1);
        log_req(LOG_LEVEL_WARN, s->id, s->trace_id, "%s: moving the job to the dead-letter stream",
                msg);
        /* The fields `llmq dlq retry` needs to re-enqueue it as it came (id, gw, req, tp). */
        const char *argv[] = {"XADD",
                              w->dlq_key,
                              "*",
                              "id",
                              s->id,
                              "gw",
                              s->gw,
                              "req",
                              s->req_json,
                              "tp",
                              s->traceparent ? s->traceparent : "",
                              "error",
                              msg,
                              "entry",
                              s->entry};
        size_t lens[15];
        for (int i = 0; i < 15; i++)
            lens[i] = i == 8 ? s->req_len : strlen(argv[i]);
        rconn_command_argv(w->cmd, NULL, NULL, 15, argv, lens);
        s->dead_lettered = 1;
        check_failed(w, s, SLOT_VERDICT_FAIL, "internal", msg);
        return;
    }
    if (!s->early) {
        struct err e = {0};
        if (job_decode(&s->req, s->req_json, s->req_len, &e) < 0) {
            log_req(LOG_LEVEL_WARN, s->id, s->trace_id, "bad job: %s", e.msg);
            publish_finish(w, s, "failed", NULL, "bad_request", e.msg);
            return;
        }
        s->deadline_us = s->req.deadline_us;
    }
    if (s->deadline_us && clock_wall_us() >= s->deadline_us) {
        check_failed(w, s, SLOT_VERDICT_FAIL, "timeout", "deadline passed before the job started");
        return;
    }
    if (s->end == SLOT_END_CANCELLED) { /* a cancel arrived while we were checking */
        check_failed(w, s, SLOT_VERDICT_CANCEL, NULL, NULL);
        return;
    }
    if (s->enqueued_us && s->dequeued_us > s->enqueued_us)
        metric_observe(w->m_queue_s, (double)(s->dequeued_us - s->enqueued_us) / 1e6);
    s->state = SLOT_RUNNING;
    w->n_running++;
    metric_set(w->m_running, w->n_running);
    publish_running(w, s);
    log_req(LOG_LEVEL_DEBUG, s->id, s->trace_id, "running (attempt %lld%s)", s->attempts,
            s->early ? ", joined early" : "");
    if (s->early)
        publish_held(w, s); /* what the engine made meanwhile (may end and free s) */
    else
        batch_join(&w->batch, s);
    publish_flush(w);
}

/* Joins the engine before the delivery check replies, so the first step overlaps that round
 * trip; its records are held until the check passes (docs/WORKER.md "Latency"). Only for a
 * request that decodes and whose deadline has not passed; otherwise on_state decides as
 * before. */
static void join_early(struct worker *w, struct slot *s)
{
    struct err e = {0};
    if (job_decode(&s->req, s->req_json, s->req_len, &e) < 0 ||
        (s->req.deadline_us && clock_wall_us() >= s->req.deadline_us)) {
        /* on_state decodes again and fails it (bad_request, timeout) */
        job_request_deinit(&s->req);
        job_request_init(&s->req);
        return;
    }
    s->deadline_us = s->req.deadline_us;
    s->early = 1;
    batch_join(&w->batch, s);
}

/* One stream entry of lane delivered by XREADGROUP or XAUTOCLAIM. */
static void deliver(struct worker *w, int lane, const redisReply *ent)
{
    if (ent->type != REDIS_REPLY_ARRAY || ent->elements < 2 ||
        ent->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *entry = ent->element[0]->str;
    const redisReply *kv = ent->element[1];
    if (strlen(entry) >= sizeof(((struct slot *)0)->entry)) return;
    if (slot_find_entry(w, lane, entry)) return; /* ours already (our own lease lapsed) */
    if (kv->type != REDIS_REPLY_ARRAY) {         /* deleted meanwhile */
        ack_del(w, lane, entry);
        return;
    }
    const redisReply *id = field(kv, "id"), *gw = field(kv, "gw"), *req = field(kv, "req");
    const redisReply *tp = field(kv, "tp"), *enq = field(kv, "enq_us");
    if (!id || !gw || !req || !keys_id_valid(id->str, id->len) ||
        !keys_id_valid(gw->str, gw->len)) {
        log_error("malformed job entry %s (needs valid id, gw, req): dead-lettering it", entry);
        rconn_command(w->cmd, NULL, NULL, "XADD %s * entry %s error %s", w->dlq_key, entry,
                      "malformed entry: needs valid id, gw, req");
        ack_del(w, lane, entry);
        metric_add(w->m_jobs_dlq, 1);
        return;
    }
    if (w->draining || w->n_slots >= w->max_batch) {
        /* Not started, not ours to keep (draining, or a read over several lanes returned
         * more than the free slots): make it claimable by a peer (or us) at once. */
        rconn_command(w->cmd, NULL, NULL, "XCLAIM %s %s %s 0 %s IDLE %lld JUSTID",
                      w->lanes[lane].key, KEYS_GROUP, w->cfg.id, entry, w->cfg.lease_ms * 100);
        if (w->draining)
            metric_add(w->m_jobs_handed_back, 1);
        else
            w->claim_soon = 1; /* XAUTOCLAIM at the next free slot, not the next tick */
        return;
    }
    struct slot *s = xcalloc(1, sizeof(*s));
    s->w = w;
    memcpy(s->id, id->str, id->len);
    memcpy(s->gw, gw->str, gw->len);
    snprintf(s->entry, sizeof(s->entry), "%s", entry);
    s->lane = lane;
    s->req_json = xstrndup(req->str, req->len);
    s->req_len = req->len;
    job_request_init(&s->req);
    buf_init(&s->replay);
    buf_init(&s->replay_lens);
    buf_init(&s->held_text);
    if (tp && tp->len) {
        s->traceparent = xstrndup(tp->str, tp->len);
        /* traceparent: 00-<32 hex trace id>-<16 hex parent>-<flags> */
        if (tp->len >= 35 && tp->str[2] == '-')
            snprintf(s->trace_id, sizeof(s->trace_id), "%.32s", tp->str + 3);
    }
    s->enqueued_us = parse_u64(enq);
    s->dequeued_us = clock_wall_us(); /* taken from the queue (queue_ms ends here) */
    s->state = SLOT_CHECKING;
    s->next = w->slots;
    if (w->slots) w->slots->prev = s;
    w->slots = s;
    w->n_slots++;
    char key[KEYS_MAX];
    keys_job(&w->keys, s->id, key);
    if (rconn_command(w->cmd, on_attempts, s, "HINCRBY %s attempts 1", key) < 0 ||
        rconn_command(w->cmd, on_state, s, "HMGET %s state error", key) < 0) {
        /* Only the first can have been sent: on_attempts does not free. Drop the slot; the
         * entry stays pending and comes back through the lease. */
        slot_release(w, s);
        return;
    }
    join_early(w, s);
}

/* ---------------------------------------------------------------- XREADGROUP */

static void on_pull_retry(uv_timer_t *t)
{
    pull_maybe(t->data);
}

static void on_group(redisAsyncContext *ac, void *reply, void *priv)
{
    struct lane *l = priv;
    redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9))
        log_error("XGROUP CREATE %s %s: %s", l->key, KEYS_GROUP, r->str);
    if (l->index == KEYS_LANES - 1) pull_maybe(l->w); /* the last of the pipelined creates */
}

static void create_groups(struct worker *w)
{
    pull_lanes_init(w);
    for (int i = 0; i < KEYS_LANES; i++)
        rconn_command(w->cmd, on_group, &w->lanes[i], "XGROUP CREATE %s %s 0 MKSTREAM",
                      w->lanes[i].key, KEYS_GROUP);
}

void pull_on_connect(struct worker *w)
{
    create_groups(w);
}

/* The lane of a stream name in a reply (-1 when none of ours). */
static int lane_of_key(struct worker *w, const redisReply *name)
{
    if (!name || name->type != REDIS_REPLY_STRING) return -1;
    for (int i = 0; i < KEYS_LANES; i++)
        if (!strcmp(name->str, w->lanes[i].key)) return i;
    return -1;
}

static void on_read(redisAsyncContext *ac, void *reply, void *priv)
{
    struct worker *w = priv;
    redisReply *r = reply;
    w->pull_in_flight = 0;
    if (w->stopping) return;
    if (!r) return; /* connection dropped: pull_maybe runs again on reconnect */
    if (r->type == REDIS_REPLY_ERROR) {
        if (!strncmp(r->str, "NOGROUP", 7))
            create_groups(w); /* stream or group gone (FLUSHALL, restart) */
        else
            log_error("XREADGROUP: %s", r->str);
        w->pull_stage = 0;
        w->pull_got = 0;
        uv_timer_start(&w->pull_retry, on_pull_retry, 200, 0);
        return;
    }
    /* [[stream, [entry, ...]], ...] or nil (nothing, or the block timed out) */
    int got = 0;
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *sr = r->element[i];
            if (sr->type != REDIS_REPLY_ARRAY || sr->elements < 2 ||
                sr->element[1]->type != REDIS_REPLY_ARRAY)
                continue;
            int lane = lane_of_key(w, sr->element[0]);
            if (lane < 0) continue;
            for (size_t j = 0; j < sr->element[1]->elements; j++, got++)
                deliver(w, lane, sr->element[1]->element[j]);
        }
    if (w->pull_stage < KEYS_LANES) { /* a non-blocking read of one lane */
        w->pull_got += got;
        if (++w->pull_stage == KEYS_LANES && w->pull_got) w->pull_stage = 0; /* another round */
    } else { /* the blocking read over every lane: start again from the high lane */
        w->pull_stage = 0;
    }
    if (w->pull_stage == 0) w->pull_got = 0;
    pull_maybe(w);
}

/* Slots are filled lane by lane, high first: one non-blocking XREADGROUP per lane for the
 * slots still free; only when a whole round found nothing does the worker block on every lane
 * at once (COUNT 1: the first job of any lane wakes it, and the next round takes the rest in
 * lane order). */
void pull_maybe(struct worker *w)
{
    pull_lanes_init(w);
    int free_slots = w->max_batch - w->n_slots;
    if (free_slots <= 0 && !w->pull_in_flight) { /* full: the next round starts at high */
        w->pull_stage = 0;
        w->pull_got = 0;
    }
    /* A running XAUTOCLAIM chain counts the same free slots: reading at the same time would
     * take more entries than slots (the extra ones handed back). It calls us when done. */
    if (w->draining || w->stopping || w->pull_in_flight || w->claim_in_flight || free_slots <= 0 ||
        !rconn_connected(w->pull))
        return;
    if (uv_is_active((uv_handle_t *)&w->pull_retry)) return;
    int rc;
    if (w->pull_stage < KEYS_LANES) {
        rc = rconn_command(w->pull, on_read, w, "XREADGROUP GROUP %s %s COUNT %d STREAMS %s >",
                           KEYS_GROUP, w->cfg.id, free_slots, w->lanes[w->pull_stage].key);
    } else {
        const char *argv[9 + 2 * KEYS_LANES];
        int n = 0;
        argv[n++] = "XREADGROUP";
        argv[n++] = "GROUP";
        argv[n++] = KEYS_GROUP;
        argv[n++] = w->cfg.id;
        argv[n++] = "COUNT";
        argv[n++] = "1";
        argv[n++] = "BLOCK";
        argv[n++] = PULL_BLOCK_MS_STR;
        argv[n++] = "STREAMS";
        for (int i = 0; i < KEYS_LANES; i++)
            argv[n++] = w->lanes[i].key;
        for (int i = 0; i < KEYS_LANES; i++)
            argv[n++] = ">";
        rc = rconn_command_argv(w->pull, on_read, w, n, argv, NULL);
    }
    if (rc == 0) w->pull_in_flight = 1;
}

/* ---------------------------------------------------------------- XAUTOCLAIM */

static void autoclaim_lane(struct worker *w, int lane);

/* The chain ended (or broke off): reads may count the free slots again. */
static void claim_done(struct worker *w)
{
    w->claim_in_flight = 0;
    pull_maybe(w);
}

static void on_autoclaim(redisAsyncContext *ac, void *reply, void *priv)
{
    struct lane *l = priv;
    struct worker *w = l->w;
    redisReply *r = reply;
    if (!r || w->stopping) {
        claim_done(w);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        if (!strncmp(r->str, "NOGROUP", 7))
            create_groups(w);
        else
            log_warn("XAUTOCLAIM %s: %s", l->key, r->str);
        snprintf(l->claim_cursor, sizeof(l->claim_cursor), "0-0");
        claim_done(w);
        return;
    }
    /* [next cursor, [entries], [deleted ids]] (Redis 7) */
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
        if (r->element[0]->type == REDIS_REPLY_STRING)
            snprintf(l->claim_cursor, sizeof(l->claim_cursor), "%s", r->element[0]->str);
        const redisReply *ents = r->element[1];
        for (size_t i = 0; ents->type == REDIS_REPLY_ARRAY && i < ents->elements; i++) {
            const redisReply *ent = ents->element[i];
            if (ent->type == REDIS_REPLY_ARRAY && ent->elements >= 1 &&
                ent->element[0]->type == REDIS_REPLY_STRING &&
                !slot_find_entry(w, l->index, ent->element[0]->str))
                log_info("taking over job entry %s of %s (lease expired)", ent->element[0]->str,
                         l->key);
            deliver(w, l->index, ent);
        }
    }
    autoclaim_lane(w, l->index + 1); /* the next lane, with the slots still free */
}

/* XAUTOCLAIM on lane and then the lanes after it, one at a time (so no more entries come
 * back than there are free slots); ends the chain when slots or lanes run out. */
static void autoclaim_lane(struct worker *w, int lane)
{
    int free_slots = w->max_batch - w->n_slots;
    if (lane >= KEYS_LANES || w->draining || w->stopping || free_slots <= 0) {
        claim_done(w);
        return;
    }
    struct lane *l = &w->lanes[lane];
    if (rconn_command(w->cmd, on_autoclaim, l, "XAUTOCLAIM %s %s %s %lld %s COUNT %d", l->key,
                      KEYS_GROUP, w->cfg.id, w->cfg.lease_ms, l->claim_cursor, free_slots) == 0)
        w->claim_in_flight = 1;
    else
        claim_done(w);
}

void pull_autoclaim(struct worker *w)
{
    if (w->claim_in_flight) return;
    pull_lanes_init(w);
    autoclaim_lane(w, KEYS_LANE_HIGH);
}

/* ---------------------------------------------------------------- cancel */

void pull_cancel(struct worker *w, const char *id, size_t len)
{
    struct slot *s = slot_find(w, id, len);
    if (!s || s->end != SLOT_END_NONE) return;
    log_req(LOG_LEVEL_INFO, s->id, s->trace_id, "cancel received");
    s->end = SLOT_END_CANCELLED;
    /* SLOT_CHECKING: on_state sees s->end and finishes it without running; an early-joined
     * one is dropped from the engine now, not when the check replies (check_failed's second
     * cancel then finds nothing live). */
    if (s->state == SLOT_RUNNING || (s->early && !s->engine_done && !w->stopping))
        s->end_round = batch_cancel(&w->batch, s);
    else
        s->end_round = batch_mark(&w->batch);
}
