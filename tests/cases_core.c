/* cases_core.c — test cases for the core op families (elementwise, matmul, shape, reduce)
 * driving the gradient check and the backend parity test. */
#include "cases.h"

const lmg_case lmg_cases_core[] = {
    {.name = "Add/same", .op = LMG_OP_ADD, .n_in = 2, .shape = {"2,3", "2,3"}},
};
const int lmg_n_cases_core = (int)(sizeof lmg_cases_core / sizeof lmg_cases_core[0]);
