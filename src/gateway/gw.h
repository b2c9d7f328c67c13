/* gw.h -- the gateway process: its configuration, its one event loop and the state every
 * module shares (Redis connections, the request-id table, limits, metrics). One struct
 * gateway per process; every handle lives inside it or inside a connection. Modules:
 *   listen/conn  sockets and HTTP connections      route   endpoints -> handlers
 *   stream       one client stream (SSE, JSON, WS) ws      WebSocket upgrade + protocol
 *   admit        backpressure + job creation       fanout  pub/sub tokens -> streams, resume
 *   auth, limit  API keys, per-key token buckets   sse, openai  pure formatting/validation
 *   models       served models (worker heartbeats): /v1/models, default model, 404 */
#ifndef LLMQ_GATEWAY_GW_H
#define LLMQ_GATEWAY_GW_H

#include "common/buf.h"
#include "common/metrics.h"
#include "gateway/auth.h"
#include "gateway/limit.h"
#include "gateway/openai.h"
#include "queue/keys.h"

#include <stdint.h>
#include <uv.h>

struct rconn;
struct stream;
struct http_conn;

struct gw_config {
    char *host;     /* listen address (127.0.0.1; 0.0.0.0 in Kubernetes) */
    long long port; /* 0 = ephemeral (logged on the "listening" line) */
    char *redis_url;
    char *prefix;
    char *id;                          /* gateway id; default gw-<random hex> */
    long long max_body_bytes;          /* 413 past it */
    long long max_header_bytes;        /* 431 past it */
    long long idle_timeout_ms;         /* keep-alive connections without a request */
    long long header_timeout_ms;       /* a request must be complete within this once begun */
    long long sse_ping_ms;             /* ": ping" on streams idle this long */
    long long max_stream_buffer_bytes; /* unsent bytes per stream before it is cut */
    long long max_queue;               /* bound on queue lag (jobs not yet delivered); 0 = off */
    long long max_streams;             /* open streams per process; 0 = off */
    char *api_keys;                    /* comma list */
    char *api_keys_file;               /* one key per line */
    double rate_limit_rps;             /* per key; 0 = off */
    double rate_limit_burst;           /* bucket size; 0 = max(1, rps) */
    long long max_timeout_ms;          /* cap (and default) for timeout_ms; 0 = none */
    long long drain_timeout_ms;        /* SIGTERM: how long open streams may finish */
    long long default_max_tokens;
    long long max_tokens_limit;
    char *default_model;
    char *web_dir; /* folder holding index.html for GET / */
    char *log_level;
};

/* Series updated on hot paths are plain counters here and copied into the registry when
 * /metrics renders (no lock per token). */
struct gw_counters {
    uint64_t tokens_streamed;
    uint64_t bytes_written;
    uint64_t writes;
    uint64_t pubsub_messages;
    uint64_t records;
    uint64_t bad_records;
    uint64_t streams_cut;
    uint64_t cancels_published;
    uint64_t tokens_deduplicated; /* indices dropped because already sent (retry from 0) */
    uint64_t unknown_cancelled;   /* outcome-unknown jobs found in Redis and cancelled */
    uint64_t unknown_forgotten;   /* outcome-unknown ids dropped (set full) unresolved */
};

struct gateway {
    uv_loop_t *loop;          /* borrowed: the process' loop */
    struct gw_config cfg;     /* strings owned by cfg (see main.c) */
    char id[KEYS_ID_MAX + 1]; /* gw-<hex> */
    struct keys keys;
    char jobs_key[KEYS_MAX], cancel_key[KEYS_MAX], gw_channel[KEYS_MAX];
    struct openai_limits limits;

    struct rconn *cmd;    /* commands: HSET/XADD/... (owned) */
    struct rconn *sub;    /* SUBSCRIBE <prefix>gw:<id> (owned) */
    struct rconn *follow; /* XREAD BLOCK for resumed streams (owned) */
    int subscribed;       /* SUBSCRIBE confirmed on the current sub connection */

    uv_tcp_t listener;
    int listening;
    uv_timer_t tick;  /* 50 ms: queue poll, deadlines, pings, idle sweep, drain */
    uv_check_t flush; /* after each loop iteration: format + write dirty streams */
    uv_signal_t sigterm, sigint;
    int closing_handles;

    /* request id -> streams (chained hash; several streams may follow one request) */
    struct stream **table;
    size_t table_size;                      /* power of two */
    size_t n_streams;                       /* open streams (all kinds) */
    struct stream *all_streams;             /* list of every open stream (sweeps) */
    struct stream *dirty;                   /* streams with output to format at the next flush */
    struct stream *followers;               /* streams reading P out:<id> with XREAD */
    struct stream *deadlines;               /* streams with a deadline (unordered) */
    struct stream *pings_head, *pings_tail; /* SSE streams by last write, oldest first */
    int follow_inflight;

    struct http_conn *conns; /* every open connection */
    size_t n_conns;

    uint64_t now_mono_us;      /* read once per pub/sub message (0 outside dispatch) */
    uint64_t next_deadline_ms; /* earliest stream deadline (loop time), 0 = none */

    struct auth auth;
    struct limiter limiter;

    /* backpressure (admit.c): sums over the priority lanes */
    long long queue_lag, queue_depth, queue_pending;
    long long admitted_since_poll;
    long long backlog_tokens; /* prompt + max_tokens estimate of this gateway's waiting jobs */
    double drain_rate;        /* jobs/s delivered to workers (EWMA, all lanes) */
    uint64_t poll_prev_us;
    double poll_read_delta; /* entries read by the group since the last rate update */
    int poll_inflight;
    struct gw_lane { /* one job stream per priority lane (queue/keys.h), polled each 100 ms */
        struct gateway *gw;
        int index;
        char key[KEYS_MAX]; /* P jobs:high, P jobs, P jobs:low */
        long long depth, lag, pending;
        long long xinfo_lag; /* last XINFO lag, -1 when Redis reported nil */
        int have_group;      /* the last poll saw the "workers" group */
        long long entries_read_prev;
    } lanes[KEYS_LANES];
    /* Requests whose job creation got no reply (connection lost with HSET + XADD unanswered:
     * Redis may still run them). admit.c cancels each once Redis answers again. */
    struct gw_unknown {
        char rid[72];
        int absent; /* replies "no such job" so far */
    } * unknown;    /* ADMIT_UNKNOWN_MAX entries once used, oldest first */
    int n_unknown, unknown_inflight;
    uint64_t unknown_next_ms;  /* loop time of the next cancel round */
    double stream_finish_rate; /* streams/s finished here (EWMA) */
    uint64_t finished_since;
    uint64_t finish_prev_us;

    /* served models (models.c), refreshed each second */
    json_t *models;         /* owned: model name -> created (s); NULL before the first refresh */
    uint64_t models_at_ms;  /* loop time of the last refresh */
    struct buf models_json; /* the /v1/models body of that refresh */
    struct models_waiter {
        struct http_conn *c;
        uint64_t serial;
    } * models_waiters; /* conn_hold'ed */
    int n_models_waiters, cap_models_waiters;
    int models_inflight;

    int draining;
    uint64_t drain_deadline_ms;
    int exit_code;

    struct metrics *metrics;
    struct gw_counters c;
    struct metric *m_ttft, *m_itl, *m_queue_s, *m_e2e;
    struct metric *m_tokens, *m_bytes, *m_open, *m_conns, *m_depth, *m_lag, *m_backlog;
    struct metric *m_drain_rate, *m_redis_up, *m_cut, *m_cancels;
};

/* Builds the gateway on loop from cfg (borrowed; must outlive it): keys, auth, Redis
 * connections, listener, timers, signals. Returns 0 or a negative code with e->msg. */
int gateway_init(struct gateway *gw, uv_loop_t *loop, const struct gw_config *cfg, struct err *e);
/* Starts draining (SIGTERM): readyz 503, stop accepting, streams finish until the drain
 * deadline, then every handle closes and uv_run returns. */
void gateway_drain(struct gateway *gw);
/* Closes everything at once (after uv_run returned, call uv_run again to let closes finish). */
void gateway_close(struct gateway *gw);
void gateway_deinit(struct gateway *gw);

/* 1 when Redis is connected and the gateway is not draining. */
int gateway_ready(const struct gateway *gw);

/* Counts one answered HTTP request. endpoint is a static string. */
void gateway_count_request(struct gateway *gw, const char *endpoint, int status);
/* Counts one rejection ("overloaded", "rate_limited", "unauthorized", "bad_request", ...). */
void gateway_count_rejection(struct gateway *gw, const char *reason);

/* 32 lowercase hex characters into out (33 bytes) from the process' splitmix64 generator,
 * seeded once by getrandom: unique ids, not secrets (job access is scoped by API key). */
void gateway_new_id(char *out);
/* A random 63-bit seed. */
uint64_t gateway_random_u63(void);

#endif
