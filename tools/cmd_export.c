/* cmd_export.c — `lmg export onnx RUN|GRAPH -o model.onnx`: a trained run's inference graph
 * with its checkpoint's weights, or any graph file, as an ONNX model; also a step's draws. */
#include "cli.h"
#include "../export/npy.h"
#include "../export/onnx.h"
#include "../graph/safetensors.h"
#include "../text/labels.h"
#include "../train/classify.h"
#include "../train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int lmg_cmd_export(int argc, char **argv);

static const char *const CMD = "export";

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Copy the tensors of a checkpoint into g's initializers by name: every parameter (and with
 * state, its AdamW moments) must be there with the same dtype and shape. */
static lmg_status load_weights(lmg_graph *g, const char *path, int state, const char **step_meta,
                               lmg_st_file **keep)
{
    lmg_st_file *f;
    LMG_TRY(lmg_st_open(path, &f));
    lmg_status s = LMG_OK;
    for (int v = 0; v < g->n_values && s == LMG_OK; v++) {
        lmg_value *x = &g->values[v];
        if (x->kind != LMG_VALUE_INIT) continue;
        int moment = strncmp(x->name, "adam.m/", 7) == 0 || strncmp(x->name, "adam.v/", 7) == 0;
        if (!x->trainable && !(state && moment)) continue;
        lmg_dtype t;
        lmg_shape sh;
        const void *data;
        size_t n;
        if (lmg_st_find(f, x->name, &t, &sh, &data, &n) != LMG_OK) {
            s = lmg_error(LMG_ERR_NOT_FOUND, "%s: no tensor '%s'%s", path, x->name,
                          moment ? " (AdamW state: use checkpoint.safetensors)" : "");
            break;
        }
        if (t != x->dtype || !lmg_shape_equal(&sh, &x->shape)) {
            char a[128], b[128];
            s = lmg_error(LMG_ERR_INVALID, "%s: '%s' is %s%s, the graph wants %s%s", path,
                          x->name, lmg_dtype_name(t), lmg_shape_str(&sh, a, sizeof a),
                          lmg_dtype_name(x->dtype), lmg_shape_str(&x->shape, b, sizeof b));
            break;
        }
        void *copy = malloc(n ? n : 1);
        if (!copy) {
            s = lmg_error(LMG_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(copy, data, n);
        free(x->data);
        x->data = copy;
        x->fill = LMG_INIT_DATA;
    }
    if (step_meta) *step_meta = lmg_st_meta(f, "step");
    *keep = f;
    return s;
}

/* names as a JSON list of strings (quotes, backslashes and control bytes escaped), malloc'd. */
static char *json_list(char *const *names, int n)
{
    size_t cap = 3;
    for (int k = 0; k < n; k++) cap += 6 * strlen(names[k]) + 4;
    char *buf = malloc(cap), *o = buf;
    if (!buf) return NULL;
    *o++ = '[';
    for (int k = 0; k < n; k++) {
        if (k) *o++ = ',', *o++ = ' ';
        *o++ = '"';
        for (const unsigned char *p = (const unsigned char *)names[k]; *p; p++) {
            if (*p == '"' || *p == '\\') *o++ = '\\', *o++ = (char)*p;
            else if (*p < 0x20) o += sprintf(o, "\\u%04x", *p);
            else *o++ = (char)*p;
        }
        *o++ = '"';
    }
    *o++ = ']';
    *o = 0;
    return buf;
}

/* A classifier's outputs: class_probs (the softmax lmg classify reports) and class_logits,
 * nothing else (the language-model head of a fine-tuned body is pruned); *labels gets the
 * class names of DATA_DIR/labels.tsv as a JSON list. */
static lmg_status classifier_outputs(lmg_graph *g, const char *data_dir, char **labels)
{
    int cl = lmg_graph_find(g, "class_logits");
    if (cl < 0) return lmg_error(LMG_ERR_INVALID, "the classifier model has no 'class_logits'");
    int pr = lmg_graph_node(g, LMG_OP_SOFTMAX, "class_probs", &cl, 1, NULL, 0, NULL, NULL);
    if (pr < 0) return g->status;
    g->n_outputs = 0;
    LMG_TRY(lmg_graph_add_output(g, pr));
    LMG_TRY(lmg_graph_add_output(g, cl));
    LMG_TRY(lmg_graph_prune(g));
    char *path = data_dir ? lmg_path_join(data_dir, "labels.tsv") : NULL, **names = NULL;
    if (!path) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    int n = 0;
    lmg_status s = lmg_label_map_load(path, &names, &n, NULL);
    free(path);
    LMG_TRY(s);
    *labels = json_list(names, n);
    lmg_label_map_free(names, n);
    return *labels ? LMG_OK : lmg_error(LMG_ERR_NOMEM, "out of memory");
}

static int write_draws(const lmg_graph *g, uint64_t step, const char *path, int quiet)
{
    lmg_npz *z = lmg_npz_new();
    if (!z) return cli_fail(CMD, LMG_ERR_NOMEM, "out of memory");
    lmg_status s = LMG_OK;
    int n = 0;
    for (int i = 0; s == LMG_OK; i++) {
        char *name;
        lmg_dtype t;
        lmg_shape sh;
        void *data;
        lmg_status d = lmg_onnx_draw(g, i, step, &name, &t, &sh, &data);
        if (d == LMG_ERR_NOT_FOUND) break;
        if (d != LMG_OK) {
            s = d;
            break;
        }
        s = lmg_npz_add(z, name, t, &sh, data);
        free(name);
        free(data);
        n++;
    }
    if (s == LMG_OK) s = lmg_npz_commit(z, path);
    lmg_npz_free(z);
    if (s != LMG_OK) return cli_fail(CMD, s, "cannot write the draws to '%s'", path);
    if (!quiet) printf("%s: %d draw inputs of step %llu\n", path, n, (unsigned long long)step);
    return 0;
}

static const char onnx_usage[] = "lmg export onnx RUN|GRAPH -o MODEL.onnx [options]";

static int export_onnx(int argc, char **argv)
{
    const char *src = NULL, *out = NULL, *ckpt = NULL, *draws_path = NULL;
    const char *graph_out = NULL;
    int training = 0, draws = 0, is_static = 0, quiet = 0, rc;
    long long ext_min = 1 << 20, step = 1;
    char about[2048];
    snprintf(about, sizeof about,
             "Write an ONNX model (standard ops, opset %d) that onnxruntime and other tools run.\n"
             "RUN is a run directory of lmg train: its model without the objective (outputs\n"
             "logits and hidden) with the weights of best.safetensors (or --checkpoint).\n"
             "A classifier run (lmg finetune) outputs class_probs (the softmax of the class\n"
             "logits, as lmg classify reports them) and class_logits [batch, classes]; its\n"
             "class names, in class order, go to metadata_props 'lmgraph.labels' (a JSON list).\n"
             "GRAPH is a .pb or .lmgt file (lmg build, lmg autodiff, ...), exported as it is,\n"
             "with its loss when it has one. Batch and sequence length become the symbolic\n"
             "axes 'batch' and 'seq' where the graph allows; the model's config, the tokenizer\n"
             "and the source go to metadata_props.",
             LMG_ONNX_OPSET);
    cli_opt opts[] = {
        CLI_STR("--output", "-o", "PATH", &out, "the .onnx file to write", .flags = CLI_REQUIRED),
        CLI_STR("--checkpoint", NULL, "FILE", &ckpt,
                "weights of a run (.safetensors; default best, else\n"
                "checkpoint; with --training: checkpoint)"),
        CLI_FLAG("--training", NULL, &training,
                 "the whole training step (forward, backward, clipping,\n"
                 "AdamW): parameters and AdamW state in, new/<name> out;\n"
                 "random draws become inputs draw/<node>/<what>. A forward\n"
                 "graph with a 'loss' output gets lmgraph's default optimizer"),
        CLI_FLAG("--draws", NULL, &draws, "make the draws of random ops inputs in a forward export too"),
        CLI_STR("--write-draws", NULL, "FILE", &draws_path,
                "also write the draws of one step (.npz), to feed them"),
        CLI_INT("--step", "N", &step, 0, INT64_MAX,
                "the step those draws belong to (default 1; a run: the\n"
                "checkpoint's next step)"),
        CLI_FLAG("--static", NULL, &is_static, "keep every axis at its built size"),
        CLI_STR("--save-graph", NULL, "PATH", &graph_out,
                "also write the lmgraph graph that was exported (.pb), e.g.\n"
                "the training step built for --training"),
        CLI_INT("--external-min", "BYTES", &ext_min, 0, INT64_MAX,
                "initializers of at least this size go to MODEL.onnx.data\n"
                "(default 1048576; 0 = everything inside the model)"),
        CLI_FLAG("--quiet", "-q", &quiet, "print nothing on success"),
        CLI_POS("run directory or graph file", &src, .flags = CLI_REQUIRED),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = "export onnx",
        .usage = onnx_usage,
        .about = about,
        .opts = opts,
        .exit_status = "0 written, 1 failure (an op without an ONNX form names op and node),\n"
                       "2 usage error",
    };
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    int step_given = cli_given(&spec, "--step") > 0;

    lmg_graph *g = NULL, *run = NULL;
    lmg_st_file *weights = NULL;
    lmg_model_config mc;
    char *data_dir = NULL, *ck = NULL, *tok = NULL, *labels = NULL;
    const char *step_meta = NULL;
    lmg_status s = LMG_OK;
    struct timespec ts0, ts1;
    clock_gettime(CLOCK_MONOTONIC, &ts0);
    if (is_dir(src)) {
        s = lmg_run_open(src, &run, &mc, &data_dir, NULL);
        if (s != LMG_OK) rc = cli_fail_file(CMD, src);
        if (rc == 0) {
            if (ckpt) ck = strdup(ckpt);
            else {
                ck = lmg_path_join(src, training ? "checkpoint.safetensors" : "best.safetensors");
                if (ck && access(ck, F_OK) != 0) {
                    free(ck);
                    ck = lmg_path_join(src, "checkpoint.safetensors");
                }
            }
            if (!ck) rc = cli_fail(CMD, LMG_ERR_NOMEM, "out of memory");
        }
        if (rc == 0 && training) {
            g = run; /* train.pb is the training step */
            run = NULL;
        } else if (rc == 0) {
            lmg_model_config c = mc;
            c.micro_batches = 1;
            c.dropout = 0.0;
            c.objective = "none";
            s = lmg_model_build(&c, &g);
            if (s != LMG_OK) rc = cli_fail(CMD, s, "cannot build the model of run '%s'", src);
            /* A body frozen by lmg finetune --freeze is in train.pb, not in the checkpoint. */
            if (rc == 0 && (s = lmg_graph_adopt_frozen(g, run)) != LMG_OK)
                rc = cli_fail(CMD, s, "%s", src);
            if (rc == 0 && mc.n_classes > 0 &&
                (s = classifier_outputs(g, data_dir, &labels)) != LMG_OK)
                rc = cli_fail(CMD, s, "%s", src);
        }
        if (rc == 0 && (s = load_weights(g, ck, training, &step_meta, &weights)) != LMG_OK)
            rc = cli_fail_file(CMD, ck);
        if (rc == 0 && !step_given && step_meta) step = strtoll(step_meta, NULL, 10) + 1;
        tok = data_dir ? lmg_path_join(data_dir, "tok.bpe") : NULL;
    } else {
        if (cli_load_graph(src, &g) != LMG_OK) rc = cli_fail_file(CMD, src);
        int has_adamw = 0;
        for (int i = 0; rc == 0 && i < g->n_nodes; i++) has_adamw |= g->nodes[i].op == LMG_OP_ADAMW;
        if (rc == 0 && training && !has_adamw) {
            lmg_optim_config oc;
            lmg_optim_config_default(&oc);
            if (lmg_graph_find(g, "loss") < 0)
                rc = cli_fail(CMD, LMG_ERR_INVALID, "%s: --training needs a 'loss' value", src);
            else if ((s = lmg_train_graph_build(g, "loss", &oc)) != LMG_OK)
                rc = cli_fail(CMD, s, "%s: cannot build the training step", src);
        }
        if (rc == 0 && !training && has_adamw) training = 1;
    }
    if (rc == 0 && (s = lmg_graph_verify(g)) != LMG_OK) rc = cli_fail_file(CMD, src);

    lmg_onnx_export_info info;
    if (rc == 0) {
        const char *keys[5] = {"lmgraph.source", "lmgraph.checkpoint", "tokenizer", "lmgraph.kind",
                               "lmgraph.labels"};
        const char *vals[5] = {src, ck ? ck : "", tok ? tok : "",
                               training ? "training step" : labels ? "classifier" : "forward",
                               labels ? labels : ""};
        int nm = 0;
        const char *k2[5], *v2[5];
        for (int i = 0; i < 5; i++)
            if (vals[i][0]) k2[nm] = keys[i], v2[nm++] = vals[i];
        lmg_onnx_export_opts o = {0};
        o.symbolic = !is_static && !training;
        o.draws_as_inputs = draws || training;
        o.training = training;
        o.external_min_bytes = (size_t)ext_min;
        o.n_meta = nm;
        o.meta_keys = k2;
        o.meta_values = v2;
        o.producer_version = "1";
        s = lmg_onnx_export(g, &o, out, &info);
        if (s != LMG_OK) rc = cli_fail(CMD, s, "%s", src);
    }
    clock_gettime(CLOCK_MONOTONIC, &ts1);
    double secs = (double)(ts1.tv_sec - ts0.tv_sec) + 1e-9 * (double)(ts1.tv_nsec - ts0.tv_nsec);
    if (rc == 0 && !quiet) {
        printf("%s: %d ONNX nodes, %d initializers (%d external), %d inputs, %d outputs, "
               "opset %d, %.2f s\n",
               out, info.n_nodes, info.n_initializers, info.n_external, info.n_inputs,
               info.n_outputs, LMG_ONNX_OPSET, secs);
        if (info.fixed[0]) printf("  static axes: %s\n", info.fixed);
    }
    if (rc == 0 && graph_out && (s = lmg_graph_save(g, graph_out, 4096)) != LMG_OK)
        rc = cli_fail(CMD, s, "cannot write '%s'", graph_out);
    if (rc == 0 && draws_path) rc = write_draws(g, (uint64_t)step, draws_path, quiet);
    lmg_st_close(weights);
    lmg_graph_free(g);
    lmg_graph_free(run);
    free(data_dir);
    free(ck);
    free(tok);
    free(labels);
    return rc;
}

int lmg_cmd_export(int argc, char **argv)
{
    static const cli_action formats[] = {
        {"onnx", export_onnx, onnx_usage, "an ONNX model of a run or a graph"},
    };
    return cli_dispatch(CMD, "format", formats, 1, "0 written, 1 failure, 2 usage error", argc, argv);
}
