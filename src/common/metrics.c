/* metrics.c -- Prometheus registry. One mutex per registry guards every update: updates are
 * a few nanoseconds uncontended and happen per write or per step, never per byte, so a lock
 * is simpler than atomics on doubles and cannot tear a histogram. */
#include "common/metrics.h"
#include "common/xalloc.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric_kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM };

struct metric {
    struct metric *next;       /* next series of the same family */
    char *labels;              /* owned, may be "" */
    double value;              /* counter/gauge value; histogram sum */
    double *buckets;           /* histogram: counts per bound, (n_bounds + 1) with +Inf */
    double count;
    struct family *fam;        /* borrowed: owning family */
};

struct family {
    struct family *next;
    char *name, *help;         /* owned */
    enum metric_kind kind;
    double *bounds;            /* owned; histogram only */
    int n_bounds;
    struct metric *series;     /* owned list */
    struct metrics *reg;
};

struct metrics {
    pthread_mutex_t lock;
    struct family *families, **tail;
    void (*on_render)(struct metrics *, void *);
    void *on_render_ud;
};

const double metrics_latency_buckets_s[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                             0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
const int metrics_latency_buckets_n = sizeof(metrics_latency_buckets_s) / sizeof(double);

struct metrics *metrics_new(void)
{
    struct metrics *m = xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    m->tail = &m->families;
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m) return;
    for (struct family *f = m->families, *fn; f; f = fn) {
        fn = f->next;
        for (struct metric *s = f->series, *sn; s; s = sn) {
            sn = s->next;
            free(s->labels);
            free(s->buckets);
            free(s);
        }
        free(f->name);
        free(f->help);
        free(f->bounds);
        free(f);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static struct metric *get(struct metrics *m, enum metric_kind kind, const char *name,
                          const char *help, const char *labels, const double *bounds, int n)
{
    if (!labels) labels = "";
    pthread_mutex_lock(&m->lock);
    struct family *f;
    for (f = m->families; f; f = f->next)
        if (!strcmp(f->name, name)) break;
    if (!f) {
        f = xcalloc(1, sizeof(*f));
        f->name = xstrdup(name);
        f->help = xstrdup(help ? help : "");
        f->kind = kind;
        f->reg = m;
        if (kind == KIND_HISTOGRAM) {
            f->bounds = xmalloc(sizeof(double) * (size_t)(n ? n : 1));
            memcpy(f->bounds, bounds, sizeof(double) * (size_t)n);
            f->n_bounds = n;
        }
        *m->tail = f;
        m->tail = &f->next;
    }
    struct metric *s, **tail = &f->series;
    for (s = f->series; s; s = s->next) {
        if (!strcmp(s->labels, labels)) break;
        tail = &s->next;
    }
    if (!s) {
        s = xcalloc(1, sizeof(*s));
        s->labels = xstrdup(labels);
        s->fam = f;
        if (f->kind == KIND_HISTOGRAM) s->buckets = xcalloc((size_t)f->n_bounds + 1, sizeof(double));
        *tail = s;
    }
    pthread_mutex_unlock(&m->lock);
    return s;
}

struct metric *metrics_counter(struct metrics *m, const char *name, const char *help, const char *labels)
{ return get(m, KIND_COUNTER, name, help, labels, NULL, 0); }

struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help, const char *labels)
{ return get(m, KIND_GAUGE, name, help, labels, NULL, 0); }

struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                 const char *labels, const double *bounds, int n)
{ return get(m, KIND_HISTOGRAM, name, help, labels, bounds, n); }

void metric_add(struct metric *s, double v)
{
    pthread_mutex_lock(&s->fam->reg->lock);
    s->value += v;
    pthread_mutex_unlock(&s->fam->reg->lock);
}

void metric_set(struct metric *s, double v)
{
    pthread_mutex_lock(&s->fam->reg->lock);
    s->value = v;
    pthread_mutex_unlock(&s->fam->reg->lock);
}

void metric_observe(struct metric *s, double v)
{
    struct family *f = s->fam;
    int i = 0;
    while (i < f->n_bounds && v > f->bounds[i]) i++;
    pthread_mutex_lock(&f->reg->lock);
    s->buckets[i] += 1;
    s->count += 1;
    s->value += v;
    pthread_mutex_unlock(&f->reg->lock);
}

double metric_value(const struct metric *s)
{
    return s->fam->kind == KIND_HISTOGRAM ? s->count : s->value;
}

double metric_quantile(const struct metric *s, double q)
{
    const struct family *f = s->fam;
    if (f->kind != KIND_HISTOGRAM || s->count <= 0) return 0;
    double rank = q * s->count, cum = 0;
    for (int i = 0; i <= f->n_bounds; i++) {
        if (cum + s->buckets[i] >= rank && s->buckets[i] > 0) {
            double lo = i ? f->bounds[i - 1] : 0;
            double hi = i < f->n_bounds ? f->bounds[i] : lo;
            return lo + (hi - lo) * ((rank - cum) / s->buckets[i]);
        }
        cum += s->buckets[i];
    }
    return f->n_bounds ? f->bounds[f->n_bounds - 1] : 0;
}

void metrics_on_render(struct metrics *m, void (*fn)(struct metrics *, void *), void *ud)
{
    m->on_render = fn;
    m->on_render_ud = ud;
}

static void put_num(struct buf *out, double v)
{
    if (isinf(v)) buf_append_str(out, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15) buf_printf(out, "%.0f", v);
    else buf_printf(out, "%.9g", v);
}

static void put_series_name(struct buf *out, const char *name, const char *suffix,
                            const char *labels, const char *extra)
{
    buf_append_str(out, name);
    buf_append_str(out, suffix);
    int has = labels && *labels, hasx = extra && *extra;
    if (has || hasx) {
        buf_append_char(out, '{');
        if (has) buf_append_str(out, labels);
        if (has && hasx) buf_append_char(out, ',');
        if (hasx) buf_append_str(out, extra);
        buf_append_char(out, '}');
    }
    buf_append_char(out, ' ');
}

void metrics_render(struct metrics *m, struct buf *out)
{
    if (m->on_render) m->on_render(m, m->on_render_ud);
    static const char *types[] = { "counter", "gauge", "histogram" };
    pthread_mutex_lock(&m->lock);
    for (struct family *f = m->families; f; f = f->next) {
        buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, types[f->kind]);
        for (struct metric *s = f->series; s; s = s->next) {
            if (f->kind != KIND_HISTOGRAM) {
                put_series_name(out, f->name, "", s->labels, NULL);
                put_num(out, s->value);
                buf_append_char(out, '\n');
                continue;
            }
            double cum = 0;
            char le[48];
            for (int i = 0; i <= f->n_bounds; i++) {
                cum += s->buckets[i];
                if (i < f->n_bounds) snprintf(le, sizeof(le), "le=\"%g\"", f->bounds[i]);
                else snprintf(le, sizeof(le), "le=\"+Inf\"");
                put_series_name(out, f->name, "_bucket", s->labels, le);
                put_num(out, cum);
                buf_append_char(out, '\n');
            }
            put_series_name(out, f->name, "_sum", s->labels, NULL);
            put_num(out, s->value);
            buf_append_char(out, '\n');
            put_series_name(out, f->name, "_count", s->labels, NULL);
            put_num(out, s->count);
            buf_append_char(out, '\n');
        }
    }
    pthread_mutex_unlock(&m->lock);
}
