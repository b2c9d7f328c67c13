/* rconn.c -- a self-healing hiredis async connection on libuv (see rconn.h).
 * State machine: IDLE --attempt--> CONNECTING --tcp up--> SETUP (AUTH/SELECT/PING in
 * flight) --all OK--> UP. Any failure or drop goes back to IDLE with a retry timer whose
 * delay doubles up to backoff_max_ms, jittered +-25% so a fleet does not reconnect in step.
 * One uv_timer (retry) serves as backoff delay and as connect/setup timeout; another (ping)
 * checks liveness while UP. The struct is freed only after both timers closed and hiredis
 * let go of the context (STYLE ownership rule 5). */
#include "queue/rconn.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <hiredis/adapters/libuv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rconn {
    uv_loop_t *loop;       /* borrowed; outlives rc */
    redisAsyncContext *ac; /* hiredis' (owned by hiredis once connected); NULL when idle */
    uv_timer_t retry;      /* backoff delay, then connect+setup timeout */
    uv_timer_t ping;       /* liveness check while up */
    int up;                /* connected and set up: commands accepted */
    int setup_pending;     /* setup replies still expected */
    int closing;           /* rconn_free ran */
    int handles_open;      /* timers not yet closed (while closing) */
    int failures;          /* consecutive failed attempts, for log throttling */
    int backoff_ms;        /* next retry delay before jitter */
    uint64_t connects;
    int ping_outstanding;
    uint64_t ping_sent_us;
    uint64_t rng; /* jitter PRNG state */
    /* configuration, owned copies */
    char *name, *host, *user, *password;
    int port, db;
    int backoff_min_ms, backoff_max_ms, connect_timeout_ms, ping_ms, ping_timeout_ms;
    rconn_event_fn *on_connect, *on_disconnect;
    void *ud;
};

static void attempt(struct rconn *rc);

/* ---------------------------------------------------------------- URL */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* URL userinfo may percent-encode reserved bytes (a password holding '@' or ':'). */
static char *pct_decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[j++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = 0;
    return out;
}

static int parse_url(struct rconn *rc, const char *url, struct err *e)
{
    if (!url || !*url) return err_set(e, -EINVAL, "redis url: empty");
    const char *p = url;
    if (!strncmp(p, "rediss://", 9))
        return err_set(e, -EINVAL, "redis url '%s': TLS (rediss://) is not supported", url);
    if (!strncmp(p, "unix:", 5))
        return err_set(e, -EINVAL, "redis url '%s': unix sockets are not supported", url);
    if (!strncmp(p, "redis://", 8))
        p += 8;
    else if (strstr(p, "://"))
        return err_set(e, -EINVAL, "redis url '%s': scheme must be redis://", url);
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            if (colon > p) rc->user = pct_decode(p, (size_t)(colon - p));
            rc->password = pct_decode(colon + 1, (size_t)(at - colon - 1));
        } else {
            rc->password = pct_decode(p, (size_t)(at - p)); /* redis://secret@host */
        }
        p = at + 1;
    }
    const char *host_end;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (!host_end) return err_set(e, -EINVAL, "redis url '%s': unclosed '['", url);
        rc->host = xstrndup(p + 1, (size_t)(host_end - p - 1));
        host_end++;
    } else {
        host_end = p + strcspn(p, ":/");
        rc->host = xstrndup(p, (size_t)(host_end - p));
    }
    if (!rc->host[0]) return err_set(e, -EINVAL, "redis url '%s': missing host", url);
    rc->port = 6379;
    p = host_end;
    char *end;
    if (*p == ':') {
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535 || (*end && *end != '/'))
            return err_set(e, -EINVAL, "redis url '%s': bad port", url);
        rc->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1]) {
        long db = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || db < 0 || db > 1000000)
            return err_set(e, -EINVAL, "redis url '%s': bad database number", url);
        rc->db = (int)db;
    } else if (*p && strcmp(p, "/")) {
        return err_set(e, -EINVAL, "redis url '%s': unexpected '%s'", url, p);
    }
    return 0;
}

/* ---------------------------------------------------------------- state machine */

static void maybe_free(struct rconn *rc)
{
    if (!rc->closing || rc->handles_open || rc->ac) return;
    free(rc->name);
    free(rc->host);
    free(rc->user);
    free(rc->password);
    free(rc);
}

static void on_retry(uv_timer_t *t)
{
    attempt(t->data);
}

static void schedule_retry(struct rconn *rc)
{
    if (rc->closing) return;
    rc->failures++;
    rc->rng ^= rc->rng << 13;
    rc->rng ^= rc->rng >> 7;
    rc->rng ^= rc->rng << 17;
    double jitter = 0.75 + 0.5 * (double)(rc->rng % 10000) / 10000.0;
    uint64_t delay = (uint64_t)(rc->backoff_ms * jitter);
    rc->backoff_ms =
        rc->backoff_ms * 2 > rc->backoff_max_ms ? rc->backoff_max_ms : rc->backoff_ms * 2;
    uv_timer_start(&rc->retry, on_retry, delay ? delay : 1, 0);
}

/* Throttled: the first failures, then every 8th, so an outage does not flood the log. */
static int log_failure(const struct rconn *rc)
{
    return rc->failures < 3 || rc->failures % 8 == 0;
}

static void drop(struct rconn *rc, const char *why)
{
    if (!rc->ac) return;
    if (log_failure(rc))
        log_warn("redis %s: dropping connection to %s:%d: %s", rc->name, rc->host, rc->port, why);
    rc->up = 0;
    redisAsyncContext *ac = rc->ac;
    if (!(ac->c.flags & REDIS_CONNECTED)) {
        /* Not connected yet: hiredis frees it now and calls no disconnect hook. */
        rc->ac = NULL;
        redisAsyncFree(ac);
        schedule_retry(rc);
    } else {
        redisAsyncFree(ac); /* on_disconnected runs (now or after the current callback) */
    }
}

static void on_timeout(uv_timer_t *t)
{
    struct rconn *rc = t->data;
    char why[64];
    snprintf(why, sizeof(why), "not ready after %d ms", rc->connect_timeout_ms);
    drop(rc, why);
}

static void on_pong(redisAsyncContext *ac, void *reply, void *priv)
{
    struct rconn *rc = ac->data;
    if (reply && rc) rc->ping_outstanding = 0;
}

static void on_ping(uv_timer_t *t)
{
    struct rconn *rc = t->data;
    if (!rc->up || !rc->ac) return;
    uint64_t now = clock_mono_us();
    if (rc->ping_outstanding) {
        if (now - rc->ping_sent_us > (uint64_t)rc->ping_timeout_ms * 1000) {
            char why[64];
            snprintf(why, sizeof(why), "no PING reply in %d ms", rc->ping_timeout_ms);
            rc->failures = 0;
            drop(rc, why);
        }
        return;
    }
    if (redisAsyncCommand(rc->ac, on_pong, NULL, "PING") == REDIS_OK) {
        rc->ping_outstanding = 1;
        rc->ping_sent_us = now;
    }
}

static void mark_up(struct rconn *rc)
{
    uv_timer_stop(&rc->retry);
    rc->up = 1;
    rc->connects++;
    rc->backoff_ms = rc->backoff_min_ms;
    rc->ping_outstanding = 0;
    if (rc->failures > 0 || rc->connects > 1)
        log_info("redis %s: connected to %s:%d after %d failed attempts", rc->name, rc->host,
                 rc->port, rc->failures);
    else
        log_info("redis %s: connected to %s:%d", rc->name, rc->host, rc->port);
    rc->failures = 0;
    if (rc->ping_ms > 0)
        uv_timer_start(&rc->ping, on_ping, (uint64_t)rc->ping_ms, (uint64_t)rc->ping_ms);
    if (rc->on_connect) rc->on_connect(rc, rc->ud);
}

static void on_setup(redisAsyncContext *ac, void *reply, void *priv)
{
    struct rconn *rc = ac->data;
    redisReply *r = reply;
    if (!rc || !r || rc->closing) return; /* dropped meanwhile: on_disconnected handles it */
    if (r->type == REDIS_REPLY_ERROR) {
        if (log_failure(rc))
            log_error("redis %s: %s failed: %.*s", rc->name, (const char *)priv, (int)r->len,
                      r->str);
        rc->up = 0;
        redisAsyncDisconnect(ac); /* deferred by hiredis until this callback returns */
        return;
    }
    if (--rc->setup_pending == 0) mark_up(rc);
}

static void on_connected(const redisAsyncContext *cac, int status)
{
    struct rconn *rc = cac->data;
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this returns, without a disconnect callback. */
        if (log_failure(rc))
            log_warn("redis %s: connect to %s:%d failed: %s", rc->name, rc->host, rc->port,
                     ac->errstr ? ac->errstr : "?");
        rc->ac = NULL;
        uv_timer_stop(&rc->retry);
        schedule_retry(rc);
        return;
    }
    redisEnableKeepAlive(&ac->c);
    /* Setup always ends with a reply (at least PING), so mark_up and the user's on_connect
     * hook run from a reply callback, where hiredis tolerates any call, even rconn_free. */
    rc->setup_pending = 0;
    if (rc->password) {
        if (rc->user)
            redisAsyncCommand(ac, on_setup, "AUTH", "AUTH %s %s", rc->user, rc->password);
        else
            redisAsyncCommand(ac, on_setup, "AUTH", "AUTH %s", rc->password);
        rc->setup_pending++;
    }
    if (rc->db) {
        redisAsyncCommand(ac, on_setup, "SELECT", "SELECT %d", rc->db);
        rc->setup_pending++;
    }
    redisAsyncCommand(ac, on_setup, "PING", "PING");
    rc->setup_pending++;
}

static void on_disconnected(const redisAsyncContext *ac, int status)
{
    struct rconn *rc = ac->data;
    if (!rc) return;
    int was_up = rc->up;
    rc->ac = NULL;
    rc->up = 0;
    if (!rc->closing) uv_timer_stop(&rc->ping);
    if (rc->closing) {
        maybe_free(rc);
        return;
    }
    if (was_up)
        log_warn("redis %s: connection to %s:%d lost: %s", rc->name, rc->host, rc->port,
                 ac->errstr && ac->err ? ac->errstr : "closed");
    if (was_up && rc->on_disconnect) rc->on_disconnect(rc, rc->ud);
    uv_timer_stop(&rc->retry);
    schedule_retry(rc);
}

static void attempt(struct rconn *rc)
{
    if (rc->closing || rc->ac) return;
    redisAsyncContext *ac = redisAsyncConnect(rc->host, rc->port);
    if (!ac || ac->err) {
        if (log_failure(rc))
            log_warn("redis %s: connect to %s:%d failed: %s", rc->name, rc->host, rc->port,
                     ac ? ac->errstr : "out of memory");
        if (ac) redisAsyncFree(ac);
        schedule_retry(rc);
        return;
    }
    ac->data = rc;
    if (redisLibuvAttach(ac, rc->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        schedule_retry(rc);
        return;
    }
    rc->ac = ac;
    redisAsyncSetDisconnectCallback(ac, on_disconnected);
    redisAsyncSetConnectCallback(ac, on_connected); /* after attach: it arms the write event */
    uv_timer_start(&rc->retry, on_timeout, (uint64_t)rc->connect_timeout_ms, 0);
}

/* ---------------------------------------------------------------- API */

int rconn_new(struct rconn **out, uv_loop_t *loop, const struct rconn_config *cfg, struct err *e)
{
    struct rconn *rc = xcalloc(1, sizeof(*rc));
    int rcode = parse_url(rc, cfg->url, e);
    if (rcode < 0) {
        free(rc->host);
        free(rc->user);
        free(rc->password);
        free(rc);
        return rcode;
    }
    rc->loop = loop;
    rc->name = xstrdup(cfg->name ? cfg->name : "redis");
    rc->backoff_min_ms = cfg->backoff_min_ms > 0 ? cfg->backoff_min_ms : 100;
    rc->backoff_max_ms = cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms : 5000;
    if (rc->backoff_max_ms < rc->backoff_min_ms) rc->backoff_max_ms = rc->backoff_min_ms;
    rc->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 2000;
    rc->ping_ms = cfg->ping_ms < 0 ? 0 : cfg->ping_ms > 0 ? cfg->ping_ms : 1000;
    rc->ping_timeout_ms = cfg->ping_timeout_ms > 0 ? cfg->ping_timeout_ms : 3000;
    rc->on_connect = cfg->on_connect;
    rc->on_disconnect = cfg->on_disconnect;
    rc->ud = cfg->ud;
    rc->backoff_ms = rc->backoff_min_ms;
    rc->rng = clock_mono_ns() ^ ((uint64_t)(uintptr_t)rc << 16) ^ 0x9E3779B97F4A7C15ull;
    uv_timer_init(loop, &rc->retry);
    uv_timer_init(loop, &rc->ping);
    rc->retry.data = rc;
    rc->ping.data = rc;
    attempt(rc);
    *out = rc;
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct rconn *rc = h->data;
    rc->handles_open--;
    maybe_free(rc);
}

void rconn_free(struct rconn *rc)
{
    if (!rc || rc->closing) return;
    rc->closing = 1;
    rc->up = 0;
    rc->handles_open = 2;
    uv_close((uv_handle_t *)&rc->retry, on_timer_closed);
    uv_close((uv_handle_t *)&rc->ping, on_timer_closed);
    if (rc->ac) {
        redisAsyncContext *ac = rc->ac;
        if (!(ac->c.flags & REDIS_CONNECTED)) {
            rc->ac = NULL;
            redisAsyncFree(ac);
        } else {
            redisAsyncFree(ac); /* on_disconnected clears rc->ac, now or after the callback */
        }
    }
}

int rconn_connected(const struct rconn *rc)
{
    return rc && rc->up && rc->ac;
}

int rconn_command(struct rconn *rc, redisCallbackFn *fn, void *privdata, const char *fmt, ...)
{
    if (!rconn_connected(rc)) return LLMQ_EREDIS;
    va_list ap;
    va_start(ap, fmt);
    int r = redisvAsyncCommand(rc->ac, fn, privdata, fmt, ap);
    va_end(ap);
    return r == REDIS_OK ? 0 : LLMQ_EREDIS;
}

int rconn_command_argv(struct rconn *rc, redisCallbackFn *fn, void *privdata, int argc,
                       const char **argv, const size_t *argvlen)
{
    if (!rconn_connected(rc)) return LLMQ_EREDIS;
    return redisAsyncCommandArgv(rc->ac, fn, privdata, argc, argv, argvlen) == REDIS_OK
               ? 0
               : LLMQ_EREDIS;
}

struct rconn *rconn_from_ctx(const redisAsyncContext *ac)
{
    struct rconn *rc = ac ? ac->data : NULL;
    return rc && !rc->closing ? rc : NULL;
}

uint64_t rconn_connects(const struct rconn *rc)
{
    return rc->connects;
}
