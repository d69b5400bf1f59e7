/* nn.c — rules of the last-axis normalisations and masks: Softmax, LogSoftmax and their
 * gradient ops, LayerNorm (+ grad), CausalMask and PaddingMask: checks, shapes, gradients. */
#include "attr_check.h"
#include "ops.h"

/* ---- Softmax, LogSoftmax ----------------------------------------------------------- */

static lmg_status infer_lastaxis(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                 lmg_shape *s)
{
    LMG_TRY(lmg_op_check_attrs(n, ""));
    LMG_TRY(want_dtype(g, n, 0, LMG_DTYPE_F32, "x"));
    LMG_TRY(want_rank_min(g, n, 0, 1, "x"));
    t[0] = LMG_DTYPE_F32;
    s[0] = in_val(g, n, 0)->shape;
    return LMG_OK;
}

lmg_status lmg_infer_SOFTMAX(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    return infer_lastaxis(g, n, t, s);
}

lmg_status lmg_infer_LOG_SOFTMAX(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                 lmg_shape *s)
{
    return infer_lastaxis(g, n, t, s);
}

/* (dy, y) of one shape. */
static lmg_status infer_dy_y(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    LMG_TRY(lmg_op_check_attrs(n, ""));
    LMG_TRY(want_dtype(g, n, 0, LMG_DTYPE_F32, "dy"));
    LMG_TRY(want_dtype(g, n, 1, LMG_DTYPE_F32, "y"));
    LMG_TRY(want_rank_min(g, n, 1, 1, "y"));
    LMG_TRY(want_shape(g, n, 0, &in_val(g, n, 1)->shape, "dy"));
    t[0] = LMG_DTYPE_F32;
    s[0] = in_val(g, n, 1)->shape;
    return LMG_OK;
}

lmg_status lmg_infer_SOFTMAX_GRAD(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                  lmg_shape *s)
{
    return infer_dy_y(g, n, t, s);
}

lmg_status lmg_infer_LOG_SOFTMAX_GRAD(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                      lmg_shape *s)
{
    return infer_dy_y(g, n, t, s);
}

/* Both backward ops read the forward output y, not x: the forward node's output 0. */
static lmg_status grad_via_y(lmg_grad_ctx *c, lmg_op op)
{
    lmg_graph *g = c->g;
    if (!c->need[0] || c->dy[0] < 0) return LMG_OK;
    int ins[2] = {c->dy[0], g->nodes[c->node].out[0]};
    int dx = lmg_graph_node(g, op, NULL, ins, 2, NULL, 0, NULL, NULL);
    if (dx < 0) return g->status;
    c->dx[0] = dx;
    return LMG_OK;
}

lmg_status lmg_grad_SOFTMAX(lmg_grad_ctx *c) { return grad_via_y(c, LMG_OP_SOFTMAX_GRAD); }
lmg_status lmg_grad_LOG_SOFTMAX(lmg_grad_ctx *c) { return grad_via_y(c, LMG_OP_LOG_SOFTMAX_GRAD); }

/* ---- LayerNorm --------------------------------------------------------------------- */

static lmg_shape drop_last(lmg_shape s)
{
    s.dims[--s.rank] = 0;
    return s;
}

/* x[...,C] with C >= 1 and gamma, beta of shape [C] at inputs kg, kb. */
static lmg_status check_ln_params(const lmg_graph *g, const lmg_node *n, int kx, int kg)
{
    LMG_TRY(want_dtype(g, n, kx, LMG_DTYPE_F32, "x"));
    LMG_TRY(want_rank_min(g, n, kx, 1, "x"));
    const lmg_shape *xs = &in_val(g, n, kx)->shape;
    int64_t C = xs->dims[xs->rank - 1];
    if (C < 1) {
        char b[128];
        return lmg_op_error(n, "input '%s' (x) has shape %s: the normalised axis is empty",
                            in_val(g, n, kx)->name, lmg_shape_str(xs, b, sizeof b));
    }
    lmg_shape cs = lmg_shape_make(1, &C);
    LMG_TRY(want_dtype(g, n, kg, LMG_DTYPE_F32, "gamma"));
    LMG_TRY(want_shape(g, n, kg, &cs, "gamma"));
    return LMG_OK;
}

lmg_status lmg_infer_LAYER_NORM(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                lmg_shape *s)
{
    double eps;
    LMG_TRY(lmg_op_check_attrs(n, "eps:f"));
    LMG_TRY(attr_get_float(n, "eps", 0, 1e-5, &eps));
    if (!(eps >= 0.0) || isinf(eps))
        return lmg_op_error(n, "eps = %g must be finite and >= 0", eps);
    LMG_TRY(check_ln_params(g, n, 0, 1));
    const lmg_shape *xs = &in_val(g, n, 0)->shape;
    int64_t C = xs->dims[xs->rank - 1];
    lmg_shape cs = lmg_shape_make(1, &C);
    LMG_TRY(want_dtype(g, n, 2, LMG_DTYPE_F32, "beta"));
    LMG_TRY(want_shape(g, n, 2, &cs, "beta"));
    t[0] = t[1] = t[2] = LMG_DTYPE_F32;
    s[0] = *xs;
    s[1] = s[2] = drop_last(*xs);
    return LMG_OK;
}

lmg_status lmg_infer_LAYER_NORM_GRAD(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                     lmg_shape *s)
{
    LMG_TRY(lmg_op_check_attrs(n, ""));
    LMG_TRY(check_ln_params(g, n, 1, 2));
    const lmg_shape *xs = &in_val(g, n, 1)->shape;
    lmg_shape rows = drop_last(*xs);
    LMG_TRY(want_dtype(g, n, 0, LMG_DTYPE_F32, "dy"));
    LMG_TRY(want_shape(g, n, 0, xs, "dy"));
    LMG_TRY(want_dtype(g, n, 3, LMG_DTYPE_F32, "mean"));
    LMG_TRY(want_shape(g, n, 3, &rows, "mean"));
    LMG_TRY(want_dtype(g, n, 4, LMG_DTYPE_F32, "rstd"));
    LMG_TRY(want_shape(g, n, 4, &rows, "rstd"));
    t[0] = t[1] = t[2] = LMG_DTYPE_F32;
    s[0] = *xs;
    s[1] = s[2] = in_val(g, n, 2)->shape;
    return LMG_OK;
}

/* LayerNorm's backward is one LayerNormGrad node for y's gradient. mean and rstd are saved
 * activations that normally only feed LayerNormGrad, but when a graph uses them their
 * gradients reach x too: d mean / dx = 1/C, d rstd / dx_j = -rstd^3 (x_j - mean) / C. */
lmg_status lmg_grad_LAYER_NORM(lmg_grad_ctx *c)
{
    lmg_graph *g = c->g;
    const lmg_node *n = &g->nodes[c->node];
    int x = n->in[0], gamma = n->in[1], mean = n->out[1], rstd = n->out[2];
    int dy = c->dy[0], dmean = c->dy[1], drstd = c->dy[2];
    lmg_shape xs = g->values[x].shape;
    int64_t C = xs.dims[xs.rank - 1];
    int dx = -1;
    if (dy >= 0 && (c->need[0] || c->need[1] || c->need[2])) {
        int ins[5] = {dy, x, gamma, mean, rstd};
        int outs[3];
        if (lmg_graph_node(g, LMG_OP_LAYER_NORM_GRAD, NULL, ins, 5, NULL, 0, NULL, outs) < 0)
            return g->status;
        dx = outs[0];
        if (c->need[1]) c->dx[1] = outs[1];
        if (c->need[2]) c->dx[2] = outs[2];
    }
    if (c->need[0] && (dmean >= 0 || drstd >= 0)) {
        lmg_shape s1 = xs; /* [..., 1]: row statistics broadcast over the normalised axis */
        s1.dims[s1.rank - 1] = 1;
        int extra = -1;
        if (dmean >= 0)
            extra = lmg_scale(g, lmg_reshape(g, dmean, s1.rank, s1.dims), 1.0 / (double)C, 0.0);
        if (drstd >= 0) {
            int r = lmg_reshape(g, rstd, s1.rank, s1.dims);
            int xc = lmg_sub(g, x, lmg_reshape(g, mean, s1.rank, s1.dims));
            int r3 = lmg_mul(g, r, lmg_mul(g, r, r));
            int coef = lmg_scale(g, lmg_mul(g, lmg_reshape(g, drstd, s1.rank, s1.dims), r3),
                                 -1.0 / (double)C, 0.0);
            int e = lmg_mul(g, xc, coef);
            extra = extra < 0 ? e : lmg_add(g, e, extra);
        }
        if (extra >= 0 && !lmg_shape_equal(&g->values[extra].shape, &xs))
            extra = lmg_expand(g, extra, xs);
        dx = dx < 0 ? extra : lmg_add(g, dx, extra);
        if (g->status != LMG_OK) return g->status;
    }
    if (c->need[0]) c->dx[0] = dx;
    return LMG_OK;
}

/* ---- masks ------------------------------------------------------------------------- */

lmg_status lmg_infer_CAUSAL_MASK(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                 lmg_shape *s)
{
    double fill;
    LMG_TRY(lmg_op_check_attrs(n, "fill:f"));
    LMG_TRY(attr_get_float(n, "fill", 0, -INFINITY, &fill));
    LMG_TRY(want_dtype(g, n, 0, LMG_DTYPE_F32, "x"));
    LMG_TRY(want_rank_min(g, n, 0, 2, "x"));
    t[0] = LMG_DTYPE_F32;
    s[0] = in_val(g, n, 0)->shape;
    return LMG_OK;
}

/* The mask is a fixed selection: masked positions get no gradient. */
lmg_status lmg_grad_CAUSAL_MASK(lmg_grad_ctx *c)
{
    lmg_graph *g = c->g;
    if (!c->need[0] || c->dy[0] < 0) return LMG_OK;
    int dy = c->dy[0];
    lmg_attr a = lmg_attr_float("fill", 0.0);
    int dx = lmg_graph_node(g, LMG_OP_CAUSAL_MASK, NULL, &dy, 1, &a, 1, NULL, NULL);
    if (dx < 0) return g->status;
    c->dx[0] = dx;
    return LMG_OK;
}

lmg_status lmg_infer_PADDING_MASK(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                  lmg_shape *s)
{
    int64_t pad;
    LMG_TRY(lmg_op_check_attrs(n, "pad_id:i"));
    LMG_TRY(attr_get_int(n, "pad_id", 1, 0, &pad));
    if (pad < INT32_MIN || pad > INT32_MAX)
        return lmg_op_error(n, "pad_id %lld is not an i32", (long long)pad);
    LMG_TRY(want_dtype(g, n, 0, LMG_DTYPE_I32, "ids"));
    t[0] = LMG_DTYPE_F32;
    s[0] = in_val(g, n, 0)->shape;
    return LMG_OK;
}
