/* test_mkmodel.c -- the GGUF writer (gguf_write.c) and `llmq mkmodel` (mkmodel.c).
 * Everything written is read back with the engine's own reader (gguf_open): metadata of every
 * type, tensor bytes, the writer's refusals; then mkmodel's output: tensor names, shapes and
 * types compared with llama-quantize's files in shared/testdata (--like), value scales,
 * determinism across thread counts, and the tokenizer copy. Files go to a temp dir. */
#include <stdarg.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/llama/cli.h"
#include "engine/llama/gguf.h"
#include "engine/llama/gguf_write.h"
#include "engine/llama/llama.h"
#include "engine/llama/tokenizer.h"
#include "engine/llama/quantize.h"
#include "test.h"

static char tmpdir[256];

static const char *tmp_path(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof(p[k]), "%s/%s", tmpdir, name);
    return p[k];
}

static int file_exists(const char *p) { return access(p, F_OK) == 0; }

/* Runs `llmq mkmodel` with the NULL-terminated arguments. */
static int mkmodel(const char *first, ...)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = "mkmodel";
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 63; a = va_arg(ap, const char *)) argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    return llama_cli_mkmodel(argc, argv);
}

/* ------------------------------------------------------------------ writer */

static void test_writer_roundtrip(void)
{
    const char *path = tmp_path("w.gguf");
    struct gguf_write *w = NULL;
    struct err e = { 0 };
    CHECK_EQ(gguf_write_new(&w, path, &e), 0);
    if (!w) return;
    CHECK_EQ(gguf_write_kv_str(w, "general.architecture", "llama", 5), 0);
    CHECK_EQ(gguf_write_kv_u32(w, "a.u32", 4000000000u), 0);
    CHECK_EQ(gguf_write_kv_i32(w, "a.i32", -7), 0);
    CHECK_EQ(gguf_write_kv_f32(w, "a.f32", 0.25f), 0);
    CHECK_EQ(gguf_write_kv_bool(w, "a.bool", 1), 0);
    CHECK_EQ(gguf_write_kv_u32(w, "a.u32", 1), -EEXIST);
    float fa[3] = { 1, 2, 3 };
    CHECK_EQ(gguf_write_kv_arr(w, "a.farr", GGUF_TYPE_FLOAT32, fa, 3), 0);
    struct gguf_str sa[2] = { { "x", 1 }, { "yz\xe2\x96\x81", 5 } };
    CHECK_EQ(gguf_write_kv_arr_str(w, "a.sarr", sa, 2), 0);

    float x[512];
    for (int i = 0; i < 512; i++) x[i] = sinf((float)i);
    uint8_t q8[2 * 34 * 8], h[512 * 2];
    uint64_t ne2[2] = { 256, 2 }, ne1[1] = { 3 };
    CHECK_EQ(gguf_write_tensor_add(w, "t.q8", 2, ne2, GGML_TYPE_Q8_0), 0);
    CHECK_EQ(gguf_write_tensor_add(w, "t.vec", 1, ne1, GGML_TYPE_F32), 0);
    CHECK_EQ(gguf_write_tensor_add(w, "t.f16", 2, ne2, GGML_TYPE_F16), 0);
    CHECK_EQ(gguf_write_tensor_add(w, "t.f16", 2, ne2, GGML_TYPE_F16), -EEXIST);
    uint64_t bad[2] = { 100, 2 };
    CHECK_EQ(gguf_write_tensor_add(w, "t.bad", 2, bad, GGML_TYPE_Q4_K), -EINVAL);
    CHECK_EQ(gguf_write_tensor_bytes(w, 0), 2 * 8 * 34);
    quantize_row(GGML_TYPE_Q8_0, x, q8, 512);
    quantize_row(GGML_TYPE_F16, x, h, 512);
    /* first tensor in two pieces; a piece may not spill into the next tensor */
    CHECK_EQ(gguf_write_tensor_data(w, q8, 100), 0);
    CHECK_EQ(gguf_write_tensor_data(w, q8 + 100, sizeof(q8)), -EINVAL);
    CHECK_EQ(gguf_write_tensor_data(w, q8 + 100, sizeof(q8) - 100), 0);
    CHECK_EQ(gguf_write_kv_u32(w, "late", 1), -EINVAL);
    CHECK_EQ(gguf_write_tensor_data(w, fa, 12), 0);
    CHECK_EQ(gguf_write_tensor_data(w, h, sizeof(h)), 0);
    CHECK_EQ(gguf_write_finish(w, &e), 0);
    gguf_write_free(w);
    CHECK(!file_exists(tmp_path("w.gguf.tmp")));

    struct gguf_file *f = NULL;
    int rc = gguf_open(&f, path, &e);
    CHECK_EQ(rc, 0);
    if (rc) { fprintf(stderr, "%s\n", e.msg); return; }
    CHECK_EQ(f->version, 3);
    CHECK_EQ(f->n_kv, 7);
    CHECK_EQ(f->n_tensors, 3);
    uint32_t u;
    int32_t i32;
    float fv;
    int b;
    struct gguf_str s;
    CHECK(gguf_get_u32(f, "a.u32", &u) == 0 && u == 4000000000u);
    CHECK(gguf_get_i32(f, "a.i32", &i32) == 0 && i32 == -7);
    CHECK(gguf_get_f32(f, "a.f32", &fv) == 0 && fv == 0.25f);
    CHECK(gguf_get_bool(f, "a.bool", &b) == 0 && b == 1);
    CHECK(gguf_get_str(f, "general.architecture", &s) == 0 && gguf_str_eq(s, "llama"));
    struct gguf_str *ss = NULL;
    uint64_t n = 0;
    CHECK(gguf_get_str_arr(f, "a.sarr", &ss, &n) == 0 && n == 2);
    if (ss && n == 2) CHECK(gguf_str_eq(ss[0], "x") && gguf_str_eq(ss[1], "yz\xe2\x96\x81"));
    free(ss);
    const struct gguf_tensor *t = gguf_find_tensor(f, "t.q8");
    CHECK(t && t->type == GGML_TYPE_Q8_0 && t->ne[0] == 256 && t->ne[1] == 2 &&
          t->size_bytes == sizeof(q8) && !memcmp(t->data, q8, sizeof(q8)));
    t = gguf_find_tensor(f, "t.vec");
    CHECK(t && t->n_dims == 1 && t->ne[0] == 3 && !memcmp(t->data, fa, 12));
    t = gguf_find_tensor(f, "t.f16");
    CHECK(t && t->offset % 32 == 0 && !memcmp(t->data, h, sizeof(h)));
    gguf_close(f);
    unlink(path);
}

static void test_writer_incomplete_leaves_nothing(void)
{
    const char *path = tmp_path("inc.gguf");
    struct gguf_write *w = NULL;
    struct err e = { 0 };
    CHECK_EQ(gguf_write_new(&w, path, &e), 0);
    if (!w) return;
    uint64_t ne[2] = { 32, 4 };
    CHECK_EQ(gguf_write_tensor_add(w, "a", 2, ne, GGML_TYPE_F32), 0);
    CHECK_EQ(gguf_write_tensor_add(w, "b", 2, ne, GGML_TYPE_F32), 0);
    float z[128] = { 0 };
    CHECK_EQ(gguf_write_tensor_data(w, z, sizeof(z)), 0);
    CHECK(gguf_write_finish(w, &e) < 0);
    CHECK(strstr(e.msg, "'b'") != NULL);
    gguf_write_free(w);
    CHECK(!file_exists(path));
    CHECK(!file_exists(tmp_path("inc.gguf.tmp")));

    CHECK(gguf_write_new(&w, "/nonexistent-dir/x.gguf", &e) < 0);
    CHECK(strstr(e.msg, "nonexistent") != NULL);
}

/* ------------------------------------------------------------------ mkmodel vs llama-quantize */

/* Same tensor set, shapes and types as the llama-quantize file, same tokenizer keys. */
static void compare_layout(const char *ref_path, const char *type)
{
    const char *out = tmp_path("like.gguf");
    CHECK_EQ(mkmodel("--out", out, "--like", ref_path, "--type", type, "--quiet", NULL), 0);
    struct gguf_file *a = NULL, *b = NULL;
    struct err e = { 0 };
    CHECK_EQ(gguf_open(&a, ref_path, &e), 0);
    CHECK_EQ(gguf_open(&b, out, &e), 0);
    if (!a || !b) { gguf_close(a); gguf_close(b); return; }
    CHECK_EQ(a->n_tensors, b->n_tensors);
    int mismatches = 0;
    for (uint64_t i = 0; i < a->n_tensors; i++) {
        const struct gguf_tensor *ta = &a->tensors[i];
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)ta->name.len, ta->name.ptr);
        const struct gguf_tensor *tb = gguf_find_tensor(b, name);
        if (!tb || tb->type != ta->type || tb->n_dims != ta->n_dims || tb->ne[0] != ta->ne[0] ||
            tb->ne[1] != ta->ne[1] || tb->size_bytes != ta->size_bytes) {
            if (mismatches++ < 5)
                fprintf(stderr, "%s %s: tensor %s differs (type %d vs %d)\n", ref_path, type, name,
                        tb ? (int)tb->type : -1, (int)ta->type);
        }
    }
    CHECK_EQ(mismatches, 0);
    uint32_t fa = 0, fb = 1;
    if (gguf_get_u32(a, "general.file_type", &fa) == 0) {
        CHECK_EQ(gguf_get_u32(b, "general.file_type", &fb), 0);
        CHECK_EQ(fa, fb);
    }
    const char *keys[] = { "llama.embedding_length", "llama.block_count", "llama.feed_forward_length",
                           "llama.attention.head_count", "llama.attention.head_count_kv",
                           "llama.context_length", "tokenizer.ggml.bos_token_id",
                           "tokenizer.ggml.eos_token_id" };
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        uint32_t va = 0, vb = 1;
        CHECK(gguf_get_u32(a, keys[k], &va) == 0 && gguf_get_u32(b, keys[k], &vb) == 0 && va == vb);
    }
    struct gguf_str *sa = NULL, *sb = NULL;
    uint64_t na = 0, nb = 0;
    CHECK(gguf_get_str_arr(a, "tokenizer.ggml.tokens", &sa, &na) == 0);
    CHECK(gguf_get_str_arr(b, "tokenizer.ggml.tokens", &sb, &nb) == 0);
    CHECK_EQ(na, nb);
    int diff = 0;
    for (uint64_t i = 0; sa && sb && i < na && i < nb; i++)
        diff += sa[i].len != sb[i].len || memcmp(sa[i].ptr, sb[i].ptr, sa[i].len);
    CHECK_EQ(diff, 0);
    free(sa);
    free(sb);
    gguf_close(a);
    gguf_close(b);
    unlink(out);
}

static void test_layout_matches_llama_quantize(void)
{
    const char *dir = test_shared_dir();
    if (!dir) {
        TEST_SKIP("no shared/testdata");
        return;
    }
    const char *files[][2] = {
        { "tiny-random-llama-d256-q4_k_m.gguf", "q4_k_m" }, { "tiny-random-llama-d256-q4_0.gguf", "q4_0" },
        { "tiny-random-llama-d256-q6_k.gguf", "q6_k" },     { "tiny-random-llama-d256-q8_0.gguf", "q8_0" },
        { "tiny-random-llama-d256-bf16.gguf", "bf16" },     { "stories260K-f16.gguf", "f16" },
        { "tiny-random-llama-gqa-spm-f32.gguf", "f32" },    { "tiny-random-llama-gqa-spm-q8_0.gguf", "q8_0" },
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char p[4096];
        snprintf(p, sizeof(p), "%s/testdata/models/%s", dir, files[i][0]);
        compare_layout(p, files[i][1]);
    }
}

/* ------------------------------------------------------------------ values, determinism */

static double tensor_std(const struct gguf_file *f, const char *name, double *mean)
{
    const struct gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) return -1;
    uint64_t n = t->ne[0] * t->ne[1];
    float *x = malloc(n * sizeof(float));
    quantize_dequantize_row(t->type, t->data, x, (int64_t)n);
    double s = 0, s2 = 0;
    for (uint64_t i = 0; i < n; i++) { s += x[i]; s2 += (double)x[i] * x[i]; }
    free(x);
    *mean = s / n;
    return sqrt(s2 / n - *mean * *mean);
}

static void test_scales_and_types(void)
{
    const char *out = tmp_path("q4km.gguf");
    CHECK_EQ(mkmodel("--out", out, "--layers", "12", "--dim", "256", "--heads", "4", "--kv-heads", "2",
                     "--ffn", "512", "--vocab", "600", "--type", "q4_k_m", "--quiet", NULL), 0);
    struct gguf_file *f = NULL;
    struct err e = { 0 };
    CHECK_EQ(gguf_open(&f, out, &e), 0);
    if (!f) return;
    CHECK_EQ(f->n_tensors, 12 * 9 + 3);
    /* use_more_bits over 12 layers: 0, 3, 6, 9, 10, 11 get Q6_K attn_v and ffn_down */
    int more[12] = { 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 1 };
    for (int il = 0; il < 12; il++) {
        char n1[64], n2[64], n3[64];
        snprintf(n1, sizeof(n1), "blk.%d.attn_v.weight", il);
        snprintf(n2, sizeof(n2), "blk.%d.ffn_down.weight", il);
        snprintf(n3, sizeof(n3), "blk.%d.ffn_up.weight", il);
        enum ggml_type want = more[il] ? GGML_TYPE_Q6_K : GGML_TYPE_Q4_K;
        const struct gguf_tensor *a = gguf_find_tensor(f, n1), *b = gguf_find_tensor(f, n2),
                                 *c = gguf_find_tensor(f, n3);
        CHECK(a && a->type == want && b && b->type == want && c && c->type == GGML_TYPE_Q4_K);
    }
    const struct gguf_tensor *o = gguf_find_tensor(f, "output.weight");
    CHECK(o && o->type == GGML_TYPE_Q6_K && o->ne[0] == 256 && o->ne[1] == 600);
    struct gguf_str *tok = NULL;
    uint64_t nt = 0;
    CHECK(gguf_get_str_arr(f, "tokenizer.ggml.tokens", &tok, &nt) == 0 && nt == 600);
    if (tok && nt == 600) CHECK(gguf_str_eq(tok[1], "<s>") && gguf_str_eq(tok[3 + 0x41], "<0x41>"));
    free(tok);

    double m, sd;
    sd = tensor_std(f, "token_embd.weight", &m);
    CHECK_NEAR(sd, 0.5, 0.03);
    CHECK_NEAR(m, 0, 0.01);
    sd = tensor_std(f, "blk.1.attn_q.weight", &m);
    CHECK_NEAR(sd, 1 / 16.0, 0.005);
    sd = tensor_std(f, "blk.1.attn_output.weight", &m);
    CHECK_NEAR(sd, 0.3 / 16, 0.002);
    sd = tensor_std(f, "blk.1.ffn_down.weight", &m);
    CHECK_NEAR(sd, 4 / sqrt(512.0), 0.01);
    sd = tensor_std(f, "blk.1.ffn_norm.weight", &m);
    CHECK_NEAR(sd, 0.1, 0.02);
    CHECK_NEAR(m, 1.0, 0.02);
    gguf_close(f);
    unlink(out);
}

static int files_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int eq = fa && fb;
    while (eq) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) eq = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return eq;
}

static void test_deterministic_across_threads(void)
{
    const char *a = tmp_path("t1.gguf"), *b = tmp_path("t2.gguf"), *c = tmp_path("t3.gguf");
    const char *shape[] = { "--layers", "2", "--dim", "256", "--heads", "8", "--kv-heads", "2",
                            "--ffn", "768", "--vocab", "300", "--type", "q6_k", "--quiet" };
    CHECK_EQ(mkmodel("--out", a, "--threads", "1", shape[0], shape[1], shape[2], shape[3], shape[4],
                     shape[5], shape[6], shape[7], shape[8], shape[9], shape[10], shape[11], shape[12],
                     shape[13], shape[14], NULL), 0);
    CHECK_EQ(mkmodel("--out", b, "--threads", "3", shape[0], shape[1], shape[2], shape[3], shape[4],
                     shape[5], shape[6], shape[7], shape[8], shape[9], shape[10], shape[11], shape[12],
                     shape[13], shape[14], NULL), 0);
    CHECK_EQ(mkmodel("--out", c, "--seed", "2", shape[0], shape[1], shape[2], shape[3], shape[4],
                     shape[5], shape[6], shape[7], shape[8], shape[9], shape[10], shape[11], shape[12],
                     shape[13], shape[14], NULL), 0);
    CHECK(files_equal(a, b));
    CHECK(!files_equal(a, c));
    unlink(a);
    unlink(b);
    unlink(c);
}

static void test_llama2_vocab_and_errors(void)
{
    const char *out = tmp_path("v.gguf");
    if (test_shared_dir()) {
        CHECK_EQ(mkmodel("--out", out, "--layers", "1", "--dim", "64", "--heads", "2", "--kv-heads", "1",
                         "--ffn", "128", "--type", "q8_0", "--quiet", NULL), 0);
        struct gguf_file *f = NULL;
        struct err e = { 0 };
        CHECK_EQ(gguf_open(&f, out, &e), 0);
        if (f) {
            struct gguf_str *tok = NULL;
            uint64_t nt = 0;
            CHECK(gguf_get_str_arr(f, "tokenizer.ggml.tokens", &tok, &nt) == 0 && nt == 32000);
            if (tok && nt == 32000) CHECK(gguf_str_eq(tok[29871], "\xe2\x96\x81"));
            free(tok);
            const struct gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
            CHECK(t && t->type == GGML_TYPE_Q8_0 && t->ne[1] == 32000);
            gguf_close(f);
        }
        unlink(out);
    }
    /* rows of 96 cannot be Q4_K: fall back to Q8_0 like llama-quantize's fallback */
    CHECK_EQ(mkmodel("--out", out, "--layers", "1", "--dim", "96", "--heads", "2", "--kv-heads", "1",
                     "--ffn", "256", "--vocab", "260", "--type", "q4_k_m", "--quiet", NULL), 0);
    struct gguf_file *f = NULL;
    struct err e = { 0 };
    CHECK_EQ(gguf_open(&f, out, &e), 0);
    if (f) {
        const struct gguf_tensor *t = gguf_find_tensor(f, "blk.0.ffn_up.weight");
        CHECK(t && t->type == GGML_TYPE_Q8_0);
        t = gguf_find_tensor(f, "blk.0.ffn_down.weight");     /* rows of 256: Q6_K (layer 0) */
        CHECK(t && t->type == GGML_TYPE_Q6_K);
        gguf_close(f);
    }
    unlink(out);

    CHECK_EQ(mkmodel("--out", out, "--type", "q3_k", "--quiet", NULL), 2);
    CHECK_EQ(mkmodel("--type", "f16", NULL), 2);
    CHECK_EQ(mkmodel("--out", out, "--dim", "100", "--heads", "3", NULL), 2);
    CHECK_EQ(mkmodel("--out", out, "--vocab", "100", NULL), 2);
    CHECK_EQ(mkmodel("--out", out, "--like", "/nonexistent.gguf", NULL), 2);
    CHECK(!file_exists(out));
}

/* The generated byte-level SPM vocab works with the engine's tokenizer: any text encodes
 * (through the made-up pieces and the byte tokens) and decodes back to the same bytes. */
static void test_generated_vocab_tokenizes(void)
{
    const char *out = tmp_path("tok.gguf");
    CHECK_EQ(mkmodel("--out", out, "--layers", "1", "--dim", "32", "--heads", "1", "--kv-heads", "1",
                     "--ffn", "32", "--vocab", "2000", "--type", "f32", "--quiet", NULL), 0);
    struct gguf_file *f = NULL;
    struct tokenizer *t = NULL;
    struct err e = { 0 };
    CHECK_EQ(gguf_open(&f, out, &e), 0);
    if (f) CHECK_EQ(tokenizer_new(&t, f, &e), 0);
    if (t) {
        const char *text = "hello world, \xc3\xa9t\xc3\xa9 \xe2\x9c\x93 zz";
        int32_t ids[128];
        int n = tokenizer_encode(t, text, strlen(text), 0, 0, ids, 128);
        CHECK(n > 2 && n <= 128);
        int uses_pieces = 0;
        char buf[256];
        size_t len = 0;
        struct detok d;
        detok_init(&d, t);
        d.first = 1;                    /* a whole text, not a continuation: drop the SPM prefix */
        for (int i = 0; i < n && i < 128; i++) {
            uses_pieces |= ids[i] >= 259;
            size_t m;
            const char *p = detok_push(&d, ids[i], &m);
            if (len + m < sizeof(buf)) { memcpy(buf + len, p, m); len += m; }
        }
        size_t m;
        const char *p = detok_flush(&d, &m);
        if (len + m < sizeof(buf)) { memcpy(buf + len, p, m); len += m; }
        CHECK(uses_pieces);
        CHECK_STR(buf, len, text);
        tokenizer_free(t);
    }
    gguf_close(f);
    unlink(out);
}

/* Every type mkmodel writes loads in the engine and decodes to finite, non-constant logits. */
static void test_engine_loads_every_type(void)
{
    const char *types[] = { "f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q6_k" };
    const char *out = tmp_path("eng.gguf");
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        CHECK_EQ(mkmodel("--out", out, "--layers", "2", "--dim", "256", "--heads", "4", "--kv-heads", "2",
                         "--ffn", "512", "--vocab", "300", "--type", types[i], "--quiet", NULL), 0);
        struct llama_model *m = NULL;
        struct llama_ctx *c = NULL;
        struct llama_seq *sq = NULL;
        struct err e = { 0 };
        int rc = llama_model_load(&m, out, &e);
        CHECK_EQ(rc, 0);
        if (rc) { fprintf(stderr, "%s: %s\n", types[i], e.msg); unlink(out); continue; }
        const struct llama_hparams *hp = llama_model_hparams(m);
        CHECK(hp->n_vocab == 300 && hp->n_embd == 256 && hp->n_layer == 2 && hp->n_head_kv == 2 && !hp->tied_output);
        struct llama_ctx_params p = { .max_batch = 1, .ctx_len = 32, .threads = 1 };
        CHECK_EQ(llama_ctx_new(&c, m, &p, &e), 0);
        if (c) CHECK_EQ(llama_seq_new(c, &sq), 0);
        float logits[300];
        int32_t tok[4] = { 1, 100, 200, 299 };
        if (sq) {
            CHECK_EQ(llama_prefill(c, sq, tok, 4, logits), 0);
            int finite = 1;
            float lo = logits[0], hi = logits[0];
            for (int k = 0; k < 300; k++) {
                finite &= isfinite(logits[k]);
                lo = fminf(lo, logits[k]);
                hi = fmaxf(hi, logits[k]);
            }
            CHECK(finite && hi - lo > 1.0f);
            int32_t next = llama_argmax(logits, 300);
            CHECK_EQ(llama_decode(c, &sq, &next, 1, logits), 0);
            CHECK_EQ(llama_seq_pos(sq), 5);
        }
        llama_seq_free(c, sq);
        llama_ctx_free(c);
        llama_model_free(m);
        unlink(out);
    }
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/llmq-test-mkmodel-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    TEST_RUN(test_writer_roundtrip);
    TEST_RUN(test_writer_incomplete_leaves_nothing);
    TEST_RUN(test_layout_matches_llama_quantize);
    TEST_RUN(test_scales_and_types);
    TEST_RUN(test_deterministic_across_threads);
    TEST_RUN(test_llama2_vocab_and_errors);
    TEST_RUN(test_generated_vocab_tokenizes);
    TEST_RUN(test_engine_loads_every_type);
    rmdir(tmpdir);
    TEST_MAIN_END();
}
