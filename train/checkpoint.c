/* checkpoint.c — training state in safetensors: parameters by name, AdamW moments, step and
 * RNG state, written atomically; loading it back into an executor by value name. */
#include "train.h"
#include "../backends/backend.h"

lmg_status lmg_checkpoint_load(const char *path, const lmg_graph *g, const lmg_backend *b,
                               lmg_exec *e, int state, int64_t *step)
{
    (void)path, (void)g, (void)b, (void)e, (void)state, (void)step;
    return lmg_error(LMG_ERR_UNSUPPORTED, "checkpoint: not implemented yet");
}
