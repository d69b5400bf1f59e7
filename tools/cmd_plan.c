/* cmd_plan.c — `lmg plan`: the memory plan of a graph: device bytes per region, the arena
 * against its lower bound, and (--values) where every value lives and for how long. */
#include "cli.h"
#include "../graph/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lmg_cmd_plan(int argc, char **argv);

static const char *const CMD = "plan";

/* --alignment N: a power of two. */
static int alignment_opt(const char *cmd, const cli_opt *o, const char *v)
{
    long long a;
    if (cli_parse_int(v, 1, 1 << 20, &a) != 0 || (a & (a - 1)))
        return cli_usage_error(cmd, "--alignment wants a power of two up to %d, not '%s'", 1 << 20, v);
    ((lmg_plan_opts *)o->dst)->alignment = (size_t)a;
    return 0;
}

int lmg_cmd_plan(int argc, char **argv)
{
    const char *in = NULL;
    int values = 0, rc;
    lmg_plan_opts opts = {64, 0};
    cli_opt table[] = {
        CLI_FLAG("--values", NULL, &values,
                 "also list every value: region, offset, bytes, first and last\n"
                 "node that needs it, and the value whose storage it shares;\n"
                 "then what is live at the arena's peak, largest first"),
        CLI_FLAG("--keep-all", NULL, &opts.keep_all, "plan without reuse (every value readable after a run)"),
        CLI_CALL("--alignment", "N", alignment_opt, &opts,
                 "byte alignment of every value (power of two; default 64)"),
        CLI_POS("graph", &in, .flags = CLI_REQUIRED),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = CMD,
        .usage = "lmg plan GRAPH [--values] [--keep-all] [--alignment N]",
        .about = "Plan the device memory of GRAPH (.pb or .lmgt) as a backend does: parameters,\n"
                 "gradients (grad/<p> outputs), optimizer state (AdamW moments), constants and\n"
                 "inputs each in one block; every other value in one arena where values whose\n"
                 "lifetimes (producer to last consumer, outputs to the end) do not overlap share\n"
                 "bytes, and elementwise ops write over an input that dies at that node.\n"
                 "Prints the bytes of each region, the planned peak (their sum), the arena's lower\n"
                 "bound (the largest total of values live at one node) and arena / bound.",
        .opts = table,
        .exit_status = "0 planned, 1 failure (unreadable or invalid graph), 2 usage error",
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
    lmg_plan *p = NULL;
    s = lmg_plan_build(g, &opts, &p);
    if (s != LMG_OK) {
        lmg_graph_free(g);
        return cli_fail(CMD, s, "planning '%s'", in);
    }
    char *text = NULL;
    s = lmg_plan_print(g, p, values, &text);
    if (s != LMG_OK) {
        lmg_plan_free(p);
        lmg_graph_free(g);
        return cli_fail(CMD, s, "printing the plan of '%s'", in);
    }
    int in_place = 0, views = 0;
    for (int v = 0; v < g->n_values; v++) {
        if (p->alias[v] < 0 || g->values[v].kind != LMG_VALUE_NODE) continue;
        if (g->nodes[g->values[v].producer].op == LMG_OP_RESHAPE) views++;
        else if (lmg_op_alias(g->nodes[g->values[v].producer].op, 0) < 0) in_place++;
    }
    size_t persistent = p->peak - p->region_bytes[LMG_REGION_ARENA];
    printf("%s: %d values, %d nodes%s\n", in, g->n_values, g->n_nodes,
           opts.keep_all ? " (keep-all: no reuse)" : "");
    printf("planned peak   %12zu bytes  %9.2f MiB\n", p->peak, p->peak / 1048576.0);
    printf("arena          %12zu bytes  %9.2f MiB\n", p->region_bytes[LMG_REGION_ARENA],
           p->region_bytes[LMG_REGION_ARENA] / 1048576.0);
    printf("lower bound    %12zu bytes  %9.2f MiB  (arena / bound = %.3f)\n", p->lower_bound,
           p->lower_bound / 1048576.0,
           p->lower_bound ? (double)p->region_bytes[LMG_REGION_ARENA] / (double)p->lower_bound
                          : 1.0);
    printf("persistent     %12zu bytes  %9.2f MiB\n", persistent, persistent / 1048576.0);
    printf("aliases        %d in place, %d views\n\n", in_place, views);
    fputs(text, stdout);
    free(text);
    lmg_plan_free(p);
    lmg_graph_free(g);
    return 0;
}
