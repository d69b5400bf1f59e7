/* test_models.c — the model builders and objectives: graphs verify, GPT-S has the parameter
 * count of BENCH.md, shapes, the tied embedding, initial statistics, objective parsing and
 * weighted sums, micro-batches, and user objective graphs (linking errors, training). */
#include "../models/models.h"
#include "../train/train.h"
#include "../backends/backend.h"
#include "../graph/plan.h"
#include "test.h"

#include <math.h>
#include <string.h>

static lmg_model_config tiny(const char *arch)
{
    lmg_model_config c;
    lmg_model_config_default(&c, arch);
    c.layers = 2;
    c.heads = 2;
    c.d_model = 32;
    c.d_ff = 64;
    c.vocab = 300;
    c.seq = 16;
    c.batch = 3;
    return c;
}

static int has_output(const lmg_graph *g, const char *name)
{
    int v = lmg_graph_find(g, name);
    for (int i = 0; v >= 0 && i < g->n_outputs; i++)
        if (g->outputs[i] == v) return 1;
    return 0;
}

static int shape_is(const lmg_graph *g, const char *name, lmg_dtype t, int rank, int64_t d0,
                    int64_t d1, int64_t d2)
{
    int v = lmg_graph_find(g, name);
    if (v < 0) return 0;
    const lmg_value *x = &g->values[v];
    int64_t d[3] = {d0, d1, d2};
    if (x->dtype != t || x->shape.rank != rank) return 0;
    for (int i = 0; i < rank; i++)
        if (x->shape.dims[i] != d[i]) return 0;
    return 1;
}

/* A deterministic token pattern: a model can learn it quickly. */
static void fill_batch(int32_t *ids, int32_t *tg, int rows, int T, int vocab, int shift)
{
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < T; t++) {
            ids[r * T + t] = 5 + (r * 7 + t * 3 + shift) % (vocab - 5);
            tg[r * T + t] = 5 + (r * 7 + (t + 1) * 3 + shift) % (vocab - 5);
        }
}

/* Run `steps` training steps of graph g (already a training graph) on the ref backend;
 * returns the losses. */
static lmg_status train_steps(lmg_graph *g, int steps, const lmg_optim_config *o, int rows,
                              int T, int vocab, float *losses)
{
    const lmg_backend *b = lmg_backend_find("ref");
    lmg_exec *e;
    LMG_TRY(lmg_graph_verify(g));
    LMG_TRY(b->init(g, NULL, &e));
    int ids = lmg_graph_find(g, "ids"), tg = lmg_graph_find(g, "targets");
    int lr = lmg_graph_find(g, "lr"), st = lmg_graph_find(g, "step"), loss = lmg_graph_find(g, "loss");
    size_t n = (size_t)rows * T;
    int32_t *x = malloc(n * 4), *y = malloc(n * 4);
    lmg_status s = LMG_OK;
    for (int i = 1; i <= steps && s == LMG_OK; i++) {
        fill_batch(x, y, rows, T, vocab, 0);
        float l = (float)lmg_lr_at(o, i);
        int32_t sv = i;
        s = b->write(e, ids, x, n * 4);
        if (s == LMG_OK && tg >= 0) s = b->write(e, tg, y, n * 4);
        if (s == LMG_OK) s = b->write(e, lr, &l, 4);
        if (s == LMG_OK) s = b->write(e, st, &sv, 4);
        if (s == LMG_OK) s = b->run(e, (uint64_t)i);
        if (s == LMG_OK) s = b->read(e, loss, &losses[i - 1], 4);
    }
    free(x);
    free(y);
    b->free(e);
    return s;
}

/* Forward-only run: returns the named scalar outputs. */
static lmg_status forward(lmg_graph *g, int rows, int T, int vocab, int n_names,
                          const char *const *names, float *vals)
{
    const lmg_backend *b = lmg_backend_find("ref");
    lmg_exec *e;
    LMG_TRY(lmg_graph_verify(g));
    LMG_TRY(b->init(g, NULL, &e));
    size_t n = (size_t)rows * T;
    int32_t *x = malloc(n * 4), *y = malloc(n * 4);
    fill_batch(x, y, rows, T, vocab, 1);
    lmg_status s = b->write(e, lmg_graph_find(g, "ids"), x, n * 4);
    int tg = lmg_graph_find(g, "targets");
    if (s == LMG_OK && tg >= 0) s = b->write(e, tg, y, n * 4);
    if (s == LMG_OK) s = b->run(e, 7);
    for (int i = 0; i < n_names && s == LMG_OK; i++) {
        int v = lmg_graph_find(g, names[i]);
        s = v < 0 ? lmg_error(LMG_ERR_NOT_FOUND, "no value %s", names[i])
                  : b->read(e, v, &vals[i], 4);
    }
    free(x);
    free(y);
    b->free(e);
    return s;
}

static void test_gpt_graph(void)
{
    test_begin("gpt: default graph verifies, inputs, outputs and shapes");
    lmg_model_config c;
    lmg_model_config_default(&c, "gpt");
    lmg_graph *g = NULL;
    lmg_status s = lmg_model_build(&c, &g);
    CHECK(s == LMG_OK, "build: %s", lmg_last_error());
    if (g) {
        CHECK(lmg_graph_verify(g) == LMG_OK, "verify: %s", lmg_last_error());
        CHECK(g->n_inputs == 2, "inputs %d", g->n_inputs);
        CHECK(shape_is(g, "ids", LMG_DTYPE_I32, 2, c.batch, c.seq, 0), "ids shape");
        CHECK(shape_is(g, "targets", LMG_DTYPE_I32, 2, c.batch, c.seq, 0), "targets shape");
        CHECK(shape_is(g, "loss", LMG_DTYPE_F32, 0, 0, 0, 0), "loss is a scalar");
        CHECK(shape_is(g, "logits", LMG_DTYPE_F32, 3, c.batch, c.seq, c.vocab), "logits shape");
        CHECK(shape_is(g, "hidden", LMG_DTYPE_F32, 3, c.batch, c.seq, c.d_model), "hidden shape");
        CHECK(has_output(g, "loss") && has_output(g, "logits") && has_output(g, "hidden"),
              "outputs");
        CHECK(shape_is(g, "wte", LMG_DTYPE_F32, 2, c.vocab, c.d_model, 0), "wte");
        CHECK(shape_is(g, "wpe", LMG_DTYPE_F32, 2, c.seq, c.d_model, 0), "wpe");
        CHECK(shape_is(g, "h0.attn.wqkv", LMG_DTYPE_F32, 2, c.d_model, 3 * c.d_model, 0), "wqkv");
        CHECK(shape_is(g, "h3.mlp.w2", LMG_DTYPE_F32, 2, c.d_ff, c.d_model, 0), "w2");
        CHECK(shape_is(g, "lnf.g", LMG_DTYPE_F32, 1, c.d_model, 0, 0), "lnf.g");
        CHECK(lmg_graph_find(g, "h4.ln1.g") < 0, "only 4 layers");
        int att = 0, causal = 0;
        for (int i = 0; i < g->n_nodes; i++)
            if (g->nodes[i].op == LMG_OP_ATTENTION) {
                att++;
                causal += lmg_node_attr_int(&g->nodes[i], "causal", 0) == 1;
            }
        CHECK(att == 4 && causal == 4, "%d attention nodes, %d causal", att, causal);
        lmg_model_config back;
        CHECK(lmg_model_config_from_graph(g, &back) == LMG_OK, "config from metadata: %s",
              lmg_last_error());
        CHECK(strcmp(back.arch, "gpt") == 0 && back.layers == 4 && back.d_model == c.d_model &&
                  back.vocab == c.vocab && back.seed == c.seed && strcmp(back.objective, "clm") == 0,
              "metadata round trip");
    }
    lmg_graph_free(g);
    test_end();
}

static void test_param_count(void)
{
    test_begin("gpt: GPT-S has 4,240,896 parameters (BENCH.md)");
    lmg_model_config c;
    lmg_model_config_small(&c, "gpt");
    lmg_graph *g = NULL;
    CHECK(lmg_model_build(&c, &g) == LMG_OK, "build: %s", lmg_last_error());
    if (g) CHECK(lmg_model_param_count(g) == 4240896, "%lld", (long long)lmg_model_param_count(g));
    lmg_graph_free(g);
    test_end();
}

static void test_tied(void)
{
    test_begin("gpt: output embedding tied to wte (MatMul trans_b), no separate head");
    lmg_model_config c = tiny("gpt");
    lmg_graph *g = NULL;
    CHECK(lmg_model_build(&c, &g) == LMG_OK, "build: %s", lmg_last_error());
    if (g) {
        int wte = lmg_graph_find(g, "wte"), uses = 0, tied = 0;
        for (int i = 0; i < g->n_nodes; i++)
            for (int k = 0; k < g->nodes[i].n_in; k++)
                if (g->nodes[i].in[k] == wte) {
                    uses++;
                    if (g->nodes[i].op == LMG_OP_MATMUL && k == 1 &&
                        lmg_node_attr_int(&g->nodes[i], "trans_b", 0) == 1)
                        tied++;
                }
        CHECK(uses == 2 && tied == 1, "wte used %d times, %d as the tied head", uses, tied);
        int vv = 0;
        for (int v = 0; v < g->n_values; v++)
            if (g->values[v].trainable && g->values[v].shape.rank == 2 &&
                g->values[v].shape.dims[0] * g->values[v].shape.dims[1] ==
                    (int64_t)c.vocab * c.d_model)
                vv++;
        CHECK(vv == 1, "%d parameters of the size of the embedding", vv);
    }
    lmg_graph_free(g);
    test_end();
}

static void stats(const lmg_graph *g, const char *name, double *mean, double *std, double *lo,
                  double *hi)
{
    int v = lmg_graph_find(g, name);
    *mean = *std = NAN;
    if (v < 0) return;
    const lmg_value *x = &g->values[v];
    int64_t n = lmg_shape_numel(&x->shape);
    const float *d = x->fill == LMG_INIT_DATA ? x->data : NULL;
    double s = 0, ss = 0;
    *lo = INFINITY, *hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        double a = d ? d[i] : 0.0;
        s += a, ss += a * a;
        if (a < *lo) *lo = a;
        if (a > *hi) *hi = a;
    }
    *mean = s / n;
    *std = sqrt(ss / n - *mean * *mean);
}

static void test_init(void)
{
    test_begin("init: normal(0, 0.02), residual projections / sqrt(2 layers), LN 1/0, seeded");
    lmg_model_config c;
    lmg_model_config_small(&c, "gpt");
    lmg_graph *g = NULL, *g2 = NULL, *g3 = NULL;
    CHECK(lmg_model_build(&c, &g) == LMG_OK, "build: %s", lmg_last_error());
    lmg_model_build(&c, &g2);
    c.seed = 99;
    lmg_model_build(&c, &g3);
    if (g && g2 && g3) {
        double m, sd, lo, hi;
        stats(g, "wte", &m, &sd, &lo, &hi);
        CHECK(fabs(m) < 0.0005 && fabs(sd - 0.02) < 0.0005, "wte mean %g std %g", m, sd);
        CHECK(lo < -0.07 && hi > 0.07 && lo > -0.14 && hi < 0.14, "wte range %g..%g", lo, hi);
        stats(g, "h1.mlp.w1", &m, &sd, &lo, &hi);
        CHECK(fabs(m) < 0.0005 && fabs(sd - 0.02) < 0.0005, "w1 mean %g std %g", m, sd);
        double r = 0.02 / sqrt(8.0);
        stats(g, "h2.attn.wo", &m, &sd, &lo, &hi);
        CHECK(fabs(sd - r) < 0.05 * r, "wo std %g, want %g", sd, r);
        stats(g, "h3.mlp.w2", &m, &sd, &lo, &hi);
        CHECK(fabs(sd - r) < 0.05 * r, "w2 std %g, want %g", sd, r);
        stats(g, "h0.ln1.g", &m, &sd, &lo, &hi);
        CHECK(lo == 1.0 && hi == 1.0, "ln gamma %g..%g", lo, hi);
        stats(g, "h0.ln2.b", &m, &sd, &lo, &hi);
        CHECK(lo == 0.0 && hi == 0.0, "ln beta %g..%g", lo, hi);
        stats(g, "h0.attn.bqkv", &m, &sd, &lo, &hi);
        CHECK(lo == 0.0 && hi == 0.0, "bias %g..%g", lo, hi);
        /* Different parameters draw different numbers; the same seed the same ones. */
        const lmg_value *a = &g->values[lmg_graph_find(g, "h0.mlp.w1")];
        const lmg_value *b = &g->values[lmg_graph_find(g, "h1.mlp.w1")];
        const lmg_value *a2 = &g2->values[lmg_graph_find(g2, "h0.mlp.w1")];
        const lmg_value *a3 = &g3->values[lmg_graph_find(g3, "h0.mlp.w1")];
        size_t nb = (size_t)lmg_shape_numel(&a->shape) * 4;
        CHECK(memcmp(a->data, b->data, nb) != 0, "two layers got the same weights");
        CHECK(memcmp(a->data, a2->data, nb) == 0, "same seed, different weights");
        CHECK(memcmp(a->data, a3->data, nb) != 0, "another seed, same weights");
        /* Correlation between two layers' weights is near zero. */
        const float *x = a->data, *y = b->data;
        double sxy = 0, sxx = 0, syy = 0;
        for (size_t i = 0; i < nb / 4; i++) sxy += x[i] * y[i], sxx += x[i] * x[i], syy += y[i] * y[i];
        CHECK(fabs(sxy / sqrt(sxx * syy)) < 0.01, "correlation %g", sxy / sqrt(sxx * syy));
    }
    lmg_graph_free(g);
    lmg_graph_free(g2);
    lmg_graph_free(g3);
    test_end();
}

static void test_bert(void)
{
    test_begin("bert: bidirectional, MLM head and corruption, no targets input");
    lmg_model_config c = tiny("bert");
    lmg_graph *g = NULL;
    CHECK(lmg_model_build(&c, &g) == LMG_OK, "build: %s", lmg_last_error());
    if (g) {
        CHECK(lmg_graph_verify(g) == LMG_OK, "verify: %s", lmg_last_error());
        CHECK(g->n_inputs == 1 && lmg_graph_find(g, "targets") < 0, "only ids is an input");
        CHECK(has_output(g, "mlm/targets") && has_output(g, "mlm/ids"), "mlm outputs");
        CHECK(shape_is(g, "head.bias", LMG_DTYPE_F32, 1, c.vocab, 0, 0), "head bias");
        CHECK(shape_is(g, "logits", LMG_DTYPE_F32, 3, c.batch, c.seq, c.vocab), "logits");
        int causal = 0, corrupt = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            causal += g->nodes[i].op == LMG_OP_ATTENTION &&
                      lmg_node_attr_int(&g->nodes[i], "causal", 0) != 0;
            if (g->nodes[i].op == LMG_OP_MLM_CORRUPT) {
                corrupt++;
                CHECK(lmg_node_attr_int(&g->nodes[i], "mask_id", -1) == 1 &&
                          lmg_node_attr_int(&g->nodes[i], "special_below", -1) == 5 &&
                          fabs(lmg_node_attr_float(&g->nodes[i], "p", 0) - 0.15) < 1e-12,
                      "MlmCorrupt attributes");
            }
        }
        CHECK(causal == 0 && corrupt == 1, "causal %d corrupt %d", causal, corrupt);
        /* At initialisation the loss is about log(V). */
        float l;
        const char *nm[1] = {"loss"};
        CHECK(forward(g, c.batch, c.seq, c.vocab, 1, nm, &l) == LMG_OK, "run: %s", lmg_last_error());
        CHECK(fabs(l - log(c.vocab)) < 0.5, "initial loss %g vs log V %g", l, log(c.vocab));
    }
    lmg_graph_free(g);
    test_end();
}

static void test_objective_parse(void)
{
    test_begin("objectives: spec parsing and its errors");
    lmg_objective_term t[LMG_MAX_OBJECTIVE_TERMS];
    int n = -1;
    CHECK(lmg_objective_parse("mlm:1.0,clm:0.5", t, &n) == LMG_OK && n == 2 &&
              strcmp(t[0].name, "mlm") == 0 && t[0].weight == 1.0 &&
              strcmp(t[1].name, "clm") == 0 && t[1].weight == 0.5,
          "two terms");
    CHECK(lmg_objective_parse("none", t, &n) == LMG_OK && n == 0, "none");
    CHECK(lmg_objective_parse("rtd", t, &n) == LMG_ERR_ARG && strstr(lmg_last_error(), "'rtd'"),
          "unknown term: %s", lmg_last_error());
    CHECK(lmg_objective_parse("clm:-1", t, &n) == LMG_ERR_ARG, "negative weight");
    CHECK(lmg_objective_parse("clm:x", t, &n) == LMG_ERR_ARG, "weight not a number");
    CHECK(lmg_objective_parse("clm,clm", t, &n) == LMG_ERR_ARG, "twice");
    CHECK(lmg_objective_parse("clm,", t, &n) == LMG_ERR_ARG, "trailing comma");
    lmg_model_config c = tiny("gpt");
    c.objective = "clm:2,bogus";
    lmg_graph *g = NULL;
    CHECK(lmg_model_build(&c, &g) == LMG_ERR_ARG && !g, "build refuses a bad objective");
    c = tiny("gpt");
    c.heads = 5;
    CHECK(lmg_model_build(&c, &g) == LMG_ERR_ARG && strstr(lmg_last_error(), "heads"),
          "d_model %% heads: %s", lmg_last_error());
    test_end();
}

static void test_weighted_sum(void)
{
    test_begin("objectives: mlm:1.0,clm:0.5 is the weighted sum of its terms, two passes");
    lmg_model_config c = tiny("bert");
    c.objective = "mlm:1.0,clm:0.5";
    lmg_graph *g = NULL;
    CHECK(lmg_model_build(&c, &g) == LMG_OK, "build: %s", lmg_last_error());
    if (g) {
        CHECK(lmg_graph_find(g, "targets") >= 0, "clm needs targets");
        CHECK(has_output(g, "loss/mlm") && has_output(g, "loss/clm"), "term outputs");
        int att = 0, causal = 0;
        for (int i = 0; i < g->n_nodes; i++)
            if (g->nodes[i].op == LMG_OP_ATTENTION) {
                att++;
                causal += lmg_node_attr_int(&g->nodes[i], "causal", 0) != 0;
            }
        CHECK(att == 4 && causal == 2, "attention %d (causal %d): one pass per input", att, causal);
        CHECK(lmg_model_param_count(g) > 0, "params");
        float v[3];
        const char *nm[3] = {"loss", "loss/mlm", "loss/clm"};
        CHECK(forward(g, c.batch, c.seq, c.vocab, 3, nm, v) == LMG_OK, "run: %s", lmg_last_error());
        CHECK(fabs(v[0] - (v[1] + 0.5f * v[2])) < 1e-5, "loss %g, mlm %g, clm %g", v[0], v[1],
              v[2]);
    }
    lmg_graph_free(g);
    /* The same parameters serve both passes: no duplicate names. */
    c = tiny("gpt");
    lmg_graph *g1 = NULL;
    CHECK(lmg_model_build(&c, &g1) == LMG_OK, "build gpt");
    c.objective = "mlm:1.0,clm:0.5";
    CHECK(lmg_model_build(&c, &g) == LMG_OK, "build gpt mlm+clm: %s", lmg_last_error());
    if (g && g1)
        CHECK(lmg_model_param_count(g) == lmg_model_param_count(g1), "parameters shared");
    lmg_graph_free(g);
    lmg_graph_free(g1);
    test_end();
}

static void test_micro_batches(void)
{
    test_begin("micro-batches: [x; x] in 2 micro-batches gives the loss and gradient of x");
    lmg_model_config c = tiny("gpt");
    lmg_optim_config o;
    lmg_optim_config_default(&o);
    lmg_graph *g1 = NULL, *g2 = NULL;
    CHECK(lmg_model_build(&c, &g1) == LMG_OK, "build: %s", lmg_last_error());
    c.micro_batches = 2;
    CHECK(lmg_model_build(&c, &g2) == LMG_OK, "build M=2: %s", lmg_last_error());
    if (g1 && g2) {
        CHECK(shape_is(g2, "ids", LMG_DTYPE_I32, 2, 2 * c.batch, c.seq, 0), "ids [M*B,T]");
        CHECK(lmg_model_param_count(g1) == lmg_model_param_count(g2), "same parameters");
        CHECK(lmg_train_graph_build(g1, "loss", &o) == LMG_OK, "train 1: %s", lmg_last_error());
        CHECK(lmg_train_graph_build(g2, "loss", &o) == LMG_OK, "train 2: %s", lmg_last_error());
        /* micro-batch-major order: every mb0 node before any mb1 node. */
        int last0 = -1, first1 = 1 << 30;
        for (int i = 0; i < g2->n_nodes; i++) {
            const char *nm = g2->nodes[i].name;
            if (strncmp(nm, "mb0/", 4) == 0) last0 = i;
            if (strncmp(nm, "mb1/", 4) == 0 && i < first1) first1 = i;
        }
        CHECK(last0 < first1, "mb0 ends at %d, mb1 starts at %d", last0, first1);
        const lmg_backend *b = lmg_backend_find("ref");
        float loss[2], gn[2];
        for (int k = 0; k < 2; k++) {
            lmg_graph *g = k ? g2 : g1;
            int rows = c.batch * (k + 1);
            lmg_exec *e = NULL;
            CHECK(lmg_graph_verify(g) == LMG_OK, "verify: %s", lmg_last_error());
            CHECK(b->init(g, NULL, &e) == LMG_OK, "init: %s", lmg_last_error());
            int32_t ids[2 * 3 * 16], tg[2 * 3 * 16];
            fill_batch(ids, tg, c.batch, c.seq, c.vocab, 0);
            memcpy(ids + c.batch * c.seq, ids, sizeof(int32_t) * c.batch * c.seq);
            memcpy(tg + c.batch * c.seq, tg, sizeof(int32_t) * c.batch * c.seq);
            float lr = 0.001f;
            int32_t st = 1;
            b->write(e, lmg_graph_find(g, "ids"), ids, (size_t)rows * c.seq * 4);
            b->write(e, lmg_graph_find(g, "targets"), tg, (size_t)rows * c.seq * 4);
            b->write(e, lmg_graph_find(g, "lr"), &lr, 4);
            b->write(e, lmg_graph_find(g, "step"), &st, 4);
            CHECK(b->run(e, 1) == LMG_OK, "run: %s", lmg_last_error());
            b->read(e, lmg_graph_find(g, "loss"), &loss[k], 4);
            b->read(e, lmg_graph_find(g, "grad_norm"), &gn[k], 4);
            b->free(e);
        }
        CHECK(fabsf(loss[0] - loss[1]) < 1e-5f, "loss %g vs %g", loss[0], loss[1]);
        CHECK(fabsf(gn[0] - gn[1]) < 1e-4f * gn[0], "grad norm %g vs %g", gn[0], gn[1]);
    }
    lmg_graph_free(g1);
    lmg_graph_free(g2);
    test_end();
}

static void test_micro_batch_memory(void)
{
    test_begin("micro-batches: 2 x B/2 needs less activation memory than one batch of B");
    size_t arena[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        lmg_model_config c;
        lmg_model_config_default(&c, "gpt");
        c.layers = 2;
        c.batch = k ? 4 : 8;
        c.micro_batches = k ? 2 : 1;
        lmg_graph *g = NULL;
        lmg_plan *p = NULL;
        lmg_optim_config o;
        lmg_optim_config_default(&o);
        CHECK(lmg_model_build(&c, &g) == LMG_OK && lmg_train_graph_build(g, "loss", &o) == LMG_OK,
              "build: %s", lmg_last_error());
        CHECK(g && lmg_plan_build(g, NULL, &p) == LMG_OK, "plan: %s", lmg_last_error());
        if (p) arena[k] = p->region_bytes[LMG_REGION_ARENA];
        lmg_plan_free(p);
        lmg_graph_free(g);
    }
    CHECK(arena[1] > 0 && (double)arena[1] < 0.85 * (double)arena[0],
          "arena %zu bytes with 2 micro-batches vs %zu with one batch", arena[1], arena[0]);
    test_end();
}

/* A label-smoothed next-token loss written as a graph over the model's outputs, plus a
 * trainable term: loss = 0.9 CE(logits, targets) - 0.1 mean(log_softmax(logits)). */
static lmg_graph *smooth_objective(const lmg_model_config *c, const char *logits_name,
                                   int64_t vocab)
{
    lmg_graph *o = lmg_graph_new("smooth");
    int64_t d3[3] = {c->batch, c->seq, vocab}, d2[2] = {c->batch, c->seq};
    int lg = lmg_graph_input(o, logits_name, LMG_DTYPE_F32, lmg_shape_make(3, d3));
    int tg = lmg_graph_input(o, "targets", LMG_DTYPE_I32, lmg_shape_make(2, d2));
    int ce = lmg_graph_node(o, LMG_OP_CROSS_ENTROPY, "ce", (int[]){lg, tg}, 2, NULL, 0, NULL, NULL);
    int ls = lmg_unary(o, LMG_OP_LOG_SOFTMAX, lg);
    lmg_attr a = lmg_attr_int("keepdims", 0);
    int mean = lmg_graph_node(o, LMG_OP_REDUCE_MEAN, "mean_logp", &ls, 1, &a, 1, NULL, NULL);
    int t1 = lmg_scale(o, ce, 0.9, 0.0);
    int t2 = lmg_scale(o, mean, -0.1, 0.0);
    int l = lmg_graph_node(o, LMG_OP_ADD, "loss", (int[]){t1, t2}, 2, NULL, 0, NULL, NULL);
    lmg_graph_add_output(o, l);
    if (o->status != LMG_OK) {
        lmg_graph_free(o);
        return NULL;
    }
    return o;
}

static void test_link_errors(void)
{
    test_begin("user objective: linking errors name the value");
    lmg_model_config c = tiny("gpt");
    c.objective = "none";
    lmg_graph *m = NULL;
    CHECK(lmg_model_build(&c, &m) == LMG_OK, "build: %s", lmg_last_error());
    CHECK(m && lmg_graph_find(m, "loss") < 0 && lmg_graph_find(m, "targets") < 0,
          "objective none: no loss, no targets");
    lmg_graph *o1 = smooth_objective(&c, "logitz", c.vocab);
    lmg_graph *o2 = smooth_objective(&c, "logits", c.vocab + 1);
    lmg_graph *o3 = lmg_graph_new("noloss");
    int64_t d3[3] = {c.batch, c.seq, c.vocab};
    int x = lmg_graph_input(o3, "logits", LMG_DTYPE_F32, lmg_shape_make(3, d3));
    lmg_graph_add_output(o3, lmg_unary(o3, LMG_OP_EXP, x));
    int loss;
    if (m && o1 && o2) {
        int nv = m->n_values;
        lmg_status s = lmg_objective_link(m, o1, "obj/", &loss);
        CHECK(s == LMG_ERR_NOT_FOUND && strstr(lmg_last_error(), "'logitz'") &&
                  strstr(lmg_last_error(), "logits"),
              "missing value: %s", lmg_last_error());
        s = lmg_objective_link(m, o2, "obj/", &loss);
        CHECK(s == LMG_ERR_INVALID && strstr(lmg_last_error(), "'logits'") &&
                  strstr(lmg_last_error(), "[3,16,301]") && strstr(lmg_last_error(), "[3,16,300]"),
              "shape mismatch: %s", lmg_last_error());
        s = lmg_objective_link(m, o3, "obj/", &loss);
        CHECK(s == LMG_ERR_INVALID && strstr(lmg_last_error(), "'loss'"), "no loss: %s",
              lmg_last_error());
        (void)nv;
    }
    lmg_graph_free(o1);
    lmg_graph_free(o2);
    lmg_graph_free(o3);
    lmg_graph_free(m);
    test_end();
}

static void test_user_objective_trains(void)
{
    test_begin("user objective: links by value names and its loss falls in 30 steps");
    lmg_model_config c = tiny("gpt");
    lmg_graph *obj = smooth_objective(&c, "logits", c.vocab);
    lmg_graph *g = NULL;
    CHECK(obj && lmg_model_build_with_objective(&c, obj, 1.0, &g) == LMG_OK, "build: %s",
          lmg_last_error());
    if (g) {
        CHECK(lmg_graph_find(g, "obj/ce") >= 0 && lmg_graph_find(g, "obj/loss") >= 0,
              "copied under the prefix");
        CHECK(lmg_graph_find(g, "targets") >= 0, "targets became a model input");
        CHECK(has_output(g, "loss"), "loss output");
        lmg_optim_config o;
        lmg_optim_config_default(&o);
        o.lr = 3e-3;
        o.warmup = 3;
        o.steps = 30;
        CHECK(lmg_train_graph_build(g, "loss", &o) == LMG_OK, "train graph: %s", lmg_last_error());
        float losses[30];
        CHECK(train_steps(g, 30, &o, c.batch, c.seq, c.vocab, losses) == LMG_OK, "train: %s",
              lmg_last_error());
        CHECK(losses[29] < losses[0] - 1.0f, "loss %g -> %g", losses[0], losses[29]);
    }
    lmg_graph_free(g);
    lmg_graph_free(obj);
    test_end();
}

static void test_train_graph(void)
{
    test_begin("training graph: AdamW per parameter, state, lr/step inputs, no decay on rank 1");
    lmg_model_config c = tiny("gpt");
    lmg_graph *g = NULL;
    CHECK(lmg_model_build(&c, &g) == LMG_OK, "build");
    if (g) {
        int np = 0;
        for (int v = 0; v < g->n_values; v++) np += g->values[v].trainable;
        lmg_optim_config o;
        lmg_optim_config_default(&o);
        CHECK(lmg_train_graph_build(g, "loss", &o) == LMG_OK, "train graph: %s", lmg_last_error());
        CHECK(lmg_graph_verify(g) == LMG_OK, "verify: %s", lmg_last_error());
        int adam = 0, wd_bad = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            const lmg_node *n = &g->nodes[i];
            if (n->op != LMG_OP_ADAMW) continue;
            adam++;
            int rank = g->values[n->in[0]].shape.rank;
            double wd = lmg_node_attr_float(n, "weight_decay", -1);
            if ((rank == 1 && wd != 0.0) || (rank == 2 && wd != o.weight_decay)) wd_bad++;
            char nm[300];
            snprintf(nm, sizeof nm, "adam.m/%s", g->values[n->in[0]].name);
            if (n->in[2] != lmg_graph_find(g, nm) || g->values[n->in[2]].trainable) wd_bad++;
        }
        CHECK(adam == np && wd_bad == 0, "%d AdamW for %d parameters, %d wrong", adam, np, wd_bad);
        CHECK(shape_is(g, "lr", LMG_DTYPE_F32, 0, 0, 0, 0) && shape_is(g, "step", LMG_DTYPE_I32, 0, 0, 0, 0),
              "lr and step inputs");
        CHECK(has_output(g, "grad_norm") && has_output(g, "grad/wte") && has_output(g, "loss"),
              "outputs");
        CHECK(lmg_train_graph_build(g, "loss", &o) == LMG_ERR_INVALID, "twice is refused");
    }
    lmg_graph_free(g);
    test_end();
}

static void test_lr_schedule(void)
{
    test_begin("lr schedule: linear warm-up, cosine to min_lr");
    lmg_optim_config o;
    lmg_optim_config_default(&o);
    o.lr = 1e-3, o.min_lr = 1e-4, o.warmup = 10, o.steps = 110;
    CHECK(fabs(lmg_lr_at(&o, 1) - 1e-4) < 1e-12, "step 1: %g", lmg_lr_at(&o, 1));
    CHECK(fabs(lmg_lr_at(&o, 10) - 1e-3) < 1e-12, "step 10: %g", lmg_lr_at(&o, 10));
    CHECK(fabs(lmg_lr_at(&o, 60) - 5.5e-4) < 1e-9, "middle: %g", lmg_lr_at(&o, 60));
    CHECK(fabs(lmg_lr_at(&o, 110) - 1e-4) < 1e-12, "end: %g", lmg_lr_at(&o, 110));
    CHECK(fabs(lmg_lr_at(&o, 500) - 1e-4) < 1e-12, "after: %g", lmg_lr_at(&o, 500));
    int mono = 1;
    for (int s = 11; s < 110; s++) mono &= lmg_lr_at(&o, s + 1) <= lmg_lr_at(&o, s);
    CHECK(mono, "decay is monotone");
    test_end();
}

/* The data-parallel step (ranks 2) as one process builds it: AllReduce nodes in buckets,
 * each right after the node that completes one of its gradients, the first inside backward;
 * run alone (AllReduce is then the identity) it trains exactly as the one-rank step. */
static void test_all_reduce_buckets(void)
{
    test_begin("data parallel: AllReduce buckets stand inside backward and change no bit");
    lmg_model_config c = tiny("gpt");
    lmg_optim_config o;
    lmg_optim_config_default(&o);
    lmg_graph *g1 = NULL, *g2 = NULL;
    CHECK(lmg_model_build(&c, &g1) == LMG_OK, "build: %s", lmg_last_error());
    CHECK(lmg_model_build(&c, &g2) == LMG_OK, "build: %s", lmg_last_error());
    if (g1 && g2) {
        CHECK(lmg_train_graph_build(g1, "loss", &o) == LMG_OK, "train 1: %s", lmg_last_error());
        o.ranks = 2;
        CHECK(lmg_train_graph_build(g2, "loss", &o) == LMG_OK, "train 2: %s", lmg_last_error());
        int n_ar = 0, runs = 0, first = -1, last_grad = -1, placed = 1;
        for (int i = 0; i < g2->n_nodes; i++) {
            const lmg_node *n = &g2->nodes[i];
            if (n->op != LMG_OP_ALL_REDUCE || strncmp(n->name, "allreduce/", 10) != 0) continue;
            n_ar++;
            int p = g2->values[n->in[0]].producer;
            if (p > last_grad) last_grad = p;
            if (first < 0) first = i;
            if (i > 0 && g2->nodes[i - 1].op == LMG_OP_ALL_REDUCE &&
                strncmp(g2->nodes[i - 1].name, "allreduce/", 10) == 0)
                continue;
            /* A run starts right after the node completing the gradient of one of its nodes. */
            runs++;
            int hit = 0;
            for (int j = i; j < g2->n_nodes && g2->nodes[j].op == LMG_OP_ALL_REDUCE; j++)
                hit |= g2->values[g2->nodes[j].in[0]].producer == i - 1;
            placed &= hit;
        }
        int np = 0;
        for (int v = 0; v < g2->n_values; v++)
            np += g2->values[v].kind == LMG_VALUE_INIT && g2->values[v].trainable;
        CHECK(n_ar == np, "%d AllReduce nodes for %d parameters", n_ar, np);
        CHECK(runs >= 3, "%d buckets (a quarter of the gradients each by default)", runs);
        CHECK(placed, "every bucket right after the node completing one of its gradients");
        CHECK(first < last_grad, "the first bucket (node %d) before backward ends (node %d)", first,
              last_grad);
        float l1[5], l2[5];
        o.ranks = 1;
        CHECK(train_steps(g1, 5, &o, c.batch, c.seq, c.vocab, l1) == LMG_OK, "%s", lmg_last_error());
        CHECK(train_steps(g2, 5, &o, c.batch, c.seq, c.vocab, l2) == LMG_OK, "%s", lmg_last_error());
        CHECK(memcmp(l1, l2, sizeof l1) == 0, "losses of 5 steps: %.9g vs %.9g at step 5", l1[4],
              l2[4]);
    }
    lmg_graph_free(g1);
    lmg_graph_free(g2);
    test_end();
}

int main(void)
{
    test_gpt_graph();
    test_param_count();
    test_tied();
    test_init();
    test_bert();
    test_objective_parse();
    test_weighted_sum();
    test_micro_batches();
    test_micro_batch_memory();
    test_all_reduce_buckets();
    test_train_graph();
    test_lr_schedule();
    test_link_errors();
    test_user_objective_trains();
    return test_summary();
}
