/* synthetic.c -- PLACEHOLDER until the worker helper writes the synthetic engine. */
#include "engine/engine.h"

static int open_stub(struct engine *eng, const struct engine_config *cfg, struct err *e)
{ return err_set(e, LLMQ_EUNSUPPORTED, "synthetic engine not built yet"); }

const struct engine_ops synthetic_engine_ops = { .kind = "synthetic", .open = open_stub };
