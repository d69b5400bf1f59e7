/* classify.h — classification on top of the trainer: parameters taken from a pretrained run
 * by name, frozen bodies, labelled batches, predictions of a classifier run, and the
 * classification report (per-class precision/recall/F1, confusion matrix, baselines). */
#ifndef LMG_CLASSIFY_H
#define LMG_CLASSIFY_H

#include "train.h"
#include "../text/labels.h"

struct lmg_backend;
struct lmg_exec;

/* ---- fine-tuning (train/finetune.c) ------------------------------------------------ */
/* Set the initial value of every trainable parameter of g that `path` (a checkpoint
 * .safetensors) holds by the same name; dtype and shape must match (the error names the
 * parameter). With freeze, the loaded parameters stop being trainable: only the others (the
 * new head) are trained. *n_loaded (may be NULL) gets the count; none loaded is an error. */
lmg_status lmg_params_init_from(lmg_graph *g, const char *path, int freeze, int *n_loaded);

/* Parameters frozen in `src` (a run's training graph: initializers that are not trainable
 * but are parameters in dst) become constants of dst with src's values, so an evaluation
 * graph built from the config sees the frozen body as it was trained. */
lmg_status lmg_graph_adopt_frozen(lmg_graph *dst, const lmg_graph *src);

/* The labelled shards of a data folder: train.lab and val.lab checked against tok.bpe, the
 * model's sequence length and its number of classes. */
lmg_status lmg_labelled_open_data(const char *data_dir, const lmg_model_config *mc,
                                  lmg_labshard **train, lmg_labshard **val);
/* 1 when data_dir holds labelled shards (train.lab). */
int lmg_labelled_data_dir(const char *data_dir);

/* Next-token targets of labelled rows ids[B,T]: the following id, -100 at the last position
 * and wherever the following id is padding. */
void lmg_rows_next_targets(const int32_t *ids, int B, int T, int32_t *targets);

/* Run the rows of `sh` through executor e of graph g (inputs "ids", and when present
 * "labels" and "targets"; output "class_logits", and "loss" when present), B rows at a time
 * in order, the first max_batches batches (0 = all). Writes the true labels and the
 * predicted classes (arg max; ties to the lower class) of the n rows seen, and the mean
 * "loss" over batches weighted by their real rows (NaN without a loss), and so each scalar
 * output named loss/... (in output order). The run of batch i is keyed by step i + 1, like
 * the trainer's evaluation. */
#define LMG_CLS_MAX_TERMS 16
typedef struct lmg_cls_predictions {
    int64_t n;
    int K;
    int32_t *labels, *pred; /* (n) */
    float *probs;           /* (n, K) softmax of the class logits */
    double loss;
    int n_terms;
    double term[LMG_CLS_MAX_TERMS];
} lmg_cls_predictions;
void lmg_cls_predictions_free(lmg_cls_predictions *p);
lmg_status lmg_cls_predict(const struct lmg_backend *b, struct lmg_exec *e, const lmg_graph *g,
                           const lmg_labshard *sh, int max_batches, lmg_cls_predictions *out);

/* ---- the report (train/report.c) --------------------------------------------------- */
typedef struct lmg_cls_report {
    int K;
    int64_t n;
    double *precision, *recall, *f1; /* (K): 0 where undefined, as scikit-learn reports */
    int64_t *support;                /* (K) true documents per class */
    int64_t *confusion;              /* (K, K): row = true class, column = predicted */
    double accuracy;
    double macro_precision, macro_recall, macro_f1;
    double weighted_precision, weighted_recall, weighted_f1;
    int majority;                    /* the most frequent class of the training split */
    double majority_accuracy, majority_macro_f1; /* predicting it for every document */
} lmg_cls_report;

/* Compute the report of predictions pred against labels y (n documents, classes 0..K-1;
 * labels outside are LMG_ERR_ARG). majority: the class the baseline predicts. */
lmg_status lmg_cls_report_compute(const int32_t *y, const int32_t *pred, int64_t n, int K,
                                  int majority, lmg_cls_report *r);
void lmg_cls_report_free(lmg_cls_report *r);
/* report.json: every figure by class name; confusion.svg: the matrix as a heat map. Both
 * written atomically. */
lmg_status lmg_cls_report_save_json(const lmg_cls_report *r, const char *const *names,
                                    const char *split, const char *path);
lmg_status lmg_cls_confusion_svg(const lmg_cls_report *r, const char *const *names,
                                 const char *title,
                                 const char *path);

/* ---- a trained classifier run (train/report.c) ------------------------------------- */
/* lmg_classifier_open, _free, _n_classes, _class and _texts are public (include/lmgraph.h). */
const char *lmg_classifier_data_dir(const lmg_classifier *c);
/* The report of the run on split ("train", "val", "test") of its data over the first
 * max_batches batches of the classifier's batch size (0 = all), and its predictions (may be
 * NULL). The majority baseline's class comes from the training split. */
lmg_status lmg_classifier_report(lmg_classifier *c, const char *split, int max_batches,
                                 lmg_cls_report *r, lmg_cls_predictions *preds);

#endif
