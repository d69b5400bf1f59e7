/* graph.h — the graph IR and builder (public, in include/lmgraph.h) plus the low-level calls
 * the loader, the parser and the passes use. Builders record, they do not compute. */
#ifndef LMG_GRAPH_H
#define LMG_GRAPH_H

#include "lmg.h"
#include "../ops/ops.h"

/* Rebuild the name index after values were renamed or removed in place (passes only). */
lmg_status lmg_graph_reindex(lmg_graph *g);
/* Low-level append used by the loader and the parser: creates a node over existing values
 * without running inference (the verifier does that). Takes ownership of nothing. */
lmg_status lmg_graph_append_node(lmg_graph *g, const char *name, lmg_op op,
                                 const int *ins, int n_in, const int *outs, int n_out,
                                 const lmg_attr *attrs, int n_attr);
/* Low-level value creation (kind NODE, no producer yet); -1 on error/duplicate. */
int lmg_graph_add_value(lmg_graph *g, const char *name, lmg_value_kind kind,
                        lmg_dtype t, lmg_shape s);

#endif
