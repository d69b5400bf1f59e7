/* collective.c — reference kernel of AllReduce: y = x, then summed (or averaged) in place
 * over the run's ranks by backends/dist.c; the identity with one rank. */
#include "ref.h"
#include "../dist.h"

#include <string.h>

lmg_status lmg_ref_ALL_REDUCE(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                              lmg_tensor *const *out)
{
    (void)c;
    const float *x = lmg_f32(in[0]); // (N)
    float *y = lmg_f32(out[0]);      // (N)
    size_t N = (size_t)lmg_numel(in[0]);
    if (y != x) memcpy(y, x, N * sizeof *y);
    lmg_status s = lmg_dist_allreduce_f32(y, N, (int)lmg_node_attr_int(n, "mean", 1));
    if (s != LMG_OK) return lmg_error_prefix(s, "node '%s' (AllReduce)", n->name);
    return LMG_OK;
}
