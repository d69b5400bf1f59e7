/* lmgraph.h — the public C API of lmgraph: status and errors, dtypes and shapes, the graph
 * IR and its builder, load/save/print/verify, autodiff, models, the training step, the
 * trainer and evaluation, classifier runs, ONNX export and import, backends.
 *
 * Link with `pkg-config --cflags --libs lmgraph` (add --static for the archive). Every call
 * that can fail returns an lmg_status; lmg_last_error() then holds one line naming the file,
 * node or value. Nothing in the library prints or exits. */
#ifndef LMGRAPH_H
#define LMGRAPH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks what liblmg.so exports; everything else in the library is hidden. */
#define LMG_API __attribute__((visibility("default")))

#define LMG_VERSION_MAJOR 0
#define LMG_VERSION_MINOR 1
#define LMG_VERSION_PATCH 0

/* ---- status and errors ------------------------------------------------------------- */
/* Status codes. OpenCL's own error numbers (-1 .. -99) pass through unchanged, so a failing
 * clXxx call reports its real code; lmgraph's own codes sit in a separate range. */
typedef int lmg_status;
enum {
    LMG_OK = 0,
    LMG_ERR_NOMEM = -1001,       /* host allocation failed */
    LMG_ERR_IO = -1002,          /* a file could not be read or written */
    LMG_ERR_PARSE = -1003,       /* malformed bytes or text */
    LMG_ERR_VERSION = -1004,     /* ir_version or opset newer than this reader */
    LMG_ERR_INVALID = -1005,     /* a graph fails verification */
    LMG_ERR_ARG = -1006,         /* a bad argument from the caller */
    LMG_ERR_UNSUPPORTED = -1007, /* an op or feature a backend cannot run */
    LMG_ERR_DEVICE = -1008,      /* device setup or memory problem (details in the message) */
    LMG_ERR_NOT_FOUND = -1009,   /* a named value, file or device does not exist */
    LMG_ERR_DATA = -1010,        /* bad training data or tokenizer input */
};

/* The message of the last error on this thread ("" when none). */
LMG_API const char *lmg_last_error(void);
LMG_API void lmg_error_clear(void);
LMG_API const char *lmg_status_name(lmg_status s);

/* Pass a failure up: `LMG_TRY(lmg_graph_verify(g));` returns its status when not LMG_OK. */
#define LMG_TRY(expr)                       \
    do {                                    \
        lmg_status lmg_try_s_ = (expr);     \
        if (lmg_try_s_ != LMG_OK) return lmg_try_s_; \
    } while (0)

/* ---- dtypes and shapes ------------------------------------------------------------- */
/* Element types. The numbers are the on-disk enum values of proto/lmg.proto. */
typedef enum {
    LMG_DTYPE_UNDEFINED = 0,
    LMG_DTYPE_F32 = 1,
    LMG_DTYPE_I32 = 2,
    LMG_DTYPE_F16 = 3,  /* reserved: no op accepts it yet */
    LMG_DTYPE_BF16 = 4, /* reserved */
} lmg_dtype;

LMG_API size_t lmg_dtype_size(lmg_dtype t);          /* 0 for UNDEFINED */
LMG_API const char *lmg_dtype_name(lmg_dtype t);     /* "f32", "i32", ... */
LMG_API int lmg_dtype_from_name(const char *name);   /* -1 if unknown */

/* A static shape. Rank 0 is a scalar with one element. */
#define LMG_MAX_DIMS 8
typedef struct lmg_shape {
    int rank;
    int64_t dims[LMG_MAX_DIMS];
} lmg_shape;

LMG_API int64_t lmg_shape_numel(const lmg_shape *s);
LMG_API int lmg_shape_equal(const lmg_shape *a, const lmg_shape *b);
LMG_API lmg_shape lmg_shape_make(int rank, const int64_t *dims);
/* Writes "[2,3,4]" into buf (always NUL-terminated); returns buf. */
LMG_API char *lmg_shape_str(const lmg_shape *s, char *buf, size_t n);

/* ---- ops --------------------------------------------------------------------------- */
/* One enum value per line of ops/ops.def (name, arity and meaning are documented there).
 * The installed header carries the list itself. */
typedef enum {
#define LMG_OP(E, N, mi, ma, no, gr) LMG_OP_##E,
#include "../ops/ops.def"
#undef LMG_OP
    LMG_OP_COUNT
} lmg_op;

LMG_API const char *lmg_op_name(lmg_op op);       /* "MatMul"; "?" when out of range */
LMG_API int lmg_op_from_name(const char *name);   /* the op, or -1 when unknown */

/* ---- the graph IR ------------------------------------------------------------------ */
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
    /* Named dimensions: 0 = dims[i] is a size; k > 0 = dims[i] is the dimension
     * g->dim_names[k-1] (dims[i] holds 0 until the graph is bound); -1 = a node output
     * dimension that depends on named ones in a way no name states (printed '?'). */
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
    /* Named dimensions used by the values' dim_sym; a bound graph has none. */
    char dim_names[LMG_MAX_DIM_NAMES][LMG_DIM_NAME_MAX];
    int n_dim_names;
} lmg_graph;

/* ---- life cycle and lookup --------------------------------------------------------- */
LMG_API lmg_graph *lmg_graph_new(const char *name);
LMG_API void lmg_graph_free(lmg_graph *g); /* free(NULL) is a no-op */
/* A deep copy (values, data, nodes, metadata). NULL on out-of-memory. */
LMG_API lmg_graph *lmg_graph_clone(const lmg_graph *g);
LMG_API int lmg_graph_find(const lmg_graph *g, const char *name); /* value id or -1 */
/* Attribute lookup by name, NULL (or the default) when absent. */
LMG_API const lmg_attr *lmg_node_attr(const lmg_node *n, const char *name);
LMG_API int64_t lmg_node_attr_int(const lmg_node *n, const char *name, int64_t dflt);
LMG_API double lmg_node_attr_float(const lmg_node *n, const char *name, double dflt);
LMG_API const char *lmg_node_attr_string(const lmg_node *n, const char *name, const char *dflt);

/* ---- builder ----------------------------------------------------------------------- */
/* Each returns a value id (>= 0), or -1 with g->status set (and every later call fails). */
LMG_API int lmg_graph_input(lmg_graph *g, const char *name, lmg_dtype t, lmg_shape s);
/* A trainable parameter (data copied; NULL data means zeros). */
LMG_API int lmg_graph_param(lmg_graph *g, const char *name, lmg_dtype t, lmg_shape s,
                            const void *data);
/* A non-trainable initializer (data copied; NULL means zeros). */
LMG_API int lmg_graph_const(lmg_graph *g, const char *name, lmg_dtype t, lmg_shape s,
                            const void *data);
/* A scalar f32 / i32 constant with a generated name. */
LMG_API int lmg_graph_scalar(lmg_graph *g, float v);
LMG_API int lmg_graph_scalar_i32(lmg_graph *g, int32_t v);
/* Mark a value as a graph output (idempotent). */
LMG_API lmg_status lmg_graph_add_output(lmg_graph *g, int value);
/* Metadata: set (replaces) / get (NULL when absent). */
LMG_API lmg_status lmg_graph_set_meta(lmg_graph *g, const char *key, const char *value);
LMG_API const char *lmg_graph_get_meta(const lmg_graph *g, const char *key);

/* Attributes for lmg_graph_node: build with these, pass an array. Strings are copied. */
LMG_API lmg_attr lmg_attr_int(const char *name, int64_t v);
LMG_API lmg_attr lmg_attr_float(const char *name, double v);
LMG_API lmg_attr lmg_attr_string(const char *name, const char *v);
LMG_API lmg_attr lmg_attr_ints(const char *name, int n, const int64_t *v);
LMG_API lmg_attr lmg_attr_floats(const char *name, int n, const double *v);

/* Append a node. `name` may be NULL (one is generated). Output values are created with
 * generated names (`<node>:<k>`, or the names in `out_names` when non-NULL) and their
 * dtype/shape filled by the op's shape inference; a failed check sets g->status.
 * Writes the output value ids to `outs` (may be NULL) and returns the first output id. */
LMG_API int lmg_graph_node(lmg_graph *g, lmg_op op, const char *name, const int *ins, int n_in,
                           const lmg_attr *attrs, int n_attr, const char *const *out_names,
                           int *outs);

/* Rename a value (must be unique); used to give outputs stable names like "loss". */
LMG_API lmg_status lmg_graph_rename(lmg_graph *g, int value, const char *name);

/* Short builders for common ops (record one node, return its first output). */
LMG_API int lmg_add(lmg_graph *g, int a, int b);
LMG_API int lmg_sub(lmg_graph *g, int a, int b);
LMG_API int lmg_mul(lmg_graph *g, int a, int b);
LMG_API int lmg_div(lmg_graph *g, int a, int b);
LMG_API int lmg_neg(lmg_graph *g, int x);
LMG_API int lmg_scale(lmg_graph *g, int x, double alpha, double beta); /* alpha*x + beta */
LMG_API int lmg_unary(lmg_graph *g, lmg_op op, int x);                 /* Exp, Log, Tanh, ... */
LMG_API int lmg_matmul(lmg_graph *g, int a, int b, int trans_a, int trans_b);
LMG_API int lmg_reshape(lmg_graph *g, int x, int rank, const int64_t *dims);
LMG_API int lmg_transpose(lmg_graph *g, int x, int rank, const int64_t *perm);
LMG_API int lmg_reduce_sum(lmg_graph *g, int x, int n_axes, const int64_t *axes, int keepdims);
LMG_API int lmg_expand(lmg_graph *g, int x, lmg_shape to);
/* Sum `x` down to shape `to` (the reverse of broadcasting); returns x when equal. */
LMG_API int lmg_sum_to(lmg_graph *g, int x, lmg_shape to);

/* ---- passes, files and text -------------------------------------------------------- */
/* Full check (arity, names, cycles, dtype/shape by re-inference, attributes); on failure
 * the message names the node and value. Sorts nodes topologically if needed. */
LMG_API lmg_status lmg_graph_verify(lmg_graph *g);
LMG_API lmg_status lmg_graph_toposort(lmg_graph *g);

/* Binary .pb load/save. Tensors above `external_min_bytes` (0 = never) are written to
 * `<path minus .pb>.safetensors` beside the file and referenced from the .pb. */
LMG_API lmg_status lmg_graph_load(const char *path, lmg_graph **out);
LMG_API lmg_status lmg_graph_load_bytes(const void *buf, size_t n, const char *base_dir,
                                        lmg_graph **out);
LMG_API lmg_status lmg_graph_save(const lmg_graph *g, const char *path, size_t external_min_bytes);
LMG_API lmg_status lmg_graph_save_bytes(const lmg_graph *g, void **buf, size_t *n); /* malloc'd */

/* The text form (.lmgt), both ways; print returns a malloc'd string. */
LMG_API lmg_status lmg_graph_print(const lmg_graph *g, char **text);
LMG_API lmg_status lmg_graph_parse(const char *text, const char *filename, lmg_graph **out);

/* The text form with each initializer's data summarised as "<N bytes, crc32 0x...>" (the
 * CRC-32 of zlib and `crc32`, over the little-endian bytes): for reading, not for parsing. */
LMG_API lmg_status lmg_graph_print_summary(const lmg_graph *g, char **text);

/* Graphviz DOT, malloc'd. Nodes are grouped into nested clusters by the scopes of their
 * names ("h0.attn.qkv" in h0 > attn; the backward "grad/h0.attn.qkv/..." in grad > h0 > attn;
 * "adamw/<p>" in adamw). opts NULL: every scope expanded, the whole graph. */
typedef struct lmg_dot_opts {
    int depth;        /* scope levels drawn as clusters; a deeper scope is one box of its ops
                         (0: top-level scopes as boxes); < 0: all */
    int forward_only; /* leave out the backward pass and the optimizer (nodes that read a
                         gradient, or are named grad/...) */
} lmg_dot_opts;
LMG_API lmg_status lmg_graph_dot(const lmg_graph *g, const lmg_dot_opts *opts, char **text);

/* What one run of a graph computes, counted from its shapes (graph/cost.c). A matrix product
 * as a backend issues it: row-major C[m,n] = op(A)[m,k] op(B)[k,n], op = transpose when ta
 * (tb); a MatMul of batched rows by a 2-D weight is one product over all the rows, any other
 * batch one product per output matrix. */
typedef struct lmg_matmul_shape {
    int ta, tb;
    int64_t m, n, k;
    int64_t count;    /* products of this shape in one run */
} lmg_matmul_shape;
/* The distinct product shapes of g's MatMul nodes, in the order they first occur, with their
 * counts; *shapes is malloc'd (NULL and *n 0 when g has none). A dimension without a size
 * (a named one not yet bound) is an error naming the node. */
LMG_API lmg_status lmg_graph_matmul_shapes(const lmg_graph *g, lmg_matmul_shape **shapes,
                                           int *n);
/* FLOPs of one run: 2*M*N*K per MatMul (batch included) and the products inside Attention
 * (QK^T and PV: 4*B*H*T*S*D) and AttentionGrad (four products: 8*B*H*T*S*D), halved when
 * causal. [0] forward, [1] backward and optimizer (nodes named grad/..., reading a gradient,
 * or computed from one: lmg dot's split). */
typedef struct lmg_graph_flops {
    double matmul[2], attention[2];
} lmg_graph_flops;
LMG_API lmg_status lmg_graph_count_flops(const lmg_graph *g, lmg_graph_flops *f);

/* Append the backward pass for scalar `loss`; for every trainable parameter p a value named
 * "grad/<p>" becomes a graph output (and the loss stays one). Forward values that the
 * backward pass reads and cheap ops (elementwise, LayerNorm, Transpose, Reshape) make from
 * values it reads anyway are recomputed there by nodes named "grad/<node>/recompute" instead of
 * kept (activation checkpointing: the same kernels on the same inputs, the same bits). */
LMG_API lmg_status lmg_autodiff(lmg_graph *g, const char *loss);
typedef struct lmg_autodiff_opts {
    int no_recompute; /* keep every forward value the backward pass reads */
} lmg_autodiff_opts;
/* lmg_autodiff with options; o NULL: the defaults (recomputation on). */
LMG_API lmg_status lmg_autodiff_with(lmg_graph *g, const char *loss, const lmg_autodiff_opts *o);
/* Drop nodes and values no output (or aliased state update) needs. */
LMG_API lmg_status lmg_graph_prune(lmg_graph *g);

/* ---- backends ---------------------------------------------------------------------- */
typedef struct lmg_exec lmg_exec; /* a backend's prepared graph; opaque */

typedef struct lmg_exec_opts {
    const char *device;   /* backend-specific device choice ("P:D" for opencl); NULL = default */
    int keep_all;         /* keep every intermediate readable after run (tests, debugging) */
} lmg_exec_opts;

/* A backend is a table of functions; call them through the pointer:
 *   b->init(g, &opts, &e); b->write(e, id, data, n); b->run(e, step); b->read(...); b->free(e) */
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

LMG_API extern const lmg_backend lmg_backend_ref;     /* plain C, defines every op */
LMG_API extern const lmg_backend lmg_backend_opencl;  /* OpenCL 1.2 + CLBlast */

/* Look a backend up by name ("ref", "opencl"); NULL when unknown. */
LMG_API const lmg_backend *lmg_backend_find(const char *name);

/* One OpenCL device as `lmg devices` shows it. Strings are NUL-terminated (truncated). */
typedef struct lmg_opencl_device {
    int platform, device;           /* the indices of `--device P:D` */
    char platform_name[128];
    char platform_version[128];
    char name[128];
    char vendor[128];
    char version[128];              /* CL_DEVICE_VERSION, e.g. "OpenCL 3.0 CUDA" */
    char driver[64];
    int is_gpu;                     /* CL_DEVICE_TYPE_GPU */
    int is_default;                 /* the device used without --device or LMG_DEVICE */
    uint64_t global_mem;            /* CL_DEVICE_GLOBAL_MEM_SIZE, bytes */
    uint64_t max_alloc;             /* CL_DEVICE_MAX_MEM_ALLOC_SIZE, bytes */
    uint64_t local_mem;             /* CL_DEVICE_LOCAL_MEM_SIZE, bytes */
    unsigned compute_units;
    size_t max_work_group;
    int fp16, fp64;                 /* cl_khr_fp16 / cl_khr_fp64 (or a double config) */
} lmg_opencl_device;

/* Every device of every platform, in platform then device order. `*out` is malloc'd (free it
 * with free); `*n` may be 0 when a platform has no devices. No platform at all is an
 * LMG_ERR_DEVICE error whose message says which ICD package to install. */
LMG_API lmg_status lmg_opencl_list_devices(lmg_opencl_device **out, int *n);
/* Resolve a device choice ("P:D"; NULL or "" = LMG_DEVICE from the environment, else the first
 * GPU, else the first device) to its indices. A bad or out-of-range choice is an error that
 * lists the devices that exist. */
LMG_API lmg_status lmg_opencl_pick_device(const char *spec, int *platform, int *device);

/* ---- models ------------------------------------------------------------------------ */
typedef struct lmg_model_config {
    const char *arch;      /* "gpt" | "bert" */
    int layers, heads, d_model, d_ff, vocab, seq, batch;
    double dropout;        /* on attention output, MLP output and embeddings; 0 = none */
    uint64_t seed;         /* parameter init and the random ops' seed attribute */
    /* "clm", "mlm", "mlm:1.0,clm:0.5", "none" (model outputs only, no loss);
     * NULL = the arch's default (gpt: clm, bert: mlm). */
    const char *objective;
    int pad_id;            /* < 0: no padding mask (the default; shards have no padding) */
    int mask_id;           /* MLM mask token */
    int special_below;     /* ids below this are special: never masked or drawn as random */
    int micro_batches;     /* >= 1: ids is [micro_batches*batch, seq] (see lmg_model_build) */
    int n_classes;         /* > 0: a classification head of this many classes */
    const char *pool;      /* the head's pooling: "cls", "last", "mean"; NULL = the arch's
                              (bert: cls, gpt: last) */
} lmg_model_config;

/* The default small model of `arch` ("gpt" or "bert"; NULL = gpt): 4 layers, 4 heads,
 * d_model 128, d_ff 512, vocab 1024, seq 64, batch 8, dropout 0, seed 1337. */
LMG_API void lmg_model_config_default(lmg_model_config *c, const char *arch);
/* The benchmark "S" configuration (4 layers, 4 heads, 256, 1024, vocab 4096, seq 128,
 * batch 8) of `arch`. */
LMG_API void lmg_model_config_small(lmg_model_config *c, const char *arch);
/* LMG_ERR_ARG naming the bad field, or LMG_OK. */
LMG_API lmg_status lmg_model_config_check(const lmg_model_config *c);

/* Build the forward graph: model + objective. Inputs "ids" i32[B,T] and, for clm, "targets"
 * i32[B,T] (the next token; -100 = ignore). Outputs "loss" f32[] (absent for objective
 * "none"), "logits" f32[B,T,V], "hidden" f32[B,T,C]. Parameters are named "wte", "wpe",
 * "h<i>.attn.wqkv", ... The config is recorded in the graph's metadata ("model.*").
 * With n_classes K > 0 the pass over "ids" also feeds a classification head: output
 * "class_logits" f32[B,K]; the objective term "sup" is the cross-entropy of the class logits
 * with the input "labels" i32[B] (-100 = ignore), and needs the head. */
LMG_API lmg_status lmg_model_build(const lmg_model_config *c, lmg_graph **out);
/* lmg_model_build, then link the objective graph `obj` (NULL: none) by value names (its
 * inputs name model values such as "logits", "hidden", "ids") and add weight * its "loss"
 * to the model's "loss". With c->objective NULL the objective graph is the whole objective. */
LMG_API lmg_status lmg_model_build_with_objective(const lmg_model_config *c,
                                                  const lmg_graph *obj, double weight,
                                                  lmg_graph **out);
/* Number of trainable parameter elements of a graph. */
LMG_API int64_t lmg_model_param_count(const lmg_graph *g);

/* ---- the training step ------------------------------------------------------------- */
typedef struct lmg_optim_config {
    double lr;            /* peak learning rate */
    double min_lr;        /* the cosine decay ends here (absolute) */
    int64_t warmup;       /* linear warm-up steps: lr * step / warmup for step <= warmup */
    int64_t steps;        /* the schedule's length: cosine from lr to min_lr over
                             (warmup, steps]; min_lr after */
    double beta1, beta2, eps;
    double weight_decay;  /* for rank >= 2 parameters; biases and LayerNorm get 0 */
    double clip;          /* global gradient norm limit; <= 0: no clipping */
    int ranks;            /* data-parallel ranks (mpirun); > 1 averages every gradient over
                             them with an AllReduce node before clipping (0 and 1: one rank) */
    int no_recompute;     /* keep every activation the backward pass reads (lmg_autodiff_opts) */
    double bucket_mb;     /* ranks > 1: gradients are reduced in buckets of about this many
                             MiB, each as soon as backward has finished its gradients, so the
                             reduction overlaps the rest of backward; 0: a quarter of all
                             gradient bytes (four buckets) */
} lmg_optim_config;

/* lr 1e-3, min_lr 1e-4, warmup 50, steps 1000, betas 0.9/0.95, eps 1e-8, wd 0.1, clip 1,
 * one rank, buckets of a quarter of the gradients, recomputation on. */
LMG_API void lmg_optim_config_default(lmg_optim_config *o);
/* The learning rate of 1-based step `step`. */
LMG_API double lmg_lr_at(const lmg_optim_config *o, int64_t step);

/* Turn a forward graph with scalar output `loss` into the training step, in place:
 * lmg_autodiff (outputs "grad/<p>"), the global gradient norm (output "grad_norm"),
 * gscale = clip / max(norm, clip), and one AdamW node per parameter p with state
 * "adam.m/<p>", "adam.v/<p>" (zero, non-trainable initializers). New inputs: "lr" f32[]
 * (fed per step from lmg_lr_at) and "step" i32[] (1-based). Hyper-parameters are recorded
 * in the metadata ("optim.*"). One backend run of the result is one training step.
 * The model's pass values "logits" and "hidden" stop being outputs (no step reads them), so
 * their memory is reused within the step.
 * Data parallelism (o->ranks > 1): the rank's own gradient becomes "grad.local/<p>" and
 * "grad/<p>" its mean over the ranks (node "allreduce/<p>"), which clipping and AdamW read,
 * so every rank applies the same update; "optim.ranks" records the number. The AllReduce
 * nodes stand in buckets (o->bucket_mb) right after the node that completes the bucket's
 * last gradient, so an executor can reduce them while backward goes on. Each CrossEntropy
 * is scaled by the rank's counted positions over the ranks' mean count ("<loss>.scaled"),
 * so a loss averaged over positions whose number differs between ranks (MLM) averages over
 * the global batch's. With micro-batches, micro-batch m reads parameter p through a view
 * "p.mb<m>", so its gradient sums each micro-batch's contributions first, as a rank does. */
LMG_API lmg_status lmg_train_graph_build(lmg_graph *g, const char *loss,
                                         const lmg_optim_config *o);

/* ---- the trainer ------------------------------------------------------------------- */
typedef enum {
    LMG_TRAIN_INFO = 0,     /* message: a phase begins ("building the training graph") */
    LMG_TRAIN_STEP = 1,     /* a training step finished */
    LMG_TRAIN_EVAL = 2,     /* a validation pass finished */
    LMG_TRAIN_DONE = 3,     /* the run ended (steps done, early stop or stop_at) */
} lmg_train_event_kind;

typedef struct lmg_train_event {
    lmg_train_event_kind kind;
    const char *message;    /* INFO, DONE: a short line */
    int64_t step, steps;    /* this step (1-based) of the total */
    double loss, lr, grad_norm;
    double tokens_per_s;    /* over the steps of this process so far */
    double elapsed_s;       /* wall time of this run, resumed runs included */
    double eta_s;           /* estimate for the remaining steps */
    double val_loss, best_val_loss; /* EVAL */
    int64_t best_step;
    int improved, bad_evals;
    int early_stop;         /* DONE: 1 when patience ran out */
    double val_accuracy, val_f1; /* EVAL of a classifier: accuracy and macro-F1, else NaN */
    /* STEP, EVAL: the graph's logged loss terms (outputs named "loss/..."), this step's or
     * the evaluation's mean */
    int n_terms;
    const char *const *term_names;
    const double *term_values;
} lmg_train_event;

typedef void (*lmg_train_progress_fn)(const lmg_train_event *e, void *user);

typedef struct lmg_train_config {
    lmg_model_config model;
    lmg_optim_config optim;   /* optim.steps is the run's number of steps */
    const lmg_graph *objective_graph; /* NULL: the model's built-in objective */
    double objective_weight;  /* its weight in "loss" (1 when 0) */
    const char *init_from;    /* fine-tuning: initial parameters, by name, from this checkpoint;
                                 parameters it lacks keep their init */
    int freeze;               /* with init_from: the loaded parameters stay fixed */
    int stop_on_f1;           /* classifiers: the best checkpoint and early stopping follow
                                 the validation macro-F1 instead of the validation loss */
    const char *data_dir;     /* tok.bpe + train.tok, val.tok, test.tok (lmg data prepare), or
                                 labelled: train.lab, val.lab, labels.tsv (a classifier) */
    const char *out_dir;      /* the run directory (created) */
    const char *resume_dir;   /* continue this run (model, optim, data come from it) */
    const char *backend;      /* "opencl", "ref"; NULL = opencl */
    const char *device;       /* backend device choice; NULL = default */
    int eval_every;           /* validate every this many steps (and at the end); 0 = end only */
    int eval_batches;         /* batches of the val split per evaluation; 0 = all */
    int patience;             /* stop after this many evaluations without improvement; 0 = never */
    uint64_t data_seed;       /* the batch order: batch of step s = f(data_seed, s) */
    int64_t stop_at;          /* end after this step as if interrupted (checkpoint kept); 0 = no */
    int64_t extend_to;        /* resume: train on to this step when it lies beyond the run's
                                 own end (the schedule stays at min_lr after its end, and a
                                 run stopped early gets its patience back); 0 = no */
    lmg_train_progress_fn progress;
    void *user;
    /* A user's forward graph as the model (it reads "ids" i32[B,T] and outputs "logits"
     * and/or "hidden"; README: "Training your own model graph"), NULL: the built-in
     * model.arch. Saved as model.pb in the run directory, so resume and eval use it. */
    const lmg_graph *model_graph;
} lmg_train_config;

/* Defaults: the default GPT, lmg_optim_config_default, eval_every 100, eval_batches 20,
 * patience 5, data_seed 1. */
LMG_API void lmg_train_config_default(lmg_train_config *c);

typedef struct lmg_train_result {
    int64_t step;             /* last step done */
    int64_t best_step;
    double best_val_loss;     /* INFINITY when never evaluated; with stop_on_f1, minus the
                                 best validation macro-F1 */
    double last_loss, last_val_loss;
    double elapsed_s, ms_per_step, tokens_per_s; /* this process's steps */
    int early_stopped;
    int interrupted;          /* ended by lmg_train_request_stop (checkpoint written) */
} lmg_train_result;

/* Train into a run directory (train.pb, checkpoint.safetensors, best.safetensors,
 * metrics.jsonl, loss.svg; every file written to a temporary name and renamed). With
 * resume_dir the run continues from its checkpoint. */
LMG_API lmg_status lmg_train_run(const lmg_train_config *c, lmg_train_result *r);

/* Ask a running lmg_train_run to stop: it finishes the step under way (and its evaluation
 * when one is due), writes checkpoint.safetensors, and returns LMG_OK with
 * r->interrupted set; asked before the first step, it writes the checkpoint of where it
 * is. Async-signal-safe (it only stores `sig`), for SIGINT/SIGTERM handlers; the request
 * stays until lmg_train_clear_stop. lmg_train_stop_requested gives the signal (0: none). */
LMG_API void lmg_train_request_stop(int sig);
LMG_API int lmg_train_stop_requested(void);
LMG_API void lmg_train_clear_stop(void);

typedef struct lmg_eval_result {
    double loss;              /* mean loss per counted token (CE for clm/mlm) */
    double perplexity;        /* exp(loss) */
    double mlm_accuracy;      /* masked positions predicted exactly (mlm models), else -1 */
    double next_token_accuracy; /* clm models: positions whose most likely token is the
                                   next one, else -1 */
    int64_t tokens;           /* positions counted */
    int64_t batches;
} lmg_eval_result;

/* Evaluate the parameters of `checkpoint` (a .safetensors with every parameter of the run;
 * NULL = best.safetensors, or checkpoint.safetensors when absent) of run `run_dir` on
 * `split` ("train", "val", "test"); max_batches 0 = the whole split. */
LMG_API lmg_status lmg_eval_run(const char *run_dir, const char *checkpoint, const char *split,
                                const char *backend, const char *device, int max_batches,
                                lmg_eval_result *r);

/* ---- classifiers ------------------------------------------------------------------ */
/* A trained classifier run (lmg_train_run with model.n_classes > 0, or `lmg finetune`),
 * ready to label texts. Opaque. */
typedef struct lmg_classifier lmg_classifier;
/* Load run_dir's classifier (checkpoint NULL: best.safetensors, else checkpoint.safetensors)
 * as a forward graph of `batch` rows (0 = the run's batch). A run without a classification
 * head is LMG_ERR_ARG saying so. */
LMG_API lmg_status lmg_classifier_open(const char *run_dir, const char *checkpoint,
                                       const char *backend, const char *device, int batch,
                                       lmg_classifier **out);
LMG_API void lmg_classifier_free(lmg_classifier *c); /* free(NULL) is a no-op */
LMG_API int lmg_classifier_n_classes(const lmg_classifier *c);
LMG_API const char *lmg_classifier_class(const lmg_classifier *c, int k); /* the k-th name */
/* Class probabilities (n, K) of n texts (tokenized with the run's tokenizer into rows). */
LMG_API lmg_status lmg_classifier_texts(lmg_classifier *c, const char *const *texts, int n,
                                        float *probs);

/* ---- ONNX -------------------------------------------------------------------------- */
/* The ONNX versions written: IR 8 (the schema Debian's libonnx-dev ships) and the default
 * domain at opset 17 (LayerNormalization's first), which every current onnxruntime runs. */
#define LMG_ONNX_IR_VERSION 8
#define LMG_ONNX_OPSET 17

typedef struct lmg_onnx_export_opts {
    /* Batch and sequence length become the symbolic axes "batch" and "seq" where the graph
     * allows it (see lmg_onnx_export_info.fixed for those that stay static). */
    int symbolic;
    /* The Philox draws of random ops (Dropout, Bernoulli, RandomInt, MlmCorrupt, SpanMask)
     * become graph inputs "draw/<node>/<what>"; without it a random op is an error naming it. */
    int draws_as_inputs;
    /* Training step: parameters and optimizer state are graph inputs (their values the
     * defaults), AdamW's results outputs "new/<state name>". */
    int training;
    /* Initializers of at least this many bytes go to external data (0 = never), in the file
     * `external_name` beside the model (relative; NULL: "<model file name>.data"). */
    size_t external_min_bytes;
    const char *external_name;
    /* Extra metadata_props pairs, after the graph's own metadata. */
    int n_meta;
    const char *const *meta_keys, *const *meta_values;
    const char *producer_version; /* NULL: "" */
} lmg_onnx_export_opts;

typedef struct lmg_onnx_export_info {
    int n_nodes, n_initializers, n_inputs, n_outputs, n_external;
    /* Axes that were asked to be symbolic but stay static, with why ("" when none). */
    char fixed[512];
} lmg_onnx_export_info;

/* Write g (verified) as an ONNX model to `path` (atomically; external data beside it).
 * An op without an ONNX form is LMG_ERR_UNSUPPORTED naming the op and node. info may be NULL. */
LMG_API lmg_status lmg_onnx_export(const lmg_graph *g, const lmg_onnx_export_opts *o,
                                   const char *path, lmg_onnx_export_info *info);

typedef struct lmg_onnx_import_opts {
    /* Values for symbolic dims of the model's inputs, by dim_param name ("batch=8"). */
    int n_dims;
    const char *const *dim_names;
    const int64_t *dim_values;
    /* Initializers become trainable parameters (1) or constants (0). */
    int trainable;
} lmg_onnx_import_opts;

/* Read an ONNX model into an lmgraph graph. Ops that do not map are listed all at once in the
 * error, each with its node name (LMG_ERR_UNSUPPORTED). */
LMG_API lmg_status lmg_onnx_import(const char *path, const lmg_onnx_import_opts *o,
                                   lmg_graph **out);
/* The same from bytes in memory; `path` names the model in messages and locates external
 * data (its folder). */
LMG_API lmg_status lmg_onnx_import_bytes(const void *bytes, size_t n, const char *path,
                                         const lmg_onnx_import_opts *o, lmg_graph **out);

#ifdef __cplusplus
}
#endif

#endif
