/* model_flags.h — the model options `lmg build` and `lmg train` share (--model, --layers,
 * --objective, ...): rows of their option tables and the lmg_model_config they make. */
#ifndef LMG_MODEL_FLAGS_H
#define LMG_MODEL_FLAGS_H

#include "cli.h"
#include "../models/models.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The option group every model option belongs to (a run's setup: lmg train --resume takes
 * none of them). */
#define MODEL_FLAGS_GROUP CLI_GROUP1

/* What the options say; -1 (or NULL) where the arch's default stays. */
typedef struct model_flags {
    const char *arch;
    long long layers, heads, d_model, d_ff, vocab, seq, batch, micro_batches, n_classes, seed;
    double dropout;
    const char *objective, *objective_graph, *pool;
    double objective_weight;
    lmg_model_config c; /* model_flags_apply: the arch's defaults, then the options */
} model_flags;

static inline void model_flags_init(model_flags *m)
{
    memset(m, 0, sizeof *m);
    m->arch = "gpt";
    m->layers = m->heads = m->d_model = m->d_ff = m->vocab = m->seq = m->batch = -1;
    m->micro_batches = m->n_classes = m->seed = -1;
    m->dropout = -1;
    m->objective_weight = 1.0;
}

/* The rows, for a table: MODEL_FLAGS_OPTS(&m), then the command's own. */
#define MODEL_FLAGS_OPTS(m)                                                                      \
    CLI_SECTION("model options"),                                                                \
    CLI_CHOICE("--model", NULL, "gpt|bert", &(m)->arch,                                                \
               "decoder with causal attention (default) or encoder", .flags = MODEL_FLAGS_GROUP), \
    CLI_INT("--layers", "N", &(m)->layers, 1, 1000, "transformer blocks (default 4)",            \
            .flags = MODEL_FLAGS_GROUP),                                                         \
    CLI_INT("--heads", "N", &(m)->heads, 1, 4096,                                                \
            "attention heads; d-model must be a multiple (default 4)", .flags = MODEL_FLAGS_GROUP), \
    CLI_INT("--d-model", "N", &(m)->d_model, 1, 1 << 20,                                         \
            "width of the residual stream (default 128)", .flags = MODEL_FLAGS_GROUP),           \
    CLI_INT("--d-ff", "N", &(m)->d_ff, 1, 1 << 22, "width of the MLP (default 512)",             \
            .flags = MODEL_FLAGS_GROUP),                                                         \
    CLI_INT("--vocab", "N", &(m)->vocab, 6, 1 << 24,                                             \
            "vocabulary size, tokenizer included (default 1024)", .flags = MODEL_FLAGS_GROUP),   \
    CLI_INT("--seq", "N", &(m)->seq, 1, 1 << 20, "tokens per sequence (default 64)",             \
            .flags = MODEL_FLAGS_GROUP),                                                         \
    CLI_INT("--batch", "N", &(m)->batch, 1, 1 << 20, "sequences per step (default 8)",           \
            .flags = MODEL_FLAGS_GROUP),                                                         \
    CLI_INT("--micro-batches", "M", &(m)->micro_batches, 1, 1024,                                \
            "accumulate gradients over M batches per step (default 1)", .flags = MODEL_FLAGS_GROUP), \
    CLI_DOUBLE("--dropout", "P", &(m)->dropout, 0, 1, "dropout probability (default 0)",         \
               .flags = MODEL_FLAGS_GROUP | CLI_HI_OPEN),                                        \
    CLI_STR("--objective", NULL, "SPEC", &(m)->objective,                                        \
            "clm, mlm or a weighted sum such as mlm:1.0,clm:0.5\n"                               \
            "(default: clm for gpt, mlm for bert)", .flags = MODEL_FLAGS_GROUP),                 \
    CLI_STR("--objective-graph", NULL, "FILE", &(m)->objective_graph,                            \
            "an objective written as a graph (.lmgt or .pb) over the\n"                          \
            "model's values (ids, targets, logits, hidden, ...) with a\n"                        \
            "scalar output 'loss'; added to --objective when both are\n"                         \
            "given (see samples/objectives/README.md)", .flags = MODEL_FLAGS_GROUP),             \
    CLI_DOUBLE("--objective-weight", "W", &(m)->objective_weight, 0, HUGE_VAL,                   \
               "weight of the objective graph's loss (default 1)",                               \
               .flags = MODEL_FLAGS_GROUP | CLI_LO_OPEN),                                        \
    CLI_INT("--seed", "S", &(m)->seed, 0, INT64_MAX,                                             \
            "parameter initialisation and random ops (default 1337)", .flags = MODEL_FLAGS_GROUP), \
    CLI_INT("--num-classes", "K", &(m)->n_classes, 2, 1 << 20,                                   \
            "add a classification head of K classes (objective term\n"                           \
            "sup; lmg train sets it from labelled data)", .flags = MODEL_FLAGS_GROUP),           \
    CLI_CHOICE("--pool", NULL, "cls|last|mean", &(m)->pool,                                            \
               "the head's pooling (default: bert cls, gpt last)", .flags = MODEL_FLAGS_GROUP)

/* m->c: the arch's defaults with every option given in place. */
static inline void model_flags_apply(model_flags *m)
{
    lmg_model_config *c = &m->c;
    lmg_model_config_default(c, m->arch);
    const struct {
        long long v;
        int *dst;
    } ints[] = {
        {m->layers, &c->layers}, {m->heads, &c->heads}, {m->d_model, &c->d_model},
        {m->d_ff, &c->d_ff},     {m->vocab, &c->vocab}, {m->seq, &c->seq},
        {m->batch, &c->batch},   {m->micro_batches, &c->micro_batches},
    };
    for (size_t k = 0; k < sizeof ints / sizeof *ints; k++)
        if (ints[k].v >= 0) *ints[k].dst = (int)ints[k].v;
    if (m->n_classes >= 0) {
        c->n_classes = (int)m->n_classes;
        c->pad_id = 0; /* text.h: <pad>; labelled rows are padded */
    }
    if (m->seed >= 0) c->seed = (uint64_t)m->seed;
    if (m->dropout >= 0) c->dropout = m->dropout;
    if (m->objective) c->objective = m->objective;
    if (m->pool) c->pool = m->pool;
}

/* Check the config and load the objective graph (NULL when none); prints the error. */
static inline int model_flags_finish(model_flags *m, const char *cmd, lmg_graph **obj)
{
    *obj = NULL;
    lmg_status s = lmg_model_config_check(&m->c);
    if (s != LMG_OK) return cli_usage_error(cmd, "%s", lmg_last_error());
    if (m->c.objective) {
        lmg_objective_term t[LMG_MAX_OBJECTIVE_TERMS];
        int n;
        if (lmg_objective_parse(m->c.objective, t, &n) != LMG_OK)
            return cli_usage_error(cmd, "%s", lmg_last_error());
    }
    if (m->objective_graph) {
        s = cli_load_graph(m->objective_graph, obj);
        if (s != LMG_OK)
            return cli_fail(cmd, s, "cannot load the objective graph '%s'", m->objective_graph);
    }
    return 0;
}

#endif
