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

static const char prepare_usage[] =
    "lmg data prepare --tokenizer TOK.bpe [FILE|DIR ...] --out DIR\n"
    "                 [--seed S] [--val F] [--test F]\n"
    "lmg data prepare --tokenizer TOK.bpe --labels topics|DIR|FILE --seq T --out DIR\n"
    "                 [--classes A,B,...] [--min-docs N] [--seed S] [--val F] [--test F]";
static const char info_usage[] = "lmg data info [--tokenizer TOK.bpe] SHARD.tok ...";
static const char exit_status[] = "0 done, 1 failure (naming the file), 2 usage error";

static int cmd_prepare(int argc, char **argv)
{
    const char *tok_path = NULL, *out = NULL, *labels = NULL, *classes = NULL;
    long long seed = 1, seq = 0, min_docs = LMG_LABELS_DEFAULT_MIN_DOCS;
    double val = -1, test = -1;
    cli_list inputs = {0};
    int rc = 0;
    char about[2048], min_docs_help[128], val_help[128], test_help[128];
    snprintf(about, sizeof about,
             "Read the corpus (files and folders, folders recursively; with no input the\n"
             "fortunes collection in %s), assign each document to\n"
             "train, val or test by a hash of (seed, document index) — default seed 1,\n"
             "val %.2f, test %.2f — encode it, and write DIR/train.tok, DIR/val.tok and\n"
             "DIR/test.tok (each document followed by <eos>). Prints documents, bytes and\n"
             "tokens per split.\n"
             "With --labels: labelled data for classification. topics = the fortunes\n"
             "files, one class per file (classes under --min-docs documents are left out and\n"
             "named); DIR = one class per file; FILE.tsv = lines 'label<TAB>text'; FILE.jsonl =\n"
             "lines {\"text\": ..., \"label\": ...}. The split is stratified by class (seed S).\n"
             "Each document becomes T ids: <cls>, its tokens (cut to T-2: truncated), <eos>,\n"
             "<pad>... Writes DIR/{train,val,test}.lab, DIR/labels.tsv (the label map with\n"
             "documents per class and split) and DIR/tok.bpe; refuses to overwrite any of them.",
             LMG_CORPUS_DEFAULT_DIR, LMG_SPLIT_DEFAULT_VAL, LMG_SPLIT_DEFAULT_TEST);
    snprintf(min_docs_help, sizeof min_docs_help,
             "--labels topics: leave out classes of fewer documents\n(default %d)",
             LMG_LABELS_DEFAULT_MIN_DOCS);
    snprintf(val_help, sizeof val_help, "the share of documents for validation (default %.2f;\n"
             "0.1 with --labels)", LMG_SPLIT_DEFAULT_VAL);
    snprintf(test_help, sizeof test_help, "the share of documents for the test split (default\n"
             "%.2f; 0.1 with --labels)", LMG_SPLIT_DEFAULT_TEST);
    cli_opt opts[] = {
        CLI_STR("--tokenizer", NULL, "TOK.bpe", &tok_path, "the tokenizer to encode with",
                .flags = CLI_REQUIRED),
        CLI_STR("--out", "-o", "DIR", &out, "where to write the shards", .flags = CLI_REQUIRED),
        CLI_INT("--seed", "S", &seed, 0, INT64_MAX, "the split's seed (default 1)"),
        CLI_DOUBLE("--val", "F", &val, 0, 1, val_help),
        CLI_DOUBLE("--test", "F", &test, 0, 1, test_help),
        CLI_STR("--labels", NULL, "SOURCE", &labels,
                "labelled data: topics, a folder of class files,\n"
                "FILE.tsv or FILE.jsonl"),
        CLI_INT("--seq", "T", &seq, 3, 1 << 20, "--labels: ids per row"),
        CLI_STR("--classes", NULL, "A,B,...", &classes, "--labels: keep these classes only"),
        CLI_INT("--min-docs", "N", &min_docs, 0, 1000000000, min_docs_help),
        CLI_POS("corpus file or folder", &inputs, .flags = CLI_REST),
        CLI_OPT_END,
    };
    cli_spec spec = {"data prepare", prepare_usage, about, opts, NULL, exit_status};
    if (!cli_parse(&spec, argc, argv, &rc)) {
        cli_list_free(&inputs);
        return rc;
    }
    size_t n_inputs = (size_t)inputs.n;
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
        cli_list_free(&inputs);
        return rc;
    }
    if (labels) {
        cli_list_free(&inputs);
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
        cli_list_free(&inputs);
        return cli_fail(CMD, s, "cannot load the tokenizer");
    }
    s = lmg_corpus_read(inputs.v, n_inputs, &c);
    cli_list_free(&inputs);
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
    cli_list shards = {0};
    int rc = 0;
    cli_opt opts[] = {
        CLI_STR("--tokenizer", NULL, "TOK.bpe", &tok_path, "also check that each shard was made with it"),
        CLI_POS("shard", &shards, .flags = CLI_REQUIRED | CLI_REST),
        CLI_OPT_END,
    };
    cli_spec spec = {"data info", info_usage,
                     "Print a shard's header (.tok, or .lab for labelled data); with --tokenizer, also\n"
                     "check that the shard was made with that tokenizer.",
                     opts, NULL, exit_status};
    if (!cli_parse(&spec, argc, argv, &rc)) {
        cli_list_free(&shards);
        return rc;
    }
    lmg_bpe *t = NULL;
    if (tok_path) {
        lmg_status s = lmg_bpe_load(tok_path, &t);
        if (s != LMG_OK) {
            cli_list_free(&shards);
            return cli_fail(CMD, s, "cannot load the tokenizer");
        }
    }
    for (int k = 0; k < shards.n && !rc; k++) {
        const char *path = shards.v[k];
        size_t al = strlen(path);
        if (al > 4 && strcmp(path + al - 4, ".lab") == 0) {
            lmg_labshard *ls;
            lmg_status s = lmg_labshard_open(path, t, &ls);
            if (s != LMG_OK) {
                rc = cli_fail(CMD, s, "cannot open the labelled shard");
                break;
            }
            printf("%s: labelled, %" PRId64 " documents in rows of %d ids, %d classes, %" PRId64
                   " truncated, vocabulary %d%s\n", path, lmg_labshard_n_docs(ls),
                   lmg_labshard_seq(ls), lmg_labshard_n_classes(ls), lmg_labshard_truncated(ls),
                   lmg_labshard_vocab_size(ls), t ? " (matches the tokenizer)" : "");
            lmg_labshard_free(ls);
            continue;
        }
        lmg_shard *sh;
        lmg_status s = lmg_shard_open(path, t, &sh);
        if (s != LMG_OK) {
            rc = cli_fail(CMD, s, "cannot open the shard");
            break;
        }
        printf("%s: split %s, %" PRId64 " documents, %" PRId64 " tokens, vocabulary %d, "
               "tokenizer fingerprint %016" PRIx64 "%s\n", path, lmg_split_name(lmg_shard_split(sh)),
               lmg_shard_n_docs(sh), lmg_shard_n_tokens(sh), lmg_shard_vocab_size(sh),
               lmg_shard_fingerprint(sh), t ? " (matches the tokenizer)" : "");
        lmg_shard_free(sh);
    }
    lmg_bpe_free(t);
    cli_list_free(&shards);
    return rc;
}

int lmg_cmd_data(int argc, char **argv);
int lmg_cmd_data(int argc, char **argv)
{
    static const cli_action actions[] = {
        {"prepare", cmd_prepare, prepare_usage,
         "split a corpus (or labelled documents) into train/val/test and encode it"},
        {"info", cmd_info, info_usage, "print the header of shards"},
    };
    return cli_dispatch(CMD, "action", actions, 2, exit_status, argc, argv);
}
