/* parallel.c — the trainer's side of data parallelism: rank 0 writes, each rank takes a
 * device by its local rank, a resume needs the same number of ranks, and the ranks agree. */
#include "parallel.h"
#include "../backends/opencl/opencl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lmg_parallel_writer(void) { return lmg_dist_rank() == 0; }

lmg_status lmg_parallel_device(const char *backend, const char *given, char *buf, size_t size,
                               const char **device)
{
    *device = given;
    const char *env = getenv("LMG_DEVICE");
    if ((given && *given) || (env && *env) || lmg_dist_size() < 2) return LMG_OK;
    if (backend && strcmp(backend, "opencl") != 0) return LMG_OK;
    int p = 0, d = 0, n = 0, on_platform = 0;
    LMG_TRY(lmg_opencl_pick_device(NULL, &p, &d));
    lmg_opencl_device *list = NULL;
    LMG_TRY(lmg_opencl_list_devices(&list, &n));
    for (int i = 0; i < n; i++) on_platform += list[i].platform == p;
    free(list);
    /* More ranks than devices (PoCL's one CPU device, or testing): they share. */
    int k = on_platform > 0 ? lmg_dist_local_rank() % on_platform : d;
    snprintf(buf, size, "%d:%d", p, k);
    *device = buf;
    return LMG_OK;
}

lmg_status lmg_parallel_check_ranks(const lmg_graph *tg, const char *run_dir)
{
    const char *v = lmg_graph_get_meta(tg, "optim.ranks");
    long ranks = v ? strtol(v, NULL, 10) : 1;
    int now = lmg_dist_size();
    if (ranks == now) return LMG_OK;
    return lmg_error(LMG_ERR_ARG, "run '%s' was trained by %ld rank%s and is resumed by %d: its "
                     "batches and global batch size depend on the number of ranks, so resume "
                     "it with mpirun -np %ld%s",
                     run_dir, ranks, ranks == 1 ? "" : "s", now, ranks,
                     ranks == 1 ? " or without mpirun" : "");
}

lmg_status lmg_parallel_mean(double *x, int n)
{
    int size = lmg_dist_size();
    if (size < 2 || n <= 0) return LMG_OK;
    LMG_TRY(lmg_dist_allreduce_f64(x, (size_t)n, 0));
    for (int i = 0; i < n; i++) x[i] /= size;
    return LMG_OK;
}

lmg_status lmg_parallel_agree(int *flag)
{
    if (lmg_dist_size() < 2) return LMG_OK;
    double v = *flag;
    LMG_TRY(lmg_dist_allreduce_f64(&v, 1, 1));
    *flag = (int)v;
    return LMG_OK;
}
