/* test_gguf.c -- the GGUF reader against every shared model and vocab file, a tiny file the
 * test writes itself, every truncation of it and of a real header, and one corruption per
 * validation rule (each must fail with a message naming the problem, never crash). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>

#include "common/buf.h"
#include "engine/llama/gguf.h"
#include "test.h"

/* ------------------------------------------------------------------ a tiny GGUF writer */

static void w_u32(struct buf *b, uint32_t v)
{
    uint8_t p[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    buf_append(b, p, 4);
}
static void w_u64(struct buf *b, uint64_t v)
{
    w_u32(b, (uint32_t)v);
    w_u32(b, (uint32_t)(v >> 32));
}
static void w_str(struct buf *b, const char *s)
{
    w_u64(b, strlen(s));
    buf_append(b, s, strlen(s));
}

struct tiny {                   /* knobs: zero = the valid default */
    uint32_t version;           /* 3 */
    uint32_t alignment;         /* 0 = no general.alignment key (32) */
    int dup_key, dup_tensor;
    int32_t t1_type;            /* -1 = F32 */
    uint64_t t1_ne0;            /* 8 */
    uint32_t t1_dims;           /* 2 */
    uint64_t t1_offset_add;     /* added to the second tensor's offset */
    size_t data_cut;            /* bytes removed from the end */
};

/* Writes: 5 KVs (arch string, u32, f32, bool, string array) + 2 tensors (f32 [4], t1 [8,2]). */
static void tiny_write(struct buf *b, const struct tiny *o)
{
    uint32_t align = o->alignment ? o->alignment : 32;
    buf_reset(b);
    w_u32(b, 0x46554747u);
    w_u32(b, o->version ? o->version : 3);
    w_u64(b, 2);
    w_u64(b, 5 + (o->alignment ? 1 : 0));
    w_str(b, "general.architecture"); w_u32(b, GGUF_TYPE_STRING); w_str(b, "llama");
    w_str(b, o->dup_key ? "general.architecture" : "llama.block_count");
    w_u32(b, GGUF_TYPE_UINT32); w_u32(b, 2);
    w_str(b, "llama.rope.freq_base"); w_u32(b, GGUF_TYPE_FLOAT32);
    float fb = 10000.0f; uint32_t fu; memcpy(&fu, &fb, 4); w_u32(b, fu);
    w_str(b, "tokenizer.ggml.add_bos_token"); w_u32(b, GGUF_TYPE_BOOL); buf_append_char(b, 1);
    w_str(b, "tokenizer.ggml.tokens"); w_u32(b, GGUF_TYPE_ARRAY); w_u32(b, GGUF_TYPE_STRING); w_u64(b, 3);
    w_str(b, "<unk>"); w_str(b, "a"); w_str(b, "bc");
    if (o->alignment) { w_str(b, "general.alignment"); w_u32(b, GGUF_TYPE_UINT32); w_u32(b, o->alignment); }
    /* tensor 0: f32 [4] at 0 (16 bytes); tensor 1 at align_up(16) */
    w_str(b, "t0"); w_u32(b, 1); w_u64(b, 4); w_u32(b, GGML_TYPE_F32); w_u64(b, 0);
    w_str(b, o->dup_tensor ? "t0" : "t1");
    uint32_t dims = o->t1_dims ? o->t1_dims : 2;
    w_u32(b, dims);
    for (uint32_t d = 0; d < dims && d < 8; d++) w_u64(b, d == 0 ? (o->t1_ne0 ? o->t1_ne0 : 8) : 2);
    uint32_t t1_type = o->t1_type >= 0 ? (uint32_t)o->t1_type : GGML_TYPE_F32;
    w_u32(b, t1_type);
    uint64_t off1 = (16 + align - 1) / align * align;
    w_u64(b, off1 + o->t1_offset_add);
    while (b->len % align) buf_append_char(b, 0);
    size_t data_len = (size_t)off1 + 8 * 2 * 4;
    for (size_t i = 0; i < data_len; i++) buf_append_char(b, (char)i);
    b->len -= o->data_cut < b->len ? o->data_cut : 0;
}

static struct tiny tiny_default(void) { struct tiny o; memset(&o, 0, sizeof(o)); o.t1_type = -1; return o; }

static int tiny_parse(const struct tiny *o, struct err *e)
{
    struct buf b;
    struct gguf_file *f = NULL;
    buf_init(&b);
    tiny_write(&b, o);
    int rc = gguf_parse(&f, b.data, b.len, e);
    gguf_close(f);
    buf_deinit(&b);
    return rc;
}

/* ------------------------------------------------------------------ tests */

static void test_tiny_valid(void)
{
    struct tiny o = tiny_default();
    struct buf b;
    struct gguf_file *f = NULL;
    struct err e = { 0 };
    buf_init(&b);
    tiny_write(&b, &o);
    CHECK_EQ(gguf_parse(&f, b.data, b.len, &e), 0);
    if (!f) { fprintf(stderr, "%s\n", e.msg); buf_deinit(&b); return; }
    CHECK_EQ(f->version, 3);
    CHECK_EQ(f->n_kv, 5);
    CHECK_EQ(f->n_tensors, 2);
    CHECK_EQ(f->alignment, 32);
    struct gguf_str s;
    CHECK_EQ(gguf_get_str(f, "general.architecture", &s), 0);
    CHECK(gguf_str_eq(s, "llama"));
    uint32_t u; int32_t i; float fl; int bo;
    CHECK_EQ(gguf_get_u32(f, "llama.block_count", &u), 0); CHECK_EQ(u, 2);
    CHECK_EQ(gguf_get_i32(f, "llama.block_count", &i), 0); CHECK_EQ(i, 2);
    CHECK_EQ(gguf_get_f32(f, "llama.rope.freq_base", &fl), 0); CHECK_NEAR(fl, 10000.0, 0);
    CHECK_EQ(gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &bo), 0); CHECK_EQ(bo, 1);
    CHECK_EQ(gguf_get_u32(f, "missing", &u), -ENOENT);
    CHECK_EQ(gguf_get_u32(f, "general.architecture", &u), LLMQ_EFORMAT);
    CHECK_EQ(gguf_get_str(f, "llama.block_count", &s), LLMQ_EFORMAT);
    struct gguf_str *toks = NULL; uint64_t n = 0;
    CHECK_EQ(gguf_get_str_arr(f, "tokenizer.ggml.tokens", &toks, &n), 0);
    CHECK_EQ(n, 3);
    if (toks && n == 3) { CHECK(gguf_str_eq(toks[0], "<unk>")); CHECK(gguf_str_eq(toks[2], "bc")); }
    free(toks);
    const struct gguf_tensor *t1 = gguf_find_tensor(f, "t1");
    CHECK(t1 != NULL);
    CHECK(gguf_find_tensor(f, "t2") == NULL);
    if (t1) {
        CHECK_EQ(t1->n_dims, 2); CHECK_EQ(t1->ne[0], 8); CHECK_EQ(t1->ne[1], 2); CHECK_EQ(t1->ne[2], 1);
        CHECK_EQ(t1->size_bytes, 64); CHECK_EQ(t1->offset, 32);
        CHECK(t1->data == f->data + 32);
        CHECK_EQ(((const uint8_t *)t1->data)[0], 32);
    }
    gguf_close(f);
    gguf_close(NULL);
    buf_deinit(&b);
}

/* Every prefix of the tiny file (all of it is header + data) must fail cleanly. */
static void test_tiny_truncations(void)
{
    struct tiny o = tiny_default();
    struct buf b;
    buf_init(&b);
    tiny_write(&b, &o);
    int bad = 0;
    for (size_t n = 0; n < b.len; n++) {
        uint8_t *copy = malloc(n ? n : 1);          /* exact size so ASan sees overreads */
        memcpy(copy, b.data, n);
        struct gguf_file *f = NULL;
        struct err e = { 0 };
        int rc = gguf_parse(&f, copy, n, &e);
        if (rc == 0 || f || e.msg[0] == 0) bad++;
        gguf_close(f);
        free(copy);
    }
    CHECK_EQ(bad, 0);
    buf_deinit(&b);
}

static void expect_fail(struct tiny o, int code, const char *needle)
{
    struct err e = { 0 };
    int rc = tiny_parse(&o, &e);
    CHECK_EQ(rc, code);
    if (!strstr(e.msg, needle)) {
        fprintf(stderr, "  message '%s' lacks '%s'\n", e.msg, needle);
        CHECK(0);
    }
}

static void test_tiny_corruptions(void)
{
    struct tiny o;
    o = tiny_default(); o.version = 1; expect_fail(o, LLMQ_EUNSUPPORTED, "version 1");
    o = tiny_default(); o.version = 4; expect_fail(o, LLMQ_EUNSUPPORTED, "version 4");
    o = tiny_default(); o.version = 0x03000000u; expect_fail(o, LLMQ_EUNSUPPORTED, "big-endian");
    o = tiny_default(); o.alignment = 24; expect_fail(o, LLMQ_EFORMAT, "power of two");
    o = tiny_default(); o.dup_key = 1; expect_fail(o, LLMQ_EFORMAT, "duplicate key 'general.architecture'");
    o = tiny_default(); o.dup_tensor = 1; expect_fail(o, LLMQ_EFORMAT, "duplicate tensor name 't0'");
    o = tiny_default(); o.t1_type = 99; expect_fail(o, LLMQ_EUNSUPPORTED, "tensor 't1': unknown");
    o = tiny_default(); o.t1_type = GGML_TYPE_Q8_0; expect_fail(o, LLMQ_EFORMAT, "not a multiple of the q8_0 block");
    o = tiny_default(); o.t1_dims = 5; expect_fail(o, LLMQ_EFORMAT, "5 dimensions");
    o = tiny_default(); o.t1_offset_add = 4; expect_fail(o, LLMQ_EFORMAT, "not a multiple of the alignment");
    o = tiny_default(); o.t1_offset_add = 32; expect_fail(o, LLMQ_EFORMAT, "past the end of the file");
    o = tiny_default(); o.data_cut = 1; expect_fail(o, LLMQ_EFORMAT, "tensor 't1': data ends at byte");
    o = tiny_default(); o.alignment = 64; CHECK_EQ(tiny_parse(&o, NULL), 0);
    o = tiny_default(); o.t1_offset_add = (uint64_t)-32; expect_fail(o, LLMQ_EFORMAT, "overlaps");
}

/* Byte patches of the valid file at known places. */
static void patch_fail(size_t at, const void *bytes, size_t n, const char *needle)
{
    struct tiny o = tiny_default();
    struct buf b;
    struct gguf_file *f = NULL;
    struct err e = { 0 };
    buf_init(&b);
    tiny_write(&b, &o);
    memcpy(b.data + at, bytes, n);
    int rc = gguf_parse(&f, b.data, b.len, &e);
    CHECK(rc < 0);
    CHECK(f == NULL);
    if (!strstr(e.msg, needle)) { fprintf(stderr, "  message '%s' lacks '%s'\n", e.msg, needle); CHECK(0); }
    buf_deinit(&b);
}

static void test_patched_headers(void)
{
    uint64_t big = 0xFFFFFFFFFFFFFFFFull;
    patch_fail(0, "GGUG", 4, "bad magic");
    patch_fail(8, &big, 8, "tensor count");                   /* n_tensors */
    patch_fail(16, &big, 8, "metadata count");                /* n_kv */
    patch_fail(24, &big, 8, "key runs past the end");         /* first key length */
    uint64_t zero = 0;
    patch_fail(24, &zero, 8, "key length 0");
    uint32_t t = 77;
    patch_fail(24 + 8 + 20, &t, 4, "unknown value type 77");  /* first value type */
    uint64_t huge = 1ull << 40;
    patch_fail(24 + 8 + 20 + 4, &huge, 8, "string value runs past");
    /* bool value of tokenizer.ggml.add_bos_token: find it by searching the key */
    struct tiny o = tiny_default();
    struct buf b;
    buf_init(&b);
    tiny_write(&b, &o);
    const char *k = "tokenizer.ggml.add_bos_token";
    char *p = memmem(b.data, b.len, k, strlen(k));
    size_t bool_at = (size_t)(p - b.data) + strlen(k) + 4;
    const char *arr = "tokenizer.ggml.tokens";
    size_t arr_at = (size_t)((char *)memmem(b.data, b.len, arr, strlen(arr)) - b.data) + strlen(arr) + 4;
    const char *t0 = "\x02\0\0\0\0\0\0\0t0";
    size_t t0_at = (size_t)((char *)memmem(b.data, b.len, t0, 10) - b.data) + 10;
    buf_deinit(&b);
    patch_fail(bool_at, "\x02", 1, "neither 0 nor 1");
    uint32_t et = 42;
    patch_fail(arr_at, &et, 4, "unknown array element type 42");
    uint64_t arr_n = 1ull << 62;
    patch_fail(arr_at + 4, &arr_n, 8, "runs past the end");
    uint32_t dims0 = 0;
    patch_fail(t0_at, &dims0, 4, "0 dimensions");
    uint64_t ne0 = 0;
    patch_fail(t0_at + 4, &ne0, 8, "dimension 0 is 0");
    uint64_t ne_big = 1ull << 62;
    patch_fail(t0_at + 4, &ne_big, 8, "tensor 't0'");
}

/* Arrays of arrays: legal up to the nesting bound. */
static void test_nested_arrays(void)
{
    for (int depth = 1; depth <= 6; depth++) {
        struct buf b;
        struct gguf_file *f = NULL;
        struct err e = { 0 };
        buf_init(&b);
        w_u32(&b, 0x46554747u); w_u32(&b, 3); w_u64(&b, 0); w_u64(&b, 1);
        w_str(&b, "nested");
        w_u32(&b, GGUF_TYPE_ARRAY);
        for (int d = 1; d < depth; d++) { w_u32(&b, GGUF_TYPE_ARRAY); w_u64(&b, 1); }
        w_u32(&b, GGUF_TYPE_UINT8); w_u64(&b, 2); buf_append(&b, "\1\2", 2);
        int rc = gguf_parse(&f, b.data, b.len, &e);
        if (depth <= 4) { CHECK_EQ(rc, 0); if (rc) fprintf(stderr, "depth %d: %s\n", depth, e.msg); }
        else { CHECK_EQ(rc, LLMQ_EFORMAT); CHECK(strstr(e.msg, "nested") != NULL); }
        gguf_close(f);
        buf_deinit(&b);
    }
}

static void test_open_errors(void)
{
    struct gguf_file *f = NULL;
    struct err e = { 0 };
    CHECK_EQ(gguf_open(&f, "/nonexistent/x.gguf", &e), -ENOENT);
    CHECK(f == NULL);
    CHECK(strstr(e.msg, "/nonexistent/x.gguf") != NULL);
    CHECK(gguf_open(&f, "/tmp", &e) < 0);
}

static void test_type_table(void)
{
    CHECK_EQ(ggml_type_block_elems(GGML_TYPE_Q4_K), 256);
    CHECK_EQ(ggml_type_block_bytes(GGML_TYPE_Q4_K), 144);
    CHECK_EQ(ggml_type_block_bytes(GGML_TYPE_Q6_K), 210);
    CHECK_EQ(ggml_type_block_bytes(GGML_TYPE_Q8_0), 34);
    CHECK_EQ(ggml_type_block_bytes(GGML_TYPE_Q4_0), 18);
    CHECK_EQ(ggml_type_block_elems(GGML_TYPE_BF16), 1);
    CHECK_EQ(ggml_type_block_bytes((enum ggml_type)99), 0);
    CHECK(strcmp(ggml_type_name(GGML_TYPE_Q6_K), "q6_K") == 0);
}

/* Every shared model and vocab opens; a model has token_embd.weight and the tensor data of
 * the last tensor ends inside the file. */
static void open_dir(const char *dir, int models)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    CHECK(d != NULL);
    while (d && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 5, ".gguf") != 0) continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        struct gguf_file *f = NULL;
        struct err e = { 0 };
        int rc = gguf_open(&f, path, &e);
        CHECK_EQ(rc, 0);
        if (rc) { fprintf(stderr, "  %s\n", e.msg); continue; }
        n++;
        struct gguf_str arch;
        CHECK(gguf_get_str(f, "general.architecture", &arch) == 0);
        struct gguf_str *toks = NULL;
        uint64_t nt = 0;
        CHECK_EQ(gguf_get_str_arr(f, "tokenizer.ggml.tokens", &toks, &nt), 0);
        CHECK(nt > 0);
        free(toks);
        if (models) {
            CHECK(f->n_tensors > 0);
            CHECK(gguf_find_tensor(f, "token_embd.weight") != NULL);
            for (uint64_t i = 0; i < f->n_tensors; i++) {
                const struct gguf_tensor *t = &f->tensors[i];
                CHECK((const uint8_t *)t->data + t->size_bytes <= f->base + f->size);
                CHECK(gguf_find_tensor(f, "token_embd.weight") != NULL);
            }
        }
        gguf_close(f);
    }
    if (d) closedir(d);
    CHECK(n > 0);
}

static void test_shared_files(void)
{
    const char *sh = test_shared_dir();
    if (!sh) { TEST_SKIP("LLMQ_SHARED_DIR absent"); return; }
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/testdata/models", sh);
    open_dir(dir, 1);
    snprintf(dir, sizeof(dir), "%s/testdata/vocab", sh);
    open_dir(dir, 0);
}

/* Every prefix of a real file's header (up to its data section) fails cleanly. */
static void test_shared_truncations(void)
{
    const char *sh = test_shared_dir();
    if (!sh) { TEST_SKIP("LLMQ_SHARED_DIR absent"); return; }
    char path[4096];
    snprintf(path, sizeof(path), "%s/testdata/models/stories260K-f16.gguf", sh);
    struct gguf_file *f = NULL;
    struct err e = { 0 };
    if (gguf_open(&f, path, &e) != 0) { CHECK(0); fprintf(stderr, "%s\n", e.msg); return; }
    size_t header = (size_t)(f->data - f->base);
    int bad = 0;
    uint8_t *copy = malloc(header);
    memcpy(copy, f->base, header);
    for (size_t n = 0; n < header; n++) {
        struct gguf_file *g = NULL;
        int rc = gguf_parse(&g, copy, n, &e);
        if (rc == 0) bad++;
        gguf_close(g);
    }
    CHECK_EQ(bad, 0);
    free(copy);
    gguf_close(f);
}

int main(void)
{
    TEST_RUN(test_tiny_valid);
    TEST_RUN(test_tiny_truncations);
    TEST_RUN(test_tiny_corruptions);
    TEST_RUN(test_patched_headers);
    TEST_RUN(test_nested_arrays);
    TEST_RUN(test_open_errors);
    TEST_RUN(test_type_table);
    TEST_RUN(test_shared_files);
    TEST_RUN(test_shared_truncations);
    TEST_MAIN_END();
}
