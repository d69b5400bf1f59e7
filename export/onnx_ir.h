/* onnx_ir.h — a small in-memory form of an ONNX graph (nodes, initializers, inputs, outputs,
 * metadata) that the exporter appends to, and its serialisation through protobuf-c. */
#ifndef LMG_ONNX_IR_H
#define LMG_ONNX_IR_H

#include "../graph/lmg.h"

#include <stddef.h>
#include <stdint.h>

/* TensorProto.DataType numbers */
enum { OIR_F32 = 1, OIR_I32 = 6, OIR_I64 = 7, OIR_BOOL = 9, OIR_F64 = 11 };
/* AttributeProto.AttributeType numbers */
enum { OIR_ATTR_FLOAT = 1, OIR_ATTR_INT = 2, OIR_ATTR_STRING = 3, OIR_ATTR_TENSOR = 4,
       OIR_ATTR_INTS = 7 };

typedef struct oattr {
    const char *name;
    int type;
    int64_t i;
    float f;        /* FLOAT, and TENSOR: a one-element f32 tensor of this value */
    const char *s;
    int n;
    const int64_t *ints;
} oattr;

#define OA_I(nm, v) ((oattr){.name = (nm), .type = OIR_ATTR_INT, .i = (v)})
#define OA_F(nm, v) ((oattr){.name = (nm), .type = OIR_ATTR_FLOAT, .f = (v)})
#define OA_S(nm, v) ((oattr){.name = (nm), .type = OIR_ATTR_STRING, .s = (v)})
#define OA_TF(nm, v) ((oattr){.name = (nm), .type = OIR_ATTR_TENSOR, .f = (v)})
#define OA_INTS(ir, nm, cnt, v) \
    ((oattr){.name = (nm), .type = OIR_ATTR_INTS, .n = (cnt), .ints = oir_ints((ir), (cnt), (v))})

typedef struct onode {
    const char *op, *name;
    int n_in, n_out, n_attr, cap_attr;
    const char **in, **out;
    oattr *attr;
} onode;

typedef struct otensor {
    const char *name;
    int dtype, rank;
    int64_t dims[8];
    const void *data; /* borrowed or arena-owned */
    size_t nbytes;
} otensor;

typedef struct oval {
    const char *name;
    int dtype, rank;
    int64_t dims[8];       /* -1 where symbolic */
    const char *params[8]; /* dim_param, or NULL */
} oval;

typedef struct oblk oblk;

typedef struct oir {
    oblk *arena;
    onode *nodes;
    int n_nodes, cap_nodes;
    otensor *inits;
    int n_init, cap_init;
    oval *inputs, *outputs;
    int n_inputs, cap_inputs, n_outputs, cap_outputs;
    const char **meta_k, **meta_v;
    int n_meta, cap_meta;
    const char *graph_name, *producer_version;
    int n_external;
    int oom;
} oir;

void *oir_alloc(oir *ir, size_t n); /* zeroed, freed with the IR; NULL sets oom */
const char *oir_strf(oir *ir, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const int64_t *oir_ints(oir *ir, int n, const int64_t *v);
/* Append a node with the given inputs and output names (copied pointers, not strings). */
onode *oir_node(oir *ir, const char *op, const char *base, int n_in, const char *const *in,
                int n_out, const char *const *out);
void oir_attr(oir *ir, onode *n, const oattr *a);
/* An initializer; data NULL means zeros; copy = 1 copies data into the arena. */
otensor *oir_init(oir *ir, const char *name, int dtype, int rank, const int64_t *dims,
                  const void *data, size_t nbytes, int copy);
oval *oir_input(oir *ir, const char *name, int dtype, int rank);
oval *oir_output(oir *ir, const char *name, int dtype, int rank);
void oir_meta(oir *ir, const char *k, const char *v);
/* Serialise as ModelProto (IR 8, opset 17) to path; initializers of >= ext_min bytes
 * (0 = none) go to ext_name beside it (NULL: "<file name>.data"). Both written atomically. */
lmg_status oir_write(oir *ir, const char *path, size_t ext_min, const char *ext_name);
void oir_free(oir *ir);

#endif
