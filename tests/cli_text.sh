#!/bin/sh
# cli_text.sh — `lmg tokenizer` and `lmg data` through the command line on a small corpus
# made here: train, encode/decode round trips, shards, and the exit codes of bad usage.
lmg=${LMG_BUILD:-build}/lmg
case "$lmg" in /*) ;; *) lmg="$(pwd)/$lmg" ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
if [ ! -x "$lmg" ]; then
    echo "not ok - $lmg is built"
    exit 1
fi
ok() { echo "ok - $1"; }
notok() { echo "not ok - $1"; failed=1; }
check() { # check NAME COMMAND...: the command must succeed
    name=$1
    shift
    if "$@"; then ok "$name"; else notok "$name"; fi
}

mkdir -p "$tmp/corpus/sub"
i=0
while [ $i -lt 40 ]; do
    printf 'The quick brown fox %d jumps over the lazy dog.\nIt'"'"'s a fine day, isn'"'"'t it?\n\n' $i
    printf 'A second paragraph about the dog and the fox, number %d.\n\n' $i
    i=$((i + 1))
done >"$tmp/corpus/a.txt"
printf 'first fortune\n%%\nsecond fortune\n\t\t-- someone\n%%\ncafé naïve ünïcödé\n' >"$tmp/corpus/sub/f"

# train
"$lmg" tokenizer train --vocab 300 "$tmp/corpus" -o "$tmp/tok.bpe" >"$tmp/train.out" 2>&1
rc=$?
check "tokenizer train exits 0" [ $rc -eq 0 ]
check "train reports vocabulary, merges and bytes per token" \
    grep -q 'vocabulary 300 ids (5 specials, 256 bytes, 39 merges)' "$tmp/train.out"
check "train reports bytes per token above 1" \
    awk '/bytes per token/ { for (i = 1; i <= NF; i++) if ($i == "bytes" && $(i+1) == "per") bpt = $(i-1) } END { exit !(bpt > 1.0) }' "$tmp/train.out"
check "train reports the corpus" grep -q '^corpus: 2 files, 83 documents' "$tmp/train.out"
check "tok.bpe starts with its magic line" sh -c "head -1 '$tmp/tok.bpe' | grep -qx 'lmgraph-bpe 1'"

# encode / decode
text="The lazy fox isn't quick; café 123!"
ids=$("$lmg" tokenizer encode "$tmp/tok.bpe" --text "$text")
check "encode prints ids" sh -c "echo '$ids' | grep -Eq '^[0-9]+( [0-9]+)*$'"
n_ids=$(echo "$ids" | wc -w)
n_bytes=$(printf '%s' "$text" | wc -c)
check "encode merges bytes ($n_ids ids for $n_bytes bytes)" [ "$n_ids" -gt 0 -a "$n_ids" -lt "$n_bytes" ]
# shellcheck disable=SC2086
back=$("$lmg" tokenizer decode "$tmp/tok.bpe" $ids)
check "decode(encode(text)) == text" [ "$back" = "$text" ]
check "no special id in the encoding" sh -c "[ -n '$ids' ] && for i in $ids; do [ \$i -ge 5 ] || exit 1; done"

# a binary file with NULs and invalid UTF-8 round-trips through files and pipes
printf 'a\000b\377\376 \303(\n\tend' >"$tmp/bin"
"$lmg" tokenizer encode "$tmp/tok.bpe" "$tmp/bin" | "$lmg" tokenizer decode "$tmp/tok.bpe" - >"$tmp/bin.out"
check "binary file round-trips byte for byte" cmp -s "$tmp/bin" "$tmp/bin.out"
"$lmg" tokenizer encode "$tmp/tok.bpe" - <"$tmp/corpus/a.txt" | "$lmg" tokenizer decode "$tmp/tok.bpe" - >"$tmp/a.out"
check "corpus file round-trips through stdin" cmp -s "$tmp/corpus/a.txt" "$tmp/a.out"
out=$("$lmg" tokenizer decode "$tmp/tok.bpe" 4 2)
check "decode writes specials by name" [ "$out" = "<eos><cls>" ]
out=$("$lmg" tokenizer decode "$tmp/tok.bpe" --raw 4 71 4)
check "decode --raw skips specials" [ "$out" = "B" ]

# data prepare
"$lmg" data prepare --tokenizer "$tmp/tok.bpe" "$tmp/corpus" --out "$tmp/shards" --seed 3 \
    --val 0.2 --test 0.2 >"$tmp/prep.out" 2>&1
rc=$?
check "data prepare exits 0" [ $rc -eq 0 ]
check "three shards written" test -s "$tmp/shards/train.tok" -a -s "$tmp/shards/val.tok" -a -s "$tmp/shards/test.tok"
docs=$(awk '$1 == "train" || $1 == "val" || $1 == "test" { s += $2 } END { print s }' "$tmp/prep.out")
check "split documents add up to the corpus ($docs of 83)" [ "$docs" = 83 ]
valdocs=$(awk '$1 == "val" { print $2 }' "$tmp/prep.out")
check "val split is not empty ($valdocs)" [ "${valdocs:-0}" -gt 0 ]
toks=$(awk '$1 == "train" { print $4 }' "$tmp/prep.out")
size=$(wc -c <"$tmp/shards/train.tok")
check "train.tok is a 64-byte header and u16 ids ($size bytes, $toks tokens)" [ "$size" -eq $((64 + 2 * toks)) ]
"$lmg" data prepare --tokenizer "$tmp/tok.bpe" "$tmp/corpus" --out "$tmp/shards2" --seed 3 \
    --val 0.2 --test 0.2 >/dev/null 2>&1
check "same seed, same shards" cmp -s "$tmp/shards/val.tok" "$tmp/shards2/val.tok"
"$lmg" data prepare --tokenizer "$tmp/tok.bpe" "$tmp/corpus" --out "$tmp/shards3" --seed 4 \
    --val 0.2 --test 0.2 >/dev/null 2>&1
if [ ! -s "$tmp/shards3/val.tok" ] || cmp -s "$tmp/shards/val.tok" "$tmp/shards3/val.tok"; then notok "another seed, another split"; else ok "another seed, another split"; fi
check "data info accepts the matching tokenizer" \
    sh -c "'$lmg' data info --tokenizer '$tmp/tok.bpe' '$tmp/shards/val.tok' | grep -q 'split val'"
"$lmg" tokenizer train --vocab 280 "$tmp/corpus" -o "$tmp/other.bpe" >/dev/null 2>&1
"$lmg" data info --tokenizer "$tmp/other.bpe" "$tmp/shards/train.tok" >/dev/null 2>"$tmp/err"
rc=$?
check "a shard with another tokenizer is refused (exit 1)" [ $rc -eq 1 ]
check "the refusal names the shard" grep -q 'train.tok was made with another tokenizer' "$tmp/err"

# failures and usage errors
expect_rc() { # expect_rc NAME CODE COMMAND...
    name=$1
    code=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    lines=$(wc -l <"$tmp/err")
    if [ $rc -eq "$code" ] && [ "$lines" -ge 1 ]; then ok "$name"; else notok "$name (exit $rc, $lines lines)"; fi
}
expect_rc "vocab below the minimum is a usage error" 2 "$lmg" tokenizer train --vocab 100 "$tmp/corpus" -o "$tmp/x.bpe"
check "vocab error names the minimum" grep -q '261' "$tmp/err"
mkdir "$tmp/empty"
expect_rc "empty folder exits 1" 1 "$lmg" tokenizer train --vocab 300 "$tmp/empty" -o "$tmp/x.bpe"
check "empty folder error names it" grep -q "empty" "$tmp/err"
expect_rc "missing input exits 1" 1 "$lmg" data prepare --tokenizer "$tmp/tok.bpe" "$tmp/nope" --out "$tmp/s"
check "missing input is named" grep -q "nope" "$tmp/err"
head -c 100 "$tmp/tok.bpe" >"$tmp/cut.bpe"
expect_rc "truncated tokenizer exits 1" 1 "$lmg" tokenizer encode "$tmp/cut.bpe" --text hi
check "truncated tokenizer error is one line naming the file" \
    sh -c "[ \$(wc -l <'$tmp/err') -eq 1 ] && grep -q cut.bpe '$tmp/err'"
expect_rc "decode of an id outside the vocabulary exits 1" 1 "$lmg" tokenizer decode "$tmp/tok.bpe" 300
expect_rc "train without --vocab is a usage error" 2 "$lmg" tokenizer train -o "$tmp/x.bpe"
expect_rc "train without -o is a usage error" 2 "$lmg" tokenizer train --vocab 300
expect_rc "unknown option is a usage error" 2 "$lmg" tokenizer encode "$tmp/tok.bpe" --bogus
expect_rc "decode of a non-number is a usage error" 2 "$lmg" tokenizer decode "$tmp/tok.bpe" 12x
expect_rc "prepare without --out is a usage error" 2 "$lmg" data prepare --tokenizer "$tmp/tok.bpe"
expect_rc "bad fraction is a usage error" 2 "$lmg" data prepare --tokenizer "$tmp/tok.bpe" --out "$tmp/s" --val 1.5
expect_rc "unknown data action is a usage error" 2 "$lmg" data frobnicate
check "tokenizer --help exits 0 and shows usage" sh -c "'$lmg' tokenizer --help | grep -q 'usage: lmg tokenizer train'"
check "tokenizer train --help exits 0" sh -c "'$lmg' tokenizer train --help >/dev/null"
check "data --help exits 0 and shows usage" sh -c "'$lmg' data --help | grep -q 'usage: lmg data prepare'"
check "data prepare --help exits 0" sh -c "'$lmg' data prepare --help >/dev/null"

exit $failed
