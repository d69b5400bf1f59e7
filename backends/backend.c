/* backend.c — the list of compiled-in backends and lookup by name. */
#include "backend.h"

#include <string.h>

/* Weak, so builds and tests that leave the OpenCL backend out still link. */
extern const lmg_backend lmg_backend_opencl __attribute__((weak));

const lmg_backend *lmg_backend_find(const char *name)
{
    if (!name || strcmp(name, "ref") == 0) return &lmg_backend_ref;
    if (strcmp(name, "opencl") == 0) return &lmg_backend_opencl ? &lmg_backend_opencl : NULL;
    return NULL;
}
