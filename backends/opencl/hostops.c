/* hostops.c — the row ops PoCL runs worst (cross-entropy and its gradient, AdamW, LayerNorm,
 * row and column sums, strided copies, attention's softmax rows) and GELU with its gradient as
 * vectorised host code in native kernels on CPU OpenCL devices, chosen after a self-check. */
#include "opencl_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PoCL runs the row kernels of kernels/nn.cl one work-item at a time over a strided loop
 * with a scalar exp per logit (no vectorisation across items around a loop), so GPT-S's
 * loss over [1024, 4096] logits took 35 ms a step. Here each row is walked in 16-float
 * vectors with a polynomial exp, which GCC emits as AVX-512 (or AVX2, or SSE) by
 * target_clones; this file is built with -ftree-vectorize -fno-math-errno. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VEC_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VEC_CLONES
#endif
#ifdef __GNUC__
/* The 64-byte vectors never cross a call: every helper taking one is inlined. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#define VINLINE static inline __attribute__((always_inline))

typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
#define VL 16

VINLINE v16f vf_splat(float x) { return (v16f){0} + x; }
VINLINE v16f vf_load(const float *p)
{
    v16f v;
    memcpy(&v, p, sizeof v);
    return v;
}
VINLINE void vf_store(float *p, v16f v) { memcpy(p, &v, sizeof v); }
/* The first n (< VL) floats of p, the rest `fill`. */
VINLINE v16f vf_load_part(const float *p, int64_t n, float fill)
{
    float t[VL];
    for (int i = 0; i < VL; i++) t[i] = i < n ? p[i] : fill;
    return vf_load(t);
}

/* exp(x) for x <= 0 (and -inf), relative error below 2e-7: x = n ln2 + r with |r| <= ln2/2,
 * Cephes' degree-6 polynomial for exp(r), 2^n built in the exponent bits. Below -87 (where
 * expf itself is below 1.7e-38) the result is 0; NaN stays NaN. Not for x > 0. */
VINLINE v16f vexp_nonpos(v16f x)
{
    const v16f lo = vf_splat(-87.0f), magic = vf_splat(12582912.0f); /* 1.5 * 2^23 */
    v16i under = x < lo;
    x = (v16f)(((v16i)x & ~under) | ((v16i)lo & under));
    v16f t = x * 1.44269504088896341f + magic; /* n + magic, n = round(x / ln2) */
    v16f n = t - magic;
    v16i ni = (v16i)t - (v16i)magic;
    v16f r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    v16f p = vf_splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    v16f y = p * (v16f)((ni + 127) << 23);
    return (v16f)((v16i)y & ~under);
}

VINLINE float vf_hsum(v16f v)
{
    double s = 0;
    for (int i = 0; i < VL; i++) s += v[i];
    return (float)s;
}

/* The largest of x[0..n), NaNs skipped (a comparison with NaN is false); -inf when empty. */
VINLINE float max_skip_nan(const float *x, int64_t n)
{
    v16f m = vf_splat(-INFINITY);
    int64_t j = 0;
    for (; j + VL <= n; j += VL) {
        v16f v = vf_load(x + j);
        v16i gt = v > m;
        m = (v16f)(((v16i)v & gt) | ((v16i)m & ~gt));
    }
    float mx = -INFINITY;
    for (int i = 0; i < VL; i++) mx = m[i] > mx ? m[i] : mx;
    for (; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    return mx;
}

/* The row's log-sum-exp as the reference defines it: -inf for a row of -inf, NaN when the
 * row holds a NaN (which the exp passes on to the sum) or +inf (exp(inf - inf)). */
VEC_CLONES static float row_lse(const float *x, int64_t V) // x (V)
{
    float mx = max_skip_nan(x, V);
    if (mx == INFINITY) return NAN;
    if (mx == -INFINITY) { /* nothing above -inf: only -inf and NaN */
        for (int64_t k = 0; k < V; k++)
            if (isnan(x[k])) return NAN;
        return -INFINITY;
    }
    v16f s = {0}, s2 = {0}, mv = vf_splat(mx);
    int64_t j = 0;
    /* Two accumulators: the exp's latency, not its throughput, would bound one. */
    for (; j + 2 * VL <= V; j += 2 * VL) {
        s += vexp_nonpos(vf_load(x + j) - mv);
        s2 += vexp_nonpos(vf_load(x + j + VL) - mv);
    }
    for (; j + VL <= V; j += VL) s += vexp_nonpos(vf_load(x + j) - mv);
    if (j < V) s += vexp_nonpos(vf_load_part(x + j, V - j, -INFINITY) - mv);
    return mx + logf(vf_hsum(s + s2));
}

/* dx = k * (softmax(x) - onehot(t)) over a row whose log-sum-exp is finite. */
VEC_CLONES static void row_grad(float *dx, const float *x, int64_t V, float lse, float k,
                                int32_t t) // dx, x (V)
{
    v16f lv = vf_splat(lse), kv = vf_splat(k);
    int64_t j = 0;
    for (; j + VL <= V; j += VL) vf_store(dx + j, kv * vexp_nonpos(vf_load(x + j) - lv));
    for (; j < V; j++) dx[j] = k * vexp_nonpos(vf_splat(x[j] - lse))[0];
    dx[t] -= k;
}

/* The host attention's softmax rows (hostgemm.c): r = exp(r - m) with the sum, and the
 * gradient's p = exp(s - lse), d = p (d - di); a score of -inf (a hidden key) gives 0. */
VEC_CLONES static double exp_sum(float *r, int64_t n, float m)
{
    v16f s = {0}, mv = vf_splat(m);
    int64_t j = 0;
    for (; j + VL <= n; j += VL) {
        v16f p = vexp_nonpos(vf_load(r + j) - mv);
        vf_store(r + j, p);
        s += p;
    }
    double t = 0;
    for (int i = 0; i < VL; i++) t += s[i];
    for (; j < n; j++) t += r[j] = vexp_nonpos(vf_splat(r[j] - m))[0];
    return t;
}

VEC_CLONES static void softmax_grad_row(float *s, float *d, int64_t n, float lse, float di)
{
    v16f lv = vf_splat(lse), dv = vf_splat(di);
    int64_t j = 0;
    for (; j + VL <= n; j += VL) {
        v16f p = vexp_nonpos(vf_load(s + j) - lv);
        vf_store(s + j, p);
        vf_store(d + j, p * (vf_load(d + j) - dv));
    }
    for (; j < n; j++) {
        float p = vexp_nonpos(vf_splat(s[j] - lse))[0];
        s[j] = p;
        d[j] = p * (d[j] - di);
    }
}

/* Scores of keys at or after `end` (causal) or whose mask is 0 become -inf. */
VEC_CLONES static void hide_keys(float *r, int64_t n, int64_t end, const float *mask)
{
    for (int64_t j = end; j < n; j++) r[j] = -INFINITY;
    if (mask)
        for (int64_t j = 0; j < end; j++) r[j] = mask[j] != 0.0f ? r[j] : -INFINITY;
}

/* NaN-propagating max of r[0..n) as the reference finds it (-inf when empty). */
VEC_CLONES static float row_max(const float *r, int64_t n)
{
    float mx = max_skip_nan(r, n);
    /* A NaN is skipped above; it turns the exp's sum NaN unless nothing else is visible. */
    if (mx == -INFINITY)
        for (int64_t j = 0; j < n; j++)
            if (isnan(r[j])) return NAN;
    return mx;
}

/* Plain entry points: a clone set's resolver of an external function would be a weak,
 * exported symbol of the library. */
float lmg_cl_host_softmax_row(float *r, int64_t n, int64_t end, const float *mask)
{
    if (end < 0) end = 0;
    if (end > n) end = n;
    hide_keys(r, n, end, mask);
    float m = row_max(r, end);
    if (m == -INFINITY) { /* sees no key: P = 0 */
        memset(r, 0, (size_t)n * sizeof *r);
        return -INFINITY;
    }
    double sum = isnan(m) ? NAN : exp_sum(r, n, m);
    float inv = (float)(1.0 / sum);
    for (int64_t j = 0; j < n; j++) r[j] *= inv;
    return (float)((double)m + log(sum));
}

void lmg_cl_host_softmax_grad_row(float *s, float *d, int64_t n, int64_t end, const float *mask,
                                  float lse, float di)
{
    if (end < 0) end = 0;
    if (end > n) end = n;
    hide_keys(s, n, end, mask);
    softmax_grad_row(s, d, n, lse, di);
}

/* A position counts when its target is not ignore_index and lies in [0, V). */
static int counts(int32_t t, int32_t ignore, int64_t V) { return t != ignore && t >= 0 && t < V; }

typedef struct ce_args {
    lmg_cl_native_hdr h;
    int64_t N, V;
    int32_t ignore;
    int has_w, workers;
    lmg_cl_loc out, dloss, x, tgt, w, part;
} ce_args;

#define CE_ROWS 16 /* rows per piece of work */

typedef struct ce_job {
    const ce_args *a;
    const float *x, *w, *dloss;
    const int32_t *tgt;
    float *out, *part;
    double W;
} ce_job;

/* part[i] = w_i * (lse_i - x[i, t_i]), 0 for a position that does not count. */
static void ce_fwd_piece(void *ctx, int64_t piece, int worker)
{
    (void)worker;
    const ce_job *j = ctx;
    const ce_args *a = j->a;
    for (int64_t i = piece * CE_ROWS; i < a->N && i < (piece + 1) * CE_ROWS; i++) {
        int32_t t = j->tgt[i];
        if (!counts(t, a->ignore, a->V)) {
            j->part[i] = 0.0f;
            continue;
        }
        const float *xi = j->x + i * a->V;
        j->part[i] = (a->has_w ? j->w[i] : 1.0f) * (row_lse(xi, a->V) - xi[t]);
    }
}

static double ce_total_weight(const ce_job *j)
{
    double W = 0;
    for (int64_t i = 0; i < j->a->N; i++)
        if (counts(j->tgt[i], j->a->ignore, j->a->V)) W += j->a->has_w ? (double)j->w[i] : 1.0;
    return W;
}

static void ce_job_of(const ce_args *a, ce_job *j)
{
    memset(j, 0, sizeof *j);
    j->a = a;
    j->x = lmg_cl_native_at(&a->h, a->x);
    j->tgt = (const int32_t *)lmg_cl_native_at(&a->h, a->tgt);
    j->w = a->has_w ? lmg_cl_native_at(&a->h, a->w) : NULL;
    j->out = lmg_cl_native_at(&a->h, a->out);
    j->dloss = lmg_cl_native_at(&a->h, a->dloss);
    j->part = lmg_cl_native_at(&a->h, a->part);
}

/* Rows in parallel, then the weighted mean in double in row order (the same bits whatever
 * the threads did). */
static void CL_CALLBACK ce_fwd(void *p)
{
    const ce_args *a = p;
    ce_job j;
    ce_job_of(a, &j);
    lmg_cl_par_for(a->workers, (a->N + CE_ROWS - 1) / CE_ROWS, ce_fwd_piece, &j);
    double L = 0, W = ce_total_weight(&j);
    for (int64_t i = 0; i < a->N; i++) L += j.part[i];
    j.out[0] = W != 0.0 ? (float)(L / W) : 0.0f;
}

static void ce_bwd_piece(void *ctx, int64_t piece, int worker)
{
    (void)worker;
    const ce_job *j = ctx;
    const ce_args *a = j->a;
    int64_t V = a->V;
    for (int64_t i = piece * CE_ROWS; i < a->N && i < (piece + 1) * CE_ROWS; i++) {
        float *di = j->out + i * V;
        const float *xi = j->x + i * V;
        int32_t t = j->tgt[i];
        if (j->W == 0.0 || !counts(t, a->ignore, V)) {
            memset(di, 0, (size_t)V * sizeof *di);
            continue;
        }
        float k = (float)((double)j->dloss[0] * (a->has_w ? (double)j->w[i] : 1.0) / j->W);
        float lse = row_lse(xi, V);
        if (!isfinite(lse)) { /* exp(x - lse) is NaN, as in the reference */
            for (int64_t c = 0; c < V; c++) di[c] = NAN;
            continue;
        }
        row_grad(di, xi, V, lse, k, t);
    }
}

static void CL_CALLBACK ce_bwd(void *p)
{
    const ce_args *a = p;
    ce_job j;
    ce_job_of(a, &j);
    j.W = ce_total_weight(&j);
    lmg_cl_par_for(a->workers, (a->N + CE_ROWS - 1) / CE_ROWS, ce_bwd_piece, &j);
}

static int ce_workers(int64_t N)
{
    int64_t pieces = (N + CE_ROWS - 1) / CE_ROWS, w = lmg_cl_host_cores();
    return (int)(w < pieces ? w : pieces > 0 ? pieces : 1);
}

/* (logits[..., V], targets, weights?) -> loss */
lmg_status lmg_cl_host_cross_entropy(lmg_exec *e, const lmg_node *n)
{
    ce_args a;
    memset(&a, 0, sizeof a);
    const lmg_shape *s = &lmg_cl_value(e, n->in[0])->shape;
    a.V = s->dims[s->rank - 1];
    a.N = lmg_cl_numel(e, n->in[1]);
    a.ignore = (int32_t)lmg_node_attr_int(n, "ignore_index", -100);
    a.has_w = n->n_in > 2 && n->in[2] >= 0;
    a.x = lmg_cl_at(e, n->in[0]);
    a.tgt = lmg_cl_at(e, n->in[1]);
    a.w = a.has_w ? lmg_cl_at(e, n->in[2]) : a.tgt;
    a.out = lmg_cl_at(e, n->out[0]);
    a.part = lmg_cl_scratch(e, (size_t)(a.N ? a.N : 1));
    a.workers = ce_workers(a.N);
    return lmg_cl_record_native(e, "cross-entropy (host)", ce_fwd, &a, sizeof a);
}

/* (dloss, logits, targets, weights?) -> dlogits */
lmg_status lmg_cl_host_cross_entropy_grad(lmg_exec *e, const lmg_node *n)
{
    ce_args a;
    memset(&a, 0, sizeof a);
    const lmg_shape *s = &lmg_cl_value(e, n->in[1])->shape;
    a.V = s->dims[s->rank - 1];
    a.N = lmg_cl_numel(e, n->in[2]);
    if (a.N == 0 || a.V == 0) return LMG_OK;
    a.ignore = (int32_t)lmg_node_attr_int(n, "ignore_index", -100);
    a.has_w = n->n_in > 3 && n->in[3] >= 0;
    a.dloss = lmg_cl_at(e, n->in[0]);
    a.x = lmg_cl_at(e, n->in[1]);
    a.tgt = lmg_cl_at(e, n->in[2]);
    a.w = a.has_w ? lmg_cl_at(e, n->in[3]) : a.tgt;
    a.out = lmg_cl_at(e, n->out[0]);
    a.part = a.out;
    a.workers = ce_workers(a.N);
    return lmg_cl_record_native(e, "cross-entropy grad (host)", ce_bwd, &a, sizeof a);
}

/* ---- AdamW -------------------------------------------------------------------------- */

/* The update of kernels/optim.cl over one contiguous run of a segment (one weight decay). */
VEC_CLONES static void adamw_span(float *restrict p, const float *restrict g, float *restrict m,
                                  float *restrict v, int64_t n, float gscale, float lr, float wd,
                                  float b1, float b2, float bc1, float bc2, float eps)
{
    float omb1 = 1.0f - b1, omb2 = 1.0f - b2;
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] * gscale, pi = p[i];
        float mi = b1 * m[i] + omb1 * gi;
        float vi = b2 * v[i] + omb2 * gi * gi;
        float upd = (mi / bc1) / (sqrtf(vi / bc2) + eps) + wd * pi;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - lr * upd;
    }
}

/* A piece of the flat block: `len` elements from `start` (relative to the block), one
 * weight decay. */
typedef struct adamw_piece {
    int64_t start, len;
    float wd;
} adamw_piece;

typedef struct adamw_args {
    lmg_cl_native_hdr h;
    lmg_cl_loc p, g, m, v, lr, step, gscale;
    double b1, b2, eps;
    int workers;
    int64_t n_pieces;
    adamw_piece piece[]; /* n_pieces */
} adamw_args;

typedef struct adamw_job {
    const adamw_args *a;
    float *p, *m, *v;
    const float *g;
    float gscale, lr, bc1, bc2;
} adamw_job;

static void adamw_piece_run(void *ctx, int64_t k, int worker)
{
    (void)worker;
    const adamw_job *j = ctx;
    const adamw_args *a = j->a;
    const adamw_piece *pc = &a->piece[k];
    int64_t o = pc->start;
    adamw_span(j->p + o, j->g + o, j->m + o, j->v + o, pc->len, j->gscale, j->lr, pc->wd,
               (float)a->b1, (float)a->b2, j->bc1, j->bc2, (float)a->eps);
}

static void CL_CALLBACK adamw_run_host(void *q)
{
    const adamw_args *a = q;
    const lmg_cl_native_hdr *h = &a->h;
    adamw_job j = {a, lmg_cl_native_at(h, a->p), lmg_cl_native_at(h, a->m),
                   lmg_cl_native_at(h, a->v), lmg_cl_native_at(h, a->g), 0, 0, 0, 0};
    double step = *(const int32_t *)lmg_cl_native_at(h, a->step);
    j.gscale = lmg_cl_native_at(h, a->gscale)[0];
    j.lr = lmg_cl_native_at(h, a->lr)[0];
    /* 1 - beta^step without cancellation for beta near 1, as kernels/optim.cl */
    j.bc1 = (float)-expm1(step * log(a->b1));
    j.bc2 = (float)-expm1(step * log(a->b2));
    lmg_cl_par_for(a->workers, a->n_pieces, adamw_piece_run, &j);
}

#define ADAMW_PIECE 32768 /* elements: a few pieces per core even for one small tensor */

lmg_status lmg_cl_host_adamw(lmg_exec *e, const lmg_node *n, lmg_cl_loc p, lmg_cl_loc g,
                             lmg_cl_loc m, lmg_cl_loc v, int64_t count, int nseg,
                             const int64_t *starts, const double *wd)
{
    int64_t pieces = 0;
    for (int k = 0; k < nseg; k++) {
        int64_t end = k + 1 < nseg ? starts[k + 1] : count;
        pieces += (end - starts[k] + ADAMW_PIECE - 1) / ADAMW_PIECE;
    }
    size_t size = sizeof(adamw_args) + (size_t)pieces * sizeof(adamw_piece);
    adamw_args *a = calloc(1, size);
    if (!a) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    a->p = p, a->g = g, a->m = m, a->v = v;
    a->lr = lmg_cl_at(e, n->in[4]);
    a->step = lmg_cl_at(e, n->in[5]);
    a->gscale = lmg_cl_at(e, n->in[6]);
    a->b1 = lmg_node_attr_float(n, "beta1", 0.9);
    a->b2 = lmg_node_attr_float(n, "beta2", 0.999);
    a->eps = lmg_node_attr_float(n, "eps", 1e-8);
    for (int k = 0; k < nseg; k++) {
        int64_t end = k + 1 < nseg ? starts[k + 1] : count;
        for (int64_t o = starts[k]; o < end; o += ADAMW_PIECE) {
            adamw_piece *pc = &a->piece[a->n_pieces++];
            pc->start = o;
            pc->len = end - o < ADAMW_PIECE ? end - o : ADAMW_PIECE;
            pc->wd = (float)wd[k];
        }
    }
    int64_t w = lmg_cl_host_cores();
    a->workers = (int)(w < a->n_pieces ? w : a->n_pieces > 0 ? a->n_pieces : 1);
    lmg_status s = lmg_cl_record_native(e, "adamw (host)", adamw_run_host, a, size);
    free(a);
    return s;
}

/* ---- GELU and its gradient ---------------------------------------------------------- */

/* PoCL runs ew_GELU and ew_GELU_GRAD at about 7 GB/s on GPT-S's [1024, 1024] activations,
 * a scalar exp per element. Here tanh(u) comes from e = exp(-2|u|) (vexp_nonpos): with
 * p = 1 + tanh(u) and q = 1 - tanh(u), the one of them on u's side is 2/(1 + e) and the other
 * 2e/(1 + e), so neither GELU's 0.5 x p nor 1 - tanh^2 = p q cancels. Beyond |x| ~ 1e13 the
 * cube is inf, e is 0 and GELU is x (or -0); x^2 is capped at 1e30 so that the derivative's
 * p q (0 there) times it stays 0 and the derivative 1 (or 0) as in double, not inf * 0.
 * NaN passes through e; +-inf give what the double definition gives (inf or NaN). */
#define GELU_C 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_K 0.044715f

/* p and q of x, as above. */
VINLINE void gelu_pq(v16f x, v16f *p, v16f *q)
{
    v16f u = GELU_C * (x + GELU_K * x * x * x);
    v16i neg = u < 0.0f;
    v16f au = (v16f)((v16i)u & 0x7fffffff); /* |u| */
    v16f e = vexp_nonpos(-2.0f * au);
    v16f big = 2.0f / (1.0f + e), small = big * e;
    *p = (v16f)(((v16i)small & neg) | ((v16i)big & ~neg));
    *q = (v16f)(((v16i)big & neg) | ((v16i)small & ~neg));
}

VINLINE v16f gelu_v(v16f x)
{
    v16f p, q;
    gelu_pq(x, &p, &q);
    return 0.5f * x * p;
}

VINLINE v16f gelu_deriv_v(v16f x)
{
    v16f p, q;
    gelu_pq(x, &p, &q);
    v16f x2 = x * x;
    v16i cap = x2 > 1e30f;
    x2 = (v16f)(((v16i)x2 & ~cap) | ((v16i)vf_splat(1e30f) & cap));
    return 0.5f * p + (0.5f * x * (p * q)) * (GELU_C * (1.0f + 3.0f * GELU_K * x2));
}

/* y = gelu(x), or (grad) y = a * gelu'(x), over n elements; y may be x or a (in place): each
 * vector is read before it is written. */
VEC_CLONES static void gelu_span(float *y, const float *a, const float *x, int64_t n, int grad)
{
    int64_t j = 0;
    if (grad)
        for (; j + VL <= n; j += VL) vf_store(y + j, vf_load(a + j) * gelu_deriv_v(vf_load(x + j)));
    else
        for (; j + VL <= n; j += VL) vf_store(y + j, gelu_v(vf_load(x + j)));
    if (j == n) return;
    float t[VL];
    v16f v = vf_load_part(x + j, n - j, 0.0f);
    v = grad ? vf_load_part(a + j, n - j, 0.0f) * gelu_deriv_v(v) : gelu_v(v);
    vf_store(t, v);
    memcpy(y + j, t, (size_t)(n - j) * sizeof *y);
}

typedef struct gelu_args {
    lmg_cl_native_hdr h;
    lmg_cl_loc y, a, x; /* a: GeluGrad's dy (unused by Gelu) */
    int64_t n, piece;   /* elements, and per piece of work */
    int grad, workers;
} gelu_args;

static void gelu_piece(void *ctx, int64_t k, int worker)
{
    (void)worker;
    const gelu_args *g = ctx;
    int64_t o = k * g->piece, len = g->n - o < g->piece ? g->n - o : g->piece;
    gelu_span(lmg_cl_native_at(&g->h, g->y) + o, lmg_cl_native_at(&g->h, g->a) + o,
              lmg_cl_native_at(&g->h, g->x) + o, len, g->grad);
}

static void CL_CALLBACK gelu_run(void *p)
{
    const gelu_args *g = p;
    lmg_cl_par_for(g->workers, (g->n + g->piece - 1) / g->piece, gelu_piece, (void *)g);
}

/* 64 KB of each operand per piece: tens of pieces for a [1024, 1024] activation. */
#define GELU_PIECE 16384

static lmg_status gelu_record(lmg_exec *e, const char *name, lmg_cl_loc y, lmg_cl_loc a,
                              lmg_cl_loc x, int64_t n, int grad)
{
    if (n == 0) return LMG_OK;
    gelu_args g;
    memset(&g, 0, sizeof g);
    g.y = y, g.a = a, g.x = x, g.n = n, g.piece = GELU_PIECE, g.grad = grad;
    int64_t pieces = (n + GELU_PIECE - 1) / GELU_PIECE, w = lmg_cl_host_cores();
    g.workers = (int)(w < pieces ? w : pieces);
    return lmg_cl_record_native(e, name, gelu_run, &g, sizeof g);
}

lmg_status lmg_cl_host_gelu(lmg_exec *e, lmg_cl_loc y, const lmg_cl_loc *in, int64_t n)
{
    return gelu_record(e, "gelu (host)", y, in[0], in[0], n, 0);
}

lmg_status lmg_cl_host_gelu_grad(lmg_exec *e, lmg_cl_loc y, const lmg_cl_loc *in, int64_t n)
{
    return gelu_record(e, "gelu grad (host)", y, in[0], in[1], n, 1);
}

/* ---- the check ---------------------------------------------------------------------- */

/* Run fn on args whose regions all start at `buf` (region 0), as a native kernel would. */
static void run_on(void (*fn)(void *), void *args, float *buf)
{
    lmg_cl_native_hdr *h = args;
    memset(h, 0, sizeof *h);
    h->mem = buf;
    fn(args);
}

static lmg_cl_loc at0(uint64_t off) { return (lmg_cl_loc){0, off}; }

/* The exp over [-100, 0] against libm in double; cross-entropy forward and gradient of rows
 * with vector tails, -inf logits, an ignored and an out-of-range target and weights; and an
 * AdamW update over two segments, all against double-precision definitions. */
static int check_ops(char *why, size_t nwhy)
{
    for (int i = 0; i <= 200000; i++) {
        float x = -100.0f + (float)i * 0.0005f;
        float y = vexp_nonpos(vf_splat(x))[0];
        double r = exp((double)x);
        if (x >= -87.0f ? !(fabs(y - r) <= 4e-7 * r) : !(y >= 0 && y <= 2e-38f)) {
            snprintf(why, nwhy, "exp(%.9g) gave %.9g, not %.9g", x, y, r);
            return 0;
        }
    }
    enum { N = 6, V = 37 };
    static const int32_t tgt[N] = {3, -100, 36, 0, 40, 17};
    float *buf = calloc(4 * N * V + 4 * N + 64, sizeof *buf);
    if (!buf) {
        snprintf(why, nwhy, "out of memory");
        return 0;
    }
    /* layout: x [N,V], dx [N,V], targets, weights, dloss, loss, part [N] */
    float *x = buf, *dx = x + N * V, *w = dx + N * V + N, *dl = w + N, *loss = dl + 1;
    memcpy(dx + N * V, tgt, sizeof tgt);
    uint32_t seed = 99;
    for (int i = 0; i < N * V; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) % 60001) / 1000.0f - 30.0f;
        if (i % 11 == 5 && i % V != tgt[i / V]) x[i] = -INFINITY;
    }
    for (int i = 0; i < N; i++) w[i] = 0.25f + 0.5f * (float)i;
    dl[0] = 1.5f;
    ce_args a;
    memset(&a, 0, sizeof a);
    a.N = N, a.V = V, a.ignore = -100, a.has_w = 1, a.workers = 2;
    a.x = at0(0), a.tgt = at0(2 * N * V), a.w = at0((uint64_t)(w - buf));
    a.dloss = at0((uint64_t)(dl - buf)), a.part = at0((uint64_t)(loss + 1 - buf));
    a.out = at0((uint64_t)(loss - buf));
    run_on(ce_fwd, &a, buf);
    a.out = at0(N * V);
    run_on(ce_bwd, &a, buf);
    double L = 0, W = 0, lse[N], maxerr = 0;
    for (int i = 0; i < N; i++) {
        double m = -INFINITY, s = 0;
        for (int j = 0; j < V; j++) m = fmax(m, x[i * V + j]);
        for (int j = 0; j < V; j++) s += exp((double)x[i * V + j] - m);
        lse[i] = m + log(s);
        if (counts(tgt[i], -100, V)) {
            L += w[i] * (lse[i] - x[i * V + tgt[i]]);
            W += w[i];
        }
    }
    int ok = fabs(loss[0] - L / W) <= 1e-6 * fabs(L / W);
    if (!ok) snprintf(why, nwhy, "cross-entropy %.9g, not %.9g", loss[0], L / W);
    for (int i = 0; i < N && ok; i++)
        for (int j = 0; j < V; j++) {
            int live = counts(tgt[i], -100, V);
            double r = live ? dl[0] * w[i] / W * (exp(x[i * V + j] - lse[i]) - (j == tgt[i])) : 0;
            double d = fabs(dx[i * V + j] - r);
            maxerr = d > maxerr || isnan(d) ? (isnan(d) ? INFINITY : d) : maxerr;
        }
    if (ok && !(maxerr <= 1e-6)) {
        ok = 0;
        snprintf(why, nwhy, "cross-entropy gradient off by %.3g", maxerr);
    }
    /* AdamW over 40 elements, decay 0.1 on the first 24, none after; step 3 */
    enum { P = 40 };
    float *p = buf, *g = p + P, *m = g + P, *v = m + P, *sc = v + P, p0[P], m0[P], v0[P];
    for (int i = 0; i < P; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = p0[i] = (float)((seed >> 8) % 2001) / 1000.0f - 1.0f;
        g[i] = (float)((seed >> 4) % 2001) / 1000.0f - 1.0f;
        m[i] = m0[i] = 0.1f * g[i];
        v[i] = v0[i] = 0.01f * g[i] * g[i] + (i == 7 ? 0.0f : 1e-4f);
    }
    g[7] = 0, m[7] = m0[7] = 0, v[7] = v0[7] = 0; /* a parameter never touched yet */
    sc[0] = 1e-3f, sc[1] = 0.5f;
    int32_t step = 3;
    memcpy(&sc[2], &step, 4);
    adamw_args *ad = calloc(1, sizeof *ad + 2 * sizeof(adamw_piece));
    if (!ad) {
        free(buf);
        snprintf(why, nwhy, "out of memory");
        return 0;
    }
    ad->p = at0(0), ad->g = at0(P), ad->m = at0(2 * P), ad->v = at0(3 * P);
    ad->lr = at0(4 * P), ad->gscale = at0(4 * P + 1), ad->step = at0(4 * P + 2);
    ad->b1 = 0.9, ad->b2 = 0.999, ad->eps = 1e-8, ad->workers = 2, ad->n_pieces = 2;
    ad->piece[0] = (adamw_piece){0, 24, 0.1f};
    ad->piece[1] = (adamw_piece){24, P - 24, 0.0f};
    run_on(adamw_run_host, ad, buf);
    free(ad);
    for (int i = 0; i < P && ok; i++) {
        double gi = (double)g[i] * sc[1], wd = i < 24 ? 0.1 : 0.0;
        double mi = 0.9 * m0[i] + 0.1 * gi, vi = 0.999 * v0[i] + 0.001 * gi * gi;
        double bc1 = 1 - pow(0.9, 3), bc2 = 1 - pow(0.999, 3);
        double upd = (mi / bc1) / (sqrt(vi / bc2) + 1e-8) + wd * p0[i];
        double pr = p0[i] - 1e-3 * upd;
        if (!(fabs(p[i] - pr) <= 1e-6 && fabs(m[i] - mi) <= 1e-6 && fabs(v[i] - vi) <= 1e-7)) {
            ok = 0;
            snprintf(why, nwhy, "AdamW element %d: %.9g, not %.9g", i, p[i], pr);
        }
    }
    free(buf);
    return ok;
}

static pthread_once_t check_once = PTHREAD_ONCE_INIT;
static int check_ok;
static char check_why[128];

static int check_more(char *why, size_t nwhy);
static int check_gelu(char *why, size_t nwhy);

static void check_run(void)
{
    check_ok = check_ops(check_why, sizeof check_why) && check_more(check_why, sizeof check_why) &&
               check_gelu(check_why, sizeof check_why);
}

lmg_status lmg_cl_hostops_choose(lmg_cl_dev *d)
{
    const char *env = getenv("LMG_CL_HOST_OPS");
    d->ops_host = 0;
    if (env && *env && strcmp(env, "auto") != 0 && strcmp(env, "off") != 0)
        return lmg_error(LMG_ERR_ARG, "opencl: LMG_CL_HOST_OPS is '%s'; it takes auto or off", env);
    if (!d->gemm_host) return LMG_OK; /* native kernels only run where host BLAS does */
    size_t used = strlen(d->gemm_route);
    char *at = d->gemm_route + used;
    size_t room = sizeof d->gemm_route - used;
    if (env && strcmp(env, "off") == 0) {
        snprintf(at, room,
                 "; loss, AdamW, LayerNorm, sums, copies, GELU: kernels (LMG_CL_HOST_OPS=off)");
        return LMG_OK;
    }
    pthread_once(&check_once, check_run);
    if (!check_ok) {
        snprintf(at, room, "; loss, AdamW, LayerNorm, sums, copies, GELU: kernels (host code "
                 "rejected: %s)", check_why);
        return LMG_OK;
    }
    d->ops_host = 1;
    snprintf(at, room, "; loss, AdamW, LayerNorm, sums, copies, GELU: host code (checked)");
    return LMG_OK;
}

/* ---- strided copies (Transpose, Slice, Concat, Expand) ------------------------------ */

/* PoCL's copy_rows ran GPT-S's head split and merge (rows of 64 floats) at 7 GB/s; here a
 * row is a memcpy when both sides are contiguous along it. */
typedef struct copy_args {
    lmg_cl_native_hdr h;
    lmg_cl_loc y, x;
    int rank, workers;
    int64_t dims[LMG_CL_MAXR], yst[LMG_CL_MAXR], xst[LMG_CL_MAXR];
    int64_t rows, per; /* rows = the walk without its last dim; per piece */
} copy_args;

static void copy_piece(void *ctx, int64_t piece, int worker)
{
    (void)worker;
    const copy_args *a = ctx;
    float *y = lmg_cl_native_at(&a->h, a->y);
    const float *x = lmg_cl_native_at(&a->h, a->x);
    int last = a->rank - 1;
    int64_t n = a->dims[last], ys = a->yst[last], xs = a->xst[last];
    int64_t r0 = piece * a->per, r1 = r0 + a->per < a->rows ? r0 + a->per : a->rows;
    int64_t c[LMG_CL_MAXR], oy = 0, ox = 0, rest = r0;
    for (int d = last - 1; d >= 0; d--) {
        c[d] = rest % a->dims[d];
        rest /= a->dims[d];
        oy += c[d] * a->yst[d];
        ox += c[d] * a->xst[d];
    }
    for (int64_t r = r0; r < r1; r++) {
        if (ys == 1 && xs == 1) memcpy(y + oy, x + ox, (size_t)n * sizeof *y);
        else
            for (int64_t i = 0; i < n; i++) y[oy + i * ys] = x[ox + i * xs];
        for (int d = last - 1; d >= 0; d--) { /* the next row's coordinates */
            oy += a->yst[d];
            ox += a->xst[d];
            if (++c[d] < a->dims[d]) break;
            oy -= a->yst[d] * a->dims[d];
            ox -= a->xst[d] * a->dims[d];
            c[d] = 0;
        }
    }
}

static void CL_CALLBACK copy_run(void *p)
{
    const copy_args *a = p;
    lmg_cl_par_for(a->workers, (a->rows + a->per - 1) / a->per, copy_piece, (void *)a);
}

lmg_status lmg_cl_host_copy(lmg_exec *e, const lmg_cl_desc *d, lmg_cl_loc y, lmg_cl_loc x)
{
    copy_args a;
    memset(&a, 0, sizeof a);
    a.y = y, a.x = x, a.rank = d->rank;
    a.rows = 1;
    for (int i = 0; i < d->rank; i++) {
        a.dims[i] = d->dims[i];
        a.yst[i] = d->st[0][i];
        a.xst[i] = d->st[1][i];
        if (i < d->rank - 1) a.rows *= d->dims[i];
    }
    int64_t n = d->rank ? a.dims[d->rank - 1] : 1;
    if (a.rows * n == 0) return LMG_OK;
    a.per = (16384 + n - 1) / (n ? n : 1);
    int64_t pieces = (a.rows + a.per - 1) / a.per, w = lmg_cl_host_cores();
    a.workers = (int)(w < pieces ? w : pieces);
    return lmg_cl_record_native(e, "copy (host)", copy_run, &a, sizeof a);
}

/* ---- sums over rows or columns (ReduceSum, ReduceMean) ------------------------------ */

/* cols: x [R, K] summed over R into y [K] (the bias gradients), a block of columns per
 * piece with double accumulators; rows: x [K, R] summed along R, `chunks` pieces per row
 * whose double partials are added in order (a total over a whole tensor included). */
typedef struct red_args {
    lmg_cl_native_hdr h;
    lmg_cl_loc y, x, part;
    int64_t R, K, chunk, chunks;
    int cols, workers;
    double div;
} red_args;

#define RED_COLS 128

VEC_CLONES static void red_cols_piece(void *ctx, int64_t piece, int worker)
{
    (void)worker;
    const red_args *a = ctx;
    float *y = lmg_cl_native_at(&a->h, a->y);
    const float *x = lmg_cl_native_at(&a->h, a->x);
    int64_t c0 = piece * RED_COLS, n = a->K - c0 < RED_COLS ? a->K - c0 : RED_COLS;
    double acc[RED_COLS] = {0};
    for (int64_t r = 0; r < a->R; r++) {
        const float *row = x + r * a->K + c0;
        for (int64_t j = 0; j < n; j++) acc[j] += row[j];
    }
    for (int64_t j = 0; j < n; j++) y[c0 + j] = (float)(acc[j] / a->div);
}

/* Sixteen float lanes over blocks of 1024 elements, each block's total added in double. */
VEC_CLONES static void red_rows_piece(void *ctx, int64_t piece, int worker)
{
    (void)worker;
    const red_args *a = ctx;
    int64_t k = piece / a->chunks, c = piece % a->chunks, lo = c * a->chunk;
    int64_t n = a->R - lo < a->chunk ? a->R - lo : a->chunk;
    const float *x = lmg_cl_native_at(&a->h, a->x) + k * a->R + lo;
    double s = 0;
    int64_t j = 0;
    while (j < n) {
        int64_t end = n - j < 1024 ? n : j + 1024;
        v16f v = {0};
        for (; j + VL <= end; j += VL) v += vf_load(x + j);
        double t = 0;
        for (int i = 0; i < VL; i++) t += v[i];
        for (; j < end; j++) t += x[j];
        s += t;
    }
    ((double *)lmg_cl_native_at(&a->h, a->part))[piece] = s;
}

static void CL_CALLBACK red_run(void *p)
{
    const red_args *a = p;
    if (a->cols) {
        lmg_cl_par_for(a->workers, (a->K + RED_COLS - 1) / RED_COLS, red_cols_piece, (void *)a);
        return;
    }
    lmg_cl_par_for(a->workers, a->K * a->chunks, red_rows_piece, (void *)a);
    const double *part = (const double *)lmg_cl_native_at(&a->h, a->part);
    float *y = lmg_cl_native_at(&a->h, a->y);
    for (int64_t k = 0; k < a->K; k++) {
        double s = 0;
        for (int64_t c = 0; c < a->chunks; c++) s += part[k * a->chunks + c];
        y[k] = (float)(s / a->div);
    }
}

lmg_status lmg_cl_host_reduce(lmg_exec *e, lmg_cl_loc y, lmg_cl_loc x, int64_t R, int64_t K,
                              int cols, double div)
{
    red_args a;
    memset(&a, 0, sizeof a);
    a.y = y, a.x = x, a.R = R, a.K = K, a.cols = cols, a.div = div;
    int64_t pieces;
    if (cols) {
        pieces = (K + RED_COLS - 1) / RED_COLS;
    } else {
        a.chunk = 65536;
        a.chunks = (R + a.chunk - 1) / a.chunk;
        pieces = K * a.chunks;
        a.part = lmg_cl_scratch(e, (size_t)(2 * pieces)); /* doubles, 8-byte aligned */
    }
    int64_t w = lmg_cl_host_cores();
    a.workers = (int)(w < pieces ? w : pieces);
    return lmg_cl_record_native(e, cols ? "column sums (host)" : "row sums (host)", red_run, &a,
                                sizeof a);
}

/* ---- LayerNorm and its gradient ----------------------------------------------------- */

/* Sum of x[0..n) (or of (x - m)^2) in sixteen float lanes, the lanes added in double. */
VINLINE double vsum(const float *x, int64_t n, int sq,
                                                         float m)
{
    v16f s = {0}, mv = vf_splat(m);
    int64_t j = 0;
    for (; j + VL <= n; j += VL) {
        v16f d = vf_load(x + j) - mv;
        s += sq ? d * d : d;
    }
    double t = 0;
    for (int i = 0; i < VL; i++) t += s[i];
    for (; j < n; j++) t += sq ? ((double)x[j] - m) * ((double)x[j] - m) : (double)x[j] - m;
    return t;
}

/* Sums of dy*g and of dy*g*(x - m)*r over a row. */
VINLINE void vsum_grad(const float *dy, const float *x,
                                                            const float *g, int64_t n, float m,
                                                            float r, double *a, double *b)
{
    v16f sa = {0}, sb = {0}, mv = vf_splat(m), rv = vf_splat(r);
    int64_t j = 0;
    for (; j + VL <= n; j += VL) {
        v16f dn = vf_load(dy + j) * vf_load(g + j);
        sa += dn;
        sb += dn * ((vf_load(x + j) - mv) * rv);
    }
    double ta = 0, tb = 0;
    for (int i = 0; i < VL; i++) ta += sa[i], tb += sb[i];
    for (; j < n; j++) {
        double dn = (double)dy[j] * g[j];
        ta += dn;
        tb += dn * (((double)x[j] - m) * r);
    }
    *a = ta, *b = tb;
}

typedef struct ln_args {
    lmg_cl_native_hdr h;
    lmg_cl_loc y, mean, rstd, x, gamma, beta; /* forward */
    lmg_cl_loc dx, dgamma, dbeta, dy, part;   /* backward (x, gamma, mean, rstd as above) */
    int64_t R, C, rows; /* rows per piece */
    int workers;
    double eps;
} ln_args;

VEC_CLONES static void ln_fwd_piece(void *ctx, int64_t piece, int worker)
{
    (void)worker;
    const ln_args *a = ctx;
    const lmg_cl_native_hdr *h = &a->h;
    const float *g = lmg_cl_native_at(h, a->gamma), *bt = lmg_cl_native_at(h, a->beta);
    int64_t C = a->C;
    for (int64_t r = piece * a->rows; r < a->R && r < (piece + 1) * a->rows; r++) {
        const float *x = lmg_cl_native_at(h, a->x) + r * C;
        float *y = lmg_cl_native_at(h, a->y) + r * C;
        float m = (float)(vsum(x, C, 0, 0.0f) / (double)C);
        double v = vsum(x, C, 1, m) / (double)C; /* biased, as the reference */
        float s = (float)(1.0 / sqrt(v + a->eps));
        for (int64_t j = 0; j < C; j++) y[j] = (x[j] - m) * s * g[j] + bt[j];
        lmg_cl_native_at(h, a->mean)[r] = m;
        lmg_cl_native_at(h, a->rstd)[r] = s;
    }
}

static void CL_CALLBACK ln_fwd(void *p)
{
    const ln_args *a = p;
    lmg_cl_par_for(a->workers, (a->R + a->rows - 1) / a->rows, ln_fwd_piece, (void *)a);
}

/* dx per row; dgamma and dbeta partials of the piece's rows in part[piece][2C]. */
VEC_CLONES static void ln_bwd_piece(void *ctx, int64_t piece, int worker)
{
    (void)worker;
    const ln_args *a = ctx;
    const lmg_cl_native_hdr *h = &a->h;
    const float *g = lmg_cl_native_at(h, a->gamma);
    int64_t C = a->C;
    float *pg = lmg_cl_native_at(h, a->part) + piece * 2 * C, *pb = pg + C;
    for (int64_t j = 0; j < 2 * C; j++) pg[j] = 0.0f;
    for (int64_t r = piece * a->rows; r < a->R && r < (piece + 1) * a->rows; r++) {
        const float *x = lmg_cl_native_at(h, a->x) + r * C;
        const float *dy = lmg_cl_native_at(h, a->dy) + r * C;
        float *dx = lmg_cl_native_at(h, a->dx) + r * C; /* may be dy's storage */
        float m = lmg_cl_native_at(h, a->mean)[r], s = lmg_cl_native_at(h, a->rstd)[r];
        double sa, sb;
        vsum_grad(dy, x, g, C, m, s, &sa, &sb);
        float dmean = (float)(sa / (double)C), dnn = (float)(sb / (double)C);
        for (int64_t j = 0; j < C; j++) {
            pg[j] += dy[j] * ((x[j] - m) * s);
            pb[j] += dy[j];
        }
        for (int64_t j = 0; j < C; j++)
            dx[j] = s * (dy[j] * g[j] - dmean - (x[j] - m) * s * dnn);
    }
}

static void CL_CALLBACK ln_bwd(void *p)
{
    const ln_args *a = p;
    int64_t pieces = (a->R + a->rows - 1) / a->rows, C = a->C;
    lmg_cl_par_for(a->workers, pieces, ln_bwd_piece, (void *)a);
    const float *part = lmg_cl_native_at(&a->h, a->part);
    float *dg = lmg_cl_native_at(&a->h, a->dgamma), *db = lmg_cl_native_at(&a->h, a->dbeta);
    for (int64_t j = 0; j < C; j++) {
        double sg = 0, sb = 0;
        for (int64_t k = 0; k < pieces; k++) {
            sg += part[k * 2 * C + j];
            sb += part[k * 2 * C + C + j];
        }
        dg[j] = (float)sg;
        db[j] = (float)sb;
    }
}

static void ln_sizes(ln_args *a)
{
    a->rows = (16384 + a->C - 1) / (a->C ? a->C : 1);
    if (a->rows > 64) a->rows = 64; /* enough pieces to share, few partial rows to add */
    int64_t pieces = (a->R + a->rows - 1) / a->rows, w = lmg_cl_host_cores();
    a->workers = (int)(w < pieces ? w : pieces > 0 ? pieces : 1);
}

/* (x, gamma, beta) -> (y, mean, rstd) over rows of x's last dim C. */
lmg_status lmg_cl_host_layer_norm(lmg_exec *e, const lmg_node *n, int64_t R, int64_t C)
{
    ln_args a;
    memset(&a, 0, sizeof a);
    a.R = R, a.C = C, a.eps = lmg_node_attr_float(n, "eps", 1e-5);
    a.y = lmg_cl_at(e, n->out[0]), a.mean = lmg_cl_at(e, n->out[1]);
    a.rstd = lmg_cl_at(e, n->out[2]);
    a.x = lmg_cl_at(e, n->in[0]), a.gamma = lmg_cl_at(e, n->in[1]), a.beta = lmg_cl_at(e, n->in[2]);
    ln_sizes(&a);
    return lmg_cl_record_native(e, "layernorm (host)", ln_fwd, &a, sizeof a);
}

/* (dy, x, gamma, mean, rstd) -> (dx, dgamma, dbeta), R >= 1 rows of C >= 1. */
lmg_status lmg_cl_host_layer_norm_grad(lmg_exec *e, const lmg_node *n, int64_t R, int64_t C)
{
    ln_args a;
    memset(&a, 0, sizeof a);
    a.R = R, a.C = C;
    a.dy = lmg_cl_at(e, n->in[0]), a.x = lmg_cl_at(e, n->in[1]), a.gamma = lmg_cl_at(e, n->in[2]);
    a.mean = lmg_cl_at(e, n->in[3]), a.rstd = lmg_cl_at(e, n->in[4]);
    a.dx = lmg_cl_at(e, n->out[0]), a.dgamma = lmg_cl_at(e, n->out[1]);
    a.dbeta = lmg_cl_at(e, n->out[2]);
    ln_sizes(&a);
    a.part = lmg_cl_scratch(e, (size_t)(2 * C * ((R + a.rows - 1) / a.rows)));
    return lmg_cl_record_native(e, "layernorm grad (host)", ln_bwd, &a, sizeof a);
}

/* ---- the check, continued ----------------------------------------------------------- */

static float check_rand(uint32_t *seed)
{
    *seed = *seed * 1664525u + 1013904223u;
    return (float)((*seed >> 8) % 20001) / 10000.0f - 1.0f;
}

static int check_close(const float *got, const double *want, int64_t n, double tol,
                       const char *what, char *why, size_t nwhy)
{
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol * (1.0 + fabs(want[i])))) {
            snprintf(why, nwhy, "%s element %lld: %.9g, not %.9g", what, (long long)i, got[i],
                     want[i]);
            return 0;
        }
    return 1;
}

/* LayerNorm forward and gradient over rows with a vector tail in several pieces, column and
 * row sums over several pieces, the attention's softmax rows, and copies with a contiguous
 * and a strided inner dim. */
static int check_more(char *why, size_t nwhy)
{
    enum { R = 5, C = 37, N = R * C, KR = 70, KC = 150, RL = 2500 };
    size_t total = 8 * N + 4 * C + 4 * R + KR * KC + 3 * RL + 4096;
    float *buf = calloc(total, sizeof *buf);
    double *want = calloc(KR * KC + 3 * RL + 2 * N, sizeof *want);
    int ok = buf && want;
    if (!ok) snprintf(why, nwhy, "out of memory");
    uint32_t seed = 7;
    /* layout: x, y, dy, dx [N]; gamma, beta, dgamma, dbeta [C]; mean, rstd [R]; part */
    float *x = buf, *y = x + N, *dy = y + N, *dx = dy + N, *g = dx + N, *b = g + C;
    float *dg = b + C, *db = dg + C;
    for (int i = 0; ok && i < N; i++) {
        x[i] = 3.0f * check_rand(&seed) + 0.5f;
        dy[i] = check_rand(&seed);
    }
    for (int j = 0; ok && j < C; j++) {
        g[j] = 1.0f + 0.5f * check_rand(&seed);
        b[j] = check_rand(&seed);
    }
    ln_args a;
    memset(&a, 0, sizeof a);
    a.R = R, a.C = C, a.rows = 2, a.workers = 2, a.eps = 1e-5;
    a.x = at0(0), a.y = at0(N), a.dy = at0(2 * N), a.dx = at0(3 * N), a.gamma = at0(4 * N);
    a.beta = at0(4 * N + C), a.dgamma = at0(4 * N + 2 * C), a.dbeta = at0(4 * N + 3 * C);
    a.mean = at0(4 * N + 4 * C), a.rstd = at0(4 * N + 4 * C + R);
    a.part = at0(4 * N + 4 * C + 2 * R);
    if (ok) {
        run_on(ln_fwd, &a, buf);
        run_on(ln_bwd, &a, buf);
    }
    double *wy = want, *wdx = want + N, acc[2 * C];
    memset(acc, 0, sizeof acc);
    for (int r = 0; ok && r < R; r++) {
        double m = 0, v = 0, dm = 0, dn = 0;
        for (int j = 0; j < C; j++) m += x[r * C + j];
        m /= C;
        for (int j = 0; j < C; j++) v += (x[r * C + j] - m) * (x[r * C + j] - m);
        double s = 1.0 / sqrt(v / C + 1e-5);
        for (int j = 0; j < C; j++) {
            double nr = (x[r * C + j] - m) * s, d = (double)dy[r * C + j] * g[j];
            wy[r * C + j] = nr * g[j] + b[j];
            dm += d, dn += d * nr;
            acc[j] += dy[r * C + j] * nr, acc[C + j] += dy[r * C + j];
        }
        for (int j = 0; j < C; j++) {
            double nr = (x[r * C + j] - m) * s;
            wdx[r * C + j] = s * ((double)dy[r * C + j] * g[j] - dm / C - nr * dn / C);
        }
    }
    ok = ok && check_close(y, wy, N, 1e-5, "LayerNorm", why, nwhy) &&
         check_close(dx, wdx, N, 1e-5, "LayerNorm gradient", why, nwhy) &&
         check_close(dg, acc, C, 1e-5, "LayerNorm dgamma", why, nwhy) &&
         check_close(db, acc + C, C, 1e-5, "LayerNorm dbeta", why, nwhy);
    /* sums: xs [KR, KC] over its rows into ys [KC]; xl [3, RL] along RL into yl [3] */
    float *xs = buf, *ys = xs + KR * KC, *xl = ys + KC, *yl = xl + 3 * RL, *pl = yl + 4;
    for (int i = 0; ok && i < KR * KC; i++) xs[i] = check_rand(&seed);
    for (int i = 0; ok && i < 3 * RL; i++) xl[i] = check_rand(&seed);
    red_args ra;
    memset(&ra, 0, sizeof ra);
    ra.x = at0(0), ra.y = at0(KR * KC), ra.R = KR, ra.K = KC, ra.cols = 1, ra.workers = 2;
    ra.div = 1.0;
    if (ok) run_on(red_run, &ra, buf);
    for (int k = 0; ok && k < KC; k++) {
        want[k] = 0;
        for (int r = 0; r < KR; r++) want[k] += xs[r * KC + k];
    }
    ok = ok && check_close(ys, want, KC, 1e-6, "column sums", why, nwhy);
    memset(&ra, 0, sizeof ra);
    ra.x = at0((uint64_t)(xl - buf)), ra.y = at0((uint64_t)(yl - buf));
    ra.part = at0((uint64_t)(pl - buf + 1) & ~(uint64_t)1); /* doubles */
    ra.R = RL, ra.K = 3, ra.chunk = 1000, ra.chunks = 3, ra.workers = 2, ra.div = 2.0;
    if (ok) run_on(red_run, &ra, buf);
    for (int k = 0; ok && k < 3; k++) {
        want[k] = 0;
        for (int r = 0; r < RL; r++) want[k] += xl[k * RL + r];
        want[k] /= 2.0;
    }
    /* float lanes over blocks: the rounding of 2500 terms of about 1 (as the kernels') */
    ok = ok && check_close(yl, want, 3, 2e-5, "row sums", why, nwhy);
    /* the attention's rows: 37 scores, keys from 30 on hidden (causal), every fifth masked */
    float *sr = buf, *dr = buf + 64, *mk = buf + 128, sd[37];
    double se = 0, wd[37], mx = -INFINITY;
    for (int j = 0; ok && j < 37; j++) {
        sr[j] = 4.0f * check_rand(&seed) - 4.0f;
        mk[j] = j % 5 == 2 ? 0.0f : 1.0f;
        sd[j] = sr[j], dr[j] = check_rand(&seed);
        if (j < 30 && mk[j] != 0.0f) mx = fmax(mx, sr[j]);
    }
    for (int j = 0; ok && j < 37; j++) {
        int vis = j < 30 && mk[j] != 0.0f;
        want[j] = vis ? exp((double)sr[j] - mx) : 0.0;
        se += want[j];
        wd[j] = vis ? exp((double)sr[j] - 1.5) * ((double)dr[j] - 0.25) : 0.0;
    }
    for (int j = 0; ok && j < 37; j++) want[j] /= se;
    if (ok) {
        float got = lmg_cl_host_softmax_row(sr, 37, 30, mk);
        ok = check_close(sr, want, 37, 1e-6, "attention softmax row", why, nwhy);
        if (ok && !(fabs(got - (mx + log(se))) <= 1e-6 * (1 + fabs(mx + log(se))))) {
            ok = 0;
            snprintf(why, nwhy, "attention log-sum-exp %.9g, not %.9g", got, mx + log(se));
        }
        lmg_cl_host_softmax_grad_row(sd, dr, 37, 30, mk, 1.5f, 0.25f);
        ok = ok && check_close(dr, wd, 37, 1e-6, "attention softmax gradient row", why, nwhy);
    }
    /* copies of x [3, 5, 17]: perm (1, 0, 2) (rows of 17 whole) and (0, 2, 1) (strided) */
    for (int pass = 0; ok && pass < 2; pass++) {
        float *cx = buf, *cy = buf + 255;
        for (int i = 0; i < 255; i++) cx[i] = (float)i;
        static const int64_t dims[2][3] = {{5, 3, 17}, {3, 17, 5}};
        static const int64_t yst[2][3] = {{51, 17, 1}, {85, 5, 1}};
        static const int64_t xst[2][3] = {{17, 85, 1}, {85, 1, 17}};
        copy_args ca;
        memset(&ca, 0, sizeof ca);
        ca.y = at0(255), ca.x = at0(0), ca.rank = 3, ca.workers = 2;
        ca.rows = dims[pass][0] * dims[pass][1];
        ca.per = 4;
        for (int d = 0; d < 3; d++)
            ca.dims[d] = dims[pass][d], ca.yst[d] = yst[pass][d], ca.xst[d] = xst[pass][d];
        run_on(copy_run, &ca, buf);
        for (int64_t i = 0; i < dims[pass][0]; i++)
            for (int64_t j = 0; j < dims[pass][1]; j++)
                for (int64_t k = 0; k < dims[pass][2]; k++)
                    want[(i * dims[pass][1] + j) * dims[pass][2] + k] =
                        cx[i * xst[pass][0] + j * xst[pass][1] + k * xst[pass][2]];
        ok = check_close(cy, want, 255, 0, pass ? "strided copy" : "row copy", why, nwhy);
    }
    free(buf);
    free(want);
    return ok;
}

/* GELU and its derivative as the reference backend defines them: the tanh form in double. */
static double gelu_d(double x)
{
    return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

static double gelu_deriv_d(double x)
{
    double t = tanh(0.7978845608028654 * (x + 0.044715 * x * x * x));
    return 0.5 * (1.0 + t) +
           0.5 * x * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * x * x);
}

/* Gelu and GeluGrad in place (y over x, dx over dy) in pieces of 1000 (vector tails in each)
 * over x in [-12, 12] by 0.001 and the ends: +-0, +-1e-40, +-1e10, +-1e20, +-FLT_MAX, +-inf
 * and NaN. Finite results within 2e-6 (1 + |r|) of the double definitions rounded to f32,
 * NaN and inf where they give NaN and inf (the reference backend's, hence test_opencl's,
 * agreement). */
static int check_gelu(char *why, size_t nwhy)
{
    static const float ends[] = {0.0f, -0.0f, 1e-40f, -1e-40f, 1e10f, -1e10f, 1e20f, -1e20f,
                                 3.4e38f, -3.4e38f, INFINITY, -INFINITY, NAN};
    enum { NS = 24001, NE = sizeof ends / sizeof *ends, NX = NS + NE };
    float *buf = malloc(4 * NX * sizeof *buf);
    if (!buf) {
        snprintf(why, nwhy, "out of memory");
        return 0;
    }
    float *x = buf, *dy = x + NX, *x0 = dy + NX, *a0 = x0 + NX;
    uint32_t seed = 11;
    for (int i = 0; i < NX; i++) {
        x0[i] = i < NS ? -12.0f + 0.001f * (float)i : ends[i - NS];
        dy[i] = check_rand(&seed);
        x[i] = x0[i];
    }
    int ok = 1;
    for (int grad = 0; grad < 2 && ok; grad++) {
        gelu_args g;
        memset(&g, 0, sizeof g);
        g.n = NX, g.piece = 1000, g.grad = grad, g.workers = 2;
        g.x = at0(grad ? 2 * NX : 0), g.a = at0(NX), g.y = at0(grad ? NX : 0);
        float *y = grad ? dy : x;
        memcpy(a0, dy, NX * sizeof *a0);
        run_on(gelu_run, &g, buf);
        for (int i = 0; i < NX && ok; i++) {
            double r = grad ? (double)(float)((double)a0[i] * gelu_deriv_d(x0[i])) :
                              (double)(float)gelu_d(x0[i]);
            int same = isnan(r) ? isnan(y[i]) : isinf(r) ? y[i] == r :
                       fabs(y[i] - r) <= 2e-6 * (1.0 + fabs(r));
            if (!same) {
                ok = 0;
                snprintf(why, nwhy, "%s(%.9g) gave %.9g, not %.9g", grad ? "GeluGrad" : "Gelu",
                         x0[i], y[i], r);
            }
        }
    }
    free(buf);
    return ok;
}
