/* plan.h — the memory plan of a graph: which region each value lives in, at what offset,
 * and which values share storage (in-place ops, optimizer outputs, Reshape views). */
#ifndef LMG_PLAN_H
#define LMG_PLAN_H

#include "graph.h"

typedef enum {
    LMG_REGION_ARENA,   /* intermediate values; offsets reused once a value is dead */
    LMG_REGION_PARAMS,  /* trainable parameters, graph order, one flat block */
    LMG_REGION_GRADS,   /* graph outputs "grad/<param>", same order as PARAMS */
    LMG_REGION_STATE,   /* optimizer state (AdamW m, v), in step with PARAMS */
    LMG_REGION_CONSTS,  /* every other initializer */
    LMG_REGION_INPUTS,  /* graph inputs */
    LMG_REGION_COUNT
} lmg_region;

typedef struct lmg_plan_opts {
    size_t alignment; /* bytes, e.g. 64; 0 means 64 */
    int keep_all;     /* no reuse: every value readable after the run */
} lmg_plan_opts;

typedef struct lmg_plan {
    int n_values;
    lmg_region *region; /* per value */
    size_t *offset;     /* per value: byte offset inside its region */
    int *alias;         /* value whose storage this one shares (in-place op, AdamW output,
                           Reshape view), or -1; always resolved to the value that owns the
                           storage (never a chain) */
    size_t region_bytes[LMG_REGION_COUNT];
    size_t lower_bound; /* largest sum of simultaneously live arena bytes */
    size_t peak;        /* sum of region_bytes: device memory the plan needs */
    /* Additions (read-only for users): */
    size_t *bytes;      /* per value: numel * dtype size (0 for unused values) */
    int *first, *last;  /* per value: live from node `first` to node `last` inclusive
                           (-1 = before the first node; n_nodes = to the end); -1/-1 when
                           the value is never used */
} lmg_plan;

/* Build the plan of g (nodes in topological order). opts may be NULL (alignment 64,
 * reuse on). On failure *out is NULL. */
lmg_status lmg_plan_build(const lmg_graph *g, const lmg_plan_opts *opts, lmg_plan **out);
void lmg_plan_free(lmg_plan *p); /* free(NULL) is a no-op */

/* A human table: one line per region, then (values != 0) one line per value with region,
 * offset, bytes, lifetime and alias, and the storage groups live at the arena's peak.
 * Returns a malloc'd string. */
lmg_status lmg_plan_print(const lmg_graph *g, const lmg_plan *p, int values, char **text);
const char *lmg_region_name(lmg_region r); /* "arena", "params", ... */

#endif
