/* gemm.c — MatMul through CLBlast: transposes by flags, a broadcast 2-D weight folded into
 * one Sgemm over all batch rows, other batches as SgemmStridedBatched (or one call each). */
#include "opencl_internal.h"

lmg_status lmg_cl_op_MATMUL(lmg_exec *e, const lmg_node *n)
{
    const lmg_shape *sa = &lmg_cl_value(e, n->in[0])->shape;
    const lmg_shape *sb = &lmg_cl_value(e, n->in[1])->shape;
    const lmg_shape *sc = &lmg_cl_value(e, n->out[0])->shape;
    int ta = lmg_node_attr_int(n, "trans_a", 0) != 0, tb = lmg_node_attr_int(n, "trans_b", 0) != 0;
    int64_t M = sc->dims[sc->rank - 2], N = sc->dims[sc->rank - 1];
    int64_t K = sa->dims[sa->rank - 1 - ta];
    lmg_cl_gemm gm = {0};
    gm.ta = ta;
    gm.tb = tb;
    gm.m = (size_t)M;
    gm.n = (size_t)N;
    gm.k = (size_t)K;
    gm.alpha = 1.0f;
    gm.beta = 0.0f;
    gm.a = lmg_cl_at(e, n->in[0]);
    gm.b = lmg_cl_at(e, n->in[1]);
    gm.c = lmg_cl_at(e, n->out[0]);
    gm.lda = (size_t)(ta ? M : K);
    gm.ldb = (size_t)(tb ? K : N);
    gm.ldc = (size_t)N;
    gm.batch = 1;
    if (M == 0 || N == 0) return LMG_OK;
    if (K == 0) return lmg_cl_fill(e, gm.c, lmg_cl_numel(e, n->out[0]), 0);

    /* Batch dims of the output and each operand's batch stride along them. */
    lmg_shape bs = lmg_shape_make(sc->rank - 2, sc->dims);
    lmg_shape ba = lmg_shape_make(sa->rank - 2, sa->dims), bb = lmg_shape_make(sb->rank - 2, sb->dims);
    int64_t batch = lmg_shape_numel(&bs);
    if (batch == 1) return lmg_cl_record_gemm(e, &gm);
    int64_t na = lmg_shape_numel(&ba), nb = lmg_shape_numel(&bb);
    if (nb == 1 && !ta && na == batch) {
        /* [B..,M,K] x [K,N]: the batch rows of a are one [B*M, K] matrix. */
        gm.m = (size_t)(batch * M);
        return lmg_cl_record_gemm(e, &gm);
    }
    int64_t st[3][LMG_MAX_DIMS];
    lmg_cl_bcast_strides(&ba, &bs, st[0]);
    lmg_cl_bcast_strides(&bb, &bs, st[1]);
    lmg_cl_strides(&bs, st[2]);
    for (int i = 0; i < bs.rank; i++) {
        st[0][i] *= M * K;
        st[1][i] *= K * N;
        st[2][i] *= M * N;
    }
    lmg_cl_desc d;
    lmg_cl_desc_make(&d, &bs, 3, st);
    if (d.rank <= 1) {
        gm.batch = (size_t)batch;
        gm.sa = d.rank == 0 ? (size_t)(M * K) : (size_t)d.st[0][0];
        gm.sb = d.rank == 0 ? (size_t)(K * N) : (size_t)d.st[1][0];
        gm.sc = (size_t)(M * N);
        if (gm.sa && gm.sb) return lmg_cl_record_gemm(e, &gm);
    }
    /* A broadcast operand (stride 0) or batch dims that do not collapse: one call per
     * output matrix, all enqueued, none waited for. */
    lmg_cl_gemm one = gm;
    one.batch = 1;
    for (int64_t b = 0; b < batch; b++) {
        int64_t rest = b, oa = 0, ob = 0;
        for (int i = bs.rank - 1; i >= 0; i--) {
            int64_t c = rest % bs.dims[i];
            rest /= bs.dims[i];
            oa += c * st[0][i];
            ob += c * st[1][i];
        }
        one.a.off = gm.a.off + (uint64_t)oa;
        one.b.off = gm.b.off + (uint64_t)ob;
        one.c.off = gm.c.off + (uint64_t)(b * M * N);
        LMG_TRY(lmg_cl_record_gemm(e, &one));
    }
    return LMG_OK;
}
