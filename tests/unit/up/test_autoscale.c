/* test_autoscale.c -- the HPA replica rule of src/up/autoscale.c against hand-worked
 * examples (Kubernetes docs' arithmetic, worked here step by step) and a simulated-clock
 * burst: scale up within the configured window, back down only after the idle window. */
#include "up/autoscale.h"

#include <errno.h>
#include <math.h>

#include "test.h"

static const struct autoscale_metric lag4 = {"queue_lag", AUTOSCALE_METRIC_TOTAL, 4.0};
static const struct autoscale_metric util80 = {"gpu_util", AUTOSCALE_METRIC_PER_POD, 80.0};

/* ---------------------------------------------------------------- one metric */

static void test_per_pod_metric_ratio(void)
{
    /* 4 pods at 160 % of an 80 % target: ratio 2.0, ceil(4 * 2.0) = 8. */
    CHECK_EQ(autoscale_replicas_for_metric(&util80, 0.1, 4, 160), 8);
    /* 4 pods at 40 %: ratio 0.5 -> 2. */
    CHECK_EQ(autoscale_replicas_for_metric(&util80, 0.1, 4, 40), 2);
    /* 84 %: ratio 1.05, inside the 10 % tolerance -> unchanged. */
    CHECK_EQ(autoscale_replicas_for_metric(&util80, 0.1, 4, 84), 4);
    /* 88 %: ratio 1.1 exactly; |1 - 1.1| <= 0.1 (as float: 0.10000000000000009 > 0.1, so
     * Go, like C, scales): ceil(4 * 1.1) = ceil(4.4000000000000004) = 5. */
    CHECK_EQ(autoscale_replicas_for_metric(&util80, 0.1, 4, 88), 5);
    /* 90 %: ratio 1.125 -> ceil(4.5) = 5. 3 pods at 100 %: 1.25 -> ceil(3.75) = 4. */
    CHECK_EQ(autoscale_replicas_for_metric(&util80, 0.1, 4, 90), 5);
    CHECK_EQ(autoscale_replicas_for_metric(&util80, 0.1, 3, 100), 4);
    /* 70 %: ratio 0.875 -> ceil(4 * 0.875) = ceil(3.5) = 4: a 12.5 % dip, outside the
     * tolerance, still keeps all 4 pods because the HPA rounds up. */
    CHECK_EQ(autoscale_replicas_for_metric(&util80, 0.1, 4, 70), 4);
    /* 10 pods at 50 %: 0.625 -> ceil(6.25) = 7. */
    CHECK_EQ(autoscale_replicas_for_metric(&util80, 0.1, 10, 50), 7);
    /* Unavailable metric: no change. No pods: no average, nothing proposed. */
    CHECK_EQ(autoscale_replicas_for_metric(&util80, 0.1, 4, NAN), 4);
    CHECK_EQ(autoscale_replicas_for_metric(&util80, 0.1, 0, 50), 0);
}

static void test_total_metric_ratio(void)
{
    /* External averageValue 4 per worker, 3 workers, lag 30: ratio 30 / 12 = 2.5, so
     * scale, to ceil(30 / 4) = 8 (not ceil(3 * 2.5) = 8 by accident: same here). */
    CHECK_EQ(autoscale_replicas_for_metric(&lag4, 0.1, 3, 30), 8);
    /* lag 13 with 3 workers: 13 / 12 = 1.083 inside tolerance -> 3. */
    CHECK_EQ(autoscale_replicas_for_metric(&lag4, 0.1, 3, 13), 3);
    /* lag 14: 1.167 -> ceil(14 / 4) = 4. */
    CHECK_EQ(autoscale_replicas_for_metric(&lag4, 0.1, 3, 14), 4);
    /* lag 0: 0 wanted (the range clamps it later). */
    CHECK_EQ(autoscale_replicas_for_metric(&lag4, 0.1, 3, 0), 0);
    /* Scale from zero: one waiting job wakes one worker; 9 wake three. */
    CHECK_EQ(autoscale_replicas_for_metric(&lag4, 0.1, 0, 1), 1);
    CHECK_EQ(autoscale_replicas_for_metric(&lag4, 0.1, 0, 9), 3);
    CHECK_EQ(autoscale_replicas_for_metric(&lag4, 0.1, 0, 0), 0);
    /* Tolerance 0 scales on any difference: 5 workers, lag 21 -> ceil(5.25) = 6. */
    CHECK_EQ(autoscale_replicas_for_metric(&lag4, 0.0, 5, 21), 6);
    CHECK_EQ(autoscale_replicas_for_metric(&lag4, 0.1, 5, -1), 5);
}

/* ---------------------------------------------------------------- config */

static void test_parse_range(void)
{
    struct autoscale_config c;
    autoscale_config_default(&c);
    CHECK_EQ(autoscale_config_check(&c), 0);
    CHECK_EQ(autoscale_parse_range(&c, "2:8"), 0);
    CHECK_EQ(c.min_replicas, 2);
    CHECK_EQ(c.max_replicas, 8);
    CHECK_EQ(autoscale_parse_range(&c, "0:3"), 0);
    CHECK_EQ(c.min_replicas, 0);
    CHECK_EQ(autoscale_parse_range(&c, "3:3"), 0);
    const char *bad[] = {"",     "3",    "3:",  ":3",     "4:2",  "0:0",  "-1:3",
                         "1:-3", "1:2x", "a:b", "1:1001", "1:+2", "1 :2", NULL};
    for (int i = 0; bad[i]; i++)
        CHECK_EQ(autoscale_parse_range(&c, bad[i]), -EINVAL);
    CHECK_EQ(c.min_replicas, 3); /* untouched by failures */
    CHECK_EQ(autoscale_parse_range(&c, NULL), -EINVAL);

    autoscale_config_default(&c);
    c.metrics[0].target = 0;
    CHECK_EQ(autoscale_config_check(&c), -EINVAL);
    autoscale_config_default(&c);
    c.scale_down.policies[0].period_s = 0;
    CHECK_EQ(autoscale_config_check(&c), -EINVAL);
    autoscale_config_default(&c);
    c.tolerance = 1.5;
    CHECK_EQ(autoscale_config_check(&c), -EINVAL);
    struct autoscale *a = (struct autoscale *)1;
    CHECK_EQ(autoscale_new(&a, &c, 0, 1), -EINVAL);
    CHECK(a == NULL);
    autoscale_free(NULL);
}

/* ---------------------------------------------------------------- behaviours */

/* A one-metric (lag, target 4) config with the given windows and no rate limit unless set. */
static void config_lag_only(struct autoscale_config *c, uint32_t min, uint32_t max)
{
    autoscale_config_default(c);
    c->min_replicas = min;
    c->max_replicas = max;
    c->n_metrics = 1;
    c->metrics[0] = lag4;
    c->sync_period_ms = 1000;
    c->scale_up.stabilization_window_s = 0;
    c->scale_up.n_policies = 1;
    c->scale_up.policies[0] = (struct autoscale_policy){AUTOSCALE_POLICY_PODS, 1000, 1};
    c->scale_down.stabilization_window_s = 0;
    c->scale_down.n_policies = 1;
    c->scale_down.policies[0] = (struct autoscale_policy){AUTOSCALE_POLICY_PODS, 1000, 1};
}

static uint32_t step1(struct autoscale *a, uint64_t t_s, uint32_t cur, double lag,
                      struct autoscale_decision *d)
{
    double v[1] = {lag};
    return autoscale_step(a, t_s * 1000, cur, v, d);
}

static void test_scale_up_policies_kubernetes_default(void)
{
    /* The HPA's default scale-up: max(100 % , 4 pods) per 15 s, no window.
     * From 1 replica wanting 10: max(ceil(1 * 2) = 2, 1 + 4 = 5) = 5.
     * 15 s later from 5 wanting 10: max(10, 9) = 10. */
    struct autoscale_config c;
    struct autoscale *a;
    struct autoscale_decision d;
    config_lag_only(&c, 1, 20);
    c.scale_up.n_policies = 2;
    c.scale_up.policies[0] = (struct autoscale_policy){AUTOSCALE_POLICY_PERCENT, 100, 15};
    c.scale_up.policies[1] = (struct autoscale_policy){AUTOSCALE_POLICY_PODS, 4, 15};
    CHECK_EQ(autoscale_new(&a, &c, 0, 1), 0);
    CHECK_EQ(step1(a, 0, 1, 40, &d), 5);
    CHECK_EQ(d.proposed, 10);
    CHECK_STR(d.reason, strlen(d.reason), "ScaleUpLimit");
    /* 5 s later the 4 pods added at t=0 still count: period start is 1 -> limit 5. */
    CHECK_EQ(step1(a, 5, 5, 40, &d), 5);
    /* At t=15 the event is exactly one period old: no longer "after the cutoff". */
    CHECK_EQ(step1(a, 15, 5, 40, &d), 10);
    CHECK_STR(d.reason, strlen(d.reason), "DesiredWithinRange");
    /* 10 replicas wanting 50 with max 20: max(20, 14) = 20, then the range caps. */
    CHECK_EQ(step1(a, 30, 10, 200, &d), 20);
    CHECK_STR(d.reason, strlen(d.reason), "TooManyReplicas");
    CHECK_EQ(d.proposed, 20);
    autoscale_free(a);

    /* selectPolicy Min picks the smaller allowance: min(2, 5) = 2. */
    c.scale_up.select = AUTOSCALE_SELECT_MIN;
    CHECK_EQ(autoscale_new(&a, &c, 0, 1), 0);
    CHECK_EQ(step1(a, 0, 1, 40, &d), 2);
    autoscale_free(a);
    /* Disabled: never up. */
    c.scale_up.select = AUTOSCALE_SELECT_DISABLED;
    CHECK_EQ(autoscale_new(&a, &c, 0, 1), 0);
    CHECK_EQ(step1(a, 0, 1, 40, &d), 1);
    autoscale_free(a);
}

static void test_scale_down_policies_docs_example(void)
{
    /* Kubernetes docs: scaleDown policies Pods 4 / 60 s and Percent 10 / 60 s, selectPolicy
     * Max (the biggest change). From 80: pods -> 76, percent -> 72: 72 wins.
     * From 10: pods -> 6, percent -> int(10 * 0.9) = 9: 6 wins. */
    struct autoscale_config c;
    struct autoscale *a;
    struct autoscale_decision d;
    config_lag_only(&c, 1, 100);
    c.scale_down.n_policies = 2;
    c.scale_down.policies[0] = (struct autoscale_policy){AUTOSCALE_POLICY_PODS, 4, 60};
    c.scale_down.policies[1] = (struct autoscale_policy){AUTOSCALE_POLICY_PERCENT, 10, 60};
    CHECK_EQ(autoscale_new(&a, &c, 0, 80), 0);
    CHECK_EQ(step1(a, 0, 80, 0, &d), 72);
    CHECK_STR(d.reason, strlen(d.reason), "ScaleDownLimit");
    /* 20 s later: 8 removed within the period, period start 80 again -> still 72. */
    CHECK_EQ(step1(a, 20, 72, 0, &d), 72);
    autoscale_free(a);

    CHECK_EQ(autoscale_new(&a, &c, 0, 10), 0);
    CHECK_EQ(step1(a, 0, 10, 0, &d), 6);
    /* One period later from 6: pods -> 2, percent -> int(5.4) = 5: 2, then min 1 is not hit. */
    CHECK_EQ(step1(a, 60, 6, 0, &d), 2);
    CHECK_EQ(step1(a, 120, 2, 0, &d), 1);
    CHECK_STR(d.reason, strlen(d.reason), "TooFewReplicas");
    autoscale_free(a);

    /* selectPolicy Min: the smaller change: max(76, 72) = 76 from 80. */
    c.scale_down.select = AUTOSCALE_SELECT_MIN;
    CHECK_EQ(autoscale_new(&a, &c, 0, 80), 0);
    CHECK_EQ(step1(a, 0, 80, 0, &d), 76);
    autoscale_free(a);
}

static void test_scale_down_counts_recent_scale_up(void)
{
    /* Upstream (horizontal.go, calculateScaleDownLimitWithBehaviors): the period-start count
     * is current - added + deleted within the period, so right after a burst the "1 pod per
     * 120 s" allowance is measured from the count BEFORE the scale-up. 1 -> 4 at t=0; at
     * t=20 start = 4 - 3 = 1, limit 0, range min 1: straight back to 1. (Seen for real with
     * `llmq up --autoscale 1:4 --autoscale-down-window-s 15`; with the default 300 s window
     * the scale-up has left the 120 s period before any scale-down is allowed.) */
    struct autoscale_config c;
    struct autoscale *a;
    config_lag_only(&c, 1, 4);
    c.scale_down.policies[0] = (struct autoscale_policy){AUTOSCALE_POLICY_PODS, 1, 120};
    CHECK_EQ(autoscale_new(&a, &c, 0, 1), 0);
    CHECK_EQ(step1(a, 0, 1, 40, NULL), 4);
    CHECK_EQ(step1(a, 20, 4, 0, NULL), 1);
    autoscale_free(a);
    /* Without the scale-up inside the period: one pod per 120 s. */
    CHECK_EQ(autoscale_new(&a, &c, 0, 4), 0);
    CHECK_EQ(step1(a, 0, 4, 0, NULL), 3);
    CHECK_EQ(step1(a, 60, 3, 0, NULL), 3);
    CHECK_EQ(step1(a, 120, 3, 0, NULL), 2);
    autoscale_free(a);
}

static void test_down_stabilization_window(void)
{
    /* Window 60 s, no rate limit: recommendations 8 (t=0), 5 (t=20), 3 (t=40), 2 (t=70),
     * 2 (t=90): the result is the largest recommendation of the last 60 s. */
    struct autoscale_config c;
    struct autoscale *a;
    struct autoscale_decision d;
    config_lag_only(&c, 1, 10);
    c.scale_down.stabilization_window_s = 60;
    CHECK_EQ(autoscale_new(&a, &c, 0, 8), 0); /* records 8 at t=0 (controller start) */
    CHECK_EQ(step1(a, 0, 8, 32, &d), 8);      /* 32 / 32 = 1: stay */
    CHECK_EQ(step1(a, 20, 8, 20, &d), 8);     /* wants 5; 8 is in the window */
    CHECK_STR(d.reason, strlen(d.reason), "ScaleDownStabilized");
    CHECK_EQ(d.proposed, 5);
    CHECK_EQ(step1(a, 40, 8, 12, &d), 8); /* wants 3 */
    CHECK_EQ(step1(a, 60, 8, 8, &d), 5);  /* t=0 samples left (not after 0): max(5,3,2) */
    CHECK_EQ(step1(a, 80, 5, 8, &d), 3);  /* 5@20 left: max(3@40, 2@60, 2@80) */
    CHECK_EQ(step1(a, 100, 3, 8, &d), 2);
    CHECK_EQ(step1(a, 110, 2, 40, &d), 10); /* up is immediate (window 0) */
    autoscale_free(a);
}

static void test_up_stabilization_window(void)
{
    /* An up-window of 30 s: scale up only to the smallest recommendation of the last 30 s,
     * i.e. the load must persist. */
    struct autoscale_config c;
    struct autoscale *a;
    config_lag_only(&c, 1, 10);
    c.scale_up.stabilization_window_s = 30;
    CHECK_EQ(autoscale_new(&a, &c, 0, 1), 0);
    CHECK_EQ(step1(a, 0, 1, 4, NULL), 1);
    CHECK_EQ(step1(a, 10, 1, 40, NULL), 1); /* min(1@0, 10@10) */
    CHECK_EQ(step1(a, 20, 1, 40, NULL), 1);
    CHECK_EQ(step1(a, 30, 1, 40, NULL), 10); /* 1@0 is 30 s old: gone */
    autoscale_free(a);
}

static void test_range_and_no_metrics(void)
{
    struct autoscale_config c;
    struct autoscale *a;
    struct autoscale_decision d;
    config_lag_only(&c, 2, 5);
    c.scale_down.stabilization_window_s = 300;
    CHECK_EQ(autoscale_new(&a, &c, 0, 3), 0);
    CHECK_EQ(step1(a, 0, 9, 0, &d), 5); /* above max: straight to max */
    CHECK_STR(d.reason, strlen(d.reason), "AboveMax");
    CHECK_EQ(step1(a, 1, 0, 0, &d), 2); /* below min: straight to min */
    CHECK_STR(d.reason, strlen(d.reason), "BelowMin");
    CHECK_EQ(step1(a, 2, 3, NAN, &d), 3); /* metric unavailable: hold */
    CHECK_STR(d.reason, strlen(d.reason), "NoMetrics");
    CHECK_EQ(autoscale_step(a, 3000, 3, NULL, &d), 3);
    /* A fresh controller does not scale down before its down-window passed. */
    CHECK_EQ(step1(a, 10, 3, 0, &d), 3);
    CHECK_EQ(step1(a, 301, 3, 0, &d), 2); /* every sample now recommends < 3 */
    CHECK_EQ(autoscale_config(a)->max_replicas, 5);
    autoscale_free(a);
}

static void test_max_of_metrics(void)
{
    /* Two metrics: the larger proposal wins. Lag 4 of target 4 per worker says 1, the
     * token backlog 40000 of 8192 per worker says 5; in_flight 30 of 6 says 5 too. */
    struct autoscale_config c;
    struct autoscale *a;
    struct autoscale_decision d;
    autoscale_config_default(&c);
    c.max_replicas = 8;
    double v[AUTOSCALE_M_DEFAULT_COUNT];
    v[AUTOSCALE_M_QUEUE_LAG] = 4;
    v[AUTOSCALE_M_BACKLOG_TOKENS] = 40000;
    v[AUTOSCALE_M_IN_FLIGHT] = 3;
    CHECK_EQ(autoscale_new(&a, &c, 0, 1), 0);
    CHECK_EQ(autoscale_step(a, 0, 1, v, &d), 5);
    CHECK_EQ(d.metric, AUTOSCALE_M_BACKLOG_TOKENS);
    /* Busy but no lag: in_flight 30 over 5 workers (target 6) holds 5 even as lag is 0. */
    v[AUTOSCALE_M_QUEUE_LAG] = 0;
    v[AUTOSCALE_M_BACKLOG_TOKENS] = 0;
    v[AUTOSCALE_M_IN_FLIGHT] = 30;
    CHECK_EQ(autoscale_step(a, 600000, 5, v, &d), 5);
    CHECK_EQ(d.metric, AUTOSCALE_M_IN_FLIGHT);
    autoscale_free(a);
}

/* ---------------------------------------------------------------- a burst, simulated clock */

static void test_burst_scales_up_then_down(void)
{
    /* The defaults (scale-up: +100 % or +4 per 60 s, no window; scale-down: 300 s window,
     * 1 pod per 120 s), range 1:8, sync 15 s. A burst keeps 60 jobs waiting for 3 minutes
     * (each worker drains 1 job/s of it), then the queue is empty and idle. */
    struct autoscale_config c;
    struct autoscale *a;
    struct autoscale_decision d;
    autoscale_config_default(&c);
    c.max_replicas = 8;
    uint32_t cur = 1, peak = 0;
    uint64_t t_max_ms = 0, t_idle_ms = 0, t_min_ms = 0;
    double backlog = 0;
    int changes = 0;

    CHECK_EQ(autoscale_new(&a, &c, 0, cur), 0);
    for (uint64_t t = 0; t <= 1800000; t += c.sync_period_ms) {
        if (t >= 60000 && t < 240000)
            backlog = 60; /* arrivals keep it topped up */
        else if (t >= 240000)
            backlog = backlog > cur * 15.0 ? backlog - cur * 15.0 : 0;
        if (t >= 240000 && backlog == 0 && !t_idle_ms) t_idle_ms = t;
        double v[AUTOSCALE_M_DEFAULT_COUNT] = {backlog, backlog * 300, backlog > 0 ? cur * 6.0 : 0};
        uint32_t want = autoscale_step(a, t, cur, v, &d);
        CHECK(want >= c.min_replicas && want <= c.max_replicas);
        if (want != cur) changes++;
        cur = want;
        if (cur > peak) peak = cur;
        if (cur == 8 && !t_max_ms) t_max_ms = t;
        if (t_max_ms && cur == 1 && !t_min_ms) t_min_ms = t;
    }
    /* Up: at t=60 s 1 -> 5 (max(2, 1+4)); the +4 event is exactly one period old at 120 s,
     * then max(10, 9) capped at 8. So the pool is at max within 60 s of the burst. */
    CHECK_EQ(peak, 8);
    CHECK_EQ(t_max_ms, 120000);
    /* Down: nothing before the 300 s window after the last busy recommendation, then one
     * worker per 120 s: 7 steps of 120 s after the window. */
    CHECK(t_idle_ms > 0);
    CHECK(t_min_ms >= t_idle_ms + 300000);
    CHECK(t_min_ms <= t_idle_ms + 300000 + 7 * 120000 + 15000);
    CHECK_EQ(cur, 1);
    CHECK(changes <= 9); /* 2 up, 7 down: no flapping */
    autoscale_free(a);
}

static void test_scale_to_zero_and_back(void)
{
    /* keda-like range 0:4: idle scales to zero after the window; one waiting request
     * (lag 1) wakes one worker at the next sync. */
    struct autoscale_config c;
    struct autoscale *a;
    config_lag_only(&c, 0, 4);
    c.scale_down.stabilization_window_s = 60;
    CHECK_EQ(autoscale_new(&a, &c, 0, 2), 0);
    uint32_t cur = 2;
    for (uint64_t t = 0; t <= 60; t += 5)
        cur = step1(a, t, cur, 0, NULL);
    CHECK_EQ(cur, 0);
    CHECK_EQ(step1(a, 65, 0, 0, NULL), 0);
    CHECK_EQ(step1(a, 70, 0, 1, NULL), 1);
    autoscale_free(a);
}

/* ---------------------------------------------------------------- lanes */

static void test_queue_totals_sum_lanes(void)
{
    double lag, fl;
    /* 3 waiting per lane: the total (9) drives the lag metric -> ceil(9 / 4) = 3 workers;
     * one metric per lane would give the HPA's max, ceil(3 / 4) = 1. */
    struct autoscale_lane l3[3] = {{1, 3, 2, 5}, {1, 3, 0, 3}, {1, 3, 1, 4}};
    autoscale_queue_totals(l3, 3, &lag, &fl);
    CHECK(lag == 9.0);
    CHECK(fl == 3.0);
    CHECK_EQ(autoscale_replicas_for_metric(&lag4, 0.1, 0, lag), 3);
    CHECK_EQ(autoscale_replicas_for_metric(&lag4, 0.1, 0, 3), 1);
    /* Only the high lane has work: a pool at zero still wakes. */
    struct autoscale_lane hi[3] = {{1, 1, 0, 1}, {1, 0, 0, 0}, {1, 0, 0, 0}};
    autoscale_queue_totals(hi, 3, &lag, &fl);
    CHECK(lag == 1.0);
    CHECK_EQ(autoscale_replicas_for_metric(&lag4, 0.1, 0, lag), 1);
    /* Nil lag after an out-of-order XDEL (XLEN 3, 1 running): 2 waiting. A group-less lane
     * counts its XLEN; a nil lag never goes negative. */
    struct autoscale_lane nil[3] = {{1, -1, 1, 3}, {0, 0, 0, 2}, {1, -1, 4, 3}};
    autoscale_queue_totals(nil, 3, &lag, &fl);
    CHECK(lag == 4.0);
    CHECK(fl == 5.0);
    autoscale_queue_totals(NULL, 0, &lag, &fl);
    CHECK(lag == 0.0 && fl == 0.0);
}

int main(void)
{
    TEST_RUN(test_per_pod_metric_ratio);
    TEST_RUN(test_total_metric_ratio);
    TEST_RUN(test_parse_range);
    TEST_RUN(test_scale_up_policies_kubernetes_default);
    TEST_RUN(test_scale_down_policies_docs_example);
    TEST_RUN(test_scale_down_counts_recent_scale_up);
    TEST_RUN(test_down_stabilization_window);
    TEST_RUN(test_up_stabilization_window);
    TEST_RUN(test_range_and_no_metrics);
    TEST_RUN(test_max_of_metrics);
    TEST_RUN(test_burst_scales_up_then_down);
    TEST_RUN(test_scale_to_zero_and_back);
    TEST_RUN(test_queue_totals_sum_lanes);
    TEST_MAIN_END();
}
