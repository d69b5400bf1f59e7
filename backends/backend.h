/* backend.h — what every backend provides (the lmg_backend table of include/lmgraph.h:
 * prepare a verified graph, move named values in and out, run one step). */
#ifndef LMG_BACKEND_H
#define LMG_BACKEND_H

#include "../graph/graph.h"

/* The backend table, lmg_backend_ref/opencl and lmg_backend_find are public (lmgraph.h). */

#endif
