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


static const char train_usage[] = "lmg tokenizer train --vocab N [FILE|DIR ...] -o TOK.bpe";
static const char encode_usage[] = "lmg tokenizer encode TOK.bpe [--text TEXT | FILE | -]";
static const char decode_usage[] = "lmg tokenizer decode TOK.bpe [--raw] ID ... | -";
static const char info_usage[] = "lmg tokenizer info TOK.bpe";
static const char exit_status[] = "0 done, 1 failure (naming the file), 2 usage error";

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
    cli_list inputs = {0};
    int rc = 0;
    char about[1024];
    snprintf(about, sizeof about,
             "Learn a byte-level BPE vocabulary of at most N ids (N >= %d: 5 specials and\n"
             "256 bytes come first) from files and folders (folders are read recursively);\n"
             "with no input, the fortunes collection in %s.\n"
             "Prints the vocabulary size, merges, bytes per token on the corpus and seconds.",
             LMG_TOK_MIN_VOCAB, LMG_CORPUS_DEFAULT_DIR);
    cli_opt opts[] = {
        CLI_INT("--vocab", "N", &vocab, 1, INT32_MAX, "the vocabulary size, specials and bytes included",
                .flags = CLI_REQUIRED),
        CLI_STR("--out", "-o", "FILE", &out, "the tokenizer file to write", .flags = CLI_REQUIRED),
        CLI_POS("corpus file or folder", &inputs, .flags = CLI_REST),
        CLI_OPT_END,
    };
    cli_spec spec = {"tokenizer train", train_usage, about, opts, NULL, exit_status};
    if (!cli_parse(&spec, argc, argv, &rc)) {
        cli_list_free(&inputs);
        return rc;
    }
    if (vocab < LMG_TOK_MIN_VOCAB)
        rc = cli_usage_error(CMD, "--vocab %lld is too small: the minimum is %d (%d specials + 256 bytes)",
                             vocab, LMG_TOK_MIN_VOCAB, LMG_TOK_N_SPECIAL);
    if (rc) {
        cli_list_free(&inputs);
        return rc;
    }
    lmg_corpus *c = NULL;
    lmg_bpe *t = NULL;
    lmg_tokens toks = {0};
    lmg_status s = lmg_corpus_read(inputs.v, (size_t)inputs.n, &c);
    cli_list_free(&inputs);
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
    int rc;
    cli_opt opts[] = {
        CLI_STR("--text", NULL, "TEXT", &text, "the text to encode"),
        CLI_POS("tokenizer file", &tok_path, .flags = CLI_REQUIRED),
        CLI_POS("input file", &file),
        CLI_OPT_END,
    };
    cli_spec spec = {"tokenizer encode", encode_usage,
                     "Print the ids of TEXT, of a FILE's bytes, or of standard input ('-').", opts,
                     NULL, exit_status};
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
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
    cli_list words = {0};
    lmg_tokens ids = {0};
    cli_opt opts[] = {
        CLI_FLAG("--raw", NULL, &raw, "skip the specials instead of writing them"),
        CLI_POS("tokenizer file", &tok_path, .flags = CLI_REQUIRED),
        CLI_POS("token id", &words, .flags = CLI_REST),
        CLI_OPT_END,
    };
    cli_spec spec = {"tokenizer decode", decode_usage,
                     "Write the bytes of the ids (or of ids read from standard input with '-');\n"
                     "specials are written as <pad> <mask> <cls> <sep> <eos>, or skipped with --raw.",
                     opts, NULL, exit_status};
    if (!cli_parse(&spec, argc, argv, &rc)) {
        cli_list_free(&words);
        return rc;
    }
    for (int i = 0; i < words.n && !rc; i++) {
        char *bad = NULL;
        if (strcmp(words.v[i], "-") == 0) from_stdin = 1;
        else if (parse_ids((char *)words.v[i], &ids, &bad) != 0)
            rc = bad ? cli_usage_error(spec.cmd, "'%s' is not a token id", bad)
                     : cli_fail(CMD, LMG_ERR_NOMEM, "out of memory");
    }
    cli_list_free(&words);
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
    const char *path = NULL;
    int rc;
    cli_opt opts[] = {
        CLI_POS("tokenizer file", &path, .flags = CLI_REQUIRED),
        CLI_OPT_END,
    };
    cli_spec spec = {"tokenizer info", info_usage,
                     "Print the vocabulary size, merges, fingerprint, and the first and last merges.",
                     opts, NULL, exit_status};
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    lmg_bpe *t;
    lmg_status s = lmg_bpe_load(path, &t);
    if (s != LMG_OK) return cli_fail(CMD, s, "cannot load the tokenizer");
    int vocab = lmg_bpe_vocab_size(t);
    printf("%s: vocabulary %d ids (%d specials, 256 bytes, %d merges), fingerprint %016" PRIx64 "\n",
           path, vocab, LMG_TOK_N_SPECIAL, lmg_bpe_n_merges(t), lmg_bpe_fingerprint(t));
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
    static const cli_action actions[] = {
        {"train", cmd_train, train_usage, "learn a byte-level BPE vocabulary from a corpus"},
        {"encode", cmd_encode, encode_usage, "print the ids of a text, a file or standard input"},
        {"decode", cmd_decode, decode_usage, "write the bytes of ids"},
        {"info", cmd_info, info_usage, "print a tokenizer's size, fingerprint and merges"},
    };
    return cli_dispatch(CMD, "action", actions, 4, exit_status, argc, argv);
}
