/* ops.h — the op registry: names, arity and properties generated from ops.def (the enum is
 * in include/lmgraph.h), and the per-op rules (checks, shapes, gradient) of each family. */
#ifndef LMG_OPS_H
#define LMG_OPS_H

#include "../graph/lmg.h"

/* Every table indexed by op is generated from ops.def and checks its own size against
 * LMG_OP_COUNT (registry.c, ref.c, opencl.c), so adding an op needs no count kept here. */

struct lmg_graph;
struct lmg_node;

/* Shape inference and attribute checks for one node: read the input values' dtype/shape
 * from g, validate attributes, write each output's dtype and shape. On a problem, return
 * lmg_error(LMG_ERR_INVALID, "node '%s' (Op): ...") naming the node and the value. */
typedef lmg_status (*lmg_infer_fn)(const struct lmg_graph *g, const struct lmg_node *n,
                                   lmg_dtype *out_dtype, lmg_shape *out_shape);

/* A gradient rule emits ordinary nodes with the builder API (graph/graph.h) that compute
 * the gradient of each wanted input from the gradients of the outputs.
 * NOTE: builder calls may move g->nodes and g->values; copy what you need from the forward
 * node (input ids, attributes) into locals before the first builder call. */
typedef struct lmg_grad_ctx {
    struct lmg_graph *g;
    int node;                   /* index of the forward node in g->nodes */
    const int *dy;              /* per output: gradient value id, or -1 (no gradient flows) */
    int *dx;                    /* per input: set to the gradient value id (left -1 = none) */
    const unsigned char *need;  /* per input: 1 when its gradient is wanted */
} lmg_grad_ctx;
typedef lmg_status (*lmg_grad_fn)(lmg_grad_ctx *c);

/* Op properties, the FLAGS column of ops.def. */
#define LMG_GRAD 1u
#define LMG_ELEMENTWISE 2u

typedef struct lmg_op_info {
    const char *name;
    int min_in, max_in, n_out;
    unsigned flags;      /* LMG_GRAD | LMG_ELEMENTWISE ... as in ops.def */
    lmg_infer_fn infer;  /* never NULL (a missing rule reports itself) */
    lmg_grad_fn grad;    /* NULL: not differentiable */
} lmg_op_info;

const lmg_op_info *lmg_op_get(lmg_op op);      /* NULL when out of range */
/* 1 when op has every property in `flags` (ops.def's FLAGS column); 0 when out of range. */
int lmg_op_is(lmg_op op, unsigned flags);
/* 1 when the table holds this op's inference rule (and gradient, if GRAD); for tests. */
int lmg_op_has_rules(lmg_op op);
/* For AdamW-like ops: the input that output `k` is written over, or -1. */
int lmg_op_alias(lmg_op op, int k);

/* Every family file defines, for each of its ops E listed in ops.def:
 *   lmg_status lmg_infer_E(const lmg_graph *, const lmg_node *, lmg_dtype *, lmg_shape *);
 *   lmg_status lmg_grad_E(lmg_grad_ctx *);          (only when FLAGS has LMG_GRAD)
 * registry.c refers to each by name: a missing one is a link error, never a silent
 * fallback (tests/cli_library.sh also checks liblmg.a defines every one). */
#define LMG_OP(E, N, mi, ma, no, gr)                                                      \
    lmg_status lmg_infer_##E(const struct lmg_graph *, const struct lmg_node *, lmg_dtype *, \
                             lmg_shape *);                                               \
    lmg_status lmg_grad_##E(lmg_grad_ctx *);
#include "ops.def"
#undef LMG_OP

/* ---- helpers for family files (ops/util.c) ---------------------------------------- */
/* Numpy broadcast of two shapes; LMG_ERR_INVALID when incompatible (message set by caller
 * context `what`, e.g. the node name). */
lmg_status lmg_broadcast_shapes(const lmg_shape *a, const lmg_shape *b, lmg_shape *out);
/* Normalise a possibly negative axis; -1 when out of range. */
int lmg_axis(int64_t axis, int rank);

/* ---- more helpers for family files (ops/util.c) ------------------------------------ */
/* Return LMG_ERR_INVALID with the message "node '<name>' (<Op>): <fmt...>". */
lmg_status lmg_op_error(const struct lmg_node *n, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Check that input k of n is present and its dtype is in `dtypes` (a mask of
 * LMG_DTYPE_BIT(t)); otherwise an error naming the node, op, input and dtype. */
#define LMG_DTYPE_BIT(t) (1u << (t))
lmg_status lmg_op_check_input(const struct lmg_graph *g, const struct lmg_node *n, int k,
                              unsigned dtypes);
/* Check n's attributes against `spec`, space-separated "name:type" with type i (int),
 * f (float; an int is accepted), s (string), I (ints), F (floats): an attribute not in
 * the spec or of another type is an error naming the node and attribute. */
lmg_status lmg_op_check_attrs(const struct lmg_node *n, const char *spec);
/* Writes "'name' [2,3]" for value v into buf (NUL-terminated); returns buf. */
char *lmg_op_value_str(const struct lmg_graph *g, int v, char *buf, size_t size);

/* ops/random.c: the `key` attribute a builder gives a random op: FNV-1a 32 of its node name,
 * so two random nodes of one graph draw independent streams. */
int64_t lmg_random_key(const char *node_name);

#endif
