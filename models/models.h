/* models.h — graph builders for the models lmgraph trains (GPT decoder, BERT encoder) and
 * their objectives (clm, mlm, weighted sums, user objective graphs linked by value names). */
#ifndef LMG_MODELS_H
#define LMG_MODELS_H

#include "../graph/graph.h"

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
 * clm, mlm; "none" gives zero terms). */
lmg_status lmg_objective_parse(const char *spec, lmg_objective_term *terms, int *n_terms);

/* Link a user objective graph into `model` by value names: every input of `obj` must name
 * a value of `model` with the same dtype and shape (e.g. "ids", "logits", "hidden", "wte",
 * "mlm/targets"); an input "targets" i32[B,T] the model lacks becomes a model input (the
 * trainer feeds next-token targets to it). Its nodes and initializers are copied under
 * `prefix` ("obj/" when NULL; trainable initializers stay parameters) and its scalar f32
 * output "loss" becomes "<prefix>loss", whose id goes to *loss. Errors name the graph and
 * the missing or mismatching value. `obj` itself is not changed. */
lmg_status lmg_objective_link(lmg_graph *model, const lmg_graph *obj, const char *prefix,
                              int *loss);
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
/* Get or create parameter `name` (rank 1: [d0], rank 2: [d0,d1]); init 0 normal(std),
 * 1 zeros, 2 ones, drawn from (c->seed, name). -1 with g->status set on failure. */
int lmg_model_param(lmg_graph *g, const lmg_model_config *c, const char *name, int rank,
                    int64_t d0, int64_t d1, int init, double std);
/* LayerNorm node `name` over the last axis; returns y. */
int lmg_model_layer_norm(lmg_graph *g, int x, int gamma, int beta, const char *name);
/* BERT's MLM head over h [N,C] (models/bert.c): h wte^T + head.bias, logits [N,V]. */
int lmg_bert_head(lmg_graph *g, const lmg_model_config *c, const char *scope, int h, int wte);

#endif
