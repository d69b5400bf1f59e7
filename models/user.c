/* user.c — a user's forward graph as a model: applied inside another graph (one pass per
 * view of an objective) with its parameters shared by name, like lmg_model_apply does for
 * the built-in GPT and BERT. */
#include "models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int same_type(const lmg_value *a, const lmg_value *b)
{
    return a->dtype == b->dtype && lmg_shape_equal(&a->shape, &b->shape);
}

/* Mark the nodes `logits` and `hidden` need (fwd is verified, so topologically sorted). */
static void mark_needed(const lmg_graph *fwd, int lg, int hd, unsigned char *need_v,
                        unsigned char *need_n)
{
    if (lg >= 0) need_v[lg] = 1;
    if (hd >= 0) need_v[hd] = 1;
    for (int i = fwd->n_nodes - 1; i >= 0; i--) {
        const lmg_node *n = &fwd->nodes[i];
        for (int k = 0; k < n->n_out; k++) need_n[i] |= need_v[n->out[k]];
        if (!need_n[i]) continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0) need_v[n->in[k]] = 1;
    }
}

static lmg_status map_input(lmg_graph *g, const lmg_graph *fwd, int v, int ids, int key_mask,
                            int *out)
{
    const lmg_value *fv = &fwd->values[v];
    int gv = strcmp(fv->name, "ids") == 0 ? ids
             : strcmp(fv->name, "key_mask") == 0 && key_mask >= 0 ? key_mask
                                                                 : lmg_graph_find(g, fv->name);
    char d1[160], d2[160];
    if (gv < 0)
        return lmg_error(LMG_ERR_NOT_FOUND, "model graph '%s': input '%s' is not available to "
                         "a view (a view gives ids and key_mask)", fwd->name, fv->name);
    if (!same_type(fv, &g->values[gv]))
        return lmg_error(LMG_ERR_INVALID, "model graph '%s': input '%s' is %s%s but the view "
                         "gives '%s' %s%s", fwd->name, fv->name, lmg_dtype_name(fv->dtype),
                         lmg_shape_str(&fv->shape, d1, sizeof d1), g->values[gv].name,
                         lmg_dtype_name(g->values[gv].dtype),
                         lmg_shape_str(&g->values[gv].shape, d2, sizeof d2));
    *out = gv;
    return LMG_OK;
}

static lmg_status map_init(lmg_graph *g, const lmg_graph *fwd, int v, int *out)
{
    const lmg_value *fv = &fwd->values[v];
    int gv = lmg_graph_find(g, fv->name);
    if (gv < 0) {
        const void *data = fv->fill == LMG_INIT_DATA ? fv->data : NULL;
        gv = fv->trainable ? lmg_graph_param(g, fv->name, fv->dtype, fv->shape, data)
                           : lmg_graph_const(g, fv->name, fv->dtype, fv->shape, data);
        if (gv < 0) return g->status;
    } else if (g->values[gv].kind != LMG_VALUE_INIT || !same_type(fv, &g->values[gv])) {
        return lmg_error(LMG_ERR_INVALID, "model graph '%s': parameter '%s' clashes with another "
                         "value of that name", fwd->name, fv->name);
    }
    *out = gv;
    return LMG_OK;
}

/* Copy node n under the scope; a random op's key is mixed with the scope's. */
static lmg_status copy_node(lmg_graph *g, const lmg_graph *fwd, const lmg_node *n,
                            const char *scope, int *map)
{
    int ins[64], outs[8];
    char nn[300], on[8][300];
    const char *onames[8];
    lmg_attr attrs[64];
    if (n->n_in > 64 || n->n_out > 8 || n->n_attr > 64)
        return lmg_error(LMG_ERR_UNSUPPORTED, "model node '%s': too many inputs, outputs or "
                         "attributes", n->name);
    for (int k = 0; k < n->n_in; k++) ins[k] = n->in[k] < 0 ? -1 : map[n->in[k]];
    for (int k = 0; k < n->n_out; k++) {
        snprintf(on[k], sizeof on[k], "%s%s", scope, fwd->values[n->out[k]].name);
        onames[k] = on[k];
    }
    for (int a = 0; a < n->n_attr; a++) {
        attrs[a] = n->attrs[a];
        if (strcmp(attrs[a].name, "key") == 0 && attrs[a].type == LMG_ATTR_INT)
            attrs[a].i = (attrs[a].i ^ lmg_random_key(scope)) & 0xffffffffll;
    }
    snprintf(nn, sizeof nn, "%s%s", scope, n->name);
    if (lmg_graph_node(g, n->op, nn, ins, n->n_in, attrs, n->n_attr, onames, outs) < 0)
        return lmg_error_prefix(g->status, "applying model graph '%s'", fwd->name);
    for (int k = 0; k < n->n_out; k++) map[n->out[k]] = outs[k];
    return LMG_OK;
}

lmg_status lmg_model_graph_apply(lmg_graph *g, const lmg_graph *fwd, int ids, int key_mask,
                                 const char *scope, int *logits, int *hidden)
{
    if (g->status != LMG_OK) return g->status;
    *logits = *hidden = -1;
    int lg = lmg_graph_find(fwd, "logits"), hd = lmg_graph_find(fwd, "hidden");
    if (lg < 0 && hd < 0)
        return lmg_error(LMG_ERR_INVALID, "model graph '%s' has neither 'logits' nor 'hidden'",
                         fwd->name);
    int *map = malloc(((size_t)fwd->n_values + 1) * sizeof *map);
    unsigned char *need_v = calloc((size_t)fwd->n_values + 1, 1);
    unsigned char *need_n = calloc((size_t)fwd->n_nodes + 1, 1);
    lmg_status s = map && need_v && need_n ? LMG_OK : lmg_error(LMG_ERR_NOMEM, "out of memory");
    if (s == LMG_OK) {
        for (int v = 0; v < fwd->n_values; v++) map[v] = -1;
        mark_needed(fwd, lg, hd, need_v, need_n);
    }
    for (int v = 0; s == LMG_OK && v < fwd->n_values; v++) {
        if (!need_v[v]) continue;
        if (fwd->values[v].kind == LMG_VALUE_INPUT) s = map_input(g, fwd, v, ids, key_mask, &map[v]);
        else if (fwd->values[v].kind == LMG_VALUE_INIT) s = map_init(g, fwd, v, &map[v]);
    }
    for (int i = 0; s == LMG_OK && i < fwd->n_nodes; i++)
        if (need_n[i]) s = copy_node(g, fwd, &fwd->nodes[i], scope ? scope : "", map);
    if (s == LMG_OK) {
        *logits = lg >= 0 ? map[lg] : -1;
        *hidden = hd >= 0 ? map[hd] : -1;
    }
    free(map);
    free(need_v);
    free(need_n);
    return s;
}
