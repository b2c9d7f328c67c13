/* publish.c -- everything a worker tells Redis about a running job: token records grouped
 * per owning gateway into one PUBLISH per gateway per loop turn (the "burst", flushed by a
 * uv_prepare handle right before the loop polls, so all of a step's commands leave in one
 * write), the replay log P out:<id> (chunks at most every --replay-flush-ms, always before
 * d/e), and completion (HSET/EXPIRE, XACK+XDEL). While Redis is down every command fails
 * fast and the events are dropped; the job then stays pending and is rerun (docs/WORKER.md). */
#include "worker/worker.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- burst */

void publish_record(struct worker *w, const struct slot *s, enum event_kind kind, uint32_t index,
                    uint32_t count, const char *payload, size_t len)
{
    struct burst_gw *g = NULL;
    for (int i = 0; i < w->n_burst; i++)
        if (!strcmp(w->burst[i].gw, s->gw)) g = &w->burst[i];
    if (!g) {
        if (w->n_burst == w->cap_burst) {
            w->cap_burst = w->cap_burst ? w->cap_burst * 2 : 4;
            w->burst = xrealloc(w->burst, (size_t)w->cap_burst * sizeof(*w->burst));
        }
        g = &w->burst[w->n_burst++];
        snprintf(g->gw, sizeof(g->gw), "%s", s->gw);
        buf_init(&g->msg);
    }
    if (event_append(&g->msg, kind, s->id, strlen(s->id), index, count, payload, len) == 0)
        w->burst_dirty = 1;
}

void publish_flush(struct worker *w)
{
    if (!w->burst_dirty) return;
    w->burst_dirty = 0;
    for (int i = 0; i < w->n_burst; i++) {
        struct burst_gw *g = &w->burst[i];
        if (!g->msg.len) continue;
        char chan[KEYS_MAX];
        keys_gw(&w->keys, g->gw, chan);
        const char *argv[] = {"PUBLISH", chan, g->msg.data};
        size_t lens[] = {7, strlen(chan), g->msg.len};
        rconn_command_argv(w->cmd, NULL, NULL, 3, argv, lens); /* dropped while Redis is down */
        buf_reset(&g->msg);
    }
    /* Forget gateways that went quiet so the table stays the size of the live set. */
    if (w->n_burst > 64) {
        for (int i = 0; i < w->n_burst; i++)
            buf_deinit(&w->burst[i].msg);
        w->n_burst = 0;
    }
}

void publish_deinit(struct worker *w)
{
    for (int i = 0; i < w->n_burst; i++)
        buf_deinit(&w->burst[i].msg);
    free(w->burst);
    w->burst = NULL;
    w->n_burst = w->cap_burst = 0;
}

/* ---------------------------------------------------------------- replay log */

static void replay_expire(struct worker *w, const char *key)
{
    rconn_command(w->cmd, NULL, NULL, "EXPIRE %s 600", key);
}

static void replay_flush(struct worker *w, struct slot *s)
{
    if (!s->replay_count) return;
    char key[KEYS_MAX], i[16], n[16];
    keys_out(&w->keys, s->id, key);
    snprintf(i, sizeof(i), "%u", s->replay_first);
    snprintf(n, sizeof(n), "%u", s->replay_count);
    /* o last: a reader that predates it ignores it (docs/QUEUE.md) */
    const char *argv[] = {"XADD",
                          key,
                          "*",
                          "i",
                          i,
                          "n",
                          n,
                          "t",
                          s->replay.data ? s->replay.data : "",
                          REPLAY_FIELD_LENS,
                          s->replay_lens.data ? s->replay_lens.data : ""};
    size_t lens[] = {4, strlen(key),       1, 1, strlen(i), 1, strlen(n), 1, s->replay.len,
                     1, s->replay_lens.len};
    rconn_command_argv(w->cmd, NULL, NULL, 11, argv, lens);
    replay_expire(w, key);
    buf_reset(&s->replay);
    buf_reset(&s->replay_lens);
    s->replay_count = 0;
    s->replay_flush_us = clock_mono_us();
}

void publish_replay_tick(struct worker *w)
{
    uint64_t now = clock_mono_us(), every = (uint64_t)w->cfg.replay_flush_ms * 1000;
    for (struct slot *s = w->slots; s; s = s->next)
        if (s->replay_count && now - s->replay_flush_us >= every) replay_flush(w, s);
}

/* ---------------------------------------------------------------- records */

void publish_running(struct worker *w, struct slot *s)
{
    struct buf j; /* the model lets a gateway name it in responses that asked for none */
    buf_init(&j);
    buf_printf(&j, "{\"worker\":\"%s\",\"model\":\"", w->cfg.id);
    buf_append_json_str(&j, w->model_name, strlen(w->model_name));
    buf_printf(&j, "\",\"dequeued_us\":%llu,\"attempt\":%lld}", (unsigned long long)s->dequeued_us,
               s->attempts);
    publish_record(w, s, EVENT_KIND_RUNNING, 0, 0, j.data, j.len);
    buf_deinit(&j);
    char key[KEYS_MAX], deq[24];
    keys_job(&w->keys, s->id, key);
    snprintf(deq, sizeof(deq), "%llu", (unsigned long long)s->dequeued_us);
    rconn_command(w->cmd, NULL, NULL, "HSET %s state running worker %s dequeued_us %s", key,
                  w->cfg.id, deq);
}

static void tokens_out(struct worker *w, struct slot *s, const struct eout *o, const char *text)
{
    if (!o->count) return;
    s->tokens = o->first + o->count;
    if (s->end != SLOT_END_NONE) return; /* wasted: counted when the slot ends */
    if (!s->first_token_us) {
        s->first_token_us = clock_wall_us();
        uint64_t from = s->enqueued_us ? s->enqueued_us : s->dequeued_us;
        if (s->first_token_us > from)
            metric_observe(w->m_ttft_s, (double)(s->first_token_us - from) / 1e6);
    }
    publish_record(w, s, EVENT_KIND_TOKENS, o->first, o->count, text, o->text_len);
    s->sent = o->first + o->count;
    if (!s->replay_count) s->replay_first = o->first;
    s->replay_count += o->count;
    buf_append(&s->replay, text, o->text_len);
    /* The record's text was released at its last token; the tokens before it had none. */
    replay_lens_append_record(&s->replay_lens, o->count, o->text_len);
}

/* A slot whose end (cancel, timeout, hand-back) was decided by the loop is now free of the
 * engine: finish it the way that end asks. */
static void finish_ended(struct worker *w, struct slot *s, const struct eout *o)
{
    uint32_t total = o->total, wasted = batch_wasted(s->end_round, total, o->last_round);
    if (wasted) metric_add(w->m_wasted, wasted);
    s->tokens = total > s->tokens ? total : s->tokens;
    switch (s->end) {
    case SLOT_END_CANCELLED:
        publish_finish(w, s, "cancelled", "cancelled", NULL, NULL);
        break;
    case SLOT_END_TIMEOUT:
        publish_finish(w, s, "failed", NULL, "timeout", "deadline passed while generating");
        break;
    case SLOT_END_HANDBACK:
        publish_handback(w, s);
        break;
    case SLOT_END_NONE:
        break;
    }
}

/* One record of the engine for a running slot. A final one (fin) ends the slot. */
static void handle_out(struct worker *w, struct slot *s, const struct eout *o, const char *text)
{
    if (o->prompt_tokens) s->prompt_tokens = o->prompt_tokens;
    if (o->fin == EOUT_NONE || o->fin == EOUT_STOP || o->fin == EOUT_LENGTH)
        tokens_out(w, s, o, text);
    if (o->fin == EOUT_NONE) return;
    if (s->end != SLOT_END_NONE) {
        finish_ended(w, s, o);
        return;
    }
    s->tokens = o->total;
    switch (o->fin) {
    case EOUT_STOP:
        publish_finish(w, s, "done", "stop", NULL, NULL);
        break;
    case EOUT_LENGTH:
        publish_finish(w, s, "done", "length", NULL, NULL);
        break;
    case EOUT_ERROR: {
        char why[400];
        snprintf(why, sizeof(why), "%.*s", (int)o->text_len, text);
        publish_retry(w, s, why);
        break;
    }
    case EOUT_REJECTED: {
        char why[400];
        snprintf(why, sizeof(why), "%.*s", (int)o->text_len, text);
        publish_finish(w, s, "failed", NULL, "bad_request", why);
        break;
    }
    case EOUT_DROPPED: /* a drop we did not ask for cannot happen; finish it safely */
        publish_finish(w, s, "cancelled", "cancelled", NULL, NULL);
        break;
    case EOUT_NONE:
        break;
    }
}

/* A record for a slot that joined the engine before its delivery check replied (pull.c):
 * kept until the check passes (publish_held) or, when it failed, dropped; a final record
 * means the engine let go, so a failed check's verdict can run. */
static void hold_out(struct worker *w, struct slot *s, const struct eout *o, const char *text)
{
    if (o->fin != EOUT_NONE) {
        s->engine_done = 1;
        s->engine_total = o->total;
        s->engine_last = o->last_round;
    }
    if (s->verdict != SLOT_VERDICT_NONE) {
        if (o->fin != EOUT_NONE) pull_verdict(w, s); /* frees s */
        return;
    }
    if (s->n_held == s->cap_held) {
        s->cap_held = s->cap_held ? s->cap_held * 2 : 8;
        s->held = xrealloc(s->held, (size_t)s->cap_held * sizeof(*s->held));
    }
    struct eout *h = &s->held[s->n_held++];
    *h = *o;
    h->text_off = s->held_text.len;
    buf_append(&s->held_text, text, o->text_len);
}

void publish_held(struct worker *w, struct slot *s)
{
    struct eout *held = s->held;
    int n = s->n_held;
    struct buf text = s->held_text; /* moved: s may be freed by its final record */
    s->held = NULL;
    s->n_held = s->cap_held = 0;
    buf_init(&s->held_text);
    for (int i = 0; i < n; i++) {
        handle_out(w, s, &held[i], text.data ? text.data + held[i].text_off : "");
        if (held[i].fin != EOUT_NONE) break; /* s is gone */
    }
    free(held);
    buf_deinit(&text);
}

void publish_step(struct worker *w, struct estep *st)
{
    for (int i = 0; i < st->n; i++) {
        const struct eout *o = &st->outs[i];
        const char *text = st->text.data ? st->text.data + o->text_off : "";
        if (o->slot->state == SLOT_CHECKING)
            hold_out(w, o->slot, o, text);
        else
            handle_out(w, o->slot, o, text);
    }
    /* Deadlines of running jobs, checked once per step. */
    uint64_t now = clock_wall_us();
    for (struct slot *s = w->slots; s; s = s->next)
        if (s->state == SLOT_RUNNING && s->end == SLOT_END_NONE && s->deadline_us &&
            now >= s->deadline_us) {
            s->end = SLOT_END_TIMEOUT;
            s->end_round = batch_cancel(&w->batch, s);
        }
}

/* ---------------------------------------------------------------- completion */

static void json_str(struct buf *b, const char *s)
{
    buf_append_char(b, '"');
    buf_append_json_str(b, s, strlen(s));
    buf_append_char(b, '"');
}

void publish_finish(struct worker *w, struct slot *s, const char *outcome,
                    const char *finish_reason, const char *code, const char *msg)
{
    uint64_t done = clock_wall_us();
    uint64_t from = s->enqueued_us ? s->enqueued_us : (s->dequeued_us ? s->dequeued_us : done);
    struct buf j;
    buf_init(&j);
    int is_error = code != NULL;
    if (!is_error) {
        buf_printf(&j, "{\"finish_reason\":");
        json_str(&j, finish_reason ? finish_reason : "stop");
        buf_printf(&j, ",\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%u}",
                   s->prompt_tokens, s->tokens);
        buf_printf(&j, ",\"timing\":{\"queue_ms\":%.3f,\"ttft_ms\":%.3f,\"total_ms\":%.3f",
                   s->dequeued_us > from ? (double)(s->dequeued_us - from) / 1e3 : 0.0,
                   s->first_token_us > from ? (double)(s->first_token_us - from) / 1e3 : 0.0,
                   (double)(done - from) / 1e3);
        buf_printf(
            &j,
            ",\"enqueued_us\":%llu,\"dequeued_us\":%llu,\"first_token_us\":%llu,\"done_us\":%llu}}",
            (unsigned long long)s->enqueued_us, (unsigned long long)s->dequeued_us,
            (unsigned long long)s->first_token_us, (unsigned long long)done);
    } else {
        buf_printf(&j, "{\"code\":");
        json_str(&j, code);
        buf_printf(&j, ",\"message\":");
        json_str(&j, msg ? msg : code);
        buf_append_char(&j, '}');
    }
    /* Replay log first: the final entry follows every token chunk. */
    replay_flush(w, s);
    char okey[KEYS_MAX];
    keys_out(&w->keys, s->id, okey);
    const char *argv[] = {"XADD", okey, "*", is_error ? "e" : "d", j.data};
    size_t lens[] = {4, strlen(okey), 1, 1, j.len};
    rconn_command_argv(w->cmd, NULL, NULL, 5, argv, lens);
    replay_expire(w, okey);
    if (is_error)
        publish_record(w, s, EVENT_KIND_ERROR, s->sent, 0, j.data, j.len);
    else
        publish_record(w, s, EVENT_KIND_DONE, s->tokens, 0, j.data, j.len);

    char key[KEYS_MAX], done_s[24], ftu[24], pt[16], ct[16];
    keys_job(&w->keys, s->id, key);
    snprintf(done_s, sizeof(done_s), "%llu", (unsigned long long)done);
    snprintf(ftu, sizeof(ftu), "%llu", (unsigned long long)s->first_token_us);
    snprintf(pt, sizeof(pt), "%d", s->prompt_tokens);
    snprintf(ct, sizeof(ct), "%u", s->tokens);
    const char *hv[] = {"HSET",
                        key,
                        "state",
                        outcome,
                        "done_us",
                        done_s,
                        "first_token_us",
                        ftu,
                        "prompt_tokens",
                        pt,
                        "completion_tokens",
                        ct,
                        "finish_reason",
                        finish_reason ? finish_reason : "",
                        "error",
                        msg ? msg : "",
                        "worker",
                        w->cfg.id};
    size_t hl[18];
    for (int i = 0; i < 18; i++)
        hl[i] = strlen(hv[i]);
    rconn_command_argv(w->cmd, NULL, NULL, 18, hv, hl);
    rconn_command(w->cmd, NULL, NULL, "EXPIRE %s 3600", key);
    rconn_command(w->cmd, NULL, NULL, "XACK %s %s %s", slot_stream(s), KEYS_GROUP, s->entry);
    rconn_command(w->cmd, NULL, NULL, "XDEL %s %s", slot_stream(s), s->entry);

    if (!strcmp(outcome, "done"))
        metric_add(w->m_jobs_done, 1);
    else if (!strcmp(outcome, "cancelled"))
        metric_add(w->m_jobs_cancelled, 1);
    else if (s->dead_lettered)
        metric_add(w->m_jobs_dlq, 1);
    else if (code && !strcmp(code, "timeout"))
        metric_add(w->m_jobs_timeout, 1);
    else
        metric_add(w->m_jobs_failed, 1);
    if (s->prompt_tokens > 0) metric_add(w->m_prompt_tokens, s->prompt_tokens);
    log_req(is_error ? LOG_LEVEL_WARN : LOG_LEVEL_INFO, s->id, s->trace_id,
            "job %s: %s%s%s, %u tokens in %.1f ms", outcome,
            is_error ? code : (finish_reason ? finish_reason : ""), is_error ? ": " : "",
            is_error && msg ? msg : "", s->tokens, (double)(done - from) / 1e3);
    buf_deinit(&j);
    slot_release(w, s);
}

void publish_retry(struct worker *w, struct slot *s, const char *why)
{
    char key[KEYS_MAX];
    keys_job(&w->keys, s->id, key);
    rconn_command(w->cmd, NULL, NULL, "HSET %s state queued error %s", key, why);
    metric_add(w->m_jobs_retry, 1);
    log_req(
        LOG_LEVEL_WARN, s->id, s->trace_id,
        "attempt %lld failed (%s); leaving the job pending for a retry after the lease (%lld ms)",
        s->attempts, why, w->cfg.lease_ms);
    slot_release(w, s);
}

void publish_handback(struct worker *w, struct slot *s)
{
    char key[KEYS_MAX];
    keys_job(&w->keys, s->id, key);
    /* Not a failed attempt: undo ours, and age the entry so a peer's XAUTOCLAIM takes it on
     * its next tick instead of after the lease. */
    rconn_command(w->cmd, NULL, NULL, "HSET %s state queued", key);
    rconn_command(w->cmd, NULL, NULL, "HINCRBY %s attempts -1", key);
    rconn_command(w->cmd, NULL, NULL, "XCLAIM %s %s %s 0 %s IDLE %lld JUSTID", slot_stream(s),
                  KEYS_GROUP, w->cfg.id, s->entry, w->cfg.lease_ms * 100);
    metric_add(w->m_jobs_handed_back, 1);
    log_req(LOG_LEVEL_INFO, s->id, s->trace_id, "handed back to the queue (drain)");
    slot_release(w, s);
}
