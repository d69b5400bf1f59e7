/* nn.c — the OpenCL recorders of the last-axis ops (Softmax, LogSoftmax, LayerNorm and their
 * gradients), the causal and padding masks and the cross-entropy loss (kernels/nn.cl). */
#include "opencl_internal.h"

#include <math.h>

/* Rows and row length of a last-axis op over value v. */
static void rows_of(const lmg_exec *e, int v, int64_t *rows, int64_t *C)
{
    const lmg_shape *s = &lmg_cl_value(e, v)->shape;
    *C = s->rank ? s->dims[s->rank - 1] : 1;
    *rows = *C ? lmg_shape_numel(s) / *C : 0;
}

static lmg_status softmax(lmg_exec *e, const lmg_node *n, int log_form)
{
    int64_t R, C;
    rows_of(e, n->in[0], &R, &C);
    if (R == 0 || C == 0) return LMG_OK;
    size_t L = lmg_cl_row_group(e, "softmax_rows", C);
    return lmg_cl_kernel(e, "softmax_rows", (size_t)R * L, L, "bbiiL", lmg_cl_at(e, n->out[0]),
                         lmg_cl_at(e, n->in[0]), (int)C, log_form, L * sizeof(float));
}

lmg_status lmg_cl_op_SOFTMAX(lmg_exec *e, const lmg_node *n) { return softmax(e, n, 0); }
lmg_status lmg_cl_op_LOG_SOFTMAX(lmg_exec *e, const lmg_node *n) { return softmax(e, n, 1); }

static lmg_status softmax_grad(lmg_exec *e, const lmg_node *n, int log_form)
{
    int64_t R, C;
    rows_of(e, n->in[1], &R, &C);
    if (R == 0 || C == 0) return LMG_OK;
    size_t L = lmg_cl_row_group(e, "softmax_grad_rows", C);
    return lmg_cl_kernel(e, "softmax_grad_rows", (size_t)R * L, L, "bbbiiL",
                         lmg_cl_at(e, n->out[0]), lmg_cl_at(e, n->in[0]), lmg_cl_at(e, n->in[1]),
                         (int)C, log_form, L * sizeof(float));
}

lmg_status lmg_cl_op_SOFTMAX_GRAD(lmg_exec *e, const lmg_node *n) { return softmax_grad(e, n, 0); }
lmg_status lmg_cl_op_LOG_SOFTMAX_GRAD(lmg_exec *e, const lmg_node *n)
{
    return softmax_grad(e, n, 1);
}

lmg_status lmg_cl_op_LAYER_NORM(lmg_exec *e, const lmg_node *n)
{
    int64_t R, C;
    rows_of(e, n->in[0], &R, &C);
    if (R == 0 || C == 0) return LMG_OK;
    if (e->ops_host) return lmg_cl_host_layer_norm(e, n, R, C);
    size_t L = lmg_cl_row_group(e, "layernorm_rows", C);
    double eps = lmg_node_attr_float(n, "eps", 1e-5);
    return lmg_cl_kernel(e, "layernorm_rows", (size_t)R * L, L, "bbbbbbifL",
                         lmg_cl_at(e, n->out[0]), lmg_cl_at(e, n->out[1]), lmg_cl_at(e, n->out[2]),
                         lmg_cl_at(e, n->in[0]), lmg_cl_at(e, n->in[1]), lmg_cl_at(e, n->in[2]),
                         (int)C, eps, L * sizeof(float));
}

/* Chunks of rows for column sums over R rows of C: enough work-items to fill a device. */
static int64_t column_chunks(int64_t R, int64_t C, int64_t *per)
{
    int64_t chunks = (65536 + C - 1) / (C ? C : 1);
    if (chunks > 256) chunks = 256;
    if (chunks > R) chunks = R;
    if (chunks < 1) chunks = 1;
    *per = (R + chunks - 1) / chunks;
    if (*per < 1) *per = 1;
    return (R + *per - 1) / *per;
}

lmg_status lmg_cl_op_LAYER_NORM_GRAD(lmg_exec *e, const lmg_node *n)
{
    int64_t R, C;
    rows_of(e, n->in[1], &R, &C);
    if (C == 0) return LMG_OK;
    if (R == 0) {
        LMG_TRY(lmg_cl_fill(e, lmg_cl_at(e, n->out[1]), C, 0));
        return lmg_cl_fill(e, lmg_cl_at(e, n->out[2]), C, 0);
    }
    if (e->ops_host) return lmg_cl_host_layer_norm_grad(e, n, R, C);
    size_t L = lmg_cl_row_group(e, "layernorm_grad_rows", C);
    LMG_TRY(lmg_cl_kernel(e, "layernorm_grad_rows", (size_t)R * L, L, "bbbbbbiL",
                          lmg_cl_at(e, n->out[0]), lmg_cl_at(e, n->in[0]), lmg_cl_at(e, n->in[1]),
                          lmg_cl_at(e, n->in[2]), lmg_cl_at(e, n->in[3]), lmg_cl_at(e, n->in[4]),
                          (int)C, L * sizeof(float)));
    int64_t per, chunks = column_chunks(R, C, &per);
    lmg_cl_loc part = lmg_cl_scratch(e, (size_t)(2 * chunks * C));
    LMG_TRY(lmg_cl_kernel(e, "layernorm_grad_cols", (size_t)(chunks * C), 0, "bbbbbiiii", part,
                          lmg_cl_at(e, n->in[0]), lmg_cl_at(e, n->in[1]), lmg_cl_at(e, n->in[3]),
                          lmg_cl_at(e, n->in[4]), (int)R, (int)C, (int)per, (int)chunks));
    return lmg_cl_kernel(e, "layernorm_grad_cols_final", (size_t)C, 0, "bbbii",
                         lmg_cl_at(e, n->out[1]), lmg_cl_at(e, n->out[2]), part, (int)chunks,
                         (int)C);
}

lmg_status lmg_cl_op_CAUSAL_MASK(lmg_exec *e, const lmg_node *n)
{
    const lmg_shape *s = &lmg_cl_value(e, n->in[0])->shape;
    int64_t T = s->dims[s->rank - 2], S = s->dims[s->rank - 1], N = lmg_shape_numel(s);
    double fill = lmg_node_attr_float(n, "fill", -INFINITY);
    return lmg_cl_kernel(e, "causal_mask", (size_t)N, 0, "bbiifi", lmg_cl_at(e, n->out[0]),
                         lmg_cl_at(e, n->in[0]), (int)T, (int)S, fill, (int)N);
}

lmg_status lmg_cl_op_PADDING_MASK(lmg_exec *e, const lmg_node *n)
{
    int64_t N = lmg_cl_numel(e, n->in[0]);
    int pad = (int)lmg_node_attr_int(n, "pad_id", 0);
    return lmg_cl_kernel(e, "padding_mask", (size_t)N, 0, "bbii", lmg_cl_at(e, n->out[0]),
                         lmg_cl_at(e, n->in[0]), pad, (int)N);
}

/* An omitted optional input is passed as its neighbour's buffer with a flag saying so. */
static int has_input(const lmg_node *n, int k) { return k < n->n_in && n->in[k] >= 0; }

lmg_status lmg_cl_op_CROSS_ENTROPY(lmg_exec *e, const lmg_node *n)
{
    if (e->ops_host) return lmg_cl_host_cross_entropy(e, n);
    int64_t N = lmg_cl_numel(e, n->in[1]), R, V;
    rows_of(e, n->in[0], &R, &V);
    int ignore = (int)lmg_node_attr_int(n, "ignore_index", -100);
    int has_w = has_input(n, 2);
    lmg_cl_loc w = lmg_cl_at(e, has_w ? n->in[2] : n->in[1]);
    lmg_cl_loc part = lmg_cl_scratch(e, (size_t)(2 * N));
    if (N > 0) {
        size_t L = lmg_cl_row_group(e, "ce_rows", V);
        LMG_TRY(lmg_cl_kernel(e, "ce_rows", (size_t)N * L, L, "bbbbiiiiL", part,
                              lmg_cl_at(e, n->in[0]), lmg_cl_at(e, n->in[1]), w, has_w, (int)N,
                              (int)V, ignore, L * sizeof(float)));
    }
    size_t L = lmg_cl_row_group(e, "ce_final", N);
    return lmg_cl_kernel(e, "ce_final", L, L, "bbiL", lmg_cl_at(e, n->out[0]), part, (int)N,
                         L * sizeof(float));
}

lmg_status lmg_cl_op_CROSS_ENTROPY_GRAD(lmg_exec *e, const lmg_node *n)
{
    if (e->ops_host) return lmg_cl_host_cross_entropy_grad(e, n);
    int64_t N = lmg_cl_numel(e, n->in[2]), R, V;
    rows_of(e, n->in[1], &R, &V);
    if (N == 0 || V == 0) return LMG_OK;
    int ignore = (int)lmg_node_attr_int(n, "ignore_index", -100);
    int has_w = has_input(n, 3);
    lmg_cl_loc w = lmg_cl_at(e, has_w ? n->in[3] : n->in[2]);
    lmg_cl_loc W = lmg_cl_scratch(e, 1);
    size_t Ln = lmg_cl_row_group(e, "ce_weight_sum", N);
    LMG_TRY(lmg_cl_kernel(e, "ce_weight_sum", Ln, Ln, "bbbiiiiL", W, lmg_cl_at(e, n->in[2]), w,
                          has_w, (int)N, (int)V, ignore, Ln * sizeof(float)));
    size_t L = lmg_cl_row_group(e, "ce_grad_rows", V);
    return lmg_cl_kernel(e, "ce_grad_rows", (size_t)N * L, L, "bbbbbibiiL",
                         lmg_cl_at(e, n->out[0]), lmg_cl_at(e, n->in[0]), lmg_cl_at(e, n->in[1]),
                         lmg_cl_at(e, n->in[2]), w, has_w, W, (int)V, ignore, L * sizeof(float));
}
