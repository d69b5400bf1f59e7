/* cmd_import.c — `lmg import onnx MODEL.onnx -o GRAPH.pb`: an ONNX forward graph as an lmgraph
 * graph whose initializers are trainable parameters, ready for lmg autodiff and lmg train. */
#include "cli.h"
#include "../export/onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lmg_cmd_import(int argc, char **argv);

static const char *const CMD = "import";

static void help(FILE *f)
{
    fprintf(f,
            "usage: lmg import onnx MODEL.onnx -o GRAPH.pb [options]\n"
            "\n"
            "Read an ONNX model (opset 13 or later) into an lmgraph graph. Its float\n"
            "initializers become trainable parameters, so `lmg autodiff` and training work on\n"
            "it. Shape computations (Shape, Concat, ConstantOfShape, Trilu, ...) are folded into\n"
            "constants, since lmgraph shapes are static: give symbolic input dims a size with\n"
            "--dim. Ops that do not map are listed all at once with their nodes.\n"
            "\n"
            "options:\n"
            "  -o, --output PATH      the graph to write (.pb, or .lmgt for the text form)\n"
            "  --dim NAME=N           the size of symbolic dim NAME (repeatable)\n"
            "  --frozen               initializers become constants, not parameters\n"
            "  -q, --quiet            print nothing on success\n"
            "  -h, --help             show this help\n"
            "\n"
            "exit status: 0 written, 1 failure, 2 usage error\n");
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int lmg_cmd_import(int argc, char **argv)
{
    const char *format = NULL, *src = NULL, *out = NULL;
    int quiet = 0, frozen = 0, nd = 0;
    const char **names = calloc((size_t)argc + 1, sizeof *names);
    int64_t *vals = calloc((size_t)argc + 1, sizeof *vals);
    char **owned = calloc((size_t)argc + 1, sizeof *owned);
    int rc = names && vals && owned ? 0 : cli_fail(CMD, LMG_ERR_NOMEM, "out of memory");
    for (int i = 1; rc == 0 && i < argc; i++) {
        int missing = 0;
        const char *v;
        if (cli_is_help(argv[i])) {
            help(stdout);
            rc = -1;
        } else if ((v = cli_flag(argc, argv, &i, "-o", &missing)) ||
                   (!missing && (v = cli_flag(argc, argv, &i, "--output", &missing)))) {
            out = v;
        } else if (!missing && (v = cli_flag(argc, argv, &i, "--dim", &missing))) {
            const char *eq = strchr(v, '=');
            long long n;
            if (!eq || eq == v || cli_parse_int(eq + 1, 1, INT64_MAX, &n) != 0) {
                rc = cli_usage_error(CMD, "--dim wants NAME=N with N >= 1, not '%s'", v);
                break;
            }
            owned[nd] = strndup(v, (size_t)(eq - v));
            names[nd] = owned[nd];
            vals[nd++] = n;
        } else if (missing) {
            rc = cli_usage_error(CMD, "%s needs a value", argv[i]);
        } else if (strcmp(argv[i], "--frozen") == 0) {
            frozen = 1;
        } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            rc = cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        } else if (!format) {
            format = argv[i];
        } else if (!src) {
            src = argv[i];
        } else {
            rc = cli_usage_error(CMD, "unexpected argument '%s'", argv[i]);
        }
    }
    if (rc == 0 && !format) rc = cli_usage_error(CMD, "no format given (lmg import onnx M.onnx -o G.pb)");
    if (rc == 0 && strcmp(format, "onnx") != 0) rc = cli_usage_error(CMD, "unknown format '%s' (onnx)", format);
    if (rc == 0 && !src) rc = cli_usage_error(CMD, "no model file given");
    if (rc == 0 && !out) rc = cli_usage_error(CMD, "no output given (-o GRAPH.pb)");
    lmg_graph *g = NULL;
    if (rc == 0) {
        lmg_onnx_import_opts o = {nd, names, vals, !frozen};
        lmg_status s = lmg_onnx_import(src, &o, &g);
        if (s != LMG_OK) rc = cli_fail_file(CMD, src);
    }
    if (rc == 0) {
        lmg_status s;
        if (ends_with(out, ".lmgt")) {
            char *text = NULL;
            s = lmg_graph_print(g, &text);
            if (s == LMG_OK) s = cli_write_file(out, text, strlen(text));
            free(text);
        } else {
            s = lmg_graph_save(g, out, 4096);
        }
        if (s != LMG_OK) rc = cli_fail(CMD, s, "cannot write '%s'", out);
    }
    if (rc == 0 && !quiet) {
        int np = 0;
        for (int v = 0; v < g->n_values; v++) np += g->values[v].kind == LMG_VALUE_INIT && g->values[v].trainable;
        printf("%s: %d nodes, %d inputs, %d outputs, %d parameters\n", out, g->n_nodes, g->n_inputs,
               g->n_outputs, np);
    }
    lmg_graph_free(g);
    for (int i = 0; i < nd; i++) free(owned[i]);
    free(owned);
    free(names);
    free(vals);
    return rc < 0 ? 0 : rc;
}
