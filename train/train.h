/* train.h — the training step as a graph (autodiff, global-norm clipping, AdamW), the
 * learning-rate schedule, and the trainer: data, steps, evaluation, early stopping,
 * checkpoints, metrics and the loss plot of a run directory. Nothing here prints. */
#ifndef LMG_TRAIN_H
#define LMG_TRAIN_H

#include "../graph/graph.h"
#include "../models/models.h"

/* The optimizer, the training-step graph, the trainer and evaluation are public
 * (include/lmgraph.h). */

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

/* Evaluation and sampling run every Dropout of a model or objective graph as the identity
 * (p = 0 keeps each element's bits), as the built-in models leave theirs out: PyTorch's
 * eval mode. */
void lmg_graph_eval_mode(lmg_graph *g);

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

/* The logged terms ("loss/...") of a run's training lines, at most max names. */
lmg_status lmg_metrics_terms(const char *path, char names[][64], int max, int *n);

/* Draw train and val loss against step as an SVG (axes, ticks, legend) into `path`,
 * from the metrics file; written atomically. */
lmg_status lmg_loss_svg(const char *metrics_path, const char *path, const char *title);


#endif
