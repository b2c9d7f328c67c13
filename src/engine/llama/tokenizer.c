/* tokenizer.c -- text <-> token ids from GGUF tokenizer.ggml.* metadata, matching llama.cpp.
 *
 * Two algorithms, both "merge the best adjacent pair until none is left", driven by a binary
 * heap so a prompt of n bytes costs O(n log n):
 *   - "llama" (SentencePiece BPE): spaces become U+2581, a space is prefixed to each text run
 *     (add_space_prefix), the text is split into UTF-8 characters and the adjacent pair whose
 *     concatenation is the vocabulary entry with the highest score is merged first (ties: the
 *     leftmost). What is left and is not a token is spelled with byte tokens <0xNN>.
 *   - "gpt2" (byte-level BPE): a pre-tokenizer (tokenizer_pre.c) cuts the text into words,
 *     each byte of a word is mapped to a printable code point (GPT-2's byte alphabet), and pairs
 *     are merged by their rank in tokenizer.ggml.merges (lowest first, ties: the leftmost).
 * Before either runs, special tokens are cut out of the text (longest first): user-defined
 * tokens always, control tokens only when the caller asks (parse_special), as llama.cpp does.
 * All tables are copied out of the GGUF file at load, so the tokenizer outlives it.
 * Not supported: WordPiece (bert), Unigram (t5), RWKV vocabularies -> LLMQ_EUNSUPPORTED.
 */
#include "engine/llama/tokenizer.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/xalloc.h"
#include "engine/llama/tokenizer_pre.h"
#include "engine/llama/unicode.h"

enum { KIND_SPM, KIND_BPE };

enum {                          /* tokenizer.ggml.token_type values, as bits */
    ATTR_UNDEFINED = 0, ATTR_NORMAL = 1 << 0, ATTR_UNKNOWN = 1 << 1, ATTR_CONTROL = 1 << 2,
    ATTR_USER_DEFINED = 1 << 3, ATTR_UNUSED = 1 << 4, ATTR_BYTE = 1 << 5,
    ATTR_RSTRIP = 1 << 6,       /* eat whitespace after the token when cutting it out */
};

struct tokenizer {
    int kind;                   /* KIND_SPM or KIND_BPE */
    int pre;                    /* enum tok_pre (BPE only) */
    int ignore_merges;          /* BPE: a word that is a token is taken whole */
    int n_vocab;
    char *text;                 /* owned: all token texts back to back */
    uint32_t *text_off, *text_len;   /* [n_vocab] into text */
    char *piece;                /* owned: decoded bytes of every token back to back */
    uint32_t *piece_off, *piece_len; /* [n_vocab] into piece */
    float *score;               /* owned [n_vocab] (0 when the file has none) */
    uint8_t *attr;              /* owned [n_vocab] ATTR_* */
    uint32_t *map;              /* owned: text -> id hash, slot = id + 1 */
    size_t map_cap;             /* power of two */
    uint64_t *merge_key;        /* owned: BPE (left id << 32 | right id) -> rank, open-addressed */
    int32_t *merge_rank;
    size_t merge_cap;           /* power of two; 0 for SPM */
    int32_t *special;           /* owned: ids cut out of text before encoding, longest first */
    int n_special;
    int32_t *eog;               /* owned: end-of-generation ids */
    int n_eog;
    int32_t byte_tok[256];      /* SPM: <0xNN> (or the 1-byte token); BPE: the byte's code point token */
    int32_t bos, eos, unk, eot;
    int add_bos, add_eos, add_space_prefix;
};

/* ------------------------------------------------------------------ hashing */

static int32_t lookup(const struct tokenizer *t, const char *s, size_t n)
{
    size_t j = (size_t)hash_fnv1a(s, n) & (t->map_cap - 1);
    for (uint32_t slot; (slot = t->map[j]); j = (j + 1) & (t->map_cap - 1)) {
        uint32_t id = slot - 1;
        if (t->text_len[id] == n && memcmp(t->text + t->text_off[id], s, n) == 0) return (int32_t)id;
    }
    return -1;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull; x ^= x >> 33;
    return x;
}

static int32_t merge_find(const struct tokenizer *t, int32_t l, int32_t r)
{
    if (!t->merge_cap || l < 0 || r < 0) return -1;
    uint64_t key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
    for (size_t j = (size_t)mix64(key) & (t->merge_cap - 1); t->merge_rank[j] >= 0; j = (j + 1) & (t->merge_cap - 1))
        if (t->merge_key[j] == key) return t->merge_rank[j];
    return -1;
}

/* ------------------------------------------------------------------ load */

static int32_t get_id(const struct gguf_file *f, const char *key, int32_t def, int n_vocab)
{
    uint32_t v;
    if (gguf_get_u32(f, key, &v) == 0 && v < (uint32_t)n_vocab) return (int32_t)v;
    return def >= 0 && def < n_vocab ? def : -1;   /* absent, "none" (0xFFFFFFFF) or out of range */
}

static int get_flag(const struct gguf_file *f, const char *key, int def)
{
    int v;
    return gguf_get_bool(f, key, &v) == 0 ? v : def;
}

static int eog_add(struct tokenizer *t, int32_t id)
{
    if (id < 0) return 0;
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return 0;
    t->eog = xrealloc(t->eog, (size_t)(t->n_eog + 1) * sizeof(*t->eog));
    t->eog[t->n_eog++] = id;
    return 0;
}

static int cmp_special(const void *a, const void *b, void *ctx)
{
    struct tokenizer *t = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->text_len[x] != t->text_len[y]) return t->text_len[x] > t->text_len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Longest first, then by id: a total order, so the result does not depend on qsort. */
static void sort_special(struct tokenizer *t)
{
    qsort_r(t->special, (size_t)t->n_special, sizeof(*t->special), cmp_special, t);
}

/* The bytes a token decodes to: llama.cpp's token_to_piece, except that control tokens give
 * nothing while the unknown token keeps its text ("<unk>"), as in the shared references. */
static void build_piece(struct tokenizer *t, int32_t id, char *out, uint32_t *len)
{
    const char *s = t->text + t->text_off[id];
    uint32_t n = t->text_len[id], o = 0;
    uint8_t a = t->attr[id];
    if (a & ATTR_CONTROL) { *len = 0; return; }
    if (a & (ATTR_USER_DEFINED | ATTR_UNKNOWN)) { memcpy(out, s, n); *len = n; return; }
    if (t->kind == KIND_SPM) {
        if (a & ATTR_BYTE) {
            unsigned v;
            char hex[3] = { 0 };
            if (n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>') {
                hex[0] = s[3]; hex[1] = s[4];
                v = (unsigned)strtoul(hex, NULL, 16);
                out[0] = (char)v;
                *len = 1;
            } else {
                *len = 0;
            }
            return;
        }
        if (a & ATTR_NORMAL) {
            for (uint32_t i = 0; i < n; i++) {
                if (i + 2 < n && (uint8_t)s[i] == 0xE2 && (uint8_t)s[i + 1] == 0x96 && (uint8_t)s[i + 2] == 0x81) {
                    out[o++] = ' ';
                    i += 2;
                } else {
                    out[o++] = s[i];
                }
            }
        }
        *len = o;
        return;
    }
    if (a & ATTR_NORMAL) {
        for (size_t p = 0; p < n;) {
            size_t at = p;
            uint32_t cp = unicode_next(s, n, &p);
            int b = unicode_cp_to_byte(cp);
            if (b >= 0 && !(cp == 0xFFFD && p - at == 1)) {
                out[o++] = (char)b;
            } else {                      /* not a byte-level character: keep it as it is */
                memcpy(out + o, s + at, p - at);
                o += (uint32_t)(p - at);
            }
        }
    }
    *len = o;
}

static int load(struct tokenizer *t, const struct gguf_file *f, struct err *e)
{
    struct gguf_str model, pre, *toks = NULL, *merges = NULL;
    uint64_t n = 0, n_merges = 0;
    int rc;

    if ((rc = gguf_get_str(f, "tokenizer.ggml.model", &model)) < 0)
        return err_set(e, LLMQ_EFORMAT, "tokenizer.ggml.model: %s", rc == -ENOENT ? "missing" : "not a string");
    if (gguf_str_eq(model, "llama")) t->kind = KIND_SPM;
    else if (gguf_str_eq(model, "gpt2")) t->kind = KIND_BPE;
    else
        return err_set(e, LLMQ_EUNSUPPORTED, "tokenizer.ggml.model '%.*s' is not supported (only llama and gpt2)",
                       (int)(model.len > 64 ? 64 : model.len), model.ptr);

    if (t->kind == KIND_BPE) {
        t->pre = TOK_PRE_DEFAULT;
        if (gguf_get_str(f, "tokenizer.ggml.pre", &pre) == 0 && pre.len) {
            t->pre = tok_pre_from_name(pre.ptr, (size_t)pre.len, &t->ignore_merges);
            if (t->pre < 0)
                return err_set(e, LLMQ_EUNSUPPORTED, "tokenizer.ggml.pre '%.*s' is not supported",
                               (int)(pre.len > 64 ? 64 : pre.len), pre.ptr);
        }
    }

    if ((rc = gguf_get_str_arr(f, "tokenizer.ggml.tokens", &toks, &n)) < 0)
        return err_set(e, rc == -ENOMEM ? rc : LLMQ_EFORMAT, "tokenizer.ggml.tokens: %s",
                       rc == -ENOENT ? "missing" : rc == -ENOMEM ? "out of memory" : "not a string array");
    if (n == 0 || n > (1u << 24)) {
        free(toks);
        return err_set(e, LLMQ_EFORMAT, "tokenizer.ggml.tokens: %llu tokens (must be 1..16777216)",
                       (unsigned long long)n);
    }
    t->n_vocab = (int)n;

    /* Token texts: one pool. Their total size is bounded by the file size. */
    size_t total = 0;
    for (uint64_t i = 0; i < n; i++) total += (size_t)toks[i].len;
    if (total > UINT32_MAX / 2) { free(toks); return err_set(e, LLMQ_EFORMAT, "tokenizer.ggml.tokens: too large"); }
    t->text = xmalloc(total + 1);
    t->text_off = xmalloc(n * sizeof(*t->text_off));
    t->text_len = xmalloc(n * sizeof(*t->text_len));
    t->score = xcalloc(n, sizeof(*t->score));
    t->attr = xmalloc(n);
    total = 0;
    for (uint64_t i = 0; i < n; i++) {
        memcpy(t->text + total, toks[i].ptr, (size_t)toks[i].len);
        t->text_off[i] = (uint32_t)total;
        t->text_len[i] = (uint32_t)toks[i].len;
        total += (size_t)toks[i].len;
        t->attr[i] = ATTR_NORMAL;
    }
    free(toks);

    t->map_cap = 16;
    while (t->map_cap < n * 2) t->map_cap <<= 1;
    t->map = xcalloc(t->map_cap, sizeof(*t->map));
    for (uint64_t i = 0; i < n; i++) {      /* a repeated text maps to its last id (llama.cpp) */
        const char *s = t->text + t->text_off[i];
        size_t j = (size_t)hash_fnv1a(s, t->text_len[i]) & (t->map_cap - 1);
        for (uint32_t slot; (slot = t->map[j]); j = (j + 1) & (t->map_cap - 1))
            if (t->text_len[slot - 1] == t->text_len[i] && memcmp(t->text + t->text_off[slot - 1], s, t->text_len[i]) == 0)
                break;
        t->map[j] = (uint32_t)i + 1;
    }

    enum gguf_type type;
    uint64_t cnt;
    const void *data;
    if (gguf_get_arr(f, "tokenizer.ggml.scores", &type, &cnt, &data) == 0) {
        if (type != GGUF_TYPE_FLOAT32 || cnt != n)
            return err_set(e, LLMQ_EFORMAT, "tokenizer.ggml.scores: expected %llu f32 values",
                           (unsigned long long)n);
        memcpy(t->score, data, n * sizeof(float));        /* little-endian host assumed (x86, arm) */
    }
    if (gguf_get_arr(f, "tokenizer.ggml.token_type", &type, &cnt, &data) == 0) {
        if ((type != GGUF_TYPE_INT32 && type != GGUF_TYPE_UINT32) || cnt != n)
            return err_set(e, LLMQ_EFORMAT, "tokenizer.ggml.token_type: expected %llu i32 values",
                           (unsigned long long)n);
        for (uint64_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, (const char *)data + i * 4, 4);
            t->attr[i] = v >= 1 && v <= 6 ? (uint8_t)(1u << (v - 1)) : ATTR_UNDEFINED;
        }
    }

    if (t->kind == KIND_SPM) {
        t->bos = get_id(f, "tokenizer.ggml.bos_token_id", 1, t->n_vocab);
        t->eos = get_id(f, "tokenizer.ggml.eos_token_id", 2, t->n_vocab);
        t->unk = get_id(f, "tokenizer.ggml.unknown_token_id", 0, t->n_vocab);
        t->add_bos = get_flag(f, "tokenizer.ggml.add_bos_token", 1);
        t->add_space_prefix = get_flag(f, "tokenizer.ggml.add_space_prefix", 1);
    } else {
        t->bos = get_id(f, "tokenizer.ggml.bos_token_id", 11, t->n_vocab);
        t->eos = get_id(f, "tokenizer.ggml.eos_token_id", 11, t->n_vocab);
        t->unk = get_id(f, "tokenizer.ggml.unknown_token_id", -1, t->n_vocab);
        t->add_bos = get_flag(f, "tokenizer.ggml.add_bos_token", t->pre == TOK_PRE_LLAMA3 && t->ignore_merges);
        t->add_space_prefix = get_flag(f, "tokenizer.ggml.add_space_prefix", 0);
    }
    t->add_eos = get_flag(f, "tokenizer.ggml.add_eos_token", 0);
    t->eot = get_id(f, "tokenizer.ggml.eot_token_id", -1, t->n_vocab);
    int32_t eom = get_id(f, "tokenizer.ggml.eom_token_id", -1, t->n_vocab);

    /* End of generation: the declared ids plus the well-known end-of-turn texts, which are
     * forced to control tokens (llama.cpp does the same; files often mark them normal). */
    static const char *eog_texts[] = { "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                       "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>" };
    static const char *eot_texts[] = { "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                       "<|endoftext|>", "<EOT>", "_<EOT>", "<\uff5cend\u2581of\u2581sentence\uff5c>" };
    for (size_t k = 0; k < sizeof(eot_texts) / sizeof(eot_texts[0]) && t->eot < 0; k++) {
        int32_t id = lookup(t, eot_texts[k], strlen(eot_texts[k]));
        if (id >= 0) { t->eot = id; t->attr[id] = ATTR_CONTROL; }
    }
    for (size_t k = 0; k < sizeof(eog_texts) / sizeof(eog_texts[0]); k++) {
        int32_t id = lookup(t, eog_texts[k], strlen(eog_texts[k]));
        if (id >= 0) { eog_add(t, id); t->attr[id] = ATTR_CONTROL; }
    }
    eog_add(t, t->eos);
    eog_add(t, t->eot);
    eog_add(t, eom);

    /* Phi-3 files strip whitespace after their special tokens (llama.cpp keys this on the
     * model name; the attribute is not in the file). */
    struct gguf_str name;
    int phi3 = 0;
    if (gguf_get_str(f, "general.name", &name) == 0) {
        char low[128];
        size_t ln = name.len < sizeof(low) - 1 ? (size_t)name.len : sizeof(low) - 1;
        for (size_t i = 0; i < ln; i++) low[i] = (char)tolower((unsigned char)name.ptr[i]);
        low[ln] = 0;
        phi3 = strstr(low, "phi-3") || strstr(low, "phi3");
    }

    t->special = xmalloc(n * sizeof(*t->special));
    for (int32_t i = 0; i < t->n_vocab; i++)
        if ((t->attr[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) && t->text_len[i] > 0)
            t->special[t->n_special++] = i;
    sort_special(t);
    if (phi3) {
        for (int i = 0; i < t->n_special; i++) t->attr[t->special[i]] |= ATTR_RSTRIP;
        int32_t id = lookup(t, "</s>", 4);
        if (id >= 0) t->attr[id] |= ATTR_RSTRIP;
        static const char *keep[] = { "<unk>", "<s>", "<|endoftext|>" };
        for (size_t k = 0; k < 3; k++)
            if ((id = lookup(t, keep[k], strlen(keep[k]))) >= 0) t->attr[id] &= (uint8_t)~ATTR_RSTRIP;
    }

    /* Byte fallback / byte alphabet. */
    for (int b = 0; b < 256; b++) {
        char buf[8];
        if (t->kind == KIND_SPM) {
            static const char hex[] = "0123456789ABCDEF";
            char s[6] = { '<', '0', 'x', hex[b >> 4], hex[b & 15], '>' };
            t->byte_tok[b] = lookup(t, s, 6);
            if (t->byte_tok[b] < 0) { buf[0] = (char)b; t->byte_tok[b] = lookup(t, buf, 1); }
        } else {
            int l = unicode_put(unicode_byte_to_cp((uint8_t)b), buf);
            t->byte_tok[b] = lookup(t, buf, (size_t)l);
        }
    }

    /* Merges: "left right" -> rank, by token ids (a merge whose halves are not tokens can
     * never apply to token symbols and is dropped). The first of duplicate merges wins. */
    if (t->kind == KIND_BPE) {
        if ((rc = gguf_get_str_arr(f, "tokenizer.ggml.merges", &merges, &n_merges)) < 0)
            return err_set(e, rc == -ENOMEM ? rc : LLMQ_EFORMAT, "tokenizer.ggml.merges: %s",
                           rc == -ENOENT ? "missing" : rc == -ENOMEM ? "out of memory" : "not a string array");
        if (n_merges > INT32_MAX / 4) { free(merges); return err_set(e, LLMQ_EFORMAT, "tokenizer.ggml.merges: too many"); }
        t->merge_cap = 16;
        while (t->merge_cap < n_merges * 2) t->merge_cap <<= 1;
        t->merge_key = xmalloc(t->merge_cap * sizeof(*t->merge_key));
        t->merge_rank = xmalloc(t->merge_cap * sizeof(*t->merge_rank));
        for (size_t j = 0; j < t->merge_cap; j++) t->merge_rank[j] = -1;
        for (uint64_t i = 0; i < n_merges; i++) {
            const char *s = merges[i].ptr;
            size_t len = (size_t)merges[i].len, sp = 1;
            while (sp < len && s[sp] != ' ') sp++;
            if (len < 2 || sp >= len) continue;
            int32_t l = lookup(t, s, sp), r = lookup(t, s + sp + 1, len - sp - 1);
            if (l < 0 || r < 0) continue;
            uint64_t key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
            size_t j = (size_t)mix64(key) & (t->merge_cap - 1);
            while (t->merge_rank[j] >= 0 && t->merge_key[j] != key) j = (j + 1) & (t->merge_cap - 1);
            if (t->merge_rank[j] >= 0) continue;
            t->merge_key[j] = key;
            t->merge_rank[j] = (int32_t)i;
        }
        free(merges);
    }

    /* Decoded pieces. A piece is never longer than its text (byte-level decoding shrinks,
     * ▁ -> space shrinks). */
    t->piece = xmalloc(total + 1);
    t->piece_off = xmalloc(n * sizeof(*t->piece_off));
    t->piece_len = xmalloc(n * sizeof(*t->piece_len));
    size_t po = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        t->piece_off[i] = (uint32_t)po;
        build_piece(t, i, t->piece + po, &t->piece_len[i]);
        po += t->piece_len[i];
    }
    return 0;
}

int tokenizer_new(struct tokenizer **out, const struct gguf_file *f, struct err *e)
{
    struct tokenizer *t = xcalloc(1, sizeof(*t));
    int rc;
    *out = NULL;
    t->bos = t->eos = t->unk = t->eot = -1;
    if ((rc = load(t, f, e)) < 0) goto fail;
    *out = t;
    return 0;
fail:
    tokenizer_free(t);
    return rc;
}

void tokenizer_free(struct tokenizer *t)
{
    if (!t) return;
    free(t->text); free(t->text_off); free(t->text_len);
    free(t->piece); free(t->piece_off); free(t->piece_len);
    free(t->score); free(t->attr); free(t->map);
    free(t->merge_key); free(t->merge_rank);
    free(t->special); free(t->eog);
    free(t);
}

int tokenizer_vocab_size(const struct tokenizer *t) { return t->n_vocab; }
int32_t tokenizer_bos(const struct tokenizer *t) { return t->bos; }
int32_t tokenizer_eos(const struct tokenizer *t) { return t->eos; }
int tokenizer_add_bos(const struct tokenizer *t) { return t->add_bos && t->bos >= 0; }

int tokenizer_is_eog(const struct tokenizer *t, int32_t id)
{
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return 1;
    return 0;
}

const char *tokenizer_piece(const struct tokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n_vocab) { *len = 0; return ""; }
    *len = t->piece_len[id];
    return t->piece + t->piece_off[id];
}

/* ------------------------------------------------------------------ encode scratch */

struct ids {                    /* growable output; any failure sticks in oom */
    int32_t *v;
    size_t n, cap;
    int oom;
};

static void ids_push(struct ids *a, int32_t id)
{
    if (a->oom) return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        int32_t *v = realloc(a->v, cap * sizeof(*v));
        if (!v) { a->oom = 1; return; }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = id;
}

struct sym {                    /* one symbol of the merge chain */
    const char *text;
    uint32_t n;                 /* 0 once merged into its left neighbour */
    int32_t id;                 /* BPE: token of text, -1 if none */
    int prev, next;
};

struct bigram {
    float score;                /* SPM: higher first */
    int32_t rank;               /* BPE: lower first */
    int left, right;
    uint32_t size;              /* bytes of left + right when queued (stale check) */
};

struct heap {
    struct bigram *v;
    size_t n, cap;
    int bpe;
};

static int bigram_before(const struct heap *h, const struct bigram *a, const struct bigram *b)
{
    if (h->bpe) return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(struct heap *h, struct bigram b)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct bigram *v = realloc(h->v, cap * sizeof(*v));
        if (!v) return -ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bigram_before(h, &b, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = b;
    return 0;
}

static struct bigram heap_pop(struct heap *h)
{
    struct bigram top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && bigram_before(h, &h->v[c + 1], &h->v[c])) c++;
        if (!bigram_before(h, &h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

/* ------------------------------------------------------------------ SPM */

static int spm_try_bigram(const struct tokenizer *t, struct sym *s, struct heap *h, int l, int r)
{
    if (l < 0 || r < 0) return 0;
    int32_t id = lookup(t, s[l].text, s[l].n + s[r].n);
    if (id < 0) return 0;
    struct bigram b = { t->score[id], 0, l, r, s[l].n + s[r].n };
    return heap_push(h, b);
}

/* Tokenizes one text run already escaped (spaces as U+2581). */
static int spm_run(const struct tokenizer *t, const char *text, size_t len, struct ids *out)
{
    struct sym *s = malloc((len ? len : 1) * sizeof(*s));
    struct heap h = { NULL, 0, 0, 0 };
    int n = 0, rc = 0;
    if (!s) return -ENOMEM;
    for (size_t off = 0; off < len; n++) {
        size_t cl = (size_t)unicode_len_utf8((uint8_t)text[off]);
        if (cl > len - off) cl = len - off;
        s[n] = (struct sym){ text + off, (uint32_t)cl, -1, n - 1, off + cl == len ? -1 : n + 1 };
        off += cl;
    }
    for (int i = 1; i < n && rc == 0; i++) rc = spm_try_bigram(t, s, &h, i - 1, i);
    while (h.n && rc == 0) {
        struct bigram b = heap_pop(&h);
        struct sym *l = &s[b.left], *r = &s[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = b.left;
        if ((rc = spm_try_bigram(t, s, &h, l->prev, b.left)) < 0) break;
        rc = spm_try_bigram(t, s, &h, b.left, l->next);
    }
    for (int i = 0; i != -1 && n > 0 && rc == 0; i = s[i].next) {
        int32_t id = lookup(t, s[i].text, s[i].n);
        if (id >= 0) { ids_push(out, id); continue; }
        for (uint32_t j = 0; j < s[i].n; j++) {     /* byte fallback, then unk */
            int32_t bt = t->byte_tok[(uint8_t)s[i].text[j]];
            if (bt < 0) bt = t->unk;
            if (bt >= 0) ids_push(out, bt);
        }
    }
    free(s);
    free(h.v);
    return rc;
}

static int spm_fragment(const struct tokenizer *t, const char *text, size_t len, int prefix_space,
                        struct ids *out)
{
    if (len > (SIZE_MAX - 3) / 3) return -ENOMEM;
    char *esc = malloc(3 * len + 3);
    size_t n = 0;
    if (!esc) return -ENOMEM;
    if (prefix_space) { memcpy(esc, "\xe2\x96\x81", 3); n = 3; }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') { memcpy(esc + n, "\xe2\x96\x81", 3); n += 3; }
        else esc[n++] = text[i];
    }
    int rc = spm_run(t, esc, n, out);
    free(esc);
    return rc;
}

/* ------------------------------------------------------------------ BPE */

static int bpe_try_bigram(const struct tokenizer *t, struct sym *s, struct heap *h, int l, int r)
{
    if (l < 0 || r < 0) return 0;
    int32_t rank = merge_find(t, s[l].id, s[r].id);
    if (rank < 0) return 0;
    struct bigram b = { 0, rank, l, r, s[l].n + s[r].n };
    return heap_push(h, b);
}

/* Merges one byte-encoded word. s and h are caller scratch sized for the word. */
static int bpe_word(const struct tokenizer *t, const char *w, size_t len, struct sym *s,
                    struct heap *h, struct ids *out)
{
    int n = 0, rc = 0;
    if (t->ignore_merges) {
        int32_t id = lookup(t, w, len);
        if (id >= 0) { ids_push(out, id); return 0; }
    }
    for (size_t off = 0; off < len; n++) {
        size_t cl = (size_t)unicode_len_utf8((uint8_t)w[off]);
        if (cl > len - off) cl = len - off;
        s[n] = (struct sym){ w + off, (uint32_t)cl, lookup(t, w + off, cl), n - 1, off + cl == len ? -1 : n + 1 };
        off += cl;
    }
    h->n = 0;
    for (int i = 1; i < n && rc == 0; i++) rc = bpe_try_bigram(t, s, h, i - 1, i);
    while (h->n && rc == 0) {
        struct bigram b = heap_pop(h);
        struct sym *l = &s[b.left], *r = &s[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->id = lookup(t, l->text, l->n);
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = b.left;
        if ((rc = bpe_try_bigram(t, s, h, l->prev, b.left)) < 0) break;
        rc = bpe_try_bigram(t, s, h, b.left, l->next);
    }
    for (int i = 0; i < n && rc == 0; i++) {
        if (s[i].n == 0) continue;
        if (s[i].id >= 0) { ids_push(out, s[i].id); continue; }
        for (uint32_t j = 0; j < s[i].n; j++) {     /* llama.cpp: single bytes that are tokens */
            int32_t id = lookup(t, s[i].text + j, 1);
            if (id >= 0) ids_push(out, id);
        }
    }
    return rc;
}

static int bpe_fragment(const struct tokenizer *t, const char *text, size_t len, struct ids *out)
{
    /* Code points (bad bytes -> U+FFFD, as llama.cpp), words, then each word re-encoded to
     * UTF-8 and mapped byte by byte to GPT-2's alphabet (at most 2 bytes per byte). */
    uint32_t *cps = malloc((len ? len : 1) * sizeof(*cps));
    size_t *ends = malloc((len ? len : 1) * sizeof(*ends));
    size_t *tmp = malloc((len ? len : 1) * sizeof(*tmp));
    char *word = NULL;
    struct sym *s = NULL;
    struct heap h = { NULL, 0, 0, 1 };
    size_t n = 0, word_cap = 0;
    int rc = 0;
    if (!cps || !ends || !tmp) { rc = -ENOMEM; goto out; }
    for (size_t p = 0; p < len;) cps[n++] = unicode_next(text, len, &p);
    size_t n_words = tok_pre_split((enum tok_pre)t->pre, cps, n, ends, tmp);
    size_t b = 0;
    for (size_t w = 0; w < n_words && rc == 0; w++) {
        /* A code point is at most 4 UTF-8 bytes, each at most 2 bytes in GPT-2's alphabet;
         * there is one symbol per UTF-8 byte. */
        size_t e = ends[w], wl = 0, need = (e - b) * 8;
        if (need > word_cap) {
            free(word);
            free(s);
            word_cap = need;
            word = malloc(word_cap);
            s = malloc(word_cap / 2 * sizeof(*s));
            if (!word || !s) { rc = -ENOMEM; break; }
        }
        for (size_t i = b; i < e; i++) {
            char u8[4];
            int l = unicode_put(cps[i], u8);
            for (int k = 0; k < l; k++) wl += (size_t)unicode_put(unicode_byte_to_cp((uint8_t)u8[k]), word + wl);
        }
        rc = bpe_word(t, word, wl, s, &h, out);
        b = e;
    }
out:
    free(cps); free(ends); free(tmp); free(word); free(s); free(h.v);
    return rc;
}

/* ------------------------------------------------------------------ special-token partition */

struct frag {
    size_t off, len;            /* raw text span (tok < 0) */
    int32_t tok;                /* special token id, or -1 */
};

struct frags {
    struct frag *v;
    size_t n, cap;
};

static int frags_push(struct frags *a, struct frag f)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        struct frag *v = realloc(a->v, cap * sizeof(*v));
        if (!v) return -ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = f;
    return 0;
}

/* Cuts every special token out of the raw fragments, longest token first, leftmost
 * occurrences first; optional whitespace stripping beside it (lstrip/rstrip attrs). */
static int partition(const struct tokenizer *t, const char *text, size_t len, int parse_special,
                     struct frags *cur)
{
    struct frags next = { NULL, 0, 0 };
    uint64_t *pairs = NULL;      /* bit (a << 8 | b): bytes a, b occur adjacent in text */
    uint64_t bytes[4] = { 0 };   /* bit a: byte a occurs in text */
    int rc = 0;
    cur->n = 0;
    if (len == 0) return 0;
    if ((rc = frags_push(cur, (struct frag){ 0, len, -1 })) < 0) return rc;
    /* Vocabularies can hold thousands of user-defined tokens ("[PAD100015]"...); one pass
     * over the text lets most of them be skipped without searching for them. */
    if (t->n_special > 8 && (pairs = calloc(65536 / 64, sizeof(*pairs)))) {
        for (size_t i = 0; i < len; i++) {
            unsigned a = (uint8_t)text[i];
            bytes[a >> 6] |= 1ull << (a & 63);
            if (i + 1 < len) {
                unsigned pr = a << 8 | (uint8_t)text[i + 1];
                pairs[pr >> 6] |= 1ull << (pr & 63);
            }
        }
    }
    for (int k = 0; k < t->n_special && rc == 0; k++) {
        int32_t id = t->special[k];
        if (!parse_special && (t->attr[id] & (ATTR_CONTROL | ATTR_UNKNOWN))) continue;
        const char *tok = t->text + t->text_off[id];
        size_t tl = t->text_len[id];
        if (pairs) {
            unsigned a = (uint8_t)tok[0];
            if (tl == 1 ? !(bytes[a >> 6] >> (a & 63) & 1) : tl > len) continue;
            if (tl >= 2) {
                unsigned pr = a << 8 | (uint8_t)tok[1];
                if (!(pairs[pr >> 6] >> (pr & 63) & 1)) continue;
            }
        }
        int found = 0;
        for (size_t i = 0; i < cur->n; i++)
            if (cur->v[i].tok < 0 && cur->v[i].len >= tl && memmem(text + cur->v[i].off, cur->v[i].len, tok, tl)) {
                found = 1;
                break;
            }
        if (!found) continue;
        next.n = 0;
        for (size_t i = 0; i < cur->n && rc == 0; i++) {
            struct frag f = cur->v[i];
            if (f.tok >= 0) { rc = frags_push(&next, f); continue; }
            size_t off = f.off, end = f.off + f.len;
            while (rc == 0 && off < end) {
                const char *m = end - off >= tl ? memmem(text + off, end - off, tok, tl) : NULL;
                if (!m) { rc = frags_push(&next, (struct frag){ off, end - off, -1 }); break; }
                size_t at = (size_t)(m - text);
                if (at > off) rc = frags_push(&next, (struct frag){ off, at - off, -1 });
                if (rc == 0) rc = frags_push(&next, (struct frag){ 0, 0, id });
                off = at + tl;
                if (t->attr[id] & ATTR_RSTRIP)
                    while (off < end && isspace((unsigned char)text[off])) off++;
            }
        }
        struct frags sw = *cur; *cur = next; next = sw;
    }
    free(next.v);
    free(pairs);
    return rc;
}

/* ------------------------------------------------------------------ encode */

int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, int add_bos,
                     int parse_special, int32_t *out, int cap)
{
    struct ids ids = { NULL, 0, 0, 0 };
    struct frags fr = { NULL, 0, 0 };
    int rc;

    if (len > (size_t)INT32_MAX / 4) return LLMQ_ETOOLARGE;
    if ((rc = partition(t, text, len, parse_special, &fr)) < 0) goto done;
    if (add_bos && t->bos >= 0) ids_push(&ids, t->bos);
    int prev_special = 1;        /* SPM: a space is prefixed to text after BOS/special/start */
    for (size_t i = 0; i < fr.n && rc == 0; i++) {
        struct frag *f = &fr.v[i];
        if (f->tok >= 0) { ids_push(&ids, f->tok); prev_special = 1; continue; }
        if (t->kind == KIND_SPM) {
            rc = spm_fragment(t, text + f->off, f->len, t->add_space_prefix && prev_special, &ids);
            prev_special = 0;
        } else {
            rc = bpe_fragment(t, text + f->off, f->len, &ids);
        }
    }
    if (add_bos && t->add_eos && t->eos >= 0) ids_push(&ids, t->eos);
    if (rc == 0 && ids.oom) rc = -ENOMEM;
    if (rc == 0 && ids.n > INT32_MAX) rc = LLMQ_ETOOLARGE;
    if (rc == 0) {
        for (size_t i = 0; i < ids.n && (int)i < cap; i++) out[i] = ids.v[i];
        rc = (int)ids.n;
    }
done:
    free(ids.v);
    free(fr.v);
    return rc;
}

/* ------------------------------------------------------------------ streaming detokenizer */

void detok_init(struct detok *d, const struct tokenizer *t)
{
    memset(d, 0, sizeof(*d));
    d->t = t;
}

/* Length of a complete valid UTF-8 sequence at p (n bytes available): >0 complete,
 * 0 incomplete but still possibly valid, -1 invalid at p[0]. */
static int utf8_check(const uint8_t *p, size_t n)
{
    int need;
    uint8_t c = p[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) need = 3;
    else if (c >= 0xF0 && c <= 0xF4) need = 4;
    else return -1;
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= n) return 0;
        uint8_t x = p[i];
        if ((x & 0xC0) != 0x80) return -1;
        if (i == 1 && ((c == 0xE0 && x < 0xA0) || (c == 0xED && x > 0x9F) ||
                       (c == 0xF0 && x < 0x90) || (c == 0xF4 && x > 0x8F)))
            return -1;                    /* overlong, surrogate, or past U+10FFFF */
    }
    return need;
}

/* Appends the complete characters of buf[0..n) to d->out at *o, keeps an incomplete tail
 * in d->pending (unless flushing), replaces invalid bytes by U+FFFD. */
static void emit(struct detok *d, const uint8_t *buf, size_t n, size_t *o, int flush)
{
    const size_t room = sizeof(d->out) - 1;
    size_t i = 0;
    d->n_pending = 0;
    while (i < n) {
        int l = utf8_check(buf + i, n - i);
        if (l == 0 && !flush) {          /* keep the incomplete tail for the next token */
            memcpy(d->pending, buf + i, n - i);
            d->n_pending = (int)(n - i);
            break;
        }
        if (l <= 0) {
            if (*o + 3 <= room) { memcpy(d->out + *o, "\xef\xbf\xbd", 3); *o += 3; }
            i++;
            continue;
        }
        if (*o + (size_t)l <= room) { memcpy(d->out + *o, buf + i, (size_t)l); *o += (size_t)l; }
        i += (size_t)l;
    }
    d->out[*o] = 0;
}

const char *detok_push(struct detok *d, int32_t id, size_t *len)
{
    size_t pl, o = 0;
    const char *p = tokenizer_piece(d->t, id, &pl);
    if (d->first && pl > 0) {            /* only SPM prefixes a space that was never typed */
        if (p[0] == ' ' && d->t->kind == KIND_SPM && d->t->add_space_prefix) { p++; pl--; }
        d->first = 0;
    }
    /* Pieces longer than the output can hold are cut (none of the supported vocabularies
     * has one). */
    if (pl > sizeof(d->out) - sizeof(d->pending) - 4) pl = sizeof(d->out) - sizeof(d->pending) - 4;
    uint8_t buf[sizeof(d->out) + sizeof(d->pending)];
    size_t n = (size_t)d->n_pending;
    memcpy(buf, d->pending, n);
    memcpy(buf + n, p, pl);
    emit(d, buf, n + pl, &o, 0);
    *len = o;
    return d->out;
}

const char *detok_flush(struct detok *d, size_t *len)
{
    uint8_t buf[sizeof(d->pending)];
    size_t n = (size_t)d->n_pending, o = 0;
    memcpy(buf, d->pending, n);
    emit(d, buf, n, &o, 1);
    *len = o;
    return d->out;
}
