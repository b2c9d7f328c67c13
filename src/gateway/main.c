/* main.c -- llmq-gateway: flags (each with an LLMQ_* environment variable), then one event
 * loop until drained. Exits 0 after a graceful drain, 2 on a configuration error. */
#include "common/cfg.h"
#include "common/log.h"
#include "gateway/gw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

int main(int argc, char **argv)
{
    struct gw_config cfg = {
        .host = "127.0.0.1",
        .port = 8000,
        .redis_url = "redis://127.0.0.1:6379",
        .prefix = "llmq:",
        .max_body_bytes = 1 << 20,
        .max_header_bytes = 16384,
        .idle_timeout_ms = 60000,
        .header_timeout_ms = 10000,
        .sse_ping_ms = 15000,
        .max_stream_buffer_bytes = 1 << 20,
        .max_queue = 10000,
        .max_streams = 20000,
        .rate_limit_rps = 0,
        .max_timeout_ms = 0,
        .drain_timeout_ms = 30000,
        .default_max_tokens = 256,
        .max_tokens_limit = 1048576,
        .default_model = "",
        .web_dir = NULL,
        .log_level = "info",
    };
    const struct cfg_opt opts[] = {
        {"host", CFG_STR, &cfg.host, "listen address (0.0.0.0 in Kubernetes)"},
        {"port", CFG_INT, &cfg.port,
         "listen port; 0 = ephemeral (the 'listening' log line says which)"},
        {"redis-url", CFG_STR, &cfg.redis_url, "redis://[[user]:password@]host[:port][/db]"},
        {"prefix", CFG_STR, &cfg.prefix, "Redis key prefix"},
        {"id", CFG_STR, &cfg.id, "gateway id (default gw-<random hex>)"},
        {"api-keys", CFG_STR, &cfg.api_keys,
         "comma-separated API keys (none = open, with a warning)"},
        {"api-keys-file", CFG_STR, &cfg.api_keys_file, "file with one API key per line"},
        {"rate-limit-rps", CFG_DOUBLE, &cfg.rate_limit_rps,
         "requests per second per API key (0 = off) -> 429"},
        {"rate-limit-burst", CFG_DOUBLE, &cfg.rate_limit_burst,
         "token-bucket size (0 = max(1, rps))"},
        {"max-queue", CFG_INT, &cfg.max_queue,
         "bound on queue lag (undelivered jobs); beyond it 503 (0 = off)"},
        {"max-streams", CFG_INT, &cfg.max_streams,
         "open streams per gateway process; beyond it 503 (0 = off)"},
        {"max-body-bytes", CFG_INT, &cfg.max_body_bytes, "largest request body (413 beyond)"},
        {"max-header-bytes", CFG_INT, &cfg.max_header_bytes,
         "largest request line + headers (431 beyond)"},
        {"idle-timeout-ms", CFG_INT, &cfg.idle_timeout_ms,
         "close keep-alive connections idle this long"},
        {"header-timeout-ms", CFG_INT, &cfg.header_timeout_ms,
         "a started request must arrive within this (408)"},
        {"sse-ping-ms", CFG_INT, &cfg.sse_ping_ms,
         "': ping' comment on SSE streams idle this long (0 = off)"},
        {"max-stream-buffer-bytes", CFG_INT, &cfg.max_stream_buffer_bytes,
         "unsent bytes per stream before it is cut (resumable)"},
        {"max-timeout-ms", CFG_INT, &cfg.max_timeout_ms,
         "cap and default for timeout_ms (0 = none)"},
        {"drain-timeout-ms", CFG_INT, &cfg.drain_timeout_ms,
         "SIGTERM: time open streams get to finish"},
        {"default-max-tokens", CFG_INT, &cfg.default_max_tokens,
         "max_tokens when the client sends none"},
        {"max-tokens-limit", CFG_INT, &cfg.max_tokens_limit,
         "largest max_tokens accepted (400 beyond)"},
        {"default-model", CFG_STR, &cfg.default_model,
         "model name when the client sends none (default: the one model workers serve)"},
        {"web-dir", CFG_STR, &cfg.web_dir,
         "folder with index.html for GET / (default: <source>/web)"},
        {"log-level", CFG_STR, &cfg.log_level, "debug, info, warn, error"},
        {NULL},
    };
    struct err e = {0};
    log_init("gateway");
    int rc = cfg_parse(opts, argc, argv, 1,
                       "usage: llmq-gateway [flags]\nOpenAI-compatible streaming gateway of llmq.",
                       NULL, &e);
    if (rc == 1) return 0;
    if (rc < 0) {
        fprintf(stderr, "llmq-gateway: %s\n", e.msg);
        return 2;
    }
    enum log_level lvl;
    if (cfg.log_level && log_level_parse(cfg.log_level, &lvl) == 0 && !getenv("LLMQ_LOG_LEVEL"))
        log_set_level(lvl);
#ifdef LLMQ_WEB_DIR
    if (!cfg.web_dir) cfg.web_dir = LLMQ_WEB_DIR;
#endif

    uv_loop_t *loop = uv_default_loop();
    static struct gateway gw;
    if ((rc = gateway_init(&gw, loop, &cfg, &e)) < 0) {
        fprintf(stderr, "llmq-gateway: %s\n", e.msg);
        log_error("%s", e.msg);
        gateway_close(&gw);
        uv_run(loop, UV_RUN_DEFAULT);
        gateway_deinit(&gw);
        cfg_free(opts);
        return 2;
    }
    uv_run(loop, UV_RUN_DEFAULT);
    gateway_close(&gw);
    uv_run(loop, UV_RUN_DEFAULT);
    gateway_deinit(&gw);
    uv_loop_close(loop);
    log_info("gateway %s stopped", gw.id);
    cfg_free(opts);
    return 0;
}
