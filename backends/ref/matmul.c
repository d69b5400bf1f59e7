/* matmul.c — the reference MatMul: batched, batch dims broadcast, transpose flags, every
 * inner product accumulated in double over k = 0..K-1 in order and rounded once. */
#include "iter.h"

#include <stdlib.h>

/* Blocking for the cache, not for the numbers: y is computed in tiles of MB rows by JT
 * columns; for each k one row of op(b)'s tile feeds MB rows of double sums. Every y[m][j] is
 * still 0.0 + a[m][0] b[0][j] + a[m][1] b[1][j] + ... in k order, and a product of two floats
 * is exact in double, so the result is bit for bit that of the plain triple loop. */
#define MB 4
#define JT 256

/* c_r[j] += a_r * b[j], j < w, for MB rows r. Fixed-length runs of VW columns and rows that
 * do not overlap let the compiler use vector instructions, which round exactly as scalar ones. */
#define VW 16
static void tile_rows(double *restrict c0, double *restrict c1, double *restrict c2,
                      double *restrict c3, const double *av, const float *restrict bk, int64_t w)
{
    double a0 = av[0], a1 = av[1], a2 = av[2], a3 = av[3];
    int64_t j0 = 0;
    for (; j0 + VW <= w; j0 += VW)
        for (int j = 0; j < VW; j++) {
            double bv = bk[j0 + j];
            c0[j0 + j] += a0 * bv;
            c1[j0 + j] += a1 * bv;
            c2[j0 + j] += a2 * bv;
            c3[j0 + j] += a3 * bv;
        }
    for (int64_t j = j0; j < w; j++) {
        double bv = bk[j];
        c0[j] += a0 * bv;
        c1[j] += a1 * bv;
        c2[j] += a2 * bv;
        c3[j] += a3 * bv;
    }
}

lmg_status lmg_ref_MATMUL(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                          lmg_tensor *const *out)
{
    const lmg_tensor *at = in[0], *bt = in[1];
    lmg_tensor *yt = out[0];
    int ta = lmg_node_attr_int(n, "trans_a", 0) != 0, tb = lmg_node_attr_int(n, "trans_b", 0) != 0;
    int ra = at->shape.rank, rb = bt->shape.rank, ry = yt->shape.rank;
    int64_t M = yt->shape.dims[ry - 2], N = yt->shape.dims[ry - 1];
    int64_t K = ta ? at->shape.dims[ra - 2] : at->shape.dims[ra - 1];
    /* Element (m,k) of op(a) inside one matrix. */
    int64_t a_sm = ta ? 1 : K, a_sk = ta ? M : 1;
    const float *a = lmg_f32(at), *b = lmg_f32(bt);
    float *y = lmg_f32(yt); // (batch..., M, N)

    /* Walk the output's batch dims; each operand advances by whole matrices. */
    lmg_shape batch = lmg_shape_make(ry - 2, yt->shape.dims);
    lmg_shape ba = lmg_shape_make(ra - 2, at->shape.dims);
    lmg_shape bb = lmg_shape_make(rb - 2, bt->shape.dims);
    const lmg_shape *sh[2] = {&ba, &bb};
    iter it;
    iter_init_bcast(&it, &batch, sh, 2);
    int64_t n_batch = lmg_shape_numel(&batch);

    double *acc = malloc(MB * JT * sizeof *acc); // (MB, JT) sums of one tile
    /* A transposed b's tile is copied into (K, JT) rows, so the sweep over j is contiguous. */
    float *pack = tb ? malloc((size_t)(K > 0 ? K : 1) * JT * sizeof *pack) : NULL;
    if (!acc || (tb && !pack)) {
        free(acc);
        free(pack);
        return lmg_error(LMG_ERR_NOMEM, "node '%s' (MatMul): out of memory", n->name);
    }
    for (int64_t p = 0; p < n_batch; p++, iter_next(&it)) {
        const float *A = a + it.off[0] * M * K; // (M,K) or (K,M)
        const float *B = b + it.off[1] * K * N; // (K,N) or (N,K)
        float *Y = y + p * M * N;               // (M,N)
        for (int64_t j0 = 0; j0 < N; j0 += JT) {
            int64_t w = N - j0 < JT ? N - j0 : JT;
            const float *Bt = B + j0; /* row k of the tile: Bt + k * ldb, w floats */
            int64_t ldb = N;
            if (tb) {
                for (int64_t k = 0; k < K; k++)
                    for (int64_t j = 0; j < w; j++) pack[k * w + j] = B[(j0 + j) * K + k];
                Bt = pack;
                ldb = w;
            }
            for (int64_t m0 = 0; m0 < M; m0 += MB) {
                int64_t rows = M - m0 < MB ? M - m0 : MB;
                for (int64_t r = 0; r < rows; r++)
                    for (int64_t j = 0; j < w; j++) acc[r * JT + j] = 0.0;
                const float *Am = A + m0 * a_sm;
                for (int64_t k = 0; k < K; k++) {
                    const float *Bk = Bt + k * ldb;
                    if (rows == MB) {
                        double av[MB] = {Am[k * a_sk], Am[a_sm + k * a_sk],
                                         Am[2 * a_sm + k * a_sk], Am[3 * a_sm + k * a_sk]};
                        tile_rows(acc, acc + JT, acc + 2 * JT, acc + 3 * JT, av, Bk, w);
                    } else {
                        for (int64_t r = 0; r < rows; r++) {
                            double av = Am[r * a_sm + k * a_sk];
                            double *cr = acc + r * JT;
                            for (int64_t j = 0; j < w; j++) cr[j] += av * (double)Bk[j];
                        }
                    }
                }
                for (int64_t r = 0; r < rows; r++)
                    for (int64_t j = 0; j < w; j++)
                        Y[(m0 + r) * N + j0 + j] = (float)acc[r * JT + j];
            }
        }
    }
    free(acc);
    free(pack);
    return LMG_OK;
}
