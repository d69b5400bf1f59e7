/* attention.c — rules of the fused Attention op (scaled dot-product, optional causal and key
 * masks, saved log-sum-exp) and of AttentionGrad, its flash-attention style backward. */
#include "attr_check.h"
#include "ops.h"

/* q[B,H,T,D], k[B,H,S,D], v[B,H,S,D], key_mask[B,S]? at inputs kq..kq+3; causal, scale. */
static lmg_status check_qkv(const lmg_graph *g, const lmg_node *n, int kq, int64_t *dims)
{
    LMG_TRY(lmg_op_check_attrs(n, "causal:i scale:f"));
    int64_t causal;
    double scale;
    LMG_TRY(attr_get_int(n, "causal", 0, 0, &causal));
    if (causal != 0 && causal != 1)
        return lmg_op_error(n, "causal = %lld, expected 0 or 1", (long long)causal);
    LMG_TRY(attr_get_float(n, "scale", 0, 1.0, &scale));
    if (isinf(scale)) return lmg_op_error(n, "scale is infinite");
    static const char *const what[3] = {"q", "k", "v"};
    char b[128];
    for (int k = 0; k < 3; k++) {
        LMG_TRY(want_dtype(g, n, kq + k, LMG_DTYPE_F32, what[k]));
        const lmg_value *v = in_val(g, n, kq + k);
        if (v->shape.rank != 4)
            return lmg_op_error(n, "input '%s' (%s) has shape %s, expected rank 4 [B,H,%s,D]",
                                v->name, what[k], lmg_shape_str(&v->shape, b, sizeof b),
                                k ? "S" : "T");
    }
    const lmg_shape *q = &in_val(g, n, kq)->shape, *ks = &in_val(g, n, kq + 1)->shape;
    if (ks->dims[0] != q->dims[0] || ks->dims[1] != q->dims[1] || ks->dims[3] != q->dims[3]) {
        char c[128];
        return lmg_op_error(n, "k '%s' %s does not match q '%s' %s in batch, heads or head dim",
                            in_val(g, n, kq + 1)->name, lmg_shape_str(ks, b, sizeof b),
                            in_val(g, n, kq)->name, lmg_shape_str(q, c, sizeof c));
    }
    LMG_TRY(want_shape(g, n, kq + 2, ks, "v"));
    if (in_val(g, n, kq + 3)) {
        LMG_TRY(want_dtype(g, n, kq + 3, LMG_DTYPE_F32, "key_mask"));
        lmg_shape ms = lmg_shape_make(2, (int64_t[]){q->dims[0], ks->dims[2]});
        LMG_TRY(want_shape(g, n, kq + 3, &ms, "key_mask"));
    }
    dims[0] = q->dims[0], dims[1] = q->dims[1], dims[2] = q->dims[2];
    dims[3] = ks->dims[2], dims[4] = q->dims[3];
    return LMG_OK;
}

lmg_status lmg_infer_ATTENTION(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    int64_t d[5]; /* B, H, T, S, D */
    LMG_TRY(check_qkv(g, n, 0, d));
    t[0] = t[1] = LMG_DTYPE_F32;
    s[0] = in_val(g, n, 0)->shape;
    s[1] = lmg_shape_make(3, d);
    return LMG_OK;
}

lmg_status lmg_infer_ATTENTION_GRAD(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                    lmg_shape *s)
{
    int64_t d[5];
    /* Inputs: dout, q, k, v, out, lse, key_mask?: the q..v..mask block starts at 1, but the
     * mask sits at 6, after out and lse, so check it separately. */
    lmg_node m = *n;
    int ins[7] = {n->in[0], n->in[1], n->in[2], n->in[3], n->n_in > 6 ? n->in[6] : -1, -1, -1};
    m.in = ins;
    m.n_in = 5;
    LMG_TRY(check_qkv(g, &m, 1, d));
    const lmg_shape *q = &in_val(g, n, 1)->shape;
    lmg_shape ls = lmg_shape_make(3, d);
    LMG_TRY(want_dtype(g, n, 0, LMG_DTYPE_F32, "dout"));
    LMG_TRY(want_shape(g, n, 0, q, "dout"));
    LMG_TRY(want_dtype(g, n, 4, LMG_DTYPE_F32, "out"));
    LMG_TRY(want_shape(g, n, 4, q, "out"));
    LMG_TRY(want_dtype(g, n, 5, LMG_DTYPE_F32, "lse"));
    LMG_TRY(want_shape(g, n, 5, &ls, "lse"));
    t[0] = t[1] = t[2] = LMG_DTYPE_F32;
    s[0] = *q;
    s[1] = s[2] = in_val(g, n, 2)->shape;
    return LMG_OK;
}

/* The backward of out is one AttentionGrad node. lse is a saved activation that normally
 * only feeds AttentionGrad; when a graph uses it, d lse_i / d s_ij = P_ij adds
 * dq_i += scale dlse_i sum_j P_ij k_j (attention with v = k) and
 * dk_j += scale sum_i P_ij dlse_i q_i (the dv of AttentionGrad with dout = scale dlse q).
 * The key mask only selects, so it gets no gradient. */
lmg_status lmg_grad_ATTENTION(lmg_grad_ctx *c)
{
    lmg_graph *g = c->g;
    const lmg_node *n = &g->nodes[c->node];
    if (!(c->need[0] || c->need[1] || c->need[2])) return LMG_OK;
    int q = n->in[0], k = n->in[1], v = n->in[2], mask = n->n_in > 3 ? n->in[3] : -1;
    int out = n->out[0], lse = n->out[1], dout = c->dy[0], dlse = c->dy[1];
    lmg_shape qs = g->values[q].shape;
    int has_scale = lmg_node_attr(n, "scale") != NULL;
    double D = (double)(qs.dims[3] > 0 ? qs.dims[3] : 1);
    double scale = lmg_node_attr_float(n, "scale", 1.0 / sqrt(D));
    lmg_attr a[2];
    int na = 0;
    a[na++] = lmg_attr_int("causal", lmg_node_attr_int(n, "causal", 0));
    if (has_scale) a[na++] = lmg_attr_float("scale", scale);
    int n_in = mask >= 0 ? 7 : 6;
    int dq = -1, dk = -1, dv = -1;
    if (dout >= 0) {
        int ins[7] = {dout, q, k, v, out, lse, mask};
        int outs[3];
        if (lmg_graph_node(g, LMG_OP_ATTENTION_GRAD, NULL, ins, n_in, a, na, NULL, outs) < 0)
            return g->status;
        dq = outs[0], dk = outs[1], dv = outs[2];
    }
    if (dlse >= 0 && (c->need[0] || c->need[1])) {
        int64_t d4[4] = {qs.dims[0], qs.dims[1], qs.dims[2], 1};
        int w = lmg_scale(g, lmg_reshape(g, dlse, 4, d4), scale, 0.0); /* scale dlse, [B,H,T,1] */
        if (c->need[0]) {
            int ins[4] = {q, k, k, mask}, pk[2];
            lmg_graph_node(g, LMG_OP_ATTENTION, NULL, ins, mask >= 0 ? 4 : 3, a, na, NULL, pk);
            int e = lmg_mul(g, pk[0], w);
            dq = dq < 0 ? e : lmg_add(g, dq, e);
        }
        if (c->need[1]) {
            int ins[7] = {lmg_mul(g, q, w), q, k, k, out, lse, mask}, outs[3];
            lmg_graph_node(g, LMG_OP_ATTENTION_GRAD, NULL, ins, n_in, a, na, NULL, outs);
            dk = dk < 0 ? outs[2] : lmg_add(g, dk, outs[2]);
        }
        if (g->status != LMG_OK) return g->status;
    }
    if (c->need[0]) c->dx[0] = dq;
    if (c->need[1]) c->dx[1] = dk;
    if (c->need[2]) c->dx[2] = dv;
    return LMG_OK;
}
