/* finetune.c — what fine-tuning adds to the trainer: pretrained parameters by name, frozen
 * bodies carried into evaluation graphs, labelled shards and batches, and predictions. */
#include "classify.h"
#include "../backends/backend.h"
#include "../graph/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IGNORE_INDEX (-100)

lmg_status lmg_params_init_from(lmg_graph *g, const char *path, int freeze, int *n_loaded)
{
    lmg_st_file *f;
    LMG_TRY(lmg_st_open(path, &f));
    lmg_status s = LMG_OK;
    int loaded = 0;
    for (int v = 0; v < g->n_values && s == LMG_OK; v++) {
        lmg_value *x = &g->values[v];
        if (x->kind != LMG_VALUE_INIT || !x->trainable) continue;
        lmg_dtype t;
        lmg_shape sh;
        const void *data;
        size_t n;
        if (lmg_st_find(f, x->name, &t, &sh, &data, &n) != LMG_OK) {
            lmg_error_clear();
            continue; /* a new parameter (the head): keeps its initialisation */
        }
        if (t != x->dtype || !lmg_shape_equal(&sh, &x->shape)) {
            char a[128], b[128];
            s = lmg_error(LMG_ERR_INVALID, "%s: parameter '%s' is %s%s, the model wants %s%s",
                          path, x->name, lmg_dtype_name(t), lmg_shape_str(&sh, a, sizeof a),
                          lmg_dtype_name(x->dtype), lmg_shape_str(&x->shape, b, sizeof b));
            break;
        }
        void *copy = malloc(n ? n : 1);
        if (!copy) {
            s = lmg_error(LMG_ERR_NOMEM, "out of memory loading '%s'", x->name);
            break;
        }
        memcpy(copy, data, n);
        free(x->data);
        x->data = copy;
        x->fill = LMG_INIT_DATA;
        if (freeze) x->trainable = 0;
        loaded++;
    }
    lmg_st_close(f);
    LMG_TRY(s);
    if (loaded == 0)
        return lmg_error(LMG_ERR_INVALID, "%s holds none of the model's parameters: not a "
                         "pretrained model of this architecture", path);
    if (n_loaded) *n_loaded = loaded;
    return LMG_OK;
}

lmg_status lmg_graph_adopt_frozen(lmg_graph *dst, const lmg_graph *src)
{
    for (int v = 0; v < dst->n_values; v++) {
        lmg_value *x = &dst->values[v];
        if (x->kind != LMG_VALUE_INIT || !x->trainable) continue;
        int sv = lmg_graph_find(src, x->name);
        if (sv < 0) continue;
        const lmg_value *y = &src->values[sv];
        if (y->kind != LMG_VALUE_INIT || y->trainable) continue;
        if (y->dtype != x->dtype || !lmg_shape_equal(&y->shape, &x->shape))
            return lmg_error(LMG_ERR_INVALID, "frozen parameter '%s' differs in shape", x->name);
        size_t n = (size_t)lmg_shape_numel(&x->shape) * lmg_dtype_size(x->dtype);
        void *copy = NULL;
        if (y->fill == LMG_INIT_DATA && y->data) {
            copy = malloc(n ? n : 1);
            if (!copy) return lmg_error(LMG_ERR_NOMEM, "out of memory");
            memcpy(copy, y->data, n);
        }
        free(x->data);
        x->data = copy;
        x->fill = copy ? LMG_INIT_DATA : LMG_INIT_ZEROS;
        x->trainable = 0;
    }
    return LMG_OK;
}

int lmg_labelled_data_dir(const char *data_dir)
{
    char *p = lmg_path_join(data_dir, "train.lab");
    int yes = p && access(p, F_OK) == 0;
    free(p);
    return yes;
}

lmg_status lmg_labelled_open_data(const char *data_dir, const lmg_model_config *mc,
                                  lmg_labshard **train, lmg_labshard **val)
{
    *train = *val = NULL;
    char *tp = lmg_path_join(data_dir, "tok.bpe"), *trp = lmg_path_join(data_dir, "train.lab"),
         *vp = lmg_path_join(data_dir, "val.lab");
    lmg_bpe *tok = NULL;
    lmg_status s = tp && trp && vp ? LMG_OK : lmg_error(LMG_ERR_NOMEM, "out of memory");
    if (s == LMG_OK) s = lmg_bpe_load(tp, &tok);
    if (s == LMG_OK && lmg_bpe_vocab_size(tok) > mc->vocab)
        s = lmg_error(LMG_ERR_DATA, "%s has %d ids but the model's vocabulary is %d", tp,
                      lmg_bpe_vocab_size(tok), mc->vocab);
    if (s == LMG_OK) s = lmg_labshard_open(trp, tok, train);
    if (s == LMG_OK) s = lmg_labshard_open(vp, tok, val);
    for (int i = 0; i < 2 && s == LMG_OK; i++) {
        lmg_labshard *sh = i ? *val : *train;
        if (lmg_labshard_seq(sh) != mc->seq)
            s = lmg_error(LMG_ERR_DATA, "%s has rows of %d ids, the model reads %d",
                          lmg_labshard_path(sh), lmg_labshard_seq(sh), mc->seq);
        else if (lmg_labshard_n_classes(sh) != mc->n_classes)
            s = lmg_error(LMG_ERR_DATA, "%s has %d classes, the model's head %d",
                          lmg_labshard_path(sh), lmg_labshard_n_classes(sh), mc->n_classes);
        else if (lmg_labshard_n_docs(sh) < 1)
            s = lmg_error(LMG_ERR_DATA, "%s holds no document", lmg_labshard_path(sh));
    }
    if (s != LMG_OK) {
        lmg_labshard_free(*train);
        lmg_labshard_free(*val);
        *train = *val = NULL;
    }
    lmg_bpe_free(tok);
    free(tp);
    free(trp);
    free(vp);
    return s;
}

void lmg_rows_next_targets(const int32_t *ids, int B, int T, int32_t *targets)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            size_t k = (size_t)b * T + t;
            targets[k] = t + 1 < T && ids[k + 1] != LMG_TOK_PAD ? ids[k + 1] : IGNORE_INDEX;
        }
}

void lmg_cls_predictions_free(lmg_cls_predictions *p)
{
    if (!p) return;
    free(p->labels);
    free(p->pred);
    free(p->probs);
    memset(p, 0, sizeof *p);
}

lmg_status lmg_cls_predict(const lmg_backend *b, lmg_exec *e, const lmg_graph *g,
                           const lmg_labshard *sh, int max_batches, lmg_cls_predictions *out)
{
    memset(out, 0, sizeof *out);
    int ids = lmg_graph_find(g, "ids"), labels = lmg_graph_find(g, "labels"),
        targets = lmg_graph_find(g, "targets"), loss = lmg_graph_find(g, "loss"),
        cl = lmg_graph_find(g, "class_logits");
    if (ids < 0 || cl < 0)
        return lmg_error(LMG_ERR_INVALID, "graph '%s' has no 'ids' or 'class_logits': not a "
                         "classifier", g->name ? g->name : "");
    int B = (int)g->values[ids].shape.dims[0], T = (int)g->values[ids].shape.dims[1];
    int K = (int)g->values[cl].shape.dims[1];
    if (T != lmg_labshard_seq(sh) || K != lmg_labshard_n_classes(sh))
        return lmg_error(LMG_ERR_DATA, "%s has rows of %d ids and %d classes; the model %d and %d",
                         lmg_labshard_path(sh), lmg_labshard_seq(sh),
                         lmg_labshard_n_classes(sh), T, K);
    int64_t n = lmg_labshard_n_docs(sh), nb = (n + B - 1) / B;
    if (max_batches > 0 && nb > max_batches) nb = max_batches;
    int64_t cap = nb * B;
    size_t rows = (size_t)B * T;
    int32_t *x = malloc(rows * 4), *y = malloc(rows * 4), *lb = malloc((size_t)B * 4);
    float *lg = malloc((size_t)B * K * 4);
    out->labels = malloc((size_t)(cap ? cap : 1) * 4);
    out->pred = malloc((size_t)(cap ? cap : 1) * 4);
    out->probs = malloc((size_t)(cap ? cap : 1) * K * 4);
    lmg_status s = x && y && lb && lg && out->labels && out->pred && out->probs
                       ? LMG_OK
                       : lmg_error(LMG_ERR_NOMEM, "out of memory for predictions");
    int term_id[LMG_CLS_MAX_TERMS];
    double term_sum[LMG_CLS_MAX_TERMS] = {0};
    for (int i = 0; i < g->n_outputs && out->n_terms < LMG_CLS_MAX_TERMS; i++) {
        const lmg_value *v = &g->values[g->outputs[i]];
        if (strncmp(v->name, "loss/", 5) == 0 && v->dtype == LMG_DTYPE_F32 &&
            lmg_shape_numel(&v->shape) == 1)
            term_id[out->n_terms++] = g->outputs[i];
    }
    double lsum = 0, lcnt = 0;
    int64_t m = 0;
    for (int64_t i = 0; i < nb && s == LMG_OK; i++) {
        int real;
        s = lmg_labshard_batch_seq(sh, i * B, B, x, lb, &real);
        if (s == LMG_OK) s = b->write(e, ids, x, rows * 4);
        if (s == LMG_OK && labels >= 0) s = b->write(e, labels, lb, (size_t)B * 4);
        if (s == LMG_OK && targets >= 0) {
            lmg_rows_next_targets(x, B, T, y);
            s = b->write(e, targets, y, rows * 4);
        }
        if (s == LMG_OK) s = b->run(e, (uint64_t)(i + 1));
        if (s == LMG_OK) s = b->read(e, cl, lg, (size_t)B * K * 4);
        if (s == LMG_OK && loss >= 0) {
            float l;
            s = b->read(e, loss, &l, 4);
            lsum += (double)l * real;
            lcnt += real;
        }
        for (int k = 0; k < out->n_terms && s == LMG_OK; k++) {
            float l;
            s = b->read(e, term_id[k], &l, 4);
            term_sum[k] += (double)l * real;
        }
        for (int r = 0; r < real && s == LMG_OK; r++, m++) {
            const float *row = lg + (size_t)r * K;
            int best = 0;
            for (int k = 1; k < K; k++)
                if (row[k] > row[best]) best = k;
            double z = 0;
            for (int k = 0; k < K; k++) z += exp((double)row[k] - row[best]);
            for (int k = 0; k < K; k++)
                out->probs[m * K + k] = (float)(exp((double)row[k] - row[best]) / z);
            out->labels[m] = lb[r];
            out->pred[m] = best;
        }
    }
    free(x);
    free(y);
    free(lb);
    free(lg);
    out->n = m;
    out->K = K;
    out->loss = lcnt > 0 ? lsum / lcnt : NAN;
    for (int k = 0; k < out->n_terms; k++) out->term[k] = m > 0 ? term_sum[k] / (double)m : NAN;
    if (s != LMG_OK) lmg_cls_predictions_free(out);
    return s;
}
