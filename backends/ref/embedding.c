/* embedding.c — reference kernels of Embedding (row gather) and EmbeddingGrad (scatter-add,
 * accumulated in double so the order of repeated ids does not matter). */
#include "ref.h"

#include <stdlib.h>
#include <string.h>

lmg_status lmg_ref_EMBEDDING(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                             lmg_tensor *const *out)
{
    const float *table = lmg_f32(in[0]); // (V,D)
    const int32_t *ids = lmg_i32(in[1]); // (N)
    float *y = lmg_f32(out[0]);          // (N,D)
    int64_t V = in[0]->shape.dims[0], D = in[0]->shape.dims[1], N = lmg_numel(in[1]);
    for (int64_t i = 0; i < N; i++) {
        if (ids[i] >= 0 && ids[i] < V) memcpy(y + i * D, table + ids[i] * D, (size_t)D * sizeof *y);
        else memset(y + i * D, 0, (size_t)D * sizeof *y);
    }
    return LMG_OK;
}

lmg_status lmg_ref_EMBEDDING_GRAD(const lmg_ref_ctx *c, const lmg_node *n,
                                  const lmg_tensor *const *in, lmg_tensor *const *out)
{
    const float *dy = lmg_f32(in[0]);    // (N,D)
    const int32_t *ids = lmg_i32(in[1]); // (N)
    float *dtable = lmg_f32(out[0]);     // (V,D)
    int64_t V = out[0]->shape.dims[0], D = out[0]->shape.dims[1], N = lmg_numel(in[1]);
    double *acc = calloc((size_t)(V * D) + 1, sizeof *acc);
    if (!acc) return lmg_error(LMG_ERR_NOMEM, "node '%s': out of memory", n->name);
    for (int64_t i = 0; i < N; i++)
        if (ids[i] >= 0 && ids[i] < V)
            for (int64_t d = 0; d < D; d++) acc[ids[i] * D + d] += dy[i * D + d];
    for (int64_t k = 0; k < V * D; k++) dtable[k] = (float)acc[k];
    free(acc);
    return LMG_OK;
}
