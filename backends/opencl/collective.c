/* collective.c — the OpenCL side of AllReduce: a bucket of AllReduce nodes is one host round
 * trip, whose MPI all-reduce runs on a helper thread while the queue goes on with backward. */
#include "opencl_internal.h"
#include "../dist.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- the helper thread ------------------------------------------------------------- */

/* One hand-over: wait for `ready` (the reads), run fn on the span, set `done`. */
typedef struct job {
    cl_event ready, done;
    lmg_cl_host_fn fn;
    float *data;
    size_t count;
    int arg;
} job;

/* Jobs run one at a time, in the order they were handed over: every rank records the same
 * commands, so every rank enters the same collectives in the same order. */
struct lmg_cl_helper {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *ring;
    int cap, head, tail, quit, started;
    lmg_status status; /* the run's first failure, with its message */
    char msg[1024];
};

static void *helper_main(void *arg)
{
    lmg_cl_helper *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->quit && h->head == h->tail) pthread_cond_wait(&h->cv, &h->mu);
        if (h->head == h->tail) break;
        job j = h->ring[h->head % h->cap];
        int failed = h->status != LMG_OK;
        pthread_mutex_unlock(&h->mu);

        lmg_status s = LMG_OK;
        cl_int err = clWaitForEvents(1, &j.ready);
        if (err != CL_SUCCESS)
            s = lmg_error(LMG_ERR_DEVICE, "opencl: reading a bucket's gradients failed (%s)",
                          lmg_cl_error_name(err));
        else if (!failed) /* after a failure the run is lost: the caller aborts every rank */
            s = j.fn(j.data, j.count, j.arg);
        char msg[sizeof h->msg];
        if (s != LMG_OK) snprintf(msg, sizeof msg, "%s", lmg_last_error());
        clSetUserEventStatus(j.done, s == LMG_OK ? CL_COMPLETE : -1);
        clReleaseEvent(j.done);
        clReleaseEvent(j.ready);

        pthread_mutex_lock(&h->mu);
        if (s != LMG_OK && h->status == LMG_OK) {
            h->status = s;
            snprintf(h->msg, sizeof h->msg, "%s", msg);
        }
        h->head++;
        pthread_cond_broadcast(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static lmg_status helper_get(lmg_exec *e, lmg_cl_helper **out)
{
    if (!e->helper) {
        int cap = 0;
        for (int i = 0; i < e->n_cmds; i++) cap += e->cmds[i].kind == LMG_CL_CMD_HOST;
        lmg_cl_helper *h = calloc(1, sizeof *h);
        if (h) h->ring = malloc((size_t)cap * sizeof *h->ring);
        if (!h || !h->ring) {
            if (h) free(h->ring);
            free(h);
            return lmg_error(LMG_ERR_NOMEM, "out of memory");
        }
        h->cap = cap;
        pthread_mutex_init(&h->mu, NULL);
        pthread_cond_init(&h->cv, NULL);
        e->helper = h;
        /* Without MPI_THREAD_SERIALIZED, no thread but the main one may call MPI. */
        if (lmg_dist_any_thread()) {
            if (pthread_create(&h->thread, NULL, helper_main, h) != 0)
                return lmg_error(LMG_ERR_DEVICE, "opencl: cannot start the collective thread");
            h->started = 1;
        }
    }
    *out = e->helper;
    return LMG_OK;
}

/* ---- the two halves of a round trip ------------------------------------------------ */

lmg_status lmg_cl_host_start(lmg_exec *e, lmg_cl_cmd *c, cl_event *ev)
{
    lmg_cl_helper *h = NULL;
    LMG_TRY(helper_get(e, &h));
    lmg_cl_host *o = &c->host;
    float *at = e->host_buf + o->off;
    cl_event ready = NULL;
    for (int k = 0; k < o->nseg; at += o->count[k], k++)
        LMG_CL_CHECK(clEnqueueReadBuffer(e->queue, e->buf[o->src[k].region], CL_FALSE,
                                         (size_t)o->src[k].off * 4, o->count[k] * 4, at, 0,
                                         NULL, k == o->nseg - 1 ? &ready : NULL));
    /* The queue is in order: the last read's end is every read's. */
    if (ev) {
        *ev = ready;
        clRetainEvent(ready);
    }
    cl_int err = clFlush(e->queue);
    cl_event done = err == CL_SUCCESS ? clCreateUserEvent(e->dev->ctx, &err) : NULL;
    if (err != CL_SUCCESS) {
        clReleaseEvent(ready);
        LMG_CL_CHECK(err);
    }
    /* Two references: the job's (released by whoever sets it) and the write-back's. */
    clRetainEvent(done);
    o->done = done;
    job j = {ready, done, o->fn, e->host_buf + o->off, o->total, o->arg};
    if (!h->started) {
        /* One thread only: the round trip happens here, the queue waits for the reads. */
        lmg_status s = LMG_OK;
        err = clWaitForEvents(1, &ready);
        if (err != CL_SUCCESS) s = lmg_error(LMG_ERR_DEVICE, "opencl: reading a bucket's "
                                             "gradients failed (%s)", lmg_cl_error_name(err));
        if (s == LMG_OK) s = j.fn(j.data, j.count, j.arg);
        clSetUserEventStatus(done, s == LMG_OK ? CL_COMPLETE : -1);
        clReleaseEvent(done);
        clReleaseEvent(ready);
        return s;
    }
    pthread_mutex_lock(&h->mu);
    h->ring[h->tail++ % h->cap] = j;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    return LMG_OK;
}

lmg_status lmg_cl_host_finish(lmg_exec *e, lmg_cl_cmd *c, cl_event *ev)
{
    lmg_cl_host *o = &e->cmds[c->host.start].host;
    if (!o->done) return LMG_OK; /* its start failed: the run stops before this */
    float *at = e->host_buf + o->off;
    lmg_status s = LMG_OK;
    for (int k = 0; k < o->nseg && s == LMG_OK; at += o->count[k], k++) {
        int last = k == o->nseg - 1;
        cl_int err = clEnqueueWriteBuffer(e->queue, e->buf[o->dst[k].region], CL_FALSE,
                                          (size_t)o->dst[k].off * 4, o->count[k] * 4, at,
                                          k == 0 ? 1 : 0, k == 0 ? &o->done : NULL,
                                          last ? ev : NULL);
        if (err != CL_SUCCESS) {
            lmg_cl_fail(err, "clEnqueueWriteBuffer", __FILE__, __LINE__);
            s = lmg_error_prefix(err, "opencl: writing back '%s'", c->kname);
        }
    }
    clReleaseEvent(o->done);
    o->done = NULL;
    return s;
}

lmg_status lmg_cl_host_drain(lmg_exec *e, int report)
{
    lmg_cl_helper *h = e->helper;
    for (int i = 0; i < e->n_cmds; i++)
        if (e->cmds[i].kind == LMG_CL_CMD_HOST && e->cmds[i].host.done) {
            clReleaseEvent(e->cmds[i].host.done);
            e->cmds[i].host.done = NULL;
        }
    if (!h) return LMG_OK;
    pthread_mutex_lock(&h->mu);
    while (h->head != h->tail) pthread_cond_wait(&h->cv, &h->mu);
    lmg_status s = h->status;
    h->status = LMG_OK;
    pthread_mutex_unlock(&h->mu);
    if (s != LMG_OK && report) return lmg_error(s, "%s", h->msg);
    return report ? LMG_OK : s;
}

void lmg_cl_host_free(lmg_exec *e)
{
    lmg_cl_helper *h = e->helper;
    if (!h) return;
    if (h->started) {
        pthread_mutex_lock(&h->mu);
        h->quit = 1;
        pthread_cond_broadcast(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->thread, NULL);
    }
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h->ring);
    free(h);
    e->helper = NULL;
}

/* ---- the recorder ------------------------------------------------------------------ */

/* The run of AllReduce nodes with the same `mean` starting at the current node (a bucket of
 * the training step), as one round trip: one MPI call per segment, one host copy;
 * e->consumed says how many nodes it took. */
static lmg_status all_reduce_run(lmg_exec *e, const lmg_node *first)
{
    const lmg_graph *g = e->g;
    int i = e->cur_node, mean = (int)lmg_node_attr_int(first, "mean", 1), len = 0;
    while (i + len < g->n_nodes && g->nodes[i + len].op == LMG_OP_ALL_REDUCE &&
           lmg_node_attr_int(&g->nodes[i + len], "mean", 1) == mean)
        len++;
    lmg_cl_loc *src = malloc((size_t)len * sizeof *src), *dst = malloc((size_t)len * sizeof *dst);
    size_t *count = malloc((size_t)len * sizeof *count);
    lmg_status s = src && dst && count ? LMG_OK : lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (int k = 0; k < len && s == LMG_OK; k++) {
        const lmg_node *n = &g->nodes[i + k];
        src[k] = lmg_cl_at(e, n->in[0]);
        dst[k] = lmg_cl_at(e, n->out[0]);
        count[k] = (size_t)lmg_cl_numel(e, n->in[0]);
    }
    int cmd = -1;
    if (s == LMG_OK)
        s = lmg_cl_record_host(e, "allreduce (MPI)", lmg_dist_allreduce_f32, len, src, dst, count,
                               mean, &cmd);
    free(src), free(dst), free(count);
    for (int k = 0; k < len && s == LMG_OK && cmd >= 0; k++) e->pending[g->nodes[i + k].out[0]] = cmd;
    if (s == LMG_OK) e->consumed = len;
    return s;
}

lmg_status lmg_cl_op_ALL_REDUCE(lmg_exec *e, const lmg_node *n)
{
    if (lmg_dist_size() > 1) return all_reduce_run(e, n);
    lmg_cl_loc src = lmg_cl_at(e, n->in[0]), dst = lmg_cl_at(e, n->out[0]);
    int64_t N = lmg_cl_numel(e, n->in[0]);
    if (src.region == dst.region && src.off == dst.off) return LMG_OK;
    return lmg_cl_kernel(e, "copy_flat", (size_t)N, 0, "bbi", dst, src, (int)N);
}
