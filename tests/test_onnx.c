/* test_onnx.c — the C side of ONNX export and the NumPy formats: every op of ops.def has an
 * ONNX mapping entry, random ops refuse without draws, draws (SpanMask's too) give the
 * reference backend's results, symbolic axes give way where a graph fixes them, .npy and .npz
 * round trips. */
#include "test.h"
#include "../backends/backend.h"
#include "../export/npy.h"
#include "../export/onnx.h"
#include "../graph/graph.h"
#include "../models/models.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/lmg_test_onnx_XXXXXX";

static char *tmp_path(const char *name)
{
    static char buf[4][256];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    return p;
}

static void test_every_op_mapped(void)
{
    test_begin("every op of ops.def has an ONNX mapping (standard ops, draws, or none with a reason)");
    int missing = 0;
    for (int op = 0; op < LMG_OP_COUNT; op++) {
        const char *what;
        lmg_onnx_map_kind k = lmg_onnx_op_mapping((lmg_op)op, &what);
        if (!CHECK(k != LMG_ONNX_MAP_MISSING && what && *what, "op %s has no ONNX mapping entry",
                   lmg_op_name((lmg_op)op)))
            missing++;
    }
    CHECK(lmg_onnx_op_mapping((lmg_op)LMG_OP_COUNT, NULL) == LMG_ONNX_MAP_MISSING,
          "an op past the table is reported missing");
    CHECK(lmg_onnx_op_mapping(LMG_OP_DROPOUT, NULL) == LMG_ONNX_MAP_DRAWS,
          "Dropout maps once its draws are inputs");
    test_end();
}

/* x f32[4,6] -> Dropout -> y; node "drop" */
static lmg_graph *dropout_graph(void)
{
    lmg_graph *g = lmg_graph_new("drop");
    int x = lmg_graph_input(g, "x", LMG_DTYPE_F32, lmg_shape_make(2, (int64_t[]){4, 6}));
    lmg_attr a[3] = {lmg_attr_float("p", 0.5), lmg_attr_int("seed", 11), lmg_attr_int("key", 3)};
    int y = lmg_graph_node(g, LMG_OP_DROPOUT, "drop", &x, 1, a, 3, NULL, NULL);
    lmg_attr b[3] = {lmg_attr_float("p", 0.3), lmg_attr_int("seed", 11), lmg_attr_int("key", 9)};
    int m = lmg_graph_node(g, LMG_OP_BERNOULLI, "bern", &x, 1, b, 3, NULL, NULL);
    lmg_graph_add_output(g, y);
    lmg_graph_add_output(g, m);
    return g;
}

static void test_random_refused(void)
{
    test_begin("a random op without --draws: LMG_ERR_UNSUPPORTED naming op and node, no file");
    lmg_graph *g = dropout_graph();
    CHECK(lmg_graph_verify(g) == LMG_OK, "verify: %s", lmg_last_error());
    lmg_onnx_export_opts o = {0};
    const char *path = tmp_path("drop.onnx");
    lmg_status s = lmg_onnx_export(g, &o, path, NULL);
    CHECK(s == LMG_ERR_UNSUPPORTED, "status %d", s);
    CHECK(strstr(lmg_last_error(), "Dropout") && strstr(lmg_last_error(), "'drop'"),
          "message names op and node: %s", lmg_last_error());
    CHECK(access(path, F_OK) != 0, "no file written");
    o.draws_as_inputs = 1;
    s = lmg_onnx_export(g, &o, path, NULL);
    CHECK(s == LMG_OK && access(path, F_OK) == 0, "with draws as inputs it exports: %s",
          lmg_last_error());
    lmg_graph_free(g);
    test_end();
}

static void test_draws_match_ref(void)
{
    test_begin("the draws written for a step are the reference backend's: Dropout and Bernoulli");
    lmg_graph *g = dropout_graph();
    lmg_graph_verify(g);
    lmg_exec *e = NULL;
    float x[24], y[24], m[24];
    for (int i = 0; i < 24; i++) x[i] = (float)i + 1.0f;
    const uint64_t step = 7;
    CHECK(lmg_backend_ref.init(g, &(lmg_exec_opts){0}, &e) == LMG_OK, "init");
    lmg_backend_ref.write(e, lmg_graph_find(g, "x"), x, sizeof x);
    lmg_backend_ref.run(e, step);
    lmg_backend_ref.read(e, g->outputs[0], y, sizeof y);
    lmg_backend_ref.read(e, g->outputs[1], m, sizeof m);
    lmg_backend_ref.free(e);
    int n = 0, bad = 0;
    for (int i = 0;; i++) {
        char *name;
        lmg_dtype t;
        lmg_shape s;
        void *d;
        if (lmg_onnx_draw(g, i, step, &name, &t, &s, &d) != LMG_OK) break;
        const float *u = d;
        int is_drop = strcmp(name, "draw/drop/u") == 0;
        CHECK(is_drop || strcmp(name, "draw/bern/u") == 0, "draw name %s", name);
        for (int k = 0; k < 24; k++) {
            float want = is_drop ? (u[k] < 0.5f ? 0.0f : x[k] * 2.0f) : (u[k] < 0.3f ? 1.0f : 0.0f);
            bad += (is_drop ? y[k] : m[k]) != want;
        }
        free(name);
        free(d);
        n++;
    }
    CHECK(n == 2, "%d draws, expected 2", n);
    CHECK(bad == 0, "%d elements differ from the reference backend", bad);
    lmg_graph_free(g);
    test_end();
}

/* SpanMask's rule of ops.def, read from its two draws: starts u0 < p, lengths from v = 1 - u1
 * against r^l, each span cut at the row's end. Written apart from both backends. */
static void span_from_draws(const float *u0, const float *u1, int rows, int T, float p,
                            double len_p, int max_len, float *y)
{
    float q[64], r = (float)(1.0 - len_p), acc = 1.0f;
    for (int l = 1; l < max_len; l++) q[l] = acc = acc * r;
    for (int i = 0; i < rows * T; i++) y[i] = 0.0f;
    for (int row = 0; row < rows; row++)
        for (int s = 0; s < T; s++) {
            int i = row * T + s;
            if (!(u0[i] < p)) continue;
            float v = 1.0f - u1[i];
            int L = 1;
            while (L < max_len && v <= q[L]) L++;
            for (int t = s; t < s + L && t < T; t++) y[row * T + t] = 1.0f;
        }
}

static void test_span_draws_match_ref(void)
{
    test_begin("SpanMask's draws (u0, u1 of each position) give the reference backend's spans");
    enum { R = 3, T = 40 };
    lmg_graph *g = lmg_graph_new("span");
    int x = lmg_graph_input(g, "x", LMG_DTYPE_I32, lmg_shape_make(2, (int64_t[]){R, T}));
    lmg_attr a[5] = {lmg_attr_float("p", 0.2), lmg_attr_float("len_p", 0.3),
                     lmg_attr_int("max_len", 6), lmg_attr_int("seed", 4), lmg_attr_int("key", 21)};
    int y = lmg_graph_node(g, LMG_OP_SPAN_MASK, "spans", &x, 1, a, 5, NULL, NULL);
    lmg_graph_add_output(g, y);
    CHECK(lmg_graph_verify(g) == LMG_OK, "verify: %s", lmg_last_error());
    const uint64_t step = 5;
    lmg_exec *e = NULL;
    int32_t ids[R * T] = {0};
    float ref[R * T], mine[R * T];
    CHECK(lmg_backend_ref.init(g, &(lmg_exec_opts){0}, &e) == LMG_OK, "init");
    lmg_backend_ref.write(e, x, ids, sizeof ids);
    lmg_backend_ref.run(e, step);
    lmg_backend_ref.read(e, y, ref, sizeof ref);
    lmg_backend_ref.free(e);
    void *d[2] = {NULL, NULL};
    int n = 0;
    for (int i = 0; i < 3; i++) {
        char *name;
        lmg_dtype t;
        lmg_shape s;
        void *data;
        if (lmg_onnx_draw(g, i, step, &name, &t, &s, &data) != LMG_OK) break;
        CHECK(i < 2 && strcmp(name, i ? "draw/spans/u1" : "draw/spans/u0") == 0 &&
                  t == LMG_DTYPE_F32 && lmg_shape_numel(&s) == R * T,
              "draw %d: %s", i, name);
        if (i < 2) d[i] = data;
        else free(data);
        free(name);
        n++;
    }
    CHECK(n == 2, "%d draws, expected u0 and u1", n);
    if (n == 2) {
        span_from_draws(d[0], d[1], R, T, 0.2f, 0.3, 6, mine);
        int bad = 0, on = 0;
        for (int i = 0; i < R * T; i++) bad += mine[i] != ref[i], on += ref[i] != 0.0f;
        CHECK(bad == 0, "%d positions differ from the reference backend", bad);
        CHECK(on > 0 && on < R * T, "%d of %d positions in spans", on, R * T);
    }
    free(d[0]);
    free(d[1]);
    lmg_graph_free(g);
    test_end();
}

static void test_symbolic_fallback(void)
{
    test_begin("symbolic axes: a GPT keeps batch and seq, so do slices of seq's tail, of a fixed "
               "range and of its last entries; a slice that depends on seq's size fixes it, named");
    lmg_model_config c;
    lmg_model_config_default(&c, "gpt");
    c.layers = 1, c.d_model = 16, c.heads = 2, c.d_ff = 32, c.vocab = 32, c.seq = 6, c.batch = 3;
    lmg_graph *g = NULL;
    CHECK(lmg_model_build(&c, &g) == LMG_OK, "build: %s", lmg_last_error());
    lmg_onnx_export_opts o = {0};
    o.symbolic = 1;
    lmg_onnx_export_info info;
    CHECK(lmg_onnx_export(g, &o, tmp_path("gpt.onnx"), &info) == LMG_OK, "export: %s",
          lmg_last_error());
    CHECK(info.fixed[0] == 0, "nothing fixed, got '%s'", info.fixed);
    lmg_graph_free(g);

    /* The tail of seq from 1 and [0, -1) stay symbolic (seq-1), as do a fixed range and the
     * last k; [-3, 4) depends on the built size and fixes seq. */
    static const int64_t ranges[5][2] = {{1, 5}, {0, -1}, {0, 2}, {-2, 5}, {-3, 4}};
    for (int c4 = 0; c4 < 5; c4++) {
        g = lmg_graph_new("part");
        int x = lmg_graph_input(g, "x", LMG_DTYPE_F32, lmg_shape_make(3, (int64_t[]){2, 5, 4}));
        lmg_attr a[3] = {lmg_attr_int("axis", 1), lmg_attr_int("start", ranges[c4][0]),
                         lmg_attr_int("end", ranges[c4][1])};
        int y = lmg_graph_node(g, LMG_OP_SLICE, "shift", &x, 1, a, 3, NULL, NULL);
        lmg_graph_add_output(g, y);
        lmg_graph_verify(g);
        CHECK(lmg_onnx_export(g, &o, tmp_path("part.onnx"), &info) == LMG_OK, "export: %s",
              lmg_last_error());
        if (c4 < 4)
            CHECK(info.fixed[0] == 0, "slice [%lld, %lld): nothing fixed, got '%s'",
                  (long long)ranges[c4][0], (long long)ranges[c4][1], info.fixed);
        else
            CHECK(strstr(info.fixed, "seq") && strstr(info.fixed, "'shift'") &&
                      !strstr(info.fixed, "batch"),
                  "seq fixed by node 'shift', batch kept: '%s'", info.fixed);
        lmg_graph_free(g);
    }
    test_end();
}

static void test_npy(void)
{
    test_begin(".npy: f32/i32 round trip, f8 and i8 narrowed, i8 past int32 refused, bad input named");
    float f[6] = {1.5f, -2, 3, 4, 5, 6e-30f};
    lmg_shape s = lmg_shape_make(2, (int64_t[]){2, 3}), s2;
    void *buf, *back;
    size_t n;
    lmg_dtype t;
    CHECK(lmg_npy_encode(LMG_DTYPE_F32, &s, f, &buf, &n) == LMG_OK, "encode");
    CHECK(n % 64 == 24 % 64 || n == 128 + 24 || n > 24, "size %zu", n);
    CHECK(lmg_npy_parse(buf, n, "f.npy", &t, &s2, &back) == LMG_OK, "parse: %s", lmg_last_error());
    CHECK(t == LMG_DTYPE_F32 && lmg_shape_equal(&s, &s2) && memcmp(back, f, sizeof f) == 0,
          "round trip");
    free(back);
    /* Corrupt the descr: an unsupported dtype is named. */
    char *p = strstr((char *)buf + 10, "<f4");
    memcpy(p, "<u2", 3);
    CHECK(lmg_npy_parse(buf, n, "f.npy", &t, &s2, &back) == LMG_ERR_PARSE &&
              strstr(lmg_last_error(), "f.npy") && strstr(lmg_last_error(), "u2"),
          "unsupported dtype named: %s", lmg_last_error());
    free(buf);

    /* A hand-made int64 array: [3] = {1, -2, 2^40}. */
    unsigned char raw[128] = "\x93NUMPY\x01\x00";
    const char *hdr = "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }";
    size_t hl = 118;
    raw[8] = (unsigned char)hl, raw[9] = 0;
    memset(raw + 10, ' ', hl);
    memcpy(raw + 10, hdr, strlen(hdr));
    raw[10 + hl - 1] = '\n';
    int64_t v[3] = {1, -2, (int64_t)1 << 40};
    unsigned char file[128 + 24];
    memcpy(file, raw, 128);
    memcpy(file + 128, v, sizeof v);
    CHECK(lmg_npy_parse(file, sizeof file, "i.npy", &t, &s2, &back) == LMG_ERR_DATA &&
              strstr(lmg_last_error(), "element 2"),
          "int64 past int32 refused naming the element: %s", lmg_last_error());
    v[2] = 7;
    memcpy(file + 128, v, sizeof v);
    CHECK(lmg_npy_parse(file, sizeof file, "i.npy", &t, &s2, &back) == LMG_OK && t == LMG_DTYPE_I32 &&
              ((int32_t *)back)[1] == -2 && ((int32_t *)back)[2] == 7,
          "int64 narrowed: %s", lmg_last_error());
    free(back);
    CHECK(lmg_npy_parse(file, sizeof file - 1, "i.npy", &t, &s2, &back) == LMG_ERR_PARSE,
          "a short body is refused");
    test_end();
}

static void test_npz(void)
{
    test_begin(".npz: a zip whose members are the .npy of each array, CRC-32 checked by unzip -t");
    lmg_npz *z = lmg_npz_new();
    int32_t a[3] = {1, 2, 3};
    float b[2] = {0.5f, 0.25f};
    lmg_shape sa = lmg_shape_make(1, (int64_t[]){3}), sb = lmg_shape_make(0, NULL);
    sb = lmg_shape_make(1, (int64_t[]){2});
    CHECK(lmg_npz_add(z, "a", LMG_DTYPE_I32, &sa, a) == LMG_OK, "add a");
    CHECK(lmg_npz_add(z, "grad/b", LMG_DTYPE_F32, &sb, b) == LMG_OK, "add b");
    const char *path = tmp_path("x.npz");
    CHECK(lmg_npz_commit(z, path) == LMG_OK, "commit: %s", lmg_last_error());
    lmg_npz_free(z);
    char *data;
    size_t n;
    CHECK(lmg_read_file(path, &data, &n) == LMG_OK, "read back");
    /* The first member's .npy starts right after its 30-byte local header and name. */
    CHECK(n > 30 + 5 && memcmp(data, "PK\x03\x04", 4) == 0 && memcmp(data + 30, "a.npy", 5) == 0,
          "local header and member name");
    lmg_dtype t;
    lmg_shape s;
    void *back;
    uint32_t len = (uint32_t)(unsigned char)data[18] | (uint32_t)(unsigned char)data[19] << 8;
    CHECK(lmg_npy_parse(data + 35, len, "a.npy", &t, &s, &back) == LMG_OK && t == LMG_DTYPE_I32 &&
              memcmp(back, a, sizeof a) == 0,
          "member a parses back: %s", lmg_last_error());
    free(back);
    free(data);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "command -v unzip >/dev/null 2>&1 || exit 0; unzip -tq %s >/dev/null", path);
    CHECK(system(cmd) == 0, "unzip -t accepts the archive");
    test_end();
}

static void test_import_hostile(void)
{
    test_begin("import: tests/onnx/small.onnx imports; every truncation and byte flip of it "
               "imports or fails with a message, never crashes");
    char *data;
    size_t n;
    if (!CHECK(lmg_read_file("tests/onnx/small.onnx", &data, &n) == LMG_OK, "%s", lmg_last_error())) {
        test_end();
        return;
    }
    const char *names[1] = {"batch"};
    const int64_t vals[1] = {3};
    lmg_onnx_import_opts o = {1, names, vals, 1};
    lmg_graph *g = NULL;
    CHECK(lmg_onnx_import("tests/onnx/small.onnx", &o, &g) == LMG_OK && lmg_model_param_count(g) == 6 * 8 + 8 + 8 + 8 + 8 * 4 + 4,
          "the shipped model imports with its parameters: %s", lmg_last_error());
    lmg_graph_free(g);
    int ok = 0, failed = 0, silent = 0;
    for (size_t len = 0; len <= n; len++) {
        for (int flip = -1; flip < 3; flip++) {
            char *copy = malloc(len + 1);
            memcpy(copy, data, len);
            if (flip >= 0 && len > 0) copy[(len * 7 + (size_t)flip * 13) % len] ^= (char)(0x5a >> flip);
            lmg_error_clear();
            lmg_status s = lmg_onnx_import_bytes(copy, len, "tests/onnx/small.onnx", &o, &g);
            free(copy);
            if (s == LMG_OK) ok++, lmg_graph_free(g);
            else failed++, silent += lmg_last_error()[0] == 0;
            if (flip < 0 && len == n) break;
        }
    }
    CHECK(silent == 0, "%d failures without a message", silent);
    CHECK(failed > 0 && ok > 0, "%d imported, %d refused", ok, failed);
    free(data);
    test_end();
}

int main(void)
{
    if (!mkdtemp(tmpdir)) return 1;
    test_every_op_mapped();
    test_random_refused();
    test_draws_match_ref();
    test_span_draws_match_ref();
    test_symbolic_fallback();
    test_npy();
    test_npz();
    test_import_hostile();
    return test_finish(tmpdir);
}
