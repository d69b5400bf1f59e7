/* dot.c — a Graphviz picture of a graph: ops as boxes, values as labelled edges, inputs,
 * parameters, constants and state as distinct shapes, gradients and optimizer in colour. */
#include "sbuf.h"
#include "graph.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Text inside a DOT "..." string: quotes and backslashes escaped, control characters
 * shown as spaces (a label's own line breaks are the "\n" the caller writes). */
static void sb_esc(lmg_sbuf *b, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            lmg_sbuf_put(b, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            lmg_sbuf_put(b, " ", 1);
        } else {
            lmg_sbuf_put(b, s, 1);
        }
    }
}

static void sb_type(lmg_sbuf *b, const lmg_value *v)
{
    char sh[160];
    lmg_sbuf_printf(b, "%s%s", lmg_dtype_name(v->dtype), lmg_shape_str(&v->shape, sh, sizeof sh));
}

/* Palette, shared with the legend so the two never disagree. */
#define C_INPUT "#cfe2ff"
#define C_PARAM "#c7f0c2"
#define C_CONST "#e6e6e6"
#define C_STATE "#fff1b3"
#define C_OP "#f7f7f7"
#define C_GRAD "#ffd3b0"
#define C_OPT "#e3d0ff"
#define C_OUTPUT "#ffffff"
#define E_GRAD "#d9480f"
#define E_PLAIN "#444444"

static int is_grad_name(const char *s) { return strncmp(s, "grad/", 5) == 0; }

static void source_style(lmg_sbuf *b, const lmg_value *v)
{
    if (v->kind == LMG_VALUE_INPUT)
        lmg_sbuf_printf(b, "shape=ellipse, style=filled, fillcolor=\"%s\"", C_INPUT);
    else if (v->trainable)
        lmg_sbuf_printf(b, "shape=box3d, style=filled, fillcolor=\"%s\"", C_PARAM);
    else if (v->fill == LMG_INIT_ZEROS)
        lmg_sbuf_printf(b, "shape=cylinder, style=filled, fillcolor=\"%s\"", C_STATE);
    else
        lmg_sbuf_printf(b, "shape=note, style=filled, fillcolor=\"%s\"", C_CONST);
}

static const char *source_kind(const lmg_value *v)
{
    if (v->kind == LMG_VALUE_INPUT) return "input";
    if (v->trainable) return "param";
    if (v->fill == LMG_INIT_ZEROS) return "state";
    return "const";
}

/* One table-shaped node, so the legend does not stretch along the graph's ranks. */
static void legend(lmg_sbuf *b)
{
    static const struct {
        const char *colour, *what;
    } rows[] = {
        {C_INPUT, "input (ellipse)"},       {C_PARAM, "parameter (box)"},
        {C_CONST, "constant (note)"},       {C_STATE, "state, zeros (cylinder)"},
        {C_OP, "op: name, node"},           {C_GRAD, "gradient op (grad/ value)"},
        {C_OPT, "optimizer op (in place)"}, {C_OUTPUT, "graph output (octagon)"},
    };
    lmg_sbuf_printf(b, "  legend [shape=plaintext, fontsize=9, label=<<table border=\"0\" "
                 "cellborder=\"1\" cellspacing=\"0\" cellpadding=\"3\">"
                 "<tr><td><b>legend</b></td></tr>");
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        lmg_sbuf_printf(b, "<tr><td bgcolor=\"%s\">%s</td></tr>", rows[i].colour, rows[i].what);
    lmg_sbuf_printf(b, "<tr><td><font color=\"%s\">gradient edge</font></td></tr></table>>];\n", E_GRAD);
}

lmg_status lmg_graph_dot(const lmg_graph *g, char **text)
{
    if (!g || !text) return lmg_error(LMG_ERR_ARG, "dot: bad arguments");
    lmg_sbuf b = {0};
    /* Which values are consumed or are graph outputs, to skip dangling ones. */
    unsigned char *used = calloc((size_t)(g->n_values > 0 ? g->n_values : 1), 1);
    int *producer = malloc((size_t)(g->n_values > 0 ? g->n_values : 1) * sizeof *producer);
    if (!used || !producer) {
        free(used);
        free(producer);
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    for (int v = 0; v < g->n_values; v++) producer[v] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && n->in[k] < g->n_values) used[n->in[k]] = 1;
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0 && n->out[k] < g->n_values && producer[n->out[k]] < 0)
                producer[n->out[k]] = i;
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] >= 0 && g->outputs[i] < g->n_values) used[g->outputs[i]] = 1;

    lmg_sbuf_printf(&b, "digraph \"");
    sb_esc(&b, g->name);
    lmg_sbuf_printf(&b, "\" {\n  rankdir=TB; labelloc=t; fontname=\"Helvetica\"; label=\"");
    sb_esc(&b, g->name);
    lmg_sbuf_printf(&b, " (%d nodes)\";\n", g->n_nodes);
    lmg_sbuf_printf(&b, "  node [fontname=\"Helvetica\", fontsize=10];\n");
    lmg_sbuf_printf(&b, "  edge [fontname=\"Helvetica\", fontsize=8, color=\"%s\"];\n", E_PLAIN);

    /* Sources: inputs and initializers that something uses. */
    for (int v = 0; v < g->n_values; v++) {
        const lmg_value *val = &g->values[v];
        if (val->kind == LMG_VALUE_NODE || !used[v]) continue;
        lmg_sbuf_printf(&b, "  v%d [label=\"", v);
        sb_esc(&b, val->name);
        lmg_sbuf_printf(&b, "\\n%s ", source_kind(val));
        sb_type(&b, val);
        lmg_sbuf_printf(&b, "\", ");
        source_style(&b, val);
        lmg_sbuf_printf(&b, "];\n");
    }
    /* Ops. */
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        int grad = 0;
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0 && n->out[k] < g->n_values && is_grad_name(g->values[n->out[k]].name))
                grad = 1;
        int opt = 0;
        for (int k = 0; k < n->n_out; k++) opt |= lmg_op_alias(n->op, k) >= 0;
        lmg_sbuf_printf(&b, "  n%d [label=\"%s\\n", i, lmg_op_name(n->op));
        sb_esc(&b, n->name);
        lmg_sbuf_printf(&b, "\", shape=box, style=\"rounded,filled\", fillcolor=\"%s\"];\n",
                  opt ? C_OPT : grad ? C_GRAD : C_OP);
    }
    /* Values as edges from their producer (or source vertex) to each consumer. */
    for (int i = 0; i < g->n_nodes; i++) {
        const lmg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v < 0 || v >= g->n_values) continue;
            const lmg_value *val = &g->values[v];
            if (val->kind != LMG_VALUE_NODE) {
                lmg_sbuf_printf(&b, "  v%d -> n%d;\n", v, i);
                continue;
            }
            if (producer[v] < 0) continue;
            lmg_sbuf_printf(&b, "  n%d -> n%d [label=\"", producer[v], i);
            sb_esc(&b, val->name);
            lmg_sbuf_printf(&b, "\\n");
            sb_type(&b, val);
            lmg_sbuf_printf(&b, "\"%s];\n", is_grad_name(val->name) ? ", color=\"" E_GRAD "\", fontcolor=\"" E_GRAD "\"" : "");
        }
    }
    /* Graph outputs as sinks. */
    for (int i = 0; i < g->n_outputs; i++) {
        int v = g->outputs[i];
        if (v < 0 || v >= g->n_values) continue;
        const lmg_value *val = &g->values[v];
        lmg_sbuf_printf(&b, "  out%d [label=\"", i);
        sb_esc(&b, val->name);
        lmg_sbuf_printf(&b, "\", shape=doubleoctagon, style=filled, fillcolor=\"%s\"];\n", C_OUTPUT);
        int grad = is_grad_name(val->name);
        const char *gc = grad ? ", color=\"" E_GRAD "\", fontcolor=\"" E_GRAD "\"" : "";
        if (val->kind != LMG_VALUE_NODE) {
            lmg_sbuf_printf(&b, "  v%d -> out%d%s;\n", v, i, grad ? " [color=\"" E_GRAD "\"]" : "");
        } else if (producer[v] >= 0) {
            lmg_sbuf_printf(&b, "  n%d -> out%d [label=\"", producer[v], i);
            sb_type(&b, val);
            lmg_sbuf_printf(&b, "\"%s];\n", gc);
        }
    }
    legend(&b);
    lmg_sbuf_printf(&b, "}\n");
    free(used);
    free(producer);
    if (b.oom) {
        free(b.s);
        return lmg_error(LMG_ERR_NOMEM, "out of memory drawing graph '%s'", g->name);
    }
    *text = b.s;
    return LMG_OK;
}
