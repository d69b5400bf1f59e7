/* registry.c — the op table generated from ops.def, with a size check around every inference
 * rule. Every rule is referenced by name, so an op without one fails the link. */
#include "ops.h"
#include "../graph/graph.h"

#include <string.h>

/* The most elements one value may hold, as in graph/verify.c: far beyond any real model, and
 * small enough that element and byte counts never overflow. */
#define MAX_NUMEL ((int64_t)1 << 40)

/* 1 when s has a rank in 0..LMG_MAX_DIMS, no negative dim and at most MAX_NUMEL elements. */
static int shape_ok(const lmg_shape *s)
{
    if (s->rank < 0 || s->rank > LMG_MAX_DIMS) return 0;
    int64_t numel = 1;
    for (int i = 0; i < s->rank; i++) {
        int64_t d = s->dims[i];
        if (d < 0 || d > MAX_NUMEL || (d > 0 && numel > MAX_NUMEL / d)) return 0;
        numel *= d;
    }
    return 1;
}

/* Every rule runs between two checks: of its inputs (a node appended by a loader or a
 * builder input is not verified yet: a required input may be missing, a shape too large) and
 * of its outputs (broadcasting, Expand, SliceGrad or EmbeddingGrad attributes can ask for any
 * size). So no rule reads an absent input, and no rule, kernel or planner multiplies dims
 * past int64. */
static lmg_status infer_checked(lmg_infer_fn rule, int min_in, int n_out, const lmg_graph *g,
                                const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    char sh[200];
    if (n->n_in < min_in)
        return lmg_op_error(n, "%d inputs, expected at least %d", n->n_in, min_in);
    for (int k = 0; k < n->n_in; k++) {
        int v = n->in[k];
        if (v < 0 && k < min_in) return lmg_op_error(n, "input %d is required but omitted", k);
        if (v < 0) continue; /* an omitted optional input: the rule decides */
        if (v >= g->n_values) return lmg_op_error(n, "input %d is not a value", k);
        if (!shape_ok(&g->values[v].shape))
            return lmg_op_error(n, "input %d %s has a negative dim or more than 2^40 elements", k,
                                lmg_op_value_str(g, v, sh, sizeof sh));
    }
    LMG_TRY(rule(g, n, t, s));
    for (int k = 0; k < n_out; k++)
        if (!shape_ok(&s[k]))
            return lmg_op_error(n, "output %d would have shape %s, more than 2^40 elements", k,
                                lmg_shape_str(&s[k], sh, sizeof sh));
    return LMG_OK;
}

#define LMG_OP(E, N, mi, ma, no, gr)                                                         \
    static lmg_status infer_checked_##E(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, \
                                        lmg_shape *s)                                       \
    {                                                                                        \
        return infer_checked(lmg_infer_##E, mi, no, g, n, t, s);                             \
    }
#include "ops.def"
#undef LMG_OP

static const lmg_op_info op_table[] = {
#define LMG_OP(E, N, mi, ma, no, gr)                          \
    [LMG_OP_##E] = {#N, mi, ma, no, (gr), infer_checked_##E, \
                    ((gr) & LMG_GRAD) ? lmg_grad_##E : NULL},
#include "ops.def"
#undef LMG_OP
};
_Static_assert(sizeof op_table / sizeof *op_table == LMG_OP_COUNT, "op_table out of step");

const lmg_op_info *lmg_op_get(lmg_op op)
{
    return (unsigned)op < LMG_OP_COUNT ? &op_table[op] : NULL;
}

int lmg_op_is(lmg_op op, unsigned flags)
{
    const lmg_op_info *info = lmg_op_get(op);
    return info && (info->flags & flags) == flags;
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
    if (!info || !info->infer) return 0;
    switch (op) {
#define LMG_OP(E, N, mi, ma, no, gr) \
    case LMG_OP_##E: return (info->grad != NULL) == !!((gr) & LMG_GRAD);
#include "ops.def"
#undef LMG_OP
    default: return 0;
    }
}

int lmg_op_alias(lmg_op op, int k)
{
    static const int adamw[3] = {0, 2, 3};
    if (op == LMG_OP_ADAMW && k >= 0 && k < 3) return adamw[k];
    return -1;
}
