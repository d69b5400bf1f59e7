/* test_ops_nn.c — known answers of the nn reference kernels on small hand-checked inputs
 * (softmax, layernorm, masks, embedding, cross-entropy, attention, AdamW) and the errors
 * their shape inference gives for bad graphs. */
#include "test.h"
#include "../backends/backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- a tiny rig: constants in, one node, run on ref, read values ------------------ */

static lmg_shape shp(int rank, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    int64_t d[4] = {d0, d1, d2, d3};
    return lmg_shape_make(rank, d);
}

static int cf32(lmg_graph *g, const char *name, lmg_shape s, const float *data)
{
    return lmg_graph_const(g, name, LMG_DTYPE_F32, s, data);
}

static int ci32(lmg_graph *g, const char *name, lmg_shape s, const int32_t *data)
{
    return lmg_graph_const(g, name, LMG_DTYPE_I32, s, data);
}

/* Run g once on ref at `step`; NULL (with a failed CHECK) on error. */
static lmg_exec *run_ref(lmg_graph *g, uint64_t step)
{
    lmg_exec *e = NULL;
    if (!CHECK(g->status == LMG_OK, "building: %s", lmg_last_error())) return NULL;
    lmg_status s = lmg_backend_ref.init(g, &(lmg_exec_opts){0}, &e);
    if (s == LMG_OK) s = lmg_backend_ref.run(e, step);
    if (!CHECK(s == LMG_OK, "running: %s", lmg_last_error())) {
        lmg_backend_ref.free(e);
        return NULL;
    }
    return e;
}

static void read_f32(lmg_exec *e, const lmg_graph *g, int v, float *out)
{
    size_t n = (size_t)lmg_shape_numel(&g->values[v].shape) * 4;
    CHECK(lmg_backend_ref.read(e, v, out, n) == LMG_OK, "reading '%s': %s", g->values[v].name,
          lmg_last_error());
}

static int close_to(double got, double want, double tol)
{
    if (isinf(want)) return got == want;
    return fabs(got - want) <= tol * fmax(1.0, fabs(want));
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float frand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

/* ---- softmax ------------------------------------------------------------------------ */

static void test_softmax(void)
{
    test_begin("Softmax/LogSoftmax: rows sum to 1, match exp/sum in double, large and -inf rows");
    float x[3 * 5] = {1, 2, 3, 4, 5, 1000, 1001, 999, 1000.5f, -1000, /* two rows */
                      -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    lmg_graph *g = lmg_graph_new("t");
    int xv = cf32(g, "x", shp(2, 3, 5, 0, 0), x);
    int sm = lmg_graph_node(g, LMG_OP_SOFTMAX, "sm", &xv, 1, NULL, 0, NULL, NULL);
    int ls = lmg_graph_node(g, LMG_OP_LOG_SOFTMAX, "ls", &xv, 1, NULL, 0, NULL, NULL);
    lmg_exec *e = run_ref(g, 0);
    if (e) {
        float y[15], l[15];
        read_f32(e, g, sm, y);
        read_f32(e, g, ls, l);
        for (int r = 0; r < 2; r++) {
            double m = -INFINITY, sum = 0, ys = 0;
            for (int j = 0; j < 5; j++) m = fmax(m, x[r * 5 + j]);
            for (int j = 0; j < 5; j++) sum += exp((double)x[r * 5 + j] - m);
            for (int j = 0; j < 5; j++) {
                double want = exp((double)x[r * 5 + j] - m) / sum;
                ys += y[r * 5 + j];
                CHECK(close_to(y[r * 5 + j], want, 1e-6), "softmax[%d][%d] = %.9g, want %.9g", r, j,
                      y[r * 5 + j], want);
                double wl = (double)x[r * 5 + j] - m - log(sum);
                CHECK(close_to(l[r * 5 + j], wl, 1e-6), "logsoftmax[%d][%d] = %.9g, want %.9g", r,
                      j, l[r * 5 + j], wl);
            }
            CHECK(fabs(ys - 1.0) < 1e-6, "row %d sums to %.9g", r, ys);
        }
        for (int j = 0; j < 5; j++)
            CHECK(y[10 + j] == 0.0f && l[10 + j] == -INFINITY, "all -inf row: %g, %g", y[10 + j],
                  l[10 + j]);
    }
    lmg_backend_ref.free(e);
    lmg_graph_free(g);
    test_end();
}

/* ---- layernorm ---------------------------------------------------------------------- */

static void test_layernorm(void)
{
    test_begin("LayerNorm: mean, biased variance, rstd = 1/sqrt(var + eps), C = 1");
    float x[2 * 4] = {1, 2, 3, 4, -3, 0.5f, 7, 2}, gm[4] = {1, 2, 0.5f, -1},
                bt[4] = {0, 1, -1, 0.25f};
    float x1[3] = {5, -2, 0.25f}, g1[1] = {3}, b1[1] = {0.5f};
    lmg_graph *g = lmg_graph_new("t");
    int ins[3] = {cf32(g, "x", shp(2, 2, 4, 0, 0), x), cf32(g, "g", shp(1, 4, 0, 0, 0), gm),
                  cf32(g, "b", shp(1, 4, 0, 0, 0), bt)};
    int ins1[3] = {cf32(g, "x1", shp(2, 3, 1, 0, 0), x1), cf32(g, "g1", shp(1, 1, 0, 0, 0), g1),
                   cf32(g, "b1", shp(1, 1, 0, 0, 0), b1)};
    int o[3], o1[3];
    lmg_attr eps = lmg_attr_float("eps", 1e-3);
    lmg_graph_node(g, LMG_OP_LAYER_NORM, "ln", ins, 3, NULL, 0, NULL, o);
    lmg_graph_node(g, LMG_OP_LAYER_NORM, "ln1", ins1, 3, &eps, 1, NULL, o1);
    CHECK(g->status != LMG_OK ||
              (g->values[o[1]].shape.rank == 1 && g->values[o[1]].shape.dims[0] == 2),
          "mean has shape [2]");
    lmg_exec *e = run_ref(g, 0);
    if (e) {
        float y[8], mean[2], rstd[2], y1[3], mean1[3], rstd1[3];
        read_f32(e, g, o[0], y), read_f32(e, g, o[1], mean), read_f32(e, g, o[2], rstd);
        read_f32(e, g, o1[0], y1), read_f32(e, g, o1[1], mean1), read_f32(e, g, o1[2], rstd1);
        for (int r = 0; r < 2; r++) {
            double m = 0, v = 0;
            for (int j = 0; j < 4; j++) m += x[r * 4 + j] / 4.0;
            for (int j = 0; j < 4; j++) v += (x[r * 4 + j] - m) * (x[r * 4 + j] - m) / 4.0;
            double s = 1.0 / sqrt(v + 1e-5);
            CHECK(close_to(mean[r], m, 1e-7), "mean[%d] = %.9g, want %.9g", r, mean[r], m);
            CHECK(close_to(rstd[r], s, 1e-7), "rstd[%d] = %.9g, want %.9g", r, rstd[r], s);
            for (int j = 0; j < 4; j++) {
                double want = (x[r * 4 + j] - m) * s * gm[j] + bt[j];
                CHECK(close_to(y[r * 4 + j], want, 1e-6), "y[%d][%d] = %.9g, want %.9g", r, j,
                      y[r * 4 + j], want);
            }
        }
        CHECK(close_to(mean[0], 2.5, 0) && close_to(rstd[0], 1.0 / sqrt(1.25 + 1e-5), 1e-7),
              "row {1,2,3,4}: mean 2.5, var 1.25");
        for (int r = 0; r < 3; r++) {
            CHECK(mean1[r] == x1[r], "C=1: mean = x (%g vs %g)", mean1[r], x1[r]);
            CHECK(close_to(rstd1[r], 1.0 / sqrt(1e-3), 1e-7), "C=1: rstd = 1/sqrt(eps) (%g)",
                  rstd1[r]);
            CHECK(y1[r] == b1[0], "C=1: y = beta (%g)", y1[r]);
        }
    }
    lmg_backend_ref.free(e);
    lmg_graph_free(g);
    test_end();
}

/* ---- masks and embedding ------------------------------------------------------------ */

static void test_masks_embedding(void)
{
    test_begin("CausalMask pattern for T < S, PaddingMask, Embedding and its scatter-add");
    float x[2 * 3] = {1, 2, 3, 4, 5, 6}, tab[3 * 2] = {1, 2, 3, 4, 5, 6};
    int32_t ids[5] = {2, 0, 2, 3, -1}, pid[4] = {0, 7, 0, 1};
    float dy[5 * 2] = {1, 10, 2, 20, 3, 30, 4, 40, 5, 50};
    lmg_graph *g = lmg_graph_new("t");
    int xv = cf32(g, "x", shp(2, 2, 3, 0, 0), x);
    lmg_attr fill = lmg_attr_float("fill", -7.0), pad = lmg_attr_int("pad_id", 0);
    int cm = lmg_graph_node(g, LMG_OP_CAUSAL_MASK, "cm", &xv, 1, &fill, 1, NULL, NULL);
    int pv = ci32(g, "pid", shp(1, 4, 0, 0, 0), pid);
    int pm = lmg_graph_node(g, LMG_OP_PADDING_MASK, "pm", &pv, 1, &pad, 1, NULL, NULL);
    int ein[2] = {cf32(g, "tab", shp(2, 3, 2, 0, 0), tab), ci32(g, "ids", shp(1, 5, 0, 0, 0), ids)};
    int em = lmg_graph_node(g, LMG_OP_EMBEDDING, "emb", ein, 2, NULL, 0, NULL, NULL);
    int gin[2] = {cf32(g, "dy", shp(2, 5, 2, 0, 0), dy), ein[1]};
    lmg_attr V = lmg_attr_int("num_embeddings", 3);
    int eg = lmg_graph_node(g, LMG_OP_EMBEDDING_GRAD, "embg", gin, 2, &V, 1, NULL, NULL);
    lmg_exec *e = run_ref(g, 0);
    if (e) {
        float y[6], p[4], emb[10], dt[6];
        read_f32(e, g, cm, y), read_f32(e, g, pm, p), read_f32(e, g, em, emb),
            read_f32(e, g, eg, dt);
        /* T=2, S=3: query 0 sees keys 0..1, query 1 sees 0..2. */
        float wy[6] = {1, 2, -7, 4, 5, 6};
        CHECK(memcmp(y, wy, sizeof y) == 0, "causal: %g %g %g / %g %g %g", y[0], y[1], y[2], y[3],
              y[4], y[5]);
        CHECK(p[0] == 0 && p[1] == 1 && p[2] == 0 && p[3] == 1, "padding: %g %g %g %g", p[0], p[1],
              p[2], p[3]);
        float we[10] = {5, 6, 1, 2, 5, 6, 0, 0, 0, 0};
        CHECK(memcmp(emb, we, sizeof emb) == 0, "embedding rows (ids 3 and -1 give zeros)");
        float wd[6] = {2, 20, 0, 0, 4, 40};
        CHECK(memcmp(dt, wd, sizeof dt) == 0, "scatter-add: %g %g %g %g %g %g", dt[0], dt[1], dt[2],
              dt[3], dt[4], dt[5]);
    }
    lmg_backend_ref.free(e);
    lmg_graph_free(g);
    test_end();

    test_begin("EmbeddingGrad sums each row's dy in double in position order, bit for bit");
    enum { N = 300, D = 5, VV = 7 };
    static float gdy[N * D];
    static int32_t gid[N];
    double want[VV * D] = {0};
    uint32_t h = 99;
    for (int i = 0; i < N; i++) {
        h = h * 1664525u + 1013904223u;
        gid[i] = (int32_t)(h >> 16) % (VV + 2) - 1; /* -1 and VV are out of range */
        for (int d = 0; d < D; d++) {
            h = h * 1664525u + 1013904223u;
            gdy[i * D + d] = ((float)(h >> 8) / 16777216.0f - 0.5f) * (h & 4 ? 1e6f : 1e-4f);
        }
    }
    for (int i = 0; i < N; i++)
        if (gid[i] >= 0 && gid[i] < VV)
            for (int d = 0; d < D; d++) want[gid[i] * D + d] += gdy[i * D + d];
    g = lmg_graph_new("t");
    int gi[2] = {cf32(g, "dy", shp(2, N, D, 0, 0), gdy), ci32(g, "ids", shp(1, N, 0, 0, 0), gid)};
    lmg_attr nv = lmg_attr_int("num_embeddings", VV);
    eg = lmg_graph_node(g, LMG_OP_EMBEDDING_GRAD, "embg", gi, 2, &nv, 1, NULL, NULL);
    e = run_ref(g, 0);
    if (e) {
        float got[VV * D];
        read_f32(e, g, eg, got);
        int bad = 0;
        for (int k = 0; k < VV * D; k++) bad += got[k] != (float)want[k];
        CHECK(bad == 0, "%d of %d elements differ", bad, VV * D);
    }
    lmg_backend_ref.free(e);
    lmg_graph_free(g);
    test_end();
}

/* ---- cross-entropy ------------------------------------------------------------------ */

static double lse_row(const float *x, int V)
{
    double m = -INFINITY, s = 0;
    for (int j = 0; j < V; j++) m = fmax(m, x[j]);
    for (int j = 0; j < V; j++) s += exp(x[j] - m);
    return m + log(s);
}

static void test_cross_entropy(void)
{
    test_begin("CrossEntropy: hand computation, ignore_index, weights, out-of-range, all ignored");
    float x[4 * 4] = {0.5f, -1, 2, 0, 3, 1, 0, -2, -0.5f, 0.25f, 1.5f, 1, 9, 0, 0, 0};
    int32_t t[4] = {1, -100, 3, 4}; /* 4 is outside [0, 4): not counted */
    int32_t none[4] = {-100, -100, -100, -100};
    float w[4] = {2, 5, 0.5f, 7};
    lmg_graph *g = lmg_graph_new("t");
    int xv = cf32(g, "x", shp(2, 4, 4, 0, 0), x), tv = ci32(g, "t", shp(1, 4, 0, 0, 0), t);
    int nv = ci32(g, "none", shp(1, 4, 0, 0, 0), none), wv = cf32(g, "w", shp(1, 4, 0, 0, 0), w);
    int l0 = lmg_graph_node(g, LMG_OP_CROSS_ENTROPY, "ce", (int[]){xv, tv}, 2, NULL, 0, NULL, NULL);
    int l1 =
        lmg_graph_node(g, LMG_OP_CROSS_ENTROPY, "cew", (int[]){xv, tv, wv}, 3, NULL, 0, NULL, NULL);
    int l2 =
        lmg_graph_node(g, LMG_OP_CROSS_ENTROPY, "cen", (int[]){xv, nv}, 2, NULL, 0, NULL, NULL);
    float one = 1.5f;
    int dl = cf32(g, "dl", lmg_shape_make(0, NULL), &one);
    int d1 = lmg_graph_node(g, LMG_OP_CROSS_ENTROPY_GRAD, "ceg", (int[]){dl, xv, tv, wv}, 4, NULL,
                            0, NULL, NULL);
    int d2 = lmg_graph_node(g, LMG_OP_CROSS_ENTROPY_GRAD, "cegn", (int[]){dl, xv, nv}, 3, NULL, 0,
                            NULL, NULL);
    lmg_exec *e = run_ref(g, 0);
    if (e) {
        float a, b, c, gd[16], gn[16];
        read_f32(e, g, l0, &a), read_f32(e, g, l1, &b), read_f32(e, g, l2, &c);
        read_f32(e, g, d1, gd), read_f32(e, g, d2, gn);
        double r0 = lse_row(x, 4) - x[1], r2 = lse_row(x + 8, 4) - x[8 + 3];
        CHECK(close_to(a, (r0 + r2) / 2, 1e-6), "mean loss %.9g, want %.9g", a, (r0 + r2) / 2);
        CHECK(close_to(b, (2 * r0 + 0.5 * r2) / 2.5, 1e-6), "weighted loss %.9g, want %.9g", b,
              (2 * r0 + 0.5 * r2) / 2.5);
        CHECK(c == 0.0f, "all ignored: loss %g", c);
        int bad = 0;
        for (int i = 0; i < 4; i++) {
            double wi = i == 0 ? 2 : i == 2 ? 0.5 : 0, lse = lse_row(x + 4 * i, 4);
            for (int j = 0; j < 4; j++) {
                double want = 1.5 * wi / 2.5 * (exp(x[4 * i + j] - lse) - (j == t[i]));
                bad += !close_to(gd[4 * i + j], want, 1e-6);
            }
        }
        CHECK(bad == 0, "%d dlogits differ from dloss * w * (softmax - onehot) / sum w", bad);
        for (int j = 0; j < 16; j++) bad += gn[j] != 0.0f;
        CHECK(bad == 0, "all ignored: dlogits are not all 0");
    }
    lmg_backend_ref.free(e);
    lmg_graph_free(g);
    test_end();
}

/* ---- attention ---------------------------------------------------------------------- */

enum { AB = 2, AH = 2, AT = 4, AS = 3, AD = 5 };

/* The unfused reference: softmax(q k^T * scale + masks) v in double, written in the test. */
static void attention_unfused(const float *q, const float *k, const float *v, const float *mask,
                              int causal, double scale, double *out, double *lse)
{
    for (int b = 0; b < AB; b++)
        for (int h = 0; h < AH; h++)
            for (int i = 0; i < AT; i++) {
                double s[AS], m = -INFINITY, sum = 0;
                const float *qi = q + ((b * AH + h) * AT + i) * AD;
                for (int j = 0; j < AS; j++) {
                    const float *kj = k + ((b * AH + h) * AS + j) * AD;
                    s[j] = 0;
                    for (int d = 0; d < AD; d++) s[j] += (double)qi[d] * kj[d];
                    s[j] *= scale;
                    if ((causal && j > i + AS - AT) || (mask && mask[b * AS + j] == 0))
                        s[j] = -INFINITY;
                    m = fmax(m, s[j]);
                }
                double *o = out + ((b * AH + h) * AT + i) * AD;
                for (int d = 0; d < AD; d++) o[d] = 0;
                if (m == -INFINITY) {
                    lse[(b * AH + h) * AT + i] = -INFINITY;
                    continue;
                }
                for (int j = 0; j < AS; j++) sum += exp(s[j] - m);
                for (int j = 0; j < AS; j++)
                    for (int d = 0; d < AD; d++)
                        o[d] += exp(s[j] - m) / sum * v[((b * AH + h) * AS + j) * AD + d];
                lse[(b * AH + h) * AT + i] = m + log(sum);
            }
}

static void test_attention(void)
{
    test_begin(
        "Attention equals unfused softmax(q k^T scale) v: plain, causal T > S, key mask, scale");
    float q[AB * AH * AT * AD], k[AB * AH * AS * AD], v[AB * AH * AS * AD];
    for (size_t i = 0; i < sizeof q / sizeof *q; i++) q[i] = 2 * frand();
    for (size_t i = 0; i < sizeof k / sizeof *k; i++) k[i] = 2 * frand(), v[i] = frand();
    float mask[AB * AS] = {1, 0, 1, 0, 0, 1}; /* batch 1 keeps key 2 only */
    lmg_graph *g = lmg_graph_new("t");
    int qv = cf32(g, "q", shp(4, AB, AH, AT, AD), q), kv = cf32(g, "k", shp(4, AB, AH, AS, AD), k);
    int vv = cf32(g, "v", shp(4, AB, AH, AS, AD), v), mv = cf32(g, "m", shp(2, AB, AS, 0, 0), mask);
    lmg_attr causal = lmg_attr_int("causal", 1),
             sc[2] = {lmg_attr_float("scale", 0.3), lmg_attr_int("causal", 1)};
    int o[4][2];
    lmg_graph_node(g, LMG_OP_ATTENTION, "plain", (int[]){qv, kv, vv}, 3, NULL, 0, NULL, o[0]);
    lmg_graph_node(g, LMG_OP_ATTENTION, "causal", (int[]){qv, kv, vv}, 3, &causal, 1, NULL, o[1]);
    lmg_graph_node(g, LMG_OP_ATTENTION, "masked", (int[]){qv, kv, vv, mv}, 4, NULL, 0, NULL, o[2]);
    lmg_graph_node(g, LMG_OP_ATTENTION, "both", (int[]){qv, kv, vv, mv}, 4, sc, 2, NULL, o[3]);
    /* Backward of the causal one: the query that sees no key must get dq = 0, not NaN. */
    float dout[AB * AH * AT * AD];
    for (size_t i = 0; i < sizeof dout / sizeof *dout; i++) dout[i] = frand();
    int dov = cf32(g, "dout", shp(4, AB, AH, AT, AD), dout), gr[3];
    lmg_graph_node(g, LMG_OP_ATTENTION_GRAD, "causal_grad",
                   (int[]){dov, qv, kv, vv, o[1][0], o[1][1]}, 6, &causal, 1, NULL, gr);
    lmg_exec *e = run_ref(g, 0);
    if (e) {
        static const char *const names[4] = {"plain", "causal T>S", "key mask",
                                             "mask+causal+scale"};
        for (int c = 0; c < 4; c++) {
            float out[AB * AH * AT * AD], lse[AB * AH * AT];
            double wo[AB * AH * AT * AD], wl[AB * AH * AT];
            read_f32(e, g, o[c][0], out), read_f32(e, g, o[c][1], lse);
            attention_unfused(q, k, v, c >= 2 ? mask : NULL, c == 1 || c == 3,
                              c == 3 ? 0.3 : 1.0 / sqrt(AD), wo, wl);
            int bad = 0, dead = 0;
            for (int i = 0; i < AB * AH * AT * AD; i++) bad += !close_to(out[i], wo[i], 1e-5);
            for (int i = 0; i < AB * AH * AT; i++) {
                bad += !close_to(lse[i], wl[i], 1e-5);
                dead += isinf(wl[i]) != 0;
            }
            CHECK(bad == 0, "%s: %d values differ from the unfused computation", names[c], bad);
            if (c == 1) CHECK(dead == AB * AH, "causal T=4 > S=3: %d queries see no key", dead);
        }
        float dq[AB * AH * AT * AD];
        read_f32(e, g, gr[0], dq);
        int bad = 0;
        for (int b = 0; b < AB * AH; b++)
            for (int d = 0; d < AD; d++) bad += dq[b * AT * AD + d] != 0.0f; /* query 0 */
        for (size_t i = 0; i < sizeof dq / sizeof *dq; i++) bad += isnan(dq[i]);
        CHECK(bad == 0, "AttentionGrad: a query without keys gets dq = 0 (%d bad)", bad);
    }
    lmg_backend_ref.free(e);
    lmg_graph_free(g);
    test_end();
}

/* ---- AdamW -------------------------------------------------------------------------- */

static void test_adamw(void)
{
    test_begin("AdamW: one step in place equals the formula in double; step 0 is refused");
    enum { N = 6 };
    float p[N] = {0.5f, -1, 2, 0, 0.125f, -3}, gr[N] = {0.1f, -0.2f, 0, 3, -1, 0.01f};
    float m[N] = {0.01f, 0, -0.1f, 0.2f, 0, 0.05f}, v[N] = {0.001f, 0, 0.01f, 0.5f, 0.1f, 0};
    float lr = 0.01f, gs = 0.5f;
    int32_t step = 3;
    lmg_graph *g = lmg_graph_new("t");
    int pv = lmg_graph_param(g, "p", LMG_DTYPE_F32, shp(1, N, 0, 0, 0), p);
    int ins[7] = {pv,
                  cf32(g, "g", shp(1, N, 0, 0, 0), gr),
                  cf32(g, "m", shp(1, N, 0, 0, 0), m),
                  cf32(g, "v", shp(1, N, 0, 0, 0), v),
                  cf32(g, "lr", lmg_shape_make(0, NULL), &lr),
                  ci32(g, "step", lmg_shape_make(0, NULL), &step),
                  cf32(g, "gs", lmg_shape_make(0, NULL), &gs)};
    lmg_attr a[3] = {lmg_attr_float("weight_decay", 0.1), lmg_attr_float("beta1", 0.85),
                     lmg_attr_float("eps", 1e-6)};
    int o[3];
    lmg_graph_node(g, LMG_OP_ADAMW, "adamw", ins, 7, a, 3, NULL, o);
    lmg_exec *e = run_ref(g, 0);
    if (e) {
        float p2[N], m2[N], v2[N], pin[N];
        read_f32(e, g, o[0], p2), read_f32(e, g, o[1], m2), read_f32(e, g, o[2], v2);
        read_f32(e, g, pv, pin);
        double b1 = 0.85, b2 = 0.999;
        int bad = 0;
        for (int i = 0; i < N; i++) {
            double gi = (double)gr[i] * gs, mi = b1 * m[i] + (1 - b1) * gi;
            double vi = b2 * v[i] + (1 - b2) * gi * gi;
            double mh = mi / (1 - pow(b1, 3)), vh = vi / (1 - pow(b2, 3));
            double pi = p[i] - (double)lr * (mh / (sqrt(vh) + 1e-6) + 0.1 * p[i]);
            bad += !close_to(p2[i], pi, 1e-6) + !close_to(m2[i], mi, 1e-6) +
                   !close_to(v2[i], vi, 1e-6);
            if (i == 3) CHECK(close_to(p2[i], pi, 1e-6), "param[3] = %.9g, want %.9g", p2[i], pi);
        }
        CHECK(bad == 0, "%d values differ from the formula", bad);
        CHECK(memcmp(pin, p2, sizeof pin) == 0, "the update is not in place");
    }
    lmg_backend_ref.free(e);
    lmg_graph_free(g);

    step = 0;
    g = lmg_graph_new("t0");
    int ins0[7] = {lmg_graph_param(g, "p", LMG_DTYPE_F32, shp(1, N, 0, 0, 0), p),
                   cf32(g, "g", shp(1, N, 0, 0, 0), gr),
                   cf32(g, "m", shp(1, N, 0, 0, 0), m),
                   cf32(g, "v", shp(1, N, 0, 0, 0), v),
                   cf32(g, "lr", lmg_shape_make(0, NULL), &lr),
                   ci32(g, "step", lmg_shape_make(0, NULL), &step),
                   cf32(g, "gs", lmg_shape_make(0, NULL), &gs)};
    lmg_graph_node(g, LMG_OP_ADAMW, "adamw_zero", ins0, 7, NULL, 0, NULL, NULL);
    lmg_status s = lmg_backend_ref.init(g, &(lmg_exec_opts){0}, &e);
    if (s == LMG_OK) s = lmg_backend_ref.run(e, 0);
    CHECK(s == LMG_ERR_DATA && strstr(lmg_last_error(), "adamw_zero"), "step 0: status %d, '%s'", s,
          lmg_last_error());
    lmg_backend_ref.free(e);
    lmg_graph_free(g);
    test_end();
}

/* ---- inference errors --------------------------------------------------------------- */

/* Build one node in a fresh graph over inputs of the given dtypes/shapes; expect
 * LMG_ERR_INVALID whose message names the node and contains `needle`. */
static void expect_invalid(const char *what, lmg_op op, int n_in, const lmg_dtype *dt,
                           const lmg_shape *sh, const lmg_attr *a, int na, const char *needle)
{
    lmg_graph *g = lmg_graph_new("t");
    int ins[8];
    for (int k = 0; k < n_in; k++) {
        char name[16];
        snprintf(name, sizeof name, "in%d", k);
        ins[k] = lmg_graph_input(g, name, dt[k], sh[k]);
    }
    lmg_error_clear();
    int r = lmg_graph_node(g, op, "bad_node", ins, n_in, a, na, NULL, NULL);
    CHECK(r < 0 && g->status == LMG_ERR_INVALID, "%s: accepted (status %d)", what, g->status);
    CHECK(strstr(lmg_last_error(), "bad_node") && strstr(lmg_last_error(), lmg_op_name(op)),
          "%s: message does not name the node and op: '%s'", what, lmg_last_error());
    CHECK(!needle || strstr(lmg_last_error(), needle), "%s: message lacks '%s': '%s'", what, needle,
          lmg_last_error());
    lmg_graph_free(g);
}

static void test_errors(void)
{
    test_begin("shape inference refuses bad graphs with LMG_ERR_INVALID naming node and value");
    const lmg_dtype F = LMG_DTYPE_F32, I = LMG_DTYPE_I32;
    lmg_shape s34 = shp(2, 3, 4, 0, 0), s5 = shp(1, 5, 0, 0, 0), s4 = shp(1, 4, 0, 0, 0);
    lmg_shape s3 = shp(1, 3, 0, 0, 0);
    expect_invalid("LayerNorm gamma [5] for C=4", LMG_OP_LAYER_NORM, 3, (lmg_dtype[]){F, F, F},
                   (lmg_shape[]){s34, s5, s4}, NULL, 0, "in1");
    expect_invalid("LayerNorm beta i32", LMG_OP_LAYER_NORM, 3, (lmg_dtype[]){F, F, I},
                   (lmg_shape[]){s34, s4, s4}, NULL, 0, "in2");
    expect_invalid("LayerNorm negative eps", LMG_OP_LAYER_NORM, 3, (lmg_dtype[]){F, F, F},
                   (lmg_shape[]){s34, s4, s4}, (lmg_attr[]){lmg_attr_float("eps", -1)}, 1, "eps");
    lmg_shape q = shp(4, 1, 2, 3, 4), k5 = shp(4, 1, 2, 6, 5), k4 = shp(4, 1, 2, 6, 4);
    expect_invalid("Attention head dim 4 vs 5", LMG_OP_ATTENTION, 3, (lmg_dtype[]){F, F, F},
                   (lmg_shape[]){q, k5, k5}, NULL, 0, "in1");
    expect_invalid("Attention v length differs", LMG_OP_ATTENTION, 3, (lmg_dtype[]){F, F, F},
                   (lmg_shape[]){q, k4, shp(4, 1, 2, 5, 4)}, NULL, 0, "in2");
    expect_invalid("Attention key_mask [1,5] for S=6", LMG_OP_ATTENTION, 4,
                   (lmg_dtype[]){F, F, F, F}, (lmg_shape[]){q, k4, k4, shp(2, 1, 5, 0, 0)}, NULL, 0,
                   "in3");
    expect_invalid("Attention rank 3 q", LMG_OP_ATTENTION, 3, (lmg_dtype[]){F, F, F},
                   (lmg_shape[]){s34, k4, k4}, NULL, 0, "in0");
    expect_invalid("CrossEntropy targets [4] for logits [3,4]", LMG_OP_CROSS_ENTROPY, 2,
                   (lmg_dtype[]){F, I}, (lmg_shape[]){s34, s4}, NULL, 0, "in1");
    expect_invalid("CrossEntropy f32 targets", LMG_OP_CROSS_ENTROPY, 2, (lmg_dtype[]){F, F},
                   (lmg_shape[]){s34, s3}, NULL, 0, "in1");
    expect_invalid("CrossEntropy weights [4]", LMG_OP_CROSS_ENTROPY, 3, (lmg_dtype[]){F, I, F},
                   (lmg_shape[]){s34, s3, s4}, NULL, 0, "in2");
    expect_invalid("Dropout without key", LMG_OP_DROPOUT, 1, (lmg_dtype[]){F}, (lmg_shape[]){s34},
                   (lmg_attr[]){lmg_attr_float("p", 0.1)}, 1, "key");
    expect_invalid("Bernoulli without key", LMG_OP_BERNOULLI, 1, (lmg_dtype[]){F},
                   (lmg_shape[]){s34}, (lmg_attr[]){lmg_attr_float("p", 0.1)}, 1, "key");
    expect_invalid("Dropout p = 1", LMG_OP_DROPOUT, 1, (lmg_dtype[]){F}, (lmg_shape[]){s34},
                   (lmg_attr[]){lmg_attr_float("p", 1.0), lmg_attr_int("key", 1)}, 2, "p = 1");
    expect_invalid("Bernoulli p = 1.5", LMG_OP_BERNOULLI, 1, (lmg_dtype[]){F}, (lmg_shape[]){s34},
                   (lmg_attr[]){lmg_attr_float("p", 1.5), lmg_attr_int("key", 1)}, 2, "p = 1.5");
    expect_invalid("Dropout key -1", LMG_OP_DROPOUT, 1, (lmg_dtype[]){F}, (lmg_shape[]){s34},
                   (lmg_attr[]){lmg_attr_float("p", 0.5), lmg_attr_int("key", -1)}, 2, "key");
    expect_invalid(
        "RandomInt low >= high", LMG_OP_RANDOM_INT, 1, (lmg_dtype[]){F}, (lmg_shape[]){s3},
        (lmg_attr[]){lmg_attr_int("low", 4), lmg_attr_int("high", 4), lmg_attr_int("key", 1)}, 3,
        "low");
    expect_invalid(
        "MlmCorrupt mask_id >= vocab", LMG_OP_MLM_CORRUPT, 1, (lmg_dtype[]){I}, (lmg_shape[]){s3},
        (lmg_attr[]){lmg_attr_int("mask_id", 9), lmg_attr_int("vocab", 9), lmg_attr_int("key", 1)},
        3, "mask_id");
    expect_invalid("MlmCorrupt without vocab", LMG_OP_MLM_CORRUPT, 1, (lmg_dtype[]){I},
                   (lmg_shape[]){s3},
                   (lmg_attr[]){lmg_attr_int("mask_id", 1), lmg_attr_int("key", 1)}, 2, "vocab");
    expect_invalid("Softmax unknown attribute", LMG_OP_SOFTMAX, 1, (lmg_dtype[]){F},
                   (lmg_shape[]){s34}, (lmg_attr[]){lmg_attr_int("axis", 0)}, 1, "axis");
    expect_invalid("SoftmaxGrad shapes differ", LMG_OP_SOFTMAX_GRAD, 2, (lmg_dtype[]){F, F},
                   (lmg_shape[]){s34, shp(2, 4, 3, 0, 0)}, NULL, 0, "in0");
    expect_invalid("EmbeddingGrad without num_embeddings", LMG_OP_EMBEDDING_GRAD, 2,
                   (lmg_dtype[]){F, I}, (lmg_shape[]){s34, s3}, NULL, 0, "num_embeddings");
    expect_invalid("EmbeddingGrad of 2^80 elements", LMG_OP_EMBEDDING_GRAD, 2, (lmg_dtype[]){F, I},
                   (lmg_shape[]){shp(2, 1, (int64_t)1 << 40, 0, 0), shp(1, 1, 0, 0, 0)},
                   (lmg_attr[]){lmg_attr_int("num_embeddings", (int64_t)1 << 40)}, 1, "2^40");
    /* 0.99999999 < 1, yet it rounds to 1.0f, the p the kernels compare with. */
    expect_invalid("Dropout p rounding to 1.0f", LMG_OP_DROPOUT, 1, (lmg_dtype[]){F},
                   (lmg_shape[]){s34},
                   (lmg_attr[]){lmg_attr_float("p", 0.99999999), lmg_attr_int("key", 1)}, 2, "p");
    expect_invalid("Embedding table rank 1", LMG_OP_EMBEDDING, 2, (lmg_dtype[]){F, I},
                   (lmg_shape[]){s5, s3}, NULL, 0, "in0");
    expect_invalid("CausalMask rank 1", LMG_OP_CAUSAL_MASK, 1, (lmg_dtype[]){F}, (lmg_shape[]){s5},
                   NULL, 0, "in0");
    expect_invalid("PaddingMask without pad_id", LMG_OP_PADDING_MASK, 1, (lmg_dtype[]){I},
                   (lmg_shape[]){s5}, NULL, 0, "pad_id");
    lmg_shape sc = lmg_shape_make(0, NULL);
    expect_invalid("AdamW beta1 = 1", LMG_OP_ADAMW, 7, (lmg_dtype[]){F, F, F, F, F, I, F},
                   (lmg_shape[]){s5, s5, s5, s5, sc, sc, sc},
                   (lmg_attr[]){lmg_attr_float("beta1", 1.0)}, 1, "beta1");
    expect_invalid("AdamW m shape", LMG_OP_ADAMW, 7, (lmg_dtype[]){F, F, F, F, F, I, F},
                   (lmg_shape[]){s5, s5, s4, s5, sc, sc, sc}, NULL, 0, "in2");
    expect_invalid("AdamW f32 step", LMG_OP_ADAMW, 7, (lmg_dtype[]){F, F, F, F, F, F, F},
                   (lmg_shape[]){s5, s5, s5, s5, sc, sc, sc}, NULL, 0, "in5");
    expect_invalid("AdamW lr [2]", LMG_OP_ADAMW, 7, (lmg_dtype[]){F, F, F, F, F, I, F},
                   (lmg_shape[]){s5, s5, s5, s5, shp(1, 2, 0, 0, 0), sc, sc}, NULL, 0, "in4");
    test_end();

    /* A node appended without inference (as a loader does) reaches the rules unverified: an
     * omitted required input is an error, never a dereference. */
    test_begin("every rule reports an omitted required input instead of reading it");
    int bad = 0;
    for (int op = 0; op < LMG_OP_COUNT; op++) {
        const lmg_op_info *info = lmg_op_get((lmg_op)op);
        lmg_graph *g = lmg_graph_new("t");
        int x = lmg_graph_input(g, "x", LMG_DTYPE_F32, s34);
        int ins[64], outs[8];
        for (int k = 0; k < info->min_in; k++) ins[k] = k == 0 ? -1 : x;
        for (int k = 0; k < info->n_out; k++) {
            char name[16];
            snprintf(name, sizeof name, "y%d", k);
            outs[k] = lmg_graph_add_value(g, name, LMG_VALUE_NODE, LMG_DTYPE_UNDEFINED, sc);
        }
        /* Attributes that pass, so the rules that need them reach their inputs. */
        lmg_attr at[3] = {lmg_attr_int("key", 1), lmg_attr_float("p", 0.5), lmg_attr_int("low", 0)};
        int na = 0;
        if (op == LMG_OP_BERNOULLI || op == LMG_OP_DROPOUT) na = 2;
        if (op == LMG_OP_RANDOM_INT) {
            at[1] = lmg_attr_int("high", 9);
            na = 3;
        }
        lmg_status s = lmg_graph_append_node(g, "holey", (lmg_op)op, ins, info->min_in, outs,
                                             info->n_out, at, na);
        lmg_dtype t[8];
        lmg_shape sh[8];
        lmg_error_clear();
        if (s == LMG_OK) s = info->infer(g, &g->nodes[g->n_nodes - 1], t, sh);
        if (s != LMG_ERR_INVALID || !strstr(lmg_last_error(), "holey")) {
            printf("#   %s: status %d '%s'\n", info->name, s, lmg_last_error());
            bad++;
        }
        lmg_graph_free(g);
    }
    CHECK(bad == 0, "%d ops accepted or misreported a missing input 0", bad);
    test_end();
}

/* ---- gradient rules: structure ------------------------------------------------------ */

static void test_grad_rules(void)
{
    test_begin("gradient rules emit the documented backward ops with the forward's attributes");
    lmg_graph *g = lmg_graph_new("t");
    int64_t d[2] = {4, 6};
    int x = lmg_graph_param(g, "x", LMG_DTYPE_F32, lmg_shape_make(2, d), NULL);
    lmg_attr a[3] = {lmg_attr_float("p", 0.25), lmg_attr_int("seed", 77),
                     lmg_attr_int("key", lmg_random_key("drop"))};
    int y = lmg_graph_node(g, LMG_OP_DROPOUT, "drop", &x, 1, a, 3, NULL, NULL);
    int dy = lmg_graph_input(g, "dy", LMG_DTYPE_F32, lmg_shape_make(2, d));
    int dx = -1;
    unsigned char need = 1;
    lmg_grad_ctx c = {g, g->values[y].producer, &dy, &dx, &need};
    lmg_status s = lmg_op_get(LMG_OP_DROPOUT)->grad(&c);
    if (CHECK(s == LMG_OK && dx >= 0, "Dropout grad: %s", lmg_last_error())) {
        const lmg_node *n = &g->nodes[g->values[dx].producer];
        CHECK(n->op == LMG_OP_DROPOUT && n->in[0] == dy, "Dropout's gradient is Dropout(dy)");
        CHECK(lmg_node_attr_float(n, "p", 0) == 0.25 && lmg_node_attr_int(n, "seed", 0) == 77 &&
                  lmg_node_attr_int(n, "key", 0) == lmg_random_key("drop"),
              "same p, seed and key");
    }
    need = 0;
    dx = -1;
    s = lmg_op_get(LMG_OP_DROPOUT)->grad(&c);
    CHECK(s == LMG_OK && dx == -1, "no gradient computed when not needed");
    need = 1;
    int neg = -1;
    c.dy = &neg;
    s = lmg_op_get(LMG_OP_DROPOUT)->grad(&c);
    CHECK(s == LMG_OK && dx == -1, "no gradient when none flows (dy = -1)");

    /* CrossEntropy refuses a wanted weights gradient instead of giving a wrong one. */
    int64_t l[2] = {3, 5}, t3 = 3;
    int lg = lmg_graph_param(g, "lg", LMG_DTYPE_F32, lmg_shape_make(2, l), NULL);
    int tg = lmg_graph_input(g, "tg", LMG_DTYPE_I32, lmg_shape_make(1, &t3));
    int wg = lmg_graph_param(g, "wg", LMG_DTYPE_F32, lmg_shape_make(1, &t3), NULL);
    int ce =
        lmg_graph_node(g, LMG_OP_CROSS_ENTROPY, "ce", (int[]){lg, tg, wg}, 3, NULL, 0, NULL, NULL);
    int dl = lmg_graph_scalar(g, 1.0f), dxs[3] = {-1, -1, -1};
    unsigned char needs[3] = {1, 0, 1};
    lmg_grad_ctx cc = {g, g->values[ce].producer, &dl, dxs, needs};
    s = lmg_op_get(LMG_OP_CROSS_ENTROPY)->grad(&cc);
    CHECK(s == LMG_ERR_UNSUPPORTED && strstr(lmg_last_error(), "ce") &&
              strstr(lmg_last_error(), "wg"),
          "weights gradient: status %d '%s'", s, lmg_last_error());
    needs[2] = 0;
    s = lmg_op_get(LMG_OP_CROSS_ENTROPY)->grad(&cc);
    CHECK(s == LMG_OK && dxs[0] >= 0 && dxs[2] == -1 &&
              g->nodes[g->values[dxs[0]].producer].op == LMG_OP_CROSS_ENTROPY_GRAD &&
              g->nodes[g->values[dxs[0]].producer].n_in == 4,
          "logits gradient via CrossEntropyGrad");
    lmg_graph_free(g);
    test_end();
}

/* ---- gradients through the usual outputs only ---------------------------------------- */

/* The case tables put every output into the loss; training graphs use only y of LayerNorm
 * and out of Attention (mean, rstd, lse get no gradient). These build such losses:
 * ReduceSum(out * W) over params p[], and return the loss value. */
typedef int (*loss_fn)(lmg_graph *g, const int *p);

static int weighted(lmg_graph *g, int y)
{
    lmg_shape s = g->values[y].shape;
    int64_t n = lmg_shape_numel(&s);
    float *w = malloc((size_t)n * sizeof *w);
    for (int64_t i = 0; i < n; i++) w[i] = (float)(0.5 + 0.37 * (double)((i * 7) % 11) - 2.0);
    int wv = lmg_graph_const(g, "w", LMG_DTYPE_F32, s, w);
    free(w);
    return lmg_reduce_sum(g, lmg_mul(g, y, wv), 0, NULL, 0);
}

static int loss_layernorm(lmg_graph *g, const int *p)
{
    int o[3];
    lmg_graph_node(g, LMG_OP_LAYER_NORM, "ln", p, 3, NULL, 0, NULL, o);
    return weighted(g, o[0]);
}

static int loss_attention(lmg_graph *g, const int *p)
{
    float mask[2 * 4] = {1, 1, 0, 1, 1, 0, 1, 1};
    int m = cf32(g, "mask", shp(2, 2, 4, 0, 0), mask);
    lmg_attr a = lmg_attr_int("causal", 1);
    int o[2];
    lmg_graph_node(g, LMG_OP_ATTENTION, "attn", (int[]){p[0], p[1], p[2], m}, 4, &a, 1, NULL, o);
    return weighted(g, o[0]);
}

static lmg_graph *loss_graph(loss_fn f, int np, const lmg_shape *sh, float *const *data)
{
    lmg_graph *g = lmg_graph_new("t");
    int p[8];
    for (int k = 0; k < np; k++) {
        char name[8];
        snprintf(name, sizeof name, "p%d", k);
        p[k] = lmg_graph_param(g, name, LMG_DTYPE_F32, sh[k], data[k]);
    }
    int l = f(g, p);
    if (g->status == LMG_OK) lmg_graph_rename(g, l, "loss");
    if (g->status == LMG_OK) lmg_graph_add_output(g, l);
    return g;
}

static double run_loss(lmg_exec *e, const lmg_graph *g)
{
    float l = NAN;
    if (lmg_backend_ref.run(e, 0) != LMG_OK) return NAN;
    lmg_backend_ref.read(e, lmg_graph_find(g, "loss"), &l, sizeof l);
    return l;
}

/* Autodiff's gradients of every parameter against central differences in double. */
static void check_grads(const char *what, loss_fn f, int np, const lmg_shape *sh,
                        float *const *data)
{
    lmg_graph *fg = loss_graph(f, np, sh, data), *tg = loss_graph(f, np, sh, data);
    lmg_exec *fe = NULL, *te = NULL;
    lmg_status s = fg->status != LMG_OK ? fg->status : tg->status;
    if (s == LMG_OK) s = lmg_autodiff(tg, "loss");
    if (s == LMG_OK) s = lmg_backend_ref.init(tg, &(lmg_exec_opts){0}, &te);
    if (s == LMG_OK) s = lmg_backend_ref.run(te, 0);
    if (s == LMG_OK) s = lmg_backend_ref.init(fg, &(lmg_exec_opts){0}, &fe);
    if (!CHECK(s == LMG_OK, "%s: %s", what, lmg_last_error())) goto done;
    for (int k = 0; k < np; k++) {
        int64_t n = lmg_shape_numel(&sh[k]);
        size_t bytes = (size_t)n * sizeof(float);
        char name[16];
        snprintf(name, sizeof name, "grad/p%d", k);
        float *ga = malloc(bytes), *x = malloc(bytes);
        memcpy(x, data[k], bytes);
        int gv = lmg_graph_find(tg, name), pv = lmg_graph_find(fg, name + 5);
        if (!CHECK(gv >= 0 && lmg_backend_ref.read(te, gv, ga, bytes) == LMG_OK, "%s: no %s",
                   what, name)) {
            free(ga), free(x);
            continue;
        }
        int bad = 0;
        for (int64_t i = 0; i < n; i++) {
            float x0 = x[i], xp = x0 + 1e-3f, xm = x0 - 1e-3f;
            x[i] = xp;
            lmg_backend_ref.write(fe, pv, x, bytes);
            double fp = run_loss(fe, fg);
            x[i] = xm;
            lmg_backend_ref.write(fe, pv, x, bytes);
            double fm = run_loss(fe, fg);
            x[i] = x0;
            double num = (fp - fm) / ((double)xp - (double)xm);
            if (!(fabs(ga[i] - num) <= 2e-3 + 2e-2 * fabs(num)) && bad++ < 3)
                CHECK(0, "%s: d loss / d p%d[%lld] = %.6g, central difference %.6g", what, k,
                      (long long)i, ga[i], num);
        }
        lmg_backend_ref.write(fe, pv, data[k], bytes);
        CHECK(bad == 0, "%s: %d of %lld elements of p%d differ", what, bad, (long long)n, k);
        free(ga), free(x);
    }
done:
    lmg_backend_ref.free(fe);
    lmg_backend_ref.free(te);
    lmg_graph_free(fg);
    lmg_graph_free(tg);
}

static void test_grad_usual_outputs(void)
{
    test_begin("LayerNorm y-only and Attention out-only losses: autodiff = central differences");
    float x[3 * 7], gm[7], bt[7];
    for (int i = 0; i < 21; i++) x[i] = 2 * frand();
    for (int i = 0; i < 7; i++) gm[i] = 1 + 0.5f * frand(), bt[i] = frand();
    check_grads("LayerNorm", loss_layernorm, 3,
                (lmg_shape[]){shp(2, 3, 7, 0, 0), shp(1, 7, 0, 0, 0), shp(1, 7, 0, 0, 0)},
                (float *[]){x, gm, bt});
    float q[2 * 1 * 3 * 2], k[2 * 1 * 4 * 2], v[2 * 1 * 4 * 2];
    for (int i = 0; i < 12; i++) q[i] = frand();
    for (int i = 0; i < 16; i++) k[i] = frand(), v[i] = frand();
    check_grads("Attention", loss_attention, 3,
                (lmg_shape[]){shp(4, 2, 1, 3, 2), shp(4, 2, 1, 4, 2), shp(4, 2, 1, 4, 2)},
                (float *[]){q, k, v});
    test_end();
}

int main(void)
{
    test_softmax();
    test_layernorm();
    test_masks_embedding();
    test_cross_entropy();
    test_attention();
    test_adamw();
    test_errors();
    test_grad_rules();
    test_grad_usual_outputs();
    return test_summary();
}
