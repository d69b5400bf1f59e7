/* svg.c — the loss plot of a run: train and val loss, and each logged loss/... term per split,
 * against step as a standalone SVG with axes, "nice" ticks, grid lines and a legend. */
#include "train.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)w < b->cap - b->n) {
            b->n += (size_t)w;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)w + 1;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

/* A step of 1, 2 or 5 times a power of ten giving about `want` intervals over `span`. */
static double nice_step(double span, int want)
{
    if (!(span > 0)) return 1.0;
    double raw = span / want, p = pow(10.0, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * p;
}

static void fmt_num(char *buf, size_t n, double v, double step)
{
    if (fabs(v) < step * 1e-6) v = 0.0;
    int dec = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) >= 1e5) snprintf(buf, n, "%.0fk", v / 1000.0);
    else snprintf(buf, n, "%.*f", dec, v);
}

lmg_status lmg_loss_svg(const char *metrics_path, const char *path, const char *title)
{
    int64_t *ts = NULL, *vs = NULL;
    double *tl = NULL, *vl = NULL;
    size_t nt = 0, nv = 0;
    LMG_TRY(lmg_metrics_read(metrics_path, "train", &ts, &tl, &nt));
    lmg_status s = lmg_metrics_read(metrics_path, "val", &vs, &vl, &nv);
    if (s != LMG_OK) {
        free(ts), free(tl);
        return s;
    }
    /* Logged terms (loss/...), drawn thin beside the loss: dashed for the training steps,
     * dotted through the validations, one colour per term. */
    enum { MAX_SERIES = 6 };
    char tn[MAX_SERIES][64];
    int n_terms = 0;
    int64_t *xs_t[MAX_SERIES] = {0}, *xs_v[MAX_SERIES] = {0};
    double *ys_t[MAX_SERIES] = {0}, *ys_v[MAX_SERIES] = {0};
    size_t ns_t[MAX_SERIES] = {0}, ns_v[MAX_SERIES] = {0};
    if (lmg_metrics_terms(metrics_path, tn, MAX_SERIES, &n_terms) != LMG_OK) n_terms = 0;
    int n_rows = 0; /* legend rows of terms */
    for (int k = 0; k < n_terms; k++) {
        if (lmg_metrics_read_key(metrics_path, "train", tn[k], &xs_t[k], &ys_t[k], &ns_t[k]) !=
            LMG_OK)
            ns_t[k] = 0;
        if (lmg_metrics_read_key(metrics_path, "val", tn[k], &xs_v[k], &ys_v[k], &ns_v[k]) !=
            LMG_OK)
            ns_v[k] = 0;
        n_rows += 1 + (ns_v[k] > 0);
    }
    lmg_error_clear();
    const double W = 720, H = 440, L = 70, R = 20, T = 40, B = 55;
    double pw = W - L - R, ph = H - T - B;
    double x0 = 0, x1 = 1, y0 = INFINITY, y1 = -INFINITY;
    for (size_t i = 0; i < nt; i++) {
        x1 = fmax(x1, (double)ts[i]);
        if (isfinite(tl[i])) y0 = fmin(y0, tl[i]), y1 = fmax(y1, tl[i]);
    }
    for (size_t i = 0; i < nv; i++) {
        x1 = fmax(x1, (double)vs[i]);
        if (isfinite(vl[i])) y0 = fmin(y0, vl[i]), y1 = fmax(y1, vl[i]);
    }
    for (int k = 0; k < n_terms; k++) {
        for (size_t i = 0; i < ns_t[k]; i++)
            if (isfinite(ys_t[k][i])) y0 = fmin(y0, ys_t[k][i]), y1 = fmax(y1, ys_t[k][i]);
        for (size_t i = 0; i < ns_v[k]; i++)
            if (isfinite(ys_v[k][i])) y0 = fmin(y0, ys_v[k][i]), y1 = fmax(y1, ys_v[k][i]);
    }
    if (!(y0 <= y1)) y0 = 0, y1 = 1;
    if (y1 - y0 < 1e-6) y0 -= 0.5, y1 += 0.5;
    double xs = nice_step(x1 - x0, 8), ys = nice_step(y1 - y0, 6);
    y0 = floor(y0 / ys) * ys;
    y1 = ceil(y1 / ys) * ys;
    x1 = ceil(x1 / xs) * xs;
#define PX(x) (L + ((x) - x0) / (x1 - x0) * pw)
#define PY(y) (T + (1.0 - ((y) - y0) / (y1 - y0)) * ph)
    sbuf b = {malloc(65536), 0, 65536, 0};
    if (!b.p) b.oom = 1;
    put(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
        W, H, W, H);
    put(&b, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    put(&b, "<text x=\"%.0f\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">", W / 2);
    for (const char *c = title ? title : "loss"; *c; c++) {
        if (*c == '<') put(&b, "&lt;");
        else if (*c == '&') put(&b, "&amp;");
        else if (*c == '>') put(&b, "&gt;");
        else put(&b, "%c", *c);
    }
    put(&b, "</text>\n");
    char num[32];
    /* grid and ticks */
    for (double y = y0; y <= y1 + ys * 1e-6; y += ys) {
        fmt_num(num, sizeof num, y, ys);
        put(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", L,
            PY(y), L + pw, PY(y));
        put(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
            L - 5, PY(y), L, PY(y));
        put(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", L - 8, PY(y) + 4,
            num);
    }
    for (double x = x0; x <= x1 + xs * 1e-6; x += xs) {
        fmt_num(num, sizeof num, x, xs);
        put(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n",
            PX(x), T, PX(x), T + ph);
        put(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
            PX(x), T + ph, PX(x), T + ph + 5);
        put(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", PX(x),
            T + ph + 19, num);
    }
    /* axes and labels */
    put(&b, "<path d=\"M%.1f %.1f V%.1f H%.1f\" fill=\"none\" stroke=\"black\"/>\n", L, T,
        T + ph, L + pw);
    put(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">step</text>\n", L + pw / 2,
        H - 12);
    put(&b, "<text x=\"16\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 16 %.1f)\">"
            "loss (nats/token)</text>\n",
        T + ph / 2, T + ph / 2);
    /* series */
    if (nt > 0) {
        put(&b, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.2\" points=\"");
        for (size_t i = 0; i < nt; i++)
            if (isfinite(tl[i])) put(&b, "%.1f,%.1f ", PX((double)ts[i]), PY(tl[i]));
        put(&b, "\"/>\n");
    }
    if (nv > 0) {
        put(&b, "<polyline fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" points=\"");
        for (size_t i = 0; i < nv; i++)
            if (isfinite(vl[i])) put(&b, "%.1f,%.1f ", PX((double)vs[i]), PY(vl[i]));
        put(&b, "\"/>\n");
        for (size_t i = 0; i < nv; i++)
            if (isfinite(vl[i]))
                put(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#d62728\"/>\n",
                    PX((double)vs[i]), PY(vl[i]));
    }
    static const char *const term_color[MAX_SERIES] = {"#2ca02c", "#9467bd", "#ff7f0e",
                                                       "#8c564b", "#e377c2", "#17becf"};
    static const char *const dash[2] = {"4 2", "1.5 2.5"}; /* train, val */
    for (int k = 0; k < n_terms; k++)
        for (int split = 0; split < 2; split++) {
            size_t ns = split ? ns_v[k] : ns_t[k];
            const int64_t *xs_k = split ? xs_v[k] : xs_t[k];
            const double *ys_k = split ? ys_v[k] : ys_t[k];
            if (!ns) continue;
            put(&b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" "
                    "stroke-dasharray=\"%s\" points=\"", term_color[k], split ? "1.6" : "1",
                dash[split]);
            for (size_t i = 0; i < ns; i++)
                if (isfinite(ys_k[i])) put(&b, "%.1f,%.1f ", PX((double)xs_k[i]), PY(ys_k[i]));
            put(&b, "\"/>\n");
        }
    /* legend */
    double lx = L + pw - 170, ly = T + 10;
    put(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"160\" height=\"%d\" fill=\"white\" "
            "stroke=\"#999\"/>\n",
        lx, ly, 46 + 19 * n_rows);
    for (int k = 0, row = 0; k < n_terms; k++)
        for (int split = 0; split < 2; split++) {
            if (split && !ns_v[k]) continue;
            double y = ly + 53 + 19 * row++;
            put(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                    "stroke-width=\"2\" stroke-dasharray=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">",
                lx + 10, y, lx + 40, y, term_color[k], dash[split], lx + 48, y + 4);
            for (const char *c = tn[k]; *c; c++) {
                if (*c == '<') put(&b, "&lt;");
                else if (*c == '&') put(&b, "&amp;");
                else if (*c == '>') put(&b, "&gt;");
                else put(&b, "%c", *c);
            }
            put(&b, split ? " (val)</text>\n" : " (train)</text>\n");
        }
    put(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#1f77b4\" "
            "stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\">train</text>\n",
        lx + 10, ly + 15, lx + 40, ly + 15, lx + 48, ly + 19);
    put(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d62728\" "
            "stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\">validation</text>\n",
        lx + 10, ly + 34, lx + 40, ly + 34, lx + 48, ly + 38);
    put(&b, "</svg>\n");
#undef PX
#undef PY
    free(ts), free(tl), free(vs), free(vl);
    for (int k = 0; k < n_terms; k++) free(xs_t[k]), free(ys_t[k]), free(xs_v[k]), free(ys_v[k]);
    if (b.oom) {
        free(b.p);
        return lmg_error(LMG_ERR_NOMEM, "out of memory drawing '%s'", path);
    }
    s = lmg_write_file_atomic(path, b.p, b.n);
    free(b.p);
    return s;
}
