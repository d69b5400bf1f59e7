/* test_classify.c — classification end to end on the ref backend: labelled data (stratified
 * splits, label map round trip, truncation counts, hostile TSV/JSONL), gradients of the head
 * and of pooling with padding (padding gets exactly zero), the report against hand-computed
 * figures, a fine-tune on three topics classes beating twice chance, report = predictions,
 * bit-exact resume, mlm+sup mixing, and extending a finished run. */
#include "../train/classify.h"
#include "../backends/backend.h"
#include "../graph/safetensors.h"
#include "../text/labels.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp[256];
static char tok_path[300];
static const char *const CLASSES = "definitions,songs-poems,zippy";

static void path(char *buf, size_t n, const char *a, const char *b)
{
    snprintf(buf, n, "%s/%s", a, b);
}

static int write_text(const char *p, const char *text)
{
    FILE *f = fopen(p, "wb");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

/* ---- labelled data ------------------------------------------------------------------ */

static void test_split_and_map(lmg_bpe *tok)
{
    test_begin("labelled data: stratified split proportions, label map round trip, truncation");
    lmg_labelled *l = NULL;
    lmg_status s = lmg_labelled_read("topics", 50, CLASSES, &l);
    CHECK(s == LMG_OK, "read: %s", lmg_last_error());
    if (s != LMG_OK) return test_end();
    CHECK(l->n_classes == 3 && strcmp(l->classes[0], "definitions") == 0 &&
              strcmp(l->classes[2], "zippy") == 0,
          "classes %d", l->n_classes);
    size_t n = l->docs->n_docs;
    uint8_t *w1 = malloc(n), *w2 = malloc(n);
    CHECK(lmg_labelled_split(l, 7, 0.1, 0.2, w1) == LMG_OK, "split");
    CHECK(lmg_labelled_split(l, 7, 0.1, 0.2, w2) == LMG_OK && memcmp(w1, w2, n) == 0,
          "the same seed gives another split");
    for (int c = 0; c < 3; c++) {
        size_t cnt[3] = {0}, m = 0;
        for (size_t i = 0; i < n; i++)
            if (l->label[i] == c) cnt[w1[i]]++, m++;
        size_t wt = (size_t)(m * 0.2 + 0.5), wv = (size_t)(m * 0.1 + 0.5);
        CHECK(cnt[LMG_SPLIT_TEST] == wt && cnt[LMG_SPLIT_VAL] == wv &&
                  cnt[LMG_SPLIT_TRAIN] == m - wt - wv,
              "class %d: %zu docs split %zu/%zu/%zu", c, m, cnt[0], cnt[1], cnt[2]);
    }
    CHECK(lmg_labelled_split(l, 8, 0.1, 0.2, w2) == LMG_OK && memcmp(w1, w2, n) != 0,
          "another seed gives the same split");
    /* Truncation: count the documents longer than T-2 tokens by hand. */
    int T = 24;
    size_t want_trunc[3] = {0};
    for (size_t i = 0; i < n; i++) {
        lmg_tokens tk = {0};
        lmg_bpe_encode(tok, l->docs->data + l->docs->doc_off[i],
                       l->docs->doc_off[i + 1] - l->docs->doc_off[i], &tk);
        want_trunc[w1[i]] += tk.n > (size_t)T - 2;
        lmg_tokens_free(&tk);
    }
    char dir[400];
    path(dir, sizeof dir, tmp, "lab24");
    lmg_labelled_stats st;
    s = lmg_labelled_prepare(l, tok, T, dir, 7, 0.1, 0.2, &st);
    CHECK(s == LMG_OK, "prepare: %s", lmg_last_error());
    if (s == LMG_OK) {
        for (int sp = 0; sp < 3; sp++)
            CHECK(st.truncated[sp] == want_trunc[sp], "split %d: %zu truncated, want %zu", sp,
                  st.truncated[sp], want_trunc[sp]);
        char p[500];
        path(p, sizeof p, dir, "labels.tsv");
        char **names;
        int k;
        size_t *counts;
        s = lmg_label_map_load(p, &names, &k, &counts);
        CHECK(s == LMG_OK && k == 3, "map: %s", lmg_last_error());
        for (int c = 0; s == LMG_OK && c < 3; c++) {
            CHECK(strcmp(names[c], l->classes[c]) == 0, "class %d is '%s'", c, names[c]);
            for (int sp = 0; sp < 3; sp++)
                CHECK(counts[c * 3 + sp] == st.class_docs[c * 3 + sp], "count %d/%d", c, sp);
        }
        if (s == LMG_OK) lmg_label_map_free(names, k), free(counts);
        path(p, sizeof p, dir, "test.lab");
        lmg_labshard *sh;
        s = lmg_labshard_open(p, tok, &sh);
        CHECK(s == LMG_OK, "open: %s", lmg_last_error());
        if (s == LMG_OK) {
            CHECK(lmg_labshard_truncated(sh) == (int64_t)want_trunc[LMG_SPLIT_TEST], "header");
            /* Rows: <cls> first, <eos> before padding, labels as in the map. */
            const int32_t *ids = lmg_labshard_ids(sh);
            int bad = 0;
            for (int64_t d = 0; d < lmg_labshard_n_docs(sh); d++) {
                const int32_t *r = ids + d * T;
                int last = T - 1;
                while (r[last] == LMG_TOK_PAD) last--;
                bad |= r[0] != LMG_TOK_CLS || r[last] != LMG_TOK_EOS;
            }
            CHECK(!bad, "a row is not <cls> ... <eos> <pad>...");
            lmg_labshard_free(sh);
        }
        /* Nothing is overwritten. */
        s = lmg_labelled_prepare(l, tok, T, dir, 7, 0.1, 0.2, NULL);
        CHECK(s == LMG_ERR_ARG && strstr(lmg_last_error(), "already exists"), "overwrite: %s",
              lmg_last_error());
        lmg_labelled_stats_free(&st);
    }
    free(w1);
    free(w2);
    lmg_labelled_free(l);
    test_end();
}

static void test_hostile_files(void)
{
    test_begin("labelled data: TSV and JSONL parsing, hostile lines named by file and line");
    static const struct {
        const char *name, *text, *want;
    } cases[] = {
        {"ok.tsv", "a\thello\n\nb\tworld\twith tab\r\na\tagain\n", NULL},
        {"ok.jsonl", "{\"text\": \"caf\\u00e9 \\\"q\\\"\", \"label\": \"x\", \"id\": [1, {\"a\": 2}]}\n"
                     "  \n{\"label\": 3, \"text\": \"\\ud83d\\ude00\"}\n", NULL},
        {"notab.tsv", "a\thello\nno tab here\n", "notab.tsv:2: no tab"},
        {"emptylabel.tsv", "a\thello\n\tworld\n", "emptylabel.tsv:2: empty label"},
        {"emptytext.tsv", "a\thello\nb\t  \n", "emptytext.tsv:2: empty text"},
        {"notobj.jsonl", "{\"text\": \"a\", \"label\": \"b\"}\n[1, 2]\n", "notobj.jsonl:2: not a JSON object"},
        {"nolabel.jsonl", "{\"text\": \"a\"}\n", "nolabel.jsonl:1: no \"label\""},
        {"badesc.jsonl", "{\"text\": \"a\\q\", \"label\": \"b\"}\n", "badesc.jsonl:1: an unknown escape"},
        {"surrogate.jsonl", "{\"text\": \"\\ud83d\", \"label\": \"b\"}\n", "surrogate.jsonl:1: an unpaired surrogate"},
        {"unterminated.jsonl", "{\"text\": \"abc, \"label\": \"b\"}\n{\"text\": \"x", "unterminated.jsonl:1:"},
        {"trailing.jsonl", "{\"text\": \"a\", \"label\": \"b\"} x\n", "trailing.jsonl:1: text after"},
        {"dup.jsonl", "{\"text\": \"a\", \"text\": \"b\", \"label\": \"c\"}\n", "dup.jsonl:1: a repeated key"},
        {"emptyjl.jsonl", "{\"text\": \"a\", \"label\": \"\"}\n", "emptyjl.jsonl:1: empty label"},
        {"nul.jsonl", "{\"text\": \"a\\u0000\", \"label\": \"b\"}\n", "nul.jsonl:1: a NUL"},
        {"one.tsv", "a\tonly one class\n", "at least 2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char p[400];
        path(p, sizeof p, tmp, cases[i].name);
        write_text(p, cases[i].text);
        lmg_labelled *l = NULL;
        lmg_status s = lmg_labelled_read(p, 50, NULL, &l);
        if (!cases[i].want) {
            CHECK(s == LMG_OK, "%s: %s", cases[i].name, lmg_last_error());
            if (s == LMG_OK && i == 0) {
                CHECK(l->n_classes == 2 && l->docs->n_docs == 3, "tsv: %d classes", l->n_classes);
                size_t len = l->docs->doc_off[2] - l->docs->doc_off[1];
                CHECK(len == 14 && memcmp(l->docs->data + l->docs->doc_off[1], "world\twith tab", 14) == 0,
                      "tsv text of line 3");
            }
            if (s == LMG_OK && i == 1) {
                CHECK(l->n_classes == 2 && strcmp(l->classes[0], "3") == 0, "a number label");
                CHECK(l->docs->doc_off[1] == 9 && memcmp(l->docs->data, "caf\xc3\xa9 \"q\"", 9) == 0,
                      "escapes: '%.*s'", (int)l->docs->doc_off[1], l->docs->data);
                CHECK(memcmp(l->docs->data + l->docs->doc_off[1], "\xf0\x9f\x98\x80", 4) == 0,
                      "surrogate pair");
            }
        } else {
            CHECK(s == LMG_ERR_DATA && strstr(lmg_last_error(), cases[i].want),
                  "%s: got '%s', want '%s'", cases[i].name, lmg_last_error(), cases[i].want);
        }
        lmg_labelled_free(l);
    }
    /* A class too small for every split. */
    char p[400];
    path(p, sizeof p, tmp, "small.tsv");
    write_text(p, "a\t1\na\t2\na\t3\na\t4\nb\t5\nb\t6\n");
    lmg_labelled *l = NULL;
    CHECK(lmg_labelled_read(p, 0, NULL, &l) == LMG_OK, "small: %s", lmg_last_error());
    if (l) {
        uint8_t w[6];
        lmg_status s = lmg_labelled_split(l, 1, 0.2, 0.2, w);
        CHECK(s == LMG_ERR_DATA && strstr(lmg_last_error(), "class 'b' has 2 documents"),
              "small class: %s", lmg_last_error());
    }
    lmg_labelled_free(l);
    CHECK(lmg_labelled_read("topics", 50, "definitions,nosuchclass", &l) == LMG_ERR_DATA &&
              strstr(lmg_last_error(), "nosuchclass"),
          "unknown class: %s", lmg_last_error());
    test_end();
}

/* ---- gradients ---------------------------------------------------------------------- */

/* d loss / d h of head(h) by the graph and by central differences; padding exact zeros. */
static void gradcheck_pool(const char *pool)
{
    char name[96];
    snprintf(name, sizeof name, "gradients of the head with %s pooling: finite differences, "
             "zero at padding", pool);
    test_begin(name);
    enum { B = 3, T = 6, C = 5, K = 4 };
    lmg_model_config c;
    lmg_model_config_default(&c, "gpt");
    c.d_model = C;
    c.n_classes = K;
    c.pad_id = LMG_TOK_PAD;
    c.pool = pool;
    lmg_graph *g = lmg_graph_new("head");
    int64_t di[2] = {B, T}, dh[3] = {B, T, C}, dl[1] = {B};
    float hv[B * T * C];
    for (int i = 0; i < B * T * C; i++) hv[i] = (float)sin(1.7 * i + 0.3);
    int ids = lmg_graph_input(g, "ids", LMG_DTYPE_I32, lmg_shape_make(2, di));
    int labels = lmg_graph_input(g, "labels", LMG_DTYPE_I32, lmg_shape_make(1, dl));
    int h = lmg_graph_param(g, "h", LMG_DTYPE_F32, lmg_shape_make(3, dh), hv);
    int lg = lmg_model_cls_head(g, &c, "", ids, h);
    int loss = lmg_graph_node(g, LMG_OP_CROSS_ENTROPY, "loss", (int[]){lg, labels}, 2, NULL, 0,
                              NULL, NULL);
    lmg_status s = loss >= 0 ? lmg_graph_add_output(g, loss) : g->status;
    if (s == LMG_OK) s = lmg_autodiff(g, "loss");
    if (s == LMG_OK) s = lmg_graph_verify(g);
    CHECK(s == LMG_OK, "build: %s", lmg_last_error());
    const lmg_backend *b = &lmg_backend_ref;
    lmg_exec *e = NULL;
    lmg_exec_opts o = {NULL, 0};
    if (s == LMG_OK) s = b->init(g, &o, &e);
    /* Row lengths 6, 4, 2: <cls> x.. <eos> then padding. */
    int32_t iv[B * T] = {2, 9, 8, 7, 6, 4, 2, 11, 12, 4, 0, 0, 2, 4, 0, 0, 0, 0};
    int32_t lv[B] = {1, 3, 0};
    float gh[B * T * C];
    float l0 = 0;
    int vg = lmg_graph_find(g, "grad/h"), vl = lmg_graph_find(g, "loss");
    if (s == LMG_OK) s = b->write(e, ids, iv, sizeof iv);
    if (s == LMG_OK) s = b->write(e, labels, lv, sizeof lv);
    if (s == LMG_OK) s = b->run(e, 1);
    if (s == LMG_OK) s = b->read(e, vg, gh, sizeof gh);
    if (s == LMG_OK) s = b->read(e, vl, &l0, 4);
    CHECK(s == LMG_OK, "run: %s", lmg_last_error());
    int last = strcmp(pool, "last") == 0, cls = strcmp(pool, "cls") == 0;
    double worst = 0;
    for (int i = 0; i < B * T * C && s == LMG_OK; i++) {
        int row = i / (T * C), pos = i / C % T;
        int pad = iv[row * T + pos] == LMG_TOK_PAD;
        float save = hv[i];
        double eps = 1e-2, f[2];
        for (int k = 0; k < 2; k++) {
            hv[i] = save + (float)(k ? -eps : eps);
            b->write(e, h, hv, sizeof hv);
            b->run(e, 1);
            float l;
            b->read(e, vl, &l, 4);
            f[k] = l;
        }
        hv[i] = save;
        b->write(e, h, hv, sizeof hv);
        double num = (f[0] - f[1]) / (2 * eps);
        if (pad) {
            CHECK(gh[i] == 0.0f && f[0] == l0 && f[1] == l0,
                  "padding element %d (row %d, position %d): gradient %g, loss moved %g", i,
                  row, pos, gh[i], f[0] - l0);
            continue;
        }
        double err = fabs(num - gh[i]) / (2e-3 + 2e-2 * fabs(num));
        if (err > worst) worst = err;
        CHECK(err <= 1.0, "element %d: graph %g, finite differences %g", i, gh[i], num);
        /* Positions the pooling ignores get nothing either. */
        int used = cls ? pos == 0 : last ? iv[row * T + pos + (pos + 1 < T)] == LMG_TOK_PAD ||
                                                 pos == T - 1
                                         : 1;
        if (!used) CHECK(gh[i] == 0.0f, "element %d (position %d) is not pooled: %g", i, pos, gh[i]);
    }
    printf("# %s pooling: worst error %.3f of the tolerance\n", pool, worst);
    if (e) b->free(e);
    lmg_graph_free(g);
    test_end();
}

/* A whole classifier: the <pad> embedding row (pad id 0 appears only as padding) and the
 * position embeddings of positions that are padding in every row get exactly zero gradient. */
static void test_model_padding(const char *arch, const char *pool)
{
    char name[128];
    snprintf(name, sizeof name, "%s classifier (%s pooling): padding gets exactly zero gradient "
             "through the whole model", arch, pool);
    test_begin(name);
    lmg_model_config c;
    lmg_model_config_default(&c, arch);
    c.layers = 2;
    c.heads = 2;
    c.d_model = 16;
    c.d_ff = 32;
    c.vocab = 300;
    c.seq = 8;
    c.batch = 2;
    c.n_classes = 3;
    c.pad_id = LMG_TOK_PAD;
    c.pool = pool;
    c.objective = "sup";
    lmg_graph *g = NULL;
    lmg_status s = lmg_model_build(&c, &g);
    if (s == LMG_OK) s = lmg_autodiff(g, "loss");
    if (s == LMG_OK) s = lmg_graph_verify(g);
    CHECK(s == LMG_OK, "build: %s", lmg_last_error());
    const lmg_backend *b = &lmg_backend_ref;
    lmg_exec *e = NULL;
    lmg_exec_opts o = {NULL, 0};
    if (s == LMG_OK) s = b->init(g, &o, &e);
    int32_t iv[16] = {2, 40, 41, 42, 4, 0, 0, 0, 2, 50, 4, 0, 0, 0, 0, 0};
    int32_t lv[2] = {2, 0};
    float *gw = malloc(300 * 16 * 4), *gp = malloc(8 * 16 * 4);
    if (s == LMG_OK) s = b->write(e, lmg_graph_find(g, "ids"), iv, sizeof iv);
    if (s == LMG_OK) s = b->write(e, lmg_graph_find(g, "labels"), lv, sizeof lv);
    if (s == LMG_OK) s = b->run(e, 1);
    if (s == LMG_OK) s = b->read(e, lmg_graph_find(g, "grad/wte"), gw, 300 * 16 * 4);
    if (s == LMG_OK) s = b->read(e, lmg_graph_find(g, "grad/wpe"), gp, 8 * 16 * 4);
    CHECK(s == LMG_OK, "run: %s", lmg_last_error());
    if (s == LMG_OK) {
        double pad = 0, real = 0, pos_pad = 0, pos_real = 0;
        for (int k = 0; k < 16; k++) {
            pad += fabs(gw[0 * 16 + k]);
            real += fabs(gw[40 * 16 + k]);
            pos_pad += fabs(gp[5 * 16 + k]) + fabs(gp[6 * 16 + k]) + fabs(gp[7 * 16 + k]);
            pos_real += fabs(gp[1 * 16 + k]);
        }
        CHECK(pad == 0.0 && pos_pad == 0.0, "padding gradient: <pad> row %g, positions 5-7 %g",
              pad, pos_pad);
        CHECK(real > 0.0 && pos_real > 0.0, "real tokens get no gradient (%g, %g)", real, pos_real);
    }
    free(gw);
    free(gp);
    if (e) b->free(e);
    lmg_graph_free(g);
    test_end();
}

/* ---- the report ---------------------------------------------------------------------- */

static void test_report_numbers(void)
{
    test_begin("report: precision, recall, F1, averages and baseline equal hand-computed values");
    /* y: 0 0 0 1 1 2; pred: 0 0 1 1 2 0. Class 0: tp 2, predicted 3, support 3. Class 1: tp 1,
     * predicted 2, support 2. Class 2: tp 0, predicted 1, support 1. */
    int32_t y[6] = {0, 0, 0, 1, 1, 2}, p[6] = {0, 0, 1, 1, 2, 0};
    lmg_cls_report r;
    lmg_status s = lmg_cls_report_compute(y, p, 6, 3, 0, &r);
    CHECK(s == LMG_OK, "%s", lmg_last_error());
    if (s != LMG_OK) return test_end();
    double P[3] = {2.0 / 3, 0.5, 0}, R[3] = {2.0 / 3, 0.5, 0}, F[3] = {2.0 / 3, 0.5, 0};
    for (int c = 0; c < 3; c++)
        CHECK(fabs(r.precision[c] - P[c]) < 1e-12 && fabs(r.recall[c] - R[c]) < 1e-12 &&
                  fabs(r.f1[c] - F[c]) < 1e-12,
              "class %d: %g %g %g", c, r.precision[c], r.recall[c], r.f1[c]);
    CHECK(fabs(r.accuracy - 0.5) < 1e-12, "accuracy %g", r.accuracy);
    CHECK(fabs(r.macro_f1 - (2.0 / 3 + 0.5) / 3) < 1e-12, "macro %g", r.macro_f1);
    CHECK(fabs(r.weighted_f1 - (3 * 2.0 / 3 + 2 * 0.5) / 6) < 1e-12, "weighted %g", r.weighted_f1);
    CHECK(r.confusion[0 * 3 + 1] == 1 && r.confusion[2 * 3 + 0] == 1 && r.confusion[1 * 3 + 2] == 1,
          "confusion");
    /* Always class 0: accuracy 3/6; F1 of class 0 = 2*0.5*1/1.5 = 2/3; macro = 2/9. */
    CHECK(fabs(r.majority_accuracy - 0.5) < 1e-12 && fabs(r.majority_macro_f1 - 2.0 / 9) < 1e-12,
          "baseline %g %g", r.majority_accuracy, r.majority_macro_f1);
    lmg_cls_report_free(&r);
    int32_t bad[1] = {3};
    CHECK(lmg_cls_report_compute(bad, p, 1, 3, 0, &r) == LMG_ERR_ARG, "a label out of range");
    test_end();
}

/* ---- fine-tuning -------------------------------------------------------------------- */

static lmg_train_config ft_config(const char *data, const char *out, const char *arch)
{
    lmg_train_config c;
    lmg_train_config_default(&c);
    lmg_model_config_default(&c.model, arch);
    c.model.layers = 1;
    c.model.heads = 2;
    c.model.d_model = 32;
    c.model.d_ff = 64;
    c.model.vocab = 512;
    c.model.seq = 32;
    c.model.batch = 16;
    c.model.n_classes = 3;
    c.model.pad_id = LMG_TOK_PAD;
    c.model.objective = "sup";
    c.optim.lr = 3e-3;
    c.optim.min_lr = 3e-4;
    c.optim.steps = 300;
    c.optim.warmup = 15;
    c.optim.weight_decay = 0.01;
    c.eval_every = 100;
    c.eval_batches = 0;
    c.patience = 0;
    c.stop_on_f1 = 1;
    c.data_dir = data;
    c.out_dir = out;
    c.backend = "ref";
    return c;
}

static char lab_dir[300];

static void test_finetune_learns(void)
{
    test_begin("fine-tune of a pretrained bert on three topics classes: test macro-F1 >= 2x "
               "chance; the report equals figures recomputed from its predictions");
    /* Pretraining, briefly: what matters here is that the parameters come from it. */
    char pre[400], pre_data[400], out[400];
    path(pre, sizeof pre, tmp, "pre");
    path(pre_data, sizeof pre_data, tmp, "pre_data");
    path(out, sizeof out, tmp, "ft");
    lmg_status s = lmg_train_prepare_data(NULL, 0, 512, 1, pre_data);
    lmg_train_config pc = ft_config(pre_data, pre, "bert");
    pc.model.n_classes = 0;
    pc.model.pad_id = -1;
    pc.model.objective = NULL;
    pc.optim.steps = 30;
    pc.eval_every = 30;
    pc.eval_batches = 2;
    if (s == LMG_OK) s = lmg_train_run(&pc, NULL);
    CHECK(s == LMG_OK, "pretraining: %s", lmg_last_error());
    /* Labelled data made with the pretrained run's tokenizer. */
    char tp[500];
    path(tp, sizeof tp, pre_data, "tok.bpe");
    lmg_bpe *tok = NULL;
    lmg_labelled *l = NULL;
    if (s == LMG_OK) s = lmg_bpe_load(tp, &tok);
    if (s == LMG_OK) s = lmg_labelled_read("topics", 50, CLASSES, &l);
    if (s == LMG_OK) s = lmg_labelled_prepare(l, tok, 32, lab_dir, 1, 0.1, 0.1, NULL);
    CHECK(s == LMG_OK, "labelled data: %s", lmg_last_error());
    lmg_labelled_free(l);
    lmg_bpe_free(tok);
    char ck[500];
    path(ck, sizeof ck, pre, "best.safetensors");
    lmg_train_config c = ft_config(lab_dir, out, "bert");
    c.init_from = ck;
    lmg_train_result r;
    if (s == LMG_OK) s = lmg_train_run(&c, &r);
    CHECK(s == LMG_OK, "fine-tune: %s", lmg_last_error());
    lmg_classifier *cl = NULL;
    if (s == LMG_OK) s = lmg_classifier_open(out, NULL, "ref", NULL, 0, &cl);
    lmg_cls_report rep;
    lmg_cls_predictions pr;
    if (s == LMG_OK) s = lmg_classifier_report(cl, "test", 0, &rep, &pr);
    CHECK(s == LMG_OK, "report: %s", lmg_last_error());
    if (s == LMG_OK) {
        printf("# test: accuracy %.4f, macro-F1 %.4f (chance 0.333, majority baseline accuracy "
               "%.4f, macro-F1 %.4f) after %lld steps\n", rep.accuracy, rep.macro_f1,
               rep.majority_accuracy, rep.majority_macro_f1, (long long)r.step);
        CHECK(rep.macro_f1 >= 2.0 / 3.0, "macro-F1 %.4f < 2 x chance", rep.macro_f1);
        /* Recompute from the predictions, independently of the report code. */
        int64_t hits = 0;
        double mf1 = 0;
        for (int k = 0; k < 3; k++) {
            double tp_ = 0, fp = 0, fn = 0;
            for (int64_t i = 0; i < pr.n; i++) {
                tp_ += pr.pred[i] == k && pr.labels[i] == k;
                fp += pr.pred[i] == k && pr.labels[i] != k;
                fn += pr.pred[i] != k && pr.labels[i] == k;
            }
            double f1 = tp_ > 0 ? 2 * tp_ / (2 * tp_ + fp + fn) : 0;
            mf1 += f1 / 3;
            CHECK(fabs(f1 - rep.f1[k]) < 1e-12 && rep.support[k] == (int64_t)(tp_ + fn),
                  "class %d: F1 %g vs %g", k, rep.f1[k], f1);
        }
        for (int64_t i = 0; i < pr.n; i++) hits += pr.pred[i] == pr.labels[i];
        CHECK(fabs(rep.accuracy - (double)hits / pr.n) < 1e-12 && fabs(mf1 - rep.macro_f1) < 1e-12,
              "accuracy or macro-F1 differ");
        lmg_cls_report_free(&rep);
        lmg_cls_predictions_free(&pr);
        /* The pretrained parameters were used: the fine-tune starts from them. */
        CHECK(r.best_val_loss < -0.5, "validation macro-F1 %.4f", -r.best_val_loss);
    }
    lmg_classifier_free(cl);
    test_end();
}

/* Every tensor of two checkpoints equal, bit for bit. */
static int same_tensors(const char *a, const char *b)
{
    lmg_st_file *fa = NULL, *fb = NULL;
    if (lmg_st_open(a, &fa) != LMG_OK || lmg_st_open(b, &fb) != LMG_OK) {
        lmg_st_close(fa);
        return 0;
    }
    int same = lmg_st_count(fa) == lmg_st_count(fb);
    for (int i = 0; same && i < lmg_st_count(fa); i++) {
        const char *n = lmg_st_name(fa, i);
        lmg_dtype t1, t2;
        lmg_shape s1, s2;
        const void *d1, *d2;
        size_t n1, n2;
        same = lmg_st_find(fa, n, &t1, &s1, &d1, &n1) == LMG_OK &&
               lmg_st_find(fb, n, &t2, &s2, &d2, &n2) == LMG_OK && n1 == n2 &&
               memcmp(d1, d2, n1) == 0;
    }
    lmg_st_close(fa);
    lmg_st_close(fb);
    return same;
}

static void test_resume_exact(void)
{
    test_begin("fine-tune resume is bit-exact (pretrained frozen body, dropout)");
    char a[400], b[400], pa[500], pb[500], ck[500];
    path(a, sizeof a, tmp, "straight");
    path(b, sizeof b, tmp, "resumed");
    path(ck, sizeof ck, tmp, "pre/best.safetensors");
    lmg_train_config c = ft_config(lab_dir, a, "bert");
    c.optim.steps = 40;
    c.eval_every = 20;
    c.model.dropout = 0.1;
    c.init_from = ck;
    c.freeze = 1;
    lmg_status s = lmg_train_run(&c, NULL);
    lmg_train_config c2 = c;
    c2.out_dir = b;
    c2.stop_at = 25;
    if (s == LMG_OK) s = lmg_train_run(&c2, NULL);
    lmg_train_config c3;
    lmg_train_config_default(&c3);
    c3.resume_dir = b;
    c3.backend = "ref";
    if (s == LMG_OK) s = lmg_train_run(&c3, NULL);
    CHECK(s == LMG_OK, "%s", lmg_last_error());
    path(pa, sizeof pa, a, "checkpoint.safetensors");
    path(pb, sizeof pb, b, "checkpoint.safetensors");
    CHECK(same_tensors(pa, pb), "checkpoints differ");
    path(pa, sizeof pa, a, "best.safetensors");
    path(pb, sizeof pb, b, "best.safetensors");
    CHECK(same_tensors(pa, pb), "best weights differ");
    /* Frozen: the body is the pretrained one, held by train.pb, and only the head trains. */
    lmg_st_file *f = NULL, *fp = NULL;
    lmg_graph *tg = NULL;
    path(pa, sizeof pa, a, "train.pb");
    if (lmg_st_open(pb, &f) == LMG_OK && lmg_st_open(ck, &fp) == LMG_OK &&
        lmg_graph_load(pa, &tg) == LMG_OK) {
        lmg_dtype t;
        lmg_shape sh;
        const void *d1;
        size_t n1;
        CHECK(lmg_st_find(f, "cls.w", &t, &sh, &d1, &n1) == LMG_OK, "no head in the checkpoint");
        CHECK(lmg_st_find(f, "h0.attn.wqkv", &t, &sh, &d1, &n1) != LMG_OK,
              "a frozen parameter was trained");
        int v = lmg_graph_find(tg, "h0.attn.wqkv");
        CHECK(v >= 0 && !tg->values[v].trainable &&
                  lmg_st_find(fp, "h0.attn.wqkv", &t, &sh, &d1, &n1) == LMG_OK &&
                  tg->values[v].data && memcmp(tg->values[v].data, d1, n1) == 0,
              "the frozen body is not the pretrained one");
    } else {
        CHECK(0, "cannot open the runs: %s", lmg_last_error());
    }
    lmg_st_close(f);
    lmg_st_close(fp);
    lmg_graph_free(tg);
    lmg_error_clear();
    /* And the frozen run evaluates: the report path rebuilds the body from train.pb. */
    lmg_classifier *cl = NULL;
    lmg_cls_report rep;
    s = lmg_classifier_open(a, NULL, "ref", NULL, 0, &cl);
    if (s == LMG_OK) s = lmg_classifier_report(cl, "val", 0, &rep, NULL);
    CHECK(s == LMG_OK, "report of a frozen run: %s", lmg_last_error());
    if (s == LMG_OK) lmg_cls_report_free(&rep);
    lmg_classifier_free(cl);
    test_end();
}

static double mean_key(const char *metrics, const char *key, size_t from, size_t to)
{
    int64_t *st;
    double *v, sum = 0;
    size_t n;
    if (lmg_metrics_read_key(metrics, "train", key, &st, &v, &n) != LMG_OK || n < to) return NAN;
    for (size_t i = from; i < to; i++) sum += v[i];
    free(st);
    free(v);
    return sum / (double)(to - from);
}

static void test_mlm_sup_mix(void)
{
    test_begin("mlm:1.0,sup:0.5 on labelled data: both terms logged and both fall");
    char out[400], m[500];
    path(out, sizeof out, tmp, "mix");
    lmg_train_config c = ft_config(lab_dir, out, "bert");
    c.model.objective = "mlm:1.0,sup:0.5";
    c.optim.steps = 150;
    c.eval_every = 150;
    c.stop_on_f1 = 0;
    lmg_status s = lmg_train_run(&c, NULL);
    CHECK(s == LMG_OK, "%s", lmg_last_error());
    path(m, sizeof m, out, "metrics.jsonl");
    double m0 = mean_key(m, "loss/mlm", 0, 20), m1 = mean_key(m, "loss/mlm", 130, 150);
    double s0 = mean_key(m, "loss/sup", 0, 20), s1 = mean_key(m, "loss/sup", 130, 150);
    printf("# loss/mlm %.3f -> %.3f, loss/sup %.3f -> %.3f\n", m0, m1, s0, s1);
    CHECK(m1 < m0 - 0.5, "mlm %.3f -> %.3f", m0, m1);
    CHECK(s1 < s0 - 0.1, "sup %.3f -> %.3f", s0, s1);
    test_end();
}

static void test_extend(void)
{
    test_begin("a finished run extended with more steps continues from its checkpoint");
    char out[400], data[400], m[500];
    path(out, sizeof out, tmp, "ext");
    path(data, sizeof data, tmp, "pre_data");
    lmg_train_config c = ft_config(data, out, "gpt");
    c.model.n_classes = 0;
    c.model.pad_id = -1;
    c.model.objective = NULL;
    c.optim.steps = 20;
    c.eval_every = 10;
    c.eval_batches = 2;
    c.patience = 1;
    lmg_train_result r;
    lmg_status s = lmg_train_run(&c, &r);
    CHECK(s == LMG_OK && r.step == 20, "first run: %s", lmg_last_error());
    lmg_train_config e;
    lmg_train_config_default(&e);
    e.resume_dir = out;
    e.backend = "ref";
    e.extend_to = 35;
    if (s == LMG_OK) s = lmg_train_run(&e, &r);
    CHECK(s == LMG_OK && r.step == 35, "extended to step %lld: %s", (long long)r.step,
          lmg_last_error());
    path(m, sizeof m, out, "metrics.jsonl");
    int64_t *st;
    double *v;
    size_t n;
    if (lmg_metrics_read_key(m, "train", "loss", &st, &v, &n) == LMG_OK) {
        int ok = n == 35;
        for (size_t i = 0; ok && i < n; i++) ok = st[i] == (int64_t)i + 1;
        CHECK(ok, "%zu train lines", n);
        free(st);
        free(v);
    }
    /* Resumed again without asking for more, it stays at 35. */
    e.extend_to = 0;
    if (s == LMG_OK) s = lmg_train_run(&e, &r);
    CHECK(s == LMG_OK && r.step == 35, "resumed: step %lld", (long long)r.step);
    test_end();
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/lmg_test_classify_XXXXXX");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    path(tok_path, sizeof tok_path, tmp, "tok.bpe");
    path(lab_dir, sizeof lab_dir, tmp, "lab");
    lmg_corpus *corpus = NULL;
    lmg_bpe *tok = NULL;
    const char *files[] = {"/usr/share/games/fortunes/zippy"};
    test_begin("setup: a tokenizer");
    lmg_status s = lmg_corpus_read(files, 1, &corpus);
    if (s == LMG_OK) s = lmg_bpe_train(corpus, 400, &tok);
    CHECK(s == LMG_OK, "%s", lmg_last_error());
    test_end();
    lmg_corpus_free(corpus);
    if (s != LMG_OK) return test_summary();
    test_split_and_map(tok);
    lmg_bpe_free(tok);
    test_hostile_files();
    gradcheck_pool("cls");
    gradcheck_pool("last");
    gradcheck_pool("mean");
    test_model_padding("bert", "cls");
    test_model_padding("bert", "mean");
    test_model_padding("gpt", "last");
    test_report_numbers();
    test_finetune_learns();
    test_resume_exact();
    test_mlm_sup_mix();
    test_extend();
    return test_finish(tmp);
}
