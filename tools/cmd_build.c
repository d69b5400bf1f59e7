/* cmd_build.c — `lmg build`: write the forward graph of a GPT or BERT model with its
 * objective (built-in terms and/or an objective graph) to a .pb or .lmgt file. */
#include "cli.h"
#include "model_flags.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lmg_cmd_build(int argc, char **argv);

static const char *const CMD = "build";

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int lmg_cmd_build(int argc, char **argv)
{
    model_flags m;
    const char *out = NULL, *model_graph = NULL;
    int quiet = 0, rc;
    model_flags_init(&m);
    cli_opt opts[] = {
        MODEL_FLAGS_OPTS(&m),
        CLI_SECTION("other options"),
        CLI_STR("--graph", "--model-graph", "FILE", &model_graph,
                "your own forward graph instead of gpt or bert (as in\n"
                "lmg train --graph): bound to --batch/--seq,\n"
                "with its loss, next-token loss or --objective-graph"),
        CLI_STR("--output", "-o", "PATH", &out, "where to write the graph", .flags = CLI_REQUIRED),
        CLI_FLAG("--quiet", "-q", &quiet, "print nothing on success"),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = CMD,
        .usage = "lmg build [--model gpt|bert] [model options] -o FORWARD.pb",
        .about = "Build the forward graph of a model and its objective. Inputs: ids i32[B,T] and,\n"
                 "for clm, targets i32[B,T] (the next token of each position). Outputs: loss (a\n"
                 "scalar), logits [B,T,V], hidden [B,T,C]; mlm also outputs mlm/ids and\n"
                 "mlm/targets. Parameters are initialised as GPT-2's (normal 0.02, residual\n"
                 "projections scaled by 1/sqrt(2 layers)). Tensors of 4 KiB or more go to a\n"
                 ".safetensors file beside a .pb output; a .lmgt output is the text form.",
        .opts = opts,
        .exit_status = "0 written, 1 failure, 2 usage error",
    };
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    model_flags_apply(&m);
    lmg_graph *obj = NULL, *g = NULL, *mg = NULL;
    if (model_graph && m.c.objective)
        return cli_usage_error(CMD, "--objective is for gpt and bert; a model graph trains its own "
                                    "loss, next-token prediction on its logits, or --objective-graph");
    if (model_graph) {
        lmg_status ls = cli_load_graph(model_graph, &mg);
        if (ls != LMG_OK) return cli_fail(CMD, ls, "cannot load the model graph '%s'", model_graph);
        lmg_model_graph_config(mg, &m.c);
    }
    if ((rc = model_flags_finish(&m, CMD, &obj))) {
        lmg_graph_free(mg);
        return rc;
    }
    lmg_status s = mg ? lmg_model_graph_build(mg, &m.c, obj, m.objective_weight, &g)
                      : lmg_model_build_with_objective(&m.c, obj, m.objective_weight, &g);
    lmg_graph_free(obj);
    lmg_graph_free(mg);
    if (s != LMG_OK && m.objective_graph && strstr(lmg_last_error(), "objective"))
        return cli_fail_objective(CMD, m.objective_graph, "cannot build the model");
    if (s != LMG_OK && model_graph) return cli_fail_objective(CMD, model_graph, "cannot build the model");
    if (s != LMG_OK) return cli_fail(CMD, s, "cannot build the model");
    s = lmg_graph_verify(g);
    if (s != LMG_OK) {
        lmg_graph_free(g);
        return cli_fail(CMD, s, "the built graph does not verify");
    }
    if (ends_with(out, ".lmgt")) {
        char *text = NULL;
        s = lmg_graph_print(g, &text);
        if (s == LMG_OK) {
            s = cli_write_file(out, text, strlen(text));
        }
        free(text);
    } else {
        s = lmg_graph_save(g, out, 4096);
    }
    if (s != LMG_OK) {
        lmg_graph_free(g);
        return cli_fail(CMD, s, "cannot write '%s'", out);
    }
    if (!quiet && model_graph) {
        printf("%s: model graph %s, vocab %d, seq %d, batch %d; %lld parameters, %d nodes%s%s\n",
               out, model_graph, m.c.vocab, m.c.seq, m.c.batch,
               (long long)lmg_model_param_count(g), g->n_nodes,
               m.objective_graph ? "; objective graph " : "", m.objective_graph ? m.objective_graph : "");
    } else if (!quiet) {
        const char *obj_name = lmg_graph_get_meta(g, "model.objective");
        printf("%s: %s, %d layers, %d heads, d_model %d, d_ff %d, vocab %d, seq %d, batch %d%s%s; "
               "%lld parameters, %d nodes; objective %s%s%s\n",
               out, m.c.arch, m.c.layers, m.c.heads, m.c.d_model, m.c.d_ff, m.c.vocab, m.c.seq,
               m.c.batch, m.c.micro_batches > 1 ? " x " : "", m.c.micro_batches > 1 ? "micro-batches" : "",
               (long long)lmg_model_param_count(g), g->n_nodes, obj_name ? obj_name : "?",
               m.objective_graph ? " + graph " : "", m.objective_graph ? m.objective_graph : "");
    }
    lmg_graph_free(g);
    return 0;
}
