/* dist.c — MPI glue for data-parallel runs, compiled with `mpicc --showme:compile` flags
 * (LMG_HAVE_MPI) when build.ninja finds mpicc, else the one-rank version below. */
#include "dist.h"

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

lmg_status lmg_dist_allreduce_f32(float *x, size_t n, int mean)
{
    if (world_size < 2 || n == 0) return LMG_OK;
    /* MPI counts are int: large tensors go in chunks. */
    for (size_t at = 0; at < n;) {
        int c = n - at > (size_t)1 << 30 ? 1 << 30 : (int)(n - at);
        MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, x + at, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
        at += (size_t)c;
    }
    /* sum / N rounds once (and is exact for a power of two): the mean of the gradients. */
    if (mean)
        for (size_t i = 0; i < n; i++) x[i] /= (float)world_size;
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
