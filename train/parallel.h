/* parallel.h — the trainer's side of data parallelism over the ranks of backends/dist.h:
 * who writes the run's files, a device per rank, means and agreement across ranks. */
#ifndef LMG_TRAIN_PARALLEL_H
#define LMG_TRAIN_PARALLEL_H

#include "../backends/dist.h"
#include "../graph/graph.h"

/* 1 on the rank that writes checkpoints, metrics, the plot and samples (rank 0). */
int lmg_parallel_writer(void);
/* The device of this rank: `given` (--device) or LMG_DEVICE when set, else with several
 * ranks on the opencl backend the default platform's device (local rank mod its devices),
 * written into buf; NULL: the backend's default. */
lmg_status lmg_parallel_device(const char *backend, const char *given, char *buf, size_t size,
                               const char **device);
/* A run is resumed by as many ranks as it was started with: its global batch (ranks x
 * --batch) and so its batch order depend on them. The error names both numbers. */
lmg_status lmg_parallel_check_ranks(const lmg_graph *tg, const char *run_dir);
/* x[0..n) = the mean over ranks, in double. */
lmg_status lmg_parallel_mean(double *x, int n);
/* *flag = the largest of the ranks' flags, so every rank takes the same branch. */
lmg_status lmg_parallel_agree(int *flag);

#endif
