/* gguf.h -- read-only view of a GGUF (v2, v3) model file.
 * The file is mmapped read-only and validated completely before gguf_open returns: magic,
 * version, counts, every string and array length, every tensor's shape, type, offset,
 * alignment and extent against the file size. After that every pointer below is in bounds.
 * Strings point into the mapping and are NOT NUL-terminated (use len).
 * Does not interpret model metadata (that is model.c / tokenizer.c). */
#ifndef LLMQ_GGUF_H
#define LLMQ_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

enum gguf_type {               /* metadata value types, as numbered in the file */
    GGUF_TYPE_UINT8 = 0, GGUF_TYPE_INT8 = 1, GGUF_TYPE_UINT16 = 2, GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4, GGUF_TYPE_INT32 = 5, GGUF_TYPE_FLOAT32 = 6, GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8, GGUF_TYPE_ARRAY = 9, GGUF_TYPE_UINT64 = 10, GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
};

enum ggml_type {               /* tensor types, as numbered by ggml */
    GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1, GGML_TYPE_Q4_0 = 2, GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6, GGML_TYPE_Q5_1 = 7, GGML_TYPE_Q8_0 = 8, GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10, GGML_TYPE_Q3_K = 11, GGML_TYPE_Q4_K = 12, GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14, GGML_TYPE_Q8_K = 15, GGML_TYPE_I8 = 24, GGML_TYPE_I16 = 25,
    GGML_TYPE_I32 = 26, GGML_TYPE_I64 = 27, GGML_TYPE_F64 = 28, GGML_TYPE_BF16 = 30,
};

struct gguf_str {
    const char *ptr;           /* into the mapping; not NUL-terminated */
    uint64_t len;
};

struct gguf_kv {
    struct gguf_str key;
    enum gguf_type type;
    enum gguf_type arr_type;   /* when type == GGUF_TYPE_ARRAY */
    uint64_t arr_len;          /* when type == GGUF_TYPE_ARRAY */
    const uint8_t *value;      /* first byte of the value (of the first element for arrays) */
};

struct gguf_tensor {
    struct gguf_str name;
    uint32_t n_dims;           /* 1..4 */
    uint64_t ne[4];            /* elements per dimension, ne[0] fastest (row length); unused = 1 */
    enum ggml_type type;
    uint64_t offset;           /* from the start of the data section */
    const void *data;          /* into the mapping, aligned to the file's alignment */
    size_t size_bytes;
};

struct gguf_file {
    const uint8_t *base;       /* the mapping (or caller's buffer for gguf_parse) */
    size_t size;
    int mapped;                /* 1 if gguf_open mmapped it (unmapped by gguf_close) */
    uint32_t version;          /* 2 or 3 */
    uint64_t n_kv, n_tensors;
    struct gguf_kv *kv;        /* owned array [n_kv] */
    struct gguf_tensor *tensors; /* owned array [n_tensors] */
    uint32_t alignment;        /* general.alignment, default 32 */
    const uint8_t *data;       /* start of the tensor data section */
    uint32_t *tensor_index;    /* owned: open-addressed name hash, slot = tensor index + 1 */
    size_t tensor_index_cap;   /* slots in tensor_index (power of two) */
    void *copy;                /* gguf_copy_data's anonymous copy of the data section, or NULL */
    size_t copy_size;          /* its mapped length */
    int copy_huge;             /* 1 when the kernel was asked to back it with 2 MB pages */
};

/* Maps and validates path. On error returns < 0 (-ENOENT, -EACCES, LLMQ_EFORMAT,
 * LLMQ_EUNSUPPORTED) with e->msg naming exactly what is wrong, e.g. "tensor 'blk.0.attn_q.weight':
 * data ends at byte 123456 past the end of the file (100000 bytes)". */
int gguf_open(struct gguf_file **out, const char *path, struct err *e);
/* Same validation over a caller's buffer, which must outlive the result (fuzzing, tests). */
int gguf_parse(struct gguf_file **out, const void *data, size_t size, struct err *e);
void gguf_close(struct gguf_file *f);          /* NULL is a no-op */

/* Reads the tensor data section of an opened file (path: the file gguf_open mapped) into
 * anonymous memory that the kernel is asked to back with 2 MB transparent huge pages, and
 * points every tensor (and f->data) at the copy; metadata stays in the mapping.
 * Why: decode streams every weight once per token, and over the file mapping's 4 KB pages
 * the hardware prefetchers stop at each page boundary and the TLB misses every 4 KB; in
 * 2 MB pages the same kernels read ~10-20 % faster (docs/ENGINE-BENCH.md). The price: the
 * copy is private to this process (two workers on one machine hold two copies instead of
 * sharing the page cache) and loading reads the file once more.
 * Returns 1 when copied, 0 when it left the mapping in place (max_bytes is below the data
 * size, or transparent huge pages are off: /sys/kernel/mm/transparent_hugepage/enabled
 * says [never]), < 0 on a read or allocation error (f unchanged, e says why). */
int gguf_copy_data(struct gguf_file *f, const char *path, size_t max_bytes, struct err *e);

/* Metadata lookups by key. Return 0, -ENOENT when the key is absent, LLMQ_EFORMAT when
 * it has an incompatible type. Integer getters accept any integer type that fits. */
const struct gguf_kv *gguf_find(const struct gguf_file *f, const char *key);
int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out);
int gguf_get_i32(const struct gguf_file *f, const char *key, int32_t *out);
int gguf_get_f32(const struct gguf_file *f, const char *key, float *out);  /* f32 or f64 */
int gguf_get_bool(const struct gguf_file *f, const char *key, int *out);
int gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *out);
/* Arrays: element type and count; for numeric arrays *data points at the first element
 * (little-endian, possibly unaligned: read with memcpy). */
int gguf_get_arr(const struct gguf_file *f, const char *key, enum gguf_type *type,
                 uint64_t *n, const void **data);
/* String arrays: fills a malloc'd array of n views (caller frees the array, not the strings). */
int gguf_get_str_arr(const struct gguf_file *f, const char *key, struct gguf_str **out, uint64_t *n);
/* True when s equals the NUL-terminated c. */
int gguf_str_eq(struct gguf_str s, const char *c);

const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name);

/* Tensor type facts: elements per block, bytes per block, name ("q4_K"); size 0 = unknown. */
int ggml_type_block_elems(enum ggml_type t);
size_t ggml_type_block_bytes(enum ggml_type t);
const char *ggml_type_name(enum ggml_type t);

#endif
