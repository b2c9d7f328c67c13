/* engine_bench.c -- llmq-engine-bench: how fast the native engine runs on this machine, next to
 * llama.cpp's figures for the same shapes and types (shared/testdata/llama-cpp-speeds.md) and the
 * memory-bandwidth bound (read bandwidth / weight bytes per token).
 * Measures, per model: prompt tokens/s (pp, llama-bench's pp128), single-sequence decode
 * tokens/s (tg, llama-bench's tg64) on 1 and 2 threads, and total decode tokens/s with B = 1, 4,
 * 16 sequences decoding together (llama-batched-bench's S_TG) on 2 threads. Prints markdown.
 * `llmq-engine-bench mkmodel ...` runs `llmq mkmodel` (scripts/bench-engine makes its models so).
 * Not a test: it asserts nothing and is never run by ctest. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/xalloc.h"
#include "engine/llama/cli.h"
#include "engine/llama/llama.h"
#include "membw.h"

/* ------------------------------------------------------------------ llama.cpp reference */

/* From shared/testdata/llama-cpp-speeds.md (llama.cpp c392e50, b4748, same 2-vCPU machine kind,
 * median of 3). 0 = not measured there. */
struct ref {
    const char *label;
    double pp[2], tg[2];       /* 1 and 2 threads */
    double bt[3];              /* batched decode, 2 threads, B = 1, 4, 16 */
};

static const struct ref refs[] = {
    { "110M F16", { 216, 439 }, { 33.7, 65.0 }, { 63.5, 174.6, 258.8 } },
    { "110M Q8_0", { 163, 262 }, { 52.0, 71.0 }, { 87.3, 170.3, 209.7 } },
    { "110M Q4_K_M", { 130, 277 }, { 63.0, 118.9 }, { 105.1, 146.4, 161.2 } },
    { "1B F16", { 34.6, 70.6 }, { 5.52, 9.58 }, { 10.5, 35.2, 49.6 } },
    { "1B Q8_0", { 24.9, 48.5 }, { 6.53, 12.57 }, { 12.2, 26.1, 37.3 } },
    { "1B Q4_K_M", { 19.8, 37.3 }, { 12.40, 22.49 }, { 21.5, 29.2, 26.7 } },
    { "stories260K-f32", { 0, 0 }, { 1870, 0 }, { 0, 0, 0 } },
    { "tiny-random-llama-d256-bf16", { 0, 0 }, { 646, 1035 }, { 0, 0, 0 } },
    { "tiny-random-llama-d256-q4_0", { 0, 0 }, { 1212, 1424 }, { 0, 0, 0 } },
    { "tiny-random-llama-d256-q4_k_m", { 0, 0 }, { 772, 985 }, { 0, 0, 0 } },
    { "tiny-random-llama-d256-q6_k", { 0, 0 }, { 690, 1070 }, { 0, 0, 0 } },
    { "tiny-random-llama-d256-q8_0", { 0, 0 }, { 798, 1244 }, { 0, 0, 0 } },
    { "tiny-random-qwen2-f16", { 0, 0 }, { 486, 810 }, { 0, 0, 0 } },
};

static const struct ref *ref_find(const char *label)
{
    for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
        if (!strcmp(refs[i].label, label)) return &refs[i];
    return NULL;
}

/* ------------------------------------------------------------------ measurements */

struct opts {
    int threads[4], n_threads;
    int batches[4], n_batches;
    int pp, tg;                /* tokens for models under big_mb */
    int pp_big, tg_big;        /* and at or over it */
    int bt_steps, bt_steps_big;    /* decode steps of the batched runs */
    int bt_prompt;             /* prompt tokens per sequence before batched decode */
    int reps;                  /* repetitions, median reported (1 for big models) */
    double big_mb;
};

/* A decode figure and the run it came from: the best of up to RUN_TRIES (keep_best). */
struct measured {
    double value;              /* tokens/s, median of the run's repetitions */
    double cpu;                /* process CPU time / (wall time x threads) during the run: ~1
                                * on an idle machine, low when others took the CPUs */
    double bw;                 /* read GB/s measured just before and just after the run (the
                                * mean), over the model's weight bytes; 0 when not measured */
    int runs;                  /* runs made */
};

struct result {
    char label[128];
    char err[300];
    char type[16];
    double weight_mb;
    int pp_n, tg_n, bt_n;
    double pp[4];              /* per opts.threads[] */
    struct measured tg[4];     /* per opts.threads[]; .bw for models of ADJACENT_BW_MB and more */
    struct measured bt[4];     /* per opts.batches[], at the largest thread count */
    double load_s;
    const char *weights_where; /* llama_model_weights_where: "huge pages", "mmap", ... */
};

/* Buffer of the machine-wide bandwidth test at the start (0: no bandwidth tests). The host's
 * bandwidth drifts by +-10 % within minutes here, so models big enough to stream from memory
 * get their own measurement right before and right after their decode run, and their share
 * of the bound compares figures taken together. Those read a buffer of the model's own
 * weight bytes: what a stream reads per second depends on how much of it the last-level
 * cache holds (480 MB here; one thread: ~16.4 GB/s over 256 MB, 16.0 over 512 MB, 15.0-15.5
 * over 1-2 GB), so the bound for reading W bytes a token is measured over W bytes. */
static long bw_mb = 512;
#define ADJACENT_BW_MB 50.0

/* A decode measurement (tg or batched) of a model of ADJACENT_BW_MB or more is made again, up
 * to RUN_TRIES times in all, when the benchmark got less than MIN_CPU_SHARE of its threads'
 * time: another tenant of the host held a core then,
 * and with 2 threads a descheduled thread holds up every product it has a chunk of (one such
 * run here: 1B F16 at 46 % of its bound with 80 % CPU, 91 % with 95 % CPU minutes before).
 * The run with the most CPU is reported, and the report says how many were made. Idle
 * otherwise, the 2-thread runs of such models get 94-99 % (the worker sleeps between tokens).
 * Smaller models are not checked: their products are too small to share out, so a worker
 * sleeping through a run (~50 % at 2 threads) is the engine's choice, not a busy host. */
#define RUN_TRIES 3
#define MIN_CPU_SHARE 0.90

/* Process CPU time since cpu0 / (wall time since w0 x threads). */
static double cpu_share(double cpu0, uint64_t w0, int threads)
{
    return (clock_cpu_s() - cpu0) / ((double)(clock_mono_ns() - w0) / 1e9) / threads;
}

/* Takes one run's figures into m, keeping whichever run had the most CPU. Returns 1 when
 * another run is wanted: this one got under min_cpu and tries are left. */
static int keep_best(struct measured *m, double value, double cpu, double bw, double min_cpu,
                     const char *label, const char *what)
{
    if (++m->runs == 1 || cpu > m->cpu) *m = (struct measured){ value, cpu, bw, m->runs };
    if (cpu >= min_cpu || m->runs == RUN_TRIES) return 0;
    fprintf(stderr, "bench: %s: %s got %.0f %% of the CPUs; measuring again\n", label, what, 100 * cpu);
    return 1;
}

static uint64_t rng = 88172645463325252ull;

static int32_t rand_token(int n_vocab)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    /* skip the first few ids (unk/bos/eos/control): any id is valid, this keeps them "text" */
    return (int32_t)(3 + rng % (uint64_t)(n_vocab > 4 ? n_vocab - 3 : 1));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Prefill n tokens into a fresh sequence; tokens/s. */
static int run_pp(struct llama_ctx *c, int n, int n_vocab, float *logits, double *tps)
{
    struct llama_seq *s = NULL;
    int rc = llama_seq_new(c, &s);
    if (rc < 0) return rc;
    int32_t *tok = xmalloc((size_t)n * sizeof(int32_t));
    for (int i = 0; i < n; i++) tok[i] = rand_token(n_vocab);
    uint64_t t0 = clock_mono_ns();
    rc = llama_prefill(c, s, tok, n, logits);
    *tps = n / ((double)(clock_mono_ns() - t0) / 1e9);
    free(tok);
    llama_seq_free(c, s);
    return rc;
}

/* One token, then n-1 greedy-free decode steps of one sequence (llama-bench tg: tokens are
 * fed one at a time from an empty context); tokens/s over the n steps. */
static int run_tg(struct llama_ctx *c, int n, int n_vocab, float *logits, double *tps)
{
    struct llama_seq *s = NULL;
    int rc = llama_seq_new(c, &s);
    if (rc < 0) return rc;
    uint64_t t0 = clock_mono_ns();
    for (int i = 0; i < n && rc == 0; i++) {
        int32_t t = rand_token(n_vocab);
        rc = llama_decode(c, &s, &t, 1, logits);
    }
    *tps = n / ((double)(clock_mono_ns() - t0) / 1e9);
    llama_seq_free(c, s);
    return rc;
}

/* B sequences with a short prompt each (not timed), then `steps` decode steps of all B
 * together; total decode tokens/s (B * steps / time). */
static int run_bt(struct llama_ctx *c, int b, int prompt, int steps, int n_vocab, float *logits,
                  double *tps)
{
    struct llama_seq *s[64] = { 0 };
    int32_t tok[512];
    int rc = 0;
    for (int i = 0; i < b && rc == 0; i++) {
        rc = llama_seq_new(c, &s[i]);
        for (int k = 0; k < prompt && k < 512; k++) tok[k] = rand_token(n_vocab);
        if (rc == 0) rc = llama_prefill(c, s[i], tok, prompt, logits);
    }
    uint64_t t0 = clock_mono_ns();
    for (int st = 0; st < steps && rc == 0; st++) {
        for (int i = 0; i < b; i++) tok[i] = rand_token(n_vocab);
        rc = llama_decode(c, s, tok, b, logits);
    }
    *tps = (double)b * steps / ((double)(clock_mono_ns() - t0) / 1e9);
    for (int i = 0; i < b; i++) llama_seq_free(c, s[i]);
    return rc;
}

static void bench_model(const char *path, struct result *r, const struct opts *o)
{
    struct llama_model *m = NULL;
    struct err e = { 0 };
    uint64_t t0 = clock_mono_ns();
    int rc = llama_model_load(&m, path, &e);
    if (rc < 0) {
        snprintf(r->err, sizeof(r->err), "load: %s", e.msg[0] ? e.msg : err_str(rc));
        return;
    }
    r->load_s = (double)(clock_mono_ns() - t0) / 1e9;
    r->weights_where = llama_model_weights_where(m);
    const struct llama_hparams *hp = llama_model_hparams(m);
    r->weight_mb = (double)llama_model_weight_bytes(m) / 1e6;
    snprintf(r->type, sizeof(r->type), "%s", llama_model_type_name(m));
    int big = r->weight_mb >= o->big_mb;
    int reps = big ? 1 : o->reps;
    r->pp_n = big ? o->pp_big : o->pp;
    r->tg_n = big ? o->tg_big : o->tg;
    r->bt_n = big ? o->bt_steps_big : o->bt_steps;
    int max_b = 1;
    for (int i = 0; i < o->n_batches; i++) max_b = o->batches[i] > max_b ? o->batches[i] : max_b;
    float *logits = xmalloc((size_t)max_b * (size_t)hp->n_vocab * sizeof(float));
    int ctx_len = r->pp_n + r->tg_n + o->bt_prompt + r->bt_n + 8;
    if (ctx_len < 64) ctx_len = 64;

    for (int ti = 0; ti < o->n_threads && !r->err[0]; ti++) {
        struct llama_ctx *c = NULL;
        struct llama_ctx_params p = { .max_batch = max_b, .ctx_len = ctx_len,
                                      .threads = o->threads[ti], .batch_tokens = 0, .kv_positions = 0 };
        if ((rc = llama_ctx_new(&c, m, &p, &e)) < 0) {
            snprintf(r->err, sizeof(r->err), "ctx: %s", e.msg[0] ? e.msg : err_str(rc));
            break;
        }
        double v[16], tps;
        /* warm-up: touches every weight page and spins the thread pool up */
        rc = run_pp(c, 8 < r->pp_n ? 8 : r->pp_n, hp->n_vocab, logits, &tps);
        if (rc == 0) rc = run_tg(c, 2, hp->n_vocab, logits, &tps);
        for (int k = 0; k < reps && rc == 0; k++) rc = run_pp(c, r->pp_n, hp->n_vocab, logits, &v[k]);
        if (rc == 0) r->pp[ti] = median(v, reps);
        int adjacent = bw_mb > 0 && r->weight_mb >= ADJACENT_BW_MB;
        size_t adj_bytes = (size_t)(r->weight_mb * 1e6);
        double min_cpu = r->weight_mb >= ADJACENT_BW_MB ? MIN_CPU_SHARE : 0;
        char what[32];
        snprintf(what, sizeof(what), "tg at %d threads", o->threads[ti]);
        for (int again = 1; again && rc == 0;) {
            double bw_before = adjacent ? membw_read_gbps(o->threads[ti], adj_bytes, 3) : 0;
            /* one untimed pass over the weights again: on this VM the first pass over a large
             * buffer after another large one (the bandwidth test) runs 25-50 % slow */
            if (adjacent) rc = run_tg(c, 2, hp->n_vocab, logits, &tps);
            double cpu0 = clock_cpu_s();
            uint64_t w0 = clock_mono_ns();
            for (int k = 0; k < reps && rc == 0; k++) rc = run_tg(c, r->tg_n, hp->n_vocab, logits, &v[k]);
            if (rc < 0) break;
            double cpu = cpu_share(cpu0, w0, o->threads[ti]);
            double bw = adjacent ? (bw_before + membw_read_gbps(o->threads[ti], adj_bytes, 3)) / 2 : 0;
            again = keep_best(&r->tg[ti], median(v, reps), cpu, bw, min_cpu, r->label, what);
        }
        if (ti == o->n_threads - 1) {      /* batched decode at the largest thread count */
            for (int bi = 0; bi < o->n_batches && rc == 0; bi++) {
                snprintf(what, sizeof(what), "B=%d", o->batches[bi]);
                for (int again = 1; again && rc == 0;) {
                    double cpu0 = clock_cpu_s();
                    uint64_t w0 = clock_mono_ns();
                    for (int k = 0; k < reps && rc == 0; k++)
                        rc = run_bt(c, o->batches[bi], o->bt_prompt, r->bt_n, hp->n_vocab, logits, &v[k]);
                    if (rc < 0) break;
                    again = keep_best(&r->bt[bi], median(v, reps), cpu_share(cpu0, w0, o->threads[ti]), 0,
                                      min_cpu, r->label, what);
                }
            }
        }
        if (rc < 0) snprintf(r->err, sizeof(r->err), "eval: %s", err_str(rc));
        llama_ctx_free(c);
    }
    free(logits);
    llama_model_free(m);
}

/* ------------------------------------------------------------------ report */

static void fmt(char *out, size_t cap, double v)
{
    if (v <= 0) snprintf(out, cap, "–");
    else if (v >= 100) snprintf(out, cap, "%.0f", v);
    else if (v >= 10) snprintf(out, cap, "%.1f", v);
    else snprintf(out, cap, "%.2f", v);
}

static int parse_list(const char *s, int *out, int max)
{
    int n = 0;
    while (s && *s && n < max) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 64) return -1;
        out[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return n;
}

static const char usage[] =
    "usage: llmq-engine-bench [options] MODEL.gguf[=LABEL] ...\n"
    "       llmq-engine-bench mkmodel ...      (same as llmq mkmodel)\n"
    "  --threads 1,2      thread counts for pp/tg (batched decode uses the last)\n"
    "  --batches 1,4,16   sequences decoding together\n"
    "  --pp N --tg N      prompt / generation tokens (default 128 / 64)\n"
    "  --pp-big N --tg-big N --bt-steps-big N   for models >= --big-mb MB of weights (128 / 64 / 16)\n"
    "  --bt-steps N       batched decode steps (default 32), --bt-prompt N prompt per sequence (16)\n"
    "  --reps N           repetitions, median (default 3; always 1 for big models)\n"
    "  --big-mb MB        default 300 (the 1B-class models)\n"
    "  --bandwidth-mb MB  buffer for the bandwidth test at the start (default 512; 0 = no bandwidth\n"
    "                     tests; models of 50 MB and more are measured over their own weight bytes)\n"
    "LABEL picks the llama.cpp figures to print alongside (e.g. '1B Q4_K_M', 'tiny-random-llama-d256-q8_0').\n"
    "A decode run (tg or batched) of a model of 50 MB or more that got under 90 % of the CPUs\n"
    "(a busy host) is measured again, up to 3 times in all.\n"
    "Exit status: 0, 1 when a model failed (its row says why; the others are still measured),\n"
    "2 for bad options.";

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "mkmodel")) return llama_cli_mkmodel(argc - 1, argv + 1);

    struct opts o = { { 1, 2 }, 2, { 1, 4, 16 }, 3, 128, 64, 128, 64, 32, 16, 16, 3, 300.0 };
    const char *models[64];
    int n_models = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define INT_OPT(flag, dst) if (!strcmp(a, flag) && v) { dst = atoi(v); i++; continue; }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { puts(usage); return 0; }
        if (!strcmp(a, "--threads") && v) { o.n_threads = parse_list(v, o.threads, 4); i++; if (o.n_threads < 1) goto bad; continue; }
        if (!strcmp(a, "--batches") && v) { o.n_batches = parse_list(v, o.batches, 4); i++; if (o.n_batches < 1) goto bad; continue; }
        INT_OPT("--pp", o.pp) INT_OPT("--tg", o.tg) INT_OPT("--pp-big", o.pp_big)
        INT_OPT("--tg-big", o.tg_big) INT_OPT("--bt-steps", o.bt_steps)
        INT_OPT("--bt-steps-big", o.bt_steps_big) INT_OPT("--bt-prompt", o.bt_prompt)
        INT_OPT("--reps", o.reps)
        if (!strcmp(a, "--big-mb") && v) { o.big_mb = atof(v); i++; continue; }
        if (!strcmp(a, "--bandwidth-mb") && v) { bw_mb = atol(v); i++; continue; }
#undef INT_OPT
        if (a[0] == '-') goto bad;
        if (n_models < 64) models[n_models++] = a;
    }
    if (o.reps < 1 || o.reps > 15 || o.pp < 1 || o.tg < 1 || o.pp_big < 1 || o.tg_big < 1 ||
        o.bt_steps < 1 || o.bt_steps_big < 1 || o.bt_prompt < 1 || o.bt_prompt > 512)
        goto bad;

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("Machine: %ld online CPUs. Engine: llmq native (CPU).\n\n", ncpu);

    double bw[4] = { 0 };
    if (bw_mb > 0) {
        printf("## Memory read bandwidth\n\n| threads | read GB/s |\n|---:|---:|\n");
        for (int ti = 0; ti < o.n_threads; ti++) {
            bw[ti] = membw_read_gbps(o.threads[ti], (size_t)bw_mb << 20, 5);
            printf("| %d | %.1f |\n", o.threads[ti], bw[ti]);
        }
        printf("\n(llama-cpp-speeds.md measured about 10.9 GB/s on one thread, 21.5 GB/s on two.)\n\n");
        fflush(stdout);
    }

    struct result *res = xcalloc((size_t)(n_models ? n_models : 1), sizeof(*res));
    for (int mi = 0; mi < n_models; mi++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s", models[mi]);
        char *eq = strchr(path, '=');
        const char *label = NULL;
        if (eq) { *eq = 0; label = eq + 1; }
        if (!label) {
            const char *b = strrchr(path, '/');
            label = b ? b + 1 : path;
        }
        snprintf(res[mi].label, sizeof(res[mi].label), "%.100s", label);
        char *dot = strstr(res[mi].label, ".gguf");
        if (dot) *dot = 0;
        fprintf(stderr, "bench: %s (%s)\n", res[mi].label, path);
        bench_model(path, &res[mi], &o);
        if (res[mi].err[0]) fprintf(stderr, "bench: %s: %s\n", res[mi].label, res[mi].err);
    }

    char a[32], b[32], c[32], d[32], f[32];
    printf("## Prompt and generation, tokens/s (llama.cpp in brackets)\n\n");
    printf("| model | type | weights MB |");
    for (int ti = 0; ti < o.n_threads; ti++)
        printf(" pp t=%d | tg t=%d | tg bound t=%d | cpu t=%d |", o.threads[ti], o.threads[ti], o.threads[ti], o.threads[ti]);
    printf(" tokens pp/tg | load s |\n|---|---|---:|");
    for (int ti = 0; ti < o.n_threads; ti++) printf("---:|---:|---:|---:|");
    printf("---|---:|\n");
    for (int mi = 0; mi < n_models; mi++) {
        const struct result *r = &res[mi];
        if (r->err[0]) {
            printf("| %s | | | %s |\n", r->label, r->err);
            continue;
        }
        const struct ref *rf = ref_find(r->label);
        printf("| %s | %s | %.1f |", r->label, r->type, r->weight_mb);
        for (int ti = 0; ti < o.n_threads; ti++) {
            int k = o.threads[ti] - 1;  /* reference columns exist for 1 and 2 threads */
            fmt(a, sizeof(a), r->pp[ti]);
            fmt(b, sizeof(b), rf && k < 2 ? rf->pp[k] : 0);
            fmt(c, sizeof(c), r->tg[ti].value);
            fmt(d, sizeof(d), rf && k < 2 ? rf->tg[k] : 0);
            double rbw = r->tg[ti].bw > 0 ? r->tg[ti].bw : bw[ti];
            double bound = rbw > 0 && r->weight_mb > 0 ? rbw * 1e3 / r->weight_mb : 0;
            fmt(f, sizeof(f), bound);
            char at[32] = "";
            if (r->tg[ti].bw > 0) snprintf(at, sizeof(at), ", %.1f GB/s", r->tg[ti].bw);
            char runs[32] = "";
            if (r->tg[ti].runs > 1) snprintf(runs, sizeof(runs), " (best of %d runs)", r->tg[ti].runs);
            printf(" %s [%s] | %s [%s] | %s (%.0f%%%s) | %.0f%%%s |", a, b, c, d, f,
                   bound > 0 ? 100 * r->tg[ti].value / bound : 0, at, 100 * r->tg[ti].cpu, runs);
        }
        printf(" %d/%d | %.2f |\n", r->pp_n, r->tg_n, r->load_s);
    }
    printf("\n'tg bound' = read bandwidth / weight bytes per token, and the share of it reached; for\n"
           "models of %.0f MB and more the bandwidth is the mean of measurements right before and right\n"
           "after their decode run, each reading a buffer of the model's weight size (the GB/s in the\n"
           "cell: a stream's rate depends on how much of it the last-level cache holds), for smaller\n"
           "ones the one at the start.\n",
           ADJACENT_BW_MB);
    printf("'load s' = llama_model_load, including the copy of the weights into huge pages\n"
           "(LLMQ_WEIGHTS=auto; the weights were held in: %s).\n",
           n_models > 0 && res[0].weights_where ? res[0].weights_where : "?");
    printf("'cpu' = CPU time the benchmark got during tg / (wall time x threads): near 100%% on an idle\n"
           "machine for models of %.0f MB and more; lower means other processes held the cores and the\n"
           "row's figures are low, and under %.0f%% such a run is made again (up to %d in all) and the one\n"
           "with the most CPU is shown ('best of N runs'); the batched runs below likewise. Smaller\n"
           "models' products are not shared out, so their second thread mostly sleeps.\n\n",
           ADJACENT_BW_MB, 100 * MIN_CPU_SHARE, RUN_TRIES);

    printf("## Batched decode, %d threads: total decode tokens/s with B sequences (llama.cpp in brackets)\n\n",
           o.threads[o.n_threads - 1]);
    printf("| model |");
    for (int bi = 0; bi < o.n_batches; bi++) printf(" B=%d |", o.batches[bi]);
    printf(" steps |\n|---|");
    for (int bi = 0; bi < o.n_batches; bi++) printf("---:|");
    printf("---:|\n");
    for (int mi = 0; mi < n_models; mi++) {
        const struct result *r = &res[mi];
        if (r->err[0]) continue;
        const struct ref *rf = ref_find(r->label);
        printf("| %s |", r->label);
        for (int bi = 0; bi < o.n_batches; bi++) {
            int k = o.batches[bi] == 1 ? 0 : o.batches[bi] == 4 ? 1 : o.batches[bi] == 16 ? 2 : -1;
            fmt(a, sizeof(a), r->bt[bi].value);
            fmt(b, sizeof(b), rf && k >= 0 && o.threads[o.n_threads - 1] == 2 ? rf->bt[k] : 0);
            char runs[32] = "";
            if (r->bt[bi].runs > 1) snprintf(runs, sizeof(runs), " (best of %d runs)", r->bt[bi].runs);
            printf(" %s [%s]%s |", a, b, runs);
        }
        printf(" %d |\n", r->bt_n);
    }
    printf("\nEach sequence first gets a %d-token prompt (not timed).\n", o.bt_prompt);
    int failed = 0;
    for (int mi = 0; mi < n_models; mi++) failed += res[mi].err[0] != 0;
    free(res);
    return failed ? 1 : 0;              /* the others' rows are printed all the same */
bad:
    fprintf(stderr, "%s\n", usage);
    return 2;
}
