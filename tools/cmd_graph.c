/* cmd_graph.c — `lmg print`, `lmg parse`, `lmg dot`, `lmg verify`: the commands that read
 * a graph and turn it into text, a picture or a verdict. */
#include "cli.h"

#include <stdio.h>

int lmg_cmd_print(int argc, char **argv);
int lmg_cmd_parse(int argc, char **argv);
int lmg_cmd_dot(int argc, char **argv);
int lmg_cmd_verify(int argc, char **argv);
int lmg_cmd_print(int argc, char **argv) { (void)argc; fprintf(stderr, "lmg %s: not implemented yet\n", argv[0]); return 1; }
int lmg_cmd_parse(int argc, char **argv) { (void)argc; fprintf(stderr, "lmg %s: not implemented yet\n", argv[0]); return 1; }
int lmg_cmd_dot(int argc, char **argv) { (void)argc; fprintf(stderr, "lmg %s: not implemented yet\n", argv[0]); return 1; }
int lmg_cmd_verify(int argc, char **argv) { (void)argc; fprintf(stderr, "lmg %s: not implemented yet\n", argv[0]); return 1; }
