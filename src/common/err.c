/* err.c -- names for error codes; the one place that turns an rc into text. */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *err_str(int rc)
{
    switch (rc) {
    case 0: return "ok";
    case LLMQ_EFORMAT: return "malformed input";
    case LLMQ_EUNSUPPORTED: return "unsupported";
    case LLMQ_EOVERLOADED: return "overloaded";
    case LLMQ_EUNAUTHORIZED: return "unauthorized";
    case LLMQ_ERATELIMITED: return "rate limited";
    case LLMQ_ETIMEOUT: return "timeout";
    case LLMQ_ECANCELLED: return "cancelled";
    case LLMQ_EREDIS: return "redis unavailable";
    case LLMQ_ETOOLARGE: return "too large";
    case LLMQ_ENOTFOUND: return "not found";
    }
    if (rc < 0 && rc > LLMQ_EBASE)
        return strerror(-rc);
    return "unknown error";
}

int err_set(struct err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        e->code = code;
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}
