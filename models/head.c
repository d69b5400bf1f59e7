/* head.c — the classification head: pooling of the final hidden states over the non-padding
 * positions (BERT's <cls> position, GPT's last token, or their mean) and a linear layer.
 *
 * Pooling is one batched product of weights w[B,T] with hidden[B,T,C]: a weight is zero at
 * every padding position, so padding gets no gradient and never reaches the logits. With
 * right padding (the labelled rows are <cls> text <eos> <pad>...), GPT's causal attention
 * already keeps padding out of every real position; BERT masks it with the key mask. */
#include "models.h"

#include <stdio.h>
#include <string.h>

static int nnode(lmg_graph *g, lmg_op op, const char *scope, const char *name, const int *ins,
                 int n_in, const lmg_attr *a, int na)
{
    char n1[256];
    snprintf(n1, sizeof n1, "%s%s", scope, name);
    return lmg_graph_node(g, op, n1, ins, n_in, a, na, NULL, NULL);
}

const char *lmg_model_pool(const lmg_model_config *c)
{
    return c->pool ? c->pool : lmg_model_arch_of(c)->pool;
}

int lmg_model_pool_hidden(lmg_graph *g, const char *pool, int pad_id, const char *scope,
                          int ids, int hidden)
{
    if (g->status != LMG_OK) return -1;
    scope = scope ? scope : "";
    const lmg_shape *hs = &g->values[hidden].shape;
    if (hs->rank != 3) {
        g->status = lmg_error(LMG_ERR_INVALID, "pooling: hidden '%s' is not [B,T,C]",
                              g->values[hidden].name);
        return -1;
    }
    int64_t B = hs->dims[0], T = hs->dims[1], C = hs->dims[2];
    int64_t d2[2] = {B, C}, d3[3] = {B, 1, T};
    if (strcmp(pool, "cls") == 0) {
        /* Position 0 holds <cls> in every labelled row. */
        lmg_attr sa[3] = {lmg_attr_int("axis", 1), lmg_attr_int("start", 0), lmg_attr_int("end", 1)};
        int x = nnode(g, LMG_OP_SLICE, scope, "cls.pool_slice", &hidden, 1, sa, 3);
        lmg_attr r = lmg_attr_ints("shape", 2, d2);
        return nnode(g, LMG_OP_RESHAPE, scope, "cls.pooled", &x, 1, &r, 1);
    }
    if (strcmp(pool, "last") != 0 && strcmp(pool, "mean") != 0) {
        g->status = lmg_error(LMG_ERR_ARG, "pooling '%s' is not cls, last or mean", pool);
        return -1;
    }
    if (pad_id < 0) {
        g->status = lmg_error(LMG_ERR_ARG, "pooling '%s' needs a padding id", pool);
        return -1;
    }
    lmg_attr pa = lmg_attr_int("pad_id", pad_id);
    int m = nnode(g, LMG_OP_PADDING_MASK, scope, "cls.mask", &ids, 1, &pa, 1); /* [B,T] */
    int w;
    if (strcmp(pool, "mean") == 0) {
        int64_t ax[1] = {1};
        lmg_attr ra[2] = {lmg_attr_ints("axes", 1, ax), lmg_attr_int("keepdims", 1)};
        int n = nnode(g, LMG_OP_REDUCE_SUM, scope, "cls.count", &m, 1, ra, 2);
        int one = lmg_graph_scalar(g, 1.0f);
        n = nnode(g, LMG_OP_MAXIMUM, scope, "cls.count1", (int[]){n, one}, 2, NULL, 0);
        w = nnode(g, LMG_OP_DIV, scope, "cls.weights", (int[]){m, n}, 2, NULL, 0);
    } else {
        /* mask[t] - mask[t+1] (mask[T] = 0) is 1 at the last non-padding position alone. */
        lmg_attr sa[3] = {lmg_attr_int("axis", 1), lmg_attr_int("start", 1), lmg_attr_int("end", T)};
        int nxt = T > 1 ? nnode(g, LMG_OP_SLICE, scope, "cls.mask_next", &m, 1, sa, 3) : -1;
        char zn[256];
        snprintf(zn, sizeof zn, "%scls.zero", scope);
        int64_t dz[2] = {B, 1};
        int z = lmg_graph_const(g, zn, LMG_DTYPE_F32, lmg_shape_make(2, dz), NULL);
        lmg_attr ca = lmg_attr_int("axis", 1);
        int sh = T > 1 ? nnode(g, LMG_OP_CONCAT, scope, "cls.mask_shift", (int[]){nxt, z}, 2, &ca, 1)
                       : z;
        w = nnode(g, LMG_OP_SUB, scope, "cls.weights", (int[]){m, sh}, 2, NULL, 0);
    }
    lmg_attr r3 = lmg_attr_ints("shape", 3, d3);
    w = nnode(g, LMG_OP_RESHAPE, scope, "cls.weights3d", &w, 1, &r3, 1);
    int x = nnode(g, LMG_OP_MATMUL, scope, "cls.pool_mm", (int[]){w, hidden}, 2, NULL, 0);
    lmg_attr r2 = lmg_attr_ints("shape", 2, d2);
    return nnode(g, LMG_OP_RESHAPE, scope, "cls.pooled", &x, 1, &r2, 1);
}

int lmg_model_cls_head(lmg_graph *g, const lmg_model_config *c, const char *scope, int ids,
                       int hidden)
{
    if (g->status != LMG_OK) return -1;
    scope = scope ? scope : "";
    int x = lmg_model_pool_hidden(g, lmg_model_pool(c), c->pad_id, scope, ids, hidden);
    char n1[256];
    snprintf(n1, sizeof n1, "%scls.drop", scope);
    x = lmg_model_dropout(g, c, x, n1);
    int w = lmg_model_param(g, c, "cls.w", 2, c->d_model, c->n_classes, 0, 0.02);
    int b = lmg_model_param(g, c, "cls.b", 1, c->n_classes, 0, 1, 0);
    x = nnode(g, LMG_OP_MATMUL, scope, "cls.logits_mm", (int[]){x, w}, 2, NULL, 0);
    return nnode(g, LMG_OP_ADD, scope, "cls.logits", (int[]){x, b}, 2, NULL, 0);
}
