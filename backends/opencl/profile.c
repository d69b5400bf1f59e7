/* profile.c — per-node device time from OpenCL event profiling: when switched on, every step's
 * commands carry events, and their start/end times add up in one table per process. */
#include "opencl_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int enabled = -1; /* -1: not set by a call, LMG_CL_PROFILE decides */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static lmg_opencl_prof_node *table;
static int n_table, cap_table, n_execs;

void lmg_opencl_profile_enable(int on)
{
    enabled = on != 0;
}

int lmg_opencl_profile_enabled(void)
{
    if (enabled >= 0) return enabled;
    const char *v = getenv("LMG_CL_PROFILE");
    return v && *v && strcmp(v, "0") != 0;
}

/* Bytes a node must move at least: each distinct input and output value once. */
static double node_bytes(const lmg_graph *g, const lmg_node *n)
{
    double b = 0;
    for (int k = 0; k < n->n_in + n->n_out; k++) {
        int v = k < n->n_in ? n->in[k] : n->out[k - n->n_in];
        if (v < 0) continue;
        int seen = 0;
        for (int j = 0; j < k && !seen; j++)
            seen = (j < n->n_in ? n->in[j] : n->out[j - n->n_in]) == v;
        if (!seen)
            b += (double)lmg_shape_numel(&g->values[v].shape) *
                 (double)lmg_dtype_size(g->values[v].dtype);
    }
    return b;
}

lmg_status lmg_cl_prof_init(lmg_exec *e)
{
    const lmg_graph *g = e->g;
    e->prof_ev = calloc((size_t)e->n_cmds + 1, sizeof *e->prof_ev);
    e->prof_pre = calloc((size_t)e->n_cmds + 1, sizeof *e->prof_pre);
    e->prof_entry = calloc((size_t)e->n_cmds + 1, sizeof *e->prof_entry);
    e->prof_cmd_ms = calloc((size_t)e->n_cmds + 1, sizeof *e->prof_cmd_ms);
    int *of_node = malloc(((size_t)g->n_nodes + 1) * sizeof *of_node);
    if (!e->prof_ev || !e->prof_pre || !e->prof_entry || !e->prof_cmd_ms || !of_node) {
        free(of_node);
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < g->n_nodes; i++) of_node[i] = -1;
    pthread_mutex_lock(&lock);
    int id = ++n_execs;
    e->prof_id = id;
    lmg_status s = LMG_OK;
    for (int c = 0; c < e->n_cmds && s == LMG_OK; c++) {
        const lmg_cl_cmd *cmd = &e->cmds[c];
        int node = cmd->node;
        if (node < 0 || node >= g->n_nodes) node = 0;
        if (of_node[node] < 0) {
            if (n_table == cap_table) {
                int cap = cap_table ? 2 * cap_table : 512;
                lmg_opencl_prof_node *t = realloc(table, (size_t)cap * sizeof *t);
                if (!t) {
                    s = lmg_error(LMG_ERR_NOMEM, "out of memory");
                    break;
                }
                table = t;
                cap_table = cap;
            }
            lmg_opencl_prof_node *p = &table[n_table];
            memset(p, 0, sizeof *p);
            const lmg_node *n = &g->nodes[node];
            snprintf(p->node, sizeof p->node, "%s", n->name);
            snprintf(p->op, sizeof p->op, "%s", lmg_op_name(n->op));
            p->exec = id;
            p->order = node;
            p->bytes = node_bytes(g, n);
            if (n->op == LMG_OP_ATTENTION || n->op == LMG_OP_ATTENTION_GRAD)
                p->flops = lmg_graph_attention_flops(g, n);
            of_node[node] = n_table++;
        }
        lmg_opencl_prof_node *p = &table[of_node[node]];
        e->prof_entry[c] = of_node[node];
        p->commands++;
        if (cmd->kind == LMG_CL_CMD_GEMM) {
            const lmg_cl_gemm *gm = &cmd->gemm;
            p->flops += 2.0 * (double)gm->m * (double)gm->n * (double)gm->k *
                        (double)(gm->batch ? gm->batch : 1);
            snprintf(p->kernel, sizeof p->kernel, "%s", e->gemm_host ? "sgemm (host BLAS)"
                                                                     : "sgemm (CLBlast)");
        } else if (!p->kernel[0]) {
            snprintf(p->kernel, sizeof p->kernel, "%s", cmd->kname);
        }
    }
    pthread_mutex_unlock(&lock);
    free(of_node);
    return s;
}

lmg_status lmg_cl_prof_collect(lmg_exec *e)
{
    cl_ulong t0 = 0;
    lmg_status s = LMG_OK;
    pthread_mutex_lock(&lock);
    /* A node's time in this run is the sum of its commands'; its place in the trace runs
     * from its first command's start to its last one's end. */
    for (int c = 0; c < e->n_cmds; c++) {
        cl_event ev = e->prof_ev[c];
        if (!ev) continue;
        cl_ulong st = 0, en = 0;
        cl_int err = clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof st, &st, NULL);
        if (err == CL_SUCCESS)
            err = clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof en, &en, NULL);
        clReleaseEvent(ev);
        e->prof_ev[c] = NULL;
        if (e->prof_pre[c]) {
            cl_ulong pre = 0;
            if (err == CL_SUCCESS)
                err = clGetEventProfilingInfo(e->prof_pre[c], CL_PROFILING_COMMAND_END,
                                              sizeof pre, &pre, NULL);
            if (err == CL_SUCCESS && pre && pre < st) st = pre;
            clReleaseEvent(e->prof_pre[c]);
            e->prof_pre[c] = NULL;
        }
        if (err != CL_SUCCESS) {
            if (s == LMG_OK) s = lmg_cl_fail(err, "clGetEventProfilingInfo", __FILE__, __LINE__);
            continue;
        }
        if (!t0) t0 = st;
        /* A take since init emptied the table: this exec's entries are gone. */
        if (e->prof_entry[c] >= n_table || table[e->prof_entry[c]].exec != e->prof_id) continue;
        lmg_opencl_prof_node *p = &table[e->prof_entry[c]];
        double ms = en > st ? (double)(en - st) * 1e-6 : 0;
        if (p->run != e->prof_runs + 1) {
            p->run = e->prof_runs + 1;
            p->calls++;
            p->last_ms = 0;
            p->start_us = (double)(st - t0) * 1e-3;
        }
        p->total_ms += ms;
        p->last_ms += ms;
        p->end_us = (double)(en > t0 ? en - t0 : 0) * 1e-3;
        /* A node of several launches is named by the one that takes its time (AdamW's
         * one-item prep kernel came first and was blamed for the update's time). */
        e->prof_cmd_ms[c] += ms;
        const lmg_cl_cmd *cmd = &e->cmds[c];
        if (cmd->kind != LMG_CL_CMD_GEMM && e->prof_cmd_ms[c] > p->kernel_ms) {
            p->kernel_ms = e->prof_cmd_ms[c];
            snprintf(p->kernel, sizeof p->kernel, "%s", cmd->kname);
        }
    }
    e->prof_runs++;
    pthread_mutex_unlock(&lock);
    return s;
}

void lmg_cl_prof_free(lmg_exec *e)
{
    for (int c = 0; c < e->n_cmds; c++) {
        if (e->prof_ev && e->prof_ev[c]) clReleaseEvent(e->prof_ev[c]);
        if (e->prof_pre && e->prof_pre[c]) clReleaseEvent(e->prof_pre[c]);
    }
    free(e->prof_ev);
    free(e->prof_pre);
    free(e->prof_entry);
    free(e->prof_cmd_ms);
}

void lmg_opencl_profile_reset(void)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < n_table; i++) {
        table[i].calls = 0;
        table[i].total_ms = table[i].last_ms = table[i].start_us = table[i].end_us = 0;
    }
    pthread_mutex_unlock(&lock);
}

lmg_status lmg_opencl_profile_take(lmg_opencl_prof_node **out, int *n)
{
    pthread_mutex_lock(&lock);
    *out = NULL;
    *n = n_table;
    lmg_status s = LMG_OK;
    if (n_table) {
        *out = malloc((size_t)n_table * sizeof **out);
        if (*out) memcpy(*out, table, (size_t)n_table * sizeof **out);
        else s = lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    if (s == LMG_OK) {
        free(table);
        table = NULL;
        n_table = cap_table = 0;
    } else {
        *n = 0;
    }
    pthread_mutex_unlock(&lock);
    return s;
}
