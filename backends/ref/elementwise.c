/* elementwise.c — reference kernels of the elementwise ops: the loops of every expression of
 * ops/elementwise.def (arithmetic, maths, activations and their backward helpers), Cast, Where. */
#include "iter.h"
#include "../../ops/ops.h"

#include <string.h>
#include <tgmath.h>

/* ---- the ops of ops/elementwise.def -------------------------------------------------- */

/* ops.def's arity and properties as constants, so each line of elementwise.def is checked
 * against its op at compile time. */
#define LMG_OP(E, N, mi, ma, no, gr) enum { ew_in_##E = (mi) * 100 + (ma), ew_flags_##E = (gr) };
#include "../../ops/ops.def"
#undef LMG_OP

#define EW_CHECK(E, n_in)                                                                    \
    _Static_assert(ew_in_##E == (n_in) * 100 + (n_in) && (ew_flags_##E & LMG_ELEMENTWISE),  \
                   "ops/elementwise.def: " #E " needs " #n_in " input(s) and LMG_ELEMENTWISE "  \
                   "in ops/ops.def");

/* The reference evaluates what an expression puts in WIDE() in double (see the table). */
#define WIDE(v) ((double)(v))

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

/* A unary op reads the attributes alpha and beta (unused by most expressions) once per node;
 * y may be x itself (in place): element i is read before it is written. */
#define LMG_EW_UNARY(E, ONNX, ...)                                                           \
    EW_CHECK(E, 1)                                                                           \
    lmg_status lmg_ref_##E(const lmg_ref_ctx *c, const lmg_node *n,                          \
                           const lmg_tensor *const *in, lmg_tensor *const *out)              \
    {                                                                                        \
        const float *px = lmg_f32(in[0]);                                                    \
        float *y = lmg_f32(out[0]);                                                          \
        int64_t numel = lmg_numel(out[0]);                                                   \
        double alpha = lmg_node_attr_float(n, "alpha", 1.0);                                 \
        double beta = lmg_node_attr_float(n, "beta", 0.0);                                   \
        (void)alpha, (void)beta;                                                             \
        for (int64_t i = 0; i < numel; i++) {                                                \
            float x = px[i];                                                                 \
            y[i] = (float)(__VA_ARGS__);                                                     \
        }                                                                                    \
        return LMG_OK;                                                                       \
    }

/* One loop per op over the runs of the broadcast walk: a, b are the operands' elements. */
#define EW_BINARY_RUNS(T, ...)                                                               \
    {                                                                                        \
        const T *a0 = in[0]->data, *b0 = in[1]->data;                                        \
        T *y = out[0]->data;                                                                 \
        for (int64_t r_ = 0, i = 0; r_ < runs; r_++, iter_next(&it)) {                       \
            const T *pa = a0 + it.off[0], *pb = b0 + it.off[1];                              \
            for (int64_t j = 0; j < len; j++, i++) {                                         \
                T a = pa[j * rs[0]], b = pb[j * rs[1]];                                      \
                y[i] = (T)(__VA_ARGS__);                                                     \
            }                                                                                \
        }                                                                                    \
    }

#define EW_BINARY(E, INT_FORM, ...)                                                          \
    EW_CHECK(E, 2)                                                                           \
    lmg_status lmg_ref_##E(const lmg_ref_ctx *c, const lmg_node *n,                          \
                           const lmg_tensor *const *in, lmg_tensor *const *out)              \
    {                                                                                        \
        const lmg_shape *sh[2] = {&in[0]->shape, &in[1]->shape};                             \
        iter it;                                                                             \
        int64_t len, rs[ITER_MAX];                                                           \
        iter_init_bcast(&it, &out[0]->shape, sh, 2);                                         \
        int64_t runs = iter_runs(&it, &len, rs);                                             \
        INT_FORM                                                                             \
        EW_BINARY_RUNS(float, __VA_ARGS__)                                                   \
        return LMG_OK;                                                                       \
    }

#define LMG_EW_BINARY(E, ONNX, ...) EW_BINARY(E, , __VA_ARGS__)
/* Two's-complement wrap-around, computed unsigned so overflow is defined. */
#define LMG_EW_BINARY_I32(E, ONNX, ...)                                                      \
    EW_BINARY(E, if (out[0]->dtype == LMG_DTYPE_I32) {                                       \
        EW_BINARY_RUNS(uint32_t, __VA_ARGS__)                                                \
        return LMG_OK;                                                                       \
    }, __VA_ARGS__)

#include "../../ops/elementwise.def"

#undef LMG_EW_UNARY
#undef LMG_EW_BINARY
#undef LMG_EW_BINARY_I32

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
