/* opencl_internal.h — what the files of the OpenCL backend share: the checking macro, the
 * per-device context and program cache, the prepared step and the recorder the op files use. */
#ifndef LMG_OPENCL_INTERNAL_H
#define LMG_OPENCL_INTERNAL_H

#include <CL/cl.h>

#include "opencl.h"

/* ---- errors (device.c) ------------------------------------------------------------- */

/* "CL_MEM_OBJECT_ALLOCATION_FAILURE", or "CL error -123" for a code it does not know. */
const char *lmg_cl_error_name(cl_int err);
/* Record "clFoo(...) failed at file:line: CL_NAME" and return the OpenCL code itself (a
 * negative OpenCL code passes through as lmg_status; codes outside -1..-999 become
 * LMG_ERR_DEVICE so they cannot be mistaken for lmgraph's own codes). */
lmg_status lmg_cl_fail(cl_int err, const char *call, const char *file, int line);

/* Every OpenCL call goes through one of these. */
#define LMG_CL_CHECK(call)                                                               \
    do {                                                                                 \
        cl_int lmg_cl_e_ = (call);                                                       \
        if (lmg_cl_e_ != CL_SUCCESS) return lmg_cl_fail(lmg_cl_e_, #call, __FILE__, __LINE__); \
    } while (0)
/* For the creators that report through an out-parameter: `call` passes &lmg_cl_err. */
#define LMG_CL_CREATE(dst, call)                                                         \
    do {                                                                                 \
        cl_int lmg_cl_err = CL_SUCCESS;                                                  \
        (dst) = (call);                                                                  \
        if (lmg_cl_err != CL_SUCCESS) return lmg_cl_fail(lmg_cl_err, #call, __FILE__, __LINE__); \
    } while (0)

/* ---- devices (device.c) ------------------------------------------------------------ */

/* One opened device: its context and the program of every kernel, made once per process
 * and kept until exit (execs on the same device share them). */
typedef struct lmg_cl_dev {
    int platform, device;
    cl_platform_id pid;
    cl_device_id id;
    cl_context ctx;
    cl_program prog;
    char name[128];
    cl_ulong global_mem, max_alloc, local_mem;
    size_t max_wg;
    int is_cpu;
    /* CL_KERNEL_WORK_GROUP_SIZE per kernel name, asked once (see lmg_cl_group_limit). */
    struct lmg_cl_wg { char name[48]; size_t size; } *wg;
    int n_wg;
    /* Matrix products by the host's BLAS through native kernels (hostgemm.c) instead of
     * CLBlast, and why that route was or was not taken. */
    int gemm_host;
    char gemm_route[320];
    /* Cross-entropy and AdamW by host code in native kernels (hostops.c; needs gemm_host). */
    int ops_host;
} lmg_cl_dev;

/* Open the device `spec` chooses (see lmg_opencl_pick_device), build the program if this is
 * the first use, and apply the CLBlast tuning once. Thread-safe. */
lmg_status lmg_cl_dev_open(const char *spec, lmg_cl_dev **out);

/* ---- the prepared step (opencl.c) -------------------------------------------------- */

/* Storage regions: the planner's six, then the step's scratch (reduction partials, sort
 * keys), which every node may reuse because the queue runs nodes in order, and aux. */
enum {
    LMG_CL_ARENA,
    LMG_CL_PARAMS,
    LMG_CL_GRADS,
    LMG_CL_STATE,
    LMG_CL_CONSTS,
    LMG_CL_INPUTS,
    LMG_CL_SCRATCH,
    LMG_CL_AUX,   /* constant tables the recorders make (uploaded once at init) */
    LMG_CL_NREGIONS
};

/* A place in device memory: a region and an offset in 4-byte elements. Kernels take a
 * buffer and an element offset, so every tensor of a step can live in one buffer. */
typedef struct lmg_cl_loc {
    int region;
    uint64_t off;
} lmg_cl_loc;

/* The shape walk every indexing kernel shares (mirrored by desc_t in kernels/common.cl):
 * a flat index over `dims` (row-major) maps to sum(coord[d] * st[k][d]) in operand k. */
#define LMG_CL_MAXR 8
typedef struct lmg_cl_desc {
    cl_int rank;
    cl_int dims[LMG_CL_MAXR];
    cl_int st[3][LMG_CL_MAXR];
} lmg_cl_desc;

typedef struct lmg_cl_arg {
    char kind;            /* b: buffer+offset, i u l U f, L: local bytes, S: step, d: desc */
    int region;
    uint64_t u;
    int64_t i;
    double f;
    lmg_cl_desc desc;
} lmg_cl_arg;

enum { LMG_CL_CMD_KERNEL, LMG_CL_CMD_GEMM, LMG_CL_CMD_NATIVE, LMG_CL_CMD_HOST,
       LMG_CL_CMD_HOST_WAIT };

/* LMG_CL_CMD_HOST: segments of `count[k]` floats read from `src[k]` into the command's own
 * span of the host buffer, then changed there by fn(data, total, arg) on the executor's
 * helper thread once the reads are done, while the queue goes on with what follows (one
 * collective over MPI for a bucket of AllReduce nodes). LMG_CL_CMD_HOST_WAIT, recorded just
 * before the first node that reads a result, writes the span back to `dst[k]` once fn has
 * returned: the queue waits there, and only there. */
typedef lmg_status (*lmg_cl_host_fn)(float *data, size_t count, int arg);
typedef struct lmg_cl_host {
    lmg_cl_host_fn fn;
    int nseg;
    lmg_cl_loc *src, *dst; /* malloc'd, nseg each */
    size_t *count;
    size_t total;
    int arg;
    size_t off;            /* the span's start in e->host_buf (elements) */
    int start;             /* HOST_WAIT: the index of its HOST command */
    cl_event done;         /* HOST, during a run: set once fn has returned */
} lmg_cl_host;

/* The helper thread of host round trips (collective.c). */
typedef struct lmg_cl_helper lmg_cl_helper;

/* The start of every native command's argument block (hostgemm.c): the one buffer that holds
 * every region (a cl_mem recorded, the runtime's host pointer when the function runs) and the
 * regions' starts in it, filled at each enqueue. */
typedef struct lmg_cl_native_hdr {
    void *mem;
    size_t base[8];
} lmg_cl_native_hdr;

typedef struct lmg_cl_gemm {
    int ta, tb;
    size_t m, n, k, batch;
    float alpha, beta;
    lmg_cl_loc a, b, c;
    size_t lda, ldb, ldc;
    size_t sa, sb, sc;    /* batch strides in elements (batch > 1 only) */
    size_t temp;          /* bytes of CLBlast scratch this product needs (batch 1) */
    int has_bias;         /* host BLAS, batch 1: C starts as `bias` [n] in every row (beta 1) */
    lmg_cl_loc bias;
} lmg_cl_gemm;

typedef struct lmg_cl_cmd {
    int kind;
    int node;             /* for error messages */
    char kname[48];
    cl_kernel k;
    int n_arg;
    lmg_cl_arg *args;     /* recorded; set on k once the buffers exist */
    int step_arg;         /* argument index of the run's step, or -1 */
    cl_uint dim;          /* 1 or 2 */
    size_t gws[2], lws[2]; /* lws[0] 0 = the runtime chooses */
    lmg_cl_gemm gemm;
    void (*native)(void *); /* LMG_CL_CMD_NATIVE: runs on the host with `nargs` (malloc'd, */
    void *nargs;            /* starting with an lmg_cl_native_hdr) */
    size_t nargs_size;
    lmg_cl_host host;       /* LMG_CL_CMD_HOST */
} lmg_cl_cmd;

struct lmg_exec {
    const lmg_graph *g;
    lmg_cl_dev *dev;
    cl_command_queue queue;
    cl_mem buf[LMG_CL_NREGIONS];
    /* With host BLAS: every region is a sub-buffer of `whole`, starting at element
     * region_base[r], so a native kernel needs one buffer (see hostgemm.c). */
    int gemm_host;
    cl_mem whole;
    /* Profiling (profile.c): one event per command of the current run, the table entry of
     * each command's node, this exec's id in the table and its runs so far. */
    cl_event *prof_ev;
    cl_event *prof_pre;    /* a marker before each CLBlast call: its event covers only its
                            * last kernel, the marker's end is where the call began */
    int *prof_entry;
    double *prof_cmd_ms;   /* per command: device time over this exec's timed runs */
    int prof_id;
    int prof_runs;
    size_t region_base[LMG_CL_NREGIONS];
    /* Attention by host BLAS too (with gemm_host; LMG_CL_ATTENTION=kernels turns it off). */
    int attention_host;
    int ops_host;          /* cross-entropy and AdamW by host code (dev->ops_host) */
    cl_mem gemm_temp;      /* CLBlast's scratch, shared by every product of the step */
    size_t gemm_temp_bytes;
    size_t region_elems[LMG_CL_NREGIONS];
    lmg_cl_loc *loc;       /* per value */
    int *alias;            /* per value: the value whose storage it shares, or -1 */
    lmg_cl_cmd *cmds;
    int n_cmds, cap_cmds;
    int cur_node;          /* the node being recorded */
    int consumed;          /* nodes its recorder took: 1, or more when it records a run of
                            * following nodes as one command (AdamW blocks, AllReduce) */
    size_t scratch_used, scratch_max; /* elements */
    uint32_t *aux;         /* the AUX region's contents */
    size_t n_aux, cap_aux; /* elements */
    int canary;            /* guard padding around every value (LMG_CL_CANARY=1) */
    int keep_all;          /* every value readable after a run (no reuse) */
    unsigned char *is_output; /* per value */
    struct lmg_plan *plan; /* the memory planner's layout (NULL in canary mode) */
    float *host_buf;       /* the host copies of LMG_CL_CMD_HOST commands, a span each */
    size_t host_cap;       /* elements */
    int *pending;          /* per value: the HOST command whose write-back it awaits, or -1 */
    lmg_cl_helper *helper; /* runs the HOST commands' functions; started by the first */
};

/* Recorder helpers for the op files. */
static inline const lmg_value *lmg_cl_value(const lmg_exec *e, int v) { return &e->g->values[v]; }
static inline int64_t lmg_cl_numel(const lmg_exec *e, int v)
{
    return lmg_shape_numel(&e->g->values[v].shape);
}
lmg_cl_loc lmg_cl_at(const lmg_exec *e, int value);
/* `elems` 4-byte elements of scratch for the node being recorded (8-byte aligned). */
lmg_cl_loc lmg_cl_scratch(lmg_exec *e, size_t elems);
/* A constant table of `elems` 4-byte words, uploaded once at init; {-1, 0} when out of memory. */
lmg_cl_loc lmg_cl_aux(lmg_exec *e, const uint32_t *data, size_t elems);
/* Record a launch of kernel `name` over `gws` work-items in groups of `lws` (0: any).
 * fmt, one letter per argument: b lmg_cl_loc (a buffer and its element offset), i int,
 * u unsigned, l int64_t, U uint64_t, f double (passed as float), L size_t local bytes,
 * S the run's step (no vararg), d const lmg_cl_desc *. */
lmg_status lmg_cl_kernel(lmg_exec *e, const char *name, size_t gws, size_t lws,
                         const char *fmt, ...);
/* The same over a 2-D range gx x gy (the runtime picks the groups): dimension 0 walks a
 * contiguous run, dimension 1 the rows, so per-row index work is not repeated per element. */
lmg_status lmg_cl_kernel2(lmg_exec *e, const char *name, size_t gx, size_t gy, const char *fmt,
                          ...);
lmg_status lmg_cl_record_gemm(lmg_exec *e, const lmg_cl_gemm *gm);
/* The largest work-group kernel `name` may run on this device (the kernel's own limit, which
 * register-hungry kernels make lower than the device's). */
size_t lmg_cl_group_limit(lmg_exec *e, const char *name);
/* A power-of-two work-group size for kernel `name` over one row of `n` elements (<= 256 on
 * GPUs, 32 on CPUs, and the kernel's limit). */
size_t lmg_cl_row_group(lmg_exec *e, const char *name, int64_t n);

/* Per-op recorders, one per ops.def entry (each referenced by the op table: none may be missing). */
#define LMG_OP(E, N, mi, ma, no, gr) lmg_status lmg_cl_op_##E(lmg_exec *, const lmg_node *);
#include "../../ops/ops.def"
#undef LMG_OP

/* Record a host round trip (LMG_CL_CMD_HOST) of nseg segments through a span of the
 * executor's host buffer; the arrays are copied. The caller marks the values it writes in
 * e->pending with the returned command index (-1: nothing to do, no command); the executor
 * records their write-back before the first node that reads one. */
lmg_status lmg_cl_record_host(lmg_exec *e, const char *name, lmg_cl_host_fn fn, int nseg,
                              const lmg_cl_loc *src, const lmg_cl_loc *dst, const size_t *count,
                              int arg, int *cmd);
/* Run time of the two halves (collective.c): the reads and the hand-over to the helper
 * thread, the write-back after it; then, after the run's last command, the wait for every
 * hand-over and (report) the first failure of the run's functions as the error. */
lmg_status lmg_cl_host_start(lmg_exec *e, lmg_cl_cmd *c, cl_event *ev);
lmg_status lmg_cl_host_finish(lmg_exec *e, lmg_cl_cmd *c, cl_event *ev);
lmg_status lmg_cl_host_drain(lmg_exec *e, int report);
void lmg_cl_host_free(lmg_exec *e);

/* Fill `count` 4-byte elements at `dst` with the bit pattern `bits`. */
lmg_status lmg_cl_fill(lmg_exec *e, lmg_cl_loc dst, int64_t count, uint32_t bits);
/* Descriptor helpers. Row-major strides of a shape: */
void lmg_cl_strides(const lmg_shape *s, int64_t *st);
/* The strides of `in` broadcast against `out` (numpy: aligned right, 0 on broadcast dims). */
void lmg_cl_bcast_strides(const lmg_shape *in, const lmg_shape *out, int64_t *st);
/* A walk over `dims` for `nops` operands with the given strides per dim: size-1 dims dropped,
 * mergeable neighbours merged, rank 0 when every operand is walked contiguously. */
void lmg_cl_desc_make(lmg_cl_desc *d, const lmg_shape *dims, int nops,
                      int64_t st[][LMG_MAX_DIMS]);
/* Split a walk of rank >= 1 into its last dim (length *inner, strides inner_st[k]) and the
 * rows before it: *rows of them, whose start offsets in each of the `nops` operands go into
 * an AUX table (operand k's at [k * rows + r]), so kernels need no index division. */
lmg_status lmg_cl_desc_rows(lmg_exec *e, const lmg_cl_desc *d, int nops, int64_t *inner,
                            int *inner_st, int64_t *rows, lmg_cl_loc *table);

/* ---- host BLAS on CPU devices (hostgemm.c) ---------------------------------------- */

/* Decide d->gemm_host: 1 only on a CPU device that runs native kernels and whose products by
 * the host's BLAS, on its buffers, match a double-precision reference (LMG_CL_GEMM=clblast
 * forbids, =host demands it). Fills d->gemm_route either way. */
lmg_status lmg_cl_hostgemm_choose(lmg_cl_dev *d);
/* Enqueue C = alpha op(A) op(B) + beta C as a native kernel calling cblas_sgemm; A, B and C
 * all lie in `whole` (g's offsets and strides in elements of it). `ev` may be NULL. */
lmg_status lmg_cl_hostgemm_enqueue(cl_command_queue q, cl_mem whole, const lmg_cl_gemm *g,
                                   cl_event *ev);

/* Record a host function run as a native kernel over the step's one buffer (only where
 * e->gemm_host): `args` (copied) starts with an lmg_cl_native_hdr; the function finds values
 * with lmg_cl_native_at. `name` shows in profiles. */
lmg_status lmg_cl_record_native(lmg_exec *e, const char *name, void (*fn)(void *),
                                const void *args, size_t size);
static inline float *lmg_cl_native_at(const lmg_cl_native_hdr *h, lmg_cl_loc l)
{
    return (float *)h->mem + h->base[l.region] + l.off;
}
/* Fused attention forward and backward by host BLAS per head (hostgemm.c). */
lmg_status lmg_cl_host_attention(lmg_exec *e, const lmg_node *n);
lmg_status lmg_cl_host_attention_grad(lmg_exec *e, const lmg_node *n);

/* Threads over independent pieces: up to `workers` (the caller included) take the next
 * piece from a shared counter, BLAS on one thread meanwhile (hostgemm.c). */
typedef void (*lmg_cl_par_fn)(void *ctx, int64_t piece, int worker);
void lmg_cl_par_for(int workers, int64_t pieces, lmg_cl_par_fn fn, void *ctx);
/* One worker per core (a CPU device's compute units are the host's cores), at most 8. */
int lmg_cl_host_cores(void);

/* ---- cross-entropy and AdamW by host code on CPU devices (hostops.c) --------------- */

/* Decide d->ops_host after d->gemm_host: 1 when native kernels run and the host code passes
 * its check against double-precision definitions (LMG_CL_HOST_OPS=off forbids); says which
 * route in d->gemm_route. */
lmg_status lmg_cl_hostops_choose(lmg_cl_dev *d);
lmg_status lmg_cl_host_cross_entropy(lmg_exec *e, const lmg_node *n);
lmg_status lmg_cl_host_cross_entropy_grad(lmg_exec *e, const lmg_node *n);
/* AdamW over `count` elements of p/g/m/v (segment k from starts[k], weight decay wd[k]). */
lmg_status lmg_cl_host_adamw(lmg_exec *e, const lmg_node *n, lmg_cl_loc p, lmg_cl_loc g,
                             lmg_cl_loc m, lmg_cl_loc v, int64_t count, int nseg,
                             const int64_t *starts, const double *wd);

/* Elementwise ops by host code, for operands walked like the output (n elements; y may be
 * an input's storage): Gelu (x) and GeluGrad (dy, x). elementwise.c's table picks them. */
typedef lmg_status (*lmg_cl_host_ew_fn)(lmg_exec *e, lmg_cl_loc y, const lmg_cl_loc *in,
                                        int64_t n);
lmg_status lmg_cl_host_gelu(lmg_exec *e, lmg_cl_loc y, const lmg_cl_loc *in, int64_t n);
lmg_status lmg_cl_host_gelu_grad(lmg_exec *e, lmg_cl_loc y, const lmg_cl_loc *in, int64_t n);

/* The strided copy of walk d (operand 0 y, 1 x; rank >= 1) as host code. */
lmg_status lmg_cl_host_copy(lmg_exec *e, const lmg_cl_desc *d, lmg_cl_loc y, lmg_cl_loc x);

/* y[k] = sum over R of x / div as host code: x [R, K] (cols) or [K, R] (rows). */
lmg_status lmg_cl_host_reduce(lmg_exec *e, lmg_cl_loc y, lmg_cl_loc x, int64_t R, int64_t K,
                              int cols, double div);

/* LayerNorm over R rows of C, and its gradient (R, C >= 1), as host code. */
lmg_status lmg_cl_host_layer_norm(lmg_exec *e, const lmg_node *n, int64_t R, int64_t C);
lmg_status lmg_cl_host_layer_norm_grad(lmg_exec *e, const lmg_node *n, int64_t R, int64_t C);

/* Softmax rows of the host attention over n keys, those from `end` on (causal) and those
 * whose mask (NULL: none) is 0 hidden: r becomes P, returning the log-sum-exp (-inf and P = 0
 * when no key is visible); and s (the scores again) becomes P = exp(s - lse) with
 * d = P (d - di) (dS from dP). */
float lmg_cl_host_softmax_row(float *r, int64_t n, int64_t end, const float *mask);
void lmg_cl_host_softmax_grad_row(float *s, float *d, int64_t n, int64_t end, const float *mask,
                                  float lse, float di);

/* ---- profiling (profile.c) --------------------------------------------------------- */

/* With lmg_opencl_profile_enabled(): add the recorded commands' nodes to the process table
 * (after record), and add each run's event times to it (after the run's clFinish). */
lmg_status lmg_cl_prof_init(lmg_exec *e);
lmg_status lmg_cl_prof_collect(lmg_exec *e);
void lmg_cl_prof_free(lmg_exec *e);

#endif
