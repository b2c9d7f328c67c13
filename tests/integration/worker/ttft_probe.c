/* ttft_probe.c -- the worker's share of time to first token, one stream at a time. Plays the
 * gateway against a running llmq-worker: XADD one job (enq_us = now) to P jobs, wait on
 * P gw:probe for its r, first t and d records, repeat. Prints percentiles of
 *   queue   enq_us -> the worker's dequeued_us (its queue_ms: read + delivery checks)
 *   running enq_us -> r record received here
 *   ttft    enq_us -> first t record received here
 * Subtract the engine's own step time (--step-ms) from ttft for the platform's share.
 * Not a ctest (timings): usage: worker_ttft_probe PORT PREFIX [N (200)] [MAX_TOKENS (4)] */
#include "queue/event.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static unsigned long long now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (unsigned long long)tv.tv_sec * 1000000ull + (unsigned long long)tv.tv_usec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp);
    printf("%-8s p50 %.3f ms  p90 %.3f ms  min %.3f ms\n", name, v[n / 2] / 1e3,
           v[(n * 9) / 10] / 1e3, v[0] / 1e3);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: worker_ttft_probe PORT PREFIX [N] [MAX_TOKENS]\n");
        return 2;
    }
    int port = atoi(argv[1]), n = argc > 3 ? atoi(argv[3]) : 200;
    int max_tokens = argc > 4 ? atoi(argv[4]) : 4;
    const char *prefix = argv[2];
    struct timeval tmo = {5, 0};
    redisContext *cmd = redisConnectWithTimeout("127.0.0.1", port, tmo);
    redisContext *sub = redisConnectWithTimeout("127.0.0.1", port, tmo);
    if (!cmd || cmd->err || !sub || sub->err) {
        fprintf(stderr, "cannot connect to redis on %d\n", port);
        return 1;
    }
    redisSetTimeout(sub, tmo);
    redisReply *r = redisCommand(sub, "SUBSCRIBE %sgw:probe", prefix);
    freeReplyObject(r);
    double *q = calloc((size_t)n, sizeof(double)), *run = calloc((size_t)n, sizeof(double));
    double *tt = calloc((size_t)n, sizeof(double));
    int got = 0;
    for (int i = 0; i < n + 5; i++) { /* the first 5 warm up */
        char id[32], req[128], enq[24];
        snprintf(id, sizeof(id), "probe%d-%llu", i, now_us());
        snprintf(req, sizeof(req), "{\"prompt\":\"p\",\"max_tokens\":%d,\"seed\":%d}", max_tokens,
                 i);
        unsigned long long t0 = now_us();
        snprintf(enq, sizeof(enq), "%llu", t0);
        r = redisCommand(cmd, "XADD %sjobs * id %s gw probe req %s enq_us %s", prefix, id, req,
                         enq);
        freeReplyObject(r);
        unsigned long long deq = 0, t_r = 0, t_t = 0;
        int done = 0;
        while (!done) {
            void *rep = NULL;
            if (redisGetReply(sub, &rep) != REDIS_OK || !rep) {
                fprintf(stderr, "no event for %s within 5 s\n", id);
                return 1;
            }
            unsigned long long t = now_us();
            redisReply *m = rep;
            if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
                m->element[2]->type == REDIS_REPLY_STRING) {
                struct event_reader er;
                struct event ev;
                struct err e = {0};
                event_reader_init(&er, m->element[2]->str, m->element[2]->len);
                while (event_next(&er, &ev, &e) == 1) {
                    if (ev.id_len != strlen(id) || memcmp(ev.id, id, ev.id_len)) continue;
                    if (ev.kind == EVENT_KIND_RUNNING) {
                        t_r = t;
                        const char *p = memmem(ev.payload, ev.payload_len, "\"dequeued_us\":", 14);
                        if (p) deq = strtoull(p + 14, NULL, 10);
                    } else if (ev.kind == EVENT_KIND_TOKENS && !t_t) {
                        t_t = t;
                    } else if (ev.kind == EVENT_KIND_DONE || ev.kind == EVENT_KIND_ERROR) {
                        done = 1;
                    }
                }
            }
            freeReplyObject(rep);
        }
        if (i < 5) continue;
        q[got] = deq > t0 ? (double)(deq - t0) : 0;
        run[got] = t_r > t0 ? (double)(t_r - t0) : 0;
        tt[got] = t_t > t0 ? (double)(t_t - t0) : 0;
        got++;
    }
    printf("%d jobs, one at a time\n", got);
    report("queue", q, got);
    report("running", run, got);
    report("ttft", tt, got);
    redisFree(cmd);
    redisFree(sub);
    free(q);
    free(run);
    free(tt);
    return 0;
}
