/* cli_labels.h — what `lmg data prepare --labels` and `lmg finetune` share: preparing
 * labelled data with a tokenizer and printing its label map and split counts. */
#ifndef LMG_CLI_LABELS_H
#define LMG_CLI_LABELS_H

#include "../text/labels.h"

typedef struct cli_labels_opts {
    const char *labels;      /* topics, a folder, FILE.tsv or FILE.jsonl */
    const char *classes;     /* comma-separated subset, NULL = all */
    int min_docs, T;
    uint64_t seed;
    double val, test;
    int quiet;
} cli_labels_opts;

/* Read, split, encode and write labelled data into out_dir with tokenizer t; prints the
 * left-out classes (stderr), the label map and counts per split (stdout). Returns the
 * exit code (0, or 1 with the error printed). */
int cli_labels_prepare(const char *cmd, const cli_labels_opts *o, lmg_bpe *t,
                       const char *out_dir);

struct lmg_cls_report;
/* Print a classification report in scikit-learn's layout (per class precision, recall,
 * F1-score, support; accuracy; macro and weighted averages), the majority-class baseline and
 * the confusion matrix (rows: true class, columns: predicted). */
void cli_print_report(const struct lmg_cls_report *r, const char *const *names);

#endif
