/* elementwise.c — the OpenCL recorders of the elementwise ops: one per line of
 * ops/elementwise.def (kernels/elementwise.cl makes their kernels), Cast and Where. */
#include "opencl_internal.h"

#include <stdio.h>

/* The ops whose host code (hostops.c) replaces their kernel where the executor took the
 * checked host-ops route (CPU devices): PoCL's kernels run them a scalar exp at a time. Only
 * operands of the output's shape go that way; broadcasts keep the kernels. */
static const lmg_cl_host_ew_fn host_ew[LMG_OP_COUNT] = {
    [LMG_OP_GELU] = lmg_cl_host_gelu,
    [LMG_OP_GELU_GRAD] = lmg_cl_host_gelu_grad,
};

/* Records n's host code and sets *done when it has one that takes these operands. */
static lmg_status by_host(lmg_exec *e, const lmg_node *n, int *done)
{
    *done = 0;
    if (!e->ops_host || !host_ew[n->op]) return LMG_OK;
    const lmg_value *y = lmg_cl_value(e, n->out[0]);
    lmg_cl_loc in[2];
    for (int k = 0; k < n->n_in; k++) {
        const lmg_value *v = lmg_cl_value(e, n->in[k]);
        if (k >= 2 || v->dtype != LMG_DTYPE_F32 || !lmg_shape_equal(&v->shape, &y->shape))
            return LMG_OK;
        in[k] = lmg_cl_at(e, n->in[k]);
    }
    *done = 1;
    return host_ew[n->op](e, lmg_cl_at(e, n->out[0]), in, lmg_cl_numel(e, n->out[0]));
}

/* A broadcasting op over up to three operands: a `_flat` kernel when every operand is walked
 * like the output, else `_rows` over the last collapsed dim and the rows before it. */
static lmg_status broadcast(lmg_exec *e, const lmg_node *n, const char *kernel, int nops,
                            const int *ops, int flag)
{
    int y = n->out[0];
    const lmg_shape *sy = &lmg_cl_value(e, y)->shape;
    int64_t st[3][LMG_MAX_DIMS];
    for (int k = 0; k < nops; k++) lmg_cl_bcast_strides(&lmg_cl_value(e, ops[k])->shape, sy, st[k]);
    lmg_cl_desc d;
    lmg_cl_desc_make(&d, sy, nops, st);
    int64_t N = lmg_cl_numel(e, y);
    lmg_cl_loc a = lmg_cl_at(e, ops[0]), b = lmg_cl_at(e, ops[1]);
    lmg_cl_loc c = lmg_cl_at(e, ops[nops - 1]);
    char name[64];
    if (d.rank == 0) {
        snprintf(name, sizeof name, "%s_flat", kernel);
        const char *k = name;
        if (nops == 3)
            return lmg_cl_kernel(e, k, (size_t)N, 0, "bbbbii", lmg_cl_at(e, y), a, b, c, flag, (int)N);
        return lmg_cl_kernel(e, k, (size_t)N, 0, "bbbi", lmg_cl_at(e, y), a, b, (int)N);
    }
    int64_t inner, rows;
    int ist[3];
    lmg_cl_loc table;
    LMG_TRY(lmg_cl_desc_rows(e, &d, nops, &inner, ist, &rows, &table));
    snprintf(name, sizeof name, "%s_rows", kernel);
    const char *k = name;
    if (nops == 3)
        return lmg_cl_kernel2(e, k, (size_t)inner, (size_t)rows, "bbbbiiiiiib", lmg_cl_at(e, y),
                              a, b, c, flag, (int)inner, (int)rows, ist[0], ist[1], ist[2], table);
    return lmg_cl_kernel2(e, k, (size_t)inner, (size_t)rows, "bbbiiiib", lmg_cl_at(e, y), a, b,
                          (int)inner, (int)rows, ist[0], ist[1], table);
}

static lmg_status binary(lmg_exec *e, const lmg_node *n, const char *op)
{
    int done;
    LMG_TRY(by_host(e, n, &done));
    if (done) return LMG_OK;
    char kernel[48];
    int i32 = lmg_cl_value(e, n->out[0])->dtype == LMG_DTYPE_I32;
    snprintf(kernel, sizeof kernel, "%s_%s", op, i32 ? "i32" : "f32");
    return broadcast(e, n, kernel, 2, n->in, 0);
}

/* Every unary kernel takes alpha and beta, the node's attributes (most ignore them). */
static lmg_status unary(lmg_exec *e, const lmg_node *n, const char *kernel)
{
    int done;
    LMG_TRY(by_host(e, n, &done));
    if (done) return LMG_OK;
    double alpha = lmg_node_attr_float(n, "alpha", 1.0), beta = lmg_node_attr_float(n, "beta", 0.0);
    int64_t N = lmg_cl_numel(e, n->out[0]);
    return lmg_cl_kernel(e, kernel, (size_t)N, 0, "bbffi", lmg_cl_at(e, n->out[0]),
                         lmg_cl_at(e, n->in[0]), alpha, beta, (int)N);
}

/* The recorders of ops/elementwise.def, launching the kernels kernels/elementwise.cl makes
 * from the same lines (an i32 launch of an op without an i32 form cannot happen: its rule
 * refuses i32 inputs). */
#define LMG_EW_UNARY(E, ONNX, ...) \
    lmg_status lmg_cl_op_##E(lmg_exec *e, const lmg_node *n) { return unary(e, n, "ew_" #E); }
#define LMG_EW_BINARY(E, ONNX, ...) \
    lmg_status lmg_cl_op_##E(lmg_exec *e, const lmg_node *n) { return binary(e, n, "ew_" #E); }
#define LMG_EW_BINARY_I32 LMG_EW_BINARY
#include "../../ops/elementwise.def"
#undef LMG_EW_UNARY
#undef LMG_EW_BINARY
#undef LMG_EW_BINARY_I32

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
    int cond_f32 = lmg_cl_value(e, n->in[0])->dtype == LMG_DTYPE_F32;
    return broadcast(e, n, "where", 3, n->in, cond_f32);
}
