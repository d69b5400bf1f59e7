/* iter.h — a strided multi-index walk for the reference kernels: visits every element of an
 * output shape in row-major order while tracking the offset of each input (0 strides = bcast). */
#ifndef LMG_REF_ITER_H
#define LMG_REF_ITER_H

#include "ref.h"

#define ITER_MAX 4

typedef struct iter {
    int rank, n;
    int64_t dims[LMG_MAX_DIMS];
    int64_t st[ITER_MAX][LMG_MAX_DIMS];
    int64_t idx[LMG_MAX_DIMS];
    int64_t off[ITER_MAX]; /* current element offset of each operand */
} iter;

/* Element strides of contiguous `in` seen through numpy broadcasting to `out`
 * (trailing dims aligned; 0 where `in` has no dim or a dim of 1). */
static inline void iter_bcast_strides(const lmg_shape *in, const lmg_shape *out, int64_t *st)
{
    int64_t s = 1;
    for (int i = out->rank - 1; i >= 0; i--) {
        int j = in->rank - out->rank + i;
        st[i] = j < 0 || in->dims[j] == 1 ? 0 : s;
        if (j >= 0) s *= in->dims[j];
    }
}

/* Start a walk over `out` with `n` operands whose strides the caller fills in it->st. */
static inline void iter_init(iter *it, const lmg_shape *out, int n)
{
    it->rank = out->rank;
    it->n = n;
    for (int i = 0; i < out->rank; i++) {
        it->dims[i] = out->dims[i];
        it->idx[i] = 0;
    }
    for (int k = 0; k < ITER_MAX; k++) {
        it->off[k] = 0;
        for (int i = 0; i < LMG_MAX_DIMS; i++) it->st[k][i] = 0;
    }
}

/* A walk over `out` where operand k is contiguous `in[k]` broadcast to `out`. */
static inline void iter_init_bcast(iter *it, const lmg_shape *out, const lmg_shape *const *in,
                                   int n)
{
    iter_init(it, out, n);
    for (int k = 0; k < n; k++) iter_bcast_strides(in[k], out, it->st[k]);
}

/* Turn a fresh walk into one over runs: dims of 1 are dropped, neighbouring dims every
 * operand steps through contiguously are merged, and the last dim is taken off the walk.
 * *len gets the length of a run and rs[k] operand k's stride inside it; the walk (iter_next)
 * then moves from run to run, and the return value is the number of runs. Elements are still
 * visited in row-major order of the output, so results do not change, only the loop overhead. */
static inline int64_t iter_runs(iter *it, int64_t *len, int64_t *rs)
{
    int r = 0;
    for (int i = 0; i < it->rank; i++) {
        if (it->dims[i] == 1) continue;
        int merge = r > 0;
        for (int k = 0; merge && k < it->n; k++)
            merge = it->st[k][r - 1] == it->st[k][i] * it->dims[i];
        if (merge) {
            it->dims[r - 1] *= it->dims[i];
        } else {
            it->dims[r] = it->dims[i];
            r++;
        }
        for (int k = 0; k < it->n; k++) it->st[k][r - 1] = it->st[k][i];
    }
    *len = r ? it->dims[r - 1] : 1;
    for (int k = 0; k < it->n; k++) rs[k] = r ? it->st[k][r - 1] : 0;
    it->rank = r ? r - 1 : 0;
    int64_t runs = 1;
    for (int i = 0; i < it->rank; i++) runs *= it->dims[i];
    return *len ? runs : 0;
}

static inline void iter_next(iter *it)
{
    for (int i = it->rank - 1; i >= 0; i--) {
        for (int k = 0; k < it->n; k++) it->off[k] += it->st[k][i];
        if (++it->idx[i] < it->dims[i]) return;
        for (int k = 0; k < it->n; k++) it->off[k] -= it->st[k][i] * it->dims[i];
        it->idx[i] = 0;
    }
}

#endif
