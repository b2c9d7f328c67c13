/* tokenizer_pre.h -- byte-level BPE pre-tokenizers: split text (as code points) into the
 * words that BPE merges never cross. Private to tokenizer.c. */
#ifndef LLMQ_TOKENIZER_PRE_H
#define LLMQ_TOKENIZER_PRE_H

#include <stddef.h>
#include <stdint.h>

enum tok_pre {
    TOK_PRE_DEFAULT, TOK_PRE_LLAMA3, TOK_PRE_QWEN2, TOK_PRE_DEEPSEEK_LLM, TOK_PRE_DEEPSEEK_CODER,
    TOK_PRE_FALCON, TOK_PRE_GPT2, TOK_PRE_STARCODER,
};

/* Maps a tokenizer.ggml.pre name to its splitter; -1 when unknown. *ignore_merges is set for
 * the pre-tokenizers whose words are looked up whole before merging (llama3). */
int tok_pre_from_name(const char *name, size_t len, int *ignore_merges);

/* Splits cps[0..n) into words. Writes each word's end offset (exclusive, in code points)
 * to ends, which must hold n entries, and returns the number of words (0 when n == 0).
 * tmp is scratch space of n entries. Never fails. */
size_t tok_pre_split(enum tok_pre pre, const uint32_t *cps, size_t n, size_t *ends, size_t *tmp);

#endif
