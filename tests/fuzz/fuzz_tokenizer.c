/* fuzz_tokenizer.c -- tokenizer_encode on arbitrary bytes. The target builds tiny tokenizers
 * once from GGUF files it writes in memory (one SentencePiece, one byte-level BPE per
 * pre-tokenizer), then encodes the input with the tokenizer and flags its first byte picks,
 * checks every id is in range and the count is stable when called with a small buffer, and
 * pushes the ids through the streaming detokenizer (output must be valid UTF-8). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "engine/llama/gguf.h"
#include "engine/llama/tokenizer.h"
#include "engine/llama/unicode.h"

static void w_u32(struct buf *b, uint32_t v)
{
    uint8_t p[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    buf_append(b, p, 4);
}
static void w_u64(struct buf *b, uint64_t v) { w_u32(b, (uint32_t)v); w_u32(b, (uint32_t)(v >> 32)); }
static void w_strn(struct buf *b, const char *s, size_t n) { w_u64(b, n); buf_append(b, s, n); }
static void w_str(struct buf *b, const char *s) { w_strn(b, s, strlen(s)); }
static void kv_str(struct buf *b, const char *k, const char *v) { w_str(b, k); w_u32(b, GGUF_TYPE_STRING); w_str(b, v); }
static void kv_u32(struct buf *b, const char *k, uint32_t v) { w_str(b, k); w_u32(b, GGUF_TYPE_UINT32); w_u32(b, v); }

#define N_TOK_MAX 300

struct vocab {
    char text[N_TOK_MAX][16];
    int len[N_TOK_MAX];
    int32_t type[N_TOK_MAX];
    float score[N_TOK_MAX];
    int n;
};

static void add(struct vocab *v, const char *s, int type, float score)
{
    int l = (int)strlen(s);
    memcpy(v->text[v->n], s, (size_t)l);
    v->len[v->n] = l;
    v->type[v->n] = type;
    v->score[v->n] = score;
    v->n++;
}

static void write_vocab(struct buf *b, const struct vocab *v, const char *model, const char *pre,
                        const char **merges, int n_merges)
{
    int n_kv = 6 + (pre ? 2 : 1);
    buf_reset(b);
    w_u32(b, 0x46554747u); w_u32(b, 3); w_u64(b, 0); w_u64(b, (uint64_t)n_kv);
    kv_str(b, "general.architecture", "llama");
    kv_str(b, "tokenizer.ggml.model", model);
    if (pre) kv_str(b, "tokenizer.ggml.pre", pre);
    w_str(b, "tokenizer.ggml.tokens"); w_u32(b, GGUF_TYPE_ARRAY); w_u32(b, GGUF_TYPE_STRING); w_u64(b, (uint64_t)v->n);
    for (int i = 0; i < v->n; i++) w_strn(b, v->text[i], (size_t)v->len[i]);
    w_str(b, "tokenizer.ggml.token_type"); w_u32(b, GGUF_TYPE_ARRAY); w_u32(b, GGUF_TYPE_INT32); w_u64(b, (uint64_t)v->n);
    for (int i = 0; i < v->n; i++) w_u32(b, (uint32_t)v->type[i]);
    if (merges) {
        w_str(b, "tokenizer.ggml.merges"); w_u32(b, GGUF_TYPE_ARRAY); w_u32(b, GGUF_TYPE_STRING); w_u64(b, (uint64_t)n_merges);
        for (int i = 0; i < n_merges; i++) w_str(b, merges[i]);
    } else {
        w_str(b, "tokenizer.ggml.scores"); w_u32(b, GGUF_TYPE_ARRAY); w_u32(b, GGUF_TYPE_FLOAT32); w_u64(b, (uint64_t)v->n);
        for (int i = 0; i < v->n; i++) { uint32_t u; memcpy(&u, &v->score[i], 4); w_u32(b, u); }
    }
    kv_u32(b, "tokenizer.ggml.bos_token_id", 1);
    kv_u32(b, "tokenizer.ggml.eos_token_id", 2);
}

#define N_TOKENIZERS 9
static struct tokenizer *toks[N_TOKENIZERS];

static void setup(void)
{
    static struct vocab v;
    struct buf b;
    struct gguf_file *f;
    struct err e;
    buf_init(&b);
    /* SentencePiece: <unk> <s> </s>, 256 byte tokens, a few pieces, specials. */
    v.n = 0;
    add(&v, "<unk>", 2, 0); add(&v, "<s>", 3, 0); add(&v, "</s>", 3, 0);
    for (int i = 0; i < 256; i++) {
        char s[8];
        static const char hex[] = "0123456789ABCDEF";
        s[0] = '<'; s[1] = '0'; s[2] = 'x'; s[3] = hex[i >> 4]; s[4] = hex[i & 15]; s[5] = '>'; s[6] = 0;
        add(&v, s, 6, 0);
    }
    const char *pieces[] = { "\xe2\x96\x81", "a", "b", "\u2581a", "ab", "\u2581ab", "1", "12",
                             "\xc3\xa9", "\xe2\x96\x81\xe2\x96\x81", "<|im_start|>", "</x>" };
    for (int i = 0; i < 12; i++) add(&v, pieces[i], i == 10 ? 3 : i == 11 ? 4 : 1, -(float)i);
    /* enough user-defined tokens (one a single byte) for the partition's byte-pair prefilter */
    const char *user[] = { "[PAD1]", "[PAD2]", "[PAD12]", "x", "\xc3\xbc", "ab</x>", "<|", "|>" };
    for (int i = 0; i < 8; i++) add(&v, user[i], 4, 0);
    write_vocab(&b, &v, "llama", NULL, NULL, 0);
    if (gguf_parse(&f, b.data, b.len, &e) == 0) { tokenizer_new(&toks[0], f, &e); gguf_close(f); }

    /* Byte-level BPE: the 256 byte characters, a few merged tokens, one per pre-tokenizer. */
    v.n = 0;
    for (int i = 0; i < 256; i++) {
        char s[8];
        s[unicode_put(unicode_byte_to_cp((uint8_t)i), s)] = 0;
        add(&v, s, 1, 0);
    }
    const char *bpe[] = { "\u0120a", "ab", "\u0120ab", "12", "\xc4\xa0\xc4\xa0", "<|endoftext|>", "<|im_start|>" };
    for (int i = 0; i < 7; i++) add(&v, bpe[i], i == 5 ? 3 : i == 6 ? 4 : 1, 0);
    const char *merges[] = { "\xc4\xa0 a", "a b", "\u0120a b", "1 2", "\xc4\xa0 \xc4\xa0", "bad", "x y" };
    const char *pres[] = { "default", "llama-bpe", "qwen2", "deepseek-llm", "deepseek-coder", "falcon", "gpt-2", "starcoder" };
    for (int k = 0; k < 8; k++) {
        write_vocab(&b, &v, "gpt2", pres[k], merges, 7);
        if (gguf_parse(&f, b.data, b.len, &e) == 0) { tokenizer_new(&toks[1 + k], f, &e); gguf_close(f); }
    }
    buf_deinit(&b);
    for (int k = 0; k < N_TOKENIZERS; k++)
        if (!toks[k]) abort();
}

static int utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (!k || i + k > n) return 0;
        for (size_t j = 1; j < k; j++) if (((unsigned char)s[i + j] & 0xC0) != 0x80) return 0;
        i += k;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) { setup(); ready = 1; }
    if (size == 0) return 0;
    const struct tokenizer *t = toks[data[0] % N_TOKENIZERS];
    int bos = data[0] & 0x10, special = data[0] & 0x20;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int32_t small[4];
    int n = tokenizer_encode(t, text, len, bos, special, small, 4);
    if (n < 0) abort();
    int32_t *ids = malloc((size_t)(n ? n : 1) * sizeof(*ids));
    if (tokenizer_encode(t, text, len, bos, special, ids, n) != n) abort();
    if (n > 0 && memcmp(ids, small, (size_t)(n < 4 ? n : 4) * sizeof(*ids)) != 0) abort();
    struct detok d;
    detok_init(&d, t);
    d.first = 1;
    for (int i = 0; i <= n; i++) {
        size_t l;
        if (i < n && (ids[i] < 0 || ids[i] >= tokenizer_vocab_size(t))) abort();
        const char *o = i < n ? detok_push(&d, ids[i], &l) : detok_flush(&d, &l);
        if (!utf8_valid(o, l)) abort();
    }
    free(ids);
    return 0;
}
