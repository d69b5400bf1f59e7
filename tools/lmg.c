/* lmg.c — the `lmg` command: dispatches `lmg <subcommand> ...` to tools/cmd_*.c. */
#include "cli.h"
#include "../backends/opencl/opencl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LMG_COMMANDS(X)                                                                  \
    X(print, "print a graph (.pb or .lmgt) in the text form")                            \
    X(parse, "parse the text form into a binary graph: lmg parse g.lmgt -o g.pb")         \
    X(dot, "write a Graphviz picture of a graph")                                        \
    X(verify, "check a graph; name the first problem's node and value")                  \
    X(run, "run a graph on a backend and print or save named outputs")                   \
    X(autodiff, "turn a forward graph with a scalar loss into a training graph")          \
    X(demo, "build a small graph, differentiate it and check it against finite differences") \
    X(devices, "list OpenCL platforms and devices")                                      \
    X(plan, "print the memory plan of a graph")                                          \
    X(summary, "parameters per scope, FLOPs per step and planned memory of a graph or run") \
    X(bench, "time training steps of the benchmark models")                              \
    X(tune, "search CLBlast matrix-product parameters for an OpenCL device")             \
    X(tokenizer, "train a byte-level BPE tokenizer, encode and decode")                  \
    X(data, "prepare token shards from text files")                                      \
    X(build, "build a GPT or BERT forward graph with its objective")                     \
    X(train, "pretrain a model (default: a small GPT on the fortunes corpus)")           \
    X(generate, "sample text from a trained GPT run")                                    \
    X(eval, "evaluate a trained run on a data split")                                    \
    X(finetune, "fine-tune a pretrained run on a classification task")                   \
    X(classify, "label texts with a classifier run")                                     \
    X(compare, "two classifier runs' reports side by side")                              \
    X(export, "write a run or graph as an ONNX model: lmg export onnx RUN -o m.onnx")    \
    X(import, "read an ONNX model into a graph: lmg import onnx m.onnx -o g.pb")         \
    X(ops, "list the ops: arity, gradient and exact semantics (from ops/ops.def)")

#define DECLARE(name, help) int lmg_cmd_##name(int argc, char **argv);
LMG_COMMANDS(DECLARE)
#undef DECLARE

static const struct {
    const char *name, *help;
    lmg_cmd_fn fn;
} commands[] = {
#define ENTRY(name, help) {#name, help, lmg_cmd_##name},
    LMG_COMMANDS(ENTRY)
#undef ENTRY
};

static void usage(FILE *f)
{
    fprintf(f, "usage: lmg <command> [options]   (lmg <command> --help for details)\n\n");
    fprintf(f, "lmgraph trains language models from computation graphs on any OpenCL device.\n\n");
    fprintf(f, "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

/* OpenBLAS reads OPENBLAS_CORETYPE only as it loads, and Debian's 0.3.21 falls back to
 * generic kernels on CPUs newer than it knows (3-5x slower products): start again with the
 * CPU's kernels named. A value the user set is kept, so the restart happens at most once. */
static void blas_core_restart(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE")) return;
    const char *better = lmg_opencl_blas_core_better();
    if (!better) return;
    setenv("OPENBLAS_CORETYPE", better, 1);
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE"); /* no restart: carry on with the kernels loaded */
}

int main(int argc, char **argv)
{
    blas_core_restart(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "lmg: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
