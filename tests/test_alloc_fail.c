/* test_alloc_fail.c — out-of-memory paths, tested rather than hoped for: every allocation the
 * library makes while loading a small GPT's .pb, verifying it, building its training step
 * (autodiff, clipping, AdamW) and running one step on the ref backend is made to fail in
 * turn, N = 1, 2, ... until the sequence needs fewer than N. Each failure must end in
 * LMG_ERR_NOMEM with a message, no crash, and (in build/asan) no leak.
 *
 * The link line wraps malloc, calloc, realloc, strdup and strndup (-Wl,--wrap=...), so the
 * library's own objects call the __wrap_ functions below; the .pb decoder in libprotobuf-c
 * allocates through the ProtobufCAllocator io.c hands it, which calls malloc from io.c. What
 * is not covered: allocations inside libc (fopen's FILE, qsort's buffer) and OpenBLAS. */
#include "test.h"
#include "../backends/backend.h"
#include "../models/models.h"
#include "../train/train.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
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

/* ---- the sequence --------------------------------------------------------------------- */

enum { B = 2, T = 4, V = 16 };

static int32_t ids[B * T], targets[B * T]; /* static: the test itself allocates nothing armed */

static const char *phase;

/* Load, verify, build the training step, run it once; the loss of that step in *loss. */
static lmg_status one_step(const char *pb, float *loss)
{
    const lmg_backend *b = &lmg_backend_ref;
    lmg_graph *g = NULL;
    lmg_exec *e = NULL;
    lmg_optim_config o;
    lmg_optim_config_default(&o);
    float lr = 1e-3f;
    int32_t step = 1;
    phase = "load";
    lmg_status s = lmg_graph_load(pb, &g);
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

/* The sequence with allocation `n` failing (0: none); the allocations it made in *count. */
static lmg_status run_failing(const char *pb, long n, float *loss, long *count)
{
    lmg_error_clear();
    n_allocs = 0;
    fail_at = n;
    armed = 1;
    lmg_status s = one_step(pb, loss);
    armed = 0;
    *count = n_allocs;
    return s;
}

int main(void)
{
    char dir[] = "/tmp/lmg_alloc_fail.XXXXXX", pb[64];
    if (!mkdtemp(dir)) return 1;
    snprintf(pb, sizeof pb, "%s/gpt.pb", dir);
    for (int i = 0; i < B * T; i++) {
        ids[i] = 5 + (7 * i) % (V - 5);
        targets[i] = 5 + (7 * i + 3) % (V - 5);
    }

    test_begin("alloc fail: a 1-layer GPT saved as .pb trains one step with no failure");
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
    float want = NAN, got = NAN;
    long total = 0, again = 0;
    CHECK(lmg_model_build(&c, &g) == LMG_OK && lmg_graph_save(g, pb, 0) == LMG_OK, "build: %s",
          lmg_last_error());
    lmg_graph_free(g);
    /* Twice: anything the library sets up once per process happens in the first run, and
     * the second gives the count every later run makes. */
    CHECK(run_failing(pb, 0, &want, &total) == LMG_OK, "%s: %s", phase, lmg_last_error());
    CHECK(run_failing(pb, 0, &want, &total) == LMG_OK && isfinite(want), "%s: %s (loss %g)",
          phase, lmg_last_error(), want);
    CHECK(run_failing(pb, 0, &got, &again) == LMG_OK && again == total && got == want,
          "a third run made %ld allocations (not %ld), loss %g (not %g)", again, total, got, want);
    test_end();

    test_begin("alloc fail: each allocation of load, verify, autodiff and one step fails in "
               "turn, ending in LMG_ERR_NOMEM with a message");
    long n = 1, bad = 0, leaks = 0;
    for (; total > 0; n++) {
        long count;
        float loss = NAN;
        lmg_status s = run_failing(pb, n, &loss, &count);
        if (count < n) { /* nothing failed: the whole sequence ran */
            CHECK(s == LMG_OK && loss == want, "with no failure left: %s (loss %g, want %g)",
                  lmg_last_error(), loss, want);
            break;
        }
        if (s != LMG_ERR_NOMEM || !lmg_last_error()[0]) {
            if (bad++ < 10)
                CHECK(0, "allocation %ld (in %s) failed: status %s, message '%s'", n, phase,
                      lmg_status_name(s), lmg_last_error());
        }
#if HAVE_LSAN
        /* A leak stays unreachable, so checking every 128 failures (a check scans the whole
         * heap) still finds it; the report's stack names the allocation. Once is enough. */
        if (!leaks && n % 128 == 0 && __lsan_do_recoverable_leak_check()) {
            leaks++;
            printf("#   a failure of allocation %ld..%ld leaked (report above)\n", n - 127, n);
        }
#endif
    }
#if HAVE_LSAN
    if (!leaks && __lsan_do_recoverable_leak_check()) {
        leaks++;
        printf("#   a failure of allocation %ld..%ld leaked (report above)\n", n - n % 128, n);
    }
#endif
    CHECK(n > total, "stopped at allocation %ld of %ld", n, total);
    CHECK(bad == 0, "%ld of %ld failures did not end in LMG_ERR_NOMEM with a message", bad, n - 1);
    printf("# %ld allocations in the sequence, each failed once\n", total);
    test_end();

    if (HAVE_LSAN) {
        test_begin("alloc fail: no failure leaks (LeakSanitizer every 128 failures and at the end)");
        CHECK(leaks == 0, "a failure leaked");
        test_end();
    } else {
        printf("ok - alloc fail: no failure leaks # SKIP needs LeakSanitizer (build/asan)\n");
    }
    unlink(pb);
    rmdir(dir);
    return test_summary();
}
