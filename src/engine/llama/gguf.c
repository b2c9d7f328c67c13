/* gguf.c -- maps a GGUF v2/v3 file and validates all of it before anyone reads a byte.
 *
 * The format (all integers little-endian, no alignment inside the header):
 *
 *   u32 magic "GGUF"  u32 version (2 or 3; v1 used 32-bit counts and is refused)
 *   u64 n_tensors     u64 n_kv
 *   n_kv x { string key; u32 type; value }      value by type: u8/i8/bool 1 byte, u16/i16 2,
 *                                               u32/i32/f32 4, u64/i64/f64 8,
 *                                               string = u64 len + bytes (no NUL),
 *                                               array  = u32 elem type + u64 count + elems
 *   n_tensors x { string name; u32 n_dims; u64 ne[n_dims]; u32 ggml type; u64 offset }
 *   padding to general.alignment (default 32)
 *   data section: tensor i lives at data + offset_i (offset_i aligned)
 *
 * Every length is checked against the bytes that remain before it is used, so no size
 * arithmetic can overflow; after gguf_parse succeeds, every pointer in struct gguf_file is in
 * bounds. Does not interpret metadata (model.c and tokenizer.c do) and never writes the file.
 */
#include "engine/llama/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/xalloc.h"

#define GGUF_MAGIC 0x46554747u        /* "GGUF" read as a little-endian u32 */
#define GGUF_ARRAY_DEPTH_MAX 4         /* arrays of arrays are legal; nesting is bounded */
#define GGUF_KEY_LEN_MAX 65535u        /* the spec's bound on key length */
#define GGUF_NAME_LEN_MAX 63u          /* ggml's GGML_MAX_NAME (64) including the NUL */
#define GGUF_ALIGNMENT_MAX (1u << 24)

/* ------------------------------------------------------------------ tensor type table */

struct type_info {
    const char *name;
    int block_elems;
    size_t block_bytes;
};

static struct type_info type_info(int t)
{
    switch (t) {
    case GGML_TYPE_F32:  return (struct type_info){ "f32", 1, 4 };
    case GGML_TYPE_F16:  return (struct type_info){ "f16", 1, 2 };
    case GGML_TYPE_Q4_0: return (struct type_info){ "q4_0", 32, 18 };
    case GGML_TYPE_Q4_1: return (struct type_info){ "q4_1", 32, 20 };
    case GGML_TYPE_Q5_0: return (struct type_info){ "q5_0", 32, 22 };
    case GGML_TYPE_Q5_1: return (struct type_info){ "q5_1", 32, 24 };
    case GGML_TYPE_Q8_0: return (struct type_info){ "q8_0", 32, 34 };
    case GGML_TYPE_Q8_1: return (struct type_info){ "q8_1", 32, 36 };
    case GGML_TYPE_Q2_K: return (struct type_info){ "q2_K", 256, 84 };
    case GGML_TYPE_Q3_K: return (struct type_info){ "q3_K", 256, 110 };
    case GGML_TYPE_Q4_K: return (struct type_info){ "q4_K", 256, 144 };
    case GGML_TYPE_Q5_K: return (struct type_info){ "q5_K", 256, 176 };
    case GGML_TYPE_Q6_K: return (struct type_info){ "q6_K", 256, 210 };
    case GGML_TYPE_Q8_K: return (struct type_info){ "q8_K", 256, 292 };
    case GGML_TYPE_I8:   return (struct type_info){ "i8", 1, 1 };
    case GGML_TYPE_I16:  return (struct type_info){ "i16", 1, 2 };
    case GGML_TYPE_I32:  return (struct type_info){ "i32", 1, 4 };
    case GGML_TYPE_I64:  return (struct type_info){ "i64", 1, 8 };
    case GGML_TYPE_F64:  return (struct type_info){ "f64", 1, 8 };
    case GGML_TYPE_BF16: return (struct type_info){ "bf16", 1, 2 };
    default:             return (struct type_info){ NULL, 0, 0 };
    }
}

int ggml_type_block_elems(enum ggml_type t) { return type_info((int)t).block_elems; }
size_t ggml_type_block_bytes(enum ggml_type t) { return type_info((int)t).block_bytes; }
const char *ggml_type_name(enum ggml_type t)
{
    const char *n = type_info((int)t).name;
    return n ? n : "unknown";
}

/* ------------------------------------------------------------------ bounded reader */

struct rd {
    const uint8_t *base;
    size_t size, pos;
    struct err *e;
};

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int need(struct rd *r, uint64_t n, const char *what)
{
    if (n > r->size - r->pos)
        return err_set(r->e, LLMQ_EFORMAT, "%s: needs %llu bytes at offset %zu, past the end of the file (%zu bytes)",
                       what, (unsigned long long)n, r->pos, r->size);
    return 0;
}
static int rd_u32(struct rd *r, uint32_t *v, const char *what)
{
    int rc = need(r, 4, what);
    if (rc < 0) return rc;
    *v = le32(r->base + r->pos);
    r->pos += 4;
    return 0;
}
static int rd_u64(struct rd *r, uint64_t *v, const char *what)
{
    int rc = need(r, 8, what);
    if (rc < 0) return rc;
    *v = le64(r->base + r->pos);
    r->pos += 8;
    return 0;
}
static int rd_str(struct rd *r, struct gguf_str *s, const char *what)
{
    uint64_t len;
    int rc = rd_u64(r, &len, what);
    if (rc < 0) return rc;
    if ((rc = need(r, len, what)) < 0) return rc;
    s->ptr = (const char *)r->base + r->pos;
    s->len = len;
    r->pos += (size_t)len;
    return 0;
}

static size_t scalar_size(uint32_t type)
{
    switch (type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

static const char *type_str(uint32_t type)
{
    static const char *names[] = { "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                   "string", "array", "u64", "i64", "f64" };
    return type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown";
}

/* Skips one value of type (whose header has been read), validating it. key names it in errors. */
static int skip_value(struct rd *r, uint32_t type, int depth, const struct gguf_str *key)
{
    size_t sz = scalar_size(type);
    int rc;
    if (sz) {
        if ((rc = need(r, sz, "value")) < 0)
            return err_set(r->e, LLMQ_EFORMAT, "key '%.*s': %s value runs past the end of the file",
                           (int)key->len, key->ptr, type_str(type));
        if (type == GGUF_TYPE_BOOL && r->base[r->pos] > 1)
            return err_set(r->e, LLMQ_EFORMAT, "key '%.*s': bool value %u is neither 0 nor 1",
                           (int)key->len, key->ptr, r->base[r->pos]);
        r->pos += sz;
        return 0;
    }
    if (type == GGUF_TYPE_STRING) {
        struct gguf_str s;
        if ((rc = rd_str(r, &s, "string")) < 0)
            return err_set(r->e, LLMQ_EFORMAT, "key '%.*s': string value runs past the end of the file",
                           (int)key->len, key->ptr);
        return 0;
    }
    if (type == GGUF_TYPE_ARRAY) {
        uint32_t et;
        uint64_t n;
        if (depth >= GGUF_ARRAY_DEPTH_MAX)
            return err_set(r->e, LLMQ_EFORMAT, "key '%.*s': arrays nested deeper than %d",
                           (int)key->len, key->ptr, GGUF_ARRAY_DEPTH_MAX);
        if (rd_u32(r, &et, "array type") < 0 || rd_u64(r, &n, "array length") < 0)
            return err_set(r->e, LLMQ_EFORMAT, "key '%.*s': array header runs past the end of the file",
                           (int)key->len, key->ptr);
        size_t esz = scalar_size(et);
        if (esz) {      /* fixed-size elements: one bounds check, no loop over garbage counts */
            if (n > (r->size - r->pos) / esz)
                return err_set(r->e, LLMQ_EFORMAT, "key '%.*s': array of %llu %s runs past the end of the file",
                               (int)key->len, key->ptr, (unsigned long long)n, type_str(et));
            if (et == GGUF_TYPE_BOOL)
                for (uint64_t i = 0; i < n; i++)
                    if (r->base[r->pos + i] > 1)
                        return err_set(r->e, LLMQ_EFORMAT, "key '%.*s': bool element %llu is neither 0 nor 1",
                                       (int)key->len, key->ptr, (unsigned long long)i);
            r->pos += (size_t)(n * esz);
            return 0;
        }
        if (et != GGUF_TYPE_STRING && et != GGUF_TYPE_ARRAY)
            return err_set(r->e, LLMQ_EFORMAT, "key '%.*s': unknown array element type %u",
                           (int)key->len, key->ptr, et);
        /* Variable-size elements take at least 8 bytes each (a length), so n is bounded by the
         * remaining size before the loop runs. */
        if (n > (r->size - r->pos) / 8)
            return err_set(r->e, LLMQ_EFORMAT, "key '%.*s': array of %llu %s runs past the end of the file",
                           (int)key->len, key->ptr, (unsigned long long)n, type_str(et));
        for (uint64_t i = 0; i < n; i++)
            if ((rc = skip_value(r, et, depth + 1, key)) < 0) return rc;
        return 0;
    }
    return err_set(r->e, LLMQ_EFORMAT, "key '%.*s': unknown value type %u", (int)key->len, key->ptr, type);
}

/* ------------------------------------------------------------------ duplicate detection */

static int str_same(struct gguf_str a, struct gguf_str b)
{
    return a.len == b.len && memcmp(a.ptr, b.ptr, (size_t)a.len) == 0;
}

/* Open-addressed index of n names (slots hold index + 1); returns the first duplicate index or -1. */
static int64_t index_build(uint32_t **slots_out, size_t *cap_out, uint64_t n,
                           const void *items, size_t stride)
{
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    uint32_t *slots = xcalloc(cap, sizeof(*slots));
    *slots_out = slots;
    *cap_out = cap;
    for (uint64_t i = 0; i < n; i++) {
        const struct gguf_str *s = (const struct gguf_str *)((const char *)items + i * stride);
        size_t j = (size_t)hash_fnv1a(s->ptr, (size_t)s->len) & (cap - 1);
        while (slots[j]) {
            const struct gguf_str *o = (const struct gguf_str *)((const char *)items + (slots[j] - 1) * stride);
            if (str_same(*s, *o)) return (int64_t)i;
            j = (j + 1) & (cap - 1);
        }
        slots[j] = (uint32_t)(i + 1);
    }
    return -1;
}

/* ------------------------------------------------------------------ overlap check */

static int cmp_offset(const void *a, const void *b, void *ctx)
{
    const struct gguf_tensor *t = ctx;
    uint64_t x = t[*(const uint32_t *)a].offset, y = t[*(const uint32_t *)b].offset;
    return x < y ? -1 : x > y;
}

/* No two tensors may share bytes (llama.cpp is stricter still: it wants them in file order,
 * each padded to the alignment). Sorting indices keeps it O(n log n). */
static int check_overlap(const struct gguf_file *f, struct err *e)
{
    if (f->n_tensors < 2) return 0;
    uint32_t *idx = xmalloc((size_t)f->n_tensors * sizeof(*idx));
    for (uint32_t i = 0; i < f->n_tensors; i++) idx[i] = i;
    qsort_r(idx, (size_t)f->n_tensors, sizeof(*idx), cmp_offset, f->tensors);
    int rc = 0;
    for (uint64_t i = 1; i < f->n_tensors && rc == 0; i++) {
        const struct gguf_tensor *a = &f->tensors[idx[i - 1]], *b = &f->tensors[idx[i]];
        if (a->offset + a->size_bytes > b->offset)
            rc = err_set(e, LLMQ_EFORMAT, "tensor '%.*s' overlaps tensor '%.*s' (offsets %llu and %llu)",
                         (int)a->name.len, a->name.ptr, (int)b->name.len, b->name.ptr,
                         (unsigned long long)a->offset, (unsigned long long)b->offset);
    }
    free(idx);
    return rc;
}

/* ------------------------------------------------------------------ parse */

static int parse(struct gguf_file *f, struct err *e)
{
    struct rd r = { f->base, f->size, 0, e };
    uint32_t magic, version;
    int rc;

    if (f->size < 4 || (magic = le32(f->base)) != GGUF_MAGIC)
        return err_set(e, LLMQ_EFORMAT, "not a GGUF file (bad magic)");
    r.pos = 4;
    if ((rc = rd_u32(&r, &version, "version")) < 0) return rc;
    if (version == 1)
        return err_set(e, LLMQ_EUNSUPPORTED, "GGUF version 1 is not supported (convert the file to v3)");
    if (version == 0x02000000u || version == 0x03000000u)
        return err_set(e, LLMQ_EUNSUPPORTED, "big-endian GGUF files are not supported");
    if (version != 2 && version != 3)
        return err_set(e, LLMQ_EUNSUPPORTED, "GGUF version %u is not supported (only 2 and 3)", version);
    f->version = version;
    if ((rc = rd_u64(&r, &f->n_tensors, "tensor count")) < 0) return rc;
    if ((rc = rd_u64(&r, &f->n_kv, "metadata count")) < 0) return rc;

    /* Each KV takes at least 13 bytes (key length, type, 1-byte value) and each tensor info at
     * least 24 (name length, n_dims, ne[0], type, offset minus one dim's slack): bound the
     * counts by the file size before allocating anything. */
    size_t rest = f->size - r.pos;
    if (f->n_kv > rest / 13)
        return err_set(e, LLMQ_EFORMAT, "metadata count %llu is impossible for a %zu-byte file",
                       (unsigned long long)f->n_kv, f->size);
    if (f->n_tensors > rest / 32 || f->n_tensors > UINT32_MAX - 1)
        return err_set(e, LLMQ_EFORMAT, "tensor count %llu is impossible for a %zu-byte file",
                       (unsigned long long)f->n_tensors, f->size);

    f->kv = xcalloc(f->n_kv ? (size_t)f->n_kv : 1, sizeof(*f->kv));
    f->tensors = xcalloc(f->n_tensors ? (size_t)f->n_tensors : 1, sizeof(*f->tensors));
    f->alignment = 32;

    for (uint64_t i = 0; i < f->n_kv; i++) {
        struct gguf_kv *kv = &f->kv[i];
        uint32_t type;
        if ((rc = rd_str(&r, &kv->key, "key")) < 0)
            return err_set(e, LLMQ_EFORMAT, "metadata %llu: key runs past the end of the file",
                           (unsigned long long)i);
        if (kv->key.len == 0 || kv->key.len > GGUF_KEY_LEN_MAX)
            return err_set(e, LLMQ_EFORMAT, "metadata %llu: key length %llu out of range",
                           (unsigned long long)i, (unsigned long long)kv->key.len);
        if ((rc = rd_u32(&r, &type, "value type")) < 0)
            return err_set(e, LLMQ_EFORMAT, "key '%.*s': value type runs past the end of the file",
                           (int)kv->key.len, kv->key.ptr);
        if (type > GGUF_TYPE_FLOAT64)
            return err_set(e, LLMQ_EFORMAT, "key '%.*s': unknown value type %u",
                           (int)kv->key.len, kv->key.ptr, type);
        kv->type = (enum gguf_type)type;
        size_t at = r.pos;
        if ((rc = skip_value(&r, type, 0, &kv->key)) < 0) return rc;
        if (type == GGUF_TYPE_ARRAY) {     /* skip_value validated the header: record it */
            kv->arr_type = (enum gguf_type)le32(f->base + at);
            kv->arr_len = le64(f->base + at + 4);
            kv->value = f->base + at + 12;
        } else {
            kv->value = f->base + at;
        }
    }
    uint32_t *slots;
    size_t cap;
    int64_t dup = index_build(&slots, &cap, f->n_kv, f->kv, sizeof(*f->kv));
    free(slots);
    if (dup >= 0)
        return err_set(e, LLMQ_EFORMAT, "duplicate key '%.*s'", (int)f->kv[dup].key.len, f->kv[dup].key.ptr);

    const struct gguf_kv *al = gguf_find(f, "general.alignment");
    if (al) {
        uint32_t a;
        if (al->type != GGUF_TYPE_UINT32)
            return err_set(e, LLMQ_EFORMAT, "key 'general.alignment': type %s, expected u32", type_str(al->type));
        a = le32(al->value);
        if (a == 0 || (a & (a - 1)) != 0 || a > GGUF_ALIGNMENT_MAX)
            return err_set(e, LLMQ_EFORMAT, "key 'general.alignment': %u is not a power of two up to %u",
                           a, GGUF_ALIGNMENT_MAX);
        f->alignment = a;
    }

    for (uint64_t i = 0; i < f->n_tensors; i++) {
        struct gguf_tensor *t = &f->tensors[i];
        uint32_t type;
        if ((rc = rd_str(&r, &t->name, "tensor name")) < 0)
            return err_set(e, LLMQ_EFORMAT, "tensor %llu: name runs past the end of the file",
                           (unsigned long long)i);
        if (t->name.len == 0 || t->name.len > GGUF_NAME_LEN_MAX)
            return err_set(e, LLMQ_EFORMAT, "tensor %llu: name length %llu out of range 1..%u",
                           (unsigned long long)i, (unsigned long long)t->name.len, GGUF_NAME_LEN_MAX);
#define TNAME (int)t->name.len, t->name.ptr
        if ((rc = rd_u32(&r, &t->n_dims, "n_dims")) < 0)
            return err_set(e, LLMQ_EFORMAT, "tensor '%.*s': header runs past the end of the file", TNAME);
        if (t->n_dims < 1 || t->n_dims > 4)
            return err_set(e, LLMQ_EFORMAT, "tensor '%.*s': %u dimensions (must be 1..4)", TNAME, t->n_dims);
        uint64_t n_elems = 1;
        for (uint32_t d = 0; d < 4; d++) {
            t->ne[d] = 1;
            if (d < t->n_dims && (rc = rd_u64(&r, &t->ne[d], "tensor shape")) < 0)
                return err_set(e, LLMQ_EFORMAT, "tensor '%.*s': shape runs past the end of the file", TNAME);
            if (t->ne[d] == 0 || t->ne[d] > INT64_MAX)
                return err_set(e, LLMQ_EFORMAT, "tensor '%.*s': dimension %u is %llu", TNAME, d,
                               (unsigned long long)t->ne[d]);
            if (__builtin_mul_overflow(n_elems, t->ne[d], &n_elems) || n_elems > INT64_MAX)
                return err_set(e, LLMQ_EFORMAT, "tensor '%.*s': element count overflows", TNAME);
        }
        if ((rc = rd_u32(&r, &type, "tensor type")) < 0 || (rc = rd_u64(&r, &t->offset, "offset")) < 0)
            return err_set(e, LLMQ_EFORMAT, "tensor '%.*s': header runs past the end of the file", TNAME);
        struct type_info ti = type_info((int)type);
        if (!ti.name)
            return err_set(e, LLMQ_EUNSUPPORTED, "tensor '%.*s': unknown or unsupported tensor type %u",
                           TNAME, type);
        t->type = (enum ggml_type)type;
        if (t->ne[0] % (uint64_t)ti.block_elems != 0)
            return err_set(e, LLMQ_EFORMAT, "tensor '%.*s': row length %llu is not a multiple of the %s block (%d)",
                           TNAME, (unsigned long long)t->ne[0], ti.name, ti.block_elems);
        uint64_t bytes;
        if (__builtin_mul_overflow(n_elems / (uint64_t)ti.block_elems, (uint64_t)ti.block_bytes, &bytes))
            return err_set(e, LLMQ_EFORMAT, "tensor '%.*s': byte size overflows", TNAME);
        if (bytes > SIZE_MAX)
            return err_set(e, LLMQ_EFORMAT, "tensor '%.*s': byte size too large", TNAME);
        t->size_bytes = (size_t)bytes;
        if (t->offset % f->alignment != 0)
            return err_set(e, LLMQ_EFORMAT, "tensor '%.*s': offset %llu is not a multiple of the alignment %u",
                           TNAME, (unsigned long long)t->offset, f->alignment);
    }

    /* The data section starts at the next multiple of the alignment. A file with no tensors
     * may end before that padding (vocab-only files do). */
    uint64_t data_at = ((uint64_t)r.pos + f->alignment - 1) / f->alignment * f->alignment;
    if (f->n_tensors == 0 && data_at > f->size) data_at = f->size;
    if (data_at > f->size)
        return err_set(e, LLMQ_EFORMAT, "data section starts at byte %llu, past the end of the file (%zu bytes)",
                       (unsigned long long)data_at, f->size);
    f->data = f->base + data_at;
    uint64_t data_size = f->size - data_at;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        struct gguf_tensor *t = &f->tensors[i];
        if (t->offset > data_size || t->size_bytes > data_size - t->offset)
            return err_set(e, LLMQ_EFORMAT,
                           "tensor '%.*s': data ends at byte %llu past the end of the file (%zu bytes)", TNAME,
                           (unsigned long long)(data_at + t->offset + t->size_bytes), f->size);
        t->data = f->data + t->offset;
#undef TNAME
    }
    if ((rc = check_overlap(f, e)) < 0) return rc;
    dup = index_build(&f->tensor_index, &f->tensor_index_cap, f->n_tensors, f->tensors,
                      sizeof(*f->tensors));
    if (dup >= 0)
        return err_set(e, LLMQ_EFORMAT, "duplicate tensor name '%.*s'", (int)f->tensors[dup].name.len,
                       f->tensors[dup].name.ptr);
    return 0;
}

int gguf_parse(struct gguf_file **out, const void *data, size_t size, struct err *e)
{
    struct gguf_file *f = xcalloc(1, sizeof(*f));
    int rc;
    *out = NULL;
    f->base = data;
    f->size = size;
    if ((rc = parse(f, e)) < 0) goto fail;
    *out = f;
    return 0;
fail:
    gguf_close(f);
    return rc;
}

int gguf_open(struct gguf_file **out, const char *path, struct err *e)
{
    struct stat st;
    void *map;
    int fd, rc;

    *out = NULL;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = -errno;
        return err_set(e, rc, "%s: %s", path, strerror(-rc));
    }
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        close(fd);
        return err_set(e, rc, "%s: %s", path, strerror(-rc));
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
        close(fd);
        return err_set(e, LLMQ_EFORMAT, "%s: not a regular non-empty file", path);
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    rc = -errno;
    close(fd);
    if (map == MAP_FAILED) return err_set(e, rc, "%s: mmap: %s", path, strerror(-rc));

    struct gguf_file *f = xcalloc(1, sizeof(*f));
    f->base = map;
    f->size = (size_t)st.st_size;
    f->mapped = 1;
    if ((rc = parse(f, e)) < 0) {
        if (e) {                                    /* prefix the path: "x.gguf: tensor ..." */
            char msg[sizeof(e->msg)];
            snprintf(msg, sizeof(msg), "%s", e->msg);
            err_set(e, rc, "%s: %s", path, msg);
        }
        gguf_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

void gguf_close(struct gguf_file *f)
{
    if (!f) return;
    if (f->mapped && f->base) munmap((void *)f->base, f->size);
    if (f->copy) munmap(f->copy, f->copy_size);
    free(f->kv);
    free(f->tensors);
    free(f->tensor_index);
    free(f);
}

/* ------------------------------------------------------------------ lookups */

int gguf_str_eq(struct gguf_str s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

const struct gguf_kv *gguf_find(const struct gguf_file *f, const char *key)
{
    for (uint64_t i = 0; f && i < f->n_kv; i++)
        if (gguf_str_eq(f->kv[i].key, key)) return &f->kv[i];
    return NULL;
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name)
{
    if (!f || !f->tensor_index) return NULL;
    size_t n = strlen(name), cap = f->tensor_index_cap;
    size_t j = (size_t)hash_fnv1a(name, n) & (cap - 1);
    while (f->tensor_index[j]) {
        const struct gguf_tensor *t = &f->tensors[f->tensor_index[j] - 1];
        if (t->name.len == n && memcmp(t->name.ptr, name, n) == 0) return t;
        j = (j + 1) & (cap - 1);
    }
    return NULL;
}

/* Reads any integer kv as a signed 128-bit-safe pair (value, is_negative). */
static int get_int(const struct gguf_kv *kv, uint64_t *mag, int *neg)
{
    const uint8_t *p = kv->value;
    int64_t s;
    *neg = 0;
    switch (kv->type) {
    case GGUF_TYPE_UINT8:  *mag = p[0]; return 0;
    case GGUF_TYPE_UINT16: *mag = (uint64_t)p[0] | (uint64_t)p[1] << 8; return 0;
    case GGUF_TYPE_UINT32: *mag = le32(p); return 0;
    case GGUF_TYPE_UINT64: *mag = le64(p); return 0;
    case GGUF_TYPE_INT8:   s = (int8_t)p[0]; break;
    case GGUF_TYPE_INT16:  s = (int16_t)(uint16_t)((unsigned)p[0] | (unsigned)p[1] << 8); break;
    case GGUF_TYPE_INT32:  s = (int32_t)le32(p); break;
    case GGUF_TYPE_INT64:  s = (int64_t)le64(p); break;
    default: return LLMQ_EFORMAT;
    }
    if (s < 0) { *neg = 1; *mag = (uint64_t)(-(s + 1)) + 1; }
    else *mag = (uint64_t)s;
    return 0;
}

int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out)
{
    const struct gguf_kv *kv = gguf_find(f, key);
    uint64_t m;
    int neg;
    if (!kv) return -ENOENT;
    if (get_int(kv, &m, &neg) < 0 || neg || m > UINT32_MAX) return LLMQ_EFORMAT;
    *out = (uint32_t)m;
    return 0;
}

int gguf_get_i32(const struct gguf_file *f, const char *key, int32_t *out)
{
    const struct gguf_kv *kv = gguf_find(f, key);
    uint64_t m;
    int neg;
    if (!kv) return -ENOENT;
    if (get_int(kv, &m, &neg) < 0) return LLMQ_EFORMAT;
    if (neg ? m > (uint64_t)INT32_MAX + 1 : m > INT32_MAX) return LLMQ_EFORMAT;
    *out = neg ? (int32_t)(-(int64_t)m) : (int32_t)m;
    return 0;
}

int gguf_get_f32(const struct gguf_file *f, const char *key, float *out)
{
    const struct gguf_kv *kv = gguf_find(f, key);
    if (!kv) return -ENOENT;
    if (kv->type == GGUF_TYPE_FLOAT32) {
        uint32_t u = le32(kv->value);
        memcpy(out, &u, 4);
        return 0;
    }
    if (kv->type == GGUF_TYPE_FLOAT64) {
        uint64_t u = le64(kv->value);
        double d;
        memcpy(&d, &u, 8);
        *out = (float)d;
        return 0;
    }
    return LLMQ_EFORMAT;
}

int gguf_get_bool(const struct gguf_file *f, const char *key, int *out)
{
    const struct gguf_kv *kv = gguf_find(f, key);
    if (!kv) return -ENOENT;
    if (kv->type != GGUF_TYPE_BOOL) return LLMQ_EFORMAT;
    *out = kv->value[0] != 0;
    return 0;
}

int gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *out)
{
    const struct gguf_kv *kv = gguf_find(f, key);
    if (!kv) return -ENOENT;
    if (kv->type != GGUF_TYPE_STRING) return LLMQ_EFORMAT;
    out->len = le64(kv->value);
    out->ptr = (const char *)kv->value + 8;
    return 0;
}

int gguf_get_arr(const struct gguf_file *f, const char *key, enum gguf_type *type, uint64_t *n,
                 const void **data)
{
    const struct gguf_kv *kv = gguf_find(f, key);
    if (!kv) return -ENOENT;
    if (kv->type != GGUF_TYPE_ARRAY) return LLMQ_EFORMAT;
    *type = kv->arr_type;
    *n = kv->arr_len;
    *data = kv->value;
    return 0;
}

int gguf_get_str_arr(const struct gguf_file *f, const char *key, struct gguf_str **out, uint64_t *n)
{
    const struct gguf_kv *kv = gguf_find(f, key);
    if (!kv) return -ENOENT;
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING) return LLMQ_EFORMAT;
    /* The array was validated by parse: every element fits, and n <= size / 8. */
    struct gguf_str *a = malloc((kv->arr_len ? (size_t)kv->arr_len : 1) * sizeof(*a));
    if (!a) return -ENOMEM;
    const uint8_t *p = kv->value;
    for (uint64_t i = 0; i < kv->arr_len; i++) {
        a[i].len = le64(p);
        a[i].ptr = (const char *)p + 8;
        p += 8 + a[i].len;
    }
    *out = a;
    *n = kv->arr_len;
    return 0;
}
