/* attention.cl — fused attention. Forward: one work-item per query, keys and values staged
 * in local-memory tiles, an online softmax saving lse. Backward: delta = rowsum(dout * out),
 * then dq (one work-item per query) and dk, dv (one per key) recomputing the probabilities
 * from lse, so no atomics are needed and the results are deterministic. Causal masking uses
 * j <= i + S - T; key_mask == 0 drops a key; a query that sees no key gets out 0, lse -inf.
 * Each kernel comes from one macro several times: over float (any head dim), over float4
 * (head dims divisible by 4, `_v4`: every dot product and update runs four lanes at once),
 * and over float4 with the head dim a constant (`_d32`, `_d64`, `_d128`). */

#define ATT_MAXD 256 /* the host refuses a larger head dim */
#define ATT_MAXT 32  /* the largest tile of keys (forward, dq) or queries (dk, dv) */

/* Element access for the two widths: global memory through vload/vstore (any offset). */
#define LD_1(p, i) ((p)[i])
#define LD_4(p, i) vload4((i), (p))
#define ST_1(x, p, i) ((p)[i] = (x))
#define ST_4(x, p, i) vstore4((x), (i), (p))
#define DOT_1(a, b) ((a) * (b))
#define DOT_4(a, b) dot((a), (b))

#define ATTENTION_FWD(NAME, T, W, DVX, ARR)                                                               \
__kernel void NAME(__global float *out, ulong out_off, __global float *lse, ulong lse_off,      \
                   __global const float *q, ulong q_off, __global const float *k, ulong k_off,  \
                   __global const float *v, ulong v_off, __global const float *mask,            \
                   ulong mask_off, int has_mask, int H, int T_, int S, int D, int causal,       \
                   float scale, int nqb, int KT, __local T *kt, __local T *vt, __local int *vis) \
{                                                                                               \
    int grp = get_group_id(0), l = get_local_id(0), QB = get_local_size(0);                    \
    int bh = grp / nqb, qb = grp % nqb, b = bh / H;                                             \
    int i = qb * QB + l, DV = DVX;                                                            \
    int active = i < T_;                                                                        \
    T qv[ARR], acc[ARR];                                                      \
    ulong row = (ulong)bh * (ulong)T_ + (ulong)i;                                               \
    __global const float *qr = q + q_off + row * (ulong)D;                                      \
    for (int d = 0; d < DV; d++) {                                                              \
        qv[d] = active ? LD_##W(qr, d) : (T)(0.0f);                                             \
        acc[d] = (T)(0.0f);                                                                     \
    }                                                                                           \
    float m = -INFINITY, lsum = 0.0f;                                                           \
    int kend = S;                                                                               \
    if (causal) kend = clamp(qb * QB + QB + S - T_, 0, S);                                      \
    ulong kbase = (ulong)bh * (ulong)S * (ulong)D;                                              \
    for (int j0 = 0; j0 < kend; j0 += KT) {                                                     \
        int nk = min(KT, kend - j0);                                                            \
        __global const float *kg = k + k_off + kbase + (ulong)j0 * (ulong)D;                    \
        __global const float *vg = v + v_off + kbase + (ulong)j0 * (ulong)D;                    \
        for (int idx = l; idx < nk * DV; idx += QB) {                                           \
            kt[idx] = LD_##W(kg, idx);                                                          \
            vt[idx] = LD_##W(vg, idx);                                                          \
        }                                                                                       \
        for (int jj = l; jj < nk; jj += QB)                                                     \
            vis[jj] = !has_mask || mask[mask_off + (ulong)b * (ulong)S + j0 + jj] != 0.0f;      \
        barrier(CLK_LOCAL_MEM_FENCE);                                                           \
        if (active) {                                                                           \
            float sc[ATT_MAXT];                                                                 \
            float tmax = -INFINITY;                                                             \
            for (int jj = 0; jj < nk; jj++) {                                                   \
                int j = j0 + jj;                                                                \
                float s = -INFINITY;                                                            \
                if (vis[jj] && (!causal || j <= i + S - T_)) {                                  \
                    float dt = 0.0f;                                                            \
                    for (int d = 0; d < DV; d++) dt += DOT_##W(qv[d], kt[jj * DV + d]);         \
                    s = scale * dt;                                                             \
                    tmax = max_nan(s, tmax);                                                    \
                }                                                                               \
                sc[jj] = s;                                                                     \
            }                                                                                   \
            float mnew = max_nan(tmax, m);                                                      \
            if (mnew != -INFINITY) {                                                            \
                float corr = exp(m - mnew);                                                     \
                lsum *= corr;                                                                   \
                for (int d = 0; d < DV; d++) acc[d] *= corr;                                    \
                for (int jj = 0; jj < nk; jj++) {                                               \
                    if (sc[jj] == -INFINITY) continue;                                          \
                    float p = exp(sc[jj] - mnew);                                               \
                    lsum += p;                                                                  \
                    for (int d = 0; d < DV; d++) acc[d] += p * vt[jj * DV + d];                 \
                }                                                                               \
                m = mnew;                                                                       \
            }                                                                                   \
        }                                                                                       \
        barrier(CLK_LOCAL_MEM_FENCE);                                                           \
    }                                                                                           \
    if (!active) return;                                                                        \
    __global float *orow = out + out_off + row * (ulong)D;                                      \
    int dead = m == -INFINITY;                                                                  \
    for (int d = 0; d < DV; d++) ST_##W(dead ? (T)(0.0f) : acc[d] / lsum, orow, d);             \
    lse[lse_off + row] = dead ? -INFINITY : m + log(lsum);                                      \
}

/* dq[i] = scale * sum_j P_ij (dout_i . v_j - delta_i) k_j, one work-item per query. */
#define ATTENTION_DQ(NAME, T, W, DVX, ARR)                                                                \
__kernel void NAME(__global float *dq, ulong dq_off, __global const float *g, ulong g_off,      \
                   __global const float *q, ulong q_off, __global const float *k, ulong k_off,  \
                   __global const float *v, ulong v_off, __global const float *lse,             \
                   ulong lse_off, __global const float *delta, ulong delta_off,                 \
                   __global const float *mask, ulong mask_off, int has_mask, int H, int T_,     \
                   int S, int D, int causal, float scale, int nqb, int KT, __local T *kt,       \
                   __local T *vt, __local int *vis)                                             \
{                                                                                               \
    int grp = get_group_id(0), l = get_local_id(0), QB = get_local_size(0);                    \
    int bh = grp / nqb, qb = grp % nqb, b = bh / H;                                             \
    int i = qb * QB + l, DV = DVX;                                                            \
    int active = i < T_;                                                                        \
    ulong row = (ulong)bh * (ulong)T_ + (ulong)i;                                               \
    float li = active ? lse[lse_off + row] : -INFINITY;                                         \
    float di = active ? delta[delta_off + row] : 0.0f;                                          \
    int live = active && li != -INFINITY;                                                       \
    T qv[ARR], gv[ARR], acc[ARR];                                    \
    __global const float *qr = q + q_off + row * (ulong)D, *gr = g + g_off + row * (ulong)D;    \
    for (int d = 0; d < DV; d++) {                                                              \
        qv[d] = active ? LD_##W(qr, d) : (T)(0.0f);                                             \
        gv[d] = active ? LD_##W(gr, d) : (T)(0.0f);                                             \
        acc[d] = (T)(0.0f);                                                                     \
    }                                                                                           \
    int kend = S;                                                                               \
    if (causal) kend = clamp(qb * QB + QB + S - T_, 0, S);                                      \
    ulong kbase = (ulong)bh * (ulong)S * (ulong)D;                                              \
    for (int j0 = 0; j0 < kend; j0 += KT) {                                                     \
        int nk = min(KT, kend - j0);                                                            \
        __global const float *kg = k + k_off + kbase + (ulong)j0 * (ulong)D;                    \
        __global const float *vg = v + v_off + kbase + (ulong)j0 * (ulong)D;                    \
        for (int idx = l; idx < nk * DV; idx += QB) {                                           \
            kt[idx] = LD_##W(kg, idx);                                                          \
            vt[idx] = LD_##W(vg, idx);                                                          \
        }                                                                                       \
        for (int jj = l; jj < nk; jj += QB)                                                     \
            vis[jj] = !has_mask || mask[mask_off + (ulong)b * (ulong)S + j0 + jj] != 0.0f;      \
        barrier(CLK_LOCAL_MEM_FENCE);                                                           \
        if (live)                                                                               \
            for (int jj = 0; jj < nk; jj++) {                                                   \
                int j = j0 + jj;                                                                \
                if (!vis[jj] || (causal && j > i + S - T_)) continue;                           \
                float s = 0.0f, dp = 0.0f;                                                      \
                for (int d = 0; d < DV; d++) {                                                  \
                    s += DOT_##W(qv[d], kt[jj * DV + d]);                                       \
                    dp += DOT_##W(gv[d], vt[jj * DV + d]);                                      \
                }                                                                               \
                float p = exp(scale * s - li);                                                  \
                float ds = p * (dp - di);                                                       \
                for (int d = 0; d < DV; d++) acc[d] += ds * kt[jj * DV + d];                    \
            }                                                                                   \
        barrier(CLK_LOCAL_MEM_FENCE);                                                           \
    }                                                                                           \
    if (!active) return;                                                                        \
    __global float *dr = dq + dq_off + row * (ulong)D;                                          \
    for (int d = 0; d < DV; d++) ST_##W(scale * acc[d], dr, d);                                 \
}

/* dv[j] = sum_i P_ij dout_i and dk[j] = scale * sum_i P_ij (dout_i . v_j - delta_i) q_i, one
 * work-item per key, queries staged in local-memory tiles. */
#define ATTENTION_DKDV(NAME, T, W, DVX, ARR)                                                              \
__kernel void NAME(__global float *dk, ulong dk_off, __global float *dv, ulong dv_off,          \
                   __global const float *g, ulong g_off, __global const float *q, ulong q_off,  \
                   __global const float *k, ulong k_off, __global const float *v, ulong v_off,  \
                   __global const float *lse, ulong lse_off, __global const float *delta,       \
                   ulong delta_off, __global const float *mask, ulong mask_off, int has_mask,   \
                   int H, int T_, int S, int D, int causal, float scale, int nkb, int QT,       \
                   __local T *qt, __local T *gt, __local float *lt, __local float *dt)          \
{                                                                                               \
    int grp = get_group_id(0), l = get_local_id(0), KB = get_local_size(0);                    \
    int bh = grp / nkb, kb = grp % nkb, b = bh / H;                                             \
    int j = kb * KB + l, DV = DVX;                                                            \
    int active = j < S;                                                                         \
    ulong krow = (ulong)bh * (ulong)S + (ulong)j;                                               \
    int keep = active && (!has_mask || mask[mask_off + (ulong)b * (ulong)S + j] != 0.0f);       \
    T kv[ARR], vv[ARR], ak[ARR], av[ARR];                   \
    __global const float *kr = k + k_off + krow * (ulong)D, *vr = v + v_off + krow * (ulong)D;  \
    for (int d = 0; d < DV; d++) {                                                              \
        kv[d] = active ? LD_##W(kr, d) : (T)(0.0f);                                             \
        vv[d] = active ? LD_##W(vr, d) : (T)(0.0f);                                             \
        ak[d] = (T)(0.0f);                                                                      \
        av[d] = (T)(0.0f);                                                                      \
    }                                                                                           \
    /* Query i sees key j when i >= j - S + T: skip the tiles before the block's first key. */ \
    int istart = 0;                                                                             \
    if (causal) istart = clamp(kb * KB - S + T_, 0, T_);                                        \
    ulong qbase = (ulong)bh * (ulong)T_;                                                        \
    for (int i0 = istart; i0 < T_; i0 += QT) {                                                  \
        int nq = min(QT, T_ - i0);                                                              \
        __global const float *qg = q + q_off + (qbase + i0) * (ulong)D;                         \
        __global const float *gg = g + g_off + (qbase + i0) * (ulong)D;                         \
        for (int idx = l; idx < nq * DV; idx += KB) {                                           \
            qt[idx] = LD_##W(qg, idx);                                                          \
            gt[idx] = LD_##W(gg, idx);                                                          \
        }                                                                                       \
        for (int ii = l; ii < nq; ii += KB) {                                                   \
            lt[ii] = lse[lse_off + qbase + i0 + ii];                                            \
            dt[ii] = delta[delta_off + qbase + i0 + ii];                                        \
        }                                                                                       \
        barrier(CLK_LOCAL_MEM_FENCE);                                                           \
        if (keep)                                                                               \
            for (int ii = 0; ii < nq; ii++) {                                                   \
                int i = i0 + ii;                                                                \
                float li = lt[ii];                                                              \
                if (li == -INFINITY || (causal && j > i + S - T_)) continue;                    \
                float s = 0.0f, dp = 0.0f;                                                      \
                for (int d = 0; d < DV; d++) {                                                  \
                    s += DOT_##W(qt[ii * DV + d], kv[d]);                                       \
                    dp += DOT_##W(gt[ii * DV + d], vv[d]);                                      \
                }                                                                               \
                float p = exp(scale * s - li);                                                  \
                float ds = p * (dp - dt[ii]);                                                   \
                for (int d = 0; d < DV; d++) {                                                  \
                    av[d] += p * gt[ii * DV + d];                                               \
                    ak[d] += ds * qt[ii * DV + d];                                              \
                }                                                                               \
            }                                                                                   \
        barrier(CLK_LOCAL_MEM_FENCE);                                                           \
    }                                                                                           \
    if (!active) return;                                                                        \
    __global float *dkr = dk + dk_off + krow * (ulong)D, *dvr = dv + dv_off + krow * (ulong)D;  \
    for (int d = 0; d < DV; d++) {                                                              \
        ST_##W(scale * ak[d], dkr, d);                                                          \
        ST_##W(av[d], dvr, d);                                                                  \
    }                                                                                           \
}

/* Any head dim; multiples of 4; and the common 32, 64, 128, where the loop bounds and private
 * arrays are constants the compiler can unroll and keep in registers. */
ATTENTION_FWD(attention_fwd, float, 1, D, ATT_MAXD)
ATTENTION_FWD(attention_fwd_v4, float4, 4, D / 4, ATT_MAXD / 4)
ATTENTION_FWD(attention_fwd_d32, float4, 4, 8, 8)
ATTENTION_FWD(attention_fwd_d64, float4, 4, 16, 16)
ATTENTION_FWD(attention_fwd_d128, float4, 4, 32, 32)
ATTENTION_DQ(attention_bwd_dq, float, 1, D, ATT_MAXD)
ATTENTION_DQ(attention_bwd_dq_v4, float4, 4, D / 4, ATT_MAXD / 4)
ATTENTION_DQ(attention_bwd_dq_d32, float4, 4, 8, 8)
ATTENTION_DQ(attention_bwd_dq_d64, float4, 4, 16, 16)
ATTENTION_DQ(attention_bwd_dq_d128, float4, 4, 32, 32)
ATTENTION_DKDV(attention_bwd_dkdv, float, 1, D, ATT_MAXD)
ATTENTION_DKDV(attention_bwd_dkdv_v4, float4, 4, D / 4, ATT_MAXD / 4)
ATTENTION_DKDV(attention_bwd_dkdv_d32, float4, 4, 8, 8)
ATTENTION_DKDV(attention_bwd_dkdv_d64, float4, 4, 16, 16)
ATTENTION_DKDV(attention_bwd_dkdv_d128, float4, 4, 32, 32)

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
