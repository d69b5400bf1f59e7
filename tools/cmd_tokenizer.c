/* cmd_tokenizer.c — `lmg tokenizer`: train a byte-level BPE tokenizer on a corpus, show it,
 * encode text to ids and decode ids to text. */
#include "cli.h"
#include "../text/text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *CMD = "tokenizer";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lmg tokenizer train --vocab N [FILE|DIR ...] -o TOK.bpe\n"
            "       lmg tokenizer encode TOK.bpe [--text TEXT | FILE | -]\n"
            "       lmg tokenizer decode TOK.bpe [--raw] ID ... | -\n"
            "       lmg tokenizer info TOK.bpe\n"
            "\n"
            "train   learn a byte-level BPE vocabulary of at most N ids (N >= %d: 5 specials and\n"
            "        256 bytes come first) from files and folders (folders are read recursively);\n"
            "        with no input, the fortunes collection in %s.\n"
            "        Prints the vocabulary size, merges, bytes per token on the corpus and seconds.\n"
            "encode  print the ids of TEXT, of a FILE's bytes, or of standard input ('-').\n"
            "decode  write the bytes of the ids (or of ids read from standard input with '-');\n"
            "        specials are written as <pad> <mask> <cls> <sep> <eos>, or skipped with --raw.\n"
            "info    print the vocabulary size, merges, fingerprint, and the first and last merges.\n",
            LMG_TOK_MIN_VOCAB, LMG_CORPUS_DEFAULT_DIR);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmd_train(int argc, char **argv)
{
    long long vocab = -1;
    const char *out = NULL;
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    size_t n_inputs = 0;
    if (!inputs) return cli_fail(CMD, LMG_ERR_NOMEM, "out of memory");
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        int missing = 0;
        const char *v;
        if (cli_is_help(argv[i])) {
            usage(stdout);
            free(inputs);
            return 0;
        } else if ((v = cli_flag(argc, argv, &i, "--vocab", &missing))) {
            if (cli_parse_int(v, 1, INT32_MAX, &vocab) != 0)
                rc = cli_usage_error(CMD, "--vocab wants a positive integer, not '%s'", v);
        } else if ((v = cli_flag(argc, argv, &i, "-o", &missing)) ||
                   (v = cli_flag(argc, argv, &i, "--out", &missing))) {
            out = v;
        } else if (missing) {
            rc = cli_usage_error(CMD, "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            rc = cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        } else {
            inputs[n_inputs++] = argv[i];
        }
    }
    if (!rc && vocab < 0) rc = cli_usage_error(CMD, "train needs --vocab N");
    if (!rc && !out) rc = cli_usage_error(CMD, "train needs -o TOK.bpe");
    if (!rc && vocab < LMG_TOK_MIN_VOCAB)
        rc = cli_usage_error(CMD, "--vocab %lld is too small: the minimum is %d (%d specials + 256 bytes)",
                             vocab, LMG_TOK_MIN_VOCAB, LMG_TOK_N_SPECIAL);
    if (rc) {
        free(inputs);
        return rc;
    }
    lmg_corpus *c = NULL;
    lmg_bpe *t = NULL;
    lmg_tokens toks = {0};
    lmg_status s = lmg_corpus_read(inputs, n_inputs, &c);
    free(inputs);
    if (s != LMG_OK) return cli_fail(CMD, s, "cannot read the corpus");
    printf("corpus: %zu files, %zu documents, %zu bytes\n", c->n_files, c->n_docs, c->n_bytes);
    double t0 = now_s();
    s = lmg_bpe_train(c, (int)vocab, &t);
    double t1 = now_s();
    if (s != LMG_OK) {
        lmg_corpus_free(c);
        return cli_fail(CMD, s, "training failed");
    }
    printf("trained: vocabulary %d ids (%d specials, 256 bytes, %d merges) in %.2f s\n",
           lmg_bpe_vocab_size(t), LMG_TOK_N_SPECIAL, lmg_bpe_n_merges(t), t1 - t0);
    if (lmg_bpe_vocab_size(t) < vocab)
        printf("note: no pair occurs twice any more, so the vocabulary stopped short of %lld\n", vocab);
    for (size_t d = 0; d < c->n_docs && s == LMG_OK; d++)
        s = lmg_bpe_encode(t, c->data + c->doc_off[d], c->doc_off[d + 1] - c->doc_off[d], &toks);
    double t2 = now_s();
    if (s == LMG_OK)
        printf("encoded the corpus: %zu tokens, %.3f bytes per token, in %.2f s\n", toks.n,
               toks.n ? (double)c->n_bytes / (double)toks.n : 0.0, t2 - t1);
    if (s == LMG_OK) s = lmg_bpe_save(t, out);
    if (s == LMG_OK) printf("wrote %s (fingerprint %016" PRIx64 ")\n", out, lmg_bpe_fingerprint(t));
    lmg_tokens_free(&toks);
    lmg_bpe_free(t);
    lmg_corpus_free(c);
    return s == LMG_OK ? 0 : cli_fail(CMD, s, "cannot finish");
}

/* All of standard input. */
static lmg_status read_stdin(char **data, size_t *n)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len - 1, stdin);
        if (len + 1 < cap) break;
        char *nb = realloc(buf, cap *= 2);
        if (!nb) free(buf);
        buf = nb;
    }
    if (!buf) return lmg_error(LMG_ERR_NOMEM, "out of memory reading standard input");
    if (ferror(stdin)) {
        free(buf);
        return lmg_error(LMG_ERR_IO, "error reading standard input");
    }
    buf[len] = 0;
    *data = buf;
    *n = len;
    return LMG_OK;
}

static int cmd_encode(int argc, char **argv)
{
    const char *tok_path = NULL, *text = NULL, *file = NULL;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else if ((v = cli_flag(argc, argv, &i, "--text", &missing))) {
            text = v;
        } else if (missing) {
            return cli_usage_error(CMD, "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        } else if (!tok_path) {
            tok_path = argv[i];
        } else if (!file) {
            file = argv[i];
        } else {
            return cli_usage_error(CMD, "encode takes one input, not '%s' too", argv[i]);
        }
    }
    if (!tok_path) return cli_usage_error(CMD, "encode needs a tokenizer file");
    if (text && file) return cli_usage_error(CMD, "give --text or a file, not both");
    if (!text && !file) return cli_usage_error(CMD, "encode needs --text TEXT, a file, or '-'");
    lmg_bpe *t;
    lmg_status s = lmg_bpe_load(tok_path, &t);
    if (s != LMG_OK) return cli_fail(CMD, s, "cannot load the tokenizer");
    char *data = NULL;
    size_t n = 0;
    if (text) n = strlen(text);
    else if (strcmp(file, "-") == 0) s = read_stdin(&data, &n);
    else s = cli_read_file(file, &data, &n);
    lmg_tokens toks = {0};
    if (s == LMG_OK) s = lmg_bpe_encode(t, text ? text : data, n, &toks);
    if (s == LMG_OK) {
        for (size_t i = 0; i < toks.n; i++) printf(i ? " %" PRId32 : "%" PRId32, toks.ids[i]);
        printf("\n");
    }
    lmg_tokens_free(&toks);
    free(data);
    lmg_bpe_free(t);
    return s == LMG_OK ? 0 : cli_fail(CMD, s, "cannot encode");
}

/* Parse whitespace-separated ids from s into toks; -1 and *bad at the first non-number. */
static int parse_ids(char *s, lmg_tokens *toks, char **bad)
{
    for (char *w = strtok(s, " \t\r\n,"); w; w = strtok(NULL, " \t\r\n,")) {
        long long v;
        if (cli_parse_int(w, INT32_MIN, INT32_MAX, &v) != 0) {
            *bad = w;
            return -1;
        }
        if (lmg_tokens_push(toks, (int32_t)v) != LMG_OK) return -2;
    }
    return 0;
}

static int cmd_decode(int argc, char **argv)
{
    const char *tok_path = NULL;
    int raw = 0, from_stdin = 0, rc = 0;
    lmg_tokens ids = {0};
    for (int i = 1; i < argc && !rc; i++) {
        char *bad = NULL;
        if (cli_is_help(argv[i])) {
            usage(stdout);
            lmg_tokens_free(&ids);
            return 0;
        } else if (strcmp(argv[i], "--raw") == 0) {
            raw = 1;
        } else if (!tok_path) {
            tok_path = argv[i];
        } else if (strcmp(argv[i], "-") == 0) {
            from_stdin = 1;
        } else if (parse_ids(argv[i], &ids, &bad) != 0) {
            rc = bad ? cli_usage_error(CMD, "'%s' is not a token id", bad)
                     : cli_fail(CMD, LMG_ERR_NOMEM, "out of memory");
        }
    }
    if (!rc && !tok_path) rc = cli_usage_error(CMD, "decode needs a tokenizer file");
    if (rc) {
        lmg_tokens_free(&ids);
        return rc;
    }
    lmg_status s = LMG_OK;
    if (from_stdin) {
        char *data, *bad = NULL;
        size_t n;
        s = read_stdin(&data, &n);
        if (s == LMG_OK) {
            int r = parse_ids(data, &ids, &bad);
            if (r == -1) rc = cli_fail(CMD, LMG_OK, "standard input: '%s' is not a token id", bad);
            if (r == -2) rc = cli_fail(CMD, LMG_ERR_NOMEM, "out of memory");
            free(data);
        }
    }
    lmg_bpe *t = NULL;
    if (s == LMG_OK && !rc) {
        s = lmg_bpe_load(tok_path, &t);
        if (s != LMG_OK) rc = cli_fail(CMD, s, "cannot load the tokenizer");
    } else if (s != LMG_OK) {
        rc = cli_fail(CMD, s, "cannot read the ids");
    }
    if (!rc) {
        char *text;
        size_t n;
        s = lmg_bpe_decode(t, ids.ids, ids.n, !raw, &text, &n);
        if (s != LMG_OK) {
            rc = cli_fail(CMD, s, "cannot decode");
        } else {
            fwrite(text, 1, n, stdout);
            free(text);
            if (fflush(stdout) != 0) rc = cli_fail(CMD, LMG_OK, "cannot write the output");
        }
    }
    lmg_bpe_free(t);
    lmg_tokens_free(&ids);
    return rc;
}

static void print_escaped(const uint8_t *p, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') fputs("\\n", stdout);
        else if (p[i] == '\t') fputs("\\t", stdout);
        else if (p[i] == '"' || p[i] == '\\') printf("\\%c", p[i]);
        else if (p[i] >= 0x20 && p[i] < 0x7f) putchar(p[i]);
        else printf("\\x%02x", p[i]);
    }
    putchar('"');
}

static int cmd_info(int argc, char **argv)
{
    if (argc >= 2 && cli_is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    if (argc != 2) return cli_usage_error(CMD, "info takes one tokenizer file");
    lmg_bpe *t;
    lmg_status s = lmg_bpe_load(argv[1], &t);
    if (s != LMG_OK) return cli_fail(CMD, s, "cannot load the tokenizer");
    int vocab = lmg_bpe_vocab_size(t);
    printf("%s: vocabulary %d ids (%d specials, 256 bytes, %d merges), fingerprint %016" PRIx64 "\n",
           argv[1], vocab, LMG_TOK_N_SPECIAL, lmg_bpe_n_merges(t), lmg_bpe_fingerprint(t));
    printf("first merges:");
    for (int32_t id = LMG_TOK_FIRST_MERGE; id < vocab && id < LMG_TOK_FIRST_MERGE + 12; id++) {
        size_t n;
        const uint8_t *p = lmg_bpe_token_bytes(t, id, &n);
        putchar(' ');
        print_escaped(p, n);
    }
    printf("\nlast merges:");
    for (int32_t id = vocab - 12 > LMG_TOK_FIRST_MERGE ? vocab - 12 : LMG_TOK_FIRST_MERGE; id < vocab; id++) {
        size_t n;
        const uint8_t *p = lmg_bpe_token_bytes(t, id, &n);
        putchar(' ');
        print_escaped(p, n);
    }
    printf("\n");
    lmg_bpe_free(t);
    return 0;
}

int lmg_cmd_tokenizer(int argc, char **argv);
int lmg_cmd_tokenizer(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (cli_is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "train") == 0) return cmd_train(argc - 1, argv + 1);
    if (strcmp(argv[1], "encode") == 0) return cmd_encode(argc - 1, argv + 1);
    if (strcmp(argv[1], "decode") == 0) return cmd_decode(argc - 1, argv + 1);
    if (strcmp(argv[1], "info") == 0) return cmd_info(argc - 1, argv + 1);
    return cli_usage_error(CMD, "unknown action '%s' (train, encode, decode, info)", argv[1]);
}
