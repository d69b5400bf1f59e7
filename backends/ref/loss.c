/* loss.c — reference kernels of CrossEntropy and CrossEntropyGrad: per-row log-sum-exp with
 * the max subtracted, weighted mean over counted positions, all in double. */
#include "ref.h"

#include <math.h>

/* Row max and log-sum-exp of x[0..V). */
static double row_lse(const float *x, int64_t V)
{
    double m = -INFINITY, sum = 0.0;
    for (int64_t j = 0; j < V; j++)
        if ((double)x[j] > m || isnan(x[j])) m = x[j];
    if (m == -INFINITY) return m;
    for (int64_t j = 0; j < V; j++) sum += exp((double)x[j] - m);
    return m + log(sum);
}

/* A position counts when its target is not ignore_index and lies in [0, V). */
static int counts(int32_t t, int32_t ignore, int64_t V) { return t != ignore && t >= 0 && t < V; }

/* The total weight of the counted positions (the loss's denominator). */
static double total_weight(const int32_t *tgt, const float *w, int64_t N, int64_t V, int32_t ignore)
{
    double W = 0.0;
    for (int64_t i = 0; i < N; i++)
        if (counts(tgt[i], ignore, V)) W += w ? (double)w[i] : 1.0;
    return W;
}

lmg_status lmg_ref_CROSS_ENTROPY(const lmg_ref_ctx *c, const lmg_node *n,
                                 const lmg_tensor *const *in, lmg_tensor *const *out)
{
    const float *x = lmg_f32(in[0]);     // (N,V)
    const int32_t *tgt = lmg_i32(in[1]); // (N)
    const float *w = n->n_in > 2 && in[2] ? lmg_f32(in[2]) : NULL; // (N) or NULL
    float *loss = lmg_f32(out[0]);       // ()
    int64_t N = lmg_numel(in[1]), V = in[0]->shape.dims[in[0]->shape.rank - 1];
    int32_t ignore = (int32_t)lmg_node_attr_int(n, "ignore_index", -100);
    double W = total_weight(tgt, w, N, V, ignore), L = 0.0;
    for (int64_t i = 0; i < N; i++) {
        if (!counts(tgt[i], ignore, V)) continue;
        const float *xi = x + i * V;
        L += (w ? (double)w[i] : 1.0) * (row_lse(xi, V) - xi[tgt[i]]);
    }
    loss[0] = W != 0.0 ? (float)(L / W) : 0.0f;
    return LMG_OK;
}

lmg_status lmg_ref_CROSS_ENTROPY_GRAD(const lmg_ref_ctx *c, const lmg_node *n,
                                      const lmg_tensor *const *in, lmg_tensor *const *out)
{
    double dloss = lmg_f32(in[0])[0];    // ()
    const float *x = lmg_f32(in[1]);     // (N,V)
    const int32_t *tgt = lmg_i32(in[2]); // (N)
    const float *w = n->n_in > 3 && in[3] ? lmg_f32(in[3]) : NULL; // (N) or NULL
    float *dx = lmg_f32(out[0]);         // (N,V)
    int64_t N = lmg_numel(in[2]), V = in[1]->shape.dims[in[1]->shape.rank - 1];
    int32_t ignore = (int32_t)lmg_node_attr_int(n, "ignore_index", -100);
    double W = total_weight(tgt, w, N, V, ignore);
    for (int64_t i = 0; i < N; i++) {
        const float *xi = x + i * V;
        float *di = dx + i * V;
        if (W == 0.0 || !counts(tgt[i], ignore, V)) {
            for (int64_t j = 0; j < V; j++) di[j] = 0.0f;
            continue;
        }
        double lse = row_lse(xi, V), k = dloss * (w ? (double)w[i] : 1.0) / W;
        for (int64_t j = 0; j < V; j++)
            di[j] = (float)(k * (exp((double)xi[j] - lse) - (j == tgt[i] ? 1.0 : 0.0)));
    }
    return LMG_OK;
}
