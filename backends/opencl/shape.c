/* shape.c — the OpenCL recorders of the data-movement ops: Reshape (a view when the plan
 * shares storage, else a copy), Transpose, Slice, SliceGrad, Concat and Expand. */
#include "opencl_internal.h"

static int same_loc(lmg_cl_loc a, lmg_cl_loc b) { return a.region == b.region && a.off == b.off; }

static lmg_cl_loc at_plus(lmg_cl_loc l, int64_t elems)
{
    l.off += (uint64_t)elems;
    return l;
}

/* Copy over the walk of `dims`: y at ys (+ y strides), x at xs (+ x strides). */
static lmg_status copy(lmg_exec *e, const lmg_shape *dims, lmg_cl_loc ys, const int64_t *yst,
                       lmg_cl_loc xs, const int64_t *xst)
{
    int64_t st[3][LMG_MAX_DIMS] = {{0}};
    for (int i = 0; i < dims->rank; i++) {
        st[0][i] = yst[i];
        st[1][i] = xst[i];
    }
    lmg_cl_desc d;
    lmg_cl_desc_make(&d, dims, 2, st);
    int64_t N = lmg_shape_numel(dims);
    if (d.rank == 0) return lmg_cl_kernel(e, "copy_flat", (size_t)N, 0, "bbi", ys, xs, (int)N);
    if (e->ops_host) return lmg_cl_host_copy(e, &d, ys, xs);
    int64_t inner, rows;
    int ist[3];
    lmg_cl_loc table;
    LMG_TRY(lmg_cl_desc_rows(e, &d, 2, &inner, ist, &rows, &table));
    return lmg_cl_kernel2(e, "copy_rows", (size_t)inner, (size_t)rows, "bbiiiib", ys, xs,
                          (int)inner, (int)rows, ist[0], ist[1], table);
}

lmg_status lmg_cl_op_RESHAPE(lmg_exec *e, const lmg_node *n)
{
    lmg_cl_loc y = lmg_cl_at(e, n->out[0]), x = lmg_cl_at(e, n->in[0]);
    if (same_loc(x, y)) return LMG_OK;
    int64_t N = lmg_cl_numel(e, n->out[0]);
    return lmg_cl_kernel(e, "copy_flat", (size_t)N, 0, "bbi", y, x, (int)N);
}

lmg_status lmg_cl_op_TRANSPOSE(lmg_exec *e, const lmg_node *n)
{
    const lmg_shape *sx = &lmg_cl_value(e, n->in[0])->shape;
    const lmg_shape *sy = &lmg_cl_value(e, n->out[0])->shape;
    const lmg_attr *perm = lmg_node_attr(n, "perm");
    int64_t xst[LMG_MAX_DIMS], yst[LMG_MAX_DIMS], pst[LMG_MAX_DIMS];
    lmg_cl_strides(sx, xst);
    lmg_cl_strides(sy, yst);
    for (int i = 0; i < sy->rank; i++) pst[i] = xst[perm ? perm->ints[i] : sy->rank - 1 - i];
    return copy(e, sy, lmg_cl_at(e, n->out[0]), yst, lmg_cl_at(e, n->in[0]), pst);
}

/* The resolved slice attributes (already verified by the op's rule). */
static void slice_of(const lmg_node *n, const lmg_shape *sh, int64_t dim_override, int *axis,
                     int64_t *start)
{
    *axis = lmg_axis(lmg_node_attr_int(n, "axis", 0), sh->rank);
    int64_t dim = dim_override >= 0 ? dim_override : sh->dims[*axis];
    int64_t s = lmg_node_attr_int(n, "start", 0);
    *start = s < 0 ? s + dim : s;
}

lmg_status lmg_cl_op_SLICE(lmg_exec *e, const lmg_node *n)
{
    const lmg_shape *sx = &lmg_cl_value(e, n->in[0])->shape;
    const lmg_shape *sy = &lmg_cl_value(e, n->out[0])->shape;
    int axis;
    int64_t start, xst[LMG_MAX_DIMS], yst[LMG_MAX_DIMS];
    slice_of(n, sx, -1, &axis, &start);
    lmg_cl_strides(sx, xst);
    lmg_cl_strides(sy, yst);
    return copy(e, sy, lmg_cl_at(e, n->out[0]), yst,
                at_plus(lmg_cl_at(e, n->in[0]), start * xst[axis]), xst);
}

lmg_status lmg_cl_op_SLICE_GRAD(lmg_exec *e, const lmg_node *n)
{
    const lmg_shape *sd = &lmg_cl_value(e, n->in[0])->shape;
    const lmg_shape *sy = &lmg_cl_value(e, n->out[0])->shape;
    int axis;
    int64_t start, dst[LMG_MAX_DIMS], yst[LMG_MAX_DIMS];
    slice_of(n, sd, lmg_node_attr_int(n, "dim", 0), &axis, &start);
    lmg_cl_strides(sd, dst);
    lmg_cl_strides(sy, yst);
    LMG_TRY(lmg_cl_fill(e, lmg_cl_at(e, n->out[0]), lmg_cl_numel(e, n->out[0]), 0));
    return copy(e, sd, at_plus(lmg_cl_at(e, n->out[0]), start * yst[axis]), yst,
                lmg_cl_at(e, n->in[0]), dst);
}

lmg_status lmg_cl_op_CONCAT(lmg_exec *e, const lmg_node *n)
{
    const lmg_shape *sy = &lmg_cl_value(e, n->out[0])->shape;
    int axis = lmg_axis(lmg_node_attr_int(n, "axis", 0), sy->rank);
    int64_t yst[LMG_MAX_DIMS], at = 0;
    lmg_cl_strides(sy, yst);
    for (int k = 0; k < n->n_in; k++) {
        const lmg_shape *sx = &lmg_cl_value(e, n->in[k])->shape;
        int64_t xst[LMG_MAX_DIMS];
        lmg_cl_strides(sx, xst);
        LMG_TRY(copy(e, sx, at_plus(lmg_cl_at(e, n->out[0]), at * yst[axis]), yst,
                     lmg_cl_at(e, n->in[k]), xst));
        at += sx->dims[axis];
    }
    return LMG_OK;
}

lmg_status lmg_cl_op_EXPAND(lmg_exec *e, const lmg_node *n)
{
    const lmg_shape *sy = &lmg_cl_value(e, n->out[0])->shape;
    int64_t yst[LMG_MAX_DIMS], xst[LMG_MAX_DIMS];
    lmg_cl_strides(sy, yst);
    lmg_cl_bcast_strides(&lmg_cl_value(e, n->in[0])->shape, sy, xst);
    return copy(e, sy, lmg_cl_at(e, n->out[0]), yst, lmg_cl_at(e, n->in[0]), xst);
}
