/* metrics.c — the run's metrics.jsonl (one JSON object per line: step, split, loss, lr, ...),
 * its truncation on resume, reading a split back for the plot, and atomic file writes. */
#include "train.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* JSON has no NaN or Infinity: such a field is left out. */
static int put_num(char *buf, size_t n, const char *key, double v)
{
    if (!isfinite(v)) return 0;
    return snprintf(buf, n, ",\"%s\":%.9g", key, v);
}

static int json_plain(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x20 || s[n] == '"' || s[n] == '\\') return 0;
    return n > 0 && n < 100;
}

lmg_status lmg_metrics_append(const char *path, const lmg_metric *m)
{
    char line[4096];
    int len = snprintf(line, sizeof line, "{\"step\":%lld,\"split\":\"%s\"", (long long)m->step,
                       m->split);
    len += put_num(line + len, sizeof line - (size_t)len, "loss", m->loss);
    len += put_num(line + len, sizeof line - (size_t)len, "lr", m->lr);
    len += put_num(line + len, sizeof line - (size_t)len, "grad_norm", m->grad_norm);
    len += put_num(line + len, sizeof line - (size_t)len, "tokens_per_s", m->tokens_per_s);
    len += put_num(line + len, sizeof line - (size_t)len, "elapsed_s", m->elapsed_s);
    if (m->has_cls) {
        len += put_num(line + len, sizeof line - (size_t)len, "accuracy", m->accuracy);
        len += put_num(line + len, sizeof line - (size_t)len, "macro_f1", m->macro_f1);
    }
    /* Term names come from graph outputs ("loss/mlm"): quotes and backslashes cannot be
     * written raw into JSON, so such a term is left out. */
    for (int i = 0; i < m->n_terms && len < (int)sizeof line - 200; i++)
        if (json_plain(m->term_names[i]))
            len += put_num(line + len, sizeof line - (size_t)len, m->term_names[i],
                           m->term_values[i]);
    len += snprintf(line + len, sizeof line - (size_t)len, "}\n");
    FILE *f = fopen(path, "a");
    if (!f) return lmg_error(LMG_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    size_t w = fwrite(line, 1, (size_t)len, f);
    int bad = w != (size_t)len || fflush(f) != 0;
    bad |= fclose(f) != 0;
    if (bad) return lmg_error(LMG_ERR_IO, "writing '%s' failed", path);
    return LMG_OK;
}

/* The number after "key": in a line we wrote; 0 when absent. */
static int json_num(const char *line, const char *key, double *v)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    if (!p) return 0;
    char *end;
    *v = strtod(p + strlen(pat), &end);
    return end != p + strlen(pat);
}

static int json_split_is(const char *line, const char *split)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"split\":\"%s\"", split);
    return strstr(line, pat) != NULL;
}

static lmg_status read_all(const char *path, char **text, size_t *n)
{
    return lmg_read_file(path, text, n);
}

lmg_status lmg_metrics_truncate(const char *path, int64_t max_step)
{
    if (access(path, F_OK) != 0) return LMG_OK;
    char *text;
    size_t n;
    LMG_TRY(read_all(path, &text, &n));
    char *out = malloc(n + 1);
    if (!out) {
        free(text);
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    size_t o = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
        double step;
        /* A line without its newline was cut short by a crash: drop it. */
        if (nl && json_num(line, "step", &step) && step <= (double)max_step) {
            memcpy(out + o, line, len);
            o += len;
        }
        line += len;
    }
    lmg_status s = lmg_write_file_atomic(path, out, o);
    free(out);
    free(text);
    return s;
}

lmg_status lmg_metrics_read(const char *path, const char *split, int64_t **steps,
                            double **losses, size_t *n)
{
    return lmg_metrics_read_key(path, split, "loss", steps, losses, n);
}

lmg_status lmg_metrics_terms(const char *path, char names[][64], int max, int *n)
{
    *n = 0;
    char *text;
    size_t len;
    LMG_TRY(read_all(path, &text, &len));
    /* The terms of the first training line: a run logs the same ones every step. */
    const char *line = strstr(text, "\"split\":\"train\"");
    const char *eol = line ? strchr(line, '\n') : NULL;
    for (const char *p = line; p && *n < max && (p = strstr(p, "\"loss/")) && (!eol || p < eol);) {
        const char *e = strchr(p + 1, '"');
        if (!e || (size_t)(e - p - 1) >= 64) break;
        memcpy(names[*n], p + 1, (size_t)(e - p - 1));
        names[(*n)++][e - p - 1] = 0;
        p = e + 1;
    }
    free(text);
    return LMG_OK;
}

lmg_status lmg_metrics_read_key(const char *path, const char *split, const char *key,
                                int64_t **steps, double **losses, size_t *n)
{
    *steps = NULL;
    *losses = NULL;
    *n = 0;
    char *text;
    size_t len;
    LMG_TRY(read_all(path, &text, &len));
    size_t cap = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        double st, lo;
        if (json_split_is(line, split) && json_num(line, "step", &st) &&
            json_num(line, key, &lo)) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 256;
                int64_t *ns = realloc(*steps, cap * sizeof *ns);
                if (ns) *steps = ns;
                double *nls = realloc(*losses, cap * sizeof *nls);
                if (nls) *losses = nls;
                if (!ns || !nls) {
                    free(*steps), free(*losses), free(text);
                    *steps = NULL, *losses = NULL, *n = 0;
                    return lmg_error(LMG_ERR_NOMEM, "out of memory");
                }
            }
            (*steps)[*n] = (int64_t)st;
            (*losses)[*n] = lo;
            (*n)++;
        }
        if (!nl) break;
        line = nl + 1;
    }
    free(text);
    return LMG_OK;
}
