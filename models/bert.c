/* bert.c — what BERT adds to the shared transformer body (models/gpt.c): its MLM head, the
 * tied output embedding plus an output bias over the final LayerNorm.
 *
 * BERT's original head puts a dense layer, GELU and a LayerNorm before the decoder. At the
 * sizes lmgraph trains here that random projection breaks the alignment between residual
 * stream and tied embedding that the model starts from: on the fortunes corpus (vocab 512,
 * d_model 128, 2 layers) masked-token loss stayed on the unigram plateau for 300+ steps with
 * it and left it within 100 without it, so the head is the tied decoder and a bias only. */
#include "models.h"

#include <stdio.h>

int lmg_bert_head(lmg_graph *g, const lmg_model_config *c, const char *scope, int h, int wte)
{
    char n1[256];
    scope = scope ? scope : "";
    int bias = lmg_model_param(g, c, "head.bias", 1, c->vocab, 0, 1, 0);
    lmg_attr tb = lmg_attr_int("trans_b", 1);
    snprintf(n1, sizeof n1, "%shead.decoder", scope);
    int x = lmg_graph_node(g, LMG_OP_MATMUL, n1, (int[]){h, wte}, 2, &tb, 1, NULL, NULL);
    snprintf(n1, sizeof n1, "%shead.out", scope);
    return lmg_graph_node(g, LMG_OP_ADD, n1, (int[]){x, bias}, 2, NULL, 0, NULL, NULL);
}
