/* ref.h — the reference backend's kernel interface: one plain-C function per op,
 * lmg_ref_<ENUM>, defined in the op family's backends/ref/<family>.c. */
#ifndef LMG_REF_H
#define LMG_REF_H

#include "../backend.h"

/* A host tensor: contiguous, row-major. */
typedef struct lmg_tensor {
    lmg_dtype dtype;
    lmg_shape shape;
    void *data;
} lmg_tensor;

typedef struct lmg_ref_ctx {
    const lmg_graph *g;
    uint64_t step; /* the run's step, for random ops */
} lmg_ref_ctx;

/* A kernel reads `in` (NULL entries for omitted optional inputs) and writes `out`; shapes
 * are verified before it is called. Only data-dependent problems are errors here. */
typedef lmg_status (*lmg_ref_kernel)(const lmg_ref_ctx *c, const lmg_node *n,
                                     const lmg_tensor *const *in, lmg_tensor *const *out);

#define LMG_OP(E, N, mi, ma, no, gr)                                                 \
    lmg_status lmg_ref_##E(const lmg_ref_ctx *, const lmg_node *, const lmg_tensor *const *, \
                           lmg_tensor *const *);
#include "../../ops/ops.def"
#undef LMG_OP

/* 1 when the op has a reference kernel (registry check for tests). */
int lmg_ref_has_kernel(lmg_op op);

static inline float *lmg_f32(const lmg_tensor *t) { return (float *)t->data; }
static inline int32_t *lmg_i32(const lmg_tensor *t) { return (int32_t *)t->data; }
static inline int64_t lmg_numel(const lmg_tensor *t) { return lmg_shape_numel(&t->shape); }

#endif
