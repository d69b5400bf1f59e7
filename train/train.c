/* train.c — the trainer: data, the step loop on a backend, evaluation, early stopping,
 * checkpoints, metrics and the loss plot of a run directory. */
#include "train.h"

#include <string.h>

void lmg_train_config_default(lmg_train_config *c)
{
    memset(c, 0, sizeof *c);
    lmg_model_config_default(&c->model, "gpt");
    lmg_optim_config_default(&c->optim);
    c->objective_weight = 1.0;
    c->eval_every = 100;
    c->eval_batches = 20;
    c->patience = 5;
    c->data_seed = 1;
}

lmg_status lmg_train_run(const lmg_train_config *c, lmg_train_result *r)
{
    (void)c, (void)r;
    return lmg_error(LMG_ERR_UNSUPPORTED, "train: not implemented yet");
}

lmg_status lmg_eval_run(const char *run_dir, const char *checkpoint, const char *split,
                        const char *backend, const char *device, int max_batches,
                        lmg_eval_result *r)
{
    (void)run_dir, (void)checkpoint, (void)split, (void)backend, (void)device, (void)max_batches,
        (void)r;
    return lmg_error(LMG_ERR_UNSUPPORTED, "eval: not implemented yet");
}

lmg_status lmg_train_prepare_data(const char *const *paths, size_t n, int vocab, uint64_t seed,
                                  const char *dir)
{
    (void)paths, (void)n, (void)vocab, (void)seed, (void)dir;
    return lmg_error(LMG_ERR_UNSUPPORTED, "prepare: not implemented yet");
}

lmg_status lmg_run_open(const char *run_dir, lmg_graph **graph, lmg_model_config *model,
                        char **data_dir, lmg_graph **objective)
{
    (void)run_dir, (void)graph, (void)model, (void)data_dir, (void)objective;
    return lmg_error(LMG_ERR_UNSUPPORTED, "run: not implemented yet");
}
