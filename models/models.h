/* models.h — graph builders for the models lmgraph trains (GPT decoder, BERT encoder) and
 * their objectives (clm, mlm, weighted sums, user objective graphs linked by value names). */
#ifndef LMG_MODELS_H
#define LMG_MODELS_H

#include "../graph/graph.h"

/* What an architecture changes in the one transformer body (models/transformer.c). */
typedef struct lmg_model_arch {
    const char *name;      /* "gpt", "bert" */
    int causal;            /* attention of the default pass */
    int pad_key_mask;      /* mask padding keys (from ids, when pad_id >= 0) */
    const char *head_name; /* node of the tied output product */
    int head_bias;         /* output bias "head.bias" after it (BERT's MLM head) */
    const char *objective; /* default objective */
    const char *pool;      /* default pooling of the classification head */
} lmg_model_arch;
/* The architecture c->arch names (gpt for a name lmg_model_config_check refuses). */
const lmg_model_arch *lmg_model_arch_of(const lmg_model_config *c);

/* Read a config back from a graph's metadata (strings point into g's metadata). */
lmg_status lmg_model_config_from_graph(const lmg_graph *g, lmg_model_config *c);
/* Record `c` in g's metadata. */
lmg_status lmg_model_config_to_graph(lmg_graph *g, const lmg_model_config *c);

/* ---- objectives (models/objective.c) ---------------------------------------------- */
/* One term of an objective spec "name[:weight],..." */
typedef struct lmg_objective_term {
    char name[32];
    double weight;
} lmg_objective_term;
#define LMG_MAX_OBJECTIVE_TERMS 8
/* Parse "mlm:1.0,clm:0.5" (weights default to 1, must be finite and > 0; names known:
 * clm, mlm, sup; "none" gives zero terms). */
lmg_status lmg_objective_parse(const char *spec, lmg_objective_term *terms, int *n_terms);

/* What a view of an objective applies: a built-in model (config) or a user's forward graph
 * (graph, which reads "ids" and outputs "logits" and/or "hidden"; see lmg_model_graph_apply).
 * Exactly one is set. */
typedef struct lmg_model_source {
    const lmg_model_config *config;
    const lmg_graph *graph;
} lmg_model_source;

/* Check an objective graph on its own (verified as a copy is not needed: it is verified in
 * place, under trial sizes when it names dimensions): an output "loss" that is a scalar
 * f32, outputs named "loss/..." scalar f32, outputs named "<view>/ids" i32 of rank 2.
 * Errors name the graph and the output. */
lmg_status lmg_objective_check(lmg_graph *obj);

/* Link a user objective graph into `model` by value names: every input of `obj` must name
 * a value of `model` with the same dtype and shape (e.g. "ids", "logits", "hidden", "wte",
 * "mlm/targets"); an input "targets" i32[B,T] the model lacks becomes a model input (the
 * trainer feeds next-token targets to it). Its nodes and initializers are copied under
 * `prefix` ("obj/" when NULL; trainable initializers stay parameters) and its scalar f32
 * output "loss" becomes "<prefix>loss", whose id goes to *loss. Errors name the graph and
 * the missing or mismatching value. `obj` itself is not changed. */
lmg_status lmg_objective_link(lmg_graph *model, const lmg_graph *obj, const char *prefix,
                              int *loss);
/* lmg_objective_link, plus views: an objective output "<v>/ids" i32[rows,T] (computed from
 * the batch with any ops, random ones included) makes a view v: the model of `src` is
 * applied to it with every parameter shared, with key padding mask "<v>/mask" ([rows,T],
 * 1 keep, 0 pad) when the objective outputs one, and the objective's inputs "<v>/logits"
 * and "<v>/hidden" read that pass. A view whose ids depend on its own pass is refused as a
 * cycle through the model. Outputs named "loss/..." become model outputs of that name (the
 * trainer logs them). src may be NULL when the objective has no views. */
lmg_status lmg_objective_link_model(lmg_graph *model, const lmg_graph *obj, const char *prefix,
                                    const lmg_model_source *src, int *loss);
/* An objective that reads only its views leaves the model's pass over the raw ids unused:
 * drop g's outputs "logits" and "hidden" and what only they needed (lmg_graph_prune). No
 * change when obj reads logits or hidden, or has no views. */
lmg_status lmg_objective_drop_unread_pass(lmg_graph *g, const lmg_graph *obj);
/* Add `weight * term` into the model's "loss" output: creates "loss" when the model has
 * none, otherwise renames the old one to "loss/model" and sums. */
lmg_status lmg_objective_add_loss(lmg_graph *model, int term, double weight);

/* ---- pieces, for model and objective builders ------------------------------------- */
/* Apply the model to `ids` (i32[B,seq], any B): parameters are created on first use and
 * reused by name afterwards, so several passes share one set of weights. causal < 0 means
 * the arch's own (gpt 1, bert 0). Node names start with `scope`. Writes the logits
 * [B,T,V] and hidden [B,T,C] value ids. */
lmg_status lmg_model_apply(lmg_graph *g, const lmg_model_config *c, int ids, int causal,
                           const char *scope, int *logits, int *hidden);
/* lmg_model_apply with an optional key padding mask f32[B,T] (1 keep, 0 pad; -1 = none,
 * which for BERT with pad_id >= 0 means the mask from the ids). */
lmg_status lmg_model_apply_masked(lmg_graph *g, const lmg_model_config *c, int ids, int key_mask,
                                  int causal, const char *scope, int *logits, int *hidden);
/* Apply a user's forward graph `fwd` to `ids` inside g (models/user.c): its nodes are copied
 * with names under `scope`, its input "ids" reads `ids` (the same dtype and shape), an input
 * "key_mask" (when it has one) reads key_mask, any other input reads g's value of that name,
 * and its initializers are g's of the same name (created from fwd's on first use, so every
 * pass shares them). Random ops get keys mixed with the scope, so views draw independent
 * masks. Writes the copies of fwd's "logits" and "hidden" (-1 when fwd has none). */
lmg_status lmg_model_graph_apply(lmg_graph *g, const lmg_graph *fwd, int ids, int key_mask,
                                 const char *scope, int *logits, int *hidden);
/* The forward graph of a training run whose model is a user's graph `fwd` (models/user.c):
 * fwd reads "ids" i32[B,T] (B and T may be names, bound to c->batch and c->seq; numbers must
 * match them), optionally "targets", and outputs "logits" f32[B,T,c->vocab] and/or "hidden",
 * and optionally a scalar "loss". The loss is: obj linked to it (views apply fwd again,
 * sharing its parameters) plus fwd's own "loss" when it has one; without obj, fwd's "loss",
 * or else next-token cross-entropy on its logits (a "targets" input is added); c->objective
 * is not used. c's sizes, and "model.graph" = fwd's name, go into the metadata. */
lmg_status lmg_model_graph_build(const lmg_graph *fwd, const lmg_model_config *c,
                                 const lmg_graph *obj, double weight, lmg_graph **out);
/* Take the sizes a model graph fixes by number into c: batch and seq from "ids", vocab from
 * "logits" (named dimensions leave c as it is). */
void lmg_model_graph_config(const lmg_graph *fwd, lmg_model_config *c);
/* Get or create parameter `name` (rank 1: [d0], rank 2: [d0,d1]); init 0 normal(std),
 * 1 zeros, 2 ones, drawn from (c->seed, name). -1 with g->status set on failure. */
int lmg_model_param(lmg_graph *g, const lmg_model_config *c, const char *name, int rank,
                    int64_t d0, int64_t d1, int init, double std);
/* Dropout node `name` with c's rate, seed and a key from the name; x itself when the rate is 0. */
int lmg_model_dropout(lmg_graph *g, const lmg_model_config *c, int x, const char *name);
/* LayerNorm node `name` over the last axis; returns y. */
int lmg_model_layer_norm(lmg_graph *g, int x, int gamma, int beta, const char *name);
/* ---- the classification head (models/head.c) -------------------------------------- */
/* The pooling a config uses ("cls", "last" or "mean"). */
const char *lmg_model_pool(const lmg_model_config *c);
/* Pool hidden [B,T,C] of a pass over ids [B,T] into [B,C]: "cls" takes position 0, "last"
 * the last position whose id is not pad_id (rows are right-padded), "mean" the mean over
 * the positions whose id is not pad_id. Node names start with scope. Returns the value. */
int lmg_model_pool_hidden(lmg_graph *g, const char *pool, int pad_id, const char *scope,
                          int ids, int hidden);
/* Class logits [B,K]: pooled (dropout when c->dropout) times "cls.w" [C,K] plus "cls.b" [K]. */
int lmg_model_cls_head(lmg_graph *g, const lmg_model_config *c, const char *scope, int ids,
                       int hidden);

#endif
