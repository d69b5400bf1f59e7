/* cmd_autodiff.c — `lmg autodiff`: read a forward graph, append its backward pass for a
 * named scalar loss, write the training graph (.pb, or text when -o ends in .lmgt). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lmg_cmd_autodiff(int argc, char **argv);

static const char *const CMD = "autodiff";

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
    int quiet = 0, rc;
    lmg_autodiff_opts ao = {0};
    cli_opt opts[] = {
        CLI_STR("--loss", NULL, "NAME", &loss, "the value to differentiate", .flags = CLI_REQUIRED),
        CLI_STR("--output", "-o", "PATH", &out, "where to write the training graph", .flags = CLI_REQUIRED),
        CLI_INT("--external-min-bytes", "N", &ext, 0, (double)(1LL << 50),
                "store tensors of at least N bytes in a .safetensors\n"
                "file beside a .pb output (default 0: never)"),
        CLI_FLAG("--no-recompute", NULL, &ao.no_recompute,
                 "keep every forward value the backward pass reads"),
        CLI_FLAG("--quiet", "-q", &quiet, "print nothing on success"),
        CLI_POS("input graph", &in, .flags = CLI_REQUIRED),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = CMD,
        .usage = "lmg autodiff FORWARD --loss NAME -o TRAIN [--no-recompute]\n"
                 "             [--external-min-bytes N]",
        .about = "Differentiate the forward graph FORWARD (.pb or .lmgt) with respect to every\n"
                 "trainable parameter. NAME must be an f32 value with one element. The training\n"
                 "graph TRAIN gets, for each parameter p, an output named grad/<p>; the loss stays\n"
                 "an output. TRAIN is written as text when its name ends in .lmgt, else as binary.\n"
                 "Forward values the backward pass reads that cheap ops (elementwise, LayerNorm,\n"
                 "Transpose, Reshape) make from values it reads anyway are recomputed there, by\n"
                 "nodes named grad/<node>/recompute, instead of kept.",
        .opts = opts,
        .exit_status = "0 written, 1 failure (bad graph, no such loss, ...), 2 usage error",
    };
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;

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
