/* cmd_ops.c — `lmg ops`: every op of the registry with its arity, whether it has a gradient,
 * and the exact semantics written beside it in ops/ops.def (embedded at build time), so the
 * listing cannot drift from the registry. */
#include "cli.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int lmg_cmd_ops(int argc, char **argv);

extern const struct {
    const char *name, *text;
} lmg_ops_def_sources[];

static const char *const CMD = "ops";

/* What ops.def says: per op its own comment, and the group notes (standalone comments)
 * in force where it is declared. */
typedef struct {
    char *own[LMG_OP_COUNT];
    int group[LMG_OP_COUNT];
    char *notes[LMG_OP_COUNT + 1];
    int n_notes;
    char *preamble;
} op_text;

/* Append `len` bytes of comment text to *dst, `sep` between lines. */
static void add_text(char **dst, const char *s, size_t len, char sep)
{
    while (len && isspace((unsigned char)*s)) s++, len--;
    while (len && isspace((unsigned char)s[len - 1])) len--;
    if (len && *s == '*' && (len == 1 || s[1] != '/')) s++, len--; /* a " * " line lead */
    while (len && isspace((unsigned char)*s)) s++, len--;
    if (!len) return;
    size_t old = *dst ? strlen(*dst) : 0;
    char *n = realloc(*dst, old + len + 2);
    if (!n) return;
    if (old) n[old++] = sep;
    memcpy(n + old, s, len);
    n[old + len] = 0;
    *dst = n;
}

static void parse_def(const char *text, op_text *t)
{
    memset(t, 0, sizeof *t);
    char **target = &t->preamble;
    int in_comment = 0, after_op = 0, seen_op = 0, comments = 0;
    for (const char *line = text; *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        const char *p = line;
        while (p < line + len && isspace((unsigned char)*p)) p++;
        if (!in_comment && strncmp(p, "LMG_OP(", 7) == 0) {
            const char *close = memchr(p, ')', (size_t)(line + len - p));
            char name[64] = "";
            const char *c1 = memchr(p, ',', (size_t)(line + len - p));
            if (c1) {
                const char *q = c1 + 1;
                while (*q == ' ') q++;
                size_t k = 0;
                while (k < sizeof name - 1 && (isalnum((unsigned char)q[k]) || q[k] == '_'))
                    name[k] = q[k], k++;
                name[k] = 0;
            }
            int op = lmg_op_from_name(name);
            target = op >= 0 ? &t->own[op] : NULL;
            if (op >= 0) t->group[op] = t->n_notes;
            seen_op = after_op = 1;
            p = close ? close + 1 : line + len;
            while (p < line + len && isspace((unsigned char)*p)) p++;
        } else if (!in_comment && strncmp(p, "/*", 2) == 0) {
            /* The file's first comment is its preamble; later ones on their own lines are
             * notes of the ops that follow, a new group after each run of ops. */
            if (seen_op && after_op && t->n_notes < LMG_OP_COUNT) t->n_notes++;
            after_op = 0;
            target = comments++ ? &t->notes[t->n_notes] : &t->preamble;
        }
        /* Take the comment text of this line (which may open, continue or close one). */
        const char *end = line + len;
        while (p < end) {
            if (!in_comment) {
                const char *o = strstr(p, "/*");
                if (!o || o >= end) break;
                p = o + 2;
                in_comment = 1;
            }
            const char *c = strstr(p, "*/");
            const char *stop = c && c < end ? c : end;
            if (target) add_text(target, p, (size_t)(stop - p), target == &t->preamble ? '\n' : ' ');
            if (stop == end) break;
            in_comment = 0;
            p = stop + 2;
        }
        if (!eol) break;
        line = eol + 1;
    }
}

static void op_text_free(op_text *t)
{
    for (int i = 0; i < LMG_OP_COUNT; i++) free(t->own[i]);
    for (int i = 0; i <= t->n_notes && i <= LMG_OP_COUNT; i++) free(t->notes[i]);
    free(t->preamble);
}

/* Print s wrapped at 92 columns, each line indented by `indent` spaces. */
static void wrap(const char *s, int indent)
{
    int col = 0;
    while (s && *s) {
        while (*s == ' ') s++;
        size_t w = strcspn(s, " ");
        if (!w) break;
        if (col && col + 1 + (int)w > 92) {
            putchar('\n');
            col = 0;
        }
        if (!col) col = printf("%*s", indent, "");
        else col += printf(" ");
        col += printf("%.*s", (int)w, s);
        s += w;
    }
    if (col) putchar('\n');
}

/* The expression the kernels of each op of ops/elementwise.def compute, as written there. */
static const char *const ew_expr[LMG_OP_COUNT] = {
#define LMG_EW_UNARY(E, ONNX, ...) [LMG_OP_##E] = "kernel: y = " #__VA_ARGS__,
#define LMG_EW_BINARY(E, ONNX, ...) [LMG_OP_##E] = "kernel: y = " #__VA_ARGS__ " (a, b broadcast)",
#define LMG_EW_BINARY_I32(E, ONNX, ...) \
    [LMG_OP_##E] = "kernel: y = " #__VA_ARGS__ " (a, b broadcast; f32, or i32 wrapping)",
#include "../ops/elementwise.def"
#undef LMG_EW_UNARY
#undef LMG_EW_BINARY
#undef LMG_EW_BINARY_I32
};

static void print_op(const op_text *t, int op)
{
    const lmg_op_info *in = lmg_op_get((lmg_op)op);
    char arity[32];
    if (in->min_in == in->max_in) snprintf(arity, sizeof arity, "%d", in->min_in);
    else snprintf(arity, sizeof arity, "%d..%d", in->min_in, in->max_in);
    printf("%-17s inputs %-6s outputs %d  %s\n", in->name, arity, in->n_out,
           in->grad ? "differentiable" : "not differentiable");
    if (t->own[op]) wrap(t->own[op], 4); /* Exp, Log, ...: the name says it */
    if (ew_expr[op]) wrap(ew_expr[op], 4);
    if (ew_expr[op] && strstr(ew_expr[op], "WIDE(")) wrap("(WIDE: in double in the reference)", 6);
}

int lmg_cmd_ops(int argc, char **argv)
{
    cli_list names = {0};
    int rc;
    cli_opt opts[] = {
        CLI_POS("op name", &names, .flags = CLI_REST),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = CMD,
        .usage = "lmg ops [NAME...]",
        .about = "List every op lmgraph knows: its inputs (required..with optional), outputs,\n"
                 "whether autodiff has a gradient rule for it, and its exact semantics, attributes\n"
                 "and decided edge cases as ops/ops.def states them. With names (any case), only\n"
                 "those ops, each with the notes of its group.",
        .opts = opts,
        .exit_status = "0 listed, 1 an unknown op name, 2 usage error",
    };
    if (!cli_parse(&spec, argc, argv, &rc)) {
        cli_list_free(&names);
        return rc;
    }
    op_text t;
    parse_def(lmg_ops_def_sources[0].text, &t);
    if (names.n == 0) {
        if (t.preamble) printf("%s\n", t.preamble);
        int group = -1;
        for (int op = 0; op < LMG_OP_COUNT; op++) {
            if (t.group[op] != group) {
                group = t.group[op];
                putchar('\n');
                if (t.notes[group]) wrap(t.notes[group], 0);
            }
            print_op(&t, op);
        }
        printf("\n%d ops\n", LMG_OP_COUNT);
    }
    for (int i = 0; i < names.n; i++) {
        int op = -1;
        for (int k = 0; k < LMG_OP_COUNT && op < 0; k++)
            if (strcasecmp(names.v[i], lmg_op_name((lmg_op)k)) == 0) op = k;
        if (op < 0) {
            fprintf(stderr, "lmg ops: no op named '%s' (lmg ops lists them all)\n", names.v[i]);
            rc = 1;
            continue;
        }
        print_op(&t, op);
        if (t.notes[t.group[op]]) {
            printf("  notes of its group:\n");
            wrap(t.notes[t.group[op]], 4);
        }
    }
    op_text_free(&t);
    cli_list_free(&names);
    return rc;
}
