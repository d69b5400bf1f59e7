/* device.c — OpenCL platforms and devices: listing, choosing (--device P:D, LMG_DEVICE),
 * the per-process context and program cache, build logs and error names. */
#include "opencl_internal.h"
#include "tune.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Built from the kernel files (and ops/philox.h) by tools/embed.c; see build.ninja. */
extern const struct {
    const char *name, *text;
} lmg_cl_sources[];


/* ---- errors ------------------------------------------------------------------------ */

const char *lmg_cl_error_name(cl_int err)
{
    switch (err) {
#define N(x) \
    case x: return #x;
        N(CL_SUCCESS) N(CL_DEVICE_NOT_FOUND) N(CL_DEVICE_NOT_AVAILABLE)
        N(CL_COMPILER_NOT_AVAILABLE) N(CL_MEM_OBJECT_ALLOCATION_FAILURE) N(CL_OUT_OF_RESOURCES)
        N(CL_OUT_OF_HOST_MEMORY) N(CL_PROFILING_INFO_NOT_AVAILABLE) N(CL_MEM_COPY_OVERLAP)
        N(CL_IMAGE_FORMAT_MISMATCH) N(CL_IMAGE_FORMAT_NOT_SUPPORTED) N(CL_BUILD_PROGRAM_FAILURE)
        N(CL_MAP_FAILURE) N(CL_MISALIGNED_SUB_BUFFER_OFFSET)
        N(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST) N(CL_COMPILE_PROGRAM_FAILURE)
        N(CL_LINKER_NOT_AVAILABLE) N(CL_LINK_PROGRAM_FAILURE) N(CL_DEVICE_PARTITION_FAILED)
        N(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) N(CL_INVALID_VALUE) N(CL_INVALID_DEVICE_TYPE)
        N(CL_INVALID_PLATFORM) N(CL_INVALID_DEVICE) N(CL_INVALID_CONTEXT)
        N(CL_INVALID_QUEUE_PROPERTIES) N(CL_INVALID_COMMAND_QUEUE) N(CL_INVALID_HOST_PTR)
        N(CL_INVALID_MEM_OBJECT) N(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) N(CL_INVALID_IMAGE_SIZE)
        N(CL_INVALID_SAMPLER) N(CL_INVALID_BINARY) N(CL_INVALID_BUILD_OPTIONS)
        N(CL_INVALID_PROGRAM) N(CL_INVALID_PROGRAM_EXECUTABLE) N(CL_INVALID_KERNEL_NAME)
        N(CL_INVALID_KERNEL_DEFINITION) N(CL_INVALID_KERNEL) N(CL_INVALID_ARG_INDEX)
        N(CL_INVALID_ARG_VALUE) N(CL_INVALID_ARG_SIZE) N(CL_INVALID_KERNEL_ARGS)
        N(CL_INVALID_WORK_DIMENSION) N(CL_INVALID_WORK_GROUP_SIZE) N(CL_INVALID_WORK_ITEM_SIZE)
        N(CL_INVALID_GLOBAL_OFFSET) N(CL_INVALID_EVENT_WAIT_LIST) N(CL_INVALID_EVENT)
        N(CL_INVALID_OPERATION) N(CL_INVALID_GL_OBJECT) N(CL_INVALID_BUFFER_SIZE)
        N(CL_INVALID_MIP_LEVEL) N(CL_INVALID_GLOBAL_WORK_SIZE) N(CL_INVALID_PROPERTY)
        N(CL_INVALID_IMAGE_DESCRIPTOR) N(CL_INVALID_COMPILER_OPTIONS) N(CL_INVALID_LINKER_OPTIONS)
        N(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef N
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: break;
    }
    static __thread char buf[32];
    snprintf(buf, sizeof buf, "CL error %d", (int)err);
    return buf;
}

lmg_status lmg_cl_fail(cl_int err, const char *call, const char *file, int line)
{
    /* "clCreateBuffer(ctx, ...)" reads as "clCreateBuffer(...)": the name is what helps. */
    int len = (int)strcspn(call, "(");
    lmg_status code = err <= -1 && err >= -999 ? (lmg_status)err : LMG_ERR_DEVICE;
    return lmg_error(code, "%.*s(...) failed at %s:%d: %s", len, call, file, line,
                     lmg_cl_error_name(err));
}

/* ---- listing ----------------------------------------------------------------------- */

static const char *no_platform_hint =
    "no OpenCL platform found: install an OpenCL driver (ICD); on Debian/Ubuntu "
    "`apt-get install pocl-opencl-icd` runs OpenCL on the CPU, or install your GPU vendor's "
    "ICD (nvidia-opencl-icd, mesa-opencl-icd / rocm-opencl-icd, intel-opencl-icd)";

static lmg_status get_platforms(cl_platform_id **out, cl_uint *n)
{
    *out = NULL;
    *n = 0;
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && np == 0))
        return lmg_error(LMG_ERR_DEVICE, "opencl: %s", no_platform_hint);
    LMG_CL_CHECK(err);
    cl_platform_id *p = calloc(np, sizeof *p);
    if (!p) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    err = clGetPlatformIDs(np, p, NULL);
    if (err != CL_SUCCESS) {
        free(p);
        LMG_CL_CHECK(err);
    }
    *out = p;
    *n = np;
    return LMG_OK;
}

static lmg_status get_devices(cl_platform_id p, cl_device_id **out, cl_uint *n)
{
    *out = NULL;
    *n = 0;
    cl_uint nd = 0;
    cl_int err = clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
    if (err == CL_DEVICE_NOT_FOUND || nd == 0) return LMG_OK;
    LMG_CL_CHECK(err);
    cl_device_id *d = calloc(nd, sizeof *d);
    if (!d) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    err = clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, nd, d, NULL);
    if (err != CL_SUCCESS) {
        free(d);
        LMG_CL_CHECK(err);
    }
    *out = d;
    *n = nd;
    return LMG_OK;
}

static void str_info_platform(cl_platform_id p, cl_platform_info what, char *buf, size_t n)
{
    buf[0] = 0;
    if (clGetPlatformInfo(p, what, n, buf, NULL) != CL_SUCCESS) buf[0] = 0;
    buf[n - 1] = 0;
}

static void str_info_device(cl_device_id d, cl_device_info what, char *buf, size_t n)
{
    buf[0] = 0;
    if (clGetDeviceInfo(d, what, n, buf, NULL) != CL_SUCCESS) buf[0] = 0;
    buf[n - 1] = 0;
    /* Some drivers pad names with spaces. */
    size_t len = strlen(buf);
    while (len && buf[len - 1] == ' ') buf[--len] = 0;
}

static int has_extension(cl_device_id d, const char *ext)
{
    size_t n = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &n) != CL_SUCCESS || !n) return 0;
    char *s = malloc(n + 1);
    if (!s) return 0;
    int found = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, n, s, NULL) == CL_SUCCESS) {
        s[n] = 0;
        size_t len = strlen(ext);
        for (const char *q = s; (q = strstr(q, ext)) != NULL; q += len)
            if ((q == s || q[-1] == ' ') && (q[len] == ' ' || q[len] == 0)) found = 1;
    }
    free(s);
    return found;
}

static void fill_device(lmg_opencl_device *o, cl_platform_id p, cl_device_id d)
{
    str_info_platform(p, CL_PLATFORM_NAME, o->platform_name, sizeof o->platform_name);
    str_info_platform(p, CL_PLATFORM_VERSION, o->platform_version, sizeof o->platform_version);
    str_info_device(d, CL_DEVICE_NAME, o->name, sizeof o->name);
    str_info_device(d, CL_DEVICE_VENDOR, o->vendor, sizeof o->vendor);
    str_info_device(d, CL_DEVICE_VERSION, o->version, sizeof o->version);
    str_info_device(d, CL_DRIVER_VERSION, o->driver, sizeof o->driver);
    cl_device_type type = 0;
    cl_ulong u = 0;
    cl_uint cu = 0;
    size_t wg = 0;
    cl_device_fp_config dbl = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, NULL) == CL_SUCCESS)
        o->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
    if (clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof u, &u, NULL) == CL_SUCCESS)
        o->global_mem = u;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof u, &u, NULL) == CL_SUCCESS)
        o->max_alloc = u;
    if (clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof u, &u, NULL) == CL_SUCCESS)
        o->local_mem = u;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL) == CL_SUCCESS)
        o->compute_units = cu;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL) == CL_SUCCESS)
        o->max_work_group = wg;
    o->fp16 = has_extension(d, "cl_khr_fp16");
    o->fp64 = has_extension(d, "cl_khr_fp64") ||
              (clGetDeviceInfo(d, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof dbl, &dbl, NULL) ==
                   CL_SUCCESS &&
               dbl != 0);
}

lmg_status lmg_opencl_list_devices(lmg_opencl_device **out, int *n)
{
    *out = NULL;
    *n = 0;
    cl_platform_id *plat;
    cl_uint np;
    LMG_TRY(get_platforms(&plat, &np));
    lmg_opencl_device *list = NULL;
    int count = 0, first_gpu = -1;
    lmg_status s = LMG_OK;
    for (cl_uint pi = 0; pi < np && s == LMG_OK; pi++) {
        cl_device_id *dev;
        cl_uint nd;
        s = get_devices(plat[pi], &dev, &nd);
        if (s != LMG_OK) break;
        lmg_opencl_device *grown = realloc(list, (size_t)(count + (int)nd + 1) * sizeof *list);
        if (!grown) {
            free(dev);
            s = lmg_error(LMG_ERR_NOMEM, "out of memory");
            break;
        }
        list = grown;
        for (cl_uint di = 0; di < nd; di++) {
            lmg_opencl_device *o = &list[count];
            memset(o, 0, sizeof *o);
            o->platform = (int)pi;
            o->device = (int)di;
            fill_device(o, plat[pi], dev[di]);
            if (o->is_gpu && first_gpu < 0) first_gpu = count;
            count++;
        }
        free(dev);
    }
    free(plat);
    if (s != LMG_OK) {
        free(list);
        return s;
    }
    if (count) list[first_gpu >= 0 ? first_gpu : 0].is_default = 1;
    *out = list;
    *n = count;
    return LMG_OK;
}

/* "0:0 pthread-skylake (CPU), 1:0 NVIDIA H100 (GPU)" for error messages. */
static void describe_devices(const lmg_opencl_device *list, int n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < n && used + 1 < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%d:%d %s (%s)", i ? ", " : "",
                                 list[i].platform, list[i].device, list[i].name,
                                 list[i].is_gpu ? "GPU" : "not a GPU");
    if (!n) snprintf(buf, size, "none");
}

lmg_status lmg_opencl_pick_device(const char *spec, int *platform, int *device)
{
    const char *from = "--device";
    if (!spec || !*spec) {
        spec = getenv("LMG_DEVICE");
        from = "LMG_DEVICE";
    }
    lmg_opencl_device *list;
    int n;
    LMG_TRY(lmg_opencl_list_devices(&list, &n));
    if (n == 0) {
        free(list);
        return lmg_error(LMG_ERR_DEVICE, "opencl: the OpenCL platforms have no devices; %s",
                         no_platform_hint);
    }
    if (!spec || !*spec) {
        for (int i = 0; i < n; i++)
            if (list[i].is_default) {
                *platform = list[i].platform;
                *device = list[i].device;
            }
        free(list);
        return LMG_OK;
    }
    char avail[1024];
    describe_devices(list, n, avail, sizeof avail);
    int p = -1, d = -1, used = 0;
    if (sscanf(spec, "%d:%d%n", &p, &d, &used) != 2 || spec[used] != 0 || p < 0 || d < 0) {
        free(list);
        return lmg_error(LMG_ERR_ARG,
                         "opencl: %s '%s' is not a device: expected P:D (platform:device), "
                         "one of: %s",
                         from, spec, avail);
    }
    for (int i = 0; i < n; i++)
        if (list[i].platform == p && list[i].device == d) {
            free(list);
            *platform = p;
            *device = d;
            return LMG_OK;
        }
    free(list);
    return lmg_error(LMG_ERR_NOT_FOUND,
                     "opencl: %s %d:%d does not exist; the devices are: %s (see `lmg devices`)",
                     from, p, d, avail);
}

/* ---- contexts and the program ------------------------------------------------------ */

#define MAX_OPEN 16
static lmg_cl_dev *open_devs[MAX_OPEN];
static int n_open;
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

static lmg_status build_program(lmg_cl_dev *d)
{
    int ns = 0;
    while (lmg_cl_sources[ns].name) ns++;
    const char **texts = calloc((size_t)ns + 1, sizeof *texts);
    if (!texts) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < ns; i++) texts[i] = lmg_cl_sources[i].text;
    cl_int err = CL_SUCCESS;
    d->prog = clCreateProgramWithSource(d->ctx, (cl_uint)ns, texts, NULL, &err);
    free(texts);
    if (err != CL_SUCCESS) return lmg_cl_fail(err, "clCreateProgramWithSource", __FILE__, __LINE__);
    /* No -cl-fast-relaxed-math: the kernels must match the reference backend.
     * LMG_CL_BUILD_OPTIONS adds options (a vendor's diagnostics, say). */
    char opts[1024];
    const char *extra = getenv("LMG_CL_BUILD_OPTIONS");
    snprintf(opts, sizeof opts, "-cl-std=CL1.2%s%s", extra && *extra ? " " : "",
             extra && *extra ? extra : "");
    err = clBuildProgram(d->prog, 1, &d->id, opts, NULL, NULL);
    if (err == CL_SUCCESS) return LMG_OK;
    size_t n = 0;
    clGetProgramBuildInfo(d->prog, d->id, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
    char *log = malloc(n + 1);
    if (log) {
        log[0] = 0;
        clGetProgramBuildInfo(d->prog, d->id, CL_PROGRAM_BUILD_LOG, n, log, NULL);
        log[n] = 0;
    }
    lmg_status s = lmg_error_log(err <= -1 && err >= -999 ? err : LMG_ERR_DEVICE,
                             "clBuildProgram(...) failed at %s:%d: %s; building the OpenCL "
                             "kernels for %s (options \"%s\") failed, build log:\n%s",
                             __FILE__, __LINE__, lmg_cl_error_name(err), d->name, opts,
                             log ? log : "(no log)");
    free(log);
    clReleaseProgram(d->prog);
    d->prog = NULL;
    return s;
}

static lmg_status open_device(int p, int di, lmg_cl_dev **out)
{
    cl_platform_id *plat;
    cl_uint np;
    LMG_TRY(get_platforms(&plat, &np));
    cl_platform_id pid = plat[p];
    free(plat);
    cl_device_id *dev;
    cl_uint nd;
    LMG_TRY(get_devices(pid, &dev, &nd));
    cl_device_id id = dev[di];
    free(dev);

    lmg_cl_dev *d = calloc(1, sizeof *d);
    if (!d) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    d->platform = p;
    d->device = di;
    d->pid = pid;
    d->id = id;
    str_info_device(id, CL_DEVICE_NAME, d->name, sizeof d->name);
    cl_device_type type = 0;
    clGetDeviceInfo(id, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    d->is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
    lmg_status s = LMG_OK;
#define TRY_CL(call)                                                       \
    do {                                                                   \
        cl_int e_ = (call);                                                \
        if (e_ != CL_SUCCESS) {                                            \
            s = lmg_cl_fail(e_, #call, __FILE__, __LINE__);                \
            goto fail;                                                     \
        }                                                                  \
    } while (0)
    TRY_CL(clGetDeviceInfo(id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof d->global_mem, &d->global_mem, NULL));
    TRY_CL(clGetDeviceInfo(id, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof d->max_alloc, &d->max_alloc, NULL));
    TRY_CL(clGetDeviceInfo(id, CL_DEVICE_LOCAL_MEM_SIZE, sizeof d->local_mem, &d->local_mem, NULL));
    TRY_CL(clGetDeviceInfo(id, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof d->max_wg, &d->max_wg, NULL));
    cl_int err = CL_SUCCESS;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)pid, 0};
    d->ctx = clCreateContext(props, 1, &id, NULL, NULL, &err);
    TRY_CL(err);
#undef TRY_CL
    /* Host BLAS needs no program build; where it takes the products CLBlast is never called,
     * so its tuning (a CLBlast program build of its own) is skipped too. tune.c applies
     * CLBlast parameters on a thread of its own, overlapping CLBlast's check with the build
     * of our program. */
    s = lmg_cl_hostgemm_choose(d);
    if (s == LMG_OK) s = lmg_cl_hostops_choose(d);
    if (s != LMG_OK) goto fail;
    int use_clblast = !d->gemm_host;
    int tuning = use_clblast && lmg_cl_tune_start(id) == LMG_OK;
    s = build_program(d);
    /* finish waits for the tuning thread even when our build failed. */
    lmg_status ts = !use_clblast ? LMG_OK
                    : tuning     ? lmg_cl_tune_finish(id)
                                 : lmg_cl_tune_apply(id);
    if (s != LMG_OK) goto fail;
    if (ts != LMG_OK) {
        s = lmg_error_prefix(ts, "opencl: applying the CLBlast tuning for %s", d->name);
        goto fail;
    }
    *out = d;
    return LMG_OK;
fail:
    if (d->prog) clReleaseProgram(d->prog);
    if (d->ctx) clReleaseContext(d->ctx);
    free(d);
    return s;
}

size_t lmg_cl_group_limit(lmg_exec *e, const char *name)
{
    lmg_cl_dev *d = e->dev;
    size_t limit = d->max_wg;
    pthread_mutex_lock(&open_lock);
    for (int i = 0; i < d->n_wg; i++)
        if (strcmp(d->wg[i].name, name) == 0) {
            limit = d->wg[i].size;
            pthread_mutex_unlock(&open_lock);
            return limit;
        }
    cl_int err = CL_SUCCESS;
    cl_kernel k = clCreateKernel(d->prog, name, &err);
    size_t ks = 0;
    if (err == CL_SUCCESS &&
        clGetKernelWorkGroupInfo(k, d->id, CL_KERNEL_WORK_GROUP_SIZE, sizeof ks, &ks, NULL) ==
            CL_SUCCESS &&
        ks > 0 && ks < limit)
        limit = ks;
    if (err == CL_SUCCESS) clReleaseKernel(k);
    /* An unknown name keeps the device limit; creating the launch reports it properly. */
    struct lmg_cl_wg *grown = realloc(d->wg, (size_t)(d->n_wg + 1) * sizeof *grown);
    if (grown) {
        d->wg = grown;
        snprintf(d->wg[d->n_wg].name, sizeof d->wg[d->n_wg].name, "%s", name);
        d->wg[d->n_wg++].size = limit;
    }
    pthread_mutex_unlock(&open_lock);
    return limit;
}

lmg_status lmg_cl_dev_open(const char *spec, lmg_cl_dev **out)
{
    int p, di;
    *out = NULL;
    LMG_TRY(lmg_opencl_pick_device(spec, &p, &di));
    pthread_mutex_lock(&open_lock);
    lmg_status s = LMG_OK;
    for (int i = 0; i < n_open; i++)
        if (open_devs[i]->platform == p && open_devs[i]->device == di) *out = open_devs[i];
    if (!*out) {
        if (n_open == MAX_OPEN) s = lmg_error(LMG_ERR_DEVICE, "opencl: too many devices open");
        else s = open_device(p, di, out);
        if (s == LMG_OK) open_devs[n_open++] = *out;
    }
    pthread_mutex_unlock(&open_lock);
    return s;
}
