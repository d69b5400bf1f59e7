/* reduce.c — rules of the reductions: ReduceSum and ReduceMean over a set of axes (all when
 * none are given) with keepdims, and ArgMax over the last axis (checks, shapes, gradients). */
#include "ops.h"
#include "../graph/graph.h"

#define F32 LMG_DTYPE_BIT(LMG_DTYPE_F32)

/* Which axes of a rank-`rank` input a reduction node reduces (mask[i] = 1), after checking
 * the axes attribute (negatives allowed, duplicates not) and keepdims. */
static lmg_status reduced_axes(const lmg_node *n, const lmg_shape *sx, const char *xname,
                               int *mask, int *keepdims)
{
    const lmg_attr *a = lmg_node_attr(n, "axes");
    int64_t kd = lmg_node_attr_int(n, "keepdims", 0);
    char ss[160];
    lmg_shape_str(sx, ss, sizeof ss);
    if (kd != 0 && kd != 1)
        return lmg_op_error(n, "attribute 'keepdims' is %lld, expected 0 or 1", (long long)kd);
    *keepdims = (int)kd;
    for (int i = 0; i < LMG_MAX_DIMS; i++) mask[i] = !a || a->n == 0;
    for (int k = 0; a && k < a->n; k++) {
        int ax = lmg_axis(a->ints[k], sx->rank);
        if (ax < 0)
            return lmg_op_error(n, "axis %lld is out of range for x '%s' %s",
                                (long long)a->ints[k], xname, ss);
        if (mask[ax]) return lmg_op_error(n, "axis %lld is given twice", (long long)a->ints[k]);
        mask[ax] = 1;
    }
    return LMG_OK;
}

static lmg_status infer_reduce(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    LMG_TRY(lmg_op_check_attrs(n, "axes:I keepdims:i"));
    LMG_TRY(lmg_op_check_input(g, n, 0, F32));
    const lmg_value *x = &g->values[n->in[0]];
    int mask[LMG_MAX_DIMS], keep;
    LMG_TRY(reduced_axes(n, &x->shape, x->name, mask, &keep));
    s[0].rank = 0;
    for (int i = 0; i < x->shape.rank; i++) {
        if (!mask[i]) s[0].dims[s[0].rank++] = x->shape.dims[i];
        else if (keep) s[0].dims[s[0].rank++] = 1;
    }
    t[0] = LMG_DTYPE_F32;
    return LMG_OK;
}

lmg_status lmg_infer_REDUCE_SUM(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                lmg_shape *s)
{
    return infer_reduce(g, n, t, s);
}

lmg_status lmg_infer_REDUCE_MEAN(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                 lmg_shape *s)
{
    return infer_reduce(g, n, t, s);
}

lmg_status lmg_infer_ARGMAX(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    LMG_TRY(lmg_op_check_attrs(n, ""));
    LMG_TRY(lmg_op_check_input(g, n, 0, F32));
    const lmg_value *x = &g->values[n->in[0]];
    if (x->shape.rank < 1 || x->shape.dims[x->shape.rank - 1] < 1) {
        char sx[200];
        return lmg_op_error(n, "x %s needs a non-empty last axis",
                            lmg_op_value_str(g, n->in[0], sx, sizeof sx));
    }
    s[0] = lmg_shape_make(x->shape.rank - 1, x->shape.dims);
    t[0] = LMG_DTYPE_I32;
    return LMG_OK;
}

/* The gradient of a sum spreads dy back over the reduced axes: reshape dy to the input's
 * rank (reduced axes as 1) and expand; a mean first scales dy by 1/count. */
static lmg_status grad_reduce(lmg_grad_ctx *c, int mean)
{
    lmg_graph *g = c->g;
    const lmg_node *n = &g->nodes[c->node];
    int x = n->in[0], dy = c->dy[0], mask[LMG_MAX_DIMS], keep;
    lmg_shape sx = g->values[x].shape, kept = sx;
    LMG_TRY(reduced_axes(n, &sx, g->values[x].name, mask, &keep));
    if (dy < 0 || !c->need[0]) return LMG_OK;
    int64_t count = 1;
    for (int i = 0; i < sx.rank; i++)
        if (mask[i]) {
            count *= sx.dims[i];
            kept.dims[i] = 1;
        }
    int d = dy;
    if (mean) d = lmg_scale(g, d, count ? 1.0 / (double)count : 0.0, 0.0);
    if (!lmg_shape_equal(&g->values[dy].shape, &kept)) d = lmg_reshape(g, d, kept.rank, kept.dims);
    c->dx[0] = lmg_shape_equal(&kept, &sx) ? d : lmg_expand(g, d, sx);
    return g->status;
}

lmg_status lmg_grad_REDUCE_SUM(lmg_grad_ctx *c) { return grad_reduce(c, 0); }
lmg_status lmg_grad_REDUCE_MEAN(lmg_grad_ctx *c) { return grad_reduce(c, 1); }

/* ---- ArgSort ----------------------------------------------------------------------- */

lmg_status lmg_infer_ARGSORT(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    LMG_TRY(lmg_op_check_attrs(n, ""));
    LMG_TRY(lmg_op_check_input(g, n, 0, F32));
    const lmg_value *x = &g->values[n->in[0]];
    if (x->shape.rank < 1) {
        char sx[200];
        return lmg_op_error(n, "x %s is a scalar; ArgSort orders the last axis",
                            lmg_op_value_str(g, n->in[0], sx, sizeof sx));
    }
    if (x->shape.dims[x->shape.rank - 1] > INT32_MAX)
        return lmg_op_error(n, "the last axis of '%s' is longer than an i32 index", x->name);
    s[0] = x->shape;
    t[0] = LMG_DTYPE_I32;
    return LMG_OK;
}
