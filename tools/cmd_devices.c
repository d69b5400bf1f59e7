/* cmd_devices.c — `lmg devices`: every OpenCL platform and device with what matters for
 * training (memory, largest allocation, compute units, fp16/fp64) and which one is the default. */
#include "cli.h"
#include "../backends/opencl/opencl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lmg_cmd_devices(int argc, char **argv);

static const char *const CMD = "devices";

static void mib(char *buf, size_t n, uint64_t bytes)
{
    if (bytes >= ((uint64_t)1 << 30)) snprintf(buf, n, "%.1f GiB", bytes / 1073741824.0);
    else snprintf(buf, n, "%.0f MiB", bytes / 1048576.0);
}

int lmg_cmd_devices(int argc, char **argv)
{
    int rc;
    cli_opt opts[] = {CLI_OPT_END};
    cli_spec spec = {
        .cmd = CMD,
        .usage = "lmg devices",
        .about = "List the OpenCL platforms and devices. Choose one for `lmg run`, `lmg train` or\n"
                 "`lmg bench` with --device P:D (platform:device) or the LMG_DEVICE environment\n"
                 "variable; without either the first GPU is used, else the first device (marked\n"
                 "'default' below; a valid LMG_DEVICE is marked 'chosen by LMG_DEVICE').",
        .opts = opts,
        .exit_status = "0 listed, 1 no OpenCL platform (or an OpenCL failure), 2 usage error",
    };
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    lmg_opencl_device *list = NULL;
    int n = 0;
    lmg_status s = lmg_opencl_list_devices(&list, &n);
    if (s != LMG_OK) return cli_fail(CMD, s, "cannot list OpenCL devices");
    int env_p = -1, env_d = -1;
    const char *env = getenv("LMG_DEVICE");
    if (env && *env && lmg_opencl_pick_device(NULL, &env_p, &env_d) != LMG_OK) {
        fprintf(stderr, "lmg devices: warning: %s\n", lmg_last_error());
        env_p = env_d = -1;
    }
    int last_platform = -1;
    for (int i = 0; i < n; i++) {
        const lmg_opencl_device *d = &list[i];
        if (d->platform != last_platform) {
            printf("platform %d: %s (%s)\n", d->platform, d->platform_name, d->platform_version);
            last_platform = d->platform;
        }
        char gm[32], ma[32], lm[32];
        mib(gm, sizeof gm, d->global_mem);
        mib(ma, sizeof ma, d->max_alloc);
        mib(lm, sizeof lm, d->local_mem);
        const char *mark = "";
        if (d->platform == env_p && d->device == env_d) mark = "  [chosen by LMG_DEVICE]";
        else if (d->is_default && env_p < 0) mark = "  [default]";
        else if (d->is_default) mark = "  [default without LMG_DEVICE]";
        printf("  device %d:%d  %s%s\n", d->platform, d->device, d->name, mark);
        printf("    type %s, vendor %s, %s, driver %s\n", d->is_gpu ? "GPU" : "not a GPU",
               d->vendor, d->version, d->driver);
        printf("    global memory %s, max allocation %s, local memory %s\n", gm, ma, lm);
        printf("    compute units %u, max work-group %zu, fp16 %s, fp64 %s\n", d->compute_units,
               d->max_work_group, d->fp16 ? "yes" : "no", d->fp64 ? "yes" : "no");
    }
    if (n == 0) printf("no OpenCL devices (the platforms list none)\n");
    free(list);
    return 0;
}
