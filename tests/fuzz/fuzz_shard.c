/* fuzz_shard.c — libFuzzer harness for the token shard loader (lmg_shard_open): every input
 * is refused with a status or opens to ids inside the header's vocabulary that the batch
 * readers serve without reading past the shard. */
#include "fuzz.h"
#include "../../text/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lmg_shard *s = NULL;
    if (lmg_shard_open(fuzz_file(data, size), NULL, &s) != LMG_OK) {
        FUZZ_ASSERT(s == NULL && lmg_last_error()[0], "a refusal leaves no shard and a message");
        return 0;
    }
    int64_t n = lmg_shard_n_tokens(s);
    int vocab = lmg_shard_vocab_size(s);
    FUZZ_ASSERT(n >= 0 && lmg_shard_n_docs(s) <= n && vocab >= LMG_TOK_MIN_VOCAB, "header");
    int32_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    if (!ids) abort();
    FUZZ_ASSERT(lmg_shard_read(s, 0, n, ids) == LMG_OK, "read: %s", lmg_last_error());
    for (int64_t i = 0; i < n; i++)
        FUZZ_ASSERT(ids[i] >= 0 && ids[i] < vocab, "id %d at %lld", ids[i], (long long)i);
    FUZZ_ASSERT(lmg_shard_read(s, 0, n + 1, ids) != LMG_OK, "reading past the end is refused");
    enum { B = 3, T = 4 };
    int32_t batch[B * (T + 1)];
    int64_t windows = lmg_shard_n_windows(s, T);
    for (int64_t w = 0; w <= windows; w += B) {
        int rows = -1;
        FUZZ_ASSERT(lmg_shard_batch_seq(s, w, B, T, batch, &rows) == LMG_OK, "window %lld",
                    (long long)w);
        FUZZ_ASSERT(rows >= 0 && rows <= B && (rows == B || w + rows == windows), "rows %d", rows);
        for (int r = 0; r < rows; r++)
            FUZZ_ASSERT(memcmp(batch + r * (T + 1), ids + (w + r) * T, (T + 1) * sizeof *ids) == 0,
                        "window %lld", (long long)(w + r));
    }
    lmg_status st = lmg_shard_batch_random(s, 7, 1, B, T, batch);
    FUZZ_ASSERT((st == LMG_OK) == (n >= T + 1), "random batch of %lld ids: %s", (long long)n,
                lmg_last_error());
    free(ids);
    lmg_shard_free(s);
    return 0;
}
