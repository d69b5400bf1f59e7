/* plan.c — the memory planner: liveness over the node order, regions for parameters,
 * gradients, optimizer state, constants and inputs, and offsets in one reusable arena. */
#include "plan.h"

#include <stdlib.h>

lmg_status lmg_plan_build(const lmg_graph *g, const lmg_plan_opts *opts, lmg_plan **out)
{
    (void)g, (void)opts;
    *out = NULL;
    return lmg_error(LMG_ERR_UNSUPPORTED, "memory plan: not implemented yet");
}

void lmg_plan_free(lmg_plan *p)
{
    free(p);
}

lmg_status lmg_plan_print(const lmg_graph *g, const lmg_plan *p, int values, char **text)
{
    (void)g, (void)p, (void)values;
    *text = NULL;
    return lmg_error(LMG_ERR_UNSUPPORTED, "memory plan: not implemented yet");
}

const char *lmg_region_name(lmg_region r)
{
    static const char *names[LMG_REGION_COUNT] = {"arena", "params", "grads",
                                                  "state", "consts", "inputs"};
    return (unsigned)r < LMG_REGION_COUNT ? names[r] : "?";
}
