/* labels.c — labelled corpora (class folders, TSV, JSONL), stratified splits, padded rows,
 * labelled shards and the label map, for classification fine-tuning. */
#include "labels.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define IGNORE_INDEX (-100)

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull; /* splitmix64's finaliser */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void lmg_labelled_free(lmg_labelled *l)
{
    if (!l) return;
    lmg_corpus_free(l->docs);
    free(l->label);
    for (int i = 0; i < l->n_classes; i++) free(l->classes[i]);
    free(l->classes);
    free(l->left_out);
    free(l);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- raw (label, text) pairs ------------------------------------------------------- */

typedef struct pairs {
    char **label, **text;
    size_t *len;
    size_t n, cap;
} pairs;

static void pairs_free(pairs *p)
{
    for (size_t i = 0; i < p->n; i++) free(p->label[i]), free(p->text[i]);
    free(p->label);
    free(p->text);
    free(p->len);
    memset(p, 0, sizeof *p);
}

/* Takes ownership of label and text. */
static lmg_status pairs_push(pairs *p, char *label, char *text, size_t len)
{
    if (!label || !text) {
        free(label), free(text);
        return lmg_error(LMG_ERR_NOMEM, "out of memory reading labelled data");
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 256;
        char **a = realloc(p->label, cap * sizeof *a);
        if (a) p->label = a;
        char **b = realloc(p->text, cap * sizeof *b);
        if (b) p->text = b;
        size_t *c = realloc(p->len, cap * sizeof *c);
        if (c) p->len = c;
        if (!a || !b || !c) {
            free(label), free(text);
            return lmg_error(LMG_ERR_NOMEM, "out of memory reading labelled data");
        }
        p->cap = cap;
    }
    p->label[p->n] = label;
    p->text[p->n] = text;
    p->len[p->n] = len;
    p->n++;
    return LMG_OK;
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n' && s[i] != '\v' &&
            s[i] != '\f')
            return 0;
    return 1;
}

static lmg_status read_tsv(const char *path, const char *buf, size_t n, pairs *p)
{
    const char *end = buf + n;
    size_t line = 0;
    for (const char *s = buf; s < end;) {
        const char *e = memchr(s, '\n', (size_t)(end - s));
        if (!e) e = end;
        line++;
        const char *le = e;
        if (le > s && le[-1] == '\r') le--;
        if (!blank(s, (size_t)(le - s))) {
            const char *tab = memchr(s, '\t', (size_t)(le - s));
            if (!tab)
                return lmg_error(LMG_ERR_DATA, "%s:%zu: no tab between label and text", path,
                                 line);
            if (blank(s, (size_t)(tab - s)))
                return lmg_error(LMG_ERR_DATA, "%s:%zu: empty label", path, line);
            if (blank(tab + 1, (size_t)(le - tab - 1)))
                return lmg_error(LMG_ERR_DATA, "%s:%zu: empty text", path, line);
            if (memchr(s, 0, (size_t)(le - s)))
                return lmg_error(LMG_ERR_DATA, "%s:%zu: a NUL byte", path, line);
            LMG_TRY(pairs_push(p, strndup(s, (size_t)(tab - s)),
                               strndup(tab + 1, (size_t)(le - tab - 1)),
                               (size_t)(le - tab - 1)));
        }
        s = e < end ? e + 1 : end;
    }
    return LMG_OK;
}

/* ---- a JSON object of one line ---------------------------------------------------- */

typedef struct jcur {
    const char *p, *e;
} jcur;

static void jws(jcur *c)
{
    while (c->p < c->e && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r')) c->p++;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static int read_u4(jcur *c, unsigned *u)
{
    if (c->e - c->p < 4) return -1;
    *u = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(c->p[i]);
        if (h < 0) return -1;
        *u = *u * 16 + (unsigned)h;
    }
    c->p += 4;
    return 0;
}

/* A JSON string at c->p (after the quote check) into a malloc'd UTF-8 buffer; NULL with
 * *why set on malformed input. */
static char *jstring(jcur *c, size_t *len, const char **why)
{
    if (c->p >= c->e || *c->p != '"') {
        *why = "a string was expected";
        return NULL;
    }
    c->p++;
    char *out = malloc((size_t)(c->e - c->p) + 1);
    if (!out) {
        *why = "out of memory";
        return NULL;
    }
    size_t n = 0;
    while (c->p < c->e && *c->p != '"') {
        unsigned char ch = (unsigned char)*c->p++;
        if (ch < 0x20) {
            *why = "a control character inside a string";
            free(out);
            return NULL;
        }
        if (ch != '\\') {
            out[n++] = (char)ch;
            continue;
        }
        if (c->p >= c->e) break;
        char esc = *c->p++;
        unsigned u;
        switch (esc) {
        case '"': out[n++] = '"'; break;
        case '\\': out[n++] = '\\'; break;
        case '/': out[n++] = '/'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u':
            if (read_u4(c, &u) != 0) {
                *why = "a bad \\u escape";
                free(out);
                return NULL;
            }
            if (u >= 0xD800 && u < 0xDC00) { /* a surrogate pair */
                unsigned lo;
                if (c->e - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' ||
                    (c->p += 2, read_u4(c, &lo) != 0) || lo < 0xDC00 || lo > 0xDFFF) {
                    *why = "an unpaired surrogate";
                    free(out);
                    return NULL;
                }
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            } else if (u >= 0xDC00 && u < 0xE000) {
                *why = "an unpaired surrogate";
                free(out);
                return NULL;
            }
            if (u == 0) {
                *why = "a NUL character";
                free(out);
                return NULL;
            }
            /* \uXXXX takes 6 input bytes, its UTF-8 at most 4: the buffer suffices. */
            if (u < 0x80) out[n++] = (char)u;
            else if (u < 0x800) {
                out[n++] = (char)(0xC0 | (u >> 6));
                out[n++] = (char)(0x80 | (u & 0x3F));
            } else if (u < 0x10000) {
                out[n++] = (char)(0xE0 | (u >> 12));
                out[n++] = (char)(0x80 | ((u >> 6) & 0x3F));
                out[n++] = (char)(0x80 | (u & 0x3F));
            } else {
                out[n++] = (char)(0xF0 | (u >> 18));
                out[n++] = (char)(0x80 | ((u >> 12) & 0x3F));
                out[n++] = (char)(0x80 | ((u >> 6) & 0x3F));
                out[n++] = (char)(0x80 | (u & 0x3F));
            }
            break;
        default:
            *why = "an unknown escape";
            free(out);
            return NULL;
        }
    }
    if (c->p >= c->e) {
        *why = "an unterminated string";
        free(out);
        return NULL;
    }
    c->p++;
    out[n] = 0;
    *len = n;
    return out;
}

/* Skip a JSON value that is not read (numbers, literals, nested arrays and objects). */
static int jskip(jcur *c)
{
    jws(c);
    if (c->p >= c->e) return -1;
    if (*c->p == '"') {
        const char *why;
        size_t n;
        char *s = jstring(c, &n, &why);
        free(s);
        return s ? 0 : -1;
    }
    if (*c->p == '{' || *c->p == '[') {
        int depth = 0;
        while (c->p < c->e) {
            char ch = *c->p;
            if (ch == '"') {
                if (jskip(c) != 0) return -1;
                continue;
            }
            c->p++;
            if (ch == '{' || ch == '[') depth++;
            else if (ch == '}' || ch == ']') {
                if (--depth == 0) return 0;
            }
        }
        return -1;
    }
    const char *s = c->p;
    while (c->p < c->e && *c->p != ',' && *c->p != '}' && *c->p != ' ' && *c->p != '\t') c->p++;
    return c->p > s ? 0 : -1;
}

static lmg_status read_jsonl(const char *path, const char *buf, size_t n, pairs *p)
{
    const char *end = buf + n;
    size_t line = 0;
    for (const char *s = buf; s < end;) {
        const char *e = memchr(s, '\n', (size_t)(end - s));
        if (!e) e = end;
        line++;
        const char *next = e < end ? e + 1 : end;
        if (blank(s, (size_t)(e - s))) {
            s = next;
            continue;
        }
        jcur c = {s, e};
        char *text = NULL, *label = NULL;
        size_t tlen = 0, llen = 0;
        const char *why = NULL;
        jws(&c);
        if (c.p >= c.e || *c.p != '{') why = "not a JSON object";
        else c.p++;
        int first = 1;
        while (!why) {
            jws(&c);
            if (c.p < c.e && *c.p == '}' && first) {
                c.p++;
                break;
            }
            size_t kl;
            char *key = jstring(&c, &kl, &why);
            if (!key) break;
            jws(&c);
            if (c.p >= c.e || *c.p != ':') {
                why = "a ':' was expected";
                free(key);
                break;
            }
            c.p++;
            jws(&c);
            char **dst = strcmp(key, "text") == 0 ? &text : strcmp(key, "label") == 0 ? &label
                                                                                        : NULL;
            size_t *dl = dst == &text ? &tlen : &llen;
            free(key);
            if (dst && *dst) {
                why = "a repeated key";
                break;
            }
            if (dst && c.p < c.e && *c.p == '"') {
                *dst = jstring(&c, dl, &why);
                if (!*dst) break;
            } else if (dst == &label && c.p < c.e &&
                       (*c.p == '-' || (*c.p >= '0' && *c.p <= '9'))) {
                const char *ns = c.p;
                while (c.p < c.e && (*c.p == '-' || *c.p == '+' || *c.p == '.' || *c.p == 'e' ||
                                     *c.p == 'E' || (*c.p >= '0' && *c.p <= '9')))
                    c.p++;
                label = strndup(ns, (size_t)(c.p - ns));
                llen = (size_t)(c.p - ns);
                if (!label) why = "out of memory";
            } else if (dst) {
                why = dst == &text ? "\"text\" is not a string" : "\"label\" is not a string or number";
            } else if (jskip(&c) != 0) {
                why = "a malformed value";
            }
            if (why) break;
            jws(&c);
            first = 0;
            if (c.p < c.e && *c.p == ',') {
                c.p++;
                continue;
            }
            if (c.p < c.e && *c.p == '}') {
                c.p++;
                break;
            }
            why = "a ',' or '}' was expected";
        }
        if (!why) {
            jws(&c);
            if (c.p != c.e) why = "text after the object";
            else if (!text) why = "no \"text\"";
            else if (!label) why = "no \"label\"";
            else if (blank(label, llen)) why = "empty label";
            else if (blank(text, tlen)) why = "empty text";
        }
        if (why) {
            free(text), free(label);
            return lmg_error(LMG_ERR_DATA, "%s:%zu: %s", path, line, why);
        }
        LMG_TRY(pairs_push(p, label, text, tlen));
        s = next;
    }
    return LMG_OK;
}

/* ---- building a labelled corpus ---------------------------------------------------- */

static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *s = list; s && *s;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == n && strncmp(s, name, n) == 0) return 1;
        s = e ? e + 1 : s + len;
    }
    return 0;
}

/* Every name of only_classes must be among names[n]. */
static lmg_status check_only(const char *only, char **names, size_t n, const char *src)
{
    for (const char *s = only; s && *s;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        int found = 0;
        for (size_t i = 0; i < n && !found; i++)
            found = strlen(names[i]) == len && strncmp(names[i], s, len) == 0;
        if (!found)
            return lmg_error(LMG_ERR_DATA, "%s has no class '%.*s'", src, (int)len, s);
        s = e ? e + 1 : s + len;
    }
    return LMG_OK;
}

static lmg_status append_left_out(char **msg, const char *name, size_t docs)
{
    size_t old = *msg ? strlen(*msg) : 0, add = strlen(name) + 48;
    char *m = realloc(*msg, old + add);
    if (!m) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    snprintf(m + old, add, "%s%s (%zu document%s)", old ? ", " : "", name, docs,
             docs == 1 ? "" : "s");
    *msg = m;
    return LMG_OK;
}

/* From pairs: classes sorted, those under min_docs (when > 0) left out, only_classes kept. */
static lmg_status from_pairs(pairs *p, int min_docs, const char *only, const char *src,
                             lmg_labelled **out)
{
    lmg_labelled *l = calloc(1, sizeof *l);
    char **sorted = malloc((p->n ? p->n : 1) * sizeof *sorted);
    size_t *count = calloc(p->n ? p->n : 1, sizeof *count);
    int32_t *cls_of = malloc((p->n ? p->n : 1) * sizeof *cls_of);
    lmg_status s = l && sorted && count && cls_of ? LMG_OK
                                                  : lmg_error(LMG_ERR_NOMEM, "out of memory");
    size_t nu = 0;
    if (s == LMG_OK) {
        memcpy(sorted, p->label, p->n * sizeof *sorted);
        qsort(sorted, p->n, sizeof *sorted, cmp_str);
        for (size_t i = 0; i < p->n; i++)
            if (nu == 0 || strcmp(sorted[nu - 1], sorted[i]) != 0) sorted[nu++] = sorted[i];
        for (size_t i = 0; i < p->n; i++) {
            char **f = bsearch(&p->label[i], sorted, nu, sizeof *sorted, cmp_str);
            cls_of[i] = (int32_t)(f - sorted);
            count[cls_of[i]]++;
        }
        if (only) s = check_only(only, sorted, nu, src);
    }
    /* Which classes stay, and their new ids. */
    int32_t *newid = malloc((nu ? nu : 1) * sizeof *newid);
    if (s == LMG_OK && !newid) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
    int k = 0;
    for (size_t c = 0; c < nu && s == LMG_OK; c++) {
        newid[c] = -1;
        if (only && !in_list(only, sorted[c])) continue;
        if (min_docs > 0 && count[c] < (size_t)min_docs) {
            s = append_left_out(&l->left_out, sorted[c], count[c]);
            continue;
        }
        newid[c] = k++;
    }
    if (s == LMG_OK && k < 2)
        s = lmg_error(LMG_ERR_DATA, "%s: %d class%s with enough documents; classification needs "
                      "at least 2%s%s", src, k, k == 1 ? "" : "es", l->left_out ? " (left out: " : "",
                      l->left_out ? l->left_out : "");
    if (s == LMG_OK && l->left_out) {
        /* Say why, once, at the end. */
        char why[64];
        snprintf(why, sizeof why, ": fewer than %d documents", min_docs);
        size_t old = strlen(l->left_out);
        char *m = realloc(l->left_out, old + strlen(why) + 1);
        if (!m) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        else strcpy(m + old, why), l->left_out = m;
    }
    if (s == LMG_OK) {
        l->n_classes = k;
        l->classes = calloc((size_t)k, sizeof *l->classes);
        if (!l->classes) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        for (size_t c = 0; c < nu && s == LMG_OK; c++)
            if (newid[c] >= 0 && !(l->classes[newid[c]] = strdup(sorted[c])))
                s = lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    size_t nd = 0;
    const char **texts = NULL;
    size_t *lens = NULL;
    if (s == LMG_OK) {
        texts = malloc((p->n ? p->n : 1) * sizeof *texts);
        lens = malloc((p->n ? p->n : 1) * sizeof *lens);
        l->label = malloc((p->n ? p->n : 1) * sizeof *l->label);
        if (!texts || !lens || !l->label) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < p->n && s == LMG_OK; i++) {
        if (newid[cls_of[i]] < 0) continue;
        texts[nd] = p->text[i];
        lens[nd] = p->len[i];
        l->label[nd] = newid[cls_of[i]];
        nd++;
    }
    if (s == LMG_OK) s = lmg_corpus_from_texts(texts, lens, nd, &l->docs);
    free(texts);
    free(lens);
    free(newid);
    free(sorted);
    free(count);
    free(cls_of);
    if (s != LMG_OK) {
        lmg_labelled_free(l);
        return s;
    }
    *out = l;
    return LMG_OK;
}

/* A folder (or the default fortunes folder): every file is a class. */
static lmg_status read_folder(const char *dir, pairs *p)
{
    lmg_corpus *c = NULL;
    LMG_TRY(dir ? lmg_corpus_read(&dir, 1, &c) : lmg_corpus_read(NULL, 0, &c));
    lmg_status s = LMG_OK;
    size_t dl = dir ? strlen(dir) : 0;
    for (size_t i = 0; i < c->n_docs && s == LMG_OK; i++) {
        const char *f = c->files[c->doc_file[i]];
        const char *name;
        if (dir && strncmp(f, dir, dl) == 0) {
            name = f + dl;
            while (*name == '/') name++;
        } else {
            const char *slash = strrchr(f, '/');
            name = slash ? slash + 1 : f;
        }
        size_t len = c->doc_off[i + 1] - c->doc_off[i];
        char *text = malloc(len + 1);
        if (text) memcpy(text, c->data + c->doc_off[i], len), text[len] = 0;
        s = pairs_push(p, strdup(name), text, len);
    }
    lmg_corpus_free(c);
    return s;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

lmg_status lmg_labelled_read(const char *path, int min_docs, const char *only_classes,
                             lmg_labelled **out)
{
    *out = NULL;
    if (!path || !*path) return lmg_error(LMG_ERR_ARG, "no labelled data given");
    pairs p = {0};
    lmg_status s;
    int folder = 0;
    const char *src = path;
    if (strcmp(path, LMG_TASK_TOPICS) == 0) {
        /* Always the built-in task: a folder of that name is "./topics". */
        folder = 1;
        src = "task 'topics' (" LMG_CORPUS_DEFAULT_DIR ")";
        s = read_folder(NULL, &p);
    } else {
        struct stat st;
        if (stat(path, &st) != 0)
            return lmg_error(LMG_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
        if (S_ISDIR(st.st_mode)) {
            folder = 1;
            s = read_folder(path, &p);
        } else {
            char *buf;
            size_t n;
            LMG_TRY(lmg_read_file(path, &buf, &n));
            if (ends_with(path, ".jsonl") || ends_with(path, ".json"))
                s = read_jsonl(path, buf, n, &p);
            else if (ends_with(path, ".tsv") || ends_with(path, ".txt"))
                s = read_tsv(path, buf, n, &p);
            else
                s = lmg_error(LMG_ERR_ARG, "%s: labelled data is a folder, a .tsv or a .jsonl "
                              "file", path);
            free(buf);
        }
    }
    if (s == LMG_OK && p.n == 0) s = lmg_error(LMG_ERR_DATA, "%s: no labelled document", path);
    if (s == LMG_OK) s = from_pairs(&p, folder ? min_docs : 0, only_classes, src, out);
    pairs_free(&p);
    return s;
}

/* ---- stratified split --------------------------------------------------------------- */

typedef struct keyed {
    uint64_t key;
    size_t doc;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

lmg_status lmg_labelled_split(const lmg_labelled *l, uint64_t seed, double val_frac,
                              double test_frac, uint8_t *which)
{
    if (!(val_frac >= 0 && val_frac <= 1) || !(test_frac >= 0 && test_frac <= 1) ||
        val_frac + test_frac >= 1)
        return lmg_error(LMG_ERR_ARG, "split fractions val %g and test %g must lie in [0,1) and "
                         "leave some documents for training", val_frac, test_frac);
    size_t n = l->docs->n_docs;
    keyed *k = malloc((n ? n : 1) * sizeof *k);
    if (!k) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status s = LMG_OK;
    for (int c = 0; c < l->n_classes && s == LMG_OK; c++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (l->label[i] == c) k[m++] = (keyed){mix64(mix64(seed) ^ (uint64_t)i), i};
        qsort(k, m, sizeof *k, cmp_keyed);
        size_t nt = (size_t)((double)m * test_frac + 0.5), nv = (size_t)((double)m * val_frac + 0.5);
        if (test_frac > 0 && nt == 0) nt = 1;
        if (val_frac > 0 && nv == 0) nv = 1;
        if (nt + nv >= m) {
            s = lmg_error(LMG_ERR_DATA, "class '%s' has %zu document%s: none left for %s",
                          l->classes[c], m, m == 1 ? "" : "s",
                          nt >= m ? (nt == 0 ? "train" : "val") : "train");
            break;
        }
        for (size_t j = 0; j < m; j++)
            which[k[j].doc] = j < nt ? LMG_SPLIT_TEST : j < nt + nv ? LMG_SPLIT_VAL : LMG_SPLIT_TRAIN;
    }
    free(k);
    return s;
}

/* ---- rows and shards ---------------------------------------------------------------- */

lmg_status lmg_labelled_encode_row(lmg_bpe *t, const char *text, size_t len, int T,
                                   int32_t *row, int *truncated)
{
    if (T < 3) return lmg_error(LMG_ERR_ARG, "rows need T >= 3 (<cls>, a token, <eos>), not %d", T);
    lmg_tokens tk = {0};
    LMG_TRY(lmg_bpe_encode(t, text, len, &tk));
    size_t keep = tk.n > (size_t)T - 2 ? (size_t)T - 2 : tk.n;
    row[0] = LMG_TOK_CLS;
    if (keep) memcpy(row + 1, tk.ids, keep * sizeof *row);
    row[1 + keep] = LMG_TOK_EOS;
    for (size_t i = keep + 2; i < (size_t)T; i++) row[i] = LMG_TOK_PAD;
    if (truncated) *truncated = tk.n > keep;
    lmg_tokens_free(&tk);
    return LMG_OK;
}


static const char lab_magic[8] = {'L', 'M', 'G', 'L', 'A', 'B', 'E', 'L'};

static lmg_status write_labshard(const char *path, const lmg_bpe *t, lmg_split split, int T,
                                 int n_classes, size_t n_docs, const int32_t *labels,
                                 const int32_t *ids, size_t truncated)
{
    int vocab = lmg_bpe_vocab_size(t);
    uint32_t width = lmg_id_width((uint32_t)vocab);
    uint8_t h[64] = {0};
    memcpy(h, lab_magic, 8);
    lmg_put_u32le(h + 8, LMG_LABSHARD_VERSION);
    lmg_put_u32le(h + 12, width);
    lmg_put_u32le(h + 16, (uint32_t)vocab);
    lmg_put_u32le(h + 20, (uint32_t)split);
    lmg_put_u64le(h + 24, n_docs);
    lmg_put_u32le(h + 32, (uint32_t)T);
    lmg_put_u32le(h + 36, (uint32_t)n_classes);
    lmg_put_u64le(h + 40, lmg_bpe_fingerprint(t));
    lmg_put_u64le(h + 48, truncated);
    size_t body = n_docs * 4 + n_docs * (size_t)T * width;
    uint8_t *buf = malloc(64 + body);
    if (!buf) return lmg_error(LMG_ERR_NOMEM, "out of memory writing '%s'", path);
    memcpy(buf, h, 64);
    uint8_t *p = buf + 64;
    for (size_t i = 0; i < n_docs; i++, p += 4) lmg_put_u32le(p, (uint32_t)labels[i]);
    for (size_t i = 0; i < n_docs * (size_t)T; i++, p += width) lmg_put_id(p, width, ids[i]);
    lmg_status s = lmg_write_file_atomic(path, buf, 64 + body);
    free(buf);
    return s;
}

void lmg_labelled_stats_free(lmg_labelled_stats *s)
{
    if (!s) return;
    free(s->class_docs);
    s->class_docs = NULL;
}

static lmg_status make_dirs(const char *dir)
{
    char *p = strdup(dir);
    if (!p) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status s = LMG_OK;
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q != 0) continue;
        char saved = *q;
        *q = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            s = lmg_error(LMG_ERR_IO, "cannot create folder '%s': %s", p, strerror(errno));
            break;
        }
        *q = saved;
        if (!saved) break;
    }
    free(p);
    return s;
}

lmg_status lmg_labelled_prepare(const lmg_labelled *l, lmg_bpe *t, int T, const char *out_dir,
                                uint64_t seed, double val_frac, double test_frac,
                                lmg_labelled_stats *stats)
{
    if (T < 3) return lmg_error(LMG_ERR_ARG, "rows need T >= 3, not %d", T);
    static const char *const outs[] = {"train.lab", "val.lab", "test.lab", "labels.tsv", "tok.bpe"};
    for (size_t i = 0; i < sizeof outs / sizeof *outs; i++) {
        char *p = lmg_path_join(out_dir, outs[i]);
        if (!p) return lmg_error(LMG_ERR_NOMEM, "out of memory");
        struct stat st;
        int exists = stat(p, &st) == 0;
        lmg_status s = exists ? lmg_error(LMG_ERR_ARG, "'%s' already exists: nothing is "
                                          "overwritten, choose another folder", p)
                              : LMG_OK;
        free(p);
        LMG_TRY(s);
    }
    size_t n = l->docs->n_docs, K = (size_t)l->n_classes;
    uint8_t *which = malloc(n ? n : 1);
    int32_t *rows = malloc((n ? n : 1) * (size_t)T * sizeof *rows);
    int32_t *labels = malloc((n ? n : 1) * sizeof *labels);
    lmg_labelled_stats st = {{0}, {0}, {0}, l->n_classes, calloc(K * LMG_SPLIT_COUNT, sizeof(size_t))};
    lmg_status s = which && rows && labels && st.class_docs
                       ? LMG_OK
                       : lmg_error(LMG_ERR_NOMEM, "out of memory");
    if (s == LMG_OK) s = lmg_labelled_split(l, seed, val_frac, test_frac, which);
    if (s == LMG_OK) s = make_dirs(out_dir);
    /* One split at a time, documents in corpus order. */
    for (int sp = 0; sp < LMG_SPLIT_COUNT && s == LMG_OK; sp++) {
        size_t m = 0, trunc = 0;
        for (size_t i = 0; i < n && s == LMG_OK; i++) {
            if (which[i] != sp) continue;
            int tr = 0;
            int32_t *row = rows + m * (size_t)T;
            s = lmg_labelled_encode_row(t, l->docs->data + l->docs->doc_off[i],
                                        l->docs->doc_off[i + 1] - l->docs->doc_off[i], T, row, &tr);
            for (int k = 0; k < T; k++) st.tokens[sp] += row[k] != LMG_TOK_PAD;
            labels[m++] = l->label[i];
            trunc += (size_t)tr;
            st.class_docs[(size_t)l->label[i] * LMG_SPLIT_COUNT + (size_t)sp]++;
        }
        st.docs[sp] = m;
        st.truncated[sp] = trunc;
        char name[16];
        snprintf(name, sizeof name, "%s.lab", lmg_split_name((lmg_split)sp));
        char *p = lmg_path_join(out_dir, name);
        if (s == LMG_OK && !p) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        if (s == LMG_OK)
            s = write_labshard(p, t, (lmg_split)sp, T, l->n_classes, m, labels, rows, trunc);
        free(p);
    }
    if (s == LMG_OK) {
        /* The label map: names may hold any byte but tab and newline. */
        size_t cap = 64, len = 0;
        for (size_t c = 0; c < K; c++) cap += strlen(l->classes[c]) + 80;
        char *txt = malloc(cap), *p = lmg_path_join(out_dir, "labels.tsv");
        if (!txt || !p) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        if (s == LMG_OK) len += (size_t)snprintf(txt, cap, "# lmgraph labels 1\n");
        for (size_t c = 0; c < K && s == LMG_OK; c++) {
            if (strpbrk(l->classes[c], "\t\n\r")) {
                s = lmg_error(LMG_ERR_DATA, "class name '%s' holds a tab or a line break",
                              l->classes[c]);
                break;
            }
            const size_t *cd = st.class_docs + c * LMG_SPLIT_COUNT;
            len += (size_t)snprintf(txt + len, cap - len, "%zu\t%s\t%zu\t%zu\t%zu\n", c,
                                    l->classes[c], cd[0], cd[1], cd[2]);
        }
        if (s == LMG_OK) s = lmg_write_file_atomic(p, txt, len);
        free(txt);
        free(p);
    }
    if (s == LMG_OK) {
        char *p = lmg_path_join(out_dir, "tok.bpe");
        s = p ? lmg_bpe_save(t, p) : lmg_error(LMG_ERR_NOMEM, "out of memory");
        free(p);
    }
    free(which);
    free(rows);
    free(labels);
    if (s == LMG_OK && stats) *stats = st;
    else free(st.class_docs);
    return s;
}

void lmg_label_map_free(char **names, int n)
{
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

lmg_status lmg_label_map_load(const char *path, char ***names, int *n, size_t **counts)
{
    *names = NULL;
    *n = 0;
    if (counts) *counts = NULL;
    char *buf;
    size_t len;
    LMG_TRY(lmg_read_file(path, &buf, &len));
    lmg_status s = LMG_OK;
    char **v = NULL;
    size_t *cnt = NULL;
    int k = 0, cap = 0;
    size_t line = 0;
    char *save = NULL;
    if (strncmp(buf, "# lmgraph labels 1\n", 19) != 0)
        s = lmg_error(LMG_ERR_PARSE, "%s: not a label map (no '# lmgraph labels 1' line)", path);
    for (char *ln = s == LMG_OK ? strtok_r(buf + 19, "\n", &save) : NULL; ln && s == LMG_OK;
         ln = strtok_r(NULL, "\n", &save)) {
        line++;
        char name[1024];
        long long id;
        unsigned long long c0, c1, c2;
        int used = 0;
        if (sscanf(ln, "%lld\t%1023[^\t]\t%llu\t%llu\t%llu%n", &id, name, &c0, &c1, &c2, &used) != 5 ||
            ln[used] != 0 || id != k) {
            s = lmg_error(LMG_ERR_PARSE, "%s:%zu: expected '%d<TAB>name<TAB>train<TAB>val<TAB>test'",
                          path, line + 1, k);
            break;
        }
        if (k == cap) {
            cap = cap ? 2 * cap : 16;
            char **nv = realloc(v, (size_t)cap * sizeof *nv);
            size_t *nc = realloc(cnt, (size_t)cap * LMG_SPLIT_COUNT * sizeof *nc);
            if (nv) v = nv;
            if (nc) cnt = nc;
            if (!nv || !nc) {
                s = lmg_error(LMG_ERR_NOMEM, "out of memory");
                break;
            }
        }
        v[k] = strdup(name);
        if (!v[k]) {
            s = lmg_error(LMG_ERR_NOMEM, "out of memory");
            break;
        }
        cnt[k * LMG_SPLIT_COUNT + 0] = (size_t)c0;
        cnt[k * LMG_SPLIT_COUNT + 1] = (size_t)c1;
        cnt[k * LMG_SPLIT_COUNT + 2] = (size_t)c2;
        k++;
    }
    if (s == LMG_OK && k < 2) s = lmg_error(LMG_ERR_PARSE, "%s: fewer than two classes", path);
    free(buf);
    if (s != LMG_OK) {
        lmg_label_map_free(v, k);
        free(cnt);
        return s;
    }
    *names = v;
    *n = k;
    if (counts) *counts = cnt;
    else free(cnt);
    return LMG_OK;
}

struct lmg_labshard {
    char *path;
    int32_t *ids, *labels;
    int64_t n;
    int T, n_classes, vocab;
    int64_t truncated;
};

void lmg_labshard_free(lmg_labshard *s)
{
    if (!s) return;
    free(s->path);
    free(s->ids);
    free(s->labels);
    free(s);
}

lmg_status lmg_labshard_open(const char *path, const lmg_bpe *t, lmg_labshard **out)
{
    *out = NULL;
    char *buf;
    size_t n;
    LMG_TRY(lmg_read_file(path, &buf, &n));
    const uint8_t *h = (const uint8_t *)buf;
    lmg_status s = LMG_OK;
    lmg_labshard *sh = NULL;
    if (n < 64 || memcmp(h, lab_magic, 8) != 0) {
        s = lmg_error(LMG_ERR_PARSE, "%s: not a labelled shard (no LMGLABEL header)", path);
        goto done;
    }
    uint32_t version = lmg_get_u32le(h + 8), width = lmg_get_u32le(h + 12), vocab = lmg_get_u32le(h + 16),
             split = lmg_get_u32le(h + 20), T = lmg_get_u32le(h + 32), K = lmg_get_u32le(h + 36);
    uint64_t docs = lmg_get_u64le(h + 24), fp = lmg_get_u64le(h + 40), trunc = lmg_get_u64le(h + 48);
    if (version != LMG_LABSHARD_VERSION) {
        s = lmg_error(LMG_ERR_VERSION, "%s: labelled shard version %" PRIu32 "; this reader "
                      "knows %d", path, version, LMG_LABSHARD_VERSION);
        goto done;
    }
    if ((width != 2 && width != 4) || vocab < LMG_TOK_MIN_VOCAB || vocab > INT32_MAX ||
        split >= LMG_SPLIT_COUNT || T < 3 || T > (1u << 20) || K < 2 || K > (1u << 20) ||
        trunc > docs || docs > (n - 64) / (4 + (uint64_t)T * width)) {
        s = lmg_error(LMG_ERR_PARSE, "%s: corrupt labelled shard header", path);
        goto done;
    }
    if (n != 64 + docs * (4 + (uint64_t)T * width)) {
        s = lmg_error(LMG_ERR_PARSE, "%s: %zu bytes, the header says %" PRIu64, path, n,
                      64 + docs * (4 + (uint64_t)T * width));
        goto done;
    }
    if ((s = lmg_shard_check_tokenizer(path, vocab, fp, t)) != LMG_OK) goto done;
    sh = calloc(1, sizeof *sh);
    if (sh) {
        sh->path = strdup(path);
        sh->labels = malloc((docs ? docs : 1) * 4);
        sh->ids = malloc((docs ? docs : 1) * T * 4);
    }
    if (!sh || !sh->path || !sh->labels || !sh->ids) {
        s = lmg_error(LMG_ERR_NOMEM, "out of memory loading '%s'", path);
        goto done;
    }
    const uint8_t *p = h + 64;
    for (uint64_t i = 0; i < docs; i++, p += 4) {
        uint32_t c = lmg_get_u32le(p);
        if (c >= K) {
            s = lmg_error(LMG_ERR_PARSE, "%s: document %" PRIu64 " has label %" PRIu32 " of %" PRIu32
                          " classes", path, i, c, K);
            goto done;
        }
        sh->labels[i] = (int32_t)c;
    }
    uint32_t v;
    int64_t at = lmg_get_ids(p, docs * T, width, vocab, sh->ids, &v);
    if (at >= 0) {
        s = lmg_error(LMG_ERR_PARSE, "%s: id %" PRIu32 " of document %" PRId64 " is outside "
                      "the vocabulary of %" PRIu32, path, v, at / T, vocab);
        goto done;
    }
    sh->n = (int64_t)docs;
    sh->T = (int)T;
    sh->n_classes = (int)K;
    sh->vocab = (int)vocab;
    sh->truncated = (int64_t)trunc;
    *out = sh;
    sh = NULL;
done:
    lmg_labshard_free(sh);
    free(buf);
    return s;
}

int64_t lmg_labshard_n_docs(const lmg_labshard *s) { return s->n; }
int lmg_labshard_seq(const lmg_labshard *s) { return s->T; }
int lmg_labshard_n_classes(const lmg_labshard *s) { return s->n_classes; }
int lmg_labshard_vocab_size(const lmg_labshard *s) { return s->vocab; }
int64_t lmg_labshard_truncated(const lmg_labshard *s) { return s->truncated; }
const char *lmg_labshard_path(const lmg_labshard *s) { return s->path; }
const int32_t *lmg_labshard_labels(const lmg_labshard *s) { return s->labels; }
const int32_t *lmg_labshard_ids(const lmg_labshard *s) { return s->ids; }

lmg_status lmg_labshard_batch_random(const lmg_labshard *s, uint64_t seed, uint64_t step,
                                     int B, int32_t *ids, int32_t *labels)
{
    if (B <= 0) return lmg_error(LMG_ERR_ARG, "%s: batch %d must be positive", s->path, B);
    if (s->n < 1) return lmg_error(LMG_ERR_DATA, "%s holds no document", s->path);
    uint64_t key = mix64(mix64(seed ^ 0x6c61626c6564ull) ^ step);
    for (int b = 0; b < B; b++) {
        uint64_t r = mix64(key ^ mix64((uint64_t)b + 0x632be59bd9b4e019ull));
        uint64_t d = (uint64_t)(((unsigned __int128)r * (uint64_t)s->n) >> 64);
        memcpy(ids + (size_t)b * s->T, s->ids + d * (uint64_t)s->T, (size_t)s->T * sizeof *ids);
        labels[b] = s->labels[d];
    }
    return LMG_OK;
}

lmg_status lmg_labshard_batch_seq(const lmg_labshard *s, int64_t first, int B, int32_t *ids,
                                  int32_t *labels, int *n_rows)
{
    if (B <= 0 || first < 0)
        return lmg_error(LMG_ERR_ARG, "%s: batch %d from %lld", s->path, B, (long long)first);
    int rows = 0;
    for (int b = 0; b < B; b++) {
        int32_t *row = ids + (size_t)b * s->T;
        if (first < s->n && b < s->n - first) {
            memcpy(row, s->ids + (first + b) * s->T, (size_t)s->T * sizeof *row);
            labels[b] = s->labels[first + b];
            rows++;
        } else {
            /* A short row, not an empty one: attention then always has a key to see. */
            row[0] = LMG_TOK_CLS;
            row[1] = LMG_TOK_EOS;
            for (int k = 2; k < s->T; k++) row[k] = LMG_TOK_PAD;
            labels[b] = IGNORE_INDEX;
        }
    }
    if (n_rows) *n_rows = rows;
    return LMG_OK;
}
