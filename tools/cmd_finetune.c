/* cmd_finetune.c — `lmg finetune`: labelled data tokenized with a pretrained run's tokenizer,
 * the run's model with a classification head, trained from its parameters (or from scratch,
 * the baseline) by the trainer: validation macro-F1, early stopping, checkpoints, resume. */
#include "cli.h"
#include "cli_labels.h"
#include "progress.h"
#include "../train/classify.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int lmg_cmd_finetune(int argc, char **argv);

static const char *const CMD = "finetune";

/* 1 when path exists and holds anything. */
static int nonempty_dir(const char *path, int *is_file)
{
    struct stat st;
    *is_file = 0;
    if (stat(path, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) {
        *is_file = 1;
        return 1;
    }
    DIR *d = opendir(path);
    if (!d) return 1;
    struct dirent *e;
    int any = 0;
    while (!any && (e = readdir(d))) any = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return any;
}

static int file_exists(const char *p) { return access(p, F_OK) == 0; }

/* Options that set a fine-tune up: --resume takes none of them. */
#define SETUP CLI_GROUP1

int lmg_cmd_finetune(int argc, char **argv)
{
    const char *pre = NULL, *task = NULL, *data = NULL, *out = NULL, *resume = NULL,
               *classes = NULL, *pool = NULL, *objective = "sup", *backend = NULL, *device = NULL,
               *stop_on = "f1";
    long long steps = 300, warmup = -1, eval_every = 50, patience = 5, data_seed = 1,
              stop_after = 0, batch = 0, min_docs = LMG_LABELS_DEFAULT_MIN_DOCS, split_seed = 1,
              seed = -1;
    double lr = 1e-3, wd = 0.01, dropout = -1, val = 0.1, test = 0.1;
    int scratch = 0, freeze = 0, quiet = 0, rc;
    char min_docs_help[96];
    snprintf(min_docs_help, sizeof min_docs_help, "leave out classes with fewer documents (default %d)",
             LMG_LABELS_DEFAULT_MIN_DOCS);
    cli_opt opts[] = {
        CLI_SECTION("data"),
        CLI_STR("--task", NULL, "T", &task,
                "topics (the fortunes files, one class per file), a folder\n"
                "of class files, FILE.tsv (label<TAB>text) or FILE.jsonl\n"
                "({\"text\": ..., \"label\": ...}); prepared into DIR/data", .flags = SETUP),
        CLI_STR("--data", NULL, "DIR", &data,
                "labelled data made by lmg data prepare --labels with the\n"
                "run's tokenizer", .flags = SETUP),
        CLI_STR("--classes", NULL, "A,B,...", &classes, "keep these classes only", .flags = SETUP),
        CLI_INT("--min-docs", "N", &min_docs, 0, 1000000000, min_docs_help, .flags = SETUP),
        CLI_DOUBLE("--val", "F", &val, 0, 1, "validation fraction, stratified by class (default 0.1)",
                   .flags = SETUP),
        CLI_DOUBLE("--test", "F", &test, 0, 1, "test fraction, stratified by class (default 0.1)",
                   .flags = SETUP),
        CLI_INT("--split-seed", "S", &split_seed, 0, INT64_MAX, "the split's seed (default 1)", .flags = SETUP),
        CLI_SECTION("model and training"),
        CLI_FLAG("--from-scratch", NULL, &scratch, "the same model from random weights (the baseline)",
                 .flags = SETUP),
        CLI_FLAG("--freeze", NULL, &freeze, "train the head alone (a linear probe)", .flags = SETUP),
        CLI_CHOICE("--pool", NULL, "cls|last|mean", &pool, "pooling of the head (default: bert cls, gpt last)",
                   .flags = SETUP),
        CLI_STR("--objective", NULL, "SPEC", &objective, "sup (default) or a mix such as mlm:1.0,sup:0.5",
                .flags = SETUP),
        CLI_INT("--batch", "N", &batch, 1, 1 << 20, "rows per step (default: the run's batch)", .flags = SETUP),
        CLI_DOUBLE("--dropout", "P", &dropout, 0, 0.999, "dropout (default: the run's)", .flags = SETUP),
        CLI_INT("--steps", "N", &steps, 1, 1000000000, "training steps (default 300)"),
        CLI_DOUBLE("--lr", "LR", &lr, 1e-12, 10, "peak learning rate (default 1e-3), cosine to lr/10",
                   .flags = SETUP),
        CLI_INT("--warmup", "N", &warmup, 0, 1000000000, "warm-up steps (default 5% of the steps)",
                .flags = SETUP),
        CLI_DOUBLE("--weight-decay", "W", &wd, 0, 10, "AdamW decay of matrices (default 0.01)", .flags = SETUP),
        CLI_INT("--eval-every", "N", &eval_every, 0, 1000000000, "validate every N steps (default 50)",
                .flags = SETUP),
        CLI_INT("--patience", "N", &patience, 0, 1000000,
                "stop after N evaluations without improvement (default 5)", .flags = SETUP),
        CLI_CHOICE("--stop-on", NULL, "f1|loss", &stop_on,
                   "what validation picks the best weights by (default f1)", .flags = SETUP),
        CLI_INT("--seed", "S", &seed, 0, INT64_MAX,
                "initialisation of new parameters and dropout (default:\nthe run's)", .flags = SETUP),
        CLI_INT("--data-seed", "S", &data_seed, 0, INT64_MAX, "order of the training batches (default 1)",
                .flags = SETUP),
        CLI_INT("--stop-after", "N", &stop_after, 0, 1000000000, "end after step N as if interrupted"),
        CLI_STR("--out", NULL, "DIR", &out, "the run directory to create", .flags = SETUP),
        CLI_STR("--resume", NULL, "DIR", &resume, "continue a fine-tune from its checkpoint"),
        CLI_STR("--backend", NULL, "NAME", &backend, "opencl (default) or ref"),
        CLI_STR("--device", NULL, "P:D", &device, "OpenCL platform and device"),
        CLI_FLAG("--quiet", "-q", &quiet, "no progress output"),
        CLI_POS("pretrained run", &pre),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = CMD,
        .usage = "lmg finetune PRETRAINED_RUN (--task topics|DIR|FILE | --data DIR) --out DIR [options]\n"
                 "lmg finetune --resume DIR [--steps N] [--stop-after N]",
        .about = "Fine-tune a pretrained run (lmg train) on a classification task: the labelled data is\n"
                 "tokenized with the run's tokenizer into rows of the run's sequence length, the run's\n"
                 "model gets a classification head (bert: the <cls> position; gpt: the last token),\n"
                 "its parameters are loaded by name, and the objective 'sup' (cross-entropy over the\n"
                 "classes) is trained with validation, early stopping on the validation macro-F1,\n"
                 "checkpoints, metrics.jsonl and loss.svg in DIR. Then: lmg eval DIR, lmg classify DIR.",
        .opts = opts,
        .epilog = "DIR must not exist or be empty: nothing in it is overwritten.\n"
                  "Ctrl-C (SIGINT) or SIGTERM: the step under way finishes, a checkpoint is written\n"
                  "and the command says how to resume; a second one ends it at once.",
        .exit_status = "0 trained, 1 failure, 2 usage error, 130 interrupted (SIGINT),\n"
                       "143 interrupted (SIGTERM)",
    };
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    int steps_given = cli_given(&spec, "--steps") > 0, setup_flags = cli_given_group(&spec, SETUP);
    cli_progress prog = {CMD, isatty(2), quiet, steps >= 100 ? steps / 20 : 1, 0, 0, 0, 0, NULL};
    lmg_train_config c;
    lmg_train_config_default(&c);
    c.backend = backend;
    c.device = device;
    c.progress = cli_progress_event;
    c.user = &prog;
    c.stop_at = stop_after;
    if (resume) {
        if (pre || setup_flags)
            return cli_usage_error(CMD, "--resume continues a fine-tune as it was set up: only "
                                        "--steps, --stop-after, --backend and --device go with it");
        c.resume_dir = resume;
        if (steps_given) c.extend_to = steps;
        lmg_train_result r;
        cli_trap_stop_signals(CMD);
        lmg_status s = lmg_train_run(&c, &r);
        if (s != LMG_OK) return cli_fail(CMD, s, "fine-tuning '%s' failed", resume);
        if (r.interrupted) return cli_report_interrupt(CMD, resume, (long long)r.step);
        printf("run %s: step %lld, best at step %lld\n", resume, (long long)r.step,
               (long long)r.best_step);
        return 0;
    }
    if (!pre) return cli_usage_error(CMD, "no pretrained run given");
    if (!out) return cli_usage_error(CMD, "--out DIR is required");
    if (!task == !data) return cli_usage_error(CMD, "give one of --task and --data");
    if (data && classes) return cli_usage_error(CMD, "--classes goes with --task");
    if (freeze && scratch)
        return cli_usage_error(CMD, "--freeze keeps pretrained weights: not with --from-scratch");
    lmg_objective_term terms[LMG_MAX_OBJECTIVE_TERMS];
    int n_terms;
    if (lmg_objective_parse(objective, terms, &n_terms) != LMG_OK)
        return cli_usage_error(CMD, "%s", lmg_last_error());
    int has_sup = 0;
    for (int k = 0; k < n_terms; k++) has_sup |= strcmp(terms[k].name, "sup") == 0;
    if (!has_sup) return cli_usage_error(CMD, "--objective '%s' has no 'sup' term", objective);
    int is_file;
    if (nonempty_dir(out, &is_file))
        return cli_fail(CMD, LMG_OK, "'%s' %s: nothing in it is overwritten; choose a new "
                        "folder", out, is_file ? "is a file" : "is not empty");

    /* The pretrained run: model, tokenizer, weights. */
    lmg_graph *tg = NULL;
    lmg_model_config mc;
    char *pre_data = NULL;
    lmg_status s = lmg_run_open(pre, &tg, &mc, &pre_data, NULL);
    if (s != LMG_OK) return cli_fail(CMD, s, "'%s' is not a pretrained run", pre);
    rc = 0;
    char ck[4200], tokp[4200], data_dir[4200];
    snprintf(ck, sizeof ck, "%s/best.safetensors", pre);
    if (!file_exists(ck)) snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", pre);
    snprintf(tokp, sizeof tokp, "%s/tok.bpe", pre_data);
    if (mc.n_classes > 0)
        rc = cli_fail(CMD, LMG_OK, "'%s' is already a classifier (%d classes), not a "
                      "pretrained model", pre, mc.n_classes);
    else if (!file_exists(ck))
        rc = cli_fail(CMD, LMG_OK, "'%s' has no best.safetensors or "
                      "checkpoint.safetensors: not a trained model", pre);
    lmg_bpe *tok = NULL;
    if (!rc && (s = lmg_bpe_load(tokp, &tok)) != LMG_OK) rc = cli_fail(CMD, s, "cannot load the run's tokenizer");
    if (!rc && lmg_bpe_vocab_size(tok) > mc.vocab)
        rc = cli_fail(CMD, LMG_OK, "%s has %d ids but the model of '%s' only %d", tokp,
                      lmg_bpe_vocab_size(tok), pre, mc.vocab);
    if (!rc && task) {
        snprintf(data_dir, sizeof data_dir, "%s/data", out);
        cli_labels_opts o = {task, classes, (int)min_docs, mc.seq, (uint64_t)split_seed, val,
                             test, quiet};
        rc = cli_labels_prepare(CMD, &o, tok, data_dir);
    } else if (!rc) {
        /* Prepared data must come from the same tokenizer. */
        snprintf(data_dir, sizeof data_dir, "%s", data);
        char p[4300];
        snprintf(p, sizeof p, "%s/tok.bpe", data);
        lmg_bpe *dt = NULL;
        s = lmg_bpe_load(p, &dt);
        if (s != LMG_OK) rc = cli_fail(CMD, s, "cannot load the data's tokenizer");
        else if (lmg_bpe_fingerprint(dt) != lmg_bpe_fingerprint(tok))
            rc = cli_fail(CMD, LMG_OK, "%s is not the tokenizer of '%s' (%s): prepare the "
                          "data with --tokenizer %s", p, pre, tokp, tokp);
        lmg_bpe_free(dt);
    }
    char **names = NULL;
    int K = 0;
    if (!rc) {
        char p[4300];
        snprintf(p, sizeof p, "%s/labels.tsv", data_dir);
        if ((s = lmg_label_map_load(p, &names, &K, NULL)) != LMG_OK)
            rc = cli_fail(CMD, s, "cannot read the label map");
    }
    if (!rc) {
        c.model = mc;
        c.model.n_classes = K;
        c.model.pad_id = LMG_TOK_PAD;
        c.model.pool = pool;
        c.model.objective = objective;
        c.model.micro_batches = 1;
        if (batch > 0) c.model.batch = (int)batch;
        if (dropout >= 0) c.model.dropout = dropout;
        if (seed >= 0) c.model.seed = (uint64_t)seed;
        c.init_from = scratch ? NULL : ck;
        c.freeze = freeze;
        c.stop_on_f1 = strcmp(stop_on, "f1") == 0;
        c.optim.lr = lr;
        c.optim.min_lr = lr / 10;
        c.optim.steps = steps;
        c.optim.warmup = warmup >= 0 ? warmup : steps / 20;
        c.optim.weight_decay = wd;
        c.eval_every = (int)eval_every;
        c.eval_batches = 0;
        c.patience = (int)patience;
        c.data_seed = (uint64_t)data_seed;
        c.data_dir = data_dir;
        c.out_dir = out;
        if (!quiet)
            fprintf(stderr, "fine-tuning %s (%s, %d layers, d_model %d) on %d classes%s%s, %lld "
                            "steps, batch %d\n", pre, mc.arch, mc.layers, mc.d_model, K,
                    scratch ? ", from scratch" : "", freeze ? ", body frozen" : "", steps,
                    c.model.batch);
        lmg_train_result r;
        cli_trap_stop_signals(CMD);
        s = lmg_train_run(&c, &r);
        if (s != LMG_OK) rc = cli_fail(CMD, s, "fine-tuning failed");
        else if (r.interrupted) rc = cli_report_interrupt(CMD, out, (long long)r.step);
        else if (c.stop_on_f1)
            printf("run %s: step %lld, best validation macro-F1 %.4f at step %lld; %.1f ms/step, "
                   "%.1f s\n", out, (long long)r.step, -r.best_val_loss, (long long)r.best_step,
                   r.ms_per_step, r.elapsed_s);
        else
            printf("run %s: step %lld, best validation loss %.4f at step %lld; %.1f ms/step, "
                   "%.1f s\n", out, (long long)r.step, r.best_val_loss, (long long)r.best_step,
                   r.ms_per_step, r.elapsed_s);
    }
    lmg_label_map_free(names, K);
    lmg_bpe_free(tok);
    free(pre_data);
    lmg_graph_free(tg);
    return rc;
}
