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
/* bwd[i] = 1 for node i of the backward pass or the optimizer: named grad/..., reading a
 * value named grad/..., or reading what such a node computed (graph/cost.c). */
lmg_status lmg_graph_mark_backward(const lmg_graph *g, unsigned char *bwd);
/* The FLOPs of the products inside an Attention or AttentionGrad node n (QK^T and PV forward,
 * dV, dP, dQ and dK backward; halved when causal), as lmg_graph_count_flops counts them;
 * 0 for any other node or shape (graph/cost.c). */
double lmg_graph_attention_flops(const lmg_graph *g, const lmg_node *n);

/* Activation recomputation (graph/recompute.c): nodes [0, n_forward) are a forward pass and
 * the rest a backward pass reading some of its values. Each such value that cheap ops
 * (elementwise, LayerNorm, Transpose, Reshape) make from values the backward pass reads anyway
 * is made again by nodes "grad/<node>/recompute" placed just before its first backward
 * reader, which then read the copy: the same kernels on the same inputs, so the same bits,
 * and the original dies with its last forward reader. On failure the graph keeps its nodes
 * and values but may have gained unused copies at the end. */
lmg_status lmg_graph_recompute(lmg_graph *g, int n_forward);

/* ---- named dimensions (graph/dims.c) ----------------------------------------------- */
/* A graph may declare sizes by name (`f32[B,T,V]`) so one file serves every model size.
 * The sizes are bound when the graph meets concrete shapes (a model it is linked to, or
 * data); lmg_graph_bind_dims then turns it into an ordinary graph. Until then
 * lmg_graph_verify checks it under two trial bindings (every name a distinct size), so a
 * shape that only works for one size is found, and gives node outputs named dims. */

/* The index (>= 1) of dimension `name`, added when absent; -1 with an error when the name
 * is not [A-Za-z_][A-Za-z0-9_]* of at most 31 bytes or the table is full. */
int lmg_graph_dim_symbol(lmg_graph *g, const char *name);
/* 1 when some value of g has a named or unknown dimension. */
int lmg_graph_is_symbolic(const lmg_graph *g);

/* Sizes chosen for named dimensions, each with what chose it (for conflict messages). */
typedef struct lmg_dim_binding {
    int n;
    char name[LMG_MAX_DIM_NAMES][LMG_DIM_NAME_MAX];
    int64_t size[LMG_MAX_DIM_NAMES];
    char origin[LMG_MAX_DIM_NAMES][160];
} lmg_dim_binding;

/* Bind name = size, chosen by `origin` (e.g. "input 'ids' (the model's i32[8,64])"). A name
 * bound to another size already is an error naming the dimension, both sizes and both
 * origins. */
lmg_status lmg_dim_bind(lmg_dim_binding *b, const char *name, int64_t size, const char *origin);
/* Match value v of g (its declared dims) against the concrete shape `actual`, binding each
 * named dimension; a rank or a fixed size that differs is an error naming the value. */
lmg_status lmg_dim_unify(lmg_dim_binding *b, const lmg_graph *g, int v, const lmg_shape *actual,
                         const char *origin);
/* Parse "B=8,T=64" (from the command line) into b. */
lmg_status lmg_dim_parse(lmg_dim_binding *b, const char *spec);
/* Replace every named dimension of g by its size in b: g becomes an ordinary graph (node
 * outputs with unknown dims are re-inferred by the next verify). A name b lacks is an error
 * naming it and a value that uses it. */
lmg_status lmg_graph_bind_dims(lmg_graph *g, const lmg_dim_binding *b);
/* "f32[B,T,1024]" for value v of g, into buf; returns buf. */
char *lmg_value_type_str(const lmg_graph *g, int v, char *buf, size_t n);
/* LMG_OK when g has no named dimension, else an error saying that `what` (e.g. "running")
 * needs sizes, listing the names. */
lmg_status lmg_graph_check_bound(const lmg_graph *g, const char *what);
/* lmg_graph_verify of a graph with named dimensions (it calls this itself). */
lmg_status lmg_graph_verify_symbolic(lmg_graph *g);

/* ---- names (graph/names.c): "did you mean" ------------------------------------------ */
/* Edit distance of two names (their first 63 bytes), case folded when fold_case. */
int lmg_name_distance(const char *a, const char *b, int fold_case);
/* 1 when `distance` from what was typed is small enough to suggest the other name. */
int lmg_name_close(const char *typed, int distance);
/* The defined value name of g (input, initializer, node output) nearest to `name`, when
 * close enough to be the likely intent; else NULL. */
const char *lmg_graph_nearest_value(const lmg_graph *g, const char *name);

#endif
