/* names.c — the nearest name to a mistyped one, for "did you mean" in error messages: an
 * edit distance and its use over a graph's values. */
#include "graph.h"

#include <string.h>

int lmg_name_distance(const char *a, const char *b, int fold_case)
{
    int la = (int)strnlen(a, 63), lb = (int)strnlen(b, 63), row[64];
    for (int j = 0; j <= lb; j++) row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            char x = a[i - 1], y = b[j - 1];
            if (fold_case && x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
            if (fold_case && y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
            int up = row[j], best = diag + (x != y);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

int lmg_name_close(const char *typed, int distance)
{
    int len = (int)strlen(typed);
    return distance <= (len < 6 ? 1 : len / 3);
}

const char *lmg_graph_nearest_value(const lmg_graph *g, const char *name)
{
    const char *best = NULL;
    int bd = 1 << 30;
    for (int v = 0; v < g->n_values; v++) {
        const lmg_value *val = &g->values[v];
        /* Only names something defines: an input, an initializer or a node's output. */
        if (val->kind == LMG_VALUE_NODE && val->producer < 0) continue;
        if (strcmp(val->name, name) == 0) continue;
        int d = lmg_name_distance(name, val->name, 0);
        if (d < bd) bd = d, best = val->name;
    }
    return best && lmg_name_close(name, bd) ? best : NULL;
}
