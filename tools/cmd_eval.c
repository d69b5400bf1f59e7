/* cmd_eval.c — `lmg eval`: the loss and perplexity (GPT) or masked-token accuracy (BERT) of a
 * trained run on one data split. */
#include "cli.h"
#include "cli_labels.h"
#include "../train/classify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lmg_cmd_eval(int argc, char **argv);

static const char *const CMD = "eval";

static int eval_classifier(const char *dir, const char *ck, const char *split, const char *backend,
                           const char *device, int batches)
{
    lmg_classifier *cl = NULL;
    lmg_status s = lmg_classifier_open(dir, ck, backend, device, 0, &cl);
    if (s != LMG_OK) return cli_fail(CMD, s, "cannot load the classifier '%s'", dir);
    lmg_cls_report r;
    s = lmg_classifier_report(cl, split, batches, &r, NULL);
    if (s != LMG_OK) {
        lmg_classifier_free(cl);
        return cli_fail(CMD, s, "cannot evaluate '%s'", dir);
    }
    int K = lmg_classifier_n_classes(cl);
    const char **names = malloc((size_t)K * sizeof *names);
    if (!names) {
        lmg_cls_report_free(&r);
        lmg_classifier_free(cl);
        return cli_fail(CMD, LMG_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k < K; k++) names[k] = lmg_classifier_class(cl, k);
    printf("%s split of %s: %lld documents, %d classes\n\n", split, dir, (long long)r.n, K);
    cli_print_report(&r, names);
    char p1[4200], p2[4200], title[4400];
    snprintf(p1, sizeof p1, "%s/report.json", dir);
    snprintf(p2, sizeof p2, "%s/confusion.svg", dir);
    snprintf(title, sizeof title, "%s: confusion matrix on %s", dir, split);
    s = lmg_cls_report_save_json(&r, names, split, p1);
    if (s == LMG_OK) s = lmg_cls_confusion_svg(&r, names, title, p2);
    if (s == LMG_OK) printf("\nwrote %s and %s\n", p1, p2);
    free(names);
    lmg_cls_report_free(&r);
    lmg_classifier_free(cl);
    return s == LMG_OK ? 0 : cli_fail(CMD, s, "cannot write the report");
}

int lmg_cmd_eval(int argc, char **argv)
{
    const char *dir = NULL, *split = "test", *ck = NULL, *backend = NULL, *device = NULL;
    long long batches = 0;
    int rc;
    cli_opt opts[] = {
        CLI_CHOICE("--split", "NAME", "train|val|test", &split, "train, val or test (default test)"),
        CLI_INT("--batches", "N", &batches, 0, 1000000000,
                "evaluate the first N batches only, 0 = all (default 0)"),
        CLI_RUN_OPTS(&ck, &backend, &device, &dir),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = CMD,
        .usage = "lmg eval RUN_DIR [--split train|val|test] [--batches N] [--checkpoint FILE]",
        .about = "Evaluate a run trained by lmg train on one split of its data: the mean loss per\n"
                 "predicted token and its perplexity; for an mlm model also the share of masked\n"
                 "positions whose most likely token is the original one, for a clm model the share of\n"
                 "positions whose most likely next token is the right one.\n"
                 "A classifier (lmg finetune) gets a classification report instead: precision, recall,\n"
                 "F1-score and support per class, accuracy, macro and weighted averages, the\n"
                 "majority-class baseline and the confusion matrix; the same figures go to\n"
                 "RUN_DIR/report.json and the matrix to RUN_DIR/confusion.svg.",
        .opts = opts,
        .exit_status = "0 ok, 1 failure, 2 usage error",
    };
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    {
        lmg_graph *g = NULL;
        lmg_model_config m;
        int is_cls = lmg_run_open(dir, &g, &m, NULL, NULL) == LMG_OK && m.n_classes > 0;
        lmg_graph_free(g);
        lmg_error_clear();
        if (is_cls) return eval_classifier(dir, ck, split, backend, device, (int)batches);
    }
    lmg_eval_result r;
    lmg_status s = lmg_eval_run(dir, ck, split, backend, device, (int)batches, &r);
    if (s != LMG_OK) return cli_fail(CMD, s, "cannot evaluate '%s'", dir);
    /* A weighted sum of objectives, or a user objective, has no perplexity to speak of. */
    lmg_graph *tg = NULL;
    lmg_model_config mc;
    int plain = 0;
    if (lmg_run_open(dir, &tg, &mc, NULL, NULL) == LMG_OK)
        plain = mc.objective && !strchr(mc.objective, ',') && !strchr(mc.objective, ':') &&
                strcmp(mc.objective, "none") != 0 && !lmg_graph_get_meta(tg, "model.objective_graph");
    lmg_graph_free(tg);
    if (plain)
        printf("%s: loss %.4f nats/token, perplexity %.2f over %lld positions (%lld batches)\n",
               split, r.loss, r.perplexity, (long long)r.tokens, (long long)r.batches);
    else
        printf("%s: loss %.4f (the objective's weighted sum) over %lld positions (%lld batches)\n",
               split, r.loss, (long long)r.tokens, (long long)r.batches);
    if (r.mlm_accuracy >= 0)
        printf("%s: masked-token accuracy %.4f\n", split, r.mlm_accuracy);
    if (r.next_token_accuracy >= 0)
        printf("%s: next-token accuracy %.4f\n", split, r.next_token_accuracy);
    return 0;
}
