/* cmd_demo.c — `lmg demo`: build a small GPT-like graph, differentiate it, check every
 * gradient against finite differences and train it for a few steps on the ref backend. */
#include "cli.h"

#include <stdio.h>

int lmg_cmd_demo(int argc, char **argv);
int lmg_cmd_demo(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "lmg %s: not implemented yet\n", argv[0]);
    return 1;
}
