/* cmd_summary.c — `lmg summary GRAPH|RUN`: a model at a glance, like torchinfo: parameters per
 * scope (shared ones counted once), FLOPs of one training step and its planned memory. */
#include "cli.h"
#include "../graph/plan.h"
#include "../models/models.h"
#include "../train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int lmg_cmd_summary(int argc, char **argv);

static const char *const CMD = "summary";

/* 4240896 -> "4,240,896" */
static const char *grouped(int64_t v, char *buf, size_t n)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%lld", (long long)(v < 0 ? -v : v));
    size_t o = 0;
    if (v < 0 && o + 1 < n) buf[o++] = '-';
    for (int i = 0; i < len && o + 2 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}

/* The length of `name`'s first `level` scope components, or 0 when it has fewer. A name's
 * scopes are lmg dot's: every '/' or '.' separated part but the last ("h0.attn.wqkv" is in
 * h0, then h0.attn). */
static size_t scope_len(const char *name, int level)
{
    int parts = 0;
    for (const char *p = name; *p; p++)
        if ((*p == '.' || *p == '/') && p > name && p[-1] != '.' && p[-1] != '/') {
            if (++parts == level) return (size_t)(p - name);
        }
    return 0;
}

typedef struct row {
    char key[256];
    int level;
    int64_t params, tensors;
} row;

typedef struct rows {
    row *r;
    int n, cap;
} rows;

static row *row_get(rows *R, const char *key, size_t len, int level)
{
    for (int i = 0; i < R->n; i++)
        if (R->r[i].level == level && strlen(R->r[i].key) == len && !strncmp(R->r[i].key, key, len))
            return &R->r[i];
    if (R->n == R->cap) {
        int cap = R->cap ? 2 * R->cap : 64;
        row *t = realloc(R->r, (size_t)cap * sizeof *t);
        if (!t) return NULL;
        R->r = t;
        R->cap = cap;
    }
    row *r = &R->r[R->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->key, sizeof r->key, "%.*s", (int)len, key);
    r->level = level;
    return r;
}

/* Rows of `level` under `parent` (NULL: the top), each followed by its own, as a tree. */
static void print_rows(const rows *R, const row *parent, int level, int max_level, int64_t total)
{
    size_t plen = parent ? strlen(parent->key) : 0;
    for (int i = 0; i < R->n; i++) {
        const row *r = &R->r[i];
        if (r->level != level) continue;
        if (parent && (strncmp(r->key, parent->key, plen) != 0 ||
                       (r->key[plen] != '.' && r->key[plen] != '/')))
            continue;
        char num[40], label[300];
        snprintf(label, sizeof label, "%*s%s", 2 * level, "", r->key);
        printf("%-36s %14s %6.1f%% %8lld\n", label, grouped(r->params, num, sizeof num),
               total ? 100.0 * (double)r->params / (double)total : 0.0, (long long)r->tensors);
        if (level < max_level) print_rows(R, r, level + 1, max_level, total);
    }
}

/* Parameters per scope down to `depth` levels; a parameter whose name has no scope is a
 * top-level row of its own. Then the parameters that forward nodes of more than one
 * top-level scope read (a tied embedding). */
static int print_params(const lmg_graph *g, const unsigned char *bwd, int depth)
{
    rows R = {0};
    int64_t total = 0, tensors = 0, bytes = 0;
    for (int v = 0; v < g->n_values; v++) {
        const lmg_value *val = &g->values[v];
        if (val->kind != LMG_VALUE_INIT || !val->trainable) continue;
        int64_t n = lmg_shape_numel(&val->shape);
        total += n;
        bytes += n * (int64_t)lmg_dtype_size(val->dtype);
        tensors++;
        for (int level = 1; level <= depth; level++) {
            size_t len = scope_len(val->name, level);
            if (len == 0 && level > 1) break;
            row *r = row_get(&R, val->name, len ? len : strlen(val->name), level);
            if (!r) {
                free(R.r);
                return cli_fail(CMD, LMG_ERR_NOMEM, "out of memory");
            }
            r->params += n;
            r->tensors++;
            if (len == 0) break;
        }
    }
    char num[40], num2[40];
    printf("%-36s %14s %7s %8s\n", "parameters by scope", "params", "share", "tensors");
    print_rows(&R, NULL, 1, depth, total);
    printf("%-36s %14s %6.1f%% %8lld   (%.2f MB)\n", "total", grouped(total, num, sizeof num),
           100.0, (long long)tensors, (double)bytes / 1e6);
    free(R.r);

    /* Shared: read by forward nodes in two or more top-level scopes (a node outside any
     * scope, such as lm_head, is its own). */
    for (int v = 0; v < g->n_values; v++) {
        const lmg_value *val = &g->values[v];
        if (val->kind != LMG_VALUE_INIT || !val->trainable) continue;
        char first[256] = "", readers[512] = "";
        int n_scopes = 0;
        size_t rl = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            const lmg_node *nd = &g->nodes[i];
            if (bwd[i]) continue;
            int reads = 0;
            for (int k = 0; k < nd->n_in; k++) reads |= nd->in[k] == v;
            if (!reads) continue;
            const char *name = nd->name ? nd->name : "";
            size_t len = scope_len(name, 1);
            if (!len) len = strlen(name);
            char top[256];
            snprintf(top, sizeof top, "%.*s", (int)len, name);
            if (n_scopes > 0 && strcmp(top, first) == 0) continue;
            if (n_scopes == 0) snprintf(first, sizeof first, "%s", top);
            else if (strstr(readers, top)) continue;
            n_scopes++;
            int w = snprintf(readers + rl, sizeof readers - rl, "%s%s", rl ? ", " : "", top);
            if (w > 0 && rl + (size_t)w < sizeof readers) rl += (size_t)w;
        }
        if (n_scopes > 1)
            printf("shared: %s (%s params) is read by %s; counted once\n", val->name,
                   grouped(lmg_shape_numel(&val->shape), num2, sizeof num2), readers);
    }
    return 0;
}

/* One unit for the whole table, chosen by the total. */
static void print_flops(const lmg_graph_flops *f, int training)
{
    double mm = f->matmul[0] + f->matmul[1], at = f->attention[0] + f->attention[1];
    double scale = mm + at >= 1e9 ? 1e-9 : mm + at >= 1e6 ? 1e-6 : 1;
    const char *unit = scale == 1e-9 ? "GFLOP" : scale == 1e-6 ? "MFLOP" : "FLOP";
    char head[64];
    snprintf(head, sizeof head, "%s per %s", unit, training ? "training step" : "run");
    printf("\n%-28s %12s %12s %12s\n", head, "products", "attention", "total");
    const char *what[2] = {"forward", "backward"};
    for (int i = 0; i < 2; i++) {
        if (i == 1 && !training) break;
        printf("  %-26s %12.3f %12.3f %12.3f\n", what[i], f->matmul[i] * scale,
               f->attention[i] * scale, (f->matmul[i] + f->attention[i]) * scale);
    }
    printf("  %-26s %12.3f %12.3f %12.3f\n", "total", mm * scale, at * scale, (mm + at) * scale);
}

static int print_memory(const lmg_graph *g)
{
    lmg_plan *p = NULL;
    lmg_status s = lmg_plan_build(g, NULL, &p);
    if (s != LMG_OK) return cli_fail(CMD, s, "planning the memory of '%s'", g->name);
    static const char *const label[LMG_REGION_COUNT] = {
        [LMG_REGION_ARENA] = "arena (intermediate values)",
        [LMG_REGION_PARAMS] = "parameters",
        [LMG_REGION_GRADS] = "gradients",
        [LMG_REGION_STATE] = "optimizer state",
        [LMG_REGION_CONSTS] = "constants",
        [LMG_REGION_INPUTS] = "inputs",
    };
    static const lmg_region order[LMG_REGION_COUNT] = {
        LMG_REGION_PARAMS, LMG_REGION_GRADS,  LMG_REGION_STATE,
        LMG_REGION_CONSTS, LMG_REGION_INPUTS, LMG_REGION_ARENA,
    };
    printf("\nplanned memory (lmg plan)\n");
    for (int i = 0; i < LMG_REGION_COUNT; i++)
        printf("  %-28s %10.2f MB\n", label[order[i]], (double)p->region_bytes[order[i]] / 1e6);
    printf("  %-28s %10.2f MB\n", "total", (double)p->peak / 1e6);
    printf("  %-28s %10.2f MB (arena / bound %.2f)\n", "arena lower bound",
           (double)p->lower_bound / 1e6,
           p->lower_bound ? (double)p->region_bytes[LMG_REGION_ARENA] / (double)p->lower_bound : 1.0);
    lmg_plan_free(p);
    return 0;
}

static int has_gradients(const lmg_graph *g)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] >= 0 && strncmp(g->values[g->outputs[i]].name, "grad/", 5) == 0) return 1;
    return 0;
}

static int has_params(const lmg_graph *g)
{
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == LMG_VALUE_INIT && g->values[v].trainable) return 1;
    return 0;
}

/* The graph of PATH: a run folder's training graph, or a graph file (verified). */
static int load(const char *path, lmg_graph **g, int *is_run)
{
    struct stat st;
    *is_run = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    lmg_status s;
    if (*is_run) {
        lmg_model_config mc;
        s = lmg_run_open(path, g, &mc, NULL, NULL);
        if (s != LMG_OK) return cli_fail_file(CMD, path);
    } else if ((s = cli_load_graph(path, g)) != LMG_OK) {
        return cli_fail_file(CMD, path);
    }
    s = lmg_graph_verify(*g);
    if (s != LMG_OK) {
        lmg_graph_free(*g);
        *g = NULL;
        return cli_fail(CMD, s, "'%s' is not a valid graph", path);
    }
    return 0;
}

int lmg_cmd_summary(int argc, char **argv)
{
    const char *in = NULL;
    long long depth = 2;
    int rc;
    cli_opt opts[] = {
        CLI_POS("graph or run", &in, .flags = CLI_REQUIRED),
        CLI_INT("--depth", "N", &depth, 1, 16,
                "scope levels listed (default 2: h0, then h0.attn, h0.mlp, ...)"),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = CMD,
        .usage = "lmg summary GRAPH|RUN [--depth N]",
        .about = "Summarise a model: its trainable parameters per scope, FLOPs per training step and\n"
                 "the planned device memory. GRAPH is a .pb or .lmgt file; RUN a folder made by lmg\n"
                 "train (its training graph, train.pb). A forward graph with a scalar output 'loss'\n"
                 "is counted as the training step lmg train would run (autodiff, gradient clipping,\n"
                 "AdamW); a graph with gradients as it is; one without a loss as inference.\n"
                 "\n"
                 "Scopes come from parameter names as lmg dot's clusters do (h0.attn.wqkv is in h0 >\n"
                 "attn); a parameter several scopes read (GPT's wte, tied to lm_head) is counted once,\n"
                 "under its own name, and listed as shared. FLOPs count 2*M*N*K per MatMul and the\n"
                 "products inside attention, forward and backward apart, as lmg bench does. Memory\n"
                 "is lmg plan's: parameters, gradients, optimizer state, constants, inputs and the\n"
                 "arena of intermediate values, with the arena's lower bound.",
        .opts = opts,
        .exit_status = "0 done, 1 failure (unreadable or invalid graph or run), 2 usage error",
    };
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;

    lmg_graph *g = NULL;
    int is_run = 0;
    rc = load(in, &g, &is_run);
    if (rc) return rc;
    /* The step to count: the graph itself when it has gradients (or nothing to train),
     * else the training step built from its loss. */
    int training = has_gradients(g);
    const char *how = training ? "a training graph, counted as it is" : "inference (no loss)";
    lmg_graph *step = g;
    if (!training && has_params(g) && lmg_graph_find(g, "loss") >= 0) {
        step = lmg_graph_clone(g);
        lmg_optim_config oc;
        lmg_optim_config_default(&oc);
        lmg_status s = step ? lmg_train_graph_build(step, "loss", &oc)
                            : lmg_error(LMG_ERR_NOMEM, "out of memory");
        if (s != LMG_OK) {
            lmg_graph_free(step);
            lmg_graph_free(g);
            return cli_fail(CMD, s, "building the training step of '%s' from its loss", in);
        }
        training = 1;
        how = "a forward graph with a loss, counted as the training step lmg train runs";
    }
    printf("%s '%s': graph '%s', %d nodes; %s\n", is_run ? "run" : "graph", in, g->name,
           g->n_nodes, how);
    lmg_model_config mc;
    if (lmg_graph_get_meta(g, "model.arch") && lmg_model_config_from_graph(g, &mc) == LMG_OK)
        printf("model: %s, %d layers, %d heads, d_model %d, d_ff %d, vocab %d, seq %d, batch %d\n",
               mc.arch, mc.layers, mc.heads, mc.d_model, mc.d_ff, mc.vocab, mc.seq, mc.batch);
    lmg_error_clear();
    printf("\n");

    unsigned char *bwd = calloc((size_t)(g->n_nodes > 0 ? g->n_nodes : 1), 1);
    lmg_graph_flops f;
    lmg_status s = bwd ? lmg_graph_mark_backward(g, bwd) : lmg_error(LMG_ERR_NOMEM, "out of memory");
    if (s == LMG_OK) s = lmg_graph_count_flops(step, &f);
    if (s != LMG_OK) rc = cli_fail_file(CMD, in);
    if (!rc) rc = print_params(g, bwd, (int)depth);
    if (!rc) print_flops(&f, training);
    if (!rc) rc = print_memory(step);
    free(bwd);
    if (step != g) lmg_graph_free(step);
    lmg_graph_free(g);
    return rc;
}
