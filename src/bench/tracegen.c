/* tracegen.c -- `llmq-tracegen`: writes the synthetic traces shipped in bench/traces/, in the
 * public formats llmq-bench replays (azure CSV, burstgpt CSV, mooncake JSONL), so the trace
 * profile has data without downloading anything. Two shapes:
 *   diurnal  a day of traffic compressed into --seconds: a non-homogeneous Poisson process
 *            (by thinning) whose rate follows a morning and an afternoon peak over a night
 *            trough, mean --rate requests/s;
 *   bursty   a two-state Markov-modulated Poisson process: quiet at --rate / 4, bursts of
 *            about 4 s at --rate * 6, switching every ~15 s on average.
 * Prompt and output lengths are log-normal (medians 512 and 128 tokens, heavy right tails,
 * capped at 8192 / 1024), the shape published LLM traces show. Deterministic per --seed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/rng.h"
#include "bench/trace.h"
#include "common/cfg.h"

static double diurnal_shape(double frac)      /* frac of the day in [0, 1); mean ~1 */
{
    double h = frac * 24;
    double morning = exp(-pow((h - 10.5) / 2.5, 2));
    double afternoon = 0.85 * exp(-pow((h - 15.5) / 3.0, 2));
    double evening = 0.45 * exp(-pow((h - 21) / 2.0, 2));
    return 0.12 + morning + afternoon + evening;          /* night floor 0.12 */
}

static int lognormal_tokens(struct rng *r, double median, double sigma, int cap)
{
    double v = median * exp(sigma * rng_normal(r));
    int n = (int)(v + 0.5);
    return n < 1 ? 1 : n > cap ? cap : n;
}

static void write_row(FILE *f, enum trace_format fmt, double t_s, int in, int out)
{
    switch (fmt) {
    case TRACE_FORMAT_AZURE: {
        /* Azure writes wall-clock date-times with 7 fractional digits */
        time_t base = 1700150400;                      /* 2023-11-16 16:00:00 UTC */
        time_t sec = base + (time_t)floor(t_s);
        struct tm tm;
        gmtime_r(&sec, &tm);
        long frac = (long)((t_s - floor(t_s)) * 1e7);
        fprintf(f, "%04d-%02d-%02d %02d:%02d:%02d.%07ld,%d,%d\n", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac, in, out);
        break;
    }
    case TRACE_FORMAT_BURSTGPT:
        fprintf(f, "%.3f,ChatGPT,%d,%d,%d,Conversation log\n", t_s, in, out, in + out);
        break;
    case TRACE_FORMAT_MOONCAKE:
        fprintf(f, "{\"timestamp\": %.0f, \"input_length\": %d, \"output_length\": %d, \"hash_ids\": []}\n",
                t_s * 1000, in, out);
        break;
    }
}

int main(int argc, char **argv)
{
    char *kind = "diurnal", *format = "azure", *out = NULL;
    double seconds = 300, rate = 3;
    long long seed = 1;
    const struct cfg_opt opts[] = {
        { "kind", CFG_STR, &kind, "diurnal or bursty" },
        { "format", CFG_STR, &format, "azure, burstgpt or mooncake" },
        { "seconds", CFG_DOUBLE, &seconds, "length of the trace" },
        { "rate", CFG_DOUBLE, &rate, "mean requests per second" },
        { "seed", CFG_INT, &seed, "random seed" },
        { "out", CFG_STR, &out, "output file (default stdout)" },
        { .name = NULL },
    };
    struct err e = { 0 };
    cfg_set_env_prefix("LLMQ_TRACEGEN_");   /* LLMQ_SEED or LLMQ_RATE of the platform: not ours */
    int rc = cfg_parse(opts, argc, argv, 1, "usage: llmq-tracegen [options]\nWrites a synthetic "
                       "LLM serving trace in a public format.", NULL, &e);
    if (rc == 1) return 0;
    if (rc < 0) { fprintf(stderr, "llmq-tracegen: %s\n", e.msg); return 1; }
    enum trace_format fmt;
    if (trace_format_parse(format, &fmt) < 0) { fprintf(stderr, "llmq-tracegen: bad --format\n"); return 1; }
    int diurnal = !strcmp(kind, "diurnal");
    if (!diurnal && strcmp(kind, "bursty")) { fprintf(stderr, "llmq-tracegen: bad --kind\n"); return 1; }
    if (seconds <= 0 || rate <= 0) { fprintf(stderr, "llmq-tracegen: --seconds and --rate must be > 0\n"); return 1; }
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f) { perror(out); return 1; }
    if (fmt == TRACE_FORMAT_AZURE) fputs("TIMESTAMP,ContextTokens,GeneratedTokens\n", f);
    if (fmt == TRACE_FORMAT_BURSTGPT) fputs("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n", f);

    struct rng r;
    rng_seed(&r, (uint64_t)seed);
    double t = 0;
    if (diurnal) {
        /* mean of the shape over a day, to scale it to --rate; thinning against its peak */
        double mean = 0, peak = 0;
        for (int i = 0; i < 1440; i++) {
            double v = diurnal_shape(i / 1440.0);
            mean += v / 1440;
            if (v > peak) peak = v;
        }
        double lmax = rate * peak / mean;
        for (;;) {
            t += rng_exponential(&r, 1.0 / lmax);
            if (t >= seconds) break;
            double l = rate * diurnal_shape(t / seconds) / mean;
            if (rng_uniform(&r) * lmax > l) continue;
            write_row(f, fmt, t, lognormal_tokens(&r, 512, 0.9, 8192), lognormal_tokens(&r, 128, 0.8, 1024));
        }
    } else {
        int burst = 0;
        double next_switch = rng_exponential(&r, 15);
        for (;;) {
            double l = burst ? rate * 6 : rate / 4;
            double dt = rng_exponential(&r, 1.0 / l);
            if (t + dt >= next_switch) {               /* memoryless: restart at the switch */
                t = next_switch;
                burst = !burst;
                next_switch = t + rng_exponential(&r, burst ? 4 : 15);
                if (t >= seconds) break;
                continue;
            }
            t += dt;
            if (t >= seconds) break;
            write_row(f, fmt, t, lognormal_tokens(&r, 512, 0.9, 8192), lognormal_tokens(&r, 128, 0.8, 1024));
        }
    }
    if (out && fclose(f) != 0) { perror(out); return 1; }
    cfg_free(opts);
    return 0;
}
