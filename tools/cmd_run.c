/* cmd_run.c — `lmg run`: load a graph, feed raw input files, run one step on a backend,
 * print or save the named outputs. */
#include "cli.h"

#include <stdio.h>

int lmg_cmd_run(int argc, char **argv);
int lmg_cmd_run(int argc, char **argv) { (void)argc; fprintf(stderr, "lmg %s: not implemented yet\n", argv[0]); return 1; }
