/* data.c — corpora (files and folders split into documents), deterministic train/val/test
 * splits, and token shards: writing them, opening them, and drawing training/eval windows. */
#include "text.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

/* ------------------------------------------------------------------ corpus building */

typedef struct builder {
    lmg_corpus *c;
    size_t cap_data, cap_docs, cap_files;
} builder;

static lmg_status builder_init(builder *b)
{
    memset(b, 0, sizeof *b);
    b->c = calloc(1, sizeof *b->c);
    b->cap_docs = 1024;
    if (b->c) {
        b->c->doc_off = malloc((b->cap_docs + 1) * sizeof *b->c->doc_off);
        b->c->doc_file = malloc(b->cap_docs * sizeof *b->c->doc_file);
        b->c->data = malloc(b->cap_data = 1 << 16);
    }
    if (!b->c || !b->c->doc_off || !b->c->doc_file || !b->c->data) {
        lmg_corpus_free(b->c);
        b->c = NULL;
        return lmg_error(LMG_ERR_NOMEM, "out of memory starting a corpus");
    }
    b->c->doc_off[0] = 0;
    b->c->data[0] = 0;
    return LMG_OK;
}

static lmg_status builder_add_file(builder *b, const char *path)
{
    lmg_corpus *c = b->c;
    if (c->n_files == b->cap_files) {
        size_t cap = b->cap_files ? b->cap_files * 2 : 64;
        char **f = realloc(c->files, cap * sizeof *f);
        if (!f) return lmg_error(LMG_ERR_NOMEM, "out of memory listing files");
        c->files = f;
        b->cap_files = cap;
    }
    if (c->n_files >= INT32_MAX) return lmg_error(LMG_ERR_DATA, "too many files in the corpus");
    c->files[c->n_files] = strdup(path);
    if (!c->files[c->n_files]) return lmg_error(LMG_ERR_NOMEM, "out of memory listing files");
    c->n_files++;
    return LMG_OK;
}

static lmg_status builder_add_doc(builder *b, const char *p, size_t n, int32_t file)
{
    lmg_corpus *c = b->c;
    if (c->n_bytes + n + 1 > b->cap_data) {
        size_t cap = b->cap_data;
        while (c->n_bytes + n + 1 > cap) cap *= 2;
        char *d = realloc(c->data, cap);
        if (!d) return lmg_error(LMG_ERR_NOMEM, "out of memory holding %zu corpus bytes", cap);
        c->data = d;
        b->cap_data = cap;
    }
    if (c->n_docs == b->cap_docs) {
        size_t cap = b->cap_docs * 2;
        size_t *o = realloc(c->doc_off, (cap + 1) * sizeof *o);
        if (o) c->doc_off = o;
        int32_t *f = realloc(c->doc_file, cap * sizeof *f);
        if (f) c->doc_file = f;
        if (!o || !f) return lmg_error(LMG_ERR_NOMEM, "out of memory holding %zu documents", cap);
        b->cap_docs = cap;
    }
    if (n) memcpy(c->data + c->n_bytes, p, n);
    c->n_bytes += n;
    c->data[c->n_bytes] = 0;
    c->doc_file[c->n_docs] = file;
    c->doc_off[++c->n_docs] = c->n_bytes;
    return LMG_OK;
}

void lmg_corpus_free(lmg_corpus *c)
{
    if (!c) return;
    free(c->data);
    free(c->doc_off);
    free(c->doc_file);
    for (size_t i = 0; i < c->n_files; i++) free(c->files[i]);
    free(c->files);
    free(c);
}

static int is_blank_byte(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f'; }

static int only_whitespace(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_blank_byte(p[i]) && p[i] != '\n') return 0;
    return 1;
}

/* A line [p, e) (without its '\n') that is exactly "%" (a '\r' allowed after it). */
static int is_fortune_sep(const char *p, const char *e)
{
    return (e - p == 1 && p[0] == '%') || (e - p == 2 && p[0] == '%' && p[1] == '\r');
}

static int is_blank_line(const char *p, const char *e)
{
    for (; p < e; p++)
        if (!is_blank_byte(*p)) return 0;
    return 1;
}

/* Split one file's bytes into documents (see text.h for the rules). */
static lmg_status add_documents(builder *b, const char *buf, size_t n, int32_t file)
{
    const char *end = buf + n;
    int fortune = 0;
    for (const char *p = buf; p < end && !fortune;) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e) e = end;
        fortune = is_fortune_sep(p, e);
        p = e < end ? e + 1 : end;
    }
    const char *doc = buf; /* start of the current document or block; NULL between blocks */
    if (!fortune) doc = NULL;
    for (const char *p = buf; p < end;) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        const char *next = e ? e + 1 : end;
        if (!e) e = end;
        int boundary = fortune ? is_fortune_sep(p, e) : is_blank_line(p, e);
        if (boundary) {
            if (doc && !only_whitespace(doc, (size_t)(p - doc)))
                LMG_TRY(builder_add_doc(b, doc, (size_t)(p - doc), file));
            doc = fortune ? next : NULL;
        } else if (!doc) {
            doc = p;
        }
        p = next;
    }
    if (doc && doc < end && !only_whitespace(doc, (size_t)(end - doc)))
        LMG_TRY(builder_add_doc(b, doc, (size_t)(end - doc), file));
    return LMG_OK;
}

/* ------------------------------------------------------------------ finding files */

typedef struct pathlist {
    char **v;
    size_t n, cap;
} pathlist;

static lmg_status pathlist_push(pathlist *l, char *p)
{
    if (!p) return lmg_error(LMG_ERR_NOMEM, "out of memory listing files");
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            free(p);
            return lmg_error(LMG_ERR_NOMEM, "out of memory listing files");
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = p;
    return LMG_OK;
}

static void pathlist_free(pathlist *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t o = a;
    if (a && dir[a - 1] != '/') p[o++] = '/';
    memcpy(p + o, name, b + 1);
    return p;
}

/* Regular files under dir (recursively when `recurse`), not following links. */
static lmg_status list_dir(const char *dir, int recurse, pathlist *out)
{
    DIR *d = opendir(dir);
    if (!d) return lmg_error(LMG_ERR_IO, "cannot read directory '%s': %s", dir, strerror(errno));
    pathlist names = {0};
    lmg_status s = LMG_OK;
    struct dirent *e;
    while (s == LMG_OK && (e = readdir(d)))
        if (e->d_name[0] != '.') s = pathlist_push(&names, strdup(e->d_name));
    closedir(d);
    if (s == LMG_OK && names.n) qsort(names.v, names.n, sizeof *names.v, cmp_str);
    for (size_t i = 0; i < names.n && s == LMG_OK; i++) {
        const char *name = names.v[i];
        size_t len = strlen(name);
        if (len > 4 && strcmp(name + len - 4, ".dat") == 0) {
            /* A strfile index sits next to its fortune file: skip the index. */
            char *base = strndup(name, len - 4);
            if (!base) {
                s = lmg_error(LMG_ERR_NOMEM, "out of memory listing '%s'", dir);
                break;
            }
            int indexed = bsearch(&base, names.v, names.n, sizeof *names.v, cmp_str) != NULL;
            free(base);
            if (indexed) continue;
        }
        char *path = join_path(dir, name);
        if (!path) {
            s = lmg_error(LMG_ERR_NOMEM, "out of memory listing '%s'", dir);
            break;
        }
        struct stat st;
        if (lstat(path, &st) != 0) {
            s = lmg_error(LMG_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
            free(path);
        } else if (S_ISREG(st.st_mode)) {
            s = pathlist_push(out, path);
        } else if (S_ISDIR(st.st_mode) && recurse) {
            s = list_dir(path, 1, out);
            free(path);
        } else {
            free(path);
        }
    }
    pathlist_free(&names);
    return s;
}

static lmg_status corpus_read_paths(const char *const *paths, size_t n_paths, int recurse,
                                    lmg_corpus **out)
{
    builder b;
    LMG_TRY(builder_init(&b));
    lmg_status s = LMG_OK;
    for (size_t i = 0; i < n_paths && s == LMG_OK; i++) {
        struct stat st;
        pathlist files = {0};
        if (stat(paths[i], &st) != 0) {
            s = lmg_error(LMG_ERR_IO, "cannot read '%s': %s", paths[i], strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            s = list_dir(paths[i], recurse, &files);
            if (s == LMG_OK && files.n == 0)
                s = lmg_error(LMG_ERR_DATA, "directory '%s' holds no files", paths[i]);
            if (s == LMG_OK) qsort(files.v, files.n, sizeof *files.v, cmp_str);
        } else {
            s = pathlist_push(&files, strdup(paths[i]));
        }
        for (size_t k = 0; k < files.n && s == LMG_OK; k++) {
            char *buf;
            size_t n;
            s = lmg_read_file(files.v[k], &buf, &n);
            if (s != LMG_OK) break;
            s = builder_add_file(&b, files.v[k]);
            if (s == LMG_OK) s = add_documents(&b, buf, n, (int32_t)(b.c->n_files - 1));
            free(buf);
        }
        pathlist_free(&files);
    }
    if (s == LMG_OK && b.c->n_docs == 0)
        s = lmg_error(LMG_ERR_DATA, "the corpus is empty: %zu file%s read, no document in %s", b.c->n_files,
                      b.c->n_files == 1 ? "" : "s", b.c->n_files == 1 ? "it" : "them");
    if (s != LMG_OK) {
        lmg_corpus_free(b.c);
        return s;
    }
    *out = b.c;
    return LMG_OK;
}

lmg_status lmg_corpus_read(const char *const *paths, size_t n_paths, lmg_corpus **out)
{
    *out = NULL;
    if (n_paths == 0) {
        const char *def = LMG_CORPUS_DEFAULT_DIR;
        lmg_status s = corpus_read_paths(&def, 1, 0, out);
        if (s != LMG_OK)
            return lmg_error_prefix(s, "default corpus (Debian package 'fortunes')");
        return s;
    }
    return corpus_read_paths(paths, n_paths, 1, out);
}

lmg_status lmg_corpus_from_texts(const char *const *texts, const size_t *lens, size_t n,
                                 lmg_corpus **out)
{
    *out = NULL;
    builder b;
    LMG_TRY(builder_init(&b));
    lmg_status s = builder_add_file(&b, "(memory)");
    for (size_t i = 0; i < n && s == LMG_OK; i++)
        s = builder_add_doc(&b, texts[i], lens ? lens[i] : strlen(texts[i]), 0);
    if (s == LMG_OK && b.c->n_bytes == 0)
        s = lmg_error(LMG_ERR_DATA, "the corpus is empty: %zu text%s, no bytes", n, n == 1 ? "" : "s");
    if (s != LMG_OK) {
        lmg_corpus_free(b.c);
        return s;
    }
    *out = b.c;
    return LMG_OK;
}

lmg_status lmg_corpus_head(const lmg_corpus *c, size_t n, lmg_corpus **out)
{
    *out = NULL;
    if (n > c->n_docs) n = c->n_docs;
    builder b;
    LMG_TRY(builder_init(&b));
    lmg_status s = LMG_OK;
    for (size_t i = 0; i < c->n_files && s == LMG_OK; i++) s = builder_add_file(&b, c->files[i]);
    for (size_t i = 0; i < n && s == LMG_OK; i++)
        s = builder_add_doc(&b, c->data + c->doc_off[i], c->doc_off[i + 1] - c->doc_off[i], c->doc_file[i]);
    if (s == LMG_OK && b.c->n_bytes == 0)
        s = lmg_error(LMG_ERR_DATA, "the corpus is empty: the first %zu documents hold no bytes", n);
    if (s != LMG_OK) {
        lmg_corpus_free(b.c);
        return s;
    }
    *out = b.c;
    return LMG_OK;
}

/* ------------------------------------------------------------------ splits */

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull; /* splitmix64's finaliser */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

const char *lmg_split_name(lmg_split s)
{
    switch (s) {
    case LMG_SPLIT_TRAIN: return "train";
    case LMG_SPLIT_VAL: return "val";
    case LMG_SPLIT_TEST: return "test";
    default: return "?";
    }
}

lmg_split lmg_split_of(uint64_t seed, size_t doc, double val_frac, double test_frac)
{
    uint64_t h = mix64(mix64(seed) ^ (uint64_t)doc);
    double u = (double)(h >> 11) * 0x1.0p-53;
    if (u < val_frac) return LMG_SPLIT_VAL;
    if (u < val_frac + test_frac) return LMG_SPLIT_TEST;
    return LMG_SPLIT_TRAIN;
}

static lmg_status check_fractions(double val_frac, double test_frac)
{
    if (!(val_frac >= 0 && val_frac <= 1) || !(test_frac >= 0 && test_frac <= 1) ||
        val_frac + test_frac > 1)
        return lmg_error(LMG_ERR_ARG, "split fractions val %g and test %g must lie in [0,1] and "
                         "sum to at most 1", val_frac, test_frac);
    return LMG_OK;
}

lmg_status lmg_corpus_split(const lmg_corpus *c, uint64_t seed, double val_frac, double test_frac,
                            uint8_t *which)
{
    LMG_TRY(check_fractions(val_frac, test_frac));
    for (size_t i = 0; i < c->n_docs; i++) which[i] = (uint8_t)lmg_split_of(seed, i, val_frac, test_frac);
    return LMG_OK;
}

/* ------------------------------------------------------------------ shards */

static const char shard_magic[8] = {'L', 'M', 'G', 'S', 'H', 'A', 'R', 'D'};


lmg_status lmg_shard_write(const char *path, const lmg_bpe *t, lmg_split split, size_t n_docs,
                           const int32_t *ids, size_t n)
{
    int vocab = lmg_bpe_vocab_size(t);
    uint32_t width = lmg_id_width((uint32_t)vocab);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return lmg_error(LMG_ERR_ARG, "shard '%s': id %" PRId32 " at %zu is outside the "
                             "vocabulary of %d", path, ids[i], i, vocab);
    uint8_t h[LMG_SHARD_HEADER_BYTES] = {0};
    memcpy(h, shard_magic, 8);
    lmg_put_u32le(h + 8, LMG_SHARD_VERSION);
    lmg_put_u32le(h + 12, width);
    lmg_put_u32le(h + 16, (uint32_t)vocab);
    lmg_put_u32le(h + 20, (uint32_t)split);
    lmg_put_u64le(h + 24, n_docs);
    lmg_put_u64le(h + 32, n);
    lmg_put_u64le(h + 40, lmg_bpe_fingerprint(t));
    lmg_file_writer f;
    LMG_TRY(lmg_file_writer_open(&f, path));
    lmg_file_writer_put(&f, h, sizeof h);
    uint8_t buf[1 << 14];
    for (size_t i = 0; i < n && !f.err;) {
        size_t k = 0;
        for (; i < n && k + width <= sizeof buf; i++, k += width) lmg_put_id(buf + k, width, ids[i]);
        lmg_file_writer_put(&f, buf, k);
    }
    return lmg_file_writer_commit(&f);
}

static lmg_status make_dir(const char *dir)
{
    if (!*dir) return lmg_error(LMG_ERR_ARG, "the output folder name is empty");
    char *p = strdup(dir);
    if (!p) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status s = LMG_OK;
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q != 0) continue;
        char saved = *q;
        *q = 0;
        struct stat st;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            s = lmg_error(LMG_ERR_IO, "cannot create directory '%s': %s", p, strerror(errno));
            break;
        }
        if (saved == 0 && (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))) {
            s = lmg_error(LMG_ERR_IO, "'%s' exists and is not a directory", p);
            break;
        }
        *q = saved;
        if (saved == 0) break;
    }
    free(p);
    return s;
}

lmg_status lmg_data_prepare(const lmg_corpus *c, lmg_bpe *t, const char *out_dir, uint64_t seed,
                            double val_frac, double test_frac, lmg_data_stats *stats)
{
    LMG_TRY(check_fractions(val_frac, test_frac));
    if (c->n_docs == 0) return lmg_error(LMG_ERR_DATA, "the corpus is empty");
    LMG_TRY(make_dir(out_dir));
    lmg_data_stats st = {{0}, {0}, {0}};
    lmg_tokens toks[LMG_SPLIT_COUNT] = {{0}};
    lmg_status s = LMG_OK;
    for (size_t i = 0; i < c->n_docs && s == LMG_OK; i++) {
        lmg_split sp = lmg_split_of(seed, i, val_frac, test_frac);
        size_t len = c->doc_off[i + 1] - c->doc_off[i];
        s = lmg_bpe_encode(t, c->data + c->doc_off[i], len, &toks[sp]);
        if (s == LMG_OK) s = lmg_tokens_push(&toks[sp], LMG_TOK_EOS);
        st.docs[sp]++;
        st.bytes[sp] += len;
    }
    for (int sp = 0; sp < LMG_SPLIT_COUNT && s == LMG_OK; sp++) {
        st.tokens[sp] = toks[sp].n;
        char name[16];
        snprintf(name, sizeof name, "%s.tok", lmg_split_name((lmg_split)sp));
        char *path = join_path(out_dir, name);
        if (!path) {
            s = lmg_error(LMG_ERR_NOMEM, "out of memory");
            break;
        }
        s = lmg_shard_write(path, t, (lmg_split)sp, st.docs[sp], toks[sp].ids, toks[sp].n);
        free(path);
    }
    for (int sp = 0; sp < LMG_SPLIT_COUNT; sp++) lmg_tokens_free(&toks[sp]);
    if (s == LMG_OK && stats) *stats = st;
    return s;
}

struct lmg_shard {
    char *path;
    int32_t *ids;
    int64_t n, n_docs;
    int vocab;
    uint64_t fingerprint;
    lmg_split split;
};

void lmg_shard_free(lmg_shard *s)
{
    if (!s) return;
    free(s->path);
    free(s->ids);
    free(s);
}

lmg_status lmg_shard_check_tokenizer(const char *path, uint32_t vocab, uint64_t fp,
                                     const lmg_bpe *t)
{
    if (!t || (fp == lmg_bpe_fingerprint(t) && (int)vocab == lmg_bpe_vocab_size(t))) return LMG_OK;
    return lmg_error(LMG_ERR_DATA, "shard %s was made with another tokenizer (vocabulary %" PRIu32
                     ", fingerprint %016" PRIx64 "; this tokenizer: %d, %016" PRIx64 ")", path,
                     vocab, fp, lmg_bpe_vocab_size(t), lmg_bpe_fingerprint(t));
}

lmg_status lmg_shard_open(const char *path, const lmg_bpe *t, lmg_shard **out)
{
    *out = NULL;
    char *buf;
    size_t n;
    LMG_TRY(lmg_read_file(path, &buf, &n));
    const uint8_t *h = (const uint8_t *)buf;
    lmg_status s = LMG_OK;
    lmg_shard *sh = NULL;
    if (n < LMG_SHARD_HEADER_BYTES || memcmp(h, shard_magic, 8) != 0) {
        s = lmg_error(LMG_ERR_PARSE, "'%s' is not a token shard (no LMGSHARD header)", path);
        goto done;
    }
    uint32_t version = lmg_get_u32le(h + 8), width = lmg_get_u32le(h + 12), vocab = lmg_get_u32le(h + 16),
             split = lmg_get_u32le(h + 20);
    uint64_t n_docs = lmg_get_u64le(h + 24), count = lmg_get_u64le(h + 32), fp = lmg_get_u64le(h + 40);
    if (version != LMG_SHARD_VERSION) {
        s = lmg_error(LMG_ERR_VERSION, "shard '%s' has format version %" PRIu32 "; this reader "
                      "knows version %d", path, version, LMG_SHARD_VERSION);
        goto done;
    }
    if ((width != 2 && width != 4) || vocab < LMG_TOK_MIN_VOCAB || vocab > INT32_MAX ||
        split >= LMG_SPLIT_COUNT || count > (n - LMG_SHARD_HEADER_BYTES) / width ||
        n_docs > count) {
        s = lmg_error(LMG_ERR_PARSE, "shard '%s' has a corrupt header", path);
        goto done;
    }
    if (n != LMG_SHARD_HEADER_BYTES + count * width) {
        s = lmg_error(LMG_ERR_PARSE, "shard '%s' should hold %" PRIu64 " ids (%" PRIu64 " bytes) "
                      "but has %zu bytes", path, count, LMG_SHARD_HEADER_BYTES + count * width, n);
        goto done;
    }
    if ((s = lmg_shard_check_tokenizer(path, vocab, fp, t)) != LMG_OK) goto done;
    sh = calloc(1, sizeof *sh);
    if (sh) {
        sh->path = strdup(path);
        sh->ids = malloc((count ? count : 1) * sizeof *sh->ids);
    }
    if (!sh || !sh->path || !sh->ids) {
        s = lmg_error(LMG_ERR_NOMEM, "out of memory loading shard '%s'", path);
        goto done;
    }
    uint32_t v;
    int64_t at = lmg_get_ids(h + LMG_SHARD_HEADER_BYTES, count, width, vocab, sh->ids, &v);
    if (at >= 0) {
        s = lmg_error(LMG_ERR_PARSE, "shard '%s': id %" PRIu32 " at %" PRId64 " is outside its "
                      "vocabulary of %" PRIu32, path, v, at, vocab);
        goto done;
    }
    sh->n = (int64_t)count;
    sh->n_docs = (int64_t)n_docs;
    sh->vocab = (int)vocab;
    sh->fingerprint = fp;
    sh->split = (lmg_split)split;
    *out = sh;
    sh = NULL;
done:
    lmg_shard_free(sh);
    free(buf);
    return s;
}

int64_t lmg_shard_n_tokens(const lmg_shard *s) { return s->n; }
int64_t lmg_shard_n_docs(const lmg_shard *s) { return s->n_docs; }
int lmg_shard_vocab_size(const lmg_shard *s) { return s->vocab; }
uint64_t lmg_shard_fingerprint(const lmg_shard *s) { return s->fingerprint; }
lmg_split lmg_shard_split(const lmg_shard *s) { return s->split; }
const char *lmg_shard_path(const lmg_shard *s) { return s->path; }

lmg_status lmg_shard_read(const lmg_shard *s, int64_t start, int64_t n, int32_t *out)
{
    if (start < 0 || n < 0 || start > s->n || n > s->n - start)
        return lmg_error(LMG_ERR_ARG, "shard '%s': ids [%" PRId64 ", %" PRId64 ") are outside "
                         "0..%" PRId64, s->path, start, start + n, s->n);
    if (n) memcpy(out, s->ids + start, (size_t)n * sizeof *out);
    return LMG_OK;
}

static lmg_status check_bt(const lmg_shard *s, int B, int T)
{
    if (B <= 0 || T <= 0)
        return lmg_error(LMG_ERR_ARG, "shard '%s': batch %d x %d must be positive", s->path, B, T);
    return LMG_OK;
}

lmg_status lmg_shard_batch_random(const lmg_shard *s, uint64_t seed, uint64_t step, int B, int T,
                                  int32_t *out)
{
    LMG_TRY(check_bt(s, B, T));
    if (s->n < (int64_t)T + 1)
        return lmg_error(LMG_ERR_DATA, "shard '%s' holds %" PRId64 " ids, fewer than one window "
                         "of T+1 = %d", s->path, s->n, T + 1);
    uint64_t positions = (uint64_t)(s->n - T); /* window starts 0 .. n-T-1 */
    uint64_t key = mix64(mix64(seed) ^ step);
    for (int b = 0; b < B; b++) {
        uint64_t r = mix64(key ^ mix64((uint64_t)b + 0x632be59bd9b4e019ull));
        uint64_t pos = (uint64_t)(((unsigned __int128)r * positions) >> 64);
        memcpy(out + (size_t)b * ((size_t)T + 1), s->ids + pos, ((size_t)T + 1) * sizeof *out);
    }
    return LMG_OK;
}

int64_t lmg_shard_n_windows(const lmg_shard *s, int T)
{
    if (T <= 0 || s->n < 2) return 0;
    return (s->n - 1) / T;
}

lmg_status lmg_shard_batch_seq(const lmg_shard *s, int64_t first, int B, int T, int32_t *out,
                               int *n_rows)
{
    LMG_TRY(check_bt(s, B, T));
    int64_t nw = lmg_shard_n_windows(s, T);
    if (first < 0)
        return lmg_error(LMG_ERR_ARG, "shard '%s': window %" PRId64 " is negative", s->path, first);
    int rows = 0;
    for (int b = 0; b < B; b++) {
        int32_t *row = out + (size_t)b * ((size_t)T + 1);
        if (first < nw && b < nw - first) { /* first + b < nw, without overflowing */
            memcpy(row, s->ids + (first + b) * T, ((size_t)T + 1) * sizeof *row);
            rows++;
        } else {
            for (int64_t k = 0; k <= T; k++) row[k] = LMG_TOK_PAD;
        }
    }
    if (n_rows) *n_rows = rows;
    return LMG_OK;
}
