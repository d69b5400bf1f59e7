/* checkpoint.c — training state in safetensors: parameters by name, AdamW moments and the
 * trainer's metadata (step, RNG state, best loss), written atomically; loaded by value name. */
#include "train.h"
#include "../backends/backend.h"
#include "../graph/safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t value_bytes(const lmg_value *v)
{
    return (size_t)lmg_shape_numel(&v->shape) * lmg_dtype_size(v->dtype);
}

/* The values a checkpoint holds: parameters, then (state) each one's moments. */
static int wanted(const lmg_graph *g, int v, int state)
{
    const lmg_value *x = &g->values[v];
    if (x->kind != LMG_VALUE_INIT) return 0;
    if (x->trainable) return 1;
    return state && (strncmp(x->name, "adam.m/", 7) == 0 || strncmp(x->name, "adam.v/", 7) == 0);
}

lmg_status lmg_checkpoint_save(const char *path, const lmg_graph *g, const lmg_backend *b,
                               lmg_exec *e, int state, int n_meta, const char *const *keys,
                               const char *const *values)
{
    size_t total = 0;
    for (int v = 0; v < g->n_values; v++)
        if (wanted(g, v, state)) total += value_bytes(&g->values[v]);
    /* One host block for every tensor: the writer borrows the data until commit. */
    char *buf = malloc(total ? total : 1);
    lmg_st_writer *w = lmg_st_writer_new();
    if (!buf || !w) {
        free(buf);
        lmg_st_writer_free(w);
        return lmg_error(LMG_ERR_NOMEM, "out of memory saving '%s'", path);
    }
    lmg_status s = LMG_OK;
    size_t off = 0;
    for (int v = 0; v < g->n_values && s == LMG_OK; v++) {
        if (!wanted(g, v, state)) continue;
        const lmg_value *x = &g->values[v];
        size_t n = value_bytes(x);
        s = b->read(e, v, buf + off, n);
        if (s == LMG_OK) s = lmg_st_writer_add(w, x->name, x->dtype, &x->shape, buf + off);
        off += n;
    }
    if (s == LMG_OK) s = lmg_st_writer_meta(w, "format", LMG_CHECKPOINT_FORMAT);
    for (int i = 0; i < n_meta && s == LMG_OK; i++) s = lmg_st_writer_meta(w, keys[i], values[i]);
    if (s == LMG_OK) s = lmg_st_writer_commit(w, path);
    if (s != LMG_OK) s = lmg_error_prefix(s, "saving checkpoint '%s': ", path);
    lmg_st_writer_free(w);
    free(buf);
    return s;
}

lmg_status lmg_checkpoint_load(const char *path, const lmg_graph *g, const lmg_backend *b,
                               lmg_exec *e, int state)
{
    lmg_st_file *f;
    LMG_TRY(lmg_st_open(path, &f));
    lmg_status s = LMG_OK;
    for (int v = 0; v < g->n_values && s == LMG_OK; v++) {
        if (!wanted(g, v, state)) continue;
        const lmg_value *x = &g->values[v];
        lmg_dtype t;
        lmg_shape sh;
        const void *data;
        size_t n;
        s = lmg_st_find(f, x->name, &t, &sh, &data, &n);
        if (s != LMG_OK) {
            s = lmg_error(LMG_ERR_NOT_FOUND, "checkpoint '%s' has no tensor '%s'", path, x->name);
            break;
        }
        if (t != x->dtype || !lmg_shape_equal(&sh, &x->shape)) {
            char a[128], c[128];
            s = lmg_error(LMG_ERR_INVALID, "checkpoint '%s': '%s' is %s%s, the graph wants %s%s",
                          path, x->name, lmg_dtype_name(t), lmg_shape_str(&sh, a, sizeof a),
                          lmg_dtype_name(x->dtype), lmg_shape_str(&x->shape, c, sizeof c));
            break;
        }
        s = b->write(e, v, data, n);
    }
    lmg_st_close(f);
    return s;
}

/* ---- the trainer's metadata ------------------------------------------------------------ */

/* Each field is parsed whole (no trailing bytes, no overflow) and range-checked: a bare
 * strtoll would read "abc" as step 0 and restart a trained run from scratch. */
static lmg_status meta_field(const char *path, const char *key, const char *v, const char *want)
{
    if (!v) return lmg_error(LMG_ERR_PARSE, "%s: metadata '%s' is missing", path, key);
    return lmg_error(LMG_ERR_PARSE, "%s: metadata '%s' = '%.64s' is not %s", path, key, v, want);
}

static lmg_status meta_int(const lmg_st_file *f, const char *path, const char *key, int64_t lo,
                           int64_t hi, int64_t *out)
{
    const char *v = lmg_st_meta(f, key);
    char want[96];
    snprintf(want, sizeof want, "an integer in %lld..%lld", (long long)lo, (long long)hi);
    if (!v || !*v || (*v != '-' && (*v < '0' || *v > '9'))) return meta_field(path, key, v, want);
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || x < lo || x > hi) return meta_field(path, key, v, want);
    *out = x;
    return LMG_OK;
}

static lmg_status meta_u64(const lmg_st_file *f, const char *path, const char *key, uint64_t *out)
{
    const char *v = lmg_st_meta(f, key);
    const char *want = "an unsigned 64-bit integer";
    if (!v || *v < '0' || *v > '9') return meta_field(path, key, v, want);
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end) return meta_field(path, key, v, want);
    *out = x;
    return LMG_OK;
}

/* A finite number, or (none_ok) "inf" for "none yet". NaN never: every comparison with it
 * is false, so a NaN best loss would never be improved on. */
static lmg_status meta_num(const lmg_st_file *f, const char *path, const char *key, double lo,
                           int none_ok, double *out)
{
    const char *v = lmg_st_meta(f, key);
    char want[96];
    if (isinf(lo)) snprintf(want, sizeof want, "a finite number%s", none_ok ? " or 'inf' (none)" : "");
    else snprintf(want, sizeof want, "a finite number >= %g%s", lo, none_ok ? " or 'inf' (none)" : "");
    if (!v || !*v) return meta_field(path, key, v, want);
    if (none_ok && strcmp(v, "inf") == 0) {
        *out = INFINITY;
        return LMG_OK;
    }
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || !isfinite(x) || x < lo) return meta_field(path, key, v, want);
    *out = x;
    return LMG_OK;
}

lmg_status lmg_checkpoint_read_meta(const char *path, int64_t max_step, lmg_checkpoint_meta *m)
{
    memset(m, 0, sizeof *m);
    lmg_st_file *f;
    LMG_TRY(lmg_st_open_header(path, &f));
    lmg_status s = LMG_OK;
    const char *fmt = lmg_st_meta(f, "format");
    if (!fmt || strcmp(fmt, LMG_CHECKPOINT_FORMAT) != 0)
        s = meta_field(path, "format", fmt, "'" LMG_CHECKPOINT_FORMAT "'");
    /* An extended run (lmg train --resume RUN --steps N) records its new length: its step
     * may exceed the length in train.pb. */
    if (s == LMG_OK && lmg_st_meta(f, "steps_total"))
        s = meta_int(f, path, "steps_total", 1, INT64_MAX / 2, &m->steps_total);
    if (s == LMG_OK && m->steps_total > max_step) max_step = m->steps_total;
    if (s == LMG_OK) s = meta_int(f, path, "step", 0, max_step, &m->step);
    if (s == LMG_OK) s = meta_u64(f, path, "rng.data_seed", &m->data_seed);
    if (s == LMG_OK) s = meta_u64(f, path, "rng.model_seed", &m->model_seed);
    if (s == LMG_OK) s = meta_num(f, path, "best_val_loss", -INFINITY, 1, &m->best_val_loss);
    if (s == LMG_OK) s = meta_int(f, path, "best_step", 0, m->step, &m->best_step);
    if (s == LMG_OK && isinf(m->best_val_loss) && m->best_step != 0)
        s = lmg_error(LMG_ERR_PARSE, "%s: metadata 'best_step' is %lld but 'best_val_loss' is "
                      "'inf' (no evaluation yet)", path, (long long)m->best_step);
    int64_t bad = 0;
    if (s == LMG_OK) s = meta_int(f, path, "bad_evals", 0, m->step, &bad);
    m->bad_evals = (int)bad;
    m->elapsed_s = 0;
    if (s == LMG_OK && lmg_st_meta(f, "elapsed_s"))
        s = meta_num(f, path, "elapsed_s", 0, 0, &m->elapsed_s);
    lmg_st_close(f);
    return s;
}

lmg_status lmg_checkpoint_best_step(const char *path, int64_t max_step, int64_t *step)
{
    lmg_st_file *f;
    LMG_TRY(lmg_st_open_header(path, &f));
    const char *fmt = lmg_st_meta(f, "format");
    lmg_status s = LMG_OK;
    if (!fmt || strcmp(fmt, LMG_CHECKPOINT_FORMAT) != 0)
        s = meta_field(path, "format", fmt, "'" LMG_CHECKPOINT_FORMAT "'");
    if (s == LMG_OK) s = meta_int(f, path, "step", 1, max_step, step);
    lmg_st_close(f);
    return s;
}
