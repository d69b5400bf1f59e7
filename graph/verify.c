/* verify.c — the graph verifier (names, arity, producers, order, cycles, dtype/shape by
 * re-inference, attributes, in-place updates) and the stable topological sort. */
#include "graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The most elements one value may hold; far beyond any real model, small enough that a
 * byte count never overflows. */
#define MAX_NUMEL ((int64_t)1 << 40)

static const char *kind_name(lmg_value_kind k)
{
    switch (k) {
    case LMG_VALUE_INPUT: return "a graph input";
    case LMG_VALUE_INIT: return "an initializer";
    default: return "a node output";
    }
}

/* ---- dependency edges -------------------------------------------------------------- */

/* Node j depends on node i when j reads a value i produces, and also when i reads a value
 * that j overwrites in place (an aliased output: every reader of the old contents must run
 * before the update). Edges are kept as adjacency lists i -> j. */
typedef struct {
    int n;
    int *start, *to; /* CSR: successors of i are to[start[i] .. start[i+1]) */
} edges;

static void edges_free(edges *e)
{
    free(e->start);
    free(e->to);
}

/* For each value: the node that overwrites it in place, or -1. */
static lmg_status alias_writers(const lmg_graph *g, int **out)
{
    int *w = malloc((size_t)(g->n_values > 0 ? g->n_values : 1) * sizeof *w);
    if (!w) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (int v = 0; v < g->n_values; v++) w[v] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_out; k++) {
            int a = lmg_op_alias(n->op, k);
            if (a >= 0 && a < n->n_in && n->in[a] >= 0) w[n->in[a]] = i;
        }
    }
    *out = w;
    return LMG_OK;
}

/* Visit every edge (from, to) of the dependency relation; `emit` is called twice per build
 * (count, then fill). Producers must be current. */
static void for_each_edge(const lmg_graph *g, const int *writer,
                          void (*emit)(void *, int, int), void *ctx)
{
    for (int j = 0; j < g->n_nodes; j++) {
        const lmg_node *n = &g->nodes[j];
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v < 0) continue;
            int p = g->values[v].producer;
            if (p >= 0) emit(ctx, p, j);
            if (writer[v] >= 0 && writer[v] != j) emit(ctx, j, writer[v]);
        }
    }
}

typedef struct {
    edges *e;
    int *fill;
} edge_build;

static void count_edge(void *ctx, int from, int to)
{
    (void)to;
    ((edge_build *)ctx)->e->start[from + 1]++;
}

static void put_edge(void *ctx, int from, int to)
{
    edge_build *b = ctx;
    b->e->to[b->fill[from]++] = to;
}

static lmg_status edges_build(const lmg_graph *g, edges *e)
{
    int *writer;
    LMG_TRY(alias_writers(g, &writer));
    e->n = g->n_nodes;
    e->start = calloc((size_t)g->n_nodes + 1, sizeof *e->start);
    e->to = NULL;
    int *fill = NULL;
    edge_build b = {e, NULL};
    if (!e->start) goto nomem;
    for_each_edge(g, writer, count_edge, &b);
    for (int i = 0; i < g->n_nodes; i++) e->start[i + 1] += e->start[i];
    e->to = malloc((size_t)(e->start[g->n_nodes] > 0 ? e->start[g->n_nodes] : 1) * sizeof *e->to);
    fill = malloc((size_t)(g->n_nodes > 0 ? g->n_nodes : 1) * sizeof *fill);
    if (!e->to || !fill) goto nomem;
    memcpy(fill, e->start, (size_t)g->n_nodes * sizeof *fill);
    b.fill = fill;
    for_each_edge(g, writer, put_edge, &b);
    free(fill);
    free(writer);
    return LMG_OK;
nomem:
    free(fill);
    free(writer);
    edges_free(e);
    return lmg_error(LMG_ERR_NOMEM, "out of memory");
}

/* ---- topological sort -------------------------------------------------------------- */

/* A binary min-heap of node indices: Kahn's algorithm always takes the ready node that
 * came first, so an already sorted graph keeps its order and a shuffled one moves as
 * little as possible. */
static void heap_push(int *h, int *n, int v)
{
    int i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static int heap_pop(int *h, int *n)
{
    int top = h[0], last = h[--*n], i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (last <= h[c]) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

/* Find one cycle among the nodes Kahn could not place and describe it. */
static lmg_status report_cycle(const lmg_graph *g, const edges *e, const int *indeg)
{
    /* Walk backwards: from a stuck node, step to a stuck predecessor; with finitely many
     * nodes the walk repeats, and the repeated stretch is a cycle. Predecessors come from
     * the forward lists, so build the reverse view on the fly. */
    int n = g->n_nodes;
    int *pred = malloc((size_t)n * sizeof *pred), *seen = malloc((size_t)n * sizeof *seen);
    if (!pred || !seen) {
        free(pred);
        free(seen);
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) pred[i] = -1, seen[i] = -1;
    for (int i = 0; i < n; i++)
        if (indeg[i] > 0)
            for (int k = e->start[i]; k < e->start[i + 1]; k++)
                if (indeg[e->to[k]] > 0 && pred[e->to[k]] < 0) pred[e->to[k]] = i;
    int cur = 0;
    while (cur < n && indeg[cur] == 0) cur++;
    int step = 0;
    while (cur >= 0 && seen[cur] < 0) {
        seen[cur] = step++;
        cur = pred[cur];
    }
    char msg[768] = "";
    size_t len = 0;
    if (cur >= 0) {
        /* The cycle, walked backwards, is cur <- pred[cur] <- ...; print it forwards. */
        int len_c = 0, *cyc = malloc((size_t)n * sizeof *cyc);
        if (cyc) {
            int c = cur;
            do {
                cyc[len_c++] = c;
                c = pred[c];
            } while (c != cur && len_c < n);
            for (int i = len_c - 1; i >= -1 && len < sizeof msg - 40; i--) {
                int node = i >= 0 ? cyc[i] : cyc[len_c - 1];
                len += (size_t)snprintf(msg + len, sizeof msg - len, "%s'%s'",
                                        i == len_c - 1 ? "" : " -> ", g->nodes[node].name);
            }
            if (len >= sizeof msg - 40) snprintf(msg + len, sizeof msg - len, " ...");
            free(cyc);
        }
    }
    free(pred);
    free(seen);
    return lmg_error(LMG_ERR_INVALID, "cycle among nodes: %s", msg[0] ? msg : "(unknown)");
}

/* Producers from the node list (no checks: verify does those first). */
static void set_producers(lmg_graph *g)
{
    for (int v = 0; v < g->n_values; v++) g->values[v].producer = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_out; k++) {
            int v = g->nodes[i].out[k];
            if (v >= 0 && v < g->n_values && g->values[v].producer < 0) g->values[v].producer = i;
        }
}

/* Sort with precomputed edges; *changed = 1 when the order moved. */
static lmg_status sort_nodes(lmg_graph *g, const edges *e, int *changed)
{
    int n = g->n_nodes;
    *changed = 0;
    if (n == 0) return LMG_OK;
    int *indeg = calloc((size_t)n, sizeof *indeg), *heap = malloc((size_t)n * sizeof *heap);
    int *order = malloc((size_t)n * sizeof *order);
    lmg_node *sorted = NULL;
    lmg_status s = LMG_OK;
    if (!indeg || !heap || !order) {
        s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int k = 0; k < e->start[n]; k++) indeg[e->to[k]]++;
    int hn = 0, placed = 0;
    for (int i = 0; i < n; i++)
        if (indeg[i] == 0) heap_push(heap, &hn, i);
    while (hn > 0) {
        int i = heap_pop(heap, &hn);
        order[placed++] = i;
        for (int k = e->start[i]; k < e->start[i + 1]; k++)
            if (--indeg[e->to[k]] == 0) heap_push(heap, &hn, e->to[k]);
    }
    if (placed < n) {
        s = report_cycle(g, e, indeg);
        goto done;
    }
    for (int i = 0; i < n; i++)
        if (order[i] != i) *changed = 1;
    if (!*changed) goto done;
    sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted) {
        s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) sorted[i] = g->nodes[order[i]];
    memcpy(g->nodes, sorted, (size_t)n * sizeof *sorted);
    set_producers(g);
done:
    free(indeg);
    free(heap);
    free(order);
    free(sorted);
    return s;
}

/* Structural checks toposort needs before it can trust the node lists. */
static lmg_status check_refs(const lmg_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] < -1 || n->in[k] >= g->n_values)
                return lmg_error(LMG_ERR_INVALID, "node '%s': input %d refers to no value (id %d)",
                                 n->name ? n->name : "", k, n->in[k]);
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] < 0 || n->out[k] >= g->n_values)
                return lmg_error(LMG_ERR_INVALID, "node '%s': output %d refers to no value (id %d)",
                                 n->name ? n->name : "", k, n->out[k]);
    }
    return LMG_OK;
}

lmg_status lmg_graph_toposort(lmg_graph *g)
{
    LMG_TRY(check_refs(g));
    set_producers(g);
    edges e;
    LMG_TRY(edges_build(g, &e));
    int changed;
    lmg_status s = sort_nodes(g, &e, &changed);
    edges_free(&e);
    return s;
}

/* ---- verification ------------------------------------------------------------------ */

/* A small open-addressing set of strings, for node-name uniqueness. */
static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static lmg_status check_node_names(const lmg_graph *g)
{
    int cap = 16;
    while (cap < 2 * g->n_nodes) cap *= 2;
    int *slot = malloc((size_t)cap * sizeof *slot);
    if (!slot) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < cap; i++) slot[i] = -1;
    lmg_status s = LMG_OK;
    for (int i = 0; i < g->n_nodes && s == LMG_OK; i++) {
        const char *name = g->nodes[i].name;
        if (!name || !*name) {
            s = lmg_error(LMG_ERR_INVALID, "node #%d (%s) has an empty name", i,
                          lmg_op_name(g->nodes[i].op));
            break;
        }
        uint32_t h = hash_str(name) & (uint32_t)(cap - 1);
        for (; slot[h] >= 0; h = (h + 1) & (uint32_t)(cap - 1))
            if (strcmp(g->nodes[slot[h]].name, name) == 0) {
                s = lmg_error(LMG_ERR_INVALID, "two nodes are named '%s' (#%d and #%d)", name,
                              slot[h], i);
                break;
            }
        slot[h] = i;
    }
    free(slot);
    return s;
}

static lmg_status check_values(const lmg_graph *g)
{
    for (int v = 0; v < g->n_values; v++) {
        const lmg_value *val = &g->values[v];
        if (!val->name || !*val->name)
            return lmg_error(LMG_ERR_INVALID, "value #%d has an empty name", v);
        if (lmg_graph_find(g, val->name) != v)
            return lmg_error(LMG_ERR_INVALID, "duplicate value name '%s'", val->name);
        if (val->shape.rank < 0 || val->shape.rank > LMG_MAX_DIMS)
            return lmg_error(LMG_ERR_INVALID, "value '%s': rank %d is outside 0..%d", val->name,
                             val->shape.rank, LMG_MAX_DIMS);
        int64_t numel = 1;
        for (int i = 0; i < val->shape.rank; i++) {
            int64_t d = val->shape.dims[i];
            if (d < 0 || d > MAX_NUMEL || (d > 0 && numel > MAX_NUMEL / d))
                return lmg_error(LMG_ERR_INVALID, "value '%s': shape %s is negative or too large",
                                 val->name, lmg_shape_str(&val->shape, (char[160]){0}, 160));
            numel *= d;
        }
        if (val->kind != LMG_VALUE_NODE) {
            if (lmg_dtype_size(val->dtype) == 0)
                return lmg_error(LMG_ERR_INVALID, "value '%s': dtype %s is not a data type",
                                 val->name, lmg_dtype_name(val->dtype));
        }
        if (val->kind == LMG_VALUE_INIT && val->fill == LMG_INIT_DATA && !val->data && numel > 0)
            return lmg_error(LMG_ERR_INVALID, "initializer '%s' has no data", val->name);
        if (val->kind != LMG_VALUE_NODE && val->kind != LMG_VALUE_INPUT &&
            val->kind != LMG_VALUE_INIT)
            return lmg_error(LMG_ERR_INVALID, "value '%s': unknown kind %d", val->name,
                             (int)val->kind);
    }
    /* Marks, not a scan of the earlier inputs: a graph of many inputs stays linear. */
    unsigned char *listed = calloc((size_t)g->n_values + 1, 1);
    if (!listed) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status s = LMG_OK;
    for (int i = 0; i < g->n_inputs && s == LMG_OK; i++) {
        int v = g->inputs[i];
        if (v < 0 || v >= g->n_values || g->values[v].kind != LMG_VALUE_INPUT)
            s = lmg_error(LMG_ERR_INVALID, "graph input #%d is not an input value", i);
        else if (listed[v]++)
            s = lmg_error(LMG_ERR_INVALID, "graph input '%s' is listed twice", g->values[v].name);
    }
    free(listed);
    return s;
}

static lmg_status check_node_shape(const lmg_graph *g, const lmg_node *n)
{
    const lmg_op_info *info = lmg_op_get(n->op);
    if (!info)
        return lmg_error(LMG_ERR_INVALID, "node '%s': unknown op number %d", n->name, (int)n->op);
    if (n->n_in < info->min_in || n->n_in > info->max_in) {
        if (info->min_in == info->max_in)
            return lmg_error(LMG_ERR_INVALID, "node '%s' (%s): %d inputs, expects %d", n->name,
                             info->name, n->n_in, info->min_in);
        return lmg_error(LMG_ERR_INVALID, "node '%s' (%s): %d inputs, expects %d to %d", n->name,
                         info->name, n->n_in, info->min_in, info->max_in);
    }
    if (n->n_out != info->n_out)
        return lmg_error(LMG_ERR_INVALID, "node '%s' (%s): %d outputs, expects %d", n->name,
                         info->name, n->n_out, info->n_out);
    for (int k = 0; k < info->min_in; k++)
        if (n->in[k] < 0)
            return lmg_error(LMG_ERR_INVALID, "node '%s' (%s): input %d is required but omitted",
                             n->name, info->name, k);
    for (int a = 0; a < n->n_attr; a++) {
        const lmg_attr *at = &n->attrs[a];
        if (!at->name || !*at->name)
            return lmg_error(LMG_ERR_INVALID, "node '%s' (%s): attribute #%d has an empty name",
                             n->name, info->name, a);
        if (at->type < LMG_ATTR_INT || at->type > LMG_ATTR_FLOATS)
            return lmg_error(LMG_ERR_INVALID, "node '%s' (%s): attribute '%s' has no value",
                             n->name, info->name, at->name);
        if ((at->type == LMG_ATTR_INTS || at->type == LMG_ATTR_FLOATS) && at->n < 0)
            return lmg_error(LMG_ERR_INVALID, "node '%s' (%s): attribute '%s' has length %d",
                             n->name, info->name, at->name, at->n);
        for (int b = 0; b < a; b++)
            if (strcmp(n->attrs[b].name, at->name) == 0)
                return lmg_error(LMG_ERR_INVALID, "node '%s' (%s): attribute '%s' is given twice",
                                 n->name, info->name, at->name);
    }
    return LMG_OK;
}

/* Every value has at most one producer, and only node outputs are produced. */
static lmg_status check_producers(lmg_graph *g)
{
    for (int v = 0; v < g->n_values; v++) g->values[v].producer = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_out; k++) {
            lmg_value *val = &g->values[n->out[k]];
            if (val->kind != LMG_VALUE_NODE)
                return lmg_error(LMG_ERR_INVALID,
                                 "node '%s' (%s): output '%s' is %s, which no node may produce",
                                 n->name, lmg_op_name(n->op), val->name, kind_name(val->kind));
            if (val->producer >= 0)
                return lmg_error(LMG_ERR_INVALID, "value '%s' is produced by both node '%s' and node '%s'",
                                 val->name, g->nodes[val->producer].name, n->name);
            val->producer = i;
        }
    }
    return LMG_OK;
}

static lmg_status check_uses(const lmg_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v >= 0 && g->values[v].kind == LMG_VALUE_NODE && g->values[v].producer < 0) {
                const char *near = lmg_graph_nearest_value(g, g->values[v].name);
                return lmg_error(LMG_ERR_INVALID,
                                 "node '%s' (%s): input '%s' is missing: no node produces it and "
                                 "it is not a graph input or initializer%s%s%s",
                                 n->name, lmg_op_name(n->op), g->values[v].name,
                                 near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
            }
        }
    }
    /* Marks, not a scan of the earlier outputs: a graph of many outputs stays linear. */
    unsigned char *listed = calloc((size_t)g->n_values + 1, 1);
    if (!listed) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status s = LMG_OK;
    for (int i = 0; i < g->n_outputs && s == LMG_OK; i++) {
        int v = g->outputs[i];
        if (v < 0 || v >= g->n_values)
            s = lmg_error(LMG_ERR_INVALID, "graph output #%d refers to no value", i);
        else if (g->values[v].kind == LMG_VALUE_NODE && g->values[v].producer < 0)
            s = lmg_error(LMG_ERR_INVALID,
                          "graph output '%s' names nothing: no node produces it and it is not "
                          "a graph input or initializer", g->values[v].name);
        else if (listed[v]++)
            s = lmg_error(LMG_ERR_INVALID, "graph output '%s' is listed twice", g->values[v].name);
    }
    free(listed);
    return s;
}

/* An aliased output is written over its input's buffer, so that input must be state the
 * graph owns (an initializer), written by one node only, with matching dtype and shape. */
static lmg_status check_aliases(const lmg_graph *g)
{
    int *writer;
    LMG_TRY(alias_writers(g, &writer));
    for (int v = 0; v < g->n_values; v++) writer[v] = -1;
    lmg_status s = LMG_OK;
    for (int i = 0; i < g->n_nodes && s == LMG_OK; i++) {
        const lmg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_out && s == LMG_OK; k++) {
            int a = lmg_op_alias(n->op, k);
            if (a < 0 || a >= n->n_in || n->in[a] < 0) continue;
            const lmg_value *in = &g->values[n->in[a]];
            if (in->kind != LMG_VALUE_INIT)
                s = lmg_error(LMG_ERR_INVALID,
                              "node '%s' (%s): output %d overwrites input '%s' in place, which "
                              "must be an initializer but is %s",
                              n->name, lmg_op_name(n->op), k, in->name, kind_name(in->kind));
            else if (writer[n->in[a]] >= 0)
                s = lmg_error(LMG_ERR_INVALID, "initializer '%s' is overwritten in place by both "
                              "node '%s' and node '%s'", in->name,
                              g->nodes[writer[n->in[a]]].name, n->name);
            writer[n->in[a]] = i;
        }
    }
    free(writer);
    return s;
}

static lmg_status check_inference(lmg_graph *g)
{
    lmg_dtype t[8];
    lmg_shape sh[8];
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        const lmg_op_info *info = lmg_op_get(n->op);
        if (info->n_out > 8)
            return lmg_error(LMG_ERR_INVALID, "node '%s': too many outputs", n->name);
        memset(t, 0, sizeof t);
        memset(sh, 0, sizeof sh);
        lmg_status s = info->infer(g, n, t, sh);
        if (s != LMG_OK) return s;
        for (int k = 0; k < n->n_out; k++) {
            lmg_value *v = &g->values[n->out[k]];
            if (v->dtype == LMG_DTYPE_UNDEFINED) {
                /* No stored type (value_info is optional): take the inferred one. */
                v->dtype = t[k];
                v->shape = sh[k];
                continue;
            }
            if (v->dtype != t[k] || !lmg_shape_equal(&v->shape, &sh[k])) {
                char a[160], b[160];
                return lmg_error(LMG_ERR_INVALID,
                                 "node '%s' (%s): output '%s' is declared %s%s but infers as %s%s",
                                 n->name, info->name, v->name, lmg_dtype_name(v->dtype),
                                 lmg_shape_str(&v->shape, a, sizeof a), lmg_dtype_name(t[k]),
                                 lmg_shape_str(&sh[k], b, sizeof b));
            }
        }
    }
    return LMG_OK;
}

lmg_status lmg_graph_verify(lmg_graph *g)
{
    if (!g) return lmg_error(LMG_ERR_ARG, "verify: no graph");
    if (g->status != LMG_OK)
        return lmg_error(g->status, "graph '%s': a builder call failed earlier (%s)",
                         g->name ? g->name : "", lmg_status_name(g->status));
    /* Sizes given by name are checked under trial sizes (graph/dims.c). */
    if (lmg_graph_is_symbolic(g)) return lmg_graph_verify_symbolic(g);
    LMG_TRY(check_values(g));
    LMG_TRY(check_node_names(g));
    LMG_TRY(check_refs(g));
    for (int i = 0; i < g->n_nodes; i++) LMG_TRY(check_node_shape(g, &g->nodes[i]));
    LMG_TRY(check_producers(g));
    LMG_TRY(check_uses(g));
    LMG_TRY(check_aliases(g));
    edges e;
    LMG_TRY(edges_build(g, &e));
    int changed;
    lmg_status s = sort_nodes(g, &e, &changed);
    edges_free(&e);
    LMG_TRY(s);
    return check_inference(g);
}
