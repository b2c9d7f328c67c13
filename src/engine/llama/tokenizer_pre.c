/* tokenizer_pre.c -- the pre-tokenizer regexes of byte-level BPE vocabularies, written out by
 * hand as scanners over code points (no regex engine in the engine).
 *
 * A pre-tokenizer is a list of regexes applied in turn: each one splits every current piece
 * into its matches and the gaps between them (both kept), never looking across a piece
 * boundary; the final pieces are the BPE words. This mirrors llama.cpp's unicode_regex_split
 * exactly, including its quirks, because token ids must match it:
 *   - the GPT-2 and Llama-3 patterns are matched with full Unicode categories;
 *   - the others see the text "collapsed": \p{L}, \p{N}, \p{P} are ASCII classes plus any
 *     non-ASCII code point of that category, and non-ASCII whitespace counts as \s;
 *   - alternation is leftmost-first, as in ECMAScript regexes.
 * Each scanner below quotes the regex it implements. Does not do byte-level encoding or
 * merging (tokenizer.c does). */
#include "engine/llama/tokenizer_pre.h"

#include <string.h>

#include "engine/llama/unicode.h"

/* ------------------------------------------------------------------ character classes */

#define OUT 0xFFFFFFFFu        /* "no character": outside the current piece */

static int is_letter(uint32_t c) { return c != OUT && unicode_cat(c) == UNICODE_CAT_LETTER; }
static int is_number(uint32_t c) { return c != OUT && unicode_cat(c) == UNICODE_CAT_NUMBER; }
static int is_space(uint32_t c) { return c != OUT && unicode_is_space(c); }
/* [^\s\p{L}\p{N}] for the custom scanners: anything with a category (even "unassigned"). */
static int is_other(uint32_t c)
{
    if (c == OUT) return 0;
    enum unicode_cat k = unicode_cat(c);
    return k != UNICODE_CAT_NONE && k != UNICODE_CAT_LETTER && k != UNICODE_CAT_NUMBER && !unicode_is_space(c);
}

/* Collapsed classes (std::regex over llama.cpp's collapsed text). */
static int c_space(uint32_t c) { return c != OUT && (c < 128 ? (c == ' ' || (c >= 9 && c <= 13)) : unicode_is_space(c)); }
static int c_letter(uint32_t c)
{
    if (c == OUT) return 0;
    if (c < 128) return (c | 32) >= 'a' && (c | 32) <= 'z';
    return !unicode_is_space(c) && unicode_cat(c) == UNICODE_CAT_LETTER;
}
static int c_number(uint32_t c)
{
    if (c == OUT) return 0;
    if (c < 128) return c >= '0' && c <= '9';
    return !unicode_is_space(c) && unicode_cat(c) == UNICODE_CAT_NUMBER;
}
static int c_punct(uint32_t c)
{
    if (c == OUT) return 0;
    if (c < 128) return c < 128 && strchr("!\"#%&'()*,-./:;?@[\\]_{}", (int)c) && c != 0;
    return !unicode_is_space(c) && unicode_cat(c) == UNICODE_CAT_PUNCT;
}

struct range { uint32_t lo, hi; };

static int in_ranges(uint32_t c, const struct range *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (c >= r[i].lo && c <= r[i].hi) return 1;
    return 0;
}

/* deepseek-llm's explicit letter class (Latin, Greek, Cyrillic, Armenian, ... as written in
 * its tokenizer.json), code point ranges. */
static const struct range ds_letters[] = {
    {0x41, 0x5a}, {0x61, 0x7a}, {0xb5, 0xb5}, {0xc0, 0xd6}, {0xd8, 0xf6}, {0xf8, 0x1ba},
    {0x1bc, 0x1bf}, {0x1c4, 0x293}, {0x295, 0x2af}, {0x370, 0x373}, {0x376, 0x377},
    {0x37b, 0x37d}, {0x37f, 0x37f}, {0x386, 0x386}, {0x388, 0x38a}, {0x38c, 0x38c},
    {0x38e, 0x3a1}, {0x3a3, 0x3f5}, {0x3f7, 0x481}, {0x48a, 0x52f}, {0x531, 0x556},
    {0x10a0, 0x10c5}, {0x13a0, 0x13f5}, {0x13f8, 0x13fd}, {0x1c90, 0x1cba}, {0x1cbd, 0x1cbf},
    {0x1d00, 0x1d2b}, {0x1d6b, 0x1d77}, {0x1d79, 0x1d9a}, {0x1e00, 0x1f15}, {0x1f18, 0x1f1d},
    {0x1f20, 0x1f45}, {0x1f48, 0x1f4d}, {0x1f50, 0x1f57}, {0x1f59, 0x1f59}, {0x1f5b, 0x1f5b},
    {0x1f5d, 0x1f5d}, {0x1f5f, 0x1f7d}, {0x1f80, 0x1fb4}, {0x1fb6, 0x1fbc}, {0x1fbe, 0x1fbe},
    {0x1fc2, 0x1fc4}, {0x1fc6, 0x1fcc}, {0x1fd0, 0x1fd3}, {0x1fd6, 0x1fdb}, {0x1fe0, 0x1fec},
    {0x1ff2, 0x1ff4}, {0x1ff6, 0x1ffc}, {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210a, 0x2113},
    {0x2115, 0x2115}, {0x2119, 0x211d}, {0x2124, 0x2124}, {0x2126, 0x2126}, {0x2128, 0x2128},
    {0x212a, 0x212d}, {0x212f, 0x2134}, {0x2139, 0x2139}, {0x213c, 0x213f}, {0x2145, 0x2149},
    {0x214e, 0x214e}, {0x2183, 0x2184}, {0x2c00, 0x2c7b}, {0x2c7e, 0x2ce4}, {0x2ceb, 0x2cee},
    {0x2cf2, 0x2cf3}, {0xa640, 0xa66d}, {0xa680, 0xa69b}, {0xa722, 0xa76f}, {0xa771, 0xa787},
    {0xa78b, 0xa78e}, {0xab70, 0xabbf}, {0xfb00, 0xfb06}, {0xfb13, 0xfb17}, {0xff21, 0xff3a},
    {0xff41, 0xff5a}, {0x10400, 0x1044f}, {0x104b0, 0x104d3}, {0x104d8, 0x104fb},
    {0x10c80, 0x10cb2}, {0x10cc0, 0x10cf2}, {0x118a0, 0x118df}, {0x1e900, 0x1e943},
};
/* [!-/:-~！-／：-～‘-‟　-。] */
static const struct range ds_punct[] = {
    {0x21, 0x2f}, {0x3a, 0x7e}, {0xff01, 0xff0f}, {0xff1a, 0xff5e}, {0x2018, 0x201f}, {0x3000, 0x3002},
};
/* [一-龥ࠀ-一가-퟿] */
static const struct range cjk[] = { {0x4e00, 0x9fa5}, {0x800, 0x4e00}, {0xac00, 0xd7ff} };

/* In the regexes without \p{..}, llama.cpp replaces non-ASCII whitespace by U+000B first, so
 * an explicit class never matches it. */
static int explicit_class(uint32_t c, const struct range *r, size_t n)
{
    return c != OUT && !(c >= 128 && unicode_is_space(c)) && in_ranges(c, r, n);
}
#define NR(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ matchers */

/* A matcher returns the length of the match starting at p (0: none), within [p, e). */
typedef size_t match_fn(const uint32_t *c, size_t p, size_t e);

static uint32_t at(const uint32_t *c, size_t p, size_t e) { return p < e ? c[p] : OUT; }

static size_t run(const uint32_t *c, size_t p, size_t e, int (*cls)(uint32_t))
{
    size_t q = p;
    while (q < e && cls(c[q])) q++;
    return q - p;
}

/* [\r\n] */
static size_t m_crlf(const uint32_t *c, size_t p, size_t e) { (void)e; return c[p] == '\r' || c[p] == '\n'; }
/* \s?\p{L}+ */
static size_t m_sp_letters(const uint32_t *c, size_t p, size_t e)
{
    if (c_space(c[p]) && c_letter(at(c, p + 1, e))) return 1 + run(c, p + 1, e, c_letter);
    return run(c, p, e, c_letter);
}
/* \s?\p{P}+ */
static size_t m_sp_punct(const uint32_t *c, size_t p, size_t e)
{
    if (c_space(c[p]) && c_punct(at(c, p + 1, e))) return 1 + run(c, p + 1, e, c_punct);
    return run(c, p, e, c_punct);
}
static int cls_cjk(uint32_t c) { return explicit_class(c, cjk, NR(cjk)); }
static int cls_ds_letter(uint32_t c) { return explicit_class(c, ds_letters, NR(ds_letters)); }
static int cls_ds_punct(uint32_t c) { return explicit_class(c, ds_punct, NR(ds_punct)); }
/* [一-龥ࠀ-一가-퟿]+ */
static size_t m_cjk(const uint32_t *c, size_t p, size_t e) { return run(c, p, e, cls_cjk); }
/* \p{N} */
static size_t m_digit(const uint32_t *c, size_t p, size_t e) { (void)e; return c_number(c[p]); }
/* \p{N}+ */
static size_t m_digits(const uint32_t *c, size_t p, size_t e) { return run(c, p, e, c_number); }
/* [0-9][0-9][0-9] */
static size_t m_digit3(const uint32_t *c, size_t p, size_t e)
{
    for (size_t i = 0; i < 3; i++) {
        uint32_t x = at(c, p + i, e);
        if (x < '0' || x > '9') return 0;
    }
    return 3;
}
/* \s?[deepseek letters]+ */
static size_t m_ds_letters(const uint32_t *c, size_t p, size_t e)
{
    if (c_space(c[p]) && cls_ds_letter(at(c, p + 1, e))) return 1 + run(c, p + 1, e, cls_ds_letter);
    return run(c, p, e, cls_ds_letter);
}
/* \s?[!-/:-~！-／：-～‘-‟　-。]+ */
static size_t m_ds_punct(const uint32_t *c, size_t p, size_t e)
{
    if (c_space(c[p]) && cls_ds_punct(at(c, p + 1, e))) return 1 + run(c, p + 1, e, cls_ds_punct);
    return run(c, p, e, cls_ds_punct);
}
/* [\p{P}\$\+<=>\^~\|`]+ (falcon) and [\p{P}\$\+<=>\^~\|]+ (default) */
static int cls_falcon(uint32_t c) { return c_punct(c) || (c && c < 128 && strchr("$+<=>^~|`", (int)c)); }
static int cls_default(uint32_t c) { return c_punct(c) || (c && c < 128 && strchr("$+<=>^~|", (int)c)); }
static size_t m_falcon_punct(const uint32_t *c, size_t p, size_t e) { return run(c, p, e, cls_falcon); }
static size_t m_default_punct(const uint32_t *c, size_t p, size_t e) { return run(c, p, e, cls_default); }

/* Splits [b, e) by leftmost non-overlapping matches of m; appends piece ends to out. */
static size_t split_regex(match_fn *m, const uint32_t *c, size_t b, size_t e, size_t *out)
{
    size_t n = 0, pos = b;
    for (size_t p = b; p < e;) {
        size_t len = m(c, p, e);
        if (!len) { p++; continue; }
        if (p > pos) out[n++] = p;
        out[n++] = p + len;
        pos = p = p + len;
    }
    if (pos < e) out[n++] = e;
    return n;
}

/* \s+$ : the piece's trailing whitespace becomes its own piece. */
static size_t split_trailing_space(const uint32_t *c, size_t b, size_t e, size_t *out)
{
    size_t t = e, n = 0;
    while (t > b && c_space(c[t - 1])) t--;
    if (t > b) out[n++] = t;
    if (t < e) out[n++] = e;
    return n;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S) */
static size_t split_gpt2(const uint32_t *c, size_t b, size_t e, size_t *out)
{
    size_t n = 0;
    for (size_t pos = b; pos < e;) {
        uint32_t ch = c[pos];
        if (ch == '\'' && pos + 1 < e) {
            uint32_t x = c[pos + 1], y = at(c, pos + 2, e);
            if (x == 's' || x == 't' || x == 'm' || x == 'd') { pos += 2; out[n++] = pos; continue; }
            if ((x == 'r' && y == 'e') || (x == 'v' && y == 'e') || (x == 'l' && y == 'l')) {
                pos += 3; out[n++] = pos; continue;
            }
        }
        uint32_t ch2 = ch == ' ' ? at(c, pos + 1, e) : ch;
        int (*cls)(uint32_t) = is_letter(ch2) ? is_letter : is_number(ch2) ? is_number
                             : is_other(ch2) ? is_other : NULL;
        if (cls) {
            pos += ch == ' ';
            while (cls(at(c, pos, e))) pos++;
            out[n++] = pos;
            continue;
        }
        size_t ws = 0;
        while (is_space(at(c, pos + ws, e))) ws++;
        if (ws > 1 && pos + ws < e) { pos += ws - 1; out[n++] = pos; continue; }  /* \s+(?!\S) */
        pos += ws ? ws : 1;                                                        /* \s+ or none */
        out[n++] = pos;
    }
    return n;
}

/* (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|
 * \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * (Llama 3; qwen2 is the same with \p{N} alone: digits_max 1). */
static size_t split_llama3(const uint32_t *c, size_t b, size_t e, size_t *out, size_t digits_max)
{
    size_t n = 0;
    for (size_t pos = b; pos < e;) {
        uint32_t ch = c[pos];
        if (ch == '\'' && pos + 1 < e) {
            uint32_t x = c[pos + 1] | 32, y = at(c, pos + 2, e);
            if (c[pos + 1] < 128 && (x == 's' || x == 't' || x == 'm' || x == 'd')) {
                pos += 2; out[n++] = pos; continue;
            }
            if (c[pos + 1] < 128 && y < 128) {
                y |= 32;
                if ((x == 'r' && y == 'e') || (x == 'v' && y == 'e') || (x == 'l' && y == 'l')) {
                    pos += 3; out[n++] = pos; continue;
                }
            }
        }
        if (!(ch == '\r' || ch == '\n' || is_number(ch)) && (is_letter(ch) || is_letter(at(c, pos + 1, e)))) {
            pos++;
            while (is_letter(at(c, pos, e))) pos++;
            out[n++] = pos;
            continue;
        }
        if (is_number(ch)) {
            size_t ini = pos;
            while (is_number(at(c, pos, e))) {
                if (++pos - ini >= digits_max) { out[n++] = pos; ini = pos; }
            }
            if (pos > ini) out[n++] = pos;
            continue;
        }
        uint32_t ch2 = ch == ' ' ? at(c, pos + 1, e) : ch;
        if (!(is_space(ch2) || is_letter(ch2) || is_number(ch2)) && is_other(ch) | (ch == ' ')) {
            pos += ch == ' ';
            while (is_other(at(c, pos, e))) pos++;
            while (at(c, pos, e) == '\r' || at(c, pos, e) == '\n') pos++;
            out[n++] = pos;
            continue;
        }
        size_t ws = 0, last_nl = 0;
        while (is_space(at(c, pos + ws, e))) {
            if (c[pos + ws] == '\r' || c[pos + ws] == '\n') last_nl = pos + ws + 1;
            ws++;
        }
        if (last_nl) { pos = last_nl; out[n++] = pos; continue; }                 /* \s*[\r\n]+ */
        if (ws > 1 && pos + ws < e) { pos += ws - 1; out[n++] = pos; continue; }  /* \s+(?!\S) */
        pos += ws ? ws : 1;
        out[n++] = pos;
    }
    return n;
}

/* ------------------------------------------------------------------ pipelines */

enum stage {
    ST_END, ST_GPT2, ST_LLAMA3, ST_QWEN2, ST_TRAILING_SPACE, ST_CRLF, ST_SP_LETTERS, ST_SP_PUNCT,
    ST_CJK, ST_DIGIT, ST_DIGITS, ST_DIGIT3, ST_DS_LETTERS, ST_DS_PUNCT, ST_FALCON_PUNCT,
    ST_DEFAULT_PUNCT,
};

static const enum stage pipelines[][7] = {
    [TOK_PRE_DEFAULT] = { ST_DEFAULT_PUNCT, ST_GPT2, ST_DIGITS, ST_DIGIT3, ST_END },
    [TOK_PRE_LLAMA3] = { ST_LLAMA3, ST_END },
    [TOK_PRE_QWEN2] = { ST_QWEN2, ST_END },
    [TOK_PRE_DEEPSEEK_LLM] = { ST_CRLF, ST_DS_LETTERS, ST_DS_PUNCT, ST_TRAILING_SPACE, ST_CJK, ST_DIGITS, ST_END },
    [TOK_PRE_DEEPSEEK_CODER] = { ST_CRLF, ST_SP_LETTERS, ST_SP_PUNCT, ST_CJK, ST_DIGIT, ST_END },
    [TOK_PRE_FALCON] = { ST_FALCON_PUNCT, ST_GPT2, ST_DIGIT3, ST_END },
    [TOK_PRE_GPT2] = { ST_GPT2, ST_END },
    [TOK_PRE_STARCODER] = { ST_DIGIT, ST_GPT2, ST_END },
};

static size_t run_stage(enum stage s, const uint32_t *c, size_t b, size_t e, size_t *out)
{
    switch (s) {
    case ST_GPT2: return split_gpt2(c, b, e, out);
    case ST_LLAMA3: return split_llama3(c, b, e, out, 3);
    case ST_QWEN2: return split_llama3(c, b, e, out, 1);
    case ST_TRAILING_SPACE: return split_trailing_space(c, b, e, out);
    case ST_CRLF: return split_regex(m_crlf, c, b, e, out);
    case ST_SP_LETTERS: return split_regex(m_sp_letters, c, b, e, out);
    case ST_SP_PUNCT: return split_regex(m_sp_punct, c, b, e, out);
    case ST_CJK: return split_regex(m_cjk, c, b, e, out);
    case ST_DIGIT: return split_regex(m_digit, c, b, e, out);
    case ST_DIGITS: return split_regex(m_digits, c, b, e, out);
    case ST_DIGIT3: return split_regex(m_digit3, c, b, e, out);
    case ST_DS_LETTERS: return split_regex(m_ds_letters, c, b, e, out);
    case ST_DS_PUNCT: return split_regex(m_ds_punct, c, b, e, out);
    case ST_FALCON_PUNCT: return split_regex(m_falcon_punct, c, b, e, out);
    case ST_DEFAULT_PUNCT: return split_regex(m_default_punct, c, b, e, out);
    case ST_END: break;
    }
    return 0;
}

size_t tok_pre_split(enum tok_pre pre, const uint32_t *cps, size_t n, size_t *ends, size_t *tmp)
{
    if (n == 0) return 0;
    /* Pieces alternate between the two arrays; every stage only refines the pieces, so no
     * stage can produce more than n ends. */
    size_t *cur = ends, *next = tmp, count = 1;
    cur[0] = n;
    for (const enum stage *s = pipelines[pre]; *s != ST_END; s++) {
        size_t m = 0, b = 0;
        for (size_t i = 0; i < count; i++) {
            m += run_stage(*s, cps, b, cur[i], next + m);
            b = cur[i];
        }
        size_t *t = cur; cur = next; next = t;
        count = m;
    }
    if (cur != ends) memcpy(ends, cur, count * sizeof(*ends));
    return count;
}

static int name_is(const char *name, size_t len, const char *c)
{
    return strlen(c) == len && memcmp(name, c, len) == 0;
}

int tok_pre_from_name(const char *name, size_t len, int *ignore_merges)
{
    static const struct { const char *name; int pre; int ignore_merges; } names[] = {
        { "default", TOK_PRE_DEFAULT, 0 },
        { "llama3", TOK_PRE_LLAMA3, 1 }, { "llama-v3", TOK_PRE_LLAMA3, 1 },
        { "llama-bpe", TOK_PRE_LLAMA3, 1 }, { "falcon3", TOK_PRE_LLAMA3, 1 },
        { "dbrx", TOK_PRE_LLAMA3, 0 }, { "smaug-bpe", TOK_PRE_LLAMA3, 0 },
        { "deepseek-llm", TOK_PRE_DEEPSEEK_LLM, 0 }, { "deepseek-coder", TOK_PRE_DEEPSEEK_CODER, 0 },
        { "falcon", TOK_PRE_FALCON, 0 },
        { "gpt-2", TOK_PRE_GPT2, 0 }, { "gpt2", TOK_PRE_GPT2, 0 }, { "mpt", TOK_PRE_GPT2, 0 },
        { "olmo", TOK_PRE_GPT2, 0 }, { "phi-2", TOK_PRE_GPT2, 0 }, { "roberta-bpe", TOK_PRE_GPT2, 0 },
        { "starcoder", TOK_PRE_STARCODER, 0 }, { "refact", TOK_PRE_STARCODER, 0 },
        { "command-r", TOK_PRE_STARCODER, 0 }, { "smollm", TOK_PRE_STARCODER, 0 },
        { "codeshell", TOK_PRE_STARCODER, 0 }, { "exaone", TOK_PRE_STARCODER, 0 },
        { "qwen2", TOK_PRE_QWEN2, 0 }, { "deepseek-r1-qwen", TOK_PRE_QWEN2, 0 },
        { "stablelm2", TOK_PRE_QWEN2, 0 }, { "megrez", TOK_PRE_QWEN2, 0 },
    };
    for (size_t i = 0; i < NR(names); i++)
        if (name_is(name, len, names[i].name)) {
            *ignore_merges = names[i].ignore_merges;
            return names[i].pre;
        }
    return -1;
}
