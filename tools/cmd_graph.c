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

/* The common shape of these commands: one input file, an optional -o, an optional flag. */
typedef struct {
    const char *in, *out;
    long long external; /* parse only */
    int quiet;          /* verify only */
    int objective;      /* verify: check the objective contract too */
    const char *arch;   /* verify --objective: the model to link to */
    const char **files; /* verify: every file */
    int n_files;
} graph_args;

static int parse_args(int argc, char **argv, const char *usage, int allow_out, int allow_ext,
                      int many, graph_args *a)
{
    const char *cmd = argv[0];
    memset(a, 0, sizeof *a);
    a->external = 1 << 20;
    a->files = calloc((size_t)argc, sizeof *a->files);
    if (!a->files) {
        fprintf(stderr, "lmg %s: out of memory\n", cmd);
        return 1;
    }
    int only_files = 0;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (only_files || argv[i][0] != '-' || strcmp(argv[i], "-") == 0) {
            a->files[a->n_files++] = argv[i];
            continue;
        }
        if (strcmp(argv[i], "--") == 0) {
            only_files = 1;
        } else if (cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return -1;
        } else if (allow_out && ((v = cli_flag(argc, argv, &i, "-o", &missing)) ||
                                 (v = cli_flag(argc, argv, &i, "--output", &missing)))) {
            a->out = v;
        } else if (allow_ext && (v = cli_flag(argc, argv, &i, "--external", &missing))) {
            if (cli_parse_int(v, 0, (long long)1 << 40, &a->external) != 0)
                return cli_usage_error(cmd, "--external wants a byte count, not '%s'", v);
        } else if (many && (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0)) {
            a->quiet = 1;
        } else if (many && strcmp(argv[i], "--objective") == 0) {
            a->objective = 1;
        } else if (many && (v = cli_flag(argc, argv, &i, "--model", &missing))) {
            if (strcmp(v, "gpt") != 0 && strcmp(v, "bert") != 0)
                return cli_usage_error(cmd, "--model wants gpt or bert, not '%s'", v);
            a->arch = v;
        } else if (missing) {
            return cli_usage_error(cmd, "%s needs a value", argv[i]);
        } else {
            return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        }
        if (missing) return cli_usage_error(cmd, "%s needs a value", argv[i]);
    }
    if (a->n_files == 0) return cli_usage_error(cmd, "no graph file given");
    if (!many && a->n_files > 1) return cli_usage_error(cmd, "one graph file at a time");
    a->in = a->files[0];
    return 0;
}

/* Remove every `name` (a flag without a value) from argv before parse_args sees it;
 * returns 1 when it was there. */
static int take_flag(int *argc, char **argv, const char *name)
{
    int found = 0, j = 1;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            while (i < *argc) argv[j++] = argv[i++];
            break;
        }
        if (strcmp(argv[i], name) == 0) found = 1;
        else argv[j++] = argv[i];
    }
    *argc = j;
    return found;
}

/* Remove `name VALUE` / `name=VALUE` from argv; *value is NULL when absent, and *missing is
 * set when the value is. */
static void take_value(int *argc, char **argv, const char *name, const char **value, int *missing)
{
    int j = 1;
    *value = NULL;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            while (i < *argc) argv[j++] = argv[i++];
            break;
        }
        int missing_here = 0;
        int at = i;
        const char *v = cli_flag(*argc, argv, &i, name, &missing_here);
        if (v) *value = v;
        else if (missing_here) *missing = 1;
        else argv[j++] = argv[at];
    }
    *argc = j;
}

static int finish_args(graph_args *a, int rc)
{
    free(a->files);
    return rc < 0 ? 0 : rc;
}

static const char print_usage[] =
    "usage: lmg print GRAPH [-o OUT.lmgt] [--no-weights]\n"
    "\n"
    "Print a graph (.pb, or .lmgt text) in the text form, which `lmg parse` reads back to\n"
    "the same bytes. Weights are printed in full.\n"
    "\n"
    "  -o, --output FILE   write to FILE instead of standard output\n"
    "  --no-weights        summarise each initializer as <N bytes, crc32 0x...> (the CRC-32\n"
    "                      of its little-endian bytes, as zlib and crc32 compute it); the\n"
    "                      result is for reading and does not parse back\n"
    "  -h, --help          show this help\n";

int lmg_cmd_print(int argc, char **argv)
{
    graph_args a;
    int no_weights = take_flag(&argc, argv, "--no-weights");
    int rc = parse_args(argc, argv, print_usage, 1, 0, 0, &a);
    if (rc) return finish_args(&a, rc);
    lmg_graph *g = NULL;
    char *text = NULL;
    if (cli_load_graph(a.in, &g) != LMG_OK) rc = cli_fail_file(argv[0], a.in);
    else if ((no_weights ? lmg_graph_print_summary(g, &text) : lmg_graph_print(g, &text)) != LMG_OK)
        rc = cli_fail_file(argv[0], a.in);
    else rc = write_text(argv[0], a.out, text);
    free(text);
    lmg_graph_free(g);
    return finish_args(&a, rc);
}

static const char parse_usage[] =
    "usage: lmg parse GRAPH.lmgt [-o OUT.pb] [--external BYTES]\n"
    "\n"
    "Parse the text form of a graph, verify it and write the binary .pb. Initializers larger\n"
    "than --external bytes (default 1048576; 0 = never) go to OUT.safetensors beside it.\n"
    "\n"
    "  -o, --output FILE   the .pb to write (default: GRAPH with .lmgt replaced by .pb)\n"
    "  --external BYTES    size above which weights are stored outside the .pb\n"
    "  -h, --help          show this help\n";

int lmg_cmd_parse(int argc, char **argv)
{
    graph_args a;
    int rc = parse_args(argc, argv, parse_usage, 1, 1, 0, &a);
    if (rc) return finish_args(&a, rc);
    char *out = NULL;
    if (a.out) {
        out = strdup(a.out);
    } else {
        size_t n = strlen(a.in);
        if (ends_with(a.in, ".lmgt")) n -= 5;
        out = malloc(n + 4);
        if (out) {
            memcpy(out, a.in, n);
            strcpy(out + n, ".pb");
        }
    }
    if (!out) {
        fprintf(stderr, "lmg parse: out of memory\n");
        return finish_args(&a, 1);
    }
    char *text = NULL;
    size_t len = 0;
    lmg_graph *g = NULL;
    if (cli_read_file(a.in, &text, &len) != LMG_OK)
        rc = cli_fail_file(argv[0], a.in);
    else if (cli_parse_text(text, len, a.in, &g) != LMG_OK)
        rc = cli_fail_file(argv[0], a.in);
    else if (lmg_graph_save(g, out, (size_t)a.external) != LMG_OK)
        rc = cli_fail_file(argv[0], out);
    free(text);
    free(out);
    lmg_graph_free(g);
    return finish_args(&a, rc);
}

static const char dot_usage[] =
    "usage: lmg dot GRAPH [-o OUT.dot] [--depth N] [--forward-only]\n"
    "\n"
    "Write a Graphviz picture of a graph: ops as boxes, values as edges labelled with name\n"
    "and shape, inputs, parameters, constants and state in distinct shapes and colours,\n"
    "gradient and optimizer ops coloured apart. Nodes are grouped into clusters by the\n"
    "scopes of their names: h0 > attn for h0.attn.qkv, grad > h0 > attn for its backward,\n"
    "adamw for the optimizer. Render with: dot -Tsvg OUT.dot -o OUT.svg\n"
    "\n"
    "  -o, --output FILE   write to FILE instead of standard output\n"
    "  --depth N|all       expand N levels of scopes; deeper ones become one box each\n"
    "                      (0: one box per top-level scope). Default: all levels up to\n"
    "                      200 nodes, else 1: Graphviz lays out a 4-layer training graph\n"
    "                      in well under a second at 1, in a few seconds at any depth\n"
    "  --forward-only      leave out the backward pass and the optimizer\n"
    "  -h, --help          show this help\n";

int lmg_cmd_dot(int argc, char **argv)
{
    graph_args a;
    lmg_dot_opts opts = {.depth = -1, .forward_only = take_flag(&argc, argv, "--forward-only")};
    const char *depth = NULL;
    int missing = 0;
    take_value(&argc, argv, "--depth", &depth, &missing);
    long long d = -2; /* by the graph's size */
    if (missing) return cli_usage_error(argv[0], "--depth needs a value");
    if (depth && strcmp(depth, "all") == 0) d = -1;
    else if (depth && cli_parse_int(depth, 0, 64, &d) != 0)
        return cli_usage_error(argv[0], "--depth wants a level from 0 to 64 or 'all', not '%s'",
                               depth);
    opts.depth = (int)d;
    int rc = parse_args(argc, argv, dot_usage, 1, 0, 0, &a);
    if (rc) return finish_args(&a, rc);
    lmg_graph *g = NULL;
    char *text = NULL;
    if (cli_load_graph(a.in, &g) != LMG_OK) {
        rc = cli_fail_file(argv[0], a.in);
    } else {
        if (opts.depth == -2) opts.depth = g->n_nodes <= 200 ? -1 : 1;
        if (lmg_graph_dot(g, &opts, &text) != LMG_OK) rc = cli_fail_file(argv[0], a.in);
        else rc = write_text(argv[0], a.out, text);
    }
    free(text);
    lmg_graph_free(g);
    return finish_args(&a, rc);
}

static const char verify_usage[] =
    "usage: lmg verify [-q] [--objective [--model gpt|bert]] GRAPH...\n"
    "\n"
    "Load each graph (.pb or .lmgt) and check it: versions, op names and arity, every\n"
    "value defined once and before use, no cycles, attributes, and every dtype and shape\n"
    "against shape inference (a graph with named dimensions such as f32[B,T] under two\n"
    "trial sizes for each name). Prints one line per graph; exits 1 when any is broken.\n"
    "\n"
    "  --objective       also check each graph as an objective: a scalar f32 output\n"
    "                    'loss', loss/... outputs scalar, views' ids i32[rows,T], and\n"
    "                    linking it to the default model of --model (inputs it names,\n"
    "                    sizes it binds, no cycle through the model); one that reads\n"
    "                    class_logits or labels links to the model with a head\n"
    "  --model gpt|bert  the model --objective links to (default gpt)\n"
    "  -q, --quiet       print nothing for graphs that pass\n"
    "  -h, --help        show this help\n";

int lmg_cmd_verify(int argc, char **argv)
{
    graph_args a;
    int rc = parse_args(argc, argv, verify_usage, 0, 0, 1, &a);
    if (rc) return finish_args(&a, rc);
    for (int f = 0; f < a.n_files; f++) {
        const char *path = a.files[f];
        lmg_graph *g = NULL;
        if (cli_load_graph(path, &g) != LMG_OK) {
            rc = cli_fail_file(argv[0], path);
            continue;
        }
        if (a.objective) {
            lmg_model_config c;
            lmg_model_config_default(&c, a.arch ? a.arch : "gpt");
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
        if (!a.quiet) {
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
    return finish_args(&a, rc);
}
