/* cli_labels.c — labelled data for `lmg data prepare --labels` and `lmg finetune`: prepare
 * it with a tokenizer and print the label map with its documents per class and split. */
#include "cli_labels.h"
#include "cli.h"
#include "../train/classify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_labels_prepare(const char *cmd, const cli_labels_opts *o, lmg_bpe *t,
                       const char *out_dir)
{
    lmg_labelled *l = NULL;
    lmg_status s = lmg_labelled_read(o->labels, o->min_docs, o->classes, &l);
    if (s != LMG_OK) return cli_fail(cmd, s, "cannot read the labelled data");
    if (l->left_out)
        fprintf(stderr, "lmg %s: %s: left out %s\n", cmd, o->labels, l->left_out);
    lmg_labelled_stats st;
    s = lmg_labelled_prepare(l, t, o->T, out_dir, o->seed, o->val, o->test, &st);
    if (s != LMG_OK) {
        lmg_labelled_free(l);
        return cli_fail(cmd, s, "cannot prepare the labelled data");
    }
    if (!o->quiet) {
        printf("labelled data %s: %d classes, %zu documents, rows of %d ids\n", o->labels,
               l->n_classes, l->docs->n_docs, o->T);
        printf("%4s  %-24s %8s %8s %8s\n", "id", "class", "train", "val", "test");
        for (int c = 0; c < l->n_classes; c++) {
            const size_t *cd = st.class_docs + (size_t)c * LMG_SPLIT_COUNT;
            printf("%4d  %-24s %8zu %8zu %8zu\n", c, l->classes[c], cd[0], cd[1], cd[2]);
        }
        printf("%4s  %-24s %8zu %8zu %8zu\n", "", "total", st.docs[0], st.docs[1], st.docs[2]);
        printf("%4s  %-24s %8zu %8zu %8zu\n", "", "truncated to fit", st.truncated[0],
               st.truncated[1], st.truncated[2]);
        printf("wrote %s/{train,val,test}.lab, labels.tsv, tok.bpe\n", out_dir);
    }
    lmg_labelled_stats_free(&st);
    lmg_labelled_free(l);
    return 0;
}

void cli_print_report(const lmg_cls_report *r, const char *const *names)
{
    int w = 12;
    for (int c = 0; c < r->K; c++)
        if ((int)strlen(names[c]) > w) w = (int)strlen(names[c]);
    printf("%*s %10s %10s %10s %10s\n\n", w, "", "precision", "recall", "f1-score", "support");
    for (int c = 0; c < r->K; c++)
        printf("%*s %10.2f %10.2f %10.2f %10lld\n", w, names[c], r->precision[c], r->recall[c],
               r->f1[c], (long long)r->support[c]);
    printf("\n%*s %10s %10s %10.2f %10lld\n", w, "accuracy", "", "", r->accuracy, (long long)r->n);
    printf("%*s %10.2f %10.2f %10.2f %10lld\n", w, "macro avg", r->macro_precision,
           r->macro_recall, r->macro_f1, (long long)r->n);
    printf("%*s %10.2f %10.2f %10.2f %10lld\n", w, "weighted avg", r->weighted_precision,
           r->weighted_recall, r->weighted_f1, (long long)r->n);
    printf("\nmajority-class baseline (always '%s', the most frequent training class): "
           "accuracy %.4f, macro-F1 %.4f\n", names[r->majority], r->majority_accuracy,
           r->majority_macro_f1);
    printf("\nconfusion matrix (rows: true class, columns: predicted, in the order above):\n");
    for (int i = 0; i < r->K; i++) {
        printf("%*s", w, names[i]);
        for (int j = 0; j < r->K; j++) printf(" %4lld", (long long)r->confusion[(size_t)i * r->K + j]);
        printf("\n");
    }
}
