/* text.c — the human text form of a graph (.lmgt): print and parse, round-tripping
 * exactly (floats are printed in the shortest form that reads back to the same bits).
 *
 *   lmgraph ir 1 opset 1
 *   graph "tiny" {
 *     meta "objective" = "clm"
 *     input x : f32[2,3]
 *     param w : f32[3] = [0.5, -1, 2]          # trainable
 *     const two : f32[] = [2]
 *     state m : f32[3] = zeros                  # a non-trainable initializer
 *     const big : f32[1024] = external("big.safetensors", 128, 4096)
 *     node y: f32[2,3] = Mul(x, w)
 *     node [ln] h, mean, rstd = LayerNorm(y, g, b) {eps = 1e-05}
 *     output y
 *   }
 *
 * Newlines are plain whitespace; `#` starts a comment. Names are bare when made of
 * [A-Za-z0-9_./:'-] (a ':' ends a name unless another name character follows), otherwise
 * quoted. A node is named after its first output unless `[name]` follows `node`. Output
 * types are optional when parsing (inferred) and always printed. `""` is an omitted input.
 * Attributes: 3 (int), 3.0 / 1e-05 / inf / nan (float), "s", [1, 2] (ints), [1.5, 2.0]
 * (floats), ints[] / floats[] for empty lists. f32 data may hold nan, inf, -inf and 0x7fc00001
 * (raw bits, for NaNs with a payload). A dimension may be a name (`f32[B,T]`, see dims.c) and a
 * node output's may be `?`. The whole grammar is in docs/text-format.md. */
#include "sbuf.h"
#include "graph.h"
#include "safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- a growable string ------------------------------------------------------------- */

/* ---- printing ---------------------------------------------------------------------- */

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '/' || c == ':' || c == '\'' || c == '-';
}

static int bare_ok(const char *s)
{
    if (!s[0]) return 0;
    for (const char *p = s; *p; p++) {
        if (!name_char(*p)) return 0;
        /* A ':' followed by a non-name character (or the end) would end the name. */
        if (*p == ':' && !name_char(p[1])) return 0;
    }
    return 1;
}

static void print_quoted(lmg_sbuf *b, const char *s)
{
    lmg_sbuf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '"': lmg_sbuf_str(b, "\\\""); break;
        case '\\': lmg_sbuf_str(b, "\\\\"); break;
        case '\n': lmg_sbuf_str(b, "\\n"); break;
        case '\t': lmg_sbuf_str(b, "\\t"); break;
        case '\r': lmg_sbuf_str(b, "\\r"); break;
        default:
            if (c < 0x20 || c == 0x7f) lmg_sbuf_printf(b, "\\x%02x", c);
            else lmg_sbuf_put(b, s, 1);
        }
    }
    lmg_sbuf_put(b, "\"", 1);
}

static void print_name(lmg_sbuf *b, const char *s)
{
    if (bare_ok(s)) lmg_sbuf_str(b, s);
    else print_quoted(b, s);
}

static void print_type(lmg_sbuf *b, const lmg_graph *g, const lmg_value *v)
{
    char buf[LMG_MAX_DIMS * (LMG_DIM_NAME_MAX + 1) + 16];
    lmg_sbuf_str(b, lmg_value_type_str(g, (int)(v - g->values), buf, sizeof buf));
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Shortest %g form of a float that reads back to the same bits. */
static void print_f32(lmg_sbuf *b, float f)
{
    uint32_t bits = f32_bits(f);
    if (isnan(f)) {
        if (bits == 0x7fc00000u) lmg_sbuf_str(b, "nan");
        else if (bits == 0xffc00000u) lmg_sbuf_str(b, "-nan");
        else lmg_sbuf_printf(b, "0x%08x", (unsigned)bits);
        return;
    }
    if (isinf(f)) {
        lmg_sbuf_str(b, f < 0 ? "-inf" : "inf");
        return;
    }
    char tmp[48];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, (double)f);
        if (f32_bits(strtof(tmp, NULL)) == bits) break;
    }
    lmg_sbuf_str(b, tmp);
}

/* Shortest %g form of a double that reads back exactly, always recognisable as a float
 * (so 2.0 prints as "2.0", not "2", which would read back as an int). */
static void print_f64(lmg_sbuf *b, double d)
{
    if (isnan(d)) {
        lmg_sbuf_str(b, signbit(d) ? "-nan" : "nan");
        return;
    }
    if (isinf(d)) {
        lmg_sbuf_str(b, d < 0 ? "-inf" : "inf");
        return;
    }
    char tmp[48];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    if (!strpbrk(tmp, ".en")) strcat(tmp, ".0");
    lmg_sbuf_str(b, tmp);
}

static void print_data(lmg_sbuf *b, const lmg_value *v)
{
    int64_t n = lmg_shape_numel(&v->shape);
    const int per_line = 8;
    lmg_sbuf_put(b, "[", 1);
    for (int64_t i = 0; i < n; i++) {
        if (n > per_line && i % per_line == 0) lmg_sbuf_str(b, i ? ",\n      " : "\n      ");
        else if (i) lmg_sbuf_str(b, ", ");
        switch (v->dtype) {
        case LMG_DTYPE_F32: print_f32(b, ((const float *)v->data)[i]); break;
        case LMG_DTYPE_I32: lmg_sbuf_printf(b, "%d", (int)((const int32_t *)v->data)[i]); break;
        default: lmg_sbuf_printf(b, "0x%04x", (unsigned)((const uint16_t *)v->data)[i]); break;
        }
    }
    if (n > per_line) lmg_sbuf_str(b, "\n    ");
    lmg_sbuf_put(b, "]", 1);
}

static void print_attr(lmg_sbuf *b, const lmg_attr *a)
{
    print_name(b, a->name);
    lmg_sbuf_str(b, " = ");
    switch (a->type) {
    case LMG_ATTR_INT:
        if (a->s) lmg_sbuf_str(b, a->s); /* a dimension name, not bound yet */
        else lmg_sbuf_printf(b, "%lld", (long long)a->i);
        break;
    case LMG_ATTR_FLOAT: print_f64(b, a->f); break;
    case LMG_ATTR_STRING: print_quoted(b, a->s ? a->s : ""); break;
    case LMG_ATTR_INTS:
        if (a->n <= 0) lmg_sbuf_str(b, "ints[]");
        else {
            lmg_sbuf_put(b, "[", 1);
            for (int i = 0; i < a->n; i++) lmg_sbuf_printf(b, "%s%lld", i ? ", " : "", (long long)a->ints[i]);
            lmg_sbuf_put(b, "]", 1);
        }
        break;
    case LMG_ATTR_FLOATS:
        if (a->n <= 0) lmg_sbuf_str(b, "floats[]");
        else {
            lmg_sbuf_put(b, "[", 1);
            for (int i = 0; i < a->n; i++) {
                if (i) lmg_sbuf_str(b, ", ");
                print_f64(b, a->floats[i]);
            }
            lmg_sbuf_put(b, "]", 1);
        }
        break;
    default: lmg_sbuf_str(b, "?"); break;
    }
}

static void print_node(lmg_sbuf *b, const lmg_graph *g, const lmg_node *n)
{
    lmg_sbuf_str(b, "  node ");
    const char *first = n->n_out > 0 && n->out[0] >= 0 && n->out[0] < g->n_values
                            ? g->values[n->out[0]].name : NULL;
    if (!first || strcmp(first, n->name) != 0) {
        lmg_sbuf_put(b, "[", 1);
        print_name(b, n->name);
        lmg_sbuf_str(b, "] ");
    }
    for (int k = 0; k < n->n_out; k++) {
        if (k) lmg_sbuf_str(b, ", ");
        if (n->out[k] < 0 || n->out[k] >= g->n_values) {
            lmg_sbuf_str(b, "?");
            continue;
        }
        const lmg_value *v = &g->values[n->out[k]];
        print_name(b, v->name);
        if (v->dtype != LMG_DTYPE_UNDEFINED) {
            lmg_sbuf_str(b, ": ");
            print_type(b, g, v);
        }
    }
    lmg_sbuf_str(b, " = ");
    lmg_sbuf_str(b, lmg_op_name(n->op));
    lmg_sbuf_put(b, "(", 1);
    for (int k = 0; k < n->n_in; k++) {
        if (k) lmg_sbuf_str(b, ", ");
        if (n->in[k] < 0 || n->in[k] >= g->n_values) lmg_sbuf_str(b, "\"\"");
        else print_name(b, g->values[n->in[k]].name);
    }
    lmg_sbuf_put(b, ")", 1);
    if (n->n_attr > 0) {
        lmg_sbuf_str(b, " {");
        for (int a = 0; a < n->n_attr; a++) {
            if (a) lmg_sbuf_str(b, ", ");
            print_attr(b, &n->attrs[a]);
        }
        lmg_sbuf_put(b, "}", 1);
    }
    lmg_sbuf_put(b, "\n", 1);
}

/* CRC-32 (IEEE 802.3, reflected, as zlib.crc32 and `crc32` compute it) of n bytes. */
static uint32_t crc32_bytes(const unsigned char *p, size_t n)
{
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* The text form; with `summary`, each initializer's data as its size and checksum. */
static lmg_status print_graph(const lmg_graph *g, int summary, char **text)
{
    if (!g || !text) return lmg_error(LMG_ERR_ARG, "print: bad arguments");
    lmg_sbuf b = {0};
    lmg_sbuf_printf(&b, "lmgraph ir %d opset %d\n", LMG_IR_VERSION, LMG_OPSET_VERSION);
    lmg_sbuf_str(&b, "graph ");
    print_quoted(&b, g->name ? g->name : "");
    lmg_sbuf_str(&b, " {\n");
    /* Sections (header data, declarations, nodes, outputs) are separated by a blank line. */
    int sections = 0, started = 0;
#define SECTION() (started++ ? (void)0 : sections++ ? lmg_sbuf_put(&b, "\n", 1) : (void)0)
    if (g->producer && strcmp(g->producer, "lmgraph") != 0) {
        SECTION();
        lmg_sbuf_str(&b, "  producer ");
        print_quoted(&b, g->producer);
        lmg_sbuf_put(&b, "\n", 1);
    }
    for (int i = 0; i < g->n_meta; i++) {
        SECTION();
        lmg_sbuf_str(&b, "  meta ");
        print_quoted(&b, g->meta[i].key);
        lmg_sbuf_str(&b, " = ");
        print_quoted(&b, g->meta[i].value);
        lmg_sbuf_put(&b, "\n", 1);
    }
    started = 0;
    for (int i = 0; i < g->n_inputs; i++) {
        if (g->inputs[i] < 0 || g->inputs[i] >= g->n_values) continue;
        const lmg_value *v = &g->values[g->inputs[i]];
        SECTION();
        lmg_sbuf_str(&b, "  input ");
        print_name(&b, v->name);
        lmg_sbuf_str(&b, " : ");
        print_type(&b, g, v);
        lmg_sbuf_put(&b, "\n", 1);
    }
    for (int i = 0; i < g->n_values; i++) {
        const lmg_value *v = &g->values[i];
        if (v->kind != LMG_VALUE_INIT) continue;
        SECTION();
        int zeros = v->fill == LMG_INIT_ZEROS || (!v->data && lmg_shape_numel(&v->shape) > 0);
        lmg_sbuf_str(&b, v->trainable ? "  param " : zeros ? "  state " : "  const ");
        print_name(&b, v->name);
        lmg_sbuf_str(&b, " : ");
        print_type(&b, g, v);
        lmg_sbuf_str(&b, " = ");
        if (zeros) lmg_sbuf_str(&b, "zeros");
        else if (!v->data) lmg_sbuf_str(&b, "[]");
        else if (summary) {
            size_t n = (size_t)lmg_shape_numel(&v->shape) * lmg_dtype_size(v->dtype);
            lmg_sbuf_printf(&b, "<%zu bytes, crc32 0x%08x>", n, crc32_bytes(v->data, n));
        } else print_data(&b, v);
        lmg_sbuf_put(&b, "\n", 1);
    }
    started = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        SECTION();
        print_node(&b, g, &g->nodes[i]);
    }
    started = 0;
    for (int i = 0; i < g->n_outputs; i++) {
        if (g->outputs[i] < 0 || g->outputs[i] >= g->n_values) continue;
        SECTION();
        lmg_sbuf_str(&b, "  output ");
        print_name(&b, g->values[g->outputs[i]].name);
        lmg_sbuf_put(&b, "\n", 1);
    }
#undef SECTION
    lmg_sbuf_str(&b, "}\n");
    if (b.oom) {
        free(b.s);
        return lmg_error(LMG_ERR_NOMEM, "out of memory printing graph '%s'", g->name);
    }
    *text = b.s;
    return LMG_OK;
}

lmg_status lmg_graph_print(const lmg_graph *g, char **text) { return print_graph(g, 0, text); }

lmg_status lmg_graph_print_summary(const lmg_graph *g, char **text)
{
    return print_graph(g, 1, text);
}

/* ---- parsing ----------------------------------------------------------------------- */

typedef struct {
    const char *p, *line_start;
    int line;
    const char *file;
    char *dir; /* for external() paths */
    lmg_graph *g;
    int *decl_line; /* per value id: the line that declared it (0 = only referenced) */
    int n_decl;
    int *node_line; /* per node index */
    int n_node_line;
    unsigned char *listed; /* per value id: named by an output statement */
    int n_listed, cap_inputs, cap_outputs; /* the graph's lists grow by doubling */
    int *meta_hash;                        /* open addressing over g->meta, meta_cap slots */
    int meta_cap;                          /* also the capacity of g->meta */
} parser;

/* A position in the text, to report an error where a construct started. */
typedef struct {
    const char *p, *line_start;
    int line;
} mark;

static mark here(const parser *P)
{
    mark m = {P->p, P->line_start, P->line};
    return m;
}

static void go_to(parser *P, mark m)
{
    P->p = m.p;
    P->line_start = m.line_start;
    P->line = m.line;
}

static lmg_status perr(parser *P, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static lmg_status perr(parser *P, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lmg_error(LMG_ERR_PARSE, "%s:%d:%d: %s", P->file, P->line,
                     (int)(P->p - P->line_start) + 1, msg);
}

static void skip_ws(parser *P)
{
    for (;;) {
        char c = *P->p;
        if (c == '\n') {
            P->p++;
            P->line++;
            P->line_start = P->p;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            P->p++;
        } else if (c == '#') {
            while (*P->p && *P->p != '\n') P->p++;
        } else {
            return;
        }
    }
}

/* A short description of what comes next, for "expected X, found Y". */
static const char *found(parser *P, char *buf, size_t n)
{
    skip_ws(P);
    if (!*P->p) return "the end of the file";
    size_t len = 0;
    while (P->p[len] && len < 16 && P->p[len] != '\n' && (len == 0 || name_char(P->p[len]) == name_char(P->p[0])) &&
           P->p[len] != ' ')
        len++;
    if (len == 0) len = 1;
    snprintf(buf, n, "'%.*s'", (int)len, P->p);
    return buf;
}

static lmg_status expected(parser *P, const char *what)
{
    char buf[40];
    return perr(P, "expected %s, found %s", what, found(P, buf, sizeof buf));
}

static int accept(parser *P, char c)
{
    skip_ws(P);
    if (*P->p != c) return 0;
    P->p++;
    return 1;
}

static lmg_status expect(parser *P, char c, const char *what)
{
    if (accept(P, c)) return LMG_OK;
    return expected(P, what);
}

static int ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* The keyword `kw`, as a whole word. */
static int accept_word(parser *P, const char *kw)
{
    skip_ws(P);
    size_t n = strlen(kw);
    if (strncmp(P->p, kw, n) != 0 || ident_char(P->p[n])) return 0;
    P->p += n;
    return 1;
}

static lmg_status read_quoted(parser *P, char **out)
{
    skip_ws(P);
    if (*P->p != '"') return expected(P, "a quoted string");
    mark start = here(P);
    P->p++;
    lmg_sbuf b = {0};
    lmg_sbuf_put(&b, "", 0);
    for (;;) {
        char c = *P->p;
        if (!c || c == '\n') {
            free(b.s);
            go_to(P, start);
            return perr(P, "unterminated string");
        }
        P->p++;
        if (c == '"') break;
        if (c != '\\') {
            lmg_sbuf_put(&b, &c, 1);
            continue;
        }
        char e = *P->p++;
        char v;
        switch (e) {
        case 'n': v = '\n'; break;
        case 't': v = '\t'; break;
        case 'r': v = '\r'; break;
        case '"': v = '"'; break;
        case '\\': v = '\\'; break;
        case 'x': {
            unsigned x = 0;
            for (int i = 0; i < 2; i++) {
                char h = *P->p;
                int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                if (d < 0) {
                    free(b.s);
                    return perr(P, "expected two hex digits after \\x");
                }
                x = x * 16 + (unsigned)d;
                P->p++;
            }
            if (x == 0) {
                free(b.s);
                return perr(P, "a string may not contain \\x00");
            }
            v = (char)x;
            break;
        }
        default:
            P->p--;
            free(b.s);
            return perr(P, "unknown escape '\\%c' (use \\n \\t \\r \\\" \\\\ or \\xHH)", e ? e : '0');
        }
        lmg_sbuf_put(&b, &v, 1);
    }
    if (b.oom) {
        free(b.s);
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    /* The binary form's strings are protobuf strings, which must be UTF-8. */
    size_t ok = b.s ? lmg_utf8_valid_prefix(b.s, b.n) : 0;
    if (b.s && ok != b.n) {
        lmg_status s = perr(P, "the string is not UTF-8 (byte 0x%02x at offset %zu); protobuf "
                               "strings must be", (unsigned char)b.s[ok], ok);
        free(b.s);
        return s;
    }
    *out = b.s;
    return LMG_OK;
}

/* A value or node name: bare ([A-Za-z0-9_./:'-]) or quoted. */
static lmg_status read_name(parser *P, char **out, const char *what)
{
    skip_ws(P);
    if (*P->p == '"') {
        LMG_TRY(read_quoted(P, out));
        if (!**out) {
            free(*out);
            *out = NULL; /* the caller frees what it was given on error (free_attrs) */
            return perr(P, "%s may not be empty", what);
        }
        return LMG_OK;
    }
    size_t n = 0;
    while (name_char(P->p[n]) && (P->p[n] != ':' || name_char(P->p[n + 1]))) n++;
    if (n == 0) return expected(P, what);
    *out = strndup(P->p, n);
    if (!*out) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    P->p += n;
    return LMG_OK;
}

/* A number token: sign, digits, letters (inf, nan, e, x), dots. */
static size_t number_len(const char *p)
{
    size_t n = 0;
    while (p[n] && (ident_char(p[n]) || p[n] == '.' || p[n] == '+' || p[n] == '-')) {
        /* '+'/'-' only at the start or right after an exponent marker. */
        if ((p[n] == '+' || p[n] == '-') && n > 0 && p[n - 1] != 'e' && p[n - 1] != 'E') break;
        n++;
    }
    return n;
}

static lmg_status read_int(parser *P, int64_t lo, int64_t hi, int64_t *out, const char *what)
{
    skip_ws(P);
    size_t n = number_len(P->p);
    char tmp[64];
    if (n == 0 || n >= sizeof tmp) return expected(P, what);
    memcpy(tmp, P->p, n);
    tmp[n] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (*end || errno || v < lo || v > hi) {
        if (!*end && errno == 0)
            return perr(P, "%s %s is outside %lld..%lld", what, tmp, (long long)lo, (long long)hi);
        return expected(P, what);
    }
    P->p += n;
    *out = v;
    return LMG_OK;
}

static int is_float_token(const char *t)
{
    const char *u = t[0] == '-' || t[0] == '+' ? t + 1 : t;
    return strpbrk(t, ".eE") != NULL || strcmp(u, "inf") == 0 || strcmp(u, "nan") == 0;
}

/* Parse a double from a whole token; 0 ok. */
static int token_f64(const char *t, double *out)
{
    const char *u = t[0] == '-' || t[0] == '+' ? t + 1 : t;
    int neg = t[0] == '-';
    if (strcmp(u, "inf") == 0) {
        *out = neg ? -INFINITY : INFINITY;
        return 0;
    }
    if (strcmp(u, "nan") == 0) {
        *out = neg ? -NAN : NAN;
        return 0;
    }
    for (const char *c = u; *c; c++)
        if (!((*c >= '0' && *c <= '9') || *c == '.' || *c == 'e' || *c == 'E' || *c == '+' || *c == '-'))
            return -1;
    char *end;
    errno = 0;
    double d = strtod(t, &end);
    if (end == t || *end || (errno == ERANGE && isinf(d))) return -1;
    *out = d;
    return 0;
}

static int token_f32(const char *t, float *out)
{
    const char *u = t[0] == '-' || t[0] == '+' ? t + 1 : t;
    int neg = t[0] == '-';
    uint32_t bits;
    if (strcmp(u, "inf") == 0) bits = neg ? 0xff800000u : 0x7f800000u;
    else if (strcmp(u, "nan") == 0) bits = neg ? 0xffc00000u : 0x7fc00000u;
    else if (t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
        if (strlen(t) != 10) return -1;
        bits = 0;
        for (int i = 2; i < 10; i++) {
            char h = t[i];
            int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                    : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
            if (d < 0) return -1;
            bits = bits * 16 + (uint32_t)d;
        }
    } else {
        for (const char *c = u; *c; c++)
            if (!((*c >= '0' && *c <= '9') || *c == '.' || *c == 'e' || *c == 'E' || *c == '+' ||
                  *c == '-'))
                return -1;
        char *end;
        errno = 0;
        float f = strtof(t, &end);
        if (end == t || *end || (errno == ERANGE && isinf(f))) return -1;
        *out = f;
        return 0;
    }
    memcpy(out, &bits, 4);
    return 0;
}

static lmg_status graph_fail(parser *P);

/* A type: dtype and dims, each a size, a dimension name (`B`) or, where `unknown` allows,
 * '?' (a node output dim that inference fills in). Names go to sym[] as in lmg_value. */
static lmg_status read_type(parser *P, lmg_dtype *t, lmg_shape *s, int8_t *sym, int unknown)
{
    skip_ws(P);
    size_t n = 0;
    while (ident_char(P->p[n])) n++;
    char tmp[16];
    if (n == 0 || n >= sizeof tmp) return expected(P, "a type such as f32[2,3]");
    memcpy(tmp, P->p, n);
    tmp[n] = 0;
    int d = lmg_dtype_from_name(tmp);
    if (d < 0) return perr(P, "unknown dtype '%s' (expected f32, i32, f16 or bf16)", tmp);
    P->p += n;
    *t = (lmg_dtype)d;
    LMG_TRY(expect(P, '[', "'[' after the dtype (use f32[] for a scalar)"));
    s->rank = 0;
    memset(s->dims, 0, sizeof s->dims);
    memset(sym, 0, LMG_MAX_DIMS * sizeof *sym);
    if (accept(P, ']')) return LMG_OK;
    for (;;) {
        if (s->rank == LMG_MAX_DIMS) return perr(P, "more than %d dimensions", LMG_MAX_DIMS);
        skip_ws(P);
        char c = *P->p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_') {
            size_t len = 0;
            while (ident_char(P->p[len])) len++;
            char name[LMG_DIM_NAME_MAX + 1];
            if (len >= LMG_DIM_NAME_MAX)
                return perr(P, "dimension name '%.*s' is longer than %d bytes", (int)len, P->p,
                            LMG_DIM_NAME_MAX - 1);
            memcpy(name, P->p, len);
            name[len] = 0;
            int k = lmg_graph_dim_symbol(P->g, name);
            if (k < 0) return graph_fail(P);
            sym[s->rank] = (int8_t)k;
            P->p += len;
        } else if (c == '?' && unknown) {
            sym[s->rank] = -1;
            P->p++;
        } else {
            LMG_TRY(read_int(P, 0, (int64_t)1 << 40, &s->dims[s->rank], "a dimension"));
        }
        s->rank++;
        if (accept(P, ']')) return LMG_OK;
        LMG_TRY(expect(P, ',', "',' or ']' in the shape"));
    }
}

/* Remember which line declared value v. */
static lmg_status note_decl(parser *P, int v)
{
    if (v >= P->n_decl) {
        int n = P->n_decl ? P->n_decl : 64;
        while (n <= v) n *= 2;
        int *d = realloc(P->decl_line, (size_t)n * sizeof *d);
        if (!d) return lmg_error(LMG_ERR_NOMEM, "out of memory");
        memset(d + P->n_decl, 0, (size_t)(n - P->n_decl) * sizeof *d);
        P->decl_line = d;
        P->n_decl = n;
    }
    P->decl_line[v] = P->line;
    return LMG_OK;
}

static int decl_line(const parser *P, int v) { return v >= 0 && v < P->n_decl ? P->decl_line[v] : 0; }

/* A referenced name not declared (yet): a node output placeholder with no producer. */
static int placeholder(const lmg_graph *g, int v)
{
    return v >= 0 && g->values[v].kind == LMG_VALUE_NODE && g->values[v].producer < 0;
}

/* A graph builder call failed: its message at the parser's position. Running out of memory
 * stays LMG_ERR_NOMEM; anything else the builder refuses is the text's fault. */
static lmg_status graph_fail(parser *P)
{
    lmg_status s = perr(P, "%s", lmg_last_error());
    return P->g->status == LMG_ERR_NOMEM ? LMG_ERR_NOMEM : s;
}

static int ref_value(parser *P, const char *name)
{
    int v = lmg_graph_find(P->g, name);
    if (v >= 0) return v;
    return lmg_graph_add_value(P->g, name, LMG_VALUE_NODE, LMG_DTYPE_UNDEFINED,
                               lmg_shape_make(0, NULL));
}

/* A declared value: new, or taking over a placeholder an earlier node referenced. */
static lmg_status declare(parser *P, const char *name, lmg_value_kind kind, lmg_dtype t,
                          lmg_shape s, int *out, mark at)
{
    lmg_graph *g = P->g;
    int v = lmg_graph_find(g, name);
    if (v >= 0 && !(placeholder(g, v) && decl_line(P, v) == 0)) {
        mark save = here(P);
        go_to(P, at);
        lmg_status st = decl_line(P, v)
            ? perr(P, "duplicate value name '%s' (first declared on line %d)", name, decl_line(P, v))
            : perr(P, "duplicate value name '%s'", name);
        go_to(P, save);
        return st;
    }
    if (v < 0) {
        v = lmg_graph_add_value(g, name, kind, t, s);
        if (v < 0) return graph_fail(P);
    } else {
        g->values[v].kind = kind;
        g->values[v].dtype = t;
        g->values[v].shape = s;
    }
    if (kind == LMG_VALUE_INPUT) {
        if (g->n_inputs == P->cap_inputs) {
            int n = P->cap_inputs ? 2 * P->cap_inputs : 64;
            int *in = realloc(g->inputs, (size_t)n * sizeof *in);
            if (!in) return lmg_error(LMG_ERR_NOMEM, "out of memory");
            g->inputs = in;
            P->cap_inputs = n;
        }
        g->inputs[g->n_inputs++] = v;
    }
    LMG_TRY(note_decl(P, v));
    *out = v;
    return LMG_OK;
}

static lmg_status read_external(parser *P, lmg_value *v, size_t nbytes)
{
    LMG_TRY(expect(P, '(', "'(' after external"));
    char *loc = NULL;
    int64_t off, len;
    LMG_TRY(read_quoted(P, &loc));
    lmg_status s = expect(P, ',', "',' after the file name");
    if (s == LMG_OK) s = read_int(P, 0, INT64_MAX, &off, "a byte offset");
    if (s == LMG_OK) s = expect(P, ',', "',' after the offset");
    if (s == LMG_OK) s = read_int(P, 0, INT64_MAX, &len, "a byte length");
    if (s == LMG_OK) s = expect(P, ')', "')' after the length");
    if (s == LMG_OK && (uint64_t)len != nbytes)
        s = perr(P, "external length %lld, but '%s' needs %zu bytes", (long long)len, v->name, nbytes);
    if (s == LMG_OK && (loc[0] == '/' || strstr(loc, "..")))
        s = perr(P, "external location '%s' leaves the graph's directory", loc);
    char *path = NULL;
    int fd = -1;
    uint64_t size = 0;
    if (s == LMG_OK) {
        size_t n = strlen(P->dir) + strlen(loc) + 2;
        path = malloc(n);
        if (!path) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        else snprintf(path, n, "%s/%s", P->dir, loc);
    }
    if (s == LMG_OK && lmg_open_regular(path, &fd, &size) != LMG_OK)
        s = perr(P, "cannot open external file: %s", lmg_last_error());
    /* The range is checked against the file before allocating, so a declared size far
     * beyond the file never reaches malloc. */
    if (s == LMG_OK && ((uint64_t)off > size || (uint64_t)len > size - (uint64_t)off))
        s = perr(P, "external bytes [%lld, %lld) lie outside '%s'", (long long)off,
                 (long long)off + (long long)(len < INT64_MAX - off ? len : INT64_MAX - off), loc);
    if (s == LMG_OK) {
        v->data = malloc(nbytes ? nbytes : 1);
        v->fill = LMG_INIT_DATA;
        if (!v->data) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        else {
            size_t got = 0;
            while (got < nbytes) {
                ssize_t r = pread(fd, (char *)v->data + got, nbytes - got, (off_t)((size_t)off + got));
                if (r < 0 && errno == EINTR) continue;
                if (r <= 0) break;
                got += (size_t)r;
            }
            if (got != nbytes)
                s = perr(P, "cannot read external bytes [%lld, %lld) of '%s'", (long long)off,
                         (long long)(off + len), loc);
        }
    }
    if (fd >= 0) close(fd);
    /* The graph's byte range is what is read (authoritative); a safetensors file's header
     * must agree, as in the binary loader. */
    size_t ll = s == LMG_OK ? strlen(loc) : 0;
    if (s == LMG_OK && ll >= 12 && strcmp(loc + ll - 12, ".safetensors") == 0) {
        lmg_st_file *sf = NULL;
        s = lmg_st_open_header(path, &sf);
        if (s == LMG_OK)
            s = lmg_st_check_tensor(sf, path, v->name, v->dtype, &v->shape, (uint64_t)off,
                                    (uint64_t)len);
        lmg_st_close(sf);
        if (s != LMG_OK) s = perr(P, "%s", lmg_last_error());
    }
    free(path);
    free(loc);
    return s;
}

static lmg_status read_data(parser *P, lmg_value *v)
{
    int64_t n = lmg_shape_numel(&v->shape);
    size_t esz = lmg_dtype_size(v->dtype);
    /* The buffer grows with the values actually written, so a huge declared shape with a
     * short list is reported as a count mismatch rather than allocated up front. */
    int64_t cap = n < 4096 ? n : 4096;
    v->fill = LMG_INIT_DATA;
    v->data = malloc(cap > 0 ? (size_t)cap * esz : 1);
    if (!v->data) return lmg_error(LMG_ERR_NOMEM, "out of memory for '%s'", v->name);
    int64_t i = 0;
    if (accept(P, ']')) goto check;
    for (;;) {
        skip_ws(P);
        size_t len = number_len(P->p);
        char tmp[64];
        if (len == 0 || len >= sizeof tmp) return expected(P, "a number");
        memcpy(tmp, P->p, len);
        tmp[len] = 0;
        if (i >= n) return perr(P, "'%s' has %lld elements, but more values follow", v->name, (long long)n);
        if (i == cap) {
            cap = cap > n / 2 ? n : 2 * cap;
            void *d = realloc(v->data, (size_t)cap * esz);
            if (!d) return lmg_error(LMG_ERR_NOMEM, "out of memory for '%s'", v->name);
            v->data = d;
        }
        int bad;
        if (v->dtype == LMG_DTYPE_F32) {
            bad = token_f32(tmp, &((float *)v->data)[i]);
        } else if (v->dtype == LMG_DTYPE_I32) {
            char *end;
            errno = 0;
            long long x = strtoll(tmp, &end, 10);
            bad = *end || errno || x < INT32_MIN || x > INT32_MAX;
            ((int32_t *)v->data)[i] = (int32_t)x;
        } else {
            char *end;
            unsigned long x = strtoul(tmp, &end, 16);
            bad = *end || x > 0xffff || strncmp(tmp, "0x", 2) != 0;
            ((uint16_t *)v->data)[i] = (uint16_t)x;
        }
        if (bad)
            return perr(P, "'%s' is not a valid %s value", tmp, lmg_dtype_name(v->dtype));
        P->p += len;
        i++;
        if (accept(P, ']')) break;
        LMG_TRY(expect(P, ',', "',' or ']' in the data"));
        if (accept(P, ']')) break; /* a trailing comma */
    }
check:
    if (i != n) return perr(P, "'%s' has %lld elements, but %lld values are given", v->name,
                            (long long)n, (long long)i);
    return LMG_OK;
}

/* `ones` and `normal(std)` for hand-written models: the data is made here, normal draws from
 * a generator seeded by the value's name (splitmix64, Box-Muller in double), so a file gives
 * the same weights every time it is read; the graph then holds them as ordinary data. */
static uint64_t init_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static lmg_status fill_init(parser *P, lmg_value *v, double std, int ones)
{
    if (v->dtype != LMG_DTYPE_F32) return perr(P, "'%s': ones and normal() fill f32 values", v->name);
    int64_t n = lmg_shape_numel(&v->shape);
    if (n > ((int64_t)1 << 28)) return perr(P, "'%s' is too large to fill in a text file", v->name);
    float *d = malloc((size_t)(n > 0 ? n : 1) * sizeof *d);
    if (!d) return lmg_error(LMG_ERR_NOMEM, "out of memory for '%s'", v->name);
    uint64_t seed = 1469598103934665603ull;
    for (const char *c = v->name; *c; c++) seed = (seed ^ (uint8_t)*c) * 1099511628211ull;
    for (int64_t i = 0; i < n; i++) {
        if (ones) {
            d[i] = 1.0f;
            continue;
        }
        double u1 = ((double)(init_next(&seed) >> 11) + 1.0) * 0x1.0p-53;
        double u2 = (double)(init_next(&seed) >> 11) * 0x1.0p-53;
        d[i] = (float)(std * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    }
    v->fill = LMG_INIT_DATA;
    v->data = d;
    return LMG_OK;
}

static lmg_status stmt_init(parser *P, int trainable)
{
    skip_ws(P);
    mark at = here(P);
    char *name = NULL;
    LMG_TRY(read_name(P, &name, "a value name"));
    lmg_dtype t = LMG_DTYPE_UNDEFINED;
    lmg_shape s;
    int8_t sym[LMG_MAX_DIMS];
    lmg_status st = expect(P, ':', "':' and a type after the name");
    if (st == LMG_OK) st = read_type(P, &t, &s, sym, 0);
    if (st == LMG_OK) st = expect(P, '=', "'=' and the contents (zeros, [...] or external(...))");
    int v = -1;
    if (st == LMG_OK) st = declare(P, name, LMG_VALUE_INIT, t, s, &v, at);
    free(name);
    LMG_TRY(st);
    lmg_value *val = &P->g->values[v];
    val->trainable = trainable;
    memcpy(val->dim_sym, sym, sizeof sym);
    if (accept_word(P, "zeros")) {
        val->fill = LMG_INIT_ZEROS;
        return LMG_OK;
    }
    for (int i = 0; i < s.rank; i++)
        if (sym[i]) return perr(P, "'%s' has a named dimension: only zeros can fill it", val->name);
    if (accept_word(P, "external"))
        return read_external(P, val, (size_t)lmg_shape_numel(&s) * lmg_dtype_size(t));
    if (accept_word(P, "ones")) return fill_init(P, val, 0.0, 1);
    if (accept_word(P, "normal")) {
        double std = 0;
        LMG_TRY(expect(P, '(', "'(' and a standard deviation after normal"));
        skip_ws(P);
        size_t len = number_len(P->p);
        char tmp[64];
        if (len == 0 || len >= sizeof tmp) return expected(P, "a standard deviation");
        memcpy(tmp, P->p, len);
        tmp[len] = 0;
        if (token_f64(tmp, &std) != 0 || !(std >= 0) || std > 1e6)
            return perr(P, "'%s' is not a standard deviation", tmp);
        P->p += len;
        LMG_TRY(expect(P, ')', "')' after the standard deviation"));
        return fill_init(P, val, std, 0);
    }
    if (accept(P, '[')) return read_data(P, val);
    return expected(P, "zeros, ones, normal(std), [values] or external(\"file\", offset, length)");
}

static void free_attrs(lmg_attr *a, int n)
{
    for (int i = 0; i < n; i++) {
        free(a[i].name);
        free(a[i].s);
        free(a[i].ints);
        free(a[i].floats);
    }
    free(a);
}

static lmg_status read_attr_value(parser *P, lmg_attr *a)
{
    skip_ws(P);
    if (*P->p == '"') {
        a->type = LMG_ATTR_STRING;
        return read_quoted(P, &a->s);
    }
    int want = 0; /* 0 any, 1 ints, 2 floats */
    if (accept_word(P, "ints")) want = 1;
    else if (accept_word(P, "floats")) want = 2;
    if (want || *P->p == '[') {
        LMG_TRY(expect(P, '[', "'[' to start the list"));
        int cap = 0, n = 0, any_float = want == 2;
        char **toks = NULL;
        lmg_status s = LMG_OK;
        if (!accept(P, ']'))
            for (;;) {
                skip_ws(P);
                size_t len = number_len(P->p);
                if (len == 0) {
                    s = expected(P, "a number in the list");
                    break;
                }
                if (n == cap) {
                    cap = cap ? 2 * cap : 8;
                    char **nt = realloc(toks, (size_t)cap * sizeof *nt);
                    if (!nt) {
                        s = lmg_error(LMG_ERR_NOMEM, "out of memory");
                        break;
                    }
                    toks = nt;
                }
                toks[n] = strndup(P->p, len);
                if (!toks[n]) {
                    s = lmg_error(LMG_ERR_NOMEM, "out of memory");
                    break;
                }
                any_float |= is_float_token(toks[n]);
                n++;
                P->p += len;
                if (accept(P, ']')) break;
                if ((s = expect(P, ',', "',' or ']' in the list")) != LMG_OK) break;
                if (accept(P, ']')) break;
            }
        if (s == LMG_OK && want == 1 && any_float)
            s = perr(P, "attribute '%s': ints[] holds a float", a->name);
        if (s == LMG_OK) {
            a->n = n;
            if (any_float) {
                a->type = LMG_ATTR_FLOATS;
                a->floats = malloc((size_t)(n ? n : 1) * sizeof *a->floats);
                if (!a->floats) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
                for (int i = 0; s == LMG_OK && i < n; i++)
                    if (token_f64(toks[i], &a->floats[i]) != 0)
                        s = perr(P, "attribute '%s': '%s' is not a number", a->name, toks[i]);
            } else {
                a->type = LMG_ATTR_INTS;
                a->ints = malloc((size_t)(n ? n : 1) * sizeof *a->ints);
                if (!a->ints) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
                for (int i = 0; s == LMG_OK && i < n; i++) {
                    char *end;
                    errno = 0;
                    a->ints[i] = strtoll(toks[i], &end, 10);
                    if (*end || errno)
                        s = perr(P, "attribute '%s': '%s' is not an integer", a->name, toks[i]);
                }
            }
        }
        for (int i = 0; i < n; i++) free(toks[i]);
        free(toks);
        return s;
    }
    size_t len = number_len(P->p);
    char tmp[64];
    if (len == 0 || len >= sizeof tmp)
        return expected(P, "an attribute value (number, \"string\" or [list])");
    memcpy(tmp, P->p, len);
    tmp[len] = 0;
    if (((tmp[0] >= 'A' && tmp[0] <= 'Z') || (tmp[0] >= 'a' && tmp[0] <= 'z') || tmp[0] == '_') &&
        strcmp(tmp, "inf") != 0 && strcmp(tmp, "nan") != 0) {
        /* An int given by a dimension name: bound with the graph's sizes. */
        if (lmg_graph_dim_symbol(P->g, tmp) < 0) return graph_fail(P);
        a->type = LMG_ATTR_INT;
        a->s = strdup(tmp);
        if (!a->s) return lmg_error(LMG_ERR_NOMEM, "out of memory");
        P->p += len;
        return LMG_OK;
    }
    if (is_float_token(tmp)) {
        a->type = LMG_ATTR_FLOAT;
        if (token_f64(tmp, &a->f) != 0) return perr(P, "'%s' is not a number", tmp);
    } else {
        a->type = LMG_ATTR_INT;
        char *end;
        errno = 0;
        a->i = strtoll(tmp, &end, 10);
        if (*end || errno) return perr(P, "'%s' is not an integer", tmp);
    }
    P->p += len;
    return LMG_OK;
}

static lmg_status read_attrs(parser *P, lmg_attr **out, int *n_out)
{
    lmg_attr *a = NULL;
    int n = 0, cap = 0;
    lmg_status s = LMG_OK;
    *out = NULL;
    *n_out = 0;
    if (accept(P, '}')) return LMG_OK;
    for (;;) {
        /* The .pb loader's limit too: the verifier compares each pair of attribute names. */
        if (n == 4096) {
            s = perr(P, "more than 4096 attributes");
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            lmg_attr *na = realloc(a, (size_t)cap * sizeof *na);
            if (!na) {
                s = lmg_error(LMG_ERR_NOMEM, "out of memory");
                break;
            }
            a = na;
        }
        memset(&a[n], 0, sizeof a[n]);
        n++;
        if ((s = read_name(P, &a[n - 1].name, "an attribute name")) != LMG_OK) break;
        if ((s = expect(P, '=', "'=' after the attribute name")) != LMG_OK) break;
        if ((s = read_attr_value(P, &a[n - 1])) != LMG_OK) break;
        if (accept(P, '}')) break;
        if ((s = expect(P, ',', "',' or '}' after an attribute")) != LMG_OK) break;
        if (accept(P, '}')) break;
    }
    if (s != LMG_OK) {
        free_attrs(a, n);
        return s;
    }
    *out = a;
    *n_out = n;
    return LMG_OK;
}

typedef struct {
    char **names;
    int n, cap;
} name_list;

static void names_free(name_list *l)
{
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
}

static lmg_status names_push(name_list *l, char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 8;
        char **nn = realloc(l->names, (size_t)cap * sizeof *nn);
        if (!nn) {
            free(s);
            return lmg_error(LMG_ERR_NOMEM, "out of memory");
        }
        l->names = nn;
        l->cap = cap;
    }
    l->names[l->n++] = s;
    return LMG_OK;
}

/* The op name closest to a mistyped one, when it is close enough to be the likely intent. */
static const char *nearest_op(const char *name)
{
    const char *best = NULL;
    int bd = 1 << 30;
    for (int op = 0; op < LMG_OP_COUNT; op++) {
        int d = lmg_name_distance(name, lmg_op_name((lmg_op)op), 1);
        if (d < bd) bd = d, best = lmg_op_name((lmg_op)op);
    }
    return lmg_name_close(name, bd) ? best : NULL;
}

static lmg_status stmt_node(parser *P)
{
    lmg_graph *g = P->g;
    int line = P->line;
    char *node_name = NULL;
    name_list outs = {0}, ins = {0};
    lmg_dtype otype[64];
    lmg_shape oshape[64];
    int8_t osym[64][LMG_MAX_DIMS];
    mark opos[64];
    lmg_attr *attrs = NULL;
    int n_attr = 0, *in_ids = NULL, *out_ids = NULL;
    lmg_status s = LMG_OK;
    if (accept(P, '[')) {
        s = read_name(P, &node_name, "a node name");
        if (s == LMG_OK) s = expect(P, ']', "']' after the node name");
    }
    while (s == LMG_OK) {
        if (outs.n == 64) {
            s = perr(P, "too many outputs");
            break;
        }
        skip_ws(P);
        opos[outs.n] = here(P);
        char *o = NULL;
        if ((s = read_name(P, &o, "an output name")) != LMG_OK) break;
        otype[outs.n] = LMG_DTYPE_UNDEFINED;
        oshape[outs.n] = lmg_shape_make(0, NULL);
        memset(osym[outs.n], 0, sizeof osym[outs.n]);
        if ((s = names_push(&outs, o)) != LMG_OK) break;
        if (accept(P, ':') &&
            (s = read_type(P, &otype[outs.n - 1], &oshape[outs.n - 1], osym[outs.n - 1], 1)) !=
                LMG_OK)
            break;
        if (accept(P, '=')) break;
        s = expect(P, ',', "',' or '=' after an output");
    }
    int op = -1;
    if (s == LMG_OK) {
        skip_ws(P);
        size_t n = 0;
        while (ident_char(P->p[n])) n++;
        if (n == 0) s = expected(P, "an op name");
        else {
            char opname[64];
            snprintf(opname, sizeof opname, "%.*s", (int)(n < 63 ? n : 63), P->p);
            op = lmg_op_from_name(opname);
            const char *near = op < 0 ? nearest_op(opname) : NULL;
            if (op < 0)
                s = perr(P, "node '%s': unknown op '%s'%s%s%s", node_name ? node_name : outs.names[0],
                         opname, near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
            else P->p += n;
        }
    }
    if (s == LMG_OK) s = expect(P, '(', "'(' after the op name");
    if (s == LMG_OK && !accept(P, ')'))
        while (s == LMG_OK) {
            skip_ws(P);
            char *in = NULL;
            if (*P->p == '"' && P->p[1] == '"') {
                P->p += 2;
                in = strdup("");
                if (!in) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
            } else {
                s = read_name(P, &in, "an input name or \"\"");
            }
            if (s == LMG_OK) s = names_push(&ins, in);
            if (s != LMG_OK || accept(P, ')')) break;
            s = expect(P, ',', "',' or ')' after an input");
        }
    if (s == LMG_OK && accept(P, '{')) s = read_attrs(P, &attrs, &n_attr);
    if (s == LMG_OK && !node_name && !(node_name = strdup(outs.names[0])))
        s = lmg_error(LMG_ERR_NOMEM, "out of memory");
    if (s == LMG_OK) {
        in_ids = malloc((size_t)(ins.n + 1) * sizeof *in_ids);
        out_ids = malloc((size_t)(outs.n + 1) * sizeof *out_ids);
        if (!in_ids || !out_ids) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; s == LMG_OK && k < outs.n; k++) {
        int v = lmg_graph_find(g, outs.names[k]);
        if (v >= 0 && !placeholder(g, v)) {
            mark save = here(P);
            go_to(P, opos[k]);
            if (g->values[v].kind == LMG_VALUE_NODE)
                s = perr(P, "value '%s' is produced by both node '%s' and node '%s'",
                         outs.names[k], g->nodes[g->values[v].producer].name, node_name);
            else
                s = perr(P, "node '%s': output '%s' is %s, which no node may produce", node_name,
                         outs.names[k],
                         g->values[v].kind == LMG_VALUE_INPUT ? "a graph input" : "an initializer");
            go_to(P, save);
            break;
        }
        for (int j = 0; j < k; j++)
            if (strcmp(outs.names[j], outs.names[k]) == 0) {
                mark save = here(P);
                go_to(P, opos[k]);
                s = perr(P, "node '%s': output '%s' is named twice", node_name, outs.names[k]);
                go_to(P, save);
            }
        if (s != LMG_OK) break;
        if (v < 0) {
            v = lmg_graph_add_value(g, outs.names[k], LMG_VALUE_NODE, otype[k], oshape[k]);
            if (v < 0) {
                s = graph_fail(P);
                break;
            }
        } else {
            g->values[v].dtype = otype[k];
            g->values[v].shape = oshape[k];
        }
        memcpy(g->values[v].dim_sym, osym[k], sizeof osym[k]);
        out_ids[k] = v;
        s = note_decl(P, v);
    }
    for (int k = 0; s == LMG_OK && k < ins.n; k++) {
        in_ids[k] = ins.names[k][0] ? ref_value(P, ins.names[k]) : -1;
        if (ins.names[k][0] && in_ids[k] < 0) s = graph_fail(P);
    }
    if (s == LMG_OK)
        s = lmg_graph_append_node(g, node_name, (lmg_op)op, in_ids, ins.n, out_ids, outs.n, attrs,
                                  n_attr);
    if (s == LMG_OK) {
        if (g->n_nodes > P->n_node_line) {
            int n = P->n_node_line ? 2 * P->n_node_line : 64;
            int *nl = realloc(P->node_line, (size_t)n * sizeof *nl);
            if (!nl) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
            else {
                P->node_line = nl;
                P->n_node_line = n;
            }
        }
        if (s == LMG_OK) P->node_line[g->n_nodes - 1] = line;
    }
    free(node_name);
    names_free(&outs);
    names_free(&ins);
    free_attrs(attrs, n_attr);
    free(in_ids);
    free(out_ids);
    return s;
}

static lmg_status stmt_output(parser *P)
{
    lmg_graph *g = P->g;
    for (;;) {
        skip_ws(P);
        mark at = here(P);
        char *name = NULL;
        LMG_TRY(read_name(P, &name, "an output name"));
        int v = ref_value(P, name);
        lmg_status s = v < 0 ? graph_fail(P) : LMG_OK;
        /* Marks and a doubling list rather than a scan of the outputs so far (and
         * lmg_graph_add_output's own), which made many outputs parse in quadratic time. */
        if (s == LMG_OK && v >= P->n_listed) {
            int n = P->n_listed ? 2 * P->n_listed : 256;
            while (n <= v) n *= 2;
            unsigned char *l = realloc(P->listed, (size_t)n);
            if (!l) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
            else {
                memset(l + P->n_listed, 0, (size_t)(n - P->n_listed));
                P->listed = l;
                P->n_listed = n;
            }
        }
        if (s == LMG_OK && P->listed[v]) {
            go_to(P, at);
            s = perr(P, "output '%s' is listed twice", name);
        }
        if (s == LMG_OK && g->n_outputs == P->cap_outputs) {
            int n = P->cap_outputs ? 2 * P->cap_outputs : 64;
            int *o = realloc(g->outputs, (size_t)n * sizeof *o);
            if (!o) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
            else {
                g->outputs = o;
                P->cap_outputs = n;
            }
        }
        if (s == LMG_OK) {
            P->listed[v] = 1;
            g->outputs[g->n_outputs++] = v;
        }
        free(name);
        LMG_TRY(s);
        if (!accept(P, ',')) return LMG_OK;
    }
}

static uint32_t hash_key(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* Append metadata k = v to the graph, taking ownership of both, unless k is there already
 * (*taken = 1, nothing owned). A hash of the keys and a doubling list keep a file of many
 * entries linear; lmg_graph_get_meta / set_meta scan every key. */
static lmg_status meta_add(parser *P, char *k, char *v, int *taken)
{
    lmg_graph *g = P->g;
    if (2 * (g->n_meta + 1) > P->meta_cap) {
        int cap = P->meta_cap ? 2 * P->meta_cap : 64;
        int *h = malloc((size_t)cap * sizeof *h);
        lmg_meta *m = realloc(g->meta, (size_t)cap * sizeof *m);
        if (m) g->meta = m;
        if (!h || !m) {
            free(h);
            return lmg_error(LMG_ERR_NOMEM, "out of memory");
        }
        for (int i = 0; i < cap; i++) h[i] = -1;
        for (int i = 0; i < g->n_meta; i++) {
            uint32_t j = hash_key(g->meta[i].key) & (uint32_t)(cap - 1);
            while (h[j] >= 0) j = (j + 1) & (uint32_t)(cap - 1);
            h[j] = i;
        }
        free(P->meta_hash);
        P->meta_hash = h;
        P->meta_cap = cap;
    }
    uint32_t mask = (uint32_t)(P->meta_cap - 1), j = hash_key(k) & mask;
    for (; P->meta_hash[j] >= 0; j = (j + 1) & mask)
        if (strcmp(g->meta[P->meta_hash[j]].key, k) == 0) {
            *taken = 1;
            return LMG_OK;
        }
    P->meta_hash[j] = g->n_meta;
    g->meta[g->n_meta].key = k;
    g->meta[g->n_meta].value = v;
    g->n_meta++;
    return LMG_OK;
}

static lmg_status parse_body(parser *P)
{
    lmg_graph *g = P->g;
    int64_t ir, opset;
    if (!accept_word(P, "lmgraph")) return expected(P, "'lmgraph ir 1 opset 1' at the start");
    if (!accept_word(P, "ir")) return expected(P, "'ir' after 'lmgraph'");
    LMG_TRY(read_int(P, 0, INT64_MAX, &ir, "the ir version"));
    if (ir > LMG_IR_VERSION)
        return lmg_error(LMG_ERR_VERSION, "%s: ir_version %lld is newer than this lmgraph (%d); "
                         "upgrade lmgraph", P->file, (long long)ir, LMG_IR_VERSION);
    if (ir < 1) return perr(P, "ir version %lld is not valid", (long long)ir);
    if (!accept_word(P, "opset")) return expected(P, "'opset' after the ir version");
    LMG_TRY(read_int(P, 0, INT64_MAX, &opset, "the opset version"));
    if (opset > LMG_OPSET_VERSION)
        return lmg_error(LMG_ERR_VERSION, "%s: opset_version %lld is newer than this lmgraph (%d); "
                         "upgrade lmgraph", P->file, (long long)opset, LMG_OPSET_VERSION);
    if (opset < 1) return perr(P, "opset version %lld is not valid", (long long)opset);
    g->ir_version = ir;
    g->opset_version = opset;
    if (!accept_word(P, "graph")) return expected(P, "'graph \"name\" {'");
    char *name = NULL;
    skip_ws(P);
    LMG_TRY(*P->p == '"' ? read_quoted(P, &name) : read_name(P, &name, "a graph name"));
    free(g->name);
    g->name = name;
    LMG_TRY(expect(P, '{', "'{' after the graph name"));
    for (;;) {
        if (accept(P, '}')) break;
        if (accept_word(P, "node")) {
            LMG_TRY(stmt_node(P));
        } else if (accept_word(P, "input")) {
            skip_ws(P);
            mark at = here(P);
            char *vn = NULL;
            lmg_dtype t = LMG_DTYPE_UNDEFINED;
            lmg_shape s;
            int8_t sym[LMG_MAX_DIMS];
            int v;
            LMG_TRY(read_name(P, &vn, "an input name"));
            lmg_status st = expect(P, ':', "':' and a type after the input name");
            if (st == LMG_OK) st = read_type(P, &t, &s, sym, 0);
            if (st == LMG_OK) st = declare(P, vn, LMG_VALUE_INPUT, t, s, &v, at);
            free(vn);
            LMG_TRY(st);
            memcpy(g->values[v].dim_sym, sym, sizeof sym);
        } else if (accept_word(P, "param")) {
            LMG_TRY(stmt_init(P, 1));
        } else if (accept_word(P, "const")) {
            LMG_TRY(stmt_init(P, 0));
        } else if (accept_word(P, "state")) {
            LMG_TRY(stmt_init(P, 0));
        } else if (accept_word(P, "output")) {
            LMG_TRY(stmt_output(P));
        } else if (accept_word(P, "meta")) {
            char *k = NULL, *v = NULL;
            skip_ws(P);
            mark at = here(P);
            LMG_TRY(read_quoted(P, &k));
            lmg_status st = expect(P, '=', "'=' after the metadata key");
            if (st == LMG_OK) st = read_quoted(P, &v);
            int taken = 0;
            if (st == LMG_OK) st = meta_add(P, k, v, &taken);
            if (taken) {
                go_to(P, at);
                st = perr(P, "metadata key '%s' is given twice", k);
            }
            if (st != LMG_OK || taken) {
                free(k);
                free(v);
            }
            LMG_TRY(st);
        } else if (accept_word(P, "producer")) {
            char *v = NULL;
            LMG_TRY(read_quoted(P, &v));
            free(g->producer);
            g->producer = v;
        } else {
            return expected(P, "node, input, param, const, state, output, meta or '}'");
        }
    }
    skip_ws(P);
    if (*P->p) return expected(P, "the end of the file after '}'");
    return LMG_OK;
}

/* Put "file:line: " in front of a verifier message that names a node of this file.
 * `names` holds each node's name pointer in file order (the verifier may reorder nodes,
 * but the strings stay where they are). */
static lmg_status locate(parser *P, const char *const *names, int n, lmg_status s)
{
    const char *msg = lmg_last_error();
    const char *q = strstr(msg, "node '");
    int line = 0;
    if (q) {
        q += 6;
        const char *e = strchr(q, '\'');
        for (int i = 0; e && i < n && i < P->n_node_line; i++)
            if (strlen(names[i]) == (size_t)(e - q) && strncmp(names[i], q, (size_t)(e - q)) == 0)
                line = P->node_line[i];
    }
    if (line) return lmg_error_prefix(s, "%s:%d", P->file, line);
    return lmg_error_prefix(s, "%s", P->file);
}

lmg_status lmg_graph_parse(const char *text, const char *filename, lmg_graph **out)
{
    if (!text || !out) return lmg_error(LMG_ERR_ARG, "parse: bad arguments");
    *out = NULL;
    parser P;
    memset(&P, 0, sizeof P);
    P.p = P.line_start = text;
    P.line = 1;
    P.file = filename ? filename : "<text>";
    const char *slash = filename ? strrchr(filename, '/') : NULL;
    P.dir = slash ? strndup(filename, (size_t)(slash - filename + (slash == filename))) : strdup(".");
    P.g = lmg_graph_new("main");
    if (!P.dir || !P.g) {
        free(P.dir);
        lmg_graph_free(P.g);
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    lmg_status s = parse_body(&P);
    if (s == LMG_OK && P.g->status != LMG_OK) s = P.g->status;
    if (s == LMG_OK) {
        int n = P.g->n_nodes;
        const char **names = malloc((size_t)(n > 0 ? n : 1) * sizeof *names);
        if (!names) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        for (int i = 0; names && i < n; i++) names[i] = P.g->nodes[i].name;
        if (s == LMG_OK) s = lmg_graph_verify(P.g);
        if (s != LMG_OK && names) locate(&P, names, n, s);
        free(names);
    }
    free(P.dir);
    free(P.decl_line);
    free(P.node_line);
    free(P.listed);
    free(P.meta_hash);
    if (s != LMG_OK) {
        lmg_graph_free(P.g);
        return s;
    }
    *out = P.g;
    return LMG_OK;
}
