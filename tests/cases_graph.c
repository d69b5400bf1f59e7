/* cases_graph.c — a test case's inputs and its one-node graph, the same for the gradient
 * check (ref backend) and the backend parity test (opencl vs ref). */
#include "cases.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static lmg_dtype case_dtype(const lmg_case *c, int k)
{
    return c->dtype[k] ? c->dtype[k] : LMG_DTYPE_F32;
}

void lmg_case_graph_free(lmg_case_graph *b)
{
    for (int k = 0; k < CASE_MAX_IN; k++) free(b->in[k].data);
    for (int k = 0; k < 8; k++) free(b->w[k]);
    memset(b, 0, sizeof *b);
}

int lmg_case_make_inputs(const lmg_case *c, lmg_case_graph *b, char *err, size_t errn)
{
    uint64_t seed = hash_name(c->name);
    for (int k = 0; k < c->n_in; k++) {
        lmg_tensor *t = &b->in[k];
        t->dtype = case_dtype(c, k);
        if (parse_shape(c->shape[k], &t->shape) != 0) {
            snprintf(err, errn, "input %d: bad shape \"%s\"", k, c->shape[k] ? c->shape[k] : "");
            return -1;
        }
        int64_t n = lmg_shape_numel(&t->shape);
        t->data = calloc((size_t)(n ? n : 1), 4);
        if (!t->data) {
            snprintf(err, errn, "out of memory");
            return -1;
        }
        uint64_t s = seed + 0x1234567ull * (uint64_t)(k + 1);
        if (c->init) {
            c->init(k, t, s);
            continue;
        }
        double lo = c->lo[k], hi = c->hi[k];
        if (t->dtype == LMG_DTYPE_F32) {
            if (lo == 0 && hi == 0) lo = -1, hi = 1;
            for (int64_t i = 0; i < n; i++) lmg_f32(t)[i] = (float)(lo + (hi - lo) * rng_uniform(&s));
        } else {
            if (lo == 0 && hi == 0) lo = 0, hi = 2;
            int64_t span = (int64_t)hi - (int64_t)lo;
            if (span < 1) span = 1;
            for (int64_t i = 0; i < n; i++)
                lmg_i32(t)[i] = (int32_t)((int64_t)lo + (int64_t)(rng_next(&s) % (uint64_t)span));
        }
    }
    return 0;
}

lmg_graph *lmg_case_build_graph(const lmg_case *c, lmg_case_graph *b, int params, int with_loss,
                                char *err, size_t errn)
{
    lmg_graph *g = lmg_graph_new(c->name);
    if (!g) {
        snprintf(err, errn, "out of memory");
        return NULL;
    }
    int ins[CASE_MAX_IN];
    for (int k = 0; k < c->n_in; k++) {
        char name[32];
        snprintf(name, sizeof name, "x%d", k);
        const lmg_tensor *t = &b->in[k];
        b->is_param[k] = params && t->dtype == LMG_DTYPE_F32 && !c->nograd && !(c->no_grad_in & (1u << k));
        ins[k] = b->is_param[k] ? lmg_graph_param(g, name, t->dtype, t->shape, t->data)
                                : lmg_graph_const(g, name, t->dtype, t->shape, t->data);
    }
    int outs[8] = {0};
    const lmg_op_info *info = lmg_op_get(c->op);
    b->n_out = info ? info->n_out : 0;
    lmg_graph_node(g, c->op, "op", ins, c->n_in, c->attrs, c->n_attr, NULL, outs);
    if (g->status != LMG_OK) {
        snprintf(err, errn, "building the node: %s", lmg_last_error());
        lmg_graph_free(g);
        return NULL;
    }
    int loss = -1;
    uint64_t s = hash_name(c->name) ^ 0xabcdefull;
    for (int k = 0; k < b->n_out; k++) {
        lmg_value *v = &g->values[outs[k]];
        b->out_f32[k] = v->dtype == LMG_DTYPE_F32;
        b->out_n[k] = lmg_shape_numel(&v->shape);
        lmg_graph_add_output(g, outs[k]);
        if (!b->out_f32[k] || !with_loss) continue;
        lmg_shape sh = v->shape;
        int64_t n = b->out_n[k];
        float *w = malloc((size_t)(n ? n : 1) * sizeof *w);
        free(b->w[k]);
        b->w[k] = malloc((size_t)(n ? n : 1) * sizeof *b->w[k]);
        if (!w || !b->w[k]) {
            free(w);
            lmg_graph_free(g);
            snprintf(err, errn, "out of memory");
            return NULL;
        }
        for (int64_t i = 0; i < n; i++) {
            w[i] = (float)(2.0 * rng_uniform(&s) - 1.0);
            b->w[k][i] = w[i];
        }
        char name[32];
        snprintf(name, sizeof name, "w%d", k);
        int wk = lmg_graph_const(g, name, LMG_DTYPE_F32, sh, w);
        free(w);
        int r = lmg_reduce_sum(g, lmg_mul(g, outs[k], wk), 0, NULL, 0);
        loss = loss < 0 ? r : lmg_add(g, loss, r);
    }
    if (with_loss && loss >= 0) lmg_graph_rename(g, loss, "loss");
    if (g->status != LMG_OK) {
        snprintf(err, errn, "building the loss: %s", lmg_last_error());
        lmg_graph_free(g);
        return NULL;
    }
    if (with_loss && loss < 0) {
        snprintf(err, errn, "the op has no f32 output to differentiate");
        lmg_graph_free(g);
        return NULL;
    }
    return g;
}
