/* cmd_autodiff.c — `lmg autodiff`: read a forward graph, append its backward pass for a
 * named scalar loss, write the training graph. */
#include "cli.h"

#include <stdio.h>

int lmg_cmd_autodiff(int argc, char **argv);
int lmg_cmd_autodiff(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "lmg %s: not implemented yet\n", argv[0]);
    return 1;
}
