/* arrival.h -- open-loop arrival schedules: when each request is sent and how long its
 * prompt and output are. Open loop means a request goes out at its time whether or not
 * earlier ones finished, so a slow server cannot slow the offered load down (no coordinated
 * omission). Profiles:
 *   poisson  exponential inter-arrivals at --rate;
 *   gamma    gamma inter-arrivals at --rate with shape --burstiness (1 = Poisson, < 1 more
 *            bursty, > 1 more regular; the vLLM benchmark convention);
 *   step     Poisson at each rate of --rates for --step-seconds each;
 *   burst    --burst K requests at once every --idle S seconds, --bursts N times;
 *   trace    the arrivals of a trace (trace.h), time divided by --speedup.
 * The closed profile has no schedule (the runner keeps N users busy) and is not built here. */
#ifndef LLMQ_BENCH_ARRIVAL_H
#define LLMQ_BENCH_ARRIVAL_H

#include <stddef.h>
#include <stdint.h>

#include "bench/trace.h"
#include "common/err.h"

enum arrival_profile {
    ARRIVAL_CLOSED, ARRIVAL_POISSON, ARRIVAL_GAMMA, ARRIVAL_STEP, ARRIVAL_BURST, ARRIVAL_TRACE,
};

struct arrival_cfg {
    enum arrival_profile profile;
    double rate;                 /* poisson, gamma: requests per second */
    double burstiness;           /* gamma: shape */
    const double *rates;         /* step: requests per second per step (borrowed) */
    int n_rates;
    double step_s;               /* step: seconds per rate */
    int burst_k;                 /* burst: requests per burst */
    double idle_s;               /* burst: seconds from one burst to the next */
    int bursts;                  /* burst: how many */
    const struct trace *trace;   /* trace (borrowed) */
    double speedup;              /* trace: time divisor (> 0) */
    double duration_s;           /* stop scheduling at this time; 0 = profile's own end */
    long long requests_max;      /* stop after this many; 0 = no bound */
    int prompt_tokens;           /* non-trace profiles */
    int max_tokens;              /* non-trace profiles; for trace, a cap when > 0 */
    uint64_t seed;
};

struct arrival {
    double t_s;                  /* send time after the start of the run */
    int prompt_tokens;
    int max_tokens;
};

/* "closed", "poisson", ... -> profile; -EINVAL otherwise. */
int arrival_profile_parse(const char *name, enum arrival_profile *out);
const char *arrival_profile_name(enum arrival_profile p);

/* Builds the schedule, sorted by time, into *out (malloc'd; caller frees) and *n. Errors:
 * -EINVAL with e naming the missing or bad parameter (no bound on an endless profile, a
 * rate <= 0, ...). */
int arrival_plan(const struct arrival_cfg *c, struct arrival **out, size_t *n, struct err *e);

#endif
