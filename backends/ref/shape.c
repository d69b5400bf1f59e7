/* shape.c — reference kernels of the data-movement ops: Reshape, Transpose, Slice,
 * SliceGrad, Concat and Expand. Every accepted dtype (f32, i32) is a 4-byte word. */
#include "iter.h"

#include <string.h>

typedef uint32_t word;

lmg_status lmg_ref_RESHAPE(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                           lmg_tensor *const *out)
{
    memcpy(out[0]->data, in[0]->data, (size_t)lmg_numel(out[0]) * lmg_dtype_size(out[0]->dtype));
    return LMG_OK;
}

/* y in row-major order from x's elements at the walk's offsets. */
static void copy_runs(iter *it, const word *x, word *y)
{
    int64_t len, rs;
    int64_t runs = iter_runs(it, &len, &rs);
    for (int64_t r = 0; r < runs; r++, iter_next(it), y += len) {
        const word *xr = x + it->off[0];
        if (rs == 1) memcpy(y, xr, (size_t)len * sizeof *y);
        else
            for (int64_t j = 0; j < len; j++) y[j] = xr[j * rs];
    }
}

lmg_status lmg_ref_TRANSPOSE(const lmg_ref_ctx *c, const lmg_node *n,
                             const lmg_tensor *const *in, lmg_tensor *const *out)
{
    const lmg_attr *perm = lmg_node_attr(n, "perm");
    const lmg_shape *sx = &in[0]->shape;
    int64_t xst[LMG_MAX_DIMS], s = 1;
    for (int i = sx->rank - 1; i >= 0; i--) {
        xst[i] = s;
        s *= sx->dims[i];
    }
    /* Walk y in order; x's offset moves by the stride of the dim each y dim came from. */
    iter it;
    iter_init(&it, &out[0]->shape, 1);
    for (int i = 0; i < sx->rank; i++) it.st[0][i] = xst[perm->ints[i]];
    copy_runs(&it, in[0]->data, out[0]->data);
    return LMG_OK;
}

/* The resolved slice of `sh` on its axis (verified already): rows before the axis, the
 * contiguous run after it, and [start, end) within `dim` entries. */
typedef struct slice {
    int64_t outer, inner, dim, start, end;
} slice;

static slice slice_get(const lmg_node *n, const lmg_shape *sh, int64_t dim)
{
    slice s;
    int axis = lmg_axis(lmg_node_attr_int(n, "axis", 0), sh->rank);
    s.outer = s.inner = 1;
    for (int i = 0; i < axis; i++) s.outer *= sh->dims[i];
    for (int i = axis + 1; i < sh->rank; i++) s.inner *= sh->dims[i];
    s.dim = dim >= 0 ? dim : sh->dims[axis];
    int64_t st = lmg_node_attr_int(n, "start", 0), en = lmg_node_attr_int(n, "end", s.dim);
    s.start = st < 0 ? st + s.dim : st;
    s.end = en < 0 ? en + s.dim : en;
    return s;
}

lmg_status lmg_ref_SLICE(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                         lmg_tensor *const *out)
{
    slice s = slice_get(n, &in[0]->shape, -1);
    const word *x = in[0]->data; // (outer, dim, inner)
    word *y = out[0]->data;      // (outer, end-start, inner)
    int64_t run = (s.end - s.start) * s.inner;
    for (int64_t o = 0; o < s.outer; o++)
        memcpy(y + o * run, x + (o * s.dim + s.start) * s.inner, (size_t)run * sizeof(word));
    return LMG_OK;
}

lmg_status lmg_ref_SLICE_GRAD(const lmg_ref_ctx *c, const lmg_node *n,
                              const lmg_tensor *const *in, lmg_tensor *const *out)
{
    slice s = slice_get(n, &in[0]->shape, lmg_node_attr_int(n, "dim", 0));
    const word *dy = in[0]->data; // (outer, end-start, inner)
    word *dx = out[0]->data;      // (outer, dim, inner)
    int64_t run = (s.end - s.start) * s.inner;
    memset(dx, 0, (size_t)lmg_numel(out[0]) * sizeof(word));
    for (int64_t o = 0; o < s.outer; o++)
        memcpy(dx + (o * s.dim + s.start) * s.inner, dy + o * run, (size_t)run * sizeof(word));
    return LMG_OK;
}

lmg_status lmg_ref_CONCAT(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                          lmg_tensor *const *out)
{
    const lmg_shape *sy = &out[0]->shape;
    int axis = lmg_axis(lmg_node_attr_int(n, "axis", 0), sy->rank);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= sy->dims[i];
    for (int i = axis + 1; i < sy->rank; i++) inner *= sy->dims[i];
    int64_t row = sy->dims[axis] * inner, at = 0;
    word *y = out[0]->data; // (outer, sum of dims, inner)
    for (int k = 0; k < n->n_in; k++) {
        const word *x = in[k]->data; // (outer, dim_k, inner)
        int64_t run = in[k]->shape.dims[axis] * inner;
        for (int64_t o = 0; o < outer; o++)
            memcpy(y + o * row + at, x + o * run, (size_t)run * sizeof(word));
        at += run;
    }
    return LMG_OK;
}

lmg_status lmg_ref_EXPAND(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                          lmg_tensor *const *out)
{
    const lmg_shape *sh[1] = {&in[0]->shape};
    iter it;
    iter_init_bcast(&it, &out[0]->shape, sh, 1);
    copy_runs(&it, in[0]->data, out[0]->data);
    return LMG_OK;
}
