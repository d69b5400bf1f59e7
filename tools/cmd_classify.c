/* cmd_classify.c — `lmg classify`: the label of texts (given with --text, or one per line on
 * stdin) by a classifier run made with lmg finetune, with its probability. */
#include "cli.h"
#include "../train/classify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lmg_cmd_classify(int argc, char **argv);

static const char *const CMD = "classify";

typedef struct texts {
    char **v;
    int n, cap;
} texts;

static int push(texts *t, const char *s, size_t n)
{
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 64;
        char **v = realloc(t->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n] = strndup(s, n);
    return t->v[t->n++] ? 0 : -1;
}

int lmg_cmd_classify(int argc, char **argv)
{
    const char *dir = NULL, *ck = NULL, *backend = NULL, *device = NULL;
    long long top = 1;
    cli_list given = {0};
    texts tx = {0};
    int rc = 0;
    cli_opt opts[] = {
        CLI_LIST("--text", "TEXT", &given, "a document (repeatable)"),
        CLI_INT("--top", "K", &top, 1, 1 << 20, "the K most likely labels (default 1)"),
        CLI_RUN_OPTS(&ck, &backend, &device, &dir),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = CMD,
        .usage = "lmg classify RUN_DIR [--text TEXT ...] [--top K] [--checkpoint FILE]",
        .about = "Classify texts with a classifier run (lmg finetune): each --text, or else each line\n"
                 "of stdin, is one document. Prints the most likely label and its probability, one\n"
                 "line per document ('label<TAB>probability<TAB>text'); with --top K the K most likely\n"
                 "labels as 'label:probability' pairs.",
        .opts = opts,
        .exit_status = "0 ok, 1 failure (e.g. RUN_DIR is not a classifier), 2 usage error",
    };
    if (!cli_parse(&spec, argc, argv, &rc)) {
        cli_list_free(&given);
        return rc;
    }
    for (int i = 0; i < given.n && !rc; i++)
        if (push(&tx, given.v[i], strlen(given.v[i])) != 0) rc = cli_fail(CMD, LMG_ERR_NOMEM, "out of memory");
    cli_list_free(&given);
    if (!rc && !dir) rc = cli_usage_error(CMD, "no run directory given");
    lmg_classifier *cl = NULL;
    if (!rc) {
        lmg_status s = lmg_classifier_open(dir, ck, backend, device, 8, &cl);
        if (s != LMG_OK) rc = cli_fail(CMD, s, "cannot load '%s'", dir);
    }
    if (!rc && tx.n == 0) {
        /* One document per line of stdin. */
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while (!rc && (len = getline(&line, &cap, stdin)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
            if (len > 0 && push(&tx, line, (size_t)len) != 0)
                rc = cli_fail(CMD, LMG_ERR_NOMEM, "out of memory");
        }
        free(line);
        if (!rc && tx.n == 0) rc = cli_usage_error(CMD, "no text: give --text or lines on stdin");
    }
    float *p = NULL;
    int K = cl ? lmg_classifier_n_classes(cl) : 0;
    if (!rc) {
        p = malloc((size_t)tx.n * K * sizeof *p);
        lmg_status s = p ? lmg_classifier_texts(cl, (const char *const *)tx.v, tx.n, p)
                         : lmg_error(LMG_ERR_NOMEM, "out of memory");
        if (s != LMG_OK) rc = cli_fail(CMD, s, "cannot classify");
    }
    int k_top = top > K ? K : (int)top;
    int *order = !rc ? malloc((size_t)K * sizeof *order) : NULL;
    for (int i = 0; i < tx.n && !rc && order; i++) {
        const float *row = p + (size_t)i * K;
        for (int k = 0; k < K; k++) order[k] = k;
        /* Partial selection sort: K is small next to the work of the model. */
        for (int a = 0; a < k_top; a++)
            for (int b = a + 1; b < K; b++)
                if (row[order[b]] > row[order[a]]) {
                    int tmp = order[a];
                    order[a] = order[b];
                    order[b] = tmp;
                }
        if (k_top == 1) printf("%s\t%.4f\t%s\n", lmg_classifier_class(cl, order[0]), row[order[0]], tx.v[i]);
        else {
            for (int a = 0; a < k_top; a++)
                printf("%s%s:%.4f", a ? " " : "", lmg_classifier_class(cl, order[a]), row[order[a]]);
            printf("\t%s\n", tx.v[i]);
        }
    }
    free(order);
    free(p);
    for (int i = 0; i < tx.n; i++) free(tx.v[i]);
    free(tx.v);
    lmg_classifier_free(cl);
    return rc;
}
