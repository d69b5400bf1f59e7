/* text.h — the tokenizer (byte-level BPE, trained and applied in C) and the datasets:
 * corpora of documents, deterministic train/val/test splits, and the token shards a trainer reads. */
#ifndef LMG_TEXT_H
#define LMG_TEXT_H

#include "../graph/lmg.h"

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------------------
 * Vocabulary layout (fixed; every tokenizer file and shard relies on it):
 *   ids 0..4      the specials <pad> <mask> <cls> <sep> <eos>
 *   ids 5..260    the 256 byte values: byte b is id LMG_TOK_BYTE0 + b
 *   ids 261..     merges, in the order they were learned: merge k is id 261 + k
 * encode never produces a special from text; the data layer puts <eos> after each document.
 * ------------------------------------------------------------------------------------- */
enum {
    LMG_TOK_PAD = 0,
    LMG_TOK_MASK = 1,
    LMG_TOK_CLS = 2,
    LMG_TOK_SEP = 3,
    LMG_TOK_EOS = 4,
    LMG_TOK_N_SPECIAL = 5,
    LMG_TOK_BYTE0 = 5,                         /* id of byte 0x00 */
    LMG_TOK_FIRST_MERGE = LMG_TOK_BYTE0 + 256, /* 261 */
    LMG_TOK_MIN_VOCAB = LMG_TOK_FIRST_MERGE,   /* smallest vocabulary: specials + bytes */
};

/* A growable array of token ids; encode appends to it. Zero-initialise; free with
 * lmg_tokens_free. */
typedef struct lmg_tokens {
    int32_t *ids;
    size_t n, cap;
} lmg_tokens;
void lmg_tokens_free(lmg_tokens *t);
lmg_status lmg_tokens_push(lmg_tokens *t, int32_t id);

/* ---------------------------------------------------------------------------------------
 * Corpus: documents as byte strings (bytes are bytes: text need not be UTF-8; NULs allowed).
 *
 * Inputs are files or directories. A directory contributes every regular file below it,
 * recursively, in byte-wise sorted order of the path; entries starting with '.' are skipped,
 * symbolic links inside directories are not followed (a file named on the command line is
 * read even when it is a link), and a strfile index "NAME.dat" is skipped when "NAME" sits
 * next to it. A directory without any file is an error.
 *
 * Documents: a file with a line that is exactly "%" is a fortune file, and each fortune
 * between "%" lines is one document (its bytes exactly, up to and including the newline
 * before the next "%"). Any other file is split into paragraphs: blocks of lines separated
 * by one or more blank lines (lines of only spaces, tabs, '\r', '\v', '\f'); the block's
 * lines are kept exactly, the blank lines between blocks are dropped. Documents made only of
 * whitespace are dropped in both cases.
 *
 * The default corpus (no inputs) is the English fortunes collection of Debian's `fortunes`
 * package: the regular files directly in LMG_CORPUS_DEFAULT_DIR (not its subfolders, so a
 * separately installed `off/` collection is never pulled in), .dat indexes and .u8 links
 * skipped. Each file name is a topic label; doc_file says which file a document came from.
 * ------------------------------------------------------------------------------------- */
#define LMG_CORPUS_DEFAULT_DIR "/usr/share/games/fortunes"

typedef struct lmg_corpus {
    char *data;        /* every document's bytes, back to back (NUL-terminated after the last) */
    size_t n_bytes;    /* bytes in all documents */
    size_t n_docs;
    size_t *doc_off;   /* (n_docs + 1): document i is data[doc_off[i] .. doc_off[i+1]) */
    int32_t *doc_file; /* (n_docs): index into files */
    char **files;      /* the files read, in reading order */
    size_t n_files;
} lmg_corpus;

/* Read a corpus from files and directories; n_paths == 0 reads the default corpus.
 * Errors: LMG_ERR_IO naming an unreadable file or directory, LMG_ERR_DATA for an empty
 * directory or a corpus without documents. */
lmg_status lmg_corpus_read(const char *const *paths, size_t n_paths, lmg_corpus **out);
/* A corpus from memory: each text is one document, copied (lens[i] bytes; lens NULL = strlen).
 * Empty texts are kept as empty documents; a corpus with no bytes at all is LMG_ERR_DATA. */
lmg_status lmg_corpus_from_texts(const char *const *texts, const size_t *lens, size_t n,
                                 lmg_corpus **out);
/* The first n documents of c (or all when n >= n_docs), copied: small corpora for tests. */
lmg_status lmg_corpus_head(const lmg_corpus *c, size_t n, lmg_corpus **out);
void lmg_corpus_free(lmg_corpus *c);

/* ---------------------------------------------------------------------------------------
 * Splits: document i goes to a split by a hash of (seed, i) alone, so the assignment is
 * deterministic, the splits are disjoint and their union is the whole corpus, and adding
 * documents at the end never moves the earlier ones.
 * ------------------------------------------------------------------------------------- */
typedef enum {
    LMG_SPLIT_TRAIN = 0,
    LMG_SPLIT_VAL = 1,
    LMG_SPLIT_TEST = 2,
    LMG_SPLIT_COUNT = 3,
} lmg_split;
#define LMG_SPLIT_DEFAULT_VAL 0.05
#define LMG_SPLIT_DEFAULT_TEST 0.05

const char *lmg_split_name(lmg_split s); /* "train", "val", "test" */
/* Split of document `doc`; val_frac and test_frac in [0,1] with val+test <= 1. */
lmg_split lmg_split_of(uint64_t seed, size_t doc, double val_frac, double test_frac);
/* Fill which[n_docs] with each document's split; LMG_ERR_ARG for bad fractions. */
lmg_status lmg_corpus_split(const lmg_corpus *c, uint64_t seed, double val_frac, double test_frac,
                            uint8_t *which);

/* ---------------------------------------------------------------------------------------
 * Tokenizer. Training pre-splits text into chunks like GPT-2 (a contraction 's 't 're 've 'm
 * 'll 'd; an optional space and a run of letters, where every byte >= 0x80 counts as a
 * letter so UTF-8 words stay whole; an optional space and a run of digits; an optional space
 * and a run of other symbols; runs of whitespace, leaving a final space to the next word;
 * chunks are cut at LMG_BPE_MAX_CHUNK bytes), counts unique chunks, and merges the most
 * frequent adjacent pair of ids until the vocabulary is full or no pair occurs twice. Ties
 * go to the pair with the smaller (left, right) ids. Encoding applies merges by rank within
 * each chunk, so decode(encode(x)) == x for every byte string.
 *
 * An lmg_bpe caches chunk encodings: encode changes the cache, so one tokenizer is not to be
 * used by two threads at once.
 * ------------------------------------------------------------------------------------- */
#define LMG_BPE_MAX_CHUNK 256

typedef struct lmg_bpe lmg_bpe;

/* Train with at most vocab_size ids (specials and bytes included). LMG_ERR_ARG when
 * vocab_size < LMG_TOK_MIN_VOCAB (the message says the minimum), LMG_ERR_DATA for a corpus
 * without bytes. */
lmg_status lmg_bpe_train(const lmg_corpus *c, int vocab_size, lmg_bpe **out);
void lmg_bpe_free(lmg_bpe *t);

int lmg_bpe_vocab_size(const lmg_bpe *t); /* LMG_TOK_FIRST_MERGE + merges */
int lmg_bpe_n_merges(const lmg_bpe *t);
/* A 64-bit hash of the vocabulary (every merge in order): shards record it to refuse a
 * different tokenizer. */
uint64_t lmg_bpe_fingerprint(const lmg_bpe *t);
/* The two ids merge k joined (0 <= k < n_merges). */
void lmg_bpe_merge_pair(const lmg_bpe *t, int k, int32_t *left, int32_t *right);
/* The bytes of a non-special id (not NUL-terminated; *len bytes), NULL for a special or an
 * id out of range. */
const uint8_t *lmg_bpe_token_bytes(const lmg_bpe *t, int32_t id, size_t *len);
/* "<pad>", "<mask>", "<cls>", "<sep>", "<eos>"; NULL for other ids. */
const char *lmg_bpe_special_name(int32_t id);

/* Append the ids of text[0..len) to out. Never produces a special. */
lmg_status lmg_bpe_encode(lmg_bpe *t, const char *text, size_t len, lmg_tokens *out);
/* Decode ids into a malloc'd NUL-terminated buffer of *len bytes (the NUL not counted).
 * Specials are written as their names ("<eos>") when specials_as_names, else skipped. An id
 * outside the vocabulary is LMG_ERR_ARG. */
lmg_status lmg_bpe_decode(const lmg_bpe *t, const int32_t *ids, size_t n, int specials_as_names,
                          char **text, size_t *len);

/* The tokenizer file (tok.bpe) is text: a magic line "lmgraph-bpe 1", "vocab N",
 * "merges M", M lines "LEFT RIGHT" (a tab and the merged token, escaped, may follow for
 * readers), then "fingerprint HEX" and "end". Load checks every line, every id, the counts
 * and the fingerprint; a corrupt or truncated file is LMG_ERR_PARSE naming the file.
 * Save writes a temporary file and renames it, so a crash never leaves half a tokenizer. */
lmg_status lmg_bpe_save(const lmg_bpe *t, const char *path);
lmg_status lmg_bpe_load(const char *path, lmg_bpe **out);

/* ---------------------------------------------------------------------------------------
 * Token shards: one file per split (train.tok, val.tok, test.tok). Each document's ids are
 * followed by <eos>. A 64-byte little-endian header precedes the ids:
 *   0  magic "LMGSHARD"      8  u32 version (1)       12 u32 bytes per id (2: u16, 4: i32)
 *   16 u32 vocab size         20 u32 split (lmg_split) 24 u64 documents  32 u64 tokens
 *   40 u64 tokenizer fingerprint                       48..63 zero
 * u16 ids are used whenever the vocabulary fits in 65536 ids.
 * ------------------------------------------------------------------------------------- */
#define LMG_SHARD_VERSION 1
#define LMG_SHARD_HEADER_BYTES 64

typedef struct lmg_data_stats {
    size_t docs[LMG_SPLIT_COUNT];
    size_t bytes[LMG_SPLIT_COUNT];  /* text bytes of the documents */
    size_t tokens[LMG_SPLIT_COUNT]; /* ids written, <eos> included */
} lmg_data_stats;

/* Split the corpus, encode every document and write out_dir/{train,val,test}.tok (the folder
 * is created when missing; each file is written to a temporary name and renamed). A split
 * with no documents gets a shard with zero tokens. stats may be NULL. */
lmg_status lmg_data_prepare(const lmg_corpus *c, lmg_bpe *t, const char *out_dir, uint64_t seed,
                            double val_frac, double test_frac, lmg_data_stats *stats);
/* Write one shard of ids (the ids are checked against the tokenizer's vocabulary). */
lmg_status lmg_shard_write(const char *path, const lmg_bpe *t, lmg_split split, size_t n_docs,
                           const int32_t *ids, size_t n);

/* A shard in memory, read by the trainer. */
typedef struct lmg_shard lmg_shard;

/* LMG_OK when a shard (token or labelled) with vocabulary `vocab` and tokenizer fingerprint
 * `fp` was made with t, or t is NULL; else LMG_ERR_DATA naming the file and both tokenizers. */
lmg_status lmg_shard_check_tokenizer(const char *path, uint32_t vocab, uint64_t fp,
                                     const lmg_bpe *t);

/* Open and validate a shard. With t != NULL the shard must have been made with that
 * tokenizer: otherwise LMG_ERR_DATA "shard train.tok was made with another tokenizer".
 * Every id is checked against the header's vocabulary size. */
lmg_status lmg_shard_open(const char *path, const lmg_bpe *t, lmg_shard **out);
void lmg_shard_free(lmg_shard *s);
int64_t lmg_shard_n_tokens(const lmg_shard *s);
int64_t lmg_shard_n_docs(const lmg_shard *s);
int lmg_shard_vocab_size(const lmg_shard *s);
uint64_t lmg_shard_fingerprint(const lmg_shard *s);
lmg_split lmg_shard_split(const lmg_shard *s);
const char *lmg_shard_path(const lmg_shard *s);

/* Copy ids [start, start + n) into out (int32). LMG_ERR_ARG when out of range. */
lmg_status lmg_shard_read(const lmg_shard *s, int64_t start, int64_t n, int32_t *out);

/* Training batches (CLM): B windows of T+1 consecutive ids, out (B, T+1), at positions
 * drawn uniformly from [0, n_tokens - T - 1] by a counter-based generator keyed by
 * (seed, step, row) — the same (seed, step) always gives the same batch, so a resumed run
 * sees the data an uninterrupted one would. LMG_ERR_DATA when the shard holds fewer than
 * T+1 ids. */
lmg_status lmg_shard_batch_random(const lmg_shard *s, uint64_t seed, uint64_t step, int B, int T,
                                  int32_t *out);

/* Evaluation windows: window w covers ids [w*T, w*T + T] (T+1 ids; neighbours share one id),
 * so windows 0 .. n_windows-1 predict every id after the first exactly once, but for a tail
 * shorter than T: n_windows = (n_tokens - 1) / T. */
int64_t lmg_shard_n_windows(const lmg_shard *s, int T);
/* Read windows first .. first+B-1 into out (B, T+1). Rows past the last window are filled
 * with LMG_TOK_PAD; *n_rows (may be NULL) gets the number of real rows. */
lmg_status lmg_shard_batch_seq(const lmg_shard *s, int64_t first, int B, int T, int32_t *out,
                               int *n_rows);

/* Little-endian fields of the shard and label-shard headers. */
static inline void lmg_put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void lmg_put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t lmg_get_u32le(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static inline uint64_t lmg_get_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}
/* Token ids in shards: 2 bytes each while the vocabulary fits (<= 65536), else 4. */
static inline uint32_t lmg_id_width(uint32_t vocab)
{
    return vocab <= 65536 ? 2 : 4;
}
static inline void lmg_put_id(uint8_t *p, uint32_t width, int32_t id)
{
    if (width == 2) {
        p[0] = (uint8_t)id;
        p[1] = (uint8_t)(id >> 8);
    } else {
        lmg_put_u32le(p, (uint32_t)id);
    }
}
static inline uint32_t lmg_get_id(const uint8_t *p, uint32_t width)
{
    return width == 2 ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : lmg_get_u32le(p);
}
/* Decode `count` ids of `width` bytes at p into out, each below vocab: the index of the first
 * one outside the vocabulary (its raw value in *bad), or -1 when every id fits. */
static inline int64_t lmg_get_ids(const uint8_t *p, uint64_t count, uint32_t width,
                                  uint32_t vocab, int32_t *out, uint32_t *bad)
{
    for (uint64_t i = 0; i < count; i++) {
        uint32_t v = lmg_get_id(p + width * i, width);
        if (v >= vocab) {
            *bad = v;
            return (int64_t)i;
        }
        out[i] = (int32_t)v;
    }
    return -1;
}

#endif
