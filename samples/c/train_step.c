/* train_step.c — lmgraph as a library: build a small regression graph, differentiate it into a
 * training step (autodiff + AdamW), run a few steps and print the loss of each.
 *
 *   cc train_step.c $(pkg-config --cflags --libs lmgraph) -o train_step
 *   ./train_step [STEPS] [BACKEND]     (default 5 steps; opencl when a device works, else ref) */
#include <lmgraph.h>

#include <stdio.h>
#include <stdlib.h>

enum { N = 32, D = 8, H = 16 }; /* batch, features, hidden units */

/* A fixed pseudo-random number in [-1, 1) for index i (no libm needed). */
static float noise(uint32_t i)
{
    i = (i ^ 61u) ^ (i >> 16);
    i *= 9u;
    i ^= i >> 4;
    i *= 0x27d4eb2du;
    i ^= i >> 15;
    return (float)(i >> 8) / 8388608.0f - 1.0f;
}

/* loss = mean((tanh(x w1 + b1) w2 - y)^2), with x f32[N,D] and y f32[N,1] fed each step. */
static lmg_status build_forward(lmg_graph **out)
{
    float w1[D * H], w2[H];
    for (int i = 0; i < D * H; i++) w1[i] = 0.5f * noise((uint32_t)i);
    for (int i = 0; i < H; i++) w2[i] = 0.5f * noise(1000u + (uint32_t)i);
    lmg_graph *g = lmg_graph_new("regression");
    if (!g) return LMG_ERR_NOMEM;
    int x = lmg_graph_input(g, "x", LMG_DTYPE_F32, lmg_shape_make(2, (int64_t[]){N, D}));
    int y = lmg_graph_input(g, "y", LMG_DTYPE_F32, lmg_shape_make(2, (int64_t[]){N, 1}));
    int p1 = lmg_graph_param(g, "w1", LMG_DTYPE_F32, lmg_shape_make(2, (int64_t[]){D, H}), w1);
    int b1 = lmg_graph_param(g, "b1", LMG_DTYPE_F32, lmg_shape_make(1, (int64_t[]){H}), NULL);
    int p2 = lmg_graph_param(g, "w2", LMG_DTYPE_F32, lmg_shape_make(2, (int64_t[]){H, 1}), w2);
    int h = lmg_unary(g, LMG_OP_TANH, lmg_add(g, lmg_matmul(g, x, p1, 0, 0), b1));
    int d = lmg_sub(g, lmg_matmul(g, h, p2, 0, 0), y);
    int loss = lmg_graph_node(g, LMG_OP_REDUCE_MEAN, "loss", (int[]){lmg_mul(g, d, d)}, 1,
                              NULL, 0, (const char *[]){"loss"}, NULL);
    lmg_status s = g->status; /* builder errors are sticky: one check at the end */
    if (s == LMG_OK) s = lmg_graph_add_output(g, loss);
    if (s != LMG_OK) {
        lmg_graph_free(g);
        return s;
    }
    *out = g;
    return LMG_OK;
}

/* The default backend: OpenCL when a device initialises, else the reference backend. */
static lmg_status open_backend(const lmg_graph *g, const char *name, const lmg_backend **b,
                               lmg_exec **e)
{
    lmg_exec_opts opts = {0};
    *b = lmg_backend_find(name ? name : "opencl");
    if (!*b) return LMG_ERR_NOT_FOUND;
    lmg_status s = (*b)->init(g, &opts, e);
    if (s == LMG_OK || name) return s;
    fprintf(stderr, "opencl unavailable (%s); using ref\n", lmg_last_error());
    *b = &lmg_backend_ref;
    return (*b)->init(g, &opts, e);
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 5;
    lmg_graph *g = NULL;
    const lmg_backend *b = NULL;
    lmg_exec *e = NULL;
    lmg_optim_config o;
    lmg_optim_config_default(&o);
    o.lr = 0.01;
    o.min_lr = 0.01;
    o.warmup = 0;
    o.weight_decay = 0;

    lmg_status s = build_forward(&g);
    if (s == LMG_OK) s = lmg_train_graph_build(g, "loss", &o); /* autodiff, clipping, AdamW */
    if (s == LMG_OK) s = lmg_graph_verify(g);
    if (s == LMG_OK) s = open_backend(g, argc > 2 ? argv[2] : NULL, &b, &e);
    if (s != LMG_OK) {
        fprintf(stderr, "train_step: %s\n", lmg_last_error());
        lmg_graph_free(g);
        return 1;
    }
    printf("backend %s, %d nodes, %d values\n", b->name, g->n_nodes, g->n_values);

    /* One fixed batch, y = x0 * x1 + x2 / 2, so the loss should fall step after step. */
    float x[N * D], y[N], loss = 0;
    for (int i = 0; i < N * D; i++) x[i] = noise(5000u + (uint32_t)i);
    for (int i = 0; i < N; i++) y[i] = x[i * D] * x[i * D + 1] + 0.5f * x[i * D + 2];
    int vx = lmg_graph_find(g, "x"), vy = lmg_graph_find(g, "y"), vlr = lmg_graph_find(g, "lr");
    int vstep = lmg_graph_find(g, "step"), vloss = lmg_graph_find(g, "loss");
    s = b->write(e, vx, x, sizeof x);
    if (s == LMG_OK) s = b->write(e, vy, y, sizeof y);
    for (int t = 1; t <= steps && s == LMG_OK; t++) {
        float lr = (float)lmg_lr_at(&o, t);
        int32_t step = t;
        s = b->write(e, vlr, &lr, sizeof lr);
        if (s == LMG_OK) s = b->write(e, vstep, &step, sizeof step);
        if (s == LMG_OK) s = b->run(e, (uint64_t)t);
        if (s == LMG_OK) s = b->read(e, vloss, &loss, sizeof loss);
        if (s == LMG_OK) printf("step %d loss %.6f\n", t, loss);
    }
    if (s != LMG_OK) fprintf(stderr, "train_step: %s\n", lmg_last_error());
    b->free(e);
    lmg_graph_free(g);
    return s == LMG_OK ? 0 : 1;
}
