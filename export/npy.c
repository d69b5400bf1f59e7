/* npy.c — the .npy format (version 1.0 header: magic, a Python dict literal with descr,
 * fortran_order and shape, padded to 64 bytes) and .npz, a zip of .npy members stored
 * uncompressed with their CRC-32. */
#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static lmg_status bad(const char *name, const char *what)
{
    return lmg_error(LMG_ERR_PARSE, "%s: not a .npy array lmgraph reads: %s", name, what);
}

lmg_status lmg_npy_parse(const void *buf, size_t n, const char *name, lmg_dtype *t, lmg_shape *s,
                         void **data)
{
    const unsigned char *b = buf;
    *data = NULL;
    if (n < 10 || memcmp(b, "\x93NUMPY", 6) != 0) return bad(name, "no \\x93NUMPY magic");
    size_t hl, ho;
    if (b[6] == 1) hl = (size_t)b[8] | (size_t)b[9] << 8, ho = 10;
    else if ((b[6] == 2 || b[6] == 3) && n >= 12)
        hl = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24, ho = 12;
    else return bad(name, "unknown format version");
    if (hl > n - ho) return bad(name, "header runs past the end");
    char hdr[4096];
    if (hl >= sizeof hdr) return bad(name, "header over 4 KiB");
    memcpy(hdr, b + ho, hl);
    hdr[hl] = 0;
    const char *d = strstr(hdr, "'descr'"), *f = strstr(hdr, "'fortran_order'"),
               *sh = strstr(hdr, "'shape'");
    if (!d || !f || !sh) return bad(name, "header lacks descr, fortran_order or shape");
    char descr[16] = "";
    if (sscanf(d, "'descr' : '%15[^']'", descr) != 1 && sscanf(d, "'descr': '%15[^']'", descr) != 1)
        return bad(name, "cannot read descr");
    if (strstr(f, "True") && strstr(f, "True") < strchr(f, ','))
        return bad(name, "Fortran order (use np.ascontiguousarray)");
    const char *p = strchr(sh, '(');
    if (!p) return bad(name, "cannot read shape");
    s->rank = 0;
    p++;
    while (*p && *p != ')') {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0) return bad(name, "bad shape");
        if (s->rank == LMG_MAX_DIMS) return bad(name, "more than 8 dims");
        s->dims[s->rank++] = v;
        p = end;
    }
    int64_t numel = lmg_shape_numel(s);
    int in_size;
    char kind;
    if (descr[0] == '>' ) return bad(name, "big-endian data");
    const char *ds = descr[0] == '<' || descr[0] == '|' || descr[0] == '=' ? descr + 1 : descr;
    if (strcmp(ds, "f4") == 0) kind = 'f', in_size = 4;
    else if (strcmp(ds, "f8") == 0) kind = 'd', in_size = 8;
    else if (strcmp(ds, "i4") == 0) kind = 'i', in_size = 4;
    else if (strcmp(ds, "i8") == 0) kind = 'l', in_size = 8;
    else {
        char msg[64];
        snprintf(msg, sizeof msg, "dtype '%s' (f4, f8, i4 or i8)", descr);
        return bad(name, msg);
    }
    size_t body = n - ho - hl;
    if ((uint64_t)numel * (uint64_t)in_size != body) {
        char msg[96];
        snprintf(msg, sizeof msg, "%zu data bytes for %lld elements of %d bytes", body,
                 (long long)numel, in_size);
        return bad(name, msg);
    }
    const unsigned char *src = b + ho + hl;
    void *out = malloc((size_t)(numel > 0 ? numel : 1) * 4);
    if (!out) return lmg_error(LMG_ERR_NOMEM, "%s: out of memory", name);
    *t = kind == 'f' || kind == 'd' ? LMG_DTYPE_F32 : LMG_DTYPE_I32;
    if (in_size == 4) memcpy(out, src, (size_t)numel * 4);
    for (int64_t i = 0; in_size == 8 && i < numel; i++) {
        if (kind == 'd') {
            double v;
            memcpy(&v, src + i * 8, 8);
            ((float *)out)[i] = (float)v;
        } else {
            int64_t v;
            memcpy(&v, src + i * 8, 8);
            if (v < INT32_MIN || v > INT32_MAX) {
                free(out);
                return lmg_error(LMG_ERR_DATA, "%s: element %lld is %lld, outside int32", name,
                                 (long long)i, (long long)v);
            }
            ((int32_t *)out)[i] = (int32_t)v;
        }
    }
    *data = out;
    return LMG_OK;
}

lmg_status lmg_npy_load(const char *path, lmg_dtype *t, lmg_shape *s, void **data)
{
    char *buf;
    size_t n;
    *data = NULL;
    LMG_TRY(lmg_read_file(path, &buf, &n));
    lmg_status st = lmg_npy_parse(buf, n, path, t, s, data);
    free(buf);
    return st;
}

lmg_status lmg_npy_encode(lmg_dtype t, const lmg_shape *s, const void *data, void **buf, size_t *n)
{
    char dict[512];
    int o = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     t == LMG_DTYPE_I32 ? "<i4" : "<f4");
    for (int i = 0; i < s->rank; i++)
        o += snprintf(dict + o, sizeof dict - (size_t)o, "%lld,%s", (long long)s->dims[i],
                      i + 1 < s->rank ? " " : "");
    o += snprintf(dict + o, sizeof dict - (size_t)o, "), }");
    size_t hl = (size_t)o + 1, total_h = 10 + hl;
    size_t pad = (64 - total_h % 64) % 64;
    hl += pad;
    size_t body = (size_t)lmg_shape_numel(s) * 4;
    unsigned char *b = malloc(10 + hl + body);
    if (!b) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (unsigned char)(hl & 0xff);
    b[9] = (unsigned char)(hl >> 8);
    memcpy(b + 10, dict, (size_t)o);
    memset(b + 10 + o, ' ', pad);
    b[10 + hl - 1] = '\n';
    if (body) memcpy(b + 10 + hl, data, body);
    *buf = b;
    *n = 10 + hl + body;
    return LMG_OK;
}

/* ---- npz --------------------------------------------------------------------------- */

typedef struct member {
    char *name;
    void *bytes;
    size_t n;
    uint32_t crc;
} member;

struct lmg_npz {
    member *m;
    int n, cap;
};

static uint32_t crc32(const unsigned char *p, size_t n)
{
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

lmg_npz *lmg_npz_new(void) { return calloc(1, sizeof(lmg_npz)); }

void lmg_npz_free(lmg_npz *z)
{
    if (!z) return;
    for (int i = 0; i < z->n; i++) free(z->m[i].name), free(z->m[i].bytes);
    free(z->m);
    free(z);
}

lmg_status lmg_npz_add(lmg_npz *z, const char *name, lmg_dtype t, const lmg_shape *s,
                       const void *data)
{
    if (z->n == z->cap) {
        int nc = z->cap ? 2 * z->cap : 16;
        member *nm = realloc(z->m, (size_t)nc * sizeof *nm);
        if (!nm) return lmg_error(LMG_ERR_NOMEM, "out of memory");
        z->m = nm;
        z->cap = nc;
    }
    member *m = &z->m[z->n];
    size_t len = strlen(name) + 5;
    m->name = malloc(len);
    if (!m->name) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    snprintf(m->name, len, "%s.npy", name);
    lmg_status st = lmg_npy_encode(t, s, data, &m->bytes, &m->n);
    if (st != LMG_OK) {
        free(m->name);
        return st;
    }
    if (m->n >= 0xFFFFFFFFu) {
        free(m->name), free(m->bytes);
        return lmg_error(LMG_ERR_ARG, "npz member '%s' is over 4 GiB (no zip64 here)", name);
    }
    m->crc = crc32(m->bytes, m->n);
    z->n++;
    return LMG_OK;
}

static void le16(unsigned char *p, unsigned v) { p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8); }
static void le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

lmg_status lmg_npz_commit(lmg_npz *z, const char *path)
{
    size_t total = 22;
    for (int i = 0; i < z->n; i++) total += 30 + 46 + 2 * strlen(z->m[i].name) + z->m[i].n;
    if (total >= 0xFFFFFFFFu) return lmg_error(LMG_ERR_ARG, "%s: archive over 4 GiB", path);
    unsigned char *b = malloc(total), *p = b;
    uint32_t *offs = malloc(((size_t)z->n + 1) * sizeof *offs);
    if (!b || !offs) {
        free(b), free(offs);
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < z->n; i++) {
        const member *m = &z->m[i];
        size_t nl = strlen(m->name);
        offs[i] = (uint32_t)(p - b);
        le32(p, 0x04034b50u), le16(p + 4, 20), le16(p + 6, 0), le16(p + 8, 0), le16(p + 10, 0);
        le16(p + 12, 0x21), le32(p + 14, m->crc), le32(p + 18, (uint32_t)m->n);
        le32(p + 22, (uint32_t)m->n), le16(p + 26, (unsigned)nl), le16(p + 28, 0);
        memcpy(p + 30, m->name, nl);
        memcpy(p + 30 + nl, m->bytes, m->n);
        p += 30 + nl + m->n;
    }
    unsigned char *cd = p;
    for (int i = 0; i < z->n; i++) {
        const member *m = &z->m[i];
        size_t nl = strlen(m->name);
        le32(p, 0x02014b50u), le16(p + 4, 20), le16(p + 6, 20), le16(p + 8, 0), le16(p + 10, 0);
        le16(p + 12, 0), le16(p + 14, 0x21), le32(p + 16, m->crc), le32(p + 20, (uint32_t)m->n);
        le32(p + 24, (uint32_t)m->n), le16(p + 28, (unsigned)nl), le16(p + 30, 0);
        le16(p + 32, 0), le16(p + 34, 0), le16(p + 36, 0), le32(p + 38, 0), le32(p + 42, offs[i]);
        memcpy(p + 46, m->name, nl);
        p += 46 + nl;
    }
    le32(p, 0x06054b50u), le16(p + 4, 0), le16(p + 6, 0), le16(p + 8, (unsigned)z->n);
    le16(p + 10, (unsigned)z->n), le32(p + 12, (uint32_t)(p - cd)), le32(p + 16, (uint32_t)(cd - b));
    le16(p + 20, 0);
    p += 22;
    size_t len = strlen(path) + 16;
    char *tmp = malloc(len);
    lmg_status s = LMG_OK;
    if (!tmp) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
    else {
        snprintf(tmp, len, "%s.tmp%d", path, (int)getpid());
        FILE *f = fopen(tmp, "wb");
        int ok = f && fwrite(b, 1, (size_t)(p - b), f) == (size_t)(p - b);
        ok = f && fclose(f) == 0 && ok;
        ok = ok && rename(tmp, path) == 0;
        if (!ok) {
            s = lmg_error(LMG_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
            unlink(tmp);
        }
    }
    free(tmp);
    free(b);
    free(offs);
    return s;
}
