/* test_gradcheck.c — every op's gradient rule against central differences on the ref
 * backend, forward-only cases run for sanity, every LMG_ELEMENTWISE op's kernel run in place,
 * and registry completeness checks. */
#include "test.h"
#include "cases.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHECK 48 /* elements checked per input; all when there are fewer */
#define DEFAULT_ATOL 1e-3
#define DEFAULT_RTOL 1e-2

/* ---- one case (its inputs and graphs: lmg_case_build_graph, tests/cases_graph.c) ----- */

/* sum_k <out_k, W_k> in double, from the forward graph's outputs after a run. */
static int weighted_sum(const lmg_backend *be, lmg_exec *e, const lmg_graph *g,
                        const lmg_case_graph *b, double *out)
{
    double acc = 0;
    for (int k = 0; k < b->n_out; k++) {
        if (!b->out_f32[k]) continue;
        int64_t n = b->out_n[k];
        float *y = malloc((size_t)(n ? n : 1) * sizeof *y);
        if (!y) return -1;
        if (be->read(e, g->outputs[k], y, (size_t)n * sizeof *y) != LMG_OK) {
            free(y);
            return -1;
        }
        for (int64_t i = 0; i < n; i++) acc += (double)y[i] * b->w[k][i];
        free(y);
    }
    *out = acc;
    return 0;
}

/* A fixed subset of element indices: all of them, or MAX_CHECK distinct ones. */
static int pick_elements(int64_t n, uint64_t seed, int64_t *idx)
{
    if (n <= MAX_CHECK) {
        for (int64_t i = 0; i < n; i++) idx[i] = i;
        return (int)n;
    }
    int m = 0;
    while (m < MAX_CHECK) {
        int64_t i = (int64_t)(rng_next(&seed) % (uint64_t)n);
        int dup = 0;
        for (int j = 0; j < m; j++) dup |= idx[j] == i;
        if (!dup) idx[m++] = i;
    }
    return m;
}

typedef struct op_stats {
    int cases, failed;
    double worst_rel;    /* worst |a-n| / (atol + rtol |n|): <= 1 passes */
    long checked;
} op_stats;
static op_stats stats[LMG_OP_COUNT];

static void grad_case(const lmg_case *c)
{
    char tname[160];
    snprintf(tname, sizeof tname, "gradcheck %s", c->name);
    test_begin(tname);
    const lmg_backend *be = &lmg_backend_ref;
    lmg_case_graph b;
    memset(&b, 0, sizeof b);
    char err[512] = "";
    lmg_graph *fg = NULL, *tg = NULL;
    lmg_exec *fe = NULL, *te = NULL;
    double atol = c->atol > 0 ? c->atol : DEFAULT_ATOL, rtol = c->rtol > 0 ? c->rtol : DEFAULT_RTOL;
    op_stats *st = &stats[c->op];
    st->cases++;
    int ok = 1;
    if (lmg_case_make_inputs(c, &b, err, sizeof err) != 0 ||
        !(fg = lmg_case_build_graph(c, &b, 1, 1, err, sizeof err)) ||
        !(tg = lmg_case_build_graph(c, &b, 1, 1, err, sizeof err))) {
        CHECK(0, "%s: %s", c->name, err);
        goto done;
    }
    lmg_status s = lmg_autodiff(tg, "loss");
    if (!CHECK(s == LMG_OK, "%s: autodiff: %s", c->name, lmg_last_error())) goto done;
    s = lmg_graph_verify(tg);
    if (!CHECK(s == LMG_OK, "%s: the training graph fails verification: %s", c->name,
               lmg_last_error()))
        goto done;
    s = be->init(tg, &(lmg_exec_opts){0}, &te);
    if (s == LMG_OK) s = be->run(te, 0);
    if (!CHECK(s == LMG_OK, "%s: running the training graph: %s", c->name, lmg_last_error()))
        goto done;
    s = be->init(fg, &(lmg_exec_opts){0}, &fe);
    if (s == LMG_OK) s = be->run(fe, 0);
    if (!CHECK(s == LMG_OK, "%s: running the forward graph: %s", c->name, lmg_last_error()))
        goto done;
    {
        /* The training graph still computes the forward graph's loss. */
        float lt = 0;
        double lf = 0;
        int lv = lmg_graph_find(tg, "loss");
        if (CHECK(lv >= 0 && be->read(te, lv, &lt, sizeof lt) == LMG_OK &&
                      weighted_sum(be, fe, fg, &b, &lf) == 0,
                  "%s: reading the loss: %s", c->name, lmg_last_error()))
            CHECK(fabs(lt - lf) <= 1e-5 * fmax(1.0, fabs(lf)) || (isnan(lt) && isnan(lf)),
                  "%s: training graph loss %.8g, forward outputs give %.8g", c->name, lt, lf);
    }

    long checked_before = st->checked;
    for (int k = 0; k < c->n_in && ok; k++) {
        if (!b.is_param[k]) continue;
        char pname[32], gname[40];
        snprintf(pname, sizeof pname, "x%d", k);
        snprintf(gname, sizeof gname, "grad/%s", pname);
        int gv = lmg_graph_find(tg, gname), pv = lmg_graph_find(fg, pname);
        if (!CHECK(gv >= 0, "%s: no value '%s' in the training graph", c->name, gname)) {
            ok = 0;
            break;
        }
        int64_t n = lmg_shape_numel(&b.in[k].shape);
        size_t bytes = (size_t)n * sizeof(float);
        float *ga = malloc(bytes ? bytes : 1), *x = malloc(bytes ? bytes : 1);
        if (!ga || !x || be->read(te, gv, ga, bytes) != LMG_OK) {
            CHECK(0, "%s: reading %s: %s", c->name, gname, lmg_last_error());
            free(ga), free(x);
            ok = 0;
            break;
        }
        memcpy(x, b.in[k].data, bytes);
        int64_t idx[MAX_CHECK];
        int m = pick_elements(n, hash_name(c->name) + (uint64_t)k, idx);
        int bad = 0;
        for (int j = 0; j < m && ok; j++) {
            int64_t i = idx[j];
            float x0 = x[i];
            double e = 1e-3 * fmax(1.0, fabs((double)x0));
            float xp = (float)(x0 + e), xm = (float)(x0 - e);
            double fp = 0, fm = 0;
            x[i] = xp;
            s = be->write(fe, pv, x, bytes);
            if (s == LMG_OK) s = be->run(fe, 0);
            if (s == LMG_OK && weighted_sum(be, fe, fg, &b, &fp) != 0) s = LMG_ERR_IO;
            x[i] = xm;
            if (s == LMG_OK) s = be->write(fe, pv, x, bytes);
            if (s == LMG_OK) s = be->run(fe, 0);
            if (s == LMG_OK && weighted_sum(be, fe, fg, &b, &fm) != 0) s = LMG_ERR_IO;
            x[i] = x0;
            if (!CHECK(s == LMG_OK, "%s: forward run: %s", c->name, lmg_last_error())) {
                ok = 0;
                break;
            }
            /* Divide by the step the f32 inputs actually took. */
            double num = (fp - fm) / ((double)xp - (double)xm), an = ga[i];
            double lim = atol + rtol * fabs(num), diff = fabs(an - num);
            double rel = diff / lim;
            if (!(rel <= st->worst_rel)) st->worst_rel = isnan(rel) ? INFINITY : fmax(st->worst_rel, rel);
            st->checked++;
            if (!(diff <= lim)) {
                if (bad < 3)
                    CHECK(0, "%s: input %d (%s %s) element %lld: analytic %.7g, numeric %.7g "
                          "(|diff| %.3g > %.3g)", c->name, k, pname,
                          lmg_shape_str(&b.in[k].shape, err, sizeof err), (long long)i, an, num,
                          diff, lim);
                bad++;
            }
        }
        if (bad > 3) CHECK(0, "%s: input %d: %d of %d checked elements differ", c->name, k, bad, m);
        /* Put the input back for the next one's runs. */
        be->write(fe, pv, b.in[k].data, bytes);
        free(ga);
        free(x);
    }
    /* A gradient case must check something: an op whose inputs are all integer or
     * excluded belongs in the forward-only cases. */
    if (ok && !test_case_failed_)
        CHECK(st->checked > checked_before, "%s: no f32 input element was checked", c->name);
done:
    if (test_case_failed_) st->failed++;
    be->free(fe);
    be->free(te);
    lmg_graph_free(fg);
    lmg_graph_free(tg);
    lmg_case_graph_free(&b);
    test_end();
}

/* Forward-only cases: the ref backend must run them; f32 outputs hold no NaN and no
 * infinity except where the op's contract produces one (masked fills, empty lse). */
static void forward_case(const lmg_case *c)
{
    char tname[160];
    snprintf(tname, sizeof tname, "forward %s", c->name);
    test_begin(tname);
    stats[c->op].cases++;
    const lmg_backend *be = &lmg_backend_ref;
    lmg_case_graph b;
    memset(&b, 0, sizeof b);
    char err[512] = "";
    lmg_graph *g = NULL;
    lmg_exec *e = NULL;
    if (lmg_case_make_inputs(c, &b, err, sizeof err) != 0 ||
        !(g = lmg_case_build_graph(c, &b, 1, 0, err, sizeof err))) {
        CHECK(0, "%s: %s", c->name, err);
        goto done;
    }
    lmg_status s = lmg_graph_verify(g);
    if (!CHECK(s == LMG_OK, "%s: verify: %s", c->name, lmg_last_error())) goto done;
    s = be->init(g, &(lmg_exec_opts){0}, &e);
    if (s == LMG_OK) s = be->run(e, 0);
    if (!CHECK(s == LMG_OK, "%s: run: %s", c->name, lmg_last_error())) goto done;
    int inf_ok = c->op == LMG_OP_CAUSAL_MASK || c->op == LMG_OP_ATTENTION;
    for (int k = 0; k < b.n_out; k++) {
        if (!b.out_f32[k]) continue;
        int64_t n = b.out_n[k];
        float *y = malloc((size_t)(n ? n : 1) * sizeof *y);
        if (!y || be->read(e, g->outputs[k], y, (size_t)n * sizeof *y) != LMG_OK) {
            CHECK(0, "%s: reading output %d: %s", c->name, k, lmg_last_error());
            free(y);
            break;
        }
        int64_t nan = 0, inf = 0;
        for (int64_t i = 0; i < n; i++) {
            nan += isnan(y[i]);
            inf += isinf(y[i]);
        }
        CHECK(nan == 0, "%s: output %d has %lld NaN of %lld", c->name, k, (long long)nan, (long long)n);
        CHECK(inf == 0 || inf_ok, "%s: output %d has %lld infinities of %lld", c->name, k,
              (long long)inf, (long long)n);
        free(y);
    }
done:
    if (test_case_failed_) stats[c->op].failed++;
    be->free(e);
    lmg_graph_free(g);
    lmg_case_graph_free(&b);
    test_end();
}

/* ---- the LMG_ELEMENTWISE property ------------------------------------------------------ */

static const lmg_ref_kernel ref_kernels[] = {
#define LMG_OP(E, N, mi, ma, no, gr) [LMG_OP_##E] = lmg_ref_##E,
#include "../ops/ops.def"
#undef LMG_OP
};
static int inplace_checked[LMG_OP_COUNT];

/* What ops.def's LMG_ELEMENTWISE claims and the memory planner relies on, for every input of
 * the output's size: changing its element j changes no output element but j, and with the
 * output written over it the kernel gives the same bits. */
static void inplace_case(const lmg_case *c)
{
    if (!lmg_op_is(c->op, LMG_ELEMENTWISE)) return;
    lmg_case_graph b;
    memset(&b, 0, sizeof b);
    char err[512] = "", tname[160];
    snprintf(tname, sizeof tname, "elementwise, in place %s", c->name);
    lmg_graph *g = NULL;
    float *ref = NULL, *x = NULL;
    if (lmg_case_make_inputs(c, &b, err, sizeof err) != 0 ||
        !(g = lmg_case_build_graph(c, &b, 1, 0, err, sizeof err))) {
        test_begin(tname);
        CHECK(0, "%s: %s", c->name, err);
        test_end();
        goto done;
    }
    const lmg_node *n = &g->nodes[0]; /* the case's node; with_loss 0 adds no other */
    const lmg_value *yv = &g->values[n->out[0]];
    int64_t numel = lmg_shape_numel(&yv->shape);
    size_t bytes = (size_t)numel * lmg_dtype_size(yv->dtype);
    lmg_ref_ctx ctx = {g, 7};
    const lmg_tensor *in[CASE_MAX_IN];
    for (int k = 0; k < c->n_in; k++) in[k] = &b.in[k];
    ref = malloc(bytes ? bytes : 4);
    x = malloc(bytes ? bytes : 4);
    if (!ref || !x) goto done;
    lmg_tensor y = {yv->dtype, yv->shape, ref};
    lmg_tensor *out[1] = {&y};
    int started = 0;
    for (int k = 0; k < c->n_in; k++) {
        const lmg_tensor *t = &b.in[k];
        if (lmg_shape_numel(&t->shape) != numel || lmg_dtype_size(t->dtype) != lmg_dtype_size(yv->dtype))
            continue;
        if (!started++) {
            test_begin(tname);
            CHECK(ref_kernels[c->op](&ctx, n, in, out) == LMG_OK, "%s: %s", c->name, lmg_last_error());
        }
        memcpy(x, t->data, bytes);
        lmg_tensor xk = *t, yk = y;
        xk.data = yk.data = x;
        const lmg_tensor *in2[CASE_MAX_IN];
        memcpy(in2, in, sizeof in2);
        in2[k] = &xk;
        lmg_tensor *out2[1] = {&yk};
        CHECK(ref_kernels[c->op](&ctx, n, in2, out2) == LMG_OK, "%s: %s", c->name, lmg_last_error());
        CHECK(memcmp(x, ref, bytes) == 0, "%s: the output written over input %d differs", c->name, k);
        /* Locality: perturb element j of input k (out of place), compare the rest. */
        uint32_t *y2 = malloc(bytes ? bytes : 4);
        for (int trial = 0; y2 && trial < 3 && numel > 1; trial++) {
            int64_t j = (int64_t)((uint64_t)(trial * 7919 + k * 31) % (uint64_t)numel);
            memcpy(x, t->data, bytes);
            if (t->dtype == LMG_DTYPE_I32) ((int32_t *)x)[j] ^= 1;
            else ((float *)x)[j] = ((float *)x)[j] * 0.5f + 0.375f;
            lmg_tensor yl = {yv->dtype, yv->shape, y2};
            lmg_tensor *out3[1] = {&yl};
            CHECK(ref_kernels[c->op](&ctx, n, in2, out3) == LMG_OK, "%s: %s", c->name, lmg_last_error());
            int64_t other = 0;
            for (int64_t i = 0; i < numel; i++)
                other += i != j && y2[i] != ((const uint32_t *)ref)[i];
            CHECK(other == 0, "%s: changing element %lld of input %d changed %lld other outputs",
                  c->name, (long long)j, k, (long long)other);
        }
        free(y2);
        inplace_checked[c->op]++;
    }
    if (started) test_end();
done:
    free(ref);
    free(x);
    lmg_graph_free(g);
    lmg_case_graph_free(&b);
}

/* ---- registry completeness ------------------------------------------------------------ */

static void list_add(char *buf, size_t n, const char *name)
{
    size_t l = strlen(buf);
    snprintf(buf + l, n - l, "%s%s", l ? " " : "", name);
}

static void registry_checks(void)
{
    char missing[2048];

    test_begin("every op has shape and gradient rules");
    missing[0] = 0;
    for (int op = 0; op < LMG_OP_COUNT; op++)
        if (!lmg_op_has_rules((lmg_op)op)) list_add(missing, sizeof missing, lmg_op_name((lmg_op)op));
    CHECK(!missing[0], "ops without rules: %s", missing);
    test_end();

    test_begin("every LMG_ELEMENTWISE op was checked in place");
    missing[0] = 0;
    int n_ew = 0;
    for (int op = 0; op < LMG_OP_COUNT; op++)
        if (lmg_op_is((lmg_op)op, LMG_ELEMENTWISE)) {
            n_ew++;
            if (!inplace_checked[op]) list_add(missing, sizeof missing, lmg_op_name((lmg_op)op));
        }
    CHECK(n_ew >= 10 && !missing[0], "%d elementwise ops; no in-place case for: %s", n_ew, missing);
    test_end();

    test_begin("every op has a reference kernel");
    missing[0] = 0;
    for (int op = 0; op < LMG_OP_COUNT; op++)
        if (!lmg_ref_has_kernel((lmg_op)op)) list_add(missing, sizeof missing, lmg_op_name((lmg_op)op));
    CHECK(!missing[0], "ops without a ref kernel: %s", missing);
    test_end();

    test_begin("every op has a test case, every differentiable op a gradient case");
    int any[LMG_OP_COUNT] = {0}, grad[LMG_OP_COUNT] = {0};
    const lmg_case *tabs[2] = {lmg_cases_core, lmg_cases_nn};
    int ns[2] = {lmg_n_cases_core, lmg_n_cases_nn};
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < ns[t]; i++) {
            const lmg_case *c = &tabs[t][i];
            if ((unsigned)c->op >= LMG_OP_COUNT) continue;
            any[c->op] = 1;
            if (!c->nograd) grad[c->op] = 1;
        }
    char nograd[2048] = "";
    missing[0] = 0;
    for (int op = 0; op < LMG_OP_COUNT; op++) {
        if (!any[op]) list_add(missing, sizeof missing, lmg_op_name((lmg_op)op));
        if (lmg_op_get((lmg_op)op)->grad && !grad[op])
            list_add(nograd, sizeof nograd, lmg_op_name((lmg_op)op));
    }
    CHECK(!missing[0], "ops without any case: %s", missing);
    CHECK(!nograd[0], "differentiable ops without a gradient case: %s", nograd);
    test_end();
}

int main(int argc, char **argv)
{
    /* Arguments, when given, run only the cases whose names start with one of them. */
    int only = argc > 1;
    const lmg_case *tabs[2] = {lmg_cases_core, lmg_cases_nn};
    int ns[2] = {lmg_n_cases_core, lmg_n_cases_nn};
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < ns[t]; i++) {
            const lmg_case *c = &tabs[t][i];
            int pick = !only;
            for (int a = 1; a < argc; a++) pick |= strncmp(c->name, argv[a], strlen(argv[a])) == 0;
            if (!pick) continue;
            if (c->nograd) forward_case(c);
            else grad_case(c);
            inplace_case(c);
        }
    if (!only) registry_checks();
    printf("# per op: cases, failed, elements checked, worst error / tolerance\n");
    for (int op = 0; op < LMG_OP_COUNT; op++)
        if (stats[op].cases)
            printf("#   %-18s %3d %3d %6ld %8.3g\n", lmg_op_name((lmg_op)op), stats[op].cases,
                   stats[op].failed, stats[op].checked, stats[op].worst_rel);
    return test_summary();
}
