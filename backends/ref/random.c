/* random.c — reference kernels of the random ops. Every draw is Philox 4x32-10 of (element
 * index, step) under the key (seed, key attr), so the OpenCL kernels reproduce them bit for bit. */
#include "ref.h"
#include "../../ops/philox.h"
#include "../dist.h"

static lmg_philox_key2 node_key(const lmg_node *n)
{
    return lmg_philox_key((uint64_t)lmg_node_attr_int(n, "seed", 0),
                          (uint64_t)lmg_node_attr_int(n, "key", 0));
}

/* The index of element 0. In a data-parallel run rank r holds rows r*B.. of the global batch
 * (batch first, the same shape on every rank), whose elements one process with the whole
 * batch draws at indices r * N..: so dropout and MLM masks are those of one process. */
static uint64_t draw_base(int64_t N)
{
    return (uint64_t)lmg_dist_rank() * (uint64_t)N;
}

lmg_status lmg_ref_DROPOUT(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                           lmg_tensor *const *out)
{
    const float *x = lmg_f32(in[0]); // (N) any shape
    float *y = lmg_f32(out[0]);      // (N)
    int64_t N = lmg_numel(in[0]);
    lmg_philox_key2 key = node_key(n);
    uint64_t base = draw_base(lmg_numel(out[0]));
    /* p is rounded to f32 first and the scale computed in f32, as ops.def states. */
    float p = (float)lmg_node_attr_float(n, "p", 0.0);
    float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < N; i++) {
        float u = lmg_philox_uniform(lmg_philox_draw(key, base + (uint64_t)i, c->step).w[0]);
        y[i] = u < p ? 0.0f : x[i] * scale;
    }
    return LMG_OK;
}

lmg_status lmg_ref_BERNOULLI(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                             lmg_tensor *const *out)
{
    float *y = lmg_f32(out[0]); // (N), the shape of in[0]
    int64_t N = lmg_numel(out[0]);
    lmg_philox_key2 key = node_key(n);
    uint64_t base = draw_base(lmg_numel(out[0]));
    float p = (float)lmg_node_attr_float(n, "p", 0.0);
    for (int64_t i = 0; i < N; i++) {
        float u = lmg_philox_uniform(lmg_philox_draw(key, base + (uint64_t)i, c->step).w[0]);
        y[i] = u < p ? 1.0f : 0.0f;
    }
    return LMG_OK;
}

lmg_status lmg_ref_RANDOM_INT(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                              lmg_tensor *const *out)
{
    int32_t *y = lmg_i32(out[0]); // (N), the shape of in[0]
    int64_t N = lmg_numel(out[0]);
    lmg_philox_key2 key = node_key(n);
    uint64_t base = draw_base(lmg_numel(out[0]));
    int64_t lo = lmg_node_attr_int(n, "low", 0), hi = lmg_node_attr_int(n, "high", 1);
    for (int64_t i = 0; i < N; i++) {
        uint32_t w = lmg_philox_draw(key, base + (uint64_t)i, c->step).w[0];
        y[i] = (int32_t)(lo + (int64_t)lmg_philox_below(w, (uint64_t)(hi - lo)));
    }
    return LMG_OK;
}

lmg_status lmg_ref_MLM_CORRUPT(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                               lmg_tensor *const *out)
{
    const int32_t *ids = lmg_i32(in[0]); // (N)
    int32_t *corrupt = lmg_i32(out[0]);  // (N)
    int32_t *targets = lmg_i32(out[1]);  // (N)
    int64_t N = lmg_numel(in[0]);
    lmg_philox_key2 key = node_key(n);
    uint64_t base = draw_base(lmg_numel(out[0]));
    float p = (float)lmg_node_attr_float(n, "p", 0.15);
    int64_t mask_id = lmg_node_attr_int(n, "mask_id", 0);
    int64_t vocab = lmg_node_attr_int(n, "vocab", 1);
    int64_t special = lmg_node_attr_int(n, "special_below", 0);
    int32_t ignore = (int32_t)lmg_node_attr_int(n, "ignore_index", -100);
    for (int64_t i = 0; i < N; i++) {
        int32_t id = ids[i];
        lmg_philox4 r = lmg_philox_draw(key, base + (uint64_t)i, c->step);
        if (id < special || !(lmg_philox_uniform(r.w[0]) < p)) {
            corrupt[i] = id;
            targets[i] = ignore;
            continue;
        }
        float u1 = lmg_philox_uniform(r.w[1]);
        if (u1 < 0.8f) corrupt[i] = (int32_t)mask_id;
        else if (u1 < 0.9f)
            corrupt[i] = (int32_t)(special +
                                   (int64_t)lmg_philox_below(r.w[2], (uint64_t)(vocab - special)));
        else corrupt[i] = id;
        targets[i] = id;
    }
    return LMG_OK;
}

/* r^l for l = 1..max_len-1 by repeated f32 products, the thresholds of SpanMask's lengths. */
static void span_thresholds(double len_p, int max_len, float *q)
{
    float r = (float)(1.0 - len_p), acc = 1.0f;
    for (int l = 1; l < max_len; l++) {
        acc = acc * r;
        q[l] = acc;
    }
}

lmg_status lmg_ref_SPAN_MASK(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                             lmg_tensor *const *out)
{
    float *y = lmg_f32(out[0]); // (rows, T)
    const lmg_shape *s = &out[0]->shape;
    int64_t T = s->dims[s->rank - 1], rows = T ? lmg_numel(out[0]) / T : 0;
    lmg_philox_key2 key = node_key(n);
    uint64_t base = draw_base(lmg_numel(out[0]));
    float p = (float)lmg_node_attr_float(n, "p", 0.0);
    int max_len = (int)lmg_node_attr_int(n, "max_len", 1);
    float q[64];
    span_thresholds(lmg_node_attr_float(n, "len_p", 1.0), max_len, q);
    for (int64_t i = 0; i < rows * T; i++) y[i] = 0.0f;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t st = 0; st < T; st++) {
            lmg_philox4 w = lmg_philox_draw(key, base + (uint64_t)(r * T + st), c->step);
            if (!(lmg_philox_uniform(w.w[0]) < p)) continue;
            float v = 1.0f - lmg_philox_uniform(w.w[1]);
            int len = 1;
            while (len < max_len && v <= q[len]) len++;
            for (int64_t t = st; t < st + len && t < T; t++) y[r * T + t] = 1.0f;
        }
    return LMG_OK;
}
