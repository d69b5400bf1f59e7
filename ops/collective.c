/* collective.c — rules of AllReduce, the data-parallel collective: attribute and dtype
 * checks, its shape (that of x), and its gradient (AllReduce of dy, being its own adjoint). */
#include "attr_check.h"
#include "ops.h"

lmg_status lmg_infer_ALL_REDUCE(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                lmg_shape *s)
{
    int64_t mean;
    LMG_TRY(lmg_op_check_attrs(n, "mean:i"));
    LMG_TRY(attr_get_int(n, "mean", 0, 1, &mean));
    if (mean != 0 && mean != 1) return lmg_op_error(n, "mean = %lld must be 0 or 1", (long long)mean);
    LMG_TRY(want_dtype(g, n, 0, LMG_DTYPE_F32, "x"));
    t[0] = LMG_DTYPE_F32;
    s[0] = in_val(g, n, 0)->shape;
    return LMG_OK;
}

/* y_r = c * sum_s x_s on every rank r (c = 1 or 1/N), so dL/dx_s = c * sum_r dy_r: the same
 * collective over the ranks' dy. */
lmg_status lmg_grad_ALL_REDUCE(lmg_grad_ctx *c)
{
    int64_t mean = lmg_node_attr_int(&c->g->nodes[c->node], "mean", 1);
    if (c->dy[0] < 0 || !c->need[0]) return LMG_OK;
    lmg_attr a = lmg_attr_int("mean", mean);
    c->dx[0] = lmg_graph_node(c->g, LMG_OP_ALL_REDUCE, NULL, &c->dy[0], 1, &a, 1, NULL, NULL);
    return c->g->status;
}
