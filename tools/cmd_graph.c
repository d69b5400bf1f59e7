/* cmd_graph.c — `lmg print`, `lmg parse`, `lmg dot`, `lmg verify`: the commands that read
 * a graph and turn it into text, a binary file, a picture or a verdict. */
#include "cli.h"
#include "../models/models.h"
#include "../text/text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lmg_cmd_print(int argc, char **argv);
int lmg_cmd_parse(int argc, char **argv);
int lmg_cmd_dot(int argc, char **argv);
int lmg_cmd_verify(int argc, char **argv);

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Write `text` to `path`, or stdout when path is NULL or "-". */
static int write_text(const char *cmd, const char *path, const char *text)
{
    if (!path || strcmp(path, "-") == 0) {
        if (fputs(text, stdout) < 0 || fflush(stdout) != 0) {
            fprintf(stderr, "lmg %s: <stdout>: write error\n", cmd);
            return 1;
        }
        return 0;
    }
    if (cli_write_file(path, text, strlen(text)) != LMG_OK) return cli_fail_file(cmd, path);
    return 0;
}

/* The -o option and the exit status these commands share. */
#define OUTPUT_OPT(out, what) CLI_STR("--output", "-o", "FILE", out, what)
#define GRAPH_EXIT "0 done, 1 failure (an unreadable or invalid graph), 2 usage error"

int lmg_cmd_print(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    int no_weights = 0, rc;
    cli_opt opts[] = {
        OUTPUT_OPT(&out, "write to FILE instead of standard output"),
        CLI_FLAG("--no-weights", NULL, &no_weights,
                 "summarise each initializer as <N bytes, crc32 0x...> (the CRC-32\n"
                 "of its little-endian bytes, as zlib and crc32 compute it); the\n"
                 "result is for reading and does not parse back"),
        CLI_POS("graph file", &in, .flags = CLI_REQUIRED),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = argv[0],
        .usage = "lmg print GRAPH [-o OUT.lmgt] [--no-weights]",
        .about = "Print a graph (.pb, or .lmgt text) in the text form, which `lmg parse` reads back to\n"
                 "the same bytes. Weights are printed in full.",
        .opts = opts,
        .exit_status = GRAPH_EXIT,
    };
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    lmg_graph *g = NULL;
    char *text = NULL;
    if (cli_load_graph(in, &g) != LMG_OK) rc = cli_fail_file(argv[0], in);
    else if ((no_weights ? lmg_graph_print_summary(g, &text) : lmg_graph_print(g, &text)) != LMG_OK)
        rc = cli_fail_file(argv[0], in);
    else rc = write_text(argv[0], out, text);
    free(text);
    lmg_graph_free(g);
    return rc;
}

int lmg_cmd_parse(int argc, char **argv)
{
    const char *in = NULL, *out_opt = NULL;
    long long external = 1 << 20;
    int rc;
    cli_opt opts[] = {
        OUTPUT_OPT(&out_opt, "the .pb to write (default: GRAPH with .lmgt replaced by .pb)"),
        CLI_INT("--external", "BYTES", &external, 0, (double)(1LL << 40),
                "size above which weights are stored outside the .pb"),
        CLI_POS("graph file", &in, .flags = CLI_REQUIRED),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = argv[0],
        .usage = "lmg parse GRAPH.lmgt [-o OUT.pb] [--external BYTES]",
        .about = "Parse the text form of a graph, verify it and write the binary .pb. Initializers larger\n"
                 "than --external bytes (default 1048576; 0 = never) go to OUT.safetensors beside it.",
        .opts = opts,
        .exit_status = GRAPH_EXIT,
    };
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    char *out = NULL;
    if (out_opt) {
        out = strdup(out_opt);
    } else {
        size_t n = strlen(in);
        if (ends_with(in, ".lmgt")) n -= 5;
        out = malloc(n + 4);
        if (out) {
            memcpy(out, in, n);
            strcpy(out + n, ".pb");
        }
    }
    if (!out) {
        fprintf(stderr, "lmg parse: out of memory\n");
        return 1;
    }
    char *text = NULL;
    size_t len = 0;
    lmg_graph *g = NULL;
    if (cli_read_file(in, &text, &len) != LMG_OK)
        rc = cli_fail_file(argv[0], in);
    else if (cli_parse_text(text, len, in, &g) != LMG_OK)
        rc = cli_fail_file(argv[0], in);
    else if (lmg_graph_save(g, out, (size_t)external) != LMG_OK)
        rc = cli_fail_file(argv[0], out);
    free(text);
    free(out);
    lmg_graph_free(g);
    return rc;
}

/* --depth N|all: all is -1. */
static int parse_depth(const char *cmd, const cli_opt *o, const char *v)
{
    long long d;
    if (strcmp(v, "all") == 0) d = -1;
    else if (cli_parse_int(v, 0, 64, &d) != 0)
        return cli_usage_error(cmd, "--depth wants a level from 0 to 64 or 'all', not '%s'", v);
    ((lmg_dot_opts *)o->dst)->depth = (int)d;
    return 0;
}

int lmg_cmd_dot(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    lmg_dot_opts opts = {.depth = -2}; /* -2: by the graph's size */
    int rc;
    cli_opt table[] = {
        OUTPUT_OPT(&out, "write to FILE instead of standard output"),
        CLI_CALL("--depth", "N|all", parse_depth, &opts,
                 "expand N levels of scopes; deeper ones become one box each\n"
                 "(0: one box per top-level scope). Default: all levels up to\n"
                 "200 nodes, else 1: Graphviz lays out a 4-layer training graph\n"
                 "in well under a second at 1, in a few seconds at any depth"),
        CLI_FLAG("--forward-only", NULL, &opts.forward_only, "leave out the backward pass and the optimizer"),
        CLI_POS("graph file", &in, .flags = CLI_REQUIRED),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = argv[0],
        .usage = "lmg dot GRAPH [-o OUT.dot] [--depth N] [--forward-only]",
        .about = "Write a Graphviz picture of a graph: ops as boxes, values as edges labelled with name\n"
                 "and shape, inputs, parameters, constants and state in distinct shapes and colours,\n"
                 "gradient and optimizer ops coloured apart. Nodes are grouped into clusters by the\n"
                 "scopes of their names: h0 > attn for h0.attn.qkv, grad > h0 > attn for its backward,\n"
                 "adamw for the optimizer. Render with: dot -Tsvg OUT.dot -o OUT.svg",
        .opts = table,
        .exit_status = GRAPH_EXIT,
    };
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    lmg_graph *g = NULL;
    char *text = NULL;
    if (cli_load_graph(in, &g) != LMG_OK) {
        rc = cli_fail_file(argv[0], in);
    } else {
        if (opts.depth == -2) opts.depth = g->n_nodes <= 200 ? -1 : 1;
        if (lmg_graph_dot(g, &opts, &text) != LMG_OK) rc = cli_fail_file(argv[0], in);
        else rc = write_text(argv[0], out, text);
    }
    free(text);
    lmg_graph_free(g);
    return rc;
}

int lmg_cmd_verify(int argc, char **argv)
{
    const char *arch = "gpt";
    int objective = 0, quiet = 0, rc;
    cli_list files = {0};
    cli_opt opts[] = {
        CLI_FLAG("--objective", NULL, &objective,
                 "also check each graph as an objective: a scalar f32 output\n"
                 "'loss', loss/... outputs scalar, views' ids i32[rows,T], and\n"
                 "linking it to the default model of --model (inputs it names,\n"
                 "sizes it binds, no cycle through the model); one that reads\n"
                 "class_logits or labels links to the model with a head"),
        CLI_CHOICE("--model", NULL, "gpt|bert", &arch, "the model --objective links to (default gpt)"),
        CLI_FLAG("--quiet", "-q", &quiet, "print nothing for graphs that pass"),
        CLI_POS("graph file", &files, .flags = CLI_REQUIRED | CLI_REST),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = argv[0],
        .usage = "lmg verify [-q] [--objective [--model gpt|bert]] GRAPH...",
        .about = "Load each graph (.pb or .lmgt) and check it: versions, op names and arity, every\n"
                 "value defined once and before use, no cycles, attributes, and every dtype and shape\n"
                 "against shape inference (a graph with named dimensions such as f32[B,T] under two\n"
                 "trial sizes for each name). Prints one line per graph; exits 1 when any is broken.",
        .opts = opts,
        .exit_status = "0 every graph passed, 1 one or more broken or unreadable, 2 usage error",
    };
    if (!cli_parse(&spec, argc, argv, &rc)) {
        cli_list_free(&files);
        return rc;
    }
    for (int f = 0; f < files.n; f++) {
        const char *path = files.v[f];
        lmg_graph *g = NULL;
        if (cli_load_graph(path, &g) != LMG_OK) {
            rc = cli_fail_file(argv[0], path);
            continue;
        }
        if (objective) {
            lmg_model_config c;
            lmg_model_config_default(&c, arch);
            /* An objective over a classification head is checked against a model with one
             * (two classes; K stays a name in the file). */
            if (lmg_graph_find(g, "class_logits") >= 0 || lmg_graph_find(g, "labels") >= 0) {
                c.n_classes = 2;
                c.pad_id = LMG_TOK_PAD;
            }
            lmg_graph *m = NULL;
            lmg_status s = lmg_objective_check(g);
            if (s == LMG_OK) s = lmg_model_build_with_objective(&c, g, 1.0, &m);
            lmg_graph_free(m);
            if (s != LMG_OK) {
                lmg_graph_free(g);
                rc = cli_fail_objective(argv[0], path, NULL);
                continue;
            }
        }
        if (!quiet) {
            int n_init = 0, n_param = 0;
            long long bytes = 0;
            for (int v = 0; v < g->n_values; v++) {
                const lmg_value *val = &g->values[v];
                if (val->kind != LMG_VALUE_INIT) continue;
                n_init++;
                n_param += val->trainable;
                bytes += (long long)lmg_shape_numel(&val->shape) * (long long)lmg_dtype_size(val->dtype);
            }
            printf("%s: ok: %d nodes, %d inputs, %d initializers (%d trainable, %lld bytes), "
                   "%d outputs\n", path, g->n_nodes, g->n_inputs, n_init, n_param, bytes,
                   g->n_outputs);
        }
        lmg_graph_free(g);
    }
    cli_list_free(&files);
    return rc;
}
