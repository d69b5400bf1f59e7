/* nn.cl — last-axis kernels, one work-group per row with local-memory trees: Softmax,
 * LogSoftmax and their gradients, LayerNorm forward and backward (dgamma/dbeta by chunked
 * column sums), CrossEntropy and its gradient; plus the causal and padding masks. */

/* Sum and NaN-propagating max over the work-group (every work-item must call them). */
inline float group_sum(float v, __local float *tmp)
{
    int l = get_local_id(0), L = get_local_size(0);
    tmp[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = L / 2; w > 0; w >>= 1) {
        if (l < w) tmp[l] += tmp[l + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = tmp[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

inline float group_max(float v, __local float *tmp)
{
    int l = get_local_id(0), L = get_local_size(0);
    tmp[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = L / 2; w > 0; w >>= 1) {
        if (l < w) tmp[l] = max_nan(tmp[l], tmp[l + w]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = tmp[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* Row max and sum(exp(x - max)) of a row of C. */
inline float2 row_max_sum(__global const float *xr, int C, __local float *tmp)
{
    int l = get_local_id(0), L = get_local_size(0);
    float m = -INFINITY;
    for (int j = l; j < C; j += L) m = max_nan(xr[j], m);
    m = group_max(m, tmp);
    float s = 0.0f;
    if (m != -INFINITY)
        for (int j = l; j < C; j += L) s += exp(xr[j] - m);
    s = group_sum(s, tmp);
    return (float2)(m, s);
}

/* A row of only -inf gives 0 (softmax) or -inf (log-softmax), as in the reference. */
__kernel void softmax_rows(__global float *y, ulong y_off, __global const float *x, ulong x_off,
                           int C, int log_form, __local float *tmp)
{
    int row = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    __global const float *xr = x + x_off + (ulong)row * (ulong)C;
    __global float *yr = y + y_off + (ulong)row * (ulong)C;
    float2 ms = row_max_sum(xr, C, tmp);
    float m = ms.x, s = ms.y, ls = log(s);
    for (int j = l; j < C; j += L) {
        float v = xr[j];
        if (log_form) yr[j] = m == -INFINITY ? -INFINITY : (v - m) - ls;
        else yr[j] = m == -INFINITY ? 0.0f : exp(v - m) / s;
    }
}

/* Softmax: dx = y * (dy - sum(dy*y)); log-softmax: dx = dy - exp(y) * sum(dy). */
__kernel void softmax_grad_rows(__global float *dx, ulong dx_off, __global const float *dy,
                                ulong dy_off, __global const float *y, ulong y_off, int C,
                                int log_form, __local float *tmp)
{
    int row = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    ulong base = (ulong)row * (ulong)C;
    __global const float *dyr = dy + dy_off + base, *yr = y + y_off + base;
    __global float *dxr = dx + dx_off + base;
    float s = 0.0f;
    for (int j = l; j < C; j += L) s += log_form ? dyr[j] : dyr[j] * yr[j];
    s = group_sum(s, tmp);
    for (int j = l; j < C; j += L) {
        float g = dyr[j], v = yr[j];
        dxr[j] = log_form ? g - exp(v) * s : v * (g - s);
    }
}

__kernel void layernorm_rows(__global float *y, ulong y_off, __global float *mean, ulong mean_off,
                             __global float *rstd, ulong rstd_off, __global const float *x,
                             ulong x_off, __global const float *gamma, ulong gamma_off,
                             __global const float *beta, ulong beta_off, int C, float eps,
                             __local float *tmp)
{
    int row = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    ulong base = (ulong)row * (ulong)C;
    __global const float *xr = x + x_off + base;
    __global float *yr = y + y_off + base;
    float s = 0.0f;
    for (int j = l; j < C; j += L) s += xr[j];
    float m = group_sum(s, tmp) / (float)C;
    float v = 0.0f;
    for (int j = l; j < C; j += L) {
        float d = xr[j] - m;
        v += d * d;
    }
    v = group_sum(v, tmp) / (float)C;
    float r = 1.0f / sqrt(v + eps);
    for (int j = l; j < C; j += L)
        yr[j] = (xr[j] - m) * r * gamma[gamma_off + j] + beta[beta_off + j];
    if (l == 0) {
        mean[mean_off + row] = m;
        rstd[rstd_off + row] = r;
    }
}

__kernel void layernorm_grad_rows(__global float *dx, ulong dx_off, __global const float *dy,
                                  ulong dy_off, __global const float *x, ulong x_off,
                                  __global const float *gamma, ulong gamma_off,
                                  __global const float *mean, ulong mean_off,
                                  __global const float *rstd, ulong rstd_off, int C,
                                  __local float *tmp)
{
    int row = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    ulong base = (ulong)row * (ulong)C;
    __global const float *dyr = dy + dy_off + base, *xr = x + x_off + base;
    __global const float *g = gamma + gamma_off;
    __global float *dxr = dx + dx_off + base;
    float m = mean[mean_off + row], r = rstd[rstd_off + row];
    float a = 0.0f, b = 0.0f;
    for (int j = l; j < C; j += L) {
        float dn = dyr[j] * g[j], nrm = (xr[j] - m) * r;
        a += dn;
        b += dn * nrm;
    }
    float dmean = group_sum(a, tmp) / (float)C;
    float dnn = group_sum(b, tmp) / (float)C;
    for (int j = l; j < C; j += L) {
        float dn = dyr[j] * g[j], nrm = (xr[j] - m) * r;
        dxr[j] = r * (dn - dmean - nrm * dnn);
    }
}

/* dgamma and dbeta partial sums: work-item (chunk c, column j) over rows of chunk c. part
 * holds [chunks, C] for dgamma, then [chunks, C] for dbeta. */
__kernel void layernorm_grad_cols(__global float *part, ulong part_off, __global const float *dy,
                                  ulong dy_off, __global const float *x, ulong x_off,
                                  __global const float *mean, ulong mean_off,
                                  __global const float *rstd, ulong rstd_off, int R, int C,
                                  int per, int chunks)
{
    int i = get_global_id(0);
    int c = i / C, j = i % C;
    int r0 = c * per, r1 = min(R, r0 + per);
    float sg = 0.0f, sb = 0.0f;
    for (int r = r0; r < r1; r++) {
        ulong o = (ulong)r * (ulong)C + j;
        float d = dy[dy_off + o];
        sg += d * ((x[x_off + o] - mean[mean_off + r]) * rstd[rstd_off + r]);
        sb += d;
    }
    part[part_off + i] = sg;
    part[part_off + (ulong)chunks * (ulong)C + i] = sb;
}

__kernel void layernorm_grad_cols_final(__global float *dgamma, ulong dgamma_off,
                                        __global float *dbeta, ulong dbeta_off,
                                        __global const float *part, ulong part_off, int chunks,
                                        int C)
{
    int j = get_global_id(0);
    if (j >= C) return;
    float sg = 0.0f, sb = 0.0f;
    for (int c = 0; c < chunks; c++) {
        sg += part[part_off + (ulong)c * (ulong)C + j];
        sb += part[part_off + (ulong)(chunks + c) * (ulong)C + j];
    }
    dgamma[dgamma_off + j] = sg;
    dbeta[dbeta_off + j] = sb;
}

/* y[..., i, j] = j <= i + S - T ? x : fill. */
__kernel void causal_mask(__global float *y, ulong y_off, __global const float *x, ulong x_off,
                          int T, int S, float fill, int n)
{
    int i = get_global_id(0);
    if (i >= n) return;
    int j = i % S, t = (i / S) % T;
    float v = x[x_off + i];
    y[y_off + i] = j <= t + S - T ? v : fill;
}

__kernel void padding_mask(__global float *y, ulong y_off, __global const int *ids, ulong ids_off,
                           int pad, int n)
{
    int i = get_global_id(0);
    if (i < n) y[y_off + i] = ids[ids_off + i] != pad ? 1.0f : 0.0f;
}

/* ---- cross-entropy ----------------------------------------------------------------- */

inline int ce_counts(int t, int ignore, int V) { return t != ignore && t >= 0 && t < V; }

/* Per row: part[row] = w * (lse - x[t]), part[N + row] = w (both 0 when the row does not
 * count). */
__kernel void ce_rows(__global float *part, ulong part_off, __global const float *x, ulong x_off,
                      __global const int *tgt, ulong tgt_off, __global const float *w,
                      ulong w_off, int has_w, int N, int V, int ignore, __local float *tmp)
{
    /* Every work-item passes every barrier; a row that does not count just writes zeros. */
    int row = get_group_id(0), l = get_local_id(0);
    int t = tgt[tgt_off + row];
    int counted = ce_counts(t, ignore, V);
    __global const float *xr = x + x_off + (ulong)row * (ulong)V;
    float2 ms = row_max_sum(xr, V, tmp);
    if (l != 0) return;
    float lse = ms.x == -INFINITY ? -INFINITY : ms.x + log(ms.y);
    float wt = has_w ? w[w_off + row] : 1.0f;
    part[part_off + row] = counted ? wt * (lse - xr[t]) : 0.0f;
    part[part_off + N + row] = counted ? wt : 0.0f;
}

/* One work-group: the weighted mean of the rows' losses, 0 when the weights sum to 0. */
__kernel void ce_final(__global float *y, ulong y_off, __global const float *part, ulong part_off,
                       int N, __local float *tmp)
{
    int l = get_local_id(0), L = get_local_size(0);
    float a = 0.0f, b = 0.0f;
    for (int i = l; i < N; i += L) {
        a += part[part_off + i];
        b += part[part_off + N + i];
    }
    a = group_sum(a, tmp);
    b = group_sum(b, tmp);
    if (l == 0) y[y_off] = b != 0.0f ? a / b : 0.0f;
}

/* One work-group: the total weight of the counted rows. */
__kernel void ce_weight_sum(__global float *W, ulong W_off, __global const int *tgt, ulong tgt_off,
                            __global const float *w, ulong w_off, int has_w, int N, int V,
                            int ignore, __local float *tmp)
{
    int l = get_local_id(0), L = get_local_size(0);
    float s = 0.0f;
    for (int i = l; i < N; i += L)
        if (ce_counts(tgt[tgt_off + i], ignore, V)) s += has_w ? w[w_off + i] : 1.0f;
    s = group_sum(s, tmp);
    if (l == 0) W[W_off] = s;
}

__kernel void ce_grad_rows(__global float *dx, ulong dx_off, __global const float *dloss,
                           ulong dloss_off, __global const float *x, ulong x_off,
                           __global const int *tgt, ulong tgt_off, __global const float *w,
                           ulong w_off, int has_w, __global const float *W, ulong W_off, int V,
                           int ignore, __local float *tmp)
{
    int row = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    ulong base = (ulong)row * (ulong)V;
    __global const float *xr = x + x_off + base;
    __global float *dr = dx + dx_off + base;
    int t = tgt[tgt_off + row];
    float Wt = W[W_off];
    int live = Wt != 0.0f && ce_counts(t, ignore, V);
    float k = live ? dloss[dloss_off] * (has_w ? w[w_off + row] : 1.0f) / Wt : 0.0f;
    float2 ms = row_max_sum(xr, V, tmp);
    for (int j = l; j < V; j += L) {
        float p = exp(xr[j] - ms.x) / ms.y;
        dr[j] = live ? k * (p - (j == t ? 1.0f : 0.0f)) : 0.0f;
    }
}
