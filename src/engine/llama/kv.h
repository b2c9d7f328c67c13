/* kv.h -- the paged KV cache: a pool of fixed-size pages (KV_PAGE positions each, all layers,
 * K and V in f16 like llama.cpp's default cache) handed to sequences as they grow and
 * returned when they shrink or leave, so memory follows the tokens actually held, not
 * max_batch x ctx_len. Sequences join and leave between steps.
 * Page layout: [layer][K|V][position in page][kv_dim] f16. Not thread-safe (one driver). */
#ifndef LLMQ_LLAMA_KV_H
#define LLMQ_LLAMA_KV_H

#include <stddef.h>
#include <stdint.h>

#define KV_PAGE 16

struct kv_pool {
    int n_layer, kv_dim;
    int n_pages;
    size_t page_elems;         /* f16 values per page */
    uint16_t *data;            /* owned: n_pages pages (NULL: contents live on a device) */
    int *free_pages;           /* owned stack of free page ids */
    int n_free;
};

/* One sequence's page table. */
struct kv_seq {
    int *pages;                /* owned: page ids, max_pages entries */
    int n_pages, max_pages;
    int len;                   /* positions in use */
};

/* A pool holding at least n_positions positions. -ENOMEM when it cannot be allocated. */
int kv_pool_init(struct kv_pool *p, int n_layer, int kv_dim, int n_positions);
/* The same page bookkeeping without host storage (data = NULL): for a device backend that
 * keeps the page contents itself. -ENOMEM. */
int kv_pool_init_table(struct kv_pool *p, int n_layer, int kv_dim, int n_positions);
void kv_pool_deinit(struct kv_pool *p);
size_t kv_pool_bytes(const struct kv_pool *p);

/* A sequence that may grow to max_len positions. -ENOMEM. */
int kv_seq_init(struct kv_seq *s, int max_len);
/* Returns all pages and frees the table. */
void kv_seq_deinit(struct kv_pool *p, struct kv_seq *s);
/* Makes room for new_len positions (len is unchanged). -ENOMEM when the pool is empty
 * (nothing taken), LLMQ_ETOOLARGE past max_len. */
int kv_seq_reserve(struct kv_pool *p, struct kv_seq *s, int new_len);
/* Drops positions >= len and the pages no longer needed. */
void kv_seq_truncate(struct kv_pool *p, struct kv_seq *s, int len);

/* kv_dim f16 values of K (or V) of layer at position pos (< reserved length). */
static inline uint16_t *kv_k(const struct kv_pool *p, const struct kv_seq *s, int layer, int pos)
{
    size_t page = (size_t)s->pages[pos / KV_PAGE];
    return p->data + page * p->page_elems + ((size_t)(2 * layer) * KV_PAGE + pos % KV_PAGE) * p->kv_dim;
}
static inline uint16_t *kv_v(const struct kv_pool *p, const struct kv_seq *s, int layer, int pos)
{
    size_t page = (size_t)s->pages[pos / KV_PAGE];
    return p->data + page * p->page_elems + ((size_t)(2 * layer + 1) * KV_PAGE + pos % KV_PAGE) * p->kv_dim;
}

#endif
