/* net.c -- blocking loopback helpers for the supervisor and the status command. */
#include "up/net.h"

#include "common/buf.h"
#include "common/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int net_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -errno;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    int rc;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        rc = -errno;
    else
        rc = ntohs(a.sin_port);
    close(fd);
    return rc;
}

int net_port_check(const char *host, int port)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res = NULL;
    char ports[16];
    snprintf(ports, sizeof(ports), "%d", port);
    if (getaddrinfo(host, ports, &hints, &res) != 0 || !res) return -EADDRNOTAVAIL;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = 0, one = 1;
    if (fd < 0) { freeaddrinfo(res); return -errno; }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1) < 0) rc = -errno;
    close(fd);
    freeaddrinfo(res);
    return rc;
}

static int connect_timeout(const char *host, int port, int timeout_ms)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
    char ports[16];
    snprintf(ports, sizeof(ports), "%d", port);
    if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !*host) host = "127.0.0.1";
    if (getaddrinfo(host, ports, &hints, &res) != 0 || !res) return -EHOSTUNREACH;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { freeaddrinfo(res); return -errno; }
    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc < 0 && errno != EINPROGRESS) { rc = -errno; close(fd); return rc; }
    if (rc < 0) {
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        if (poll(&p, 1, timeout_ms) <= 0) { close(fd); return -ETIMEDOUT; }
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr) { close(fd); return -soerr; }
    }
    return fd;
}

int net_http_get(const char *host, int port, const char *path, int timeout_ms, struct buf *body)
{
    uint64_t deadline = clock_mono_us() + (uint64_t)timeout_ms * 1000u;
    int fd = connect_timeout(host, port, timeout_ms);
    if (fd < 0) return fd;
    char req[512];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n",
                     path, host, port);
    if (write(fd, req, (size_t)n) != n) { close(fd); return -EIO; }
    struct buf in;
    buf_init(&in);
    int rc = -ETIMEDOUT;
    for (;;) {
        uint64_t now = clock_mono_us();
        if (now >= deadline) break;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, (int)((deadline - now) / 1000u) + 1) <= 0) break;
        char tmp[4096];
        ssize_t r = read(fd, tmp, sizeof(tmp));
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (r <= 0) { rc = 0; break; }
        buf_append(&in, tmp, (size_t)r);
        if (in.len > (1u << 24)) break;
    }
    close(fd);
    if (rc == 0) {
        int status = 0;
        if (in.len < 12 || sscanf(in.data, "HTTP/1.%*d %d", &status) != 1) rc = -EPROTO;
        else rc = status;
        char *hdr_end = in.data ? strstr(in.data, "\r\n\r\n") : NULL;
        if (body && hdr_end) buf_append(body, hdr_end + 4, in.len - (size_t)(hdr_end + 4 - in.data));
    }
    buf_deinit(&in);
    return rc;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Copies n bytes of URL userinfo into out, decoding %XX as rconn.c does (a password may hold
 * '@' or ':'). -EINVAL when it does not fit. */
static int userinfo_copy(char *out, size_t cap, const char *s, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (j + 1 >= cap) return -EINVAL;
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[j++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = 0;
    return 0;
}

int net_redis_url_parse(const char *url, char *host, size_t host_cap, int *port, char *user, size_t user_cap,
                        char *password, size_t password_cap, int *db)
{
    const char *p = url;
    *port = 6379;
    if (db) *db = 0;
    if (user && user_cap) user[0] = 0;
    if (password && password_cap) password[0] = 0;
    if (!strncmp(p, "redis://", 8)) p += 8;
    else if (strstr(p, "://")) return -EINVAL;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        if (colon && colon > p && user && user_cap && userinfo_copy(user, user_cap, p, (size_t)(colon - p)) < 0)
            return -EINVAL;
        if (password && password_cap && userinfo_copy(password, password_cap, pw, (size_t)(at - pw)) < 0)
            return -EINVAL;
        p = at + 1;
    }
    size_t hl = strcspn(p, ":/");
    if (hl == 0 || hl >= host_cap) return -EINVAL;
    memcpy(host, p, hl);
    host[hl] = 0;
    p += hl;
    if (*p == ':') {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || v <= 0 || v > 65535) return -EINVAL;
        *port = (int)v;
        p = end;
    }
    if (*p == '/' && p[1]) {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || v < 0) return -EINVAL;
        if (db) *db = (int)v;
    }
    return 0;
}

struct redisContext *net_redis_connect(const char *url, int timeout_ms, char *err, size_t cap)
{
    char host[256], user[256], pw[256];
    int port, db;
    if (net_redis_url_parse(url, host, sizeof(host), &port, user, sizeof(user), pw, sizeof(pw), &db) < 0) {
        snprintf(err, cap, "bad redis URL '%s' (want redis://[[user]:password@]host[:port][/db])", url);
        return NULL;
    }
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        snprintf(err, cap, "redis %s:%d: %s", host, port, c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisReply *r = NULL;
    if (pw[0]) {
        /* redis://user:pass@host is an ACL user (AUTH user pass), redis://:pass@host or
         * redis://pass@host the default user (AUTH pass), as src/queue/rconn.c does */
        r = user[0] ? redisCommand(c, "AUTH %s %s", user, pw) : redisCommand(c, "AUTH %s", pw);
        if (!r || r->type == REDIS_REPLY_ERROR) goto fail;
        freeReplyObject(r);
    }
    if (db) {
        r = redisCommand(c, "SELECT %d", db);
        if (!r || r->type == REDIS_REPLY_ERROR) goto fail;
        freeReplyObject(r);
    }
    return c;
fail:
    snprintf(err, cap, "redis %s:%d: %s", host, port, r ? r->str : c->errstr);
    if (r) freeReplyObject(r);
    redisFree(c);
    return NULL;
}
