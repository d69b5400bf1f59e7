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

int main(void)
{
    test_dims_text();
    test_dims_pb();
    test_dims_errors();
    test_dims_link();
    return test_summary();
}
