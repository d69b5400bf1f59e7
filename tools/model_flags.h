/* model_flags.h — the model options `lmg build` and `lmg train` share (--model, --layers,
 * --objective, ...): their help text and their parsing into an lmg_model_config. */
#ifndef LMG_MODEL_FLAGS_H
#define LMG_MODEL_FLAGS_H

#include "cli.h"
#include "../models/models.h"

#include <stdio.h>
#include <string.h>

#define MODEL_FLAGS_HELP                                                                     \
    "model options:\n"                                                                       \
    "  --model gpt|bert         decoder with causal attention (default) or encoder\n"       \
    "  --layers N               transformer blocks (default 4)\n"                           \
    "  --heads N                attention heads; d-model must be a multiple (default 4)\n"  \
    "  --d-model N              width of the residual stream (default 128)\n"               \
    "  --d-ff N                 width of the MLP (default 512)\n"                           \
    "  --vocab N                vocabulary size, tokenizer included (default 1024)\n"        \
    "  --seq N                  tokens per sequence (default 64)\n"                         \
    "  --batch N                sequences per step (default 8)\n"                           \
    "  --micro-batches M        accumulate gradients over M batches per step (default 1)\n" \
    "  --dropout P              dropout probability (default 0)\n"                          \
    "  --objective SPEC         clm, mlm or a weighted sum such as mlm:1.0,clm:0.5\n"        \
    "                           (default: clm for gpt, mlm for bert)\n"                     \
    "  --objective-graph FILE   an objective written as a graph (.lmgt or .pb) over the\n"  \
    "                           model's values (ids, targets, logits, hidden, ...) with a\n"\
    "                           scalar output 'loss'; added to --objective when both are\n" \
    "                           given (see samples/objectives/README.md)\n"                  \
    "  --objective-weight W     weight of the objective graph's loss (default 1)\n"         \
    "  --seed S                 parameter initialisation and random ops (default 1337)\n"  \
    "  --num-classes K          add a classification head of K classes (objective term\n" \
    "                           sup; lmg train sets it from labelled data)\n"              \
    "  --pool cls|last|mean     the head's pooling (default: bert cls, gpt last)\n"

typedef struct model_flags {
    lmg_model_config c;
    const char *objective_graph;
    double objective_weight;
    int any;       /* a model option was given */
} model_flags;

/* The arch first (it sets the defaults the other options change), wherever it appears. */
static inline int model_flags_init(model_flags *m, const char *cmd, int argc, char **argv)
{
    const char *arch = "gpt";
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v = cli_flag(argc, argv, &i, "--model", &missing);
        if (missing) return cli_usage_error(cmd, "--model needs a value (gpt or bert)");
        if (!v) continue;
        if (strcmp(v, "gpt") != 0 && strcmp(v, "bert") != 0)
            return cli_usage_error(cmd, "--model wants gpt or bert, not '%s'", v);
        arch = v;
    }
    memset(m, 0, sizeof *m);
    lmg_model_config_default(&m->c, arch);
    m->objective_weight = 1.0;
    return 0;
}

static inline int model_int(const char *cmd, const char *flag, const char *v, long long lo,
                            long long hi, int *out)
{
    long long x;
    if (cli_parse_int(v, lo, hi, &x) != 0)
        return cli_usage_error(cmd, "%s wants an integer in %lld..%lld, not '%s'", flag, lo, hi, v);
    *out = (int)x;
    return 0;
}

/* If argv[*i] is a model option, consume it: returns 1 (and *rc != 0 on a bad value);
 * returns 0 when it is not one. */
static inline int model_flag(model_flags *m, const char *cmd, int argc, char **argv, int *i,
                             int *rc)
{
    int missing = 0;
    const char *v;
    struct {
        const char *flag;
        int *dst;
        long long lo, hi;
    } ints[] = {
        {"--layers", &m->c.layers, 1, 1000},         {"--heads", &m->c.heads, 1, 4096},
        {"--d-model", &m->c.d_model, 1, 1 << 20},    {"--d-ff", &m->c.d_ff, 1, 1 << 22},
        {"--vocab", &m->c.vocab, 6, 1 << 24},      {"--seq", &m->c.seq, 1, 1 << 20},
        {"--batch", &m->c.batch, 1, 1 << 20},        {"--micro-batches", &m->c.micro_batches, 1, 1024},
    };
    *rc = 0;
    if ((v = cli_flag(argc, argv, i, "--model", &missing))) {
        m->any = 1;
        return 1; /* read by model_flags_init */
    }
    for (size_t k = 0; k < sizeof ints / sizeof *ints && !missing; k++)
        if ((v = cli_flag(argc, argv, i, ints[k].flag, &missing))) {
            m->any = 1;
            *rc = model_int(cmd, ints[k].flag, v, ints[k].lo, ints[k].hi, ints[k].dst);
            return 1;
        }
    if (!missing && (v = cli_flag(argc, argv, i, "--num-classes", &missing))) {
        m->any = 1;
        *rc = model_int(cmd, "--num-classes", v, 2, 1 << 20, &m->c.n_classes);
        m->c.pad_id = 0; /* text.h: <pad>; labelled rows are padded */
        return 1;
    }
    if (!missing && (v = cli_flag(argc, argv, i, "--pool", &missing))) {
        m->any = 1;
        if (strcmp(v, "cls") != 0 && strcmp(v, "last") != 0 && strcmp(v, "mean") != 0)
            *rc = cli_usage_error(cmd, "--pool wants cls, last or mean, not '%s'", v);
        m->c.pool = v;
        return 1;
    }
    if (!missing && (v = cli_flag(argc, argv, i, "--dropout", &missing))) {
        m->any = 1;
        if (cli_parse_double(v, &m->c.dropout) != 0 || m->c.dropout < 0 || m->c.dropout >= 1)
            *rc = cli_usage_error(cmd, "--dropout wants a probability in [0, 1), not '%s'", v);
        return 1;
    }
    if (!missing && (v = cli_flag(argc, argv, i, "--objective-graph", &missing))) {
        m->any = 1;
        m->objective_graph = v;
        return 1;
    }
    if (!missing && (v = cli_flag(argc, argv, i, "--objective-weight", &missing))) {
        m->any = 1;
        if (cli_parse_double(v, &m->objective_weight) != 0 || !(m->objective_weight > 0))
            *rc = cli_usage_error(cmd, "--objective-weight wants a number > 0, not '%s'", v);
        return 1;
    }
    if (!missing && (v = cli_flag(argc, argv, i, "--objective", &missing))) {
        m->any = 1;
        m->c.objective = v;
        return 1;
    }
    if (!missing && (v = cli_flag(argc, argv, i, "--seed", &missing))) {
        long long s;
        m->any = 1;
        if (cli_parse_int(v, 0, INT64_MAX, &s) != 0)
            *rc = cli_usage_error(cmd, "--seed wants a non-negative integer, not '%s'", v);
        else m->c.seed = (uint64_t)s;
        return 1;
    }
    if (missing) {
        *rc = cli_usage_error(cmd, "%s needs a value", argv[*i]);
        return 1;
    }
    return 0;
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
