/* fuzz_gguf.c -- GGUF header validation on arbitrary bytes: gguf_parse must reject or accept
 * without reading past size, and after acceptance every view it returns must be in bounds
 * (the target touches all of them so ASan sees any lie). Also builds a tokenizer from what
 * parsed, since tokenizer_new is the next reader of this metadata. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/llama/gguf.h"
#include "engine/llama/tokenizer.h"

static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gguf_file *f = NULL;
    struct err e;
    if (gguf_parse(&f, data, size, &e) < 0) return 0;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const struct gguf_kv *kv = &f->kv[i];
        char key[256];
        size_t n = kv->key.len < sizeof(key) - 1 ? (size_t)kv->key.len : sizeof(key) - 1;
        memcpy(key, kv->key.ptr, n);
        key[n] = 0;
        uint32_t u; int32_t s; float fl; int b; struct gguf_str str;
        (void)gguf_get_u32(f, key, &u); (void)gguf_get_i32(f, key, &s);
        (void)gguf_get_f32(f, key, &fl); (void)gguf_get_bool(f, key, &b);
        if (gguf_get_str(f, key, &str) == 0 && str.len) sink ^= (uint8_t)str.ptr[str.len - 1];
        struct gguf_str *arr = NULL;
        uint64_t na = 0;
        if (gguf_get_str_arr(f, key, &arr, &na) == 0) {
            for (uint64_t j = 0; j < na; j++)
                if (arr[j].len) sink ^= (uint8_t)arr[j].ptr[arr[j].len - 1];
            free(arr);
        }
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        if (t->size_bytes) sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->size_bytes - 1];
        char name[64];
        memcpy(name, t->name.ptr, (size_t)t->name.len);
        name[t->name.len] = 0;
        if (!memchr(t->name.ptr, 0, (size_t)t->name.len) && gguf_find_tensor(f, name) != t) abort();
    }
    struct tokenizer *tok = NULL;
    if (tokenizer_new(&tok, f, &e) == 0) {
        int32_t ids[64];
        (void)tokenizer_encode(tok, "Hello world <|im_start|> 123", 28, 1, 1, ids, 64);
        tokenizer_free(tok);
    }
    gguf_close(f);
    return 0;
}
