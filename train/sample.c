/* sample.c — text generation from a trained GPT run: a batch-1 forward graph with the run's
 * weights and a host-side loop that samples each next token from the logits. */
#include "train.h"
#include "../backends/backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct lmg_sampler {
    lmg_graph *run;       /* train.pb: keeps the config strings alive */
    lmg_model_config mc;
    char *data_dir;
    lmg_graph *g;
    const lmg_backend *b;
    lmg_exec *e;
    int ids, logits;
    int32_t *window;
    float *lg;
    double *p;
    int *idx;
};

void lmg_sampler_free(lmg_sampler *s)
{
    if (!s) return;
    if (s->e) s->b->free(s->e);
    lmg_graph_free(s->g);
    lmg_graph_free(s->run);
    free(s->data_dir);
    free(s->window);
    free(s->lg);
    free(s->p);
    free(s->idx);
    free(s);
}

lmg_status lmg_sampler_open(const char *run_dir, const char *checkpoint, const char *backend,
                            const char *device, lmg_sampler **out)
{
    *out = NULL;
    lmg_sampler *s = calloc(1, sizeof *s);
    if (!s) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status st = lmg_run_open(run_dir, &s->run, &s->mc, &s->data_dir, NULL);
    const char *graph_name = st == LMG_OK ? lmg_graph_get_meta(s->run, "model.graph") : NULL;
    if (st == LMG_OK && !graph_name && strcmp(s->mc.arch, "gpt") != 0)
        st = lmg_error(LMG_ERR_ARG, "run '%s' is a %s model: only gpt runs generate text",
                       run_dir, s->mc.arch);
    if (st == LMG_OK) {
        lmg_model_config c = s->mc;
        c.batch = 1;
        c.micro_batches = 1;
        c.dropout = 0.0;
        c.objective = "none";
        if (graph_name) {
            /* A model graph (model.pb) with logits: bound to one sequence. Its own causality
             * is the user's; a graph that sees the future samples nonsense. */
            lmg_graph *mg = NULL;
            char *mp = lmg_path_join(run_dir, "model.pb");
            st = mp ? lmg_graph_load(mp, &mg) : lmg_error(LMG_ERR_NOMEM, "out of memory");
            free(mp);
            if (st == LMG_OK && lmg_graph_find(mg, "logits") < 0)
                st = lmg_error(LMG_ERR_ARG, "run '%s': the model graph '%s' has no logits to "
                               "sample from", run_dir, graph_name);
            if (st == LMG_OK) st = lmg_model_graph_build(mg, &c, NULL, 1.0, &s->g);
            if (st == LMG_OK) lmg_graph_eval_mode(s->g);
            lmg_graph_free(mg);
        } else {
            st = lmg_model_build(&c, &s->g);
        }
    }
    if (st == LMG_OK) st = lmg_graph_verify(s->g);
    if (st == LMG_OK) {
        s->b = lmg_backend_find(backend ? backend : "opencl");
        if (!s->b || !s->b->init)
            st = lmg_error(LMG_ERR_NOT_FOUND, "backend '%s' is not available",
                           backend ? backend : "opencl");
    }
    lmg_exec_opts opts = {device, 0};
    if (st == LMG_OK) st = s->b->init(s->g, &opts, &s->e);
    char *ck = NULL;
    if (st == LMG_OK) {
        ck = checkpoint ? strdup(checkpoint) : lmg_path_join(run_dir, "best.safetensors");
        if (ck && !checkpoint && access(ck, F_OK) != 0) {
            free(ck);
            ck = lmg_path_join(run_dir, "checkpoint.safetensors");
        }
        if (!ck) st = lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    if (st == LMG_OK) st = lmg_checkpoint_load(ck, s->g, s->b, s->e, 0);
    free(ck);
    if (st == LMG_OK) {
        int T = s->mc.seq, V = s->mc.vocab;
        s->ids = lmg_graph_find(s->g, "ids");
        s->logits = lmg_graph_find(s->g, "logits");
        s->window = malloc((size_t)T * sizeof *s->window);
        s->lg = malloc((size_t)T * V * sizeof *s->lg);
        s->p = malloc((size_t)V * sizeof *s->p);
        s->idx = malloc((size_t)V * sizeof *s->idx);
        if (!s->window || !s->lg || !s->p || !s->idx) st = lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    if (st != LMG_OK) {
        lmg_sampler_free(s);
        return st;
    }
    *out = s;
    return LMG_OK;
}

const lmg_model_config *lmg_sampler_config(const lmg_sampler *s)
{
    return &s->mc;
}

const char *lmg_sampler_data_dir(const lmg_sampler *s)
{
    return s->data_dir;
}

/* splitmix64: the sampling draws (host side; no need for the ops' Philox streams). */
static double uniform(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static int by_logit_desc(const void *a, const void *b, void *logits)
{
    const float *l = logits;
    float x = l[*(const int *)a], y = l[*(const int *)b];
    if (x != y) return x < y ? 1 : -1;
    return *(const int *)a - *(const int *)b;
}

lmg_status lmg_sampler_generate(lmg_sampler *s, int32_t *ids, int *n, int n_new,
                                double temperature, int top_k, uint64_t seed, int stop_id)
{
    int T = s->mc.seq, V = s->mc.vocab;
    uint64_t rng = seed;
    if (*n < 1) return lmg_error(LMG_ERR_ARG, "generate: the prompt needs at least one token");
    for (int k = 0; k < n_new; k++) {
        /* The last T ids, left-aligned: causal attention makes the padding after them inert. */
        int len = *n < T ? *n : T, start = *n - len;
        for (int t = 0; t < T; t++) s->window[t] = t < len ? ids[start + t] : 0;
        LMG_TRY(s->b->write(s->e, s->ids, s->window, (size_t)T * 4));
        LMG_TRY(s->b->run(s->e, (uint64_t)k));
        LMG_TRY(s->b->read(s->e, s->logits, s->lg, (size_t)T * V * 4));
        const float *row = s->lg + (size_t)(len - 1) * V;
        int next = 0;
        if (temperature <= 0.0) {
            for (int v = 1; v < V; v++)
                if (row[v] > row[next]) next = v;
        } else {
            int kk = top_k > 0 && top_k < V ? top_k : V;
            for (int v = 0; v < V; v++) s->idx[v] = v;
            qsort_r(s->idx, (size_t)V, sizeof *s->idx, by_logit_desc, (void *)row);
            double mx = row[s->idx[0]], z = 0;
            for (int i = 0; i < kk; i++) z += s->p[i] = exp((row[s->idx[i]] - mx) / temperature);
            double u = uniform(&rng) * z, acc = 0;
            next = s->idx[kk - 1];
            for (int i = 0; i < kk; i++) {
                acc += s->p[i];
                if (u < acc) {
                    next = s->idx[i];
                    break;
                }
            }
        }
        ids[(*n)++] = next;
        if (next == stop_id) break;
    }
    return LMG_OK;
}
