/* cases.h — op test cases shared by the gradient check (ref backend) and the backend parity
 * test (opencl vs ref): one entry per (op, shapes, attributes) combination. */
#ifndef LMG_TEST_CASES_H
#define LMG_TEST_CASES_H

#include "../backends/ref/ref.h"

#include <stdlib.h>

#define CASE_MAX_IN 8

typedef struct lmg_case {
    const char *name;                  /* "Add/bcast-row" */
    lmg_op op;
    int n_in;                          /* inputs given (optional ones may be left out) */
    lmg_dtype dtype[CASE_MAX_IN];      /* 0 = f32 */
    const char *shape[CASE_MAX_IN];    /* "2,3,4"; "" = scalar */
    int n_attr;
    lmg_attr attrs[6];
    /* Input generation: f32 inputs are uniform in [lo, hi) (both 0 = [-1, 1)); i32 inputs
     * uniform integers in [lo, hi). `init`, when set, fills input k instead (e.g. targets
     * with some ignore_index entries). */
    double lo[CASE_MAX_IN], hi[CASE_MAX_IN];
    void (*init)(int k, lmg_tensor *t, uint64_t seed);
    unsigned no_grad_in;               /* bit k: do not gradient-check input k */
    int nograd;                        /* 1: forward-only case (op not differentiable) */
    double atol, rtol;                 /* 0 = harness defaults */
} lmg_case;

extern const lmg_case lmg_cases_core[];  /* tests/cases_core.c: elementwise, matmul, shape, reduce */
extern const int lmg_n_cases_core;
extern const lmg_case lmg_cases_nn[];    /* tests/cases_nn.c: softmax, layernorm, embedding,
                                            attention, loss, random, optimizer */
extern const int lmg_n_cases_nn;

/* ---- what both harnesses need to turn a case into inputs ----------------------------- */

/* A fixed-seed generator (splitmix64), so every run checks the same numbers. */
static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline double rng_uniform(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

static inline uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static inline int parse_shape(const char *str, lmg_shape *s)
{
    s->rank = 0;
    if (!str || !*str) return 0;
    const char *p = str;
    while (*p) {
        char *end;
        long long d = strtoll(p, &end, 10);
        if (end == p || s->rank >= LMG_MAX_DIMS || d < 0) return -1;
        s->dims[s->rank++] = d;
        p = end;
        if (*p == ',') p++;
        else if (*p) return -1;
    }
    return 0;
}

/* ---- a case's inputs and its one-node graph (tests/cases_graph.c) --------------------- */

typedef struct lmg_case_graph {
    lmg_tensor in[CASE_MAX_IN];     /* the inputs, from the case's ranges or its init */
    int is_param[CASE_MAX_IN];      /* input k is a parameter (gets a gradient) */
    int n_out;                      /* outputs of the op */
    int out_f32[8];
    int64_t out_n[8];
    double *w[8];                   /* loss weights per f32 output, in double (with_loss) */
} lmg_case_graph;

/* Inputs keyed by the case name, so adding a case never changes another one's numbers.
 * 0, or -1 with `err` set. */
int lmg_case_make_inputs(const lmg_case *c, lmg_case_graph *b, char *err, size_t errn);
/* One node of the case's op over its inputs: f32 ones are parameters when `params` (and the
 * case differentiates them), the rest constants; its outputs are graph outputs and, with
 * `with_loss`, loss = sum_k ReduceSum(out_k * W_k) over the f32 outputs. NULL with `err`
 * set on failure. May be called again on the same b (the weights are the same). */
lmg_graph *lmg_case_build_graph(const lmg_case *c, lmg_case_graph *b, int params, int with_loss,
                                char *err, size_t errn);
void lmg_case_graph_free(lmg_case_graph *b);

#endif
