/* cmd_train.c — `lmg train`: prepare tokenizer and shards when needed, train a model with a
 * progress bar (plain lines when not a terminal), then print a few sampled lines. */
#include "cli.h"
#include "model_flags.h"
#include "profile.h"
#include "../backends/opencl/opencl.h"
#include "../train/train.h"
#include "../train/parallel.h"
#include "../text/text.h"
#include "../train/classify.h"
#include "../text/labels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int lmg_cmd_train(int argc, char **argv);

static const char *const CMD = "train";

#define DEFAULT_STEPS 1000

static void help(FILE *f)
{
    fprintf(f,
            "usage: lmg train [options]\n"
            "       lmg train --resume DIR [--steps N] [--stop-after N] [--backend B] [--device P:D]\n"
            "       mpirun -np N lmg train --out DIR [options]   (data-parallel: N ranks, each\n"
            "                           with --batch rows of a global batch of N x --batch)\n"
            "\n"
            "Pretrain a model. With no options: train a byte-level BPE tokenizer on the fortunes\n"
            "corpus (%s), write train/val/test token shards, train\n"
            "a small GPT for %d steps on the default OpenCL device, validate as it goes, and\n"
            "print a few sampled lines. Everything goes to a run directory: train.pb (the\n"
            "training graph), checkpoint.safetensors, best.safetensors, metrics.jsonl, loss.svg\n"
            "and data/ (tokenizer and shards).\n"
            "\n" MODEL_FLAGS_HELP
            "  --graph FILE, --model-graph FILE\n"
            "                           train your own forward graph (.lmgt or .pb) instead of\n"
            "                           gpt or bert: it reads ids i32[B,T] and outputs logits\n"
            "                           f32[B,T,V] and/or hidden, and optionally a scalar loss\n"
            "                           (else next-token cross-entropy on its logits, or\n"
            "                           --objective-graph); sizes it fixes by number set\n"
            "                           --batch, --seq and --vocab (samples/models/)\n"
            "\n"
            "training options:\n"
            "  --steps N                training steps (default %d)\n"
            "  --lr LR                  peak learning rate (default 3e-3)\n"
            "  --min-lr LR              learning rate at the end of the cosine decay (default lr/10)\n"
            "  --warmup N               linear warm-up steps (default 5%% of the steps)\n"
            "  --weight-decay W         AdamW decay of matrices (default 0.1)\n"
            "  --clip C                 global gradient-norm limit, 0 = none (default 1)\n"
            "  --bucket-mb MB           with mpirun: reduce the gradients in buckets of MB MiB,\n"
            "                           each while backward goes on (default: a quarter of them)\n"
            "  --eval-every N           validate every N steps and at the end (default 100)\n"
            "  --eval-batches N         validation batches per evaluation, 0 = all (default 20)\n"
            "  --patience N             stop after N evaluations without improvement, 0 = never\n"
            "                           (default 5); best.safetensors keeps the best weights\n"
            "  --data-seed S            order of the training batches (default 1)\n"
            "\n"
            "data and run options:\n"
            "  --corpus PATH            text files or folders to train on (repeatable; default\n"
            "                           the fortunes corpus); a tokenizer of --vocab ids is\n"
            "                           trained and the shards written to DIR/data\n"
            "  --data DIR               use prepared data instead: DIR/tok.bpe and\n"
            "                           DIR/{train,val,test}.tok (lmg tokenizer, lmg data); or\n"
            "                           labelled data (lmg data prepare --labels, rows of --seq\n"
            "                           ids): the model gets a classification head and the\n"
            "                           objective may hold 'sup', e.g. mlm:1.0,sup:0.5\n"
            "  --out DIR                the run directory (default runs/<date>-<time>)\n"
            "  --resume DIR             continue the run in DIR from its checkpoint; the model,\n"
            "                           data and schedule come from the run; with --steps N\n"
            "                           beyond the run's own end, train on to step N (at the\n"
            "                           schedule's final learning rate)\n"
            "  --stop-after N           end after step N as if interrupted (resume continues)\n"
            "  --backend NAME           opencl (default) or ref\n"
            "  --device P:D             OpenCL platform and device (see lmg devices)\n"
            "  --samples N              sampled lines to print at the end, gpt only (default 3)\n"
            "  --profile N              after step 1 + N, print device time per op type and per\n"
            "                           node over those N steps (OpenCL event profiling) and\n"
            "                           write DIR/trace.json, a Chrome trace of the last one\n"
            "  -q, --quiet              no progress output\n"
            "  -h, --help               show this help\n"
            "\n"
            "Ctrl-C (SIGINT) or SIGTERM: the step under way finishes, a checkpoint is written\n"
            "and the command says how to resume; a second one ends it at once.\n"
            "\n"
            "exit status: 0 trained, 1 failure, 2 usage error, 130 interrupted (SIGINT),\n"
            "143 interrupted (SIGTERM)\n",
            LMG_CORPUS_DEFAULT_DIR, DEFAULT_STEPS, DEFAULT_STEPS);
}

/* ---- progress ---------------------------------------------------------------------- */

typedef struct progress {
    int tty, quiet;
    int64_t every;      /* plain mode: a line every this many steps */
    int bar_shown;
    long long profile;  /* --profile N: report N steps after the first */
    int64_t prof_from;  /* the step whose end starts the profile (0: not yet) */
    double prof_t0;
    const char *trace;
} progress;

static void fmt_time(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%lds", t);
}

/* --profile: the first step (program builds, first touches) is left out. */
static void profile_step(progress *p, const lmg_train_event *e)
{
    if (!p->prof_from) {
        p->prof_from = e->step;
        p->prof_t0 = e->elapsed_s;
        lmg_opencl_profile_reset();
    } else if (e->step - p->prof_from == p->profile) {
        if (p->bar_shown) fputc('\n', stderr), p->bar_shown = 0;
        fflush(stderr);
        cli_profile_report(CMD, p->profile, (e->elapsed_s - p->prof_t0) * 1e3 / (double)p->profile,
                           p->trace, 25);
        fflush(stdout);
    }
}

/* "  loss/mlm 2.1234  loss/nce 0.5" for the logged terms, into buf. */
static const char *terms_str(const lmg_train_event *e, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < e->n_terms && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "  %s %.4f", e->term_names[i],
                                e->term_values[i]);
    return buf;
}

static void on_event(const lmg_train_event *e, void *user)
{
    progress *p = user;
    if (p->profile && e->kind == LMG_TRAIN_STEP) profile_step(p, e);
    if (p->quiet) return;
    char eta[32], el[32], terms[512];
    terms_str(e, terms, sizeof terms);
    fmt_time(eta, sizeof eta, e->eta_s);
    fmt_time(el, sizeof el, e->elapsed_s);
    switch (e->kind) {
    case LMG_TRAIN_INFO:
        if (p->bar_shown) fputc('\n', stderr), p->bar_shown = 0;
        fprintf(stderr, "%s\n", e->message);
        break;
    case LMG_TRAIN_STEP:
        if (p->tty) {
            int width = 24, fill = e->steps > 0 ? (int)(width * e->step / e->steps) : 0;
            char bar[32];
            for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
            bar[width] = 0;
            fprintf(stderr, "\r\033[Kstep %lld/%lld [%s] loss %.4f%s  lr %.2e  %.0f tok/s  ETA %s",
                    (long long)e->step, (long long)e->steps, bar, e->loss, terms, e->lr,
                    e->tokens_per_s, eta);
            p->bar_shown = 1;
        } else if (e->step % p->every == 0 || e->step == 1 || e->step == e->steps) {
            fprintf(stderr, "step %lld/%lld  loss %.4f%s  lr %.2e  %.0f tok/s  elapsed %s  ETA %s\n",
                    (long long)e->step, (long long)e->steps, e->loss, terms, e->lr,
                    e->tokens_per_s, el, eta);
        }
        break;
    case LMG_TRAIN_EVAL:
        if (p->bar_shown) fputc('\n', stderr), p->bar_shown = 0;
        if (isfinite(e->val_f1))
            fprintf(stderr, "step %lld  val loss %.4f%s  accuracy %.4f  macro-F1 %.4f  %s\n",
                    (long long)e->step, e->val_loss, terms, e->val_accuracy, e->val_f1,
                    e->improved ? "(best so far, saved)" : "");
        else
            fprintf(stderr, "step %lld  val loss %.4f%s  %s\n", (long long)e->step, e->val_loss,
                    terms, e->improved ? "(best so far, saved)" : "");
        break;
    case LMG_TRAIN_DONE:
        if (p->bar_shown) fputc('\n', stderr), p->bar_shown = 0;
        fprintf(stderr, "%s after step %lld in %s\n", e->message, (long long)e->step, el);
        break;
    }
    fflush(stderr);
}

/* ---- samples ----------------------------------------------------------------------- */

static int print_samples(const char *run_dir, const char *backend, const char *device, int n,
                         uint64_t seed)
{
    lmg_sampler *s = NULL;
    lmg_bpe *tok = NULL;
    lmg_status st = lmg_sampler_open(run_dir, NULL, backend, device, &s);
    if (st != LMG_OK) return cli_fail(CMD, st, "cannot load the trained model to sample from it");
    char path[4096];
    snprintf(path, sizeof path, "%s/tok.bpe", lmg_sampler_data_dir(s));
    st = lmg_bpe_load(path, &tok);
    if (st != LMG_OK) {
        lmg_sampler_free(s);
        return cli_fail(CMD, st, "cannot load the tokenizer");
    }
    int T = lmg_sampler_config(s)->seq, cap = 2 * T + 2;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    printf("samples (temperature 0.8, top-k 40):\n");
    for (int k = 0; k < n && ids && st == LMG_OK; k++) {
        int len = 1;
        ids[0] = LMG_TOK_EOS; /* a document boundary: start of a new fortune */
        st = lmg_sampler_generate(s, ids, &len, 2 * T, 0.8, 40, seed + (uint64_t)k, LMG_TOK_EOS);
        char *text = NULL;
        size_t tl;
        if (st == LMG_OK) st = lmg_bpe_decode(tok, ids + 1, (size_t)(len - 1), 0, &text, &tl);
        if (st == LMG_OK) {
            printf("--- %d\n%s%s", k + 1, text, tl && text[tl - 1] == '\n' ? "" : "\n");
        }
        free(text);
    }
    free(ids);
    lmg_bpe_free(tok);
    lmg_sampler_free(s);
    return st == LMG_OK ? 0 : cli_fail(CMD, st, "sampling failed");
}

/* ---- the command ------------------------------------------------------------------- */

static int parse_pos_double(const char *flag, const char *v, double lo, double *out)
{
    if (cli_parse_double(v, out) != 0 || *out < lo)
        return cli_usage_error(CMD, "%s wants a number >= %g, not '%s'", flag, lo, v);
    return 0;
}

static int train(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (cli_is_help(argv[i])) {
            help(stdout);
            return 0;
        }
    model_flags m;
    int rc;
    if ((rc = model_flags_init(&m, CMD, argc, argv))) return rc;
    lmg_train_config c;
    lmg_train_config_default(&c);
    c.optim.lr = 3e-3;
    double min_lr = -1, lr = -1;
    long long steps = DEFAULT_STEPS, warmup = -1, eval_every = 100, eval_batches = 20,
              patience = 5, data_seed = 1, stop_after = 0, samples = 3, profile = 0;
    const char *out = NULL, *resume = NULL, *backend = NULL, *device = NULL, *data = NULL;
    const char *model_graph = NULL;
    const char **corpus = calloc((size_t)argc + 1, sizeof *corpus);
    size_t n_corpus = 0;
    int quiet = 0, training_flags = 0, steps_given = 0;
    if (!corpus) return cli_fail(CMD, LMG_ERR_NOMEM, "out of memory");
    struct {
        const char *name;
        long long *var, lo, hi;
    } ints[] = {
        {"--steps", &steps, 1, 1000000000},          {"--warmup", &warmup, 0, 1000000000},
        {"--eval-every", &eval_every, 0, 1000000000}, {"--eval-batches", &eval_batches, 0, 1000000000},
        {"--patience", &patience, 0, 1000000},        {"--data-seed", &data_seed, 0, INT64_MAX},
        {"--stop-after", &stop_after, 0, 1000000000}, {"--samples", &samples, 0, 1000},
        {"--profile", &profile, 1, 1000000},
    };
    for (int i = 1; i < argc && !rc; i++) {
        int missing = 0, done = 0;
        const char *v;
        if (model_flag(&m, CMD, argc, argv, &i, &rc)) continue;
        for (size_t k = 0; k < sizeof ints / sizeof *ints && !done && !missing; k++)
            if ((v = cli_flag(argc, argv, &i, ints[k].name, &missing))) {
                done = 1;
                if (cli_parse_int(v, ints[k].lo, ints[k].hi, ints[k].var) != 0)
                    rc = cli_usage_error(CMD, "%s wants an integer in %lld..%lld, not '%s'",
                                         ints[k].name, ints[k].lo, ints[k].hi, v);
                if (strcmp(ints[k].name, "--steps") == 0) steps_given = 1;
                else if (strcmp(ints[k].name, "--stop-after") != 0 &&
                         strcmp(ints[k].name, "--samples") != 0 &&
                         strcmp(ints[k].name, "--profile") != 0)
                    training_flags++;
            }
        if (done) continue;
        if (!missing && (v = cli_flag(argc, argv, &i, "--lr", &missing))) {
            rc = parse_pos_double("--lr", v, 1e-12, &lr);
            training_flags++;
        } else if (!missing && (v = cli_flag(argc, argv, &i, "--min-lr", &missing))) {
            rc = parse_pos_double("--min-lr", v, 0, &min_lr);
            training_flags++;
        } else if (!missing && (v = cli_flag(argc, argv, &i, "--weight-decay", &missing))) {
            rc = parse_pos_double("--weight-decay", v, 0, &c.optim.weight_decay);
            training_flags++;
        } else if (!missing && (v = cli_flag(argc, argv, &i, "--clip", &missing))) {
            rc = parse_pos_double("--clip", v, 0, &c.optim.clip);
            training_flags++;
        } else if (!missing && (v = cli_flag(argc, argv, &i, "--bucket-mb", &missing))) {
            rc = parse_pos_double("--bucket-mb", v, 1e-6, &c.optim.bucket_mb);
            training_flags++;
        } else if (!missing && (v = cli_flag(argc, argv, &i, "--out", &missing))) {
            out = v;
        } else if (!missing && (v = cli_flag(argc, argv, &i, "--resume", &missing))) {
            resume = v;
        } else if (!missing && (v = cli_flag(argc, argv, &i, "--backend", &missing))) {
            backend = v;
        } else if (!missing && (v = cli_flag(argc, argv, &i, "--device", &missing))) {
            device = v;
        } else if (!missing && (v = cli_flag(argc, argv, &i, "--data", &missing))) {
            data = v;
        } else if (!missing &&
                   ((v = cli_flag(argc, argv, &i, "--graph", &missing)) ||
                    (!missing && (v = cli_flag(argc, argv, &i, "--model-graph", &missing))))) {
            model_graph = v;
            m.any = 1;
        } else if (!missing && (v = cli_flag(argc, argv, &i, "--corpus", &missing))) {
            corpus[n_corpus++] = v;
        } else if (missing) {
            rc = cli_usage_error(CMD, "%s needs a value", argv[i]);
        } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else if (argv[i][0] == '-') {
            rc = cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        } else {
            rc = cli_usage_error(CMD, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!rc && resume && (m.any || training_flags > 0 ||
                          data || n_corpus || out))
        rc = cli_usage_error(CMD, "--resume continues a run as it was set up: only --steps, "
                                  "--stop-after, --samples, --backend and --device go with it");
    if (!rc && data && n_corpus) rc = cli_usage_error(CMD, "--data and --corpus exclude each other");
    if (!rc && model_graph && m.c.objective)
        rc = cli_usage_error(CMD, "--objective is for gpt and bert; a model graph trains its own "
                                  "loss, next-token prediction on its logits, or --objective-graph");
    lmg_graph *obj = NULL, *mg = NULL;
    if (!rc && model_graph) {
        lmg_status s = cli_load_graph(model_graph, &mg);
        if (s != LMG_OK) rc = cli_fail(CMD, s, "cannot load the model graph '%s'", model_graph);
        /* Sizes the graph fixes by number are the run's (the tokenizer is trained for them). */
        else lmg_model_graph_config(mg, &m.c);
    }
    if (!rc && !resume) rc = model_flags_finish(&m, CMD, &obj);
    if (rc) {
        free(corpus);
        lmg_graph_free(mg);
        return rc;
    }
    c.model_graph = mg;
    /* Labelled data gives the model a head, which an objective graph may read (class_logits,
     * labels): the check below builds the model as it will train. */
    if (!resume && data && lmg_labelled_data_dir(data)) {
        char lp[4300];
        char **names = NULL;
        int K = 0;
        snprintf(lp, sizeof lp, "%s/labels.tsv", data);
        if (lmg_label_map_load(lp, &names, &K, NULL) == LMG_OK) {
            m.c.n_classes = K;
            m.c.pad_id = LMG_TOK_PAD;
        }
        lmg_label_map_free(names, K);
        lmg_error_clear();
    }
    /* An objective or model graph that breaks the contract is reported before any data is
     * prepared: build the forward graph once (cheap next to the first training step). */
    if (!resume && (obj || mg)) {
        lmg_graph *fwd = NULL;
        lmg_status s = mg ? lmg_model_graph_build(mg, &m.c, obj, m.objective_weight, &fwd)
                          : lmg_model_build_with_objective(&m.c, obj, m.objective_weight, &fwd);
        lmg_graph_free(fwd);
        if (s != LMG_OK) {
            int bad_obj = obj && strstr(lmg_last_error(), "objective");
            rc = bad_obj ? cli_fail_objective(CMD, m.objective_graph, "cannot build the model")
                 : mg    ? cli_fail_objective(CMD, model_graph, "cannot build the model")
                         : cli_fail(CMD, s, "cannot build the model");
            free(corpus);
            lmg_graph_free(obj);
            lmg_graph_free(mg);
            return rc;
        }
    }

    /* A 'sup' term trains on labelled data only. */
    lmg_objective_term terms[LMG_MAX_OBJECTIVE_TERMS];
    int n_terms = 0, sup = 0;
    if (!resume && m.c.objective && lmg_objective_parse(m.c.objective, terms, &n_terms) == LMG_OK)
        for (int k = 0; k < n_terms; k++) sup |= strcmp(terms[k].name, "sup") == 0;
    if (sup && !data) {
        free(corpus);
        lmg_graph_free(obj);
        lmg_graph_free(mg);
        return cli_usage_error(CMD, "the objective '%s' has a 'sup' term: it needs labelled data "
                                    "(--data DIR from lmg data prepare --labels)", m.c.objective);
    }
    c.model = m.c;
    c.objective_graph = obj;
    c.objective_weight = m.objective_weight;
    c.optim.steps = steps;
    if (lr > 0) c.optim.lr = lr;
    c.optim.min_lr = min_lr >= 0 ? min_lr : c.optim.lr / 10;
    if (c.optim.min_lr > c.optim.lr) c.optim.min_lr = c.optim.lr;
    c.optim.warmup = warmup >= 0 ? warmup : steps / 20;
    c.eval_every = (int)eval_every;
    c.eval_batches = (int)eval_batches;
    c.patience = (int)patience;
    c.data_seed = (uint64_t)data_seed;
    c.stop_at = stop_after;
    c.backend = backend;
    c.device = device;
    /* Several ranks (mpirun): one device each, one run directory, one voice. */
    int ranks = lmg_dist_size(), rank = lmg_dist_rank();
    char rank_device[32];
    lmg_status ds = lmg_parallel_device(backend, device, rank_device, sizeof rank_device, &c.device);
    if (ds == LMG_OK && ranks > 1 && !out && !resume)
        ds = lmg_error(LMG_ERR_ARG, "with %d ranks give --out DIR (or --resume DIR): every rank "
                       "must name the same run directory", ranks);
    if (ds != LMG_OK) {
        free(corpus);
        lmg_graph_free(obj);
        lmg_graph_free(mg);
        rc = cli_fail(CMD, ds, "rank %d of %d", rank, ranks);
        fflush(stderr);
        lmg_dist_abort(rc); /* the others would wait for this rank at the first collective */
        return rc;
    }
    if (rank > 0) quiet = 1;
    progress p = {isatty(2), quiet, steps >= 100 ? steps / 50 : 1, 0, profile, 0, 0, NULL};
    if (profile) lmg_opencl_profile_enable(1);
    c.progress = on_event;
    c.user = &p;

    char run_dir[4096], data_dir[4200];
    if (resume) {
        snprintf(run_dir, sizeof run_dir, "%s", resume);
        c.resume_dir = run_dir;
        if (steps_given) c.extend_to = steps;
    } else {
        if (out) snprintf(run_dir, sizeof run_dir, "%s", out);
        else {
            time_t now = time(NULL);
            struct tm tm;
            localtime_r(&now, &tm);
            char stamp[64];
            strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
            mkdir("runs", 0755);
            snprintf(run_dir, sizeof run_dir, "runs/%s", stamp);
        }
        c.out_dir = run_dir;
        if (data) {
            snprintf(data_dir, sizeof data_dir, "%s", data);
        } else {
            snprintf(data_dir, sizeof data_dir, "%s/data", run_dir);
            /* Rank 0 writes the shards; the others wait for it (a failure aborts them). */
            if (rank > 0) {
                int ready = 0;
                lmg_status s = lmg_parallel_agree(&ready);
                if (s != LMG_OK) {
                    rc = cli_fail(CMD, s, "rank %d of %d", rank, ranks);
                    lmg_dist_abort(rc);
                    return rc;
                }
            }
            if (rank == 0 && !quiet)
                fprintf(stderr, "training a %d-id tokenizer on %s and writing shards to %s\n",
                        c.model.vocab, n_corpus ? "the given corpus" : LMG_CORPUS_DEFAULT_DIR,
                        data_dir);
            lmg_status s = rank > 0 ? LMG_OK
                                    : lmg_train_prepare_data(corpus, n_corpus, c.model.vocab,
                                                             (uint64_t)data_seed, data_dir);
            if (s == LMG_OK && rank == 0 && ranks > 1) {
                int ready = 1;
                s = lmg_parallel_agree(&ready);
            }
            if (s != LMG_OK) {
                free(corpus);
                lmg_graph_free(obj);
                lmg_graph_free(mg);
                rc = cli_fail(CMD, s, "cannot prepare the data");
                fflush(stderr);
                lmg_dist_abort(rc); /* the other ranks wait for the shards */
                return rc;
            }
        }
        c.data_dir = data_dir;
        /* Labelled data: the model gets a head over its classes and padding masks. */
        if (lmg_labelled_data_dir(data_dir)) {
            char lp[4300];
            char **names = NULL;
            int K = 0;
            snprintf(lp, sizeof lp, "%s/labels.tsv", data_dir);
            lmg_status s = lmg_label_map_load(lp, &names, &K, NULL);
            lmg_label_map_free(names, K);
            if (s != LMG_OK) {
                lmg_graph_free(obj);
                lmg_graph_free(mg);
                return cli_fail(CMD, s, "cannot read the label map of '%s'", data_dir);
            }
            c.model.n_classes = K;
            c.model.pad_id = LMG_TOK_PAD;
        } else if (sup) {
            lmg_graph_free(obj);
            lmg_graph_free(mg);
            return cli_fail(CMD, LMG_OK, "the objective '%s' has a 'sup' term but '%s' holds no "
                            "labelled data (lmg data prepare --labels)", c.model.objective, data_dir);
        }
        if (!quiet && mg)
            fprintf(stderr, "run %s: model graph %s, vocab %d, seq %d, batch %d, %lld steps on %s\n",
                    run_dir, model_graph, c.model.vocab, c.model.seq, c.model.batch, steps,
                    backend ? backend : "opencl");
        else if (!quiet)
            fprintf(stderr, "run %s: %s, %d layers, d_model %d, vocab %d, seq %d, batch %d, %lld "
                            "steps on %s\n",
                    run_dir, c.model.arch, c.model.layers, c.model.d_model, c.model.vocab,
                    c.model.seq, c.model.batch * (c.model.micro_batches > 1 ? c.model.micro_batches : 1),
                    steps, backend ? backend : "opencl");
    }
    if (!quiet && ranks > 1)
        fprintf(stderr, "data parallel: %d ranks of batch %d, global batch %d\n", ranks,
                c.model.batch, c.model.batch * ranks);
    free(corpus);
    char trace[4200];
    snprintf(trace, sizeof trace, "%s/trace.json", run_dir);
    p.trace = trace;
    /* Until here a signal ends the process at once: data preparation writes each file
     * atomically, so nothing is half-written. */
    cli_trap_stop_signals(CMD);
    lmg_train_result r;
    lmg_status s = lmg_train_run(&c, &r);
    lmg_graph_free(obj);
    lmg_graph_free(mg);
    if (s != LMG_OK && ranks > 1) {
        /* The others wait in a collective for this rank: end them all, saying who failed. */
        rc = cli_fail(CMD, s, "rank %d of %d: training failed; stopping every rank", rank, ranks);
        fflush(stderr);
        lmg_dist_abort(rc);
        return rc;
    }
    if (s != LMG_OK) return cli_fail(CMD, s, "training failed");
    if (r.interrupted) return cli_report_interrupt(CMD, run_dir, (long long)r.step);
    if (rank > 0) return 0;
    /* A weighted sum of objectives, a user objective or a classifier has no perplexity. */
    lmg_model_config mc;
    lmg_graph *tg = NULL;
    int plain = 0;
    if (lmg_run_open(run_dir, &tg, &mc, NULL, NULL) == LMG_OK)
        plain = mc.objective && !strchr(mc.objective, ',') && !strchr(mc.objective, ':') &&
                strcmp(mc.objective, "sup") != 0 && !lmg_graph_get_meta(tg, "model.objective_graph");
    lmg_error_clear();
    if (plain)
        printf("run %s: step %lld, best validation loss %.4f (perplexity %.1f) at step %lld; "
               "%.1f ms/step, %.0f tokens/s\n",
               run_dir, (long long)r.step, r.best_val_loss, exp(r.best_val_loss),
               (long long)r.best_step, r.ms_per_step, r.tokens_per_s);
    else
        printf("run %s: step %lld, best validation score %.4f at step %lld; %.1f ms/step, "
               "%.0f tokens/s\n",
               run_dir, (long long)r.step, r.best_val_loss, (long long)r.best_step, r.ms_per_step,
               r.tokens_per_s);
    if (samples > 0 && tg && mc.n_classes == 0 &&
        (strcmp(mc.arch, "gpt") == 0 || lmg_graph_get_meta(tg, "model.graph")) && r.step > 0) {
        lmg_graph_free(tg);
        fflush(stdout);
        return print_samples(run_dir, backend, device, (int)samples, (uint64_t)data_seed);
    }
    lmg_graph_free(tg);
    return 0;
}

/* Joins the ranks of an mpirun (one rank alone) around the command, leaving MPI after it. */
int lmg_cmd_train(int argc, char **argv)
{
    lmg_status s = lmg_dist_init();
    if (s != LMG_OK) return cli_fail(CMD, s, "cannot join the ranks of this run");
    int rc = train(argc, argv);
    lmg_dist_finalize();
    return rc;
}
