/* route.c -- endpoint dispatch and the small endpoints. Errors become HTTP answers here, in
 * admit.c and in models.c (Redis down for /v1/models) only (conn_respond_error). */
#include "gateway/route.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "gateway/admit.h"
#include "gateway/auth.h"
#include "gateway/conn.h"
#include "gateway/gw.h"
#include "gateway/models.h"
#include "gateway/stream.h"
#include "gateway/ws.h"
#include "queue/keys.h"
#include "queue/rconn.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) return 0;
    return 1;
}

int route_traceparent(const char *v, size_t len, char trace_id[33])
{
    if (len < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return -EINVAL;
    if (!is_hex(v, 2) || !is_hex(v + 3, 32) || !is_hex(v + 36, 16) || !is_hex(v + 53, 2))
        return -EINVAL;
    if (!memcmp(v, "ff", 2)) return -EINVAL;
    static const char zeros[32] = "00000000000000000000000000000000";
    if (!memcmp(v + 3, zeros, 32) || !memcmp(v + 36, zeros, 16)) return -EINVAL;
    memcpy(trace_id, v + 3, 32);
    trace_id[32] = 0;
    return 0;
}

/* ---------------------------------------------------------------- small endpoints */

static void respond_json(struct http_conn *c, int status, const char *body)
{
    conn_respond(c, status, "application/json", NULL, body, strlen(body));
}

static void on_metrics(struct http_conn *c)
{
    struct buf b;
    buf_init(&b);
    metrics_render(c->gw->metrics, &b);
    conn_respond(c, 200, "text/plain; version=0.0.4", NULL, b.data ? b.data : "", b.len);
    buf_deinit(&b);
}

static void on_index(struct http_conn *c)
{
    struct gateway *gw = c->gw;
    char path[4096];
    snprintf(path, sizeof(path), "%s/index.html", gw->cfg.web_dir ? gw->cfg.web_dir : "web");
    FILE *f = fopen(path, "rb");
    if (!f) {
        conn_respond_error(c, 404, "invalid_request_error", "not_found", NULL,
                           "web playground not found (see --web-dir)", 0);
        return;
    }
    struct buf b;
    buf_init(&b);
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0 && b.len < (4u << 20))
        buf_append(&b, tmp, n);
    fclose(f);
    conn_respond(c, 200, "text/html; charset=utf-8", "Cache-Control: no-cache\r\n",
                 b.data ? b.data : "", b.len);
    buf_deinit(&b);
}

/* ---------------------------------------------------------------- /v1/jobs/{id} */

struct conn_ref { /* a connection awaiting a Redis reply (conn_hold) */
    struct gateway *gw;
    struct http_conn *c;
    uint64_t serial;
    char rid[72];
};

static struct http_conn *ref_conn(struct conn_ref *r)
{
    return conn_release(r->c, r->serial) ? r->c : NULL;
}

/* Unknown ids and other keys' jobs answer alike, so ids cannot be probed. */
static void no_such_request(struct http_conn *c)
{
    conn_respond_error(c, 404, "invalid_request_error", "not_found", NULL, "no such request", 0);
}

static int all_digits(const char *s, size_t n)
{
    if (!n || n > 18) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

static void on_job_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct conn_ref *r = priv;
    struct gateway *gw = r->gw;
    struct http_conn *c = ref_conn(r);
    redisReply *rep = reply;
    if (c) {
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            conn_respond_error(c, 503, "server_error", "internal", NULL, "Redis unavailable", 1);
        } else if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0) {
            no_such_request(c);
        } else {
            /* Auth on: only the key that created a job may read it. */
            int allowed = 1;
            for (size_t i = 0; i + 1 < rep->elements; i += 2)
                if (!strcmp(rep->element[i]->str, "key") && !auth_open(&gw->auth) &&
                    strcmp(rep->element[i + 1]->str, c->key_id))
                    allowed = 0;
            if (!allowed) {
                no_such_request(c);
            } else {
                struct buf b;
                buf_init(&b);
                buf_append_str(&b, "{\"id\":\"");
                buf_append_str(&b, r->rid);
                buf_append_str(&b, "\",\"object\":\"job\"");
                for (size_t i = 0; i + 1 < rep->elements; i += 2) {
                    redisReply *k = rep->element[i], *v = rep->element[i + 1];
                    if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
                    buf_append_str(&b, ",\"");
                    buf_append_json_str(&b, k->str, k->len);
                    buf_append_str(&b, "\":");
                    json_t *parsed = NULL;
                    if (all_digits(v->str, v->len)) {
                        buf_append(&b, v->str, v->len);
                    } else if ((!strcmp(k->str, "req") || !strcmp(k->str, "usage") ||
                                !strcmp(k->str, "timing")) &&
                               (parsed = json_loadb(v->str, v->len, 0, NULL))) {
                        buf_append(&b, v->str, v->len);
                    } else {
                        buf_append_char(&b, '"');
                        buf_append_json_str(&b, v->str, v->len);
                        buf_append_char(&b, '"');
                    }
                    json_decref(parsed);
                }
                buf_append_char(&b, '}');
                conn_respond(c, 200, "application/json", NULL, b.data, b.len);
                buf_deinit(&b);
            }
        }
    }
    free(r);
}

static void on_cancel_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct conn_ref *r = priv;
    struct http_conn *c = ref_conn(r);
    redisReply *rep = reply;
    if (c) {
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            conn_respond_error(c, 503, "server_error", "internal", NULL, "Redis unavailable", 1);
        } else if (rep->type != REDIS_REPLY_STRING) {
            no_such_request(c);
        } else {
            const char *prev = rep->str;
            int terminal =
                !strcmp(prev, "done") || !strcmp(prev, "failed") || !strcmp(prev, "cancelled");
            char body[256];
            snprintf(body, sizeof(body),
                     "{\"id\":\"%s\",\"object\":\"job\",\"state\":\"%s\",\"cancelled\":%s}", r->rid,
                     terminal ? prev : "cancelled", terminal ? "false" : "true");
            respond_json(c, 200, body);
        }
    }
    free(r);
}

static void on_jobs(struct http_conn *c, const char *id, size_t id_len)
{
    struct gateway *gw = c->gw;
    char key[KEYS_MAX];
    if (!keys_id_valid(id, id_len)) {
        no_such_request(c);
        return;
    }
    struct conn_ref *r = xcalloc(1, sizeof(*r));
    r->gw = gw;
    r->c = c;
    r->serial = c->serial;
    memcpy(r->rid, id, id_len);
    r->rid[id_len] = 0;
    keys_job(&gw->keys, r->rid, key);
    int rc;
    if (c->reader.req.method == HTTP_DELETE) {
        static const char lua[] =
            "local s = redis.call('HGET', KEYS[1], 'state') "
            "if not s then return false end "
            "if ARGV[2] ~= '' then local k = redis.call('HGET', KEYS[1], 'key') "
            "  if k and k ~= ARGV[2] then return false end end "
            "if s == 'queued' then redis.call('HSET', KEYS[1], 'state', 'cancelled') end "
            "if s ~= 'done' and s ~= 'failed' and s ~= 'cancelled' then redis.call('PUBLISH', "
            "KEYS[2], ARGV[1]) end "
            "return s";
        rc = rconn_command(gw->cmd, on_cancel_reply, r, "EVAL %s 2 %s %s %s %s", lua, key,
                           gw->cancel_key, r->rid, auth_open(&gw->auth) ? "" : c->key_id);
    } else {
        rc = rconn_command(gw->cmd, on_job_reply, r, "HGETALL %s", key);
    }
    if (rc == 0) {
        conn_hold(c);
    } else {
        free(r);
        conn_respond_error(c, 503, "server_error", "internal", NULL, "Redis unavailable", 1);
    }
}

/* ---------------------------------------------------------------- dispatch */

static int path_is(const char *p, size_t n, const char *s)
{
    return strlen(s) == n && !memcmp(p, s, n);
}

/* Auth for /v1/...: Bearer header, or the bearer.<key> subprotocol on the WebSocket upgrade. */
static int authorize(struct http_conn *c, int ws)
{
    struct gateway *gw = c->gw;
    if (auth_open(&gw->auth)) {
        snprintf(c->key_id, sizeof(c->key_id), "anon");
        return 1;
    }
    size_t vl = 0, kl = 0;
    const char *key = NULL;
    const char *v = http_req_header(&c->reader.req, "authorization", &vl);
    int found = v && auth_bearer(v, vl, &key, &kl) == 0;
    if (!found && ws) {
        v = http_req_header(&c->reader.req, "sec-websocket-protocol", &vl);
        found = v && auth_ws_protocol(v, vl, &key, &kl) == 0;
    }
    char id[AUTH_KEY_ID_LEN + 1];
    if (found && auth_check(&gw->auth, key, kl, id)) {
        snprintf(c->key_id, sizeof(c->key_id), "%s", id);
        return 1;
    }
    gateway_count_rejection(gw, "unauthorized");
    conn_respond_error(c, 401, "invalid_request_error", "unauthorized", NULL,
                       found ? "Incorrect API key provided"
                             : "Missing API key: send Authorization: Bearer <key>",
                       0);
    return 0;
}

void route_request(struct http_conn *c)
{
    struct gateway *gw = c->gw;
    const struct http_req *req = &c->reader.req;
    static uint64_t serial;
    c->serial = ++serial;
    size_t vl = 0;
    const char *v = http_req_header(req, "x-request-id", &vl);
    if (v && keys_id_valid(v, vl)) {
        memcpy(c->request_id, v, vl);
        c->request_id[vl] = 0;
    } else {
        gateway_new_id(c->request_id);
    }
    c->trace_id[0] = 0;
    v = http_req_header(req, "traceparent", &vl);
    if (v) route_traceparent(v, vl, c->trace_id);

    size_t pl;
    const char *p = http_req_path(req, &pl);
    int m = req->method;
    c->endpoint = "other";
    if (pl >= 4 && !memcmp(p, "/v1/", 4)) {
        if (path_is(p, pl, "/v1/completions") || path_is(p, pl, "/v1/chat/completions")) {
            int chat = pl > 16;
            c->endpoint = chat ? "/v1/chat/completions" : "/v1/completions";
            if (m != HTTP_POST) {
                conn_respond_error(c, 405, "invalid_request_error", "bad_request", NULL,
                                   "POST required", 0);
                return;
            }
            if (!authorize(c, 0)) return;
            admit_http(c, chat);
            return;
        }
        if (path_is(p, pl, "/v1/ws")) {
            c->endpoint = "/v1/ws";
            if (!authorize(c, 1)) return;
            ws_upgrade(c);
            return;
        }
        if (path_is(p, pl, "/v1/models")) {
            c->endpoint = "/v1/models";
            if (m != HTTP_GET) {
                conn_respond_error(c, 405, "invalid_request_error", "bad_request", NULL,
                                   "GET required", 0);
                return;
            }
            if (!authorize(c, 0)) return;
            models_http(c);
            return;
        }
        if (pl > 9 && !memcmp(p, "/v1/jobs/", 9)) {
            c->endpoint = "/v1/jobs";
            if (m != HTTP_GET && m != HTTP_DELETE) {
                conn_respond_error(c, 405, "invalid_request_error", "bad_request", NULL,
                                   "GET or DELETE required", 0);
                return;
            }
            if (!authorize(c, 0)) return;
            on_jobs(c, p + 9, pl - 9);
            return;
        }
    }
    if (m == HTTP_GET || m == HTTP_HEAD) {
        if (path_is(p, pl, "/healthz")) {
            c->endpoint = "/healthz";
            respond_json(c, 200, "{\"status\":\"ok\"}");
            return;
        }
        if (path_is(p, pl, "/readyz")) {
            c->endpoint = "/readyz";
            if (gateway_ready(gw))
                respond_json(c, 200, "{\"status\":\"ready\"}");
            else
                respond_json(c, 503,
                             gw->draining ? "{\"status\":\"draining\"}"
                                          : "{\"status\":\"redis unavailable\"}");
            return;
        }
        if (path_is(p, pl, "/metrics")) {
            c->endpoint = "/metrics";
            on_metrics(c);
            return;
        }
        if (path_is(p, pl, "/") || path_is(p, pl, "/index.html")) {
            c->endpoint = "/";
            on_index(c);
            return;
        }
    }
    conn_respond_error(c, 404, "invalid_request_error", "not_found", NULL, "no such endpoint", 0);
}
