/* test_tokenizer.c -- the tokenizers against llama.cpp's vocabulary test vectors (every string
 * of X.gguf.inp must encode to the ids of X.gguf.out), the prompt tokens and output pieces of
 * every shared reference, round trips, special-token parsing, the streaming detokenizer on
 * pieces that split characters, and the cost of an 8k-token prompt. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/llama/gguf.h"
#include "common/buf.h"
#include "engine/llama/tokenizer.h"
#include "engine/llama/unicode.h"
#include "test.h"

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, f);
    b[*n] = 0;
    fclose(f);
    return b;
}

struct loaded {
    struct gguf_file *f;
    struct tokenizer *t;
};

static int load(struct loaded *l, const char *path)
{
    struct err e = { 0 };
    l->f = NULL;
    l->t = NULL;
    if (gguf_open(&l->f, path, &e) < 0) { fprintf(stderr, "  %s\n", e.msg); return -1; }
    if (tokenizer_new(&l->t, l->f, &e) < 0) {
        fprintf(stderr, "  %s: %s\n", path, e.msg);
        gguf_close(l->f);
        return -1;
    }
    return 0;
}

static void unload(struct loaded *l)
{
    tokenizer_free(l->t);
    gguf_close(l->f);
}

static int encode(const struct tokenizer *t, const char *s, size_t n, int bos, int special, int32_t **out)
{
    int cap = 16;
    *out = malloc((size_t)cap * sizeof(**out));
    int r = tokenizer_encode(t, s, n, bos, special, *out, cap);
    if (r > cap) {
        free(*out);
        *out = malloc((size_t)r * sizeof(**out));
        r = tokenizer_encode(t, s, n, bos, special, *out, r);
    }
    return r;
}

/* Decodes ids with the streaming detokenizer into a malloc'd string. */
static char *decode(const struct tokenizer *t, const int32_t *ids, int n, int strip_first, size_t *len)
{
    struct detok d;
    size_t cap = 64, o = 0, l;
    char *s = malloc(cap);
    detok_init(&d, t);
    d.first = strip_first;
    for (int i = 0; i <= n; i++) {
        const char *p = i < n ? detok_push(&d, ids[i], &l) : detok_flush(&d, &l);
        if (o + l + 1 > cap) { cap = (o + l + 1) * 2; s = realloc(s, cap); }
        memcpy(s + o, p, l);
        o += l;
    }
    s[o] = 0;
    *len = o;
    return s;
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


/* ------------------------------------------------------------------ tiny in-memory vocabularies */

static void w_u32(struct buf *b, uint32_t v)
{
    uint8_t p[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    buf_append(b, p, 4);
}
static void w_u64(struct buf *b, uint64_t v) { w_u32(b, (uint32_t)v); w_u32(b, (uint32_t)(v >> 32)); }
static void w_str(struct buf *b, const char *s) { w_u64(b, strlen(s)); buf_append(b, s, strlen(s)); }

struct tiny_vocab {
    const char *model, *pre;         /* pre NULL: no key */
    const char **tokens;
    const int32_t *types;
    const float *scores;             /* NULL: no key */
    int n;
    const char **merges;             /* NULL: no key */
    int n_merges;
    int scores_n;                    /* 0: n (lets a test write a wrong length) */
};

static void tiny_gguf(struct buf *b, const struct tiny_vocab *v)
{
    int n_kv = 2 + (v->pre != NULL) + (v->tokens != NULL) + (v->scores != NULL) + (v->merges != NULL);
    buf_reset(b);
    w_u32(b, 0x46554747u); w_u32(b, 3); w_u64(b, 0); w_u64(b, (uint64_t)n_kv);
    w_str(b, "tokenizer.ggml.model"); w_u32(b, GGUF_TYPE_STRING); w_str(b, v->model);
    if (v->pre) { w_str(b, "tokenizer.ggml.pre"); w_u32(b, GGUF_TYPE_STRING); w_str(b, v->pre); }
    if (v->tokens) {
        w_str(b, "tokenizer.ggml.tokens"); w_u32(b, GGUF_TYPE_ARRAY); w_u32(b, GGUF_TYPE_STRING); w_u64(b, (uint64_t)v->n);
        for (int i = 0; i < v->n; i++) w_str(b, v->tokens[i]);
    }
    w_str(b, "tokenizer.ggml.token_type"); w_u32(b, GGUF_TYPE_ARRAY); w_u32(b, GGUF_TYPE_INT32); w_u64(b, (uint64_t)v->n);
    for (int i = 0; i < v->n; i++) w_u32(b, (uint32_t)v->types[i]);
    if (v->scores) {
        int ns = v->scores_n ? v->scores_n : v->n;
        w_str(b, "tokenizer.ggml.scores"); w_u32(b, GGUF_TYPE_ARRAY); w_u32(b, GGUF_TYPE_FLOAT32); w_u64(b, (uint64_t)ns);
        for (int i = 0; i < ns; i++) { uint32_t u; memcpy(&u, &v->scores[i % v->n], 4); w_u32(b, u); }
    }
    if (v->merges) {
        w_str(b, "tokenizer.ggml.merges"); w_u32(b, GGUF_TYPE_ARRAY); w_u32(b, GGUF_TYPE_STRING); w_u64(b, (uint64_t)v->n_merges);
        for (int i = 0; i < v->n_merges; i++) w_str(b, v->merges[i]);
    }
}

static int tiny_new(struct tokenizer **t, const struct tiny_vocab *v, struct err *e)
{
    struct buf b;
    struct gguf_file *f = NULL;
    buf_init(&b);
    tiny_gguf(&b, v);
    int rc = gguf_parse(&f, b.data, b.len, e);
    if (rc == 0) rc = tokenizer_new(t, f, e);
    gguf_close(f);                   /* the tokenizer copies what it keeps */
    buf_deinit(&b);
    return rc;
}

static void expect_ids(const struct tokenizer *t, const char *text, int bos, const int32_t *want, int n)
{
    int32_t *got;
    int ng = encode(t, text, strlen(text), bos, 0, &got);
    int ok = ng == n && memcmp(got, want, (size_t)n * sizeof(*got)) == 0;
    CHECK(ok);
    if (!ok) {
        fprintf(stderr, "  '%s': got", text);
        for (int i = 0; i < ng; i++) fprintf(stderr, " %d", got[i]);
        fprintf(stderr, "\n");
    }
    free(got);
}

static char tiny_text[300][8];
static const char *tiny_tok[300];
static int32_t tiny_type[300];
static float tiny_score[300];

/* SentencePiece: merges by score, byte fallback, space prefix. */
static void test_tiny_spm(void)
{
    int n = 0;
    const char *head[] = { "<unk>", "<s>", "</s>" };
    for (int i = 0; i < 3; i++) { tiny_tok[n] = head[i]; tiny_type[n] = i == 0 ? 2 : 3; tiny_score[n++] = 0; }
    for (int i = 0; i < 256; i++) {
        snprintf(tiny_text[i], sizeof(tiny_text[i]), "<0x%02X>", i);
        tiny_tok[n] = tiny_text[i]; tiny_type[n] = 6; tiny_score[n++] = 0;
    }
    const char *pieces[] = { "\xe2\x96\x81", "a", "b", "\u2581a", "ab", "\u2581ab", "c" };
    for (int i = 0; i < 7; i++) { tiny_tok[n] = pieces[i]; tiny_type[n] = 1; tiny_score[n++] = -(float)(i + 1); }
    struct tiny_vocab v = { "llama", NULL, tiny_tok, tiny_type, tiny_score, n, NULL, 0, 0 };
    struct tokenizer *t = NULL;
    struct err e = { 0 };
    CHECK_EQ(tiny_new(&t, &v, &e), 0);
    if (!t) { fprintf(stderr, "%s\n", e.msg); return; }
    CHECK_EQ(tokenizer_bos(t), 1);
    CHECK(tokenizer_add_bos(t));
    expect_ids(t, "ab", 1, (int32_t[]){ 1, 264 }, 2);          /* ▁a (-4) first, then ▁ab */
    expect_ids(t, "ba", 0, (int32_t[]){ 259, 261, 260 }, 3);   /* no merge applies */
    expect_ids(t, "\xc3\xa9", 0, (int32_t[]){ 259, 3 + 0xC3, 3 + 0xA9 }, 3);  /* byte fallback */
    expect_ids(t, "a b", 0, (int32_t[]){ 262, 259, 261 }, 3);
    expect_ids(t, "", 1, (int32_t[]){ 1 }, 1);
    size_t l;
    const char *p = tokenizer_piece(t, 264, &l);
    CHECK_STR(p, l, " ab");
    p = tokenizer_piece(t, 3 + 'A', &l);
    CHECK_STR(p, l, "A");
    p = tokenizer_piece(t, 0, &l);
    CHECK_STR(p, l, "<unk>");
    tokenizer_free(t);
}

/* Many user-defined tokens (the partition's byte-pair prefilter is on): they are cut out of
 * plain text wherever they occur, longest first, including at both ends and as one byte. */
static void test_tiny_user_defined(void)
{
    int n = 0;
    const char *head[] = { "<unk>", "<s>", "</s>" };
    for (int i = 0; i < 3; i++) { tiny_tok[n] = head[i]; tiny_type[n] = i == 0 ? 2 : 3; tiny_score[n++] = 0; }
    for (int i = 0; i < 256; i++) {
        snprintf(tiny_text[i], sizeof(tiny_text[i]), "<0x%02X>", i);
        tiny_tok[n] = tiny_text[i]; tiny_type[n] = 6; tiny_score[n++] = 0;
    }
    const char *user[] = { "[P1]", "[P2]", "[P12]", "q", "\xc3\xbc", "[P", "zz", "<|", "|>", "ww" };
    for (int i = 0; i < 10; i++) { tiny_tok[n] = user[i]; tiny_type[n] = 4; tiny_score[n++] = 0; }
    tiny_tok[n] = "\u2581"; tiny_type[n] = 1; tiny_score[n++] = -1;
    struct tiny_vocab v = { "llama", NULL, tiny_tok, tiny_type, tiny_score, n, NULL, 0, 0 };
    struct tokenizer *t = NULL;
    struct err e = { 0 };
    CHECK_EQ(tiny_new(&t, &v, &e), 0);
    if (!t) { fprintf(stderr, "%s\n", e.msg); return; }
    /* ids: [P1] 259, [P2] 260, [P12] 261, q 262, ü 263, [P 264, zz 265, ▁ 269 */
    expect_ids(t, "[P12]q", 0, (int32_t[]){ 261, 262 }, 2);
    expect_ids(t, "q[P1]\xc3\xbc[P3", 0, (int32_t[]){ 262, 259, 263, 264, 269, 3 + '3' }, 6);
    expect_ids(t, "a", 0, (int32_t[]){ 269, 3 + 'a' }, 2);          /* ▁ then byte fallback */
    expect_ids(t, "zzz", 0, (int32_t[]){ 265, 269, 3 + 'z' }, 3);    /* text after a special gets ▁ */
    tokenizer_free(t);
}

/* Byte-level BPE: merges by rank inside pre-tokenizer words. */
static void test_tiny_bpe(void)
{
    int n = 0;
    for (int i = 0; i < 256; i++) {
        tiny_text[i][unicode_put(unicode_byte_to_cp((uint8_t)i), tiny_text[i])] = 0;
        tiny_tok[n] = tiny_text[i]; tiny_type[n++] = 1;
    }
    const char *extra[] = { "\u0120a", "ab", "\u0120ab", "12", "<|endoftext|>" };
    for (int i = 0; i < 5; i++) { tiny_tok[n] = extra[i]; tiny_type[n++] = i == 4 ? 3 : 1; }
    const char *merges[] = { "\xc4\xa0 a", "a b", "\u0120a b", "1 2" };
    struct tiny_vocab v = { "gpt2", "gpt-2", tiny_tok, tiny_type, NULL, n, merges, 4, 0 };
    struct tokenizer *t = NULL;
    struct err e = { 0 };
    CHECK_EQ(tiny_new(&t, &v, &e), 0);
    if (!t) { fprintf(stderr, "%s\n", e.msg); return; }
    expect_ids(t, "ab ab", 0, (int32_t[]){ 257, 258 }, 2);
    expect_ids(t, "123", 0, (int32_t[]){ 259, '3' }, 2);
    expect_ids(t, "\n", 0, (int32_t[]){ '\n' }, 1);
    CHECK(tokenizer_is_eog(t, 260));                       /* <|endoftext|> by its text */
    size_t l;
    const char *p = tokenizer_piece(t, 258, &l);
    CHECK_STR(p, l, " ab");
    p = tokenizer_piece(t, '\n', &l);
    CHECK_STR(p, l, "\n");
    tokenizer_free(t);
    v.pre = "qwen2";                                       /* each digit alone */
    CHECK_EQ(tiny_new(&t, &v, &e), 0);
    if (t) expect_ids(t, "123", 0, (int32_t[]){ '1', '2', '3' }, 3);
    tokenizer_free(t);
}

static void test_load_errors(void)
{
    struct tokenizer *t = NULL;
    struct err e = { 0 };
    const char *toks[] = { "a", "b" };
    const int32_t types[] = { 1, 1 };
    const float scores[] = { 0, 0 };
    struct tiny_vocab v = { "gpt2", "made-up-pre", toks, types, NULL, 2, toks, 0, 0 };
    CHECK_EQ(tiny_new(&t, &v, &e), LLMQ_EUNSUPPORTED);
    CHECK(strstr(e.msg, "tokenizer.ggml.pre 'made-up-pre'") != NULL);
    v = (struct tiny_vocab){ "t5", NULL, toks, types, NULL, 2, NULL, 0, 0 };
    CHECK_EQ(tiny_new(&t, &v, &e), LLMQ_EUNSUPPORTED);
    CHECK(strstr(e.msg, "'t5'") != NULL);
    v = (struct tiny_vocab){ "llama", NULL, NULL, types, NULL, 2, NULL, 0, 0 };
    CHECK_EQ(tiny_new(&t, &v, &e), LLMQ_EFORMAT);
    CHECK(strstr(e.msg, "tokenizer.ggml.tokens: missing") != NULL);
    v = (struct tiny_vocab){ "llama", NULL, toks, types, scores, 2, NULL, 0, 3 };
    CHECK_EQ(tiny_new(&t, &v, &e), LLMQ_EFORMAT);
    CHECK(strstr(e.msg, "tokenizer.ggml.scores") != NULL);
    v = (struct tiny_vocab){ "gpt2", "gpt-2", toks, types, NULL, 2, NULL, 0, 0 };
    CHECK_EQ(tiny_new(&t, &v, &e), LLMQ_EFORMAT);
    CHECK(strstr(e.msg, "tokenizer.ggml.merges: missing") != NULL);
    CHECK(t == NULL);
    tokenizer_free(NULL);
}

/* ------------------------------------------------------------------ vocab vectors */

struct vocab_case {
    const char *name;
    int must_pass_all;
};

static void run_vocab(const char *dir, const struct vocab_case *vc)
{
    char path[8192];
    struct loaded l;
    snprintf(path, sizeof(path), "%s/ggml-vocab-%s.gguf", dir, vc->name);
    if (load(&l, path) < 0) { CHECK(0); return; }
    size_t ni, no;
    snprintf(path, sizeof(path), "%s/ggml-vocab-%s.gguf.inp", dir, vc->name);
    char *inp = slurp(path, &ni);
    snprintf(path, sizeof(path), "%s/ggml-vocab-%s.gguf.out", dir, vc->name);
    char *outp = slurp(path, &no);
    CHECK(inp && outp);
    if (!inp || !outp) { free(inp); free(outp); unload(&l); return; }

    const char *sep = "\n__ggml_vocab_test__\n";
    char *p = inp, *line = outp;
    int total = 0, pass = 0, round_trip_ok = 0, round_trip_n = 0;
    for (;;) {
        char *next = strstr(p, sep);
        if (!next) break;
        size_t n = (size_t)(next - p);
        char *eol = strchr(line, '\n');
        if (!eol) break;
        *eol = 0;
        int32_t want[512];
        int nw = 0;
        for (char *q = line, *end; nw < 512; q = end) {
            long v = strtol(q, &end, 10);
            if (end == q) break;
            want[nw++] = (int32_t)v;
        }
        int32_t *got;
        int ng = encode(l.t, p, n, 0, 0, &got);
        int ok = ng == nw && memcmp(got, want, (size_t)nw * sizeof(int32_t)) == 0;
        total++;
        pass += ok;
        if (!ok && getenv("LLMQ_TEST_VERBOSE")) {
            fprintf(stderr, "  %s #%d '%.*s'\n    want:", vc->name, total, (int)n, p);
            for (int i = 0; i < nw; i++) fprintf(stderr, " %d", want[i]);
            fprintf(stderr, "\n    got: ");
            for (int i = 0; i < ng; i++) fprintf(stderr, " %d", got[i]);
            fprintf(stderr, "\n");
        }
        if (utf8_valid(p, n)) {                  /* decode(encode(x)) == x */
            size_t dl;
            char *dec = decode(l.t, got, ng, 1, &dl);
            round_trip_n++;
            if (dl == n && memcmp(dec, p, n) == 0) round_trip_ok++;
            else if (getenv("LLMQ_TEST_VERBOSE"))
                fprintf(stderr, "  %s round trip #%d: '%.*s' -> '%s'\n", vc->name, total, (int)n, p, dec);
            free(dec);
        }
        free(got);
        p = next + strlen(sep);
        line = eol + 1;
    }
    fprintf(stderr, "vocab %-15s %d/%d strings match, round trip %d/%d\n", vc->name, pass, total,
            round_trip_ok, round_trip_n);
    int lines = 0;                               /* the files hold 46 strings (not 47) */
    for (size_t i = 0; i < no; i++) lines += outp[i] == '\n' || outp[i] == 0;
    CHECK_EQ(total, lines);
    CHECK(total >= 46);
    if (vc->must_pass_all) {
        CHECK_EQ(pass, total);
        CHECK_EQ(round_trip_ok, round_trip_n);
    }
    free(inp);
    free(outp);
    unload(&l);
}

static void test_vocab_vectors(void)
{
    const char *sh = test_shared_dir();
    if (!sh) { TEST_SKIP("LLMQ_SHARED_DIR absent"); return; }
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/testdata/vocab", sh);
    static const struct vocab_case cases[] = {
        { "llama-spm", 1 }, { "phi-3", 1 }, { "deepseek-coder", 1 }, { "deepseek-llm", 1 },
        { "gpt-2", 1 }, { "falcon", 1 }, { "mpt", 1 }, { "starcoder", 1 }, { "refact", 1 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) run_vocab(dir, &cases[i]);
    fprintf(stderr, "vocab bert-bge: skipped (WordPiece is not supported)\n");
}

static void test_bert_unsupported(void)
{
    const char *sh = test_shared_dir();
    if (!sh) { TEST_SKIP("LLMQ_SHARED_DIR absent"); return; }
    char path[8192];
    struct gguf_file *f = NULL;
    struct tokenizer *t = NULL;
    struct err e = { 0 };
    snprintf(path, sizeof(path), "%s/testdata/vocab/ggml-vocab-bert-bge.gguf", sh);
    CHECK_EQ(gguf_open(&f, path, &e), 0);
    CHECK_EQ(tokenizer_new(&t, f, &e), LLMQ_EUNSUPPORTED);
    CHECK(strstr(e.msg, "bert") != NULL);
    CHECK(t == NULL);
    gguf_close(f);
}

/* ------------------------------------------------------------------ references */

static int hex_decode(const char *hex, char *out)
{
    int n = 0;
    for (; hex[0] && hex[1]; hex += 2) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        out[n++] = (char)v;
    }
    return n;
}

static void run_reference(const char *sh, const char *file)
{
    char path[8192];
    json_error_t je;
    snprintf(path, sizeof(path), "%s/testdata/reference/%s", sh, file);
    json_t *root = json_load_file(path, JSON_ALLOW_NUL, &je);
    CHECK(root != NULL);
    if (!root) return;
    const char *model = json_string_value(json_object_get(root, "model_file"));  /* shared/testdata/... */
    snprintf(path, sizeof(path), "%s/%s", sh, model ? model + strlen("shared/") : "");
    struct loaded l;
    if (load(&l, path) < 0) { CHECK(0); json_decref(root); return; }
    json_t *cases = json_object_get(root, "cases"), *c;
    size_t i;
    int ok_cases = 0, n_cases = 0, pieces_ok = 0, pieces_n = 0;
    json_array_foreach(cases, i, c) {
        const char *hex = json_string_value(json_object_get(c, "prompt_utf8_hex"));
        char text[4096];
        int n = hex_decode(hex ? hex : "", text);
        int32_t *got;
        int ng = encode(l.t, text, (size_t)n, tokenizer_add_bos(l.t), 0, &got);
        json_t *want = json_object_get(c, "prompt_tokens");
        int ok = ng == (int)json_array_size(want);
        for (int k = 0; ok && k < ng; k++) ok = got[k] == json_integer_value(json_array_get(want, (size_t)k));
        n_cases++;
        ok_cases += ok;
        if (!ok) fprintf(stderr, "  %s %s: prompt tokens differ\n", file,
                         json_string_value(json_object_get(c, "case_id")));
        free(got);
        json_t *g = json_object_get(c, "greedy_tokens"), *ph = json_object_get(c, "greedy_pieces_hex");
        for (size_t k = 0; k < json_array_size(g); k++) {
            char want_piece[512];
            int wl = hex_decode(json_string_value(json_array_get(ph, k)), want_piece);
            size_t pl;
            const char *piece = tokenizer_piece(l.t, (int32_t)json_integer_value(json_array_get(g, k)), &pl);
            pieces_n++;
            if ((int)pl == wl && memcmp(piece, want_piece, pl) == 0) pieces_ok++;
            else fprintf(stderr, "  %s: piece of %lld differs\n", file, json_integer_value(json_array_get(g, k)));
        }
    }
    fprintf(stderr, "reference %-36s prompts %d/%d, pieces %d/%d\n", file, ok_cases, n_cases, pieces_ok, pieces_n);
    CHECK_EQ(ok_cases, n_cases);
    CHECK_EQ(pieces_ok, pieces_n);
    unload(&l);
    json_decref(root);
}

static void test_references(void)
{
    const char *sh = test_shared_dir();
    if (!sh) { TEST_SKIP("LLMQ_SHARED_DIR absent"); return; }
    static const char *files[] = {
        "stories260K-f16.json", "stories260K-f32.json", "tiny-random-llama-d256-bf16.json",
        "tiny-random-llama-d256-q4_0.json", "tiny-random-llama-d256-q4_k_m.json",
        "tiny-random-llama-d256-q6_k.json", "tiny-random-llama-d256-q8_0.json",
        "tiny-random-llama-gqa-bpe-f16.json", "tiny-random-llama-gqa-spm-f32.json",
        "tiny-random-llama-gqa-spm-q8_0.json", "tiny-random-qwen2-f16.json",
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) run_reference(sh, files[i]);
}

/* ------------------------------------------------------------------ behaviours */

static void test_special_and_eog(void)
{
    const char *sh = test_shared_dir();
    if (!sh) { TEST_SKIP("LLMQ_SHARED_DIR absent"); return; }
    char path[8192];
    struct loaded l;
    snprintf(path, sizeof(path), "%s/testdata/vocab/ggml-vocab-gpt-2.gguf", sh);
    if (load(&l, path) < 0) { CHECK(0); return; }
    const char *s = "a<|endoftext|>b";
    int32_t *ids;
    int n = encode(l.t, s, strlen(s), 0, 1, &ids);
    CHECK_EQ(n, 3);
    if (n == 3) CHECK_EQ(ids[1], 50256);
    free(ids);
    n = encode(l.t, s, strlen(s), 0, 0, &ids);
    CHECK(n > 3);
    for (int i = 0; i < n; i++) CHECK(ids[i] != 50256);
    free(ids);
    CHECK(tokenizer_is_eog(l.t, 50256));
    CHECK(!tokenizer_is_eog(l.t, 64));
    CHECK_EQ(tokenizer_bos(l.t), 50256);
    CHECK_EQ(tokenizer_add_bos(l.t), 0);
    size_t pl;
    tokenizer_piece(l.t, 50256, &pl);
    CHECK_EQ(pl, 0);                              /* control tokens decode to nothing */
    int32_t small[2];
    CHECK_EQ(tokenizer_encode(l.t, "Hello world", 11, 0, 0, small, 1), 2);   /* needs 2, wrote 1 */
    CHECK_EQ(small[0], 15496);
    unload(&l);

    snprintf(path, sizeof(path), "%s/testdata/vocab/ggml-vocab-llama-spm.gguf", sh);
    if (load(&l, path) < 0) { CHECK(0); return; }
    CHECK_EQ(tokenizer_vocab_size(l.t), 32000);
    CHECK_EQ(tokenizer_bos(l.t), 1);
    CHECK_EQ(tokenizer_eos(l.t), 2);
    CHECK(tokenizer_add_bos(l.t));
    CHECK(tokenizer_is_eog(l.t, 2));
    n = encode(l.t, "", 0, 1, 0, &ids);
    CHECK_EQ(n, 1);                               /* empty prompt: BOS only */
    if (n == 1) CHECK_EQ(ids[0], 1);
    free(ids);
    n = encode(l.t, "<s>x", 4, 1, 1, &ids);       /* parse_special: <s> is BOS, then " x"? no: "x" */
    CHECK(n >= 3);
    if (n >= 3) { CHECK_EQ(ids[0], 1); CHECK_EQ(ids[1], 1); }
    free(ids);
    unload(&l);
}

/* Byte tokens that split a character: nothing is emitted until it is complete; bytes that
 * can never complete become U+FFFD. */
static void test_detok_partial_utf8(void)
{
    const char *sh = test_shared_dir();
    if (!sh) { TEST_SKIP("LLMQ_SHARED_DIR absent"); return; }
    char path[8192];
    struct loaded l;
    snprintf(path, sizeof(path), "%s/testdata/vocab/ggml-vocab-llama-spm.gguf", sh);
    if (load(&l, path) < 0) { CHECK(0); return; }
    /* <0xNN> is id 3 + NN in the Llama-2 vocabulary */
    struct detok d;
    size_t n;
    const char *o;
    detok_init(&d, l.t);
    o = detok_push(&d, 3 + 0xE2, &n); CHECK_EQ(n, 0);          /* € = E2 82 AC */
    o = detok_push(&d, 3 + 0x82, &n); CHECK_EQ(n, 0);
    o = detok_push(&d, 3 + 0xAC, &n); CHECK_STR(o, n, "\xe2\x82\xac");
    o = detok_push(&d, 3 + 0xF0, &n); CHECK_EQ(n, 0);          /* 😀 = F0 9F 98 80 */
    o = detok_push(&d, 3 + 0x9F, &n); CHECK_EQ(n, 0);
    o = detok_push(&d, 3 + 0x98, &n); CHECK_EQ(n, 0);
    o = detok_push(&d, 3 + 0x80, &n); CHECK_STR(o, n, "\xf0\x9f\x98\x80");
    o = detok_push(&d, 3 + 0xC3, &n); CHECK_EQ(n, 0);
    o = detok_push(&d, 3 + 'A', &n); CHECK_STR(o, n, "\xef\xbf\xbd" "A");   /* C3 then A: invalid */
    o = detok_push(&d, 3 + 0xFF, &n); CHECK_STR(o, n, "\xef\xbf\xbd");
    o = detok_push(&d, 3 + 0xE4, &n); CHECK_EQ(n, 0);
    o = detok_flush(&d, &n); CHECK_STR(o, n, "\xef\xbf\xbd");            /* dangling lead byte */
    o = detok_flush(&d, &n); CHECK_EQ(n, 0);
    /* a normal piece after a pending byte */
    int32_t hello = -1;
    int32_t *ids;
    int k = encode(l.t, "Hello", 5, 0, 0, &ids);
    if (k == 1) hello = ids[0];
    free(ids);
    CHECK(hello >= 0);
    detok_init(&d, l.t);
    d.first = 1;
    o = detok_push(&d, hello, &n); CHECK_STR(o, n, "Hello");            /* leading space stripped */
    o = detok_push(&d, hello, &n); CHECK_STR(o, n, " Hello");
    o = detok_push(&d, 2, &n); CHECK_EQ(n, 0);                           /* </s> gives "" */
    unload(&l);
}

/* An 8k-token prompt must encode quickly (heap-driven merges, not quadratic). */
static void test_long_prompt_speed(void)
{
    const char *sh = test_shared_dir();
    if (!sh) { TEST_SKIP("LLMQ_SHARED_DIR absent"); return; }
    static const char *names[] = { "llama-spm", "deepseek-coder", "deepseek-llm", "gpt-2" };
    size_t len = 40000;
    char *text = malloc(len + 1);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        text[i] = (x % 6 == 0) ? ' ' : (char)('a' + x % 26);
    }
    memset(text + 20000, 'a', 5000);            /* one long run: a worst case for merging */
    text[len] = 0;
    for (size_t k = 0; k < 4; k++) {
        char path[4096];
        struct loaded l;
        snprintf(path, sizeof(path), "%s/testdata/vocab/ggml-vocab-%s.gguf", sh, names[k]);
        if (load(&l, path) < 0) { CHECK(0); continue; }
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int32_t *ids;
        int n = encode(l.t, text, len, 1, 0, &ids);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
        fprintf(stderr, "encode %s: %zu bytes -> %d tokens in %.1f ms\n", names[k], len, n, ms);
        CHECK(n > 8000);
        CHECK(ms < 2000);
        free(ids);
        unload(&l);
    }
    free(text);
}

int main(void)
{
    TEST_RUN(test_tiny_spm);
    TEST_RUN(test_tiny_bpe);
    TEST_RUN(test_tiny_user_defined);
    TEST_RUN(test_load_errors);
    TEST_RUN(test_vocab_vectors);
    TEST_RUN(test_bert_unsupported);
    TEST_RUN(test_references);
    TEST_RUN(test_special_and_eog);
    TEST_RUN(test_detok_partial_utf8);
    TEST_RUN(test_long_prompt_speed);
    TEST_MAIN_END();
}
