/* test_ops_core.c — known answers of the core reference kernels on small hand-computed
 * inputs, inference errors that name the node, and the shape of a few gradient graphs. */
#include "test.h"
#include "../backends/ref/ref.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define F32 LMG_DTYPE_F32
#define I32 LMG_DTYPE_I32

static lmg_shape shp(int rank, ...)
{
    lmg_shape s = {0};
    va_list ap;
    va_start(ap, rank);
    s.rank = rank;
    for (int i = 0; i < rank; i++) s.dims[i] = va_arg(ap, int);
    va_end(ap);
    return s;
}

/* One node over constant inputs, run on the ref backend; output 0 is copied to `out`
 * (numel * 4 bytes) and its shape to `out_shape`. Returns the status of the first failure. */
typedef struct in_spec {
    lmg_dtype t;
    lmg_shape s;
    const void *data;
} in_spec;

static lmg_status run_op(lmg_op op, int n_in, const in_spec *ins, const lmg_attr *attrs, int n_attr,
                         void *out, size_t out_bytes, lmg_shape *out_shape)
{
    lmg_graph *g = lmg_graph_new("t");
    lmg_exec *e = NULL;
    int ids[8], y;
    for (int k = 0; k < n_in; k++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", k);
        ids[k] = lmg_graph_const(g, name, ins[k].t, ins[k].s, ins[k].data);
    }
    y = lmg_graph_node(g, op, "op", ids, n_in, attrs, n_attr, NULL, NULL);
    lmg_status s = g->status;
    if (s == LMG_OK) s = lmg_graph_add_output(g, y);
    if (s == LMG_OK) s = lmg_graph_verify(g);
    if (s == LMG_OK) {
        const lmg_value *v = &g->values[y];
        if (out_shape) *out_shape = v->shape;
        size_t n = (size_t)lmg_shape_numel(&v->shape) * lmg_dtype_size(v->dtype);
        if (n != out_bytes) s = lmg_error(LMG_ERR_ARG, "output has %zu bytes, test expects %zu", n, out_bytes);
    }
    if (s == LMG_OK) s = lmg_backend_ref.init(g, &(lmg_exec_opts){0}, &e);
    if (s == LMG_OK) s = lmg_backend_ref.run(e, 0);
    if (s == LMG_OK) s = lmg_backend_ref.read(e, y, out, out_bytes);
    lmg_backend_ref.free(e);
    lmg_graph_free(g);
    return s;
}

static int shape_is(const lmg_shape *s, int rank, const int64_t *dims)
{
    lmg_shape want = lmg_shape_make(rank, dims);
    return lmg_shape_equal(s, &want);
}

static int close_f(const float *got, const float *want, int n, double tol)
{
    for (int i = 0; i < n; i++) {
        if (isnan(want[i]) ? !isnan(got[i]) : !(fabs((double)got[i] - want[i]) <= tol * (1 + fabs(want[i])))) {
            printf("#   element %d: got %.9g, want %.9g\n", i, got[i], want[i]);
            return 0;
        }
    }
    return 1;
}

static int equal_i(const int32_t *got, const int32_t *want, int n)
{
    for (int i = 0; i < n; i++)
        if (got[i] != want[i]) {
            printf("#   element %d: got %d, want %d\n", i, got[i], want[i]);
            return 0;
        }
    return 1;
}

/* ---- elementwise ------------------------------------------------------------------- */

static void test_add_broadcast(void)
{
    test_begin("Add broadcasts a column against a row");
    float a[2] = {1, 2}, b[3] = {10, 20, 30}, y[6];
    lmg_shape ys;
    in_spec in[2] = {{F32, shp(2, 2, 1), a}, {F32, shp(1, 3), b}};
    lmg_status s = run_op(LMG_OP_ADD, 2, in, NULL, 0, y, sizeof y, &ys);
    CHECK(s == LMG_OK, "run: %s", lmg_last_error());
    CHECK(shape_is(&ys, 2, (int64_t[]){2, 3}), "shape");
    CHECK(close_f(y, (float[]){11, 21, 31, 12, 22, 32}, 6, 0), "values");
    test_end();

    test_begin("Sub broadcasts a scalar and both sides of a rank-3 pair");
    float c[1] = {5}, d[4] = {1, 2, 3, 4}, z[4];
    in_spec in2[2] = {{F32, shp(0), c}, {F32, shp(2, 2, 2), d}};
    s = run_op(LMG_OP_SUB, 2, in2, NULL, 0, z, sizeof z, &ys);
    CHECK(s == LMG_OK && close_f(z, (float[]){4, 3, 2, 1}, 4, 0), "scalar - matrix");
    float p[2] = {1, 2}, q[3] = {10, 20, 30}, r[12];
    in_spec in3[2] = {{F32, shp(3, 2, 1, 1), p}, {F32, shp(2, 1, 3), q}};
    s = run_op(LMG_OP_SUB, 2, in3, NULL, 0, r, 6 * sizeof(float), &ys);
    CHECK(s == LMG_OK && shape_is(&ys, 3, (int64_t[]){2, 1, 3}), "shape [2,1,3]: %s", lmg_last_error());
    CHECK(close_f(r, (float[]){-9, -19, -29, -8, -18, -28}, 6, 0), "values");
    test_end();
}

static void test_i32_arith(void)
{
    test_begin("i32 Add/Sub/Mul wrap around in two's complement");
    int32_t a[3] = {INT32_MAX, -7, 100000}, b[3] = {1, 3, 100000}, y[3];
    in_spec in[2] = {{I32, shp(1, 3), a}, {I32, shp(1, 3), b}};
    lmg_status s = run_op(LMG_OP_ADD, 2, in, NULL, 0, y, sizeof y, NULL);
    CHECK(s == LMG_OK && equal_i(y, (int32_t[]){INT32_MIN, -4, 200000}, 3), "add: %s", lmg_last_error());
    s = run_op(LMG_OP_SUB, 2, in, NULL, 0, y, sizeof y, NULL);
    CHECK(s == LMG_OK && equal_i(y, (int32_t[]){INT32_MAX - 1, -10, 0}, 3), "sub");
    s = run_op(LMG_OP_MUL, 2, in, NULL, 0, y, sizeof y, NULL);
    CHECK(s == LMG_OK && equal_i(y, (int32_t[]){INT32_MAX, -21, 1410065408}, 3), "mul");
    test_end();
}

static void test_div_max_relu(void)
{
    test_begin("Div, Maximum (NaN propagates), Relu, ReluGrad and Scale");
    float a[4] = {1, -6, 2, NAN}, b[4] = {4, 3, 2, 0}, y[4];
    in_spec in[2] = {{F32, shp(1, 4), a}, {F32, shp(1, 4), b}};
    lmg_status s = run_op(LMG_OP_DIV, 2, in, NULL, 0, y, sizeof y, NULL);
    CHECK(s == LMG_OK && close_f(y, (float[]){0.25f, -2, 1, NAN}, 4, 0), "div");
    s = run_op(LMG_OP_MAXIMUM, 2, in, NULL, 0, y, sizeof y, NULL);
    CHECK(s == LMG_OK && close_f(y, (float[]){4, 3, 2, NAN}, 4, 0), "maximum");
    float x[5] = {-1, 0, 2, NAN, -0.0f};
    in_spec in1[1] = {{F32, shp(1, 5), x}};
    float r[5];
    s = run_op(LMG_OP_RELU, 1, in1, NULL, 0, r, sizeof r, NULL);
    CHECK(s == LMG_OK && close_f(r, (float[]){0, 0, 2, NAN, 0}, 5, 0), "relu");
    float dy[5] = {5, 6, 7, 8, 9};
    in_spec in2[2] = {{F32, shp(1, 5), dy}, {F32, shp(1, 5), x}};
    s = run_op(LMG_OP_RELU_GRAD, 2, in2, NULL, 0, r, sizeof r, NULL);
    CHECK(s == LMG_OK && close_f(r, (float[]){0, 0, 7, 0, 0}, 5, 0), "relu grad (x > 0 only)");
    lmg_attr at[2] = {lmg_attr_float("alpha", -2.0), lmg_attr_float("beta", 0.5)};
    s = run_op(LMG_OP_SCALE, 1, in1, at, 2, r, sizeof r, NULL);
    CHECK(s == LMG_OK && close_f(r, (float[]){2.5f, 0.5f, -3.5f, NAN, 0.5f}, 5, 0), "scale");
    test_end();
}

static double gelu_ref(double x)
{
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

static void test_gelu(void)
{
    test_begin("Gelu and GeluGrad match the tanh formula in double");
    float x[9] = {-5, -3, -1, -0.5f, 0, 0.5f, 1, 3, 5}, y[9], dy[9], g[9];
    in_spec in[1] = {{F32, shp(1, 9), x}};
    lmg_status s = run_op(LMG_OP_GELU, 1, in, NULL, 0, y, sizeof y, NULL);
    CHECK(s == LMG_OK, "run: %s", lmg_last_error());
    for (int i = 0; i < 9; i++) {
        double want = gelu_ref(x[i]);
        CHECK(fabs(y[i] - want) <= 1e-7 * (1 + fabs(want)), "gelu(%g) = %.9g, want %.9g", x[i],
              y[i], want);
        dy[i] = (float)(i + 1) * 0.5f;
    }
    in_spec in2[2] = {{F32, shp(1, 9), dy}, {F32, shp(1, 9), x}};
    s = run_op(LMG_OP_GELU_GRAD, 2, in2, NULL, 0, g, sizeof g, NULL);
    CHECK(s == LMG_OK, "run: %s", lmg_last_error());
    for (int i = 0; i < 9; i++) {
        double h = 1e-5, d = (gelu_ref(x[i] + h) - gelu_ref(x[i] - h)) / (2 * h);
        double want = dy[i] * d;
        CHECK(fabs(g[i] - want) <= 1e-6 * (1 + fabs(want)), "gelu'(%g) * %g = %.9g, want %.9g",
              x[i], dy[i], g[i], want);
    }
    CHECK(y[4] == 0.0f && fabs(y[6] - 0.841192) < 1e-6, "gelu(0) = 0, gelu(1) = 0.841192");
    test_end();
}

static void test_cast_where(void)
{
    test_begin("Cast truncates toward zero, saturates, maps NaN to 0");
    float x[6] = {1.7f, -1.7f, NAN, 3e9f, -3e9f, -0.2f};
    int32_t yi[6];
    in_spec in[1] = {{F32, shp(1, 6), x}};
    lmg_attr to_i = lmg_attr_int("to", LMG_DTYPE_I32), to_f = lmg_attr_int("to", LMG_DTYPE_F32);
    lmg_status s = run_op(LMG_OP_CAST, 1, in, &to_i, 1, yi, sizeof yi, NULL);
    CHECK(s == LMG_OK && equal_i(yi, (int32_t[]){1, -1, 0, INT32_MAX, INT32_MIN, 0}, 6), "f32->i32");
    int32_t xi[3] = {-5, 0, 16777217};
    float yf[3];
    in_spec in2[1] = {{I32, shp(1, 3), xi}};
    s = run_op(LMG_OP_CAST, 1, in2, &to_f, 1, yf, sizeof yf, NULL);
    CHECK(s == LMG_OK && close_f(yf, (float[]){-5, 0, 16777216}, 3, 0), "i32->f32");
    test_end();

    test_begin("Where selects with an i32 condition and broadcasts");
    int32_t c[3] = {0, 1, -1}, a[3] = {1, 2, 3}, b[1] = {9}, w[3];
    in_spec win[3] = {{I32, shp(1, 3), c}, {I32, shp(1, 3), a}, {I32, shp(0), b}};
    s = run_op(LMG_OP_WHERE, 3, win, NULL, 0, w, sizeof w, NULL);
    CHECK(s == LMG_OK && equal_i(w, (int32_t[]){9, 2, 3}, 3), "i32: %s", lmg_last_error());
    float cf[2] = {0, 2}, af[3] = {1, 2, 3}, bf[2] = {-1, -2}, wf[6];
    lmg_shape ys;
    in_spec fin[3] = {{F32, shp(2, 2, 1), cf}, {F32, shp(1, 3), af}, {F32, shp(2, 2, 1), bf}};
    s = run_op(LMG_OP_WHERE, 3, fin, NULL, 0, wf, sizeof wf, &ys);
    CHECK(s == LMG_OK && shape_is(&ys, 2, (int64_t[]){2, 3}), "f32 shape: %s", lmg_last_error());
    CHECK(close_f(wf, (float[]){-1, -1, -1, 1, 2, 3}, 6, 0), "f32 values");
    test_end();
}

/* ---- MatMul ------------------------------------------------------------------------ */

static void test_matmul(void)
{
    test_begin("MatMul gives one answer under all four transpose flags");
    /* a = [[1,2,3],[4,5,6]], b = [[7,8],[9,10],[11,12]], a b = [[58,64],[139,154]] */
    float a[6] = {1, 2, 3, 4, 5, 6}, at[6] = {1, 4, 2, 5, 3, 6};
    float b[6] = {7, 8, 9, 10, 11, 12}, bt[6] = {7, 9, 11, 8, 10, 12};
    const float want[4] = {58, 64, 139, 154};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            float y[4];
            lmg_shape ys;
            in_spec in[2] = {{F32, ta ? shp(2, 3, 2) : shp(2, 2, 3), ta ? at : a},
                             {F32, tb ? shp(2, 2, 3) : shp(2, 3, 2), tb ? bt : b}};
            lmg_attr fl[2] = {lmg_attr_int("trans_a", ta), lmg_attr_int("trans_b", tb)};
            lmg_status s = run_op(LMG_OP_MATMUL, 2, in, fl, 2, y, sizeof y, &ys);
            CHECK(s == LMG_OK, "ta=%d tb=%d: %s", ta, tb, lmg_last_error());
            CHECK(shape_is(&ys, 2, (int64_t[]){2, 2}), "ta=%d tb=%d shape", ta, tb);
            CHECK(close_f(y, want, 4, 0), "ta=%d tb=%d values", ta, tb);
        }
    test_end();

    test_begin("MatMul broadcasts batch dims ([1,2,3] x [2,3,2])");
    float b2[12] = {7, 8, 9, 10, 11, 12, 1, 0, 0, 1, -1, 1}, y[8];
    lmg_shape ys;
    in_spec in[2] = {{F32, shp(3, 1, 2, 3), a}, {F32, shp(3, 2, 3, 2), b2}};
    lmg_status s = run_op(LMG_OP_MATMUL, 2, in, NULL, 0, y, sizeof y, &ys);
    CHECK(s == LMG_OK && shape_is(&ys, 3, (int64_t[]){2, 2, 2}), "shape: %s", lmg_last_error());
    /* second batch: [[1,2,3],[4,5,6]] [[1,0],[0,1],[-1,1]] = [[-2,5],[-2,11]] */
    CHECK(close_f(y, (float[]){58, 64, 139, 154, -2, 5, -2, 11}, 8, 0), "values");
    test_end();

    test_begin("MatMul accumulates the inner product in double");
    /* 1e8 + 1 - 1e8 over K = 3: a float accumulator loses the 1. */
    float p[3] = {1e8f, 1, -1e8f}, q[3] = {1, 1, 1}, r[1];
    in_spec in3[2] = {{F32, shp(2, 1, 3), p}, {F32, shp(2, 3, 1), q}};
    s = run_op(LMG_OP_MATMUL, 2, in3, NULL, 0, r, sizeof r, NULL);
    CHECK(s == LMG_OK && r[0] == 1.0f, "got %g, want 1", r[0]);
    test_end();

    test_begin("MatMul over ragged tiles equals the plain k-ordered double loop bit for bit");
    /* M = 6 and N = 275 are not multiples of the kernel's row and column blocks; the second
     * batch of b is shared through a batch dim of 1 in a. */
    enum { M = 6, K = 37, N = 275, NB = 2 };
    static float ma[M * K], mb[NB * K * N], mat[K * M], mbt[NB * N * K];
    static float got[NB * M * N], ref[NB * M * N];
    uint32_t h = 12345;
    for (int i = 0; i < M * K; i++) ma[i] = (float)((h = h * 1103515245u + 12345u) >> 8) / 65536.0f - 128;
    for (int i = 0; i < NB * K * N; i++) mb[i] = (float)((h = h * 1103515245u + 12345u) >> 8) / 8e6f - 1;
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++) mat[k * M + m] = ma[m * K + k];
    for (int z = 0; z < NB; z++)
        for (int k = 0; k < K; k++)
            for (int j = 0; j < N; j++) mbt[(z * N + j) * K + k] = mb[(z * K + k) * N + j];
    for (int z = 0; z < NB; z++)
        for (int m = 0; m < M; m++)
            for (int j = 0; j < N; j++) {
                double sum = 0.0;
                for (int k = 0; k < K; k++) sum += (double)ma[m * K + k] * (double)mb[(z * K + k) * N + j];
                ref[(z * M + m) * N + j] = (float)sum;
            }
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            in_spec mm[2] = {{F32, ta ? shp(3, 1, K, M) : shp(3, 1, M, K), ta ? mat : ma},
                             {F32, tb ? shp(3, NB, N, K) : shp(3, NB, K, N), tb ? mbt : mb}};
            lmg_attr fl[2] = {lmg_attr_int("trans_a", ta), lmg_attr_int("trans_b", tb)};
            memset(got, 0, sizeof got);
            s = run_op(LMG_OP_MATMUL, 2, mm, fl, 2, got, sizeof got, NULL);
            CHECK(s == LMG_OK, "ta=%d tb=%d: %s", ta, tb, lmg_last_error());
            int bad = 0;
            for (int i = 0; i < NB * M * N; i++) bad += memcmp(&got[i], &ref[i], sizeof *got) != 0;
            CHECK(bad == 0, "ta=%d tb=%d: %d of %d elements differ", ta, tb, bad, NB * M * N);
        }
    test_end();
}

/* ---- shape ops --------------------------------------------------------------------- */

static void test_transpose_reshape(void)
{
    test_begin("Transpose with perm (2,0,1): y[i][j][k] = x[j][k][i]");
    float x[24], y[24];
    for (int i = 0; i < 24; i++) x[i] = (float)i;
    lmg_attr perm = lmg_attr_ints("perm", 3, (int64_t[]){2, 0, 1});
    lmg_shape ys;
    in_spec in[1] = {{F32, shp(3, 2, 3, 4), x}};
    lmg_status s = run_op(LMG_OP_TRANSPOSE, 1, in, &perm, 1, y, sizeof y, &ys);
    CHECK(s == LMG_OK && shape_is(&ys, 3, (int64_t[]){4, 2, 3}), "shape: %s", lmg_last_error());
    int bad = 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < 3; k++) bad += y[(i * 2 + j) * 3 + k] != x[(j * 3 + k) * 4 + i];
    CHECK(bad == 0, "%d elements misplaced", bad);
    test_end();

    test_begin("Reshape infers -1 and keeps the bytes");
    lmg_attr sh = lmg_attr_ints("shape", 2, (int64_t[]){-1, 8});
    s = run_op(LMG_OP_RESHAPE, 1, in, &sh, 1, y, sizeof y, &ys);
    CHECK(s == LMG_OK && shape_is(&ys, 2, (int64_t[]){3, 8}), "shape: %s", lmg_last_error());
    CHECK(memcmp(x, y, sizeof x) == 0, "bytes differ");
    test_end();
}

static void test_slice_concat_expand(void)
{
    test_begin("Slice with negative start and end");
    float x[15], y[9];
    for (int i = 0; i < 15; i++) x[i] = (float)i; /* [3,5] */
    lmg_attr at[3] = {lmg_attr_int("axis", -1), lmg_attr_int("start", -4), lmg_attr_int("end", -1)};
    lmg_shape ys;
    in_spec in[1] = {{F32, shp(2, 3, 5), x}};
    lmg_status s = run_op(LMG_OP_SLICE, 1, in, at, 3, y, sizeof y, &ys);
    CHECK(s == LMG_OK && shape_is(&ys, 2, (int64_t[]){3, 3}), "shape: %s", lmg_last_error());
    CHECK(close_f(y, (float[]){1, 2, 3, 6, 7, 8, 11, 12, 13}, 9, 0), "values");
    lmg_attr at0[2] = {lmg_attr_int("axis", 0), lmg_attr_int("start", -1)};
    float r[5];
    s = run_op(LMG_OP_SLICE, 1, in, at0, 2, r, sizeof r, &ys);
    CHECK(s == LMG_OK && close_f(r, (float[]){10, 11, 12, 13, 14}, 5, 0), "last row to the end");
    test_end();

    test_begin("SliceGrad puts dy at [start, end) and zeros elsewhere");
    float dy[4] = {1, 2, 3, 4}, dx[8];
    lmg_attr ag[4] = {lmg_attr_int("axis", 1), lmg_attr_int("start", 1), lmg_attr_int("end", 3),
                      lmg_attr_int("dim", 4)};
    in_spec gin[1] = {{F32, shp(2, 2, 2), dy}};
    s = run_op(LMG_OP_SLICE_GRAD, 1, gin, ag, 4, dx, sizeof dx, &ys);
    CHECK(s == LMG_OK && shape_is(&ys, 2, (int64_t[]){2, 4}), "shape: %s", lmg_last_error());
    CHECK(close_f(dx, (float[]){0, 1, 2, 0, 0, 3, 4, 0}, 8, 0), "values");
    test_end();

    test_begin("Concat joins along the middle axis and along axis 0 for i32");
    float a[2] = {1, 2}, b[4] = {3, 4, 5, 6}, y6[6];
    lmg_attr ax1 = lmg_attr_int("axis", 1), ax0 = lmg_attr_int("axis", 0);
    in_spec cin[2] = {{F32, shp(2, 2, 1), a}, {F32, shp(2, 2, 2), b}};
    s = run_op(LMG_OP_CONCAT, 2, cin, &ax1, 1, y6, sizeof y6, &ys);
    CHECK(s == LMG_OK && shape_is(&ys, 2, (int64_t[]){2, 3}), "shape: %s", lmg_last_error());
    CHECK(close_f(y6, (float[]){1, 3, 4, 2, 5, 6}, 6, 0), "values");
    int32_t ia[2] = {7, 8}, ib[1] = {9}, iy[3];
    in_spec iin[2] = {{I32, shp(1, 2), ia}, {I32, shp(1, 1), ib}};
    s = run_op(LMG_OP_CONCAT, 2, iin, &ax0, 1, iy, sizeof iy, NULL);
    CHECK(s == LMG_OK && equal_i(iy, (int32_t[]){7, 8, 9}, 3), "i32: %s", lmg_last_error());
    test_end();

    test_begin("Expand broadcasts [3,1] to [2,3,2]");
    float e[3] = {1, 2, 3}, ey[12];
    lmg_attr es = lmg_attr_ints("shape", 3, (int64_t[]){2, 3, 2});
    in_spec ein[1] = {{F32, shp(2, 3, 1), e}};
    s = run_op(LMG_OP_EXPAND, 1, ein, &es, 1, ey, sizeof ey, &ys);
    CHECK(s == LMG_OK && shape_is(&ys, 3, (int64_t[]){2, 3, 2}), "shape: %s", lmg_last_error());
    CHECK(close_f(ey, (float[]){1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}, 12, 0), "values");
    test_end();
}

/* ---- reductions -------------------------------------------------------------------- */

static void test_reduce(void)
{
    float x[24], y[24];
    for (int i = 0; i < 24; i++) x[i] = (float)i; /* [2,3,4]: x[i][j][k] = 12i + 4j + k */
    in_spec in[1] = {{F32, shp(3, 2, 3, 4), x}};
    lmg_shape ys;

    test_begin("ReduceSum over axes, with and without keepdims");
    lmg_attr a1[2] = {lmg_attr_ints("axes", 1, (int64_t[]){1}), lmg_attr_int("keepdims", 0)};
    lmg_status s = run_op(LMG_OP_REDUCE_SUM, 1, in, a1, 2, y, 8 * sizeof(float), &ys);
    CHECK(s == LMG_OK && shape_is(&ys, 2, (int64_t[]){2, 4}), "axes {1}: %s", lmg_last_error());
    CHECK(close_f(y, (float[]){12, 15, 18, 21, 48, 51, 54, 57}, 8, 0), "axes {1} values");
    a1[1] = lmg_attr_int("keepdims", 1);
    s = run_op(LMG_OP_REDUCE_SUM, 1, in, a1, 2, y, 8 * sizeof(float), &ys);
    CHECK(s == LMG_OK && shape_is(&ys, 3, (int64_t[]){2, 1, 4}), "keepdims shape");
    lmg_attr a2 = lmg_attr_ints("axes", 2, (int64_t[]){0, -1});
    s = run_op(LMG_OP_REDUCE_SUM, 1, in, &a2, 1, y, 3 * sizeof(float), &ys);
    CHECK(s == LMG_OK && shape_is(&ys, 1, (int64_t[]){3}), "axes {0,-1}: %s", lmg_last_error());
    CHECK(close_f(y, (float[]){60, 92, 124}, 3, 0), "axes {0,-1} values");
    s = run_op(LMG_OP_REDUCE_SUM, 1, in, NULL, 0, y, sizeof(float), &ys);
    CHECK(s == LMG_OK && ys.rank == 0 && y[0] == 276.0f, "all: %g", y[0]);
    test_end();

    test_begin("ReduceMean divides by the reduced count; sums accumulate in double");
    s = run_op(LMG_OP_REDUCE_MEAN, 1, in, NULL, 0, y, sizeof(float), &ys);
    CHECK(s == LMG_OK && y[0] == 11.5f, "mean of 0..23 = %g", y[0]);
    lmg_attr a3 = lmg_attr_ints("axes", 1, (int64_t[]){2});
    s = run_op(LMG_OP_REDUCE_MEAN, 1, in, &a3, 1, y, 6 * sizeof(float), &ys);
    CHECK(s == LMG_OK && close_f(y, (float[]){1.5f, 5.5f, 9.5f, 13.5f, 17.5f, 21.5f}, 6, 0), "last axis");
    float big[3] = {1e8f, 1, -1e8f};
    in_spec bin[1] = {{F32, shp(1, 3), big}};
    s = run_op(LMG_OP_REDUCE_SUM, 1, bin, NULL, 0, y, sizeof(float), NULL);
    CHECK(s == LMG_OK && y[0] == 1.0f, "1e8 + 1 - 1e8 = %g", y[0]);
    test_end();

    test_begin("ArgMax returns the first maximum; NaN counts as the maximum");
    float m[12] = {1, 3, 3, 0, 5, 5, 5, 5, -1, -2, NAN, -4};
    int32_t idx[3];
    in_spec min[1] = {{F32, shp(2, 3, 4), m}};
    s = run_op(LMG_OP_ARGMAX, 1, min, NULL, 0, idx, sizeof idx, &ys);
    CHECK(s == LMG_OK && shape_is(&ys, 1, (int64_t[]){3}), "shape: %s", lmg_last_error());
    CHECK(equal_i(idx, (int32_t[]){1, 0, 2}, 3), "values");
    test_end();
}

/* ---- strided walks ----------------------------------------------------------------- */

/* Row-major offset of idx (rank 4) in a contiguous tensor of dims d; dims of 1 broadcast. */
static int off4(const int *d, const int *idx)
{
    int o = 0;
    for (int i = 0; i < 4; i++) o = o * d[i] + (d[i] == 1 ? 0 : idx[i]);
    return o;
}

static int same_bits(const void *a, const void *b, int n, const char *what)
{
    int bad = 0;
    for (int i = 0; i < n; i++) bad += memcmp((const char *)a + 4 * i, (const char *)b + 4 * i, 4) != 0;
    if (bad) printf("#   %s: %d of %d elements differ\n", what, bad, n);
    return bad == 0;
}

static void test_walks(void)
{
    test_begin("broadcasts, reductions, Transpose and Expand over mixed dims match plain loops");
    static float x[360], u[360], y[360], want[360];
    uint32_t h = 7;
    for (int i = 0; i < 360; i++) {
        h = h * 1664525u + 1013904223u;
        x[i] = (float)(h >> 8) * (h & 1 ? 1e-3f : 1e3f) / 16777216.0f - 0.5f;
        u[i] = (float)i - 100.5f;
    }
    /* Add a[2,1,3,4] + b[1,5,1,4] -> [2,5,3,4] */
    int da[4] = {2, 1, 3, 4}, db[4] = {1, 5, 1, 4}, dy[4] = {2, 5, 3, 4}, id[4];
    for (id[0] = 0; id[0] < 2; id[0]++)
        for (id[1] = 0; id[1] < 5; id[1]++)
            for (id[2] = 0; id[2] < 3; id[2]++)
                for (id[3] = 0; id[3] < 4; id[3]++)
                    want[off4(dy, id)] = x[off4(da, id)] + u[off4(db, id)];
    in_spec ab[2] = {{F32, shp(4, 2, 1, 3, 4), x}, {F32, shp(4, 1, 5, 1, 4), u}};
    lmg_status s = run_op(LMG_OP_ADD, 2, ab, NULL, 0, y, 120 * sizeof(float), NULL);
    CHECK(s == LMG_OK && same_bits(y, want, 120, "Add"), "Add: %s", lmg_last_error());

    /* Where(cond i32 [5,1,1], a [2,5,3,4], b [1,1,1,1]) */
    int32_t cond[5] = {0, 3, 0, -1, 0};
    int dc[4] = {1, 5, 1, 1}, d1[4] = {1, 1, 1, 1};
    for (id[0] = 0; id[0] < 2; id[0]++)
        for (id[1] = 0; id[1] < 5; id[1]++)
            for (id[2] = 0; id[2] < 3; id[2]++)
                for (id[3] = 0; id[3] < 4; id[3]++)
                    want[off4(dy, id)] = cond[off4(dc, id)] ? x[off4(dy, id)] : u[off4(d1, id)];
    in_spec wh[3] = {{I32, shp(3, 5, 1, 1), cond}, {F32, shp(4, 2, 5, 3, 4), x},
                     {F32, shp(4, 1, 1, 1, 1), u}};
    s = run_op(LMG_OP_WHERE, 3, wh, NULL, 0, y, 120 * sizeof(float), NULL);
    CHECK(s == LMG_OK && same_bits(y, want, 120, "Where"), "Where: %s", lmg_last_error());

    /* ReduceSum of x[3,4,5,6] over {1,3} and over {0,2}: each sum in row-major order of x. */
    int dx[4] = {3, 4, 5, 6};
    in_spec rx[1] = {{F32, shp(4, 3, 4, 5, 6), x}};
    for (int pass = 0; pass < 2; pass++) {
        int r0 = pass ? 0 : 1, r1 = pass ? 2 : 3, k0 = pass ? 1 : 0, k1 = pass ? 3 : 2;
        for (int a0 = 0; a0 < dx[k0]; a0++)
            for (int a1 = 0; a1 < dx[k1]; a1++) {
                double sum = 0.0;
                for (int b0 = 0; b0 < dx[r0]; b0++)
                    for (int b1 = 0; b1 < dx[r1]; b1++) {
                        id[k0] = a0, id[k1] = a1, id[r0] = b0, id[r1] = b1;
                        sum += (double)x[off4(dx, id)];
                    }
                want[a0 * dx[k1] + a1] = (float)sum;
            }
        lmg_attr ax = lmg_attr_ints("axes", 2, (int64_t[]){r0, r1});
        int ny = dx[k0] * dx[k1];
        s = run_op(LMG_OP_REDUCE_SUM, 1, rx, &ax, 1, y, (size_t)ny * sizeof(float), NULL);
        CHECK(s == LMG_OK && same_bits(y, want, ny, pass ? "ReduceSum {0,2}" : "ReduceSum {1,3}"),
              "ReduceSum pass %d: %s", pass, lmg_last_error());
    }

    /* Transpose [3,4,5,6] by (2,0,1,3), and Expand [4,1,3] to [2,4,5,3]. */
    int dt[4] = {5, 3, 4, 6};
    for (id[0] = 0; id[0] < 5; id[0]++)
        for (id[1] = 0; id[1] < 3; id[1]++)
            for (id[2] = 0; id[2] < 4; id[2]++)
                for (id[3] = 0; id[3] < 6; id[3]++)
                    want[off4(dt, id)] = x[off4(dx, (int[]){id[1], id[2], id[0], id[3]})];
    lmg_attr pm = lmg_attr_ints("perm", 4, (int64_t[]){2, 0, 1, 3});
    s = run_op(LMG_OP_TRANSPOSE, 1, rx, &pm, 1, y, 360 * sizeof(float), NULL);
    CHECK(s == LMG_OK && same_bits(y, want, 360, "Transpose"), "Transpose: %s", lmg_last_error());
    int de[4] = {1, 4, 1, 3}, dz[4] = {2, 4, 5, 3};
    for (id[0] = 0; id[0] < 2; id[0]++)
        for (id[1] = 0; id[1] < 4; id[1]++)
            for (id[2] = 0; id[2] < 5; id[2]++)
                for (id[3] = 0; id[3] < 3; id[3]++) want[off4(dz, id)] = x[off4(de, id)];
    in_spec ex[1] = {{F32, shp(3, 4, 1, 3), x}};
    lmg_attr es = lmg_attr_ints("shape", 4, (int64_t[]){2, 4, 5, 3});
    s = run_op(LMG_OP_EXPAND, 1, ex, &es, 1, y, 120 * sizeof(float), NULL);
    CHECK(s == LMG_OK && same_bits(y, want, 120, "Expand"), "Expand: %s", lmg_last_error());
    test_end();
}

/* ---- inference errors -------------------------------------------------------------- */

/* Build one node named `node` over inputs of the given shapes (f32 unless `dt` says) and
 * expect LMG_ERR_INVALID with a message holding the node name and every `words` entry. */
static void expect_invalid(const char *title, lmg_op op, const char *node, int n_in,
                           const lmg_shape *shapes, const lmg_dtype *dt, const lmg_attr *attrs,
                           int n_attr, const char *const *words)
{
    test_begin(title);
    lmg_graph *g = lmg_graph_new("t");
    int ids[8];
    for (int k = 0; k < n_in; k++) {
        char name[16];
        snprintf(name, sizeof name, "in%d", k);
        ids[k] = lmg_graph_input(g, name, dt ? dt[k] : F32, shapes[k]);
    }
    lmg_error_clear();
    int y = lmg_graph_node(g, op, node, ids, n_in, attrs, n_attr, NULL, NULL);
    const char *msg = lmg_last_error();
    CHECK(y < 0 && g->status == LMG_ERR_INVALID, "status %d (%s), want LMG_ERR_INVALID", g->status,
          lmg_status_name(g->status));
    CHECK(strstr(msg, node) != NULL, "message does not name node '%s': %s", node, msg);
    for (int i = 0; words && words[i]; i++)
        CHECK(strstr(msg, words[i]) != NULL, "message lacks \"%s\": %s", words[i], msg);
    lmg_graph_free(g);
    test_end();
}

static void test_errors(void)
{
    lmg_shape s23 = shp(2, 2, 3), s4 = shp(1, 4), s45 = shp(2, 4, 5), s234 = shp(3, 2, 3, 4);
    expect_invalid("error: Add of shapes that do not broadcast", LMG_OP_ADD, "add7", 2,
                   (lmg_shape[]){s23, s4}, NULL, NULL, 0,
                   (const char *[]){"(Add)", "broadcast", "'in0' [2,3]", "'in1' [4]", NULL});
    expect_invalid("error: Add of f32 and i32", LMG_OP_ADD, "mixed", 2, (lmg_shape[]){s23, s23},
                   (lmg_dtype[]){F32, I32}, NULL, 0, (const char *[]){"f32", "i32", NULL});
    expect_invalid("error: MatMul inner dims differ", LMG_OP_MATMUL, "mm1", 2,
                   (lmg_shape[]){s23, s45}, NULL, NULL, 0,
                   (const char *[]){"(MatMul)", "inner dims", "'in0' [2,3]", "'in1' [4,5]", NULL});
    expect_invalid("error: MatMul batch dims do not broadcast", LMG_OP_MATMUL, "mm2", 2,
                   (lmg_shape[]){shp(3, 2, 2, 3), shp(3, 3, 3, 4)}, NULL, NULL, 0,
                   (const char *[]){"batch", NULL});
    expect_invalid("error: MatMul of a vector", LMG_OP_MATMUL, "mm3", 2,
                   (lmg_shape[]){s4, s45}, NULL, NULL, 0, (const char *[]){"rank", NULL});
    lmg_attr bad_perm = lmg_attr_ints("perm", 3, (int64_t[]){0, 0, 1});
    expect_invalid("error: Transpose perm is not a permutation", LMG_OP_TRANSPOSE, "tp", 1,
                   (lmg_shape[]){s234}, NULL, &bad_perm, 1, (const char *[]){"perm [0,0,1]", NULL});
    lmg_attr short_perm = lmg_attr_ints("perm", 2, (int64_t[]){1, 0});
    expect_invalid("error: Transpose perm of the wrong length", LMG_OP_TRANSPOSE, "tp2", 1,
                   (lmg_shape[]){s234}, NULL, &short_perm, 1, (const char *[]){"rank 3", NULL});
    lmg_attr rs = lmg_attr_ints("shape", 2, (int64_t[]){4, 2});
    expect_invalid("error: Reshape changes the element count", LMG_OP_RESHAPE, "rs", 1,
                   (lmg_shape[]){s23}, NULL, &rs, 1, (const char *[]){"[4,2]", "8", "6", NULL});
    lmg_attr rs2 = lmg_attr_ints("shape", 2, (int64_t[]){-1, 4});
    expect_invalid("error: Reshape -1 that does not divide", LMG_OP_RESHAPE, "rs2", 1,
                   (lmg_shape[]){s23}, NULL, &rs2, 1, (const char *[]){"-1", NULL});
    lmg_attr rs3 = lmg_attr_ints("shape", 2, (int64_t[]){-1, -1});
    expect_invalid("error: Reshape with two -1", LMG_OP_RESHAPE, "rs3", 1, (lmg_shape[]){s23},
                   NULL, &rs3, 1, (const char *[]){"more than one -1", NULL});
    lmg_attr rs4 = lmg_attr_ints("shape", 2, (int64_t[]){-2, -3});
    expect_invalid("error: Reshape with a dim of -2", LMG_OP_RESHAPE, "rs4", 1, (lmg_shape[]){s23},
                   NULL, &rs4, 1, (const char *[]){"negative", NULL});
    lmg_attr perm_far = lmg_attr_ints("perm", 3, (int64_t[]){0, 1, 3});
    expect_invalid("error: Transpose perm entry out of range", LMG_OP_TRANSPOSE, "tp3", 1,
                   (lmg_shape[]){s234}, NULL, &perm_far, 1, (const char *[]){"[0,1,3]", NULL});
    lmg_attr far_axis = lmg_attr_ints("axes", 1, (int64_t[]){-4});
    expect_invalid("error: ReduceSum axis out of range", LMG_OP_REDUCE_SUM, "rsum2", 1,
                   (lmg_shape[]){s234}, NULL, &far_axis, 1, (const char *[]){"axis -4", NULL});
    expect_invalid("error: Concat of no inputs", LMG_OP_CONCAT, "cat0", 0, NULL, NULL, NULL, 0,
                   (const char *[]){"0 inputs", NULL});
    lmg_attr step2[2] = {lmg_attr_int("axis", 1), lmg_attr_int("step", 2)};
    expect_invalid("error: Slice with step 2", LMG_OP_SLICE, "sl4", 1, (lmg_shape[]){s23}, NULL,
                   step2, 2, (const char *[]){"step 2", NULL});
    lmg_attr sl[3] = {lmg_attr_int("axis", 1), lmg_attr_int("start", 1), lmg_attr_int("end", 5)};
    expect_invalid("error: Slice end past the dimension", LMG_OP_SLICE, "sl", 1, (lmg_shape[]){s23},
                   NULL, sl, 3, (const char *[]){"out of bounds", "size 3", NULL});
    lmg_attr sl2[3] = {lmg_attr_int("axis", 2), lmg_attr_int("start", 0), lmg_attr_int("end", 1)};
    expect_invalid("error: Slice axis out of range", LMG_OP_SLICE, "sl2", 1, (lmg_shape[]){s23},
                   NULL, sl2, 3, (const char *[]){"axis 2", NULL});
    lmg_attr sl3[3] = {lmg_attr_int("axis", 0), lmg_attr_int("start", -3), lmg_attr_int("end", 1)};
    expect_invalid("error: Slice negative start before the beginning", LMG_OP_SLICE, "sl3", 1,
                   (lmg_shape[]){s23}, NULL, sl3, 3, (const char *[]){"[-3, 1)", NULL});
    lmg_attr cx = lmg_attr_int("axis", 0);
    expect_invalid("error: Concat of mismatched off-axis dims", LMG_OP_CONCAT, "cat", 2,
                   (lmg_shape[]){s23, shp(2, 2, 4)}, NULL, &cx, 1,
                   (const char *[]){"input 1", "[2,4]", NULL});
    lmg_attr ex = lmg_attr_ints("shape", 2, (int64_t[]){3, 3});
    expect_invalid("error: Expand to an incompatible shape", LMG_OP_EXPAND, "ex", 1,
                   (lmg_shape[]){s23}, NULL, &ex, 1, (const char *[]){"[3,3]", NULL});
    lmg_attr dup = lmg_attr_ints("axes", 2, (int64_t[]){1, -2});
    expect_invalid("error: ReduceSum with a repeated axis", LMG_OP_REDUCE_SUM, "rsum", 1,
                   (lmg_shape[]){s234}, NULL, &dup, 1, (const char *[]){"twice", NULL});
    lmg_attr cast = lmg_attr_int("to", 7);
    expect_invalid("error: Cast to an unknown dtype", LMG_OP_CAST, "cast", 1, (lmg_shape[]){s23},
                   NULL, &cast, 1, (const char *[]){"'to'", "7", NULL});
    lmg_attr typo = lmg_attr_float("alpah", 2.0);
    expect_invalid("error: Scale with an unknown attribute", LMG_OP_SCALE, "sc", 1,
                   (lmg_shape[]){s23}, NULL, &typo, 1, (const char *[]){"alpah", NULL});
    expect_invalid("error: Log of i32", LMG_OP_LOG, "lg", 1, (lmg_shape[]){s23},
                   (lmg_dtype[]){I32}, NULL, 0, (const char *[]){"i32", "expected f32", NULL});
    expect_invalid("error: ArgMax of a scalar", LMG_OP_ARGMAX, "am", 1, (lmg_shape[]){shp(0)},
                   NULL, NULL, 0, (const char *[]){"last axis", NULL});
    expect_invalid("error: Where with branches of different dtypes", LMG_OP_WHERE, "wh", 3,
                   (lmg_shape[]){s23, s23, s23}, (lmg_dtype[]){I32, F32, I32}, NULL, 0,
                   (const char *[]){"dtypes differ", NULL});

    /* Sizes whose element count overflows int64 or exceeds 2^40 are refused by inference,
     * before any kernel or planner multiplies them out. */
    const int64_t big = (int64_t)1 << 40;
    lmg_shape scalar = lmg_shape_make(0, NULL);
    lmg_shape col = lmg_shape_make(2, (int64_t[]){big, 1});
    lmg_shape row = lmg_shape_make(2, (int64_t[]){1, big});
    lmg_attr ex_big = lmg_attr_ints("shape", 2, (int64_t[]){big, big});
    expect_invalid("error: Expand to 2^80 elements", LMG_OP_EXPAND, "exbig", 1,
                   (lmg_shape[]){scalar}, NULL, &ex_big, 1, (const char *[]){"2^40", NULL});
    expect_invalid("error: Add broadcasting to 2^80 elements", LMG_OP_ADD, "addbig", 2,
                   (lmg_shape[]){col, row}, NULL, NULL, 0, (const char *[]){"2^40", NULL});
    expect_invalid("error: MatMul with an output of 2^80 elements", LMG_OP_MATMUL, "mmbig", 2,
                   (lmg_shape[]){col, row}, NULL, NULL, 0, (const char *[]){"2^40", NULL});
    lmg_attr sg_big[4] = {lmg_attr_int("axis", 0), lmg_attr_int("start", 0),
                          lmg_attr_int("end", 2), lmg_attr_int("dim", INT64_MAX)};
    expect_invalid("error: SliceGrad with a dim of 2^63-1", LMG_OP_SLICE_GRAD, "sgbig", 1,
                   (lmg_shape[]){s23}, NULL, sg_big, 4, (const char *[]){"2^40", NULL});
    lmg_attr rs_big = lmg_attr_ints("shape", 3, (int64_t[]){(int64_t)1 << 62, 4, 6});
    expect_invalid("error: Reshape whose dims multiply past int64", LMG_OP_RESHAPE, "rsbig", 1,
                   (lmg_shape[]){s23}, NULL, &rs_big, 1, (const char *[]){"2^40", NULL});

    /* A value that large never reaches an op: the builder refuses it by name. */
    test_begin("error: an input of 2^80 elements");
    lmg_graph *g = lmg_graph_new("t");
    lmg_error_clear();
    int x = lmg_graph_input(g, "in0", F32, lmg_shape_make(2, (int64_t[]){big, big}));
    CHECK(x < 0 && g->status == LMG_ERR_INVALID, "status %d, want LMG_ERR_INVALID", g->status);
    CHECK(strstr(lmg_last_error(), "'in0'") && strstr(lmg_last_error(), "2^40"),
          "message does not name the value and the limit: %s", lmg_last_error());
    lmg_graph_free(g);
    test_end();
}

/* ---- gradient graphs --------------------------------------------------------------- */

static int count_op(const lmg_graph *g, lmg_op op, int from)
{
    int c = 0;
    for (int i = from; i < g->n_nodes; i++) c += g->nodes[i].op == op;
    return c;
}

static void test_grad_graphs(void)
{
    test_begin("MatMul with a shared 2-D weight: dW is one 2-D MatMul, no reduction or Transpose");
    lmg_graph *g = lmg_graph_new("t");
    int x = lmg_graph_param(g, "x", F32, shp(4, 2, 3, 4, 5), NULL);
    int w = lmg_graph_param(g, "w", F32, shp(2, 6, 5), NULL);
    int y = lmg_matmul(g, x, w, 0, 1);
    int loss = lmg_reduce_sum(g, y, 0, NULL, 0);
    lmg_graph_rename(g, loss, "loss");
    lmg_graph_add_output(g, loss);
    int n_fwd = g->n_nodes;
    lmg_status s = g->status == LMG_OK ? lmg_autodiff(g, "loss") : g->status;
    CHECK(s == LMG_OK, "autodiff: %s", lmg_last_error());
    if (s == LMG_OK) {
        int gw = lmg_graph_find(g, "grad/w");
        int p = gw >= 0 ? g->values[gw].producer : -1;
        CHECK(p >= 0 && g->nodes[p].op == LMG_OP_MATMUL, "grad/w is not made by a MatMul");
        if (p >= 0 && g->nodes[p].op == LMG_OP_MATMUL)
            CHECK(g->values[g->nodes[p].in[0]].shape.rank == 2 &&
                      g->values[g->nodes[p].in[1]].shape.rank == 2,
                  "the dW product is not 2-D");
        CHECK(count_op(g, LMG_OP_REDUCE_SUM, n_fwd) == 0, "backward has %d ReduceSum",
              count_op(g, LMG_OP_REDUCE_SUM, n_fwd));
        CHECK(count_op(g, LMG_OP_TRANSPOSE, 0) == 0, "graph has Transpose nodes");
        CHECK(count_op(g, LMG_OP_MATMUL, n_fwd) == 2, "backward has %d MatMuls, want 2",
              count_op(g, LMG_OP_MATMUL, n_fwd));
    }
    lmg_graph_free(g);
    test_end();

    test_begin("Maximum sends the gradient of ties to a");
    g = lmg_graph_new("t");
    float v[4] = {1, -2, 3, 0.5f};
    int a = lmg_graph_param(g, "a", F32, shp(1, 4), v);
    int b = lmg_graph_param(g, "b", F32, shp(1, 4), v);
    int m = lmg_graph_node(g, LMG_OP_MAXIMUM, "mx", (int[]){a, b}, 2, NULL, 0, NULL, NULL);
    loss = lmg_reduce_sum(g, m, 0, NULL, 0);
    lmg_graph_rename(g, loss, "loss");
    lmg_graph_add_output(g, loss);
    s = g->status == LMG_OK ? lmg_autodiff(g, "loss") : g->status;
    lmg_exec *e = NULL;
    float ga[4] = {0}, gb[4] = {9, 9, 9, 9};
    if (s == LMG_OK) s = lmg_graph_verify(g);
    if (s == LMG_OK) s = lmg_backend_ref.init(g, &(lmg_exec_opts){0}, &e);
    if (s == LMG_OK) s = lmg_backend_ref.run(e, 0);
    if (s == LMG_OK) s = lmg_backend_ref.read(e, lmg_graph_find(g, "grad/a"), ga, sizeof ga);
    if (s == LMG_OK) s = lmg_backend_ref.read(e, lmg_graph_find(g, "grad/b"), gb, sizeof gb);
    CHECK(s == LMG_OK, "%s", lmg_last_error());
    CHECK(close_f(ga, (float[]){1, 1, 1, 1}, 4, 0) && close_f(gb, (float[]){0, 0, 0, 0}, 4, 0),
          "tie gradients");
    lmg_backend_ref.free(e);
    lmg_graph_free(g);
    test_end();
}

int main(void)
{
    test_add_broadcast();
    test_i32_arith();
    test_div_max_relu();
    test_gelu();
    test_cast_where();
    test_matmul();
    test_transpose_reshape();
    test_slice_concat_expand();
    test_reduce();
    test_walks();
    test_errors();
    test_grad_graphs();
    return test_summary();
}
