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
    int causal_arch = lmg_model_arch_of(c)->causal;
    int pl[PASS_KINDS], ph[PASS_KINDS], made = 0;
    for (int k = 0; k < PASS_KINDS; k++) pl[k] = ph[k] = -1;
    o->loss = o->logits = o->hidden = o->mlm_ids = o->mlm_targets = o->class_logits = -1;
    char sc[200], name[256];

    /* The pass each term reads; for a causal arch (gpt) the causal pass is the clean one. */
    int want[LMG_MAX_OBJECTIVE_TERMS + 2] = {PASS_CLEAN}, n_want = 0;
    for (int i = 0; i < n_terms; i++)
        want[n_want++] = strcmp(terms[i].name, "mlm") == 0   ? PASS_MLM
                         : strcmp(terms[i].name, "sup") == 0 ? PASS_CLEAN
                         : causal_arch                       ? PASS_CLEAN
                                                             : PASS_CAUSAL;
    if (n_terms == 0) want[n_want++] = PASS_CLEAN;
    /* The head reads the clean pass (bidirectional for bert, causal for gpt). */
    if (c->n_classes > 0) want[n_want++] = PASS_CLEAN;

    for (int i = 0; i < n_want; i++) {
        int k = want[i];
        if (pl[k] >= 0) continue;
        /* The clean pass is bidirectional for bert (what sup reads) and causal for gpt. */
        static const char *const kname[2][PASS_KINDS] = {{"clean/", "clm/", "mlm/"},
                                                         {"clm/", "clm/", "mlm/"}};
        snprintf(sc, sizeof sc, "%s%s", scope, made ? kname[causal_arch][k] : "");
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
    const char *spec = c->objective ? c->objective : lmg_model_arch_of(c)->objective;
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
    const char *cand[] = {"ids",         "targets",     "logits", "hidden",      "mlm/ids",
                          "mlm/targets", "wte",         "labels", "class_logits"};
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

/* ---- the objective contract -------------------------------------------------------- */

static int is_output(const lmg_graph *g, int v)
{
    for (int i = 0; v >= 0 && i < g->n_outputs; i++)
        if (g->outputs[i] == v) return 1;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a > b && strcmp(s + a - b, suffix) == 0;
}

lmg_status lmg_objective_check(lmg_graph *obj)
{
    const char *oname = obj->name ? obj->name : "objective";
    LMG_TRY(lmg_graph_verify(obj));
    int ol = lmg_graph_find(obj, "loss");
    if (ol < 0 || !is_output(obj, ol))
        return lmg_error(LMG_ERR_INVALID,
                         "objective graph '%s' has no output named 'loss' (an objective's "
                         "output 'loss' is the scalar f32 the trainer minimises)", oname);
    if (obj->values[ol].dtype != LMG_DTYPE_F32 || obj->values[ol].shape.rank != 0) {
        char d[200];
        return lmg_error(LMG_ERR_INVALID,
                         "objective graph '%s': output 'loss' is %s, not a scalar f32 (reduce it, "
                         "e.g. with ReduceMean)", oname, lmg_value_type_str(obj, ol, d, sizeof d));
    }
    for (int i = 0; i < obj->n_outputs; i++) {
        int v = obj->outputs[i];
        const char *name = obj->values[v].name;
        if (strncmp(name, "loss/", 5) == 0 &&
            (obj->values[v].dtype != LMG_DTYPE_F32 || obj->values[v].shape.rank != 0)) {
            char d[200];
            return lmg_error(LMG_ERR_INVALID,
                             "objective graph '%s': output '%s' is %s; outputs named loss/... are "
                             "logged terms and must be scalar f32", oname, name,
                             lmg_value_type_str(obj, v, d, sizeof d));
        }
        if (ends_with(name, "/ids") && (obj->values[v].dtype != LMG_DTYPE_I32 ||
                                        obj->values[v].shape.rank != 2)) {
            char d[200];
            return lmg_error(LMG_ERR_INVALID,
                             "objective graph '%s': view input '%s' is %s, not i32[rows,T]", oname,
                             name, lmg_value_type_str(obj, v, d, sizeof d));
        }
    }
    return LMG_OK;
}

/* ---- views: the model applied to ids the objective computes ------------------------- */

#define MAX_VIEWS 8

typedef struct view {
    char name[64];
    int ids, mask;          /* objective values: outputs "<v>/ids", "<v>/mask" (or -1) */
    int applied;
    int logits, hidden;     /* model values, once applied */
} view;

/* The views an objective asks for: one per output named "<view>/ids". */
static lmg_status find_views(const lmg_graph *obj, view *vs, int *n)
{
    *n = 0;
    for (int i = 0; i < obj->n_outputs; i++) {
        const char *name = obj->values[obj->outputs[i]].name;
        if (!ends_with(name, "/ids")) continue;
        size_t len = strlen(name) - 4;
        if (len >= sizeof vs[0].name)
            return lmg_error(LMG_ERR_INVALID, "view name of '%s' is too long", name);
        if (*n == MAX_VIEWS)
            return lmg_error(LMG_ERR_INVALID, "objective graph '%s': more than %d views",
                             obj->name, MAX_VIEWS);
        view *v = &vs[(*n)++];
        memset(v, 0, sizeof *v);
        memcpy(v->name, name, len);
        v->name[len] = 0;
        v->ids = obj->outputs[i];
        v->logits = v->hidden = -1;
        char mn[80];
        snprintf(mn, sizeof mn, "%s/mask", v->name);
        v->mask = lmg_graph_find(obj, mn);
        if (v->mask >= 0 && !is_output(obj, v->mask)) v->mask = -1;
    }
    return LMG_OK;
}

/* Input `name` of the objective read from view `*which` ("<v>/logits" or "<v>/hidden"):
 * 1 for logits, 2 for hidden, 0 when it names no view value. */
static int view_input(const view *vs, int n, const char *name, int *which)
{
    for (int i = 0; i < n; i++) {
        size_t len = strlen(vs[i].name);
        if (strncmp(name, vs[i].name, len) != 0 || name[len] != '/') continue;
        *which = i;
        if (strcmp(name + len + 1, "logits") == 0) return 1;
        if (strcmp(name + len + 1, "hidden") == 0) return 2;
    }
    return 0;
}

/* Apply the model to a view's ids (and key mask) in `model`, sharing every parameter. */
static lmg_status apply_view(lmg_graph *model, const lmg_model_source *src, const char *prefix,
                             view *v, int ids, int mask)
{
    char scope[160];
    snprintf(scope, sizeof scope, "%s%s/", prefix, v->name);
    if (mask >= 0 && model->values[mask].dtype != LMG_DTYPE_F32) {
        char nn[200];
        snprintf(nn, sizeof nn, "%smask.f32", scope);
        lmg_attr a = lmg_attr_int("to", LMG_DTYPE_F32);
        mask = lmg_graph_node(model, LMG_OP_CAST, nn, &mask, 1, &a, 1, NULL, NULL);
        if (mask < 0) return model->status;
    }
    if (src->graph) return lmg_model_graph_apply(model, src->graph, ids, mask, scope, &v->logits,
                                                 &v->hidden);
    return lmg_model_apply_masked(model, src->config, ids, mask, -1, scope, &v->logits, &v->hidden);
}

static lmg_status no_such_value(const lmg_graph *model, const char *oname, const char *name)
{
    char buf[512], hint[320] = "";
    model_value_list(model, buf, sizeof buf);
    /* The model value (not one of its nodes' internals) nearest to a mistyped name. */
    int best = -1, bd = 1 << 30;
    for (int v = 0; v < model->n_values; v++) {
        const lmg_value *mv = &model->values[v];
        if (mv->kind == LMG_VALUE_NODE && strcmp(mv->name, "logits") != 0 &&
            strcmp(mv->name, "hidden") != 0)
            continue;
        int d = lmg_name_distance(name, mv->name, 0);
        if (d < bd) bd = d, best = v;
    }
    if (best >= 0 && lmg_name_close(name, bd))
        snprintf(hint, sizeof hint, " (did you mean '%s'?)", model->values[best].name);
    return lmg_error(LMG_ERR_NOT_FOUND,
                     "objective graph '%s': input '%s' names no value of the model%s; the model "
                     "has %s, and its parameters by name; a view V's values V/logits and "
                     "V/hidden need an output V/ids", oname, name, hint, buf);
}

/* "labels" (i32[B], a class per row) is an input the objective may add when the model has a
 * classification head, as the built-in 'sup' term does. */
static int is_labels_input(const lmg_graph *model, const char *name)
{
    return strcmp(name, "labels") == 0 && lmg_graph_find(model, "class_logits") >= 0 &&
           lmg_graph_find(model, "ids") >= 0;
}

/* Give the objective's named dimensions the sizes of the model values its inputs name, then
 * check it again with those sizes. "targets" takes the shape of "ids", "labels" its rows; a
 * view's logits and hidden take the model's own, but for the rows, which follow from the
 * view's ids. */
static lmg_status bind_to_model(const lmg_graph *model, lmg_graph *obj, const char *oname,
                                const view *vs, int n_views)
{
    if (!lmg_graph_is_symbolic(obj)) return LMG_OK;
    lmg_dim_binding b;
    memset(&b, 0, sizeof b);
    for (int i = 0; i < obj->n_inputs; i++) {
        int v = obj->inputs[i], which;
        const char *name = obj->values[v].name;
        int mv = lmg_graph_find(model, name);
        int kind = mv < 0 ? view_input(vs, n_views, name, &which) : 0;
        if (mv < 0 && strcmp(name, "targets") == 0) mv = lmg_graph_find(model, "ids");
        int rows_of_ids = 0;
        if (mv < 0 && is_labels_input(model, name)) {
            mv = lmg_graph_find(model, "ids");
            rows_of_ids = 1;
        }
        if (kind) mv = lmg_graph_find(model, kind == 1 ? "logits" : "hidden");
        if (mv < 0 && !kind) return no_such_value(model, oname, name);
        if (mv < 0) continue;
        char d[160], origin[300];
        describe(model, mv, d, sizeof d);
        snprintf(origin, sizeof origin, "input '%s' (the model's '%s' is %s)", name,
                 model->values[mv].name, d);
        lmg_shape actual = model->values[mv].shape;
        if (rows_of_ids) actual = lmg_shape_make(1, actual.dims);
        lmg_status s = LMG_OK;
        if (kind) {
            /* Rows come from the view's ids; only T and V (or C) are the model's. */
            const lmg_value *ov = &obj->values[v];
            if (ov->shape.rank != actual.rank)
                s = lmg_dim_unify(&b, obj, v, &actual, origin);
            for (int d0 = 1; s == LMG_OK && d0 < actual.rank; d0++) {
                int k = ov->dim_sym[d0];
                if (k > 0) s = lmg_dim_bind(&b, obj->dim_names[k - 1], actual.dims[d0], origin);
            }
        } else {
            s = lmg_dim_unify(&b, obj, v, &actual, origin);
        }
        if (s != LMG_OK) return lmg_error_prefix(s, "objective graph '%s'", oname);
    }
    lmg_status s = lmg_graph_bind_dims(obj, &b);
    if (s == LMG_OK) s = lmg_graph_verify(obj);
    if (s != LMG_OK) return lmg_error_prefix(s, "objective graph '%s' linked to the model", oname);
    return LMG_OK;
}

/* Copy node n of obj into model under the prefix; map must hold every input. */
static lmg_status copy_node(lmg_graph *model, const lmg_graph *obj, const lmg_node *n,
                            const char *prefix, int *map)
{
    int ins[64], outs[8];
    char nn[300], on[8][300];
    const char *onames[8];
    if (n->n_in > 64 || n->n_out > 8)
        return lmg_error(LMG_ERR_UNSUPPORTED, "objective node '%s': too many inputs", n->name);
    for (int k = 0; k < n->n_in; k++) ins[k] = n->in[k] < 0 ? -1 : map[n->in[k]];
    for (int k = 0; k < n->n_out; k++) {
        snprintf(on[k], sizeof on[k], "%s%s", prefix, obj->values[n->out[k]].name);
        onames[k] = on[k];
    }
    snprintf(nn, sizeof nn, "%s%s", prefix, n->name ? n->name : "node");
    if (lmg_graph_node(model, n->op, nn, ins, n->n_in, n->attrs, n->n_attr, onames, outs) < 0)
        return lmg_error_prefix(model->status, "linking objective graph '%s': ", obj->name);
    for (int k = 0; k < n->n_out; k++) map[n->out[k]] = outs[k];
    return LMG_OK;
}

static int node_ready(const lmg_node *n, const int *map)
{
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k] >= 0 && map[n->in[k]] < 0) return 0;
    return 1;
}

static lmg_status link(lmg_graph *model, lmg_graph *obj, const char *prefix,
                       const lmg_model_source *src, int *loss)
{
    const char *oname = obj->name ? obj->name : "objective";
    LMG_TRY(lmg_objective_check(obj));
    view vs[MAX_VIEWS];
    int n_views;
    LMG_TRY(find_views(obj, vs, &n_views));
    if (n_views > 0 && !src)
        return lmg_error(LMG_ERR_INVALID, "objective graph '%s' has views ('%s/ids') but no "
                         "model to apply to them was given", oname, vs[0].name);
    LMG_TRY(bind_to_model(model, obj, oname, vs, n_views));
    int ol = lmg_graph_find(obj, "loss");
    int *map = malloc(((size_t)obj->n_values + 1) * sizeof *map);
    unsigned char *done = calloc((size_t)obj->n_nodes + 1, 1);
    if (!map || !done) {
        free(map);
        free(done);
        return lmg_error(LMG_ERR_NOMEM, "out of memory");
    }
    for (int v = 0; v < obj->n_values; v++) map[v] = -1;
    lmg_status s = LMG_OK;
    char buf[512], d1[160], d2[160];
    /* Inputs: by name to the model's values; a view's values wait for the view. */
    for (int i = 0; i < obj->n_inputs && s == LMG_OK; i++) {
        int v = obj->inputs[i], which;
        const lmg_value *ov = &obj->values[v];
        int mv = lmg_graph_find(model, ov->name);
        if (mv < 0 && view_input(vs, n_views, ov->name, &which)) continue;
        if (mv < 0 && strcmp(ov->name, "targets") == 0) {
            /* The trainer feeds next-token targets to any graph with this input. */
            int ids = lmg_graph_find(model, "ids");
            if (ids >= 0 && ov->dtype == LMG_DTYPE_I32 &&
                lmg_shape_equal(&ov->shape, &model->values[ids].shape))
                mv = lmg_graph_input(model, "targets", LMG_DTYPE_I32, ov->shape);
            if (mv < 0 && model->status != LMG_OK) s = model->status;
        }
        if (mv < 0 && is_labels_input(model, ov->name)) {
            /* Labelled data: the trainer feeds each row's class to any graph with this input;
             * a declaration of another type is reported against it below. */
            int ids = lmg_graph_find(model, "ids");
            mv = lmg_graph_input(model, "labels", LMG_DTYPE_I32,
                                 lmg_shape_make(1, model->values[ids].shape.dims));
            if (mv < 0) s = model->status;
        }
        if (s != LMG_OK) break;
        if (mv < 0) {
            s = no_such_value(model, oname, ov->name);
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
    /* Nodes in the objective's (verified, topological) order, in rounds: a view is applied
     * once its ids (and mask) exist, which lets the nodes reading its values follow. */
    for (int progress = 1; progress && s == LMG_OK;) {
        progress = 0;
        for (int i = 0; i < obj->n_nodes && s == LMG_OK; i++) {
            if (done[i] || !node_ready(&obj->nodes[i], map)) continue;
            s = copy_node(model, obj, &obj->nodes[i], prefix, map);
            done[i] = 1;
            progress = 1;
        }
        for (int k = 0; k < n_views && s == LMG_OK; k++) {
            view *v = &vs[k];
            if (v->applied || map[v->ids] < 0 || (v->mask >= 0 && map[v->mask] < 0)) continue;
            s = apply_view(model, src, prefix, v, map[v->ids], v->mask >= 0 ? map[v->mask] : -1);
            v->applied = 1;
            progress = 1;
            for (int i = 0; i < obj->n_inputs && s == LMG_OK; i++) {
                int ov = obj->inputs[i], which;
                int kind = view_input(vs, n_views, obj->values[ov].name, &which);
                if (!kind || which != k) continue;
                int mv = kind == 1 ? v->logits : v->hidden;
                if (model->values[mv].dtype != obj->values[ov].dtype ||
                    !lmg_shape_equal(&model->values[mv].shape, &obj->values[ov].shape)) {
                    describe(obj, ov, d1, sizeof d1);
                    describe(model, mv, d2, sizeof d2);
                    s = lmg_error(LMG_ERR_INVALID,
                                  "objective graph '%s': input '%s' is declared %s but view '%s' "
                                  "gives %s", oname, obj->values[ov].name, d1, v->name, d2);
                }
                map[ov] = mv;
            }
        }
    }
    for (int k = 0; k < n_views && s == LMG_OK; k++)
        if (!vs[k].applied)
            s = lmg_error(LMG_ERR_INVALID,
                          "objective graph '%s': view '%s' makes a cycle through the model: "
                          "'%s/ids'%s depends on the model's output for that view",
                          oname, vs[k].name, vs[k].name, vs[k].mask >= 0 ? " or its mask" : "");
    for (int i = 0; i < obj->n_nodes && s == LMG_OK; i++)
        if (!done[i])
            s = lmg_error(LMG_ERR_INVALID, "objective node '%s' reads a value no view provides",
                          obj->nodes[i].name);
    if (s == LMG_OK) {
        *loss = map[ol];
        if (*loss < 0)
            s = lmg_error(LMG_ERR_INVALID, "objective graph '%s': 'loss' is not computed",
                          oname);
    }
    /* Logged terms: outputs named loss/... keep their name in the model. */
    for (int i = 0; i < obj->n_outputs && s == LMG_OK; i++) {
        int v = obj->outputs[i];
        if (strncmp(obj->values[v].name, "loss/", 5) != 0 || map[v] < 0) continue;
        if (lmg_graph_find(model, obj->values[v].name) < 0)
            s = lmg_graph_rename(model, map[v], obj->values[v].name);
        if (s == LMG_OK) s = lmg_graph_add_output(model, map[v]);
    }
    free(map);
    free(done);
    return s;
}

lmg_status lmg_objective_link_model(lmg_graph *model, const lmg_graph *obj, const char *prefix,
                                    const lmg_model_source *src, int *loss)
{
    if (model->status != LMG_OK) return model->status;
    /* Verification sorts and fills shapes, so work on a copy of the caller's graph. */
    lmg_graph *copy = lmg_graph_clone(obj);
    if (!copy) return lmg_error(LMG_ERR_NOMEM, "out of memory");
    lmg_status s = link(model, copy, prefix ? prefix : "obj/", src, loss);
    lmg_graph_free(copy);
    return s;
}

lmg_status lmg_objective_link(lmg_graph *model, const lmg_graph *obj, const char *prefix,
                              int *loss)
{
    return lmg_objective_link_model(model, obj, prefix, NULL, loss);
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

lmg_status lmg_objective_drop_unread_pass(lmg_graph *g, const lmg_graph *obj)
{
    if (lmg_graph_find(obj, "logits") >= 0 || lmg_graph_find(obj, "hidden") >= 0) return LMG_OK;
    int any_view = 0;
    for (int i = 0; i < obj->n_outputs; i++) any_view |= ends_with(obj->values[obj->outputs[i]].name, "/ids");
    if (!any_view) return LMG_OK;
    int k = 0;
    for (int i = 0; i < g->n_outputs; i++) {
        const char *n = g->values[g->outputs[i]].name;
        if (strcmp(n, "logits") != 0 && strcmp(n, "hidden") != 0) g->outputs[k++] = g->outputs[i];
    }
    g->n_outputs = k;
    return lmg_graph_prune(g);
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
    lmg_model_source src = {&cc, NULL};
    lmg_status s = lmg_objective_link_model(g, obj, "obj/", &src, &loss);
    if (s == LMG_OK) s = lmg_objective_add_loss(g, loss, weight);
    if (s == LMG_OK) s = lmg_objective_drop_unread_pass(g, obj);
    if (s == LMG_OK) s = lmg_graph_set_meta(g, "model.objective_graph", obj->name ? obj->name : "");
    if (s != LMG_OK) {
        lmg_graph_free(g);
        return s;
    }
    *out = g;
    return LMG_OK;
}
