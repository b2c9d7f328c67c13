/* err.h -- llmq's error codes and the error-with-detail carrier.
 * Fallible functions return 0 or a negative value: a negative errno (-ENOMEM, -EINVAL, the
 * same values libuv returns) or one of the negative LLMQ_E* domain codes below.
 * err_str() names either kind. */
#ifndef LLMQ_ERR_H
#define LLMQ_ERR_H

#include <errno.h>
#include <stddef.h>

enum {
    LLMQ_EBASE = -10000,
    LLMQ_EFORMAT,        /* malformed input: JSON, frame, file format */
    LLMQ_EUNSUPPORTED,   /* well-formed but not supported (architecture, tensor type) */
    LLMQ_EOVERLOADED,    /* queue or stream bound reached: 503 */
    LLMQ_EUNAUTHORIZED,  /* missing or wrong API key: 401 */
    LLMQ_ERATELIMITED,   /* per-key rate limit: 429 */
    LLMQ_ETIMEOUT,       /* deadline passed: 504 */
    LLMQ_ECANCELLED,     /* request cancelled by its client */
    LLMQ_EREDIS,         /* Redis unreachable or answered an error */
    LLMQ_ETOOLARGE,      /* body or prompt over its limit: 413 */
    LLMQ_ENOTFOUND,      /* unknown request id, model, key */
};

/* Static text for rc (negative errno or LLMQ_E*); never NULL. */
const char *err_str(int rc);

/* A code plus a human sentence naming what is wrong ("tensor blk.3.attn_q.weight: offset
 * past end of file"), for constructors whose caller needs the detail. */
struct err {
    int code;
    char msg[256];
};

/* Sets e->code = code and formats msg; returns code so callers can `return err_set(...)`.
 * e may be NULL (then only code is returned). */
int err_set(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
