/* transformer.c — the one transformer body of GPT and BERT (embeddings, pre-LayerNorm blocks
 * with fused attention, GELU MLP, final LayerNorm, tied output), its configs and parameter init. */
#include "models.h"
#include "../ops/philox.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GPT and BERT are one body; what differs is this table. BERT's head is the tied decoder plus
 * an output bias only: BERT's original dense+GELU+LayerNorm before the decoder breaks, at the
 * sizes lmgraph trains, the alignment between residual stream and tied embedding that the
 * model starts from (fortunes corpus, vocab 512, d_model 128, 2 layers: masked-token loss
 * stayed on the unigram plateau for 300+ steps with it, left it within 100 without). BERT
 * masks padding keys from the ids; GPT needs no mask, as its causal attention already keeps
 * right padding out of every real position. */
static const lmg_model_arch archs[] = {
    {"gpt", 1, 0, "lm_head", 0, "clm", "last"},
    {"bert", 0, 1, "head.decoder", 1, "mlm", "cls"},
};

static const lmg_model_arch *arch_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof archs / sizeof archs[0]; i++)
        if (strcmp(archs[i].name, name) == 0) return &archs[i];
    return NULL;
}

const lmg_model_arch *lmg_model_arch_of(const lmg_model_config *c)
{
    return arch_find(c->arch) ? arch_find(c->arch) : &archs[0];
}

void lmg_model_config_default(lmg_model_config *c, const char *arch)
{
    memset(c, 0, sizeof *c);
    c->arch = arch_find(arch) ? arch_find(arch)->name : archs[0].name;
    c->layers = 4;
    c->heads = 4;
    c->d_model = 128;
    c->d_ff = 512;
    c->vocab = 1024;
    c->seq = 64;
    c->batch = 8;
    c->dropout = 0.0;
    c->seed = 1337;
    c->objective = NULL;
    c->pad_id = -1;
    c->mask_id = 1;       /* text.h: <mask> */
    c->special_below = 5; /* text.h: the five specials */
    c->micro_batches = 1;
    c->n_classes = 0;
    c->pool = NULL;
}

void lmg_model_config_small(lmg_model_config *c, const char *arch)
{
    lmg_model_config_default(c, arch);
    c->layers = 4;
    c->heads = 4;
    c->d_model = 256;
    c->d_ff = 1024;
    c->vocab = 4096;
    c->seq = 128;
    c->batch = 8;
}

lmg_status lmg_model_config_check(const lmg_model_config *c)
{
    if (!arch_find(c->arch))
        return lmg_error(LMG_ERR_ARG, "model: arch '%s' is not gpt or bert",
                         c->arch ? c->arch : "(null)");
#define POS(f, hi)                                                                         \
    if (c->f < 1 || c->f > (hi))                                                           \
        return lmg_error(LMG_ERR_ARG, "model: " #f " = %d is outside 1..%d", c->f, (int)(hi));
    POS(layers, 1000)
    POS(heads, 4096)
    POS(d_model, 1 << 20)
    POS(d_ff, 1 << 22)
    POS(vocab, 1 << 24)
    POS(seq, 1 << 20)
    POS(batch, 1 << 20)
#undef POS
    if (c->d_model % c->heads != 0)
        return lmg_error(LMG_ERR_ARG, "model: d_model %d is not a multiple of heads %d",
                         c->d_model, c->heads);
    if (!(c->dropout >= 0.0 && c->dropout < 1.0))
        return lmg_error(LMG_ERR_ARG, "model: dropout %g is outside [0, 1)", c->dropout);
    if (c->micro_batches < 0 || c->micro_batches > 1024)
        return lmg_error(LMG_ERR_ARG, "model: micro_batches %d is outside 1..1024",
                         c->micro_batches);
    if (c->special_below < 0 || c->special_below >= c->vocab)
        return lmg_error(LMG_ERR_ARG, "model: special_below %d is outside 0..%d",
                         c->special_below, c->vocab - 1);
    if (c->mask_id < 0 || c->mask_id >= c->vocab)
        return lmg_error(LMG_ERR_ARG, "model: mask_id %d is outside 0..%d", c->mask_id,
                         c->vocab - 1);
    if (c->n_classes < 0 || c->n_classes > (1 << 20))
        return lmg_error(LMG_ERR_ARG, "model: n_classes %d is outside 0..%d", c->n_classes, 1 << 20);
    if (c->n_classes == 1)
        return lmg_error(LMG_ERR_ARG, "model: a classifier needs at least 2 classes, not 1");
    if (c->pool && strcmp(c->pool, "cls") != 0 && strcmp(c->pool, "last") != 0 &&
        strcmp(c->pool, "mean") != 0)
        return lmg_error(LMG_ERR_ARG, "model: pooling '%s' is not cls, last or mean", c->pool);
    if (c->n_classes > 0 && c->pad_id < 0)
        return lmg_error(LMG_ERR_ARG, "model: a classifier needs a padding id (pad_id)");
    if (c->pad_id >= c->vocab)
        return lmg_error(LMG_ERR_ARG, "model: pad_id %d is outside the vocabulary (%d)",
                         c->pad_id, c->vocab);
    return LMG_OK;
}

/* ---- metadata ---------------------------------------------------------------------- */

lmg_status lmg_model_config_to_graph(lmg_graph *g, const lmg_model_config *c)
{
    char buf[64];
#define PUT_INT(k, v)                                          \
    snprintf(buf, sizeof buf, "%lld", (long long)(v));        \
    LMG_TRY(lmg_graph_set_meta(g, "model." k, buf));
    LMG_TRY(lmg_graph_set_meta(g, "model.arch", c->arch));
    PUT_INT("layers", c->layers)
    PUT_INT("heads", c->heads)
    PUT_INT("d_model", c->d_model)
    PUT_INT("d_ff", c->d_ff)
    PUT_INT("vocab", c->vocab)
    PUT_INT("seq", c->seq)
    PUT_INT("batch", c->batch)
    PUT_INT("pad_id", c->pad_id)
    PUT_INT("mask_id", c->mask_id)
    PUT_INT("special_below", c->special_below)
    PUT_INT("micro_batches", c->micro_batches < 1 ? 1 : c->micro_batches)
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)c->seed);
    LMG_TRY(lmg_graph_set_meta(g, "model.seed", buf));
    snprintf(buf, sizeof buf, "%.17g", c->dropout);
    LMG_TRY(lmg_graph_set_meta(g, "model.dropout", buf));
    if (c->n_classes > 0) {
        PUT_INT("n_classes", c->n_classes)
        LMG_TRY(lmg_graph_set_meta(g, "model.pool", lmg_model_pool(c)));
    }
#undef PUT_INT
    LMG_TRY(lmg_graph_set_meta(g, "model.objective",
                               c->objective ? c->objective : lmg_model_arch_of(c)->objective));
    return LMG_OK;
}

static lmg_status meta_ll(const lmg_graph *g, const char *key, long long *v)
{
    const char *s = lmg_graph_get_meta(g, key);
    if (!s) return lmg_error(LMG_ERR_NOT_FOUND, "graph '%s' has no metadata '%s'", g->name, key);
    char *end;
    *v = strtoll(s, &end, 10);
    if (end == s || *end)
        return lmg_error(LMG_ERR_PARSE, "graph '%s': metadata %s = '%s' is not an integer",
                         g->name, key, s);
    return LMG_OK;
}

lmg_status lmg_model_config_from_graph(const lmg_graph *g, lmg_model_config *c)
{
    const char *arch = lmg_graph_get_meta(g, "model.arch");
    if (!arch)
        return lmg_error(LMG_ERR_NOT_FOUND,
                         "graph '%s' has no model metadata (model.arch): not built by lmg build",
                         g->name);
    lmg_model_config_default(c, arch);
    c->arch = arch;
    long long v;
#define GET(k, f)                       \
    LMG_TRY(meta_ll(g, "model." k, &v)); \
    c->f = (int)v;
    GET("layers", layers)
    GET("heads", heads)
    GET("d_model", d_model)
    GET("d_ff", d_ff)
    GET("vocab", vocab)
    GET("seq", seq)
    GET("batch", batch)
    GET("pad_id", pad_id)
    GET("mask_id", mask_id)
    GET("special_below", special_below)
#undef GET
    if (meta_ll(g, "model.micro_batches", &v) == LMG_OK) c->micro_batches = (int)v;
    if (meta_ll(g, "model.n_classes", &v) == LMG_OK) c->n_classes = (int)v;
    c->pool = lmg_graph_get_meta(g, "model.pool");
    lmg_error_clear();
    const char *s = lmg_graph_get_meta(g, "model.seed");
    if (s) c->seed = strtoull(s, NULL, 10);
    s = lmg_graph_get_meta(g, "model.dropout");
    if (s) c->dropout = strtod(s, NULL);
    c->objective = lmg_graph_get_meta(g, "model.objective");
    return lmg_model_config_check(c);
}

int64_t lmg_model_param_count(const lmg_graph *g)
{
    int64_t n = 0;
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == LMG_VALUE_INIT && g->values[v].trainable)
            n += lmg_shape_numel(&g->values[v].shape);
    return n;
}

/* ---- parameters -------------------------------------------------------------------- */

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* Fill with N(0, std) drawn from Philox keyed by (seed, hash of the parameter's name), so a
 * parameter's initial value depends on its name and the seed only, not on build order. */
static void fill_normal(float *w, int64_t n, uint64_t seed, const char *name, double std)
{
    lmg_philox_key2 key = lmg_philox_key(seed, name_hash(name));
    for (int64_t i = 0; i < n; i += 2) {
        lmg_philox4 r = lmg_philox_draw(key, (uint64_t)i / 2, 0);
        /* Box-Muller on two uniforms in (0, 1]. */
        double u1 = ((double)(r.w[0] >> 8) + 1.0) / 16777216.0;
        double u2 = (double)(r.w[1] >> 8) / 16777216.0;
        double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
        w[i] = (float)(std * rad * cos(th));
        if (i + 1 < n) w[i + 1] = (float)(std * rad * sin(th));
    }
}

typedef enum { INIT_NORMAL, INIT_ZERO, INIT_ONE } init_kind;

/* The parameter `name`: created with its init on first use, reused (shape checked) after,
 * so several passes of the model over different inputs share one set of weights. */
static int param(lmg_graph *g, const lmg_model_config *c, const char *name, int rank,
                 int64_t d0, int64_t d1, init_kind k, double std)
{
    if (g->status != LMG_OK) return -1;
    int64_t dims[2] = {d0, d1};
    lmg_shape s = lmg_shape_make(rank, dims);
    int v = lmg_graph_find(g, name);
    if (v >= 0) {
        if (!lmg_shape_equal(&g->values[v].shape, &s) || !g->values[v].trainable) {
            g->status = lmg_error(LMG_ERR_INVALID, "model: value '%s' exists and is not a "
                                                   "parameter of the expected shape", name);
            return -1;
        }
        return v;
    }
    int64_t n = lmg_shape_numel(&s);
    if (k == INIT_ZERO) return lmg_graph_param(g, name, LMG_DTYPE_F32, s, NULL);
    float *w = malloc((size_t)n * sizeof *w);
    if (!w) {
        g->status = lmg_error(LMG_ERR_NOMEM, "out of memory initialising '%s'", name);
        return -1;
    }
    if (k == INIT_ONE)
        for (int64_t i = 0; i < n; i++) w[i] = 1.0f;
    else fill_normal(w, n, c->seed, name, std);
    v = lmg_graph_param(g, name, LMG_DTYPE_F32, s, w);
    free(w);
    return v;
}

/* ---- building blocks --------------------------------------------------------------- */

typedef struct pass {
    lmg_graph *g;
    const lmg_model_config *c;
    const char *scope;    /* prefix of node names of this pass ("" or "mb1/", "mlm/") */
    int causal;
    int key_mask;         /* f32[B,T] or -1 */
    int B, T;
} pass;

static const char *nm(const pass *p, char *buf, size_t n, const char *fmt, int layer)
{
    char tmp[200];
    snprintf(tmp, sizeof tmp, fmt, layer);
    snprintf(buf, n, "%s%s", p->scope, tmp);
    return buf;
}

static int node(const pass *p, lmg_op op, const char *name, const int *ins, int n_in,
                const lmg_attr *a, int na)
{
    return lmg_graph_node(p->g, op, name, ins, n_in, a, na, NULL, NULL);
}

int lmg_model_dropout(lmg_graph *g, const lmg_model_config *c, int x, const char *name)
{
    if (c->dropout <= 0.0 || x < 0) return x;
    lmg_attr a[3] = {lmg_attr_float("p", c->dropout),
                     lmg_attr_int("seed", (int64_t)(c->seed & 0x7fffffffffffffffull)),
                     lmg_attr_int("key", lmg_random_key(name))};
    return lmg_graph_node(g, LMG_OP_DROPOUT, name, &x, 1, a, 3, NULL, NULL);
}

int lmg_model_layer_norm(lmg_graph *g, int x, int gamma, int beta, const char *name)
{
    int outs[3];
    if (lmg_graph_node(g, LMG_OP_LAYER_NORM, name, (int[]){x, gamma, beta}, 3, NULL, 0, NULL,
                       outs) < 0)
        return -1;
    return outs[0];
}

/* x + b with b broadcast along the last axis. */
static int add_bias(const pass *p, int x, int b, const char *name)
{
    return node(p, LMG_OP_ADD, name, (int[]){x, b}, 2, NULL, 0);
}

/* One pre-LayerNorm block over the residual stream x [B*T, C]. */
static int block(const pass *p, int x, int l)
{
    lmg_graph *g = p->g;
    const lmg_model_config *c = p->c;
    int64_t B = p->B, T = p->T, C = c->d_model, H = c->heads, D = C / H, F = c->d_ff;
    double std = 0.02, rstd = 0.02 / sqrt(2.0 * c->layers);
    char pn[96], n1[256];
#define P(fmt) (snprintf(pn, sizeof pn, fmt, l), pn)
#define N(fmt) nm(p, n1, sizeof n1, fmt, l)
    int ln1g = param(g, c, P("h%d.ln1.g"), 1, C, 0, INIT_ONE, 0);
    int ln1b = param(g, c, P("h%d.ln1.b"), 1, C, 0, INIT_ZERO, 0);
    int wqkv = param(g, c, P("h%d.attn.wqkv"), 2, C, 3 * C, INIT_NORMAL, std);
    int bqkv = param(g, c, P("h%d.attn.bqkv"), 1, 3 * C, 0, INIT_ZERO, 0);
    int wo = param(g, c, P("h%d.attn.wo"), 2, C, C, INIT_NORMAL, rstd);
    int bo = param(g, c, P("h%d.attn.bo"), 1, C, 0, INIT_ZERO, 0);
    int ln2g = param(g, c, P("h%d.ln2.g"), 1, C, 0, INIT_ONE, 0);
    int ln2b = param(g, c, P("h%d.ln2.b"), 1, C, 0, INIT_ZERO, 0);
    int w1 = param(g, c, P("h%d.mlp.w1"), 2, C, F, INIT_NORMAL, std);
    int b1 = param(g, c, P("h%d.mlp.b1"), 1, F, 0, INIT_ZERO, 0);
    int w2 = param(g, c, P("h%d.mlp.w2"), 2, F, C, INIT_NORMAL, rstd);
    int b2 = param(g, c, P("h%d.mlp.b2"), 1, C, 0, INIT_ZERO, 0);

    /* attention */
    int h = lmg_model_layer_norm(g, x, ln1g, ln1b, N("h%d.ln1"));
    int qkv = node(p, LMG_OP_MATMUL, N("h%d.attn.qkv_mm"), (int[]){h, wqkv}, 2, NULL, 0);
    qkv = add_bias(p, qkv, bqkv, N("h%d.attn.qkv"));
    int64_t d5[5] = {B, T, 3, H, D}, perm5[5] = {2, 0, 3, 1, 4}, d4[4] = {B, H, T, D};
    lmg_attr ra = lmg_attr_ints("shape", 5, d5);
    qkv = node(p, LMG_OP_RESHAPE, N("h%d.attn.qkv5"), &qkv, 1, &ra, 1);
    lmg_attr ta = lmg_attr_ints("perm", 5, perm5);
    qkv = node(p, LMG_OP_TRANSPOSE, N("h%d.attn.qkvT"), &qkv, 1, &ta, 1); /* [3,B,H,T,D] */
    int qkv_s[3];
    static const char *const part[3] = {"q", "k", "v"};
    for (int i = 0; i < 3; i++) {
        char fmt[64];
        lmg_attr sa[3] = {lmg_attr_int("axis", 0), lmg_attr_int("start", i),
                          lmg_attr_int("end", i + 1)};
        snprintf(fmt, sizeof fmt, "h%%d.attn.%s_slice", part[i]);
        int s = node(p, LMG_OP_SLICE, N(fmt), &qkv, 1, sa, 3);
        lmg_attr r4 = lmg_attr_ints("shape", 4, d4);
        snprintf(fmt, sizeof fmt, "h%%d.attn.%s", part[i]);
        qkv_s[i] = node(p, LMG_OP_RESHAPE, N(fmt), &s, 1, &r4, 1);
    }
    int att_in[4] = {qkv_s[0], qkv_s[1], qkv_s[2], p->key_mask};
    lmg_attr aa = lmg_attr_int("causal", p->causal);
    int att_out[2];
    if (lmg_graph_node(g, LMG_OP_ATTENTION, N("h%d.attn.sdpa"), att_in,
                       p->key_mask >= 0 ? 4 : 3, &aa, 1, NULL, att_out) < 0)
        return -1;
    int64_t perm4[4] = {0, 2, 1, 3}, d2[2] = {B * T, C};
    lmg_attr t4 = lmg_attr_ints("perm", 4, perm4);
    int y = node(p, LMG_OP_TRANSPOSE, N("h%d.attn.outT"), &att_out[0], 1, &t4, 1);
    lmg_attr r2 = lmg_attr_ints("shape", 2, d2);
    y = node(p, LMG_OP_RESHAPE, N("h%d.attn.out"), &y, 1, &r2, 1);
    y = node(p, LMG_OP_MATMUL, N("h%d.attn.proj_mm"), (int[]){y, wo}, 2, NULL, 0);
    y = add_bias(p, y, bo, N("h%d.attn.proj"));
    y = lmg_model_dropout(g, c, y, N("h%d.attn.drop"));
    x = node(p, LMG_OP_ADD, N("h%d.res1"), (int[]){x, y}, 2, NULL, 0);

    /* MLP */
    h = lmg_model_layer_norm(g, x, ln2g, ln2b, N("h%d.ln2"));
    h = node(p, LMG_OP_MATMUL, N("h%d.mlp.fc_mm"), (int[]){h, w1}, 2, NULL, 0);
    h = add_bias(p, h, b1, N("h%d.mlp.fc"));
    h = node(p, LMG_OP_GELU, N("h%d.mlp.gelu"), &h, 1, NULL, 0);
    h = node(p, LMG_OP_MATMUL, N("h%d.mlp.proj_mm"), (int[]){h, w2}, 2, NULL, 0);
    h = add_bias(p, h, b2, N("h%d.mlp.proj"));
    h = lmg_model_dropout(g, c, h, N("h%d.mlp.drop"));
    x = node(p, LMG_OP_ADD, N("h%d.res2"), (int[]){x, h}, 2, NULL, 0);
#undef P
#undef N
    return x;
}

int lmg_model_param(lmg_graph *g, const lmg_model_config *c, const char *name, int rank,
                    int64_t d0, int64_t d1, int init, double std)
{
    return param(g, c, name, rank, d0, d1, (init_kind)init, std);
}

lmg_status lmg_model_apply(lmg_graph *g, const lmg_model_config *c, int ids, int causal,
                           const char *scope, int *logits, int *hidden)
{
    return lmg_model_apply_masked(g, c, ids, -1, causal, scope, logits, hidden);
}

lmg_status lmg_model_apply_masked(lmg_graph *g, const lmg_model_config *c, int ids, int key_mask,
                                  int causal, const char *scope, int *logits, int *hidden)
{
    LMG_TRY(lmg_model_config_check(c));
    if (g->status != LMG_OK) return g->status;
    if (ids < 0 || ids >= g->n_values)
        return lmg_error(LMG_ERR_ARG, "model: ids is not a value");
    const lmg_value *iv = &g->values[ids];
    if (iv->dtype != LMG_DTYPE_I32 || iv->shape.rank != 2 || iv->shape.dims[1] != c->seq)
        return lmg_error(LMG_ERR_INVALID, "model: ids '%s' must be i32[B,%d]", iv->name, c->seq);
    const lmg_model_arch *a = lmg_model_arch_of(c);
    pass p = {g, c, scope ? scope : "", causal < 0 ? a->causal : causal, -1,
              (int)iv->shape.dims[0], c->seq};
    int64_t B = p.B, T = p.T, C = c->d_model, V = c->vocab;
    char n1[256];
#define N(s) (snprintf(n1, sizeof n1, "%s%s", p.scope, s), n1)
    int wte = param(g, c, "wte", 2, V, C, INIT_NORMAL, 0.02);
    int wpe = param(g, c, "wpe", 2, T, C, INIT_NORMAL, 0.02);
    if (key_mask >= 0) {
        const lmg_value *mv = &g->values[key_mask];
        int64_t kd[2] = {B, T};
        lmg_shape ks = lmg_shape_make(2, kd);
        if (mv->dtype != LMG_DTYPE_F32 || !lmg_shape_equal(&mv->shape, &ks))
            return lmg_error(LMG_ERR_INVALID, "model: key mask '%s' must be f32[%lld,%lld] like ids",
                             mv->name, (long long)B, (long long)T);
        p.key_mask = key_mask;
    } else if (c->pad_id >= 0 && a->pad_key_mask) {
        lmg_attr pa = lmg_attr_int("pad_id", c->pad_id);
        p.key_mask = node(&p, LMG_OP_PADDING_MASK, N("key_mask"), &ids, 1, &pa, 1);
    }
    int x = node(&p, LMG_OP_EMBEDDING, N("tok_emb"), (int[]){wte, ids}, 2, NULL, 0);
    x = node(&p, LMG_OP_ADD, N("emb"), (int[]){x, wpe}, 2, NULL, 0); /* [B,T,C] + [T,C] */
    x = lmg_model_dropout(g, c, x, N("emb.drop"));
    int64_t d2[2] = {B * T, C}, d3[3] = {B, T, C}, dv[3] = {B, T, V};
    lmg_attr r2 = lmg_attr_ints("shape", 2, d2);
    x = node(&p, LMG_OP_RESHAPE, N("emb2d"), &x, 1, &r2, 1);
    for (int l = 0; l < c->layers && x >= 0; l++) x = block(&p, x, l);
    int lnfg = param(g, c, "lnf.g", 1, C, 0, INIT_ONE, 0);
    int lnfb = param(g, c, "lnf.b", 1, C, 0, INIT_ZERO, 0);
    int h = lmg_model_layer_norm(g, x, lnfg, lnfb, N("lnf"));
    lmg_attr r3 = lmg_attr_ints("shape", 3, d3);
    int hid = node(&p, LMG_OP_RESHAPE, N("hidden3d"), &h, 1, &r3, 1);
    /* Tied output h wte^T (plus an output bias for BERT's MLM head). */
    int bias = a->head_bias ? param(g, c, "head.bias", 1, V, 0, INIT_ZERO, 0) : -1;
    lmg_attr tb = lmg_attr_int("trans_b", 1);
    int lg = node(&p, LMG_OP_MATMUL, N(a->head_name), (int[]){h, wte}, 2, &tb, 1);
    if (bias >= 0) lg = add_bias(&p, lg, bias, N("head.out"));
    lmg_attr rv = lmg_attr_ints("shape", 3, dv);
    lg = node(&p, LMG_OP_RESHAPE, N("logits3d"), &lg, 1, &rv, 1);
#undef N
    if (g->status != LMG_OK) return g->status;
    *logits = lg;
    *hidden = hid;
    return LMG_OK;
}
