/* hostgemm.c — matrix products and fused attention on CPU OpenCL devices by the host's BLAS
 * (OpenBLAS) on the device's own buffers through clEnqueueNativeKernel, after a check. */
#include "opencl_internal.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

/* ---- threads over independent pieces ------------------------------------------------ */

/* Up to PAR_WORKERS threads (the caller and helpers) take the next piece from a shared
 * counter until none is left, so a thread the machine does not schedule holds up one piece,
 * not a fixed share. BLAS runs on one thread per piece meanwhile; a helper that cannot start
 * leaves its pieces to the others. The caller waits for the pieces, not for the helpers: on
 * a loaded machine a new thread may first run milliseconds later, which joining it cost
 * every small command (GPT-S's 69 ReduceSums went from 6 to 28 ms). Helpers are detached
 * and the job is freed by whoever leaves it last; a late helper finds no piece and exits
 * without touching ctx. */
#define PAR_WORKERS 8

typedef struct par_job {
    lmg_cl_par_fn fn;
    void *ctx;
    int64_t pieces;
    _Atomic int64_t next, done;
    _Atomic int refs;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} par_job;

typedef struct par_worker {
    par_job *job;
    int id;
} par_worker;

static void par_release(par_job *j)
{
    if (--j->refs > 0) return;
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

static void par_take(par_job *j, int id)
{
    for (int64_t i; (i = j->next++) < j->pieces;) {
        j->fn(j->ctx, i, id);
        if (++j->done == j->pieces) {
            pthread_mutex_lock(&j->mu);
            pthread_cond_broadcast(&j->cv);
            pthread_mutex_unlock(&j->mu);
        }
    }
}

static void *par_work(void *p)
{
    par_worker w = *(par_worker *)p;
    free(p);
    par_take(w.job, w.id);
    par_release(w.job);
    return NULL;
}

/* Without memory for the job: every piece on the calling thread. */
static void par_serial(int64_t pieces, lmg_cl_par_fn fn, void *ctx)
{
    for (int64_t i = 0; i < pieces; i++) fn(ctx, i, 0);
}

void lmg_cl_par_for(int workers, int64_t pieces, lmg_cl_par_fn fn, void *ctx)
{
    if (workers > PAR_WORKERS) workers = PAR_WORKERS;
    if (workers > pieces) workers = (int)pieces;
    if (workers < 1) workers = 1;
    int n = openblas_get_num_threads();
    if (n > 1) openblas_set_num_threads(1);
    par_job *j = workers > 1 ? calloc(1, sizeof *j) : NULL;
    if (!j) {
        par_serial(pieces, fn, ctx);
        if (n > 1) openblas_set_num_threads(n);
        return;
    }
    j->fn = fn, j->ctx = ctx, j->pieces = pieces, j->refs = 1;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    pthread_attr_t attr;
    int detach = pthread_attr_init(&attr) == 0;
    if (detach) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (int i = 1; i < workers && detach; i++) {
        par_worker *w = malloc(sizeof *w);
        if (!w) break;
        w->job = j, w->id = i;
        j->refs++;
        pthread_t t;
        if (pthread_create(&t, &attr, par_work, w) != 0) {
            j->refs--;
            free(w);
            break;
        }
    }
    if (detach) pthread_attr_destroy(&attr);
    par_take(j, 0);
    pthread_mutex_lock(&j->mu);
    while (j->done < j->pieces) pthread_cond_wait(&j->cv, &j->mu);
    pthread_mutex_unlock(&j->mu);
    par_release(j);
    if (n > 1) openblas_set_num_threads(n);
}

/* One worker per core (a CPU device's compute units are the host's cores). */
int lmg_cl_host_cores(void)
{
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c < 1 ? 1 : c > PAR_WORKERS ? PAR_WORKERS : (int)c;
}

/* What a native kernel receives: one buffer (a cl_mem on entry, replaced by the runtime with
 * a host pointer to its start, as mem_list/args_mem_loc ask) and the product. One buffer,
 * because PoCL 3.1 sorts mem_list (by creation) but not args_mem_loc: with two or more
 * buffers the pointers land in the wrong places, and a buffer listed twice is translated
 * once. The step's regions are sub-buffers of that one buffer on this route. */
typedef struct hg_args {
    void *mem;
    lmg_cl_gemm g;
} hg_args;

/* Products split into row (or column) blocks over par_for's threads instead of OpenBLAS's own
 * threads, which divide the work in fixed shares: on a busy machine one descheduled thread
 * then stalls the whole product (LMG_CL_GEMM_SPLIT=0 keeps OpenBLAS's threading). */
static int gemm_split = 1;

typedef struct hg_split {
    const float *a, *b, *bias;
    float *c;
    const lmg_cl_gemm *g;
    int along_n;    /* blocks of C's columns (else rows) */
    size_t block, extent;
} hg_split;

/* C[r0..r1, c0..c1) = bias[c0..c1) ahead of a product with beta 1 (a bias Add folded in). */
static void hg_bias(const hg_split *x, size_t r0, size_t r1, size_t c0, size_t c1)
{
    if (!x->bias) return;
    for (size_t i = r0; i < r1; i++)
        memcpy(x->c + i * x->g->ldc + c0, x->bias + c0, (c1 - c0) * sizeof *x->c);
}

static void hg_piece(void *ctx, int64_t piece, int worker)
{
    (void)worker;
    const hg_split *x = ctx;
    const lmg_cl_gemm *g = x->g;
    enum CBLAS_TRANSPOSE ta = g->ta ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = g->tb ? CblasTrans : CblasNoTrans;
    if (g->batch > 1) { /* one matrix of the batch per piece */
        size_t i = (size_t)piece;
        cblas_sgemm(CblasRowMajor, ta, tb, (blasint)g->m, (blasint)g->n, (blasint)g->k, g->alpha,
                    x->a + i * g->sa, (blasint)g->lda, x->b + i * g->sb, (blasint)g->ldb, g->beta,
                    x->c + i * g->sc, (blasint)g->ldc);
        return;
    }
    size_t lo = (size_t)piece * x->block;
    size_t len = x->extent - lo < x->block ? x->extent - lo : x->block;
    if (x->along_n) hg_bias(x, 0, g->m, lo, lo + len);
    else hg_bias(x, lo, lo + len, 0, g->n);
    if (x->along_n)
        cblas_sgemm(CblasRowMajor, ta, tb, (blasint)g->m, (blasint)len, (blasint)g->k, g->alpha,
                    x->a, (blasint)g->lda, x->b + (g->tb ? lo * g->ldb : lo), (blasint)g->ldb,
                    g->beta, x->c + lo, (blasint)g->ldc);
    else
        cblas_sgemm(CblasRowMajor, ta, tb, (blasint)len, (blasint)g->n, (blasint)g->k, g->alpha,
                    x->a + (g->ta ? lo : lo * g->lda), (blasint)g->lda, x->b, (blasint)g->ldb,
                    g->beta, x->c + lo * g->ldc, (blasint)g->ldc);
}

static void CL_CALLBACK hg_run(void *p)
{
    const hg_args *x = p;
    const lmg_cl_gemm *g = &x->g;
    const float *base = x->mem;
    hg_split sp = {base + g->a.off, base + g->b.off, g->has_bias ? base + g->bias.off : NULL,
                   (float *)x->mem + g->c.off, g, 0, 0, 0};
    enum CBLAS_TRANSPOSE ta = g->ta ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = g->tb ? CblasTrans : CblasNoTrans;
    size_t batch = g->batch ? g->batch : 1;
    int workers = gemm_split ? lmg_cl_host_cores() : 1;
    double flops = 2.0 * (double)g->m * (double)g->n * (double)g->k * (double)batch;
    if (workers > 1 && batch > 1) {
        lmg_cl_par_for(workers, (int64_t)batch, hg_piece, &sp);
        return;
    }
    /* Blocks of at least 64 rows or columns, about three per worker (some balance, and B or A
     * is packed once per block). Small products stay whole. */
    sp.along_n = g->n > g->m;
    sp.extent = sp.along_n ? g->n : g->m;
    size_t pieces = (size_t)workers * 3;
    sp.block = (sp.extent + pieces - 1) / pieces;
    sp.block = (sp.block + 15) / 16 * 16;
    if (sp.block < 64) sp.block = 64;
    if (workers > 1 && flops >= 16e6 && sp.extent > sp.block) {
        lmg_cl_par_for(workers, (int64_t)((sp.extent + sp.block - 1) / sp.block), hg_piece, &sp);
        return;
    }
    hg_bias(&sp, 0, g->m, 0, g->n); /* (batch 1 when there is a bias) */
    for (size_t i = 0; i < batch; i++)
        cblas_sgemm(CblasRowMajor, ta, tb, (blasint)g->m, (blasint)g->n, (blasint)g->k, g->alpha,
                    sp.a + i * g->sa, (blasint)g->lda, sp.b + i * g->sb, (blasint)g->ldb, g->beta,
                    sp.c + i * g->sc, (blasint)g->ldc);
}

lmg_status lmg_cl_hostgemm_enqueue(cl_command_queue q, cl_mem whole, const lmg_cl_gemm *g,
                                   cl_event *ev)
{
    hg_args x;
    memset(&x, 0, sizeof x);
    x.mem = whole;
    x.g = *g;
    const void *loc = &x.mem;
    LMG_CL_CHECK(clEnqueueNativeKernel(q, hg_run, &x, sizeof x, 1, &whole, &loc, 0, NULL, ev));
    return LMG_OK;
}

const char *lmg_opencl_blas_core(void)
{
    const char *c = openblas_get_corename();
    return c ? c : "unknown";
}

/* OpenBLAS 0.3.21 falls back to generic kernels on CPUs newer than it knows (Prescott on
 * recent Xeons); the CPU's own features say which of its kernel sets would run. */
const char *lmg_opencl_blas_core_better(void)
{
    static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    static const char *const avx2[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake",
                                        "SapphireRapids", "Excavator"};
    const char *core = lmg_opencl_blas_core();
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
        for (size_t i = 0; i < sizeof avx512 / sizeof *avx512; i++)
            if (strcasecmp(core, avx512[i]) == 0) return NULL;
        return "SkylakeX";
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        for (size_t i = 0; i < sizeof avx2 / sizeof *avx2; i++)
            if (strcasecmp(core, avx2[i]) == 0) return NULL;
        return "Haswell";
    }
    return NULL;
}

/* ---- the check --------------------------------------------------------------------- */

/* C = op(A) op(B) in double, the plain definition. */
static void ref_gemm(const lmg_cl_gemm *g, const float *buf, double *out)
{
    for (size_t bt = 0; bt < g->batch; bt++)
        for (size_t i = 0; i < g->m; i++)
            for (size_t j = 0; j < g->n; j++) {
                double s = 0;
                for (size_t p = 0; p < g->k; p++) {
                    double av = g->ta ? buf[g->a.off + bt * g->sa + p * g->lda + i]
                                      : buf[g->a.off + bt * g->sa + i * g->lda + p];
                    double bv = g->tb ? buf[g->b.off + bt * g->sb + j * g->ldb + p]
                                      : buf[g->b.off + bt * g->sb + p * g->ldb + j];
                    s += av * bv;
                }
                out[(bt * g->m + i) * g->n + j] = s + (g->has_bias ? buf[g->bias.off + j] : 0.0);
            }
}

#define GUARD 0x7FA5A5A5u

/* One product laid out like the arena lays out a step's tensors: A, B and C in ONE buffer at
 * odd offsets, leading dimensions above the minimum, guard words everywhere else. Sets *ok
 * to 0 (with a reason) when the result or a guard word is wrong. */
static lmg_status check_one(cl_context ctx, cl_command_queue q, int ta, int tb, size_t m,
                            size_t n, size_t k, size_t batch, int bias, int *ok, char *why,
                            size_t nwhy)
{
    lmg_cl_gemm g = {0};
    g.ta = ta, g.tb = tb, g.m = m, g.n = n, g.k = k, g.batch = batch;
    g.alpha = 1.0f, g.beta = bias ? 1.0f : 0.0f, g.has_bias = bias; /* a bias Add folded in */
    size_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    g.lda = ac + 3, g.ldb = bc + 1, g.ldc = n + 2;
    size_t asz = ar * g.lda, bsz = br * g.ldb, csz = m * g.ldc;
    g.sa = batch > 1 ? asz + 5 : 0, g.sb = batch > 1 ? bsz + 7 : 0, g.sc = batch > 1 ? csz + 1 : 0;
    g.a.off = 13;
    g.b.off = g.a.off + batch * (asz + 5) + 11;
    g.bias.off = g.b.off + batch * (bsz + 7) + 5;
    g.c.off = g.bias.off + (bias ? n : 0) + 17;
    size_t total = g.c.off + batch * (csz + 1) + 19;
    float *h = malloc(total * 4), *out = malloc(total * 4);
    double *ref = malloc(batch * m * n * sizeof *ref);
    lmg_status s = LMG_OK;
    cl_mem buf = NULL;
    if (!h || !out || !ref) {
        s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        goto done;
    }
    uint32_t seed = 12345u + (uint32_t)(m * 31 + n * 7 + k);
    for (size_t i = 0; i < total; i++) {
        uint32_t bits = GUARD;
        memcpy(&h[i], &bits, 4);
    }
    /* Operand elements are small random values; padding between rows keeps the guard NaN,
     * so a product that reads outside its matrices turns NaN. */
    for (size_t bt = 0; bt < batch; bt++) {
        for (size_t r = 0; r < ar; r++)
            for (size_t c = 0; c < ac; c++) {
                seed = seed * 1664525u + 1013904223u;
                h[g.a.off + bt * g.sa + r * g.lda + c] = (float)((seed >> 9) % 2001) / 1000.0f - 1;
            }
        for (size_t r = 0; r < br; r++)
            for (size_t c = 0; c < bc; c++) {
                seed = seed * 1664525u + 1013904223u;
                h[g.b.off + bt * g.sb + r * g.ldb + c] = (float)((seed >> 9) % 2001) / 1000.0f - 1;
            }
    }
    for (size_t j = 0; bias && j < n; j++) {
        seed = seed * 1664525u + 1013904223u;
        h[g.bias.off + j] = (float)((seed >> 9) % 2001) / 1000.0f - 1;
    }
    ref_gemm(&g, h, ref);
    /* As in a step: the operands arrive through one sub-buffer (a region), the product runs
     * on the parent, and the result is read through another sub-buffer. */
    size_t align = 4096, split = (g.c.off * 4 + align - 1) / align * align;
    size_t bytes = split + total * 4;
    cl_int err = CL_SUCCESS;
    cl_mem sub[2] = {NULL, NULL};
    buf = clCreateBuffer(ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err == CL_SUCCESS) {
        cl_buffer_region r0 = {0, split}, r1 = {split, bytes - split};
        sub[0] = clCreateSubBuffer(buf, 0, CL_BUFFER_CREATE_TYPE_REGION, &r0, &err);
        if (err == CL_SUCCESS)
            sub[1] = clCreateSubBuffer(buf, 0, CL_BUFFER_CREATE_TYPE_REGION, &r1, &err);
    }
    /* Operands in the first region, C (and everything after it) in the second. */
    size_t cw = total - g.c.off;
    if (err == CL_SUCCESS)
        err = clEnqueueWriteBuffer(q, sub[0], CL_TRUE, 0, g.c.off * 4, h, 0, NULL, NULL);
    if (err == CL_SUCCESS)
        err = clEnqueueWriteBuffer(q, sub[1], CL_TRUE, 0, cw * 4, h + g.c.off, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        s = lmg_cl_fail(err, "clCreateBuffer/clEnqueueWriteBuffer", __FILE__, __LINE__);
        goto release;
    }
    lmg_cl_gemm run = g;
    run.c.off = split / 4;
    s = lmg_cl_hostgemm_enqueue(q, buf, &run, NULL);
    if (s != LMG_OK) goto release;
    err = clEnqueueReadBuffer(q, sub[0], CL_TRUE, 0, g.c.off * 4, out, 0, NULL, NULL);
    if (err == CL_SUCCESS)
        err = clEnqueueReadBuffer(q, sub[1], CL_TRUE, 0, cw * 4, out + g.c.off, 0, NULL, NULL);
    if (err != CL_SUCCESS) s = lmg_cl_fail(err, "clEnqueueReadBuffer", __FILE__, __LINE__);
release:
    for (int i = 0; i < 2; i++)
        if (sub[i]) clReleaseMemObject(sub[i]);
    if (s != LMG_OK) goto done;
    double maxref = 0, maxerr = 0;
    for (size_t bt = 0; bt < batch; bt++)
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                double r = ref[(bt * m + i) * n + j];
                double d = fabs((double)out[g.c.off + bt * g.sc + i * g.ldc + j] - r);
                if (fabs(r) > maxref) maxref = fabs(r);
                if (!(d <= maxerr)) maxerr = isnan(d) ? INFINITY : d > maxerr ? d : maxerr;
                /* The element is checked; mark it so the guard sweep below skips it. */
                memcpy(&out[g.c.off + bt * g.sc + i * g.ldc + j], &h[g.c.off + bt * g.sc + i * g.ldc + j], 4);
            }
    size_t bad = 0;
    for (size_t i = 0; i < total; i++)
        if (memcmp(&out[i], &h[i], 4) != 0) bad++;
    const char *t = ta ? (tb ? "TT" : "TN") : (tb ? "NT" : "NN");
    if (!(maxerr <= 1e-5 * (maxref > 1 ? maxref : 1) * (double)(k > 16 ? k : 16) / 16)) {
        *ok = 0;
        snprintf(why, nwhy, "%s %zux%zux%zu batch %zu%s: max error %.3g (max |C| %.3g)", t, m, n,
                 k, batch, bias ? " with a bias" : "", maxerr, maxref);
    } else if (bad) {
        *ok = 0;
        snprintf(why, nwhy, "%s %zux%zux%zu batch %zu: %zu words outside C changed", t, m, n, k,
                 batch, bad);
    }
done:
    if (buf) clReleaseMemObject(buf);
    free(h);
    free(out);
    free(ref);
    return s;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* GFLOP/s of the route at 512 x 1024 x 256 (a GPT-S-sized product), best of 3 after one. */
static lmg_status time_route(cl_context ctx, cl_command_queue q, double *gflops)
{
    lmg_cl_gemm g = {0};
    g.m = 512, g.n = 1024, g.k = 256, g.batch = 1, g.alpha = 1, g.beta = 0;
    g.lda = g.k, g.ldb = g.n, g.ldc = g.n;
    g.b.off = g.m * g.k;
    g.c.off = g.b.off + g.k * g.n;
    size_t total = g.c.off + g.m * g.n;
    cl_int err = CL_SUCCESS;
    cl_mem buf = clCreateBuffer(ctx, CL_MEM_READ_WRITE, total * 4, NULL, &err);
    LMG_CL_CHECK(err);
    float zero = 0;
    err = clEnqueueFillBuffer(q, buf, &zero, 4, 0, total * 4, 0, NULL, NULL);
    double best = 1e30;
    for (int r = 0; r < 4 && err == CL_SUCCESS; r++) {
        double t0 = now_s();
        lmg_status s = lmg_cl_hostgemm_enqueue(q, buf, &g, NULL);
        if (s != LMG_OK) {
            clReleaseMemObject(buf);
            return s;
        }
        err = clFinish(q);
        double t = now_s() - t0;
        if (r > 0 && t < best) best = t;
    }
    clReleaseMemObject(buf);
    LMG_CL_CHECK(err);
    *gflops = 2.0 * (double)(g.m * g.n * g.k) / best * 1e-9;
    return LMG_OK;
}

lmg_status lmg_cl_hostgemm_choose(lmg_cl_dev *d)
{
    const char *split = getenv("LMG_CL_GEMM_SPLIT");
    gemm_split = !(split && strcmp(split, "0") == 0);
    const char *env = getenv("LMG_CL_GEMM");
    int force_host = env && strcmp(env, "host") == 0;
    d->gemm_host = 0;
    if (env && *env && strcmp(env, "auto") != 0 && strcmp(env, "host") != 0 &&
        strcmp(env, "clblast") != 0)
        return lmg_error(LMG_ERR_ARG, "opencl: LMG_CL_GEMM is '%s'; it takes auto, host or "
                         "clblast", env);
    if (env && strcmp(env, "clblast") == 0) {
        snprintf(d->gemm_route, sizeof d->gemm_route, "CLBlast (LMG_CL_GEMM=clblast)");
        return LMG_OK;
    }
    cl_device_exec_capabilities caps = 0;
    clGetDeviceInfo(d->id, CL_DEVICE_EXECUTION_CAPABILITIES, sizeof caps, &caps, NULL);
    /* A native kernel runs on the host, so only a CPU device's buffers are host memory that
     * the host's BLAS can work on at the speed of the device itself. */
    const char *no = !d->is_cpu ? "not a CPU device"
                     : !(caps & CL_EXEC_NATIVE_KERNEL) ? "the device runs no native kernels"
                                                       : NULL;
    if (no) {
        if (force_host)
            return lmg_error(LMG_ERR_UNSUPPORTED, "opencl: LMG_CL_GEMM=host but %s: %s", d->name,
                             no);
        snprintf(d->gemm_route, sizeof d->gemm_route, "CLBlast (host BLAS: %s)", no);
        return LMG_OK;
    }
    cl_int err = CL_SUCCESS;
    cl_command_queue q = clCreateCommandQueue(d->ctx, d->id, 0, &err);
    LMG_CL_CHECK(err);
    /* Every transpose, odd sizes, and a batch: what the step's MatMul recorder can ask. */
    static const size_t shapes[][5] = {
        {0, 0, 37, 29, 41}, {0, 1, 33, 45, 19}, {1, 0, 21, 40, 67}, {1, 1, 17, 23, 130},
        {0, 0, 130, 70, 256}, {0, 1, 64, 64, 3},
        /* large enough to be split in row blocks, and in column blocks (hg_run) */
        {0, 0, 200, 150, 300}, {1, 0, 210, 90, 420}, {1, 1, 90, 260, 400}, {0, 1, 70, 333, 350},
    };
    int ok = 1;
    char why[160] = "";
    lmg_status s = LMG_OK;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes && ok && s == LMG_OK; i++)
        s = check_one(d->ctx, q, (int)shapes[i][0], (int)shapes[i][1], shapes[i][2],
                      shapes[i][3], shapes[i][4], 1, 0, &ok, why, sizeof why);
    if (ok && s == LMG_OK) s = check_one(d->ctx, q, 0, 1, 19, 23, 16, 3, 0, &ok, why, sizeof why);
    /* A bias folded in (beta 1), in row blocks and in column blocks. */
    if (ok && s == LMG_OK)
        s = check_one(d->ctx, q, 0, 0, 200, 150, 300, 1, 1, &ok, why, sizeof why);
    if (ok && s == LMG_OK)
        s = check_one(d->ctx, q, 0, 1, 70, 333, 350, 1, 1, &ok, why, sizeof why);
    double gf = 0;
    if (ok && s == LMG_OK) s = time_route(d->ctx, q, &gf);
    clReleaseCommandQueue(q);
    if (s != LMG_OK) {
        if (force_host) return lmg_error_prefix(s, "opencl: checking host BLAS on %s", d->name);
        snprintf(d->gemm_route, sizeof d->gemm_route, "CLBlast (host BLAS failed: %s)",
                 lmg_last_error());
        return LMG_OK;
    }
    if (!ok) {
        if (force_host)
            return lmg_error(LMG_ERR_DEVICE, "opencl: LMG_CL_GEMM=host but host BLAS on %s "
                             "gives wrong results: %s", d->name, why);
        snprintf(d->gemm_route, sizeof d->gemm_route, "CLBlast (host BLAS rejected: %s)", why);
        return LMG_OK;
    }
    d->gemm_host = 1;
    snprintf(d->gemm_route, sizeof d->gemm_route,
             "host BLAS through native kernels (OpenBLAS %s kernels, checked; %.0f GFLOP/s at "
             "512x1024x256)", lmg_opencl_blas_core(), gf);
    return LMG_OK;
}

/* ---- attention by host BLAS --------------------------------------------------------- */

_Static_assert(sizeof ((lmg_cl_native_hdr *)0)->base / sizeof(size_t) == LMG_CL_NREGIONS,
               "native header regions out of step");

/* One fused attention node: per (batch, head), scores by one product, a row softmax in
 * place, the output by a second product; backward recomputes P from the saved log-sum-exp.
 * The [T, S] score and gradient tiles live in the step's scratch. */
typedef struct att_args {
    lmg_cl_native_hdr h;
    int64_t B, H, T, S, D;
    int causal, has_mask;
    int vexp;                              /* softmax rows by hostops.c's checked exp */
    int workers;                           /* threads over the heads, each with its scratch */
    float scale;
    lmg_cl_loc out, lse, q, k, v, mask, sc; /* forward */
    lmg_cl_loc dq, dk, dv, g, o;           /* backward (q, k, v, lse, mask as above) */
} att_args;

/* Key j is visible to query i of batch b (as the reference backend defines it). */
static int att_visible(const att_args *a, const float *mask, int64_t b, int64_t i, int64_t j)
{
    if (a->causal && j > i + a->S - a->T) return 0;
    return !mask || mask[b * a->S + j] != 0.0f;
}

/* The first key query i may not see (S when it sees them all): causal hides j > i + S - T. */
static int64_t att_end(const att_args *a, int64_t i)
{
    int64_t e = a->causal ? i + a->S - a->T + 1 : a->S;
    return e < 0 ? 0 : e > a->S ? a->S : e;
}

/* S = scale * Q K^T for head (b, h) into s [T, S]. */
static void att_scores(const att_args *a, const float *q, const float *k, float *s)
{
    if (a->S == 0) return;
    if (a->D == 0) {
        memset(s, 0, (size_t)(a->T * a->S) * sizeof *s);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)a->T, (blasint)a->S,
                (blasint)a->D, a->scale, q, (blasint)a->D, k, (blasint)a->D, 0.0f, s,
                (blasint)a->S);
}

/* Heads run in parallel (par_for), each head's products on one BLAS thread: on more, every
 * small product (T x S x D) would cost a thread hand-off, which under load took longer than
 * the product (a GPT-S step's attention backward went from 50 ms to 4.6 s on a machine at
 * load 14). */
typedef void (*att_head_fn)(const att_args *a, int64_t bh, float *scratch);

typedef struct att_job {
    const att_args *a;
    att_head_fn fn;
    size_t per; /* scratch floats per worker */
} att_job;

static void att_piece(void *ctx, int64_t bh, int worker)
{
    const att_job *j = ctx;
    j->fn(j->a, bh, lmg_cl_native_at(&j->a->h, j->a->sc) + (size_t)worker * j->per);
}

static void att_run(const att_args *a, att_head_fn fn, size_t per)
{
    att_job j = {a, fn, per};
    lmg_cl_par_for(a->workers, a->B * a->H, att_piece, &j);
}

static void att_fwd_head(const att_args *a, int64_t bh, float *s)
{
    const lmg_cl_native_hdr *h = &a->h;
    const float *mask = a->has_mask ? lmg_cl_native_at(h, a->mask) : NULL;
    int64_t b = bh / a->H;
    const float *q = lmg_cl_native_at(h, a->q) + bh * a->T * a->D;
    const float *k = lmg_cl_native_at(h, a->k) + bh * a->S * a->D;
    const float *v = lmg_cl_native_at(h, a->v) + bh * a->S * a->D;
    float *o = lmg_cl_native_at(h, a->out) + bh * a->T * a->D;
    float *lse = lmg_cl_native_at(h, a->lse) + bh * a->T;
    att_scores(a, q, k, s);
    for (int64_t i = 0; a->vexp && i < a->T; i++) /* vectorised rows (hostops.c) */
        lse[i] = lmg_cl_host_softmax_row(s + i * a->S, a->S, att_end(a, i),
                                         mask ? mask + b * a->S : NULL);
    for (int64_t i = 0; !a->vexp && i < a->T; i++) {
        float *r = s + i * a->S, m = -INFINITY;
        for (int64_t j = 0; j < a->S; j++) {
            if (!att_visible(a, mask, b, i, j)) r[j] = -INFINITY;
            else if (r[j] > m || isnan(r[j])) m = r[j];
        }
        if (m == -INFINITY) { /* sees no key: P = 0, output 0 */
            memset(r, 0, (size_t)a->S * sizeof *r);
            lse[i] = -INFINITY;
            continue;
        }
        double sum = 0;
        for (int64_t j = 0; j < a->S; j++) {
            r[j] = r[j] == -INFINITY ? 0.0f : expf(r[j] - m);
            sum += r[j];
        }
        float inv = (float)(1.0 / sum);
        for (int64_t j = 0; j < a->S; j++) r[j] *= inv;
        lse[i] = (float)((double)m + log(sum));
    }
    if (a->S == 0) memset(o, 0, (size_t)(a->T * a->D) * sizeof *o);
    else if (a->D > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)a->T,
                    (blasint)a->D, (blasint)a->S, 1.0f, s, (blasint)a->S, v,
                    (blasint)a->D, 0.0f, o, (blasint)a->D);
}

static void CL_CALLBACK att_fwd(void *p)
{
    const att_args *a = p;
    att_run(a, att_fwd_head, (size_t)(a->T * (a->S ? a->S : 1)));
}

static void att_bwd_head(const att_args *a, int64_t bh, float *s)
{
    const lmg_cl_native_hdr *h = &a->h;
    const float *mask = a->has_mask ? lmg_cl_native_at(h, a->mask) : NULL;
    int64_t b = bh / a->H;
    float *dp = s + a->T * a->S;
    blasint T = (blasint)a->T, S = (blasint)a->S, D = (blasint)a->D;
    const float *q = lmg_cl_native_at(h, a->q) + bh * a->T * a->D;
    const float *k = lmg_cl_native_at(h, a->k) + bh * a->S * a->D;
    const float *v = lmg_cl_native_at(h, a->v) + bh * a->S * a->D;
    const float *g = lmg_cl_native_at(h, a->g) + bh * a->T * a->D;
    const float *o = lmg_cl_native_at(h, a->o) + bh * a->T * a->D;
    const float *lse = lmg_cl_native_at(h, a->lse) + bh * a->T;
    float *dq = lmg_cl_native_at(h, a->dq) + bh * a->T * a->D;
    float *dk = lmg_cl_native_at(h, a->dk) + bh * a->S * a->D;
    float *dv = lmg_cl_native_at(h, a->dv) + bh * a->S * a->D;
    att_scores(a, q, k, s);
    /* dP = dO V^T */
    if (D > 0 && S > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, S, D, 1.0f, g, D, v, D,
                    0.0f, dp, S);
    else
        memset(dp, 0, (size_t)(a->T * a->S) * sizeof *dp);
    for (int64_t i = 0; i < a->T; i++) {
        float *r = s + i * a->S, *dr = dp + i * a->S;
        float l = lse[i];
        if (l == -INFINITY) { /* saw no key: no gradient */
            memset(r, 0, (size_t)a->S * sizeof *r);
            memset(dr, 0, (size_t)a->S * sizeof *dr);
            continue;
        }
        double di = 0;
        for (int64_t d = 0; d < a->D; d++) di += (double)g[i * a->D + d] * o[i * a->D + d];
        if (!a->vexp) {
            for (int64_t j = 0; j < a->S; j++) {
                float pr = att_visible(a, mask, b, i, j) ? expf(r[j] - l) : 0.0f;
                r[j] = pr;                                /* P */
                dr[j] = pr * (float)((double)dr[j] - di); /* dS */
            }
            continue;
        }
        lmg_cl_host_softmax_grad_row(r, dr, a->S, att_end(a, i), mask ? mask + b * a->S : NULL,
                                     l, (float)di); /* P, and dS into dr */
    }
    if (D == 0) return;
    /* dV = P^T dO, dQ = scale dS K, dK = scale dS^T Q */
    if (S > 0) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, S, D, T, 1.0f, s, S, g, D,
                    0.0f, dv, D);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, S, D, T, a->scale, dp, S, q,
                    D, 0.0f, dk, D);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, S, a->scale, dp, S,
                    k, D, 0.0f, dq, D);
    } else {
        memset(dq, 0, (size_t)(a->T * a->D) * sizeof *dq);
    }
}

static void CL_CALLBACK att_bwd(void *p)
{
    const att_args *a = p;
    att_run(a, att_bwd_head, (size_t)(2 * a->T * (a->S ? a->S : 1)));
}

/* One worker per core, at most one per head. */
static int att_workers(const att_args *a)
{
    int64_t w = lmg_cl_host_cores();
    if (w > a->B * a->H) w = a->B * a->H;
    return w < 1 ? 1 : (int)w;
}

static void att_fill(lmg_exec *e, const lmg_node *n, int q_in, int mask_in, att_args *a)
{
    memset(a, 0, sizeof *a);
    const lmg_shape *sq = &lmg_cl_value(e, n->in[q_in])->shape;
    const lmg_shape *sk = &lmg_cl_value(e, n->in[q_in + 1])->shape;
    a->B = sq->dims[0], a->H = sq->dims[1], a->T = sq->dims[2], a->D = sq->dims[3];
    a->S = sk->dims[2];
    a->causal = lmg_node_attr_int(n, "causal", 0) != 0;
    a->scale = (float)lmg_node_attr_float(n, "scale", a->D > 0 ? 1.0 / sqrt((double)a->D) : 1.0);
    a->has_mask = mask_in < n->n_in && n->in[mask_in] >= 0;
    a->vexp = e->ops_host;
    a->q = lmg_cl_at(e, n->in[q_in]);
    a->k = lmg_cl_at(e, n->in[q_in + 1]);
    a->v = lmg_cl_at(e, n->in[q_in + 2]);
    a->mask = a->has_mask ? lmg_cl_at(e, n->in[mask_in]) : a->q;
}

lmg_status lmg_cl_host_attention(lmg_exec *e, const lmg_node *n)
{
    att_args a;
    att_fill(e, n, 0, 3, &a);
    if (a.B * a.H * a.T == 0) return LMG_OK;
    a.out = lmg_cl_at(e, n->out[0]);
    a.lse = lmg_cl_at(e, n->out[1]);
    a.workers = att_workers(&a);
    a.sc = lmg_cl_scratch(e, (size_t)a.workers * (size_t)(a.T * (a.S ? a.S : 1)));
    return lmg_cl_record_native(e, "attention fwd (host BLAS)", att_fwd, &a, sizeof a);
}

lmg_status lmg_cl_host_attention_grad(lmg_exec *e, const lmg_node *n)
{
    /* (dout, q, k, v, out, lse, key_mask?) -> dq, dk, dv */
    att_args a;
    att_fill(e, n, 1, 6, &a);
    if (a.B * a.H == 0) return LMG_OK;
    a.g = lmg_cl_at(e, n->in[0]);
    a.o = lmg_cl_at(e, n->in[4]);
    a.lse = lmg_cl_at(e, n->in[5]);
    a.dq = lmg_cl_at(e, n->out[0]);
    a.dk = lmg_cl_at(e, n->out[1]);
    a.dv = lmg_cl_at(e, n->out[2]);
    if (a.T == 0 || a.D == 0) {
        LMG_TRY(lmg_cl_fill(e, a.dk, lmg_cl_numel(e, n->out[1]), 0));
        return lmg_cl_fill(e, a.dv, lmg_cl_numel(e, n->out[2]), 0);
    }
    a.workers = att_workers(&a);
    a.sc = lmg_cl_scratch(e, (size_t)a.workers * (size_t)(2 * a.T * (a.S ? a.S : 1)));
    return lmg_cl_record_native(e, "attention bwd (host BLAS)", att_bwd, &a, sizeof a);
}

/* ---- measuring the route (lmg bench --products) ------------------------------------- */

static double cpu_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

lmg_status lmg_opencl_host_gemm_measure(cl_device_id dev, int ta, int tb, size_t m, size_t n,
                                        size_t k, int reps, double *gflops, double *gflops_cpu,
                                        double *max_rel_err)
{
    cl_int err = CL_SUCCESS;
    cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    LMG_CL_CHECK(err);
    cl_command_queue q = clCreateCommandQueue(ctx, dev, 0, &err);
    if (err != CL_SUCCESS) {
        clReleaseContext(ctx);
        LMG_CL_CHECK(err);
    }
    lmg_cl_gemm g = {0};
    g.ta = ta, g.tb = tb, g.m = m, g.n = n, g.k = k, g.batch = 1, g.alpha = 1, g.beta = 0;
    g.lda = ta ? m : k, g.ldb = tb ? k : n, g.ldc = n;
    /* Odd offsets, as in the arena. */
    g.a.off = 3;
    g.b.off = g.a.off + m * k + 5;
    g.c.off = g.b.off + k * n + 7;
    size_t total = g.c.off + m * n;
    float *h = malloc(total * 4), *ref = malloc(m * n * 4), *out = malloc(m * n * 4);
    cl_mem buf = NULL;
    lmg_status s = LMG_OK;
    if (!h || !ref || !out) {
        s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        goto done;
    }
    uint32_t seed = 7;
    for (size_t i = 0; i < total; i++) {
        seed = seed * 1664525u + 1013904223u;
        h[i] = (float)((seed >> 9) % 2001) / 1000.0f - 1;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (blasint)m, (blasint)n, (blasint)k, 1, h + g.a.off, (blasint)g.lda, h + g.b.off,
                (blasint)g.ldb, 0, ref, (blasint)n);
    buf = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, total * 4, h, &err);
    if (err != CL_SUCCESS) {
        s = lmg_cl_fail(err, "clCreateBuffer", __FILE__, __LINE__);
        goto done;
    }
    if (reps < 1) reps = 3;
    double *wall = malloc((size_t)reps * 2 * sizeof *wall), *cpu = wall ? wall + reps : NULL;
    if (!wall) {
        s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int r = -1; r < reps && s == LMG_OK; r++) {
        double t0 = now_s(), c0 = cpu_now_s();
        s = lmg_cl_hostgemm_enqueue(q, buf, &g, NULL);
        if (s == LMG_OK && (err = clFinish(q)) != CL_SUCCESS)
            s = lmg_cl_fail(err, "clFinish", __FILE__, __LINE__);
        if (r >= 0) {
            wall[r] = now_s() - t0;
            cpu[r] = cpu_now_s() - c0;
        }
    }
    if (s == LMG_OK) {
        err = clEnqueueReadBuffer(q, buf, CL_TRUE, g.c.off * 4, m * n * 4, out, 0, NULL, NULL);
        if (err != CL_SUCCESS) s = lmg_cl_fail(err, "clEnqueueReadBuffer", __FILE__, __LINE__);
    }
    if (s == LMG_OK) {
        double mx = 0, me = 0;
        for (size_t i = 0; i < m * n; i++) {
            double d = fabs((double)out[i] - ref[i]);
            if (fabs(ref[i]) > mx) mx = fabs(ref[i]);
            if (!(d <= me)) me = isnan(d) ? INFINITY : d;
        }
        *max_rel_err = mx > 0 ? me / mx : me;
        /* The median run; CPU time over the device's compute units, as lmg bench shows it. */
        for (int i = 0; i < reps; i++)
            for (int j = i + 1; j < reps; j++) {
                if (wall[j] < wall[i]) { double t = wall[i]; wall[i] = wall[j]; wall[j] = t; }
                if (cpu[j] < cpu[i]) { double t = cpu[i]; cpu[i] = cpu[j]; cpu[j] = t; }
            }
        cl_uint cu = 1;
        clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
        double f = 2.0 * (double)m * (double)n * (double)k;
        *gflops = f / wall[reps / 2] * 1e-9;
        *gflops_cpu = f / (cpu[reps / 2] / (cu ? cu : 1)) * 1e-9;
    }
    free(wall);
done:
    if (buf) clReleaseMemObject(buf);
    clReleaseCommandQueue(q);
    clReleaseContext(ctx);
    free(h);
    free(ref);
    free(out);
    return s;
}
