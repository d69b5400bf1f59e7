/* graph_check.h — what the graph harnesses ask of every graph a loader accepted: it prints,
 * draws and plans (no two arena values alive at once share bytes), and autodiff of each
 * scalar f32 output either refuses with a message or gives a graph that verifies and plans.
 * A graph with named dimensions is checked once they are bound to small sizes. */
#ifndef LMG_FUZZ_GRAPH_CHECK_H
#define LMG_FUZZ_GRAPH_CHECK_H

#include "fuzz.h"
#include "../../graph/graph.h"
#include "../../graph/plan.h"

static inline void fuzz_check_plan(const lmg_graph *g)
{
    lmg_plan *p = NULL;
    FUZZ_ASSERT(lmg_plan_build(g, NULL, &p) == LMG_OK, "plan: %s", lmg_last_error());
    int n = g->n_values;
    /* Each storage owner's lifetime is the union of its group's (views, in-place outputs). */
    int *first = malloc((size_t)(n + 1) * sizeof *first), *last = malloc((size_t)(n + 1) * sizeof *last);
    if (!first || !last) abort();
    for (int v = 0; v < n; v++) first[v] = g->n_nodes + 1, last[v] = -2;
    for (int v = 0; v < n; v++) {
        int r = p->alias[v] >= 0 ? p->alias[v] : v;
        FUZZ_ASSERT(r < n && (p->alias[r] < 0), "alias of '%s' is a chain", g->values[v].name);
        if (p->first[v] == -1 && p->last[v] == -1) continue; /* never used */
        if (p->first[v] < first[r]) first[r] = p->first[v];
        if (p->last[v] > last[r]) last[r] = p->last[v];
    }
    for (int a = 0; a < n; a++) {
        if (p->alias[a] >= 0 || p->region[a] != LMG_REGION_ARENA || !p->bytes[a]) continue;
        FUZZ_ASSERT(p->offset[a] + p->bytes[a] <= p->region_bytes[LMG_REGION_ARENA],
                    "'%s' ends past the arena", g->values[a].name);
        for (int b = a + 1; b < n; b++) {
            if (p->alias[b] >= 0 || p->region[b] != LMG_REGION_ARENA || !p->bytes[b]) continue;
            if (last[a] < first[b] || last[b] < first[a]) continue; /* never alive together */
            FUZZ_ASSERT(p->offset[a] + p->bytes[a] <= p->offset[b] ||
                            p->offset[b] + p->bytes[b] <= p->offset[a],
                        "'%s' [%d, %d] and '%s' [%d, %d] share arena bytes", g->values[a].name,
                        first[a], last[a], g->values[b].name, first[b], last[b]);
        }
    }
    free(first);
    free(last);
    lmg_plan_free(p);
}

static inline void fuzz_check_bound(const lmg_graph *g);

static inline void fuzz_check_graph(const lmg_graph *g)
{
    char *text = NULL;
    FUZZ_ASSERT(lmg_graph_dot(g, NULL, &text) == LMG_OK, "dot: %s", lmg_last_error());
    free(text);
    if (g->n_values > 300) return; /* the plan check compares every pair */
    if (lmg_graph_is_symbolic(g)) {
        fuzz_check_bound(g);
        return;
    }
    fuzz_check_plan(g);
    for (int i = 0; i < g->n_outputs; i++) {
        const lmg_value *out = &g->values[g->outputs[i]];
        if (out->dtype != LMG_DTYPE_F32 || out->shape.rank != 0) continue;
        lmg_graph *d = lmg_graph_clone(g);
        if (!d) abort();
        if (lmg_autodiff(d, out->name) == LMG_OK) {
            FUZZ_ASSERT(lmg_graph_verify(d) == LMG_OK, "autodiff of '%s' does not verify: %s",
                        out->name, lmg_last_error());
            if (d->n_values <= 300) fuzz_check_plan(d);
        } else {
            FUZZ_ASSERT(lmg_last_error()[0], "autodiff of '%s' refused without a message", out->name);
        }
        lmg_graph_free(d);
    }
}

/* Named dimensions bound to small distinct sizes (3, 4, 5, ...): the bound graph either
 * verifies and passes every check above, or binding refuses with a message (a graph whose
 * shapes only work for other sizes). */
static inline void fuzz_check_bound(const lmg_graph *g)
{
    lmg_dim_binding b;
    memset(&b, 0, sizeof b);
    for (int k = 0; k < g->n_dim_names; k++)
        FUZZ_ASSERT(lmg_dim_bind(&b, g->dim_names[k], 3 + k, "fuzz") == LMG_OK, "bind '%s': %s",
                    g->dim_names[k], lmg_last_error());
    lmg_graph *c = lmg_graph_clone(g);
    if (!c) abort();
    lmg_status s = lmg_graph_bind_dims(c, &b);
    if (s == LMG_OK) s = lmg_graph_verify(c);
    if (s == LMG_OK && !lmg_graph_is_symbolic(c)) fuzz_check_graph(c);
    else if (s != LMG_OK) FUZZ_ASSERT(lmg_last_error()[0], "binding refused without a message");
    lmg_graph_free(c);
}

#endif
