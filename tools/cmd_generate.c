/* cmd_generate.c — `lmg generate`: sample text from a trained GPT run (its best weights by
 * default) with temperature and top-k sampling. */
#include "cli.h"
#include "../train/train.h"
#include "../text/text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lmg_cmd_generate(int argc, char **argv);

static const char *const CMD = "generate";

int lmg_cmd_generate(int argc, char **argv)
{
    const char *dir = NULL, *prompt = "", *ck = NULL, *backend = NULL, *device = NULL;
    long long tokens = 100, top_k = 40, seed = 1, samples = 1;
    double temperature = 0.8;
    int rc;
    cli_opt opts[] = {
        CLI_STR("--prompt", NULL, "TEXT", &prompt, "the text to continue (default empty)"),
        CLI_INT("--tokens", "N", &tokens, 1, 1000000, "tokens to generate (default 100)"),
        CLI_DOUBLE("--temperature", "T", &temperature, 0, HUGE_VAL,
                   "divide the logits by T; 0 = always the likeliest token\n(default 0.8)"),
        CLI_INT("--top-k", "K", &top_k, 0, 1 << 24, "sample among the K likeliest tokens, 0 = all (default 40)"),
        CLI_INT("--seed", "S", &seed, 0, INT64_MAX, "the sampling seed (default 1)"),
        CLI_INT("--samples", "N", &samples, 1, 1000, "independent continuations (default 1)"),
        CLI_RUN_OPTS(&ck, &backend, &device, &dir),
        CLI_OPT_END,
    };
    cli_spec spec = {
        .cmd = CMD,
        .usage = "lmg generate RUN_DIR [--prompt TEXT] [--tokens N] [--temperature T]\n"
                 "             [--top-k K] [--seed S] [--samples N] [--checkpoint FILE]",
        .about = "Continue TEXT (default: the start of a new document) with up to N tokens sampled\n"
                 "from a GPT run trained by lmg train, one token at a time from the model's logits.\n"
                 "Sampling stops early at the end-of-document token.",
        .opts = opts,
        .exit_status = "0 ok, 1 failure, 2 usage error",
    };
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    lmg_sampler *s = NULL;
    lmg_status st = lmg_sampler_open(dir, ck, backend, device, &s);
    if (st != LMG_OK) return cli_fail(CMD, st, "cannot load '%s'", dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/tok.bpe", lmg_sampler_data_dir(s));
    lmg_bpe *tok = NULL;
    st = lmg_bpe_load(path, &tok);
    if (st != LMG_OK) {
        lmg_sampler_free(s);
        return cli_fail(CMD, st, "cannot load the run's tokenizer");
    }
    lmg_tokens pt = {0};
    st = lmg_tokens_push(&pt, LMG_TOK_EOS); /* generation starts after a document boundary */
    if (st == LMG_OK) st = lmg_bpe_encode(tok, prompt, strlen(prompt), &pt);
    int32_t *ids = st == LMG_OK ? malloc((pt.n + (size_t)tokens) * sizeof *ids) : NULL;
    if (st == LMG_OK && !ids) st = lmg_error(LMG_ERR_NOMEM, "out of memory");
    for (long long k = 0; k < samples && st == LMG_OK; k++) {
        memcpy(ids, pt.ids, pt.n * sizeof *ids);
        int n = (int)pt.n;
        st = lmg_sampler_generate(s, ids, &n, (int)tokens, temperature, (int)top_k,
                                  (uint64_t)seed + (uint64_t)k, LMG_TOK_EOS);
        char *text = NULL;
        size_t len = 0;
        if (st == LMG_OK) st = lmg_bpe_decode(tok, ids + 1, (size_t)n - 1, 0, &text, &len);
        if (st == LMG_OK) {
            if (samples > 1) printf("--- %lld\n", k + 1);
            fwrite(text, 1, len, stdout);
            if (len == 0 || text[len - 1] != '\n') putchar('\n');
        }
        free(text);
    }
    free(ids);
    lmg_tokens_free(&pt);
    lmg_bpe_free(tok);
    lmg_sampler_free(s);
    return st == LMG_OK ? 0 : cli_fail(CMD, st, "generation failed");
}
