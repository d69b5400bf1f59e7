/* optim.cl — AdamW over a flat block of parameters, gradients and moments, updated in place.
 * A one-item kernel turns the step into the bias corrections first, so the update itself
 * needs no transcendental per element. */

/* bc = 1 - beta^step, as -expm1(step * log(beta)) (accurate for beta near 1). */
__kernel void adamw_prep(__global float *bc, ulong bc_off, __global const int *step,
                         ulong step_off, float log_b1, float log_b2)
{
    if (get_global_id(0) != 0) return;
    float s = (float)step[step_off];
    bc[bc_off] = -expm1(s * log_b1);
    bc[bc_off + 1] = -expm1(s * log_b2);
}

/* seg holds nseg pairs (first element, weight decay as f32 bits), ascending: a fused launch
 * covers several AdamW nodes whose weight decay differs (none for biases and LayerNorm). */
__kernel void adamw(__global float *p, ulong p_off, __global const float *g, ulong g_off,
                    __global float *m, ulong m_off, __global float *v, ulong v_off,
                    __global const float *lr, ulong lr_off, __global const float *gscale,
                    ulong gscale_off, __global const float *bc, ulong bc_off,
                    __global const uint *seg, ulong seg_off, int nseg, int top, float b1, float omb1,
                    float b2, float omb2, float eps, int n)
{
    int i = get_global_id(0);
    if (i >= n) return;
    /* The last segment starting at or before i: a search whose trip count is the same for
     * every item (the top power of two), so it vectorises across items. */
    __global const uint *sg = seg + seg_off;
    int lo = 0;
    for (int step = top; step > 0; step >>= 1)
        if (lo + step < nseg && (int)sg[2 * (lo + step)] <= i) lo += step;
    float wd = as_float(sg[2 * lo + 1]);
    float gi = g[g_off + i] * gscale[gscale_off];
    float pi = p[p_off + i];
    float mi = b1 * m[m_off + i] + omb1 * gi;
    float vi = b2 * v[v_off + i] + omb2 * gi * gi;
    float upd = (mi / bc[bc_off]) / (sqrt(vi / bc[bc_off + 1]) + eps) + wd * pi;
    m[m_off + i] = mi;
    v[v_off + i] = vi;
    p[p_off + i] = pi - lr[lr_off] * upd;
}
