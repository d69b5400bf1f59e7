/* test_train.c — the trainer on the fortunes corpus: a tiny GPT beats the unigram entropy of
 * the validation split by a nat, a tiny BERT doubles the most-frequent-token accuracy, a
 * resumed run logs exactly the losses of a straight one, checkpoints survive kills,
 * metrics and the loss plot hold their fields, early stopping, and clear errors.
 * LMG_TEST_BACKEND picks the backend (default: opencl when a device works, else ref). */
#include "../train/train.h"
#include "../backends/backend.h"
#include "../graph/safetensors.h"
#include "../text/text.h"
#include "test.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Under AddressSanitizer everything runs several times slower: the learning tests then run
 * a short budget and claim only that the model learned something. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

/* The BERT budget: masked prediction learns from 15% of the positions only. */
#define BERT_SEQ 64
#define BERT_BATCH 16
#define BERT_STEPS 300

static char tmp[256];
static char data_dir[300];
static const char *backend = "ref";

static void path(char *buf, size_t n, const char *a, const char *b)
{
    snprintf(buf, n, "%s/%s", a, b);
}

static lmg_train_config base(const char *arch, const char *out)
{
    lmg_train_config c;
    lmg_train_config_default(&c);
    lmg_model_config_default(&c.model, arch);
    c.model.layers = 2;
    c.model.heads = 4;
    c.model.d_model = 128;
    c.model.d_ff = 512;
    c.model.vocab = 512;
    c.model.seq = 64;
    c.model.batch = 8;
    c.optim.lr = 3e-3;
    c.optim.min_lr = 3e-4;
    c.optim.warmup = 15;
    c.data_dir = data_dir;
    c.out_dir = out;
    c.backend = backend;
    c.eval_batches = 20;
    return c;
}

/* Unigram statistics of a shard: entropy in nats, and the share of the most frequent
 * non-special token among non-special tokens. */
static int shard_stats(const char *name, double *entropy, double *top_share)
{
    char p[400];
    path(p, sizeof p, data_dir, name);
    lmg_shard *s;
    if (lmg_shard_open(p, NULL, &s) != LMG_OK) return -1;
    int64_t n = lmg_shard_n_tokens(s);
    int V = lmg_shard_vocab_size(s);
    int32_t *ids = malloc((size_t)n * 4);
    double *cnt = calloc((size_t)V, sizeof *cnt);
    if (!ids || !cnt || lmg_shard_read(s, 0, n, ids) != LMG_OK) {
        free(ids), free(cnt), lmg_shard_free(s);
        return -1;
    }
    for (int64_t i = 0; i < n; i++) cnt[ids[i]]++;
    double h = 0, top = 0, ns = 0;
    for (int v = 0; v < V; v++) {
        if (cnt[v] > 0) h -= cnt[v] / n * log(cnt[v] / n);
        if (v >= LMG_TOK_N_SPECIAL) {
            ns += cnt[v];
            if (cnt[v] > top) top = cnt[v];
        }
    }
    *entropy = h;
    *top_share = top / ns;
    free(ids), free(cnt), lmg_shard_free(s);
    return 0;
}

static void test_gpt_learns(void)
{
    test_begin(SANITIZED ? "gpt on fortunes (sanitizer budget): validation loss below log V - 0.5"
                         : "gpt on fortunes: validation loss at least 1 nat below the unigram entropy");
    double h, top;
    CHECK(shard_stats("val.tok", &h, &top) == 0, "cannot read the validation shard");
    char out[400];
    path(out, sizeof out, tmp, "gpt");
    lmg_train_config c = base("gpt", out);
    int steps = SANITIZED ? 30 : 500;
    c.optim.steps = steps;
    c.optim.warmup = steps / 20; /* shorter warm-ups spike at this learning rate */
    c.eval_every = steps;
    c.eval_batches = 0; /* the whole validation split */
    lmg_train_result r;
    lmg_status s = lmg_train_run(&c, &r);
    CHECK(s == LMG_OK, "train: %s", lmg_last_error());
    printf("# gpt: unigram entropy %.3f, validation loss %.3f after %lld steps, %.1f ms/step\n", h,
           r.best_val_loss, (long long)r.step, r.ms_per_step);
    CHECK(r.step == steps && r.best_step == steps, "steps %lld best %lld", (long long)r.step,
          (long long)r.best_step);
    double want = SANITIZED ? log(c.model.vocab) - 0.5 : h - 1.0;
    CHECK(r.best_val_loss <= want, "validation %.4f, wanted %.4f (unigram entropy %.4f)",
          r.best_val_loss, want, h);
    /* lmg eval of the run agrees with the trainer's own validation. */
    lmg_eval_result e;
    s = lmg_eval_run(out, NULL, "val", backend, NULL, 0, &e);
    CHECK(s == LMG_OK, "eval: %s", lmg_last_error());
    CHECK(fabs(e.loss - r.best_val_loss) < 1e-6, "eval %.6f vs trainer %.6f", e.loss, r.best_val_loss);
    CHECK(e.mlm_accuracy < 0 && fabs(e.perplexity - exp(e.loss)) < 1e-6 * e.perplexity,
          "perplexity");
    test_end();
}

static void test_bert_learns(void)
{
    test_begin(SANITIZED ? "bert on fortunes (sanitizer budget): masked loss below log V - 0.3"
                         : "bert on fortunes: masked-token accuracy at least twice the most frequent token's");
    double h, top;
    CHECK(shard_stats("val.tok", &h, &top) == 0, "cannot read the validation shard");
    char out[400];
    path(out, sizeof out, tmp, "bert");
    lmg_train_config c = base("bert", out);
    c.model.seq = BERT_SEQ;
    c.model.batch = BERT_BATCH;
    int steps = SANITIZED ? 30 : BERT_STEPS;
    c.optim.steps = steps;
    c.optim.warmup = steps / 20;
    c.eval_every = steps;
    lmg_train_result r;
    lmg_status s = lmg_train_run(&c, &r);
    CHECK(s == LMG_OK, "train: %s", lmg_last_error());
    lmg_eval_result e;
    s = lmg_eval_run(out, NULL, "val", backend, NULL, 0, &e);
    CHECK(s == LMG_OK, "eval: %s", lmg_last_error());
    printf("# bert: masked-token accuracy %.4f over %lld masked positions, most frequent token "
           "%.4f; masked loss %.3f after %lld steps, %.1f ms/step\n",
           e.mlm_accuracy, (long long)e.tokens, top, e.loss, (long long)r.step, r.ms_per_step);
    CHECK(e.tokens > 1000, "only %lld masked positions", (long long)e.tokens);
    if (SANITIZED)
        CHECK(e.loss < log(c.model.vocab) - 0.3, "masked loss %.4f", e.loss);
    else
        CHECK(e.mlm_accuracy >= 2 * top, "accuracy %.4f, baseline %.4f", e.mlm_accuracy, top);
    test_end();
}

/* metrics.jsonl as lines of text. */
static char *slurp(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) len = 0;
    if (b) b[len] = 0;
    fclose(f);
    if (n) *n = (size_t)len;
    return b;
}

/* A line without the fields that depend on wall time. */
static void strip_times(char *line)
{
    const char *keys[] = {",\"tokens_per_s\":", ",\"elapsed_s\":"};
    for (int k = 0; k < 2; k++) {
        char *p = strstr(line, keys[k]);
        if (!p) continue;
        char *e = p + 1;
        while (*e && *e != ',' && *e != '}') e++;
        memmove(p, e, strlen(e) + 1);
    }
}

static lmg_train_config small(const char *out)
{
    lmg_train_config c = base("gpt", out);
    c.model.layers = 1;
    c.model.heads = 2;
    c.model.d_model = 32;
    c.model.d_ff = 64;
    c.model.seq = 16;
    c.model.batch = 4;
    c.model.dropout = 0.1; /* resume must replay the dropout masks too */
    c.optim.steps = 20;
    c.optim.warmup = 3;
    c.eval_every = 4;
    c.eval_batches = 3;
    c.patience = 0;
    return c;
}

static void test_resume(void)
{
    test_begin("resume: 10 steps, stop, resume 10 equals 20 straight, every logged loss");
    char a[400], b[400], pa[500], pb[500];
    path(a, sizeof a, tmp, "straight");
    path(b, sizeof b, tmp, "resumed");
    lmg_train_config c = small(a);
    lmg_train_result r;
    CHECK(lmg_train_run(&c, &r) == LMG_OK, "straight: %s", lmg_last_error());
    CHECK(r.step == 20, "straight ran %lld steps", (long long)r.step);
    c = small(b);
    c.stop_at = 10;
    CHECK(lmg_train_run(&c, &r) == LMG_OK, "first half: %s", lmg_last_error());
    CHECK(r.step == 10, "first half ran %lld steps", (long long)r.step);
    lmg_train_config d;
    lmg_train_config_default(&d);
    d.resume_dir = b;
    d.backend = backend;
    CHECK(lmg_train_run(&d, &r) == LMG_OK, "resume: %s", lmg_last_error());
    CHECK(r.step == 20, "resumed run ended at %lld", (long long)r.step);
    path(pa, sizeof pa, a, "metrics.jsonl");
    path(pb, sizeof pb, b, "metrics.jsonl");
    char *ta = slurp(pa, NULL), *tb = slurp(pb, NULL);
    CHECK(ta && tb, "metrics files");
    if (ta && tb) {
        int lines = 0, diff = 0, val = 0;
        char *sa, *sb, *la = strtok_r(ta, "\n", &sa), *lb = strtok_r(tb, "\n", &sb);
        for (; la && lb; la = strtok_r(NULL, "\n", &sa), lb = strtok_r(NULL, "\n", &sb)) {
            strip_times(la);
            strip_times(lb);
            lines++;
            val += strstr(la, "\"val\"") != NULL;
            if (strcmp(la, lb) != 0 && diff++ == 0) printf("#   %s\n#   %s\n", la, lb);
        }
        CHECK(!la && !lb, "different line counts");
        CHECK(lines == 25 && val == 5 && diff == 0, "%d lines, %d val, %d differ", lines, val, diff);
    }
    free(ta), free(tb);
    /* The checkpoints are the same bytes but for the wall time. */
    path(pa, sizeof pa, a, "checkpoint.safetensors");
    path(pb, sizeof pb, b, "checkpoint.safetensors");
    lmg_st_file *fa = NULL, *fb = NULL;
    CHECK(lmg_st_open(pa, &fa) == LMG_OK && lmg_st_open(pb, &fb) == LMG_OK, "open: %s",
          lmg_last_error());
    if (fa && fb) {
        CHECK(lmg_st_count(fa) == lmg_st_count(fb) && lmg_st_count(fa) > 3, "tensor counts");
        int same = 1;
        for (int i = 0; i < lmg_st_count(fa); i++) {
            const void *da, *db;
            size_t na, nb;
            const char *nm = lmg_st_name(fa, i);
            if (lmg_st_find(fa, nm, NULL, NULL, &da, &na) != LMG_OK ||
                lmg_st_find(fb, nm, NULL, NULL, &db, &nb) != LMG_OK || na != nb ||
                memcmp(da, db, na) != 0)
                same = 0;
        }
        CHECK(same, "parameters or moments differ");
        CHECK(lmg_st_find(fa, "adam.m/wte", NULL, NULL, NULL, NULL) == LMG_OK &&
                  lmg_st_find(fa, "adam.v/h0.mlp.w1", NULL, NULL, NULL, NULL) == LMG_OK,
              "AdamW moments saved");
        CHECK(lmg_st_meta(fa, "step") && strcmp(lmg_st_meta(fa, "step"), "20") == 0, "step meta");
        CHECK(lmg_st_meta(fa, "rng.data_seed") && lmg_st_meta(fa, "rng.model_seed"), "rng meta");
    }
    lmg_st_close(fa);
    lmg_st_close(fb);
    test_end();
}

static int has_field(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    return strstr(line, pat) != NULL;
}

static void test_metrics_and_plot(void)
{
    test_begin("metrics.jsonl fields and loss.svg (axes, ticks, legend, both curves)");
    char a[400], p[500];
    path(a, sizeof a, tmp, "straight");
    path(p, sizeof p, a, "metrics.jsonl");
    char *t = slurp(p, NULL);
    CHECK(t != NULL, "no metrics.jsonl");
    int bad = 0, train = 0, val = 0;
    for (char *sv, *l = t ? strtok_r(t, "\n", &sv) : NULL; l; l = strtok_r(NULL, "\n", &sv)) {
        const char *keys[] = {"step", "split", "loss", "lr", "tokens_per_s", "elapsed_s"};
        for (int k = 0; k < 6; k++) bad += !has_field(l, keys[k]);
        bad += l[0] != '{' || l[strlen(l) - 1] != '}';
        train += strstr(l, "\"split\":\"train\"") != NULL;
        val += strstr(l, "\"split\":\"val\"") != NULL;
        if (strstr(l, "\"split\":\"train\"")) bad += !has_field(l, "grad_norm");
    }
    CHECK(bad == 0 && train == 20 && val == 5, "%d missing, %d train, %d val", bad, train, val);
    free(t);
    path(p, sizeof p, a, "loss.svg");
    t = slurp(p, NULL);
    CHECK(t && strncmp(t, "<svg", 4) == 0 && strstr(t, "</svg>"), "an SVG document");
    if (t) {
        int polylines = 0, texts = 0;
        for (char *q = t; (q = strstr(q, "<polyline")); q++) polylines++;
        for (char *q = t; (q = strstr(q, "<text")); q++) texts++;
        CHECK(polylines == 2, "%d curves", polylines);
        CHECK(texts >= 8, "%d labels", texts);
        CHECK(strstr(t, ">train<") && strstr(t, ">validation<") && strstr(t, ">step<"),
              "legend and axis labels");
    }
    free(t);
    /* No temporary file is left behind by a run that finished. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp", a);
    FILE *f = popen(cmd, "r");
    int n = -1;
    if (f) {
        if (fscanf(f, "%d", &n) != 1) n = -1;
        pclose(f);
    }
    CHECK(n == 0, "%d temporary files left", n);
    test_end();
}

/* opencl when it can run a small graph here, else ref. */
static const char *pick_backend(void)
{
    const lmg_backend *b = lmg_backend_find("opencl");
    if (!b || !b->init) return "ref";
    lmg_graph *g = lmg_graph_new("probe");
    int64_t d[1] = {4};
    int x = lmg_graph_input(g, "x", LMG_DTYPE_F32, lmg_shape_make(1, d));
    lmg_graph_add_output(g, lmg_unary(g, LMG_OP_EXP, x));
    lmg_exec *e = NULL;
    float in[4] = {0, 1, 2, 3}, out[4] = {0};
    int ok = g->status == LMG_OK && lmg_graph_verify(g) == LMG_OK && b->init(g, NULL, &e) == LMG_OK &&
             b->write(e, x, in, sizeof in) == LMG_OK && b->run(e, 1) == LMG_OK &&
             b->read(e, g->outputs[0], out, sizeof out) == LMG_OK && fabsf(out[1] - 2.7182817f) < 1e-5f;
    if (e) b->free(e);
    lmg_graph_free(g);
    lmg_error_clear();
    return ok ? "opencl" : "ref";
}

static void test_kill_safety(void)
{
    test_begin("checkpoints are never half-written: kill -9 during training, then resume");
    char d[400], ck[500];
    path(d, sizeof d, tmp, "killed");
    path(ck, sizeof ck, d, "checkpoint.safetensors");
    int opened = 0, broken = 0, kills = 0;
    unsigned seed = 12345;
    for (int round = 0; round < 6; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            lmg_train_config c = small(d);
            c.backend = "ref"; /* the children fork before any OpenCL state exists */
            c.optim.steps = 100000;
            c.eval_every = 1; /* a checkpoint every step */
            c.eval_batches = 1;
            if (round > 0) {
                lmg_train_config_default(&c);
                c.resume_dir = d;
                c.backend = "ref";
            }
            lmg_status s = lmg_train_run(&c, NULL);
            _exit(s == LMG_OK ? 0 : 3);
        }
        /* The first run is killed only once it has written a checkpoint. */
        for (int w = 0; round == 0 && w < 1200 && access(ck, F_OK) != 0; w++) usleep(50000);
        seed = seed * 1103515245u + 12345u;
        usleep(200000 + (seed >> 8) % 600000);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        kills += WIFSIGNALED(st);
        if (access(ck, F_OK) != 0) continue;
        lmg_st_file *f;
        if (lmg_st_open(ck, &f) == LMG_OK) {
            opened++;
            broken += lmg_st_meta(f, "step") == NULL ||
                      lmg_st_find(f, "wte", NULL, NULL, NULL, NULL) != LMG_OK;
            lmg_st_close(f);
        } else {
            broken++;
            printf("#   %s\n", lmg_last_error());
        }
    }
    CHECK(kills == 6, "%d of 6 runs were killed (the others ended early)", kills);
    CHECK(opened >= 3 && broken == 0, "%d checkpoints read back, %d broken", opened, broken);
    test_end();
}

static void test_early_stop(void)
{
    test_begin("early stopping: patience 2 with no progress stops at the 3rd evaluation");
    char out_early[400], p[500];
    path(out_early, sizeof out_early, tmp, "early");
    lmg_train_config c = small(out_early);
    c.model.dropout = 0;
    c.optim.lr = 1e-20; /* updates vanish in f32: the validation loss cannot improve */
    c.optim.min_lr = 0;
    c.optim.weight_decay = 0;
    c.optim.steps = 100;
    c.eval_every = 2;
    c.patience = 2;
    lmg_train_result r;
    CHECK(lmg_train_run(&c, &r) == LMG_OK, "train: %s", lmg_last_error());
    CHECK(r.early_stopped && r.step == 6 && r.best_step == 2, "stopped %d at %lld, best %lld",
          r.early_stopped, (long long)r.step, (long long)r.best_step);
    path(p, sizeof p, out_early, "best.safetensors");
    lmg_st_file *f = NULL;
    CHECK(lmg_st_open(p, &f) == LMG_OK, "best: %s", lmg_last_error());
    if (f) CHECK(lmg_st_meta(f, "step") && strcmp(lmg_st_meta(f, "step"), "2") == 0, "best step");
    lmg_st_close(f);
    /* Resuming a run that stopped early trains no further. */
    lmg_train_config d;
    lmg_train_config_default(&d);
    d.resume_dir = out_early;
    d.backend = backend;
    CHECK(lmg_train_run(&d, &r) == LMG_OK && r.step == 6 && r.early_stopped, "resume: %s, step %lld",
          lmg_last_error(), (long long)r.step);
    test_end();
}

static void test_errors(void)
{
    test_begin("errors: missing data, vocabulary too small, occupied run folder, not a run");
    char d[400];
    path(d, sizeof d, tmp, "err");
    lmg_train_config c = small(d);
    c.data_dir = "/nonexistent/data";
    CHECK(lmg_train_run(&c, NULL) == LMG_ERR_NOT_FOUND && strstr(lmg_last_error(), "/nonexistent/data"),
          "missing data: %s", lmg_last_error());
    c = small(d);
    c.model.vocab = 300;
    CHECK(lmg_train_run(&c, NULL) == LMG_ERR_ARG && strstr(lmg_last_error(), "--vocab 512"),
          "small vocab: %s", lmg_last_error());
    char a[400];
    path(a, sizeof a, tmp, "straight");
    c = small(a);
    CHECK(lmg_train_run(&c, NULL) == LMG_ERR_ARG && strstr(lmg_last_error(), "already holds a run"),
          "occupied: %s", lmg_last_error());
    lmg_train_config_default(&c);
    c.resume_dir = data_dir;
    c.backend = backend;
    CHECK(lmg_train_run(&c, NULL) != LMG_OK && strstr(lmg_last_error(), "checkpoint"),
          "resume a non-run: %s", lmg_last_error());
    lmg_eval_result e;
    CHECK(lmg_eval_run(a, NULL, "dev", backend, NULL, 0, &e) == LMG_ERR_ARG, "bad split");
    CHECK(lmg_eval_run(data_dir, NULL, "val", backend, NULL, 0, &e) == LMG_ERR_NOT_FOUND &&
              strstr(lmg_last_error(), "train.pb"),
          "eval a non-run: %s", lmg_last_error());
    test_end();
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/lmg_test_train_XXXXXX");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    path(data_dir, sizeof data_dir, tmp, "data");
    test_begin("data: tokenizer and shards of the fortunes corpus");
    lmg_status s = lmg_train_prepare_data(NULL, 0, 512, 1, data_dir);
    CHECK(s == LMG_OK, "prepare: %s", lmg_last_error());
    test_end();
    if (s != LMG_OK) return test_summary();
    test_kill_safety(); /* first: it forks, before any backend state exists in this process */
    const char *b = getenv("LMG_TEST_BACKEND");
    backend = b && *b ? b : pick_backend();
    printf("# backend %s\n", backend);
    test_resume();
    test_metrics_and_plot();
    test_early_stop();
    test_errors();
    test_gpt_learns();
    test_bert_learns();
    return test_finish(tmp);
}
