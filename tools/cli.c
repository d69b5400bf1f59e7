/* cli.c — shared helpers of the `lmg` subcommands: errors, option tables (parsing and
 * --help from one table), numbers, graph loading, stop signals. */
#include "cli.h"
#include "../train/train.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
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
    fprintf(stderr, "lmg %s: %s (see lmg %s --help)\n", cmd, line, cmd);
    return 2;
}

int cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
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

/* ---- option tables ------------------------------------------------------------------ */

#define HELP_MAX_LEFT 24 /* a longer option column puts its help on the next line */

void cli_list_free(cli_list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static int list_push(cli_list *l, const char *v)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 8;
        const char **nv = realloc(l->v, (size_t)cap * sizeof *nv);
        if (!nv) return -1;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return 0;
}

static int is_option(const cli_opt *o)
{
    return o->kind != CLI_END && o->kind != CLI_SECTION && o->kind != CLI_POS;
}

/* The option whose name or alias is the n bytes at s. */
static cli_opt *find_opt(cli_opt *opts, const char *s, size_t n)
{
    for (cli_opt *o = opts; o->kind != CLI_END; o++) {
        if (!is_option(o)) continue;
        if (strlen(o->name) == n && strncmp(o->name, s, n) == 0) return o;
        if (o->alias && strlen(o->alias) == n && strncmp(o->alias, s, n) == 0) return o;
    }
    return NULL;
}

/* "gpt, bert or both" from "gpt|bert|both"; 1 when v is one of the words. */
static int choice_words(const char *words, const char *v, char *out, size_t n)
{
    int found = 0, count = 0;
    const char *p = words;
    for (const char *q = p; *q; q++) count += *q == '|';
    size_t len = 0;
    out[0] = 0;
    for (int k = 0; k <= count; k++) {
        const char *e = strchr(p, '|');
        size_t w = e ? (size_t)(e - p) : strlen(p);
        if (v && strlen(v) == w && strncmp(v, p, w) == 0) found = 1;
        if (len < n)
            len += (size_t)snprintf(out + len, n - len, "%s%.*s",
                                    k == 0 ? "" : k == count ? " or " : ", ", (int)w, p);
        p += w + 1;
    }
    return found;
}

/* Store `v` (the value of option `o`, typed as `flag`) by o->kind; 0 or an exit code. */
static int set_value(const char *cmd, cli_opt *o, const char *flag, const char *v)
{
    char words[256];
    switch (o->kind) {
    case CLI_STR: *(const char **)o->dst = v; return 0;
    case CLI_LIST:
        if (list_push(o->dst, v) != 0) return cli_fail(cmd, LMG_ERR_NOMEM, "out of memory");
        return 0;
    case CLI_CALL: return o->fn(cmd, o, v);
    case CLI_CHOICE:
        if (!choice_words(o->choices, v, words, sizeof words))
            return cli_usage_error(cmd, "%s wants %s, not '%s'", flag, words, v);
        *(const char **)o->dst = v;
        return 0;
    case CLI_INT: {
        long long lo = (long long)o->lo, hi = o->hi >= 9.2e18 ? LLONG_MAX : (long long)o->hi;
        if (cli_parse_int(v, lo, hi, o->dst) == 0) return 0;
        if (hi == LLONG_MAX) return cli_usage_error(cmd, "%s wants an integer >= %lld, not '%s'", flag, lo, v);
        return cli_usage_error(cmd, "%s wants an integer in %lld..%lld, not '%s'", flag, lo, hi, v);
    }
    case CLI_DOUBLE: {
        double x;
        int lo_open = (o->flags & CLI_LO_OPEN) != 0, hi_open = (o->flags & CLI_HI_OPEN) != 0;
        if (cli_parse_double(v, &x) == 0 && (lo_open ? x > o->lo : x >= o->lo) &&
            (hi_open ? x < o->hi : x <= o->hi)) {
            *(double *)o->dst = x;
            return 0;
        }
        if (isinf(o->hi))
            return cli_usage_error(cmd, "%s wants a number %s %g, not '%s'", flag,
                                   lo_open ? ">" : ">=", o->lo, v);
        return cli_usage_error(cmd, "%s wants a number in %c%g, %g%c, not '%s'", flag,
                               lo_open ? '(' : '[', o->lo, o->hi, hi_open ? ')' : ']', v);
    }
    default: return 0;
    }
}

/* A positional argument into the next CLI_POS slot; 0 or an exit code. */
static int set_positional(const cli_spec *spec, int *slot, const char *a)
{
    cli_opt *o = spec->opts;
    int k = 0;
    for (; o->kind != CLI_END; o++) {
        if (o->kind != CLI_POS) continue;
        if (o->flags & CLI_REST) break;
        if (k++ == *slot) break;
    }
    if (o->kind == CLI_END) return cli_usage_error(spec->cmd, "unexpected argument '%s'", a);
    o->given++;
    if (o->flags & CLI_REST) {
        if (list_push(o->dst, a) != 0) return cli_fail(spec->cmd, LMG_ERR_NOMEM, "out of memory");
        return 0;
    }
    *(const char **)o->dst = a;
    (*slot)++;
    return 0;
}

/* "-5" is a positional (a token id, say): no option starts with a digit. */
static int looks_positional(const char *a)
{
    return a[0] != '-' || a[1] == 0 || isdigit((unsigned char)a[1]) || (a[1] == '.' && isdigit((unsigned char)a[2]));
}

int cli_parse(cli_spec *spec, int argc, char **argv, int *rc)
{
    *rc = 0;
    for (cli_opt *o = spec->opts; o->kind != CLI_END; o++) o->given = 0;
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (cli_is_help(argv[i])) {
            cli_help(spec, stdout);
            return 0;
        }
    int slot = 0, only_positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_positional && strcmp(a, "--") == 0) {
            only_positional = 1;
            continue;
        }
        if (only_positional || looks_positional(a)) {
            if ((*rc = set_positional(spec, &slot, a)) != 0) return 0;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
        cli_opt *o = find_opt(spec->opts, a, n);
        char flag[128];
        snprintf(flag, sizeof flag, "%.*s", (int)(n < 100 ? n : 100), a);
        if (!o) {
            char esc[160];
            snprintf(esc, sizeof esc, "%s", flag);
            lmg_escape_line(esc, sizeof esc);
            fprintf(stderr, "lmg %s: unknown option '%s' (lmg %s --help lists them)\n", spec->cmd,
                    esc, spec->cmd);
            *rc = 2;
            return 0;
        }
        o->given++;
        if (o->kind == CLI_FLAG) {
            if (eq) {
                *rc = cli_usage_error(spec->cmd, "%s takes no value, not '%s'", flag, eq + 1);
                return 0;
            }
            *(int *)o->dst = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (!v) {
            *rc = cli_usage_error(spec->cmd, "%s needs a value", flag);
            return 0;
        }
        if ((*rc = set_value(spec->cmd, o, flag, v)) != 0) return 0;
    }
    /* What is missing, positionals first: "no graph file given" before "-o is required". */
    for (int pass = 0; pass < 2; pass++)
        for (cli_opt *o = spec->opts; o->kind != CLI_END; o++) {
            if (!(o->flags & CLI_REQUIRED) || o->given || (o->kind == CLI_POS) != (pass == 0)) continue;
            if (o->kind == CLI_POS) *rc = cli_usage_error(spec->cmd, "no %s given", o->arg);
            else *rc = cli_usage_error(spec->cmd, "%s %s is required", o->name, o->arg ? o->arg : "");
            return 0;
        }
    return 1;
}

int cli_given(const cli_spec *spec, const char *name)
{
    const cli_opt *o = find_opt(spec->opts, name, strlen(name));
    return o ? o->given : 0;
}

int cli_given_group(const cli_spec *spec, unsigned group)
{
    int n = 0;
    for (const cli_opt *o = spec->opts; o->kind != CLI_END; o++)
        if (is_option(o) && (o->flags & group)) n += o->given;
    return n;
}

int cli_exclusive(const cli_spec *spec, ...)
{
    va_list ap;
    const char *first = NULL, *name;
    va_start(ap, spec);
    while ((name = va_arg(ap, const char *)) != NULL) {
        if (!cli_given(spec, name)) continue;
        if (first) {
            va_end(ap);
            return cli_usage_error(spec->cmd, "%s and %s exclude each other", first, name);
        }
        first = name;
    }
    va_end(ap);
    return 0;
}

/* "  -o, --output PATH" / "  --graph FILE, --model-graph FILE" into buf; its length. */
static int opt_left(const cli_opt *o, char *buf, size_t n)
{
    const char *m = o->arg ? o->arg : o->choices;
    const char *arg = m ? m : "", *sp = m ? " " : "";
    const char *a = o->name, *b = o->alias;
    if (b && b[1] != '-' && a[1] == '-') a = o->alias, b = o->name; /* the short one first */
    if (!b) return snprintf(buf, n, "  %s%s%s", a, sp, arg);
    if (a[1] != '-') return snprintf(buf, n, "  %s, %s%s%s", a, b, sp, arg);
    return snprintf(buf, n, "  %s%s%s, %s%s%s", a, sp, arg, b, sp, arg);
}

/* Lines of `text` after the first indented by `col` spaces; `tail` ends the last one. */
static void put_indented(FILE *f, const char *text, int col, const char *tail)
{
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (p != text) fprintf(f, "%*s", col, "");
        fprintf(f, "%.*s%s\n", (int)len, p, e && e[1] ? "" : tail);
        p += len + (e != NULL);
    }
}

void cli_help(const cli_spec *spec, FILE *f)
{
    char left[256];
    int width = 12;
    for (const cli_opt *o = spec->opts; o->kind != CLI_END; o++) {
        if (!is_option(o)) continue;
        int w = opt_left(o, left, sizeof left);
        if (w <= HELP_MAX_LEFT + 2 && w > width) width = w;
    }
    int col = width + 3;
    fputs("usage: ", f);
    put_indented(f, spec->usage, 7, "");
    if (spec->about) {
        fputc('\n', f);
        put_indented(f, spec->about, 0, "");
    }
    int sections = 0;
    for (const cli_opt *o = spec->opts; o->kind != CLI_END; o++) {
        if (o->kind == CLI_SECTION) {
            fprintf(f, "\n%s:\n", o->help);
            sections++;
            continue;
        }
        if (!is_option(o)) continue;
        if (!sections++) fputs("\noptions:\n", f);
        int w = opt_left(o, left, sizeof left);
        if (w > width) fprintf(f, "%s\n%*s", left, col, "");
        else fprintf(f, "%-*s", col, left);
        put_indented(f, o->help ? o->help : "", col, o->flags & CLI_REQUIRED ? " (required)" : "");
    }
    if (!sections) fputs("\noptions:\n", f);
    fprintf(f, "%-*s%s\n", col, "  -h, --help", "show this help");
    if (spec->epilog) {
        fputc('\n', f);
        put_indented(f, spec->epilog, 0, "");
    }
    fputs("\nexit status: ", f);
    put_indented(f, spec->exit_status ? spec->exit_status : "0 ok, 1 failure, 2 usage error", 0, "");
}

static void dispatch_help(const char *cmd, const char *what, const cli_action *actions, int n,
                          const char *exit_status, FILE *f)
{
    int width = 0;
    for (int k = 0; k < n; k++) {
        fputs(k ? "       " : "usage: ", f);
        put_indented(f, actions[k].usage, 7, "");
        int w = (int)strlen(actions[k].name);
        if (w > width) width = w;
    }
    fprintf(f, "\n%ss:\n", what);
    for (int k = 0; k < n; k++) {
        fprintf(f, "  %-*s  ", width, actions[k].name);
        put_indented(f, actions[k].summary, width + 4, "");
    }
    fprintf(f, "\nlmg %s <%s> --help shows the options of each.\n", cmd, what);
    fputs("\nexit status: ", f);
    put_indented(f, exit_status, 0, "");
}

int cli_dispatch(const char *cmd, const char *what, const cli_action *actions, int n,
                 const char *exit_status, int argc, char **argv)
{
    char names[256];
    size_t len = 0;
    names[0] = 0;
    for (int k = 0; k < n && len < sizeof names; k++)
        len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", k ? ", " : "", actions[k].name);
    if (argc >= 2 && cli_is_help(argv[1])) {
        if (n == 1) {
            char *help[] = {(char *)actions[0].name, argv[1], NULL};
            return actions[0].fn(2, help);
        }
        dispatch_help(cmd, what, actions, n, exit_status, stdout);
        return 0;
    }
    if (argc < 2) return cli_usage_error(cmd, "no %s given (%s)", what, names);
    for (int k = 0; k < n; k++)
        if (strcmp(argv[1], actions[k].name) == 0) return actions[k].fn(argc - 1, argv + 1);
    return cli_usage_error(cmd, "unknown %s '%s' (%s)", what, argv[1], names);
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
