/* tokenizer.h -- text <-> token ids from a GGUF file's tokenizer.ggml.* metadata.
 * Two families: "llama" (SentencePiece-style BPE over scores, with byte fallback) and "gpt2"
 * (byte-level BPE over merges, with the pre-tokenizer named by tokenizer.ggml.pre).
 * Also the streaming detokenizer that never emits half a UTF-8 character.
 * Chat templating lives in chat.h. */
#ifndef LLMQ_TOKENIZER_H
#define LLMQ_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/llama/gguf.h"

struct tokenizer;

/* Builds the tokenizer from f's metadata (copies what it keeps: f may be closed after).
 * Errors name the bad key: LLMQ_EFORMAT, LLMQ_EUNSUPPORTED (unknown model or pre-tokenizer). */
int tokenizer_new(struct tokenizer **out, const struct gguf_file *f, struct err *e);
void tokenizer_free(struct tokenizer *t);                 /* NULL is a no-op */

int tokenizer_vocab_size(const struct tokenizer *t);
int32_t tokenizer_bos(const struct tokenizer *t);          /* -1 when none */
int32_t tokenizer_eos(const struct tokenizer *t);          /* -1 when none */
int tokenizer_add_bos(const struct tokenizer *t);          /* does the model want BOS on prompts */
/* End-of-generation: EOS, EOT, <|im_end|>, <|eot_id|>, ... */
int tokenizer_is_eog(const struct tokenizer *t, int32_t id);

/* Encodes len bytes of text. add_bos prepends BOS (when the model has one). parse_special
 * makes special-token text ("<|im_start|>") map to its token; otherwise it is plain text.
 * Writes at most cap ids; returns the number of ids the whole text needs (may exceed cap:
 * call again with a larger array), or < 0 on error. */
int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, int add_bos,
                     int parse_special, int32_t *out, int cap);

/* The bytes a token stands for when decoded (byte tokens <0x41> give one byte, "▁" gives a
 * space, byte-level BPE pieces are mapped back to bytes; control tokens give ""). Valid as
 * long as t. */
const char *tokenizer_piece(const struct tokenizer *t, int32_t id, size_t *len);

/* Streaming detokenizer: feed ids one by one, get text that ends on a UTF-8 boundary.
 * Embedded by the caller (init/deinit). */
struct detok {
    const struct tokenizer *t;   /* borrowed */
    int first;                   /* SPM: strip the leading space of the first piece */
    char pending[8];             /* bytes of an incomplete UTF-8 character */
    int n_pending;
    char out[256];               /* last emitted text (pieces are short) */
};
void detok_init(struct detok *d, const struct tokenizer *t);
/* Returns the bytes that became complete with id (possibly 0), in d->out, length in *len.
 * Bytes that can never form a valid character are emitted as U+FFFD. */
const char *detok_push(struct detok *d, int32_t id, size_t *len);
/* Flushes what is pending at the end of a stream (as U+FFFD). */
const char *detok_flush(struct detok *d, size_t *len);

#endif
