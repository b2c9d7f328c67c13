/* auth.h -- API keys: "Authorization: Bearer <key>" checked in constant time, and the key id
 * (first 16 hex of SHA-256 of the key) that names a key in Redis and logs without revealing it.
 * Keys come from a comma list and/or a file (one per line, # comments). No keys = open. */
#ifndef LLMQ_GATEWAY_AUTH_H
#define LLMQ_GATEWAY_AUTH_H

#include "common/err.h"

#include <stddef.h>

#define AUTH_KEY_ID_LEN 16

struct auth {
    unsigned char (*digests)[32]; /* owned: SHA-256 of each key */
    int n_keys;
};

/* Loads keys from list (comma separated, may be NULL) and file (may be NULL). Returns 0, or
 * a negative code with e->msg (unreadable file, empty key). */
int auth_init(struct auth *a, const char *list, const char *file, struct err *e);
void auth_deinit(struct auth *a);
/* 1 when no keys are configured (every request is allowed, key id "anon"). */
int auth_open(const struct auth *a);

/* Checks a presented key. Compares SHA-256 digests with CRYPTO_memcmp against every
 * configured key without stopping early, so timing reveals neither the key nor which one
 * matched. Writes the key id (16 hex + NUL) into id. Returns 1 if accepted, else 0. */
int auth_check(const struct auth *a, const char *key, size_t len, char id[AUTH_KEY_ID_LEN + 1]);

/* Extracts the key from an Authorization header value ("Bearer <key>", case-insensitive
 * scheme). Returns 0 and sets *key and *key_len, or -EINVAL. */
int auth_bearer(const char *value, size_t len, const char **key, size_t *key_len);

/* Finds "bearer.<key>" in a Sec-WebSocket-Protocol list. Returns 0 and sets *key and *key_len, or
 * -ENOENT. */
int auth_ws_protocol(const char *value, size_t len, const char **key, size_t *key_len);

/* The key id of a key (first 16 hex of its SHA-256). */
void auth_key_id(const char *key, size_t len, char id[AUTH_KEY_ID_LEN + 1]);

#endif
