/* test_text.c — the tokenizer against a naive BPE written here, byte-exact round trips, tok.bpe
 * files (good, corrupt, truncated), corpus reading rules, splits, shards and batch windows. */
#include "test.h"
#include "../text/text.h"

#include <ftw.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_state = 0x853c49e6748fea9bull;
static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

static char *tpath(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static int write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[len] = 0;
    *n = (size_t)len;
    return buf;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* decode(encode(x)) == x, no special produced, every id in the vocabulary. */
static int round_trip(lmg_bpe *t, const char *x, size_t n, size_t *n_tokens)
{
    lmg_tokens toks = {0};
    if (lmg_bpe_encode(t, x, n, &toks) != LMG_OK) return 0;
    int ok = 1;
    for (size_t i = 0; i < toks.n; i++)
        if (toks.ids[i] < LMG_TOK_N_SPECIAL || toks.ids[i] >= lmg_bpe_vocab_size(t)) ok = 0;
    char *back = NULL;
    size_t m = 0;
    if (ok && lmg_bpe_decode(t, toks.ids, toks.n, 1, &back, &m) != LMG_OK) ok = 0;
    if (ok) ok = m == n && memcmp(back, x, n) == 0;
    if (n_tokens) *n_tokens = toks.n;
    free(back);
    lmg_tokens_free(&toks);
    return ok;
}

/* ------------------------------------------------------------------ a naive BPE */

/* The chunk rule restated from text.h; each step recounts every adjacent pair of every chunk
 * occurrence and merges the most frequent, ties to the smaller (left, right). */
typedef struct naive_word {
    int32_t *ids;
    int n;
    int64_t freq;
} naive_word;

static int naive_train(const lmg_corpus *c, int vocab, int32_t *ma, int32_t *mb,
                       naive_word **words_out, int *n_words_out)
{
    int cap = 1024, n_words = 0;
    naive_word *words = malloc((size_t)cap * sizeof *words);
    for (size_t d = 0; d < c->n_docs; d++) {
        const char *p = c->data + c->doc_off[d];
        size_t len = c->doc_off[d + 1] - c->doc_off[d];
        /* Every chunk occurrence is its own word of frequency 1: the same pair counts as
         * unique chunks weighted by frequency, reached another way. */
        size_t i = 0;
        while (i < len) {
            size_t j = i;
            unsigned char ch = (unsigned char)p[i];
#define CLS(x) ((((x) >= 'a' && (x) <= 'z') || ((x) >= 'A' && (x) <= 'Z') || (x) >= 0x80) ? 0 : \
                ((x) >= '0' && (x) <= '9') ? 1 : \
                ((x) == ' ' || (x) == '\t' || (x) == '\n' || (x) == '\r' || (x) == '\v' || (x) == '\f') ? 2 : 3)
            int done = 0;
            if (ch == '\'' && i + 1 < len) {
                unsigned char e = (unsigned char)p[i + 1];
                if (e == 's' || e == 't' || e == 'm' || e == 'd') { j = i + 2; done = 1; }
                else if (i + 2 < len && ((e == 'r' && p[i + 2] == 'e') || (e == 'v' && p[i + 2] == 'e') ||
                                         (e == 'l' && p[i + 2] == 'l'))) { j = i + 3; done = 1; }
            }
            if (!done) {
                int cl = CLS(ch);
                if (ch == ' ' && i + 1 < len && CLS((unsigned char)p[i + 1]) != 2) {
                    j = i + 1;
                    cl = CLS((unsigned char)p[j]);
                }
                if (cl != 2) {
                    while (j < len && CLS((unsigned char)p[j]) == cl) j++;
                } else {
                    while (j < len && CLS((unsigned char)p[j]) == 2) j++;
                    if (j < len && j - i >= 2) j--;
                }
            }
#undef CLS
            if (j - i > LMG_BPE_MAX_CHUNK) j = i + LMG_BPE_MAX_CHUNK;
            if (n_words == cap) words = realloc(words, (size_t)(cap *= 2) * sizeof *words);
            naive_word *w = &words[n_words++];
            w->n = (int)(j - i);
            w->freq = 1;
            w->ids = malloc((size_t)w->n * sizeof *w->ids);
            for (int k = 0; k < w->n; k++) w->ids[k] = LMG_TOK_BYTE0 + (unsigned char)p[i + k];
            i = j;
        }
    }
    int n_merges = 0;
    int64_t *counts = calloc((size_t)vocab * (size_t)vocab, sizeof *counts);
    while (LMG_TOK_FIRST_MERGE + n_merges < vocab) {
        memset(counts, 0, (size_t)vocab * (size_t)vocab * sizeof *counts);
        for (int w = 0; w < n_words; w++)
            for (int k = 0; k + 1 < words[w].n; k++)
                counts[(size_t)words[w].ids[k] * (size_t)vocab + (size_t)words[w].ids[k + 1]] += words[w].freq;
        int64_t best = 0;
        int32_t ba = 0, bb = 0;
        for (int32_t a = 0; a < vocab; a++)
            for (int32_t b = 0; b < vocab; b++)
                if (counts[(size_t)a * (size_t)vocab + (size_t)b] > best) {
                    best = counts[(size_t)a * (size_t)vocab + (size_t)b];
                    ba = a;
                    bb = b;
                }
        if (best < 2) break;
        int32_t z = LMG_TOK_FIRST_MERGE + n_merges;
        ma[n_merges] = ba;
        mb[n_merges] = bb;
        n_merges++;
        for (int w = 0; w < n_words; w++) {
            int o = 0;
            for (int k = 0; k < words[w].n;) {
                if (k + 1 < words[w].n && words[w].ids[k] == ba && words[w].ids[k + 1] == bb) {
                    words[w].ids[o++] = z;
                    k += 2;
                } else {
                    words[w].ids[o++] = words[w].ids[k++];
                }
            }
            words[w].n = o;
        }
    }
    free(counts);
    *words_out = words;
    *n_words_out = n_words;
    return n_merges;
}

/* ------------------------------------------------------------------ fixtures */

static lmg_corpus *full;    /* the default corpus, or a synthetic one when it is missing */
static lmg_corpus *small;   /* its first documents */
static lmg_bpe *tok;        /* trained on `small` */

static lmg_corpus *synthetic_corpus(size_t n_docs)
{
    static const char *words[] = {"the", "cat", "sat", "on", "a", "mat", "and", "it's", "42",
                                  "fortune", "cookie", "--", "Mark", "Twain", "\n", "\t", "!",
                                  "don't", "you'll", "1999", "naïve", "café"};
    size_t nw = sizeof words / sizeof *words;
    char **texts = malloc(n_docs * sizeof *texts);
    for (size_t d = 0; d < n_docs; d++) {
        size_t n = 5 + rnd() % 60, off = 0;
        texts[d] = malloc(n * 12 + 1);
        for (size_t k = 0; k < n; k++) off += (size_t)sprintf(texts[d] + off, "%s%s", k ? " " : "", words[rnd() % nw]);
    }
    lmg_corpus *c = NULL;
    lmg_corpus_from_texts((const char *const *)texts, NULL, n_docs, &c);
    for (size_t d = 0; d < n_docs; d++) free(texts[d]);
    free(texts);
    return c;
}

/* ------------------------------------------------------------------ cases */

static void test_layout(void)
{
    test_begin("vocabulary layout: specials 0..4, bytes 5..260, merges after");
    CHECK(LMG_TOK_PAD == 0 && LMG_TOK_MASK == 1 && LMG_TOK_CLS == 2 && LMG_TOK_SEP == 3 &&
          LMG_TOK_EOS == 4 && LMG_TOK_N_SPECIAL == 5, "special ids");
    CHECK(LMG_TOK_FIRST_MERGE == 261 && LMG_TOK_MIN_VOCAB == 261, "first merge %d", LMG_TOK_FIRST_MERGE);
    for (int32_t id = 0; id < LMG_TOK_N_SPECIAL; id++) {
        size_t n = 99;
        CHECK(lmg_bpe_token_bytes(tok, id, &n) == NULL && n == 0, "special %d has no bytes", id);
        CHECK(lmg_bpe_special_name(id) != NULL, "special %d has a name", id);
    }
    CHECK(strcmp(lmg_bpe_special_name(LMG_TOK_EOS), "<eos>") == 0, "eos name");
    CHECK(lmg_bpe_special_name(LMG_TOK_N_SPECIAL) == NULL, "byte ids are not specials");
    for (int b = 0; b < 256; b++) {
        size_t n = 0;
        const uint8_t *p = lmg_bpe_token_bytes(tok, LMG_TOK_BYTE0 + b, &n);
        CHECK(p && n == 1 && p[0] == b, "id %d is byte %d", LMG_TOK_BYTE0 + b, b);
    }
    for (int k = 0; k < lmg_bpe_n_merges(tok); k++) {
        int32_t a, b;
        size_t n, na, nb;
        lmg_bpe_merge_pair(tok, k, &a, &b);
        const uint8_t *p = lmg_bpe_token_bytes(tok, LMG_TOK_FIRST_MERGE + k, &n);
        const uint8_t *pa = lmg_bpe_token_bytes(tok, a, &na), *pb = lmg_bpe_token_bytes(tok, b, &nb);
        if (!CHECK(p && pa && pb && n == na + nb && memcmp(p, pa, na) == 0 && memcmp(p + na, pb, nb) == 0 &&
                   a < LMG_TOK_FIRST_MERGE + k && b < LMG_TOK_FIRST_MERGE + k,
                   "merge %d is the concatenation of earlier ids", k))
            break;
    }
    CHECK(lmg_bpe_token_bytes(tok, lmg_bpe_vocab_size(tok), NULL) == NULL, "id past the vocabulary");
    test_end();
}

static void test_errors(void)
{
    lmg_bpe *t = NULL;
    test_begin("vocabulary below 261 is LMG_ERR_ARG naming the minimum; 261 is bytes only");
    lmg_status s = lmg_bpe_train(small, 260, &t);
    CHECK(s == LMG_ERR_ARG && t == NULL, "status %d", s);
    CHECK(strstr(lmg_last_error(), "261") != NULL, "message '%s'", lmg_last_error());
    s = lmg_bpe_train(small, 261, &t);
    CHECK(s == LMG_OK && t && lmg_bpe_n_merges(t) == 0 && lmg_bpe_vocab_size(t) == 261, "261: %d", s);
    if (t) {
        size_t n = 0;
        const char *x = "bytes only";
        CHECK(round_trip(t, x, strlen(x), &n) && n == strlen(x), "one id per byte: %zu", n);
    }
    lmg_bpe_free(t);
    t = NULL;
    test_end();

    test_begin("empty corpus is LMG_ERR_DATA");
    const char *texts[3] = {"", "", ""};
    lmg_corpus *c = NULL;
    s = lmg_corpus_from_texts(texts, NULL, 3, &c);
    CHECK(s == LMG_ERR_DATA && c == NULL, "from empty texts: %d", s);
    s = lmg_corpus_from_texts(texts, NULL, 0, &c);
    CHECK(s == LMG_ERR_DATA && c == NULL, "from no texts: %d", s);
    lmg_corpus empty = {0};
    size_t off0 = 0;
    empty.doc_off = &off0;
    s = lmg_bpe_train(&empty, 1000, &t);
    CHECK(s == LMG_ERR_DATA && t == NULL, "train on an empty corpus: %d", s);
    s = lmg_bpe_train(NULL, 1000, &t);
    CHECK(s == LMG_ERR_DATA, "train on no corpus: %d", s);
    test_end();
}

static void test_matches_naive(void)
{
    test_begin("merges equal a naive BPE that recounts every pair each step");
    lmg_corpus *c = NULL;
    lmg_corpus_head(full, 150, &c);
    const int vocab = 420;
    int32_t ma[420], mb[420];
    naive_word *words = NULL;
    int n_words = 0;
    int n = naive_train(c, vocab, ma, mb, &words, &n_words);
    lmg_bpe *t = NULL;
    lmg_status s = lmg_bpe_train(c, vocab, &t);
    CHECK(s == LMG_OK, "train: %s", lmg_last_error());
    if (t) {
        CHECK(lmg_bpe_n_merges(t) == n, "%d merges, naive %d", lmg_bpe_n_merges(t), n);
        int first_diff = -1;
        for (int k = 0; k < n && k < lmg_bpe_n_merges(t); k++) {
            int32_t a, b;
            lmg_bpe_merge_pair(t, k, &a, &b);
            if (a != ma[k] || b != mb[k]) {
                first_diff = k;
                break;
            }
        }
        CHECK(first_diff < 0, "first different merge: %d", first_diff);
        /* Encoding a chunk by merge rank gives the segmentation training ended with. */
        int bad = 0;
        for (int w = 0; w < n_words && !bad; w++) {
            size_t len = 0;
            char buf[LMG_BPE_MAX_CHUNK + 1];
            for (int k = 0; k < words[w].n; k++) {
                size_t m;
                const uint8_t *p = lmg_bpe_token_bytes(t, words[w].ids[k], &m);
                memcpy(buf + len, p, m);
                len += m;
            }
            lmg_tokens toks = {0};
            lmg_bpe_encode(t, buf, len, &toks);
            bad = toks.n != (size_t)words[w].n || memcmp(toks.ids, words[w].ids, toks.n * sizeof *toks.ids) != 0;
            if (bad) CHECK(0, "chunk %d ('%.*s') encodes differently from training", w, (int)len, buf);
            lmg_tokens_free(&toks);
        }
    }
    for (int w = 0; w < n_words; w++) free(words[w].ids);
    free(words);
    lmg_bpe_free(t);
    lmg_corpus_free(c);
    test_end();
}

static void test_round_trip_random(void)
{
    test_begin("decode(encode(x)) == x for 2000 random byte strings (all byte values, NULs)");
    char buf[301];
    int bad = 0, nul_seen = 0, high_seen = 0;
    for (int i = 0; i < 2000; i++) {
        size_t n = rnd() % 301;
        int mode = i % 3;
        for (size_t k = 0; k < n; k++) {
            if (mode == 0) buf[k] = (char)(rnd() & 0xff); /* any byte */
            else if (mode == 1) buf[k] = " etaoinshrdlu'\n\t.,0123456789"[rnd() % 29]; /* text-like */
            else buf[k] = rnd() % 4 ? full->data[rnd() % full->n_bytes] : (char)(rnd() & 0xff);
            nul_seen |= buf[k] == 0;
            high_seen |= (unsigned char)buf[k] >= 0x80;
        }
        if (!round_trip(tok, buf, n, NULL)) {
            if (bad++ < 3) CHECK(0, "string %d (%zu bytes) does not round-trip", i, n);
        }
    }
    CHECK(bad == 0, "%d strings failed", bad);
    CHECK(nul_seen && high_seen, "NUL and high bytes were exercised");
    /* Lone bytes that are invalid UTF-8, and a long run that must be cut into chunks. */
    const char odd[] = "\xff\xfe\x00\xc3(\x80 \xe2\x82 '\x00s 'll\r\n\r\n";
    CHECK(round_trip(tok, odd, sizeof odd - 1, NULL), "invalid UTF-8 and NULs");
    size_t big = 5000;
    char *run = malloc(big);
    memset(run, '-', big); /* "--" is a merge: fortunes sign off with "-- Author" */
    size_t nt = 0;
    int ok = round_trip(tok, run, big, &nt);
    CHECK(ok && nt < big, "5000 x '-': round trip %d in %zu tokens", ok, nt);
    free(run);
    ok = round_trip(tok, "", 0, &nt);
    CHECK(ok && nt == 0, "empty string encodes to nothing: %zu", nt);
    test_end();
}

static void test_round_trip_corpus(void)
{
    test_begin("every document of the corpus round-trips; merges compress it");
    size_t tokens = 0, bad = 0;
    double t0 = now_s();
    for (size_t d = 0; d < full->n_docs; d++) {
        size_t n;
        if (!round_trip(tok, full->data + full->doc_off[d], full->doc_off[d + 1] - full->doc_off[d], &n)) {
            if (bad++ < 3) CHECK(0, "document %zu does not round-trip", d);
        }
        tokens += n;
    }
    double bpt = (double)full->n_bytes / (double)tokens;
    printf("# %zu documents, %zu bytes -> %zu tokens (%.3f bytes/token, vocab %d) in %.2f s\n",
           full->n_docs, full->n_bytes, tokens, bpt, lmg_bpe_vocab_size(tok), now_s() - t0);
    CHECK(bad == 0, "%zu documents failed", bad);
    CHECK(bpt > 1.8, "bytes per token %.3f: merges should compress English text", bpt);
    test_end();
}

static void test_deterministic(void)
{
    test_begin("training is deterministic; a larger vocabulary extends a smaller one");
    lmg_bpe *a = NULL, *b = NULL;
    CHECK(lmg_bpe_train(small, 400, &a) == LMG_OK && lmg_bpe_train(small, 400, &b) == LMG_OK, "train");
    if (a && b) {
        CHECK(lmg_bpe_fingerprint(a) == lmg_bpe_fingerprint(b), "same fingerprint twice");
        CHECK(lmg_bpe_fingerprint(a) != lmg_bpe_fingerprint(tok), "different vocabularies differ");
        int same = 1;
        for (int k = 0; k < lmg_bpe_n_merges(a); k++) {
            int32_t x, y, u, v;
            lmg_bpe_merge_pair(a, k, &x, &y);
            lmg_bpe_merge_pair(tok, k, &u, &v);
            same &= x == u && y == v;
        }
        CHECK(same, "the first merges of the larger vocabulary are the smaller one's");
    }
    lmg_bpe_free(a);
    lmg_bpe_free(b);
    test_end();
}

static void test_save_load(void)
{
    test_begin("save/load round trip gives identical encodings");
    const char *path = tpath("tok.bpe");
    lmg_status s = lmg_bpe_save(tok, path);
    CHECK(s == LMG_OK, "save: %s", lmg_last_error());
    lmg_bpe *t = NULL;
    s = lmg_bpe_load(path, &t);
    CHECK(s == LMG_OK, "load: %s", lmg_last_error());
    if (t) {
        CHECK(lmg_bpe_vocab_size(t) == lmg_bpe_vocab_size(tok), "vocab");
        CHECK(lmg_bpe_fingerprint(t) == lmg_bpe_fingerprint(tok), "fingerprint");
        lmg_tokens x = {0}, y = {0};
        size_t n = full->doc_off[full->n_docs < 3000 ? full->n_docs : 3000];
        lmg_bpe_encode(tok, full->data, n, &x);
        lmg_bpe_encode(t, full->data, n, &y);
        CHECK(x.n == y.n && memcmp(x.ids, y.ids, x.n * sizeof *x.ids) == 0, "%zu vs %zu ids", x.n, y.n);
        lmg_tokens_free(&x);
        lmg_tokens_free(&y);
        /* Saving the loaded tokenizer reproduces the file byte for byte. */
        size_t n1, n2;
        lmg_bpe_save(t, tpath("tok2.bpe"));
        char *f1 = read_file(path, &n1), *f2 = read_file(tpath("tok2.bpe"), &n2);
        CHECK(f1 && f2 && n1 == n2 && memcmp(f1, f2, n1) == 0, "files differ");
        free(f1);
        free(f2);
    }
    lmg_bpe_free(t);
    test_end();
}

/* Load `text` as a tokenizer file; return the status and leave the message. */
static lmg_status load_text(const char *name, const char *text, size_t n)
{
    const char *path = tpath(name);
    write_file(path, text, n);
    lmg_bpe *t = NULL;
    lmg_status s = lmg_bpe_load(path, &t);
    lmg_bpe_free(t);
    return s;
}

static void test_corrupt_tokenizer(void)
{
    test_begin("corrupt and truncated tokenizer files are LMG_ERR_PARSE naming the file");
    size_t n;
    char *good = read_file(tpath("tok.bpe"), &n);
    CHECK(good && n > 100, "saved file");
    if (!good) {
        test_end();
        return;
    }
    /* Every truncation at a line boundary and in the middle of lines. */
    int bad = 0, cuts = 0;
    for (size_t cut = 0; cut < n; cut += cut < 200 ? 1 : 97) {
        lmg_status s = load_text("cut.bpe", good, cut);
        cuts++;
        if (s != LMG_ERR_PARSE || !strstr(lmg_last_error(), "cut.bpe")) {
            if (bad++ < 3) CHECK(0, "cut at %zu: status %d, '%s'", cut, s, lmg_last_error());
        }
    }
    CHECK(bad == 0, "%d of %d truncations accepted or misreported", bad, cuts);
    /* A changed merge id (still in range) is caught by the fingerprint. */
    char *copy = malloc(n + 1);
    memcpy(copy, good, n + 1);
    char *line = strstr(copy, "\n");
    for (int k = 0; k < 3 && line; k++) line = strstr(line + 1, "\n"); /* 4th line: merge 1 */
    if (line) {
        char *p = line + 1;
        *p = *p == '1' ? '2' : '1';
    }
    lmg_status s = load_text("flip.bpe", copy, n);
    CHECK(s == LMG_ERR_PARSE && strstr(lmg_last_error(), "flip.bpe"), "changed id: %d '%s'", s, lmg_last_error());
    memcpy(copy, good, n + 1);
    copy[0] = 'X';
    s = load_text("magic.bpe", copy, n);
    CHECK(s == LMG_ERR_PARSE && strstr(lmg_last_error(), "magic.bpe"), "bad magic: %d", s);
    memcpy(copy, good, n + 1);
    copy[strlen("lmgraph-bpe ")] = '7';
    s = load_text("ver.bpe", copy, n);
    CHECK(s == LMG_ERR_VERSION && strstr(lmg_last_error(), "ver.bpe"), "newer version: %d '%s'", s, lmg_last_error());
    /* Trailing garbage after "end". */
    char *longer = malloc(n + 8);
    memcpy(longer, good, n);
    memcpy(longer + n, "extra\n", 6);
    s = load_text("tail.bpe", longer, n + 6);
    CHECK(s == LMG_ERR_PARSE, "text after end: %d", s);
    free(longer);
    /* Merge ids that point at specials or at later merges. */
    const char *special = "lmgraph-bpe 1\nvocab 262\nmerges 1\n4 5\nfingerprint 0\nend\n";
    s = load_text("special.bpe", special, strlen(special));
    CHECK(s == LMG_ERR_PARSE, "merge of a special: %d", s);
    const char *forward = "lmgraph-bpe 1\nvocab 262\nmerges 1\n261 5\nfingerprint 0\nend\n";
    s = load_text("forward.bpe", forward, strlen(forward));
    CHECK(s == LMG_ERR_PARSE, "merge of itself: %d", s);
    lmg_bpe *t = NULL;
    s = lmg_bpe_load(tpath("missing.bpe"), &t);
    CHECK(s == LMG_ERR_IO && strstr(lmg_last_error(), "missing.bpe") && !t, "missing file: %d", s);
    free(copy);
    free(good);
    test_end();
}

static void test_corpus_rules(void)
{
    test_begin("corpus: fortune and paragraph documents, sorted recursive folders, skips");
    char dir[600];
    snprintf(dir, sizeof dir, "%s/corpus", tmpdir);
    mkdir(dir, 0777);
    mkdir(tpath("corpus/sub"), 0777);
    const char fort[] = "first fortune\n%\nsecond\n  -- someone\n%\n \n%\nthird\n";
    const char para[] = "para one\nline two\n\n\n  \t\npara two\n\nlast, no newline";
    write_file(tpath("corpus/b_fortunes"), fort, sizeof fort - 1);
    write_file(tpath("corpus/b_fortunes.dat"), "\x01\x02", 2); /* strfile index: skipped */
    write_file(tpath("corpus/a_para.txt"), para, sizeof para - 1);
    write_file(tpath("corpus/lonely.dat"), "kept\n", 5);        /* no sibling: kept */
    write_file(tpath("corpus/.hidden"), "hidden\n", 7);
    write_file(tpath("corpus/sub/c"), "bin\x00\xff\n", 6);      /* bytes are bytes */
    symlink(tpath("corpus/a_para.txt"), tpath("corpus/link"));  /* not followed */
    lmg_corpus *c = NULL;
    const char *paths[1] = {dir};
    lmg_status s = lmg_corpus_read(paths, 1, &c);
    CHECK(s == LMG_OK, "read: %s", lmg_last_error());
    if (c) {
        static const char *want[] = {"para one\nline two\n", "para two\n", "last, no newline",
                                     "first fortune\n", "second\n  -- someone\n", "third\n",
                                     "kept\n", "bin\x00\xff\n"};
        static const size_t want_len[] = {18, 9, 16, 14, 20, 6, 5, 6};
        static const int want_file[] = {0, 0, 0, 1, 1, 1, 2, 3};
        CHECK(c->n_files == 4, "%zu files", c->n_files);
        CHECK(c->n_docs == 8, "%zu documents", c->n_docs);
        for (size_t d = 0; d < c->n_docs && d < 8; d++) {
            size_t len = c->doc_off[d + 1] - c->doc_off[d];
            CHECK(len == want_len[d] && memcmp(c->data + c->doc_off[d], want[d], len) == 0 &&
                  c->doc_file[d] == want_file[d], "document %zu is '%.*s' from file %d", d, (int)len,
                  c->data + c->doc_off[d], c->doc_file[d]);
        }
        if (c->n_files == 4) CHECK(strstr(c->files[3], "sub/c") != NULL, "recursion: %s", c->files[3]);
    }
    lmg_corpus_free(c);
    /* A file named directly is read even when it is a link. */
    const char *link[1] = {tpath("corpus/link")};
    s = lmg_corpus_read(link, 1, &c);
    CHECK(s == LMG_OK && c && c->n_docs == 3, "named link: %d", s);
    lmg_corpus_free(c);
    c = NULL;
    test_end();

    test_begin("corpus errors: empty folder, missing file, only whitespace");
    mkdir(tpath("emptydir"), 0777);
    const char *e1[1] = {tpath("emptydir")};
    s = lmg_corpus_read(e1, 1, &c);
    CHECK(s == LMG_ERR_DATA && strstr(lmg_last_error(), "emptydir") && !c, "empty dir: %d '%s'", s, lmg_last_error());
    const char *e2[2] = {dir, tpath("nope.txt")};
    s = lmg_corpus_read(e2, 2, &c);
    CHECK(s == LMG_ERR_IO && strstr(lmg_last_error(), "nope.txt") && !c, "missing: %d '%s'", s, lmg_last_error());
    write_file(tpath("blank.txt"), "  \n\n\t\n", 6);
    const char *e3[1] = {tpath("blank.txt")};
    s = lmg_corpus_read(e3, 1, &c);
    CHECK(s == LMG_ERR_DATA && !c, "whitespace only: %d '%s'", s, lmg_last_error());
    test_end();
}

static void test_default_corpus(void)
{
    test_begin("default corpus: fortunes files, no .dat, no .u8 links");
    int have = access(LMG_CORPUS_DEFAULT_DIR "/fortunes", R_OK) == 0;
    if (!have) {
        test_skip(test_name_, "%s is missing (Debian package 'fortunes')", LMG_CORPUS_DEFAULT_DIR);
        return;
    } else {
        int bad = 0;
        for (size_t i = 0; i < full->n_files; i++) {
            size_t n = strlen(full->files[i]);
            bad += (n > 4 && (strcmp(full->files[i] + n - 4, ".dat") == 0 || strcmp(full->files[i] + n - 3, ".u8") == 0));
        }
        CHECK(bad == 0, "%d index or link files read", bad);
        CHECK(full->n_files >= 20 && full->n_docs > 5000, "%zu files, %zu documents", full->n_files, full->n_docs);
        for (size_t i = 1; i < full->n_files; i++)
            CHECK(strcmp(full->files[i - 1], full->files[i]) < 0, "files sorted");
        int sep = 0;
        for (size_t d = 0; d < full->n_docs; d++) {
            const char *p = full->data + full->doc_off[d];
            size_t len = full->doc_off[d + 1] - full->doc_off[d];
            sep += (len >= 2 && p[0] == '%' && p[1] == '\n') || (len >= 3 && memcmp(p + len - 3, "\n%\n", 3) == 0);
        }
        CHECK(sep == 0, "%d documents hold a '%%' separator line", sep);
    }
    test_end();
}

static void test_split(void)
{
    test_begin("split: deterministic, seed-dependent, fractions respected");
    size_t n = full->n_docs;
    uint8_t *a = malloc(n), *b = malloc(n), *c = malloc(n);
    CHECK(lmg_corpus_split(full, 7, 0.05, 0.05, a) == LMG_OK, "split");
    lmg_corpus_split(full, 7, 0.05, 0.05, b);
    lmg_corpus_split(full, 8, 0.05, 0.05, c);
    CHECK(memcmp(a, b, n) == 0, "same seed, same split");
    size_t diff = 0, count[3] = {0};
    for (size_t i = 0; i < n; i++) {
        diff += a[i] != c[i];
        CHECK(a[i] < 3, "document %zu in split %d", i, a[i]);
        count[a[i] < 3 ? a[i] : 0]++;
    }
    CHECK(diff > n / 20, "another seed moves documents: %zu of %zu", diff, n);
    CHECK(count[0] + count[1] + count[2] == n, "every document in one split");
    double fv = (double)count[1] / (double)n, ft = (double)count[2] / (double)n;
    CHECK(fv > 0.03 && fv < 0.07 && ft > 0.03 && ft < 0.07, "fractions %.3f %.3f", fv, ft);
    CHECK(lmg_corpus_split(full, 7, 0.6, 0.5, a) == LMG_ERR_ARG, "fractions over 1");
    CHECK(lmg_corpus_split(full, 7, -0.1, 0.1, a) == LMG_ERR_ARG, "negative fraction");
    lmg_corpus_split(full, 7, 0, 0, a);
    size_t train = 0;
    for (size_t i = 0; i < n; i++) train += a[i] == LMG_SPLIT_TRAIN;
    CHECK(train == n, "no val/test: everything trains");
    CHECK(lmg_split_of(7, 3, 0.05, 0.05) == lmg_split_of(7, 3, 0.05, 0.05), "lmg_split_of stable");
    free(a);
    free(b);
    free(c);
    test_end();
}

static int cmp_doc(const void *x, const void *y)
{
    const char *const *a = x, *const *b = y;
    return strcmp(*a, *b);
}

static void test_prepare(void)
{
    test_begin("prepare: shards hold each split's documents, <eos>-terminated; union = corpus");
    lmg_corpus *c = NULL;
    lmg_corpus_head(full, 2000, &c);
    lmg_data_stats st;
    char out[600];
    snprintf(out, sizeof out, "%s/shards/nested", tmpdir);
    lmg_status s = lmg_data_prepare(c, tok, out, 3, 0.1, 0.1, &st);
    CHECK(s == LMG_OK, "prepare: %s", lmg_last_error());
    uint8_t *which = malloc(c->n_docs);
    lmg_corpus_split(c, 3, 0.1, 0.1, which);
    size_t seen_docs = 0;
    for (int sp = 0; sp < LMG_SPLIT_COUNT && s == LMG_OK; sp++) {
        char name[32];
        snprintf(name, sizeof name, "shards/nested/%s.tok", lmg_split_name((lmg_split)sp));
        lmg_shard *sh = NULL;
        s = lmg_shard_open(tpath(name), tok, &sh);
        CHECK(s == LMG_OK, "open %s: %s", name, lmg_last_error());
        if (!sh) break;
        CHECK((int)lmg_shard_split(sh) == sp && lmg_shard_vocab_size(sh) == lmg_bpe_vocab_size(tok) &&
              lmg_shard_fingerprint(sh) == lmg_bpe_fingerprint(tok), "header of %s", name);
        int64_t nt = lmg_shard_n_tokens(sh);
        CHECK((size_t)nt == st.tokens[sp] && (size_t)lmg_shard_n_docs(sh) == st.docs[sp], "%s counts", name);
        int32_t *ids = malloc((size_t)(nt ? nt : 1) * sizeof *ids);
        lmg_shard_read(sh, 0, nt, ids);
        CHECK(nt == 0 || ids[nt - 1] == LMG_TOK_EOS, "%s ends with <eos>", name);
        /* Cut at <eos>, decode each document, and compare the sorted lists. */
        size_t n_docs = 0, cap = 16;
        char **got = malloc(cap * sizeof *got), **want = malloc(c->n_docs * sizeof *want);
        for (int64_t i = 0, start = 0; i < nt; i++) {
            if (ids[i] != LMG_TOK_EOS) continue;
            size_t len;
            if (n_docs == cap) got = realloc(got, (cap *= 2) * sizeof *got);
            lmg_bpe_decode(tok, ids + start, (size_t)(i - start), 0, &got[n_docs++], &len);
            start = i + 1;
        }
        size_t n_want = 0;
        for (size_t d = 0; d < c->n_docs; d++)
            if (which[d] == sp) want[n_want++] = strndup(c->data + c->doc_off[d], c->doc_off[d + 1] - c->doc_off[d]);
        CHECK(n_docs == n_want && n_docs == st.docs[sp], "%s: %zu documents, expected %zu", name, n_docs, n_want);
        if (n_docs == n_want) {
            qsort(got, n_docs, sizeof *got, cmp_doc);
            qsort(want, n_want, sizeof *want, cmp_doc);
            size_t mismatch = 0;
            for (size_t i = 0; i < n_docs; i++) mismatch += strcmp(got[i], want[i]) != 0;
            CHECK(mismatch == 0, "%s: %zu documents differ", name, mismatch);
        }
        seen_docs += n_docs;
        for (size_t i = 0; i < n_docs; i++) free(got[i]);
        for (size_t i = 0; i < n_want; i++) free(want[i]);
        free(got);
        free(want);
        free(ids);
        lmg_shard_free(sh);
    }
    CHECK(seen_docs == c->n_docs, "%zu of %zu documents in the shards", seen_docs, c->n_docs);
    CHECK(st.docs[1] > 0 && st.docs[2] > 0, "val and test not empty");
    s = lmg_data_prepare(c, tok, "", 3, 0.1, 0.1, NULL);
    CHECK(s == LMG_ERR_ARG && strstr(lmg_last_error(), "empty"),
          "an empty output folder name: %d '%s'", s, lmg_last_error());
    free(which);
    lmg_corpus_free(c);
    test_end();
}

static void test_shard_errors(void)
{
    test_begin("shards: another tokenizer, bad magic, truncation, bad ids, newer version refused");
    const char *path = tpath("shards/nested/val.tok");
    lmg_bpe *other = NULL;
    lmg_bpe_train(small, 300, &other);
    lmg_shard *sh = NULL;
    lmg_status s = lmg_shard_open(path, other, &sh);
    CHECK(s == LMG_ERR_DATA && !sh && strstr(lmg_last_error(), "val.tok was made with another tokenizer"),
          "other tokenizer: %d '%s'", s, lmg_last_error());
    s = lmg_shard_open(path, NULL, &sh);
    CHECK(s == LMG_OK && sh, "without a tokenizer check: %d", s);
    lmg_shard_free(sh);
    sh = NULL;
    size_t n;
    char *good = read_file(path, &n);
    char *bad = malloc(n + 2);
    memcpy(bad, good, n);
    bad[0] = 'X';
    write_file(tpath("magic.tok"), bad, n);
    s = lmg_shard_open(tpath("magic.tok"), tok, &sh);
    CHECK(s == LMG_ERR_PARSE && strstr(lmg_last_error(), "magic.tok"), "magic: %d", s);
    write_file(tpath("short.tok"), good, n - 1);
    s = lmg_shard_open(tpath("short.tok"), tok, &sh);
    CHECK(s == LMG_ERR_PARSE && strstr(lmg_last_error(), "short.tok"), "truncated: %d '%s'", s, lmg_last_error());
    write_file(tpath("head.tok"), good, 30);
    s = lmg_shard_open(tpath("head.tok"), tok, &sh);
    CHECK(s == LMG_ERR_PARSE, "half a header: %d", s);
    memcpy(bad, good, n);
    bad[8] = 2;
    write_file(tpath("ver.tok"), bad, n);
    s = lmg_shard_open(tpath("ver.tok"), tok, &sh);
    CHECK(s == LMG_ERR_VERSION, "version: %d", s);
    memcpy(bad, good, n);
    bad[LMG_SHARD_HEADER_BYTES] = (char)0xff; /* first id becomes >= vocab (u16) */
    bad[LMG_SHARD_HEADER_BYTES + 1] = (char)0xff;
    write_file(tpath("id.tok"), bad, n);
    s = lmg_shard_open(tpath("id.tok"), NULL, &sh);
    CHECK(s == LMG_ERR_PARSE && strstr(lmg_last_error(), "outside"), "id out of range: %d '%s'", s, lmg_last_error());
    s = lmg_shard_open(tpath("none.tok"), NULL, &sh);
    CHECK(s == LMG_ERR_IO && strstr(lmg_last_error(), "none.tok"), "missing: %d", s);
    CHECK(sh == NULL, "no shard returned on errors");
    free(good);
    free(bad);
    lmg_bpe_free(other);
    test_end();
}

/* Position of `row` (T+1 ids) in the shard's ids, or -1. */
static int64_t find_row(const int32_t *ids, int64_t n, const int32_t *row, int T)
{
    for (int64_t p = 0; p + T < n; p++)
        if (memcmp(ids + p, row, (size_t)(T + 1) * sizeof *row) == 0) return p;
    return -1;
}

static void test_batches(void)
{
    test_begin("batches: seeded random windows reproducible; sequential windows tile the shard");
    lmg_shard *sh = NULL;
    lmg_status s = lmg_shard_open(tpath("shards/nested/val.tok"), tok, &sh);
    CHECK(s == LMG_OK, "open: %s", lmg_last_error());
    if (!sh) {
        test_end();
        return;
    }
    const int B = 8, T = 16;
    int64_t n = lmg_shard_n_tokens(sh);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    lmg_shard_read(sh, 0, n, ids);
    int32_t x[8 * 17], y[8 * 17], z[8 * 17];
    CHECK(lmg_shard_batch_random(sh, 5, 10, B, T, x) == LMG_OK, "batch");
    lmg_shard_batch_random(sh, 5, 10, B, T, y);
    lmg_shard_batch_random(sh, 5, 11, B, T, z);
    CHECK(memcmp(x, y, sizeof x) == 0, "same (seed, step), same batch");
    CHECK(memcmp(x, z, sizeof x) != 0, "next step, another batch");
    for (int b = 0; b < B; b++)
        CHECK(find_row(ids, n, x + b * (T + 1), T) >= 0, "row %d is a window of the shard", b);
    /* Over many draws every start position is reachable and in range (end inclusive). */
    int64_t lo = n, hi = -1;
    int tiny_T = (int)n - 2;
    int32_t *w = malloc((size_t)(tiny_T + 1) * sizeof *w);
    for (uint64_t step = 0; step < 200; step++) {
        lmg_shard_batch_random(sh, 1, step, 1, tiny_T, w);
        int64_t p = w[0] == ids[0] && memcmp(w, ids, (size_t)(tiny_T + 1) * sizeof *w) == 0 ? 0 : 1;
        lo = p < lo ? p : lo;
        hi = p > hi ? p : hi;
    }
    CHECK(lo == 0 && hi == 1, "both start positions drawn when only two exist: %" PRId64 "..%" PRId64, lo, hi);
    free(w);
    CHECK(lmg_shard_batch_random(sh, 1, 0, 1, (int)n, x) == LMG_ERR_DATA, "window longer than the shard");
    CHECK(lmg_shard_batch_random(sh, 1, 0, 0, T, x) == LMG_ERR_ARG, "B = 0");
    int64_t nw = lmg_shard_n_windows(sh, T);
    CHECK(nw == (n - 1) / T, "%" PRId64 " windows", nw);
    int ok = 1;
    for (int64_t first = 0; first < nw; first += B) {
        int rows = -1;
        lmg_shard_batch_seq(sh, first, B, T, x, &rows);
        int want = (int)(nw - first < B ? nw - first : B);
        ok &= rows == want;
        for (int b = 0; b < B; b++) {
            if (b < rows) ok &= memcmp(x + b * (T + 1), ids + (first + b) * T, (size_t)(T + 1) * sizeof *x) == 0;
            else
                for (int k = 0; k <= T; k++) ok &= x[b * (T + 1) + k] == LMG_TOK_PAD;
        }
    }
    CHECK(ok, "sequential windows are ids[w*T .. w*T+T], padding after the last");
    int rows = -1;
    lmg_shard_batch_seq(sh, nw, B, T, x, &rows);
    CHECK(rows == 0, "past the end: %d rows", rows);
    rows = -1;
    s = lmg_shard_batch_seq(sh, INT64_MAX, B, T, x, &rows);
    CHECK(s == LMG_OK && rows == 0 && x[(B - 1) * (T + 1)] == LMG_TOK_PAD,
          "first window 2^63-1: %d rows, status %d", rows, s);
    CHECK(lmg_shard_read(sh, n - 1, 2, x) == LMG_ERR_ARG, "read past the end");
    free(ids);
    lmg_shard_free(sh);
    test_end();
}

static uint64_t fnv_fingerprint(int n, const int32_t *a, const int32_t *b)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = "lmgraph-bpe 1"; *p; p++) h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    for (int k = 0; k < n; k++) {
        uint32_t v[2] = {(uint32_t)a[k], (uint32_t)b[k]};
        for (int j = 0; j < 2; j++)
            for (int s = 0; s < 32; s += 8) h = (h ^ ((v[j] >> s) & 0xff)) * 0x100000001b3ull;
    }
    return h;
}

static void test_wide_shard(void)
{
    test_begin("a vocabulary over 65536 ids writes i32 shards");
    /* Every pair of two bytes as a merge: 65536 merges, 65797 ids. */
    int n = 65536;
    int32_t *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    FILE *f = fopen(tpath("wide.bpe"), "wb");
    fprintf(f, "lmgraph-bpe 1\nvocab %d\nmerges %d\n", LMG_TOK_FIRST_MERGE + n, n);
    for (int k = 0; k < n; k++) {
        a[k] = LMG_TOK_BYTE0 + (k >> 8);
        b[k] = LMG_TOK_BYTE0 + (k & 255);
        fprintf(f, "%d %d\n", a[k], b[k]);
    }
    fprintf(f, "fingerprint %016" PRIx64 "\nend\n", fnv_fingerprint(n, a, b));
    fclose(f);
    lmg_bpe *t = NULL;
    lmg_status s = lmg_bpe_load(tpath("wide.bpe"), &t);
    CHECK(s == LMG_OK, "load: %s", lmg_last_error());
    if (t) {
        int32_t ids[4] = {LMG_TOK_EOS, 70000, LMG_TOK_FIRST_MERGE + n - 1, 7};
        s = lmg_shard_write(tpath("wide.tok"), t, LMG_SPLIT_TRAIN, 1, ids, 3);
        CHECK(s == LMG_ERR_ARG, "id 70000 refused: %d", s);
        ids[1] = 65600;
        s = lmg_shard_write(tpath("wide.tok"), t, LMG_SPLIT_TRAIN, 1, ids, 4);
        CHECK(s == LMG_OK, "write: %s", lmg_last_error());
        size_t len;
        char *raw = read_file(tpath("wide.tok"), &len);
        CHECK(raw && len == LMG_SHARD_HEADER_BYTES + 16 && raw[12] == 4, "4 bytes per id: %zu bytes", len);
        free(raw);
        lmg_shard *sh = NULL;
        s = lmg_shard_open(tpath("wide.tok"), t, &sh);
        int32_t back[4] = {0};
        if (sh) lmg_shard_read(sh, 0, 4, back);
        CHECK(s == LMG_OK && memcmp(back, ids, sizeof ids) == 0, "read back: %d", s);
        lmg_shard_free(sh);
        /* Two-byte tokens: a 3-byte text takes two ids. */
        size_t nt;
        int ok = round_trip(t, "abc", 3, &nt);
        CHECK(ok && nt == 2, "encode with 65536 merges: %zu ids", nt);
    }
    lmg_bpe_free(t);
    free(a);
    free(b);
    test_end();
}

static void test_long_token(void)
{
    test_begin("a tokenizer file whose merges outgrow a chunk is refused, fingerprint or not");
    /* Doubling: merge k joins merge k-1 with itself, 2^(k+1) bytes. */
    int32_t a[12], b[12];
    FILE *f = fopen(tpath("double.bpe"), "wb");
    fprintf(f, "lmgraph-bpe 1\nvocab %d\nmerges 12\n", LMG_TOK_FIRST_MERGE + 12);
    for (int k = 0; k < 12; k++) {
        a[k] = b[k] = k ? LMG_TOK_FIRST_MERGE + k - 1 : LMG_TOK_BYTE0 + 'x';
        fprintf(f, "%d %d\n", a[k], b[k]);
    }
    fprintf(f, "fingerprint %016" PRIx64 "\nend\n", fnv_fingerprint(12, a, b));
    fclose(f);
    lmg_bpe *t = NULL;
    lmg_status s = lmg_bpe_load(tpath("double.bpe"), &t);
    CHECK(s == LMG_ERR_PARSE && !t && strstr(lmg_last_error(), "double.bpe") &&
          strstr(lmg_last_error(), "chunk limit"), "status %d '%s'", s, lmg_last_error());
    lmg_bpe_free(t);
    test_end();
}

static void test_mutations(void)
{
    test_begin("random byte changes to tok.bpe and shards never crash; ids stay in range");
    size_t n, m;
    char *tokf = read_file(tpath("tok.bpe"), &n);
    char *shf = read_file(tpath("shards/nested/val.tok"), &m);
    int accepted = 0, rejected = 0, bad = 0;
    for (int i = 0; i < 300 && tokf && shf; i++) {
        char *x = malloc(n), *y = malloc(m);
        memcpy(x, tokf, n);
        memcpy(y, shf, m);
        for (int k = 0; k < 1 + i % 3; k++) {
            x[rnd() % n] = (char)rnd();
            y[rnd() % (k ? m : LMG_SHARD_HEADER_BYTES)] = (char)rnd(); /* header first */
        }
        write_file(tpath("mut.bpe"), x, n);
        write_file(tpath("mut.tok"), y, m);
        lmg_bpe *t = NULL;
        if (lmg_bpe_load(tpath("mut.bpe"), &t) == LMG_OK) {
            accepted++; /* only the readers' comments after the tab are free text */
            bad += lmg_bpe_fingerprint(t) != lmg_bpe_fingerprint(tok);
        } else {
            rejected++;
        }
        lmg_bpe_free(t);
        lmg_shard *sh = NULL;
        if (lmg_shard_open(tpath("mut.tok"), NULL, &sh) == LMG_OK) {
            int64_t nt = lmg_shard_n_tokens(sh);
            int32_t *ids = malloc((size_t)(nt ? nt : 1) * sizeof *ids);
            lmg_shard_read(sh, 0, nt, ids);
            for (int64_t k = 0; k < nt; k++) bad += ids[k] < 0 || ids[k] >= lmg_shard_vocab_size(sh);
            free(ids);
        }
        lmg_shard_free(sh);
        free(x);
        free(y);
    }
    printf("# tok.bpe mutations: %d accepted (comment bytes), %d rejected\n", accepted, rejected);
    CHECK(bad == 0, "%d accepted files changed the vocabulary or hold bad ids", bad);
    CHECK(rejected > 100, "most mutations rejected: %d", rejected);
    free(tokf);
    free(shf);
    test_end();
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/lmg_text_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        printf("not ok - cannot make a temporary directory\n");
        return 1;
    }
    if (lmg_corpus_read(NULL, 0, &full) != LMG_OK) {
        printf("# default corpus unavailable (%s); using a synthetic one\n", lmg_last_error());
        full = synthetic_corpus(6000);
    }
    lmg_corpus_head(full, 3000, &small);
    double t0 = now_s();
    if (!small || lmg_bpe_train(small, 1000, &tok) != LMG_OK) {
        printf("not ok - cannot train the test tokenizer: %s\n", lmg_last_error());
        return 1;
    }
    printf("# trained vocab %d on %zu documents (%zu bytes) in %.3f s\n", lmg_bpe_vocab_size(tok),
           small->n_docs, small->n_bytes, now_s() - t0);

    test_layout();
    test_errors();
    test_matches_naive();
    test_round_trip_random();
    test_round_trip_corpus();
    test_deterministic();
    test_save_load();
    test_corrupt_tokenizer();
    test_corpus_rules();
    test_default_corpus();
    test_split();
    test_prepare();
    test_shard_errors();
    test_batches();
    test_wide_shard();
    test_long_token();
    test_mutations();

    lmg_bpe_free(tok);
    lmg_corpus_free(small);
    lmg_corpus_free(full);
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return test_summary();
}
