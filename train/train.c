/* train.c — the trainer: data, the step loop on a backend, evaluation, early stopping,
 * checkpoints, metrics and the loss plot of a run directory; evaluation of a finished run. */
#include "train.h"
#include "parallel.h"
#include "classify.h"
#include "../backends/backend.h"
#include "../graph/safetensors.h"
#include "../text/text.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define IGNORE_INDEX (-100)

/* lmg_train_request_stop's flag, set from a signal handler (a sig_atomic_t store is all a
 * handler may do) and polled between steps. */
static volatile sig_atomic_t stop_signal;

void lmg_train_config_default(lmg_train_config *c)
{
    memset(c, 0, sizeof *c);
    lmg_model_config_default(&c->model, "gpt");
    lmg_optim_config_default(&c->optim);
    c->objective_weight = 1.0;
    c->eval_every = 100;
    c->eval_batches = 20;
    c->patience = 5;
    c->data_seed = 1;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static lmg_status mkdir_p(const char *dir)
{
    char buf[PATH_MAX];
    if (strlen(dir) >= sizeof buf) return lmg_error(LMG_ERR_ARG, "path too long: '%s'", dir);
    strcpy(buf, dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return lmg_error(LMG_ERR_IO, "cannot create folder '%s': %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return lmg_error(LMG_ERR_IO, "cannot create folder '%s': %s", buf, strerror(errno));
    return LMG_OK;
}

static int file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* ---- data preparation -------------------------------------------------------------- */

lmg_status lmg_train_prepare_data(const char *const *paths, size_t n, int vocab, uint64_t seed,
                                  const char *dir)
{
    lmg_corpus *c = NULL;
    lmg_bpe *t = NULL;
    LMG_TRY(mkdir_p(dir));
    lmg_status s = lmg_corpus_read(paths, n, &c);
    if (s == LMG_OK) s = lmg_bpe_train(c, vocab, &t);
    char *tp = lmg_path_join(dir, "tok.bpe");
    if (!tp && s == LMG_OK) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
    if (s == LMG_OK) s = lmg_bpe_save(t, tp);
    if (s == LMG_OK)
        s = lmg_data_prepare(c, t, dir, seed, LMG_SPLIT_DEFAULT_VAL, LMG_SPLIT_DEFAULT_TEST, NULL);
    free(tp);
    lmg_bpe_free(t);
    lmg_corpus_free(c);
    return s;
}

/* ---- the run's files --------------------------------------------------------------- */

static lmg_status meta_num(const lmg_graph *g, const char *key, double *v)
{
    const char *s = lmg_graph_get_meta(g, key);
    if (!s) return lmg_error(LMG_ERR_NOT_FOUND, "training graph has no metadata '%s'", key);
    char *end;
    *v = strtod(s, &end);
    if (end == s || *end)
        return lmg_error(LMG_ERR_PARSE, "training graph metadata %s = '%s' is not a number", key,
                         s);
    return LMG_OK;
}

/* The data a run was trained on is named by its tokenizer's fingerprint: a folder at the
 * recorded place holding another tokenizer (another run's data) is refused, never used. */
static lmg_status check_run_data(const lmg_graph *g, const char *run_dir, const char *data_dir)
{
    const char *want = lmg_graph_get_meta(g, "train.data_fingerprint");
    if (!want) return LMG_OK; /* a run from before fingerprints were recorded */
    char *tp = lmg_path_join(data_dir, "tok.bpe");
    if (!tp) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_bpe *tok = NULL;
    lmg_status s = lmg_bpe_load(tp, &tok);
    if (s != LMG_OK) {
        s = lmg_error_prefix(s, "run '%s': its data folder '%s'", run_dir, data_dir);
    } else {
        char have[32];
        snprintf(have, sizeof have, "%016" PRIx64, lmg_bpe_fingerprint(tok));
        if (strcmp(have, want) != 0)
            s = lmg_error(LMG_ERR_DATA, "run '%s': the tokenizer '%s' has fingerprint %s, but the "
                          "run was trained on data with fingerprint %s: this is another run's data",
                          run_dir, tp, have, want);
    }
    lmg_bpe_free(tok);
    free(tp);
    return s;
}

/* `to` relative to folder `from` (both absolute and canonical), malloc'd. */
static char *relative_path(const char *from, const char *to)
{
    if (strcmp(from, "/") == 0) from = "";
    size_t common = 0;
    for (size_t i = 0;; i++) {
        char a = from[i], b = to[i];
        if ((a == '/' || a == 0) && (b == '/' || b == 0)) common = i;
        if (a != b || a == 0) break;
    }
    size_t ups = 0;
    for (const char *p = from + common; *p; p++) ups += *p == '/';
    if (from[common] == 0) ups = 0;
    const char *rest = to + common;
    while (*rest == '/') rest++;
    size_t n = ups * 3 + strlen(rest) + 2;
    char *out = malloc(n);
    if (!out) return NULL;
    out[0] = 0;
    for (size_t i = 0; i < ups; i++) strcat(out, i + 1 < ups || *rest ? "../" : "..");
    if (*rest) strcat(out, rest);
    if (!out[0]) strcpy(out, ".");
    return out;
}

lmg_status lmg_run_open(const char *run_dir, lmg_graph **graph, lmg_model_config *model,
                        char **data_dir, lmg_graph **objective)
{
    *graph = NULL;
    if (data_dir) *data_dir = NULL;
    if (objective) *objective = NULL;
    char *tp = lmg_path_join(run_dir, "train.pb");
    if (!tp) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    if (!file_exists(tp)) {
        lmg_status s = lmg_error(LMG_ERR_NOT_FOUND, "'%s' is not a run directory (no train.pb)",
                                 run_dir);
        free(tp);
        return s;
    }
    lmg_graph *g = NULL;
    lmg_status s = lmg_graph_load(tp, &g);
    free(tp);
    if (s == LMG_OK) s = lmg_model_config_from_graph(g, model);
    if (s == LMG_OK && data_dir) {
        /* Relative to the run (runs written since paths are relative move and copy as a
         * whole); an absolute path is an older run's. */
        const char *d = lmg_graph_get_meta(g, "train.data_dir");
        if (!d) s = lmg_error(LMG_ERR_NOT_FOUND, "run '%s' records no data folder", run_dir);
        else if (d[0] == '/') *data_dir = strdup(d);
        else *data_dir = lmg_path_join(run_dir, d);
        if (s == LMG_OK && !*data_dir) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        if (s == LMG_OK) s = check_run_data(g, run_dir, *data_dir);
    }
    if (s == LMG_OK && objective) {
        char *op = lmg_path_join(run_dir, "objective.pb");
        if (!op) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
        else if (file_exists(op)) s = lmg_graph_load(op, objective);
        free(op);
    }
    if (s != LMG_OK) {
        if (data_dir) free(*data_dir), *data_dir = NULL;
        if (objective) lmg_graph_free(*objective), *objective = NULL;
        lmg_graph_free(g);
        return s;
    }
    *graph = g;
    return LMG_OK;
}

/* The forward graph of a run: the built-in model of mc, or the user's model graph mg. */
static lmg_status build_forward(const lmg_model_config *mc, const lmg_graph *mg,
                                const lmg_graph *obj, double weight, lmg_graph **out)
{
    if (mg) return lmg_model_graph_build(mg, mc, obj, weight, out);
    return lmg_model_build_with_objective(mc, obj, weight, out);
}

/* A run's model graph (model.pb), or NULL when it trains a built-in model. */
static lmg_status load_model_graph(const char *run_dir, lmg_graph **mg)
{
    *mg = NULL;
    char *p = lmg_path_join(run_dir, "model.pb");
    if (!p) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status s = file_exists(p) ? lmg_graph_load(p, mg) : LMG_OK;
    free(p);
    return s;
}

void lmg_graph_eval_mode(lmg_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].op != LMG_OP_DROPOUT) continue;
        lmg_attr *a = (lmg_attr *)lmg_node_attr(&g->nodes[i], "p");
        if (a && a->type == LMG_ATTR_FLOAT) a->f = 0.0;
    }
}

/* The forward graph used for evaluation: no dropout, one micro-batch; with tg, a frozen
 * body as in the training graph. */
static lmg_status build_eval_graph(const lmg_model_config *mc, const lmg_graph *mg,
                                   const lmg_graph *obj, double weight, const lmg_graph *tg,
                                   lmg_graph **out)
{
    lmg_model_config c = *mc;
    c.dropout = 0.0;
    c.micro_batches = 1;
    LMG_TRY(build_forward(&c, mg, obj, weight, out));
    lmg_graph_eval_mode(*out);
    lmg_status s = tg ? lmg_graph_adopt_frozen(*out, tg) : LMG_OK; /* a frozen body */
    if (s == LMG_OK) s = lmg_graph_verify(*out);
    if (s != LMG_OK) {
        lmg_graph_free(*out);
        *out = NULL;
    }
    return s;
}

/* Parameters are shared by name between a training and an evaluation executor. */
typedef struct param_link {
    int src, dst;
    size_t bytes;
} param_link;

static lmg_status link_params(const lmg_graph *src, const lmg_graph *dst, param_link **out,
                              int *n, size_t *max_bytes)
{
    int cnt = 0;
    for (int v = 0; v < dst->n_values; v++) cnt += dst->values[v].trainable;
    param_link *l = calloc((size_t)cnt + 1, sizeof *l);
    if (!l) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    int k = 0;
    *max_bytes = 0;
    for (int v = 0; v < dst->n_values; v++) {
        if (!dst->values[v].trainable) continue;
        int sv = lmg_graph_find(src, dst->values[v].name);
        if (sv < 0 || !lmg_shape_equal(&src->values[sv].shape, &dst->values[v].shape)) {
            free(l);
            return lmg_error(LMG_ERR_INVALID, "parameter '%s' differs between the training "
                                              "and the evaluation graph",
                             dst->values[v].name);
        }
        l[k].src = sv;
        l[k].dst = v;
        l[k].bytes = (size_t)lmg_shape_numel(&dst->values[v].shape) * 4;
        if (l[k].bytes > *max_bytes) *max_bytes = l[k].bytes;
        k++;
    }
    *out = l;
    *n = k;
    return LMG_OK;
}

static lmg_status copy_params(const lmg_backend *b, lmg_exec *src, lmg_exec *dst,
                              const param_link *l, int n, void *buf)
{
    for (int i = 0; i < n; i++) {
        LMG_TRY(b->read(src, l[i].src, buf, l[i].bytes));
        LMG_TRY(b->write(dst, l[i].dst, buf, l[i].bytes));
    }
    return LMG_OK;
}

/* ---- evaluation over one split ------------------------------------------------------ */

/* The logged loss terms of a graph: its scalar f32 outputs named "loss/...". */
#define MAX_TERMS 16
typedef struct loss_terms {
    int n, id[MAX_TERMS];
    const char *name[MAX_TERMS];
    double value[MAX_TERMS];
} loss_terms;

static void find_terms(const lmg_graph *g, loss_terms *t)
{
    t->n = 0;
    for (int i = 0; i < g->n_outputs && t->n < MAX_TERMS; i++) {
        const lmg_value *v = &g->values[g->outputs[i]];
        if (strncmp(v->name, "loss/", 5) != 0 || v->dtype != LMG_DTYPE_F32 ||
            lmg_shape_numel(&v->shape) != 1)
            continue;
        t->id[t->n] = g->outputs[i];
        t->name[t->n] = v->name;
        t->value[t->n++] = NAN;
    }
}

static lmg_status read_terms(const lmg_backend *b, lmg_exec *e, loss_terms *t)
{
    for (int i = 0; i < t->n; i++) {
        float f;
        LMG_TRY(b->read(e, t->id[i], &f, 4));
        t->value[i] = f;
    }
    return LMG_OK;
}

typedef struct evaluator {
    const lmg_graph *g;
    const lmg_backend *b;
    lmg_exec *e;
    int ids, targets, loss, mlm_targets, logits;
    int B, T, V;
    int32_t *buf, *x, *y, *mt;
    float *lg;
    loss_terms terms;   /* after evaluate: each term's mean over the batches */
} evaluator;

static void evaluator_free(evaluator *ev)
{
    if (ev->e) ev->b->free(ev->e);
    free(ev->buf);
    free(ev->x);
    free(ev->y);
    free(ev->mt);
    free(ev->lg);
    memset(ev, 0, sizeof *ev);
}

static lmg_status evaluator_init(evaluator *ev, const lmg_graph *g, const lmg_backend *b,
                                 const lmg_exec_opts *opts, int want_logits)
{
    memset(ev, 0, sizeof *ev);
    ev->g = g;
    ev->b = b;
    ev->ids = lmg_graph_find(g, "ids");
    ev->targets = lmg_graph_find(g, "targets");
    ev->loss = lmg_graph_find(g, "loss");
    ev->mlm_targets = lmg_graph_find(g, "mlm/targets");
    ev->logits = want_logits ? lmg_graph_find(g, "logits") : -1;
    find_terms(g, &ev->terms);
    if (ev->ids < 0 || ev->loss < 0)
        return lmg_error(LMG_ERR_INVALID, "evaluation graph lacks 'ids' or 'loss'");
    ev->B = (int)g->values[ev->ids].shape.dims[0];
    ev->T = (int)g->values[ev->ids].shape.dims[1];
    ev->V = ev->logits >= 0 ? (int)g->values[ev->logits].shape.dims[2] : 0;
    size_t n = (size_t)ev->B * ev->T;
    ev->buf = malloc((size_t)ev->B * (ev->T + 1) * 4);
    ev->x = malloc(n * 4);
    ev->y = malloc(n * 4);
    ev->mt = malloc(n * 4);
    ev->lg = ev->logits >= 0 ? malloc(n * (size_t)ev->V * 4) : NULL;
    if (!ev->buf || !ev->x || !ev->y || !ev->mt || (ev->logits >= 0 && !ev->lg))
        return lmg_error(LMG_ERR_NOMEM, "out of memory for evaluation buffers");
    return b->init(g, opts, &ev->e);
}

/* Split (B, T+1) windows into ids and next-token targets; padding rows predict nothing. */
static void split_windows(const int32_t *buf, int rows, int B, int T, int32_t *x, int32_t *y)
{
    for (int r = 0; r < B; r++)
        for (int t = 0; t < T; t++) {
            x[r * T + t] = buf[r * (T + 1) + t];
            y[r * T + t] = r < rows ? buf[r * (T + 1) + t + 1] : IGNORE_INDEX;
        }
}

/* Mean loss per counted position over the first `max_batches` batches of the split (0 =
 * all); each batch's mean is weighted by the positions it counts. Runs are keyed by the
 * batch number, so MLM masks are the same at every evaluation. */
static lmg_status evaluate(evaluator *ev, const lmg_shard *sh, int max_batches,
                           lmg_eval_result *r)
{
    memset(r, 0, sizeof *r);
    r->mlm_accuracy = -1;
    r->next_token_accuracy = -1;
    int64_t windows = lmg_shard_n_windows(sh, ev->T);
    if (windows < 1)
        return lmg_error(LMG_ERR_DATA, "shard '%s' has fewer than %d tokens: nothing to evaluate",
                         lmg_shard_path(sh), ev->T + 1);
    /* With R ranks an evaluation batch is R x B windows, rank r reading rows r*B.., so the
     * windows scored, and the means, are those of one process with batch R x B. */
    int R = lmg_dist_size(), me = lmg_dist_rank();
    int64_t gB = (int64_t)ev->B * R;
    int64_t nb = (windows + gB - 1) / gB;
    if (max_batches > 0 && nb > max_batches) nb = max_batches;
    size_t n = (size_t)ev->B * ev->T;
    double sum = 0, cnt = 0, term_sum[MAX_TERMS] = {0};
    int64_t hits = 0, masked = 0, next_hits = 0, next_n = 0;
    for (int64_t i = 0; i < nb; i++) {
        int rows;
        LMG_TRY(lmg_shard_batch_seq(sh, i * gB + me * ev->B, ev->B, ev->T, ev->buf, &rows));
        split_windows(ev->buf, rows, ev->B, ev->T, ev->x, ev->y);
        LMG_TRY(ev->b->write(ev->e, ev->ids, ev->x, n * 4));
        if (ev->targets >= 0) LMG_TRY(ev->b->write(ev->e, ev->targets, ev->y, n * 4));
        LMG_TRY(ev->b->run(ev->e, (uint64_t)(i + 1)));
        float loss;
        LMG_TRY(ev->b->read(ev->e, ev->loss, &loss, 4));
        LMG_TRY(read_terms(ev->b, ev->e, &ev->terms));
        for (int k = 0; k < ev->terms.n; k++) term_sum[k] += ev->terms.value[k];
        /* Positions the loss averages over: the clm targets, else the masked ones. */
        const int32_t *count_from = ev->y;
        int have_count = ev->targets >= 0;
        if (ev->mlm_targets >= 0) {
            LMG_TRY(ev->b->read(ev->e, ev->mlm_targets, ev->mt, n * 4));
            if (!have_count) count_from = ev->mt, have_count = 1;
        }
        double c = 0;
        for (size_t k = 0; k < n; k++) c += have_count ? count_from[k] != IGNORE_INDEX : 1;
        if (c > 0) {
            sum += (double)loss * c;
            cnt += c;
        }
        if (ev->logits >= 0 && (ev->mlm_targets >= 0 || ev->targets >= 0)) {
            LMG_TRY(ev->b->read(ev->e, ev->logits, ev->lg, n * (size_t)ev->V * 4));
            /* "logits" are the first term's pass: masked positions for mlm, next tokens for
             * clm; nothing to score for other first terms. */
            const char *o = lmg_graph_get_meta(ev->g, "model.objective");
            int mlm_logits = ev->mlm_targets >= 0 && o && strncmp(o, "mlm", 3) == 0;
            int clm_logits = ev->targets >= 0 && o && strncmp(o, "clm", 3) == 0;
            const int32_t *want = mlm_logits ? ev->mt : ev->y;
            for (size_t k = 0; k < n && (mlm_logits || clm_logits); k++) {
                if (want[k] == IGNORE_INDEX) continue;
                const float *row = ev->lg + k * (size_t)ev->V;
                int best = 0;
                for (int v = 1; v < ev->V; v++)
                    if (row[v] > row[best]) best = v;
                if (mlm_logits) hits += best == want[k], masked++;
                else next_hits += best == want[k], next_n++;
            }
        }
    }
    if (R > 1) {
        double acc[6 + MAX_TERMS] = {sum, cnt, (double)hits, (double)masked, (double)next_hits,
                                     (double)next_n};
        for (int k = 0; k < ev->terms.n; k++) acc[6 + k] = term_sum[k];
        LMG_TRY(lmg_parallel_mean(acc, 6 + ev->terms.n));
        sum = acc[0] * R, cnt = acc[1] * R;
        hits = (int64_t)(acc[2] * R + 0.5), masked = (int64_t)(acc[3] * R + 0.5);
        next_hits = (int64_t)(acc[4] * R + 0.5), next_n = (int64_t)(acc[5] * R + 0.5);
        for (int k = 0; k < ev->terms.n; k++) term_sum[k] = acc[6 + k];
    }
    for (int k = 0; k < ev->terms.n; k++) ev->terms.value[k] = term_sum[k] / (double)nb;
    r->loss = cnt > 0 ? sum / cnt : NAN;
    r->perplexity = exp(r->loss);
    r->tokens = (int64_t)cnt;
    r->batches = nb;
    if (masked > 0) r->mlm_accuracy = (double)hits / (double)masked;
    if (next_n > 0) r->next_token_accuracy = (double)next_hits / (double)next_n;
    return LMG_OK;
}

/* ---- the trainer ------------------------------------------------------------------- */

typedef struct trainer {
    const lmg_train_config *c;
    lmg_model_config mc;
    lmg_optim_config oc;
    const lmg_graph *obj;
    double obj_weight;
    lmg_graph *tg, *eg;
    lmg_graph *loaded_obj;
    const lmg_graph *mg;        /* the model graph, or NULL */
    lmg_graph *loaded_mg;
    char *data_dir;
    const lmg_backend *b;
    lmg_exec *te;
    evaluator ev;
    lmg_shard *train, *val;
    lmg_labshard *ltrain, *lval; /* labelled data (classifiers), instead of train/val */
    int labels;                  /* the "labels" input, or -1 */
    int stop_on_f1;
    int64_t total;               /* the step to end at: optim.steps, or more when extended */
    param_link *links;
    int n_links;
    void *pbuf;
    int32_t *buf, *x, *y, *lb;
    int ids, targets, lr, step, loss, gnorm;
    loss_terms terms;
    int eval_every, eval_batches, patience;
    uint64_t data_seed, data_fingerprint;
    int best_pending; /* best.safetensors is due once the checkpoint is written */
    char *p_ckpt, *p_best, *p_metrics, *p_svg;
    /* progress */
    int64_t step_done;
    double best_val;
    int64_t best_step;
    int bad_evals;
    double last_val;
    double elapsed_before; /* wall time of earlier processes of this run */
    double t_start;
    int64_t steps_this_process;
    double step_time_total;
} trainer;

static void emit(const trainer *t, lmg_train_event *e)
{
    if (t->c->progress) t->c->progress(e, t->c->user);
}

static void info(const trainer *t, const char *msg)
{
    lmg_train_event e;
    memset(&e, 0, sizeof e);
    e.kind = LMG_TRAIN_INFO;
    e.message = msg;
    e.steps = t->oc.steps;
    e.step = t->step_done;
    emit(t, &e);
}

static void trainer_free(trainer *t)
{
    evaluator_free(&t->ev);
    if (t->te) t->b->free(t->te);
    lmg_graph_free(t->tg);
    lmg_graph_free(t->eg);
    lmg_graph_free(t->loaded_obj);
    lmg_graph_free(t->loaded_mg);
    lmg_shard_free(t->train);
    lmg_shard_free(t->val);
    lmg_labshard_free(t->ltrain);
    lmg_labshard_free(t->lval);
    free(t->data_dir);
    free(t->links);
    free(t->pbuf);
    free(t->buf);
    free(t->x);
    free(t->y);
    free(t->lb);
    free(t->p_ckpt);
    free(t->p_best);
    free(t->p_metrics);
    free(t->p_svg);
}

static lmg_status set_meta_num(lmg_graph *g, const char *k, double v)
{
    char b[64];
    snprintf(b, sizeof b, "%.17g", v);
    return lmg_graph_set_meta(g, k, b);
}

static lmg_status read_optim_meta(const lmg_graph *g, lmg_optim_config *o)
{
    double v;
#define GET(k, f)                                \
    LMG_TRY(meta_num(g, "optim." k, &v));        \
    o->f = v;
    GET("lr", lr)
    GET("min_lr", min_lr)
    GET("beta1", beta1)
    GET("beta2", beta2)
    GET("eps", eps)
    GET("weight_decay", weight_decay)
    GET("clip", clip)
#undef GET
    LMG_TRY(meta_num(g, "optim.warmup", &v));
    o->warmup = (int64_t)v;
    LMG_TRY(meta_num(g, "optim.steps", &v));
    o->steps = (int64_t)v;
    return LMG_OK;
}

/* The model's vocabulary must be the tokenizer's: fewer ids cannot encode the data, more
 * would let sampling draw ids the tokenizer cannot decode. */
static lmg_status vocab_matches(const trainer *t, const lmg_bpe *tok, const char *tp)
{
    int tv = lmg_bpe_vocab_size(tok);
    if (tv > t->mc.vocab)
        return lmg_error(LMG_ERR_ARG,
                         "the tokenizer '%s' has %d ids but the model's vocabulary is %d: build the "
                         "model with --vocab %d or more",
                         tp, tv, t->mc.vocab, tv);
    if (tv < t->mc.vocab)
        return lmg_error(LMG_ERR_ARG,
                         "the model's vocabulary (%d) is larger than the tokenizer's (%d ids in "
                         "'%s'): the model would sample ids the tokenizer cannot decode; use "
                         "--vocab %d",
                         t->mc.vocab, tv, tp, tv);
    return LMG_OK;
}

/* Before anything is built or written: the tokenizer fits the model; its fingerprint is
 * recorded in train.pb. */
static lmg_status check_tokenizer(trainer *t)
{
    char *tp = lmg_path_join(t->data_dir, "tok.bpe");
    if (!tp) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_bpe *tok = NULL;
    lmg_status s = lmg_bpe_load(tp, &tok);
    if (s == LMG_OK) s = vocab_matches(t, tok, tp);
    if (s == LMG_OK) t->data_fingerprint = lmg_bpe_fingerprint(tok);
    lmg_bpe_free(tok);
    free(tp);
    return s;
}

/* A new run: build the training graph, record what a resume needs, save train.pb. */
static lmg_status setup_fresh(trainer *t)
{
    const lmg_train_config *c = t->c;
    if (!c->data_dir) return lmg_error(LMG_ERR_ARG, "train: no data folder given");
    LMG_TRY(mkdir_p(c->out_dir));
    if (file_exists(t->p_ckpt))
        return lmg_error(LMG_ERR_ARG,
                         "'%s' already holds a run (checkpoint.safetensors): resume it or choose "
                         "another output folder",
                         c->out_dir);
    t->mc = c->model;
    t->oc = c->optim;
    t->obj = c->objective_graph;
    t->obj_weight = c->objective_weight > 0 ? c->objective_weight : 1.0;
    t->mg = c->model_graph;
    if (t->mg) lmg_model_graph_config(t->mg, &t->mc);
    t->data_dir = realpath(c->data_dir, NULL);
    if (!t->data_dir)
        return lmg_error(LMG_ERR_NOT_FOUND, "data folder '%s': %s", c->data_dir, strerror(errno));
    t->eval_every = c->eval_every;
    t->eval_batches = c->eval_batches;
    t->patience = c->patience;
    t->data_seed = c->data_seed;
    LMG_TRY(check_tokenizer(t));
    info(t, "building the training graph");
    LMG_TRY(build_forward(&t->mc, t->mg, t->obj, t->obj_weight, &t->tg));
    t->stop_on_f1 = c->stop_on_f1;
    if (c->init_from) {
        info(t, "loading the pretrained parameters");
        LMG_TRY(lmg_params_init_from(t->tg, c->init_from, c->freeze, NULL));
        LMG_TRY(lmg_graph_set_meta(t->tg, "train.init_from", c->init_from));
    }
    t->oc.ranks = lmg_dist_size();
    LMG_TRY(lmg_train_graph_build(t->tg, "loss", &t->oc));
    LMG_TRY(set_meta_num(t->tg, "train.stop_on_f1", t->stop_on_f1));
    /* Stored relative to the run, with the tokenizer's fingerprint (see check_run_data). */
    char *out_abs = realpath(c->out_dir, NULL);
    char *rel = out_abs ? relative_path(out_abs, t->data_dir) : NULL;
    free(out_abs);
    if (!rel) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status sm = lmg_graph_set_meta(t->tg, "train.data_dir", rel);
    free(rel);
    LMG_TRY(sm);
    char fp[32];
    snprintf(fp, sizeof fp, "%016" PRIx64, t->data_fingerprint);
    LMG_TRY(lmg_graph_set_meta(t->tg, "train.data_fingerprint", fp));
    LMG_TRY(set_meta_num(t->tg, "train.data_seed", (double)t->data_seed));
    LMG_TRY(set_meta_num(t->tg, "train.eval_every", t->eval_every));
    LMG_TRY(set_meta_num(t->tg, "train.eval_batches", t->eval_batches));
    LMG_TRY(set_meta_num(t->tg, "train.patience", t->patience));
    LMG_TRY(set_meta_num(t->tg, "train.objective_weight", t->obj_weight));
    LMG_TRY(lmg_graph_verify(t->tg));
    if (!lmg_parallel_writer()) return LMG_OK;
    char *p = lmg_path_join(c->out_dir, "train.pb");
    if (!p) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status s = lmg_graph_save(t->tg, p, 4096);
    free(p);
    LMG_TRY(s);
    if (t->mg) {
        p = lmg_path_join(c->out_dir, "model.pb");
        if (!p) return lmg_error(LMG_ERR_NOMEM, "out of memory");
        s = lmg_graph_save(t->mg, p, 4096);
        free(p);
        LMG_TRY(s);
    }
    if (t->obj) {
        p = lmg_path_join(c->out_dir, "objective.pb");
        if (!p) return lmg_error(LMG_ERR_NOMEM, "out of memory");
        s = lmg_graph_save(t->obj, p, 0);
        free(p);
        LMG_TRY(s);
    }
    /* A fresh run starts a fresh log. */
    if (file_exists(t->p_metrics)) LMG_TRY(lmg_metrics_truncate(t->p_metrics, 0));
    return LMG_OK;
}

/* Resume: the training graph, its settings and its data come from the run directory. */
static lmg_status setup_resume(trainer *t)
{
    const lmg_train_config *c = t->c;
    if (!file_exists(t->p_ckpt))
        return lmg_error(LMG_ERR_NOT_FOUND, "run '%s' has no checkpoint.safetensors to resume from",
                         c->resume_dir);
    info(t, "loading the run");
    LMG_TRY(lmg_run_open(c->resume_dir, &t->tg, &t->mc, &t->data_dir, &t->loaded_obj));
    t->obj = t->loaded_obj;
    LMG_TRY(load_model_graph(c->resume_dir, &t->loaded_mg));
    t->mg = t->loaded_mg;
    LMG_TRY(read_optim_meta(t->tg, &t->oc));
    LMG_TRY(lmg_parallel_check_ranks(t->tg, c->resume_dir));
    double v;
    LMG_TRY(meta_num(t->tg, "train.data_seed", &v));
    t->data_seed = (uint64_t)v;
    LMG_TRY(meta_num(t->tg, "train.eval_every", &v));
    t->eval_every = (int)v;
    LMG_TRY(meta_num(t->tg, "train.eval_batches", &v));
    t->eval_batches = (int)v;
    LMG_TRY(meta_num(t->tg, "train.patience", &v));
    t->patience = (int)v;
    LMG_TRY(meta_num(t->tg, "train.objective_weight", &v));
    t->obj_weight = v;
    if (meta_num(t->tg, "train.stop_on_f1", &v) == LMG_OK) t->stop_on_f1 = v != 0;
    lmg_error_clear();
    return lmg_graph_verify(t->tg);
}

static lmg_status open_data(trainer *t)
{
    if (lmg_labelled_data_dir(t->data_dir)) {
        info(t, "opening the labelled shards");
        return lmg_labelled_open_data(t->data_dir, &t->mc, &t->ltrain, &t->lval);
    }
    if (t->mc.n_classes > 0)
        return lmg_error(LMG_ERR_DATA, "data folder '%s' holds no labelled shards (train.lab) "
                         "for the classifier", t->data_dir);
    info(t, "opening the token shards");
    char *tp = lmg_path_join(t->data_dir, "tok.bpe");
    char *trp = lmg_path_join(t->data_dir, "train.tok");
    char *vp = lmg_path_join(t->data_dir, "val.tok");
    lmg_bpe *tok = NULL;
    lmg_status s = !tp || !trp || !vp ? lmg_error(LMG_ERR_NOMEM, "out of memory") : LMG_OK;
    if (s == LMG_OK) s = lmg_bpe_load(tp, &tok);
    if (s == LMG_OK) s = vocab_matches(t, tok, tp);
    if (s == LMG_OK) s = lmg_shard_open(trp, tok, &t->train);
    if (s == LMG_OK) s = lmg_shard_open(vp, tok, &t->val);
    if (s == LMG_OK && lmg_shard_n_tokens(t->train) < t->mc.seq + 1)
        s = lmg_error(LMG_ERR_DATA, "the training shard '%s' holds %lld tokens, fewer than one "
                                    "window of %d",
                      trp, (long long)lmg_shard_n_tokens(t->train), t->mc.seq + 1);
    if (s == LMG_OK && lmg_shard_n_windows(t->val, t->mc.seq) < 1)
        s = lmg_error(LMG_ERR_DATA, "the validation shard '%s' holds fewer than %d tokens", vp,
                      t->mc.seq + 1);
    lmg_bpe_free(tok);
    free(tp);
    free(trp);
    free(vp);
    return s;
}

static lmg_status save_checkpoint(trainer *t)
{
    if (!lmg_parallel_writer()) return LMG_OK;
    char k[8][32], v[8][64];
    const char *keys[8], *vals[8];
    int n = 0;
#define KV(key, ...)                                   \
    snprintf(k[n], sizeof k[n], "%s", key);           \
    snprintf(v[n], sizeof v[n], __VA_ARGS__);          \
    keys[n] = k[n], vals[n] = v[n], n++;
    KV("step", "%lld", (long long)t->step_done)
    KV("rng.data_seed", "%llu", (unsigned long long)t->data_seed)
    KV("rng.model_seed", "%llu", (unsigned long long)t->mc.seed)
    KV("best_val_loss", "%.17g", t->best_val)
    KV("best_step", "%lld", (long long)t->best_step)
    KV("bad_evals", "%d", t->bad_evals)
    KV("elapsed_s", "%.6f", t->elapsed_before + (now_s() - t->t_start))
    KV("steps_total", "%lld", (long long)t->total)
#undef KV
    return lmg_checkpoint_save(t->p_ckpt, t->tg, t->b, t->te, 1, n, keys, vals);
}

/* The parameters of the best evaluation, written only after the checkpoint that records
 * it (best_step). So best.safetensors is never newer than checkpoint.safetensors: its step
 * is at most the checkpoint's best_step, and when the two differ (the process died or the
 * disk filled between the writes) best_step is the checkpoint's own step, whose weights
 * are the checkpoint's, and resume rewrites best.safetensors from them. */
static lmg_status save_best(trainer *t)
{
    char k0[] = "step", k1[] = "val_loss", v0[32], v1[64];
    snprintf(v0, sizeof v0, "%lld", (long long)t->best_step);
    snprintf(v1, sizeof v1, "%.17g", t->best_val);
    const char *keys[2] = {k0, k1}, *vals[2] = {v0, v1};
    if (!lmg_parallel_writer()) {
        t->best_pending = 0;
        return LMG_OK;
    }
    LMG_TRY(lmg_checkpoint_save(t->p_best, t->tg, t->b, t->te, 0, 2, keys, vals));
    t->best_pending = 0;
    return LMG_OK;
}

static lmg_status load_checkpoint(trainer *t)
{
    info(t, "restoring the checkpoint");
    lmg_checkpoint_meta m;
    LMG_TRY(lmg_checkpoint_read_meta(t->p_ckpt, t->oc.steps, &m));
    if (m.data_seed != t->data_seed)
        return lmg_error(LMG_ERR_INVALID, "%s: metadata 'rng.data_seed' is %llu, but the run's "
                         "data seed is %llu", t->p_ckpt, (unsigned long long)m.data_seed,
                         (unsigned long long)t->data_seed);
    LMG_TRY(lmg_checkpoint_load(t->p_ckpt, t->tg, t->b, t->te, 1));
    t->step_done = m.step;
    t->best_val = m.best_val_loss;
    t->best_step = m.best_step;
    t->bad_evals = m.bad_evals;
    t->elapsed_before = m.elapsed_s;
    /* An extended run keeps its new length when resumed again. */
    if (m.steps_total > t->total) t->total = m.steps_total;
    if (m.best_step > 0 && lmg_parallel_writer()) {
        int64_t have = 0;
        lmg_status s = file_exists(t->p_best) ? lmg_checkpoint_best_step(t->p_best, m.step, &have)
                                              : LMG_OK;
        if (s != LMG_OK && m.best_step != m.step) return s;
        if (s != LMG_OK || have != m.best_step) {
            lmg_error_clear();
            if (m.best_step != m.step)
                return lmg_error(LMG_ERR_INVALID, "%s holds step %lld but %s says the best is step "
                                 "%lld, which neither file's weights hold", t->p_best,
                                 (long long)have, t->p_ckpt, (long long)m.best_step);
            info(t, "rewriting best.safetensors from the checkpoint (its last write was lost)");
            LMG_TRY(save_best(t));
        }
    }
    return lmg_parallel_writer() ? lmg_metrics_truncate(t->p_metrics, t->step_done) : LMG_OK;
}

/* A classifier's validation: the loss, accuracy and macro-F1 over the labelled val split. */
static lmg_status evaluate_classes(trainer *t, double *loss, double *acc, double *f1)
{
    lmg_cls_predictions p;
    LMG_TRY(lmg_cls_predict(t->b, t->ev.e, t->eg, t->lval, t->eval_batches, &p));
    lmg_cls_report r;
    lmg_status s = lmg_cls_report_compute(p.labels, p.pred, p.n, p.K, 0, &r);
    if (s == LMG_OK) *loss = p.loss, *acc = r.accuracy, *f1 = r.macro_f1;
    /* The logged terms, found in the same graph's outputs in the same order. */
    for (int k = 0; s == LMG_OK && k < t->ev.terms.n; k++)
        t->ev.terms.value[k] = k < p.n_terms ? p.term[k] : NAN;
    lmg_cls_report_free(&r);
    lmg_cls_predictions_free(&p);
    return s;
}

static lmg_status evaluate_val(trainer *t, int64_t step, int *stop)
{
    *stop = 0;
    LMG_TRY(copy_params(t->b, t->te, t->ev.e, t->links, t->n_links, t->pbuf));
    lmg_eval_result r;
    double acc = NAN, f1 = NAN;
    if (t->lval) LMG_TRY(evaluate_classes(t, &r.loss, &acc, &f1));
    else LMG_TRY(evaluate(&t->ev, t->val, t->eval_batches, &r));
    t->last_val = r.loss;
    /* The score to minimise: the loss, or minus the macro-F1. */
    double score = t->stop_on_f1 && t->lval ? -f1 : r.loss;
    int improved = score < t->best_val;
    if (improved) {
        t->best_val = score;
        t->best_step = step;
        t->bad_evals = 0;
        t->best_pending = 1; /* written after the checkpoint: see save_best */
    } else {
        t->bad_evals++;
    }
    double el = t->elapsed_before + (now_s() - t->t_start);
    double tps = t->step_time_total > 0 ? (double)t->steps_this_process * t->mc.batch *
                                              (t->mc.micro_batches < 1 ? 1 : t->mc.micro_batches) *
                                              t->mc.seq / t->step_time_total
                                        : 0.0;
    lmg_metric m = {step, "val", r.loss, lmg_lr_at(&t->oc, step), NAN, tps, el, t->lval != NULL,
                    acc, f1, t->ev.terms.n, t->ev.terms.name, t->ev.terms.value};
    if (lmg_parallel_writer()) {
        LMG_TRY(lmg_metrics_append(t->p_metrics, &m));
        LMG_TRY(lmg_loss_svg(t->p_metrics, t->p_svg, "lmgraph training loss"));
    }
    lmg_train_event e;
    memset(&e, 0, sizeof e);
    e.kind = LMG_TRAIN_EVAL;
    e.step = step;
    e.steps = t->oc.steps;
    e.val_loss = r.loss;
    e.val_accuracy = acc;
    e.val_f1 = f1;
    e.best_val_loss = t->best_val;
    e.best_step = t->best_step;
    e.improved = improved;
    e.bad_evals = t->bad_evals;
    e.elapsed_s = el;
    e.n_terms = t->ev.terms.n;
    e.term_names = t->ev.terms.name;
    e.term_values = t->ev.terms.value;
    emit(t, &e);
    if (t->patience > 0 && t->bad_evals >= t->patience) *stop = 1;
    return LMG_OK;
}

static lmg_status run(trainer *t, lmg_train_result *res)
{
    const lmg_train_config *c = t->c;
    const char *dir = c->resume_dir ? c->resume_dir : c->out_dir;
    if (!dir) return lmg_error(LMG_ERR_ARG, "train: no run directory given");
    t->p_ckpt = lmg_path_join(dir, "checkpoint.safetensors");
    t->p_best = lmg_path_join(dir, "best.safetensors");
    t->p_metrics = lmg_path_join(dir, "metrics.jsonl");
    t->p_svg = lmg_path_join(dir, "loss.svg");
    if (!t->p_ckpt || !t->p_best || !t->p_metrics || !t->p_svg)
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    t->best_val = INFINITY;
    t->last_val = NAN;
    t->t_start = now_s();
    LMG_TRY(c->resume_dir ? setup_resume(t) : setup_fresh(t));
    LMG_TRY(open_data(t));
    LMG_TRY(build_eval_graph(&t->mc, t->mg, t->obj, t->obj_weight, t->tg, &t->eg));
    size_t maxb = 0;
    LMG_TRY(link_params(t->tg, t->eg, &t->links, &t->n_links, &maxb));
    t->pbuf = malloc(maxb ? maxb : 1);
    if (!t->pbuf) return lmg_error(LMG_ERR_NOMEM, "out of memory");

    t->b = lmg_backend_find(c->backend ? c->backend : "opencl");
    if (!t->b || !t->b->init)
        return lmg_error(LMG_ERR_NOT_FOUND, "backend '%s' is not available in this build",
                         c->backend ? c->backend : "opencl");
    lmg_exec_opts opts = {c->device, 0};
    info(t, "preparing the backend");
    LMG_TRY(t->b->init(t->tg, &opts, &t->te));
    LMG_TRY(evaluator_init(&t->ev, t->eg, t->b, &opts, 0));
    t->total = t->oc.steps;
    if (c->resume_dir) LMG_TRY(load_checkpoint(t));
    if (c->resume_dir && c->extend_to > t->total) {
        /* Asked for more steps: a run that had run out of patience may go on. */
        if (t->step_done >= t->total || (t->patience > 0 && t->bad_evals >= t->patience))
            t->bad_evals = 0;
        t->total = c->extend_to;
        info(t, "extending the run");
    }

    t->ids = lmg_graph_find(t->tg, "ids");
    t->targets = lmg_graph_find(t->tg, "targets");
    t->lr = lmg_graph_find(t->tg, "lr");
    t->step = lmg_graph_find(t->tg, "step");
    t->loss = lmg_graph_find(t->tg, "loss");
    t->gnorm = lmg_graph_find(t->tg, "grad_norm");
    t->labels = lmg_graph_find(t->tg, "labels");
    if (t->labels >= 0 && !t->ltrain)
        return lmg_error(LMG_ERR_DATA, "the objective has a 'sup' term but data folder '%s' "
                         "holds no labelled shards", t->data_dir);
    find_terms(t->tg, &t->terms);
    if (t->ids < 0 || t->lr < 0 || t->step < 0 || t->loss < 0 || t->gnorm < 0)
        return lmg_error(LMG_ERR_INVALID, "training graph lacks ids, lr, step, loss or grad_norm");
    int rows = (int)t->tg->values[t->ids].shape.dims[0], T = t->mc.seq;
    size_t n = (size_t)rows * T;
    /* Each step draws the global batch of R x rows rows; this rank trains on rows me*rows.. */
    int R = lmg_dist_size(), me = lmg_dist_rank();
    t->buf = malloc((size_t)R * rows * (T + 1) * 4);
    t->x = malloc(n * R * 4);
    t->y = malloc(n * 4);
    t->lb = malloc((size_t)R * rows * 4);
    if (!t->buf || !t->x || !t->y || !t->lb) return lmg_error(LMG_ERR_NOMEM, "out of memory");

    int64_t total = t->total;
    int stop = 0, early = 0, interrupted = 0, signalled = 0;
    /* A run that already ran out of patience stays stopped. */
    if (t->patience > 0 && t->bad_evals >= t->patience) stop = early = 1;
    double t_loop = now_s();
    float loss = NAN;
    while (t->step_done < total && !stop) {
        int asked = stop_signal != 0;
        LMG_TRY(lmg_parallel_agree(&asked));
        signalled |= asked;
        if (asked) {
            /* Asked before this step began (during setup): keep what there is. */
            interrupted = 1;
            LMG_TRY(save_checkpoint(t));
            break;
        }
        int64_t step = t->step_done + 1;
        double t0 = now_s();
        if (t->ltrain) {
            LMG_TRY(lmg_labshard_batch_random(t->ltrain, t->data_seed, (uint64_t)step, R * rows,
                                              t->x, t->lb));
            memmove(t->x, t->x + (size_t)me * n, n * 4);
            memmove(t->lb, t->lb + (size_t)me * rows, (size_t)rows * 4);
            lmg_rows_next_targets(t->x, rows, T, t->y);
        } else {
            LMG_TRY(lmg_shard_batch_random(t->train, t->data_seed, (uint64_t)step, R * rows, T,
                                           t->buf));
            split_windows(t->buf + (size_t)me * rows * (T + 1), rows, rows, T, t->x, t->y);
        }
        float lr = (float)lmg_lr_at(&t->oc, step);
        int32_t st = (int32_t)step;
        LMG_TRY(t->b->write(t->te, t->ids, t->x, n * 4));
        if (t->targets >= 0) LMG_TRY(t->b->write(t->te, t->targets, t->y, n * 4));
        if (t->labels >= 0) LMG_TRY(t->b->write(t->te, t->labels, t->lb, (size_t)rows * 4));
        LMG_TRY(t->b->write(t->te, t->lr, &lr, 4));
        LMG_TRY(t->b->write(t->te, t->step, &st, 4));
        LMG_TRY(t->b->run(t->te, (uint64_t)step));
        float gn;
        LMG_TRY(t->b->read(t->te, t->loss, &loss, 4));
        LMG_TRY(t->b->read(t->te, t->gnorm, &gn, 4));
        LMG_TRY(read_terms(t->b, t->te, &t->terms));
        /* The global batch's loss is the mean of the ranks' (equal shares of positions);
         * a stop asked of any rank stops them all after this step. */
        if (R > 1) {
            double acc[2 + MAX_TERMS] = {loss, stop_signal != 0 ? (double)R : 0.0};
            for (int k = 0; k < t->terms.n; k++) acc[2 + k] = t->terms.value[k];
            LMG_TRY(lmg_parallel_mean(acc, 2 + t->terms.n));
            loss = (float)acc[0];
            asked = acc[1] > 0;
            for (int k = 0; k < t->terms.n; k++) t->terms.value[k] = acc[2 + k];
        } else {
            asked = stop_signal != 0;
        }
        signalled |= asked;
        if (!isfinite(loss))
            return lmg_error(LMG_ERR_DATA, "step %lld: the loss is %g (diverged); try a lower "
                                           "learning rate",
                             (long long)step, (double)loss);
        double dt = now_s() - t0;
        t->step_done = step;
        t->steps_this_process++;
        t->step_time_total += dt;
        double el = t->elapsed_before + (now_s() - t->t_start);
        double tps = (double)t->steps_this_process * (double)n * R / t->step_time_total;
        lmg_metric m = {step, "train", loss, lr, gn, tps, el, 0, NAN, NAN,
                        t->terms.n, t->terms.name, t->terms.value};
        if (lmg_parallel_writer()) LMG_TRY(lmg_metrics_append(t->p_metrics, &m));
        lmg_train_event e;
        memset(&e, 0, sizeof e);
        e.kind = LMG_TRAIN_STEP;
        e.step = step;
        e.steps = total;
        e.loss = loss;
        e.lr = lr;
        e.grad_norm = gn;
        e.tokens_per_s = tps;
        e.elapsed_s = el;
        e.eta_s = (now_s() - t_loop) / (double)t->steps_this_process * (double)(total - step);
        e.best_val_loss = t->best_val;
        e.n_terms = t->terms.n;
        e.term_names = t->terms.name;
        e.term_values = t->terms.value;
        emit(t, &e);
        int do_eval = step == total || (t->eval_every > 0 && step % t->eval_every == 0);
        if (do_eval) {
            LMG_TRY(evaluate_val(t, step, &stop));
            early = stop;
        }
        if ((c->stop_at > 0 && step >= c->stop_at && step < total) || (asked && step < total)) {
            stop = 1;
            interrupted = 1;
        }
        if (do_eval || stop || step == total) LMG_TRY(save_checkpoint(t));
        if (t->best_pending) LMG_TRY(save_best(t));
    }
    if (lmg_parallel_writer() && file_exists(t->p_metrics)) LMG_TRY(lmg_loss_svg(t->p_metrics, t->p_svg, "lmgraph training loss"));
    res->step = t->step_done;
    res->best_step = t->best_step;
    res->best_val_loss = t->best_val;
    res->last_loss = loss;
    res->elapsed_s = t->elapsed_before + (now_s() - t->t_start);
    res->ms_per_step = t->steps_this_process ? 1e3 * t->step_time_total / t->steps_this_process : 0;
    res->tokens_per_s = t->step_time_total > 0
                            ? (double)t->steps_this_process * (double)n * R / t->step_time_total
                            : 0;
    res->early_stopped = early;
    res->interrupted = interrupted && signalled;
    lmg_train_event e;
    memset(&e, 0, sizeof e);
    e.kind = LMG_TRAIN_DONE;
    e.step = t->step_done;
    e.steps = total;
    e.loss = loss;
    e.best_val_loss = t->best_val;
    e.best_step = t->best_step;
    e.early_stop = early;
    e.elapsed_s = res->elapsed_s;
    e.tokens_per_s = res->tokens_per_s;
    e.message = early ? "stopped early: the validation loss stopped improving"
                : interrupted ? "stopped as asked, checkpoint written; resume to continue"
                              : "finished";
    emit(t, &e);
    return LMG_OK;
}

void lmg_train_request_stop(int sig) { stop_signal = sig > 0 ? sig : SIGINT; }

int lmg_train_stop_requested(void) { return stop_signal; }

void lmg_train_clear_stop(void) { stop_signal = 0; }

lmg_status lmg_train_run(const lmg_train_config *c, lmg_train_result *r)
{
    lmg_train_result dummy;
    if (!r) r = &dummy;
    memset(r, 0, sizeof *r);
    r->best_val_loss = INFINITY;
    r->last_val_loss = NAN;
    trainer t;
    memset(&t, 0, sizeof t);
    t.c = c;
    lmg_status s = run(&t, r);
    if (s == LMG_OK) r->last_val_loss = t.last_val;
    trainer_free(&t);
    return s;
}

/* ---- evaluation of a finished run --------------------------------------------------- */

lmg_status lmg_eval_run(const char *run_dir, const char *checkpoint, const char *split,
                        const char *backend, const char *device, int max_batches,
                        lmg_eval_result *r)
{
    int sp = -1;
    for (int i = 0; i < LMG_SPLIT_COUNT; i++)
        if (split && strcmp(split, lmg_split_name((lmg_split)i)) == 0) sp = i;
    if (sp < 0)
        return lmg_error(LMG_ERR_ARG, "split '%s' is not train, val or test", split ? split : "");
    lmg_graph *tg = NULL, *obj = NULL, *eg = NULL;
    lmg_model_config mc;
    char *data_dir = NULL, *ck = NULL, *shp = NULL, *tokp = NULL;
    lmg_shard *sh = NULL;
    lmg_bpe *tok = NULL;
    evaluator ev;
    memset(&ev, 0, sizeof ev);
    lmg_status s = lmg_run_open(run_dir, &tg, &mc, &data_dir, &obj);
    double w = 1.0;
    if (s == LMG_OK && meta_num(tg, "train.objective_weight", &w) != LMG_OK) {
        w = 1.0;
        lmg_error_clear();
    }
    lmg_graph *mg = NULL;
    if (s == LMG_OK) s = load_model_graph(run_dir, &mg);
    if (s == LMG_OK) s = build_eval_graph(&mc, mg, obj, w, tg, &eg);
    lmg_graph_free(mg);
    if (s == LMG_OK) {
        if (checkpoint) ck = strdup(checkpoint);
        else {
            ck = lmg_path_join(run_dir, "best.safetensors");
            if (ck && !file_exists(ck)) {
                free(ck);
                ck = lmg_path_join(run_dir, "checkpoint.safetensors");
            }
        }
        char name[32];
        snprintf(name, sizeof name, "%s.tok", split);
        shp = lmg_path_join(data_dir, name);
        tokp = lmg_path_join(data_dir, "tok.bpe");
        if (!ck || !shp || !tokp) s = lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    if (s == LMG_OK) s = lmg_bpe_load(tokp, &tok);
    if (s == LMG_OK) s = lmg_shard_open(shp, tok, &sh);
    const lmg_backend *b = lmg_backend_find(backend ? backend : "opencl");
    if (s == LMG_OK && (!b || !b->init))
        s = lmg_error(LMG_ERR_NOT_FOUND, "backend '%s' is not available", backend ? backend : "opencl");
    lmg_exec_opts opts = {device, 0};
    if (s == LMG_OK)
        s = evaluator_init(&ev, eg, b, &opts,
                           lmg_graph_find(eg, "mlm/targets") >= 0 || lmg_graph_find(eg, "targets") >= 0);
    if (s == LMG_OK) s = lmg_checkpoint_load(ck, eg, b, ev.e, 0);
    if (s == LMG_OK) s = evaluate(&ev, sh, max_batches, r);
    evaluator_free(&ev);
    lmg_shard_free(sh);
    lmg_bpe_free(tok);
    free(ck);
    free(shp);
    free(tokp);
    free(data_dir);
    lmg_graph_free(eg);
    lmg_graph_free(obj);
    lmg_graph_free(tg);
    return s;
}
