/* util.c — small helpers shared by the op families' rules: numpy broadcasting of shapes,
 * axis normalisation, and the checks every rule repeats (input dtypes, shape printing). */
#include "ops.h"
#include "../graph/graph.h"

lmg_status lmg_broadcast_shapes(const lmg_shape *a, const lmg_shape *b, lmg_shape *out)
{
    lmg_shape r;
    r.rank = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < LMG_MAX_DIMS; i++) r.dims[i] = 0;
    for (int i = 0; i < r.rank; i++) {
        /* Align trailing dims: index from the right. */
        int ia = a->rank - r.rank + i, ib = b->rank - r.rank + i;
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da == db || db == 1) r.dims[i] = da;
        else if (da == 1) r.dims[i] = db;
        else return LMG_ERR_INVALID;
    }
    *out = r;
    return LMG_OK;
}

int lmg_axis(int64_t axis, int rank)
{
    if (axis < -(int64_t)rank || axis >= rank) return -1;
    return (int)(axis < 0 ? axis + rank : axis);
}
