/* tune.c — CLBlast matrix-product parameters per device: built-in sets for PoCL CPUs, a cache
 * file per device, and a bounded search that checks every candidate against cblas_sgemm. */
#include "tune.h"

#include <cblas.h>
#include <clblast_c.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- parameter sets ------------------------------------------------------------------
 * A set is text, one line per CLBlast kernel: "<Kernel> NAME=value NAME=value ...". Every
 * parameter of a kernel must be given (CLBlastOverrideParameters rejects partial sets). */

#define MAX_PARAMS 20

static const char *const XGEMM_NAMES[] = {"GEMMK", "KREG", "KWG",  "KWI",  "MDIMA", "MDIMC",
                                          "MWG",   "NDIMB", "NDIMC", "NWG", "SA",    "SB",
                                          "STRM",  "STRN", "VWM",  "VWN"};
#define N_XGEMM ((int)(sizeof XGEMM_NAMES / sizeof *XGEMM_NAMES))

/* CLBlast 1.5's own values on PoCL CPU devices (RetrieveParameters), which are also valid on
 * any device (no local memory, 128 and 64 work-items): the fallback when a set is wrong. */
static const char CLBLAST_DEFAULTS[] =
    "Xgemm GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=16 MDIMC=16 MWG=64 NDIMB=8 NDIMC=8 NWG=64 SA=0 "
    "SB=0 STRM=0 STRN=0 VWM=4 VWN=4\n"
    "XgemmDirect KWID=2 MDIMAD=8 MDIMCD=8 NDIMBD=8 NDIMCD=8 PADA=1 PADB=1 VWMD=4 VWND=4 WGD=32\n"
    "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=576\n";

/* The built-in set for PoCL CPU devices: the winner of lmg_cl_tune_search (CLBlast 1.5.3,
 * PoCL 3.1, a 2-core AVX-512 Xeon): on GPT-S's step products 45-50 GFLOP/s against 15-21
 * for the defaults, by CPU time over the cores. Sending mid-sized products (GPT-S's
 * 1024x256x256) to this Xgemm rather than XgemmDirect measured the same within the
 * machine's noise, and it spares the first step three XgemmDirect builds (~3 s each). */
static const char POCL_BUILTIN[] =
    "Xgemm GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=8 MDIMC=8 MWG=64 NDIMB=8 NDIMC=8 NWG=64 SA=1 "
    "SB=1 STRM=0 STRN=0 VWM=8 VWN=8\n"
    "XgemmDirect KWID=2 MDIMAD=8 MDIMCD=8 NDIMBD=8 NDIMCD=8 PADA=1 PADB=1 VWMD=4 VWND=4 WGD=32\n"
    "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=128\n";

typedef struct kline {
    char kernel[32];
    int n;
    char names[MAX_PARAMS][32];
    size_t values[MAX_PARAMS];
} kline;

/* Parse one "<Kernel> A=1 B=2" line; 0 ok, -1 malformed. Lines starting with '#' and blank
 * lines give n = -1 (skip). */
static int parse_line(const char *s, kline *k)
{
    while (*s == ' ' || *s == '\t') s++;
    k->n = -1;
    if (*s == '#' || *s == '\n' || *s == 0) return 0;
    int len = 0;
    while (s[len] && s[len] != ' ' && s[len] != '\n' && s[len] != '\t') len++;
    if (len == 0 || len >= (int)sizeof k->kernel) return -1;
    memcpy(k->kernel, s, (size_t)len);
    k->kernel[len] = 0;
    s += len;
    k->n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '\n' || *s == 0) break;
        const char *eq = strchr(s, '=');
        if (!eq || eq == s || eq - s >= 32 || k->n == MAX_PARAMS) return -1;
        memcpy(k->names[k->n], s, (size_t)(eq - s));
        k->names[k->n][eq - s] = 0;
        char *end;
        errno = 0;
        unsigned long v = strtoul(eq + 1, &end, 10);
        if (errno || end == eq + 1 || (*end != ' ' && *end != '\t' && *end != '\n' && *end))
            return -1;
        k->values[k->n++] = v;
        s = end;
    }
    return 0;
}

static const char *next_line(const char *s)
{
    const char *nl = strchr(s, '\n');
    return nl ? nl + 1 : s + strlen(s);
}

static size_t kline_get(const kline *k, const char *name, size_t dflt)
{
    for (int i = 0; i < k->n; i++)
        if (strcmp(k->names[i], name) == 0) return k->values[i];
    return dflt;
}

/* The constraints CLBlast's own tuner enforces for Xgemm (it does not check overrides, and a
 * set that breaks them computes garbage), plus the device's work-group and local memory. */
static int xgemm_valid(const kline *k, size_t max_wg, size_t local_mem)
{
    for (int i = 0; i < N_XGEMM; i++)
        if (kline_get(k, XGEMM_NAMES[i], 0) == 0 && strcmp(XGEMM_NAMES[i], "GEMMK") &&
            strcmp(XGEMM_NAMES[i], "SA") && strcmp(XGEMM_NAMES[i], "SB") &&
            strcmp(XGEMM_NAMES[i], "STRM") && strcmp(XGEMM_NAMES[i], "STRN"))
            return 0;
    size_t gemmk = kline_get(k, "GEMMK", 0), kreg = kline_get(k, "KREG", 1);
    size_t mwg = kline_get(k, "MWG", 0), nwg = kline_get(k, "NWG", 0), kwg = kline_get(k, "KWG", 0);
    size_t mdimc = kline_get(k, "MDIMC", 0), ndimc = kline_get(k, "NDIMC", 0);
    size_t mdima = kline_get(k, "MDIMA", 0), ndimb = kline_get(k, "NDIMB", 0);
    size_t kwi = kline_get(k, "KWI", 0), vwm = kline_get(k, "VWM", 0), vwn = kline_get(k, "VWN", 0);
    size_t sa = kline_get(k, "SA", 0), sb = kline_get(k, "SB", 0);
    if (kwg % kwi) return 0;
    if (mwg % (mdimc * vwm) || nwg % (ndimc * vwn)) return 0;
    if (mwg % (mdima * vwm) || nwg % (ndimb * vwn)) return 0;
    if (gemmk == 0) {
        if (kwg % ((mdimc * ndimc) / mdima) || kwg % ((mdimc * ndimc) / ndimb)) return 0;
        if ((mdimc * ndimc) % mdima || (mdimc * ndimc) % ndimb) return 0;
    } else {
        if (kreg % vwn || mdimc != mdima || ndimc != ndimb) return 0;
    }
    if (mdimc * ndimc > max_wg) return 0;
    if (4 * (sa * kwg * mwg + sb * kwg * nwg) > local_mem) return 0;
    return 1;
}

static lmg_status clblast_error(CLBlastStatusCode st, const char *what)
{
    return lmg_error(LMG_ERR_DEVICE, "%s: CLBlast status %d", what, (int)st);
}

/* Override every kernel line of `set`. */
static lmg_status apply_set(cl_device_id dev, const char *set)
{
    for (const char *s = set; *s; s = next_line(s)) {
        kline k;
        if (parse_line(s, &k) != 0)
            return lmg_error(LMG_ERR_PARSE, "CLBlast parameters: bad line '%.*s'",
                             (int)strcspn(s, "\n") < 80 ? (int)strcspn(s, "\n") : 80, s);
        if (k.n < 0) continue;
        const char *names[MAX_PARAMS];
        for (int i = 0; i < k.n; i++) names[i] = k.names[i];
        CLBlastStatusCode st = CLBlastOverrideParameters(dev, k.kernel, CLBlastPrecisionSingle,
                                                         (size_t)k.n, names, k.values);
        if (st != CLBlastSuccess) {
            char what[96];
            snprintf(what, sizeof what, "overriding CLBlast %s parameters", k.kernel);
            return clblast_error(st, what);
        }
    }
    return LMG_OK;
}

lmg_status lmg_cl_tune_override(cl_device_id dev, const char *set)
{
    return apply_set(dev, set);
}

const char *lmg_cl_tune_known_set(const char *name)
{
    if (strcmp(name, "defaults") == 0) return CLBLAST_DEFAULTS;
    if (strcmp(name, "pocl") == 0) return POCL_BUILTIN;
    return NULL;
}

/* ---- device identity and the cache file ---------------------------------------------- */

static void dev_str(cl_device_id dev, cl_device_info what, char *buf, size_t n)
{
    buf[0] = 0;
    if (clGetDeviceInfo(dev, what, n, buf, NULL) != CL_SUCCESS) buf[0] = 0;
    buf[n - 1] = 0;
}

static int is_pocl_cpu(cl_device_id dev)
{
    char ver[256];
    cl_device_type type = 0;
    dev_str(dev, CL_DEVICE_VERSION, ver, sizeof ver);
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    return strstr(ver, "PoCL") && (type & CL_DEVICE_TYPE_CPU);
}

static uint64_t fnv64(uint64_t h, const char *s)
{
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return (h ^ 0xff) * 1099511628211ull;
}

lmg_status lmg_cl_tune_cache_path(cl_device_id dev, char *buf, size_t n)
{
    char name[256], ver[256], drv[256], vendor[256];
    dev_str(dev, CL_DEVICE_NAME, name, sizeof name);
    dev_str(dev, CL_DEVICE_VERSION, ver, sizeof ver);
    dev_str(dev, CL_DRIVER_VERSION, drv, sizeof drv);
    dev_str(dev, CL_DEVICE_VENDOR, vendor, sizeof vendor);
    uint64_t h = 14695981039346656037ull;
    h = fnv64(h, name);
    h = fnv64(h, ver);
    h = fnv64(h, drv);
    h = fnv64(h, vendor);
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int k;
    if (xdg && xdg[0]) k = snprintf(buf, n, "%s/lmgraph/clblast-%016llx.txt", xdg, (unsigned long long)h);
    else if (home && home[0])
        k = snprintf(buf, n, "%s/.cache/lmgraph/clblast-%016llx.txt", home, (unsigned long long)h);
    else return lmg_error(LMG_ERR_NOT_FOUND, "CLBlast tuning cache: neither XDG_CACHE_HOME nor HOME is set");
    if (k < 0 || (size_t)k >= n) return lmg_error(LMG_ERR_ARG, "CLBlast tuning cache: path too long");
    return LMG_OK;
}

static lmg_status read_text(const char *path, char **out)
{
    *out = NULL;
    if (access(path, F_OK) != 0)
        return lmg_error(LMG_ERR_NOT_FOUND, "cannot open '%s': %s", path, strerror(errno));
    return lmg_read_file_max(path, 1 << 20, out, NULL);
}

static lmg_status mkdirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return lmg_error(LMG_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
        *p = '/';
    }
    return LMG_OK;
}

static lmg_status write_text(const char *path, const char *text)
{
    LMG_TRY(mkdirs(path));
    return lmg_write_file_atomic(path, text, strlen(text));
}

/* ---- running products on the device ------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One product of a workload as the search runs it: row-major C[m,n] = op(A) op(B), `count`
 * times per run (a lmg_matmul_shape in CLBlast's size types). */
typedef struct gemm_shape {
    int ta, tb;
    size_t m, n, k;
    int count;
} gemm_shape;

#define GUARD 64          /* floats of sentinel before and after C */
#define SENTINEL 1234.5f

/* A context with buffers big enough for every shape of a workload, and host copies. */
typedef struct bench {
    cl_device_id dev;
    cl_context ctx;
    cl_command_queue q;
    cl_mem a, b, c;
    size_t na, nb, nc;    /* floats, including offsets and guards */
    float *ha, *hb, *hc, *ref;
    /* Time by this process's CPU time over the device's compute units instead of the wall
     * clock: on a CPU device (PoCL runs the kernels on this process's threads) that is the
     * wall time an idle machine would show, and other programs' load does not change it. */
    int cpu_clock;
    double units;
} bench;

static void bench_free(bench *b)
{
    if (b->a) clReleaseMemObject(b->a);
    if (b->b) clReleaseMemObject(b->b);
    if (b->c) clReleaseMemObject(b->c);
    if (b->q) clReleaseCommandQueue(b->q);
    if (b->ctx) clReleaseContext(b->ctx);
    free(b->ha);
    free(b->hb);
    free(b->hc);
    free(b->ref);
    memset(b, 0, sizeof *b);
}

/* Element offsets inside the buffers, as the arena gives (odd multiples of 16 floats). */
#define OFF_A 16
#define BATCH_STEP 16
#define OFF_B 48

static lmg_status bench_init(bench *b, cl_device_id dev, const gemm_shape *s, int n)
{
    memset(b, 0, sizeof *b);
    b->dev = dev;
    cl_uint units = 1;
    clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
    b->units = units ? units : 1;
    size_t ma = 0, mb = 0, mc = 0;
    for (int i = 0; i < n; i++) {
        if (s[i].m * s[i].k > ma) ma = s[i].m * s[i].k;
        if (s[i].k * s[i].n > mb) mb = s[i].k * s[i].n;
        if (s[i].m * s[i].n > mc) mc = s[i].m * s[i].n;
    }
    b->na = ma + OFF_A + BATCH_STEP * 8;
    b->nb = mb + OFF_B + BATCH_STEP * 8;
    b->nc = mc + 2 * GUARD;
    cl_int err;
    b->ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    if (err != CL_SUCCESS) goto cl_fail;
    b->q = clCreateCommandQueue(b->ctx, dev, 0, &err);
    if (err != CL_SUCCESS) goto cl_fail;
    b->a = clCreateBuffer(b->ctx, CL_MEM_READ_WRITE, b->na * 4, NULL, &err);
    if (err != CL_SUCCESS) goto cl_fail;
    b->b = clCreateBuffer(b->ctx, CL_MEM_READ_WRITE, b->nb * 4, NULL, &err);
    if (err != CL_SUCCESS) goto cl_fail;
    b->c = clCreateBuffer(b->ctx, CL_MEM_READ_WRITE, b->nc * 4, NULL, &err);
    if (err != CL_SUCCESS) goto cl_fail;
    b->ha = malloc(b->na * 4);
    b->hb = malloc(b->nb * 4);
    b->hc = malloc(b->nc * 4);
    b->ref = malloc(mc * 4 + 4);
    if (!b->ha || !b->hb || !b->hc || !b->ref) {
        bench_free(b);
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    uint32_t x = 12345;
    for (size_t i = 0; i < b->na; i++) {
        x = x * 1664525u + 1013904223u;
        b->ha[i] = (float)(x >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
    for (size_t i = 0; i < b->nb; i++) {
        x = x * 1664525u + 1013904223u;
        b->hb[i] = (float)(x >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
    err = clEnqueueWriteBuffer(b->q, b->a, CL_TRUE, 0, b->na * 4, b->ha, 0, NULL, NULL);
    if (err == CL_SUCCESS)
        err = clEnqueueWriteBuffer(b->q, b->b, CL_TRUE, 0, b->nb * 4, b->hb, 0, NULL, NULL);
    if (err != CL_SUCCESS) goto cl_fail;
    return LMG_OK;
cl_fail:
    bench_free(b);
    return lmg_error(LMG_ERR_DEVICE, "CLBlast tuning: OpenCL setup failed (error %d)", (int)err);
}

/* Batched runs split M into `batch` products of M/batch rows; batch i reads A and B from
 * BATCH_STEP * i floats further on (different, overlapping operands: no extra memory) and
 * writes its own rows of C. */

static void gemm_lds(const gemm_shape *s, size_t m, size_t *lda, size_t *ldb)
{
    *lda = s->ta ? m : s->k;
    *ldb = s->tb ? s->k : s->n;
}

static CLBlastStatusCode run_gemm(bench *b, const gemm_shape *s, size_t batch)
{
    CLBlastTranspose ta = s->ta ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = s->tb ? CLBlastTransposeYes : CLBlastTransposeNo;
    size_t lda, ldb;
    if (batch > 1) {
        size_t m = s->m / batch;
        gemm_lds(s, m, &lda, &ldb);
        return CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, m, s->n, s->k, 1.0f,
                                          b->a, OFF_A, lda, BATCH_STEP, b->b, OFF_B, ldb,
                                          BATCH_STEP, 0.0f, b->c, GUARD, s->n, m * s->n, batch,
                                          &b->q, NULL);
    }
    gemm_lds(s, s->m, &lda, &ldb);
    return CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, s->m, s->n, s->k, 1.0f, b->a, OFF_A, lda,
                        b->b, OFF_B, ldb, 0.0f, b->c, GUARD, s->n, &b->q, NULL);
}

/* Run once and compare with cblas: *err = max|C - ref| / max|ref| (inf when NaN, a guard
 * was overwritten, or CLBlast failed). */
static lmg_status check_gemm(bench *b, const gemm_shape *s, size_t batch, double *err)
{
    *err = INFINITY;
    if (batch < 1) batch = 1;
    for (size_t i = 0; i < b->nc; i++) b->hc[i] = SENTINEL;
    cl_int e = clEnqueueWriteBuffer(b->q, b->c, CL_TRUE, 0, b->nc * 4, b->hc, 0, NULL, NULL);
    if (e != CL_SUCCESS) return lmg_error(LMG_ERR_DEVICE, "CLBlast tuning: write failed (%d)", e);
    CLBlastStatusCode st = run_gemm(b, s, batch);
    if (st != CLBlastSuccess) return clblast_error(st, "CLBlast Sgemm");
    e = clEnqueueReadBuffer(b->q, b->c, CL_TRUE, 0, b->nc * 4, b->hc, 0, NULL, NULL);
    if (e != CL_SUCCESS) return lmg_error(LMG_ERR_DEVICE, "CLBlast tuning: read failed (%d)", e);
    size_t m = s->m / batch, lda, ldb;
    gemm_lds(s, m, &lda, &ldb);
    for (size_t bi = 0; bi < batch; bi++)
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                    s->tb ? CblasTrans : CblasNoTrans, (int)m, (int)s->n, (int)s->k, 1.0f,
                    b->ha + OFF_A + bi * (batch > 1 ? BATCH_STEP : 0), (int)lda,
                    b->hb + OFF_B + bi * (batch > 1 ? BATCH_STEP : 0), (int)ldb, 0.0f,
                    b->ref + bi * m * s->n, (int)s->n);
    size_t nc = batch * m * s->n;
    double maxref = 0, maxdiff = 0;
    for (size_t i = 0; i < nc; i++) {
        double r = b->ref[i], c = b->hc[GUARD + i];
        if (isnan(c)) return LMG_OK;
        if (fabs(r) > maxref) maxref = fabs(r);
        if (fabs(c - r) > maxdiff) maxdiff = fabs(c - r);
    }
    for (size_t i = 0; i < GUARD; i++)
        if (b->hc[i] != SENTINEL) return LMG_OK;
    for (size_t i = GUARD + nc; i < b->nc; i++)
        if (b->hc[i] != SENTINEL) return LMG_OK;
    *err = maxref > 0 ? maxdiff / maxref : maxdiff;
    return LMG_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median seconds of `reps` runs (the program is already built). */
static lmg_status time_gemm(bench *b, const gemm_shape *s, int reps, double *sec)
{
    double t[64];
    if (reps > 64) reps = 64;
    for (int r = 0; r < reps; r++) {
        double t0 = b->cpu_clock ? cpu_s() : now_s();
        CLBlastStatusCode st = run_gemm(b, s, 1);
        if (st != CLBlastSuccess) return clblast_error(st, "CLBlast Sgemm");
        cl_int e = clFinish(b->q);
        if (e != CL_SUCCESS) return lmg_error(LMG_ERR_DEVICE, "clFinish failed (%d)", e);
        t[r] = b->cpu_clock ? (cpu_s() - t0) / b->units : now_s() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    *sec = t[reps / 2];
    return LMG_OK;
}

static double shape_flops(const gemm_shape *s)
{
    return 2.0 * (double)s->m * (double)s->n * (double)s->k;
}

/* A graph's product list as the search's shapes: every size positive, each fitting the
 * BLAS interfaces' int, counts from 0 (timed, weighing nothing) capped at INT_MAX. */
static lmg_status workload_from(const lmg_matmul_shape *in, int n, gemm_shape *out)
{
    for (int i = 0; i < n; i++) {
        const lmg_matmul_shape *m = &in[i];
        if (m->m <= 0 || m->n <= 0 || m->k <= 0 || m->m > INT_MAX || m->n > INT_MAX ||
            m->k > INT_MAX || m->count < 0)
            return lmg_error(LMG_ERR_ARG, "CLBlast tuning: product %d (%lldx%lldx%lld, count "
                             "%lld) is not a product to time", i + 1, (long long)m->m,
                             (long long)m->n, (long long)m->k, (long long)m->count);
        out[i] = (gemm_shape){m->ta != 0, m->tb != 0, (size_t)m->m, (size_t)m->n, (size_t)m->k,
                              m->count > INT_MAX ? INT_MAX : (int)m->count};
    }
    return LMG_OK;
}

lmg_status lmg_cl_gemm_measure(cl_device_id dev, const lmg_matmul_shape *ms, int reps,
                               double *gflops, double *gflops_cpu, double *max_rel_err)
{
    gemm_shape sh, *s = &sh;
    LMG_TRY(workload_from(ms, 1, s));
    bench b;
    LMG_TRY(bench_init(&b, dev, s, 1));
    double err, sec = 0, csec = 0;
    lmg_status st = check_gemm(&b, s, 1, &err);
    if (st == LMG_OK) st = time_gemm(&b, s, reps > 0 ? reps : 3, &sec);
    b.cpu_clock = 1;
    if (st == LMG_OK) st = time_gemm(&b, s, reps > 0 ? reps : 3, &csec);
    bench_free(&b);
    LMG_TRY(st);
    if (gflops) *gflops = shape_flops(s) / sec * 1e-9;
    if (gflops_cpu) *gflops_cpu = shape_flops(s) / csec * 1e-9;
    if (max_rel_err) *max_rel_err = err;
    return LMG_OK;
}

/* The direct kernel (small products) is kept at CLBlast's values; the search lowers the
 * indirect threshold so GPT-S's 1024x256x256 products use the tuned Xgemm too when that is
 * faster. */
static const char DIRECT_LINE[] =
    "XgemmDirect KWID=2 MDIMAD=8 MDIMCD=8 NDIMBD=8 NDIMCD=8 PADA=1 PADB=1 VWMD=4 VWND=4 WGD=32\n";

/* The check of a set: products that go through the overridden Xgemm (every dimension above
 * the set's XGEMM_MIN_INDIRECT_SIZE, none a multiple of a tile, so the padding copies run
 * too) with all four transposes, and, when the set changes XgemmDirect, small ones through
 * it with the transposes a training step uses. Returns the number of shapes written to
 * out[7]. */
static int check_shapes_for(const char *set, gemm_shape *out)
{
    size_t mi = 576; /* CLBlast's own threshold on PoCL when a set does not say */
    for (const char *p = set; *p; p = next_line(p)) {
        kline k;
        if (parse_line(p, &k) == 0 && k.n > 0 && strcmp(k.kernel, "GemmRoutine") == 0)
            mi = kline_get(&k, "XGEMM_MIN_INDIRECT_SIZE", mi);
    }
    if (mi > 2048) mi = 2048;
    size_t m = mi + 40, n = mi + 24, k = mi + 8;
    for (int t = 0; t < 4; t++) out[t] = (gemm_shape){t >> 1, t & 1, m, n, k, 1};
    /* XgemmDirect at CLBlast's own values needs no check (and no build before it is used). */
    const char *direct = strstr(set, "XgemmDirect ");
    if (direct && strncmp(direct, DIRECT_LINE, strlen(DIRECT_LINE)) == 0) return 4;
    for (int t = 0; t < 3; t++) out[4 + t] = (gemm_shape){t >> 1, t & 1, 40, 24, 72, 1};
    return 7;
}
#define TOL 1e-4

/* Check the parameters in force on every shape; *ok = 0 on the first wrong result. */
static lmg_status check_shapes(bench *b, const gemm_shape *s, int n, int *ok, char *why,
                               size_t why_n)
{
    *ok = 1;
    for (int i = 0; i < n; i++) {
        double err;
        LMG_TRY(check_gemm(b, &s[i], 1, &err));
        if (!(err <= TOL)) {
            *ok = 0;
            snprintf(why, why_n, "%zux%zux%zu%s%s: relative error %.3g", s[i].m, s[i].n, s[i].k,
                     s[i].ta ? " A^T" : "", s[i].tb ? " B^T" : "", err);
            return LMG_OK;
        }
    }
    return LMG_OK;
}

/* ---- apply at device init ----------------------------------------------------------- */

#define MAX_DEVS 16
static struct {
    cl_device_id dev;
    char state[256];
} applied[MAX_DEVS];
static int n_applied;
static pthread_mutex_t apply_lock = PTHREAD_MUTEX_INITIALIZER;

const char *lmg_cl_tune_state(cl_device_id dev)
{
    const char *s = "not applied";
    pthread_mutex_lock(&apply_lock);
    for (int i = 0; i < n_applied; i++)
        if (applied[i].dev == dev) s = applied[i].state;
    pthread_mutex_unlock(&apply_lock);
    return s;
}

static void set_state(cl_device_id dev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_state(cl_device_id dev, const char *fmt, ...)
{
    int i;
    for (i = 0; i < n_applied; i++)
        if (applied[i].dev == dev) break;
    if (i == n_applied) {
        if (n_applied == MAX_DEVS) return;
        n_applied++;
    }
    applied[i].dev = dev;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(applied[i].state, sizeof applied[i].state, fmt, ap);
    va_end(ap);
}

static int already_applied(cl_device_id dev)
{
    for (int i = 0; i < n_applied; i++)
        if (applied[i].dev == dev) return 1;
    return 0;
}

/* Apply `set` and check it; on a wrong result put CLBlast's defaults back. */
static lmg_status apply_checked(cl_device_id dev, const char *set, const char *what)
{
    lmg_status s = apply_set(dev, set);
    if (s != LMG_OK) {
        set_state(dev, "%s unusable (%s): CLBlast defaults", what, lmg_last_error());
        return apply_set(dev, CLBLAST_DEFAULTS);
    }
    if (getenv("LMG_CLBLAST_NOCHECK")) {
        set_state(dev, "%s (unchecked)", what);
        return LMG_OK;
    }
    gemm_shape cs[7];
    int n_cs = check_shapes_for(set, cs);
    bench b;
    LMG_TRY(bench_init(&b, dev, cs, n_cs));
    int ok = 0;
    char why[160] = "";
    s = check_shapes(&b, cs, n_cs, &ok, why, sizeof why);
    bench_free(&b);
    if (s != LMG_OK || !ok) {
        set_state(dev, "%s failed its check (%s): CLBlast defaults", what,
                  s != LMG_OK ? lmg_last_error() : why);
        return apply_set(dev, CLBLAST_DEFAULTS);
    }
    set_state(dev, "%s", what);
    return LMG_OK;
}

lmg_status lmg_cl_tune_apply(cl_device_id dev)
{
    lmg_status s = LMG_OK;
    pthread_mutex_lock(&apply_lock);
    if (already_applied(dev)) {
        pthread_mutex_unlock(&apply_lock);
        return LMG_OK;
    }
    const char *off = getenv("LMG_CLBLAST_TUNING");
    char path[1024], *text = NULL;
    if (off && strcmp(off, "off") == 0) {
        set_state(dev, "CLBlast defaults (LMG_CLBLAST_TUNING=off)");
    } else if (lmg_cl_tune_cache_path(dev, path, sizeof path) == LMG_OK &&
               read_text(path, &text) == LMG_OK) {
        char what[1100];
        snprintf(what, sizeof what, "cache %s", path);
        s = apply_checked(dev, text, what);
    } else if (is_pocl_cpu(dev)) {
        s = apply_checked(dev, POCL_BUILTIN, "built-in PoCL set");
    } else {
        set_state(dev, "CLBlast defaults (no tuning for this device)");
    }
    free(text);
    lmg_error_clear();
    pthread_mutex_unlock(&apply_lock);
    return s;
}

/* Start and finish: the same work on a thread of its own, so that CLBlast's program build
 * (the check runs it) overlaps the caller's own program builds on another core. */
static struct pending {
    cl_device_id dev;
    pthread_t th;
    lmg_status st;
    char msg[512];
} pend[MAX_DEVS];
static int n_pend;
static pthread_mutex_t pend_lock = PTHREAD_MUTEX_INITIALIZER;

static void *apply_thread(void *arg)
{
    struct pending *p = arg;
    p->st = lmg_cl_tune_apply(p->dev);
    snprintf(p->msg, sizeof p->msg, "%s", p->st != LMG_OK ? lmg_last_error() : "");
    return NULL;
}

lmg_status lmg_cl_tune_start(cl_device_id dev)
{
    pthread_mutex_lock(&pend_lock);
    for (int i = 0; i < n_pend; i++)
        if (pend[i].dev == dev) {
            pthread_mutex_unlock(&pend_lock);
            return LMG_OK;
        }
    int started = 0;
    if (n_pend < MAX_DEVS) {
        struct pending *p = &pend[n_pend];
        p->dev = dev;
        p->st = LMG_OK;
        p->msg[0] = 0;
        if (pthread_create(&p->th, NULL, apply_thread, p) == 0) {
            n_pend++;
            started = 1;
        }
    }
    pthread_mutex_unlock(&pend_lock);
    return started ? LMG_OK : lmg_cl_tune_apply(dev);
}

lmg_status lmg_cl_tune_finish(cl_device_id dev)
{
    pthread_mutex_lock(&pend_lock);
    int i;
    for (i = 0; i < n_pend; i++)
        if (pend[i].dev == dev) break;
    if (i == n_pend) {
        pthread_mutex_unlock(&pend_lock);
        return lmg_cl_tune_apply(dev);
    }
    struct pending p = pend[i];
    pthread_join(p.th, NULL);
    pend[i] = pend[--n_pend];
    pthread_mutex_unlock(&pend_lock);
    if (p.st != LMG_OK) return lmg_error(p.st, "%s", p.msg);
    return LMG_OK;
}

/* ---- the search ---------------------------------------------------------------------- */

/* Xgemm candidates for CPU-like devices. PoCL runs a work-group as loops over its work-items;
 * on its CPU devices what pays is one explicit float8 vector per row of a work-item's 8x8
 * tile (VWM = MWG/MDIMC, VWN = NWG/NDIMC) in 64-work-item groups, with A and B tiles staged in
 * local memory (SA, SB): on a 2-core AVX-512 Xeon CLBlast's defaults (float4, 4x8 tiles, 128
 * work-items) reach 10-20 GFLOP/s on GPT-S's products, the first set below about 50. The list
 * varies that set one axis at a time: staging (SA, SB), tile depth KWG and unroll KWI, vector
 * widths, work-group shape, the re-shaped loads (MDIMA, NDIMB), and CLBlast's second kernel
 * (GEMMK=1, register tiling along K, which needs no transposed copies of row-major A and C).
 * Sets tried before and dropped as 2x slower: float16 vectors (MWI = 16), 128x128 tiles. */
#define X0 "GEMMK=0 KREG=1 "
static const char *const XGEMM_CANDIDATES[] = {
    X0 "MWG=64 NWG=64 KWG=32 MDIMC=8 NDIMC=8 MDIMA=8 NDIMB=8 KWI=2 VWM=8 VWN=8 STRM=0 STRN=0 SA=1 SB=1",
    X0 "MWG=64 NWG=64 KWG=32 MDIMC=8 NDIMC=8 MDIMA=8 NDIMB=8 KWI=2 VWM=8 VWN=8 STRM=0 STRN=0 SA=0 SB=0",
    X0 "MWG=64 NWG=64 KWG=16 MDIMC=8 NDIMC=8 MDIMA=8 NDIMB=8 KWI=2 VWM=8 VWN=8 STRM=0 STRN=0 SA=1 SB=1",
    X0 "MWG=64 NWG=64 KWG=64 MDIMC=8 NDIMC=8 MDIMA=8 NDIMB=8 KWI=2 VWM=8 VWN=8 STRM=0 STRN=0 SA=1 SB=1",
    X0 "MWG=64 NWG=64 KWG=32 MDIMC=8 NDIMC=8 MDIMA=8 NDIMB=8 KWI=2 VWM=8 VWN=8 STRM=0 STRN=0 SA=1 SB=0",
    X0 "MWG=64 NWG=64 KWG=32 MDIMC=8 NDIMC=8 MDIMA=8 NDIMB=8 KWI=2 VWM=8 VWN=8 STRM=0 STRN=0 SA=0 SB=1",
    X0 "MWG=64 NWG=64 KWG=32 MDIMC=8 NDIMC=8 MDIMA=8 NDIMB=8 KWI=2 VWM=8 VWN=4 STRM=0 STRN=0 SA=1 SB=1",
    X0 "MWG=32 NWG=32 KWG=32 MDIMC=4 NDIMC=4 MDIMA=4 NDIMB=4 KWI=2 VWM=8 VWN=8 STRM=0 STRN=0 SA=1 SB=1",
    X0 "MWG=64 NWG=64 KWG=32 MDIMC=8 NDIMC=8 MDIMA=4 NDIMB=4 KWI=2 VWM=8 VWN=8 STRM=0 STRN=0 SA=1 SB=1",
    X0 "MWG=64 NWG=64 KWG=32 MDIMC=8 NDIMC=8 MDIMA=8 NDIMB=8 KWI=8 VWM=8 VWN=8 STRM=0 STRN=0 SA=1 SB=1",
    X0 "MWG=128 NWG=64 KWG=32 MDIMC=16 NDIMC=8 MDIMA=16 NDIMB=8 KWI=2 VWM=8 VWN=8 STRM=0 STRN=0 SA=1 SB=1",
    X0 "MWG=64 NWG=128 KWG=32 MDIMC=8 NDIMC=16 MDIMA=8 NDIMB=16 KWI=2 VWM=8 VWN=8 STRM=0 STRN=0 SA=1 SB=1",
    X0 "MWG=64 NWG=64 KWG=64 MDIMC=8 NDIMC=8 MDIMA=8 NDIMB=8 KWI=2 VWM=8 VWN=8 STRM=0 STRN=0 SA=0 SB=0",
    X0 "MWG=64 NWG=64 KWG=32 MDIMC=8 NDIMC=8 MDIMA=8 NDIMB=8 KWI=2 VWM=8 VWN=4 STRM=0 STRN=0 SA=0 SB=0",
    "GEMMK=1 KREG=8 MWG=64 NWG=64 KWG=1 MDIMC=8 NDIMC=8 MDIMA=8 NDIMB=8 KWI=1 VWM=8 VWN=8 STRM=0 STRN=0 SA=0 SB=0",
};
#undef X0
#define N_XGEMM_CANDIDATES ((int)(sizeof XGEMM_CANDIDATES / sizeof *XGEMM_CANDIDATES))

static const int MIN_INDIRECT[] = {576, 128};

static void logf_(const lmg_cl_tune_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const lmg_cl_tune_opts *o, const char *fmt, ...)
{
    if (!o || !o->log) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->log(o->log_ctx, line);
}

/* Time the workload with the parameters in force: total seconds of one step's products
 * (median per shape x count). */
static lmg_status time_workload(bench *b, const gemm_shape *s, int n, int reps,
                                double *total)
{
    *total = 0;
    for (int i = 0; i < n; i++) {
        double sec;
        LMG_TRY(time_gemm(b, &s[i], reps, &sec));
        *total += sec * s[i].count;
    }
    return LMG_OK;
}

static double workload_flops(const gemm_shape *s, int n)
{
    double f = 0;
    for (int i = 0; i < n; i++) f += shape_flops(&s[i]) * s[i].count;
    return f;
}

/* Apply `set`, build (first run), check, time. A set far slower than the best so far on the
 * probe shape (the workload's first) is dropped before the full check and timing, which
 * cost seconds per slow set. *ms < 0 when wrong, failed or dropped. */
static lmg_status try_set(bench *b, const lmg_cl_tune_opts *o, const char *set,
                          const gemm_shape *s, int n, int reps, double *best_probe,
                          double *ms, int *wrong, double *build_s, int *dropped)
{
    *ms = -1;
    *wrong = 0;
    *dropped = 0;
    LMG_TRY(apply_set(b->dev, set));
    double t0 = now_s();
    CLBlastStatusCode st = run_gemm(b, &s[0], 1);
    clFinish(b->q);
    *build_s = now_s() - t0;
    if (st != CLBlastSuccess) {
        logf_(o, "  CLBlast refused it (status %d)", (int)st);
        return LMG_OK;
    }
    int ok;
    char why[160];
    gemm_shape cs[7];
    int n_cs = check_shapes_for(set, cs);
    lmg_status e = check_shapes(b, cs, n_cs, &ok, why, sizeof why);
    if (e != LMG_OK) {
        logf_(o, "  failed: %s", lmg_last_error());
        return LMG_OK;
    }
    if (!ok) {
        *wrong = 1;
        logf_(o, "  WRONG RESULTS (%s): rejected", why);
        return LMG_OK;
    }
    double probe;
    LMG_TRY(time_gemm(b, &s[0], reps, &probe));
    if (best_probe && probe > 2.0 * *best_probe) {
        *dropped = 1;
        logf_(o, "  %.1f GFLOP/s at %zux%zux%zu, far from the best: dropped (build %.1f s)",
              shape_flops(&s[0]) / probe * 1e-9, s[0].m, s[0].n, s[0].k, *build_s);
        return LMG_OK;
    }
    e = check_shapes(b, s, n, &ok, why, sizeof why);
    if (e != LMG_OK) {
        logf_(o, "  failed: %s", lmg_last_error());
        return LMG_OK;
    }
    if (!ok) {
        *wrong = 1;
        logf_(o, "  WRONG RESULTS (%s): rejected", why);
        return LMG_OK;
    }
    if (best_probe && probe < *best_probe) *best_probe = probe;
    double total;
    LMG_TRY(time_workload(b, s, n, reps, &total));
    *ms = total * 1e3;
    return LMG_OK;
}

/* One search: the workload and its buffers, the candidates still in the running, the best. */
typedef struct search {
    cl_device_id dev;
    lmg_cl_tune_opts o;
    lmg_cl_tune_result *res;
    int reps;
    gemm_shape *shapes;    /* the workload; shapes[0] is the probe */
    int n_shapes;
    double flops;          /* of one run of the workload */
    bench b;
    int bench_open;
    size_t max_wg;
    cl_ulong local_mem;
    char path[1024];       /* the cache file */
    double best_probe;     /* fastest seconds at the probe shape so far */
    int fin[N_XGEMM_CANDIDATES], n_fin; /* candidates timed over the workload, by index */
    double fin_ms[N_XGEMM_CANDIDATES];
    int best_idx;          /* the winning candidate, or -1: the parameters in force stay */
    char set[4096], best[4096];
} search;

/* The full parameter set of Xgemm candidate `xgemm` (a list entry) with the direct kernel at
 * CLBlast's values and products of every dimension from `min_indirect` on sent to Xgemm. */
static void compose_set(char *buf, size_t n, const char *xgemm, int min_indirect)
{
    snprintf(buf, n, "Xgemm %s\n%sGemmRoutine XGEMM_MIN_INDIRECT_SIZE=%d\n", xgemm, DIRECT_LINE,
             min_indirect);
}

/* Options, the workload (the caller's products, which must be some), the cache path, and
 * buffers for the workload and the checks. */
static lmg_status search_open(search *S, cl_device_id dev, const lmg_cl_tune_opts *opts,
                              lmg_cl_tune_result *res)
{
    S->dev = dev;
    S->res = res;
    S->best_idx = -1;
    S->o = opts ? *opts : (lmg_cl_tune_opts){0};
    S->reps = S->o.reps > 0 ? S->o.reps : 3;
    if (!S->o.shapes || S->o.n_shapes <= 0)
        return lmg_error(LMG_ERR_ARG, "CLBlast tuning: no matrix products to tune for (the "
                         "workload has none)");
    clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof S->max_wg, &S->max_wg, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof S->local_mem, &S->local_mem, NULL);
    if (S->o.cache_path) snprintf(S->path, sizeof S->path, "%s", S->o.cache_path);
    else LMG_TRY(lmg_cl_tune_cache_path(dev, S->path, sizeof S->path));

    /* Room for the workload and for the checks (the largest threshold used) after it. */
    S->n_shapes = S->o.n_shapes;
    S->shapes = malloc(((size_t)S->n_shapes + 7) * sizeof *S->shapes);
    if (!S->shapes) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    LMG_TRY(workload_from(S->o.shapes, S->n_shapes, S->shapes));
    int n_all = S->n_shapes + check_shapes_for(CLBLAST_DEFAULTS, S->shapes + S->n_shapes);
    LMG_TRY(bench_init(&S->b, dev, S->shapes, n_all));
    S->bench_open = 1;
    cl_device_type type = 0;
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    S->b.cpu_clock = (type & CL_DEVICE_TYPE_CPU) && !getenv("LMG_TUNE_WALL_CLOCK");
    if (S->b.cpu_clock)
        logf_(&S->o, "times below: this process's CPU time / %.0f compute units (machine load "
                     "does not count)", S->b.units);
    S->flops = workload_flops(S->shapes, S->n_shapes);
    return LMG_OK;
}

/* The parameters in force before the search (CLBlast's database, or an earlier override):
 * the time every candidate must beat, and the first probe time. */
static lmg_status search_baseline(search *S)
{
    double t0 = now_s();
    CLBlastStatusCode st = run_gemm(&S->b, &S->shapes[0], 1);
    clFinish(S->b.q);
    if (st != CLBlastSuccess) return clblast_error(st, "CLBlast Sgemm with the current parameters");
    double total;
    LMG_TRY(time_workload(&S->b, S->shapes, S->n_shapes, S->reps, &total));
    LMG_TRY(time_gemm(&S->b, &S->shapes[0], S->reps, &S->best_probe));
    S->res->baseline_ms = S->res->best_ms = total * 1e3;
    S->res->baseline_gflops = S->res->best_gflops = S->flops / total * 1e-9;
    logf_(&S->o, "baseline (parameters in force): %.1f ms per run of the workload's products, "
                 "%.1f GFLOP/s (first call %.1f s)",
          S->res->baseline_ms, S->res->baseline_gflops, now_s() - t0);
    return LMG_OK;
}

/* Candidate i of the list as a full set in S->set; 0 when it breaks one of CLBlast's
 * constraints or the device's limits (then it is not built at all). */
static int candidate_set(search *S, int i)
{
    kline k;
    char line[512];
    snprintf(line, sizeof line, "Xgemm %s", XGEMM_CANDIDATES[i]);
    if (parse_line(line, &k) != 0 || k.n != N_XGEMM || !xgemm_valid(&k, S->max_wg, S->local_mem))
        return 0;
    compose_set(S->set, sizeof S->set, XGEMM_CANDIDATES[i], MIN_INDIRECT[0]);
    return 1;
}

/* Round 1: every candidate built, checked against the host and timed once (a set more than
 * 2x slower than the best at the probe shape is dropped there). */
static lmg_status search_candidates(search *S)
{
    int limit = S->o.max_candidates > 0 && S->o.max_candidates < N_XGEMM_CANDIDATES
                    ? S->o.max_candidates
                    : N_XGEMM_CANDIDATES;
    for (int i = 0; i < limit; i++) {
        if (!candidate_set(S, i)) {
            logf_(&S->o, "[%d/%d] %s: breaks a constraint, skipped", i + 1, limit,
                  XGEMM_CANDIDATES[i]);
            continue;
        }
        logf_(&S->o, "[%d/%d] %s", i + 1, limit, XGEMM_CANDIDATES[i]);
        double ms, build_s;
        int wrong, dropped;
        LMG_TRY(try_set(&S->b, &S->o, S->set, S->shapes, S->n_shapes, S->reps, &S->best_probe,
                        &ms, &wrong, &build_s, &dropped));
        S->res->tried++;
        S->res->wrong += wrong;
        S->res->dropped += dropped;
        if (ms < 0) {
            S->res->failed += !wrong && !dropped;
            continue;
        }
        logf_(&S->o, "  %.1f ms (%.1f GFLOP/s), build %.1f s", ms, S->flops / ms * 1e-6, build_s);
        S->fin[S->n_fin] = i;
        S->fin_ms[S->n_fin++] = ms;
    }
    return LMG_OK;
}

/* Round 2 and the choice: the three best again, interleaved, so that a burst of load on the
 * machine during one candidate's turn does not pick the winner (the best of the rounds
 * counts); the winner must beat the baseline. */
static lmg_status search_choose(search *S)
{
    for (int a = 0; a < S->n_fin; a++)
        for (int c = a + 1; c < S->n_fin; c++)
            if (S->fin_ms[c] < S->fin_ms[a]) {
                double t = S->fin_ms[a];
                int ti = S->fin[a];
                S->fin_ms[a] = S->fin_ms[c], S->fin[a] = S->fin[c];
                S->fin_ms[c] = t, S->fin[c] = ti;
            }
    int n_top = S->n_fin < 3 ? S->n_fin : 3;
    for (int round = 0; round < 2 && n_top > 1; round++)
        for (int a = 0; a < n_top; a++) {
            compose_set(S->set, sizeof S->set, XGEMM_CANDIDATES[S->fin[a]], MIN_INDIRECT[0]);
            LMG_TRY(apply_set(S->dev, S->set));
            double total;
            LMG_TRY(time_workload(&S->b, S->shapes, S->n_shapes, S->reps, &total));
            logf_(&S->o, "again [%d]: %.1f ms", S->fin[a] + 1, total * 1e3);
            if (total * 1e3 < S->fin_ms[a]) S->fin_ms[a] = total * 1e3;
        }
    int top = -1;
    for (int a = 0; a < n_top; a++)
        if (S->fin_ms[a] < S->res->best_ms && (top < 0 || S->fin_ms[a] < S->fin_ms[top])) top = a;
    if (top < 0) return LMG_OK;
    S->res->best_ms = S->fin_ms[top];
    S->best_idx = S->fin[top];
    compose_set(S->best, sizeof S->best, XGEMM_CANDIDATES[S->best_idx], MIN_INDIRECT[0]);
    logf_(&S->o, "best Xgemm: [%d] %.1f ms", S->best_idx + 1, S->res->best_ms);
    return LMG_OK;
}

/* With the best Xgemm, send mid-sized products to it instead of XgemmDirect when that is
 * faster: the new threshold is built and checked like a candidate, then both are timed
 * twice, interleaved, and the better round of each counts. */
static lmg_status search_min_indirect(search *S)
{
    if (S->best_idx < 0) return LMG_OK;
    for (size_t j = 1; j < sizeof MIN_INDIRECT / sizeof *MIN_INDIRECT; j++) {
        compose_set(S->set, sizeof S->set, XGEMM_CANDIDATES[S->best_idx], MIN_INDIRECT[j]);
        logf_(&S->o, "best Xgemm with XGEMM_MIN_INDIRECT_SIZE=%d", MIN_INDIRECT[j]);
        double ms = -1, build_s;
        int wrong, dropped;
        LMG_TRY(try_set(&S->b, &S->o, S->set, S->shapes, S->n_shapes, S->reps, NULL, &ms, &wrong,
                        &build_s, &dropped));
        S->res->tried++;
        S->res->wrong += wrong;
        if (ms < 0) continue;
        logf_(&S->o, "  %.1f ms (%.1f GFLOP/s), build %.1f s", ms, S->flops / ms * 1e-6, build_s);
        double old_ms = INFINITY, new_ms = INFINITY;
        for (int round = 0; round < 2; round++) {
            double t_old, t_new;
            LMG_TRY(apply_set(S->dev, S->best));
            LMG_TRY(time_workload(&S->b, S->shapes, S->n_shapes, S->reps, &t_old));
            LMG_TRY(apply_set(S->dev, S->set));
            LMG_TRY(time_workload(&S->b, S->shapes, S->n_shapes, S->reps, &t_new));
            logf_(&S->o, "  again: %.1f ms with %d, %.1f ms with %d", t_old * 1e3,
                  MIN_INDIRECT[0], t_new * 1e3, MIN_INDIRECT[j]);
            old_ms = fmin(old_ms, t_old * 1e3);
            new_ms = fmin(new_ms, t_new * 1e3);
        }
        S->res->best_ms = old_ms;
        if (new_ms < old_ms) {
            S->res->best_ms = new_ms;
            snprintf(S->best, sizeof S->best, "%s", S->set);
        }
    }
    return LMG_OK;
}

/* The strided-batched routine is a program of its own with the same parameters: the winner
 * is checked there too (one more build) before it is kept, else the baseline stays. */
static lmg_status search_check_batched(search *S)
{
    if (!S->best[0]) return LMG_OK;
    LMG_TRY(apply_set(S->dev, S->best));
    static const gemm_shape batched[] = {
        {0, 0, 512, 72, 40, 1}, {0, 1, 512, 72, 40, 1}, {1, 0, 512, 72, 40, 1},
        {0, 0, 1024, 136, 264, 1},
    };
    for (size_t i = 0; i < sizeof batched / sizeof *batched; i++) {
        double err;
        lmg_status s = check_gemm(&S->b, &batched[i], 4, &err);
        if (s != LMG_OK || !(err <= TOL)) {
            logf_(&S->o, "best set fails the strided-batched check (%s): not kept",
                  s != LMG_OK ? lmg_last_error() : "wrong results");
            S->res->wrong++;
            S->best[0] = 0;
            S->res->best_ms = S->res->baseline_ms;
            return LMG_OK;
        }
    }
    return LMG_OK;
}

/* The result, and the cache file when asked: comment lines naming the device and the
 * workload, then the set (the lines lmg_cl_tune_apply reads). */
static lmg_status search_save(search *S)
{
    lmg_cl_tune_result *res = S->res;
    res->best_gflops = S->flops / res->best_ms * 1e-6;
    if (!S->best[0]) return LMG_OK;
    snprintf(res->best, sizeof res->best, "%s", S->best);
    if (!S->o.save) return LMG_OK;
    char name[256], work[256], text[5000];
    dev_str(S->dev, CL_DEVICE_NAME, name, sizeof name);
    /* One line each, whatever the caller's description holds. */
    snprintf(work, sizeof work, "%s", S->o.workload ? S->o.workload : "the workload");
    for (char *p = work; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    snprintf(text, sizeof text,
             "# lmgraph CLBlast parameters for '%s' (lmg tune)\n"
             "# %s, %d product shapes: %.1f ms (%.1f GFLOP/s) vs %.1f ms before\n%s",
             name, work, S->n_shapes, res->best_ms, res->best_gflops, res->baseline_ms, S->best);
    LMG_TRY(write_text(S->path, text));
    logf_(&S->o, "saved to %s", S->path);
    return LMG_OK;
}

lmg_status lmg_cl_tune_search(cl_device_id dev, const lmg_cl_tune_opts *opts,
                              lmg_cl_tune_result *res)
{
    memset(res, 0, sizeof *res);
    search *S = calloc(1, sizeof *S);
    if (!S) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status s = search_open(S, dev, opts, res);
    if (s == LMG_OK) s = search_baseline(S);
    if (s == LMG_OK) s = search_candidates(S);
    if (s == LMG_OK) s = search_choose(S);
    if (s == LMG_OK) s = search_min_indirect(S);
    if (s == LMG_OK) s = search_check_batched(S);
    if (s == LMG_OK) s = search_save(S);
    if (S->bench_open) bench_free(&S->b);
    free(S->shapes);
    free(S);
    return s;
}
