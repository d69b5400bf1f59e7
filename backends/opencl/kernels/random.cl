/* random.cl — Dropout, Bernoulli, RandomInt and MlmCorrupt over ops/philox.h (embedded ahead
 * of this file), so every element draws the same bits as the reference backend. The key words
 * come from the host (lmg_philox_key of the seed and key attributes); `base` is the index of
 * element 0 (rank x elements in a data-parallel run, so a rank draws its rows of the global
 * batch). */

inline lmg_philox4 draw(uint k0, uint k1, ulong index, ulong step)
{
    lmg_philox_key2 key;
    key.k[0] = k0;
    key.k[1] = k1;
    return lmg_philox_draw(key, index, step);
}

/* p and scale are the f32 values of ops.def: u < (float)p, 1.0f / (1.0f - (float)p). */
__kernel void dropout(__global float *y, ulong y_off, __global const float *x, ulong x_off,
                      uint k0, uint k1, ulong step, ulong base, float p, float scale, int n)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float u = lmg_philox_uniform(draw(k0, k1, base + (ulong)i, step).w[0]);
    float v = x[x_off + i];
    y[y_off + i] = u < p ? 0.0f : v * scale;
}

__kernel void bernoulli(__global float *y, ulong y_off, uint k0, uint k1, ulong step, ulong base, float p,
                        int n)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float u = lmg_philox_uniform(draw(k0, k1, base + (ulong)i, step).w[0]);
    y[y_off + i] = u < p ? 1.0f : 0.0f;
}

__kernel void random_int(__global int *y, ulong y_off, uint k0, uint k1, ulong step, ulong base, long low,
                         ulong range, int n)
{
    int i = get_global_id(0);
    if (i >= n) return;
    uint w = draw(k0, k1, base + (ulong)i, step).w[0];
    y[y_off + i] = (int)(low + (long)lmg_philox_below(w, range));
}

__kernel void mlm_corrupt(__global int *corrupt, ulong corrupt_off, __global int *targets,
                          ulong targets_off, __global const int *ids, ulong ids_off, uint k0,
                          uint k1, ulong step, ulong base, float p, int mask_id, long vocab, long special,
                          int ignore, int n)
{
    int i = get_global_id(0);
    if (i >= n) return;
    int id = ids[ids_off + i];
    lmg_philox4 r = draw(k0, k1, base + (ulong)i, step);
    int c = id, t = ignore;
    if (!((long)id < special || !(lmg_philox_uniform(r.w[0]) < p))) {
        float u1 = lmg_philox_uniform(r.w[1]);
        if (u1 < 0.8f) c = mask_id;
        else if (u1 < 0.9f)
            c = (int)(special + (long)lmg_philox_below(r.w[2], (ulong)(vocab - special)));
        t = id;
    }
    corrupt[corrupt_off + i] = c;
    targets[targets_off + i] = t;
}

/* SpanMask: element t of a row is inside a span when some start s in [t-max_len+1, t] drew
 * u0 < p and a length past t. The length thresholds r^l are the same repeated f32 products
 * as the reference's; r = (float)(1 - len_p) comes from the host. */
__kernel void span_mask(__global float *y, ulong y_off, uint k0, uint k1, ulong step, ulong base, float p,
                        float r, int max_len, int T, int n)
{
    int i = get_global_id(0);
    if (i >= n) return;
    int row = i / T, t = i % T;
    float out = 0.0f;
    int first = t - max_len + 1 > 0 ? t - max_len + 1 : 0;
    for (int s = first; s <= t && out == 0.0f; s++) {
        lmg_philox4 w = draw(k0, k1, base + (ulong)row * (ulong)T + (ulong)s, step);
        if (!(lmg_philox_uniform(w.w[0]) < p)) continue;
        float v = 1.0f - lmg_philox_uniform(w.w[1]);
        int len = 1;
        float q = 1.0f;
        while (len < max_len) {
            q = q * r;
            if (!(v <= q)) break;
            len++;
        }
        if (s + len > t) out = 1.0f;
    }
    y[y_off + i] = out;
}
