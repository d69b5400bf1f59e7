/* reduce.c — reference kernels of the reductions: ReduceSum and ReduceMean accumulate in
 * double over any set of axes; ArgMax returns the first maximum of the last axis, ArgSort
 * the stable ascending order of each last-axis row. */
#include "iter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static lmg_status reduce(const lmg_node *n, const lmg_tensor *xt, lmg_tensor *yt, int mean)
{
    const lmg_shape *sx = &xt->shape;
    const lmg_attr *axes = lmg_node_attr(n, "axes");
    int red[LMG_MAX_DIMS];
    for (int i = 0; i < LMG_MAX_DIMS; i++) red[i] = !axes || axes->n == 0;
    for (int k = 0; axes && k < axes->n; k++) red[lmg_axis(axes->ints[k], sx->rank)] = 1;

    /* Walk x; the sum it feeds sits at x's index with reduced dims dropped. */
    iter it;
    iter_init(&it, sx, 1);
    int64_t s = 1, count = 1;
    for (int i = sx->rank - 1; i >= 0; i--) {
        if (red[i]) {
            count *= sx->dims[i];
            continue;
        }
        it.st[0][i] = s;
        s *= sx->dims[i];
    }
    int64_t ny = lmg_numel(yt), len, rs;
    double *acc = calloc((size_t)(ny > 0 ? ny : 1), sizeof *acc);
    if (!acc) return lmg_error(LMG_ERR_NOMEM, "node '%s': out of memory", n->name);
    const float *x = lmg_f32(xt);
    int64_t runs = iter_runs(&it, &len, &rs);
    for (int64_t r = 0; r < runs; r++, iter_next(&it), x += len) {
        double *ar = acc + it.off[0];
        if (rs == 0) { /* a run along a reduced axis: one sum, still added in order */
            double s0 = *ar;
            for (int64_t j = 0; j < len; j++) s0 += (double)x[j];
            *ar = s0;
        } else {
            for (int64_t j = 0; j < len; j++) ar[j * rs] += (double)x[j];
        }
    }
    float *y = lmg_f32(yt);
    for (int64_t j = 0; j < ny; j++)
        y[j] = (float)(mean ? (count ? acc[j] / (double)count : NAN) : acc[j]);
    free(acc);
    return LMG_OK;
}

lmg_status lmg_ref_REDUCE_SUM(const lmg_ref_ctx *c, const lmg_node *n,
                              const lmg_tensor *const *in, lmg_tensor *const *out)
{
    return reduce(n, in[0], out[0], 0);
}

lmg_status lmg_ref_REDUCE_MEAN(const lmg_ref_ctx *c, const lmg_node *n,
                               const lmg_tensor *const *in, lmg_tensor *const *out)
{
    return reduce(n, in[0], out[0], 1);
}

/* NaN counts as the maximum (the first NaN wins), as in numpy and PyTorch. */
lmg_status lmg_ref_ARGMAX(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                          lmg_tensor *const *out)
{
    const lmg_shape *sx = &in[0]->shape;
    int64_t d = sx->dims[sx->rank - 1], rows = lmg_numel(out[0]);
    const float *x = lmg_f32(in[0]); // (rows, d)
    int32_t *y = lmg_i32(out[0]);    // (rows)
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * d;
        int64_t best = 0;
        for (int64_t j = 1; j < d && !isnan(row[best]); j++)
            if (isnan(row[j]) || row[j] > row[best]) best = j;
        y[r] = (int32_t)best;
    }
    return LMG_OK;
}

/* The order of ArgSort: numbers ascending (-0 equals 0), NaN after every number. */
static int key_less(float a, float b)
{
    if (isnan(a)) return 0;
    if (isnan(b)) return 1;
    return a < b;
}

/* Stable merge sort of idx[0..n) by keys, bottom-up through tmp. */
static void argsort_row(const float *key, int32_t *idx, int32_t *tmp, int64_t n)
{
    for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)i;
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t a = lo, b = mid, k = lo;
            /* Take from the right run only when strictly less: equal keys keep their order. */
            while (a < mid && b < hi) tmp[k++] = key_less(key[idx[b]], key[idx[a]]) ? idx[b++] : idx[a++];
            while (a < mid) tmp[k++] = idx[a++];
            while (b < hi) tmp[k++] = idx[b++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
}

lmg_status lmg_ref_ARGSORT(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                           lmg_tensor *const *out)
{
    const lmg_shape *sx = &in[0]->shape;
    int64_t d = sx->dims[sx->rank - 1], rows = d ? lmg_numel(in[0]) / d : 0;
    const float *x = lmg_f32(in[0]); // (rows, d)
    int32_t *y = lmg_i32(out[0]);    // (rows, d)
    int32_t *tmp = malloc((size_t)(d > 0 ? d : 1) * sizeof *tmp);
    if (!tmp) return lmg_error(LMG_ERR_NOMEM, "ArgSort: out of memory");
    for (int64_t r = 0; r < rows; r++) argsort_row(x + r * d, y + r * d, tmp, d);
    free(tmp);
    return LMG_OK;
}
