/* test_graph.c — the builder (values, names, sticky errors, metadata, sum_to), pruning
 * and the autodiff pass's contract (grad/<p> names, zeros, errors). */
#include "test.h"
#include "../backends/ref/ref.h"

#include <math.h>
#include <string.h>

static lmg_shape shp(int rank, int64_t d0, int64_t d1, int64_t d2)
{
    int64_t d[3] = {d0, d1, d2};
    return lmg_shape_make(rank, d);
}

/* Run `g` on the ref backend and read value `name` (f32, n elements) into out. */
static lmg_status run_read(const lmg_graph *g, const char *name, float *out, int64_t n)
{
    int v = lmg_graph_find(g, name);
    if (v < 0) return lmg_error(LMG_ERR_NOT_FOUND, "no value '%s'", name);
    lmg_exec *e = NULL;
    lmg_exec_opts o = {0};
    o.keep_all = 1;
    lmg_status s = lmg_backend_ref.init(g, &o, &e);
    if (s == LMG_OK) s = lmg_backend_ref.run(e, 0);
    if (s == LMG_OK) s = lmg_backend_ref.read(e, v, out, (size_t)n * sizeof *out);
    lmg_backend_ref.free(e);
    return s;
}

/* Every index in the graph points at something that exists, and producers agree. */
static int graph_consistent(const lmg_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] < -1 || n->in[k] >= g->n_values) return 0;
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] < 0 || n->out[k] >= g->n_values || g->values[n->out[k]].producer != i)
                return 0;
    }
    for (int v = 0; v < g->n_values; v++) {
        const lmg_value *val = &g->values[v];
        if (lmg_graph_find(g, val->name) != v) return 0;
        if (val->kind == LMG_VALUE_NODE && (val->producer < 0 || val->producer >= g->n_nodes))
            return 0;
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] < 0 || g->outputs[i] >= g->n_values) return 0;
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] < 0 || g->inputs[i] >= g->n_values ||
            g->values[g->inputs[i]].kind != LMG_VALUE_INPUT)
            return 0;
    return 1;
}

static int is_output(const lmg_graph *g, int v)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v) return 1;
    return 0;
}

static void test_values(void)
{
    test_begin("builder: inputs, parameters, constants and lookup");
    lmg_graph *g = lmg_graph_new("t");
    float w[6] = {1, 2, 3, 4, 5, 6};
    int x = lmg_graph_input(g, "x", LMG_DTYPE_F32, shp(2, 4, 3, 0));
    int p = lmg_graph_param(g, "p", LMG_DTYPE_F32, shp(2, 2, 3, 0), w);
    int z = lmg_graph_param(g, "z", LMG_DTYPE_F32, shp(1, 5, 0, 0), NULL);
    int c = lmg_graph_const(g, "c", LMG_DTYPE_I32, shp(0, 0, 0, 0), (int32_t[]){7});
    int s = lmg_graph_scalar(g, 2.5f);
    w[0] = 100; /* the graph holds its own copy */
    CHECK(x >= 0 && p >= 0 && z >= 0 && c >= 0 && s >= 0, "builder failed: %s", lmg_last_error());
    CHECK(g->status == LMG_OK, "status %d", g->status);
    CHECK(lmg_graph_find(g, "x") == x && lmg_graph_find(g, "p") == p && lmg_graph_find(g, "c") == c,
          "find does not return the ids");
    CHECK(lmg_graph_find(g, "nope") == -1, "find of a missing name");
    CHECK(g->values[x].kind == LMG_VALUE_INPUT && g->n_inputs == 1 && g->inputs[0] == x, "input");
    CHECK(g->values[p].kind == LMG_VALUE_INIT && g->values[p].trainable, "param is a trainable init");
    CHECK(g->values[c].kind == LMG_VALUE_INIT && !g->values[c].trainable, "const is not trainable");
    CHECK(g->values[z].fill == LMG_INIT_ZEROS && g->values[z].data == NULL, "NULL data means zeros");
    CHECK(((float *)g->values[p].data)[0] == 1.0f, "param data was not copied");
    CHECK(g->values[s].dtype == LMG_DTYPE_F32 && g->values[s].shape.rank == 0 &&
              ((float *)g->values[s].data)[0] == 2.5f, "scalar constant");
    CHECK(g->values[p].shape.rank == 2 && g->values[p].shape.dims[1] == 3, "shape kept");
    int y = lmg_add(g, x, x);
    CHECK(y >= 0 && g->values[y].dtype == LMG_DTYPE_F32 && g->values[y].shape.dims[0] == 4,
          "Add output inferred: %s", lmg_last_error());
    CHECK(y >= 0 && g->values[y].producer == g->n_nodes - 1, "producer of a node output");
    CHECK(lmg_graph_rename(g, y, "sum") == LMG_OK && lmg_graph_find(g, "sum") == y,
          "rename: %s", lmg_last_error());
    CHECK(lmg_graph_rename(g, y, "x") != LMG_OK, "rename onto an existing name must fail");
    CHECK(graph_consistent(g), "graph indices inconsistent");
    lmg_graph_free(g);
    lmg_graph_free(NULL);
    test_end();
}

static void test_duplicates_and_sticky(void)
{
    test_begin("builder: duplicate names are rejected, naming the value; errors are sticky");
    lmg_graph *g = lmg_graph_new("t");
    int a = lmg_graph_input(g, "tokens", LMG_DTYPE_I32, shp(1, 4, 0, 0));
    int b = lmg_graph_param(g, "tokens", LMG_DTYPE_F32, shp(1, 4, 0, 0), NULL);
    CHECK(a >= 0, "first value");
    CHECK(b == -1, "duplicate accepted");
    CHECK(g->status != LMG_OK, "status not set by the duplicate");
    CHECK(strstr(lmg_last_error(), "tokens") != NULL, "message does not name the value: '%s'",
          lmg_last_error());
    lmg_status first = g->status;
    int c = lmg_graph_input(g, "fine", LMG_DTYPE_F32, shp(1, 4, 0, 0));
    CHECK(c == -1, "a builder call after an error succeeded (id %d)", c);
    CHECK(g->status == first, "the first error was replaced");
    CHECK(lmg_graph_node(g, LMG_OP_NEG, NULL, &a, 1, NULL, 0, NULL, NULL) == -1, "node after error");
    lmg_graph_free(g);

    /* A failed shape check is sticky too. */
    g = lmg_graph_new("t");
    int x = lmg_graph_input(g, "x", LMG_DTYPE_F32, shp(2, 2, 3, 0));
    int y = lmg_graph_input(g, "y", LMG_DTYPE_F32, shp(2, 4, 5, 0));
    int m = lmg_add(g, x, y);
    CHECK(m == -1 && g->status != LMG_OK, "Add of [2,3] and [4,5] accepted");
    CHECK(lmg_add(g, x, x) == -1, "builder call after a failed inference succeeded");
    lmg_graph_free(g);

    /* Every dim within 2^40 but the product is 2^80: refused before numel * size is formed. */
    g = lmg_graph_new("t");
    float one = 1;
    int64_t big[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    int p = lmg_graph_param(g, "huge", LMG_DTYPE_F32, lmg_shape_make(2, big), &one);
    CHECK(p == -1 && g->status == LMG_ERR_INVALID, "[2^40,2^40] param accepted (%d)", p);
    CHECK(strstr(lmg_last_error(), "huge") != NULL, "message does not name the value: '%s'",
          lmg_last_error());
    lmg_graph_free(g);
    int64_t three[3] = {(int64_t)1 << 40, (int64_t)1 << 40, (int64_t)1 << 40};
    lmg_shape s3 = lmg_shape_make(3, three);
    CHECK(lmg_shape_numel(&s3) == INT64_MAX, "numel of [2^40,2^40,2^40] wrapped to %lld",
          (long long)lmg_shape_numel(&s3));
    g = lmg_graph_new("t");
    int64_t edge[2] = {(int64_t)1 << 20, (int64_t)1 << 20};
    CHECK(lmg_graph_input(g, "edge", LMG_DTYPE_F32, lmg_shape_make(2, edge)) >= 0,
          "2^40 elements refused: %s", lmg_last_error());
    lmg_graph_free(g);
    test_end();
}

/* Output values are named after their node in full, however long; a clash adds primes. */
static void test_long_names(void)
{
    test_begin("builder: a long node name names its output in full, a clash adds a prime");
    lmg_graph *g = lmg_graph_new("t");
    char name[401];
    memset(name, 'a', 400);
    name[400] = 0;
    int x = lmg_graph_input(g, "x", LMG_DTYPE_F32, shp(1, 4, 0, 0));
    int a = lmg_graph_node(g, LMG_OP_NEG, name, &x, 1, NULL, 0, NULL, NULL);
    int b = lmg_graph_node(g, LMG_OP_NEG, name, &x, 1, NULL, 0, NULL, NULL);
    CHECK(a >= 0 && strcmp(g->values[a].name, name) == 0, "first output is not named '%.20s...' (%zu chars)",
          name, a >= 0 ? strlen(g->values[a].name) : 0);
    CHECK(b >= 0 && strlen(g->values[b].name) == 401 && g->values[b].name[400] == '\'',
          "second output: %s", b >= 0 ? "not name + prime" : lmg_last_error());
    lmg_graph_free(g);
    test_end();
}

static void test_meta(void)
{
    test_begin("metadata: set, replace, get");
    lmg_graph *g = lmg_graph_new("t");
    CHECK(lmg_graph_get_meta(g, "model") == NULL, "missing key");
    CHECK(lmg_graph_set_meta(g, "model", "gpt") == LMG_OK, "set");
    CHECK(lmg_graph_set_meta(g, "vocab", "256") == LMG_OK, "set");
    CHECK(lmg_graph_set_meta(g, "model", "bert") == LMG_OK, "replace");
    const char *m = lmg_graph_get_meta(g, "model"), *v = lmg_graph_get_meta(g, "vocab");
    CHECK(m && strcmp(m, "bert") == 0, "model = %s", m ? m : "(null)");
    CHECK(v && strcmp(v, "256") == 0, "vocab = %s", v ? v : "(null)");
    CHECK(g->n_meta == 2, "%d entries after a replace", g->n_meta);
    lmg_graph_free(g);
    test_end();
}

static void test_sum_to(void)
{
    test_begin("lmg_sum_to: shapes and values");
    lmg_graph *g = lmg_graph_new("t");
    float xs[24];
    for (int i = 0; i < 24; i++) xs[i] = (float)i;
    int x = lmg_graph_const(g, "x", LMG_DTYPE_F32, shp(3, 2, 3, 4), xs);
    CHECK(lmg_sum_to(g, x, shp(3, 2, 3, 4)) == x, "same shape must return x itself");
    int a = lmg_sum_to(g, x, shp(2, 3, 1, 0));  /* [3,1] */
    int b = lmg_sum_to(g, x, shp(1, 4, 0, 0));  /* [4] */
    int c = lmg_sum_to(g, x, shp(0, 0, 0, 0));  /* scalar */
    int d = lmg_sum_to(g, x, shp(3, 2, 1, 4));  /* [2,1,4] */
    int e = lmg_sum_to(g, x, shp(2, 1, 4, 0));  /* [1,4] */
    CHECK(g->status == LMG_OK, "builder: %s", lmg_last_error());
    if (g->status == LMG_OK) {
        lmg_shape want[5] = {shp(2, 3, 1, 0), shp(1, 4, 0, 0), shp(0, 0, 0, 0), shp(3, 2, 1, 4),
                             shp(2, 1, 4, 0)};
        int ids[5] = {a, b, c, d, e};
        const char *names[5] = {"a", "b", "c", "d", "e"};
        for (int i = 0; i < 5; i++) {
            char s1[64], s2[64];
            CHECK(lmg_shape_equal(&g->values[ids[i]].shape, &want[i]), "sum_to %s: got %s want %s",
                  names[i], lmg_shape_str(&g->values[ids[i]].shape, s1, sizeof s1),
                  lmg_shape_str(&want[i], s2, sizeof s2));
            lmg_graph_rename(g, ids[i], names[i]);
            lmg_graph_add_output(g, ids[i]);
        }
        float va[3], vb[4], vc[1], vd[8];
        /* x[i,j,k] = 12i + 4j + k */
        if (CHECK(run_read(g, "a", va, 3) == LMG_OK, "run: %s", lmg_last_error())) {
            for (int j = 0; j < 3; j++) {
                float w = 0;
                for (int i = 0; i < 2; i++)
                    for (int k = 0; k < 4; k++) w += (float)(12 * i + 4 * j + k);
                CHECK(va[j] == w, "a[%d] = %g, want %g", j, va[j], w);
            }
        }
        if (CHECK(run_read(g, "b", vb, 4) == LMG_OK, "run: %s", lmg_last_error()))
            for (int k = 0; k < 4; k++) {
                float w = 0;
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 3; j++) w += (float)(12 * i + 4 * j + k);
                CHECK(vb[k] == w, "b[%d] = %g, want %g", k, vb[k], w);
            }
        if (CHECK(run_read(g, "c", vc, 1) == LMG_OK, "run: %s", lmg_last_error()))
            CHECK(vc[0] == 276.0f, "c = %g, want 276", vc[0]);
        if (CHECK(run_read(g, "d", vd, 8) == LMG_OK, "run: %s", lmg_last_error()))
            for (int i = 0; i < 2; i++)
                for (int k = 0; k < 4; k++) {
                    float w = (float)(3 * 12 * i + 4 * 3 + 3 * k);
                    CHECK(vd[4 * i + k] == w, "d[%d,0,%d] = %g, want %g", i, k, vd[4 * i + k], w);
                }
    }
    lmg_graph_free(g);
    g = lmg_graph_new("t");
    int small = lmg_graph_const(g, "small", LMG_DTYPE_F32, shp(1, 4, 0, 0), NULL);
    CHECK(lmg_sum_to(g, small, shp(2, 3, 4, 0)) == -1 && g->status != LMG_OK,
          "sum_to a larger rank must fail");
    lmg_graph_free(g);
    test_end();
}

static void test_prune(void)
{
    test_begin("prune: dead nodes go, outputs, inputs, initializers and state updates stay");
    lmg_graph *g = lmg_graph_new("t");
    int x = lmg_graph_input(g, "x", LMG_DTYPE_F32, shp(1, 4, 0, 0));
    int unused_in = lmg_graph_input(g, "unused_in", LMG_DTYPE_F32, shp(1, 4, 0, 0));
    int c = lmg_graph_const(g, "c", LMG_DTYPE_F32, shp(1, 4, 0, 0), NULL);
    int dead1 = lmg_unary(g, LMG_OP_EXP, x);
    int dead2 = lmg_neg(g, dead1);
    int live1 = lmg_add(g, x, c);
    int live2 = lmg_unary(g, LMG_OP_TANH, live1);
    (void)dead2;
    lmg_graph_rename(g, dead1, "dead1");
    lmg_graph_rename(g, dead2, "dead2");
    lmg_graph_rename(g, live2, "y");
    /* A state update (output aliases an input) that nothing reads: it must stay. */
    int st[7], so[3];
    const char *nm[7] = {"sp", "sg", "sm", "sv", "slr", "sstep", "sscale"};
    for (int k = 0; k < 7; k++)
        st[k] = lmg_graph_const(g, nm[k], k == 5 ? LMG_DTYPE_I32 : LMG_DTYPE_F32,
                                k >= 4 ? shp(0, 0, 0, 0) : shp(1, 4, 0, 0), NULL);
    const char *on[3] = {"sp'", "sm'", "sv'"};
    for (int k = 0; k < 3; k++)
        so[k] = lmg_graph_add_value(g, on[k], LMG_VALUE_NODE, LMG_DTYPE_F32, shp(1, 4, 0, 0));
    CHECK(lmg_graph_append_node(g, "adamw", LMG_OP_ADAMW, st, 7, so, 3, NULL, 0) == LMG_OK,
          "append: %s", lmg_last_error());
    lmg_graph_add_output(g, live2);
    CHECK(g->status == LMG_OK, "builder: %s", lmg_last_error());
    int nodes_before = g->n_nodes;
    CHECK(lmg_graph_prune(g) == LMG_OK, "prune: %s", lmg_last_error());
    CHECK(g->n_nodes == nodes_before - 2, "%d nodes after prune, want %d", g->n_nodes,
          nodes_before - 2);
    CHECK(lmg_graph_find(g, "dead1") < 0 && lmg_graph_find(g, "dead2") < 0, "dead values kept");
    int y = lmg_graph_find(g, "y");
    CHECK(y >= 0 && g->n_outputs == 1 && g->outputs[0] == y, "output lost or renumbered wrong");
    CHECK(lmg_graph_find(g, "x") >= 0 && lmg_graph_find(g, "unused_in") >= 0 && g->n_inputs == 2,
          "inputs must stay");
    CHECK(lmg_graph_find(g, "c") >= 0 && lmg_graph_find(g, "sscale") >= 0, "initializers must stay");
    CHECK(lmg_graph_find(g, "sp'") >= 0, "the state update was pruned");
    int ok = 0;
    for (int i = 0; i < g->n_nodes; i++) ok += g->nodes[i].op == LMG_OP_ADAMW;
    CHECK(ok == 1, "AdamW node count %d", ok);
    CHECK(graph_consistent(g), "indices inconsistent after prune");
    (void)unused_in;
    lmg_graph_free(g);
    test_end();
}

/* loss = sum(p*q) + sum(exp(p)), grad p = q + exp(p) (two consumers summed), grad q = p,
 * u unused: grad/u = 0. */
static void test_autodiff_names(void)
{
    test_begin("autodiff: grad/<p> names, outputs, summed contributions, zeros for unused");
    lmg_graph *g = lmg_graph_new("t");
    float pv[6] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f}, qv[6] = {1, 2, 3, -1, -2, -3};
    int p = lmg_graph_param(g, "p", LMG_DTYPE_F32, shp(2, 2, 3, 0), pv);
    int q = lmg_graph_param(g, "q", LMG_DTYPE_F32, shp(2, 2, 3, 0), qv);
    lmg_graph_param(g, "u", LMG_DTYPE_F32, shp(1, 5, 0, 0), NULL);
    int a = lmg_reduce_sum(g, lmg_mul(g, p, q), 0, NULL, 0);
    int b = lmg_reduce_sum(g, lmg_unary(g, LMG_OP_EXP, p), 0, NULL, 0);
    int l = lmg_add(g, a, b);
    lmg_graph_rename(g, l, "loss");
    if (!CHECK(g->status == LMG_OK, "builder: %s", lmg_last_error())) goto out;
    int fwd_nodes = g->n_nodes;
    lmg_status s = lmg_autodiff(g, "loss");
    if (!CHECK(s == LMG_OK, "autodiff: %s", lmg_last_error())) goto out;
    int gp = lmg_graph_find(g, "grad/p"), gq = lmg_graph_find(g, "grad/q"),
        gu = lmg_graph_find(g, "grad/u");
    CHECK(gp >= 0 && gq >= 0 && gu >= 0, "missing grad values (%d %d %d)", gp, gq, gu);
    CHECK(is_output(g, gp) && is_output(g, gq) && is_output(g, gu), "grads are not outputs");
    CHECK(is_output(g, lmg_graph_find(g, "loss")), "loss is not an output");
    CHECK(gp != gq && gq != gu && gp != gu, "grads share a value");
    CHECK(graph_consistent(g), "indices inconsistent");
    for (int i = fwd_nodes; i < g->n_nodes; i++)
        CHECK(strncmp(g->nodes[i].name, "grad/", 5) == 0, "gradient node '%s' lacks the grad/ prefix",
              g->nodes[i].name);
    CHECK(lmg_graph_verify(g) == LMG_OK, "verify: %s", lmg_last_error());
    float r[6], z[5], lv[1];
    if (CHECK(run_read(g, "grad/p", r, 6) == LMG_OK, "run: %s", lmg_last_error()))
        for (int i = 0; i < 6; i++)
            CHECK(fabsf(r[i] - (qv[i] + expf(pv[i]))) < 1e-5f, "grad/p[%d] = %g want %g", i, r[i],
                  qv[i] + expf(pv[i]));
    if (CHECK(run_read(g, "grad/q", r, 6) == LMG_OK, "run: %s", lmg_last_error()))
        for (int i = 0; i < 6; i++) CHECK(r[i] == pv[i], "grad/q[%d] = %g want %g", i, r[i], pv[i]);
    if (CHECK(run_read(g, "grad/u", z, 5) == LMG_OK, "run: %s", lmg_last_error()))
        for (int i = 0; i < 5; i++) CHECK(z[i] == 0.0f, "grad/u[%d] = %g", i, z[i]);
    if (CHECK(run_read(g, "loss", lv, 1) == LMG_OK, "run: %s", lmg_last_error())) {
        double w = 0;
        for (int i = 0; i < 6; i++) w += (double)pv[i] * qv[i] + exp(pv[i]);
        CHECK(fabs(lv[0] - w) < 1e-4, "loss %g want %g", lv[0], w);
    }
out:
    lmg_graph_free(g);
    test_end();
}

/* loss = sum(p + q): Add may hand the same gradient to both; loss2 = s (a scalar param):
 * its gradient is the seed. Each grad/<p> must still be its own value. */
static void test_autodiff_shared(void)
{
    test_begin("autodiff: shared or seed gradients get their own grad/<p> value");
    lmg_graph *g = lmg_graph_new("t");
    int p = lmg_graph_param(g, "p", LMG_DTYPE_F32, shp(1, 3, 0, 0), (float[]){1, 2, 3});
    int q = lmg_graph_param(g, "q", LMG_DTYPE_F32, shp(1, 3, 0, 0), (float[]){4, 5, 6});
    int l = lmg_reduce_sum(g, lmg_add(g, p, q), 0, NULL, 0);
    lmg_graph_rename(g, l, "loss");
    lmg_status s = lmg_autodiff(g, "loss");
    if (CHECK(s == LMG_OK, "autodiff: %s", lmg_last_error())) {
        int gp = lmg_graph_find(g, "grad/p"), gq = lmg_graph_find(g, "grad/q");
        CHECK(gp >= 0 && gq >= 0 && gp != gq, "grad/p %d grad/q %d", gp, gq);
        CHECK(lmg_graph_verify(g) == LMG_OK, "verify: %s", lmg_last_error());
        float r[3];
        if (CHECK(run_read(g, "grad/q", r, 3) == LMG_OK, "run: %s", lmg_last_error()))
            for (int i = 0; i < 3; i++) CHECK(r[i] == 1.0f, "grad/q[%d] = %g", i, r[i]);
    }
    lmg_graph_free(g);

    g = lmg_graph_new("t");
    lmg_graph_param(g, "s", LMG_DTYPE_F32, shp(1, 1, 0, 0), (float[]){3});
    s = lmg_autodiff(g, "s");
    if (CHECK(s == LMG_OK, "autodiff with the loss a parameter: %s", lmg_last_error())) {
        int gs = lmg_graph_find(g, "grad/s");
        CHECK(gs >= 0 && is_output(g, gs), "grad/s missing");
        CHECK(gs >= 0 && g->values[gs].kind == LMG_VALUE_NODE, "grad/s is not its own node value");
        float r[1] = {0};
        if (CHECK(run_read(g, "grad/s", r, 1) == LMG_OK, "run: %s", lmg_last_error()))
            CHECK(r[0] == 1.0f, "d s / d s = %g", r[0]);
    }
    lmg_graph_free(g);
    test_end();
}

static void test_autodiff_errors(void)
{
    test_begin("autodiff: errors for unknown, non-scalar and non-f32 losses; graph unchanged");
    lmg_graph *g = lmg_graph_new("t");
    int p = lmg_graph_param(g, "p", LMG_DTYPE_F32, shp(2, 2, 3, 0), NULL);
    int y = lmg_unary(g, LMG_OP_TANH, p);
    lmg_graph_rename(g, y, "y");
    lmg_graph_const(g, "ids", LMG_DTYPE_I32, shp(0, 0, 0, 0), NULL);
    int nv = g->n_values, nn = g->n_nodes;
    lmg_status s = lmg_autodiff(g, "nope");
    CHECK(s == LMG_ERR_NOT_FOUND, "unknown loss: status %d", s);
    CHECK(strstr(lmg_last_error(), "nope") != NULL, "message does not name it: %s", lmg_last_error());
    s = lmg_autodiff(g, "y");
    CHECK(s != LMG_OK, "a [2,3] loss was accepted");
    CHECK(strstr(lmg_last_error(), "'y'") != NULL, "message does not name the loss: %s",
          lmg_last_error());
    s = lmg_autodiff(g, "ids");
    CHECK(s != LMG_OK, "an i32 loss was accepted");
    CHECK(g->n_values == nv && g->n_nodes == nn && g->status == LMG_OK, "the graph was changed");
    lmg_graph_free(g);

    /* ReluGrad is not differentiable: on the path from p to the loss it is an error. */
    g = lmg_graph_new("t");
    p = lmg_graph_param(g, "p", LMG_DTYPE_F32, shp(1, 4, 0, 0), (float[]){1, -1, 2, -2});
    int dy = lmg_graph_const(g, "dy", LMG_DTYPE_F32, shp(1, 4, 0, 0), (float[]){1, 1, 1, 1});
    int r = lmg_graph_node(g, LMG_OP_RELU_GRAD, "rg", (int[]){dy, p}, 2, NULL, 0, NULL, NULL);
    int l = lmg_reduce_sum(g, r, 0, NULL, 0);
    lmg_graph_rename(g, l, "loss");
    if (CHECK(g->status == LMG_OK, "builder: %s", lmg_last_error())) {
        nv = g->n_values, nn = g->n_nodes;
        s = lmg_autodiff(g, "loss");
        CHECK(s != LMG_OK, "a non-differentiable op on the path was accepted");
        CHECK(strstr(lmg_last_error(), "'rg'") && strstr(lmg_last_error(), "ReluGrad"),
              "message does not name node and op: %s", lmg_last_error());
        CHECK(g->n_values == nv && g->n_nodes == nn && g->status == LMG_OK,
              "a failed autodiff left the graph changed (%d/%d values, %d/%d nodes)", g->n_values,
              nv, g->n_nodes, nn);
        CHECK(lmg_graph_find(g, "grad/p") < 0, "grad/p exists after a failure");
    }
    lmg_graph_free(g);

    /* The same op off the path (fed only by constants) is fine. */
    g = lmg_graph_new("t");
    p = lmg_graph_param(g, "p", LMG_DTYPE_F32, shp(1, 4, 0, 0), (float[]){1, -1, 2, -2});
    dy = lmg_graph_const(g, "dy", LMG_DTYPE_F32, shp(1, 4, 0, 0), (float[]){1, 1, 1, 1});
    int x = lmg_graph_const(g, "x", LMG_DTYPE_F32, shp(1, 4, 0, 0), (float[]){1, -1, 1, -1});
    r = lmg_graph_node(g, LMG_OP_RELU_GRAD, "rg", (int[]){dy, x}, 2, NULL, 0, NULL, NULL);
    l = lmg_reduce_sum(g, lmg_mul(g, r, p), 0, NULL, 0);
    lmg_graph_rename(g, l, "loss");
    s = lmg_autodiff(g, "loss");
    CHECK(s == LMG_OK, "ReluGrad off the path: %s", lmg_last_error());
    float gv[4];
    if (s == LMG_OK && CHECK(run_read(g, "grad/p", gv, 4) == LMG_OK, "run: %s", lmg_last_error()))
        CHECK(gv[0] == 1 && gv[1] == 0 && gv[2] == 1 && gv[3] == 0, "grad/p = %g %g %g %g", gv[0],
              gv[1], gv[2], gv[3]);
    lmg_graph_free(g);
    test_end();
}

/* A [1]-shaped loss is seeded through an Expand; the result prints and verifies. */
static void test_autodiff_rank1_loss(void)
{
    test_begin("autodiff: a [1,1] loss, and the result prints and verifies");
    lmg_graph *g = lmg_graph_new("t");
    int p = lmg_graph_param(g, "p", LMG_DTYPE_F32, shp(2, 2, 2, 0), (float[]){1, 2, 3, 4});
    int l = lmg_reduce_sum(g, lmg_mul(g, p, p), 1, (int64_t[]){1}, 1); /* [2,1] */
    l = lmg_reduce_sum(g, l, 1, (int64_t[]){0}, 1);                     /* [1,1] */
    lmg_graph_rename(g, l, "loss");
    lmg_status s = lmg_autodiff(g, "loss");
    if (CHECK(s == LMG_OK, "autodiff: %s", lmg_last_error())) {
        CHECK(lmg_graph_verify(g) == LMG_OK, "verify: %s", lmg_last_error());
        float r[4];
        if (CHECK(run_read(g, "grad/p", r, 4) == LMG_OK, "run: %s", lmg_last_error()))
            for (int i = 0; i < 4; i++) CHECK(r[i] == 2.0f * (float)(i + 1), "grad/p[%d] = %g", i, r[i]);
        char *text = NULL;
        s = lmg_graph_print(g, &text);
        CHECK(s == LMG_OK && text && strstr(text, "grad/p"), "print: %s", lmg_last_error());
        free(text);
    }
    lmg_graph_free(g);
    test_end();
}


/* A graph read from a file may list nodes out of order: autodiff sorts before walking. */
static void test_autodiff_unsorted(void)
{
    test_begin("autodiff: nodes out of topological order are sorted first");
    lmg_graph *g = lmg_graph_new("t");
    float pv[3] = {0.5f, -1.0f, 2.0f};
    int p = lmg_graph_param(g, "p", LMG_DTYPE_F32, shp(1, 3, 0, 0), pv);
    int t = lmg_graph_add_value(g, "t", LMG_VALUE_NODE, LMG_DTYPE_F32, shp(1, 3, 0, 0));
    int l = lmg_graph_add_value(g, "loss", LMG_VALUE_NODE, LMG_DTYPE_F32, shp(0, 0, 0, 0));
    lmg_attr ax[2] = {lmg_attr_ints("axes", 0, NULL), lmg_attr_int("keepdims", 0)};
    /* The consumer first, then the producer. */
    lmg_status s = lmg_graph_append_node(g, "sum", LMG_OP_REDUCE_SUM, &t, 1, &l, 1, ax, 2);
    if (s == LMG_OK) s = lmg_graph_append_node(g, "tanh", LMG_OP_TANH, &p, 1, &t, 1, NULL, 0);
    if (CHECK(s == LMG_OK, "append: %s", lmg_last_error())) {
        s = lmg_autodiff(g, "loss");
        if (CHECK(s == LMG_OK, "autodiff: %s", lmg_last_error())) {
            CHECK(lmg_graph_verify(g) == LMG_OK, "verify: %s", lmg_last_error());
            float r[3];
            if (CHECK(run_read(g, "grad/p", r, 3) == LMG_OK, "run: %s", lmg_last_error()))
                for (int i = 0; i < 3; i++) {
                    float want = 1.0f - tanhf(pv[i]) * tanhf(pv[i]);
                    CHECK(fabsf(r[i] - want) < 1e-6f, "grad/p[%d] = %g want %g", i, r[i], want);
                }
        }
    }
    lmg_graph_free(g);
    test_end();
}

int main(void)
{
    test_values();
    test_duplicates_and_sticky();
    test_long_names();
    test_meta();
    test_sum_to();
    test_prune();
    test_autodiff_names();
    test_autodiff_shared();
    test_autodiff_errors();
    test_autodiff_rank1_loss();
    test_autodiff_unsorted();
    return test_summary();
}
