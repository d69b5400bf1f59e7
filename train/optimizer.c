/* optimizer.c — the training step as one graph: autodiff, global-norm clipping and one AdamW
 * node per parameter, the learning-rate schedule fed to it, and micro-batch-major node order. */
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lmg_optim_config_default(lmg_optim_config *o)
{
    o->lr = 1e-3;
    o->min_lr = 1e-4;
    o->warmup = 50;
    o->steps = 1000;
    o->beta1 = 0.9;
    o->beta2 = 0.95;
    o->eps = 1e-8;
    o->weight_decay = 0.1;
    o->clip = 1.0;
    o->ranks = 1;
    o->no_recompute = 0;
    o->bucket_mb = 0.0;
}

double lmg_lr_at(const lmg_optim_config *o, int64_t step)
{
    if (step < 1) step = 1;
    if (o->warmup > 0 && step <= o->warmup) return o->lr * (double)step / (double)o->warmup;
    if (step >= o->steps) return o->steps > o->warmup ? o->min_lr : o->lr;
    double t = (double)(step - o->warmup) / (double)(o->steps - o->warmup);
    return o->min_lr + 0.5 * (o->lr - o->min_lr) * (1.0 + cos(3.14159265358979323846 * t));
}

static lmg_status check(const lmg_optim_config *o)
{
    if (!(o->lr > 0.0) || !isfinite(o->lr))
        return lmg_error(LMG_ERR_ARG, "optimizer: lr %g must be > 0", o->lr);
    if (!(o->min_lr >= 0.0) || o->min_lr > o->lr)
        return lmg_error(LMG_ERR_ARG, "optimizer: min_lr %g must be in [0, lr]", o->min_lr);
    if (!(o->beta1 >= 0.0 && o->beta1 < 1.0) || !(o->beta2 >= 0.0 && o->beta2 < 1.0))
        return lmg_error(LMG_ERR_ARG, "optimizer: betas %g, %g must be in [0, 1)", o->beta1,
                         o->beta2);
    if (!(o->bucket_mb >= 0.0))
        return lmg_error(LMG_ERR_ARG, "optimizer: bucket_mb %g must be >= 0", o->bucket_mb);
    if (!(o->eps > 0.0)) return lmg_error(LMG_ERR_ARG, "optimizer: eps %g must be > 0", o->eps);
    if (!(o->weight_decay >= 0.0))
        return lmg_error(LMG_ERR_ARG, "optimizer: weight_decay %g must be >= 0", o->weight_decay);
    if (o->warmup < 0 || o->steps < 1)
        return lmg_error(LMG_ERR_ARG, "optimizer: warmup %lld and steps %lld", (long long)o->warmup,
                         (long long)o->steps);
    return LMG_OK;
}

/* ---- micro-batch-major order ------------------------------------------------------- */

/* Which micro-batches (bit m) feed each node, from the Slice nodes "mb<m>/ids" and
 * "mb<m>/targets" the model builder makes; *any says whether there are such Slices. */
static uint64_t *micro_batch_masks(const lmg_graph *g, int *any)
{
    uint64_t *vm = calloc((size_t)g->n_values + 1, sizeof *vm);
    uint64_t *nm = malloc(((size_t)g->n_nodes + 1) * sizeof *nm);
    *any = 0;
    if (!vm || !nm) {
        free(vm), free(nm);
        return NULL;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        uint64_t m = 0;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0) m |= vm[n->in[k]];
        int mb;
        char rest[16];
        if (n->op == LMG_OP_SLICE && n->name && sscanf(n->name, "mb%d/%15s", &mb, rest) == 2 &&
            mb >= 0 && mb < 64 && (strcmp(rest, "ids") == 0 || strcmp(rest, "targets") == 0)) {
            m |= (uint64_t)1 << mb;
            *any = 1;
        }
        for (int k = 0; k < n->n_out; k++) vm[n->out[k]] = m;
        nm[i] = m;
    }
    free(vm);
    return nm;
}

/* Sorting nodes by the highest micro-batch they need, stably, keeps a topological order (a
 * node needs at least what its inputs need) and runs forward m and backward m before
 * forward m+1. */
static lmg_status order_micro_batches(lmg_graph *g)
{
    int nn = g->n_nodes, any = 0;
    uint64_t *nm = micro_batch_masks(g, &any);
    int *key = malloc(((size_t)nn + 1) * sizeof *key);
    int *order = malloc(((size_t)nn + 1) * sizeof *order);
    lmg_node *nodes = malloc(((size_t)nn + 1) * sizeof *nodes);
    if (!nm || !key || !order || !nodes) {
        free(nm), free(key), free(order), free(nodes);
        return lmg_error(LMG_ERR_NOMEM, "out of memory ordering micro-batches");
    }
    for (int i = 0; i < nn; i++) {
        int hi = -1;
        for (int b = 63; b >= 0; b--)
            if (nm[i] >> b & 1) {
                hi = b;
                break;
            }
        key[i] = hi;
    }
    if (any) {
        /* Counting sort by key (-1..63), stable. */
        int pos = 0;
        for (int kk = -1; kk < 64; kk++)
            for (int i = 0; i < nn; i++)
                if (key[i] == kk) order[pos++] = i;
        for (int i = 0; i < nn; i++) nodes[i] = g->nodes[order[i]];
        memcpy(g->nodes, nodes, (size_t)nn * sizeof *nodes);
        for (int i = 0; i < nn; i++)
            for (int k = 0; k < g->nodes[i].n_out; k++)
                g->values[g->nodes[i].out[k]].producer = i;
    }
    free(nm), free(key), free(order), free(nodes);
    return LMG_OK;
}

/* With micro-batches, micro-batch m reads each parameter p through its own view "p.mb<m>"
 * (a Reshape to the same shape, which the planner makes an alias). Autodiff then sums the
 * micro-batch's contributions to p (a tied embedding's two, or those of several objective
 * passes) into the view's gradient first, exactly as one rank of a data-parallel run sums
 * its own, and p's gradient is the sum of the micro-batches' in turn: so one process with
 * N micro-batches of B rows computes the same bits as N ranks of B rows (N = 2, where the
 * order of a sum of two does not matter). */
static lmg_status view_params_per_micro_batch(lmg_graph *g)
{
    int nn = g->n_nodes, any = 0;
    uint64_t *nm = micro_batch_masks(g, &any);
    if (!nm) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status s = LMG_OK;
    for (int i = 0; i < nn && any && s == LMG_OK; i++) {
        uint64_t m = nm[i];
        if (m == 0 || (m & (m - 1)) != 0) continue; /* one micro-batch's nodes only */
        int mb = 0;
        while (!(m >> mb & 1)) mb++;
        for (int k = 0; k < g->nodes[i].n_in && s == LMG_OK; k++) {
            int p = g->nodes[i].in[k];
            if (p < 0 || g->values[p].kind != LMG_VALUE_INIT || !g->values[p].trainable) continue;
            char name[512];
            snprintf(name, sizeof name, "%s.mb%d", g->values[p].name, mb);
            int v = lmg_graph_find(g, name);
            if (v < 0) {
                lmg_shape sh = g->values[p].shape;
                lmg_attr a = lmg_attr_ints("shape", sh.rank, sh.dims);
                const char *out[1] = {name};
                v = lmg_graph_node(g, LMG_OP_RESHAPE, name, &p, 1, &a, 1, out, NULL);
                if (v < 0) s = g->status != LMG_OK ? g->status : lmg_error(LMG_ERR_INVALID,
                                                                          "cannot add '%s'", name);
            } else if (g->values[v].kind != LMG_VALUE_NODE ||
                       g->nodes[g->values[v].producer].in[0] != p) {
                s = lmg_error(LMG_ERR_INVALID, "the graph already has a value named '%s'", name);
            }
            if (s == LMG_OK) g->nodes[i].in[k] = v;
        }
    }
    free(nm);
    LMG_TRY(s);
    /* The views read only parameters: moved ahead of every node, the order stays topological. */
    int added = g->n_nodes - nn;
    if (added == 0) return LMG_OK;
    lmg_node *tmp = malloc((size_t)added * sizeof *tmp);
    if (!tmp) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    memcpy(tmp, g->nodes + nn, (size_t)added * sizeof *tmp);
    memmove(g->nodes + added, g->nodes, (size_t)nn * sizeof *tmp);
    memcpy(g->nodes, tmp, (size_t)added * sizeof *tmp);
    free(tmp);
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_out; k++) g->values[g->nodes[i].out[k]].producer = i;
    return LMG_OK;
}

/* ---- losses over the ranks' positions ---------------------------------------------- */

/* Data parallelism: a CrossEntropy averages over the positions it counts (an MLM loss over
 * the masked ones), whose number differs between ranks, so the mean of the ranks' means is
 * not the global batch's mean. Each one (without weights, ignore_index < 0) is scaled by
 * k = c / mean(c), its rank's count over the ranks' mean count (an AllReduce in the forward
 * pass): the mean over the ranks of the scaled losses, and of their gradients, is then the
 * global batch's. A position counts when its target t >= 0, which is min(relu(t + 1), 1) of
 * the f32 target. With every rank counting the same (clm), or one rank, k = 1 exactly. */
static lmg_status weigh_losses_by_count(lmg_graph *g)
{
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const lmg_node *ce = &g->nodes[i];
        if (ce->op != LMG_OP_CROSS_ENTROPY || ce->n_in != 2 ||
            lmg_node_attr_int(ce, "ignore_index", -100) >= 0)
            continue;
        int l = ce->out[0], t = ce->in[1], n0 = g->n_nodes;
        char name[512], buf[600];
        snprintf(name, sizeof name, "%s", g->values[l].name);
        snprintf(buf, sizeof buf, "%s.local", name);
        LMG_TRY(lmg_graph_rename(g, l, buf));
        lmg_attr to = lmg_attr_int("to", LMG_DTYPE_F32);
        snprintf(buf, sizeof buf, "%s.count/targets", name);
        int x = lmg_graph_node(g, LMG_OP_CAST, buf, &t, 1, &to, 1, NULL, NULL);
        x = lmg_scale(g, x, 1.0, 1.0);
        x = lmg_graph_node(g, LMG_OP_RELU, NULL, &x, 1, NULL, 0, NULL, NULL);
        x = lmg_scale(g, x, -1.0, 0.0);
        int lo = lmg_graph_scalar(g, -1.0f);
        x = lmg_graph_node(g, LMG_OP_MAXIMUM, NULL, (int[]){x, lo}, 2, NULL, 0, NULL, NULL);
        x = lmg_scale(g, x, -1.0, 0.0);
        lmg_attr kd = lmg_attr_int("keepdims", 0);
        snprintf(buf, sizeof buf, "%s.count", name);
        int c = lmg_graph_node(g, LMG_OP_REDUCE_SUM, buf, &x, 1, &kd, 1, NULL, NULL);
        lmg_attr mean = lmg_attr_int("mean", 1);
        snprintf(buf, sizeof buf, "allreduce.count/%s", name);
        int C = lmg_graph_node(g, LMG_OP_ALL_REDUCE, buf, &c, 1, &mean, 1, NULL, NULL);
        int tiny = lmg_graph_scalar(g, 1e-30f); /* nothing counted anywhere: k = 0 / tiny */
        C = lmg_graph_node(g, LMG_OP_MAXIMUM, NULL, (int[]){C, tiny}, 2, NULL, 0, NULL, NULL);
        int k = lmg_div(g, c, C);
        const char *out[1] = {name};
        snprintf(buf, sizeof buf, "%s.scaled", name);
        int l2 = lmg_graph_node(g, LMG_OP_MUL, buf, (int[]){l, k}, 2, NULL, 0, out, NULL);
        if (l2 < 0 || g->status != LMG_OK)
            return g->status != LMG_OK ? g->status : lmg_error(LMG_ERR_INVALID, "scaling '%s'", name);
        for (int j = i + 1; j < n0; j++)
            for (int a = 0; a < g->nodes[j].n_in; a++)
                if (g->nodes[j].in[a] == l) g->nodes[j].in[a] = l2;
        for (int o = 0; o < g->n_outputs; o++)
            if (g->outputs[o] == l) g->outputs[o] = l2;
        /* The new nodes go right after the CrossEntropy, ahead of its consumers. */
        int added = g->n_nodes - n0;
        lmg_node *tmp = malloc((size_t)added * sizeof *tmp);
        if (!tmp) return lmg_error(LMG_ERR_NOMEM, "out of memory");
        memcpy(tmp, g->nodes + n0, (size_t)added * sizeof *tmp);
        memmove(g->nodes + i + 1 + added, g->nodes + i + 1, (size_t)(n0 - i - 1) * sizeof *tmp);
        memcpy(g->nodes + i + 1, tmp, (size_t)added * sizeof *tmp);
        free(tmp);
        for (int j = i + 1; j < g->n_nodes; j++)
            for (int o = 0; o < g->nodes[j].n_out; o++) g->values[g->nodes[j].out[o]].producer = j;
    }
    return LMG_OK;
}

/* ---- buckets of AllReduce nodes ---------------------------------------------------- */

/* Moves the AllReduce nodes (after micro-batch ordering, so "last" means last in the order
 * that runs) into buckets of about `bucket_bytes`, filled in the order their gradients are
 * completed; each bucket's nodes stand together right after the node that completes its
 * last gradient. An executor meets them while backward still has work to enqueue and can
 * reduce them meanwhile; the clipping that reads them comes after every node of backward,
 * so the order stays topological. Each value is reduced alone, so where it stands does not
 * change a bit of the result. */
static int is_grad_all_reduce(const lmg_node *n)
{
    return n->op == LMG_OP_ALL_REDUCE && n->name && strncmp(n->name, "allreduce/", 10) == 0;
}

static lmg_status place_buckets(lmg_graph *g, double bucket_bytes)
{
    int nn = g->n_nodes, na = 0;
    for (int i = 0; i < nn; i++) na += is_grad_all_reduce(&g->nodes[i]);
    if (na == 0) return LMG_OK;
    int *ar = malloc((size_t)na * sizeof *ar), *ready = malloc((size_t)na * sizeof *ready);
    int *close = malloc((size_t)nn * sizeof *close); /* per node: its bucket's first AR, -1 */
    int *next = malloc((size_t)na * sizeof *next);   /* the bucket's next AllReduce, -1 */
    lmg_node *nodes = malloc((size_t)nn * sizeof *nodes);
    if (!ar || !ready || !close || !next || !nodes) {
        free(ar), free(ready), free(close), free(next), free(nodes);
        return lmg_error(LMG_ERR_NOMEM, "out of memory placing AllReduce buckets");
    }
    na = 0;
    for (int i = 0; i < nn; i++)
        if (is_grad_all_reduce(&g->nodes[i])) {
            int v = g->nodes[i].in[0];
            ready[na] = v >= 0 ? g->values[v].producer : -1;
            ar[na++] = i;
        }
    /* Stable insertion sort by completion (the gradients are few: one per parameter). */
    for (int a = 1; a < na; a++)
        for (int b = a; b > 0 && ready[b - 1] > ready[b]; b--) {
            int t = ready[b];
            ready[b] = ready[b - 1], ready[b - 1] = t;
            t = ar[b];
            ar[b] = ar[b - 1], ar[b - 1] = t;
        }
    for (int i = 0; i < nn; i++) close[i] = -1;
    int lead = -1, head = -1; /* the open bucket's first entry and AllReduce-free lead-in */
    double bytes = 0.0;
    for (int a = 0; a < na; a++) {
        if (lead < 0) lead = a;
        next[a] = a + 1 < na ? a + 1 : -1;
        const lmg_value *x = &g->values[g->nodes[ar[a]].in[0]];
        bytes += 4.0 * (double)lmg_shape_numel(&x->shape);
        /* A bucket ends after a computed gradient whose producer completes no other. */
        int full = bytes >= bucket_bytes && ready[a] >= 0 && (a == na - 1 || ready[a + 1] != ready[a]);
        if (full || a == na - 1) {
            next[a] = -1;
            if (ready[a] < 0) head = lead; /* no node computes them: first of all */
            else close[ready[a]] = lead;
            lead = -1;
            bytes = 0.0;
        }
    }
    int pos = 0;
    for (int a = head; a >= 0; a = next[a]) nodes[pos++] = g->nodes[ar[a]];
    for (int i = 0; i < nn; i++) {
        if (is_grad_all_reduce(&g->nodes[i])) continue;
        nodes[pos++] = g->nodes[i];
        for (int a = close[i]; a >= 0; a = next[a]) nodes[pos++] = g->nodes[ar[a]];
    }
    memcpy(g->nodes, nodes, (size_t)nn * sizeof *nodes);
    for (int i = 0; i < nn; i++)
        for (int k = 0; k < g->nodes[i].n_out; k++) g->values[g->nodes[i].out[k]].producer = i;
    free(ar), free(ready), free(close), free(next), free(nodes);
    return pos == nn ? LMG_OK : lmg_error(LMG_ERR_INVALID, "placing AllReduce buckets lost nodes");
}

/* ---- the step graph ---------------------------------------------------------------- */

static lmg_status set_meta_d(lmg_graph *g, const char *k, double v)
{
    char b[64];
    snprintf(b, sizeof b, "%.17g", v);
    return lmg_graph_set_meta(g, k, b);
}

/* Data parallelism: the gradient named grad/<p> becomes the mean of every rank's own
 * (renamed grad.local/<p>), so the planner still keeps the gradients that AdamW reads in
 * one flat block mirroring the parameters, and the graph's outputs name the reduced ones. */
static lmg_status average_over_ranks(lmg_graph *g, const char *param, int *grad)
{
    char local[512], red[512], node[512];
    snprintf(local, sizeof local, "grad.local/%s", param);
    snprintf(red, sizeof red, "grad/%s", param);
    snprintf(node, sizeof node, "allreduce/%s", param);
    int v = *grad;
    LMG_TRY(lmg_graph_rename(g, v, local));
    lmg_attr a = lmg_attr_int("mean", 1);
    const char *out_names[1] = {red};
    int r = lmg_graph_node(g, LMG_OP_ALL_REDUCE, node, &v, 1, &a, 1, out_names, NULL);
    if (r < 0) return g->status;
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == v) g->outputs[k] = r;
    *grad = r;
    return LMG_OK;
}

/* The model's pass ("logits", "hidden") is what evaluation and sampling graphs read, never a
 * training step: as outputs of the step they would stay live to its end (17 MiB on GPT-S),
 * and the logits could not lend their bytes to their gradient. */
static void drop_pass_outputs(lmg_graph *g)
{
    int k = 0;
    for (int i = 0; i < g->n_outputs; i++) {
        const char *n = g->values[g->outputs[i]].name;
        if (strcmp(n, "logits") != 0 && strcmp(n, "hidden") != 0) g->outputs[k++] = g->outputs[i];
    }
    g->n_outputs = k;
}

lmg_status lmg_train_graph_build(lmg_graph *g, const char *loss, const lmg_optim_config *o)
{
    LMG_TRY(check(o));
    if (g->status != LMG_OK) return g->status;
    if (lmg_graph_find(g, "lr") >= 0 || lmg_graph_find(g, "step") >= 0 ||
        lmg_graph_find(g, "grad_norm") >= 0)
        return lmg_error(LMG_ERR_INVALID, "graph '%s' already has a value named lr, step or "
                                          "grad_norm: is it a training graph already?",
                         g->name);
    int np = 0;
    for (int v = 0; v < g->n_values; v++)
        np += g->values[v].kind == LMG_VALUE_INIT && g->values[v].trainable;
    if (np == 0) return lmg_error(LMG_ERR_INVALID, "graph '%s' has no trainable parameters", g->name);
    char **names = calloc((size_t)np, sizeof *names);
    int *grads = malloc((size_t)np * sizeof *grads);
    if (!names || !grads) {
        free(names), free(grads);
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    lmg_status s = LMG_OK;
    int k = 0;
    for (int v = 0; v < g->n_values && s == LMG_OK; v++)
        if (g->values[v].kind == LMG_VALUE_INIT && g->values[v].trainable) {
            names[k] = strdup(g->values[v].name);
            if (!names[k++]) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        }
    if (s == LMG_OK) s = view_params_per_micro_batch(g);
    if (s == LMG_OK && o->ranks > 1) s = weigh_losses_by_count(g);
    if (s == LMG_OK) {
        drop_pass_outputs(g);
        lmg_autodiff_opts ao = {.no_recompute = o->no_recompute};
        s = lmg_autodiff_with(g, loss, &ao);
    }
    char buf[512];
    for (int i = 0; i < np && s == LMG_OK; i++) {
        snprintf(buf, sizeof buf, "grad/%s", names[i]);
        grads[i] = lmg_graph_find(g, buf);
        if (grads[i] < 0)
            s = lmg_error(LMG_ERR_INVALID, "autodiff made no gradient '%s'", buf);
    }
    for (int i = 0; i < np && s == LMG_OK && o->ranks > 1; i++)
        s = average_over_ranks(g, names[i], &grads[i]);
    /* Global norm: sqrt of the sum over every gradient of its sum of squares. */
    int total = -1;
    for (int i = 0; i < np && s == LMG_OK; i++) {
        snprintf(buf, sizeof buf, "clip/sq/%s", names[i]);
        int sq = lmg_graph_node(g, LMG_OP_MUL, buf, (int[]){grads[i], grads[i]}, 2, NULL, 0, NULL,
                                NULL);
        snprintf(buf, sizeof buf, "clip/sumsq/%s", names[i]);
        lmg_attr ra[1] = {lmg_attr_int("keepdims", 0)};
        int ss = lmg_graph_node(g, LMG_OP_REDUCE_SUM, buf, &sq, 1, ra, 1, NULL, NULL);
        total = total < 0 ? ss : lmg_add(g, total, ss);
    }
    int norm = -1, gscale = -1;
    if (s == LMG_OK) {
        norm = lmg_graph_node(g, LMG_OP_SQRT, "grad_norm", &total, 1, NULL, 0, NULL, NULL);
        if (o->clip > 0.0) {
            int cl = lmg_graph_scalar(g, (float)o->clip);
            int mx = lmg_graph_node(g, LMG_OP_MAXIMUM, "clip/max", (int[]){norm, cl}, 2, NULL, 0,
                                    NULL, NULL);
            gscale = lmg_graph_node(g, LMG_OP_DIV, "gscale", (int[]){cl, mx}, 2, NULL, 0, NULL,
                                    NULL);
        } else {
            gscale = lmg_graph_scalar(g, 1.0f);
        }
        if (g->status != LMG_OK) s = g->status;
        else s = lmg_graph_add_output(g, norm);
    }
    int lr = -1, step = -1;
    if (s == LMG_OK) {
        lr = lmg_graph_input(g, "lr", LMG_DTYPE_F32, lmg_shape_make(0, NULL));
        step = lmg_graph_input(g, "step", LMG_DTYPE_I32, lmg_shape_make(0, NULL));
        if (g->status != LMG_OK) s = g->status;
    }
    for (int i = 0; i < np && s == LMG_OK; i++) {
        int p = lmg_graph_find(g, names[i]);
        lmg_shape sh = g->values[p].shape;
        snprintf(buf, sizeof buf, "adam.m/%s", names[i]);
        int m = lmg_graph_const(g, buf, LMG_DTYPE_F32, sh, NULL);
        snprintf(buf, sizeof buf, "adam.v/%s", names[i]);
        int v = lmg_graph_const(g, buf, LMG_DTYPE_F32, sh, NULL);
        /* Decay matrices only: biases and LayerNorm gains/shifts are rank 1. */
        double wd = sh.rank >= 2 ? o->weight_decay : 0.0;
        lmg_attr a[4] = {lmg_attr_float("beta1", o->beta1), lmg_attr_float("beta2", o->beta2),
                         lmg_attr_float("eps", o->eps), lmg_attr_float("weight_decay", wd)};
        snprintf(buf, sizeof buf, "adamw/%s", names[i]);
        lmg_graph_node(g, LMG_OP_ADAMW, buf, (int[]){p, grads[i], m, v, lr, step, gscale}, 7, a,
                       4, NULL, NULL);
        if (g->status != LMG_OK) s = g->status;
    }
    for (int i = 0; i < np; i++) free(names[i]);
    free(names);
    free(grads);
    LMG_TRY(s);
    LMG_TRY(set_meta_d(g, "optim.lr", o->lr));
    LMG_TRY(set_meta_d(g, "optim.min_lr", o->min_lr));
    LMG_TRY(set_meta_d(g, "optim.warmup", (double)o->warmup));
    LMG_TRY(set_meta_d(g, "optim.steps", (double)o->steps));
    LMG_TRY(set_meta_d(g, "optim.beta1", o->beta1));
    LMG_TRY(set_meta_d(g, "optim.beta2", o->beta2));
    LMG_TRY(set_meta_d(g, "optim.eps", o->eps));
    LMG_TRY(set_meta_d(g, "optim.weight_decay", o->weight_decay));
    LMG_TRY(set_meta_d(g, "optim.clip", o->clip));
    LMG_TRY(lmg_graph_set_meta(g, "optim.loss", loss));
    LMG_TRY(order_micro_batches(g));
    if (o->ranks <= 1) return LMG_OK;
    LMG_TRY(set_meta_d(g, "optim.ranks", o->ranks));
    double bucket = o->bucket_mb * 1048576.0;
    if (bucket <= 0.0) {
        for (int v = 0; v < g->n_values; v++)
            if (g->values[v].kind == LMG_VALUE_INIT && g->values[v].trainable)
                bucket += 4.0 * (double)lmg_shape_numel(&g->values[v].shape);
        bucket /= 4.0;
    }
    LMG_TRY(set_meta_d(g, "optim.bucket_mb", bucket / 1048576.0));
    return place_buckets(g, bucket);
}
