#!/bin/sh
# cli_library.sh — the library as linked by others: liblmg.a holds no weak fallbacks and
# defines every op's shape rule, gradient rule, reference and OpenCL kernel; liblmg.so has its
# soname and exports exactly the LMG_API declarations of include/lmgraph.h.
dir=${LMG_BUILD:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok - $1"; }
notok() { echo "not ok - $1"; fails=$((fails + 1)); }
a=$dir/liblmg.a
if [ ! -f "$a" ]; then
    echo "not ok - $a is not built"
    exit 1
fi

nm "$a" 2>/dev/null >"$tmp/nm"
awk 'NF >= 3 && $2 ~ /^[WwVv]$/ { print $3 }' "$tmp/nm" >"$tmp/weak"
if [ ! -s "$tmp/weak" ]; then ok "liblmg.a defines no weak symbols"
else notok "liblmg.a defines weak symbols: $(tr '\n' ' ' <"$tmp/weak")"; fi

awk 'NF >= 3 && $2 == "T" { print $3 }' "$tmp/nm" | sort -u >"$tmp/defined"
awk -F'[(),]' '/^LMG_OP\(/ { gsub(/ /, "", $2); print $2, ($7 ~ /LMG_GRAD/ || $7 ~ /^ *1 *$/) }' \
    "$root/ops/ops.def" >"$tmp/ops"
nops=$(wc -l <"$tmp/ops")
missing=""
while read -r op grad; do
    for sym in lmg_infer_$op lmg_ref_$op lmg_cl_op_$op; do
        grep -qx "$sym" "$tmp/defined" || missing="$missing $sym"
    done
    if [ "$grad" = 1 ]; then grep -qx "lmg_grad_$op" "$tmp/defined" || missing="$missing lmg_grad_$op"; fi
done <"$tmp/ops"
if [ "$nops" -ge 40 ] && [ -z "$missing" ]; then
    ok "every op of ops.def ($nops) has its rules and both kernels in liblmg.a"
else notok "ops.def lists $nops ops; liblmg.a lacks:$missing"; fi

so=$(ls "$dir"/liblmg.so.*.*.* 2>/dev/null | head -n 1)
if [ -z "$so" ]; then
    echo "ok - # SKIP $dir has no liblmg.so (the release build makes it)"
    exit 0
fi
soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" = "liblmg.so.$(basename "$so" | cut -d. -f3)" ]; then ok "$(basename "$so") has soname $soname"
else notok "$(basename "$so") has soname '$soname'"; fi

grep -o '^LMG_API[^(;]*' "$root/include/lmgraph.h" | awk '{ print $NF }' | tr -d '*' | sort -u \
    >"$tmp/api"
nm -D --defined-only "$so" | awk '{ print $3 }' | grep -v '^_\(init\|fini\)$' | sort -u \
    >"$tmp/exported"
if [ "$(wc -l <"$tmp/api")" -ge 60 ] && cmp -s "$tmp/api" "$tmp/exported"; then
    ok "liblmg.so exports exactly the $(wc -l <"$tmp/api") LMG_API names of lmgraph.h"
else
    notok "liblmg.so exports differ from lmgraph.h's LMG_API names (< header, > library):"
    diff "$tmp/api" "$tmp/exported" | grep '^[<>]' | head -n 20
fi
undefined=$(nm -D --undefined-only "$so" | awk '$2 ~ /^lmg_/ { print $2 }')
if [ -z "$undefined" ]; then ok "liblmg.so leaves no lmg_ symbol undefined"
else notok "liblmg.so leaves undefined: $undefined"; fi
[ "$fails" -eq 0 ]
