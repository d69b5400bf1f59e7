/* graph.c — the in-memory graph: values, nodes, attributes, metadata, the name index and
 * the builder API. Builders record and run shape inference; they never compute values. */
#include "graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_str(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* Sticky failure: the first error wins, later calls just return -1. */
static int fail(lmg_graph *g, lmg_status s)
{
    if (g->status == LMG_OK) g->status = s;
    return -1;
}

lmg_graph *lmg_graph_new(const char *name)
{
    lmg_graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->name = dup_str(name ? name : "main");
    g->producer = dup_str("lmgraph");
    g->ir_version = LMG_IR_VERSION;
    g->opset_version = LMG_OPSET_VERSION;
    if (!g->name || !g->producer) {
        lmg_graph_free(g);
        return NULL;
    }
    return g;
}

static void attr_free(lmg_attr *a)
{
    free(a->name);
    free(a->s);
    free(a->ints);
    free(a->floats);
}

void lmg_graph_free(lmg_graph *g)
{
    if (!g) return;
    for (int i = 0; i < g->n_values; i++) {
        free(g->values[i].name);
        free(g->values[i].data);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        lmg_node *n = &g->nodes[i];
        free(n->name);
        free(n->in);
        free(n->out);
        for (int k = 0; k < n->n_attr; k++) attr_free(&n->attrs[k]);
        free(n->attrs);
    }
    for (int i = 0; i < g->n_meta; i++) {
        free(g->meta[i].key);
        free(g->meta[i].value);
    }
    free(g->values);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g->meta);
    free(g->index);
    free(g->name);
    free(g->producer);
    free(g);
}

/* ---- name index -------------------------------------------------------------------- */

static int index_rebuild(lmg_graph *g, int cap)
{
    int *idx = malloc((size_t)cap * sizeof *idx);
    if (!idx) return -1;
    for (int i = 0; i < cap; i++) idx[i] = -1;
    for (int v = 0; v < g->n_values; v++) {
        uint32_t h = hash_str(g->values[v].name) & (uint32_t)(cap - 1);
        while (idx[h] >= 0) h = (h + 1) & (uint32_t)(cap - 1);
        idx[h] = v;
    }
    free(g->index);
    g->index = idx;
    g->index_cap = cap;
    return 0;
}

/* For passes that rename or drop values in bulk (prune, autodiff): one rebuild at the end. */
lmg_status lmg_graph_reindex(lmg_graph *g)
{
    int cap = 256;
    while (cap < 2 * g->n_values + 2) cap *= 2;
    if (index_rebuild(g, cap) != 0) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    return LMG_OK;
}

int lmg_graph_find(const lmg_graph *g, const char *name)
{
    if (!g || !name || g->index_cap == 0) return -1;
    uint32_t m = (uint32_t)(g->index_cap - 1), h = hash_str(name) & m;
    for (; g->index[h] >= 0; h = (h + 1) & m)
        if (strcmp(g->values[g->index[h]].name, name) == 0) return g->index[h];
    return -1;
}

int lmg_graph_add_value(lmg_graph *g, const char *name, lmg_value_kind kind, lmg_dtype t,
                        lmg_shape s)
{
    if (g->status != LMG_OK) return -1;
    if (!name || !*name)
        return fail(g, lmg_error(LMG_ERR_INVALID, "a value has an empty name"));
    if (s.rank < 0 || s.rank > LMG_MAX_DIMS)
        return fail(g, lmg_error(LMG_ERR_INVALID, "value '%s': rank %d is outside 0..%d",
                                 name, s.rank, LMG_MAX_DIMS));
    /* Bounding the element count, not only each dim, keeps numel * dtype size (formed
     * everywhere a value is allocated) far from overflow. */
    int64_t numel = 1;
    for (int i = 0; i < s.rank; i++) {
        if (s.dims[i] < 0 || s.dims[i] > ((int64_t)1 << 40))
            return fail(g, lmg_error(LMG_ERR_INVALID, "value '%s': dimension %d is %lld",
                                     name, i, (long long)s.dims[i]));
        if (s.dims[i] > 0 && numel > ((int64_t)1 << 40) / s.dims[i])
            return fail(g, lmg_error(LMG_ERR_INVALID, "value '%s': more than 2^40 elements",
                                     name));
        numel *= s.dims[i];
    }
    if (lmg_graph_find(g, name) >= 0)
        return fail(g, lmg_error(LMG_ERR_INVALID, "duplicate value name '%s'", name));
    if (g->n_values == g->cap_values) {
        int cap = g->cap_values ? 2 * g->cap_values : 64;
        lmg_value *v = realloc(g->values, (size_t)cap * sizeof *v);
        if (!v) return fail(g, lmg_error(LMG_ERR_NOMEM, "out of memory adding value '%s'", name));
        g->values = v;
        g->cap_values = cap;
    }
    lmg_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = dup_str(name);
    if (!v->name) return fail(g, lmg_error(LMG_ERR_NOMEM, "out of memory"));
    v->kind = kind;
    v->dtype = t;
    v->shape = s;
    v->producer = -1;
    g->n_values++;
    if (2 * g->n_values > g->index_cap) {
        if (index_rebuild(g, g->index_cap ? 2 * g->index_cap : 256) != 0) {
            g->n_values--;
            free(v->name);
            return fail(g, lmg_error(LMG_ERR_NOMEM, "out of memory"));
        }
    } else {
        uint32_t m = (uint32_t)(g->index_cap - 1), h = hash_str(name) & m;
        while (g->index[h] >= 0) h = (h + 1) & m;
        g->index[h] = g->n_values - 1;
    }
    return g->n_values - 1;
}

lmg_status lmg_graph_rename(lmg_graph *g, int value, const char *name)
{
    if (value < 0 || value >= g->n_values)
        return lmg_error(LMG_ERR_ARG, "rename: no value %d", value);
    if (lmg_graph_find(g, name) >= 0)
        return lmg_error(LMG_ERR_INVALID, "rename: a value named '%s' exists", name);
    char *s = dup_str(name);
    if (!s) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    free(g->values[value].name);
    g->values[value].name = s;
    if (index_rebuild(g, g->index_cap) != 0) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    return LMG_OK;
}

/* ---- inputs, initializers, outputs, metadata ---------------------------------------- */

static int add_list(int **list, int *n, int v)
{
    int *l = realloc(*list, (size_t)(*n + 1) * sizeof *l);
    if (!l) return -1;
    l[(*n)++] = v;
    *list = l;
    return 0;
}

int lmg_graph_input(lmg_graph *g, const char *name, lmg_dtype t, lmg_shape s)
{
    int v = lmg_graph_add_value(g, name, LMG_VALUE_INPUT, t, s);
    if (v < 0) return -1;
    if (add_list(&g->inputs, &g->n_inputs, v) != 0)
        return fail(g, lmg_error(LMG_ERR_NOMEM, "out of memory"));
    return v;
}

static int add_init(lmg_graph *g, const char *name, lmg_dtype t, lmg_shape s, const void *data,
                    int trainable)
{
    int v = lmg_graph_add_value(g, name, LMG_VALUE_INIT, t, s);
    if (v < 0) return -1;
    lmg_value *val = &g->values[v];
    val->trainable = trainable;
    if (!data) {
        val->fill = LMG_INIT_ZEROS;
        return v;
    }
    size_t n = (size_t)lmg_shape_numel(&s) * lmg_dtype_size(t);
    val->fill = LMG_INIT_DATA;
    val->data = malloc(n ? n : 1);
    if (!val->data) return fail(g, lmg_error(LMG_ERR_NOMEM, "out of memory for '%s'", name));
    memcpy(val->data, data, n);
    return v;
}

int lmg_graph_param(lmg_graph *g, const char *name, lmg_dtype t, lmg_shape s, const void *data)
{
    return add_init(g, name, t, s, data, 1);
}

int lmg_graph_const(lmg_graph *g, const char *name, lmg_dtype t, lmg_shape s, const void *data)
{
    return add_init(g, name, t, s, data, 0);
}

static void gen_name(lmg_graph *g, char *buf, size_t n, const char *prefix)
{
    do snprintf(buf, n, "%s%d", prefix, g->name_counter++);
    while (lmg_graph_find(g, buf) >= 0);
}

int lmg_graph_scalar(lmg_graph *g, float v)
{
    char name[64];
    gen_name(g, name, sizeof name, "const/");
    return lmg_graph_const(g, name, LMG_DTYPE_F32, lmg_shape_make(0, NULL), &v);
}

int lmg_graph_scalar_i32(lmg_graph *g, int32_t v)
{
    char name[64];
    gen_name(g, name, sizeof name, "const/");
    return lmg_graph_const(g, name, LMG_DTYPE_I32, lmg_shape_make(0, NULL), &v);
}

lmg_status lmg_graph_add_output(lmg_graph *g, int value)
{
    if (value < 0 || value >= g->n_values)
        return lmg_error(LMG_ERR_ARG, "add_output: no value %d", value);
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == value) return LMG_OK;
    if (add_list(&g->outputs, &g->n_outputs, value) != 0)
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    return LMG_OK;
}

lmg_status lmg_graph_set_meta(lmg_graph *g, const char *key, const char *value)
{
    char *v = dup_str(value);
    if (!v) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->n_meta; i++)
        if (strcmp(g->meta[i].key, key) == 0) {
            free(g->meta[i].value);
            g->meta[i].value = v;
            return LMG_OK;
        }
    lmg_meta *m = realloc(g->meta, (size_t)(g->n_meta + 1) * sizeof *m);
    char *k = dup_str(key);
    if (!m || !k) {
        if (m) g->meta = m;
        free(v);
        free(k);
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    g->meta = m;
    g->meta[g->n_meta].key = k;
    g->meta[g->n_meta].value = v;
    g->n_meta++;
    return LMG_OK;
}

const char *lmg_graph_get_meta(const lmg_graph *g, const char *key)
{
    for (int i = 0; i < g->n_meta; i++)
        if (strcmp(g->meta[i].key, key) == 0) return g->meta[i].value;
    return NULL;
}

/* ---- attributes -------------------------------------------------------------------- */

lmg_attr lmg_attr_int(const char *name, int64_t v)
{
    lmg_attr a = {0};
    a.name = (char *)name;
    a.type = LMG_ATTR_INT;
    a.i = v;
    return a;
}

lmg_attr lmg_attr_float(const char *name, double v)
{
    lmg_attr a = {0};
    a.name = (char *)name;
    a.type = LMG_ATTR_FLOAT;
    a.f = v;
    return a;
}

lmg_attr lmg_attr_string(const char *name, const char *v)
{
    lmg_attr a = {0};
    a.name = (char *)name;
    a.type = LMG_ATTR_STRING;
    a.s = (char *)v;
    return a;
}

lmg_attr lmg_attr_ints(const char *name, int n, const int64_t *v)
{
    lmg_attr a = {0};
    a.name = (char *)name;
    a.type = LMG_ATTR_INTS;
    a.n = n;
    a.ints = (int64_t *)v;
    return a;
}

lmg_attr lmg_attr_floats(const char *name, int n, const double *v)
{
    lmg_attr a = {0};
    a.name = (char *)name;
    a.type = LMG_ATTR_FLOATS;
    a.n = n;
    a.floats = (double *)v;
    return a;
}

/* Deep copy of a caller's attribute (whose pointers are borrowed). */
static int attr_copy(lmg_attr *d, const lmg_attr *s)
{
    *d = *s;
    d->name = dup_str(s->name);
    /* An int attribute may carry a dimension name in s until the graph is bound (dims.c). */
    d->s = s->type == LMG_ATTR_STRING ? dup_str(s->s ? s->s : "")
           : s->type == LMG_ATTR_INT && s->s ? dup_str(s->s) : NULL;
    d->ints = NULL;
    d->floats = NULL;
    if (s->type == LMG_ATTR_INTS && s->n > 0) {
        d->ints = malloc((size_t)s->n * sizeof *d->ints);
        if (d->ints) memcpy(d->ints, s->ints, (size_t)s->n * sizeof *d->ints);
    }
    if (s->type == LMG_ATTR_FLOATS && s->n > 0) {
        d->floats = malloc((size_t)s->n * sizeof *d->floats);
        if (d->floats) memcpy(d->floats, s->floats, (size_t)s->n * sizeof *d->floats);
    }
    int bad = !d->name || (s->type == LMG_ATTR_STRING && !d->s) || (s->s && !d->s) ||
              (s->type == LMG_ATTR_INTS && s->n > 0 && !d->ints) ||
              (s->type == LMG_ATTR_FLOATS && s->n > 0 && !d->floats);
    if (bad) {
        attr_free(d);
        return -1;
    }
    return 0;
}

const lmg_attr *lmg_node_attr(const lmg_node *n, const char *name)
{
    for (int i = 0; i < n->n_attr; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}

int64_t lmg_node_attr_int(const lmg_node *n, const char *name, int64_t dflt)
{
    const lmg_attr *a = lmg_node_attr(n, name);
    return a && a->type == LMG_ATTR_INT ? a->i : dflt;
}

double lmg_node_attr_float(const lmg_node *n, const char *name, double dflt)
{
    const lmg_attr *a = lmg_node_attr(n, name);
    if (a && a->type == LMG_ATTR_FLOAT) return a->f;
    if (a && a->type == LMG_ATTR_INT) return (double)a->i;
    return dflt;
}

const char *lmg_node_attr_string(const lmg_node *n, const char *name, const char *dflt)
{
    const lmg_attr *a = lmg_node_attr(n, name);
    return a && a->type == LMG_ATTR_STRING ? a->s : dflt;
}

/* ---- nodes ------------------------------------------------------------------------- */

lmg_status lmg_graph_append_node(lmg_graph *g, const char *name, lmg_op op, const int *ins,
                                 int n_in, const int *outs, int n_out, const lmg_attr *attrs,
                                 int n_attr)
{
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 64;
        lmg_node *nn = realloc(g->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return lmg_error(LMG_ERR_NOMEM, "out of memory adding node");
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    lmg_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->name = dup_str(name);
    n->in = malloc((size_t)(n_in > 0 ? n_in : 1) * sizeof *n->in);
    n->out = malloc((size_t)(n_out > 0 ? n_out : 1) * sizeof *n->out);
    n->attrs = calloc((size_t)(n_attr > 0 ? n_attr : 1), sizeof *n->attrs);
    int ok = n->name && n->in && n->out && n->attrs;
    for (int k = 0; ok && k < n_attr; k++) {
        if (attr_copy(&n->attrs[k], &attrs[k]) != 0) ok = 0;
        else n->n_attr++;
    }
    if (!ok) {
        free(n->name);
        free(n->in);
        free(n->out);
        for (int k = 0; k < n->n_attr; k++) attr_free(&n->attrs[k]);
        free(n->attrs);
        return lmg_error(LMG_ERR_NOMEM, "out of memory adding node '%s'", name ? name : "");
    }
    if (n_in) memcpy(n->in, ins, (size_t)n_in * sizeof *ins);
    if (n_out) memcpy(n->out, outs, (size_t)n_out * sizeof *outs);
    n->n_in = n_in;
    n->n_out = n_out;
    for (int k = 0; k < n_out; k++)
        if (outs[k] >= 0 && outs[k] < g->n_values) g->values[outs[k]].producer = g->n_nodes;
    g->n_nodes++;
    return LMG_OK;
}

static int graph_node(lmg_graph *g, lmg_op op, const char *name, const int *ins, int n_in,
                      const lmg_attr *attrs, int n_attr, const char *const *out_names, int *outs)
{
    if (g->status != LMG_OK) return -1;
    const lmg_op_info *info = lmg_op_get(op);
    if (!info) return fail(g, lmg_error(LMG_ERR_ARG, "unknown op %d", (int)op));
    char nbuf[256];
    if (!name) {
        do snprintf(nbuf, sizeof nbuf, "%s_%d", info->name, g->name_counter++);
        while (lmg_graph_find(g, nbuf) >= 0);
        name = nbuf;
    }
    if (n_in < info->min_in || n_in > info->max_in)
        return fail(g, lmg_error(LMG_ERR_INVALID, "node '%s' (%s): %d inputs, expected %d..%d",
                                 name, info->name, n_in, info->min_in, info->max_in));
    for (int k = 0; k < n_in; k++)
        if (ins[k] < -1 || ins[k] >= g->n_values || (ins[k] < 0 && k < info->min_in))
            return fail(g, lmg_error(LMG_ERR_INVALID, "node '%s' (%s): input %d is not a value",
                                     name, info->name, k));
    int ids[8];
    if (info->n_out > 8) return fail(g, lmg_error(LMG_ERR_ARG, "too many outputs"));
    for (int k = 0; k < info->n_out; k++) {
        const char *vn = out_names && out_names[k] ? out_names[k] : NULL;
        char *vbuf = NULL;
        if (!vn) {
            /* The node's full name (a fixed buffer cut long names short, and then could
             * not add a prime), with primes appended while the name is taken. */
            size_t cap = strlen(name) + 16;
            vbuf = malloc(cap);
            if (!vbuf) return fail(g, lmg_error(LMG_ERR_NOMEM, "out of memory"));
            if (info->n_out == 1) snprintf(vbuf, cap, "%s", name);
            else snprintf(vbuf, cap, "%s:%d", name, k);
            for (size_t len = strlen(vbuf); lmg_graph_find(g, vbuf) >= 0; len++) {
                if (len + 2 > cap) {
                    char *nb = realloc(vbuf, cap *= 2);
                    if (!nb) {
                        free(vbuf);
                        return fail(g, lmg_error(LMG_ERR_NOMEM, "out of memory"));
                    }
                    vbuf = nb;
                }
                vbuf[len] = '\'';
                vbuf[len + 1] = 0;
            }
            vn = vbuf;
        }
        ids[k] = lmg_graph_add_value(g, vn, LMG_VALUE_NODE, LMG_DTYPE_UNDEFINED,
                                     lmg_shape_make(0, NULL));
        free(vbuf);
        if (ids[k] < 0) return -1;
    }
    lmg_status s = lmg_graph_append_node(g, name, op, ins, n_in, ids, info->n_out, attrs, n_attr);
    if (s != LMG_OK) return fail(g, s);
    const lmg_node *n = &g->nodes[g->n_nodes - 1];
    lmg_dtype t[8];
    lmg_shape sh[8];
    memset(t, 0, sizeof t);
    memset(sh, 0, sizeof sh);
    s = info->infer(g, n, t, sh);
    if (s != LMG_OK) return fail(g, s);
    for (int k = 0; k < info->n_out; k++) {
        g->values[ids[k]].dtype = t[k];
        g->values[ids[k]].shape = sh[k];
        if (outs) outs[k] = ids[k];
    }
    return ids[0];
}

/* The attributes are copied before the node's output values are added: a caller's attribute
 * may borrow memory of g itself (autodiff expands a zero gradient to its parameter's
 * g->values[p].shape.dims), which adding values can move. */
int lmg_graph_node(lmg_graph *g, lmg_op op, const char *name, const int *ins, int n_in,
                   const lmg_attr *attrs, int n_attr, const char *const *out_names, int *outs)
{
    if (g->status != LMG_OK) return -1;
    if (n_attr < 0 || (n_attr > 0 && !attrs))
        return fail(g, lmg_error(LMG_ERR_ARG, "node '%s': bad attribute list", name ? name : "?"));
    lmg_attr *own = calloc((size_t)(n_attr > 0 ? n_attr : 1), sizeof *own);
    int n_own = 0;
    while (own && n_own < n_attr && attr_copy(&own[n_own], &attrs[n_own]) == 0) n_own++;
    int r = own && n_own == n_attr
                ? graph_node(g, op, name, ins, n_in, own, n_attr, out_names, outs)
                : fail(g, lmg_error(LMG_ERR_NOMEM, "out of memory"));
    for (int k = 0; k < n_own; k++) attr_free(&own[k]);
    free(own);
    return r;
}

/* ---- short builders ---------------------------------------------------------------- */

static int node1(lmg_graph *g, lmg_op op, const int *ins, int n, const lmg_attr *a, int na)
{
    return lmg_graph_node(g, op, NULL, ins, n, a, na, NULL, NULL);
}

int lmg_add(lmg_graph *g, int a, int b) { return node1(g, LMG_OP_ADD, (int[]){a, b}, 2, NULL, 0); }
int lmg_sub(lmg_graph *g, int a, int b) { return node1(g, LMG_OP_SUB, (int[]){a, b}, 2, NULL, 0); }
int lmg_mul(lmg_graph *g, int a, int b) { return node1(g, LMG_OP_MUL, (int[]){a, b}, 2, NULL, 0); }
int lmg_div(lmg_graph *g, int a, int b) { return node1(g, LMG_OP_DIV, (int[]){a, b}, 2, NULL, 0); }
int lmg_neg(lmg_graph *g, int x) { return node1(g, LMG_OP_NEG, &x, 1, NULL, 0); }
int lmg_unary(lmg_graph *g, lmg_op op, int x) { return node1(g, op, &x, 1, NULL, 0); }

int lmg_scale(lmg_graph *g, int x, double alpha, double beta)
{
    lmg_attr a[2] = {lmg_attr_float("alpha", alpha), lmg_attr_float("beta", beta)};
    return node1(g, LMG_OP_SCALE, &x, 1, a, beta != 0.0 ? 2 : 1);
}

int lmg_matmul(lmg_graph *g, int a, int b, int trans_a, int trans_b)
{
    lmg_attr at[2];
    int na = 0;
    if (trans_a) at[na++] = lmg_attr_int("trans_a", 1);
    if (trans_b) at[na++] = lmg_attr_int("trans_b", 1);
    return node1(g, LMG_OP_MATMUL, (int[]){a, b}, 2, at, na);
}

int lmg_reshape(lmg_graph *g, int x, int rank, const int64_t *dims)
{
    lmg_attr a = lmg_attr_ints("shape", rank, dims);
    return node1(g, LMG_OP_RESHAPE, &x, 1, &a, 1);
}

int lmg_transpose(lmg_graph *g, int x, int rank, const int64_t *perm)
{
    lmg_attr a = lmg_attr_ints("perm", rank, perm);
    return node1(g, LMG_OP_TRANSPOSE, &x, 1, &a, 1);
}

int lmg_reduce_sum(lmg_graph *g, int x, int n_axes, const int64_t *axes, int keepdims)
{
    lmg_attr a[2] = {lmg_attr_ints("axes", n_axes, axes), lmg_attr_int("keepdims", keepdims)};
    return node1(g, LMG_OP_REDUCE_SUM, &x, 1, a, 2);
}

int lmg_expand(lmg_graph *g, int x, lmg_shape to)
{
    lmg_attr a = lmg_attr_ints("shape", to.rank, to.dims);
    return node1(g, LMG_OP_EXPAND, &x, 1, &a, 1);
}

int lmg_sum_to(lmg_graph *g, int x, lmg_shape to)
{
    if (g->status != LMG_OK || x < 0) return -1;
    lmg_shape from = g->values[x].shape;
    if (lmg_shape_equal(&from, &to)) return x;
    /* Broadcasting aligns trailing dims: sum the leading extra dims and every dim where
     * `to` has 1 but `from` does not, keeping dims, then reshape to `to`. */
    int64_t axes[LMG_MAX_DIMS];
    int n = 0, lead = from.rank - to.rank;
    if (lead < 0)
        return fail(g, lmg_error(LMG_ERR_INVALID, "sum_to: rank %d to rank %d", from.rank, to.rank));
    for (int i = 0; i < from.rank; i++)
        if (i < lead || (to.dims[i - lead] == 1 && from.dims[i] != 1)) axes[n++] = i;
    int r = n ? lmg_reduce_sum(g, x, n, axes, 1) : x;
    return lmg_reshape(g, r, to.rank, to.dims);
}
