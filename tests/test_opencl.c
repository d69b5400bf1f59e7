/* test_opencl.c — the OpenCL backend against the reference backend: every op case forward and
 * (when differentiable) its training graph, with in-place memory planning and again with
 * guard words around every value; registry, error-message and AdamW-fusion checks. */
#include "test.h"
#include "cases.h"
#include "../backends/opencl/opencl_internal.h"
#include "../models/models.h"
#include "../train/train.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* sum (a-b)^2 / sum b^2 over finite elements: every op case meets it, float accumulation in
 * the kernels against the reference's double sums included, so no op needs its own bound. */
#define NMSE_TOL 1e-10

static const lmg_backend *ref = &lmg_backend_ref, *ocl = &lmg_backend_opencl;

/* ---- graphs ------------------------------------------------------------------------- */

/* The case's one-node graph, built as for the gradient check (tests/cases_graph.c); with
 * `with_loss` its f32 inputs are parameters and autodiff adds grad/<x_k>. */
static lmg_graph *build_graph(const lmg_case *c, lmg_case_graph *b, int with_loss, char *err,
                              size_t errn)
{
    lmg_graph *g = lmg_case_build_graph(c, b, with_loss, with_loss, err, errn);
    if (!g) return NULL;
    lmg_status st = with_loss ? lmg_autodiff(g, "loss") : LMG_OK;
    if (st == LMG_OK) st = lmg_graph_verify(g);
    if (st != LMG_OK) {
        snprintf(err, errn, "building the %s graph: %s", with_loss ? "training" : "forward",
                 lmg_last_error());
        lmg_graph_free(g);
        return NULL;
    }
    return g;
}

/* ---- comparing two runs ------------------------------------------------------------ */

/* Random ops draw the reference's bits and index ops move whole elements: both must agree
 * exactly, not within a tolerance. */
static int is_random_op(lmg_op op)
{
    return op == LMG_OP_DROPOUT || op == LMG_OP_BERNOULLI || op == LMG_OP_RANDOM_INT ||
           op == LMG_OP_MLM_CORRUPT || op == LMG_OP_SPAN_MASK || op == LMG_OP_ARGSORT ||
           op == LMG_OP_TAKE_ALONG;
}

/* Run g on a backend (canary: guard words around every value) and read every output.
 * Returns malloc'd buffers in outs[k] (graph output k). */
static lmg_status run_graph(const lmg_backend *be, const lmg_graph *g, int canary, uint64_t step,
                            void **outs)
{
    lmg_exec *e = NULL;
    if (canary) setenv("LMG_CL_CANARY", "1", 1);
    lmg_status s = be->init(g, &(lmg_exec_opts){0}, &e);
    unsetenv("LMG_CL_CANARY");
    if (s == LMG_OK) s = be->run(e, step);
    /* A second run catches kernels that depend on what the previous one left behind. */
    if (s == LMG_OK) s = be->run(e, step);
    for (int k = 0; k < g->n_outputs && s == LMG_OK; k++) {
        const lmg_value *v = &g->values[g->outputs[k]];
        size_t bytes = (size_t)lmg_shape_numel(&v->shape) * 4;
        outs[k] = malloc(bytes ? bytes : 1);
        if (!outs[k]) s = LMG_ERR_NOMEM;
        else s = be->read(e, g->outputs[k], outs[k], bytes);
    }
    be->free(e);
    return s;
}

/* The worst normalised MSE per op over its cases (forward and gradient graphs), reported at
 * the end so a kernel drifting toward the bound shows before it crosses it. */
static double worst_nmse[LMG_OP_COUNT + 1];
static int stat_op = LMG_OP_COUNT;

/* Compare output k; returns 1 when it matches (reporting through CHECK otherwise). */
static int compare(const char *what, const lmg_value *v, const void *a, const void *b,
                   int exact, double tol)
{
    int64_t n = lmg_shape_numel(&v->shape);
    if (v->dtype == LMG_DTYPE_I32 || exact) {
        int64_t bad = 0, first = -1;
        for (int64_t i = 0; i < n; i++)
            if (((const uint32_t *)a)[i] != ((const uint32_t *)b)[i]) {
                if (first < 0) first = i;
                bad++;
            }
        return CHECK(bad == 0, "%s: '%s' differs bit for bit in %lld of %lld elements (first at "
                     "%lld: opencl %#x, ref %#x)", what, v->name, (long long)bad, (long long)n,
                     (long long)first, first >= 0 ? ((const uint32_t *)a)[first] : 0,
                     first >= 0 ? ((const uint32_t *)b)[first] : 0);
    }
    const float *x = a, *y = b;
    double num = 0, den = 0, worst = 0;
    int64_t worst_i = -1, special = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(y[i]) || isinf(y[i]) || isnan(x[i]) || isinf(x[i])) {
            int same = (isnan(y[i]) && isnan(x[i])) || (isinf(y[i]) && x[i] == y[i]);
            if (!same) {
                CHECK(0, "%s: '%s' element %lld: opencl %g, ref %g (NaN/Inf positions differ)",
                      what, v->name, (long long)i, x[i], y[i]);
                return 0;
            }
            special++;
            continue;
        }
        double d = (double)x[i] - (double)y[i];
        num += d * d;
        den += (double)y[i] * y[i];
        if (fabs(d) > worst) {
            worst = fabs(d);
            worst_i = i;
        }
    }
    /* All-zero references must come back (nearly) zero. */
    double nmse = num / fmax(den, 1e-20 * (double)(n - special > 0 ? n - special : 1));
    if (nmse > worst_nmse[stat_op]) worst_nmse[stat_op] = nmse;
    return CHECK(nmse <= tol, "%s: '%s' normalised MSE %.3g > %.3g (worst element %lld: opencl "
                 "%.9g, ref %.9g)", what, v->name, nmse, tol, (long long)worst_i,
                 worst_i >= 0 ? x[worst_i] : 0.0, worst_i >= 0 ? y[worst_i] : 0.0);
}

static void compare_graph(const char *tname, const lmg_case *c, const lmg_graph *g, int forward)
{
    void *r[16] = {0}, *o[16] = {0}, *oc[16] = {0};
    uint64_t step = 3;
    lmg_status s = run_graph(ref, g, 0, step, r);
    if (!CHECK(s == LMG_OK, "%s: ref run: %s", tname, lmg_last_error())) goto done;
    s = run_graph(ocl, g, 0, step, o);
    if (!CHECK(s == LMG_OK, "%s: opencl run: %s", tname, lmg_last_error())) goto done;
    s = run_graph(ocl, g, 1, step, oc);
    if (!CHECK(s == LMG_OK, "%s: opencl run with guard words: %s", tname, lmg_last_error()))
        goto done;
    for (int k = 0; k < g->n_outputs && k < 16; k++) {
        const lmg_value *v = &g->values[g->outputs[k]];
        int exact = forward && is_random_op(c->op);
        char what[200];
        snprintf(what, sizeof what, "%s (planned, in place)", tname);
        compare(what, v, o[k], r[k], exact, NMSE_TOL);
        snprintf(what, sizeof what, "%s (guarded)", tname);
        compare(what, v, oc[k], r[k], exact, NMSE_TOL);
    }
done:
    for (int k = 0; k < 16; k++) {
        free(r[k]);
        free(o[k]);
        free(oc[k]);
    }
}

static void case_test(const lmg_case *c)
{
    stat_op = (unsigned)c->op < LMG_OP_COUNT ? (int)c->op : LMG_OP_COUNT;
    char tname[200];
    lmg_case_graph in;
    memset(&in, 0, sizeof in);
    char err[512] = "";
    for (int pass = 0; pass < 2; pass++) {
        int with_loss = pass == 1;
        if (with_loss && c->nograd) break;
        snprintf(tname, sizeof tname, "opencl %s %s", with_loss ? "gradient" : "forward", c->name);
        test_begin(tname);
        if (lmg_case_make_inputs(c, &in, err, sizeof err) != 0) {
            CHECK(0, "%s: %s", c->name, err);
        } else {
            lmg_graph *g = build_graph(c, &in, with_loss, err, sizeof err);
            if (CHECK(g != NULL, "%s: %s", c->name, err)) compare_graph(tname, c, g, !with_loss);
            lmg_graph_free(g);
        }
        lmg_case_graph_free(&in);
        test_end();
    }
    stat_op = LMG_OP_COUNT;
}

/* ---- cases at the sizes where the kernels change path -------------------------------- */

/* The shared tables keep shapes small for the gradient check; these cross the kernels' inner
 * boundaries: several key tiles and query/key blocks in attention and its constant head-dim
 * variants, rows longer than a work-group, the column-chunk and general reductions, a sort
 * over several blocks in EmbeddingGrad, and products large enough for CLBlast's padded path. */
#define XI(n, v) {.name = (char *)(n), .type = LMG_ATTR_INT, .i = (v)}
#define XF(n, v) {.name = (char *)(n), .type = LMG_ATTR_FLOAT, .f = (v)}
#define XI32 LMG_DTYPE_I32
#define XF32 LMG_DTYPE_F32

static void fill_mask(int k, lmg_tensor *t, uint64_t s)
{
    int64_t n = lmg_shape_numel(&t->shape);
    if (k < 3) {
        for (int64_t i = 0; i < n; i++) lmg_f32(t)[i] = (float)(2.0 * rng_uniform(&s) - 1.0);
        return;
    }
    int64_t S = t->shape.dims[1];
    for (int64_t i = 0; i < n; i++) lmg_f32(t)[i] = i % S == 0 || rng_uniform(&s) < 0.6 ? 1.0f : 0.0f;
}

static const lmg_case extra_cases[] = {
    {.name = "x/Attention/D64-tiles", .op = LMG_OP_ATTENTION, .n_in = 3,
     .shape = {"1,2,5,64", "1,2,70,64", "1,2,70,64"}},
    {.name = "x/Attention/D32-causal-blocks", .op = LMG_OP_ATTENTION, .n_in = 3,
     .shape = {"1,1,70,32", "1,1,75,32", "1,1,75,32"}, .n_attr = 1, .attrs = {XI("causal", 1)}},
    {.name = "x/Attention/D128-mask", .op = LMG_OP_ATTENTION, .n_in = 4,
     .shape = {"2,1,3,128", "2,1,40,128", "2,1,40,128", "2,40"}, .init = fill_mask,
     .no_grad_in = 8},
    {.name = "x/Attention/D12-causal-mask-long", .op = LMG_OP_ATTENTION, .n_in = 4,
     .shape = {"1,2,67,12", "1,2,66,12", "1,2,66,12", "1,66"}, .n_attr = 1,
     .attrs = {XI("causal", 1)}, .init = fill_mask, .no_grad_in = 8},
    {.name = "x/Attention/D6-long", .op = LMG_OP_ATTENTION, .n_in = 3,
     .shape = {"1,1,66,6", "1,1,70,6", "1,1,70,6"}, .n_attr = 1, .attrs = {XF("scale", 0.3)}},
    {.name = "x/Softmax/long-rows", .op = LMG_OP_SOFTMAX, .n_in = 1, .shape = {"3,1000"},
     .lo = {-8}, .hi = {8}},
    {.name = "x/LogSoftmax/long-rows", .op = LMG_OP_LOG_SOFTMAX, .n_in = 1, .shape = {"2,777"}},
    {.name = "x/LayerNorm/long-rows", .op = LMG_OP_LAYER_NORM, .n_in = 3,
     .shape = {"70,300", "300", "300"}, .lo = {-2, 0.5, -1}, .hi = {2, 1.5, 1}},
    {.name = "x/CrossEntropy/wide", .op = LMG_OP_CROSS_ENTROPY, .n_in = 2, .dtype = {XF32, XI32},
     .shape = {"40,700", "40"}, .lo = {-3, -1}, .hi = {3, 700}},
    {.name = "x/ArgMax/long-rows", .op = LMG_OP_ARGMAX, .n_in = 1, .shape = {"3,1000"},
     .nograd = 1},
    {.name = "x/ReduceSum/columns", .op = LMG_OP_REDUCE_SUM, .n_in = 1, .shape = {"600,50"},
     .n_attr = 1, .attrs = {{.name = (char *)"axes", .type = LMG_ATTR_INTS, .n = 1,
                             .ints = (int64_t[]){0}}}},
    {.name = "x/ReduceMean/middle", .op = LMG_OP_REDUCE_MEAN, .n_in = 1, .shape = {"4,300,5"},
     .n_attr = 1, .attrs = {{.name = (char *)"axes", .type = LMG_ATTR_INTS, .n = 1,
                             .ints = (int64_t[]){1}}}},
    {.name = "x/ReduceSum/long-rows", .op = LMG_OP_REDUCE_SUM, .n_in = 1, .shape = {"3,5000"},
     .n_attr = 1, .attrs = {{.name = (char *)"axes", .type = LMG_ATTR_INTS, .n = 1,
                             .ints = (int64_t[]){1}}}},
    {.name = "x/ReduceSum/all-long", .op = LMG_OP_REDUCE_SUM, .n_in = 1, .shape = {"90001"}},
    {.name = "x/ReduceMean/two-long-rows", .op = LMG_OP_REDUCE_MEAN, .n_in = 1,
     .shape = {"2,40000"}, .n_attr = 1,
     .attrs = {{.name = (char *)"axes", .type = LMG_ATTR_INTS, .n = 1, .ints = (int64_t[]){1}}}},
    {.name = "x/Embedding/many-positions", .op = LMG_OP_EMBEDDING, .n_in = 2,
     .dtype = {XF32, XI32}, .shape = {"50,8", "1100"}, .lo = {-1, -2}, .hi = {1, 52},
     .no_grad_in = 2},
    {.name = "x/EmbeddingGrad/many-positions", .op = LMG_OP_EMBEDDING_GRAD, .n_in = 2,
     .dtype = {XF32, XI32}, .shape = {"2100,4", "2100"}, .lo = {-1, -1}, .hi = {1, 30},
     .n_attr = 1, .attrs = {XI("num_embeddings", 31)}, .nograd = 1},
    {.name = "x/MatMul/large-nt", .op = LMG_OP_MATMUL, .n_in = 2, .shape = {"130,300", "90,300"},
     .n_attr = 1, .attrs = {XI("trans_b", 1)}},
    {.name = "x/MatMul/large-batched-weight", .op = LMG_OP_MATMUL, .n_in = 2,
     .shape = {"2,70,65", "65,129"}},
    {.name = "x/MatMul/large-batched", .op = LMG_OP_MATMUL, .n_in = 2,
     .shape = {"3,40,70", "3,70,33"}},
    {.name = "x/Dropout/large", .op = LMG_OP_DROPOUT, .n_in = 1, .shape = {"5000"}, .n_attr = 2,
     .attrs = {XF("p", 0.3), XI("key", 77)}},
    {.name = "x/Transpose/heads", .op = LMG_OP_TRANSPOSE, .n_in = 1, .shape = {"2,33,3,4,16"},
     .n_attr = 1, .attrs = {{.name = (char *)"perm", .type = LMG_ATTR_INTS, .n = 5,
                             .ints = (int64_t[]){2, 0, 3, 1, 4}}}},
};

/* ---- registry, errors, guards, fusion ---------------------------------------------- */

static void registry_test(void)
{
    test_begin("opencl: every op has an OpenCL kernel");
    char missing[2048] = "";
    for (int op = 0; op < LMG_OP_COUNT; op++)
        if (!lmg_opencl_has_kernel((lmg_op)op)) {
            size_t l = strlen(missing);
            snprintf(missing + l, sizeof missing - l, "%s%s", l ? " " : "", lmg_op_name((lmg_op)op));
        }
    CHECK(!missing[0], "ops without an OpenCL kernel: %s", missing);
    CHECK(!lmg_opencl_has_kernel(LMG_OP_COUNT), "an op past the table claims a kernel");
    test_end();
}

static lmg_graph *small_graph(void)
{
    lmg_graph *g = lmg_graph_new("small");
    int x = lmg_graph_input(g, "x", LMG_DTYPE_F32, lmg_shape_make(1, (int64_t[]){4}));
    int y = lmg_unary(g, LMG_OP_EXP, x);
    lmg_graph_rename(g, y, "y");
    lmg_graph_add_output(g, y);
    return g;
}

static void error_tests(void)
{
    lmg_graph *g = small_graph();
    lmg_exec *e = NULL;

    test_begin("opencl: a device index out of range names the devices that exist");
    lmg_status s = ocl->init(g, &(lmg_exec_opts){.device = "7:3"}, &e);
    CHECK(s == LMG_ERR_NOT_FOUND, "status %d", s);
    CHECK(strstr(lmg_last_error(), "7:3") && strstr(lmg_last_error(), "does not exist") &&
              strstr(lmg_last_error(), "0:0"),
          "message: %s", lmg_last_error());
    CHECK(e == NULL, "no exec on failure");
    test_end();

    test_begin("opencl: a malformed --device is refused");
    s = ocl->init(g, &(lmg_exec_opts){.device = "gpu"}, &e);
    CHECK(s == LMG_ERR_ARG && strstr(lmg_last_error(), "P:D"), "status %d: %s", s, lmg_last_error());
    test_end();

    test_begin("opencl: LMG_DEVICE is honoured and checked");
    setenv("LMG_DEVICE", "0:9", 1);
    s = ocl->init(g, &(lmg_exec_opts){0}, &e);
    unsetenv("LMG_DEVICE");
    CHECK(s == LMG_ERR_NOT_FOUND && strstr(lmg_last_error(), "LMG_DEVICE"), "status %d: %s", s,
          lmg_last_error());
    test_end();

    test_begin("opencl: an op without a kernel is an error naming the op and the node");
    lmg_op saved = g->nodes[0].op;
    g->nodes[0].op = LMG_OP_COUNT; /* no op has this number: no kernel can exist for it */
    s = ocl->init(g, &(lmg_exec_opts){0}, &e);
    g->nodes[0].op = saved;
    CHECK(s == LMG_ERR_UNSUPPORTED && strstr(lmg_last_error(), "opencl: no kernel for op") &&
              strstr(lmg_last_error(), g->nodes[0].name),
          "status %d: %s", s, lmg_last_error());
    test_end();

    test_begin("opencl: a failing OpenCL call names the call, file, line and error");
    s = lmg_cl_fail(CL_MEM_OBJECT_ALLOCATION_FAILURE, "clCreateBuffer(ctx, 0, n, NULL, &err)",
                    "backends/opencl/opencl.c", 123);
    CHECK(s == CL_MEM_OBJECT_ALLOCATION_FAILURE, "status %d", s);
    CHECK(strcmp(lmg_last_error(), "clCreateBuffer(...) failed at backends/opencl/opencl.c:123: "
                 "CL_MEM_OBJECT_ALLOCATION_FAILURE") == 0,
          "message: %s", lmg_last_error());
    s = lmg_cl_fail(-1001, "clGetPlatformIDs(0, NULL, &n)", "f.c", 1);
    CHECK(s == LMG_ERR_DEVICE && strstr(lmg_last_error(), "CL_PLATFORM_NOT_FOUND_KHR"),
          "a code outside OpenCL's range maps to LMG_ERR_DEVICE: %d %s", s, lmg_last_error());
    test_end();

    test_begin("opencl: a step larger than the device says how much was asked and what exists");
    {
        /* The size comes from the device's own limits: inputs of 4 GiB each (below the
         * kernels' 2^31-element bound), enough of them that together they exceed its global
         * memory, so the step is refused before anything is allocated. */
        lmg_opencl_device *devs = NULL;
        int nd = 0;
        uint64_t global = 0;
        if (lmg_opencl_list_devices(&devs, &nd) == LMG_OK)
            for (int i = 0; i < nd; i++)
                if (devs[i].is_default) global = devs[i].global_mem;
        free(devs);
        CHECK(global > 0, "the default device reports its global memory");
        lmg_graph *big = lmg_graph_new("big");
        int64_t n = (int64_t)1 << 30;
        int k = (int)(global / ((uint64_t)n * 4)) + 2;
        int y = -1;
        for (int i = 0; i < k; i++) {
            char name[32];
            snprintf(name, sizeof name, "x%d", i);
            int x = lmg_graph_input(big, name, LMG_DTYPE_F32, lmg_shape_make(1, &n));
            y = y < 0 ? x : lmg_add(big, y, x);
        }
        lmg_graph_add_output(big, y);
        s = ocl->init(big, &(lmg_exec_opts){0}, &e);
        char want[64];
        snprintf(want, sizeof want, "%.1f MiB global memory", (double)global / 1048576.0);
        CHECK(s == LMG_ERR_DEVICE && strstr(lmg_last_error(), "out of device memory") &&
                  strstr(lmg_last_error(), want),
              "%d inputs of 4 GiB, device %.1f MiB: status %d: %s", k, (double)global / 1048576.0, s,
              lmg_last_error());
        lmg_graph_free(big);
    }
    test_end();

    test_begin("opencl: an intermediate is readable only when the graph keeps it");
    {
        lmg_graph *g2 = lmg_graph_new("mid");
        int x2 = lmg_graph_input(g2, "x", LMG_DTYPE_F32, lmg_shape_make(1, (int64_t[]){4}));
        int m = lmg_unary(g2, LMG_OP_EXP, x2);
        lmg_graph_add_output(g2, lmg_neg(g2, m));
        float in[4] = {0, 1, -1, 2}, out[4];
        for (int keep = 0; keep < 2; keep++) {
            s = ocl->init(g2, &(lmg_exec_opts){.keep_all = keep}, &e);
            if (s == LMG_OK) s = ocl->write(e, x2, in, sizeof in);
            if (s == LMG_OK) s = ocl->run(e, 0);
            if (!CHECK(s == LMG_OK, "%s", lmg_last_error())) break;
            s = ocl->read(e, m, out, sizeof out);
            if (keep)
                CHECK(s == LMG_OK && fabsf(out[2] - expf(-1.0f)) < 1e-6f, "keep_all read: %d %s", s,
                      lmg_last_error());
            else
                CHECK(s == LMG_ERR_ARG && strstr(lmg_last_error(), "keep_all"), "status %d: %s", s,
                      lmg_last_error());
            ocl->free(e);
            e = NULL;
        }
        lmg_graph_free(g2);
    }
    test_end();

    test_begin("opencl: reading a value with the wrong size is refused");
    s = ocl->init(g, &(lmg_exec_opts){0}, &e);
    if (CHECK(s == LMG_OK, "init: %s", lmg_last_error())) {
        float buf[8];
        s = ocl->read(e, lmg_graph_find(g, "y"), buf, sizeof buf);
        CHECK(s == LMG_ERR_ARG && strstr(lmg_last_error(), "'y'"), "status %d: %s", s,
              lmg_last_error());
        s = ocl->write(e, lmg_graph_find(g, "y"), buf, 16);
        CHECK(s == LMG_ERR_ARG, "writing a computed value: status %d", s);
        ocl->free(e);
    }
    test_end();
    lmg_graph_free(g);
}

/* The guard check itself: a word written just past a value must be reported by name. */
static void canary_test(void)
{
    test_begin("opencl: guard words catch a write past the end of a value");
    lmg_graph *g = small_graph();
    lmg_exec *e = NULL;
    setenv("LMG_CL_CANARY", "1", 1);
    lmg_status s = ocl->init(g, &(lmg_exec_opts){0}, &e);
    unsetenv("LMG_CL_CANARY");
    if (CHECK(s == LMG_OK, "init: %s", lmg_last_error())) {
        CHECK(ocl->run(e, 0) == LMG_OK, "clean run: %s", lmg_last_error());
        int y = lmg_graph_find(g, "y");
        cl_uint junk = 0;
        size_t at = (size_t)(e->loc[y].off + 4) * 4; /* the first word after y's 4 */
        cl_int err = clEnqueueWriteBuffer(e->queue, e->buf[e->loc[y].region], CL_TRUE, at, 4,
                                          &junk, 0, NULL, NULL);
        CHECK(err == CL_SUCCESS, "poking the guard: %d", err);
        s = ocl->run(e, 0);
        CHECK(s != LMG_OK && strstr(lmg_last_error(), "after 'y'"), "status %d: %s", s,
              lmg_last_error());
        ocl->free(e);
    }
    lmg_graph_free(g);
    test_end();
}

/* Five parameters updated by five AdamW nodes: one launch for the whole block, values equal
 * to the reference's. */
static void adamw_fusion_test(void)
{
    test_begin("opencl: AdamW over a flat parameter block is one launch and matches ref");
    lmg_graph *g = lmg_graph_new("adam");
    static const int64_t sizes[5] = {7, 16, 1, 33, 64};
    uint64_t seed = 42;
    int lr = lmg_graph_input(g, "lr", LMG_DTYPE_F32, lmg_shape_make(0, NULL));
    int step = lmg_graph_input(g, "step", LMG_DTYPE_I32, lmg_shape_make(0, NULL));
    int gs = lmg_graph_input(g, "gscale", LMG_DTYPE_F32, lmg_shape_make(0, NULL));
    int params[5];
    for (int i = 0; i < 5; i++) {
        char name[32];
        float buf[64];
        lmg_shape sh = lmg_shape_make(1, &sizes[i]);
        for (int j = 0; j < sizes[i]; j++) buf[j] = (float)(rng_uniform(&seed) - 0.5);
        snprintf(name, sizeof name, "p%d", i);
        params[i] = lmg_graph_param(g, name, LMG_DTYPE_F32, sh, buf);
    }
    int grads[5], ms[5], vs[5];
    for (int i = 0; i < 5; i++) {
        char name[32];
        float buf[64];
        lmg_shape sh = lmg_shape_make(1, &sizes[i]);
        for (int j = 0; j < sizes[i]; j++) buf[j] = (float)(rng_uniform(&seed) - 0.5);
        snprintf(name, sizeof name, "g%d", i);
        int gi = lmg_graph_input(g, name, LMG_DTYPE_F32, sh);
        /* Named and kept as a training graph's gradients are, so the plan mirrors them. */
        grads[i] = lmg_scale(g, gi, 2.0, 0.0);
        snprintf(name, sizeof name, "grad/p%d", i);
        lmg_graph_rename(g, grads[i], name);
        lmg_graph_add_output(g, grads[i]);
        snprintf(name, sizeof name, "m%d", i);
        for (int j = 0; j < sizes[i]; j++) buf[j] = (float)(0.1 * rng_uniform(&seed));
        ms[i] = lmg_graph_const(g, name, LMG_DTYPE_F32, sh, buf);
        snprintf(name, sizeof name, "v%d", i);
        for (int j = 0; j < sizes[i]; j++) buf[j] = (float)(0.01 * rng_uniform(&seed));
        vs[i] = lmg_graph_const(g, name, LMG_DTYPE_F32, sh, buf);
    }
    int outs[5][3];
    for (int i = 0; i < 5; i++) {
        int ins[7] = {params[i], grads[i], ms[i], vs[i], lr, step, gs};
        lmg_attr at[1] = {lmg_attr_float("weight_decay", 0.01)};
        lmg_graph_node(g, LMG_OP_ADAMW, NULL, ins, 7, at, 1, NULL, outs[i]);
        for (int k = 0; k < 3; k++) lmg_graph_add_output(g, outs[i][k]);
    }
    lmg_status s = g->status == LMG_OK ? lmg_graph_verify(g) : g->status;
    if (!CHECK(s == LMG_OK, "building: %s", lmg_last_error())) {
        lmg_graph_free(g);
        test_end();
        return;
    }
    lmg_exec *er = NULL, *eo = NULL;
    s = ref->init(g, &(lmg_exec_opts){0}, &er);
    if (s == LMG_OK) s = ocl->init(g, &(lmg_exec_opts){0}, &eo);
    if (CHECK(s == LMG_OK, "init: %s", lmg_last_error())) {
        int launches = 0;
        for (int i = 0; i < eo->n_cmds; i++)
            launches += eo->cmds[i].kind == LMG_CL_CMD_KERNEL && strcmp(eo->cmds[i].kname, "adamw") == 0;
        CHECK(launches == 1, "%d adamw launches for 5 nodes over one block", launches);
        for (int it = 1; it <= 3 && s == LMG_OK; it++) {
            float lrv = 1e-2f, gsv = 0.5f, gbuf[5][64];
            int32_t stepv = it;
            for (int i = 0; i < 5; i++)
                for (int j = 0; j < sizes[i]; j++) gbuf[i][j] = (float)(rng_uniform(&seed) - 0.5);
            for (int b = 0; b < 2 && s == LMG_OK; b++) {
                const lmg_backend *be = b ? ocl : ref;
                lmg_exec *e = b ? eo : er;
                s = be->write(e, lr, &lrv, 4);
                if (s == LMG_OK) s = be->write(e, step, &stepv, 4);
                if (s == LMG_OK) s = be->write(e, gs, &gsv, 4);
                for (int i = 0; i < 5 && s == LMG_OK; i++) {
                    char name[8];
                    snprintf(name, sizeof name, "g%d", i);
                    s = be->write(e, lmg_graph_find(g, name), gbuf[i], (size_t)sizes[i] * 4);
                }
                if (s == LMG_OK) s = be->run(e, (uint64_t)it);
            }
            CHECK(s == LMG_OK, "step %d: %s", it, lmg_last_error());
        }
        for (int i = 0; i < 5 && s == LMG_OK; i++)
            for (int k = 0; k < 3; k++) {
                float a[64], b[64];
                size_t bytes = (size_t)sizes[i] * 4;
                ocl->read(eo, outs[i][k], a, bytes);
                ref->read(er, outs[i][k], b, bytes);
                compare("adamw", &g->values[outs[i][k]], a, b, 0, 1e-10);
            }
    }
    ocl->free(eo);
    ref->free(er);
    lmg_graph_free(g);
    test_end();
}

/* A chain of every op the planner may run in place: each output overwrites its dying input,
 * so every such kernel must read element i before writing it. */
static void inplace_test(void)
{
    test_begin("opencl: elementwise ops running in place over their inputs match ref");
    lmg_graph *g = lmg_graph_new("inplace");
    int64_t dims[3] = {3, 8, 8}, row = 8;
    lmg_shape sh = lmg_shape_make(3, dims), sr = lmg_shape_make(1, &row);
    uint64_t seed = 7;
    float buf[192], rb[8];
    for (int i = 0; i < 192; i++) buf[i] = (float)(2.0 * rng_uniform(&seed) - 1.0);
    for (int i = 0; i < 8; i++) rb[i] = (float)(rng_uniform(&seed) - 0.5);
    int x = lmg_graph_input(g, "x", LMG_DTYPE_F32, sh);
    int c = lmg_graph_const(g, "c", LMG_DTYPE_F32, sr, rb);
    int xs = lmg_graph_const(g, "xs", LMG_DTYPE_F32, sh, buf);
    for (int i = 0; i < 192; i++) buf[i] = (float)(rng_uniform(&seed) < 0.5);
    int cond = lmg_graph_const(g, "cond", LMG_DTYPE_F32, sh, buf);
    int h = lmg_scale(g, x, 1.5, 0.25);
    h = lmg_unary(g, LMG_OP_TANH, h);
    h = lmg_unary(g, LMG_OP_GELU, h);
    h = lmg_add(g, h, c);
    h = lmg_mul(g, h, h);
    h = lmg_sub(g, h, c);
    h = lmg_div(g, h, lmg_graph_scalar(g, 1.25f));
    h = lmg_graph_node(g, LMG_OP_MAXIMUM, NULL, (int[]){h, c}, 2, NULL, 0, NULL, NULL);
    h = lmg_neg(g, h);
    h = lmg_unary(g, LMG_OP_EXP, h);
    h = lmg_unary(g, LMG_OP_SQRT, h);
    h = lmg_unary(g, LMG_OP_RSQRT, h);
    h = lmg_unary(g, LMG_OP_LOG, h);
    h = lmg_unary(g, LMG_OP_RELU, h);
    h = lmg_graph_node(g, LMG_OP_RELU_GRAD, NULL, (int[]){h, xs}, 2, NULL, 0, NULL, NULL);
    h = lmg_graph_node(g, LMG_OP_GELU_GRAD, NULL, (int[]){h, xs}, 2, NULL, 0, NULL, NULL);
    lmg_attr da[2] = {lmg_attr_float("p", 0.25), lmg_attr_int("key", 5)};
    h = lmg_graph_node(g, LMG_OP_DROPOUT, NULL, &h, 1, da, 2, NULL, NULL);
    lmg_attr ca[1] = {lmg_attr_float("fill", -3.0)};
    h = lmg_graph_node(g, LMG_OP_CAUSAL_MASK, NULL, &h, 1, ca, 1, NULL, NULL);
    h = lmg_graph_node(g, LMG_OP_WHERE, NULL, (int[]){cond, h, c}, 3, NULL, 0, NULL, NULL);
    lmg_graph_rename(g, h, "y");
    lmg_graph_add_output(g, h);
    lmg_status s = g->status == LMG_OK ? lmg_graph_verify(g) : g->status;
    lmg_exec *er = NULL, *eo = NULL;
    if (s == LMG_OK) s = ref->init(g, &(lmg_exec_opts){0}, &er);
    if (s == LMG_OK) s = ocl->init(g, &(lmg_exec_opts){0}, &eo);
    for (int i = 0; i < 192; i++) buf[i] = (float)(2.0 * rng_uniform(&seed) - 1.0);
    if (s == LMG_OK) s = ref->write(er, x, buf, sizeof buf);
    if (s == LMG_OK) s = ocl->write(eo, x, buf, sizeof buf);
    if (s == LMG_OK) s = ref->run(er, 9);
    if (s == LMG_OK) s = ocl->run(eo, 9);
    float a[192], b[192];
    if (s == LMG_OK) s = ref->read(er, h, b, sizeof b);
    if (s == LMG_OK) s = ocl->read(eo, h, a, sizeof a);
    if (CHECK(s == LMG_OK, "%s", lmg_last_error())) {
        int inplace = 0, nodes = g->n_nodes;
        for (int v = 0; v < g->n_values; v++)
            inplace += g->values[v].kind == LMG_VALUE_NODE && eo->alias[v] >= 0;
        CHECK(inplace >= 16, "only %d of %d node outputs share an input's storage", inplace, nodes);
        compare("in place", &g->values[h], a, b, 0, NMSE_TOL);
    }
    ocl->free(eo);
    ref->free(er);
    lmg_graph_free(g);
    test_end();
}

/* ---- whole training steps of tiny models ------------------------------------------ */

/* Feed every input of a training graph: ids (and targets) from a fixed stream that changes
 * with the step, lr from the schedule, step 1-based. */
static lmg_status feed(const lmg_backend *be, lmg_exec *e, const lmg_graph *g,
                       const lmg_optim_config *oc, int vocab, int step)
{
    for (int k = 0; k < g->n_inputs; k++) {
        const lmg_value *v = &g->values[g->inputs[k]];
        size_t n = (size_t)lmg_shape_numel(&v->shape);
        uint32_t *buf = calloc(n + 1, 4);
        if (!buf) return LMG_ERR_NOMEM;
        uint64_t s = hash_name(v->name) + 7919u * (uint64_t)step;
        if (strcmp(v->name, "lr") == 0) {
            float lr = (float)lmg_lr_at(oc, step);
            memcpy(buf, &lr, 4);
        } else if (strcmp(v->name, "step") == 0) {
            buf[0] = (uint32_t)step;
        } else if (v->dtype == LMG_DTYPE_I32) {
            for (size_t i = 0; i < n; i++) buf[i] = (uint32_t)(rng_next(&s) % (uint64_t)vocab);
            /* A few ignored targets, as padding would give. */
            if (strcmp(v->name, "targets") == 0) buf[n - 1] = (uint32_t)-100;
        }
        lmg_status st = be->write(e, g->inputs[k], buf, n * 4);
        free(buf);
        if (st != LMG_OK) return st;
    }
    return LMG_OK;
}

static int read_output(const lmg_backend *be, lmg_exec *e, const lmg_graph *g, int v, void **out)
{
    size_t bytes = (size_t)lmg_shape_numel(&g->values[v].shape) * 4;
    *out = malloc(bytes ? bytes : 1);
    return *out && be->read(e, v, *out, bytes) == LMG_OK;
}

static void model_step_test(const char *arch)
{
    char tname[160];
    lmg_model_config c;
    lmg_model_config_default(&c, arch);
    c.layers = 2, c.heads = 2, c.d_model = 32, c.d_ff = 64, c.vocab = 96, c.seq = 16, c.batch = 3;
    c.dropout = 0.1;
    lmg_optim_config oc;
    lmg_optim_config_default(&oc);
    oc.warmup = 2;
    oc.steps = 10;
    oc.lr = 3e-3;
    lmg_graph *g = NULL;
    lmg_exec *er = NULL, *eo = NULL;
    snprintf(tname, sizeof tname, "opencl: one training step of a tiny %s (dropout%s) matches ref",
             arch, strcmp(arch, "bert") == 0 ? ", MLM masking" : "");
    test_begin(tname);
    lmg_status s = lmg_model_build(&c, &g);
    if (s == LMG_OK) s = lmg_train_graph_build(g, "loss", &oc);
    if (s == LMG_OK) s = lmg_graph_verify(g);
    if (s == LMG_OK) s = ref->init(g, &(lmg_exec_opts){0}, &er);
    if (s == LMG_OK) s = ocl->init(g, &(lmg_exec_opts){0}, &eo);
    if (s == LMG_OK) s = feed(ref, er, g, &oc, c.vocab, 1);
    if (s == LMG_OK) s = feed(ocl, eo, g, &oc, c.vocab, 1);
    if (s == LMG_OK) s = ref->run(er, 1);
    if (s == LMG_OK) s = ocl->run(eo, 1);
    if (!CHECK(s == LMG_OK, "%s: %s", arch, lmg_last_error())) {
        test_end();
        goto done;
    }
    /* The same step again with guard words around every value and no reuse. */
    lmg_exec *eg = NULL;
    setenv("LMG_CL_CANARY", "1", 1);
    s = ocl->init(g, &(lmg_exec_opts){0}, &eg);
    unsetenv("LMG_CL_CANARY");
    if (s == LMG_OK) s = feed(ocl, eg, g, &oc, c.vocab, 1);
    if (s == LMG_OK) s = ocl->run(eg, 1);
    CHECK(s == LMG_OK, "%s with guard words: %s", arch, lmg_last_error());
    s = LMG_OK;
    int n_grads = 0;
    for (int k = 0; k < g->n_outputs; k++) {
        int v = g->outputs[k];
        const lmg_value *val = &g->values[v];
        void *a = NULL, *b = NULL, *ga = NULL;
        if (CHECK(read_output(ocl, eo, g, v, &a) && read_output(ref, er, g, v, &b), "reading '%s': %s",
                  val->name, lmg_last_error())) {
            /* The corrupted ids and targets of MLM come from Philox: the same bits. */
            int exact = strncmp(val->name, "mlm/", 4) == 0;
            compare(tname, val, a, b, exact, NMSE_TOL);
            n_grads += strncmp(val->name, "grad/", 5) == 0;
            if (eg && read_output(ocl, eg, g, v, &ga)) compare("guarded", val, ga, b, exact, NMSE_TOL);
        }
        free(a);
        free(b);
        free(ga);
    }
    ocl->free(eg);
    /* The parameters after the AdamW update. Adam's first step moves every element by about
     * lr * g / (|g| + eps) = +-lr whatever |g| is, so a gradient that is analytically zero
     * (the key bias: softmax ignores a constant score shift) or tiny turns rounding noise
     * into a full step of either sign. Hence a per-element bound of one step each way, and
     * all but a few elements equal to 1e-6. */
    double lr1 = lmg_lr_at(&oc, 1);
    int64_t total = 0, loose = 0;
    double pworst = 0;
    for (int v = 0; v < g->n_values; v++) {
        if (!g->values[v].trainable) continue;
        float *a = NULL, *b = NULL;
        if (read_output(ocl, eo, g, v, (void **)&a) && read_output(ref, er, g, v, (void **)&b))
            for (int64_t i = 0, n = lmg_shape_numel(&g->values[v].shape); i < n; i++) {
                double d = fabs((double)a[i] - b[i]);
                pworst = fmax(pworst, d);
                loose += d > 1e-6;
                total++;
            }
        free(a);
        free(b);
    }
    CHECK(pworst <= 2.05 * lr1, "%s: a parameter moved %.3g apart (one step is %.3g)", arch,
          pworst, lr1);
    CHECK(loose * 100 <= total, "%s: %lld of %lld parameters differ by more than 1e-6", arch,
          (long long)loose, (long long)total);
    printf("#   %s: %lld of %lld parameters differ by more than 1e-6 after step 1 (worst %.3g)\n",
           arch, (long long)loose, (long long)total, pworst);
    CHECK(n_grads >= 10, "%s: only %d gradients compared", arch, n_grads);
    /* Every parameter's AdamW node in one launch over the flat block. */
    int adam_nodes = 0, launches = 0;
    for (int i = 0; i < g->n_nodes; i++) adam_nodes += g->nodes[i].op == LMG_OP_ADAMW;
    for (int i = 0; i < eo->n_cmds; i++)
        launches += eo->cmds[i].kind == LMG_CL_CMD_KERNEL && strcmp(eo->cmds[i].kname, "adamw") == 0;
    CHECK(launches == 1, "%s: %d AdamW launches for %d nodes", arch, launches, adam_nodes);
    test_end();

    snprintf(tname, sizeof tname, "opencl: ten AdamW steps of a tiny %s give the losses of ref",
             arch);
    test_begin(tname);
    int lv = lmg_graph_find(g, "loss");
    double worst = 0;
    int steps = 0;
    for (int step = 2; step <= 11 && s == LMG_OK; step++, steps++) {
        float la = 0, lb = 0;
        s = feed(ref, er, g, &oc, c.vocab, step);
        if (s == LMG_OK) s = feed(ocl, eo, g, &oc, c.vocab, step);
        if (s == LMG_OK) s = ref->run(er, (uint64_t)step);
        if (s == LMG_OK) s = ocl->run(eo, (uint64_t)step);
        if (s == LMG_OK) s = ref->read(er, lv, &lb, 4);
        if (s == LMG_OK) s = ocl->read(eo, lv, &la, 4);
        double rel = fabs((double)la - lb) / fmax(fabs((double)lb), 1e-30);
        if (rel > worst) worst = rel;
        CHECK(s == LMG_OK && rel <= 1e-4, "%s step %d: loss opencl %.8g, ref %.8g (rel %.3g): %s",
              arch, step, la, lb, rel, s == LMG_OK ? "" : lmg_last_error());
    }
    CHECK(steps == 10, "%s: %d steps ran", arch, steps);
    printf("#   %s: worst relative loss difference over 10 steps %.3g\n", arch, worst);
    test_end();
done:
    ocl->free(eo);
    ref->free(er);
    lmg_graph_free(g);
}

int main(int argc, char **argv)
{
    lmg_opencl_device *devs = NULL;
    int nd = 0;
    if (lmg_opencl_list_devices(&devs, &nd) != LMG_OK || nd == 0) {
        test_skip("opencl: every case", "no OpenCL device (%s)", lmg_last_error());
        return test_summary();
    }
    free(devs);
    clock_t t0 = clock();
    /* Arguments run only the cases whose names start with one of them; "models" runs the
     * tiny model steps. */
    int only = argc > 1;
    for (int a = 1; a < argc; a++)
        if (strcmp(argv[a], "models") == 0) {
            model_step_test("gpt");
            model_step_test("bert");
        }
    if (!only) {
        registry_test();
        error_tests();
        canary_test();
        adamw_fusion_test();
        inplace_test();
        model_step_test("gpt");
        model_step_test("bert");
    }
    const lmg_case *tabs[3] = {lmg_cases_core, lmg_cases_nn, extra_cases};
    int ns[3] = {lmg_n_cases_core, lmg_n_cases_nn,
                 (int)(sizeof extra_cases / sizeof *extra_cases)};
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < ns[t]; i++) {
            const lmg_case *c = &tabs[t][i];
            int pick = !only;
            for (int a = 1; a < argc; a++) pick |= strncmp(c->name, argv[a], strlen(argv[a])) == 0;
            if (pick) case_test(c);
        }
    printf("# worst normalised MSE per op (bound %g):\n", NMSE_TOL);
    for (int op = 0; op < LMG_OP_COUNT; op++)
        if (worst_nmse[op] > 0) printf("#   %-18s %.3g\n", lmg_op_name((lmg_op)op), worst_nmse[op]);
    printf("# cpu time %.1f s\n", (double)(clock() - t0) / CLOCKS_PER_SEC);
    return test_summary();
}
