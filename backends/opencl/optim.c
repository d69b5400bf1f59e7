/* optim.c — the OpenCL recorder of AdamW: one launch per node, or one for a whole flat
 * parameter block (a run of AdamW nodes the planner laid out back to back; kernels/optim.cl). */
#include "opencl_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* AdamW over `count` contiguous elements of param/grad/m/v: segment k starts at element
 * starts[k] and decays by wd[k] (nodes differ in weight decay: none for biases). */
static lmg_status adamw_range(lmg_exec *e, const lmg_node *n, lmg_cl_loc p, lmg_cl_loc g,
                              lmg_cl_loc m, lmg_cl_loc v, int64_t count, int nseg,
                              const int64_t *starts, const double *wd)
{
    double b1 = lmg_node_attr_float(n, "beta1", 0.9), b2 = lmg_node_attr_float(n, "beta2", 0.999);
    double eps = lmg_node_attr_float(n, "eps", 1e-8);
    if (count == 0) return LMG_OK;
    if (e->ops_host) return lmg_cl_host_adamw(e, n, p, g, m, v, count, nseg, starts, wd);
    uint32_t *tab = malloc((size_t)nseg * 2 * sizeof *tab);
    if (!tab) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (int k = 0; k < nseg; k++) {
        float w = (float)wd[k];
        tab[2 * k] = (uint32_t)starts[k];
        memcpy(&tab[2 * k + 1], &w, 4);
    }
    lmg_cl_loc seg = lmg_cl_aux(e, tab, (size_t)nseg * 2);
    free(tab);
    if (seg.region < 0) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_cl_loc bc = lmg_cl_scratch(e, 2);
    LMG_TRY(lmg_cl_kernel(e, "adamw_prep", 1, 0, "bbff", bc, lmg_cl_at(e, n->in[5]), log(b1),
                          log(b2)));
    int top = 1;
    while (top * 2 < nseg) top *= 2;
    return lmg_cl_kernel(e, "adamw", (size_t)count, 0, "bbbbbbbbiifffffi", p, g, m, v,
                         lmg_cl_at(e, n->in[4]), lmg_cl_at(e, n->in[6]), bc, seg, nseg, top, b1,
                         1.0 - b1, b2, 1.0 - b2, eps, (int)count);
}

/* Weight decay may differ: the fused kernel takes it per segment. */
static int same_attrs(const lmg_node *a, const lmg_node *b)
{
    static const char *names[] = {"beta1", "beta2", "eps"};
    static const double dflt[] = {0.9, 0.999, 1e-8};
    for (int i = 0; i < 3; i++)
        if (lmg_node_attr_float(a, names[i], dflt[i]) != lmg_node_attr_float(b, names[i], dflt[i]))
            return 0;
    return 1;
}

/* 1 when the spans [off, off+count) of the four operands hold nothing but the operands of
 * AdamW nodes i .. i+len-1 (and the planner's alignment padding, which no value uses). */
static int spans_private(const lmg_exec *e, int i, int len, uint64_t count)
{
    const lmg_graph *g = e->g;
    for (int v = 0; v < g->n_values; v++) {
        if (e->alias[v] >= 0 || (uint64_t)lmg_cl_numel(e, v) == 0) continue;
        lmg_cl_loc l = e->loc[v];
        uint64_t lo = l.off, hi = l.off + (uint64_t)lmg_cl_numel(e, v);
        for (int k = 0; k < 4; k++) {
            lmg_cl_loc s = e->loc[g->nodes[i].in[k]];
            if (s.region != l.region || hi <= s.off || lo >= s.off + count) continue;
            int mine = 0;
            for (int j = i; j < i + len && !mine; j++)
                for (int q = 0; q < 4; q++) {
                    int w = g->nodes[j].in[q];
                    if (w == v || (e->alias[w] >= 0 && e->alias[w] == v)) mine = 1;
                }
            if (!mine) return 0;
        }
    }
    return 1;
}

/* How many AdamW nodes starting at node i form one block (1 = no fusion): the same
 * hyper-parameters and scalar inputs, no other node in between, and param, grad, m and v
 * each placed after the previous node's by one common distance (the planner mirrors their
 * offsets), so one launch over the span updates them all. `*count` gets the span. */
static int adamw_run(const lmg_exec *e, int i, uint64_t *count)
{
    const lmg_graph *g = e->g;
    const lmg_node *first = &g->nodes[i];
    *count = (uint64_t)lmg_cl_numel(e, first->in[0]);
    if (e->canary) return 1; /* the guard words between values must stay untouched */
    int len = 1;
    for (int j = i + 1; j < g->n_nodes; j++) {
        const lmg_node *prev = &g->nodes[j - 1], *n = &g->nodes[j];
        if (n->op != LMG_OP_ADAMW || !same_attrs(first, n)) break;
        int ok = 1;
        for (int k = 4; k < 7; k++) ok &= n->in[k] == first->in[k];
        uint64_t pn = (uint64_t)lmg_cl_numel(e, prev->in[0]);
        lmg_cl_loc p0 = e->loc[prev->in[0]], n0 = e->loc[n->in[0]];
        /* At most the plan's alignment padding (64 bytes) between two blocks. */
        if (!ok || p0.region != n0.region || n0.off < p0.off + pn || n0.off >= p0.off + pn + 16)
            break;
        uint64_t delta = n0.off - p0.off;
        for (int k = 1; k < 4; k++) {
            lmg_cl_loc a = e->loc[prev->in[k]], b = e->loc[n->in[k]];
            ok &= a.region == b.region && b.off == a.off + delta &&
                  (uint64_t)lmg_cl_numel(e, n->in[k]) == (uint64_t)lmg_cl_numel(e, n->in[0]);
        }
        if (!ok) break;
        len++;
        *count = n0.off + (uint64_t)lmg_cl_numel(e, n->in[0]) - e->loc[first->in[0]].off;
    }
    if (len > 1 && !spans_private(e, i, len, *count)) {
        *count = (uint64_t)lmg_cl_numel(e, first->in[0]);
        return 1;
    }
    return len;
}

/* The whole block in one launch: e->consumed tells the executor how many nodes it took. */
static lmg_status adamw_block(lmg_exec *e, const lmg_node *n, int len, uint64_t count)
{
    int i = e->cur_node;
    int64_t *starts = malloc((size_t)len * sizeof *starts);
    double *wd = malloc((size_t)len * sizeof *wd);
    lmg_status s = LMG_OK;
    if (!starts || !wd) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (int j = 0; j < len && s == LMG_OK; j++) {
        const lmg_node *nj = &e->g->nodes[i + j];
        starts[j] = (int64_t)(e->loc[nj->in[0]].off - e->loc[n->in[0]].off);
        wd[j] = lmg_node_attr_float(nj, "weight_decay", 0.0);
    }
    if (s == LMG_OK)
        s = adamw_range(e, n, e->loc[n->in[0]], e->loc[n->in[1]], e->loc[n->in[2]],
                        e->loc[n->in[3]], (int64_t)count, len, starts, wd);
    free(starts);
    free(wd);
    if (s == LMG_OK) e->consumed = len;
    return s;
}

lmg_status lmg_cl_op_ADAMW(lmg_exec *e, const lmg_node *n)
{
    uint64_t count;
    int len = adamw_run(e, e->cur_node, &count);
    if (len > 1) return adamw_block(e, n, len, count);
    /* Outputs share their inputs' storage (the plan aliases them), so the update is in place;
     * should a plan ever separate them, copy first and update the copies. */
    lmg_cl_loc dst[3] = {lmg_cl_at(e, n->out[0]), lmg_cl_at(e, n->out[1]), lmg_cl_at(e, n->out[2])};
    static const int src_in[3] = {0, 2, 3};
    int64_t N = lmg_cl_numel(e, n->in[0]);
    for (int k = 0; k < 3; k++) {
        lmg_cl_loc src = lmg_cl_at(e, n->in[src_in[k]]);
        if (src.region != dst[k].region || src.off != dst[k].off)
            LMG_TRY(lmg_cl_kernel(e, "copy_flat", (size_t)N, 0, "bbi", dst[k], src, (int)N));
    }
    int64_t start = 0;
    double wd = lmg_node_attr_float(n, "weight_decay", 0.0);
    return adamw_range(e, n, dst[0], lmg_cl_at(e, n->in[1]), dst[1], dst[2], N, 1, &start,
                       &wd);
}
