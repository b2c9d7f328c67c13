/* autoscale_dump.c -- prints the defaults of `llmq up --autoscale` (src/up/autoscale.c) as
 * JSON, so tests/deploy/expect.js can check that llama-worker-hpa and the KEDA ScaledObject
 * promise the same numbers the local autoscaler runs. */
#include <stdio.h>

#include "up/autoscale.h"

static const char *select_name(enum autoscale_select s)
{
    return s == AUTOSCALE_SELECT_MAX ? "Max" : s == AUTOSCALE_SELECT_MIN ? "Min" : "Disabled";
}

static void rules(const char *name, const struct autoscale_rules *r, const char *sep)
{
    printf("\"%s\":{\"stabilizationWindowSeconds\":%u,\"selectPolicy\":\"%s\",\"policies\":[", name,
           r->stabilization_window_s, select_name(r->select));
    for (uint32_t i = 0; i < r->n_policies; i++)
        printf("%s{\"type\":\"%s\",\"value\":%u,\"periodSeconds\":%u}", i ? "," : "",
               r->policies[i].type == AUTOSCALE_POLICY_PODS ? "Pods" : "Percent",
               r->policies[i].value, r->policies[i].period_s);
    printf("]}%s", sep);
}

int main(void)
{
    struct autoscale_config c;
    autoscale_config_default(&c);
    printf(
        "{\"minReplicas\":%u,\"maxReplicas\":%u,\"tolerance\":%g,\"syncPeriodMs\":%u,\"metrics\":{",
        c.min_replicas, c.max_replicas, c.tolerance, c.sync_period_ms);
    for (uint32_t i = 0; i < c.n_metrics; i++)
        printf("%s\"%s\":%g", i ? "," : "", c.metrics[i].name, c.metrics[i].target);
    printf("},\"behavior\":{");
    rules("scaleUp", &c.scale_up, ",");
    rules("scaleDown", &c.scale_down, "");
    printf("}}\n");
    return 0;
}
