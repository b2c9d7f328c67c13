/* harness.h -- starting and stopping a real `llmq up` from a test, plus the small process and
 * HTTP helpers the end-to-end, chaos, `llmq up` integration and engine command tests share.
 * Header-only (static functions) so each test stays one executable. Every wait is bounded; a
 * test that dies takes its `llmq up` with it (PR_SET_PDEATHSIG), and `llmq up` takes its
 * children. */
#ifndef LLMQ_TEST_HARNESS_H
#define LLMQ_TEST_HARNESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Path of a built binary (LLMQ_BIN_DIR set by CTest), or NULL when it is not there. */
static inline const char *h_bin(const char *name)
{
    static char paths[8][512];
    static int next;
    const char *dir = getenv("LLMQ_BIN_DIR");
    if (!dir) return NULL;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    return access(p, X_OK) == 0 ? p : NULL;
}

/* 1 while pid exists and is not a zombie. */
static inline int h_pid_alive(pid_t pid)
{
    if (pid <= 0 || kill(pid, 0) != 0) return 0;
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *rp = strrchr(buf, ')');
    return !(rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'));
}

/* Waits until none of pids is alive; returns how many still are after timeout_ms. */
static inline int h_wait_pids_gone(const pid_t *pids, int n, int timeout_ms)
{
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        int alive = 0;
        for (int i = 0; i < n; i++) alive += h_pid_alive(pids[i]);
        if (!alive || h_now_ms() > end) return alive;
        usleep(20000);
    }
}

struct h_up {
    pid_t pid;               /* the llmq up process */
    int out_fd;              /* its stdout (read end) */
    int port;
    char url[128];           /* http://127.0.0.1:PORT */
    char dir[256];           /* temp dir: state file, log */
    char state[300];         /* state file path */
    char log[300];           /* llmq up's stderr (all children's logs too) */
};

/* Starts `llmq up --port 0 --state-file <tmp> <args...>` (args NULL-terminated) and waits up to
 * timeout_ms for its "serving http://host:port" line. Returns 0, or -1 with the reason on
 * stderr (the log is kept in u->dir). */
static inline int h_up_start(struct h_up *u, const char *const *args, int timeout_ms)
{
    memset(u, 0, sizeof(*u));
    const char *llmq = h_bin("llmq");
    if (!llmq) { fprintf(stderr, "harness: llmq binary not found\n"); return -1; }
    snprintf(u->dir, sizeof(u->dir), "/tmp/llmq-test-XXXXXX");
    if (!mkdtemp(u->dir)) return -1;
    snprintf(u->state, sizeof(u->state), "%s/state.json", u->dir);
    snprintf(u->log, sizeof(u->log), "%s/up.log", u->dir);
    int pfd[2];
    if (pipe(pfd) < 0) return -1;
    const char *argv[64];
    int n = 0;
    argv[n++] = llmq; argv[n++] = "up"; argv[n++] = "--port"; argv[n++] = "0";
    argv[n++] = "--state-file"; argv[n++] = u->state;
    for (int i = 0; args && args[i] && n < 62; i++) argv[n++] = args[i];
    argv[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(1);
        dup2(pfd[1], 1);
        int lf = open(u->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (lf >= 0) dup2(lf, 2);
        close(pfd[0]);
        close(pfd[1]);
        execv(llmq, (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    u->pid = pid;
    u->out_fd = pfd[0];
    char line[1024];
    size_t len = 0;
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    while (h_now_ms() < end) {
        struct pollfd p = { .fd = u->out_fd, .events = POLLIN };
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t r = read(u->out_fd, line + len, sizeof(line) - 1 - len);
        if (r <= 0) break;
        len += (size_t)r;
        line[len] = 0;
        char *s = strstr(line, "serving http://");
        if (s && strchr(s, ' ' ) && strchr(s + 15, ':')) {
            char host[64];
            if (sscanf(s, "serving http://%63[^:]:%d", host, &u->port) == 2) {
                snprintf(u->url, sizeof(u->url), "http://%s:%d", host, u->port);
                return 0;
            }
        }
        if (len > sizeof(line) - 64) len = 0;
    }
    fprintf(stderr, "harness: llmq up did not print its URL (waited up to %d ms); log %s:\n", timeout_ms, u->log);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "tail -n 30 '%s' >&2", u->log);
    if (system(cmd) != 0) { /* best effort */ }
    kill(u->pid, SIGKILL);
    waitpid(u->pid, NULL, 0);
    u->pid = 0;
    close(u->out_fd);
    u->out_fd = 0;
    if (!getenv("LLMQ_TEST_KEEP")) {           /* the log's tail is above; keep it only on request */
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", u->dir);
        if (system(cmd) != 0) { /* best effort */ }
    }
    return -1;
}

/* Port of the Redis that `llmq up` runs (redis_url in its state file), or 0 if unknown. */
static inline int h_up_redis_port(const struct h_up *u)
{
    json_t *j = json_load_file(u->state, 0, NULL);
    const char *url = json_string_value(json_object_get(j, "redis_url"));
    int port = url && strrchr(url, ':') ? atoi(strrchr(url, ':') + 1) : 0;
    json_decref(j);
    return port;
}

/* Pids of the children named in the state file (redis, gateways, workers); returns n. */
static inline int h_up_children(const struct h_up *u, pid_t *pids, int max, const char *only_prefix)
{
    json_t *j = json_load_file(u->state, 0, NULL);
    int n = 0;
    if (!j) return 0;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(j, "children"), i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        pid_t pid = (pid_t)json_integer_value(json_object_get(c, "pid"));
        if (only_prefix && (!name || strncmp(name, only_prefix, strlen(only_prefix)))) continue;
        if (pid > 0 && n < max) pids[n++] = pid;
    }
    json_decref(j);
    return n;
}

/* Sends sig to llmq up and waits up to timeout_ms for it to exit. Returns its wait status,
 * or -1 on timeout (then it is SIGKILLed). Removes the temp dir unless keep is set. */
static inline int h_up_stop(struct h_up *u, int sig, int timeout_ms, int keep)
{
    int st = -1;
    if (u->pid > 0) {
        kill(u->pid, sig);
        uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
        for (;;) {
            pid_t r = waitpid(u->pid, &st, WNOHANG);
            if (r == u->pid) break;
            if (h_now_ms() > end) {
                kill(u->pid, SIGKILL);
                waitpid(u->pid, NULL, 0);
                st = -1;
                break;
            }
            usleep(20000);
        }
        u->pid = 0;
    }
    if (u->out_fd > 0) close(u->out_fd);
    u->out_fd = 0;
#ifdef LLMQ_TEST_H
    /* A check failed while this platform ran: its log is the only record of what the
     * gateway and workers saw (CI keeps nothing else), so show its end before it goes. */
    if (test_failures > 0 && u->log[0]) {
        char cmd[400];
        fprintf(stderr, "harness: a check failed; the last 80 lines of llmq up's log (%s):\n", u->log);
        snprintf(cmd, sizeof(cmd), "tail -n 80 '%s' >&2", u->log);
        if (system(cmd) != 0) { /* best effort */ }
    }
#endif
    if (!keep && u->dir[0]) {
        char cmd[320];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", u->dir);
        if (system(cmd) != 0) { /* best effort */ }
    }
    return st;
}

/* Counts lines of the llmq up log containing needle. */
static inline int h_log_count(const struct h_up *u, const char *needle)
{
    FILE *f = fopen(u->log, "r");
    if (!f) return 0;
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof(line), f)) n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* Runs a shell command, captures up to cap-1 bytes of its stdout into out. Returns the exit
 * status (or -1). For curl and node clients. */
static inline int h_run(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = 0;
    if (out && cap) {
        size_t r;
        while (n + 1 < cap && (r = fread(out + n, 1, cap - 1 - n, p)) > 0) n += r;
        out[n] = 0;
    }
    char sink[4096];
    while (fread(sink, 1, sizeof(sink), p) > 0) {}
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* 1 when llmq, llmq-gateway, llmq-worker and redis-cli are all there; otherwise says so in
 * the test framework's skip format (the caller then returns 0). */
static inline int h_platform_present(void)
{
    if (h_bin("llmq-gateway") && h_bin("llmq-worker") && h_bin("llmq") &&
        h_run("command -v redis-cli >/dev/null", NULL, 0) == 0)
        return 1;
    fprintf(stderr, "SKIP: llmq, llmq-gateway, llmq-worker or redis-cli missing\n");
    printf("0 passed, 0 failed, 1 skipped\n");
    return 0;
}

/* `redis-cli -p port <args>` with its stderr in out too; h_run's status. */
static inline int h_redis_cli(int port, const char *args, char *out, size_t cap)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d %s 2>&1", port, args);
    return h_run(cmd, out, cap);
}

/* Blocking one-shot HTTP/1.1 request to 127.0.0.1:port with Connection: close. headers is
 * extra header lines ("K: v\r\n"...) or NULL. The whole response (head + body) goes to out.
 * Returns the status code or -1. */
static inline int h_http(int port, const char *method, const char *path, const char *headers,
                         const char *body, size_t body_len, char *out, size_t cap, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) { close(fd); return -1; }
    char head[2048];
    int hn = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s"
                      "Content-Length: %zu\r\n\r\n", method, path, port, headers ? headers : "", body_len);
    if (write(fd, head, (size_t)hn) != hn) { close(fd); return -1; }
    if (body_len > 65536) {
        /* A server may refuse a large body from its Content-Length alone (413) and close;
         * sending the body into a closed socket would reset the connection and lose the answer. */
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 500) > 0) body_len = 0;
    }
    size_t off = 0;
    while (off < body_len) {
        ssize_t w = send(fd, body + off, body_len - off, MSG_NOSIGNAL);
        if (w <= 0) break;      /* the server may answer 413 and close before reading it all */
        off += (size_t)w;
    }
    size_t n = 0;
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    while (h_now_ms() < end && n + 1 < cap) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t r = read(fd, out + n, cap - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
    }
    out[n] = 0;
    close(fd);
    int status = -1;
    if (sscanf(out, "HTTP/1.%*d %d", &status) != 1) return -1;
    return status;
}

/* ---- a blocking WebSocket client for protocol-level tests (bad frames) ---- */

/* Connects and upgrades GET /v1/ws. Returns the fd (101 received) or -status (e.g. -401)
 * or -1. extra_headers: "K: v\r\n" lines or NULL. Leftover bytes after the head are lost,
 * which is fine: the server sends nothing before the client speaks. */
static inline int h_ws_connect(int port, const char *extra_headers, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) { close(fd); return -1; }
    char req[1024];
    int n = snprintf(req, sizeof(req), "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: llmq.v1\r\n%s\r\n",
                     port, extra_headers ? extra_headers : "");
    if (write(fd, req, (size_t)n) != n) { close(fd); return -1; }
    char head[4096];
    size_t len = 0;
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    while (h_now_ms() < end && len + 1 < sizeof(head)) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t r = read(fd, head + len, 1);   /* byte by byte: stop exactly at the head's end */
        if (r <= 0) break;
        len += (size_t)r;
        head[len] = 0;
        if (strstr(head, "\r\n\r\n")) break;
    }
    int status = -1;
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1) { close(fd); return -1; }
    if (status != 101) { close(fd); return -status; }
    return fd;
}

/* Sends one frame; masked unless unmasked is set (which RFC 6455 forbids for clients). */
static inline int h_ws_send(int fd, int fin_opcode, const void *data, size_t n, int unmasked)
{
    unsigned char f[16 + 65536];
    if (n > 65536) return -1;
    size_t hl = 2;
    f[0] = (unsigned char)fin_opcode;
    if (n < 126) f[1] = (unsigned char)n;
    else { f[1] = 126; f[2] = (unsigned char)(n >> 8); f[3] = (unsigned char)n; hl = 4; }
    if (!unmasked) {
        f[1] |= 0x80;
        const unsigned char m[4] = { 0x12, 0x34, 0x56, 0x78 };
        memcpy(f + hl, m, 4);
        hl += 4;
        for (size_t i = 0; i < n; i++) f[hl + i] = ((const unsigned char *)data)[i] ^ m[i & 3];
    } else {
        memcpy(f + hl, data, n);
    }
    return write(fd, f, hl + n) == (ssize_t)(hl + n) ? 0 : -1;
}

/* Reads one whole frame (servers do not mask). Returns its opcode (1 text, 8 close, ...),
 * 0 on EOF, -1 on timeout. The payload (NUL-terminated, truncated to cap-1) goes to out. */
static inline int h_ws_read(int fd, char *out, size_t cap, int timeout_ms)
{
    unsigned char buf[1 << 16];
    size_t len = 0;
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        if (len >= 2) {
            size_t hl = 2;
            uint64_t pl = buf[1] & 0x7f;
            if (pl == 126 && len >= 4) { pl = (uint64_t)buf[2] << 8 | buf[3]; hl = 4; }
            else if (pl == 127 && len >= 10) { pl = 0; for (int i = 0; i < 8; i++) pl = pl << 8 | buf[2 + i]; hl = 10; }
            if ((pl < 126 || hl > 2) && len >= hl + pl) {
                size_t c = pl < cap - 1 ? (size_t)pl : cap - 1;
                memcpy(out, buf + hl, c);
                out[c] = 0;
                return buf[0] & 0x0f;
            }
        }
        if (h_now_ms() > end || len == sizeof(buf)) return -1;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 50) <= 0) continue;
        ssize_t r = read(fd, buf + len, 1);    /* one frame at a time, never past it */
        if (r <= 0) return 0;
        len += (size_t)r;
    }
}

#endif
