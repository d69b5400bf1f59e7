/* cases_nn.c — test cases for the nn op families (softmax, layernorm, masks, embedding,
 * attention, loss, random, optimizer) driving the gradient check and the backend parity test. */
#include "cases.h"

#include <math.h>

#define AI(n, v) {.name = (char *)(n), .type = LMG_ATTR_INT, .i = (v)}
#define AF(n, v) {.name = (char *)(n), .type = LMG_ATTR_FLOAT, .f = (v)}
#define I32 LMG_DTYPE_I32
#define F32 LMG_DTYPE_F32

/* ---- input generators for the cases that need particular values -------------------- */

static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void fill_f32(lmg_tensor *t, double lo, double hi, uint64_t s)
{
    for (int64_t i = 0; i < lmg_numel(t); i++)
        lmg_f32(t)[i] = (float)(lo + (hi - lo) * (double)(next(&s) >> 11) * 0x1.0p-53);
}

static void fill_i32(lmg_tensor *t, int64_t lo, int64_t hi, uint64_t s)
{
    for (int64_t i = 0; i < lmg_numel(t); i++)
        lmg_i32(t)[i] = (int32_t)(lo + (int64_t)(next(&s) % (uint64_t)(hi - lo)));
}

/* CrossEntropy (logits, targets, weights?) with about a third of the targets ignored (-100);
 * V is the logits' last dim; target 0 of every third position is the ignore index. */
static void ce_targets(lmg_tensor *t, int64_t V, int32_t ignore, uint64_t s)
{
    fill_i32(t, 0, V, s);
    for (int64_t i = 0; i < lmg_numel(t); i += 3) lmg_i32(t)[i] = ignore;
}

static void init_ce_ignore(int k, lmg_tensor *t, uint64_t s)
{
    if (k == 1) ce_targets(t, 7, -100, s);
    else if (k == 2) fill_f32(t, 0.0, 2.0, s);
    else fill_f32(t, -2.0, 2.0, s);
}

static void init_ce_all_ignored(int k, lmg_tensor *t, uint64_t s)
{
    if (k == 1)
        for (int64_t i = 0; i < lmg_numel(t); i++) lmg_i32(t)[i] = -100;
    else fill_f32(t, -1.0, 1.0, s);
}

/* Targets 0..V+1 with ignore_index 2: some ignored, some out of range (not counted). */
static void init_ce_custom(int k, lmg_tensor *t, uint64_t s)
{
    if (k == 1) fill_i32(t, -1, 7, s);
    else fill_f32(t, -1.0, 1.0, s);
}

/* Attention (q, k, v, key_mask): mask of 0/1 keeping key 0 of each batch so every query
 * sees at least one key (the fully-masked case is forward-only). */
static void init_attn_mask(int k, lmg_tensor *t, uint64_t s)
{
    if (k < 3) {
        fill_f32(t, -1.0, 1.0, s);
        return;
    }
    int64_t B = t->shape.dims[0], S = t->shape.dims[1];
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < S; j++)
            lmg_f32(t)[b * S + j] = j == 0 || (next(&s) & 1) ? 1.0f : 0.0f;
}

/* Batch 1's keys all dropped: its queries see nothing (out 0, lse -inf). */
static void init_attn_dead_batch(int k, lmg_tensor *t, uint64_t s)
{
    init_attn_mask(k, t, s);
    if (k == 3)
        for (int64_t j = 0; j < t->shape.dims[1]; j++) lmg_f32(t)[t->shape.dims[1] + j] = 0.0f;
}

/* MlmCorrupt ids with specials (< 5) mixed in. */
static void init_mlm(int k, lmg_tensor *t, uint64_t s) { fill_i32(t, 0, 50, s); }

const lmg_case lmg_cases_nn[] = {
    /* ---- Softmax, LogSoftmax -------------------------------------------------------- */
    {.name = "Softmax/1", .op = LMG_OP_SOFTMAX, .n_in = 1, .shape = {"1"}},
    {.name = "Softmax/2x7", .op = LMG_OP_SOFTMAX, .n_in = 1, .shape = {"2,7"}},
    {.name = "Softmax/3x1x13", .op = LMG_OP_SOFTMAX, .n_in = 1, .shape = {"3,1,13"},
     .lo = {-6}, .hi = {6}},
    {.name = "Softmax/large-logits", .op = LMG_OP_SOFTMAX, .n_in = 1, .shape = {"2,5"},
     .lo = {80}, .hi = {90}},
    {.name = "LogSoftmax/1", .op = LMG_OP_LOG_SOFTMAX, .n_in = 1, .shape = {"1"}},
    {.name = "LogSoftmax/3x5", .op = LMG_OP_LOG_SOFTMAX, .n_in = 1, .shape = {"3,5"}},
    {.name = "LogSoftmax/2x3x11", .op = LMG_OP_LOG_SOFTMAX, .n_in = 1, .shape = {"2,3,11"},
     .lo = {-5}, .hi = {5}},
    {.name = "SoftmaxGrad/3x7", .op = LMG_OP_SOFTMAX_GRAD, .n_in = 2, .shape = {"3,7", "3,7"},
     .lo = {-1, 0}, .hi = {1, 1}, .nograd = 1},
    {.name = "LogSoftmaxGrad/2x9", .op = LMG_OP_LOG_SOFTMAX_GRAD, .n_in = 2, .shape = {"2,9", "2,9"},
     .lo = {-1, -4}, .hi = {1, 0}, .nograd = 1},

    /* ---- LayerNorm (x, gamma, beta) -> y, mean, rstd --------------------------------- */
    {.name = "LayerNorm/4x7", .op = LMG_OP_LAYER_NORM, .n_in = 3, .shape = {"4,7", "7", "7"},
     .lo = {-2, 0.5, -1}, .hi = {2, 1.5, 1}},
    {.name = "LayerNorm/C1", .op = LMG_OP_LAYER_NORM, .n_in = 3, .shape = {"3,1", "1", "1"}},
    {.name = "LayerNorm/rank1", .op = LMG_OP_LAYER_NORM, .n_in = 3, .shape = {"5", "5", "5"},
     .lo = {-2, 0.5, -1}, .hi = {2, 1.5, 1}},
    {.name = "LayerNorm/2x3x5-eps", .op = LMG_OP_LAYER_NORM, .n_in = 3, .shape = {"2,3,5", "5", "5"},
     .n_attr = 1, .attrs = {AF("eps", 1e-3)}, .lo = {-2, 0.5, -1}, .hi = {2, 1.5, 1}},
    {.name = "LayerNormGrad/3x5", .op = LMG_OP_LAYER_NORM_GRAD, .n_in = 5,
     .shape = {"3,5", "3,5", "5", "3", "3"}, .lo = {-1, -1, 0.5, -0.3, 0.5},
     .hi = {1, 1, 1.5, 0.3, 2}, .nograd = 1},

    /* ---- masks ----------------------------------------------------------------------- */
    {.name = "CausalMask/4x4-fill0", .op = LMG_OP_CAUSAL_MASK, .n_in = 1, .shape = {"2,4,4"},
     .n_attr = 1, .attrs = {AF("fill", 0.0)}},
    {.name = "CausalMask/T<S", .op = LMG_OP_CAUSAL_MASK, .n_in = 1, .shape = {"3,5"},
     .n_attr = 1, .attrs = {AF("fill", -2.5)}},
    {.name = "CausalMask/T>S", .op = LMG_OP_CAUSAL_MASK, .n_in = 1, .shape = {"1,1,5,3"},
     .n_attr = 1, .attrs = {AF("fill", 0.0)}},
    {.name = "CausalMask/1x1", .op = LMG_OP_CAUSAL_MASK, .n_in = 1, .shape = {"1,1"},
     .n_attr = 1, .attrs = {AF("fill", 0.0)}},
    {.name = "CausalMask/default-inf", .op = LMG_OP_CAUSAL_MASK, .n_in = 1, .shape = {"2,3,7"},
     .nograd = 1},
    {.name = "PaddingMask/2x9", .op = LMG_OP_PADDING_MASK, .n_in = 1, .dtype = {I32},
     .shape = {"2,9"}, .n_attr = 1, .attrs = {AI("pad_id", 0)}, .lo = {0}, .hi = {3}, .nograd = 1},
    {.name = "PaddingMask/scalar", .op = LMG_OP_PADDING_MASK, .n_in = 1, .dtype = {I32},
     .shape = {""}, .n_attr = 1, .attrs = {AI("pad_id", 1)}, .lo = {0}, .hi = {3}, .nograd = 1},

    /* ---- Embedding (table, ids) ------------------------------------------------------ */
    {.name = "Embedding/repeated-ids", .op = LMG_OP_EMBEDDING, .n_in = 2, .dtype = {F32, I32},
     .shape = {"5,3", "2,4"}, .lo = {-1, 0}, .hi = {1, 5}, .no_grad_in = 2},
    {.name = "Embedding/out-of-range", .op = LMG_OP_EMBEDDING, .n_in = 2, .dtype = {F32, I32},
     .shape = {"4,7", "11"}, .lo = {-1, -2}, .hi = {1, 7}, .no_grad_in = 2},
    {.name = "Embedding/V1-scalar-id", .op = LMG_OP_EMBEDDING, .n_in = 2, .dtype = {F32, I32},
     .shape = {"1,4", ""}, .lo = {-1, 0}, .hi = {1, 1}, .no_grad_in = 2},
    {.name = "EmbeddingGrad/2x3x4", .op = LMG_OP_EMBEDDING_GRAD, .n_in = 2, .dtype = {F32, I32},
     .shape = {"2,3,4", "2,3"}, .n_attr = 1, .attrs = {AI("num_embeddings", 5)}, .lo = {-1, -1},
     .hi = {1, 6}, .nograd = 1},

    /* ---- Attention (q, k, v, key_mask?) ---------------------------------------------- */
    {.name = "Attention/plain", .op = LMG_OP_ATTENTION, .n_in = 3,
     .shape = {"1,2,3,4", "1,2,3,4", "1,2,3,4"}},
    {.name = "Attention/causal", .op = LMG_OP_ATTENTION, .n_in = 3,
     .shape = {"2,1,5,3", "2,1,5,3", "2,1,5,3"}, .n_attr = 1, .attrs = {AI("causal", 1)}},
    {.name = "Attention/causal-T<S", .op = LMG_OP_ATTENTION, .n_in = 3,
     .shape = {"1,2,2,3", "1,2,5,3", "1,2,5,3"}, .n_attr = 1, .attrs = {AI("causal", 1)}},
    {.name = "Attention/T!=S-scale", .op = LMG_OP_ATTENTION, .n_in = 3,
     .shape = {"1,1,3,2", "1,1,7,2", "1,1,7,2"}, .n_attr = 1, .attrs = {AF("scale", 0.7)},
     .lo = {-2, -2, -1}, .hi = {2, 2, 1}},
    {.name = "Attention/key-mask", .op = LMG_OP_ATTENTION, .n_in = 4,
     .shape = {"2,2,3,4", "2,2,5,4", "2,2,5,4", "2,5"}, .init = init_attn_mask, .no_grad_in = 8},
    {.name = "Attention/causal-key-mask", .op = LMG_OP_ATTENTION, .n_in = 4,
     .shape = {"2,1,4,2", "2,1,4,2", "2,1,4,2", "2,4"}, .n_attr = 1, .attrs = {AI("causal", 1)},
     .init = init_attn_mask, .no_grad_in = 8},
    {.name = "Attention/D1", .op = LMG_OP_ATTENTION, .n_in = 3,
     .shape = {"1,3,2,1", "1,3,3,1", "1,3,3,1"}},
    /* Forward-only: a query row that sees no key has lse -inf, which the weighted-sum loss
     * of the gradient check cannot difference. */
    {.name = "Attention/fully-masked-row-causal-T>S", .op = LMG_OP_ATTENTION, .n_in = 3,
     .shape = {"1,2,4,3", "1,2,3,3", "1,2,3,3"}, .n_attr = 1, .attrs = {AI("causal", 1)},
     .nograd = 1},
    {.name = "Attention/fully-masked-batch", .op = LMG_OP_ATTENTION, .n_in = 4,
     .shape = {"2,1,3,2", "2,1,4,2", "2,1,4,2", "2,4"}, .init = init_attn_dead_batch, .nograd = 1},
    {.name = "AttentionGrad/causal-mask", .op = LMG_OP_ATTENTION_GRAD, .n_in = 7,
     .shape = {"1,2,3,4", "1,2,3,4", "1,2,5,4", "1,2,5,4", "1,2,3,4", "1,2,3", "1,5"},
     .n_attr = 1, .attrs = {AI("causal", 1)}, .lo = {-1, -1, -1, -1, -1, 0.5, 1},
     .hi = {1, 1, 1, 1, 1, 2, 1.5}, .nograd = 1},

    /* ---- CrossEntropy (logits, targets, weights?) ------------------------------------- */
    {.name = "CrossEntropy/4x5", .op = LMG_OP_CROSS_ENTROPY, .n_in = 2, .dtype = {F32, I32},
     .shape = {"4,5", "4"}, .lo = {-2, 0}, .hi = {2, 5}},
    {.name = "CrossEntropy/ignore", .op = LMG_OP_CROSS_ENTROPY, .n_in = 2, .dtype = {F32, I32},
     .shape = {"3,4,7", "3,4"}, .init = init_ce_ignore},
    {.name = "CrossEntropy/weights", .op = LMG_OP_CROSS_ENTROPY, .n_in = 3, .dtype = {F32, I32, F32},
     .shape = {"6,5", "6", "6"}, .lo = {-2, 0, 0}, .hi = {2, 5, 2}, .no_grad_in = 4},
    {.name = "CrossEntropy/ignore-weights", .op = LMG_OP_CROSS_ENTROPY, .n_in = 3,
     .dtype = {F32, I32, F32}, .shape = {"2,5,7", "2,5", "2,5"}, .init = init_ce_ignore,
     .no_grad_in = 4},
    {.name = "CrossEntropy/all-ignored", .op = LMG_OP_CROSS_ENTROPY, .n_in = 2, .dtype = {F32, I32},
     .shape = {"3,4", "3"}, .init = init_ce_all_ignored},
    {.name = "CrossEntropy/ignore_index=2-out-of-range", .op = LMG_OP_CROSS_ENTROPY, .n_in = 2,
     .dtype = {F32, I32}, .shape = {"9,5", "9"}, .n_attr = 1, .attrs = {AI("ignore_index", 2)},
     .init = init_ce_custom},
    {.name = "CrossEntropy/V1", .op = LMG_OP_CROSS_ENTROPY, .n_in = 2, .dtype = {F32, I32},
     .shape = {"3,1", "3"}, .lo = {-1, 0}, .hi = {1, 1}},
    {.name = "CrossEntropyGrad/weights", .op = LMG_OP_CROSS_ENTROPY_GRAD, .n_in = 4,
     .dtype = {F32, F32, I32, F32}, .shape = {"", "3,5", "3", "3"}, .lo = {0.5, -2, -1, 0},
     .hi = {2, 2, 5, 2}, .nograd = 1},
    {.name = "CrossEntropyGrad/plain", .op = LMG_OP_CROSS_ENTROPY_GRAD, .n_in = 3,
     .dtype = {F32, F32, I32}, .shape = {"", "2,3,4", "2,3"}, .lo = {0.5, -2, 0},
     .hi = {2, 2, 4}, .nograd = 1},

    /* ---- random ops ---------------------------------------------------------------- */
    {.name = "Dropout/p0.1", .op = LMG_OP_DROPOUT, .n_in = 1, .shape = {"8,16"}, .n_attr = 2,
     .attrs = {AF("p", 0.1), AI("key", 11)}},
    {.name = "Dropout/p0.5-seed", .op = LMG_OP_DROPOUT, .n_in = 1, .shape = {"7,3"}, .n_attr = 3,
     .attrs = {AF("p", 0.5), AI("seed", 5), AI("key", 12)}},
    {.name = "Dropout/p0", .op = LMG_OP_DROPOUT, .n_in = 1, .shape = {"5"}, .n_attr = 2,
     .attrs = {AF("p", 0.0), AI("key", 13)}},
    {.name = "Bernoulli/4x8", .op = LMG_OP_BERNOULLI, .n_in = 1, .shape = {"4,8"}, .n_attr = 3,
     .attrs = {AF("p", 0.3), AI("seed", 1), AI("key", 21)}, .nograd = 1},
    {.name = "Bernoulli/i32-shape", .op = LMG_OP_BERNOULLI, .n_in = 1, .dtype = {I32},
     .shape = {"3,5"}, .n_attr = 2, .attrs = {AF("p", 0.5), AI("key", 22)}, .nograd = 1},
    {.name = "RandomInt/17", .op = LMG_OP_RANDOM_INT, .n_in = 1, .dtype = {I32}, .shape = {"17"},
     .n_attr = 3, .attrs = {AI("low", 3), AI("high", 11), AI("key", 31)}, .nograd = 1},
    {.name = "RandomInt/negative", .op = LMG_OP_RANDOM_INT, .n_in = 1, .shape = {"2,6"},
     .n_attr = 4, .attrs = {AI("low", -7), AI("high", 2), AI("seed", 9), AI("key", 32)}, .nograd = 1},
    {.name = "MlmCorrupt/4x16", .op = LMG_OP_MLM_CORRUPT, .n_in = 1, .dtype = {I32},
     .shape = {"4,16"}, .n_attr = 5,
     .attrs = {AI("mask_id", 4), AI("vocab", 50), AI("special_below", 5), AI("seed", 3),
               AI("key", 41)},
     .init = init_mlm, .nograd = 1},
    {.name = "MlmCorrupt/p0.5", .op = LMG_OP_MLM_CORRUPT, .n_in = 1, .dtype = {I32},
     .shape = {"37"}, .n_attr = 4,
     .attrs = {AF("p", 0.5), AI("mask_id", 0), AI("vocab", 50), AI("key", 42)},
     .init = init_mlm, .nograd = 1},

    {.name = "SpanMask/4x40", .op = LMG_OP_SPAN_MASK, .n_in = 1, .dtype = {I32},
     .shape = {"4,40"}, .n_attr = 4,
     .attrs = {AF("p", 0.1), AF("len_p", 0.3), AI("max_len", 6), AI("key", 51)}, .nograd = 1},
    {.name = "SpanMask/rank3-seed", .op = LMG_OP_SPAN_MASK, .n_in = 1, .shape = {"2,3,16"},
     .n_attr = 5,
     .attrs = {AF("p", 0.3), AF("len_p", 0.2), AI("max_len", 10), AI("seed", 7), AI("key", 52)},
     .nograd = 1},
    {.name = "SpanMask/len1", .op = LMG_OP_SPAN_MASK, .n_in = 1, .shape = {"9"}, .n_attr = 4,
     .attrs = {AF("p", 0.5), AF("len_p", 1.0), AI("max_len", 1), AI("key", 53)}, .nograd = 1},

    /* ---- AdamW (param, grad, m, v, lr, step, gscale) ---------------------------------- */
    {.name = "AdamW/13", .op = LMG_OP_ADAMW, .n_in = 7, .dtype = {F32, F32, F32, F32, F32, I32, F32},
     .shape = {"13", "13", "13", "13", "", "", ""}, .n_attr = 1, .attrs = {AF("weight_decay", 0.01)},
     .lo = {-1, -1, -0.1, 0, 0.001, 1, 0.5}, .hi = {1, 1, 0.1, 0.01, 0.01, 20, 1}, .nograd = 1},
    {.name = "AdamW/1-betas", .op = LMG_OP_ADAMW, .n_in = 7,
     .dtype = {F32, F32, F32, F32, F32, I32, F32},
     .shape = {"1", "1", "1", "1", "1", "1", "1"}, .n_attr = 3,
     .attrs = {AF("beta1", 0.8), AF("beta2", 0.95), AF("eps", 1e-6)},
     .lo = {-1, -1, -0.1, 0, 0.001, 1, 1}, .hi = {1, 1, 0.1, 0.01, 0.01, 3, 1}, .nograd = 1},

    /* ---- AllReduce: one rank here (the identity); tests/cli_mpi.sh runs it over two ---- */
    {.name = "AllReduce/2x3x5", .op = LMG_OP_ALL_REDUCE, .n_in = 1, .shape = {"2,3,5"}},
    {.name = "AllReduce/sum-scalar", .op = LMG_OP_ALL_REDUCE, .n_in = 1, .shape = {""}, .n_attr = 1,
     .attrs = {AI("mean", 0)}},
};
const int lmg_n_cases_nn = (int)(sizeof lmg_cases_nn / sizeof lmg_cases_nn[0]);
