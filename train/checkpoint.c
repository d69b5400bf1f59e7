/* checkpoint.c — training state in safetensors: parameters by name, AdamW moments and the
 * trainer's metadata (step, RNG state, best loss), written atomically; loaded by value name. */
#include "train.h"
#include "../backends/backend.h"
#include "../graph/safetensors.h"

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
    if (s == LMG_OK) s = lmg_st_writer_meta(w, "format", "lmgraph-checkpoint-1");
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
