/* chat.h -- turns chat messages into prompt text with the model's tokenizer.chat_template.
 * Recognises the common families (ChatML, Llama 3, Llama 2, Zephyr-style, ...) by the
 * template's distinctive markers and renders them in C; an unrecognised template is an
 * error (LLMQ_EUNSUPPORTED), never a silently wrong prompt. */
#ifndef LLMQ_CHAT_H
#define LLMQ_CHAT_H

#include "common/buf.h"
#include "common/err.h"
#include "engine/engine.h"

enum chat_format {
    CHAT_FORMAT_UNKNOWN = 0, CHAT_FORMAT_CHATML, CHAT_FORMAT_LLAMA3, CHAT_FORMAT_LLAMA2,
    CHAT_FORMAT_ZEPHYR,
    CHAT_FORMAT_LLAMA31,       /* Llama 3.1/3.2: Llama 3 plus the "Cutting Knowledge Date" system block */
    CHAT_FORMAT_PHI3,          /* <|user|> ... <|end|> */
};

/* Classifies a template text (NULL or empty: CHATML is NOT assumed; returns UNKNOWN). */
enum chat_format chat_detect(const char *tmpl, size_t len);
const char *chat_format_name(enum chat_format f);

/* Appends the prompt for msgs to out, ending with the assistant's turn opener
 * (add_generation_prompt). bos/eos are the model's token texts, used by formats that
 * spell them. Returns 0 or LLMQ_EUNSUPPORTED / LLMQ_EFORMAT (unknown role) with e set. */
int chat_render(enum chat_format f, const struct engine_message *msgs, int n, const char *bos,
                const char *eos, struct buf *out, struct err *e);

/* The prompt never starts with BOS: tokenize it with tokenizer_encode(add_bos =
 * tokenizer_add_bos(t), parse_special = 1) so BOS comes from the tokenizer once and the
 * format's markers (<|im_start|>, [INST] after </s><s>, ...) become their special tokens. */

/* What a template needs beyond its format, read from the template text by chat_template_parse:
 * Qwen-style ChatML templates insert a default system message when the request has none,
 * Llama 3.2 stamps today's date where 3.1 uses a fixed one. Plain data, no ownership. */
struct chat_template {
    enum chat_format format;
    char default_system[512];  /* ChatML: system text used when msgs has none ("" = none) */
    int date_today;            /* LLAMA31: "Today Date" is the current UTC date, not 26 Jul 2024 */
};

/* Classifies tmpl and extracts the extras above. Returns 0, or LLMQ_EUNSUPPORTED (unknown
 * template, e names the reason) with out->format = CHAT_FORMAT_UNKNOWN. */
int chat_template_parse(struct chat_template *out, const char *tmpl, size_t len, struct err *e);
/* chat_render with the template's extras. */
int chat_template_render(const struct chat_template *ct, const struct engine_message *msgs, int n,
                         const char *bos, const char *eos, struct buf *out, struct err *e);

#endif
