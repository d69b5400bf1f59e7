/* report.c — the classification report (per-class precision, recall, F1 and support,
 * accuracy, macro and weighted averages, majority baseline, confusion matrix) as numbers,
 * report.json and confusion.svg, and a trained classifier run loaded for predictions. */
#include "classify.h"
#include "../backends/backend.h"
#include "../graph/sbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void lmg_cls_report_free(lmg_cls_report *r)
{
    if (!r) return;
    free(r->precision);
    free(r->recall);
    free(r->f1);
    free(r->support);
    free(r->confusion);
    memset(r, 0, sizeof *r);
}

/* Macro F1 of predicting class `c` for every document, from the supports alone. */
static double constant_macro_f1(const int64_t *support, int K, int64_t n, int c)
{
    /* Only class c has predictions: precision support[c]/n, recall 1. */
    if (n == 0 || support[c] == 0) return 0.0;
    double p = (double)support[c] / (double)n;
    return 2 * p / (p + 1) / K;
}

lmg_status lmg_cls_report_compute(const int32_t *y, const int32_t *pred, int64_t n, int K,
                                  int majority, lmg_cls_report *r)
{
    memset(r, 0, sizeof *r);
    if (K < 1 || majority < 0 || majority >= K)
        return lmg_error(LMG_ERR_ARG, "report: %d classes, majority class %d", K, majority);
    r->K = K;
    r->n = n;
    r->majority = majority;
    r->precision = calloc((size_t)K, sizeof *r->precision);
    r->recall = calloc((size_t)K, sizeof *r->recall);
    r->f1 = calloc((size_t)K, sizeof *r->f1);
    r->support = calloc((size_t)K, sizeof *r->support);
    r->confusion = calloc((size_t)K * K, sizeof *r->confusion);
    if (!r->precision || !r->recall || !r->f1 || !r->support || !r->confusion) {
        lmg_cls_report_free(r);
        return lmg_error(LMG_ERR_NOMEM, "out of memory for the report");
    }
    int64_t hits = 0;
    for (int64_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= K || pred[i] < 0 || pred[i] >= K) {
            lmg_status s = lmg_error(LMG_ERR_ARG, "report: document %lld has label %d, "
                                     "prediction %d of %d classes", (long long)i, y[i], pred[i], K);
            lmg_cls_report_free(r);
            return s;
        }
        r->confusion[(size_t)y[i] * K + pred[i]]++;
        r->support[y[i]]++;
        hits += y[i] == pred[i];
    }
    r->accuracy = n ? (double)hits / (double)n : 0.0;
    for (int c = 0; c < K; c++) {
        int64_t tp = r->confusion[(size_t)c * K + c], predicted = 0;
        for (int k = 0; k < K; k++) predicted += r->confusion[(size_t)k * K + c];
        r->precision[c] = predicted ? (double)tp / (double)predicted : 0.0;
        r->recall[c] = r->support[c] ? (double)tp / (double)r->support[c] : 0.0;
        double pr = r->precision[c] + r->recall[c];
        r->f1[c] = pr > 0 ? 2 * r->precision[c] * r->recall[c] / pr : 0.0;
        r->macro_precision += r->precision[c] / K;
        r->macro_recall += r->recall[c] / K;
        r->macro_f1 += r->f1[c] / K;
        double w = n ? (double)r->support[c] / (double)n : 0.0;
        r->weighted_precision += w * r->precision[c];
        r->weighted_recall += w * r->recall[c];
        r->weighted_f1 += w * r->f1[c];
    }
    r->majority_accuracy = n ? (double)r->support[majority] / (double)n : 0.0;
    r->majority_macro_f1 = constant_macro_f1(r->support, K, n, majority);
    return LMG_OK;
}

/* ---- report.json ------------------------------------------------------------------- */

static void json_str(lmg_sbuf *b, const char *s)
{
    lmg_sbuf_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') lmg_sbuf_printf(b, "\\%c", *p);
        else if (*p < 0x20) lmg_sbuf_printf(b, "\\u%04x", *p);
        else lmg_sbuf_printf(b, "%c", *p);
    }
    lmg_sbuf_printf(b, "\"");
}

lmg_status lmg_cls_report_save_json(const lmg_cls_report *r, const char *const *names,
                                    const char *split, const char *path)
{
    lmg_sbuf b = {0};
    lmg_sbuf_printf(&b, "{\n  \"split\": ");
    json_str(&b, split);
    lmg_sbuf_printf(&b, ",\n  \"documents\": %lld,\n  \"classes\": [", (long long)r->n);
    for (int c = 0; c < r->K; c++) {
        lmg_sbuf_printf(&b, "%s\n    {\"name\": ", c ? "," : "");
        json_str(&b, names[c]);
        lmg_sbuf_printf(&b, ", \"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f, "
                            "\"support\": %lld}",
                        r->precision[c], r->recall[c], r->f1[c], (long long)r->support[c]);
    }
    lmg_sbuf_printf(&b, "\n  ],\n  \"accuracy\": %.6f,\n", r->accuracy);
    lmg_sbuf_printf(&b, "  \"macro_avg\": {\"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f},\n",
                    r->macro_precision, r->macro_recall, r->macro_f1);
    lmg_sbuf_printf(&b, "  \"weighted_avg\": {\"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f},\n",
                    r->weighted_precision, r->weighted_recall, r->weighted_f1);
    lmg_sbuf_printf(&b, "  \"majority_baseline\": {\"class\": ");
    json_str(&b, names[r->majority]);
    lmg_sbuf_printf(&b, ", \"accuracy\": %.6f, \"macro_f1\": %.6f},\n", r->majority_accuracy,
                    r->majority_macro_f1);
    lmg_sbuf_printf(&b, "  \"confusion\": [");
    for (int i = 0; i < r->K; i++) {
        lmg_sbuf_printf(&b, "%s\n    [", i ? "," : "");
        for (int j = 0; j < r->K; j++)
            lmg_sbuf_printf(&b, "%s%lld", j ? ", " : "", (long long)r->confusion[(size_t)i * r->K + j]);
        lmg_sbuf_printf(&b, "]");
    }
    lmg_sbuf_printf(&b, "\n  ]\n}\n");
    lmg_status s = b.oom ? lmg_error(LMG_ERR_NOMEM, "out of memory writing '%s'", path)
                         : lmg_write_file_atomic(path, b.s, b.n);
    free(b.s);
    return s;
}

/* ---- confusion.svg ----------------------------------------------------------------- */

static void xml_str(lmg_sbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') lmg_sbuf_printf(b, "&lt;");
        else if (*s == '>') lmg_sbuf_printf(b, "&gt;");
        else if (*s == '&') lmg_sbuf_printf(b, "&amp;");
        else if (*s == '"') lmg_sbuf_printf(b, "&quot;");
        else if ((unsigned char)*s >= 0x20) lmg_sbuf_printf(b, "%c", *s);
    }
}

lmg_status lmg_cls_confusion_svg(const lmg_cls_report *r, const char *const *names,
                                 const char *title,
                                 const char *path)
{
    int K = r->K, cell = K > 20 ? 18 : 36, left = 150, top = 60, labh = 150;
    int w = left + K * cell + 20, h = top + K * cell + labh;
    lmg_sbuf b = {0};
    lmg_sbuf_printf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                        "font-family=\"sans-serif\" font-size=\"11\">\n", w, h);
    lmg_sbuf_printf(&b, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", w, h);
    lmg_sbuf_printf(&b, "<text x=\"%d\" y=\"20\" font-size=\"14\">", left);
    xml_str(&b, title);
    lmg_sbuf_printf(&b, "</text>\n<text x=\"%d\" y=\"40\">rows: true class, columns: predicted; "
                        "shade: share of the row</text>\n", left);
    for (int i = 0; i < K; i++) {
        int64_t row = 0;
        for (int j = 0; j < K; j++) row += r->confusion[(size_t)i * K + j];
        lmg_sbuf_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 4,
                        top + i * cell + cell / 2 + 4);
        xml_str(&b, names[i]);
        lmg_sbuf_printf(&b, "</text>\n");
        for (int j = 0; j < K; j++) {
            int64_t v = r->confusion[(size_t)i * K + j];
            double f = row ? (double)v / (double)row : 0.0;
            int shade = 255 - (int)(f * 200);
            lmg_sbuf_printf(&b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                                "fill=\"rgb(%d,%d,255)\" stroke=\"#ccc\"><title>%lld</title></rect>\n",
                            left + j * cell, top + i * cell, cell, cell, shade, shade, (long long)v);
            if (v && cell >= 18)
                lmg_sbuf_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
                                    "font-size=\"%d\">%lld</text>\n",
                                left + j * cell + cell / 2, top + i * cell + cell / 2 + 4,
                                cell > 20 ? 11 : 8, (long long)v);
        }
    }
    for (int j = 0; j < K; j++) {
        int x = left + j * cell + cell / 2 + 4, y = top + K * cell + 6;
        lmg_sbuf_printf(&b, "<text x=\"%d\" y=\"%d\" transform=\"rotate(90 %d %d)\">", x, y, x, y);
        xml_str(&b, names[j]);
        lmg_sbuf_printf(&b, "</text>\n");
    }
    lmg_sbuf_printf(&b, "</svg>\n");
    lmg_status s = b.oom ? lmg_error(LMG_ERR_NOMEM, "out of memory writing '%s'", path)
                         : lmg_write_file_atomic(path, b.s, b.n);
    free(b.s);
    return s;
}

/* ---- a classifier run ----------------------------------------------------------------- */

struct lmg_classifier {
    lmg_graph *tg, *g;
    lmg_model_config mc;
    char *data_dir;
    const lmg_backend *b;
    lmg_exec *e;
    lmg_bpe *tok;
    char **names;
    size_t *counts;
    int n_names;
};

void lmg_classifier_free(lmg_classifier *c)
{
    if (!c) return;
    if (c->e) c->b->free(c->e);
    lmg_graph_free(c->g);
    lmg_graph_free(c->tg);
    free(c->data_dir);
    lmg_bpe_free(c->tok);
    lmg_label_map_free(c->names, c->n_names);
    free(c->counts);
    free(c);
}

static lmg_status open_classifier(lmg_classifier *c, const char *run_dir, const char *checkpoint,
                                  const char *backend, const char *device, int batch)
{
    LMG_TRY(lmg_run_open(run_dir, &c->tg, &c->mc, &c->data_dir, NULL));
    if (c->mc.n_classes <= 0)
        return lmg_error(LMG_ERR_ARG, "run '%s' is not a classifier (its model has no "
                         "classification head; make one with lmg finetune)", run_dir);
    char *p = lmg_path_join(c->data_dir, "labels.tsv");
    if (!p) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status s = lmg_label_map_load(p, &c->names, &c->n_names, &c->counts);
    free(p);
    LMG_TRY(s);
    if (c->n_names != c->mc.n_classes)
        return lmg_error(LMG_ERR_DATA, "%s/labels.tsv has %d classes, the model %d", c->data_dir,
                         c->n_names, c->mc.n_classes);
    p = lmg_path_join(c->data_dir, "tok.bpe");
    if (!p) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    s = lmg_bpe_load(p, &c->tok);
    free(p);
    LMG_TRY(s);
    lmg_model_config mc = c->mc;
    mc.objective = "none";
    mc.dropout = 0.0;
    mc.micro_batches = 1;
    if (batch > 0) mc.batch = batch;
    LMG_TRY(lmg_model_build(&mc, &c->g));
    LMG_TRY(lmg_graph_adopt_frozen(c->g, c->tg));
    LMG_TRY(lmg_graph_verify(c->g));
    c->b = lmg_backend_find(backend ? backend : "opencl");
    if (!c->b || !c->b->init)
        return lmg_error(LMG_ERR_NOT_FOUND, "backend '%s' is not available",
                         backend ? backend : "opencl");
    lmg_exec_opts opts = {device, 0};
    LMG_TRY(c->b->init(c->g, &opts, &c->e));
    char *ck = checkpoint ? strdup(checkpoint) : lmg_path_join(run_dir, "best.safetensors");
    if (ck && !checkpoint && access(ck, F_OK) != 0) {
        free(ck);
        ck = lmg_path_join(run_dir, "checkpoint.safetensors");
    }
    if (!ck) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    s = lmg_checkpoint_load(ck, c->g, c->b, c->e, 0);
    free(ck);
    return s;
}

lmg_status lmg_classifier_open(const char *run_dir, const char *checkpoint, const char *backend,
                               const char *device, int batch, lmg_classifier **out)
{
    *out = NULL;
    lmg_classifier *c = calloc(1, sizeof *c);
    if (!c) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status s = open_classifier(c, run_dir, checkpoint, backend, device, batch);
    if (s != LMG_OK) {
        lmg_classifier_free(c);
        return s;
    }
    *out = c;
    return LMG_OK;
}

int lmg_classifier_n_classes(const lmg_classifier *c) { return c->n_names; }
const char *lmg_classifier_class(const lmg_classifier *c, int k)
{
    return k >= 0 && k < c->n_names ? c->names[k] : NULL;
}
const char *lmg_classifier_data_dir(const lmg_classifier *c) { return c->data_dir; }

lmg_status lmg_classifier_texts(lmg_classifier *c, const char *const *texts, int n, float *probs)
{
    int ids = lmg_graph_find(c->g, "ids"), cl = lmg_graph_find(c->g, "class_logits");
    int B = (int)c->g->values[ids].shape.dims[0], T = c->mc.seq, K = c->n_names;
    int32_t *x = malloc((size_t)B * T * 4);
    float *lg = malloc((size_t)B * K * 4);
    lmg_status s = x && lg ? LMG_OK : lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (int i0 = 0; i0 < n && s == LMG_OK; i0 += B) {
        int rows = n - i0 < B ? n - i0 : B;
        for (int r = 0; r < B && s == LMG_OK; r++) {
            const char *t = r < rows ? texts[i0 + r] : "";
            s = lmg_labelled_encode_row(c->tok, t, strlen(t), T, x + (size_t)r * T, NULL);
        }
        if (s == LMG_OK) s = c->b->write(c->e, ids, x, (size_t)B * T * 4);
        if (s == LMG_OK) s = c->b->run(c->e, 1);
        if (s == LMG_OK) s = c->b->read(c->e, cl, lg, (size_t)B * K * 4);
        for (int r = 0; r < rows && s == LMG_OK; r++) {
            const float *row = lg + (size_t)r * K;
            float mx = row[0];
            for (int k = 1; k < K; k++) mx = row[k] > mx ? row[k] : mx;
            double z = 0;
            for (int k = 0; k < K; k++) z += exp((double)row[k] - mx);
            for (int k = 0; k < K; k++)
                probs[(size_t)(i0 + r) * K + k] = (float)(exp((double)row[k] - mx) / z);
        }
    }
    free(x);
    free(lg);
    return s;
}

lmg_status lmg_classifier_report(lmg_classifier *c, const char *split, int max_batches,
                                 lmg_cls_report *r, lmg_cls_predictions *preds)
{
    if (!split || (strcmp(split, "train") && strcmp(split, "val") && strcmp(split, "test")))
        return lmg_error(LMG_ERR_ARG, "split '%s' is not train, val or test", split ? split : "");
    char name[32];
    snprintf(name, sizeof name, "%s.lab", split);
    char *p = lmg_path_join(c->data_dir, name);
    if (!p) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_labshard *sh = NULL;
    lmg_status s = lmg_labshard_open(p, c->tok, &sh);
    free(p);
    LMG_TRY(s);
    lmg_cls_predictions pr;
    s = lmg_cls_predict(c->b, c->e, c->g, sh, max_batches, &pr);
    lmg_labshard_free(sh);
    LMG_TRY(s);
    int majority = 0;
    for (int k = 1; k < c->n_names; k++)
        if (c->counts[(size_t)k * LMG_SPLIT_COUNT] > c->counts[(size_t)majority * LMG_SPLIT_COUNT])
            majority = k;
    s = lmg_cls_report_compute(pr.labels, pr.pred, pr.n, c->n_names, majority, r);
    if (s == LMG_OK && preds) *preds = pr;
    else lmg_cls_predictions_free(&pr);
    return s;
}
