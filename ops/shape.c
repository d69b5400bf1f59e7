/* shape.c — rules of the ops that move data without arithmetic: Reshape, Transpose, Slice
 * and its adjoint SliceGrad, Concat and Expand (checks, shapes, gradients). */
#include "ops.h"
#include "../graph/graph.h"

#include <stdio.h>
#include <string.h>

#define ANY (LMG_DTYPE_BIT(LMG_DTYPE_F32) | LMG_DTYPE_BIT(LMG_DTYPE_I32))

static void ints_str(const int64_t *v, int n, char *buf, size_t size)
{
    size_t o = 0;
    o += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < n && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%lld", i ? "," : "", (long long)v[i]);
    if (o < size) snprintf(buf + o, size - o, "]");
}

/* ---- Reshape ----------------------------------------------------------------------- */

lmg_status lmg_infer_RESHAPE(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    LMG_TRY(lmg_op_check_attrs(n, "shape:I"));
    LMG_TRY(lmg_op_check_input(g, n, 0, ANY));
    const lmg_value *x = &g->values[n->in[0]];
    const lmg_attr *a = lmg_node_attr(n, "shape");
    char sx[200], sv[200];
    lmg_op_value_str(g, n->in[0], sx, sizeof sx);
    if (!a) return lmg_op_error(n, "attribute 'shape' is required");
    ints_str(a->ints, a->n, sv, sizeof sv);
    if (a->n > LMG_MAX_DIMS)
        return lmg_op_error(n, "shape %s has rank %d, at most %d", sv, a->n, LMG_MAX_DIMS);
    int64_t known = 1, numel = lmg_shape_numel(&x->shape);
    int infer_at = -1;
    s[0].rank = a->n;
    for (int i = 0; i < a->n; i++) {
        int64_t d = a->ints[i];
        if (d == -1) {
            if (infer_at >= 0) return lmg_op_error(n, "shape %s has more than one -1", sv);
            infer_at = i;
        } else if (d < 0) {
            return lmg_op_error(n, "shape %s has a negative dimension", sv);
        } else if (d > ((int64_t)1 << 40) || (d > 0 && known > ((int64_t)1 << 40) / d)) {
            return lmg_op_error(n, "shape %s holds more than 2^40 elements", sv);
        } else {
            known *= d;
        }
        s[0].dims[i] = d;
    }
    if (infer_at >= 0) {
        if (known == 0 || numel % known != 0)
            return lmg_op_error(n, "cannot infer the -1 in shape %s from x %s (%lld elements)",
                                sv, sx, (long long)numel);
        s[0].dims[infer_at] = numel / known;
    } else if (known != numel) {
        return lmg_op_error(n, "shape %s has %lld elements, x %s has %lld", sv, (long long)known,
                            sx, (long long)numel);
    }
    t[0] = x->dtype;
    return LMG_OK;
}

lmg_status lmg_grad_RESHAPE(lmg_grad_ctx *c)
{
    lmg_graph *g = c->g;
    int x = g->nodes[c->node].in[0];
    lmg_shape sx = g->values[x].shape;
    if (c->dy[0] < 0 || !c->need[0] || g->values[x].dtype != LMG_DTYPE_F32) return LMG_OK;
    c->dx[0] = lmg_reshape(g, c->dy[0], sx.rank, sx.dims);
    return g->status;
}

/* ---- Transpose --------------------------------------------------------------------- */

lmg_status lmg_infer_TRANSPOSE(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                               lmg_shape *s)
{
    LMG_TRY(lmg_op_check_attrs(n, "perm:I"));
    LMG_TRY(lmg_op_check_input(g, n, 0, ANY));
    const lmg_value *x = &g->values[n->in[0]];
    const lmg_attr *p = lmg_node_attr(n, "perm");
    char sx[200], sp[200];
    lmg_op_value_str(g, n->in[0], sx, sizeof sx);
    if (!p) return lmg_op_error(n, "attribute 'perm' is required");
    ints_str(p->ints, p->n, sp, sizeof sp);
    if (p->n != x->shape.rank)
        return lmg_op_error(n, "perm %s has %d entries, x %s has rank %d", sp, p->n, sx,
                            x->shape.rank);
    int seen[LMG_MAX_DIMS] = {0};
    for (int i = 0; i < p->n; i++) {
        if (p->ints[i] < 0 || p->ints[i] >= p->n || seen[p->ints[i]]++)
            return lmg_op_error(n, "perm %s is not a permutation of 0..%d", sp, p->n - 1);
        s[0].dims[i] = x->shape.dims[p->ints[i]];
    }
    s[0].rank = p->n;
    t[0] = x->dtype;
    return LMG_OK;
}

lmg_status lmg_grad_TRANSPOSE(lmg_grad_ctx *c)
{
    lmg_graph *g = c->g;
    const lmg_node *n = &g->nodes[c->node];
    const lmg_attr *p = lmg_node_attr(n, "perm");
    int x = n->in[0], rank = p->n;
    int64_t inv[LMG_MAX_DIMS];
    for (int i = 0; i < rank; i++) inv[p->ints[i]] = i;
    if (c->dy[0] < 0 || !c->need[0] || g->values[x].dtype != LMG_DTYPE_F32) return LMG_OK;
    c->dx[0] = lmg_transpose(g, c->dy[0], rank, inv);
    return g->status;
}

/* ---- Slice and SliceGrad ----------------------------------------------------------- */

/* Resolve axis/start/end against the sliced dimension `dim`: negatives count from the
 * end, an absent end means the whole rest; out of range is an error (no clamping). */
static lmg_status slice_range(const lmg_node *n, const lmg_shape *sh, const char *what,
                              int64_t dim_override, int *axis, int64_t *start, int64_t *end)
{
    int64_t ax = lmg_node_attr_int(n, "axis", 0);
    int a = lmg_axis(ax, sh->rank);
    char ss[160];
    lmg_shape_str(sh, ss, sizeof ss);
    if (a < 0)
        return lmg_op_error(n, "axis %lld is out of range for %s %s", (long long)ax, what, ss);
    int64_t dim = dim_override >= 0 ? dim_override : sh->dims[a];
    int64_t s0 = lmg_node_attr_int(n, "start", 0), e0 = lmg_node_attr_int(n, "end", dim);
    int64_t s = s0 < 0 ? s0 + dim : s0, e = e0 < 0 ? e0 + dim : e0;
    if (s < 0 || e > dim || s > e)
        return lmg_op_error(n, "range [%lld, %lld) is out of bounds for axis %d of size %lld",
                            (long long)s0, (long long)e0, a, (long long)dim);
    *axis = a;
    *start = s;
    *end = e;
    return LMG_OK;
}

lmg_status lmg_infer_SLICE(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    LMG_TRY(lmg_op_check_attrs(n, "axis:i start:i end:i step:i"));
    LMG_TRY(lmg_op_check_input(g, n, 0, ANY));
    if (lmg_node_attr_int(n, "step", 1) != 1)
        return lmg_op_error(n, "step %lld is not supported (only 1)",
                            (long long)lmg_node_attr_int(n, "step", 1));
    const lmg_value *x = &g->values[n->in[0]];
    int axis;
    int64_t start, end;
    char sx[200];
    snprintf(sx, sizeof sx, "x '%s'", x->name);
    LMG_TRY(slice_range(n, &x->shape, sx, -1, &axis, &start, &end));
    s[0] = x->shape;
    s[0].dims[axis] = end - start;
    t[0] = x->dtype;
    return LMG_OK;
}

lmg_status lmg_infer_SLICE_GRAD(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                lmg_shape *s)
{
    LMG_TRY(lmg_op_check_attrs(n, "axis:i start:i end:i dim:i"));
    LMG_TRY(lmg_op_check_input(g, n, 0, ANY));
    const lmg_value *dy = &g->values[n->in[0]];
    const lmg_attr *d = lmg_node_attr(n, "dim");
    if (!d) return lmg_op_error(n, "attribute 'dim' (the size of the sliced axis) is required");
    if (d->i < 0) return lmg_op_error(n, "attribute 'dim' is %lld", (long long)d->i);
    int axis;
    int64_t start, end;
    char sd[200];
    snprintf(sd, sizeof sd, "dy '%s'", dy->name);
    LMG_TRY(slice_range(n, &dy->shape, sd, d->i, &axis, &start, &end));
    if (end - start != dy->shape.dims[axis]) {
        lmg_op_value_str(g, n->in[0], sd, sizeof sd);
        return lmg_op_error(n, "range [%lld, %lld) has %lld entries but dy %s has %lld on axis %d",
                            (long long)start, (long long)end, (long long)(end - start), sd,
                            (long long)dy->shape.dims[axis], axis);
    }
    s[0] = dy->shape;
    s[0].dims[axis] = d->i;
    t[0] = dy->dtype;
    return LMG_OK;
}

static int slice_node(lmg_graph *g, lmg_op op, int x, int axis, int64_t start, int64_t end,
                      int64_t dim)
{
    lmg_attr a[4] = {lmg_attr_int("axis", axis), lmg_attr_int("start", start),
                     lmg_attr_int("end", end), lmg_attr_int("dim", dim)};
    return lmg_graph_node(g, op, NULL, &x, 1, a, op == LMG_OP_SLICE_GRAD ? 4 : 3, NULL, NULL);
}

lmg_status lmg_grad_SLICE(lmg_grad_ctx *c)
{
    lmg_graph *g = c->g;
    const lmg_node *n = &g->nodes[c->node];
    int x = n->in[0], axis;
    int64_t start, end;
    LMG_TRY(slice_range(n, &g->values[x].shape, "x", -1, &axis, &start, &end));
    int64_t dim = g->values[x].shape.dims[axis];
    if (c->dy[0] < 0 || !c->need[0] || g->values[x].dtype != LMG_DTYPE_F32) return LMG_OK;
    c->dx[0] = slice_node(g, LMG_OP_SLICE_GRAD, c->dy[0], axis, start, end, dim);
    return g->status;
}

lmg_status lmg_grad_SLICE_GRAD(lmg_grad_ctx *c)
{
    lmg_graph *g = c->g;
    const lmg_node *n = &g->nodes[c->node];
    int x = n->in[0], axis;
    int64_t start, end, dim = lmg_node_attr_int(n, "dim", 0);
    LMG_TRY(slice_range(n, &g->values[x].shape, "dy", dim, &axis, &start, &end));
    if (c->dy[0] < 0 || !c->need[0] || g->values[x].dtype != LMG_DTYPE_F32) return LMG_OK;
    c->dx[0] = slice_node(g, LMG_OP_SLICE, c->dy[0], axis, start, end, dim);
    return g->status;
}

/* ---- Concat ------------------------------------------------------------------------ */

lmg_status lmg_infer_CONCAT(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    LMG_TRY(lmg_op_check_attrs(n, "axis:i"));
    LMG_TRY(lmg_op_check_input(g, n, 0, ANY));
    const lmg_value *x0 = &g->values[n->in[0]];
    char s0[200], sk[200];
    lmg_op_value_str(g, n->in[0], s0, sizeof s0);
    int64_t ax = lmg_node_attr_int(n, "axis", 0);
    int axis = lmg_axis(ax, x0->shape.rank);
    if (axis < 0)
        return lmg_op_error(n, "axis %lld is out of range for input 0 %s", (long long)ax, s0);
    s[0] = x0->shape;
    s[0].dims[axis] = 0;
    for (int k = 0; k < n->n_in; k++) {
        LMG_TRY(lmg_op_check_input(g, n, k, ANY));
        const lmg_value *x = &g->values[n->in[k]];
        lmg_op_value_str(g, n->in[k], sk, sizeof sk);
        if (x->dtype != x0->dtype)
            return lmg_op_error(n, "input %d '%s' is %s, input 0 '%s' is %s", k, x->name,
                                lmg_dtype_name(x->dtype), x0->name, lmg_dtype_name(x0->dtype));
        int ok = x->shape.rank == x0->shape.rank;
        for (int i = 0; ok && i < x->shape.rank; i++)
            if (i != axis && x->shape.dims[i] != x0->shape.dims[i]) ok = 0;
        if (!ok)
            return lmg_op_error(n, "input %d %s does not match input 0 %s off axis %d", k, sk, s0,
                                axis);
        s[0].dims[axis] += x->shape.dims[axis];
    }
    t[0] = x0->dtype;
    return LMG_OK;
}

lmg_status lmg_grad_CONCAT(lmg_grad_ctx *c)
{
    lmg_graph *g = c->g;
    const lmg_node *n = &g->nodes[c->node];
    int n_in = n->n_in, dy = c->dy[0];
    int axis = lmg_axis(lmg_node_attr_int(n, "axis", 0), g->values[n->in[0]].shape.rank);
    if (dy < 0 || g->values[n->in[0]].dtype != LMG_DTYPE_F32) return LMG_OK;
    int64_t off[65];
    off[0] = 0;
    for (int k = 0; k < n_in && k < 64; k++)
        off[k + 1] = off[k] + g->values[n->in[k]].shape.dims[axis];
    /* One input: the gradient is dy itself. */
    for (int k = 0; k < n_in && k < 64; k++) {
        if (!c->need[k]) continue;
        c->dx[k] = n_in == 1 ? dy : slice_node(g, LMG_OP_SLICE, dy, axis, off[k], off[k + 1], 0);
    }
    return g->status;
}

/* ---- Expand ------------------------------------------------------------------------ */

lmg_status lmg_infer_EXPAND(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    LMG_TRY(lmg_op_check_attrs(n, "shape:I"));
    LMG_TRY(lmg_op_check_input(g, n, 0, ANY));
    const lmg_value *x = &g->values[n->in[0]];
    const lmg_attr *a = lmg_node_attr(n, "shape");
    char sx[200], sv[200];
    lmg_op_value_str(g, n->in[0], sx, sizeof sx);
    if (!a) return lmg_op_error(n, "attribute 'shape' is required");
    ints_str(a->ints, a->n, sv, sizeof sv);
    if (a->n > LMG_MAX_DIMS)
        return lmg_op_error(n, "shape %s has rank %d, at most %d", sv, a->n, LMG_MAX_DIMS);
    for (int i = 0; i < a->n; i++)
        if (a->ints[i] < 0) return lmg_op_error(n, "shape %s has a negative dimension", sv);
    lmg_shape to = lmg_shape_make(a->n, a->ints), b;
    if (lmg_broadcast_shapes(&x->shape, &to, &b) != LMG_OK || !lmg_shape_equal(&b, &to))
        return lmg_op_error(n, "x %s does not broadcast to shape %s", sx, sv);
    s[0] = to;
    t[0] = x->dtype;
    return LMG_OK;
}

lmg_status lmg_grad_EXPAND(lmg_grad_ctx *c)
{
    lmg_graph *g = c->g;
    int x = g->nodes[c->node].in[0];
    lmg_shape sx = g->values[x].shape;
    if (c->dy[0] < 0 || !c->need[0] || g->values[x].dtype != LMG_DTYPE_F32) return LMG_OK;
    c->dx[0] = lmg_sum_to(g, c->dy[0], sx);
    return g->status;
}
