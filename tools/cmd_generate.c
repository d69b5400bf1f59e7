/* cmd_generate.c — `lmg generate`: sample text from a trained GPT run (its best weights by
 * default) with temperature and top-k sampling. */
#include "cli.h"
#include "../train/train.h"
#include "../text/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lmg_cmd_generate(int argc, char **argv);

static const char *const CMD = "generate";

static void help(FILE *f)
{
    fprintf(f,
            "usage: lmg generate RUN_DIR [--prompt TEXT] [--tokens N] [--temperature T]\n"
            "                    [--top-k K] [--seed S] [--samples N] [--checkpoint FILE]\n"
            "\n"
            "Continue TEXT (default: the start of a new document) with up to N tokens sampled\n"
            "from a GPT run trained by lmg train, one token at a time from the model's logits.\n"
            "Sampling stops early at the end-of-document token.\n"
            "\n"
            "options:\n"
            "  --prompt TEXT            the text to continue (default empty)\n"
            "  --tokens N               tokens to generate (default 100)\n"
            "  --temperature T          divide the logits by T; 0 = always the likeliest token\n"
            "                           (default 0.8)\n"
            "  --top-k K                sample among the K likeliest tokens, 0 = all (default 40)\n"
            "  --seed S                 the sampling seed (default 1)\n"
            "  --samples N              independent continuations (default 1)\n"
            "  --checkpoint FILE        weights to use (default RUN_DIR/best.safetensors)\n"
            "  --backend NAME           opencl (default) or ref\n"
            "  --device P:D             OpenCL platform and device\n"
            "  -h, --help               show this help\n"
            "\n"
            "exit status: 0 ok, 1 failure, 2 usage error\n");
}

int lmg_cmd_generate(int argc, char **argv)
{
    const char *dir = NULL, *prompt = "", *ck = NULL, *backend = NULL, *device = NULL;
    long long tokens = 100, top_k = 40, seed = 1, samples = 1;
    double temperature = 0.8;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (cli_is_help(argv[i])) {
            help(stdout);
            return 0;
        } else if ((v = cli_flag(argc, argv, &i, "--prompt", &missing))) {
            prompt = v;
        } else if (!missing && (v = cli_flag(argc, argv, &i, "--tokens", &missing))) {
            if (cli_parse_int(v, 1, 1000000, &tokens) != 0)
                return cli_usage_error(CMD, "--tokens wants an integer in 1..1000000, not '%s'", v);
        } else if (!missing && (v = cli_flag(argc, argv, &i, "--top-k", &missing))) {
            if (cli_parse_int(v, 0, 1 << 24, &top_k) != 0)
                return cli_usage_error(CMD, "--top-k wants a non-negative integer, not '%s'", v);
        } else if (!missing && (v = cli_flag(argc, argv, &i, "--seed", &missing))) {
            if (cli_parse_int(v, 0, INT64_MAX, &seed) != 0)
                return cli_usage_error(CMD, "--seed wants a non-negative integer, not '%s'", v);
        } else if (!missing && (v = cli_flag(argc, argv, &i, "--samples", &missing))) {
            if (cli_parse_int(v, 1, 1000, &samples) != 0)
                return cli_usage_error(CMD, "--samples wants an integer in 1..1000, not '%s'", v);
        } else if (!missing && (v = cli_flag(argc, argv, &i, "--temperature", &missing))) {
            if (cli_parse_double(v, &temperature) != 0 || temperature < 0)
                return cli_usage_error(CMD, "--temperature wants a number >= 0, not '%s'", v);
        } else if (!missing && (v = cli_flag(argc, argv, &i, "--checkpoint", &missing))) {
            ck = v;
        } else if (!missing && (v = cli_flag(argc, argv, &i, "--backend", &missing))) {
            backend = v;
        } else if (!missing && (v = cli_flag(argc, argv, &i, "--device", &missing))) {
            device = v;
        } else if (missing) {
            return cli_usage_error(CMD, "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-') {
            return cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        } else if (!dir) {
            dir = argv[i];
        } else {
            return cli_usage_error(CMD, "one run directory expected, got '%s' and '%s'", dir, argv[i]);
        }
    }
    if (!dir) return cli_usage_error(CMD, "no run directory given");
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
