/* autoscale.c -- the HorizontalPodAutoscaler replica rule (autoscaling/v2 with behavior),
 * transcribed from kube-controller-manager's pkg/controller/podautoscaler (horizontal.go:
 * stabilizeRecommendationWithBehaviors, convertDesiredReplicasWithBehaviorRate,
 * calculateScale{Up,Down}Limit...; replica_calculator.go) so that `llmq up --autoscale`
 * behaves like llama-worker-hpa. Pure computation over caller-supplied time and metrics.
 * Deliberate differences, all for a local pool: a pool at 0 replicas with min > 0 is raised
 * to min (the HPA would call that "scaling disabled"), and min 0 is allowed (the keda
 * overlay's scale to zero; the HPA needs the HPAScaleToZero gate for it). */
#include "up/autoscale.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* ---------------------------------------------------------------- config */

void autoscale_config_default(struct autoscale_config *c)
{
    memset(c, 0, sizeof(*c));
    c->min_replicas = 1;
    c->max_replicas = 4;
    c->tolerance = 0.1;
    c->sync_period_ms = 15000;
    c->n_metrics = AUTOSCALE_M_DEFAULT_COUNT;
    c->metrics[AUTOSCALE_M_QUEUE_LAG] =
        (struct autoscale_metric){"queue_lag", AUTOSCALE_METRIC_TOTAL, 4.0};
    c->metrics[AUTOSCALE_M_BACKLOG_TOKENS] =
        (struct autoscale_metric){"backlog_tokens", AUTOSCALE_METRIC_TOTAL, 8192.0};
    c->metrics[AUTOSCALE_M_IN_FLIGHT] =
        (struct autoscale_metric){"in_flight", AUTOSCALE_METRIC_TOTAL, 6.0};

    /* Up: react at once (window 0) but at most double, or +4, per minute: a GPU worker
     * needs 1-3 minutes to pull its image and load weights, so adding more than that
     * before the first ones report would overshoot. */
    c->scale_up.stabilization_window_s = 0;
    c->scale_up.select = AUTOSCALE_SELECT_MAX;
    c->scale_up.n_policies = 2;
    c->scale_up.policies[0] = (struct autoscale_policy){AUTOSCALE_POLICY_PERCENT, 100, 60};
    c->scale_up.policies[1] = (struct autoscale_policy){AUTOSCALE_POLICY_PODS, 4, 60};
    /* Down: only after 5 minutes of lower recommendations, one worker per 2 minutes:
     * a worker is expensive to bring back, bursts come in waves. */
    c->scale_down.stabilization_window_s = 300;
    c->scale_down.select = AUTOSCALE_SELECT_MAX;
    c->scale_down.n_policies = 1;
    c->scale_down.policies[0] = (struct autoscale_policy){AUTOSCALE_POLICY_PODS, 1, 120};
}

int autoscale_parse_range(struct autoscale_config *c, const char *spec)
{
    char *end;
    unsigned long lo, hi;

    if (!spec || !*spec || *spec == '-' || *spec == '+') return -EINVAL;
    errno = 0;
    lo = strtoul(spec, &end, 10);
    if (errno || end == spec || *end != ':') return -EINVAL;
    spec = end + 1;
    if (!*spec || *spec == '-' || *spec == '+') return -EINVAL;
    hi = strtoul(spec, &end, 10);
    if (errno || end == spec || *end) return -EINVAL;
    if (hi == 0 || hi > 1000 || lo > hi) return -EINVAL;
    c->min_replicas = (uint32_t)lo;
    c->max_replicas = (uint32_t)hi;
    return 0;
}

static int rules_check(const struct autoscale_rules *r)
{
    if (r->stabilization_window_s > 3600 || r->n_policies > AUTOSCALE_POLICIES_MAX) return -EINVAL;
    if (r->select != AUTOSCALE_SELECT_DISABLED && r->n_policies == 0)
        return -EINVAL; /* the API server rejects an empty policy list too */
    for (uint32_t i = 0; i < r->n_policies; i++) {
        const struct autoscale_policy *p = &r->policies[i];
        if (p->value == 0 || p->period_s == 0 || p->period_s > 1800) return -EINVAL;
        if (p->type != AUTOSCALE_POLICY_PODS && p->type != AUTOSCALE_POLICY_PERCENT) return -EINVAL;
    }
    return 0;
}

int autoscale_config_check(const struct autoscale_config *c)
{
    if (!c || c->max_replicas == 0 || c->min_replicas > c->max_replicas) return -EINVAL;
    if (!(c->tolerance >= 0 && c->tolerance < 1) || c->sync_period_ms == 0) return -EINVAL;
    if (c->n_metrics == 0 || c->n_metrics > AUTOSCALE_METRICS_MAX) return -EINVAL;
    for (uint32_t i = 0; i < c->n_metrics; i++)
        if (!(c->metrics[i].target > 0) || !isfinite(c->metrics[i].target)) return -EINVAL;
    if (rules_check(&c->scale_up) < 0 || rules_check(&c->scale_down) < 0) return -EINVAL;
    return 0;
}

/* ---------------------------------------------------------------- one metric */

uint32_t autoscale_replicas_for_metric(const struct autoscale_metric *m, double tolerance,
                                       uint32_t current, double value)
{
    double ratio, want;

    if (isnan(value) || value < 0 || !isfinite(value)) return current;
    if (m->type == AUTOSCALE_METRIC_TOTAL) {
        /* GetExternalPerPodMetricReplicas: usageRatio = usage / (target * replicas). */
        if (current == 0) {
            want = ceil(value / m->target);
        } else {
            ratio = value / (m->target * (double)current);
            if (fabs(1.0 - ratio) <= tolerance) return current;
            want = ceil(value / m->target);
        }
    } else {
        /* GetMetricReplicas for a Pods metric: ratio = average / target. With no replicas
         * there is no average; nothing to propose. */
        if (current == 0) return 0;
        ratio = value / m->target;
        if (fabs(1.0 - ratio) <= tolerance) return current;
        want = ceil(ratio * (double)current);
    }
    if (want > 1e6) want = 1e6;
    return (uint32_t)want;
}

/* ---------------------------------------------------------------- the autoscaler */

struct rec {
    uint64_t t_ms;
    uint32_t replicas;
};

struct scale_event {
    uint64_t t_ms;
    uint32_t change; /* replicas added (up list) or removed (down list) */
    int outdated;    /* older than the direction's longest period: reusable slot */
};

struct event_list {
    struct scale_event *v; /* owned */
    size_t n, cap;
};

struct autoscale {
    struct autoscale_config c;
    struct rec *recs; /* owned; unstabilized recommendations, oldest first */
    size_t n_recs, cap_recs;
    struct event_list up, down;
    uint64_t last_ms;
};

const struct autoscale_config *autoscale_config(const struct autoscale *a)
{
    return &a->c;
}

static void recs_push(struct autoscale *a, uint64_t t_ms, uint32_t replicas)
{
    if (a->n_recs == a->cap_recs) {
        a->cap_recs = a->cap_recs ? a->cap_recs * 2 : 16;
        a->recs = xrealloc(a->recs, a->cap_recs * sizeof(*a->recs));
    }
    a->recs[a->n_recs++] = (struct rec){t_ms, replicas};
}

static uint64_t longest_period_ms(const struct autoscale_rules *r)
{
    uint64_t ms = 0;
    for (uint32_t i = 0; i < r->n_policies; i++)
        if ((uint64_t)r->policies[i].period_s * 1000 > ms)
            ms = (uint64_t)r->policies[i].period_s * 1000;
    return ms;
}

/* storeScaleEvent: events older than the direction's longest policy period are marked
 * outdated and the first of them is overwritten by the new event, else it is appended.
 * Outdated events still count where they fall inside a period (getReplicasChangePerPeriod
 * ignores the flag): e.g. a scale-up 100 s ago with up-periods of 60 s still lowers the
 * scale-down allowance of a 120 s down-policy until the next scale-up replaces it. */
static void events_store(struct event_list *l, const struct autoscale_rules *r, uint64_t now_ms,
                         uint32_t change)
{
    uint64_t longest = longest_period_ms(r);
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].t_ms + longest < now_ms) l->v[i].outdated = 1;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].outdated) {
            l->v[i] = (struct scale_event){now_ms, change, 0};
            return;
        }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = (struct scale_event){now_ms, change, 0};
}

/* "timestamp.After(now - period)": strictly younger than the period. */
static int64_t change_in_period(const struct event_list *l, uint32_t period_s, uint64_t now_ms)
{
    int64_t sum = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].t_ms + (uint64_t)period_s * 1000 > now_ms) sum += l->v[i].change;
    return sum;
}

int autoscale_new(struct autoscale **out, const struct autoscale_config *c, uint64_t now_ms,
                  uint32_t current)
{
    struct autoscale *a;

    *out = NULL;
    if (autoscale_config_check(c) < 0) return -EINVAL;
    a = xcalloc(1, sizeof(*a));
    a->c = *c;
    a->last_ms = now_ms;
    /* maybeInitScaleDownStabilizationWindow: a fresh controller must not scale down
     * before it has seen one full down-window of recommendations. */
    if (c->scale_down.stabilization_window_s > 0) recs_push(a, now_ms, current);
    *out = a;
    return 0;
}

void autoscale_free(struct autoscale *a)
{
    if (!a) return;
    free(a->recs);
    free(a->up.v);
    free(a->down.v);
    free(a);
}

/* stabilizeRecommendationWithBehaviors: the result may not go above the largest
 * recommendation of the down-window nor below the smallest of the up-window. */
static uint32_t stabilize(struct autoscale *a, uint64_t now_ms, uint32_t current, uint32_t desired,
                          const char **reason)
{
    uint64_t up_ms = (uint64_t)a->c.scale_up.stabilization_window_s * 1000;
    uint64_t down_ms = (uint64_t)a->c.scale_down.stabilization_window_s * 1000;
    uint32_t up_rec = desired, down_rec = desired, result = current;
    size_t k = 0;

    for (size_t i = 0; i < a->n_recs; i++) {
        const struct rec *r = &a->recs[i];
        int in_up = r->t_ms + up_ms > now_ms, in_down = r->t_ms + down_ms > now_ms;
        if (in_up && r->replicas < up_rec) up_rec = r->replicas;
        if (in_down && r->replicas > down_rec) down_rec = r->replicas;
        if (in_up || in_down) a->recs[k++] = *r; /* older than both windows: forgotten */
    }
    a->n_recs = k;
    if (result < up_rec) result = up_rec;
    if (result > down_rec) result = down_rec;
    if (result != desired)
        *reason = desired > current ? "ScaleUpStabilized" : "ScaleDownStabilized";
    recs_push(a, now_ms, desired); /* the unstabilized recommendation */
    return result;
}

static int64_t pick(enum autoscale_select s, int64_t acc, int64_t v, int up)
{
    /* Up: Max -> the largest limit; Min -> the smallest. Down: the reverse (a lower limit
     * is a larger change). */
    int want_larger = (s == AUTOSCALE_SELECT_MAX) == up;
    return want_larger ? (v > acc ? v : acc) : (v < acc ? v : acc);
}

static int64_t scale_up_limit(const struct autoscale *a, uint64_t now_ms, uint32_t current)
{
    const struct autoscale_rules *r = &a->c.scale_up;
    int64_t acc = r->select == AUTOSCALE_SELECT_MAX ? INT64_MIN : INT64_MAX;

    if (r->select == AUTOSCALE_SELECT_DISABLED) return current;
    for (uint32_t i = 0; i < r->n_policies; i++) {
        const struct autoscale_policy *p = &r->policies[i];
        int64_t start = (int64_t)current - change_in_period(&a->up, p->period_s, now_ms) +
                        change_in_period(&a->down, p->period_s, now_ms);
        int64_t proposed = p->type == AUTOSCALE_POLICY_PODS
                               ? start + p->value
                               : (int64_t)ceil((double)start * (1.0 + p->value / 100.0));
        acc = pick(r->select, acc, proposed, 1);
    }
    return acc;
}

static int64_t scale_down_limit(const struct autoscale *a, uint64_t now_ms, uint32_t current)
{
    const struct autoscale_rules *r = &a->c.scale_down;
    int64_t acc = r->select == AUTOSCALE_SELECT_MAX ? INT64_MAX : INT64_MIN;

    if (r->select == AUTOSCALE_SELECT_DISABLED) return current;
    for (uint32_t i = 0; i < r->n_policies; i++) {
        const struct autoscale_policy *p = &r->policies[i];
        int64_t start = (int64_t)current - change_in_period(&a->up, p->period_s, now_ms) +
                        change_in_period(&a->down, p->period_s, now_ms);
        /* Go truncates toward zero: int32(float64(start) * (1 - value/100)). */
        int64_t proposed = p->type == AUTOSCALE_POLICY_PODS
                               ? start - p->value
                               : (int64_t)((double)start * (1.0 - p->value / 100.0));
        acc = pick(r->select, acc, proposed, 0);
    }
    return acc;
}

/* convertDesiredReplicasWithBehaviorRate */
static uint32_t rate_limit(const struct autoscale *a, uint64_t now_ms, uint32_t current,
                           uint32_t desired, const char **reason)
{
    if (desired > current) {
        int64_t limit = scale_up_limit(a, now_ms, current), allowed = a->c.max_replicas;
        const char *why = "TooManyReplicas";
        if (limit < current) limit = current;
        if (allowed > limit) {
            allowed = limit;
            why = "ScaleUpLimit";
        }
        if (desired > allowed) {
            *reason = why;
            return (uint32_t)allowed;
        }
    } else if (desired < current) {
        int64_t limit = scale_down_limit(a, now_ms, current), allowed = a->c.min_replicas;
        const char *why = "TooFewReplicas";
        if (limit > current) limit = current;
        if (allowed < limit) {
            allowed = limit;
            why = "ScaleDownLimit";
        }
        if (desired < allowed) {
            *reason = why;
            return (uint32_t)allowed;
        }
    }
    return desired;
}

uint32_t autoscale_step(struct autoscale *a, uint64_t now_ms, uint32_t current,
                        const double *values, struct autoscale_decision *d)
{
    struct autoscale_decision tmp;
    uint32_t proposed = 0;
    int best = -1;

    if (!d) d = &tmp;
    if (now_ms < a->last_ms) now_ms = a->last_ms; /* time never goes backwards here */
    a->last_ms = now_ms;

    memset(d, 0, sizeof(*d));
    d->current = current;
    d->metric = -1;
    d->reason = "DesiredWithinRange";

    if (current > a->c.max_replicas) {
        /* Outside the range the HPA goes straight to the bound, behaviours aside. */
        d->proposed = d->stabilized = d->desired = a->c.max_replicas;
        d->reason = "AboveMax";
    } else if (current < a->c.min_replicas) {
        d->proposed = d->stabilized = d->desired = a->c.min_replicas;
        d->reason = "BelowMin";
    } else {
        for (uint32_t i = 0; i < a->c.n_metrics; i++) {
            double v = values ? values[i] : NAN;
            if (isnan(v) || v < 0) continue;
            uint32_t r =
                autoscale_replicas_for_metric(&a->c.metrics[i], a->c.tolerance, current, v);
            if (best < 0 || r > proposed) {
                proposed = r;
                best = (int)i;
            }
        }
        if (best < 0) {
            d->proposed = d->stabilized = d->desired = current;
            d->reason = "NoMetrics";
            return current;
        }
        d->metric = best;
        /* The HPA records the raw proposal; min/max are applied by the rate step. */
        d->proposed = proposed;
        d->stabilized = stabilize(a, now_ms, current, proposed, &d->reason);
        d->desired = rate_limit(a, now_ms, current, d->stabilized, &d->reason);
        if (d->proposed > a->c.max_replicas) d->proposed = a->c.max_replicas;
        if (d->proposed < a->c.min_replicas) d->proposed = a->c.min_replicas;
    }
    if (d->desired > current)
        events_store(&a->up, &a->c.scale_up, now_ms, d->desired - current);
    else if (d->desired < current)
        events_store(&a->down, &a->c.scale_down, now_ms, current - d->desired);
    return d->desired;
}

void autoscale_queue_totals(const struct autoscale_lane *lanes, int n, double *lag,
                            double *in_flight)
{
    long long l = 0, p = 0;
    for (int i = 0; i < n; i++) {
        const struct autoscale_lane *q = &lanes[i];
        if (!q->have_group) {
            l += q->xlen > 0 ? q->xlen : 0;
            continue;
        }
        long long pend = q->pending > 0 ? q->pending : 0;
        if (q->lag >= 0)
            l += q->lag;
        else if (q->xlen > pend)
            l += q->xlen - pend;
        p += pend;
    }
    *lag = (double)l;
    *in_flight = (double)p;
}
