/* onnx.h — lmgraph graphs to ONNX models (standard ops at opset 17) and back. The mapping of
 * each lmgraph op is one entry of a table indexed by op; nothing below export/ knows ONNX. */
#ifndef LMG_ONNX_H
#define LMG_ONNX_H

#include "../graph/graph.h"

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

/* lmg_onnx_export with its options and lmg_onnx_import are public (include/lmgraph.h). */

/* The random draws a training or forward step `step` of g makes, as the export's draw inputs:
 * call with i = 0, 1, ... until it returns LMG_ERR_NOT_FOUND. *name is static to the call's
 * graph (valid until g changes); *data is malloc'd (numel * 4 bytes, f32 or i32). */
lmg_status lmg_onnx_draw(const lmg_graph *g, int i, uint64_t step, char **name, lmg_dtype *t,
                         lmg_shape *s, void **data);

#endif
