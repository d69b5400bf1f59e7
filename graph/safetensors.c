/* safetensors.c — safetensors reader (strict: hostile files give LMG_ERR_PARSE, never a
 * crash) and writer (temporary file, fsync, rename: never half-written). */
#include "sbuf.h"
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A header larger than this is refused (the reference implementation uses the same cap). */
#define MAX_HEADER ((uint64_t)100 << 20)
#define MAX_JSON_DEPTH 32

static const struct {
    const char *name;
    lmg_dtype t;
} st_dtypes[] = {
    {"F32", LMG_DTYPE_F32},
    {"I32", LMG_DTYPE_I32},
    {"F16", LMG_DTYPE_F16},
    {"BF16", LMG_DTYPE_BF16},
};

static const char *st_dtype_name(lmg_dtype t)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof *st_dtypes; i++)
        if (st_dtypes[i].t == t) return st_dtypes[i].name;
    return NULL;
}

/* ---- a growable string ------------------------------------------------------------- */

static void sb_json_str(lmg_sbuf *b, const char *s)
{
    lmg_sbuf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            lmg_sbuf_put(b, e, 2);
        } else if (c < 0x20) {
            lmg_sbuf_printf(b, "\\u%04x", c);
        } else {
            lmg_sbuf_put(b, s, 1);
        }
    }
    lmg_sbuf_put(b, "\"", 1);
}

/* ---- writer ------------------------------------------------------------------------ */

typedef struct {
    char *name;
    lmg_dtype t;
    lmg_shape s;
    const void *data;
    uint64_t begin, end; /* relative to the data section */
} st_entry;

struct lmg_st_writer {
    st_entry *t;
    int n, cap;
    char **meta; /* key, value, key, value ... */
    int n_meta;
    uint64_t data_start; /* absolute offset of the data section, after commit */
    int committed;
};

lmg_st_writer *lmg_st_writer_new(void) { return calloc(1, sizeof(lmg_st_writer)); }

void lmg_st_writer_free(lmg_st_writer *w)
{
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->t[i].name);
    for (int i = 0; i < 2 * w->n_meta; i++) free(w->meta[i]);
    free(w->t);
    free(w->meta);
    free(w);
}

lmg_status lmg_st_writer_add(lmg_st_writer *w, const char *name, lmg_dtype t,
                             const lmg_shape *s, const void *data)
{
    if (!w || !name || !s) return lmg_error(LMG_ERR_ARG, "safetensors: bad arguments");
    if (!*name || strcmp(name, "__metadata__") == 0)
        return lmg_error(LMG_ERR_ARG, "safetensors: bad tensor name '%s'", name);
    if (!st_dtype_name(t))
        return lmg_error(LMG_ERR_ARG, "safetensors: tensor '%s': dtype %s cannot be stored", name,
                         lmg_dtype_name(t));
    if (s->rank < 0 || s->rank > LMG_MAX_DIMS)
        return lmg_error(LMG_ERR_ARG, "safetensors: tensor '%s': bad rank %d", name, s->rank);
    for (int i = 0; i < s->rank; i++)
        if (s->dims[i] < 0)
            return lmg_error(LMG_ERR_ARG, "safetensors: tensor '%s': negative dimension", name);
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return lmg_error(LMG_ERR_ARG, "safetensors: tensor '%s' added twice", name);
    uint64_t bytes = (uint64_t)lmg_shape_numel(s) * lmg_dtype_size(t);
    if (bytes > 0 && !data)
        return lmg_error(LMG_ERR_ARG, "safetensors: tensor '%s' has no data", name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        st_entry *nt = realloc(w->t, (size_t)cap * sizeof *nt);
        if (!nt) return lmg_error(LMG_ERR_NOMEM, "out of memory");
        w->t = nt;
        w->cap = cap;
    }
    st_entry *e = &w->t[w->n];
    e->name = strdup(name);
    if (!e->name) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    e->t = t;
    e->s = *s;
    e->data = data;
    e->begin = w->n ? w->t[w->n - 1].end : 0;
    e->end = e->begin + bytes;
    w->n++;
    w->committed = 0;
    return LMG_OK;
}

lmg_status lmg_st_writer_meta(lmg_st_writer *w, const char *key, const char *value)
{
    if (!w || !key || !value) return lmg_error(LMG_ERR_ARG, "safetensors: bad arguments");
    char *v = strdup(value);
    if (!v) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[2 * i], key) == 0) {
            free(w->meta[2 * i + 1]);
            w->meta[2 * i + 1] = v;
            return LMG_OK;
        }
    char **m = realloc(w->meta, (size_t)(2 * w->n_meta + 2) * sizeof *m);
    char *k = strdup(key);
    if (m) w->meta = m;
    if (!m || !k) {
        free(k);
        free(v);
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    w->meta[2 * w->n_meta] = k;
    w->meta[2 * w->n_meta + 1] = v;
    w->n_meta++;
    return LMG_OK;
}

static void build_header(const lmg_st_writer *w, lmg_sbuf *b)
{
    lmg_sbuf_put(b, "{", 1);
    if (w->n_meta) {
        lmg_sbuf_put(b, "\"__metadata__\":{", 16);
        for (int i = 0; i < w->n_meta; i++) {
            if (i) lmg_sbuf_put(b, ",", 1);
            sb_json_str(b, w->meta[2 * i]);
            lmg_sbuf_put(b, ":", 1);
            sb_json_str(b, w->meta[2 * i + 1]);
        }
        lmg_sbuf_put(b, "}", 1);
    }
    for (int i = 0; i < w->n; i++) {
        const st_entry *e = &w->t[i];
        if (i || w->n_meta) lmg_sbuf_put(b, ",", 1);
        sb_json_str(b, e->name);
        lmg_sbuf_printf(b, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype_name(e->t));
        for (int d = 0; d < e->s.rank; d++)
            lmg_sbuf_printf(b, "%s%lld", d ? "," : "", (long long)e->s.dims[d]);
        lmg_sbuf_printf(b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)e->begin,
                  (unsigned long long)e->end);
    }
    lmg_sbuf_put(b, "}", 1);
    /* Pad with spaces so the data section starts 8-byte aligned. */
    while ((8 + b->n) % 8) lmg_sbuf_put(b, " ", 1);
}

lmg_status lmg_st_writer_commit(lmg_st_writer *w, const char *path)
{
    if (!w || !path) return lmg_error(LMG_ERR_ARG, "safetensors: bad arguments");
    lmg_sbuf h = {0};
    build_header(w, &h);
    if (h.oom) {
        free(h.s);
        return lmg_error(LMG_ERR_NOMEM, "%s: out of memory building the header", path);
    }
    lmg_file_writer fw;
    lmg_status s = lmg_file_writer_open(&fw, path);
    if (s != LMG_OK) {
        free(h.s);
        return s;
    }
    unsigned char len8[8];
    uint64_t hl = h.n;
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(hl >> (8 * i));
    lmg_file_writer_put(&fw, len8, 8);
    lmg_file_writer_put(&fw, h.s, h.n);
    for (int i = 0; i < w->n; i++) lmg_file_writer_put(&fw, w->t[i].data, w->t[i].end - w->t[i].begin);
    s = lmg_file_writer_commit(&fw);
    if (s != LMG_OK) {
        free(h.s);
        return s;
    }
    w->data_start = 8 + h.n;
    w->committed = 1;
    free(h.s);
    return LMG_OK;
}

lmg_status lmg_st_writer_range(const lmg_st_writer *w, const char *name, uint64_t *offset,
                               uint64_t *length)
{
    if (!w || !name) return lmg_error(LMG_ERR_ARG, "safetensors: bad arguments");
    if (!w->committed) return lmg_error(LMG_ERR_ARG, "safetensors: range asked before commit");
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0) {
            if (offset) *offset = w->data_start + w->t[i].begin;
            if (length) *length = w->t[i].end - w->t[i].begin;
            return LMG_OK;
        }
    return lmg_error(LMG_ERR_NOT_FOUND, "safetensors: no tensor '%s'", name);
}

/* ---- a minimal JSON reader --------------------------------------------------------- */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
    jtype type;
    char *str;          /* J_STR: decoded, NUL-terminated (no embedded NULs allowed) */
    int is_uint;        /* J_NUM: a plain non-negative integer that fits in uint64 */
    uint64_t u;
    int n;              /* J_ARR / J_OBJ: element count */
    struct jval *items; /* J_ARR: values; J_OBJ: values */
    char **keys;        /* J_OBJ */
} jval;

typedef struct {
    const char *p, *end, *start;
    const char *file;
    char err[200];
    int oom; /* the error is an allocation that failed, not the file */
} jparser;

static void jfree(jval *v)
{
    if (!v) return;
    free(v->str);
    for (int i = 0; i < v->n; i++) {
        jfree(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
}

static int jfail(jparser *p, const char *what)
{
    if (!p->err[0])
        snprintf(p->err, sizeof p->err, "%s at header byte %ld", what, (long)(p->p - p->start));
    return -1;
}

static void jskip(jparser *p)
{
    while (p->p < p->end && (*p->p == ' ' || *p->p == '\t' || *p->p == '\n' || *p->p == '\r'))
        p->p++;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static int jstring(jparser *p, char **out)
{
    p->p++; /* opening quote */
    lmg_sbuf b = {0};
    lmg_sbuf_put(&b, "", 0);
    while (p->p < p->end && *p->p != '"') {
        unsigned char c = (unsigned char)*p->p;
        if (c < 0x20) {
            free(b.s);
            return jfail(p, "control character in a string");
        }
        if (c != '\\') {
            lmg_sbuf_put(&b, p->p++, 1);
            continue;
        }
        if (p->end - p->p < 2) {
            free(b.s);
            return jfail(p, "unterminated string");
        }
        char e = p->p[1];
        p->p += 2;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            lmg_sbuf_put(&b, &map[simple - "\"\\/bfnrt"], 1);
            continue;
        }
        unsigned cp, lo;
        if (e != 'u' || p->end - p->p < 4 || hex4(p->p, &cp) != 0) {
            free(b.s);
            return jfail(p, "bad escape in a string");
        }
        p->p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (p->end - p->p < 6 || p->p[0] != '\\' || p->p[1] != 'u' || hex4(p->p + 2, &lo) != 0 ||
                lo < 0xDC00 || lo > 0xDFFF) {
                free(b.s);
                return jfail(p, "unpaired surrogate in a string");
            }
            p->p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            free(b.s);
            return jfail(p, "unpaired surrogate in a string");
        }
        if (cp == 0) {
            free(b.s);
            return jfail(p, "NUL character in a string");
        }
        char u[4];
        size_t n;
        if (cp < 0x80) u[0] = (char)cp, n = 1;
        else if (cp < 0x800) u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 63)), n = 2;
        else if (cp < 0x10000)
            u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 63)),
            u[2] = (char)(0x80 | (cp & 63)), n = 3;
        else
            u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 63)),
            u[2] = (char)(0x80 | ((cp >> 6) & 63)), u[3] = (char)(0x80 | (cp & 63)), n = 4;
        lmg_sbuf_put(&b, u, n);
    }
    if (p->p >= p->end) {
        free(b.s);
        return jfail(p, "unterminated string");
    }
    p->p++;
    if (b.oom) {
        free(b.s);
        p->oom = 1;
        return jfail(p, "out of memory");
    }
    *out = b.s;
    return 0;
}

static int jnumber(jparser *p, jval *v)
{
    const char *s = p->p;
    if (p->p < p->end && *p->p == '-') p->p++;
    const char *digits = p->p;
    while (p->p < p->end && *p->p >= '0' && *p->p <= '9') p->p++;
    if (p->p == digits) return jfail(p, "bad number");
    if (*digits == '0' && p->p - digits > 1) return jfail(p, "number with a leading zero");
    int plain = s == digits;
    if (p->p < p->end && *p->p == '.') {
        plain = 0;
        p->p++;
        const char *f = p->p;
        while (p->p < p->end && *p->p >= '0' && *p->p <= '9') p->p++;
        if (p->p == f) return jfail(p, "bad number");
    }
    if (p->p < p->end && (*p->p == 'e' || *p->p == 'E')) {
        plain = 0;
        p->p++;
        if (p->p < p->end && (*p->p == '+' || *p->p == '-')) p->p++;
        const char *f = p->p;
        while (p->p < p->end && *p->p >= '0' && *p->p <= '9') p->p++;
        if (p->p == f) return jfail(p, "bad number");
    }
    v->type = J_NUM;
    if (plain) {
        uint64_t u = 0;
        int fits = 1;
        for (const char *c = digits; c < p->p; c++) {
            unsigned d = (unsigned)(*c - '0');
            if (u > (UINT64_MAX - d) / 10) fits = 0;
            u = u * 10 + d;
        }
        v->is_uint = fits;
        v->u = u;
    }
    return 0;
}

static int jvalue(jparser *p, jval *v, int depth);

static int jcontainer(jparser *p, jval *v, int depth, int obj)
{
    char close = obj ? '}' : ']';
    v->type = obj ? J_OBJ : J_ARR;
    p->p++;
    jskip(p);
    if (p->p < p->end && *p->p == close) {
        p->p++;
        return 0;
    }
    int cap = 0;
    for (;;) {
        if (v->n == cap) {
            cap = cap ? 2 * cap : 8;
            jval *ni = realloc(v->items, (size_t)cap * sizeof *ni);
            if (ni) v->items = ni;
            char **nk = obj ? realloc(v->keys, (size_t)cap * sizeof *nk) : NULL;
            if (nk) v->keys = nk;
            if (!ni || (obj && !nk)) {
                p->oom = 1;
                return jfail(p, "out of memory");
            }
        }
        jval *item = &v->items[v->n];
        memset(item, 0, sizeof *item);
        if (obj) {
            jskip(p);
            if (p->p >= p->end || *p->p != '"') return jfail(p, "expected a key string");
            v->keys[v->n] = NULL;
            if (jstring(p, &v->keys[v->n]) != 0) return -1;
            v->n++; /* owned from here on, so jfree releases the key */
            jskip(p);
            if (p->p >= p->end || *p->p != ':') return jfail(p, "expected ':'");
            p->p++;
            if (jvalue(p, item, depth + 1) != 0) return -1;
        } else {
            v->n++;
            if (jvalue(p, item, depth + 1) != 0) return -1;
        }
        jskip(p);
        if (p->p < p->end && *p->p == ',') {
            p->p++;
            continue;
        }
        if (p->p < p->end && *p->p == close) {
            p->p++;
            return 0;
        }
        return jfail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int jvalue(jparser *p, jval *v, int depth)
{
    if (depth > MAX_JSON_DEPTH) return jfail(p, "nesting too deep");
    jskip(p);
    if (p->p >= p->end) return jfail(p, "unexpected end");
    char c = *p->p;
    if (c == '{') return jcontainer(p, v, depth, 1);
    if (c == '[') return jcontainer(p, v, depth, 0);
    if (c == '"') {
        v->type = J_STR;
        return jstring(p, &v->str);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return jnumber(p, v);
    static const struct {
        const char *word;
        jtype t;
    } words[] = {{"true", J_BOOL}, {"false", J_BOOL}, {"null", J_NULL}};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i].word);
        if ((size_t)(p->end - p->p) >= n && memcmp(p->p, words[i].word, n) == 0) {
            p->p += n;
            v->type = words[i].t;
            return 0;
        }
    }
    return jfail(p, "unexpected character");
}

/* ---- reader ------------------------------------------------------------------------ */

typedef struct {
    char *name;
    lmg_dtype t;
    lmg_shape s;
    uint64_t begin, end;
} st_tensor;

struct lmg_st_file {
    st_tensor *t;
    int n;
    char **meta; /* key, value pairs */
    int n_meta;
    unsigned char *data; /* the data section, separately allocated so it is aligned */
    uint64_t data_len, data_start;
};

void lmg_st_close(lmg_st_file *f)
{
    if (!f) return;
    for (int i = 0; i < f->n; i++) free(f->t[i].name);
    for (int i = 0; i < 2 * f->n_meta; i++) free(f->meta[i]);
    free(f->t);
    free(f->meta);
    free(f->data);
    free(f);
}

static lmg_status st_bad(const char *file, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static lmg_status st_bad(const char *file, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lmg_error(LMG_ERR_PARSE, "%s: not a valid safetensors file: %s", file, msg);
}

static int cmp_range(const void *a, const void *b)
{
    const st_tensor *x = *(st_tensor *const *)a, *y = *(st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static lmg_status read_tensor(const char *file, lmg_st_file *f, const char *name, const jval *o,
                              uint64_t data_len)
{
    if (o->type != J_OBJ) return st_bad(file, "entry '%s' is not an object", name);
    const jval *dt = NULL, *shape = NULL, *offs = NULL;
    for (int i = 0; i < o->n; i++) {
        const jval **slot = strcmp(o->keys[i], "dtype") == 0 ? &dt
                            : strcmp(o->keys[i], "shape") == 0 ? &shape
                            : strcmp(o->keys[i], "data_offsets") == 0 ? &offs : NULL;
        if (!slot) return st_bad(file, "tensor '%s': unknown field '%s'", name, o->keys[i]);
        if (*slot) return st_bad(file, "tensor '%s': field '%s' given twice", name, o->keys[i]);
        *slot = &o->items[i];
    }
    if (!dt || !shape || !offs)
        return st_bad(file, "tensor '%s': needs dtype, shape and data_offsets", name);
    if (dt->type != J_STR) return st_bad(file, "tensor '%s': dtype is not a string", name);
    st_tensor *t = &f->t[f->n];
    memset(t, 0, sizeof *t);
    int known = 0;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof *st_dtypes; i++)
        if (strcmp(dt->str, st_dtypes[i].name) == 0) t->t = st_dtypes[i].t, known = 1;
    if (!known) return st_bad(file, "tensor '%s': unsupported dtype '%s'", name, dt->str);
    if (shape->type != J_ARR || shape->n > LMG_MAX_DIMS)
        return st_bad(file, "tensor '%s': shape is not a list of at most %d sizes", name,
                      LMG_MAX_DIMS);
    t->s.rank = shape->n;
    uint64_t numel = 1;
    for (int i = 0; i < shape->n; i++) {
        const jval *d = &shape->items[i];
        if (d->type != J_NUM || !d->is_uint || d->u > ((uint64_t)1 << 40))
            return st_bad(file, "tensor '%s': shape entry %d is not a size", name, i);
        if (d->u && numel > ((uint64_t)1 << 40) / d->u)
            return st_bad(file, "tensor '%s': shape is too large", name);
        numel *= d->u;
        t->s.dims[i] = (int64_t)d->u;
    }
    if (offs->type != J_ARR || offs->n != 2 || offs->items[0].type != J_NUM ||
        offs->items[1].type != J_NUM || !offs->items[0].is_uint || !offs->items[1].is_uint)
        return st_bad(file, "tensor '%s': data_offsets is not [begin, end]", name);
    t->begin = offs->items[0].u;
    t->end = offs->items[1].u;
    if (t->begin > t->end || t->end > data_len)
        return st_bad(file, "tensor '%s': data_offsets [%llu, %llu] outside the %llu data bytes",
                      name, (unsigned long long)t->begin, (unsigned long long)t->end,
                      (unsigned long long)data_len);
    if (t->end - t->begin != numel * lmg_dtype_size(t->t))
        return st_bad(file, "tensor '%s': %llu bytes, but %s%s needs %llu", name,
                      (unsigned long long)(t->end - t->begin), dt->str,
                      lmg_shape_str(&t->s, (char[160]){0}, 160),
                      (unsigned long long)(numel * lmg_dtype_size(t->t)));
    t->name = strdup(name);
    if (!t->name) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    f->n++;
    return LMG_OK;
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A key of object o given twice, reported as "<what>'<key>' appears twice". Sorted, so a
 * header of many entries costs n log n, not a comparison of every pair. */
static lmg_status check_unique(const char *file, const jval *o, const char *what)
{
    char **k = malloc(((size_t)o->n + 1) * sizeof *k);
    if (!k) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    if (o->n) memcpy(k, o->keys, (size_t)o->n * sizeof *k);
    qsort(k, (size_t)o->n, sizeof *k, cmp_key);
    lmg_status s = LMG_OK;
    for (int i = 1; i < o->n && s == LMG_OK; i++)
        if (strcmp(k[i - 1], k[i]) == 0) s = st_bad(file, "%s'%s' appears twice", what, k[i]);
    free(k);
    return s;
}

static lmg_status parse_header(const char *file, lmg_st_file *f, const jval *root, uint64_t data_len)
{
    if (root->type != J_OBJ) return st_bad(file, "the header is not a JSON object");
    LMG_TRY(check_unique(file, root, ""));
    f->t = calloc((size_t)root->n + 1, sizeof *f->t);
    if (!f->t) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < root->n; i++) {
        const char *key = root->keys[i];
        if (strcmp(key, "__metadata__") == 0) {
            const jval *m = &root->items[i];
            if (m->type != J_OBJ) return st_bad(file, "__metadata__ is not an object");
            LMG_TRY(check_unique(file, m, "metadata "));
            f->meta = calloc((size_t)m->n * 2 + 1, sizeof *f->meta);
            if (!f->meta) return lmg_error(LMG_ERR_NOMEM, "out of memory");
            for (int k = 0; k < m->n; k++) {
                if (m->items[k].type != J_STR)
                    return st_bad(file, "metadata '%s' is not a string", m->keys[k]);
                f->meta[2 * k] = strdup(m->keys[k]);
                f->meta[2 * k + 1] = strdup(m->items[k].str);
                f->n_meta++;
                if (!f->meta[2 * k] || !f->meta[2 * k + 1])
                    return lmg_error(LMG_ERR_NOMEM, "out of memory");
            }
            continue;
        }
        if (!key[0]) return st_bad(file, "a tensor has an empty name");
        LMG_TRY(read_tensor(file, f, key, &root->items[i], data_len));
    }
    /* The data section must be covered exactly: no overlaps, no holes. */
    st_tensor **order = malloc(((size_t)f->n + 1) * sizeof *order);
    if (!order) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < f->n; i++) order[i] = &f->t[i];
    qsort(order, (size_t)f->n, sizeof *order, cmp_range);
    uint64_t pos = 0;
    lmg_status s = LMG_OK;
    for (int i = 0; i < f->n && s == LMG_OK; i++) {
        if (order[i]->begin < pos)
            s = st_bad(file, "tensor '%s' overlaps tensor '%s'", order[i]->name, order[i - 1]->name);
        else if (order[i]->begin > pos)
            s = st_bad(file, "data bytes [%llu, %llu) belong to no tensor", (unsigned long long)pos,
                       (unsigned long long)order[i]->begin);
        pos = order[i]->end;
    }
    if (s == LMG_OK && pos != data_len)
        s = st_bad(file, "data bytes [%llu, %llu) belong to no tensor", (unsigned long long)pos,
                   (unsigned long long)data_len);
    free(order);
    return s;
}

/* b holds the first n bytes of a file of `total` bytes (n == total unless header_only, when
 * it holds at least the length and the header). */
static lmg_status open_impl(const unsigned char *b, size_t n, uint64_t total, const char *file,
                            int header_only, lmg_st_file **out)
{
    if (total < 8) return st_bad(file, "%llu bytes, shorter than the 8-byte header length",
                                 (unsigned long long)total);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | b[i];
    if (hl > MAX_HEADER) return st_bad(file, "header length %llu is too large", (unsigned long long)hl);
    if (hl > total - 8)
        return st_bad(file, "header length %llu runs past the end of the file (%llu bytes)",
                      (unsigned long long)hl, (unsigned long long)total);
    if (hl > n - 8) return st_bad(file, "the header could not be read whole");
    if (hl < 2 || b[8] != '{') return st_bad(file, "the header does not start with '{'");
    jparser p = {(const char *)b + 8, (const char *)b + 8 + hl, (const char *)b + 8, file, "", 0};
    jval root;
    memset(&root, 0, sizeof root);
    int rc = jvalue(&p, &root, 0);
    if (rc == 0) {
        jskip(&p);
        if (p.p != p.end) rc = jfail(&p, "trailing bytes after the header object");
    }
    if (rc != 0) {
        jfree(&root);
        if (p.oom) return lmg_error(LMG_ERR_NOMEM, "%s: out of memory reading the header", file);
        return st_bad(file, "bad JSON header: %s", p.err);
    }
    lmg_st_file *f = calloc(1, sizeof *f);
    if (!f) {
        jfree(&root);
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    f->data_start = 8 + hl;
    f->data_len = total - f->data_start;
    lmg_status s = parse_header(file, f, &root, f->data_len);
    jfree(&root);
    if (s == LMG_OK && !header_only) {
        f->data = malloc(f->data_len ? (size_t)f->data_len : 1);
        if (!f->data) s = lmg_error(LMG_ERR_NOMEM, "%s: out of memory", file);
        else if (f->data_len) memcpy(f->data, b + f->data_start, (size_t)f->data_len);
    }
    if (s != LMG_OK) {
        lmg_st_close(f);
        return s;
    }
    *out = f;
    return LMG_OK;
}

lmg_status lmg_st_open_bytes(const void *buf, size_t n, const char *name, lmg_st_file **out)
{
    if (!out || (!buf && n)) return lmg_error(LMG_ERR_ARG, "safetensors: bad arguments");
    *out = NULL;
    return open_impl(buf, n, n, name ? name : "<safetensors bytes>", 0, out);
}

lmg_status lmg_st_open(const char *path, lmg_st_file **out)
{
    if (!path || !out) return lmg_error(LMG_ERR_ARG, "safetensors: bad arguments");
    *out = NULL;
    char *buf;
    size_t len;
    LMG_TRY(lmg_read_file(path, &buf, &len));
    lmg_status s = lmg_st_open_bytes(buf, len, path, out);
    free(buf);
    return s;
}

/* Reads n bytes at the start of fd (short only at the end of the file). */
static size_t read_at_start(int fd, unsigned char *b, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, b + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    return got;
}

lmg_status lmg_st_open_header(const char *path, lmg_st_file **out)
{
    if (!path || !out) return lmg_error(LMG_ERR_ARG, "safetensors: bad arguments");
    *out = NULL;
    int fd;
    uint64_t size;
    LMG_TRY(lmg_open_regular(path, &fd, &size));
    unsigned char len8[8] = {0};
    size_t got = read_at_start(fd, len8, 8);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | len8[i];
    lmg_status s;
    if (got < 8 || hl > MAX_HEADER || hl > size - 8) {
        s = open_impl(len8, got, got < 8 ? got : size, path, 1, out);
    } else {
        unsigned char *b = malloc((size_t)hl + 8);
        if (!b) {
            close(fd);
            return lmg_error(LMG_ERR_NOMEM, "%s: out of memory", path);
        }
        got = read_at_start(fd, b, (size_t)hl + 8);
        s = open_impl(b, got, size, path, 1, out);
        free(b);
    }
    close(fd);
    return s;
}

lmg_status lmg_st_check_tensor(const lmg_st_file *f, const char *file, const char *name,
                               lmg_dtype t, const lmg_shape *s, uint64_t offset, uint64_t length)
{
    lmg_dtype ht;
    lmg_shape hs;
    uint64_t ho, hlen;
    if (lmg_st_find(f, name, &ht, &hs, NULL, NULL) != LMG_OK || lmg_st_range(f, name, &ho, &hlen) != LMG_OK)
        return lmg_error(LMG_ERR_PARSE, "%s: its header has no tensor '%s', which the graph reads "
                         "from bytes [%llu, %llu)", file, name, (unsigned long long)offset,
                         (unsigned long long)(offset + length));
    if (ht != t || !lmg_shape_equal(&hs, s)) {
        char a[160], b[160];
        return lmg_error(LMG_ERR_PARSE, "%s: its header says '%s' is %s%s, the graph says %s%s",
                         file, name, lmg_dtype_name(ht), lmg_shape_str(&hs, a, sizeof a),
                         lmg_dtype_name(t), lmg_shape_str(s, b, sizeof b));
    }
    if (ho != offset || hlen != length)
        return lmg_error(LMG_ERR_PARSE, "%s: its header puts '%s' at bytes [%llu, %llu), the graph "
                         "at [%llu, %llu)", file, name, (unsigned long long)ho,
                         (unsigned long long)(ho + hlen), (unsigned long long)offset,
                         (unsigned long long)(offset + length));
    return LMG_OK;
}

int lmg_st_count(const lmg_st_file *f) { return f ? f->n : 0; }

const char *lmg_st_name(const lmg_st_file *f, int i)
{
    return f && i >= 0 && i < f->n ? f->t[i].name : NULL;
}

static const st_tensor *find(const lmg_st_file *f, const char *name)
{
    for (int i = 0; f && name && i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

lmg_status lmg_st_find(const lmg_st_file *f, const char *name, lmg_dtype *t, lmg_shape *s,
                       const void **data, size_t *nbytes)
{
    const st_tensor *x = find(f, name);
    if (!x) return lmg_error(LMG_ERR_NOT_FOUND, "safetensors: no tensor '%s'", name ? name : "");
    if (t) *t = x->t;
    if (s) *s = x->s;
    if (data) *data = f->data ? f->data + x->begin : NULL;
    if (nbytes) *nbytes = (size_t)(x->end - x->begin);
    return LMG_OK;
}

lmg_status lmg_st_range(const lmg_st_file *f, const char *name, uint64_t *offset,
                        uint64_t *length)
{
    const st_tensor *x = find(f, name);
    if (!x) return lmg_error(LMG_ERR_NOT_FOUND, "safetensors: no tensor '%s'", name ? name : "");
    if (offset) *offset = f->data_start + x->begin;
    if (length) *length = x->end - x->begin;
    return LMG_OK;
}

const char *lmg_st_meta(const lmg_st_file *f, const char *key)
{
    for (int i = 0; f && key && i < f->n_meta; i++)
        if (strcmp(f->meta[2 * i], key) == 0) return f->meta[2 * i + 1];
    return NULL;
}

int lmg_st_meta_count(const lmg_st_file *f) { return f ? f->n_meta : 0; }

const char *lmg_st_meta_key(const lmg_st_file *f, int i)
{
    return f && i >= 0 && i < f->n_meta ? f->meta[2 * i] : NULL;
}
