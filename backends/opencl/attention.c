/* attention.c — the OpenCL recorders of fused Attention and AttentionGrad: tile sizes from
 * the device's local memory, delta in scratch (kernels/attention.cl). */
#include "opencl_internal.h"

#include <math.h>
#include <stdio.h>

#define ATT_MAXD 256
#define ATT_MAXT 32

typedef struct {
    int64_t B, H, T, S, D;
    int causal, has_mask;
    double scale;
} att;

static lmg_status att_of(lmg_exec *e, const lmg_node *n, int q, int k, int mask_in, att *a)
{
    const lmg_shape *sq = &lmg_cl_value(e, q)->shape, *sk = &lmg_cl_value(e, k)->shape;
    a->B = sq->dims[0];
    a->H = sq->dims[1];
    a->T = sq->dims[2];
    a->D = sq->dims[3];
    a->S = sk->dims[2];
    a->causal = lmg_node_attr_int(n, "causal", 0) != 0;
    a->scale = lmg_node_attr_float(n, "scale", a->D > 0 ? 1.0 / sqrt((double)a->D) : 1.0);
    a->has_mask = mask_in < n->n_in && n->in[mask_in] >= 0;
    if (a->D > ATT_MAXD)
        return lmg_error(LMG_ERR_UNSUPPORTED, "opencl: attention head dim %lld is above %d",
                         (long long)a->D, ATT_MAXD);
    return LMG_OK;
}

/* The kernel variant for head dim D: a constant-D one, float4, or any D. */
static const char *variant(char *buf, size_t n, const char *base, int64_t D)
{
    if (D == 32 || D == 64 || D == 128) snprintf(buf, n, "%s_d%d", base, (int)D);
    else if (D % 4 == 0) snprintf(buf, n, "%s_v4", base);
    else snprintf(buf, n, "%s", base);
    return buf;
}

/* Work-group size for one item per query (or key) and the tile that fits local memory. */
static void sizes(lmg_exec *e, const char *kernel, int64_t items, int64_t D, int tiles,
                  size_t *group, int *tile)
{
    size_t g = 64, limit = lmg_cl_group_limit(e, kernel);
    if (limit < g) g = limit;
    if ((int64_t)g > items) g = (size_t)(items > 0 ? items : 1);
    *group = g;
    int64_t per = (int64_t)tiles * (D > 0 ? D : 1) * 4 + 8;
    int64_t fit = (int64_t)(e->dev->local_mem / 2) / per;
    *tile = (int)(fit < 1 ? 1 : fit > ATT_MAXT ? ATT_MAXT : fit);
}

lmg_status lmg_cl_op_ATTENTION(lmg_exec *e, const lmg_node *n)
{
    if (e->attention_host) return lmg_cl_host_attention(e, n);
    att a;
    LMG_TRY(att_of(e, n, n->in[0], n->in[1], 3, &a));
    if (a.B * a.H * a.T == 0) return LMG_OK;
    size_t QB;
    int KT;
    char kb[48];
    const char *k = variant(kb, sizeof kb, "attention_fwd", a.D);
    sizes(e, k, a.T, a.D, 2, &QB, &KT);
    int64_t nqb = (a.T + (int64_t)QB - 1) / (int64_t)QB;
    lmg_cl_loc mask = lmg_cl_at(e, a.has_mask ? n->in[3] : n->in[0]);
    return lmg_cl_kernel(e, k, (size_t)(a.B * a.H * nqb) * QB, QB,
                         "bbbbbbiiiiiifiiLLL", lmg_cl_at(e, n->out[0]), lmg_cl_at(e, n->out[1]),
                         lmg_cl_at(e, n->in[0]), lmg_cl_at(e, n->in[1]), lmg_cl_at(e, n->in[2]),
                         mask, a.has_mask, (int)a.H, (int)a.T, (int)a.S, (int)a.D, a.causal,
                         a.scale, (int)nqb, KT, (size_t)KT * (size_t)a.D * 4,
                         (size_t)KT * (size_t)a.D * 4, (size_t)KT * 4);
}

lmg_status lmg_cl_op_ATTENTION_GRAD(lmg_exec *e, const lmg_node *n)
{
    /* (dout, q, k, v, out, lse, key_mask?) -> dq, dk, dv */
    if (e->attention_host) return lmg_cl_host_attention_grad(e, n);
    att a;
    LMG_TRY(att_of(e, n, n->in[1], n->in[2], 6, &a));
    lmg_cl_loc dq = lmg_cl_at(e, n->out[0]), dk = lmg_cl_at(e, n->out[1]), dv = lmg_cl_at(e, n->out[2]);
    lmg_cl_loc g = lmg_cl_at(e, n->in[0]), q = lmg_cl_at(e, n->in[1]), k = lmg_cl_at(e, n->in[2]);
    lmg_cl_loc v = lmg_cl_at(e, n->in[3]), o = lmg_cl_at(e, n->in[4]), lse = lmg_cl_at(e, n->in[5]);
    lmg_cl_loc mask = a.has_mask ? lmg_cl_at(e, n->in[6]) : q;
    int64_t rows = a.B * a.H * a.T;
    if (a.B * a.H == 0) return LMG_OK;
    if (rows == 0 || a.D == 0) {
        LMG_TRY(lmg_cl_fill(e, dk, lmg_cl_numel(e, n->out[1]), 0));
        return lmg_cl_fill(e, dv, lmg_cl_numel(e, n->out[2]), 0);
    }
    lmg_cl_loc delta = lmg_cl_scratch(e, (size_t)rows);
    LMG_TRY(lmg_cl_kernel(e, "attention_bwd_delta", (size_t)rows, 0, "bbbii", delta, g, o,
                          (int)rows, (int)a.D));
    size_t QB;
    int KT;
    char kdq[48], kdkdv[48];
    variant(kdq, sizeof kdq, "attention_bwd_dq", a.D);
    variant(kdkdv, sizeof kdkdv, "attention_bwd_dkdv", a.D);
    sizes(e, kdq, a.T, a.D, 2, &QB, &KT);
    int64_t nqb = (a.T + (int64_t)QB - 1) / (int64_t)QB;
    LMG_TRY(lmg_cl_kernel(e, kdq, (size_t)(a.B * a.H * nqb) * QB, QB,
                          "bbbbbbbbiiiiiifiiLLL", dq, g, q, k, v, lse, delta, mask, a.has_mask,
                          (int)a.H, (int)a.T, (int)a.S, (int)a.D, a.causal, a.scale, (int)nqb, KT,
                          (size_t)KT * (size_t)a.D * 4, (size_t)KT * (size_t)a.D * 4,
                          (size_t)KT * 4));
    if (a.S == 0) return LMG_OK;
    size_t KB;
    int QT;
    sizes(e, kdkdv, a.S, a.D, 2, &KB, &QT);
    int64_t nkb = (a.S + (int64_t)KB - 1) / (int64_t)KB;
    return lmg_cl_kernel(e, kdkdv, (size_t)(a.B * a.H * nkb) * KB, KB,
                         "bbbbbbbbbiiiiiifiiLLLL", dk, dv, g, q, k, v, lse, delta, mask,
                         a.has_mask, (int)a.H, (int)a.T, (int)a.S, (int)a.D, a.causal, a.scale,
                         (int)nkb, QT, (size_t)QT * (size_t)a.D * 4,
                         (size_t)QT * (size_t)a.D * 4, (size_t)QT * 4, (size_t)QT * 4);
}
