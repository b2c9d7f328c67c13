/* log.h -- structured logs: one JSON object per line on stderr.
 * Fields: ts (RFC 3339, UTC, microseconds), level, component, msg, and request_id / trace_id
 * when a request is involved. Log where an error is handled, not at every level it passes
 * through; nothing per token above debug. Thread-safe (one write(2) per line). */
#ifndef LLMQ_LOG_H
#define LLMQ_LOG_H

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR, LOG_LEVEL_FATAL };

/* Sets the component name (copied) and the minimum level; LLMQ_LOG_LEVEL=debug|info|warn|error
 * overrides the level when set. */
void log_init(const char *component);
void log_set_level(enum log_level level);
int  log_enabled(enum log_level level);
/* Parses "debug", "info", ...; returns -EINVAL for anything else. */
int  log_level_parse(const char *name, enum log_level *out);

/* request_id and trace_id may be NULL. */
void log_write(enum log_level level, const char *request_id, const char *trace_id,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_debug(...) do { if (log_enabled(LOG_LEVEL_DEBUG)) log_write(LOG_LEVEL_DEBUG, NULL, NULL, __VA_ARGS__); } while (0)
#define log_info(...)  log_write(LOG_LEVEL_INFO, NULL, NULL, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_LEVEL_WARN, NULL, NULL, __VA_ARGS__)
#define log_error(...) log_write(LOG_LEVEL_ERROR, NULL, NULL, __VA_ARGS__)
/* For a request: log_req(LOG_LEVEL_WARN, rid, tid, "...", ...) */
#define log_req(level, rid, tid, ...) do { if (log_enabled(level)) log_write(level, rid, tid, __VA_ARGS__); } while (0)

#endif
