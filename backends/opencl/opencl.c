/* opencl.c — the OpenCL backend: lays a graph's values out in one buffer per region, records
 * every node as kernel launches and CLBlast calls once, and replays them each step. */
#include "opencl_internal.h"
#include "../../graph/plan.h"

#include <clblast_c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the op table ------------------------------------------------------------------ */

typedef lmg_status (*op_fn)(lmg_exec *, const lmg_node *);
static const op_fn op_table[] = {
#define LMG_OP(E, N, mi, ma, no, gr) [LMG_OP_##E] = lmg_cl_op_##E,
#include "../../ops/ops.def"
#undef LMG_OP
};
_Static_assert(sizeof op_table / sizeof *op_table == LMG_OP_COUNT, "opencl op table out of step");

int lmg_opencl_has_kernel(lmg_op op)
{
    return (unsigned)op < LMG_OP_COUNT && op_table[op] != NULL;
}

static const char *region_names[LMG_CL_NREGIONS] = {"arena",  "params",  "grads", "state",
                                                    "consts", "inputs",  "scratch", "aux"};

/* Canary mode: every value sits between guard words whose pattern (a NaN) is checked after
 * each run, and every value a node computes starts as that NaN, so a kernel that writes out
 * of bounds or forgets elements is caught. */
#define CANARY_PAD 64
#define CANARY_BITS 0x7FA5A5A5u

/* ---- recorder helpers -------------------------------------------------------------- */

lmg_cl_loc lmg_cl_at(const lmg_exec *e, int value)
{
    return e->loc[value];
}

lmg_cl_loc lmg_cl_scratch(lmg_exec *e, size_t elems)
{
    lmg_cl_loc l = {LMG_CL_SCRATCH, e->scratch_used};
    e->scratch_used += (elems + 15) & ~(size_t)15;
    if (e->scratch_used > e->scratch_max) e->scratch_max = e->scratch_used;
    return l;
}

lmg_cl_loc lmg_cl_aux(lmg_exec *e, const uint32_t *data, size_t elems)
{
    lmg_cl_loc l = {LMG_CL_AUX, e->n_aux};
    size_t used = (elems + 15) & ~(size_t)15; /* 64-byte aligned tables */
    if (e->n_aux + used > e->cap_aux) {
        size_t cap = 2 * (e->n_aux + used) + 64;
        uint32_t *a = realloc(e->aux, cap * 4);
        if (!a) return (lmg_cl_loc){-1, 0};
        e->aux = a;
        e->cap_aux = cap;
    }
    memcpy(e->aux + e->n_aux, data, elems * 4);
    memset(e->aux + e->n_aux + elems, 0, (used - elems) * 4);
    e->n_aux += used;
    return l;
}

size_t lmg_cl_row_group(lmg_exec *e, const char *name, int64_t n)
{
    /* A CPU runs a work-group as loops over its items, split at every barrier: small groups
     * with longer per-item loops keep the local trees short there (measured on PoCL). */
    size_t cap = e->dev->is_cpu ? 32 : 256;
    size_t limit = lmg_cl_group_limit(e, name);
    if (limit < cap) cap = limit;
    size_t l = 1;
    while (l < cap && (int64_t)l < n) l <<= 1;
    while (l > cap) l >>= 1;
    return l ? l : 1;
}

void lmg_cl_strides(const lmg_shape *s, int64_t *st)
{
    int64_t acc = 1;
    for (int i = s->rank - 1; i >= 0; i--) {
        st[i] = acc;
        acc *= s->dims[i];
    }
}

void lmg_cl_bcast_strides(const lmg_shape *in, const lmg_shape *out, int64_t *st)
{
    int64_t own[LMG_MAX_DIMS];
    lmg_cl_strides(in, own);
    int shift = out->rank - in->rank;
    for (int i = 0; i < out->rank; i++) {
        int j = i - shift;
        st[i] = j < 0 || in->dims[j] == 1 ? 0 : own[j];
    }
}

void lmg_cl_desc_make(lmg_cl_desc *d, const lmg_shape *dims, int nops,
                      int64_t st[][LMG_MAX_DIMS])
{
    int64_t nd[LMG_MAX_DIMS], ns[3][LMG_MAX_DIMS];
    int r = 0;
    memset(d, 0, sizeof *d);
    for (int i = 0; i < dims->rank; i++) {
        if (dims->dims[i] == 1) continue;
        int merge = r > 0;
        for (int k = 0; k < nops && merge; k++)
            if (ns[k][r - 1] != st[k][i] * dims->dims[i]) merge = 0;
        if (merge) {
            nd[r - 1] *= dims->dims[i];
            for (int k = 0; k < nops; k++) ns[k][r - 1] = st[k][i];
            continue;
        }
        nd[r] = dims->dims[i];
        for (int k = 0; k < nops; k++) ns[k][r] = st[k][i];
        r++;
    }
    int flat = r <= 1;
    for (int k = 0; k < nops && r == 1; k++)
        if (ns[k][0] != 1) flat = 0;
    if (flat && r == 0) {
        /* A single element: every operand at offset 0 unless it is walked like the output. */
        d->rank = 1;
        d->dims[0] = 1;
        return;
    }
    if (flat) return; /* rank 0: offset i in every operand */
    d->rank = r;
    for (int i = 0; i < r; i++) {
        d->dims[i] = (cl_int)nd[i];
        for (int k = 0; k < nops; k++) d->st[k][i] = (cl_int)ns[k][i];
    }
}

lmg_status lmg_cl_desc_rows(lmg_exec *e, const lmg_cl_desc *d, int nops, int64_t *inner,
                            int *inner_st, int64_t *rows, lmg_cl_loc *table)
{
    int r = d->rank;
    *inner = d->dims[r - 1];
    for (int k = 0; k < 3; k++) inner_st[k] = d->st[k][r - 1];
    *rows = 1;
    for (int i = 0; i < r - 1; i++) *rows *= d->dims[i];
    uint32_t *t = malloc((size_t)(*rows * nops) * 4 + 4);
    if (!t) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    int64_t coord[LMG_CL_MAXR] = {0};
    for (int64_t row = 0; row < *rows; row++) {
        for (int k = 0; k < nops; k++) {
            int64_t o = 0;
            for (int i = 0; i < r - 1; i++) o += coord[i] * d->st[k][i];
            t[k * *rows + row] = (uint32_t)o;
        }
        for (int i = r - 2; i >= 0; i--) {
            if (++coord[i] < d->dims[i]) break;
            coord[i] = 0;
        }
    }
    *table = lmg_cl_aux(e, t, (size_t)(*rows * nops));
    free(t);
    if (table->region < 0) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    return LMG_OK;
}

static lmg_cl_cmd *new_cmd(lmg_exec *e)
{
    if (e->n_cmds == e->cap_cmds) {
        int cap = e->cap_cmds ? 2 * e->cap_cmds : 256;
        lmg_cl_cmd *c = realloc(e->cmds, (size_t)cap * sizeof *c);
        if (!c) return NULL;
        e->cmds = c;
        e->cap_cmds = cap;
    }
    lmg_cl_cmd *c = &e->cmds[e->n_cmds++];
    memset(c, 0, sizeof *c);
    c->node = e->cur_node;
    c->step_arg = -1;
    return c;
}

static lmg_status record_kernel(lmg_exec *e, const char *name, cl_uint dim, const size_t *gws,
                                size_t lws, const char *fmt, va_list ap)
{
    if (gws[0] == 0 || (dim > 1 && gws[1] == 0)) return LMG_OK;
    if (lws && gws[0] % lws && dim == 1)
        return lmg_error(LMG_ERR_INVALID, "opencl: kernel %s: %zu work-items are not a multiple "
                         "of the group size %zu", name, gws[0], lws);
    lmg_cl_cmd *c = new_cmd(e);
    if (!c) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    c->kind = LMG_CL_CMD_KERNEL;
    snprintf(c->kname, sizeof c->kname, "%s", name);
    c->dim = dim;
    c->gws[0] = gws[0];
    c->gws[1] = dim > 1 ? gws[1] : 1;
    c->lws[0] = lws;
    c->lws[1] = 1;
    size_t na = strlen(fmt);
    c->args = calloc(na ? na : 1, sizeof *c->args);
    if (!c->args) {
        e->n_cmds--;
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < na; i++) {
        lmg_cl_arg *a = &c->args[i];
        a->kind = fmt[i];
        switch (fmt[i]) {
        case 'b': {
            lmg_cl_loc l = va_arg(ap, lmg_cl_loc);
            a->region = l.region;
            a->u = l.off;
            break;
        }
        case 'i': a->i = va_arg(ap, int); break;
        case 'u': a->u = va_arg(ap, unsigned); break;
        case 'l': a->i = va_arg(ap, int64_t); break;
        case 'U': a->u = va_arg(ap, uint64_t); break;
        case 'f': a->f = va_arg(ap, double); break;
        case 'L': a->u = va_arg(ap, size_t); break;
        case 'S': break;
        case 'd': a->desc = *va_arg(ap, const lmg_cl_desc *); break;
        default:
            return lmg_error(LMG_ERR_INVALID, "opencl: kernel %s: bad argument code '%c'", name,
                             fmt[i]);
        }
    }
    c->n_arg = (int)na;
    return LMG_OK;
}

lmg_status lmg_cl_kernel(lmg_exec *e, const char *name, size_t gws, size_t lws, const char *fmt,
                         ...)
{
    va_list ap;
    va_start(ap, fmt);
    lmg_status s = record_kernel(e, name, 1, &gws, lws, fmt, ap);
    va_end(ap);
    return s;
}

lmg_status lmg_cl_kernel2(lmg_exec *e, const char *name, size_t gx, size_t gy, const char *fmt,
                          ...)
{
    /* Groups of about 256 items (up to 64 along the run, the rest over rows): one group per
     * short row would make the per-group cost dominate. The range is rounded up to whole
     * groups; the kernels check both bounds. */
    size_t cap = lmg_cl_group_limit(e, name);
    if (cap > 256) cap = 256;
    size_t lx = 1;
    while (lx < 64 && lx < gx && lx * 2 <= cap) lx <<= 1;
    size_t ly = 1;
    while (lx * ly * 2 <= cap && ly < gy) ly <<= 1;
    size_t gws[2] = {(gx + lx - 1) / lx * lx, (gy + ly - 1) / ly * ly};
    va_list ap;
    va_start(ap, fmt);
    lmg_status s = record_kernel(e, name, 2, gws, lx, fmt, ap);
    va_end(ap);
    if (s == LMG_OK && gx && gy) e->cmds[e->n_cmds - 1].lws[1] = ly;
    return s;
}

lmg_status lmg_cl_record_gemm(lmg_exec *e, const lmg_cl_gemm *gm)
{
    lmg_cl_cmd *c = new_cmd(e);
    if (!c) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    c->kind = LMG_CL_CMD_GEMM;
    c->gemm = *gm;
    c->gemm.temp = 0;
    /* CLBlast would otherwise allocate (and free) its padding buffer on every call; one
     * buffer of the largest size serves the whole step. */
    size_t bytes = 0;
    if (e->gemm_host) return LMG_OK;
    if (gm->batch <= 1 &&
        CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor,
                                   gm->ta ? CLBlastTransposeYes : CLBlastTransposeNo,
                                   gm->tb ? CLBlastTransposeYes : CLBlastTransposeNo, gm->m, gm->n,
                                   gm->k, gm->a.off, gm->lda, gm->b.off, gm->ldb, gm->c.off, gm->ldc,
                                   &e->queue, &bytes) == CLBlastSuccess) {
        c->gemm.temp = bytes;
        if (bytes > e->gemm_temp_bytes) e->gemm_temp_bytes = bytes;
    }
    return LMG_OK;
}

lmg_status lmg_cl_record_native(lmg_exec *e, const char *name, void (*fn)(void *),
                                const void *args, size_t size)
{
    if (!e->gemm_host)
        return lmg_error(LMG_ERR_INVALID, "opencl: a host function recorded without host BLAS");
    void *copy = malloc(size);
    if (!copy) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    memcpy(copy, args, size);
    lmg_cl_cmd *c = new_cmd(e);
    if (!c) {
        free(copy);
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    c->kind = LMG_CL_CMD_NATIVE;
    snprintf(c->kname, sizeof c->kname, "%s", name);
    c->native = fn;
    c->nargs = copy;
    c->nargs_size = size;
    return LMG_OK;
}

lmg_status lmg_cl_record_host(lmg_exec *e, const char *name, lmg_cl_host_fn fn, int nseg,
                              const lmg_cl_loc *src, const lmg_cl_loc *dst, const size_t *count,
                              int arg, int *cmd)
{
    *cmd = -1;
    size_t total = 0;
    for (int k = 0; k < nseg; k++) total += count[k];
    if (total == 0) return LMG_OK;
    /* A span per command: several may be in flight at once. */
    size_t off = 0;
    for (int i = 0; i < e->n_cmds; i++)
        if (e->cmds[i].kind == LMG_CL_CMD_HOST) off += e->cmds[i].host.total;
    if (off + total > e->host_cap) {
        float *b = realloc(e->host_buf, (off + total) * sizeof *b);
        if (!b) return lmg_error(LMG_ERR_NOMEM, "out of memory (%zu floats for %s)", total, name);
        e->host_buf = b;
        e->host_cap = off + total;
    }
    lmg_cl_host h = {fn, nseg, malloc((size_t)nseg * sizeof *src),
                     malloc((size_t)nseg * sizeof *dst), malloc((size_t)nseg * sizeof *count),
                     total, arg, off, -1, NULL};
    lmg_cl_cmd *c = h.src && h.dst && h.count ? new_cmd(e) : NULL;
    if (!c) {
        free(h.src), free(h.dst), free(h.count);
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    memcpy(h.src, src, (size_t)nseg * sizeof *src);
    memcpy(h.dst, dst, (size_t)nseg * sizeof *dst);
    memcpy(h.count, count, (size_t)nseg * sizeof *count);
    c->kind = LMG_CL_CMD_HOST;
    snprintf(c->kname, sizeof c->kname, "%s", name);
    c->host = h;
    *cmd = e->n_cmds - 1;
    return LMG_OK;
}

/* The write-back of HOST command `start`, which every value it writes stops awaiting. */
static lmg_status record_host_wait(lmg_exec *e, int start)
{
    lmg_cl_cmd *c = new_cmd(e);
    if (!c) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    const lmg_cl_cmd *s = &e->cmds[start];
    c->kind = LMG_CL_CMD_HOST_WAIT;
    c->node = s->node;
    snprintf(c->kname, sizeof c->kname, "%.40s wait", s->kname);
    c->host.start = start;
    for (int v = 0; v < e->g->n_values; v++)
        if (e->pending[v] == start) e->pending[v] = -1;
    return LMG_OK;
}

lmg_status lmg_cl_fill(lmg_exec *e, lmg_cl_loc dst, int64_t count, uint32_t bits)
{
    return lmg_cl_kernel(e, "fill_u32", (size_t)count, 0, "bUu", dst, (uint64_t)count, bits);
}

/* ---- layout ------------------------------------------------------------------------ */

static size_t value_elems(const lmg_value *v)
{
    return (size_t)lmg_shape_numel(&v->shape);
}

/* The layout of canary mode, without the planner: every value its own storage between guard
 * words (no reuse, nothing in place, Reshape copies), except AdamW outputs, which are their
 * inputs by the op's definition. */
static lmg_status simple_layout(lmg_exec *e)
{
    const lmg_graph *g = e->g;
    int nv = g->n_values;
    size_t cursor[LMG_CL_NREGIONS] = {0};
    unsigned char *placed = calloc((size_t)nv + 1, 1);
    if (!placed) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    size_t pad = CANARY_PAD;
    for (int r = 0; r < LMG_CL_NREGIONS; r++) cursor[r] = pad;

    for (int v = 0; v < nv; v++) e->alias[v] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_out; k++) {
            int a = lmg_op_alias(n->op, k);
            int src = -1;
            if (a >= 0 && a < n->n_in && n->in[a] >= 0) src = n->in[a];
            if (src < 0) continue;
            e->alias[n->out[k]] = e->alias[src] >= 0 ? e->alias[src] : src;
        }
    }

#define PLACE(v, region)                                                   \
    do {                                                                   \
        int v_ = (v);                                                      \
        if (v_ >= 0 && !placed[v_] && e->alias[v_] < 0) {                  \
            placed[v_] = 1;                                                \
            e->loc[v_].region = (region);                                  \
            e->loc[v_].off = cursor[region];                               \
            cursor[region] += value_elems(&g->values[v_]) + pad;           \
        }                                                                  \
    } while (0)
    for (int v = 0; v < nv; v++) {
        const lmg_value *val = &g->values[v];
        int region = LMG_CL_ARENA;
        if (val->kind == LMG_VALUE_INPUT) region = LMG_CL_INPUTS;
        else if (val->kind == LMG_VALUE_INIT) region = val->trainable ? LMG_CL_PARAMS : LMG_CL_CONSTS;
        PLACE(v, region);
    }
#undef PLACE
    for (int v = 0; v < nv; v++)
        if (e->alias[v] >= 0) e->loc[v] = e->loc[e->alias[v]];
    for (int r = 0; r < LMG_CL_SCRATCH; r++) e->region_elems[r] = cursor[r];
    free(placed);
    return LMG_OK;
}

/* The layout of the memory planner: intermediates share the arena by liveness, elementwise
 * ops may run in place, parameters, gradients and moments mirror each other's offsets. */
static lmg_status plan_layout(lmg_exec *e, int keep_all)
{
    const lmg_graph *g = e->g;
    lmg_plan_opts o = {64, keep_all};
    lmg_plan *p = NULL;
    LMG_TRY(lmg_plan_build(g, &o, &p));
    e->plan = p;
    _Static_assert((int)LMG_REGION_COUNT == (int)LMG_CL_SCRATCH, "regions out of step");
    for (int v = 0; v < g->n_values; v++) {
        if (p->offset[v] % 4)
            return lmg_error(LMG_ERR_INVALID, "opencl: the memory plan puts '%s' at byte %zu, "
                             "not a multiple of 4", g->values[v].name, p->offset[v]);
        e->loc[v].region = (int)p->region[v];
        e->loc[v].off = p->offset[v] / 4;
        e->alias[v] = p->alias[v];
    }
    for (int r = 0; r < LMG_REGION_COUNT; r++) e->region_elems[r] = (p->region_bytes[r] + 3) / 4;
    return LMG_OK;
}

/* ---- buffers ----------------------------------------------------------------------- */

/* Host BLAS: one buffer holding every region at 4 KiB-aligned starts (sub-buffer origins
 * must be aligned to CL_DEVICE_MEM_BASE_ADDR_ALIGN). When it would exceed the device's
 * largest allocation, the products go to CLBlast instead. */
static lmg_status alloc_whole(lmg_exec *e)
{
    cl_uint align_bits = 0;
    clGetDeviceInfo(e->dev->id, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL);
    size_t align = 4096;
    while (align < align_bits / 8) align *= 2;
    size_t at = 0;
    for (int r = 0; r < LMG_CL_NREGIONS; r++) {
        e->region_base[r] = at / 4;
        size_t bytes = (e->region_elems[r] ? e->region_elems[r] : 16) * 4;
        at += (bytes + align - 1) / align * align;
    }
    if (at > e->dev->max_alloc) {
        for (int i = 0; i < e->n_cmds; i++)
            if (e->cmds[i].kind == LMG_CL_CMD_NATIVE)
                return lmg_error(LMG_ERR_DEVICE, "opencl: the step (%.1f MiB) does not fit the "
                                 "one buffer of at most %.1f MiB that host attention needs on "
                                 "%s; set LMG_CL_ATTENTION=kernels", at / 1048576.0,
                                 e->dev->max_alloc / 1048576.0, e->dev->name);
        e->gemm_host = 0;
        return LMG_OK;
    }
    cl_int err = CL_SUCCESS;
    e->whole = clCreateBuffer(e->dev->ctx, CL_MEM_READ_WRITE, at, NULL, &err);
    if (err == CL_SUCCESS) return LMG_OK;
    lmg_cl_fail(err, "clCreateBuffer", __FILE__, __LINE__);
    return lmg_error_prefix(err, "opencl: allocating the step's %.1f MiB on %s", at / 1048576.0,
                            e->dev->name);
}

static lmg_status alloc_region(lmg_exec *e, int r, size_t elems)
{
    size_t bytes = (elems ? elems : 16) * 4;
    lmg_cl_dev *d = e->dev;
    if (bytes > d->max_alloc)
        return lmg_error(LMG_ERR_DEVICE,
                         "opencl: out of device memory: the %s region needs %.1f MiB in one "
                         "buffer, but %s allows at most %.1f MiB per allocation "
                         "(CL_DEVICE_MAX_MEM_ALLOC_SIZE; global memory %.1f MiB)",
                         region_names[r], bytes / 1048576.0, d->name, d->max_alloc / 1048576.0,
                         d->global_mem / 1048576.0);
    cl_int err = CL_SUCCESS;
    if (e->whole) {
        cl_buffer_region reg = {e->region_base[r] * 4, bytes};
        e->buf[r] = clCreateSubBuffer(e->whole, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION,
                                      &reg, &err);
    } else {
        e->buf[r] = clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    }
    if (err == CL_SUCCESS) {
        /* Touch the buffer now so a lazy allocation fails here, with this message. */
        cl_uint pattern = e->canary ? CANARY_BITS : 0;
        err = clEnqueueFillBuffer(e->queue, e->buf[r], &pattern, sizeof pattern, 0, bytes, 0,
                                  NULL, NULL);
        if (err == CL_SUCCESS) err = clFinish(e->queue);
    }
    if (err == CL_SUCCESS) return LMG_OK;
    lmg_cl_fail(err, "clCreateBuffer", __FILE__, __LINE__);
    if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES ||
        err == CL_INVALID_BUFFER_SIZE || err == CL_OUT_OF_HOST_MEMORY)
        return lmg_error_prefix(err, "opencl: out of device memory allocating the %s region "
                                     "(%.1f MiB) on %s, which has %.1f MiB global memory and "
                                     "allows %.1f MiB per allocation",
                                region_names[r], bytes / 1048576.0, d->name,
                                d->global_mem / 1048576.0, d->max_alloc / 1048576.0);
    return err <= -1 && err >= -999 ? err : LMG_ERR_DEVICE;
}

static lmg_status set_args(lmg_exec *e, lmg_cl_cmd *c)
{
    cl_int err = CL_SUCCESS;
    c->k = clCreateKernel(e->dev->prog, c->kname, &err);
    if (err != CL_SUCCESS) {
        lmg_cl_fail(err, "clCreateKernel", __FILE__, __LINE__);
        return lmg_error_prefix(err <= -1 && err >= -999 ? err : LMG_ERR_DEVICE, "kernel %s",
                                c->kname);
    }
    cl_uint ai = 0;
    for (int i = 0; i < c->n_arg; i++) {
        lmg_cl_arg *a = &c->args[i];
        switch (a->kind) {
        case 'b': {
            cl_ulong off = a->u;
            LMG_CL_CHECK(clSetKernelArg(c->k, ai++, sizeof(cl_mem), &e->buf[a->region]));
            LMG_CL_CHECK(clSetKernelArg(c->k, ai++, sizeof off, &off));
            break;
        }
        case 'i': {
            cl_int v = (cl_int)a->i;
            LMG_CL_CHECK(clSetKernelArg(c->k, ai++, sizeof v, &v));
            break;
        }
        case 'u': {
            cl_uint v = (cl_uint)a->u;
            LMG_CL_CHECK(clSetKernelArg(c->k, ai++, sizeof v, &v));
            break;
        }
        case 'l': {
            cl_long v = (cl_long)a->i;
            LMG_CL_CHECK(clSetKernelArg(c->k, ai++, sizeof v, &v));
            break;
        }
        case 'U':
        case 'S': {
            cl_ulong v = a->u;
            if (a->kind == 'S') c->step_arg = (int)ai;
            LMG_CL_CHECK(clSetKernelArg(c->k, ai++, sizeof v, &v));
            break;
        }
        case 'f': {
            cl_float v = (cl_float)a->f;
            LMG_CL_CHECK(clSetKernelArg(c->k, ai++, sizeof v, &v));
            break;
        }
        case 'L': LMG_CL_CHECK(clSetKernelArg(c->k, ai++, (size_t)a->u, NULL)); break;
        case 'd': LMG_CL_CHECK(clSetKernelArg(c->k, ai++, sizeof a->desc, &a->desc)); break;
        }
    }
    free(c->args);
    c->args = NULL;
    return LMG_OK;
}

/* ---- the backend ------------------------------------------------------------------- */

static void cl_free(lmg_exec *e)
{
    if (!e) return;
    if (e->queue) clFinish(e->queue);
    for (int i = 0; i < e->n_cmds; i++) {
        if (e->cmds[i].k) clReleaseKernel(e->cmds[i].k);
        free(e->cmds[i].args);
        free(e->cmds[i].nargs);
        free(e->cmds[i].host.src);
        free(e->cmds[i].host.dst);
        free(e->cmds[i].host.count);
    }
    lmg_cl_host_free(e);
    free(e->cmds);
    lmg_cl_prof_free(e);
    for (int r = 0; r < LMG_CL_NREGIONS; r++)
        if (e->buf[r]) clReleaseMemObject(e->buf[r]);
    if (e->whole) clReleaseMemObject(e->whole);
    if (e->gemm_temp) clReleaseMemObject(e->gemm_temp);
    if (e->queue) clReleaseCommandQueue(e->queue);
    free(e->loc);
    free(e->alias);
    free(e->is_output);
    free(e->aux);
    free(e->host_buf);
    free(e->pending);
    lmg_plan_free(e->plan);
    free(e);
}

static lmg_status node_error(const lmg_graph *g, int node, lmg_status s)
{
    if (node < 0) return s;
    return lmg_error_prefix(s, "node '%s' (%s)", g->nodes[node].name,
                            lmg_op_name(g->nodes[node].op));
}

/* Each node's recorder in turn; one may take the run of nodes that follows its own
 * (e->consumed). A node that reads what a host round trip computes gets its write-back
 * recorded just before it, so the round trip overlaps every command in between. */
static lmg_status record(lmg_exec *e)
{
    const lmg_graph *g = e->g;
    e->pending = malloc(((size_t)g->n_values + 1) * sizeof *e->pending);
    if (!e->pending) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (int v = 0; v < g->n_values; v++) e->pending[v] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        e->cur_node = i;
        e->scratch_used = 0;
        if (!lmg_opencl_has_kernel(n->op))
            return lmg_error(LMG_ERR_UNSUPPORTED, "opencl: no kernel for op %s (node '%s')",
                             lmg_op_name(n->op), n->name);
        for (int k = 0; k < n->n_out; k++) {
            const lmg_value *v = &g->values[n->out[k]];
            if (v->dtype != LMG_DTYPE_F32 && v->dtype != LMG_DTYPE_I32)
                return lmg_error(LMG_ERR_UNSUPPORTED, "opencl: node '%s' (%s): value '%s' is %s; "
                                 "the OpenCL kernels take f32 and i32", n->name,
                                 lmg_op_name(n->op), v->name, lmg_dtype_name(v->dtype));
        }
        /* The write-backs of host round trips this node reads come first. */
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && e->pending[n->in[k]] >= 0)
                LMG_TRY(record_host_wait(e, e->pending[n->in[k]]));
        e->consumed = 1;
        lmg_status s = op_table[n->op](e, n);
        if (s != LMG_OK) return node_error(g, i, s);
        i += e->consumed - 1;
    }
    /* ...and those of results no node reads (graph outputs) end the run. */
    for (int i = 0; i < e->n_cmds; i++)
        if (e->cmds[i].kind == LMG_CL_CMD_HOST) {
            int open = 0;
            for (int v = 0; v < g->n_values && !open; v++) open = e->pending[v] == i;
            if (open) LMG_TRY(record_host_wait(e, i));
        }
    e->cur_node = -1;
    return LMG_OK;
}

static lmg_status upload(lmg_exec *e, int v, const void *data, size_t bytes)
{
    LMG_CL_CHECK(clEnqueueWriteBuffer(e->queue, e->buf[e->loc[v].region], CL_TRUE,
                                      (size_t)e->loc[v].off * 4, bytes, data, 0, NULL, NULL));
    return LMG_OK;
}

static lmg_status cl_init_inner(lmg_exec *e, const lmg_exec_opts *opts)
{
    const lmg_graph *g = e->g;
    LMG_TRY(lmg_cl_dev_open(opts ? opts->device : NULL, &e->dev));
    e->gemm_host = e->dev->gemm_host;
    const char *att = getenv("LMG_CL_ATTENTION");
    e->attention_host = e->gemm_host && !(att && strcmp(att, "kernels") == 0);
    e->ops_host = e->gemm_host && e->dev->ops_host;
    cl_int err = CL_SUCCESS;
    int prof = lmg_opencl_profile_enabled();
    e->queue = clCreateCommandQueue(e->dev->ctx, e->dev->id,
                                    prof ? CL_QUEUE_PROFILING_ENABLE : 0, &err);
    LMG_CL_CHECK(err);
    for (int v = 0; v < g->n_values; v++) {
        const lmg_value *val = &g->values[v];
        if (val->dtype != LMG_DTYPE_F32 && val->dtype != LMG_DTYPE_I32)
            return lmg_error(LMG_ERR_UNSUPPORTED, "opencl: value '%s' is %s; the OpenCL backend "
                             "runs f32 and i32", val->name, lmg_dtype_name(val->dtype));
        if (lmg_shape_numel(&val->shape) >= ((int64_t)1 << 31))
            return lmg_error(LMG_ERR_UNSUPPORTED, "opencl: value '%s' has %lld elements; the "
                             "kernels index tensors below 2^31", val->name,
                             (long long)lmg_shape_numel(&val->shape));
    }
    if (e->canary) LMG_TRY(simple_layout(e));
    else LMG_TRY(plan_layout(e, opts ? opts->keep_all : 0));
    LMG_TRY(record(e));
    if (prof) LMG_TRY(lmg_cl_prof_init(e));
    e->region_elems[LMG_CL_SCRATCH] = e->scratch_max;
    e->region_elems[LMG_CL_AUX] = e->n_aux;

    double total = (double)e->gemm_temp_bytes;
    for (int r = 0; r < LMG_CL_NREGIONS; r++) total += (double)e->region_elems[r] * 4;
    if (total > (double)e->dev->global_mem) {
        char parts[512];
        size_t used = 0;
        for (int r = 0; r < LMG_CL_NREGIONS; r++)
            used += (size_t)snprintf(parts + used, sizeof parts - used, "%s%s %.1f", r ? ", " : "",
                                     region_names[r], e->region_elems[r] * 4 / 1048576.0);
        return lmg_error(LMG_ERR_DEVICE, "opencl: out of device memory: the step needs %.1f MiB "
                         "(%s MiB) but %s has %.1f MiB global memory", total / 1048576.0, parts,
                         e->dev->name, e->dev->global_mem / 1048576.0);
    }
    if (e->gemm_host) LMG_TRY(alloc_whole(e));
    for (int r = 0; r < LMG_CL_NREGIONS; r++) LMG_TRY(alloc_region(e, r, e->region_elems[r]));
    if (e->gemm_temp_bytes) {
        err = CL_SUCCESS;
        e->gemm_temp = clCreateBuffer(e->dev->ctx, CL_MEM_READ_WRITE, e->gemm_temp_bytes, NULL, &err);
        if (err != CL_SUCCESS) {
            lmg_cl_fail(err, "clCreateBuffer", __FILE__, __LINE__);
            return lmg_error_prefix(err, "opencl: allocating %.1f MiB of matrix-product scratch",
                                    e->gemm_temp_bytes / 1048576.0);
        }
    }
    for (int i = 0; i < e->n_cmds; i++)
        if (e->cmds[i].kind == LMG_CL_CMD_KERNEL) {
            lmg_status s = set_args(e, &e->cmds[i]);
            if (s != LMG_OK) return node_error(g, e->cmds[i].node, s);
        }
    if (e->n_aux)
        LMG_CL_CHECK(clEnqueueWriteBuffer(e->queue, e->buf[LMG_CL_AUX], CL_TRUE, 0, e->n_aux * 4,
                                          e->aux, 0, NULL, NULL));
    /* Initializers get their data; inputs start as zeros (as in the reference backend). */
    void *zeros = NULL;
    size_t zbytes = 0;
    lmg_status s = LMG_OK;
    for (int v = 0; v < g->n_values && s == LMG_OK; v++) {
        const lmg_value *val = &g->values[v];
        if (e->alias[v] >= 0 || val->kind == LMG_VALUE_NODE) continue;
        size_t bytes = value_elems(val) * 4;
        if (!bytes) continue;
        if (val->kind == LMG_VALUE_INIT && val->fill == LMG_INIT_DATA && val->data) {
            s = upload(e, v, val->data, bytes);
        } else if (e->canary) {
            if (bytes > zbytes) {
                free(zeros);
                zeros = calloc(bytes, 1);
                zbytes = zeros ? bytes : 0;
                if (!zeros) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
            }
            if (s == LMG_OK) s = upload(e, v, zeros, bytes);
        }
    }
    free(zeros);
    return s;
}

static lmg_status cl_init(const lmg_graph *g, const lmg_exec_opts *opts, lmg_exec **out)
{
    *out = NULL;
    lmg_exec *e = calloc(1, sizeof *e);
    if (!e) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    e->g = g;
    e->cur_node = -1;
    const char *canary = getenv("LMG_CL_CANARY");
    e->canary = canary && *canary && strcmp(canary, "0") != 0;
    e->keep_all = opts ? opts->keep_all : 0;
    e->loc = calloc((size_t)g->n_values + 1, sizeof *e->loc);
    e->alias = calloc((size_t)g->n_values + 1, sizeof *e->alias);
    e->is_output = calloc((size_t)g->n_values + 1, 1);
    if (!e->loc || !e->alias || !e->is_output) {
        cl_free(e);
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] >= 0 && g->outputs[k] < g->n_values) e->is_output[g->outputs[k]] = 1;
    lmg_status s = cl_init_inner(e, opts);
    if (s != LMG_OK) {
        cl_free(e);
        return s;
    }
    *out = e;
    return LMG_OK;
}

static lmg_status check_io(lmg_exec *e, int value, size_t nbytes)
{
    if (value < 0 || value >= e->g->n_values)
        return lmg_error(LMG_ERR_ARG, "opencl: no value %d", value);
    const lmg_value *v = &e->g->values[value];
    size_t n = value_elems(v) * lmg_dtype_size(v->dtype);
    if (n != nbytes)
        return lmg_error(LMG_ERR_ARG, "opencl: value '%s' has %zu bytes, caller passed %zu",
                         v->name, n, nbytes);
    return LMG_OK;
}

static lmg_status cl_write(lmg_exec *e, int value, const void *data, size_t nbytes)
{
    LMG_TRY(check_io(e, value, nbytes));
    if (e->g->values[value].kind == LMG_VALUE_NODE)
        return lmg_error(LMG_ERR_ARG, "opencl: '%s' is computed by a node, it cannot be written",
                         e->g->values[value].name);
    if (!nbytes) return LMG_OK;
    return upload(e, value, data, nbytes);
}

static lmg_status cl_read(lmg_exec *e, int value, void *data, size_t nbytes)
{
    LMG_TRY(check_io(e, value, nbytes));
    /* An intermediate's storage is reused once it is dead, unless the plan keeps it. */
    const lmg_graph *g = e->g;
    int root = e->alias[value] >= 0 ? e->alias[value] : value;
    if (!e->keep_all && !e->canary && g->values[value].kind == LMG_VALUE_NODE &&
        !e->is_output[value] && g->values[root].kind == LMG_VALUE_NODE)
        return lmg_error(LMG_ERR_ARG, "opencl: '%s' is an intermediate value whose memory is "
                         "reused during the run; make it a graph output or prepare the graph "
                         "with keep_all to read it", g->values[value].name);
    if (!nbytes) return LMG_OK;
    LMG_CL_CHECK(clEnqueueReadBuffer(e->queue, e->buf[e->loc[value].region], CL_TRUE,
                                     (size_t)e->loc[value].off * 4, nbytes, data, 0, NULL, NULL));
    return LMG_OK;
}

static lmg_status run_gemm(lmg_exec *e, const lmg_cl_gemm *gm, cl_event *ev)
{
    if (e->gemm_host) {
        lmg_cl_gemm w = *gm;
        w.a.off += e->region_base[gm->a.region];
        w.b.off += e->region_base[gm->b.region];
        w.c.off += e->region_base[gm->c.region];
        if (gm->has_bias) w.bias.off += e->region_base[gm->bias.region];
        return lmg_cl_hostgemm_enqueue(e->queue, e->whole, &w, ev);
    }
    if (gm->has_bias)
        return lmg_error(LMG_ERR_INVALID, "opencl: a bias folded into a CLBlast product");
    CLBlastTranspose ta = gm->ta ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = gm->tb ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode st;
    if (gm->batch > 1)
        st = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, gm->m, gm->n, gm->k,
                                        gm->alpha, e->buf[gm->a.region], gm->a.off, gm->lda, gm->sa,
                                        e->buf[gm->b.region], gm->b.off, gm->ldb, gm->sb, gm->beta,
                                        e->buf[gm->c.region], gm->c.off, gm->ldc, gm->sc,
                                        gm->batch, &e->queue, ev);
    else if (gm->temp && e->gemm_temp)
        st = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, ta, tb, gm->m, gm->n, gm->k,
                                        gm->alpha, e->buf[gm->a.region], gm->a.off, gm->lda,
                                        e->buf[gm->b.region], gm->b.off, gm->ldb, gm->beta,
                                        e->buf[gm->c.region], gm->c.off, gm->ldc, &e->queue, ev,
                                        e->gemm_temp);
    else
        st = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, gm->m, gm->n, gm->k, gm->alpha,
                          e->buf[gm->a.region], gm->a.off, gm->lda, e->buf[gm->b.region],
                          gm->b.off, gm->ldb, gm->beta, e->buf[gm->c.region], gm->c.off, gm->ldc,
                          &e->queue, ev);
    if (st == CLBlastSuccess) return LMG_OK;
    const char *what = gm->batch > 1 ? "CLBlastSgemmStridedBatched" : "CLBlastSgemm";
    if (st <= -1 && st >= -999)
        return lmg_error(st, "%s(...) failed (m %zu, n %zu, k %zu, batch %zu): %s", what, gm->m,
                         gm->n, gm->k, gm->batch, lmg_cl_error_name(st));
    return lmg_error(LMG_ERR_DEVICE, "%s(...) failed (m %zu, n %zu, k %zu, batch %zu): CLBlast "
                     "status %d", what, gm->m, gm->n, gm->k, gm->batch, (int)st);
}

static lmg_status check_canaries(lmg_exec *e)
{
    const lmg_graph *g = e->g;
    lmg_status s = LMG_OK;
    for (int r = 0; r < LMG_CL_SCRATCH && s == LMG_OK; r++) {
        size_t n = e->region_elems[r];
        if (!n) continue;
        uint32_t *h = malloc(n * 4);
        if (!h) return lmg_error(LMG_ERR_NOMEM, "out of memory");
        cl_int err = clEnqueueReadBuffer(e->queue, e->buf[r], CL_TRUE, 0, n * 4, h, 0, NULL, NULL);
        if (err != CL_SUCCESS) {
            free(h);
            LMG_CL_CHECK(err);
        }
        /* Every guard span: before the first value and after each value. */
        for (int v = 0; v < g->n_values && s == LMG_OK; v++) {
            if (e->alias[v] >= 0 || e->loc[v].region != r) continue;
            size_t lo = (size_t)e->loc[v].off, hi = lo + value_elems(&g->values[v]);
            for (size_t i = lo - CANARY_PAD; i < lo && s == LMG_OK; i++)
                if (h[i] != CANARY_BITS)
                    s = lmg_error(LMG_ERR_DEVICE, "opencl: the guard words before '%s' (%s region) "
                                  "were overwritten (word %zu before it)", g->values[v].name,
                                  region_names[r], lo - i);
            for (size_t i = hi; i < hi + CANARY_PAD && s == LMG_OK; i++)
                if (h[i] != CANARY_BITS)
                    s = lmg_error(LMG_ERR_DEVICE, "opencl: the guard words after '%s' (%s region) "
                                  "were overwritten (word %zu after it)", g->values[v].name,
                                  region_names[r], i - hi);
        }
        free(h);
    }
    return s;
}

/* Enqueue one recorded command; nothing waits for it. */
static lmg_status enqueue(lmg_exec *e, lmg_cl_cmd *c, uint64_t step, cl_event *ev)
{
    if (c->kind == LMG_CL_CMD_GEMM) return run_gemm(e, &c->gemm, ev);
    if (c->kind == LMG_CL_CMD_HOST) return lmg_cl_host_start(e, c, ev);
    if (c->kind == LMG_CL_CMD_HOST_WAIT) return lmg_cl_host_finish(e, c, ev);
    if (c->kind == LMG_CL_CMD_NATIVE) {
        lmg_cl_native_hdr *h = c->nargs;
        h->mem = e->whole;
        for (int r = 0; r < LMG_CL_NREGIONS; r++) h->base[r] = e->region_base[r];
        const void *loc = &h->mem;
        LMG_CL_CHECK(clEnqueueNativeKernel(e->queue, c->native, c->nargs, c->nargs_size, 1,
                                           &e->whole, &loc, 0, NULL, ev));
        return LMG_OK;
    }
    if (c->step_arg >= 0) {
        cl_ulong st = step;
        LMG_CL_CHECK(clSetKernelArg(c->k, (cl_uint)c->step_arg, sizeof st, &st));
    }
    LMG_CL_CHECK(clEnqueueNDRangeKernel(e->queue, c->k, c->dim, NULL, c->gws,
                                        c->lws[0] ? c->lws : NULL, 0, NULL, ev));
    return LMG_OK;
}

/* Every node's work goes into the queue, then one wait for all of it. */
static lmg_status cl_run(lmg_exec *e, uint64_t step)
{
    for (int i = 0; i < e->n_cmds; i++) {
        if (e->prof_ev && e->cmds[i].kind == LMG_CL_CMD_GEMM && !e->gemm_host)
            LMG_CL_CHECK(clEnqueueMarkerWithWaitList(e->queue, 0, NULL, &e->prof_pre[i]));
        lmg_status s = enqueue(e, &e->cmds[i], step, e->prof_ev ? &e->prof_ev[i] : NULL);
        if (s != LMG_OK) {
            clFinish(e->queue);
            lmg_cl_host_drain(e, 0);
            return node_error(e->g, e->cmds[i].node, s);
        }
    }
    cl_int fin = clFinish(e->queue);
    LMG_TRY(lmg_cl_host_drain(e, 1));
    LMG_CL_CHECK(fin);
    if (e->prof_ev) LMG_TRY(lmg_cl_prof_collect(e));
    if (e->canary) LMG_TRY(check_canaries(e));
    return LMG_OK;
}

const char *lmg_opencl_gemm_route(const lmg_exec *e)
{
    if (!e || !e->dev) return "";
    if (e->dev->gemm_host && !e->gemm_host)
        return "CLBlast (the step does not fit one buffer, which host BLAS needs)";
    return e->dev->gemm_route;
}

const lmg_backend lmg_backend_opencl = {"opencl", cl_init, cl_write, cl_run, cl_read, cl_free};
