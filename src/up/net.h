/* net.h -- the small blocking network helpers `llmq up` and `llmq status` need: a free
 * loopback port, a one-shot HTTP GET (readiness probes, /metrics), and a Redis connection
 * from a redis:// URL. Blocking on purpose: the supervisor does a handful of these per
 * second, and each is bounded by a timeout. */
#ifndef LLMQ_UP_NET_H
#define LLMQ_UP_NET_H

#include <stddef.h>

struct buf;
struct redisContext;

/* Binds 127.0.0.1:0, reads the port the kernel chose, closes. Returns the port or < 0. */
int net_free_port(void);

/* 0 when host:port can be bound now (nobody listens there), else a negative errno
 * (-EADDRINUSE, -EADDRNOTAVAIL, -EACCES). */
int net_port_check(const char *host, int port);

/* GET http://host:port<path> with Connection: close; waits at most timeout_ms in total.
 * Returns the HTTP status (200, 503, ...) or a negative errno; the body goes to body when
 * non-NULL (appended). */
int net_http_get(const char *host, int port, const char *path, int timeout_ms, struct buf *body);

/* Parses redis://[[user]:password@]host[:port][/db] (also a bare host:port; %XX in the userinfo
 * is decoded). host gets the host, *port the port (default 6379), user and password "" when
 * absent. Returns 0 or -EINVAL. */
int net_redis_url_parse(const char *url, char *host, size_t host_cap, int *port, char *user, size_t user_cap,
                        char *password, size_t password_cap, int *db);

/* Connects (timeout_ms for the connect and for each command), AUTHs (AUTH user password for an ACL
 * user) and SELECTs as the URL says. Returns a context or NULL with err (cap bytes) saying why. Free with redisFree. */
struct redisContext *net_redis_connect(const char *url, int timeout_ms, char *err, size_t cap);

#endif
