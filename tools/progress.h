/* progress.h — the progress of lmg train and lmg finetune on stderr: a bar on a terminal,
 * plain lines otherwise, validation lines with every logged loss term, and --profile. */
#ifndef LMG_TOOLS_PROGRESS_H
#define LMG_TOOLS_PROGRESS_H

#include "../train/train.h"

#include <stdint.h>

typedef struct cli_progress {
    const char *cmd;    /* "train", "finetune": names the command in the profile's report */
    int tty, quiet;
    int64_t every;      /* plain mode: a line every this many steps */
    int bar_shown;
    long long profile;  /* --profile N: report N steps after the first */
    int64_t prof_from;  /* the step whose end starts the profile (0: not yet) */
    double prof_t0;
    const char *trace;
} cli_progress;

/* The trainer's progress callback (lmg_train_config.progress); user is a cli_progress. */
void cli_progress_event(const lmg_train_event *e, void *user);

#endif
