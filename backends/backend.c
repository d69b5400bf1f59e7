/* backend.c — the list of compiled-in backends and lookup by name. */
#include "backend.h"

#include <string.h>

const lmg_backend *lmg_backend_find(const char *name)
{
    if (!name || strcmp(name, "ref") == 0) return &lmg_backend_ref;
    if (strcmp(name, "opencl") == 0) return &lmg_backend_opencl;
    return NULL;
}
