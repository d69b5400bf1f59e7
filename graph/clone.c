/* clone.c — a deep copy of a graph: values with their data, nodes with their attributes,
 * inputs, outputs, metadata and the name index. */
#include "graph.h"

#include <stdlib.h>
#include <string.h>

static void *dup_mem(const void *p, size_t n, int *ok)
{
    if (!p) return NULL;
    void *d = malloc(n ? n : 1);
    if (!d) {
        *ok = 0;
        return NULL;
    }
    if (n) memcpy(d, p, n);
    return d;
}

static char *dup_str(const char *s, int *ok)
{
    return s ? dup_mem(s, strlen(s) + 1, ok) : NULL;
}

static void copy_attr(lmg_attr *d, const lmg_attr *s, int *ok)
{
    *d = *s;
    d->name = dup_str(s->name, ok);
    d->s = dup_str(s->s, ok);
    d->ints = s->n > 0 ? dup_mem(s->ints, (size_t)s->n * sizeof *s->ints, ok) : NULL;
    d->floats = s->n > 0 ? dup_mem(s->floats, (size_t)s->n * sizeof *s->floats, ok) : NULL;
}

lmg_graph *lmg_graph_clone(const lmg_graph *g)
{
    if (!g) return NULL;
    lmg_graph *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    int ok = 1;
    *c = *g;
    /* Nothing below may free what `g` owns, so clear every pointer before copying. */
    c->name = c->producer = NULL;
    c->values = NULL;
    c->nodes = NULL;
    c->inputs = c->outputs = c->index = NULL;
    c->meta = NULL;
    c->n_values = c->n_nodes = c->n_meta = 0;
    c->cap_values = g->n_values;
    c->cap_nodes = g->n_nodes;
    c->name = dup_str(g->name, &ok);
    c->producer = dup_str(g->producer, &ok);
    c->values = calloc((size_t)(g->n_values > 0 ? g->n_values : 1), sizeof *c->values);
    c->nodes = calloc((size_t)(g->n_nodes > 0 ? g->n_nodes : 1), sizeof *c->nodes);
    c->meta = calloc((size_t)(g->n_meta > 0 ? g->n_meta : 1), sizeof *c->meta);
    c->inputs = dup_mem(g->inputs, (size_t)g->n_inputs * sizeof *g->inputs, &ok);
    c->outputs = dup_mem(g->outputs, (size_t)g->n_outputs * sizeof *g->outputs, &ok);
    c->index = dup_mem(g->index, (size_t)g->index_cap * sizeof *g->index, &ok);
    if (!c->values || !c->nodes || !c->meta) ok = 0;
    for (int i = 0; ok && i < g->n_values; i++) {
        const lmg_value *s = &g->values[i];
        lmg_value *d = &c->values[i];
        *d = *s;
        d->name = dup_str(s->name, &ok);
        d->data = NULL;
        c->n_values++;
        if (s->data)
            d->data = dup_mem(s->data, (size_t)lmg_shape_numel(&s->shape) * lmg_dtype_size(s->dtype),
                              &ok);
    }
    for (int i = 0; ok && i < g->n_nodes; i++) {
        const lmg_node *s = &g->nodes[i];
        lmg_node *d = &c->nodes[i];
        *d = *s;
        d->n_attr = 0;
        d->name = dup_str(s->name, &ok);
        d->in = dup_mem(s->in, (size_t)s->n_in * sizeof *s->in, &ok);
        d->out = dup_mem(s->out, (size_t)s->n_out * sizeof *s->out, &ok);
        d->attrs = calloc((size_t)(s->n_attr > 0 ? s->n_attr : 1), sizeof *d->attrs);
        c->n_nodes++;
        if (!d->attrs) {
            ok = 0;
            break;
        }
        for (int k = 0; k < s->n_attr; k++, d->n_attr++) copy_attr(&d->attrs[k], &s->attrs[k], &ok);
    }
    for (int i = 0; ok && i < g->n_meta; i++) {
        c->meta[i].key = dup_str(g->meta[i].key, &ok);
        c->meta[i].value = dup_str(g->meta[i].value, &ok);
        c->n_meta++;
    }
    if (!ok) {
        lmg_graph_free(c);
        return NULL;
    }
    return c;
}
