/* fake_child.c -- a stand-in llmq-gateway / llmq-worker for testing `llmq up`'s supervision
 * alone (start, readiness, restart after a crash, ordered shutdown, no leftover process),
 * independent of the real binaries. Which one it is comes from its argv[0] basename.
 * gateway: listens on --port with SO_REUSEPORT and answers every request "200 ok".
 * worker: writes the heartbeat key <prefix>worker:<id> (PX 3000) every 300 ms.
 * Both append "<name> <pid> <args...>" to $FAKE_LOG and exit 0 on SIGTERM. */
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return def;
}

int main(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    int gateway = strstr(base, "gateway") != NULL;
    if (argc > 1 && !strcmp(argv[1], "--help")) {
        if (gateway) printf("  --port --host --redis-url --prefix --max-queue --drain-timeout-ms\n");
        else printf("  --redis-url --prefix --engine --model --id --step-ms --max-batch\n");
        return 0;
    }
    const char *logp = getenv("FAKE_LOG");
    if (logp) {
        FILE *f = fopen(logp, "a");
        if (f) {
            fprintf(f, "%s %d", gateway ? "gateway" : "worker", (int)getpid());
            for (int i = 1; i < argc; i++) fprintf(f, " %s", argv[i]);
            fprintf(f, "\n");
            fclose(f);
        }
    }
    struct sigaction sa = { .sa_handler = on_term };
    sigaction(SIGTERM, &sa, NULL);
    if (getenv("FAKE_FAIL") && !strcmp(getenv("FAKE_FAIL"), base)) return 3;

    if (gateway) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(arg(argc, argv, "--port", "0"))) };
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0) { perror("fake gateway"); return 1; }
        while (!stop) {
            struct pollfd p = { .fd = fd, .events = POLLIN };
            if (poll(&p, 1, 100) <= 0) continue;
            int c = accept(fd, NULL, NULL);
            if (c < 0) continue;
            char tmp[2048];
            if (read(c, tmp, sizeof(tmp)) > 0) {
                const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
                if (write(c, ok, strlen(ok)) < 0) { /* the probe went away */ }
            }
            close(c);
        }
        return 0;
    }
    const char *url = arg(argc, argv, "--redis-url", "redis://127.0.0.1:6379");
    const char *prefix = arg(argc, argv, "--prefix", "llmq:");
    const char *id = arg(argc, argv, "--id", "fake");
    int port = atoi(strrchr(url, ':') + 1);
    while (!stop) {
        redisContext *c = redisConnect("127.0.0.1", port);
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "SET %sworker:%s {\"model\":\"fake\",\"engine\":\"fake\",\"max_batch\":8,\"batch\":2,\"tokens_per_s\":10.5} PX 3000",
                                         prefix, id);
            if (r) freeReplyObject(r);
        }
        if (c) redisFree(c);
        usleep(300000);
    }
    return 0;
}
