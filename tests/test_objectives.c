/* test_objectives.c — objectives as general graphs: named dimensions (parse, print, .pb
 * round trip, trial verification, binding by linking, conflicts), the objective contract
 * checks, and the shipped sample objectives linked to two model sizes and trained. */
#include "../models/models.h"
#include "../train/train.h"
#include "../backends/backend.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static lmg_model_config tiny(const char *arch)
{
    lmg_model_config c;
    lmg_model_config_default(&c, arch);
    c.layers = 1;
    c.heads = 2;
    c.d_model = 32;
    c.d_ff = 64;
    c.vocab = 300;
    c.seq = 16;
    c.batch = 4;
    return c;
}

static lmg_graph *parse(const char *text)
{
    lmg_graph *g = NULL;
    if (lmg_graph_parse(text, "t.lmgt", &g) != LMG_OK) return NULL;
    return g;
}

static lmg_graph *load_sample(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "samples/objectives/%s", name);
    char *text = NULL;
    lmg_graph *g = NULL;
    if (lmg_read_file(path, &text, NULL) == LMG_OK) lmg_graph_parse(text, path, &g);
    free(text);
    return g;
}

static const char *sym_text =
    "lmgraph ir 1 opset 1\n"
    "graph \"s\" {\n"
    "  input logits : f32[B,T,V]\n"
    "  input targets : i32[B,T]\n"
    "  input hidden : f32[B,T,C]\n"
    "  param P : f32[C,C] = zeros\n"
    "\n"
    "  node ce: f32[] = CrossEntropy(logits, targets)\n"
    "  node a: f32[B,T,C] = MatMul(hidden, P)\n"
    "  node tail: i32[B,?] = Slice(targets) {axis = 1, start = 1}\n"
    "  node s: f32[] = ReduceSum(a)\n"
    "  node loss: f32[] = Add(ce, s)\n"
    "\n"
    "  output loss\n"
    "  output tail\n"
    "}\n";

static void test_dims_text(void)
{
    test_begin("named dims: parsed, inferred for node outputs (names and ?), printed exactly");
    lmg_graph *g = parse(sym_text);
    CHECK(g, "parse: %s", lmg_last_error());
    if (g) {
        char *t = NULL;
        CHECK(lmg_graph_print(g, &t) == LMG_OK && t && strcmp(t, sym_text) == 0,
              "print differs:\n%s", t ? t : "(none)");
        free(t);
        char buf[64];
        CHECK(strcmp(lmg_value_type_str(g, lmg_graph_find(g, "a"), buf, sizeof buf),
                     "f32[B,T,C]") == 0, "a is %s", buf);
        CHECK(g->n_dim_names == 4 && lmg_graph_is_symbolic(g), "4 names, symbolic");
    }
    /* Output types may be left out: inference gives the names. */
    lmg_graph *h = parse("lmgraph ir 1 opset 1\ngraph \"h\" {\n input x : f32[B,T]\n"
                         " node y = Concat(x, x) {axis = 0}\n node z = Exp(x)\n output y, z\n}\n");
    CHECK(h, "parse: %s", lmg_last_error());
    if (h) {
        char b1[64], b2[64];
        lmg_value_type_str(h, lmg_graph_find(h, "y"), b1, sizeof b1);
        lmg_value_type_str(h, lmg_graph_find(h, "z"), b2, sizeof b2);
        CHECK(strcmp(b1, "f32[?,T]") == 0 && strcmp(b2, "f32[B,T]") == 0, "y %s z %s", b1, b2);
    }
    lmg_graph_free(g);
    lmg_graph_free(h);
    test_end();
}

static void test_dims_pb(void)
{
    test_begin("named dims: .pb round trip keeps them (dim_names); a concrete graph stores none");
    lmg_graph *g = parse(sym_text), *back = NULL;
    void *buf = NULL;
    size_t n = 0;
    CHECK(g && lmg_graph_save_bytes(g, &buf, &n) == LMG_OK, "save: %s", lmg_last_error());
    CHECK(buf && lmg_graph_load_bytes(buf, n, ".", &back) == LMG_OK, "load: %s", lmg_last_error());
    if (back) {
        char *t = NULL;
        CHECK(lmg_graph_print(back, &t) == LMG_OK && strcmp(t, sym_text) == 0, "printed:\n%s", t);
        free(t);
    }
    free(buf);
    /* Bound, the same graph has no names left and its bytes carry none. */
    lmg_dim_binding b;
    memset(&b, 0, sizeof b);
    CHECK(lmg_dim_parse(&b, "B=2,T=3,V=5,C=4") == LMG_OK, "parse binding: %s", lmg_last_error());
    CHECK(g && lmg_graph_bind_dims(g, &b) == LMG_OK && lmg_graph_verify(g) == LMG_OK,
          "bind: %s", lmg_last_error());
    if (g) {
        CHECK(!lmg_graph_is_symbolic(g) && g->n_dim_names == 0, "no names after binding");
        int t = lmg_graph_find(g, "tail");
        CHECK(g->values[t].shape.dims[0] == 2 && g->values[t].shape.dims[1] == 2, "tail [2,2]");
        CHECK(lmg_graph_save_bytes(g, &buf, &n) == LMG_OK, "save");
        /* "T" as a dim name would be stored as the bytes 0x22 0x01 'T' (field 4, length 1). */
        int found = 0;
        for (size_t i = 0; buf && i + 2 < n; i++)
            found |= ((unsigned char *)buf)[i] == 0x22 && ((unsigned char *)buf)[i + 1] == 1 &&
                     ((unsigned char *)buf)[i + 2] == 'T';
        CHECK(!found, "a bound graph stores no dim_names");
        free(buf);
    }
    lmg_graph_free(g);
    lmg_graph_free(back);
    test_end();
}

/* Replace every stored dimension name "B" (field 4 of ValueInfo: 0x22 0x01 'B') by `c`. */
static int patch_dim_name(unsigned char *b, size_t n, char c)
{
    int hits = 0;
    for (size_t i = 0; i + 2 < n; i++)
        if (b[i] == 0x22 && b[i + 1] == 1 && b[i + 2] == 'B') b[i + 2] = (unsigned char)c, hits++;
    return hits;
}

static void test_dims_hostile(void)
{
    test_begin("named dims: a .pb with a '?' input dim or a bad dimension name is refused");
    lmg_graph *g = parse("lmgraph ir 1 opset 1\ngraph \"h\" {\n input x : f32[B,3]\n"
                         " output x\n}\n");
    void *buf = NULL;
    size_t n = 0;
    CHECK(g && lmg_graph_save_bytes(g, &buf, &n) == LMG_OK, "save: %s", lmg_last_error());
    lmg_graph *back = NULL;
    if (buf) {
        CHECK(patch_dim_name(buf, n, '?') > 0, "found the stored name");
        CHECK(lmg_graph_load_bytes(buf, n, ".", &back) != LMG_OK && !back &&
                  strstr(lmg_last_error(), "only node outputs may have a '?' dimension"),
              "'?' on an input: %s", lmg_last_error());
        for (size_t i = 0; i + 2 < n; i++)
            if (((unsigned char *)buf)[i] == 0x22 && ((unsigned char *)buf)[i + 1] == 1 &&
                ((unsigned char *)buf)[i + 2] == '?')
                ((unsigned char *)buf)[i + 2] = '7';
        CHECK(lmg_graph_load_bytes(buf, n, ".", &back) != LMG_OK && !back &&
                  strstr(lmg_last_error(), "dimension name '7' is not"),
              "bad name: %s", lmg_last_error());
    }
    free(buf);
    lmg_graph_free(g);
    test_end();
}

static void test_dims_errors(void)
{
    test_begin("named dims: trial verification, data with names, unbound, running refused");
    /* Works only when V == C: the trial sizes differ, so verification fails and says so. */
    lmg_graph *g = parse("lmgraph ir 1 opset 1\ngraph \"g\" {\n input h : f32[T,C]\n"
                         " param P : f32[V,C] = zeros\n node y = MatMul(h, P)\n output y\n}\n");
    CHECK(!g && strstr(lmg_last_error(), "t.lmgt:5") && strstr(lmg_last_error(), "trial sizes") &&
              strstr(lmg_last_error(), "'y' (MatMul)"),
          "trial: %s", lmg_last_error());
    lmg_graph_free(g);
    g = parse("lmgraph ir 1 opset 1\ngraph \"g\" {\n input h : f32[T]\n"
              " const k : f32[T] = [1, 2]\n node y = Add(h, k)\n output y\n}\n");
    CHECK(!g && strstr(lmg_last_error(), "t.lmgt:4") && strstr(lmg_last_error(), "only zeros"),
          "data: %s", lmg_last_error());
    lmg_graph_free(g);
    g = parse("lmgraph ir 1 opset 1\ngraph \"g\" {\n input h : f32[?]\n output h\n}\n");
    CHECK(!g && strstr(lmg_last_error(), "t.lmgt:3"), "? on an input: %s", lmg_last_error());
    lmg_graph_free(g);
    g = parse(sym_text);
    lmg_dim_binding b;
    memset(&b, 0, sizeof b);
    lmg_dim_parse(&b, "B=2,T=3");
    CHECK(g && lmg_graph_bind_dims(g, &b) == LMG_ERR_INVALID &&
              strstr(lmg_last_error(), "dimension 'V'") && strstr(lmg_last_error(), "'logits'"),
          "unbound: %s", lmg_last_error());
    lmg_graph_free(g);
    g = parse(sym_text);
    const lmg_backend *ref = lmg_backend_find("ref");
    lmg_exec *e = NULL;
    CHECK(g && ref->init(g, NULL, &e) == LMG_ERR_INVALID && !e &&
              strstr(lmg_last_error(), "B, T, V, C"),
          "run: %s", lmg_last_error());
    CHECK(g && lmg_autodiff(g, "loss") == LMG_ERR_INVALID, "autodiff refused");
    memset(&b, 0, sizeof b);
    CHECK(lmg_dim_bind(&b, "T", 8, "input 'a'") == LMG_OK &&
              lmg_dim_bind(&b, "T", 9, "input 'b'") == LMG_ERR_INVALID &&
              strstr(lmg_last_error(), "'T' is 8 from input 'a' but 9 from input 'b'"),
          "conflict: %s", lmg_last_error());
    lmg_graph_free(g);
    test_end();
}

static void test_did_you_mean(void)
{
    test_begin("text form: an unknown op or value suggests the nearest name, only when close");
    lmg_graph *g = parse("lmgraph ir 1 opset 1\ngraph \"g\" {\n input a : f32[2]\n"
                         " node y = Softmx(a)\n output y\n}\n");
    CHECK(!g && strstr(lmg_last_error(), "t.lmgt:4:11: node 'y': unknown op 'Softmx' (did you "
                                         "mean 'Softmax'?)"), "typo: %s", lmg_last_error());
    g = parse("lmgraph ir 1 opset 1\ngraph \"g\" {\n input a : f32[2]\n"
              " node y = Frobnicate(a)\n output y\n}\n");
    CHECK(!g && strstr(lmg_last_error(), "unknown op 'Frobnicate'") &&
              !strstr(lmg_last_error(), "did you mean"), "far: %s", lmg_last_error());
    g = parse("lmgraph ir 1 opset 1\ngraph \"g\" {\n input hidden : f32[2]\n"
              " node y = Exp(hiddn)\n output y\n}\n");
    CHECK(!g && strstr(lmg_last_error(), "t.lmgt:4: node 'y' (Exp): input 'hiddn' is missing") &&
              strstr(lmg_last_error(), "(did you mean 'hidden'?)"), "value: %s", lmg_last_error());
    test_end();
}

static void test_dims_link(void)
{
    test_begin("named dims: next2.lmgt links unchanged to two model sizes; conflicts name both");
    lmg_graph *obj = load_sample("next2.lmgt");
    CHECK(obj && lmg_graph_is_symbolic(obj), "next2 parses with named dims: %s", lmg_last_error());
    lmg_model_config c1 = tiny("gpt"), c2 = tiny("gpt");
    c2.d_model = 48;
    c2.seq = 12;
    c2.batch = 3;
    c2.vocab = 257;
    lmg_graph *g1 = NULL, *g2 = NULL;
    CHECK(obj && lmg_model_build_with_objective(&c1, obj, 1.0, &g1) == LMG_OK, "size 1: %s",
          lmg_last_error());
    CHECK(obj && lmg_model_build_with_objective(&c2, obj, 1.0, &g2) == LMG_OK, "size 2: %s",
          lmg_last_error());
    CHECK(obj && lmg_graph_is_symbolic(obj), "the caller's graph keeps its names");
    if (g1 && g2) {
        const lmg_value *p1 = &g1->values[lmg_graph_find(g1, "obj/P")];
        const lmg_value *p2 = &g2->values[lmg_graph_find(g2, "obj/P")];
        CHECK(p1->shape.dims[0] == 32 && p2->shape.dims[0] == 48, "P is [C,C]: %lld, %lld",
              (long long)p1->shape.dims[0], (long long)p2->shape.dims[0]);
        const lmg_value *t2 = &g2->values[lmg_graph_find(g2, "obj/targets2")];
        CHECK(t2->shape.dims[0] == 3 && t2->shape.dims[1] == 12, "targets2 [B,T] = [3,12]");
        CHECK(lmg_graph_verify(g1) == LMG_OK && lmg_graph_verify(g2) == LMG_OK, "verify: %s",
              lmg_last_error());
    }
    /* hidden binds C = 32, ids (declared [B,C]) would make it 16. */
    lmg_graph *bad = parse("lmgraph ir 1 opset 1\ngraph \"bad\" {\n input hidden : f32[B,T,C]\n"
                           " input ids : i32[B,C]\n node loss = ReduceSum(hidden)\n"
                           " output loss\n}\n");
    lmg_graph *g3 = NULL;
    CHECK(bad && lmg_model_build_with_objective(&c1, bad, 1.0, &g3) == LMG_ERR_INVALID && !g3,
          "conflict refused");
    const char *m = lmg_last_error();
    CHECK(strstr(m, "dimension 'C' is 32 from input 'hidden'") && strstr(m, "but 16 from input 'ids'") &&
              strstr(m, "f32[4,16,32]") && strstr(m, "i32[4,16]"),
          "conflict message: %s", m);
    lmg_graph_free(bad);
    lmg_graph_free(g1);
    lmg_graph_free(g2);
    lmg_graph_free(obj);
    test_end();
}

/* ---- the ops objectives use ---------------------------------------------------------- */

/* Run a one-node graph on the ref backend: inputs x (and idx), output y. */
static lmg_status run_one(lmg_op op, const lmg_attr *a, int na, lmg_dtype tx, lmg_shape sx,
                          const void *x, const lmg_shape *si, const int32_t *idx, void *y,
                          size_t ybytes, uint64_t step)
{
    lmg_graph *g = lmg_graph_new("one");
    int in[2];
    in[0] = lmg_graph_input(g, "x", tx, sx);
    if (si) in[1] = lmg_graph_input(g, "idx", LMG_DTYPE_I32, *si);
    int out = lmg_graph_node(g, op, "y", in, si ? 2 : 1, a, na, NULL, NULL);
    lmg_status s = out < 0 ? g->status : lmg_graph_add_output(g, out);
    const lmg_backend *b = lmg_backend_find("ref");
    lmg_exec *e = NULL;
    if (s == LMG_OK) s = b->init(g, NULL, &e);
    if (s == LMG_OK)
        s = b->write(e, in[0], x, (size_t)lmg_shape_numel(&sx) * 4);
    if (s == LMG_OK && si) s = b->write(e, in[1], idx, (size_t)lmg_shape_numel(si) * 4);
    if (s == LMG_OK) s = b->run(e, step);
    if (s == LMG_OK) s = b->read(e, out, y, ybytes);
    if (e) b->free(e);
    lmg_graph_free(g);
    return s;
}

static void test_sort_take(void)
{
    test_begin("ArgSort is stable, -0 equals 0, NaN last; TakeAlong gathers, 0 out of range");
    float x[2][6] = {{3, NAN, 1, 1, -0.0f, 0}, {2, 2, 2, -1, 5, 2}};
    int32_t y[12];
    int64_t d[2] = {2, 6};
    CHECK(run_one(LMG_OP_ARGSORT, NULL, 0, LMG_DTYPE_F32, lmg_shape_make(2, d), x, NULL, NULL, y,
                  sizeof y, 1) == LMG_OK, "run: %s", lmg_last_error());
    static const int32_t want[12] = {4, 5, 2, 3, 0, 1, 3, 0, 1, 2, 5, 4};
    CHECK(memcmp(y, want, sizeof want) == 0, "order %d %d %d %d %d %d / %d %d %d %d %d %d", y[0],
          y[1], y[2], y[3], y[4], y[5], y[6], y[7], y[8], y[9], y[10], y[11]);
    int32_t v[3] = {10, 20, 30}, idx[4] = {2, 0, -1, 3}, got[4];
    int64_t dv[2] = {1, 3}, di[2] = {1, 4};
    lmg_shape si = lmg_shape_make(2, di);
    CHECK(run_one(LMG_OP_TAKE_ALONG, NULL, 0, LMG_DTYPE_I32, lmg_shape_make(2, dv), v, &si, idx,
                  got, sizeof got, 1) == LMG_OK, "run: %s", lmg_last_error());
    CHECK(got[0] == 30 && got[1] == 10 && got[2] == 0 && got[3] == 0, "gather %d %d %d %d",
          got[0], got[1], got[2], got[3]);
    test_end();
}

static void test_span_mask(void)
{
    test_begin("SpanMask: masked fraction as the geometric law predicts, spans of several tokens");
    enum { R = 128, T = 256 };
    static int32_t ids[R * T];
    static float m[R * T];
    int64_t d[2] = {R, T};
    double p = 0.035, len_p = 0.2;
    int max_len = 10;
    lmg_attr a[4] = {lmg_attr_float("p", p), lmg_attr_float("len_p", len_p),
                     lmg_attr_int("max_len", max_len), lmg_attr_int("key", 9)};
    CHECK(run_one(LMG_OP_SPAN_MASK, a, 4, LMG_DTYPE_I32, lmg_shape_make(2, d), ids, NULL, NULL, m,
                  sizeof m, 3) == LMG_OK, "run: %s", lmg_last_error());
    /* Away from a row's start, position t is free when no start in the max_len before it
     * reaches it: P = prod_d (1 - p * (1 - len_p)^d). */
    double free_p = 1.0;
    for (int k = 0; k < max_len; k++) free_p *= 1.0 - p * pow(1.0 - len_p, k);
    double masked = 0, n = 0, runs = 0, in_runs = 0;
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) {
            float v = m[r * T + t];
            CHECK(v == 0.0f || v == 1.0f, "mask value %g", v);
            if (t >= max_len) masked += v, n++;
            if (v == 1.0f) {
                in_runs++;
                if (t == 0 || m[r * T + t - 1] == 0.0f) runs++;
            }
        }
    double frac = masked / n, want = 1.0 - free_p;
    printf("# SpanMask: masked %.4f (law %.4f), mean run %.2f tokens\n", frac, want, in_runs / runs);
    CHECK(fabs(frac - want) < 0.015, "masked fraction %.4f vs %.4f", frac, want);
    CHECK(in_runs / runs > 3.0, "mean run %.2f tokens", in_runs / runs);
    test_end();
}

/* ---- the sample objectives train ------------------------------------------------------- */

/* A learnable batch that changes every step: each row counts up in threes modulo 23 (ids
 * 5..27 of the vocabulary) from a start that moves with the row and the step, so a model
 * can learn the rule from fresh batches but cannot memorise one. */
static void fill_batch(int32_t *ids, int32_t *tg, int rows, int T, int vocab, int step)
{
    (void)vocab;
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < T; t++) {
            int base = r * 7 + step * 5;
            ids[r * T + t] = 5 + (base + t * 3) % 23;
            tg[r * T + t] = 5 + (base + (t + 1) * 3) % 23;
        }
}

/* Train c with objective file `sample` for `steps` on the ref backend: losses[] per step and,
 * when `term` is given, that output's value per step in terms[]. */
static lmg_status train_sample(const char *sample, lmg_model_config c, int steps, double lr,
                               float *losses, const char *term, float *terms)
{
    lmg_graph *obj = NULL, *mg = NULL, *g = NULL;
    lmg_status s = LMG_OK;
    if (strncmp(sample, "models/", 7) == 0) {
        /* A model graph trained on next-token prediction of its logits. */
        char *text = NULL, path[256];
        snprintf(path, sizeof path, "samples/%s", sample);
        s = lmg_read_file(path, &text, NULL);
        if (s == LMG_OK) s = lmg_graph_parse(text, path, &mg);
        free(text);
        if (s == LMG_OK) lmg_model_graph_config(mg, &c);
        if (s == LMG_OK) s = lmg_model_graph_build(mg, &c, NULL, 1.0, &g);
        lmg_graph_free(mg);
    } else {
        obj = load_sample(sample);
        if (!obj) return lmg_error_prefix(LMG_ERR_INVALID, "%s", sample);
        s = lmg_model_build_with_objective(&c, obj, 1.0, &g);
        lmg_graph_free(obj);
    }
    lmg_optim_config o;
    lmg_optim_config_default(&o);
    o.lr = lr;
    o.warmup = 5;
    o.steps = steps;
    if (s == LMG_OK) s = lmg_train_graph_build(g, "loss", &o);
    if (s == LMG_OK) s = lmg_graph_verify(g);
    const lmg_backend *b = lmg_backend_find("ref");
    lmg_exec *e = NULL;
    if (s == LMG_OK) s = b->init(g, NULL, &e);
    size_t n = (size_t)c.batch * c.seq;
    int32_t *x = malloc(n * 4), *y = malloc(n * 4);
    int ids = g ? lmg_graph_find(g, "ids") : -1, tg = g ? lmg_graph_find(g, "targets") : -1;
    int lrv = g ? lmg_graph_find(g, "lr") : -1, st = g ? lmg_graph_find(g, "step") : -1;
    int loss = g ? lmg_graph_find(g, "loss") : -1, tv = g && term ? lmg_graph_find(g, term) : -1;
    if (s == LMG_OK && term && tv < 0) s = lmg_error(LMG_ERR_NOT_FOUND, "no output '%s'", term);
    for (int i = 1; i <= steps && s == LMG_OK; i++) {
        fill_batch(x, y, c.batch, c.seq, c.vocab, i);
        float l = (float)lmg_lr_at(&o, i);
        int32_t sv = i;
        s = b->write(e, ids, x, n * 4);
        if (s == LMG_OK && tg >= 0) s = b->write(e, tg, y, n * 4);
        if (s == LMG_OK) s = b->write(e, lrv, &l, 4);
        if (s == LMG_OK) s = b->write(e, st, &sv, 4);
        if (s == LMG_OK) s = b->run(e, (uint64_t)i);
        if (s == LMG_OK) s = b->read(e, loss, &losses[i - 1], 4);
        if (s == LMG_OK && tv >= 0) s = b->read(e, tv, &terms[i - 1], 4);
    }
    free(x);
    free(y);
    if (e) b->free(e);
    lmg_graph_free(g);
    return s;
}

static double mean_of(const float *v, int from, int to)
{
    double s = 0;
    for (int i = from; i < to; i++) s += v[i];
    return s / (to - from);
}

/* The batches' tokens are uniform over 23 ids: a loss below log(23) uses the context. */
#define UNIGRAM_NATS 3.1355

static void check_trains(const char *sample, lmg_model_config c, int steps, double below,
                         const char *term, double term_below)
{
    float losses[200], terms[200];
    lmg_status s = train_sample(sample, c, steps, 3e-3, losses, term, terms);
    CHECK(s == LMG_OK, "%s: %s", sample, lmg_last_error());
    if (s != LMG_OK) return;
    double first = mean_of(losses, 0, 5), last = mean_of(losses, steps - 5, steps);
    if (strncmp(sample, "models/", 7) == 0)
        printf("# %s (batch %d): loss %.3f -> %.3f over %d steps (means of the first and last "
               "5)\n", sample, c.batch, first, last, steps);
    else
        printf("# %s (%s, d_model %d, batch %d, seq %d): loss %.3f -> %.3f over %d steps "
               "(means of the first and last 5)\n", sample, c.arch, c.d_model, c.batch, c.seq,
               first, last, steps);
    CHECK(last < below && last < first - 1.0, "%s: loss %.3f -> %.3f, wanted below %.3f",
          sample, first, last, below);
    if (!term) return;
    double t0 = mean_of(terms, 0, 5), t1 = mean_of(terms, steps - 5, steps);
    printf("# %s: %s %.3f -> %.3f\n", sample, term, t0, t1);
    CHECK(t1 < term_below && t1 < t0, "%s: %s %.3f -> %.3f, wanted below %.3f", sample, term, t0,
          t1, term_below);
}

static void test_samples_train(void)
{
    test_begin("next2.lmgt trains a gpt: both heads' losses below the unigram entropy");
    check_trains("next2.lmgt", tiny("gpt"), 200, 1.5 * UNIGRAM_NATS, "loss/after_next", UNIGRAM_NATS);
    test_end();

    test_begin("span.lmgt trains a bert at two sizes: loss below the unigram entropy");
    lmg_model_config c = tiny("bert"), c2 = tiny("bert");
    c2.d_model = 48;
    c2.heads = 3;
    c2.seq = 24;
    c2.batch = 3;
    check_trains("span.lmgt", c, 200, UNIGRAM_NATS - 0.3, NULL, 0);
    check_trains("span.lmgt", c2, 200, UNIGRAM_NATS - 0.3, NULL, 0);
    test_end();

    test_begin("denoise.lmgt (deletion + shuffle, padding mask) trains: below the unigram entropy");
    check_trains("denoise.lmgt", tiny("bert"), 200, UNIGRAM_NATS - 1.0, NULL, 0);
    test_end();

    test_begin("simcse_mlm.lmgt (two views + mlm, shared parameters): both terms fall");
    lmg_model_config cd = tiny("bert");
    cd.dropout = 0.1;
    /* InfoNCE over a batch of 4 is log 4 = 1.386 when the views tell nothing apart. */
    check_trains("simcse_mlm.lmgt", cd, 200, UNIGRAM_NATS, "loss/infonce", 1.0);
    check_trains("simcse_mlm.lmgt", cd, 200, UNIGRAM_NATS, "loss/mlm", UNIGRAM_NATS);
    test_end();

    test_begin("models/decoder.lmgt (RMSNorm, SwiGLU, a user's graph) trains: next-token loss falls");
    lmg_model_config cm = tiny("gpt");
    cm.batch = 2; /* B is a name in the file; T, C and V are its own */
    check_trains("models/decoder.lmgt", cm, 80, UNIGRAM_NATS, NULL, 0);
    test_end();
}

int main(void)
{
    test_dims_text();
    test_dims_pb();
    test_dims_errors();
    test_dims_hostile();
    test_dims_link();
    test_did_you_mean();
    test_sort_take();
    test_span_mask();
    test_samples_train();
    return test_summary();
}
