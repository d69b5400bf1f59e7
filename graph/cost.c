/* cost.c — what one run of a graph computes, counted from its shapes: the matrix products as
 * a backend issues them (for tuning) and the FLOPs of products and attention, forward and back. */
#include "graph.h"

#include <stdlib.h>
#include <string.h>

lmg_status lmg_graph_mark_backward(const lmg_graph *g, unsigned char *bwd)
{
    /* Nodes are in topological order, so one pass sees every producer before its readers;
     * producer[v] is found on the way, as each node's outputs follow it. */
    int *producer = malloc((size_t)(g->n_values > 0 ? g->n_values : 1) * sizeof *producer);
    if (!producer) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (int v = 0; v < g->n_values; v++) producer[v] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        int b = n->name && strncmp(n->name, "grad/", 5) == 0;
        for (int k = 0; k < n->n_in && !b; k++) {
            int v = n->in[k];
            if (v < 0 || v >= g->n_values) continue;
            b = strncmp(g->values[v].name, "grad/", 5) == 0 ||
                (producer[v] >= 0 && bwd[producer[v]]);
        }
        bwd[i] = (unsigned char)b;
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0 && n->out[k] < g->n_values && producer[n->out[k]] < 0)
                producer[n->out[k]] = i;
    }
    free(producer);
    return LMG_OK;
}

/* The operand and output shapes of MatMul node n, checked to be concrete matrices. */
static lmg_status matmul_shapes(const lmg_graph *g, const lmg_node *n, const lmg_shape **sa,
                                const lmg_shape **sb, const lmg_shape **sc)
{
    if (n->n_in < 2 || n->n_out < 1 || n->in[0] < 0 || n->in[1] < 0 || n->out[0] < 0 ||
        n->in[0] >= g->n_values || n->in[1] >= g->n_values || n->out[0] >= g->n_values)
        return lmg_error(LMG_ERR_INVALID, "node '%s' (MatMul): bad operands", n->name);
    *sa = &g->values[n->in[0]].shape;
    *sb = &g->values[n->in[1]].shape;
    *sc = &g->values[n->out[0]].shape;
    const int ids[3] = {n->in[0], n->in[1], n->out[0]};
    for (int j = 0; j < 3; j++) {
        const lmg_value *v = &g->values[ids[j]];
        if (v->shape.rank < 2)
            return lmg_error(LMG_ERR_INVALID, "node '%s' (MatMul): '%s' has rank %d", n->name,
                             v->name, v->shape.rank);
        for (int d = 0; d < v->shape.rank; d++)
            if (v->dim_sym[d] != 0 || v->shape.dims[d] < 0)
                return lmg_error(LMG_ERR_INVALID,
                                 "node '%s' (MatMul): '%s' has a dimension without a size (bind "
                                 "the graph's named dimensions first)", n->name, v->name);
    }
    return LMG_OK;
}

static lmg_status add_shape(lmg_matmul_shape **v, int *n, int *cap, lmg_matmul_shape s)
{
    for (int i = 0; i < *n; i++) {
        lmg_matmul_shape *t = &(*v)[i];
        if (t->ta == s.ta && t->tb == s.tb && t->m == s.m && t->n == s.n && t->k == s.k) {
            t->count += s.count;
            return LMG_OK;
        }
    }
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 16;
        lmg_matmul_shape *t = realloc(*v, (size_t)c * sizeof *t);
        if (!t) return lmg_error(LMG_ERR_NOMEM, "out of memory");
        *v = t;
        *cap = c;
    }
    (*v)[(*n)++] = s;
    return LMG_OK;
}

lmg_status lmg_graph_matmul_shapes(const lmg_graph *g, lmg_matmul_shape **shapes, int *n_shapes)
{
    if (!g || !shapes || !n_shapes) return lmg_error(LMG_ERR_ARG, "matmul shapes: bad arguments");
    *shapes = NULL;
    *n_shapes = 0;
    lmg_matmul_shape *v = NULL;
    int n = 0, cap = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *nd = &g->nodes[i];
        if (nd->op != LMG_OP_MATMUL) continue;
        const lmg_shape *sa, *sb, *sc;
        lmg_status st = matmul_shapes(g, nd, &sa, &sb, &sc);
        if (st != LMG_OK) {
            free(v);
            return st;
        }
        lmg_matmul_shape s = {lmg_node_attr_int(nd, "trans_a", 0) != 0,
                              lmg_node_attr_int(nd, "trans_b", 0) != 0, sc->dims[sc->rank - 2],
                              sc->dims[sc->rank - 1], 0, 1};
        s.k = sa->dims[sa->rank - 1 - s.ta];
        /* Empty products are no products (a zero-K one is a fill). */
        if (s.m == 0 || s.n == 0 || s.k == 0) continue;
        /* As the executors issue them (backends/opencl/gemm.c): a 2-D weight under batched
         * rows without A^T is one product over all the rows; any other batch is one product
         * per output matrix (strided-batched or one call each). */
        lmg_shape bs = lmg_shape_make(sc->rank - 2, sc->dims);
        lmg_shape ba = lmg_shape_make(sa->rank - 2, sa->dims);
        lmg_shape bb = lmg_shape_make(sb->rank - 2, sb->dims);
        int64_t batch = lmg_shape_numel(&bs);
        if (batch > 1 && lmg_shape_numel(&bb) == 1 && !s.ta && lmg_shape_numel(&ba) == batch)
            s.m *= batch;
        else
            s.count = batch;
        if (s.count == 0) continue;
        st = add_shape(&v, &n, &cap, s);
        if (st != LMG_OK) {
            free(v);
            return st;
        }
    }
    *shapes = v;
    *n_shapes = n;
    return LMG_OK;
}

double lmg_graph_attention_flops(const lmg_graph *g, const lmg_node *n)
{
    if (n->op != LMG_OP_ATTENTION && n->op != LMG_OP_ATTENTION_GRAD) return 0;
    /* Forward QK^T and PV, two products of B*H*T*S*D multiply-adds; backward dV, dP, dQ and
     * dK, four more. */
    int q_in = n->op == LMG_OP_ATTENTION ? 0 : 1;
    if (n->n_in < q_in + 2) return 0;
    const lmg_value *q = &g->values[n->in[q_in]], *kv = &g->values[n->in[q_in + 1]];
    if (q->shape.rank != 4 || kv->shape.rank != 4) return 0;
    double bh = (double)q->shape.dims[0] * (double)q->shape.dims[1];
    double t = (double)q->shape.dims[2], s = (double)kv->shape.dims[2];
    double d = (double)q->shape.dims[3];
    double x = (n->op == LMG_OP_ATTENTION ? 4.0 : 8.0) * bh * t * s * d;
    return lmg_node_attr_int(n, "causal", 0) ? 0.5 * x : x;
}

lmg_status lmg_graph_count_flops(const lmg_graph *g, lmg_graph_flops *f)
{
    if (!g || !f) return lmg_error(LMG_ERR_ARG, "count flops: bad arguments");
    memset(f, 0, sizeof *f);
    unsigned char *bwd = calloc((size_t)(g->n_nodes > 0 ? g->n_nodes : 1), 1);
    if (!bwd) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status st = lmg_graph_mark_backward(g, bwd);
    for (int i = 0; i < g->n_nodes && st == LMG_OK; i++) {
        const lmg_node *n = &g->nodes[i];
        int b = bwd[i] || n->op == LMG_OP_ATTENTION_GRAD;
        if (n->op == LMG_OP_MATMUL) {
            const lmg_shape *sa, *sb, *sc;
            st = matmul_shapes(g, n, &sa, &sb, &sc);
            if (st != LMG_OK) break;
            int ta = lmg_node_attr_int(n, "trans_a", 0) != 0;
            double k = (double)sa->dims[sa->rank - 1 - ta];
            f->matmul[b] += 2.0 * (double)lmg_shape_numel(sc) * k;
        } else {
            f->attention[b] += lmg_graph_attention_flops(g, n);
        }
    }
    free(bwd);
    return st;
}
