/* tune.h — CLBlast parameters per OpenCL device: apply the saved (or built-in) matrix-product
 * parameters at device init, and a bounded search that validates every candidate on the host. */
#ifndef LMG_CL_TUNE_H
#define LMG_CL_TUNE_H

#include "../../graph/lmg.h"

#include <CL/cl.h>

/* Apply the best known CLBlast parameters for `dev`, once per device per process: the cache
 * file of a finished search (lmg_cl_tune_cache_path) if there is one, else the built-in set
 * for PoCL CPU devices, else nothing (CLBlast's own database). A set is checked once on a
 * small product against a host reference; a wrong one is replaced by CLBlast's defaults. */
lmg_status lmg_cl_tune_apply(cl_device_id dev);

/* lmg_cl_tune_apply on a thread of its own: call start before building the backend's own
 * programs and finish (which waits, and returns apply's status) before the first matrix
 * product, so that CLBlast's program build for the check overlaps them on another core.
 * finish without start applies synchronously. */
lmg_status lmg_cl_tune_start(cl_device_id dev);
lmg_status lmg_cl_tune_finish(cl_device_id dev);

/* What lmg_cl_tune_apply did for `dev` ("cache <path>", "built-in PoCL set", "CLBlast
 * defaults", "built-in set failed validation: CLBlast defaults", ...); "not applied" before. */
const char *lmg_cl_tune_state(cl_device_id dev);

/* $XDG_CACHE_HOME/lmgraph/clblast-<hash>.txt, else ~/.cache/lmgraph/...; the hash covers the
 * platform, device name and version, and driver version. */
lmg_status lmg_cl_tune_cache_path(cl_device_id dev, char *buf, size_t n);

typedef void (*lmg_cl_tune_log_fn)(void *ctx, const char *line);

typedef struct lmg_cl_tune_opts {
    int max_candidates;       /* 0: the whole built-in list */
    int reps;                 /* timed runs per shape (0: 3) */
    /* The workload: the products of one run of a graph (lmg_graph_matmul_shapes), timed as
     * count x the median per shape; the first is the probe that drops slow sets early.
     * Required: a search without products is an error. */
    const lmg_matmul_shape *shapes;
    int n_shapes;
    const char *workload;     /* what the products are, for the cache file ("graph 'g.pb'") */
    const char *cache_path;   /* NULL: lmg_cl_tune_cache_path */
    int save;                 /* write the best set to the cache file */
    lmg_cl_tune_log_fn log;   /* one line per candidate (may be NULL) */
    void *log_ctx;
} lmg_cl_tune_opts;

typedef struct lmg_cl_tune_result {
    int tried, wrong, failed;  /* candidates run; rejected by the host check; CLBlast errors */
    int dropped;               /* far slower than the best at the probe shape: not timed fully */
    double baseline_ms;        /* one run of the workload's products with the parameters in
                                  force before the search */
    double best_ms;            /* the workload with the best set (== baseline when none beat it) */
    double baseline_gflops, best_gflops; /* the same workload as GFLOP/s */
    char best[768];            /* the winning set as cache-file lines ("" = baseline kept) */
} lmg_cl_tune_result;

/* Try a documented list of Xgemm / XgemmDirect / GemmRoutine parameter sets on `dev`, each
 * checked against cblas_sgemm at every workload shape (results, and guard bytes around C),
 * timed over the workload, and keep the fastest correct one (applied on return; saved when
 * opts->save). Each new set costs one CLBlast program build (10-25 s on PoCL). The backend
 * knows no model: the caller gives the products (opts->shapes) of the graph it tunes for. */
lmg_status lmg_cl_tune_search(cl_device_id dev, const lmg_cl_tune_opts *opts,
                              lmg_cl_tune_result *res);

/* Time CLBlast's row-major Sgemm for one shape on `dev` with the parameters in force: median
 * GFLOP/s over `reps` runs after one untimed run (which builds the program), by the wall
 * clock and by this process's CPU time over the compute units (what an idle machine would
 * show on a CPU device; may be NULL); the result is checked against cblas_sgemm and
 * *max_rel_err gets max|C - ref| / max|ref|. */
lmg_status lmg_cl_gemm_measure(cl_device_id dev, const lmg_matmul_shape *s, int reps,
                               double *gflops, double *gflops_cpu, double *max_rel_err);

/* Override CLBlast's parameters for `dev` with a set in the cache-file form (one line per
 * kernel: "<Kernel> NAME=value ..."), unchecked: for benchmarks that compare sets. */
lmg_status lmg_cl_tune_override(cl_device_id dev, const char *set);
/* The sets this file knows: "defaults" (CLBlast 1.5's own values on PoCL CPU devices, valid on
 * any device), "pocl" (the built-in PoCL set). NULL for another name. */
const char *lmg_cl_tune_known_set(const char *name);

#endif
