/* llama_engine.c -- PLACEHOLDER until the engine helper writes the llama engine ops. */
#include "engine/engine.h"

static int open_stub(struct engine *eng, const struct engine_config *cfg, struct err *e)
{ return err_set(e, LLMQ_EUNSUPPORTED, "llama engine not built yet"); }

const struct engine_ops llama_engine_ops = { .kind = "llama", .open = open_stub };
