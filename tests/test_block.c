/* test_block.c — a whole small transformer block, built with the builder and
 * differentiated: every parameter's gradient against central differences, and the fused
 * attention against the same block written with MatMul/Scale/CausalMask/Softmax (which is
 * why it builds the block itself: the model builder only writes the fused form). */
#include "test.h"
#include "cases.h" /* the fixed-seed generator */

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 2, T = 5, TMAX = 7, C = 8, H = 2, D = C / H, V = 11, F = 4 * C };
#define IGNORE (-100)
#define SAMPLES 12 /* elements checked per parameter */

static lmg_shape sh(int rank, ...)
{
    lmg_shape s;
    s.rank = rank;
    va_list ap;
    va_start(ap, rank);
    for (int i = 0; i < rank; i++) s.dims[i] = va_arg(ap, int64_t);
    va_end(ap);
    return s;
}
#define S1(a) sh(1, (int64_t)(a))
#define S2(a, b) sh(2, (int64_t)(a), (int64_t)(b))

/* A parameter filled uniformly in [center - scale, center + scale). */
static int param(lmg_graph *g, const char *name, lmg_shape s, double center, double scale,
                 uint64_t *rng)
{
    int64_t n = lmg_shape_numel(&s);
    float *d = malloc((size_t)n * sizeof *d);
    if (!d) return -1;
    for (int64_t i = 0; i < n; i++) d[i] = (float)(center + scale * (2 * rng_uniform(rng) - 1));
    int v = lmg_graph_param(g, name, LMG_DTYPE_F32, s, d);
    free(d);
    return v;
}

static int node(lmg_graph *g, lmg_op op, const int *ins, int n, const lmg_attr *a, int na, int *outs)
{
    return lmg_graph_node(g, op, NULL, ins, n, a, na, NULL, outs);
}

static int layer_norm(lmg_graph *g, int x, const char *prefix, uint64_t *rng)
{
    char n1[64], n2[64];
    snprintf(n1, sizeof n1, "%s/g", prefix);
    snprintf(n2, sizeof n2, "%s/b", prefix);
    int gam = param(g, n1, S1(C), 1.0, 0.2, rng), bet = param(g, n2, S1(C), 0.0, 0.2, rng);
    return node(g, LMG_OP_LAYER_NORM, (int[]){x, gam, bet}, 3, NULL, 0, NULL);
}

/* x [B,T,Cin] @ w [Cin,Cout] + b */
static int linear(lmg_graph *g, int x, int cin, int cout, const char *prefix, uint64_t *rng)
{
    char n1[64], n2[64];
    snprintf(n1, sizeof n1, "%s/w", prefix);
    snprintf(n2, sizeof n2, "%s/b", prefix);
    int w = param(g, n1, S2(cin, cout), 0.0, 1.0 / sqrt((double)cin), rng);
    int b = param(g, n2, S1(cout), 0.0, 0.1, rng);
    return lmg_add(g, lmg_matmul(g, x, w, 0, 0), b);
}

/* [B,T,C] slice of the qkv projection, as [B,H,T,D]. */
static int heads(lmg_graph *g, int qkv, int part)
{
    lmg_attr a[3] = {lmg_attr_int("axis", 2), lmg_attr_int("start", part * C),
                     lmg_attr_int("end", (part + 1) * C)};
    int x = node(g, LMG_OP_SLICE, &qkv, 1, a, 3, NULL);
    x = lmg_reshape(g, x, 4, (int64_t[]){B, T, H, D});
    return lmg_transpose(g, x, 4, (int64_t[]){0, 2, 1, 3});
}

/* tokens -> embeddings -> one pre-LN block -> final LN -> tied head -> CrossEntropy.
 * Parameters depend only on the seed, so the fused and unfused graphs share them. */
static lmg_graph *build_block(int fused, const int32_t *tokens, const int32_t *targets)
{
    uint64_t rng = 12345;
    lmg_graph *g = lmg_graph_new(fused ? "block" : "block-unfused");
    int tok = lmg_graph_const(g, "tokens", LMG_DTYPE_I32, S2(B, T), tokens);
    int tgt = lmg_graph_const(g, "targets", LMG_DTYPE_I32, S2(B, T), targets);
    int wte = param(g, "wte", S2(V, C), 0.0, 0.5, &rng);
    int wpe = param(g, "wpe", S2(TMAX, C), 0.0, 0.3, &rng);
    int x = node(g, LMG_OP_EMBEDDING, (int[]){wte, tok}, 2, NULL, 0, NULL);
    lmg_attr sl[3] = {lmg_attr_int("axis", 0), lmg_attr_int("start", 0), lmg_attr_int("end", T)};
    int pos = node(g, LMG_OP_SLICE, &wpe, 1, sl, 3, NULL); /* [T,C] */
    x = lmg_add(g, x, pos);

    int h = layer_norm(g, x, "ln1", &rng);
    int qkv = linear(g, h, C, 3 * C, "attn/qkv", &rng);
    int q = heads(g, qkv, 0), k = heads(g, qkv, 1), v = heads(g, qkv, 2);
    int att;
    if (fused) {
        int o[2];
        node(g, LMG_OP_ATTENTION, (int[]){q, k, v}, 3, (lmg_attr[]){lmg_attr_int("causal", 1)}, 1, o);
        att = o[0];
    } else {
        int s = lmg_matmul(g, q, k, 0, 1);
        s = lmg_scale(g, s, 1.0 / sqrt((double)D), 0.0);
        s = node(g, LMG_OP_CAUSAL_MASK, &s, 1, NULL, 0, NULL);
        s = node(g, LMG_OP_SOFTMAX, &s, 1, NULL, 0, NULL);
        att = lmg_matmul(g, s, v, 0, 0);
    }
    att = lmg_transpose(g, att, 4, (int64_t[]){0, 2, 1, 3});
    att = lmg_reshape(g, att, 3, (int64_t[]){B, T, C});
    x = lmg_add(g, x, linear(g, att, C, C, "attn/proj", &rng));

    h = layer_norm(g, x, "ln2", &rng);
    h = linear(g, h, C, F, "mlp/fc", &rng);
    h = lmg_unary(g, LMG_OP_GELU, h);
    x = lmg_add(g, x, linear(g, h, F, C, "mlp/proj", &rng));

    h = layer_norm(g, x, "lnf", &rng);
    int logits = lmg_matmul(g, h, wte, 0, 1); /* tied: [B,T,C] x [V,C]^T */
    int loss = node(g, LMG_OP_CROSS_ENTROPY, (int[]){logits, tgt}, 2, NULL, 0, NULL);
    lmg_graph_rename(g, logits, "logits");
    lmg_graph_rename(g, loss, "loss");
    lmg_graph_add_output(g, logits);
    lmg_graph_add_output(g, loss);
    return g;
}

static void make_data(int32_t *tokens, int32_t *targets)
{
    uint64_t r = 777;
    for (int i = 0; i < B * T; i++) tokens[i] = (int32_t)(rng_next(&r) % V);
    for (int i = 0; i < B * T; i++) targets[i] = (int32_t)(rng_next(&r) % V);
    targets[2] = IGNORE;
    targets[T + 4] = IGNORE;
}

/* The mean cross-entropy in double from the f32 logits, the way the op defines it. */
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

typedef struct run {
    lmg_exec *e;
    const lmg_graph *g;
} run;

static lmg_status run_init(run *r, const lmg_graph *g)
{
    r->g = g;
    r->e = NULL;
    LMG_TRY(lmg_backend_ref.init(g, &(lmg_exec_opts){0}, &r->e));
    return lmg_backend_ref.run(r->e, 0);
}

static lmg_status read_named(run *r, const char *name, float *buf, int64_t n)
{
    int v = lmg_graph_find(r->g, name);
    if (v < 0) return lmg_error(LMG_ERR_NOT_FOUND, "no value '%s'", name);
    return lmg_backend_ref.read(r->e, v, buf, (size_t)n * sizeof *buf);
}

static int n_params(const lmg_graph *g)
{
    int n = 0;
    for (int v = 0; v < g->n_values; v++) n += g->values[v].kind == LMG_VALUE_INIT && g->values[v].trainable;
    return n;
}

static void test_gradients(const int32_t *tokens, const int32_t *targets)
{
    test_begin("block: every parameter's gradient matches central differences");
    lmg_graph *fg = build_block(1, tokens, targets), *tg = build_block(1, tokens, targets);
    run fr = {0}, tr = {0};
    if (!CHECK(fg->status == LMG_OK && tg->status == LMG_OK, "builder: %s", lmg_last_error()))
        goto out;
    if (!CHECK(lmg_graph_verify(fg) == LMG_OK, "verify forward: %s", lmg_last_error())) goto out;
    if (!CHECK(lmg_autodiff(tg, "loss") == LMG_OK, "autodiff: %s", lmg_last_error())) goto out;
    if (!CHECK(lmg_graph_verify(tg) == LMG_OK, "verify training graph: %s", lmg_last_error()))
        goto out;
    if (!CHECK(run_init(&tr, tg) == LMG_OK && run_init(&fr, fg) == LMG_OK, "run: %s",
               lmg_last_error()))
        goto out;
    float *logits = malloc(sizeof(float) * B * T * V);
    float loss = 0;
    CHECK(read_named(&tr, "loss", &loss, 1) == LMG_OK && read_named(&fr, "logits", logits, B * T * V) == LMG_OK,
          "read: %s", lmg_last_error());
    double l0 = ce_double(logits, targets);
    CHECK(fabs(loss - l0) < 1e-5 * fmax(1, l0), "loss %.8g, from logits in double %.8g", loss, l0);
    CHECK(l0 > 1.5 && l0 < 4.0, "loss %.4g is far from log(V) = %.4g: the init is off", l0, log(V));

    const double atol = 2e-4, rtol = 1e-2;
    int checked = 0, params = 0;
    double worst = 0;
    char worst_where[160] = "";
    for (int p = 0; p < fg->n_values; p++) {
        const lmg_value *pv = &fg->values[p];
        if (pv->kind != LMG_VALUE_INIT || !pv->trainable) continue;
        params++;
        int64_t n = lmg_shape_numel(&pv->shape);
        char gname[80];
        snprintf(gname, sizeof gname, "grad/%s", pv->name);
        float *ga = malloc((size_t)n * sizeof *ga), *x = malloc((size_t)n * sizeof *x);
        if (!CHECK(read_named(&tr, gname, ga, n) == LMG_OK, "%s", lmg_last_error())) {
            free(ga), free(x);
            continue;
        }
        memcpy(x, pv->data, (size_t)n * sizeof *x);
        uint64_t r = 99 + (uint64_t)p;
        int bad = 0;
        double gnorm = 0;
        for (int64_t i = 0; i < n; i++) gnorm += (double)ga[i] * ga[i];
        CHECK(gnorm > 0, "%s is all zeros", gname);
        for (int j = 0; j < SAMPLES && j < n; j++) {
            int64_t i = n <= SAMPLES ? j : (int64_t)(rng_next(&r) % (uint64_t)n);
            float x0 = x[i];
            double e = 1e-2 * fmax(1.0, fabs((double)x0));
            float xp = (float)(x0 + e), xm = (float)(x0 - e);
            double f[2];
            for (int sgn = 0; sgn < 2; sgn++) {
                x[i] = sgn ? xm : xp;
                lmg_status s = lmg_backend_ref.write(fr.e, p, x, (size_t)n * sizeof *x);
                if (s == LMG_OK) s = lmg_backend_ref.run(fr.e, 0);
                if (s == LMG_OK) s = read_named(&fr, "logits", logits, B * T * V);
                CHECK(s == LMG_OK, "forward: %s", lmg_last_error());
                f[sgn] = ce_double(logits, targets);
            }
            x[i] = x0;
            double num = (f[0] - f[1]) / ((double)xp - (double)xm), an = ga[i];
            double diff = fabs(an - num), lim = atol + rtol * fabs(num);
            if (diff / lim > worst) {
                worst = diff / lim;
                snprintf(worst_where, sizeof worst_where, "%s[%lld]: analytic %.6g numeric %.6g",
                         pv->name, (long long)i, an, num);
            }
            if (!(diff <= lim) && bad++ < 3)
                CHECK(0, "%s element %lld: analytic %.7g, numeric %.7g (|diff| %.3g > %.3g)",
                      pv->name, (long long)i, an, num, diff, lim);
            checked++;
        }
        lmg_backend_ref.write(fr.e, p, pv->data, (size_t)n * sizeof *x);
        free(ga);
        free(x);
    }
    CHECK(params == n_params(tg) && params == 16, "%d parameters (training graph %d), want 16",
          params, n_params(tg));
    printf("# %d parameters, %d elements checked; worst error/tolerance %.3g at %s\n", params,
           checked, worst, worst_where);
    free(logits);
out:
    lmg_backend_ref.free(fr.e);
    lmg_backend_ref.free(tr.e);
    lmg_graph_free(fg);
    lmg_graph_free(tg);
    test_end();
}

static void test_fused_vs_unfused(const int32_t *tokens, const int32_t *targets)
{
    test_begin("block: fused Attention matches MatMul/Scale/CausalMask/Softmax in loss and gradients");
    lmg_graph *a = build_block(1, tokens, targets), *b = build_block(0, tokens, targets);
    run ra = {0}, rb = {0};
    if (!CHECK(a->status == LMG_OK && b->status == LMG_OK, "builder: %s", lmg_last_error())) goto out;
    if (!CHECK(lmg_autodiff(a, "loss") == LMG_OK && lmg_autodiff(b, "loss") == LMG_OK,
               "autodiff: %s", lmg_last_error()))
        goto out;
    if (!CHECK(lmg_graph_verify(b) == LMG_OK, "verify: %s", lmg_last_error())) goto out;
    if (!CHECK(run_init(&ra, a) == LMG_OK && run_init(&rb, b) == LMG_OK, "run: %s", lmg_last_error()))
        goto out;
    float la = 0, lb = 0;
    CHECK(read_named(&ra, "loss", &la, 1) == LMG_OK && read_named(&rb, "loss", &lb, 1) == LMG_OK,
          "read loss: %s", lmg_last_error());
    CHECK(fabsf(la - lb) <= 1e-5f * fmaxf(1, fabsf(la)), "loss fused %.8g unfused %.8g", la, lb);
    int compared = 0;
    for (int p = 0; p < a->n_values; p++) {
        const lmg_value *pv = &a->values[p];
        if (pv->kind != LMG_VALUE_INIT || !pv->trainable) continue;
        int64_t n = lmg_shape_numel(&pv->shape);
        char gname[80];
        snprintf(gname, sizeof gname, "grad/%s", pv->name);
        float *ga = malloc((size_t)n * sizeof *ga), *gb = malloc((size_t)n * sizeof *gb);
        if (CHECK(read_named(&ra, gname, ga, n) == LMG_OK && read_named(&rb, gname, gb, n) == LMG_OK,
                  "%s", lmg_last_error())) {
            int bad = 0;
            for (int64_t i = 0; i < n; i++)
                if (!(fabsf(ga[i] - gb[i]) <= 1e-5f * fmaxf(1, fabsf(ga[i]))) && bad++ < 3)
                    CHECK(0, "%s[%lld]: fused %.8g unfused %.8g", gname, (long long)i, ga[i], gb[i]);
            compared++;
        }
        free(ga);
        free(gb);
    }
    CHECK(compared == 16, "%d gradients compared, want 16", compared);
out:
    lmg_backend_ref.free(ra.e);
    lmg_backend_ref.free(rb.e);
    lmg_graph_free(a);
    lmg_graph_free(b);
    test_end();
}

int main(void)
{
    int32_t tokens[B * T], targets[B * T];
    make_data(tokens, targets);
    test_gradients(tokens, targets);
    test_fused_vs_unfused(tokens, targets);
    return test_summary();
}
