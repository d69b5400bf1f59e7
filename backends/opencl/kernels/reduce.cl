/* reduce.cl — ReduceSum/ReduceMean (rows: one work-group per output, or per piece of a long
 * row, with a local-memory tree;
 * columns: chunked partial sums then a fixed-order final sum; anything else: one work-item
 * per output) and ArgMax over the last axis. */

/* Sum of one row of R elements per work-group; `div` is 1 (sum) or the count (mean). */
__kernel void reduce_rows(__global float *y, ulong y_off, __global const float *x, ulong x_off,
                          int R, float div, __local float *tmp)
{
    int row = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    __global const float *xr = x + x_off + (ulong)row * (ulong)R;
    float s = 0.0f;
    for (int j = l; j < R; j += L) s += xr[j];
    tmp[l] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = L / 2; w > 0; w >>= 1) {
        if (l < w) tmp[l] += tmp[l + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) y[y_off + row] = tmp[0] / div;
}

/* A long row in `chunks` pieces of `len`, one work-group each (a single group per row would
 * leave most of a device idle): part[row * chunks + c] = the sum of piece c. */
__kernel void reduce_rows_chunked(__global float *part, ulong part_off, __global const float *x,
                                  ulong x_off, int R, int len, int chunks, __local float *tmp)
{
    int g = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    int row = g / chunks, c = g % chunks;
    int j0 = c * len, j1 = min(R, j0 + len);
    __global const float *xr = x + x_off + (ulong)row * (ulong)R;
    float s = 0.0f;
    for (int j = j0 + l; j < j1; j += L) s += xr[j];
    tmp[l] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = L / 2; w > 0; w >>= 1) {
        if (l < w) tmp[l] += tmp[l + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) part[part_off + g] = tmp[0];
}

/* x is [R, K]: work-item (chunk c, column k) sums rows [c*per, (c+1)*per) of column k. */
__kernel void reduce_cols_partial(__global float *part, ulong part_off, __global const float *x,
                                  ulong x_off, int R, int K, int per)
{
    int i = get_global_id(0);
    int c = i / K, k = i % K;
    int r0 = c * per, r1 = min(R, r0 + per);
    __global const float *xc = x + x_off + k;
    float s = 0.0f;
    for (int r = r0; r < r1; r++) s += xc[(ulong)r * (ulong)K];
    part[part_off + i] = s;
}

/* y[k] = sum over chunks of part[c, k], in chunk order. */
__kernel void reduce_cols_final(__global float *y, ulong y_off, __global const float *part,
                                ulong part_off, int chunks, int K, float div)
{
    int k = get_global_id(0);
    if (k >= K) return;
    float s = 0.0f;
    for (int c = 0; c < chunks; c++) s += part[part_off + (ulong)c * (ulong)K + k];
    y[y_off + k] = s / div;
}

/* One work-item per output: `kept` walks outputs to x offsets, `red` the reduced elements. */
__kernel void reduce_general(__global float *y, ulong y_off, __global const float *x, ulong x_off,
                             int K, int R, float div, desc_t kept, desc_t red)
{
    int o = get_global_id(0);
    if (o >= K) return;
    int base = desc_walk(&kept, o).x;
    float s = 0.0f;
    for (int r = 0; r < R; r++) s += x[x_off + base + desc_walk(&red, r).x];
    y[y_off + o] = s / div;
}

/* The index of the first maximum of each row; NaN counts as the maximum (the first NaN wins),
 * as in the reference. Each work-item scans a strided subset, then pairs merge in a tree. */
__kernel void argmax_rows(__global int *y, ulong y_off, __global const float *x, ulong x_off,
                          int C, __local float *tv, __local int *ti)
{
    int row = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    __global const float *xr = x + x_off + (ulong)row * (ulong)C;
    float bv = 0.0f;
    int bi = -1;
    for (int j = l; j < C; j += L) {
        float v = xr[j];
        if (bi < 0 || (!isnan(bv) && (isnan(v) || v > bv))) {
            bv = v;
            bi = j;
        }
    }
    tv[l] = bv;
    ti[l] = bi;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = L / 2; w > 0; w >>= 1) {
        if (l < w) {
            float av = tv[l], cv = tv[l + w];
            int ai = ti[l], ci = ti[l + w];
            int take_c;
            if (ci < 0) take_c = 0;
            else if (ai < 0) take_c = 1;
            else if (isnan(av) && isnan(cv)) take_c = ci < ai;
            else if (isnan(av)) take_c = 0;
            else if (isnan(cv)) take_c = 1;
            else take_c = cv > av || (cv == av && ci < ai);
            if (take_c) {
                tv[l] = cv;
                ti[l] = ci;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) y[y_off + row] = ti[0] < 0 ? 0 : ti[0];
}

/* ArgSort: each work-item places one element at its rank in the stable ascending order of
 * its row (numbers first, -0 equal to 0, NaN last): the elements before it are the smaller
 * ones and the equal ones to its left. O(N) per element, no scratch, no atomics. */
inline int argsort_less(float a, float b)
{
    if (isnan(a)) return 0;
    if (isnan(b)) return 1;
    return a < b;
}

__kernel void argsort_rank(__global int *y, ulong y_off, __global const float *x, ulong x_off,
                           int N, int n)
{
    int i = get_global_id(0);
    if (i >= n) return;
    int row = i / N, k = i % N;
    __global const float *xr = x + x_off + (ulong)row * (ulong)N;
    float v = xr[k];
    int rank = 0;
    for (int j = 0; j < N; j++) {
        float w = xr[j];
        if (argsort_less(w, v) || (j < k && !argsort_less(v, w))) rank++;
    }
    y[y_off + (ulong)row * (ulong)N + rank] = k;
}
