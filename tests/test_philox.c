/* test_philox.c — Philox 4x32-10 against the published Random123 known-answer vectors, the
 * counter/key layout of ops.def, and the statistics and determinism of the random op kernels. */
#include "test.h"
#include "../ops/philox.h"
#include "../backends/backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static lmg_philox4 ctr4(uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
    lmg_philox4 r = {{a, b, c, d}};
    return r;
}

static int kat(lmg_philox4 ctr, uint32_t k0, uint32_t k1, lmg_philox4 want)
{
    lmg_philox_key2 key = {{k0, k1}};
    lmg_philox4 got = lmg_philox4x32_10(ctr, key);
    int ok = 1;
    for (int i = 0; i < 4; i++)
        ok &= CHECK(got.w[i] == want.w[i], "word %d: got %08x, want %08x", i, got.w[i], want.w[i]);
    return ok;
}

static void test_kat(void)
{
    test_begin("philox4x32_10 known answers (Random123 kat_vectors)");
    kat(ctr4(0, 0, 0, 0), 0, 0, ctr4(0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8));
    kat(ctr4(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff), 0xffffffff, 0xffffffff,
        ctr4(0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd));
    kat(ctr4(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), 0xa4093822, 0x299f31d0,
        ctr4(0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1));
    test_end();
}

static void test_layout(void)
{
    test_begin("key, counter and uniform follow ops.def");
    lmg_philox_key2 k = lmg_philox_key(7, 0xdeadbeefu);
    CHECK(k.k[0] == 7 && k.k[1] == 0xdeadbeefu, "key(7, deadbeef) = (%u, %08x)", k.k[0], k.k[1]);
    k = lmg_philox_key(0x100000005ull, 3);
    CHECK(k.k[0] == 5 && k.k[1] == (3u ^ 1u), "high seed bits fold into k1: (%u, %u)", k.k[0],
          k.k[1]);
    lmg_philox4 c = lmg_philox_counter(0x123456789abcull, 0xfedcba9876ull);
    CHECK(c.w[0] == 0x56789abcu && c.w[1] == 0x1234u && c.w[2] == 0xdcba9876u && c.w[3] == 0xfeu,
          "counter words %08x %08x %08x %08x", c.w[0], c.w[1], c.w[2], c.w[3]);
    lmg_philox4 a = lmg_philox_draw(lmg_philox_key(1, 2), 10, 3);
    lmg_philox_key2 kk = {{1, 2}};
    lmg_philox4 b = lmg_philox4x32_10(ctr4(10, 0, 3, 0), kk);
    CHECK(memcmp(&a, &b, sizeof a) == 0, "draw(index 10, step 3) = philox((10,0,3,0), (1,2))");
    CHECK(lmg_philox_uniform(0) == 0.0f, "uniform(0) = 0");
    CHECK(lmg_philox_uniform(0xffffffffu) == 1.0f - 0x1p-24f, "uniform(max) = 1 - 2^-24");
    CHECK(lmg_philox_uniform(0x80000000u) == 0.5f, "uniform(2^31) = 0.5");
    CHECK(lmg_philox_uniform(0x000000ffu) == 0.0f, "the low 8 bits are dropped");
    CHECK(lmg_philox_below(0xffffffffu, 10) == 9 && lmg_philox_below(0, 10) == 0 &&
              lmg_philox_below(0x80000000u, 10) == 5,
          "below: multiply-shift");
    test_end();
}

/* ---- the random op kernels, run through the ref backend ------------------------------ */

typedef struct {
    lmg_graph *g;
    lmg_exec *e;
    int in, out[2];
} one_op;

/* Build input x (dtype t, N elements) -> op(attrs) and prepare it on the ref backend. */
static int one_op_init(one_op *o, lmg_op op, lmg_dtype t, int64_t N, const lmg_attr *a, int na)
{
    memset(o, 0, sizeof *o);
    o->g = lmg_graph_new("t");
    o->in = lmg_graph_input(o->g, "x", t, lmg_shape_make(1, &N));
    lmg_graph_node(o->g, op, "rnd", &o->in, 1, a, na, NULL, o->out);
    if (o->g->status != LMG_OK) {
        printf("#   build: %s\n", lmg_last_error());
        return 0;
    }
    for (int k = 0; k < lmg_op_get(op)->n_out; k++) lmg_graph_add_output(o->g, o->out[k]);
    lmg_exec_opts opts = {0};
    if (lmg_backend_ref.init(o->g, &opts, &o->e) != LMG_OK) {
        printf("#   init: %s\n", lmg_last_error());
        return 0;
    }
    return 1;
}

static int one_op_run(one_op *o, const void *x, size_t xbytes, uint64_t step, int k, void *y,
                      size_t ybytes)
{
    if (x && lmg_backend_ref.write(o->e, o->in, x, xbytes) != LMG_OK) return 0;
    if (lmg_backend_ref.run(o->e, step) != LMG_OK) {
        printf("#   run: %s\n", lmg_last_error());
        return 0;
    }
    return lmg_backend_ref.read(o->e, o->out[k], y, ybytes) == LMG_OK;
}

static void one_op_free(one_op *o)
{
    lmg_backend_ref.free(o->e);
    lmg_graph_free(o->g);
}

static int within_sigma(double count, double n, double p, double k)
{
    double sd = sqrt(n * p * (1 - p));
    return fabs(count - n * p) <= k * sd;
}

static void test_bernoulli(void)
{
    test_begin("Bernoulli: rate within 4 sigma, draws match the documented word 0");
    enum { N = 200003 };
    float *y = malloc(N * sizeof *y);
    one_op o;
    lmg_attr a[3] = {lmg_attr_float("p", 0.3), lmg_attr_int("seed", 42), lmg_attr_int("key", 99)};
    if (CHECK(one_op_init(&o, LMG_OP_BERNOULLI, LMG_DTYPE_F32, N, a, 3), "build") &&
        CHECK(one_op_run(&o, NULL, 0, 5, 0, y, N * sizeof *y), "run")) {
        double ones = 0;
        int bad = 0, mismatch = 0;
        lmg_philox_key2 key = lmg_philox_key(42, 99);
        for (int i = 0; i < N; i++) {
            bad += y[i] != 0.0f && y[i] != 1.0f;
            ones += y[i];
            float u = lmg_philox_uniform(lmg_philox4x32_10(ctr4((uint32_t)i, 0, 5, 0), key).w[0]);
            mismatch += (u < 0.3f) != (y[i] == 1.0f);
        }
        CHECK(bad == 0, "%d values not 0/1", bad);
        CHECK(mismatch == 0, "%d elements differ from philox((i,0,step,0),(seed,key)) word 0",
              mismatch);
        CHECK(within_sigma(ones, N, 0.3, 4), "rate %.5f, expected 0.3", ones / N);
    }
    one_op_free(&o);
    free(y);
    test_end();
}

static void test_determinism(void)
{
    test_begin("same (seed, key, step) gives the same bits; another step or key does not");
    enum { N = 4096 };
    float *x = malloc(N * sizeof *x), *y1 = malloc(N * sizeof *x), *y2 = malloc(N * sizeof *x),
          *y3 = malloc(N * sizeof *x), *y4 = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++) x[i] = (float)(i % 17) - 8.5f;
    one_op o = {0}, o2 = {0};
    lmg_attr a[3] = {lmg_attr_float("p", 0.5), lmg_attr_int("seed", 1), lmg_attr_int("key", 7)};
    lmg_attr b[3] = {lmg_attr_float("p", 0.5), lmg_attr_int("seed", 1), lmg_attr_int("key", 8)};
    size_t nb = N * sizeof *x;
    if (CHECK(one_op_init(&o, LMG_OP_DROPOUT, LMG_DTYPE_F32, N, a, 3), "build") &&
        CHECK(one_op_init(&o2, LMG_OP_DROPOUT, LMG_DTYPE_F32, N, b, 3), "build") &&
        CHECK(one_op_run(&o, x, nb, 3, 0, y1, nb) && one_op_run(&o, x, nb, 3, 0, y2, nb) &&
                  one_op_run(&o, x, nb, 4, 0, y3, nb) && one_op_run(&o2, x, nb, 3, 0, y4, nb),
              "run")) {
        CHECK(memcmp(y1, y2, nb) == 0, "two runs at step 3 differ");
        int d_step = 0, d_key = 0;
        for (int i = 0; i < N; i++) {
            d_step += (y1[i] == 0.0f) != (y3[i] == 0.0f);
            d_key += (y1[i] == 0.0f) != (y4[i] == 0.0f);
        }
        /* Independent masks at p = 0.5 disagree on half the elements. */
        CHECK(within_sigma(d_step, N, 0.5, 5), "step 3 vs 4: %d of %d masks differ", d_step, N);
        CHECK(within_sigma(d_key, N, 0.5, 5), "key 7 vs 8: %d of %d masks differ", d_key, N);
    }
    one_op_free(&o);
    one_op_free(&o2);
    free(x), free(y1), free(y2), free(y3), free(y4);
    test_end();
}

static void test_dropout(void)
{
    test_begin("Dropout p=0.1: drop rate within 4 sigma, kept values scaled by 1/(1-p) in f32");
    enum { N = 100000 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    for (int i = 0; i < N; i++) x[i] = 1.0f + (float)(i % 101) * 0.01f;
    one_op o;
    lmg_attr a[2] = {lmg_attr_float("p", 0.1), lmg_attr_int("key", 12345)};
    if (CHECK(one_op_init(&o, LMG_OP_DROPOUT, LMG_DTYPE_F32, N, a, 2), "build") &&
        CHECK(one_op_run(&o, x, N * sizeof *x, 0, 0, y, N * sizeof *y), "run")) {
        float scale = 1.0f / (1.0f - 0.1f);
        int zeros = 0, wrong = 0;
        for (int i = 0; i < N; i++) {
            if (y[i] == 0.0f)
                zeros++;
            else
                wrong += y[i] != x[i] * scale;
        }
        CHECK(wrong == 0, "%d kept values are not x * scale", wrong);
        CHECK(within_sigma(zeros, N, 0.1, 4), "drop rate %.5f", (double)zeros / N);
    }
    one_op_free(&o);
    free(x), free(y);
    test_end();
}

static void test_random_int(void)
{
    test_begin("RandomInt [-5, 7): every value in range, each within 4 sigma of uniform");
    enum { N = 120000, LO = -5, HI = 7 };
    int32_t *y = malloc(N * sizeof *y);
    one_op o;
    lmg_attr a[3] = {lmg_attr_int("low", LO), lmg_attr_int("high", HI), lmg_attr_int("key", 3)};
    if (CHECK(one_op_init(&o, LMG_OP_RANDOM_INT, LMG_DTYPE_I32, N, a, 3), "build") &&
        CHECK(one_op_run(&o, NULL, 0, 11, 0, y, N * sizeof *y), "run")) {
        int count[HI - LO] = {0}, out = 0;
        for (int i = 0; i < N; i++) {
            if (y[i] < LO || y[i] >= HI)
                out++;
            else
                count[y[i] - LO]++;
        }
        CHECK(out == 0, "%d values out of range", out);
        for (int v = 0; v < HI - LO; v++)
            CHECK(within_sigma(count[v], N, 1.0 / (HI - LO), 4), "value %d drawn %d times", v + LO,
                  count[v]);
    }
    one_op_free(&o);
    free(y);
    test_end();
}

static void test_mlm(void)
{
    test_begin("MlmCorrupt: 15% selected, 80/10/10 split, specials never selected");
    enum { N = 300000, VOCAB = 30000, SPECIAL = 5, MASK = 3 };
    int32_t *ids = malloc(N * sizeof *ids), *cor = malloc(N * sizeof *ids),
            *tgt = malloc(N * sizeof *ids);
    for (int i = 0; i < N; i++)
        ids[i] = i % 10 == 0 ? i % SPECIAL
                             : SPECIAL + (int32_t)(((int64_t)i * 7919) % (VOCAB - SPECIAL));
    one_op o;
    lmg_attr a[5] = {lmg_attr_int("mask_id", MASK), lmg_attr_int("vocab", VOCAB),
                     lmg_attr_int("special_below", SPECIAL), lmg_attr_int("seed", 2024),
                     lmg_attr_int("key", lmg_random_key("mlm"))};
    size_t nb = N * sizeof *ids;
    if (CHECK(one_op_init(&o, LMG_OP_MLM_CORRUPT, LMG_DTYPE_I32, N, a, 5), "build") &&
        CHECK(one_op_run(&o, ids, nb, 1, 0, cor, nb) && one_op_run(&o, ids, nb, 1, 1, tgt, nb),
              "run")) {
        int normal = 0, sel = 0, masked = 0, kept = 0, rnd = 0, special_hit = 0, bad = 0;
        for (int i = 0; i < N; i++) {
            if (ids[i] < SPECIAL) {
                special_hit += cor[i] != ids[i] || tgt[i] != -100;
                continue;
            }
            normal++;
            if (tgt[i] == -100) {
                bad += cor[i] != ids[i];
                continue;
            }
            bad += tgt[i] != ids[i];
            sel++;
            if (cor[i] == MASK)
                masked++;
            else if (cor[i] == ids[i])
                kept++;
            else {
                rnd++;
                bad += cor[i] < SPECIAL || cor[i] >= VOCAB;
            }
        }
        CHECK(special_hit == 0, "%d special ids were selected", special_hit);
        CHECK(bad == 0, "%d positions inconsistent (target/corruption/range)", bad);
        CHECK(within_sigma(sel, normal, 0.15, 4), "selected %.5f of normal ids",
              (double)sel / normal);
        /* The random branch draws the mask or the original id 2 times in 29995: negligible. */
        CHECK(within_sigma(masked, sel, 0.8, 4), "mask share %.4f", (double)masked / sel);
        CHECK(within_sigma(kept, sel, 0.1, 4) && within_sigma(rnd, sel, 0.1, 4),
              "keep share %.4f, random share %.4f", (double)kept / sel, (double)rnd / sel);
    }
    one_op_free(&o);
    free(ids), free(cor), free(tgt);
    test_end();
}

static void test_key_helper(void)
{
    test_begin("lmg_random_key is FNV-1a 32 of the node name");
    CHECK(lmg_random_key("") == 2166136261ll, "empty name: %lld", (long long)lmg_random_key(""));
    CHECK(lmg_random_key("a") == 0xe40c292cll, "'a': %llx", (long long)lmg_random_key("a"));
    CHECK(lmg_random_key("foobar") == 0xbf9cf968ll, "'foobar': %llx",
          (long long)lmg_random_key("foobar"));
    CHECK(lmg_random_key("drop/0") != lmg_random_key("drop/1"), "names collide");
    test_end();
}

int main(void)
{
    test_kat();
    test_layout();
    test_key_helper();
    test_bernoulli();
    test_determinism();
    test_dropout();
    test_random_int();
    test_mlm();
    return test_summary();
}
