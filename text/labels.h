/* labels.h — labelled corpora for text classification: a folder of class files, TSV or JSONL,
 * stratified train/val/test splits, the label map, and padded fixed-length labelled shards. */
#ifndef LMG_LABELS_H
#define LMG_LABELS_H

#include "text.h"

/* ---------------------------------------------------------------------------------------
 * A labelled corpus: documents with one class each. Classes are numbered in byte-wise
 * sorted order of their names, so the same data always gives the same label map.
 * ------------------------------------------------------------------------------------- */
typedef struct lmg_labelled {
    lmg_corpus *docs;      /* one document per labelled text (doc_file unused) */
    int32_t *label;        /* (docs->n_docs) class of each document */
    char **classes;        /* (n_classes) class names */
    int n_classes;
    char *left_out;        /* classes dropped for having too few documents, as one line
                              ("pratchett (1 document), magic (30 documents)"), or NULL */
} lmg_labelled;

void lmg_labelled_free(lmg_labelled *l); /* free(NULL) is a no-op */

/* The built-in task "topics": the English fortunes files (LMG_CORPUS_DEFAULT_DIR), one class
 * per file, documents split on "%" lines. */
#define LMG_TASK_TOPICS "topics"
#define LMG_LABELS_DEFAULT_MIN_DOCS 50

/* Read labelled data from `path`:
 *   "topics"            the built-in task (a folder of that name: "./topics");
 *   a folder            each file is a class named after its path below the folder,
 *                       split into documents as lmg_corpus_read does;
 *   FILE.tsv            lines "label<TAB>text" (the first tab separates);
 *   FILE.jsonl / .json  lines {"text": "...", "label": "..."} (a number label is taken as
 *                       its text); other keys are ignored.
 * Blank lines are skipped. A line with an empty label or text, without a tab (TSV), or that
 * is not such an object (JSONL) is LMG_ERR_DATA naming the file and line. For folders and
 * the topics task, classes with fewer than min_docs documents are left out (named in
 * left_out); only_classes (comma-separated names, NULL = all) keeps those classes and is an
 * error when one of them does not exist. At least two classes must remain. */
lmg_status lmg_labelled_read(const char *path, int min_docs, const char *only_classes,
                             lmg_labelled **out);

/* Stratified split: within each class, documents are ordered by a hash of (seed, document
 * index) and the first round(n*test_frac) go to test, the next round(n*val_frac) to val,
 * the rest to train; a split with a positive fraction gets at least one document of every
 * class. A class too small for that is LMG_ERR_DATA naming the class and split. */
lmg_status lmg_labelled_split(const lmg_labelled *l, uint64_t seed, double val_frac,
                              double test_frac, uint8_t *which);

/* ---------------------------------------------------------------------------------------
 * Rows: a document becomes T ids: <cls>, its tokens (the first T-2 when longer: truncated),
 * <eos>, then <pad> up to T. The padding mask is id != <pad>; <pad> never comes from text.
 * ------------------------------------------------------------------------------------- */
/* Encode text into row[T]; *truncated = 1 when tokens were cut (may be NULL). T >= 3. */
lmg_status lmg_labelled_encode_row(lmg_bpe *t, const char *text, size_t len, int T,
                                   int32_t *row, int *truncated);

/* Labelled shards (train.lab, val.lab, test.lab): a 64-byte little-endian header
 *   0  magic "LMGLABEL"   8  u32 version (1)    12 u32 bytes per id (2 or 4)
 *   16 u32 vocab size      20 u32 split          24 u64 documents
 *   32 u32 T               36 u32 classes        40 u64 tokenizer fingerprint
 *   48 u64 truncated documents                   56..63 zero
 * then one u32 label per document, then documents x T ids. The label map is labels.tsv
 * beside them: a line "# lmgraph labels 1", then "id<TAB>name<TAB>train<TAB>val<TAB>test"
 * per class (document counts per split). */
#define LMG_LABSHARD_VERSION 1

typedef struct lmg_labelled_stats {
    size_t docs[LMG_SPLIT_COUNT];
    size_t truncated[LMG_SPLIT_COUNT];
    size_t tokens[LMG_SPLIT_COUNT];  /* non-pad ids written (<cls> and <eos> included) */
    int n_classes;
    size_t *class_docs;              /* [n_classes][LMG_SPLIT_COUNT], malloc'd */
} lmg_labelled_stats;
void lmg_labelled_stats_free(lmg_labelled_stats *s);

/* Split (lmg_labelled_split), encode and write out_dir/{train,val,test}.lab, labels.tsv and
 * the tokenizer as out_dir/tok.bpe. The folder is created when missing; when any of these
 * files already exists nothing is written (LMG_ERR_ARG naming it). stats may be NULL. */
lmg_status lmg_labelled_prepare(const lmg_labelled *l, lmg_bpe *t, int T, const char *out_dir,
                                uint64_t seed, double val_frac, double test_frac,
                                lmg_labelled_stats *stats);

/* The label map of a data folder: class names (malloc'd array of malloc'd strings) and,
 * when counts is not NULL, a malloc'd [n][LMG_SPLIT_COUNT] array of document counts. */
lmg_status lmg_label_map_load(const char *path, char ***names, int *n, size_t **counts);
void lmg_label_map_free(char **names, int n);

typedef struct lmg_labshard lmg_labshard;
/* Open and check a labelled shard; with t, it must have been made with that tokenizer. */
lmg_status lmg_labshard_open(const char *path, const lmg_bpe *t, lmg_labshard **out);
void lmg_labshard_free(lmg_labshard *s);
int64_t lmg_labshard_n_docs(const lmg_labshard *s);
int lmg_labshard_seq(const lmg_labshard *s);
int lmg_labshard_n_classes(const lmg_labshard *s);
int lmg_labshard_vocab_size(const lmg_labshard *s);
int64_t lmg_labshard_truncated(const lmg_labshard *s);
const char *lmg_labshard_path(const lmg_labshard *s);
const int32_t *lmg_labshard_labels(const lmg_labshard *s); /* (n_docs) */
const int32_t *lmg_labshard_ids(const lmg_labshard *s);    /* (n_docs, T) */

/* B rows drawn uniformly (with replacement) by a counter-based generator keyed by
 * (seed, step, row): the same (seed, step) gives the same batch, so resumes are exact. */
lmg_status lmg_labshard_batch_random(const lmg_labshard *s, uint64_t seed, uint64_t step,
                                     int B, int32_t *ids, int32_t *labels);
/* Rows first .. first+B-1 in order; rows past the end are "<cls> <eos>" with label -100
 * (ignored by the loss); *n_rows (may be NULL) gets the real ones. */
lmg_status lmg_labshard_batch_seq(const lmg_labshard *s, int64_t first, int B, int32_t *ids,
                                  int32_t *labels, int *n_rows);

#endif
