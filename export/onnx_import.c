/* onnx_import.c — an ONNX model into an lmgraph graph: standard ops mapped onto lmgraph's,
 * shape computations (Shape, Concat, ConstantOfShape, Trilu, ...) folded on the host into
 * constants, initializers made parameters; every op that does not map is listed at once. */
#include "onnx.h"
#include "onnx/onnx.pb-c.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A value of the ONNX graph: an lmgraph value, or a constant known on the host (shape
 * arithmetic, masks, initializers until some op uses them as data). */
typedef struct ival {
    const char *name;
    int v;           /* lmgraph value id, or -1 */
    int is_const;
    int dtype;       /* ONNX data type of the constant */
    lmg_shape shape;
    double *c;       /* numel values */
    int param;       /* a float initializer: becomes a parameter when used as data */
    int init;        /* an initializer (keeps its name); else folded (named const/<k>) */
} ival;

typedef struct im {
    lmg_graph *g;
    const lmg_onnx_import_opts *o;
    ival *vals;
    int n, cap;
    char *model_dir;
    int counter;
} im;

static ival *find(im *m, const char *name)
{
    for (int i = m->n - 1; i >= 0; i--)
        if (strcmp(m->vals[i].name, name) == 0) return &m->vals[i];
    return NULL;
}

static ival *add(im *m, const char *name)
{
    if (m->n == m->cap) {
        int nc = m->cap ? 2 * m->cap : 256;
        ival *nv = realloc(m->vals, (size_t)nc * sizeof *nv);
        if (!nv) return NULL;
        m->vals = nv;
        m->cap = nc;
    }
    ival *v = &m->vals[m->n++];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->v = -1;
    return v;
}

static lmg_dtype lmg_type(int onnx_type)
{
    return onnx_type == 1 || onnx_type == 11 ? LMG_DTYPE_F32 : LMG_DTYPE_I32;
}

/* ---- tensors ------------------------------------------------------------------------ */

static size_t onnx_size(int t)
{
    switch (t) {
    case 1: case 6: return 4;
    case 7: case 11: return 8;
    case 9: case 2: case 3: return 1;
    default: return 0;
    }
}

static double raw_elem(int t, const uint8_t *p)
{
    switch (t) {
    case 1: { float f; memcpy(&f, p, 4); return f; }
    case 6: { int32_t i; memcpy(&i, p, 4); return i; }
    case 7: { int64_t i; memcpy(&i, p, 8); return (double)i; }
    case 11: { double d; memcpy(&d, p, 8); return d; }
    case 9: case 2: return *p;
    case 3: return (int8_t)*p;
    default: return 0;
    }
}

/* A TensorProto's values as doubles (f32 values are exact in double). */
static lmg_status tensor_values(im *m, const Onnx__TensorProto *t, lmg_shape *s, double **out)
{
    *out = NULL;
    if ((int)t->n_dims > LMG_MAX_DIMS)
        return lmg_error(LMG_ERR_UNSUPPORTED, "tensor '%s' has %zu dims (at most 8)", t->name,
                         t->n_dims);
    s->rank = (int)t->n_dims;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || t->dims[i] > ((int64_t)1 << 31))
            return lmg_error(LMG_ERR_PARSE, "tensor '%s': dim %zu is %lld", t->name, i,
                             (long long)t->dims[i]);
        s->dims[i] = t->dims[i];
    }
    int64_t n = lmg_shape_numel(s);
    if (n > ((int64_t)1 << 31))
        return lmg_error(LMG_ERR_PARSE, "tensor '%s' has %lld elements (at most 2^31)", t->name,
                         (long long)n);
    size_t es = onnx_size(t->data_type);
    if (!es)
        return lmg_error(LMG_ERR_UNSUPPORTED, "tensor '%s' has data type %d (float, double, "
                         "int32, int64, bool, int8, uint8 import)", t->name, t->data_type);
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    const uint8_t *raw = NULL;
    uint8_t *ext = NULL;
    size_t raw_len = 0;
    if (t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        const char *loc = NULL;
        long long off = 0, len = -1;
        for (size_t i = 0; i < t->n_external_data; i++) {
            const char *k = t->external_data[i]->key, *val = t->external_data[i]->value;
            if (strcmp(k, "location") == 0) loc = val;
            else if (strcmp(k, "offset") == 0) off = atoll(val);
            else if (strcmp(k, "length") == 0) len = atoll(val);
        }
        if (!loc || strstr(loc, "..") || loc[0] == '/') {
            free(v);
            return lmg_error(LMG_ERR_PARSE, "tensor '%s': external data without a location "
                             "inside the model's folder", t->name);
        }
        size_t plen = strlen(m->model_dir) + strlen(loc) + 2;
        char *path = malloc(plen);
        char *data = NULL;
        size_t dn = 0;
        lmg_status st = path ? LMG_OK : LMG_ERR_NOMEM;
        if (path) {
            snprintf(path, plen, "%s%s", m->model_dir, loc);
            st = lmg_read_file(path, &data, &dn);
            free(path);
        }
        if (st != LMG_OK) {
            free(v);
            return st;
        }
        if (len < 0) len = (long long)dn - off;
        if (off < 0 || (size_t)off > dn || (size_t)len > dn - (size_t)off) {
            free(v), free(data);
            return lmg_error(LMG_ERR_PARSE, "tensor '%s': external range past the end of '%s'",
                             t->name, loc);
        }
        ext = (uint8_t *)data;
        raw = ext + off;
        raw_len = (size_t)len;
    } else if (t->has_raw_data) {
        raw = t->raw_data.data;
        raw_len = t->raw_data.len;
    }
    lmg_status st = LMG_OK;
    if (raw) {
        if (raw_len != (size_t)n * es)
            st = lmg_error(LMG_ERR_PARSE, "tensor '%s': %zu data bytes for %lld elements", t->name,
                           raw_len, (long long)n);
        for (int64_t i = 0; st == LMG_OK && i < n; i++) v[i] = raw_elem(t->data_type, raw + i * es);
    } else {
        size_t have = t->data_type == 1 ? t->n_float_data : t->data_type == 7 ? t->n_int64_data
                      : t->data_type == 11 ? t->n_double_data : t->n_int32_data;
        if (have != (size_t)n)
            st = lmg_error(LMG_ERR_PARSE, "tensor '%s': %zu values for %lld elements", t->name,
                           have, (long long)n);
        for (int64_t i = 0; st == LMG_OK && i < n; i++)
            v[i] = t->data_type == 1 ? t->float_data[i] : t->data_type == 7 ? (double)t->int64_data[i]
                   : t->data_type == 11 ? t->double_data[i] : t->int32_data[i];
    }
    free(ext);
    if (st != LMG_OK) {
        free(v);
        return st;
    }
    *out = v;
    return LMG_OK;
}

/* ---- making lmgraph values ----------------------------------------------------------- */

/* The lmgraph value of x: a constant is materialised (a float initializer as a parameter). */
static int data_of(im *m, ival *x)
{
    if (x->v >= 0 || !x->is_const) return x->v;
    lmg_dtype t = lmg_type(x->dtype);
    int64_t n = lmg_shape_numel(&x->shape);
    void *buf = malloc((size_t)(n > 0 ? n : 1) * 4);
    if (!buf) return -1;
    for (int64_t i = 0; i < n; i++) {
        if (t == LMG_DTYPE_F32) ((float *)buf)[i] = (float)x->c[i];
        else ((int32_t *)buf)[i] = (int32_t)x->c[i];
    }
    /* Folded values get names by order, so importing an export of an import names them
     * the same way again. */
    char nm[64];
    const char *name = x->name;
    while (!x->init || lmg_graph_find(m->g, name) >= 0) {
        snprintf(nm, sizeof nm, "const/%d", ++m->counter);
        name = nm;
        if (lmg_graph_find(m->g, name) < 0) break;
    }
    x->v = x->param && t == LMG_DTYPE_F32 && m->o->trainable
               ? lmg_graph_param(m->g, name, t, x->shape, buf)
               : lmg_graph_const(m->g, name, t, x->shape, buf);
    free(buf);
    return x->v;
}

static const lmg_shape *shape_of(im *m, const ival *x)
{
    return x->is_const && x->v < 0 ? &x->shape : &m->g->values[x->v].shape;
}

/* ---- one node --------------------------------------------------------------------- */

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (strcmp(n->attribute[i]->name, name) == 0) return n->attribute[i];
    return NULL;
}

static int64_t attr_i(const Onnx__NodeProto *n, const char *name, int64_t d)
{
    const Onnx__AttributeProto *a = attr(n, name);
    return a ? a->i : d;
}

static double attr_f(const Onnx__NodeProto *n, const char *name, double d)
{
    const Onnx__AttributeProto *a = attr(n, name);
    return a ? a->f : d;
}

/* Input k of n, or NULL when absent / unknown. */
static ival *input(im *m, const Onnx__NodeProto *n, size_t k)
{
    if (k >= n->n_input || !n->input[k][0]) return NULL;
    return find(m, n->input[k]);
}

static int all_const(im *m, const Onnx__NodeProto *n)
{
    for (size_t k = 0; k < n->n_input; k++) {
        if (!n->input[k][0]) continue;
        ival *x = find(m, n->input[k]);
        if (!x || !x->is_const || x->v >= 0) return 0;
    }
    return n->n_input > 0 || strcmp(n->op_type, "Constant") == 0;
}

/* A new host constant named after output 0 of n. */
static ival *const_out(im *m, const Onnx__NodeProto *n, int dtype, const lmg_shape *s)
{
    ival *y = add(m, n->output[0]);
    if (!y) return NULL;
    y->is_const = 1;
    y->dtype = dtype;
    y->shape = *s;
    int64_t cnt = lmg_shape_numel(s);
    y->c = calloc((size_t)(cnt > 0 ? cnt : 1), sizeof *y->c);
    return y->c ? y : NULL;
}

static int is_int(int t) { return t == 6 || t == 7 || t == 2 || t == 3; }

/* Fold a node whose inputs are all host constants. 1 folded, 0 not foldable, -1 error. */
static int fold(im *m, const Onnx__NodeProto *n)
{
    const char *op = n->op_type;
    ival *a = input(m, n, 0), *b = input(m, n, 1);
    ival *y;
    if (strcmp(op, "Constant") == 0) {
        const Onnx__AttributeProto *v = attr(n, "value");
        if (v && v->t) {
            double *c;
            lmg_shape s;
            if (tensor_values(m, v->t, &s, &c) != LMG_OK) return -1;
            y = add(m, n->output[0]);
            if (!y) return -1;
            y->is_const = 1, y->dtype = v->t->data_type, y->shape = s, y->c = c;
            return 1;
        }
        lmg_shape s = lmg_shape_make(0, NULL);
        if ((v = attr(n, "value_float"))) {
            if (!(y = const_out(m, n, 1, &s))) return -1;
            y->c[0] = v->f;
            return 1;
        }
        if ((v = attr(n, "value_int"))) {
            if (!(y = const_out(m, n, 7, &s))) return -1;
            y->c[0] = (double)v->i;
            return 1;
        }
        if ((v = attr(n, "value_ints"))) {
            s = lmg_shape_make(1, (int64_t[]){(int64_t)v->n_ints});
            if (!(y = const_out(m, n, 7, &s))) return -1;
            for (size_t i = 0; i < v->n_ints; i++) y->c[i] = (double)v->ints[i];
            return 1;
        }
        return 0;
    }
    if (strcmp(op, "Shape") == 0 && a && (a->is_const || a->v >= 0)) {
        const lmg_shape *xs = shape_of(m, a);
        int64_t st = attr_i(n, "start", 0), en = attr_i(n, "end", xs->rank);
        if (st < 0) st += xs->rank;
        if (en < 0) en += xs->rank;
        if (en > xs->rank) en = xs->rank;
        if (st < 0) st = 0;
        if (en < st) en = st;
        lmg_shape s = lmg_shape_make(1, (int64_t[]){en - st});
        if (!(y = const_out(m, n, 7, &s))) return -1;
        for (int64_t i = st; i < en; i++) y->c[i - st] = (double)xs->dims[i];
        return 1;
    }
    if (!all_const(m, n) || !a) return 0;
    for (size_t k = 0; k < n->n_input; k++)
        if (!input(m, n, k)) return 0; /* an omitted optional input: left to the op mapping */
    int64_t na = lmg_shape_numel(&a->shape);
    if (strcmp(op, "Identity") == 0 || (strcmp(op, "Cast") == 0)) {
        int to = strcmp(op, "Cast") == 0 ? (int)attr_i(n, "to", 1) : a->dtype;
        if (!(y = const_out(m, n, to, &a->shape))) return -1;
        for (int64_t i = 0; i < na; i++)
            y->c[i] = to == 9 ? (a->c[i] != 0) : is_int(to) ? trunc(a->c[i]) : a->c[i];
        return 1;
    }
    if ((strcmp(op, "Add") == 0 || strcmp(op, "Sub") == 0 || strcmp(op, "Mul") == 0 ||
         strcmp(op, "Div") == 0) && b) {
        int64_t nb = lmg_shape_numel(&b->shape);
        const ival *big = na >= nb ? a : b;
        if (na != nb && na != 1 && nb != 1) return 0;
        if (!(y = const_out(m, n, a->dtype, &big->shape))) return -1;
        for (int64_t i = 0; i < (na > nb ? na : nb); i++) {
            double u = a->c[na == 1 ? 0 : i], w = b->c[nb == 1 ? 0 : i];
            double r = op[0] == 'A' ? u + w : op[0] == 'S' ? u - w : op[0] == 'M' ? u * w : u / w;
            y->c[i] = is_int(a->dtype) && op[0] == 'D' ? floor(r) : r;
        }
        return 1;
    }
    if (strcmp(op, "Concat") == 0 && a && a->shape.rank == 1) {
        int64_t tot = 0;
        for (size_t k = 0; k < n->n_input; k++) tot += lmg_shape_numel(&input(m, n, k)->shape);
        lmg_shape s = lmg_shape_make(1, &tot);
        if (!(y = const_out(m, n, a->dtype, &s))) return -1;
        int64_t at = 0;
        for (size_t k = 0; k < n->n_input; k++) {
            ival *x = input(m, n, k);
            for (int64_t i = 0; i < lmg_shape_numel(&x->shape); i++) y->c[at++] = x->c[i];
        }
        return 1;
    }
    if ((strcmp(op, "Unsqueeze") == 0 || strcmp(op, "Squeeze") == 0 || strcmp(op, "Reshape") == 0 ||
         strcmp(op, "Flatten") == 0) && a) {
        /* Data is unchanged; only the shape differs (computed by the non-constant path). */
        return 0;
    }
    if (strcmp(op, "Gather") == 0 && a && b && a->shape.rank == 1 && attr_i(n, "axis", 0) == 0) {
        if (!(y = const_out(m, n, a->dtype, &b->shape))) return -1;
        for (int64_t i = 0; i < lmg_shape_numel(&b->shape); i++) {
            int64_t k = (int64_t)b->c[i];
            if (k < 0) k += na;
            if (k < 0 || k >= na) return 0;
            y->c[i] = a->c[k];
        }
        return 1;
    }
    if (strcmp(op, "Slice") == 0 && a && a->shape.rank == 1 && n->n_input >= 3 &&
        n->n_input <= 4) {
        int64_t st = (int64_t)input(m, n, 1)->c[0], en = (int64_t)input(m, n, 2)->c[0];
        if (st < 0) st += na;
        if (en < 0) en += na;
        if (en > na) en = na;
        if (st < 0) st = 0;
        if (en < st) en = st;
        lmg_shape s = lmg_shape_make(1, (int64_t[]){en - st});
        if (!(y = const_out(m, n, a->dtype, &s))) return -1;
        for (int64_t i = st; i < en; i++) y->c[i - st] = a->c[i];
        return 1;
    }
    if (strcmp(op, "ConstantOfShape") == 0 && a) {
        lmg_shape s;
        s.rank = (int)na;
        if (na > LMG_MAX_DIMS) return 0;
        for (int i = 0; i < s.rank; i++) {
            s.dims[i] = (int64_t)a->c[i];
            if (!(a->c[i] >= 0 && a->c[i] <= (double)(1 << 28))) return 0;
        }
        if (lmg_shape_numel(&s) > ((int64_t)1 << 28)) return 0;
        const Onnx__AttributeProto *v = attr(n, "value");
        double fill = 0;
        int dt = 1;
        if (v && v->t) {
            double *c;
            lmg_shape vs;
            if (tensor_values(m, v->t, &vs, &c) != LMG_OK) return -1;
            fill = c[0];
            dt = v->t->data_type;
            free(c);
        }
        if (!(y = const_out(m, n, dt, &s))) return -1;
        for (int64_t i = 0; i < lmg_shape_numel(&s); i++) y->c[i] = fill;
        return 1;
    }
    if (strcmp(op, "Trilu") == 0 && a && a->shape.rank >= 2) {
        int64_t k = b ? (int64_t)b->c[0] : 0, up = attr_i(n, "upper", 1);
        int r = a->shape.rank;
        int64_t R = a->shape.dims[r - 2], C = a->shape.dims[r - 1];
        if (!(y = const_out(m, n, a->dtype, &a->shape))) return -1;
        for (int64_t i = 0; i < na; i++) {
            int64_t row = (i / C) % R, col = i % C;
            int keep = up ? col - row >= k : col - row <= k;
            y->c[i] = keep ? a->c[i] : 0;
        }
        return 1;
    }
    return 0;
}

/* Append lmg node `op` over lmg value ids; output 0 named after ONNX output k. */
static int mk(im *m, lmg_op op, const char *out_name, const int *ins, int n_in,
              const lmg_attr *attrs, int n_attr)
{
    const char *names[1] = {out_name};
    char nn[300];
    snprintf(nn, sizeof nn, "%s", out_name ? out_name : "n");
    if (out_name && lmg_graph_find(m->g, out_name) >= 0) names[0] = NULL;
    return lmg_graph_node(m->g, op, out_name ? nn : NULL, ins, n_in, attrs, n_attr,
                          out_name ? names : NULL, NULL);
}

static int bind_out(im *m, const Onnx__NodeProto *n, size_t k, int v)
{
    if (v < 0) return -1;
    ival *y = add(m, n->output[k]);
    if (!y) return -1;
    y->v = v;
    return 0;
}

/* Reshape x (lmg id) to s, named as ONNX output 0. */
static int reshape_to(im *m, const char *out, int x, const lmg_shape *s)
{
    lmg_attr a = lmg_attr_ints("shape", s->rank, s->dims);
    int r = mk(m, LMG_OP_RESHAPE, out, &x, 1, &a, 1);
    return r;
}

static int scalar_f(im *m, float v) { return lmg_graph_scalar(m->g, v); }

/* ONNX operators that are one op of ops/elementwise.def (its ONNX column, 0 for none). */
static const struct { const char *onnx; lmg_op op; int n_in; } same[] = {
#define LMG_EW_UNARY(E, ONNX, ...) {ONNX, LMG_OP_##E, 1},
#define LMG_EW_BINARY(E, ONNX, ...) {ONNX, LMG_OP_##E, 2},
#define LMG_EW_BINARY_I32 LMG_EW_BINARY
#include "../ops/elementwise.def"
#undef LMG_EW_UNARY
#undef LMG_EW_BINARY
#undef LMG_EW_BINARY_I32
};

/* The other ONNX ops this importer knows, when their operands are tensors. */
static const char *const mapped_ops[] = {
    "Reciprocal", "MatMul", "Gemm", "Softmax", "LogSoftmax", "LayerNormalization",
    "Gather", "Reshape", "Transpose", "Slice", "Concat", "Squeeze", "Unsqueeze", "Flatten",
    "Identity", "Dropout", "ReduceSum", "ReduceMean", "Where", "Cast", "Expand", "ArgMax",
    "Constant", "Shape", "ConstantOfShape", "Trilu", "Pow", "Gelu", "GatherElements", NULL};

static int known(const char *op)
{
    for (int i = 0; mapped_ops[i]; i++)
        if (strcmp(mapped_ops[i], op) == 0) return 1;
    for (size_t i = 0; i < sizeof same / sizeof *same; i++)
        if (same[i].onnx && strcmp(same[i].onnx, op) == 0) return 1;
    return 0;
}

/* Map one node with tensor operands. LMG_OK, or LMG_ERR_UNSUPPORTED with a short reason in
 * *why (the caller collects them). */
static lmg_status map_node(im *m, const Onnx__NodeProto *n, char *why, size_t nw)
{
    const char *op = n->op_type, *out = n->n_output ? n->output[0] : NULL;
    ival *a = input(m, n, 0), *b = input(m, n, 1), *c = input(m, n, 2);
    for (size_t k = 0; k < n->n_input; k++)
        if (n->input[k][0] && !find(m, n->input[k]))
            return snprintf(why, nw, "input '%s' is not defined", n->input[k]), LMG_ERR_UNSUPPORTED;
    if (!a) return snprintf(why, nw, "needs an input"), LMG_ERR_UNSUPPORTED;
    int x = data_of(m, a), r = -1;
    if (x < 0) return m->g->status ? m->g->status : lmg_error(LMG_ERR_NOMEM, "out of memory");
    static const struct { const char *op; int n; } arity[] = {
        {"MatMul", 2}, {"Gemm", 2}, {"Gather", 2}, {"Where", 3}, {"Expand", 2}, {"Reshape", 2},
        {"Slice", 3}, {"Pow", 2}, {"GatherElements", 2}};
    for (size_t i = 0; i < sizeof arity / sizeof *arity; i++)
        if (strcmp(op, arity[i].op) == 0)
            for (int k = 0; k < arity[i].n; k++)
                if (!input(m, n, (size_t)k))
                    return snprintf(why, nw, "input %d is missing", k), LMG_ERR_UNSUPPORTED;
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        if (!same[i].onnx || strcmp(op, same[i].onnx) != 0) continue;
        if (same[i].n_in == 2 && (!b || n->n_input != 2))
            return snprintf(why, nw, "needs two inputs"), LMG_ERR_UNSUPPORTED;
        r = same[i].n_in == 1 ? mk(m, same[i].op, out, &x, 1, NULL, 0)
                              : mk(m, same[i].op, out, (int[]){x, data_of(m, b)}, 2, NULL, 0);
        return bind_out(m, n, 0, r) ? m->g->status : LMG_OK;
    }
    const lmg_shape *xs = &m->g->values[x].shape;
    if (strcmp(op, "Reciprocal") == 0) {
        r = mk(m, LMG_OP_DIV, out, (int[]){scalar_f(m, 1.0f), x}, 2, NULL, 0);
    } else if (strcmp(op, "Pow") == 0) {
        if (!b || !b->is_const || lmg_shape_numel(&b->shape) != 1)
            return snprintf(why, nw, "exponent is not a constant"), LMG_ERR_UNSUPPORTED;
        double p = b->c[0];
        if (p == 2.0) r = mk(m, LMG_OP_MUL, out, (int[]){x, x}, 2, NULL, 0);
        else if (p == 3.0) r = mk(m, LMG_OP_MUL, out, (int[]){lmg_mul(m->g, x, x), x}, 2, NULL, 0);
        else if (p == 0.5) r = mk(m, LMG_OP_SQRT, out, &x, 1, NULL, 0);
        else if (p == 1.0) r = x;
        else return snprintf(why, nw, "exponent %g (2, 3, 0.5 map)", p), LMG_ERR_UNSUPPORTED;
    } else if (strcmp(op, "Gelu") == 0) { /* opset 20 */
        const Onnx__AttributeProto *ap = attr(n, "approximate");
        if (!ap || ap->s.len != 4 || memcmp(ap->s.data, "tanh", 4) != 0)
            return snprintf(why, nw, "the erf form (lmgraph's GELU is the tanh form)"), LMG_ERR_UNSUPPORTED;
        r = mk(m, LMG_OP_GELU, out, &x, 1, NULL, 0);
    } else if (strcmp(op, "MatMul") == 0) {
        r = mk(m, LMG_OP_MATMUL, out, (int[]){x, data_of(m, b)}, 2, NULL, 0);
    } else if (strcmp(op, "Gemm") == 0) {
        lmg_attr t[2] = {lmg_attr_int("trans_a", attr_i(n, "transA", 0)),
                         lmg_attr_int("trans_b", attr_i(n, "transB", 0))};
        double al = attr_f(n, "alpha", 1.0), be = attr_f(n, "beta", 1.0);
        r = mk(m, LMG_OP_MATMUL, c || al != 1.0 ? NULL : out, (int[]){x, data_of(m, b)}, 2, t, 2);
        if (al != 1.0) r = c ? lmg_scale(m->g, r, al, 0.0)
                             : mk(m, LMG_OP_SCALE, out, &r, 1, (lmg_attr[]){lmg_attr_float("alpha", al)}, 1);
        if (c) {
            int cv = data_of(m, c);
            if (be != 1.0) cv = lmg_scale(m->g, cv, be, 0.0);
            r = mk(m, LMG_OP_ADD, out, (int[]){r, cv}, 2, NULL, 0);
        }
    } else if (strcmp(op, "Softmax") == 0 || strcmp(op, "LogSoftmax") == 0) {
        int64_t ax = attr_i(n, "axis", -1);
        if (ax != -1 && ax != xs->rank - 1)
            return snprintf(why, nw, "axis %lld (the last axis maps)", (long long)ax), LMG_ERR_UNSUPPORTED;
        r = mk(m, op[0] == 'S' ? LMG_OP_SOFTMAX : LMG_OP_LOG_SOFTMAX, out, &x, 1, NULL, 0);
    } else if (strcmp(op, "LayerNormalization") == 0) {
        int64_t ax = attr_i(n, "axis", -1);
        if ((ax != -1 && ax != xs->rank - 1) || !b || !c)
            return snprintf(why, nw, "axis %lld or no bias (the last axis with scale and bias maps)",
                            (long long)ax), LMG_ERR_UNSUPPORTED;
        lmg_attr e = lmg_attr_float("eps", (float)attr_f(n, "epsilon", 1e-5));
        int outs[3];
        char nm[300];
        snprintf(nm, sizeof nm, "%s", out);
        const char *on[3] = {lmg_graph_find(m->g, out) >= 0 ? NULL : out, NULL, NULL};
        r = lmg_graph_node(m->g, LMG_OP_LAYER_NORM, nm, (int[]){x, data_of(m, b), data_of(m, c)}, 3,
                           &e, 1, on, outs);
        for (size_t k = 1; r >= 0 && k < n->n_output && k < 3; k++) {
            if (!n->output[k][0]) continue;
            lmg_shape s = m->g->values[outs[k]].shape; /* keep the normalised axis: [..., 1] */
            s.dims[s.rank++] = 1;
            if (bind_out(m, n, k, reshape_to(m, n->output[k], outs[k], &s))) return m->g->status;
        }
    } else if (strcmp(op, "Gather") == 0) {
        if (attr_i(n, "axis", 0) != 0 || xs->rank != 2)
            return snprintf(why, nw, "gathers axis %lld of a rank-%d tensor (rows of a matrix map)",
                            (long long)attr_i(n, "axis", 0), xs->rank), LMG_ERR_UNSUPPORTED;
        r = mk(m, LMG_OP_EMBEDDING, out, (int[]){x, data_of(m, b)}, 2, NULL, 0);
    } else if (strcmp(op, "GatherElements") == 0) {
        int idx = data_of(m, b);
        if (idx < 0) return m->g->status ? m->g->status : lmg_error(LMG_ERR_NOMEM, "out of memory");
        const lmg_shape *is = &m->g->values[idx].shape;
        int64_t ax = attr_i(n, "axis", 0);
        if (ax < 0) ax += xs->rank;
        if (ax != xs->rank - 1 || is->rank != xs->rank)
            return snprintf(why, nw, "axis %lld of rank %d data (the last axis maps)",
                            (long long)attr_i(n, "axis", 0), xs->rank), LMG_ERR_UNSUPPORTED;
        for (int i = 0; i < xs->rank - 1; i++)
            if (is->dims[i] != xs->dims[i])
                return snprintf(why, nw, "indices' dim %d is %lld, the data's %lld (TakeAlong "
                                "wants them equal)", i, (long long)is->dims[i],
                                (long long)xs->dims[i]), LMG_ERR_UNSUPPORTED;
        /* ONNX counts a negative index from the end where TakeAlong gives 0: i + N where
         * Relu(-i) is not 0, in f32 (exact below 2^24). */
        lmg_attr tf = lmg_attr_int("to", LMG_DTYPE_F32), ti = lmg_attr_int("to", LMG_DTYPE_I32);
        int f = mk(m, LMG_OP_CAST, NULL, &idx, 1, &tf, 1);
        int neg = lmg_unary(m->g, LMG_OP_RELU, lmg_neg(m->g, f));
        int wrapped = mk(m, LMG_OP_WHERE, NULL,
                         (int[]){neg, lmg_scale(m->g, f, 1.0, (double)xs->dims[xs->rank - 1]), f},
                         3, NULL, 0);
        int i32 = mk(m, LMG_OP_CAST, NULL, &wrapped, 1, &ti, 1);
        r = mk(m, LMG_OP_TAKE_ALONG, out, (int[]){x, i32}, 2, NULL, 0);
    } else if (strcmp(op, "Reshape") == 0 || strcmp(op, "Squeeze") == 0 ||
               strcmp(op, "Unsqueeze") == 0 || strcmp(op, "Flatten") == 0) {
        lmg_shape s = *xs;
        if (op[0] == 'R') {
            if (!b || !b->is_const) return snprintf(why, nw, "shape is not a constant"), LMG_ERR_UNSUPPORTED;
            if (lmg_shape_numel(&b->shape) > LMG_MAX_DIMS)
                return snprintf(why, nw, "more than 8 dims"), LMG_ERR_UNSUPPORTED;
            s.rank = (int)lmg_shape_numel(&b->shape);
            int64_t known_n = 1, minus = -1;
            for (int i = 0; i < s.rank; i++) {
                int64_t d = (int64_t)b->c[i];
                if (d == 0 && !attr_i(n, "allowzero", 0)) {
                    if (i >= xs->rank) return snprintf(why, nw, "copies dim %d of a rank-%d input", i, xs->rank), LMG_ERR_UNSUPPORTED;
                    d = xs->dims[i];
                }
                if (d < -1 || (d == -1 && minus >= 0)) return snprintf(why, nw, "bad target dim %lld", (long long)d), LMG_ERR_UNSUPPORTED;
                if (d == -1) minus = i, d = 1;
                s.dims[i] = d;
                known_n *= d;
            }
            if (minus >= 0) s.dims[minus] = known_n ? lmg_shape_numel(xs) / known_n : 0;
        } else if (op[0] == 'F') {
            int64_t ax = attr_i(n, "axis", 1), lo = 1;
            if (ax < 0) ax += xs->rank;
            if (ax < 0 || ax > xs->rank) return snprintf(why, nw, "axis out of range"), LMG_ERR_UNSUPPORTED;
            for (int i = 0; i < ax; i++) lo *= xs->dims[i];
            s = lmg_shape_make(2, (int64_t[]){lo, lo ? lmg_shape_numel(xs) / lo : 0});
        } else {
            int64_t axes[LMG_MAX_DIMS];
            int na = 0;
            const Onnx__AttributeProto *aa = attr(n, "axes");
            if (b && b->is_const) for (int64_t i = 0; i < lmg_shape_numel(&b->shape) && na < 8; i++) axes[na++] = (int64_t)b->c[i];
            else if (aa) for (size_t i = 0; i < aa->n_ints && na < 8; i++) axes[na++] = aa->ints[i];
            int rank = op[0] == 'U' ? xs->rank + na : xs->rank;
            if (rank > LMG_MAX_DIMS) return snprintf(why, nw, "more than 8 dims"), LMG_ERR_UNSUPPORTED;
            for (int i = 0; i < na; i++) {
                if (axes[i] < 0) axes[i] += rank;
                if (axes[i] < 0 || axes[i] >= rank)
                    return snprintf(why, nw, "axis out of range"), LMG_ERR_UNSUPPORTED;
            }
            if (op[0] == 'U') {
                int mark[LMG_MAX_DIMS] = {0};
                for (int i = 0; i < na; i++) mark[axes[i]] = 1;
                s.rank = rank;
                for (int i = 0, j = 0; i < rank; i++) s.dims[i] = mark[i] ? 1 : xs->dims[j++];
            } else {
                int drop[LMG_MAX_DIMS] = {0};
                for (int i = 0; i < na; i++) drop[axes[i]] = 1;
                s.rank = 0;
                for (int i = 0; i < xs->rank; i++)
                    if (!(na ? drop[i] : xs->dims[i] == 1)) s.dims[s.rank++] = xs->dims[i];
            }
        }
        r = reshape_to(m, out, x, &s);
    } else if (strcmp(op, "Transpose") == 0) {
        const Onnx__AttributeProto *p = attr(n, "perm");
        int64_t perm[LMG_MAX_DIMS];
        if (p && (int)p->n_ints != xs->rank)
            return snprintf(why, nw, "perm of %zu for rank %d", p->n_ints, xs->rank), LMG_ERR_UNSUPPORTED;
        for (int i = 0; i < xs->rank; i++) perm[i] = p ? p->ints[i] : xs->rank - 1 - i;
        lmg_attr t = lmg_attr_ints("perm", xs->rank, perm);
        r = mk(m, LMG_OP_TRANSPOSE, out, &x, 1, &t, 1);
    } else if (strcmp(op, "Slice") == 0) {
        ival *ax = input(m, n, 3), *st = input(m, n, 4);
        if (!b || !c || !b->is_const || !c->is_const || (ax && !ax->is_const) || (st && !st->is_const))
            return snprintf(why, nw, "starts, ends, axes are not constants"), LMG_ERR_UNSUPPORTED;
        int64_t cnt = lmg_shape_numel(&b->shape);
        if (cnt > LMG_MAX_DIMS || lmg_shape_numel(&c->shape) != cnt || (ax && lmg_shape_numel(&ax->shape) != cnt) ||
            (st && lmg_shape_numel(&st->shape) != cnt))
            return snprintf(why, nw, "starts, ends, axes, steps differ in length"), LMG_ERR_UNSUPPORTED;
        r = x;
        for (int64_t i = 0; i < cnt; i++) {
            if (st && st->c[i] != 1) return snprintf(why, nw, "step %g (1 maps)", st->c[i]), LMG_ERR_UNSUPPORTED;
            int64_t axis = ax ? (int64_t)ax->c[i] : i;
            int rank = m->g->values[r].shape.rank;
            if (axis < -rank || axis >= rank) return snprintf(why, nw, "axis out of range"), LMG_ERR_UNSUPPORTED;
            int64_t dim = m->g->values[r].shape.dims[axis < 0 ? axis + rank : axis];
            double s0 = b->c[i], e0 = c->c[i];
            int64_t s1 = (int64_t)(s0 < -(double)dim ? -(double)dim : s0 > (double)dim ? (double)dim : s0);
            int64_t e1 = (int64_t)(e0 > (double)dim ? (double)dim : e0 < -(double)dim ? -(double)dim : e0);
            if (s1 < 0) s1 += dim;
            if (e1 < 0) e1 += dim;
            if (e1 < s1) e1 = s1;
            lmg_attr sa[3] = {lmg_attr_int("axis", axis), lmg_attr_int("start", s1), lmg_attr_int("end", e1)};
            r = mk(m, LMG_OP_SLICE, i + 1 == cnt ? out : NULL, &r, 1, sa, 3);
        }
    } else if (strcmp(op, "Concat") == 0) {
        int ins[64];
        if (n->n_input > 64) return snprintf(why, nw, "more than 64 inputs"), LMG_ERR_UNSUPPORTED;
        for (size_t k = 0; k < n->n_input; k++) {
            ival *in = input(m, n, k);
            if (!in || (ins[k] = data_of(m, in)) < 0) return snprintf(why, nw, "input %zu is missing", k), LMG_ERR_UNSUPPORTED;
        }
        lmg_attr aa = lmg_attr_int("axis", attr_i(n, "axis", 0));
        r = mk(m, LMG_OP_CONCAT, out, ins, (int)n->n_input, &aa, 1);
    } else if (strcmp(op, "Identity") == 0 || strcmp(op, "Dropout") == 0) {
        r = x; /* inference: dropout is the identity */
    } else if (strcmp(op, "ReduceSum") == 0 || strcmp(op, "ReduceMean") == 0) {
        int64_t axes[LMG_MAX_DIMS];
        int na = 0;
        const Onnx__AttributeProto *aa = attr(n, "axes");
        if (b && b->is_const) for (int64_t i = 0; i < lmg_shape_numel(&b->shape) && na < 8; i++) axes[na++] = (int64_t)b->c[i];
        else if (aa) for (size_t i = 0; i < aa->n_ints && na < 8; i++) axes[na++] = aa->ints[i];
        else if (b) return snprintf(why, nw, "axes are not constants"), LMG_ERR_UNSUPPORTED;
        if (na == 0 && attr_i(n, "noop_with_empty_axes", 0)) r = x;
        else {
            lmg_attr ra[2] = {lmg_attr_ints("axes", na, axes), lmg_attr_int("keepdims", attr_i(n, "keepdims", 1))};
            r = mk(m, op[6] == 'S' ? LMG_OP_REDUCE_SUM : LMG_OP_REDUCE_MEAN, out, &x, 1, ra, 2);
        }
    } else if (strcmp(op, "Where") == 0) {
        r = mk(m, LMG_OP_WHERE, out, (int[]){x, data_of(m, b), data_of(m, c)}, 3, NULL, 0);
    } else if (strcmp(op, "Cast") == 0) {
        int to = (int)attr_i(n, "to", 1);
        lmg_dtype t = lmg_type(to);
        if (to == 9 || t == m->g->values[x].dtype) {
            r = x; /* bool: lmgraph's Where tests != 0; f32/f64 are both lmgraph's f32 */
            /* A cast back to float closing a double-precision step (lmgraph's own exports
             * sum in double) names the value it closes, so a re-export names it alike. */
            lmg_value *xv = &m->g->values[x];
            if (to == 1 && xv->producer >= 0 && xv->producer == m->g->n_nodes - 1 &&
                lmg_graph_find(m->g, out) < 0) {
                lmg_node *pn = &m->g->nodes[xv->producer];
                char *nn = strdup(out);
                if (nn && lmg_graph_rename(m->g, x, out) == LMG_OK) {
                    free(pn->name);
                    pn->name = nn;
                } else {
                    free(nn);
                }
            }
        } else {
            lmg_attr ta = lmg_attr_int("to", t);
            r = mk(m, LMG_OP_CAST, out, &x, 1, &ta, 1);
        }
    } else if (strcmp(op, "Expand") == 0) {
        if (!b || !b->is_const) return snprintf(why, nw, "shape is not a constant"), LMG_ERR_UNSUPPORTED;
        lmg_shape s;
        if (lmg_shape_numel(&b->shape) > LMG_MAX_DIMS) return snprintf(why, nw, "more than 8 dims"), LMG_ERR_UNSUPPORTED;
        s.rank = (int)lmg_shape_numel(&b->shape);
        int rank = s.rank > xs->rank ? s.rank : xs->rank;
        lmg_shape t2;
        t2.rank = rank;
        for (int i = 0; i < rank; i++) {
            int is = i - (rank - s.rank), ix = i - (rank - xs->rank);
            int64_t ds = is >= 0 ? (int64_t)b->c[is] : 1, dx = ix >= 0 ? xs->dims[ix] : 1;
            t2.dims[i] = ds == 1 ? dx : ds;
        }
        lmg_attr ea = lmg_attr_ints("shape", t2.rank, t2.dims);
        r = mk(m, LMG_OP_EXPAND, out, &x, 1, &ea, 1);
    } else if (strcmp(op, "ArgMax") == 0) {
        int64_t ax = attr_i(n, "axis", 0);
        if ((ax != -1 && ax != xs->rank - 1) || attr_i(n, "keepdims", 1) || attr_i(n, "select_last_index", 0))
            return snprintf(why, nw, "not the last axis with keepdims 0"), LMG_ERR_UNSUPPORTED;
        r = mk(m, LMG_OP_ARGMAX, out, &x, 1, NULL, 0);
    } else {
        return snprintf(why, nw, "no lmgraph form for these operands"), LMG_ERR_UNSUPPORTED;
    }
    if (m->g->status != LMG_OK) return m->g->status;
    return bind_out(m, n, 0, r) ? lmg_error(LMG_ERR_NOMEM, "out of memory") : LMG_OK;
}

/* ---- the model ------------------------------------------------------------------------ */

static lmg_status import_graph(im *m, const Onnx__GraphProto *gp)
{
    /* Initializers: host constants until an op uses them as data. */
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *t = gp->initializer[i];
        ival *v = add(m, t->name);
        if (!v) return lmg_error(LMG_ERR_NOMEM, "out of memory");
        LMG_TRY(tensor_values(m, t, &v->shape, &v->c));
        v->is_const = 1;
        v->init = 1;
        v->dtype = t->data_type;
        /* Weights are parameters; scalars and lmgraph's own exported constants are not. */
        v->param = (t->data_type == 1 || t->data_type == 11) && lmg_shape_numel(&v->shape) > 1 &&
                   strncmp(t->name, "const/", 6) != 0;
    }
    /* Inputs that are not initializers, with static shapes. */
    char unresolved[512] = "";
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (!vi->name) return lmg_error(LMG_ERR_PARSE, "input %zu has no name", i);
        if (find(m, vi->name)) continue;
        const Onnx__TypeProto *tp = vi->type;
        if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type->shape)
            return lmg_error(LMG_ERR_UNSUPPORTED, "input '%s' is not a tensor of known rank", vi->name);
        int et = tp->tensor_type->elem_type;
        if (et != 1 && et != 6 && et != 7 && et != 11)
            return lmg_error(LMG_ERR_UNSUPPORTED, "input '%s' has data type %d (float or int maps)",
                             vi->name, et);
        const Onnx__TensorShapeProto *sp = tp->tensor_type->shape;
        lmg_shape s;
        if (sp->n_dim > LMG_MAX_DIMS)
            return lmg_error(LMG_ERR_UNSUPPORTED, "input '%s' has %zu dims (at most 8)", vi->name, sp->n_dim);
        s.rank = (int)sp->n_dim;
        for (int d = 0; d < s.rank; d++) {
            const Onnx__TensorShapeProto__Dimension *dm = sp->dim[d];
            s.dims[d] = -1;
            if (dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
                s.dims[d] = dm->dim_value;
            else if (dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM)
                for (int k = 0; k < m->o->n_dims; k++)
                    if (strcmp(m->o->dim_names[k], dm->dim_param) == 0) s.dims[d] = m->o->dim_values[k];
            if (s.dims[d] < 0)
                snprintf(unresolved + strlen(unresolved), sizeof unresolved - strlen(unresolved),
                         "%s%s[%d] (%s)", unresolved[0] ? ", " : "", vi->name, d,
                         dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
                             ? dm->dim_param : "no size");
        }
        if (unresolved[0]) continue;
        ival *v = add(m, vi->name);
        if (!v) return lmg_error(LMG_ERR_NOMEM, "out of memory");
        v->v = lmg_graph_input(m->g, vi->name, lmg_type(et), s);
        if (v->v < 0) return m->g->status;
    }
    if (unresolved[0])
        return lmg_error(LMG_ERR_ARG, "symbolic dims need sizes (--dim NAME=N): %s", unresolved);
    /* A well-formed node has an op and named outputs; names are present everywhere. */
    for (size_t i = 0; i < gp->n_initializer; i++)
        if (!gp->initializer[i]->name) return lmg_error(LMG_ERR_PARSE, "initializer %zu has no name", i);
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *n = gp->node[i];
        if (!n->op_type || n->n_output < 1 || !n->output[0][0])
            return lmg_error(LMG_ERR_PARSE, "node %zu ('%s') has no op or no output", i,
                             n->name ? n->name : "");
        for (size_t k = 0; k < n->n_attribute; k++)
            if (!n->attribute[k]->name)
                return lmg_error(LMG_ERR_PARSE, "node %zu has an attribute without a name", i);
    }
    for (size_t i = 0; i < gp->n_output; i++)
        if (!gp->output[i]->name) return lmg_error(LMG_ERR_PARSE, "output %zu has no name", i);
    /* Which ops do not map at all: list every one with its nodes. */
    char *list = NULL;
    size_t len = 0;
    int bad = 0;
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *n = gp->node[i];
        if ((n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0) || !known(n->op_type)) {
            char item[400];
            snprintf(item, sizeof item, "%s%s%s (node '%s')", bad ? ", " : "",
                     n->domain && n->domain[0] ? n->domain : "", n->op_type,
                     n->name && n->name[0] ? n->name : n->output[0]);
            char *nl = realloc(list, len + strlen(item) + 1);
            if (!nl) return free(list), lmg_error(LMG_ERR_NOMEM, "out of memory");
            list = nl;
            strcpy(list + len, item);
            len += strlen(item);
            bad++;
        }
    }
    if (bad) {
        lmg_status s = lmg_error(LMG_ERR_UNSUPPORTED, "%d nodes have ops that do not map onto "
                                 "lmgraph's: %s", bad, list);
        free(list);
        return s;
    }
    /* Map node by node; what fails is collected, so the error lists every one. */
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *n = gp->node[i];
        int f = fold(m, n);
        if (f < 0) return lmg_error_prefix(LMG_ERR_PARSE, "node '%s' (%s)", n->name, n->op_type);
        if (f > 0) continue;
        char why[200] = "";
        lmg_status s = map_node(m, n, why, sizeof why);
        if (s == LMG_ERR_UNSUPPORTED && why[0]) {
            char item[500];
            snprintf(item, sizeof item, "%s%s (node '%s'): %s", bad ? "; " : "", n->op_type,
                     n->name && n->name[0] ? n->name : n->output[0], why);
            char *nl = realloc(list, len + strlen(item) + 1);
            if (!nl) return free(list), lmg_error(LMG_ERR_NOMEM, "out of memory");
            list = nl;
            strcpy(list + len, item);
            len += strlen(item);
            bad++;
            /* Later nodes that read its outputs are unknown too: mark them constant zero. */
            for (size_t k = 0; k < n->n_output; k++) {
                ival *y = add(m, n->output[k]);
                if (!y) return free(list), lmg_error(LMG_ERR_NOMEM, "out of memory");
                y->is_const = 1, y->shape = lmg_shape_make(0, NULL), y->dtype = 1;
                y->c = calloc(1, sizeof *y->c);
            }
            continue;
        }
        if (s != LMG_OK) {
            free(list);
            return lmg_error_prefix(s, "node '%s' (%s)", n->name, n->op_type);
        }
    }
    if (bad) {
        lmg_status s = lmg_error(LMG_ERR_UNSUPPORTED, "%d nodes do not map onto lmgraph's ops: %s",
                                 bad, list);
        free(list);
        return s;
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        ival *v = find(m, gp->output[i]->name);
        if (!v) return lmg_error(LMG_ERR_INVALID, "output '%s' is not computed", gp->output[i]->name);
        int id = data_of(m, v);
        if (id < 0) return m->g->status ? m->g->status : lmg_error(LMG_ERR_NOMEM, "out of memory");
        if (strcmp(m->g->values[id].name, gp->output[i]->name) != 0 &&
            lmg_graph_find(m->g, gp->output[i]->name) < 0)
            LMG_TRY(lmg_graph_rename(m->g, id, gp->output[i]->name));
        LMG_TRY(lmg_graph_add_output(m->g, id));
    }
    return LMG_OK;
}

lmg_status lmg_onnx_import(const char *path, const lmg_onnx_import_opts *o, lmg_graph **out)
{
    char *buf;
    size_t n;
    *out = NULL;
    LMG_TRY(lmg_read_file(path, &buf, &n));
    lmg_status s = lmg_onnx_import_bytes(buf, n, path, o, out);
    free(buf);
    return s;
}

lmg_status lmg_onnx_import_bytes(const void *bytes, size_t n, const char *path,
                                 const lmg_onnx_import_opts *o, lmg_graph **out)
{
    *out = NULL;
    lmg_onnx_import_opts dflt = {0};
    dflt.trainable = 1;
    if (!o) o = &dflt;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, n, (const uint8_t *)bytes);
    if (!mp || !mp->graph) {
        if (mp) onnx__model_proto__free_unpacked(mp, NULL);
        return lmg_error(LMG_ERR_PARSE, "%s: not an ONNX model (protobuf ModelProto)", path);
    }
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *os = mp->opset_import[i];
        if ((!os->domain || !os->domain[0]) && os->version < 13) {
            lmg_status s = lmg_error(LMG_ERR_VERSION, "%s: opset %lld; the importer reads 13 and "
                                     "later", path, (long long)os->version);
            onnx__model_proto__free_unpacked(mp, NULL);
            return s;
        }
    }
    im m;
    memset(&m, 0, sizeof m);
    m.o = o;
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) + 1 : 0;
    m.model_dir = malloc(dl + 1);
    m.g = lmg_graph_new(mp->graph->name && mp->graph->name[0] ? mp->graph->name : "onnx");
    lmg_status s = m.model_dir && m.g ? LMG_OK : lmg_error(LMG_ERR_NOMEM, "out of memory");
    if (s == LMG_OK) {
        memcpy(m.model_dir, path, dl);
        m.model_dir[dl] = 0;
        s = import_graph(&m, mp->graph);
    }
    for (size_t i = 0; s == LMG_OK && i < mp->n_metadata_props; i++)
        s = lmg_graph_set_meta(m.g, mp->metadata_props[i]->key, mp->metadata_props[i]->value);
    if (s == LMG_OK && mp->producer_name) s = lmg_graph_set_meta(m.g, "onnx.producer", mp->producer_name);
    if (s == LMG_OK) s = lmg_graph_verify(m.g);
    if (s != LMG_OK) {
        s = lmg_error_prefix(s, "%s", path);
        lmg_graph_free(m.g);
    } else {
        *out = m.g;
    }
    for (int i = 0; i < m.n; i++) free(m.vals[i].c);
    free(m.vals);
    free(m.model_dir);
    onnx__model_proto__free_unpacked(mp, NULL);
    return s;
}
