/* proc.c -- process facts read from the kernel: CPU seconds and resident memory. Used by
 * /metrics (process_* gauges) and by benchmarks that report CPU per token. */
#include "common/clock.h"

#include <sys/resource.h>

double clock_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}
