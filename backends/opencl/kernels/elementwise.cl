/* elementwise.cl — broadcasting arithmetic (f32, wrapping i32), unary maths, ReLU/GELU and
 * their backward helpers, Cast and Where. Each work-item reads element i of its operands
 * before it writes element i, so an output may overwrite a same-shaped input (in place). */

/* Op codes: keep in step with backends/opencl/elementwise.c. */
#define EW_ADD 0
#define EW_SUB 1
#define EW_MUL 2
#define EW_DIV 3
#define EW_MAX 4
#define EW_RELU_GRAD 5
#define EW_GELU_GRAD 6

#define EW_NEG 0
#define EW_SCALE 1
#define EW_EXP 2
#define EW_LOG 3
#define EW_SQRT 4
#define EW_RSQRT 5
#define EW_TANH 6
#define EW_RELU 7
#define EW_GELU 8

#define GELU_C 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_K 0.044715f

inline float gelu_f(float x)
{
    return 0.5f * x * (1.0f + tanh(GELU_C * (x + GELU_K * x * x * x)));
}

inline float gelu_deriv(float x)
{
    float t = tanh(GELU_C * (x + GELU_K * x * x * x));
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_C * (1.0f + 3.0f * GELU_K * x * x);
}

__kernel void binary_f32(__global float *y, ulong y_off, __global const float *a, ulong a_off,
                         __global const float *b, ulong b_off, int op, int n, desc_t d)
{
    int i = get_global_id(0);
    if (i >= n) return;
    int3 o = desc_walk(&d, i);
    float u = a[a_off + o.x], v = b[b_off + o.y], r;
    switch (op) {
    case EW_ADD: r = u + v; break;
    case EW_SUB: r = u - v; break;
    case EW_MUL: r = u * v; break;
    case EW_DIV: r = u / v; break;
    case EW_MAX: r = isnan(u) || isnan(v) ? NAN : (u >= v ? u : v); break;
    case EW_RELU_GRAD: r = v > 0.0f ? u : 0.0f; break;
    default: r = u * gelu_deriv(v); break; /* EW_GELU_GRAD: (dy, x) */
    }
    y[y_off + i] = r;
}

/* Two's-complement wrap-around: unsigned arithmetic is defined on overflow. */
__kernel void binary_i32(__global uint *y, ulong y_off, __global const uint *a, ulong a_off,
                         __global const uint *b, ulong b_off, int op, int n, desc_t d)
{
    int i = get_global_id(0);
    if (i >= n) return;
    int3 o = desc_walk(&d, i);
    uint u = a[a_off + o.x], v = b[b_off + o.y];
    y[y_off + i] = op == EW_ADD ? u + v : op == EW_SUB ? u - v : u * v;
}

__kernel void unary_f32(__global float *y, ulong y_off, __global const float *x, ulong x_off,
                        int op, float alpha, float beta, int n)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float v = x[x_off + i], r;
    switch (op) {
    case EW_NEG: r = -v; break;
    case EW_SCALE: r = alpha * v + beta; break;
    case EW_EXP: r = exp(v); break;
    case EW_LOG: r = log(v); break;
    case EW_SQRT: r = sqrt(v); break;
    case EW_RSQRT: r = 1.0f / sqrt(v); break;
    case EW_TANH: r = tanh(v); break;
    case EW_RELU: r = v > 0.0f || isnan(v) ? v : 0.0f; break;
    default: r = gelu_f(v); break;
    }
    y[y_off + i] = r;
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
__kernel void where_u32(__global uint *y, ulong y_off, __global const uint *c, ulong c_off,
                        __global const uint *a, ulong a_off, __global const uint *b, ulong b_off,
                        int cond_f32, int n, desc_t d)
{
    int i = get_global_id(0);
    if (i >= n) return;
    int3 o = desc_walk(&d, i);
    uint cw = c[c_off + o.x];
    int take_a = cond_f32 ? as_float(cw) != 0.0f : cw != 0u;
    uint av = a[a_off + o.y], bv = b[b_off + o.z];
    y[y_off + i] = take_a ? av : bv;
}
