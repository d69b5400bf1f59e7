/* collective.c — the OpenCL recorder of AllReduce: with several ranks, a host round trip
 * (read, MPI all-reduce, write back) at its place in the queue; with one rank, a copy.
 * (opencl.c's recorder takes a run of AllReduce nodes into one round trip instead.) */
#include "opencl_internal.h"
#include "../dist.h"

lmg_status lmg_cl_op_ALL_REDUCE(lmg_exec *e, const lmg_node *n)
{
    lmg_cl_loc src = lmg_cl_at(e, n->in[0]), dst = lmg_cl_at(e, n->out[0]);
    int64_t N = lmg_cl_numel(e, n->in[0]);
    if (lmg_dist_size() > 1)
    {
        size_t count = (size_t)N;
        return lmg_cl_record_host(e, "allreduce (MPI)", lmg_dist_allreduce_f32, 1, &src, &dst,
                                  &count, (int)lmg_node_attr_int(n, "mean", 1));
    }
    if (src.region == dst.region && src.off == dst.off) return LMG_OK;
    return lmg_cl_kernel(e, "copy_flat", (size_t)N, 0, "bbi", dst, src, (int)N);
}
