/* matmul.c — rules of MatMul: transpose flags, batch broadcasting, and a gradient that
 * uses the flags instead of Transpose nodes and folds batches into one product when it can. */
#include "ops.h"
#include "../graph/graph.h"

#define F32 LMG_DTYPE_BIT(LMG_DTYPE_F32)

static lmg_status flag(const lmg_node *n, const char *name, int *out)
{
    int64_t v = lmg_node_attr_int(n, name, 0);
    if (v != 0 && v != 1)
        return lmg_op_error(n, "attribute '%s' is %lld, expected 0 or 1", name, (long long)v);
    *out = (int)v;
    return LMG_OK;
}

lmg_status lmg_infer_MATMUL(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    int ta = 0, tb = 0;
    LMG_TRY(lmg_op_check_attrs(n, "trans_a:i trans_b:i"));
    LMG_TRY(flag(n, "trans_a", &ta));
    LMG_TRY(flag(n, "trans_b", &tb));
    LMG_TRY(lmg_op_check_input(g, n, 0, F32));
    LMG_TRY(lmg_op_check_input(g, n, 1, F32));
    const lmg_shape *a = &g->values[n->in[0]].shape, *b = &g->values[n->in[1]].shape;
    char sa[200], sb[200];
    lmg_op_value_str(g, n->in[0], sa, sizeof sa);
    lmg_op_value_str(g, n->in[1], sb, sizeof sb);
    if (a->rank < 2 || b->rank < 2)
        return lmg_op_error(n, "inputs need rank >= 2: a %s, b %s", sa, sb);
    int64_t m = a->dims[a->rank - 2 + ta], ka = a->dims[a->rank - 1 - ta];
    int64_t kb = b->dims[b->rank - 2 + tb], nn = b->dims[b->rank - 1 - tb];
    if (ka != kb)
        return lmg_op_error(n, "inner dims differ: a %s%s vs b %s%s (%lld vs %lld)", sa,
                            ta ? " (transposed)" : "", sb, tb ? " (transposed)" : "",
                            (long long)ka, (long long)kb);
    lmg_shape ba = lmg_shape_make(a->rank - 2, a->dims), bb = lmg_shape_make(b->rank - 2, b->dims);
    if (lmg_broadcast_shapes(&ba, &bb, &s[0]) != LMG_OK)
        return lmg_op_error(n, "batch dims do not broadcast: a %s vs b %s", sa, sb);
    s[0].dims[s[0].rank++] = m;
    s[0].dims[s[0].rank++] = nn;
    t[0] = LMG_DTYPE_F32;
    return LMG_OK;
}

/* y = op(a) op(b) with op(a) [..,M,K], op(b) [..,K,N]:
 *   d op(a) = dy op(b)^T,  d op(b) = op(a)^T dy,
 * and a transposed operand takes the transpose of its gradient; each case below is one
 * MatMul with the right flags. Batched results are summed back to broadcast inputs. */
lmg_status lmg_grad_MATMUL(lmg_grad_ctx *c)
{
    lmg_graph *g = c->g;
    const lmg_node *n = &g->nodes[c->node];
    int a = n->in[0], b = n->in[1], dy = c->dy[0];
    int ta = lmg_node_attr_int(n, "trans_a", 0) != 0, tb = lmg_node_attr_int(n, "trans_b", 0) != 0;
    lmg_shape sa = g->values[a].shape, sb = g->values[b].shape;
    if (dy < 0) return LMG_OK;
    int64_t nn = g->values[dy].shape.dims[g->values[dy].shape.rank - 1];
    if (c->need[0]) {
        int da = !ta ? lmg_matmul(g, dy, b, 0, !tb) : lmg_matmul(g, b, dy, tb, 1);
        c->dx[0] = lmg_sum_to(g, da, sa);
    }
    if (c->need[1]) {
        if (sb.rank == 2 && sa.rank > 2 && !ta) {
            /* A shared 2-D weight: fold every batch row of a and dy into one product
             * instead of a batched product followed by a reduction. */
            int64_t k = sa.dims[sa.rank - 1], rows = lmg_shape_numel(&sa) / (k ? k : 1);
            int a2 = lmg_reshape(g, a, 2, (int64_t[]){rows, k});
            int dy2 = lmg_reshape(g, dy, 2, (int64_t[]){rows, nn});
            c->dx[1] = !tb ? lmg_matmul(g, a2, dy2, 1, 0) : lmg_matmul(g, dy2, a2, 1, 0);
        } else {
            int db = !tb ? lmg_matmul(g, a, dy, !ta, 0) : lmg_matmul(g, dy, a, 1, ta);
            c->dx[1] = lmg_sum_to(g, db, sb);
        }
    }
    return g->status;
}
