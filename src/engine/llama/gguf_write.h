/* gguf_write.h -- writes a GGUF v3 file, streaming the tensor data.
 * Metadata and tensor descriptions are collected in memory first (they precede the data in
 * the file); then the data is appended tensor by tensor, in the order the tensors were added,
 * in as many pieces as the caller likes, so a multi-GB model never sits in memory whole.
 * The file is written to "<path>.tmp" and renamed to path by gguf_write_finish, so readers
 * never see a half-written model. Does not know what a model is (mkmodel.c does).
 *
 * Usage: gguf_write_new; gguf_write_kv_* ...; gguf_write_tensor_add ...;
 *        gguf_write_tensor_data ... (all bytes of tensor 0, then tensor 1, ...);
 *        gguf_write_finish; gguf_write_free. */
#ifndef LLMQ_GGUF_WRITE_H
#define LLMQ_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/llama/gguf.h"

struct gguf_write;

/* Creates "<path>.tmp" for writing. Returns 0 or a negative errno (e->msg says which file). */
int gguf_write_new(struct gguf_write **out, const char *path, struct err *e);
/* Closes; if gguf_write_finish did not succeed, removes the temporary file. NULL is a no-op. */
void gguf_write_free(struct gguf_write *w);

/* Metadata. Keys are copied. Each returns 0, -EEXIST for a key already written, or -EINVAL
 * when called after the first tensor data (the header is written by then). */
int gguf_write_kv_u32(struct gguf_write *w, const char *key, uint32_t v);
int gguf_write_kv_i32(struct gguf_write *w, const char *key, int32_t v);
int gguf_write_kv_f32(struct gguf_write *w, const char *key, float v);
int gguf_write_kv_bool(struct gguf_write *w, const char *key, int v);
int gguf_write_kv_str(struct gguf_write *w, const char *key, const char *s, size_t len);
/* Array of n numeric values of type t (little-endian, element size of t). */
int gguf_write_kv_arr(struct gguf_write *w, const char *key, enum gguf_type t,
                      const void *data, uint64_t n);
/* Array of n strings. */
int gguf_write_kv_arr_str(struct gguf_write *w, const char *key, const struct gguf_str *s,
                          uint64_t n);
/* Copies one key-value pair (any type, arrays included) from a file opened with gguf_open. */
int gguf_write_kv_copy(struct gguf_write *w, const struct gguf_file *f, const struct gguf_kv *kv);

/* Declares the next tensor: ne[0] is the row length (fastest), unused trailing dims may be
 * omitted (n_dims 1..4). The type must be one quantize.h knows and ne[0] a multiple of its
 * block. Returns 0, -EINVAL (bad shape/type), -EEXIST (duplicate name). */
int gguf_write_tensor_add(struct gguf_write *w, const char *name, uint32_t n_dims,
                          const uint64_t *ne, enum ggml_type type);
/* Bytes of tensor i as declared (0 if i is out of range). */
size_t gguf_write_tensor_bytes(const struct gguf_write *w, uint32_t i);

/* Appends n bytes of tensor data. The first call writes the header. Pieces fill the tensors
 * in declaration order; a piece may not cross from one tensor into the next (-EINVAL).
 * Returns 0 or a negative errno (-ENOSPC, -EIO, ...). */
int gguf_write_tensor_data(struct gguf_write *w, const void *data, size_t n);

/* Checks every tensor was completely written, flushes, closes and renames the file into
 * place. Returns 0, -EINVAL (data missing: e->msg names the tensor) or a negative errno. */
int gguf_write_finish(struct gguf_write *w, struct err *e);

#endif
