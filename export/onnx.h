/* onnx.h — lmgraph graphs to ONNX models (standard ops at opset 17) and back. The mapping of
 * each lmgraph op is one entry of a table indexed by op; nothing below export/ knows ONNX. */
#ifndef LMG_ONNX_H
#define LMG_ONNX_H

#include "../graph/graph.h"

/* The ONNX versions written: IR 8 (the schema Debian's libonnx-dev ships) and the default
 * domain at opset 17 (LayerNormalization's first), which every current onnxruntime runs. */
#define LMG_ONNX_IR_VERSION 8
#define LMG_ONNX_OPSET 17

/* How an op is exported. */
typedef enum {
    LMG_ONNX_MAP_MISSING = -1, /* no table entry: a test fails */
    LMG_ONNX_MAP_NONE = 0,     /* explicitly no ONNX form (the reason says why) */
    LMG_ONNX_MAP_OPS = 1,      /* standard ops (listed) */
    LMG_ONNX_MAP_DRAWS = 2,    /* standard ops once its random draws are graph inputs */
} lmg_onnx_map_kind;

/* The kind of op's mapping; *what (may be NULL) gets the ONNX ops it becomes, or the reason
 * it has none. */
lmg_onnx_map_kind lmg_onnx_op_mapping(lmg_op op, const char **what);

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
lmg_status lmg_onnx_export(const lmg_graph *g, const lmg_onnx_export_opts *o, const char *path,
                           lmg_onnx_export_info *info);

/* The random draws a training or forward step `step` of g makes, as the export's draw inputs:
 * call with i = 0, 1, ... until it returns LMG_ERR_NOT_FOUND. *name is static to the call's
 * graph (valid until g changes); *data is malloc'd (numel * 4 bytes, f32 or i32). */
lmg_status lmg_onnx_draw(const lmg_graph *g, int i, uint64_t step, char **name, lmg_dtype *t,
                         lmg_shape *s, void **data);

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
lmg_status lmg_onnx_import(const char *path, const lmg_onnx_import_opts *o, lmg_graph **out);
/* The same from bytes in memory; `path` names the model in messages and locates external
 * data (its folder). */
lmg_status lmg_onnx_import_bytes(const void *bytes, size_t n, const char *path,
                                 const lmg_onnx_import_opts *o, lmg_graph **out);

#endif
