/* onnx_ir.c — the exporter's in-memory ONNX graph and its serialisation as an ONNX ModelProto
 * through the protobuf-c code generated from Debian's onnx.proto, external data included. */
#include "onnx_ir.h"
#include "onnx.h"
#include "onnx/onnx.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct oblk {
    oblk *next;
    size_t used, cap;
    max_align_t data[];
};

void *oir_alloc(oir *ir, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!ir->arena || ir->arena->used + n > ir->arena->cap) {
        size_t cap = n > ((size_t)1 << 16) ? n : ((size_t)1 << 16);
        oblk *b = malloc(sizeof *b + cap);
        if (!b) {
            ir->oom = 1;
            return NULL;
        }
        b->next = ir->arena;
        b->used = 0;
        b->cap = cap;
        ir->arena = b;
    }
    char *p = (char *)ir->arena->data + ir->arena->used;
    ir->arena->used += n;
    memset(p, 0, n);
    return p;
}

const char *oir_strf(oir *ir, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = oir_alloc(ir, (size_t)n + 1);
    if (!s) return "";
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

const int64_t *oir_ints(oir *ir, int n, const int64_t *v)
{
    int64_t *p = oir_alloc(ir, (size_t)(n > 0 ? n : 1) * sizeof *p);
    if (p && n > 0) memcpy(p, v, (size_t)n * sizeof *p);
    return p;
}

static int grow(oir *ir, void **arr, int *cap, int n, size_t elem)
{
    if (n < *cap) return 1;
    int nc = *cap ? *cap * 2 : 64;
    void *na = realloc(*arr, (size_t)nc * elem);
    if (!na) {
        ir->oom = 1;
        return 0;
    }
    memset((char *)na + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *arr = na;
    *cap = nc;
    return 1;
}

onode *oir_node(oir *ir, const char *op, const char *base, int n_in, const char *const *in,
                int n_out, const char *const *out)
{
    if (!grow(ir, (void **)&ir->nodes, &ir->cap_nodes, ir->n_nodes, sizeof *ir->nodes)) return NULL;
    onode *n = &ir->nodes[ir->n_nodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->name = oir_strf(ir, "%s/%d", base ? base : "lmgraph", ir->n_nodes);
    n->in = oir_alloc(ir, (size_t)(n_in + 1) * sizeof *n->in);
    n->out = oir_alloc(ir, (size_t)(n_out + 1) * sizeof *n->out);
    if (!n->in || !n->out) return NULL;
    for (int i = 0; i < n_in; i++) n->in[i] = in[i] ? in[i] : "";
    for (int i = 0; i < n_out; i++) n->out[i] = out[i];
    n->n_in = n_in;
    n->n_out = n_out;
    ir->n_nodes++;
    return n;
}

void oir_attr(oir *ir, onode *n, const oattr *a)
{
    if (!n) return;
    if (n->n_attr == n->cap_attr) {
        int nc = n->cap_attr ? n->cap_attr * 2 : 4;
        oattr *na = oir_alloc(ir, (size_t)nc * sizeof *na);
        if (!na) return;
        if (n->n_attr) memcpy(na, n->attr, (size_t)n->n_attr * sizeof *na);
        n->attr = na;
        n->cap_attr = nc;
    }
    n->attr[n->n_attr++] = *a;
}

otensor *oir_init(oir *ir, const char *name, int dtype, int rank, const int64_t *dims,
                  const void *data, size_t nbytes, int copy)
{
    if (!grow(ir, (void **)&ir->inits, &ir->cap_init, ir->n_init, sizeof *ir->inits)) return NULL;
    otensor *t = &ir->inits[ir->n_init];
    t->name = name;
    t->dtype = dtype;
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
    t->nbytes = nbytes;
    if (!data || copy) {
        void *p = oir_alloc(ir, nbytes ? nbytes : 1);
        if (!p) return NULL;
        if (data) memcpy(p, data, nbytes);
        data = p;
    }
    t->data = data;
    ir->n_init++;
    return t;
}

static oval *add_val(oir *ir, oval **arr, int *n, int *cap, const char *name, int dtype, int rank)
{
    if (!grow(ir, (void **)arr, cap, *n, sizeof **arr)) return NULL;
    oval *v = &(*arr)[(*n)++];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->dtype = dtype;
    v->rank = rank;
    return v;
}

oval *oir_input(oir *ir, const char *name, int dtype, int rank)
{
    return add_val(ir, &ir->inputs, &ir->n_inputs, &ir->cap_inputs, name, dtype, rank);
}

oval *oir_output(oir *ir, const char *name, int dtype, int rank)
{
    return add_val(ir, &ir->outputs, &ir->n_outputs, &ir->cap_outputs, name, dtype, rank);
}

void oir_meta(oir *ir, const char *k, const char *v)
{
    for (int i = 0; i < ir->n_meta; i++)
        if (strcmp(ir->meta_k[i], k) == 0) {
            ir->meta_v[i] = oir_strf(ir, "%s", v);
            return;
        }
    int cap = ir->cap_meta;
    if (!grow(ir, (void **)&ir->meta_k, &cap, ir->n_meta, sizeof *ir->meta_k)) return;
    cap = ir->cap_meta;
    if (!grow(ir, (void **)&ir->meta_v, &cap, ir->n_meta, sizeof *ir->meta_v)) return;
    ir->cap_meta = cap;
    ir->meta_k[ir->n_meta] = oir_strf(ir, "%s", k);
    ir->meta_v[ir->n_meta++] = oir_strf(ir, "%s", v);
}

void oir_free(oir *ir)
{
    while (ir->arena) {
        oblk *b = ir->arena;
        ir->arena = b->next;
        free(b);
    }
    free(ir->nodes);
    free(ir->inits);
    free(ir->inputs);
    free(ir->outputs);
    free(ir->meta_k);
    free(ir->meta_v);
    memset(ir, 0, sizeof *ir);
}

/* ---- serialisation ------------------------------------------------------------------ */

#define NEW(ir, T, INIT) new_msg(ir, sizeof(T), &(T)INIT)
static void *new_msg(oir *ir, size_t size, const void *init)
{
    void *p = oir_alloc(ir, size);
    if (p) memcpy(p, init, size);
    return p;
}

static Onnx__TensorProto *tensor_msg(oir *ir, int dtype, int rank, const int64_t *dims,
                                     const void *data, size_t nbytes)
{
    Onnx__TensorProto *t = NEW(ir, Onnx__TensorProto, ONNX__TENSOR_PROTO__INIT);
    if (!t) return NULL;
    t->has_data_type = 1;
    t->data_type = dtype;
    t->n_dims = (size_t)rank;
    t->dims = (int64_t *)oir_ints(ir, rank, dims);
    t->has_raw_data = 1;
    t->raw_data.data = (uint8_t *)data;
    t->raw_data.len = nbytes;
    return t;
}

static Onnx__AttributeProto *attr_msg(oir *ir, const oattr *a)
{
    Onnx__AttributeProto *m = NEW(ir, Onnx__AttributeProto, ONNX__ATTRIBUTE_PROTO__INIT);
    if (!m) return NULL;
    m->name = (char *)a->name;
    m->has_type = 1;
    m->type = (Onnx__AttributeProto__AttributeType)a->type;
    switch (a->type) {
    case OIR_ATTR_INT: m->has_i = 1, m->i = a->i; break;
    case OIR_ATTR_FLOAT: m->has_f = 1, m->f = a->f; break;
    case OIR_ATTR_STRING:
        m->has_s = 1;
        m->s.data = (uint8_t *)a->s;
        m->s.len = strlen(a->s);
        break;
    case OIR_ATTR_INTS: m->n_ints = (size_t)a->n, m->ints = (int64_t *)a->ints; break;
    case OIR_ATTR_TENSOR: {
        float *v = oir_alloc(ir, sizeof *v);
        if (!v) return NULL;
        *v = a->f;
        m->t = tensor_msg(ir, OIR_F32, 1, (int64_t[]){1}, v, sizeof *v);
        break;
    }
    }
    return m;
}

static Onnx__ValueInfoProto *value_msg(oir *ir, const oval *v)
{
    Onnx__ValueInfoProto *m = NEW(ir, Onnx__ValueInfoProto, ONNX__VALUE_INFO_PROTO__INIT);
    Onnx__TypeProto *t = NEW(ir, Onnx__TypeProto, ONNX__TYPE_PROTO__INIT);
    Onnx__TypeProto__Tensor *tt = NEW(ir, Onnx__TypeProto__Tensor, ONNX__TYPE_PROTO__TENSOR__INIT);
    Onnx__TensorShapeProto *sh = NEW(ir, Onnx__TensorShapeProto, ONNX__TENSOR_SHAPE_PROTO__INIT);
    Onnx__TensorShapeProto__Dimension **dims = oir_alloc(ir, (size_t)(v->rank + 1) * sizeof *dims);
    if (!m || !t || !tt || !sh || !dims) return NULL;
    for (int i = 0; i < v->rank; i++) {
        Onnx__TensorShapeProto__Dimension *d =
            NEW(ir, Onnx__TensorShapeProto__Dimension, ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT);
        if (!d) return NULL;
        if (v->params[i]) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = (char *)v->params[i];
        } else if (v->dims[i] >= 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = v->dims[i];
        }
        dims[i] = d;
    }
    sh->n_dim = (size_t)v->rank;
    sh->dim = dims;
    tt->has_elem_type = 1;
    tt->elem_type = v->dtype;
    tt->shape = sh;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tensor_type = tt;
    m->name = (char *)v->name;
    m->type = t;
    return m;
}

/* Write through a temporary file beside path, fsync, rename. */
static lmg_status write_atomic(const char *path, const void *a, size_t na)
{
    size_t len = strlen(path) + 16;
    char *tmp = malloc(len);
    if (!tmp) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    snprintf(tmp, len, "%s.tmp%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        lmg_status s = lmg_error(LMG_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        free(tmp);
        return s;
    }
    const char *p = a;
    size_t left = na;
    int ok = 1;
    while (left > 0 && ok) {
        ssize_t w = write(fd, p, left > ((size_t)1 << 30) ? ((size_t)1 << 30) : left);
        if (w <= 0) ok = 0;
        else p += w, left -= (size_t)w;
    }
    ok = ok && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    ok = ok && rename(tmp, path) == 0;
    lmg_status s = ok ? LMG_OK : lmg_error(LMG_ERR_IO, "%s: write error: %s", path, strerror(errno));
    if (!ok) unlink(tmp);
    free(tmp);
    return s;
}

lmg_status oir_write(oir *ir, const char *path, size_t ext_min, const char *ext_name)
{
    Onnx__GraphProto *g = NEW(ir, Onnx__GraphProto, ONNX__GRAPH_PROTO__INIT);
    Onnx__ModelProto *m = NEW(ir, Onnx__ModelProto, ONNX__MODEL_PROTO__INIT);
    Onnx__OperatorSetIdProto *os = NEW(ir, Onnx__OperatorSetIdProto, ONNX__OPERATOR_SET_ID_PROTO__INIT);
    if (!g || !m || !os) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    g->name = (char *)ir->graph_name;
    g->n_node = (size_t)ir->n_nodes;
    g->node = oir_alloc(ir, (size_t)(ir->n_nodes + 1) * sizeof *g->node);
    for (int i = 0; g->node && i < ir->n_nodes; i++) {
        const onode *n = &ir->nodes[i];
        Onnx__NodeProto *nm = NEW(ir, Onnx__NodeProto, ONNX__NODE_PROTO__INIT);
        if (!nm) break;
        nm->op_type = (char *)n->op;
        nm->name = (char *)n->name;
        nm->n_input = (size_t)n->n_in;
        nm->input = (char **)n->in;
        nm->n_output = (size_t)n->n_out;
        nm->output = (char **)n->out;
        nm->n_attribute = (size_t)n->n_attr;
        nm->attribute = oir_alloc(ir, (size_t)(n->n_attr + 1) * sizeof *nm->attribute);
        for (int k = 0; nm->attribute && k < n->n_attr; k++)
            nm->attribute[k] = attr_msg(ir, &n->attr[k]);
        g->node[i] = nm;
    }
    /* External data: the large initializers, 64-byte aligned, in one file. */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *ext = ext_name ? ext_name : oir_strf(ir, "%s.data", base);
    size_t ext_bytes = 0;
    for (int i = 0; i < ir->n_init; i++)
        if (ext_min && ir->inits[i].nbytes >= ext_min)
            ext_bytes = ((ext_bytes + 63) & ~(size_t)63) + ir->inits[i].nbytes;
    char *extbuf = ext_bytes ? calloc(1, ext_bytes) : NULL;
    if (ext_bytes && !extbuf) return lmg_error(LMG_ERR_NOMEM, "out of memory for external data");
    size_t off = 0;
    ir->n_external = 0;
    g->n_initializer = (size_t)ir->n_init;
    g->initializer = oir_alloc(ir, (size_t)(ir->n_init + 1) * sizeof *g->initializer);
    for (int i = 0; g->initializer && i < ir->n_init; i++) {
        const otensor *t = &ir->inits[i];
        Onnx__TensorProto *tm = tensor_msg(ir, t->dtype, t->rank, t->dims, t->data, t->nbytes);
        if (!tm) break;
        tm->name = (char *)t->name;
        if (ext_min && t->nbytes >= ext_min) {
            off = (off + 63) & ~(size_t)63;
            memcpy(extbuf + off, t->data, t->nbytes);
            tm->has_raw_data = 0;
            tm->raw_data.len = 0;
            tm->raw_data.data = NULL;
            tm->has_data_location = 1;
            tm->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
            static const char *const keys[3] = {"location", "offset", "length"};
            const char *vals[3] = {ext, oir_strf(ir, "%zu", off), oir_strf(ir, "%zu", t->nbytes)};
            tm->n_external_data = 3;
            tm->external_data = oir_alloc(ir, 3 * sizeof *tm->external_data);
            for (int k = 0; tm->external_data && k < 3; k++) {
                Onnx__StringStringEntryProto *e =
                    NEW(ir, Onnx__StringStringEntryProto, ONNX__STRING_STRING_ENTRY_PROTO__INIT);
                if (!e) break;
                e->key = (char *)keys[k];
                e->value = (char *)vals[k];
                tm->external_data[k] = e;
            }
            off += t->nbytes;
            ir->n_external++;
        }
        g->initializer[i] = tm;
    }
    g->n_input = (size_t)ir->n_inputs;
    g->input = oir_alloc(ir, (size_t)(ir->n_inputs + 1) * sizeof *g->input);
    for (int i = 0; g->input && i < ir->n_inputs; i++) g->input[i] = value_msg(ir, &ir->inputs[i]);
    g->n_output = (size_t)ir->n_outputs;
    g->output = oir_alloc(ir, (size_t)(ir->n_outputs + 1) * sizeof *g->output);
    for (int i = 0; g->output && i < ir->n_outputs; i++) g->output[i] = value_msg(ir, &ir->outputs[i]);
    os->domain = "";
    os->has_version = 1;
    os->version = LMG_ONNX_OPSET;
    m->has_ir_version = 1;
    m->ir_version = LMG_ONNX_IR_VERSION;
    m->n_opset_import = 1;
    m->opset_import = oir_alloc(ir, sizeof *m->opset_import);
    if (m->opset_import) m->opset_import[0] = os;
    m->producer_name = "lmgraph";
    m->producer_version = (char *)ir->producer_version;
    m->graph = g;
    m->n_metadata_props = (size_t)ir->n_meta;
    m->metadata_props = oir_alloc(ir, (size_t)(ir->n_meta + 1) * sizeof *m->metadata_props);
    for (int i = 0; m->metadata_props && i < ir->n_meta; i++) {
        Onnx__StringStringEntryProto *e =
            NEW(ir, Onnx__StringStringEntryProto, ONNX__STRING_STRING_ENTRY_PROTO__INIT);
        if (!e) break;
        e->key = (char *)ir->meta_k[i];
        e->value = (char *)ir->meta_v[i];
        m->metadata_props[i] = e;
    }
    if (ir->oom) {
        free(extbuf);
        return lmg_error(LMG_ERR_NOMEM, "out of memory building the ONNX model");
    }
    size_t n = onnx__model_proto__get_packed_size(m);
    if (n > ((size_t)2 << 30) - 1) {
        free(extbuf);
        return lmg_error(LMG_ERR_ARG, "%s: the model is %zu bytes, past protobuf's 2 GiB: use "
                         "external data", path, n);
    }
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        free(extbuf);
        return lmg_error(LMG_ERR_NOMEM, "out of memory serialising %zu bytes", n);
    }
    onnx__model_proto__pack(m, buf);
    lmg_status s = LMG_OK;
    if (ext_bytes) {
        /* The data file goes first: a model never names a file that is not there yet. */
        const char *dir_end = strrchr(path, '/');
        const char *ext_path = dir_end ? oir_strf(ir, "%.*s/%s", (int)(dir_end - path), path, ext)
                                       : ext;
        s = write_atomic(ext_path, extbuf, ext_bytes);
    }
    if (s == LMG_OK) s = write_atomic(path, buf, n);
    free(buf);
    free(extbuf);
    return s;
}
