/* objective.c — objectives as graph fragments (clm, mlm, weighted sums), the model builder
 * that puts model and objective together, and linking of user objective graphs by value name.
 *
 * A combined objective such as "mlm:1.0,clm:0.5" runs the model once per distinct input:
 * mlm reads the corrupted ids, clm the clean ids with causal attention (for BERT too, so a
 * clm term never sees the token it predicts). Terms over the same input share one pass;
 * all passes share one set of parameters, so the gradients of the terms add up. */
#include "models.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IGNORE_INDEX (-100)

lmg_status lmg_objective_parse(const char *spec, lmg_objective_term *terms, int *n_terms)
{
    *n_terms = 0;
    if (!spec || strcmp(spec, "none") == 0 || !*spec) return LMG_OK;
    const char *s = spec;
    while (*s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        char item[96];
        if (len == 0 || len >= sizeof item)
            return lmg_error(LMG_ERR_ARG, "objective '%s': empty or overlong term", spec);
        memcpy(item, s, len);
        item[len] = 0;
        double w = 1.0;
        char *colon = strchr(item, ':');
        if (colon) {
            *colon = 0;
            char *e;
            w = strtod(colon + 1, &e);
            if (e == colon + 1 || *e || !isfinite(w) || w <= 0.0)
                return lmg_error(LMG_ERR_ARG,
                                 "objective '%s': weight '%s' of '%s' is not a number > 0", spec,
                                 colon + 1, item);
        }
        if (strcmp(item, "clm") != 0 && strcmp(item, "mlm") != 0 && strcmp(item, "sup") != 0)
            return lmg_error(LMG_ERR_ARG,
                             "objective '%s': unknown term '%s' (built in: clm, mlm, sup; other "
                             "objectives are graphs: --objective-graph FILE)",
                             spec, item);
        for (int i = 0; i < *n_terms; i++)
            if (strcmp(terms[i].name, item) == 0)
                return lmg_error(LMG_ERR_ARG, "objective '%s': '%s' appears twice", spec, item);
        if (*n_terms == LMG_MAX_OBJECTIVE_TERMS)
            return lmg_error(LMG_ERR_ARG, "objective '%s': more than %d terms", spec,
                             LMG_MAX_OBJECTIVE_TERMS);
        snprintf(terms[*n_terms].name, sizeof terms[*n_terms].name, "%s", item);
        terms[*n_terms].weight = w;
        (*n_terms)++;
        s += len;
        if (*s == ',') {
            s++;
            if (!*s) return lmg_error(LMG_ERR_ARG, "objective '%s': trailing comma", spec);
        }
    }
    return LMG_OK;
}

static const char *default_objective(const lmg_model_config *c)
{
    return strcmp(c->arch, "bert") == 0 ? "mlm" : "clm";
}

/* ---- one micro-batch: the passes and the loss terms -------------------------------- */

enum { PASS_CLEAN, PASS_CAUSAL, PASS_MLM, PASS_KINDS };

typedef struct mb_out {
    int loss;              /* weighted sum of the terms, or -1 ("none") */
    int class_logits;      /* the classification head's [B,K], or -1 */
    int logits, hidden;    /* of the first term's pass */
    int term_loss[LMG_MAX_OBJECTIVE_TERMS];
    int mlm_ids, mlm_targets;
} mb_out;

static lmg_status build_micro_batch(lmg_graph *g, const lmg_model_config *c,
                                    const lmg_objective_term *terms, int n_terms, int ids,
                                    int targets, int labels, const char *scope, mb_out *o)
{
    int is_bert = strcmp(c->arch, "bert") == 0;
    int pl[PASS_KINDS], ph[PASS_KINDS], made = 0;
    for (int k = 0; k < PASS_KINDS; k++) pl[k] = ph[k] = -1;
    o->loss = o->logits = o->hidden = o->mlm_ids = o->mlm_targets = o->class_logits = -1;
    char sc[200], name[256];

    /* The pass each term reads; for gpt the causal pass is the clean one. */
    int want[LMG_MAX_OBJECTIVE_TERMS + 2] = {PASS_CLEAN}, n_want = 0;
    for (int i = 0; i < n_terms; i++)
        want[n_want++] = strcmp(terms[i].name, "mlm") == 0   ? PASS_MLM
                         : strcmp(terms[i].name, "sup") == 0 ? PASS_CLEAN
                         : is_bert                           ? PASS_CAUSAL
                                                             : PASS_CLEAN;
    if (n_terms == 0) want[n_want++] = PASS_CLEAN;
    /* The head reads the clean pass (bidirectional for bert, causal for gpt). */
    if (c->n_classes > 0) want[n_want++] = PASS_CLEAN;

    for (int i = 0; i < n_want; i++) {
        int k = want[i];
        if (pl[k] >= 0) continue;
        /* The clean pass is bidirectional for bert (what sup reads) and causal for gpt. */
        static const char *const kname[2][PASS_KINDS] = {{"clm/", "clm/", "mlm/"},
                                                         {"clean/", "clm/", "mlm/"}};
        snprintf(sc, sizeof sc, "%s%s", scope, made ? kname[is_bert][k] : "");
        int in = ids;
        if (k == PASS_MLM) {
            int outs[2];
            char on0[256], on1[256];
            snprintf(name, sizeof name, "%smlm.corrupt", scope);
            snprintf(on0, sizeof on0, "%smlm/ids", scope);
            snprintf(on1, sizeof on1, "%smlm/targets", scope);
            const char *onames[2] = {on0, on1};
            lmg_attr a[7] = {lmg_attr_float("p", 0.15),
                             lmg_attr_int("mask_id", c->mask_id),
                             lmg_attr_int("vocab", c->vocab),
                             lmg_attr_int("special_below", c->special_below),
                             lmg_attr_int("ignore_index", IGNORE_INDEX),
                             lmg_attr_int("seed", (int64_t)(c->seed & 0x7fffffffffffffffull)),
                             lmg_attr_int("key", lmg_random_key(name))};
            if (lmg_graph_node(g, LMG_OP_MLM_CORRUPT, name, &ids, 1, a, 7, onames, outs) < 0)
                return g->status;
            in = outs[0];
            o->mlm_ids = outs[0];
            o->mlm_targets = outs[1];
        }
        int causal = k == PASS_CLEAN ? -1 : k == PASS_CAUSAL ? 1 : -1;
        LMG_TRY(lmg_model_apply(g, c, in, causal, sc, &pl[k], &ph[k]));
        made++;
    }
    o->logits = pl[want[0]];
    o->hidden = ph[want[0]];
    if (c->n_classes > 0) {
        o->class_logits = lmg_model_cls_head(g, c, scope, ids, ph[PASS_CLEAN]);
        if (o->class_logits < 0) return g->status;
    }

    for (int i = 0; i < n_terms; i++) {
        int sup = strcmp(terms[i].name, "sup") == 0;
        int tg = strcmp(terms[i].name, "mlm") == 0 ? o->mlm_targets : sup ? labels : targets;
        if (sup && o->class_logits < 0)
            return lmg_error(LMG_ERR_ARG, "objective term 'sup' needs a classification head "
                                          "(n_classes > 0)");
        snprintf(name, sizeof name, "%sloss/%s", scope, terms[i].name);
        int l = lmg_graph_node(g, LMG_OP_CROSS_ENTROPY, name,
                               (int[]){sup ? o->class_logits : pl[want[i]], tg}, 2, NULL, 0,
                               NULL, NULL);
        if (l < 0) return g->status;
        o->term_loss[i] = l;
        if (terms[i].weight != 1.0) l = lmg_scale(g, l, terms[i].weight, 0.0);
        o->loss = o->loss < 0 ? l : lmg_add(g, o->loss, l);
    }
    return g->status;
}

static int has_term(const lmg_objective_term *terms, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(terms[i].name, name) == 0) return 1;
    return 0;
}

static lmg_status build(const lmg_model_config *c, lmg_graph *g)
{
    lmg_objective_term terms[LMG_MAX_OBJECTIVE_TERMS];
    int n_terms;
    const char *spec = c->objective ? c->objective : default_objective(c);
    LMG_TRY(lmg_objective_parse(spec, terms, &n_terms));
    int M = c->micro_batches < 1 ? 1 : c->micro_batches;
    int64_t d[2] = {(int64_t)M * c->batch, c->seq};
    lmg_shape s = lmg_shape_make(2, d);
    int ids = lmg_graph_input(g, "ids", LMG_DTYPE_I32, s);
    int targets = has_term(terms, n_terms, "clm") ? lmg_graph_input(g, "targets", LMG_DTYPE_I32, s)
                                                  : -1;
    int64_t dl[1] = {(int64_t)M * c->batch};
    int labels = has_term(terms, n_terms, "sup")
                     ? lmg_graph_input(g, "labels", LMG_DTYPE_I32, lmg_shape_make(1, dl))
                     : -1;
    if (g->status != LMG_OK) return g->status;
    mb_out o = {0};
    int loss = -1;
    for (int m = 0; m < M; m++) {
        char scope[32] = "";
        int ids_m = ids, tg_m = targets, lb_m = labels;
        if (M > 1) {
            snprintf(scope, sizeof scope, "mb%d/", m);
            lmg_attr a[3] = {lmg_attr_int("axis", 0), lmg_attr_int("start", (int64_t)m * c->batch),
                             lmg_attr_int("end", (int64_t)(m + 1) * c->batch)};
            char nb[64];
            snprintf(nb, sizeof nb, "%sids", scope);
            ids_m = lmg_graph_node(g, LMG_OP_SLICE, nb, &ids, 1, a, 3, NULL, NULL);
            if (targets >= 0) {
                snprintf(nb, sizeof nb, "%stargets", scope);
                tg_m = lmg_graph_node(g, LMG_OP_SLICE, nb, &targets, 1, a, 3, NULL, NULL);
            }
            if (labels >= 0) {
                snprintf(nb, sizeof nb, "%slabels", scope);
                lb_m = lmg_graph_node(g, LMG_OP_SLICE, nb, &labels, 1, a, 3, NULL, NULL);
            }
        }
        LMG_TRY(build_micro_batch(g, c, terms, n_terms, ids_m, tg_m, lb_m, scope, &o));
        if (o.loss >= 0) loss = loss < 0 ? o.loss : lmg_add(g, loss, o.loss);
    }
    if (loss >= 0 && M > 1) loss = lmg_scale(g, loss, 1.0 / M, 0.0);
    if (g->status != LMG_OK) return g->status;
    if (loss >= 0) {
        if (M == 1 && n_terms > 1)
            for (int i = 0; i < n_terms; i++) LMG_TRY(lmg_graph_add_output(g, o.term_loss[i]));
        if (strcmp(g->values[loss].name, "loss") != 0) LMG_TRY(lmg_graph_rename(g, loss, "loss"));
        LMG_TRY(lmg_graph_add_output(g, loss));
    }
    LMG_TRY(lmg_graph_rename(g, o.logits, "logits"));
    LMG_TRY(lmg_graph_rename(g, o.hidden, "hidden"));
    LMG_TRY(lmg_graph_add_output(g, o.logits));
    LMG_TRY(lmg_graph_add_output(g, o.hidden));
    if (o.class_logits >= 0) {
        LMG_TRY(lmg_graph_rename(g, o.class_logits, "class_logits"));
        LMG_TRY(lmg_graph_add_output(g, o.class_logits));
    }
    if (M == 1 && o.mlm_ids >= 0) {
        LMG_TRY(lmg_graph_add_output(g, o.mlm_ids));
        LMG_TRY(lmg_graph_add_output(g, o.mlm_targets));
    }
    LMG_TRY(lmg_model_config_to_graph(g, c));
    return LMG_OK;
}

lmg_status lmg_model_build(const lmg_model_config *c, lmg_graph **out)
{
    *out = NULL;
    LMG_TRY(lmg_model_config_check(c));
    lmg_graph *g = lmg_graph_new(c->arch);
    if (!g) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status s = build(c, g);
    if (s != LMG_OK) {
        lmg_graph_free(g);
        return s;
    }
    *out = g;
    return LMG_OK;
}

/* ---- user objective graphs --------------------------------------------------------- */

static lmg_status describe(const lmg_graph *g, int v, char *buf, size_t n)
{
    char sh[128];
    snprintf(buf, n, "%s%s", lmg_dtype_name(g->values[v].dtype),
             lmg_shape_str(&g->values[v].shape, sh, sizeof sh));
    return LMG_OK;
}

/* A short list of the model's values an objective may read, for error messages. */
static void model_value_list(const lmg_graph *m, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    const char *cand[] = {"ids", "targets", "logits", "hidden", "mlm/ids", "mlm/targets", "wte"};
    for (size_t i = 0; i < sizeof cand / sizeof *cand; i++) {
        int v = lmg_graph_find(m, cand[i]);
        if (v < 0) continue;
        char d[160];
        describe(m, v, d, sizeof d);
        int w = snprintf(buf + len, n - len, "%s%s %s", len ? ", " : "", cand[i], d);
        if (w < 0 || (size_t)w >= n - len) break;
        len += (size_t)w;
    }
}

static lmg_status link(lmg_graph *model, lmg_graph *obj, const char *prefix, int *loss)
{
    const char *oname = obj->name ? obj->name : "objective";
    int ol = lmg_graph_find(obj, "loss");
    int is_out = 0;
    for (int i = 0; ol >= 0 && i < obj->n_outputs; i++) is_out |= obj->outputs[i] == ol;
    if (ol < 0 || !is_out)
        return lmg_error(LMG_ERR_INVALID, "objective graph '%s' has no output named 'loss'",
                         oname);
    LMG_TRY(lmg_graph_verify(obj));
    ol = lmg_graph_find(obj, "loss");
    if (obj->values[ol].dtype != LMG_DTYPE_F32 || obj->values[ol].shape.rank != 0) {
        char d[160];
        describe(obj, ol, d, sizeof d);
        return lmg_error(LMG_ERR_INVALID,
                         "objective graph '%s': output 'loss' is %s, not a scalar f32", oname, d);
    }
    int *map = malloc(((size_t)obj->n_values + 1) * sizeof *map);
    if (!map) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (int v = 0; v < obj->n_values; v++) map[v] = -1;
    lmg_status s = LMG_OK;
    char buf[512], d1[160], d2[160];
    /* Inputs: by name to the model's values. */
    for (int i = 0; i < obj->n_inputs && s == LMG_OK; i++) {
        int v = obj->inputs[i];
        const lmg_value *ov = &obj->values[v];
        int mv = lmg_graph_find(model, ov->name);
        if (mv < 0 && strcmp(ov->name, "targets") == 0) {
            /* The trainer feeds next-token targets to any graph with this input. */
            int ids = lmg_graph_find(model, "ids");
            if (ids >= 0 && ov->dtype == LMG_DTYPE_I32 &&
                lmg_shape_equal(&ov->shape, &model->values[ids].shape))
                mv = lmg_graph_input(model, "targets", LMG_DTYPE_I32, ov->shape);
            if (mv < 0 && model->status != LMG_OK) s = model->status;
        }
        if (s != LMG_OK) break;
        if (mv < 0) {
            model_value_list(model, buf, sizeof buf);
            s = lmg_error(LMG_ERR_NOT_FOUND,
                          "objective graph '%s': input '%s' names no value of the model "
                          "(the model has %s, and its parameters by name)",
                          oname, ov->name, buf);
            break;
        }
        if (model->values[mv].dtype != ov->dtype ||
            !lmg_shape_equal(&model->values[mv].shape, &ov->shape)) {
            describe(obj, v, d1, sizeof d1);
            describe(model, mv, d2, sizeof d2);
            s = lmg_error(LMG_ERR_INVALID,
                          "objective graph '%s': input '%s' is declared %s but the model's "
                          "'%s' is %s",
                          oname, ov->name, d1, ov->name, d2);
            break;
        }
        map[v] = mv;
    }
    /* Initializers: copied under the prefix, trainable ones stay trainable. */
    for (int v = 0; v < obj->n_values && s == LMG_OK; v++) {
        const lmg_value *ov = &obj->values[v];
        if (ov->kind != LMG_VALUE_INIT) continue;
        snprintf(buf, sizeof buf, "%s%s", prefix, ov->name);
        const void *data = ov->fill == LMG_INIT_DATA ? ov->data : NULL;
        map[v] = ov->trainable ? lmg_graph_param(model, buf, ov->dtype, ov->shape, data)
                               : lmg_graph_const(model, buf, ov->dtype, ov->shape, data);
        if (map[v] < 0) s = lmg_error_prefix(model->status, "objective graph '%s': ", oname);
    }
    /* Nodes, in the objective's (verified, topological) order. */
    for (int i = 0; i < obj->n_nodes && s == LMG_OK; i++) {
        const lmg_node *n = &obj->nodes[i];
        int ins[64], outs[8];
        char nn[300], on[8][300];
        const char *onames[8];
        if (n->n_in > 64 || n->n_out > 8) {
            s = lmg_error(LMG_ERR_UNSUPPORTED, "objective node '%s': too many inputs", n->name);
            break;
        }
        for (int k = 0; k < n->n_in; k++) {
            ins[k] = n->in[k] < 0 ? -1 : map[n->in[k]];
            if (n->in[k] >= 0 && ins[k] < 0) {
                s = lmg_error(LMG_ERR_INVALID, "objective node '%s': input '%s' is not defined",
                              n->name, obj->values[n->in[k]].name);
                break;
            }
        }
        if (s != LMG_OK) break;
        for (int k = 0; k < n->n_out; k++) {
            snprintf(on[k], sizeof on[k], "%s%s", prefix, obj->values[n->out[k]].name);
            onames[k] = on[k];
        }
        snprintf(nn, sizeof nn, "%s%s", prefix, n->name ? n->name : "node");
        if (lmg_graph_node(model, n->op, nn, ins, n->n_in, n->attrs, n->n_attr, onames, outs) <
            0) {
            s = lmg_error_prefix(model->status, "linking objective graph '%s': ", oname);
            break;
        }
        for (int k = 0; k < n->n_out; k++) map[n->out[k]] = outs[k];
    }
    if (s == LMG_OK) {
        *loss = map[ol];
        if (*loss < 0)
            s = lmg_error(LMG_ERR_INVALID, "objective graph '%s': 'loss' is not computed",
                          oname);
    }
    free(map);
    return s;
}

lmg_status lmg_objective_link(lmg_graph *model, const lmg_graph *obj, const char *prefix,
                              int *loss)
{
    if (model->status != LMG_OK) return model->status;
    /* Verification sorts and fills shapes, so work on a copy of the caller's graph. */
    lmg_graph *copy = lmg_graph_clone(obj);
    if (!copy) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status s = link(model, copy, prefix ? prefix : "obj/", loss);
    lmg_graph_free(copy);
    return s;
}

lmg_status lmg_objective_add_loss(lmg_graph *model, int term, double weight)
{
    if (term < 0 || term >= model->n_values)
        return lmg_error(LMG_ERR_ARG, "add_loss: no value %d", term);
    /* Always a new node, so the term keeps its own name (and output) beside "loss". */
    int t = lmg_scale(model, term, weight, 0.0);
    int old = lmg_graph_find(model, "loss");
    int sum = t;
    if (old >= 0) {
        LMG_TRY(lmg_graph_rename(model, old, "loss/model"));
        sum = lmg_add(model, old, t);
    }
    if (model->status != LMG_OK) return model->status;
    LMG_TRY(lmg_graph_rename(model, sum, "loss"));
    LMG_TRY(lmg_graph_add_output(model, term));
    return lmg_graph_add_output(model, sum);
}

lmg_status lmg_model_build_with_objective(const lmg_model_config *c, const lmg_graph *obj,
                                          double weight, lmg_graph **out)
{
    *out = NULL;
    if (!obj) return lmg_model_build(c, out);
    lmg_model_config cc = *c;
    if (!cc.objective) cc.objective = "none"; /* the user graph is the whole objective */
    if (cc.micro_batches > 1)
        return lmg_error(LMG_ERR_ARG, "an objective graph needs micro_batches 1 (it reads the "
                                      "model's outputs of one batch)");
    lmg_graph *g;
    LMG_TRY(lmg_model_build(&cc, &g));
    int loss;
    lmg_status s = lmg_objective_link(g, obj, "obj/", &loss);
    if (s == LMG_OK) s = lmg_objective_add_loss(g, loss, weight);
    if (s == LMG_OK) s = lmg_graph_set_meta(g, "model.objective_graph", obj->name ? obj->name : "");
    if (s != LMG_OK) {
        lmg_graph_free(g);
        return s;
    }
    *out = g;
    return LMG_OK;
}
