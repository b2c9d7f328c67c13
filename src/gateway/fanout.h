/* fanout.h -- tokens from Redis to client streams. The gateway SUBSCRIBEs to its own channel
 * P gw:<id> on a dedicated connection and routes each event record by request id to the
 * streams in the table. Resumed (Last-Event-ID, WS resume) and idempotently re-attached
 * streams instead read the request's replay log P out:<id>: one XREAD BLOCK on a third
 * connection serves every such stream at once. */
#ifndef LLMQ_GATEWAY_FANOUT_H
#define LLMQ_GATEWAY_FANOUT_H

#include "common/err.h"

#include <stddef.h>

struct gateway;
struct stream;

/* Creates the subscriber and follower connections. Returns 0 or a negative code with e->msg. */
int fanout_init(struct gateway *gw, struct err *e);

/* on_connect hook of the command connection: after a reconnect, fails open streams whose
 * job no longer exists in Redis (restarted without persistence). */
struct rconn;
void fanout_cmd_connected(struct rconn *rc, void *ud);

/* Checks that request s->rid exists (404 otherwise), then starts s and follows P out:<rid>,
 * delivering indices >= s->next_index. */
void fanout_resume(struct stream *s);
/* Follows P out:<rid> for an already started stream (no existence check). */
void fanout_follow(struct stream *s);
/* Issues the next XREAD when streams follow and none is in flight. */
void fanout_kick(struct gateway *gw);

#endif
