/* fuzz_safetensors.c — libFuzzer harness for the safetensors reader (lmg_st_open_bytes):
 * every input is refused with a status or opens to tensors whose byte ranges lie inside the
 * file, do not overlap and match dtype * shape. */
#include "fuzz.h"
#include "../../graph/safetensors.h"

typedef struct {
    uint64_t off, len;
} range;

static int by_offset(const void *a, const void *b)
{
    const range *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lmg_st_file *f = NULL;
    if (lmg_st_open_bytes(data, size, "fuzz.safetensors", &f) != LMG_OK) {
        FUZZ_ASSERT(f == NULL && lmg_last_error()[0], "a refusal leaves no file and a message");
        return 0;
    }
    int n = lmg_st_count(f);
    FUZZ_ASSERT(n >= 0 && lmg_st_name(f, n) == NULL && lmg_st_name(f, -1) == NULL, "count %d", n);
    range *r = malloc((size_t)(n ? n : 1) * sizeof *r);
    if (!r) abort();
    for (int i = 0; i < n; i++) {
        const char *name = lmg_st_name(f, i);
        FUZZ_ASSERT(name != NULL, "tensor %d has no name", i);
        lmg_dtype t;
        lmg_shape s;
        const void *p;
        size_t nbytes;
        uint64_t off, len;
        FUZZ_ASSERT(lmg_st_find(f, name, &t, &s, &p, &nbytes) == LMG_OK, "find '%s': %s", name,
                    lmg_last_error());
        FUZZ_ASSERT(lmg_st_range(f, name, &off, &len) == LMG_OK, "range '%s'", name);
        FUZZ_ASSERT(len == nbytes && (uint64_t)lmg_shape_numel(&s) * lmg_dtype_size(t) == nbytes,
                    "'%s': %zu bytes for its dtype and shape", name, nbytes);
        FUZZ_ASSERT(off <= size && len <= size - off, "'%s' lies outside the file", name);
        /* Touch every byte, so ASan sees a pointer that is not where the range says. */
        volatile uint8_t sum = 0;
        for (size_t k = 0; k < nbytes; k++) sum ^= ((const uint8_t *)p)[k];
        (void)sum;
        r[i] = (range){off, len};
    }
    qsort(r, (size_t)n, sizeof *r, by_offset);
    for (int i = 1; i < n; i++)
        FUZZ_ASSERT(r[i - 1].len == 0 || r[i - 1].off + r[i - 1].len <= r[i].off,
                    "byte ranges overlap at %llu", (unsigned long long)r[i].off);
    free(r);
    for (int i = 0; i < lmg_st_meta_count(f); i++) {
        const char *k = lmg_st_meta_key(f, i);
        FUZZ_ASSERT(k && lmg_st_meta(f, k), "metadata key %d", i);
    }
    lmg_st_close(f);
    return 0;
}
