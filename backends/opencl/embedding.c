/* embedding.c — the OpenCL recorders of Embedding and EmbeddingGrad: a gather, and a
 * deterministic scatter-add by sorting positions per id (kernels/embedding.cl). */
#include "opencl_internal.h"

lmg_status lmg_cl_op_EMBEDDING(lmg_exec *e, const lmg_node *n)
{
    const lmg_shape *st = &lmg_cl_value(e, n->in[0])->shape;
    int64_t V = st->dims[0], D = st->dims[1], N = lmg_cl_numel(e, n->out[0]);
    return lmg_cl_kernel(e, "embedding_gather", (size_t)N, 0, "bbbiii", lmg_cl_at(e, n->out[0]),
                         lmg_cl_at(e, n->in[0]), lmg_cl_at(e, n->in[1]), (int)V, (int)D, (int)N);
}

lmg_status lmg_cl_op_EMBEDDING_GRAD(lmg_exec *e, const lmg_node *n)
{
    const lmg_shape *so = &lmg_cl_value(e, n->out[0])->shape;
    int64_t V = so->dims[0], D = so->dims[1], N = lmg_cl_numel(e, n->in[1]);
    lmg_cl_loc out = lmg_cl_at(e, n->out[0]);
    LMG_TRY(lmg_cl_fill(e, out, V * D, 0));
    if (N == 0 || D == 0) return LMG_OK;
    if (N >= ((int64_t)1 << 30))
        return lmg_error(LMG_ERR_UNSUPPORTED, "opencl: EmbeddingGrad over %lld positions",
                         (long long)N);
    int64_t P = 2;
    while (P < N) P <<= 1;
    size_t L = lmg_cl_group_limit(e, "bitonic_local"); /* half a sort block, a power of 2 */
    if (L > 256) L = 256;
    while (L & (L - 1)) L &= L - 1;
    if ((int64_t)(2 * L) > P) L = (size_t)(P / 2);
    int64_t B = 2 * (int64_t)L;
    lmg_cl_loc keys = lmg_cl_scratch(e, (size_t)(2 * P));
    lmg_cl_loc ids = lmg_cl_at(e, n->in[1]);
    LMG_TRY(lmg_cl_kernel(e, "embedding_keys", (size_t)P, 0, "bbiii", keys, ids, (int)N, (int)V,
                          (int)P));
    LMG_TRY(lmg_cl_kernel(e, "bitonic_local", (size_t)P / 2, L, "biiL", keys, 2, (int)B,
                          (size_t)B * 8));
    for (int64_t k = 2 * B; k <= P; k <<= 1) {
        for (int64_t j = k / 2; j >= B; j >>= 1)
            LMG_TRY(lmg_cl_kernel(e, "bitonic_step", (size_t)P / 2, 0, "bii", keys, (int)j, (int)k));
        LMG_TRY(lmg_cl_kernel(e, "bitonic_local", (size_t)P / 2, L, "biiL", keys, (int)k, (int)k,
                              (size_t)B * 8));
    }
    return lmg_cl_kernel(e, "embedding_grad_runs", (size_t)(N * D), 0, "bbbiii", out,
                         lmg_cl_at(e, n->in[0]), keys, (int)N, (int)D, (int)V);
}

lmg_status lmg_cl_op_TAKE_ALONG(lmg_exec *e, const lmg_node *n)
{
    const lmg_shape *sx = &lmg_cl_value(e, n->in[0])->shape, *si = &lmg_cl_value(e, n->in[1])->shape;
    int64_t N = sx->dims[sx->rank - 1], M = si->dims[si->rank - 1], total = lmg_cl_numel(e, n->out[0]);
    if (total == 0) return LMG_OK;
    if (total >= ((int64_t)1 << 31) || N > INT32_MAX)
        return lmg_error(LMG_ERR_UNSUPPORTED, "opencl: TakeAlong over %lld elements",
                         (long long)total);
    return lmg_cl_kernel(e, "take_along", (size_t)total, 0, "bbbiii", lmg_cl_at(e, n->out[0]),
                         lmg_cl_at(e, n->in[0]), lmg_cl_at(e, n->in[1]), (int)N, (int)M,
                         (int)total);
}
