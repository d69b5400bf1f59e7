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

/* ---- a user's forward graph as the model of a training run ------------------------- */

void lmg_model_graph_config(const lmg_graph *fwd, lmg_model_config *c)
{
    int ids = lmg_graph_find(fwd, "ids"), lg = lmg_graph_find(fwd, "logits");
    if (ids >= 0 && fwd->values[ids].shape.rank == 2) {
        const lmg_value *v = &fwd->values[ids];
        if (!v->dim_sym[0] && v->shape.dims[0] > 0) c->batch = (int)v->shape.dims[0];
        if (!v->dim_sym[1] && v->shape.dims[1] > 0) c->seq = (int)v->shape.dims[1];
    }
    if (lg >= 0 && fwd->values[lg].shape.rank == 3 && !fwd->values[lg].dim_sym[2] &&
        fwd->values[lg].shape.dims[2] > 0)
        c->vocab = (int)fwd->values[lg].shape.dims[2];
}

/* fwd with its named dimensions bound by "ids" (and "targets") = [batch, seq]. */
static lmg_status bind_model(const lmg_graph *fwd, const lmg_model_config *c, lmg_graph **out)
{
    const char *name = fwd->name ? fwd->name : "model";
    int ids = lmg_graph_find(fwd, "ids");
    if (ids < 0 || fwd->values[ids].kind != LMG_VALUE_INPUT ||
        fwd->values[ids].dtype != LMG_DTYPE_I32 || fwd->values[ids].shape.rank != 2)
        return lmg_error(LMG_ERR_INVALID, "model graph '%s' needs an input 'ids' i32[B,T]", name);
    lmg_graph *g = lmg_graph_clone(fwd);
    if (!g) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    int64_t d[2] = {c->batch, c->seq};
    lmg_shape want = lmg_shape_make(2, d);
    lmg_dim_binding b;
    memset(&b, 0, sizeof b);
    lmg_status s = lmg_dim_unify(&b, g, ids, &want, "the batch (--batch, --seq)");
    int tg = lmg_graph_find(g, "targets");
    if (s == LMG_OK && tg >= 0 && g->values[tg].kind == LMG_VALUE_INPUT)
        s = lmg_dim_unify(&b, g, tg, &want, "the batch's targets (--batch, --seq)");
    if (s == LMG_OK) s = lmg_graph_bind_dims(g, &b);
    if (s == LMG_OK) s = lmg_graph_verify(g);
    if (s != LMG_OK) {
        lmg_graph_free(g);
        return lmg_error_prefix(s, "model graph '%s'", name);
    }
    *out = g;
    return LMG_OK;
}

lmg_status lmg_model_graph_build(const lmg_graph *fwd, const lmg_model_config *c,
                                 const lmg_graph *obj, double weight, lmg_graph **out)
{
    *out = NULL;
    const char *name = fwd->name ? fwd->name : "model";
    if (c->micro_batches > 1)
        return lmg_error(LMG_ERR_ARG, "a model graph trains with micro_batches 1");
    lmg_graph *g = NULL;
    LMG_TRY(bind_model(fwd, c, &g));
    lmg_status s = LMG_OK;
    int lg = lmg_graph_find(g, "logits");
    if (lg >= 0 && (g->values[lg].dtype != LMG_DTYPE_F32 || g->values[lg].shape.rank != 3 ||
                    g->values[lg].shape.dims[2] != c->vocab)) {
        char d[200];
        s = lmg_error(LMG_ERR_INVALID, "model graph '%s': 'logits' is %s, expected f32[B,T,%d] "
                      "(--vocab %d)", name, lmg_value_type_str(g, lg, d, sizeof d), c->vocab,
                      c->vocab);
    }
    int loss = lmg_graph_find(g, "loss");
    if (s == LMG_OK && obj) {
        /* Views apply the bound model again, so they see the same sizes. */
        lmg_graph *bound = lmg_graph_clone(g);
        lmg_model_source src = {NULL, bound};
        int term;
        if (!bound) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        if (s == LMG_OK) s = lmg_objective_link_model(g, obj, "obj/", &src, &term);
        if (s == LMG_OK) s = lmg_objective_add_loss(g, term, weight);
        /* fwd's own loss reads its pass, which then stays. */
        if (s == LMG_OK && loss < 0) s = lmg_objective_drop_unread_pass(g, obj);
        lmg_graph_free(bound);
    } else if (s == LMG_OK && loss < 0) {
        /* No objective: next-token prediction on the logits, targets fed by the trainer. */
        if (lg < 0)
            s = lmg_error(LMG_ERR_INVALID, "model graph '%s' has neither an output 'loss' nor "
                          "'logits' to predict the next token from; give an objective graph",
                          name);
        int tg = lmg_graph_find(g, "targets");
        if (s == LMG_OK && tg < 0)
            tg = lmg_graph_input(g, "targets", LMG_DTYPE_I32, g->values[lmg_graph_find(g, "ids")].shape);
        int l = s == LMG_OK ? lmg_graph_node(g, LMG_OP_CROSS_ENTROPY, "loss",
                                             (int[]){lmg_graph_find(g, "logits"), tg}, 2, NULL, 0,
                                             NULL, NULL)
                            : -1;
        if (s == LMG_OK && l < 0) s = g->status;
        if (s == LMG_OK) s = lmg_graph_add_output(g, l);
    } else if (s == LMG_OK) {
        int is_out = 0;
        for (int i = 0; i < g->n_outputs; i++) is_out |= g->outputs[i] == loss;
        if (!is_out || g->values[loss].dtype != LMG_DTYPE_F32 || g->values[loss].shape.rank != 0)
            s = lmg_error(LMG_ERR_INVALID, "model graph '%s': 'loss' must be a scalar f32 output",
                          name);
    }
    /* The built-in objective terms do not apply: record none. */
    lmg_model_config cc = *c;
    cc.objective = "none";
    if (s == LMG_OK) s = lmg_model_config_to_graph(g, &cc);
    if (s == LMG_OK) s = lmg_graph_set_meta(g, "model.graph", name);
    if (s == LMG_OK && obj) s = lmg_graph_set_meta(g, "model.objective_graph", obj->name ? obj->name : "");
    if (s != LMG_OK) {
        lmg_graph_free(g);
        return s;
    }
    *out = g;
    return LMG_OK;
}
