/* opencl.h — the OpenCL backend's extras beyond lmg_backend_opencl: which ops have a kernel,
 * the matrix-product route, the BLAS kernels in use, and profiling; the device list and
 * choice are public (include/lmgraph.h). */
#ifndef LMG_OPENCL_H
#define LMG_OPENCL_H

#include "../backend.h"

#include <CL/cl.h>

/* Environment: LMG_DEVICE ("P:D") picks the device when no --device is given;
 * LMG_CL_BUILD_OPTIONS adds options to the kernels' clBuildProgram; LMG_CL_CANARY=1 (tests)
 * gives every value its own storage between guard words, checked after each run, and fills
 * computed values with NaN before the first, so out-of-bounds writes and unwritten elements
 * show up as errors. On CPU devices: LMG_CL_GEMM (auto, host, clblast) picks the matrix-product
 * route, LMG_CL_ATTENTION=kernels keeps the attention kernels off host BLAS,
 * LMG_CL_GEMM_SPLIT=0 leaves host products to OpenBLAS's own threads; LMG_CL_PROFILE=1 turns
 * profiling on (see below). */

/* 1 when the OpenCL backend can run `op` (a kernel or a CLBlast call on the device). */
int lmg_opencl_has_kernel(lmg_op op);

/* The kernel set OpenBLAS chose at load ("Prescott", "SkylakeX", ...), and a better one the
 * CPU supports when OpenBLAS fell back to generic kernels on a CPU newer than it knows (NULL
 * when its choice is fine). OPENBLAS_CORETYPE=<name> before the library loads selects it. */
const char *lmg_opencl_blas_core(void);
const char *lmg_opencl_blas_core_better(void);

/* How `e` runs matrix products: CLBlast, or the host's BLAS through native kernels, with the
 * reason ("host BLAS through native kernels (OpenBLAS Zen kernels, checked; ...)").
 * LMG_CL_GEMM=clblast forces CLBlast, =host demands the host route (an error where it cannot
 * be used or fails its check); the default takes the host route where it passes the check. */
const char *lmg_opencl_gemm_route(const lmg_exec *e);

/* Time C = op(A) op(B) (row-major, m x n x k) on `dev` through host BLAS in a native kernel,
 * as the backend runs it: median GFLOP/s over `reps` runs after one, by the wall clock and by
 * this process's CPU time over the compute units, checked against cblas_sgemm on the host
 * (*max_rel_err = max|C - ref| / max|ref|). */
lmg_status lmg_opencl_host_gemm_measure(cl_device_id dev, int ta, int tb, size_t m, size_t n,
                                        size_t k, int reps, double *gflops, double *gflops_cpu,
                                        double *max_rel_err);

/* Profiling: device time per node from OpenCL event profiling. Switched on by
 * lmg_opencl_profile_enable(1) (or LMG_CL_PROFILE=1) before a graph is prepared: its queue
 * then profiles, and each run adds every node's command times to one table per process
 * (all prepared graphs, alive or freed, until taken). Off, nothing is recorded or slowed. */
typedef struct lmg_opencl_prof_node {
    char node[96], op[32];
    char kernel[48];       /* the kernel that took most of the node's time, or "sgemm (host
                            * BLAS)" / "(CLBlast)"; its first kernel until a run is timed */
    double kernel_ms;      /* that kernel's device time over all runs */
    int exec;              /* which prepared graph (1, 2, ... in order of preparation) */
    int order;             /* the node's index in its graph */
    int commands;          /* launches per run */
    double flops;          /* per run: matrix products and attention only, else 0 */
    double bytes;          /* per run: each input and output value once (a lower bound) */
    long long calls;       /* runs that included this node */
    double total_ms;       /* device time over all runs */
    double last_ms;        /* in the latest run */
    double start_us, end_us; /* in the latest run, from its first command's start */
    long long run;         /* internal: the run the times above belong to */
} lmg_opencl_prof_node;

void lmg_opencl_profile_enable(int on);
int lmg_opencl_profile_enabled(void);
/* Zero the times recorded so far (a warm-up's), keeping the nodes. */
void lmg_opencl_profile_reset(void);
/* The table so far (malloc'd; free it), emptied: graphs prepared before record no more. */
lmg_status lmg_opencl_profile_take(lmg_opencl_prof_node **out, int *n);

#endif
