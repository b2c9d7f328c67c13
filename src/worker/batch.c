/* batch.c -- the engine thread: continuous batching. Between two steps it applies the
 * mailbox (joins become sequences, cancels free them at once), then runs one engine_step
 * over every live sequence, applies stop strings, and hands the step's records to the loop.
 * Steps run back to back while any sequence lives (an engine's step takes its own time:
 * the synthetic engine sleeps to step_ms, llama computes); a late step is never caught up,
 * and an idle engine thread sleeps on the condition variable. It never touches Redis and
 * never dereferences a struct slot (the pointer is only an identity for the loop). */
#include "worker/worker.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

/* One live sequence, engine thread only. */
struct eseq {
    struct slot *slot;
    struct engine_seq *seq;
    struct job_request req; /* owned (moved from the JOIN): stop strings live here */
    struct stop stop;
    uint32_t next_index; /* index of the next token */
    uint32_t pend_first; /* first token not yet covered by a record */
    uint32_t pend_count;
    int prompt_tokens;
};

struct engine_state {         /* the engine thread's private batch */
    struct eseq **live;       /* max_batch entries */
    struct engine_seq **seqs; /* step arguments, parallel to live */
    struct engine_output *outs;
    int n;
    struct buf scratch;
};

static struct eout *add_out(struct estep *st, struct slot *slot)
{
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 16;
        st->outs = xrealloc(st->outs, (size_t)st->cap * sizeof(*st->outs));
    }
    struct eout *o = &st->outs[st->n++];
    memset(o, 0, sizeof(*o));
    o->slot = slot;
    o->text_off = st->text.len;
    return o;
}

void estep_free(struct estep *st)
{
    if (!st) return;
    free(st->outs);
    buf_deinit(&st->text);
    free(st);
}

static void eseq_free(struct engine *eng, struct eseq *q)
{
    engine_seq_free(eng, q->seq);
    stop_deinit(&q->stop);
    job_request_deinit(&q->req);
    free(q);
}

static void remove_live(struct engine_state *es, int i)
{
    es->live[i] = es->live[--es->n];
}

static void do_join(struct batch *b, struct engine_state *es, struct emsg *m, struct estep *st)
{
    struct job_request *r = &m->req;
    struct engine_message *msgs = NULL;
    if (r->kind == JOB_KIND_CHAT) {
        msgs = xcalloc((size_t)r->n_messages, sizeof(*msgs));
        for (int i = 0; i < r->n_messages; i++) {
            msgs[i].role = r->messages[i].role;
            msgs[i].content = r->messages[i].content;
        }
    }
    struct engine_request er = {
        .prompt = r->kind == JOB_KIND_COMPLETION ? r->prompt : NULL,
        .messages = msgs,
        .n_messages = r->kind == JOB_KIND_CHAT ? r->n_messages : 0,
        .max_tokens = r->max_tokens,
        .temperature = (float)r->temperature,
        .top_p = (float)r->top_p,
        .min_p = (float)r->min_p,
        .top_k = r->top_k,
        .repetition_penalty = (float)r->repetition_penalty,
        .presence_penalty = (float)r->presence_penalty,
        .frequency_penalty = (float)r->frequency_penalty,
        .seed = r->seed,
    };
    struct engine_seq *seq = NULL;
    struct err e = {0};
    int rc = es->n >= b->max_batch ? err_set(&e, LLMQ_EOVERLOADED, "batch full")
                                   : engine_seq_new(b->eng, &er, &seq, &e);
    free(msgs);
    if (rc < 0) {
        struct eout *o = add_out(st, m->slot);
        /* Out of memory or a full batch may pass on another worker; a bad request never will. */
        o->fin = (rc == -ENOMEM || rc == LLMQ_EOVERLOADED) ? EOUT_ERROR : EOUT_REJECTED;
        buf_append_str(&st->text, e.msg[0] ? e.msg : err_str(rc));
        o->text_len = st->text.len - o->text_off;
        job_request_deinit(&m->req);
        return;
    }
    struct eseq *q = xcalloc(1, sizeof(*q));
    q->slot = m->slot;
    q->seq = seq;
    q->req = m->req; /* moved */
    job_request_init(&m->req);
    stop_init(&q->stop, (const char *const *)q->req.stop, q->req.n_stop);
    q->prompt_tokens = engine_seq_prompt_tokens(seq);
    es->live[es->n++] = q;
}

static void do_cancel(struct batch *b, struct engine_state *es, struct emsg *m, struct estep *st)
{
    for (int i = 0; i < es->n; i++) {
        if (es->live[i]->slot != m->slot) continue;
        struct eseq *q = es->live[i];
        struct eout *o = add_out(st, q->slot);
        o->fin = EOUT_DROPPED;
        o->total = q->next_index;
        o->last_round = st->round - 1; /* it was stepped in every round up to this one */
        o->prompt_tokens = q->prompt_tokens = engine_seq_prompt_tokens(q->seq);
        remove_live(es, i);
        eseq_free(b->eng, q);
        return;
    }
    /* Not live: it finished in an earlier step and its final record is on its way. */
}

/* Turns one sequence's output of this step into at most one record (see worker.h). */
static int take_output(struct batch *b, struct eseq *q, const struct engine_output *out,
                       struct estep *st, struct buf *scratch)
{
    if (out->finish == ENGINE_FINISH_ERROR) {
        struct eout *o = add_out(st, q->slot);
        o->fin = EOUT_ERROR;
        /* An engine that says why (the upstream engine does) gives the reason its text. */
        if (out->text && out->text_len > 0)
            buf_append(&st->text, out->text, out->text_len);
        else
            buf_append_str(&st->text, "engine failed the sequence");
        o->text_len = st->text.len - o->text_off;
        o->total = q->next_index;
        o->last_round = st->round - 1; /* no token in this round */
        o->prompt_tokens = q->prompt_tokens = engine_seq_prompt_tokens(q->seq);
        return 1;
    }
    q->next_index++;
    q->pend_count++;
    buf_reset(scratch);
    enum eout_fin fin = EOUT_NONE;
    if (stop_feed(&q->stop, out->text, out->text_len, scratch)) {
        fin = EOUT_STOP;
    } else if (out->finish != ENGINE_FINISH_NONE) {
        stop_flush(&q->stop, scratch);
        fin = out->finish == ENGINE_FINISH_STOP ? EOUT_STOP : EOUT_LENGTH;
    }
    if (scratch->len == 0 && fin == EOUT_NONE) return 0; /* merged into the next record */
    /* At the end the engine's count is final (the upstream engine's exact count arrives
     * with its last chunk; before that it is an estimate). */
    if (fin != EOUT_NONE) q->prompt_tokens = engine_seq_prompt_tokens(q->seq);
    struct eout *o = add_out(st, q->slot);
    if (scratch->len) {
        o->first = q->pend_first;
        o->count = q->pend_count;
        buf_append(&st->text, scratch->data, scratch->len);
        o->text_len = scratch->len;
        q->pend_first = q->next_index;
        q->pend_count = 0;
    }
    o->fin = fin;
    o->total = q->next_index;
    o->last_round = st->round;
    o->prompt_tokens = q->prompt_tokens;
    return fin != EOUT_NONE;
}

/* Steps the engine may run ahead of the loop's publishing. Without a bound a 0 ms engine
 * would outrun Redis and queue results without limit; with it, a fast engine's pace is the
 * pace at which its tokens can leave (the backpressure is a wait, never a drop). */
#define BATCH_AHEAD_MAX 4

static void post(struct batch *b, struct estep *st)
{
    pthread_mutex_lock(&b->mu);
    st->next = b->outbox;
    b->outbox = st;
    b->outbox_n++;
    pthread_mutex_unlock(&b->mu);
    uv_async_send(&b->async);
    pthread_mutex_lock(&b->mu);
    while (b->outbox_n >= BATCH_AHEAD_MAX && !b->quit)
        pthread_cond_wait(&b->cv_room, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

static void *engine_main(void *arg)
{
    struct batch *b = arg;
    struct worker *w = b->w;
    struct engine_state es = {0};
#ifdef PR_SET_TIMERSLACK
    /* An engine that sleeps to its step time (synthetic) would wake up to 50 us late with
     * the default timer slack: that lands on every token, the first one included. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
#endif
    es.live = xcalloc((size_t)b->max_batch, sizeof(*es.live));
    es.seqs = xcalloc((size_t)b->max_batch, sizeof(*es.seqs));
    es.outs = xcalloc((size_t)b->max_batch, sizeof(*es.outs));
    buf_init(&es.scratch);
    for (;;) {
        pthread_mutex_lock(&b->mu);
        while (!b->inbox && es.n == 0 && !b->quit)
            pthread_cond_wait(&b->cv, &b->mu);
        struct emsg *in = b->inbox;
        b->inbox = NULL;
        int quit = b->quit;
        uint64_t round = ++b->round; /* begins: its members are fixed by this inbox */
        pthread_mutex_unlock(&b->mu);
        /* LIFO -> FIFO: a JOIN must be applied before a CANCEL of the same slot. */
        struct emsg *fifo = NULL;
        while (in) {
            struct emsg *nx = in->next;
            in->next = fifo;
            fifo = in;
            in = nx;
        }
        if (quit) {
            while (fifo) {
                struct emsg *nx = fifo->next;
                job_request_deinit(&fifo->req);
                free(fifo);
                fifo = nx;
            }
            break;
        }
        struct estep *st = xcalloc(1, sizeof(*st));
        buf_init(&st->text);
        st->round = round;
        while (fifo) {
            struct emsg *nx = fifo->next;
            if (fifo->kind == EMSG_JOIN)
                do_join(b, &es, fifo, st);
            else
                do_cancel(b, &es, fifo, st);
            free(fifo);
            fifo = nx;
        }
        if (es.n > 0) {
            for (int i = 0; i < es.n; i++)
                es.seqs[i] = es.live[i]->seq;
            uint64_t t0 = clock_mono_ns();
            int rc = engine_step(b->eng, (struct engine_seq *const *)es.seqs, es.n, es.outs);
            double dt = (double)(clock_mono_ns() - t0) / 1e9;
            metric_add(w->m_busy, dt);
            metric_observe(w->m_step_s, dt);
            metric_add(w->m_steps, 1);
            metric_set(w->m_batch, es.n);
            metric_observe(w->m_batch_hist, es.n);
            st->batch = es.n;
            if (rc < 0) {
                log_error("engine step failed for %d sequences: %s", es.n, err_str(rc));
                for (int i = 0; i < es.n; i++)
                    es.outs[i] = (struct engine_output){"", 0, -1, ENGINE_FINISH_ERROR};
            } else {
                st->tokens = (uint64_t)es.n;
                metric_add(w->m_tokens, es.n);
            }
            /* Walk backwards so removing entry i (swap with the last) keeps outs aligned. */
            for (int i = es.n - 1; i >= 0; i--) {
                struct eseq *q = es.live[i];
                if (take_output(b, q, &es.outs[i], st, &es.scratch)) {
                    es.live[i] = es.live[es.n - 1];
                    es.outs[i] = es.outs[es.n - 1];
                    es.n--;
                    eseq_free(b->eng, q);
                }
            }
        } else {
            metric_set(w->m_batch, 0);
        }
        if (st->n > 0)
            post(b, st);
        else
            estep_free(st);
    }
    for (int i = 0; i < es.n; i++)
        eseq_free(b->eng, es.live[i]);
    free(es.live);
    free(es.seqs);
    free(es.outs);
    buf_deinit(&es.scratch);
    metric_set(w->m_batch, 0);
    return NULL;
}

static void on_async(uv_async_t *a)
{
    struct batch *b = a->data;
    pthread_mutex_lock(&b->mu);
    struct estep *in = b->outbox;
    b->outbox = NULL;
    b->outbox_n = 0;
    pthread_cond_signal(&b->cv_room);
    pthread_mutex_unlock(&b->mu);
    struct estep *fifo = NULL;
    while (in) {
        struct estep *nx = in->next;
        in->next = fifo;
        fifo = in;
        in = nx;
    }
    /* Everything that arrived since the last wake-up goes out in one burst. */
    while (fifo) {
        struct estep *nx = fifo->next;
        publish_step(b->w, fifo);
        estep_free(fifo);
        fifo = nx;
    }
    publish_replay_tick(b->w);
    publish_flush(b->w);
    drain_check(b->w);
}

int batch_start(struct worker *w, struct engine *eng, struct err *e)
{
    struct batch *b = &w->batch;
    b->w = w;
    b->eng = eng;
    b->max_batch = engine_max_batch(eng);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    pthread_cond_init(&b->cv_room, NULL);
    uv_async_init(w->loop, &b->async, on_async);
    b->async.data = b;
    int rc = pthread_create(&b->thread, NULL, engine_main, b);
    if (rc) return err_set(e, -rc, "cannot start the engine thread: %s", err_str(-rc));
    return 0;
}

static void send_msg(struct batch *b, struct emsg *m)
{
    pthread_mutex_lock(&b->mu);
    m->next = b->inbox;
    b->inbox = m;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

void batch_join(struct batch *b, struct slot *s)
{
    struct emsg *m = xcalloc(1, sizeof(*m));
    m->kind = EMSG_JOIN;
    m->slot = s;
    m->req = s->req; /* moved */
    job_request_init(&s->req);
    send_msg(b, m);
}

uint64_t batch_cancel(struct batch *b, struct slot *s)
{
    struct emsg *m = xcalloc(1, sizeof(*m));
    m->kind = EMSG_CANCEL;
    m->slot = s;
    job_request_init(&m->req);
    /* send_msg, plus the mark taken under the same lock as the post */
    pthread_mutex_lock(&b->mu);
    m->next = b->inbox;
    b->inbox = m;
    uint64_t mark = b->round;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return mark;
}

uint64_t batch_mark(struct batch *b)
{
    pthread_mutex_lock(&b->mu);
    uint64_t mark = b->round;
    pthread_mutex_unlock(&b->mu);
    return mark;
}

uint32_t batch_wasted(uint64_t mark, uint32_t total, uint64_t last)
{
    if (last <= mark) return 0;
    return last - mark < total ? (uint32_t)(last - mark) : total;
}

void batch_stop(struct batch *b)
{
    pthread_mutex_lock(&b->mu);
    b->quit = 1;
    pthread_cond_signal(&b->cv);
    pthread_cond_signal(&b->cv_room);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    /* Step results nobody will publish any more. */
    struct estep *st = b->outbox;
    b->outbox = NULL;
    while (st) {
        struct estep *nx = st->next;
        estep_free(st);
        st = nx;
    }
    uv_close((uv_handle_t *)&b->async, NULL);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    pthread_cond_destroy(&b->cv_room);
}
