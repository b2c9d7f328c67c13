/* prompt.h -- seed text for benchmark prompts of a requested token length.
 * A corpus of varied English-like prose (sentences of mixed length over a few hundred words
 * from many topics, numbers, punctuation, paragraphs) is generated once from a seed; each
 * prompt is a slice of it starting at a random word, so prompts differ from each other
 * (no accidental prefix caching) yet replay identically for the same seed. Length is in
 * words: tokens * 3 / 4 (the usual "100 tokens ~ 75 words" of BPE tokenizers on English). */
#ifndef LLMQ_BENCH_PROMPT_H
#define LLMQ_BENCH_PROMPT_H

#include <stddef.h>
#include <stdint.h>

#include "bench/rng.h"

struct prompt_corpus {
    char *text;            /* owned; words separated by single spaces or newlines */
    size_t len;
    uint32_t *word_at;     /* owned; byte offset of each word */
    size_t n_words;
};

/* Generates about n_words words (at least 1000). */
void prompt_corpus_init(struct prompt_corpus *c, size_t n_words, uint64_t seed);
void prompt_corpus_deinit(struct prompt_corpus *c);
/* Words in a prompt of the given token count (>= 1). */
size_t prompt_words_for_tokens(int tokens);
/* A slice of the corpus holding about `tokens` tokens, starting at a word drawn from r;
 * capped at the corpus size. The pointer is borrowed from the corpus. */
void prompt_pick(const struct prompt_corpus *c, int tokens, struct rng *r, const char **text,
                 size_t *len);

#endif
