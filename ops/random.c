/* random.c — rules of the random ops (Dropout, Bernoulli, RandomInt, MlmCorrupt): attribute
 * checks, shape inference, Dropout's gradient, and the FNV-1a key builders give each node. */
#include "attr_check.h"
#include "ops.h"

int64_t lmg_random_key(const char *node_name)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *s = (const unsigned char *)(node_name ? node_name : ""); *s; s++)
        h = (h ^ *s) * 16777619u;
    return (int64_t)h;
}

/* seed (any int64, default 0) and key (required, 0 .. 2^32-1: one Philox key word). */
static lmg_status check_seed_key(const lmg_node *n)
{
    int64_t seed, key;
    LMG_TRY(attr_get_int(n, "seed", 0, 0, &seed));
    LMG_TRY(attr_get_int(n, "key", 1, 0, &key));
    if (key < 0 || key > (int64_t)UINT32_MAX)
        return lmg_op_error(n, "key %lld is outside 0..4294967295", (long long)key);
    return LMG_OK;
}

static lmg_status check_p(const lmg_node *n, int required, double dflt, int allow_one,
                          double *p)
{
    LMG_TRY(attr_get_float(n, "p", required, dflt, p));
    if (*p < 0.0 || *p > 1.0 || (!allow_one && *p >= 1.0))
        return lmg_op_error(n, "p = %g is outside [0, %s", *p, allow_one ? "1]" : "1)");
    /* The kernels compare with (float)p and Dropout scales by 1 / (1 - (float)p). */
    if (!allow_one && (float)*p >= 1.0f)
        return lmg_op_error(n, "p = %.17g rounds to 1 in f32", *p);
    return LMG_OK;
}

lmg_status lmg_infer_DROPOUT(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    double p;
    LMG_TRY(lmg_op_check_attrs(n, "p:f seed:i key:i"));
    LMG_TRY(check_seed_key(n));
    LMG_TRY(check_p(n, 1, 0.0, 0, &p));
    LMG_TRY(want_dtype(g, n, 0, LMG_DTYPE_F32, "x"));
    t[0] = LMG_DTYPE_F32;
    s[0] = in_val(g, n, 0)->shape;
    return LMG_OK;
}

/* The mask depends only on (seed, key, element, step), so dy passes through the same one. */
lmg_status lmg_grad_DROPOUT(lmg_grad_ctx *c)
{
    lmg_graph *g = c->g;
    const lmg_node *n = &g->nodes[c->node];
    if (!c->need[0] || c->dy[0] < 0) return LMG_OK;
    lmg_attr a[3] = {lmg_attr_float("p", lmg_node_attr_float(n, "p", 0.0)),
                     lmg_attr_int("seed", lmg_node_attr_int(n, "seed", 0)),
                     lmg_attr_int("key", lmg_node_attr_int(n, "key", 0))};
    int dy = c->dy[0];
    int dx = lmg_graph_node(g, LMG_OP_DROPOUT, NULL, &dy, 1, a, 3, NULL, NULL);
    if (dx < 0) return g->status;
    c->dx[0] = dx;
    return LMG_OK;
}

lmg_status lmg_infer_BERNOULLI(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    double p;
    LMG_TRY(lmg_op_check_attrs(n, "p:f seed:i key:i"));
    LMG_TRY(check_seed_key(n));
    LMG_TRY(check_p(n, 1, 0.0, 1, &p));
    t[0] = LMG_DTYPE_F32;
    s[0] = in_val(g, n, 0)->shape;
    return LMG_OK;
}

lmg_status lmg_infer_RANDOM_INT(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                lmg_shape *s)
{
    int64_t lo, hi;
    LMG_TRY(lmg_op_check_attrs(n, "low:i high:i seed:i key:i"));
    LMG_TRY(check_seed_key(n));
    LMG_TRY(attr_get_int(n, "low", 1, 0, &lo));
    LMG_TRY(attr_get_int(n, "high", 1, 0, &hi));
    if (lo >= hi || lo < INT32_MIN || hi > (int64_t)INT32_MAX + 1)
        return lmg_op_error(n, "[low, high) = [%lld, %lld) must be non-empty and within the i32 "
                            "range", (long long)lo, (long long)hi);
    t[0] = LMG_DTYPE_I32;
    s[0] = in_val(g, n, 0)->shape;
    return LMG_OK;
}

lmg_status lmg_infer_MLM_CORRUPT(const lmg_graph *g, const lmg_node *n, lmg_dtype *t,
                                 lmg_shape *s)
{
    double p;
    int64_t mask_id, vocab, special, ignore;
    LMG_TRY(lmg_op_check_attrs(
        n, "p:f mask_id:i vocab:i special_below:i ignore_index:i seed:i key:i"));
    LMG_TRY(check_seed_key(n));
    LMG_TRY(check_p(n, 0, 0.15, 1, &p));
    LMG_TRY(attr_get_int(n, "mask_id", 1, 0, &mask_id));
    LMG_TRY(attr_get_int(n, "vocab", 1, 0, &vocab));
    LMG_TRY(attr_get_int(n, "special_below", 0, 0, &special));
    LMG_TRY(attr_get_int(n, "ignore_index", 0, -100, &ignore));
    if (vocab < 1 || vocab > INT32_MAX)
        return lmg_op_error(n, "vocab %lld is outside 1..%d", (long long)vocab, INT32_MAX);
    if (special < 0 || special >= vocab)
        return lmg_op_error(n, "special_below %lld is outside 0..%lld", (long long)special,
                            (long long)vocab - 1);
    if (mask_id < 0 || mask_id >= vocab)
        return lmg_op_error(n, "mask_id %lld is outside 0..%lld", (long long)mask_id,
                            (long long)vocab - 1);
    if (ignore < INT32_MIN || ignore > INT32_MAX)
        return lmg_op_error(n, "ignore_index %lld is not an i32", (long long)ignore);
    LMG_TRY(want_dtype(g, n, 0, LMG_DTYPE_I32, "ids"));
    t[0] = t[1] = LMG_DTYPE_I32;
    s[0] = s[1] = in_val(g, n, 0)->shape;
    return LMG_OK;
}

lmg_status lmg_infer_SPAN_MASK(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    double p, len_p;
    int64_t max_len;
    LMG_TRY(lmg_op_check_attrs(n, "p:f len_p:f max_len:i seed:i key:i"));
    LMG_TRY(check_seed_key(n));
    LMG_TRY(check_p(n, 1, 0.0, 1, &p));
    LMG_TRY(attr_get_float(n, "len_p", 1, 0.0, &len_p));
    if (!(len_p > 0.0 && len_p <= 1.0))
        return lmg_op_error(n, "len_p = %g is outside (0, 1]", len_p);
    LMG_TRY(attr_get_int(n, "max_len", 1, 0, &max_len));
    if (max_len < 1 || max_len > 64)
        return lmg_op_error(n, "max_len %lld is outside 1..64", (long long)max_len);
    if (in_val(g, n, 0)->shape.rank < 1)
        return lmg_op_error(n, "x '%s' is a scalar; spans run along the last axis",
                            in_val(g, n, 0)->name);
    t[0] = LMG_DTYPE_F32;
    s[0] = in_val(g, n, 0)->shape;
    return LMG_OK;
}
