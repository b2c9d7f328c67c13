/* event.h -- the token-event record codec of docs/QUEUE.md, carried by PUBLISH on P gw:<gw>:
 *     <kind> <request-id> <index> <count> <len>:<payload bytes>\n
 * A message is a concatenation of records. The encoder appends records to a struct buf; the
 * decoder walks a message with zero-copy views and rejects any malformed byte with a
 * message naming the offset (gateways parse what Redis hands them: this is fuzzed).
 * It does not interpret payloads (token text, or JSON for d/e/r). */
#ifndef LLMQ_QUEUE_EVENT_H
#define LLMQ_QUEUE_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

enum event_kind {
    EVENT_KIND_TOKENS = 't',  /* index = first token index, count >= 1, payload = text */
    EVENT_KIND_DONE = 'd',    /* index = tokens generated, count = 0, payload = done JSON */
    EVENT_KIND_ERROR = 'e',   /* index = tokens sent so far, count = 0, payload = error JSON */
    EVENT_KIND_RUNNING = 'r', /* index = 0, count = 0, payload = running JSON */
};

#define EVENT_PAYLOAD_MAX (64u << 20) /* a record's payload is at most 64 MiB */

/* One decoded record. Views point into the message given to event_reader_init and are
 * valid as long as it is. */
struct event {
    enum event_kind kind;
    const char *id; /* request id, keys_id_valid, not NUL-terminated */
    size_t id_len;
    uint32_t index;
    uint32_t count;
    const char *payload; /* payload_len bytes, not NUL-terminated (may be empty) */
    size_t payload_len;
};

/* Appends one record to b. id must be keys_id_valid and the kind/index/count rules above
 * hold (checked: returns -EINVAL and appends nothing otherwise); payload may be NULL when
 * len is 0. */
int event_append(struct buf *b, enum event_kind kind, const char *id, size_t id_len, uint32_t index,
                 uint32_t count, const char *payload, size_t len);

struct event_reader {
    const char *msg; /* borrowed: the whole message */
    size_t len;
    size_t off; /* offset of the next record */
};

/* Starts reading msg[0..len). The message is borrowed and must outlive the events read. */
void event_reader_init(struct event_reader *r, const char *msg, size_t len);

/* Decodes the next record into *ev. Returns 1 for a record, 0 at the end of the message, or
 * LLMQ_EFORMAT with e->msg saying what is wrong and at which byte offset. After an error
 * the rest of the message is not readable (the reader stays at the bad record). */
int event_next(struct event_reader *r, struct event *ev, struct err *e);

#endif
