/* cmd_demo.c — `lmg demo`: build a small GPT-like graph, differentiate it, check every
 * gradient against finite differences and train it for a few steps on the ref backend. */
#include "cli.h"
#include "../backends/ref/ref.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int lmg_cmd_demo(int argc, char **argv);

static const char *const CMD = "demo";

/* The model: the GPT the trainer builds (lmg_model_build: pre-LN blocks, fused causal
 * attention, tied token embedding), tiny. */
enum { B = 4, T = 16, C = 32, H = 4, V = 48, L = 2, F = 4 * C };
#define IGNORE (-100)
#define SAMPLES 6          /* elements checked per parameter */
#define ATOL 2e-4
#define RTOL 1e-2

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- the model ----------------------------------------------------------------------- */

/* ids, targets (inputs) -> L blocks -> tied head -> logits, loss: the same builder as
 * `lmg train`, so the demo checks the gradients of the model that is trained. */
static lmg_status build_model(lmg_graph **out)
{
    lmg_model_config c;
    lmg_model_config_default(&c, "gpt");
    c.layers = L, c.heads = H, c.d_model = C, c.d_ff = F, c.vocab = V, c.seq = T, c.batch = B;
    c.dropout = 0; /* the finite differences need a deterministic forward */
    c.seed = 2024;
    return lmg_model_build(&c, out);
}

/* A fixed random token stream; inputs are B windows of it, targets the next tokens, a few
 * marked ignored as padding would be. */
static void make_batch(int32_t *tokens, int32_t *targets)
{
    uint64_t r = 42;
    int32_t stream[B * (T + 1)];
    for (int i = 0; i < B * (T + 1); i++) stream[i] = (int32_t)(rng_next(&r) % V);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            tokens[b * T + t] = stream[b * (T + 1) + t];
            targets[b * T + t] = stream[b * (T + 1) + t + 1];
        }
    targets[T - 1] = IGNORE;
    targets[3 * T - 1] = IGNORE;
}

static double ce_double(const float *logits, const int32_t *targets)
{
    double sum = 0;
    int n = 0;
    for (int i = 0; i < B * T; i++) {
        if (targets[i] == IGNORE) continue;
        const float *l = logits + (size_t)i * V;
        double m = l[0], z = 0;
        for (int j = 1; j < V; j++) m = fmax(m, l[j]);
        for (int j = 0; j < V; j++) z += exp(l[j] - m);
        sum += m + log(z) - l[targets[i]];
        n++;
    }
    return n ? sum / n : 0;
}

/* ---- the steps ----------------------------------------------------------------------- */

typedef struct demo {
    lmg_graph *fg, *tg;          /* forward, training */
    lmg_exec *fe, *te;
    int32_t tokens[B * T], targets[B * T];
    int n_params;
    int *pf, *pt, *gt;           /* per parameter: id in fg, id in tg, grad id in tg */
    int64_t *numel;
    int64_t total;
} demo;

static void demo_free(demo *d)
{
    lmg_backend_ref.free(d->fe);
    lmg_backend_ref.free(d->te);
    lmg_graph_free(d->fg);
    lmg_graph_free(d->tg);
    free(d->pf);
    free(d->pt);
    free(d->gt);
    free(d->numel);
}

static lmg_status write_batch(const lmg_graph *g, lmg_exec *e, const demo *d)
{
    LMG_TRY(lmg_backend_ref.write(e, lmg_graph_find(g, "ids"), d->tokens, sizeof d->tokens));
    return lmg_backend_ref.write(e, lmg_graph_find(g, "targets"), d->targets, sizeof d->targets);
}

static lmg_status setup(demo *d)
{
    LMG_TRY(build_model(&d->fg));
    LMG_TRY(build_model(&d->tg));
    LMG_TRY(lmg_graph_verify(d->fg));
    LMG_TRY(lmg_autodiff(d->tg, "loss"));
    LMG_TRY(lmg_graph_verify(d->tg));
    for (int v = 0; v < d->fg->n_values; v++)
        d->n_params += d->fg->values[v].kind == LMG_VALUE_INIT && d->fg->values[v].trainable;
    d->pf = calloc((size_t)d->n_params, sizeof *d->pf);
    d->pt = calloc((size_t)d->n_params, sizeof *d->pt);
    d->gt = calloc((size_t)d->n_params, sizeof *d->gt);
    d->numel = calloc((size_t)d->n_params, sizeof *d->numel);
    if (!d->pf || !d->pt || !d->gt || !d->numel) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    int k = 0;
    for (int v = 0; v < d->fg->n_values; v++) {
        const lmg_value *pv = &d->fg->values[v];
        if (pv->kind != LMG_VALUE_INIT || !pv->trainable) continue;
        char gname[300];
        snprintf(gname, sizeof gname, "grad/%s", pv->name);
        d->pf[k] = v;
        d->pt[k] = lmg_graph_find(d->tg, pv->name);
        d->gt[k] = lmg_graph_find(d->tg, gname);
        if (d->pt[k] < 0 || d->gt[k] < 0)
            return lmg_error(LMG_ERR_NOT_FOUND, "training graph lacks '%s' or its gradient", pv->name);
        d->numel[k] = lmg_shape_numel(&pv->shape);
        d->total += d->numel[k];
        k++;
    }
    make_batch(d->tokens, d->targets);
    LMG_TRY(lmg_backend_ref.init(d->fg, &(lmg_exec_opts){0}, &d->fe));
    LMG_TRY(lmg_backend_ref.init(d->tg, &(lmg_exec_opts){0}, &d->te));
    LMG_TRY(write_batch(d->fg, d->fe, d));
    return write_batch(d->tg, d->te, d);
}

/* Every parameter's gradient (training graph) against central differences of the loss
 * computed in double from the forward graph's logits, on a few sampled elements each. */
static lmg_status gradcheck(demo *d, double *worst_rel, double *worst_tol, int *checked, int *failed,
                            char *where, size_t where_n)
{
    *worst_rel = *worst_tol = 0;
    *checked = *failed = 0;
    LMG_TRY(lmg_backend_ref.run(d->te, 0));
    float *logits = malloc(sizeof(float) * B * T * V);
    if (!logits) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    int lid = lmg_graph_find(d->fg, "logits");
    lmg_status s = LMG_OK;
    for (int k = 0; k < d->n_params && s == LMG_OK; k++) {
        const lmg_value *pv = &d->fg->values[d->pf[k]];
        int64_t n = d->numel[k];
        size_t bytes = (size_t)n * sizeof(float);
        float *ga = malloc(bytes), *x = malloc(bytes);
        if (!ga || !x) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        if (s == LMG_OK) s = lmg_backend_ref.read(d->te, d->gt[k], ga, bytes);
        /* from the executor: parameters initialised to zero carry no data in the graph */
        if (s == LMG_OK) s = lmg_backend_ref.read(d->fe, d->pf[k], x, bytes);
        uint64_t r = 7 + (uint64_t)k;
        for (int j = 0; j < SAMPLES && s == LMG_OK; j++) {
            int64_t i = (int64_t)(rng_next(&r) % (uint64_t)n);
            float x0 = x[i];
            double e = 1e-2 * fmax(1.0, fabs((double)x0)), f[2];
            float xs[2] = {(float)(x0 + e), (float)(x0 - e)};
            for (int t = 0; t < 2 && s == LMG_OK; t++) {
                x[i] = xs[t];
                s = lmg_backend_ref.write(d->fe, d->pf[k], x, bytes);
                if (s == LMG_OK) s = lmg_backend_ref.run(d->fe, 0);
                if (s == LMG_OK) s = lmg_backend_ref.read(d->fe, lid, logits, sizeof(float) * B * T * V);
                f[t] = ce_double(logits, d->targets);
            }
            x[i] = x0;
            if (s != LMG_OK) break;
            double num = (f[0] - f[1]) / ((double)xs[0] - (double)xs[1]), an = ga[i];
            double diff = fabs(an - num), tol = ATOL + RTOL * fabs(num);
            double rel = diff / fmax(fabs(num), ATOL / RTOL);
            if (rel > *worst_rel) {
                *worst_rel = rel;
                snprintf(where, where_n, "%s[%lld]: analytic %.6g, numeric %.6g", pv->name,
                         (long long)i, an, num);
            }
            if (!(diff / tol <= *worst_tol)) *worst_tol = isnan(diff) ? INFINITY : diff / tol;
            *failed += !(diff <= tol);
            (*checked)++;
        }
        if (s == LMG_OK) s = lmg_backend_ref.write(d->fe, d->pf[k], x, bytes); /* restored */
        free(ga);
        free(x);
    }
    free(logits);
    return s;
}

/* Adam on the host: read each gradient, update the parameter, write it back. */
static lmg_status train(demo *d, int steps, double lr, int quiet, double *first, double *last)
{
    float **m = calloc((size_t)d->n_params, sizeof *m), **v = calloc((size_t)d->n_params, sizeof *v);
    float **p = calloc((size_t)d->n_params, sizeof *p), *g = NULL;
    lmg_status s = m && v && p ? LMG_OK : lmg_error(LMG_ERR_NOMEM, "out of memory");
    int64_t maxn = 0;
    for (int k = 0; k < d->n_params && s == LMG_OK; k++) {
        size_t bytes = (size_t)d->numel[k] * sizeof(float);
        m[k] = calloc(1, bytes);
        v[k] = calloc(1, bytes);
        p[k] = malloc(bytes);
        if (!m[k] || !v[k] || !p[k]) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        else s = lmg_backend_ref.read(d->te, d->pt[k], p[k], bytes);
        if (d->numel[k] > maxn) maxn = d->numel[k];
    }
    if (s == LMG_OK && !(g = malloc((size_t)maxn * sizeof *g))) s = lmg_error(LMG_ERR_NOMEM, "oom");
    const double b1 = 0.9, b2 = 0.99, eps = 1e-8;
    int lid = lmg_graph_find(d->tg, "loss");
    for (int step = 1; step <= steps && s == LMG_OK; step++) {
        float loss = 0;
        s = lmg_backend_ref.run(d->te, (uint64_t)step);
        if (s == LMG_OK) s = lmg_backend_ref.read(d->te, lid, &loss, sizeof loss);
        if (s != LMG_OK) break;
        if (step == 1) *first = loss;
        *last = loss;
        if (!quiet && (step == 1 || step % 3 == 0 || step == steps))
            printf("  step %3d  loss %.4f\n", step, loss);
        double c1 = 1 - pow(b1, step), c2 = 1 - pow(b2, step);
        for (int k = 0; k < d->n_params && s == LMG_OK; k++) {
            size_t bytes = (size_t)d->numel[k] * sizeof(float);
            s = lmg_backend_ref.read(d->te, d->gt[k], g, bytes);
            for (int64_t i = 0; s == LMG_OK && i < d->numel[k]; i++) {
                m[k][i] = (float)(b1 * m[k][i] + (1 - b1) * g[i]);
                v[k][i] = (float)(b2 * v[k][i] + (1 - b2) * (double)g[i] * g[i]);
                p[k][i] -= (float)(lr * (m[k][i] / c1) / (sqrt(v[k][i] / c2) + eps));
            }
            if (s == LMG_OK) s = lmg_backend_ref.write(d->te, d->pt[k], p[k], bytes);
        }
    }
    for (int k = 0; k < d->n_params; k++) {
        if (m) free(m[k]);
        if (v) free(v[k]);
        if (p) free(p[k]);
    }
    free(m), free(v), free(p), free(g);
    return s;
}

int lmg_cmd_demo(int argc, char **argv)
{
    long long steps = 30;
    double lr = 0.01;
    int quiet = 0, rc;
    char about[1024];
    snprintf(about, sizeof about,
             "Build a small GPT with the model builder `lmg train` uses (%d blocks, width %d,\n"
             "%d heads, vocabulary %d, batch %d x %d tokens), turn it into a training graph with\n"
             "autodiff, verify both, check every parameter's gradient against central\n"
             "differences on the ref backend (PASS/FAIL, worst relative error), then train it\n"
             "with Adam on a fixed random token batch and print the loss as it falls.",
             L, C, H, V, B, T);
    cli_opt opts[] = {
        CLI_INT("--steps", "N", &steps, 0, 100000, "training steps (default 30; 0 skips training)"),
        CLI_DOUBLE("--lr", "X", &lr, 0, 10, "learning rate (default 0.01)", .flags = CLI_LO_OPEN),
        CLI_FLAG("--quiet", "-q", &quiet, "print only the gradient check verdict and the final loss"),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = CMD,
        .usage = "lmg demo [--steps N] [--lr X] [-q]",
        .about = about,
        .opts = opts,
        .exit_status = "0 gradients agree and the loss fell, 1 failure, 2 usage error",
    };
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;

    clock_t t0 = clock();
    demo d;
    memset(&d, 0, sizeof d);
    lmg_status s = setup(&d);
    if (s != LMG_OK) {
        demo_free(&d);
        return cli_fail(CMD, s, "building the demo model");
    }
    if (!quiet) {
        printf("lmg demo: a %d-block GPT (width %d, %d heads, vocabulary %d), batch %dx%d\n", L, C,
               H, V, B, T);
        printf("  forward graph:  %4d nodes, %4d values, %d parameters (%lld weights)\n",
               d.fg->n_nodes, d.fg->n_values, d.n_params, (long long)d.total);
        printf("  training graph: %4d nodes, %4d values, %d outputs (loss, logits, hidden, %d gradients)\n",
               d.tg->n_nodes, d.tg->n_values, d.tg->n_outputs, d.n_params);
        printf("  both graphs verify\n");
    }
    double worst_rel = 0, worst_tol = 0;
    int checked = 0, failed = 0;
    char where[200] = "";
    s = gradcheck(&d, &worst_rel, &worst_tol, &checked, &failed, where, sizeof where);
    if (s != LMG_OK) {
        demo_free(&d);
        return cli_fail(CMD, s, "gradient check");
    }
    int pass = failed == 0;
    printf("gradient check: %d elements of %d parameters against central differences: "
           "worst relative error %.2e (%s) -> %s\n", checked, d.n_params, worst_rel, where,
           pass ? "PASS" : "FAIL");
    if (!pass)
        printf("  %d elements outside |analytic - numeric| <= %g + %g |numeric|\n", failed, ATOL, RTOL);
    double first = 0, last = 0;
    if (steps > 0) {
        if (!quiet) printf("training %lld steps of Adam (lr %g) on one fixed batch:\n", steps, lr);
        s = train(&d, (int)steps, lr, quiet, &first, &last);
        if (s != LMG_OK) {
            demo_free(&d);
            return cli_fail(CMD, s, "training");
        }
        printf("loss %.4f -> %.4f over %lld steps (%.1f s)\n", first, last, steps,
               (double)(clock() - t0) / CLOCKS_PER_SEC);
        if (!(last < first)) {
            printf("FAIL: the loss did not fall\n");
            pass = 0;
        }
    }
    demo_free(&d);
    return pass ? 0 : 1;
}
