/* attention.c — reference kernels of fused Attention and AttentionGrad: scores, softmax and
 * products in double; the backward recomputes probabilities from the saved log-sum-exp. */
#include "ref.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    int64_t B, H, T, S, D;
    int causal;
    double scale;
    const float *mask; // (B,S) or NULL
} attn_dims;

static attn_dims dims_of(const lmg_node *n, const lmg_tensor *q, const lmg_tensor *k,
                         const lmg_tensor *mask)
{
    attn_dims a;
    a.B = q->shape.dims[0], a.H = q->shape.dims[1], a.T = q->shape.dims[2];
    a.S = k->shape.dims[2], a.D = q->shape.dims[3];
    a.causal = lmg_node_attr_int(n, "causal", 0) != 0;
    a.scale = lmg_node_attr_float(n, "scale", a.D > 0 ? 1.0 / sqrt((double)a.D) : 1.0);
    a.mask = mask ? lmg_f32(mask) : NULL;
    return a;
}

/* Key j is visible to query i of batch b. */
static int visible(const attn_dims *a, int64_t b, int64_t i, int64_t j)
{
    if (a->causal && j > i + a->S - a->T) return 0;
    return !a->mask || a->mask[b * a->S + j] != 0.0f;
}

static double dot(const float *x, const float *y, int64_t D)
{
    double s = 0.0;
    for (int64_t d = 0; d < D; d++) s += (double)x[d] * y[d];
    return s;
}

lmg_status lmg_ref_ATTENTION(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                             lmg_tensor *const *out)
{
    const float *q = lmg_f32(in[0]); // (B,H,T,D)
    const float *k = lmg_f32(in[1]); // (B,H,S,D)
    const float *v = lmg_f32(in[2]); // (B,H,S,D)
    float *o = lmg_f32(out[0]);      // (B,H,T,D)
    float *lse = lmg_f32(out[1]);    // (B,H,T) saved for backward
    attn_dims a = dims_of(n, in[0], in[1], n->n_in > 3 ? in[3] : NULL);
    double *s = malloc((size_t)(a.S + a.D) * sizeof *s + 1), *acc = s + a.S;
    if (!s) return lmg_error(LMG_ERR_NOMEM, "node '%s': out of memory", n->name);
    for (int64_t b = 0; b < a.B; b++)
        for (int64_t h = 0; h < a.H; h++) {
            const float *kh = k + (b * a.H + h) * a.S * a.D, *vh = v + (b * a.H + h) * a.S * a.D;
            for (int64_t i = 0; i < a.T; i++) {
                int64_t row = (b * a.H + h) * a.T + i;
                const float *qi = q + row * a.D;
                double m = -INFINITY, sum = 0.0;
                for (int64_t j = 0; j < a.S; j++) {
                    if (!visible(&a, b, i, j)) continue;
                    s[j] = a.scale * dot(qi, kh + j * a.D, a.D);
                    if (s[j] > m || isnan(s[j])) m = s[j];
                }
                for (int64_t d = 0; d < a.D; d++) acc[d] = 0.0;
                if (m == -INFINITY) { /* sees no key (or only -inf scores) */
                    for (int64_t d = 0; d < a.D; d++) o[row * a.D + d] = 0.0f;
                    lse[row] = -INFINITY;
                    continue;
                }
                for (int64_t j = 0; j < a.S; j++)
                    if (visible(&a, b, i, j)) sum += exp(s[j] - m);
                double l = m + log(sum);
                for (int64_t j = 0; j < a.S; j++) {
                    if (!visible(&a, b, i, j)) continue;
                    double p = exp(s[j] - l);
                    for (int64_t d = 0; d < a.D; d++) acc[d] += p * vh[j * a.D + d];
                }
                for (int64_t d = 0; d < a.D; d++) o[row * a.D + d] = (float)acc[d];
                lse[row] = (float)l;
            }
        }
    free(s);
    return LMG_OK;
}

lmg_status lmg_ref_ATTENTION_GRAD(const lmg_ref_ctx *c, const lmg_node *n,
                                  const lmg_tensor *const *in, lmg_tensor *const *out)
{
    const float *dout = lmg_f32(in[0]); // (B,H,T,D)
    const float *q = lmg_f32(in[1]);    // (B,H,T,D)
    const float *k = lmg_f32(in[2]);    // (B,H,S,D)
    const float *v = lmg_f32(in[3]);    // (B,H,S,D)
    const float *o = lmg_f32(in[4]);    // (B,H,T,D) the forward output
    const float *lse = lmg_f32(in[5]);  // (B,H,T) the forward log-sum-exp
    float *dq = lmg_f32(out[0]);        // (B,H,T,D)
    float *dk = lmg_f32(out[1]);        // (B,H,S,D)
    float *dv = lmg_f32(out[2]);        // (B,H,S,D)
    attn_dims a = dims_of(n, in[1], in[2], n->n_in > 6 ? in[6] : NULL);
    size_t per_head = (size_t)((a.T + 2 * a.S) * a.D);
    double *acc = malloc(per_head * sizeof *acc + 1);
    if (!acc) return lmg_error(LMG_ERR_NOMEM, "node '%s': out of memory", n->name);
    double *aq = acc, *ak = acc + a.T * a.D, *av = ak + a.S * a.D;
    for (int64_t b = 0; b < a.B; b++)
        for (int64_t h = 0; h < a.H; h++) {
            int64_t qoff = (b * a.H + h) * a.T * a.D, koff = (b * a.H + h) * a.S * a.D;
            for (size_t z = 0; z < per_head; z++) acc[z] = 0.0;
            for (int64_t i = 0; i < a.T; i++) {
                double l = lse[(b * a.H + h) * a.T + i];
                if (l == -INFINITY) continue; /* saw no key: P = 0, no gradient */
                const float *qi = q + qoff + i * a.D, *gi = dout + qoff + i * a.D;
                double Di = dot(gi, o + qoff + i * a.D, a.D);
                for (int64_t j = 0; j < a.S; j++) {
                    if (!visible(&a, b, i, j)) continue;
                    const float *kj = k + koff + j * a.D, *vj = v + koff + j * a.D;
                    double p = exp(a.scale * dot(qi, kj, a.D) - l);
                    double ds = p * (dot(gi, vj, a.D) - Di);
                    for (int64_t d = 0; d < a.D; d++) {
                        av[j * a.D + d] += p * gi[d];
                        aq[i * a.D + d] += a.scale * ds * kj[d];
                        ak[j * a.D + d] += a.scale * ds * qi[d];
                    }
                }
            }
            for (int64_t z = 0; z < a.T * a.D; z++) dq[qoff + z] = (float)aq[z];
            for (int64_t z = 0; z < a.S * a.D; z++) {
                dk[koff + z] = (float)ak[z];
                dv[koff + z] = (float)av[z];
            }
        }
    free(acc);
    return LMG_OK;
}
