/* io.c — binary .pb load and save (the only code that touches protobuf-c types), with
 * large tensors kept in a safetensors file next to the .pb. */
#include "graph.h"
#include "safetensors.h"
#include "proto/lmg.pb-c.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(LMG__DATA_TYPE__F32 == (int)LMG_DTYPE_F32 && LMG__DATA_TYPE__I32 == (int)LMG_DTYPE_I32 &&
                   LMG__DATA_TYPE__F16 == (int)LMG_DTYPE_F16 &&
                   LMG__DATA_TYPE__BF16 == (int)LMG_DTYPE_BF16,
               "lmg_dtype numbers are the on-disk DataType numbers");

/* ---- small file helpers ------------------------------------------------------------ */

/* Protobuf refuses messages of 2 GiB or more, so a larger file is not a graph. */
static lmg_status read_whole(const char *path, unsigned char **data, size_t *n)
{
    return lmg_read_file_max(path, ((uint64_t)2 << 30) - 1, (char **)data, n);
}

/* Directory part of a path ("." when none), malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* ---- loading ----------------------------------------------------------------------- */

typedef struct st_cache {
    char *path;
    lmg_st_file *f;
} st_cache;

typedef struct {
    const char *label;    /* file name for messages */
    const char *base_dir; /* where external locations are resolved */
    st_cache *cache;      /* the last safetensors header read */
} load_ctx;

static lmg_status bad(const load_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static lmg_status bad(const load_ctx *c, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lmg_error(LMG_ERR_PARSE, "%s: %s", c->label, msg);
}

/* A graph builder call failed and left its message: prefix the file's name. Running out of
 * memory stays LMG_ERR_NOMEM; anything else the builder refuses is the file's fault. */
static lmg_status builder_failed(const load_ctx *c, const lmg_graph *g)
{
    return lmg_error_prefix(g->status == LMG_ERR_NOMEM ? LMG_ERR_NOMEM : LMG_ERR_PARSE, "%s",
                            c->label);
}

static lmg_status read_type(const load_ctx *c, const char *what, const char *name, int dtype,
                            size_t n_dims, const int64_t *dims, lmg_dtype *t, lmg_shape *s)
{
    if (dtype < LMG_DTYPE_F32 || dtype > LMG_DTYPE_BF16)
        return bad(c, "%s '%s': bad dtype %d", what, name, dtype);
    if (n_dims > LMG_MAX_DIMS)
        return bad(c, "%s '%s': rank %zu is more than %d", what, name, n_dims, LMG_MAX_DIMS);
    s->rank = (int)n_dims;
    memset(s->dims, 0, sizeof s->dims);
    int64_t numel = 1;
    for (size_t i = 0; i < n_dims; i++) {
        if (dims[i] < 0 || dims[i] > ((int64_t)1 << 40) ||
            (dims[i] > 0 && numel > ((int64_t)1 << 40) / dims[i]))
            return bad(c, "%s '%s': dimension %zu is %lld (negative or too large)", what, name, i,
                       (long long)dims[i]);
        numel *= dims[i];
        s->dims[i] = dims[i];
    }
    *t = (lmg_dtype)dtype;
    return LMG_OK;
}

/* Path of an external location, refusing anything that leaves the model's directory. */
static lmg_status external_path(const load_ctx *c, const char *tensor, const char *loc, char **out)
{
    if (!loc[0]) return bad(c, "initializer '%s': external data has no location", tensor);
    if (loc[0] == '/' || strncmp(loc, "../", 3) == 0 || strstr(loc, "/../") ||
        strcmp(loc, "..") == 0 || (strlen(loc) >= 3 && strcmp(loc + strlen(loc) - 3, "/..") == 0))
        return bad(c, "initializer '%s': external location '%s' leaves the model's directory",
                   tensor, loc);
    const char *dir = c->base_dir ? c->base_dir : ".";
    size_t n = strlen(dir) + strlen(loc) + 2;
    char *p = malloc(n);
    if (!p) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    snprintf(p, n, "%s/%s", dir, loc);
    *out = p;
    return LMG_OK;
}

/* Reads into a buffer allocated only once the file is known to hold the bytes, so a
 * declared size far beyond the file never reaches malloc. */
static int ends_with_st(const char *loc)
{
    size_t n = strlen(loc);
    return n >= 12 && strcmp(loc + n - 12, ".safetensors") == 0;
}

/* The header of a safetensors file is read once per load (a graph's tensors share one). */
static lmg_status check_st_header(const load_ctx *c, const char *path, const char *tensor,
                                  lmg_dtype t, const lmg_shape *sh, const Lmg__ExternalData *x)
{
    st_cache *k = c->cache;
    if (!k->path || strcmp(k->path, path) != 0) {
        lmg_st_close(k->f);
        free(k->path);
        k->f = NULL;
        k->path = strdup(path);
        if (!k->path) return lmg_error(LMG_ERR_NOMEM, "out of memory");
        lmg_status s = lmg_st_open_header(path, &k->f);
        if (s != LMG_OK) {
            free(k->path);
            k->path = NULL;
            return lmg_error_prefix(s, "%s: initializer '%s'", c->label, tensor);
        }
    }
    lmg_status s = lmg_st_check_tensor(k->f, path, tensor, t, sh, x->offset, x->length);
    if (s != LMG_OK) return lmg_error_prefix(s, "%s", c->label);
    return LMG_OK;
}

static lmg_status read_external(const load_ctx *c, const char *tensor, const Lmg__ExternalData *x,
                                lmg_dtype t, const lmg_shape *sh, void **dst, size_t nbytes)
{
    if (x->length != nbytes)
        return bad(c, "initializer '%s': external length %llu, but its type needs %zu bytes",
                   tensor, (unsigned long long)x->length, nbytes);
    char *path = NULL;
    LMG_TRY(external_path(c, tensor, x->location, &path));
    int fd;
    uint64_t size;
    lmg_status s = lmg_open_regular(path, &fd, &size);
    if (s != LMG_OK) {
        s = lmg_error_prefix(s, "%s: initializer '%s': external file", c->label, tensor);
        free(path);
        return s;
    }
    if (x->offset > size || x->length > size - x->offset) {
        s = bad(c, "initializer '%s': external bytes [%llu, %llu) lie outside '%s' (%llu bytes)",
                tensor, (unsigned long long)x->offset,
                (unsigned long long)x->offset + (unsigned long long)x->length, x->location,
                (unsigned long long)size);
    } else if (!(*dst = malloc(nbytes ? nbytes : 1))) {
        s = lmg_error(LMG_ERR_NOMEM, "%s: out of memory for '%s'", c->label, tensor);
    } else {
        size_t got = 0;
        while (got < nbytes) {
            ssize_t r = pread(fd, (char *)*dst + got, nbytes - got, (off_t)(x->offset + got));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (size_t)r;
        }
        if (got != nbytes)
            s = lmg_error(LMG_ERR_IO, "%s: initializer '%s': cannot read '%s'", c->label, tensor, path);
    }
    close(fd);
    /* The graph's byte range is what is read, so the graph is authoritative; a safetensors
     * file must agree with it, or tools reading the file by its header would see other
     * tensors than lmgraph does. */
    if (s == LMG_OK && ends_with_st(x->location)) s = check_st_header(c, path, tensor, t, sh, x);
    free(path);
    return s;
}

/* Named dimensions of value v (ValueInfo / Tensor field dim_names): none, or one per dim. */
static lmg_status load_dim_names(const load_ctx *c, lmg_graph *g, int v, size_t n,
                                 char *const *names)
{
    lmg_value *val = &g->values[v];
    if (n == 0) return LMG_OK;
    if (n != (size_t)val->shape.rank)
        return bad(c, "'%s': %zu dim_names for rank %d", val->name, n, val->shape.rank);
    for (size_t i = 0; i < n; i++) {
        const char *dn = names[i] ? names[i] : "";
        if (!dn[0]) continue;
        if (val->shape.dims[i] != 0)
            return bad(c, "'%s': dimension %zu is named '%s' but has size %lld", val->name, i, dn,
                       (long long)val->shape.dims[i]);
        if (strcmp(dn, "?") == 0) {
            if (val->kind != LMG_VALUE_NODE)
                return bad(c, "'%s': only node outputs may have a '?' dimension", val->name);
            val->dim_sym[i] = -1;
            continue;
        }
        int k = lmg_graph_dim_symbol(g, dn);
        if (k < 0) return lmg_error_prefix(LMG_ERR_PARSE, "%s: '%s'", c->label, val->name);
        val->dim_sym[i] = (int8_t)k;
    }
    return LMG_OK;
}

static lmg_status load_initializer(const load_ctx *c, lmg_graph *g, const Lmg__Tensor *x)
{
    lmg_dtype t;
    lmg_shape s;
    LMG_TRY(read_type(c, "initializer", x->name, (int)x->dtype, x->n_dims, x->dims, &t, &s));
    size_t nbytes = (size_t)lmg_shape_numel(&s) * lmg_dtype_size(t);
    int sources = (x->raw_data.len > 0) + (x->external != NULL) + (x->zeros != 0);
    if (sources > 1)
        return bad(c, "initializer '%s': more than one source of data (raw_data, external, zeros)",
                   x->name);
    if (sources == 0 && nbytes > 0)
        return bad(c, "initializer '%s': no data (needs raw_data, external or zeros)", x->name);
    if (x->raw_data.len > 0 && x->raw_data.len != nbytes)
        return bad(c, "initializer '%s': raw_data has %zu bytes, but %s%s needs %zu", x->name,
                   x->raw_data.len, lmg_dtype_name(t), lmg_shape_str(&s, (char[160]){0}, 160),
                   nbytes);
    int v = lmg_graph_add_value(g, x->name, LMG_VALUE_INIT, t, s);
    if (v < 0) return builder_failed(c, g);
    lmg_value *val = &g->values[v];
    val->trainable = x->trainable != 0;
    if (x->zeros) {
        val->fill = LMG_INIT_ZEROS;
        return load_dim_names(c, g, v, x->n_dim_names, x->dim_names);
    }
    for (size_t i = 0; i < x->n_dim_names; i++)
        if (x->dim_names[i] && x->dim_names[i][0])
            return bad(c, "initializer '%s' has a named dimension but is not zeros", x->name);
    val->fill = LMG_INIT_DATA;
    if (x->external) return read_external(c, x->name, x->external, t, &s, &val->data, nbytes);
    val->data = malloc(nbytes ? nbytes : 1);
    if (!val->data) return lmg_error(LMG_ERR_NOMEM, "%s: out of memory for '%s'", c->label, x->name);
    if (nbytes) memcpy(val->data, x->raw_data.data, nbytes);
    return LMG_OK;
}

/* The value a node or output refers to by name: an existing one, or a placeholder node
 * output with no producer that the verifier reports as missing. */
static int value_ref(lmg_graph *g, const char *name)
{
    int v = lmg_graph_find(g, name);
    if (v >= 0) return v;
    return lmg_graph_add_value(g, name, LMG_VALUE_NODE, LMG_DTYPE_UNDEFINED,
                               lmg_shape_make(0, NULL));
}

static lmg_status load_attr(const load_ctx *c, lmg_graph *g, const Lmg__Node *n,
                            const Lmg__Attribute *a, lmg_attr *out)
{
    memset(out, 0, sizeof *out);
    out->name = a->name;
    if (!a->name[0]) return bad(c, "node '%s': an attribute has an empty name", n->name);
    switch (a->value_case) {
    case LMG__ATTRIBUTE__VALUE_I: out->type = LMG_ATTR_INT; out->i = a->i; break;
    case LMG__ATTRIBUTE__VALUE_F: out->type = LMG_ATTR_FLOAT; out->f = a->f; break;
    case LMG__ATTRIBUTE__VALUE_S: out->type = LMG_ATTR_STRING; out->s = a->s; break;
    case LMG__ATTRIBUTE__VALUE_DIM:
        if (lmg_graph_dim_symbol(g, a->dim) < 0)
            return lmg_error_prefix(LMG_ERR_PARSE, "%s: node '%s': attribute '%s'", c->label,
                                    n->name, a->name);
        out->type = LMG_ATTR_INT;
        out->s = a->dim;
        break;
    case LMG__ATTRIBUTE__VALUE_INTS:
        if (a->ints->n_values > (1u << 24))
            return bad(c, "node '%s': attribute '%s' is too long", n->name, a->name);
        out->type = LMG_ATTR_INTS;
        out->n = (int)a->ints->n_values;
        out->ints = a->ints->values;
        break;
    case LMG__ATTRIBUTE__VALUE_FLOATS:
        if (a->floats->n_values > (1u << 24))
            return bad(c, "node '%s': attribute '%s' is too long", n->name, a->name);
        out->type = LMG_ATTR_FLOATS;
        out->n = (int)a->floats->n_values;
        out->floats = a->floats->values;
        break;
    default: return bad(c, "node '%s': attribute '%s' has no value", n->name, a->name);
    }
    return LMG_OK;
}

static lmg_status load_node(const load_ctx *c, lmg_graph *g, const Lmg__Node *n)
{
    if (!n->name[0]) return bad(c, "a node (op '%s') has an empty name", n->op);
    int op = lmg_op_from_name(n->op);
    if (op < 0) return bad(c, "node '%s': unknown op '%s'", n->name, n->op);
    if (n->n_inputs > 4096 || n->n_outputs > 4096 || n->n_attributes > 4096)
        return bad(c, "node '%s': too many inputs, outputs or attributes", n->name);
    int *ins = malloc((n->n_inputs + 1) * sizeof *ins);
    int *outs = malloc((n->n_outputs + 1) * sizeof *outs);
    lmg_attr *attrs = malloc((n->n_attributes + 1) * sizeof *attrs);
    lmg_status s = LMG_OK;
    if (!ins || !outs || !attrs) {
        s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < n->n_inputs; k++) {
        ins[k] = n->inputs[k][0] ? value_ref(g, n->inputs[k]) : -1;
        if (n->inputs[k][0] && ins[k] < 0) {
            s = lmg_error_prefix(LMG_ERR_PARSE, "%s: node '%s'", c->label, n->name);
            goto done;
        }
    }
    for (size_t k = 0; k < n->n_outputs; k++) {
        if (!n->outputs[k][0]) {
            s = bad(c, "node '%s': output %zu has an empty name", n->name, k);
            goto done;
        }
        outs[k] = lmg_graph_find(g, n->outputs[k]);
    }
    for (size_t k = 0; k < n->n_attributes && s == LMG_OK; k++)
        s = load_attr(c, g, n, n->attributes[k], &attrs[k]);
    if (s == LMG_OK)
        s = lmg_graph_append_node(g, n->name, (lmg_op)op, ins, (int)n->n_inputs, outs,
                                  (int)n->n_outputs, attrs, (int)n->n_attributes);
done:
    free(ins);
    free(outs);
    free(attrs);
    return s;
}

/* Node outputs are created before any node so that nodes stored out of order still find
 * their inputs (the verifier sorts them); their types come from value_info / outputs. */
static lmg_status create_node_outputs(const load_ctx *c, lmg_graph *g, const Lmg__Graph *pg)
{
    for (size_t i = 0; i < pg->n_nodes; i++) {
        const Lmg__Node *n = pg->nodes[i];
        for (size_t k = 0; k < n->n_outputs; k++) {
            const char *name = n->outputs[k];
            if (!name[0] || lmg_graph_find(g, name) >= 0) continue; /* reported later */
            if (lmg_graph_add_value(g, name, LMG_VALUE_NODE, LMG_DTYPE_UNDEFINED,
                                    lmg_shape_make(0, NULL)) < 0)
                return builder_failed(c, g);
        }
    }
    return LMG_OK;
}

/* Apply a stored ValueInfo to a node output; for graph outputs that name an input or an
 * initializer, the stored type must agree with the declaration. */
static lmg_status apply_info(const load_ctx *c, lmg_graph *g, const Lmg__ValueInfo *vi,
                             const char *what, int v)
{
    lmg_dtype t;
    lmg_shape s;
    LMG_TRY(read_type(c, what, vi->name, (int)vi->dtype, vi->n_dims, vi->dims, &t, &s));
    lmg_value *val = &g->values[v];
    if (val->kind == LMG_VALUE_NODE && val->dtype == LMG_DTYPE_UNDEFINED) {
        val->dtype = t;
        val->shape = s;
        return load_dim_names(c, g, v, vi->n_dim_names, vi->dim_names);
    }
    if (val->dtype != t || !lmg_shape_equal(&val->shape, &s)) {
        char a[160], b[160];
        return lmg_error(LMG_ERR_INVALID, "%s: %s '%s' is stored as %s%s but is %s%s", c->label,
                         what, vi->name, lmg_dtype_name(t), lmg_shape_str(&s, a, sizeof a),
                         lmg_dtype_name(val->dtype), lmg_shape_str(&val->shape, b, sizeof b));
    }
    return LMG_OK;
}

static int cmp_meta_key(const void *a, const void *b)
{
    return strcmp((*(Lmg__MetadataEntry *const *)a)->key, (*(Lmg__MetadataEntry *const *)b)->key);
}

/* Repeated keys are found by sorting and the list is allocated once: lmg_graph_get_meta and
 * lmg_graph_set_meta each scan the keys so far, quadratic in a file of many entries. */
static lmg_status load_meta(const load_ctx *c, const Lmg__Model *m, lmg_graph *g)
{
    size_t n = m->n_metadata;
    Lmg__MetadataEntry **sorted = malloc((n + 1) * sizeof *sorted);
    g->meta = calloc(n + 1, sizeof *g->meta);
    lmg_status s = sorted && g->meta ? LMG_OK : lmg_error(LMG_ERR_NOMEM, "out of memory");
    if (s == LMG_OK && n) {
        memcpy(sorted, m->metadata, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_meta_key);
    }
    for (size_t i = 1; i < n && s == LMG_OK; i++)
        if (strcmp(sorted[i - 1]->key, sorted[i]->key) == 0)
            s = bad(c, "metadata key '%s' appears twice", sorted[i]->key);
    free(sorted);
    for (size_t i = 0; i < n && s == LMG_OK; i++) {
        lmg_meta *e = &g->meta[g->n_meta];
        e->key = strdup(m->metadata[i]->key);
        e->value = strdup(m->metadata[i]->value);
        if (e->key || e->value) g->n_meta++;
        if (!e->key || !e->value) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    return s;
}

/* The output list is built here with marks rather than by lmg_graph_add_output, whose
 * duplicate scan made a file of many outputs load in quadratic time. */
static lmg_status load_outputs(const load_ctx *c, const Lmg__Graph *pg, lmg_graph *g)
{
    int *outs = malloc((pg->n_outputs + 1) * sizeof *outs);
    if (!outs) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status s = LMG_OK;
    for (size_t i = 0; i < pg->n_outputs && s == LMG_OK; i++) {
        const char *name = pg->outputs[i]->name;
        if (!name[0]) s = bad(c, "graph output %zu has an empty name", i);
        else if ((outs[i] = value_ref(g, name)) < 0)
            s = builder_failed(c, g);
    }
    unsigned char *listed = s == LMG_OK ? calloc((size_t)g->n_values + 1, 1) : NULL;
    if (s == LMG_OK && !listed) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < pg->n_outputs && s == LMG_OK; i++) {
        int v = outs[i];
        if (listed[v]++) s = bad(c, "graph output '%s' is listed twice", pg->outputs[i]->name);
        /* A placeholder (names nothing) is left untyped for the verifier to report. */
        else if (!(g->values[v].kind == LMG_VALUE_NODE && g->values[v].producer < 0))
            s = apply_info(c, g, pg->outputs[i], "graph output", v);
    }
    free(listed);
    if (s != LMG_OK) {
        free(outs);
        return s;
    }
    free(g->outputs);
    g->outputs = outs;
    g->n_outputs = (int)pg->n_outputs;
    return LMG_OK;
}

static lmg_status build_graph(const load_ctx *c, const Lmg__Model *m, lmg_graph *g)
{
    const Lmg__Graph *pg = m->graph;
    LMG_TRY(load_meta(c, m, g));
    /* The input list is allocated once: lmg_graph_input grows it one element at a time. */
    free(g->inputs);
    g->inputs = malloc((pg->n_inputs + 1) * sizeof *g->inputs);
    if (!g->inputs) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < pg->n_inputs; i++) {
        const Lmg__ValueInfo *vi = pg->inputs[i];
        lmg_dtype t;
        lmg_shape s;
        LMG_TRY(read_type(c, "input", vi->name, (int)vi->dtype, vi->n_dims, vi->dims, &t, &s));
        int v = lmg_graph_add_value(g, vi->name, LMG_VALUE_INPUT, t, s);
        if (v < 0) return builder_failed(c, g);
        g->inputs[g->n_inputs++] = v;
        LMG_TRY(load_dim_names(c, g, v, vi->n_dim_names, vi->dim_names));
    }
    for (size_t i = 0; i < pg->n_initializers; i++)
        LMG_TRY(load_initializer(c, g, pg->initializers[i]));
    LMG_TRY(create_node_outputs(c, g, pg));
    for (size_t i = 0; i < pg->n_value_info; i++) {
        const Lmg__ValueInfo *vi = pg->value_info[i];
        int v = lmg_graph_find(g, vi->name);
        if (v < 0 || g->values[v].kind != LMG_VALUE_NODE)
            return bad(c, "value_info '%s' describes no node output", vi->name);
        if (g->values[v].dtype != LMG_DTYPE_UNDEFINED)
            return bad(c, "value_info '%s' appears twice", vi->name);
        LMG_TRY(apply_info(c, g, vi, "value_info", v));
    }
    for (size_t i = 0; i < pg->n_nodes; i++) LMG_TRY(load_node(c, g, pg->nodes[i]));
    return load_outputs(c, pg, g);
}

/* protobuf-c does not check that strings are UTF-8; readers in other languages do. */
static lmg_status utf8_field(const load_ctx *c, const char *field, const char *s)
{
    size_t n = strlen(s), ok = lmg_utf8_valid_prefix(s, n);
    if (ok == n) return LMG_OK;
    return bad(c, "%s '%.*s...' is not UTF-8 (byte 0x%02x at offset %zu); protobuf strings must be",
               field, (int)(ok < 64 ? ok : 64), s, (unsigned char)s[ok], ok);
}

static lmg_status check_utf8(const load_ctx *c, const Lmg__Model *m)
{
    LMG_TRY(utf8_field(c, "producer", m->producer));
    for (size_t i = 0; i < m->n_metadata; i++) {
        LMG_TRY(utf8_field(c, "metadata key", m->metadata[i]->key));
        LMG_TRY(utf8_field(c, "metadata value", m->metadata[i]->value));
    }
    const Lmg__Graph *g = m->graph;
    if (!g) return LMG_OK;
    LMG_TRY(utf8_field(c, "graph name", g->name));
    const Lmg__ValueInfo *const *vis[3] = {(const Lmg__ValueInfo *const *)g->inputs,
                                          (const Lmg__ValueInfo *const *)g->outputs,
                                          (const Lmg__ValueInfo *const *)g->value_info};
    size_t nvis[3] = {g->n_inputs, g->n_outputs, g->n_value_info};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < nvis[k]; i++) LMG_TRY(utf8_field(c, "value name", vis[k][i]->name));
    for (size_t i = 0; i < g->n_initializers; i++) {
        LMG_TRY(utf8_field(c, "initializer name", g->initializers[i]->name));
        if (g->initializers[i]->external)
            LMG_TRY(utf8_field(c, "external location", g->initializers[i]->external->location));
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Lmg__Node *nd = g->nodes[i];
        LMG_TRY(utf8_field(c, "node name", nd->name));
        LMG_TRY(utf8_field(c, "op", nd->op));
        for (size_t k = 0; k < nd->n_inputs; k++) LMG_TRY(utf8_field(c, "node input", nd->inputs[k]));
        for (size_t k = 0; k < nd->n_outputs; k++) LMG_TRY(utf8_field(c, "node output", nd->outputs[k]));
        for (size_t k = 0; k < nd->n_attributes; k++) {
            LMG_TRY(utf8_field(c, "attribute name", nd->attributes[k]->name));
            if (nd->attributes[k]->value_case == LMG__ATTRIBUTE__VALUE_S)
                LMG_TRY(utf8_field(c, "string attribute", nd->attributes[k]->s));
        }
    }
    return LMG_OK;
}

/* protobuf-c's decoder allocates through this, from this library's malloc (so tests that
 * fail allocations reach it too), and notes a failure: unpack returns NULL for both an
 * exhausted heap and a malformed file. */
static void *pb_alloc(void *failed, size_t n)
{
    void *p = malloc(n);
    if (!p) *(int *)failed = 1;
    return p;
}

static void pb_free(void *failed, void *p)
{
    (void)failed;
    free(p);
}

static lmg_status load_impl(const void *buf, size_t n, const load_ctx *c, lmg_graph **out)
{
    *out = NULL;
    int pb_failed = 0;
    ProtobufCAllocator pb = {pb_alloc, pb_free, &pb_failed};
    Lmg__Model *m = lmg__model__unpack(&pb, n, buf);
    if (!m && pb_failed)
        return lmg_error(LMG_ERR_NOMEM, "%s: out of memory decoding %zu bytes", c->label, n);
    if (!m) return bad(c, "not an lmgraph model (malformed or truncated protobuf, %zu bytes)", n);
    lmg_status s = LMG_OK;
    lmg_graph *g = NULL;
    if (m->ir_version <= 0) {
        s = bad(c, "ir_version %lld: not an lmgraph model (the field is missing)",
                (long long)m->ir_version);
    } else if (m->ir_version > LMG_IR_VERSION) {
        s = lmg_error(LMG_ERR_VERSION, "%s: ir_version %lld is newer than this lmgraph (%d); "
                      "upgrade lmgraph", c->label, (long long)m->ir_version, LMG_IR_VERSION);
    } else if (m->opset_version <= 0) {
        s = bad(c, "opset_version %lld: the field is missing", (long long)m->opset_version);
    } else if (m->opset_version > LMG_OPSET_VERSION) {
        s = lmg_error(LMG_ERR_VERSION, "%s: opset_version %lld is newer than this lmgraph (%d); "
                      "upgrade lmgraph", c->label, (long long)m->opset_version, LMG_OPSET_VERSION);
    } else if (!m->graph) {
        s = bad(c, "the model has no graph");
    } else {
        s = check_utf8(c, m);
    }
    if (s == LMG_OK) {
        g = lmg_graph_new(m->graph->name);
        if (!g) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    if (s == LMG_OK) {
        g->ir_version = m->ir_version;
        g->opset_version = m->opset_version;
        free(g->producer);
        g->producer = strdup(m->producer);
        if (!g->producer) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    if (s == LMG_OK) s = build_graph(c, m, g);
    if (s == LMG_OK && g->status != LMG_OK) s = g->status;
    if (s == LMG_OK) {
        s = lmg_graph_verify(g);
        if (s != LMG_OK) lmg_error_prefix(s, "%s", c->label);
    }
    lmg__model__free_unpacked(m, &pb);
    if (s != LMG_OK) {
        lmg_graph_free(g);
        return s;
    }
    *out = g;
    return LMG_OK;
}

lmg_status lmg_graph_load_bytes(const void *buf, size_t n, const char *base_dir, lmg_graph **out)
{
    if (!out || (!buf && n)) return lmg_error(LMG_ERR_ARG, "load_bytes: bad arguments");
    st_cache k = {0};
    load_ctx c = {"<graph bytes>", base_dir, &k};
    lmg_status s = load_impl(buf ? buf : "", n, &c, out);
    lmg_st_close(k.f);
    free(k.path);
    return s;
}

lmg_status lmg_graph_load(const char *path, lmg_graph **out)
{
    if (!path || !out) return lmg_error(LMG_ERR_ARG, "load: bad arguments");
    *out = NULL;
    unsigned char *buf = NULL;
    size_t n = 0;
    LMG_TRY(read_whole(path, &buf, &n));
    char *dir = dir_of(path);
    if (!dir) {
        free(buf);
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    st_cache k = {0};
    load_ctx c = {path, dir, &k};
    lmg_status s = load_impl(buf, n, &c, out);
    lmg_st_close(k.f);
    free(k.path);
    free(dir);
    free(buf);
    return s;
}

/* ---- saving ------------------------------------------------------------------------ */

/* Everything the packed Model points at, allocated in a few flat arrays; the strings and
 * tensor bytes are borrowed from the graph. */
typedef struct {
    Lmg__Model model;
    Lmg__Graph graph;
    Lmg__MetadataEntry *meta, **meta_p;
    Lmg__ValueInfo *vi, **vi_p;      /* inputs, outputs, value_info in one array */
    Lmg__Node *nodes, **nodes_p;
    Lmg__Attribute *attrs, **attrs_p;
    Lmg__Ints *ints;
    Lmg__Floats *floats;
    char **names;                    /* node input/output name lists */
    Lmg__Tensor *tensors, **tensors_p;
    Lmg__ExternalData *ext;
    char **dim_names;                /* LMG_MAX_DIMS per ValueInfo and Tensor, when named */
} packed;

static void packed_free(packed *p)
{
    free(p->dim_names);
    free(p->meta);
    free(p->meta_p);
    free(p->vi);
    free(p->vi_p);
    free(p->nodes);
    free(p->nodes_p);
    free(p->attrs);
    free(p->attrs_p);
    free(p->ints);
    free(p->floats);
    free(p->names);
    free(p->tensors);
    free(p->tensors_p);
    free(p->ext);
}

static void fill_vi(Lmg__ValueInfo *vi, const lmg_value *v)
{
    lmg__value_info__init(vi);
    vi->name = v->name;
    vi->dtype = (Lmg__DataType)v->dtype;
    vi->n_dims = (size_t)v->shape.rank;
    vi->dims = (int64_t *)v->shape.dims;
}


static char empty_name[] = "";
static char unknown_dim[] = "?";

/* Point dims_names at the graph's dimension names for every stored value that has one. */
static lmg_status pack_dim_names(const lmg_graph *g, packed *p)
{
    if (!lmg_graph_is_symbolic(g)) return LMG_OK;
    size_t n_vi = p->graph.n_inputs + p->graph.n_outputs + p->graph.n_value_info;
    size_t n_t = p->graph.n_initializers;
    p->dim_names = calloc((n_vi + n_t) * LMG_MAX_DIMS + 1, sizeof *p->dim_names);
    if (!p->dim_names) return lmg_error(LMG_ERR_NOMEM, "out of memory saving graph '%s'", g->name);
    char **slot = p->dim_names;
    for (size_t i = 0; i < n_vi + n_t; i++, slot += LMG_MAX_DIMS) {
        const char *name = i < n_vi ? p->vi[i].name : p->tensors[i - n_vi].name;
        int v = lmg_graph_find(g, name);
        if (v < 0) continue;
        const lmg_value *val = &g->values[v];
        int named = 0;
        for (int d = 0; d < val->shape.rank; d++) {
            int k = val->dim_sym[d];
            slot[d] = k > 0 && k <= g->n_dim_names ? (char *)g->dim_names[k - 1]
                      : k ? unknown_dim : empty_name;
            named |= k != 0;
        }
        if (!named) continue;
        if (i < n_vi) {
            p->vi[i].n_dim_names = (size_t)val->shape.rank;
            p->vi[i].dim_names = slot;
        } else {
            p->tensors[i - n_vi].n_dim_names = (size_t)val->shape.rank;
            p->tensors[i - n_vi].dim_names = slot;
        }
    }
    return LMG_OK;
}

/* Lay the graph out as protobuf-c messages. `ext_of` (may be NULL) gives, per value id, the
 * external data of an initializer stored outside, or NULL. */
static lmg_status pack_graph(const lmg_graph *g, packed *p, Lmg__ExternalData **ext_of)
{
    memset(p, 0, sizeof *p);
    lmg__model__init(&p->model);
    lmg__graph__init(&p->graph);
    p->model.ir_version = LMG_IR_VERSION;
    p->model.opset_version = LMG_OPSET_VERSION;
    p->model.producer = g->producer ? g->producer : empty_name;
    p->model.graph = &p->graph;
    p->graph.name = g->name ? g->name : empty_name;

    /* Which values are graph outputs (their types are stored there, not in value_info). */
    unsigned char *is_out = calloc((size_t)g->n_values + 1, 1);
    if (!is_out) return lmg_error(LMG_ERR_NOMEM, "out of memory saving graph '%s'", g->name);
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] >= 0 && g->outputs[i] < g->n_values) is_out[g->outputs[i]] = 1;
    size_t n_meta = (size_t)g->n_meta, n_vi = 0, n_attr = 0, n_names = 0, n_init = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        n_attr += (size_t)n->n_attr;
        n_names += (size_t)(n->n_in + n->n_out);
        for (int k = 0; k < n->n_out; k++) n_vi += !is_out[n->out[k]];
    }
    n_vi += (size_t)(g->n_inputs + g->n_outputs);
    for (int v = 0; v < g->n_values; v++) n_init += g->values[v].kind == LMG_VALUE_INIT;

    p->meta = calloc(n_meta + 1, sizeof *p->meta);
    p->meta_p = calloc(n_meta + 1, sizeof *p->meta_p);
    p->vi = calloc(n_vi + 1, sizeof *p->vi);
    p->vi_p = calloc(n_vi + 1, sizeof *p->vi_p);
    p->nodes = calloc((size_t)g->n_nodes + 1, sizeof *p->nodes);
    p->nodes_p = calloc((size_t)g->n_nodes + 1, sizeof *p->nodes_p);
    p->attrs = calloc(n_attr + 1, sizeof *p->attrs);
    p->attrs_p = calloc(n_attr + 1, sizeof *p->attrs_p);
    p->ints = calloc(n_attr + 1, sizeof *p->ints);
    p->floats = calloc(n_attr + 1, sizeof *p->floats);
    p->names = calloc(n_names + 1, sizeof *p->names);
    p->tensors = calloc(n_init + 1, sizeof *p->tensors);
    p->tensors_p = calloc(n_init + 1, sizeof *p->tensors_p);
    if (!p->meta || !p->meta_p || !p->vi || !p->vi_p || !p->nodes || !p->nodes_p || !p->attrs ||
        !p->attrs_p || !p->ints || !p->floats || !p->names || !p->tensors || !p->tensors_p) {
        free(is_out);
        packed_free(p);
        return lmg_error(LMG_ERR_NOMEM, "out of memory saving graph '%s'", g->name);
    }

    for (size_t i = 0; i < n_meta; i++) {
        lmg__metadata_entry__init(&p->meta[i]);
        p->meta[i].key = g->meta[i].key;
        p->meta[i].value = g->meta[i].value;
        p->meta_p[i] = &p->meta[i];
    }
    p->model.n_metadata = n_meta;
    p->model.metadata = p->meta_p;

    size_t vi = 0;
    p->graph.inputs = p->vi_p + vi;
    p->graph.n_inputs = (size_t)g->n_inputs;
    for (int i = 0; i < g->n_inputs; i++, vi++) {
        fill_vi(&p->vi[vi], &g->values[g->inputs[i]]);
        p->vi_p[vi] = &p->vi[vi];
    }
    p->graph.outputs = p->vi_p + vi;
    p->graph.n_outputs = (size_t)g->n_outputs;
    for (int i = 0; i < g->n_outputs; i++, vi++) {
        fill_vi(&p->vi[vi], &g->values[g->outputs[i]]);
        p->vi_p[vi] = &p->vi[vi];
    }
    p->graph.value_info = p->vi_p + vi;
    size_t first_vi = vi;
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_out; k++)
            if (!is_out[n->out[k]]) {
                fill_vi(&p->vi[vi], &g->values[n->out[k]]);
                p->vi_p[vi] = &p->vi[vi];
                vi++;
            }
    }
    p->graph.n_value_info = vi - first_vi;
    free(is_out);

    size_t a = 0, nm = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        Lmg__Node *pn = &p->nodes[i];
        lmg__node__init(pn);
        pn->name = n->name;
        pn->op = (char *)lmg_op_name(n->op);
        pn->inputs = p->names + nm;
        pn->n_inputs = (size_t)n->n_in;
        for (int k = 0; k < n->n_in; k++)
            p->names[nm++] = n->in[k] >= 0 ? g->values[n->in[k]].name : empty_name;
        pn->outputs = p->names + nm;
        pn->n_outputs = (size_t)n->n_out;
        for (int k = 0; k < n->n_out; k++) p->names[nm++] = g->values[n->out[k]].name;
        pn->attributes = p->attrs_p + a;
        pn->n_attributes = (size_t)n->n_attr;
        for (int k = 0; k < n->n_attr; k++, a++) {
            const lmg_attr *at = &n->attrs[k];
            Lmg__Attribute *pa = &p->attrs[a];
            lmg__attribute__init(pa);
            pa->name = at->name;
            switch (at->type) {
            case LMG_ATTR_INT:
                if (at->s) {
                    pa->value_case = LMG__ATTRIBUTE__VALUE_DIM;
                    pa->dim = at->s;
                } else {
                    pa->value_case = LMG__ATTRIBUTE__VALUE_I;
                    pa->i = at->i;
                }
                break;
            case LMG_ATTR_FLOAT: pa->value_case = LMG__ATTRIBUTE__VALUE_F; pa->f = at->f; break;
            case LMG_ATTR_STRING:
                pa->value_case = LMG__ATTRIBUTE__VALUE_S;
                pa->s = at->s ? at->s : empty_name;
                break;
            case LMG_ATTR_INTS:
                lmg__ints__init(&p->ints[a]);
                p->ints[a].n_values = (size_t)(at->n > 0 ? at->n : 0);
                p->ints[a].values = at->ints;
                pa->value_case = LMG__ATTRIBUTE__VALUE_INTS;
                pa->ints = &p->ints[a];
                break;
            case LMG_ATTR_FLOATS:
                lmg__floats__init(&p->floats[a]);
                p->floats[a].n_values = (size_t)(at->n > 0 ? at->n : 0);
                p->floats[a].values = at->floats;
                pa->value_case = LMG__ATTRIBUTE__VALUE_FLOATS;
                pa->floats = &p->floats[a];
                break;
            default:
                packed_free(p);
                return lmg_error(LMG_ERR_INVALID, "node '%s': attribute '%s' has no value",
                                 n->name, at->name);
            }
            p->attrs_p[a] = pa;
        }
        p->nodes_p[i] = pn;
    }
    p->graph.nodes = p->nodes_p;
    p->graph.n_nodes = (size_t)g->n_nodes;

    size_t t = 0;
    for (int v = 0; v < g->n_values; v++) {
        const lmg_value *val = &g->values[v];
        if (val->kind != LMG_VALUE_INIT) continue;
        Lmg__Tensor *pt = &p->tensors[t];
        lmg__tensor__init(pt);
        pt->name = val->name;
        pt->dtype = (Lmg__DataType)val->dtype;
        pt->n_dims = (size_t)val->shape.rank;
        pt->dims = (int64_t *)val->shape.dims;
        pt->trainable = val->trainable != 0;
        if (val->fill == LMG_INIT_ZEROS) {
            pt->zeros = 1;
        } else if (ext_of && ext_of[v]) {
            pt->external = ext_of[v];
        } else {
            pt->raw_data.len = (size_t)lmg_shape_numel(&val->shape) * lmg_dtype_size(val->dtype);
            pt->raw_data.data = val->data;
        }
        p->tensors_p[t++] = pt;
    }
    p->graph.initializers = p->tensors_p;
    p->graph.n_initializers = t;
    return pack_dim_names(g, p);
}

static lmg_status pack_bytes(const lmg_graph *g, Lmg__ExternalData **ext_of, void **buf, size_t *n)
{
    packed p;
    LMG_TRY(pack_graph(g, &p, ext_of));
    /* A string that is not UTF-8 would make the file unreadable to other protobuf readers. */
    load_ctx c = {"saving the graph", NULL, NULL};
    if (check_utf8(&c, &p.model) != LMG_OK) {
        packed_free(&p);
        return lmg_error_prefix(LMG_ERR_INVALID, "graph");
    }
    size_t size = lmg__model__get_packed_size(&p.model);
    uint8_t *out = malloc(size ? size : 1);
    if (!out) {
        packed_free(&p);
        return lmg_error(LMG_ERR_NOMEM, "out of memory saving graph '%s' (%zu bytes)", g->name, size);
    }
    size_t got = lmg__model__pack(&p.model, out);
    packed_free(&p);
    if (got != size) {
        free(out);
        return lmg_error(LMG_ERR_IO, "saving graph '%s': packed %zu of %zu bytes", g->name, got, size);
    }
    *buf = out;
    *n = size;
    return LMG_OK;
}

lmg_status lmg_graph_save_bytes(const lmg_graph *g, void **buf, size_t *n)
{
    if (!g || !buf || !n) return lmg_error(LMG_ERR_ARG, "save_bytes: bad arguments");
    return pack_bytes(g, NULL, buf, n);
}

/* Stored in the .safetensors file rather than the .pb. A tensor there cannot be named
 * "__metadata__" (the header's reserved key), so an initializer of that name stays inline. */
static int goes_outside(const lmg_value *v, size_t external_min_bytes)
{
    return external_min_bytes > 0 && v->kind == LMG_VALUE_INIT && v->fill == LMG_INIT_DATA &&
           (size_t)lmg_shape_numel(&v->shape) * lmg_dtype_size(v->dtype) > external_min_bytes &&
           strcmp(v->name, "__metadata__") != 0;
}

lmg_status lmg_graph_save(const lmg_graph *g, const char *path, size_t external_min_bytes)
{
    if (!g || !path) return lmg_error(LMG_ERR_ARG, "save: bad arguments");
    Lmg__ExternalData **ext_of = NULL, *ext = NULL;
    lmg_st_writer *w = NULL;
    char *st_path = NULL;
    void *buf = NULL;
    size_t n = 0;
    lmg_status s = LMG_OK;
    int n_ext = 0;
    for (int v = 0; v < g->n_values; v++) n_ext += goes_outside(&g->values[v], external_min_bytes);
    if (n_ext > 0) {
        /* `<path minus .pb>.safetensors`, referenced by its base name. */
        size_t len = strlen(path);
        if (len >= 3 && strcmp(path + len - 3, ".pb") == 0) len -= 3;
        st_path = malloc(len + 16);
        ext_of = calloc((size_t)g->n_values, sizeof *ext_of);
        ext = calloc((size_t)n_ext, sizeof *ext);
        w = lmg_st_writer_new();
        if (!st_path || !ext_of || !ext || !w) {
            s = lmg_error(LMG_ERR_NOMEM, "out of memory");
            goto done;
        }
        memcpy(st_path, path, len);
        strcpy(st_path + len, ".safetensors");
        const char *base = strrchr(st_path, '/');
        base = base ? base + 1 : st_path;
        s = lmg_st_writer_meta(w, "format", "lmgraph");
        for (int v = 0, e = 0; s == LMG_OK && v < g->n_values; v++) {
            const lmg_value *val = &g->values[v];
            if (!goes_outside(val, external_min_bytes)) continue;
            s = lmg_st_writer_add(w, val->name, val->dtype, &val->shape, val->data);
            lmg__external_data__init(&ext[e]);
            ext[e].location = (char *)base;
            ext_of[v] = &ext[e++];
        }
        if (s == LMG_OK) s = lmg_st_writer_commit(w, st_path);
        for (int v = 0; s == LMG_OK && v < g->n_values; v++)
            if (ext_of[v])
                s = lmg_st_writer_range(w, g->values[v].name, &ext_of[v]->offset,
                                        &ext_of[v]->length);
        if (s != LMG_OK) goto done;
    }
    s = pack_bytes(g, ext_of, &buf, &n);
    if (s == LMG_OK) s = lmg_write_file_atomic(path, buf, n);
done:
    free(buf);
    free(ext_of);
    free(ext);
    free(st_path);
    lmg_st_writer_free(w);
    return s;
}
