/* matmul.c — the reference MatMul: batched, batch dims broadcast, transpose flags, every
 * inner product accumulated in double and rounded once. */
#include "iter.h"

#include <stdlib.h>

lmg_status lmg_ref_MATMUL(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                          lmg_tensor *const *out)
{
    const lmg_tensor *at = in[0], *bt = in[1];
    lmg_tensor *yt = out[0];
    int ta = lmg_node_attr_int(n, "trans_a", 0) != 0, tb = lmg_node_attr_int(n, "trans_b", 0) != 0;
    int ra = at->shape.rank, rb = bt->shape.rank, ry = yt->shape.rank;
    int64_t M = yt->shape.dims[ry - 2], N = yt->shape.dims[ry - 1];
    int64_t K = ta ? at->shape.dims[ra - 2] : at->shape.dims[ra - 1];
    /* Element (m,k) of op(a) and (k,n) of op(b) inside one matrix. */
    int64_t a_sm = ta ? 1 : K, a_sk = ta ? M : 1;
    int64_t b_sk = tb ? 1 : N, b_sn = tb ? K : 1;
    const float *a = lmg_f32(at), *b = lmg_f32(bt);
    float *y = lmg_f32(yt); // (batch..., M, N)

    /* Walk the output's batch dims; each operand advances by whole matrices. */
    lmg_shape batch = lmg_shape_make(ry - 2, yt->shape.dims);
    lmg_shape ba = lmg_shape_make(ra - 2, at->shape.dims), bb = lmg_shape_make(rb - 2, bt->shape.dims);
    const lmg_shape *sh[2] = {&ba, &bb};
    iter it;
    iter_init_bcast(&it, &batch, sh, 2);
    int64_t n_batch = lmg_shape_numel(&batch);

    double *acc = malloc((size_t)(N > 0 ? N : 1) * sizeof *acc);
    if (!acc) return lmg_error(LMG_ERR_NOMEM, "node '%s' (MatMul): out of memory", n->name);
    for (int64_t p = 0; p < n_batch; p++, iter_next(&it)) {
        const float *A = a + it.off[0] * M * K; // (M,K) or (K,M)
        const float *B = b + it.off[1] * K * N; // (K,N) or (N,K)
        float *Y = y + p * M * N;               // (M,N)
        for (int64_t m = 0; m < M; m++) {
            if (!tb) {
                /* Row form: b's rows are contiguous, so sweep them into a row of sums. */
                for (int64_t j = 0; j < N; j++) acc[j] = 0.0;
                for (int64_t k = 0; k < K; k++) {
                    double av = A[m * a_sm + k * a_sk];
                    const float *Bk = B + k * b_sk;
                    for (int64_t j = 0; j < N; j++) acc[j] += av * (double)Bk[j];
                }
            } else {
                /* Dot form: a row of b^T is a row of b, contiguous in k. */
                for (int64_t j = 0; j < N; j++) {
                    double s = 0.0;
                    for (int64_t k = 0; k < K; k++)
                        s += (double)A[m * a_sm + k * a_sk] * (double)B[j * b_sn + k];
                    acc[j] = s;
                }
            }
            for (int64_t j = 0; j < N; j++) Y[m * N + j] = (float)acc[j];
        }
    }
    free(acc);
    return LMG_OK;
}
