/* cli.c — shared helpers of the `lmg` subcommands: errors, flags, numbers, graph loading. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Paths and names in a command's own words are escaped as the library's messages are: an
 * error stays one line and cannot drive the terminal. */
int cli_fail(const char *cmd, lmg_status s, const char *fmt, ...)
{
    va_list ap;
    char line[1024];
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    lmg_escape_line(line, sizeof line);
    fprintf(stderr, "lmg %s: %s", cmd, line);
    const char *msg = lmg_last_error();
    if (s != LMG_OK && msg[0]) fprintf(stderr, ": %s", msg);
    else if (s != LMG_OK) fprintf(stderr, ": %s", lmg_status_name(s));
    fprintf(stderr, "\n");
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    char line[1024];
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    lmg_escape_line(line, sizeof line);
    fprintf(stderr, "lmg %s: %s\ntry 'lmg %s --help'\n", cmd, line, cmd);
    return 2;
}

int cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

const char *cli_flag(int argc, char **argv, int *i, const char *name, int *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return NULL;
    if (a[n] == '=') return a + n + 1;
    if (a[n] != 0) return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

int cli_parse_int(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cli_parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

lmg_status cli_read_file(const char *path, char **data, size_t *n)
{
    return lmg_read_file(path, data, n);
}

int cli_fail_file(const char *cmd, const char *path)
{
    const char *msg = lmg_last_error();
    char esc[1024];
    snprintf(esc, sizeof esc, "%s", path);
    lmg_escape_line(esc, sizeof esc);
    size_t n = strlen(esc);
    if (strncmp(msg, esc, n) == 0 && msg[n] == ':') fprintf(stderr, "lmg %s: %s\n", cmd, msg);
    else fprintf(stderr, "lmg %s: %s: %s\n", cmd, esc, msg[0] ? msg : "failed");
    return 1;
}

lmg_status cli_write_file(const char *path, const void *data, size_t n)
{
    return lmg_write_file_atomic(path, data, n);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

lmg_status cli_parse_text(const char *text, size_t n, const char *path, lmg_graph **out)
{
    /* The parser stops at a NUL; without this check a stray one reads as the end of the
     * file, and the error points at whatever construct it cut short. */
    size_t len = strlen(text);
    if (len != n) {
        *out = NULL;
        return lmg_error(LMG_ERR_PARSE, "%s: byte %zu is NUL; a text graph holds none", path, len);
    }
    return lmg_graph_parse(text, path, out);
}

/* Text when the name ends in .lmgt, or, for a name not ending in .pb, when the file starts
 * with the "lmgraph" header (after blank and # comment lines) and holds no NUL byte. */
lmg_status cli_load_graph(const char *path, lmg_graph **out)
{
    if (ends_with(path, ".pb")) return lmg_graph_load(path, out);
    char *data = NULL;
    size_t n = 0;
    LMG_TRY(cli_read_file(path, &data, &n));
    const char *p = data;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (*p != '#') break;
        while (*p && *p != '\n') p++;
    }
    int text = ends_with(path, ".lmgt") || (strncmp(p, "lmgraph", 7) == 0 && strlen(data) == n);
    lmg_status s = text ? cli_parse_text(data, n, path, out) : LMG_OK;
    free(data);
    return text ? s : lmg_graph_load(path, out);
}

const lmg_backend *cli_backend(const char *name)
{
    return lmg_backend_find(name ? name : "opencl");
}
