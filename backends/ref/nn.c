/* nn.c — reference kernels of Softmax, LogSoftmax, LayerNorm, their backward ops and the
 * causal and padding masks. Sums run in double; softmax subtracts the row maximum first. */
#include "ref.h"

#include <math.h>
#include <stdlib.h>

/* Rows of a last-axis op: the last dim C and the number of rows. */
static void rows_of(const lmg_tensor *t, int64_t *rows, int64_t *C)
{
    *C = t->shape.dims[t->shape.rank - 1];
    *rows = *C ? lmg_numel(t) / *C : 0;
}

/* Row max and log(sum(exp(x - max))) in double. A row of only -inf has max -inf: the
 * caller treats it as "nothing to normalise" (softmax 0, log-softmax -inf). */
static void row_lse(const float *x, int64_t C, double *max, double *logsum)
{
    double m = -INFINITY, sum = 0.0;
    for (int64_t j = 0; j < C; j++)
        if ((double)x[j] > m || isnan(x[j])) m = x[j];
    if (m == -INFINITY) {
        *max = m;
        *logsum = 0.0;
        return;
    }
    for (int64_t j = 0; j < C; j++) sum += exp((double)x[j] - m);
    *max = m;
    *logsum = log(sum);
}

lmg_status lmg_ref_SOFTMAX(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                           lmg_tensor *const *out)
{
    const float *x = lmg_f32(in[0]); // (R,C)
    float *y = lmg_f32(out[0]);      // (R,C)
    int64_t R, C;
    rows_of(in[0], &R, &C);
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * C;
        float *yr = y + r * C;
        double m, ls;
        row_lse(xr, C, &m, &ls);
        for (int64_t j = 0; j < C; j++)
            yr[j] = m == -INFINITY ? 0.0f : (float)exp((double)xr[j] - m - ls);
    }
    return LMG_OK;
}

lmg_status lmg_ref_LOG_SOFTMAX(const lmg_ref_ctx *c, const lmg_node *n,
                               const lmg_tensor *const *in, lmg_tensor *const *out)
{
    const float *x = lmg_f32(in[0]); // (R,C)
    float *y = lmg_f32(out[0]);      // (R,C)
    int64_t R, C;
    rows_of(in[0], &R, &C);
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * C;
        float *yr = y + r * C;
        double m, ls;
        row_lse(xr, C, &m, &ls);
        for (int64_t j = 0; j < C; j++)
            yr[j] = m == -INFINITY ? -INFINITY : (float)((double)xr[j] - m - ls);
    }
    return LMG_OK;
}

lmg_status lmg_ref_SOFTMAX_GRAD(const lmg_ref_ctx *c, const lmg_node *n,
                                const lmg_tensor *const *in, lmg_tensor *const *out)
{
    const float *dy = lmg_f32(in[0]); // (R,C)
    const float *y = lmg_f32(in[1]);  // (R,C) the forward softmax
    float *dx = lmg_f32(out[0]);      // (R,C)
    int64_t R, C;
    rows_of(in[1], &R, &C);
    for (int64_t r = 0; r < R; r++) {
        const float *dyr = dy + r * C, *yr = y + r * C;
        double dot = 0.0;
        for (int64_t j = 0; j < C; j++) dot += (double)dyr[j] * yr[j];
        for (int64_t j = 0; j < C; j++) dx[r * C + j] = (float)(yr[j] * ((double)dyr[j] - dot));
    }
    return LMG_OK;
}

lmg_status lmg_ref_LOG_SOFTMAX_GRAD(const lmg_ref_ctx *c, const lmg_node *n,
                                    const lmg_tensor *const *in, lmg_tensor *const *out)
{
    const float *dy = lmg_f32(in[0]); // (R,C)
    const float *y = lmg_f32(in[1]);  // (R,C) the forward log-softmax
    float *dx = lmg_f32(out[0]);      // (R,C)
    int64_t R, C;
    rows_of(in[1], &R, &C);
    for (int64_t r = 0; r < R; r++) {
        const float *dyr = dy + r * C, *yr = y + r * C;
        double sum = 0.0;
        for (int64_t j = 0; j < C; j++) sum += dyr[j];
        for (int64_t j = 0; j < C; j++)
            dx[r * C + j] = (float)((double)dyr[j] - exp((double)yr[j]) * sum);
    }
    return LMG_OK;
}

lmg_status lmg_ref_LAYER_NORM(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                              lmg_tensor *const *out)
{
    const float *x = lmg_f32(in[0]);     // (R,C)
    const float *gamma = lmg_f32(in[1]); // (C)
    const float *beta = lmg_f32(in[2]);  // (C)
    float *y = lmg_f32(out[0]);          // (R,C)
    float *mean = lmg_f32(out[1]);       // (R) saved for backward
    float *rstd = lmg_f32(out[2]);       // (R) saved for backward
    double eps = lmg_node_attr_float(n, "eps", 1e-5);
    int64_t R, C;
    rows_of(in[0], &R, &C);
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * C;
        double m = 0.0, v = 0.0;
        for (int64_t j = 0; j < C; j++) m += xr[j];
        m /= (double)C;
        for (int64_t j = 0; j < C; j++) v += ((double)xr[j] - m) * ((double)xr[j] - m);
        v /= (double)C; /* biased, as in PyTorch's layer_norm */
        double s = 1.0 / sqrt(v + eps);
        for (int64_t j = 0; j < C; j++)
            y[r * C + j] = (float)(((double)xr[j] - m) * s * gamma[j] + beta[j]);
        mean[r] = (float)m;
        rstd[r] = (float)s;
    }
    return LMG_OK;
}

lmg_status lmg_ref_LAYER_NORM_GRAD(const lmg_ref_ctx *c, const lmg_node *n,
                                   const lmg_tensor *const *in, lmg_tensor *const *out)
{
    const float *dy = lmg_f32(in[0]);    // (R,C)
    const float *x = lmg_f32(in[1]);     // (R,C)
    const float *gamma = lmg_f32(in[2]); // (C)
    const float *mean = lmg_f32(in[3]);  // (R)
    const float *rstd = lmg_f32(in[4]);  // (R)
    float *dx = lmg_f32(out[0]);         // (R,C)
    float *dgamma = lmg_f32(out[1]);     // (C)
    float *dbeta = lmg_f32(out[2]);      // (C)
    int64_t R, C;
    rows_of(in[1], &R, &C);
    double *acc = calloc((size_t)(2 * C), sizeof *acc); /* dgamma, dbeta */
    if (!acc) return lmg_error(LMG_ERR_NOMEM, "node '%s': out of memory", n->name);
    for (int64_t r = 0; r < R; r++) {
        const float *dyr = dy + r * C, *xr = x + r * C;
        double m = mean[r], s = rstd[r], dmean = 0.0, dnn = 0.0;
        for (int64_t j = 0; j < C; j++) {
            double norm = ((double)xr[j] - m) * s, dnorm = (double)dyr[j] * gamma[j];
            dmean += dnorm;
            dnn += dnorm * norm;
            acc[j] += (double)dyr[j] * norm;
            acc[C + j] += dyr[j];
        }
        dmean /= (double)C;
        dnn /= (double)C;
        for (int64_t j = 0; j < C; j++) {
            double norm = ((double)xr[j] - m) * s, dnorm = (double)dyr[j] * gamma[j];
            dx[r * C + j] = (float)(s * (dnorm - dmean - norm * dnn));
        }
    }
    for (int64_t j = 0; j < C; j++) {
        dgamma[j] = (float)acc[j];
        dbeta[j] = (float)acc[C + j];
    }
    free(acc);
    return LMG_OK;
}

lmg_status lmg_ref_CAUSAL_MASK(const lmg_ref_ctx *c, const lmg_node *n,
                               const lmg_tensor *const *in, lmg_tensor *const *out)
{
    const float *x = lmg_f32(in[0]); // (Bs,T,S)
    float *y = lmg_f32(out[0]);      // (Bs,T,S)
    int rank = in[0]->shape.rank;
    int64_t T = in[0]->shape.dims[rank - 2], S = in[0]->shape.dims[rank - 1];
    int64_t Bs = T * S != 0 ? lmg_numel(in[0]) / (T * S) : 0;
    float fill = (float)lmg_node_attr_float(n, "fill", -INFINITY);
    for (int64_t b = 0; b < Bs; b++)
        for (int64_t i = 0; i < T; i++)
            for (int64_t j = 0; j < S; j++) {
                int64_t o = (b * T + i) * S + j;
                y[o] = j <= i + S - T ? x[o] : fill;
            }
    return LMG_OK;
}

lmg_status lmg_ref_PADDING_MASK(const lmg_ref_ctx *c, const lmg_node *n,
                                const lmg_tensor *const *in, lmg_tensor *const *out)
{
    const int32_t *ids = lmg_i32(in[0]); // (N)
    float *y = lmg_f32(out[0]);          // (N)
    int32_t pad = (int32_t)lmg_node_attr_int(n, "pad_id", 0);
    for (int64_t i = 0, N = lmg_numel(in[0]); i < N; i++) y[i] = ids[i] != pad ? 1.0f : 0.0f;
    return LMG_OK;
}
