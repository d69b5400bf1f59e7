/* optim.c — reference kernel of AdamW: one update of param, m and v in place (the executor
 * gives outputs 0, 1, 2 the buffers of inputs 0, 2, 3), every element computed in double. */
#include "ref.h"

#include <math.h>

lmg_status lmg_ref_ADAMW(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                         lmg_tensor *const *out)
{
    const float *param = lmg_f32(in[0]); // (N)
    const float *grad = lmg_f32(in[1]);  // (N)
    const float *m = lmg_f32(in[2]);     // (N)
    const float *v = lmg_f32(in[3]);     // (N)
    double lr = lmg_f32(in[4])[0];
    int32_t step = lmg_i32(in[5])[0];
    double gscale = lmg_f32(in[6])[0];
    float *param2 = lmg_f32(out[0]); // (N) may alias param
    float *m2 = lmg_f32(out[1]);     // (N) may alias m
    float *v2 = lmg_f32(out[2]);     // (N) may alias v
    double b1 = lmg_node_attr_float(n, "beta1", 0.9), b2 = lmg_node_attr_float(n, "beta2", 0.999);
    double eps = lmg_node_attr_float(n, "eps", 1e-8);
    double wd = lmg_node_attr_float(n, "weight_decay", 0.0);
    if (step < 1)
        return lmg_error(LMG_ERR_DATA, "node '%s' (AdamW): step is %d, it must be >= 1", n->name,
                         (int)step);
    double bc1 = 1.0 - pow(b1, step), bc2 = 1.0 - pow(b2, step);
    for (int64_t i = 0, N = lmg_numel(in[0]); i < N; i++) {
        double g = (double)grad[i] * gscale, p = param[i];
        double mi = b1 * m[i] + (1.0 - b1) * g;
        double vi = b2 * v[i] + (1.0 - b2) * g * g;
        double upd = (mi / bc1) / (sqrt(vi / bc2) + eps) + wd * p;
        m2[i] = (float)mi;
        v2[i] = (float)vi;
        param2[i] = (float)(p - lr * upd);
    }
    return LMG_OK;
}
