/* text.c — the human text form of a graph (.lmgt): print and parse, round-tripping
 * exactly. */
#include "graph.h"

lmg_status lmg_graph_print(const lmg_graph *g, char **text)
{
    (void)g, (void)text;
    return lmg_error(LMG_ERR_UNSUPPORTED, "print: not implemented yet");
}
lmg_status lmg_graph_parse(const char *text, const char *filename, lmg_graph **out)
{
    (void)text, (void)filename, (void)out;
    return lmg_error(LMG_ERR_UNSUPPORTED, "parse: not implemented yet");
}
