/* prompt.c -- the generated prose corpus for prompts (see prompt.h). */
#include "bench/prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"

static const char *const nouns[] = {
    "river", "engine", "garden", "market", "signal", "kernel", "harbor", "orchard", "lantern",
    "ledger", "compiler", "glacier", "violin", "meadow", "satellite", "bakery", "protocol",
    "canyon", "theorem", "bridge", "tapestry", "reactor", "village", "algorithm", "forest",
    "library", "turbine", "comet", "spreadsheet", "monastery", "circuit", "volcano", "recipe",
    "telescope", "carpenter", "neuron", "archive", "festival", "pipeline", "island", "sonnet",
    "railway", "enzyme", "museum", "database", "harvest", "cathedral", "battery", "coral",
    "symphony", "warehouse", "planet", "contract", "microscope", "fountain", "scheduler",
    "desert", "manuscript", "factory", "tide", "vaccine", "mountain", "currency", "workshop",
    "lighthouse", "dialect", "processor", "prairie", "chorus", "router", "quarry", "observatory",
    "parliament", "cipher", "estuary", "novel", "laboratory", "sculpture", "cache", "migration",
};
static const char *const verbs[] = {
    "measures", "carries", "remembers", "builds", "divides", "illuminates", "schedules",
    "describes", "protects", "translates", "compresses", "follows", "questions", "repairs",
    "reflects", "gathers", "predicts", "balances", "encodes", "celebrates", "explores",
    "replaces", "sustains", "negotiates", "observes", "transforms", "records", "shelters",
    "accelerates", "connects", "decodes", "outlives", "invites", "resembles", "streams",
};
static const char *const adjs[] = {
    "quiet", "ancient", "distributed", "golden", "fragile", "northern", "electric", "patient",
    "crowded", "silver", "hidden", "gentle", "recursive", "wooden", "restless", "bright",
    "seasonal", "remote", "careful", "vast", "minor", "curious", "latent", "sturdy", "humid",
    "elegant", "noisy", "tiny", "efficient", "forgotten", "coastal", "abstract", "warm",
};
static const char *const advs[] = {
    "slowly", "often", "quietly", "never", "eventually", "carefully", "rarely", "suddenly",
    "always", "barely", "gladly", "twice", "again", "precisely", "almost",
};
static const char *const links[] = {
    "while", "because", "although", "until", "whenever", "so that", "before", "after",
    "even though", "unless", "as",
};
static const char *const preps[] = {
    "near", "beyond", "under", "across", "inside", "behind", "around", "through", "between",
    "above", "without", "toward",
};

#define PICK(r, a) (a[rng_below(r, sizeof(a) / sizeof(a[0]))])

static void noun_phrase(struct buf *b, struct rng *r)
{
    static const char *const dets[] = { "the", "a", "every", "one", "that", "our", "some" };
    buf_append_str(b, PICK(r, dets));
    buf_append_char(b, ' ');
    if (rng_below(r, 3)) {
        buf_append_str(b, PICK(r, adjs));
        buf_append_char(b, ' ');
    }
    buf_append_str(b, PICK(r, nouns));
}

static void clause(struct buf *b, struct rng *r)
{
    noun_phrase(b, r);
    if (rng_below(r, 4) == 0) {
        buf_append_char(b, ' ');
        buf_append_str(b, PICK(r, advs));
    }
    buf_append_char(b, ' ');
    buf_append_str(b, PICK(r, verbs));
    buf_append_char(b, ' ');
    if (rng_below(r, 6) == 0)
        buf_printf(b, "%u ", (unsigned)(rng_below(r, 2000) + 2));
    noun_phrase(b, r);
    if (rng_below(r, 2)) {
        buf_append_char(b, ' ');
        buf_append_str(b, PICK(r, preps));
        buf_append_char(b, ' ');
        noun_phrase(b, r);
    }
}

static void sentence(struct buf *b, struct rng *r)
{
    size_t start = b->len;
    clause(b, r);
    int more = (int)rng_below(r, 3);
    for (int i = 0; i < more; i++) {
        buf_append_str(b, rng_below(r, 3) ? " " : ", ");
        buf_append_str(b, PICK(r, links));
        buf_append_char(b, ' ');
        clause(b, r);
    }
    b->data[start] = (char)(b->data[start] - 'a' + 'A');
    static const char *const ends[] = { ".", ".", ".", ".", "?", "!", ";" };
    buf_append_str(b, PICK(r, ends));
}

void prompt_corpus_init(struct prompt_corpus *c, size_t n_words, uint64_t seed)
{
    struct rng r;
    struct buf b;
    rng_seed(&r, seed ^ 0x70726f6d7074ull);
    buf_init(&b);
    if (n_words < 1000) n_words = 1000;
    size_t words = 0, cap = n_words + 64;
    c->word_at = xmalloc(cap * sizeof(uint32_t));
    int in_par = 0;
    while (words < n_words) {
        if (b.len) buf_append_char(&b, in_par++ > 4 + (int)rng_below(&r, 4) ? '\n' : ' ');
        if (b.len && b.data[b.len - 1] == '\n') in_par = 0;
        size_t from = b.len;
        sentence(&b, &r);
        /* index the words of the new sentence */
        int at_start = 1;
        for (size_t i = from; i < b.len; i++) {
            int sp = b.data[i] == ' ' || b.data[i] == '\n';
            if (!sp && at_start) {
                if (words == cap) {
                    cap *= 2;
                    c->word_at = xrealloc(c->word_at, cap * sizeof(uint32_t));
                }
                c->word_at[words++] = (uint32_t)i;
            }
            at_start = sp;
        }
    }
    c->text = b.data;
    c->len = b.len;
    c->n_words = words;
}

void prompt_corpus_deinit(struct prompt_corpus *c)
{
    free(c->text);
    free(c->word_at);
    memset(c, 0, sizeof(*c));
}

size_t prompt_words_for_tokens(int tokens)
{
    if (tokens < 1) tokens = 1;
    size_t w = ((size_t)tokens * 3 + 3) / 4;
    return w ? w : 1;
}

void prompt_pick(const struct prompt_corpus *c, int tokens, struct rng *r, const char **text,
                 size_t *len)
{
    size_t w = prompt_words_for_tokens(tokens);
    if (w > c->n_words) w = c->n_words;
    size_t start = (size_t)rng_below(r, c->n_words - w + 1);
    size_t from = c->word_at[start];
    size_t to = start + w < c->n_words ? c->word_at[start + w] - 1 : c->len;
    *text = c->text + from;
    *len = to - from;
}
