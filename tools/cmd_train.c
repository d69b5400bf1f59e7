/* cmd_train.c — `lmg train`: prepare tokenizer and shards when needed, train a model with a
 * progress bar (plain lines when not a terminal), then print a few sampled lines. */
#include "cli.h"
#include "model_flags.h"
#include "profile.h"
#include "progress.h"
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
#define STR_(x) #x
#define STR(x) STR_(x)

/* Options that set a run up: --resume takes none of them (the run has its own). */
#define SETUP MODEL_FLAGS_GROUP

/* What the command line asks for. */
typedef struct train_args {
    model_flags m;
    const char *model_graph, *out, *resume, *backend, *device, *data;
    cli_list corpus;
    long long steps, warmup, eval_every, eval_batches, patience, data_seed, stop_after, samples,
        profile;
    double lr, min_lr, weight_decay, clip, bucket_mb;
    int quiet, steps_given, no_recompute;
} train_args;

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

/* Phase 1: the options, checked against each other. Returns 1 to go on, else 0 with *rc. */
static int parse_options(train_args *a, int argc, char **argv, int *rc)
{
    lmg_train_config d;
    lmg_train_config_default(&d);
    memset(a, 0, sizeof *a);
    model_flags_init(&a->m);
    a->steps = DEFAULT_STEPS, a->warmup = -1, a->eval_every = 100, a->eval_batches = 20;
    a->patience = 5, a->data_seed = 1, a->samples = 3;
    a->lr = 3e-3, a->min_lr = -1, a->weight_decay = d.optim.weight_decay, a->clip = d.optim.clip;
    cli_opt opts[] = {
        MODEL_FLAGS_OPTS(&a->m),
        CLI_STR("--graph", "--model-graph", "FILE", &a->model_graph,
                "train your own forward graph (.lmgt or .pb) instead of\n"
                "gpt or bert: it reads ids i32[B,T] and outputs logits\n"
                "f32[B,T,V] and/or hidden, and optionally a scalar loss\n"
                "(else next-token cross-entropy on its logits, or\n"
                "--objective-graph); sizes it fixes by number set\n"
                "--batch, --seq and --vocab (samples/models/)", .flags = SETUP),
        CLI_SECTION("training options"),
        CLI_INT("--steps", "N", &a->steps, 1, 1000000000, "training steps (default " STR(DEFAULT_STEPS) ")"),
        CLI_DOUBLE("--lr", "LR", &a->lr, 1e-12, HUGE_VAL, "peak learning rate (default 3e-3)", .flags = SETUP),
        CLI_DOUBLE("--min-lr", "LR", &a->min_lr, 0, HUGE_VAL,
                   "learning rate at the end of the cosine decay (default lr/10)", .flags = SETUP),
        CLI_INT("--warmup", "N", &a->warmup, 0, 1000000000, "linear warm-up steps (default 5% of the steps)",
                .flags = SETUP),
        CLI_DOUBLE("--weight-decay", "W", &a->weight_decay, 0, HUGE_VAL,
                   "AdamW decay of matrices (default 0.1)", .flags = SETUP),
        CLI_DOUBLE("--clip", "C", &a->clip, 0, HUGE_VAL, "global gradient-norm limit, 0 = none (default 1)",
                   .flags = SETUP),
        CLI_FLAG("--no-recompute", NULL, &a->no_recompute,
                 "keep every activation the backward pass reads instead\n"
                 "of recomputing the cheap ones there (more memory)", .flags = SETUP),
        CLI_DOUBLE("--bucket-mb", "MB", &a->bucket_mb, 1e-6, HUGE_VAL,
                   "with mpirun: reduce the gradients in buckets of MB MiB,\n"
                   "each while backward goes on (default: a quarter of them)", .flags = SETUP),
        CLI_INT("--eval-every", "N", &a->eval_every, 0, 1000000000,
                "validate every N steps and at the end (default 100)", .flags = SETUP),
        CLI_INT("--eval-batches", "N", &a->eval_batches, 0, 1000000000,
                "validation batches per evaluation, 0 = all (default 20)", .flags = SETUP),
        CLI_INT("--patience", "N", &a->patience, 0, 1000000,
                "stop after N evaluations without improvement, 0 = never\n"
                "(default 5); best.safetensors keeps the best weights", .flags = SETUP),
        CLI_INT("--data-seed", "S", &a->data_seed, 0, INT64_MAX,
                "order of the training batches (default 1)", .flags = SETUP),
        CLI_SECTION("data and run options"),
        CLI_LIST("--corpus", "PATH", &a->corpus,
                 "text files or folders to train on (repeatable; default\n"
                 "the fortunes corpus); a tokenizer of --vocab ids is\n"
                 "trained and the shards written to DIR/data", .flags = SETUP),
        CLI_STR("--data", NULL, "DIR", &a->data,
                "use prepared data instead: DIR/tok.bpe and\n"
                "DIR/{train,val,test}.tok (lmg tokenizer, lmg data); or\n"
                "labelled data (lmg data prepare --labels, rows of --seq\n"
                "ids): the model gets a classification head and the\n"
                "objective may hold 'sup', e.g. mlm:1.0,sup:0.5", .flags = SETUP),
        CLI_STR("--out", NULL, "DIR", &a->out, "the run directory (default runs/<date>-<time>)",
                .flags = SETUP),
        CLI_STR("--resume", NULL, "DIR", &a->resume,
                "continue the run in DIR from its checkpoint; the model,\n"
                "data and schedule come from the run; with --steps N\n"
                "beyond the run's own end, train on to step N (at the\n"
                "schedule's final learning rate)"),
        CLI_INT("--stop-after", "N", &a->stop_after, 0, 1000000000,
                "end after step N as if interrupted (resume continues)"),
        CLI_STR("--backend", NULL, "NAME", &a->backend, "opencl (default) or ref"),
        CLI_STR("--device", NULL, "P:D", &a->device, "OpenCL platform and device (see lmg devices)"),
        CLI_INT("--samples", "N", &a->samples, 0, 1000,
                "sampled lines to print at the end, gpt only (default 3)"),
        CLI_INT("--profile", "N", &a->profile, 1, 1000000,
                "after step 1 + N, print device time per op type and per\n"
                "node over those N steps (OpenCL event profiling) and\n"
                "write DIR/trace.json, a Chrome trace of the last one"),
        CLI_FLAG("--quiet", "-q", &a->quiet, "no progress output"),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = CMD,
        .usage = "lmg train [options]\n"
                 "lmg train --resume DIR [--steps N] [--stop-after N] [--backend B] [--device P:D]\n"
                 "mpirun -np N lmg train --out DIR [options]   (data-parallel: N ranks, each\n"
                 "                    with --batch rows of a global batch of N x --batch)",
        .about = "Pretrain a model. With no options: train a byte-level BPE tokenizer on the fortunes\n"
                 "corpus (" LMG_CORPUS_DEFAULT_DIR "), write train/val/test token shards, train\n"
                 "a small GPT for " STR(DEFAULT_STEPS) " steps on the default OpenCL device, validate as it goes, and\n"
                 "print a few sampled lines. Everything goes to a run directory: train.pb (the\n"
                 "training graph), checkpoint.safetensors, best.safetensors, metrics.jsonl, loss.svg\n"
                 "and data/ (tokenizer and shards).",
        .opts = opts,
        .epilog = "Ctrl-C (SIGINT) or SIGTERM: the step under way finishes, a checkpoint is written\n"
                  "and the command says how to resume; a second one ends it at once.",
        .exit_status = "0 trained, 1 failure, 2 usage error, 130 interrupted (SIGINT),\n"
                       "143 interrupted (SIGTERM)",
    };
    if (!cli_parse(&spec, argc, argv, rc)) return 0;
    a->steps_given = cli_given(&spec, "--steps") > 0;
    if (a->resume && cli_given_group(&spec, SETUP))
        *rc = cli_usage_error(CMD, "--resume continues a run as it was set up: only --steps, "
                                   "--stop-after, --samples, --backend and --device go with it");
    else if ((*rc = cli_exclusive(&spec, "--data", "--corpus", NULL)) != 0)
        ;
    else if (a->model_graph && a->m.objective)
        *rc = cli_usage_error(CMD, "--objective is for gpt and bert; a model graph trains its own "
                                   "loss, next-token prediction on its logits, or --objective-graph");
    return *rc == 0;
}

/* What the phases after the options share. */
typedef struct train_run {
    lmg_train_config c;
    lmg_graph *obj, *mg; /* the objective and model graphs, NULL when none */
    int sup;             /* the objective has a 'sup' term: labelled data only */
    int rank, ranks;
    cli_progress p;
    char rank_device[32]; /* c.device of this rank */
    char run_dir[4096], data_dir[4200], trace[4200];
} train_run;

static void run_free(train_run *r)
{
    lmg_graph_free(r->obj);
    lmg_graph_free(r->mg);
    r->obj = r->mg = NULL;
}

/* The classes of labelled data in dir: K, or 0 when it holds none or the map is unreadable. */
static int data_classes(const char *dir, lmg_status *s)
{
    char lp[4300];
    char **names = NULL;
    int K = 0;
    snprintf(lp, sizeof lp, "%s/labels.tsv", dir);
    *s = lmg_label_map_load(lp, &names, &K, NULL);
    lmg_label_map_free(names, K);
    return *s == LMG_OK ? K : 0;
}

/* Phase 2: the model config, model graph and objective, with everything that can be checked
 * before data is prepared: an objective or model graph that breaks the contract is reported
 * now, by building the forward graph once (cheap next to the first training step). */
static int resolve_model(train_args *a, train_run *r)
{
    model_flags_apply(&a->m);
    if (a->model_graph) {
        lmg_status s = cli_load_graph(a->model_graph, &r->mg);
        if (s != LMG_OK) return cli_fail(CMD, s, "cannot load the model graph '%s'", a->model_graph);
        /* Sizes the graph fixes by number are the run's (the tokenizer is trained for them). */
        lmg_model_graph_config(r->mg, &a->m.c);
    }
    if (a->resume) return 0;
    int rc = model_flags_finish(&a->m, CMD, &r->obj);
    if (rc) return rc;
    /* Labelled data gives the model a head, which an objective graph may read (class_logits,
     * labels): the check below builds the model as it will train. */
    if (a->data && lmg_labelled_data_dir(a->data)) {
        lmg_status s;
        int K = data_classes(a->data, &s);
        if (K) {
            a->m.c.n_classes = K;
            a->m.c.pad_id = LMG_TOK_PAD;
        }
        lmg_error_clear();
    }
    if (r->obj || r->mg) {
        lmg_graph *fwd = NULL;
        lmg_status s = r->mg ? lmg_model_graph_build(r->mg, &a->m.c, r->obj, a->m.objective_weight, &fwd)
                             : lmg_model_build_with_objective(&a->m.c, r->obj, a->m.objective_weight, &fwd);
        lmg_graph_free(fwd);
        if (s != LMG_OK) {
            if (r->obj && strstr(lmg_last_error(), "objective"))
                return cli_fail_objective(CMD, a->m.objective_graph, "cannot build the model");
            if (r->mg) return cli_fail_objective(CMD, a->model_graph, "cannot build the model");
            return cli_fail(CMD, s, "cannot build the model");
        }
    }
    lmg_objective_term terms[LMG_MAX_OBJECTIVE_TERMS];
    int n_terms = 0;
    if (a->m.c.objective && lmg_objective_parse(a->m.c.objective, terms, &n_terms) == LMG_OK)
        for (int k = 0; k < n_terms; k++) r->sup |= strcmp(terms[k].name, "sup") == 0;
    if (r->sup && !a->data)
        return cli_usage_error(CMD, "the objective '%s' has a 'sup' term: it needs labelled data "
                                    "(--data DIR from lmg data prepare --labels)", a->m.c.objective);
    return 0;
}

/* Phase 3a: the trainer's config from the options, and this rank's device. Several ranks
 * (mpirun): one device each, one run directory, one voice. */
static int configure(train_args *a, train_run *r)
{
    lmg_train_config *c = &r->c;
    lmg_train_config_default(c);
    c->model_graph = r->mg;
    c->model = a->m.c;
    c->objective_graph = r->obj;
    c->objective_weight = a->m.objective_weight;
    c->optim.steps = a->steps;
    c->optim.lr = a->lr;
    c->optim.min_lr = a->min_lr >= 0 ? a->min_lr : c->optim.lr / 10;
    if (c->optim.min_lr > c->optim.lr) c->optim.min_lr = c->optim.lr;
    c->optim.warmup = a->warmup >= 0 ? a->warmup : a->steps / 20;
    c->optim.weight_decay = a->weight_decay;
    c->optim.clip = a->clip;
    c->optim.no_recompute = a->no_recompute;
    c->optim.bucket_mb = a->bucket_mb;
    c->eval_every = (int)a->eval_every;
    c->eval_batches = (int)a->eval_batches;
    c->patience = (int)a->patience;
    c->data_seed = (uint64_t)a->data_seed;
    c->stop_at = a->stop_after;
    c->backend = a->backend;
    c->device = a->device;
    r->ranks = lmg_dist_size();
    r->rank = lmg_dist_rank();
    lmg_status ds = lmg_parallel_device(a->backend, a->device, r->rank_device, sizeof r->rank_device,
                                        &c->device);
    if (ds == LMG_OK && r->ranks > 1 && !a->out && !a->resume)
        ds = lmg_error(LMG_ERR_ARG, "with %d ranks give --out DIR (or --resume DIR): every rank "
                       "must name the same run directory", r->ranks);
    if (ds != LMG_OK) {
        int rc = cli_fail(CMD, ds, "rank %d of %d", r->rank, r->ranks);
        fflush(stderr);
        lmg_dist_abort(rc); /* the others would wait for this rank at the first collective */
        return rc;
    }
    if (r->rank > 0) a->quiet = 1;
    cli_progress p = {CMD, isatty(2), a->quiet, a->steps >= 100 ? a->steps / 50 : 1, 0, a->profile, 0, 0, NULL};
    r->p = p;
    if (a->profile) lmg_opencl_profile_enable(1);
    c->progress = cli_progress_event;
    c->user = &r->p;
    return 0;
}

/* Rank 0 trains the tokenizer and writes the shards into data_dir; the others wait for it
 * (a failure aborts them all). */
static int prepare_data(const train_args *a, train_run *r)
{
    lmg_status s = LMG_OK;
    if (r->rank > 0) {
        int ready = 0;
        s = lmg_parallel_agree(&ready);
        if (s != LMG_OK) {
            int rc = cli_fail(CMD, s, "rank %d of %d", r->rank, r->ranks);
            lmg_dist_abort(rc);
            return rc;
        }
        return 0;
    }
    if (!a->quiet)
        fprintf(stderr, "training a %d-id tokenizer on %s and writing shards to %s\n",
                r->c.model.vocab, a->corpus.n ? "the given corpus" : LMG_CORPUS_DEFAULT_DIR,
                r->data_dir);
    s = lmg_train_prepare_data(a->corpus.v, (size_t)a->corpus.n, r->c.model.vocab,
                               (uint64_t)a->data_seed, r->data_dir);
    if (s == LMG_OK && r->ranks > 1) {
        int ready = 1;
        s = lmg_parallel_agree(&ready);
    }
    if (s != LMG_OK) {
        int rc = cli_fail(CMD, s, "cannot prepare the data");
        fflush(stderr);
        lmg_dist_abort(rc); /* the other ranks wait for the shards */
        return rc;
    }
    return 0;
}

/* Phase 3b: the run directory, resumed or new (with its data, prepared when not given). */
static int setup_run(const train_args *a, train_run *r)
{
    lmg_train_config *c = &r->c;
    if (a->resume) {
        snprintf(r->run_dir, sizeof r->run_dir, "%s", a->resume);
        c->resume_dir = r->run_dir;
        if (a->steps_given) c->extend_to = a->steps;
        return 0;
    }
    if (a->out) {
        snprintf(r->run_dir, sizeof r->run_dir, "%s", a->out);
    } else {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        char stamp[64];
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
        mkdir("runs", 0755);
        snprintf(r->run_dir, sizeof r->run_dir, "runs/%s", stamp);
    }
    c->out_dir = r->run_dir;
    if (a->data) {
        snprintf(r->data_dir, sizeof r->data_dir, "%s", a->data);
    } else {
        snprintf(r->data_dir, sizeof r->data_dir, "%s/data", r->run_dir);
        int rc = prepare_data(a, r);
        if (rc) return rc;
    }
    c->data_dir = r->data_dir;
    /* Labelled data: the model gets a head over its classes and padding masks. */
    if (lmg_labelled_data_dir(r->data_dir)) {
        lmg_status s;
        int K = data_classes(r->data_dir, &s);
        if (s != LMG_OK) return cli_fail(CMD, s, "cannot read the label map of '%s'", r->data_dir);
        c->model.n_classes = K;
        c->model.pad_id = LMG_TOK_PAD;
    } else if (r->sup) {
        return cli_fail(CMD, LMG_OK, "the objective '%s' has a 'sup' term but '%s' holds no "
                        "labelled data (lmg data prepare --labels)", c->model.objective, r->data_dir);
    }
    const char *be = a->backend ? a->backend : "opencl";
    if (!a->quiet && r->mg)
        fprintf(stderr, "run %s: model graph %s, vocab %d, seq %d, batch %d, %lld steps on %s\n",
                r->run_dir, a->model_graph, c->model.vocab, c->model.seq, c->model.batch, a->steps, be);
    else if (!a->quiet)
        fprintf(stderr, "run %s: %s, %d layers, d_model %d, vocab %d, seq %d, batch %d, %lld "
                        "steps on %s\n",
                r->run_dir, c->model.arch, c->model.layers, c->model.d_model, c->model.vocab,
                c->model.seq, c->model.batch * (c->model.micro_batches > 1 ? c->model.micro_batches : 1),
                a->steps, be);
    return 0;
}

/* Phase 4: train, stoppable by a signal from here on (data preparation writes each file
 * atomically, so until now a signal ends the process at once with nothing half-written). */
static int run_training(const train_args *a, train_run *r, lmg_train_result *res)
{
    if (!a->quiet && r->ranks > 1)
        fprintf(stderr, "data parallel: %d ranks of batch %d, global batch %d\n", r->ranks,
                r->c.model.batch, r->c.model.batch * r->ranks);
    snprintf(r->trace, sizeof r->trace, "%s/trace.json", r->run_dir);
    r->p.trace = r->trace;
    cli_trap_stop_signals(CMD);
    lmg_status s = lmg_train_run(&r->c, res);
    if (s != LMG_OK && r->ranks > 1) {
        /* The others wait in a collective for this rank: end them all, saying who failed. */
        int rc = cli_fail(CMD, s, "rank %d of %d: training failed; stopping every rank", r->rank,
                          r->ranks);
        fflush(stderr);
        lmg_dist_abort(rc);
        return rc;
    }
    if (s != LMG_OK) return cli_fail(CMD, s, "training failed");
    if (res->interrupted) return cli_report_interrupt(CMD, r->run_dir, (long long)res->step);
    return 0;
}

/* Phase 5: the result line (perplexity where the objective has one) and samples. */
static int report(const train_args *a, const char *run_dir, const lmg_train_result *r)
{
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
               run_dir, (long long)r->step, r->best_val_loss, exp(r->best_val_loss),
               (long long)r->best_step, r->ms_per_step, r->tokens_per_s);
    else
        printf("run %s: step %lld, best validation score %.4f at step %lld; %.1f ms/step, "
               "%.0f tokens/s\n",
               run_dir, (long long)r->step, r->best_val_loss, (long long)r->best_step, r->ms_per_step,
               r->tokens_per_s);
    int sample = a->samples > 0 && tg && mc.n_classes == 0 &&
                 (strcmp(mc.arch, "gpt") == 0 || lmg_graph_get_meta(tg, "model.graph")) && r->step > 0;
    lmg_graph_free(tg);
    if (!sample) return 0;
    fflush(stdout);
    return print_samples(run_dir, a->backend, a->device, (int)a->samples, (uint64_t)a->data_seed);
}

static int train(int argc, char **argv)
{
    train_args a;
    train_run r;
    lmg_train_result res;
    int rc;
    memset(&r, 0, sizeof r);
    if (parse_options(&a, argc, argv, &rc) && !(rc = resolve_model(&a, &r)) &&
        !(rc = configure(&a, &r)) && !(rc = setup_run(&a, &r)) &&
        !(rc = run_training(&a, &r, &res)) && r.rank == 0)
        rc = report(&a, r.run_dir, &res);
    run_free(&r);
    cli_list_free(&a.corpus);
    return rc;
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
