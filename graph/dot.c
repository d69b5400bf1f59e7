/* dot.c — a Graphviz picture of a graph: ops as boxes, values as labelled edges, inputs,
 * parameters, constants and state as distinct shapes, gradients and optimizer in colour;
 * nodes grouped into clusters by the scopes of their names, deep scopes collapsed to one box. */
#include "sbuf.h"
#include "graph.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Text inside a DOT "..." string: quotes and backslashes escaped, control characters
 * shown as spaces (a label's own line breaks are the "\n" the caller writes). */
static void sb_esc(lmg_sbuf *b, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            lmg_sbuf_put(b, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            lmg_sbuf_put(b, " ", 1);
        } else {
            lmg_sbuf_put(b, s, 1);
        }
    }
}

static void sb_type(lmg_sbuf *b, const lmg_value *v)
{
    char sh[160];
    lmg_sbuf_printf(b, "%s%s", lmg_dtype_name(v->dtype), lmg_shape_str(&v->shape, sh, sizeof sh));
}

/* Palette, shared with the legend so the two never disagree. */
#define C_INPUT "#cfe2ff"
#define C_PARAM "#c7f0c2"
#define C_CONST "#e6e6e6"
#define C_STATE "#fff1b3"
#define C_OP "#f7f7f7"
#define C_GRAD "#ffd3b0"
#define C_OPT "#e3d0ff"
#define C_OUTPUT "#ffffff"
#define E_GRAD "#d9480f"
#define E_PLAIN "#444444"

static int is_grad_name(const char *s) { return strncmp(s, "grad/", 5) == 0; }

static void source_style(lmg_sbuf *b, const lmg_value *v)
{
    if (v->kind == LMG_VALUE_INPUT)
        lmg_sbuf_printf(b, "shape=ellipse, style=filled, fillcolor=\"%s\"", C_INPUT);
    else if (v->trainable)
        lmg_sbuf_printf(b, "shape=box3d, style=filled, fillcolor=\"%s\"", C_PARAM);
    else if (v->fill == LMG_INIT_ZEROS)
        lmg_sbuf_printf(b, "shape=cylinder, style=filled, fillcolor=\"%s\"", C_STATE);
    else
        lmg_sbuf_printf(b, "shape=note, style=filled, fillcolor=\"%s\"", C_CONST);
}

static const char *source_kind(const lmg_value *v)
{
    if (v->kind == LMG_VALUE_INPUT) return "input";
    if (v->trainable) return "param";
    if (v->fill == LMG_INIT_ZEROS) return "state";
    return "const";
}

/* One table-shaped node, so the legend does not stretch along the graph's ranks. */
static void legend(lmg_sbuf *b)
{
    static const struct {
        const char *colour, *what;
    } rows[] = {
        {C_INPUT, "input (ellipse)"},       {C_PARAM, "parameter (box)"},
        {C_CONST, "constant (note)"},       {C_STATE, "state, zeros (cylinder)"},
        {C_OP, "op: name, node"},           {C_GRAD, "gradient op (grad/ value)"},
        {C_OPT, "optimizer op (in place)"}, {C_OUTPUT, "graph output (octagon)"},
    };
    lmg_sbuf_printf(b, "  legend [shape=plaintext, fontsize=9, label=<<table border=\"0\" "
                 "cellborder=\"1\" cellspacing=\"0\" cellpadding=\"3\">"
                 "<tr><td><b>legend</b></td></tr>");
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        lmg_sbuf_printf(b, "<tr><td bgcolor=\"%s\">%s</td></tr>", rows[i].colour, rows[i].what);
    lmg_sbuf_printf(b, "<tr><td><font color=\"%s\">gradient edge</font></td></tr></table>>];\n", E_GRAD);
}

/* ---- scopes ------------------------------------------------------------------------ */
/* A node's scope comes from its name: every '/'-separated segment but the last, split at
 * '.', then the last segment's '.' parts but its own: "h0.attn.qkv" is in h0 > attn,
 * "grad/h1.mlp.fc/MatMul_3" in grad > h1 > mlp > fc, "adamw/h0.attn.wqkv" in adamw > h0 > attn.
 * So the forward layers, the backward of each and the optimizer fall into separate clusters. */
#define MAX_PARTS 8

typedef struct {
    char *key;      /* the path, components joined by '/' */
    const char *label; /* the last component (points into key) */
    int parent;     /* -1 for the root */
    int depth;      /* components; the root has 0 */
    int ops;        /* nodes in it and below */
    int backward;   /* every node in it is backward or optimizer */
} scope;

typedef struct {
    scope *s;
    int n, cap;
    int *table;     /* open addressing over key hashes; -1 = empty */
    int table_cap;
} scope_set;

static uint32_t hash_str(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* The scope with key s[0..n), created under `parent` when missing; -1 on out-of-memory. */
static int scope_get(scope_set *S, const char *s, size_t n, int parent)
{
    uint32_t h = hash_str(s, n);
    for (int i = (int)(h & (uint32_t)(S->table_cap - 1));; i = (i + 1) & (S->table_cap - 1)) {
        int id = S->table[i];
        if (id < 0) break;
        if (strlen(S->s[id].key) == n && memcmp(S->s[id].key, s, n) == 0) return id;
    }
    if (S->n + 1 > S->table_cap / 2) {
        int cap = S->table_cap * 2;
        int *t = malloc((size_t)cap * sizeof *t);
        if (!t) return -1;
        for (int i = 0; i < cap; i++) t[i] = -1;
        for (int id = 0; id < S->n; id++) {
            uint32_t hh = hash_str(S->s[id].key, strlen(S->s[id].key));
            int i = (int)(hh & (uint32_t)(cap - 1));
            while (t[i] >= 0) i = (i + 1) & (cap - 1);
            t[i] = id;
        }
        free(S->table);
        S->table = t;
        S->table_cap = cap;
    }
    if (S->n == S->cap) {
        int cap = S->cap ? 2 * S->cap : 64;
        scope *ns = realloc(S->s, (size_t)cap * sizeof *ns);
        if (!ns) return -1;
        S->s = ns;
        S->cap = cap;
    }
    char *key = malloc(n + 1);
    if (!key) return -1;
    memcpy(key, s, n);
    key[n] = 0;
    const char *slash = strrchr(key, '/');
    scope *sc = &S->s[S->n];
    *sc = (scope){key, slash ? slash + 1 : key, parent,
                  parent < 0 ? 0 : S->s[parent].depth + 1, 0, 1};
    int i = (int)(h & (uint32_t)(S->table_cap - 1));
    while (S->table[i] >= 0) i = (i + 1) & (S->table_cap - 1);
    S->table[i] = S->n;
    return S->n++;
}

/* The innermost scope of a node named `name` (0, the root, when it has none). */
static int scope_of(scope_set *S, const char *name)
{
    char path[512];
    size_t len = 0;
    int parts = 0, cur = 0;
    const char *p = name;
    while (*p && parts < MAX_PARTS) {
        const char *e = p;
        while (*e && *e != '.' && *e != '/') e++;
        if (!*e) break; /* the node's own part */
        if (e > p) {    /* skip empty components ("a..b", a leading '/') */
            size_t add = (size_t)(e - p) + (len ? 1 : 0);
            if (len + add >= sizeof path) break;
            if (len) path[len++] = '/';
            memcpy(path + len, p, (size_t)(e - p));
            len += (size_t)(e - p);
            cur = scope_get(S, path, len, cur);
            if (cur < 0) return -1;
            parts++;
        }
        p = e + 1;
    }
    return cur;
}

/* A name the builder generated ("Add_12", "MatMul_3''"), which says nothing of its scope. */
static int generated_name(const char *s)
{
    const char *p = s;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) p++;
    if (p == s || *p != '_' || !p[1]) return 0;
    for (p++; *p >= '0' && *p <= '9'; p++) continue;
    while (*p == '\'') p++;
    return *p == 0;
}

static void scopes_free(scope_set *S)
{
    for (int i = 0; i < S->n; i++) free(S->s[i].key);
    free(S->s);
    free(S->table);
}

/* ---- drawing ----------------------------------------------------------------------- */
typedef struct {
    const lmg_graph *g;
    lmg_dot_opts o;
    lmg_sbuf b;
    scope_set S;
    int *producer;         /* per value: its node, or -1 */
    int *consumer;         /* per value: the first drawn node that reads it, or -1 */
    unsigned char *used;   /* per value: read by a drawn node or a drawn output */
    unsigned char *bwd;    /* per node: part of the backward pass or the optimizer */
    int *place;            /* per node: the expanded scope it is drawn in */
    int *box;              /* per node: the collapsed scope standing for it, or -1 */
    uint64_t *edges;       /* edges drawn between boxes, to draw each once */
    int n_edges, edges_cap;
} dot_ctx;

static int expanded(const dot_ctx *d, int s) { return d->o.depth < 0 || d->S.s[s].depth <= d->o.depth; }

static int drawn(const dot_ctx *d, int i) { return !(d->o.forward_only && d->bwd[i]); }

/* Entities are what edges join: node i, box of scope s, source value v. */
static int64_t ent_node(const dot_ctx *d, int i) { return d->box[i] >= 0 ? -1 - (int64_t)d->box[i] : i; }

static void ent_name(const dot_ctx *d, int64_t e, char *buf, size_t n)
{
    if (e >= d->g->n_nodes) snprintf(buf, n, "v%lld", (long long)(e - d->g->n_nodes));
    else if (e >= 0) snprintf(buf, n, "n%lld", (long long)e);
    else snprintf(buf, n, "s%lld", (long long)(-1 - e));
}

/* 1 the first time the edge a -> b is seen (edges touching a box are drawn once). */
static int edge_new(dot_ctx *d, int64_t a, int64_t b)
{
    uint64_t k = ((uint64_t)(a + (int64_t)d->S.n + 1) << 32) ^ (uint64_t)(b + (int64_t)d->S.n + 1);
    if (k == 0) k = 1;
    if (2 * (d->n_edges + 1) > d->edges_cap) {
        int cap = d->edges_cap ? 2 * d->edges_cap : 1024;
        uint64_t *t = calloc((size_t)cap, sizeof *t);
        if (!t) {
            d->b.oom = 1;
            return 0;
        }
        for (int i = 0; i < d->edges_cap; i++)
            if (d->edges[i]) {
                int j = (int)((d->edges[i] * 0x9E3779B97F4A7C15ull) >> 40) & (cap - 1);
                while (t[j]) j = (j + 1) & (cap - 1);
                t[j] = d->edges[i];
            }
        free(d->edges);
        d->edges = t;
        d->edges_cap = cap;
    }
    int j = (int)((k * 0x9E3779B97F4A7C15ull) >> 40) & (d->edges_cap - 1);
    for (; d->edges[j]; j = (j + 1) & (d->edges_cap - 1))
        if (d->edges[j] == k) return 0;
    d->edges[j] = k;
    d->n_edges++;
    return 1;
}

static void draw_source(dot_ctx *d, int v, const char *indent)
{
    const lmg_value *val = &d->g->values[v];
    lmg_sbuf_printf(&d->b, "%s  v%d [label=\"", indent, v);
    sb_esc(&d->b, val->name);
    lmg_sbuf_printf(&d->b, "\\n%s ", source_kind(val));
    sb_type(&d->b, val);
    lmg_sbuf_printf(&d->b, "\", ");
    source_style(&d->b, val);
    lmg_sbuf_printf(&d->b, "];\n");
}

static void draw_node(dot_ctx *d, int i, const char *indent)
{
    const lmg_graph *g = d->g;
    const lmg_node *n = &g->nodes[i];
    int grad = 0, opt = 0;
    for (int k = 0; k < n->n_out; k++) {
        if (n->out[k] >= 0 && n->out[k] < g->n_values && is_grad_name(g->values[n->out[k]].name))
            grad = 1;
        opt |= lmg_op_alias(n->op, k) >= 0;
    }
    lmg_sbuf_printf(&d->b, "%s  n%d [label=\"%s\\n", indent, i, lmg_op_name(n->op));
    sb_esc(&d->b, n->name);
    lmg_sbuf_printf(&d->b, "\", shape=box, style=\"rounded,filled\", fillcolor=\"%s\"];\n",
                    opt ? C_OPT : grad || d->bwd[i] ? C_GRAD : C_OP);
}

static void draw_box(dot_ctx *d, int s, const char *indent)
{
    const scope *sc = &d->S.s[s];
    lmg_sbuf_printf(&d->b, "%s  s%d [label=\"", indent, s);
    sb_esc(&d->b, sc->key);
    lmg_sbuf_printf(&d->b, "\\n%d op%s\", shape=folder, style=filled, fillcolor=\"%s\"];\n",
                    sc->ops, sc->ops == 1 ? "" : "s", sc->backward ? C_GRAD : C_OP);
}

/* Scope s as a cluster (the root as the graph itself): its nodes, sources and collapsed
 * child scopes, then its expanded child scopes, recursively. Linear in nodes per scope. */
static void draw_scope(dot_ctx *d, int s, int **members, int *n_members, int **kids,
                       int *n_kids, int level)
{
    char indent[2 * MAX_PARTS + 2];
    int w = level < MAX_PARTS ? level : MAX_PARTS;
    memset(indent, ' ', (size_t)(2 * w));
    indent[2 * w] = 0;
    if (s > 0) {
        lmg_sbuf_printf(&d->b, "%s  subgraph cluster_%d {\n%s    label=\"", indent, s, indent);
        sb_esc(&d->b, d->S.s[s].label);
        lmg_sbuf_printf(&d->b, "\"; style=\"rounded\"; color=\"%s\";\n",
                        d->S.s[s].backward ? E_GRAD : "#888888");
    }
    char in2[2 * MAX_PARTS + 4];
    snprintf(in2, sizeof in2, "%s%s", indent, s > 0 ? "  " : "");
    for (int k = 0; k < n_members[s]; k++) {
        int m = members[s][k];
        if (m >= d->g->n_nodes) draw_source(d, m - d->g->n_nodes, in2);
        else draw_node(d, m, in2);
    }
    for (int k = 0; k < n_kids[s]; k++) {
        int c = kids[s][k];
        if (expanded(d, c)) draw_scope(d, c, members, n_members, kids, n_kids, level + (s > 0));
        else draw_box(d, c, in2);
    }
    if (s > 0) lmg_sbuf_printf(&d->b, "%s  }\n", indent);
}

static lmg_status dot_prepare(dot_ctx *d)
{
    const lmg_graph *g = d->g;
    size_t nv = (size_t)(g->n_values > 0 ? g->n_values : 1);
    size_t nn = (size_t)(g->n_nodes > 0 ? g->n_nodes : 1);
    d->S.table_cap = 64;
    d->S.table = malloc(64 * sizeof *d->S.table);
    d->producer = malloc(nv * sizeof *d->producer);
    d->consumer = malloc(nv * sizeof *d->consumer);
    d->used = calloc(nv, 1);
    d->bwd = calloc(nn, 1);
    d->place = malloc(nn * sizeof *d->place);
    d->box = malloc(nn * sizeof *d->box);
    if (!d->S.table || !d->producer || !d->consumer || !d->used || !d->bwd || !d->place || !d->box)
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < 64; i++) d->S.table[i] = -1;
    if (scope_get(&d->S, "", 0, -1) != 0) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (int v = 0; v < g->n_values; v++) d->producer[v] = d->consumer[v] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0 && n->out[k] < g->n_values && d->producer[n->out[k]] < 0)
                d->producer[n->out[k]] = i;
    }
    LMG_TRY(lmg_graph_mark_backward(g, d->bwd));
    int *scope_at = malloc(nn * sizeof *scope_at);
    if (!scope_at) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        const char *name = g->nodes[i].name ? g->nodes[i].name : "";
        int s = scope_of(&d->S, name);
        if (s < 0) {
            free(scope_at);
            return lmg_error(LMG_ERR_NOMEM, "out of memory");
        }
        /* A generated name outside any scope joins the scope of its first computed input
         * (the gradient-norm sum after clip/sq/..., say). */
        if (s == 0 && generated_name(name))
            for (int k = 0; k < g->nodes[i].n_in; k++) {
                int v = g->nodes[i].in[k];
                int p = v >= 0 && v < g->n_values ? d->producer[v] : -1;
                if (p >= 0 && p < i) {
                    s = scope_at[p];
                    break;
                }
            }
        scope_at[i] = s;
        if (!drawn(d, i)) continue;
        for (int t = s; t >= 0; t = d->S.s[t].parent) {
            d->S.s[t].ops++;
            if (!d->bwd[i]) d->S.s[t].backward = 0;
        }
        /* Drawn inside the deepest expanded scope; inside a collapsed one, as its box. */
        int place = s, box = -1;
        while (!expanded(d, place)) {
            box = place;
            place = d->S.s[place].parent;
        }
        d->place[i] = place;
        d->box[i] = box;
        const lmg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && n->in[k] < g->n_values) {
                d->used[n->in[k]] = 1;
                if (d->consumer[n->in[k]] < 0) d->consumer[n->in[k]] = i;
            }
    }
    free(scope_at);
    for (int i = 0; i < g->n_outputs; i++) {
        int v = g->outputs[i];
        if (v < 0 || v >= g->n_values) continue;
        if (d->producer[v] >= 0 && !drawn(d, d->producer[v])) continue;
        d->used[v] = 1;
    }
    return LMG_OK;
}

/* The entity a value's edge starts from: its producer (node or box) or its source vertex
 * (or the box that holds its first consumer); -2 when not drawn. */
static int64_t value_from(const dot_ctx *d, int v)
{
    const lmg_graph *g = d->g;
    if (g->values[v].kind != LMG_VALUE_NODE) {
        int c = d->consumer[v];
        if (c >= 0 && d->box[c] >= 0) return ent_node(d, c);
        return d->used[v] ? (int64_t)g->n_nodes + v : -2;
    }
    int p = d->producer[v];
    return p >= 0 && drawn(d, p) ? ent_node(d, p) : -2;
}

/* Edges carry their value as an xlabel, placed after the layout: Graphviz's dot turns every
 * edge `label` into a node of its own in the ranking, which took the 4-layer training step
 * at --depth 3 from 3 s to 31 s. An edge that touches a collapsed box (from an op, another
 * box or a source vertex) is drawn once per pair of ends, unlabelled, however many values
 * cross there. */
static void draw_edges(dot_ctx *d)
{
    const lmg_graph *g = d->g;
    char a[32], b[32];
    for (int i = 0; i < g->n_nodes; i++) {
        if (!drawn(d, i)) continue;
        const lmg_node *n = &g->nodes[i];
        int64_t to = ent_node(d, i);
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v < 0 || v >= g->n_values) continue;
            int64_t from = value_from(d, v);
            if (from == -2 || from == to) continue;
            const lmg_value *val = &g->values[v];
            int grad = is_grad_name(val->name);
            ent_name(d, from, a, sizeof a);
            ent_name(d, to, b, sizeof b);
            if (from >= g->n_nodes && to >= 0) { /* a source vertex to an op */
                lmg_sbuf_printf(&d->b, "  %s -> %s%s;\n", a, b, grad ? " [color=\"" E_GRAD "\"]" : "");
            } else if (from >= 0 && to >= 0) {
                lmg_sbuf_printf(&d->b, "  %s -> %s [xlabel=\"", a, b);
                sb_esc(&d->b, val->name);
                lmg_sbuf_printf(&d->b, "\\n");
                sb_type(&d->b, val);
                lmg_sbuf_printf(&d->b, "\"%s];\n", grad ? ", color=\"" E_GRAD "\", fontcolor=\"" E_GRAD "\"" : "");
            } else if (edge_new(d, from, to)) {
                lmg_sbuf_printf(&d->b, "  %s -> %s%s;\n", a, b, grad ? " [color=\"" E_GRAD "\"]" : "");
            }
        }
    }
    /* Graph outputs as sinks. */
    for (int i = 0; i < g->n_outputs; i++) {
        int v = g->outputs[i];
        if (v < 0 || v >= g->n_values || !d->used[v]) continue;
        const lmg_value *val = &g->values[v];
        int64_t from = value_from(d, v);
        if (from == -2) continue;
        lmg_sbuf_printf(&d->b, "  out%d [label=\"", i);
        sb_esc(&d->b, val->name);
        lmg_sbuf_printf(&d->b, "\", shape=doubleoctagon, style=filled, fillcolor=\"%s\"];\n", C_OUTPUT);
        int grad = is_grad_name(val->name);
        ent_name(d, from, a, sizeof a);
        lmg_sbuf_printf(&d->b, "  %s -> out%d [xlabel=\"", a, i);
        sb_type(&d->b, val);
        lmg_sbuf_printf(&d->b, "\"%s];\n", grad ? ", color=\"" E_GRAD "\", fontcolor=\"" E_GRAD "\"" : "");
    }
}

lmg_status lmg_graph_dot(const lmg_graph *g, const lmg_dot_opts *opts, char **text)
{
    if (!g || !text) return lmg_error(LMG_ERR_ARG, "dot: bad arguments");
    dot_ctx d = {.g = g, .o = {.depth = -1}};
    if (opts) d.o = *opts;
    int **members = NULL, *n_members = NULL, **kids = NULL, *n_kids = NULL;
    lmg_status s = dot_prepare(&d);
    if (s != LMG_OK) goto done;

    /* Who sits where: drawn nodes and source vertices per expanded scope, scopes per parent. */
    int ns = d.S.n;
    members = calloc((size_t)ns, sizeof *members);
    n_members = calloc((size_t)ns, sizeof *n_members);
    kids = calloc((size_t)ns, sizeof *kids);
    n_kids = calloc((size_t)ns, sizeof *n_kids);
    int *cap_m = calloc((size_t)ns, sizeof *cap_m), *cap_k = calloc((size_t)ns, sizeof *cap_k);
    if (!members || !n_members || !kids || !n_kids || !cap_m || !cap_k) {
        free(cap_m);
        free(cap_k);
        s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        goto done;
    }
#define PUSH(arr, n, cap, at, x)                                                      \
    do {                                                                              \
        if (n[at] == cap[at]) {                                                       \
            int c2 = cap[at] ? 2 * cap[at] : 8;                                       \
            int *t = realloc(arr[at], (size_t)c2 * sizeof *t);                        \
            if (!t) { d.b.oom = 1; break; }                                           \
            arr[at] = t;                                                              \
            cap[at] = c2;                                                             \
        }                                                                             \
        arr[at][n[at]++] = (x);                                                       \
    } while (0)
    for (int c = 1; c < ns; c++)
        if (d.S.s[c].ops > 0) PUSH(kids, n_kids, cap_k, d.S.s[c].parent, c);
    for (int v = 0; v < g->n_values; v++) {
        if (g->values[v].kind == LMG_VALUE_NODE || !d.used[v]) continue;
        int c = d.consumer[v];
        if (c >= 0 && d.box[c] >= 0) continue; /* inside a collapsed box */
        PUSH(members, n_members, cap_m, c >= 0 ? d.place[c] : 0, g->n_nodes + v);
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (drawn(&d, i) && d.box[i] < 0) PUSH(members, n_members, cap_m, d.place[i], i);
#undef PUSH
    free(cap_m);
    free(cap_k);

    lmg_sbuf_printf(&d.b, "digraph \"");
    sb_esc(&d.b, g->name);
    /* nslimit=2 bounds dot's network-simplex passes that place nodes across a rank (2 x the
     * nodes iterations, instead of until optimal): on the 4-layer training step that pass
     * took most of the time, 11.5 s of CPU at --depth all against 1.9 s with the bound, for
     * a picture of the same width. */
    lmg_sbuf_printf(&d.b, "\" {\n  rankdir=TB; nslimit=2; labelloc=t; fontname=\"Helvetica\"; "
                          "label=\"");
    sb_esc(&d.b, g->name);
    lmg_sbuf_printf(&d.b, " (%d nodes%s)\";\n", g->n_nodes, d.o.forward_only ? ", forward only" : "");
    lmg_sbuf_printf(&d.b, "  node [fontname=\"Helvetica\", fontsize=10];\n");
    lmg_sbuf_printf(&d.b, "  edge [fontname=\"Helvetica\", fontsize=8, color=\"%s\"];\n", E_PLAIN);
    draw_scope(&d, 0, members, n_members, kids, n_kids, 0);
    draw_edges(&d);
    legend(&d.b);
    lmg_sbuf_printf(&d.b, "}\n");
    if (d.b.oom) s = lmg_error(LMG_ERR_NOMEM, "out of memory drawing graph '%s'", g->name);

done:
    for (int i = 0; members && i < d.S.n; i++) free(members[i]);
    for (int i = 0; kids && i < d.S.n; i++) free(kids[i]);
    free(members);
    free(n_members);
    free(kids);
    free(n_kids);
    scopes_free(&d.S);
    free(d.producer);
    free(d.consumer);
    free(d.used);
    free(d.bwd);
    free(d.place);
    free(d.box);
    free(d.edges);
    if (s != LMG_OK) {
        free(d.b.s);
        return s;
    }
    *text = d.b.s;
    return LMG_OK;
}
