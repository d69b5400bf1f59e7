/* bpe.c — byte-level BPE: GPT-2-like pre-splitting in plain C, training with incremental pair
 * counts and a lazy max-heap, encoding by merge rank with a chunk cache, and tok.bpe files. */
#include "text.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BPE_MAGIC "lmgraph-bpe"
#define BPE_VERSION 1

/* ------------------------------------------------------------------ token arrays */

void lmg_tokens_free(lmg_tokens *t)
{
    if (!t) return;
    free(t->ids);
    t->ids = NULL;
    t->n = t->cap = 0;
}

static lmg_status tokens_reserve(lmg_tokens *t, size_t extra)
{
    if (t->n + extra <= t->cap) return LMG_OK;
    size_t cap = t->cap ? t->cap : 1024;
    while (cap < t->n + extra) cap *= 2;
    int32_t *ids = realloc(t->ids, cap * sizeof *ids);
    if (!ids)
        return lmg_error(LMG_ERR_NOMEM, "out of memory growing a token array to %zu ids", cap);
    t->ids = ids;
    t->cap = cap;
    return LMG_OK;
}

lmg_status lmg_tokens_push(lmg_tokens *t, int32_t id)
{
    LMG_TRY(tokens_reserve(t, 1));
    t->ids[t->n++] = id;
    return LMG_OK;
}

/* ------------------------------------------------------------------ pre-splitting */

enum { CL_LETTER, CL_DIGIT, CL_SPACE, CL_OTHER };

static int byte_class(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80) return CL_LETTER;
    if (c >= '0' && c <= '9') return CL_DIGIT;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') return CL_SPACE;
    return CL_OTHER;
}

/* End of the chunk that starts at s[i] (i < n): GPT-2's pattern
 * 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ on bytes. */
static size_t chunk_end(const uint8_t *s, size_t n, size_t i)
{
    size_t j;
    uint8_t c = s[i];
    if (c == '\'' && i + 1 < n) {
        uint8_t d = s[i + 1];
        if (d == 's' || d == 't' || d == 'm' || d == 'd') { j = i + 2; goto done; }
        if (i + 2 < n && ((d == 'r' && s[i + 2] == 'e') || (d == 'v' && s[i + 2] == 'e') ||
                          (d == 'l' && s[i + 2] == 'l'))) { j = i + 3; goto done; }
    }
    int cl = byte_class(c);
    if (c == ' ' && i + 1 < n && byte_class(s[i + 1]) != CL_SPACE) {
        j = i + 1;
        cl = byte_class(s[j]);
    } else {
        j = i;
    }
    if (cl != CL_SPACE) {
        while (j < n && byte_class(s[j]) == cl) j++;
    } else {
        while (j < n && byte_class(s[j]) == CL_SPACE) j++;
        /* A run followed by a word leaves its last character: a final space joins the word. */
        if (j < n && j - i >= 2) j--;
    }
done:
    if (j - i > LMG_BPE_MAX_CHUNK) j = i + LMG_BPE_MAX_CHUNK;
    return j;
}

/* ------------------------------------------------------------------ hashing */

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a final mix for the low bits */
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
}

static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

/* u64 key (never 0: a pair's left id is >= LMG_TOK_BYTE0) -> int32 value. */
typedef struct pairmap {
    uint64_t *keys;
    int32_t *vals;
    size_t cap, n;
} pairmap;

static size_t pairmap_slot(const pairmap *m, uint64_t key)
{
    size_t mask = m->cap - 1, i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 17) & mask;
    while (m->keys[i] && m->keys[i] != key) i = (i + 1) & mask;
    return i;
}

static int32_t pairmap_get(const pairmap *m, uint64_t key)
{
    if (!m->cap) return -1;
    size_t i = pairmap_slot(m, key);
    return m->keys[i] ? m->vals[i] : -1;
}

static lmg_status pairmap_put(pairmap *m, uint64_t key, int32_t val)
{
    if ((m->n + 1) * 4 > m->cap * 3) {
        pairmap g = {0};
        g.cap = m->cap ? m->cap * 2 : 1024;
        g.keys = calloc(g.cap, sizeof *g.keys);
        g.vals = malloc(g.cap * sizeof *g.vals);
        if (!g.keys || !g.vals) {
            free(g.keys);
            free(g.vals);
            return lmg_error(LMG_ERR_NOMEM, "out of memory growing the BPE pair table");
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) {
                size_t s = pairmap_slot(&g, m->keys[i]);
                g.keys[s] = m->keys[i];
                g.vals[s] = m->vals[i];
            }
        g.n = m->n;
        free(m->keys);
        free(m->vals);
        *m = g;
    }
    size_t i = pairmap_slot(m, key);
    if (!m->keys[i]) m->n++;
    m->keys[i] = key;
    m->vals[i] = val;
    return LMG_OK;
}

static void pairmap_free(pairmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* Byte strings -> an entry index; the caller owns the entries and the key bytes. */
typedef struct strmap {
    int32_t *slots; /* -1 empty */
    size_t cap, n;
} strmap;

typedef struct strkey {
    const uint8_t *p;
    uint32_t len;
    uint64_t hash;
} strkey;

static lmg_status strmap_grow(strmap *m, const strkey *keys)
{
    size_t cap = m->cap ? m->cap * 2 : 4096;
    int32_t *slots = malloc(cap * sizeof *slots);
    if (!slots) return lmg_error(LMG_ERR_NOMEM, "out of memory growing a chunk table");
    memset(slots, 0xff, cap * sizeof *slots);
    for (size_t i = 0; i < m->cap; i++) {
        int32_t e = m->slots[i];
        if (e < 0) continue;
        size_t s = (size_t)keys[e].hash & (cap - 1);
        while (slots[s] >= 0) s = (s + 1) & (cap - 1);
        slots[s] = e;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return LMG_OK;
}

/* Slot of key (p, len, h): holds the entry, or -1 where it would go. */
static size_t strmap_find(const strmap *m, const strkey *keys, const uint8_t *p, size_t len,
                          uint64_t h)
{
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    for (;;) {
        int32_t e = m->slots[i];
        if (e < 0) return i;
        if (keys[e].hash == h && keys[e].len == len && memcmp(keys[e].p, p, len) == 0) return i;
        i = (i + 1) & mask;
    }
}

/* ------------------------------------------------------------------ the tokenizer */

typedef struct cache_entry {
    uint32_t key_off, ids_off;
    uint16_t key_len, ids_len;
} cache_entry;

struct lmg_bpe {
    int n_merges;
    int32_t *merge_a, *merge_b; /* (n_merges) */
    uint32_t *tok_off, *tok_len; /* (vocab) bytes of each id in tok_bytes */
    uint8_t *tok_bytes;
    pairmap ranks;               /* (left, right) -> merged id: a smaller id is an earlier merge */
    uint64_t fingerprint;
    /* Chunk -> ids cache: keys in key_arena, ids in id_arena; cleared when it grows too big. */
    strmap cache;
    strkey *cache_keys;
    cache_entry *cache_entries;
    size_t cache_n, cache_cap;
    uint8_t *key_arena;
    size_t key_n, key_cap;
    int32_t *id_arena;
    size_t id_n, id_cap;
};

#define CACHE_MAX_ENTRIES (1u << 20)

static uint64_t fingerprint_of(int n, const int32_t *a, const int32_t *b)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const char *tag = BPE_MAGIC " 1";
    for (const char *p = tag; *p; p++) h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    for (int k = 0; k < n; k++) {
        uint32_t v[2] = {(uint32_t)a[k], (uint32_t)b[k]};
        for (int j = 0; j < 2; j++)
            for (int s = 0; s < 32; s += 8) h = (h ^ ((v[j] >> s) & 0xff)) * 0x100000001b3ull;
    }
    return h;
}

void lmg_bpe_free(lmg_bpe *t)
{
    if (!t) return;
    free(t->merge_a);
    free(t->merge_b);
    free(t->tok_off);
    free(t->tok_len);
    free(t->tok_bytes);
    pairmap_free(&t->ranks);
    free(t->cache.slots);
    free(t->cache_keys);
    free(t->cache_entries);
    free(t->key_arena);
    free(t->id_arena);
    free(t);
}

/* Build a tokenizer from its merge list (taking ownership of a and b). Returns a message
 * without a file name for the caller to prefix. */
static lmg_status bpe_from_merges(int n, int32_t *a, int32_t *b, lmg_bpe **out)
{
    *out = NULL;
    lmg_bpe *t = calloc(1, sizeof *t);
    if (!t) {
        free(a);
        free(b);
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    t->n_merges = n;
    t->merge_a = a;
    t->merge_b = b;
    int vocab = LMG_TOK_FIRST_MERGE + n;
    t->tok_off = calloc((size_t)vocab, sizeof *t->tok_off);
    t->tok_len = calloc((size_t)vocab, sizeof *t->tok_len);
    if (!t->tok_off || !t->tok_len) goto nomem;
    size_t total = 256;
    for (int k = 0; k < n; k++) {
        int32_t id = LMG_TOK_FIRST_MERGE + k;
        if (a[k] < LMG_TOK_BYTE0 || a[k] >= id || b[k] < LMG_TOK_BYTE0 || b[k] >= id) {
            lmg_bpe_free(t);
            return lmg_error(LMG_ERR_PARSE, "merge %d joins ids %d and %d: each must be a byte "
                             "or an earlier merge (%d..%d)", k, a[k], b[k], LMG_TOK_BYTE0, id - 1);
        }
    }
    for (int i = 0; i < 256; i++) t->tok_len[LMG_TOK_BYTE0 + i] = 1;
    for (int k = 0; k < n; k++) {
        int32_t id = LMG_TOK_FIRST_MERGE + k;
        /* Training never joins bytes across a chunk, so a longer token is corrupt (and
         * would let a hostile file blow up the byte table by doubling). */
        size_t len = (size_t)t->tok_len[a[k]] + t->tok_len[b[k]];
        if (len > LMG_BPE_MAX_CHUNK) {
            lmg_bpe_free(t);
            return lmg_error(LMG_ERR_PARSE, "merge %d makes a token of %zu bytes, longer than the "
                             "%d-byte chunk limit", k, len, LMG_BPE_MAX_CHUNK);
        }
        t->tok_len[id] = (uint32_t)len;
        total += len;
    }
    if (total > UINT32_MAX) { /* tok_off is 32-bit */
        lmg_bpe_free(t);
        return lmg_error(LMG_ERR_PARSE, "%d merges make %zu bytes of tokens, more than 4 GiB", n,
                         total);
    }
    t->tok_bytes = malloc(total);
    if (!t->tok_bytes) goto nomem;
    for (int i = 0; i < 256; i++) {
        t->tok_off[LMG_TOK_BYTE0 + i] = (uint32_t)i;
        t->tok_bytes[i] = (uint8_t)i;
    }
    size_t off = 256;
    for (int k = 0; k < n; k++) {
        int32_t id = LMG_TOK_FIRST_MERGE + k;
        t->tok_off[id] = (uint32_t)off;
        memcpy(t->tok_bytes + off, t->tok_bytes + t->tok_off[a[k]], t->tok_len[a[k]]);
        memcpy(t->tok_bytes + off + t->tok_len[a[k]], t->tok_bytes + t->tok_off[b[k]],
               t->tok_len[b[k]]);
        off += t->tok_len[id];
        uint64_t key = pair_key(a[k], b[k]);
        if (pairmap_get(&t->ranks, key) >= 0) {
            lmg_bpe_free(t);
            return lmg_error(LMG_ERR_PARSE, "merge %d repeats the pair %d %d", k, a[k], b[k]);
        }
        if (pairmap_put(&t->ranks, key, id) != LMG_OK) goto nomem;
    }
    t->fingerprint = fingerprint_of(n, a, b);
    *out = t;
    return LMG_OK;
nomem:
    lmg_bpe_free(t);
    return lmg_error(LMG_ERR_NOMEM, "out of memory building a tokenizer of %d merges", n);
}

int lmg_bpe_vocab_size(const lmg_bpe *t) { return LMG_TOK_FIRST_MERGE + t->n_merges; }
int lmg_bpe_n_merges(const lmg_bpe *t) { return t->n_merges; }
uint64_t lmg_bpe_fingerprint(const lmg_bpe *t) { return t->fingerprint; }

void lmg_bpe_merge_pair(const lmg_bpe *t, int k, int32_t *left, int32_t *right)
{
    *left = t->merge_a[k];
    *right = t->merge_b[k];
}

const uint8_t *lmg_bpe_token_bytes(const lmg_bpe *t, int32_t id, size_t *len)
{
    if (id < LMG_TOK_BYTE0 || id >= lmg_bpe_vocab_size(t)) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = t->tok_len[id];
    return t->tok_bytes + t->tok_off[id];
}

const char *lmg_bpe_special_name(int32_t id)
{
    static const char *names[LMG_TOK_N_SPECIAL] = {"<pad>", "<mask>", "<cls>", "<sep>", "<eos>"};
    return id >= 0 && id < LMG_TOK_N_SPECIAL ? names[id] : NULL;
}

/* ------------------------------------------------------------------ training */

typedef struct pair {
    int32_t a, b;
    int64_t count;
    int32_t *occ; /* words that held this pair at some time (stale entries are harmless) */
    int32_t n_occ, cap_occ;
    int dirty;
} pair;

typedef struct heap_entry {
    int64_t count;
    int32_t p;
} heap_entry;

typedef struct trainer {
    /* unique chunks ("words") */
    int64_t *freq;     /* (n_words) */
    int32_t *head;     /* (n_words) first symbol position */
    int32_t n_words;
    /* symbols, in per-word doubly linked lists; a merged-away position holds -1 */
    int32_t *sym, *nxt, *prv;
    /* pairs */
    pair *pairs;
    int32_t n_pairs, cap_pairs;
    pairmap index;
    int32_t *dirty;
    int32_t n_dirty, cap_dirty;
    heap_entry *heap;
    size_t n_heap, cap_heap;
    int32_t *seen;     /* (n_words) merge stamp */
} trainer;

static int heap_before(const trainer *tr, heap_entry x, heap_entry y)
{
    if (x.count != y.count) return x.count > y.count;
    const pair *p = &tr->pairs[x.p], *q = &tr->pairs[y.p];
    if (p->a != q->a) return p->a < q->a;
    return p->b < q->b;
}

static lmg_status heap_push(trainer *tr, heap_entry e)
{
    if (tr->n_heap == tr->cap_heap) {
        size_t cap = tr->cap_heap ? tr->cap_heap * 2 : 4096;
        heap_entry *h = realloc(tr->heap, cap * sizeof *h);
        if (!h) return lmg_error(LMG_ERR_NOMEM, "out of memory growing the BPE merge queue");
        tr->heap = h;
        tr->cap_heap = cap;
    }
    size_t i = tr->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_before(tr, e, tr->heap[parent])) break;
        tr->heap[i] = tr->heap[parent];
        i = parent;
    }
    tr->heap[i] = e;
    return LMG_OK;
}

static heap_entry heap_pop(trainer *tr)
{
    heap_entry top = tr->heap[0], last = tr->heap[--tr->n_heap];
    size_t i = 0, n = tr->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_before(tr, tr->heap[c + 1], tr->heap[c])) c++;
        if (!heap_before(tr, tr->heap[c], last)) break;
        tr->heap[i] = tr->heap[c];
        i = c;
    }
    if (n) tr->heap[i] = last;
    return top;
}

/* Add delta to the count of pair (a, b); a positive delta records word w as holding it. */
static lmg_status pair_add(trainer *tr, int32_t a, int32_t b, int64_t delta, int32_t w)
{
    uint64_t key = pair_key(a, b);
    int32_t p = pairmap_get(&tr->index, key);
    if (p < 0) {
        if (tr->n_pairs == tr->cap_pairs) {
            int32_t cap = tr->cap_pairs ? tr->cap_pairs * 2 : 4096;
            pair *np = realloc(tr->pairs, (size_t)cap * sizeof *np);
            if (!np) return lmg_error(LMG_ERR_NOMEM, "out of memory growing the BPE pair list");
            tr->pairs = np;
            tr->cap_pairs = cap;
        }
        p = tr->n_pairs++;
        tr->pairs[p] = (pair){.a = a, .b = b};
        LMG_TRY(pairmap_put(&tr->index, key, p));
    }
    pair *q = &tr->pairs[p];
    q->count += delta;
    if (delta > 0 && (q->n_occ == 0 || q->occ[q->n_occ - 1] != w)) {
        if (q->n_occ == q->cap_occ) {
            int32_t cap = q->cap_occ ? q->cap_occ * 2 : 4;
            int32_t *occ = realloc(q->occ, (size_t)cap * sizeof *occ);
            if (!occ)
                return lmg_error(LMG_ERR_NOMEM, "out of memory growing a BPE pair's word list");
            q->occ = occ;
            q->cap_occ = cap;
        }
        q->occ[q->n_occ++] = w;
    }
    if (!q->dirty) {
        if (tr->n_dirty == tr->cap_dirty) {
            int32_t cap = tr->cap_dirty ? tr->cap_dirty * 2 : 1024;
            int32_t *d = realloc(tr->dirty, (size_t)cap * sizeof *d);
            if (!d) return lmg_error(LMG_ERR_NOMEM, "out of memory in BPE training");
            tr->dirty = d;
            tr->cap_dirty = cap;
        }
        tr->dirty[tr->n_dirty++] = p;
        q->dirty = 1;
    }
    return LMG_OK;
}

/* Queue the new counts of every pair changed since the last flush. */
static lmg_status flush_dirty(trainer *tr)
{
    for (int32_t i = 0; i < tr->n_dirty; i++) {
        pair *q = &tr->pairs[tr->dirty[i]];
        q->dirty = 0;
        if (q->count > 0) LMG_TRY(heap_push(tr, (heap_entry){q->count, tr->dirty[i]}));
    }
    tr->n_dirty = 0;
    return LMG_OK;
}

/* Replace every non-overlapping (a, b), left to right, in every word that holds it by z. */
static lmg_status merge_pair(trainer *tr, int32_t p, int32_t z, int32_t stamp)
{
    int32_t a = tr->pairs[p].a, b = tr->pairs[p].b;
    int32_t *occ = tr->pairs[p].occ, n_occ = tr->pairs[p].n_occ;
    /* The pair cannot come back (new neighbours all involve z), so its word list is done. */
    tr->pairs[p].occ = NULL;
    tr->pairs[p].n_occ = tr->pairs[p].cap_occ = 0;
    lmg_status s = LMG_OK;
    for (int32_t k = 0; k < n_occ && s == LMG_OK; k++) {
        int32_t w = occ[k];
        if (tr->seen[w] == stamp) continue;
        tr->seen[w] = stamp;
        int64_t f = tr->freq[w];
        for (int32_t i = tr->head[w]; i >= 0 && s == LMG_OK;) {
            int32_t j = tr->nxt[i];
            if (j < 0) break;
            if (tr->sym[i] != a || tr->sym[j] != b) {
                i = j;
                continue;
            }
            int32_t pv = tr->prv[i], nn = tr->nxt[j];
            if (pv >= 0) {
                s = pair_add(tr, tr->sym[pv], a, -f, w);
                if (s == LMG_OK) s = pair_add(tr, tr->sym[pv], z, f, w);
            }
            if (nn >= 0 && s == LMG_OK) {
                s = pair_add(tr, b, tr->sym[nn], -f, w);
                if (s == LMG_OK) s = pair_add(tr, z, tr->sym[nn], f, w);
            }
            if (s == LMG_OK) s = pair_add(tr, a, b, -f, w);
            tr->sym[i] = z;
            tr->nxt[i] = nn;
            if (nn >= 0) tr->prv[nn] = i;
            tr->sym[j] = -1;
            i = nn;
        }
    }
    free(occ);
    return s;
}

static void trainer_free(trainer *tr)
{
    free(tr->freq);
    free(tr->head);
    free(tr->sym);
    free(tr->nxt);
    free(tr->prv);
    for (int32_t i = 0; i < tr->n_pairs; i++) free(tr->pairs[i].occ);
    free(tr->pairs);
    pairmap_free(&tr->index);
    free(tr->dirty);
    free(tr->heap);
    free(tr->seen);
}

/* Count the unique chunks of the corpus into tr->freq and the symbol lists. */
static lmg_status count_chunks(trainer *tr, const lmg_corpus *c)
{
    strmap map = {0};
    strkey *keys = NULL;
    int64_t *freq = NULL;
    size_t n = 0, cap = 0, total = 0;
    lmg_status s = strmap_grow(&map, keys);
    const uint8_t *data = (const uint8_t *)c->data;
    for (size_t d = 0; d < c->n_docs && s == LMG_OK; d++) {
        size_t end = c->doc_off[d + 1];
        for (size_t i = c->doc_off[d]; i < end && s == LMG_OK;) {
            size_t j = chunk_end(data, end, i);
            uint64_t h = hash_bytes(data + i, j - i);
            size_t slot = strmap_find(&map, keys, data + i, j - i, h);
            if (map.slots[slot] >= 0) {
                freq[map.slots[slot]]++;
                i = j;
                continue;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 4096;
                strkey *nk = realloc(keys, cap * sizeof *nk);
                if (nk) keys = nk;
                int64_t *nf = realloc(freq, cap * sizeof *nf);
                if (nf) freq = nf;
                if (!nk || !nf || n >= INT32_MAX / 2) {
                    s = lmg_error(LMG_ERR_NOMEM, "out of memory counting %zu unique chunks", n);
                    break;
                }
            }
            keys[n] = (strkey){data + i, (uint32_t)(j - i), h};
            freq[n] = 1;
            map.slots[slot] = (int32_t)n++;
            map.n++;
            total += j - i;
            if (map.n * 2 > map.cap) s = strmap_grow(&map, keys);
            i = j;
        }
    }
    if (s == LMG_OK && total >= INT32_MAX)
        s = lmg_error(LMG_ERR_DATA, "the corpus has %zu bytes of distinct chunks; at most %d are "
                      "supported", total, INT32_MAX - 1);
    if (s == LMG_OK) {
        tr->n_words = (int32_t)n;
        tr->freq = freq;
        freq = NULL;
        tr->head = malloc((n ? n : 1) * sizeof *tr->head);
        tr->seen = calloc(n ? n : 1, sizeof *tr->seen);
        tr->sym = malloc((total ? total : 1) * sizeof *tr->sym);
        tr->nxt = malloc((total ? total : 1) * sizeof *tr->nxt);
        tr->prv = malloc((total ? total : 1) * sizeof *tr->prv);
        if (!tr->head || !tr->seen || !tr->sym || !tr->nxt || !tr->prv) {
            s = lmg_error(LMG_ERR_NOMEM, "out of memory for %zu chunk bytes", total);
        } else {
            int32_t pos = 0;
            for (size_t w = 0; w < n; w++) {
                tr->head[w] = pos;
                for (uint32_t k = 0; k < keys[w].len; k++, pos++) {
                    tr->sym[pos] = LMG_TOK_BYTE0 + keys[w].p[k];
                    tr->prv[pos] = k ? pos - 1 : -1;
                    tr->nxt[pos] = k + 1 < keys[w].len ? pos + 1 : -1;
                }
            }
        }
    }
    free(map.slots);
    free(keys);
    free(freq);
    return s;
}

lmg_status lmg_bpe_train(const lmg_corpus *c, int vocab_size, lmg_bpe **out)
{
    *out = NULL;
    if (vocab_size < LMG_TOK_MIN_VOCAB)
        return lmg_error(LMG_ERR_ARG, "vocabulary size %d is too small: the minimum is %d "
                         "(%d specials + 256 bytes)", vocab_size, LMG_TOK_MIN_VOCAB, LMG_TOK_N_SPECIAL);
    if (!c || c->n_bytes == 0)
        return lmg_error(LMG_ERR_DATA, "cannot train a tokenizer on an empty corpus");
    trainer tr = {0};
    int max_merges = vocab_size - LMG_TOK_FIRST_MERGE, n_merges = 0;
    int32_t *ma = malloc((size_t)(max_merges ? max_merges : 1) * sizeof *ma);
    int32_t *mb = malloc((size_t)(max_merges ? max_merges : 1) * sizeof *mb);
    lmg_status s = ma && mb ? LMG_OK : lmg_error(LMG_ERR_NOMEM, "out of memory for %d merges", max_merges);
    if (s == LMG_OK) s = count_chunks(&tr, c);
    for (int32_t w = 0; w < tr.n_words && s == LMG_OK; w++)
        for (int32_t i = tr.head[w]; tr.nxt[i] >= 0 && s == LMG_OK; i = tr.nxt[i])
            s = pair_add(&tr, tr.sym[i], tr.sym[tr.nxt[i]], tr.freq[w], w);
    if (s == LMG_OK) s = flush_dirty(&tr);
    while (s == LMG_OK && n_merges < max_merges && tr.n_heap > 0) {
        heap_entry e = heap_pop(&tr);
        if (e.count != tr.pairs[e.p].count) continue; /* stale: a newer entry holds the count */
        if (e.count < 2) break; /* a pair seen once teaches nothing */
        int32_t z = LMG_TOK_FIRST_MERGE + n_merges;
        ma[n_merges] = tr.pairs[e.p].a;
        mb[n_merges] = tr.pairs[e.p].b;
        n_merges++;
        s = merge_pair(&tr, e.p, z, n_merges);
        if (s == LMG_OK) s = flush_dirty(&tr);
    }
    trainer_free(&tr);
    if (s != LMG_OK) {
        free(ma);
        free(mb);
        return s;
    }
    return bpe_from_merges(n_merges, ma, mb, out);
}

/* ------------------------------------------------------------------ encoding */

static void cache_clear(lmg_bpe *t)
{
    if (t->cache.slots) memset(t->cache.slots, 0xff, t->cache.cap * sizeof *t->cache.slots);
    t->cache.n = 0;
    t->cache_n = t->key_n = t->id_n = 0;
}

/* Remember chunk -> ids; failing to remember is not an error (the cache only saves time). */
static void cache_put(lmg_bpe *t, const uint8_t *p, size_t len, const int32_t *ids, size_t n)
{
    if (t->cache_n >= CACHE_MAX_ENTRIES) cache_clear(t);
    if (t->key_n + len > t->key_cap) {
        size_t cap = t->key_cap ? t->key_cap * 2 : 1 << 16;
        while (cap < t->key_n + len) cap *= 2;
        uint8_t *k = realloc(t->key_arena, cap);
        if (!k) return;
        /* Keys point into the arena: move them with it. */
        for (size_t i = 0; i < t->cache_n; i++) t->cache_keys[i].p = k + t->cache_entries[i].key_off;
        t->key_arena = k;
        t->key_cap = cap;
    }
    if (t->id_n + n > t->id_cap) {
        size_t cap = t->id_cap ? t->id_cap * 2 : 1 << 16;
        while (cap < t->id_n + n) cap *= 2;
        int32_t *d = realloc(t->id_arena, cap * sizeof *d);
        if (!d) return;
        t->id_arena = d;
        t->id_cap = cap;
    }
    if (t->cache_n == t->cache_cap) {
        size_t cap = t->cache_cap ? t->cache_cap * 2 : 4096;
        strkey *k = realloc(t->cache_keys, cap * sizeof *k);
        if (!k) return;
        t->cache_keys = k;
        cache_entry *e = realloc(t->cache_entries, cap * sizeof *e);
        if (!e) return;
        t->cache_entries = e;
        t->cache_cap = cap;
    }
    if ((t->cache.n + 1) * 2 > t->cache.cap && strmap_grow(&t->cache, t->cache_keys) != LMG_OK) {
        lmg_error_clear();
        return;
    }
    uint64_t h = hash_bytes(p, len);
    size_t slot = strmap_find(&t->cache, t->cache_keys, p, len, h);
    if (t->cache.slots[slot] >= 0) return;
    memcpy(t->key_arena + t->key_n, p, len);
    memcpy(t->id_arena + t->id_n, ids, n * sizeof *ids);
    size_t e = t->cache_n++;
    t->cache_entries[e] = (cache_entry){(uint32_t)t->key_n, (uint32_t)t->id_n, (uint16_t)len, (uint16_t)n};
    t->cache_keys[e] = (strkey){t->key_arena + t->key_n, (uint32_t)len, h};
    t->key_n += len;
    t->id_n += n;
    t->cache.slots[slot] = (int32_t)e;
    t->cache.n++;
}

/* ids of one chunk (len <= LMG_BPE_MAX_CHUNK) into ids[]; returns how many. */
static size_t encode_chunk(const lmg_bpe *t, const uint8_t *p, size_t len, int32_t *ids)
{
    size_t n = len;
    for (size_t k = 0; k < n; k++) ids[k] = LMG_TOK_BYTE0 + p[k];
    while (n > 1) {
        int32_t best = INT32_MAX, ba = 0, bb = 0;
        for (size_t k = 0; k + 1 < n; k++) {
            int32_t m = pairmap_get(&t->ranks, pair_key(ids[k], ids[k + 1]));
            if (m >= 0 && m < best) {
                best = m;
                ba = ids[k];
                bb = ids[k + 1];
            }
        }
        if (best == INT32_MAX) break;
        size_t w = 0;
        for (size_t k = 0; k < n;) {
            if (k + 1 < n && ids[k] == ba && ids[k + 1] == bb) {
                ids[w++] = best;
                k += 2;
            } else {
                ids[w++] = ids[k++];
            }
        }
        n = w;
    }
    return n;
}

lmg_status lmg_bpe_encode(lmg_bpe *t, const char *text, size_t len, lmg_tokens *out)
{
    const uint8_t *s = (const uint8_t *)text;
    int32_t buf[LMG_BPE_MAX_CHUNK];
    for (size_t i = 0; i < len;) {
        size_t j = chunk_end(s, len, i), n = j - i;
        if (n == 1) {
            LMG_TRY(lmg_tokens_push(out, LMG_TOK_BYTE0 + s[i]));
            i = j;
            continue;
        }
        if (t->cache.cap) {
            uint64_t h = hash_bytes(s + i, n);
            size_t slot = strmap_find(&t->cache, t->cache_keys, s + i, n, h);
            int32_t e = t->cache.slots[slot];
            if (e >= 0) {
                size_t m = t->cache_entries[e].ids_len;
                LMG_TRY(tokens_reserve(out, m));
                memcpy(out->ids + out->n, t->id_arena + t->cache_entries[e].ids_off, m * sizeof *buf);
                out->n += m;
                i = j;
                continue;
            }
        }
        size_t m = encode_chunk(t, s + i, n, buf);
        cache_put(t, s + i, n, buf, m);
        LMG_TRY(tokens_reserve(out, m));
        memcpy(out->ids + out->n, buf, m * sizeof *buf);
        out->n += m;
        i = j;
    }
    return LMG_OK;
}

lmg_status lmg_bpe_decode(const lmg_bpe *t, const int32_t *ids, size_t n, int specials_as_names,
                          char **text, size_t *len)
{
    *text = NULL;
    if (len) *len = 0;
    int vocab = lmg_bpe_vocab_size(t);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= vocab)
            return lmg_error(LMG_ERR_ARG, "token id %" PRId32 " at position %zu is outside the "
                             "vocabulary (0..%d)", ids[i], i, vocab - 1);
        if (ids[i] < LMG_TOK_N_SPECIAL) total += specials_as_names ? strlen(lmg_bpe_special_name(ids[i])) : 0;
        else total += t->tok_len[ids[i]];
    }
    char *buf = malloc(total + 1);
    if (!buf) return lmg_error(LMG_ERR_NOMEM, "out of memory decoding %zu ids", n);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < LMG_TOK_N_SPECIAL) {
            if (!specials_as_names) continue;
            const char *name = lmg_bpe_special_name(ids[i]);
            memcpy(buf + off, name, strlen(name));
            off += strlen(name);
        } else {
            memcpy(buf + off, t->tok_bytes + t->tok_off[ids[i]], t->tok_len[ids[i]]);
            off += t->tok_len[ids[i]];
        }
    }
    buf[off] = 0;
    *text = buf;
    if (len) *len = off;
    return LMG_OK;
}

/* ------------------------------------------------------------------ tok.bpe files */

static void write_escaped(FILE *f, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '\\') fputs("\\\\", f);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c >= 0x20 && c < 0x7f) fputc(c, f);
        else fprintf(f, "\\x%02x", c);
    }
}

lmg_status lmg_bpe_save(const lmg_bpe *t, const char *path)
{
    /* Formatted in memory, then written by the atomic writer (fsync and rename). */
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    if (!f) return lmg_error(LMG_ERR_NOMEM, "%s: out of memory", path);
    fprintf(f, "%s %d\nvocab %d\nmerges %d\n", BPE_MAGIC, BPE_VERSION, lmg_bpe_vocab_size(t), t->n_merges);
    for (int k = 0; k < t->n_merges; k++) {
        int32_t id = LMG_TOK_FIRST_MERGE + k;
        fprintf(f, "%" PRId32 " %" PRId32 "\t", t->merge_a[k], t->merge_b[k]);
        write_escaped(f, t->tok_bytes + t->tok_off[id], t->tok_len[id]);
        fputc('\n', f);
    }
    fprintf(f, "fingerprint %016" PRIx64 "\nend\n", t->fingerprint);
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    lmg_status s = bad ? lmg_error(LMG_ERR_NOMEM, "%s: out of memory", path)
                       : lmg_write_file_atomic(path, text, n);
    free(text);
    return s;
}

/* The next line of buf (without '\n') or NULL at the end; lines must end with '\n'. */
static char *next_line(char **cur, char *end, int *truncated)
{
    char *p = *cur;
    if (p >= end) return NULL;
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) {
        *truncated = 1;
        return NULL;
    }
    *nl = 0;
    *cur = nl + 1;
    return p;
}

static int parse_long(const char *s, long lo, long hi, long *out, const char **rest)
{
    char *end;
    errno = 0;
    if (!(*s >= '0' && *s <= '9') && *s != '-') return -1;
    long v = strtol(s, &end, 10);
    if (errno || end == s || v < lo || v > hi) return -1;
    *out = v;
    *rest = end;
    return 0;
}

/* Reads "<word> <int>" exactly. */
static int parse_field(const char *line, const char *word, long lo, long hi, long *out)
{
    size_t n = strlen(word);
    const char *rest;
    if (strncmp(line, word, n) != 0 || line[n] != ' ') return -1;
    if (parse_long(line + n + 1, lo, hi, out, &rest) != 0 || *rest) return -1;
    return 0;
}

lmg_status lmg_bpe_load(const char *path, lmg_bpe **out)
{
    *out = NULL;
    char *buf;
    size_t n;
    LMG_TRY(lmg_read_file(path, &buf, &n));
    char *cur = buf, *end = buf + n, *line;
    int truncated = 0, lineno = 0;
    int32_t *a = NULL, *b = NULL;
    long version, vocab, merges;
    lmg_status s = LMG_OK;
#define FAIL(...) do { s = lmg_error(LMG_ERR_PARSE, __VA_ARGS__); goto done; } while (0)
    line = next_line(&cur, end, &truncated), lineno++;
    if (!line || parse_field(line, BPE_MAGIC, 0, 1000000, &version) != 0)
        FAIL("'%s' is not an lmgraph tokenizer file (no '" BPE_MAGIC " 1' line at the top)", path);
    if (version != BPE_VERSION) {
        s = lmg_error(LMG_ERR_VERSION, "tokenizer '%s' has format version %ld; this reader knows "
                      "version %d", path, version, BPE_VERSION);
        goto done;
    }
    line = next_line(&cur, end, &truncated), lineno++;
    if (!line || parse_field(line, "vocab", LMG_TOK_MIN_VOCAB, INT32_MAX, &vocab) != 0)
        FAIL("tokenizer '%s' line %d: expected 'vocab N' with N >= %d%s", path, lineno,
             LMG_TOK_MIN_VOCAB, truncated || !line ? " (file truncated)" : "");
    line = next_line(&cur, end, &truncated), lineno++;
    if (!line || parse_field(line, "merges", 0, INT32_MAX, &merges) != 0)
        FAIL("tokenizer '%s' line %d: expected 'merges M'%s", path, lineno,
             truncated || !line ? " (file truncated)" : "");
    if (vocab != LMG_TOK_FIRST_MERGE + merges)
        FAIL("tokenizer '%s': vocab %ld does not match %ld merges (expected vocab %ld)", path, vocab,
             merges, LMG_TOK_FIRST_MERGE + merges);
    if ((size_t)merges > n / 4) FAIL("tokenizer '%s' is truncated: %ld merges announced in %zu bytes", path, merges, n);
    a = malloc((size_t)(merges ? merges : 1) * sizeof *a);
    b = malloc((size_t)(merges ? merges : 1) * sizeof *b);
    if (!a || !b) {
        s = lmg_error(LMG_ERR_NOMEM, "out of memory loading '%s'", path);
        goto done;
    }
    for (long k = 0; k < merges; k++) {
        line = next_line(&cur, end, &truncated), lineno++;
        long x, y;
        const char *rest;
        if (!line) FAIL("tokenizer '%s' is truncated: %ld of %ld merges", path, k, merges);
        if (parse_long(line, LMG_TOK_BYTE0, LMG_TOK_FIRST_MERGE + k - 1, &x, &rest) != 0 || *rest != ' ' ||
            parse_long(rest + 1, LMG_TOK_BYTE0, LMG_TOK_FIRST_MERGE + k - 1, &y, &rest) != 0 ||
            (*rest != 0 && *rest != '\t'))
            FAIL("tokenizer '%s' line %d: expected merge %ld as two ids in %d..%ld", path, lineno, k,
                 LMG_TOK_BYTE0, LMG_TOK_FIRST_MERGE + k - 1);
        a[k] = (int32_t)x;
        b[k] = (int32_t)y;
    }
    line = next_line(&cur, end, &truncated), lineno++;
    char *hex_end;
    if (!line || strncmp(line, "fingerprint ", 12) != 0)
        FAIL("tokenizer '%s' line %d: expected 'fingerprint HEX'%s", path, lineno,
             truncated || !line ? " (file truncated)" : "");
    errno = 0;
    uint64_t fp = strtoull(line + 12, &hex_end, 16);
    if (errno || hex_end == line + 12 || *hex_end)
        FAIL("tokenizer '%s' line %d: bad fingerprint", path, lineno);
    line = next_line(&cur, end, &truncated), lineno++;
    if (!line || strcmp(line, "end") != 0 || cur != end)
        FAIL("tokenizer '%s' line %d: expected 'end' as the last line%s", path, lineno,
             truncated || !line ? " (file truncated)" : "");
    if (fp != fingerprint_of((int)merges, a, b))
        FAIL("tokenizer '%s' is corrupt: its merges do not match its fingerprint", path);
    s = bpe_from_merges((int)merges, a, b, out);
    a = b = NULL;
    if (s != LMG_OK) lmg_error_prefix(s, "tokenizer '%s'", path);
#undef FAIL
done:
    free(a);
    free(b);
    free(buf);
    return s;
}
