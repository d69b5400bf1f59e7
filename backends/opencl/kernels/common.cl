/* common.cl — what every kernel file shares: strict f32 arithmetic, the shape walk that maps a
 * flat index to operand offsets (desc_t mirrors lmg_cl_desc in opencl_internal.h), fills. */

/* No contraction into fma: the kernels round like the reference backend's C code. */
#pragma OPENCL FP_CONTRACT OFF

/* A flat row-major index over dims[0..rank) maps to sum(coord[d] * st[k][d]) in operand k. */
typedef struct {
    int rank;
    int dims[8];
    int st[3][8];
} desc_t;

/* Offsets of flat index i in operands 0, 1 and 2 (rank 0: i itself in each). */
inline int3 desc_walk(const desc_t *d, int i)
{
    int3 o = (int3)(0, 0, 0);
    if (d->rank == 0) return (int3)(i, i, i);
    for (int k = d->rank - 1; k >= 0; k--) {
        int n = d->dims[k];
        int c = i % n;
        i /= n;
        o.x += c * d->st[0][k];
        o.y += c * d->st[1][k];
        o.z += c * d->st[2][k];
    }
    return o;
}

/* The max that lets NaN win, as the reference's `x > m || isnan(x)` does. */
inline float max_nan(float a, float b)
{
    return (isnan(a) || a > b) ? a : b;
}

__kernel void fill_u32(__global uint *y, ulong y_off, ulong n, uint bits)
{
    size_t i = get_global_id(0);
    if (i < n) y[y_off + i] = bits;
}

/* Transposes, slices, concatenation, broadcasts: dimension 0 runs along the last dim
 * (strides sy, sx), dimension 1 over the rows, whose start offsets in y and x are ro[r] and
 * ro[rows + r] (a table the host made). */
__kernel void copy_rows(__global uint *y, ulong y_off, __global const uint *x, ulong x_off,
                        int inner, int rows, int sy, int sx, __global const int *ro, ulong ro_off)
{
    int i = get_global_id(0), r = get_global_id(1);
    if (i >= inner || r >= rows) return;
    __global const int *o = ro + ro_off + r;
    y[y_off + o[0] + i * sy] = x[x_off + o[rows] + i * sx];
}

__kernel void copy_flat(__global uint *y, ulong y_off, __global const uint *x, ulong x_off, int n)
{
    int i = get_global_id(0);
    if (i < n) y[y_off + i] = x[x_off + i];
}
