/* reduce.c — the OpenCL recorders of ReduceSum, ReduceMean (the axes collapse to rows,
 * columns or a general walk) and ArgMax over the last axis (kernels/reduce.cl). */
#include "opencl_internal.h"

#include <math.h>

static lmg_status reduce(lmg_exec *e, const lmg_node *n, int mean)
{
    const lmg_shape *sx = &lmg_cl_value(e, n->in[0])->shape;
    int x = n->in[0], y = n->out[0];
    const lmg_attr *axes = lmg_node_attr(n, "axes");
    int red[LMG_MAX_DIMS];
    for (int i = 0; i < LMG_MAX_DIMS; i++) red[i] = !axes || axes->n == 0;
    for (int k = 0; axes && k < axes->n; k++) red[lmg_axis(axes->ints[k], sx->rank)] = 1;
    int64_t xst[LMG_MAX_DIMS];
    lmg_cl_strides(sx, xst);

    /* Collapse: drop size-1 dims, merge neighbours of the same kind. */
    int64_t gd[LMG_MAX_DIMS], gs[LMG_MAX_DIMS];
    int gr[LMG_MAX_DIMS], ng = 0;
    int64_t K = 1, R = 1;
    for (int i = 0; i < sx->rank; i++) {
        if (red[i]) R *= sx->dims[i];
        else K *= sx->dims[i];
        if (sx->dims[i] == 1) continue;
        if (ng > 0 && gr[ng - 1] == red[i]) {
            gd[ng - 1] *= sx->dims[i];
            gs[ng - 1] = xst[i];
            continue;
        }
        gd[ng] = sx->dims[i];
        gs[ng] = xst[i];
        gr[ng] = red[i];
        ng++;
    }
    lmg_cl_loc ly = lmg_cl_at(e, y), lx = lmg_cl_at(e, x);
    double div = mean ? (double)R : 1.0;
    if (K == 0) return LMG_OK;
    if (R == 0) return lmg_cl_fill(e, ly, K, mean ? 0x7FC00000u : 0u);
    if (R == 1 && mean) div = 1.0;
    if (ng == 0 || (ng == 1 && !gr[0]) || R == 1)
        return lmg_cl_kernel(e, "copy_flat", (size_t)K, 0, "bbi", ly, lx, (int)K);
    if (gr[ng - 1] && (ng == 1 || (ng == 2 && !gr[0]))) {
        if (e->ops_host) return lmg_cl_host_reduce(e, ly, lx, R, K, 0, div);
        if (K < 64 && R >= 32768) {
            /* Few long rows (a global norm, a total): pieces of 4096 or more, summed in
             * piece order by a second pass. */
            int64_t chunks = R / 4096;
            if (chunks > 256) chunks = 256;
            int64_t len = (R + chunks - 1) / chunks;
            chunks = (R + len - 1) / len;
            size_t L = lmg_cl_row_group(e, "reduce_rows_chunked", len);
            lmg_cl_loc part = lmg_cl_scratch(e, (size_t)(K * chunks));
            LMG_TRY(lmg_cl_kernel(e, "reduce_rows_chunked", (size_t)(K * chunks) * L, L, "bbiiiL",
                                  part, lx, (int)R, (int)len, (int)chunks, L * sizeof(float)));
            size_t L2 = lmg_cl_row_group(e, "reduce_rows", chunks);
            return lmg_cl_kernel(e, "reduce_rows", (size_t)K * L2, L2, "bbifL", ly, part,
                                 (int)chunks, div, L2 * sizeof(float));
        }
        size_t L = lmg_cl_row_group(e, "reduce_rows", R);
        return lmg_cl_kernel(e, "reduce_rows", (size_t)K * L, L, "bbifL", ly, lx, (int)R, div,
                             L * sizeof(float));
    }
    if (ng == 2 && gr[0] && !gr[1]) {
        if (e->ops_host) return lmg_cl_host_reduce(e, ly, lx, R, K, 1, div);
        /* [R, K]: enough chunks of rows to keep the device busy, summed in chunk order. */
        int64_t chunks = (65536 + K - 1) / K;
        if (chunks > 256) chunks = 256;
        if (chunks > R) chunks = R;
        int64_t per = (R + chunks - 1) / chunks;
        chunks = (R + per - 1) / per;
        lmg_cl_loc part = lmg_cl_scratch(e, (size_t)(chunks * K));
        LMG_TRY(lmg_cl_kernel(e, "reduce_cols_partial", (size_t)(chunks * K), 0, "bbiii", part,
                              lx, (int)R, (int)K, (int)per));
        return lmg_cl_kernel(e, "reduce_cols_final", (size_t)K, 0, "bbiif", ly, part,
                             (int)chunks, (int)K, div);
    }
    lmg_cl_desc kept = {0}, rd = {0};
    for (int i = 0; i < ng; i++) {
        lmg_cl_desc *d = gr[i] ? &rd : &kept;
        d->dims[d->rank] = (cl_int)gd[i];
        d->st[0][d->rank] = (cl_int)gs[i];
        d->rank++;
    }
    return lmg_cl_kernel(e, "reduce_general", (size_t)K, 0, "bbiifdd", ly, lx, (int)K, (int)R,
                         div, &kept, &rd);
}

lmg_status lmg_cl_op_REDUCE_SUM(lmg_exec *e, const lmg_node *n) { return reduce(e, n, 0); }
lmg_status lmg_cl_op_REDUCE_MEAN(lmg_exec *e, const lmg_node *n) { return reduce(e, n, 1); }

lmg_status lmg_cl_op_ARGMAX(lmg_exec *e, const lmg_node *n)
{
    const lmg_shape *sx = &lmg_cl_value(e, n->in[0])->shape;
    int64_t C = sx->dims[sx->rank - 1], rows = lmg_cl_numel(e, n->out[0]);
    if (rows == 0) return LMG_OK;
    if (C == 0) return lmg_cl_fill(e, lmg_cl_at(e, n->out[0]), rows, 0);
    size_t L = lmg_cl_row_group(e, "argmax_rows", C);
    return lmg_cl_kernel(e, "argmax_rows", (size_t)rows * L, L, "bbiLL", lmg_cl_at(e, n->out[0]),
                         lmg_cl_at(e, n->in[0]), (int)C, L * sizeof(float), L * sizeof(int));
}

lmg_status lmg_cl_op_ARGSORT(lmg_exec *e, const lmg_node *n)
{
    const lmg_shape *sx = &lmg_cl_value(e, n->in[0])->shape;
    int64_t N = sx->dims[sx->rank - 1], total = lmg_cl_numel(e, n->out[0]);
    if (total == 0) return LMG_OK;
    if (total >= ((int64_t)1 << 31))
        return lmg_error(LMG_ERR_UNSUPPORTED, "opencl: ArgSort over %lld elements",
                         (long long)total);
    return lmg_cl_kernel(e, "argsort_rank", (size_t)total, 0, "bbii", lmg_cl_at(e, n->out[0]),
                         lmg_cl_at(e, n->in[0]), (int)N, (int)total);
}
