/* arrival.c -- builds arrival schedules (see arrival.h). Schedules are computed up front so
 * the send path does nothing but wait for the next time; a 1-hour run at 1000 req/s is
 * 3.6 M entries of 16 bytes, acceptable. */
#include "bench/arrival.h"

#include <errno.h>
#include <string.h>

#include "bench/rng.h"
#include "common/xalloc.h"

static const char *names[] = { "closed", "poisson", "gamma", "step", "burst", "trace" };

int arrival_profile_parse(const char *name, enum arrival_profile *out)
{
    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
        if (!strcmp(name, names[i])) {
            *out = (enum arrival_profile)i;
            return 0;
        }
    return -EINVAL;
}

const char *arrival_profile_name(enum arrival_profile p)
{
    return (unsigned)p < sizeof(names) / sizeof(names[0]) ? names[p] : "?";
}

struct plan {
    struct arrival *a;
    size_t n, cap;
    long long max;
};

/* Returns 0 when the request bound is reached. */
static int add(struct plan *p, double t, int in, int out)
{
    if (p->max > 0 && (long long)p->n >= p->max) return 0;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 1024;
        p->a = xrealloc(p->a, p->cap * sizeof(*p->a));
    }
    p->a[p->n++] = (struct arrival){ t, in < 1 ? 1 : in, out < 1 ? 1 : out };
    return 1;
}

int arrival_plan(const struct arrival_cfg *c, struct arrival **out, size_t *n, struct err *e)
{
    struct plan p = { NULL, 0, 0, c->requests_max };
    struct rng r;
    rng_seed(&r, c->seed);
    double end = c->duration_s > 0 ? c->duration_s : 0;
    *out = NULL;
    *n = 0;

    switch (c->profile) {
    case ARRIVAL_CLOSED:
        return err_set(e, -EINVAL, "closed profile has no arrival schedule");
    case ARRIVAL_POISSON:
    case ARRIVAL_GAMMA: {
        if (c->rate <= 0) return err_set(e, -EINVAL, "--rate must be > 0");
        if (!end && c->requests_max <= 0)
            return err_set(e, -EINVAL, "--duration or --requests is needed");
        double k = c->profile == ARRIVAL_GAMMA ? c->burstiness : 1.0;
        if (k <= 0) return err_set(e, -EINVAL, "--burstiness must be > 0");
        double t = 0;
        for (;;) {
            t += c->profile == ARRIVAL_GAMMA ? rng_gamma(&r, k, 1.0 / (c->rate * k))
                                             : rng_exponential(&r, 1.0 / c->rate);
            if (end && t >= end) break;
            if (!add(&p, t, c->prompt_tokens, c->max_tokens)) break;
        }
        break;
    }
    case ARRIVAL_STEP: {
        if (c->n_rates < 1) return err_set(e, -EINVAL, "--rates is needed for the step profile");
        if (c->step_s <= 0) return err_set(e, -EINVAL, "--step-seconds must be > 0");
        double t0 = 0;
        for (int i = 0; i < c->n_rates; i++, t0 += c->step_s) {
            double rate = c->rates[i];
            if (rate < 0) return err_set(e, -EINVAL, "--rates: rate %g < 0", rate);
            if (rate == 0) continue;
            double t = t0;
            for (;;) {
                t += rng_exponential(&r, 1.0 / rate);
                if (t >= t0 + c->step_s || (end && t >= end)) break;
                if (!add(&p, t, c->prompt_tokens, c->max_tokens)) goto done;
            }
        }
        break;
    }
    case ARRIVAL_BURST: {
        if (c->burst_k < 1) return err_set(e, -EINVAL, "--burst must be >= 1");
        if (c->idle_s < 0) return err_set(e, -EINVAL, "--idle must be >= 0");
        int bursts = c->bursts > 0 ? c->bursts : 1;
        for (int b = 0; b < bursts; b++) {
            double t = b * c->idle_s;
            if (end && t >= end) break;
            for (int i = 0; i < c->burst_k; i++)
                if (!add(&p, t, c->prompt_tokens, c->max_tokens)) goto done;
        }
        break;
    }
    case ARRIVAL_TRACE: {
        if (!c->trace || !c->trace->n) return err_set(e, -EINVAL, "--trace is empty or missing");
        if (c->speedup <= 0) return err_set(e, -EINVAL, "--speedup must be > 0");
        for (size_t i = 0; i < c->trace->n; i++) {
            const struct trace_entry *te = &c->trace->entries[i];
            double t = te->t_s / c->speedup;
            if (end && t >= end) break;
            int o = te->output_tokens;
            if (c->max_tokens > 0 && o > c->max_tokens) o = c->max_tokens;
            if (!add(&p, t, te->prompt_tokens, o)) break;
        }
        break;
    }
    }
done:
    *out = p.a;
    *n = p.n;
    return 0;
}
