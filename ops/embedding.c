/* embedding.c — rules of Embedding (a row gather from a [V,D] table) and EmbeddingGrad (its
 * scatter-add adjoint): attribute checks, shapes, and the table's gradient. */
#include "attr_check.h"
#include "ops.h"

lmg_status lmg_infer_EMBEDDING(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    LMG_TRY(lmg_op_check_attrs(n, ""));
    LMG_TRY(want_dtype(g, n, 0, LMG_DTYPE_F32, "table"));
    LMG_TRY(want_dtype(g, n, 1, LMG_DTYPE_I32, "ids"));
    const lmg_value *tab = in_val(g, n, 0), *ids = in_val(g, n, 1);
    char b[128];
    if (tab->shape.rank != 2)
        return lmg_op_error(n, "input '%s' (table) has shape %s, expected [V,D]", tab->name,
                            lmg_shape_str(&tab->shape, b, sizeof b));
    if (ids->shape.rank >= LMG_MAX_DIMS)
        return lmg_op_error(n, "input '%s' (ids) has rank %d: the output would exceed rank %d",
                            ids->name, ids->shape.rank, LMG_MAX_DIMS);
    t[0] = LMG_DTYPE_F32;
    s[0] = ids->shape;
    s[0].dims[s[0].rank++] = tab->shape.dims[1];
    return LMG_OK;
}

lmg_status lmg_grad_EMBEDDING(lmg_grad_ctx *c)
{
    lmg_graph *g = c->g;
    const lmg_node *n = &g->nodes[c->node];
    if (!c->need[0] || c->dy[0] < 0) return LMG_OK;
    int ins[2] = {c->dy[0], n->in[1]};
    lmg_attr a = lmg_attr_int("num_embeddings", g->values[n->in[0]].shape.dims[0]);
    int dx = lmg_graph_node(g, LMG_OP_EMBEDDING_GRAD, NULL, ins, 2, &a, 1, NULL, NULL);
    if (dx < 0) return g->status;
    c->dx[0] = dx;
    return LMG_OK;
}

lmg_status lmg_infer_EMBEDDING_GRAD(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                    lmg_shape *s)
{
    int64_t V;
    LMG_TRY(lmg_op_check_attrs(n, "num_embeddings:i"));
    LMG_TRY(attr_get_int(n, "num_embeddings", 1, 0, &V));
    if (V < 1) return lmg_op_error(n, "num_embeddings %lld must be >= 1", (long long)V);
    LMG_TRY(want_dtype(g, n, 0, LMG_DTYPE_F32, "dy"));
    LMG_TRY(want_dtype(g, n, 1, LMG_DTYPE_I32, "ids"));
    LMG_TRY(want_rank_min(g, n, 0, 1, "dy"));
    const lmg_value *dy = in_val(g, n, 0), *ids = in_val(g, n, 1);
    lmg_shape want = ids->shape;
    if (want.rank >= LMG_MAX_DIMS)
        return lmg_op_error(n, "input '%s' (ids) has rank %d, at most %d allowed", ids->name,
                            want.rank, LMG_MAX_DIMS - 1);
    want.dims[want.rank++] = dy->shape.dims[dy->shape.rank - 1];
    LMG_TRY(want_shape(g, n, 0, &want, "dy"));
    t[0] = LMG_DTYPE_F32;
    s[0].rank = 2;
    s[0].dims[0] = V;
    s[0].dims[1] = want.dims[want.rank - 1];
    return LMG_OK;
}

lmg_status lmg_infer_TAKE_ALONG(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                lmg_shape *s)
{
    LMG_TRY(lmg_op_check_attrs(n, ""));
    LMG_TRY(lmg_op_check_input(g, n, 0, LMG_DTYPE_BIT(LMG_DTYPE_F32) | LMG_DTYPE_BIT(LMG_DTYPE_I32)));
    LMG_TRY(want_dtype(g, n, 1, LMG_DTYPE_I32, "idx"));
    LMG_TRY(want_rank_min(g, n, 0, 1, "x"));
    const lmg_value *x = in_val(g, n, 0), *idx = in_val(g, n, 1);
    int ok = x->shape.rank == idx->shape.rank;
    for (int i = 0; ok && i + 1 < x->shape.rank; i++) ok = x->shape.dims[i] == idx->shape.dims[i];
    if (!ok) {
        char a[200], b[200];
        return lmg_op_error(n, "idx %s must have the rank and leading dims of x %s (it picks "
                            "along the last axis only)", lmg_op_value_str(g, n->in[1], b, sizeof b),
                            lmg_op_value_str(g, n->in[0], a, sizeof a));
    }
    t[0] = x->dtype;
    s[0] = idx->shape;
    return LMG_OK;
}
