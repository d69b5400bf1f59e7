/* cli_labels.c — labelled data for `lmg data prepare --labels` and `lmg finetune`: prepare
 * it with a tokenizer and print the label map with its documents per class and split. */
#include "cli_labels.h"
#include "cli.h"

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
