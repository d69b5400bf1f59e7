/* cli.h — what every `lmg` subcommand shares: the command table, flag parsing, and
 * printing errors from the library's last-error message. */
#ifndef LMG_CLI_H
#define LMG_CLI_H

#include "../graph/graph.h"
#include "../backends/backend.h"

/* Every subcommand: int lmg_cmd_<name>(int argc, char **argv), argv[0] = the subcommand.
 * Returns the process exit code: 0 ok, 1 failure, 2 usage error. */
typedef int (*lmg_cmd_fn)(int argc, char **argv);

/* Print "lmg <cmd>: <msg>: <last library error>" to stderr and return 1. */
int cli_fail(const char *cmd, lmg_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Print "lmg <cmd>: <path>: <last library error>" to stderr, naming path once when the
 * message already starts with it; return 1. */
int cli_fail_file(const char *cmd, const char *path);
/* Print "lmg <cmd>: <msg>" and "try 'lmg <cmd> --help'" to stderr; return 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 1 when argv[i] is "-h" or "--help". */
int cli_is_help(const char *arg);
/* Flag value: for "--name V" returns V and advances *i; for "--name=V" returns V. NULL when
 * argv[*i] is not this flag. A flag given without its value is a usage error: *missing = 1. */
const char *cli_flag(int argc, char **argv, int *i, const char *name, int *missing);
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
