/* loss.c — rules of CrossEntropy (mean over counted positions, ignore_index, optional
 * weights) and CrossEntropyGrad: attribute checks, shapes, and the logits' gradient. */
#include "attr_check.h"
#include "ops.h"

/* logits[...,V], targets i32[...], weights f32[...]? at inputs kl, kl+1, kl+2. */
static lmg_status check_ce(const lmg_graph *g, const lmg_node *n, int kl)
{
    int64_t ignore;
    LMG_TRY(lmg_op_check_attrs(n, "ignore_index:i"));
    LMG_TRY(attr_get_int(n, "ignore_index", 0, -100, &ignore));
    if (ignore < INT32_MIN || ignore > INT32_MAX)
        return lmg_op_error(n, "ignore_index %lld is not an i32", (long long)ignore);
    LMG_TRY(want_dtype(g, n, kl, LMG_DTYPE_F32, "logits"));
    LMG_TRY(want_rank_min(g, n, kl, 1, "logits"));
    LMG_TRY(want_dtype(g, n, kl + 1, LMG_DTYPE_I32, "targets"));
    lmg_shape rows = in_val(g, n, kl)->shape;
    rows.dims[--rows.rank] = 0;
    LMG_TRY(want_shape(g, n, kl + 1, &rows, "targets"));
    if (in_val(g, n, kl + 2)) {
        LMG_TRY(want_dtype(g, n, kl + 2, LMG_DTYPE_F32, "weights"));
        LMG_TRY(want_shape(g, n, kl + 2, &rows, "weights"));
    }
    return LMG_OK;
}

lmg_status lmg_infer_CROSS_ENTROPY(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                   lmg_shape *s)
{
    LMG_TRY(check_ce(g, n, 0));
    t[0] = LMG_DTYPE_F32;
    s[0] = lmg_shape_make(0, NULL);
    return LMG_OK;
}

lmg_status lmg_infer_CROSS_ENTROPY_GRAD(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                        lmg_shape *s)
{
    LMG_TRY(want_scalar(g, n, 0, LMG_DTYPE_F32, "dloss"));
    LMG_TRY(check_ce(g, n, 1));
    t[0] = LMG_DTYPE_F32;
    s[0] = in_val(g, n, 1)->shape;
    return LMG_OK;
}

lmg_status lmg_grad_CROSS_ENTROPY(lmg_grad_ctx *c)
{
    lmg_graph *g = c->g;
    const lmg_node *n = &g->nodes[c->node];
    if (c->dy[0] < 0) return LMG_OK;
    if (n->n_in > 2 && n->in[2] >= 0 && c->need[2])
        return lmg_error(LMG_ERR_UNSUPPORTED,
                         "node '%s' (CrossEntropy): no gradient with respect to the weights '%s'",
                         n->name, g->values[n->in[2]].name);
    if (!c->need[0]) return LMG_OK;
    int ins[4] = {c->dy[0], n->in[0], n->in[1], n->n_in > 2 ? n->in[2] : -1};
    lmg_attr a = lmg_attr_int("ignore_index", lmg_node_attr_int(n, "ignore_index", -100));
    int dx = lmg_graph_node(g, LMG_OP_CROSS_ENTROPY_GRAD, NULL, ins, ins[3] >= 0 ? 4 : 3, &a, 1,
                            NULL, NULL);
    if (dx < 0) return g->status;
    c->dx[0] = dx;
    return LMG_OK;
}
