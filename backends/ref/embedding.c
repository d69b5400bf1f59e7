/* embedding.c — reference kernels of Embedding (row gather) and EmbeddingGrad (scatter-add,
 * accumulated in double so the order of repeated ids hardly matters). */
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

/* Each row of dtable sums the dy rows of its ids in double, in position order. The positions
 * are grouped by id first (a stable counting sort), so one row of D sums is live at a time
 * instead of a (V,D) table of doubles. */
lmg_status lmg_ref_EMBEDDING_GRAD(const lmg_ref_ctx *c, const lmg_node *n,
                                  const lmg_tensor *const *in, lmg_tensor *const *out)
{
    const float *dy = lmg_f32(in[0]);    // (N,D)
    const int32_t *ids = lmg_i32(in[1]); // (N)
    float *dtable = lmg_f32(out[0]);     // (V,D)
    int64_t V = out[0]->shape.dims[0], D = out[0]->shape.dims[1], N = lmg_numel(in[1]);
    int64_t *start = calloc((size_t)V + 1, sizeof *start); // (V+1) first position of each id
    int64_t *at = malloc(((size_t)V + 1) * sizeof *at);     // (V+1) fill cursors
    int64_t *order = malloc((size_t)(N > 0 ? N : 1) * sizeof *order); // positions by id
    double *acc = malloc((size_t)(D > 0 ? D : 1) * sizeof *acc);        // (D)
    if (!start || !at || !order || !acc) {
        free(start);
        free(at);
        free(order);
        free(acc);
        return lmg_error(LMG_ERR_NOMEM, "node '%s': out of memory", n->name);
    }
    for (int64_t i = 0; i < N; i++)
        if (ids[i] >= 0 && ids[i] < V) start[ids[i] + 1]++;
    for (int64_t v = 0; v < V; v++) start[v + 1] += start[v];
    memcpy(at, start, ((size_t)V + 1) * sizeof *at);
    for (int64_t i = 0; i < N; i++)
        if (ids[i] >= 0 && ids[i] < V) order[at[ids[i]]++] = i;
    for (int64_t v = 0; v < V; v++) {
        for (int64_t d = 0; d < D; d++) acc[d] = 0.0;
        for (int64_t p = start[v]; p < start[v + 1]; p++) {
            const float *row = dy + order[p] * D;
            for (int64_t d = 0; d < D; d++) acc[d] += row[d];
        }
        for (int64_t d = 0; d < D; d++) dtable[v * D + d] = (float)acc[d];
    }
    free(start);
    free(at);
    free(order);
    free(acc);
    return LMG_OK;
}

lmg_status lmg_ref_TAKE_ALONG(const lmg_ref_ctx *c, const lmg_node *n, const lmg_tensor *const *in,
                              lmg_tensor *const *out)
{
    const lmg_shape *sx = &in[0]->shape, *si = &in[1]->shape;
    int64_t N = sx->dims[sx->rank - 1], M = si->dims[si->rank - 1];
    int64_t rows = M ? lmg_numel(in[1]) / M : 0;
    const int32_t *idx = lmg_i32(in[1]); // (rows, M)
    /* f32 and i32 are both 4 bytes: the gather moves words. */
    const uint32_t *x = (const uint32_t *)in[0]->data; // (rows, N)
    uint32_t *y = (uint32_t *)out[0]->data;            // (rows, M)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < M; j++) {
            int32_t k = idx[r * M + j];
            y[r * M + j] = k >= 0 && k < N ? x[r * N + k] : 0u;
        }
    return LMG_OK;
}
