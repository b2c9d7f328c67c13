/* gguf_write.c -- GGUF v3 writer: header in memory, tensor data streamed to disk.
 *
 * File layout written (all integers little-endian; this writer assumes a little-endian host):
 *   "GGUF" u32 version=3, u64 n_tensors, u64 n_kv
 *   n_kv  x { string key, u32 value_type, value }      string = u64 length + bytes (no NUL)
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
 *   zero padding to the alignment (32, general.alignment is not written so the default holds)
 *   tensor data, each tensor starting at data_start + offset, offsets aligned to 32,
 *   zero padding between tensors (and none after the last one, as gguf-py writes it).
 * Only the tensor offsets depend on sizes, which are known when a tensor is declared, so the
 * whole header can be written before the first data byte. */
#include "engine/llama/gguf_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "engine/llama/quantize.h"

#define GGUF_ALIGN 32u

struct wtensor {
    char *name;                /* owned */
    uint32_t n_dims;
    uint64_t ne[4];
    enum ggml_type type;
    uint64_t offset;           /* from the start of the data section */
    size_t size_bytes;
};

struct gguf_write {
    FILE *f;                   /* owned; NULL after finish */
    char *path;                /* owned: final name */
    char *tmp_path;            /* owned: path + ".tmp" */
    struct buf kv;             /* encoded key-value pairs */
    uint64_t n_kv;
    char **keys;               /* owned copies, for duplicate checks */
    struct wtensor *t;         /* owned array [n_t] */
    uint32_t n_t, cap_t;
    uint64_t data_bytes;       /* offset where the next declared tensor would start */
    int header_done;
    uint32_t cur;              /* tensor being filled */
    size_t cur_written;        /* bytes of tensor cur written so far */
    int finished;
    int failed;                /* sticky write error (negative errno) */
};

/* ------------------------------------------------------------------ encoding helpers */

static void put_u32(struct buf *b, uint32_t v) { buf_append(b, &v, 4); }
static void put_u64(struct buf *b, uint64_t v) { buf_append(b, &v, 8); }
static void put_str(struct buf *b, const char *s, size_t n) { put_u64(b, n); buf_append(b, s, n); }

static size_t type_size(enum gguf_type t)
{
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

static uint64_t align_up(uint64_t v) { return (v + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN; }

/* Starts a key: checks state and duplicates, writes key and type. */
static int kv_begin(struct gguf_write *w, const char *key, size_t key_len, enum gguf_type t)
{
    if (w->header_done) return -EINVAL;
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strlen(w->keys[i]) == key_len && memcmp(w->keys[i], key, key_len) == 0) return -EEXIST;
    w->keys = xrealloc(w->keys, (w->n_kv + 1) * sizeof(*w->keys));
    w->keys[w->n_kv++] = xstrndup(key, key_len);
    put_str(&w->kv, key, key_len);
    put_u32(&w->kv, t);
    return 0;
}

/* ------------------------------------------------------------------ lifecycle */

int gguf_write_new(struct gguf_write **out, const char *path, struct err *e)
{
    struct gguf_write *w = xcalloc(1, sizeof(*w));
    size_t n = strlen(path);
    w->path = xstrdup(path);
    w->tmp_path = xmalloc(n + 5);
    memcpy(w->tmp_path, path, n);
    memcpy(w->tmp_path + n, ".tmp", 5);
    buf_init(&w->kv);
    w->f = fopen(w->tmp_path, "wb");
    if (!w->f) {
        int rc = -errno;
        err_set(e, rc, "cannot create %s: %s", w->tmp_path, strerror(errno));
        gguf_write_free(w);
        return rc;
    }
    setvbuf(w->f, NULL, _IOFBF, 1 << 20);
    *out = w;
    return 0;
}

void gguf_write_free(struct gguf_write *w)
{
    if (!w) return;
    if (w->f) {
        fclose(w->f);
        if (!w->finished) unlink(w->tmp_path);
    }
    for (uint64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    free(w->keys);
    for (uint32_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->t);
    buf_deinit(&w->kv);
    free(w->path);
    free(w->tmp_path);
    free(w);
}

/* ------------------------------------------------------------------ metadata */

static int kv_scalar(struct gguf_write *w, const char *key, enum gguf_type t, const void *v)
{
    int rc = kv_begin(w, key, strlen(key), t);
    if (rc < 0) return rc;
    buf_append(&w->kv, v, type_size(t));
    return 0;
}

int gguf_write_kv_u32(struct gguf_write *w, const char *key, uint32_t v)
{
    return kv_scalar(w, key, GGUF_TYPE_UINT32, &v);
}

int gguf_write_kv_i32(struct gguf_write *w, const char *key, int32_t v)
{
    return kv_scalar(w, key, GGUF_TYPE_INT32, &v);
}

int gguf_write_kv_f32(struct gguf_write *w, const char *key, float v)
{
    return kv_scalar(w, key, GGUF_TYPE_FLOAT32, &v);
}

int gguf_write_kv_bool(struct gguf_write *w, const char *key, int v)
{
    uint8_t b = v ? 1 : 0;
    return kv_scalar(w, key, GGUF_TYPE_BOOL, &b);
}

int gguf_write_kv_str(struct gguf_write *w, const char *key, const char *s, size_t len)
{
    int rc = kv_begin(w, key, strlen(key), GGUF_TYPE_STRING);
    if (rc < 0) return rc;
    put_str(&w->kv, s, len);
    return 0;
}

static int kv_arr(struct gguf_write *w, const char *key, size_t key_len, enum gguf_type t,
                  const void *data, uint64_t n)
{
    size_t es = type_size(t);
    if (!es) return -EINVAL;
    int rc = kv_begin(w, key, key_len, GGUF_TYPE_ARRAY);
    if (rc < 0) return rc;
    put_u32(&w->kv, t);
    put_u64(&w->kv, n);
    buf_append(&w->kv, data, (size_t)n * es);
    return 0;
}

int gguf_write_kv_arr(struct gguf_write *w, const char *key, enum gguf_type t,
                      const void *data, uint64_t n)
{
    return kv_arr(w, key, strlen(key), t, data, n);
}

static int kv_arr_str(struct gguf_write *w, const char *key, size_t key_len,
                      const struct gguf_str *s, uint64_t n)
{
    int rc = kv_begin(w, key, key_len, GGUF_TYPE_ARRAY);
    if (rc < 0) return rc;
    put_u32(&w->kv, GGUF_TYPE_STRING);
    put_u64(&w->kv, n);
    for (uint64_t i = 0; i < n; i++) put_str(&w->kv, s[i].ptr, s[i].len);
    return 0;
}

int gguf_write_kv_arr_str(struct gguf_write *w, const char *key, const struct gguf_str *s,
                          uint64_t n)
{
    return kv_arr_str(w, key, strlen(key), s, n);
}

int gguf_write_kv_copy(struct gguf_write *w, const struct gguf_file *f, const struct gguf_kv *kv)
{
    char key[512];
    if (kv->key.len >= sizeof(key)) return -EINVAL;
    memcpy(key, kv->key.ptr, kv->key.len);
    key[kv->key.len] = 0;

    if (kv->type == GGUF_TYPE_STRING) {
        struct gguf_str s;
        int rc = gguf_get_str(f, key, &s);
        if (rc < 0) return rc;
        return gguf_write_kv_str(w, key, s.ptr, s.len);
    }
    if (kv->type == GGUF_TYPE_ARRAY) {
        if (kv->arr_type == GGUF_TYPE_STRING) {
            struct gguf_str *s = NULL;
            uint64_t n = 0;
            int rc = gguf_get_str_arr(f, key, &s, &n);
            if (rc == 0) rc = kv_arr_str(w, key, kv->key.len, s, n);
            free(s);
            return rc;
        }
        enum gguf_type t;
        uint64_t n;
        const void *data;
        int rc = gguf_get_arr(f, key, &t, &n, &data);
        if (rc < 0) return rc;
        return kv_arr(w, key, kv->key.len, t, data, n);
    }
    if (!type_size(kv->type)) return LLMQ_EUNSUPPORTED;
    return kv_scalar(w, key, kv->type, kv->value);
}

/* ------------------------------------------------------------------ tensors */

int gguf_write_tensor_add(struct gguf_write *w, const char *name, uint32_t n_dims,
                          const uint64_t *ne, enum ggml_type type)
{
    if (w->header_done || n_dims < 1 || n_dims > 4) return -EINVAL;
    uint64_t rows = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] == 0) return -EINVAL;
        if (d > 0) rows *= ne[d];
    }
    size_t row_bytes = quantize_row_bytes(type, (int64_t)ne[0]);
    if (!row_bytes) return -EINVAL;
    for (uint32_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0) return -EEXIST;
    if (w->n_t == w->cap_t) {
        w->cap_t = w->cap_t ? 2 * w->cap_t : 64;
        w->t = xrealloc(w->t, w->cap_t * sizeof(*w->t));
    }
    struct wtensor *t = &w->t[w->n_t++];
    memset(t, 0, sizeof(*t));
    t->name = xstrdup(name);
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < 4; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->type = type;
    t->size_bytes = row_bytes * rows;
    t->offset = align_up(w->data_bytes);
    w->data_bytes = t->offset + t->size_bytes;
    return 0;
}

size_t gguf_write_tensor_bytes(const struct gguf_write *w, uint32_t i)
{
    return i < w->n_t ? w->t[i].size_bytes : 0;
}

static int out(struct gguf_write *w, const void *p, size_t n)
{
    if (w->failed) return w->failed;
    if (n && fwrite(p, 1, n, w->f) != n) w->failed = errno ? -errno : -EIO;
    return w->failed;
}

static int pad_to(struct gguf_write *w, uint64_t pos_now, uint64_t pos_want)
{
    static const uint8_t zeros[GGUF_ALIGN];
    return out(w, zeros, (size_t)(pos_want - pos_now));
}

static int write_header(struct gguf_write *w)
{
    struct buf h;
    buf_init(&h);
    buf_append(&h, "GGUF", 4);
    put_u32(&h, 3);
    put_u64(&h, w->n_t);
    put_u64(&h, w->n_kv);
    buf_append(&h, w->kv.data, w->kv.len);
    for (uint32_t i = 0; i < w->n_t; i++) {
        const struct wtensor *t = &w->t[i];
        put_str(&h, t->name, strlen(t->name));
        put_u32(&h, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(&h, t->ne[d]);
        put_u32(&h, t->type);
        put_u64(&h, t->offset);
    }
    int rc = out(w, h.data, h.len);
    if (rc == 0) rc = pad_to(w, h.len, align_up(h.len));
    buf_deinit(&h);
    w->header_done = 1;
    return rc;
}

int gguf_write_tensor_data(struct gguf_write *w, const void *data, size_t n)
{
    int rc;
    if (!w->header_done && (rc = write_header(w)) < 0) return rc;
    while (w->cur < w->n_t && w->cur_written == w->t[w->cur].size_bytes) {
        /* previous tensor complete: pad up to the next one's offset */
        uint64_t end = w->t[w->cur].offset + w->t[w->cur].size_bytes;
        w->cur++;
        w->cur_written = 0;
        if (w->cur < w->n_t && (rc = pad_to(w, end, w->t[w->cur].offset)) < 0) return rc;
    }
    if (n == 0) return w->failed;
    if (w->cur >= w->n_t || n > w->t[w->cur].size_bytes - w->cur_written) return -EINVAL;
    if ((rc = out(w, data, n)) < 0) return rc;
    w->cur_written += n;
    return 0;
}

int gguf_write_finish(struct gguf_write *w, struct err *e)
{
    int rc = gguf_write_tensor_data(w, NULL, 0);    /* writes the header when no tensors */
    if (rc < 0) return err_set(e, rc, "writing %s: %s", w->tmp_path, strerror(-rc));
    if (w->cur < w->n_t)
        return err_set(e, -EINVAL, "tensor '%s': %zu of %zu bytes written", w->t[w->cur].name,
                       w->cur_written, w->t[w->cur].size_bytes);
    /* no fsync: the rename only has to be atomic against a crashed writer, not power loss */
    if (fflush(w->f) != 0) {
        rc = -errno;
        return err_set(e, rc, "writing %s: %s", w->tmp_path, strerror(errno));
    }
    rc = fclose(w->f);
    w->f = NULL;
    if (rc != 0) {
        rc = -errno;
        unlink(w->tmp_path);
        return err_set(e, rc, "closing %s: %s", w->tmp_path, strerror(errno));
    }
    if (rename(w->tmp_path, w->path) != 0) {
        rc = -errno;
        unlink(w->tmp_path);
        return err_set(e, rc, "renaming %s to %s: %s", w->tmp_path, w->path, strerror(errno));
    }
    w->finished = 1;
    return 0;
}
