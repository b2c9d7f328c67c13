/* models.c -- served models from worker heartbeats (see models.h): one refresh at a time,
 * its result shared by /v1/models, the default model and the model_not_found check. */
#include "gateway/models.h"
#include "common/xalloc.h"
#include "gateway/conn.h"
#include "gateway/gw.h"
#include "queue/keys.h"
#include "queue/rconn.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

const char *models_pick(const char *named, const json_t *served, const char *fallback)
{
    if (named && named[0]) {
        if (served && json_object_size(served) && !json_object_get(served, named)) return NULL;
        return named;
    }
    if (fallback && fallback[0]) return fallback;
    if (served && json_object_size(served) == 1) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)served, k, v) return k;
    }
    return "default";
}

int models_resolve(struct gateway *gw, const char **model, struct err *e)
{
    const json_t *served = gw->models;
    if (served && uv_now(gw->loop) - gw->models_at_ms > MODELS_FRESH_MS) served = NULL;
    const char *m = models_pick(*model, served, gw->cfg.default_model);
    if (!m)
        return err_set(e, LLMQ_ENOTFOUND,
                       "The model `%.200s` does not exist (no live worker serves it)", *model);
    *model = m;
    return 0;
}

/* Answers every /v1/models request that waited for this refresh. */
static void answer_waiters(struct gateway *gw)
{
    for (int i = 0; i < gw->n_models_waiters; i++) {
        struct http_conn *c = gw->models_waiters[i].c;
        if (conn_release(c, gw->models_waiters[i].serial))
            conn_respond(c, 200, "application/json", NULL, gw->models_json.data,
                         gw->models_json.len);
    }
    gw->n_models_waiters = 0;
}

/* Takes ownership of names (model -> created s): the new cache and its /v1/models body. */
static void refreshed(struct gateway *gw, json_t *names)
{
    json_decref(gw->models);
    gw->models = names;
    gw->models_at_ms = uv_now(gw->loop);
    buf_reset(&gw->models_json);
    buf_append_str(&gw->models_json, "{\"object\":\"list\",\"data\":[");
    const char *k;
    json_t *v;
    int first = 1;
    json_object_foreach(names, k, v)
    {
        if (!first) buf_append_char(&gw->models_json, ',');
        first = 0;
        buf_append_str(&gw->models_json, "{\"id\":\"");
        buf_append_json_str(&gw->models_json, k, strlen(k));
        buf_printf(&gw->models_json,
                   "\",\"object\":\"model\",\"created\":%" JSON_INTEGER_FORMAT
                   ",\"owned_by\":\"llmq\"}",
                   json_integer_value(v));
    }
    buf_append_str(&gw->models_json, "]}");
    gw->models_inflight = 0;
    answer_waiters(gw);
}

static void on_mget(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct gateway *gw = priv;
    redisReply *rep = reply;
    json_t *names = json_object();
    if (rep && rep->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < rep->elements; i++) {
            redisReply *e = rep->element[i];
            if (e->type != REDIS_REPLY_STRING) continue; /* nil: heartbeat expired */
            json_t *w = json_loadb(e->str, e->len, 0, NULL);
            json_t *m = w ? json_object_get(w, "model") : NULL;
            if (m && json_is_string(m) && json_string_length(m)) {
                json_t *ts = json_object_get(w, "ts_us");
                json_int_t created =
                    ts && json_is_integer(ts) ? json_integer_value(ts) / 1000000 : 0;
                json_object_set_new(names, json_string_value(m), json_integer(created));
            }
            json_decref(w);
        }
    }
    refreshed(gw, names);
}

static void on_members(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct gateway *gw = priv;
    redisReply *rep = reply;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements == 0) {
        refreshed(gw, json_object());
        return;
    }
    size_t n = rep->elements + 1;
    const char **argv = xcalloc(n, sizeof(*argv));
    size_t *lens = xcalloc(n, sizeof(*lens));
    char(*keys)[KEYS_MAX] = xcalloc(n, KEYS_MAX);
    argv[0] = "MGET";
    lens[0] = 4;
    size_t k = 1;
    for (size_t i = 0; i < rep->elements; i++) {
        redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_STRING) continue;
        int l = keys_worker(&gw->keys, e->str, keys[k]);
        if (l < 0) continue;
        argv[k] = keys[k];
        lens[k++] = (size_t)l;
    }
    if (k == 1 || rconn_command_argv(gw->cmd, on_mget, gw, (int)k, argv, lens) < 0)
        refreshed(gw, json_object());
    free(argv);
    free(lens);
    free(keys);
}

void models_refresh(struct gateway *gw)
{
    if (gw->models_inflight) return;
    char key[KEYS_MAX];
    keys_workers(&gw->keys, key);
    if (rconn_command(gw->cmd, on_members, gw, "SMEMBERS %s", key) == 0) gw->models_inflight = 1;
}

void models_http(struct http_conn *c)
{
    struct gateway *gw = c->gw;
    if (gw->models_json.len && uv_now(gw->loop) - gw->models_at_ms < 1000) {
        conn_respond(c, 200, "application/json", NULL, gw->models_json.data, gw->models_json.len);
        return;
    }
    models_refresh(gw);
    if (!gw->models_inflight) { /* Redis is down: the last list, if any */
        if (gw->models_json.len)
            conn_respond(c, 200, "application/json", NULL, gw->models_json.data,
                         gw->models_json.len);
        else
            conn_respond_error(c, 503, "server_error", "internal", NULL, "Redis unavailable", 1);
        return;
    }
    if (gw->n_models_waiters == gw->cap_models_waiters) {
        gw->cap_models_waiters = gw->cap_models_waiters ? gw->cap_models_waiters * 2 : 16;
        gw->models_waiters = xrealloc(gw->models_waiters,
                                      sizeof(*gw->models_waiters) * (size_t)gw->cap_models_waiters);
    }
    gw->models_waiters[gw->n_models_waiters].c = c;
    gw->models_waiters[gw->n_models_waiters++].serial = c->serial;
    conn_hold(c);
}

void models_deinit(struct gateway *gw)
{
    json_decref(gw->models);
    gw->models = NULL;
    buf_deinit(&gw->models_json);
    free(gw->models_waiters);
    gw->models_waiters = NULL;
}
