/* backend.h — what every backend provides: a table of functions that prepare a verified
 * graph for execution, move named values in and out, and run one step. */
#ifndef LMG_BACKEND_H
#define LMG_BACKEND_H

#include "../graph/graph.h"

typedef struct lmg_exec lmg_exec; /* a backend's prepared graph; opaque */

typedef struct lmg_exec_opts {
    const char *device;   /* backend-specific device choice ("P:D" for opencl); NULL = default */
    int keep_all;         /* keep every intermediate readable after run (tests, debugging) */
} lmg_exec_opts;

typedef struct lmg_backend {
    const char *name;
    /* Prepare `g` (verified; the backend keeps a pointer: g must outlive the exec).
     * Initializers are uploaded; inputs start as zeros. */
    lmg_status (*init)(const lmg_graph *g, const lmg_exec_opts *opts, lmg_exec **out);
    /* Write a graph input or initializer (a parameter, optimizer state) by value id. */
    lmg_status (*write)(lmg_exec *e, int value, const void *data, size_t nbytes);
    /* Run every node once. `step` keys the random ops (dropout, masks) of this run. */
    lmg_status (*run)(lmg_exec *e, uint64_t step);
    /* Read a graph output, input or initializer (any value when keep_all) by value id. */
    lmg_status (*read)(lmg_exec *e, int value, void *data, size_t nbytes);
    void (*free)(lmg_exec *e); /* free(NULL) is a no-op */
} lmg_backend;

extern const lmg_backend lmg_backend_ref;
extern const lmg_backend lmg_backend_opencl;

/* Look a backend up by name ("ref", "opencl"); NULL when unknown. */
const lmg_backend *lmg_backend_find(const char *name);

#endif
