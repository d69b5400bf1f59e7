/* test_cost.c — what a graph's run computes (graph/cost.c): the product shapes a tuner times,
 * as the executor issues them, and the FLOP counts lmg bench and lmg summary print. */
#include "../graph/graph.h"
#include "../models/models.h"
#include "../train/train.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* GPT-S's training step as lmg_cl_tune_search timed it before the shapes came from graphs
 * (B*T = 1024 tokens, C 256, F 1024, V 4096, 4 layers): for each forward product
 * Y[M,N] = X[M,K] W[K,N], the backward dX = dY W^T and dW = X^T dY. */
static const lmg_matmul_shape GPT_S[] = {
    {0, 0, 1024, 768, 256, 4},  {0, 1, 1024, 256, 768, 4},  {1, 0, 256, 768, 1024, 4},  /* qkv */
    {0, 0, 1024, 256, 256, 4},  {0, 1, 1024, 256, 256, 4},  {1, 0, 256, 256, 1024, 4},  /* proj */
    {0, 0, 1024, 1024, 256, 4}, {0, 1, 1024, 256, 1024, 4}, {1, 0, 256, 1024, 1024, 4}, /* mlp1 */
    {0, 0, 1024, 256, 1024, 4}, {0, 1, 1024, 1024, 256, 4}, {1, 0, 1024, 256, 1024, 4}, /* mlp2 */
    {0, 1, 1024, 4096, 256, 1}, {0, 0, 1024, 256, 4096, 1}, {1, 0, 4096, 256, 1024, 1}, /* head */
};
#define N_GPT_S ((int)(sizeof GPT_S / sizeof *GPT_S))

static int same(const lmg_matmul_shape *a, const lmg_matmul_shape *b)
{
    return a->ta == b->ta && a->tb == b->tb && a->m == b->m && a->n == b->n && a->k == b->k &&
           a->count == b->count;
}

static lmg_graph *training_step(const char *arch)
{
    lmg_model_config c;
    lmg_model_config_small(&c, arch);
    lmg_graph *g = NULL;
    if (lmg_model_build(&c, &g) != LMG_OK) return NULL;
    lmg_optim_config o;
    lmg_optim_config_default(&o);
    if (lmg_train_graph_build(g, "loss", &o) != LMG_OK) {
        lmg_graph_free(g);
        return NULL;
    }
    return g;
}

static void test_gpt_s_shapes(void)
{
    test_begin("the GPT-S training step's products are the 15 shapes of the old table");
    lmg_graph *g = training_step("gpt");
    CHECK(g, "building GPT-S: %s", lmg_last_error());
    lmg_matmul_shape *sh = NULL;
    int n = -1;
    if (g) CHECK(lmg_graph_matmul_shapes(g, &sh, &n) == LMG_OK, "%s", lmg_last_error());
    CHECK(n == N_GPT_S, "%d shapes, want %d", n, N_GPT_S);
    for (int i = 0; i < N_GPT_S; i++) {
        int found = 0;
        for (int j = 0; j < n; j++) found += same(&GPT_S[i], &sh[j]);
        CHECK(found == 1, "%s%s %lldx%lldx%lld x%lld found %d times", GPT_S[i].ta ? "T" : "N",
              GPT_S[i].tb ? "T" : "N", (long long)GPT_S[i].m, (long long)GPT_S[i].n,
              (long long)GPT_S[i].k, (long long)GPT_S[i].count, found);
    }
    /* The tuner's probe (the first product) stays the first layer's QKV projection. */
    if (n > 0) CHECK(same(&sh[0], &GPT_S[0]), "first shape %lldx%lldx%lld", (long long)sh[0].m,
                     (long long)sh[0].n, (long long)sh[0].k);
    free(sh);
    lmg_graph_free(g);
    test_end();
}

static void test_gpt_s_flops(void)
{
    test_begin("GPT-S step FLOPs: products as the shapes sum them, backward twice forward");
    lmg_graph *g = training_step("gpt");
    CHECK(g, "building GPT-S: %s", lmg_last_error());
    lmg_graph_flops f;
    memset(&f, 0, sizeof f);
    if (g) CHECK(lmg_graph_count_flops(g, &f) == LMG_OK, "%s", lmg_last_error());
    double want = 0;
    for (int i = 0; i < N_GPT_S; i++)
        want += 2.0 * (double)GPT_S[i].m * (double)GPT_S[i].n * (double)GPT_S[i].k *
                (double)GPT_S[i].count;
    double mm = f.matmul[0] + f.matmul[1];
    CHECK(mm == want, "products %.6g FLOPs, the shapes say %.6g", mm, want);
    /* Each forward product has two backward ones of the same size. */
    CHECK(f.matmul[1] == 2 * f.matmul[0], "backward %.6g, forward %.6g", f.matmul[1], f.matmul[0]);
    /* Causal attention, B 8, H 4, T 128, D 64, 4 layers: 4*BHTTD/2 forward, twice that back. */
    double att = 4.0 * 8 * 4 * 128 * 128 * 64 / 2 * 4;
    CHECK(f.attention[0] == att && f.attention[1] == 2 * att, "attention %.6g + %.6g, want %.6g + %.6g",
          f.attention[0], f.attention[1], att, 2 * att);
    double total = mm + f.attention[0] + f.attention[1];
    CHECK(fabs(total * 1e-9 - 26.6) < 0.05, "%.3f GFLOP per step, BENCH.md says about 26.6",
          total * 1e-9);
    lmg_graph_free(g);
    test_end();
}

static lmg_shape shp(int rank, int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t dims[4] = {a, b, c, d};
    return lmg_shape_make(rank, dims);
}

static void test_batched(void)
{
    test_begin("batched products are counted as the executor issues them");
    lmg_graph *g = lmg_graph_new("b");
    int x = lmg_graph_input(g, "x", LMG_DTYPE_F32, shp(4, 2, 3, 4, 5));
    int w = lmg_graph_input(g, "w", LMG_DTYPE_F32, shp(2, 5, 6, 0, 0));
    int y = lmg_graph_input(g, "y", LMG_DTYPE_F32, shp(3, 2, 5, 4, 0));
    int z = lmg_graph_input(g, "z", LMG_DTYPE_F32, shp(3, 2, 5, 7, 0));
    lmg_attr ta = lmg_attr_int("trans_a", 1);
    /* [2,3,4,5] x [5,6]: one product over 24 rows; the same again is counted with it. */
    int a = lmg_graph_node(g, LMG_OP_MATMUL, "fold", (int[]){x, w}, 2, NULL, 0, NULL, NULL);
    int a2 = lmg_graph_node(g, LMG_OP_MATMUL, "fold2", (int[]){x, w}, 2, NULL, 0, NULL, NULL);
    /* [2,5,4]^T x [2,5,7]: one product per batch matrix. */
    int b = lmg_graph_node(g, LMG_OP_MATMUL, "batch", (int[]){y, z}, 2, &ta, 1, NULL, NULL);
    CHECK(a >= 0 && a2 >= 0 && b >= 0, "building: %s", lmg_last_error());
    lmg_matmul_shape *sh = NULL;
    int n = -1;
    CHECK(lmg_graph_matmul_shapes(g, &sh, &n) == LMG_OK, "%s", lmg_last_error());
    const lmg_matmul_shape want[2] = {{0, 0, 24, 6, 5, 2}, {1, 0, 4, 7, 5, 2}};
    CHECK(n == 2, "%d shapes", n);
    for (int i = 0; i < n && i < 2; i++)
        CHECK(same(&sh[i], &want[i]), "shape %d: %d%d %lldx%lldx%lld x%lld", i, sh[i].ta, sh[i].tb,
              (long long)sh[i].m, (long long)sh[i].n, (long long)sh[i].k, (long long)sh[i].count);
    lmg_graph_flops f;
    CHECK(lmg_graph_count_flops(g, &f) == LMG_OK, "%s", lmg_last_error());
    CHECK(f.matmul[0] == 2.0 * (2 * 24 * 6 * 5 + 2 * 4 * 7 * 5) && f.matmul[1] == 0,
          "%.6g forward, %.6g backward", f.matmul[0], f.matmul[1]);
    free(sh);
    lmg_graph_free(g);
    test_end();
}

static void test_none_and_symbolic(void)
{
    test_begin("a graph without products lists none; an unbound size is an error naming it");
    lmg_graph *g = NULL;
    const char *text = "lmgraph ir 1 opset 1\n"
                       "graph \"w\" {\n"
                       "  input x : f32[4]\n"
                       "  param w : f32[4] = [1, 2, 3, 4]\n"
                       "  node y = Mul(x, w)\n"
                       "  output y\n"
                       "}\n";
    CHECK(lmg_graph_parse(text, "w.lmgt", &g) == LMG_OK, "%s", lmg_last_error());
    lmg_matmul_shape *sh = (lmg_matmul_shape *)&sh;
    int n = -1;
    if (g) CHECK(lmg_graph_matmul_shapes(g, &sh, &n) == LMG_OK && n == 0 && sh == NULL,
                 "n %d", n);
    lmg_graph_free(g);
    g = NULL;
    const char *sym = "lmgraph ir 1 opset 1\n"
                      "graph \"s\" {\n"
                      "  input x : f32[B,4]\n"
                      "  param w : f32[4,3] = zeros\n"
                      "  node y = MatMul(x, w)\n"
                      "  output y\n"
                      "}\n";
    CHECK(lmg_graph_parse(sym, "s.lmgt", &g) == LMG_OK, "%s", lmg_last_error());
    if (g) {
        lmg_status s = lmg_graph_matmul_shapes(g, &sh, &n);
        CHECK(s != LMG_OK && strstr(lmg_last_error(), "node 'y'") &&
                  strstr(lmg_last_error(), "named dimensions"),
              "status %d: %s", (int)s, lmg_last_error());
    }
    lmg_graph_free(g);
    test_end();
}

int main(void)
{
    test_gpt_s_shapes();
    test_gpt_s_flops();
    test_batched();
    test_none_and_symbolic();
    return test_summary();
}
