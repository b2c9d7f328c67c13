/* kv.c -- see kv.h. The pool is one allocation; pages are never zeroed (a position is
 * always written before it is read) so untouched pages cost no resident memory. */
#include "engine/llama/kv.h"

#include <errno.h>
#include <stdlib.h>

#include "common/err.h"

static int pool_init(struct kv_pool *p, int n_layer, int kv_dim, int n_positions, int host)
{
    p->n_layer = n_layer;
    p->kv_dim = kv_dim;
    p->n_pages = (n_positions + KV_PAGE - 1) / KV_PAGE;
    p->page_elems = (size_t)n_layer * 2 * KV_PAGE * (size_t)kv_dim;
    p->data = host ? malloc((size_t)p->n_pages * p->page_elems * sizeof(uint16_t)) : NULL;
    p->free_pages = malloc((size_t)p->n_pages * sizeof(int));
    if ((host && !p->data) || !p->free_pages) {
        kv_pool_deinit(p);
        return -ENOMEM;
    }
    /* Lowest ids on top of the stack: early sequences get the front of the pool. */
    for (int i = 0; i < p->n_pages; i++) p->free_pages[i] = p->n_pages - 1 - i;
    p->n_free = p->n_pages;
    return 0;
}

int kv_pool_init(struct kv_pool *p, int n_layer, int kv_dim, int n_positions)
{
    return pool_init(p, n_layer, kv_dim, n_positions, 1);
}

int kv_pool_init_table(struct kv_pool *p, int n_layer, int kv_dim, int n_positions)
{
    return pool_init(p, n_layer, kv_dim, n_positions, 0);
}

void kv_pool_deinit(struct kv_pool *p)
{
    free(p->data);
    free(p->free_pages);
    p->data = NULL;
    p->free_pages = NULL;
    p->n_free = p->n_pages = 0;
}

size_t kv_pool_bytes(const struct kv_pool *p) { return (size_t)p->n_pages * p->page_elems * 2; }

int kv_seq_init(struct kv_seq *s, int max_len)
{
    s->max_pages = (max_len + KV_PAGE - 1) / KV_PAGE;
    s->n_pages = s->len = 0;
    s->pages = malloc((size_t)(s->max_pages > 0 ? s->max_pages : 1) * sizeof(int));
    return s->pages ? 0 : -ENOMEM;
}

void kv_seq_deinit(struct kv_pool *p, struct kv_seq *s)
{
    if (!s->pages) return;
    kv_seq_truncate(p, s, 0);
    free(s->pages);
    s->pages = NULL;
}

int kv_seq_reserve(struct kv_pool *p, struct kv_seq *s, int new_len)
{
    int need = (new_len + KV_PAGE - 1) / KV_PAGE;
    if (need > s->max_pages) return LLMQ_ETOOLARGE;
    if (need - s->n_pages > p->n_free) return -ENOMEM;
    while (s->n_pages < need) s->pages[s->n_pages++] = p->free_pages[--p->n_free];
    return 0;
}

void kv_seq_truncate(struct kv_pool *p, struct kv_seq *s, int len)
{
    if (len < s->len) s->len = len;
    int keep = (len + KV_PAGE - 1) / KV_PAGE;
    while (s->n_pages > keep) p->free_pages[p->n_free++] = s->pages[--s->n_pages];
}
