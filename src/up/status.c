/* status.c -- `llmq status` and `llmq dlq`: read-only views (and the few dead-letter repairs)
 * of a running platform, straight from Redis: queue depth and lag (XINFO GROUPS, XLEN), live
 * workers and their batch occupancy and tokens/s (the heartbeat keys P worker:<id>), and the
 * dead-letter stream P dlq. Finds Redis through --redis-url or the state file of `llmq up`. */
#include "up/up.h"

#include "up/autoscale.h"
#include "up/lanes.h"
#include "up/net.h"
#include "up/state.h"
#include "common/buf.h"
#include "common/cfg.h"
#include "common/clock.h"
#include "common/xalloc.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>

struct target {
    char *redis_url, *prefix, *state_file, *url;
    char *own_url, *own_prefix;   /* what resolve() allocated, freed by the caller */
    const char *state_path;       /* the state file used, when one was read */
    long pid;
    int json;
    long long count;
};

/* Fills redis_url/prefix from the state file when not given as flags. Returns 0 or prints
 * one clear line and returns 2. */
static int resolve(struct target *t, const char *cmd)
{
    const char *path = t->state_file && *t->state_file ? t->state_file : state_default_path();
    char *r = NULL, *p = NULL;
    int rc = state_read(path, &r, &p, &t->url, &t->pid);
    if (rc == 0) t->state_path = path;
    if (rc == 0 && t->pid > 0 && kill((pid_t)t->pid, 0) != 0 && errno == ESRCH) rc = -ESRCH;
    if (!t->redis_url || !*t->redis_url) {
        if (rc == -ESRCH) {
            fprintf(stderr, "llmq %s: no running `llmq up` (stale state file %s, pid %ld is gone); pass --redis-url\n",
                    cmd, path, t->pid);
            free(r); free(p);
            return 2;
        }
        if (rc == -ENOENT) {
            fprintf(stderr, "llmq %s: no running `llmq up` found (%s); pass --redis-url\n", cmd, path);
            free(r); free(p);
            return 2;
        }
        if (rc < 0) {
            fprintf(stderr, "llmq %s: unreadable state file %s; pass --redis-url\n", cmd, path);
            return 2;
        }
        t->redis_url = t->own_url = r;
        r = NULL;
        if (!t->prefix || !*t->prefix) { t->prefix = t->own_prefix = p; p = NULL; }
    }
    if (!t->prefix || !*t->prefix) t->prefix = "llmq:";
    free(r);
    free(p);
    return 0;
}

static long long field_int(redisReply *pairs, const char *name)
{
    for (size_t k = 0; pairs && pairs->type == REDIS_REPLY_ARRAY && k + 1 < pairs->elements; k += 2) {
        redisReply *key = pairs->element[k], *v = pairs->element[k + 1];
        if (key->str && !strcmp(key->str, name)) {
            if (v->type == REDIS_REPLY_INTEGER) return v->integer;
            if (v->str) return strtoll(v->str, NULL, 10);
            return -1;   /* nil: e.g. lag unknown after XDEL */
        }
    }
    return -1;
}

static const char *field_str(redisReply *pairs, const char *name)
{
    for (size_t k = 0; pairs && pairs->type == REDIS_REPLY_ARRAY && k + 1 < pairs->elements; k += 2) {
        redisReply *key = pairs->element[k], *v = pairs->element[k + 1];
        if (key->str && !strcmp(key->str, name)) return v->str;
    }
    return NULL;
}

/* ---------------------------------------------------------------- llmq status */

int status_main(int argc, char **argv)
{
    struct target t = { 0 };
    const struct cfg_opt opts[] = {
        { "redis-url", CFG_STR, &t.redis_url, "Redis to read (default: from the state file of llmq up)" },
        { "prefix", CFG_STR, &t.prefix, "Redis key prefix (default: from the state file, else llmq:)" },
        { "state-file", CFG_STR, &t.state_file, "state file written by llmq up" },
        { "json", CFG_BOOL, &t.json, "print one JSON object instead of text" },
        { NULL },
    };
    struct err e = { 0 };
    int rc = cfg_parse(opts, argc, argv, 1,
                       "usage: llmq status [--redis-url URL] [--json]\n"
                       "Queue depth and lag, live workers, batch occupancy and tokens/s.", NULL, &e);
    int status = 2;
    redisContext *c = NULL;
    json_t *out = json_object(), *ws = json_array(), *lanes = NULL, *st = NULL;
    if (rc == 1) { status = 0; goto done; }
    if (rc < 0) { fprintf(stderr, "llmq status: %s\n", e.msg); goto done; }
    if (resolve(&t, "status")) goto done;
    char err[256];
    if (!(c = net_redis_connect(t.redis_url, 2000, err, sizeof(err)))) {
        fprintf(stderr, "llmq status: %s\n", err);
        status = 1;
        goto done;
    }

    /* Summed over the priority lanes (docs/QUEUE.md); each lane also reported alone. */
    long long depth = 0, lag = 0, pending = 0, dlq = 0;
    long long lane_depth[UP_LANES] = { 0 }, lane_lag[UP_LANES] = { 0 }, lane_pending[UP_LANES] = { 0 };
    redisReply *r;
    lanes = json_object();
    for (int lane = 0; lane < UP_LANES; lane++) {
        r = redisCommand(c, "XLEN %sjobs%s", t.prefix, up_lane_suffix[lane]);
        if (r && r->type == REDIS_REPLY_INTEGER) lane_depth[lane] = r->integer;
        if (r) freeReplyObject(r);
        r = redisCommand(c, "XINFO GROUPS %sjobs%s", t.prefix, up_lane_suffix[lane]);
        struct autoscale_lane q = { .xlen = lane_depth[lane] };
        for (size_t g = 0; r && r->type == REDIS_REPLY_ARRAY && g < r->elements; g++) {
            const char *name = field_str(r->element[g], "name");
            if (!name || strcmp(name, "workers")) continue;
            q.have_group = 1;
            q.lag = field_int(r->element[g], "lag");   /* -1 for nil */
            q.pending = field_int(r->element[g], "pending");
        }
        if (r) freeReplyObject(r);
        /* as the autoscaler and the gateway count it: nil lag = XLEN - pending, no group = XLEN */
        double ql, qp;
        autoscale_queue_totals(&q, 1, &ql, &qp);
        lane_lag[lane] = (long long)ql;
        lane_pending[lane] = (long long)qp;
        depth += lane_depth[lane];
        lag += lane_lag[lane];
        pending += lane_pending[lane] > 0 ? lane_pending[lane] : 0;
        json_t *lj = json_object();
        json_object_set_new(lj, "depth", json_integer(lane_depth[lane]));
        json_object_set_new(lj, "lag", json_integer(lane_lag[lane]));
        json_object_set_new(lj, "pending", json_integer(lane_pending[lane] > 0 ? lane_pending[lane] : 0));
        json_object_set_new(lanes, up_lane_name[lane], lj);
    }
    r = redisCommand(c, "XLEN %sdlq", t.prefix);
    if (r && r->type == REDIS_REPLY_INTEGER) dlq = r->integer;
    if (r) freeReplyObject(r);

    /* Live workers: every P worker:* key that still exists (they expire 3 s after the last
     * heartbeat). SCAN, not KEYS, so a big keyspace is not blocked. */
    long long batch = 0, batch_max = 0;
    double tps = 0;
    char cursor[32] = "0";
    int n_live = 0;
    do {
        r = redisCommand(c, "SCAN %s MATCH %sworker:* COUNT 500", cursor, t.prefix);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) { if (r) freeReplyObject(r); break; }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str ? r->element[0]->str : "0");
        redisReply *keys = r->element[1];
        for (size_t k = 0; k < keys->elements; k++) {
            redisReply *v = redisCommand(c, "GET %s", keys->element[k]->str);
            if (v && v->type == REDIS_REPLY_STRING) {
                json_t *hb = json_loads(v->str, 0, NULL);
                if (!hb) hb = json_object();
                const char *id = keys->element[k]->str + strlen(t.prefix) + strlen("worker:");
                json_object_set_new(hb, "id", json_string(id));
                batch += json_integer_value(json_object_get(hb, "batch"));
                batch_max += json_integer_value(json_object_get(hb, "max_batch"));
                tps += json_number_value(json_object_get(hb, "tokens_per_s"));
                json_array_append_new(ws, hb);
                n_live++;
            }
            if (v) freeReplyObject(v);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);

    json_object_set_new(out, "redis_url", json_string(t.redis_url));
    json_object_set_new(out, "prefix", json_string(t.prefix));
    if (t.url) json_object_set_new(out, "url", json_string(t.url));
    json_object_set_new(out, "queue_depth", json_integer(depth));
    json_object_set_new(out, "queue_lag", json_integer(lag));
    json_object_set_new(out, "queue_pending", json_integer(pending));
    json_object_set_new(out, "dlq", json_integer(dlq));
    json_object_set_new(out, "lanes", lanes);
    lanes = NULL;
    json_object_set_new(out, "workers_live", json_integer(n_live));
    json_object_set_new(out, "batch", json_integer(batch));
    json_object_set_new(out, "batch_max", json_integer(batch_max));
    json_object_set_new(out, "tokens_per_s", json_real(tps));
    json_object_set(out, "workers", ws);
    /* The processes `llmq up` supervises, with their restart counts (gateways have no
     * heartbeat key; the state file is where they show). */
    st = t.state_path && !strcmp(t.redis_url, t.own_url ? t.own_url : "")
                     ? json_load_file(t.state_path, 0, NULL) : NULL;
    json_t *kids = st ? json_object_get(st, "children") : NULL;
    if (kids) json_object_set(out, "processes", kids);

    if (t.json) {
        char *s = json_dumps(out, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
    } else {
        if (t.url) printf("llmq up (pid %ld) serving %s\n", t.pid, t.url);
        printf("redis    %s  prefix %s\n", t.redis_url, t.prefix);
        printf("queue    depth %lld  lag %lld  running/pending %lld  dead-letter %lld\n",
               depth, lag < 0 ? 0 : lag, pending, dlq);
        if (lane_depth[0] || lane_depth[2])
            printf("lanes    high %lld/%lld  normal %lld/%lld  low %lld/%lld   (depth/lag)\n", lane_depth[0],
                   lane_lag[0], lane_depth[1], lane_lag[1], lane_depth[2], lane_lag[2]);
        printf("workers  %d live  batch %lld/%lld (%.0f%%)  %.1f tokens/s\n", n_live, batch, batch_max,
               batch_max ? 100.0 * (double)batch / (double)batch_max : 0.0, tps);
        size_t i;
        json_t *w;
        if (kids) {
            printf("processes");
            json_array_foreach(kids, i, w)
                printf("  %s %lld%s", json_string_value(json_object_get(w, "name")),
                       (long long)json_integer_value(json_object_get(w, "pid")),
                       json_integer_value(json_object_get(w, "restarts"))
                           ? (json_integer_value(json_object_get(w, "restarts")) == 1 ? " (restarted once)" : " (restarted)")
                           : "");
            printf("\n");
        }
        json_array_foreach(ws, i, w) {
            const char *model = json_string_value(json_object_get(w, "model"));
            const char *eng = json_string_value(json_object_get(w, "engine"));
            printf("  %-28s %-12s %-10s batch %3lld/%-3lld %9.1f tok/s\n",
                   json_string_value(json_object_get(w, "id")), model ? model : "?", eng ? eng : "?",
                   (long long)json_integer_value(json_object_get(w, "batch")),
                   (long long)json_integer_value(json_object_get(w, "max_batch")),
                   json_number_value(json_object_get(w, "tokens_per_s")));
        }
    }
    status = 0;
done:
    json_decref(st);
    json_decref(lanes);
    if (c) redisFree(c);
    json_decref(ws);
    json_decref(out);
    free(t.url);
    free(t.own_url);
    free(t.own_prefix);
    cfg_free(opts);
    return status;
}

/* ---------------------------------------------------------------- llmq dlq */

static void print_entry(redisReply *entry)
{
    redisReply *fields = entry->element[1];
    const char *id = field_str(fields, "id"), *err = field_str(fields, "error");
    printf("%s  request %s  error %s\n", entry->element[0]->str, id ? id : "?", err ? err : "?");
}

/* Puts one dead-lettered job back on the queue: state queued, attempts 0, a new XADD with the
 * same request id and fields, then XDEL from the dead-letter stream. */
static int retry_entry(redisContext *c, const char *prefix, redisReply *entry)
{
    redisReply *f = entry->element[1];
    const char *id = field_str(f, "id"), *req = field_str(f, "req");
    if (!id || !req) return -EINVAL;
    const char *gw = field_str(f, "gw"), *tp = field_str(f, "tp");
    char enq[32];
    snprintf(enq, sizeof(enq), "%llu", (unsigned long long)clock_wall_us());
    /* back into the lane of its priority, as the gateway would have put it */
    json_t *rj = json_loads(req, 0, NULL);
    int lane = up_lane_of(json_integer_value(json_object_get(rj, "priority")));
    json_decref(rj);
    redisAppendCommand(c, "HSET %sjob:%s state queued attempts 0 error %s", prefix, id, "");
    redisAppendCommand(c, "XADD %sjobs%s * id %s gw %s req %s tp %s enq_us %s", prefix, up_lane_suffix[lane], id,
                       gw ? gw : "", req, tp ? tp : "", enq);
    redisAppendCommand(c, "XDEL %sdlq %s", prefix, entry->element[0]->str);
    int rc = 0;
    for (int i = 0; i < 3; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) return -EIO;
        if (r->type == REDIS_REPLY_ERROR) rc = -EIO;
        freeReplyObject(r);
    }
    return rc;
}

int dlq_main(int argc, char **argv)
{
    struct target t = { .count = 100 };
    const struct cfg_opt opts[] = {
        { "redis-url", CFG_STR, &t.redis_url, "Redis to use (default: from the state file of llmq up)" },
        { "prefix", CFG_STR, &t.prefix, "Redis key prefix" },
        { "state-file", CFG_STR, &t.state_file, "state file written by llmq up" },
        { "count", CFG_INT, &t.count, "most entries to list" },
        { NULL },
    };
    const char *usage = "usage: llmq dlq list | retry <entry-id>... | retry all | purge\n"
                        "The dead-letter stream: jobs that failed --max-attempts times.";
    struct cfg_rest rest = { 0 };
    struct err e = { 0 };
    int rc = cfg_parse(opts, argc, argv, 1, usage, &rest, &e), status = 2;
    redisContext *c = NULL;
    if (rc == 1) { status = 0; goto done; }
    if (rc < 0) { fprintf(stderr, "llmq dlq: %s\n", e.msg); goto done; }
    for (int i = 0; i < rest.argc; i++)
        if (!strncmp(rest.argv[i], "--", 2)) { fprintf(stderr, "llmq dlq: unknown flag '%s'\n", rest.argv[i]); goto done; }
    const char *verb = rest.argc ? rest.argv[0] : "list";
    if (strcmp(verb, "list") && strcmp(verb, "retry") && strcmp(verb, "purge")) {
        fprintf(stderr, "llmq dlq: unknown action '%s'\n%s\n", verb, usage); goto done;
    }
    if (!strcmp(verb, "retry") && rest.argc < 2) {
        fprintf(stderr, "llmq dlq retry: name entry ids or 'all'\n"); goto done;
    }
    if (resolve(&t, "dlq")) goto done;
    char err[256];
    if (!(c = net_redis_connect(t.redis_url, 2000, err, sizeof(err)))) {
        fprintf(stderr, "llmq dlq: %s\n", err); status = 1; goto done;
    }
    status = 0;
    if (!strcmp(verb, "purge")) {
        redisReply *r = redisCommand(c, "XLEN %sdlq", t.prefix);
        long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
        if (r) freeReplyObject(r);
        r = redisCommand(c, "DEL %sdlq", t.prefix);
        if (r) freeReplyObject(r);
        printf("purged %lld dead-letter entries\n", n);
    } else if (!strcmp(verb, "list") || !strcmp(rest.argv[1], "all")) {
        redisReply *r = redisCommand(c, "XRANGE %sdlq - + COUNT %lld", t.prefix,
                                     !strcmp(verb, "list") ? t.count : 1000000LL);
        int n = 0, bad = 0;
        for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
            if (!strcmp(verb, "list")) print_entry(r->element[i]);
            else if (retry_entry(c, t.prefix, r->element[i]) < 0) bad++;
            n++;
        }
        if (r) freeReplyObject(r);
        if (!strcmp(verb, "list")) printf("%d dead-letter entries shown\n", n);
        else printf("retried %d of %d dead-letter entries\n", n - bad, n);
        if (bad) status = 1;
    } else {
        for (int i = 1; i < rest.argc; i++) {
            redisReply *r = redisCommand(c, "XRANGE %sdlq %s %s", t.prefix, rest.argv[i], rest.argv[i]);
            if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 1) {
                fprintf(stderr, "llmq dlq retry: no entry %s\n", rest.argv[i]);
                status = 1;
            } else if (retry_entry(c, t.prefix, r->element[0]) < 0) {
                fprintf(stderr, "llmq dlq retry: entry %s could not be requeued\n", rest.argv[i]);
                status = 1;
            } else {
                printf("requeued %s\n", rest.argv[i]);
            }
            if (r) freeReplyObject(r);
        }
    }
done:
    if (c) redisFree(c);
    free(t.url);
    free(t.own_url);
    free(t.own_prefix);
    cfg_rest_free(&rest);
    cfg_free(opts);
    return status;
}
