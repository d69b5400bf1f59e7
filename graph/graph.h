/* graph.h — the in-memory IR of an lmgraph graph and the builder API that records it.
 * Builders record, they do not compute: each call appends a value or a node and returns. */
#ifndef LMG_GRAPH_H
#define LMG_GRAPH_H

#include "lmg.h"
#include "../ops/ops.h"

#define LMG_IR_VERSION 1
#define LMG_OPSET_VERSION 1

#define LMG_MAX_DIM_NAMES 16 /* named dimensions per graph */
#define LMG_DIM_NAME_MAX 32  /* bytes of a dimension name, NUL included */

typedef enum {
    LMG_VALUE_NODE = 0,   /* produced by a node */
    LMG_VALUE_INPUT = 1,  /* fed by the caller at run time */
    LMG_VALUE_INIT = 2,   /* an initializer: constant, parameter or optimizer state */
} lmg_value_kind;

typedef enum {
    LMG_INIT_DATA = 0,     /* bytes in `data` */
    LMG_INIT_ZEROS = 1,    /* all zero; `data` is NULL until someone asks */
} lmg_init_fill;

typedef struct lmg_value {
    char *name;
    lmg_dtype dtype;
    lmg_shape shape;
    lmg_value_kind kind;
    int producer;          /* node index for LMG_VALUE_NODE, else -1 */
    /* Initializers only: */
    int trainable;         /* a parameter: autodiff makes grad/<name> for it */
    lmg_init_fill fill;
    void *data;            /* numel * dtype_size bytes, owned by the graph; NULL for zeros */
    /* Named dimensions (graph/dims.c): 0 = dims[i] is a size; k > 0 = dims[i] is the
     * dimension g->dim_names[k-1] (dims[i] holds 0 until the graph is bound); -1 = a node
     * output dimension that depends on named ones in a way no name states (printed '?'). */
    int8_t dim_sym[LMG_MAX_DIMS];
} lmg_value;

typedef enum {
    LMG_ATTR_INT = 1,
    LMG_ATTR_FLOAT = 2,
    LMG_ATTR_STRING = 3,
    LMG_ATTR_INTS = 4,
    LMG_ATTR_FLOATS = 5,
} lmg_attr_type;

typedef struct lmg_attr {
    char *name;
    lmg_attr_type type;
    int64_t i;
    double f;
    char *s;        /* STRING's value; for INT, a dimension name until bound (else NULL) */
    int n;          /* length of ints / floats */
    int64_t *ints;
    double *floats;
} lmg_attr;

typedef struct lmg_node {
    char *name;
    lmg_op op;
    int n_in, n_out, n_attr;
    int *in;        /* value ids; -1 = optional input omitted */
    int *out;       /* value ids */
    lmg_attr *attrs;
} lmg_node;

typedef struct lmg_meta {
    char *key, *value;
} lmg_meta;

typedef struct lmg_graph {
    char *name;
    int64_t ir_version, opset_version; /* as read from a file; LMG_*_VERSION when built */
    char *producer;
    lmg_value *values;
    int n_values, cap_values;
    lmg_node *nodes;
    int n_nodes, cap_nodes;
    int *inputs, n_inputs;     /* value ids, in declaration order */
    int *outputs, n_outputs;   /* value ids */
    lmg_meta *meta;
    int n_meta;
    /* name -> value id (open addressing); internal to graph.c */
    int *index;
    int index_cap;
    /* Builder errors are sticky: the first failure is kept here and every later builder
     * call returns -1, so a model builder checks once at the end (like ferror). */
    lmg_status status;
    int name_counter;          /* for generated value names */
    /* Named dimensions used by the values' dim_sym (graph/dims.c); a bound graph has none. */
    char dim_names[LMG_MAX_DIM_NAMES][LMG_DIM_NAME_MAX];
    int n_dim_names;
} lmg_graph;

/* ---- life cycle -------------------------------------------------------------------- */
lmg_graph *lmg_graph_new(const char *name);
void lmg_graph_free(lmg_graph *g); /* free(NULL) is a no-op */
/* A deep copy (values, data, nodes, metadata). NULL on out-of-memory. */
lmg_graph *lmg_graph_clone(const lmg_graph *g);

/* ---- lookup ------------------------------------------------------------------------ */
int lmg_graph_find(const lmg_graph *g, const char *name); /* value id or -1 */
/* Rebuild the name index after values were renamed or removed in place (passes only). */
lmg_status lmg_graph_reindex(lmg_graph *g);
/* Node-local helpers: attribute lookup by name, NULL when absent. */
const lmg_attr *lmg_node_attr(const lmg_node *n, const char *name);
int64_t lmg_node_attr_int(const lmg_node *n, const char *name, int64_t dflt);
double lmg_node_attr_float(const lmg_node *n, const char *name, double dflt);
const char *lmg_node_attr_string(const lmg_node *n, const char *name, const char *dflt);

/* ---- builder ----------------------------------------------------------------------- */
/* Each returns a value id (>= 0), or -1 with g->status set (and every later call fails). */
int lmg_graph_input(lmg_graph *g, const char *name, lmg_dtype t, lmg_shape s);
/* A trainable parameter (data copied; NULL data means zeros). */
int lmg_graph_param(lmg_graph *g, const char *name, lmg_dtype t, lmg_shape s, const void *data);
/* A non-trainable initializer (data copied; NULL means zeros). */
int lmg_graph_const(lmg_graph *g, const char *name, lmg_dtype t, lmg_shape s, const void *data);
/* A scalar f32 / i32 constant with a generated name. */
int lmg_graph_scalar(lmg_graph *g, float v);
int lmg_graph_scalar_i32(lmg_graph *g, int32_t v);
/* Mark a value as a graph output (idempotent). */
lmg_status lmg_graph_add_output(lmg_graph *g, int value);
/* Metadata: set (replaces) / get (NULL when absent). */
lmg_status lmg_graph_set_meta(lmg_graph *g, const char *key, const char *value);
const char *lmg_graph_get_meta(const lmg_graph *g, const char *key);

/* Attributes for lmg_graph_node: build with these, pass an array. Strings are copied. */
lmg_attr lmg_attr_int(const char *name, int64_t v);
lmg_attr lmg_attr_float(const char *name, double v);
lmg_attr lmg_attr_string(const char *name, const char *v);
lmg_attr lmg_attr_ints(const char *name, int n, const int64_t *v);
lmg_attr lmg_attr_floats(const char *name, int n, const double *v);

/* Append a node. `name` may be NULL (one is generated). Output values are created with
 * generated names (`<node>:<k>`, or the names in `out_names` when non-NULL) and their
 * dtype/shape filled by the op's shape inference; a failed check sets g->status.
 * Writes the output value ids to `outs` (may be NULL) and returns the first output id. */
int lmg_graph_node(lmg_graph *g, lmg_op op, const char *name,
                   const int *ins, int n_in, const lmg_attr *attrs, int n_attr,
                   const char *const *out_names, int *outs);

/* Rename a value (must be unique); used to give outputs stable names like "loss". */
lmg_status lmg_graph_rename(lmg_graph *g, int value, const char *name);

/* Low-level append used by the loader and the parser: creates a node over existing values
 * without running inference (the verifier does that). Takes ownership of nothing. */
lmg_status lmg_graph_append_node(lmg_graph *g, const char *name, lmg_op op,
                                 const int *ins, int n_in, const int *outs, int n_out,
                                 const lmg_attr *attrs, int n_attr);
/* Low-level value creation (kind NODE, no producer yet); -1 on error/duplicate. */
int lmg_graph_add_value(lmg_graph *g, const char *name, lmg_value_kind kind,
                        lmg_dtype t, lmg_shape s);

/* ---- short builders for common ops (record one node, return its first output) ----- */
int lmg_add(lmg_graph *g, int a, int b);
int lmg_sub(lmg_graph *g, int a, int b);
int lmg_mul(lmg_graph *g, int a, int b);
int lmg_div(lmg_graph *g, int a, int b);
int lmg_neg(lmg_graph *g, int x);
int lmg_scale(lmg_graph *g, int x, double alpha, double beta); /* alpha*x + beta */
int lmg_unary(lmg_graph *g, lmg_op op, int x);                 /* Exp, Log, Tanh, ... */
int lmg_matmul(lmg_graph *g, int a, int b, int trans_a, int trans_b);
int lmg_reshape(lmg_graph *g, int x, int rank, const int64_t *dims);
int lmg_transpose(lmg_graph *g, int x, int rank, const int64_t *perm);
int lmg_reduce_sum(lmg_graph *g, int x, int n_axes, const int64_t *axes, int keepdims);
int lmg_expand(lmg_graph *g, int x, lmg_shape to);
/* Sum `x` down to shape `to` (the reverse of broadcasting); returns x when equal. */
int lmg_sum_to(lmg_graph *g, int x, lmg_shape to);

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

/* ---- passes (each in its own file under graph/) ------------------------------------ */
/* verify.c: full check (arity, names, cycles, dtype/shape by re-inference, attributes);
 * on failure the message names the node and value. Sorts nodes topologically if needed. */
lmg_status lmg_graph_verify(lmg_graph *g);
/* verify.c: node indices in topological order (nodes already sorted: identity). */
lmg_status lmg_graph_toposort(lmg_graph *g);

/* io.c: binary .pb load/save. Tensors above `external_min_bytes` (0 = never) are written to
 * `<path minus .pb>.safetensors` beside the file and referenced from the .pb. */
lmg_status lmg_graph_load(const char *path, lmg_graph **out);
lmg_status lmg_graph_load_bytes(const void *buf, size_t n, const char *base_dir, lmg_graph **out);
lmg_status lmg_graph_save(const lmg_graph *g, const char *path, size_t external_min_bytes);
lmg_status lmg_graph_save_bytes(const lmg_graph *g, void **buf, size_t *n); /* malloc'd */

/* text.c: the human text form (.lmgt). print returns a malloc'd string. */
lmg_status lmg_graph_print(const lmg_graph *g, char **text);
lmg_status lmg_graph_parse(const char *text, const char *filename, lmg_graph **out);

/* dot.c: Graphviz DOT, malloc'd. */
lmg_status lmg_graph_dot(const lmg_graph *g, char **text);

/* autodiff.c: append the backward pass for scalar `loss`; for every trainable parameter p
 * a value named "grad/<p>" becomes a graph output (and the loss stays one). */
lmg_status lmg_autodiff(lmg_graph *g, const char *loss);
/* autodiff.c: drop nodes and values no output (or aliased state update) needs. */
lmg_status lmg_graph_prune(lmg_graph *g);

#endif
