/* nodes.c — one-node graphs at GPT-S's shapes (B 8, T 128, d_model 256, 4 heads, vocab 4096)
 * timed on the OpenCL backend: the least wall and CPU time of the runs, per op. */
#include "../include/lmgraph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int input(lmg_graph *g, const char *name, lmg_dtype t, int rank, const int64_t *dims)
{
    return lmg_graph_input(g, name, t, lmg_shape_make(rank, dims));
}

/* Prepare g, run it `warm` times, then `runs` times timed; print the least wall and CPU ms.
 * Inputs stay as the backend starts them (zeros): every op here takes the same time on any
 * values. */
static int time_graph(const char *what, lmg_graph *g, int runs)
{
    lmg_exec *e = NULL;
    lmg_status s = g->status != LMG_OK ? g->status : lmg_graph_verify(g);
    if (s == LMG_OK) s = lmg_backend_opencl.init(g, &(lmg_exec_opts){0}, &e);
    double wall = 1e30, cpu = 1e30;
    for (int r = -3; r < runs && s == LMG_OK; r++) {
        double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        s = lmg_backend_opencl.run(e, 1);
        double w = now(CLOCK_MONOTONIC) - w0, c = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (r >= 0 && w < wall) wall = w;
        if (r >= 0 && c < cpu) cpu = c;
    }
    lmg_backend_opencl.free(e);
    lmg_graph_free(g);
    if (s != LMG_OK) {
        fprintf(stderr, "nodes: %s: %s\n", what, lmg_last_error());
        return 1;
    }
    printf("%-34s %9.3f %9.3f\n", what, wall * 1e3, cpu * 1e3);
    return 0;
}

int main(int argc, char **argv)
{
    int runs = 15;
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        printf("usage: nodes [RUNS]\n\nTimes one-node graphs at GPT-S's shapes on the OpenCL "
               "backend: the least wall\nand CPU time (ms) over RUNS runs (default 15) after 3. "
               "LMG_DEVICE picks the device,\nLMG_CL_HOST_OPS=off keeps the kernels on a CPU "
               "device.\n");
        return 0;
    }
    if (argc > 1 && (runs = atoi(argv[1])) < 1) {
        fprintf(stderr, "nodes: RUNS is '%s'; it wants a count >= 1\n", argv[1]);
        return 2;
    }
    const int64_t BT = 8 * 128, C = 256, V = 4096;
    int fails = 0, y[3];
    printf("%-34s %9s %9s\n", "node", "wall ms", "cpu ms");
    {
        lmg_graph *g = lmg_graph_new("ce");
        int in[2] = {input(g, "x", LMG_DTYPE_F32, 2, (int64_t[]){BT, V}),
                     input(g, "t", LMG_DTYPE_I32, 1, &BT)};
        lmg_graph_node(g, LMG_OP_CROSS_ENTROPY, "ce", in, 2, NULL, 0, NULL, y);
        lmg_graph_add_output(g, y[0]);
        fails += time_graph("CrossEntropy [1024, 4096]", g, runs);
    }
    {
        lmg_graph *g = lmg_graph_new("ceg");
        int in[3] = {input(g, "dl", LMG_DTYPE_F32, 0, NULL),
                     input(g, "x", LMG_DTYPE_F32, 2, (int64_t[]){BT, V}),
                     input(g, "t", LMG_DTYPE_I32, 1, &BT)};
        lmg_graph_node(g, LMG_OP_CROSS_ENTROPY_GRAD, "ceg", in, 3, NULL, 0, NULL, y);
        lmg_graph_add_output(g, y[0]);
        fails += time_graph("CrossEntropyGrad [1024, 4096]", g, runs);
    }
    {
        /* GPT-S's parameter count in one AdamW node */
        int64_t P = 4240896;
        lmg_graph *g = lmg_graph_new("adamw");
        int in[7];
        float *zero = calloc((size_t)P, sizeof *zero);
        if (!zero) {
            fprintf(stderr, "nodes: out of memory\n");
            return 1;
        }
        lmg_shape sp = lmg_shape_make(1, &P);
        in[0] = lmg_graph_param(g, "p", LMG_DTYPE_F32, sp, zero); /* updated in place */
        in[1] = input(g, "g", LMG_DTYPE_F32, 1, &P);
        in[2] = lmg_graph_const(g, "m", LMG_DTYPE_F32, sp, zero);
        in[3] = lmg_graph_const(g, "v", LMG_DTYPE_F32, sp, zero);
        free(zero);
        in[4] = input(g, "lr", LMG_DTYPE_F32, 0, NULL);
        in[5] = input(g, "step", LMG_DTYPE_I32, 0, NULL);
        in[6] = input(g, "gscale", LMG_DTYPE_F32, 0, NULL);
        lmg_graph_node(g, LMG_OP_ADAMW, "adamw", in, 7, NULL, 0, NULL, y);
        for (int k = 0; k < 3; k++) lmg_graph_add_output(g, y[k]);
        fails += time_graph("AdamW [4240896]", g, runs);
    }
    {
        lmg_graph *g = lmg_graph_new("ln");
        int in[3] = {input(g, "x", LMG_DTYPE_F32, 2, (int64_t[]){BT, C}),
                     input(g, "g", LMG_DTYPE_F32, 1, &C), input(g, "b", LMG_DTYPE_F32, 1, &C)};
        lmg_graph_node(g, LMG_OP_LAYER_NORM, "ln", in, 3, NULL, 0, NULL, y);
        lmg_graph_add_output(g, y[0]);
        fails += time_graph("LayerNorm [1024, 256]", g, runs);
    }
    {
        lmg_graph *g = lmg_graph_new("lng");
        int in[5] = {input(g, "dy", LMG_DTYPE_F32, 2, (int64_t[]){BT, C}),
                     input(g, "x", LMG_DTYPE_F32, 2, (int64_t[]){BT, C}),
                     input(g, "g", LMG_DTYPE_F32, 1, &C), input(g, "m", LMG_DTYPE_F32, 1, &BT),
                     input(g, "r", LMG_DTYPE_F32, 1, &BT)};
        lmg_graph_node(g, LMG_OP_LAYER_NORM_GRAD, "lng", in, 5, NULL, 0, NULL, y);
        for (int k = 0; k < 3; k++) lmg_graph_add_output(g, y[k]);
        fails += time_graph("LayerNormGrad [1024, 256]", g, runs);
    }
    {
        lmg_graph *g = lmg_graph_new("qkvT");
        int x = input(g, "x", LMG_DTYPE_F32, 5, (int64_t[]){8, 128, 3, 4, 64});
        lmg_attr a = lmg_attr_ints("perm", 5, (int64_t[]){2, 0, 3, 1, 4});
        lmg_graph_node(g, LMG_OP_TRANSPOSE, "t", &x, 1, &a, 1, NULL, y);
        lmg_graph_add_output(g, y[0]);
        fails += time_graph("Transpose [8,128,3,4,64] heads", g, runs);
    }
    {
        lmg_graph *g = lmg_graph_new("colsum");
        int x = input(g, "x", LMG_DTYPE_F32, 2, (int64_t[]){BT, 4 * C});
        lmg_attr a = lmg_attr_ints("axes", 1, (int64_t[]){0});
        lmg_graph_node(g, LMG_OP_REDUCE_SUM, "r", &x, 1, &a, 1, NULL, y);
        lmg_graph_add_output(g, y[0]);
        fails += time_graph("ReduceSum [1024, 1024] over rows", g, runs);
    }
    {
        lmg_graph *g = lmg_graph_new("att");
        int in[3];
        const char *names[3] = {"q", "k", "v"};
        for (int k = 0; k < 3; k++)
            in[k] = input(g, names[k], LMG_DTYPE_F32, 4, (int64_t[]){8, 4, 128, 64});
        lmg_attr a = lmg_attr_int("causal", 1);
        lmg_graph_node(g, LMG_OP_ATTENTION, "att", in, 3, &a, 1, NULL, y);
        lmg_graph_add_output(g, y[0]);
        lmg_graph_add_output(g, y[1]);
        fails += time_graph("Attention [8,4,128,64] causal", g, runs);
    }
    return fails ? 1 : 0;
}
