/* chat.c -- chat messages -> prompt text, for the template families models actually ship.
 * No Jinja interpreter: each family is recognised by markers in tokenizer.chat_template and
 * rendered by a few lines of C that reproduce what Hugging Face's Jinja rendering of the real
 * template produces (minus the leading BOS, which the tokenizer adds). Anything else is
 * LLMQ_EUNSUPPORTED rather than a prompt the model was never trained on.
 *
 *   ChatML   <|im_start|>role\ncontent<|im_end|>\n ... <|im_start|>assistant\n
 *   Llama 3  <|start_header_id|>role<|end_header_id|>\n\ntrim(content)<|eot_id|> ...
 *   Llama 2  [INST] <<SYS>>\nsys\n<</SYS>>\n\nuser [/INST] answer </s><s>[INST] ...
 *   Zephyr   <|role|>\ncontent</s>\n ... <|assistant|>\n
 *   Phi-3    <|role|>\ncontent<|end|>\n ... <|assistant|>\n
 */
#include "engine/llama/chat.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int has(const char *t, size_t n, const char *needle)
{
    return t && memmem(t, n, needle, strlen(needle)) != NULL;
}

enum chat_format chat_detect(const char *tmpl, size_t len)
{
    if (!tmpl || len == 0) return CHAT_FORMAT_UNKNOWN;
    if (has(tmpl, len, "<|im_start|>")) return CHAT_FORMAT_CHATML;
    if (has(tmpl, len, "<|start_header_id|>"))
        return has(tmpl, len, "Cutting Knowledge Date") ? CHAT_FORMAT_LLAMA31 : CHAT_FORMAT_LLAMA3;
    if (has(tmpl, len, "[INST]")) return has(tmpl, len, "<<SYS>>") ? CHAT_FORMAT_LLAMA2 : CHAT_FORMAT_UNKNOWN;
    if (has(tmpl, len, "<|user|>") && has(tmpl, len, "<|end|>")) return CHAT_FORMAT_PHI3;
    if (has(tmpl, len, "<|user|>") && has(tmpl, len, "<|assistant|>") &&
        (has(tmpl, len, "eos_token") || has(tmpl, len, "</s>")))
        return CHAT_FORMAT_ZEPHYR;
    return CHAT_FORMAT_UNKNOWN;
}

const char *chat_format_name(enum chat_format f)
{
    switch (f) {
    case CHAT_FORMAT_CHATML: return "chatml";
    case CHAT_FORMAT_LLAMA3: return "llama3";
    case CHAT_FORMAT_LLAMA31: return "llama3.1";
    case CHAT_FORMAT_LLAMA2: return "llama2";
    case CHAT_FORMAT_ZEPHYR: return "zephyr";
    case CHAT_FORMAT_PHI3: return "phi3";
    case CHAT_FORMAT_UNKNOWN: break;
    }
    return "unknown";
}

/* Finds the literal default system prompt of a Qwen/SmolLM-style template:
 * '<|im_start|>system\nTEXT<|im_end|>\n' inside one Jinja string literal. The newline may be
 * written as an escape (\n, as most tokenizer_config.json files decode to) or as a real one. */
static void find_default_system(const char *t, size_t n, char *out, size_t cap)
{
    static const char open[] = "<|im_start|>system", close[] = "<|im_end|>";
    const char *p = t, *end = t + n;
    out[0] = 0;
    while ((p = memmem(p, (size_t)(end - p), open, sizeof(open) - 1))) {
        char quote = p > t ? p[-1] : 0;
        const char *s = p + sizeof(open) - 1;
        p = s;
        if (quote != '\'' && quote != '"') continue;
        if (end - s >= 2 && s[0] == '\\' && s[1] == 'n') s += 2;
        else if (end - s >= 1 && s[0] == '\n') s += 1;
        else continue;
        const char *c = memmem(s, (size_t)(end - s), close, sizeof(close) - 1);
        if (!c || c == s) continue;
        size_t o = 0;
        int ok = 1;
        for (const char *q = s; q < c && ok; q++) {
            if (*q == quote || (*q == '{' && q + 1 < c && (q[1] == '{' || q[1] == '%'))) ok = 0;   /* literal ended */
            else if (*q == '\\' && q + 1 < c) {
                q++;
                char ch = *q == 'n' ? '\n' : *q == 't' ? '\t' : *q;
                if (o + 1 < cap) out[o++] = ch;
            } else if (o + 1 < cap) {
                out[o++] = *q;
            }
        }
        if (ok) { out[o] = 0; return; }
    }
    out[0] = 0;
}

int chat_template_parse(struct chat_template *out, const char *tmpl, size_t len, struct err *e)
{
    memset(out, 0, sizeof(*out));
    out->format = chat_detect(tmpl, len);
    if (out->format == CHAT_FORMAT_UNKNOWN) {
        if (!tmpl || len == 0)
            return err_set(e, LLMQ_EUNSUPPORTED, "the model has no tokenizer.chat_template");
        return err_set(e, LLMQ_EUNSUPPORTED,
                       "unsupported chat template (known: ChatML, Llama 2/3/3.1, Zephyr, Phi-3): '%.*s...'",
                       (int)(len < 60 ? len : 60), tmpl);
    }
    if (out->format == CHAT_FORMAT_CHATML) find_default_system(tmpl, len, out->default_system, sizeof(out->default_system));
    if (out->format == CHAT_FORMAT_LLAMA31) out->date_today = has(tmpl, len, "strftime_now");
    return 0;
}

/* ------------------------------------------------------------------ rendering */

static void append_trimmed(struct buf *b, const char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n && isspace((unsigned char)s[i])) i++;
    while (n > i && isspace((unsigned char)s[n - 1])) n--;
    buf_append(b, s + i, n - i);
}

static int role_known(const char *r, int allow_tool)
{
    return !strcmp(r, "system") || !strcmp(r, "user") || !strcmp(r, "assistant") ||
           (allow_tool && !strcmp(r, "tool"));
}

static int render_llama2(const struct engine_message *m, int n, const char *bos, const char *eos,
                         struct buf *out, struct err *e)
{
    const char *sys = NULL;
    int first = 0;
    if (n > 0 && !strcmp(m[0].role, "system")) { sys = m[0].content; first = 1; }
    for (int i = first; i < n; i++) {
        int want_user = (i - first) % 2 == 0;
        if ((strcmp(m[i].role, "user") == 0) != want_user || (!want_user && strcmp(m[i].role, "assistant")))
            return err_set(e, LLMQ_EFORMAT, "llama2 chat: roles must alternate user/assistant after an "
                           "optional first system message (message %d is '%s')", i, m[i].role);
        if (want_user) {
            struct buf c;
            buf_init(&c);
            if (i == first && sys) buf_printf(&c, "<<SYS>>\n%s\n<</SYS>>\n\n", sys);
            buf_append_str(&c, m[i].content);
            if (i > first) buf_append_str(out, bos);        /* the first BOS is the tokenizer's */
            buf_append_str(out, "[INST] ");
            append_trimmed(out, c.data ? c.data : "");
            buf_append_str(out, " [/INST]");
            buf_deinit(&c);
        } else {
            buf_append_char(out, ' ');
            append_trimmed(out, m[i].content);
            buf_append_char(out, ' ');
            buf_append_str(out, eos);
        }
    }
    return 0;
}

static void today(char *out, size_t cap, int now)
{
    if (!now) { snprintf(out, cap, "26 Jul 2024"); return; }
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%d %b %Y", &tm);
}

int chat_template_render(const struct chat_template *ct, const struct engine_message *m, int n,
                         const char *bos, const char *eos, struct buf *out, struct err *e)
{
    int allow_tool = ct->format == CHAT_FORMAT_CHATML || ct->format == CHAT_FORMAT_LLAMA3 ||
                     ct->format == CHAT_FORMAT_LLAMA31;
    if (!bos) bos = "";
    if (!eos) eos = "";
    for (int i = 0; i < n; i++) {
        if (!m[i].role || !role_known(m[i].role, allow_tool))
            return err_set(e, LLMQ_EFORMAT, "message %d: unknown role '%s'", i, m[i].role ? m[i].role : "(null)");
        if (!m[i].content)
            return err_set(e, LLMQ_EFORMAT, "message %d: no content", i);
    }
    switch (ct->format) {
    case CHAT_FORMAT_CHATML:
        if (ct->default_system[0] && (n == 0 || strcmp(m[0].role, "system")))
            buf_printf(out, "<|im_start|>system\n%s<|im_end|>\n", ct->default_system);
        for (int i = 0; i < n; i++)
            buf_printf(out, "<|im_start|>%s\n%s<|im_end|>\n", m[i].role, m[i].content);
        buf_append_str(out, "<|im_start|>assistant\n");
        return 0;
    case CHAT_FORMAT_LLAMA31: {
        char date[32];
        int first = n > 0 && !strcmp(m[0].role, "system");
        today(date, sizeof(date), ct->date_today);
        buf_printf(out, "<|start_header_id|>system<|end_header_id|>\n\n"
                        "Cutting Knowledge Date: December 2023\nToday Date: %s\n\n", date);
        if (first) append_trimmed(out, m[0].content);
        buf_append_str(out, "<|eot_id|>");
        for (int i = first; i < n; i++) {
            buf_printf(out, "<|start_header_id|>%s<|end_header_id|>\n\n", m[i].role);
            append_trimmed(out, m[i].content);
            buf_append_str(out, "<|eot_id|>");
        }
        buf_append_str(out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        return 0;
    }
    case CHAT_FORMAT_LLAMA3:
        for (int i = 0; i < n; i++) {
            buf_printf(out, "<|start_header_id|>%s<|end_header_id|>\n\n", m[i].role);
            append_trimmed(out, m[i].content);
            buf_append_str(out, "<|eot_id|>");
        }
        buf_append_str(out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        return 0;
    case CHAT_FORMAT_LLAMA2:
        return render_llama2(m, n, bos, eos, out, e);
    case CHAT_FORMAT_ZEPHYR:
        for (int i = 0; i < n; i++) buf_printf(out, "<|%s|>\n%s%s\n", m[i].role, m[i].content, eos);
        buf_append_str(out, "<|assistant|>\n");
        return 0;
    case CHAT_FORMAT_PHI3:
        for (int i = 0; i < n; i++) buf_printf(out, "<|%s|>\n%s<|end|>\n", m[i].role, m[i].content);
        buf_append_str(out, "<|assistant|>\n");
        return 0;
    case CHAT_FORMAT_UNKNOWN:
        break;
    }
    return err_set(e, LLMQ_EUNSUPPORTED, "unsupported chat template format");
}

int chat_render(enum chat_format f, const struct engine_message *msgs, int n, const char *bos,
                const char *eos, struct buf *out, struct err *e)
{
    struct chat_template ct;
    memset(&ct, 0, sizeof(ct));
    ct.format = f;
    return chat_template_render(&ct, msgs, n, bos, eos, out, e);
}
