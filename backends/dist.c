/* dist.c — MPI glue for data-parallel runs, compiled with `mpicc --showme:compile` flags
 * (LMG_HAVE_MPI) when build.ninja finds mpicc, else the one-rank version below. */
#include "dist.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

/* The world size a launcher announces in the environment (OpenMPI, MPICH/Hydra, Slurm's
 * PMI); 0 when no launcher started this process. */
static int launcher_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return atoi(v);
    }
    return 0;
}

#ifdef LMG_HAVE_MPI
#include <mpi.h>

static int inited, use_mpi, world_rank, world_size = 1, node_rank, serialized;
/* The all-reduce's buffers: the pieces of this rank's chunk and 4 x N counts (calls are
 * serialized, dist.h). */
static float *scratch;
static size_t scratch_cap;
static int *counts;

static lmg_status mpi_fail(int rc, const char *call)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return lmg_error(LMG_ERR_DEVICE, "rank %d of %d: %s failed: %s", world_rank, world_size, call,
                     msg);
}
#define MPI_TRY(call)                                   \
    do {                                                \
        int rc_ = (call);                               \
        if (rc_ != MPI_SUCCESS) return mpi_fail(rc_, #call); \
    } while (0)

lmg_status lmg_dist_init(void)
{
    if (inited) return LMG_OK;
    inited = 1;
    if (launcher_size() < 1) return LMG_OK; /* started alone: one rank, no MPI */
    /* Serialized: an executor's helper thread makes the collectives of a step while the main
     * thread makes the others between steps, never both at once. */
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
        return lmg_error(LMG_ERR_DEVICE, "MPI_Init failed");
    use_mpi = 1;
    serialized = provided >= MPI_THREAD_SERIALIZED;
    /* Failures come back as codes: the caller names the rank and aborts the job itself. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_TRY(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank));
    MPI_TRY(MPI_Comm_size(MPI_COMM_WORLD, &world_size));
    MPI_Comm node;
    MPI_TRY(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL,
                                &node));
    MPI_TRY(MPI_Comm_rank(node, &node_rank));
    MPI_Comm_free(&node);
    return LMG_OK;
}

void lmg_dist_finalize(void)
{
    if (use_mpi) MPI_Finalize();
    use_mpi = 0;
    free(scratch);
    free(counts);
    scratch = NULL;
    counts = NULL;
    scratch_cap = 0;
}

void lmg_dist_abort(int code)
{
    if (use_mpi && world_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

int lmg_dist_rank(void) { return world_rank; }
int lmg_dist_size(void) { return world_size; }
int lmg_dist_local_rank(void) { return node_rank; }
int lmg_dist_built(void) { return 1; }
int lmg_dist_any_thread(void) { return serialized || world_size < 2; }

/* Wait for a nonblocking call, giving the core away between tests: a rank's collective
 * thread may share its core with the device's (PoCL) threads, which have work while it waits
 * for the other ranks. */
static lmg_status wait_yielding(MPI_Request *rq, const char *call)
{
    for (;;) {
        int done = 0;
        int rc = MPI_Test(rq, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, call);
        if (done) return LMG_OK;
        sched_yield();
    }
}

/* One segment of at most 2^30 floats, reduced in a fixed order: chunk j of the segment goes
 * to rank j (all-to-all), which sums the ranks' copies from the last rank's to rank 0's,
 * and every rank gathers every chunk back. The same bandwidth as a ring all-reduce, and
 * each element's sum is (((x_{N-1} + x_{N-2}) + ...) + x_0) whatever the segment's length
 * or the MPI library: buckets of any size give the same bits, and so does one process that
 * adds N micro-batches' gradients in autodiff's order (the last one's first). */
static lmg_status allreduce_segment(float *x, int n, int mean)
{
    int N = world_size, r = world_rank;
    if (!counts && !(counts = malloc((size_t)N * 4 * sizeof *counts)))
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    int *cnt = counts, *dsp = counts + N, *rcnt = counts + 2 * N, *rdsp = counts + 3 * N;
    for (int j = 0; j < N; j++) {
        dsp[j] = (int)((int64_t)n * j / N);
        cnt[j] = (int)((int64_t)n * (j + 1) / N) - dsp[j];
    }
    int len = cnt[r];
    for (int j = 0; j < N; j++) rcnt[j] = len, rdsp[j] = j * len;
    if ((size_t)N * (size_t)len > scratch_cap) {
        float *b = realloc(scratch, (size_t)N * (size_t)len * sizeof *b);
        if (!b) return lmg_error(LMG_ERR_NOMEM, "out of memory for an all-reduce of %d floats", n);
        scratch = b;
        scratch_cap = (size_t)N * (size_t)len;
    }
    MPI_Request rq;
    MPI_TRY(MPI_Ialltoallv(x, cnt, dsp, MPI_FLOAT, scratch, rcnt, rdsp, MPI_FLOAT,
                           MPI_COMM_WORLD, &rq));
    LMG_TRY(wait_yielding(&rq, "MPI_Ialltoallv"));
    float *mine = x + dsp[r];
    for (int i = 0; i < len; i++) {
        float acc = scratch[(size_t)(N - 1) * (size_t)len + (size_t)i];
        for (int j = N - 2; j >= 0; j--) acc = acc + scratch[(size_t)j * (size_t)len + (size_t)i];
        /* sum / N rounds once (and is exact for a power of two): the mean of the gradients. */
        mine[i] = mean ? acc / (float)N : acc;
    }
    MPI_TRY(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, x, cnt, dsp, MPI_FLOAT, MPI_COMM_WORLD,
                            &rq));
    return wait_yielding(&rq, "MPI_Iallgatherv");
}

lmg_status lmg_dist_allreduce_f32(float *x, size_t n, int mean)
{
    if (world_size < 2 || n == 0) return LMG_OK;
    /* MPI counts are int: large tensors go in segments. */
    for (size_t at = 0; at < n;) {
        int c = n - at > (size_t)1 << 30 ? 1 << 30 : (int)(n - at);
        LMG_TRY(allreduce_segment(x + at, c, mean));
        at += (size_t)c;
    }
    return LMG_OK;
}

lmg_status lmg_dist_allreduce_f64(double *x, size_t n, int max)
{
    if (world_size < 2 || n == 0) return LMG_OK;
    if (n > (size_t)1 << 30) return lmg_error(LMG_ERR_ARG, "allreduce: %zu doubles at once", n);
    MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_DOUBLE, max ? MPI_MAX : MPI_SUM,
                          MPI_COMM_WORLD));
    return LMG_OK;
}

#else /* one rank only */

lmg_status lmg_dist_init(void)
{
    int n = launcher_size();
    if (n > 1)
        return lmg_error(LMG_ERR_UNSUPPORTED, "this lmg was built without MPI, so it cannot run "
                         "as one of %d ranks: install libopenmpi-dev and rebuild", n);
    return LMG_OK;
}
void lmg_dist_finalize(void) {}
void lmg_dist_abort(int code) { (void)code; }
int lmg_dist_rank(void) { return 0; }
int lmg_dist_size(void) { return 1; }
int lmg_dist_local_rank(void) { return 0; }
int lmg_dist_built(void) { return 0; }
int lmg_dist_any_thread(void) { return 1; }
lmg_status lmg_dist_allreduce_f32(float *x, size_t n, int mean)
{
    (void)x, (void)n, (void)mean;
    return LMG_OK;
}
lmg_status lmg_dist_allreduce_f64(double *x, size_t n, int max)
{
    (void)x, (void)n, (void)max;
    return LMG_OK;
}

#endif
