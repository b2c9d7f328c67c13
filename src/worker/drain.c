/* drain.c -- graceful stop on SIGTERM/SIGINT. The worker stops pulling at once, lets its
 * running sequences finish for up to --drain-timeout-ms, then hands the rest back: each is
 * dropped from the batch and its stream entry is re-aged with XCLAIM .. IDLE so a peer's
 * next XAUTOCLAIM (within a second) takes it, its attempt is undone and its state set back
 * to queued. Last, the heartbeat key is deleted (peers see the worker gone) and the process
 * exits 0. A second signal skips the wait and hands back at once. */
#include "worker/worker.h"
#include "common/clock.h"
#include "common/log.h"

#include <signal.h>
#include <string.h>

#define DRAIN_FINAL_WAIT_MS 3000 /* bound on waiting for the last Redis replies */

static void hand_back_all(struct worker *w)
{
    if (w->handing_back) return;
    w->handing_back = 1;
    int n = 0;
    for (struct slot *s = w->slots; s; s = s->next)
        if (s->state == SLOT_RUNNING && s->end == SLOT_END_NONE) {
            s->end = SLOT_END_HANDBACK;
            s->end_round = batch_cancel(&w->batch, s);
            n++;
        }
    if (n) log_info("drain: handing back %d running jobs", n);
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct worker *w = t->data;
    log_warn("drain: %lld ms passed with %d jobs still running", w->cfg.drain_timeout_ms,
             w->n_running);
    hand_back_all(w);
}

static void on_final_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct worker *w = priv;
    if (w->stopping == 1) {
        w->stopping = 2;
        worker_shutdown(w);
    }
}

static void on_final_timeout(uv_timer_t *t)
{
    struct worker *w = t->data;
    if (w->stopping == 1) {
        log_warn("drain: Redis did not confirm the last commands in %d ms; exiting anyway",
                 DRAIN_FINAL_WAIT_MS);
        w->stopping = 2;
        worker_shutdown(w);
    }
}

static void final_stop(struct worker *w)
{
    w->stopping = 1;
    uv_timer_stop(&w->drain_timer);
    log_info("drain: done in %.0f ms; leaving",
             (double)(clock_mono_us() - w->drain_started_us) / 1e3);
    /* Replies come in order: when DEL answers, every hand-back before it was applied. */
    if (rconn_command(w->cmd, on_final_reply, w, "DEL %s", w->worker_key) == 0) {
        uv_timer_start(&w->drain_timer, on_final_timeout, DRAIN_FINAL_WAIT_MS, 0);
    } else {
        w->stopping = 2;
        worker_shutdown(w);
    }
}

void drain_check(struct worker *w)
{
    if (w->draining && !w->stopping && w->n_slots == 0) final_stop(w);
}

void drain_start(struct worker *w, const char *why)
{
    if (w->draining) {
        log_info("%s again: handing back running jobs now", why);
        hand_back_all(w);
        return;
    }
    w->draining = 1;
    w->drain_started_us = clock_mono_us();
    log_info("%s: draining (%d jobs running, up to %lld ms)", why, w->n_running,
             w->cfg.drain_timeout_ms);
    if (rconn_connected(w->cmd)) lease_heartbeat(w); /* peers and `llmq up` see "draining" */
    uv_timer_start(&w->drain_timer, on_drain_timeout, (uint64_t)w->cfg.drain_timeout_ms, 0);
    drain_check(w);
}

static void on_signal(uv_signal_t *h, int signum)
{
    drain_start(h->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

void drain_init(struct worker *w)
{
    uv_signal_init(w->loop, &w->sigterm);
    uv_signal_init(w->loop, &w->sigint);
    w->sigterm.data = w->sigint.data = w;
    uv_signal_start(&w->sigterm, on_signal, SIGTERM);
    uv_signal_start(&w->sigint, on_signal, SIGINT);
    uv_timer_init(w->loop, &w->drain_timer);
    w->drain_timer.data = w;
}
