/* onnx_export.c — writes an lmgraph graph as an ONNX model of standard ops (opset 17): one
 * emitter per op in a table indexed by op, symbolic batch/seq axes, external data, metadata. */
#include "onnx.h"
#include "onnx_ir.h"
#include "../ops/philox.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- symbolic dims ------------------------------------------------------------------ */
/* A dim is c times the product of symbols s[0..n) (batch, seq), kept in the order they were
 * multiplied so a Reshape that splits batch*seq again can tell which comes first, plus off
 * (0 for a static dim): a Slice that drops the first k of a symbolic axis gives seq - k, and
 * a Concat that adds them back gives seq again (a classifier's last-token pooling). */
#define SYM_MAX 2
static const char *const sym_names[SYM_MAX] = {"batch", "seq"};

typedef struct dimx {
    int64_t c;
    int n;
    unsigned char s[6];
    int64_t off;
} dimx;

typedef struct ox {
    oir ir;
    const lmg_graph *g;
    const lmg_onnx_export_opts *o;
    /* symbols */
    int active[SYM_MAX];
    int64_t symval[SYM_MAX];
    int sym_src[SYM_MAX], sym_axis[SYM_MAX]; /* an input value and axis that hold it */
    dimx *vd;                                /* n_values * LMG_MAX_DIMS */
    int conflict[SYM_MAX];
    char why[512];
    /* emission */
    const char **vname; /* the ONNX name of each value */
    int *uses;          /* consumers + graph-output marks per value */
    const lmg_node *cur;
    int node_start;     /* first ONNX node of the current lmg node */
    int counter;
    char *cache_key[64];
    const char *cache_val[64];
    int n_cache;
    const char **consts; /* names of the constants made so far */
    int n_consts, cap_consts;
} ox;

static dimx dx_static(int64_t v)
{
    dimx d = {v, 0, {0}, 0};
    return d;
}

static dimx dx_sym(int s)
{
    dimx d = {1, 1, {(unsigned char)s}, 0};
    return d;
}

static int64_t dx_val(const ox *x, dimx d)
{
    int64_t v = d.c;
    for (int i = 0; i < d.n; i++) v *= x->symval[d.s[i]];
    return v + d.off;
}

static int dx_eq(dimx a, dimx b)
{
    if (a.c != b.c || a.n != b.n || a.off != b.off) return 0;
    for (int i = 0; i < a.n; i++)
        if (a.s[i] != b.s[i]) return 0;
    return 1;
}

static dimx *VD(ox *x, int v) { return &x->vd[(size_t)v * LMG_MAX_DIMS]; }

/* Give up the symbols of dims a and b, saying why (the propagation then starts over). */
static lmg_status sym_conflict(ox *x, dimx a, dimx b, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static lmg_status sym_conflict(ox *x, dimx a, dimx b, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int any = 0;
    for (int i = 0; i < a.n; i++) any |= !x->conflict[a.s[i]], x->conflict[a.s[i]] = 1;
    for (int i = 0; i < b.n; i++) any |= !x->conflict[b.s[i]], x->conflict[b.s[i]] = 1;
    if (!any) return LMG_ERR_INVALID;
    size_t len = strlen(x->why);
    char names[32] = "";
    for (int s = 0; s < SYM_MAX; s++)
        if (x->conflict[s] && x->active[s])
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                     names[0] ? "," : "", sym_names[s]);
    snprintf(x->why + len, sizeof x->why - len, "%s%s static: node '%s' (%s) %s",
             len ? "; " : "", names, x->cur ? x->cur->name : "?",
             x->cur ? lmg_op_name(x->cur->op) : "?", msg);
    return LMG_ERR_INVALID;
}

/* One broadcast dim of two operands; an initializer's static dim meets a symbolic one by
 * being sliced to it at run time (learned positions sized by the built sequence length). */
static lmg_status unify(ox *x, dimx a, int a_init, dimx b, int b_init, dimx *r)
{
    if (dx_eq(a, b)) return *r = a, LMG_OK;
    if (a.n == 0 && a.c == 1) return *r = b, LMG_OK;
    if (b.n == 0 && b.c == 1) return *r = a, LMG_OK;
    if (a.n == 0 && b.n > 0 && a_init && dx_val(x, b) == a.c) return *r = b, LMG_OK;
    if (b.n == 0 && a.n > 0 && b_init && dx_val(x, a) == b.c) return *r = a, LMG_OK;
    return sym_conflict(x, a, b, "combines dims of different symbolic sizes");
}

static int is_init(const lmg_graph *g, int v)
{
    return v >= 0 && g->values[v].kind == LMG_VALUE_INIT;
}

/* numpy broadcast of inputs [k0, k1) into `out` dims. */
static lmg_status bcast_dims(ox *x, const lmg_node *n, int k0, int k1, dimx *out, int rank)
{
    for (int i = 0; i < rank; i++) out[i] = dx_static(1);
    int out_init = 1;
    for (int k = k0; k < k1; k++) {
        int v = n->in[k];
        if (v < 0) continue;
        const lmg_value *val = &x->g->values[v];
        int vi = is_init(x->g, v);
        for (int i = 0; i < val->shape.rank; i++) {
            int oi = rank - val->shape.rank + i;
            LMG_TRY(unify(x, out[oi], out_init, VD(x, v)[i], vi, &out[oi]));
        }
        out_init = out_init && vi;
    }
    return LMG_OK;
}

/* Split or merge the dims of a Reshape: groups of input and output dims with equal
 * products; a symbolic group's output dims take its symbols in order. */
static lmg_status reshape_dims(ox *x, const lmg_node *n, const dimx *in, int ri,
                               const lmg_shape *os, dimx *out)
{
    int64_t iv[LMG_MAX_DIMS];
    for (int i = 0; i < ri; i++) {
        iv[i] = dx_val(x, in[i]);
        if (in[i].n > 0 && in[i].off != 0)
            return sym_conflict(x, in[i], dx_static(1), "reshapes %s, whose axis %d is a symbol "
                                "%+lld", x->g->values[n->in[0]].name, i, (long long)in[i].off);
    }
    int i = 0, j = 0;
    for (int k = 0; k < os->rank; k++) out[k] = dx_static(os->dims[k]);
    while (i < ri || j < os->rank) {
        int i0 = i, j0 = j;
        int64_t pi = 1, pj = 1;
        if (i < ri) pi = iv[i++];
        if (j < os->rank) pj = os->dims[j++];
        while (pi != pj) {
            if (pi == 0 || pj == 0) return LMG_OK; /* empty: static */
            if (pi < pj && i < ri) pi *= iv[i++];
            else if (pj < pi && j < os->rank) pj *= os->dims[j++];
            else return LMG_OK; /* cannot happen for a verified Reshape */
        }
        int64_t C = 1;
        unsigned char syms[16];
        int ns = 0;
        for (int k = i0; k < i; k++) {
            C *= in[k].c;
            for (int q = 0; q < in[k].n && ns < 16; q++) syms[ns++] = in[k].s[q];
        }
        if (ns == 0) continue;
        if (j - j0 == 1) {
            out[j0].c = C;
            out[j0].n = ns > 6 ? 6 : ns;
            memcpy(out[j0].s, syms, (size_t)out[j0].n);
            continue;
        }
        int q = 0;
        for (int k = j0; k < j; k++) {
            int64_t e = os->dims[k], prod = 1;
            dimx d = {1, 0, {0}, 0};
            while (q < ns && e % (prod * x->symval[syms[q]]) == 0 && d.n < 6) {
                prod *= x->symval[syms[q]];
                d.s[d.n++] = syms[q++];
            }
            int64_t rem = e / prod;
            if (C % rem != 0) break;
            C /= rem;
            d.c = rem;
            out[k] = d;
        }
        if (q != ns || C != 1) {
            dimx a = {1, 0, {0}, 0};
            for (int t = 0; t < ns && t < 6; t++) a.s[a.n++] = syms[t];
            return sym_conflict(x, a, dx_static(1), "reshapes %s in a way that does not keep "
                                "whole symbolic dims", x->g->values[n->in[0]].name);
        }
    }
    return LMG_OK;
}

/* How a Slice of a symbolic axis of built size D exports, read from its attributes as
 * written: a start >= 0 with an end at D or counted from the end (< 0) keeps the axis
 * symbolic, *off added to it (the tail from 1: seq-1; [0, -1): seq-1); a start and end >= 0
 * within D, or both counted from the end, is a static range; a start from the end with an end
 * >= 0 depends on D and fixes the axis. *st, *en: the ONNX Slice's (INT64_MAX: to the end). */
enum { SLICE_SYM, SLICE_STATIC, SLICE_PART };

static int slice_kind(const lmg_node *n, int64_t D, int64_t *st, int64_t *en, int64_t *off)
{
    int64_t rs = lmg_node_attr_int(n, "start", 0), re = lmg_node_attr_int(n, "end", D);
    int to_end = re >= D;
    *st = rs, *en = to_end ? INT64_MAX : re, *off = 0;
    if (rs >= 0 && (to_end || re < 0)) return *off = (to_end ? 0 : re) - rs, SLICE_SYM;
    if ((rs >= 0 && re >= 0) || (rs < 0 && (re < 0 || to_end))) return SLICE_STATIC;
    return SLICE_PART;
}

/* An initializer whose elements are all equal (f32): zeros, or data of one value. */
static int uniform_init(const lmg_graph *g, int v)
{
    if (!is_init(g, v) || g->values[v].dtype != LMG_DTYPE_F32) return 0;
    const lmg_value *val = &g->values[v];
    if (val->fill == LMG_INIT_ZEROS) return 1;
    if (val->fill != LMG_INIT_DATA || !val->data) return 0;
    const float *f = val->data;
    int64_t N = lmg_shape_numel(&val->shape);
    for (int64_t i = 1; i < N; i++)
        if (memcmp(&f[i], &f[0], sizeof *f) != 0) return 0;
    return N > 0;
}

/* The symbolic dims of every value, node by node, following each op's shape rule. */
static lmg_status propagate(ox *x)
{
    const lmg_graph *g = x->g;
    for (int v = 0; v < g->n_values; v++) {
        const lmg_value *val = &g->values[v];
        for (int i = 0; i < val->shape.rank; i++) VD(x, v)[i] = dx_static(val->shape.dims[i]);
    }
    for (int s = 0; s < SYM_MAX; s++) {
        if (!x->active[s]) continue;
        for (int k = 0; k < g->n_inputs; k++) {
            int v = g->inputs[k];
            const lmg_value *val = &g->values[v];
            /* Inputs are [batch, seq, ...]: ids, targets, draws, user activations. */
            if (s < val->shape.rank && val->shape.dims[s] == x->symval[s])
                VD(x, v)[s] = dx_sym(s);
        }
    }
    for (int ni = 0; ni < g->n_nodes; ni++) {
        const lmg_node *n = &g->nodes[ni];
        x->cur = n;
        const lmg_value *y = &g->values[n->out[0]];
        dimx *o = VD(x, n->out[0]);
        const dimx *a = n->n_in > 0 && n->in[0] >= 0 ? VD(x, n->in[0]) : NULL;
        int ra = n->n_in > 0 && n->in[0] >= 0 ? g->values[n->in[0]].shape.rank : 0;
        switch (n->op) {
        case LMG_OP_ADD: case LMG_OP_SUB: case LMG_OP_MUL: case LMG_OP_DIV:
        case LMG_OP_MAXIMUM: case LMG_OP_WHERE: case LMG_OP_RELU_GRAD: case LMG_OP_GELU_GRAD:
        case LMG_OP_SOFTMAX_GRAD: case LMG_OP_LOG_SOFTMAX_GRAD:
            LMG_TRY(bcast_dims(x, n, 0, n->n_in, o, y->shape.rank));
            break;
        case LMG_OP_MATMUL: {
            const dimx *b = VD(x, n->in[1]);
            int rb = g->values[n->in[1]].shape.rank, ry = y->shape.rank;
            int ta = lmg_node_attr_int(n, "trans_a", 0) != 0;
            int tb = lmg_node_attr_int(n, "trans_b", 0) != 0;
            for (int i = 0; i < ry - 2; i++) o[i] = dx_static(1);
            int ia = ra - 2, ib = rb - 2;
            for (int i = 0; i < ry - 2; i++) {
                int pa = i - (ry - 2 - ia), pb = i - (ry - 2 - ib);
                dimx r = dx_static(1);
                if (pa >= 0) r = a[pa];
                if (pb >= 0) LMG_TRY(unify(x, r, 0, b[pb], 0, &r));
                o[i] = r;
            }
            dimx ka = ta ? a[ra - 2] : a[ra - 1], kb = tb ? b[rb - 1] : b[rb - 2];
            if (!dx_eq(ka, kb)) LMG_TRY(sym_conflict(x, ka, kb, "multiplies over a symbolic dim"));
            o[ry - 2] = ta ? a[ra - 1] : a[ra - 2];
            o[ry - 1] = tb ? b[rb - 2] : b[rb - 1];
            break;
        }
        case LMG_OP_RESHAPE:
            LMG_TRY(reshape_dims(x, n, a, ra, &y->shape, o));
            break;
        case LMG_OP_TRANSPOSE: {
            const lmg_attr *p = lmg_node_attr(n, "perm");
            for (int i = 0; i < y->shape.rank; i++) o[i] = a[p->ints[i]];
            break;
        }
        case LMG_OP_SLICE: {
            int ax = lmg_axis(lmg_node_attr_int(n, "axis", 0), ra);
            for (int i = 0; i < ra; i++) o[i] = a[i];
            if (a[ax].n == 0) o[ax] = dx_static(y->shape.dims[ax]);
            int64_t st, en, off;
            int kind = a[ax].n > 0
                           ? slice_kind(n, g->values[n->in[0]].shape.dims[ax], &st, &en, &off)
                           : SLICE_STATIC;
            if (kind == SLICE_SYM) o[ax].off += off;
            else if (kind == SLICE_STATIC) o[ax] = dx_static(y->shape.dims[ax]);
            else
                LMG_TRY(sym_conflict(x, a[ax], dx_static(1), "slices part of a symbolic axis"));
            break;
        }
        case LMG_OP_SLICE_GRAD: {
            int ax = lmg_axis(lmg_node_attr_int(n, "axis", 0), ra);
            for (int i = 0; i < ra; i++) o[i] = a[i];
            if (a[ax].n > 0) LMG_TRY(sym_conflict(x, a[ax], dx_static(1), "pads a symbolic axis"));
            o[ax] = dx_static(y->shape.dims[ax]);
            break;
        }
        case LMG_OP_CONCAT: {
            /* A constant of one repeated value (a zero column) takes the symbolic dims of
             * the others: it is made at run time by ConstantOfShape (see e_concat). */
            int ax = lmg_axis(lmg_node_attr_int(n, "axis", 0), y->shape.rank), ref = 0;
            for (int k = 0; k < n->n_in; k++)
                if (!uniform_init(g, n->in[k])) {
                    ref = k;
                    break;
                }
            for (int i = 0; i < y->shape.rank; i++) o[i] = VD(x, n->in[ref])[i];
            for (int k = 0; k < n->n_in; k++) {
                const dimx *b = VD(x, n->in[k]);
                int fill = uniform_init(g, n->in[k]);
                for (int i = 0; i < y->shape.rank; i++) {
                    if (i == ax || dx_eq(o[i], b[i])) continue;
                    if (fill && b[i].n == 0 && dx_val(x, o[i]) == b[i].c) continue;
                    LMG_TRY(sym_conflict(x, o[i], b[i], "concatenates unequal dims"));
                }
            }
            /* Along the axis: one symbolic part plus static ones (seq - 1, then 1 more). */
            dimx sum = dx_static(0);
            int nsym = 0;
            int64_t statics = 0;
            for (int k = 0; k < n->n_in; k++) {
                dimx b = VD(x, n->in[k])[ax];
                if (b.n > 0) sum = b, nsym++;
                else statics += b.c;
            }
            sum.off += statics;
            if (nsym > 1)
                for (int k = 0; k < n->n_in; k++)
                    if (VD(x, n->in[k])[ax].n > 0)
                        LMG_TRY(sym_conflict(x, VD(x, n->in[k])[ax], dx_static(1),
                                             "concatenates two symbolic parts along an axis"));
            o[ax] = nsym ? sum : dx_static(y->shape.dims[ax]);
            break;
        }
        case LMG_OP_EXPAND:
            /* A dim the input already has keeps its symbol; a broadcast one stays static. */
            for (int i = 0; i < y->shape.rank; i++) {
                int ii = i - (y->shape.rank - ra);
                o[i] = ii >= 0 && dx_val(x, a[ii]) == y->shape.dims[i] ? a[ii]
                                                                    : dx_static(y->shape.dims[i]);
            }
            break;
        case LMG_OP_REDUCE_SUM: case LMG_OP_REDUCE_MEAN: {
            const lmg_attr *ax = lmg_node_attr(n, "axes");
            int keep = lmg_node_attr_int(n, "keepdims", 0) != 0, red[LMG_MAX_DIMS] = {0}, k = 0;
            for (int i = 0; i < ra; i++) red[i] = !ax || ax->n == 0;
            for (int i = 0; ax && i < ax->n; i++) red[lmg_axis(ax->ints[i], ra)] = 1;
            for (int i = 0; i < ra; i++) {
                if (red[i] && !keep) continue;
                o[k++] = red[i] ? dx_static(1) : a[i];
            }
            break;
        }
        case LMG_OP_ARGMAX:
            for (int i = 0; i < ra - 1; i++) o[i] = a[i];
            break;
        case LMG_OP_LAYER_NORM:
            for (int i = 0; i < ra; i++) o[i] = a[i];
            for (int i = 0; i < ra - 1; i++) VD(x, n->out[1])[i] = VD(x, n->out[2])[i] = a[i];
            break;
        case LMG_OP_LAYER_NORM_GRAD:
            for (int i = 0; i < ra; i++) o[i] = VD(x, n->in[1])[i];
            break;
        case LMG_OP_EMBEDDING: {
            const dimx *ids = VD(x, n->in[1]);
            int r = g->values[n->in[1]].shape.rank;
            for (int i = 0; i < r; i++) o[i] = ids[i];
            o[r] = a[1];
            break;
        }
        case LMG_OP_EMBEDDING_GRAD: case LMG_OP_CROSS_ENTROPY:
            break; /* static */
        case LMG_OP_CROSS_ENTROPY_GRAD:
            for (int i = 0; i < y->shape.rank; i++) o[i] = VD(x, n->in[1])[i];
            break;
        case LMG_OP_CAUSAL_MASK:
            for (int i = 0; i < ra; i++) o[i] = a[i];
            if (!dx_eq(a[ra - 1], a[ra - 2]) && (a[ra - 1].n || a[ra - 2].n))
                LMG_TRY(sym_conflict(x, a[ra - 1], a[ra - 2], "masks a non-square symbolic block"));
            break;
        case LMG_OP_ATTENTION:
            for (int i = 0; i < 4; i++) o[i] = a[i];
            for (int i = 0; i < 3; i++) VD(x, n->out[1])[i] = a[i];
            if (!dx_eq(a[2], VD(x, n->in[1])[2]) && (a[2].n || VD(x, n->in[1])[2].n))
                LMG_TRY(sym_conflict(x, a[2], VD(x, n->in[1])[2],
                                     "attends between different symbolic lengths"));
            break;
        case LMG_OP_ATTENTION_GRAD:
            for (int k = 0; k < 3; k++)
                for (int i = 0; i < 4; i++) VD(x, n->out[k])[i] = VD(x, n->in[1 + k])[i];
            break;
        case LMG_OP_MLM_CORRUPT:
            for (int i = 0; i < ra; i++) o[i] = VD(x, n->out[1])[i] = a[i];
            break;
        case LMG_OP_TAKE_ALONG: /* the shape of the indices */
            for (int i = 0; i < y->shape.rank; i++) o[i] = VD(x, n->in[1])[i];
            break;
        case LMG_OP_ADAMW:
            for (int k = 0; k < 3; k++)
                for (int i = 0; i < ra; i++) VD(x, n->out[k])[i] = VD(x, n->in[k ? k + 1 : 0])[i];
            break;
        default: /* the same shape as input 0 */
            for (int i = 0; i < y->shape.rank && i < ra; i++) o[i] = a[i];
            break;
        }
    }
    x->cur = NULL;
    return LMG_OK;
}

/* Pick the symbols (from model metadata or the first input's dims) and propagate them,
 * dropping any symbol a node cannot keep and starting over. */
static lmg_status setup_symbols(ox *x)
{
    const lmg_graph *g = x->g;
    for (int s = 0; s < SYM_MAX; s++) x->active[s] = 0, x->sym_src[s] = -1;
    if (!x->o->symbolic) return propagate(x);
    const char *mb = lmg_graph_get_meta(g, "model.batch"), *ms = lmg_graph_get_meta(g, "model.seq");
    const char *mm = lmg_graph_get_meta(g, "model.micro_batches");
    if (mb && ms) {
        x->symval[0] = strtoll(mb, NULL, 10) * (mm ? strtoll(mm, NULL, 10) : 1);
        x->symval[1] = strtoll(ms, NULL, 10);
        if (mm && strtoll(mm, NULL, 10) > 1) x->symval[0] = -1; /* [M*B,T]: batch stays */
    } else {
        x->symval[0] = x->symval[1] = -1;
        for (int k = 0; k < g->n_inputs; k++) {
            const lmg_value *val = &g->values[g->inputs[k]];
            if (val->shape.rank >= 2) {
                x->symval[0] = val->shape.dims[0];
                x->symval[1] = val->shape.dims[1];
                break;
            }
        }
    }
    for (int s = 0; s < SYM_MAX; s++) {
        if (x->symval[s] < 2) continue; /* a size of 1 could not be told from broadcasting */
        for (int k = 0; k < g->n_inputs && x->sym_src[s] < 0; k++) {
            const lmg_value *val = &g->values[g->inputs[k]];
            if (s < val->shape.rank && val->shape.dims[s] == x->symval[s]) {
                x->sym_src[s] = g->inputs[k];
                x->sym_axis[s] = s;
            }
        }
        x->active[s] = x->sym_src[s] >= 0;
        if (!x->active[s] && x->symval[s] >= 2) {
            size_t len = strlen(x->why);
            snprintf(x->why + len, sizeof x->why - len, "%s%s static: no input has it", len ? "; " : "",
                     sym_names[s]);
        }
    }
    for (int round = 0; round <= SYM_MAX; round++) {
        for (int s = 0; s < SYM_MAX; s++) x->conflict[s] = 0;
        lmg_error_clear();
        lmg_status st = propagate(x);
        if (st == LMG_OK) return LMG_OK;
        int dropped = 0;
        for (int s = 0; s < SYM_MAX; s++)
            if (x->conflict[s] && x->active[s]) x->active[s] = 0, dropped = 1;
        if (!dropped) return lmg_error(LMG_ERR_INVALID, "symbolic axes: %s", x->why);
    }
    return lmg_error(LMG_ERR_INVALID, "symbolic axes: %s", x->why);
}

/* ---- emission helpers --------------------------------------------------------------- */

static int oir_type(lmg_dtype t) { return t == LMG_DTYPE_I32 ? OIR_I32 : OIR_F32; }

static const char *fresh(ox *x, const char *what)
{
    return oir_strf(&x->ir, "%s/%s%d", x->cur ? x->cur->name : "g", what, ++x->counter);
}

/* Append one node; inputs are a NULL-terminated list. Returns its first output. */
static const char *nd(ox *x, const char *op, int n_attr, const oattr *attrs, ...)
{
    const char *in[16];
    int n_in = 0;
    va_list ap;
    va_start(ap, attrs);
    for (const char *s; (s = va_arg(ap, const char *)) && n_in < 16;) in[n_in++] = s;
    va_end(ap);
    const char *out = fresh(x, op);
    onode *n = oir_node(&x->ir, op, x->cur ? x->cur->name : NULL, n_in, in, 1, &out);
    if (!n) return NULL;
    for (int i = 0; i < n_attr; i++) oir_attr(&x->ir, n, &attrs[i]);
    return n->out[0];
}
#define OP(x, op, ...) nd(x, op, 0, NULL, __VA_ARGS__, (const char *)NULL)
#define OPA(x, op, attrs, ...) \
    nd(x, op, (int)(sizeof(attrs) / sizeof(oattr)), attrs, __VA_ARGS__, (const char *)NULL)

/* A constant initializer named after its value ("const/f32/0.5"), made once: the names do
 * not depend on how many came before, so exporting an imported export names them alike. A
 * graph value of that name is reused when it holds the same bytes. */
static const char *constant(ox *x, const char *name, int dtype, int rank, const int64_t *dims,
                            const void *data, size_t nbytes)
{
    for (int i = 0; i < x->n_consts; i++)
        if (strcmp(x->consts[i], name) == 0) return x->consts[i];
    int v = lmg_graph_find(x->g, name);
    if (v >= 0) {
        const lmg_value *val = &x->g->values[v];
        size_t nb = (size_t)lmg_shape_numel(&val->shape) * lmg_dtype_size(val->dtype);
        if (val->kind == LMG_VALUE_INIT && val->fill == LMG_INIT_DATA && nb == nbytes &&
            oir_type(val->dtype) == dtype && val->shape.rank == rank && memcmp(val->data, data, nb) == 0)
            return x->vname[v];
        name = oir_strf(&x->ir, "%s#%d", name, ++x->counter);
    }
    if (x->n_consts == x->cap_consts) {
        int nc = x->cap_consts ? 2 * x->cap_consts : 64;
        const char **na = realloc(x->consts, (size_t)nc * sizeof *na);
        if (!na) {
            x->ir.oom = 1;
            return "";
        }
        x->consts = na;
        x->cap_consts = nc;
    }
    oir_init(&x->ir, name, dtype, rank, dims, data, nbytes, 1);
    return x->consts[x->n_consts++] = name;
}

static const char *cf(ox *x, float v)
{
    return constant(x, oir_strf(&x->ir, "const/f32/%.9g", (double)v), OIR_F32, 0, NULL, &v, sizeof v);
}

static const char *cd(ox *x, double v)
{
    return constant(x, oir_strf(&x->ir, "const/f64/%.17g", v), OIR_F64, 0, NULL, &v, sizeof v);
}

static const char *ci32(ox *x, int32_t v)
{
    return constant(x, oir_strf(&x->ir, "const/i32/%d", (int)v), OIR_I32, 0, NULL, &v, sizeof v);
}

static const char *ci64s(ox *x, int n, const int64_t *v)
{
    char name[400];
    int o = snprintf(name, sizeof name, "const/i64/");
    for (int i = 0; i < n && o < (int)sizeof name - 24; i++)
        o += snprintf(name + o, sizeof name - (size_t)o, "%s%lld", i ? "," : "", (long long)v[i]);
    int64_t d = n;
    return constant(x, oir_strf(&x->ir, "%s", name), OIR_I64, 1, &d, v, (size_t)n * sizeof *v);
}

static const char *ci64(ox *x, int64_t v) { return ci64s(x, 1, &v); }

/* An int64[1] tensor holding dim d at run time (a constant when static). */
static const char *dim_tensor(ox *x, dimx d)
{
    if (d.n == 0) return ci64(x, d.c);
    char key[80];
    int o = snprintf(key, sizeof key, "d%lld%+lld", (long long)d.c, (long long)d.off);
    for (int i = 0; i < d.n; i++) o += snprintf(key + o, sizeof key - (size_t)o, "*%d", d.s[i]);
    for (int i = 0; i < x->n_cache; i++)
        if (strcmp(x->cache_key[i], key) == 0) return x->cache_val[i];
    const lmg_node *cur = x->cur;
    x->cur = NULL;
    const char *r = NULL;
    for (int i = 0; i < d.n; i++) {
        int s = d.s[i];
        oattr a[2] = {OA_I("start", x->sym_axis[s]), OA_I("end", x->sym_axis[s] + 1)};
        const char *t = OPA(x, "Shape", a, x->vname[x->sym_src[s]]);
        r = r ? OP(x, "Mul", r, t) : t;
    }
    if (d.c != 1) r = OP(x, "Mul", r, ci64(x, d.c));
    if (d.off != 0) r = OP(x, "Add", r, ci64(x, d.off));
    x->cur = cur;
    if (x->n_cache < 64) {
        x->cache_key[x->n_cache] = (char *)oir_strf(&x->ir, "%s", key);
        x->cache_val[x->n_cache++] = r;
    }
    return r;
}

/* A shape tensor for dims d[0..r): a constant with -1 for the one symbolic dim when there is
 * at most one (allow_minus1), else a Concat of per-dim tensors; keep[i] puts 1 (Expand). */
static const char *shape_tensor(ox *x, const dimx *d, int r, int allow_minus1, const int *keep)
{
    int nsym = 0;
    int64_t c[LMG_MAX_DIMS];
    for (int i = 0; i < r; i++) {
        int k = keep && keep[i];
        if (d[i].n > 0 && !k) nsym++;
        c[i] = k ? 1 : d[i].n ? -1 : d[i].c;
    }
    if (nsym == 0 || (nsym == 1 && allow_minus1)) return ci64s(x, r, c);
    const char *parts[LMG_MAX_DIMS];
    for (int i = 0; i < r; i++) parts[i] = c[i] == -1 ? dim_tensor(x, d[i]) : ci64(x, c[i]);
    const char *out = fresh(x, "Concat");
    onode *n = oir_node(&x->ir, "Concat", x->cur ? x->cur->name : NULL, r, parts, 1, &out);
    oattr a = OA_I("axis", 0);
    oir_attr(&x->ir, n, &a);
    return n->out[0];
}

/* Name value v (an lmg value) gets the result r: renames r's producer when it is a node of
 * the current lmg node, else an Identity. */
static void bind(ox *x, const char *r, int v)
{
    const char *name = x->vname[v];
    for (int i = x->ir.n_nodes - 1; i >= x->node_start; i--) {
        onode *n = &x->ir.nodes[i];
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] == r || strcmp(n->out[k], r) == 0) {
                n->out[k] = name;
                for (int j = i + 1; j < x->ir.n_nodes; j++)
                    for (int q = 0; q < x->ir.nodes[j].n_in; q++)
                        if (strcmp(x->ir.nodes[j].in[q], r) == 0) x->ir.nodes[j].in[q] = name;
                return;
            }
    }
    const char *out = name;
    oir_node(&x->ir, "Identity", x->cur->name, 1, &r, 1, &out);
}

static const char *IN(ox *x, int k)
{
    int v = x->cur->in[k];
    return v >= 0 ? x->vname[v] : "";
}

static const lmg_value *VAL(ox *x, int k) { return &x->g->values[x->cur->in[k]]; }
static const lmg_value *OUTV(ox *x, int k) { return &x->g->values[x->cur->out[k]]; }

/* Input k, sliced where it is a static initializer dim that meets a symbolic output dim. */
static const char *operand(ox *x, int k)
{
    int v = x->cur->in[k];
    const char *r = x->vname[v];
    const lmg_value *val = &x->g->values[v];
    int ry = OUTV(x, 0)->shape.rank;
    const dimx *od = VD(x, x->cur->out[0]);
    for (int i = 0; i < val->shape.rank; i++) {
        dimx d = VD(x, v)[i], want = od[ry - val->shape.rank + i];
        if (d.n == 0 && want.n > 0 && d.c != 1) {
            r = OP(x, "Slice", r, ci64(x, 0), dim_tensor(x, want), ci64(x, i));
        }
    }
    return r;
}

static int used(ox *x, int k) { return x->uses[x->cur->out[k]] > 0; }

/* perm swapping the last two axes of a rank-r tensor */
static const char *swap_last2(ox *x, const char *t, int r)
{
    int64_t p[LMG_MAX_DIMS];
    for (int i = 0; i < r; i++) p[i] = i;
    p[r - 2] = r - 1, p[r - 1] = r - 2;
    oattr a[1] = {OA_INTS(&x->ir, "perm", r, p)};
    return OPA(x, "Transpose", a, t);
}

static const char *reduce_last(ox *x, const char *op, const char *t, int keep)
{
    if (strcmp(op, "ReduceSum") == 0) {
        oattr a[1] = {OA_I("keepdims", keep)};
        return OPA(x, op, a, t, ci64(x, -1));
    }
    int64_t ax = -1;
    oattr a[2] = {OA_INTS(&x->ir, "axes", 1, &ax), OA_I("keepdims", keep)};
    return OPA(x, op, a, t);
}

static const char *unsq_last(ox *x, const char *t) { return OP(x, "Unsqueeze", t, ci64(x, -1)); }

static const char *to_bool(ox *x, const char *t)
{
    oattr a[1] = {OA_I("to", OIR_BOOL)};
    return OPA(x, "Cast", a, t);
}

static const char *cast(ox *x, const char *t, int to)
{
    oattr a[1] = {OA_I("to", to)};
    return OPA(x, "Cast", a, t);
}

static const char *draw_name(ox *x, const char *what)
{
    return oir_strf(&x->ir, "draw/%s/%s", x->cur->name, what);
}

static void draw_input(ox *x, const char *name, int dtype, int v)
{
    const lmg_value *val = &x->g->values[v];
    oval *in = oir_input(&x->ir, name, dtype, val->shape.rank);
    if (!in) return;
    for (int i = 0; i < val->shape.rank; i++) {
        dimx d = VD(x, v)[i];
        in->dims[i] = d.n ? -1 : d.c;
        in->params[i] = d.n == 1 && d.c == 1 && d.off == 0 ? sym_names[d.s[0]] : NULL;
    }
}

/* ---- emitters: one per op family ----------------------------------------------------- */

typedef lmg_status (*emit_fn)(ox *x, const lmg_node *n);

/* The ONNX operator of each op of ops/elementwise.def that has one of the same meaning (its
 * ONNX column); the others have emitters of their own in op_table. */
static const char *const ew_onnx[LMG_OP_COUNT] = {
#define LMG_EW_UNARY(E, ONNX, ...) [LMG_OP_##E] = ONNX,
#define LMG_EW_BINARY LMG_EW_UNARY
#define LMG_EW_BINARY_I32 LMG_EW_UNARY
#include "../ops/elementwise.def"
#undef LMG_EW_UNARY
#undef LMG_EW_BINARY
#undef LMG_EW_BINARY_I32
};

/* One ONNX node of the same name and inputs. */
static lmg_status e_same(ox *x, const lmg_node *n)
{
    const char *op = ew_onnx[n->op];
    const char *y = n->n_in == 2 ? OP(x, op, operand(x, 0), operand(x, 1)) : OP(x, op, IN(x, 0));
    bind(x, y, n->out[0]);
    return LMG_OK;
}

/* AllReduce over one rank: an ONNX model runs in one process, where the collective is the
 * identity (the exported forward or step is one rank's). */
static lmg_status e_all_reduce(ox *x, const lmg_node *n)
{
    bind(x, OP(x, "Identity", IN(x, 0)), n->out[0]);
    return LMG_OK;
}

static lmg_status e_scale(ox *x, const lmg_node *n)
{
    double al = lmg_node_attr_float(n, "alpha", 1.0), be = lmg_node_attr_float(n, "beta", 0.0);
    const char *r = IN(x, 0);
    if (al != 1.0) r = OP(x, "Mul", r, cf(x, (float)al));
    if (be != 0.0) r = OP(x, "Add", r, cf(x, (float)be));
    bind(x, r, n->out[0]);
    return LMG_OK;
}

static lmg_status e_rsqrt(ox *x, const lmg_node *n)
{
    bind(x, OP(x, "Reciprocal", OP(x, "Sqrt", IN(x, 0))), n->out[0]);
    return LMG_OK;
}

#define GELU_C 0.7978845608028654
#define GELU_K 0.044715

/* tanh(sqrt(2/pi) (x + 0.044715 x^3)), x^3 as two products (no Pow: imports back as Mul) */
static const char *gelu_tanh(ox *x, const char *v)
{
    const char *x3 = OP(x, "Mul", OP(x, "Mul", v, v), v);
    const char *in = OP(x, "Add", v, OP(x, "Mul", x3, cf(x, (float)GELU_K)));
    return OP(x, "Tanh", OP(x, "Mul", in, cf(x, (float)GELU_C)));
}

static lmg_status e_gelu(ox *x, const lmg_node *n)
{
    const char *v = IN(x, 0), *t = gelu_tanh(x, v);
    bind(x, OP(x, "Mul", OP(x, "Mul", v, cf(x, 0.5f)), OP(x, "Add", t, cf(x, 1.0f))), n->out[0]);
    return LMG_OK;
}

static lmg_status e_gelu_grad(ox *x, const lmg_node *n)
{
    const char *dy = IN(x, 0), *v = IN(x, 1), *t = gelu_tanh(x, v);
    /* 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3k x^2) */
    const char *a = OP(x, "Mul", OP(x, "Add", t, cf(x, 1.0f)), cf(x, 0.5f));
    const char *omt = OP(x, "Sub", cf(x, 1.0f), OP(x, "Mul", t, t));
    const char *poly = OP(x, "Add", cf(x, 1.0f),
                          OP(x, "Mul", OP(x, "Mul", v, v), cf(x, (float)(3.0 * GELU_K))));
    const char *b = OP(x, "Mul", OP(x, "Mul", OP(x, "Mul", v, cf(x, (float)(0.5 * GELU_C))), omt),
                       poly);
    bind(x, OP(x, "Mul", dy, OP(x, "Add", a, b)), n->out[0]);
    return LMG_OK;
}

static lmg_status e_relu_grad(ox *x, const lmg_node *n)
{
    const char *pos = OP(x, "Greater", IN(x, 1), cf(x, 0.0f));
    bind(x, OP(x, "Where", pos, IN(x, 0), cf(x, 0.0f)), n->out[0]);
    return LMG_OK;
}

static lmg_status e_cast(ox *x, const lmg_node *n)
{
    int to = OUTV(x, 0)->dtype == LMG_DTYPE_I32 ? OIR_I32 : OIR_F32;
    bind(x, VAL(x, 0)->dtype == OUTV(x, 0)->dtype ? IN(x, 0) : cast(x, IN(x, 0), to), n->out[0]);
    return LMG_OK;
}

static lmg_status e_matmul(ox *x, const lmg_node *n)
{
    const char *a = IN(x, 0), *b = IN(x, 1);
    if (lmg_node_attr_int(n, "trans_a", 0)) a = swap_last2(x, a, VAL(x, 0)->shape.rank);
    if (lmg_node_attr_int(n, "trans_b", 0)) b = swap_last2(x, b, VAL(x, 1)->shape.rank);
    bind(x, OP(x, "MatMul", a, b), n->out[0]);
    return LMG_OK;
}

static lmg_status e_reshape(ox *x, const lmg_node *n)
{
    const char *s = shape_tensor(x, VD(x, n->out[0]), OUTV(x, 0)->shape.rank, 1, NULL);
    bind(x, OP(x, "Reshape", IN(x, 0), s), n->out[0]);
    return LMG_OK;
}

static lmg_status e_transpose(ox *x, const lmg_node *n)
{
    const lmg_attr *p = lmg_node_attr(n, "perm");
    oattr a[1] = {OA_INTS(&x->ir, "perm", p->n, p->ints)};
    bind(x, OPA(x, "Transpose", a, IN(x, 0)), n->out[0]);
    return LMG_OK;
}

/* start and end of a Slice/SliceGrad on an axis of `dim` entries, negatives resolved */
static void slice_range(const lmg_node *n, int64_t dim, int64_t *st, int64_t *en)
{
    *st = lmg_node_attr_int(n, "start", 0);
    *en = lmg_node_attr_int(n, "end", dim);
    if (*st < 0) *st += dim;
    if (*en < 0) *en += dim;
}

static lmg_status e_slice(ox *x, const lmg_node *n)
{
    int r = VAL(x, 0)->shape.rank, ax = lmg_axis(lmg_node_attr_int(n, "axis", 0), r);
    int64_t st, en, off, D = VAL(x, 0)->shape.dims[ax];
    slice_range(n, D, &st, &en);
    if (VD(x, n->in[0])[ax].n > 0) slice_kind(n, D, &st, &en, &off); /* as written */
    bind(x, OP(x, "Slice", IN(x, 0), ci64(x, st), ci64(x, en), ci64(x, ax)), n->out[0]);
    return LMG_OK;
}

static lmg_status e_slice_grad(ox *x, const lmg_node *n)
{
    int r = VAL(x, 0)->shape.rank, ax = lmg_axis(lmg_node_attr_int(n, "axis", 0), r);
    int64_t dim = lmg_node_attr_int(n, "dim", 0), st, en, pads[2 * LMG_MAX_DIMS] = {0};
    slice_range(n, dim, &st, &en);
    pads[ax] = st;
    pads[r + ax] = dim - en;
    bind(x, OP(x, "Pad", IN(x, 0), ci64s(x, 2 * r, pads)), n->out[0]);
    return LMG_OK;
}

/* Input k of Concat n is a constant of one value that meets symbolic dims: it is made at
 * their run-time sizes by ConstantOfShape, and the initializer itself is not written. */
static int concat_fill(ox *x, const lmg_node *n, int k)
{
    int ry = x->g->values[n->out[0]].shape.rank;
    int ax = lmg_axis(lmg_node_attr_int(n, "axis", 0), ry), sym = 0;
    const dimx *d = VD(x, n->in[k]), *o = VD(x, n->out[0]);
    for (int i = 0; i < ry; i++) sym |= i != ax && d[i].n == 0 && o[i].n > 0;
    return sym && uniform_init(x->g, n->in[k]);
}

static lmg_status e_concat(ox *x, const lmg_node *n)
{
    const char *in[64];
    int ry = OUTV(x, 0)->shape.rank, ax = lmg_axis(lmg_node_attr_int(n, "axis", 0), ry);
    for (int k = 0; k < n->n_in; k++) {
        in[k] = IN(x, k);
        if (!concat_fill(x, n, k)) continue;
        const dimx *d = VD(x, n->in[k]), *o = VD(x, n->out[0]);
        const lmg_value *val = VAL(x, k);
        float v0 = val->fill == LMG_INIT_DATA ? *(const float *)val->data : 0.0f;
        dimx want[LMG_MAX_DIMS];
        for (int i = 0; i < ry; i++) want[i] = i == ax ? d[i] : o[i];
        oattr va[1] = {OA_TF("value", v0)};
        in[k] = OPA(x, "ConstantOfShape", va, shape_tensor(x, want, ry, 0, NULL));
    }
    const char *out = fresh(x, "Concat");
    onode *o = oir_node(&x->ir, "Concat", n->name, n->n_in, in, 1, &out);
    oattr a = OA_I("axis", lmg_node_attr_int(n, "axis", 0));
    oir_attr(&x->ir, o, &a);
    bind(x, out, n->out[0]);
    return LMG_OK;
}

static lmg_status e_expand(ox *x, const lmg_node *n)
{
    int ry = OUTV(x, 0)->shape.rank, ra = VAL(x, 0)->shape.rank, keep[LMG_MAX_DIMS] = {0};
    const dimx *o = VD(x, n->out[0]), *a = VD(x, n->in[0]);
    for (int i = 0; i < ry; i++) keep[i] = i >= ry - ra && dx_eq(a[i - (ry - ra)], o[i]);
    bind(x, OP(x, "Expand", IN(x, 0), shape_tensor(x, o, ry, 0, keep)), n->out[0]);
    return LMG_OK;
}

static lmg_status e_reduce(ox *x, const lmg_node *n)
{
    const lmg_attr *ax = lmg_node_attr(n, "axes");
    int keep = lmg_node_attr_int(n, "keepdims", 0) != 0;
    /* Summed in double and rounded once, as the reference does: bias gradients sum a whole
     * batch of rows, where float sums drift past 1e-5 at GPT-S's 1024 tokens. */
    const char *r, *v = cast(x, IN(x, 0), OIR_F64);
    if (n->op == LMG_OP_REDUCE_SUM) {
        oattr a[1] = {OA_I("keepdims", keep)};
        r = ax && ax->n ? OPA(x, "ReduceSum", a, v, ci64s(x, ax->n, ax->ints))
                        : OPA(x, "ReduceSum", a, v);
    } else if (ax && ax->n) {
        oattr a[2] = {OA_INTS(&x->ir, "axes", ax->n, ax->ints), OA_I("keepdims", keep)};
        r = OPA(x, "ReduceMean", a, v);
    } else {
        oattr a[1] = {OA_I("keepdims", keep)};
        r = OPA(x, "ReduceMean", a, v);
    }
    bind(x, cast(x, r, OIR_F32), n->out[0]);
    return LMG_OK;
}

static lmg_status e_argmax(ox *x, const lmg_node *n)
{
    oattr a[2] = {OA_I("axis", -1), OA_I("keepdims", 0)};
    bind(x, cast(x, OPA(x, "ArgMax", a, IN(x, 0)), OIR_I32), n->out[0]);
    return LMG_OK;
}

static lmg_status e_where(ox *x, const lmg_node *n)
{
    bind(x, OP(x, "Where", to_bool(x, operand(x, 0)), operand(x, 1), operand(x, 2)), n->out[0]);
    return LMG_OK;
}

static lmg_status e_softmax(ox *x, const lmg_node *n)
{
    oattr a[1] = {OA_I("axis", -1)};
    bind(x, OPA(x, n->op == LMG_OP_SOFTMAX ? "Softmax" : "LogSoftmax", a, IN(x, 0)), n->out[0]);
    return LMG_OK;
}

static lmg_status e_softmax_grad(ox *x, const lmg_node *n)
{
    const char *dy = IN(x, 0), *y = IN(x, 1), *r;
    if (n->op == LMG_OP_SOFTMAX_GRAD)
        r = OP(x, "Mul", y, OP(x, "Sub", dy, reduce_last(x, "ReduceSum", OP(x, "Mul", dy, y), 1)));
    else r = OP(x, "Sub", dy, OP(x, "Mul", OP(x, "Exp", y), reduce_last(x, "ReduceSum", dy, 1)));
    bind(x, r, n->out[0]);
    return LMG_OK;
}

static lmg_status e_layer_norm(ox *x, const lmg_node *n)
{
    const char *in[3] = {IN(x, 0), IN(x, 1), IN(x, 2)};
    const char *out[3] = {fresh(x, "ln"), used(x, 1) ? fresh(x, "mean") : "",
                          used(x, 2) ? fresh(x, "rstd") : ""};
    int n_out = used(x, 2) ? 3 : used(x, 1) ? 2 : 1;
    onode *o = oir_node(&x->ir, "LayerNormalization", n->name, 3, in, n_out, out);
    oattr a[2] = {OA_I("axis", -1), OA_F("epsilon", (float)lmg_node_attr_float(n, "eps", 1e-5))};
    oir_attr(&x->ir, o, &a[0]);
    oir_attr(&x->ir, o, &a[1]);
    bind(x, out[0], n->out[0]);
    /* onnxruntime keeps the normalised axis in Mean and InvStdDev: [..., 1] */
    for (int k = 1; k < 3; k++)
        if (used(x, k)) bind(x, OP(x, "Squeeze", out[k], ci64(x, -1)), n->out[k]);
    return LMG_OK;
}

static lmg_status e_layer_norm_grad(ox *x, const lmg_node *n)
{
    const char *dy = IN(x, 0), *v = IN(x, 1), *gm = IN(x, 2);
    const char *mean = unsq_last(x, IN(x, 3)), *rstd = unsq_last(x, IN(x, 4));
    const char *norm = OP(x, "Mul", OP(x, "Sub", v, mean), rstd);
    const char *dn = OP(x, "Mul", dy, gm);
    const char *dmean = reduce_last(x, "ReduceMean", dn, 1);
    const char *dnn = reduce_last(x, "ReduceMean", OP(x, "Mul", dn, norm), 1);
    const char *dx = OP(x, "Mul", rstd, OP(x, "Sub", OP(x, "Sub", dn, dmean), OP(x, "Mul", norm, dnn)));
    bind(x, dx, n->out[0]);
    int r = VAL(x, 1)->shape.rank;
    int64_t axes[LMG_MAX_DIMS];
    for (int i = 0; i < r - 1; i++) axes[i] = i;
    oattr a[1] = {OA_I("keepdims", 0)};
    if (used(x, 1))
        bind(x, OPA(x, "ReduceSum", a, OP(x, "Mul", dy, norm), ci64s(x, r - 1, axes)), n->out[1]);
    if (used(x, 2)) bind(x, OPA(x, "ReduceSum", a, dy, ci64s(x, r - 1, axes)), n->out[2]);
    return LMG_OK;
}

static lmg_status e_embedding(ox *x, const lmg_node *n)
{
    oattr a[1] = {OA_I("axis", 0)};
    bind(x, OPA(x, "Gather", a, IN(x, 0), IN(x, 1)), n->out[0]);
    return LMG_OK;
}

static lmg_status e_embedding_grad(ox *x, const lmg_node *n)
{
    const lmg_shape *s = &OUTV(x, 0)->shape;
    oattr va[1] = {OA_TF("value", 0.0f)};
    const char *zeros = OPA(x, "ConstantOfShape", va, ci64s(x, s->rank, s->dims));
    const char *idx = unsq_last(x, cast(x, IN(x, 1), OIR_I64));
    oattr a[1] = {OA_S("reduction", "add")};
    bind(x, OPA(x, "ScatterND", a, zeros, idx, IN(x, 0)), n->out[0]);
    return LMG_OK;
}

/* The [T,S] keep-mask j <= i + S - T of the last two axes of v, as bool. */
static const char *causal_keep(ox *x, const char *v, int rank, dimx T, dimx S)
{
    oattr sa[1] = {OA_I("start", rank - 2)};
    const char *ts = OPA(x, "Shape", sa, v);
    oattr va[1] = {OA_TF("value", 1.0f)};
    const char *ones = OPA(x, "ConstantOfShape", va, ts);
    int64_t k = dx_eq(S, T) ? 0 : dx_val(x, S) - dx_val(x, T);
    oattr ta[1] = {OA_I("upper", 0)};
    return to_bool(x, OPA(x, "Trilu", ta, ones, ci64(x, k)));
}

static lmg_status e_causal_mask(ox *x, const lmg_node *n)
{
    int r = VAL(x, 0)->shape.rank;
    const dimx *d = VD(x, n->in[0]);
    const char *keep = causal_keep(x, IN(x, 0), r, d[r - 2], d[r - 1]);
    float fill = (float)lmg_node_attr_float(n, "fill", -INFINITY);
    bind(x, OP(x, "Where", keep, IN(x, 0), cf(x, fill)), n->out[0]);
    return LMG_OK;
}

static lmg_status e_padding_mask(ox *x, const lmg_node *n)
{
    const char *eq = OP(x, "Equal", IN(x, 0), ci32(x, (int32_t)lmg_node_attr_int(n, "pad_id", 0)));
    bind(x, cast(x, OP(x, "Not", eq), OIR_F32), n->out[0]);
    return LMG_OK;
}

static lmg_status e_dropout(ox *x, const lmg_node *n)
{
    const char *u = draw_name(x, "u");
    draw_input(x, u, OIR_F32, n->in[0]);
    float p = (float)lmg_node_attr_float(n, "p", 0.0);
    const char *drop = OP(x, "Less", u, cf(x, p));
    bind(x, OP(x, "Where", drop, cf(x, 0.0f), OP(x, "Mul", IN(x, 0), cf(x, 1.0f / (1.0f - p)))),
         n->out[0]);
    return LMG_OK;
}

static lmg_status e_bernoulli(ox *x, const lmg_node *n)
{
    const char *u = draw_name(x, "u");
    draw_input(x, u, OIR_F32, n->in[0]);
    float p = (float)lmg_node_attr_float(n, "p", 0.0);
    bind(x, cast(x, OP(x, "Less", u, cf(x, p)), OIR_F32), n->out[0]);
    return LMG_OK;
}

static lmg_status e_random_int(ox *x, const lmg_node *n)
{
    const char *r = draw_name(x, "value");
    draw_input(x, r, OIR_I32, n->in[0]);
    bind(x, r, n->out[0]);
    return LMG_OK;
}

static lmg_status e_mlm_corrupt(ox *x, const lmg_node *n)
{
    const char *u0 = draw_name(x, "u0"), *u1 = draw_name(x, "u1"), *rnd = draw_name(x, "random");
    draw_input(x, u0, OIR_F32, n->in[0]);
    draw_input(x, u1, OIR_F32, n->in[0]);
    draw_input(x, rnd, OIR_I32, n->in[0]);
    const char *ids = IN(x, 0);
    float p = (float)lmg_node_attr_float(n, "p", 0.15);
    const char *sel = OP(x, "And",
                         OP(x, "GreaterOrEqual", ids,
                            ci32(x, (int32_t)lmg_node_attr_int(n, "special_below", 0))),
                         OP(x, "Less", u0, cf(x, p)));
    const char *rep = OP(x, "Where", OP(x, "Less", u1, cf(x, 0.8f)),
                         ci32(x, (int32_t)lmg_node_attr_int(n, "mask_id", 0)),
                         OP(x, "Where", OP(x, "Less", u1, cf(x, 0.9f)), rnd, ids));
    bind(x, OP(x, "Where", sel, rep, ids), n->out[0]);
    bind(x, OP(x, "Where", sel, ids, ci32(x, (int32_t)lmg_node_attr_int(n, "ignore_index", -100))),
         n->out[1]);
    return LMG_OK;
}

/* The stable ascending order of the last axis as int64 indices. TopK breaks ties by the lower
 * index (ONNX's rule since opset 11), which is ArgSort's stability, but leaves NaN's place
 * open: sort by the value with NaN read as +inf, then stably by "is NaN", so NaNs follow every
 * number (+inf included) in their own order, as lmgraph orders them. -0 == 0 in both. */
static const char *stable_order(ox *x, const char *v, dimx N)
{
    const char *k = dim_tensor(x, N);
    oattr ta[3] = {OA_I("axis", -1), OA_I("largest", 0), OA_I("sorted", 1)};
    const char *isnan = OP(x, "IsNaN", v);
    const char *key = OP(x, "Where", isnan, cf(x, INFINITY), v);
    const char *o1[2] = {fresh(x, "TopK_values"), fresh(x, "TopK_idx")};
    const char *in1[2] = {key, k};
    onode *t1 = oir_node(&x->ir, "TopK", x->cur->name, 2, in1, 2, o1);
    if (!t1) return "";
    for (int i = 0; i < 3; i++) oir_attr(&x->ir, t1, &ta[i]);
    oattr ga[1] = {OA_I("axis", -1)};
    const char *nan_sorted = OPA(x, "GatherElements", ga, cast(x, isnan, OIR_F32), t1->out[1]);
    const char *o2[2] = {fresh(x, "TopK_values"), fresh(x, "TopK_idx")};
    const char *in2[2] = {nan_sorted, k};
    onode *t2 = oir_node(&x->ir, "TopK", x->cur->name, 2, in2, 2, o2);
    if (!t2) return "";
    for (int i = 0; i < 3; i++) oir_attr(&x->ir, t2, &ta[i]);
    return OPA(x, "GatherElements", ga, t1->out[1], t2->out[1]);
}

static lmg_status e_argsort(ox *x, const lmg_node *n)
{
    int r = VAL(x, 0)->shape.rank;
    bind(x, cast(x, stable_order(x, IN(x, 0), VD(x, n->in[0])[r - 1]), OIR_I32), n->out[0]);
    return LMG_OK;
}

/* GatherElements on the last axis; ONNX wraps negative indices and refuses those past the
 * end, where lmgraph gives 0: such indices read position 0 and their results are zeroed. */
static lmg_status e_take_along(ox *x, const lmg_node *n)
{
    int r = VAL(x, 0)->shape.rank;
    dimx N = VD(x, n->in[0])[r - 1];
    const char *idx = IN(x, 1);
    const char *lim = N.n ? cast(x, dim_tensor(x, N), OIR_I32) : ci32(x, (int32_t)N.c);
    const char *ok = OP(x, "And", OP(x, "GreaterOrEqual", idx, ci32(x, 0)),
                        OP(x, "Less", idx, lim));
    oattr ga[1] = {OA_I("axis", -1)};
    const char *y = OPA(x, "GatherElements", ga, IN(x, 0), OP(x, "Where", ok, idx, ci32(x, 0)));
    const char *zero = VAL(x, 0)->dtype == LMG_DTYPE_I32 ? ci32(x, 0) : cf(x, 0.0f);
    bind(x, OP(x, "Where", ok, y, zero), n->out[0]);
    return LMG_OK;
}

/* SpanMask from its draws u0 (starts) and u1 (lengths). A span's length is 1 + #{l : v <= q_l}
 * with q_l = r^l by f32 products: q only falls, so the count of all l equals ops.def's count
 * "while true". Each start s gets its end e_s = s + L_s (0 where no span starts); y[t] = 1
 * when max e_s over s in (t - max_len, t] exceeds t, the window maximum taken by doubling
 * shifts (ceil(log2 max_len) Pad/Slice/Max steps); positions and ends are exact in f32. */
static lmg_status e_span_mask(ox *x, const lmg_node *n)
{
    const char *u0 = draw_name(x, "u0"), *u1 = draw_name(x, "u1");
    draw_input(x, u0, OIR_F32, n->in[0]);
    draw_input(x, u1, OIR_F32, n->in[0]);
    int r = VAL(x, 0)->shape.rank;
    float p = (float)lmg_node_attr_float(n, "p", 0.0);
    double len_p = lmg_node_attr_float(n, "len_p", 1.0);
    int max_len = (int)lmg_node_attr_int(n, "max_len", 1);
    if (max_len < 1 || max_len > 64)
        return lmg_error(LMG_ERR_INVALID, "node '%s': SpanMask max_len %d outside 1..64", n->name,
                         max_len);
    const char *start = OP(x, "Less", u0, cf(x, p));
    const char *len = cf(x, 1.0f);
    if (max_len > 1) {
        float q[64], rr = (float)(1.0 - len_p), acc = 1.0f;
        for (int l = 1; l < max_len; l++) q[l - 1] = acc = acc * rr;
        int64_t nq = max_len - 1;
        const char *qc = constant(x, oir_strf(&x->ir, "const/f32/span_q/%.17g/%d", len_p, max_len),
                                  OIR_F32, 1, &nq, q, (size_t)nq * sizeof *q);
        const char *v = OP(x, "Sub", cf(x, 1.0f), u1);
        const char *le = cast(x, OP(x, "LessOrEqual", unsq_last(x, v), qc), OIR_F32);
        oattr ra[1] = {OA_I("keepdims", 0)};
        len = OP(x, "Add", OPA(x, "ReduceSum", ra, le, ci64(x, -1)), len);
    }
    oattr va[1] = {OA_TF("value", 1.0f)};
    const char *ones = OPA(x, "ConstantOfShape", va, OP(x, "Shape", u0));
    oattr ca[1] = {OA_I("exclusive", 1)};
    const char *pos = OPA(x, "CumSum", ca, ones, ci64(x, -1)); /* 0, 1, ..., T-1 */
    const char *end = OP(x, "Where", start, OP(x, "Add", pos, len), cf(x, 0.0f));
    for (int64_t k = 1; k < max_len; k *= 2) {
        int64_t pads[2 * LMG_MAX_DIMS] = {0};
        pads[r - 1] = k;
        const char *padded = OP(x, "Pad", end, ci64s(x, 2 * r, pads));
        end = OP(x, "Max", end, OP(x, "Slice", padded, ci64(x, 0), ci64(x, -k), ci64(x, -1)));
    }
    bind(x, cast(x, OP(x, "Greater", end, pos), OIR_F32), n->out[0]);
    return LMG_OK;
}

/* Cross-entropy pieces over rows [N,V]: the counted weight per row w[N] (0 where ignored or
 * out of range), the clamped targets t[N] (int64), and W = sum(w). */
typedef struct ce_parts {
    const char *logits, *t64, *w, *W;
} ce_parts;

static ce_parts ce_prepare(ox *x, const lmg_node *n, int k_logits)
{
    ce_parts c;
    int V = (int)VAL(x, k_logits)->shape.dims[VAL(x, k_logits)->shape.rank - 1];
    c.logits = OP(x, "Reshape", IN(x, k_logits), ci64s(x, 2, (int64_t[]){-1, V}));
    const char *t = OP(x, "Reshape", IN(x, k_logits + 1), ci64s(x, 1, (int64_t[]){-1}));
    int32_t ign = (int32_t)lmg_node_attr_int(n, "ignore_index", -100);
    const char *ok = OP(x, "And", OP(x, "Not", OP(x, "Equal", t, ci32(x, ign))),
                        OP(x, "And", OP(x, "GreaterOrEqual", t, ci32(x, 0)),
                           OP(x, "Less", t, ci32(x, V))));
    c.t64 = cast(x, OP(x, "Where", ok, t, ci32(x, 0)), OIR_I64);
    const char *w = cast(x, ok, OIR_F32);
    int kw = k_logits + 2;
    if (n->n_in > kw && n->in[kw] >= 0)
        w = OP(x, "Mul", w, OP(x, "Reshape", IN(x, kw), ci64s(x, 1, (int64_t[]){-1})));
    c.w = w;
    oattr a[1] = {OA_I("keepdims", 0)};
    c.W = OPA(x, "ReduceSum", a, w);
    return c;
}

static lmg_status e_cross_entropy(ox *x, const lmg_node *n)
{
    ce_parts c = ce_prepare(x, n, 0);
    oattr la[1] = {OA_I("axis", -1)};
    const char *ls = OPA(x, "LogSoftmax", la, c.logits);
    oattr ga[1] = {OA_I("axis", 1)};
    const char *pick = OPA(x, "GatherElements", ga, ls, unsq_last(x, c.t64));
    oattr sa[1] = {OA_I("keepdims", 0)};
    const char *nll = OP(x, "Neg", OP(x, "Squeeze", pick, ci64(x, -1)));
    const char *L = OPA(x, "ReduceSum", sa, OP(x, "Mul", nll, c.w));
    const char *none = OP(x, "Equal", c.W, cf(x, 0.0f));
    bind(x, OP(x, "Where", none, cf(x, 0.0f), OP(x, "Div", L, c.W)), n->out[0]);
    return LMG_OK;
}

static lmg_status e_cross_entropy_grad(ox *x, const lmg_node *n)
{
    ce_parts c = ce_prepare(x, n, 1);
    int V = (int)VAL(x, 1)->shape.dims[VAL(x, 1)->shape.rank - 1];
    oattr la[1] = {OA_I("axis", -1)};
    const char *sm = OPA(x, "Softmax", la, c.logits);
    float ov[2] = {0.0f, 1.0f};
    const char *vals = constant(x, "const/f32/0,1", OIR_F32, 1, (int64_t[]){2}, ov, sizeof ov);
    oattr oa[1] = {OA_I("axis", -1)};
    const char *onehot = OPA(x, "OneHot", oa, c.t64, ci64(x, V), vals);
    const char *none = OP(x, "Equal", c.W, cf(x, 0.0f));
    const char *W1 = OP(x, "Where", none, cf(x, 1.0f), c.W);
    const char *k = OP(x, "Div", OP(x, "Mul", c.w, IN(x, 0)), W1); /* dloss w_i / W, 0 if ignored */
    const char *d = OP(x, "Mul", OP(x, "Sub", sm, onehot), unsq_last(x, k));
    const lmg_shape *ls = &OUTV(x, 0)->shape;
    bind(x, OP(x, "Reshape", d, shape_tensor(x, VD(x, n->out[0]), ls->rank, 1, NULL)), n->out[0]);
    return LMG_OK;
}

/* scale * q k^T with the causal and key masks applied (-inf where hidden): [B,H,T,S] */
static const char *attn_scores(ox *x, const lmg_node *n, int kq, double *scale_out)
{
    const lmg_value *q = VAL(x, kq);
    double scale = lmg_node_attr_float(n, "scale", 1.0 / sqrt((double)q->shape.dims[3]));
    *scale_out = scale;
    const char *s = OP(x, "Mul", OP(x, "MatMul", IN(x, kq), swap_last2(x, IN(x, kq + 1), 4)),
                       cf(x, (float)scale));
    const char *ninf = cf(x, -INFINITY);
    if (lmg_node_attr_int(n, "causal", 0))
        s = OP(x, "Where", causal_keep(x, s, 4, VD(x, n->in[kq])[2], VD(x, n->in[kq + 1])[2]), s,
               ninf);
    int km = n->op == LMG_OP_ATTENTION ? 3 : 6;
    if (n->n_in > km && n->in[km] >= 0) {
        const char *m = OP(x, "Unsqueeze", IN(x, km), ci64s(x, 2, (int64_t[]){1, 2}));
        s = OP(x, "Where", OP(x, "Equal", m, cf(x, 0.0f)), ninf, s);
    }
    return s;
}

static lmg_status e_attention(ox *x, const lmg_node *n)
{
    double scale;
    const char *s = attn_scores(x, n, 0, &scale);
    oattr la[1] = {OA_I("axis", -1)};
    bind(x, OP(x, "MatMul", OPA(x, "Softmax", la, s), IN(x, 2)), n->out[0]);
    if (used(x, 1)) bind(x, reduce_last(x, "ReduceLogSumExp", s, 0), n->out[1]);
    return LMG_OK;
}

static lmg_status e_attention_grad(ox *x, const lmg_node *n)
{
    double scale;
    const char *dout = IN(x, 0), *q = IN(x, 1), *k = IN(x, 2), *v = IN(x, 3), *o = IN(x, 4);
    const char *s = attn_scores(x, n, 1, &scale);
    const char *p = OP(x, "Exp", OP(x, "Sub", s, unsq_last(x, IN(x, 5))));
    if (used(x, 2)) bind(x, OP(x, "MatMul", swap_last2(x, p, 4), dout), n->out[2]);
    const char *dp = OP(x, "MatMul", dout, swap_last2(x, v, 4));
    const char *Di = reduce_last(x, "ReduceSum", OP(x, "Mul", dout, o), 1);
    const char *ds = OP(x, "Mul", OP(x, "Mul", p, OP(x, "Sub", dp, Di)), cf(x, (float)scale));
    if (used(x, 0)) bind(x, OP(x, "MatMul", ds, k), n->out[0]);
    if (used(x, 1)) bind(x, OP(x, "MatMul", swap_last2(x, ds, 4), q), n->out[1]);
    return LMG_OK;
}

static lmg_status e_adamw(ox *x, const lmg_node *n)
{
    double b1 = lmg_node_attr_float(n, "beta1", 0.9), b2 = lmg_node_attr_float(n, "beta2", 0.999);
    double eps = lmg_node_attr_float(n, "eps", 1e-8), wd = lmg_node_attr_float(n, "weight_decay", 0.0);
    const char *p = IN(x, 0), *gr = IN(x, 1), *m = IN(x, 2), *v = IN(x, 3);
    const char *lr = IN(x, 4), *step = IN(x, 5), *gs = IN(x, 6);
    const char *g = OP(x, "Mul", gr, gs);
    const char *m2 = OP(x, "Add", OP(x, "Mul", m, cf(x, (float)b1)), OP(x, "Mul", g, cf(x, (float)(1.0 - b1))));
    const char *v2 = OP(x, "Add", OP(x, "Mul", v, cf(x, (float)b2)),
                        OP(x, "Mul", OP(x, "Mul", g, g), cf(x, (float)(1.0 - b2))));
    /* The bias corrections in double, as the reference computes them. */
    const char *sd = cast(x, step, OIR_F64);
    const char *bc1 = cast(x, OP(x, "Sub", cd(x, 1.0), OP(x, "Pow", cd(x, b1), sd)), OIR_F32);
    const char *bc2 = cast(x, OP(x, "Sub", cd(x, 1.0), OP(x, "Pow", cd(x, b2), sd)), OIR_F32);
    const char *den = OP(x, "Add", OP(x, "Sqrt", OP(x, "Div", v2, bc2)), cf(x, (float)eps));
    const char *upd = OP(x, "Div", OP(x, "Div", m2, bc1), den);
    if (wd != 0.0) upd = OP(x, "Add", upd, OP(x, "Mul", p, cf(x, (float)wd)));
    bind(x, OP(x, "Sub", p, OP(x, "Mul", upd, lr)), n->out[0]);
    bind(x, m2, n->out[1]);
    bind(x, v2, n->out[2]);
    return LMG_OK;
}

/* ---- the table ---------------------------------------------------------------------- */

typedef struct op_map {
    emit_fn emit;
    lmg_onnx_map_kind kind;
    const char *what; /* the ONNX ops, or why there are none */
} op_map;

/* An op of ops/elementwise.def with an ONNX column needs no entry here (op_of gives it e_same);
 * one with 0 there has its own emitter below. */
#define MAP(E, fn, ops) [LMG_OP_##E] = {fn, LMG_ONNX_MAP_OPS, ops}
#define DRAWS(E, fn, ops) [LMG_OP_##E] = {fn, LMG_ONNX_MAP_DRAWS, ops}
static const op_map op_table[LMG_OP_COUNT] = {
    MAP(SCALE, e_scale, "Mul, Add"),
    MAP(RSQRT, e_rsqrt, "Sqrt, Reciprocal"),
    MAP(GELU, e_gelu, "Mul, Add, Tanh (the tanh form)"),
    MAP(RELU_GRAD, e_relu_grad, "Greater, Where"),
    MAP(GELU_GRAD, e_gelu_grad, "Mul, Add, Sub, Tanh"),
    MAP(CAST, e_cast, "Cast"),
    MAP(MATMUL, e_matmul, "Transpose, MatMul"),
    MAP(RESHAPE, e_reshape, "Reshape (Shape, Mul, Concat for symbolic dims)"),
    MAP(TRANSPOSE, e_transpose, "Transpose"),
    MAP(SLICE, e_slice, "Slice"),
    MAP(SLICE_GRAD, e_slice_grad, "Pad"),
    MAP(CONCAT, e_concat, "Concat"),
    MAP(EXPAND, e_expand, "Expand"),
    MAP(REDUCE_SUM, e_reduce, "ReduceSum"),
    MAP(REDUCE_MEAN, e_reduce, "ReduceMean"),
    MAP(ARGMAX, e_argmax, "ArgMax, Cast"),
    MAP(ARGSORT, e_argsort, "TopK (twice: NaN last), IsNaN, GatherElements, Cast"),
    MAP(WHERE, e_where, "Cast, Where"),
    MAP(SOFTMAX, e_softmax, "Softmax"),
    MAP(LOG_SOFTMAX, e_softmax, "LogSoftmax"),
    MAP(SOFTMAX_GRAD, e_softmax_grad, "Mul, Sub, ReduceSum"),
    MAP(LOG_SOFTMAX_GRAD, e_softmax_grad, "Exp, Mul, Sub, ReduceSum"),
    MAP(LAYER_NORM, e_layer_norm, "LayerNormalization"),
    MAP(LAYER_NORM_GRAD, e_layer_norm_grad, "Sub, Mul, ReduceMean, ReduceSum"),
    MAP(EMBEDDING, e_embedding, "Gather"),
    MAP(EMBEDDING_GRAD, e_embedding_grad, "ConstantOfShape, ScatterND (add)"),
    MAP(TAKE_ALONG, e_take_along, "GatherElements, Where (indices out of range give 0)"),
    MAP(CAUSAL_MASK, e_causal_mask, "Shape, ConstantOfShape, Trilu, Where"),
    MAP(PADDING_MASK, e_padding_mask, "Equal, Not, Cast"),
    DRAWS(DROPOUT, e_dropout, "Less, Where, Mul; input draw/<node>/u"),
    DRAWS(BERNOULLI, e_bernoulli, "Less, Cast; input draw/<node>/u"),
    DRAWS(RANDOM_INT, e_random_int, "input draw/<node>/value"),
    DRAWS(MLM_CORRUPT, e_mlm_corrupt, "Less, And, Where; inputs draw/<node>/u0, u1, random"),
    DRAWS(SPAN_MASK, e_span_mask, "Less, LessOrEqual, ReduceSum, CumSum, Pad, Slice, Max; "
                                  "inputs draw/<node>/u0, u1"),
    MAP(CROSS_ENTROPY, e_cross_entropy, "LogSoftmax, GatherElements, ReduceSum, Div, Where"),
    MAP(CROSS_ENTROPY_GRAD, e_cross_entropy_grad, "Softmax, OneHot, Sub, Mul, Div"),
    MAP(ATTENTION, e_attention, "MatMul, Mul, Trilu, Where, Softmax, ReduceLogSumExp"),
    MAP(ATTENTION_GRAD, e_attention_grad, "MatMul, Exp, Sub, Mul, ReduceSum"),
    MAP(ADAMW, e_adamw, "Mul, Add, Sqrt, Div, Pow (double), Cast"),
    MAP(ALL_REDUCE, e_all_reduce, "Identity (one rank)"),
};
#undef MAP
#undef DRAWS
/* tests/test_onnx.c fails for an op with neither an entry nor an ONNX column. */

/* The entry of op: op_table's, else one node of the same name from elementwise.def's ONNX
 * column, else {NULL} (missing). op must be in range. */
static op_map op_of(lmg_op op)
{
    if (op_table[op].what || !ew_onnx[op]) return op_table[op];
    return (op_map){e_same, LMG_ONNX_MAP_OPS, ew_onnx[op]};
}

lmg_onnx_map_kind lmg_onnx_op_mapping(lmg_op op, const char **what)
{
    if (what) *what = NULL;
    if ((unsigned)op >= LMG_OP_COUNT) return LMG_ONNX_MAP_MISSING;
    op_map m = op_of(op);
    if (what) *what = m.what;
    if (!m.what) return LMG_ONNX_MAP_MISSING;
    if (!m.emit) return LMG_ONNX_MAP_NONE;
    return m.kind;
}

/* ---- the whole graph ----------------------------------------------------------------- */

static void declare(ox *x, oval *ov, int v)
{
    const lmg_value *val = &x->g->values[v];
    for (int i = 0; i < val->shape.rank; i++) {
        dimx d = VD(x, v)[i];
        ov->dims[i] = d.n ? -1 : d.c;
        if (d.n == 1 && d.c == 1 && d.off == 0) ov->params[i] = sym_names[d.s[0]];
        else if (d.n) {
            char b[64] = "";
            if (d.c != 1) snprintf(b, sizeof b, "%lld", (long long)d.c);
            for (int k = 0; k < d.n; k++)
                snprintf(b + strlen(b), sizeof b - strlen(b), "%s%s", b[0] ? "*" : "",
                         sym_names[d.s[k]]);
            if (d.off) snprintf(b + strlen(b), sizeof b - strlen(b), "%+lld", (long long)d.off);
            ov->params[i] = oir_strf(&x->ir, "%s", b);
        }
    }
}

static int is_state(const lmg_value *v)
{
    return v->kind == LMG_VALUE_INIT &&
           (v->trainable || strncmp(v->name, "adam.m/", 7) == 0 || strncmp(v->name, "adam.v/", 7) == 0);
}

static lmg_status build(ox *x)
{
    const lmg_graph *g = x->g;
    /* Check every op first, so the error names the first node without a form. */
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        const char *what;
        lmg_onnx_map_kind k = lmg_onnx_op_mapping(n->op, &what);
        if (k == LMG_ONNX_MAP_MISSING || k == LMG_ONNX_MAP_NONE)
            return lmg_error(LMG_ERR_UNSUPPORTED, "op %s (node '%s') has no ONNX form%s%s",
                             lmg_op_name(n->op), n->name, what ? ": " : "", what ? what : "");
        if (k == LMG_ONNX_MAP_DRAWS && !x->o->draws_as_inputs && !x->o->training)
            return lmg_error(LMG_ERR_UNSUPPORTED,
                             "op %s (node '%s') has no ONNX form: ONNX's random ops cannot "
                             "reproduce its Philox draws (export them as inputs: --draws)",
                             lmg_op_name(n->op), n->name);
    }
    LMG_TRY(setup_symbols(x));
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && !(n->op == LMG_OP_CONCAT && concat_fill(x, n, k)))
                x->uses[n->in[k]]++;
    }
    for (int k = 0; k < g->n_outputs; k++) x->uses[g->outputs[k]]++;
    /* AdamW's results: new/<state>, outputs of a training export. */
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        if (n->op != LMG_OP_ADAMW) continue;
        for (int k = 0; k < 3; k++) {
            int src = n->in[lmg_op_alias(n->op, k)];
            x->vname[n->out[k]] = oir_strf(&x->ir, "new/%s", g->values[src].name);
            x->uses[n->out[k]]++;
        }
    }
    for (int k = 0; k < g->n_inputs; k++) {
        int v = g->inputs[k];
        oval *ov = oir_input(&x->ir, x->vname[v], oir_type(g->values[v].dtype),
                             g->values[v].shape.rank);
        if (!ov) return lmg_error(LMG_ERR_NOMEM, "out of memory");
        declare(x, ov, v);
    }
    for (int v = 0; v < g->n_values; v++) {
        const lmg_value *val = &g->values[v];
        if (val->kind != LMG_VALUE_INIT || (!x->uses[v] && !(x->o->training && is_state(val))))
            continue;
        size_t nb = (size_t)lmg_shape_numel(&val->shape) * lmg_dtype_size(val->dtype);
        if (!oir_init(&x->ir, x->vname[v], oir_type(val->dtype), val->shape.rank, val->shape.dims,
                      val->fill == LMG_INIT_DATA ? val->data : NULL, nb, 0))
            return lmg_error(LMG_ERR_NOMEM, "out of memory");
        if (x->o->training && is_state(val)) {
            oval *ov = oir_input(&x->ir, x->vname[v], oir_type(val->dtype), val->shape.rank);
            if (!ov) return lmg_error(LMG_ERR_NOMEM, "out of memory");
            declare(x, ov, v);
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        x->cur = n;
        x->node_start = x->ir.n_nodes;
        LMG_TRY(op_of(n->op).emit(x, n));
        if (x->ir.oom) return lmg_error(LMG_ERR_NOMEM, "out of memory exporting node '%s'", n->name);
    }
    x->cur = NULL;
    for (int k = 0; k < g->n_outputs; k++) {
        int v = g->outputs[k];
        oval *ov = oir_output(&x->ir, x->vname[v], oir_type(g->values[v].dtype),
                              g->values[v].shape.rank);
        if (!ov) return lmg_error(LMG_ERR_NOMEM, "out of memory");
        declare(x, ov, v);
    }
    if (x->o->training)
        for (int i = 0; i < g->n_nodes; i++) {
            const lmg_node *n = &g->nodes[i];
            if (n->op != LMG_OP_ADAMW) continue;
            for (int k = 0; k < 3; k++) {
                int v = n->out[k];
                oval *ov = oir_output(&x->ir, x->vname[v], OIR_F32, g->values[v].shape.rank);
                if (!ov) return lmg_error(LMG_ERR_NOMEM, "out of memory");
                declare(x, ov, v);
            }
        }
    return x->ir.oom ? lmg_error(LMG_ERR_NOMEM, "out of memory") : LMG_OK;
}

lmg_status lmg_onnx_export(const lmg_graph *g, const lmg_onnx_export_opts *o, const char *path,
                           lmg_onnx_export_info *info)
{
    lmg_onnx_export_opts dflt = {0};
    if (!o) o = &dflt;
    ox x;
    memset(&x, 0, sizeof x);
    x.g = g;
    x.o = o;
    x.vd = calloc((size_t)g->n_values * LMG_MAX_DIMS + 1, sizeof *x.vd);
    x.vname = calloc((size_t)g->n_values + 1, sizeof *x.vname);
    x.uses = calloc((size_t)g->n_values + 1, sizeof *x.uses);
    lmg_status s = !x.vd || !x.vname || !x.uses ? lmg_error(LMG_ERR_NOMEM, "out of memory") : LMG_OK;
    for (int v = 0; s == LMG_OK && v < g->n_values; v++) x.vname[v] = g->values[v].name;
    if (s == LMG_OK) s = build(&x);
    if (s == LMG_OK) {
        x.ir.graph_name = g->name ? g->name : "lmgraph";
        x.ir.producer_version = o->producer_version ? o->producer_version : "";
        for (int i = 0; i < g->n_meta; i++) oir_meta(&x.ir, g->meta[i].key, g->meta[i].value);
        for (int i = 0; i < o->n_meta; i++) oir_meta(&x.ir, o->meta_keys[i], o->meta_values[i]);
        if (x.why[0]) oir_meta(&x.ir, "lmgraph.static_axes", x.why);
        s = oir_write(&x.ir, path, o->external_min_bytes, o->external_name);
    }
    if (s == LMG_OK && info) {
        info->n_nodes = x.ir.n_nodes;
        info->n_initializers = x.ir.n_init;
        info->n_inputs = x.ir.n_inputs;
        info->n_outputs = x.ir.n_outputs;
        info->n_external = x.ir.n_external;
        snprintf(info->fixed, sizeof info->fixed, "%s", x.why);
    }
    oir_free(&x.ir);
    free(x.vd);
    free(x.vname);
    free(x.uses);
    free(x.consts);
    return s;
}

/* ---- draws ------------------------------------------------------------------------- */

lmg_status lmg_onnx_draw(const lmg_graph *g, int i, uint64_t step, char **name, lmg_dtype *t,
                         lmg_shape *s, void **data)
{
    *name = NULL;
    *data = NULL;
    int k = 0;
    for (int ni = 0; ni < g->n_nodes; ni++) {
        const lmg_node *n = &g->nodes[ni];
        int per = n->op == LMG_OP_MLM_CORRUPT ? 3
                  : n->op == LMG_OP_SPAN_MASK     ? 2
                  : n->op == LMG_OP_DROPOUT || n->op == LMG_OP_BERNOULLI || n->op == LMG_OP_RANDOM_INT
                      ? 1
                      : 0;
        if (i >= k + per) {
            k += per;
            continue;
        }
        int which = i - k;
        static const char *const mlm[3] = {"u0", "u1", "random"};
        const char *what = n->op == LMG_OP_MLM_CORRUPT || n->op == LMG_OP_SPAN_MASK ? mlm[which]
                           : n->op == LMG_OP_RANDOM_INT ? "value"
                                                        : "u";
        *s = g->values[n->in[0]].shape;
        int is_int = n->op == LMG_OP_RANDOM_INT || (n->op == LMG_OP_MLM_CORRUPT && which == 2);
        *t = is_int ? LMG_DTYPE_I32 : LMG_DTYPE_F32;
        int64_t N = lmg_shape_numel(s);
        size_t len = strlen(n->name) + strlen(what) + 8;
        *name = malloc(len);
        *data = malloc((size_t)(N > 0 ? N : 1) * 4);
        if (!*name || !*data) {
            free(*name), free(*data);
            *name = NULL, *data = NULL;
            return lmg_error(LMG_ERR_NOMEM, "out of memory");
        }
        snprintf(*name, len, "draw/%s/%s", n->name, what);
        lmg_philox_key2 key = lmg_philox_key((uint64_t)lmg_node_attr_int(n, "seed", 0),
                                             (uint64_t)lmg_node_attr_int(n, "key", 0));
        float *f = *data;
        int32_t *q = *data;
        int64_t lo = lmg_node_attr_int(n, "low", 0), hi = lmg_node_attr_int(n, "high", 1);
        int64_t sp = lmg_node_attr_int(n, "special_below", 0), V = lmg_node_attr_int(n, "vocab", 1);
        for (int64_t e = 0; e < N; e++) {
            lmg_philox4 r = lmg_philox_draw(key, (uint64_t)e, step);
            if (n->op == LMG_OP_RANDOM_INT)
                q[e] = (int32_t)(lo + (int64_t)lmg_philox_below(r.w[0], (uint64_t)(hi - lo)));
            else if (is_int)
                q[e] = (int32_t)(sp + (int64_t)lmg_philox_below(r.w[2], (uint64_t)(V - sp)));
            else f[e] = lmg_philox_uniform(r.w[which == 1 ? 1 : 0]);
        }
        return LMG_OK;
    }
    return LMG_ERR_NOT_FOUND;
}
