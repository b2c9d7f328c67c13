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
};

/* Classifies a template text (NULL or empty: CHATML is NOT assumed; returns UNKNOWN). */
enum chat_format chat_detect(const char *tmpl, size_t len);
const char *chat_format_name(enum chat_format f);

/* Appends the prompt for msgs to out, ending with the assistant's turn opener
 * (add_generation_prompt). bos/eos are the model's token texts, used by formats that
 * spell them. Returns 0 or LLMQ_EUNSUPPORTED / LLMQ_EFORMAT (unknown role) with e set. */
int chat_render(enum chat_format f, const struct engine_message *msgs, int n, const char *bos,
                const char *eos, struct buf *out, struct err *e);

#endif
