/* autoscale.h -- the Kubernetes HorizontalPodAutoscaler (autoscaling/v2) replica rule, in C,
 * for `llmq up --autoscale MIN:MAX`: desired = ceil(current * metric / target) with the 10%
 * tolerance, the larger proposal across metrics, stabilization windows and scale-up /
 * scale-down rate policies, exactly as kube-controller-manager computes them, so the local
 * pool behaves as deploy/k8s/ promises the cluster will (docs/AUTOSCALING.md).
 * It does no I/O and reads no clock: the caller passes "now" and the metric values, so a
 * test drives it with a simulated clock. It neither starts nor stops processes. */
#ifndef LLMQ_UP_AUTOSCALE_H
#define LLMQ_UP_AUTOSCALE_H

#include <stdint.h>

#define AUTOSCALE_METRICS_MAX  4
#define AUTOSCALE_POLICIES_MAX 4

/* How a metric value relates to replicas, as in an HPA v2 metric spec. */
enum autoscale_metric_type {
    /* External metric with target.averageValue: the value is the pool TOTAL (e.g. the job
     * stream's consumer-group lag, or the token backlog); desired = ceil(total / target). */
    AUTOSCALE_METRIC_TOTAL,
    /* Pods metric with target.averageValue: the value is the AVERAGE per replica (e.g. GPU
     * utilisation %); desired = ceil(current * average / target). */
    AUTOSCALE_METRIC_PER_POD,
};

struct autoscale_metric {
    const char *name;                  /* borrowed, static; for logs ("queue_lag") */
    enum autoscale_metric_type type;
    double target;                     /* target average per replica (> 0), in the metric's unit */
};

enum autoscale_policy_type {
    AUTOSCALE_POLICY_PODS,             /* change by at most `value` replicas per period */
    AUTOSCALE_POLICY_PERCENT,          /* change by at most `value` % of the period-start count */
};

/* HPAScalingRules.selectPolicy */
enum autoscale_select {
    AUTOSCALE_SELECT_MAX,              /* the policy allowing the largest change (default) */
    AUTOSCALE_SELECT_MIN,              /* the policy allowing the smallest change */
    AUTOSCALE_SELECT_DISABLED,         /* no scaling in this direction */
};

struct autoscale_policy {
    enum autoscale_policy_type type;
    uint32_t value;                    /* replicas or percent */
    uint32_t period_s;                 /* look-back window of the rate limit, 1..1800 */
};

/* HPAScalingRules for one direction. */
struct autoscale_rules {
    uint32_t stabilization_window_s;   /* 0..3600 */
    enum autoscale_select select;
    uint32_t n_policies;
    struct autoscale_policy policies[AUTOSCALE_POLICIES_MAX];
};

struct autoscale_config {
    uint32_t min_replicas;             /* 0 allowed (scale to zero, as the keda overlay) */
    uint32_t max_replicas;             /* >= max(min_replicas, 1) */
    double tolerance;                  /* 0.1: no change while |ratio - 1| <= tolerance */
    uint32_t sync_period_ms;           /* how often the caller should call autoscale_step
                                          (HPA --horizontal-pod-autoscaler-sync-period) */
    uint32_t n_metrics;
    struct autoscale_metric metrics[AUTOSCALE_METRICS_MAX];
    struct autoscale_rules scale_up;
    struct autoscale_rules scale_down;
};

/* Indices of the default metrics in values[] of autoscale_step (see autoscale_config_default).
 * Where they come from: per priority lane (<prefix>jobs:high, <prefix>jobs, <prefix>jobs:low)
 * XINFO GROUPS, group "workers" -> `lag` and `pending`, and XLEN, summed over the lanes with
 * autoscale_queue_totals; llmq_queue_backlog_tokens summed over the gateways' /metrics. */
enum {
    AUTOSCALE_M_QUEUE_LAG = 0,       /* jobs not yet delivered to any worker (group lag) */
    AUTOSCALE_M_BACKLOG_TOKENS = 1,  /* prompt + max_tokens of waiting jobs */
    AUTOSCALE_M_IN_FLIGHT = 2,       /* delivered, not yet acknowledged (running) jobs */
    AUTOSCALE_M_DEFAULT_COUNT = 3,
};

/* One priority lane's queue state, as read from Redis. */
struct autoscale_lane {
    int have_group;         /* group "workers" exists on the stream */
    long long lag;          /* its XINFO GROUPS `lag`; < 0 when Redis reports nil */
    long long pending;      /* its `pending` (delivered, not acknowledged) */
    long long xlen;         /* XLEN of the stream */
};

/* Sums n lanes into the queue_lag and in_flight values of autoscale_step, as the gateway
 * computes llmq_queue_lag / llmq_queue_pending: the HPA takes the max over metrics, so the
 * lanes must be added before the division, never given as separate metrics. A lane without
 * the group counts its whole XLEN as lag. A nil lag (Redis cannot compute it once an entry
 * after a still-pending one was XDELed) is estimated as XLEN - pending, never below 0:
 * workers XDEL finished entries, so a stream holds only waiting and running jobs. */
void autoscale_queue_totals(const struct autoscale_lane *lanes, int n, double *lag,
                            double *in_flight);

/* Fills c with llmq's defaults, the same numbers as deploy/k8s llama-worker-hpa:
 * metrics[0] queue_lag (TOTAL, target 4 waiting jobs per worker), metrics[1] backlog_tokens
 * (TOTAL, target 8192 waiting tokens per worker), metrics[2] in_flight (TOTAL, target 6
 * running jobs per worker: the local stand-in for GPU utilisation, which keeps busy workers
 * from being scaled away while the lag is 0); tolerance 0.1, sync 15 s;
 * scale-up: window 0 s, max(100 %, 4 pods) per 60 s; scale-down: window 300 s, 1 pod per
 * 120 s; replicas 1:4. Callers override what they need (tests shrink the windows). */
void autoscale_config_default(struct autoscale_config *c);

/* Parses "MIN:MAX" (e.g. "1:4", "0:8") into c->min_replicas / c->max_replicas.
 * Returns 0, or -EINVAL when malformed, MIN > MAX, MAX == 0 or MAX > 1000. */
int autoscale_parse_range(struct autoscale_config *c, const char *spec);

/* Checks c (ranges, targets > 0, policy values); returns 0 or -EINVAL. */
int autoscale_config_check(const struct autoscale_config *c);

/* The replica proposal of one metric, before behaviours (HPA replica_calculator.go):
 * ratio = value / target (PER_POD) or value / (target * current) (TOTAL); when
 * |ratio - 1| <= tolerance returns current, else ceil(current * ratio) (PER_POD) or
 * ceil(value / target) (TOTAL). current == 0 (TOTAL): ceil(value / target).
 * A NaN or negative value yields current (metric unavailable: no change). */
uint32_t autoscale_replicas_for_metric(const struct autoscale_metric *m, double tolerance,
                                       uint32_t current, double value);

struct autoscale;   /* one HPA: recommendation history and scale events */

/* Allocates an autoscaler for c (copied). now_ms is the caller's clock (any monotonic
 * origin); current is the replica count now. Like the HPA controller on start, it records
 * `current` as a recommendation, so it cannot scale down before one down-window passed.
 * Returns 0 or -EINVAL (bad config). */
int autoscale_new(struct autoscale **out, const struct autoscale_config *c, uint64_t now_ms,
                  uint32_t current);
void autoscale_free(struct autoscale *a);           /* NULL is a no-op */

/* Why a step chose its answer, for logs and `llmq up` status lines. */
struct autoscale_decision {
    uint32_t current;        /* replicas the caller reported */
    uint32_t proposed;       /* max over metric proposals, clamped to [min, max] */
    uint32_t stabilized;     /* after the stabilization windows */
    uint32_t desired;        /* after the rate policies: what to scale to */
    int metric;              /* index of the metric that gave `proposed`, -1 if none */
    const char *reason;      /* static text: "ScaleUpLimit", "ScaleDownStabilized", ... */
};

/* One HPA sync: values[i] is the current value of c->metrics[i]. NaN means the metric is not
 * available in this deployment and is left out, like a metric absent from the HPA spec (if
 * all are NaN nothing changes). The HPA never scales DOWN while a configured metric fails to
 * read: a caller whose read failed should skip the step (as `llmq up` does), not pass NaN.
 * Returns the replica count to scale to and records the recommendation and, when it differs
 * from current, the scale event (the caller is assumed to apply it; if it cannot, the next
 * call's `current` tells the truth). d may be NULL.
 * now_ms must not go backwards. */
uint32_t autoscale_step(struct autoscale *a, uint64_t now_ms, uint32_t current,
                        const double *values, struct autoscale_decision *d);

/* The config in use (borrowed; valid until autoscale_free). */
const struct autoscale_config *autoscale_config(const struct autoscale *a);

#endif
