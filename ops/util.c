/* util.c — small helpers shared by the op families' rules: numpy broadcasting of shapes,
 * axis normalisation, and the checks every rule repeats (input dtypes, shape printing). */
#include "ops.h"
#include "../graph/graph.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

lmg_status lmg_op_error(const lmg_node *n, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lmg_error(LMG_ERR_INVALID, "node '%s' (%s): %s", n->name ? n->name : "",
                     lmg_op_name(n->op), msg);
}

char *lmg_op_value_str(const lmg_graph *g, int v, char *buf, size_t size)
{
    char sh[160];
    if (v < 0 || v >= g->n_values) snprintf(buf, size, "(none)");
    else snprintf(buf, size, "'%s' %s", g->values[v].name,
                  lmg_shape_str(&g->values[v].shape, sh, sizeof sh));
    return buf;
}

lmg_status lmg_op_check_input(const lmg_graph *g, const lmg_node *n, int k, unsigned dtypes)
{
    if (k >= n->n_in || n->in[k] < 0) return lmg_op_error(n, "input %d is missing", k);
    if (n->in[k] >= g->n_values) return lmg_op_error(n, "input %d is not a value", k);
    const lmg_value *v = &g->values[n->in[k]];
    if (v->dtype < 0 || v->dtype >= 32 || !(dtypes & LMG_DTYPE_BIT(v->dtype))) {
        char want[64] = "";
        for (int t = 1; t < 32; t++)
            if (dtypes & LMG_DTYPE_BIT(t))
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s",
                         want[0] ? " or " : "", lmg_dtype_name((lmg_dtype)t));
        return lmg_op_error(n, "input %d '%s' is %s, expected %s", k, v->name,
                            lmg_dtype_name(v->dtype), want);
    }
    return LMG_OK;
}

static const char *attr_type_name(int t)
{
    switch (t) {
    case LMG_ATTR_INT: return "int";
    case LMG_ATTR_FLOAT: return "float";
    case LMG_ATTR_STRING: return "string";
    case LMG_ATTR_INTS: return "ints";
    case LMG_ATTR_FLOATS: return "floats";
    default: return "?";
    }
}

lmg_status lmg_op_check_attrs(const lmg_node *n, const char *spec)
{
    for (int a = 0; a < n->n_attr; a++) {
        const lmg_attr *at = &n->attrs[a];
        size_t len = strlen(at->name);
        const char *p = spec;
        int found = 0;
        while (*p) {
            while (*p == ' ') p++;
            const char *colon = strchr(p, ':');
            if (!colon) break;
            if ((size_t)(colon - p) == len && strncmp(p, at->name, len) == 0) {
                char t = colon[1];
                int ok = (t == 'i' && at->type == LMG_ATTR_INT) ||
                         (t == 'f' && (at->type == LMG_ATTR_FLOAT || at->type == LMG_ATTR_INT)) ||
                         (t == 's' && at->type == LMG_ATTR_STRING) ||
                         (t == 'I' && at->type == LMG_ATTR_INTS) ||
                         (t == 'F' && at->type == LMG_ATTR_FLOATS);
                if (!ok)
                    return lmg_op_error(n, "attribute '%s' is %s, expected %s", at->name,
                                        attr_type_name(at->type),
                                        t == 'i' ? "int" : t == 'f' ? "float" : t == 's' ? "string"
                                        : t == 'I' ? "ints" : "floats");
                found = 1;
                break;
            }
            p = colon + 2;
        }
        if (!found) {
            /* List the allowed names without their type letters. */
            char names[256] = "";
            size_t o = 0;
            for (const char *q = spec; *q && o + 1 < sizeof names; q++) {
                if (*q == ':') {
                    while (q[1] && q[1] != ' ') q++;
                    continue;
                }
                names[o++] = *q == ' ' ? ',' : *q;
                if (*q == ' ' && o + 1 < sizeof names) names[o++] = ' ';
            }
            names[o] = 0;
            return lmg_op_error(n, "unknown attribute '%s' (allowed: %s)", at->name,
                                o ? names : "none");
        }
        for (int b = 0; b < a; b++)
            if (strcmp(n->attrs[b].name, at->name) == 0)
                return lmg_op_error(n, "attribute '%s' is given twice", at->name);
    }
    return LMG_OK;
}
