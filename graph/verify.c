/* verify.c — the graph verifier (names, arity, order, cycles, dtype/shape by
 * re-inference, attributes) and the stable topological sort. */
#include "graph.h"

lmg_status lmg_graph_verify(lmg_graph *g)
{
    (void)g;
    return lmg_error(LMG_ERR_UNSUPPORTED, "verify: not implemented yet");
}
lmg_status lmg_graph_toposort(lmg_graph *g)
{
    (void)g;
    return lmg_error(LMG_ERR_UNSUPPORTED, "toposort: not implemented yet");
}
