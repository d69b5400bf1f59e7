/* cmd_import.c — `lmg import onnx MODEL.onnx -o GRAPH.pb`: an ONNX forward graph as an lmgraph
 * graph whose initializers are trainable parameters, ready for lmg autodiff and lmg train. */
#include "cli.h"
#include "../export/onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lmg_cmd_import(int argc, char **argv);

static const char *const CMD = "import";

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static const char onnx_usage[] = "lmg import onnx MODEL.onnx -o GRAPH.pb [options]";

/* --dim NAME=N, repeatable: appended to the dims o->dst points at. */
typedef struct {
    const char **names;
    int64_t *vals;
    int n, cap;
} dims;

static int dim_opt(const char *cmd, const cli_opt *o, const char *v)
{
    dims *d = o->dst;
    const char *eq = strchr(v, '=');
    long long n;
    if (!eq || eq == v || cli_parse_int(eq + 1, 1, INT64_MAX, &n) != 0)
        return cli_usage_error(cmd, "--dim wants NAME=N with N >= 1, not '%s'", v);
    if (d->n == d->cap) {
        int cap = d->cap ? 2 * d->cap : 8;
        const char **nn = realloc(d->names, (size_t)cap * sizeof *nn);
        if (nn) d->names = nn;
        int64_t *nv = nn ? realloc(d->vals, (size_t)cap * sizeof *nv) : NULL;
        if (!nv) return cli_fail(cmd, LMG_ERR_NOMEM, "out of memory");
        d->vals = nv;
        d->cap = cap;
    }
    d->names[d->n] = strndup(v, (size_t)(eq - v));
    if (!d->names[d->n]) return cli_fail(cmd, LMG_ERR_NOMEM, "out of memory");
    d->vals[d->n++] = n;
    return 0;
}

static int import_onnx(int argc, char **argv)
{
    const char *src = NULL, *out = NULL;
    int quiet = 0, frozen = 0, rc = 0;
    dims d = {NULL, NULL, 0, 0};
    cli_opt opts[] = {
        CLI_STR("--output", "-o", "PATH", &out, "the graph to write (.pb, or .lmgt for the text form)",
                .flags = CLI_REQUIRED),
        CLI_CALL("--dim", "NAME=N", dim_opt, &d, "the size of symbolic dim NAME (repeatable)"),
        CLI_FLAG("--frozen", NULL, &frozen, "initializers become constants, not parameters"),
        CLI_FLAG("--quiet", "-q", &quiet, "print nothing on success"),
        CLI_POS("model file", &src, .flags = CLI_REQUIRED),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = "import onnx",
        .usage = onnx_usage,
        .about = "Read an ONNX model (opset 13 or later) into an lmgraph graph. Its float\n"
                 "initializers become trainable parameters, so `lmg autodiff` and training work on\n"
                 "it. Shape computations (Shape, Concat, ConstantOfShape, Trilu, ...) are folded into\n"
                 "constants, since lmgraph shapes are static: give symbolic input dims a size with\n"
                 "--dim. Ops that do not map are listed all at once with their nodes.",
        .opts = opts,
        .exit_status = "0 written, 1 failure, 2 usage error",
    };
    if (cli_parse(&spec, argc, argv, &rc)) rc = 0;
    else if (rc == 0) rc = -1; /* --help */
    lmg_graph *g = NULL;
    if (rc == 0) {
        lmg_onnx_import_opts o = {d.n, d.names, d.vals, !frozen};
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
    for (int i = 0; i < d.n; i++) free((char *)d.names[i]);
    free(d.names);
    free(d.vals);
    return rc < 0 ? 0 : rc;
}

int lmg_cmd_import(int argc, char **argv)
{
    static const cli_action formats[] = {
        {"onnx", import_onnx, onnx_usage, "an ONNX model as an lmgraph graph"},
    };
    return cli_dispatch(CMD, "format", formats, 1, "0 written, 1 failure, 2 usage error", argc, argv);
}
