/* test_reliability.c — no silent success, no hang, nothing lost: loaders refuse FIFOs and
 * devices, the atomic writer and its stale temporaries, escaped error messages, protobuf's
 * UTF-8 rule, safetensors headers against a graph, checkpoint metadata, the order of the
 * checkpoint and best writes, a requested stop, relocatable runs and the vocabulary check. */
#include "test.h"
#include "../graph/graph.h"
#include "../graph/safetensors.h"
#include "../text/text.h"
#include "../train/train.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmp[256];
static char data_dir[320];

static const char *tpath(const char *name)
{
    static char buf[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

static int exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static void write_bytes(const char *p, const void *d, size_t n)
{
    FILE *f = fopen(p, "wb");
    if (f) {
        fwrite(d, 1, n, f);
        fclose(f);
    }
}

/* The id of a process that has ended (so a temporary named after it is stale). */
static long dead_pid(void)
{
    pid_t p = fork();
    if (p == 0) _exit(0);
    waitpid(p, NULL, 0);
    return (long)p;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- hangs ------------------------------------------------------------------------- */

static void test_no_hang(void)
{
    test_begin("files: a FIFO, /dev/zero and a folder are refused at once, never read");
    alarm(20); /* a blocking open would otherwise hang the suite: die instead */
    const char *fifo = tpath("fifo");
    CHECK(mkfifo(fifo, 0644) == 0, "mkfifo: %s", strerror(errno));
    char *d = NULL;
    size_t n = 0;
    double t0 = now();
    lmg_status s = lmg_read_file(fifo, &d, &n);
    CHECK(s == LMG_ERR_IO && strstr(lmg_last_error(), "FIFO") && strstr(lmg_last_error(), fifo) && !d,
          "FIFO: %d %s", s, lmg_last_error());
    s = lmg_read_file("/dev/zero", &d, &n);
    CHECK(s == LMG_ERR_IO && strstr(lmg_last_error(), "/dev/zero: is a character device") && !d,
          "/dev/zero: %d %s", s, lmg_last_error());
    lmg_graph *g = NULL;
    s = lmg_graph_load("/dev/zero", &g);
    CHECK(s != LMG_OK && !g, "graph from /dev/zero: %d", s);
    s = lmg_read_file(tmp, &d, &n);
    CHECK(s == LMG_ERR_IO && strstr(lmg_last_error(), "a folder"), "folder: %s", lmg_last_error());
    CHECK(now() - t0 < 5, "took %.1f s", now() - t0);
    write_bytes(tpath("ten"), "0123456789", 10);
    s = lmg_read_file_max(tpath("ten"), 9, &d, &n);
    CHECK(s == LMG_ERR_IO && strstr(lmg_last_error(), "10 bytes") && !d, "max: %s", lmg_last_error());
    s = lmg_read_file_max(tpath("ten"), 10, &d, &n);
    CHECK(s == LMG_OK && n == 10 && memcmp(d, "0123456789", 11) == 0, "exactly max: %d", s);
    free(d);

    /* A graph whose external data is a FIFO. */
    lmg_graph *w = lmg_graph_new("ext");
    float v[64] = {0};
    int64_t dim = 64;
    int p = lmg_graph_param(w, "w", LMG_DTYPE_F32, lmg_shape_make(1, &dim), v);
    lmg_graph_add_output(w, lmg_unary(w, LMG_OP_EXP, p));
    s = lmg_graph_save(w, tpath("ext.pb"), 16);
    CHECK(s == LMG_OK && exists(tpath("ext.safetensors")), "save: %s", lmg_last_error());
    lmg_graph_free(w);
    unlink(tpath("ext.safetensors"));
    mkfifo(tpath("ext.safetensors"), 0644);
    t0 = now();
    s = lmg_graph_load(tpath("ext.pb"), &g);
    CHECK(s != LMG_OK && !g && strstr(lmg_last_error(), "FIFO") && now() - t0 < 5,
          "external FIFO: %d %s", s, lmg_last_error());
    alarm(0);
    test_end();
}

/* ---- the atomic writer -------------------------------------------------------------- */

static void test_atomic_writer(void)
{
    test_begin("files: the atomic writer removes killed writers' temporaries, keeps live ones");
    long dead = dead_pid();
    char a[64], b[64], c[64], live[64];
    snprintf(a, sizeof a, "out.bin.tmp%ld", dead);
    snprintf(b, sizeof b, "out.bin.tmp.%ld", dead);
    snprintf(c, sizeof c, "out.bin.tmp");
    snprintf(live, sizeof live, "out.bin.tmp%ld", (long)getppid());
    const char *names[4] = {a, b, c, live};
    for (int i = 0; i < 4; i++) write_bytes(tpath(names[i]), "junk", 4);
    write_bytes(tpath("other.bin.tmp1"), "x", 1);
    lmg_status s = lmg_write_file_atomic(tpath("out.bin"), "hello", 5);
    CHECK(s == LMG_OK, "%s", lmg_last_error());
    char *d = NULL;
    size_t n = 0;
    CHECK(lmg_read_file(tpath("out.bin"), &d, &n) == LMG_OK && n == 5 && memcmp(d, "hello", 5) == 0,
          "content");
    free(d);
    CHECK(!exists(tpath(a)) && !exists(tpath(b)) && !exists(tpath(c)), "stale temporaries remain");
    CHECK(exists(tpath(live)), "a live writer's temporary was removed");
    CHECK(exists(tpath("other.bin.tmp1")), "another file's temporary was removed");
    char own[64];
    snprintf(own, sizeof own, "out.bin.tmp%ld", (long)getpid());
    CHECK(!exists(tpath(own)), "own temporary left");
    unlink(tpath(live));

    /* The tokenizer and shard writers go through it too. */
    snprintf(a, sizeof a, "tok.bpe.tmp%ld", dead);
    write_bytes(tpath(a), "junk", 4);
    lmg_bpe *t = NULL;
    char bp[400];
    snprintf(bp, sizeof bp, "%s/tok.bpe", data_dir);
    s = lmg_bpe_load(bp, &t);
    if (s == LMG_OK) s = lmg_bpe_save(t, tpath("tok.bpe"));
    CHECK(s == LMG_OK && !exists(tpath(a)), "tokenizer: %d, stale temporary %s", s,
          exists(tpath(a)) ? "left" : "removed");
    snprintf(a, sizeof a, "s.tok.tmp%ld", dead);
    write_bytes(tpath(a), "junk", 4);
    int32_t ids[4] = {1, 2, 3, 4};
    s = t ? lmg_shard_write(tpath("s.tok"), t, LMG_SPLIT_TRAIN, 1, ids, 4) : LMG_ERR_ARG;
    CHECK(s == LMG_OK && !exists(tpath(a)), "shard: %d, stale temporary %s", s,
          exists(tpath(a)) ? "left" : "removed");
    lmg_bpe_free(t);

    /* A target that is not a regular file is refused, not replaced. */
    mkfifo(tpath("pipe-out"), 0644);
    s = lmg_write_file_atomic(tpath("pipe-out"), "x", 1);
    struct stat st;
    CHECK(s == LMG_ERR_IO && strstr(lmg_last_error(), "FIFO") && stat(tpath("pipe-out"), &st) == 0 &&
              S_ISFIFO(st.st_mode),
          "FIFO target: %d %s", s, lmg_last_error());
    /* An unwritable folder: the error names the target, and nothing is left. */
    s = lmg_write_file_atomic(tpath("no-dir/x.bin"), "x", 1);
    CHECK(s == LMG_ERR_IO && strncmp(lmg_last_error(), tpath("no-dir/x.bin"), strlen(tpath("no-dir/x.bin"))) == 0,
          "no folder: %s", lmg_last_error());
    test_end();
}

/* ---- messages ----------------------------------------------------------------------- */

static void test_escaped_errors(void)
{
    test_begin("errors: control characters and non-UTF-8 bytes in names are escaped, one line");
    lmg_error(LMG_ERR_IO, "%s: cannot open", "a\nb\x1b[2Jc\xff\xc2\x9b" "d\xc3\xa9");
    const char *m = lmg_last_error();
    CHECK(strcmp(m, "a\\x0ab\\x1b[2Jc\\xff\\xc2\\x9bd\xc3\xa9: cannot open") == 0, "got '%s'", m);
    lmg_error_prefix(LMG_ERR_IO, "file %s", "x\ry");
    CHECK(strncmp(lmg_last_error(), "file x\\x0dy: a\\x0ab", 19) == 0, "prefix: '%s'", lmg_last_error());
    /* Through a loader: a path with a newline and an escape sequence. */
    lmg_graph *g = NULL;
    lmg_status s = lmg_graph_load(tpath("evil\n\x1b]0;title\x07.pb"), &g);
    m = lmg_last_error();
    CHECK(s == LMG_ERR_IO && !strchr(m, '\n') && !strchr(m, 0x1b) && !strchr(m, 0x07) &&
              strstr(m, "evil\\x0a\\x1b]0;title\\x07.pb"),
          "loader: '%s'", m);
    /* A build log keeps its lines (lmg_error_log), but still no escape sequences. */
    lmg_error_log(LMG_ERR_DEVICE, "log:\n%s", "line 1\n\x1b[31mline 2");
    CHECK(strcmp(lmg_last_error(), "log:\nline 1\n\\x1b[31mline 2") == 0, "log: '%s'", lmg_last_error());
    lmg_error(LMG_ERR_IO, "%s", "\xc2" "a\xe2\x82" "b\xf0\x9f\x98\x80");
    CHECK(strcmp(lmg_last_error(), "\\xc2a\\xe2\\x82b\xf0\x9f\x98\x80") == 0, "broken sequences: '%s'",
          lmg_last_error());
    test_end();
}

/* ---- UTF-8 -------------------------------------------------------------------------- */

static void test_utf8(void)
{
    test_begin("utf-8: the validator follows protobuf (no overlongs, surrogates, > U+10FFFF)");
    struct {
        const char *s;
        size_t valid;
    } cases[] = {
        {"plain", 5}, {"caf\xc3\xa9", 5}, {"\xe2\x82\xac", 3}, {"\xf0\x9f\x98\x80", 4},
        {"\xf4\x8f\xbf\xbf", 4}, {"a\xc0\x80", 1}, {"\xe0\x80\xaf", 0}, {"x\xed\xa0\x80", 1},
        {"\xf4\x90\x80\x80", 0}, {"ab\xe2\x82", 2}, {"\x80", 0}, {"\xff", 0}, {"\xf5\x80\x80\x80", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t got = lmg_utf8_valid_prefix(cases[i].s, strlen(cases[i].s));
        CHECK(got == cases[i].valid, "case %zu: %zu, want %zu", i, got, cases[i].valid);
    }
    test_end();

    test_begin("utf-8: lmg_graph_parse, the .pb loader and the saver refuse strings that are not UTF-8");
    lmg_graph *g = NULL;
    const char *txt = "lmgraph ir 1 opset 1\ngraph \"g\" {\n  input \"a\\xffb\" : f32[2]\n  output \"a\\xffb\"\n}\n";
    lmg_status s = lmg_graph_parse(txt, "bad.lmgt", &g);
    CHECK(s == LMG_ERR_PARSE && !g && strstr(lmg_last_error(), "bad.lmgt:3:") &&
              strstr(lmg_last_error(), "not UTF-8"),
          "escaped byte: %d %s", s, lmg_last_error());
    txt = "lmgraph ir 1 opset 1\ngraph \"g\xc0\xaf\" {\n  input a : f32[2]\n  output a\n}\n";
    s = lmg_graph_parse(txt, "raw.lmgt", &g);
    CHECK(s == LMG_ERR_PARSE && !g && strstr(lmg_last_error(), "not UTF-8"), "raw overlong: %d %s", s,
          lmg_last_error());
    txt = "lmgraph ir 1 opset 1\ngraph \"caf\xc3\xa9\" {\n  input \"\\xc3\\xa9t\\xc3\\xa9\" : f32[2]\n  output \"\\xc3\\xa9t\\xc3\\xa9\"\n}\n";
    s = lmg_graph_parse(txt, "ok.lmgt", &g);
    CHECK(s == LMG_OK, "valid UTF-8 names: %s", lmg_last_error());
    lmg_graph_free(g);
    g = NULL;

    /* A .pb written by another tool with a name that is not UTF-8. */
    lmg_graph *h = lmg_graph_new("g");
    int64_t two = 2;
    int x = lmg_graph_input(h, "xQx", LMG_DTYPE_F32, lmg_shape_make(1, &two));
    lmg_graph_add_output(h, x);
    void *buf = NULL;
    size_t n = 0;
    s = lmg_graph_save_bytes(h, &buf, &n);
    CHECK(s == LMG_OK, "%s", lmg_last_error());
    int patched = 0;
    for (size_t i = 0; i + 3 <= n; i++)
        if (memcmp((char *)buf + i, "xQx", 3) == 0) ((char *)buf)[i + 1] = (char)0xff, patched++;
    CHECK(patched >= 2, "patched %d names", patched);
    s = lmg_graph_load_bytes(buf, n, NULL, &g);
    CHECK(s == LMG_ERR_PARSE && !g && strstr(lmg_last_error(), "not UTF-8") &&
              strstr(lmg_last_error(), "byte 0xff"),
          "loader: %d %s", s, lmg_last_error());
    free(buf);
    /* The saver: a graph built in memory with such a name is not written. */
    lmg_graph_set_meta(h, "note", "\xe2\x82");
    s = lmg_graph_save(h, tpath("bad-utf8.pb"), 0);
    CHECK(s == LMG_ERR_INVALID && strstr(lmg_last_error(), "metadata value") && !exists(tpath("bad-utf8.pb")),
          "saver: %d %s", s, lmg_last_error());
    lmg_graph_free(h);
    test_end();
}

/* ---- the safetensors header beside a graph ------------------------------------------ */

static void test_st_header(void)
{
    test_begin("safetensors: a header that disagrees with the graph's byte ranges is refused");
    lmg_graph *g = lmg_graph_new("two");
    float a[16], b[16];
    for (int i = 0; i < 16; i++) a[i] = (float)i, b[i] = (float)(100 + i);
    int64_t d = 16;
    int pa = lmg_graph_param(g, "a", LMG_DTYPE_F32, lmg_shape_make(1, &d), a);
    int pb = lmg_graph_param(g, "b", LMG_DTYPE_F32, lmg_shape_make(1, &d), b);
    lmg_graph_add_output(g, lmg_add(g, pa, pb));
    lmg_status s = lmg_graph_save(g, tpath("two.pb"), 16);
    CHECK(s == LMG_OK, "%s", lmg_last_error());
    lmg_graph *back = NULL;
    s = lmg_graph_load(tpath("two.pb"), &back);
    CHECK(s == LMG_OK, "as written: %s", lmg_last_error());
    lmg_graph_free(back);
    back = NULL;
    /* The same bytes with the two names swapped in the header: every range still lies in
     * the file, but a reader going by the header would see 'a' where lmgraph reads 'b'. */
    lmg_st_writer *w = lmg_st_writer_new();
    lmg_st_writer_meta(w, "format", "lmgraph");
    lmg_shape sh = lmg_shape_make(1, &d);
    lmg_st_writer_add(w, "b", LMG_DTYPE_F32, &sh, a);
    lmg_st_writer_add(w, "a", LMG_DTYPE_F32, &sh, b);
    s = lmg_st_writer_commit(w, tpath("two.safetensors"));
    lmg_st_writer_free(w);
    CHECK(s == LMG_OK, "%s", lmg_last_error());
    s = lmg_graph_load(tpath("two.pb"), &back);
    CHECK(s == LMG_ERR_PARSE && !back && strstr(lmg_last_error(), "two.safetensors: its header puts 'a' at bytes"),
          "swapped: %d %s", s, lmg_last_error());
    /* A header with another shape for the same bytes. */
    w = lmg_st_writer_new();
    int64_t d2[2] = {4, 4};
    lmg_shape sh2 = lmg_shape_make(2, d2);
    lmg_st_writer_add(w, "a", LMG_DTYPE_F32, &sh2, a);
    lmg_st_writer_add(w, "b", LMG_DTYPE_F32, &sh, b);
    lmg_st_writer_meta(w, "format", "lmgraph");
    s = lmg_st_writer_commit(w, tpath("two.safetensors"));
    lmg_st_writer_free(w);
    s = lmg_graph_load(tpath("two.pb"), &back);
    CHECK(s == LMG_ERR_PARSE && !back && strstr(lmg_last_error(), "header says 'a' is f32[4,4], the graph says f32[16]"),
          "reshaped: %d %s", s, lmg_last_error());
    lmg_graph_free(g);
    test_end();
}

/* ---- checkpoints -------------------------------------------------------------------- */

static lmg_status write_meta(const char *path, const char *const *kv, int n)
{
    lmg_st_writer *w = lmg_st_writer_new();
    float x = 1;
    lmg_shape s = lmg_shape_make(0, NULL);
    lmg_status st = lmg_st_writer_add(w, "x", LMG_DTYPE_F32, &s, &x);
    for (int i = 0; i < n && st == LMG_OK; i++) st = lmg_st_writer_meta(w, kv[2 * i], kv[2 * i + 1]);
    if (st == LMG_OK) st = lmg_st_writer_commit(w, path);
    lmg_st_writer_free(w);
    return st;
}

static void test_checkpoint_meta(void)
{
    test_begin("checkpoint: every metadata field is validated, the error names file and field");
    const char *good[] = {"format", LMG_CHECKPOINT_FORMAT, "step", "40", "rng.data_seed", "7",
                          "rng.model_seed", "18446744073709551615", "best_val_loss", "3.25",
                          "best_step", "40", "bad_evals", "0", "elapsed_s", "12.5"};
    const char *p = tpath("meta.safetensors");
    lmg_checkpoint_meta m;
    CHECK(write_meta(p, good, 8) == LMG_OK, "%s", lmg_last_error());
    lmg_status s = lmg_checkpoint_read_meta(p, 100, &m);
    CHECK(s == LMG_OK && m.step == 40 && m.data_seed == 7 && m.model_seed == UINT64_MAX &&
              m.best_val_loss == 3.25 && m.best_step == 40 && m.bad_evals == 0 && m.elapsed_s == 12.5,
          "valid: %d %s", s, lmg_last_error());
    struct {
        const char *key, *value, *field;
    } bad[] = {
        {"format", "lmgraph-checkpoint-2", "'format'"},
        {"step", "abc", "'step'"},
        {"step", "", "'step'"},
        {"step", "40x", "'step'"},
        {"step", "99999999999999999999", "'step'"},
        {"step", "9223372036854775807", "'step'"},
        {"step", "101", "'step'"},
        {"step", "-1", "'step'"},
        {"rng.data_seed", "-3", "'rng.data_seed'"},
        {"rng.data_seed", "18446744073709551616", "'rng.data_seed'"},
        {"best_val_loss", "nan", "'best_val_loss'"},
        {"best_val_loss", "-inf", "'best_val_loss'"},
        {"best_val_loss", "1e999", "'best_val_loss'"},
        {"best_step", "41", "'best_step'"},
        {"bad_evals", "-1", "'bad_evals'"},
        {"bad_evals", "2.5", "'bad_evals'"},
        {"elapsed_s", "nan", "'elapsed_s'"},
        {"step", NULL, "'step' is missing"},
        {"format", NULL, "'format' is missing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *kv[16];
        int n = 0;
        for (int k = 0; k < 8; k++) {
            if (strcmp(good[2 * k], bad[i].key) == 0) {
                if (!bad[i].value) continue;
                kv[2 * n] = good[2 * k], kv[2 * n + 1] = bad[i].value;
            } else {
                kv[2 * n] = good[2 * k], kv[2 * n + 1] = good[2 * k + 1];
            }
            n++;
        }
        write_meta(p, kv, n);
        s = lmg_checkpoint_read_meta(p, 100, &m);
        const char *e = lmg_last_error();
        CHECK(s == LMG_ERR_PARSE && strstr(e, p) && strstr(e, bad[i].field) && !strchr(e, '\n'),
              "%s = %s: %d '%s'", bad[i].key, bad[i].value ? bad[i].value : "(none)", s, e);
    }
    /* "inf" is the documented "no evaluation yet", then best_step must be 0. */
    const char *none[] = {"format", LMG_CHECKPOINT_FORMAT, "step", "5", "rng.data_seed", "1",
                          "rng.model_seed", "1", "best_val_loss", "inf", "best_step", "0",
                          "bad_evals", "0"};
    write_meta(p, none, 7);
    s = lmg_checkpoint_read_meta(p, 100, &m);
    CHECK(s == LMG_OK && isinf(m.best_val_loss) && m.elapsed_s == 0, "none yet: %s", lmg_last_error());
    none[11] = "3";
    write_meta(p, none, 7);
    s = lmg_checkpoint_read_meta(p, 100, &m);
    CHECK(s == LMG_ERR_PARSE && strstr(lmg_last_error(), "best_step"), "inf with a best step: %s",
          lmg_last_error());
    test_end();
}

/* ---- the trainer -------------------------------------------------------------------- */

static lmg_train_config tiny(const char *out)
{
    lmg_train_config c;
    lmg_train_config_default(&c);
    lmg_model_config_default(&c.model, "gpt");
    c.model.layers = 1;
    c.model.heads = 2;
    c.model.d_model = 32;
    c.model.d_ff = 64;
    c.model.vocab = 300;
    c.model.seq = 16;
    c.model.batch = 4;
    c.optim.lr = 3e-3;
    c.optim.min_lr = 3e-4;
    c.optim.warmup = 2;
    c.optim.steps = 20;
    c.eval_every = 5;
    c.eval_batches = 2;
    c.patience = 0;
    c.data_dir = data_dir;
    c.out_dir = out;
    c.backend = "ref";
    return c;
}

static int64_t meta_step(const char *path, const char *key)
{
    lmg_st_file *f;
    if (lmg_st_open_header(path, &f) != LMG_OK) return -1;
    const char *v = lmg_st_meta(f, key);
    int64_t s = v ? strtoll(v, NULL, 10) : -1;
    lmg_st_close(f);
    return s;
}

static int count_lines(const char *path, const char *needle)
{
    char *d = NULL;
    size_t n = 0;
    if (lmg_read_file(path, &d, &n) != LMG_OK) return -1;
    int k = 0;
    for (char *p = d; (p = strstr(p, needle)); p++) k++;
    free(d);
    return k;
}

/* The checkpoint write of step 10 fails (a folder stands where its temporary goes). */
static void block_at_10(const lmg_train_event *e, void *user)
{
    if (e->kind == LMG_TRAIN_EVAL && e->step == 10) {
        char p[700];
        snprintf(p, sizeof p, "%s/checkpoint.safetensors.tmp%ld", (const char *)user, (long)getpid());
        mkdir(p, 0755);
    }
}

static void stop_at_7(const lmg_train_event *e, void *user)
{
    (void)user;
    if (e->kind == LMG_TRAIN_STEP && e->step == 7) lmg_train_request_stop(SIGINT);
}

static void copy_file(const char *from, const char *to)
{
    char *d = NULL;
    size_t n = 0;
    if (lmg_read_file(from, &d, &n) == LMG_OK) lmg_write_file_atomic(to, d, n);
    free(d);
}

/* Rewrites a checkpoint with one metadata value replaced, tensors unchanged. */
static lmg_status tamper(const char *path, const char *key, const char *value)
{
    lmg_st_file *f;
    LMG_TRY(lmg_st_open(path, &f));
    lmg_st_writer *w = lmg_st_writer_new();
    lmg_status s = w ? LMG_OK : LMG_ERR_NOMEM;
    for (int i = 0; s == LMG_OK && i < lmg_st_count(f); i++) {
        lmg_dtype t;
        lmg_shape sh;
        const void *d;
        s = lmg_st_find(f, lmg_st_name(f, i), &t, &sh, &d, NULL);
        if (s == LMG_OK) s = lmg_st_writer_add(w, lmg_st_name(f, i), t, &sh, d);
    }
    for (int i = 0; s == LMG_OK && i < lmg_st_meta_count(f); i++) {
        const char *k = lmg_st_meta_key(f, i);
        s = lmg_st_writer_meta(w, k, strcmp(k, key) == 0 ? value : lmg_st_meta(f, k));
    }
    if (s == LMG_OK) s = lmg_st_writer_commit(w, path);
    lmg_st_writer_free(w);
    lmg_st_close(f);
    return s;
}

static void test_best_order(void)
{
    test_begin("trainer: best.safetensors is never newer than checkpoint.safetensors; resume repairs it");
    char d[400], ck[500], best[500], blocker[700];
    snprintf(d, sizeof d, "%s/order", tmp);
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", d);
    snprintf(best, sizeof best, "%s/best.safetensors", d);
    snprintf(blocker, sizeof blocker, "%s/checkpoint.safetensors.tmp%ld", d, (long)getpid());
    lmg_train_config c = tiny(d);
    c.progress = block_at_10;
    c.user = d;
    lmg_status s = lmg_train_run(&c, NULL);
    CHECK(s == LMG_ERR_IO && strstr(lmg_last_error(), "checkpoint.safetensors"), "the failing write: %d %s",
          s, lmg_last_error());
    int64_t cs = meta_step(ck, "step"), bs = meta_step(best, "step");
    CHECK(cs == 5 && bs <= cs, "checkpoint step %lld, best step %lld", (long long)cs, (long long)bs);
    rmdir(blocker);
    /* Resume: steps 6..20 again; then lose best.safetensors as a crash between the two
     * writes would, and resume once more from a checkpoint whose best is its own step. */
    lmg_train_config r;
    lmg_train_config_default(&r);
    r.resume_dir = d;
    r.backend = "ref";
    r.stop_at = 15;
    s = lmg_train_run(&r, NULL);
    CHECK(s == LMG_OK, "resume: %s", lmg_last_error());
    int64_t bstep = meta_step(ck, "best_step");
    CHECK(meta_step(ck, "step") == 15 && meta_step(best, "step") == bstep, "after resume: %lld / %lld",
          (long long)meta_step(ck, "step"), (long long)meta_step(best, "step"));
    if (bstep == 15) {
        unlink(best);
        r.stop_at = 0;
        s = lmg_train_run(&r, NULL);
        CHECK(s == LMG_OK && meta_step(best, "step") >= 15, "repair: %d %s, best step %lld", s,
              lmg_last_error(), (long long)meta_step(best, "step"));
    } else {
        printf("#   step 15 did not improve (best %lld): repair case not reached\n", (long long)bstep);
    }
    test_end();

    test_begin("trainer: a requested stop finishes the step, writes the checkpoint, resumes exactly");
    char d2[400], ck2[500], met[500], straight[400];
    snprintf(d2, sizeof d2, "%s/stopped", tmp);
    snprintf(ck2, sizeof ck2, "%s/checkpoint.safetensors", d2);
    snprintf(met, sizeof met, "%s/metrics.jsonl", d2);
    c = tiny(d2);
    c.progress = stop_at_7;
    lmg_train_result res;
    s = lmg_train_run(&c, &res);
    CHECK(s == LMG_OK && res.interrupted && res.step == 7 && meta_step(ck2, "step") == 7,
          "%d %s: interrupted %d at %lld, checkpoint %lld", s, lmg_last_error(), res.interrupted,
          (long long)res.step, (long long)meta_step(ck2, "step"));
    CHECK(lmg_train_stop_requested() == SIGINT, "the request stays until cleared");
    lmg_train_clear_stop();
    lmg_train_config_default(&r);
    r.resume_dir = d2;
    r.backend = "ref";
    s = lmg_train_run(&r, &res);
    CHECK(s == LMG_OK && !res.interrupted && res.step == 20, "resume: %d %s", s, lmg_last_error());
    CHECK(count_lines(met, "\"split\":\"train\"") == 20, "%d train lines", count_lines(met, "\"split\":\"train\""));
    /* The same losses as a run that was never stopped. */
    snprintf(straight, sizeof straight, "%s/straight", tmp);
    c = tiny(straight);
    s = lmg_train_run(&c, NULL);
    char a1[500], *m1 = NULL, *m2 = NULL;
    size_t n1 = 0, n2 = 0;
    snprintf(a1, sizeof a1, "%s/metrics.jsonl", straight);
    lmg_read_file(a1, &m1, &n1);
    lmg_read_file(met, &m2, &n2);
    int same = m1 && m2;
    for (char *p = m1, *q = m2; same && p && q && *p && *q;) {
        /* Compare up to the timing fields. */
        char *pe = strstr(p, ",\"tokens_per_s"), *qe = strstr(q, ",\"tokens_per_s");
        if (!pe || !qe || pe - p != qe - q || memcmp(p, q, (size_t)(pe - p)) != 0) same = 0;
        p = strchr(p, '\n');
        q = strchr(q, '\n');
        if (p) p++;
        if (q) q++;
        if (!p != !q) same = 0;
    }
    CHECK(s == LMG_OK && same, "stopped-and-resumed losses differ from the straight run");
    free(m1);
    free(m2);
    test_end();

    test_begin("trainer: --resume refuses a checkpoint whose metadata does not validate");
    const char *fields[][2] = {{"step", "abc"}, {"step", "9223372036854775807"},
                               {"best_val_loss", "nan"}, {"format", "lmgraph-checkpoint-9"}};
    char good[500];
    snprintf(good, sizeof good, "%s/good.safetensors", tmp);
    copy_file(ck2, good);
    for (int i = 0; i < 4; i++) {
        copy_file(good, ck2);
        s = tamper(ck2, fields[i][0], fields[i][1]);
        lmg_train_config_default(&r);
        r.resume_dir = d2;
        r.backend = "ref";
        if (s == LMG_OK) s = lmg_train_run(&r, &res);
        char want[64];
        snprintf(want, sizeof want, "metadata '%s'", fields[i][0]);
        CHECK(s == LMG_ERR_PARSE && strstr(lmg_last_error(), "checkpoint.safetensors") &&
                  strstr(lmg_last_error(), want),
              "%s = %s: %d %s", fields[i][0], fields[i][1], s, lmg_last_error());
    }
    CHECK(count_lines(met, "\"split\":\"train\"") == 20, "the metrics were rewritten");
    test_end();
}

static void test_relocatable(void)
{
    test_begin("runs: a moved run works; a copy beside another run's data is refused, not used");
    char r1[400], r2[400], r3[400], p[700], q[700];
    snprintf(r1, sizeof r1, "%s/run1", tmp);
    snprintf(r2, sizeof r2, "%s/moved/run2", tmp);
    snprintf(r3, sizeof r3, "%s/run3", tmp);
    snprintf(p, sizeof p, "%s/data", r1);
    const char *corpus[1] = {"/usr/share/games/fortunes/art"};
    lmg_status s = lmg_train_prepare_data(corpus, 1, 300, 1, p);
    lmg_train_config c = tiny(r1);
    c.data_dir = p;
    c.optim.steps = 5;
    if (s == LMG_OK) s = lmg_train_run(&c, NULL);
    CHECK(s == LMG_OK, "train: %s", lmg_last_error());
    lmg_graph *g = NULL;
    lmg_model_config mc;
    char *dd = NULL;
    if (lmg_run_open(r1, &g, &mc, &dd, NULL) == LMG_OK) {
        const char *rec = lmg_graph_get_meta(g, "train.data_dir");
        CHECK(rec && strcmp(rec, "data") == 0, "recorded data folder '%s'", rec ? rec : "(none)");
        CHECK(lmg_graph_get_meta(g, "train.data_fingerprint") != NULL, "no fingerprint recorded");
    }
    lmg_graph_free(g);
    free(dd);
    snprintf(q, sizeof q, "%s/moved", tmp);
    mkdir(q, 0755);
    CHECK(rename(r1, r2) == 0, "rename: %s", strerror(errno));
    lmg_eval_result e;
    s = lmg_eval_run(r2, NULL, "val", "ref", NULL, 1, &e);
    CHECK(s == LMG_OK && isfinite(e.loss), "eval of the moved run: %s", lmg_last_error());
    lmg_train_config r;
    lmg_train_config_default(&r);
    r.resume_dir = r2;
    r.backend = "ref";
    s = lmg_train_run(&r, NULL);
    CHECK(s == LMG_OK, "resume of the moved run: %s", lmg_last_error());

    /* A copy of the run's files next to data prepared with another tokenizer. */
    mkdir(r3, 0755);
    const char *files[] = {"train.pb", "train.safetensors", "checkpoint.safetensors", "best.safetensors"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", r2, files[i]);
        snprintf(q, sizeof q, "%s/%s", r3, files[i]);
        copy_file(p, q);
    }
    snprintf(p, sizeof p, "%s/data", r3);
    const char *other[1] = {"/usr/share/games/fortunes/science"};
    s = lmg_train_prepare_data(other, 1, 300, 1, p);
    CHECK(s == LMG_OK, "other data: %s", lmg_last_error());
    s = lmg_eval_run(r3, NULL, "val", "ref", NULL, 1, &e);
    CHECK(s == LMG_ERR_DATA && strstr(lmg_last_error(), "fingerprint") && strstr(lmg_last_error(), "another run"),
          "eval beside other data: %d %s", s, lmg_last_error());
    lmg_train_config_default(&r);
    r.resume_dir = r3;
    r.backend = "ref";
    s = lmg_train_run(&r, NULL);
    CHECK(s == LMG_ERR_DATA && strstr(lmg_last_error(), "fingerprint"), "resume beside other data: %d %s",
          s, lmg_last_error());
    lmg_sampler *sm = NULL;
    s = lmg_sampler_open(r3, NULL, "ref", NULL, &sm);
    CHECK(s == LMG_ERR_DATA && !sm, "sampler beside other data: %d %s", s, lmg_last_error());
    lmg_sampler_free(sm);
    test_end();

    test_begin("trainer: a model vocabulary larger than the tokenizer's is refused before anything is written");
    char r4[400];
    snprintf(r4, sizeof r4, "%s/bigvocab", tmp);
    c = tiny(r4);
    c.model.vocab = 400;
    s = lmg_train_run(&c, NULL);
    snprintf(p, sizeof p, "%s/train.pb", r4);
    CHECK(s == LMG_ERR_ARG && strstr(lmg_last_error(), "larger than the tokenizer's") &&
              strstr(lmg_last_error(), "--vocab 300") && !exists(p),
          "%d %s", s, lmg_last_error());
    test_end();
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/lmg_test_reliability_XXXXXX");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(data_dir, sizeof data_dir, "%s/data", tmp);
    test_begin("data: a tokenizer of 300 ids and shards of one fortunes file");
    const char *corpus[1] = {"/usr/share/games/fortunes/art"};
    lmg_status s = lmg_train_prepare_data(corpus, 1, 300, 1, data_dir);
    CHECK(s == LMG_OK, "prepare: %s", lmg_last_error());
    test_end();
    if (s != LMG_OK) return test_summary();
    test_no_hang();
    test_atomic_writer();
    test_escaped_errors();
    test_utf8();
    test_st_header();
    test_checkpoint_meta();
    test_best_order();
    test_relocatable();
    return test_finish(tmp);
}
