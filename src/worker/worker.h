/* worker.h -- internals of llmq-worker shared by its files (not a public API).
 * Two threads: the loop thread (libuv) does all Redis I/O and owns every struct slot; the
 * engine thread (batch.c) owns the engine and its sequences. They talk only through the
 * mailbox of struct batch: join/cancel messages one way, step results (struct estep) the
 * other, woken by a condition variable and a uv_async_t (STYLE ownership rule 8).
 * Files: main (flags, start, stop), pull (XREADGROUP, delivery checks, takeover), lease
 * (lease refresh, heartbeat), batch (engine thread), publish (per-step burst, replay,
 * completion), stop (stop strings), drain (signals, hand-back), admin (HTTP /metrics). */
#ifndef LLMQ_WORKER_H
#define LLMQ_WORKER_H

#include <pthread.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "common/metrics.h"
#include "engine/engine.h"
#include "queue/event.h"
#include "queue/job.h"
#include "queue/keys.h"
#include "queue/replay.h"
#include "queue/rconn.h"
#include "worker/stop.h"

struct worker_cfg {
    char *redis_url, *prefix, *engine, *model, *model_name, *id, *upstream_url;
    long long max_batch, threads, ctx_len, metrics_port, lease_ms, max_attempts;
    long long replay_flush_ms, drain_timeout_ms;
    double step_ms, prefill_us;
};

/* ---------------------------------------------------------------- slots (loop thread) */

enum slot_state {
    SLOT_CHECKING, /* delivered; attempts/state checks in flight; if early, the engine
                    * already runs it (its records are held, not published) */
    SLOT_RUNNING,  /* checked and joined: the engine thread holds a pointer to it */
};

/* What a failed delivery check of an early-joined slot does once the engine lets go. */
enum slot_verdict {
    SLOT_VERDICT_NONE = 0,
    SLOT_VERDICT_RELEASE,  /* no check result: leave the entry pending (the lease brings it back) */
    SLOT_VERDICT_SKIP,     /* already final: acknowledge the redelivery */
    SLOT_VERDICT_HANDBACK, /* delivered while draining */
    SLOT_VERDICT_FAIL,     /* fail the job: verdict_code, verdict_msg */
    SLOT_VERDICT_CANCEL,   /* cancelled while checking */
};

/* Why a running slot is being ended early (the engine reports back before it is freed). */
enum slot_end {
    SLOT_END_NONE = 0,
    SLOT_END_CANCELLED, /* client cancel */
    SLOT_END_TIMEOUT,   /* deadline_us passed */
    SLOT_END_HANDBACK,  /* drain timeout: hand it to a peer */
};

/* One job this worker holds, from delivery until it is acknowledged or handed back. */
struct slot {
    struct slot *prev, *next; /* worker's list */
    struct worker *w;         /* borrowed: the worker outlives its slots */
    char id[KEYS_ID_MAX + 1]; /* request id */
    char gw[KEYS_ID_MAX + 1]; /* owning gateway */
    char entry[48];           /* stream entry id in the stream of its lane */
    int lane;                 /* enum keys_lane: which P jobs* stream holds the entry */
    char trace_id[33];        /* from the job's traceparent; "" when none */
    char *traceparent;        /* owned; may be NULL */
    char *req_json;           /* owned: the "req" field as delivered */
    size_t req_len;
    struct job_request req; /* decoded; moved to the engine thread on join */
    enum slot_state state;
    enum slot_end end;    /* set once; later tokens are wasted, not published */
    long long attempts;   /* after our HINCRBY */
    int dead_lettered;    /* moved to P dlq (metrics outcome) */
    uint64_t deadline_us; /* wall; 0 = none */
    uint64_t enqueued_us, dequeued_us, first_token_us; /* wall clock */
    uint32_t tokens;    /* tokens generated so far, as far as the loop knows */
    uint32_t sent;      /* tokens covered by published t records */
    uint64_t end_round; /* batch_cancel's mark when s->end was set (or a cancel came
                         * while checking): tokens of later rounds are wasted */
    int prompt_tokens;
    /* replay log chunk not yet XADDed to P out:<id> */
    struct buf replay;      /* owned: field t */
    struct buf replay_lens; /* owned: field o, per-token byte lengths (queue/replay.h) */
    uint32_t replay_first, replay_count;
    uint64_t replay_flush_us; /* monotonic time of the last XADD */
    /* Early join (pull.c): the engine starts while HINCRBY/HMGET are in flight. */
    int early;             /* joined before the check replied */
    int engine_done;       /* early: a final record came (the engine let go) */
    uint32_t engine_total; /* early: tokens generated, from that final record */
    uint64_t engine_last;  /* early: that record's last_round */
    struct eout *held;     /* early, checking: the engine's records, not yet published */
    int n_held, cap_held;
    struct buf held_text; /* their text */
    enum slot_verdict verdict;
    char verdict_code[24];
    char verdict_msg[512];
};

/* ---------------------------------------------------------------- batch (engine thread) */

enum emsg_kind { EMSG_JOIN, EMSG_CANCEL };

struct emsg { /* loop -> engine */
    struct emsg *next;
    enum emsg_kind kind;
    struct slot *slot;      /* identity only: the engine thread never dereferences it */
    struct job_request req; /* JOIN: owned, moved from the slot */
};

enum eout_fin {
    EOUT_NONE = 0, /* more to come */
    EOUT_STOP,     /* stop string or end-of-sequence */
    EOUT_LENGTH,   /* max_tokens or context */
    EOUT_ERROR,    /* engine failed the sequence: retry elsewhere */
    EOUT_REJECTED, /* engine_seq_new refused the request: permanent; text = why */
    EOUT_DROPPED,  /* acknowledged a CANCEL */
};

/* One record of a step for one sequence: tokens [first, first+count) produced text.
 * fin != EOUT_NONE means the engine thread let go of the slot. */
struct eout {
    struct slot *slot;
    uint32_t first, count;
    size_t text_off, text_len; /* into estep.text */
    enum eout_fin fin;
    uint32_t total;      /* tokens generated, when fin */
    uint64_t last_round; /* when fin: the round of its last token (one token per round, in
                          * consecutive rounds ending here; see batch_wasted) */
    int prompt_tokens;   /* when fin (or first output) */
};

struct estep { /* engine -> loop: everything one step produced */
    struct estep *next;
    struct eout *outs; /* owned */
    int n, cap;
    struct buf text; /* owned: all text of the step */
    int batch;       /* sequences stepped */
    uint64_t round;  /* the engine thread's round that made it */
    uint64_t tokens; /* tokens generated in the step */
};

struct batch {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct emsg *inbox;     /* LIFO under mu; the engine thread reverses it */
    struct estep *outbox;   /* LIFO under mu; the loop reverses it */
    int outbox_n;           /* steps in outbox: the engine waits at BATCH_AHEAD_MAX */
    pthread_cond_t cv_room; /* signalled when the loop drained the outbox */
    int quit;
    uv_async_t async;   /* wakes the loop when outbox is non-empty */
    struct engine *eng; /* engine thread only (after start) */
    int max_batch;
    struct worker *w;
    /* Rounds begun, under mu: a round begins when the engine thread takes the inbox, and
     * then runs one engine_step over the sequences live after applying it. */
    uint64_t round;
};

/* ---------------------------------------------------------------- the worker */

struct burst_gw {
    char gw[KEYS_ID_MAX + 1];
    struct buf msg;
};

struct worker {
    struct worker_cfg cfg;
    uv_loop_t *loop;
    struct keys keys;
    char jobs_key[KEYS_MAX], dlq_key[KEYS_MAX], cancel_key[KEYS_MAX];
    /* One per priority lane, in service order (high, normal, low); lanes[KEYS_LANE_NORMAL].key
     * equals jobs_key. Filled by pull_lanes_init. */
    struct lane {
        struct worker *w;
        int index;
        char key[KEYS_MAX];
        char claim_cursor[48]; /* XAUTOCLAIM cursor of this stream */
    } lanes[KEYS_LANES];
    char worker_key[KEYS_MAX], workers_key[KEYS_MAX];
    struct rconn *cmd;  /* commands and publishes, pipelined */
    struct rconn *pull; /* XREADGROUP BLOCK only (it would stall the pipeline) */
    struct rconn *sub;  /* SUBSCRIBE P cancel */
    struct batch batch;
    char model_name[128];
    int max_batch;

    struct slot *slots; /* list of held jobs */
    int n_slots;        /* == length of slots: what counts against max_batch */
    int n_running;
    int pull_in_flight;
    int pull_stage;        /* next lane to read without blocking; KEYS_LANES = block on all */
    int pull_got;          /* entries delivered by the non-blocking reads of this round */
    int claim_in_flight;   /* an XAUTOCLAIM chain (lane by lane) is running; reads wait */
    int claim_soon;        /* entries were handed back for want of a slot: XAUTOCLAIM when
                            * one frees (slot_release) instead of at the next tick */
    uv_timer_t pull_retry; /* after a NOGROUP or error: retry pulling later */
    uv_timer_t tick;       /* 1 s: lease refresh, takeover, heartbeat */

    /* burst under construction: per owning gateway, one PUBLISH at flush */
    struct burst_gw *burst;
    int n_burst, cap_burst;
    int burst_dirty;
    uv_prepare_t flusher; /* flushes the burst before the loop polls (once per turn) */

    /* drain */
    int draining;
    int handing_back; /* drain timeout reached: running jobs are being handed back */
    int stopping;     /* final phase: waiting for last replies, then exit */
    uv_signal_t sigterm, sigint;
    uv_timer_t drain_timer;
    uint64_t drain_started_us;
    int exit_code;

    /* admin HTTP */
    uv_tcp_t admin;
    int admin_port;
    char host[256];

    /* metrics (registry owns them) */
    struct metrics *metrics;
    struct metric *m_batch, *m_batch_hist, *m_busy, *m_steps, *m_tokens, *m_wasted;
    struct metric *m_prompt_tokens, *m_queue_s, *m_ttft_s, *m_step_s, *m_redis_up;
    struct metric *m_jobs_done, *m_jobs_failed, *m_jobs_cancelled, *m_jobs_timeout;
    struct metric *m_jobs_dlq, *m_jobs_retry, *m_jobs_skipped, *m_jobs_handed_back;
    struct metric *m_running, *m_cpu;
    uint64_t tokens_last, tokens_last_us; /* for tokens_per_s in the heartbeat */
    double tokens_per_s;
};

/* ---- main.c */
void worker_shutdown(struct worker *w); /* close everything; loop then ends */

/* ---- pull.c */
void pull_lanes_init(struct worker *w); /* lane keys (idempotent) */
void pull_on_connect(struct worker *w); /* XGROUP CREATE on every lane, then pull */
void pull_maybe(struct worker *w);      /* issue XREADGROUP if slots are free */
void pull_autoclaim(struct worker *w);  /* takeover of dead workers' jobs */
void pull_cancel(struct worker *w, const char *id, size_t len);
struct slot *slot_find(struct worker *w, const char *id, size_t len);
void slot_release(struct worker *w, struct slot *s); /* unlink, free, pull more */
void pull_verdict(struct worker *w, struct slot *s); /* carry out s->verdict; frees s */

/* The stream holding s's entry (XACK, XDEL, XCLAIM go there). */
static inline const char *slot_stream(const struct slot *s)
{
    return s->w->lanes[s->lane].key;
}

/* ---- lease.c */
void lease_tick(struct worker *w); /* lease refresh + heartbeat + takeover */
void lease_heartbeat(struct worker *w);

/* ---- batch.c */
int batch_start(struct worker *w, struct engine *eng, struct err *e);
void batch_join(struct batch *b, struct slot *s); /* moves s->req into the engine */
/* Drops s at the next round. Returns the mark: the rounds begun so far. No round after the
 * mark steps s, since the next one applies this cancel before stepping. */
uint64_t batch_cancel(struct batch *b, struct slot *s);
uint64_t batch_mark(struct batch *b); /* the rounds begun so far */
/* Tokens wasted: those generated in rounds after mark by a sequence whose final record says
 * total tokens, the last in round last (llmq_tokens_wasted_total, docs/WORKER.md). */
uint32_t batch_wasted(uint64_t mark, uint32_t total, uint64_t last);
void batch_stop(struct batch *b); /* joins the thread, frees the engine + seqs */
void estep_free(struct estep *st);

/* ---- publish.c */
void publish_record(struct worker *w, const struct slot *s, enum event_kind kind, uint32_t index,
                    uint32_t count, const char *payload, size_t len);
void publish_flush(struct worker *w);                  /* one PUBLISH per gateway with records */
void publish_step(struct worker *w, struct estep *st); /* handles one step's outputs */
void publish_running(struct worker *w, struct slot *s);
/* The check of an early-joined slot passed: publish what the engine made meanwhile (may
 * end and free s). */
void publish_held(struct worker *w, struct slot *s);
/* Ends a slot: replay final entry, d/e record, HSET/EXPIRE, XACK+XDEL, metrics, release.
 * outcome: "done", "failed", "cancelled". code/msg for errors (NULL otherwise). */
void publish_finish(struct worker *w, struct slot *s, const char *outcome,
                    const char *finish_reason, const char *code, const char *msg);
/* Engine failure: leave the entry pending (a peer or we retake it after the lease). */
void publish_retry(struct worker *w, struct slot *s, const char *why);
/* Drain: give the entry back at once (XCLAIM IDLE), undo our attempt, release. */
void publish_handback(struct worker *w, struct slot *s);
void publish_replay_tick(struct worker *w); /* time-based replay flushes */
void publish_deinit(struct worker *w);

/* ---- drain.c */
void drain_init(struct worker *w);
void drain_start(struct worker *w, const char *why);
void drain_check(struct worker *w); /* called when slots change */

/* ---- admin.c */
int admin_start(struct worker *w, struct err *e);
void admin_metrics_init(struct worker *w);
void admin_close(struct worker *w);

#endif
