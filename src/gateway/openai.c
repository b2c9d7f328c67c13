/* openai.c -- request validation (jansson) and the normalised job JSON (written by hand with
 * buf, which is several times faster than building a json_t tree and dumping it).
 * Every error names the field so a client can fix its request from the message alone. */
#include "gateway/openai.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

static int bad(struct err *e, const char *field, const char *what)
{
    return err_set(e, LLMQ_EFORMAT, "%s: %s", field, what);
}

/* Absent and null both mean "use the default". */
static json_t *field(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return (v && !json_is_null(v)) ? v : NULL;
}

static int get_number(json_t *obj, const char *name, double lo, double hi, double *out,
                      struct err *e)
{
    json_t *v = field(obj, name);
    if (!v) return 0;
    if (!json_is_number(v)) return bad(e, name, "must be a number");
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi))
        return err_set(e, LLMQ_EFORMAT, "%s: must be between %g and %g", name, lo, hi);
    *out = x;
    return 0;
}

static int get_int(json_t *obj, const char *name, long long lo, long long hi, long long *out,
                   int *present, struct err *e)
{
    json_t *v = field(obj, name);
    if (present) *present = v != NULL;
    if (!v) return 0;
    long long x;
    if (json_is_integer(v)) {
        x = (long long)json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
               fabs(json_real_value(v)) < 9.0e15) {
        x = (long long)json_real_value(v);
    } else {
        return bad(e, name, "must be an integer");
    }
    if (x < lo || x > hi)
        return err_set(e, LLMQ_EFORMAT, "%s: must be an integer between %lld and %lld", name, lo,
                       hi);
    *out = x;
    return 0;
}

static int get_bool(json_t *obj, const char *name, int *out, struct err *e)
{
    json_t *v = field(obj, name);
    if (!v) return 0;
    if (!json_is_boolean(v)) return bad(e, name, "must be a boolean");
    *out = json_is_true(v);
    return 0;
}

static int get_string(json_t *obj, const char *name, const char **out, size_t *len, struct err *e)
{
    json_t *v = field(obj, name);
    if (!v) return 0;
    if (!json_is_string(v)) return bad(e, name, "must be a string");
    *out = json_string_value(v);
    if (len) *len = json_string_length(v);
    return 0;
}

/* One stop sequence (r->stop has room: the caller checked the count). */
static int add_stop(struct openai_request *r, json_t *s, struct err *e)
{
    if (!json_is_string(s)) return bad(e, "stop", "must be a string or an array of strings");
    size_t n = json_string_length(s);
    if (n == 0 || n > 256) return bad(e, "stop", "each stop sequence must be 1..256 bytes");
    r->stop[r->n_stop] = json_string_value(s);
    r->stop_len[r->n_stop++] = n;
    return 0;
}

/* Content of one chat message: a string, or an array of {"type":"text","text":..} parts. */
static int check_content(json_t *c, size_t *chars, struct err *e)
{
    if (!c || json_is_null(c)) return 0;
    if (json_is_string(c)) {
        *chars += json_string_length(c);
        return 0;
    }
    if (!json_is_array(c))
        return bad(e, "messages[].content", "must be a string or an array of text parts");
    size_t i;
    json_t *part;
    json_array_foreach(c, i, part)
    {
        json_t *t = json_is_object(part) ? json_object_get(part, "type") : NULL;
        json_t *x = json_is_object(part) ? json_object_get(part, "text") : NULL;
        if (!t || !json_is_string(t) || strcmp(json_string_value(t), "text") || !x ||
            !json_is_string(x))
            return bad(e, "messages[].content",
                       "only text parts ({\"type\":\"text\",\"text\":...}) are supported");
        *chars += json_string_length(x);
    }
    return 0;
}

static int check_messages(json_t *msgs, size_t *chars, struct err *e)
{
    if (!json_is_array(msgs)) return bad(e, "messages", "must be an array");
    if (json_array_size(msgs) == 0) return bad(e, "messages", "must not be empty");
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        if (!json_is_object(m)) return bad(e, "messages[]", "must be an object");
        json_t *role = json_object_get(m, "role");
        if (!role || !json_is_string(role)) return bad(e, "messages[].role", "must be a string");
        const char *r = json_string_value(role);
        if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant") &&
            strcmp(r, "developer") && strcmp(r, "tool"))
            return bad(e, "messages[].role",
                       "must be one of system, developer, user, assistant, tool");
        int rc = check_content(json_object_get(m, "content"), chars, e);
        if (rc < 0) return rc;
    }
    return 0;
}

int openai_parse_json(struct openai_request *r, json_t *obj, int kind,
                      const struct openai_limits *lim, struct err *e)
{
    int rc;
    memset(r, 0, sizeof(*r));
    if (!json_is_object(obj)) return err_set(e, LLMQ_EFORMAT, "body: must be a JSON object");
    r->root = json_incref(obj);
    r->model = lim->model_default ? lim->model_default : "";
    r->max_tokens = lim->max_tokens_default;
    r->temperature = 1.0;
    r->top_p = 1.0;
    r->repetition_penalty = 1.0;

    json_t *msgs = field(obj, "messages");
    if (kind < 0) kind = msgs ? OPENAI_KIND_CHAT : OPENAI_KIND_COMPLETION;
    r->kind = (enum openai_kind)kind;

    if ((rc = get_string(obj, "model", &r->model, NULL, e)) < 0) goto fail;
    if (r->kind == OPENAI_KIND_CHAT) {
        if (!msgs) {
            rc = bad(e, "messages", "is required");
            goto fail;
        }
        if ((rc = check_messages(msgs, &r->prompt_chars, e)) < 0) goto fail;
        r->messages = msgs;
    } else {
        json_t *p = field(obj, "prompt");
        if (!p) {
            rc = bad(e, "prompt", "is required");
            goto fail;
        }
        if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0)))
            p = json_array_get(p, 0);
        if (!json_is_string(p)) {
            rc = bad(e, "prompt", "must be a string (or an array of one string)");
            goto fail;
        }
        r->prompt = json_string_value(p);
        r->prompt_len = json_string_length(p);
        r->prompt_chars = r->prompt_len;
    }

    int has_max = 0;
    if ((rc = get_int(obj, "max_tokens", 1, lim->max_tokens_limit, &r->max_tokens, &has_max, e)) <
        0)
        goto fail;
    if (!has_max && (rc = get_int(obj, "max_completion_tokens", 1, lim->max_tokens_limit,
                                  &r->max_tokens, NULL, e)) < 0)
        goto fail;
    if ((rc = get_number(obj, "temperature", 0, 2, &r->temperature, e)) < 0) goto fail;
    if ((rc = get_number(obj, "top_p", 0, 1, &r->top_p, e)) < 0) goto fail;
    if ((rc = get_int(obj, "top_k", 0, 1000000, &r->top_k, NULL, e)) < 0) goto fail;
    if ((rc = get_number(obj, "min_p", 0, 1, &r->min_p, e)) < 0) goto fail;
    if ((rc = get_number(obj, "presence_penalty", -2, 2, &r->presence_penalty, e)) < 0) goto fail;
    if ((rc = get_number(obj, "frequency_penalty", -2, 2, &r->frequency_penalty, e)) < 0) goto fail;
    if ((rc = get_number(obj, "repetition_penalty", 0.01, 10, &r->repetition_penalty, e)) < 0)
        goto fail;

    long long seed = 0;
    if ((rc = get_int(obj, "seed", INT64_MIN, INT64_MAX, &seed, &r->has_seed, e)) < 0) goto fail;
    r->seed = (uint64_t)seed & (uint64_t)INT64_MAX; /* jobs carry 63-bit seeds */

    long long n = 1;
    if ((rc = get_int(obj, "n", 1, 1, &n, NULL, e)) < 0) {
        rc = bad(e, "n", "only n=1 is supported");
        goto fail;
    }

    json_t *stop = field(obj, "stop");
    if (stop && json_is_array(stop)) {
        if (json_array_size(stop) > OPENAI_MAX_STOP) {
            rc = bad(e, "stop", "at most 4 sequences");
            goto fail;
        }
        size_t i;
        json_t *s;
        json_array_foreach(stop, i, s)
        {
            if ((rc = add_stop(r, s, e)) < 0) goto fail;
        }
    } else if (stop && (rc = add_stop(r, stop, e)) < 0) {
        goto fail;
    }

    if ((rc = get_bool(obj, "stream", &r->stream, e)) < 0) goto fail;
    json_t *so = field(obj, "stream_options");
    if (so) {
        if (!json_is_object(so)) {
            rc = bad(e, "stream_options", "must be an object");
            goto fail;
        }
        json_t *iu = field(so, "include_usage");
        if (iu && !json_is_boolean(iu)) {
            rc = bad(e, "stream_options.include_usage", "must be a boolean");
            goto fail;
        }
        r->include_usage = iu && json_is_true(iu);
    }
    if ((rc = get_string(obj, "user", &r->user, NULL, e)) < 0) goto fail;
    if ((rc = get_int(obj, "priority", -1000000, 1000000, &r->priority, NULL, e)) < 0) goto fail;
    if ((rc = get_int(obj, "timeout_ms", 0, 86400000LL * 7, &r->timeout_ms, NULL, e)) < 0)
        goto fail;
    if (lim->max_timeout_ms > 0 && (r->timeout_ms == 0 || r->timeout_ms > lim->max_timeout_ms))
        r->timeout_ms = lim->max_timeout_ms;
    return 0;
fail:
    openai_request_deinit(r);
    return rc;
}

int openai_parse(struct openai_request *r, const char *body, size_t len, int kind,
                 const struct openai_limits *lim, struct err *e)
{
    memset(r, 0, sizeof(*r));
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        err_set(e, LLMQ_EFORMAT, "body: invalid JSON at line %d column %d: %s", je.line, je.column,
                je.text);
        return LLMQ_EFORMAT;
    }
    int rc = openai_parse_json(r, root, kind, lim, e);
    json_decref(root);
    return rc;
}

void openai_request_deinit(struct openai_request *r)
{
    if (r->root) json_decref(r->root);
    memset(r, 0, sizeof(*r));
}

static void put_num(struct buf *b, const char *key, double v)
{
    char tmp[48];
    int n = snprintf(tmp, sizeof(tmp), ",\"%s\":%.9g", key, v);
    buf_append(b, tmp, (size_t)n);
}

static void put_str(struct buf *b, const char *s, size_t n)
{
    buf_append_char(b, '"');
    buf_append_json_str(b, s, n);
    buf_append_char(b, '"');
}

static void put_content(struct buf *b, json_t *c)
{
    if (!c || json_is_null(c)) {
        buf_append(b, "\"\"", 2);
        return;
    }
    if (json_is_string(c)) {
        put_str(b, json_string_value(c), json_string_length(c));
        return;
    }
    buf_append_char(b, '"');
    size_t i;
    json_t *part;
    json_array_foreach(c, i, part)
    {
        json_t *x = json_object_get(part, "text");
        buf_append_json_str(b, json_string_value(x), json_string_length(x));
    }
    buf_append_char(b, '"');
}

void openai_job_json(const struct openai_request *r, uint64_t seed, uint64_t deadline_us,
                     struct buf *out)
{
    if (r->kind == OPENAI_KIND_CHAT) {
        buf_append_str(out, "{\"kind\":\"chat\",\"messages\":[");
        size_t i;
        json_t *m;
        json_array_foreach(r->messages, i, m)
        {
            if (i) buf_append_char(out, ',');
            json_t *role = json_object_get(m, "role");
            buf_append_str(out, "{\"role\":");
            put_str(out, json_string_value(role), json_string_length(role));
            buf_append_str(out, ",\"content\":");
            put_content(out, json_object_get(m, "content"));
            buf_append_char(out, '}');
        }
        buf_append_char(out, ']');
    } else {
        buf_append_str(out, "{\"kind\":\"completion\",\"prompt\":");
        put_str(out, r->prompt, r->prompt_len);
    }
    buf_printf(out, ",\"max_tokens\":%lld", r->max_tokens);
    put_num(out, "temperature", r->temperature);
    put_num(out, "top_p", r->top_p);
    buf_printf(out, ",\"top_k\":%lld", r->top_k);
    put_num(out, "min_p", r->min_p);
    buf_printf(out, ",\"seed\":%" PRIu64 ",\"stop\":[", r->has_seed ? r->seed : seed);
    for (int i = 0; i < r->n_stop; i++) {
        if (i) buf_append_char(out, ',');
        put_str(out, r->stop[i], r->stop_len[i]);
    }
    buf_append_char(out, ']');
    put_num(out, "presence_penalty", r->presence_penalty);
    put_num(out, "frequency_penalty", r->frequency_penalty);
    put_num(out, "repetition_penalty", r->repetition_penalty);
    buf_printf(out, ",\"priority\":%lld,\"deadline_us\":%" PRIu64 ",\"model\":", r->priority,
               deadline_us);
    put_str(out, r->model, strlen(r->model));
    buf_append_char(out, '}');
}

void openai_error_json(struct buf *out, const char *message, const char *type, const char *param,
                       const char *code)
{
    buf_append_str(out, "{\"error\":{\"message\":\"");
    buf_append_json_str(out, message, strlen(message));
    buf_append_str(out, "\",\"type\":\"");
    buf_append_str(out, type);
    buf_append_str(out, "\",\"param\":");
    if (param) {
        buf_append_char(out, '"');
        buf_append_json_str(out, param, strlen(param));
        buf_append_char(out, '"');
    } else {
        buf_append_str(out, "null");
    }
    buf_append_str(out, ",\"code\":\"");
    buf_append_str(out, code);
    buf_append_str(out, "\"}}");
}
