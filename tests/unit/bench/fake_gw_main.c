/* fake_gw_main.c -- runs the fake gateway alone, to measure llmq-bench's own ceiling:
 *   bench-fake-gw STEP_MS TOKENS_PER_STEP [MERGE]   prints the port, serves until killed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fake_gw.h"

int main(int argc, char **argv)
{
    struct fake_gw_cfg c = { .step_ms = argc > 1 ? atof(argv[1]) : 1,
                             .tokens_per_step = argc > 2 ? atoi(argv[2]) : 1,
                             .merge = argc > 3 ? atoi(argv[3]) : 0 };
    signal(SIGPIPE, SIG_IGN);
    struct fake_gw *g = fake_gw_start(&c);
    if (!g) return 1;
    printf("%d\n", fake_gw_port(g));
    fflush(stdout);
    pause();
    fake_gw_stop(g);
    return 0;
}
