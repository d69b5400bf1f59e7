/* cmd_autodiff.c — `lmg autodiff`: read a forward graph, append its backward pass for a
 * named scalar loss, write the training graph (.pb, or text when -o ends in .lmgt). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lmg_cmd_autodiff(int argc, char **argv);

static const char *const CMD = "autodiff";

static void help(FILE *f)
{
    fprintf(f,
            "usage: lmg autodiff FORWARD --loss NAME -o TRAIN [--no-recompute]\n"
            "                    [--external-min-bytes N]\n"
            "\n"
            "Differentiate the forward graph FORWARD (.pb or .lmgt) with respect to every\n"
            "trainable parameter. NAME must be an f32 value with one element. The training\n"
            "graph TRAIN gets, for each parameter p, an output named grad/<p>; the loss stays\n"
            "an output. TRAIN is written as text when its name ends in .lmgt, else as binary.\n"
            "Forward values the backward pass reads that cheap ops (elementwise, LayerNorm,\n"
            "Transpose, Reshape) make from values it reads anyway are recomputed there, by\n"
            "nodes named grad/<node>/recompute, instead of kept.\n"
            "\n"
            "options:\n"
            "  --loss NAME              the value to differentiate (required)\n"
            "  -o, --output PATH        where to write the training graph (required)\n"
            "  --no-recompute           keep every forward value the backward pass reads\n"
            "  --external-min-bytes N   store tensors of at least N bytes in a .safetensors\n"
            "                           file beside a .pb output (default 0: never)\n"
            "  -q, --quiet              print nothing on success\n"
            "  -h, --help               show this help\n"
            "\n"
            "exit status: 0 written, 1 failure (bad graph, no such loss, ...), 2 usage error\n");
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int count_params(const lmg_graph *g)
{
    int n = 0;
    for (int v = 0; v < g->n_values; v++)
        n += g->values[v].kind == LMG_VALUE_INIT && g->values[v].trainable;
    return n;
}

int lmg_cmd_autodiff(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *loss = NULL;
    long long ext = 0;
    int quiet = 0;
    lmg_autodiff_opts ao = {0};
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (cli_is_help(argv[i])) {
            help(stdout);
            return 0;
        } else if ((v = cli_flag(argc, argv, &i, "--loss", &missing))) {
            loss = v;
        } else if ((v = cli_flag(argc, argv, &i, "-o", &missing)) ||
                   (!missing && (v = cli_flag(argc, argv, &i, "--output", &missing)))) {
            out = v;
        } else if ((v = cli_flag(argc, argv, &i, "--external-min-bytes", &missing))) {
            if (cli_parse_int(v, 0, (long long)1 << 50, &ext) != 0)
                return cli_usage_error(CMD, "--external-min-bytes wants a byte count, got '%s'", v);
        } else if (missing) {
            return cli_usage_error(CMD, "%s needs a value", argv[i]);
        } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else if (strcmp(argv[i], "--no-recompute") == 0) {
            ao.no_recompute = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        } else if (!in) {
            in = argv[i];
        } else {
            return cli_usage_error(CMD, "one input graph expected, got '%s' and '%s'", in, argv[i]);
        }
    }
    if (!in) return cli_usage_error(CMD, "no input graph given");
    if (!loss) return cli_usage_error(CMD, "no --loss given (the name of the scalar to minimise)");
    if (!out) return cli_usage_error(CMD, "no -o given (where to write the training graph)");

    lmg_graph *g = NULL;
    lmg_status s = cli_load_graph(in, &g);
    if (s != LMG_OK) return cli_fail(CMD, s, "reading '%s'", in);
    s = lmg_graph_verify(g);
    if (s != LMG_OK) {
        lmg_graph_free(g);
        return cli_fail(CMD, s, "'%s' is not a valid graph", in);
    }
    int fwd_nodes = g->n_nodes, params = count_params(g);
    s = lmg_autodiff_with(g, loss, &ao);
    if (s != LMG_OK) {
        lmg_graph_free(g);
        return cli_fail(CMD, s, "differentiating '%s'", in);
    }
    s = lmg_graph_verify(g);
    if (s != LMG_OK) {
        lmg_graph_free(g);
        return cli_fail(CMD, s, "the training graph of '%s' does not verify", in);
    }
    if (ends_with(out, ".lmgt")) {
        char *text = NULL;
        s = lmg_graph_print(g, &text);
        if (s == LMG_OK) s = cli_write_file(out, text, strlen(text));
        free(text);
    } else {
        s = lmg_graph_save(g, out, (size_t)ext);
    }
    if (s != LMG_OK) {
        lmg_graph_free(g);
        return cli_fail(CMD, s, "writing '%s'", out);
    }
    if (!quiet)
        printf("%s: %d forward nodes -> %d nodes, %d parameters, loss '%s' -> %s\n", in, fwd_nodes,
               g->n_nodes, params, loss, out);
    lmg_graph_free(g);
    return 0;
}
