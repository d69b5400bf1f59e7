/* elementwise.c — the OpenCL recorders of the elementwise ops: broadcasting arithmetic,
 * unary maths, ReLU/GELU backward helpers, Cast and Where (kernels/elementwise.cl). */
#include "opencl_internal.h"

/* Op codes of kernels/elementwise.cl. */
enum { EW_ADD, EW_SUB, EW_MUL, EW_DIV, EW_MAX, EW_RELU_GRAD, EW_GELU_GRAD };
enum { EW_NEG, EW_SCALE, EW_EXP, EW_LOG, EW_SQRT, EW_RSQRT, EW_TANH, EW_RELU, EW_GELU };

static lmg_status binary(lmg_exec *e, const lmg_node *n, int code)
{
    int y = n->out[0], a = n->in[0], b = n->in[1];
    const lmg_shape *sy = &lmg_cl_value(e, y)->shape;
    int64_t st[3][LMG_MAX_DIMS];
    lmg_cl_bcast_strides(&lmg_cl_value(e, a)->shape, sy, st[0]);
    lmg_cl_bcast_strides(&lmg_cl_value(e, b)->shape, sy, st[1]);
    lmg_cl_desc d;
    lmg_cl_desc_make(&d, sy, 2, st);
    int64_t N = lmg_cl_numel(e, y);
    const char *k = lmg_cl_value(e, y)->dtype == LMG_DTYPE_I32 ? "binary_i32" : "binary_f32";
    return lmg_cl_kernel(e, k, (size_t)N, 0, "bbbiid", lmg_cl_at(e, y), lmg_cl_at(e, a),
                         lmg_cl_at(e, b), code, (int)N, &d);
}

lmg_status lmg_cl_op_ADD(lmg_exec *e, const lmg_node *n) { return binary(e, n, EW_ADD); }
lmg_status lmg_cl_op_SUB(lmg_exec *e, const lmg_node *n) { return binary(e, n, EW_SUB); }
lmg_status lmg_cl_op_MUL(lmg_exec *e, const lmg_node *n) { return binary(e, n, EW_MUL); }
lmg_status lmg_cl_op_DIV(lmg_exec *e, const lmg_node *n) { return binary(e, n, EW_DIV); }
lmg_status lmg_cl_op_MAXIMUM(lmg_exec *e, const lmg_node *n) { return binary(e, n, EW_MAX); }
lmg_status lmg_cl_op_RELU_GRAD(lmg_exec *e, const lmg_node *n) { return binary(e, n, EW_RELU_GRAD); }
lmg_status lmg_cl_op_GELU_GRAD(lmg_exec *e, const lmg_node *n) { return binary(e, n, EW_GELU_GRAD); }

static lmg_status unary(lmg_exec *e, const lmg_node *n, int code)
{
    double alpha = 1.0, beta = 0.0;
    if (code == EW_SCALE) {
        alpha = lmg_node_attr_float(n, "alpha", 1.0);
        beta = lmg_node_attr_float(n, "beta", 0.0);
    }
    int64_t N = lmg_cl_numel(e, n->out[0]);
    return lmg_cl_kernel(e, "unary_f32", (size_t)N, 0, "bbiffi", lmg_cl_at(e, n->out[0]),
                         lmg_cl_at(e, n->in[0]), code, alpha, beta, (int)N);
}

lmg_status lmg_cl_op_NEG(lmg_exec *e, const lmg_node *n) { return unary(e, n, EW_NEG); }
lmg_status lmg_cl_op_SCALE(lmg_exec *e, const lmg_node *n) { return unary(e, n, EW_SCALE); }
lmg_status lmg_cl_op_EXP(lmg_exec *e, const lmg_node *n) { return unary(e, n, EW_EXP); }
lmg_status lmg_cl_op_LOG(lmg_exec *e, const lmg_node *n) { return unary(e, n, EW_LOG); }
lmg_status lmg_cl_op_SQRT(lmg_exec *e, const lmg_node *n) { return unary(e, n, EW_SQRT); }
lmg_status lmg_cl_op_RSQRT(lmg_exec *e, const lmg_node *n) { return unary(e, n, EW_RSQRT); }
lmg_status lmg_cl_op_TANH(lmg_exec *e, const lmg_node *n) { return unary(e, n, EW_TANH); }
lmg_status lmg_cl_op_RELU(lmg_exec *e, const lmg_node *n) { return unary(e, n, EW_RELU); }
lmg_status lmg_cl_op_GELU(lmg_exec *e, const lmg_node *n) { return unary(e, n, EW_GELU); }

lmg_status lmg_cl_op_CAST(lmg_exec *e, const lmg_node *n)
{
    int x = n->in[0], y = n->out[0];
    int64_t N = lmg_cl_numel(e, y);
    lmg_dtype from = lmg_cl_value(e, x)->dtype, to = lmg_cl_value(e, y)->dtype;
    const char *k = from == to ? "copy_flat" : to == LMG_DTYPE_I32 ? "cast_f32_i32" : "cast_i32_f32";
    if (from == to && lmg_cl_at(e, x).region == lmg_cl_at(e, y).region &&
        lmg_cl_at(e, x).off == lmg_cl_at(e, y).off)
        return LMG_OK;
    return lmg_cl_kernel(e, k, (size_t)N, 0, "bbi", lmg_cl_at(e, y), lmg_cl_at(e, x), (int)N);
}

lmg_status lmg_cl_op_WHERE(lmg_exec *e, const lmg_node *n)
{
    int y = n->out[0];
    const lmg_shape *sy = &lmg_cl_value(e, y)->shape;
    int64_t st[3][LMG_MAX_DIMS];
    for (int k = 0; k < 3; k++) lmg_cl_bcast_strides(&lmg_cl_value(e, n->in[k])->shape, sy, st[k]);
    lmg_cl_desc d;
    lmg_cl_desc_make(&d, sy, 3, st);
    int64_t N = lmg_cl_numel(e, y);
    int cond_f32 = lmg_cl_value(e, n->in[0])->dtype == LMG_DTYPE_F32;
    return lmg_cl_kernel(e, "where_u32", (size_t)N, 0, "bbbbiid", lmg_cl_at(e, y),
                         lmg_cl_at(e, n->in[0]), lmg_cl_at(e, n->in[1]), lmg_cl_at(e, n->in[2]),
                         cond_f32, (int)N, &d);
}
