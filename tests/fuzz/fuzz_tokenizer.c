/* fuzz_tokenizer.c — libFuzzer harness for the tokenizer file loader (lmg_bpe_load): every
 * input is refused with a status or loads a tokenizer that encodes and decodes text back to
 * the same bytes. */
#include "fuzz.h"
#include "../../text/text.h"

/* Every byte value, runs that merges join, and text the corpora hold. */
static size_t sample_text(char *buf)
{
    static const char words[] = "the quick brown fox, the lazy dog\n\n\t  the the the 2048 %% "
                                "caf\xc3\xa9 \xf0\x9f\x98\x80 ";
    size_t n = 0;
    for (int i = 0; i < 256; i++) buf[n++] = (char)i;
    memcpy(buf + n, words, sizeof words - 1);
    return n + sizeof words - 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lmg_bpe *t = NULL;
    if (lmg_bpe_load(fuzz_file(data, size), &t) != LMG_OK) {
        FUZZ_ASSERT(t == NULL && lmg_last_error()[0], "a refusal leaves no tokenizer and a message");
        return 0;
    }
    char text[512];
    size_t n = sample_text(text);
    lmg_tokens ids = {0};
    char *back = NULL;
    size_t back_n = 0;
    FUZZ_ASSERT(lmg_bpe_encode(t, text, n, &ids) == LMG_OK, "encode: %s", lmg_last_error());
    int vocab = lmg_bpe_vocab_size(t);
    for (size_t i = 0; i < ids.n; i++)
        FUZZ_ASSERT(ids.ids[i] >= LMG_TOK_BYTE0 && ids.ids[i] < vocab, "id %d outside %d..%d",
                    ids.ids[i], LMG_TOK_BYTE0, vocab - 1);
    FUZZ_ASSERT(lmg_bpe_decode(t, ids.ids, ids.n, 0, &back, &back_n) == LMG_OK, "decode: %s",
                lmg_last_error());
    FUZZ_ASSERT(back_n == n && memcmp(back, text, n) == 0, "decode(encode(text)) differs");
    /* Every id of the vocabulary decodes to the bytes the tokenizer says it stands for. */
    for (int32_t id = LMG_TOK_FIRST_MERGE; id < vocab; id++) {
        size_t len = 0;
        const uint8_t *p = lmg_bpe_token_bytes(t, id, &len);
        FUZZ_ASSERT(p && len >= 2, "merge %d stands for %zu bytes", id, len);
    }
    free(back);
    lmg_tokens_free(&ids);
    lmg_bpe_free(t);
    return 0;
}
