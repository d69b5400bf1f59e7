/* dims.c — named dimensions (`f32[B,T,V]`): the graph's name table, bindings that fix
 * each name's size (with conflicts reported by name and origin), and verification of a graph
 * whose sizes are not bound yet by checking it under two trial bindings. */
#include "graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int valid_name(const char *s)
{
    if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_')) return 0;
    size_t n = 0;
    for (const char *p = s; *p; p++, n++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return 0;
    return n < LMG_DIM_NAME_MAX;
}

int lmg_graph_dim_symbol(lmg_graph *g, const char *name)
{
    if (!valid_name(name)) {
        lmg_error(LMG_ERR_INVALID, "dimension name '%s' is not a letter or '_' followed by "
                                   "letters, digits or '_' (at most %d bytes)",
                  name ? name : "", LMG_DIM_NAME_MAX - 1);
        return -1;
    }
    for (int k = 0; k < g->n_dim_names; k++)
        if (strcmp(g->dim_names[k], name) == 0) return k + 1;
    if (g->n_dim_names == LMG_MAX_DIM_NAMES) {
        lmg_error(LMG_ERR_INVALID, "dimension '%s': a graph may name at most %d dimensions", name,
                  LMG_MAX_DIM_NAMES);
        return -1;
    }
    snprintf(g->dim_names[g->n_dim_names], LMG_DIM_NAME_MAX, "%s", name);
    return ++g->n_dim_names;
}

static int value_symbolic(const lmg_value *v)
{
    for (int i = 0; i < v->shape.rank && i < LMG_MAX_DIMS; i++)
        if (v->dim_sym[i]) return 1;
    return 0;
}

int lmg_graph_is_symbolic(const lmg_graph *g)
{
    for (int v = 0; v < g->n_values; v++)
        if (value_symbolic(&g->values[v])) return 1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int a = 0; a < g->nodes[i].n_attr; a++)
            if (g->nodes[i].attrs[a].type == LMG_ATTR_INT && g->nodes[i].attrs[a].s) return 1;
    return 0;
}

char *lmg_value_type_str(const lmg_graph *g, int v, char *buf, size_t n)
{
    if (!n) return buf;
    buf[0] = 0;
    if (v < 0 || v >= g->n_values) return buf;
    const lmg_value *val = &g->values[v];
    size_t len = (size_t)snprintf(buf, n, "%s[", lmg_dtype_name(val->dtype));
    for (int i = 0; i < val->shape.rank && len < n; i++) {
        int k = val->dim_sym[i];
        const char *sep = i ? "," : "";
        if (k > 0 && k <= g->n_dim_names)
            len += (size_t)snprintf(buf + len, n - len, "%s%s", sep, g->dim_names[k - 1]);
        else if (k != 0)
            len += (size_t)snprintf(buf + len, n - len, "%s?", sep);
        else
            len += (size_t)snprintf(buf + len, n - len, "%s%lld", sep, (long long)val->shape.dims[i]);
    }
    if (len < n) snprintf(buf + len, n - len, "]");
    return buf;
}

lmg_status lmg_graph_check_bound(const lmg_graph *g, const char *what)
{
    if (!lmg_graph_is_symbolic(g)) return LMG_OK;
    char names[LMG_MAX_DIM_NAMES * (LMG_DIM_NAME_MAX + 2) + 8] = "";
    size_t len = 0;
    for (int k = 0; k < g->n_dim_names; k++)
        len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", k ? ", " : "",
                                g->dim_names[k]);
    return lmg_error(LMG_ERR_INVALID,
                     "graph '%s' has named dimensions (%s): %s needs their sizes; bind them "
                     "(link the graph to a model, or give --dims NAME=SIZE,...)",
                     g->name ? g->name : "", names[0] ? names : "?", what);
}

/* ---- bindings ---------------------------------------------------------------------- */

static int find_binding(const lmg_dim_binding *b, const char *name)
{
    for (int i = 0; i < b->n; i++)
        if (strcmp(b->name[i], name) == 0) return i;
    return -1;
}

lmg_status lmg_dim_bind(lmg_dim_binding *b, const char *name, int64_t size, const char *origin)
{
    if (!valid_name(name))
        return lmg_error(LMG_ERR_INVALID, "dimension name '%s' is not valid", name ? name : "");
    if (size < 0 || size > ((int64_t)1 << 40))
        return lmg_error(LMG_ERR_INVALID, "dimension '%s': size %lld is out of range", name,
                         (long long)size);
    int i = find_binding(b, name);
    if (i >= 0) {
        if (b->size[i] == size) return LMG_OK;
        return lmg_error(LMG_ERR_INVALID, "dimension '%s' is %lld from %s but %lld from %s",
                         name, (long long)b->size[i], b->origin[i], (long long)size,
                         origin ? origin : "the caller");
    }
    if (b->n == LMG_MAX_DIM_NAMES)
        return lmg_error(LMG_ERR_INVALID, "more than %d named dimensions", LMG_MAX_DIM_NAMES);
    snprintf(b->name[b->n], sizeof b->name[b->n], "%s", name);
    snprintf(b->origin[b->n], sizeof b->origin[b->n], "%s", origin ? origin : "the caller");
    b->size[b->n++] = size;
    return LMG_OK;
}

lmg_status lmg_dim_unify(lmg_dim_binding *b, const lmg_graph *g, int v, const lmg_shape *actual,
                         const char *origin)
{
    const lmg_value *val = &g->values[v];
    char d[200], a[200];
    lmg_value_type_str(g, v, d, sizeof d);
    lmg_shape_str(actual, a, sizeof a);
    if (!origin) origin = "the given shape";
    if (val->shape.rank != actual->rank)
        return lmg_error(LMG_ERR_INVALID, "'%s' is declared %s, which does not fit %s: rank %d "
                         "vs %s", val->name, d, origin, val->shape.rank, a);
    for (int i = 0; i < val->shape.rank; i++) {
        int k = val->dim_sym[i];
        if (k > 0 && k <= g->n_dim_names)
            LMG_TRY(lmg_dim_bind(b, g->dim_names[k - 1], actual->dims[i], origin));
        else if (k == 0 && val->shape.dims[i] != actual->dims[i])
            return lmg_error(LMG_ERR_INVALID, "'%s' is declared %s, which does not fit %s",
                             val->name, d, origin);
    }
    return LMG_OK;
}

lmg_status lmg_dim_parse(lmg_dim_binding *b, const char *spec)
{
    const char *s = spec ? spec : "";
    while (*s) {
        const char *eq = strchr(s, '='), *end = strchr(s, ',');
        if (!end) end = s + strlen(s);
        char name[LMG_DIM_NAME_MAX];
        if (!eq || eq > end || eq == s || (size_t)(eq - s) >= sizeof name)
            return lmg_error(LMG_ERR_ARG, "dimensions '%s': expected NAME=SIZE[,NAME=SIZE...]",
                             spec);
        memcpy(name, s, (size_t)(eq - s));
        name[eq - s] = 0;
        char *e;
        long long v = strtoll(eq + 1, &e, 10);
        if (e != end || eq + 1 == end || v < 1)
            return lmg_error(LMG_ERR_ARG, "dimensions '%s': size of '%s' is not a number >= 1",
                             spec, name);
        LMG_TRY(lmg_dim_bind(b, name, v, "the command line"));
        s = *end ? end + 1 : end;
    }
    return LMG_OK;
}

lmg_status lmg_graph_bind_dims(lmg_graph *g, const lmg_dim_binding *b)
{
    for (int v = 0; v < g->n_values; v++) {
        lmg_value *val = &g->values[v];
        if (!value_symbolic(val)) continue;
        int unknown = 0;
        for (int i = 0; i < val->shape.rank; i++) {
            int k = val->dim_sym[i];
            if (k < 0 || k > g->n_dim_names) {
                unknown = 1;
                continue;
            }
            if (k == 0) continue;
            int j = find_binding(b, g->dim_names[k - 1]);
            if (j < 0) {
                char d[200];
                return lmg_error(LMG_ERR_INVALID,
                                 "dimension '%s' of '%s' %s is not bound: no input fixes its size",
                                 g->dim_names[k - 1], val->name,
                                 lmg_value_type_str(g, v, d, sizeof d));
            }
        }
        if (unknown && val->kind != LMG_VALUE_NODE)
            return lmg_error(LMG_ERR_INVALID, "'%s': only node outputs may have a '?' dimension",
                             val->name);
        for (int i = 0; i < val->shape.rank; i++) {
            int k = val->dim_sym[i];
            if (k > 0) val->shape.dims[i] = b->size[find_binding(b, g->dim_names[k - 1])];
            val->dim_sym[i] = 0;
        }
        /* A '?' dim is whatever inference says once the sizes are known. */
        if (unknown) {
            val->dtype = LMG_DTYPE_UNDEFINED;
            val->shape = lmg_shape_make(0, NULL);
        }
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int a = 0; a < g->nodes[i].n_attr; a++) {
            lmg_attr *at = &g->nodes[i].attrs[a];
            if (at->type != LMG_ATTR_INT || !at->s) continue;
            int j = find_binding(b, at->s);
            if (j < 0)
                return lmg_error(LMG_ERR_INVALID, "node '%s': attribute %s = %s: dimension '%s' is "
                                 "not bound: no input fixes its size", g->nodes[i].name, at->name,
                                 at->s, at->s);
            at->i = b->size[j];
            free(at->s);
            at->s = NULL;
        }
    g->n_dim_names = 0;
    return LMG_OK;
}

/* ---- verification under trial bindings --------------------------------------------- */

/* Distinct primes per name and per trial, far from the sizes graphs hard-code (1, 2, 8, 64)
 * and small enough that a rank-4 value of them stays far below the element limit. */
static const int64_t trial_size[2][LMG_MAX_DIM_NAMES] = {
    {5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61},
    {67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139},
};

static lmg_status trial(const lmg_graph *g, int t, lmg_graph **out)
{
    lmg_graph *c = lmg_graph_clone(g);
    if (!c) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_dim_binding b;
    memset(&b, 0, sizeof b);
    char sizes[400] = "";
    size_t len = 0;
    for (int k = 0; k < g->n_dim_names; k++) {
        lmg_dim_bind(&b, g->dim_names[k], trial_size[t][k], "a trial");
        if (len < sizeof sizes)
            len += (size_t)snprintf(sizes + len, sizeof sizes - len, "%s%s=%lld", k ? ", " : "",
                                    g->dim_names[k], (long long)trial_size[t][k]);
    }
    lmg_status s = lmg_graph_bind_dims(c, &b);
    if (s == LMG_OK) s = lmg_graph_verify(c);
    if (s != LMG_OK) {
        lmg_graph_free(c);
        return lmg_error_prefix(s, "with the trial sizes %s", sizes);
    }
    *out = c;
    return LMG_OK;
}

lmg_status lmg_graph_verify_symbolic(lmg_graph *g)
{
    for (int v = 0; v < g->n_values; v++) {
        const lmg_value *val = &g->values[v];
        if (val->kind == LMG_VALUE_INIT && value_symbolic(val) && val->fill == LMG_INIT_DATA &&
            val->data)
            return lmg_error(LMG_ERR_INVALID,
                             "initializer '%s' has named dimensions and data; only 'zeros' can "
                             "fill a shape of unknown size", val->name);
    }
    lmg_graph *t0 = NULL, *t1 = NULL;
    LMG_TRY(trial(g, 0, &t0));
    lmg_status s = trial(g, 1, &t1);
    if (s == LMG_OK) s = lmg_graph_toposort(g);
    /* Node outputs take the trials' dtype; a dim is a size when both trials agree, a name
     * when each trial gave that name's trial size, else unknown. */
    for (int v = 0; s == LMG_OK && v < g->n_values; v++) {
        lmg_value *val = &g->values[v];
        if (val->kind != LMG_VALUE_NODE) continue;
        const lmg_value *a = &t0->values[v], *b = &t1->values[v];
        val->dtype = a->dtype;
        val->shape.rank = a->shape.rank;
        for (int i = 0; i < a->shape.rank; i++) {
            int64_t d0 = a->shape.dims[i], d1 = b->shape.dims[i];
            val->shape.dims[i] = 0;
            val->dim_sym[i] = -1;
            if (d0 == d1) {
                val->shape.dims[i] = d0;
                val->dim_sym[i] = 0;
            } else {
                for (int k = 0; k < g->n_dim_names; k++)
                    if (d0 == trial_size[0][k] && d1 == trial_size[1][k]) val->dim_sym[i] = (int8_t)(k + 1);
            }
        }
        for (int i = a->shape.rank; i < LMG_MAX_DIMS; i++) val->dim_sym[i] = 0;
    }
    lmg_graph_free(t0);
    lmg_graph_free(t1);
    return s;
}
