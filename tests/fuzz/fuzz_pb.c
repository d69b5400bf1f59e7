/* fuzz_pb.c — libFuzzer harness for the binary .pb loader (lmg_graph_load_bytes): every
 * input is refused with a status or loads a verified graph that saves and loads again and
 * passes graph_check.h (plan, autodiff). */
#include "graph_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lmg_graph *g = NULL;
    if (lmg_graph_load_bytes(data, size, fuzz_dir(), &g) != LMG_OK) {
        FUZZ_ASSERT(g == NULL && lmg_last_error()[0], "a refusal leaves no graph and a message");
        return 0;
    }
    /* A graph the loader accepted is valid, so its own bytes must load again and save to
     * the same bytes (external data comes back inline). */
    void *b1 = NULL, *b2 = NULL;
    size_t n1 = 0, n2 = 0;
    lmg_graph *g2 = NULL;
    FUZZ_ASSERT(lmg_graph_save_bytes(g, &b1, &n1) == LMG_OK, "save: %s", lmg_last_error());
    FUZZ_ASSERT(lmg_graph_load_bytes(b1, n1, fuzz_dir(), &g2) == LMG_OK, "reload: %s",
                lmg_last_error());
    FUZZ_ASSERT(lmg_graph_save_bytes(g2, &b2, &n2) == LMG_OK, "save again: %s", lmg_last_error());
    FUZZ_ASSERT(n1 == n2 && memcmp(b1, b2, n1) == 0, "saving is not stable (%zu vs %zu bytes)", n1, n2);
    fuzz_check_graph(g);
    free(b1);
    free(b2);
    lmg_graph_free(g2);
    lmg_graph_free(g);
    return 0;
}
