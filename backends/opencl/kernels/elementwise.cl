/* elementwise.cl — the kernels of the ops of ops/elementwise.def (broadcasting binary f32 and
 * wrapping i32, unary with alpha and beta), the GELU helpers, Cast and Where. One kernel per
 * op, so each compiles to straight, vectorisable code: `_flat` for operands walked like the
 * output, `_rows` for broadcasts (a 2-D range: dimension 0 runs along the last collapsed dim,
 * dimension 1 over the rows, whose start offsets come from a table the host made). Each work-item reads element i of its
 * operands before it writes element i, so an output may overwrite a same-shaped input. */

/* tanh(u) as 1 - 2/(exp(2u) + 1): exact at the ends (+-1, NaN passes), and its absolute
 * error near 0 is a few ulp of 1, which GELU's 0.5x(1 + tanh) does not notice. q = 1 - t is
 * kept so 1 - t^2 = q(2 - q) has no cancellation. */
#define GELU_C 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_K 0.044715f

inline float gelu_q(float x)
{
    float u = GELU_C * (x + GELU_K * x * x * x);
    return 2.0f / (exp(2.0f * u) + 1.0f);
}

inline float gelu(float x)
{
    float q = gelu_q(x);
    return 0.5f * x * (2.0f - q);
}

/* x*x is capped (past |x| 1e15 the tanh has saturated and q(2-q) is 0) so it cannot overflow
 * to inf and make 0 * inf a NaN where the reference, in double, gives the slope 0 or 1. */
inline float gelu_deriv(float x)
{
    float q = gelu_q(x), x2 = fmin(x * x, 1e30f);
    return 0.5f * (2.0f - q) + 0.5f * x * (q * (2.0f - q)) * GELU_C * (1.0f + 3.0f * GELU_K * x2);
}

/* ops/elementwise.def follows this file in the program; its lines become the kernels below,
 * named ew_<E> (unary) and ew_<E>_<f32|i32>_<flat|rows> (binary). The device computes in f32:
 * WIDE() changes nothing. */
#define WIDE(v) (v)

#define EW_BINARY(NAME, T, ...)                                                                 \
    __kernel void NAME##_flat(__global T *y, ulong y_off, __global const T *pa, ulong a_off,    \
                              __global const T *pb, ulong b_off, int n)                          \
    {                                                                                            \
        int i = get_global_id(0);                                                                \
        if (i >= n) return;                                                                      \
        T a = pa[a_off + i], b = pb[b_off + i];                                                  \
        y[y_off + i] = __VA_ARGS__;                                                              \
    }                                                                                            \
    __kernel void NAME##_rows(__global T *y, ulong y_off, __global const T *pa, ulong a_off,    \
                              __global const T *pb, ulong b_off, int inner, int rows, int sa,    \
                              int sb, __global const int *ro, ulong ro_off)                      \
    {                                                                                            \
        int j = get_global_id(0), r = get_global_id(1);                                         \
        if (j >= inner || r >= rows) return;                                                     \
        __global const int *o = ro + ro_off + r;                                                 \
        T a = pa[a_off + o[0] + j * sa], b = pb[b_off + o[rows] + j * sb];                      \
        y[y_off + (ulong)r * (ulong)inner + j] = __VA_ARGS__;                                   \
    }

#define LMG_EW_BINARY(E, ONNX, ...) EW_BINARY(ew_##E##_f32, float, __VA_ARGS__)
/* Two's-complement wrap-around: unsigned arithmetic is defined on overflow. */
#define LMG_EW_BINARY_I32(E, ONNX, ...)                                                         \
    EW_BINARY(ew_##E##_f32, float, __VA_ARGS__)                                                  \
    EW_BINARY(ew_##E##_i32, uint, __VA_ARGS__)

#define LMG_EW_UNARY(E, ONNX, ...)                                                              \
    __kernel void ew_##E(__global float *y, ulong y_off, __global const float *px, ulong x_off, \
                         float alpha, float beta, int n)                                         \
    {                                                                                            \
        int i = get_global_id(0);                                                                \
        if (i >= n) return;                                                                      \
        float x = px[x_off + i];                                                                 \
        y[y_off + i] = __VA_ARGS__;                                                              \
    }

/* f32 -> i32 truncates toward zero, saturates, and maps NaN to 0 (the _sat conversion). */
__kernel void cast_f32_i32(__global int *y, ulong y_off, __global const float *x, ulong x_off,
                           int n)
{
    int i = get_global_id(0);
    if (i < n) y[y_off + i] = convert_int_sat_rtz(x[x_off + i]);
}

__kernel void cast_i32_f32(__global float *y, ulong y_off, __global const int *x, ulong x_off,
                           int n)
{
    int i = get_global_id(0);
    if (i < n) y[y_off + i] = convert_float_rte(x[x_off + i]);
}

/* y = cond != 0 ? a : b over words (f32 and i32 alike); cond is f32 (cond_f32) or i32. */
inline uint where_pick(uint cw, uint av, uint bv, int cond_f32)
{
    int take_a = cond_f32 ? as_float(cw) != 0.0f : cw != 0u;
    return take_a ? av : bv;
}

__kernel void where_flat(__global uint *y, ulong y_off, __global const uint *c, ulong c_off,
                         __global const uint *a, ulong a_off, __global const uint *b, ulong b_off,
                         int cond_f32, int n)
{
    int i = get_global_id(0);
    if (i >= n) return;
    y[y_off + i] = where_pick(c[c_off + i], a[a_off + i], b[b_off + i], cond_f32);
}

__kernel void where_rows(__global uint *y, ulong y_off, __global const uint *c, ulong c_off,
                         __global const uint *a, ulong a_off, __global const uint *b, ulong b_off,
                         int cond_f32, int inner, int rows, int sc, int sa, int sb,
                         __global const int *ro, ulong ro_off)
{
    int x = get_global_id(0), r = get_global_id(1);
    if (x >= inner || r >= rows) return;
    __global const int *o = ro + ro_off + r;
    uint cw = c[c_off + o[0] + x * sc], av = a[a_off + o[rows] + x * sa];
    uint bv = b[b_off + o[2 * rows] + x * sb];
    y[y_off + (ulong)r * (ulong)inner + x] = where_pick(cw, av, bv, cond_f32);
}
