/* registry.c — the op table generated from ops.def, plus weak fallbacks that report a
 * missing rule, so every op is accounted for and a test can name the ones that are not. */
#include "ops.h"
#include "../graph/graph.h"

#include <string.h>

static lmg_status infer_missing(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                lmg_shape *s)
{
    (void)g, (void)t, (void)s;
    return lmg_error(LMG_ERR_UNSUPPORTED, "node '%s': op %s has no shape inference rule",
                     n->name, lmg_op_name(n->op));
}

static lmg_status grad_missing(lmg_grad_ctx *c)
{
    return lmg_error(LMG_ERR_UNSUPPORTED, "node '%s': op %s has no gradient rule",
                     c->g->nodes[c->node].name, lmg_op_name(c->g->nodes[c->node].op));
}

#define LMG_OP(E, N, mi, ma, no, gr)                                                      \
    lmg_status lmg_infer_##E(const lmg_graph *, const lmg_node *, lmg_dtype *, lmg_shape *) \
        __attribute__((weak, alias("infer_missing")));                                    \
    lmg_status lmg_grad_##E(lmg_grad_ctx *) __attribute__((weak, alias("grad_missing")));
#include "ops.def"
#undef LMG_OP

static const lmg_op_info op_table[] = {
#define LMG_OP(E, N, mi, ma, no, gr) \
    [LMG_OP_##E] = {#N, mi, ma, no, lmg_infer_##E, (gr) ? lmg_grad_##E : NULL},
#include "ops.def"
#undef LMG_OP
};
_Static_assert(sizeof op_table / sizeof *op_table == LMG_OP_COUNT, "op_table out of step");

const lmg_op_info *lmg_op_get(lmg_op op)
{
    return (unsigned)op < LMG_OP_COUNT ? &op_table[op] : NULL;
}

const char *lmg_op_name(lmg_op op)
{
    return (unsigned)op < LMG_OP_COUNT ? op_table[op].name : "?";
}

int lmg_op_from_name(const char *name)
{
    for (int i = 0; i < LMG_OP_COUNT; i++)
        if (strcmp(op_table[i].name, name) == 0) return i;
    return -1;
}

int lmg_op_has_rules(lmg_op op)
{
    const lmg_op_info *info = lmg_op_get(op);
    if (!info || info->infer == infer_missing) return 0;
    return info->grad != grad_missing;
}

int lmg_op_alias(lmg_op op, int k)
{
    static const int adamw[3] = {0, 2, 3};
    if (op == LMG_OP_ADAMW && k >= 0 && k < 3) return adamw[k];
    return -1;
}
