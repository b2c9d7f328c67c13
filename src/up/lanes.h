/* lanes.h -- the job streams of the priority lanes (docs/QUEUE.md "Priority lanes"), as
 * `llmq up` (autoscale), `llmq status` and `llmq dlq` need them: <prefix>jobs:high,
 * <prefix>jobs, <prefix>jobs:low, one consumer group "workers" on each. Mirrors
 * src/queue/keys.h (keys_lane, keys_lane_of) without linking the queue library and libuv. */
#ifndef LLMQ_UP_LANES_H
#define LLMQ_UP_LANES_H

#define UP_LANES 3
/* Appended to "<prefix>jobs"; the normal lane keeps the old name. Order = service order. */
static const char *const up_lane_suffix[UP_LANES] = { ":high", "", ":low" };
static const char *const up_lane_name[UP_LANES] = { "high", "normal", "low" };

/* The lane index of a request priority: > 0 high, 0 normal, < 0 low. */
static inline int up_lane_of(long long priority)
{
    return priority > 0 ? 0 : priority < 0 ? 2 : 1;
}

#endif
