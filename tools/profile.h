/* profile.h — the `--profile` report shared by lmg bench and lmg train: tables by op type
 * and by node from the OpenCL backend's profiling table, and a Chrome trace of one step. */
#ifndef LMG_TOOLS_PROFILE_H
#define LMG_TOOLS_PROFILE_H

/* Take the backend's profile table (recorded over `steps` runs of the training step, whose
 * median wall time was wall_ms) and print the op-type table and the `top` slowest nodes
 * (0: all); write the last step as Chrome-trace JSON to `trace` unless NULL. Returns the
 * exit code (1 when the trace cannot be written). */
int cli_profile_report(const char *cmd, long long steps, double wall_ms, const char *trace,
                       int top);

#endif
