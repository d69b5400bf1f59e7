/* cmd_data.c — `lmg data`: split a corpus into train/val/test documents, encode them with a
 * tokenizer into token shards, and describe existing shards. */
#include "cli.h"
#include "cli_labels.h"
#include "../text/labels.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *CMD = "data";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lmg data prepare --tokenizer TOK.bpe [FILE|DIR ...] --out DIR\n"
            "                        [--seed S] [--val F] [--test F]\n"
            "       lmg data prepare --tokenizer TOK.bpe --labels topics|DIR|FILE --seq T --out DIR\n"
            "                        [--classes A,B,...] [--min-docs N] [--seed S] [--val F] [--test F]\n"
            "       lmg data info [--tokenizer TOK.bpe] SHARD.tok ...\n"
            "\n"
            "prepare  read the corpus (files and folders, folders recursively; with no input the\n"
            "         fortunes collection in %s), assign each document to\n"
            "         train, val or test by a hash of (seed, document index) — default seed 1,\n"
            "         val %.2f, test %.2f — encode it, and write DIR/train.tok, DIR/val.tok and\n"
            "         DIR/test.tok (each document followed by <eos>). Prints documents, bytes and\n"
            "         tokens per split.\n"
            "         With --labels: labelled data for classification. topics = the fortunes\n"
            "         files, one class per file (classes under --min-docs documents, default %d,\n"
            "         are left out and named); DIR = one class per file; FILE.tsv = lines\n"
            "         'label<TAB>text'; FILE.jsonl = lines {\"text\": ..., \"label\": ...}. The split\n"
            "         is stratified by class (seed S). Each document becomes T ids: <cls>, its\n"
            "         tokens (cut to T-2: truncated), <eos>, <pad>... Writes DIR/{train,val,test}.lab,\n"
            "         DIR/labels.tsv (the label map with documents per class and split) and\n"
            "         DIR/tok.bpe; refuses to overwrite any of them.\n"
            "info     print a shard's header (.tok, or .lab for labelled data); with --tokenizer, also check that the shard was\n"
            "         made with that tokenizer.\n",
            LMG_CORPUS_DEFAULT_DIR, LMG_SPLIT_DEFAULT_VAL, LMG_SPLIT_DEFAULT_TEST,
            LMG_LABELS_DEFAULT_MIN_DOCS);
}

static int parse_fraction(const char *flag, const char *v, double *out)
{
    if (cli_parse_double(v, out) != 0 || *out < 0 || *out > 1)
        return cli_usage_error(CMD, "%s wants a fraction in [0,1], not '%s'", flag, v);
    return 0;
}

static int cmd_prepare(int argc, char **argv)
{
    const char *tok_path = NULL, *out = NULL, *labels = NULL, *classes = NULL;
    long long seed = 1, seq = 0, min_docs = LMG_LABELS_DEFAULT_MIN_DOCS;
    double val = -1, test = -1;
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
        } else if ((v = cli_flag(argc, argv, &i, "--tokenizer", &missing))) {
            tok_path = v;
        } else if ((v = cli_flag(argc, argv, &i, "--out", &missing)) ||
                   (v = cli_flag(argc, argv, &i, "-o", &missing))) {
            out = v;
        } else if ((v = cli_flag(argc, argv, &i, "--seed", &missing))) {
            if (cli_parse_int(v, 0, INT64_MAX, &seed) != 0)
                rc = cli_usage_error(CMD, "--seed wants a non-negative integer, not '%s'", v);
        } else if ((v = cli_flag(argc, argv, &i, "--labels", &missing))) {
            labels = v;
        } else if ((v = cli_flag(argc, argv, &i, "--classes", &missing))) {
            classes = v;
        } else if ((v = cli_flag(argc, argv, &i, "--seq", &missing))) {
            if (cli_parse_int(v, 3, 1 << 20, &seq) != 0)
                rc = cli_usage_error(CMD, "--seq wants an integer in 3..%d, not '%s'", 1 << 20, v);
        } else if ((v = cli_flag(argc, argv, &i, "--min-docs", &missing))) {
            if (cli_parse_int(v, 0, 1000000000, &min_docs) != 0)
                rc = cli_usage_error(CMD, "--min-docs wants a non-negative integer, not '%s'", v);
        } else if ((v = cli_flag(argc, argv, &i, "--val", &missing))) {
            rc = parse_fraction("--val", v, &val);
        } else if ((v = cli_flag(argc, argv, &i, "--test", &missing))) {
            rc = parse_fraction("--test", v, &test);
        } else if (missing) {
            rc = cli_usage_error(CMD, "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            rc = cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        } else {
            inputs[n_inputs++] = argv[i];
        }
    }
    if (!rc && !tok_path) rc = cli_usage_error(CMD, "prepare needs --tokenizer TOK.bpe");
    if (!rc && !out) rc = cli_usage_error(CMD, "prepare needs --out DIR");
    if (!rc && labels && n_inputs)
        rc = cli_usage_error(CMD, "--labels reads its own documents: no other inputs");
    if (!rc && labels && !seq) rc = cli_usage_error(CMD, "--labels needs --seq T (ids per row)");
    if (!rc && !labels && (seq || classes))
        rc = cli_usage_error(CMD, "--seq and --classes go with --labels");
    /* Stratified splits of small classes need more than 5% to hold every class. */
    double dflt = labels ? 0.1 : LMG_SPLIT_DEFAULT_VAL;
    if (val < 0) val = dflt;
    if (test < 0) test = labels ? 0.1 : LMG_SPLIT_DEFAULT_TEST;
    if (!rc && val + test > 1) rc = cli_usage_error(CMD, "--val %g and --test %g add up to more than 1", val, test);
    if (rc) {
        free(inputs);
        return rc;
    }
    if (labels) {
        free(inputs);
        lmg_bpe *t = NULL;
        lmg_status s = lmg_bpe_load(tok_path, &t);
        if (s != LMG_OK) return cli_fail(CMD, s, "cannot load the tokenizer");
        cli_labels_opts o = {labels, classes, (int)min_docs, (int)seq, (uint64_t)seed, val, test, 0};
        rc = cli_labels_prepare(CMD, &o, t, out);
        lmg_bpe_free(t);
        return rc;
    }
    lmg_bpe *t = NULL;
    lmg_corpus *c = NULL;
    lmg_status s = lmg_bpe_load(tok_path, &t);
    if (s != LMG_OK) {
        free(inputs);
        return cli_fail(CMD, s, "cannot load the tokenizer");
    }
    s = lmg_corpus_read(inputs, n_inputs, &c);
    free(inputs);
    if (s != LMG_OK) {
        lmg_bpe_free(t);
        return cli_fail(CMD, s, "cannot read the corpus");
    }
    lmg_data_stats st;
    s = lmg_data_prepare(c, t, out, (uint64_t)seed, val, test, &st);
    if (s == LMG_OK) {
        printf("corpus: %zu files, %zu documents, %zu bytes; tokenizer %s (%d ids)\n", c->n_files,
               c->n_docs, c->n_bytes, tok_path, lmg_bpe_vocab_size(t));
        printf("%-6s %10s %12s %12s %12s\n", "split", "documents", "bytes", "tokens", "bytes/token");
        for (int sp = 0; sp < LMG_SPLIT_COUNT; sp++)
            printf("%-6s %10zu %12zu %12zu %12.3f\n", lmg_split_name((lmg_split)sp), st.docs[sp],
                   st.bytes[sp], st.tokens[sp],
                   st.tokens[sp] ? (double)st.bytes[sp] / (double)st.tokens[sp] : 0.0);
        const char *sep = out[0] && out[strlen(out) - 1] == '/' ? "" : "/";
        printf("wrote %s%strain.tok %s%sval.tok %s%stest.tok\n", out, sep, out, sep, out, sep);
    }
    lmg_corpus_free(c);
    lmg_bpe_free(t);
    return s == LMG_OK ? 0 : cli_fail(CMD, s, "cannot prepare the shards");
}

static int cmd_info(int argc, char **argv)
{
    const char *tok_path = NULL;
    int first = 0, rc = 0;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else if ((v = cli_flag(argc, argv, &i, "--tokenizer", &missing))) {
            tok_path = v;
        } else if (missing) {
            return cli_usage_error(CMD, "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-') {
            return cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        } else if (!first) {
            first = i;
        }
    }
    if (!first) return cli_usage_error(CMD, "info needs at least one shard");
    lmg_bpe *t = NULL;
    if (tok_path) {
        lmg_status s = lmg_bpe_load(tok_path, &t);
        if (s != LMG_OK) return cli_fail(CMD, s, "cannot load the tokenizer");
    }
    for (int i = first; i < argc && !rc; i++) {
        if (strcmp(argv[i], "--tokenizer") == 0) {
            i++;
            continue;
        }
        if (strncmp(argv[i], "--tokenizer=", 12) == 0) continue;
        size_t al = strlen(argv[i]);
        if (al > 4 && strcmp(argv[i] + al - 4, ".lab") == 0) {
            lmg_labshard *ls;
            lmg_status s = lmg_labshard_open(argv[i], t, &ls);
            if (s != LMG_OK) {
                rc = cli_fail(CMD, s, "cannot open the labelled shard");
                break;
            }
            printf("%s: labelled, %" PRId64 " documents in rows of %d ids, %d classes, %" PRId64
                   " truncated, vocabulary %d%s\n", argv[i], lmg_labshard_n_docs(ls),
                   lmg_labshard_seq(ls), lmg_labshard_n_classes(ls), lmg_labshard_truncated(ls),
                   lmg_labshard_vocab_size(ls), t ? " (matches the tokenizer)" : "");
            lmg_labshard_free(ls);
            continue;
        }
        lmg_shard *sh;
        lmg_status s = lmg_shard_open(argv[i], t, &sh);
        if (s != LMG_OK) {
            rc = cli_fail(CMD, s, "cannot open the shard");
            break;
        }
        printf("%s: split %s, %" PRId64 " documents, %" PRId64 " tokens, vocabulary %d, "
               "tokenizer fingerprint %016" PRIx64 "%s\n", argv[i], lmg_split_name(lmg_shard_split(sh)),
               lmg_shard_n_docs(sh), lmg_shard_n_tokens(sh), lmg_shard_vocab_size(sh),
               lmg_shard_fingerprint(sh), t ? " (matches the tokenizer)" : "");
        lmg_shard_free(sh);
    }
    lmg_bpe_free(t);
    return rc;
}

int lmg_cmd_data(int argc, char **argv);
int lmg_cmd_data(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (cli_is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "prepare") == 0) return cmd_prepare(argc - 1, argv + 1);
    if (strcmp(argv[1], "info") == 0) return cmd_info(argc - 1, argv + 1);
    return cli_usage_error(CMD, "unknown action '%s' (prepare, info)", argv[1]);
}
