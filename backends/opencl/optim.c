/* optim.c — the OpenCL recorder of AdamW: one launch per node, or one for a whole flat
 * parameter block when the executor fuses the nodes (kernels/optim.cl). */
#include "opencl_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

lmg_status lmg_cl_adamw_range(lmg_exec *e, const lmg_node *n, lmg_cl_loc p, lmg_cl_loc g,
                              lmg_cl_loc m, lmg_cl_loc v, int64_t count, int nseg,
                              const int64_t *starts, const double *wd)
{
    double b1 = lmg_node_attr_float(n, "beta1", 0.9), b2 = lmg_node_attr_float(n, "beta2", 0.999);
    double eps = lmg_node_attr_float(n, "eps", 1e-8);
    if (count == 0) return LMG_OK;
    uint32_t *tab = malloc((size_t)nseg * 2 * sizeof *tab);
    if (!tab) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (int k = 0; k < nseg; k++) {
        float w = (float)wd[k];
        tab[2 * k] = (uint32_t)starts[k];
        memcpy(&tab[2 * k + 1], &w, 4);
    }
    lmg_cl_loc seg = lmg_cl_aux(e, tab, (size_t)nseg * 2);
    free(tab);
    if (seg.region < 0) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_cl_loc bc = lmg_cl_scratch(e, 2);
    LMG_TRY(lmg_cl_kernel(e, "adamw_prep", 1, 0, "bbff", bc, lmg_cl_at(e, n->in[5]), log(b1),
                          log(b2)));
    int top = 1;
    while (top * 2 < nseg) top *= 2;
    return lmg_cl_kernel(e, "adamw", (size_t)count, 0, "bbbbbbbbiifffffi", p, g, m, v,
                         lmg_cl_at(e, n->in[4]), lmg_cl_at(e, n->in[6]), bc, seg, nseg, top, b1,
                         1.0 - b1, b2, 1.0 - b2, eps, (int)count);
}

lmg_status lmg_cl_op_ADAMW(lmg_exec *e, const lmg_node *n)
{
    /* Outputs share their inputs' storage (the plan aliases them), so the update is in place;
     * should a plan ever separate them, copy first and update the copies. */
    lmg_cl_loc dst[3] = {lmg_cl_at(e, n->out[0]), lmg_cl_at(e, n->out[1]), lmg_cl_at(e, n->out[2])};
    static const int src_in[3] = {0, 2, 3};
    int64_t N = lmg_cl_numel(e, n->in[0]);
    for (int k = 0; k < 3; k++) {
        lmg_cl_loc src = lmg_cl_at(e, n->in[src_in[k]]);
        if (src.region != dst[k].region || src.off != dst[k].off)
            LMG_TRY(lmg_cl_kernel(e, "copy_flat", (size_t)N, 0, "bbi", dst[k], src, (int)N));
    }
    int64_t start = 0;
    double wd = lmg_node_attr_float(n, "weight_decay", 0.0);
    return lmg_cl_adamw_range(e, n, dst[0], lmg_cl_at(e, n->in[1]), dst[1], dst[2], N, 1, &start,
                              &wd);
}
