/* test_alloc_fail.c — out-of-memory paths, tested rather than hoped for: every allocation the
 * library makes in a sequence is made to fail in turn, N = 1, 2, ... until the sequence needs
 * fewer than N. Two sequences: loading a small GPT's .pb, verifying it, building its training
 * step (autodiff, clipping, AdamW) and running one step on the ref backend; and the other
 * files (text form, .pb with safetensors weights, checkpoint, tokenizer, shard). Each failure
 * must end in LMG_ERR_NOMEM with a message (or be worked around with the same result), with
 * no crash, no file left behind, and (in build/asan) no leak. LMG_ALLOC_FAIL_TRAINER_STRIDE=K
 * adds a third: lmg_train_run end to end (two steps, evaluations, resume), failing every
 * K-th allocation; it takes tens of minutes, so the suite leaves it out.
 *
 * The link line wraps malloc, calloc, realloc, strdup and strndup (-Wl,--wrap=...), so the
 * library's own objects call the __wrap_ functions below; the .pb decoder in libprotobuf-c
 * allocates through the ProtobufCAllocator io.c hands it, which calls malloc from io.c. What
 * is not covered: allocations inside libc (fopen's FILE, qsort's buffer) and OpenBLAS. */
#include "test.h"
#include "../backends/backend.h"
#include "../models/models.h"
#include "../text/text.h"
#include "../train/train.h"

#include <math.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(LMG_LEAK_CHECK)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#else
#define HAVE_LSAN 0
#endif

/* ---- the failing allocator ---------------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static int armed;        /* count (and fail) only inside the sequence under test */
static long n_allocs;    /* allocations since arming */
static long fail_at;     /* the 1-based allocation that fails; 0 = none */

static int fail_now(void) { return armed && ++n_allocs == fail_at; }

void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { return fail_now() ? NULL : __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { return fail_now() ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return fail_now() ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return fail_now() ? NULL : __real_strndup(s, n); }

/* ---- the sequences ------------------------------------------------------------------ */

enum { B = 2, T = 4, V = 16 };

static int32_t ids[B * T], targets[B * T]; /* static: the test itself allocates nothing armed */
static char dir[64];
static char p_gpt[64], p_lmgt[64], p_pb[64], p_ckpt[64], p_tok[64], p_shard[64];
static const char *phase;

static const char graph_text[] =
    "lmgraph ir 1 opset 1\n"
    "graph \"mlp\" {\n"
    "  meta \"note\" = \"weights above 16 bytes go to a safetensors file\"\n"
    "  input ids : i32[2,3]\n"
    "  input targets : i32[2,3]\n"
    "  param wte : f32[8,4] = zeros\n"
    "  param w1 : f32[4,4] = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]\n"
    "  param g : f32[4] = [1, 1, 1, 1]\n"
    "  const b : f32[4] = [0, 0.5, 0, 0]\n"
    "  param wo : f32[4,8] = zeros\n"
    "  node x = Embedding(wte, ids)\n"
    "  node [ln] h, mean, rstd = LayerNorm(x, g, b) {eps = 1e-05}\n"
    "  node m = MatMul(h, w1)\n"
    "  node r = Reshape(m) {shape = [6, 4]}\n"
    "  node logits = MatMul(r, wo)\n"
    "  node t = Reshape(targets) {shape = [6]}\n"
    "  node loss = CrossEntropy(logits, t)\n"
    "  output loss\n"
    "}\n";
static const char corpus_text[] = "the cat sat on the mat; the cat ate the rat. caf\xc3\xa9 the end\n";

/* Load the GPT's .pb, verify, build the training step, run it once: the step's loss. */
static lmg_status train_step(float *loss)
{
    const lmg_backend *b = &lmg_backend_ref;
    lmg_graph *g = NULL;
    lmg_exec *e = NULL;
    lmg_optim_config o;
    lmg_optim_config_default(&o);
    float lr = 1e-3f;
    int32_t step = 1;
    phase = "load";
    lmg_status s = lmg_graph_load(p_gpt, &g);
    if (s == LMG_OK) phase = "verify", s = lmg_graph_verify(g);
    if (s == LMG_OK) phase = "autodiff and AdamW", s = lmg_train_graph_build(g, "loss", &o);
    if (s == LMG_OK) phase = "verify the training step", s = lmg_graph_verify(g);
    if (s == LMG_OK) phase = "ref init", s = b->init(g, NULL, &e);
    if (s == LMG_OK) {
        phase = "write inputs";
        s = b->write(e, lmg_graph_find(g, "ids"), ids, sizeof ids);
        if (s == LMG_OK) s = b->write(e, lmg_graph_find(g, "targets"), targets, sizeof targets);
        if (s == LMG_OK) s = b->write(e, lmg_graph_find(g, "lr"), &lr, sizeof lr);
        if (s == LMG_OK) s = b->write(e, lmg_graph_find(g, "step"), &step, sizeof step);
    }
    if (s == LMG_OK) phase = "run", s = b->run(e, 1);
    if (s == LMG_OK) phase = "read", s = b->read(e, lmg_graph_find(g, "loss"), loss, sizeof *loss);
    if (e) b->free(e);
    lmg_graph_free(g);
    return s;
}

/* Every other file lmgraph reads and writes: parse the text form, print it, save the .pb
 * with its weights in safetensors and load it back, save and load a checkpoint, load the
 * tokenizer and encode and decode with it, open a shard. The result: a checksum. */
static lmg_status files(float *sum)
{
    const lmg_backend *b = &lmg_backend_ref;
    lmg_graph *g = NULL, *g2 = NULL;
    lmg_exec *e = NULL;
    lmg_bpe *t = NULL;
    lmg_shard *sh = NULL;
    lmg_tokens tok = {0};
    char *text = NULL, *back = NULL;
    size_t back_n = 0;
    const char *keys[] = {"step"}, *values[] = {"1"};
    phase = "parse";
    lmg_status s = lmg_graph_parse(graph_text, p_lmgt, &g);
    if (s == LMG_OK) phase = "print", s = lmg_graph_print(g, &text);
    if (s == LMG_OK) phase = "save .pb and safetensors", s = lmg_graph_save(g, p_pb, 16);
    if (s == LMG_OK) phase = "load .pb and safetensors", s = lmg_graph_load(p_pb, &g2);
    if (s == LMG_OK) phase = "ref init", s = b->init(g2, NULL, &e);
    if (s == LMG_OK) phase = "save checkpoint", s = lmg_checkpoint_save(p_ckpt, g2, b, e, 0, 1, keys, values);
    if (s == LMG_OK) phase = "load checkpoint", s = lmg_checkpoint_load(p_ckpt, g2, b, e, 0);
    if (s == LMG_OK) phase = "load tokenizer", s = lmg_bpe_load(p_tok, &t);
    if (s == LMG_OK) phase = "encode", s = lmg_bpe_encode(t, corpus_text, sizeof corpus_text - 1, &tok);
    if (s == LMG_OK) phase = "decode", s = lmg_bpe_decode(t, tok.ids, tok.n, 1, &back, &back_n);
    if (s == LMG_OK) phase = "open shard", s = lmg_shard_open(p_shard, t, &sh);
    if (s == LMG_OK)
        *sum = (float)(strlen(text) + (size_t)g2->n_values + tok.n + back_n +
                       (size_t)lmg_shard_n_tokens(sh));
    lmg_shard_free(sh);
    lmg_tokens_free(&tok);
    free(back);
    lmg_bpe_free(t);
    if (e) b->free(e);
    lmg_graph_free(g2);
    lmg_graph_free(g);
    free(text);
    return s;
}

static char p_data[64], p_run[64];
static int vocab;

/* Remove folder d and the files in it. */
static void remove_flat(const char *d)
{
    DIR *dd = opendir(d);
    if (!dd) return;
    struct dirent *de;
    while ((de = readdir(dd))) {
        if (de->d_name[0] == '.') continue;
        char p[200];
        snprintf(p, sizeof p, "%s/%s", d, de->d_name);
        unlink(p);
    }
    closedir(dd);
    rmdir(d);
}

/* The trainer end to end: two steps with an evaluation after each, then resumed. */
static lmg_status trainer(float *loss)
{
    lmg_train_config c;
    lmg_train_config_default(&c);
    lmg_model_config_default(&c.model, "gpt");
    c.model.layers = 1;
    c.model.heads = 2;
    c.model.d_model = 8;
    c.model.d_ff = 16;
    c.model.vocab = vocab;
    c.model.seq = T;
    c.model.batch = B;
    c.optim.steps = 2;
    c.optim.warmup = 1;
    c.data_dir = p_data;
    c.out_dir = p_run;
    c.backend = "ref";
    c.eval_every = 1;
    c.eval_batches = 1;
    lmg_train_result r;
    armed = 0;
    remove_flat(p_run);
    armed = 1;
    phase = "train";
    lmg_status s = lmg_train_run(&c, &r);
    double first = r.last_loss + r.best_val_loss;
    if (s == LMG_OK) {
        /* The run is complete: resuming it reads the checkpoint and stops at once. */
        c.resume_dir = p_run;
        phase = "resume";
        s = lmg_train_run(&c, &r);
    }
    if (s == LMG_OK) *loss = (float)(first + (double)r.step);
    return s;
}

/* The files the folder may hold: those made before the test and those the sequences
 * write; anything else, or a temporary file in the run folder, was left by a failed write. */
static int stray_files(void)
{
    static const char *known[] = {"gpt.pb", "g.pb", "g.safetensors", "ck.safetensors",
                                  "tok.bpe", "train.tok", "g.lmgt", "data", "run"};
    int stray = 0;
    for (int pass = 0; pass < 2; pass++) {
        const char *d = pass ? p_run : dir;
        DIR *dd = opendir(d);
        struct dirent *de;
        while (dd && (de = readdir(dd))) {
            int ok = de->d_name[0] == '.' || (pass && !strstr(de->d_name, ".tmp"));
            for (size_t i = 0; !ok && !pass && i < sizeof known / sizeof *known; i++)
                ok = strcmp(de->d_name, known[i]) == 0;
            if (!ok) {
                printf("#   stray file '%s' in %s\n", de->d_name, d);
                char p[200];
                snprintf(p, sizeof p, "%s/%s", d, de->d_name);
                unlink(p);
                stray++;
            }
        }
        if (dd) closedir(dd);
    }
    return stray;
}

/* The sequence with allocation `n` failing (0: none); the allocations it made in *count. */
static lmg_status run_failing(lmg_status (*seq)(float *), long n, float *result, long *count)
{
    lmg_error_clear();
    n_allocs = 0;
    fail_at = n;
    armed = 1;
    lmg_status s = seq(result);
    armed = 0;
    *count = n_allocs;
    return s;
}

/* Fail allocations 1, 1 + stride, 1 + 2 stride, ... of seq (stride 1: every one). */
static void fail_each(const char *what, lmg_status (*seq)(float *), long stride)
{
    char name[300];
    snprintf(name, sizeof name, "alloc fail: %s with no failure gives the same result each time", what);
    test_begin(name);
    float want = NAN, got = NAN;
    long total = 0, again = 0;
    /* Anything the library sets up once per process happens in the first run; the second
     * gives the count every later run makes. */
    CHECK(run_failing(seq, 0, &want, &total) == LMG_OK, "%s: %s", phase, lmg_last_error());
    CHECK(run_failing(seq, 0, &want, &total) == LMG_OK && isfinite(want), "%s: %s (result %g)",
          phase, lmg_last_error(), want);
    CHECK(run_failing(seq, 0, &got, &again) == LMG_OK && again == total && got == want,
          "a third run made %ld allocations (not %ld), result %g (not %g)", again, total, got, want);
    test_end();

    snprintf(name, sizeof name, "alloc fail: %s: each allocation fails in turn, ending in "
             "LMG_ERR_NOMEM with a message (or the same result) and no file left", what);
    test_begin(name);
    long n = 1, bad = 0, stray = 0, leaks = 0, absorbed = 0;
    for (; total > 0; n += stride) {
        long count;
        float result = NAN;
        lmg_status s = run_failing(seq, n, &result, &count);
        if (count < n) { /* nothing failed: the whole sequence ran */
            CHECK(s == LMG_OK && result == want, "with no failure left: %s (result %g, want %g)",
                  lmg_last_error(), result, want);
            break;
        }
        /* A failure the library works around (a cache it does without) must not change
         * the result; any other must be reported as what it is. */
        if (s == LMG_OK) {
            absorbed++;
            if (result != want && bad++ < 10)
                CHECK(0, "allocation %ld (in %s) failed, yet it succeeded with result %g, not %g",
                      n, phase, result, want);
        } else if ((s != LMG_ERR_NOMEM || !lmg_last_error()[0]) && bad++ < 10) {
            CHECK(0, "allocation %ld (in %s) failed: status %s, message '%s'", n, phase,
                  lmg_status_name(s), lmg_last_error());
        }
        if (stray_files() && stray++ < 10)
            CHECK(0, "allocation %ld (in %s) failed and left a file behind", n, phase);
#if HAVE_LSAN
        /* A leak stays unreachable, so checking after every 128th failure (a check scans
         * the whole heap) still finds it; the report's stack names the allocation. */
        if (!leaks && (n / stride) % 128 == 0 && __lsan_do_recoverable_leak_check()) {
            leaks++;
            printf("#   a failure up to allocation %ld leaked (report above)\n", n);
        }
#endif
    }
#if HAVE_LSAN
    if (!leaks && __lsan_do_recoverable_leak_check()) {
        leaks++;
        printf("#   a failure up to allocation %ld leaked (report above)\n", n);
    }
#endif
    long tried = (n - 1) / stride;
    CHECK(n > total, "stopped at allocation %ld of %ld", n, total);
    CHECK(bad == 0, "%ld of %ld failures did not end in LMG_ERR_NOMEM with a message", bad, tried);
    CHECK(stray == 0, "%ld of %ld failures left a file behind", stray, tried);
    printf("# %s: %ld allocations, %ld of them failed in turn (%ld worked around)\n", what, total,
           tried, absorbed);
    test_end();

    snprintf(name, sizeof name, "alloc fail: %s: no failure leaks", what);
    if (HAVE_LSAN) {
        test_begin(name);
        CHECK(leaks == 0, "a failure leaked");
        test_end();
    } else {
        printf("ok - %s # SKIP needs LeakSanitizer (-fsanitize=leak or address)\n", name);
    }
}

/* Before arming: the GPT's .pb, the tokenizer and a shard the sequences read. */
static lmg_status make_inputs(void)
{
    lmg_model_config c;
    lmg_model_config_default(&c, "gpt");
    c.layers = 1;
    c.heads = 2;
    c.d_model = 8;
    c.d_ff = 16;
    c.vocab = V;
    c.seq = T;
    c.batch = B;
    lmg_graph *g = NULL;
    lmg_corpus *corpus = NULL;
    lmg_bpe *t = NULL;
    lmg_tokens tok = {0};
    /* Twelve documents, so that the validation split holds a few. */
    const char *texts[12];
    size_t lens[12];
    for (int i = 0; i < 12; i++) texts[i] = corpus_text + i, lens[i] = sizeof corpus_text - 1 - i;
    lmg_status s = lmg_model_build(&c, &g);
    if (s == LMG_OK) s = lmg_graph_save(g, p_gpt, 0);
    if (s == LMG_OK) s = lmg_corpus_from_texts(texts, lens, 12, &corpus);
    if (s == LMG_OK) s = lmg_bpe_train(corpus, 280, &t);
    if (s == LMG_OK) s = lmg_bpe_save(t, p_tok);
    if (s == LMG_OK) s = lmg_bpe_encode(t, corpus_text, sizeof corpus_text - 1, &tok);
    if (s == LMG_OK) s = lmg_shard_write(p_shard, t, LMG_SPLIT_TRAIN, 1, tok.ids, tok.n);
    if (s == LMG_OK) s = lmg_data_prepare(corpus, t, p_data, 1, 0.3, 0.0, NULL);
    char p[80];
    snprintf(p, sizeof p, "%s/tok.bpe", p_data);
    if (s == LMG_OK) s = lmg_bpe_save(t, p);
    vocab = t ? lmg_bpe_vocab_size(t) : 0;
    lmg_tokens_free(&tok);
    lmg_bpe_free(t);
    lmg_corpus_free(corpus);
    lmg_graph_free(g);
    return s;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* minutes of work: show each line as it comes */
    /* In memory where there is a tmpfs: the writers fsync every file, hundreds of times here. */
    struct stat st;
    snprintf(dir, sizeof dir, "%s/lmg_alloc_fail.XXXXXX",
             stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir)) return 1;
    snprintf(p_gpt, sizeof p_gpt, "%s/gpt.pb", dir);
    snprintf(p_lmgt, sizeof p_lmgt, "%s/g.lmgt", dir);
    snprintf(p_pb, sizeof p_pb, "%s/g.pb", dir);
    snprintf(p_ckpt, sizeof p_ckpt, "%s/ck.safetensors", dir);
    snprintf(p_tok, sizeof p_tok, "%s/tok.bpe", dir);
    snprintf(p_shard, sizeof p_shard, "%s/train.tok", dir);
    snprintf(p_data, sizeof p_data, "%s/data", dir);
    snprintf(p_run, sizeof p_run, "%s/run", dir);
    for (int i = 0; i < B * T; i++) {
        ids[i] = 5 + (7 * i) % (V - 5);
        targets[i] = 5 + (7 * i + 3) % (V - 5);
    }
    test_begin("alloc fail: the inputs (a 1-layer GPT's .pb, a tokenizer, a shard) are made");
    CHECK(make_inputs() == LMG_OK, "%s", lmg_last_error());
    test_end();
    fail_each("load, verify, autodiff and one training step of a GPT", train_step, 1);
    fail_each("text form, .pb and safetensors, checkpoint, tokenizer and shard", files, 1);
    /* The whole trainer makes some 8000 allocations, and each run is a second or more of
     * training, evaluation and checkpoints: only on request, failing every STRIDE-th. */
    const char *stride = getenv("LMG_ALLOC_FAIL_TRAINER_STRIDE");
    if (stride && atol(stride) > 0)
        fail_each("the trainer: two steps, two evaluations, resume", trainer, atol(stride));
    remove_flat(p_run);
    remove_flat(p_data);
    remove_flat(dir);
    return test_summary();
}
