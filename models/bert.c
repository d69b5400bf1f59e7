/* bert.c — what BERT adds to the shared transformer body (models/gpt.c): its MLM head, a
 * dense layer, GELU and LayerNorm before the tied output embedding plus an output bias. */
#include "models.h"

#include <stdio.h>

int lmg_bert_head(lmg_graph *g, const lmg_model_config *c, const char *scope, int h, int wte)
{
    int64_t C = c->d_model, V = c->vocab;
    char n1[256];
    scope = scope ? scope : "";
#define N(s) (snprintf(n1, sizeof n1, "%s%s", scope, s), n1)
    int w = lmg_model_param(g, c, "head.w", 2, C, C, 0, 0.02);
    int b = lmg_model_param(g, c, "head.b", 1, C, 0, 1, 0);
    int lg = lmg_model_param(g, c, "head.ln.g", 1, C, 0, 2, 0);
    int lb = lmg_model_param(g, c, "head.ln.b", 1, C, 0, 1, 0);
    int bias = lmg_model_param(g, c, "head.bias", 1, V, 0, 1, 0);
    int x = lmg_graph_node(g, LMG_OP_MATMUL, N("head.dense_mm"), (int[]){h, w}, 2, NULL, 0,
                           NULL, NULL);
    x = lmg_graph_node(g, LMG_OP_ADD, N("head.dense"), (int[]){x, b}, 2, NULL, 0, NULL, NULL);
    x = lmg_graph_node(g, LMG_OP_GELU, N("head.gelu"), &x, 1, NULL, 0, NULL, NULL);
    x = lmg_model_layer_norm(g, x, lg, lb, N("head.ln"));
    lmg_attr tb = lmg_attr_int("trans_b", 1);
    x = lmg_graph_node(g, LMG_OP_MATMUL, N("head.decoder"), (int[]){x, wte}, 2, &tb, 1, NULL,
                       NULL);
    x = lmg_graph_node(g, LMG_OP_ADD, N("head.out"), (int[]){x, bias}, 2, NULL, 0, NULL, NULL);
#undef N
    return x;
}
