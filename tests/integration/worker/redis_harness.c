/* redis_harness.c -- see redis_harness.h. Everything here is bounded in time and cleans up
 * what it started; nothing reaches beyond 127.0.0.1. */
#include "redis_harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

long long harness_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int harness_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0) return -errno;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        close(fd);
        return -errno;
    }
    close(fd);
    return ntohs(a.sin_port);
}

pid_t harness_spawn(char *const argv[], const char *log_path)
{
    pid_t pid = fork();
    if (pid < 0) return -errno;
    if (pid == 0) {
        if (log_path) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

int harness_wait(pid_t pid, int timeout_ms, int *status)
{
    long long until = harness_now_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) return 0;
        if (r < 0) return -errno;
        if (harness_now_ms() >= until) return -ETIMEDOUT;
        usleep(10000);
    }
}

void harness_kill(pid_t pid)
{
    if (pid <= 0) return;
    int st;
    kill(pid, SIGKILL);
    harness_wait(pid, 5000, &st);
}

static const char *find_redis_server(void)
{
    static const char *paths[] = {"/usr/bin/redis-server", "/usr/local/bin/redis-server",
                                  "/usr/sbin/redis-server"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (access(paths[i], X_OK) == 0) return paths[i];
    return NULL;
}

redisContext *redis_server_connect(const struct redis_server *rs)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", rs->port, tv);
    if (!c || c->err) {
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

static int launch(struct redis_server *rs)
{
    const char *bin = find_redis_server();
    if (!bin) return -ENOENT;
    char port[16];
    snprintf(port, sizeof(port), "%d", rs->port);
    char *argv[] = {(char *)bin, "--port",       port,      "--bind", "127.0.0.1", "--save",
                    "",          "--appendonly", "no",      "--dir",  rs->dir,     "--daemonize",
                    "no",        "--loglevel",   "warning", NULL};
    char log[256];
    snprintf(log, sizeof(log), "%s/redis.log", rs->dir);
    rs->pid = harness_spawn(argv, log);
    if (rs->pid < 0) return (int)rs->pid;
    long long until = harness_now_ms() + 5000;
    while (harness_now_ms() < until) {
        redisContext *c = redis_server_connect(rs);
        if (c) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS;
            if (r) freeReplyObject(r);
            redisFree(c);
            if (ok) return 0;
        }
        int st;
        if (waitpid(rs->pid, &st, WNOHANG) == rs->pid) { /* died: port taken? */
            rs->pid = 0;
            return -EADDRINUSE;
        }
        usleep(20000);
    }
    harness_kill(rs->pid);
    rs->pid = 0;
    return -ETIMEDOUT;
}

int redis_server_start(struct redis_server *rs)
{
    memset(rs, 0, sizeof(*rs));
    if (!find_redis_server()) return -ENOENT;
    snprintf(rs->dir, sizeof(rs->dir), "/tmp/llmq-test-redis-XXXXXX");
    if (!mkdtemp(rs->dir)) return -errno;
    int rc = -EADDRINUSE;
    for (int i = 0; i < 5 && rc == -EADDRINUSE; i++) {
        rs->port = harness_free_port();
        rc = launch(rs);
    }
    return rc;
}

int redis_server_restart(struct redis_server *rs)
{
    return launch(rs);
}

void redis_server_stop(struct redis_server *rs)
{
    if (rs->pid > 0) {
        int st;
        kill(rs->pid, SIGTERM);
        if (harness_wait(rs->pid, 5000, &st) < 0) harness_kill(rs->pid);
        rs->pid = 0;
    }
}

void redis_server_cleanup(struct redis_server *rs)
{
    /* The files directly inside (redis.log, logs the test put there), then the directory. */
    DIR *d = rs->dir[0] ? opendir(rs->dir) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", rs->dir, de->d_name);
        unlink(path);
    }
    if (d) closedir(d);
    if (rs->dir[0]) rmdir(rs->dir);
}

redisReply *harness_sub_next(redisContext *c, int timeout_ms)
{
    void *reply = NULL;
    long long until = harness_now_ms() + timeout_ms;
    for (;;) {
        if (redisGetReplyFromReader(c, &reply) != REDIS_OK) return NULL;
        if (reply) return reply;
        long long left = until - harness_now_ms();
        if (left <= 0) return NULL;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int n = poll(&p, 1, (int)left);
        if (n <= 0) return NULL;
        if (redisBufferRead(c) != REDIS_OK) return NULL;
    }
}

int harness_http_get(int port, const char *path, int *status, char *body, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {2, 0};
    if (fd < 0) return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    static char resp[1 << 20];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof(resp) - 1 && (r = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
        got += (size_t)r;
    close(fd);
    resp[got] = 0;
    if (sscanf(resp, "HTTP/1.1 %d", status) != 1) return -1;
    char *b = strstr(resp, "\r\n\r\n");
    if (!b) return -1;
    b += 4;
    size_t len = strlen(b);
    if (len >= cap) len = cap - 1;
    memcpy(body, b, len);
    body[len] = 0;
    return (int)len;
}
