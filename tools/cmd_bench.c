/* cmd_bench.c — `lmg bench`: time training steps of the BENCH.md models (GPT-S, BERT-S) on a
 * backend, next to OpenBLAS's sgemm on the same host; `lmg tune`: search CLBlast parameters. */
#include "cli.h"
#include "profile.h"
#include "../graph/plan.h"
#include "../models/models.h"
#include "../train/train.h"
#include "../backends/opencl/opencl.h"
#include "../backends/opencl/tune.h"

#include <cblas.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int lmg_cmd_bench(int argc, char **argv);
int lmg_cmd_tune(int argc, char **argv);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* This process's CPU time: on a CPU OpenCL device the kernels run on its threads, so CPU time
 * over the cores is the step time an otherwise idle machine would show. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Resident set size and its peak, from /proc (kB; 0 when unknown). On a CPU OpenCL device
 * the device's buffers are host memory, so their growth is the device memory used. */
static void rss_kb(long *now, long *peak)
{
    *now = *peak = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) *now = atol(line + 6);
        if (strncmp(line, "VmHWM:", 6) == 0) *peak = atol(line + 6);
    }
    fclose(f);
}

/* OpenBLAS sgemm at 1024^3 on `threads` threads: the best of 5 runs after one warm-up. */
static double openblas_gflops(int threads)
{
    const int n = 1024;
    float *a = malloc((size_t)n * n * 4), *b = malloc((size_t)n * n * 4), *c = malloc((size_t)n * n * 4);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0;
    }
    for (int i = 0; i < n * n; i++) {
        a[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
        b[i] = (float)((i * 5) % 11) / 11.0f - 0.5f;
    }
    openblas_set_num_threads(threads);
    double best = 1e30;
    for (int r = 0; r < 6; r++) {
        double t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = now_s() - t0;
        if (r > 0 && t < best) best = t;
    }
    free(a), free(b), free(c);
    return 2.0 * n * n * n / best * 1e-9;
}

/* The ceiling with the kernels OpenBLAS should have picked: OPENBLAS_CORETYPE is read when
 * the library loads, so a child `lmg bench --ceiling` measures it. 0 when that fails. */
static double better_core_gflops(const char *core)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return 0;
    exe[n] = 0;
    const char *old = getenv("OPENBLAS_CORETYPE");
    char *saved = old ? strdup(old) : NULL;
    setenv("OPENBLAS_CORETYPE", core, 1);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "'%s' bench --ceiling 2>/dev/null", exe);
    fflush(stdout);
    FILE *f = popen(cmd, "r");
    if (saved) setenv("OPENBLAS_CORETYPE", saved, 1);
    else unsetenv("OPENBLAS_CORETYPE");
    free(saved);
    if (!f) return 0;
    char line[512], got[64] = "";
    double gf = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "ceiling %63s %lf", got, &gf) != 2) gf = 0;
    pclose(f);
    /* The child names the kernels it ran: a different name means the variable was ignored. */
    return strcasecmp(got, core) == 0 ? gf : 0;
}

/* Print which OpenBLAS kernels run and the GEMM ceiling; when OpenBLAS fell back to kernels
 * below the CPU's, also the ceiling with the right ones. Returns the honest ceiling. */
static double print_ceiling(int threads)
{
    double own = openblas_gflops(threads);
    const char *core = lmg_opencl_blas_core(), *better = lmg_opencl_blas_core_better();
    printf("OpenBLAS: %s; kernels: %s\n", openblas_get_config(), core);
    printf("OpenBLAS cblas_sgemm 1024^3, %d threads: %.1f GFLOP/s\n", threads, own);
    if (!better) return own;
    double gf = better_core_gflops(better);
    printf("this CPU runs %s kernels, newer than the %s kernels OpenBLAS chose by itself: "
           "with OPENBLAS_CORETYPE=%s ", better, core, better);
    if (gf > 0) printf("(measured in a child process) %.1f GFLOP/s, the ceiling used below\n", gf);
    else printf("the measurement failed; the ceiling below is OpenBLAS's own choice\n");
    return gf > own ? gf : own;
}

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Fill the training graph's inputs: random tokens for "ids" (and the shifted "targets"),
 * the learning rate, the step; zeros for anything else. */
static lmg_status feed(const lmg_backend *be, lmg_exec *e, const lmg_graph *g, int vocab,
                       uint32_t seed, int32_t step)
{
    for (int k = 0; k < g->n_inputs; k++) {
        int v = g->inputs[k];
        const lmg_value *val = &g->values[v];
        size_t n = (size_t)lmg_shape_numel(&val->shape);
        size_t bytes = n * lmg_dtype_size(val->dtype);
        void *buf = calloc(n ? n : 1, 4);
        if (!buf) return lmg_error(LMG_ERR_NOMEM, "out of memory");
        uint32_t s = seed;
        if (strcmp(val->name, "ids") == 0 || strcmp(val->name, "targets") == 0) {
            int32_t *p = buf;
            /* targets[t] = ids[t+1]: draw n+1 tokens and shift. */
            if (strcmp(val->name, "targets") == 0) lcg(&s);
            for (size_t i = 0; i < n; i++) p[i] = (int32_t)(lcg(&s) % (uint32_t)vocab);
        } else if (strcmp(val->name, "lr") == 0 && val->dtype == LMG_DTYPE_F32) {
            for (size_t i = 0; i < n; i++) ((float *)buf)[i] = 1e-3f;
        } else if (strcmp(val->name, "step") == 0 && val->dtype == LMG_DTYPE_I32) {
            for (size_t i = 0; i < n; i++) ((int32_t *)buf)[i] = step;
        }
        lmg_status st = be->write(e, v, buf, bytes);
        free(buf);
        LMG_TRY(st);
    }
    return LMG_OK;
}

typedef struct bench_row {
    const char *model;
    int ok;
    double median_ms, cpu_ms, min_ms, max_ms, tokens_s, gflops, step_gflop, first_s, init_s;
    double planned_mb, rss_mb, freed_mb, loss0, loss1;
} bench_row;

/* The training step (forward, loss, backward, clipping, AdamW) of model c. */
static lmg_status make_training_graph(const lmg_model_config *c, lmg_graph **out)
{
    *out = NULL;
    lmg_graph *g = NULL;
    LMG_TRY(lmg_model_build(c, &g));
    lmg_optim_config oc;
    lmg_optim_config_default(&oc);
    lmg_status s = lmg_train_graph_build(g, "loss", &oc);
    if (s == LMG_OK) s = lmg_graph_verify(g);
    if (s != LMG_OK) {
        lmg_graph_free(g);
        return s;
    }
    *out = g;
    return LMG_OK;
}

static int bench_model(const char *arch, const lmg_backend *be, const char *device, int warmup,
                       int steps, double blas_gflops, const char *trace, bench_row *row)
{
    const char *label = strcmp(arch, "gpt") == 0 ? "GPT-S" : "BERT-S";
    memset(row, 0, sizeof *row);
    row->model = label;
    lmg_model_config c;
    lmg_graph *g = NULL;
    double t_build = now_s();
    lmg_model_config_small(&c, arch);
    lmg_status s = make_training_graph(&c, &g);
    if (s != LMG_OK) return cli_fail("bench", s, "building the %s training graph", label);
    t_build = now_s() - t_build;
    lmg_graph_flops fl;
    s = lmg_graph_count_flops(g, &fl);
    if (s != LMG_OK) {
        lmg_graph_free(g);
        return cli_fail("bench", s, "counting the %s training graph's FLOPs", label);
    }
    double mm = fl.matmul[0] + fl.matmul[1], att = fl.attention[0] + fl.attention[1];
    row->step_gflop = (mm + att) * 1e-9;
    lmg_plan *plan = NULL;
    s = lmg_plan_build(g, NULL, &plan);
    if (s != LMG_OK) {
        lmg_graph_free(g);
        return cli_fail("bench", s, "planning the %s training graph", label);
    }
    row->planned_mb = (double)plan->peak / 1e6;
    int64_t params = lmg_model_param_count(g);
    int loss_id = lmg_graph_find(g, "loss");
    printf("%s: %d layers, %d heads, d_model %d, d_ff %d, vocab %d, T %d, B %d; %lld parameters\n",
           label, c.layers, c.heads, c.d_model, c.d_ff, c.vocab, c.seq, c.batch,
           (long long)params);
    printf("  training graph: %d nodes, %d values (built in %.2f s); %.2f GFLOP per step "
           "(MatMul %.2f, attention %.2f)\n",
           g->n_nodes, g->n_values, t_build, row->step_gflop, mm * 1e-9, att * 1e-9);
    printf("  memory plan: %.1f MB (arena %.1f MB, lower bound %.1f MB; params %.1f, grads %.1f, "
           "optimizer state %.1f MB)\n",
           (double)plan->peak / 1e6, (double)plan->region_bytes[LMG_REGION_ARENA] / 1e6,
           (double)plan->lower_bound / 1e6, (double)plan->region_bytes[LMG_REGION_PARAMS] / 1e6,
           (double)plan->region_bytes[LMG_REGION_GRADS] / 1e6,
           (double)plan->region_bytes[LMG_REGION_STATE] / 1e6);
    fflush(stdout);
    lmg_plan_free(plan);

    long rss0, hwm0, rss1, hwm1;
    rss_kb(&rss0, &hwm0);
    lmg_exec *e = NULL;
    lmg_exec_opts eo = {device, 0};
    double t0 = now_s(), c0 = cpu_s();
    s = be->init(g, &eo, &e);
    if (s != LMG_OK) {
        lmg_graph_free(g);
        return cli_fail("bench", s, "preparing %s on the %s backend", label, be->name);
    }
    row->init_s = now_s() - t0;
    if (be == &lmg_backend_opencl) printf("  matrix products: %s\n", lmg_opencl_gemm_route(e));
    int n_steps = warmup + steps;
    double *ms = calloc((size_t)(n_steps > 0 ? n_steps : 1), sizeof *ms);
    double *cpu = calloc((size_t)(n_steps > 0 ? n_steps : 1), sizeof *cpu);
    double cores = (double)sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1) cores = 1;
    float loss = NAN;
    for (int i = 0; i < n_steps && s == LMG_OK; i++) {
        double ts = now_s(), tc = cpu_s();
        s = feed(be, e, g, c.vocab, 1000u + (uint32_t)i, i + 1);
        if (s == LMG_OK) s = be->run(e, (uint64_t)(i + 1));
        if (s == LMG_OK && loss_id >= 0) s = be->read(e, loss_id, &loss, sizeof loss);
        ms[i] = (now_s() - ts) * 1e3;
        cpu[i] = (cpu_s() - tc) * 1e3 / cores;
        if (trace && i == warmup - 1) lmg_opencl_profile_reset(); /* timed steps only */
        if (i == 0) {
            row->first_s = now_s() - t0;
            row->loss0 = loss;
            printf("  first step: %.2f s (backend init %.2f s + step %.2f s; %.2f s of CPU time), "
                   "loss %.4f\n",
                   row->first_s, row->init_s, ms[0] / 1e3, cpu_s() - c0, loss);
            fflush(stdout);
        }
    }
    row->loss1 = loss;
    rss_kb(&rss1, &hwm1);
    be->free(e);
    /* What freeing the prepared graph gives back is its buffers (large allocations go back to
     * the system at once): on a CPU device, the device memory the step used. */
    long rss2, hwm2;
    rss_kb(&rss2, &hwm2);
    row->freed_mb = (double)(rss1 - rss2) * 1.024e-3;
    lmg_graph_free(g);
    if (s != LMG_OK) {
        free(ms);
        free(cpu);
        return cli_fail("bench", s, "running %s", label);
    }
    row->rss_mb = (double)(hwm1 - rss0) * 1.024e-3;
    if (steps > 0) {
        double *t = ms + warmup;
        qsort(t, (size_t)steps, sizeof *t, cmp_double);
        row->median_ms = steps % 2 ? t[steps / 2] : 0.5 * (t[steps / 2 - 1] + t[steps / 2]);
        double *tc = cpu + warmup;
        qsort(tc, (size_t)steps, sizeof *tc, cmp_double);
        row->cpu_ms = steps % 2 ? tc[steps / 2] : 0.5 * (tc[steps / 2 - 1] + tc[steps / 2]);
        row->min_ms = t[0];
        row->max_ms = t[steps - 1];
        row->tokens_s = (double)c.batch * c.seq / (row->median_ms * 1e-3);
        row->gflops = row->step_gflop / (row->median_ms * 1e-3);
        printf("  %d steps after %d warm-up: median %.0f ms/step (min %.0f, max %.0f), "
               "%.0f tokens/s, %.1f GFLOP/s",
               steps, warmup, row->median_ms, row->min_ms, row->max_ms, row->tokens_s,
               row->gflops);
        if (blas_gflops > 0) printf(" = %.3f x OpenBLAS", row->gflops / blas_gflops);
        printf("\n  CPU time of this process / %.0f cores: median %.0f ms/step (what an idle machine "
               "would show on a CPU device; %.1f GFLOP/s)\n",
               cores, row->cpu_ms, row->step_gflop / (row->cpu_ms * 1e-3));
    }
    if (trace && steps > 0 && cli_profile_report("bench", steps, row->median_ms, trace, 25)) {
        free(ms);
        free(cpu);
        return 1;
    }
    printf("  loss: step 1 %.4f, step %d %.4f\n", row->loss0, n_steps, row->loss1);
    printf("  memory: planned %.1f MB; freeing the prepared graph returned %.1f MB (its buffers: "
           "device memory on a CPU device); process peak grew %.1f MB (compiler included)\n\n",
           row->planned_mb, row->freed_mb, row->rss_mb);
    free(ms);
    free(cpu);
    row->ok = 1;
    return 0;
}

/* Remove a scratch kernel cache made for --cold. */
static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* The OpenCL device of a "P:D" choice (NULL: the default), or NULL. */
static cl_device_id opencl_device(const char *spec)
{
    int p, d;
    if (lmg_opencl_pick_device(spec, &p, &d) != LMG_OK) return NULL;
    cl_platform_id plats[16];
    cl_uint np = 0;
    if (clGetPlatformIDs(16, plats, &np) != CL_SUCCESS || (cl_uint)p >= np) return NULL;
    cl_device_id devs[64];
    cl_uint nd = 0;
    if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 64, devs, &nd) != CL_SUCCESS ||
        (cl_uint)d >= nd)
        return NULL;
    return devs[d];
}

/* The distinct products of GPT-S's training step, from its graph. */
static lmg_status gpt_s_products(lmg_matmul_shape **sh, int *n)
{
    lmg_model_config c;
    lmg_model_config_small(&c, "gpt");
    lmg_graph *g = NULL;
    LMG_TRY(make_training_graph(&c, &g));
    lmg_status s = lmg_graph_matmul_shapes(g, sh, n);
    lmg_graph_free(g);
    return s;
}

/* --products: CLBlast's GFLOP/s at GPT-S's product shapes with CLBlast's default parameters
 * and with the set lmg applies, in one process; by the wall clock and by CPU time. */
static int bench_products(const char *device, int reps)
{
    cl_device_id dev = opencl_device(device);
    if (!dev) return cli_fail("bench", LMG_ERR_DEVICE, "no OpenCL device '%s'", device ? device : "");
    char name[256] = "";
    clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof name, name, NULL);
    int n;
    lmg_matmul_shape *sh = NULL;
    lmg_status s0 = gpt_s_products(&sh, &n);
    if (s0 != LMG_OK) return cli_fail("bench", s0, "listing GPT-S's matrix products");
    /* 1024^3 first (count 0: outside the step's totals), for the comparison with OpenBLAS. */
    lmg_matmul_shape all[32];
    all[0] = (lmg_matmul_shape){0, 0, 1024, 1024, 1024, 0};
    if (n > 31) n = 31;
    memcpy(all + 1, sh, (size_t)n * sizeof *sh);
    free(sh);
    n++;
    double gf[3][32], gc[3][32], tot[3] = {0, 0, 0}, totc[3] = {0, 0, 0}, flops = 0;
    const char *state = "";
    for (int pass = 0; pass < 2; pass++) {
        lmg_status s;
        double t0 = now_s();
        if (pass == 0) s = lmg_cl_tune_override(dev, lmg_cl_tune_known_set("defaults"));
        else {
            s = lmg_cl_tune_apply(dev);
            state = lmg_cl_tune_state(dev);
        }
        if (s != LMG_OK) return cli_fail("bench", s, "setting CLBlast parameters");
        for (int i = 0; i < n; i++) {
            double err;
            s = lmg_cl_gemm_measure(dev, &all[i], reps, &gf[pass][i], &gc[pass][i], &err);
            if (s != LMG_OK) return cli_fail("bench", s, "timing CLBlast Sgemm");
            if (!(err <= 1e-4))
                return cli_fail("bench", LMG_ERR_DEVICE, "CLBlast Sgemm %lldx%lldx%lld is wrong "
                                "(relative error %.3g)", (long long)all[i].m, (long long)all[i].n,
                                (long long)all[i].k, err);
            double f = 2.0 * all[i].m * all[i].n * all[i].k * all[i].count;
            tot[pass] += f / (gf[pass][i] * 1e9);
            totc[pass] += f / (gc[pass][i] * 1e9);
            if (pass == 0) flops += f;
            if (pass == 1) {
                /* Host BLAS in a native kernel, right after tuned CLBlast at the same shape. */
                s = lmg_opencl_host_gemm_measure(dev, all[i].ta, all[i].tb, (size_t)all[i].m,
                                                 (size_t)all[i].n, (size_t)all[i].k, reps,
                                                 &gf[2][i], &gc[2][i], &err);
                if (s != LMG_OK) return cli_fail("bench", s, "timing host BLAS");
                if (!(err <= 1e-4))
                    return cli_fail("bench", LMG_ERR_DEVICE, "host BLAS %lldx%lldx%lld is wrong "
                                    "(relative error %.3g)", (long long)all[i].m,
                                    (long long)all[i].n, (long long)all[i].k, err);
                tot[2] += f / (gf[2][i] * 1e9);
                totc[2] += f / (gc[2][i] * 1e9);
            }
        }
        printf("# pass %d (%s) took %.1f s including program builds\n", pass,
               pass ? state : "CLBlast defaults", now_s() - t0);
    }
    printf("CLBlast Sgemm (row-major, offsets as in the arena) on '%s'\n", name);
    printf("tuned = %s\n", state);
    printf("GFLOP/s by the wall clock, and [by CPU time over the compute units]\n");
    printf("%-4s %-16s %5s %16s %16s %8s %18s\n", "op", "M x N x K", "count", "default", "tuned",
           "speedup", "host BLAS");
    for (int i = 0; i < n; i++) {
        char shape[48], d[32], t[32], hb[32];
        snprintf(shape, sizeof shape, "%lldx%lldx%lld", (long long)all[i].m, (long long)all[i].n,
                 (long long)all[i].k);
        snprintf(d, sizeof d, "%.1f [%.1f]", gf[0][i], gc[0][i]);
        snprintf(t, sizeof t, "%.1f [%.1f]", gf[1][i], gc[1][i]);
        snprintf(hb, sizeof hb, "%.1f [%.1f]", gf[2][i], gc[2][i]);
        printf("%s%s  %-16s %5lld %16s %16s %7.2fx %18s\n", all[i].ta ? "T" : "N",
               all[i].tb ? "T" : "N", shape, (long long)all[i].count, d, t, gf[1][i] / gf[0][i],
               hb);
    }
    printf("GPT-S step's products (count x shape): defaults %.0f ms = %.1f GFLOP/s [%.0f ms, %.1f], "
           "tuned %.0f ms = %.1f GFLOP/s [%.0f ms, %.1f]\n",
           tot[0] * 1e3, flops / tot[0] * 1e-9, totc[0] * 1e3, flops / totc[0] * 1e-9,
           tot[1] * 1e3, flops / tot[1] * 1e-9, totc[1] * 1e3, flops / totc[1] * 1e-9);
    printf("host BLAS (OpenBLAS %s kernels) in native kernels: %.0f ms = %.1f GFLOP/s "
           "[%.0f ms, %.1f]\n", lmg_opencl_blas_core(), tot[2] * 1e3, flops / tot[2] * 1e-9,
           totc[2] * 1e3, flops / totc[2] * 1e-9);
    double blas = openblas_gflops(2);
    printf("OpenBLAS sgemm 1024^3, 2 threads: %.1f GFLOP/s (tuned CLBlast 1024^3 = %.2f x)\n", blas,
           gf[1][0] / blas);
    return 0;
}

int lmg_cmd_bench(int argc, char **argv)
{
    const char *model = "gpt", *backend = NULL, *device = NULL;
    long long steps = 10, warmup = 2;
    int cold = 0, products = 0, no_blas = 0, profile = 0, ceiling = 0, ceiling_only = 0, rc = 0;
    const char *trace = NULL;
    cli_opt opts[] = {
        CLI_CHOICE("--model", "M", "gpt|bert|both", &model, "gpt (default), bert or both"),
        CLI_INT("--steps", "N", &steps, 0, 1000000, "timed steps (default 10)"),
        CLI_INT("--warmup", "N", &warmup, 0, 1000000, "untimed steps first (default 2)"),
        CLI_STR("--backend", NULL, "NAME", &backend, "opencl (default) or ref"),
        CLI_STR("--device", NULL, "P:D", &device,
                "OpenCL platform and device (default: LMG_DEVICE, else the first GPU,\n"
                "else the first device; see lmg devices)"),
        CLI_FLAG("--cold", NULL, &cold,
                 "use an empty PoCL kernel cache (POCL_CACHE_DIR), removed afterwards,\n"
                 "to time the first step as on a fresh machine"),
        CLI_FLAG("--products", NULL, &products,
                 "instead: CLBlast Sgemm GFLOP/s at GPT-S's product shapes with\n"
                 "CLBlast's default parameters and with lmgraph's (see lmg tune),\n"
                 "and host BLAS in native kernels (the CPU-device route)"),
        CLI_FLAG("--no-blas", NULL, &no_blas, "skip the OpenBLAS measurement"),
        CLI_FLAG("--ceiling-only", NULL, &ceiling_only,
                 "only the OpenBLAS kernels in use and the GEMM ceiling (and, when\n"
                 "OpenBLAS fell back to older kernels than the CPU runs, the\n"
                 "ceiling with OPENBLAS_CORETYPE set, measured in a child process)"),
        CLI_FLAG("--ceiling", NULL, &ceiling,
                 "only the line 'ceiling KERNELS GFLOP/s', as the child process\n"
                 "of --ceiling-only reports it"),
        CLI_FLAG("--profile", NULL, &profile,
                 "time every node by OpenCL event profiling over the timed steps:\n"
                 "tables by op type and by node (ms, %, GFLOP/s, GB/s), and a\n"
                 "Chrome-trace JSON of the last step (chrome://tracing, Perfetto)"),
        CLI_STR("--trace", NULL, "FILE", &trace,
                "where --profile writes the trace (default lmg-trace-MODEL.json;\n"
                "with --model both, MODEL is put before the extension)"),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = "bench",
        .usage = "lmg bench [--model gpt|bert|both] [--steps N] [--warmup N]\n"
                 "          [--backend NAME] [--device P:D] [--cold] [--products]\n"
                 "          [--profile [--trace FILE]]",
        .about = "Time training steps (forward, loss, backward, AdamW) of the BENCH.md models with\n"
                 "random initial weights and random tokens: GPT-S and BERT-S (4 layers, 4 heads,\n"
                 "d_model 256, d_ff 1024, vocab 4096, T 128, B 8). Prints, per model, the time to the\n"
                 "first step (backend init with its program builds + one step), the median, min and\n"
                 "max ms per step after the warm-up, tokens/s, achieved GFLOP/s (FLOPs counted from the\n"
                 "graph: 2*M*N*K per MatMul plus attention's products), the planned memory and the\n"
                 "host memory growth; and OpenBLAS cblas_sgemm 1024^3 GFLOP/s on 2 threads in the same\n"
                 "run (naming the kernels OpenBLAS runs, and measuring the right ones in a child\n"
                 "process when OpenBLAS fell back to older ones), with the ratio of the step's GFLOP/s\n"
                 "to it. Matrix products on a CPU OpenCL device run through host BLAS when it passes\n"
                 "its check (LMG_CL_GEMM=clblast forces CLBlast); the route is printed.",
        .opts = opts,
        .exit_status = "0 measured, 1 failure, 2 usage error",
    };
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    if (ceiling) {
        printf("ceiling %s %.2f\n", lmg_opencl_blas_core(), openblas_gflops(2));
        return 0;
    }
    if (ceiling_only) {
        print_ceiling(2);
        return 0;
    }
    if (trace) profile = 1;
    int blas = !no_blas;
    const lmg_backend *be = cli_backend(backend);
    if (!be) return cli_usage_error("bench", "unknown backend '%s'", backend);
    if (steps + warmup == 0) return cli_usage_error("bench", "nothing to run: --steps 0 --warmup 0");

    char cold_dir[] = "/tmp/lmg-bench-pocl-XXXXXX";
    if (cold) {
        if (!mkdtemp(cold_dir)) return cli_fail("bench", LMG_ERR_IO, "cannot make a cache folder");
        setenv("POCL_CACHE_DIR", cold_dir, 1);
        printf("empty PoCL kernel cache: %s\n", cold_dir);
    }
    if (products) {
        rc = bench_products(device, 5);
    } else {
        double bg = 0;
        if (blas) bg = print_ceiling(2);
        printf("backend %s%s%s\n\n", be->name, device ? ", device " : "", device ? device : "");
        fflush(stdout);
        bench_row rows[2];
        int n = 0;
        char tr[2][1024];
        for (int m = 0; m < 2; m++) {
            const char *name = m ? "bert" : "gpt";
            if (!trace) {
                snprintf(tr[m], sizeof tr[m], "lmg-trace-%s.json", name);
            } else if (strcmp(model, "both") != 0) {
                snprintf(tr[m], sizeof tr[m], "%s", trace);
            } else {
                const char *dot = strrchr(trace, '.'), *slash = strrchr(trace, '/');
                int stem = dot && (!slash || dot > slash) ? (int)(dot - trace) : (int)strlen(trace);
                snprintf(tr[m], sizeof tr[m], "%.*s-%s%s", stem, trace, name, trace + stem);
            }
        }
        if (profile) {
            if (be != &lmg_backend_opencl)
                return cli_usage_error("bench", "--profile needs the opencl backend");
            lmg_opencl_profile_enable(1);
        }
        if (strcmp(model, "bert") != 0 && rc == 0)
            rc = bench_model("gpt", be, device, (int)warmup, (int)steps, bg,
                             profile ? tr[0] : NULL, &rows[n++]);
        if (strcmp(model, "gpt") != 0 && rc == 0)
            rc = bench_model("bert", be, device, (int)warmup, (int)steps, bg,
                             profile ? tr[1] : NULL, &rows[n++]);
        if (be == &lmg_backend_opencl) {
            cl_device_id dev = opencl_device(device);
            if (dev) printf("CLBlast parameters: %s\n", lmg_cl_tune_state(dev));
        }
        if (blas) {
            double bg2 = openblas_gflops(2);
            printf("OpenBLAS (%s kernels) again after the steps: %.1f GFLOP/s\n",
                   lmg_opencl_blas_core(), bg2);
        }
        printf("\n%-7s %9s %13s %8s %9s %8s %6s %9s %9s %9s\n", "model", "ms/step", "min-max",
               "cpu-ms", "tokens/s", "GFLOP/s", "xBLAS", "first(s)", "plan(MB)", "dev(MB)");
        for (int i = 0; i < n; i++) {
            if (!rows[i].ok) continue;
            char mm[32];
            snprintf(mm, sizeof mm, "%.0f-%.0f", rows[i].min_ms, rows[i].max_ms);
            printf("%-7s %9.0f %13s %8.0f %9.0f %8.1f %6.3f %9.2f %9.1f %9.1f\n", rows[i].model,
                   rows[i].median_ms, mm, rows[i].cpu_ms, rows[i].tokens_s, rows[i].gflops,
                   bg > 0 ? rows[i].gflops / bg : 0.0, rows[i].first_s, rows[i].planned_mb,
                   rows[i].freed_mb);
        }
    }
    if (cold) nftw(cold_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

/* ---- lmg tune ------------------------------------------------------------------------ */

static void tune_log(void *ctx, const char *line)
{
    (void)ctx;
    printf("%s\n", line);
    fflush(stdout);
}

/* The products to tune for: those of `path`, or of the default training step. *what names
 * them for the output and the cache file. Returns the exit status. */
static int tune_workload(const char *path, lmg_matmul_shape **sh, int *n, char *what, size_t what_n)
{
    lmg_graph *g = NULL;
    lmg_status s;
    if (path) {
        snprintf(what, what_n, "graph '%s'", path);
        if (cli_load_graph(path, &g) != LMG_OK) return cli_fail_file("tune", path);
    } else {
        lmg_train_config tc;
        lmg_train_config_default(&tc);
        const lmg_model_config *c = &tc.model;
        snprintf(what, what_n, "lmg train's default model (%s, %d layers, d_model %d, d_ff %d, "
                 "vocab %d, seq %d, batch %d), one training step", c->arch, c->layers, c->d_model,
                 c->d_ff, c->vocab, c->seq, c->batch);
        s = make_training_graph(c, &g);
        if (s != LMG_OK) return cli_fail("tune", s, "building the default training graph");
    }
    s = lmg_graph_matmul_shapes(g, sh, n);
    lmg_graph_free(g);
    if (s != LMG_OK) return path ? cli_fail_file("tune", path) : cli_fail("tune", s, "%s", what);
    if (*n == 0) {
        fprintf(stderr, "lmg tune: %s has no matrix products (MatMul nodes): nothing to tune\n",
                what);
        return 1;
    }
    return 0;
}

static void tune_print_workload(const char *what, const lmg_matmul_shape *sh, int n)
{
    double flops = 0;
    for (int i = 0; i < n; i++) flops += 2.0 * (double)sh[i].m * (double)sh[i].n * (double)sh[i].k *
                                         (double)sh[i].count;
    printf("workload: %s: %d product shapes, %.2f GFLOP per run\n", what, n, flops * 1e-9);
    for (int i = 0; i < n; i++)
        printf("  %s%s %lldx%lldx%lld x%lld\n", sh[i].ta ? "T" : "N", sh[i].tb ? "T" : "N",
               (long long)sh[i].m, (long long)sh[i].n, (long long)sh[i].k, (long long)sh[i].count);
}

int lmg_cmd_tune(int argc, char **argv)
{
    const char *device = NULL, *graph = NULL;
    long long max = 0, reps = 3;
    int no_save = 0, show = 0, list = 0, rc;
    cli_opt opts[] = {
        CLI_STR("--graph", NULL, "FILE", &graph,
                "tune for this graph (.pb or .lmgt): a training graph (a run\n"
                "folder's train.pb) tunes for training steps. Default: the\n"
                "training step of the model `lmg train` trains without options"),
        CLI_FLAG("--list", NULL, &list, "print the graph's products and stop (no device needed)"),
        CLI_STR("--device", NULL, "P:D", &device, "the OpenCL device (default as for the backend)"),
        CLI_INT("--max", "N", &max, 1, 1000, "try only the first N sets of the list"),
        CLI_INT("--reps", "N", &reps, 1, 64, "timed runs per shape (default 3)"),
        CLI_FLAG("--no-save", NULL, &no_save, "do not write the cache file"),
        CLI_FLAG("--show", NULL, &show, "print the cache file path and what the backend would apply; no search"),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = "tune",
        .usage = "lmg tune [--graph FILE] [--device P:D] [--max N] [--reps N] [--no-save]\n"
                 "         [--list] [--show]",
        .about = "Search CLBlast's matrix-product parameters for an OpenCL device, for the products\n"
                 "of one graph: every MatMul's shape (M x N x K and its transposes, as the OpenCL\n"
                 "backend issues it) and how often one run of the graph computes it. A fixed list of\n"
                 "Xgemm parameter sets (and the size from which products leave XgemmDirect for\n"
                 "Xgemm) is tried, each checked against OpenBLAS at every product shape and at small\n"
                 "odd sizes with all transposes (CLBlast does not check overridden parameters, and\n"
                 "some sets compute wrong numbers), then timed over the graph's products. The\n"
                 "fastest correct set is saved to the device's cache file, which the OpenCL backend\n"
                 "applies at start-up (and checks once). Each set costs one CLBlast program build,\n"
                 "10-25 s on PoCL: a full search takes several minutes.",
        .opts = opts,
        .epilog = "LMG_CLBLAST_TUNING=off makes the backend keep CLBlast's own parameters.",
        .exit_status = "0 done, 1 failure, 2 usage error",
    };
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    int save = !no_save;
    lmg_matmul_shape *sh = NULL;
    int n = 0;
    char what[1200];
    if (!show) {
        rc = tune_workload(graph, &sh, &n, what, sizeof what);
        if (rc) return rc;
        tune_print_workload(what, sh, n);
        if (list) {
            free(sh);
            return 0;
        }
    }
    cl_device_id dev = opencl_device(device);
    if (!dev) {
        free(sh);
        return cli_fail("tune", LMG_ERR_DEVICE, "no OpenCL device '%s'", device ? device : "");
    }
    char name[256] = "", path[1024];
    clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof name, name, NULL);
    lmg_status s = lmg_cl_tune_cache_path(dev, path, sizeof path);
    if (s != LMG_OK) {
        free(sh);
        return cli_fail("tune", s, "finding the cache file");
    }
    printf("device '%s'\ncache file %s%s\n", name, path, access(path, R_OK) == 0 ? "" : " (none yet)");
    if (show) {
        s = lmg_cl_tune_apply(dev);
        if (s != LMG_OK) return cli_fail("tune", s, "applying");
        printf("applied: %s\n", lmg_cl_tune_state(dev));
        return 0;
    }
    lmg_cl_tune_opts o = {0};
    o.max_candidates = (int)max;
    o.reps = (int)reps;
    o.shapes = sh;
    o.n_shapes = n;
    o.workload = what;
    o.save = save;
    o.log = tune_log;
    lmg_cl_tune_result r;
    s = lmg_cl_tune_search(dev, &o, &r);
    free(sh);
    if (s != LMG_OK) return cli_fail("tune", s, "searching");
    printf("\n%d sets tried: %d rejected for wrong results, %d dropped as far slower, %d failed\n",
           r.tried, r.wrong, r.dropped, r.failed);
    printf("the workload's products: %.1f ms (%.1f GFLOP/s) before, %.1f ms (%.1f GFLOP/s) "
           "best\n",
           r.baseline_ms, r.baseline_gflops, r.best_ms, r.best_gflops);
    if (r.best[0]) printf("best set:\n%s", r.best);
    else printf("no set beat the parameters in force\n");
    return 0;
}
