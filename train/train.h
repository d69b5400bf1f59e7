/* train.h — the training step as a graph (autodiff, global-norm clipping, AdamW), the
 * learning-rate schedule, and the trainer: data, steps, evaluation, early stopping,
 * checkpoints, metrics and the loss plot of a run directory. Nothing here prints. */
#ifndef LMG_TRAIN_H
#define LMG_TRAIN_H

#include "../graph/graph.h"
#include "../models/models.h"

/* ---- optimizer (train/optimizer.c) ------------------------------------------------- */
typedef struct lmg_optim_config {
    double lr;            /* peak learning rate */
    double min_lr;        /* the cosine decay ends here (absolute) */
    int64_t warmup;       /* linear warm-up steps: lr * step / warmup for step <= warmup */
    int64_t steps;        /* the schedule's length: cosine from lr to min_lr over
                             (warmup, steps]; min_lr after */
    double beta1, beta2, eps;
    double weight_decay;  /* for rank >= 2 parameters; biases and LayerNorm get 0 */
    double clip;          /* global gradient norm limit; <= 0: no clipping */
    int ranks;            /* data-parallel ranks (backends/dist.h); > 1 averages every
                             gradient over them with an AllReduce node before clipping
                             (0 and 1: one rank) */
} lmg_optim_config;

/* lr 1e-3, min_lr 1e-4, warmup 50, steps 1000, betas 0.9/0.95, eps 1e-8, wd 0.1, clip 1,
 * one rank. */
void lmg_optim_config_default(lmg_optim_config *o);
/* The learning rate of 1-based step `step`. */
double lmg_lr_at(const lmg_optim_config *o, int64_t step);

/* Turn a forward graph with scalar output `loss` into the training step, in place:
 * lmg_autodiff (outputs "grad/<p>"), the global gradient norm (output "grad_norm"),
 * gscale = clip / max(norm, clip), and one AdamW node per parameter p with state
 * "adam.m/<p>", "adam.v/<p>" (zero, non-trainable initializers). New inputs: "lr" f32[]
 * (fed per step from lmg_lr_at) and "step" i32[] (1-based). Hyper-parameters are recorded
 * in the metadata ("optim.*").
 * Gradient accumulation: build the forward graph with micro_batches M (models.h): the M
 * micro-batches' gradients add up inside one graph, and the nodes are then ordered
 * micro-batch by micro-batch (forward m, backward m, then m+1) so the memory planner can
 * reuse one micro-batch's activations for the next.
 * Data parallelism (o->ranks > 1): the rank's own gradient becomes "grad.local/<p>" and
 * "grad/<p>" its mean over the ranks (node "allreduce/<p>"), which clipping and AdamW read,
 * so every rank applies the same update; "optim.ranks" records the number. */
lmg_status lmg_train_graph_build(lmg_graph *g, const char *loss, const lmg_optim_config *o);

/* ---- trainer (train/train.c) ------------------------------------------------------- */
typedef enum {
    LMG_TRAIN_INFO = 0,     /* message: a phase begins ("building the training graph") */
    LMG_TRAIN_STEP = 1,     /* a training step finished */
    LMG_TRAIN_EVAL = 2,     /* a validation pass finished */
    LMG_TRAIN_DONE = 3,     /* the run ended (steps done, early stop or stop_at) */
} lmg_train_event_kind;

typedef struct lmg_train_event {
    lmg_train_event_kind kind;
    const char *message;    /* INFO, DONE: a short line */
    int64_t step, steps;    /* this step (1-based) of the total */
    double loss, lr, grad_norm;
    double tokens_per_s;    /* over the steps of this process so far */
    double elapsed_s;       /* wall time of this run, resumed runs included */
    double eta_s;           /* estimate for the remaining steps */
    double val_loss, best_val_loss; /* EVAL */
    int64_t best_step;
    int improved, bad_evals;
    int early_stop;         /* DONE: 1 when patience ran out */
    double val_accuracy, val_f1; /* EVAL of a classifier: accuracy and macro-F1, else NaN */
    /* STEP, EVAL: the graph's logged loss terms (outputs named "loss/..."), this step's or
     * the evaluation's mean */
    int n_terms;
    const char *const *term_names;
    const double *term_values;
} lmg_train_event;

typedef void (*lmg_train_progress_fn)(const lmg_train_event *e, void *user);

typedef struct lmg_train_config {
    lmg_model_config model;
    lmg_optim_config optim;   /* optim.steps is the run's number of steps */
    const lmg_graph *objective_graph; /* NULL: the model's built-in objective */
    double objective_weight;  /* its weight in "loss" (1 when 0) */
    const char *init_from;    /* fine-tuning: initial parameters, by name, from this checkpoint
                                 (train/classify.h); parameters it lacks keep their init */
    int freeze;               /* with init_from: the loaded parameters stay fixed */
    int stop_on_f1;           /* classifiers: the best checkpoint and early stopping follow
                                 the validation macro-F1 instead of the validation loss */
    const char *data_dir;     /* tok.bpe + train.tok, val.tok, test.tok (lmg data prepare), or
                                 labelled: train.lab, val.lab, labels.tsv (a classifier) */
    const char *out_dir;      /* the run directory (created) */
    const char *resume_dir;   /* continue this run (model, optim, data come from it) */
    const char *backend;      /* "opencl", "ref"; NULL = opencl */
    const char *device;       /* backend device choice; NULL = default */
    int eval_every;           /* validate every this many steps (and at the end); 0 = end only */
    int eval_batches;         /* batches of the val split per evaluation; 0 = all */
    int patience;             /* stop after this many evaluations without improvement; 0 = never */
    uint64_t data_seed;       /* the batch order: batch of step s = f(data_seed, s) */
    int64_t stop_at;          /* end after this step as if interrupted (checkpoint kept); 0 = no */
    int64_t extend_to;        /* resume: train on to this step when it lies beyond the run's
                                 own end (the schedule stays at min_lr after its end, and a
                                 run stopped early gets its patience back); 0 = no */
    lmg_train_progress_fn progress;
    void *user;
    /* A user's forward graph as the model (lmg_model_graph_build), NULL: the built-in
     * model.arch. Saved as model.pb in the run directory, so resume and eval use it. */
    const lmg_graph *model_graph;
} lmg_train_config;

/* Defaults: the default GPT (models.h), lmg_optim_config_default, eval_every 100,
 * eval_batches 20, patience 5, data_seed 1. */
void lmg_train_config_default(lmg_train_config *c);

typedef struct lmg_train_result {
    int64_t step;             /* last step done */
    int64_t best_step;
    double best_val_loss;     /* INFINITY when never evaluated; with stop_on_f1, minus the
                                 best validation macro-F1 */
    double last_loss, last_val_loss;
    double elapsed_s, ms_per_step, tokens_per_s; /* this process's steps */
    int early_stopped;
    int interrupted;          /* ended by lmg_train_request_stop (checkpoint written) */
} lmg_train_result;

/* Train. The run directory gets:
 *   train.pb (+ train.safetensors)  the training step graph, weights external
 *   objective.pb                    the user objective graph, when one was given
 *   checkpoint.safetensors          the latest state: every parameter by name, "adam.m/<p>",
 *                                   "adam.v/<p>", metadata step, data seed, best, patience
 *   best.safetensors                the parameters of the best validation loss
 *   metrics.jsonl                   one JSON object per line: step, split, loss, lr, ...
 *   loss.svg                        train and val loss against step
 * Files are written to a temporary name and renamed. With resume_dir the run continues from
 * its checkpoint; steps, eval and patience settings of `c` apply, the rest comes from the run. */
lmg_status lmg_train_run(const lmg_train_config *c, lmg_train_result *r);

/* Ask a running lmg_train_run to stop: it finishes the step under way (and its evaluation
 * when one is due), writes checkpoint.safetensors, and returns LMG_OK with
 * r->interrupted set; asked before the first step, it writes the checkpoint of where it
 * is. Async-signal-safe (it only stores `sig`), for SIGINT/SIGTERM handlers; the request
 * stays until lmg_train_clear_stop. lmg_train_stop_requested gives the signal (0: none). */
void lmg_train_request_stop(int sig);
int lmg_train_stop_requested(void);
void lmg_train_clear_stop(void);

/* ---- evaluation -------------------------------------------------------------------- */
typedef struct lmg_eval_result {
    double loss;              /* mean loss per counted token (CE for clm/mlm) */
    double perplexity;        /* exp(loss) */
    double mlm_accuracy;      /* masked positions predicted exactly (mlm models), else -1 */
    double next_token_accuracy; /* clm models: positions whose most likely token is the
                                   next one, else -1 */
    int64_t tokens;           /* positions counted */
    int64_t batches;
} lmg_eval_result;

/* Evaluate the parameters of `checkpoint` (a .safetensors with every parameter of the run;
 * NULL = best.safetensors, or checkpoint.safetensors when absent) of run `run_dir` on
 * `split` ("train", "val", "test"); max_batches 0 = the whole split. */
lmg_status lmg_eval_run(const char *run_dir, const char *checkpoint, const char *split,
                        const char *backend, const char *device, int max_batches,
                        lmg_eval_result *r);

/* ---- pieces shared by the trainer and the commands --------------------------------- */
/* Prepare data for training: read the corpus (paths, or the default corpus when n == 0),
 * train a tokenizer of `vocab` ids and write dir/tok.bpe and dir/{train,val,test}.tok. */
lmg_status lmg_train_prepare_data(const char *const *paths, size_t n, int vocab, uint64_t seed,
                                  const char *dir);

/* A run's model config, data folder and objective graph, read from run_dir/train.pb.
 * The strings point into *graph; free it with lmg_graph_free. */
lmg_status lmg_run_open(const char *run_dir, lmg_graph **graph, lmg_model_config *model,
                        char **data_dir, lmg_graph **objective);

/* Checkpoints (train/checkpoint.c). save writes every trainable parameter of g by name
 * and, with state, its AdamW moments "adam.m/<p>", "adam.v/<p>", read from executor e of
 * backend b, plus the metadata pairs keys[i] = values[i]; atomically. load writes them back
 * into e by value name: every trainable parameter of g (and with state its moments) must be
 * present with g's dtype and shape, or the error names the missing or mismatching one. */
struct lmg_backend;
struct lmg_exec;
lmg_status lmg_checkpoint_save(const char *path, const lmg_graph *g,
                               const struct lmg_backend *b, struct lmg_exec *e, int state,
                               int n_meta, const char *const *keys, const char *const *values);
lmg_status lmg_checkpoint_load(const char *path, const lmg_graph *g,
                               const struct lmg_backend *b, struct lmg_exec *e, int state);

/* The "format" metadata of every checkpoint; a reader refuses any other. */
#define LMG_CHECKPOINT_FORMAT "lmgraph-checkpoint-1"

/* The trainer's metadata of checkpoint.safetensors, each field validated: format as above;
 * step an integer in 0..max_step (the run's steps); rng.data_seed and rng.model_seed
 * unsigned 64-bit integers; best_val_loss a finite number or "inf" (no evaluation yet, then
 * best_step 0); best_step in 0..step; bad_evals in 0..step; elapsed_s (optional) finite
 * and >= 0. Anything else is LMG_ERR_PARSE naming the file and the field. */
typedef struct lmg_checkpoint_meta {
    int64_t step;
    uint64_t data_seed, model_seed;
    double best_val_loss;     /* INFINITY: none yet */
    int64_t best_step;
    int bad_evals;
    double elapsed_s;
    int64_t steps_total;      /* the run's length when it was extended; 0: not written */
} lmg_checkpoint_meta;
lmg_status lmg_checkpoint_read_meta(const char *path, int64_t max_step, lmg_checkpoint_meta *m);
/* The step best.safetensors was written at (1..max_step), its format checked. */
lmg_status lmg_checkpoint_best_step(const char *path, int64_t max_step, int64_t *step);

/* ---- sampling from a trained GPT (train/sample.c) ----------------------------------- */
/* A batch-1 forward graph of a GPT run (objective none) with the run's trained weights. */
typedef struct lmg_sampler lmg_sampler;
/* checkpoint NULL: best.safetensors, or checkpoint.safetensors when absent. */
lmg_status lmg_sampler_open(const char *run_dir, const char *checkpoint, const char *backend,
                            const char *device, lmg_sampler **out);
void lmg_sampler_free(lmg_sampler *s); /* free(NULL) is a no-op */
/* Append up to n_new sampled ids to `ids` (which holds the prompt, *n of them, room for
 * *n + n_new): each from softmax(logits / temperature) over the top_k largest (0 = all);
 * temperature 0 takes the most likely id. The context is the last `seq` ids. Stops after
 * an id equal to stop_id (< 0: never). Draws from a generator seeded with `seed`. */
lmg_status lmg_sampler_generate(lmg_sampler *s, int32_t *ids, int *n, int n_new,
                                double temperature, int top_k, uint64_t seed, int stop_id);
/* The run's model config and data folder (tokenizer at <data>/tok.bpe). */
const lmg_model_config *lmg_sampler_config(const lmg_sampler *s);
const char *lmg_sampler_data_dir(const lmg_sampler *s);

/* ---- metrics (train/metrics.c) and the loss plot (train/svg.c) ---------------------- */
typedef struct lmg_metric {
    int64_t step;
    const char *split;        /* "train", "val", "test" */
    double loss, lr, grad_norm, tokens_per_s, elapsed_s; /* NaN = not written */
    int has_cls;              /* a classifier's validation: accuracy and macro_f1 written */
    double accuracy, macro_f1;
    int n_terms;              /* extra fields "<name>": value (the "loss/..." terms) */
    const char *const *term_names;
    const double *term_values;
} lmg_metric;

/* Append one JSON object line to path (created when missing). */
lmg_status lmg_metrics_append(const char *path, const lmg_metric *m);
/* Keep only the lines with step <= max_step (a resumed run drops what came after its
 * checkpoint); rewritten atomically. A missing file is fine. */
lmg_status lmg_metrics_truncate(const char *path, int64_t max_step);
/* Read the (step, loss) pairs of one split from metrics.jsonl; arrays malloc'd. The key
 * lmg_metrics_read_key reads instead of "loss" may be any numeric field ("loss/sup"). */
lmg_status lmg_metrics_read_key(const char *path, const char *split, const char *key,
                                int64_t **steps, double **values, size_t *n);
lmg_status lmg_metrics_read(const char *path, const char *split, int64_t **steps,
                            double **losses, size_t *n);

/* lmg_metrics_read of another number of the lines, e.g. "loss/mlm". */
lmg_status lmg_metrics_read_key(const char *path, const char *split, const char *key,
                                int64_t **steps, double **values, size_t *n);
/* The logged terms ("loss/...") of a run's training lines, at most max names. */
lmg_status lmg_metrics_terms(const char *path, char names[][64], int max, int *n);

/* Draw train and val loss against step as an SVG (axes, ticks, legend) into `path`,
 * from the metrics file; written atomically. */
lmg_status lmg_loss_svg(const char *metrics_path, const char *path, const char *title);


#endif
