/* cli.h — what every `lmg` subcommand shares: the command table, flag parsing, and
 * printing errors from the library's last-error message. */
#ifndef LMG_CLI_H
#define LMG_CLI_H

#include "../graph/graph.h"
#include "../backends/backend.h"

#include <stdio.h>

/* Every subcommand: int lmg_cmd_<name>(int argc, char **argv), argv[0] = the subcommand.
 * Returns the process exit code: 0 ok, 1 failure, 2 usage error. */
typedef int (*lmg_cmd_fn)(int argc, char **argv);

/* Print "lmg <cmd>: <msg>: <last library error>" to stderr and return 1. */
int cli_fail(const char *cmd, lmg_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Print "lmg <cmd>: <path>: <last library error>" to stderr, naming path once when the
 * message already starts with it; return 1. */
int cli_fail_file(const char *cmd, const char *path);
/* Print the one line "lmg <cmd>: <msg> (see lmg <cmd> --help)" to stderr; return 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 1 when argv[i] is "-h" or "--help". */
int cli_is_help(const char *arg);

/* ---- option tables ------------------------------------------------------------------
 * A command states its options once, as a table that cli_parse reads argv with and
 * cli_help prints --help from, so no option exists without its line of help. */

typedef enum cli_kind {
    CLI_END = 0, /* ends a table */
    CLI_SECTION, /* a heading in the help ("model options"); help = the heading */
    CLI_FLAG,    /* no value: *(int *)dst = 1 */
    CLI_STR,     /* *(const char **)dst = the value (the last one given wins) */
    CLI_INT,     /* *(long long *)dst, an integer in lo..hi */
    CLI_DOUBLE,  /* *(double *)dst, a finite number in lo..hi (CLI_LO_OPEN/CLI_HI_OPEN) */
    CLI_CHOICE,  /* *(const char **)dst, one of the '|'-separated words of `choices` */
    CLI_LIST,    /* repeatable: appended to *(cli_list *)dst */
    CLI_CALL,    /* fn(cmd, opt, value) parses the value itself; returns 0 or an exit code */
    CLI_POS,     /* a positional argument: STR when dst is const char **, or with
                  * CLI_REST a cli_list taking all the rest; arg names it in errors */
} cli_kind;

enum {
    CLI_REQUIRED = 1 << 0, /* an option or positional that must be given */
    CLI_LO_OPEN = 1 << 1,  /* CLI_DOUBLE: the value must be > lo (not >= lo) */
    CLI_HI_OPEN = 1 << 2,  /* CLI_DOUBLE: the value must be < hi */
    CLI_REST = 1 << 3,     /* CLI_POS: every remaining positional, into a cli_list */
    CLI_GROUP1 = 1 << 8,   /* a command's own group, counted by cli_given_group ("options
                            * that set a run up", which --resume refuses) */
    CLI_GROUP2 = 1 << 9,
};

/* The values of a repeatable option, in order; v is malloc'd (cli_list_free). */
typedef struct cli_list {
    const char **v;
    int n, cap;
} cli_list;

typedef struct cli_opt cli_opt;
typedef int (*cli_opt_fn)(const char *cmd, const cli_opt *o, const char *value);

struct cli_opt {
    cli_kind kind;
    const char *name;  /* "--steps"; CLI_POS: NULL */
    const char *alias; /* "-o" for "--output", "--model-graph" for "--graph", or NULL */
    const char *arg;   /* the value's name in the help ("N", "FILE"); CLI_POS: what it is,
                        * for "no <arg> given" */
    const char *choices; /* CLI_CHOICE: "a|b|c", also its name in the help when arg is NULL */
    void *dst;
    const char *help;  /* lines split by \n, indented under the first in the help */
    double lo, hi;     /* CLI_INT, CLI_DOUBLE */
    unsigned flags;
    cli_opt_fn fn;     /* CLI_CALL */
    int given;         /* set by cli_parse: how many times it was given */
};

/* Rows of a table. Extra designated fields may follow the help: .flags = CLI_REQUIRED. */
#define CLI_SECTION(title) {.kind = CLI_SECTION, .help = (title)}
#define CLI_FLAG(n, a, d, h, ...) {.kind = CLI_FLAG, .name = (n), .alias = (a), .dst = (d), .help = (h), __VA_ARGS__}
#define CLI_STR(n, a, m, d, h, ...) \
    {.kind = CLI_STR, .name = (n), .alias = (a), .arg = (m), .dst = (d), .help = (h), __VA_ARGS__}
#define CLI_INT(n, m, d, l, u, h, ...) \
    {.kind = CLI_INT, .name = (n), .arg = (m), .dst = (d), .lo = (l), .hi = (u), .help = (h), __VA_ARGS__}
#define CLI_DOUBLE(n, m, d, l, u, h, ...) \
    {.kind = CLI_DOUBLE, .name = (n), .arg = (m), .dst = (d), .lo = (l), .hi = (u), .help = (h), __VA_ARGS__}
#define CLI_CHOICE(n, m, words, d, h, ...) \
    {.kind = CLI_CHOICE, .name = (n), .arg = (m), .choices = (words), .dst = (d), .help = (h), __VA_ARGS__}
#define CLI_LIST(n, m, d, h, ...) {.kind = CLI_LIST, .name = (n), .arg = (m), .dst = (d), .help = (h), __VA_ARGS__}
#define CLI_CALL(n, m, f, d, h, ...) \
    {.kind = CLI_CALL, .name = (n), .arg = (m), .fn = (f), .dst = (d), .help = (h), __VA_ARGS__}
#define CLI_POS(what, d, ...) {.kind = CLI_POS, .arg = (what), .dst = (d), __VA_ARGS__}
/* The rows of every command that loads a trained run (eval, generate, classify): the
 * weights, the backend and device, and the run directory. */
#define CLI_RUN_OPTS(ck, backend, device, dir)                                              \
    CLI_STR("--checkpoint", NULL, "FILE", (ck),                                                \
            "weights to use (default RUN_DIR/best.safetensors)"),                              \
    CLI_STR("--backend", NULL, "NAME", (backend), "opencl (default) or ref"),                  \
    CLI_STR("--device", NULL, "P:D", (device), "OpenCL platform and device"),                  \
    CLI_POS("run directory", (dir), .flags = CLI_REQUIRED)
#define CLI_OPT_END {.kind = CLI_END}

/* One command: what --help prints around its option table. */
typedef struct cli_spec {
    const char *cmd;         /* "train", "tokenizer train": errors read "lmg <cmd>: ..." */
    const char *usage;       /* after "usage: "; further lines are indented to match */
    const char *about;       /* what the command does (may be NULL) */
    cli_opt *opts;           /* the table, CLI_OPT_END last */
    const char *epilog;      /* printed after the options (may be NULL) */
    const char *exit_status; /* after "exit status: " */
} cli_spec;

/* Read argv[1..] by spec->opts: "--name VALUE", "--name=VALUE", flags, positionals ("-"
 * and negative numbers included; all after "--"). -h/--help prints the help to stdout.
 * Returns 1 when the command should go on; 0 with *rc set to the exit status when it
 * should not: 0 after --help, 2 after a usage error, printed as one line naming the
 * option and value, or the status a CLI_CALL returned. */
int cli_parse(cli_spec *spec, int argc, char **argv, int *rc);
/* The help of spec, as --help prints it. */
void cli_help(const cli_spec *spec, FILE *f);
/* How many times the option called `name` (or its alias) was given; 0 when unknown. */
int cli_given(const cli_spec *spec, const char *name);
/* How many options of `group` (a CLI_GROUP* bit) were given. */
int cli_given_group(const cli_spec *spec, unsigned group);
/* Usage error unless at most one of the options named (NULL-terminated) was given:
 * "--data and --corpus exclude each other". Returns 0 or 2. */
int cli_exclusive(const cli_spec *spec, ...) __attribute__((sentinel));
void cli_list_free(cli_list *l);

/* A command made of actions ("lmg tokenizer train ...") dispatches on argv[1]. */
typedef struct cli_action {
    const char *name;
    int (*fn)(int argc, char **argv); /* argv[0] = the action */
    const char *usage;                /* the action's usage, as in its cli_spec */
    const char *summary;              /* one line for the command's --help */
} cli_action;

/* Run the action argv[1] names. --help lists the actions' usage lines and summaries; a
 * command of one action (export onnx) shows that action's help instead. No action or an
 * unknown one is a usage error.
 * `what` names an action in errors: "unknown format 'x' (onnx)". */
int cli_dispatch(const char *cmd, const char *what, const cli_action *actions, int n,
                 const char *exit_status, int argc, char **argv);
/* Parse numbers strictly (whole string, range); 0 ok, -1 bad. */
int cli_parse_int(const char *s, long long lo, long long hi, long long *out);
int cli_parse_double(const char *s, double *out);

/* Load a graph from .pb (binary) or .lmgt (text), by extension or content. */
lmg_status cli_load_graph(const char *path, lmg_graph **out);
/* lmg_graph_parse of the n bytes read from path, refusing text that holds a NUL byte. */
lmg_status cli_parse_text(const char *text, size_t n, const char *path, lmg_graph **out);
/* Read a whole file into a NUL-terminated malloc'd buffer. */
lmg_status cli_read_file(const char *path, char **data, size_t *n);
/* Write n bytes to path through a temporary file beside it and a rename, so a failure
 * never leaves half a file; errors name path. */
lmg_status cli_write_file(const char *path, const void *data, size_t n);
/* For an objective (or model) graph at path that breaks the contract: print "lmg <cmd>:
 * [<what>: ]<path>:<line>:<col>: <last error>", the line and column where the text form
 * declares the value the message names (just the path for a .pb or when none); return 1. */
int cli_fail_objective(const char *cmd, const char *path, const char *what);
/* Ctrl-C and SIGTERM during training: the first asks the trainer to stop after its step and
 * write a checkpoint (lmg_train_request_stop), saying so on stderr as "lmg <cmd>: ..."; a
 * second ends the process at once. Install once the run's data is ready. */
void cli_trap_stop_signals(const char *cmd);
/* After lmg_train_run returned with r.interrupted: print which signal stopped run_dir at
 * `step`, where the checkpoint is and the command that resumes it ("lmg <cmd> --resume
 * DIR"); return the exit status 128 + signal (130 for SIGINT, 143 for SIGTERM). */
int cli_report_interrupt(const char *cmd, const char *run_dir, long long step);
/* Pick the backend for --backend NAME (NULL = default: opencl when built, else ref). */
const lmg_backend *cli_backend(const char *name);

#endif
