/* test_plan.c — the memory planner: no two live arena values overlap, aliases are taken only
 * when safe (checked by running graphs through the plan's layout with dead memory poisoned),
 * persistent regions follow parameter order, and the arena stays near its lower bound. */
#include "../graph/plan.h"
#include "../backends/ref/ref.h"
#include "../models/models.h"
#include "../train/train.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- a small deterministic generator -------------------------------------------------- */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static int rnd_n(int n) { return (int)(rnd() % (uint32_t)n); }
static float rnd_f(void) { return (float)(rnd() % 20001) / 10000.0f - 1.0f; }

static lmg_shape shp(int rank, int64_t a, int64_t b)
{
    int64_t d[2] = {a, b};
    return lmg_shape_make(rank, d);
}

/* ---- structural checks ---------------------------------------------------------------- */
typedef struct groups {
    int *root, *gfirst, *glast;
} groups;

static void groups_make(const lmg_graph *g, const lmg_plan *p, groups *gr)
{
    int n = g->n_values;
    gr->root = malloc((size_t)n * sizeof(int));
    gr->gfirst = malloc((size_t)n * sizeof(int));
    gr->glast = malloc((size_t)n * sizeof(int));
    for (int v = 0; v < n; v++) {
        gr->root[v] = p->alias[v] >= 0 ? p->alias[v] : v;
        gr->gfirst[v] = g->n_nodes + 1;
        gr->glast[v] = -2;
    }
    for (int v = 0; v < n; v++) {
        int r = gr->root[v];
        if (p->first[v] < gr->gfirst[r]) gr->gfirst[r] = p->first[v];
        if (p->last[v] > gr->glast[r]) gr->glast[r] = p->last[v];
    }
}

static void groups_free(groups *gr)
{
    free(gr->root);
    free(gr->gfirst);
    free(gr->glast);
}

/* Every claim the plan makes, checked independently of how it was reached. Returns the
 * number of failed checks (each reported through CHECK). */
static int check_plan(const lmg_graph *g, const lmg_plan *p, size_t align, int keep_all)
{
    int bad = 0;
    groups gr;
    groups_make(g, p, &gr);
    int n = g->n_values;
    /* 1. Arena values fit, roots are aligned, and lifetimes that overlap never share bytes
     * unless they are one storage group (every pair of roots is checked). */
    for (int v = 0; v < n; v++) {
        if (p->region[v] != LMG_REGION_ARENA || p->bytes[v] == 0) continue;
        bad += !CHECK(p->offset[v] + p->bytes[v] <= p->region_bytes[LMG_REGION_ARENA],
                      "'%s' ends past the arena", g->values[v].name);
        bad += !CHECK(p->offset[v] % align == 0, "'%s' offset %zu not aligned",
                      g->values[v].name, p->offset[v]);
    }
    for (int u = 0; u < n; u++) {
        if (p->alias[u] >= 0 || p->region[u] != LMG_REGION_ARENA || p->bytes[u] == 0) continue;
        for (int v = u + 1; v < n; v++) {
            if (p->alias[v] >= 0 || p->region[v] != LMG_REGION_ARENA || p->bytes[v] == 0)
                continue;
            int live_together = gr.gfirst[u] <= gr.glast[v] && gr.gfirst[v] <= gr.glast[u];
            int apart = p->offset[u] + p->bytes[u] <= p->offset[v] ||
                        p->offset[v] + p->bytes[v] <= p->offset[u];
            if (live_together || keep_all)
                bad += !CHECK(apart, "'%s' [%zu,+%zu) and '%s' [%zu,+%zu) overlap while live",
                              g->values[u].name, p->offset[u], p->bytes[u], g->values[v].name,
                              p->offset[v], p->bytes[v]);
        }
    }
    /* 2. Each alias is of a kind the planner may take, and safe. */
    for (int v = 0; v < n; v++) {
        int r = p->alias[v];
        if (r < 0) continue;
        bad += !CHECK(p->alias[r] < 0, "alias of '%s' is a chain", g->values[v].name);
        bad += !CHECK(p->region[v] == p->region[r] && p->offset[v] == p->offset[r],
                      "'%s' does not sit on its alias", g->values[v].name);
        bad += !CHECK(g->values[v].kind == LMG_VALUE_NODE, "'%s' aliased but not computed",
                      g->values[v].name);
        if (g->values[v].kind != LMG_VALUE_NODE) continue;
        if (g->values[r].kind == LMG_VALUE_NODE && p->first[r] > p->first[v]) {
            /* v waits in the bytes of a later gradient r, whose producer writes over it in
             * place: r is persistent, its op may run in place, v is one of its inputs, and
             * no member of the group is read after r is written. */
            int j = p->first[r];
            const lmg_node *c = &g->nodes[j];
            int reads = 0;
            for (int k = 0; k < c->n_in; k++)
                if (c->in[k] >= 0 && gr.root[c->in[k]] == r && lmg_op_is(c->op, LMG_ELEMENTWISE))
                    reads = 1;
            bad += !CHECK(!keep_all && reads && p->region[r] == LMG_REGION_GRADS,
                          "'%s' waits in '%s', which is not written over it in place",
                          g->values[v].name, g->values[r].name);
            for (int m = 0; m < n; m++)
                if (gr.root[m] == r && m != r)
                    bad += !CHECK(p->last[m] <= j, "'%s' read at node %d after '%s' overwrites it",
                                  g->values[m].name, p->last[m], g->values[r].name);
            continue;
        }
        int i = g->values[v].producer;
        const lmg_node *nd = &g->nodes[i];
        int from_input = 0, k_out = 0;
        for (int k = 0; k < nd->n_out; k++)
            if (nd->out[k] == v) k_out = k;
        for (int k = 0; k < nd->n_in; k++)
            if (nd->in[k] >= 0 && gr.root[nd->in[k]] == r) from_input = 1;
        bad += !CHECK(from_input, "'%s' shares storage with none of its inputs",
                      g->values[v].name);
        int mandatory = lmg_op_alias(nd->op, k_out) >= 0;
        if (nd->op == LMG_OP_RESHAPE || mandatory) {
            /* A view must not outlive an in-place update of its storage. */
            continue;
        }
        bad += !CHECK(!keep_all, "keep_all plan runs '%s' in place", g->values[v].name);
        bad += !CHECK(lmg_op_is(nd->op, LMG_ELEMENTWISE), "'%s' (%s) runs in place but is not elementwise",
                      g->values[v].name, lmg_op_name(nd->op));
        bad += !CHECK(p->region[r] == LMG_REGION_ARENA, "'%s' overwrites a persistent value",
                      g->values[v].name);
        /* Overwriting at node i: every member made before i is dead after i. */
        for (int m = 0; m < n; m++) {
            if (gr.root[m] != r || m == v) continue;
            if (p->first[m] < i)
                bad += !CHECK(p->last[m] <= i, "'%s' overwrites '%s', read later at node %d",
                              g->values[v].name, g->values[m].name, p->last[m]);
        }
    }
    /* Mandatory in-place writes (AdamW) never clobber a view that is read afterwards. */
    for (int j = 0; j < g->n_nodes; j++) {
        const lmg_node *nd = &g->nodes[j];
        for (int k = 0; k < nd->n_out; k++) {
            int a = lmg_op_alias(nd->op, k);
            if (a < 0 || nd->in[a] < 0) continue;
            bad += !CHECK(p->alias[nd->out[k]] == gr.root[nd->in[a]],
                          "'%s' must share its input's storage", g->values[nd->out[k]].name);
            for (int m = 0; m < n; m++) {
                if (gr.root[m] != gr.root[nd->in[a]] || m == nd->in[a] || m == nd->out[k])
                    continue;
                const lmg_value *mv = &g->values[m];
                if (mv->kind == LMG_VALUE_NODE && g->nodes[mv->producer].op == LMG_OP_RESHAPE &&
                    p->first[m] < j)
                    bad += !CHECK(p->last[m] < j, "view '%s' read after '%s' overwrites it",
                                  mv->name, nd->name);
            }
        }
    }
    /* 3. Totals. */
    size_t sum = 0;
    for (int r = 0; r < LMG_REGION_COUNT; r++) sum += p->region_bytes[r];
    bad += !CHECK(sum == p->peak, "peak %zu != sum of regions %zu", p->peak, sum);
    bad += !CHECK(p->lower_bound <= p->region_bytes[LMG_REGION_ARENA],
                  "arena %zu below its lower bound %zu", p->region_bytes[LMG_REGION_ARENA],
                  p->lower_bound);
    /* 4. Persistent values never overlap one another within a region. */
    for (int u = 0; u < n; u++) {
        if (p->alias[u] >= 0 || p->region[u] == LMG_REGION_ARENA || p->bytes[u] == 0) continue;
        bad += !CHECK(p->offset[u] + p->bytes[u] <= p->region_bytes[p->region[u]],
                      "'%s' ends past its region", g->values[u].name);
        for (int v = u + 1; v < n; v++) {
            if (p->alias[v] >= 0 || p->region[v] != p->region[u] || p->bytes[v] == 0) continue;
            bad += !CHECK(p->offset[u] + p->bytes[u] <= p->offset[v] ||
                              p->offset[v] + p->bytes[v] <= p->offset[u],
                          "'%s' and '%s' overlap in %s", g->values[u].name, g->values[v].name,
                          lmg_region_name(p->region[u]));
        }
    }
    groups_free(&gr);
    return bad;
}

/* ---- executing through the plan ------------------------------------------------------- */
static const lmg_ref_kernel kernels[] = {
#define LMG_OP(E, N, mi, ma, no, gr) [LMG_OP_##E] = lmg_ref_##E,
#include "../ops/ops.def"
#undef LMG_OP
};

/* Run g with every value placed where the plan says (one buffer per region), and fill each
 * arena group with NaN as soon as its lifetime ends. If the plan let a value be overwritten
 * while still needed, or called a value dead too early, the outputs differ from the
 * reference backend's (where every value has its own buffer). */
static int run_through_plan(const lmg_graph *g, const lmg_plan *p, uint64_t step,
                            void *const *inputs, float **outs)
{
    unsigned char *base[LMG_REGION_COUNT];
    for (int r = 0; r < LMG_REGION_COUNT; r++) {
        base[r] = malloc(p->region_bytes[r] + 64);
        memset(base[r], 0xff, p->region_bytes[r] + 64); /* NaN everywhere until written */
    }
    lmg_tensor *t = calloc((size_t)g->n_values, sizeof *t);
    for (int v = 0; v < g->n_values; v++) {
        t[v].dtype = g->values[v].dtype;
        t[v].shape = g->values[v].shape;
        t[v].data = base[p->region[v]] + p->offset[v];
    }
    for (int v = 0; v < g->n_values; v++) {
        const lmg_value *val = &g->values[v];
        if (val->kind == LMG_VALUE_INIT && p->alias[v] < 0) {
            if (val->data) memcpy(t[v].data, val->data, p->bytes[v]);
            else memset(t[v].data, 0, p->bytes[v]);
        }
    }
    for (int k = 0; k < g->n_inputs; k++) {
        int v = g->inputs[k];
        if (inputs && inputs[k]) memcpy(t[v].data, inputs[k], p->bytes[v]);
        else memset(t[v].data, 0, p->bytes[v]);
    }
    groups gr;
    groups_make(g, p, &gr);
    lmg_ref_ctx c = {g, step};
    int rc = 0;
    for (int i = 0; i < g->n_nodes && rc == 0; i++) {
        const lmg_node *nd = &g->nodes[i];
        const lmg_tensor *in[64];
        lmg_tensor *out[8];
        for (int k = 0; k < nd->n_in; k++) in[k] = nd->in[k] >= 0 ? &t[nd->in[k]] : NULL;
        for (int k = 0; k < nd->n_out; k++) out[k] = &t[nd->out[k]];
        if (nd->op == LMG_OP_RESHAPE) {
            if (p->alias[nd->out[0]] < 0 || gr.root[nd->out[0]] != gr.root[nd->in[0]])
                memcpy(out[0]->data, in[0]->data, p->bytes[nd->out[0]]);
        } else if (kernels[nd->op](&c, nd, in, out) != LMG_OK) {
            rc = 1;
        }
        for (int v = 0; v < g->n_values; v++)
            if (gr.root[v] == v && p->region[v] == LMG_REGION_ARENA && gr.glast[v] == i)
                memset(t[v].data, 0xff, p->bytes[v]);
    }
    /* Outputs, and every initializer (parameters and moments are updated in place). */
    for (int v = 0; v < g->n_values && rc == 0; v++) {
        int wanted = g->values[v].kind == LMG_VALUE_INIT;
        for (int k = 0; k < g->n_outputs; k++) wanted |= g->outputs[k] == v;
        if (!wanted) continue;
        outs[v] = malloc(p->bytes[v] + 1);
        memcpy(outs[v], t[v].data, p->bytes[v]);
    }
    groups_free(&gr);
    free(t);
    for (int r = 0; r < LMG_REGION_COUNT; r++) free(base[r]);
    return rc;
}

/* Compare the plan run with the reference backend, output by output, bit for bit. */
static int same_as_ref_with(const lmg_graph *g, const lmg_plan *p, void *const *inputs)
{
    lmg_exec *e = NULL;
    if (lmg_backend_ref.init(g, NULL, &e) != LMG_OK) {
        CHECK(0, "ref init: %s", lmg_last_error());
        return 0;
    }
    int ok = 1;
    for (int k = 0; k < g->n_inputs && inputs && ok; k++) {
        int v = g->inputs[k];
        if (inputs[k])
            ok = CHECK(lmg_backend_ref.write(e, v, inputs[k], p->bytes[v]) == LMG_OK,
                       "ref write: %s", lmg_last_error());
    }
    ok = ok && lmg_backend_ref.run(e, 3) == LMG_OK;
    CHECK(ok, "ref run: %s", lmg_last_error());
    float **outs = calloc((size_t)g->n_values + 1, sizeof *outs);
    if (ok)
        ok = CHECK(run_through_plan(g, p, 3, inputs, outs) == 0, "plan run: %s", lmg_last_error());
    for (int v = 0; v < g->n_values && ok; v++) {
        if (!outs[v]) continue;
        size_t nb = p->bytes[v];
        void *want = malloc(nb + 1);
        lmg_backend_ref.read(e, v, want, nb);
        ok = CHECK(memcmp(want, outs[v], nb) == 0, "'%s' differs through the plan",
                   g->values[v].name);
        free(want);
    }
    for (int v = 0; v < g->n_values; v++) free(outs[v]);
    free(outs);
    lmg_backend_ref.free(e);
    return ok;
}

static int same_as_ref(const lmg_graph *g, const lmg_plan *p)
{
    return same_as_ref_with(g, p, NULL);
}

/* ---- random graphs -------------------------------------------------------------------- */
/* Shapes: 0 [4,6], 1 [6,4], 2 [4,4], 3 [24], 4 [2,12]. Reshape moves between 0, 1, 3, 4. */
static const int64_t shape_dims[5][2] = {{4, 6}, {6, 4}, {4, 4}, {24, 0}, {2, 12}};
static lmg_shape shape_k(int k)
{
    return shp(shape_dims[k][1] ? 2 : 1, shape_dims[k][0], shape_dims[k][1]);
}
static int shape_kind(const lmg_graph *g, int v)
{
    for (int k = 0; k < 5; k++) {
        lmg_shape s = shape_k(k);
        if (lmg_shape_equal(&s, &g->values[v].shape)) return k;
    }
    return -1;
}

/* A value of shape kind `k`, biased to recent ones so lifetimes vary; -1 if none. */
static int pick(const lmg_graph *g, const int *pool, int n_pool, int k)
{
    int cand[512], n = 0;
    for (int i = 0; i < n_pool; i++)
        if (k < 0 || shape_kind(g, pool[i]) == k) cand[n++] = pool[i];
    if (n == 0) return -1;
    if (rnd_n(3) != 0) {
        int lo = n > 4 ? n - 4 : 0;
        return cand[lo + rnd_n(n - lo)];
    }
    return cand[rnd_n(n)];
}

static lmg_graph *random_graph(int n_nodes, int with_adamw)
{
    lmg_graph *g = lmg_graph_new("random");
    int pool[512], n_pool = 0;
    float data[64];
    int params[3];
    pool[n_pool++] = lmg_graph_input(g, "x", LMG_DTYPE_F32, shape_k(0));
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        int k = i == 1 ? 1 : (i == 2 ? 2 : 0);
        for (int j = 0; j < 64; j++) data[j] = rnd_f();
        params[i] = lmg_graph_param(g, name, LMG_DTYPE_F32, shape_k(k), data);
        pool[n_pool++] = params[i];
    }
    for (int j = 0; j < 64; j++) data[j] = rnd_f();
    pool[n_pool++] = lmg_graph_const(g, "c", LMG_DTYPE_F32, shape_k(0), data);
    for (int i = 0; i < n_nodes && n_pool < 500; i++) {
        int y = -1, a, b, c;
        int choice = rnd_n(13);
        if (choice <= 2) { /* binary */
            static const lmg_op ops[] = {LMG_OP_ADD, LMG_OP_SUB, LMG_OP_MUL, LMG_OP_MAXIMUM};
            a = pick(g, pool, n_pool, -1);
            b = pick(g, pool, n_pool, shape_kind(g, a));
            y = lmg_graph_node(g, ops[rnd_n(4)], NULL, (int[]){a, b}, 2, NULL, 0, NULL, NULL);
        } else if (choice <= 5) { /* unary */
            static const lmg_op ops[] = {LMG_OP_NEG, LMG_OP_TANH, LMG_OP_RELU, LMG_OP_GELU};
            a = pick(g, pool, n_pool, -1);
            if (rnd_n(3) == 0) y = lmg_scale(g, a, 0.5, 0.25);
            else y = lmg_unary(g, ops[rnd_n(4)], a);
        } else if (choice == 6) { /* (dy, x) gradients */
            a = pick(g, pool, n_pool, -1);
            b = pick(g, pool, n_pool, shape_kind(g, a));
            y = lmg_graph_node(g, rnd_n(2) ? LMG_OP_RELU_GRAD : LMG_OP_GELU_GRAD, NULL,
                               (int[]){a, b}, 2, NULL, 0, NULL, NULL);
        } else if (choice == 7) { /* Where */
            a = pick(g, pool, n_pool, -1);
            b = pick(g, pool, n_pool, shape_kind(g, a));
            c = pick(g, pool, n_pool, shape_kind(g, a));
            y = lmg_graph_node(g, LMG_OP_WHERE, NULL, (int[]){a, b, c}, 3, NULL, 0, NULL, NULL);
        } else if (choice <= 9) { /* MatMul */
            int k0 = rnd_n(3);
            a = pick(g, pool, n_pool, k0);
            if (a < 0) continue;
            /* [4,6]x[6,4] -> [4,4]; [6,4]x[4,4] -> [6,4]; [4,4]x[4,6] -> [4,6] */
            int kb = k0 == 0 ? 1 : (k0 == 1 ? 2 : 0);
            b = pick(g, pool, n_pool, kb);
            if (b < 0) continue;
            y = lmg_matmul(g, a, b, 0, 0);
        } else if (choice <= 11) { /* Reshape between the 24-element shapes */
            static const int kinds[4] = {0, 1, 3, 4};
            a = pick(g, pool, n_pool, kinds[rnd_n(4)]);
            if (a < 0) continue;
            int to = kinds[rnd_n(4)];
            lmg_shape s = shape_k(to);
            y = lmg_reshape(g, a, s.rank, s.dims);
        } else { /* Softmax: row-wise, never in place */
            a = pick(g, pool, n_pool, -1);
            y = lmg_graph_node(g, LMG_OP_SOFTMAX, NULL, &a, 1, NULL, 0, NULL, NULL);
        }
        if (y < 0) break;
        pool[n_pool++] = y;
    }
    /* Outputs: the last value and a few others. */
    lmg_graph_add_output(g, pool[n_pool - 1]);
    for (int i = 0; i < 3; i++) lmg_graph_add_output(g, pool[5 + rnd_n(n_pool - 5)]);
    if (with_adamw) {
        /* Fake gradients (any value of the parameter's shape), then one AdamW per parameter,
         * plus a view of p0 made before its update and read after it. */
        int view = lmg_reshape(g, params[0], 1, (int64_t[]){24});
        int lr = lmg_graph_const(g, "lr", LMG_DTYPE_F32, shp(1, 1, 0), (float[]){0.01f});
        int32_t one = 1;
        int st = lmg_graph_const(g, "step", LMG_DTYPE_I32, shp(1, 1, 0), &one);
        int gs = lmg_graph_const(g, "gscale", LMG_DTYPE_F32, shp(1, 1, 0), (float[]){1.0f});
        for (int i = 0; i < 3; i++) {
            char name[32];
            const lmg_value *pv = &g->values[params[i]];
            lmg_shape s = pv->shape;
            int src = pick(g, pool, n_pool, shape_kind(g, params[i]));
            snprintf(name, sizeof name, "grad/%s", g->values[params[i]].name);
            const char *gn[1] = {name};
            int gv = lmg_graph_node(g, LMG_OP_SCALE, NULL, &src, 1,
                                    (lmg_attr[]){lmg_attr_float("alpha", 0.5)}, 1, gn, NULL);
            lmg_graph_add_output(g, gv);
            char mn[32], vn[32];
            snprintf(mn, sizeof mn, "adam/m/p%d", i);
            snprintf(vn, sizeof vn, "adam/v/p%d", i);
            int m = lmg_graph_const(g, mn, LMG_DTYPE_F32, s, NULL);
            int v = lmg_graph_const(g, vn, LMG_DTYPE_F32, s, NULL);
            int outs[3];
            lmg_graph_node(g, LMG_OP_ADAMW, NULL, (int[]){params[i], gv, m, v, lr, st, gs}, 7,
                           NULL, 0, NULL, outs);
            for (int k = 0; k < 3; k++) lmg_graph_add_output(g, outs[k]);
        }
        int after = lmg_scale(g, view, 2.0, 0.0);
        lmg_graph_add_output(g, after);
    }
    if (g->status != LMG_OK) {
        printf("# random graph: %s\n", lmg_last_error());
        lmg_graph_free(g);
        return NULL;
    }
    return g;
}

static void test_random(void)
{
    test_begin("random DAGs: live arena values never overlap, aliases safe, results unchanged");
    int inplace = 0, views = 0, graphs = 0;
    for (int trial = 0; trial < 60; trial++) {
        lmg_graph *g = random_graph(20 + rnd_n(60), 0);
        if (!CHECK(g, "random graph %d", trial)) break;
        lmg_plan *p = NULL;
        lmg_plan_opts o = {64, 0};
        if (!CHECK(lmg_plan_build(g, &o, &p) == LMG_OK, "plan: %s", lmg_last_error())) {
            lmg_graph_free(g);
            break;
        }
        int bad = check_plan(g, p, 64, 0);
        for (int v = 0; v < g->n_values; v++)
            if (p->alias[v] >= 0) {
                if (g->nodes[g->values[v].producer].op == LMG_OP_RESHAPE) views++;
                else inplace++;
            }
        if (!bad) same_as_ref(g, p);
        graphs++;
        lmg_plan_free(p);
        lmg_graph_free(g);
    }
    CHECK(inplace > 50 && views > 20, "too few aliases exercised: %d in place, %d views",
          inplace, views);
    printf("# %d graphs, %d in-place outputs, %d views\n", graphs, inplace, views);
    test_end();
}

static void test_keep_all(void)
{
    test_begin("keep_all: every value keeps its own storage, no in-place");
    for (int trial = 0; trial < 20; trial++) {
        lmg_graph *g = random_graph(40, 0);
        lmg_plan *p = NULL;
        lmg_plan_opts o = {128, 1};
        if (!CHECK(g && lmg_plan_build(g, &o, &p) == LMG_OK, "plan: %s", lmg_last_error())) {
            lmg_graph_free(g);
            break;
        }
        check_plan(g, p, 128, 1);
        size_t sum = 0;
        for (int v = 0; v < g->n_values; v++)
            if (p->region[v] == LMG_REGION_ARENA && p->alias[v] < 0)
                sum += (p->bytes[v] + 127) / 128 * 128;
        CHECK(p->region_bytes[LMG_REGION_ARENA] == sum, "keep_all arena %zu != sum %zu",
              p->region_bytes[LMG_REGION_ARENA], sum);
        same_as_ref(g, p);
        lmg_plan_free(p);
        lmg_graph_free(g);
    }
    test_end();
}

static void test_regions(void)
{
    test_begin("regions: params in graph order; grads, m and v mirror their offsets");
    for (int trial = 0; trial < 10; trial++) {
        lmg_graph *g = random_graph(30, 1);
        lmg_plan *p = NULL;
        if (!CHECK(g && lmg_plan_build(g, NULL, &p) == LMG_OK, "plan: %s", lmg_last_error())) {
            lmg_graph_free(g);
            break;
        }
        check_plan(g, p, 64, 0);
        size_t prev = 0;
        int first = 1;
        size_t pbytes = p->region_bytes[LMG_REGION_PARAMS];
        for (int v = 0; v < g->n_values; v++) {
            const lmg_value *val = &g->values[v];
            if (val->kind == LMG_VALUE_INIT && val->trainable) {
                CHECK(p->region[v] == LMG_REGION_PARAMS, "'%s' not in params", val->name);
                CHECK(first || p->offset[v] > prev, "params out of order at '%s'", val->name);
                prev = p->offset[v];
                first = 0;
                char name[64];
                snprintf(name, sizeof name, "grad/%s", val->name);
                int gv = lmg_graph_find(g, name);
                CHECK(gv >= 0 && p->region[gv] == LMG_REGION_GRADS &&
                          p->offset[gv] == p->offset[v],
                      "'%s' not at its parameter's offset in grads", name);
                snprintf(name, sizeof name, "adam/m/%s", val->name);
                int m = lmg_graph_find(g, name);
                snprintf(name, sizeof name, "adam/v/%s", val->name);
                int s = lmg_graph_find(g, name);
                CHECK(m >= 0 && p->region[m] == LMG_REGION_STATE && p->offset[m] == p->offset[v],
                      "m of '%s' out of step", val->name);
                CHECK(s >= 0 && p->region[s] == LMG_REGION_STATE &&
                          p->offset[s] == pbytes + p->offset[v],
                      "v of '%s' out of step", val->name);
            }
        }
        CHECK(p->region_bytes[LMG_REGION_GRADS] == pbytes, "grads block %zu != params %zu",
              p->region_bytes[LMG_REGION_GRADS], pbytes);
        CHECK(p->region_bytes[LMG_REGION_STATE] == 2 * pbytes, "state block %zu != 2 x %zu",
              p->region_bytes[LMG_REGION_STATE], pbytes);
        CHECK(p->region[lmg_graph_find(g, "x")] == LMG_REGION_INPUTS, "x not an input");
        CHECK(p->region[lmg_graph_find(g, "c")] == LMG_REGION_CONSTS, "c not a const");
        CHECK(p->region[lmg_graph_find(g, "lr")] == LMG_REGION_CONSTS, "lr not a const");
        /* The view of p0 read after p0's update must be a copy. */
        int after = g->outputs[g->n_outputs - 1];
        int view = g->nodes[g->values[after].producer].in[0];
        CHECK(p->alias[view] < 0, "view of p0 shares storage across p0's update");
        /* AdamW outputs share the parameter and moment storage. */
        for (int i = 0; i < g->n_nodes; i++) {
            const lmg_node *nd = &g->nodes[i];
            if (nd->op != LMG_OP_ADAMW) continue;
            CHECK(p->alias[nd->out[0]] == nd->in[0] && p->alias[nd->out[1]] == nd->in[2] &&
                      p->alias[nd->out[2]] == nd->in[3],
                  "AdamW outputs do not share their inputs' storage");
        }
        if (lmg_ref_has_kernel(LMG_OP_ADAMW)) same_as_ref(g, p);
        lmg_plan_free(p);
        lmg_graph_free(g);
    }
    test_end();
}

/* A hand-made inplace chain and a case where in-place must be refused. */
static void test_inplace_rules(void)
{
    test_begin("in-place only over a dying arena input of equal shape");
    lmg_graph *g = lmg_graph_new("rules");
    int x = lmg_graph_input(g, "x", LMG_DTYPE_F32, shp(2, 4, 6));
    int p = lmg_graph_param(g, "w", LMG_DTYPE_F32, shp(2, 4, 6), NULL);
    int row = lmg_graph_const(g, "row", LMG_DTYPE_F32, shp(1, 6, 0), NULL);
    int a = lmg_unary(g, LMG_OP_TANH, x);      /* over an input: copy */
    int b = lmg_add(g, a, p);                  /* a dies here: in place over a */
    int c = lmg_unary(g, LMG_OP_GELU, b);      /* b still read below: not in place */
    int d = lmg_mul(g, b, c);                  /* both die: in place over b or c */
    int e = lmg_add(g, row, d);                /* broadcast row: in place over d only */
    int f = lmg_graph_node(g, LMG_OP_SOFTMAX, NULL, &e, 1, NULL, 0, NULL, NULL);
    int h = lmg_scale(g, f, 2.0, 0.0);         /* f is an output: not in place */
    lmg_graph_add_output(g, f);
    lmg_graph_add_output(g, h);
    lmg_plan *pl = NULL;
    if (CHECK(g->status == LMG_OK && lmg_plan_build(g, NULL, &pl) == LMG_OK, "plan: %s",
              lmg_last_error())) {
        CHECK(pl->alias[a] < 0, "Tanh over a graph input ran in place");
        CHECK(pl->alias[b] == a, "Add did not run in place over its dying input");
        CHECK(pl->alias[c] < 0, "Gelu overwrote a value read later");
        CHECK(pl->alias[d] >= 0, "Mul over two dying inputs did not run in place");
        CHECK(pl->alias[e] == pl->alias[d], "broadcast Add not in place over its full input");
        CHECK(pl->alias[f] < 0, "Softmax ran in place");
        CHECK(pl->alias[h] < 0, "Scale overwrote a graph output");
        check_plan(g, pl, 64, 0);
        same_as_ref(g, pl);
    }
    lmg_plan_free(pl);
    lmg_graph_free(g);
    test_end();
}

/* Recomputation in autodiff: the training step of a tiny GPT and BERT (dropout on) with and
 * without it gives the same bits in every output and every updated parameter and moment on
 * the reference backend; only cheap ops run twice, and the arena shrinks. */
/* One training step of g on ref with inputs drawn from seed 5 (lr 1e-3, step 1). */
static lmg_exec *run_step(const lmg_graph *g)
{
    lmg_exec *e = NULL;
    if (lmg_backend_ref.init(g, NULL, &e) != LMG_OK) return NULL;
    uint64_t r = 5;
    lmg_status s = LMG_OK;
    for (int i = 0; i < g->n_inputs && s == LMG_OK; i++) {
        const lmg_value *v = &g->values[g->inputs[i]];
        size_t n = (size_t)lmg_shape_numel(&v->shape);
        int32_t *buf = calloc(n + 1, 4);
        if (strcmp(v->name, "lr") == 0) ((float *)buf)[0] = 1e-3f;
        else if (strcmp(v->name, "step") == 0) buf[0] = 1;
        else if (v->dtype == LMG_DTYPE_I32)
            for (size_t j = 0; j < n; j++) {
                r = r * 6364136223846793005ull + 1442695040888963407ull;
                buf[j] = (int32_t)(r >> 58); /* 0..63: the tiny vocabulary */
            }
        s = lmg_backend_ref.write(e, g->inputs[i], buf, n * 4);
        free(buf);
    }
    if (s == LMG_OK) s = lmg_backend_ref.run(e, 1);
    if (s != LMG_OK) {
        lmg_backend_ref.free(e);
        return NULL;
    }
    return e;
}

static int recompute_ok(lmg_op op)
{
    return op == LMG_OP_TRANSPOSE || op == LMG_OP_RESHAPE || op == LMG_OP_LAYER_NORM ||
           lmg_op_is(op, LMG_ELEMENTWISE);
}

/* Compare every output and initializer of b (ran on eb) with the same name in a (ea). */
static int same_values(const char *what, const lmg_graph *a, lmg_exec *ea, const lmg_graph *b,
                       lmg_exec *eb)
{
    int compared = 0, bad = 0;
    for (int v = 0; v < b->n_values; v++) {
        const lmg_value *val = &b->values[v];
        int wanted = val->kind == LMG_VALUE_INIT;
        for (int k = 0; k < b->n_outputs; k++) wanted |= b->outputs[k] == v;
        if (!wanted) continue;
        int w = lmg_graph_find(a, val->name);
        size_t nb = (size_t)lmg_shape_numel(&val->shape) * lmg_dtype_size(val->dtype);
        void *x = malloc(nb + 1), *y = malloc(nb + 1);
        if (CHECK(w >= 0 && lmg_backend_ref.read(ea, w, x, nb) == LMG_OK &&
                      lmg_backend_ref.read(eb, v, y, nb) == LMG_OK,
                  "%s: '%s' missing", what, val->name))
            bad += !CHECK(memcmp(x, y, nb) == 0, "%s: '%s' differs", what, val->name);
        compared++;
        free(x);
        free(y);
    }
    return CHECK(compared > 20 && bad == 0, "%s: %d values compared, %d differ", what, compared, bad);
}

static void test_recompute(void)
{
    static const char *const archs[2] = {"gpt", "bert"};
    static const char *const modes[2] = {"no recompute", "recompute"};
    test_begin("recompute: tiny GPT and BERT steps verify, copy only cheap ops, same bits as without");
    for (int a = 0; a < 2; a++) {
        lmg_model_config c;
        lmg_model_config_default(&c, archs[a]);
        c.layers = 2, c.heads = 2, c.d_model = 16, c.d_ff = 32, c.vocab = 64, c.seq = 8;
        c.batch = 2, c.dropout = 0.1;
        lmg_graph *g[2] = {NULL, NULL};
        lmg_exec *e[2] = {NULL, NULL};
        size_t arena[2] = {0, 0};
        int copies[2] = {0, 0}, ok = 1;
        for (int k = 0; k < 2 && ok; k++) {
            lmg_autodiff_opts ao = {.no_recompute = k == 0};
            lmg_plan *p = NULL;
            ok = CHECK(lmg_model_build(&c, &g[k]) == LMG_OK &&
                           lmg_autodiff_with(g[k], "loss", &ao) == LMG_OK &&
                           lmg_graph_verify(g[k]) == LMG_OK &&
                           lmg_plan_build(g[k], NULL, &p) == LMG_OK,
                       "%s, %s: %s", archs[a], modes[k], lmg_last_error());
            if (p) arena[k] = p->region_bytes[LMG_REGION_ARENA];
            lmg_plan_free(p);
            if (ok) ok = CHECK((e[k] = run_step(g[k])) != NULL, "%s: run: %s", archs[a], lmg_last_error());
            for (int i = 0; ok && i < g[k]->n_nodes; i++) {
                const lmg_node *n = &g[k]->nodes[i];
                if (!strstr(n->name, "/recompute")) continue;
                copies[k]++;
                CHECK(recompute_ok(n->op), "%s, %s: '%s' recomputes a %s", archs[a],
                      modes[k], n->name, lmg_op_name(n->op));
            }
        }
        if (ok) {
            printf("# %s: %d recompute nodes; arena %zu bytes with, %zu without\n", archs[a],
                   copies[1], arena[1], arena[0]);
            CHECK(copies[0] == 0 && copies[1] >= 4 && g[1]->n_nodes == g[0]->n_nodes + copies[1],
                  "%s: %d / %d recompute nodes", archs[a], copies[0], copies[1]);
            CHECK(arena[1] < arena[0], "%s: arena %zu with recompute, %zu without", archs[a],
                  arena[1], arena[0]);
            /* Every output (loss, logits, each gradient) and initializer, bit for bit. */
            same_values(archs[a], g[0], e[0], g[1], e[1]);
        }
        for (int k = 0; k < 2; k++) {
            if (e[k]) lmg_backend_ref.free(e[k]);
            lmg_graph_free(g[k]);
        }
    }
    test_end();

    /* The training step (lmg_train_graph_build): recompute by default, off on request. */
    test_begin("recompute: the training step recomputes by default and not with no_recompute");
    lmg_model_config c;
    lmg_model_config_default(&c, "gpt");
    c.layers = 2, c.heads = 2, c.d_model = 16, c.d_ff = 32, c.vocab = 64, c.seq = 8, c.batch = 2;
    lmg_graph *g[2] = {NULL, NULL};
    lmg_exec *e[2] = {NULL, NULL};
    int n_rec[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        lmg_optim_config oc;
        lmg_optim_config_default(&oc);
        oc.no_recompute = k;
        if (CHECK(lmg_model_build(&c, &g[k]) == LMG_OK &&
                      lmg_train_graph_build(g[k], "loss", &oc) == LMG_OK,
                  "%s", lmg_last_error()))
            e[k] = run_step(g[k]);
        for (int i = 0; g[k] && i < g[k]->n_nodes; i++)
            n_rec[k] += strstr(g[k]->nodes[i].name, "/recompute") != NULL;
    }
    if (CHECK(e[0] && e[1], "run: %s", lmg_last_error()) &&
        CHECK(n_rec[0] > 0 && n_rec[1] == 0, "recompute nodes: %d by default, %d without", n_rec[0],
              n_rec[1]))
        same_values("training step", g[1], e[1], g[0], e[0]);
    for (int k = 0; k < 2; k++) {
        if (e[k]) lmg_backend_ref.free(e[k]);
        lmg_graph_free(g[k]);
    }
    test_end();
}

/* A transformer-shaped training graph without the model library: per layer a forward of
 * products, GELU and residual adds, and a backward that reads the saved activations in
 * reverse order, as autodiff's output does. */
static lmg_graph *transformer_like(int layers, int n, int c, int f)
{
    lmg_graph *g = lmg_graph_new("tlike");
    int x = lmg_graph_input(g, "x", LMG_DTYPE_F32, shp(2, n, c));
    int h = x;
    int saved_in[16], saved_pre[16], saved_act[16], w1[16], w2[16];
    for (int l = 0; l < layers; l++) {
        char name[32];
        snprintf(name, sizeof name, "w1_%d", l);
        w1[l] = lmg_graph_param(g, name, LMG_DTYPE_F32, shp(2, c, f), NULL);
        snprintf(name, sizeof name, "w2_%d", l);
        w2[l] = lmg_graph_param(g, name, LMG_DTYPE_F32, shp(2, f, c), NULL);
        saved_in[l] = h;
        saved_pre[l] = lmg_matmul(g, h, w1[l], 0, 0);
        saved_act[l] = lmg_unary(g, LMG_OP_GELU, saved_pre[l]);
        int o = lmg_matmul(g, saved_act[l], w2[l], 0, 0);
        h = lmg_add(g, h, o);
    }
    int loss = lmg_reduce_sum(g, h, 0, NULL, 0);
    lmg_graph_add_output(g, loss);
    int dh = lmg_scale(g, h, 0.0, 1.0);
    for (int l = layers - 1; l >= 0; l--) {
        char name[32];
        snprintf(name, sizeof name, "grad/w2_%d", l);
        const char *n2[1] = {name};
        int dw2 = lmg_graph_node(g, LMG_OP_MATMUL, NULL, (int[]){saved_act[l], dh}, 2,
                                 (lmg_attr[]){lmg_attr_int("trans_a", 1)}, 1, n2, NULL);
        lmg_graph_add_output(g, dw2);
        int dact = lmg_matmul(g, dh, w2[l], 0, 1);
        int dpre = lmg_graph_node(g, LMG_OP_GELU_GRAD, NULL, (int[]){dact, saved_pre[l]}, 2,
                                  NULL, 0, NULL, NULL);
        snprintf(name, sizeof name, "grad/w1_%d", l);
        const char *n1[1] = {name};
        int dw1 = lmg_graph_node(g, LMG_OP_MATMUL, NULL, (int[]){saved_in[l], dpre}, 2,
                                 (lmg_attr[]){lmg_attr_int("trans_a", 1)}, 1, n1, NULL);
        lmg_graph_add_output(g, dw1);
        int dx = lmg_matmul(g, dpre, w1[l], 0, 1);
        dh = lmg_add(g, dh, dx);
    }
    if (g->status != LMG_OK) {
        printf("# transformer-like graph: %s\n", lmg_last_error());
        lmg_graph_free(g);
        return NULL;
    }
    return g;
}

static void report_ratio(const char *what, const lmg_plan *p)
{
    double ratio = (double)p->region_bytes[LMG_REGION_ARENA] / (double)p->lower_bound;
    printf("# %s: arena %.2f MiB, lower bound %.2f MiB, ratio %.3f, peak %.2f MiB\n", what,
           p->region_bytes[LMG_REGION_ARENA] / 1048576.0, p->lower_bound / 1048576.0, ratio,
           p->peak / 1048576.0);
    CHECK(ratio <= 1.25, "%s: arena %zu > 1.25 x lower bound %zu", what,
          p->region_bytes[LMG_REGION_ARENA], p->lower_bound);
}

static void test_transformer(void)
{
    test_begin("arena <= 1.25 x lower bound on a transformer-shaped training graph");
    lmg_graph *g = transformer_like(4, 1024, 256, 1024);
    lmg_plan *p = NULL;
    if (CHECK(g && lmg_plan_build(g, NULL, &p) == LMG_OK, "plan: %s", lmg_last_error())) {
        check_plan(g, p, 64, 0);
        report_ratio("transformer-like", p);
    }
    lmg_plan_free(p);
    lmg_graph_free(g);
    g = transformer_like(2, 8, 6, 10);
    if (CHECK(g && lmg_plan_build(g, NULL, &p) == LMG_OK, "plan: %s", lmg_last_error())) {
        check_plan(g, p, 64, 0);
        same_as_ref(g, p);
    }
    lmg_plan_free(p);
    lmg_graph_free(g);
    test_end();
}

/* The real GPT-S and BERT-S training steps (model library + autodiff + clipping + AdamW). */
static void test_bench_models(void)
{
    static const char *const archs[2] = {"gpt", "bert"};
    for (int a = 0; a < 2; a++) {
        char name[96];
        snprintf(name, sizeof name, "%s-S training step: plan valid, blocks in step, arena <= 1.25 x bound, <= 150 MB",
                 a ? "BERT" : "GPT");
        test_begin(name);
        lmg_model_config c;
        lmg_model_config_small(&c, archs[a]);
        lmg_optim_config oc;
        lmg_optim_config_default(&oc);
        lmg_graph *g = NULL;
        lmg_plan *p = NULL;
        if (CHECK(lmg_model_build(&c, &g) == LMG_OK, "model build: %s", lmg_last_error()) &&
            CHECK(lmg_train_graph_build(g, "loss", &oc) == LMG_OK, "train graph: %s",
                  lmg_last_error()) &&
            CHECK(lmg_plan_build(g, NULL, &p) == LMG_OK, "plan: %s", lmg_last_error())) {
            size_t pb = p->region_bytes[LMG_REGION_PARAMS];
            CHECK(pb >= (size_t)lmg_model_param_count(g) * 4, "params block %zu too small", pb);
            CHECK(p->region_bytes[LMG_REGION_GRADS] == pb, "grads block %zu != params %zu",
                  p->region_bytes[LMG_REGION_GRADS], pb);
            CHECK(p->region_bytes[LMG_REGION_STATE] == 2 * pb, "state block %zu != 2 x %zu",
                  p->region_bytes[LMG_REGION_STATE], pb);
            int adamw = 0;
            for (int i = 0; i < g->n_nodes; i++) {
                const lmg_node *n = &g->nodes[i];
                if (n->op != LMG_OP_ADAMW) continue;
                adamw++;
                int pv = n->in[0], gv = n->in[1], m = n->in[2], v = n->in[3];
                CHECK(p->region[pv] == LMG_REGION_PARAMS && p->region[gv] == LMG_REGION_GRADS &&
                          p->region[m] == LMG_REGION_STATE && p->region[v] == LMG_REGION_STATE,
                      "AdamW '%s' inputs outside their blocks", n->name);
                CHECK(p->offset[gv] == p->offset[pv] && p->offset[m] == p->offset[pv] &&
                          p->offset[v] == pb + p->offset[pv],
                      "AdamW '%s': param, grad, m, v not in step", n->name);
            }
            CHECK(adamw > 0, "no AdamW nodes");
            check_plan(g, p, 64, 0);
            report_ratio(a ? "BERT-S" : "GPT-S", p);
            /* With recomputed activations, partial gradients in the grads block and no
             * logits kept to the end (180 MB before). */
            CHECK(p->peak <= 150000000, "%s plans %.1f MB, more than 150", a ? "BERT-S" : "GPT-S",
                  (double)p->peak / 1e6);
        }
        lmg_plan_free(p);
        lmg_graph_free(g);
        test_end();
    }
}

/* A tiny GPT and BERT training step (every op of the real models: LayerNorm, attention,
 * cross-entropy, MLM corruption, clipping, AdamW) run through the plan with dead memory
 * poisoned: every output and every updated parameter and moment bit for bit as the ref
 * backend computes them. */
static void test_tiny_models_run(void)
{
    static const char *const archs[2] = {"gpt", "bert"};
    test_begin("tiny GPT and BERT training steps give the same bits through the plan");
    for (int a = 0; a < 2; a++) {
        lmg_model_config c;
        lmg_model_config_default(&c, archs[a]);
        c.layers = 2, c.heads = 2, c.d_model = 16, c.d_ff = 32, c.vocab = 64, c.seq = 8;
        c.batch = 2;
        lmg_optim_config oc;
        lmg_optim_config_default(&oc);
        lmg_graph *g = NULL;
        lmg_plan *p = NULL;
        if (!CHECK(lmg_model_build(&c, &g) == LMG_OK, "%s build: %s", archs[a], lmg_last_error()) ||
            !CHECK(lmg_train_graph_build(g, "loss", &oc) == LMG_OK, "train graph: %s",
                   lmg_last_error()) ||
            !CHECK(lmg_plan_build(g, NULL, &p) == LMG_OK, "plan: %s", lmg_last_error())) {
            lmg_graph_free(g);
            break;
        }
        check_plan(g, p, 64, 0);
        void *in[16] = {0};
        for (int k = 0; k < g->n_inputs && k < 16; k++) {
            const lmg_value *v = &g->values[g->inputs[k]];
            size_t n = (size_t)lmg_shape_numel(&v->shape);
            in[k] = calloc(n + 1, 4);
            if (strcmp(v->name, "lr") == 0) ((float *)in[k])[0] = 1e-3f;
            else if (strcmp(v->name, "step") == 0) ((int32_t *)in[k])[0] = 1;
            else if (v->dtype == LMG_DTYPE_I32)
                for (size_t i = 0; i < n; i++) ((int32_t *)in[k])[i] = (int32_t)(rnd() % 64);
        }
        int inplace = 0;
        for (int v = 0; v < g->n_values; v++)
            inplace += p->alias[v] >= 0 && lmg_op_is(g->nodes[g->values[v].producer].op, LMG_ELEMENTWISE);
        CHECK(inplace > 5, "%s: only %d in-place outputs", archs[a], inplace);
        same_as_ref_with(g, p, in);
        for (int k = 0; k < 16; k++) free(in[k]);
        lmg_plan_free(p);
        lmg_graph_free(g);
    }
    test_end();
}

static void test_errors(void)
{
    test_begin("bad arguments are errors, not crashes");
    lmg_graph *g = lmg_graph_new("e");
    lmg_plan *p = (lmg_plan *)1;
    lmg_plan_opts o = {48, 0};
    CHECK(lmg_plan_build(g, &o, &p) == LMG_ERR_ARG && p == NULL, "alignment 48 accepted");
    CHECK(lmg_plan_build(NULL, NULL, &p) == LMG_ERR_ARG, "NULL graph accepted");
    CHECK(lmg_plan_build(g, NULL, &p) == LMG_OK && p->peak == 0, "empty graph");
    lmg_plan_free(p);
    lmg_plan_free(NULL);
    lmg_graph_free(g);
    test_end();
}

int main(void)
{
    test_errors();
    test_inplace_rules();
    test_recompute();
    test_random();
    test_keep_all();
    test_regions();
    test_transformer();
    test_bench_models();
    test_tiny_models_run();
    return test_summary();
}
