/* cmd_run.c — `lmg run`: load a graph, feed raw input files, run one step on a backend,
 * print or save the named outputs. */
#include "cli.h"
#include "../export/npy.h"
#include "../graph/safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int lmg_cmd_run(int argc, char **argv);

typedef struct {
    char *name, *file;
} feed;

static int fail_msg(const char *file, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_msg(const char *file, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "lmg run: %s: ", file);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 1;
}

static int add_feeds(const char *list, feed **feeds, int *n)
{
    char *copy = strdup(list);
    if (!copy) return -1;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || !eq[1]) {
            free(copy);
            return -2;
        }
        *eq = 0;
        feed *nf = realloc(*feeds, (size_t)(*n + 1) * sizeof *nf);
        if (!nf) {
            free(copy);
            return -1;
        }
        *feeds = nf;
        nf[*n].name = strdup(tok);
        nf[*n].file = strdup(eq + 1);
        (*n)++;
        if (!nf[*n - 1].name || !nf[*n - 1].file) {
            free(copy);
            return -1;
        }
    }
    free(copy);
    return 0;
}

static size_t value_bytes(const lmg_value *v)
{
    return (size_t)lmg_shape_numel(&v->shape) * lmg_dtype_size(v->dtype);
}

/* Element i as a double; half-precision bits are widened exactly. */
static double element(lmg_dtype t, const void *data, int64_t i)
{
    if (t == LMG_DTYPE_F32) return ((const float *)data)[i];
    if (t == LMG_DTYPE_I32) return ((const int32_t *)data)[i];
    uint16_t h = ((const uint16_t *)data)[i];
    if (t == LMG_DTYPE_BF16) {
        uint32_t u = (uint32_t)h << 16;
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double x = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m | 0x400, e - 25);
    return h & 0x8000 ? -x : x;
}

static void print_value(const lmg_value *v, const void *data)
{
    char sh[160];
    int64_t n = lmg_shape_numel(&v->shape);
    printf("%s %s%s:", v->name, lmg_dtype_name(v->dtype), lmg_shape_str(&v->shape, sh, sizeof sh));
    double sum = 0;
    int64_t shown = n < 8 ? n : 8;
    printf(" [");
    for (int64_t i = 0; i < n; i++) {
        double x = element(v->dtype, data, i);
        sum += x;
        if (i < shown) {
            if (v->dtype == LMG_DTYPE_I32) printf("%s%d", i ? ", " : "", ((const int32_t *)data)[i]);
            else printf("%s%.7g", i ? ", " : "", x);
        }
    }
    printf("%s] sum %.9g\n", n > shown ? ", ..." : "", sum);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static char *save_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 8;
    char *p = malloc(n);
    if (!p) return NULL;
    snprintf(p, n, "%s/", dir);
    size_t len = strlen(p);
    for (const char *c = name; *c; c++) {
        char ch = *c;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '.' || ch == '-';
        p[len++] = ok ? ch : '_';
    }
    strcpy(p + len, ".bin");
    return p;
}

/* --inputs NAME=FILE,...: appended to the feed list o->dst points at. */
typedef struct {
    feed *v;
    int n;
} feed_list;

static int inputs_opt(const char *cmd, const cli_opt *o, const char *v)
{
    feed_list *f = o->dst;
    int r = add_feeds(v, &f->v, &f->n);
    if (r == -2) return cli_usage_error(cmd, "--inputs wants NAME=FILE pairs, not '%s'", v);
    return r ? fail_msg(cmd, "out of memory") : 0;
}

static int dims_opt(const char *cmd, const cli_opt *o, const char *v)
{
    return lmg_dim_parse(o->dst, v) == LMG_OK ? 0 : cli_usage_error(cmd, "%s", lmg_last_error());
}

int lmg_cmd_run(int argc, char **argv)
{
    const char *graph_path = NULL, *backend = NULL, *save = NULL, *device = NULL;
    lmg_dim_binding dims;
    memset(&dims, 0, sizeof dims);
    long long step = 0;
    feed_list fd = {NULL, 0};
    cli_list outputs = {0};
    int rc = 0;
    cli_opt table[] = {
        CLI_CALL("--inputs", "LIST", inputs_opt, &fd, "NAME=FILE pairs, comma separated; may be repeated"),
        CLI_LIST("--output", "NAME", &outputs,
                 "a value to print or save (repeatable; default: every graph output;\n"
                 "intermediates can be named too)"),
        CLI_STR("--backend", NULL, "NAME", &backend, "ref or opencl (default: opencl when available)"),
        CLI_STR("--device", NULL, "P:D", &device, "OpenCL platform:device (default: LMG_DEVICE or the first GPU)"),
        CLI_STR("--save", NULL, "PATH", &save,
                "save the outputs instead of printing them: PATH.npz (NumPy,\n"
                "one array per output name), PATH.safetensors, or a directory\n"
                "of raw NAME.bin files ('/' in a name becomes '_')"),
        CLI_INT("--step", "N", &step, 0, INT64_MAX, "the step number random ops are keyed by (default 0)"),
        CLI_CALL("--dims", "B=8,T=64", dims_opt, &dims,
                 "sizes of a graph's named dimensions (f32[B,T]); required when it\n"
                 "has any, since raw files carry no shape"),
        CLI_POS("graph file", &graph_path, .flags = CLI_REQUIRED),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = "run",
        .usage = "lmg run GRAPH --inputs NAME=FILE[,NAME=FILE...] [options]",
        .about = "Load a graph (.pb or .lmgt), write input files into its inputs (or initializers), run\n"
                 "it once and print each output: dtype, shape, first values, sum. A FILE.npy is a NumPy\n"
                 "array of the value's shape (float32/int32; float64 and int64 are narrowed); any other\n"
                 "file is raw little-endian and must hold exactly the value's bytes (numel * dtype size).\n"
                 "Inputs not given are zeros.",
        .opts = table,
        .exit_status = "0 ran, 1 failure (naming the file, value or node), 2 usage error",
    };
    int go = cli_parse(&spec, argc, argv, &rc);
    feed *feeds = fd.v;
    int n_feeds = fd.n;
    const char **outs = outputs.v;
    int n_outs = outputs.n;
    if (!go && rc == 0) rc = -1; /* --help */
    const lmg_backend *be = NULL;
    if (rc == 0) {
        be = cli_backend(backend);
        if (!be) rc = cli_usage_error("run", "unknown backend '%s' (ref or opencl)", backend ? backend : "opencl");
    }

    lmg_graph *g = NULL;
    lmg_exec *e = NULL;
    int *out_ids = NULL;
    void *buf = NULL;
    if (rc == 0 && cli_load_graph(graph_path, &g) != LMG_OK) rc = cli_fail_file("run", graph_path);
    /* Named dimensions take the sizes given (the data's), then the graph is checked again. */
    if (rc == 0 && lmg_graph_is_symbolic(g) && lmg_graph_bind_dims(g, &dims) != LMG_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s", lmg_last_error());
        lmg_error(LMG_ERR_INVALID, "%s; give the sizes with --dims NAME=SIZE,...", msg);
        rc = cli_fail_file("run", graph_path);
    }
    if (rc == 0 && lmg_graph_verify(g) != LMG_OK) rc = cli_fail_file("run", graph_path);
    /* Which values to show, and whether an intermediate is among them. */
    int keep_all = 0;
    if (rc == 0) {
        int n = n_outs ? n_outs : g->n_outputs;
        out_ids = calloc((size_t)n + 1, sizeof *out_ids);
        if (!out_ids) rc = fail_msg(graph_path, "out of memory");
        for (int i = 0; rc == 0 && i < n; i++) {
            int v = n_outs ? lmg_graph_find(g, outs[i]) : g->outputs[i];
            if (v < 0) {
                rc = fail_msg(graph_path, "no value named '%s'", outs[i]);
                break;
            }
            out_ids[i] = v;
            int is_out = 0;
            for (int k = 0; k < g->n_outputs; k++) is_out |= g->outputs[k] == v;
            if (!is_out && g->values[v].kind == LMG_VALUE_NODE) keep_all = 1;
        }
        n_outs = n;
    }
    if (rc == 0) {
        lmg_exec_opts opts = {device ? device : getenv("LMG_DEVICE"), keep_all};
        if (be->init(g, &opts, &e) != LMG_OK) rc = cli_fail_file("run", graph_path);
    }
    for (int i = 0; rc == 0 && i < n_feeds; i++) {
        int v = lmg_graph_find(g, feeds[i].name);
        if (v < 0) {
            rc = fail_msg(graph_path, "no input named '%s'", feeds[i].name);
            break;
        }
        const lmg_value *val = &g->values[v];
        if (val->kind == LMG_VALUE_NODE) {
            rc = fail_msg(graph_path, "'%s' is computed by a node; only inputs and initializers can be fed",
                          feeds[i].name);
            break;
        }
        char *data = NULL;
        size_t n = 0;
        char sh[160], sh2[160];
        if (ends_with(feeds[i].file, ".npy")) {
            lmg_dtype t;
            lmg_shape shape;
            void *arr;
            if (lmg_npy_load(feeds[i].file, &t, &shape, &arr) != LMG_OK) {
                rc = cli_fail_file("run", feeds[i].file);
                break;
            }
            if (t != val->dtype || !lmg_shape_equal(&shape, &val->shape)) {
                rc = fail_msg(feeds[i].file, "%s%s, but %s '%s' is %s%s", lmg_dtype_name(t),
                              lmg_shape_str(&shape, sh2, sizeof sh2),
                              val->kind == LMG_VALUE_INPUT ? "input" : "initializer", val->name,
                              lmg_dtype_name(val->dtype), lmg_shape_str(&val->shape, sh, sizeof sh));
                free(arr);
                break;
            }
            data = arr;
            n = value_bytes(val);
        } else if (cli_read_file(feeds[i].file, &data, &n) != LMG_OK) {
            rc = cli_fail_file("run", feeds[i].file);
            break;
        }
        if (n != value_bytes(val))
            rc = fail_msg(feeds[i].file, "%zu bytes, but %s '%s' (%s%s) needs exactly %zu", n,
                          val->kind == LMG_VALUE_INPUT ? "input" : "initializer", val->name,
                          lmg_dtype_name(val->dtype), lmg_shape_str(&val->shape, sh, sizeof sh),
                          value_bytes(val));
        else if (be->write(e, v, data, n) != LMG_OK)
            rc = cli_fail_file("run", graph_path);
        free(data);
    }
    if (rc == 0 && be->run(e, (uint64_t)step) != LMG_OK) rc = cli_fail_file("run", graph_path);
    /* One archive of every output: npz or safetensors (the writer borrows the buffers). */
    lmg_npz *npz = NULL;
    lmg_st_writer *stw = NULL;
    void **keep = NULL;
    int archive = save && (ends_with(save, ".npz") || ends_with(save, ".safetensors"));
    if (rc == 0 && archive) {
        if (ends_with(save, ".npz")) npz = lmg_npz_new();
        else stw = lmg_st_writer_new();
        keep = calloc((size_t)n_outs + 1, sizeof *keep);
        if ((!npz && !stw) || !keep) rc = fail_msg(save, "out of memory");
    }
    if (rc == 0 && save && !archive && mkdir(save, 0777) != 0 && errno != EEXIST)
        rc = fail_msg(save, "cannot create the directory: %s", strerror(errno));
    for (int i = 0; rc == 0 && i < n_outs; i++) {
        const lmg_value *val = &g->values[out_ids[i]];
        size_t n = value_bytes(val);
        free(buf);
        buf = malloc(n ? n : 1);
        if (!buf) {
            rc = fail_msg(graph_path, "out of memory");
            break;
        }
        if (be->read(e, out_ids[i], buf, n) != LMG_OK) {
            rc = cli_fail_file("run", graph_path);
            break;
        }
        if (!save) {
            print_value(val, buf);
            continue;
        }
        if (archive) {
            lmg_status st = npz ? lmg_npz_add(npz, val->name, val->dtype, &val->shape, buf)
                                : lmg_st_writer_add(stw, val->name, val->dtype, &val->shape, buf);
            if (st != LMG_OK) rc = cli_fail_file("run", save);
            keep[i] = buf; /* the safetensors writer borrows it until commit */
            buf = NULL;
            continue;
        }
        char *path = save_path(save, val->name);
        if (!path) {
            rc = fail_msg(save, "out of memory");
        } else if (cli_write_file(path, buf, n) != LMG_OK) {
            rc = cli_fail_file("run", path);
        } else {
            printf("%s -> %s (%zu bytes)\n", val->name, path, n);
        }
        free(path);
    }
    if (rc == 0 && archive) {
        lmg_status st = npz ? lmg_npz_commit(npz, save) : lmg_st_writer_commit(stw, save);
        if (st != LMG_OK) rc = cli_fail_file("run", save);
        else printf("%d outputs -> %s\n", n_outs, save);
    }
    lmg_npz_free(npz);
    lmg_st_writer_free(stw);
    for (int i = 0; keep && i < n_outs; i++) free(keep[i]);
    free(keep);
    if (e) be->free(e);
    lmg_graph_free(g);
    free(buf);
    free(out_ids);
    for (int i = 0; i < n_feeds; i++) {
        free(feeds[i].name);
        free(feeds[i].file);
    }
    free(feeds);
    free(outs);
    return rc < 0 ? 0 : rc;
}
