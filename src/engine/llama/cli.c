/* cli.c -- `llmq generate` and `llmq perplexity`: the native engine from the command line,
 * for checking a model by eye, measuring speed, and comparing with llama.cpp.
 * generate prints the continuation and a timing line; --json prints one object per prompt
 * token and per generated token (with the 10 highest raw logits) and a summary.
 * perplexity scores a text file in chunks of --ctx tokens the way llama.cpp's perplexity
 * tool does (each chunk starts with BOS; the second half of each chunk is scored).
 * (mkmodel lives in mkmodel.c.) */
#include "engine/llama/cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "engine/llama/llama.h"
#include "engine/llama/tokenizer.h"

struct cli_opts {
    const char *model, *prompt, *file;
    int n_predict, threads, ctx, json, ignore_eos, top_k, batch;
    double temp, top_p, min_p, repeat_penalty;
    unsigned long long seed;
};

static const char generate_usage[] =
    "usage: llmq generate --model M.gguf -p TEXT [-n 64] [--temp 0] [--seed 1] [--threads N]\n"
    "                     [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R] [--ctx N]\n"
    "                     [--ignore-eos] [--json]\n"
    "Environment: LLMQ_DEVICE=cpu|cuda, LLMQ_WEIGHTS=auto|copy|mmap (weights copied into huge\n"
    "pages for the CPU, or read through the file mapping; docs/ENGINE.md).\n";
static const char perplexity_usage[] =
    "usage: llmq perplexity --model M.gguf -f text.txt [--ctx 512] [--threads N] [--batch 256]\n"
    "Environment: LLMQ_DEVICE=cpu|cuda, LLMQ_WEIGHTS=auto|copy|mmap (docs/ENGINE.md).\n";

static int flag_is(const char *a, const char *s1, const char *s2)
{
    return !strcmp(a, s1) || (s2 && !strcmp(a, s2));
}

/* Parses the shared flags; returns 0, 1 for --help, -EINVAL with a message printed. */
static int parse(int argc, char **argv, struct cli_opts *o, const char *usage)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        char name[64];
        const char *eq = strchr(a, '=');
        if (!strncmp(a, "--", 2) && eq && (size_t)(eq - a) < sizeof(name)) {
            snprintf(name, sizeof(name), "%.*s", (int)(eq - a), a);
            a = name;
            v = eq + 1;
        }
#define FLAG(s1, s2) flag_is(a, s1, s2)
#define VALUE() (v ? v : (i + 1 < argc ? argv[++i] : NULL))
        if (FLAG("--help", "-h")) { fputs(usage, stdout); return 1; }
        else if (FLAG("--json", NULL)) o->json = 1;
        else if (FLAG("--ignore-eos", NULL)) o->ignore_eos = 1;
        else {
            const char *val = VALUE();
            if (!val) { fprintf(stderr, "llmq: %s needs a value\n%s", a, usage); return -EINVAL; }
            char *end = NULL;
            if (FLAG("--model", "-m")) o->model = val;
            else if (FLAG("--prompt", "-p")) o->prompt = val;
            else if (FLAG("--file", "-f")) o->file = val;
            else if (FLAG("-n", "--n-predict") || FLAG("--max-tokens", NULL)) o->n_predict = (int)strtol(val, &end, 10);
            else if (FLAG("--threads", "-t")) o->threads = (int)strtol(val, &end, 10);
            else if (FLAG("--ctx", "-c")) o->ctx = (int)strtol(val, &end, 10);
            else if (FLAG("--batch", "-b")) o->batch = (int)strtol(val, &end, 10);
            else if (FLAG("--top-k", NULL)) o->top_k = (int)strtol(val, &end, 10);
            else if (FLAG("--temp", "--temperature")) o->temp = strtod(val, &end);
            else if (FLAG("--top-p", NULL)) o->top_p = strtod(val, &end);
            else if (FLAG("--min-p", NULL)) o->min_p = strtod(val, &end);
            else if (FLAG("--repeat-penalty", NULL)) o->repeat_penalty = strtod(val, &end);
            else if (FLAG("--seed", "-s")) o->seed = strtoull(val, &end, 10);
            else { fprintf(stderr, "llmq: unknown option %s\n%s", a, usage); return -EINVAL; }
            if (end && (*end || end == val)) {
                fprintf(stderr, "llmq: %s: '%s' is not a number\n", a, val);
                return -EINVAL;
            }
        }
#undef FLAG
#undef VALUE
    }
    if (!o->model) { fprintf(stderr, "llmq: --model is required\n%s", usage); return -EINVAL; }
    if (o->threads < 0 || o->ctx < 0 || o->n_predict < 0) {
        fprintf(stderr, "llmq: negative --threads/--ctx/-n\n");
        return -EINVAL;
    }
    return 0;
}

struct session {
    struct llama_model *m;
    struct tokenizer *t;
    struct llama_ctx *c;
    struct llama_seq *s;
};

static void session_close(struct session *ss)
{
    llama_seq_free(ss->c, ss->s);
    llama_ctx_free(ss->c);
    tokenizer_free(ss->t);
    llama_model_free(ss->m);
}

static int session_open(struct session *ss, const struct cli_opts *o, int ctx_len, int batch)
{
    struct err e = { 0 };
    memset(ss, 0, sizeof(*ss));
    if (llama_model_load(&ss->m, o->model, &e) < 0 || tokenizer_new(&ss->t, llama_model_gguf(ss->m), &e) < 0) {
        fprintf(stderr, "llmq: %s: %s\n", o->model, e.msg);
        session_close(ss);
        return -1;
    }
    const struct llama_hparams *hp = llama_model_hparams(ss->m);
    struct llama_ctx_params cp = { .max_batch = 1, .ctx_len = ctx_len ? ctx_len : hp->n_ctx_train,
                                   .threads = o->threads, .batch_tokens = batch };
    if (llama_ctx_new(&ss->c, ss->m, &cp, &e) < 0 || llama_seq_new(ss->c, &ss->s) < 0) {
        fprintf(stderr, "llmq: %s\n", e.msg[0] ? e.msg : "cannot create a context");
        session_close(ss);
        return -1;
    }
    return 0;
}

static int32_t *encode(struct tokenizer *t, const char *text, size_t len, int *n)
{
    *n = tokenizer_encode(t, text, len, tokenizer_add_bos(t), 0, NULL, 0);
    if (*n < 0) return NULL;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(*n > 0 ? *n : 1));
    if (ids) tokenizer_encode(t, text, len, tokenizer_add_bos(t), 0, ids, *n);
    return ids;
}

static void json_piece(struct buf *b, const struct tokenizer *t, int32_t id)
{
    size_t len;
    const char *p = tokenizer_piece(t, id, &len);
    buf_append_json_str(b, p, len);
}

int llama_cli_generate(int argc, char **argv)
{
    struct cli_opts o = { .n_predict = 64, .top_p = 1.0, .repeat_penalty = 1.0, .seed = 1 };
    int rc = parse(argc, argv, &o, generate_usage);
    if (rc) return rc > 0 ? 0 : 2;
    if (!o.prompt) o.prompt = "";
    struct session ss;
    /* Context: what the prompt and output need, within the model's. */
    struct llama_model *probe = NULL;
    struct err e = { 0 };
    if (llama_model_load(&probe, o.model, &e) < 0) {
        fprintf(stderr, "llmq: %s: %s\n", o.model, e.msg);
        return 1;
    }
    int n_train = llama_model_hparams(probe)->n_ctx_train;
    llama_model_free(probe);
    /* Default context: the model's, capped (KV and scratch are sized for it). */
    if (session_open(&ss, &o, o.ctx ? o.ctx : (n_train < 4096 ? n_train : 4096), o.batch) < 0) return 1;
    int ctx_len = llama_ctx_len(ss.c), V = llama_model_hparams(ss.m)->n_vocab;
    int n_prompt;
    int32_t *ids = encode(ss.t, o.prompt, strlen(o.prompt), &n_prompt);
    if (!ids || n_prompt == 0) {
        fprintf(stderr, "llmq: the prompt gives no tokens (this model adds no BOS): give -p TEXT\n");
        free(ids);
        session_close(&ss);
        return 1;
    }
    if (n_prompt >= ctx_len) {
        fprintf(stderr, "llmq: prompt of %d tokens does not fit the context of %d\n", n_prompt, ctx_len);
        free(ids);
        session_close(&ss);
        return 1;
    }
    struct llama_sampler_params sp;
    llama_sampler_params_default(&sp);
    sp.temperature = (float)o.temp;
    sp.top_k = o.top_k;
    sp.top_p = (float)o.top_p;
    sp.min_p = (float)o.min_p;
    sp.repetition_penalty = (float)o.repeat_penalty;
    sp.seed = o.seed;
    struct llama_sampler *smp = NULL;
    float *logits = malloc(sizeof(float) * (size_t)V);
    struct buf b;
    buf_init(&b);
    if (!logits || llama_sampler_new(&smp, &sp, V) < 0) {
        fprintf(stderr, "llmq: out of memory\n");
        free(ids);
        free(logits);
        session_close(&ss);
        return 1;
    }
    if (o.json) {
        for (int i = 0; i < n_prompt; i++) {
            buf_reset(&b);
            buf_printf(&b, "{\"pos\":%d,\"id\":%d,\"piece\":\"", i, ids[i]);
            json_piece(&b, ss.t, ids[i]);
            buf_append_str(&b, "\"}\n");
            fwrite(b.data, 1, b.len, stdout);
        }
    }
    uint64_t t0 = clock_mono_us();
    rc = llama_prefill(ss.c, ss.s, ids, n_prompt, logits);
    uint64_t t1 = clock_mono_us(), t_dec = 0;
    int n_gen = 0, status = 0;
    const char *finish = "length";
    struct detok dt;
    detok_init(&dt, ss.t);
    if (rc < 0) {
        fprintf(stderr, "llmq: prompt failed: %s\n", err_str(rc));
        status = 1;
    }
    while (!status && n_gen < o.n_predict) {
        int32_t id = llama_sampler_sample(smp, logits);
        n_gen++;
        if (o.json) {
            int top[10], k = 0;
            for (int j = 0; j < V; j++) {        /* insertion into the 10 best, ties: lower id */
                int p = k < 10 ? k++ : 10;
                if (p == 10 && logits[j] <= logits[top[9]]) continue;
                if (p == 10) p = 9;
                while (p > 0 && logits[top[p - 1]] < logits[j]) { top[p] = top[p - 1]; p--; }
                top[p] = j;
            }
            buf_reset(&b);
            buf_printf(&b, "{\"pos\":%d,\"id\":%d,\"piece\":\"", n_prompt + n_gen - 1, id);
            json_piece(&b, ss.t, id);
            buf_append_str(&b, "\",\"top\":[");
            for (int j = 0; j < k; j++) buf_printf(&b, "%s[%d,%.6g]", j ? "," : "", top[j], logits[top[j]]);
            buf_append_str(&b, "]}\n");
            fwrite(b.data, 1, b.len, stdout);
        } else {
            size_t len;
            const char *txt = detok_push(&dt, id, &len);
            fwrite(txt, 1, len, stdout);
            fflush(stdout);
        }
        if (!o.ignore_eos && tokenizer_is_eog(ss.t, id)) { finish = "stop"; break; }
        if (n_gen >= o.n_predict || llama_seq_pos(ss.s) + 1 >= ctx_len) break;
        uint64_t ta = clock_mono_us();
        rc = llama_prefill(ss.c, ss.s, &id, 1, logits);
        t_dec += clock_mono_us() - ta;
        if (rc < 0) {
            fprintf(stderr, "llmq: decode failed: %s\n", err_str(rc));
            status = 1;
        }
    }
    double pp_s = (t1 - t0) / 1e6, dec_s = t_dec / 1e6;
    int n_dec = n_gen > 0 ? n_gen - 1 : 0;        /* decode passes run */
    double pp_tps = pp_s > 0 ? n_prompt / pp_s : 0, dec_tps = dec_s > 0 ? n_dec / dec_s : 0;
    if (o.json) {
        printf("{\"summary\":true,\"model\":\"%s\",\"type\":\"%s\",\"threads\":%d,\"prompt_tokens\":%d,"
               "\"generated_tokens\":%d,\"finish\":\"%s\",\"prompt_s\":%.6f,\"prompt_tok_s\":%.2f,"
               "\"decode_s\":%.6f,\"decode_tok_s\":%.2f}\n", o.model, llama_model_type_name(ss.m),
               llama_ctx_threads(ss.c), n_prompt, n_gen, finish, pp_s, pp_tps, dec_s, dec_tps);
    } else {
        size_t len;
        const char *txt = detok_flush(&dt, &len);
        fwrite(txt, 1, len, stdout);
        printf("\n");
        fprintf(stderr, "prompt: %d tokens in %.1f ms (%.1f tok/s); decode: %d tokens in %.1f ms "
                "(%.1f tok/s); %d threads; finish: %s\n", n_prompt, pp_s * 1e3, pp_tps, n_dec,
                dec_s * 1e3, dec_tps, llama_ctx_threads(ss.c), finish);
    }
    buf_deinit(&b);
    llama_sampler_free(smp);
    free(logits);
    free(ids);
    session_close(&ss);
    return status;
}

int llama_cli_perplexity(int argc, char **argv)
{
    struct cli_opts o = { .ctx = 512 };
    int rc = parse(argc, argv, &o, perplexity_usage);
    if (rc) return rc > 0 ? 0 : 2;
    if (!o.file) { fprintf(stderr, "llmq: -f FILE is required\n%s", perplexity_usage); return 2; }
    FILE *f = fopen(o.file, "rb");
    if (!f) { fprintf(stderr, "llmq: %s: %s\n", o.file, strerror(errno)); return 1; }
    struct buf text;
    buf_init(&text);
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) buf_append(&text, chunk, got);
    fclose(f);
    struct session ss;
    if (session_open(&ss, &o, o.ctx < 2 ? 2 : o.ctx, o.batch) < 0) { buf_deinit(&text); return 1; }
    int n_tok;
    int32_t *ids = encode(ss.t, text.data ? text.data : "", text.len, &n_tok);
    buf_deinit(&text);
    int V = llama_model_hparams(ss.m)->n_vocab, n_ctx = llama_ctx_len(ss.c);
    if (!ids || n_tok < 2) {
        fprintf(stderr, "llmq: the text has fewer than 2 tokens\n");
        free(ids);
        session_close(&ss);
        return 1;
    }
    if (n_tok < n_ctx) n_ctx = n_tok;
    int n_chunks = n_tok / n_ctx, bos = tokenizer_bos(ss.t), add_bos = tokenizer_add_bos(ss.t) && bos >= 0;
    float *logits = malloc(sizeof(float) * (size_t)V * (size_t)n_ctx);
    int32_t *toks = malloc(sizeof(int32_t) * (size_t)n_ctx);
    if (!logits || !toks) {
        fprintf(stderr, "llmq: out of memory for %d x %d logits\n", n_ctx, V);
        free(ids); free(logits); free(toks);
        session_close(&ss);
        return 1;
    }
    fprintf(stderr, "perplexity: %d tokens, %d chunks of %d, scoring the second half of each\n",
            n_tok, n_chunks, n_ctx);
    double nll = 0;
    long scored = 0;
    uint64_t t0 = clock_mono_us();
    int first = n_ctx / 2;
    for (int c = 0; c < n_chunks; c++) {
        memcpy(toks, ids + (size_t)c * n_ctx, sizeof(int32_t) * (size_t)n_ctx);
        if (add_bos) toks[0] = bos;
        llama_seq_truncate(ss.c, ss.s, 0);
        struct llama_batch_item it = { ss.s, toks, n_ctx, logits, 1 };
        if ((rc = llama_eval(ss.c, &it, 1)) < 0) {
            fprintf(stderr, "llmq: chunk %d failed: %s\n", c, err_str(rc));
            break;
        }
        for (int j = first; j < n_ctx - 1; j++) {
            const float *lg = logits + (size_t)j * V;
            float mx = lg[llama_argmax(lg, V)];
            double sum = 0;
            for (int k = 0; k < V; k++) sum += exp((double)lg[k] - mx);
            nll += (mx + log(sum)) - lg[ids[(size_t)c * n_ctx + j + 1]];
            scored++;
        }
        fprintf(stderr, "[%d] %.4f\n", c + 1, exp(nll / scored));
    }
    double secs = (clock_mono_us() - t0) / 1e6;
    if (scored) {
        printf("perplexity: %.4f over %ld tokens (%d chunks of %d; %.1f tok/s)\n", exp(nll / scored),
               scored, n_chunks, n_ctx, secs > 0 ? (double)n_chunks * n_ctx / secs : 0);
    }
    free(logits);
    free(toks);
    free(ids);
    session_close(&ss);
    return scored && rc >= 0 ? 0 : 1;
}
