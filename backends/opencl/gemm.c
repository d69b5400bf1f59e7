/* gemm.c — MatMul through CLBlast: transposes by flags, a broadcast 2-D weight folded into
 * one Sgemm over all batch rows, other batches as SgemmStridedBatched (or one call each). */
#include "opencl_internal.h"

/* Elements [off, off + n) of two places overlap. */
static int overlaps(lmg_cl_loc a, int64_t na, lmg_cl_loc b, int64_t nb)
{
    return a.region == b.region && a.off < b.off + (uint64_t)nb &&
           b.off < a.off + (uint64_t)na;
}

/* On the host route with the checked host code, a bias Add right after a product of [m, n]
 * (y = mm + bias[n], the models' every linear layer) is folded in: C starts as the bias in
 * every row and the product adds to it (beta 1), into the Add's output, so the Add's pass
 * over y goes away. Only when nothing else reads the product (no other consumer, not a
 * graph output), and the Add's output does not overlap the operands, which are still being
 * read. Returns the Add's output and bias through *out and *bias. */
static int bias_add_next(const lmg_exec *e, const lmg_node *mm, const lmg_cl_gemm *gm,
                         lmg_cl_loc *out, lmg_cl_loc *bias)
{
    const lmg_graph *g = e->g;
    int i = e->cur_node, y = mm->out[0];
    if (!e->gemm_host || !e->ops_host || e->keep_all || e->canary || i < 0 ||
        i + 1 >= g->n_nodes)
        return 0;
    const lmg_node *add = &g->nodes[i + 1];
    if (add->op != LMG_OP_ADD || add->n_in != 2 || (add->in[0] == y) == (add->in[1] == y))
        return 0;
    int b = add->in[0] == y ? add->in[1] : add->in[0], z = add->out[0];
    const lmg_shape *sb = &lmg_cl_value(e, b)->shape;
    if (lmg_cl_value(e, b)->dtype != LMG_DTYPE_F32 || sb->rank < 1 ||
        lmg_shape_numel(sb) != (int64_t)gm->n || sb->dims[sb->rank - 1] != (int64_t)gm->n ||
        lmg_cl_numel(e, z) != lmg_cl_numel(e, y) || e->is_output[y])
        return 0;
    /* Whatever reads the product's bits (a view of it included) is a node taking it as input;
     * values placed in its storage later (the Add in place, views of the Add) are written
     * after it. */
    for (int j = 0; j < g->n_nodes; j++)
        for (int k = 0; k < g->nodes[j].n_in; k++)
            if (j != i + 1 && g->nodes[j].in[k] == y) return 0;
    lmg_cl_loc zl = lmg_cl_at(e, z), bl = lmg_cl_at(e, b);
    int64_t nz = lmg_cl_numel(e, z);
    if (overlaps(zl, nz, gm->a, lmg_cl_numel(e, mm->in[0])) ||
        overlaps(zl, nz, gm->b, lmg_cl_numel(e, mm->in[1])) || overlaps(zl, nz, bl, (int64_t)gm->n))
        return 0;
    *out = zl;
    *bias = bl;
    return 1;
}

/* Record a batch-1 product, with the following bias Add folded in where it may be. */
static lmg_status record_2d(lmg_exec *e, const lmg_node *n, lmg_cl_gemm *gm)
{
    if (bias_add_next(e, n, gm, &gm->c, &gm->bias)) {
        gm->has_bias = 1;
        gm->beta = 1.0f;
        e->consumed = 2;
    }
    return lmg_cl_record_gemm(e, gm);
}

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
    if (batch == 1) return record_2d(e, n, &gm);
    int64_t na = lmg_shape_numel(&ba), nb = lmg_shape_numel(&bb);
    if (nb == 1 && !ta && na == batch) {
        /* [B..,M,K] x [K,N]: the batch rows of a are one [B*M, K] matrix. */
        gm.m = (size_t)(batch * M);
        return record_2d(e, n, &gm);
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
