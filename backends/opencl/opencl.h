/* opencl.h — the OpenCL backend's extras beyond lmg_backend_opencl: which ops have a kernel
 * (for registry tests); the device list and choice are public (include/lmgraph.h). */
#ifndef LMG_OPENCL_H
#define LMG_OPENCL_H

#include "../backend.h"

/* Environment: LMG_DEVICE ("P:D") picks the device when no --device is given;
 * LMG_CL_BUILD_OPTIONS adds options to the kernels' clBuildProgram; LMG_CL_CANARY=1 (tests)
 * gives every value its own storage between guard words, checked after each run, and fills
 * computed values with NaN before the first, so out-of-bounds writes and unwritten elements
 * show up as errors. */

/* 1 when the OpenCL backend can run `op` (a kernel or a CLBlast call on the device). */
int lmg_opencl_has_kernel(lmg_op op);

#endif
