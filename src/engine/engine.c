/* engine.c -- picks an engine by name and forwards the engine.h calls to its table.
 * Adding an engine = one file defining a struct engine_ops + one line in engines[]. */
#include "engine/engine.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct engine_ops synthetic_engine_ops;
extern const struct engine_ops llama_engine_ops;
extern const struct engine_ops upstream_engine_ops;

static const struct engine_ops *const engines[] = { &synthetic_engine_ops, &llama_engine_ops,
                                                     &upstream_engine_ops };

int engine_open(struct engine **out, const struct engine_config *cfg, struct err *e)
{
    const struct engine_ops *ops = NULL;
    for (size_t i = 0; i < sizeof(engines) / sizeof(engines[0]); i++)
        if (cfg->kind && !strcmp(engines[i]->kind, cfg->kind)) ops = engines[i];
    if (!ops)
        return err_set(e, LLMQ_EUNSUPPORTED,
                       "unknown engine '%s' (known: synthetic, llama, upstream)",
                       cfg->kind ? cfg->kind : "(none)");
    struct engine *eng = xcalloc(1, sizeof(*eng));
    eng->ops = ops;
    eng->max_batch = cfg->max_batch > 0 ? cfg->max_batch : 1;
    if (cfg->model_name) snprintf(eng->model_name, sizeof(eng->model_name), "%s", cfg->model_name);
    int rc = ops->open(eng, cfg, e);
    if (rc < 0) {
        free(eng);
        return rc;
    }
    if (!eng->model_name[0]) snprintf(eng->model_name, sizeof(eng->model_name), "%s", ops->kind);
    *out = eng;
    return 0;
}

void engine_free(struct engine *eng)
{
    if (!eng) return;
    eng->ops->close(eng);
    free(eng);
}

const char *engine_model_name(const struct engine *eng) { return eng->model_name; }
int engine_max_batch(const struct engine *eng) { return eng->max_batch; }

int engine_seq_new(struct engine *eng, const struct engine_request *req,
                   struct engine_seq **out, struct err *e)
{
    return eng->ops->seq_new(eng, req, out, e);
}

int engine_seq_prompt_tokens(const struct engine_seq *seq)
{
    /* Every engine's sequence struct starts with its ops pointer (see engine.h). */
    const struct engine_ops *ops = *(const struct engine_ops *const *)seq;
    return ops->seq_prompt_tokens(seq);
}

void engine_seq_free(struct engine *eng, struct engine_seq *seq)
{
    if (seq) eng->ops->seq_free(eng, seq);
}

int engine_step(struct engine *eng, struct engine_seq *const *seqs, int n, struct engine_output *out)
{
    return eng->ops->step(eng, seqs, n, out);
}
