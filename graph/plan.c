/* plan.c — the memory planner: liveness over the node order, regions for parameters,
 * gradients, optimizer state, constants and inputs, and offsets in one reusable arena. */
#include "plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Storage is shared in groups: a group's root owns the bytes, every other member (an
 * in-place output, an AdamW output, a Reshape view) has alias[] = root. */
typedef struct planner {
    const lmg_graph *g;
    lmg_plan *p;
    size_t align;
    int keep_all;
    int *gfirst, *glast;          /* per root: union of the members' lifetimes */
    unsigned char *no_view;       /* per value: a Reshape that must copy (found by a conflict) */
    unsigned char *fixed;         /* per value: region decided before aliasing (GRADS) */
    int *adam_m, *adam_v;         /* per parameter: its AdamW moments, or -1 */
    struct item *items;           /* arena packing: one per storage group in the arena */
    int n_items;
} planner;

static size_t round_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

static size_t value_bytes(const lmg_value *v)
{
    return (size_t)lmg_shape_numel(&v->shape) * lmg_dtype_size(v->dtype);
}

const char *lmg_region_name(lmg_region r)
{
    static const char *names[LMG_REGION_COUNT] = {"arena", "params", "grads",
                                                  "state", "consts", "inputs"};
    return (unsigned)r < LMG_REGION_COUNT ? names[r] : "?";
}

void lmg_plan_free(lmg_plan *p)
{
    if (!p) return;
    free(p->region);
    free(p->offset);
    free(p->alias);
    free(p->bytes);
    free(p->first);
    free(p->last);
    free(p);
}

static int root_of(const lmg_plan *p, int v)
{
    return p->alias[v] >= 0 ? p->alias[v] : v;
}

static void join(planner *pl, int v, int root)
{
    lmg_plan *p = pl->p;
    p->alias[v] = root;
    p->region[v] = p->region[root];
    if (p->first[v] >= 0 && p->first[v] < pl->gfirst[root]) pl->gfirst[root] = p->first[v];
    if (p->last[v] > pl->glast[root]) pl->glast[root] = p->last[v];
}

/* The input of elementwise node n that output 0 may overwrite, or -1. The input's whole
 * storage group must end its life at this node and live in the arena, with the output's size
 * and dtype. */
static int inplace_input(planner *pl, int node, int out)
{
    const lmg_graph *g = pl->g;
    const lmg_plan *p = pl->p;
    const lmg_node *n = &g->nodes[node];
    const lmg_value *o = &g->values[out];
    if (!lmg_op_is(n->op, LMG_ELEMENTWISE)) return -1;
    for (int k = 0; k < n->n_in; k++) {
        int x = n->in[k];
        if (x < 0) continue;
        int r = root_of(p, x);
        const lmg_value *xv = &g->values[x];
        if (p->region[r] != LMG_REGION_ARENA || g->values[r].kind != LMG_VALUE_NODE) continue;
        if (xv->dtype != o->dtype || !lmg_shape_equal(&xv->shape, &o->shape)) continue;
        if (pl->glast[r] != node) continue;
        /* Another input in the same group must be read element for element too. */
        int ok = 1;
        for (int j = 0; j < n->n_in; j++)
            if (j != k && n->in[j] >= 0 && root_of(p, n->in[j]) == r &&
                lmg_shape_numel(&g->values[n->in[j]].shape) != lmg_shape_numel(&o->shape))
                ok = 0;
        if (ok) return x;
    }
    return -1;
}

/* The whole storage group of r moves into the bytes of y, a gradient in its fixed region that
 * an in-place op writes over r: a partial gradient (the tied embedding's product, a first
 * micro-batch's) then waits in its final place instead of the arena. */
static void adopt(planner *pl, int r, int y)
{
    lmg_plan *p = pl->p;
    for (int v = 0; v < pl->g->n_values; v++)
        if (v == r || p->alias[v] == r) join(pl, v, y);
}

/* One pass of alias decisions over the node order. Returns the first Reshape view that an
 * in-place update (AdamW) would overwrite while the view is still read, or -1. */
static int alias_pass(planner *pl)
{
    const lmg_graph *g = pl->g;
    lmg_plan *p = pl->p;
    for (int v = 0; v < g->n_values; v++) {
        p->alias[v] = -1;
        pl->gfirst[v] = p->first[v];
        pl->glast[v] = p->last[v];
        if (g->values[v].kind == LMG_VALUE_NODE && !pl->fixed[v]) p->region[v] = LMG_REGION_ARENA;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_out; k++) {
            int y = n->out[k];
            int a = lmg_op_alias(n->op, k);
            if (a >= 0 && a < n->n_in && n->in[a] >= 0) {
                /* Written over its input by the op's definition: not a choice. */
                join(pl, y, root_of(p, n->in[a]));
                continue;
            }
            if (pl->fixed[y]) {
                int x = !pl->keep_all && k == 0 && n->n_out == 1 ? inplace_input(pl, i, y) : -1;
                if (x >= 0) adopt(pl, root_of(p, x), y);
                continue;
            }
            if (n->op == LMG_OP_RESHAPE && n->in[0] >= 0 && !pl->no_view[y] &&
                value_bytes(&g->values[n->in[0]]) == value_bytes(&g->values[y])) {
                join(pl, y, root_of(p, n->in[0]));
                continue;
            }
            if (!pl->keep_all && k == 0 && n->n_out == 1) {
                int x = inplace_input(pl, i, y);
                if (x >= 0) join(pl, y, root_of(p, x));
            }
        }
    }
    /* A mandatory in-place write at node j over a group is wrong for any other member that
     * is still read after j. Only views are optional; report one to undo. */
    for (int j = 0; j < g->n_nodes; j++) {
        const lmg_node *n = &g->nodes[j];
        for (int k = 0; k < n->n_out; k++) {
            int a = lmg_op_alias(n->op, k);
            if (a < 0 || a >= n->n_in || n->in[a] < 0) continue;
            int target = n->in[a], r = root_of(p, target);
            for (int v = 0; v < g->n_values; v++) {
                if (v == target || root_of(p, v) != r || v == n->out[k]) continue;
                if (p->last[v] < j || (p->first[v] >= j)) continue;
                /* v was made before j and is read at or after j: if it is a view, the
                 * caller makes it a copy instead. */
                const lmg_value *val = &g->values[v];
                if (val->kind == LMG_VALUE_NODE && g->nodes[val->producer].op == LMG_OP_RESHAPE)
                    return v;
            }
        }
    }
    return -1;
}

/* Greedy by size with best fit (TFLite's GreedyBySize): the largest group first, each put in
 * the smallest gap left between the groups already placed that overlap it in time. */
typedef struct item {
    int root;
    size_t size;
    int first, last;
    size_t off;
} item;

static int item_by_size(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    return x->root - y->root;
}

static int item_by_off(const void *a, const void *b)
{
    const item *x = *(item *const *)a, *y = *(item *const *)b;
    if (x->off != y->off) return x->off < y->off ? -1 : 1;
    return 0;
}

static lmg_status assign_offsets(item *it, int n, size_t *arena)
{
    item **placed = malloc(((size_t)n + 1) * sizeof *placed);
    item **near = malloc(((size_t)n + 1) * sizeof *near);
    if (!placed || !near) {
        free(placed);
        free(near);
        return lmg_error(LMG_ERR_NOMEM, "memory plan: out of memory");
    }
    qsort(it, (size_t)n, sizeof *it, item_by_size);
    int n_placed = 0;
    size_t top = 0;
    for (int i = 0; i < n; i++) {
        int n_near = 0;
        for (int j = 0; j < n_placed; j++)
            if (placed[j]->first <= it[i].last && it[i].first <= placed[j]->last)
                near[n_near++] = placed[j];
        qsort(near, (size_t)n_near, sizeof *near, item_by_off);
        size_t best = (size_t)-1, best_gap = (size_t)-1, cur = 0;
        for (int j = 0; j < n_near; j++) {
            if (near[j]->off >= cur) {
                size_t gap = near[j]->off - cur;
                if (gap >= it[i].size && gap < best_gap) {
                    best_gap = gap;
                    best = cur;
                }
            }
            if (near[j]->off + near[j]->size > cur) cur = near[j]->off + near[j]->size;
        }
        it[i].off = best != (size_t)-1 ? best : cur;
        if (it[i].off + it[i].size > top) top = it[i].off + it[i].size;
        placed[n_placed++] = &it[i];
    }
    free(placed);
    free(near);
    *arena = top;
    return LMG_OK;
}

/* Parameters in graph order; their gradients and AdamW moments mirror the same offsets, so
 * element i of the flat parameter block pairs with element i of grads, m and v. */
static void lay_out_persistent(planner *pl)
{
    const lmg_graph *g = pl->g;
    lmg_plan *p = pl->p;
    const int *adam_m = pl->adam_m, *adam_v = pl->adam_v;
    size_t off[LMG_REGION_COUNT] = {0};
    for (int v = 0; v < g->n_values; v++) {
        if (p->alias[v] >= 0 || p->region[v] != LMG_REGION_PARAMS) continue;
        p->offset[v] = off[LMG_REGION_PARAMS];
        off[LMG_REGION_PARAMS] += round_up(p->bytes[v], pl->align);
    }
    size_t pbytes = off[LMG_REGION_PARAMS];
    unsigned char *placed = calloc((size_t)g->n_values + 1, 1);
    /* grads: grad/<param> at its parameter's offset */
    off[LMG_REGION_GRADS] = pbytes;
    off[LMG_REGION_STATE] = 2 * pbytes;
    for (int v = 0; v < g->n_values; v++) {
        if (p->region[v] != LMG_REGION_PARAMS || p->alias[v] >= 0) continue;
        char name[512];
        snprintf(name, sizeof name, "grad/%s", g->values[v].name);
        int gv = lmg_graph_find(g, name);
        if (gv >= 0 && p->region[gv] == LMG_REGION_GRADS && p->alias[gv] < 0 &&
            p->bytes[gv] == p->bytes[v] && placed && !placed[gv]) {
            p->offset[gv] = p->offset[v];
            placed[gv] = 1;
        }
        int m = adam_m[v], s = adam_v[v];
        if (m >= 0 && p->region[m] == LMG_REGION_STATE && p->bytes[m] == p->bytes[v] && placed &&
            !placed[m]) {
            p->offset[m] = p->offset[v];
            placed[m] = 1;
        }
        if (s >= 0 && p->region[s] == LMG_REGION_STATE && p->bytes[s] == p->bytes[v] && placed &&
            !placed[s]) {
            p->offset[s] = pbytes + p->offset[v];
            placed[s] = 1;
        }
    }
    int any_grad = 0, any_state = 0;
    for (int v = 0; v < g->n_values; v++) {
        if (p->alias[v] >= 0) continue;
        if (p->region[v] == LMG_REGION_GRADS) any_grad = 1;
        if (p->region[v] == LMG_REGION_STATE) any_state = 1;
    }
    if (!any_grad) off[LMG_REGION_GRADS] = 0;
    if (!any_state) off[LMG_REGION_STATE] = 0;
    /* Everything else (and the rare misfit) in graph order after the mirrored part. */
    for (int v = 0; v < g->n_values; v++) {
        lmg_region r = p->region[v];
        if (p->alias[v] >= 0 || r == LMG_REGION_ARENA || r == LMG_REGION_PARAMS) continue;
        if (placed && placed[v]) continue;
        if (r != LMG_REGION_GRADS && r != LMG_REGION_STATE && r != LMG_REGION_CONSTS &&
            r != LMG_REGION_INPUTS)
            continue;
        p->offset[v] = off[r];
        off[r] += round_up(p->bytes[v], pl->align);
    }
    free(placed);
    for (int r = 1; r < LMG_REGION_COUNT; r++) p->region_bytes[r] = off[r];
}

/* ---- the phases of lmg_plan_build ---------------------------------------------------- */

static lmg_status plan_alloc(planner *pl, int nv)
{
    lmg_plan *p = calloc(1, sizeof *p);
    pl->p = p;
    size_t n1 = (size_t)nv + 1;
    if (p) {
        p->n_values = nv;
        p->region = calloc(n1, sizeof *p->region);
        p->offset = calloc(n1, sizeof *p->offset);
        p->alias = calloc(n1, sizeof *p->alias);
        p->bytes = calloc(n1, sizeof *p->bytes);
        p->first = calloc(n1, sizeof *p->first);
        p->last = calloc(n1, sizeof *p->last);
    }
    pl->gfirst = calloc(n1, sizeof *pl->gfirst);
    pl->glast = calloc(n1, sizeof *pl->glast);
    pl->no_view = calloc(n1, 1);
    pl->fixed = calloc(n1, 1);
    pl->adam_m = malloc(n1 * sizeof *pl->adam_m);
    pl->adam_v = malloc(n1 * sizeof *pl->adam_v);
    pl->items = calloc(n1, sizeof *pl->items);
    if (!p || !p->region || !p->offset || !p->alias || !p->bytes || !p->first || !p->last ||
        !pl->gfirst || !pl->glast || !pl->no_view || !pl->fixed || !pl->adam_m || !pl->adam_v ||
        !pl->items)
        return lmg_error(LMG_ERR_NOMEM, "memory plan: out of memory");
    return LMG_OK;
}

static void planner_free(planner *pl)
{
    free(pl->gfirst);
    free(pl->glast);
    free(pl->no_view);
    free(pl->fixed);
    free(pl->adam_m);
    free(pl->adam_v);
    free(pl->items);
}

/* Checks: every computed value has a producer, and nodes read only values made before. */
static lmg_status check_order(const lmg_graph *g)
{
    for (int v = 0; v < g->n_values; v++) {
        const lmg_value *val = &g->values[v];
        if (val->kind == LMG_VALUE_NODE && (val->producer < 0 || val->producer >= g->n_nodes))
            return lmg_error(LMG_ERR_INVALID, "memory plan: value '%s' has no producer", val->name);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++) {
            int x = n->in[k];
            if (x < 0) continue;
            if (x >= g->n_values ||
                (g->values[x].kind == LMG_VALUE_NODE && g->values[x].producer >= i))
                return lmg_error(LMG_ERR_INVALID,
                                 "memory plan: node '%s' reads a value made later (nodes not in "
                                 "topological order)", n->name);
        }
    }
    return LMG_OK;
}

/* Lifetimes: a value lives from its producer to its last consumer; outputs to the end.
 * Initializers and inputs live from before the first node (-1). */
static void find_lifetimes(planner *pl)
{
    const lmg_graph *g = pl->g;
    lmg_plan *p = pl->p;
    for (int v = 0; v < g->n_values; v++) {
        const lmg_value *val = &g->values[v];
        p->bytes[v] = value_bytes(val);
        p->first[v] = val->kind == LMG_VALUE_NODE ? val->producer : -1;
        p->last[v] = p->first[v];
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && i > p->last[n->in[k]]) p->last[n->in[k]] = i;
    }
    for (int k = 0; k < g->n_outputs; k++) p->last[g->outputs[k]] = g->n_nodes;
}

/* Fixed regions: AdamW moments, inputs, parameters, constants, and the parameters'
 * gradients among the outputs; everything else starts in the arena. */
static void fix_regions(planner *pl)
{
    const lmg_graph *g = pl->g;
    lmg_plan *p = pl->p;
    for (int v = 0; v < g->n_values; v++) pl->adam_m[v] = pl->adam_v[v] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        if (n->op != LMG_OP_ADAMW || n->n_in < 4 || n->in[0] < 0) continue;
        int param = n->in[0];
        for (int k = 2; k <= 3; k++) {
            int st = n->in[k];
            if (st >= 0 && g->values[st].kind == LMG_VALUE_INIT && !g->values[st].trainable) {
                p->region[st] = LMG_REGION_STATE;
                (k == 2 ? pl->adam_m : pl->adam_v)[param] = st;
            }
        }
    }
    for (int v = 0; v < g->n_values; v++) {
        const lmg_value *val = &g->values[v];
        if (val->kind == LMG_VALUE_INPUT) p->region[v] = LMG_REGION_INPUTS;
        else if (val->kind == LMG_VALUE_INIT && val->trainable) p->region[v] = LMG_REGION_PARAMS;
        else if (val->kind == LMG_VALUE_INIT && p->region[v] != LMG_REGION_STATE)
            p->region[v] = LMG_REGION_CONSTS;
    }
    for (int k = 0; k < g->n_outputs; k++) {
        int v = g->outputs[k];
        const char *name = g->values[v].name;
        if (strncmp(name, "grad/", 5) != 0 || g->values[v].kind == LMG_VALUE_INPUT) continue;
        int param = lmg_graph_find(g, name + 5);
        if (param < 0 || g->values[param].kind != LMG_VALUE_INIT || !g->values[param].trainable)
            continue;
        p->region[v] = LMG_REGION_GRADS;
        pl->fixed[v] = 1;
    }
}

/* In-place and alias decisions; undo a view that an in-place update would clobber, and try
 * again (each round turns one more view into a copy, so this ends). */
static lmg_status decide_aliases(planner *pl)
{
    for (int round = 0;; round++) {
        int bad = alias_pass(pl);
        if (bad < 0) return LMG_OK;
        if (round > pl->g->n_values)
            return lmg_error(LMG_ERR_INVALID, "memory plan: aliasing does not settle");
        pl->no_view[bad] = 1;
    }
}

/* The arena: one item per storage group, its lower bound (the largest live sum over the
 * node order), and offsets (greedy by size, or one after another with keep_all). */
static lmg_status pack_arena(planner *pl)
{
    const lmg_graph *g = pl->g;
    lmg_plan *p = pl->p;
    int nn = g->n_nodes;
    item *it = pl->items;
    int n_items = 0;
    for (int v = 0; v < g->n_values; v++) {
        if (p->alias[v] >= 0 || p->region[v] != LMG_REGION_ARENA || p->bytes[v] == 0) continue;
        it[n_items++] = (item){v, round_up(p->bytes[v], pl->align), pl->gfirst[v], pl->glast[v], 0};
    }
    pl->n_items = n_items;
    long long *diff = calloc((size_t)nn + 3, sizeof *diff);
    if (!diff) return lmg_error(LMG_ERR_NOMEM, "memory plan: out of memory");
    for (int i = 0; i < n_items; i++) {
        diff[it[i].first] += (long long)p->bytes[it[i].root];
        diff[it[i].last + 1] -= (long long)p->bytes[it[i].root];
    }
    long long live = 0, best = 0;
    for (int t = 0; t <= nn; t++) {
        live += diff[t];
        if (live > best) best = live;
    }
    free(diff);
    p->lower_bound = (size_t)best;
    if (pl->keep_all) {
        size_t off = 0;
        for (int i = 0; i < n_items; i++) {
            it[i].off = off;
            off += it[i].size;
        }
        p->region_bytes[LMG_REGION_ARENA] = off;
    } else {
        LMG_TRY(assign_offsets(it, n_items, &p->region_bytes[LMG_REGION_ARENA]));
    }
    for (int i = 0; i < n_items; i++) p->offset[it[i].root] = it[i].off;
    return LMG_OK;
}

/* Every alias takes its root's place; the peak is the sum of the regions. */
static void finish(planner *pl)
{
    lmg_plan *p = pl->p;
    for (int v = 0; v < p->n_values; v++)
        if (p->alias[v] >= 0) {
            p->region[v] = p->region[p->alias[v]];
            p->offset[v] = p->offset[p->alias[v]];
        }
    p->peak = 0;
    for (int r = 0; r < LMG_REGION_COUNT; r++) p->peak += p->region_bytes[r];
}

lmg_status lmg_plan_build(const lmg_graph *g, const lmg_plan_opts *opts, lmg_plan **out)
{
    *out = NULL;
    if (!g) return lmg_error(LMG_ERR_ARG, "memory plan: no graph");
    LMG_TRY(lmg_graph_check_bound(g, "a memory plan"));
    size_t align = opts && opts->alignment ? opts->alignment : 64;
    if (align & (align - 1))
        return lmg_error(LMG_ERR_ARG, "memory plan: alignment %zu is not a power of two", align);
    planner pl;
    memset(&pl, 0, sizeof pl);
    pl.g = g;
    pl.align = align;
    pl.keep_all = opts ? opts->keep_all : 0;
    lmg_status s = plan_alloc(&pl, g->n_values);
    if (s == LMG_OK) s = check_order(g);
    if (s == LMG_OK) {
        find_lifetimes(&pl);
        fix_regions(&pl);
        s = decide_aliases(&pl);
    }
    if (s == LMG_OK) s = pack_arena(&pl);
    if (s == LMG_OK) {
        lay_out_persistent(&pl);
        finish(&pl);
    }
    planner_free(&pl);
    if (s != LMG_OK) {
        lmg_plan_free(pl.p);
        return s;
    }
    *out = pl.p;
    return LMG_OK;
}

/* ---- printing ---------------------------------------------------------------------- */

typedef struct buf {
    char *s;
    size_t n, cap;
    int oom;
} buf;

static void bprintf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(buf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->n + (size_t)k + 1) cap *= 2;
        char *t = realloc(b->s, cap);
        if (!t) {
            b->oom = 1;
            return;
        }
        b->s = t;
        b->cap = cap;
    }
}

static int by_bytes_desc(const void *a, const void *b)
{
    const size_t *x = a, *y = b; /* pairs (bytes, value) */
    if (x[0] != y[0]) return x[0] < y[0] ? 1 : -1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* The storage groups live at the node where the arena's live total peaks: what a smaller
 * plan has to cut. */
static void print_peak(buf *b, const lmg_graph *g, const lmg_plan *p)
{
    int nv = g->n_values, nn = g->n_nodes;
    int *gf = malloc(((size_t)nv + 1) * sizeof *gf), *gl = malloc(((size_t)nv + 1) * sizeof *gl);
    long long *diff = calloc((size_t)nn + 3, sizeof *diff);
    size_t *rows = malloc(((size_t)nv + 1) * 2 * sizeof *rows);
    if (!gf || !gl || !diff || !rows) {
        b->oom = 1;
        free(gf), free(gl), free(diff), free(rows);
        return;
    }
    for (int v = 0; v < nv; v++) gf[v] = p->first[v], gl[v] = p->last[v];
    for (int v = 0; v < nv; v++) {
        int r = p->alias[v];
        if (r < 0) continue;
        if (p->first[v] < gf[r]) gf[r] = p->first[v];
        if (p->last[v] > gl[r]) gl[r] = p->last[v];
    }
    for (int v = 0; v < nv; v++) {
        if (p->alias[v] >= 0 || p->region[v] != LMG_REGION_ARENA || p->bytes[v] == 0) continue;
        diff[gf[v] < 0 ? 0 : gf[v]] += (long long)p->bytes[v];
        diff[gl[v] + 1] -= (long long)p->bytes[v];
    }
    long long live = 0, best = 0;
    int at = -1;
    for (int t = 0; t <= nn; t++) {
        live += diff[t];
        if (live > best) best = live, at = t;
    }
    if (at >= 0) {
        int n_rows = 0;
        for (int v = 0; v < nv; v++)
            if (p->alias[v] < 0 && p->region[v] == LMG_REGION_ARENA && p->bytes[v] > 0 &&
                gf[v] <= at && gl[v] >= at) {
                rows[2 * n_rows] = p->bytes[v];
                rows[2 * n_rows + 1] = (size_t)v;
                n_rows++;
            }
        qsort(rows, (size_t)n_rows, 2 * sizeof *rows, by_bytes_desc);
        bprintf(b, "\narena peak at node %d '%s' (%s): %.2f MiB live in %d storage groups\n",
                at, at < nn ? g->nodes[at].name : "(end)", at < nn ? lmg_op_name(g->nodes[at].op) : "-",
                (double)best / (1024.0 * 1024.0), n_rows);
        bprintf(b, "%12s %6s %6s  %s\n", "bytes", "first", "last", "value (the group's owner)");
        for (int i = 0; i < n_rows; i++) {
            int v = (int)rows[2 * i + 1];
            char last[16];
            if (gl[v] >= nn) snprintf(last, sizeof last, "end");
            else snprintf(last, sizeof last, "%d", gl[v]);
            bprintf(b, "%12zu %6d %6s  %s\n", rows[2 * i], gf[v], last, g->values[v].name);
        }
    }
    free(gf), free(gl), free(diff), free(rows);
}

lmg_status lmg_plan_print(const lmg_graph *g, const lmg_plan *p, int values, char **text)
{
    *text = NULL;
    if (!g || !p || p->n_values != g->n_values)
        return lmg_error(LMG_ERR_ARG, "plan print: plan and graph do not match");
    buf b = {0};
    const double mb = 1.0 / (1024.0 * 1024.0);
    bprintf(&b, "%-8s %14s %10s\n", "region", "bytes", "MiB");
    for (int r = 0; r < LMG_REGION_COUNT; r++)
        bprintf(&b, "%-8s %14zu %10.2f\n", lmg_region_name((lmg_region)r), p->region_bytes[r],
                (double)p->region_bytes[r] * mb);
    bprintf(&b, "%-8s %14zu %10.2f\n", "total", p->peak, (double)p->peak * mb);
    bprintf(&b, "arena lower bound %zu bytes (%.2f MiB); arena / bound = %.3f\n", p->lower_bound,
            (double)p->lower_bound * mb,
            p->lower_bound ? (double)p->region_bytes[LMG_REGION_ARENA] / (double)p->lower_bound
                           : 1.0);
    if (values) {
        bprintf(&b, "\n%-6s %-7s %12s %12s %6s %6s  %-s\n", "id", "region", "offset", "bytes",
                "first", "last", "value");
        for (int v = 0; v < g->n_values; v++) {
            char first[16], last[16];
            if (p->first[v] < 0) snprintf(first, sizeof first, "start");
            else snprintf(first, sizeof first, "%d", p->first[v]);
            if (p->last[v] >= g->n_nodes) snprintf(last, sizeof last, "end");
            else if (p->last[v] < 0) snprintf(last, sizeof last, "start");
            else snprintf(last, sizeof last, "%d", p->last[v]);
            bprintf(&b, "%-6d %-7s %12zu %12zu %6s %6s  %s", v, lmg_region_name(p->region[v]),
                    p->offset[v], p->bytes[v], first, last, g->values[v].name);
            if (p->alias[v] >= 0) bprintf(&b, "  (shares '%s')", g->values[p->alias[v]].name);
            bprintf(&b, "\n");
        }
    }
    if (values) print_peak(&b, g, p);
    if (b.oom) {
        free(b.s);
        return lmg_error(LMG_ERR_NOMEM, "plan print: out of memory");
    }
    *text = b.s;
    return LMG_OK;
}
