/* autodiff.c — reverse-mode differentiation of a graph into a graph, and dead-node pruning.
 * Each op's gradient rule (ops/) emits ordinary nodes; this file decides which rules run. */
#include "graph.h"

lmg_status lmg_autodiff(lmg_graph *g, const char *loss)
{
    (void)g, (void)loss;
    return lmg_error(LMG_ERR_UNSUPPORTED, "autodiff: not implemented yet");
}

lmg_status lmg_graph_prune(lmg_graph *g)
{
    (void)g;
    return lmg_error(LMG_ERR_UNSUPPORTED, "prune: not implemented yet");
}
