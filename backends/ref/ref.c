/* ref.c — the reference backend: every value in its own host buffer, nodes run in order by
 * the plain-C kernels of backends/ref/<family>.c. It defines what every op means. */
#include "ref.h"

#include <stdlib.h>
#include <string.h>

static const lmg_ref_kernel kernels[] = {
#define LMG_OP(E, N, mi, ma, no, gr) [LMG_OP_##E] = lmg_ref_##E,
#include "../../ops/ops.def"
#undef LMG_OP
};
_Static_assert(sizeof kernels / sizeof *kernels == LMG_OP_COUNT, "ref kernel table out of step");

int lmg_ref_has_kernel(lmg_op op)
{
    return (unsigned)op < LMG_OP_COUNT && kernels[op] != NULL;
}

struct lmg_exec {
    const lmg_graph *g;
    lmg_tensor *t;  /* one per value; aliased outputs share their input's data */
    unsigned char *owned; /* 1 when t[v].data is ours to free */
};

static void ref_free(lmg_exec *e)
{
    if (!e) return;
    if (e->t && e->owned)
        for (int v = 0; v < e->g->n_values; v++)
            if (e->owned[v]) free(e->t[v].data);
    free(e->t);
    free(e->owned);
    free(e);
}

static lmg_status ref_init(const lmg_graph *g, const lmg_exec_opts *opts, lmg_exec **out)
{
    (void)opts;
    *out = NULL;
    LMG_TRY(lmg_graph_check_bound(g, "running"));
    lmg_exec *e = calloc(1, sizeof *e);
    if (!e) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    e->g = g;
    e->t = calloc((size_t)g->n_values + 1, sizeof *e->t);
    e->owned = calloc((size_t)g->n_values + 1, 1);
    if (!e->t || !e->owned) {
        ref_free(e);
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    /* Aliased outputs (optimizer updates) reuse their input's buffer. */
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_out; k++) {
            int a = lmg_op_alias(n->op, k);
            if (a >= 0 && a < n->n_in && n->in[a] >= 0) e->owned[n->out[k]] = 2; /* mark */
        }
    }
    for (int v = 0; v < g->n_values; v++) {
        const lmg_value *val = &g->values[v];
        e->t[v].dtype = val->dtype;
        e->t[v].shape = val->shape;
        if (e->owned[v] == 2) {
            e->owned[v] = 0;
            continue;
        }
        size_t n = (size_t)lmg_shape_numel(&val->shape) * lmg_dtype_size(val->dtype);
        e->t[v].data = calloc(n ? n : 1, 1);
        if (!e->t[v].data) {
            ref_free(e);
            return lmg_error(LMG_ERR_NOMEM, "out of memory allocating '%s' (%zu bytes)",
                             val->name, n);
        }
        e->owned[v] = 1;
        if (val->kind == LMG_VALUE_INIT && val->fill == LMG_INIT_DATA && val->data)
            memcpy(e->t[v].data, val->data, n);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_out; k++) {
            int a = lmg_op_alias(n->op, k);
            if (a >= 0 && a < n->n_in && n->in[a] >= 0) e->t[n->out[k]].data = e->t[n->in[a]].data;
        }
    }
    *out = e;
    return LMG_OK;
}

static lmg_status check_io(lmg_exec *e, int value, size_t nbytes)
{
    if (value < 0 || value >= e->g->n_values)
        return lmg_error(LMG_ERR_ARG, "ref: no value %d", value);
    const lmg_value *v = &e->g->values[value];
    size_t n = (size_t)lmg_shape_numel(&v->shape) * lmg_dtype_size(v->dtype);
    if (n != nbytes)
        return lmg_error(LMG_ERR_ARG, "ref: value '%s' has %zu bytes, caller passed %zu", v->name,
                         n, nbytes);
    return LMG_OK;
}

static lmg_status ref_write(lmg_exec *e, int value, const void *data, size_t nbytes)
{
    LMG_TRY(check_io(e, value, nbytes));
    if (e->g->values[value].kind == LMG_VALUE_NODE)
        return lmg_error(LMG_ERR_ARG, "ref: '%s' is computed by a node, it cannot be written",
                         e->g->values[value].name);
    memcpy(e->t[value].data, data, nbytes);
    return LMG_OK;
}

static lmg_status ref_read(lmg_exec *e, int value, void *data, size_t nbytes)
{
    LMG_TRY(check_io(e, value, nbytes));
    memcpy(data, e->t[value].data, nbytes);
    return LMG_OK;
}

static lmg_status ref_run(lmg_exec *e, uint64_t step)
{
    const lmg_graph *g = e->g;
    lmg_ref_ctx c = {g, step};
    const lmg_tensor *in[64];
    lmg_tensor *out[8];
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        if (n->n_in > 64 || n->n_out > 8)
            return lmg_error(LMG_ERR_UNSUPPORTED, "node '%s': too many inputs or outputs", n->name);
        for (int k = 0; k < n->n_in; k++) in[k] = n->in[k] >= 0 ? &e->t[n->in[k]] : NULL;
        for (int k = 0; k < n->n_out; k++) out[k] = &e->t[n->out[k]];
        LMG_TRY(kernels[n->op](&c, n, in, out));
    }
    return LMG_OK;
}

const lmg_backend lmg_backend_ref = {"ref", ref_init, ref_write, ref_run, ref_read, ref_free};
