/* replay.h -- token chunks of the replay log P out:<id> (docs/QUEUE.md "Replay log"):
 *     XADD P out:<id> * i <first-index> n <count> t <text> o <lens>
 * o is the byte length of each of the n tokens' text, n comma-separated decimals that sum
 * to len(t) ("0,0,5,3"). A token's length is what the worker released at that token: a
 * token whose text was empty or held back (partial UTF-8, possible stop-string start) has
 * 0 and its bytes count on the later token that released them. With o, a reader resuming at
 * any index inside a chunk cuts the chunk's text exactly; an entry without o (an older
 * worker) can only be sent whole. The worker builds o with replay_lens_append; a gateway
 * calls replay_cut (strict: o is checked in full, it comes from Redis; fuzzed). */
#ifndef LLMQ_QUEUE_REPLAY_H
#define LLMQ_QUEUE_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define REPLAY_FIELD_LENS "o" /* the field name of the per-token lengths */

/* Appends one token's byte length to the o field being built in b (a ',' first unless b is
 * empty). Call it once per token, in index order. */
void replay_lens_append(struct buf *b, size_t len);

/* Appends the lengths of one token-event record (docs/QUEUE.md: count tokens whose text,
 * text_len bytes, was released at the last of them): count - 1 zeros, then text_len.
 * Nothing when count is 0. */
void replay_lens_append_record(struct buf *b, uint32_t count, size_t text_len);

/* Checks that o[0..o_len) is exactly count lengths, decimals without sign or leading zeros
 * separated by single commas, summing to text_len. Returns 0, or LLMQ_EFORMAT with e->msg
 * naming the byte offset. count 0 needs an empty o. */
int replay_lens_check(const char *o, size_t o_len, uint32_t count, size_t text_len, struct err *e);

/* One token chunk as read from an entry; every pointer is borrowed (e.g. from the reply). */
struct replay_chunk {
    uint32_t index, count; /* fields i and n */
    const char *text;      /* field t */
    size_t text_len;
    const char *lens; /* field o; NULL when the entry has none */
    size_t lens_len;
};

/* What a stream still has to send of a chunk: tokens [index, index + count) whose text is
 * chunk.text[off, off + len). count 0 means nothing (every token already sent). */
struct replay_cut {
    uint32_t index, count;
    size_t off, len;
    int exact; /* 0: the chunk straddles `next` and has no usable o; the whole text is given
                * for [next, end) (its first bytes may repeat what the client has) */
};

/* Cuts chunk c for a stream whose next unsent token index is `next` (a resume with
 * Last-Event-ID <id>:<k> or WS after = k has next = k + 1). o is read only when the chunk
 * straddles next. Always fills *out. Returns 0, or LLMQ_EFORMAT with e->msg when o is
 * present but malformed (then *out is the inexact whole-text cut, as without o; the caller
 * may log and still send it) or when index + count passes UINT32_MAX (then *out is empty). */
int replay_cut(const struct replay_chunk *c, uint32_t next, struct replay_cut *out, struct err *e);

#endif
