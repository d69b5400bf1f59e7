/* cli.c — shared helpers of the `lmg` subcommands: errors, flags, numbers, graph loading. */
#include "cli.h"
#include "../train/train.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
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

/* ---- pointing at the line of an objective that breaks the contract ------------------ */

/* Column (1-based) where `name` is declared on `line` (input/param/const/state NAME :, or
 * an output of node ... =), else 0. */
static int declared_at(const char *line, size_t len, const char *name)
{
    size_t nl = strlen(name), i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    static const char *const kw[] = {"input", "param", "const", "state", "node"};
    size_t k = 0, kl = 0;
    for (; k < 5; k++) {
        kl = strlen(kw[k]);
        if (i + kl < len && strncmp(line + i, kw[k], kl) == 0 &&
            (line[i + kl] == ' ' || line[i + kl] == '\t'))
            break;
    }
    if (k == 5) return 0;
    size_t end = len;
    const char *eq = memchr(line, k == 4 ? '=' : ':', len);
    if (eq) end = (size_t)(eq - line);
    for (size_t p = i + kl; p + nl <= end; p++) {
        int before = p == 0 || strchr(" \t,[]", line[p - 1]) != NULL;
        char after = p + nl < len ? line[p + nl] : ' ';
        if (before && strncmp(line + p, name, nl) == 0 && strchr(" \t,:=", after))
            return (int)p + 1;
    }
    return 0;
}

/* "path:line:col" of the first value named in quotes in msg (after " but " first, where a
 * second binding conflicts) that the text-form file declares; 0 when none. */
static int locate(const char *path, const char *msg, char *out, size_t n)
{
    char *text = NULL;
    size_t len = 0;
    if (cli_read_file(path, &text, &len) != LMG_OK) {
        lmg_error_clear();
        return 0;
    }
    int found = 0;
    const char *but = strstr(msg, " but ");
    for (int pass = 0; pass < 2 && !found; pass++) {
        const char *q = pass == 0 && but ? but : msg;
        if (pass == 1 && !but) break;
        while (!found && (q = strchr(q, '\'')) != NULL) {
            const char *e = strchr(q + 1, '\'');
            if (!e) break;
            char name[256];
            size_t nl = (size_t)(e - q - 1);
            q = e + 1;
            if (nl == 0 || nl >= sizeof name) continue;
            memcpy(name, e - nl, nl);
            name[nl] = 0;
            const char *line = text;
            for (int ln = 1; line < text + len && !found; ln++) {
                const char *eol = memchr(line, '\n', (size_t)(text + len - line));
                size_t ll = eol ? (size_t)(eol - line) : (size_t)(text + len - line);
                const char *hash = memchr(line, '#', ll);
                int col = declared_at(line, hash ? (size_t)(hash - line) : ll, name);
                if (col) {
                    snprintf(out, n, "%s:%d:%d", path, ln, col);
                    found = 1;
                }
                line += ll + 1;
            }
        }
        if (!but) break;
    }
    free(text);
    return found;
}

int cli_fail_objective(const char *cmd, const char *path, const char *what)
{
    const char *msg = lmg_last_error();
    char where[4200];
    if (locate(path, msg, where, sizeof where))
        fprintf(stderr, "lmg %s: %s%s%s: %s\n", cmd, what ? what : "", what ? ": " : "", where, msg);
    else
        fprintf(stderr, "lmg %s: %s%s%s: %s\n", cmd, what ? what : "", what ? ": " : "", path,
                msg[0] ? msg : "failed");
    return 1;
}

/* The handler may only call async-signal-safe functions: its line is made at install time. */
static char stop_msg[160];
static size_t stop_msg_len;

static void on_stop_signal(int sig)
{
    if (lmg_train_stop_requested()) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    lmg_train_request_stop(sig);
    ssize_t w = write(2, stop_msg, stop_msg_len);
    (void)w;
}

void cli_trap_stop_signals(const char *cmd)
{
    int n = snprintf(stop_msg, sizeof stop_msg, "\nlmg %s: stopping after this step and writing "
                     "a checkpoint (press Ctrl-C again to quit at once)\n", cmd);
    stop_msg_len = n < 0 ? 0 : (size_t)n < sizeof stop_msg ? (size_t)n : sizeof stop_msg - 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_report_interrupt(const char *cmd, const char *run_dir, long long step)
{
    int sig = lmg_train_stop_requested();
    fprintf(stderr,
            "lmg %s: interrupted by %s at step %lld; checkpoint written to "
            "%s/checkpoint.safetensors\nresume with: lmg %s --resume %s\n",
            cmd, sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "a signal", step, run_dir,
            cmd, run_dir);
    return 128 + sig;
}
