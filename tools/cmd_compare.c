/* cmd_compare.c — `lmg compare`: two classifier runs' reports on the same split side by side
 * (typically fine-tuned from a pretrained model versus trained from scratch). */
#include "cli.h"
#include "../train/classify.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lmg_cmd_compare(int argc, char **argv);

static const char *const CMD = "compare";

int lmg_cmd_compare(int argc, char **argv)
{
    const char *run[2] = {NULL, NULL}, *split = "test", *backend = NULL, *device = NULL;
    int rc = 0;
    cli_opt opts[] = {
        CLI_CHOICE("--split", "NAME", "train|val|test", &split, "train, val or test (default test)"),
        CLI_STR("--backend", NULL, "NAME", &backend, "opencl (default) or ref"),
        CLI_STR("--device", NULL, "P:D", &device, "OpenCL platform and device"),
        CLI_POS("classifier run A", &run[0], .flags = CLI_REQUIRED),
        CLI_POS("classifier run B", &run[1], .flags = CLI_REQUIRED),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = CMD,
        .usage = "lmg compare RUN_A RUN_B [--split test|val|train]",
        .about = "Evaluate two classifier runs (lmg finetune) on the same split of the same labelled\n"
                 "data and print their reports side by side: precision, recall and F1 per class,\n"
                 "accuracy, macro and weighted F1, and the majority-class baseline; the last column\n"
                 "is B minus A.",
        .opts = opts,
        .exit_status = "0 ok, 1 failure, 2 usage error",
    };
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    lmg_classifier *cl[2] = {NULL, NULL};
    lmg_cls_report r[2];
    memset(r, 0, sizeof r);
    for (int k = 0; k < 2 && !rc; k++) {
        lmg_status s = lmg_classifier_open(run[k], NULL, backend, device, 0, &cl[k]);
        if (s == LMG_OK) s = lmg_classifier_report(cl[k], split, 0, &r[k], NULL);
        if (s != LMG_OK) rc = cli_fail(CMD, s, "cannot evaluate '%s'", run[k]);
    }
    int K = rc ? 0 : r[0].K;
    if (!rc && (r[1].K != K || r[0].n != r[1].n))
        rc = cli_fail(CMD, LMG_OK, "'%s' has %d classes and %lld %s documents, '%s' %d and "
                      "%lld: not the same task", run[0], r[0].K, (long long)r[0].n, split, run[1],
                      r[1].K, (long long)r[1].n);
    for (int c = 0; c < K && !rc; c++)
        if (strcmp(lmg_classifier_class(cl[0], c), lmg_classifier_class(cl[1], c)) != 0)
            rc = cli_fail(CMD, LMG_OK, "class %d is '%s' in '%s' but '%s' in '%s'", c,
                          lmg_classifier_class(cl[0], c), run[0], lmg_classifier_class(cl[1], c),
                          run[1]);
    if (!rc) {
        int w = 14;
        for (int c = 0; c < K; c++) {
            int l = (int)strlen(lmg_classifier_class(cl[0], c));
            if (l > w) w = l;
        }
        printf("%s split, %lld documents\nA: %s\nB: %s\n\n", split, (long long)r[0].n, run[0], run[1]);
        printf("%*s  %-20s  %-20s  %7s %8s\n", w, "", "A: P     R     F1", "B: P     R     F1",
               "F1 B-A", "support");
        for (int c = 0; c < K; c++)
            printf("%*s  %.2f  %.2f  %.2f      %.2f  %.2f  %.2f      %+6.2f %8lld\n", w,
                   lmg_classifier_class(cl[0], c), r[0].precision[c], r[0].recall[c], r[0].f1[c],
                   r[1].precision[c], r[1].recall[c], r[1].f1[c], r[1].f1[c] - r[0].f1[c],
                   (long long)r[0].support[c]);
        printf("\n%*s  %-20.4f  %-20.4f  %+7.4f\n", w, "accuracy", r[0].accuracy, r[1].accuracy,
               r[1].accuracy - r[0].accuracy);
        printf("%*s  %-20.4f  %-20.4f  %+7.4f\n", w, "macro F1", r[0].macro_f1, r[1].macro_f1,
               r[1].macro_f1 - r[0].macro_f1);
        printf("%*s  %-20.4f  %-20.4f  %+7.4f\n", w, "weighted F1", r[0].weighted_f1,
               r[1].weighted_f1, r[1].weighted_f1 - r[0].weighted_f1);
        printf("\nmajority-class baseline (always '%s'): accuracy %.4f, macro-F1 %.4f\n",
               lmg_classifier_class(cl[0], r[0].majority), r[0].majority_accuracy,
               r[0].majority_macro_f1);
    }
    for (int k = 0; k < 2; k++) {
        lmg_cls_report_free(&r[k]);
        lmg_classifier_free(cl[k]);
    }
    return rc;
}
