/* attr_check.h — small checks shared by the op rule files: typed attribute reads and input
 * dtype/shape tests whose errors (lmg_op_error) name the node, op and value. */
#ifndef LMG_ATTR_CHECK_H
#define LMG_ATTR_CHECK_H

#include "../graph/graph.h"

#include <math.h>
#include <stdint.h>

/* The value behind input k, or NULL when the optional input is omitted. */
static inline const lmg_value *in_val(const lmg_graph *g, const lmg_node *n, int k)
{
    if (k >= n->n_in || n->in[k] < 0 || n->in[k] >= g->n_values) return NULL;
    return &g->values[n->in[k]];
}

/* An integer attribute; `required` makes absence an error. (Its type is checked against the
 * rule's lmg_op_check_attrs spec first, which admits only LMG_ATTR_INT for an 'i'.) */
static inline lmg_status attr_get_int(const lmg_node *n, const char *name, int required,
                                      int64_t dflt, int64_t *out)
{
    const lmg_attr *a = lmg_node_attr(n, name);
    *out = dflt;
    if (!a) return required ? lmg_op_error(n, "attribute '%s' is required", name) : LMG_OK;
    if (a->type != LMG_ATTR_INT) return lmg_op_error(n, "attribute '%s' must be an integer", name);
    *out = a->i;
    return LMG_OK;
}

/* A float attribute (an integer one is accepted); NaN is always an error. */
static inline lmg_status attr_get_float(const lmg_node *n, const char *name, int required,
                                        double dflt, double *out)
{
    const lmg_attr *a = lmg_node_attr(n, name);
    *out = dflt;
    if (!a) return required ? lmg_op_error(n, "attribute '%s' is required", name) : LMG_OK;
    if (a->type == LMG_ATTR_FLOAT) *out = a->f;
    else if (a->type == LMG_ATTR_INT) *out = (double)a->i;
    else return lmg_op_error(n, "attribute '%s' must be a number", name);
    if (isnan(*out)) return lmg_op_error(n, "attribute '%s' is NaN", name);
    return LMG_OK;
}

/* Input k must be present with dtype t. */
static inline lmg_status want_dtype(const lmg_graph *g, const lmg_node *n, int k, lmg_dtype t,
                                    const char *what)
{
    const lmg_value *v = in_val(g, n, k);
    if (!v) return lmg_op_error(n, "input %d (%s) is missing", k, what);
    if (v->dtype != t)
        return lmg_op_error(n, "input '%s' (%s) is %s, expected %s", v->name, what,
                            lmg_dtype_name(v->dtype), lmg_dtype_name(t));
    return LMG_OK;
}

/* Input k (checked present by want_dtype) must have exactly shape s. */
static inline lmg_status want_shape(const lmg_graph *g, const lmg_node *n, int k,
                                    const lmg_shape *s, const char *what)
{
    const lmg_value *v = in_val(g, n, k);
    if (lmg_shape_equal(&v->shape, s)) return LMG_OK;
    char a[128], b[128];
    return lmg_op_error(n, "input '%s' (%s) has shape %s, expected %s", v->name, what,
                        lmg_shape_str(&v->shape, a, sizeof a), lmg_shape_str(s, b, sizeof b));
}

/* Input k (checked present by want_dtype) must have rank >= r. */
static inline lmg_status want_rank_min(const lmg_graph *g, const lmg_node *n, int k, int r,
                                       const char *what)
{
    const lmg_value *v = in_val(g, n, k);
    if (v->shape.rank >= r) return LMG_OK;
    char a[128];
    return lmg_op_error(n, "input '%s' (%s) has shape %s, needs rank >= %d", v->name, what,
                        lmg_shape_str(&v->shape, a, sizeof a), r);
}

/* Input k must hold exactly one element (a scalar, rank 0 or [1]). */
static inline lmg_status want_scalar(const lmg_graph *g, const lmg_node *n, int k, lmg_dtype t,
                                     const char *what)
{
    LMG_TRY(want_dtype(g, n, k, t, what));
    const lmg_value *v = in_val(g, n, k);
    if (lmg_shape_numel(&v->shape) == 1) return LMG_OK;
    char a[128];
    return lmg_op_error(n, "input '%s' (%s) has shape %s, expected a scalar", v->name, what,
                        lmg_shape_str(&v->shape, a, sizeof a));
}

#endif
