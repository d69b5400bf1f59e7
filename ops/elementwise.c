/* elementwise.c — rules of the elementwise ops: broadcasting arithmetic, unary maths and
 * activations with their backward helpers, Cast and Where (checks, shapes, gradients). */
#include "attr_check.h"
#include "ops.h"

#define F32 LMG_DTYPE_BIT(LMG_DTYPE_F32)
#define I32 LMG_DTYPE_BIT(LMG_DTYPE_I32)

/* ---- inference --------------------------------------------------------------------- */

/* Two inputs of one dtype (from `dtypes`), numpy-broadcast to one output shape. */
static lmg_status infer_binary(const lmg_graph *g, const lmg_node *n, unsigned dtypes,
                               lmg_dtype *t, lmg_shape *s)
{
    LMG_TRY(lmg_op_check_attrs(n, ""));
    LMG_TRY(lmg_op_check_input(g, n, 0, dtypes));
    LMG_TRY(lmg_op_check_input(g, n, 1, dtypes));
    const lmg_value *a = in_val(g, n, 0), *b = in_val(g, n, 1);
    if (a->dtype != b->dtype)
        return lmg_op_error(n, "dtypes differ: a '%s' is %s, b '%s' is %s", a->name,
                            lmg_dtype_name(a->dtype), b->name, lmg_dtype_name(b->dtype));
    if (lmg_broadcast_shapes(&a->shape, &b->shape, &s[0]) != LMG_OK) {
        char sa[200], sb[200];
        return lmg_op_error(n, "shapes do not broadcast: a %s vs b %s",
                            lmg_op_value_str(g, n->in[0], sa, sizeof sa),
                            lmg_op_value_str(g, n->in[1], sb, sizeof sb));
    }
    t[0] = a->dtype;
    return LMG_OK;
}

static lmg_status infer_unary(const lmg_graph *g, const lmg_node *n, const char *attrs,
                              lmg_dtype *t, lmg_shape *s)
{
    LMG_TRY(lmg_op_check_attrs(n, attrs));
    LMG_TRY(lmg_op_check_input(g, n, 0, F32));
    t[0] = LMG_DTYPE_F32;
    s[0] = in_val(g, n, 0)->shape;
    return LMG_OK;
}

/* (dy, x) -> dx: both f32 of one shape. */
static lmg_status infer_backward(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                 lmg_shape *s)
{
    LMG_TRY(lmg_op_check_attrs(n, ""));
    LMG_TRY(lmg_op_check_input(g, n, 0, F32));
    LMG_TRY(lmg_op_check_input(g, n, 1, F32));
    const lmg_value *dy = in_val(g, n, 0), *x = in_val(g, n, 1);
    if (!lmg_shape_equal(&dy->shape, &x->shape)) {
        char sa[200], sb[200];
        return lmg_op_error(n, "dy and x shapes differ: dy %s vs x %s",
                            lmg_op_value_str(g, n->in[0], sa, sizeof sa),
                            lmg_op_value_str(g, n->in[1], sb, sizeof sb));
    }
    t[0] = LMG_DTYPE_F32;
    s[0] = x->shape;
    return LMG_OK;
}

lmg_status lmg_infer_ADD(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    return infer_binary(g, n, F32 | I32, t, s);
}
lmg_status lmg_infer_SUB(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    return infer_binary(g, n, F32 | I32, t, s);
}
lmg_status lmg_infer_MUL(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    return infer_binary(g, n, F32 | I32, t, s);
}
lmg_status lmg_infer_DIV(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    return infer_binary(g, n, F32, t, s);
}
lmg_status lmg_infer_MAXIMUM(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    return infer_binary(g, n, F32, t, s);
}

lmg_status lmg_infer_NEG(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    return infer_unary(g, n, "", t, s);
}
lmg_status lmg_infer_SCALE(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    return infer_unary(g, n, "alpha:f beta:f", t, s);
}
lmg_status lmg_infer_EXP(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    return infer_unary(g, n, "", t, s);
}
lmg_status lmg_infer_LOG(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    return infer_unary(g, n, "", t, s);
}
lmg_status lmg_infer_SQRT(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    return infer_unary(g, n, "", t, s);
}
lmg_status lmg_infer_RSQRT(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    return infer_unary(g, n, "", t, s);
}
lmg_status lmg_infer_TANH(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    return infer_unary(g, n, "", t, s);
}
lmg_status lmg_infer_RELU(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    return infer_unary(g, n, "", t, s);
}
lmg_status lmg_infer_GELU(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    return infer_unary(g, n, "", t, s);
}
lmg_status lmg_infer_SIGMOID(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    return infer_unary(g, n, "", t, s);
}
lmg_status lmg_infer_RELU_GRAD(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                               lmg_shape *s)
{
    return infer_backward(g, n, t, s);
}
lmg_status lmg_infer_GELU_GRAD(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                               lmg_shape *s)
{
    return infer_backward(g, n, t, s);
}

lmg_status lmg_infer_CAST(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    LMG_TRY(lmg_op_check_attrs(n, "to:i"));
    LMG_TRY(lmg_op_check_input(g, n, 0, F32 | I32));
    const lmg_attr *to = lmg_node_attr(n, "to");
    if (!to) return lmg_op_error(n, "attribute 'to' (the target dtype) is required");
    if (to->i != LMG_DTYPE_F32 && to->i != LMG_DTYPE_I32)
        return lmg_op_error(n, "attribute 'to' is %lld, expected %d (f32) or %d (i32)",
                            (long long)to->i, LMG_DTYPE_F32, LMG_DTYPE_I32);
    t[0] = (lmg_dtype)to->i;
    s[0] = in_val(g, n, 0)->shape;
    return LMG_OK;
}

lmg_status lmg_infer_WHERE(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    LMG_TRY(lmg_op_check_attrs(n, ""));
    LMG_TRY(lmg_op_check_input(g, n, 0, F32 | I32));
    LMG_TRY(lmg_op_check_input(g, n, 1, F32 | I32));
    LMG_TRY(lmg_op_check_input(g, n, 2, F32 | I32));
    const lmg_value *c = in_val(g, n, 0), *a = in_val(g, n, 1), *b = in_val(g, n, 2);
    if (a->dtype != b->dtype)
        return lmg_op_error(n, "dtypes differ: a '%s' is %s, b '%s' is %s", a->name,
                            lmg_dtype_name(a->dtype), b->name, lmg_dtype_name(b->dtype));
    lmg_shape ab;
    char s0[200], s1[200], s2[200];
    if (lmg_broadcast_shapes(&a->shape, &b->shape, &ab) != LMG_OK ||
        lmg_broadcast_shapes(&c->shape, &ab, &s[0]) != LMG_OK)
        return lmg_op_error(n, "shapes do not broadcast: cond %s, a %s, b %s",
                            lmg_op_value_str(g, n->in[0], s0, sizeof s0),
                            lmg_op_value_str(g, n->in[1], s1, sizeof s1),
                            lmg_op_value_str(g, n->in[2], s2, sizeof s2));
    t[0] = a->dtype;
    return LMG_OK;
}

/* ---- gradients --------------------------------------------------------------------- */

/* What a rule needs from the forward node, copied before any builder call can move it. */
typedef struct fwd {
    int in[3];
    lmg_shape shape[3];
    lmg_dtype dtype[3];
    int y;
} fwd;

static fwd fwd_get(const lmg_grad_ctx *c)
{
    const lmg_graph *g = c->g;
    const lmg_node *n = &g->nodes[c->node];
    fwd f = {{-1, -1, -1}, {{0}}, {0}, n->out[0]};
    for (int k = 0; k < n->n_in && k < 3; k++) {
        f.in[k] = n->in[k];
        f.shape[k] = g->values[n->in[k]].shape;
        f.dtype[k] = g->values[n->in[k]].dtype;
    }
    return f;
}

/* Gradient of input k wanted and meaningful (only f32 values carry gradients). */
static int want(const lmg_grad_ctx *c, const fwd *f, int k)
{
    return c->need[k] && f->dtype[k] == LMG_DTYPE_F32;
}

static lmg_status done(lmg_grad_ctx *c)
{
    if (c->g->status != LMG_OK) return c->g->status;
    return LMG_OK;
}

lmg_status lmg_grad_ADD(lmg_grad_ctx *c)
{
    fwd f = fwd_get(c);
    int dy = c->dy[0];
    if (dy < 0) return LMG_OK;
    for (int k = 0; k < 2; k++)
        if (want(c, &f, k)) c->dx[k] = lmg_sum_to(c->g, dy, f.shape[k]);
    return done(c);
}

lmg_status lmg_grad_SUB(lmg_grad_ctx *c)
{
    fwd f = fwd_get(c);
    int dy = c->dy[0];
    if (dy < 0) return LMG_OK;
    if (want(c, &f, 0)) c->dx[0] = lmg_sum_to(c->g, dy, f.shape[0]);
    /* Negate after summing: the summed tensor is never larger. */
    if (want(c, &f, 1)) c->dx[1] = lmg_neg(c->g, lmg_sum_to(c->g, dy, f.shape[1]));
    return done(c);
}

lmg_status lmg_grad_MUL(lmg_grad_ctx *c)
{
    fwd f = fwd_get(c);
    int dy = c->dy[0];
    lmg_graph *g = c->g;
    if (dy < 0) return LMG_OK;
    if (want(c, &f, 0)) c->dx[0] = lmg_sum_to(g, lmg_mul(g, dy, f.in[1]), f.shape[0]);
    if (want(c, &f, 1)) c->dx[1] = lmg_sum_to(g, lmg_mul(g, dy, f.in[0]), f.shape[1]);
    return done(c);
}

lmg_status lmg_grad_DIV(lmg_grad_ctx *c)
{
    fwd f = fwd_get(c);
    int dy = c->dy[0];
    lmg_graph *g = c->g;
    if (dy < 0) return LMG_OK;
    if (want(c, &f, 0)) c->dx[0] = lmg_sum_to(g, lmg_div(g, dy, f.in[1]), f.shape[0]);
    if (want(c, &f, 1)) {
        /* d(a/b)/db = -(a/b)/b = -y/b, reusing the forward output. */
        int t = lmg_div(g, lmg_mul(g, dy, f.y), f.in[1]);
        c->dx[1] = lmg_neg(g, lmg_sum_to(g, t, f.shape[1]));
    }
    return done(c);
}

lmg_status lmg_grad_MAXIMUM(lmg_grad_ctx *c)
{
    fwd f = fwd_get(c);
    int dy = c->dy[0];
    lmg_graph *g = c->g;
    if (dy < 0) return LMG_OK;
    /* b gets dy where b > a strictly (b - a > 0 exactly then, with IEEE subnormals); a gets
     * the rest, so ties go to a. */
    int gb = lmg_graph_node(g, LMG_OP_RELU_GRAD, NULL,
                            (int[]){dy, lmg_sub(g, f.in[1], f.in[0])}, 2, NULL, 0, NULL, NULL);
    if (want(c, &f, 0)) c->dx[0] = lmg_sum_to(g, lmg_sub(g, dy, gb), f.shape[0]);
    if (want(c, &f, 1)) c->dx[1] = lmg_sum_to(g, gb, f.shape[1]);
    return done(c);
}

lmg_status lmg_grad_NEG(lmg_grad_ctx *c)
{
    if (c->dy[0] < 0 || !c->need[0]) return LMG_OK;
    c->dx[0] = lmg_neg(c->g, c->dy[0]);
    return done(c);
}

lmg_status lmg_grad_SCALE(lmg_grad_ctx *c)
{
    double alpha = lmg_node_attr_float(&c->g->nodes[c->node], "alpha", 1.0);
    if (c->dy[0] < 0 || !c->need[0]) return LMG_OK;
    c->dx[0] = lmg_scale(c->g, c->dy[0], alpha, 0.0);
    return done(c);
}

lmg_status lmg_grad_EXP(lmg_grad_ctx *c)
{
    fwd f = fwd_get(c);
    if (c->dy[0] < 0 || !c->need[0]) return LMG_OK;
    c->dx[0] = lmg_mul(c->g, c->dy[0], f.y);
    return done(c);
}

lmg_status lmg_grad_LOG(lmg_grad_ctx *c)
{
    fwd f = fwd_get(c);
    if (c->dy[0] < 0 || !c->need[0]) return LMG_OK;
    c->dx[0] = lmg_div(c->g, c->dy[0], f.in[0]);
    return done(c);
}

lmg_status lmg_grad_SQRT(lmg_grad_ctx *c)
{
    fwd f = fwd_get(c);
    if (c->dy[0] < 0 || !c->need[0]) return LMG_OK;
    /* d sqrt(x) = 0.5 / sqrt(x) = 0.5 / y */
    c->dx[0] = lmg_scale(c->g, lmg_div(c->g, c->dy[0], f.y), 0.5, 0.0);
    return done(c);
}

lmg_status lmg_grad_RSQRT(lmg_grad_ctx *c)
{
    fwd f = fwd_get(c);
    lmg_graph *g = c->g;
    if (c->dy[0] < 0 || !c->need[0]) return LMG_OK;
    /* d x^-1/2 = -0.5 x^-3/2 = -0.5 y / x */
    c->dx[0] = lmg_scale(g, lmg_div(g, lmg_mul(g, c->dy[0], f.y), f.in[0]), -0.5, 0.0);
    return done(c);
}

lmg_status lmg_grad_TANH(lmg_grad_ctx *c)
{
    fwd f = fwd_get(c);
    lmg_graph *g = c->g;
    if (c->dy[0] < 0 || !c->need[0]) return LMG_OK;
    int one_minus_y2 = lmg_scale(g, lmg_mul(g, f.y, f.y), -1.0, 1.0);
    c->dx[0] = lmg_mul(g, c->dy[0], one_minus_y2);
    return done(c);
}

lmg_status lmg_grad_SIGMOID(lmg_grad_ctx *c)
{
    fwd f = fwd_get(c);
    lmg_graph *g = c->g;
    if (c->dy[0] < 0 || !c->need[0]) return LMG_OK;
    /* d sigmoid(x) = y (1 - y), from the forward output */
    c->dx[0] = lmg_mul(g, c->dy[0], lmg_mul(g, f.y, lmg_scale(g, f.y, -1.0, 1.0)));
    return done(c);
}

static lmg_status grad_via(lmg_grad_ctx *c, lmg_op op)
{
    fwd f = fwd_get(c);
    if (c->dy[0] < 0 || !c->need[0]) return LMG_OK;
    c->dx[0] = lmg_graph_node(c->g, op, NULL, (int[]){c->dy[0], f.in[0]}, 2, NULL, 0, NULL, NULL);
    return done(c);
}

lmg_status lmg_grad_RELU(lmg_grad_ctx *c) { return grad_via(c, LMG_OP_RELU_GRAD); }
lmg_status lmg_grad_GELU(lmg_grad_ctx *c) { return grad_via(c, LMG_OP_GELU_GRAD); }

lmg_status lmg_grad_CAST(lmg_grad_ctx *c)
{
    fwd f = fwd_get(c);
    lmg_dtype to = c->g->values[f.y].dtype;
    /* Only an f32 -> f32 cast carries a gradient: integers have none. */
    if (c->dy[0] < 0 || !want(c, &f, 0) || to != LMG_DTYPE_F32) return LMG_OK;
    c->dx[0] = c->dy[0];
    return LMG_OK;
}

lmg_status lmg_grad_WHERE(lmg_grad_ctx *c)
{
    fwd f = fwd_get(c);
    int dy = c->dy[0];
    lmg_graph *g = c->g;
    if (dy < 0) return LMG_OK;
    if (want(c, &f, 1)) {
        int zero = lmg_graph_scalar(g, 0.0f);
        int w = lmg_graph_node(g, LMG_OP_WHERE, NULL, (int[]){f.in[0], dy, zero}, 3, NULL, 0,
                               NULL, NULL);
        c->dx[1] = lmg_sum_to(g, w, f.shape[1]);
    }
    if (want(c, &f, 2)) {
        int zero = lmg_graph_scalar(g, 0.0f);
        int w = lmg_graph_node(g, LMG_OP_WHERE, NULL, (int[]){f.in[0], zero, dy}, 3, NULL, 0,
                               NULL, NULL);
        c->dx[2] = lmg_sum_to(g, w, f.shape[2]);
    }
    return done(c);
}
