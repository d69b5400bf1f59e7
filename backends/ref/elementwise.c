/* elementwise.c — reference kernels of the elementwise ops: broadcasting arithmetic (f32 and
 * wrapping i32), unary maths, ReLU/GELU and their backward helpers, Cast and Where. */
#include "iter.h"

#include <math.h>
#include <string.h>

/* ---- binary arithmetic ------------------------------------------------------------- */

/* One loop per op over the runs of the broadcast walk: u, v are the operands' elements. */
#define BINARY_RUNS(T, EXPR)                                                              \
    for (int64_t r_ = 0, i = 0; r_ < runs; r_++, iter_next(&it)) {                         \
        const T *pa = a + it.off[0], *pb = b + it.off[1];                                 \
        for (int64_t j = 0; j < len; j++, i++) {                                          \
            T u = pa[j * sa], v = pb[j * sb];                                             \
            out[i] = (EXPR);                                                              \
        }                                                                                 \
    }

static lmg_status binary(const lmg_node *n, const lmg_tensor *const *in, lmg_tensor *y)
{
    const lmg_shape *sh[2] = {&in[0]->shape, &in[1]->shape};
    iter it;
    int64_t len, rs[ITER_MAX];
    iter_init_bcast(&it, &y->shape, sh, 2);
    int64_t runs = iter_runs(&it, &len, rs), sa = rs[0], sb = rs[1];
    lmg_op op = n->op;
    if (y->dtype == LMG_DTYPE_I32) {
        /* Two's-complement wrap-around, computed unsigned so overflow is defined. */
        const uint32_t *a = in[0]->data, *b = in[1]->data;
        uint32_t *out = y->data;
        if (op == LMG_OP_ADD) BINARY_RUNS(uint32_t, u + v)
        else if (op == LMG_OP_SUB) BINARY_RUNS(uint32_t, u - v)
        else BINARY_RUNS(uint32_t, u * v)
        return LMG_OK;
    }
    const float *a = lmg_f32(in[0]), *b = lmg_f32(in[1]);
    float *out = lmg_f32(y);
    switch (op) {
    case LMG_OP_ADD: BINARY_RUNS(float, u + v) break;
    case LMG_OP_SUB: BINARY_RUNS(float, u - v) break;
    case LMG_OP_MUL: BINARY_RUNS(float, u * v) break;
    case LMG_OP_DIV: BINARY_RUNS(float, u / v) break;
    default: /* Maximum: NaN in either input propagates */
        BINARY_RUNS(float, isnan(u) || isnan(v) ? NAN : u >= v ? u : v)
        break;
    }
    return LMG_OK;
}

lmg_status lmg_ref_ADD(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                       lmg_tensor *const *out)
{
    return binary(n, in, out[0]);
}
lmg_status lmg_ref_SUB(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                       lmg_tensor *const *out)
{
    return binary(n, in, out[0]);
}
lmg_status lmg_ref_MUL(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                       lmg_tensor *const *out)
{
    return binary(n, in, out[0]);
}
lmg_status lmg_ref_DIV(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                       lmg_tensor *const *out)
{
    return binary(n, in, out[0]);
}
lmg_status lmg_ref_MAXIMUM(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                           lmg_tensor *const *out)
{
    return binary(n, in, out[0]);
}

/* ---- unary ------------------------------------------------------------------------- */

#define GELU_C 0.7978845608028654 /* sqrt(2/pi) */
#define GELU_K 0.044715

/* The tanh form of ops.def, evaluated in double and rounded once. */
static double gelu(double x)
{
    return 0.5 * x * (1.0 + tanh(GELU_C * (x + GELU_K * x * x * x)));
}

static double gelu_deriv(double x)
{
    double t = tanh(GELU_C * (x + GELU_K * x * x * x));
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_K * x * x);
}

static lmg_status unary(const lmg_node *n, const lmg_tensor *xt, lmg_tensor *yt)
{
    const float *x = lmg_f32(xt);
    float *y = lmg_f32(yt);
    int64_t numel = lmg_numel(yt);
    double alpha = 1.0, beta = 0.0;
    if (n->op == LMG_OP_SCALE) {
        alpha = lmg_node_attr_float(n, "alpha", 1.0);
        beta = lmg_node_attr_float(n, "beta", 0.0);
    }
    for (int64_t i = 0; i < numel; i++) {
        float v = x[i];
        switch (n->op) {
        case LMG_OP_NEG: y[i] = -v; break;
        case LMG_OP_SCALE: y[i] = (float)(alpha * (double)v + beta); break;
        case LMG_OP_EXP: y[i] = expf(v); break;
        case LMG_OP_LOG: y[i] = logf(v); break;
        case LMG_OP_SQRT: y[i] = sqrtf(v); break;
        case LMG_OP_RSQRT: y[i] = (float)(1.0 / sqrt((double)v)); break;
        case LMG_OP_TANH: y[i] = tanhf(v); break;
        case LMG_OP_RELU: y[i] = v > 0.0f || isnan(v) ? v : 0.0f; break;
        default: y[i] = (float)gelu((double)v); break;
        }
    }
    return LMG_OK;
}

lmg_status lmg_ref_NEG(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                       lmg_tensor *const *out)
{
    return unary(n, in[0], out[0]);
}
lmg_status lmg_ref_SCALE(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                         lmg_tensor *const *out)
{
    return unary(n, in[0], out[0]);
}
lmg_status lmg_ref_EXP(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                       lmg_tensor *const *out)
{
    return unary(n, in[0], out[0]);
}
lmg_status lmg_ref_LOG(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                       lmg_tensor *const *out)
{
    return unary(n, in[0], out[0]);
}
lmg_status lmg_ref_SQRT(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                        lmg_tensor *const *out)
{
    return unary(n, in[0], out[0]);
}
lmg_status lmg_ref_RSQRT(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                         lmg_tensor *const *out)
{
    return unary(n, in[0], out[0]);
}
lmg_status lmg_ref_TANH(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                        lmg_tensor *const *out)
{
    return unary(n, in[0], out[0]);
}
lmg_status lmg_ref_RELU(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                        lmg_tensor *const *out)
{
    return unary(n, in[0], out[0]);
}
lmg_status lmg_ref_GELU(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                        lmg_tensor *const *out)
{
    return unary(n, in[0], out[0]);
}

/* ---- backward helpers: (dy, x) -> dx ------------------------------------------------ */

lmg_status lmg_ref_RELU_GRAD(const lmg_ref_ctx *c, const lmg_node *n,
                             const lmg_tensor *const *in, lmg_tensor *const *out)
{
    const float *dy = lmg_f32(in[0]), *x = lmg_f32(in[1]);
    float *dx = lmg_f32(out[0]);
    int64_t numel = lmg_numel(out[0]);
    for (int64_t i = 0; i < numel; i++) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
    return LMG_OK;
}

lmg_status lmg_ref_GELU_GRAD(const lmg_ref_ctx *c, const lmg_node *n,
                             const lmg_tensor *const *in, lmg_tensor *const *out)
{
    const float *dy = lmg_f32(in[0]), *x = lmg_f32(in[1]);
    float *dx = lmg_f32(out[0]);
    int64_t numel = lmg_numel(out[0]);
    for (int64_t i = 0; i < numel; i++) dx[i] = (float)((double)dy[i] * gelu_deriv((double)x[i]));
    return LMG_OK;
}

/* ---- Cast and Where ---------------------------------------------------------------- */

/* f32 -> i32 truncates toward zero; NaN gives 0 and out-of-range values saturate, so the
 * result is defined for every input (C leaves those conversions undefined). */
static int32_t f32_to_i32(float v)
{
    if (isnan(v)) return 0;
    if (v >= 2147483648.0f) return INT32_MAX;
    if (v <= -2147483648.0f) return INT32_MIN;
    return (int32_t)v;
}

lmg_status lmg_ref_CAST(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                        lmg_tensor *const *out)
{
    const lmg_tensor *x = in[0];
    lmg_tensor *y = out[0];
    int64_t numel = lmg_numel(y);
    if (x->dtype == y->dtype) {
        memcpy(y->data, x->data, (size_t)numel * lmg_dtype_size(x->dtype));
    } else if (y->dtype == LMG_DTYPE_I32) {
        for (int64_t i = 0; i < numel; i++) lmg_i32(y)[i] = f32_to_i32(lmg_f32(x)[i]);
    } else {
        for (int64_t i = 0; i < numel; i++) lmg_f32(y)[i] = (float)lmg_i32(x)[i];
    }
    return LMG_OK;
}

lmg_status lmg_ref_WHERE(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                         lmg_tensor *const *out)
{
    const lmg_shape *sh[3] = {&in[0]->shape, &in[1]->shape, &in[2]->shape};
    iter it;
    int64_t len, rs[ITER_MAX];
    iter_init_bcast(&it, &out[0]->shape, sh, 3);
    int64_t runs = iter_runs(&it, &len, rs);
    int cond_f32 = in[0]->dtype == LMG_DTYPE_F32;
    /* a and b are f32 or i32: both 4-byte words, copied as such. */
    const uint32_t *a = in[1]->data, *b = in[2]->data;
    uint32_t *y = out[0]->data;
    for (int64_t r = 0, i = 0; r < runs; r++, iter_next(&it)) {
        const float *cf = lmg_f32(in[0]) + it.off[0];
        const int32_t *ci = lmg_i32(in[0]) + it.off[0];
        const uint32_t *pa = a + it.off[1], *pb = b + it.off[2];
        for (int64_t j = 0; j < len; j++, i++) {
            int take_a = cond_f32 ? cf[j * rs[0]] != 0.0f : ci[j * rs[0]] != 0;
            y[i] = take_a ? pa[j * rs[1]] : pb[j * rs[2]];
        }
    }
    return LMG_OK;
}
