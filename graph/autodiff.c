/* autodiff.c — reverse-mode differentiation of a graph into a graph, and dead-node pruning.
 * Each op's gradient rule (ops/) emits ordinary nodes; this file decides which rules run. */
#include "graph.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ----------------------------------------------------------------- */

static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* A value name derived from `base` that no value has yet ("base", "base'1", ...). The
 * name also serves as the node name of a single-output node, so printed graphs line up. */
static char *fresh_name(const lmg_graph *g, const char *base)
{
    char *s = str_printf("%s", base);
    for (int i = 1; s && lmg_graph_find(g, s) >= 0; i++) {
        free(s);
        s = str_printf("%s'%d", base, i);
    }
    return s;
}

static void node_free(lmg_node *n)
{
    free(n->name);
    free(n->in);
    free(n->out);
    for (int k = 0; k < n->n_attr; k++) {
        free(n->attrs[k].name);
        free(n->attrs[k].s);
        free(n->attrs[k].ints);
        free(n->attrs[k].floats);
    }
    free(n->attrs);
}

static int node_updates_state(const lmg_node *n)
{
    for (int k = 0; k < n->n_out; k++)
        if (lmg_op_alias(n->op, k) >= 0) return 1;
    return 0;
}

/* ---- pruning ----------------------------------------------------------------------- */

/* Drop every node no output needs (a node that writes over one of its inputs is state and
 * always stays) and the node values that go with them. Initializers with an id at or above
 * `first_removable_init` are dropped too when unused: autodiff's own constants. */
static lmg_status prune(lmg_graph *g, int first_removable_init, int *n_forward)
{
    int nv = g->n_values, nn = g->n_nodes;
    unsigned char *need = calloc((size_t)nv + 1, 1);
    unsigned char *live = calloc((size_t)nn + 1, 1);
    int *vmap = malloc(((size_t)nv + 1) * sizeof *vmap);
    int *nmap = malloc(((size_t)nn + 1) * sizeof *nmap);
    if (!need || !live || !vmap || !nmap) {
        free(need), free(live), free(vmap), free(nmap);
        return lmg_error(LMG_ERR_NOMEM, "prune: out of memory");
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] >= 0 && g->outputs[i] < nv) need[g->outputs[i]] = 1;
    for (int i = nn - 1; i >= 0; i--) {
        const lmg_node *n = &g->nodes[i];
        int l = node_updates_state(n);
        for (int k = 0; k < n->n_out && !l; k++)
            if (n->out[k] >= 0 && n->out[k] < nv && need[n->out[k]]) l = 1;
        if (!l) continue;
        live[i] = 1;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && n->in[k] < nv) need[n->in[k]] = 1;
    }
    /* Every output of a live node stays (a node is all or nothing). */
    for (int i = 0; i < nn; i++)
        if (live[i])
            for (int k = 0; k < g->nodes[i].n_out; k++)
                if (g->nodes[i].out[k] >= 0 && g->nodes[i].out[k] < nv) need[g->nodes[i].out[k]] = 1;
    int v2 = 0;
    for (int v = 0; v < nv; v++) {
        const lmg_value *val = &g->values[v];
        int keep;
        if (val->kind == LMG_VALUE_INPUT) keep = 1;
        else if (val->kind == LMG_VALUE_INIT) keep = need[v] || v < first_removable_init;
        else keep = need[v];
        vmap[v] = keep ? v2++ : -1;
    }
    int n2 = 0;
    for (int i = 0; i < nn; i++) nmap[i] = live[i] ? n2++ : -1;
    /* The nodes that stay of the first *n_forward. */
    if (n_forward) {
        int f = 0;
        for (int i = 0; i < *n_forward && i < nn; i++) f += live[i];
        *n_forward = f;
    }

    for (int v = 0; v < nv; v++) {
        if (vmap[v] < 0) {
            free(g->values[v].name);
            free(g->values[v].data);
            continue;
        }
        lmg_value val = g->values[v];
        if (val.producer >= 0) val.producer = val.producer < nn ? nmap[val.producer] : -1;
        g->values[vmap[v]] = val;
    }
    g->n_values = v2;
    for (int i = 0; i < nn; i++) {
        if (nmap[i] < 0) {
            node_free(&g->nodes[i]);
            continue;
        }
        lmg_node n = g->nodes[i];
        for (int k = 0; k < n.n_in; k++)
            if (n.in[k] >= 0) n.in[k] = n.in[k] < nv ? vmap[n.in[k]] : -1;
        for (int k = 0; k < n.n_out; k++)
            if (n.out[k] >= 0) n.out[k] = n.out[k] < nv ? vmap[n.out[k]] : -1;
        g->nodes[nmap[i]] = n;
    }
    g->n_nodes = n2;
    int m = 0;
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] >= 0 && g->inputs[i] < nv && vmap[g->inputs[i]] >= 0)
            g->inputs[m++] = vmap[g->inputs[i]];
    g->n_inputs = m;
    m = 0;
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] >= 0 && g->outputs[i] < nv && vmap[g->outputs[i]] >= 0)
            g->outputs[m++] = vmap[g->outputs[i]];
    g->n_outputs = m;
    free(need), free(live), free(vmap), free(nmap);
    return lmg_graph_reindex(g);
}

lmg_status lmg_graph_prune(lmg_graph *g)
{
    if (!g) return lmg_error(LMG_ERR_ARG, "prune: no graph");
    return prune(g, INT_MAX, NULL);
}

/* ---- autodiff ---------------------------------------------------------------------- */

/* The nodes [n0, n1) and values [v0, v1) one gradient rule emitted for forward node `fwd`. */
typedef struct span {
    int fwd, n0, n1, v0, v1;
} span;

typedef struct ad {
    lmg_graph *g;
    int nv, nn;             /* forward graph sizes */
    unsigned char *active;  /* per forward value: f32 and varies with some parameter */
    unsigned char *to_loss; /* per forward value: active and the loss depends on it */
    int *grad;              /* per forward value: its gradient so far, or -1 */
    span *spans;            /* renamed "grad/<fwd>/..." once at the end: one index rebuild */
    int n_spans, cap_spans;
    int *pgrad;             /* per forward value: the value that becomes grad/<p>, or -1 */
} ad;

static lmg_status builder_failed(lmg_graph *g, const char *what)
{
    lmg_status s = g->status != LMG_OK ? g->status : LMG_ERR_INVALID;
    return lmg_error_prefix(s, "autodiff: %s", what);
}

/* Add a node with an explicit name (also its single output's name), derived from `base`. */
static int named_node(lmg_graph *g, lmg_op op, const char *base, const int *ins, int n_in,
                      const lmg_attr *attrs, int n_attr)
{
    char *name = fresh_name(g, base);
    if (!name) {
        if (g->status == LMG_OK) g->status = lmg_error(LMG_ERR_NOMEM, "out of memory");
        return -1;
    }
    const char *outn[1] = {name};
    int v = lmg_graph_node(g, op, name, ins, n_in, attrs, n_attr, outn, NULL);
    free(name);
    return v;
}

/* Sum gradient contributions eagerly: every consumer of a value comes after its producer,
 * so by the time the producer's rule runs, the sum is complete. */
static lmg_status accumulate(ad *a, int v, int dv)
{
    if (a->grad[v] < 0) {
        a->grad[v] = dv;
        return LMG_OK;
    }
    char base[300];
    snprintf(base, sizeof base, "grad/%s/sum", a->g->values[v].name);
    int s = named_node(a->g, LMG_OP_ADD, base, (int[]){a->grad[v], dv}, 2, NULL, 0);
    if (s < 0) return builder_failed(a->g, "summing gradients");
    a->grad[v] = s;
    return LMG_OK;
}

static lmg_status add_span(ad *a, int fwd, int n0, int v0)
{
    if (n0 == a->g->n_nodes && v0 == a->g->n_values) return LMG_OK;
    if (a->n_spans == a->cap_spans) {
        int cap = a->cap_spans ? 2 * a->cap_spans : 64;
        span *sp = realloc(a->spans, (size_t)cap * sizeof *sp);
        if (!sp) return lmg_error(LMG_ERR_NOMEM, "out of memory");
        a->spans = sp;
        a->cap_spans = cap;
    }
    a->spans[a->n_spans++] = (span){fwd, n0, a->g->n_nodes, v0, a->g->n_values};
    return LMG_OK;
}

/* Name what the rules emitted "grad/<forward node>/<generated name>" and each parameter's
 * gradient "grad/<p>", then rebuild the name index once. Generated names are unique, so
 * the prefixed ones are unique among themselves; a clash with another value gets primes. */
static lmg_status apply_names(ad *a)
{
    lmg_graph *g = a->g;
    int nsz = g->n_values;
    char **nn = calloc((size_t)(nsz - a->nv) + 1, sizeof *nn);
    if (!nn) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status s = LMG_OK;
    for (int i = 0; i < a->n_spans && s == LMG_OK; i++) {
        const span *sp = &a->spans[i];
        const char *fwd = g->nodes[sp->fwd].name;
        for (int k = sp->n0; k < sp->n1 && s == LMG_OK; k++) {
            char *t = str_printf("grad/%s/%s", fwd, g->nodes[k].name ? g->nodes[k].name : "");
            if (!t) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
            else {
                free(g->nodes[k].name);
                g->nodes[k].name = t;
            }
        }
        for (int v = sp->v0; v < sp->v1 && s == LMG_OK; v++)
            if (!(nn[v - a->nv] = str_printf("grad/%s/%s", fwd, g->values[v].name)))
                s = lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    for (int p = 0; p < a->nv && s == LMG_OK; p++) {
        int v = a->pgrad[p];
        if (v < a->nv || v >= nsz) continue;
        free(nn[v - a->nv]);
        if (!(nn[v - a->nv] = str_printf("grad/%s", g->values[p].name)))
            s = lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    for (int v = a->nv; v < nsz && s == LMG_OK; v++) {
        char *base = nn[v - a->nv], *t = base;
        if (!base) continue;
        for (int k = 1; t && lmg_graph_find(g, t) >= 0 && lmg_graph_find(g, t) != v; k++) {
            if (t != base) free(t);
            t = str_printf("%s'%d", base, k);
        }
        if (!t) {
            s = lmg_error(LMG_ERR_NOMEM, "out of memory");
            break;
        }
        if (t != base) free(base);
        free(g->values[v].name);
        g->values[v].name = t;
        nn[v - a->nv] = NULL;
    }
    for (int v = 0; v < nsz - a->nv; v++) free(nn[v]);
    free(nn);
    if (s != LMG_OK) return s;
    return lmg_graph_reindex(g);
}

/* Which forward values vary with a parameter, and which of those the loss depends on. */
static void mark_paths(ad *a, int loss)
{
    lmg_graph *g = a->g;
    for (int v = 0; v < a->nv; v++) {
        const lmg_value *val = &g->values[v];
        a->active[v] = val->kind == LMG_VALUE_INIT && val->trainable && val->dtype == LMG_DTYPE_F32;
    }
    for (int i = 0; i < a->nn; i++) {
        const lmg_node *n = &g->nodes[i];
        /* Random draws take only the shape of their input: their derivative is zero. */
        if (n->op == LMG_OP_BERNOULLI || n->op == LMG_OP_RANDOM_INT || n->op == LMG_OP_SPAN_MASK)
            continue;
        int any = 0;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && a->active[n->in[k]]) any = 1;
        if (!any) continue;
        for (int k = 0; k < n->n_out; k++)
            if (g->values[n->out[k]].dtype == LMG_DTYPE_F32) a->active[n->out[k]] = 1;
    }
    a->to_loss[loss] = a->active[loss];
    for (int i = a->nn - 1; i >= 0; i--) {
        const lmg_node *n = &g->nodes[i];
        int on = 0;
        for (int k = 0; k < n->n_out; k++)
            if (a->to_loss[n->out[k]]) on = 1;
        if (!on) continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && a->active[n->in[k]]) a->to_loss[n->in[k]] = 1;
    }
}

/* Run node i's gradient rule and add what it gives to its inputs' gradients. */
static lmg_status backprop_node(ad *a, int i)
{
    lmg_graph *g = a->g;
    const lmg_node *n = &g->nodes[i];
    int n_in = n->n_in, n_out = n->n_out;
    lmg_op op = n->op;
    int dy[8], dx[64], ins[64];
    unsigned char need[64];
    if (n_out > 8 || n_in > 64)
        return lmg_error(LMG_ERR_UNSUPPORTED, "autodiff: node '%s' (%s): too many inputs/outputs",
                         n->name, lmg_op_name(op));
    int flows = 0;
    for (int k = 0; k < n_out; k++) {
        dy[k] = a->to_loss[n->out[k]] ? a->grad[n->out[k]] : -1;
        if (dy[k] >= 0) flows = 1;
    }
    if (!flows) return LMG_OK; /* every consumer's rule gave this node a zero gradient */
    int wanted = 0;
    for (int k = 0; k < n_in; k++) {
        ins[k] = n->in[k];
        dx[k] = -1;
        need[k] = ins[k] >= 0 && a->active[ins[k]] && g->values[ins[k]].dtype == LMG_DTYPE_F32;
        wanted |= need[k];
    }
    if (!wanted) return LMG_OK;
    const lmg_op_info *info = lmg_op_get(op);
    if (!info || !info->grad)
        return lmg_error(LMG_ERR_INVALID,
                         "autodiff: node '%s' (%s) lies between a parameter and the loss, but "
                         "%s is not differentiable", n->name, lmg_op_name(op), lmg_op_name(op));
    const char *fwd = g->nodes[i].name; /* forward nodes never move or get renamed */
    int n0 = g->n_nodes, v0 = g->n_values;
    lmg_grad_ctx c = {g, i, dy, dx, need};
    lmg_status s = info->grad(&c);
    /* From here on `n` may dangle: the rule may have moved g->nodes. */
    if (s == LMG_OK && g->status != LMG_OK) s = g->status;
    if (s != LMG_OK) {
        lmg_error_prefix(s, "autodiff: gradient of node '%s' (%s)", fwd, lmg_op_name(op));
        return s;
    }
    s = add_span(a, i, n0, v0);
    for (int k = 0; s == LMG_OK && k < n_in; k++) {
        if (!need[k] || dx[k] < 0) continue;
        const lmg_value *xv = &g->values[ins[k]];
        if (dx[k] >= g->n_values) {
            s = lmg_error(LMG_ERR_INVALID, "autodiff: gradient rule of node '%s' (%s) gave no "
                          "value for input %d", fwd, lmg_op_name(op), k);
            break;
        }
        const lmg_value *dv = &g->values[dx[k]];
        if (dv->dtype != xv->dtype || !lmg_shape_equal(&dv->shape, &xv->shape)) {
            char s1[96], s2[96];
            s = lmg_error(LMG_ERR_INVALID, "autodiff: gradient rule of node '%s' (%s) gave %s%s "
                          "for input %d '%s' of %s%s", fwd, lmg_op_name(op),
                          lmg_dtype_name(dv->dtype), lmg_shape_str(&dv->shape, s1, sizeof s1), k,
                          xv->name, lmg_dtype_name(xv->dtype), lmg_shape_str(&xv->shape, s2, sizeof s2));
            break;
        }
        s = accumulate(a, ins[k], dx[k]);
    }
    return s;
}

/* The value that becomes grad/<p>: a gradient node's output with no other role (renamed
 * by apply_names), else an identity (Scale) so each parameter has its own value. */
static lmg_status name_param_grad(ad *a, int p, unsigned char *claimed)
{
    lmg_graph *g = a->g;
    char *gname = str_printf("grad/%s", g->values[p].name);
    if (!gname) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status s = LMG_OK;
    int existing = lmg_graph_find(g, gname);
    int v = a->grad[p];
    if (existing >= 0) {
        s = lmg_error(LMG_ERR_INVALID, "autodiff: a value named '%s' already exists", gname);
    } else if (v < 0) {
        /* The loss does not depend on p: its gradient is zero. */
        char base[300];
        snprintf(base, sizeof base, "%s/zero", gname);
        char *zname = fresh_name(g, base);
        float zero = 0.0f;
        int z = zname ? lmg_graph_const(g, zname, LMG_DTYPE_F32, lmg_shape_make(0, NULL), &zero) : -1;
        free(zname);
        snprintf(base, sizeof base, "%s/expand", gname);
        if (z >= 0) {
            lmg_attr at = lmg_attr_ints("shape", g->values[p].shape.rank, g->values[p].shape.dims);
            const char *outn[1] = {gname};
            char *nname = fresh_name(g, base);
            if (nname) v = lmg_graph_node(g, LMG_OP_EXPAND, nname, &z, 1, &at, 1, outn, NULL);
            free(nname);
        }
        if (v < 0) s = builder_failed(g, "zero gradient");
    } else if (v >= a->nv && g->values[v].kind == LMG_VALUE_NODE && !claimed[v]) {
        claimed[v] = 1;
    } else {
        lmg_attr at = lmg_attr_float("alpha", 1.0);
        const char *outn[1] = {gname};
        v = lmg_graph_node(g, LMG_OP_SCALE, gname, &v, 1, &at, 1, outn, NULL);
        if (v < 0) s = builder_failed(g, "gradient identity");
    }
    if (s == LMG_OK) a->pgrad[p] = v;
    free(gname);
    return s;
}

static lmg_status autodiff(ad *a, int loss)
{
    lmg_graph *g = a->g;
    mark_paths(a, loss);

    /* Seed: d loss / d loss = 1, shaped like the loss. */
    char *base = str_printf("grad/%s/seed", g->values[loss].name);
    if (!base) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    char *sname = fresh_name(g, base);
    free(base);
    if (!sname) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    float one = 1.0f;
    int seed = lmg_graph_const(g, sname, LMG_DTYPE_F32, lmg_shape_make(0, NULL), &one);
    if (seed >= 0 && g->values[loss].shape.rank > 0) {
        char *en = str_printf("%s/expand", sname);
        lmg_shape ls = g->values[loss].shape;
        lmg_attr at = lmg_attr_ints("shape", ls.rank, ls.dims);
        seed = en ? named_node(g, LMG_OP_EXPAND, en, &seed, 1, &at, 1) : -1;
        free(en);
    }
    free(sname);
    if (seed < 0) return builder_failed(g, "seeding the loss gradient");
    if (a->to_loss[loss]) a->grad[loss] = seed;

    for (int i = a->nn - 1; i >= 0; i--) {
        const lmg_node *n = &g->nodes[i];
        int on = 0;
        for (int k = 0; k < n->n_out; k++)
            if (a->to_loss[n->out[k]]) on = 1;
        if (on) LMG_TRY(backprop_node(a, i));
    }

    LMG_TRY(lmg_graph_add_output(g, loss));
    unsigned char *claimed = calloc((size_t)g->n_values + 1, 1);
    if (!claimed) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    /* The seed is the loss's own gradient: never hand it to a parameter by renaming. */
    if (seed >= 0) claimed[seed] = 1;
    lmg_status s = LMG_OK;
    for (int p = 0; p < a->nv && s == LMG_OK; p++) {
        const lmg_value *val = &g->values[p];
        if (val->kind != LMG_VALUE_INIT || !val->trainable) continue;
        if (val->dtype != LMG_DTYPE_F32) {
            s = lmg_error(LMG_ERR_INVALID, "autodiff: parameter '%s' is %s; only f32 values are "
                          "trainable", val->name, lmg_dtype_name(val->dtype));
            break;
        }
        s = name_param_grad(a, p, claimed);
    }
    free(claimed);
    if (s == LMG_OK) s = apply_names(a);
    for (int p = 0; p < a->nv && s == LMG_OK; p++)
        if (a->pgrad[p] >= 0) s = lmg_graph_add_output(g, a->pgrad[p]);
    return s;
}

/* Undo a failed pass: autodiff only appends nodes, values and outputs, so dropping what
 * lies past the forward graph restores it. */
static void rollback(lmg_graph *g, int nv, int nn, int n_outputs)
{
    for (int i = nn; i < g->n_nodes; i++) node_free(&g->nodes[i]);
    for (int v = nv; v < g->n_values; v++) {
        free(g->values[v].name);
        free(g->values[v].data);
    }
    g->n_nodes = nn;
    g->n_values = nv;
    g->n_outputs = n_outputs;
    g->status = LMG_OK;
    lmg_graph_reindex(g);
}

/* Nodes must be in topological order for the reverse walk; sort only when they are not. */
static lmg_status ensure_sorted(lmg_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v < -1 || v >= g->n_values)
                return lmg_error(LMG_ERR_INVALID, "autodiff: node '%s' (%s): input %d is not a "
                                 "value", n->name, lmg_op_name(n->op), k);
            if (v >= 0 && g->values[v].kind == LMG_VALUE_NODE && g->values[v].producer >= i)
                return lmg_graph_toposort(g);
        }
    }
    return LMG_OK;
}

lmg_status lmg_autodiff(lmg_graph *g, const char *loss)
{
    return lmg_autodiff_with(g, loss, NULL);
}

lmg_status lmg_autodiff_with(lmg_graph *g, const char *loss, const lmg_autodiff_opts *o)
{
    if (!g) return lmg_error(LMG_ERR_ARG, "autodiff: no graph");
    if (!loss || !*loss) return lmg_error(LMG_ERR_ARG, "autodiff: no loss value named");
    if (g->status != LMG_OK)
        return lmg_error(LMG_ERR_ARG, "autodiff: the graph has a pending builder error (%s)",
                         lmg_status_name(g->status));
    LMG_TRY(lmg_graph_check_bound(g, "autodiff"));
    int l = lmg_graph_find(g, loss);
    if (l < 0) return lmg_error(LMG_ERR_NOT_FOUND, "autodiff: no value named '%s'", loss);
    const lmg_value *lv = &g->values[l];
    if (lv->dtype != LMG_DTYPE_F32 || lmg_shape_numel(&lv->shape) != 1) {
        char sb[96];
        return lmg_error(LMG_ERR_INVALID, "autodiff: loss '%s' must be one f32 element, it is %s%s",
                         loss, lmg_dtype_name(lv->dtype), lmg_shape_str(&lv->shape, sb, sizeof sb));
    }
    LMG_TRY(ensure_sorted(g));
    ad a;
    memset(&a, 0, sizeof a);
    a.g = g;
    a.nv = g->n_values;
    a.nn = g->n_nodes;
    int n_outputs = g->n_outputs;
    a.active = calloc((size_t)a.nv + 1, 1);
    a.to_loss = calloc((size_t)a.nv + 1, 1);
    a.grad = malloc(((size_t)a.nv + 1) * sizeof *a.grad);
    a.pgrad = malloc(((size_t)a.nv + 1) * sizeof *a.pgrad);
    lmg_status s = LMG_OK;
    if (!a.active || !a.to_loss || !a.grad || !a.pgrad) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
    if (s == LMG_OK) {
        for (int v = 0; v < a.nv; v++) a.grad[v] = a.pgrad[v] = -1;
        s = autodiff(&a, l);
        if (s != LMG_OK) rollback(g, a.nv, a.nn, n_outputs);
    }
    free(a.active);
    free(a.to_loss);
    free(a.grad);
    free(a.pgrad);
    free(a.spans);
    int n_forward = a.nn;
    if (s == LMG_OK) s = prune(g, a.nv, &n_forward);
    if (s == LMG_OK && !(o && o->no_recompute)) {
        /* On failure (out of memory) the copies made so far go: the graph stays a whole
         * training graph without recomputation. */
        int nv = g->n_values, nn = g->n_nodes;
        s = lmg_graph_recompute(g, n_forward);
        if (s != LMG_OK) rollback(g, nv, nn, g->n_outputs);
    }
    return s;
}
