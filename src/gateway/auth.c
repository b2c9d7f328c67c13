/* auth.c -- key loading and constant-time checks (OpenSSL SHA-256 + CRYPTO_memcmp).
 * Comparing digests rather than the keys themselves makes the compare length-independent. */
#include "gateway/auth.h"
#include "common/xalloc.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void add_key(struct auth *a, const char *k, size_t n)
{
    a->digests = xrealloc(a->digests, sizeof(*a->digests) * (size_t)(a->n_keys + 1));
    SHA256((const unsigned char *)k, n, a->digests[a->n_keys++]);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Keys separated by commas or newlines (LLMQ_API_KEYS_FILE, cfg's *_FILE convention, hands
 * api-keys a file's content: one key per line), blank and # lines skipped. */
static void add_list(struct auth *a, const char *s)
{
    while (*s) {
        const char *end = s + strcspn(s, ",\n");
        const char *b = s, *e = end;
        while (b < e && is_space(*b))
            b++;
        while (e > b && is_space(e[-1]))
            e--;
        if (e > b && *b != '#') add_key(a, b, (size_t)(e - b));
        s = *end ? end + 1 : end;
    }
}

int auth_init(struct auth *a, const char *list, const char *file, struct err *e)
{
    memset(a, 0, sizeof(*a));
    if (list && *list) add_list(a, list);
    if (file && *file) {
        FILE *f = fopen(file, "r");
        if (!f) return err_set(e, -ENOENT, "api-keys-file %s: cannot open", file);
        char line[4096];
        while (fgets(line, sizeof(line), f))
            add_list(a, line);
        fclose(f);
        if (a->n_keys == 0) return err_set(e, -EINVAL, "api-keys-file %s: no keys in it", file);
    }
    return 0;
}

void auth_deinit(struct auth *a)
{
    free(a->digests);
    memset(a, 0, sizeof(*a));
}

int auth_open(const struct auth *a)
{
    return a->n_keys == 0;
}

static void hex16(const unsigned char *d, char id[AUTH_KEY_ID_LEN + 1])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < AUTH_KEY_ID_LEN / 2; i++) {
        id[2 * i] = hx[d[i] >> 4];
        id[2 * i + 1] = hx[d[i] & 15];
    }
    id[AUTH_KEY_ID_LEN] = 0;
}

void auth_key_id(const char *key, size_t len, char id[AUTH_KEY_ID_LEN + 1])
{
    unsigned char d[32];
    SHA256((const unsigned char *)key, len, d);
    hex16(d, id);
}

int auth_check(const struct auth *a, const char *key, size_t len, char id[AUTH_KEY_ID_LEN + 1])
{
    unsigned char d[32];
    SHA256((const unsigned char *)key, len, d);
    hex16(d, id);
    int ok = 0;
    for (int i = 0; i < a->n_keys; i++)
        ok |= CRYPTO_memcmp(d, a->digests[i], 32) == 0;
    return ok;
}

int auth_bearer(const char *v, size_t len, const char **key, size_t *key_len)
{
    while (len && is_space(*v)) {
        v++;
        len--;
    }
    if (len < 7 || strncasecmp(v, "bearer ", 7)) return -EINVAL;
    v += 7;
    len -= 7;
    while (len && is_space(*v)) {
        v++;
        len--;
    }
    while (len && is_space(v[len - 1]))
        len--;
    if (!len) return -EINVAL;
    *key = v;
    *key_len = len;
    return 0;
}

int auth_ws_protocol(const char *v, size_t len, const char **key, size_t *key_len)
{
    const char *end = v + len;
    while (v < end) {
        while (v < end && (is_space(*v) || *v == ','))
            v++;
        const char *t = v;
        while (v < end && *v != ',' && !is_space(*v))
            v++;
        if (v - t > 7 && !memcmp(t, "bearer.", 7)) {
            *key = t + 7;
            *key_len = (size_t)(v - t - 7);
            return 0;
        }
    }
    return -ENOENT;
}
