/* cases_core.c — test cases for the core op families (elementwise, matmul, shape, reduce)
 * driving the gradient check and the backend parity test. */
#include <math.h>
#include "cases.h"


#define AI(nm, v) {.name = (char *)(nm), .type = LMG_ATTR_INT, .i = (v)}
#define AF(nm, v) {.name = (char *)(nm), .type = LMG_ATTR_FLOAT, .f = (v)}
#define NINTS(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
#define AIS(nm, ...) \
    {.name = (char *)(nm), .type = LMG_ATTR_INTS, .n = NINTS(__VA_ARGS__), .ints = (int64_t[]){__VA_ARGS__}}
#define AIS0(nm) {.name = (char *)(nm), .type = LMG_ATTR_INTS, .n = 0}

#define I32 LMG_DTYPE_I32

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Values on a grid of step 0.1 offset by 0.05 (+ 0.025 for input 1): never within 0.025
 * of 0 or of the other input, so the central differences never cross a kink of Relu or
 * Maximum. */
static void init_kinkfree(int k, lmg_tensor *t, uint64_t seed)
{
    int64_t n = lmg_numel(t);
    for (int64_t i = 0; i < n; i++) {
        int j = (int)(mix(&seed) % 20) - 10;
        lmg_f32(t)[i] = (float)((j + 0.5) / 10.0 + (k == 1 ? 0.025 : 0.0));
    }
}

/* Where: the condition mixes exact zeros with non-zeros of both signs (f32 or i32); the
 * branches are uniform in [-1, 1) (or small integers). */
static void init_where(int k, lmg_tensor *t, uint64_t seed)
{
    int64_t n = lmg_numel(t);
    static const float cf[4] = {0.0f, 1.0f, -2.5f, 0.0f};
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = mix(&seed);
        if (t->dtype == LMG_DTYPE_I32) lmg_i32(t)[i] = k == 0 ? (int32_t)(r % 4) - 1 : (int32_t)(r % 201) - 100;
        else if (k == 0) lmg_f32(t)[i] = cf[r % 4];
        else lmg_f32(t)[i] = (float)((double)(r >> 11) * 0x1.0p-53 * 2.0 - 1.0);
    }
}

/* ArgMax: small integers as floats, so rows hold ties. */
static void init_ties(int k, lmg_tensor *t, uint64_t seed)
{
    int64_t n = lmg_numel(t);
    for (int64_t i = 0; i < n; i++) lmg_f32(t)[i] = (float)(mix(&seed) % 3);
}

/* ArgSort: ties, -0 beside 0, and NaNs, which sort last in their order. */
static void init_sort_keys(int k, lmg_tensor *t, uint64_t seed)
{
    static const float v[6] = {0.0f, -0.0f, 1.5f, -2.0f, 1.5f, NAN};
    int64_t n = lmg_numel(t);
    for (int64_t i = 0; i < n; i++) lmg_f32(t)[i] = v[mix(&seed) % 6];
}

#define B2(op_, nm, sa, sb) {.name = nm, .op = op_, .n_in = 2, .shape = {sa, sb}}
#define U1(op_, nm, sx) {.name = nm, .op = op_, .n_in = 1, .shape = {sx}}
#define POS(op_, nm, sx, l, h) {.name = nm, .op = op_, .n_in = 1, .shape = {sx}, .lo = {l}, .hi = {h}}
#define MM(nm, sa, sb, ta, tb) \
    {.name = nm, .op = LMG_OP_MATMUL, .n_in = 2, .shape = {sa, sb}, .n_attr = 2, \
     .attrs = {AI("trans_a", ta), AI("trans_b", tb)}}

const lmg_case lmg_cases_core[] = {
    /* ---- binary arithmetic, numpy broadcasting ---- */
    B2(LMG_OP_ADD, "Add/same", "2,3", "2,3"),
    B2(LMG_OP_ADD, "Add/bcast-row", "4,5", "5"),
    B2(LMG_OP_ADD, "Add/bcast-col", "4,5", "4,1"),
    B2(LMG_OP_ADD, "Add/bcast-scalar", "3,4", ""),
    B2(LMG_OP_ADD, "Add/bcast-both", "2,1,3", "4,1"),
    B2(LMG_OP_ADD, "Add/bcast-batch", "2,3,4,5", "4,5"),
    B2(LMG_OP_ADD, "Add/rank0", "", ""),
    B2(LMG_OP_ADD, "Add/prime", "7,13", "13"),
    B2(LMG_OP_ADD, "Add/ones", "1,1,1", "1"),
    {.name = "Add/i32", .op = LMG_OP_ADD, .n_in = 2, .dtype = {I32, I32}, .shape = {"3,5", "5"},
     .lo = {-100, -100}, .hi = {100, 100}, .nograd = 1},
    B2(LMG_OP_SUB, "Sub/same", "3,4", "3,4"),
    B2(LMG_OP_SUB, "Sub/bcast-scalar-left", "", "2,3"),
    B2(LMG_OP_SUB, "Sub/bcast-both", "3,1", "1,4"),
    B2(LMG_OP_SUB, "Sub/bcast-batch", "2,3,4", "3,1"),
    B2(LMG_OP_SUB, "Sub/prime", "13", "7,1"),
    {.name = "Sub/i32", .op = LMG_OP_SUB, .n_in = 2, .dtype = {I32, I32}, .shape = {"4", "3,4"},
     .lo = {-100, -100}, .hi = {100, 100}, .nograd = 1},
    B2(LMG_OP_MUL, "Mul/same", "3,4", "3,4"),
    B2(LMG_OP_MUL, "Mul/bcast-row", "5,7", "7"),
    B2(LMG_OP_MUL, "Mul/bcast-scalar-left", "", "3,5"),
    B2(LMG_OP_MUL, "Mul/bcast-both", "3,1", "1,5"),
    B2(LMG_OP_MUL, "Mul/bcast-rank4", "2,1,3,1", "1,4,1,5"),
    B2(LMG_OP_MUL, "Mul/rank0", "", ""),
    {.name = "Mul/i32", .op = LMG_OP_MUL, .n_in = 2, .dtype = {I32, I32}, .shape = {"2,3", "2,1"},
     .lo = {-1000, -1000}, .hi = {1000, 1000}, .nograd = 1},
    {.name = "Div/same", .op = LMG_OP_DIV, .n_in = 2, .shape = {"3,4", "3,4"}, .lo = {-1, 0.5},
     .hi = {1, 2}},
    {.name = "Div/bcast-row", .op = LMG_OP_DIV, .n_in = 2, .shape = {"4,5", "5"}, .lo = {-1, 0.5},
     .hi = {1, 2}},
    {.name = "Div/bcast-scalar", .op = LMG_OP_DIV, .n_in = 2, .shape = {"2,7", ""},
     .lo = {-1, 0.5}, .hi = {1, 2}},
    {.name = "Div/bcast-both", .op = LMG_OP_DIV, .n_in = 2, .shape = {"3,1", "2,1,4"},
     .lo = {-2, -2}, .hi = {2, -0.5}},
    {.name = "Div/bcast-numerator", .op = LMG_OP_DIV, .n_in = 2, .shape = {"", "13"},
     .lo = {-1, 0.5}, .hi = {1, 2}},
    {.name = "Maximum/same", .op = LMG_OP_MAXIMUM, .n_in = 2, .shape = {"3,4", "3,4"},
     .init = init_kinkfree},
    {.name = "Maximum/bcast-row", .op = LMG_OP_MAXIMUM, .n_in = 2, .shape = {"5,7", "7"},
     .init = init_kinkfree},
    {.name = "Maximum/bcast-both", .op = LMG_OP_MAXIMUM, .n_in = 2, .shape = {"3,1", "1,4"},
     .init = init_kinkfree},
    {.name = "Maximum/bcast-scalar", .op = LMG_OP_MAXIMUM, .n_in = 2, .shape = {"2,3,4", ""},
     .init = init_kinkfree},

    /* ---- unary ---- */
    U1(LMG_OP_NEG, "Neg/2d", "2,3"),
    U1(LMG_OP_NEG, "Neg/rank0", ""),
    U1(LMG_OP_NEG, "Neg/prime", "7,13"),
    {.name = "Scale/alpha-beta", .op = LMG_OP_SCALE, .n_in = 1, .shape = {"3,4"}, .n_attr = 2,
     .attrs = {AF("alpha", 2.5), AF("beta", -0.75)}},
    {.name = "Scale/alpha", .op = LMG_OP_SCALE, .n_in = 1, .shape = {"5"}, .n_attr = 1,
     .attrs = {AF("alpha", -0.125)}},
    {.name = "Scale/rank0", .op = LMG_OP_SCALE, .n_in = 1, .shape = {""}, .n_attr = 2,
     .attrs = {AF("alpha", 3.0), AF("beta", 1.0)}},
    {.name = "Scale/rank4", .op = LMG_OP_SCALE, .n_in = 1, .shape = {"2,1,3,2"}, .n_attr = 1,
     .attrs = {AF("beta", 0.5)}},
    U1(LMG_OP_EXP, "Exp/2d", "3,4"),
    U1(LMG_OP_EXP, "Exp/rank0", ""),
    POS(LMG_OP_EXP, "Exp/wide", "2,3,5", -3, 2),
    POS(LMG_OP_LOG, "Log/2d", "3,4", 0.1, 3),
    POS(LMG_OP_LOG, "Log/prime", "7", 0.5, 2),
    POS(LMG_OP_LOG, "Log/rank0", "", 0.5, 4),
    POS(LMG_OP_SQRT, "Sqrt/2d", "3,4", 0.2, 4),
    POS(LMG_OP_SQRT, "Sqrt/prime", "13", 0.5, 9),
    POS(LMG_OP_SQRT, "Sqrt/rank0", "", 1, 2),
    POS(LMG_OP_RSQRT, "Rsqrt/2d", "3,4", 0.3, 4),
    POS(LMG_OP_RSQRT, "Rsqrt/3d", "2,1,5", 0.5, 2),
    POS(LMG_OP_RSQRT, "Rsqrt/rank0", "", 1, 3),
    POS(LMG_OP_TANH, "Tanh/2d", "4,5", -3, 3),
    U1(LMG_OP_TANH, "Tanh/rank0", ""),
    U1(LMG_OP_TANH, "Tanh/prime", "13"),
    {.name = "Relu/2d", .op = LMG_OP_RELU, .n_in = 1, .shape = {"3,4"}, .init = init_kinkfree},
    {.name = "Relu/3d", .op = LMG_OP_RELU, .n_in = 1, .shape = {"2,3,5"}, .init = init_kinkfree},
    {.name = "Relu/one", .op = LMG_OP_RELU, .n_in = 1, .shape = {"1"}, .init = init_kinkfree},
    U1(LMG_OP_GELU, "Gelu/2d", "3,4"),
    POS(LMG_OP_GELU, "Gelu/wide", "7,13", -4, 4),
    U1(LMG_OP_GELU, "Gelu/rank0", ""),
    POS(LMG_OP_SIGMOID, "Sigmoid/2d", "4,5", -6, 6),
    U1(LMG_OP_SIGMOID, "Sigmoid/rank0", ""),
    U1(LMG_OP_SIGMOID, "Sigmoid/prime", "7,13"),
    {.name = "ReluGrad/2d", .op = LMG_OP_RELU_GRAD, .n_in = 2, .shape = {"3,4", "3,4"}, .nograd = 1},
    {.name = "ReluGrad/prime", .op = LMG_OP_RELU_GRAD, .n_in = 2, .shape = {"13", "13"},
     .nograd = 1},
    {.name = "GeluGrad/2d", .op = LMG_OP_GELU_GRAD, .n_in = 2, .shape = {"3,4", "3,4"},
     .nograd = 1},
    {.name = "GeluGrad/wide", .op = LMG_OP_GELU_GRAD, .n_in = 2, .shape = {"7,13", "7,13"},
     .lo = {-1, -5}, .hi = {1, 5}, .nograd = 1},
    /* |x| past 1.8e19, where x*x overflows f32: GELU's slope is 1 or 0 there, not NaN. */
    {.name = "GeluGrad/huge", .op = LMG_OP_GELU_GRAD, .n_in = 2, .shape = {"7,13", "7,13"},
     .lo = {-1, -1e30}, .hi = {1, 1e30}, .nograd = 1},
    {.name = "Cast/f32-f32", .op = LMG_OP_CAST, .n_in = 1, .shape = {"3,4"}, .n_attr = 1,
     .attrs = {AI("to", LMG_DTYPE_F32)}},
    {.name = "Cast/f32-i32", .op = LMG_OP_CAST, .n_in = 1, .shape = {"3,4"}, .lo = {-10},
     .hi = {10}, .n_attr = 1, .attrs = {AI("to", LMG_DTYPE_I32)}, .nograd = 1},
    {.name = "Cast/i32-f32", .op = LMG_OP_CAST, .n_in = 1, .dtype = {I32}, .shape = {"5"},
     .lo = {-50}, .hi = {50}, .n_attr = 1, .attrs = {AI("to", LMG_DTYPE_F32)}, .nograd = 1},
    {.name = "Where/f32-cond", .op = LMG_OP_WHERE, .n_in = 3, .shape = {"3,4", "3,4", "3,4"},
     .init = init_where, .no_grad_in = 1},
    {.name = "Where/i32-cond", .op = LMG_OP_WHERE, .n_in = 3, .dtype = {I32},
     .shape = {"3,4", "3,4", "3,4"}, .init = init_where},
    {.name = "Where/bcast", .op = LMG_OP_WHERE, .n_in = 3, .dtype = {I32},
     .shape = {"3,1", "1,4", ""}, .init = init_where},
    {.name = "Where/bcast-cond", .op = LMG_OP_WHERE, .n_in = 3, .shape = {"2,1,5", "3,5", "2,3,1"},
     .init = init_where, .no_grad_in = 1},
    {.name = "Where/i32", .op = LMG_OP_WHERE, .n_in = 3, .dtype = {I32, I32, I32},
     .shape = {"2,5", "5", "2,1"}, .init = init_where, .nograd = 1},

    /* ---- MatMul ---- */
    MM("MatMul/nn", "3,4", "4,5", 0, 0),
    MM("MatMul/tn", "4,3", "4,5", 1, 0),
    MM("MatMul/nt", "3,4", "5,4", 0, 1),
    MM("MatMul/tt", "4,3", "5,4", 1, 1),
    MM("MatMul/batched", "2,3,4", "2,4,5", 0, 0),
    MM("MatMul/batched-tt", "2,4,3", "2,5,4", 1, 1),
    MM("MatMul/weight", "2,3,4,5", "5,6", 0, 0),
    MM("MatMul/weight-nt", "2,3,4,5", "6,5", 0, 1),
    MM("MatMul/weight-tn", "2,5,4", "5,3", 1, 0),
    MM("MatMul/bcast-batch", "1,4,5", "3,5,2", 0, 0),
    MM("MatMul/bcast-batch-tn", "3,5,4", "1,5,2", 1, 0),
    MM("MatMul/left-2d", "3,4", "2,4,5", 0, 0),
    MM("MatMul/left-2d-nt", "3,4", "2,5,4", 0, 1),
    MM("MatMul/rank4-bcast", "2,1,3,4", "1,3,4,2", 0, 0),
    MM("MatMul/ones", "1,1", "1,1", 0, 0),
    MM("MatMul/prime", "7,13", "13,3", 0, 0),
    MM("MatMul/outer", "7,1", "1,5", 0, 0),

    /* ---- shape ---- */
    {.name = "Reshape/merge", .op = LMG_OP_RESHAPE, .n_in = 1, .shape = {"2,3,4"}, .n_attr = 1,
     .attrs = {AIS("shape", 6, 4)}},
    {.name = "Reshape/infer", .op = LMG_OP_RESHAPE, .n_in = 1, .shape = {"2,3,4"}, .n_attr = 1,
     .attrs = {AIS("shape", 4, -1, 2)}},
    {.name = "Reshape/to-scalar", .op = LMG_OP_RESHAPE, .n_in = 1, .shape = {"1,1"}, .n_attr = 1,
     .attrs = {AIS0("shape")}},
    {.name = "Reshape/from-scalar", .op = LMG_OP_RESHAPE, .n_in = 1, .shape = {""}, .n_attr = 1,
     .attrs = {AIS("shape", 1, 1, 1)}},
    {.name = "Reshape/rank4", .op = LMG_OP_RESHAPE, .n_in = 1, .shape = {"2,3,2,2"}, .n_attr = 1,
     .attrs = {AIS("shape", 4, 6)}},
    {.name = "Reshape/i32", .op = LMG_OP_RESHAPE, .n_in = 1, .dtype = {I32}, .shape = {"3,5"},
     .lo = {-9}, .hi = {9}, .n_attr = 1, .attrs = {AIS("shape", 15)}, .nograd = 1},
    {.name = "Transpose/2d", .op = LMG_OP_TRANSPOSE, .n_in = 1, .shape = {"2,3"}, .n_attr = 1,
     .attrs = {AIS("perm", 1, 0)}},
    {.name = "Transpose/3d", .op = LMG_OP_TRANSPOSE, .n_in = 1, .shape = {"2,3,4"}, .n_attr = 1,
     .attrs = {AIS("perm", 2, 0, 1)}},
    {.name = "Transpose/heads", .op = LMG_OP_TRANSPOSE, .n_in = 1, .shape = {"2,3,4,5"},
     .n_attr = 1, .attrs = {AIS("perm", 0, 2, 1, 3)}},
    {.name = "Transpose/rank4-reverse", .op = LMG_OP_TRANSPOSE, .n_in = 1, .shape = {"2,1,3,5"},
     .n_attr = 1, .attrs = {AIS("perm", 3, 2, 1, 0)}},
    {.name = "Transpose/vector", .op = LMG_OP_TRANSPOSE, .n_in = 1, .shape = {"7"}, .n_attr = 1,
     .attrs = {AIS("perm", 0)}},
    {.name = "Transpose/i32", .op = LMG_OP_TRANSPOSE, .n_in = 1, .dtype = {I32}, .shape = {"3,5"},
     .lo = {-9}, .hi = {9}, .n_attr = 1, .attrs = {AIS("perm", 1, 0)}, .nograd = 1},
    {.name = "Slice/axis0", .op = LMG_OP_SLICE, .n_in = 1, .shape = {"5,4"}, .n_attr = 3,
     .attrs = {AI("axis", 0), AI("start", 1), AI("end", 3)}},
    {.name = "Slice/negative", .op = LMG_OP_SLICE, .n_in = 1, .shape = {"3,7"}, .n_attr = 3,
     .attrs = {AI("axis", 1), AI("start", -5), AI("end", -1)}},
    {.name = "Slice/to-end", .op = LMG_OP_SLICE, .n_in = 1, .shape = {"2,7,3"}, .n_attr = 2,
     .attrs = {AI("axis", 1), AI("start", 2)}},
    {.name = "Slice/last-axis", .op = LMG_OP_SLICE, .n_in = 1, .shape = {"2,3,13"}, .n_attr = 3,
     .attrs = {AI("axis", -1), AI("start", 0), AI("end", 1)}},
    {.name = "Slice/whole", .op = LMG_OP_SLICE, .n_in = 1, .shape = {"13"}, .n_attr = 3,
     .attrs = {AI("axis", 0), AI("start", 0), AI("end", 13)}},
    {.name = "Slice/i32", .op = LMG_OP_SLICE, .n_in = 1, .dtype = {I32}, .shape = {"4,6"},
     .lo = {-9}, .hi = {9}, .n_attr = 3, .attrs = {AI("axis", 1), AI("start", 2), AI("end", 5)},
     .nograd = 1},
    {.name = "SliceGrad/axis1", .op = LMG_OP_SLICE_GRAD, .n_in = 1, .shape = {"2,3"}, .n_attr = 4,
     .attrs = {AI("axis", 1), AI("start", 1), AI("end", 4), AI("dim", 6)}},
    {.name = "SliceGrad/negative", .op = LMG_OP_SLICE_GRAD, .n_in = 1, .shape = {"3,2"},
     .n_attr = 4, .attrs = {AI("axis", 0), AI("start", -3), AI("end", 7), AI("dim", 7)}},
    {.name = "SliceGrad/3d", .op = LMG_OP_SLICE_GRAD, .n_in = 1, .shape = {"2,1,5"}, .n_attr = 4,
     .attrs = {AI("axis", -2), AI("start", 3), AI("end", 4), AI("dim", 4)}},
    {.name = "Concat/axis0", .op = LMG_OP_CONCAT, .n_in = 2, .shape = {"2,3", "4,3"}, .n_attr = 1,
     .attrs = {AI("axis", 0)}},
    {.name = "Concat/axis1-three", .op = LMG_OP_CONCAT, .n_in = 3, .shape = {"2,3", "2,1", "2,5"},
     .n_attr = 1, .attrs = {AI("axis", 1)}},
    {.name = "Concat/last-axis-3d", .op = LMG_OP_CONCAT, .n_in = 2, .shape = {"2,3,4", "2,3,1"},
     .n_attr = 1, .attrs = {AI("axis", -1)}},
    {.name = "Concat/middle-five", .op = LMG_OP_CONCAT, .n_in = 5,
     .shape = {"2,1,3", "2,2,3", "2,1,3", "2,3,3", "2,1,3"}, .n_attr = 1, .attrs = {AI("axis", 1)}},
    {.name = "Concat/one", .op = LMG_OP_CONCAT, .n_in = 1, .shape = {"3,4"}, .n_attr = 1,
     .attrs = {AI("axis", 1)}},
    {.name = "Concat/i32", .op = LMG_OP_CONCAT, .n_in = 2, .dtype = {I32, I32}, .shape = {"3", "4"},
     .lo = {-9, -9}, .hi = {9, 9}, .n_attr = 1, .attrs = {AI("axis", 0)}, .nograd = 1},
    {.name = "Expand/col", .op = LMG_OP_EXPAND, .n_in = 1, .shape = {"3,1"}, .n_attr = 1,
     .attrs = {AIS("shape", 3, 4)}},
    {.name = "Expand/leading", .op = LMG_OP_EXPAND, .n_in = 1, .shape = {"4"}, .n_attr = 1,
     .attrs = {AIS("shape", 2, 3, 4)}},
    {.name = "Expand/scalar", .op = LMG_OP_EXPAND, .n_in = 1, .shape = {""}, .n_attr = 1,
     .attrs = {AIS("shape", 2, 3)}},
    {.name = "Expand/same", .op = LMG_OP_EXPAND, .n_in = 1, .shape = {"1,1"}, .n_attr = 1,
     .attrs = {AIS("shape", 1, 1)}},
    {.name = "Expand/rank4", .op = LMG_OP_EXPAND, .n_in = 1, .shape = {"2,1,3,1"}, .n_attr = 1,
     .attrs = {AIS("shape", 2, 4, 3, 5)}},
    {.name = "Expand/i32", .op = LMG_OP_EXPAND, .n_in = 1, .dtype = {I32}, .shape = {"1,3"},
     .lo = {-9}, .hi = {9}, .n_attr = 1, .attrs = {AIS("shape", 2, 3)}, .nograd = 1},

    /* ---- reductions ---- */
    U1(LMG_OP_REDUCE_SUM, "ReduceSum/all", "3,4"),
    {.name = "ReduceSum/all-keepdims", .op = LMG_OP_REDUCE_SUM, .n_in = 1, .shape = {"13,7"},
     .n_attr = 2, .attrs = {AIS0("axes"), AI("keepdims", 1)}},
    {.name = "ReduceSum/last", .op = LMG_OP_REDUCE_SUM, .n_in = 1, .shape = {"2,3,4"},
     .n_attr = 1, .attrs = {AIS("axes", -1)}},
    {.name = "ReduceSum/first-keepdims", .op = LMG_OP_REDUCE_SUM, .n_in = 1, .shape = {"3,4"},
     .n_attr = 2, .attrs = {AIS("axes", 0), AI("keepdims", 1)}},
    {.name = "ReduceSum/outer-two", .op = LMG_OP_REDUCE_SUM, .n_in = 1, .shape = {"2,3,4"},
     .n_attr = 1, .attrs = {AIS("axes", 0, 2)}},
    {.name = "ReduceSum/rank4-keepdims", .op = LMG_OP_REDUCE_SUM, .n_in = 1,
     .shape = {"2,3,2,5"}, .n_attr = 2, .attrs = {AIS("axes", 3, 1), AI("keepdims", 1)}},
    U1(LMG_OP_REDUCE_SUM, "ReduceSum/rank0", ""),
    U1(LMG_OP_REDUCE_MEAN, "ReduceMean/all", "3,4"),
    {.name = "ReduceMean/last", .op = LMG_OP_REDUCE_MEAN, .n_in = 1, .shape = {"2,3,7"},
     .n_attr = 1, .attrs = {AIS("axes", 2)}},
    {.name = "ReduceMean/middle-keepdims", .op = LMG_OP_REDUCE_MEAN, .n_in = 1,
     .shape = {"2,5,3"}, .n_attr = 2, .attrs = {AIS("axes", 1), AI("keepdims", 1)}},
    {.name = "ReduceMean/rank4", .op = LMG_OP_REDUCE_MEAN, .n_in = 1, .shape = {"2,3,2,2"},
     .n_attr = 1, .attrs = {AIS("axes", 0, -1)}},
    U1(LMG_OP_REDUCE_MEAN, "ReduceMean/rank0", ""),
    {.name = "ArgMax/2d", .op = LMG_OP_ARGMAX, .n_in = 1, .shape = {"3,4"}, .nograd = 1},
    {.name = "ArgMax/vector", .op = LMG_OP_ARGMAX, .n_in = 1, .shape = {"13"}, .nograd = 1},
    {.name = "ArgMax/ties", .op = LMG_OP_ARGMAX, .n_in = 1, .shape = {"2,3,7"}, .init = init_ties,
     .nograd = 1},
    {.name = "ArgMax/one", .op = LMG_OP_ARGMAX, .n_in = 1, .shape = {"5,1"}, .nograd = 1},
    {.name = "ArgSort/2d", .op = LMG_OP_ARGSORT, .n_in = 1, .shape = {"3,9"}, .nograd = 1},
    {.name = "ArgSort/ties-nan", .op = LMG_OP_ARGSORT, .n_in = 1, .shape = {"2,3,17"},
     .init = init_sort_keys, .nograd = 1},
    {.name = "ArgSort/one", .op = LMG_OP_ARGSORT, .n_in = 1, .shape = {"4,1"}, .nograd = 1},
    {.name = "TakeAlong/f32", .op = LMG_OP_TAKE_ALONG, .n_in = 2, .dtype = {0, I32},
     .shape = {"3,7", "3,5"}, .lo = {-1, -2}, .hi = {1, 9}, .nograd = 1},
    {.name = "TakeAlong/i32-rank3", .op = LMG_OP_TAKE_ALONG, .n_in = 2, .dtype = {I32, I32},
     .shape = {"2,3,4", "2,3,6"}, .lo = {-50, 0}, .hi = {50, 4}, .nograd = 1},
};
const int lmg_n_cases_core = (int)(sizeof lmg_cases_core / sizeof lmg_cases_core[0]);
