/* job.c -- the "req" JSON of a job (docs/QUEUE.md) <-> struct job_request, with jansson.
 * Decoding is strict on types and ranges (the bad field is named) and lenient on unknown
 * fields, so a newer gateway can add fields without breaking older workers. */
#include "queue/job.h"
#include "common/xalloc.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void job_request_init(struct job_request *r)
{
    memset(r, 0, sizeof(*r));
    r->kind = JOB_KIND_COMPLETION;
    r->max_tokens = 16;
    r->top_p = 1;
    r->repetition_penalty = 1;
}

void job_request_deinit(struct job_request *r)
{
    if (!r) return;
    free(r->prompt);
    for (int i = 0; i < r->n_messages; i++) {
        free(r->messages[i].role);
        free(r->messages[i].content);
    }
    free(r->messages);
    for (int i = 0; i < r->n_stop; i++)
        free(r->stop[i]);
    free(r->model);
    job_request_init(r);
}

/* ---------------------------------------------------------------- validation */

/* One table of ranges used by both directions, so encode never writes what decode rejects. */
static int check(const struct job_request *r, struct err *e)
{
#define RANGE(f, lo, hi)                                                                           \
    if (!(r->f >= (lo) && r->f <= (hi)))                                                           \
    return err_set(e, -EINVAL, "req." #f ": must be a number in " #lo ".." #hi)
    if (r->kind != JOB_KIND_COMPLETION && r->kind != JOB_KIND_CHAT)
        return err_set(e, -EINVAL, "req.kind: must be \"completion\" or \"chat\"");
    if (r->kind == JOB_KIND_COMPLETION && !r->prompt)
        return err_set(e, -EINVAL, "req.prompt: required for kind \"completion\"");
    if (r->kind == JOB_KIND_CHAT &&
        (r->n_messages < 1 || r->n_messages > JOB_MESSAGES_MAX || !r->messages))
        return err_set(e, -EINVAL, "req.messages: must be a list of 1..%d messages",
                       JOB_MESSAGES_MAX);
    if (r->kind == JOB_KIND_CHAT)
        for (int i = 0; i < r->n_messages; i++) {
            const char *role = r->messages[i].role;
            if (!role || !*role || strlen(role) > 32)
                return err_set(e, -EINVAL, "req.messages[%d].role: must be a string of 1..32 bytes",
                               i);
            if (!r->messages[i].content)
                return err_set(e, -EINVAL, "req.messages[%d].content: must be a string", i);
        }
    if (r->max_tokens < 1 || r->max_tokens > JOB_MAX_TOKENS_MAX)
        return err_set(e, -EINVAL, "req.max_tokens: must be an integer in 1..%d",
                       JOB_MAX_TOKENS_MAX);
    RANGE(temperature, 0, 2);
    RANGE(top_p, 0, 1);
    RANGE(min_p, 0, 1);
    RANGE(presence_penalty, -2, 2);
    RANGE(frequency_penalty, -2, 2);
    if (!(r->repetition_penalty > 0 && r->repetition_penalty <= 10))
        return err_set(e, -EINVAL, "req.repetition_penalty: must be a number in (0, 10]");
    if (r->top_k < 0) return err_set(e, -EINVAL, "req.top_k: must be an integer >= 0");
    if (r->seed > (uint64_t)INT64_MAX) return err_set(e, -EINVAL, "req.seed: must be in 0..2^63-1");
    if (r->deadline_us > (uint64_t)INT64_MAX)
        return err_set(e, -EINVAL, "req.deadline_us: must be in 0..2^63-1");
    if (r->n_stop < 0 || r->n_stop > JOB_STOP_MAX)
        return err_set(e, -EINVAL, "req.stop: at most %d strings", JOB_STOP_MAX);
    for (int i = 0; i < r->n_stop; i++)
        if (!r->stop[i] || !*r->stop[i] || strlen(r->stop[i]) > JOB_STOP_LEN_MAX)
            return err_set(e, -EINVAL, "req.stop[%d]: must be a string of 1..%d bytes", i,
                           JOB_STOP_LEN_MAX);
    return 0;
#undef RANGE
}

/* ---------------------------------------------------------------- encode */

static int dump_cb(const char *p, size_t n, void *ud)
{
    buf_append((struct buf *)ud, p, n);
    return 0;
}

int job_encode(const struct job_request *r, struct buf *out, struct err *e)
{
    int rc = check(r, e);
    if (rc < 0) return rc;
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(r->kind == JOB_KIND_CHAT ? "chat" : "completion"));
    if (r->kind == JOB_KIND_CHAT) {
        json_t *a = json_array();
        for (int i = 0; i < r->n_messages; i++)
            json_array_append_new(a, json_pack("{s:s,s:s}", "role", r->messages[i].role, "content",
                                               r->messages[i].content));
        json_object_set_new(o, "messages", a);
    } else {
        json_object_set_new(o, "prompt", json_string(r->prompt));
    }
    json_object_set_new(o, "max_tokens", json_integer(r->max_tokens));
    json_object_set_new(o, "temperature", json_real(r->temperature));
    json_object_set_new(o, "top_p", json_real(r->top_p));
    json_object_set_new(o, "top_k", json_integer(r->top_k));
    json_object_set_new(o, "min_p", json_real(r->min_p));
    json_object_set_new(o, "seed", json_integer((json_int_t)r->seed));
    json_t *stop = json_array();
    for (int i = 0; i < r->n_stop; i++)
        json_array_append_new(stop, json_string(r->stop[i]));
    json_object_set_new(o, "stop", stop);
    json_object_set_new(o, "presence_penalty", json_real(r->presence_penalty));
    json_object_set_new(o, "frequency_penalty", json_real(r->frequency_penalty));
    json_object_set_new(o, "repetition_penalty", json_real(r->repetition_penalty));
    json_object_set_new(o, "priority", json_integer(r->priority));
    json_object_set_new(o, "deadline_us", json_integer((json_int_t)r->deadline_us));
    json_object_set_new(o, "model", json_string(r->model ? r->model : ""));
    /* json_string returns NULL for invalid UTF-8; setting NULL fails, so detect it here. */
    int bad = 0;
    if (r->kind == JOB_KIND_COMPLETION && !json_object_get(o, "prompt")) bad = 1;
    if (!json_object_get(o, "model")) bad = 1;
    if (r->kind == JOB_KIND_CHAT &&
        json_array_size(json_object_get(o, "messages")) != (size_t)r->n_messages)
        bad = 1;
    if (json_array_size(stop) != (size_t)r->n_stop) bad = 1;
    if (bad) {
        json_decref(o);
        return err_set(e, -EINVAL, "req: a string field is not valid UTF-8");
    }
    json_dump_callback(o, dump_cb, out, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    return 0;
}

/* ---------------------------------------------------------------- decode */

static int get_number(json_t *o, const char *name, double *dst, struct err *e)
{
    json_t *v = json_object_get(o, name);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return err_set(e, LLMQ_EFORMAT, "req.%s: must be a number", name);
    double d = json_number_value(v);
    if (!isfinite(d)) return err_set(e, LLMQ_EFORMAT, "req.%s: must be finite", name);
    *dst = d;
    return 0;
}

static int get_int(json_t *o, const char *name, long long lo, long long hi, long long *dst,
                   struct err *e)
{
    json_t *v = json_object_get(o, name);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return err_set(e, LLMQ_EFORMAT, "req.%s: must be an integer in %lld..%lld", name, lo, hi);
    *dst = json_integer_value(v);
    return 0;
}

static int decode(struct job_request *r, json_t *o, struct err *e)
{
    int rc;
    if (!json_is_object(o)) return err_set(e, LLMQ_EFORMAT, "req: must be a JSON object");
    json_t *v = json_object_get(o, "kind");
    if (v && !json_is_null(v)) {
        const char *k = json_string_value(v);
        if (k && !strcmp(k, "completion"))
            r->kind = JOB_KIND_COMPLETION;
        else if (k && !strcmp(k, "chat"))
            r->kind = JOB_KIND_CHAT;
        else
            return err_set(e, LLMQ_EFORMAT, "req.kind: must be \"completion\" or \"chat\"");
    }
    if (r->kind == JOB_KIND_COMPLETION) {
        v = json_object_get(o, "prompt");
        if (!json_is_string(v)) return err_set(e, LLMQ_EFORMAT, "req.prompt: must be a string");
        r->prompt = xstrndup(json_string_value(v), json_string_length(v));
    } else {
        v = json_object_get(o, "messages");
        if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > JOB_MESSAGES_MAX)
            return err_set(e, LLMQ_EFORMAT, "req.messages: must be a list of 1..%d messages",
                           JOB_MESSAGES_MAX);
        r->messages = xcalloc(json_array_size(v), sizeof(*r->messages));
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m)
        {
            json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
            if (!json_is_string(role) || json_string_length(role) < 1 ||
                json_string_length(role) > 32)
                return err_set(e, LLMQ_EFORMAT,
                               "req.messages[%zu].role: must be a string of 1..32 bytes", i);
            if (!json_is_string(content))
                return err_set(e, LLMQ_EFORMAT, "req.messages[%zu].content: must be a string", i);
            r->messages[i].role = xstrndup(json_string_value(role), json_string_length(role));
            r->messages[i].content =
                xstrndup(json_string_value(content), json_string_length(content));
            r->n_messages = (int)i + 1;
        }
    }
    long long x;
    x = r->max_tokens;
    if ((rc = get_int(o, "max_tokens", 1, JOB_MAX_TOKENS_MAX, &x, e)) < 0) return rc;
    r->max_tokens = (int)x;
    x = 0;
    if ((rc = get_int(o, "top_k", 0, INT32_MAX, &x, e)) < 0) return rc;
    r->top_k = (int)x;
    x = 0;
    if ((rc = get_int(o, "seed", 0, INT64_MAX, &x, e)) < 0) return rc;
    r->seed = (uint64_t)x;
    x = 0;
    if ((rc = get_int(o, "priority", INT32_MIN, INT32_MAX, &x, e)) < 0) return rc;
    r->priority = (int)x;
    x = 0;
    if ((rc = get_int(o, "deadline_us", 0, INT64_MAX, &x, e)) < 0) return rc;
    r->deadline_us = (uint64_t)x;
    if ((rc = get_number(o, "temperature", &r->temperature, e)) < 0) return rc;
    if ((rc = get_number(o, "top_p", &r->top_p, e)) < 0) return rc;
    if ((rc = get_number(o, "min_p", &r->min_p, e)) < 0) return rc;
    if ((rc = get_number(o, "presence_penalty", &r->presence_penalty, e)) < 0) return rc;
    if ((rc = get_number(o, "frequency_penalty", &r->frequency_penalty, e)) < 0) return rc;
    if ((rc = get_number(o, "repetition_penalty", &r->repetition_penalty, e)) < 0) return rc;
    v = json_object_get(o, "stop");
    if (json_is_string(v)) {
        if (json_string_length(v) > 0)
            r->stop[r->n_stop++] = xstrndup(json_string_value(v), json_string_length(v));
    } else if (json_is_array(v)) {
        if (json_array_size(v) > JOB_STOP_MAX)
            return err_set(e, LLMQ_EFORMAT, "req.stop: at most %d strings", JOB_STOP_MAX);
        size_t i;
        json_t *s;
        json_array_foreach(v, i, s)
        {
            if (!json_is_string(s) || json_string_length(s) < 1 ||
                json_string_length(s) > JOB_STOP_LEN_MAX)
                return err_set(e, LLMQ_EFORMAT, "req.stop[%zu]: must be a string of 1..%d bytes", i,
                               JOB_STOP_LEN_MAX);
            r->stop[r->n_stop++] = xstrndup(json_string_value(s), json_string_length(s));
        }
    } else if (v && !json_is_null(v)) {
        return err_set(e, LLMQ_EFORMAT, "req.stop: must be a string or a list of strings");
    }
    v = json_object_get(o, "model");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v)) return err_set(e, LLMQ_EFORMAT, "req.model: must be a string");
        r->model = xstrndup(json_string_value(v), json_string_length(v));
    }
    /* The remaining range checks are shared with the encoder. */
    struct err why;
    if (check(r, &why) < 0) return err_set(e, LLMQ_EFORMAT, "%s", why.msg);
    return 0;
}

int job_decode(struct job_request *r, const char *json, size_t len, struct err *e)
{
    job_request_init(r);
    json_error_t je;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!o)
        return err_set(e, LLMQ_EFORMAT, "req: invalid JSON at byte %d: %s", je.position, je.text);
    int rc = decode(r, o, e);
    json_decref(o);
    if (rc < 0) job_request_deinit(r);
    return rc;
}
