/* sampler.h -- token selection for one sequence: penalties, top-k, top-p, min-p,
 * temperature, then a draw from the sequence's own RNG (xoshiro256** seeded from the
 * request seed), so the same seed and logits give the same tokens whatever else is in the
 * batch. The API is llama.h's llama_sampler_*; this header only documents the order:
 *   penalties (repetition: divide positive / multiply negative logits; presence and
 *   frequency: subtract) over the last penalty_last_n accepted tokens
 *   -> temperature <= 0: argmax (ties -> lowest id)
 *   -> top-k -> softmax -> top-p -> min-p (both on untempered probabilities, as
 *      llama.cpp's default chain) -> temperature -> draw. */
#ifndef LLMQ_LLAMA_SAMPLER_H
#define LLMQ_LLAMA_SAMPLER_H

#include "engine/llama/llama.h"

#endif
