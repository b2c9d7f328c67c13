/* state.c -- reading the state file of a running `llmq up` (up.c writes it). */
#include "up/state.h"

#include "common/xalloc.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char *state_default_path(void)
{
    static char path[512];
    const char *env = getenv("LLMQ_STATE_FILE");
    if (env && *env) return env;
    const char *dir = getenv("XDG_RUNTIME_DIR");
    if (!dir || !*dir || access(dir, W_OK) != 0) dir = "/tmp";
    snprintf(path, sizeof(path), "%s/llmq-up-%u.json", dir, (unsigned)getuid());
    return path;
}

int state_read(const char *path, char **redis_url, char **prefix, char **url, long *pid)
{
    json_error_t je;
    if (access(path, R_OK) != 0) return -ENOENT;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) return -EINVAL;
    const char *r = json_string_value(json_object_get(j, "redis_url"));
    const char *p = json_string_value(json_object_get(j, "prefix"));
    const char *u = json_string_value(json_object_get(j, "url"));
    if (!r) { json_decref(j); return -EINVAL; }
    if (redis_url) *redis_url = xstrdup(r);
    if (prefix) *prefix = xstrdup(p ? p : "llmq:");
    if (url) *url = u ? xstrdup(u) : NULL;
    if (pid) *pid = (long)json_integer_value(json_object_get(j, "pid"));
    json_decref(j);
    return 0;
}
