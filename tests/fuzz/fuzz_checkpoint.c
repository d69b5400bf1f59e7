/* fuzz_checkpoint.c — libFuzzer harness for checkpoint loading (lmg_checkpoint_load into a
 * ref-backend executor of a small graph with parameters and AdamW state): every input is
 * refused with a status or fills every parameter and moment; the trainer's metadata reader
 * (lmg_checkpoint_read_meta) refuses it or returns fields inside their documented ranges. */
#include "fuzz.h"

#include <math.h>
#include "../../backends/backend.h"
#include "../../graph/safetensors.h"
#include "../../train/train.h"

/* tests/fuzz/make_corpus.py reads this text to write the seed checkpoints. */
static const char graph_text[] =
    "lmgraph ir 1 opset 1\n"
    "graph \"ckpt\" {\n"
    "  input x : f32[1,2]\n"
    "  param w : f32[2,3] = [1, 2, 3, 4, 5, 6]\n"
    "  param b : f32[3] = [0.5, -0.5, 1]\n"
    "  state adam.m/w : f32[2,3] = [0, 0, 0, 0, 0, 0]\n"
    "  state adam.v/w : f32[2,3] = [0, 0, 0, 0, 0, 0]\n"
    "  state adam.m/b : f32[3] = [0, 0, 0]\n"
    "  state adam.v/b : f32[3] = [0, 0, 0]\n"
    "  node h = MatMul(x, w)\n"
    "  node y = Add(h, b)\n"
    "  output y\n"
    "}\n";

static lmg_graph *g;
static lmg_exec *e;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (lmg_graph_parse(graph_text, "checkpoint.lmgt", &g) != LMG_OK ||
        lmg_backend_ref.init(g, &(lmg_exec_opts){0}, &e) != LMG_OK) {
        fprintf(stderr, "fuzz_checkpoint: %s\n", lmg_last_error());
        abort();
    }
    return 0;
}

/* The metadata a resume trusts: refused with a message, or every field in range. */
static void check_meta(const uint8_t *data, size_t size)
{
    enum { MAX_STEP = 1000 };
    lmg_checkpoint_meta m;
    lmg_status s = lmg_checkpoint_read_meta(fuzz_file(data, size), MAX_STEP, &m);
    if (s != LMG_OK) {
        FUZZ_ASSERT(lmg_last_error()[0], "a refused metadata has a message");
        return;
    }
    int64_t max_step = m.steps_total > MAX_STEP ? m.steps_total : MAX_STEP;
    FUZZ_ASSERT(m.step >= 0 && m.step <= max_step, "step %lld", (long long)m.step);
    FUZZ_ASSERT(m.best_step >= 0 && m.best_step <= m.step, "best_step %lld", (long long)m.best_step);
    FUZZ_ASSERT(m.bad_evals >= 0 && m.bad_evals <= m.step, "bad_evals %d", m.bad_evals);
    FUZZ_ASSERT(!isnan(m.best_val_loss) && (isfinite(m.best_val_loss) || m.best_step == 0),
                "best_val_loss %g at step %lld", m.best_val_loss, (long long)m.best_step);
    FUZZ_ASSERT(isfinite(m.elapsed_s) && m.elapsed_s >= 0, "elapsed_s %g", m.elapsed_s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_meta(data, size);
    lmg_status s = lmg_checkpoint_load(fuzz_file(data, size), g, &lmg_backend_ref, e, 1);
    if (s != LMG_OK) {
        FUZZ_ASSERT(lmg_last_error()[0], "a refusal has a message");
        return 0;
    }
    /* Accepted: the file held every parameter and moment with the graph's dtype and shape. */
    lmg_st_file *f;
    FUZZ_ASSERT(lmg_st_open_bytes(data, size, "ckpt", &f) == LMG_OK, "reopen: %s", lmg_last_error());
    for (int v = 0; v < g->n_values; v++) {
        const lmg_value *x = &g->values[v];
        if (x->kind != LMG_VALUE_INIT) continue;
        float got[6], want[6];
        const void *p;
        size_t n;
        FUZZ_ASSERT(lmg_st_find(f, x->name, NULL, NULL, &p, &n) == LMG_OK && n <= sizeof want,
                    "'%s' was loaded but is not in the file", x->name);
        memcpy(want, p, n);
        FUZZ_ASSERT(lmg_backend_ref.read(e, v, got, n) == LMG_OK, "read '%s'", x->name);
        FUZZ_ASSERT(memcmp(got, want, n) == 0, "'%s' differs from the file", x->name);
    }
    lmg_st_close(f);
    return 0;
}
