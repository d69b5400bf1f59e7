/* dist.h — the ranks of a data-parallel run: MPI when lmgraph was built with it and the
 * process was started by mpirun, else one rank. The AllReduce op's kernels and the trainer use it. */
#ifndef LMG_DIST_H
#define LMG_DIST_H

#include "../graph/lmg.h"

#include <stddef.h>

/* Join the run's ranks: MPI_Init when a launcher (mpirun, srun) started this process, else
 * one rank with no MPI at all, so `lmg train` alone never pays for MPI. Idempotent. A build
 * without MPI started as one of N > 1 ranks is LMG_ERR_UNSUPPORTED. */
lmg_status lmg_dist_init(void);
/* Leave MPI (after the last collective); a no-op with one rank. */
void lmg_dist_finalize(void);
/* Stop every rank now (MPI_Abort) with exit status `code`; returns only with one rank. */
void lmg_dist_abort(int code);

int lmg_dist_rank(void);       /* 0 .. size-1 */
int lmg_dist_size(void);       /* 1 without a launcher */
int lmg_dist_local_rank(void); /* the rank among the ranks on this machine */
int lmg_dist_built(void);      /* 1 when built with MPI */
/* 1 when the collectives below may be called from any one thread at a time (MPI gave
 * MPI_THREAD_SERIALIZED), 0 when only from the thread that joined. */
int lmg_dist_any_thread(void);

/* In place over every rank: x = sum over ranks (mean: divided by the number of ranks,
 * in f32 after the f32 sum), each element summed from the last rank's value to rank 0's in
 * f32, whatever n: every rank gets the same bits, and so does any split of x into calls. A
 * no-op with one rank. */
lmg_status lmg_dist_allreduce_f32(float *x, size_t n, int mean);
/* In place over every rank: x = the sum (max: the maximum) over ranks, in double. */
lmg_status lmg_dist_allreduce_f64(double *x, size_t n, int max);

#endif
