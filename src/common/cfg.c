/* cfg.c -- flags + LLMQ_* environment, with generated --help. String values set here are
 * heap copies; cfg_free() releases those (defaults set by the caller are not touched, so
 * cfg keeps a private list of what it allocated). */
#include "common/cfg.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFG_MAX_OWNED 128
static void *owned[CFG_MAX_OWNED];
static int n_owned;

static void set_str(char **dst, char *v)
{
    for (int i = 0; i < n_owned; i++)
        if (owned[i] == *dst) { free(*dst); owned[i] = owned[--n_owned]; break; }
    *dst = v;
    if (n_owned < CFG_MAX_OWNED) owned[n_owned++] = v;
}

static int set_value(const struct cfg_opt *o, const char *v, const char *from, struct err *e)
{
    char *end;
    switch (o->type) {
    case CFG_STR:
        set_str((char **)o->dst, xstrdup(v));
        return 0;
    case CFG_INT: {
        long long x = strtoll(v, &end, 10);
        if (end == v || *end) return err_set(e, -EINVAL, "%s %s: not an integer: '%s'", from, o->name, v);
        *(long long *)o->dst = x;
        return 0;
    }
    case CFG_DOUBLE: {
        double x = strtod(v, &end);
        if (end == v || *end) return err_set(e, -EINVAL, "%s %s: not a number: '%s'", from, o->name, v);
        *(double *)o->dst = x;
        return 0;
    }
    case CFG_BOOL:
        if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
            *(int *)o->dst = 1;
        else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
            *(int *)o->dst = 0;
        else
            return err_set(e, -EINVAL, "%s %s: not a boolean: '%s'", from, o->name, v);
        return 0;
    }
    return -EINVAL;
}

static char env_prefix[32] = "LLMQ_";

void cfg_set_env_prefix(const char *prefix)
{
    snprintf(env_prefix, sizeof(env_prefix), "%s", prefix);
}

static void env_name(char *out, size_t cap, const char *name, const char *suffix)
{
    size_t n = (size_t)snprintf(out, cap, "%s", env_prefix);
    for (const char *p = name; *p && n + 1 < cap; p++)
        out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[n] = 0;
    strncat(out, suffix, cap - n - 1);
}

static char *read_file_trimmed(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char tmp[4096];
    size_t n = fread(tmp, 1, sizeof(tmp) - 1, f);
    fclose(f);
    while (n && (tmp[n - 1] == '\n' || tmp[n - 1] == '\r')) n--;
    return xstrndup(tmp, n);
}

static const struct cfg_opt *find(const struct cfg_opt *opts, const char *name, size_t len)
{
    for (const struct cfg_opt *o = opts; o->name; o++)
        if (strlen(o->name) == len && !strncmp(o->name, name, len)) return o;
    return NULL;
}

int cfg_parse(const struct cfg_opt *opts, int argc, char **argv, int first,
              const char *usage, struct cfg_rest *rest, struct err *e)
{
    int rc;
    char env[128];
    if (rest) { rest->argc = 0; rest->argv = xcalloc((size_t)argc + 1, sizeof(char *)); }

    for (const struct cfg_opt *o = opts; o->name; o++) {
        env_name(env, sizeof(env), o->name, "");
        const char *v = getenv(env);
        if (v && *v) {
            if ((rc = set_value(o, v, env, e)) < 0) return rc;
        } else if (o->type == CFG_STR) {
            env_name(env, sizeof(env), o->name, "_FILE");
            const char *path = getenv(env);
            if (path && *path) {
                char *content = read_file_trimmed(path);
                if (!content) return err_set(e, -ENOENT, "%s: cannot read '%s'", env, path);
                set_str((char **)o->dst, content);
            }
        }
    }

    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cfg_print_help(opts, usage, stdout);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (rest) { rest->argv[rest->argc++] = argv[i]; continue; }
            return err_set(e, -EINVAL, "unexpected argument '%s' (see --help)", a);
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct cfg_opt *o = find(opts, name, len);
        if (!o && len > 3 && !strncmp(name, "no-", 3)) {
            o = find(opts, name + 3, len - 3);
            if (o && o->type == CFG_BOOL && !eq) { *(int *)o->dst = 0; continue; }
            o = NULL;
        }
        if (!o) {
            if (rest) {
                rest->argv[rest->argc++] = argv[i];
                if (!eq && i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
                    rest->argv[rest->argc++] = argv[++i];
                continue;
            }
            return err_set(e, -EINVAL, "unknown flag '--%.*s' (see --help)", (int)len, name);
        }
        const char *v;
        if (eq) v = eq + 1;
        else if (o->type == CFG_BOOL) v = "1";
        else if (i + 1 < argc) v = argv[++i];
        else return err_set(e, -EINVAL, "flag --%s needs a value", o->name);
        if ((rc = set_value(o, v, "flag", e)) < 0) return rc;
    }
    return 0;
}

void cfg_rest_free(struct cfg_rest *rest)
{
    if (!rest) return;
    free(rest->argv);
    rest->argv = NULL;
    rest->argc = 0;
}

void cfg_print_help(const struct cfg_opt *opts, const char *usage, void *fp)
{
    FILE *f = fp;
    char env[128];
    fprintf(f, "%s\n\nOptions (each also read from the environment variable shown):\n", usage);
    for (const struct cfg_opt *o = opts; o->name; o++) {
        env_name(env, sizeof(env), o->name, "");
        char def[64] = "";
        switch (o->type) {
        case CFG_STR: { char *s = *(char **)o->dst; if (s) snprintf(def, sizeof(def), " [%s]", s); break; }
        case CFG_INT: snprintf(def, sizeof(def), " [%lld]", *(long long *)o->dst); break;
        case CFG_DOUBLE: snprintf(def, sizeof(def), " [%g]", *(double *)o->dst); break;
        case CFG_BOOL: snprintf(def, sizeof(def), " [%s]", *(int *)o->dst ? "on" : "off"); break;
        }
        fprintf(f, "  --%-20s %s%s (%s)\n", o->name, o->help, def, env);
    }
}

void cfg_free(const struct cfg_opt *opts)
{
    for (const struct cfg_opt *o = opts; o->name; o++) {
        if (o->type != CFG_STR) continue;
        char **dst = o->dst;
        for (int i = 0; i < n_owned; i++)
            if (owned[i] == *dst) { free(*dst); *dst = NULL; owned[i] = owned[--n_owned]; break; }
    }
}
