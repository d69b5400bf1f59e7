/* random.c — the OpenCL recorders of the random ops; the kernels (kernels/random.cl) run the
 * reference's Philox code from ops/philox.h, keyed by the run's step. */
#include "opencl_internal.h"
#include "../../ops/philox.h"
#include "../dist.h"

static lmg_philox_key2 node_key(const lmg_node *n)
{
    return lmg_philox_key((uint64_t)lmg_node_attr_int(n, "seed", 0),
                          (uint64_t)lmg_node_attr_int(n, "key", 0));
}

/* The counter of element 0: in a data-parallel run, rank r's tensor holds rows r*B.. of the
 * global batch, whose elements one process would draw at r * N.. (see backends/ref/random.c). */
static uint64_t draw_base(int64_t N)
{
    return (uint64_t)lmg_dist_rank() * (uint64_t)N;
}

lmg_status lmg_cl_op_DROPOUT(lmg_exec *e, const lmg_node *n)
{
    lmg_philox_key2 k = node_key(n);
    /* The f32 rounding of p and the f32 scale, exactly as the reference computes them. */
    float p = (float)lmg_node_attr_float(n, "p", 0.0);
    float scale = 1.0f / (1.0f - p);
    int64_t N = lmg_cl_numel(e, n->out[0]);
    return lmg_cl_kernel(e, "dropout", (size_t)N, 0, "bbuuSUffi", lmg_cl_at(e, n->out[0]),
                         lmg_cl_at(e, n->in[0]), k.k[0], k.k[1], draw_base(N), (double)p, (double)scale, (int)N);
}

lmg_status lmg_cl_op_BERNOULLI(lmg_exec *e, const lmg_node *n)
{
    lmg_philox_key2 k = node_key(n);
    float p = (float)lmg_node_attr_float(n, "p", 0.0);
    int64_t N = lmg_cl_numel(e, n->out[0]);
    return lmg_cl_kernel(e, "bernoulli", (size_t)N, 0, "buuSUfi", lmg_cl_at(e, n->out[0]), k.k[0],
                         k.k[1], draw_base(N), (double)p, (int)N);
}

lmg_status lmg_cl_op_RANDOM_INT(lmg_exec *e, const lmg_node *n)
{
    lmg_philox_key2 k = node_key(n);
    int64_t lo = lmg_node_attr_int(n, "low", 0), hi = lmg_node_attr_int(n, "high", 1);
    int64_t N = lmg_cl_numel(e, n->out[0]);
    return lmg_cl_kernel(e, "random_int", (size_t)N, 0, "buuSUlUi", lmg_cl_at(e, n->out[0]),
                         k.k[0], k.k[1], draw_base(N), lo, (uint64_t)(hi - lo), (int)N);
}

lmg_status lmg_cl_op_MLM_CORRUPT(lmg_exec *e, const lmg_node *n)
{
    lmg_philox_key2 k = node_key(n);
    float p = (float)lmg_node_attr_float(n, "p", 0.15);
    int64_t mask_id = lmg_node_attr_int(n, "mask_id", 0);
    int64_t vocab = lmg_node_attr_int(n, "vocab", 1);
    int64_t special = lmg_node_attr_int(n, "special_below", 0);
    int ignore = (int)lmg_node_attr_int(n, "ignore_index", -100);
    int64_t N = lmg_cl_numel(e, n->in[0]);
    return lmg_cl_kernel(e, "mlm_corrupt", (size_t)N, 0, "bbbuuSUfillii", lmg_cl_at(e, n->out[0]),
                         lmg_cl_at(e, n->out[1]), lmg_cl_at(e, n->in[0]), k.k[0], k.k[1],
                         draw_base(N), (double)p, (int)mask_id, vocab, special, ignore, (int)N);
}

lmg_status lmg_cl_op_SPAN_MASK(lmg_exec *e, const lmg_node *n)
{
    lmg_philox_key2 k = node_key(n);
    float p = (float)lmg_node_attr_float(n, "p", 0.0);
    float r = (float)(1.0 - lmg_node_attr_float(n, "len_p", 1.0));
    int max_len = (int)lmg_node_attr_int(n, "max_len", 1);
    const lmg_shape *s = &lmg_cl_value(e, n->out[0])->shape;
    int64_t T = s->dims[s->rank - 1], N = lmg_cl_numel(e, n->out[0]);
    if (N == 0) return LMG_OK;
    return lmg_cl_kernel(e, "span_mask", (size_t)N, 0, "buuSUffiii", lmg_cl_at(e, n->out[0]),
                         k.k[0], k.k[1], draw_base(N), (double)p, (double)r, max_len, (int)T, (int)N);
}
