/* dot.c — a Graphviz picture of a graph: ops as boxes, values as labelled edges. */
#include "graph.h"

lmg_status lmg_graph_dot(const lmg_graph *g, char **text)
{
    (void)g, (void)text;
    return lmg_error(LMG_ERR_UNSUPPORTED, "dot: not implemented yet");
}
