/* fuzz_text.c — libFuzzer harness for the text-form parser (lmg_graph_parse): every input is
 * refused with a status or parses to a verified graph whose printed form parses back to
 * the same text, and which passes graph_check.h (plan, autodiff). */
#include "graph_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    char file[128];
    snprintf(file, sizeof file, "%s/fuzz.lmgt", fuzz_dir());
    lmg_graph *g = NULL;
    if (lmg_graph_parse(text, file, &g) != LMG_OK) {
        FUZZ_ASSERT(g == NULL && lmg_last_error()[0], "a refusal leaves no graph and a message");
        free(text);
        return 0;
    }
    char *p1 = NULL, *p2 = NULL;
    lmg_graph *g2 = NULL;
    FUZZ_ASSERT(lmg_graph_print(g, &p1) == LMG_OK, "print: %s", lmg_last_error());
    FUZZ_ASSERT(lmg_graph_parse(p1, file, &g2) == LMG_OK, "the printed form does not parse: %s\n%s",
                lmg_last_error(), p1);
    FUZZ_ASSERT(lmg_graph_print(g2, &p2) == LMG_OK, "print again: %s", lmg_last_error());
    FUZZ_ASSERT(strcmp(p1, p2) == 0, "printing is not stable:\n%s\n---\n%s", p1, p2);
    fuzz_check_graph(g);
    free(p1);
    free(p2);
    lmg_graph_free(g2);
    lmg_graph_free(g);
    free(text);
    return 0;
}
