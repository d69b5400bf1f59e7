/* attention.cl — fused attention. Forward: one work-item per query, keys and values staged
 * in local-memory tiles, an online softmax saving lse. Backward: delta = rowsum(dout * out),
 * then dq (one work-item per query) and dk, dv (one per key) recomputing the probabilities
 * from lse, so no atomics are needed and the results are deterministic. Causal masking uses
 * j <= i + S - T; key_mask == 0 drops a key; a query that sees no key gets out 0, lse -inf. */

#define ATT_MAXD 256 /* the host refuses a larger head dim */
#define ATT_MAXT 32  /* the largest tile of keys (forward, dq) or queries (dk, dv) */

__kernel void attention_fwd(__global float *out, ulong out_off, __global float *lse, ulong lse_off,
                            __global const float *q, ulong q_off, __global const float *k,
                            ulong k_off, __global const float *v, ulong v_off,
                            __global const float *mask, ulong mask_off, int has_mask, int H,
                            int T, int S, int D, int causal, float scale, int nqb, int KT,
                            __local float *kt, __local float *vt, __local int *vis)
{
    int grp = get_group_id(0), l = get_local_id(0), QB = get_local_size(0);
    int bh = grp / nqb, qb = grp % nqb, b = bh / H;
    int i = qb * QB + l;
    int active = i < T;
    float qv[ATT_MAXD], acc[ATT_MAXD];
    ulong row = (ulong)bh * (ulong)T + (ulong)i;
    for (int d = 0; d < D; d++) {
        qv[d] = active ? q[q_off + row * (ulong)D + d] : 0.0f;
        acc[d] = 0.0f;
    }
    float m = -INFINITY, lsum = 0.0f;
    int kend = S;
    if (causal) kend = clamp(qb * QB + QB + S - T, 0, S);
    ulong kbase = (ulong)bh * (ulong)S * (ulong)D;
    for (int j0 = 0; j0 < kend; j0 += KT) {
        int nk = min(KT, kend - j0);
        for (int idx = l; idx < nk * D; idx += QB) {
            kt[idx] = k[k_off + kbase + (ulong)j0 * (ulong)D + idx];
            vt[idx] = v[v_off + kbase + (ulong)j0 * (ulong)D + idx];
        }
        for (int jj = l; jj < nk; jj += QB)
            vis[jj] = !has_mask || mask[mask_off + (ulong)b * (ulong)S + j0 + jj] != 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        if (active) {
            float sc[ATT_MAXT];
            float tmax = -INFINITY;
            for (int jj = 0; jj < nk; jj++) {
                int j = j0 + jj;
                float s = -INFINITY;
                if (vis[jj] && (!causal || j <= i + S - T)) {
                    float dt = 0.0f;
                    for (int d = 0; d < D; d++) dt += qv[d] * kt[jj * D + d];
                    s = scale * dt;
                    tmax = max_nan(s, tmax);
                }
                sc[jj] = s;
            }
            float mnew = max_nan(tmax, m);
            if (mnew != -INFINITY) {
                float corr = exp(m - mnew);
                lsum *= corr;
                for (int d = 0; d < D; d++) acc[d] *= corr;
                for (int jj = 0; jj < nk; jj++) {
                    if (sc[jj] == -INFINITY) continue;
                    float p = exp(sc[jj] - mnew);
                    lsum += p;
                    for (int d = 0; d < D; d++) acc[d] += p * vt[jj * D + d];
                }
                m = mnew;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (!active) return;
    if (m == -INFINITY) {
        for (int d = 0; d < D; d++) out[out_off + row * (ulong)D + d] = 0.0f;
        lse[lse_off + row] = -INFINITY;
        return;
    }
    for (int d = 0; d < D; d++) out[out_off + row * (ulong)D + d] = acc[d] / lsum;
    lse[lse_off + row] = m + log(lsum);
}

/* delta[row] = sum_d dout[row, d] * out[row, d]. */
__kernel void attention_bwd_delta(__global float *delta, ulong delta_off, __global const float *g,
                                  ulong g_off, __global const float *o, ulong o_off, int rows,
                                  int D)
{
    int r = get_global_id(0);
    if (r >= rows) return;
    ulong base = (ulong)r * (ulong)D;
    float s = 0.0f;
    for (int d = 0; d < D; d++) s += g[g_off + base + d] * o[o_off + base + d];
    delta[delta_off + r] = s;
}

/* dq[i] = scale * sum_j P_ij (dout_i . v_j - delta_i) k_j, one work-item per query. */
__kernel void attention_bwd_dq(__global float *dq, ulong dq_off, __global const float *g,
                               ulong g_off, __global const float *q, ulong q_off,
                               __global const float *k, ulong k_off, __global const float *v,
                               ulong v_off, __global const float *lse, ulong lse_off,
                               __global const float *delta, ulong delta_off,
                               __global const float *mask, ulong mask_off, int has_mask, int H,
                               int T, int S, int D, int causal, float scale, int nqb, int KT,
                               __local float *kt, __local float *vt, __local int *vis)
{
    int grp = get_group_id(0), l = get_local_id(0), QB = get_local_size(0);
    int bh = grp / nqb, qb = grp % nqb, b = bh / H;
    int i = qb * QB + l;
    int active = i < T;
    ulong row = (ulong)bh * (ulong)T + (ulong)i;
    float li = active ? lse[lse_off + row] : -INFINITY;
    float di = active ? delta[delta_off + row] : 0.0f;
    int live = active && li != -INFINITY;
    float qv[ATT_MAXD], gv[ATT_MAXD], acc[ATT_MAXD];
    for (int d = 0; d < D; d++) {
        qv[d] = active ? q[q_off + row * (ulong)D + d] : 0.0f;
        gv[d] = active ? g[g_off + row * (ulong)D + d] : 0.0f;
        acc[d] = 0.0f;
    }
    int kend = S;
    if (causal) kend = clamp(qb * QB + QB + S - T, 0, S);
    ulong kbase = (ulong)bh * (ulong)S * (ulong)D;
    for (int j0 = 0; j0 < kend; j0 += KT) {
        int nk = min(KT, kend - j0);
        for (int idx = l; idx < nk * D; idx += QB) {
            kt[idx] = k[k_off + kbase + (ulong)j0 * (ulong)D + idx];
            vt[idx] = v[v_off + kbase + (ulong)j0 * (ulong)D + idx];
        }
        for (int jj = l; jj < nk; jj += QB)
            vis[jj] = !has_mask || mask[mask_off + (ulong)b * (ulong)S + j0 + jj] != 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        if (live)
            for (int jj = 0; jj < nk; jj++) {
                int j = j0 + jj;
                if (!vis[jj] || (causal && j > i + S - T)) continue;
                float s = 0.0f, dp = 0.0f;
                for (int d = 0; d < D; d++) {
                    s += qv[d] * kt[jj * D + d];
                    dp += gv[d] * vt[jj * D + d];
                }
                float p = exp(scale * s - li);
                float ds = p * (dp - di);
                for (int d = 0; d < D; d++) acc[d] += ds * kt[jj * D + d];
            }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (!active) return;
    for (int d = 0; d < D; d++) dq[dq_off + row * (ulong)D + d] = scale * acc[d];
}

/* dv[j] = sum_i P_ij dout_i and dk[j] = scale * sum_i P_ij (dout_i . v_j - delta_i) q_i, one
 * work-item per key, queries staged in local-memory tiles. */
__kernel void attention_bwd_dkdv(__global float *dk, ulong dk_off, __global float *dv,
                                 ulong dv_off, __global const float *g, ulong g_off,
                                 __global const float *q, ulong q_off, __global const float *k,
                                 ulong k_off, __global const float *v, ulong v_off,
                                 __global const float *lse, ulong lse_off,
                                 __global const float *delta, ulong delta_off,
                                 __global const float *mask, ulong mask_off, int has_mask, int H,
                                 int T, int S, int D, int causal, float scale, int nkb, int QT,
                                 __local float *qt, __local float *gt, __local float *lt,
                                 __local float *dt)
{
    int grp = get_group_id(0), l = get_local_id(0), KB = get_local_size(0);
    int bh = grp / nkb, kb = grp % nkb, b = bh / H;
    int j = kb * KB + l;
    int active = j < S;
    ulong krow = (ulong)bh * (ulong)S + (ulong)j;
    int keep = active && (!has_mask || mask[mask_off + (ulong)b * (ulong)S + j] != 0.0f);
    float kv[ATT_MAXD], vv[ATT_MAXD], ak[ATT_MAXD], av[ATT_MAXD];
    for (int d = 0; d < D; d++) {
        kv[d] = active ? k[k_off + krow * (ulong)D + d] : 0.0f;
        vv[d] = active ? v[v_off + krow * (ulong)D + d] : 0.0f;
        ak[d] = 0.0f;
        av[d] = 0.0f;
    }
    /* Query i sees key j when i >= j - S + T: skip the tiles before the block's first key. */
    int istart = 0;
    if (causal) istart = clamp(kb * KB - S + T, 0, T);
    ulong qbase = (ulong)bh * (ulong)T;
    for (int i0 = istart; i0 < T; i0 += QT) {
        int nq = min(QT, T - i0);
        for (int idx = l; idx < nq * D; idx += KB) {
            qt[idx] = q[q_off + (qbase + i0) * (ulong)D + idx];
            gt[idx] = g[g_off + (qbase + i0) * (ulong)D + idx];
        }
        for (int ii = l; ii < nq; ii += KB) {
            lt[ii] = lse[lse_off + qbase + i0 + ii];
            dt[ii] = delta[delta_off + qbase + i0 + ii];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (keep)
            for (int ii = 0; ii < nq; ii++) {
                int i = i0 + ii;
                float li = lt[ii];
                if (li == -INFINITY || (causal && j > i + S - T)) continue;
                float s = 0.0f, dp = 0.0f;
                for (int d = 0; d < D; d++) {
                    s += qt[ii * D + d] * kv[d];
                    dp += gt[ii * D + d] * vv[d];
                }
                float p = exp(scale * s - li);
                float ds = p * (dp - dt[ii]);
                for (int d = 0; d < D; d++) {
                    av[d] += p * gt[ii * D + d];
                    ak[d] += ds * qt[ii * D + d];
                }
            }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (!active) return;
    for (int d = 0; d < D; d++) {
        dk[dk_off + krow * (ulong)D + d] = scale * ak[d];
        dv[dv_off + krow * (ulong)D + d] = av[d];
    }
}
