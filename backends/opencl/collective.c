/* collective.c — the OpenCL recorder of AllReduce: with several ranks, one host round trip
 * (read, MPI all-reduce, write back) at its place in the queue for the whole run of AllReduce
 * nodes that starts here; with one rank, a copy. */
#include "opencl_internal.h"
#include "../dist.h"

#include <stdlib.h>

/* The run of AllReduce nodes with the same `mean` starting at the current node, as one
 * command (one MPI call per segment, one host copy); e->consumed says how many it took. */
static lmg_status all_reduce_run(lmg_exec *e, const lmg_node *first)
{
    const lmg_graph *g = e->g;
    int i = e->cur_node, mean = (int)lmg_node_attr_int(first, "mean", 1), len = 0;
    while (i + len < g->n_nodes && g->nodes[i + len].op == LMG_OP_ALL_REDUCE &&
           lmg_node_attr_int(&g->nodes[i + len], "mean", 1) == mean)
        len++;
    lmg_cl_loc *src = malloc((size_t)len * sizeof *src), *dst = malloc((size_t)len * sizeof *dst);
    size_t *count = malloc((size_t)len * sizeof *count);
    lmg_status s = src && dst && count ? LMG_OK : lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (int k = 0; k < len && s == LMG_OK; k++) {
        const lmg_node *n = &g->nodes[i + k];
        src[k] = lmg_cl_at(e, n->in[0]);
        dst[k] = lmg_cl_at(e, n->out[0]);
        count[k] = (size_t)lmg_cl_numel(e, n->in[0]);
    }
    if (s == LMG_OK)
        s = lmg_cl_record_host(e, "allreduce (MPI)", lmg_dist_allreduce_f32, len, src, dst, count,
                               mean);
    free(src), free(dst), free(count);
    if (s == LMG_OK) e->consumed = len;
    return s;
}

lmg_status lmg_cl_op_ALL_REDUCE(lmg_exec *e, const lmg_node *n)
{
    if (lmg_dist_size() > 1) return all_reduce_run(e, n);
    lmg_cl_loc src = lmg_cl_at(e, n->in[0]), dst = lmg_cl_at(e, n->out[0]);
    int64_t N = lmg_cl_numel(e, n->in[0]);
    if (src.region == dst.region && src.off == dst.off) return LMG_OK;
    return lmg_cl_kernel(e, "copy_flat", (size_t)N, 0, "bbi", dst, src, (int)N);
}
